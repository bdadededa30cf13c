//! Raw calls on /dev/kaio with plain `Result<i64, errno>` results, and the system-wide state a
//! fault must leave as it was: the `nr` module parameter, ring mappings in /proc/self/maps, the
//! module's reference count.

use kaio::raw;
use kaio::uapi::*;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

pub type Ret = Result<i64, i32>;
pub type Res = Result<(), String>;

pub const NS: i64 = 1_000_000_000;
pub const LONG_NS: i64 = 3600 * NS;
pub const ECANCELED: i64 = libc::ECANCELED as i64;

pub fn errno() -> i32 {
    raw::errno()
}

pub fn ename(e: i32) -> String {
    let n = match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EINVAL => "EINVAL",
        libc::ENOTTY => "ENOTTY",
        libc::ENOSPC => "ENOSPC",
        libc::ECANCELED => "ECANCELED",
        libc::EINPROGRESS => "EINPROGRESS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EALREADY => "EALREADY",
        libc::ETIME => "ETIME",
        _ => return format!("errno {e}"),
    };
    n.to_string()
}

pub fn rstr(r: &Ret) -> String {
    match r {
        Ok(v) => format!("{v}"),
        Err(e) => ename(*e),
    }
}

/// An open /dev/kaio, closed on drop.
pub struct Dom(pub RawFd);

impl Dom {
    pub fn open() -> Result<Dom, String> {
        raw::open().map(Dom).map_err(|e| format!("open /dev/kaio: {}", ename(e)))
    }
    /// Closes now (the drop does nothing afterwards).
    pub fn close(&mut self) {
        if self.0 >= 0 {
            // SAFETY: the fd is owned by this value.
            unsafe { libc::close(self.0) };
            self.0 = -1;
        }
    }
}

impl Drop for Dom {
    fn drop(&mut self) {
        self.close();
    }
}

pub fn setup(fd: RawFd, nr: u32) -> Result<u64, i32> {
    let mut id = 0u64;
    raw::setup(fd, nr, &mut id)?;
    Ok(id)
}

pub fn submit(fd: RawFd, ctx: u64, iocbs: &[*mut Iocb]) -> Ret {
    raw::submit(fd, ctx, iocbs.len() as i64, iocbs.as_ptr())
}

pub fn submit1(fd: RawFd, ctx: u64, iocb: &mut Iocb) -> Ret {
    let p = [iocb as *mut Iocb];
    submit(fd, ctx, &p)
}

pub fn getevents(fd: RawFd, ctx: u64, min: usize, evs: &mut [IoEvent], timeout: Option<Duration>) -> Ret {
    let ts = timeout.map(|t| KernelTimespec { tv_sec: t.as_secs() as i64, tv_nsec: t.subsec_nanos() as i64 });
    let tp = ts.as_ref().map_or(std::ptr::null(), |t| t as *const KernelTimespec);
    raw::getevents(fd, ctx, min as i64, evs.len() as i64, evs.as_mut_ptr(), tp)
}

pub fn cancel(fd: RawFd, ctx: u64, iocb: *mut Iocb) -> Ret {
    raw::cancel(fd, ctx, iocb, std::ptr::null_mut())
}

pub fn destroy(fd: RawFd, ctx: u64) -> Ret {
    raw::destroy(fd, ctx)
}

/// Collects exactly `n` events within `limit`, then makes sure no further event is queued.
pub fn collect(fd: RawFd, ctx: u64, n: usize, limit: Duration) -> Result<Vec<IoEvent>, String> {
    let mut out = Vec::new();
    let start = Instant::now();
    while out.len() < n {
        let left = limit.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Err(format!("only {} of {n} events within {limit:?}", out.len()));
        }
        let mut evs = [IoEvent::default(); 16];
        let want = (n - out.len()).min(16);
        match getevents(fd, ctx, want, &mut evs[..want], Some(left)) {
            Ok(got) => out.extend_from_slice(&evs[..got as usize]),
            Err(libc::EINTR) => continue,
            Err(e) => return Err(format!("getevents while collecting {n} events: {}", ename(e))),
        }
    }
    let mut extra = [IoEvent::default(); 4];
    match getevents(fd, ctx, 0, &mut extra, Some(Duration::ZERO)) {
        Ok(0) => Ok(out),
        Ok(k) => Err(format!("{k} unexpected extra event(s), first data {:#x} res {}", extra[0].data, extra[0].res)),
        Err(e) => Err(format!("getevents (extra check): {}", ename(e))),
    }
}

/// The context works: a delay submitted now completes, its event is the only one.
pub fn smoke_ctx(fd: RawFd, ctx: u64) -> Res {
    const MARK: u64 = 0x5eed_0000_0000_0001;
    let mut iocb = Iocb::delay(0, fd).with_data(MARK);
    match submit1(fd, ctx, &mut iocb) {
        Ok(1) => {}
        r => return Err(format!("context unusable: submit of a delay gives {}", rstr(&r))),
    }
    let evs = collect(fd, ctx, 1, Duration::from_secs(20)).map_err(|e| format!("context unusable: {e}"))?;
    if evs[0].data != MARK || evs[0].res != 0 || evs[0].obj != &iocb as *const Iocb as u64 {
        return Err(format!("context unusable: event {:?} for a delay", evs[0]));
    }
    Ok(())
}

/// The domain works: a new context can be set up, used and destroyed.
pub fn smoke_dom(fd: RawFd) -> Res {
    let before = nr_param();
    let ctx = setup(fd, 8).map_err(|e| format!("domain unusable: setup gives {}", ename(e)))?;
    smoke_ctx(fd, ctx)?;
    destroy(fd, ctx).map_err(|e| format!("domain unusable: destroy gives {}", ename(e)))?;
    let after = nr_param();
    if after != before {
        return Err(format!("/sys/module/kaio/parameters/nr went from {before} to {after} over setup + destroy"));
    }
    Ok(())
}

/// The ring header of context `ctx` (mapped at that address): (nr, head, tail).
pub fn ring(ctx: u64) -> (u32, u32, u32) {
    let p = ctx as *const u32;
    // SAFETY: callers pass the id of a live context of this process: its ring is mapped there.
    unsafe {
        (
            std::ptr::read_volatile(p.add(1)),
            std::ptr::read_volatile(p.add(2)),
            std::ptr::read_volatile(p.add(3)),
        )
    }
}

pub fn ring_pending(ctx: u64) -> u32 {
    let (nr, head, tail) = ring(ctx);
    if nr == 0 {
        return 0;
    }
    let (h, t) = (head % nr, tail % nr);
    if h <= t { t - h } else { nr - (h - t) }
}

/// Bytes mapped for a ring with `nr` events.
pub fn ring_bytes(nr: u32) -> usize {
    32 * (nr as usize + 1)
}

/// Waits until `n` events are in the ring (without consuming them).
pub fn wait_pending(ctx: u64, n: u32) -> Res {
    let start = Instant::now();
    while ring_pending(ctx) < n {
        if start.elapsed() > Duration::from_secs(20) {
            return Err(format!("{} of {n} events in the ring after 20 s", ring_pending(ctx)));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

pub fn nr_param() -> u64 {
    std::fs::read_to_string("/sys/module/kaio/parameters/nr")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(u64::MAX)
}

/// What `nr` was when the current sweep started: the checks are relative to it, so that a
/// charge leaked by one site is reported there and not again by every later one.
static BASE_NR: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub fn set_base_nr() {
    BASE_NR.store(nr_param(), std::sync::atomic::Ordering::Relaxed);
}

/// `nr` is `want` more than at the start of the sweep.
pub fn expect_nr(want: u64) -> Res {
    // The charge goes back synchronously in every path (destroy, close, exit).
    let base = BASE_NR.load(std::sync::atomic::Ordering::Relaxed);
    let got = nr_param();
    if got != base + want {
        let rel = if base == 0 { String::new() } else { format!(" (the sweep started at {base})") };
        return Err(format!("/sys/module/kaio/parameters/nr is {got}, expected {}{rel}", base + want));
    }
    Ok(())
}

/// Ring mappings of /dev/kaio in this process.
pub fn kaio_maps() -> usize {
    std::fs::read_to_string("/proc/self/maps").map_or(usize::MAX, |m| m.lines().filter(|l| l.ends_with("/dev/kaio")).count())
}

/// The length of the mapping that starts at `addr` in this process.
pub fn mapping_len(addr: u64) -> Option<usize> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines().find_map(|l| {
        let range = l.split_whitespace().next()?;
        let (a, b) = range.split_once('-')?;
        let (a, b) = (u64::from_str_radix(a, 16).ok()?, u64::from_str_radix(b, 16).ok()?);
        (a == addr).then_some((b - a) as usize)
    })
}

pub fn expect_maps(want: usize) -> Res {
    let got = kaio_maps();
    if got != want {
        return Err(format!("{got} ring mapping(s) of /dev/kaio in /proc/self/maps, expected {want}"));
    }
    Ok(())
}

/// kaio's reference count (open files of /dev/kaio, rings included).
pub fn refcnt() -> i64 {
    std::fs::read_to_string("/proc/modules")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("kaio "))
                .and_then(|l| l.split_whitespace().nth(2).and_then(|s| s.parse().ok()))
        })
        .unwrap_or(-1)
}

/// Nothing of ours is left: no charge (since the sweep started), no ring, no file.
pub fn expect_clean() -> Res {
    expect_nr(0)?;
    expect_maps(0)?;
    // A file released by another thread's work may take a moment; none is expected here.
    let got = refcnt();
    if got != 0 {
        return Err(format!("kaio's reference count is {got} with no /dev/kaio file open"));
    }
    Ok(())
}

/// A tmpfs file of `len` bytes of `pattern(i)`.
pub fn data_file(len: usize) -> Result<RawFd, String> {
    let path = c"/tmp/kaio-faults.dat";
    // SAFETY: a NUL-terminated literal path.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC, 0o600) };
    if fd < 0 {
        return Err(format!("open /tmp/kaio-faults.dat: {}", ename(errno())));
    }
    // SAFETY: as above.
    unsafe { libc::unlink(path.as_ptr()) };
    let data: Vec<u8> = (0..len).map(pattern).collect();
    // SAFETY: writes from a live buffer.
    let w = unsafe { libc::pwrite(fd, data.as_ptr().cast(), len, 0) };
    if w != len as isize {
        return Err("writing the data file".into());
    }
    Ok(fd)
}

pub fn pattern(i: usize) -> u8 {
    (i as u32).wrapping_mul(2_654_435_761).rotate_right(13) as u8
}

pub fn close_fd(fd: RawFd) {
    if fd >= 0 {
        // SAFETY: the caller owns the fd.
        unsafe { libc::close(fd) };
    }
}

/// Unmaps every ring mapping of /dev/kaio left in this process (after a failed check, so that
/// a context the test could not destroy does not keep its domain alive into the next site).
pub fn unmap_all_rings() -> usize {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let mut n = 0;
    for l in maps.lines().filter(|l| l.ends_with("/dev/kaio")) {
        let range = l.split_whitespace().next().unwrap_or("");
        let mut it = range.split('-').map(|s| usize::from_str_radix(s, 16).unwrap_or(0));
        if let (Some(a), Some(b)) = (it.next(), it.next()) {
            // SAFETY: unmaps a kaio ring mapping that nothing in this process uses any more.
            if b > a && unsafe { libc::munmap(a as *mut libc::c_void, b - a) } == 0 {
                n += 1;
            }
        }
    }
    n
}

/// What the test runner counts as a kernel splat (tests/ktap-summary.sh), as substrings.
const SPLATS: &[&str] = &[
    "BUG:", "WARNING:", "KASAN:", "Oops", "Kernel panic", "general protection fault", "kernel BUG", "UBSAN:",
    "RCU stall", "detected stalls", "rcu: INFO", "blocked for more than", "soft lockup", "hard LOCKUP",
    "Call Trace:", "ODEBUG:", "list_add corruption", "list_del corruption", "DEBUG_LOCKS_WARN_ON",
    "unreferenced object", "panicked at",
];

/// The kernel log from now on (/dev/kmsg), to tie a splat to the fault that caused it.
pub struct Kmsg(RawFd);

impl Kmsg {
    pub fn open() -> Option<Kmsg> {
        // SAFETY: a NUL-terminated literal path.
        let fd = unsafe { libc::open(c"/dev/kmsg".as_ptr(), libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC) };
        if fd < 0 {
            return None;
        }
        // SAFETY: plain system call on our fd.
        unsafe { libc::lseek(fd, 0, libc::SEEK_END) };
        Some(Kmsg(fd))
    }

    /// The messages logged since the last call.
    pub fn read(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            // SAFETY: reads one record into a live buffer.
            let n = unsafe { libc::read(self.0, buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                if errno() == libc::EPIPE {
                    continue; // records were overwritten: go on with the next one
                }
                break;
            }
            if n == 0 {
                break;
            }
            let rec = String::from_utf8_lossy(&buf[..n as usize]);
            let first = rec.lines().next().unwrap_or("");
            if let Some((_, msg)) = first.split_once(';') {
                out.push(msg.to_string());
            }
        }
        out
    }

    /// What was logged since the last call: the first splat, if any (with the message that
    /// introduces it, e.g. warn_alloc's "vmalloc error: ..."), and the number of
    /// "FAULT_INJECTION: forcing a failure" lines (faults that were not __GFP_NOWARN).
    pub fn scan(&self) -> (Option<String>, usize) {
        let msgs = self.read();
        let notices = msgs.iter().filter(|m| m.starts_with("FAULT_INJECTION: forcing a failure")).count();
        let Some(i) = msgs.iter().position(|m| SPLATS.iter().any(|s| m.contains(s))) else {
            return (None, notices);
        };
        let noise = ["FAULT_INJECTION", "name ", "CPU: ", "Tainted: ", "Hardware name: "];
        let intro = msgs[..i].iter().rev().find(|m| !noise.iter().any(|n| m.starts_with(n)));
        let splat = match intro {
            Some(m) => format!("{m} | {}", msgs[i]),
            None => msgs[i].clone(),
        };
        (Some(splat), notices)
    }
}

impl Drop for Kmsg {
    fn drop(&mut self) {
        close_fd(self.0);
    }
}
