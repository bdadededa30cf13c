//! KAIO_IOC_PGETEVENTS (ABI.md "Version 2") against the native io_pgetevents(2) (§8.5): the
//! argument checks and their order (timeout, then usig, then sigsetsize, then the mask, then the
//! context), the mask installed for the wait and restored on return, a signal the mask unblocks
//! interrupting the wait with its handler run under that mask and the original mask back
//! afterwards, a signal the mask blocks not interrupting, and the transparent restart after a
//! stop and continue. Native AIO is the oracle: each case runs on both and they must agree.
//!
//! The signal used is SIGUSR2, with a handler that counts and records the mask it ran under.
//! Masks are the kernel's 8-byte sets of the calling thread.

use crate::aio::*;
use crate::ktap::{Case, CaseResult};
use crate::util::*;
use crate::v2::*;
use crate::{check, expect_eq};
use kaio::uapi::*;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

pub fn cases() -> Vec<Case> {
    vec![
        Case::both("pgetevents_no_mask_like_getevents", pgetevents_no_mask_like_getevents),
        Case::both("pgetevents_with_mask_returns_events", pgetevents_with_mask_returns_events),
        Case::both("pgetevents_bad_sigsetsize_einval", pgetevents_bad_sigsetsize_einval),
        Case::both("pgetevents_unreadable_efault_and_order", pgetevents_unreadable_efault_and_order),
        Case::both("pgetevents_pending_signal_unblocked_by_mask", pgetevents_pending_signal_unblocked_by_mask),
        Case::both("pgetevents_signal_during_wait_eintr", pgetevents_signal_during_wait_eintr),
        Case::both("pgetevents_masked_signal_does_not_interrupt", pgetevents_masked_signal_does_not_interrupt),
        Case::both("pgetevents_restart_after_stop_cont", pgetevents_restart_after_stop_cont),
        Case::kaio("pgetevents_kaio_args_unreadable_efault", pgetevents_kaio_args_unreadable_efault),
    ]
}

const SIG: i32 = libc::SIGUSR2;

static HANDLED: AtomicU32 = AtomicU32::new(0);
static HANDLER_MASK: AtomicU64 = AtomicU64::new(0);

extern "C" fn sig_handler(_: libc::c_int) {
    HANDLED.fetch_add(1, SeqCst);
    HANDLER_MASK.store(thread_mask(), SeqCst);
}

/// Installs the counting SIGUSR2 handler (no SA_RESTART); on drop blocks SIGUSR2, throws away
/// a pending one, restores the old action and the calling thread's mask.
struct SigGuard {
    old: libc::sigaction,
    mask: u64,
}

impl SigGuard {
    fn install() -> SigGuard {
        let mask = thread_mask();
        // SAFETY: plain sigaction with valid structures.
        let old = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = sig_handler as *const () as usize;
            sa.sa_flags = 0;
            libc::sigemptyset(&mut sa.sa_mask);
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(SIG, &sa, &mut old);
            old
        };
        reset();
        SigGuard { old, mask }
    }
}

impl Drop for SigGuard {
    fn drop(&mut self) {
        set_thread_mask(thread_mask() | sigbit(SIG));
        while consume_signal(SIG) {}
        restore_handler(SIG, &self.old);
        set_thread_mask(self.mask);
    }
}

fn reset() {
    HANDLED.store(0, SeqCst);
    HANDLER_MASK.store(0, SeqCst);
}

fn handled() -> u32 {
    HANDLED.load(SeqCst)
}

fn handler_mask() -> u64 {
    HANDLER_MASK.load(SeqCst)
}

fn pending() -> bool {
    pending_mask() & sigbit(SIG) != 0
}

/// pgetevents into a local buffer of `nr` events; returns the events read.
fn pg(b: &dyn Aio, ctx: u64, min: i64, nr: usize, t: Option<KernelTimespec>, sig: Sig) -> Result<Vec<IoEvent>, Errno> {
    let mut ev = vec![IoEvent::default(); nr.max(1)];
    let tp = t.as_ref().map_or(0, |t| t as *const KernelTimespec as u64);
    let n = pgetevents(b, ctx, min, nr as i64, ev.as_mut_ptr() as u64, tp, sig)?;
    ev.truncate(n as usize);
    Ok(ev)
}

fn count(r: &Result<Vec<IoEvent>, Errno>) -> Result<usize, Errno> {
    r.as_ref().map(|v| v.len()).map_err(|e| *e)
}

fn mask_arg(m: &u64) -> Sig {
    Sig::Mask(m as *const u64 as u64, 8)
}

/// Submits `n` ready requests one at a time, each in the ring before the next (FIFO order).
fn ready_in_order(b: &dyn Aio, fx: &Fx, ctx: &Ctx, cbs: &mut [Iocb], first: u64) -> Result<(), String> {
    let base = ring_avail(ctx.id);
    for (i, cb) in cbs.iter_mut().enumerate() {
        *cb = fx.ready(b, first + i as u64);
        if ctx.submit1(cb) != Ok(1) {
            return Err(format!("{}: submit of a ready request failed", b.name()));
        }
        wait_ring(ctx.id, base + i as u32 + 1, PROMPT)?;
    }
    Ok(())
}

fn pgetevents_no_mask_like_getevents(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 8)?;
    let before = thread_mask();
    let mut cbs = [Iocb::default(); 3];
    ready_in_order(b, &fx, &ctx, &mut cbs, 1)?;
    let z = ts(0, 0);
    let r = pg(b, ctx.id, 1, 1, Some(z), Sig::None);
    expect_eq!(o, "no mask, nr 1", count(&r), Ok(1));
    check_event("first", &r.unwrap()[0], 1, &cbs[0], ready_res(b))?;
    expect_eq!(o, "head after one", ctx.hdr().head, 1);
    // A NULL mask pointer means no mask: sigsetsize is not looked at.
    for size in [0u64, 4, 12345] {
        expect_eq!(o, format!("mask NULL, sigsetsize {size}, nr 0"), count(&pg(b, ctx.id, 0, 0, Some(z), Sig::Mask(0, size))), Ok(0));
    }
    let r = pg(b, ctx.id, 2, 8, Some(z), Sig::Mask(0, 4));
    expect_eq!(o, "mask NULL, sigsetsize 4, min 2", count(&r), Ok(2));
    let r = r.unwrap();
    check_event("second", &r[0], 2, &cbs[1], ready_res(b))?;
    check_event("third", &r[1], 3, &cbs[2], ready_res(b))?;
    let start = Instant::now();
    expect_eq!(o, "empty ring, 50 ms", count(&pg(b, ctx.id, 1, 8, Some(ts(0, 50_000_000)), Sig::None)), Ok(0));
    check!(start.elapsed() >= ms(49), "a 50 ms wait returned after {:?}", start.elapsed());
    // Argument checks as io_getevents': min_nr > nr, negative min_nr, bad ctx.
    expect_eq!(o, "min 2 > nr 1", count(&pg(b, ctx.id, 2, 1, Some(z), Sig::None)), Err(EINVAL));
    expect_eq!(o, "min -1", count(&pg(b, ctx.id, -1, 1, Some(z), Sig::None)), Err(EINVAL));
    expect_eq!(o, "ctx 0", count(&pg(b, 0, 1, 1, Some(z), Sig::None)), Err(EINVAL));
    // A request that completes while the call waits (NULL timeout).
    let mut cb = fx.later(b, 9, ms(100));
    expect_eq!(o, "submit later", ctx.submit1(&mut cb), Ok(1));
    let fire = fx.fire(b, ms(100));
    let r = std::thread::scope(|s| spawn_bounded(s, || pg(b, ctx.id, 1, 8, None, Sig::None)).join_within(PROMPT));
    if let Some(f) = fire {
        let _ = f.join();
    }
    let r = r?;
    expect_eq!(o, "NULL timeout, no mask: the event", count(&r), Ok(1));
    let e = r.unwrap()[0];
    check!(e.data == 9 && e.obj == &cb as *const Iocb as u64 && later_res_ok(b, e.res) && e.res2 == 0, "event {e:?}");
    expect_eq!(o, "thread mask unchanged", thread_mask(), before);
    Ok(())
}

fn pgetevents_with_mask_returns_events(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 8)?;
    let _g = SigGuard::install();
    let before = thread_mask();
    let z = ts(0, 0);
    let mut cbs = [Iocb::default(); 2];
    ready_in_order(b, &fx, &ctx, &mut cbs, 1)?;
    let m = sigbit(SIG) | sigbit(libc::SIGALRM);
    let r = pg(b, ctx.id, 1, 8, Some(z), mask_arg(&m));
    expect_eq!(o, "mask {USR2, ALRM}: both events", count(&r), Ok(2));
    let r = r.unwrap();
    check_event("first", &r[0], 1, &cbs[0], ready_res(b))?;
    check_event("second", &r[1], 2, &cbs[1], ready_res(b))?;
    expect_eq!(o, "mask restored", thread_mask(), before);
    // An empty mask (everything unblocked) and a full one (SIGKILL/SIGSTOP are dropped).
    for (what, m) in [("empty", 0u64), ("full", u64::MAX)] {
        let mut cb = fx.ready(b, 10);
        expect_eq!(o, format!("{what}: submit"), ctx.submit1(&mut cb), Ok(1));
        wait_ring(ctx.id, 1, PROMPT)?;
        let r = pg(b, ctx.id, 1, 8, Some(z), mask_arg(&m));
        expect_eq!(o, format!("{what} mask: the event"), count(&r), Ok(1));
        check_event(what, &r.unwrap()[0], 10, &cb, ready_res(b))?;
        expect_eq!(o, format!("{what} mask: thread mask restored"), thread_mask(), before);
    }
    // Waiting with a full mask: the completion still ends the wait.
    let full = u64::MAX;
    let mut cb = fx.later(b, 11, ms(100));
    expect_eq!(o, "submit later", ctx.submit1(&mut cb), Ok(1));
    let fire = fx.fire(b, ms(100));
    let r = std::thread::scope(|s| {
        spawn_bounded(s, || {
            let r = pg(b, ctx.id, 1, 8, Some(ts(10, 0)), mask_arg(&full));
            (r, thread_mask())
        })
        .join_within(PROMPT)
    });
    if let Some(f) = fire {
        let _ = f.join();
    }
    let (r, after) = r?;
    expect_eq!(o, "full mask, waiting: the event", count(&r), Ok(1));
    let e = r.unwrap()[0];
    check!(e.data == 11 && later_res_ok(b, e.res) && e.res2 == 0, "event {e:?}");
    // The waiting thread's own mask (the suite's threads start with the main thread's).
    expect_eq!(o, "the waiting thread's mask restored", after, before);
    expect_eq!(o, "no handler ran", handled(), 0);
    Ok(())
}

fn pgetevents_bad_sigsetsize_einval(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 8)?;
    let before = thread_mask();
    let mut cb = fx.ready(b, 5);
    expect_eq!(o, "submit", ctx.submit1(&mut cb), Ok(1));
    wait_ring(ctx.id, 1, PROMPT)?;
    let m = sigbit(SIG);
    let z = ts(0, 0);
    let unmapped = unmapped_addr();
    for size in [0u64, 1, 4, 7, 9, 16, 128, 1 << 32, u64::MAX] {
        expect_eq!(o, format!("sigsetsize {size}"), count(&pg(b, ctx.id, 1, 8, Some(z), Sig::Mask(&m as *const u64 as u64, size))), Err(EINVAL));
        // The size is checked before the mask is read, and before the context is looked up.
        expect_eq!(o, format!("sigsetsize {size}, mask unmapped"), count(&pg(b, ctx.id, 1, 8, Some(z), Sig::Mask(unmapped, size))), Err(EINVAL));
        expect_eq!(o, format!("sigsetsize {size}, ctx 0"), count(&pg(b, 0, 1, 8, Some(z), Sig::Mask(&m as *const u64 as u64, size))), Err(EINVAL));
        // A bad size with a blocking timeout: the call fails at once.
        let start = Instant::now();
        expect_eq!(o, format!("sigsetsize {size}, 5 s timeout"), count(&pg(b, ctx.id, 2, 8, Some(ts(5, 0)), Sig::Mask(&m as *const u64 as u64, size))), Err(EINVAL));
        check!(start.elapsed() < Duration::from_secs(4), "took {:?}", start.elapsed());
    }
    expect_eq!(o, "head, tail unchanged", (ctx.hdr().head, ctx.hdr().tail), (0, 1));
    expect_eq!(o, "thread mask unchanged", thread_mask(), before);
    let r = pg(b, ctx.id, 1, 8, Some(z), mask_arg(&m));
    expect_eq!(o, "sigsetsize 8", count(&r), Ok(1));
    check_event("event", &r.unwrap()[0], 5, &cb, ready_res(b))?;
    Ok(())
}

fn pgetevents_unreadable_efault_and_order(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 8)?;
    let before = thread_mask();
    let mut cbs = [Iocb::default(); 2];
    ready_in_order(b, &fx, &ctx, &mut cbs, 1)?;
    let m = sigbit(SIG);
    let good = mask_arg(&m);
    let z = ts(0, 0);
    let zp = &z as *const KernelTimespec as u64;
    let mut ev = [IoEvent::default(); 8];
    let evp = ev.as_mut_ptr() as u64;
    // Two mapped pages, the second unmapped: addresses whose first bytes are readable.
    let page = Map::new(8192)?;
    munmap(page.addr + 4096, 4096)?;
    let edge = page.addr + 4096;
    let unmapped = unmapped_addr();
    let kernel = crate::cases::setup::KERNEL_ADDR;
    // 1. The timeout first: before usig, sigsetsize, the mask and the context.
    for (what, t) in [("1", 1u64), ("unmapped", unmapped), ("straddling", edge - 8), ("kernel", kernel)] {
        expect_eq!(o, format!("timeout {what}"), pgetevents(b, ctx.id, 1, 8, evp, t, good), Err(EFAULT));
        expect_eq!(o, format!("timeout {what}, no mask"), pgetevents(b, ctx.id, 1, 8, evp, t, Sig::None), Err(EFAULT));
        expect_eq!(o, format!("timeout {what}, sigsetsize 4"), pgetevents(b, ctx.id, 1, 8, evp, t, Sig::Mask(&m as *const u64 as u64, 4)), Err(EFAULT));
        expect_eq!(o, format!("timeout {what}, usig unreadable"), pgetevents(b, ctx.id, 1, 8, evp, t, Sig::BadUsig(unmapped)), Err(EFAULT));
        expect_eq!(o, format!("timeout {what}, ctx 0"), pgetevents(b, 0, 1, 8, evp, t, good), Err(EFAULT));
    }
    // 2. usig (kaio: the argument block).
    for (what, u) in [("8", 8u64), ("unmapped", unmapped), ("straddling", edge - 8), ("kernel", kernel)] {
        expect_eq!(o, format!("usig {what}"), pgetevents(b, ctx.id, 1, 8, evp, zp, Sig::BadUsig(u)), Err(EFAULT));
    }
    // 3. The mask, read after the size check and before the context is looked up.
    for (what, p) in [("8", 8u64), ("unmapped", unmapped), ("straddling", edge - 4), ("kernel", kernel)] {
        expect_eq!(o, format!("mask {what}"), pgetevents(b, ctx.id, 1, 8, evp, zp, Sig::Mask(p, 8)), Err(EFAULT));
        expect_eq!(o, format!("mask {what}, ctx 0"), pgetevents(b, 0, 1, 8, evp, zp, Sig::Mask(p, 8)), Err(EFAULT));
        expect_eq!(o, format!("mask {what}, min > nr"), pgetevents(b, ctx.id, 9, 8, evp, zp, Sig::Mask(p, 8)), Err(EFAULT));
        expect_eq!(o, format!("mask {what}, NULL timeout"), pgetevents(b, ctx.id, 1, 8, evp, 0, Sig::Mask(p, 8)), Err(EFAULT));
    }
    // The last 8 bytes of the mapped page as the mask: readable, fine.
    let last = Sig::Mask(edge - 8, 8);
    expect_eq!(o, "mask at the page's last 8 bytes, nr 0", pgetevents(b, ctx.id, 0, 0, evp, zp, last), Ok(0));
    expect_eq!(o, "head, tail unchanged", (ctx.hdr().head, ctx.hdr().tail), (0, 2));
    // 4. The events buffer: EFAULT only when an event is copied; head stays.
    let ro = Map::new(4096)?;
    ro.protect(libc::PROT_READ)?;
    expect_eq!(o, "events read-only", pgetevents(b, ctx.id, 1, 8, ro.addr, zp, good), Err(EFAULT));
    expect_eq!(o, "events unmapped", pgetevents(b, ctx.id, 1, 8, unmapped, zp, good), Err(EFAULT));
    expect_eq!(o, "head unchanged", ctx.hdr().head, 0);
    expect_eq!(o, "thread mask unchanged after the failures", thread_mask(), before);
    let r = pg(b, ctx.id, 1, 8, Some(z), good);
    expect_eq!(o, "a valid call returns both", count(&r), Ok(2));
    let r = r.unwrap();
    check_event("first", &r[0], 1, &cbs[0], ready_res(b))?;
    check_event("second", &r[1], 2, &cbs[1], ready_res(b))?;
    // Empty ring: an unwritable events buffer goes unnoticed.
    expect_eq!(o, "empty ring, events unmapped", pgetevents(b, ctx.id, 1, 8, unmapped, zp, good), Ok(0));
    munmap(page.addr, 4096)?;
    std::mem::forget(page);
    Ok(())
}

/// A SIGUSR2 blocked in the thread and already pending, a mask that unblocks it: the call is
/// interrupted at once, the handler runs under the call's mask, the thread's mask is back after.
/// Where the mask is never installed (bad size, unreadable mask or timeout), the signal stays
/// pending and no handler runs.
fn pgetevents_pending_signal_unblocked_by_mask(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 8)?;
    let _g = SigGuard::install();
    let base = thread_mask() & !sigbit(SIG);
    let blocked = base | sigbit(SIG);
    let temp = base | sigbit(libc::SIGALRM);
    let also_blocks = base | sigbit(SIG) | sigbit(libc::SIGALRM);
    set_thread_mask(blocked);
    let z = ts(0, 0);
    let unmapped = unmapped_addr();
    let mut cb = fx.ready(b, 3);
    expect_eq!(o, "submit ready", ctx.submit1(&mut cb), Ok(1));
    wait_ring(ctx.id, 1, PROMPT)?;
    let ev_in_ring = ctx.hdr().tail;

    // The calls with an event in the ring come first: (what, min, ctx, timeout, sig, expected).
    type Step = (&'static str, i64, u64, Option<KernelTimespec>, Sig, Result<usize, Errno>, u32);
    let steps: Vec<Step> = vec![
        // The mask is never installed: the signal stays blocked and pending.
        ("sigsetsize 4", 1, ctx.id, Some(z), Sig::Mask(&temp as *const u64 as u64, 4), Err(EINVAL), 0),
        ("mask unreadable", 1, ctx.id, Some(z), Sig::Mask(unmapped, 8), Err(EFAULT), 0),
        ("no mask", 1, 0, Some(z), Sig::None, Err(EINVAL), 0),
        ("mask that blocks it too, bad ctx", 1, 0, Some(z), Sig::Mask(&also_blocks as *const u64 as u64, 8), Err(EINVAL), 0),
        // Installed: delivered, whatever the call returns.
        ("bad ctx", 1, 0, Some(z), Sig::Mask(&temp as *const u64 as u64, 8), Err(EINVAL), 1),
        ("min > nr", 9, ctx.id, Some(z), Sig::Mask(&temp as *const u64 as u64, 8), Err(EINVAL), 1),
        ("one event in the ring", 1, ctx.id, Some(ts(5, 0)), Sig::Mask(&temp as *const u64 as u64, 8), Ok(1), 1),
        // Empty ring from here on.
        ("empty ring, {0,0}", 1, ctx.id, Some(z), Sig::Mask(&temp as *const u64 as u64, 8), Err(EINTR), 1),
        ("empty ring, min 0", 0, ctx.id, Some(z), Sig::Mask(&temp as *const u64 as u64, 8), Err(EINTR), 1),
        ("empty ring, {5,0}", 1, ctx.id, Some(ts(5, 0)), Sig::Mask(&temp as *const u64 as u64, 8), Err(EINTR), 1),
        ("empty ring, NULL timeout", 1, ctx.id, None, Sig::Mask(&temp as *const u64 as u64, 8), Err(EINTR), 1),
        ("empty ring, mask that blocks it too", 1, ctx.id, Some(z), Sig::Mask(&also_blocks as *const u64 as u64, 8), Ok(0), 0),
        ("empty ring, no mask", 1, ctx.id, Some(z), Sig::None, Ok(0), 0),
    ];
    for (what, min, c, t, sig, want, runs) in steps {
        if !pending() {
            reset();
            tgkill(gettid(), SIG);
        }
        reset();
        check!(pending() && handled() == 0, "{what}: SIGUSR2 not pending before the call");
        let start = Instant::now();
        let r = pg(b, c, min, 8, t, sig);
        let took = start.elapsed();
        let (h, hm, after, still) = (handled(), handler_mask(), thread_mask(), pending());
        expect_eq!(o, format!("{what}: result"), count(&r), want);
        check!(took < Duration::from_secs(4), "{what}: took {took:?}");
        expect_eq!(o, format!("{what}: handler runs"), h, runs);
        if runs == 1 {
            // Under the call's mask plus the signal itself.
            expect_eq!(o, format!("{what}: mask in the handler"), hm, temp | sigbit(SIG));
        }
        expect_eq!(o, format!("{what}: still pending"), still, runs == 0);
        expect_eq!(o, format!("{what}: thread mask after"), after, blocked);
        if let Ok(v) = &r {
            if !v.is_empty() {
                check_event(what, &v[0], 3, &cb, ready_res(b))?;
            }
        }
    }
    expect_eq!(o, "tail", ctx.hdr().tail, ev_in_ring);
    check!(consume_signal(SIG), "the last pending SIGUSR2 was not there");
    Ok(())
}

/// A thread blocks SIGUSR2 and waits in pgetevents with a mask that unblocks it; another thread
/// sends it SIGUSR2 during the wait: EINTR, the handler ran (under the call's mask), and the
/// thread's own mask is back after the call.
fn pgetevents_signal_during_wait_eintr(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 8)?;
    let _g = SigGuard::install();
    let base = thread_mask() & !sigbit(SIG);
    let blocked = base | sigbit(SIG);
    let temp = base | sigbit(libc::SIGALRM);
    for (what, t) in [("{5,0}", Some(ts(5, 0))), ("NULL", None)] {
        // A pending request that must not complete.
        let mut cb = fx.pending(b, 1);
        expect_eq!(o, format!("{what}: submit pending"), ctx.submit1(&mut cb), Ok(1));
        reset();
        let tid = Tid::new();
        let start = Instant::now();
        let (r, h, hm, after, still, took, early) = std::thread::scope(|s| {
            let w = spawn_bounded(s, || {
                set_thread_mask(blocked);
                tid.publish();
                let r = pg(b, ctx.id, 1, 8, t, Sig::Mask(&temp as *const u64 as u64, 8));
                let took = start.elapsed();
                (r, handled(), handler_mask(), thread_mask(), pending(), took)
            });
            let id = tid.get();
            std::thread::sleep(ms(60));
            let early = w.finished();
            tgkill(id, SIG);
            let (r, h, hm, after, still, took) = w.join_within(PROMPT)?;
            Ok::<_, String>((r, h, hm, after, still, took, early))
        })?;
        check!(!early, "{what}: the wait ended before the signal");
        expect_eq!(o, format!("{what}: result"), count(&r), Err(EINTR));
        check!(took < Duration::from_secs(4), "{what}: returned after {took:?}");
        expect_eq!(o, format!("{what}: handler ran"), h, 1);
        expect_eq!(o, format!("{what}: mask in the handler"), hm, temp | sigbit(SIG));
        expect_eq!(o, format!("{what}: thread mask after"), after, blocked);
        expect_eq!(o, format!("{what}: nothing pending"), still, false);
        expect_eq!(o, format!("{what}: cancel the pending request"), ctx.cancel(&mut cb), Err(EINPROGRESS));
        let ev = ctx.wait_events(1, PROMPT)?;
        check_event("cancelled", &ev[0], 1, &cb, cancel_res(b))?;
    }
    Ok(())
}

/// A mask that blocks SIGUSR2: a SIGUSR2 sent during the wait does not interrupt it; the call
/// times out normally. If the thread's own mask unblocks SIGUSR2 the handler runs as the call
/// returns (under that mask); if it blocks it too, it stays pending.
fn pgetevents_masked_signal_does_not_interrupt(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let ctx = Ctx::new(b, 8)?;
    let _g = SigGuard::install();
    let base = thread_mask() & !sigbit(SIG);
    let temp = base | sigbit(SIG) | sigbit(libc::SIGALRM);
    for (what, own) in [("thread unblocks it", base), ("thread blocks it too", base | sigbit(SIG))] {
        reset();
        let tid = Tid::new();
        let call_ns = std::sync::atomic::AtomicI64::new(0);
        let start = Instant::now();
        let (r, took, h, hm, after, still, mid) = std::thread::scope(|s| {
            let w = spawn_bounded(s, || {
                set_thread_mask(own);
                tid.publish();
                call_ns.store(now_ns(), SeqCst);
                let r = pg(b, ctx.id, 1, 8, Some(ts(0, 200_000_000)), Sig::Mask(&temp as *const u64 as u64, 8));
                let took = start.elapsed();
                let got = (r, took, handled(), handler_mask(), thread_mask(), pending());
                // Leave nothing pending behind.
                set_thread_mask(own | sigbit(SIG));
                consume_signal(SIG);
                got
            });
            let id = tid.get();
            std::thread::sleep(ms(30));
            tgkill(id, SIG);
            std::thread::sleep(ms(70));
            let mid = (handled(), w.finished(), now_ns() - call_ns.load(SeqCst));
            let (r, took, h, hm, after, still) = w.join_within(PROMPT)?;
            Ok::<_, String>((r, took, h, hm, after, still, mid))
        })?;
        // Only if this thread looked well within the 200 ms wait (a loaded host may delay it).
        if mid.2 < 150_000_000 {
            crate::want_eq!(format!("{what}: during the wait: handler runs, call returned"), (mid.0, mid.1), (0, false));
        }
        expect_eq!(o, format!("{what}: result"), count(&r), Ok(0));
        check!(took >= ms(195), "{what}: returned after {took:?}, before its 200 ms timeout");
        expect_eq!(o, format!("{what}: thread mask after"), after, own);
        if own & sigbit(SIG) == 0 {
            expect_eq!(o, format!("{what}: handler ran as the call returned"), h, 1);
            expect_eq!(o, format!("{what}: mask in the handler"), hm, own | sigbit(SIG));
            expect_eq!(o, format!("{what}: pending after"), still, false);
        } else {
            expect_eq!(o, format!("{what}: handler ran"), h, 0);
            expect_eq!(o, format!("{what}: pending after"), still, true);
        }
    }
    Ok(())
}

/// A child process stops this process (SIGSTOP) while it waits in pgetevents and continues it
/// (SIGCONT) 60 ms later. No handler runs, so the call is restarted transparently with its
/// timeout read again: it returns its events or times out after the full timeout counted from
/// the restart, never EINTR.
fn pgetevents_restart_after_stop_cont(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 8)?;
    let m = sigbit(SIG);
    // A full mask too: SIGSTOP cannot be blocked.
    let full = u64::MAX;
    for (what, sig) in [("no mask", Sig::None), ("full mask", Sig::Mask(&full as *const u64 as u64, 8))] {
        let mut done = false;
        for attempt in 0..3 {
            let (r, stop_ns, cont_ns, t1) = stopped_during(|| pg(b, ctx.id, 1, 8, Some(ts(0, 200_000_000)), sig))?;
            if stop_ns > t1 {
                // The child was too slow: the stop came after the call. Try again.
                eprintln!("# {what}: attempt {attempt}: SIGSTOP only after the call returned");
                continue;
            }
            expect_eq!(o, format!("{what}: timeout 200 ms across a stop"), count(&r), Ok(0));
            check!(
                t1 >= cont_ns + 195_000_000,
                "{what}: returned {} ms after SIGCONT: the timeout was not read again on restart",
                (t1 - cont_ns) / 1_000_000
            );
            done = true;
            break;
        }
        check!(done, "{what}: the child never stopped us during the call");
    }
    // A request that completes while the process is stopped (kaio: its timer fires; native: the
    // writer thread is stopped too and writes after SIGCONT): the restarted call returns it.
    let mut cb = fx.later(b, 7, ms(40));
    expect_eq!(o, "submit later", ctx.submit1(&mut cb), Ok(1));
    let fire = fx.fire(b, ms(40));
    let (r, _stop, cont_ns, t1) = stopped_during(|| pg(b, ctx.id, 1, 8, Some(ts(10, 0)), Sig::Mask(&m as *const u64 as u64, 8)))?;
    if let Some(f) = fire {
        let _ = f.join();
    }
    expect_eq!(o, "event across a stop", count(&r), Ok(1));
    let e = r.unwrap()[0];
    check!(e.data == 7 && e.obj == &cb as *const Iocb as u64 && later_res_ok(b, e.res) && e.res2 == 0, "event {e:?}");
    check!(t1 < cont_ns + 5_000_000_000, "returned {} ms after SIGCONT", (t1 - cont_ns) / 1_000_000);
    expect_eq!(o, "thread mask", thread_mask() & sigbit(SIG), 0);
    Ok(())
}

/// Runs `f` while a forked child sends this process SIGSTOP 20 ms after the fork and SIGCONT
/// 60 ms later. Returns f's result, the CLOCK_MONOTONIC times (ns) of the stop and the continue
/// as the child sent them, and the time f returned.
fn stopped_during<T>(f: impl FnOnce() -> T) -> Result<(T, i64, i64, i64), String> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err("pipe2 failed".into());
    }
    // SAFETY: plain calls.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the child only makes async-signal-safe calls (clock_gettime, nanosleep, kill,
    // write, _exit) and allocates nothing.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: errno {}", kaio::raw::errno()));
    }
    if pid == 0 {
        // SAFETY: see above.
        unsafe {
            let nap = |ns: i64| {
                let t = libc::timespec { tv_sec: 0, tv_nsec: ns };
                libc::nanosleep(&t, std::ptr::null_mut());
            };
            nap(20_000_000);
            let s = now_ns();
            libc::kill(parent, libc::SIGSTOP);
            nap(60_000_000);
            let c = now_ns();
            libc::kill(parent, libc::SIGCONT);
            let both = [s, c];
            libc::write(fds[1], both.as_ptr().cast(), 16);
            libc::_exit(0);
        }
    }
    // SAFETY: closes our copy of the write end.
    unsafe { libc::close(fds[1]) };
    let r = f();
    let t1 = now_ns();
    let mut both = [0i64; 2];
    let mut got = 0usize;
    let deadline = Instant::now() + PROMPT;
    while got < 16 && Instant::now() < deadline {
        // SAFETY: reads into the array.
        let n = unsafe { libc::read(fds[0], (both.as_mut_ptr() as *mut u8).add(got).cast(), 16 - got) };
        if n <= 0 {
            break;
        }
        got += n as usize;
    }
    // SAFETY: closes our read end.
    unsafe { libc::close(fds[0]) };
    let status = wait_child(pid, PROMPT)?;
    if status != 0 || got != 16 {
        return Err(format!("the stopping child: status {status:#x}, {got} bytes of timestamps"));
    }
    Ok((r, both[0], both[1], t1))
}

/// kaio only: the argument block itself unreadable, wholly or in part; nothing happens to the
/// context.
fn pgetevents_kaio_args_unreadable_efault() -> CaseResult {
    let k = Kaio::open()?;
    let fx = Fx::new()?;
    let ctx = Ctx::new(&k, 8)?;
    let mut cb = fx.ready(&k, 1);
    crate::check_eq!(ctx.submit1(&mut cb), Ok(1));
    wait_ring(ctx.id, 1, PROMPT)?;
    let page = Map::new(8192)?;
    munmap(page.addr + 4096, 4096)?;
    let z = ts(0, 0);
    let size = std::mem::size_of::<kaio_pgetevents_args>() as u64;
    crate::check_eq!(size, 56);
    // A valid block whose last field (sigsetsize) lies on the unmapped page.
    let mut ev = [IoEvent::default(); 8];
    let at = page.addr + 4096 - 48;
    let a = kaio_pgetevents_args { ctx_id: ctx.id, min_nr: 1, nr: 8, events: ev.as_mut_ptr() as u64, timeout: &z as *const _ as u64, sigmask: 0, sigsetsize: 0 };
    // SAFETY: writes the first 48 bytes of the block into the mapped page.
    unsafe { std::ptr::copy_nonoverlapping((&a as *const kaio_pgetevents_args).cast::<u8>(), at as *mut u8, 48) };
    for (what, p) in [("NULL", 0u64), ("8", 8), ("unmapped", unmapped_addr()), ("kernel", crate::cases::setup::KERNEL_ADDR), ("straddling", at)] {
        // SAFETY: the kernel reads the block at p and finds it unreadable.
        let r = unsafe { kaio::raw::ioctl(k.fd, KAIO_IOC_PGETEVENTS, p as *const kaio_pgetevents_args) };
        crate::check_eq!((what, r.map_err(Errno)), (what, Err(EFAULT)));
    }
    crate::check_eq!(ctx.hdr().head, 0);
    let r = pg(&k, ctx.id, 1, 8, Some(z), Sig::None);
    crate::check_eq!(count(&r), Ok(1));
    check_event("event", &r.unwrap()[0], 1, &cb, 0)?;
    munmap(page.addr, 4096)?;
    std::mem::forget(page);
    Ok(())
}
