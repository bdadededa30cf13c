//! Helpers shared by the cases: contexts, iocbs, the request kinds each backend uses, pipes,
//! eventfds, the mapped ring, /proc/self/maps, module parameters, child processes, threads that
//! cannot hang the suite, signals.

#![allow(dead_code)]

use crate::aio::{Aio, Errno, Ret};
use kaio::uapi::*;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

/// An open `/dev/kaio` (one domain), closed on drop.
pub struct Dev(pub RawFd);

impl Dev {
    pub fn open() -> Result<Dev, String> {
        kaio::raw::open().map(Dev).map_err(|e| format!("open /dev/kaio: errno {e}"))
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        // SAFETY: the fd is owned by this value.
        unsafe { libc::close(self.0) };
    }
}

/// `Err(errno)` of a libc call returning -1.
pub fn sys(r: libc::c_long) -> Result<libc::c_long, i32> {
    if r < 0 {
        Err(kaio::raw::errno())
    } else {
        Ok(r)
    }
}

pub const NS: i64 = 1_000_000_000;
/// A delay that never expires during the suite.
pub const LONG_NS: i64 = 3600 * NS;
pub const POLLIN: u64 = libc::POLLIN as u64;
/// `-ECANCELED`: the `res` of a cancelled kaio DELAY.
pub const RES_ECANCELED: i64 = -(libc::ECANCELED as i64);

/// Generous upper bound for anything that should happen "promptly" (QEMU TCG is slow).
pub const PROMPT: Duration = Duration::from_secs(20);

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn ts(sec: i64, nsec: i64) -> KernelTimespec {
    KernelTimespec { tv_sec: sec, tv_nsec: nsec }
}

// ---------------------------------------------------------------------------------------------
// Contexts

/// A context on a backend, destroyed on drop unless already destroyed.
pub struct Ctx<'a> {
    pub b: &'a dyn Aio,
    pub id: u64,
    live: AtomicBool,
}

impl<'a> Ctx<'a> {
    /// `io_setup(nr)`; a failure is a case failure naming the backend.
    pub fn new(b: &'a dyn Aio, nr: u32) -> Result<Ctx<'a>, String> {
        let mut id = 0u64;
        match b.setup(nr, &mut id) {
            Ok(0) if id != 0 => Ok(Ctx { b, id, live: AtomicBool::new(true) }),
            r => Err(format!("{}: io_setup({nr}) = {r:?}, ctx {id:#x}", b.name())),
        }
    }

    /// Wraps an id obtained otherwise (destroyed on drop).
    pub fn adopt(b: &'a dyn Aio, id: u64) -> Ctx<'a> {
        Ctx { b, id, live: AtomicBool::new(true) }
    }

    pub fn submit(&self, cbs: &[*mut Iocb]) -> Ret {
        self.b.submit(self.id, cbs.len() as i64, cbs.as_ptr())
    }

    pub fn submit1(&self, cb: &mut Iocb) -> Ret {
        let p: [*mut Iocb; 1] = [cb];
        self.b.submit(self.id, 1, p.as_ptr())
    }

    /// Submits every iocb of `cbs` (one call), requiring all to be accepted.
    pub fn submit_all(&self, cbs: &mut [Iocb]) -> Result<(), String> {
        let ptrs: Vec<*mut Iocb> = cbs.iter_mut().map(|c| c as *mut Iocb).collect();
        let mut done = 0;
        while done < ptrs.len() {
            match self.submit(&ptrs[done..]) {
                Ok(n) if n > 0 => done += n as usize,
                r => return Err(format!("{}: io_submit of {} iocbs ({} done) = {r:?}", self.b.name(), ptrs.len(), done)),
            }
        }
        Ok(())
    }

    /// `io_getevents(min, nr, events, timeout)`.
    pub fn getev(&self, min: i64, nr: usize, timeout: Option<KernelTimespec>) -> Result<Vec<IoEvent>, Errno> {
        let mut ev = vec![IoEvent::default(); nr.max(1)];
        let tp = timeout.as_ref().map_or(std::ptr::null(), |t| t as *const KernelTimespec);
        let n = self.b.getevents(self.id, min, nr as i64, ev.as_mut_ptr(), tp)?;
        ev.truncate(n as usize);
        Ok(ev)
    }

    /// Collects exactly `n` events within `within`.
    pub fn wait_events(&self, n: usize, within: Duration) -> Result<Vec<IoEvent>, String> {
        let deadline = Instant::now() + within;
        let mut all = Vec::new();
        while all.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let want = n - all.len();
            let t = ts(left.as_secs() as i64, left.subsec_nanos() as i64);
            match self.getev(want as i64, want, Some(t)) {
                Ok(ev) => all.extend(ev),
                Err(e) => return Err(format!("{}: io_getevents after {} of {n} events: {e:?}", self.b.name(), all.len())),
            }
        }
        if all.len() != n {
            return Err(format!("{}: expected {n} events within {within:?}, got {}", self.b.name(), all.len()));
        }
        Ok(all)
    }

    /// Fails if any event arrives within `wait`.
    pub fn no_events(&self, wait: Duration) -> Result<(), String> {
        let t = ts(wait.as_secs() as i64, wait.subsec_nanos() as i64);
        match self.getev(1, 64, Some(t)) {
            Ok(ev) if ev.is_empty() => Ok(()),
            r => Err(format!("{}: expected no event, io_getevents = {r:?}", self.b.name())),
        }
    }

    pub fn cancel(&self, cb: *mut Iocb) -> Ret {
        let mut res = IoEvent::default();
        self.b.cancel(self.id, cb, &mut res)
    }

    pub fn destroy(&self) -> Ret {
        let r = self.b.destroy(self.id);
        if r.is_ok() {
            self.live.store(false, Ordering::SeqCst);
        }
        r
    }

    /// Forget the context (no destroy on drop).
    pub fn forget(&self) {
        self.live.store(false, Ordering::SeqCst);
    }

    pub fn hdr(&self) -> AioRing {
        ring_hdr(self.id)
    }
}

impl Drop for Ctx<'_> {
    fn drop(&mut self) {
        if self.live.load(Ordering::SeqCst) {
            let _ = self.b.destroy(self.id);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// iocbs and the request kinds

pub fn iocb(opcode: u16, fd: RawFd, data: u64) -> Iocb {
    Iocb { aio_data: data, aio_lio_opcode: opcode, aio_fildes: fd as u32, ..Default::default() }
}

pub fn poll_iocb(fd: RawFd, events: u64, data: u64) -> Iocb {
    Iocb { aio_buf: events, ..iocb(IOCB_CMD_POLL, fd, data) }
}

pub fn delay_iocb(fd: RawFd, ns: i64, data: u64) -> Iocb {
    Iocb { aio_offset: ns, ..iocb(KAIO_CMD_DELAY, fd, data) }
}

pub fn ptrs(cbs: &mut [Iocb]) -> Vec<*mut Iocb> {
    cbs.iter_mut().map(|c| c as *mut Iocb).collect()
}

/// A pipe, both ends closed on drop.
pub struct Pipe {
    pub r: RawFd,
    pub w: RawFd,
}

impl Pipe {
    pub fn new() -> Result<Pipe, String> {
        let mut fds = [0; 2];
        // SAFETY: fds is a valid array of two ints.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } < 0 {
            return Err(format!("pipe2: errno {}", kaio::raw::errno()));
        }
        Ok(Pipe { r: fds[0], w: fds[1] })
    }

    pub fn with_data() -> Result<Pipe, String> {
        let p = Pipe::new()?;
        p.put();
        Ok(p)
    }

    /// Writes one byte.
    pub fn put(&self) {
        // SAFETY: writes one byte from a valid buffer.
        unsafe { libc::write(self.w, b"x".as_ptr().cast(), 1) };
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        // SAFETY: both fds are owned by this value.
        unsafe {
            libc::close(self.r);
            libc::close(self.w);
        }
    }
}

/// An eventfd (non-blocking), closed on drop.
pub struct EventFd(pub RawFd);

impl EventFd {
    pub fn new() -> Result<EventFd, String> {
        // SAFETY: plain system call.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(format!("eventfd: errno {}", kaio::raw::errno()));
        }
        Ok(EventFd(fd))
    }

    /// Reads (and resets) the counter; 0 if it is 0.
    pub fn take(&self) -> u64 {
        let mut v = 0u64;
        // SAFETY: reads 8 bytes into v.
        let r = unsafe { libc::read(self.0, (&mut v as *mut u64).cast(), 8) };
        if r == 8 {
            v
        } else {
            0
        }
    }

    /// Accumulates the counter until it reaches `n` or `within` passes; returns the total.
    pub fn wait_for(&self, n: u64, within: Duration) -> u64 {
        let deadline = Instant::now() + within;
        let mut total = self.take();
        while total < n && Instant::now() < deadline {
            std::thread::sleep(ms(2));
            total += self.take();
        }
        total
    }
}

impl Drop for EventFd {
    fn drop(&mut self) {
        // SAFETY: the fd is owned by this value.
        unsafe { libc::close(self.0) };
    }
}

/// The files the requests of a case use: a pipe with data (its POLLIN is ready), an empty pipe
/// (a POLLIN on it stays pending) and an eventfd.
///
/// The request kinds, per backend:
/// * ready: completes on its own at once. POLL(pipe with data), res = POLLIN (1), already in
///   the ring when io_submit returns; DELAY(0), res 0, asynchronous.
/// * pending: stays in flight until cancelled or torn down. POLL(empty pipe), cancelled it
///   completes with res 0; DELAY(1 h), cancelled res = -ECANCELED.
/// * later: completes after a given time. POLL(empty pipe) plus `fire` (a thread that writes
///   to the pipe then), res has POLLIN; DELAY(t), res 0.
///
/// Native runs use POLL; kaio runs use DELAY, and POLL too (`Aio::uses_delay`).
pub struct Fx {
    pub full: Pipe,
    pub empty: Pipe,
    pub efd: EventFd,
}

impl Fx {
    pub fn new() -> Result<Fx, String> {
        Ok(Fx { full: Pipe::with_data()?, empty: Pipe::new()?, efd: EventFd::new()? })
    }

    /// A valid fd for requests whose opcode does not matter.
    pub fn fd(&self) -> RawFd {
        self.full.r
    }

    pub fn ready(&self, b: &dyn Aio, data: u64) -> Iocb {
        if b.uses_delay() {
            delay_iocb(self.full.r, 0, data)
        } else {
            poll_iocb(self.full.r, POLLIN, data)
        }
    }

    pub fn pending(&self, b: &dyn Aio, data: u64) -> Iocb {
        if b.uses_delay() {
            delay_iocb(self.empty.r, LONG_NS, data)
        } else {
            poll_iocb(self.empty.r, POLLIN, data)
        }
    }

    pub fn later(&self, b: &dyn Aio, data: u64, after: Duration) -> Iocb {
        if b.uses_delay() {
            delay_iocb(self.empty.r, after.as_nanos() as i64, data)
        } else {
            poll_iocb(self.empty.r, POLLIN, data)
        }
    }

    /// Native: a thread that writes to the empty pipe after `after` (join it before the end of
    /// the case). kaio: nothing (the DELAY expires by itself).
    pub fn fire(&self, b: &dyn Aio, after: Duration) -> Option<std::thread::JoinHandle<()>> {
        if b.uses_delay() {
            return None;
        }
        // SAFETY: dup of an fd we own; the thread owns the copy.
        let w = unsafe { libc::dup(self.empty.w) };
        Some(std::thread::spawn(move || {
            block_all_signals();
            std::thread::sleep(after);
            // SAFETY: writes one byte to, then closes, the fd this thread owns.
            unsafe {
                libc::write(w, b"x".as_ptr().cast(), 1);
                libc::close(w);
            }
        }))
    }

    /// Completes every pending native POLL of the empty pipe now (kaio: nothing).
    pub fn fire_now(&self, b: &dyn Aio) {
        if !b.uses_delay() {
            self.empty.put();
        }
    }
}

/// The `res` of a ready request.
pub fn ready_res(b: &dyn Aio) -> i64 {
    if b.uses_delay() {
        0
    } else {
        POLLIN as i64
    }
}

/// The `res` of a pending request that was cancelled.
pub fn cancel_res(b: &dyn Aio) -> i64 {
    if b.uses_delay() {
        RES_ECANCELED
    } else {
        0
    }
}

/// Whether `res` is what a "later" request completes with when it was not cancelled.
pub fn later_res_ok(b: &dyn Aio, res: i64) -> bool {
    if b.uses_delay() {
        res == 0
    } else {
        res > 0 && res as u64 & POLLIN != 0
    }
}

/// Checks one event's data, obj, res and res2.
pub fn check_event(what: &str, ev: &IoEvent, data: u64, obj: *const Iocb, res: i64) -> Result<(), String> {
    let want = IoEvent { data, obj: obj as u64, res, res2: 0 };
    if *ev != want {
        return Err(format!("{what}: expected event {want:?}, got {ev:?}"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The mapped ring

pub fn ring_hdr(ctx: u64) -> AioRing {
    // SAFETY: the caller guarantees that the ring is mapped at ctx.
    unsafe { std::ptr::read_volatile(ctx as *const AioRing) }
}

pub fn ring_event(ctx: u64, i: u32) -> IoEvent {
    // SAFETY: the caller guarantees that the ring (with slot i) is mapped at ctx.
    unsafe { std::ptr::read_volatile((ctx + 32 + 32 * i as u64) as *const IoEvent) }
}

fn ring_field(ctx: u64, off: u64) -> *mut u32 {
    (ctx + off) as *mut u32
}

pub fn ring_set_id(ctx: u64, v: u32) {
    // SAFETY: the caller guarantees that the ring is mapped at ctx.
    unsafe { std::ptr::write_volatile(ring_field(ctx, 0), v) }
}

pub fn ring_set_head(ctx: u64, v: u32) {
    std::sync::atomic::fence(Ordering::SeqCst);
    // SAFETY: the caller guarantees that the ring is mapped at ctx.
    unsafe { std::ptr::write_volatile(ring_field(ctx, 8), v) }
}

pub fn ring_set_tail(ctx: u64, v: u32) {
    // SAFETY: the caller guarantees that the ring is mapped at ctx.
    unsafe { std::ptr::write_volatile(ring_field(ctx, 12), v) }
}

/// Events between head and tail.
pub fn ring_avail(ctx: u64) -> u32 {
    let h = ring_hdr(ctx);
    if h.nr == 0 {
        return 0;
    }
    let (head, tail) = (h.head % h.nr, h.tail % h.nr);
    if tail >= head {
        tail - head
    } else {
        tail + h.nr - head
    }
}

/// Waits until at least `n` unread events are in the ring.
pub fn wait_ring(ctx: u64, n: u32, within: Duration) -> Result<(), String> {
    let deadline = Instant::now() + within;
    while ring_avail(ctx) < n {
        if Instant::now() > deadline {
            return Err(format!("expected {n} events in the ring within {within:?}, ring {:?}", ring_hdr(ctx)));
        }
        std::thread::sleep(ms(1));
    }
    std::sync::atomic::fence(Ordering::SeqCst);
    Ok(())
}

/// Waits until the ring's tail (raw) reaches `n` (a fresh ring that has not wrapped): `n`
/// completions were posted, whoever consumed them.
pub fn wait_tail(ctx: u64, n: u32, within: Duration) -> Result<(), String> {
    let deadline = Instant::now() + within;
    while ring_hdr(ctx).tail < n {
        if Instant::now() > deadline {
            return Err(format!("expected tail {n} within {within:?}, ring {:?}", ring_hdr(ctx)));
        }
        std::thread::sleep(ms(1));
    }
    Ok(())
}

/// An fd number that is not open (and that the lowest-free rule will not hand out soon).
pub fn closed_fd() -> RawFd {
    // SAFETY: duplicates stdin-or-anything to a high number and closes it again.
    unsafe {
        let p = Pipe::new().expect("pipe");
        let fd = libc::fcntl(p.r, libc::F_DUPFD_CLOEXEC, 700);
        libc::close(fd);
        fd
    }
}

/// Reaps every event in the ring from user space (reads [head, tail), stores head).
pub fn user_reap(ctx: u64) -> Vec<IoEvent> {
    let h = ring_hdr(ctx);
    std::sync::atomic::fence(Ordering::SeqCst);
    let mut head = h.head % h.nr;
    let tail = h.tail % h.nr;
    let mut out = Vec::new();
    while head != tail {
        out.push(ring_event(ctx, head));
        head = (head + 1) % h.nr;
    }
    ring_set_head(ctx, head);
    out
}

pub fn possible_cpus() -> u32 {
    let s = std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap_or_default();
    let mut n = 0;
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => n += b.parse::<u32>().unwrap_or(0) - a.parse::<u32>().unwrap_or(0) + 1,
            None => n += 1,
        }
    }
    n.max(1)
}

/// (pages, ring_nr) of a ring made by io_setup(n) (§2.3, §2.4; 4 KiB pages).
pub fn ring_geometry(n: u32) -> (u64, u32) {
    ring_geometry_c(n, possible_cpus())
}

/// (pages, ring_nr) of a ring made by io_setup(n) with `c` possible CPUs.
pub fn ring_geometry_c(n: u32, c: u32) -> (u64, u32) {
    let n1 = n.max(4 * c);
    let n2 = n1.wrapping_mul(2);
    let e = n2 as u64 + 2;
    let bytes = 32 + 32 * e;
    let pages = bytes.div_ceil(4096);
    (pages, ((pages * 4096 - 32) / 32) as u32)
}

// ---------------------------------------------------------------------------------------------
// Memory

/// An anonymous private mapping, unmapped on drop.
pub struct Map {
    pub addr: u64,
    pub len: usize,
}

impl Map {
    pub fn new(len: usize) -> Result<Map, String> {
        // SAFETY: a fresh anonymous mapping.
        let p = unsafe {
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0)
        };
        if p == libc::MAP_FAILED {
            return Err(format!("mmap: errno {}", kaio::raw::errno()));
        }
        Ok(Map { addr: p as u64, len })
    }

    pub fn protect(&self, prot: i32) -> Result<(), String> {
        // SAFETY: changes the protection of our own mapping.
        if unsafe { libc::mprotect(self.addr as *mut libc::c_void, self.len, prot) } < 0 {
            return Err(format!("mprotect: errno {}", kaio::raw::errno()));
        }
        Ok(())
    }

    pub fn ptr<T>(&self, off: usize) -> *mut T {
        (self.addr as usize + off) as *mut T
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: unmaps our own mapping.
        unsafe { libc::munmap(self.addr as *mut libc::c_void, self.len) };
    }
}

/// An address with nothing mapped: a page far below the mmap area (at 1 TiB), checked free. mmap
/// allocates top-down from below the stack, so a ring set up afterwards does not land there, as
/// it would in a page just unmapped among the test's own mappings. Always the same address, so
/// that the steps of a case read the same on every backend.
pub fn unmapped_addr() -> u64 {
    let at = 1u64 << 40;
    // Another thread's check may hold the page for a moment.
    for _ in 0..1000 {
        // SAFETY: a fresh anonymous page at `at`; NOREPLACE fails rather than replace a mapping.
        let p = unsafe {
            libc::mmap(at as *mut libc::c_void, 4096, libc::PROT_NONE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE, -1, 0)
        };
        if p == at as *mut libc::c_void {
            // SAFETY: unmaps the page just mapped.
            unsafe { libc::munmap(p, 4096) };
            return at;
        }
        std::thread::yield_now();
    }
    panic!("mmap at {at:#x}: errno {} (something stays mapped there)", kaio::raw::errno());
}

/// A fresh anonymous range of `len` bytes, left mapped (a target for `mremap`).
pub fn reserve(len: usize) -> Result<u64, String> {
    let m = Map::new(len)?;
    let a = m.addr;
    std::mem::forget(m);
    Ok(a)
}

/// The ring mappings in /proc/self/maps (native: the `[aio]` pseudo file; kaio: `/dev/kaio`).
pub fn ring_mappings() -> Vec<String> {
    maps_lines().into_iter().filter(|l| l.contains("[aio]") || l.ends_with("/dev/kaio")).collect()
}

pub fn munmap(addr: u64, len: usize) -> Result<(), String> {
    // SAFETY: the caller unmaps memory it is done with.
    if unsafe { libc::munmap(addr as *mut libc::c_void, len) } < 0 {
        return Err(format!("munmap({addr:#x}, {len}): errno {}", kaio::raw::errno()));
    }
    Ok(())
}

/// The /proc/self/maps line of the mapping containing `addr`: (start, end, perms).
pub fn mapping_at(addr: u64) -> Option<(u64, u64, String)> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    for line in maps.lines() {
        let mut it = line.split_whitespace();
        let range = it.next()?;
        let perms = it.next()?.to_string();
        let (a, b) = range.split_once('-')?;
        let (a, b) = (u64::from_str_radix(a, 16).ok()?, u64::from_str_radix(b, 16).ok()?);
        if a <= addr && addr < b {
            return Some((a, b, perms));
        }
    }
    None
}

pub fn maps_lines() -> Vec<String> {
    std::fs::read_to_string("/proc/self/maps").unwrap_or_default().lines().map(String::from).collect()
}

// ---------------------------------------------------------------------------------------------
// The kernel log

/// The kernel log from a point on (`/dev/kmsg`, read without blocking).
pub struct KernelLog(std::fs::File);

impl KernelLog {
    /// Starts at the end of the log: [`KernelLog::since`] gives what is logged after this.
    pub fn mark() -> Result<KernelLog, String> {
        use std::io::{Seek, SeekFrom};
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")
            .map_err(|e| format!("open /dev/kmsg: {e}"))?;
        f.seek(SeekFrom::End(0)).map_err(|e| format!("seek /dev/kmsg: {e}"))?;
        Ok(KernelLog(f))
    }

    /// The messages logged since the mark (or the last call) that `pick` accepts.
    pub fn since(&mut self, pick: impl Fn(&str) -> bool) -> Vec<String> {
        use std::io::Read;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 8192];
        loop {
            // One record per read; EAGAIN: no more; EPIPE: records overwritten, go on.
            match self.0.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let rec = String::from_utf8_lossy(&buf[..n]);
                    let msg = rec.lines().next().and_then(|l| l.split_once(';')).map_or("", |(_, m)| m);
                    if pick(msg) {
                        out.push(msg.to_string());
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
                Err(_) => break,
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Module parameters and sysctls

pub fn read_u64(path: &str) -> Result<u64, String> {
    let s = std::fs::read_to_string(path).map_err(|e| format!("read {path}: {e}"))?;
    s.trim().parse().map_err(|e| format!("parse {path} ({s:?}): {e}"))
}

pub fn write_str(path: &str, v: &str) -> std::io::Result<()> {
    std::fs::write(path, v)
}

/// Restores a parameter's old value on drop.
pub struct Restore {
    path: &'static str,
    old: String,
}

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = write_str(self.path, &self.old);
    }
}

/// Sets a parameter, returning the guard that restores it.
pub fn set_param(path: &'static str, v: u64) -> Result<Restore, String> {
    let old = std::fs::read_to_string(path).map_err(|e| format!("read {path}: {e}"))?.trim().to_string();
    write_str(path, &v.to_string()).map_err(|e| format!("write {v} to {path}: {e}"))?;
    Ok(Restore { path, old })
}

/// Waits until the value at `path` is `want` (teardown may lag a little behind a close).
pub fn wait_value(path: &str, want: u64, within: Duration) -> Result<u64, String> {
    let deadline = Instant::now() + within;
    loop {
        let v = read_u64(path)?;
        if v == want || Instant::now() > deadline {
            return Ok(v);
        }
        std::thread::sleep(ms(5));
    }
}

// ---------------------------------------------------------------------------------------------
// Processes

/// Runs `f` in a forked child (which ends with `_exit`, so nothing of the parent is dropped
/// there) and returns its result. The child is killed if it takes longer than `limit`.
/// Only call this while no other thread runs (the child may allocate).
pub fn in_child(limit: Duration, f: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err("pipe2 failed".into());
    }
    let (r, w) = (fds[0], fds[1]);
    // SAFETY: fork; the child only runs `f` and exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: errno {}", kaio::raw::errno()));
    }
    if pid == 0 {
        // SAFETY: closes the child's copy of the read end.
        unsafe { libc::close(r) };
        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let msg = match res {
            Ok(Ok(())) => "OK".to_string(),
            Ok(Err(e)) => e,
            Err(_) => "child panicked".to_string(),
        };
        // SAFETY: writes the message and exits without running any destructor.
        unsafe {
            libc::write(w, msg.as_ptr().cast(), msg.len());
            libc::_exit(0);
        }
    }
    // SAFETY: closes the parent's copy of the write end.
    unsafe { libc::close(w) };
    let msg = read_fd_until_eof(r, limit);
    // SAFETY: closes our read end.
    unsafe { libc::close(r) };
    // A child stuck in its exit may have said why before.
    let status = wait_child(pid, limit).map_err(|e| match &msg {
        Ok(m) => format!("{e}; it said: {m}"),
        Err(m) => format!("{e}; {m}"),
    })?;
    let msg = msg?;
    if status != 0 {
        return Err(format!("child exit status {status:#x}, said: {msg}"));
    }
    if msg == "OK" {
        Ok(())
    } else if msg.starts_with("SKIP ") {
        Err(msg)
    } else {
        Err(format!("in the child: {msg}"))
    }
}

/// Reads an fd until EOF, at most `limit` long.
pub fn read_fd_until_eof(fd: RawFd, limit: Duration) -> Result<String, String> {
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("no EOF within {limit:?} (read {:?})", String::from_utf8_lossy(&out)));
        }
        let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(1000) as i32) };
        if n <= 0 {
            continue;
        }
        let mut buf = [0u8; 4096];
        // SAFETY: reads into a valid buffer.
        let k = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if k <= 0 {
            return Ok(String::from_utf8_lossy(&out).into_owned());
        }
        out.extend_from_slice(&buf[..k as usize]);
    }
}

/// waitpid with a limit; kills the child after it.
pub fn wait_child(pid: libc::pid_t, limit: Duration) -> Result<i32, String> {
    let deadline = Instant::now() + limit;
    loop {
        let mut status = 0;
        // SAFETY: waits for our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return Ok(status);
        }
        if r < 0 {
            return Err(format!("waitpid: errno {}", kaio::raw::errno()));
        }
        if Instant::now() > deadline {
            // SAFETY: kills and reaps our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
            let t = Instant::now();
            while t.elapsed() < PROMPT {
                // SAFETY: as above.
                if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
                    return Err(format!("child did not finish within {limit:?} (killed)"));
                }
                std::thread::sleep(ms(10));
            }
            return Err(format!("child did not finish within {limit:?}, and not even after SIGKILL"));
        }
        std::thread::sleep(ms(2));
    }
}

// ---------------------------------------------------------------------------------------------
// Threads and signals

extern "C" fn noop_handler(_: libc::c_int) {}

/// SIGUSR1 (used to kick a thread out of a blocking call) gets a no-op handler without
/// SA_RESTART.
pub fn install_signal_handlers() {
    set_handler(libc::SIGUSR1, false);
}

/// Installs the no-op handler for `sig`, with or without SA_RESTART; returns the old action.
pub fn set_handler(sig: i32, restart: bool) -> libc::sigaction {
    // SAFETY: plain sigaction calls with valid structures.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = noop_handler as *const () as usize;
        sa.sa_flags = if restart { libc::SA_RESTART } else { 0 };
        libc::sigemptyset(&mut sa.sa_mask);
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, &sa, &mut old);
        old
    }
}

pub fn restore_handler(sig: i32, old: &libc::sigaction) {
    // SAFETY: restores a previously saved action.
    unsafe { libc::sigaction(sig, old, std::ptr::null_mut()) };
}

pub fn block_all_signals() {
    // SAFETY: changes the calling thread's mask only.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Arms ITIMER_REAL: SIGALRM after `first`, then every `every`. Dropping the guard disarms it.
pub struct Itimer;

impl Itimer {
    pub fn arm(first: Duration, every: Duration) -> Itimer {
        let tv = |d: Duration| libc::timeval { tv_sec: d.as_secs() as _, tv_usec: d.subsec_micros() as _ };
        let it = libc::itimerval { it_interval: tv(every), it_value: tv(first) };
        // SAFETY: valid structure.
        unsafe { libc::setitimer(libc::ITIMER_REAL, &it, std::ptr::null_mut()) };
        Itimer
    }
}

impl Drop for Itimer {
    fn drop(&mut self) {
        // SAFETY: a zeroed itimerval disarms the timer.
        unsafe {
            let it: libc::itimerval = std::mem::zeroed();
            libc::setitimer(libc::ITIMER_REAL, &it, std::ptr::null_mut());
        }
    }
}

/// A scoped thread that may block in a system call; `join_within` kicks it with SIGUSR1 if it
/// does not finish in time (which fails the case instead of hanging the suite).
pub struct Bounded<'s, T> {
    h: ScopedJoinHandle<'s, T>,
    tid: Arc<AtomicUsize>,
}

pub fn spawn_bounded<'s, 'e, T: Send + 's, F: FnOnce() -> T + Send + 's>(s: &'s Scope<'s, 'e>, f: F) -> Bounded<'s, T> {
    let tid = Arc::new(AtomicUsize::new(0));
    let t2 = tid.clone();
    let h = s.spawn(move || {
        // SAFETY: pthread_self is always safe.
        t2.store(unsafe { libc::pthread_self() } as usize, Ordering::SeqCst);
        f()
    });
    Bounded { h, tid }
}

impl<T> Bounded<'_, T> {
    pub fn finished(&self) -> bool {
        self.h.is_finished()
    }

    /// Waits for the thread; Err if it did not finish within `d` on its own.
    pub fn join_within(self, d: Duration) -> Result<T, String> {
        let deadline = Instant::now() + d;
        while !self.h.is_finished() && Instant::now() < deadline {
            std::thread::sleep(ms(1));
        }
        if self.h.is_finished() {
            return self.h.join().map_err(|_| "thread panicked".to_string());
        }
        let kick = Instant::now();
        while !self.h.is_finished() {
            let tid = self.tid.load(Ordering::SeqCst);
            if tid != 0 {
                // SAFETY: the thread is alive (not finished, not joined).
                unsafe { libc::pthread_kill(tid as libc::pthread_t, libc::SIGUSR1) };
            }
            if kick.elapsed() > PROMPT {
                println!("Bail out! a thread stays blocked even after SIGUSR1");
                // SAFETY: ends the process.
                unsafe { libc::_exit(1) };
            }
            std::thread::sleep(ms(10));
        }
        let _ = self.h.join();
        Err(format!("a blocked thread did not return within {d:?} (returned only when kicked by a signal)"))
    }
}

/// A spin barrier for tight races (std's Barrier sleeps, which spreads the racers apart).
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
                if spins > 2000 {
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
            }
        }
    }
}

/// Binds the calling thread to `cpu` (nothing if the guest has no such CPU).
pub fn bind_to(cpu: usize) {
    // SAFETY: plain affinity calls on the calling thread with valid sets.
    unsafe {
        if libc::sysconf(libc::_SC_NPROCESSORS_ONLN) <= cpu as libc::c_long {
            return;
        }
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut one);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &one);
    }
}

/// A small deterministic PRNG (xorshift).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Busy-waits about `n` loop iterations (sub-microsecond jitter for races).
pub fn spin_for(n: u64) {
    for _ in 0..n {
        std::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked examples of AIO-SEMANTICS.md §2.4.
    #[test]
    fn ring_geometry_matches_the_documented_examples() {
        for n in [1, 8, 9] {
            assert_eq!(ring_geometry_c(n, 2), (1, 127));
        }
        assert_eq!(ring_geometry_c(128, 2), (3, 383));
        assert_eq!(ring_geometry_c(4096, 2), (65, 8319));
        assert_eq!(ring_geometry_c(65536, 2), (1025, 131199));
        assert_eq!(ring_geometry_c(1, 16), (2, 255));
        assert_eq!(ring_geometry_c(1, 64), (5, 639));
        assert_eq!(ring_geometry_c(4_194_304, 2), (65537, 8_388_735));
    }

    #[test]
    fn rng_below_stays_in_range() {
        let mut r = Rng(1);
        assert!((0..1000).all(|_| r.below(7) < 7));
    }
}

/// The ways a context dies with requests in flight (AIO-SEMANTICS: io_destroy, the close of
/// `/dev/kaio`, the exit of the process), for cases that run in a child ([`in_child`]).
pub const TEARDOWNS: [&str; 3] = ["destroy", "close", "exit"];

/// Ends `ctx` of the kaio domain `k` the way `how` ([`TEARDOWNS`]) says, from a child about to
/// return from [`in_child`]: "destroy" calls io_destroy; "close" leaves the context to the
/// close of `k` when the child's closure drops it; "exit" keeps a second descriptor of the
/// same file open (leaked), so that the contexts live until the process exits.
pub fn end_context(how: &str, k: &crate::aio::Kaio, ctx: &Ctx) -> Result<(), String> {
    match how {
        "destroy" => match ctx.destroy() {
            Ok(0) => Ok(()),
            r => Err(format!("io_destroy: {r:?}")),
        },
        "close" => {
            ctx.forget();
            Ok(())
        }
        _ => {
            // SAFETY: dup of an owned fd, deliberately leaked.
            unsafe { libc::dup(k.fd) };
            ctx.forget();
            Ok(())
        }
    }
}
