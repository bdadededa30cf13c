// SPDX-License-Identifier: GPL-2.0

//! Module-wide statistics: per-CPU counters bumped on the hot path without a shared cache
//! line, summed over the possible CPUs when read through the read-only module parameters
//! `/sys/module/kaio/parameters/stat_*` (declared in `rust/helpers.c`, in [`Stat`]'s order).

use super::bindings;
use kernel::ffi::{c_char, c_int};

/// One counter. Gauges (`Contexts`, `InFlight*`) go up and down; the rest only up.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub(crate) enum Stat {
    Contexts = 0,
    Submitted = 1,
    Events = 2,
    Cancelled = 3,
    CancelRunning = 4,
    CancelMissed = 5,
    Swept = 6,
    InFlightPread = 7,
    InFlightPwrite = 8,
    InFlightFsync = 9,
    InFlightFdsync = 10,
    InFlightPoll = 11,
    InFlightPreadv = 12,
    InFlightPwritev = 13,
    InFlightDelay = 14,
    Teardowns = 15,
    PolledRetriesWorker = 16,
    PolledRetriesReaper = 17,
    PolledRetriesTask = 18,
}

/// Counters, in `rust/helpers.c`: a per-CPU `long [NR_STATS]`.
const NR_STATS: usize = 19;
const _: () = assert!(Stat::PolledRetriesTask as usize + 1 == NR_STATS);

#[cfg(target_arch = "x86_64")]
extern "C" {
    /// The per-CPU counters. Its address is not a pointer to memory: on x86-64 it is the
    /// counters' offset from each CPU's `gs` base (what `this_cpu_add` adds to).
    static kaio_stats: [core::ffi::c_long; NR_STATS];
}

/// `this_cpu_add(kaio_stats[stat], v)`: one `add` to the `gs`-relative address, which neither
/// preemption nor an interrupt can split, so no call into C on the hot paths. Any context.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn this_cpu_add(stat: Stat, v: i64) {
    // SAFETY: the slot is inside the array (one per `Stat` variant, checked above), addressed
    // as `this_cpu_add` addresses it: `gs` holds this CPU's per-CPU base, and the symbol's
    // address is the offset from it. Nothing else is read or written; flags are clobbered
    // (asm!'s default).
    unsafe {
        let slot = core::ptr::addr_of!(kaio_stats).cast::<core::ffi::c_long>().add(stat as usize);
        core::arch::asm!("add qword ptr gs:[{slot}], {v}", slot = in(reg) slot, v = in(reg) v, options(nostack));
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn this_cpu_add(stat: Stat, v: i64) {
    // SAFETY: the index is below the array's size (`Stat` has one variant per slot).
    unsafe { bindings::kaio_stat_add(stat as u32, v as _) }
}

/// Adds `v` to `stat` on this CPU. Any context.
pub(crate) fn add(stat: Stat, v: i64) {
    this_cpu_add(stat, v);
}

/// Adds 1 to `stat` and `in_flight` to the gauge of requests in flight for `opcode` (if kaio
/// runs it), on this CPU (a request submitted or completed). Any context.
pub(crate) fn count_with_in_flight(stat: Stat, opcode: u16, in_flight: i64) {
    add(stat, 1);
    if let Some(gauge) = self::in_flight(opcode) {
        add(gauge, in_flight);
    }
}

/// The gauge of requests in flight for `opcode` (`None` for an opcode kaio does not run).
pub(crate) fn in_flight(opcode: u16) -> Option<Stat> {
    Some(match opcode {
        0 => Stat::InFlightPread,
        1 => Stat::InFlightPwrite,
        2 => Stat::InFlightFsync,
        3 => Stat::InFlightFdsync,
        5 => Stat::InFlightPoll,
        7 => Stat::InFlightPreadv,
        8 => Stat::InFlightPwritev,
        0x4b00 => Stat::InFlightDelay,
        _ => return None,
    })
}

/// The sum of counter `index` over the possible CPUs.
fn sum(index: u32) -> i64 {
    let mut total = 0i64;
    // SAFETY: plain reads of per-CPU slots; `cpu` stays below `nr_cpu_ids`.
    unsafe {
        let mut cpu = bindings::kaio_next_possible_cpu(-1);
        while cpu >= 0 && (cpu as u32) < bindings::kaio_nr_cpu_ids() {
            total = total.wrapping_add(bindings::kaio_stat_read(index, cpu) as i64);
            cpu = bindings::kaio_next_possible_cpu(cpu);
        }
    }
    total
}

/// The `get` of the `stat_*` parameters: the counter `kp->arg` names, in decimal.
///
/// # Safety
///
/// Called by the parameter code with a page-sized `buffer` and a parameter declared in
/// `rust/helpers.c`, whose `arg` points to its counter's index.
#[no_mangle]
unsafe extern "C" fn kaio_stat_get(buffer: *mut c_char, kp: *const bindings::kernel_param) -> c_int {
    // SAFETY: per the contract: `arg` points to a static `unsigned int` index.
    let index = unsafe { *(*kp).__bindgen_anon_1.arg.cast::<u32>() };
    let mut text = [0u8; 24];
    let mut w = Cursor { buf: &mut text, len: 0 };
    let _ = core::fmt::write(&mut w, format_args!("{}\n", sum(index)));
    let n = w.len;
    // SAFETY: `buffer` holds a page; `n` is at most 24.
    unsafe { core::ptr::copy_nonoverlapping(text.as_ptr(), buffer.cast::<u8>(), n) };
    n as c_int
}

/// Formats into a fixed buffer.
struct Cursor<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl core::fmt::Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(core::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}
