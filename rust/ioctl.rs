// SPDX-License-Identifier: GPL-2.0

//! ioctl decoding and the syscall-level rules of the five calls: each argument block is copied
//! in once, then the call runs as its Linux 6.12 system call in `fs/aio.c`. The value returned
//! is what that system call returns.

use crate::ctx::Deadline;
use crate::domain::Domain;
use crate::req;
use crate::sys::file::File;
use crate::uapi::*;
use core::mem::size_of;
use kernel::{
    prelude::*,
    sync::ArcBorrow,
    types::FromBytes,
    uaccess::UserSlice,
};

/// Copies the argument block of a command in.
fn args<T: FromBytes>(arg: usize) -> Result<T> {
    UserSlice::new(arg, size_of::<T>()).reader().read()
}

/// Runs one ioctl.
pub(crate) fn dispatch(domain: ArcBorrow<'_, Domain>, file: &File, cmd: u32, arg: usize) -> Result<isize> {
    match cmd {
        KAIO_IOC_SETUP => {
            let a: kaio_setup_args = args(arg)?;
            if a.flags != 0 {
                return Err(EINVAL);
            }
            Domain::setup(domain, file, a.nr_events, a.ctxp)
        }
        KAIO_IOC_DESTROY => domain.destroy(args::<kaio_destroy_args>(arg)?.ctx_id),
        KAIO_IOC_SUBMIT => submit(&domain, args(arg)?),
        KAIO_IOC_GETEVENTS => getevents(&domain, args(arg)?),
        KAIO_IOC_CANCEL => cancel(&domain, args(arg)?),
        _ => Err(ENOTTY),
    }
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
        let result = UserSlice::new(slot, size_of::<u64>())
            .reader()
            .read::<u64>()
            .and_then(|iocb| req::submit_one(&ctx, iocb as usize));
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

/// `io_getevents` (AIO-SEMANTICS §8).
fn getevents(domain: &Domain, a: kaio_getevents_args) -> Result<isize> {
    // The timeout is read before the context is looked up, and not validated.
    let timeout_ns = match a.timeout {
        0 => None,
        ptr => {
            let ts: KernelTimespec = args(ptr as usize)?;
            if ts.tv_sec >= KTIME_SEC_MAX {
                None
            } else {
                Some(ts.tv_sec.wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec))
            }
        }
    };
    let ctx = domain.lookup(a.ctx_id).ok_or(EINVAL)?;
    if a.min_nr < 0 || a.min_nr > a.nr {
        return Err(EINVAL);
    }
    let deadline = match timeout_ns {
        None => Deadline::Never,
        Some(0) => Deadline::Now,
        // A negative relative timeout saturates to "forever" in Linux's hrtimer arithmetic.
        Some(ns) if ns < 0 => Deadline::Never,
        Some(ns) => Deadline::After(ns as u64),
    };
    let got = ctx.read_events(a.min_nr as usize, a.nr as usize, a.events as usize, deadline)?;
    drop(ctx);
    if got == 0 && kernel::current!().signal_pending() {
        return Err(EINTR);
    }
    Ok(got as isize)
}

/// `io_cancel` (AIO-SEMANTICS §9): `-EINPROGRESS` on success, the event comes through the
/// ring; `result` is never touched.
fn cancel(domain: &Domain, a: kaio_cancel_args) -> Result<isize> {
    let key_at = (a.iocb as usize).wrapping_add(core::mem::offset_of!(Iocb, aio_key));
    let key: u32 = UserSlice::new(key_at, size_of::<u32>()).reader().read()?;
    if key != KIOCB_KEY {
        return Err(EINVAL);
    }
    let ctx = domain.lookup(a.ctx_id).ok_or(EINVAL)?;
    req::cancel(&ctx, a.iocb)?;
    Err(Error::from_errno(-(kernel::bindings::EINPROGRESS as i32)))
}
