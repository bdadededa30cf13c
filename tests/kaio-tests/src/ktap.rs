//! A small KTAP v1 producer: a plan, then one result line per case, diagnostics as `# ` lines.
//! Exit status follows kselftest: 0 all passed, 1 a failure, 4 everything skipped.

use std::io::Write;

/// What a case returns: `Ok` passes, `Err(why)` fails with a diagnostic, `Skip` skips.
pub enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

pub type CaseResult = Result<(), String>;

/// How a case runs.
#[derive(Clone, Copy)]
pub enum Run {
    /// Defined for native AIO too: run on both backends and compared (`aio::both`).
    Both(crate::aio::Body),
    /// kaio only (DELAY, module parameters, the device itself).
    Kaio(fn() -> CaseResult),
}

/// A named test case.
pub struct Case {
    pub name: &'static str,
    pub run: Run,
}

impl Case {
    pub const fn both(name: &'static str, body: crate::aio::Body) -> Case {
        Case { name, run: Run::Both(body) }
    }
    pub const fn kaio(name: &'static str, run: fn() -> CaseResult) -> Case {
        Case { name, run: Run::Kaio(run) }
    }
    pub fn is_both(&self) -> bool {
        matches!(self.run, Run::Both(_))
    }
}

/// Longest a case may run before the whole program bails out (a hung case would otherwise
/// stall the suite until the runner's timeout and lose every later result).
const CASE_LIMIT: std::time::Duration = std::time::Duration::from_secs(150);

static CURRENT: std::sync::Mutex<Option<(&'static str, std::time::Instant)>> = std::sync::Mutex::new(None);

fn start_watchdog() {
    std::thread::spawn(|| {
        crate::util::block_all_signals();
        loop {
            std::thread::sleep(std::time::Duration::from_millis(500));
            let cur = *CURRENT.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((name, start)) = cur {
                if start.elapsed() > CASE_LIMIT {
                    println!("# {name}: still running after {} s", CASE_LIMIT.as_secs());
                    println!("Bail out! case {name} hung");
                    let _ = std::io::stdout().flush();
                    // SAFETY: ends the process at once; the kernel tears down what is left.
                    unsafe { libc::_exit(1) };
                }
            }
        }
    });
}

/// Runs `cases` (those whose name contains `filter`), printing KTAP; returns the exit status.
pub fn run(cases: &[Case], filter: Option<&str>, skip_all: Option<&str>) -> i32 {
    let selected: Vec<&Case> =
        cases.iter().filter(|c| filter.is_none_or(|f| f.split('|').any(|part| c.name.contains(part)))).collect();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "KTAP version 1");
    if let Some(why) = skip_all {
        let _ = writeln!(out, "1..0 # SKIP {why}");
        return 4;
    }
    if let (Some(f), true) = (filter, selected.is_empty()) {
        // A misspelt filter must not pass as an empty, successful run.
        let _ = writeln!(out, "Bail out! no case name contains any of {f:?}");
        return 1;
    }
    let _ = writeln!(out, "1..{}", selected.len());
    let _ = out.flush();
    drop(out);
    start_watchdog();
    let (mut pass, mut fail, mut skip) = (0, 0, 0);
    for (i, case) in selected.iter().enumerate() {
        *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = Some((case.name, std::time::Instant::now()));
        let run = case.run;
        let outcome = match std::panic::catch_unwind(move || match run {
            Run::Both(body) => crate::aio::both(body),
            Run::Kaio(f) => f(),
        }) {
            Ok(Ok(())) => Outcome::Pass,
            Ok(Err(why)) if why.starts_with("SKIP ") => Outcome::Skip(why[5..].to_string()),
            Ok(Err(why)) => Outcome::Fail(why),
            Err(_) => Outcome::Fail("panicked".into()),
        };
        let took = CURRENT.lock().unwrap_or_else(|e| e.into_inner()).map(|(_, t)| t.elapsed());
        let mut out = std::io::stdout().lock();
        if let Some(t) = took.filter(|t| t.as_millis() >= 1000) {
            let _ = writeln!(out, "# {} took {:.1} s", case.name, t.as_secs_f64());
        }
        match outcome {
            Outcome::Pass => {
                pass += 1;
                let _ = writeln!(out, "ok {} {}", i + 1, case.name);
            }
            Outcome::Fail(why) => {
                fail += 1;
                for line in why.lines() {
                    let _ = writeln!(out, "# {}: {line}", case.name);
                }
                let _ = writeln!(out, "not ok {} {}", i + 1, case.name);
            }
            Outcome::Skip(why) => {
                skip += 1;
                let _ = writeln!(out, "ok {} {} # SKIP {why}", i + 1, case.name);
            }
        }
        let _ = out.flush();
        *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
    println!("# Totals: pass:{pass} fail:{fail} xfail:0 xpass:0 skip:{skip} error:0");
    if fail > 0 {
        1
    } else if pass == 0 && skip > 0 {
        4
    } else {
        0
    }
}

/// Fails the case with a message unless `cond` holds.
#[macro_export]
macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!("{}:{}: {}", file!(), line!(), format!($($msg)+)));
        }
    };
}

/// Fails the case unless `left == right`, showing both.
#[macro_export]
macro_rules! check_eq {
    ($left:expr, $right:expr) => {{
        let (l, r) = (&$left, &$right);
        if l != r {
            return Err(format!(
                "{}:{}: {} == {} failed: {:?} != {:?}",
                file!(), line!(), stringify!($left), stringify!($right), l, r
            ));
        }
    }};
}
