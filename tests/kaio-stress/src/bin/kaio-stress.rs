//! `kaio-stress`: many threads mixing setup, submit (delays, and reads and writes of a tmpfs
//! file), cancel, getevents, destroy, closing the `/dev/kaio` fd, and fork (the child works and
//! exits with requests in flight), on shared contexts, for a bounded time, checking as it goes:
//!
//! - every event matches an accepted request of the context it was reaped from (by `aio_data`,
//!   a unique id), once: no duplicate, no event for an id never submitted or rejected;
//! - results: delays 0 or -ECANCELED (ECANCELED only after a cancel of that iocb, and always
//!   after one that returned EINPROGRESS), writes and reads their length, read data right;
//! - cancel returns only EINPROGRESS or EINVAL, at most once EINPROGRESS per request, never for
//!   a read/write/fsync, and never touches `result`;
//! - cancel_match (one request by iocb or data, ALL delays by opcode, ALL by file, ANY, WAIT with
//!   timeouts, RESULT) returns what ABI.md allows, with `nr_running` written back; a request it
//!   cancelled completes with -ECANCELED, an event it returned through RESULT counts as the
//!   request's one event (never also in the ring, no eventfd signal), and after a successful WAIT
//!   the request matched is no longer in flight;
//! - destroy returns only after every accepted request has completed: the eventfd (RESFD) of
//!   the context counts exactly the accepted requests when destroy returns, and nothing later;
//!   the same after the last reference to a domain's file is dropped (close + munmap);
//! - with some destroys the context is drained first: every accepted request must produce its
//!   event (none lost);
//! - fork children see none of the parent's contexts, and their exit waits for their requests
//!   (their eventfd count equals what they had accepted);
//! - rounds of fs/aio.c's bug history on contexts of their own (`op_history`): a scribbled ring
//!   torn down with RESFD requests in flight, a ring moved with requests in flight, an EFAULT
//!   `ctxp`, each with its own check;
//! - at the end `nr` is back to its value at the start.
//!
//! Events not reaped when a context is destroyed are discarded with its ring: they are
//! "accounted for by destroy" (the eventfd proves they completed).
//!
//! A context whose ring address may still be used by another thread when it is destroyed gets
//! a PROT_NONE placeholder at that address (setups are held off meanwhile), so that a stale
//! handle can never name a newer context; destroys that provably have no other user skip this
//! and race freely with setups.

use kaio::raw;
use kaio::uapi::*;
use kstress::*;
use kstress::mem;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::*};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

const USAGE: &str = "kaio-stress [--seconds N] [--seed S] [--threads T] [--iterations N] [--max-ctx N] [-v]";
const FILE_SIZE: usize = 1 << 20;
const MAX_BATCH: usize = 8;
const MAX_DOMAINS: usize = 3;
/// A context is retired after this many requests (bounds the bookkeeping).
const CTX_RETIRE_AFTER: u32 = 3000;

static PATTERN: OnceLock<Vec<u8>> = OnceLock::new();

fn pattern() -> &'static [u8] {
    PATTERN.get().expect("pattern")
}

// ---------------------------------------------------------------------------------------------
// Findings

#[derive(Clone, Copy, PartialEq, Eq)]
enum Cat {
    Events,
    Results,
    Returns,
    Cancel,
    Teardown,
    Fork,
    Internal,
}
const CATS: usize = 7;

struct Findings {
    lists: [Vec<String>; CATS],
    counts: [u64; CATS],
}

static FINDINGS: Mutex<Findings> = Mutex::new(Findings { lists: [const { Vec::new() }; CATS], counts: [0; CATS] });
static VERBOSE: AtomicBool = AtomicBool::new(false);

fn fail(cat: Cat, msg: String) {
    let mut f = FINDINGS.lock().unwrap_or_else(|e| e.into_inner());
    f.counts[cat as usize] += 1;
    if f.lists[cat as usize].len() < 25 {
        if VERBOSE.load(Relaxed) {
            eprintln!("finding: {msg}");
        }
        f.lists[cat as usize].push(msg);
    }
}

fn problems(cat: Cat) -> Vec<String> {
    let f = FINDINGS.lock().unwrap_or_else(|e| e.into_inner());
    let mut v = f.lists[cat as usize].clone();
    let n = f.counts[cat as usize];
    if n > v.len() as u64 {
        v.push(format!("... {} more", n - v.len() as u64));
    }
    v
}

// ---------------------------------------------------------------------------------------------
// Counters

const C_NAMES: &[&str] = &[
    "setup", "open", "submit_calls", "iocbs", "accepted", "submit_eagain", "getevents_calls", "events",
    "cancel_calls", "destroy_calls", "close_calls", "fork_calls",
    // races and outcomes
    "cancel_won", "cancel_lost_to_completion", "cancel_not_cancellable", "cancel_after_reap",
    "cancel_on_dead_ctx", "submit_einval_dying", "getevents_einval_dying", "destroy_lost_race",
    "completed_during_destroy", "discarded_with_ring", "drain_checks", "close_live_ctxs",
    "close_sync_release", "fork_children", "fork_child_inflight", "exclusive_destroys", "gated_destroys",
    "delays_res0", "delays_ecanceled", "cancel_then_completed_anyway",
    // cancel_match
    "cm_calls", "cm_cancelled_calls", "cm_cancelled_reqs", "cm_nr_running", "cm_result", "cm_result_efault",
    "cm_eagain", "cm_ealready", "cm_enoent", "cm_etime", "cm_einval_none", "cm_dying", "cm_wait_verified",
    "cm_one_iocb", "cm_one_data", "cm_result_calls", "cm_all_op", "cm_all_fd", "cm_any", "cm_wait_calls",
    // fs/aio.c history rounds
    "history_scribble", "history_move", "history_efault",
];
#[allow(non_camel_case_types, dead_code)]
#[derive(Clone, Copy)]
enum C {
    setup, open, submit_calls, iocbs, accepted, submit_eagain, getevents_calls, events,
    cancel_calls, destroy_calls, close_calls, fork_calls,
    cancel_won, cancel_lost_to_completion, cancel_not_cancellable, cancel_after_reap,
    cancel_on_dead_ctx, submit_einval_dying, getevents_einval_dying, destroy_lost_race,
    completed_during_destroy, discarded_with_ring, drain_checks, close_live_ctxs,
    close_sync_release, fork_children, fork_child_inflight, exclusive_destroys, gated_destroys,
    delays_res0, delays_ecanceled, cancel_then_completed_anyway,
    cm_calls, cm_cancelled_calls, cm_cancelled_reqs, cm_nr_running, cm_result, cm_result_efault,
    cm_eagain, cm_ealready, cm_enoent, cm_etime, cm_einval_none, cm_dying, cm_wait_verified,
    cm_one_iocb, cm_one_data, cm_result_calls, cm_all_op, cm_all_fd, cm_any, cm_wait_calls,
    history_scribble, history_move, history_efault,
}

// ---------------------------------------------------------------------------------------------
// The world

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Delay,
    Pwrite,
    Pread,
    Fsync,
    Fdsync,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Acc {
    Tentative,
    Accepted,
    Rejected,
}

struct Req {
    kind: Kind,
    iocb: Box<Iocb>,
    off: usize,
    len: usize,
    buf: Option<Box<[u8]>>,
    acc: Acc,
    reaped: u8,
    res: i64,
    cancel_attempts: u16,
    cancel_ok: u16,
}

#[derive(Default)]
struct CtxState {
    next_seq: u32,
    reqs: HashMap<u32, Req>,
    accepted: u32,
    reaped: u32,
    /// Events returned through KAIO_CANCEL_RESULT (in `reaped` too): their eventfd is not
    /// signalled.
    via_result: u32,
    /// cancel_match calls with ALL/ANY in progress: requests submitted meanwhile may be
    /// cancelled by them.
    matching: u32,
}

#[derive(Clone, Copy, Debug)]
enum Teardown {
    /// Still live.
    None,
    /// io_destroy returned 0; the eventfd total at that moment.
    Destroyed { evfd_total: u64 },
    /// The domain was closed; `Some(total)` if its file was released by our own close/munmap
    /// (no child held it), with the eventfd total right after; else final once the children
    /// forked before `fork_seq` are gone.
    Closed { evfd_total: Option<u64>, fork_seq: u64 },
}

struct Domain {
    serial: u64,
    fd: RwLock<Option<i32>>,
    /// Contexts not destroyed: their rings are mapped (close unmaps them).
    ctxs: Mutex<Vec<Arc<Ctx>>>,
}

struct Ctx {
    serial: u32,
    dom: Arc<Domain>,
    id: u64,
    size: usize,
    evfd: i32,
    st: Mutex<CtxState>,
    kill_started: AtomicBool,
    destroy_calls: AtomicU32,
    destroy_ok: AtomicU32,
    closing: AtomicBool,
    submitting: AtomicU32,
    placeholder: AtomicBool,
    evfd_total: AtomicU64,
    teardown: Mutex<Teardown>,
}

impl Ctx {
    fn take_evfd(&self) -> u64 {
        let v = eventfd_take(self.evfd);
        self.evfd_total.fetch_add(v, AcqRel) + v
    }
}

struct ChildProc {
    pid: i32,
    evfd: i32,
    pipe: i32,
    seq: u64,
}

struct World {
    file_fd: i32,
    cpus: u32,
    max_ctx: usize,
    domains: Mutex<Vec<Arc<Domain>>>,
    live: Mutex<Vec<Arc<Ctx>>>,
    retired: Mutex<Vec<Arc<Ctx>>>,
    addr_gate: RwLock<()>,
    fork_gate: RwLock<()>,
    children: Mutex<Vec<ChildProc>>,
    children_alive: AtomicU32,
    fork_seq: AtomicU64,
    next_ctx: AtomicU32,
    next_dom: AtomicU64,
    stop: AtomicBool,
    next_close: Mutex<Instant>,
    next_fork: Mutex<Instant>,
    /// For `op_history`: a read-only page holding 0 (a faulting `ctxp`), and a reserved
    /// PROT_NONE range a ring is moved onto (one round runs at a time).
    history_ro: u64,
    history_zone: u64,
    c: Counters,
}

impl World {
    fn count(&self, c: C) {
        self.c.add(c as usize, 1);
    }
    fn add(&self, c: C, n: u64) {
        self.c.add(c as usize, n);
    }

    fn pick_live(&self, rng: &mut Rng) -> Option<Arc<Ctx>> {
        let live = self.live.lock().unwrap();
        if live.is_empty() {
            None
        } else {
            Some(live[rng.below(live.len() as u64) as usize].clone())
        }
    }

    fn remove_live(&self, ctx: &Arc<Ctx>) -> bool {
        let mut live = self.live.lock().unwrap();
        match live.iter().position(|c| Arc::ptr_eq(c, ctx)) {
            Some(i) => {
                live.swap_remove(i);
                true
            }
            None => false,
        }
    }
}

fn ts(ns: u64) -> KernelTimespec {
    KernelTimespec { tv_sec: (ns / 1_000_000_000) as i64, tv_nsec: (ns % 1_000_000_000) as i64 }
}

// ---------------------------------------------------------------------------------------------
// Operations

fn new_domain(w: &World) -> Option<Arc<Domain>> {
    match raw::open() {
        Ok(fd) => {
            w.count(C::open);
            let d = Arc::new(Domain {
                serial: w.next_dom.fetch_add(1, Relaxed),
                fd: RwLock::new(Some(fd)),
                ctxs: Mutex::new(Vec::new()),
            });
            w.domains.lock().unwrap().push(d.clone());
            Some(d)
        }
        Err(e) => {
            fail(Cat::Returns, format!("open /dev/kaio: {}", errno_name(e)));
            None
        }
    }
}

fn op_setup(w: &World, rng: &mut Rng) {
    let dom = {
        let doms = w.domains.lock().unwrap();
        if doms.is_empty() || (doms.len() < MAX_DOMAINS && rng.chance(1, 8)) {
            None
        } else {
            Some(doms[rng.below(doms.len() as u64) as usize].clone())
        }
    };
    let Some(dom) = dom.or_else(|| new_domain(w)) else { return };
    let _gate = w.addr_gate.write().unwrap();
    let g = dom.fd.read().unwrap();
    let Some(fd) = *g else { return };
    let nr = *rng.pick(&[1u32, 2, 4, 8, 16, 32, 64, 128, 256]);
    let mut id = 0u64;
    w.count(C::setup);
    match raw::setup(fd, nr, &mut id) {
        Ok(0) => {}
        Ok(v) => {
            fail(Cat::Returns, format!("setup({nr}) returned {v}"));
            return;
        }
        Err(e) => {
            fail(
                Cat::Returns,
                format!(
                    "setup({nr}) on a valid ctxp: {} (nr {:?}, max_nr {:?})",
                    errno_name(e),
                    read_u64_file(NR_PARAM),
                    read_u64_file(MAX_NR_PARAM)
                ),
            );
            return;
        }
    }
    let size = ring_bytes(nr, w.cpus).unwrap_or(0);
    // SAFETY: setup mapped the ring (at least one page) at `id`, read-write.
    let hdr = unsafe { std::ptr::read_volatile(id as *const AioRing) };
    let want_nr = (size / 32).saturating_sub(1) as u32;
    if hdr.magic != AIO_RING_MAGIC
        || hdr.nr != want_nr
        || hdr.head != 0
        || hdr.tail != 0
        || hdr.header_length != 32
        || hdr.compat_features != 1
        || hdr.incompat_features != 0
    {
        fail(Cat::Results, format!("setup({nr}): ring header {hdr:?}, expected nr {want_nr}"));
    }
    let ctx = Arc::new(Ctx {
        serial: w.next_ctx.fetch_add(1, Relaxed),
        dom: dom.clone(),
        id,
        size,
        evfd: eventfd(),
        st: Mutex::new(CtxState::default()),
        kill_started: AtomicBool::new(false),
        destroy_calls: AtomicU32::new(0),
        destroy_ok: AtomicU32::new(0),
        closing: AtomicBool::new(false),
        submitting: AtomicU32::new(0),
        placeholder: AtomicBool::new(false),
        evfd_total: AtomicU64::new(0),
        teardown: Mutex::new(Teardown::None),
    });
    dom.ctxs.lock().unwrap().push(ctx.clone());
    w.live.lock().unwrap().push(ctx);
}

fn make_req(w: &World, rng: &mut Rng, ctx: &Ctx, seq: u32) -> Req {
    let kind = [Kind::Delay, Kind::Pwrite, Kind::Pread, Kind::Fsync, Kind::Fdsync][rng.weighted(&[50, 20, 20, 5, 5])];
    let data = ((ctx.serial as u64) << 32) | seq as u64;
    let (mut iocb, off, len, buf) = match kind {
        Kind::Delay => {
            let ns = match rng.weighted(&[10, 15, 30, 30, 15]) {
                0 => 0,
                1 => rng.range(1, 1000),
                2 => rng.range(1000, 100_000),
                3 => rng.range(100_000, 2_000_000),
                _ => rng.range(2_000_000, 50_000_000),
            };
            (Iocb::delay(ns as i64, w.file_fd), 0, 0, None)
        }
        Kind::Pwrite | Kind::Pread => {
            let len = rng.range(1, 512) as usize;
            let off = rng.below((FILE_SIZE - len) as u64) as usize;
            if kind == Kind::Pwrite {
                let src = &pattern()[off..off + len];
                (Iocb::pwrite(w.file_fd, src, off as i64), off, len, None)
            } else {
                let mut b = vec![0xA5u8; len].into_boxed_slice();
                let i = Iocb::pread(w.file_fd, &mut b, off as i64);
                (i, off, len, Some(b))
            }
        }
        Kind::Fsync => (Iocb::fsync(w.file_fd), 0, 0, None),
        Kind::Fdsync => (Iocb::fdsync(w.file_fd), 0, 0, None),
    };
    iocb = iocb.with_data(data).with_resfd(ctx.evfd);
    Req {
        kind,
        iocb: Box::new(iocb),
        off,
        len,
        buf,
        acc: Acc::Tentative,
        reaped: 0,
        res: 0,
        cancel_attempts: 0,
        cancel_ok: 0,
    }
}

fn op_submit(w: &World, rng: &mut Rng) {
    let Some(ctx) = w.pick_live(rng) else { return };
    let dom = ctx.dom.clone();
    let g = dom.fd.read().unwrap();
    let Some(fd) = *g else { return };
    ctx.submitting.fetch_add(1, SeqCst);
    if ctx.closing.load(SeqCst) {
        ctx.submitting.fetch_sub(1, SeqCst);
        return;
    }
    let k = if rng.chance(1, 50) { 0 } else { rng.range(1, MAX_BATCH as u64) as usize };
    let mut ptrs = [std::ptr::null_mut::<Iocb>(); MAX_BATCH];
    let mut seqs = [0u32; MAX_BATCH];
    {
        let mut st = ctx.st.lock().unwrap();
        for i in 0..k {
            let seq = st.next_seq;
            st.next_seq += 1;
            let mut req = make_req(w, rng, &ctx, seq);
            if st.matching > 0 {
                // A cancel_match with ALL/ANY in progress may still consider it.
                req.cancel_attempts = 1;
            }
            ptrs[i] = &mut *req.iocb as *mut Iocb;
            seqs[i] = seq;
            st.reqs.insert(seq, req);
        }
    }
    w.count(C::submit_calls);
    w.add(C::iocbs, k as u64);
    let r = raw::submit(fd, ctx.id, k as i64, ptrs.as_ptr());
    let n = match r {
        Ok(n) if (n as usize) <= k && (n > 0 || k == 0) => n as usize,
        Ok(n) => {
            fail(Cat::Returns, format!("ctx #{}: submit of {k} iocbs returned {n}", ctx.serial));
            0
        }
        Err(libc::EAGAIN) => {
            w.count(C::submit_eagain);
            0
        }
        Err(libc::EINVAL) if ctx.kill_started.load(SeqCst) => {
            w.count(C::submit_einval_dying);
            0
        }
        Err(e) => {
            fail(Cat::Returns, format!("ctx #{}: submit of {k} valid iocbs: {}", ctx.serial, errno_name(e)));
            0
        }
    };
    if n < k && n > 0 {
        w.count(C::submit_eagain);
    }
    {
        let mut st = ctx.st.lock().unwrap();
        for (i, seq) in seqs.iter().enumerate().take(k) {
            let req = st.reqs.get_mut(seq).expect("req");
            req.acc = if i < n { Acc::Accepted } else { Acc::Rejected };
            if req.acc == Acc::Rejected && req.reaped > 0 {
                fail(Cat::Events, format!("ctx #{}: id {seq} was rejected by submit but produced an event", ctx.serial));
            }
            if req.acc == Acc::Rejected && req.cancel_ok > 0 {
                fail(Cat::Cancel, format!("ctx #{}: id {seq} was rejected by submit but cancel returned EINPROGRESS", ctx.serial));
            }
        }
        st.accepted += n as u32;
    }
    w.add(C::accepted, n as u64);
    ctx.submitting.fetch_sub(1, SeqCst);
}

fn check_event(w: &World, ctx: &Ctx, ev: &IoEvent) {
    w.count(C::events);
    let serial = (ev.data >> 32) as u32;
    if serial != ctx.serial {
        fail(Cat::Events, format!("ctx #{}: reaped an event with data {:#x} (ctx #{serial}'s)", ctx.serial, ev.data));
        return;
    }
    let seq = ev.data as u32;
    let mut st = ctx.st.lock().unwrap();
    let Some(req) = st.reqs.get_mut(&seq) else {
        fail(Cat::Events, format!("ctx #{}: event for id {seq}, never submitted: {ev:?}", ctx.serial));
        return;
    };
    let iocb_addr = &*req.iocb as *const Iocb as u64;
    if ev.obj != iocb_addr || ev.res2 != 0 {
        fail(Cat::Results, format!("ctx #{}: id {seq}: obj {:#x} (iocb at {iocb_addr:#x}), res2 {}", ctx.serial, ev.obj, ev.res2));
    }
    req.reaped = req.reaped.saturating_add(1);
    if req.reaped > 1 {
        fail(Cat::Events, format!("ctx #{}: id {seq} ({:?}): duplicate event (#{}) res {}", ctx.serial, req.kind, req.reaped, ev.res));
        return;
    }
    if req.acc == Acc::Rejected {
        fail(Cat::Events, format!("ctx #{}: event for id {seq}, which submit rejected", ctx.serial));
    }
    req.res = ev.res;
    let ecanceled = -(libc::ECANCELED as i64);
    match req.kind {
        Kind::Delay => {
            if ev.res == 0 {
                w.count(C::delays_res0);
                if req.cancel_ok > 0 {
                    fail(Cat::Cancel, format!("ctx #{}: id {seq}: a cancel succeeded (io_cancel EINPROGRESS or cancel_match) but the delay completed with res 0", ctx.serial));
                } else if req.cancel_attempts > 0 {
                    w.count(C::cancel_then_completed_anyway);
                }
            } else if ev.res == ecanceled {
                w.count(C::delays_ecanceled);
                if req.cancel_attempts == 0 {
                    fail(Cat::Cancel, format!("ctx #{}: id {seq}: delay completed with -ECANCELED, never cancelled", ctx.serial));
                }
            } else {
                fail(Cat::Results, format!("ctx #{}: id {seq}: delay res {}", ctx.serial, ev.res));
            }
        }
        Kind::Pwrite => {
            if ev.res != req.len as i64 {
                fail(Cat::Results, format!("ctx #{}: id {seq}: pwrite of {} at {}: res {}", ctx.serial, req.len, req.off, ev.res));
            }
        }
        Kind::Pread => {
            if ev.res != req.len as i64 {
                fail(Cat::Results, format!("ctx #{}: id {seq}: pread of {} at {}: res {}", ctx.serial, req.len, req.off, ev.res));
            } else if req.buf.as_deref() != Some(&pattern()[req.off..req.off + req.len]) {
                fail(Cat::Results, format!("ctx #{}: id {seq}: pread of {} at {}: wrong data", ctx.serial, req.len, req.off));
            }
        }
        Kind::Fsync | Kind::Fdsync => {
            if ev.res != 0 {
                fail(Cat::Results, format!("ctx #{}: id {seq}: {:?} res {}", ctx.serial, req.kind, ev.res));
            }
        }
    }
    st.reaped += 1;
}

/// One getevents call; returns the number of events, or None if the context is gone.
fn getevents_once(w: &World, ctx: &Ctx, fd: i32, min: i64, nr: i64, timeout: Option<u64>) -> Option<usize> {
    let mut evs = [IoEvent::default(); 16];
    let t = timeout.map(ts);
    let tp = t.as_ref().map_or(std::ptr::null(), |t| t as *const KernelTimespec);
    w.count(C::getevents_calls);
    match raw::getevents(fd, ctx.id, min, nr, evs.as_mut_ptr(), tp) {
        Ok(n) if n >= 0 && n <= nr => {
            for ev in &evs[..n as usize] {
                check_event(w, ctx, ev);
            }
            Some(n as usize)
        }
        Ok(n) => {
            fail(Cat::Returns, format!("ctx #{}: getevents(min {min}, nr {nr}) returned {n}", ctx.serial));
            None
        }
        Err(libc::EINVAL) if ctx.kill_started.load(SeqCst) => {
            w.count(C::getevents_einval_dying);
            None
        }
        Err(e) => {
            fail(Cat::Returns, format!("ctx #{}: getevents(min {min}, nr {nr}, timeout {timeout:?}): {}", ctx.serial, errno_name(e)));
            None
        }
    }
}

fn op_getevents(w: &World, rng: &mut Rng) {
    let Some(ctx) = w.pick_live(rng) else { return };
    let dom = ctx.dom.clone();
    let g = dom.fd.read().unwrap();
    let Some(fd) = *g else { return };
    let min = rng.below(3) as i64;
    let nr = rng.range(min.max(1) as u64, 16) as i64;
    let timeout = if min == 0 && rng.chance(1, 4) {
        None
    } else {
        Some(*rng.pick(&[0u64, 50_000, 1_000_000, 3_000_000]))
    };
    getevents_once(w, &ctx, fd, min, nr, timeout);
}

fn op_cancel(w: &World, rng: &mut Rng) {
    let Some(ctx) = w.pick_live(rng) else { return };
    let dom = ctx.dom.clone();
    let g = dom.fd.read().unwrap();
    let Some(fd) = *g else { return };
    let (seq, ptr, kind, reaped_before) = {
        let mut st = ctx.st.lock().unwrap();
        if st.next_seq == 0 {
            return;
        }
        let back = rng.below(st.next_seq.min(32) as u64) as u32;
        let seq = st.next_seq - 1 - back;
        let Some(req) = st.reqs.get_mut(&seq) else { return };
        req.cancel_attempts = req.cancel_attempts.saturating_add(1);
        (seq, &mut *req.iocb as *mut Iocb, req.kind, req.reaped)
    };
    let mut result = IoEvent { data: 0x5a5a, obj: 0x5a5a, res: 0x5a5a, res2: 0x5a5a };
    let untouched = result;
    let rp: *mut IoEvent = match rng.below(3) {
        0 => std::ptr::null_mut(),
        1 => &mut result,
        _ => mem::KERNEL_ADDR as *mut IoEvent,
    };
    w.count(C::cancel_calls);
    let r = raw::cancel(fd, ctx.id, ptr, rp);
    if result != untouched {
        fail(Cat::Cancel, format!("ctx #{}: cancel wrote to its result argument: {result:?}", ctx.serial));
    }
    match r {
        Err(libc::EINPROGRESS) => {
            w.count(C::cancel_won);
            let mut st = ctx.st.lock().unwrap();
            let req = st.reqs.get_mut(&seq).expect("req");
            req.cancel_ok += 1;
            if req.cancel_ok > 1 {
                fail(Cat::Cancel, format!("ctx #{}: id {seq}: cancel returned EINPROGRESS {} times", ctx.serial, req.cancel_ok));
            }
            if kind != Kind::Delay {
                fail(Cat::Cancel, format!("ctx #{}: id {seq}: cancel of a {kind:?} returned EINPROGRESS", ctx.serial));
            }
            if req.reaped > 0 && req.res == 0 {
                fail(Cat::Cancel, format!("ctx #{}: id {seq}: cancel returned EINPROGRESS after the event (res 0) was reaped", ctx.serial));
            }
            if req.acc == Acc::Rejected {
                fail(Cat::Cancel, format!("ctx #{}: id {seq}: cancel returned EINPROGRESS for a rejected iocb", ctx.serial));
            }
        }
        Err(libc::EINVAL) => {
            if ctx.kill_started.load(SeqCst) {
                w.count(C::cancel_on_dead_ctx);
            } else if kind != Kind::Delay {
                w.count(C::cancel_not_cancellable);
            } else if reaped_before > 0 {
                w.count(C::cancel_after_reap);
            } else {
                w.count(C::cancel_lost_to_completion);
            }
        }
        Ok(v) => fail(Cat::Cancel, format!("ctx #{}: cancel returned {v} (Linux never returns 0)", ctx.serial)),
        Err(e) => fail(Cat::Cancel, format!("ctx #{}: cancel: {}", ctx.serial, errno_name(e))),
    }
}

/// What a cancel_match selects in a context.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum CmSel {
    /// One request, by its iocb.
    Iocb,
    /// One request, by its data (unique).
    Data,
    /// ALL delays (KAIO_CANCEL_OP).
    OpDelay,
    /// ALL requests on the file (KAIO_CANCEL_FD): reads, writes and fsyncs, none cancellable.
    File,
    /// ANY.
    Any,
}

impl CmSel {
    fn may_match(self, kind: Kind) -> bool {
        match self {
            CmSel::OpDelay => kind == Kind::Delay,
            CmSel::File => kind != Kind::Delay,
            _ => true,
        }
    }
}

fn op_cancel_match(w: &World, rng: &mut Rng) {
    use kstress::v2::{self, NR_SENTINEL};
    let Some(ctx) = w.pick_live(rng) else { return };
    let dom = ctx.dom.clone();
    let g = dom.fd.read().unwrap();
    let Some(fd) = *g else { return };
    let sel = [CmSel::Iocb, CmSel::Data, CmSel::OpDelay, CmSel::File, CmSel::Any][rng.weighted(&[40, 25, 12, 12, 4])];
    let single = matches!(sel, CmSel::Iocb | CmSel::Data);
    let result_mode = single && rng.chance(1, 3);
    let wait = !result_mode && rng.chance(1, 3);
    // u64::MAX: a null timeout (no limit); the requests that run on are tmpfs I/O and fsyncs.
    let timeout_ns = wait.then(|| *rng.pick(&[0u64, 50_000, 1_000_000, 3_000_000, 20_000_000, u64::MAX]));
    // The requests it may cancel are marked as cancel attempts first (a delay completes with
    // -ECANCELED only after one); with ALL/ANY, so are those submitted until the call returns.
    let target = {
        let mut st = ctx.st.lock().unwrap();
        if single {
            if st.next_seq == 0 {
                return;
            }
            let back = rng.below(st.next_seq.min(32) as u64) as u32;
            let seq = st.next_seq - 1 - back;
            let Some(req) = st.reqs.get_mut(&seq) else { return };
            req.cancel_attempts = req.cancel_attempts.saturating_add(1);
            let key = if sel == CmSel::Iocb { &*req.iocb as *const Iocb as u64 } else { req.iocb.aio_data };
            Some((seq, req.kind, key))
        } else {
            st.matching += 1;
            for req in st.reqs.values_mut() {
                if req.acc != Acc::Rejected && req.reaped == 0 && sel.may_match(req.kind) {
                    req.cancel_attempts = req.cancel_attempts.saturating_add(1);
                }
            }
            None
        }
    };
    let mut flags = match sel {
        CmSel::Iocb => KAIO_CANCEL_IOCB,
        CmSel::Data => KAIO_CANCEL_DATA,
        CmSel::OpDelay => KAIO_CANCEL_OP | KAIO_CANCEL_ALL,
        CmSel::File => KAIO_CANCEL_FD | KAIO_CANCEL_ALL,
        CmSel::Any => KAIO_CANCEL_ANY,
    };
    if sel == CmSel::Data && !result_mode && rng.chance(1, 2) {
        // Data is unique to one request: ALL by data cancels that one.
        flags |= KAIO_CANCEL_ALL;
    }
    if wait {
        flags |= KAIO_CANCEL_WAIT;
    }
    if result_mode {
        flags |= KAIO_CANCEL_RESULT;
    }
    let t = timeout_ns.filter(|&n| n != u64::MAX).map(ts);
    let untouched = IoEvent { data: 0x5a5a, obj: 0x5a5a, res: 0x5a5a, res2: 0x5a5a };
    let mut ev = untouched;
    // RESULT into our own event, or where it cannot be written (the event then goes to the ring).
    let rp: u64 = match rng.below(6) {
        0 => 0,
        1 => mem::KERNEL_ADDR,
        _ => &mut ev as *mut IoEvent as u64,
    };
    let own_result = rp == &mut ev as *mut IoEvent as u64;
    let mut a = v2::match_args(ctx.id, flags, target.map_or(0, |t| t.2));
    a.fd = w.file_fd;
    a.opcode = KAIO_CMD_DELAY;
    a.timeout = t.as_ref().map_or(0, |t| t as *const KernelTimespec as u64);
    a.result = rp;
    w.count(C::cm_calls);
    w.count(match (sel, result_mode) {
        (_, true) => C::cm_result_calls,
        (CmSel::Iocb, _) => C::cm_one_iocb,
        (CmSel::Data, _) => C::cm_one_data,
        (CmSel::OpDelay, _) => C::cm_all_op,
        (CmSel::File, _) => C::cm_all_fd,
        (CmSel::Any, _) => C::cm_any,
    });
    if wait {
        w.count(C::cm_wait_calls);
    }
    let r = v2::cancel_match(fd, &mut a);
    if !single {
        ctx.st.lock().unwrap().matching -= 1;
    }
    let nr = a.nr_running;
    let dying = ctx.kill_started.load(SeqCst);
    let who = format!(
        "ctx #{}: cancel_match {sel:?} (flags {flags:#x}){}{}{} = {}, nr_running {nr:#x}",
        ctx.serial,
        if wait { format!(" WAIT {timeout_ns:?} ns") } else { String::new() },
        if result_mode { " RESULT" } else { "" },
        target.map_or(String::new(), |t| format!(" of id {} ({:?})", t.0, t.1)),
        show(&r)
    );
    if ev != untouched && !(own_result && r == Ok(0)) {
        fail(Cat::Cancel, format!("{who}: the result event was written: {ev:?}"));
    }
    let tkind = target.map(|t| t.1);
    // Marks the single target as cancelled: its event must be -ECANCELED.
    let cancelled_target = || {
        if let Some((seq, kind, _)) = target {
            if kind != Kind::Delay {
                fail(Cat::Cancel, format!("{who}: a {kind:?} was cancelled"));
            }
            let mut st = ctx.st.lock().unwrap();
            if let Some(req) = st.reqs.get_mut(&seq) {
                req.cancel_ok += 1;
                if req.cancel_ok > 1 {
                    fail(Cat::Cancel, format!("{who}: id {seq} cancelled {} times", req.cancel_ok));
                }
                if req.acc == Acc::Rejected {
                    fail(Cat::Cancel, format!("{who}: id {seq} was rejected by submit"));
                }
            }
        }
    };
    // A single request that is no longer in flight: a second match finds nothing.
    let verify_gone = || {
        let Some((_, _, key)) = target else { return };
        let mut b = v2::match_args(ctx.id, flags & (KAIO_CANCEL_IOCB | KAIO_CANCEL_DATA), key);
        match v2::cancel_match(fd, &mut b) {
            Err(libc::ENOENT) => w.count(C::cm_wait_verified),
            Err(libc::EINVAL) if ctx.kill_started.load(SeqCst) => {}
            r2 => fail(Cat::Cancel, format!("{who}: afterwards the request is still in flight: a second match gives {} nr_running {:#x}", show(&r2), b.nr_running)),
        }
    };
    let written = nr != NR_SENTINEL;
    match r {
        Err(libc::EINVAL) if dying => w.count(C::cm_dying),
        Err(libc::EINVAL) if result_mode => {
            w.count(C::cm_einval_none);
            if nr != 0 {
                fail(Cat::Cancel, format!("{who}: nothing matched, yet nr_running is not 0"));
            }
        }
        Err(libc::EINVAL) => fail(Cat::Returns, format!("{who}: EINVAL on a live context")),
        _ if !written => fail(Cat::Cancel, format!("{who}: nr_running was not written back")),
        Ok(0) if result_mode && own_result && nr == 0 => {
            cancelled_target();
            w.count(C::cm_result);
            w.count(C::cm_cancelled_calls);
            w.count(C::cm_cancelled_reqs);
            if let Some((seq, _, _)) = target {
                if ev.data != ((ctx.serial as u64) << 32 | seq as u64) {
                    fail(Cat::Cancel, format!("{who}: the RESULT event is another request's: {ev:?}"));
                }
            }
            ctx.st.lock().unwrap().via_result += 1;
            check_event(w, &ctx, &ev);
            verify_gone();
        }
        Ok(n) if !result_mode && n >= 1 && (!single || n == 1) => {
            w.count(C::cm_cancelled_calls);
            w.add(C::cm_cancelled_reqs, n as u64);
            w.add(C::cm_nr_running, nr as u64);
            match sel {
                CmSel::File => fail(Cat::Cancel, format!("{who}: cancelled requests on the file (only reads, writes and fsyncs are, which run on)")),
                CmSel::OpDelay if nr != 0 => fail(Cat::Cancel, format!("{who}: delays are always cancellable")),
                _ => {}
            }
            if single {
                if nr != 0 {
                    fail(Cat::Cancel, format!("{who}: one request, cancelled, and nr_running not 0"));
                }
                cancelled_target();
                verify_gone();
            }
        }
        Err(libc::EFAULT) if result_mode && !own_result => {
            // The event went to the ring.
            cancelled_target();
            w.count(C::cm_result_efault);
            w.count(C::cm_cancelled_calls);
            w.count(C::cm_cancelled_reqs);
        }
        Err(libc::EAGAIN) if result_mode && nr >= 1 && tkind != Some(Kind::Delay) => w.count(C::cm_eagain),
        Err(libc::ENOENT) if !result_mode && nr == 0 => w.count(C::cm_enoent),
        Err(libc::EALREADY) if !result_mode && nr >= 1 && tkind != Some(Kind::Delay) && sel != CmSel::OpDelay => {
            w.count(C::cm_ealready);
            w.add(C::cm_nr_running, nr as u64);
            if wait && single {
                verify_gone();
            }
        }
        Err(libc::ETIME) if wait && nr >= 1 && tkind != Some(Kind::Delay) && sel != CmSel::OpDelay => {
            w.count(C::cm_etime);
            w.add(C::cm_nr_running, nr as u64);
        }
        _ => fail(Cat::Cancel, format!("{who}: not what ABI.md gives for this call")),
    }
}

/// Stops submissions to `ctx` and waits until every accepted request has produced its event.
fn drain(w: &World, ctx: &Ctx, fd: i32) {
    ctx.closing.store(true, SeqCst);
    while ctx.submitting.load(SeqCst) > 0 {
        std::thread::yield_now();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let missing: Vec<u32> = {
            let st = ctx.st.lock().unwrap();
            st.reqs.iter().filter(|(_, r)| r.acc == Acc::Accepted && r.reaped == 0).map(|(s, _)| *s).collect()
        };
        if missing.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            let st = ctx.st.lock().unwrap();
            let mut desc: Vec<String> = missing
                .iter()
                .take(8)
                .map(|s| {
                    let r = &st.reqs[s];
                    format!("{s}:{:?}{}", r.kind, if r.cancel_ok > 0 { "(cancelled)" } else { "" })
                })
                .collect();
            desc.sort();
            fail(
                Cat::Events,
                format!(
                    "ctx #{}: {} accepted requests never produced an event within 20 s (lost): {}",
                    ctx.serial,
                    missing.len(),
                    desc.join(" ")
                ),
            );
            break;
        }
        if getevents_once(w, ctx, fd, 1, 16, Some(20_000_000)).is_none() {
            break;
        }
    }
    w.count(C::drain_checks);
}

fn op_destroy(w: &World, rng: &mut Rng) {
    let Some(ctx) = w.pick_live(rng) else { return };
    let removed = rng.chance(4, 5);
    if removed && !w.remove_live(&ctx) {
        return;
    }
    let dom = ctx.dom.clone();
    // Holders: the domain's list and us. Nobody else can reach the context any more.
    let exclusive = removed && Arc::strong_count(&ctx) == 2;
    let _gate = if exclusive { None } else { Some(w.addr_gate.read().unwrap()) };
    let g = dom.fd.read().unwrap();
    let Some(fd) = *g else { return };
    if removed && rng.chance(1, 3) {
        drain(w, &ctx, fd);
    }
    ctx.kill_started.store(true, SeqCst);
    let calls = ctx.destroy_calls.fetch_add(1, SeqCst);
    let before = ctx.take_evfd();
    w.count(C::destroy_calls);
    let r = raw::destroy(fd, ctx.id);
    match r {
        Ok(0) => {
            let total = ctx.take_evfd();
            w.add(C::completed_during_destroy, total - before);
            if ctx.destroy_ok.fetch_add(1, SeqCst) > 0 {
                fail(Cat::Teardown, format!("ctx #{}: a second destroy returned 0", ctx.serial));
                return;
            }
            *ctx.teardown.lock().unwrap() = Teardown::Destroyed { evfd_total: total };
            if exclusive {
                w.count(C::exclusive_destroys);
            } else {
                w.count(C::gated_destroys);
                // SAFETY: maps a PROT_NONE placeholder over the ring's old range, only if it is free.
                let p = unsafe {
                    libc::mmap(
                        ctx.id as *mut libc::c_void,
                        ctx.size,
                        libc::PROT_NONE,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                        -1,
                        0,
                    )
                };
                if p as u64 == ctx.id {
                    ctx.placeholder.store(true, SeqCst);
                } else {
                    let e = errno();
                    if p != libc::MAP_FAILED {
                        // SAFETY: unmaps what this call just mapped elsewhere.
                        unsafe { libc::munmap(p, ctx.size) };
                    }
                    // The range is taken: by the ring (a failure), or by a mapping another
                    // thread made meanwhile (malloc, a stack: those mmaps are not gated).
                    let (a, b) = (ctx.id, ctx.id + ctx.size as u64);
                    let there = mappings_in(a, b);
                    if there.is_empty() || there.iter().any(|l| l.contains("/dev/kaio")) {
                        fail(
                            Cat::Teardown,
                            format!(
                                "ctx #{}: after destroy returned, its ring range {a:#x}+{:#x} is still mapped ({}): {there:?}",
                                ctx.serial,
                                ctx.size,
                                errno_name(e)
                            ),
                        );
                    } else {
                        eprintln!("# ctx #{}: its old ring range was taken by another mapping after destroy: {there:?}", ctx.serial);
                    }
                }
            }
            dom.ctxs.lock().unwrap().retain(|c| !Arc::ptr_eq(c, &ctx));
            w.remove_live(&ctx);
            w.retired.lock().unwrap().push(ctx.clone());
        }
        Ok(v) => fail(Cat::Returns, format!("ctx #{}: destroy returned {v}", ctx.serial)),
        Err(libc::EINVAL) => {
            w.count(C::destroy_lost_race);
            let _ = calls;
        }
        Err(e) => fail(Cat::Returns, format!("ctx #{}: destroy: {}", ctx.serial, errno_name(e))),
    }
}

/// Closes a domain: its fd, and every ring of it still mapped, in a random order.
fn close_domain(w: &World, dom: Arc<Domain>, rng: &mut Rng) {
    w.domains.lock().unwrap().retain(|d| !Arc::ptr_eq(d, &dom));
    let _fg = w.fork_gate.write().unwrap();
    let mut g = dom.fd.write().unwrap();
    let Some(fd) = g.take() else { return };
    w.count(C::close_calls);
    let ctxs = std::mem::take(&mut *dom.ctxs.lock().unwrap());
    for c in &ctxs {
        c.kill_started.store(true, SeqCst);
        w.remove_live(c);
    }
    w.add(C::close_live_ctxs, ctxs.len() as u64);
    let unmap = |c: &Ctx| {
        // SAFETY: unmaps the ring of a context of this domain, mapped since setup (destroy
        // did not run for it: it is still on the domain's list).
        unsafe { libc::munmap(c.id as *mut libc::c_void, c.size) };
    };
    if rng.chance(1, 2) {
        ctxs.iter().for_each(|c| unmap(c));
        // SAFETY: closes the domain's fd; nobody uses it (write lock held).
        unsafe { libc::close(fd) };
    } else {
        // SAFETY: as above.
        unsafe { libc::close(fd) };
        ctxs.iter().for_each(|c| unmap(c));
    }
    let sync = w.children_alive.load(SeqCst) == 0;
    if sync {
        w.count(C::close_sync_release);
    }
    let fork_seq = w.fork_seq.load(SeqCst);
    for c in ctxs {
        let evfd_total = if sync { Some(c.take_evfd()) } else { None };
        *c.teardown.lock().unwrap() = Teardown::Closed { evfd_total, fork_seq };
        w.retired.lock().unwrap().push(c);
    }
    let _ = dom.serial;
}

// ---------------------------------------------------------------------------------------------
// fs/aio.c's history (tests/aio-bugs.md), one round at a time amid the load

/// The size of a history round's context, and the bytes the move zone reserves (more than its
/// ring on any CPU count).
const HISTORY_NR: u32 = 16;
const HISTORY_RING_BYTES: usize = 1 << 20;

/// One round of a scenario from fs/aio.c's bug history on a context of its own, in a domain
/// the other threads are using (its close waits for the round):
/// - scribble ("aio: Fix a trinity splat", "aio: block io_destroy() until all context requests
///   are completed"): RESFD delays in flight while the ring's head and tail are scribbled and
///   events are reaped from the garbage, then destroy: every eventfd count has arrived when it
///   returns, none comes later;
/// - move (the mremap hook): the ring moved with requests in flight; the old address is no
///   handle, the new one reaps every event and destroys;
/// - efault (io_setup's EFAULT path): `ctxp` on a read-only page holding 0 is EFAULT.
fn op_history(w: &World, rng: &mut Rng) {
    let Some(dom) = any_domain(w, rng) else { return };
    // The other operations' order: the gate, then the domain's fd. The round maps, moves and
    // unmaps rings, so it holds the gate throughout (no setup meanwhile, and the old range of
    // a moved ring cannot be reused before the old handle is checked); holding the fd keeps
    // the domain from being closed under it.
    let _gate = w.addr_gate.write().unwrap();
    let g = dom.fd.read().unwrap();
    let Some(fd) = *g else { return };
    let scenario = rng.below(3);
    if scenario == 2 {
        w.count(C::history_efault);
        let r = raw::setup(fd, 8, w.history_ro as *mut u64);
        if r != Err(libc::EFAULT) {
            fail(Cat::Returns, format!("history efault: setup with a read-only ctxp = {r:?}"));
        }
        return;
    }
    const N: usize = 8;
    let mut id = 0u64;
    if let Err(e) = raw::setup(fd, HISTORY_NR, &mut id) {
        fail(Cat::Returns, format!("history: setup({HISTORY_NR}): {}", errno_name(e)));
        return;
    }
    let size = ring_bytes(HISTORY_NR, w.cpus).unwrap_or(4096);
    let evfd = eventfd();
    let mut cbs: Vec<Iocb> = (0..N).map(|i| Iocb::delay(rng.range(0, 3_000_000) as i64, w.file_fd).with_data(i as u64).with_resfd(evfd)).collect();
    let ptrs: Vec<*mut Iocb> = cbs.iter_mut().map(|c| c as *mut Iocb).collect();
    let accepted = match raw::submit(fd, id, N as i64, ptrs.as_ptr()) {
        Ok(n) => n as u64,
        Err(e) => {
            fail(Cat::Returns, format!("history: submit of {N} delays: {}", errno_name(e)));
            0
        }
    };
    let mut evs = [IoEvent::default(); 4];
    let zero = KernelTimespec { tv_sec: 0, tv_nsec: 0 };
    if scenario == 0 {
        w.count(C::history_scribble);
        for _ in 0..5 {
            // SAFETY: the ring of this round's own context, mapped at `id` (head and tail at
            // offsets 8 and 12); nobody else uses it.
            unsafe {
                std::ptr::write_volatile((id + 8) as *mut u32, rng.next_u32());
                std::ptr::write_volatile((id + 12) as *mut u32, rng.next_u32());
            }
            // Whatever the garbage yields.
            let _ = raw::getevents(fd, id, 0, 4, evs.as_mut_ptr(), &zero);
            std::thread::sleep(Duration::from_micros(500));
        }
        match raw::destroy(fd, id) {
            Ok(0) => {
                let at_return = eventfd_take(evfd);
                std::thread::sleep(Duration::from_millis(1));
                let late = eventfd_take(evfd);
                if (at_return, late) != (accepted, 0) {
                    fail(Cat::Teardown, format!("history scribble: eventfd {at_return} when destroy returned, {late} later; {accepted} accepted"));
                }
            }
            r => fail(Cat::Returns, format!("history scribble: destroy = {r:?}")),
        }
    } else {
        w.count(C::history_move);
        let to = w.history_zone;
        let moved = {
            // SAFETY: moves this round's own ring onto the start of the range reserved for it
            // (no ring is larger than the range).
            let p = unsafe {
                libc::mremap(id as *mut libc::c_void, size, size, libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED, to as *mut libc::c_void)
            };
            if p as u64 != to {
                fail(Cat::Returns, format!("history move: mremap of a live ring: {}", errno_name(errno())));
                false
            } else {
                let old = (raw::getevents(fd, id, 0, 1, evs.as_mut_ptr(), &zero), raw::destroy(fd, id));
                if old != (Err(libc::EINVAL), Err(libc::EINVAL)) {
                    fail(Cat::Returns, format!("history move: the old address is still a handle: getevents, destroy = {old:?}"));
                }
                true
            }
        };
        let at = if moved { to } else { id };
        let mut got = 0u64;
        let deadline = Instant::now() + Duration::from_secs(10);
        while got < accepted && Instant::now() < deadline {
            let t = KernelTimespec { tv_sec: 0, tv_nsec: 50_000_000 };
            match raw::getevents(fd, at, 1, 4, evs.as_mut_ptr(), &t) {
                Ok(n) => {
                    for e in &evs[..n as usize] {
                        if e.data >= N as u64 || e.res != 0 {
                            fail(Cat::Events, format!("history move: event {e:?}"));
                        }
                    }
                    got += n as u64;
                }
                Err(e) => {
                    fail(Cat::Returns, format!("history move: getevents on the moved ring: {}", errno_name(e)));
                    break;
                }
            }
        }
        if got != accepted {
            fail(Cat::Events, format!("history move: {got} events of {accepted} through the moved ring"));
        }
        if let Err(e) = raw::destroy(fd, at) {
            fail(Cat::Returns, format!("history move: destroy by the new address: {}", errno_name(e)));
        }
        let n = eventfd_take(evfd);
        if n != accepted {
            fail(Cat::Teardown, format!("history move: eventfd {n}, {accepted} accepted"));
        }
        if moved {
            // Destroy unmapped the ring: reserve the range again.
            // SAFETY: the reserved range, which nothing else maps (the gate is held).
            unsafe {
                libc::mmap(to as *mut libc::c_void, size, libc::PROT_NONE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED, -1, 0)
            };
        }
    }
    // SAFETY: this round's eventfd.
    unsafe { libc::close(evfd) };
}

/// A domain open now, picked at random.
fn any_domain(w: &World, rng: &mut Rng) -> Option<Arc<Domain>> {
    let doms = w.domains.lock().unwrap();
    if doms.is_empty() {
        return None;
    }
    Some(doms[rng.below(doms.len() as u64) as usize].clone())
}

fn op_close(w: &World, rng: &mut Rng) {
    let Some(dom) = any_domain(w, rng) else { return };
    close_domain(w, dom, rng);
}

// ---------------------------------------------------------------------------------------------
// Fork

/// Exit codes of the child.
const CHILD_SAW_PARENT_CTX: i32 = 10;
const CHILD_OPEN: i32 = 14;
const CHILD_SETUP: i32 = 15;
const CHILD_SUBMIT: i32 = 16;
const CHILD_CANCEL: i32 = 17;
const CHILD_DESTROY_EVFD: i32 = 18;
const CHILD_GETEVENTS: i32 = 19;
const CHILD_CANCEL_MATCH: i32 = 20;

/// The child: no allocation, no locks (other threads of the parent may have held them at fork
/// time), raw calls only.
fn child_main(fd: Option<i32>, parent_ids: &[u64], file_fd: i32, evfd: i32, pipe_w: i32, seed: u64) -> ! {
    let mut rng = Rng::new(seed);
    let mut code = 0;
    let zero = KernelTimespec::default();
    let mut evs = [IoEvent::default(); 16];
    let mut probe = Iocb::delay(0, file_fd);
    let probe_ptrs = [&mut probe as *mut Iocb];
    if let Some(fd) = fd {
        for &id in parent_ids {
            let r1 = raw::getevents(fd, id, 0, 1, evs.as_mut_ptr(), &zero);
            let r2 = raw::submit(fd, id, 1, probe_ptrs.as_ptr());
            let r3 = raw::cancel(fd, id, &mut probe, std::ptr::null_mut());
            let r4 = raw::destroy(fd, id);
            if [r1, r2, r3, r4].iter().any(|r| *r != Err(libc::EINVAL)) {
                code = CHILD_SAW_PARENT_CTX;
            }
        }
    }
    let dfd = match fd {
        Some(fd) if rng.chance(1, 2) => fd,
        _ => match raw::open() {
            Ok(fd) => fd,
            // SAFETY: ends the child.
            Err(_) => unsafe { libc::_exit(CHILD_OPEN) },
        },
    };
    let mut ctx = 0u64;
    if raw::setup(dfd, rng.range(8, 64) as u32, &mut ctx).is_err() {
        // SAFETY: ends the child.
        unsafe { libc::_exit(CHILD_SETUP) };
    }
    let k = rng.range(1, 16) as usize;
    let mut iocbs = [Iocb::default(); 16];
    let pat = pattern();
    for (i, iocb) in iocbs.iter_mut().enumerate().take(k) {
        *iocb = match rng.below(4) {
            0 | 1 => Iocb::delay(rng.range(0, 20_000_000) as i64, file_fd),
            2 => {
                let len = rng.range(1, 256) as usize;
                let off = rng.below((FILE_SIZE - len) as u64) as usize;
                Iocb::pwrite(file_fd, &pat[off..off + len], off as i64)
            }
            _ => Iocb::fsync(file_fd),
        }
        .with_data(i as u64)
        .with_resfd(evfd);
    }
    let mut ptrs = [std::ptr::null_mut::<Iocb>(); 16];
    for i in 0..k {
        ptrs[i] = &mut iocbs[i];
    }
    let mut accepted = 0usize;
    while accepted < k {
        let batch = rng.range(1, (k - accepted) as u64) as i64;
        // SAFETY: `ptrs[accepted..]` point at iocbs of this stack frame.
        match raw::submit(dfd, ctx, batch, unsafe { ptrs.as_ptr().add(accepted) }) {
            Ok(n) if n > 0 => accepted += n as usize,
            Err(libc::EAGAIN) => break,
            _ => {
                code = CHILD_SUBMIT;
                break;
            }
        }
    }
    let mut reaped = 0u64;
    if rng.chance(1, 2) {
        match raw::getevents(dfd, ctx, 0, 16, evs.as_mut_ptr(), &zero) {
            Ok(n) => reaped = n as u64,
            Err(_) => code = CHILD_GETEVENTS,
        }
    }
    if accepted > 0 && rng.chance(1, 2) {
        let r = raw::cancel(dfd, ctx, ptrs[0], std::ptr::null_mut());
        if !matches!(r, Err(libc::EINPROGRESS) | Err(libc::EINVAL)) {
            code = CHILD_CANCEL;
        }
    }
    if accepted > 0 && rng.chance(1, 3) {
        // Every request of the child's context (events to the ring, eventfd signalled).
        let mut a = kstress::v2::match_args(ctx, KAIO_CANCEL_ANY, 0);
        match kstress::v2::cancel_match(dfd, &mut a) {
            Ok(n) if n >= 1 => {}
            Err(libc::ENOENT) if a.nr_running == 0 => {}
            Err(libc::EALREADY) if a.nr_running >= 1 => {}
            _ => code = CHILD_CANCEL_MATCH,
        }
    }
    let mut consumed = 0u64;
    if rng.chance(1, 4) {
        if raw::destroy(dfd, ctx) == Ok(0) {
            consumed = eventfd_take(evfd);
            if consumed != accepted as u64 {
                code = CHILD_DESTROY_EVFD;
            }
        } else {
            code = CHILD_DESTROY_EVFD;
        }
    }
    let msg = [accepted as u64, consumed, reaped];
    // SAFETY: writes 24 bytes from `msg` to the pipe, then ends the child with requests in
    // flight (the address space's teardown must cancel or wait for them).
    unsafe {
        libc::write(pipe_w, msg.as_ptr() as *const libc::c_void, 24);
        libc::_exit(code)
    }
}

fn op_fork(w: &World, rng: &mut Rng) {
    if w.children_alive.load(SeqCst) >= 2 {
        return;
    }
    let _fg = w.fork_gate.read().unwrap();
    let dom = {
        let doms = w.domains.lock().unwrap();
        if doms.is_empty() {
            None
        } else {
            Some(doms[rng.below(doms.len() as u64) as usize].clone())
        }
    };
    let g = dom.as_ref().map(|d| d.fd.read().unwrap());
    let fd = g.as_ref().and_then(|g| **g);
    let mut ids = [0u64; 4];
    let mut nids = 0;
    if let (Some(d), Some(_)) = (&dom, fd) {
        for c in d.ctxs.lock().unwrap().iter().take(4) {
            ids[nids] = c.id;
            nids += 1;
        }
    }
    let evfd = eventfd();
    let mut p = [0i32; 2];
    // SAFETY: creates a pipe into `p`.
    if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        fail(Cat::Internal, format!("pipe2: {}", errno_name(errno())));
        return;
    }
    let seed = rng.next_u64();
    let seq = w.fork_seq.fetch_add(1, SeqCst);
    w.count(C::fork_calls);
    w.children_alive.fetch_add(1, SeqCst);
    // SAFETY: the child runs only `child_main`, which neither allocates nor takes locks.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        child_main(fd, &ids[..nids], w.file_fd, evfd, p[1], seed);
    }
    // SAFETY: the parent does not write to the pipe.
    unsafe { libc::close(p[1]) };
    if pid < 0 {
        w.children_alive.fetch_sub(1, SeqCst);
        fail(Cat::Fork, format!("fork: {}", errno_name(errno())));
        // SAFETY: closes what this call opened.
        unsafe {
            libc::close(p[0]);
            libc::close(evfd);
        }
        return;
    }
    w.children.lock().unwrap().push(ChildProc { pid, evfd, pipe: p[0], seq });
}

/// Collects exited children (all of them if `block`) and checks what they report.
fn reap_children(w: &World, block: bool) {
    let mut kids = w.children.lock().unwrap();
    let mut i = 0;
    while i < kids.len() {
        let k = &kids[i];
        let mut status = 0;
        // SAFETY: waits for our own child.
        let r = unsafe { libc::waitpid(k.pid, &mut status, if block { 0 } else { libc::WNOHANG }) };
        if r == 0 {
            i += 1;
            continue;
        }
        let k = kids.swap_remove(i);
        w.children_alive.fetch_sub(1, SeqCst);
        w.count(C::fork_children);
        if r < 0 {
            fail(Cat::Fork, format!("waitpid({}): {}", k.pid, errno_name(errno())));
        } else if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
            let what = if libc::WIFEXITED(status) {
                match libc::WEXITSTATUS(status) {
                    CHILD_SAW_PARENT_CTX => "a parent's context answered in the child (want EINVAL x4)".to_string(),
                    CHILD_OPEN => "open /dev/kaio failed".to_string(),
                    CHILD_SETUP => "setup failed".to_string(),
                    CHILD_SUBMIT => "submit failed".to_string(),
                    CHILD_CANCEL => "cancel returned neither EINPROGRESS nor EINVAL".to_string(),
                    CHILD_DESTROY_EVFD => "after destroy the eventfd did not count every accepted request".to_string(),
                    CHILD_GETEVENTS => "getevents failed".to_string(),
                    CHILD_CANCEL_MATCH => "cancel_match ANY returned what ABI.md does not allow".to_string(),
                    c => format!("exit status {c}"),
                }
            } else {
                format!("killed by signal {}", libc::WTERMSIG(status))
            };
            fail(Cat::Fork, format!("child {} (fork #{}): {what}", k.pid, k.seq));
        }
        let mut msg = [0u64; 3];
        // SAFETY: reads up to 24 bytes into `msg`.
        let n = unsafe { libc::read(k.pipe, msg.as_mut_ptr() as *mut libc::c_void, 24) };
        if n == 24 {
            let [accepted, consumed, reaped] = msg;
            let count = eventfd_take(k.evfd);
            w.add(C::fork_child_inflight, accepted.saturating_sub(reaped).saturating_sub(consumed));
            if count + consumed != accepted {
                fail(
                    Cat::Fork,
                    format!(
                        "child {} (fork #{}): accepted {accepted} requests, but after its exit the eventfd counts {} (exit must wait for every request)",
                        k.pid,
                        k.seq,
                        count + consumed
                    ),
                );
            }
        } else if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
            fail(Cat::Fork, format!("child {}: no report on its pipe", k.pid));
        }
        // SAFETY: closes the child's pipe and eventfd.
        unsafe {
            libc::close(k.pipe);
            libc::close(k.evfd);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Final checks of torn-down contexts

/// Checks and frees every retired context that nobody else holds and whose teardown is final.
fn finalize_retired(w: &World, all: bool) {
    let min_child_seq = w.children.lock().unwrap().iter().map(|k| k.seq).min().unwrap_or(u64::MAX);
    let ready: Vec<Arc<Ctx>> = {
        let mut r = w.retired.lock().unwrap();
        let mut ready = Vec::new();
        let mut i = 0;
        while i < r.len() {
            let td = *r[i].teardown.lock().unwrap();
            let final_ = match td {
                Teardown::Closed { evfd_total: None, fork_seq } => min_child_seq >= fork_seq,
                _ => true,
            };
            if Arc::strong_count(&r[i]) == 1 && final_ {
                ready.push(r.swap_remove(i));
            } else if all {
                fail(Cat::Internal, format!("ctx #{} still held at the end ({:?})", r[i].serial, td));
                i += 1;
            } else {
                i += 1;
            }
        }
        ready
    };
    for ctx in ready {
        finalize(w, &ctx);
    }
}

fn finalize(w: &World, ctx: &Ctx) {
    let td = *ctx.teardown.lock().unwrap();
    let total = ctx.take_evfd();
    let st = ctx.st.lock().unwrap();
    let accepted = st.accepted as u64;
    let tentative = st.reqs.values().filter(|r| r.acc == Acc::Tentative).count();
    if tentative > 0 {
        fail(Cat::Internal, format!("ctx #{}: {tentative} requests with no submit outcome", ctx.serial));
    }
    for (seq, r) in &st.reqs {
        if r.cancel_ok > 0 && r.acc == Acc::Rejected {
            fail(Cat::Cancel, format!("ctx #{}: id {seq}: cancelled (EINPROGRESS) but rejected by submit", ctx.serial));
        }
    }
    w.add(C::discarded_with_ring, accepted - st.reaped as u64);
    // Events returned through RESULT signal no eventfd: every other accepted request does.
    let via = st.via_result as u64;
    let signalled = accepted - via;
    let accepted_s = if via == 0 { format!("{accepted}") } else { format!("{accepted} ({via} returned through RESULT)") };
    match td {
        Teardown::Destroyed { evfd_total } => {
            let ok = ctx.destroy_ok.load(SeqCst);
            if ok != 1 {
                fail(Cat::Teardown, format!("ctx #{}: destroy returned 0 {ok} times", ctx.serial));
            }
            if evfd_total != signalled {
                fail(
                    Cat::Teardown,
                    format!(
                        "ctx #{}: {accepted_s} requests accepted, but when destroy returned the eventfd counted {evfd_total}",
                        ctx.serial
                    ),
                );
            }
            if total != evfd_total {
                fail(Cat::Teardown, format!("ctx #{}: {} completions after destroy returned", ctx.serial, total - evfd_total));
            }
        }
        Teardown::Closed { evfd_total: Some(at_release), .. } => {
            if at_release != signalled {
                fail(
                    Cat::Teardown,
                    format!(
                        "ctx #{}: {accepted_s} requests accepted, but when the domain's last fd/mapping was dropped the eventfd counted {at_release}",
                        ctx.serial
                    ),
                );
            }
            if total != at_release {
                fail(Cat::Teardown, format!("ctx #{}: {} completions after the domain was released", ctx.serial, total - at_release));
            }
        }
        Teardown::Closed { evfd_total: None, .. } => {
            if total != signalled {
                fail(
                    Cat::Teardown,
                    format!("ctx #{}: {accepted_s} requests accepted, the eventfd counted {total} after the domain's release", ctx.serial),
                );
            }
        }
        Teardown::None => fail(Cat::Internal, format!("ctx #{} retired without teardown", ctx.serial)),
    }
    drop(st);
    if ctx.placeholder.load(SeqCst) {
        // SAFETY: unmaps the placeholder this program mapped at the old ring range.
        unsafe { libc::munmap(ctx.id as *mut libc::c_void, ctx.size) };
    }
    // SAFETY: closes the context's eventfd; no request can signal it any more.
    unsafe { libc::close(ctx.evfd) };
}

// ---------------------------------------------------------------------------------------------
// Threads

fn worker(w: &World, mut rng: Rng, deadline: Instant, iterations: Option<u64>) {
    let mut done = 0u64;
    while !w.stop.load(Relaxed) && Instant::now() < deadline && iterations.is_none_or(|n| done < n) {
        done += 1;
        let live = w.live.lock().unwrap().len();
        let old = {
            let live = w.live.lock().unwrap();
            live.iter().any(|c| c.st.lock().unwrap().next_seq > CTX_RETIRE_AFTER)
        };
        let weights = [
            if live < 2 { 60 } else if live < w.max_ctx { 4 } else { 0 }, // setup
            40,                                                          // submit
            30,                                                          // getevents
            15,                                                          // cancel
            12,                                                          // cancel_match
            if old { 40 } else if live > 1 { 3 } else { 0 },             // destroy
            1,                                                           // close a domain
            1,                                                           // fork
            2,                                                           // history
        ];
        match rng.weighted(&weights) {
            0 => op_setup(w, &mut rng),
            1 => op_submit(w, &mut rng),
            2 => op_getevents(w, &mut rng),
            3 => op_cancel(w, &mut rng),
            4 => op_cancel_match(w, &mut rng),
            5 => op_destroy(w, &mut rng),
            6 => {
                if throttle(&w.next_close, &mut rng, 100, 600) {
                    op_close(w, &mut rng)
                }
            }
            7 => {
                if throttle(&w.next_fork, &mut rng, 20, 150) {
                    op_fork(w, &mut rng)
                }
            }
            _ => op_history(w, &mut rng),
        }
    }
}

/// True at most once per random interval of `lo..=hi` ms (rare operations: close, fork).
fn throttle(next: &Mutex<Instant>, rng: &mut Rng, lo: u64, hi: u64) -> bool {
    let mut n = next.lock().unwrap();
    let now = Instant::now();
    if now < *n {
        return false;
    }
    *n = now + Duration::from_millis(rng.range(lo, hi));
    true
}

fn snapshot(w: &World) -> Vec<u64> {
    (0..C_NAMES.len()).map(|i| w.c.get(i)).collect()
}

fn main() {
    let args = Args::parse(20.0, 4, &["max-ctx"], USAGE);
    VERBOSE.store(args.verbose, Relaxed);
    malloc_no_mmap();
    let mut k = Ktap::stdout();
    k.header(9);
    k.diag(&format!(
        "kaio-stress seed={:#x} seconds={} threads={} (reproduce: kaio-stress --seed {:#x} --seconds {} --threads {})",
        args.seed, args.seconds, args.threads, args.seed, args.seconds, args.threads
    ));

    // 1. Prerequisites.
    let mut pre = Vec::new();
    let nr_start = read_u64_file(NR_PARAM);
    if nr_start.is_none() {
        pre.push(format!("cannot read {NR_PARAM}"));
    }
    if !kaio_present() {
        pre.push("cannot open /dev/kaio".into());
    }
    let pat: Vec<u8> = (0..FILE_SIZE)
        .map(|i| ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8 ^ (i as u8))
        .collect();
    let _ = PATTERN.set(pat);
    let path = format!("/tmp/kaio-stress.{}\0", std::process::id());
    // SAFETY: opens a new file with a NUL-terminated path.
    let file_fd = unsafe { libc::open(path.as_ptr() as *const libc::c_char, libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC, 0o600) };
    if file_fd < 0 {
        pre.push(format!("open {}: {}", path.trim_end_matches('\0'), errno_name(errno())));
    } else {
        // SAFETY: unlinks the file just created (it stays open), then writes the pattern.
        unsafe {
            libc::unlink(path.as_ptr() as *const libc::c_char);
            if libc::pwrite(file_fd, pattern().as_ptr() as *const libc::c_void, FILE_SIZE, 0) != FILE_SIZE as isize {
                pre.push("cannot fill the tmpfs file".into());
            }
        }
    }
    if let Some(n) = nr_start {
        k.diag(&format!("nr at start: {n}"));
    }
    let prereq_ok = pre.is_empty();
    k.result("prerequisites", &pre);
    if !prereq_ok {
        for name in ["exactly_one_event", "event_results", "syscall_returns", "cancel_semantics", "teardown_drains", "fork_children", "nr_restored", "progress"] {
            k.skip(name, "prerequisites failed");
        }
        k.totals();
        std::process::exit(1);
    }

    let max_ctx = args.get("max-ctx").and_then(|v| v.parse().ok()).unwrap_or(8usize).max(2);
    let w = Arc::new(World {
        file_fd,
        cpus: possible_cpus(),
        max_ctx,
        domains: Mutex::new(Vec::new()),
        live: Mutex::new(Vec::new()),
        retired: Mutex::new(Vec::new()),
        addr_gate: RwLock::new(()),
        fork_gate: RwLock::new(()),
        children: Mutex::new(Vec::new()),
        children_alive: AtomicU32::new(0),
        fork_seq: AtomicU64::new(0),
        next_ctx: AtomicU32::new(0),
        next_dom: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        next_close: Mutex::new(Instant::now() + Duration::from_millis(300)),
        next_fork: Mutex::new(Instant::now() + Duration::from_millis(50)),
        history_ro: {
            let m = mem::readonly(&0u64.to_ne_bytes(), 0);
            let a = m.addr as u64;
            std::mem::forget(m);
            a
        },
        history_zone: {
            let m = mem::Mapping::anon(HISTORY_RING_BYTES, libc::PROT_NONE);
            let a = m.addr as u64;
            std::mem::forget(m);
            a
        },
        c: Counters::new(C_NAMES),
    });

    // A watchdog: a hang (a destroy that never returns, a lost wake-up) must end the run.
    let limit = args.duration() + Duration::from_secs(150);
    std::thread::spawn(move || {
        block_all_signals();
        std::thread::sleep(limit);
        println!("# kaio-stress: still running {} s after the start: hung", limit.as_secs());
        println!("Bail out! hung");
        // SAFETY: ends the process.
        unsafe { libc::_exit(1) };
    });

    let start = Instant::now();
    let deadline = start + args.duration();
    let workers: Vec<_> = (0..args.threads)
        .map(|i| {
            let w = w.clone();
            let rng = Rng::stream(args.seed, i as u64);
            let it = args.iterations;
            std::thread::spawn(move || worker(&w, rng, deadline, it))
        })
        .collect();
    let mut last = snapshot(&w);
    let mut last_t = Instant::now();
    while workers.iter().any(|h| !h.is_finished()) {
        std::thread::sleep(Duration::from_millis(50));
        reap_children(&w, false);
        finalize_retired(&w, false);
        if last_t.elapsed() >= Duration::from_secs(5) {
            let now = snapshot(&w);
            let dt = last_t.elapsed().as_secs_f64();
            let rate = |i: C| (now[i as usize] - last[i as usize]) as f64 / dt;
            k.diag(&format!(
                "t={:.0}s: {:.0} submits/s ({:.0} iocbs/s), {:.0} events/s, {:.0} getevents/s, {:.0} cancels/s, {:.0} cancel_matches/s, {:.1} setups/s, {:.1} destroys/s, live ctxs {}",
                start.elapsed().as_secs_f64(),
                rate(C::submit_calls),
                rate(C::iocbs),
                rate(C::events),
                rate(C::getevents_calls),
                rate(C::cancel_calls),
                rate(C::cm_calls),
                rate(C::setup),
                rate(C::destroy_calls),
                w.live.lock().unwrap().len()
            ));
            last = now;
            last_t = Instant::now();
        }
    }
    for h in workers {
        if h.join().is_err() {
            fail(Cat::Internal, "a worker thread panicked".into());
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    // Wind down: children, then every domain (close + munmap), then the final checks.
    reap_children(&w, true);
    let mut rng = Rng::stream(args.seed, 1000);
    let doms: Vec<_> = w.domains.lock().unwrap().clone();
    for d in doms {
        close_domain(&w, d, &mut rng);
    }
    finalize_retired(&w, true);
    let (nr_end, took) = wait_nr(nr_start.unwrap_or(0), Duration::from_secs(5));

    // Report.
    let c = |i: C| w.c.get(i as usize);
    let per_s = |v: u64| v as f64 / elapsed;
    let ops = c(C::setup) + c(C::submit_calls) + c(C::getevents_calls) + c(C::cancel_calls) + c(C::cm_calls) + c(C::destroy_calls) + c(C::close_calls) + c(C::fork_calls);
    k.diag(&format!("ran {elapsed:.1} s with {} threads on {} possible CPUs; {} calls ({:.0}/s)", args.threads, w.cpus, ops, per_s(ops)));
    k.diag(&format!(
        "ops: setup {} ({:.1}/s), domains opened {}, submit calls {} ({:.0}/s) with {} iocbs, accepted {} ({:.0}/s), EAGAIN {}, getevents {} ({:.0}/s), events {} ({:.0}/s), cancel {} ({:.0}/s), destroy {} ({:.1}/s), close {}, fork {}",
        c(C::setup), per_s(c(C::setup)), c(C::open), c(C::submit_calls), per_s(c(C::submit_calls)), c(C::iocbs), c(C::accepted),
        per_s(c(C::accepted)), c(C::submit_eagain), c(C::getevents_calls), per_s(c(C::getevents_calls)), c(C::events),
        per_s(c(C::events)), c(C::cancel_calls), per_s(c(C::cancel_calls)), c(C::destroy_calls), per_s(c(C::destroy_calls)),
        c(C::close_calls), c(C::fork_calls)
    ));
    k.diag(&format!(
        "cancel outcomes: won (EINPROGRESS) {}, lost to completion (EINVAL, delay pending) {}, cancelled-but-completed-res0 {}, not cancellable (rw/fsync) {}, after reap {}, on dying ctx {}",
        c(C::cancel_won), c(C::cancel_lost_to_completion), c(C::cancel_then_completed_anyway), c(C::cancel_not_cancellable),
        c(C::cancel_after_reap), c(C::cancel_on_dead_ctx)
    ));
    k.diag(&format!(
        "cancel_match outcomes: {} calls (one by iocb {}, one by data {}, RESULT {}, ALL delays by opcode {}, ALL by file {}, ANY {}; {} with WAIT): cancelled {} requests in {} calls, nr_running summed {}, RESULT events {} (EFAULT, to the ring: {}), EAGAIN (running) {}, EALREADY {}, ENOENT {}, ETIME {}, RESULT with nothing matched {}, on dying ctx {}, requests gone when checked after {}",
        c(C::cm_calls), c(C::cm_one_iocb), c(C::cm_one_data), c(C::cm_result_calls), c(C::cm_all_op), c(C::cm_all_fd), c(C::cm_any),
        c(C::cm_wait_calls), c(C::cm_cancelled_reqs), c(C::cm_cancelled_calls), c(C::cm_nr_running), c(C::cm_result),
        c(C::cm_result_efault), c(C::cm_eagain), c(C::cm_ealready), c(C::cm_enoent), c(C::cm_etime), c(C::cm_einval_none),
        c(C::cm_dying), c(C::cm_wait_verified)
    ));
    k.diag(&format!(
        "fs/aio.c history rounds (tests/aio-bugs.md): scribbled ring then destroy {}, ring moved with requests in flight {}, EFAULT ctxp {}",
        c(C::history_scribble),
        c(C::history_move),
        c(C::history_efault)
    ));
    k.diag(&format!(
        "delays reaped: res 0 {}, -ECANCELED {}",
        c(C::delays_res0),
        c(C::delays_ecanceled)
    ));
    k.diag(&format!(
        "teardown races: submit EINVAL on dying ctx {}, getevents EINVAL on dying ctx {}, destroy losers (EINVAL) {}, requests completed inside destroy {}, events discarded with the ring {}, drained-then-destroyed {}, exclusive/gated destroys {}/{}, closes with {} live ctxs ({} released synchronously), fork children {} ({} requests in flight at exit)",
        c(C::submit_einval_dying), c(C::getevents_einval_dying), c(C::destroy_lost_race), c(C::completed_during_destroy),
        c(C::discarded_with_ring), c(C::drain_checks), c(C::exclusive_destroys), c(C::gated_destroys), c(C::close_live_ctxs),
        c(C::close_sync_release), c(C::fork_children), c(C::fork_child_inflight)
    ));

    k.result("exactly_one_event", &problems(Cat::Events));
    k.result("event_results", &problems(Cat::Results));
    k.result("syscall_returns", &problems(Cat::Returns));
    k.result("cancel_semantics", &problems(Cat::Cancel));
    k.result("teardown_drains", &problems(Cat::Teardown));
    k.result("fork_children", &problems(Cat::Fork));
    let mut nr_p = Vec::new();
    if nr_end != nr_start {
        nr_p.push(format!("nr is {nr_end:?} after every context was torn down (at start {nr_start:?}; waited {took:?})"));
    }
    k.result("nr_restored", &nr_p);
    let mut prog = problems(Cat::Internal);
    if c(C::accepted) == 0 || c(C::events) == 0 || c(C::destroy_calls) == 0 {
        prog.push(format!(
            "no progress: accepted {}, events {}, destroys {}",
            c(C::accepted),
            c(C::events),
            c(C::destroy_calls)
        ));
    }
    k.result("progress", &prog);
    k.totals();
    std::process::exit(k.exit_code());
}

/// The /proc/self/maps lines of the mappings overlapping [a, b).
fn mappings_in(a: u64, b: u64) -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    text.lines()
        .filter(|l| {
            let range = l.split_whitespace().next().unwrap_or("");
            let Some((lo, hi)) = range.split_once('-') else { return false };
            match (u64::from_str_radix(lo, 16), u64::from_str_radix(hi, 16)) {
                (Ok(lo), Ok(hi)) => lo < b && a < hi,
                _ => false,
            }
        })
        .map(String::from)
        .collect()
}
