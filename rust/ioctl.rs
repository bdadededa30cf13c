// SPDX-License-Identifier: GPL-2.0

//! ioctl decoding and the syscall-level rules of the calls: each argument block is copied in
//! once, then the call runs as its Linux 6.12 system call in `fs/aio.c` (version 2 adds
//! io_pgetevents and the matching cancel). The value returned is what that system call
//! returns.

use crate::cancel::{self, Cancel};
use crate::ctx::Deadline;
use crate::domain::Domain;
use crate::errors::{ealready, einprogress};
use crate::inflight::Selector;
use crate::req;
use crate::sys::{
    fd::FileRef,
    file::File,
    signal,
    stats::{self, Stat},
    trace,
    user_word,
};
use crate::uapi::*;
use core::mem::size_of;
use kernel::{
    prelude::*,
    types::FromBytes,
    uaccess::UserSlice,
};
use crate::sys::arc::ArcBorrow;

/// Copies the argument block of a command in.
fn args<T: FromBytes>(arg: usize) -> Result<T> {
    UserSlice::new(arg, size_of::<T>()).reader().read()
}

/// Runs one ioctl.
pub(crate) fn dispatch(domain: ArcBorrow<'_, Domain>, file: &File, cmd: u32, arg: usize) -> Result<isize> {
    match cmd {
        KAIO_IOC_SETUP => {
            let a: kaio_setup_args = args(arg)?;
            if a.flags & !KAIO_SETUP_POLLED_RW != 0 {
                return Err(EINVAL);
            }
            Domain::setup(domain, file, a.nr_events, a.ctxp, a.flags & KAIO_SETUP_POLLED_RW != 0)
        }
        KAIO_IOC_DESTROY => domain.destroy(args::<kaio_destroy_args>(arg)?.ctx_id),
        KAIO_IOC_SUBMIT => submit(&domain, args(arg)?),
        KAIO_IOC_GETEVENTS => {
            let a: kaio_getevents_args = args(arg)?;
            traced_getevents(a.ctx_id, a.min_nr, a.nr, || getevents(&domain, a))
        }
        KAIO_IOC_CANCEL => {
            let a: kaio_cancel_args = args(arg)?;
            let mut out = cancel::Outcome::default();
            let r = cancel(&domain, a, &mut out);
            trace_cancel(a.ctx_id, a.iocb, a.result, 0, &r, &out);
            r
        }
        KAIO_IOC_CANCEL_MATCH => {
            let a: kaio_cancel_match_args = args(arg)?;
            let mut out = cancel::Outcome::default();
            let r = cancel_match(&domain, arg, a, &mut out);
            let iocb = if a.flags & KAIO_CANCEL_IOCB != 0 { a.key } else { 0 };
            trace_cancel(a.ctx_id, iocb, a.result, a.flags, &r, &out);
            r
        }
        KAIO_IOC_PGETEVENTS => {
            let a: kaio_pgetevents_args = args(arg)?;
            traced_getevents(a.ctx_id, a.min_nr, a.nr, || pgetevents(&domain, a))
        }
        _ => Err(ENOTTY),
    }
}

/// The return value of an ioctl as the trace records it: the count, or the negative errno.
fn ret_of(r: &Result<isize>) -> i64 {
    match r {
        Ok(n) => *n as i64,
        Err(e) => i64::from(e.to_errno()),
    }
}

/// Runs a getevents call and records it (`kaio_getevents`), timing it only when the event is
/// enabled.
fn traced_getevents(ctx_id: u64, min_nr: i64, nr: i64, call: impl FnOnce() -> Result<isize>) -> Result<isize> {
    if !trace::getevents_enabled() {
        return call();
    }
    let t0 = trace::now_ns();
    let r = call();
    trace::getevents(ctx_id, min_nr, nr, ret_of(&r), trace::now_ns().saturating_sub(t0));
    r
}

/// Records a cancel ioctl: the trace event and the statistics.
fn trace_cancel(ctx_id: u64, iocb: u64, result: u64, flags: u32, r: &Result<isize>, out: &cancel::Outcome) {
    // Each counter is one call into C: none for a zero.
    if out.cancelled != 0 {
        stats::add(Stat::Cancelled, i64::from(out.cancelled));
    }
    if out.running != 0 {
        stats::add(Stat::CancelRunning, i64::from(out.running));
    }
    if out.cancelled == 0 && out.running == 0 {
        stats::add(Stat::CancelMissed, 1);
    }
    trace::cancel(ctx_id, iocb, result, flags, ret_of(r), out.cancelled + out.running, out.cancelled, out.running);
}

/// `io_submit`: accepted iocbs stay accepted; the count is returned if any was, else the first
/// error (AIO-SEMANTICS §5.1).
fn submit(domain: &Domain, a: kaio_submit_args) -> Result<isize> {
    if a.nr < 0 {
        return Err(EINVAL);
    }
    let ctx = domain.lookup(a.ctx_id).ok_or(EINVAL)?;
    let nr = a.nr.min(i64::from(ctx.nr_events())) as usize;
    let mut accepted = 0usize;
    let mut error = None;
    while accepted < nr {
        let slot = (a.iocbpp as usize).wrapping_add(accepted * size_of::<u64>());
        let result = user_word::get_iocb(slot).and_then(|(addr, iocb)| req::submit_one(&ctx, addr, iocb));
        if let Err(e) = result {
            error = Some(e);
            break;
        }
        accepted += 1;
    }
    match (accepted, error) {
        (0, Some(e)) => Err(e),
        (n, _) => Ok(n as isize),
    }
}

/// `KTIME_SEC_MAX`: seconds at or above this mean "no timeout".
const KTIME_SEC_MAX: i64 = i64::MAX / 1_000_000_000;

/// Reads a relative `__kernel_timespec` (0: none) the way io_getevents does: not validated.
fn read_deadline(ptr: u64) -> Result<Deadline> {
    if ptr == 0 {
        return Ok(Deadline::Never);
    }
    let ts: KernelTimespec = args(ptr as usize)?;
    if ts.tv_sec >= KTIME_SEC_MAX {
        return Ok(Deadline::Never);
    }
    Ok(match ts.tv_sec.wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec) {
        0 => Deadline::Now,
        // A negative relative timeout saturates to "forever" in Linux's hrtimer arithmetic.
        ns if ns < 0 => Deadline::Never,
        ns => Deadline::After(ns as u64),
    })
}

/// `do_io_getevents`: the lookup, the `min_nr`/`nr` check, then the wait for events.
fn read_events(domain: &Domain, ctx_id: u64, min_nr: i64, nr: i64, events: u64, deadline: Deadline) -> Result<usize> {
    let ctx = domain.lookup(ctx_id).ok_or(EINVAL)?;
    if min_nr < 0 || min_nr > nr {
        return Err(EINVAL);
    }
    ctx.read_events(min_nr as usize, nr as usize, events as usize, deadline)
}

/// `io_getevents` (AIO-SEMANTICS §8): the timeout is read before the context is looked up.
fn getevents(domain: &Domain, a: kaio_getevents_args) -> Result<isize> {
    let deadline = read_deadline(a.timeout)?;
    let got = read_events(domain, a.ctx_id, a.min_nr, a.nr, a.events, deadline)?;
    if got == 0 && kernel::current!().signal_pending() {
        return Err(EINTR);
    }
    Ok(got as isize)
}

/// `sizeof(sigset_t)` on x86_64.
const SIGSET_SIZE: u64 = 8;

/// `io_pgetevents` (AIO-SEMANTICS §8.5): the timeout, then the signal mask, are read; the mask
/// is in force for the wait and put back atomically; a wait a signal ended with no event is
/// restarted or fails with `EINTR` as the signal's disposition says (`ERESTARTNOHAND`).
fn pgetevents(domain: &Domain, a: kaio_pgetevents_args) -> Result<isize> {
    let deadline = read_deadline(a.timeout)?;
    if a.sigmask != 0 {
        if a.sigsetsize != SIGSET_SIZE {
            return Err(EINVAL);
        }
        let mask: u64 = args(a.sigmask as usize)?;
        signal::install(mask);
    }
    let got = read_events(domain, a.ctx_id, a.min_nr, a.nr, a.events, deadline);
    let interrupted = kernel::current!().signal_pending();
    signal::restore_unless(interrupted);
    match got {
        Ok(0) if interrupted => Err(ERESTARTNOHAND),
        got => got.map(|n| n as isize),
    }
}

/// `io_cancel` (AIO-SEMANTICS §9): `-EINPROGRESS` on success, the event is in the ring when
/// the call returns; `result` is never touched.
fn cancel(domain: &Domain, a: kaio_cancel_args, out: &mut cancel::Outcome) -> Result<isize> {
    let key_at = (a.iocb as usize).wrapping_add(core::mem::offset_of!(Iocb, aio_key));
    let key: u32 = user_word::get(key_at)?;
    if key != KIOCB_KEY {
        return Err(EINVAL);
    }
    let ctx = domain.lookup(a.ctx_id).ok_or(EINVAL)?;
    let c = Cancel {
        sel: Selector::iocb(a.iocb),
        all: false,
        cancellable_only: true,
        wait: None,
        result: None,
    };
    *out = cancel::run(&ctx, &c).0;
    match out.cancelled {
        0 => Err(EINVAL),
        _ => Err(einprogress()),
    }
}

const CANCEL_SELECTORS: u32 = KAIO_CANCEL_IOCB | KAIO_CANCEL_DATA | KAIO_CANCEL_FD | KAIO_CANCEL_OP;
const CANCEL_FLAGS: u32 =
    CANCEL_SELECTORS | KAIO_CANCEL_ANY | KAIO_CANCEL_ALL | KAIO_CANCEL_WAIT | KAIO_CANCEL_RESULT;

/// `KAIO_IOC_CANCEL_MATCH` (ABI version 2): the flags and reserved fields, the selector
/// combination, the WAIT timeout, the lookup, the file; then the cancel, and `nr_running`
/// written back on every return after the lookup.
fn cancel_match(domain: &Domain, arg: usize, a: kaio_cancel_match_args, out: &mut cancel::Outcome) -> Result<isize> {
    let f = a.flags;
    if f & !CANCEL_FLAGS != 0 || a.reserved1 != 0 || a.reserved2 != [0, 0] {
        return Err(EINVAL);
    }
    let selectors = f & CANCEL_SELECTORS;
    let any = f & KAIO_CANCEL_ANY != 0;
    let iocb_and_data = KAIO_CANCEL_IOCB | KAIO_CANCEL_DATA;
    if (selectors == 0 && !any) || (any && selectors != 0) || f & iocb_and_data == iocb_and_data {
        return Err(EINVAL);
    }
    let result_mode = f & KAIO_CANCEL_RESULT != 0;
    if result_mode && f & (KAIO_CANCEL_ALL | KAIO_CANCEL_ANY | KAIO_CANCEL_WAIT) != 0 {
        return Err(EINVAL);
    }
    let wait = match f & KAIO_CANCEL_WAIT {
        0 => None,
        _ => Some(read_deadline(a.timeout)?),
    };
    let ctx = domain.lookup(a.ctx_id).ok_or(EINVAL)?;
    let running_at = arg.wrapping_add(core::mem::offset_of!(kaio_cancel_match_args, nr_running));
    let write_running = |n: u32| user_word::put(running_at, n);
    // An argument block `nr_running` cannot be written to fails before anything is cancelled:
    // a RESULT event copied out must not be reported as lost.
    write_running(0)?;
    let file = match f & KAIO_CANCEL_FD {
        0 => Ok(None),
        _ => FileRef::get(a.fd as u32).map(Some),
    };
    let (outcome, status) = match &file {
        Err(e) => (cancel::Outcome::default(), Err(*e)),
        Ok(file) => {
            let c = Cancel {
                sel: Selector {
                    iocb: (f & KAIO_CANCEL_IOCB != 0).then_some(a.key),
                    data: (f & KAIO_CANCEL_DATA != 0).then_some(a.key),
                    file: file.as_ref().map(FileRef::id),
                    op: (f & KAIO_CANCEL_OP != 0).then_some(a.opcode),
                },
                all: f & (KAIO_CANCEL_ALL | KAIO_CANCEL_ANY) != 0,
                cancellable_only: false,
                wait,
                result: result_mode.then_some(a.result),
            };
            cancel::run(&ctx, &c)
        }
    };
    drop(file);
    drop(ctx);
    *out = outcome;
    let outcome = &*out;
    // Should the block have become unwritable meanwhile, an event already in `*result` still
    // makes the call a success; otherwise the events are in the ring and EFAULT loses none.
    if write_running(outcome.running).is_err() && !(result_mode && outcome.cancelled != 0) {
        return Err(EFAULT);
    }
    status?;
    match (outcome.cancelled, outcome.running, result_mode) {
        (0, 0, true) => Err(EINVAL),
        (0, 0, false) => Err(ENOENT),
        (0, _, true) => Err(EAGAIN),
        (0, _, false) => Err(ealready()),
        (_, _, true) => Ok(0),
        (n, _, false) => Ok(n as isize),
    }
}
