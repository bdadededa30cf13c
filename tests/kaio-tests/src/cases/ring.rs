//! The mapped completion ring (§1.7, §6, §7, §10.4-§10.6, §13.3 T41-T44, §13.5 T79-T83): slot
//! accounting and EAGAIN, user-space reaping, wrap-around, corrupt head/tail/id, munmap, mremap.

use crate::aio::*;
use crate::ktap::{Case, CaseResult};
use crate::util::*;
use crate::{check, expect_eq, want_eq};
use kaio::uapi::*;

pub fn cases() -> Vec<Case> {
    vec![
        Case::both("ring_full_eagain_then_reap", ring_full_eagain_then_reap),
        Case::both("ring_user_head_advance_frees_slots", ring_user_head_advance_frees_slots),
        Case::both("ring_submit_huge_nr_capped", ring_submit_huge_nr_capped),
        Case::both("ring_user_reaping", ring_user_reaping),
        Case::both("ring_wraparound_fifo", ring_wraparound_fifo),
        Case::both("ring_tail_corruption_recovers", ring_tail_corruption_recovers),
        Case::both("ring_id_corruption_einval", ring_id_corruption_einval),
        Case::both("ring_munmap_einval", ring_munmap_einval),
        Case::both("ring_munmap_then_anon_remap_revives", ring_munmap_then_anon_remap_revives),
        Case::both("ring_mremap_move_changes_handle", ring_mremap_move_changes_handle),
        Case::both("ring_mremap_grow_refused", ring_mremap_grow_refused),
        Case::both("ring_mremap_piece_leaves_other_rings", ring_mremap_piece_leaves_other_rings),
    ]
}

const DEAD: u32 = 0xdead;

/// Submits ready requests one at a time until EAGAIN (at most `limit`); returns the count.
fn fill(ctx: &Ctx, fx: &Fx, limit: u32, data0: u64) -> Result<(u32, Vec<Box<Iocb>>), String> {
    let mut cbs = Vec::new();
    for i in 0..limit {
        let mut cb = Box::new(Iocb { aio_key: DEAD, ..fx.ready(ctx.b, data0 + i as u64) });
        match ctx.submit1(&mut cb) {
            Ok(1) => cbs.push(cb),
            Err(EAGAIN) => {
                if cb.aio_key != DEAD {
                    return Err(format!("EAGAIN after {i}: aio_key was written ({:#x})", cb.aio_key));
                }
                return Ok((i, cbs));
            }
            r => return Err(format!("submission {i}: expected Ok(1) or Err(EAGAIN), got {r:?}")),
        }
    }
    Ok((limit, cbs))
}

fn ring_full_eagain_then_reap(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    for n in [1u32, 100] {
        let ctx = Ctx::new(b, n)?;
        let (_, ring_nr) = ring_geometry(n);
        let (a, cbs) = fill(&ctx, &fx, 2 * ring_nr, 0)?;
        // At least nr_events, never more than ring_nr - 1 (the exact count is per-CPU
        // batching detail: Linux 120 for ctx(1) on 2 CPUs).
        check!(a >= n && a < ring_nr, "ctx({n}): accepted {a} before EAGAIN, expected {n} ..= {}", ring_nr - 1);
        o.rec(format!("ctx({n}): accepted within [nr_events, ring_nr - 1]"), true);
        let mut cb = Iocb { aio_key: DEAD, ..fx.ready(b, 999) };
        expect_eq!(o, format!("ctx({n}): full again"), ctx.submit1(&mut cb), Err(EAGAIN));
        expect_eq!(o, "aio_key untouched by EAGAIN", cb.aio_key, DEAD);
        wait_ring(ctx.id, a, PROMPT)?;
        // Reap one: a submission succeeds again.
        expect_eq!(o, format!("ctx({n}): reap 1"), ctx.getev(1, 1, Some(ts(0, 0))).map(|v| v.len()), Ok(1));
        let mut cb = fx.ready(b, 1000);
        expect_eq!(o, format!("ctx({n}): submit after reaping"), ctx.submit1(&mut cb), Ok(1));
        let ev = ctx.wait_events(a as usize, PROMPT)?;
        check!(ev.iter().any(|e| e.data == 1000), "the last submission's event is missing");
        drop(cbs);
    }
    Ok(())
}

fn ring_user_head_advance_frees_slots(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 1)?;
    let (_, ring_nr) = ring_geometry(1);
    let (a, _cbs) = fill(&ctx, &fx, 2 * ring_nr, 0)?;
    check!(a >= 10, "only {a} accepted");
    wait_ring(ctx.id, a, PROMPT)?;
    let h = ctx.hdr();
    ring_set_head(ctx.id, (h.head + 10) % h.nr);
    let (more, _cbs2) = fill(&ctx, &fx, 2 * ring_nr, 1000)?;
    // Linux: exactly 10 on one CPU; in general at least one and never beyond ring_nr - 1
    // unconsumed.
    let bound = ring_nr - 1 - (a - 10);
    check!(more >= 1 && more <= bound, "after head += 10: {more} more accepted, expected 1 ..= {bound}");
    o.rec("more accepted after head += 10 within bounds", true);
    wait_ring(ctx.id, a - 10 + more, PROMPT)?;
    let ev = ctx.getev(1, 256, Some(ts(0, 0))).map_err(|e| format!("{e:?}"))?;
    expect_eq!(o, "getevents returns the rest", ev.len() as u32 == a - 10 + more, true);
    Ok(())
}

fn ring_submit_huge_nr_capped(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 1)?;
    let (_, ring_nr) = ring_geometry(1);
    let mut cb = fx.ready(b, 5);
    let arr = vec![&mut cb as *mut Iocb; 5000];
    let r = ctx.submit(&arr);
    let n = match r {
        Ok(n) if n >= 1 && n < ring_nr as i64 => n,
        r => return Err(format!("io_submit(ctx(1), 5000 copies): expected 1 ..= {}, got {r:?}", ring_nr - 1)),
    };
    o.rec("accepted within [1, ring_nr - 1]", true);
    let ev = ctx.wait_events(n as usize, PROMPT)?;
    for e in &ev {
        check_event("event", e, 5, &cb, ready_res(b))?;
    }
    ctx.no_events(ms(30))?;
    // nr larger than the ring on an empty ring of a bigger context: capped, still partial-ok.
    let big = Ctx::new(b, 4)?;
    let r = big.submit(&arr[..300]);
    check!(matches!(r, Ok(k) if k >= 4 && k < ring_nr as i64), "io_submit(ctx(4), 300): {r:?}");
    Ok(())
}

fn ring_user_reaping(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 8)?;
    let nr = ctx.hdr().nr;
    let mut data = 0u64;
    for round in 0..6 {
        let mut cbs: Vec<Iocb> = (0..60).map(|i| fx.ready(b, data + i)).collect();
        ctx.submit_all(&mut cbs)?;
        wait_ring(ctx.id, 60, PROMPT)?;
        let h = ctx.hdr();
        check!(h.head < nr && h.tail < nr, "round {round}: head {} tail {} not below nr {nr}", h.head, h.tail);
        let ev = user_reap(ctx.id);
        expect_eq!(o, format!("round {round}: events read from the ring"), ev.len(), 60);
        let mut seen: Vec<u64> = ev.iter().map(|e| e.data).collect();
        seen.sort();
        expect_eq!(o, format!("round {round}: data"), seen, (data..data + 60).collect::<Vec<_>>());
        for e in &ev {
            let i = (e.data - data) as usize;
            check_event("reaped", e, e.data, &cbs[i], ready_res(b))?;
        }
        expect_eq!(o, format!("round {round}: nothing left for io_getevents"), ctx.getev(0, 8, Some(ts(0, 0))).map(|v| v.len()), Ok(0));
        data += 60;
    }
    Ok(())
}

fn ring_wraparound_fifo(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 128)?;
    let nr = ctx.hdr().nr;
    let mut data = 0u64;
    for round in 0..10 {
        let mut cbs: Vec<Iocb> = (0..100).map(|i| fx.ready(b, data + i)).collect();
        ctx.submit_all(&mut cbs)?;
        wait_ring(ctx.id, 100, PROMPT)?;
        let h = ctx.hdr();
        check!(h.head < nr && h.tail < nr, "round {round}: head {} tail {} not below nr {nr}", h.head, h.tail);
        let in_ring: Vec<IoEvent> = (0..100).map(|i| ring_event(ctx.id, (h.head + i) % nr)).collect();
        let got = ctx.getev(100, 100, Some(ts(5, 0))).map_err(|e| format!("{e:?}"))?;
        // io_getevents hands out the ring's events in ring (FIFO) order across the wrap.
        expect_eq!(o, format!("round {round}: io_getevents order = ring order"), got == in_ring, true);
        if !b.uses_delay() {
            want_eq!("native: completion order = submission order", got.iter().map(|e| e.data).collect::<Vec<_>>(), (data..data + 100).collect::<Vec<_>>());
        }
        let mut seen: Vec<u64> = got.iter().map(|e| e.data).collect();
        seen.sort();
        expect_eq!(o, format!("round {round}: data"), seen, (data..data + 100).collect::<Vec<_>>());
        expect_eq!(o, format!("round {round}: head = tail afterwards"), ctx.hdr().head, ctx.hdr().tail);
        data += 100;
    }
    Ok(())
}

fn ring_tail_corruption_recovers(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 8)?;
    let mut c1 = fx.ready(b, 1);
    expect_eq!(o, "submit 1", ctx.submit1(&mut c1), Ok(1));
    wait_ring(ctx.id, 1, PROMPT)?;
    ring_set_tail(ctx.id, ctx.hdr().head);
    expect_eq!(o, "tail = head: nothing to read", ctx.getev(1, 8, Some(ts(0, 0))).map(|v| v.len()), Ok(0));
    let mut c2 = fx.ready(b, 2);
    expect_eq!(o, "submit 2", ctx.submit1(&mut c2), Ok(1));
    // The producer rewrites tail from its own copy: both events come back.
    let ev = ctx.wait_events(2, PROMPT)?;
    let mut d: Vec<u64> = ev.iter().map(|e| e.data).collect();
    d.sort();
    expect_eq!(o, "both events", d, vec![1, 2]);
    // Garbage head/tail beyond nr are reduced modulo nr (never out of bounds).
    ring_set_head(ctx.id, 0xffff_fff0);
    ring_set_tail(ctx.id, 0xffff_fff0);
    expect_eq!(o, "garbage head = tail", ctx.getev(0, 8, Some(ts(0, 0))).map(|v| v.len()), Ok(0));
    Ok(())
}

fn ring_id_corruption_einval(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let a = Ctx::new(b, 8)?;
    let c = Ctx::new(b, 8)?;
    expect_eq!(o, "ids", (a.hdr().id, c.hdr().id), (0, 1));
    let mut pend = fx.pending(b, 1);
    expect_eq!(o, "submit pending", a.submit1(&mut pend), Ok(1));
    for bad in [77u32, 1, 0xffff_ffff, 0x8000_0000] {
        ring_set_id(a.id, bad);
        let mut cb = fx.ready(b, 2);
        expect_eq!(o, format!("id {bad:#x}: submit"), a.submit1(&mut cb), Err(EINVAL));
        expect_eq!(o, format!("id {bad:#x}: getevents"), a.getev(0, 8, Some(ts(0, 0))).map(|v| v.len()), Err(EINVAL));
        expect_eq!(o, format!("id {bad:#x}: cancel"), a.cancel(&mut pend), Err(EINVAL));
        expect_eq!(o, format!("id {bad:#x}: destroy"), b.destroy(a.id), Err(EINVAL));
    }
    ring_set_id(a.id, 0);
    let mut cb = fx.ready(b, 3);
    expect_eq!(o, "id restored: submit", a.submit1(&mut cb), Ok(1));
    expect_eq!(o, "id restored: cancel", a.cancel(&mut pend), Err(EINPROGRESS));
    a.wait_events(2, PROMPT)?;
    expect_eq!(o, "other ctx unaffected", c.getev(0, 8, Some(ts(0, 0))).map(|v| v.len()), Ok(0));
    expect_eq!(o, "destroy", a.destroy(), Ok(0));
    Ok(())
}

/// Runs `body` in a forked child (its ring mappings go with it) and then checks that `nr` is
/// back at the value it had before (which `body` gets): the child's exit tore its contexts down.
pub(super) fn in_child_nr_restored(b: &dyn Aio, o: &mut Obs, body: impl FnOnce(u64) -> Result<(), String>) -> CaseResult {
    let base = read_u64(b.nr_path())?;
    o.rec("run in a child", ());
    in_child(PROMPT, || body(base))?;
    expect_eq!(o, "nr after the child exited", read_u64(b.nr_path())?, base);
    Ok(())
}

fn ring_munmap_einval(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    in_child_nr_restored(b, o, |base| {
        let fx = Fx::new()?;
        let ctx = Ctx::new(b, 50)?;
        let (pages, _) = ring_geometry(50);
        let mut pend = fx.pending(b, 1);
        check!(ctx.submit1(&mut pend) == Ok(1), "submit");
        munmap(ctx.id, (pages * 4096) as usize)?;
        let mut cb = fx.ready(b, 2);
        let r = ctx.submit1(&mut cb);
        check!(r == Err(EINVAL), "submit after munmap: expected Err(EINVAL), got {r:?}");
        let r = ctx.getev(0, 8, Some(ts(0, 0))).map(|v| v.len());
        check!(r == Err(EINVAL), "getevents after munmap: expected Err(EINVAL), got {r:?}");
        let r = ctx.cancel(&mut pend);
        check!(r == Err(EINVAL), "cancel after munmap: expected Err(EINVAL), got {r:?}");
        let r = b.destroy(ctx.id);
        check!(r == Err(EINVAL), "destroy after munmap: expected Err(EINVAL), got {r:?}");
        let now = read_u64(b.nr_path())?;
        check!(now == base + 50, "nr after munmap: expected {} (context still alive), got {now}", base + 50);
        ctx.forget();
        std::mem::forget(ctx);
        std::mem::forget(fx);
        Ok(())
    })
}

fn ring_munmap_then_anon_remap_revives(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    in_child_nr_restored(b, o, |base| {
        let fx = Fx::new()?;
        let ctx = Ctx::new(b, 8)?;
        let (pages, _) = ring_geometry(8);
        let id = ctx.hdr().id;
        munmap(ctx.id, (pages * 4096) as usize)?;
        let mut cb = fx.ready(b, 2);
        check!(ctx.submit1(&mut cb) == Err(EINVAL), "submit after munmap");
        // Readable memory at the old address with the right id in its first word: the
        // handle works again (the kernel never goes through the user mapping).
        // SAFETY: maps anonymous memory at an address we know to be free.
        let p = unsafe {
            libc::mmap(ctx.id as *mut libc::c_void, 4096, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED, -1, 0)
        };
        check!(p as u64 == ctx.id, "mmap at the old ring address failed");
        ring_set_id(ctx.id, id);
        let r = ctx.submit1(&mut cb);
        check!(r == Ok(1), "submit after remapping: expected Ok(1), got {r:?}");
        // Events go to the context's own pages (which io_getevents reads), not to the
        // anonymous page.
        let ev = ctx.wait_events(1, PROMPT)?;
        check_event("event after remapping", &ev[0], 2, &cb, ready_res(b))?;
        let h = ring_hdr(ctx.id);
        check!(h.tail == 0 && h.head == 0, "the anonymous page was written: {h:?}");
        let r = ctx.destroy();
        check!(r == Ok(0), "destroy after remapping: expected Ok(0), got {r:?}");
        // io_destroy unmapped whatever was at the ring's address.
        let m = mapping_at(p as u64);
        check!(m.is_none(), "the anonymous mapping survived io_destroy: {m:?}");
        let now = read_u64(b.nr_path())?;
        check!(now == base, "nr after destroy: expected {base}, got {now}");
        std::mem::forget(fx);
        Ok(())
    })
}

fn ring_mremap_move_changes_handle(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    in_child_nr_restored(b, o, |base| {
        let fx = Fx::new()?;
        let ctx = Ctx::new(b, 8)?;
        let (pages, _) = ring_geometry(8);
        let len = (pages * 4096) as usize;
        let mut c1 = fx.ready(b, 1);
        check!(ctx.submit1(&mut c1) == Ok(1), "submit");
        wait_ring(ctx.id, 1, PROMPT)?;
        let target = reserve(len)?;
        // SAFETY: moves our ring onto our own reserved range.
        let p = unsafe {
            libc::mremap(ctx.id as *mut libc::c_void, len, len, libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED, target as *mut libc::c_void)
        };
        check!(p as u64 == target, "mremap: errno {}", kaio::raw::errno());
        let old = ctx.id;
        ctx.forget();
        let moved = Ctx::adopt(b, target);
        check!(moved.hdr().magic == AIO_RING_MAGIC && moved.hdr().tail == 1, "moved ring header {:?}", moved.hdr());
        let mut c2 = fx.ready(b, 2);
        let arr = [&mut c2 as *mut Iocb];
        let r = b.submit(old, 1, arr.as_ptr());
        check!(r == Err(EINVAL), "submit with the old handle: expected Err(EINVAL), got {r:?}");
        let r = moved.submit1(&mut c2);
        check!(r == Ok(1), "submit with the new handle: expected Ok(1), got {r:?}");
        let ev = moved.wait_events(2, PROMPT)?;
        check!(ev[0].data == 1 && ev[1].data == 2, "events {ev:?}");
        let r = b.destroy(old);
        check!(r == Err(EINVAL), "destroy with the old handle: expected Err(EINVAL), got {r:?}");
        let r = moved.destroy();
        check!(r == Ok(0), "destroy with the new handle: expected Ok(0), got {r:?}");
        check!(mapping_at(target).is_none(), "the moved ring is still mapped after io_destroy");
        let now = read_u64(b.nr_path())?;
        check!(now == base, "nr after destroy: expected {base}, got {now}");
        std::mem::forget(fx);
        Ok(())
    })
}

/// Moving one page out of the middle of a ring re-homes that ring only (Linux finds the ring by
/// its file): a context set up after it keeps its handle.
fn ring_mremap_piece_leaves_other_rings(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    in_child_nr_restored(b, o, |_| {
        let fx = Fx::new()?;
        let big = Ctx::new(b, 1024)?;
        let (pages, _) = ring_geometry(1024);
        check!(pages >= 3, "a 1024-event ring has {pages} pages");
        let other = Ctx::new(b, 8)?;
        // Room for a whole ring: a later teardown of the big context unmaps its full size from
        // the moved piece's address, as Linux does.
        let target = reserve((pages * 4096) as usize)?;
        // SAFETY: moves page 1 of our own ring onto our own reserved range.
        let p = unsafe {
            libc::mremap((big.id + 4096) as *mut libc::c_void, 4096, 4096, libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED, target as *mut libc::c_void)
        };
        check!(p as u64 == target, "mremap of page 1: errno {}", kaio::raw::errno());
        big.forget();
        let mut cb = fx.ready(b, 7);
        let r = other.submit1(&mut cb);
        check!(r == Ok(1), "submit on the other context: expected Ok(1), got {r:?}");
        let ev = other.wait_events(1, PROMPT)?;
        check!(ev[0].data == 7, "event {ev:?}");
        let r = other.destroy();
        check!(r == Ok(0), "destroy of the other context: expected Ok(0), got {r:?}");
        std::mem::forget(fx);
        Ok(())
    })
}

fn ring_mremap_grow_refused(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 8)?;
    let (pages, _) = ring_geometry(8);
    let len = (pages * 4096) as usize;
    let errno_of = |p: *mut libc::c_void| if p == libc::MAP_FAILED { Errno(kaio::raw::errno()) } else { Errno(0) };
    // SAFETY: mremap calls on our ring that the kernel must refuse.
    let r = errno_of(unsafe { libc::mremap(ctx.id as *mut libc::c_void, len, len + 4096, 0) });
    expect_eq!(o, "grow in place", r, EFAULT);
    // SAFETY: as above.
    let r = errno_of(unsafe { libc::mremap(ctx.id as *mut libc::c_void, len, len + 4096, libc::MREMAP_MAYMOVE) });
    expect_eq!(o, "grow, may move", r, EFAULT);
    // SAFETY: as above.
    let r = errno_of(unsafe { libc::mremap(ctx.id as *mut libc::c_void, len, len, libc::MREMAP_MAYMOVE | libc::MREMAP_DONTUNMAP) });
    expect_eq!(o, "MREMAP_DONTUNMAP", r, EINVAL);
    let mut cb = fx.ready(b, 1);
    expect_eq!(o, "handle still works", ctx.submit1(&mut cb), Ok(1));
    ctx.wait_events(1, PROMPT)?;
    expect_eq!(o, "destroy", ctx.destroy(), Ok(0));
    Ok(())
}
