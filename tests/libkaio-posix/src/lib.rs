// SPDX-License-Identifier: GPL-2.0
//! libkaio-posix: POSIX AIO (`<aio.h>`) on `/dev/kaio`, a drop-in for glibc's `aio_*`.
//!
//! Exports `aio_read`, `aio_write`, `aio_fsync`, `aio_error`, `aio_return`, `aio_suspend`,
//! `aio_cancel`, `lio_listio`, their `64` variants (the same functions: on x86_64
//! `struct aiocb64` is `struct aiocb`), and glibc's `aio_init` (accepted, nothing to tune).
//! A program compiled against glibc's `<aio.h>` links this library before `-lrt` (or libc)
//! and runs unmodified. How requests travel: [`process`]. Behaviour, and where it follows
//! POSIX rather than glibc: `README.md`.

mod abi;
mod own_fd;
mod pool;
mod process;

#[allow(dead_code)]
#[path = "../../../rust/uapi.rs"]
mod uapi;

use abi::*;
use libc::{c_int, ssize_t, timespec};
use process::{deadline_after, process, set_errno, ListGroup, Notify, Process, Req};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::sync::Arc;
use uapi::*;

/// Marks `cb` as finished with error `err` (a request refused at submit): `aio_error` then
/// says why, as glibc does for the requests it refuses, and nothing is notified.
unsafe fn fail_aiocb(cb: *mut Aiocb, err: c_int) {
    // SAFETY: the caller passes a valid aiocb.
    unsafe {
        core::ptr::write_volatile(core::ptr::addr_of_mut!((*cb).return_value), -1);
        AtomicI32::from_ptr(core::ptr::addr_of_mut!((*cb).error_code)).store(err, Ordering::Release);
    }
}

/// Whether a completion with this sigevent must be delivered by the reaper thread even if
/// nobody waits for it ([`Notify::notifies`]).
fn notifies(s: &SigEvent) -> bool {
    Notify(*s).notifies()
}

/// Builds the request for `cb` (validated by the caller) in a slot of the pool and marks it
/// in progress; `EAGAIN` when no slot is free. The status is set before the submit: the
/// completion may be reaped before `io_submit` returns. A request with a notification or in a
/// list signals the reaper's eventfd, which the caller has started (`aio_error` in a signal
/// handler leaves such completions to the reaper); the others are reaped by whoever looks.
unsafe fn prepare(p: &Process, cb: *mut Aiocb, opcode: u16, group: Option<Arc<ListGroup>>) -> Result<*mut Req, c_int> {
    // SAFETY: the caller passes a valid aiocb.
    let c = unsafe { &*cb };
    // POSIX: an fsync uses only `aio_fildes` and `aio_sigevent` (the aiocb of the write before
    // it may be reused as it is); kaio wants no buffer, length or offset for it.
    let sync = opcode == IOCB_CMD_FSYNC || opcode == IOCB_CMD_FDSYNC;
    let resfd = notifies(&c.aio_sigevent) || group.is_some();
    let iocb = Iocb {
        aio_data: cb as u64,
        aio_lio_opcode: opcode,
        aio_fildes: c.aio_fildes as u32,
        aio_buf: if sync { 0 } else { c.aio_buf as u64 },
        aio_nbytes: if sync { 0 } else { c.aio_nbytes as u64 },
        aio_offset: if sync { 0 } else { c.aio_offset },
        aio_flags: if resfd { IOCB_FLAG_RESFD } else { 0 },
        aio_resfd: if resfd { p.efd as u32 } else { 0 },
        ..Default::default()
    };
    let req = p.new_req(Req { iocb, aiocb: cb, notify: Notify(c.aio_sigevent), group })?;
    // SAFETY: as above.
    unsafe {
        core::ptr::write_volatile(core::ptr::addr_of_mut!((*cb).return_value), 0);
        AtomicI32::from_ptr(core::ptr::addr_of_mut!((*cb).error_code))
            .store(libc::EINPROGRESS, Ordering::Release);
    }
    Ok(req)
}

/// `aio_read`/`aio_write`/`aio_fsync`: one request. Errors found at submit are reported
/// synchronously (-1 and `errno`, and in `aio_error`); POSIX allows either way.
unsafe fn submit_one(cb: *mut Aiocb, opcode: u16) -> c_int {
    let p = match process() {
        Ok(p) => p,
        Err(e) => {
            set_errno(e);
            return -1;
        }
    };
    // SAFETY: the caller's aiocb, valid until the request completes (POSIX).
    let prio = unsafe { (*cb).aio_reqprio };
    let sync = opcode == IOCB_CMD_FSYNC || opcode == IOCB_CMD_FDSYNC;
    if !sync && !(0..=AIO_PRIO_DELTA_MAX).contains(&prio) {
        // SAFETY: as above.
        unsafe { fail_aiocb(cb, libc::EINVAL) };
        set_errno(libc::EINVAL);
        return -1;
    }
    // SAFETY: as above.
    if notifies(unsafe { &(*cb).aio_sigevent }) {
        if let Err(e) = p.ensure_reaper() {
            // SAFETY: as above.
            unsafe { fail_aiocb(cb, e) };
            set_errno(e);
            return -1;
        }
    }
    // SAFETY: as above.
    let req = match unsafe { prepare(p, cb, opcode, None) } {
        Ok(req) => req,
        Err(e) => {
            // SAFETY: as above.
            unsafe { fail_aiocb(cb, e) };
            set_errno(e);
            return -1;
        }
    };
    match p.submit(&[req as *mut Iocb]) {
        Ok(1) => 0,
        r => {
            let e = match r {
                Err(e) => e,
                Ok(_) => libc::EAGAIN,
            };
            // SAFETY: not submitted.
            unsafe { p.discard(req) };
            // SAFETY: as above.
            unsafe { fail_aiocb(cb, e) };
            set_errno(e);
            -1
        }
    }
}

/// `aio_read(3)`: `IOCB_CMD_PREAD` of `aio_nbytes` at `aio_offset` (ignored by pipes and
/// sockets) into `aio_buf`.
#[no_mangle]
pub unsafe extern "C" fn aio_read(aiocbp: *mut Aiocb) -> c_int {
    // SAFETY: forwarded.
    unsafe { submit_one(aiocbp, IOCB_CMD_PREAD) }
}

/// `aio_read64(3)`: `aio_read`.
#[no_mangle]
pub unsafe extern "C" fn aio_read64(aiocbp: *mut Aiocb) -> c_int {
    // SAFETY: forwarded.
    unsafe { submit_one(aiocbp, IOCB_CMD_PREAD) }
}

/// `aio_write(3)`: `IOCB_CMD_PWRITE`.
#[no_mangle]
pub unsafe extern "C" fn aio_write(aiocbp: *mut Aiocb) -> c_int {
    // SAFETY: forwarded.
    unsafe { submit_one(aiocbp, IOCB_CMD_PWRITE) }
}

/// `aio_write64(3)`: `aio_write`.
#[no_mangle]
pub unsafe extern "C" fn aio_write64(aiocbp: *mut Aiocb) -> c_int {
    // SAFETY: forwarded.
    unsafe { submit_one(aiocbp, IOCB_CMD_PWRITE) }
}

unsafe fn fsync_impl(op: c_int, aiocbp: *mut Aiocb) -> c_int {
    let opcode = if op == libc::O_SYNC {
        IOCB_CMD_FSYNC
    } else if op == libc::O_DSYNC {
        IOCB_CMD_FDSYNC
    } else {
        set_errno(libc::EINVAL);
        return -1;
    };
    // SAFETY: forwarded.
    unsafe { submit_one(aiocbp, opcode) }
}

/// `aio_fsync(3)`: `O_SYNC` is `IOCB_CMD_FSYNC`, `O_DSYNC` `IOCB_CMD_FDSYNC`, any other op
/// `EINVAL` (the aiocb untouched).
#[no_mangle]
pub unsafe extern "C" fn aio_fsync(op: c_int, aiocbp: *mut Aiocb) -> c_int {
    // SAFETY: forwarded.
    unsafe { fsync_impl(op, aiocbp) }
}

/// `aio_fsync64(3)`: `aio_fsync`.
#[no_mangle]
pub unsafe extern "C" fn aio_fsync64(op: c_int, aiocbp: *mut Aiocb) -> c_int {
    // SAFETY: forwarded.
    unsafe { fsync_impl(op, aiocbp) }
}

/// The aiocb's status as last stored (release by the reaping thread).
unsafe fn status(aiocbp: *const Aiocb) -> c_int {
    // SAFETY: the caller's aiocb; the reaper writes it with release ordering.
    unsafe { AtomicI32::from_ptr(core::ptr::addr_of!((*aiocbp).error_code) as *mut c_int).load(Ordering::Acquire) }
}

/// The status; while it is `EINPROGRESS`, the ring is reaped from user space first (no
/// system call; nothing if another thread is reaping, which then stores the results), as
/// far as a signal handler may: completions with a notification or of a list are left to
/// the reaper thread. Async-signal-safe.
unsafe fn error_impl(aiocbp: *const Aiocb) -> c_int {
    // SAFETY: forwarded.
    let e = unsafe { status(aiocbp) };
    if e != libc::EINPROGRESS {
        return e;
    }
    match process::existing() {
        // SAFETY: forwarded.
        Some(p) if p.try_reap_plain() > 0 => unsafe { status(aiocbp) },
        _ => e,
    }
}

/// `aio_error(3)`: `EINPROGRESS` until the completion is reaped, then 0 or the error
/// (`ECANCELED` for a cancelled request). Async-signal-safe, as POSIX requires.
#[no_mangle]
pub unsafe extern "C" fn aio_error(aiocbp: *const Aiocb) -> c_int {
    // SAFETY: forwarded.
    unsafe { error_impl(aiocbp) }
}

/// `aio_error64(3)`: `aio_error`.
#[no_mangle]
pub unsafe extern "C" fn aio_error64(aiocbp: *const Aiocb) -> c_int {
    // SAFETY: forwarded.
    unsafe { error_impl(aiocbp) }
}

unsafe fn return_impl(aiocbp: *mut Aiocb) -> ssize_t {
    // Acquire on the status first: a completed request's return value is then visible.
    // SAFETY: the caller's aiocb.
    unsafe {
        error_impl(aiocbp);
        core::ptr::read_volatile(core::ptr::addr_of!((*aiocbp).return_value))
    }
}

/// `aio_return(3)`: the byte count, or -1 (the error is `aio_error`'s). Async-signal-safe.
#[no_mangle]
pub unsafe extern "C" fn aio_return(aiocbp: *mut Aiocb) -> ssize_t {
    // SAFETY: forwarded.
    unsafe { return_impl(aiocbp) }
}

/// `aio_return64(3)`: `aio_return`.
#[no_mangle]
pub unsafe extern "C" fn aio_return64(aiocbp: *mut Aiocb) -> ssize_t {
    // SAFETY: forwarded.
    unsafe { return_impl(aiocbp) }
}

/// The caller's array of `nent` (>= 0) pointers: empty for none (the pointer may then be
/// null, as glibc accepts), `None` for a null array of some.
///
/// # Safety
///
/// A non-null `list` points to `nent` readable entries that outlive the call.
unsafe fn caller_list<'a, P>(list: *const P, nent: c_int) -> Option<&'a [P]> {
    match (nent, list.is_null()) {
        (0, _) => Some(&[]),
        (_, true) => None,
        // SAFETY: the caller's contract.
        _ => Some(unsafe { core::slice::from_raw_parts(list, nent as usize) }),
    }
}

unsafe fn suspend_impl(list: *const *const Aiocb, nent: c_int, timeout: *const timespec) -> c_int {
    if nent < 0 {
        set_errno(libc::EINVAL);
        return -1;
    }
    // SAFETY: the caller's array of `nent` entries (none: possibly a null pointer).
    let Some(list) = (unsafe { caller_list(list, nent) }) else {
        set_errno(libc::EINVAL);
        return -1;
    };
    // SAFETY: each non-null entry is an aiocb of the caller's.
    let any_done = || list.iter().any(|&cb| !cb.is_null() && unsafe { status(cb) } != libc::EINPROGRESS);
    // Like glibc, a list with nothing in progress (all null, or nent 0) returns at once.
    let in_progress = list.iter().any(|&cb| !cb.is_null());
    if !in_progress || any_done() {
        return 0;
    }
    if let Some(p) = process::existing() {
        // A completion already in the ring (a regular-file read completes inside the
        // submit): no system call at all.
        if p.try_reap() > 0 && any_done() {
            return 0;
        }
    }
    let p = match process() {
        Ok(p) => p,
        Err(e) => {
            set_errno(e);
            return -1;
        }
    };
    let deadline = if timeout.is_null() {
        None
    } else {
        // SAFETY: the caller's timespec.
        let t = unsafe { *timeout };
        if t.tv_nsec < 0 || t.tv_nsec >= 1_000_000_000 || t.tv_sec < 0 {
            set_errno(libc::EINVAL);
            return -1;
        }
        Some(deadline_after(&t))
    };
    match p.wait_until(any_done, deadline.as_ref()) {
        Ok(()) => 0,
        Err(e) => {
            set_errno(e);
            -1
        }
    }
}

/// `aio_suspend(3)`: 0 once one listed request is complete; -1 `EAGAIN` when the relative
/// `timeout` passes first, `EINTR` when a signal handler ran.
#[no_mangle]
pub unsafe extern "C" fn aio_suspend(list: *const *const Aiocb, nent: c_int, timeout: *const timespec) -> c_int {
    // SAFETY: forwarded.
    unsafe { suspend_impl(list, nent, timeout) }
}

/// `aio_suspend64(3)`: `aio_suspend`.
#[no_mangle]
pub unsafe extern "C" fn aio_suspend64(list: *const *const Aiocb, nent: c_int, timeout: *const timespec) -> c_int {
    // SAFETY: forwarded.
    unsafe { suspend_impl(list, nent, timeout) }
}

fn fd_is_open(fd: c_int) -> bool {
    // SAFETY: plain system call.
    unsafe { libc::fcntl(fd, libc::F_GETFL) >= 0 }
}

unsafe fn cancel_impl(fd: c_int, aiocbp: *mut Aiocb) -> c_int {
    // SAFETY: a non-null aiocbp is the caller's aiocb.
    if !aiocbp.is_null() && unsafe { (*aiocbp).aio_fildes } != fd {
        // POSIX leaves this unspecified; glibc says EINVAL (EBADF first for a bad fd).
        set_errno(if fd_is_open(fd) { libc::EINVAL } else { libc::EBADF });
        return -1;
    }
    let p = match process::existing() {
        Some(p) => p,
        None => {
            // Nothing was ever submitted in this process: nothing to cancel.
            if !fd_is_open(fd) {
                set_errno(libc::EBADF);
                return -1;
            }
            return AIO_ALLDONE;
        }
    };
    let mut args = kaio_cancel_match_args { fd, ..Default::default() };
    if aiocbp.is_null() {
        args.flags = KAIO_CANCEL_FD | KAIO_CANCEL_ALL;
    } else {
        // The request's aio_data is its aiocb's address; FD also makes the kernel check fd.
        args.flags = KAIO_CANCEL_DATA | KAIO_CANCEL_FD | KAIO_CANCEL_ALL;
        args.key = aiocbp as u64;
    }
    let r = p.cancel_match(&mut args);
    if matches!(r, Ok(_) | Err(libc::ENOENT)) {
        // The cancelled requests' events are in the ring, and so are those of requests that
        // were done (ENOENT: their events are posted): make their status final and their
        // notifications delivered before returning, as glibc's are once it says so.
        p.reap_cancelled();
    }
    match r {
        Ok(_) if args.nr_running > 0 => AIO_NOTCANCELED,
        Ok(_) => AIO_CANCELED,
        Err(libc::EALREADY) => AIO_NOTCANCELED,
        Err(libc::ENOENT) => AIO_ALLDONE,
        Err(e) => {
            set_errno(e);
            -1
        }
    }
}

/// `aio_cancel(3)`: one `KAIO_IOC_CANCEL_MATCH` (by aiocb, or every request on `fd`).
/// `AIO_CANCELED` when every matching request was cancelled (each completes with
/// `ECANCELED`, -1, and its notification, before this returns), `AIO_NOTCANCELED` when one
/// is running and cannot be stopped, `AIO_ALLDONE` when none was in flight; -1 `EBADF`.
#[no_mangle]
pub unsafe extern "C" fn aio_cancel(fd: c_int, aiocbp: *mut Aiocb) -> c_int {
    // SAFETY: forwarded.
    unsafe { cancel_impl(fd, aiocbp) }
}

/// `aio_cancel64(3)`: `aio_cancel`.
#[no_mangle]
pub unsafe extern "C" fn aio_cancel64(fd: c_int, aiocbp: *mut Aiocb) -> c_int {
    // SAFETY: forwarded.
    unsafe { cancel_impl(fd, aiocbp) }
}

unsafe fn lio_impl(mode: c_int, list: *const *mut Aiocb, nent: c_int, sig: *const SigEvent) -> c_int {
    if (mode != LIO_WAIT && mode != LIO_NOWAIT) || nent < 0 {
        set_errno(libc::EINVAL);
        return -1;
    }
    let p = match process() {
        Ok(p) => p,
        Err(e) => {
            set_errno(e);
            return -1;
        }
    };
    // SAFETY: the caller's array of `nent` entries (none: possibly a null pointer).
    let Some(list) = (unsafe { caller_list(list, nent) }) else {
        set_errno(libc::EINVAL);
        return -1;
    };
    let notify = if mode == LIO_NOWAIT && !sig.is_null() {
        // SAFETY: the caller's sigevent, copied now (the caller may reuse it).
        Notify(unsafe { *sig })
    } else {
        Notify::none()
    };
    // Every request of a list signals the reaper (see `prepare`), and so does the list's own
    // notification.
    // SAFETY: the caller's aiocbs.
    let any_request = list.iter().any(|&cb| !cb.is_null() && unsafe { (*cb).aio_lio_opcode != LIO_NOP });
    if any_request || notifies(&notify.0) {
        if let Err(e) = p.ensure_reaper() {
            set_errno(e);
            return -1;
        }
    }
    // Every request counts, plus one for this call until all are submitted.
    let group = Arc::new(ListGroup {
        remaining: AtomicU32::new(1),
        failed: AtomicBool::new(false),
        notify,
    });
    let mut refused_with: Option<c_int> = None;
    let mut refuse = |cb: *mut Aiocb, e: c_int| {
        // SAFETY: the caller's aiocb.
        unsafe { fail_aiocb(cb, e) };
        if refused_with != Some(libc::EAGAIN) {
            refused_with = Some(e);
        }
    };
    let mut reqs: Vec<*mut Req> = Vec::with_capacity(list.len());
    for &cb in list {
        if cb.is_null() {
            continue;
        }
        // SAFETY: the caller's aiocb.
        let (op, prio) = unsafe { ((*cb).aio_lio_opcode, (*cb).aio_reqprio) };
        let opcode = match op {
            LIO_NOP => continue,
            LIO_READ => IOCB_CMD_PREAD,
            LIO_WRITE => IOCB_CMD_PWRITE,
            _ => {
                refuse(cb, libc::EINVAL);
                continue;
            }
        };
        if !(0..=AIO_PRIO_DELTA_MAX).contains(&prio) {
            refuse(cb, libc::EINVAL);
            continue;
        }
        // SAFETY: the caller's aiocb.
        match unsafe { prepare(p, cb, opcode, Some(group.clone())) } {
            Ok(req) => {
                group.remaining.fetch_add(1, Ordering::AcqRel);
                reqs.push(req);
            }
            Err(e) => refuse(cb, e),
        }
    }
    // Submit in as few calls as the kernel allows; one refused request (its error is the
    // call's) is taken out and the rest go on.
    let iocbs: Vec<*mut Iocb> = reqs.iter().map(|&r| r as *mut Iocb).collect();
    let mut i = 0;
    while i < iocbs.len() {
        match p.submit(&iocbs[i..]) {
            Ok(n) if n > 0 => i += n,
            r => {
                let e = match r {
                    Err(e) => e,
                    Ok(_) => libc::EAGAIN,
                };
                // SAFETY: request `i` was not submitted: still ours.
                let cb = unsafe { (*reqs[i]).aiocb };
                // SAFETY: as above.
                unsafe { p.discard(reqs[i]) };
                refuse(cb, e);
                group.remaining.fetch_sub(1, Ordering::AcqRel);
                i += 1;
            }
        }
    }
    // Drop this call's count: with nothing left in flight the list completes now (for
    // LIO_NOWAIT with no request at all, the notification is sent at once, as glibc does).
    group.put();
    let refused = refused_with;
    if mode == LIO_WAIT {
        if let Err(e) = p.wait_until(|| group.remaining.load(Ordering::Acquire) == 0, None) {
            set_errno(e);
            return -1;
        }
        if let Some(e) = refused {
            set_errno(if e == libc::EAGAIN { libc::EAGAIN } else { libc::EIO });
            return -1;
        }
        if group.failed.load(Ordering::Relaxed) {
            set_errno(libc::EIO);
            return -1;
        }
        return 0;
    }
    match refused {
        // POSIX: EAGAIN when resources were short, else EIO ("one or more of the individual
        // I/O operations failed"); glibc passes on the request's own errno (e.g. EINVAL).
        Some(libc::EAGAIN) => {
            set_errno(libc::EAGAIN);
            -1
        }
        Some(_) => {
            set_errno(libc::EIO);
            -1
        }
        None => 0,
    }
}

/// `lio_listio(3)`: the list's reads and writes (`LIO_NOP` and null entries skipped) in as
/// few submits as possible; each request notifies as its `aio_sigevent` says, and with
/// `LIO_NOWAIT` `sig` is delivered once all have completed. `LIO_WAIT` returns when all have
/// completed: 0, or -1 `EIO` if one failed, `EINTR` if a signal handler ran first.
#[no_mangle]
pub unsafe extern "C" fn lio_listio(mode: c_int, list: *const *mut Aiocb, nent: c_int, sig: *const SigEvent) -> c_int {
    // SAFETY: forwarded.
    unsafe { lio_impl(mode, list, nent, sig) }
}

/// `lio_listio64(3)`: `lio_listio`.
#[no_mangle]
pub unsafe extern "C" fn lio_listio64(mode: c_int, list: *const *mut Aiocb, nent: c_int, sig: *const SigEvent) -> c_int {
    // SAFETY: forwarded.
    unsafe { lio_impl(mode, list, nent, sig) }
}

/// glibc's `aio_init(3)` (thread-pool tuning): nothing to tune here; accepted and ignored.
#[no_mangle]
pub extern "C" fn aio_init(_init: *const AioInit) {}

/// Not POSIX (declare it yourself, weak if the program may run on glibc): 1 when this
/// process's context has `KAIO_SETUP_POLLED_RW` (reads and writes on pipes and sockets wait
/// without blocking and can be cancelled), 0 on a module without it, -1 with `errno` when
/// no context can be set up (`ENOSYS`: no `/dev/kaio`).
#[no_mangle]
pub extern "C" fn kaio_posix_polled_rw() -> c_int {
    match process() {
        Ok(p) => c_int::from(p.polled_rw),
        Err(e) => {
            set_errno(e);
            -1
        }
    }
}
