//! Benchmark 6, what kaio's tracepoints cost: one submit of a 64-byte PREAD from a tmpfs file
//! (it completes inside the call) and one `KAIO_IOC_GETEVENTS(min_nr 1)` that reaps it, which
//! pass three tracepoints (`kaio_submit`, `kaio_complete`, `kaio_getevents`), in three states
//! taking turns in one run:
//!
//! - calls skipped: the module parameter `trace_calls` = 0, the Rust code never calls into C;
//! - disabled: the calls are made, the events are off (their static branches patched out);
//! - enabled: `/sys/kernel/tracing/events/kaio/enable` = 1, every event written to the
//!   trace buffer.
//!
//! "disabled / skipped" is the price of a disabled tracepoint: it should be 1.00 within noise.

use crate::clock::Stamp;
use crate::report::{cell, ratio, Section};
use crate::stats::{throughput_group, Plan};
use crate::Env;
use kaio::uapi::{IoEvent, Iocb};
use std::os::fd::AsRawFd;
use std::time::Duration;

const PLAN: Plan = Plan {
    budget: Duration::from_millis(4000),
    min_samples: 10,
    max_samples: 400,
    target_sample: Duration::from_millis(2),
};

const TRACE_CALLS: &str = "/sys/module/kaio/parameters/trace_calls";
const TRACING: &str = "/sys/kernel/tracing";

/// The three states: (label, JSON key, trace_calls, events enabled).
const STATES: [(&str, &str, &str, &str); 3] = [
    (
        "calls skipped (trace_calls=0)",
        "trace_calls_skipped",
        "0",
        "0",
    ),
    ("events disabled", "trace_disabled", "1", "0"),
    ("events enabled", "trace_enabled", "1", "1"),
];

fn write(path: &str, v: &str) -> Result<(), String> {
    std::fs::write(path, v).map_err(|e| format!("write {v} to {path}: {e}"))
}

fn set_state(v: usize) -> Result<(), String> {
    write(TRACE_CALLS, STATES[v].2)?;
    write(&format!("{TRACING}/events/kaio/enable"), STATES[v].3)
}

pub fn run(env: &Env, sec: &mut Section) -> Result<(), String> {
    if !std::path::Path::new(&format!("{TRACING}/events")).exists() {
        let _ = std::process::Command::new("mount")
            .args(["-t", "tracefs", "tracefs", TRACING])
            .status();
    }
    let dom = kaio::Domain::open().map_err(|e| format!("open /dev/kaio: {e}"))?;
    let ctx = dom.setup(64).map_err(|e| format!("setup: {e}"))?;
    let path = format!("/tmp/kaio-bench-trace-{}", std::process::id());
    std::fs::write(&path, [7u8; 4096]).map_err(|e| format!("{path}: {e}"))?;
    let file = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
    let _ = std::fs::remove_file(&path);
    let fd = file.as_raw_fd();
    let mut buf = [0u8; 64];
    let mut ev = [IoEvent::default(); 1];
    let mut current = usize::MAX;
    let result = throughput_group(&PLAN.scaled(env.scale), STATES.len(), |v, k| {
        if v != current {
            set_state(v)?;
            current = v;
        }
        let t0 = Stamp::now();
        for _ in 0..k {
            let mut cb: Iocb = Iocb::pread(fd, &mut buf, 0).with_data(v as u64);
            // SAFETY: `buf` outlives the request, which is reaped right below.
            let n = unsafe { ctx.submit_unchecked(&mut [&mut cb]) }
                .map_err(|e| format!("submit: {e}"))?;
            let got = ctx
                .get_events(1, &mut ev, None)
                .map_err(|e| format!("getevents: {e}"))?;
            if n != 1 || got != 1 || ev[0].res != 64 || ev[0].data != v as u64 {
                return Err(format!(
                    "submit {n}, reaped {got}: {:?} (expected res 64, data {v})",
                    ev[0]
                ));
            }
        }
        Ok((t0.elapsed(), k))
    });
    // Leave the module as found: calls on, events off; and the trace buffer empty.
    let _ = set_state(1);
    let _ = write(&format!("{TRACING}/trace"), "");
    let sums = result?;
    sec.line("6. tracepoints: submit + reap of a 64-byte tmpfs PREAD (3 tracepoints); ns per request, median (p90)");
    sec.line(format!(
        "   {:<34} {:>20} {:>10}",
        "state", "median (p90)", "/skipped"
    ));
    for (i, s) in sums.iter().enumerate() {
        sec.line(format!(
            "   {:<34} {} {}",
            STATES[i].0,
            cell(s, 20),
            ratio(s.median, sums[0].median, 10)
        ));
        sec.record(STATES[i].1, &[], "ns_per_request", *s);
    }
    sec.line("   a disabled tracepoint is one call and a patched-out branch: disabled/skipped is its price");
    Ok(())
}
