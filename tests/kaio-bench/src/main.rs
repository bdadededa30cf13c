//! kaio-bench: `/dev/kaio` against native AIO system calls and io_uring, side by side in one
//! guest run (DESIGN.md, "Performance").
//!
//! 1. floor: an empty ioctl on /dev/kaio vs a trivial syscall vs an empty io_uring_enter;
//! 2. lookup: io_getevents with a zero timeout on an empty ring, against contexts and threads;
//! 3. submit+reap: 4 KiB PREAD/PWRITE batches on tmpfs (getevents, user-space ring reaping,
//!    io_uring);
//! 4. cancel: latency against the number of cancellable requests in flight;
//! 5. cancel_reap: from the cancel call until the event is reaped, the newest of N pending
//!    POLLs (io_cancel, KAIO_IOC_CANCEL, KAIO_IOC_CANCEL_MATCH, io_uring), and all N at once;
//! 6. trace_cost: the price of kaio's tracepoints (calls skipped / events disabled / enabled);
//! 7. polled_read: a read on a socket pair or pipe that becomes ready after submit, 1, 8, 64 in
//!    flight (kaio KAIO_SETUP_POLLED_RW, io_uring READ, glibc POSIX AIO, libkaio-posix).
//!
//! Every figure is a median and a p90 over samples taken round-robin across the variants of a
//! row, for a bounded time. Output: the tables as `# ` lines of a KTAP report, one `ok` per
//! benchmark that ran to completion (a benchmark fails only if an operation returned an error
//! or a result was wrong, never for being slow); `--json` adds a JSON document before it.

mod aio;
mod cancel;
mod cancel_reap;
mod clock;
mod floor;
mod lookup;
mod polled_read;
mod report;
mod rw;
mod stats;
mod trace_cost;

use clock::Stamp;
use report::Section;
use std::io::Write;
use std::time::{Duration, Instant};

/// What the benchmarks share.
pub struct Env {
    /// Multiplies every group's time budget.
    pub scale: f64,
    /// The floor's medians, once measured.
    pub floor: Option<floor::Floor>,
}

const BENCHES: [&str; 7] = [
    "floor",
    "lookup",
    "submit_reap",
    "cancel",
    "cancel_reap",
    "trace_cost",
    "polled_read",
];

/// Past this, every remaining group takes only its minimum number of samples; the defaults
/// finish well before it (the whole run must stay under 5 minutes in the TCG guest).
const HARD_LIMIT: Duration = Duration::from_secs(240);

const USAGE: &str =
    "usage: kaio-bench [--json] [--only floor,lookup,submit_reap,cancel,cancel_reap,trace_cost,polled_read] [--scale X]
  --json    also print the results as one JSON document (between KAIO-BENCH-JSON-BEGIN/END)
  --only    run only these benchmarks (the others are reported as skipped)
  --scale   multiply every measurement's time budget by X (default 1; 0.1 for a quick look)";

struct Args {
    json: bool,
    only: Option<Vec<String>>,
    scale: f64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        json: false,
        only: None,
        scale: 1.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--json" => a.json = true,
            "--only" => {
                let v = it.next().ok_or("--only needs a list")?;
                let names: Vec<String> = v.split(',').map(str::to_string).collect();
                if let Some(bad) = names.iter().find(|n| !BENCHES.contains(&n.as_str())) {
                    return Err(format!("--only: unknown benchmark {bad}"));
                }
                a.only = Some(names);
            }
            "--scale" => {
                let v = it.next().ok_or("--scale needs a number")?;
                a.scale = v
                    .parse()
                    .map_err(|_| format!("--scale: not a number: {v}"))?;
                if !(a.scale > 0.0 && a.scale <= 100.0) {
                    return Err("--scale: must be in (0, 100]".into());
                }
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

const CLOCKSOURCE: &str = "/sys/devices/system/clocksource/clocksource0/current_clocksource";

/// `clock_getres(CLOCK_MONOTONIC)`: 1 ns when hrtimers run in high-resolution mode, the tick
/// length when they run from the periodic tick.
fn hrtimer_res_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_getres writes into `ts`.
    if unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC, &mut ts) } != 0 {
        return -1;
    }
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

fn uname_release() -> String {
    // SAFETY: uname fills the struct.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: a valid buffer.
    if unsafe { libc::uname(&mut u) } != 0 {
        return "?".into();
    }
    // SAFETY: the kernel NUL-terminates the field.
    unsafe { std::ffi::CStr::from_ptr(u.release.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("kaio-bench: {e}");
            }
            eprintln!("{USAGE}");
            std::process::exit(if e.is_empty() { 0 } else { 2 });
        }
    };
    // A guest that boots on the early TSC clocksource switches to the calibrated one about a
    // second later; wait for that (a bounded time) rather than change clocks mid-run.
    let mut settle_ms = 0;
    while read_trim(CLOCKSOURCE) == "tsc-early" && settle_ms < 5000 {
        std::thread::sleep(Duration::from_millis(100));
        settle_ms += 100;
    }
    let (tsc0, mono0) = (Stamp::now(), Instant::now());
    let rate = clock::rate();
    stats::start(HARD_LIMIT);
    let clock = stats::clock_cost();
    let mut env_info: Vec<(&'static str, String)> = vec![
        ("kernel", uname_release()),
        (
            "cpus",
            std::thread::available_parallelism().map_or("?".into(), |n| n.to_string()),
        ),
        ("clocksource", read_trim(CLOCKSOURCE)),
        ("clocksource_settle_ms", settle_ms.to_string()),
        ("hrtimer_res_ns", hrtimer_res_ns().to_string()),
        (
            "clock",
            format!("tsc@{:.1}MHz({})", rate.ticks_per_ns * 1e3, rate.source),
        ),
        ("clock_read_ns", format!("{clock:.0}")),
        (
            "kaio_max_nr",
            read_trim("/sys/module/kaio/parameters/max_nr"),
        ),
        ("aio_max_nr", read_trim("/proc/sys/fs/aio-max-nr")),
        ("scale", args.scale.to_string()),
    ];
    let mut env = Env {
        scale: args.scale,
        floor: None,
    };
    let mut sections = Vec::new();
    for name in BENCHES {
        let mut sec = Section::new(name);
        if args
            .only
            .as_ref()
            .is_some_and(|o| !o.iter().any(|n| n == name))
        {
            sec.skipped = Some("not selected".into());
            sections.push(sec);
            continue;
        }
        eprintln!(
            "kaio-bench: {name} ... ({:.1} s)",
            stats::elapsed().as_secs_f64()
        );
        let t0 = Stamp::now();
        let r = match name {
            "floor" => floor::run(&env, &mut sec).map(|f| env.floor = Some(f)),
            "lookup" => lookup::run(&env, &mut sec),
            "submit_reap" => rw::run(&env, &mut sec),
            "cancel" => cancel::run(&env, &mut sec),
            "cancel_reap" => cancel_reap::run(&env, &mut sec),
            "trace_cost" => trace_cost::run(&env, &mut sec),
            _ => polled_read::run(&env, &mut sec),
        };
        sec.seconds = t0.elapsed().as_secs_f64();
        if let Err(e) = r {
            eprintln!("kaio-bench: {name} FAILED: {e}");
            sec.error = Some(e);
        }
        eprintln!("kaio-bench: {name} done in {:.1} s", sec.seconds);
        sections.push(sec);
    }
    let total = stats::elapsed().as_secs_f64();
    // How far the kernel's CLOCK_MONOTONIC drifted from the TSC over the run (it loses ticks
    // under TCG): a reason not to trust it, shown for the record.
    let mono = mono0.elapsed().as_secs_f64() / (Stamp::now() - tsc0).as_secs_f64();
    env_info.push(("monotonic_per_tsc_second", format!("{mono:.3}")));
    env_info.push(("clocksource_at_end", read_trim(CLOCKSOURCE)));
    env_info.push(("hrtimer_res_ns_at_end", hrtimer_res_ns().to_string()));

    let mut out = std::io::stdout().lock();
    if args.json {
        let _ = writeln!(out, "KAIO-BENCH-JSON-BEGIN");
        let _ = write!(out, "{}", report::json(&env_info, &sections));
        let _ = writeln!(out, "KAIO-BENCH-JSON-END");
    }
    let _ = writeln!(out, "KTAP version 1");
    let _ = writeln!(out, "1..{}", sections.len());
    let _ = writeln!(
        out,
        "# kaio-bench: /dev/kaio vs native AIO syscalls vs io_uring, side by side in one run"
    );
    let _ = writeln!(out, "# Under QEMU TCG (no KVM) absolute times are emulation times: only the ratios mean anything.");
    let _ = writeln!(
        out,
        "# {}",
        env_info
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let _ = writeln!(out, "# median (p90) over samples taken round-robin across each row's variants; the clock read ({clock:.0} ns) is not subtracted");
    let mut failed = false;
    for (i, s) in sections.iter().enumerate() {
        let _ = writeln!(out, "#");
        for l in &s.lines {
            let _ = writeln!(out, "# {l}");
        }
        if let Some(why) = &s.skipped {
            let _ = writeln!(out, "ok {} {} # SKIP {why}", i + 1, s.name);
        } else if let Some(e) = &s.error {
            failed = true;
            for l in e.lines() {
                let _ = writeln!(out, "# error: {l}");
            }
            let _ = writeln!(out, "not ok {} {}", i + 1, s.name);
        } else {
            let _ = writeln!(out, "# ({:.1} s)", s.seconds);
            let _ = writeln!(out, "ok {} {}", i + 1, s.name);
        }
    }
    let _ = writeln!(out, "# total {total:.1} s");
    let _ = out.flush();
    std::process::exit(i32::from(failed));
}
