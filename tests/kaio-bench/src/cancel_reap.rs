//! Benchmark 5, cancel → reaped: the latency from the cancel call until the cancelled event has
//! been reaped, for the newest of N pending POLLs (N = 1, 64, 1024, 16384), and the cost per
//! request of cancelling all N at once.
//!
//! Every backend has N `POLLIN` requests pending on the read end of its own empty pipe (the
//! requests and the io_uring code are those of benchmark 4, `cancel.rs`):
//!
//! - native: `io_cancel` (`EINPROGRESS`), then `io_getevents(min_nr 1)`;
//! - kaio CANCEL: `KAIO_IOC_CANCEL` (`EINPROGRESS`), then `KAIO_IOC_GETEVENTS(min_nr 1)`, or
//!   the event read from the mapped ring (ABI version 2 puts it there before the cancel
//!   returns; not finding it there is an error);
//! - kaio MATCH: `KAIO_IOC_CANCEL_MATCH` with `KAIO_CANCEL_IOCB` (returns 1), then the same
//!   two ways of reaping (kaio CANCEL and MATCH share one context);
//! - io_uring: `IORING_OP_ASYNC_CANCEL` by user_data, one `io_uring_enter(1, min_complete 2)`,
//!   then both CQEs (the cancel's 0 and the POLL_ADD's `-ECANCELED`) reaped from the CQ ring.
//!
//! After each sample the cancelled request is resubmitted (untimed), so N stays the same and
//! the next sample cancels the newest again. ALL of N: native io_cancel of each request (oldest
//! first: Linux finds each at the head of `active_reqs`) then io_getevents until N events;
//! kaio one `KAIO_IOC_CANCEL_MATCH` with `KAIO_CANCEL_ANY`, or `FD | ALL` on the pipe, then
//! io_getevents until N events (or, ANY ring, the N events read from the mapped ring, where
//! they are when the call returns); io_uring one `ASYNC_CANCEL` with
//! `IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_FD` and one enter waiting for the N + 1 CQEs;
//! timed from the cancel call until the last event is reaped, divided by N. Every event and
//! CQE is checked: the right request, the right result, each once, nothing else.

use crate::aio::Api;
use crate::cancel::{pipe, AioSide, CancelAll, CancelCall, Reap, UringSide};
use crate::report::{cell, ratio, Section};
use crate::stats::{latency_group_warm, Plan, Summary};
use crate::Env;
use kaio::uapi::{Iocb, KAIO_CANCEL_ALL, KAIO_CANCEL_ANY, KAIO_CANCEL_FD};
use std::os::fd::AsRawFd;
use std::time::Duration;

pub const PENDING: [usize; 4] = [1, 64, 1024, 16384];
const MAX: usize = 16384;
/// Single cancels: each variant runs WARMUP untimed cancels, then RUN_LEN timed ones, in a row.
/// Under TCG the first two or three after a switch are slower (up to 3x after native's, whose
/// event comes from a kworker; io_uring's first after kaio's 2x too); one is not enough.
const WARMUP: usize = 3;
const RUN_LEN: usize = 8;
/// Cancel-all: runs of ALL_WARMUP untimed rounds, then ALL_RUN_LEN timed ones.
const ALL_WARMUP: usize = 2;
const ALL_RUN_LEN: usize = 3;

const PLAN: Plan = Plan {
    budget: Duration::from_millis(5000),
    min_samples: 10,
    max_samples: 4000,
    target_sample: Duration::ZERO,
};

const ALL_PLAN: Plan = Plan {
    budget: Duration::from_millis(3000),
    min_samples: 4,
    max_samples: 400,
    target_sample: Duration::ZERO,
};

/// The single-cancel variants: label, JSON key.
const ONE: [(&str, &str); 6] = [
    ("native", "native_io_cancel_getevents"),
    ("kaio CANCEL getev", "kaio_cancel_getevents"),
    ("kaio CANCEL ring", "kaio_cancel_ring"),
    ("kaio MATCH getev", "kaio_cancel_match_getevents"),
    ("kaio MATCH ring", "kaio_cancel_match_ring"),
    ("io_uring", "io_uring_async_cancel"),
];
const IO_URING: usize = 5;

/// The cancel-all variants: label, JSON key.
const ALL: [(&str, &str); 5] = [
    ("native loop", "native_io_cancel_loop"),
    ("kaio ANY", "kaio_cancel_match_any"),
    ("kaio FD|ALL", "kaio_cancel_match_fd_all"),
    ("kaio ANY ring", "kaio_cancel_match_any_ring"),
    ("io_uring ALL|FD", "io_uring_async_cancel_all_fd"),
];
const ALL_IO_URING: usize = 4;

pub fn run(env: &Env, sec: &mut Section) -> Result<(), String> {
    let dom = kaio::Domain::open().map_err(|e| format!("open /dev/kaio: {e}"))?;
    let (kr, _kw) = pipe()?;
    let (nr, _nw) = pipe()?;
    let (ur, _uw) = pipe()?;
    let mut kaio = AioSide::new(
        "kaio POLL",
        Api::Kaio(dom.as_raw_fd()),
        Iocb::poll(kr.as_raw_fd(), libc::POLLIN as u32),
        0,
        MAX,
    )?;
    let mut native = AioSide::new(
        "native POLL",
        Api::Native,
        Iocb::poll(nr.as_raw_fd(), libc::POLLIN as u32),
        0,
        MAX,
    )?;
    // Room for every CQE of a cancel-all (N + 1), rounded up to a power of two by the kernel.
    let mut uring = UringSide::new(ur.as_raw_fd(), 2 * MAX as u32)?;

    let w = 18;
    sec.line("5. cancel -> reaped: the newest of N pending POLLs (POLLIN, empty pipe) cancelled; ns from");
    sec.line("   before the cancel call until its event has been reaped, median (p90)");
    sec.line(
        "   native: io_cancel + io_getevents(min_nr 1); kaio CANCEL: KAIO_IOC_CANCEL; kaio MATCH:",
    );
    sec.line("   KAIO_IOC_CANCEL_MATCH(KAIO_CANCEL_IOCB); each + KAIO_IOC_GETEVENTS(min_nr 1) (getev) or");
    sec.line("   + reading the mapped ring (ring); io_uring: ASYNC_CANCEL(user_data) + io_uring_enter(1,");
    sec.line("   min_complete 2) + both CQEs reaped. The request is resubmitted untimed: N stays.");
    sec.line(format!(
        "   (variants take turns in runs of {} cancels, the first {WARMUP} of each run not counted)",
        WARMUP + RUN_LEN
    ));
    let mut head = format!("   {:>6}", "N");
    for (l, _) in ONE {
        head += &format!(" {l:>w$}");
    }
    sec.line(head);
    let mut ones: Vec<(usize, Vec<Vec<Summary>>)> = Vec::new();
    let mut alls: Vec<(usize, Vec<Vec<Summary>>)> = Vec::new();
    for &n in &PENDING {
        kaio.grow(n)?;
        native.grow(n)?;
        uring.grow(n)?;
        let sums = latency_group_warm(
            &PLAN.scaled(env.scale),
            ONE.len(),
            2,
            WARMUP,
            RUN_LEN,
            |v| match v {
                0 => native.sample_with(true, CancelCall::IoCancel, Reap::Getevents),
                1 => kaio.sample_with(true, CancelCall::IoCancel, Reap::Getevents),
                2 => kaio.sample_with(true, CancelCall::IoCancel, Reap::Ring),
                3 => kaio.sample_with(true, CancelCall::MatchIocb, Reap::Getevents),
                4 => kaio.sample_with(true, CancelCall::MatchIocb, Reap::Ring),
                _ => uring.sample(true, true),
            },
        )?;
        let mut row = format!("   {n:>6}");
        for (v, (_, key)) in ONE.iter().enumerate() {
            row += &format!(" {}", cell(&sums[v][1], w));
            let params = [("pending", n.to_string())];
            sec.record(*key, &params, "cancel_ns", sums[v][0]);
            sec.record(*key, &params, "reaped_ns", sums[v][1]);
        }
        sec.line(row);
        check(&kaio, &native, &mut uring, n)?;
        eprintln!(
            "kaio-bench: cancel_reap pending={n} done ({:.1} s)",
            crate::stats::elapsed().as_secs_f64()
        );
        let fd_all = KAIO_CANCEL_FD | KAIO_CANCEL_ALL;
        let all = latency_group_warm(
            &ALL_PLAN.scaled(env.scale),
            ALL.len(),
            2,
            ALL_WARMUP,
            ALL_RUN_LEN,
            |v| match v {
                0 => native.cancel_all(CancelAll::Loop, Reap::Getevents),
                1 => kaio.cancel_all(CancelAll::Match(KAIO_CANCEL_ANY), Reap::Getevents),
                2 => kaio.cancel_all(CancelAll::Match(fd_all), Reap::Getevents),
                3 => kaio.cancel_all(CancelAll::Match(KAIO_CANCEL_ANY), Reap::Ring),
                _ => uring.cancel_all(),
            },
        )?;
        for (v, (_, key)) in ALL.iter().enumerate() {
            let params = [("pending", n.to_string())];
            sec.record(*key, &params, "per_request_ns", all[v][0]);
            sec.record(*key, &params, "total_ns", all[v][1]);
        }
        check(&kaio, &native, &mut uring, n)?;
        eprintln!(
            "kaio-bench: cancel_reap all of {n} done ({:.1} s)",
            crate::stats::elapsed().as_secs_f64()
        );
        ones.push((n, sums));
        alls.push((n, all));
    }

    sec.line("   ratios of medians (reaped):");
    let mut head = format!("   {:>6} {:<12}", "N", "");
    for (l, _) in &ONE[..IO_URING] {
        head += &format!(" {l:>w$}");
    }
    sec.line(head);
    for (n, sums) in &ones {
        for (name, base) in [("/ io_uring", IO_URING), ("/ native", 0)] {
            let mut row = format!("   {n:>6} {name:<12}");
            for s in &sums[..IO_URING] {
                row += &format!(" {}", ratio(s[1].median, sums[base][1].median, w));
            }
            sec.line(row);
        }
    }
    if let (Some((n0, a)), Some((n1, b))) = (ones.first(), ones.last()) {
        let mut row = format!("   {:<19}", format!("N={n1} / N={n0}"));
        for v in 0..ONE.len() {
            row += &format!(" {}", ratio(b[v][1].median, a[v][1].median, w));
        }
        let mut head = format!("   {:<19}", "");
        for (l, _) in ONE {
            head += &format!(" {l:>w$}");
        }
        sec.line(head);
        sec.line(row);
    }
    // The targets, for the four kaio variants: at or below io_uring at every N, and
    // N=16384 within 1.2x of N=1.
    for (v, (label, _)) in ONE.iter().enumerate().take(IO_URING).skip(1) {
        let worst = ones
            .iter()
            .map(|(_, s)| s[v][1].median / s[IO_URING][1].median)
            .fold(0.0, f64::max);
        let flat = match (ones.first(), ones.last()) {
            (Some((_, a)), Some((_, b))) => b[v][1].median / a[v][1].median,
            _ => f64::NAN,
        };
        sec.line(format!(
            "   {label:<18} worst / io_uring {worst:.2}x ({}), N={MAX} / N=1 {flat:.2}x ({})",
            if worst <= 1.0 {
                "<= 1: met"
            } else {
                "> 1: not met"
            },
            if flat <= 1.2 {
                "<= 1.2: met"
            } else {
                "> 1.2: not met"
            }
        ));
    }

    sec.line("   note: io_uring hashes POLL_ADDs by user_data and adds each at the head of its bucket, so");
    sec.line("   the newest is found first at any N (its oldest is not: table 4, 'first')");
    sec.line("   ALL of N: every pending request cancelled at once, until all N events are reaped; ns per");
    sec.line(
        "   request (total / N), median (p90). native loop: io_cancel of each, oldest first, then",
    );
    sec.line("   io_getevents; kaio ANY, FD|ALL: one KAIO_IOC_CANCEL_MATCH, then io_getevents (ANY ring: the");
    sec.line(
        "   N events read from the mapped ring, where they are when the call returns); io_uring:",
    );
    sec.line(
        "   one ASYNC_CANCEL(IORING_ASYNC_CANCEL_ALL | _FD), one enter waiting for the N + 1 CQEs",
    );
    sec.line(format!(
        "   (variants take turns in runs of {}, the first {ALL_WARMUP} of each run not counted)",
        ALL_WARMUP + ALL_RUN_LEN
    ));
    let mut head = format!("   {:>6}", "N");
    for (l, _) in ALL {
        head += &format!(" {l:>w$}");
    }
    head += &format!(
        " {:>14} {:>14} {:>14}",
        "kaio ANY/uring", "ring/uring", "kaio ANY/nat"
    );
    sec.line(head);
    for (n, all) in &alls {
        let mut row = format!("   {n:>6}");
        for s in all {
            row += &format!(" {}", cell(&s[0], w));
        }
        row += &format!(
            " {} {} {}",
            ratio(all[1][0].median, all[ALL_IO_URING][0].median, 14),
            ratio(all[3][0].median, all[ALL_IO_URING][0].median, 14),
            ratio(all[1][0].median, all[0][0].median, 14)
        );
        sec.line(row);
    }
    // The target for ALL, per request: at or below io_uring at every N.
    for (v, label) in [(1, "kaio ANY"), (3, "kaio ANY ring")] {
        let worst = alls
            .iter()
            .map(|(_, all)| all[v][0].median / all[ALL_IO_URING][0].median)
            .fold(0.0, f64::max);
        let verdict = if worst <= 1.0 { "<= 1: met" } else { "> 1: not met" };
        sec.line(format!("   ALL {label:<14} worst / io_uring {worst:.2}x ({verdict})"));
    }

    // The native context is destroyed here (cancelling its polls); kaio's with its domain.
    Api::Native.destroy(native.ctx)?;
    drop((kaio, native, uring));
    drop(dom);
    Ok(())
}

/// After a group: every side still has `n` requests in flight and no stray event.
fn check(kaio: &AioSide, native: &AioSide, uring: &mut UringSide, n: usize) -> Result<(), String> {
    for side in [kaio, native] {
        if side.order.len() != n {
            return Err(format!(
                "{}: {} in flight, expected {n}",
                side.label,
                side.order.len()
            ));
        }
        side.no_stray_event()?;
    }
    if uring.order.len() != n {
        return Err(format!(
            "io_uring: {} in flight, expected {n}",
            uring.order.len()
        ));
    }
    uring.no_stray_cqe()
}
