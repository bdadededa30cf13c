//! KTAP v1 output: a plan, one result line per test, `# ` diagnostics. A watchdog ends the
//! program with "Bail out!" (and what was running) if one test hangs, so that a kaio bug that
//! blocks a call forever is reported with its seed and step instead of a runner timeout.

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub type TestResult = Result<(), String>;

pub struct Test {
    pub name: String,
    pub run: Box<dyn Fn() -> TestResult>,
}

struct Current {
    name: String,
    start: Instant,
    limit: Duration,
    doing: String,
}

static CURRENT: Mutex<Option<Current>> = Mutex::new(None);

/// Records what the running test is doing now (shown if it hangs).
pub fn doing(what: impl Into<String>) {
    if let Some(c) = CURRENT.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        c.doing = what.into();
    }
}

/// A `# ` diagnostic line.
pub fn diag(msg: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    for line in msg.as_ref().lines() {
        let _ = writeln!(out, "# {line}");
    }
    let _ = out.flush();
}

fn start_watchdog() {
    std::thread::spawn(|| {
        crate::util::block_all_signals();
        loop {
            std::thread::sleep(Duration::from_millis(500));
            let guard = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = guard.as_ref() {
                if c.start.elapsed() > c.limit {
                    println!("# {}: still running after {} s, last: {}", c.name, c.limit.as_secs(), c.doing);
                    println!("Bail out! test {} hung", c.name);
                    let _ = std::io::stdout().flush();
                    // SAFETY: ends the process at once.
                    unsafe { libc::_exit(1) };
                }
            }
        }
    });
}

/// Runs the tests, printing KTAP; returns the exit status (0 all passed, 1 a failure).
pub fn run(tests: Vec<Test>, limit: Duration) -> i32 {
    println!("KTAP version 1");
    println!("1..{}", tests.len());
    let _ = std::io::stdout().flush();
    start_watchdog();
    let (mut pass, mut fail, mut skip) = (0, 0, 0);
    for (i, t) in tests.iter().enumerate() {
        *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Current { name: t.name.clone(), start: Instant::now(), limit, doing: String::new() });
        let start = Instant::now();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (t.run)()));
        *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let r = match r {
            Ok(r) => r,
            Err(p) => Err(format!(
                "panicked: {}",
                p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
            )),
        };
        let took = start.elapsed();
        if took >= Duration::from_secs(2) {
            diag(format!("{} took {:.1} s", t.name, took.as_secs_f64()));
        }
        let mut out = std::io::stdout().lock();
        match r {
            Ok(()) => {
                pass += 1;
                let _ = writeln!(out, "ok {} {}", i + 1, t.name);
            }
            Err(why) if why.starts_with("SKIP ") => {
                skip += 1;
                let _ = writeln!(out, "ok {} {} # SKIP {}", i + 1, t.name, &why[5..]);
            }
            Err(why) => {
                fail += 1;
                for line in why.lines() {
                    let _ = writeln!(out, "# {}: {line}", t.name);
                }
                let _ = writeln!(out, "not ok {} {}", i + 1, t.name);
            }
        }
        let _ = out.flush();
    }
    println!("# Totals: pass:{pass} fail:{fail} xfail:0 xpass:0 skip:{skip} error:0");
    if fail > 0 {
        1
    } else {
        0
    }
}
