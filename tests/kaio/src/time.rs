//! Timeouts: [`Duration`] to [`KernelTimespec`], and what the kernel makes of a timespec.

use crate::uapi::KernelTimespec;
use std::time::Duration;

const NSEC_PER_SEC: i64 = 1_000_000_000;

/// `KTIME_SEC_MAX`: from this many seconds on, a timespec means "no limit".
pub const KTIME_SEC_MAX: i64 = i64::MAX / NSEC_PER_SEC;

impl From<Duration> for KernelTimespec {
    /// The timespec for `d`; seconds beyond `i64::MAX` saturate (they are "no limit" to the
    /// kernel anyway).
    fn from(d: Duration) -> KernelTimespec {
        KernelTimespec {
            tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(d.subsec_nanos()),
        }
    }
}

/// How long `io_getevents` waits for a given timeout argument (`AIO-SEMANTICS.md` §8.1, 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Copies what is there and returns at once.
    NonBlocking,
    /// Waits at most this long for `min_nr` events.
    Relative(Duration),
    /// Waits until `min_nr` events arrive (or a signal, or the context dies).
    Infinite,
}

impl KernelTimespec {
    /// What Linux 6.12 makes of this timespec: `timespec64_to_ktime` (no validation: seconds
    /// from `KTIME_SEC_MAX` on mean no limit, otherwise `sec * 10^9 + nsec` with the
    /// kernel's wrapping arithmetic), then 0 is non-blocking and a negative time, which the
    /// relative hrtimer saturates, waits without limit.
    pub fn kernel_wait(&self) -> Wait {
        if self.tv_sec >= KTIME_SEC_MAX {
            return Wait::Infinite;
        }
        let ns = self.tv_sec.wrapping_mul(NSEC_PER_SEC).wrapping_add(self.tv_nsec);
        match ns {
            0 => Wait::NonBlocking,
            ns if ns < 0 => Wait::Infinite,
            ns => Wait::Relative(Duration::from_nanos(ns as u64)),
        }
    }
}

/// What `io_getevents` makes of an optional timeout: `None` (a null pointer) waits without
/// limit.
pub fn kernel_wait(timeout: Option<&KernelTimespec>) -> Wait {
    timeout.map_or(Wait::Infinite, KernelTimespec::kernel_wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(tv_sec: i64, tv_nsec: i64) -> KernelTimespec {
        KernelTimespec { tv_sec, tv_nsec }
    }

    #[test]
    fn from_duration() {
        assert_eq!(KernelTimespec::from(Duration::ZERO), ts(0, 0));
        assert_eq!(KernelTimespec::from(Duration::from_millis(1500)), ts(1, 500_000_000));
        assert_eq!(KernelTimespec::from(Duration::from_nanos(999_999_999)), ts(0, 999_999_999));
        assert_eq!(KernelTimespec::from(Duration::MAX), ts(i64::MAX, 999_999_999));
        assert_eq!(KernelTimespec::from(Duration::MAX).kernel_wait(), Wait::Infinite);
    }

    #[test]
    fn round_trip_below_ktime_sec_max() {
        for d in [
            Duration::from_nanos(1),
            Duration::from_secs(3),
            Duration::new(KTIME_SEC_MAX as u64 - 1, 7),
        ] {
            assert_eq!(KernelTimespec::from(d).kernel_wait(), Wait::Relative(d));
        }
    }

    #[test]
    fn kernel_reading_of_odd_timespecs() {
        // AIO-SEMANTICS.md §8.1, 5: none of these is rejected.
        assert_eq!(ts(0, 0).kernel_wait(), Wait::NonBlocking);
        assert_eq!(ts(-1, 1_000_000_000).kernel_wait(), Wait::NonBlocking);
        assert_eq!(ts(0, 1_500_000_000).kernel_wait(), Wait::Relative(Duration::from_millis(1500)));
        assert_eq!(ts(0, -1).kernel_wait(), Wait::Infinite);
        assert_eq!(ts(-5, 0).kernel_wait(), Wait::Infinite);
        assert_eq!(ts(KTIME_SEC_MAX, 0).kernel_wait(), Wait::Infinite);
        assert_eq!(
            ts(KTIME_SEC_MAX - 1, 0).kernel_wait(),
            Wait::Relative(Duration::from_secs(KTIME_SEC_MAX as u64 - 1))
        );
        assert_eq!(kernel_wait(None), Wait::Infinite);
        assert_eq!(kernel_wait(Some(&ts(0, 0))), Wait::NonBlocking);
    }

    #[test]
    fn ktime_sec_max_value() {
        assert_eq!(KTIME_SEC_MAX, 9_223_372_036);
    }
}
