//! The benchmark's clock: the TSC, read from user space.
//!
//! The kernel's clocks are no use in the TCG guest: it has no stable clocksource (the TSC is
//! marked unstable against a jiffies watchdog that itself loses ticks under emulation), so
//! `CLOCK_MONOTONIC` advances in jiffies (4 ms at HZ=250) and lags real time. QEMU's emulated
//! `rdtsc` returns the host's TSC, which runs at a constant rate: that is what every sample
//! reads. Its rate is the one the kernel calibrated at boot against the PIT (`cpu MHz` in
//! /proc/cpuinfo, or the kernel log where that line is missing, as in the guest), or, failing
//! both, measured here against `CLOCK_MONOTONIC`.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The TSC.
#[inline(always)]
pub fn ticks() -> u64 {
    // SAFETY: lfence and rdtsc have no memory effects; user-mode rdtsc is allowed (CR4.TSD is
    // clear on Linux unless a process asked otherwise with PR_SET_TSC).
    unsafe {
        core::arch::x86_64::_mm_lfence();
        core::arch::x86_64::_rdtsc()
    }
}

/// How the tick rate was found.
#[derive(Clone, Debug)]
pub struct Rate {
    pub ticks_per_ns: f64,
    pub source: &'static str,
}

static RATE: OnceLock<Rate> = OnceLock::new();

fn cpuinfo_mhz() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = s.lines().find(|l| l.starts_with("cpu MHz"))?;
    let mhz: f64 = line.split(':').nth(1)?.trim().parse().ok()?;
    (mhz > 10.0).then_some(mhz)
}

/// The kernel's own calibration, from its log: "tsc: Refined TSC clocksource calibration: X
/// MHz" if it got that far, else "tsc: Detected X MHz processor".
fn kernel_log_mhz() -> Option<f64> {
    // SAFETY: SYSLOG_ACTION_SIZE_BUFFER takes no buffer.
    let size = unsafe { libc::klogctl(10, std::ptr::null_mut(), 0) };
    let mut buf = vec![0u8; usize::try_from(size).ok()?.max(4096)];
    // SAFETY: SYSLOG_ACTION_READ_ALL writes at most buf.len() bytes.
    let n = unsafe { libc::klogctl(3, buf.as_mut_ptr().cast(), buf.len() as libc::c_int) };
    let log = String::from_utf8_lossy(&buf[..usize::try_from(n).ok()?]).into_owned();
    let find = |key: &str| {
        log.lines().rev().find_map(|l| {
            let rest = &l[l.find(key)? + key.len()..];
            rest.split_whitespace().next()?.parse::<f64>().ok()
        })
    };
    find("Refined TSC clocksource calibration: ")
        .or_else(|| find("tsc: Detected "))
        .filter(|&m| m > 10.0)
}

fn measure_rate() -> f64 {
    // From one change of CLOCK_MONOTONIC to another at least 200 ms later, so that its
    // granularity does not count.
    let edge = || {
        let t = Instant::now();
        loop {
            let (c, n) = (ticks(), Instant::now());
            if n != t {
                return (c, n);
            }
        }
    };
    let (c0, t0) = edge();
    while t0.elapsed() < Duration::from_millis(200) {
        std::hint::spin_loop();
    }
    let (c1, t1) = edge();
    (c1 - c0) as f64 / (t1 - t0).as_nanos() as f64
}

/// The tick rate, found once.
pub fn rate() -> &'static Rate {
    RATE.get_or_init(|| {
        if let Some(mhz) = cpuinfo_mhz() {
            Rate {
                ticks_per_ns: mhz / 1000.0,
                source: "/proc/cpuinfo",
            }
        } else if let Some(mhz) = kernel_log_mhz() {
            Rate {
                ticks_per_ns: mhz / 1000.0,
                source: "kernel log",
            }
        } else {
            Rate {
                ticks_per_ns: measure_rate(),
                source: "measured against CLOCK_MONOTONIC",
            }
        }
    })
}

/// A point in time.
#[derive(Clone, Copy, Debug)]
pub struct Stamp(u64);

impl Stamp {
    #[inline(always)]
    pub fn now() -> Stamp {
        Stamp(ticks())
    }

    pub fn elapsed(self) -> Duration {
        Stamp::now() - self
    }
}

impl std::ops::Sub for Stamp {
    type Output = Duration;
    fn sub(self, earlier: Stamp) -> Duration {
        duration(self.0.saturating_sub(earlier.0))
    }
}

/// `t` ticks as a duration.
pub fn duration(t: u64) -> Duration {
    Duration::from_nanos((t as f64 / rate().ticks_per_ns) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advances_and_converts() {
        let a = Stamp::now();
        std::thread::sleep(Duration::from_millis(20));
        let d = a.elapsed();
        assert!(
            d >= Duration::from_millis(15) && d < Duration::from_secs(2),
            "{d:?}"
        );
        assert!(rate().ticks_per_ns > 0.01);
    }
}
