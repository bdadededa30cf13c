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

/// A named test case.
pub struct Case {
    pub name: &'static str,
    pub run: fn() -> CaseResult,
}

/// Runs `cases` (those whose name contains `filter`), printing KTAP; returns the exit status.
pub fn run(cases: &[Case], filter: Option<&str>, skip_all: Option<&str>) -> i32 {
    let selected: Vec<&Case> =
        cases.iter().filter(|c| filter.is_none_or(|f| c.name.contains(f))).collect();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "KTAP version 1");
    if let Some(why) = skip_all {
        let _ = writeln!(out, "1..0 # SKIP {why}");
        return 4;
    }
    let _ = writeln!(out, "1..{}", selected.len());
    let _ = out.flush();
    drop(out);
    let (mut pass, mut fail, mut skip) = (0, 0, 0);
    for (i, case) in selected.iter().enumerate() {
        let outcome = match std::panic::catch_unwind(case.run) {
            Ok(Ok(())) => Outcome::Pass,
            Ok(Err(why)) if why.starts_with("SKIP ") => Outcome::Skip(why[5..].to_string()),
            Ok(Err(why)) => Outcome::Fail(why),
            Err(_) => Outcome::Fail("panicked".into()),
        };
        let mut out = std::io::stdout().lock();
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
