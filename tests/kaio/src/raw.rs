//! The raw calls: one ioctl each, returning what the mirrored system call returns
//! (`Err(errno)` where the system call would set `errno`). Version 2 of the ABI adds
//! [`setup_with_flags`], [`pgetevents`] and [`cancel_match`].

use crate::uapi::*;
use std::os::fd::RawFd;

/// Path of the device.
pub const DEVICE: &str = "/dev/kaio";

/// The calling thread's `errno`.
pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `ioctl(fd, cmd, arg)` with any argument block.
///
/// # Safety
///
/// `arg` is passed to the kernel as is; whatever user memory it points at (and the pointers
/// inside it) the kernel may read or write as the command defines.
pub unsafe fn ioctl<T>(fd: RawFd, cmd: u32, arg: *const T) -> Result<i64, i32> {
    // SAFETY: the caller vouches for `arg`.
    let r = unsafe { libc::ioctl(fd, cmd as libc::c_ulong, arg) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(r as i64)
    }
}

/// Opens `/dev/kaio` (a new AIO domain).
pub fn open() -> Result<RawFd, i32> {
    // SAFETY: the path is a NUL-terminated literal.
    let fd = unsafe { libc::open(c"/dev/kaio".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        Err(errno())
    } else {
        Ok(fd)
    }
}

/// `io_setup(nr_events, ctxp)` on domain `fd`.
pub fn setup(fd: RawFd, nr_events: u32, ctxp: *mut u64) -> Result<i64, i32> {
    setup_with_flags(fd, nr_events, 0, ctxp)
}

/// `io_setup(nr_events, ctxp)` on domain `fd` with `kaio_setup_args.flags` (version 2: 0 or
/// `KAIO_SETUP_POLLED_RW`; other bits are `EINVAL`).
pub fn setup_with_flags(fd: RawFd, nr_events: u32, flags: u32, ctxp: *mut u64) -> Result<i64, i32> {
    let a = kaio_setup_args { nr_events, flags, ctxp: ctxp as u64 };
    // SAFETY: the kernel writes through `ctxp`, which the caller chose.
    unsafe { ioctl(fd, KAIO_IOC_SETUP, &a) }
}

/// `io_destroy(ctx_id)` on domain `fd`.
pub fn destroy(fd: RawFd, ctx_id: u64) -> Result<i64, i32> {
    let a = kaio_destroy_args { ctx_id };
    // SAFETY: only the argument block is accessed.
    unsafe { ioctl(fd, KAIO_IOC_DESTROY, &a) }
}

/// `io_submit(ctx_id, nr, iocbpp)` on domain `fd`.
pub fn submit(fd: RawFd, ctx_id: u64, nr: i64, iocbpp: *const *mut Iocb) -> Result<i64, i32> {
    let a = kaio_submit_args { ctx_id, nr, iocbpp: iocbpp as u64 };
    // SAFETY: the kernel reads the array and the iocbs, and writes `aio_key`, as io_submit.
    unsafe { ioctl(fd, KAIO_IOC_SUBMIT, &a) }
}

/// `io_getevents(ctx_id, min_nr, nr, events, timeout)` on domain `fd`.
pub fn getevents(
    fd: RawFd,
    ctx_id: u64,
    min_nr: i64,
    nr: i64,
    events: *mut IoEvent,
    timeout: *const KernelTimespec,
) -> Result<i64, i32> {
    let a = kaio_getevents_args {
        ctx_id,
        min_nr,
        nr,
        events: events as u64,
        timeout: timeout as u64,
    };
    // SAFETY: the kernel writes up to `nr` events and reads the timeout, as io_getevents.
    unsafe { ioctl(fd, KAIO_IOC_GETEVENTS, &a) }
}

/// `io_cancel(ctx_id, iocb, result)` on domain `fd`.
pub fn cancel(fd: RawFd, ctx_id: u64, iocb: *mut Iocb, result: *mut IoEvent) -> Result<i64, i32> {
    let a = kaio_cancel_args { ctx_id, iocb: iocb as u64, result: result as u64 };
    // SAFETY: the kernel reads the iocb's key, as io_cancel.
    unsafe { ioctl(fd, KAIO_IOC_CANCEL, &a) }
}

/// Size of the kernel's `sigset_t` on x86_64: what `sigsetsize` must be with a mask.
pub const SIGSET_SIZE: u64 = 8;

/// The kernel's `sigset_t` (8 bytes on x86_64) with `signals` set: bit `sig - 1` for signal
/// `sig`. Signals outside 1..=64 are ignored.
pub fn sigmask(signals: &[libc::c_int]) -> u64 {
    signals.iter().filter(|&&s| (1..=64).contains(&s)).fold(0, |m, &s| m | 1u64 << (s - 1))
}

/// `io_pgetevents(ctx_id, min_nr, nr, events, timeout, {sigmask, sigsetsize})` on domain `fd`
/// (version 2, `KAIO_IOC_PGETEVENTS`). `sigmask` points at the kernel's `sigset_t` (the first
/// [`SIGSET_SIZE`] bytes of a `libc::sigset_t` are that), null for none; `sigsetsize` must be
/// [`SIGSET_SIZE`] with a mask (`EINVAL`), and is conventionally 0 without one.
#[allow(clippy::too_many_arguments)] // the system call's six, the mask as its two halves
pub fn pgetevents(
    fd: RawFd,
    ctx_id: u64,
    min_nr: i64,
    nr: i64,
    events: *mut IoEvent,
    timeout: *const KernelTimespec,
    sigmask: *const u64,
    sigsetsize: u64,
) -> Result<i64, i32> {
    let a = kaio_pgetevents_args {
        ctx_id,
        min_nr,
        nr,
        events: events as u64,
        timeout: timeout as u64,
        sigmask: sigmask as u64,
        sigsetsize,
    };
    // SAFETY: the kernel writes up to `nr` events, reads the timeout and the mask, and
    // installs the mask only for the wait, as io_pgetevents.
    unsafe { ioctl(fd, KAIO_IOC_PGETEVENTS, &a) }
}

/// `KAIO_IOC_CANCEL_MATCH` on domain `fd` with the whole block `args` (its `ctx_id`
/// included). The kernel writes `args.nr_running` back on every return after the context
/// lookup, errors included; returns the number of requests cancelled (0 for a successful
/// `KAIO_CANCEL_RESULT`).
pub fn cancel_match(fd: RawFd, args: &mut kaio_cancel_match_args) -> Result<i64, i32> {
    // SAFETY: the kernel reads and writes the block, reads `args.timeout` and writes an event
    // to `args.result`, addresses the caller chose.
    unsafe { ioctl(fd, KAIO_IOC_CANCEL_MATCH, args as *mut kaio_cancel_match_args) }
}
