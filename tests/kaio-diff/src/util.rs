//! Small helpers: a seeded PRNG, pipes, eventfds, mappings, the mapped ring, threads.

#![allow(dead_code)]

use crate::aio::{errno_name, Aio, Ret};
use kaio::uapi::*;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub fn errno() -> i32 {
    kaio::raw::errno()
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn ts(d: Duration) -> KernelTimespec {
    KernelTimespec { tv_sec: d.as_secs() as i64, tv_nsec: d.subsec_nanos() as i64 }
}

/// splitmix64: small, seedable, good enough for test generation.
#[derive(Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    /// True with probability `pct` percent.
    pub fn pct(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
    /// An index chosen with the given weights.
    pub fn weighted(&mut self, w: &[u32]) -> usize {
        let total: u64 = w.iter().map(|&x| x as u64).sum();
        let mut r = self.below(total);
        for (i, &x) in w.iter().enumerate() {
            if r < x as u64 {
                return i;
            }
            r -= x as u64;
        }
        w.len() - 1
    }
}

pub struct Pipe {
    pub r: RawFd,
    pub w: RawFd,
}

impl Pipe {
    pub fn new() -> Pipe {
        let mut fds = [0; 2];
        // SAFETY: a valid array of two ints.
        let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) };
        assert!(r == 0, "pipe2: {}", errno_name(errno()));
        Pipe { r: fds[0], w: fds[1] }
    }
    pub fn put(&self) -> isize {
        // SAFETY: one byte from a valid buffer.
        unsafe { libc::write(self.w, b"x".as_ptr().cast(), 1) }
    }
    /// Reads everything there is (non-blocking).
    pub fn drain(&self) -> usize {
        drain_fd(self.r)
    }
    pub fn close_w(&mut self) {
        close(self.w);
        self.w = -1;
    }
    pub fn close_r(&mut self) {
        close(self.r);
        self.r = -1;
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        close(self.r);
        close(self.w);
    }
}

pub fn drain_fd(fd: RawFd) -> usize {
    let mut total = 0;
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: reads into a valid buffer.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return total;
        }
        total += n as usize;
    }
}

pub fn close(fd: RawFd) {
    if fd >= 0 {
        // SAFETY: closes an fd the caller owns.
        unsafe { libc::close(fd) };
    }
}

pub struct EventFd(pub RawFd);

impl EventFd {
    pub fn new() -> EventFd {
        // SAFETY: plain system call.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        assert!(fd >= 0, "eventfd: {}", errno_name(errno()));
        EventFd(fd)
    }
    /// Reads and resets the counter (0 if it is 0).
    pub fn take(&self) -> u64 {
        efd_take(self.0)
    }
    pub fn add(&self, v: u64) -> isize {
        // SAFETY: writes 8 bytes from a valid u64.
        unsafe { libc::write(self.0, (&v as *const u64).cast(), 8) }
    }
    /// Accumulates the counter until it reaches `n` or `within` passes.
    pub fn wait_for(&self, n: u64, within: Duration) -> u64 {
        let deadline = Instant::now() + within;
        let mut total = self.take();
        while total < n && Instant::now() < deadline {
            std::thread::sleep(ms(1));
            total += self.take();
        }
        total
    }
}

impl Drop for EventFd {
    fn drop(&mut self) {
        close(self.0);
    }
}

pub fn efd_take(fd: RawFd) -> u64 {
    let mut v = 0u64;
    // SAFETY: reads 8 bytes into v.
    let r = unsafe { libc::read(fd, (&mut v as *mut u64).cast(), 8) };
    if r == 8 {
        v
    } else {
        0
    }
}

/// An anonymous private mapping, unmapped on drop.
pub struct Map {
    pub addr: u64,
    pub len: usize,
}

impl Map {
    pub fn new(len: usize) -> Map {
        // SAFETY: a fresh anonymous mapping.
        let p = unsafe {
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0)
        };
        assert!(p != libc::MAP_FAILED, "mmap: {}", errno_name(errno()));
        Map { addr: p as u64, len }
    }
    pub fn protect(&self, off: usize, len: usize, prot: i32) {
        // SAFETY: changes the protection of part of our own mapping.
        let r = unsafe { libc::mprotect((self.addr as usize + off) as *mut libc::c_void, len, prot) };
        assert!(r == 0, "mprotect: {}", errno_name(errno()));
    }
    pub fn ptr<T>(&self, off: usize) -> *mut T {
        (self.addr as usize + off) as *mut T
    }
    pub fn bytes(&self, off: usize, len: usize) -> &[u8] {
        // SAFETY: inside the mapping, readable (callers only read readable parts).
        unsafe { std::slice::from_raw_parts(self.ptr::<u8>(off), len) }
    }
    pub fn bytes_mut(&self, off: usize, len: usize) -> &mut [u8] {
        // SAFETY: inside the mapping, writable; single-threaded use.
        unsafe { std::slice::from_raw_parts_mut(self.ptr::<u8>(off), len) }
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: unmaps our own mapping.
        unsafe { libc::munmap(self.addr as *mut libc::c_void, self.len) };
    }
}

// ---------------------------------------------------------------------------------------------
// The mapped ring (the ctx id is its address).

pub fn ring_hdr(ctx: u64) -> AioRing {
    // SAFETY: the caller guarantees the ring is mapped at ctx.
    unsafe { std::ptr::read_volatile(ctx as *const AioRing) }
}

pub fn ring_event(ctx: u64, i: u32) -> IoEvent {
    // SAFETY: the caller guarantees the ring (with slot i) is mapped at ctx.
    unsafe { std::ptr::read_volatile((ctx + 32 + 32 * i as u64) as *const IoEvent) }
}

/// The unread events of the ring, without consuming them.
pub fn ring_peek(ctx: u64) -> Vec<IoEvent> {
    let h = ring_hdr(ctx);
    std::sync::atomic::fence(Ordering::SeqCst);
    if h.nr == 0 {
        return Vec::new();
    }
    let (mut head, tail) = (h.head % h.nr, h.tail % h.nr);
    let mut out = Vec::new();
    while head != tail {
        out.push(ring_event(ctx, head));
        head = (head + 1) % h.nr;
    }
    out
}

/// Consumes `n` events from user space (reads them, then stores head).
pub fn ring_reap(ctx: u64, n: usize) -> Vec<IoEvent> {
    let h = ring_hdr(ctx);
    let mut evs = ring_peek(ctx);
    evs.truncate(n);
    let head = (h.head % h.nr + evs.len() as u32) % h.nr;
    std::sync::atomic::fence(Ordering::SeqCst);
    // SAFETY: the ring header is mapped at ctx; head is at offset 8.
    unsafe { std::ptr::write_volatile((ctx + 8) as *mut u32, head) };
    evs
}

// ---------------------------------------------------------------------------------------------
// Contexts used by the race tests.

/// A context on a backend, destroyed (bounded) on drop.
pub struct Ctx<'a> {
    pub b: &'a dyn Aio,
    pub id: u64,
    pub live: bool,
}

impl<'a> Ctx<'a> {
    pub fn new(b: &'a dyn Aio, nr: u32) -> Result<Ctx<'a>, String> {
        let mut id = 0u64;
        match b.setup(nr, &mut id) {
            Ok(0) if id != 0 => Ok(Ctx { b, id, live: true }),
            r => Err(format!("{}: io_setup({nr}) = {:?}", b.name(), r.map_err(errno_name))),
        }
    }
    pub fn submit(&self, cbs: &[*mut Iocb]) -> Ret {
        self.b.submit(self.id, cbs.len() as i64, cbs.as_ptr())
    }
    pub fn submit1(&self, cb: *mut Iocb) -> Ret {
        let p = [cb];
        self.b.submit(self.id, 1, p.as_ptr())
    }
    pub fn cancel(&self, cb: *mut Iocb) -> Ret {
        self.b.cancel(self.id, cb, std::ptr::null_mut())
    }
    /// io_getevents(min, nr, timeout).
    pub fn getev(&self, min: i64, nr: usize, timeout: Option<Duration>) -> Result<Vec<IoEvent>, i32> {
        let mut ev = vec![IoEvent::default(); nr.max(1)];
        let t = timeout.map(ts);
        let tp = t.as_ref().map_or(std::ptr::null(), |t| t as *const KernelTimespec);
        let n = self.b.getevents(self.id, min, nr as i64, ev.as_mut_ptr(), tp)?;
        ev.truncate(n as usize);
        Ok(ev)
    }
    /// Exactly `n` events within `within` (fewer is an error).
    pub fn wait_events(&self, n: usize, within: Duration) -> Result<Vec<IoEvent>, String> {
        let deadline = Instant::now() + within;
        let mut all = Vec::new();
        while all.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("{}: expected {n} events within {within:?}, got {}: {all:?}", self.b.name(), all.len()));
            }
            let want = n - all.len();
            match self.getev(want as i64, want, Some(left)) {
                Ok(ev) => all.extend(ev),
                Err(libc::EINTR) => {}
                Err(e) => return Err(format!("{}: io_getevents after {} of {n}: {}", self.b.name(), all.len(), errno_name(e))),
            }
        }
        Ok(all)
    }
    /// Events that arrive within `wait` (normally none).
    pub fn extra_events(&self, wait: Duration) -> Vec<IoEvent> {
        self.getev(1, 64, Some(wait)).unwrap_or_default()
    }
    pub fn destroy(&mut self) -> Ret {
        self.live = false;
        self.b.destroy(self.id)
    }
}

impl Drop for Ctx<'_> {
    fn drop(&mut self) {
        if self.live {
            let _ = self.b.destroy(self.id);
        }
    }
}

pub fn poll_iocb(fd: RawFd, events: u64, data: u64) -> Iocb {
    Iocb { aio_data: data, aio_lio_opcode: IOCB_CMD_POLL, aio_fildes: fd as u32, aio_buf: events, ..Default::default() }
}

pub fn with_resfd(mut cb: Iocb, efd: RawFd) -> Iocb {
    cb.aio_flags |= IOCB_FLAG_RESFD;
    cb.aio_resfd = efd as u32;
    cb
}

// ---------------------------------------------------------------------------------------------
// Threads and signals

pub fn block_all_signals() {
    // SAFETY: changes the calling thread's mask only.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// A spin barrier (std's Barrier sleeps, which spreads racers apart).
pub struct Spin {
    n: usize,
    count: AtomicUsize,
    gen: AtomicUsize,
}

impl Spin {
    pub fn new(n: usize) -> Spin {
        Spin { n, count: AtomicUsize::new(0), gen: AtomicUsize::new(0) }
    }
    pub fn wait(&self) {
        let g = self.gen.load(Ordering::SeqCst);
        if self.count.fetch_add(1, Ordering::SeqCst) + 1 == self.n {
            self.count.store(0, Ordering::SeqCst);
            self.gen.fetch_add(1, Ordering::SeqCst);
        } else {
            let mut spins = 0u32;
            while self.gen.load(Ordering::SeqCst) == g {
                spins += 1;
                if spins > 20_000 {
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
            }
        }
    }
}

pub fn spin_for(n: u64) {
    for _ in 0..n {
        std::hint::spin_loop();
    }
}

/// poll(2) readiness of `fd` for `events` now.
pub fn ready_now(fd: RawFd, events: i16) -> i16 {
    let mut p = libc::pollfd { fd, events, revents: 0 };
    // SAFETY: one valid pollfd, zero timeout.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    if n > 0 {
        p.revents
    } else {
        0
    }
}
