// SPDX-License-Identifier: GPL-2.0

//! System-wide request-slot accounting: the `nr` and `max_nr` module parameters, the analogues
//! of `/proc/sys/fs/aio-nr` and `aio-max-nr` (`aio_nr_lock` in Linux; an atomic here).

use crate::sys::system;
use core::sync::atomic::Ordering;
use kernel::prelude::*;

/// Charges `n` slots; `EAGAIN` if that would pass `max_nr` or wrap.
pub(crate) fn charge(n: u32) -> Result {
    let max = system::max_nr();
    system::nr()
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |nr| {
            nr.checked_add(u64::from(n)).filter(|&sum| sum <= max)
        })
        .map(|_| ())
        .map_err(|_| EAGAIN)
}

/// Gives back `n` slots, clamping at 0 as `aio_nr_sub` does.
pub(crate) fn uncharge(n: u32) {
    let _ = system::nr().fetch_update(Ordering::AcqRel, Ordering::Acquire, |nr| {
        if nr < u64::from(n) {
            pr_warn!("kaio: nr underflow ({} - {})\n", nr, n);
        }
        Some(nr.saturating_sub(u64::from(n)))
    });
}
