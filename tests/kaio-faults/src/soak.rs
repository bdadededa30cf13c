//! The soak: a random sequence of calls (submit delays and reads, getevents or pgetevents,
//! cancel or cancel_match, setup/destroy) while every kaio allocation and user copy of this task fails with some
//! probability (`probability`, `interval`, `times`, `space`, with `task-filter` and this
//! thread's make-it-fail; the stack filter still limits faults to kaio). Every error must be
//! one Linux gives for that call, every accepted request must complete exactly once, and at
//! the end (faults off) everything drains and nothing is left.
//!
//! Which of io_cancel / KAIO_IOC_CANCEL_MATCH and getevents / pgetevents a step makes comes from
//! a second generator: the first one draws exactly what it drew before these calls existed.

use crate::fi::{Fi, KINDS};
use crate::scenarios_v2::{cancel_match, match_args, thread_mask, SENTINEL};
use crate::util::*;
use kaio::uapi::*;
use std::collections::{BTreeMap, VecDeque};
use std::os::fd::RawFd;
use std::time::Duration;

pub const PERCENT: u32 = 10;
/// Submit under faults: EAGAIN (the request), EFAULT (a copy), EINVAL (the lookup's read of
/// ring->id: "no such context" is EINVAL in Linux).
const LOOKUP: &[i32] = &[libc::EAGAIN, libc::EFAULT, libc::EINVAL];
const TIMES: i32 = 1000;
/// The seed of the bounded soak in `make check`.
pub const SEED: u64 = 0x6b61_696f_6661_756c;
/// Calls between two re-armings of the random faults (each arming allows `TIMES` per kind).
const REARM: u32 = 200;

/// How long the soak runs: a number of calls, or (for long runs) until a deadline.
pub enum Length {
    Calls(u32),
    Until(std::time::Instant),
}

pub struct SoakResult {
    pub calls: u32,
    /// Of the steps: historical bug scenarios run (scribbled ring, moved ring, faulting ctxp).
    pub history: [u32; 3],
    /// Calls that returned an error.
    pub errors: u32,
    pub counts: [u32; 3],
    /// Of the calls: CANCEL_MATCH, PGETEVENTS.
    pub v2: [u32; 2],
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Short,
    Long { cancelled: bool },
    /// A long delay a failed CANCEL_MATCH may or may not have cancelled.
    LongMaybe,
    Read(u64),
}

struct Req {
    kind: Kind,
    iocb: Box<Iocb>,
    buf: Box<[u8; 512]>,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn allowed(what: &str, r: &Ret, ok: &[i32]) -> Res {
    match r {
        Err(e) if !ok.contains(e) => Err(format!("{what} fails with {} under random faults", ename(*e))),
        _ => Ok(()),
    }
}

struct State {
    fd: i32,
    ctx: u64,
    file: i32,
    reqs: BTreeMap<u64, Req>,
    next: u64,
    extra: Vec<u64>,
    log: VecDeque<String>,
    errors: u32,
    /// Picks io_cancel or CANCEL_MATCH, getevents or pgetevents.
    rng2: Rng,
    /// RESULT calls that returned EFAULT with the event written to `*result` (and not posted):
    /// the caller is told it failed (ABI.md: in RESULT mode EFAULT means the event is in the
    /// ring).
    lost: Vec<String>,
    /// CANCEL_MATCH and PGETEVENTS calls made.
    v2: [u32; 2],
    /// History scenarios run, per kind.
    history: [u32; 3],
}

impl State {
    fn note(&mut self, s: String) {
        if s.contains(": E") && !s.ends_with("EINPROGRESS") {
            self.errors += 1;
        }
        if self.log.len() == 12 {
            self.log.pop_front();
        }
        self.log.push_back(s);
    }

    /// Checks one event against what was submitted, and forgets the request.
    fn complete(&mut self, ev: &IoEvent) -> Res {
        let Some(req) = self.reqs.remove(&ev.data) else {
            return Err(format!("event for unknown or already completed request data {} (res {})", ev.data, ev.res));
        };
        if ev.obj != &*req.iocb as *const Iocb as u64 {
            return Err(format!("event obj {:#x} is not the iocb's address", ev.obj));
        }
        let ok = match req.kind {
            Kind::Short => ev.res == 0,
            Kind::Long { cancelled } => cancelled && ev.res == -ECANCELED,
            Kind::LongMaybe => ev.res == -ECANCELED,
            Kind::Read(off) => {
                let full = ev.res == 512;
                let fault = ev.res == -(libc::EFAULT as i64) || ev.res == -(libc::ENOMEM as i64) || (0..512).contains(&ev.res);
                let n = ev.res.max(0) as usize;
                let data_ok = (0..n).all(|i| req.buf[i] == pattern(off as usize + i));
                (full || fault) && data_ok
            }
        };
        if !ok {
            return Err(format!("{:?} request completed with res {}", req.kind, ev.res));
        }
        Ok(())
    }

    fn step(&mut self, rng: &mut Rng) -> Res {
        self.one_step(rng)?;
        // One step in 16 is also one of fs/aio.c's historical bug scenarios (tests/aio-bugs.md)
        // under the same faults, drawn from the second generator.
        if self.rng2.below(16) == 0 {
            self.history()?;
        }
        Ok(())
    }

    fn one_step(&mut self, rng: &mut Rng) -> Res {
        let (fd, ctx) = (self.fd, self.ctx);
        let busy = self.reqs.len() > 48;
        match rng.below(8) {
            0 | 1 if !busy => {
                let n = 1 + rng.below(3) as usize;
                let mut batch: Vec<Req> = (0..n)
                    .map(|i| Req {
                        kind: Kind::Short,
                        iocb: Box::new(Iocb::delay(rng.below(2_000_000) as i64, fd).with_data(self.next + i as u64)),
                        buf: Box::new([0; 512]),
                    })
                    .collect();
                let ptrs: Vec<*mut Iocb> = batch.iter_mut().map(|r| &mut *r.iocb as *mut Iocb).collect();
                let r = submit(fd, ctx, &ptrs);
                self.note(format!("submit {n} short delays: {}", rstr(&r)));
                allowed("submit of delays", &r, LOOKUP)?;
                let accepted = r.unwrap_or(0) as usize;
                if accepted > n {
                    return Err(format!("submit of {n} returns {accepted}"));
                }
                for req in batch.into_iter().take(accepted) {
                    self.reqs.insert(req.iocb.aio_data, req);
                }
                self.next += n as u64;
            }
            2 if !busy => {
                let mut req = Req {
                    kind: Kind::Long { cancelled: false },
                    iocb: Box::new(Iocb::delay(LONG_NS, fd).with_data(self.next)),
                    buf: Box::new([0; 512]),
                };
                self.next += 1;
                let r = submit1(fd, ctx, &mut req.iocb);
                self.note(format!("submit long delay {}: {}", req.iocb.aio_data, rstr(&r)));
                allowed("submit of a delay", &r, LOOKUP)?;
                if r == Ok(1) {
                    self.reqs.insert(req.iocb.aio_data, req);
                }
            }
            3 if !busy => {
                let off = rng.below(127) * 512;
                let mut req = Req { kind: Kind::Read(off), iocb: Box::new(Iocb::default()), buf: Box::new([0; 512]) };
                *req.iocb = Iocb::pread(self.file, &mut req.buf[..], off as i64).with_data(self.next);
                self.next += 1;
                let r = submit1(fd, ctx, &mut req.iocb);
                self.note(format!("submit pread {}: {}", req.iocb.aio_data, rstr(&r)));
                allowed("submit of a read", &r, LOOKUP)?;
                if r == Ok(1) {
                    self.reqs.insert(req.iocb.aio_data, req);
                }
            }
            4 | 5 => {
                let min = rng.below(2) as usize;
                let mut evs = [IoEvent::default(); 8];
                let r = if self.rng2.below(2) == 0 {
                    let r = getevents(fd, ctx, min, &mut evs, Some(Duration::from_millis(5)));
                    self.note(format!("getevents(min {min}): {}", rstr(&r)));
                    r
                } else {
                    let mask: u64 = 1 << (libc::SIGUSR2 - 1);
                    let ts = KernelTimespec { tv_sec: 0, tv_nsec: 5_000_000 };
                    let a = kaio_pgetevents_args {
                        ctx_id: ctx,
                        min_nr: min as i64,
                        nr: 8,
                        events: evs.as_mut_ptr() as u64,
                        timeout: &ts as *const KernelTimespec as u64,
                        sigmask: &mask as *const u64 as u64,
                        sigsetsize: 8,
                    };
                    let before = thread_mask();
                    self.v2[1] += 1;
                    // SAFETY: the block and every pointer in it are live locals.
                    let r = unsafe { kaio::raw::ioctl(fd, KAIO_IOC_PGETEVENTS, &a) };
                    self.note(format!("pgetevents(min {min}, mask): {}", rstr(&r)));
                    if thread_mask() != before {
                        return Err(format!("pgetevents returned {} with the signal mask {:#x} (was {before:#x})", rstr(&r), thread_mask()));
                    }
                    r
                };
                allowed("getevents", &r, &[libc::EFAULT, libc::EINVAL])?;
                for ev in &evs[..r.unwrap_or(0) as usize] {
                    self.complete(ev)?;
                }
            }
            6 => {
                let longs: Vec<u64> = self
                    .reqs
                    .iter()
                    .filter(|(_, r)| r.kind == Kind::Long { cancelled: false })
                    .map(|(d, _)| *d)
                    .collect();
                if longs.is_empty() {
                    return Ok(());
                }
                let d = longs[rng.below(longs.len() as u64) as usize];
                if self.rng2.below(2) == 1 {
                    return self.cancel_match(d);
                }
                let req = self.reqs.get_mut(&d).expect("listed");
                let r = cancel(fd, ctx, &mut *req.iocb);
                if r == Err(libc::EINPROGRESS) {
                    req.kind = Kind::Long { cancelled: true };
                }
                self.note(format!("cancel {d}: {}", rstr(&r)));
                allowed("cancel", &r, &[libc::EINPROGRESS, libc::EFAULT, libc::EINVAL])?;
                if r.is_ok() {
                    return Err("cancel returned success instead of EINPROGRESS".into());
                }
            }
            _ => {
                if self.extra.len() < 3 && rng.below(2) == 0 {
                    let mut id = 0u64;
                    let r = kaio::raw::setup(fd, 8, &mut id);
                    self.note(format!("setup: {}", rstr(&r)));
                    allowed("setup", &r, &[libc::ENOMEM, libc::EFAULT])?;
                    if r.is_ok() {
                        self.extra.push(id);
                    } else if id != 0 {
                        return Err("a failed setup wrote a ctx id".into());
                    }
                } else if let Some(&id) = self.extra.last() {
                    let r = destroy(fd, id);
                    self.note(format!("destroy: {}", rstr(&r)));
                    allowed("destroy", &r, &[libc::EFAULT, libc::EINVAL])?;
                    if r.is_ok() {
                        self.extra.pop();
                    }
                }
            }
        }
        Ok(())
    }

    /// KAIO_IOC_CANCEL_MATCH of long delay `d` (not cancelled yet): by data, by iocb, by data
    /// with WAIT (nothing to wait for: a delay is cancellable), by iocb with RESULT; or, instead,
    /// every request on the data file (reads, which cannot be cancelled: none is touched).
    fn cancel_match(&mut self, d: u64) -> Res {
        let (fd, ctx) = (self.fd, self.ctx);
        let variant = self.rng2.below(5);
        let iocb = &*self.reqs[&d].iocb as *const Iocb as u64;
        let ts = KernelTimespec { tv_sec: 0, tv_nsec: 5_000_000 };
        let mut ev = IoEvent { data: !0, obj: !0, res: !0, res2: !0 };
        let untouched = ev;
        let mut a = match variant {
            0 => match_args(ctx, KAIO_CANCEL_DATA, d),
            1 => match_args(ctx, KAIO_CANCEL_IOCB, iocb),
            2 => match_args(ctx, KAIO_CANCEL_DATA | KAIO_CANCEL_WAIT, d),
            3 => match_args(ctx, KAIO_CANCEL_IOCB | KAIO_CANCEL_RESULT, iocb),
            _ => match_args(ctx, KAIO_CANCEL_FD | KAIO_CANCEL_ALL, 0),
        };
        a.timeout = &ts as *const KernelTimespec as u64;
        a.result = &mut ev as *mut IoEvent as u64;
        a.fd = self.file;
        self.v2[0] += 1;
        let r = cancel_match(fd, &mut a);
        let what = ["data", "iocb", "data+WAIT", "iocb+RESULT", "FD(file)+ALL"][variant as usize];
        self.note(format!("cancel_match {what} {d}: {} nr_running {:#x}", rstr(&r), a.nr_running));
        allowed("cancel_match", &r, &[libc::EFAULT, libc::EINVAL, libc::ENOENT, libc::EALREADY])?;
        if matches!(r, Ok(_)) && a.nr_running != 0 {
            return Err(format!("cancel_match {what} returned {} with nr_running {}", rstr(&r), a.nr_running));
        }
        if variant == 4 {
            // Only reads run on the file, and they complete inside the submit (tmpfs).
            if !matches!(r, Err(libc::ENOENT) | Err(libc::EALREADY) | Err(libc::EFAULT) | Err(libc::EINVAL)) {
                return Err(format!("cancel_match of the file's requests returned {}", rstr(&r)));
            }
            return Ok(());
        }
        let req = self.reqs.get_mut(&d).expect("listed");
        match r {
            Ok(1) if variant != 3 => req.kind = Kind::Long { cancelled: true },
            Ok(0) if variant == 3 => {
                req.kind = Kind::Long { cancelled: true };
                return self.complete(&ev).map_err(|e| format!("the RESULT event: {e}"));
            }
            Ok(v) => return Err(format!("cancel_match {what} of one delay returned {v}")),
            Err(libc::ENOENT) => return Err(format!("cancel_match {what}: ENOENT for a delay in flight")),
            Err(libc::EALREADY) => return Err(format!("cancel_match {what}: EALREADY for a delay")),
            Err(e) => {
                if variant == 3 && ev != untouched {
                    // In *result, and the caller is told the call failed.
                    let nr = if a.nr_running == SENTINEL { "untouched".to_string() } else { a.nr_running.to_string() };
                    self.lost.push(format!("cancel_match iocb+RESULT of delay {d}: {} with the event in *result, nr_running {nr}", ename(e)));
                    req.kind = Kind::Long { cancelled: true };
                    return self.complete(&ev).map_err(|e| format!("the RESULT event: {e}"));
                }
                req.kind = Kind::LongMaybe;
            }
        }
        Ok(())
    }

    /// One historical bug scenario, on a context of its own, under the soak's faults:
    /// 0. "aio: Fix a trinity splat" / "block io_destroy() until all context requests are
    ///    completed": RESFD requests in flight, head and tail scribbled, a getevents from the
    ///    garbage, destroy: every accepted request's eventfd count is there when destroy
    ///    returns, none comes later.
    /// 1. The ring moved by mremap with requests in flight, then destroyed by its new address:
    ///    the old address is no handle, no ring stays mapped.
    /// 2. io_setup with a read-only `ctxp`: EFAULT (or ENOMEM), never a context, nothing mapped.
    fn history(&mut self) -> Res {
        let fd = self.fd;
        let kind = self.rng2.below(3) as usize;
        self.history[kind] += 1;
        let maps = kaio_maps();
        match kind {
            0 => {
                // SAFETY: a plain system call.
                let efd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
                if efd < 0 {
                    return Err(format!("eventfd: {}", ename(errno())));
                }
                let r = self.history_scribbled(efd);
                close_fd(efd);
                r?;
            }
            1 => self.history_moved()?,
            _ => {
                // SAFETY: a fresh anonymous page, made read-only; unmapped below.
                let page = unsafe {
                    libc::mmap(std::ptr::null_mut(), 4096, libc::PROT_READ, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0)
                };
                if page == libc::MAP_FAILED {
                    return Err(format!("mmap: {}", ename(errno())));
                }
                let r = kaio::raw::setup(fd, 8, page.cast());
                // SAFETY: the page mapped above.
                unsafe { libc::munmap(page, 4096) };
                self.note(format!("history: setup into a read-only ctxp: {}", rstr(&r)));
                allowed("setup into a read-only ctxp", &r, &[libc::EFAULT, libc::ENOMEM])?;
                if r.is_ok() {
                    return Err("setup into a read-only ctxp succeeded".into());
                }
            }
        }
        if kaio_maps() != maps {
            return Err(format!("history scenario {kind}: {} ring mappings after it, {maps} before", kaio_maps()));
        }
        Ok(())
    }

    /// Destroys `id`, again while an injected fault makes it fail (it must fail only as Linux
    /// can: EFAULT or EINVAL from the lookup's copy).
    fn destroy_retrying(&mut self, id: u64, what: &str) -> Res {
        for _ in 0..64 {
            let r = destroy(self.fd, id);
            self.note(format!("history: destroy {what}: {}", rstr(&r)));
            allowed("destroy", &r, &[libc::EFAULT, libc::EINVAL])?;
            if r.is_ok() {
                return Ok(());
            }
        }
        Err(format!("destroy {what}: failed 64 times in a row"))
    }

    /// io_setup for a history scenario's own context: its id, or `None` when an injected fault
    /// made it fail as Linux can (ENOMEM, EFAULT).
    fn history_setup(&mut self, nr: u32, what: &str) -> Result<Option<u64>, String> {
        let mut id = 0u64;
        let r = kaio::raw::setup(self.fd, nr, &mut id);
        self.note(format!("history: setup ({what}): {}", rstr(&r)));
        allowed("setup", &r, &[libc::ENOMEM, libc::EFAULT])?;
        Ok(r.is_ok().then_some(id))
    }

    fn history_scribbled(&mut self, efd: RawFd) -> Res {
        let fd = self.fd;
        let Some(id) = self.history_setup(16, "scribbled ring")? else { return Ok(()) };
        let mut iocbs: Vec<Box<Iocb>> = (0..9u64)
            .map(|i| {
                let ns = if i < 6 { self.rng2.below(3_000_000) as i64 } else { LONG_NS };
                Box::new(Iocb::delay(ns, fd).with_data(i).with_resfd(efd))
            })
            .collect();
        let ptrs: Vec<*mut Iocb> = iocbs.iter_mut().map(|b| &mut **b as *mut Iocb).collect();
        let r = submit(fd, id, &ptrs);
        self.note(format!("history: submit 9 RESFD delays: {}", rstr(&r)));
        allowed("submit", &r, LOOKUP)?;
        let accepted = r.unwrap_or(0) as u64;
        let p = id as *mut u32;
        // SAFETY: the ring of live context `id` is mapped at `id`; head and tail are words 2
        // and 3 of its header, which user space may write (the kernel must cope).
        unsafe {
            std::ptr::write_volatile(p.add(2), self.rng2.next() as u32);
            std::ptr::write_volatile(p.add(3), self.rng2.next() as u32);
        }
        let mut evs = [IoEvent::default(); 8];
        let r = getevents(fd, id, 0, &mut evs, Some(Duration::ZERO));
        self.note(format!("history: getevents from the scribbled ring: {}", rstr(&r)));
        allowed("getevents", &r, &[libc::EFAULT, libc::EINVAL])?;
        self.destroy_retrying(id, "of the scribbled ring")?;
        let mut count = 0u64;
        // SAFETY: reads 8 bytes into `count` from our eventfd (non-blocking).
        let n = unsafe { libc::read(efd, (&mut count as *mut u64).cast(), 8) };
        let got = if n == 8 { count } else { 0 };
        if got != accepted {
            return Err(format!("scribbled ring: io_destroy returned with {got} of {accepted} eventfd counts"));
        }
        std::thread::sleep(Duration::from_millis(4));
        // SAFETY: as above.
        let n = unsafe { libc::read(efd, (&mut count as *mut u64).cast(), 8) };
        if n == 8 {
            return Err(format!("scribbled ring: {count} eventfd count(s) after io_destroy returned"));
        }
        drop(iocbs);
        Ok(())
    }

    fn history_moved(&mut self) -> Res {
        let fd = self.fd;
        let Some(id) = self.history_setup(8, "moved ring")? else { return Ok(()) };
        let mut iocbs: Vec<Box<Iocb>> = (0..2u64).map(|i| Box::new(Iocb::delay(LONG_NS, fd).with_data(i))).collect();
        let ptrs: Vec<*mut Iocb> = iocbs.iter_mut().map(|b| &mut **b as *mut Iocb).collect();
        let r = submit(fd, id, &ptrs);
        self.note(format!("history: submit 2 long delays: {}", rstr(&r)));
        allowed("submit", &r, LOOKUP)?;
        let len = mapping_len(id).ok_or_else(|| format!("no ring mapped at {id:#x}"))?;
        // SAFETY: reserves a fresh range for the move (no access).
        let to = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_NONE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0) };
        if to == libc::MAP_FAILED {
            return Err(format!("mmap: {}", ename(errno())));
        }
        // SAFETY: moves this process's ring mapping onto the range reserved above; nothing in
        // Rust's view points into either.
        let moved = unsafe { libc::mremap(id as *mut libc::c_void, len, len, libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED, to) };
        if moved == libc::MAP_FAILED {
            let e = errno();
            // SAFETY: the reserved range, still ours.
            unsafe { libc::munmap(to, len) };
            return Err(format!("mremap of a ring: {}", ename(e)));
        }
        let new = moved as u64;
        self.destroy_retrying(new, "by the ring's new address")?;
        // An injected user-copy fault makes the call EFAULT before the lookup: ask again.
        let again = (0..64).map(|_| destroy(fd, id)).find(|r| *r != Err(libc::EFAULT)).unwrap_or(Err(libc::EFAULT));
        if again != Err(libc::EINVAL) {
            return Err(format!("the ring moved and its context destroyed: io_destroy by the old address = {}", rstr(&again)));
        }
        drop(iocbs);
        Ok(())
    }

    /// Faults off: cancels what is still in flight and collects every outstanding event.
    fn drain(&mut self) -> Res {
        let (fd, ctx) = (self.fd, self.ctx);
        let longs: Vec<u64> =
            self.reqs.iter().filter(|(_, r)| r.kind == Kind::Long { cancelled: false }).map(|(d, _)| *d).collect();
        for d in longs {
            let req = self.reqs.get_mut(&d).expect("listed");
            match cancel(fd, ctx, &mut *req.iocb) {
                Err(libc::EINPROGRESS) => req.kind = Kind::Long { cancelled: true },
                r => return Err(format!("cancelling long delay {d} at the end: {}", rstr(&r))),
            }
        }
        // Those a failed CANCEL_MATCH may have cancelled: EINVAL if it did.
        let maybe: Vec<u64> = self.reqs.iter().filter(|(_, r)| r.kind == Kind::LongMaybe).map(|(d, _)| *d).collect();
        for d in maybe {
            let req = self.reqs.get_mut(&d).expect("listed");
            match cancel(fd, ctx, &mut *req.iocb) {
                Err(libc::EINPROGRESS) | Err(libc::EINVAL) => {}
                r => return Err(format!("cancelling long delay {d} (maybe cancelled) at the end: {}", rstr(&r))),
            }
        }
        let n = self.reqs.len();
        for ev in collect(fd, ctx, n, Duration::from_secs(30)).map_err(|m| format!("draining {n} requests: {m}"))? {
            self.complete(&ev)?;
        }
        for id in std::mem::take(&mut self.extra) {
            destroy(fd, id).map_err(|e| format!("destroy of an extra context: {}", ename(e)))?;
        }
        smoke_ctx(fd, ctx)?;
        destroy(fd, ctx).map(drop).map_err(|e| format!("destroy: {}", ename(e)))
    }
}

pub fn run(fi: &Fi, kmsg: Option<&Kmsg>, seed: u64, length: Length) -> Result<SoakResult, String> {
    out_note(&format!("# site soak (seed {seed:#x})"));
    set_base_nr();
    let dom = Dom::open()?;
    let ctx = setup(dom.0, 32).map_err(|e| format!("setup: {}", ename(e)))?;
    let file = data_file(65536)?;
    let mut st = State {
        fd: dom.0,
        ctx,
        file,
        reqs: BTreeMap::new(),
        next: 1,
        extra: Vec::new(),
        log: VecDeque::new(),
        errors: 0,
        rng2: Rng(seed ^ 0x7632_7632_7632_7632),
        lost: Vec::new(),
        v2: [0, 0],
        history: [0; 3],
    };
    let mut rng = Rng(seed);
    fi.select(&KINDS)?;
    fi.random(PERCENT, 1, TIMES)?;
    fi.make_it_fail(true)?;
    let mut result = Ok(());
    let mut calls = 0;
    let mut splat = None;
    // Faults injected under earlier armings.
    let mut before = [0u32; 3];
    loop {
        match length {
            Length::Calls(n) if calls >= n => break,
            Length::Until(t) if std::time::Instant::now() >= t => break,
            _ => {}
        }
        if calls > 0 && calls % REARM == 0 {
            // A long soak would use up `times`: count what was injected and arm afresh.
            let left = fi.random_off()?;
            for i in 0..3 {
                before[i] += (TIMES - left[i]).max(0) as u32;
            }
            fi.random(PERCENT, 1, TIMES)?;
        }
        calls += 1;
        let r = st.step(&mut rng);
        if let Some(s) = kmsg.and_then(|m| m.scan().0) {
            if splat.is_none() {
                let last = st.log.back().cloned().unwrap_or_default();
                splat = Some(format!("the kernel logged a splat during call {calls} ({last}): {s}"));
            }
        }
        if let Err(e) = r {
            result = Err(e);
            break;
        }
    }
    let off = fi.make_it_fail(false).and_then(|_| fi.random_off());
    let _ = fi.select(&[]);
    let left = off?;
    let counts: [u32; 3] = std::array::from_fn(|i| before[i] + (TIMES - left[i]).max(0) as u32);
    if let Err(e) = result.and_then(|_| st.drain()) {
        drop(dom);
        unmap_all_rings();
        let trail: Vec<String> = st.log.iter().map(|l| format!("#     {l}")).collect();
        return Err(format!(
            "{e} (after {calls} calls; injected slab {} page {} usercopy {}; last calls:\n{})",
            counts[0],
            counts[1],
            counts[2],
            trail.join("\n")
        ));
    }
    drop(dom);
    close_fd(file);
    expect_clean()?;
    if let Some(s) = splat {
        return Err(s);
    }
    if !st.lost.is_empty() {
        return Err(format!(
            "{} RESULT call(s) returned an error with the event written to *result and not posted to the ring (the caller is told the call failed; ABI.md: an event is never lost), first: {} ({calls} calls, {} cancel_match, {} pgetevents; injected slab {} page {} usercopy {})",
            st.lost.len(),
            st.lost[0],
            st.v2[0],
            st.v2[1],
            counts[0],
            counts[1],
            counts[2]
        ));
    }
    Ok(SoakResult { calls, errors: st.errors, counts, v2: st.v2, history: st.history })
}

fn out_note(s: &str) {
    println!("{s}");
}
