//! Version 2 of the ABI (ABI.md "Version 2"), the raw side of its cases: `KAIO_IOC_PGETEVENTS`
//! next to the native io_pgetevents(2), `KAIO_IOC_CANCEL_MATCH`, per-thread signal masks as the
//! kernel sees them (8-byte sets), a PREAD that blocks inside io_submit (a running request that
//! cannot be cancelled), and scans of the mapped ring.

#![allow(dead_code)]

use crate::aio::{Aio, Errno, Ret};
use crate::util::*;
use kaio::uapi::*;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering::SeqCst};
use std::time::{Duration, Instant};

pub const ENOENT: Errno = Errno(libc::ENOENT);
pub const EALREADY: Errno = Errno(libc::EALREADY);
pub const ETIME: Errno = Errno(libc::ETIME);

/// `__NR_io_pgetevents` on x86_64.
pub const SYS_IO_PGETEVENTS: libc::c_long = 333;

/// `struct __aio_sigset`, io_pgetevents' sixth argument.
#[repr(C)]
pub struct AioSigset {
    pub sigmask: u64,
    pub sigsetsize: u64,
}

/// The signal argument of a pgetevents call, for either backend.
#[derive(Clone, Copy, Debug)]
pub enum Sig {
    /// No mask: native `usig` NULL; kaio `sigmask` 0, `sigsetsize` 0.
    None,
    /// Native: `usig` points at this unreadable address. kaio: the whole argument block is
    /// there (the ioctl's counterpart of an unreadable `usig`).
    BadUsig(u64),
    /// {sigmask pointer, sigsetsize}.
    Mask(u64, u64),
}

fn ret(r: libc::c_long) -> Ret {
    if r < 0 {
        Err(Errno(kaio::raw::errno()))
    } else {
        Ok(r)
    }
}

/// io_pgetevents(ctx, min, nr, events, timeout, usig) on `b`, raw pointers throughout.
pub fn pgetevents(b: &dyn Aio, ctx: u64, min: i64, nr: i64, events: u64, timeout: u64, sig: Sig) -> Ret {
    match b.fd() {
        None => {
            let set;
            let usig = match sig {
                Sig::None => 0,
                Sig::BadUsig(a) => a,
                Sig::Mask(m, s) => {
                    set = AioSigset { sigmask: m, sigsetsize: s };
                    &set as *const AioSigset as u64
                }
            };
            // SAFETY: raw system call; the kernel validates every pointer.
            ret(unsafe { libc::syscall(SYS_IO_PGETEVENTS, ctx, min, nr, events, timeout, usig) })
        }
        Some(fd) => {
            let (sigmask, sigsetsize) = match sig {
                Sig::None => (0, 0),
                Sig::Mask(m, s) => (m, s),
                // SAFETY: the kernel finds nothing readable there and fails the call.
                Sig::BadUsig(a) => return unsafe { kaio::raw::ioctl(fd, KAIO_IOC_PGETEVENTS, a as *const kaio_pgetevents_args) }.map_err(Errno),
            };
            let a = kaio_pgetevents_args { ctx_id: ctx, min_nr: min, nr, events, timeout, sigmask, sigsetsize };
            // SAFETY: the kernel reads the block, the timeout and the mask, writes up to nr events.
            unsafe { kaio::raw::ioctl(fd, KAIO_IOC_PGETEVENTS, &a) }.map_err(Errno)
        }
    }
}

/// The value a test puts in `nr_running` before a call, to see whether it was written back.
pub const NR_SENTINEL: u32 = 0xA5A5_A5A5;

/// A `kaio_cancel_match_args` with `flags`, everything else 0 but `nr_running` (the sentinel).
pub fn cm(ctx: u64, flags: u32) -> kaio_cancel_match_args {
    kaio_cancel_match_args { ctx_id: ctx, flags, nr_running: NR_SENTINEL, ..Default::default() }
}

/// `KAIO_IOC_CANCEL_MATCH` with the block `a` (nr_running comes back in it).
pub fn cancel_match(fd: RawFd, a: &mut kaio_cancel_match_args) -> Ret {
    // SAFETY: the kernel reads and writes the block, reads the timeout, writes the result.
    unsafe { kaio::raw::ioctl(fd, KAIO_IOC_CANCEL_MATCH, a as *mut kaio_cancel_match_args) }.map_err(Errno)
}

/// `KAIO_IOC_CANCEL_MATCH` with the argument block at any address.
pub fn cancel_match_at(fd: RawFd, at: u64) -> Ret {
    // SAFETY: the caller chose the address; the kernel validates it.
    unsafe { kaio::raw::ioctl(fd, KAIO_IOC_CANCEL_MATCH, at as *const kaio_cancel_match_args) }.map_err(Errno)
}

/// Calls `KAIO_IOC_CANCEL_MATCH` with `a` and checks that every input field came back as it
/// went in; returns the result and `nr_running`.
pub fn cmatch(fd: RawFd, a: kaio_cancel_match_args) -> Result<(Ret, u32), String> {
    let mut b = a;
    let r = cancel_match(fd, &mut b);
    let back = kaio_cancel_match_args { nr_running: a.nr_running, ..b };
    if back != a {
        return Err(format!("CANCEL_MATCH changed input fields: sent {a:?}, got back {b:?} (result {r:?})"));
    }
    Ok((r, b.nr_running))
}

// ---------------------------------------------------------------------------------------------
// Signal masks, as 8-byte kernel sets of the calling thread.

pub fn sigbit(sig: i32) -> u64 {
    1u64 << (sig - 1)
}

/// SIGKILL and SIGSTOP: never blocked, whatever a mask says.
pub fn unblockable() -> u64 {
    sigbit(libc::SIGKILL) | sigbit(libc::SIGSTOP)
}

pub fn thread_mask() -> u64 {
    let mut old = 0u64;
    // SAFETY: reads the calling thread's mask into an 8-byte set.
    unsafe { libc::syscall(libc::SYS_rt_sigprocmask, libc::SIG_BLOCK, std::ptr::null::<u64>(), &mut old as *mut u64, 8) };
    old
}

/// Replaces the calling thread's mask; returns the old one.
pub fn set_thread_mask(m: u64) -> u64 {
    let mut old = 0u64;
    // SAFETY: sets the calling thread's mask from an 8-byte set.
    unsafe { libc::syscall(libc::SYS_rt_sigprocmask, libc::SIG_SETMASK, &m as *const u64, &mut old as *mut u64, 8) };
    old
}

/// Signals pending for the calling thread (its own and the process's).
pub fn pending_mask() -> u64 {
    let mut set = 0u64;
    // SAFETY: writes an 8-byte set.
    unsafe { libc::syscall(libc::SYS_rt_sigpending, &mut set as *mut u64, 8) };
    set
}

pub fn gettid() -> i32 {
    // SAFETY: plain system call.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

/// Sends `sig` to thread `tid` of this process.
pub fn tgkill(tid: i32, sig: i32) {
    // SAFETY: signals a thread of our own process.
    unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, sig) };
}

/// Takes a pending, blocked `sig` of the calling thread without running its handler; whether
/// one was pending.
pub fn consume_signal(sig: i32) -> bool {
    // SAFETY: a valid sigset and a zero timeout.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        let t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        libc::sigtimedwait(&set, std::ptr::null_mut(), &t) == sig
    }
}

pub fn now_ns() -> i64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: writes a timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    t.tv_sec * 1_000_000_000 + t.tv_nsec
}

// ---------------------------------------------------------------------------------------------
// A running request: PREAD of one byte from an empty blocking pipe, which blocks in io_submit.

/// A pipe whose read end blocks (no O_NONBLOCK), both ends closed on drop.
pub struct BlockingPipe {
    pub r: RawFd,
    pub w: RawFd,
}

impl BlockingPipe {
    pub fn new() -> Result<BlockingPipe, String> {
        let mut fds = [0; 2];
        // SAFETY: fds is a valid array of two ints.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
            return Err(format!("pipe2: errno {}", kaio::raw::errno()));
        }
        Ok(BlockingPipe { r: fds[0], w: fds[1] })
    }

    pub fn put(&self) {
        // SAFETY: writes one byte from a valid buffer.
        unsafe { libc::write(self.w, b"r".as_ptr().cast(), 1) };
    }
}

impl Drop for BlockingPipe {
    fn drop(&mut self) {
        // SAFETY: both fds are owned by this value.
        unsafe {
            libc::close(self.r);
            libc::close(self.w);
        }
    }
}

/// The iocb of a one-byte PREAD into `buf`.
pub fn pread_iocb(fd: RawFd, buf: &mut [u8; 1], data: u64) -> Iocb {
    Iocb { aio_buf: buf.as_mut_ptr() as u64, aio_nbytes: 1, ..iocb(IOCB_CMD_PREAD, fd, data) }
}

/// Waits until the request with iocb `cb` is in flight in `ctx` and matches as running:
/// CANCEL_MATCH by IOCB says EALREADY (a PREAD on an empty blocking pipe, submitted by another
/// thread that is now blocked in io_submit). Other answers than ENOENT fail at once.
pub fn wait_running(fd: RawFd, ctx: u64, cb: *const Iocb) -> Result<(), String> {
    let deadline = Instant::now() + PROMPT;
    loop {
        let (r, nr) = cmatch(fd, kaio_cancel_match_args { key: cb as u64, ..cm(ctx, KAIO_CANCEL_IOCB) })?;
        match r {
            Err(e) if e == EALREADY && nr == 1 => return Ok(()),
            Err(e) if e == ENOENT && Instant::now() < deadline => std::thread::sleep(ms(2)),
            _ => return Err(format!("waiting for the blocked PREAD to be in flight: CANCEL_MATCH(IOCB) = {r:?}, nr_running {nr:#x} (expected EALREADY, nr_running 1)")),
        }
    }
}

/// A thread id, published by a thread for others to signal it.
pub struct Tid(AtomicI32);

impl Tid {
    pub const fn new() -> Tid {
        Tid(AtomicI32::new(0))
    }
    pub fn publish(&self) {
        self.0.store(gettid(), SeqCst);
    }
    pub fn get(&self) -> i32 {
        let deadline = Instant::now() + PROMPT;
        loop {
            let t = self.0.load(SeqCst);
            if t != 0 || Instant::now() > deadline {
                return t;
            }
            std::thread::yield_now();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The ring

/// The events between the ring's head and tail, read from user space without consuming them.
pub fn ring_unread(ctx: u64) -> Vec<IoEvent> {
    let h = ring_hdr(ctx);
    std::sync::atomic::fence(SeqCst);
    let mut out = Vec::new();
    if h.nr == 0 {
        return out;
    }
    let mut i = h.head % h.nr;
    while i != h.tail % h.nr {
        out.push(ring_event(ctx, i));
        i = (i + 1) % h.nr;
    }
    out
}

/// Reaps every event the ring holds now (zero timeout), sorted by data.
pub fn reap_now(c: &Ctx) -> Result<Vec<IoEvent>, String> {
    let mut all = Vec::new();
    loop {
        let ev = c.getev(0, 256, Some(ts(0, 0))).map_err(|e| format!("getevents {{0,0}}: {e:?}"))?;
        if ev.is_empty() {
            break;
        }
        all.extend(ev);
    }
    all.sort_by_key(|e| e.data);
    Ok(all)
}

/// Pins the calling thread to the CPU it runs on; the old affinity comes back on drop.
pub struct Pin(libc::cpu_set_t);

impl Pin {
    pub fn here() -> Pin {
        // SAFETY: plain affinity calls on the calling thread with valid sets.
        unsafe {
            let mut old: libc::cpu_set_t = std::mem::zeroed();
            libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut old);
            let cpu = libc::sched_getcpu().max(0) as usize;
            let mut one: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut one);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &one);
            Pin(old)
        }
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        // SAFETY: restores the saved affinity.
        unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &self.0) };
    }
}

pub fn dur_ts(d: Duration) -> KernelTimespec {
    ts(d.as_secs() as i64, d.subsec_nanos() as i64)
}
