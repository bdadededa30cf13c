//! Scenarios for the calls of ABI version 2 (`ABI.md` "Version 2"): `KAIO_IOC_CANCEL_MATCH`
//! with WAIT (its only allocation: the hrtimer holder a waiting call arms, `Kioctx::start_wait`;
//! without it the wait falls back to a jiffies timeout and must behave the same), with RESULT,
//! and with ANY over cancellable requests; and `KAIO_IOC_PGETEVENTS` with a mask and a timeout.
//! Every user access of the two calls is failed in turn too: the argument block, the timeout,
//! the signal mask, the lookup's read of `ring->id`, the events, the RESULT event and the
//! `nr_running` write-back. Each must fail the call cleanly (EFAULT; EINVAL for the lookup's
//! read) or be absorbed, and no event may be lost: a cancelled request's event is in the ring
//! when the call returns, or in `*result` when it returns 0.

use crate::fi::Kind;
use crate::scenarios::Scenario;
use crate::util::*;
use kaio::uapi::*;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

const CTX_NR: u32 = 64;
/// What `nr_running` may hold after a call a fault failed: untouched, or the 0 the module
/// writes right after the lookup (a block it cannot write then fails before anything is
/// cancelled; a fault on the final write-back leaves that 0).
pub(crate) fn failed_call_nr(nr: u32) -> bool {
    nr == SENTINEL || nr == 0
}

/// What `nr_running` holds before a call: still there afterwards means it was not written.
pub(crate) const SENTINEL: u32 = 0xA5A5_A5A5;
/// EFAULT, or EINVAL when the copy that failed is the lookup's read of `ring->id` (the sweep
/// accepts EINVAL for one k per pass).
const LOOKUP_COPY: &[i32] = &[libc::EFAULT, libc::EINVAL];

pub(crate) fn match_args(ctx: u64, flags: u32, key: u64) -> kaio_cancel_match_args {
    kaio_cancel_match_args { ctx_id: ctx, flags, key, nr_running: SENTINEL, ..Default::default() }
}

pub(crate) fn cancel_match(fd: RawFd, a: &mut kaio_cancel_match_args) -> Ret {
    // SAFETY: the block is live; its timeout and result pointers are the caller's live memory.
    unsafe { kaio::raw::ioctl(fd, KAIO_IOC_CANCEL_MATCH, a as *mut kaio_cancel_match_args) }
}

fn nr_str(v: u32) -> String {
    if v == SENTINEL {
        "untouched".into()
    } else {
        v.to_string()
    }
}

/// A failed call: the fault was injected and the error is one this fault may give (no
/// allocation of these calls can fail them: the only one, the WAIT timer, falls back).
fn expect_fault(e: i32, injected: bool, kind: Kind) -> Res {
    if !injected {
        return Err(format!("failed with {} although no fault was injected", ename(e)));
    }
    let allowed: &[i32] = if kind.is_alloc() { &[] } else { LOOKUP_COPY };
    if !allowed.contains(&e) {
        return Err(format!(
            "{} fault gives {}; expected {}",
            kind.short(),
            ename(e),
            if allowed.is_empty() { "success (the call needs no memory it cannot do without)".into() } else { "EFAULT or EINVAL (the lookup)".to_string() }
        ));
    }
    Ok(())
}

/// The calling thread's blocked-signal mask (signals 1..64).
pub(crate) fn thread_mask() -> u64 {
    // SAFETY: reads the calling thread's mask into a zeroed set.
    unsafe {
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut old);
        std::ptr::read_unaligned(&old as *const libc::sigset_t as *const u64)
    }
}

/// The events in the ring now (no wait), at most 8.
fn ring_now(fd: RawFd, ctx: u64) -> Result<Vec<IoEvent>, String> {
    let mut evs = [IoEvent::default(); 8];
    match getevents(fd, ctx, 0, &mut evs, Some(Duration::ZERO)) {
        Ok(n) => Ok(evs[..n as usize].to_vec()),
        Err(e) => Err(format!("getevents (no wait): {}", ename(e))),
    }
}

// ---------------------------------------------------------------------------------------------
// A read that runs on

/// A pread of an empty blocking pipe: the helper thread that submits it stays inside the submit
/// until the pipe is written, and meanwhile the request matches but cannot be cancelled.
struct Running {
    r: RawFd,
    w: RawFd,
    iocb: Box<Iocb>,
    _buf: Box<[u8; 64]>,
    th: Option<std::thread::JoinHandle<Ret>>,
    feeder: Option<std::thread::JoinHandle<()>>,
}

const R_DATA: u64 = 0x55;

impl Running {
    fn start(fd: RawFd, ctx: u64) -> Result<Running, String> {
        let mut p = [0i32; 2];
        // SAFETY: fills a two-element array.
        if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err("pipe".into());
        }
        let mut buf = Box::new([0u8; 64]);
        let iocb = Box::new(Iocb::new(IOCB_CMD_PREAD, p[0]).with_buf(buf.as_mut_ptr() as u64, 16, 0).with_data(R_DATA));
        let ip = &*iocb as *const Iocb as u64;
        let th = std::thread::spawn(move || {
            let arr = [ip];
            // The iocb and its buffer live until this thread is joined.
            kaio::raw::submit(fd, ctx, 1, arr.as_ptr() as *const *mut Iocb)
        });
        let mut run = Running { r: p[0], w: p[1], iocb, _buf: buf, th: Some(th), feeder: None };
        // Until the read is in flight: a match by its data finds it running.
        let start = Instant::now();
        loop {
            let mut a = match_args(ctx, KAIO_CANCEL_DATA, R_DATA);
            match cancel_match(fd, &mut a) {
                Err(libc::EALREADY) => return Ok(run),
                Err(libc::ENOENT) if start.elapsed() < Duration::from_secs(20) => std::thread::sleep(Duration::from_millis(1)),
                r => {
                    run.feed_now();
                    let _ = run.join();
                    return Err(format!("the running read never showed up (a match by its data gives {})", rstr(&r)));
                }
            }
        }
    }

    fn addr(&self) -> u64 {
        &*self.iocb as *const Iocb as u64
    }

    fn feed_now(&self) {
        // SAFETY: writes 16 bytes from a literal to our pipe.
        unsafe { libc::write(self.w, b"0123456789abcdef".as_ptr().cast(), 16) };
    }

    /// Gives the read its data `ms` from now, from another thread.
    fn feed_later(&mut self, ms: u64) {
        let w = self.w;
        self.feeder = Some(std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(ms));
            // SAFETY: writes 16 bytes from a literal to our pipe.
            unsafe { libc::write(w, b"0123456789abcdef".as_ptr().cast(), 16) };
        }));
    }

    /// Waits for the helper's submit (after the read was given data).
    fn join(&mut self) -> Ret {
        if let Some(f) = self.feeder.take() {
            let _ = f.join();
        }
        self.th.take().map_or(Err(-1), |t| t.join().unwrap_or(Err(-1)))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.th.is_some() {
            self.feed_now();
            let _ = self.join();
        }
        close_fd(self.r);
        close_fd(self.w);
    }
}

// ---------------------------------------------------------------------------------------------
// CANCEL_MATCH with WAIT

/// `KAIO_CANCEL_DATA | KAIO_CANCEL_WAIT` on a read that runs on. `complete`: false, with a
/// 30 ms timeout, the call ends with ETIME (nr_running 1); true, with a 20 s timeout, the read
/// completes 30 ms into the call and the call returns EALREADY (nr_running 1) with the read's
/// event in the ring. Without the timer (its allocation failed) the jiffies timeout must do the
/// same. The read completes afterwards either way, with exactly one event.
pub struct CmWait {
    complete: bool,
    dom: Option<Dom>,
    ctx: u64,
    run: Option<Running>,
    args: kaio_cancel_match_args,
    ts: Box<KernelTimespec>,
    took: Duration,
}

impl CmWait {
    pub fn new(complete: bool) -> CmWait {
        CmWait {
            complete,
            dom: None,
            ctx: 0,
            run: None,
            args: kaio_cancel_match_args::default(),
            ts: Box::new(KernelTimespec::default()),
            took: Duration::ZERO,
        }
    }
    fn fd(&self) -> RawFd {
        self.dom.as_ref().map_or(-1, |d| d.0)
    }
    fn timeout(&self) -> Duration {
        if self.complete { Duration::from_secs(20) } else { Duration::from_millis(30) }
    }
}

impl Scenario for CmWait {
    fn name(&self) -> String {
        if self.complete {
            "cancel_match WAIT (read completes)".into()
        } else {
            "cancel_match WAIT (30 ms, running)".into()
        }
    }
    fn begin(&mut self) -> Res {
        let dom = Dom::open()?;
        self.ctx = setup(dom.0, CTX_NR).map_err(|e| format!("setup: {}", ename(e)))?;
        self.dom = Some(dom);
        Ok(())
    }
    fn prepare(&mut self) -> Res {
        self.run = None;
        self.run = Some(Running::start(self.fd(), self.ctx)?);
        *self.ts = self.timeout().into();
        self.args = match_args(self.ctx, KAIO_CANCEL_DATA | KAIO_CANCEL_WAIT, R_DATA);
        self.args.timeout = &*self.ts as *const KernelTimespec as u64;
        Ok(())
    }
    fn op(&mut self) -> Ret {
        if self.complete {
            if let Some(run) = self.run.as_mut() {
                run.feed_later(30);
            }
        }
        let fd = self.fd();
        let start = Instant::now();
        let r = cancel_match(fd, &mut self.args);
        self.took = start.elapsed();
        r
    }
    fn failed(&self, r: &Ret) -> bool {
        *r != Err(if self.complete { libc::EALREADY } else { libc::ETIME })
    }
    fn check(&mut self, kind: Kind, r: Ret, injected: bool) -> Res {
        let (fd, ctx) = (self.fd(), self.ctx);
        let nr = self.args.nr_running;
        let mut run = self.run.take().ok_or("no running read")?;
        let want = if self.complete { libc::EALREADY } else { libc::ETIME };
        let mut seen = Vec::new();
        match r {
            Err(e) if e == want => {
                if nr != 1 {
                    return Err(format!("{}: nr_running {}, expected 1", ename(e), nr_str(nr)));
                }
                if self.complete {
                    // The wait ended because the read posted its event: it is in the ring.
                    seen = ring_now(fd, ctx)?;
                    if seen.len() != 1 || seen[0].obj != run.addr() {
                        return Err(format!("EALREADY after the wait, but the ring holds {seen:?} (want the read's event)"));
                    }
                } else if self.took < Duration::from_millis(20) || self.took > Duration::from_secs(10) {
                    return Err(format!("ETIME after {:?} with a 30 ms timeout", self.took));
                } else {
                    // Still running: a match finds it so.
                    let mut a = match_args(ctx, KAIO_CANCEL_DATA, R_DATA);
                    let again = cancel_match(fd, &mut a);
                    if again != Err(libc::EALREADY) || a.nr_running != 1 {
                        return Err(format!("after ETIME a match of the read gives {} nr_running {}", rstr(&again), nr_str(a.nr_running)));
                    }
                }
            }
            Err(e) => {
                expect_fault(e, injected, kind)?;
                if !failed_call_nr(nr) {
                    return Err(format!("{} from a failed copy, but nr_running was written ({})", ename(e), nr_str(nr)));
                }
            }
            Ok(v) => return Err(format!("returns {v} for a read that runs on (want {})", ename(want))),
        }
        run.feed_now();
        let sub = run.join();
        if sub != Ok(1) {
            return Err(format!("the read's submit returned {}", rstr(&sub)));
        }
        if seen.is_empty() {
            seen = collect(fd, ctx, 1, Duration::from_secs(20)).map_err(|m| format!("the read's event: {m}"))?;
        } else {
            collect(fd, ctx, 0, Duration::from_secs(1))?;
        }
        if seen[0].data != R_DATA || seen[0].obj != run.addr() || seen[0].res != 16 {
            return Err(format!("the read's event: {:?}", seen[0]));
        }
        drop(run);
        smoke_ctx(fd, ctx)?;
        expect_nr(u64::from(CTX_NR))
    }
    fn end(&mut self) -> Res {
        self.run = None;
        let r = destroy(self.fd(), self.ctx).map(drop).map_err(|e| format!("destroy: {}", ename(e)));
        self.dom = None;
        r
    }
}

// ---------------------------------------------------------------------------------------------
// CANCEL_MATCH with RESULT

/// `KAIO_CANCEL_IOCB | KAIO_CANCEL_RESULT` of a long delay with an eventfd: 0 with the event in
/// `*result` (not in the ring, eventfd not signalled); EFAULT when `result` cannot be written
/// (the event then in the ring, eventfd signalled) or the argument block cannot be read (the
/// delay still in flight); EINVAL for the lookup's read. An EFAULT with the event in `*result`
/// and not in the ring loses it: the caller is told the call failed.
pub struct CmResult {
    dom: Option<Dom>,
    ctx: u64,
    evfd: RawFd,
    iocb: Box<Iocb>,
    ev: Box<IoEvent>,
    args: kaio_cancel_match_args,
}

const UNTOUCHED: IoEvent = IoEvent { data: 0x5A5A_5A5A_5A5A_5A5A, obj: 0x5A5A_5A5A_5A5A_5A5A, res: 0x5A5A_5A5A_5A5A_5A5A, res2: 0x5A5A_5A5A_5A5A_5A5A };

impl CmResult {
    pub fn new() -> CmResult {
        CmResult { dom: None, ctx: 0, evfd: -1, iocb: Box::new(Iocb::default()), ev: Box::new(UNTOUCHED), args: kaio_cancel_match_args::default() }
    }
    fn fd(&self) -> RawFd {
        self.dom.as_ref().map_or(-1, |d| d.0)
    }
    fn evfd_count(&self) -> u64 {
        let mut v = 0u64;
        // SAFETY: reads 8 bytes into a live u64 from our non-blocking eventfd.
        let n = unsafe { libc::read(self.evfd, (&mut v as *mut u64).cast(), 8) };
        if n == 8 { v } else { 0 }
    }
    fn is_the_event(&self, e: &IoEvent) -> bool {
        e.data == 9 && e.obj == &*self.iocb as *const Iocb as u64 && e.res == -ECANCELED && e.res2 == 0
    }
}

impl Scenario for CmResult {
    fn name(&self) -> String {
        "cancel_match RESULT (a long delay)".into()
    }
    fn begin(&mut self) -> Res {
        let dom = Dom::open()?;
        self.ctx = setup(dom.0, CTX_NR).map_err(|e| format!("setup: {}", ename(e)))?;
        self.dom = Some(dom);
        // SAFETY: plain system call.
        self.evfd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if self.evfd < 0 {
            return Err("eventfd".into());
        }
        Ok(())
    }
    fn prepare(&mut self) -> Res {
        *self.iocb = Iocb::delay(LONG_NS, self.fd()).with_data(9).with_resfd(self.evfd);
        let (fd, ctx) = (self.fd(), self.ctx);
        match submit1(fd, ctx, &mut self.iocb) {
            Ok(1) => {}
            r => return Err(format!("submit: {}", rstr(&r))),
        }
        *self.ev = UNTOUCHED;
        self.args = match_args(self.ctx, KAIO_CANCEL_IOCB | KAIO_CANCEL_RESULT, &*self.iocb as *const Iocb as u64);
        self.args.result = &mut *self.ev as *mut IoEvent as u64;
        Ok(())
    }
    fn op(&mut self) -> Ret {
        let fd = self.fd();
        cancel_match(fd, &mut self.args)
    }
    fn failed(&self, r: &Ret) -> bool {
        *r != Ok(0)
    }
    fn check(&mut self, kind: Kind, r: Ret, injected: bool) -> Res {
        let (fd, ctx) = (self.fd(), self.ctx);
        let nr = self.args.nr_running;
        let in_result = *self.ev != UNTOUCHED;
        let ring = ring_now(fd, ctx)?;
        let mut count = self.evfd_count();
        let mut events = 0;
        if in_result {
            if !self.is_the_event(&self.ev) {
                return Err(format!("*result holds {:?}, not the cancelled delay's event", *self.ev));
            }
            events += 1;
        }
        for e in &ring {
            if !self.is_the_event(e) {
                return Err(format!("the ring holds {e:?}, not the cancelled delay's event"));
            }
            events += 1;
        }
        match r {
            Ok(0) => {
                if !in_result || !ring.is_empty() || count != 0 || nr != 0 {
                    return Err(format!(
                        "returns 0: event in *result {in_result}, {} in the ring, eventfd {count}, nr_running {} (want in *result only, eventfd 0, nr_running 0)",
                        ring.len(),
                        nr_str(nr)
                    ));
                }
            }
            Ok(v) => return Err(format!("returns {v}")),
            Err(e) => {
                expect_fault(e, injected, kind)?;
                if in_result {
                    return Err(format!(
                        "{} with the event written to *result and {} in the ring (eventfd {count}, nr_running {}): the caller, told the call failed, looks for it in the ring (ABI.md: an event is never lost)",
                        ename(e),
                        if ring.is_empty() { "none" } else { "one more" },
                        nr_str(nr)
                    ));
                }
                if ring.is_empty() {
                    // Not cancelled: the delay is still in flight.
                    match cancel(fd, ctx, &mut *self.iocb) {
                        Err(libc::EINPROGRESS) => {}
                        r2 => return Err(format!("after {} with no event anywhere, io_cancel of the delay gives {}", ename(e), rstr(&r2))),
                    }
                    let evs = collect(fd, ctx, 1, Duration::from_secs(20))?;
                    if !self.is_the_event(&evs[0]) {
                        return Err(format!("the delay's event after io_cancel: {:?}", evs[0]));
                    }
                    events += 1;
                    count += self.evfd_count();
                } else if nr != 0 && nr != SENTINEL {
                    return Err(format!("EFAULT with the event in the ring, nr_running {}", nr_str(nr)));
                }
                if count != 1 {
                    return Err(format!("the event went to the ring, but the eventfd counts {count}"));
                }
            }
        }
        if events != 1 {
            return Err(format!("{events} events for one cancelled delay"));
        }
        collect(fd, ctx, 0, Duration::from_secs(1))?;
        smoke_ctx(fd, ctx)?;
        expect_nr(u64::from(CTX_NR))
    }
    fn end(&mut self) -> Res {
        let r = destroy(self.fd(), self.ctx).map(drop).map_err(|e| format!("destroy: {}", ename(e)));
        self.dom = None;
        close_fd(self.evfd);
        self.evfd = -1;
        r
    }
}

// ---------------------------------------------------------------------------------------------
// CANCEL_MATCH with ANY

/// `KAIO_CANCEL_ANY` over two POLLs of an empty pipe and a long delay: 3, their events in the
/// ring when the call returns; or a failed copy: before the lookup nothing is cancelled, the
/// write-back of nr_running after it leaves all three cancelled. Each request gives exactly one
/// event either way.
pub struct CmAny {
    dom: Option<Dom>,
    ctx: u64,
    pipe: [RawFd; 2],
    iocbs: Vec<Box<Iocb>>,
    args: kaio_cancel_match_args,
}

impl CmAny {
    pub fn new() -> CmAny {
        CmAny { dom: None, ctx: 0, pipe: [-1, -1], iocbs: Vec::new(), args: kaio_cancel_match_args::default() }
    }
    fn fd(&self) -> RawFd {
        self.dom.as_ref().map_or(-1, |d| d.0)
    }
    fn check_events(&self, evs: &[IoEvent]) -> Res {
        let mut datas: Vec<u64> = evs.iter().map(|e| e.data).collect();
        datas.sort_unstable();
        let ok = datas == [1, 2, 3]
            && evs.iter().all(|e| {
                let i = e.data as usize - 1;
                e.obj == &*self.iocbs[i] as *const Iocb as u64 && e.res == if e.data == 3 { -ECANCELED } else { 0 } && e.res2 == 0
            });
        if !ok {
            return Err(format!("events of the three cancelled requests: {evs:?}"));
        }
        Ok(())
    }
}

impl Scenario for CmAny {
    fn name(&self) -> String {
        "cancel_match ANY (POLLs, a delay)".into()
    }
    fn begin(&mut self) -> Res {
        let dom = Dom::open()?;
        self.ctx = setup(dom.0, CTX_NR).map_err(|e| format!("setup: {}", ename(e)))?;
        self.dom = Some(dom);
        // SAFETY: fills a two-element array.
        if unsafe { libc::pipe2(self.pipe.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err("pipe".into());
        }
        Ok(())
    }
    fn prepare(&mut self) -> Res {
        let fd = self.fd();
        self.iocbs = vec![
            Box::new(Iocb::poll(self.pipe[0], libc::POLLIN as u32).with_data(1)),
            Box::new(Iocb::poll(self.pipe[0], libc::POLLIN as u32).with_data(2)),
            Box::new(Iocb::delay(LONG_NS, fd).with_data(3)),
        ];
        let ptrs: Vec<*mut Iocb> = self.iocbs.iter_mut().map(|b| &mut **b as *mut Iocb).collect();
        match submit(fd, self.ctx, &ptrs) {
            Ok(3) => {}
            r => return Err(format!("submit: {}", rstr(&r))),
        }
        self.args = match_args(self.ctx, KAIO_CANCEL_ANY, 0);
        Ok(())
    }
    fn op(&mut self) -> Ret {
        let fd = self.fd();
        cancel_match(fd, &mut self.args)
    }
    fn failed(&self, r: &Ret) -> bool {
        *r != Ok(3)
    }
    fn check(&mut self, kind: Kind, r: Ret, injected: bool) -> Res {
        let (fd, ctx) = (self.fd(), self.ctx);
        let nr = self.args.nr_running;
        let ring = ring_now(fd, ctx)?;
        match r {
            Ok(3) if nr == 0 && ring.len() == 3 => return self.check_events(&ring).and_then(|_| smoke_ctx(fd, ctx)),
            Ok(v) => return Err(format!("returns {v}, nr_running {}, {} events in the ring (want 3, 0, 3)", nr_str(nr), ring.len())),
            Err(e) => expect_fault(e, injected, kind)?,
        }
        if !failed_call_nr(nr) {
            return Err(format!("a failed call wrote nr_running {}", nr_str(nr)));
        }
        let evs = match ring.len() {
            // The write-back failed: all three were cancelled.
            3 => ring,
            // Nothing cancelled: cancel them now.
            0 => {
                let mut a = match_args(ctx, KAIO_CANCEL_ANY, 0);
                let again = cancel_match(fd, &mut a);
                if again != Ok(3) || a.nr_running != 0 {
                    return Err(format!("after a failed call with no event, ANY gives {} nr_running {}", rstr(&again), nr_str(a.nr_running)));
                }
                collect(fd, ctx, 3, Duration::from_secs(5))?
            }
            n => return Err(format!("a failed call left {n} of the 3 requests cancelled")),
        };
        self.check_events(&evs)?;
        collect(fd, ctx, 0, Duration::from_secs(1))?;
        smoke_ctx(fd, ctx)?;
        expect_nr(u64::from(CTX_NR))
    }
    fn end(&mut self) -> Res {
        let r = destroy(self.fd(), self.ctx).map(drop).map_err(|e| format!("destroy: {}", ename(e)));
        self.dom = None;
        close_fd(self.pipe[0]);
        close_fd(self.pipe[1]);
        self.pipe = [-1, -1];
        r
    }
}

// ---------------------------------------------------------------------------------------------
// PGETEVENTS

/// `io_pgetevents(min 1, nr 1, 20 s, mask {SIGUSR2})` sleeping for a delay that completes 30 ms
/// in: 1, or a failed copy (args, timeout, mask, lookup, event) that consumes nothing, so the
/// event comes exactly once, by this call or the next; the thread's signal mask is the same
/// afterwards in every case.
pub struct Pgetevents {
    dom: Option<Dom>,
    ctx: u64,
    iocb: Box<Iocb>,
    evs: Box<[IoEvent; 2]>,
    ts: Box<KernelTimespec>,
    mask: Box<u64>,
    mask_before: u64,
    mask_after: u64,
}

impl Pgetevents {
    pub fn new() -> Pgetevents {
        Pgetevents {
            dom: None,
            ctx: 0,
            iocb: Box::new(Iocb::default()),
            evs: Box::new([IoEvent::default(); 2]),
            ts: Box::new(KernelTimespec { tv_sec: 20, tv_nsec: 0 }),
            mask: Box::new(1 << (libc::SIGUSR2 - 1)),
            mask_before: 0,
            mask_after: 0,
        }
    }
    fn fd(&self) -> RawFd {
        self.dom.as_ref().map_or(-1, |d| d.0)
    }
}

impl Scenario for Pgetevents {
    fn name(&self) -> String {
        "pgetevents (sleeping, with a mask)".into()
    }
    fn begin(&mut self) -> Res {
        let dom = Dom::open()?;
        self.ctx = setup(dom.0, CTX_NR).map_err(|e| format!("setup: {}", ename(e)))?;
        self.dom = Some(dom);
        Ok(())
    }
    fn prepare(&mut self) -> Res {
        *self.iocb = Iocb::delay(30_000_000, self.fd()).with_data(1);
        let (fd, ctx) = (self.fd(), self.ctx);
        match submit1(fd, ctx, &mut self.iocb) {
            Ok(1) => {}
            r => return Err(format!("submit: {}", rstr(&r))),
        }
        *self.evs = [IoEvent::default(); 2];
        Ok(())
    }
    fn op(&mut self) -> Ret {
        let a = kaio_pgetevents_args {
            ctx_id: self.ctx,
            min_nr: 1,
            nr: 1,
            events: self.evs.as_mut_ptr() as u64,
            timeout: &*self.ts as *const KernelTimespec as u64,
            sigmask: &*self.mask as *const u64 as u64,
            sigsetsize: 8,
        };
        self.mask_before = thread_mask();
        // SAFETY: the block and every pointer in it are live fields of this scenario.
        let r = unsafe { kaio::raw::ioctl(self.fd(), KAIO_IOC_PGETEVENTS, &a) };
        self.mask_after = thread_mask();
        r
    }
    fn failed(&self, r: &Ret) -> bool {
        *r != Ok(1)
    }
    fn check(&mut self, kind: Kind, r: Ret, injected: bool) -> Res {
        if self.mask_after != self.mask_before {
            return Err(format!("the thread's signal mask is {:#x} after the call, {:#x} before", self.mask_after, self.mask_before));
        }
        let (fd, ctx) = (self.fd(), self.ctx);
        let got = match r {
            Ok(1) => 1,
            Ok(0) if injected => 0,
            Ok(g) => return Err(format!("pgetevents(min 1) returns {g}")),
            Err(e) => {
                expect_fault(e, injected, kind)?;
                0
            }
        };
        let mut all: Vec<IoEvent> = self.evs[..got].to_vec();
        all.extend(collect(fd, ctx, 1 - got, Duration::from_secs(20)).map_err(|m| format!("after pgetevents returned {}: {m}", rstr(&r)))?);
        if all.len() != 1 || all[0].data != 1 || all[0].res != 0 || all[0].obj != &*self.iocb as *const Iocb as u64 {
            return Err(format!("events delivered (this call and the next): {all:?}, expected the delay's once"));
        }
        smoke_ctx(fd, ctx)?;
        expect_nr(u64::from(CTX_NR))
    }
    fn end(&mut self) -> Res {
        let r = destroy(self.fd(), self.ctx).map(drop).map_err(|e| format!("destroy: {}", ename(e)));
        self.dom = None;
        r
    }
}
