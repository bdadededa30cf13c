// SPDX-License-Identifier: GPL-2.0

//! kaio's tracepoints (`rust/trace/kaio_trace.h`, created in `rust/trace/trace.c`), as safe
//! functions. The 6.12 `kernel` crate has no tracepoint support (upstream later added
//! `declare_trace!`, which tests the static key in Rust); here each event is one call into C,
//! where the tracepoint's static branch is patched out while the event is disabled. The
//! events of every request (submit, complete, cancel) read their static key in Rust first.

use super::bindings;

/// The `trace_calls` module parameter: 0 skips every call below (`make bench` compares the
/// three states: calls skipped, events disabled, events enabled).
fn calls() -> bool {
    // SAFETY: a static `bool` the parameter code writes with a plain store; read once, volatile.
    unsafe { core::ptr::addr_of!(bindings::kaio_trace_calls).read_volatile() }
}

/// `static_key_count(&tp->key) > 0`: whether the event is enabled now, read in place (the
/// `trace_<event>_enabled()` test without its jump label), so that a disabled event of the
/// hot paths costs no call. A race with enabling loses at most the events of that moment, as
/// the jump label's own patching does.
fn enabled(tp: *const bindings::tracepoint) -> bool {
    // SAFETY: a tracepoint of this module (alive while its code runs); `enabled` is an
    // `atomic_t` the tracing core writes atomically: a volatile read is `atomic_read`.
    unsafe { core::ptr::addr_of!((*tp).key.enabled.counter).read_volatile() > 0 }
}

/// How a request's event came to be posted.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub(crate) enum How {
    /// Its operation finished (or was stopped and ended by itself).
    Normal = 0,
    /// A cancel ioctl took it.
    Cancelled = 1,
    /// The teardown sweep (destroy, close, exit) cancelled it.
    Teardown = 2,
}

/// `kaio_setup`: a context was created.
pub(crate) fn setup(ctx_id: u64, nr_events: u32, ring_size: u64) {
    if !calls() {
        return;
    }
    // SAFETY: plain values; callable in any context.
    unsafe { bindings::kaio_trace_setup(ctx_id, nr_events, ring_size) }
}

/// `kaio_destroy`: a context was killed (destroy, close, exit) with `in_flight` requests listed.
pub(crate) fn destroy(ctx_id: u64, in_flight: u64) {
    if !calls() {
        return;
    }
    // SAFETY: as above.
    unsafe { bindings::kaio_trace_destroy(ctx_id, in_flight) }
}

/// `kaio_submit`: one iocb's submission, `result` 0 or the negative errno it was refused with.
pub(crate) fn submit(ctx_id: u64, iocb: u64, data: u64, opcode: u16, fd: i32, result: i64) {
    if !calls() || !enabled(core::ptr::addr_of!(bindings::__tracepoint_kaio_submit)) {
        return;
    }
    // SAFETY: as above.
    unsafe { bindings::kaio_trace_submit(ctx_id, iocb, data, opcode, fd, result) }
}

/// `kaio_complete`: a request's one event.
pub(crate) fn complete(ctx_id: u64, iocb: u64, data: u64, res: i64, res2: i64, how: How) {
    if !calls() || !enabled(core::ptr::addr_of!(bindings::__tracepoint_kaio_complete)) {
        return;
    }
    // SAFETY: as above.
    unsafe { bindings::kaio_trace_complete(ctx_id, iocb, data, res, res2, how as u8) }
}

/// `kaio_cancel`: one cancel ioctl (`flags` 0 for `KAIO_IOC_CANCEL`) and what it did.
#[allow(clippy::too_many_arguments)]
pub(crate) fn cancel(ctx_id: u64, iocb: u64, result: u64, flags: u32, ret: i64, matched: u32, cancelled: u32, running: u32) {
    if !calls() || !enabled(core::ptr::addr_of!(bindings::__tracepoint_kaio_cancel)) {
        return;
    }
    // SAFETY: as above.
    unsafe { bindings::kaio_trace_cancel(ctx_id, iocb, result, flags, ret, matched, cancelled, running) }
}

/// Whether `kaio_getevents` is enabled (its timing costs two clock reads: only then).
pub(crate) fn getevents_enabled() -> bool {
    if !calls() {
        return false;
    }
    // SAFETY: reads the static key.
    unsafe { bindings::kaio_trace_getevents_enabled() }
}

/// `kaio_getevents`: one getevents call, `returned` the count or the negative errno.
pub(crate) fn getevents(ctx_id: u64, min_nr: i64, nr: i64, returned: i64, waited_ns: u64) {
    // SAFETY: as above.
    unsafe { bindings::kaio_trace_getevents(ctx_id, min_nr, nr, returned, waited_ns) }
}

/// `ktime_get_ns()`: CLOCK_MONOTONIC in nanoseconds.
pub(crate) fn now_ns() -> u64 {
    // SAFETY: callable in any context.
    unsafe { bindings::kaio_ktime_get_ns() }
}
