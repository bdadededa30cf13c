//! One scenario per call (and per opcode for submit): how to set the call up, make it, and
//! check what a fault injected into it left behind.

use crate::fi::{Fi, Kind};
use crate::util::*;
use kaio::uapi::*;
use std::os::fd::RawFd;
use std::time::Duration;

/// A call under fault injection.
pub trait Scenario {
    fn name(&self) -> String;
    /// Once per fault kind, before the sweep (no fault armed).
    fn begin(&mut self) -> Res {
        Ok(())
    }
    /// Before each call (no fault armed).
    fn prepare(&mut self) -> Res {
        Ok(())
    }
    /// The call itself.
    fn op(&mut self) -> Ret {
        Ok(0)
    }
    /// The call with the `k`-th kaio fault armed; returns its result and whether the fault was
    /// injected. The default arms this thread's fail-nth around [`Scenario::op`].
    fn call(&mut self, fi: &Fi, k: u32) -> Result<(Ret, bool), String> {
        fi.arm(k);
        let r = self.op();
        let injected = fi.disarm();
        Ok((r, injected))
    }
    /// After the call (no fault armed): the result is one Linux could give for this fault, and
    /// the state is consistent and usable.
    fn check(&mut self, kind: Kind, r: Ret, injected: bool) -> Res;
    /// Whether the call failed (partly: fewer iocbs accepted, fewer events returned).
    fn failed(&self, r: &Ret) -> bool {
        r.is_err()
    }
    /// After the sweep of one kind: releases everything.
    fn end(&mut self) -> Res {
        Ok(())
    }
}

/// What a failed user copy may give in a call that looks a context up: EFAULT, or EINVAL when
/// the copy that failed is the lookup's read of `ring->id` (Linux: "not found" is always
/// EINVAL). The sweep accepts EINVAL for one k only: there is one lookup per call.
const LOOKUP_COPY: &[i32] = &[libc::EFAULT, libc::EINVAL];

/// A failed call must have had a fault injected, and fail with an error in `allowed`.
fn expect_err(e: i32, injected: bool, kind: Kind, allowed: &[i32]) -> Res {
    if !injected {
        return Err(format!("failed with {} although no fault was injected", ename(e)));
    }
    if !allowed.contains(&e) {
        let names: Vec<String> = allowed.iter().map(|&a| ename(a)).collect();
        return Err(format!(
            "{} fault gives {}; expected {}",
            kind.short(),
            ename(e),
            if names.is_empty() { "success (Linux cannot fail here)".into() } else { names.join(" or ") }
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// open

/// `open("/dev/kaio")`: a new domain (no Linux analogue; an allocation failure is ENOMEM).
pub struct Open {
    dom: Option<Dom>,
}

impl Open {
    pub fn new() -> Open {
        Open { dom: None }
    }
}

impl Scenario for Open {
    fn name(&self) -> String {
        "open".into()
    }
    fn op(&mut self) -> Ret {
        match kaio::raw::open() {
            Ok(fd) => {
                self.dom = Some(Dom(fd));
                Ok(0)
            }
            Err(e) => Err(e),
        }
    }
    fn check(&mut self, kind: Kind, r: Ret, injected: bool) -> Res {
        if let Err(e) = r {
            expect_err(e, injected, kind, if kind.is_alloc() { &[libc::ENOMEM] } else { &[] })?;
        }
        match self.dom.take() {
            Some(d) => smoke_dom(d.0)?,
            None => smoke_dom(Dom::open()?.0)?,
        }
        expect_clean()
    }
}

// ---------------------------------------------------------------------------------------------
// setup

/// `io_setup(64, &id)` in a fresh domain: ENOMEM for allocations, EFAULT for copies, and on
/// either nothing is left (no charge, no ring mapping) and the domain still works.
pub struct Setup {
    dom: Option<Dom>,
    id: u64,
}

impl Setup {
    pub fn new() -> Setup {
        Setup { dom: None, id: 0 }
    }
}

impl Scenario for Setup {
    fn name(&self) -> String {
        "setup".into()
    }
    fn prepare(&mut self) -> Res {
        self.dom = None;
        self.dom = Some(Dom::open()?);
        self.id = 0;
        Ok(())
    }
    fn op(&mut self) -> Ret {
        let fd = self.dom.as_ref().map_or(-1, |d| d.0);
        kaio::raw::setup(fd, 64, &mut self.id)
    }
    fn check(&mut self, kind: Kind, r: Ret, injected: bool) -> Res {
        let fd = self.dom.as_ref().map_or(-1, |d| d.0);
        match r {
            Ok(_) => {
                expect_nr(64)?;
                expect_maps(1)?;
                smoke_ctx(fd, self.id)?;
                destroy(fd, self.id).map_err(|e| format!("destroy after setup: {}", ename(e)))?;
            }
            Err(e) => {
                expect_err(e, injected, kind, if kind.is_alloc() { &[libc::ENOMEM] } else { &[libc::EFAULT] })?;
                if self.id != 0 {
                    return Err(format!("failed setup wrote ctx id {:#x}", self.id));
                }
                expect_nr(0).map_err(|m| format!("after the failed setup: {m}"))?;
                expect_maps(0).map_err(|m| format!("after the failed setup: {m}"))?;
                smoke_dom(fd)?;
            }
        }
        expect_nr(0)?;
        expect_maps(0)
    }
    fn end(&mut self) -> Res {
        self.dom = None;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// open + setup in a new process (the first mmu notifier of an address space)

/// In a forked child (a new address space): open, setup, with the child's own fail-nth armed.
/// The child reports through a pipe, checks that it can still use kaio, and exits (which tears
/// down whatever it has).
pub struct NewProcess;

/// What the child reports: open's and setup's results, whether the fault was injected, and
/// 0 if a normal open/setup/submit/getevents/destroy worked afterwards (else a step number).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct ChildReport {
    open: i64,
    setup: i64,
    injected: i64,
    smoke: i64,
}

fn child_ret(r: Ret) -> i64 {
    match r {
        Ok(v) => v,
        Err(e) => -(e as i64),
    }
}

/// Runs in the forked child: raw system calls only, no allocation.
fn newproc_child(k: u32, out: RawFd) -> ! {
    let mut rep = ChildReport::default();
    // SAFETY: a NUL-terminated literal path.
    let nth = unsafe { libc::open(c"/proc/thread-self/fail-nth".as_ptr(), libc::O_RDWR) };
    let mut digits = [0u8; 12];
    let mut n = k;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // SAFETY: writes from a live buffer to our own fd.
    unsafe { libc::write(nth, digits[i..].as_ptr().cast(), digits.len() - i) };
    let open = kaio::raw::open();
    let mut id = 0u64;
    let setup = match open {
        Ok(fd) => kaio::raw::setup(fd, 32, &mut id),
        Err(_) => Ok(-1),
    };
    let mut buf = [0u8; 16];
    // SAFETY: reads into a live buffer from our own fd.
    let got = unsafe { libc::pread(nth, buf.as_mut_ptr().cast(), buf.len(), 0) };
    // SAFETY: writes from a live buffer to our own fd.
    unsafe { libc::write(nth, b"0".as_ptr().cast(), 1) };
    rep.open = child_ret(open.map(|_| 0));
    rep.setup = child_ret(setup);
    rep.injected = i64::from(got >= 1 && buf[0] == b'0');
    // Still usable: a domain (the one we have, or a new one) and a context in it.
    rep.smoke = (|| {
        let fd = match open {
            Ok(fd) => fd,
            Err(_) => kaio::raw::open().map_err(|_| 1)?,
        };
        let ctx = if setup == Ok(0) { id } else {
            let mut nid = 0u64;
            kaio::raw::setup(fd, 8, &mut nid).map_err(|_| 2)?;
            nid
        };
        let mut iocb = Iocb::delay(0, fd).with_data(77);
        if submit1(fd, ctx, &mut iocb) != Ok(1) {
            return Err(3);
        }
        let mut ev = [IoEvent::default(); 2];
        if getevents(fd, ctx, 1, &mut ev, Some(Duration::from_secs(20))) != Ok(1) || ev[0].data != 77 || ev[0].res != 0 {
            return Err(4);
        }
        // The context is left for the exit to tear down.
        Ok(())
    })()
    .err()
    .unwrap_or(0);
    // SAFETY: writes a plain struct from a live value.
    unsafe {
        libc::write(out, (&rep as *const ChildReport).cast(), std::mem::size_of::<ChildReport>());
        libc::_exit(0)
    }
}

impl Scenario for NewProcess {
    fn name(&self) -> String {
        "open+setup in a new process".into()
    }
    fn call(&mut self, _fi: &Fi, k: u32) -> Result<(Ret, bool), String> {
        let mut p = [0; 2];
        // SAFETY: fills a two-element array.
        if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err("pipe".into());
        }
        // SAFETY: the child runs only async-signal-safe code (raw system calls).
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            newproc_child(k, p[1]);
        }
        close_fd(p[1]);
        let mut rep = ChildReport::default();
        let sz = std::mem::size_of::<ChildReport>();
        // SAFETY: reads a plain struct into a live value.
        let got = unsafe { libc::read(p[0], (&mut rep as *mut ChildReport).cast(), sz) };
        close_fd(p[0]);
        let mut status = 0;
        // SAFETY: waits for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        if got != sz as isize {
            return Err(format!("the child reported nothing (status {status:#x})"));
        }
        let r = if rep.open < 0 {
            Err((-rep.open) as i32)
        } else if rep.setup < 0 {
            Err((-rep.setup) as i32)
        } else {
            Ok(0)
        };
        if rep.smoke != 0 {
            return Err(format!("after {}: kaio unusable in the child (step {})", rstr(&r), rep.smoke));
        }
        Ok((r, rep.injected != 0))
    }
    fn check(&mut self, kind: Kind, r: Ret, injected: bool) -> Res {
        if let Err(e) = r {
            expect_err(e, injected, kind, if kind.is_alloc() { &[libc::ENOMEM] } else { &[libc::EFAULT] })?;
        }
        expect_clean().map_err(|m| format!("after the child exited: {m}"))
    }
}

// ---------------------------------------------------------------------------------------------
// submit

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Op {
    Delay,
    DelayResfd,
    Pread,
    Pwrite,
    Preadv,
    Pwritev,
    Fsync,
    Fdsync,
    Poll,
    Batch,
}

pub const OPS: [Op; 10] =
    [Op::Delay, Op::DelayResfd, Op::Pread, Op::Pwrite, Op::Preadv, Op::Pwritev, Op::Fsync, Op::Fdsync, Op::Poll, Op::Batch];

const FILE_LEN: usize = 65536;
const IO_LEN: usize = 4096;
/// More than UIO_FASTIOV (8): the iovec array is allocated (ENOMEM in Linux).
const SEGS: usize = 16;
const BATCH: usize = 4;

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Delay => "DELAY",
            Op::DelayResfd => "DELAY+RESFD",
            Op::Pread => "PREAD",
            Op::Pwrite => "PWRITE",
            Op::Preadv => "PREADV(16 segs)",
            Op::Pwritev => "PWRITEV(16 segs)",
            Op::Fsync => "FSYNC",
            Op::Fdsync => "FDSYNC",
            Op::Poll => "POLL",
            Op::Batch => "4 DELAYs",
        }
    }
    fn count(self) -> usize {
        if self == Op::Batch { BATCH } else { 1 }
    }
    /// Errors Linux's io_submit gives for a fault in this opcode's submission.
    fn allowed(self, kind: Kind) -> &'static [i32] {
        match (kind.is_alloc(), self) {
            (false, _) => LOOKUP_COPY,
            // The request itself (aio_get_req), then the iovec array or the credentials.
            (true, Op::Preadv | Op::Pwritev | Op::Fsync | Op::Fdsync) => &[libc::EAGAIN, libc::ENOMEM],
            (true, _) => &[libc::EAGAIN],
        }
    }
    fn is_read(self) -> bool {
        matches!(self, Op::Pread | Op::Preadv)
    }
    fn is_write(self) -> bool {
        matches!(self, Op::Pwrite | Op::Pwritev)
    }
}

/// Whether POLL is implemented (a POLL on a readable pipe is accepted).
pub fn poll_supported() -> bool {
    let Ok(dom) = Dom::open() else { return false };
    let Ok(ctx) = setup(dom.0, 8) else { return false };
    let mut p = [0; 2];
    // SAFETY: fills a two-element array.
    unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) };
    // SAFETY: writes one byte from a literal.
    unsafe { libc::write(p[1], b"x".as_ptr().cast(), 1) };
    let mut iocb = Iocb::poll(p[0], libc::POLLIN as u32);
    let ok = submit1(dom.0, ctx, &mut iocb) == Ok(1);
    if ok {
        let _ = collect(dom.0, ctx, 1, Duration::from_secs(10));
    }
    let _ = destroy(dom.0, ctx);
    close_fd(p[0]);
    close_fd(p[1]);
    ok
}

/// `io_submit` of one opcode on a context that lives through the sweep. Accepted requests must
/// complete with a plausible result (the I/O itself may see the fault: a short count, -EFAULT,
/// -ENOMEM, as Linux's read_iter/write_iter would give), rejected ones must not produce an
/// event, the context stays usable, and no ring slot leaks (the context's capacity at the end
/// equals that of a fresh context of the same size).
pub struct Submit {
    op: Op,
    dom: Option<Dom>,
    ctx: u64,
    file: RawFd,
    evfd: RawFd,
    pipe: [RawFd; 2],
    buf: Vec<u8>,
    iov: Vec<libc::iovec>,
    iocbs: Vec<Box<Iocb>>,
    capacity: usize,
}

const CTX_NR: u32 = 64;

/// How many long delays a context accepts before EAGAIN; they are then cancelled (the context
/// is destroyed only if `destroy`).
fn fill(fd: RawFd, ctx: u64) -> Result<usize, String> {
    let (nr, _, _) = ring(ctx);
    let mut iocbs: Vec<Box<Iocb>> = (0..nr as usize + 8).map(|i| Box::new(Iocb::delay(LONG_NS, fd).with_data(i as u64))).collect();
    let ptrs: Vec<*mut Iocb> = iocbs.iter_mut().map(|b| &mut **b as *mut Iocb).collect();
    let n = submit(fd, ctx, &ptrs).map_err(|e| format!("filling the context: {}", ename(e)))? as usize;
    // One more is refused.
    let mut more = Iocb::delay(LONG_NS, fd);
    match submit1(fd, ctx, &mut more) {
        Err(libc::EAGAIN) => {}
        r => return Err(format!("a full context ({n} in flight) accepts another request: {}", rstr(&r))),
    }
    for p in &ptrs[..n] {
        match cancel(fd, ctx, *p) {
            Err(libc::EINPROGRESS) => {}
            r => return Err(format!("cancelling a delay of the full context: {}", rstr(&r))),
        }
    }
    let evs = collect(fd, ctx, n, Duration::from_secs(60))?;
    if let Some(e) = evs.iter().find(|e| e.res != -ECANCELED) {
        return Err(format!("cancelled delay completed with {}", e.res));
    }
    drop(iocbs.drain(..));
    Ok(n)
}

impl Submit {
    pub fn new(op: Op) -> Submit {
        Submit {
            op,
            dom: None,
            ctx: 0,
            file: -1,
            evfd: -1,
            pipe: [-1, -1],
            buf: vec![0; IO_LEN],
            iov: Vec::new(),
            iocbs: Vec::new(),
            capacity: 0,
        }
    }
    fn fd(&self) -> RawFd {
        self.dom.as_ref().map_or(-1, |d| d.0)
    }
    fn file_bytes(&self, off: usize, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        // SAFETY: reads into a live buffer.
        let n = unsafe { libc::pread(self.file, v.as_mut_ptr().cast(), len, off as i64) };
        v.truncate(n.max(0) as usize);
        v
    }
    /// The event's `res` is what this I/O may give under this fault.
    fn check_res(&self, ev: &IoEvent, kind: Kind, injected: bool) -> Res {
        let res = ev.res;
        let what = format!("{} completed with res {res}", self.op.name());
        match self.op {
            Op::Delay | Op::DelayResfd | Op::Batch | Op::Fsync | Op::Fdsync => {
                if res != 0 {
                    return Err(what);
                }
            }
            Op::Poll => {
                if res < 0 || res & libc::POLLIN as i64 == 0 {
                    return Err(what);
                }
            }
            _ => {
                let full = res == IO_LEN as i64;
                let faulted = injected
                    && (res == -(if kind.is_alloc() { libc::ENOMEM } else { libc::EFAULT }) as i64
                        || (0..IO_LEN as i64).contains(&res));
                if !full && !faulted {
                    return Err(what);
                }
                let n = res.max(0) as usize;
                if self.op.is_read() && self.buf[..n] != (0..n).map(pattern).collect::<Vec<u8>>()[..] {
                    return Err(format!("{}: the {n} bytes read are not the file's", self.op.name()));
                }
                if self.op.is_write() {
                    let want: Vec<u8> = (0..n).map(|i| pattern(i + 7)).collect();
                    if self.file_bytes(FILE_LEN, n) != want {
                        return Err(format!("{}: the {n} bytes written are not in the file", self.op.name()));
                    }
                }
            }
        }
        Ok(())
    }
}

impl Scenario for Submit {
    fn name(&self) -> String {
        format!("submit {}", self.op.name())
    }
    fn begin(&mut self) -> Res {
        let dom = Dom::open()?;
        // A fresh context of the same size: the capacity the swept one must still have.
        let probe = setup(dom.0, CTX_NR).map_err(|e| format!("setup: {}", ename(e)))?;
        self.capacity = fill(dom.0, probe)?;
        destroy(dom.0, probe).map_err(|e| format!("destroy: {}", ename(e)))?;
        self.ctx = setup(dom.0, CTX_NR).map_err(|e| format!("setup: {}", ename(e)))?;
        self.dom = Some(dom);
        self.file = data_file(FILE_LEN)?;
        // SAFETY: plain system calls.
        self.evfd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        // SAFETY: fills a two-element array.
        unsafe { libc::pipe2(self.pipe.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) };
        if self.evfd < 0 || self.pipe[0] < 0 {
            return Err("eventfd/pipe".into());
        }
        Ok(())
    }
    fn prepare(&mut self) -> Res {
        let fd = self.fd();
        self.buf.iter_mut().for_each(|b| *b = 0);
        if self.op.is_write() {
            // SAFETY: plain system call; the write lands on a page that is not there yet.
            unsafe { libc::ftruncate(self.file, FILE_LEN as i64) };
            self.buf.iter_mut().enumerate().for_each(|(i, b)| *b = pattern(i + 7));
        }
        let base = self.buf.as_mut_ptr();
        let seg = IO_LEN / SEGS;
        // SAFETY: every segment lies inside `buf`.
        self.iov = (0..SEGS).map(|i| libc::iovec { iov_base: unsafe { base.add(i * seg) }.cast(), iov_len: seg }).collect();
        let iocb = match self.op {
            Op::Delay => Iocb::delay(0, fd),
            Op::DelayResfd => Iocb::delay(0, fd).with_resfd(self.evfd),
            Op::Pread => Iocb::pread(self.file, &mut self.buf, 0),
            Op::Pwrite => Iocb::pwrite(self.file, &self.buf, FILE_LEN as i64),
            Op::Preadv => Iocb::preadv(self.file, &self.iov, 0),
            Op::Pwritev => Iocb::pwritev(self.file, &self.iov, FILE_LEN as i64),
            Op::Fsync => Iocb::fsync(self.file),
            Op::Fdsync => Iocb::fdsync(self.file),
            Op::Poll => Iocb::poll(self.pipe[0], libc::POLLIN as u32),
            Op::Batch => Iocb::delay(0, fd),
        };
        self.iocbs = (0..self.op.count()).map(|i| Box::new(iocb.with_data(i as u64 + 1))).collect();
        Ok(())
    }
    fn op(&mut self) -> Ret {
        let ptrs: Vec<*mut Iocb> = self.iocbs.iter_mut().map(|b| &mut **b as *mut Iocb).collect();
        submit(self.fd(), self.ctx, &ptrs)
    }
    fn failed(&self, r: &Ret) -> bool {
        *r != Ok(self.op.count() as i64)
    }
    fn check(&mut self, kind: Kind, r: Ret, injected: bool) -> Res {
        let (fd, ctx) = (self.fd(), self.ctx);
        let want = self.op.count();
        let accepted = match r {
            Ok(n) if n as usize == want => want,
            Ok(n) if injected && (1..want as i64).contains(&n) => n as usize,
            Ok(n) => return Err(format!("submit of {want} returns {n}{}", if injected { "" } else { " without a fault" })),
            Err(e) => {
                expect_err(e, injected, kind, self.op.allowed(kind))?;
                0
            }
        };
        if self.op == Op::Poll && accepted > 0 {
            // SAFETY: writes one byte from a literal.
            unsafe { libc::write(self.pipe[1], b"x".as_ptr().cast(), 1) };
        }
        let evs = collect(fd, ctx, accepted, Duration::from_secs(20))
            .map_err(|m| format!("{accepted} accepted: {m}"))?;
        let mut seen = vec![false; want];
        for ev in &evs {
            let i = ev.data.wrapping_sub(1) as usize;
            if i >= accepted || seen[i] {
                return Err(format!("unexpected event data {} (accepted {accepted})", ev.data));
            }
            seen[i] = true;
            if ev.obj != &*self.iocbs[i] as *const Iocb as u64 {
                return Err(format!("event obj {:#x} is not the iocb's address", ev.obj));
            }
            self.check_res(ev, kind, injected)?;
        }
        if self.op == Op::DelayResfd {
            let mut v = 0u64;
            // SAFETY: reads 8 bytes into a live u64.
            let n = unsafe { libc::read(self.evfd, (&mut v as *mut u64).cast(), 8) };
            let count = if n == 8 { v } else { 0 };
            if count != accepted as u64 {
                return Err(format!("eventfd counted {count} completion(s), {accepted} accepted"));
            }
        }
        if self.op == Op::Poll {
            let mut b = [0u8; 16];
            // SAFETY: reads into a live buffer; the pipe is non-blocking.
            unsafe { libc::read(self.pipe[0], b.as_mut_ptr().cast(), b.len()) };
        }
        smoke_ctx(fd, ctx)?;
        expect_nr(u64::from(CTX_NR))?;
        expect_maps(1)
    }
    fn end(&mut self) -> Res {
        let mut res = Ok(());
        if let Some(dom) = &self.dom {
            match fill(dom.0, self.ctx) {
                Ok(n) if n == self.capacity => {}
                Ok(n) => res = Err(format!("ring slots leaked: the context accepts {n} requests, a fresh one {}", self.capacity)),
                Err(e) => res = Err(e),
            }
            if let Err(e) = destroy(dom.0, self.ctx) {
                res = res.and(Err(format!("destroy: {}", ename(e))));
            }
        }
        self.dom = None;
        for fd in [self.file, self.evfd, self.pipe[0], self.pipe[1]] {
            close_fd(fd);
        }
        (self.file, self.evfd, self.pipe) = (-1, -1, [-1, -1]);
        res
    }
}

// ---------------------------------------------------------------------------------------------
// getevents

/// `io_getevents(min 3, nr 3, timeout)` with 3 completed events in the ring (`wait`: false), or
/// with one delay that completes while the call sleeps (`wait`: true). A failed copy consumes
/// nothing: every event is delivered exactly once, by this call or the next.
pub struct Getevents {
    wait: bool,
    dom: Option<Dom>,
    ctx: u64,
    iocbs: Vec<Box<Iocb>>,
    evs: [IoEvent; 3],
}

impl Getevents {
    pub fn new(wait: bool) -> Getevents {
        Getevents { wait, dom: None, ctx: 0, iocbs: Vec::new(), evs: [IoEvent::default(); 3] }
    }
    fn n(&self) -> usize {
        if self.wait { 1 } else { 3 }
    }
    fn fd(&self) -> RawFd {
        self.dom.as_ref().map_or(-1, |d| d.0)
    }
}

impl Scenario for Getevents {
    fn name(&self) -> String {
        if self.wait { "getevents (sleeping)".into() } else { "getevents (3 ready)".into() }
    }
    fn begin(&mut self) -> Res {
        let dom = Dom::open()?;
        self.ctx = setup(dom.0, CTX_NR).map_err(|e| format!("setup: {}", ename(e)))?;
        self.dom = Some(dom);
        Ok(())
    }
    fn prepare(&mut self) -> Res {
        let fd = self.fd();
        let ns = if self.wait { 30_000_000 } else { 0 };
        self.iocbs = (0..self.n()).map(|i| Box::new(Iocb::delay(ns, fd).with_data(i as u64 + 1))).collect();
        let ptrs: Vec<*mut Iocb> = self.iocbs.iter_mut().map(|b| &mut **b as *mut Iocb).collect();
        match submit(fd, self.ctx, &ptrs) {
            Ok(n) if n as usize == self.n() => {}
            r => return Err(format!("submit: {}", rstr(&r))),
        }
        if !self.wait {
            wait_pending(self.ctx, self.n() as u32)?;
        }
        self.evs = [IoEvent::default(); 3];
        Ok(())
    }
    fn op(&mut self) -> Ret {
        let n = self.n();
        getevents(self.fd(), self.ctx, n, &mut self.evs[..n], Some(Duration::from_secs(20)))
    }
    fn failed(&self, r: &Ret) -> bool {
        *r != Ok(self.n() as i64)
    }
    fn check(&mut self, kind: Kind, r: Ret, injected: bool) -> Res {
        let n = self.n();
        let got = match r {
            Ok(g) if g as usize == n => n,
            Ok(g) if injected && (0..n as i64).contains(&g) => g as usize,
            Ok(g) => return Err(format!("getevents(min {n}) returns {g}")),
            Err(e) => {
                expect_err(e, injected, kind, if kind.is_alloc() { &[] } else { LOOKUP_COPY })?;
                0
            }
        };
        let mut all: Vec<IoEvent> = self.evs[..got].to_vec();
        all.extend(collect(self.fd(), self.ctx, n - got, Duration::from_secs(20))
            .map_err(|m| format!("after getevents returned {}: {m}", rstr(&r)))?);
        let mut datas: Vec<u64> = all.iter().map(|e| e.data).collect();
        datas.sort_unstable();
        if datas != (1..=n as u64).collect::<Vec<_>>() || all.iter().any(|e| e.res != 0) {
            return Err(format!("events delivered (this call and the next): data {datas:?}, expected each of 1..={n} once"));
        }
        smoke_ctx(self.fd(), self.ctx)?;
        expect_nr(u64::from(CTX_NR))
    }
    fn end(&mut self) -> Res {
        let r = destroy(self.fd(), self.ctx).map(drop).map_err(|e| format!("destroy: {}", ename(e)));
        self.dom = None;
        r
    }
}

// ---------------------------------------------------------------------------------------------
// cancel

/// `io_cancel` of a long delay: `EINPROGRESS`, or `EFAULT` for a failed copy, after which the
/// request is still in flight and cancellable. Exactly one `-ECANCELED` event either way.
pub struct Cancel {
    dom: Option<Dom>,
    ctx: u64,
    iocb: Box<Iocb>,
}

impl Cancel {
    pub fn new() -> Cancel {
        Cancel { dom: None, ctx: 0, iocb: Box::new(Iocb::default()) }
    }
    fn fd(&self) -> RawFd {
        self.dom.as_ref().map_or(-1, |d| d.0)
    }
}

impl Scenario for Cancel {
    fn name(&self) -> String {
        "cancel".into()
    }
    fn begin(&mut self) -> Res {
        let dom = Dom::open()?;
        self.ctx = setup(dom.0, CTX_NR).map_err(|e| format!("setup: {}", ename(e)))?;
        self.dom = Some(dom);
        Ok(())
    }
    fn prepare(&mut self) -> Res {
        *self.iocb = Iocb::delay(LONG_NS, self.fd()).with_data(9);
        let (fd, ctx) = (self.fd(), self.ctx);
        match submit1(fd, ctx, &mut self.iocb) {
            Ok(1) => Ok(()),
            r => Err(format!("submit: {}", rstr(&r))),
        }
    }
    fn op(&mut self) -> Ret {
        cancel(self.fd(), self.ctx, &mut *self.iocb)
    }
    fn failed(&self, r: &Ret) -> bool {
        *r != Err(libc::EINPROGRESS)
    }
    fn check(&mut self, kind: Kind, r: Ret, injected: bool) -> Res {
        let (fd, ctx) = (self.fd(), self.ctx);
        match r {
            Err(libc::EINPROGRESS) => {}
            Ok(v) => return Err(format!("cancel returns {v}, expected EINPROGRESS")),
            Err(e) => {
                expect_err(e, injected, kind, if kind.is_alloc() { &[] } else { LOOKUP_COPY })?;
                match cancel(fd, ctx, &mut *self.iocb) {
                    Err(libc::EINPROGRESS) => {}
                    r2 => return Err(format!("after a failed cancel ({}), cancelling again gives {}", ename(e), rstr(&r2))),
                }
            }
        }
        let evs = collect(fd, ctx, 1, Duration::from_secs(20))?;
        if evs[0].data != 9 || evs[0].res != -ECANCELED {
            return Err(format!("cancelled delay: event data {} res {}", evs[0].data, evs[0].res));
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

// ---------------------------------------------------------------------------------------------
// destroy

/// `io_destroy` of a context with a long delay in flight and an unread event: 0 (and then
/// nothing is left), or `EFAULT` for a failed copy (and then the context is still alive and
/// usable). Linux's io_destroy cannot fail for want of memory.
pub struct Destroy {
    dom: Option<Dom>,
    ctx: u64,
    iocbs: Vec<Box<Iocb>>,
}

impl Destroy {
    pub fn new() -> Destroy {
        Destroy { dom: None, ctx: 0, iocbs: Vec::new() }
    }
    fn fd(&self) -> RawFd {
        self.dom.as_ref().map_or(-1, |d| d.0)
    }
}

impl Scenario for Destroy {
    fn name(&self) -> String {
        "destroy".into()
    }
    fn begin(&mut self) -> Res {
        self.dom = Some(Dom::open()?);
        Ok(())
    }
    fn prepare(&mut self) -> Res {
        let fd = self.fd();
        self.ctx = setup(fd, CTX_NR).map_err(|e| format!("setup: {}", ename(e)))?;
        self.iocbs = vec![Box::new(Iocb::delay(LONG_NS, fd).with_data(1)), Box::new(Iocb::delay(0, fd).with_data(2))];
        let ptrs: Vec<*mut Iocb> = self.iocbs.iter_mut().map(|b| &mut **b as *mut Iocb).collect();
        match submit(fd, self.ctx, &ptrs) {
            Ok(2) => {}
            r => return Err(format!("submit: {}", rstr(&r))),
        }
        wait_pending(self.ctx, 1)
    }
    fn op(&mut self) -> Ret {
        destroy(self.fd(), self.ctx)
    }
    fn check(&mut self, kind: Kind, r: Ret, injected: bool) -> Res {
        let fd = self.fd();
        match r {
            Ok(0) => {}
            Ok(v) => return Err(format!("destroy returns {v}")),
            Err(e) => {
                expect_err(e, injected, kind, if kind.is_alloc() { &[] } else { LOOKUP_COPY })?;
                expect_nr(u64::from(CTX_NR)).map_err(|m| format!("after a failed destroy: {m}"))?;
                expect_maps(1).map_err(|m| format!("after a failed destroy: {m}"))?;
                // The unread event, then a new request.
                let evs = collect(fd, self.ctx, 1, Duration::from_secs(20))?;
                if evs[0].data != 2 {
                    return Err(format!("after a failed destroy: event data {}", evs[0].data));
                }
                smoke_ctx(fd, self.ctx)?;
                destroy(fd, self.ctx).map_err(|e| format!("destroy after a failed destroy: {}", ename(e)))?;
            }
        }
        expect_nr(0)?;
        expect_maps(0)?;
        // The id is dead.
        let mut iocb = Iocb::delay(0, fd);
        match submit1(fd, self.ctx, &mut iocb) {
            Err(libc::EINVAL) => {}
            r => return Err(format!("submit to a destroyed context gives {}", rstr(&r))),
        }
        smoke_dom(fd)
    }
    fn end(&mut self) -> Res {
        self.dom = None;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// release (the last close)

/// The last reference to the file goes (rings unmapped, then the fd closed) while two contexts
/// have requests in flight and unread events: the release tears everything down.
pub struct Release {
    dom: Option<Dom>,
    ctxs: Vec<u64>,
    iocbs: Vec<Box<Iocb>>,
}

impl Release {
    pub fn new() -> Release {
        Release { dom: None, ctxs: Vec::new(), iocbs: Vec::new() }
    }
}

impl Scenario for Release {
    fn name(&self) -> String {
        "release (munmap rings + close)".into()
    }
    fn prepare(&mut self) -> Res {
        let dom = Dom::open()?;
        self.ctxs.clear();
        self.iocbs.clear();
        for nr in [16, 32] {
            let ctx = setup(dom.0, nr).map_err(|e| format!("setup: {}", ename(e)))?;
            let mut iocbs = vec![Box::new(Iocb::delay(LONG_NS, dom.0)), Box::new(Iocb::delay(0, dom.0))];
            let ptrs: Vec<*mut Iocb> = iocbs.iter_mut().map(|b| &mut **b as *mut Iocb).collect();
            match submit(dom.0, ctx, &ptrs) {
                Ok(2) => {}
                r => return Err(format!("submit: {}", rstr(&r))),
            }
            wait_pending(ctx, 1)?;
            self.ctxs.push(ctx);
            self.iocbs.extend(iocbs);
        }
        self.dom = Some(dom);
        Ok(())
    }
    fn op(&mut self) -> Ret {
        for &ctx in &self.ctxs {
            let (nr, _, _) = ring(ctx);
            // SAFETY: unmaps our own ring mapping, which nothing uses any more.
            unsafe { libc::munmap(ctx as *mut libc::c_void, ring_bytes(nr)) };
        }
        if let Some(d) = self.dom.as_mut() {
            d.close();
        }
        Ok(0)
    }
    fn check(&mut self, _kind: Kind, _r: Ret, _injected: bool) -> Res {
        self.dom = None;
        expect_clean()
    }
}

// ---------------------------------------------------------------------------------------------
// exit (the address space goes away)

/// A child with two contexts, requests in flight and unread events exits with its own
/// fail-nth armed: the mm teardown (exit_aio) and the release run in it.
pub struct Exit;

/// Runs in the forked child: raw system calls only, no allocation.
fn exit_child(ready: RawFd, go: RawFd) -> ! {
    let ok = (|| {
        let fd = kaio::raw::open().map_err(|_| ())?;
        for nr in [16u32, 32] {
            let mut ctx = 0u64;
            kaio::raw::setup(fd, nr, &mut ctx).map_err(|_| ())?;
            let mut a = Iocb::delay(LONG_NS, fd);
            let mut b = Iocb::delay(0, fd);
            let ptrs = [&mut a as *mut Iocb, &mut b as *mut Iocb];
            if submit(fd, ctx, &ptrs) != Ok(2) {
                return Err(());
            }
            // The iocbs are not touched by the kernel after submit: leaving the frame is fine.
            while ring_pending(ctx) < 1 {
                // SAFETY: plain system call.
                unsafe { libc::usleep(2000) };
            }
        }
        Ok(())
    })()
    .is_ok();
    // SAFETY: raw system calls on our own fds and buffers.
    unsafe {
        // Report, and open our fail-nth for the parent to arm: it writes the count into it
        // through /proc/<pid>/task/<pid>/fail-nth before saying go.
        libc::write(ready, if ok { b"R".as_ptr() } else { b"E".as_ptr() }.cast(), 1);
        let mut b = [0u8; 1];
        libc::read(go, b.as_mut_ptr().cast(), 1);
        libc::_exit(0)
    }
}

impl Scenario for Exit {
    fn name(&self) -> String {
        "exit (mm teardown + release)".into()
    }
    fn call(&mut self, _fi: &Fi, k: u32) -> Result<(Ret, bool), String> {
        let (mut r, mut g) = ([0; 2], [0; 2]);
        // SAFETY: fill two-element arrays.
        unsafe {
            libc::pipe2(r.as_mut_ptr(), libc::O_CLOEXEC);
            libc::pipe2(g.as_mut_ptr(), libc::O_CLOEXEC);
        }
        // SAFETY: the child runs only async-signal-safe code (raw system calls).
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            exit_child(r[1], g[0]);
        }
        close_fd(r[1]);
        close_fd(g[0]);
        let mut b = [0u8; 1];
        // SAFETY: reads one byte into a live buffer.
        let n = unsafe { libc::read(r[0], b.as_mut_ptr().cast(), 1) };
        close_fd(r[0]);
        let result = (|| {
            if n != 1 || b[0] != b'R' {
                return Err("the child could not set up its contexts".to_string());
            }
            // Arm the child's fail-nth from here: the file names the child's task.
            let p = format!("/proc/{pid}/task/{pid}/fail-nth");
            let f = std::fs::OpenOptions::new().read(true).write(true).open(&p).map_err(|e| format!("open {p}: {e}"))?;
            let s = k.to_string();
            // SAFETY: writes from a live buffer.
            if unsafe { libc::write(std::os::fd::AsRawFd::as_raw_fd(&f), s.as_ptr().cast(), s.len()) } != s.len() as isize {
                return Err(format!("write {p}"));
            }
            // SAFETY: writes one byte from a literal; the child exits.
            unsafe { libc::write(g[1], b"G".as_ptr().cast(), 1) };
            // Wait for the zombie without reaping it: its fail-nth is still readable.
            // SAFETY: waits for our own child into a zeroed siginfo.
            let mut si: libc::siginfo_t = unsafe { std::mem::zeroed() };
            if unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut si, libc::WEXITED | libc::WNOWAIT) } != 0 {
                return Err("waitid".into());
            }
            let mut buf = [0u8; 16];
            // SAFETY: reads into a live buffer.
            let got = unsafe { libc::pread(std::os::fd::AsRawFd::as_raw_fd(&f), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if got < 1 {
                return Err(format!("read {p} of the exited child"));
            }
            Ok(buf[0] == b'0')
        })();
        close_fd(g[1]);
        let mut status = 0;
        // SAFETY: reaps our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        Ok((Ok(0), result?))
    }
    fn check(&mut self, _kind: Kind, _r: Ret, _injected: bool) -> Res {
        expect_clean().map_err(|m| format!("after the child exited: {m}"))
    }
}
