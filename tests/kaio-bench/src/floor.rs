//! Benchmark 1, the floor: the cheapest call each interface has, which does nothing.
//!
//! - kaio: `ioctl(/dev/kaio, unknown command)` → `ENOTTY` (syscall entry, fd lookup, the VFS's
//!   generic ioctl switch, the module's dispatch);
//! - a trivial system call: `getppid()`;
//! - io_uring: `io_uring_enter(ring, 0, 0, 0, NULL, 0)` with nothing to submit or wait for.

use crate::clock::Stamp;
use crate::report::{cell, ratio, Section};
use crate::stats::{throughput_group, Plan, Summary};
use crate::Env;
use std::os::fd::AsRawFd;
use std::time::Duration;

/// `_IO(0xA7, 0xFF)`: an ioctl number of kaio's magic that no command uses.
pub const UNKNOWN_CMD: u32 = (0xA7 << 8) | 0xFF;

const PLAN: Plan = Plan {
    budget: Duration::from_millis(3000),
    min_samples: 5,
    max_samples: 400,
    target_sample: Duration::from_millis(2),
};

/// The medians (ns) of kaio's empty ioctl and of getppid, for the other benchmarks' notes.
pub struct Floor {
    pub kaio: f64,
    pub syscall: f64,
}

pub fn run(env: &Env, sec: &mut Section) -> Result<Floor, String> {
    let domain = kaio::Domain::open().map_err(|e| format!("open /dev/kaio: {e}"))?;
    let kfd = domain.as_raw_fd();
    let uring = io_uring::IoUring::new(8).map_err(|e| format!("io_uring_setup: {e}"))?;
    let ufd = uring.as_raw_fd();
    let names = [
        "kaio   ioctl(/dev/kaio, unknown cmd) -> ENOTTY",
        "native getppid()",
        "uring  io_uring_enter(0 submit, 0 wait)",
    ];
    let sums = throughput_group(&PLAN.scaled(env.scale), 3, |v, k| {
        let t0 = Stamp::now();
        for _ in 0..k {
            match v {
                0 => {
                    // SAFETY: an unknown command; the argument is never used.
                    let r = unsafe { libc::ioctl(kfd, UNKNOWN_CMD as libc::c_ulong, 0usize) };
                    if r != -1 || kaio::raw::errno() != libc::ENOTTY {
                        return Err(format!(
                            "kaio empty ioctl: returned {r}, errno {}",
                            kaio::raw::errno()
                        ));
                    }
                }
                1 => {
                    // SAFETY: no arguments.
                    let r = unsafe { libc::syscall(libc::SYS_getppid) };
                    if r < 0 {
                        return Err(format!("getppid: errno {}", kaio::raw::errno()));
                    }
                }
                _ => {
                    // SAFETY: nothing to submit, nothing to wait for, no argument.
                    let r = unsafe {
                        libc::syscall(
                            libc::SYS_io_uring_enter,
                            ufd,
                            0u32,
                            0u32,
                            0u32,
                            std::ptr::null::<u8>(),
                            0usize,
                        )
                    };
                    if r != 0 {
                        return Err(format!(
                            "io_uring_enter: returned {r}, errno {}",
                            kaio::raw::errno()
                        ));
                    }
                }
            }
        }
        Ok((t0.elapsed(), k))
    })?;
    sec.line("1. floor: one call that does nothing; ns per call, median (p90)");
    sec.line(format!(
        "   {:<46} {:>20} {:>10}",
        "call", "median (p90)", "/getppid"
    ));
    for (i, (name, s)) in names.iter().zip(&sums).enumerate() {
        sec.line(format!(
            "   {:<46} {} {}",
            name,
            cell(s, 20),
            ratio(s.median, sums[1].median, 10)
        ));
        let variant = ["kaio_enotty_ioctl", "getppid", "io_uring_enter_empty"][i];
        sec.record(variant, &[], "ns_per_op", *s);
    }
    sec.line(format!(
        "   samples per row: {}; calls per sample: {}",
        sums.iter()
            .map(|s| s.samples.to_string())
            .collect::<Vec<_>>()
            .join("/"),
        sums.iter()
            .map(|s| s.per_sample.to_string())
            .collect::<Vec<_>>()
            .join("/")
    ));
    let [k, n, _]: [Summary; 3] = sums
        .try_into()
        .map_err(|_| "floor: wrong number of results")?;
    Ok(Floor {
        kaio: k.median,
        syscall: n.median,
    })
}
