//! io_cancel (§9, §13.6): aio_key read (EFAULT) and check (EINVAL) before the lookup, match by
//! iocb address among the cancellable requests, EINPROGRESS on success with the event through
//! the ring, `result` never touched. The cancellable request is a POLL on an empty pipe
//! natively (cancelled res 0) and a DELAY on kaio (cancelled res -ECANCELED).

use crate::aio::*;
use crate::ktap::{Case, CaseResult};
use crate::util::*;
use crate::{check, expect_eq};
use kaio::uapi::*;

pub fn cases() -> Vec<Case> {
    vec![
        Case::both("cancel_pending_einprogress_event", cancel_pending_einprogress_event),
        Case::both("cancel_twice_einval", cancel_twice_einval),
        Case::both("cancel_key_nonzero_einval", cancel_key_nonzero_einval),
        Case::both("cancel_iocb_unreadable_efault", cancel_iocb_unreadable_efault),
        Case::both("cancel_completed_einval", cancel_completed_einval),
        Case::both("cancel_result_ignored", cancel_result_ignored),
        Case::both("cancel_bad_ctx_einval", cancel_bad_ctx_einval),
        Case::both("cancel_matches_iocb_address", cancel_matches_iocb_address),
        Case::both("cancel_wrong_ctx_einval", cancel_wrong_ctx_einval),
        Case::both("cancel_one_of_many", cancel_one_of_many),
        Case::both("cancel_then_destroy", cancel_then_destroy),
        Case::both("cancel_same_address_oldest_first", cancel_same_address_oldest_first),
        Case::both("cancel_same_address_40_oldest_first", cancel_same_address_40_oldest_first),
    ]
}

fn resfd(fx: &Fx, cb: Iocb) -> Iocb {
    Iocb { aio_flags: IOCB_FLAG_RESFD, aio_resfd: fx.efd.0 as u32, ..cb }
}

fn cancel_pending_einprogress_event(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 8)?;
    let mut cb = resfd(&fx, fx.pending(b, 0x1234));
    expect_eq!(o, "submit", ctx.submit1(&mut cb), Ok(1));
    ctx.no_events(ms(30))?;
    expect_eq!(o, "io_cancel", ctx.cancel(&mut cb), Err(EINPROGRESS));
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("cancelled", &ev[0], 0x1234, &cb, cancel_res(b))?;
    expect_eq!(o, "eventfd", fx.efd.wait_for(1, PROMPT), 1);
    ctx.no_events(ms(30))?;
    expect_eq!(o, "eventfd later", fx.efd.take(), 0);
    Ok(())
}

fn cancel_twice_einval(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 8)?;
    let mut cb = fx.pending(b, 1);
    expect_eq!(o, "submit", ctx.submit1(&mut cb), Ok(1));
    expect_eq!(o, "first io_cancel", ctx.cancel(&mut cb), Err(EINPROGRESS));
    expect_eq!(o, "second io_cancel, event not reaped", ctx.cancel(&mut cb), Err(EINVAL));
    ctx.wait_events(1, PROMPT)?;
    expect_eq!(o, "third io_cancel, event reaped", ctx.cancel(&mut cb), Err(EINVAL));
    ctx.no_events(ms(30))?;
    Ok(())
}

fn cancel_key_nonzero_einval(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 8)?;
    let mut never = Iocb { aio_key: 7, ..fx.pending(b, 1) };
    expect_eq!(o, "io_cancel(0, key 7)", b.cancel(0, &mut never, std::ptr::null_mut()), Err(EINVAL));
    expect_eq!(o, "io_cancel(ctx, key 7)", ctx.cancel(&mut never), Err(EINVAL));
    // T110: a pending request whose key user space changed is not cancelled (and not touched).
    let mut cb = fx.pending(b, 2);
    expect_eq!(o, "submit", ctx.submit1(&mut cb), Ok(1));
    cb.aio_key = 1;
    expect_eq!(o, "io_cancel with key 1", ctx.cancel(&mut cb), Err(EINVAL));
    ctx.no_events(ms(50))?;
    cb.aio_key = 0;
    expect_eq!(o, "io_cancel with key 0 again", ctx.cancel(&mut cb), Err(EINPROGRESS));
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("cancelled", &ev[0], 2, &cb, cancel_res(b))?;
    Ok(())
}

fn cancel_iocb_unreadable_efault(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 8)?;
    let mut cb = fx.pending(b, 1);
    expect_eq!(o, "submit", ctx.submit1(&mut cb), Ok(1));
    // aio_key (offset 8) on an unmapped page while the start of the iocb is readable.
    let m = Map::new(8192)?;
    munmap(m.addr + 4096, 4096)?;
    let straddle = m.addr + 4096 - 8;
    for (what, p) in [("8", 8u64), ("NULL", 0), ("unmapped", unmapped_addr()), ("key unmapped", straddle), ("kernel", crate::cases::setup::KERNEL_ADDR)] {
        // The key is read before the handle is looked up.
        expect_eq!(o, format!("io_cancel(0, {what})"), b.cancel(0, p as *mut Iocb, std::ptr::null_mut()), Err(EFAULT));
        expect_eq!(o, format!("io_cancel(ctx, {what})"), b.cancel(ctx.id, p as *mut Iocb, std::ptr::null_mut()), Err(EFAULT));
    }
    munmap(m.addr, 4096)?;
    std::mem::forget(m);
    expect_eq!(o, "the real request is still pending and cancellable", ctx.cancel(&mut cb), Err(EINPROGRESS));
    ctx.wait_events(1, PROMPT)?;
    Ok(())
}

fn cancel_completed_einval(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 8)?;
    let mut cb = fx.ready(b, 1);
    expect_eq!(o, "submit", ctx.submit1(&mut cb), Ok(1));
    wait_ring(ctx.id, 1, PROMPT)?;
    expect_eq!(o, "io_cancel of a completed, unreaped request", ctx.cancel(&mut cb), Err(EINVAL));
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("completed", &ev[0], 1, &cb, ready_res(b))?;
    expect_eq!(o, "io_cancel after reaping", ctx.cancel(&mut cb), Err(EINVAL));
    Ok(())
}

fn cancel_result_ignored(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 8)?;
    let mut cb = fx.pending(b, 1);
    expect_eq!(o, "submit", ctx.submit1(&mut cb), Ok(1));
    expect_eq!(o, "io_cancel, result = (void *)1", b.cancel(ctx.id, &mut cb, 1 as *mut IoEvent), Err(EINPROGRESS));
    ctx.wait_events(1, PROMPT)?;
    let mut cb = fx.pending(b, 2);
    expect_eq!(o, "submit", ctx.submit1(&mut cb), Ok(1));
    let marker = IoEvent { data: 0xabab, obj: 0xcdcd, res: -77, res2: 99 };
    let mut res = marker;
    expect_eq!(o, "io_cancel, result = &ev", b.cancel(ctx.id, &mut cb, &mut res), Err(EINPROGRESS));
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("cancelled", &ev[0], 2, &cb, cancel_res(b))?;
    expect_eq!(o, "*result untouched", res, marker);
    // A NULL result on a request that is not there: still EINVAL.
    expect_eq!(o, "io_cancel again, result NULL", b.cancel(ctx.id, &mut cb, std::ptr::null_mut()), Err(EINVAL));
    Ok(())
}

fn cancel_bad_ctx_einval(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let real = Ctx::new(b, 128)?;
    let mut cb = fx.pending(b, 1);
    expect_eq!(o, "submit", real.submit1(&mut cb), Ok(1));
    for (what, h) in crate::cases::destroy::bad_handles(&real) {
        expect_eq!(o, format!("io_cancel({what}, pending)"), b.cancel(h, &mut cb, std::ptr::null_mut()), Err(EINVAL));
    }
    expect_eq!(o, "io_cancel(real)", real.cancel(&mut cb), Err(EINPROGRESS));
    real.wait_events(1, PROMPT)?;
    Ok(())
}

fn cancel_matches_iocb_address(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 8)?;
    let mut never = fx.pending(b, 1);
    expect_eq!(o, "io_cancel of a never-submitted iocb with key 0", ctx.cancel(&mut never), Err(EINVAL));
    let mut cb = fx.pending(b, 2);
    expect_eq!(o, "submit", ctx.submit1(&mut cb), Ok(1));
    let mut copy = cb;
    expect_eq!(o, "io_cancel of an identical copy elsewhere", ctx.cancel(&mut copy), Err(EINVAL));
    ctx.no_events(ms(30))?;
    expect_eq!(o, "io_cancel of the submitted iocb", ctx.cancel(&mut cb), Err(EINPROGRESS));
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("cancelled", &ev[0], 2, &cb, cancel_res(b))?;
    Ok(())
}

fn cancel_wrong_ctx_einval(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let a = Ctx::new(b, 8)?;
    let c = Ctx::new(b, 8)?;
    let mut cb = fx.pending(b, 1);
    expect_eq!(o, "submit in A", a.submit1(&mut cb), Ok(1));
    expect_eq!(o, "io_cancel through B", c.cancel(&mut cb), Err(EINVAL));
    a.no_events(ms(30))?;
    expect_eq!(o, "io_cancel through A", a.cancel(&mut cb), Err(EINPROGRESS));
    a.wait_events(1, PROMPT)?;
    c.no_events(ms(0))?;
    Ok(())
}

fn cancel_one_of_many(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 16)?;
    let mut cbs: Vec<Iocb> = (0..10).map(|i| resfd(&fx, fx.pending(b, i))).collect();
    ctx.submit_all(&mut cbs)?;
    expect_eq!(o, "cancel #5", ctx.cancel(&mut cbs[5]), Err(EINPROGRESS));
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("cancelled #5", &ev[0], 5, &cbs[5], cancel_res(b))?;
    ctx.no_events(ms(100))?;
    expect_eq!(o, "eventfd", fx.efd.wait_for(1, PROMPT), 1);
    expect_eq!(o, "cancel #5 again", ctx.cancel(&mut cbs[5]), Err(EINVAL));
    expect_eq!(o, "cancel #9", ctx.cancel(&mut cbs[9]), Err(EINPROGRESS));
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("cancelled #9", &ev[0], 9, &cbs[9], cancel_res(b))?;
    expect_eq!(o, "destroy", ctx.destroy(), Ok(0));
    expect_eq!(o, "eventfd after destroy", fx.efd.take(), 9);
    Ok(())
}

fn cancel_then_destroy(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    for round in 0..20 {
        let ctx = Ctx::new(b, 8)?;
        let mut cb = resfd(&fx, fx.pending(b, round));
        expect_eq!(o, "submit", ctx.submit1(&mut cb), Ok(1));
        expect_eq!(o, "cancel", ctx.cancel(&mut cb), Err(EINPROGRESS));
        expect_eq!(o, "destroy at once", ctx.destroy(), Ok(0));
        // One completion, not two, and before io_destroy returned.
        expect_eq!(o, "eventfd", fx.efd.take(), 1);
    }
    std::thread::sleep(ms(50));
    check!(fx.efd.take() == 0, "late eventfd signals");
    Ok(())
}

/// Two requests submitted from the same iocb address (changed in between): io_cancel takes the
/// first match, the oldest (§9.2).
fn cancel_same_address_oldest_first(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let f1 = Fx::new()?;
    let f2 = Fx::new()?;
    let ctx = Ctx::new(b, 8)?;
    let mut cb = f1.pending(b, 1);
    expect_eq!(o, "submit first", ctx.submit1(&mut cb), Ok(1));
    cb = f2.pending(b, 2);
    expect_eq!(o, "submit second from the same address", ctx.submit1(&mut cb), Ok(1));
    expect_eq!(o, "cancel", ctx.cancel(&mut cb), Err(EINPROGRESS));
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("the oldest is cancelled", &ev[0], 1, &cb, cancel_res(b))?;
    ctx.no_events(ms(30))?;
    expect_eq!(o, "cancel again", ctx.cancel(&mut cb), Err(EINPROGRESS));
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("then the second", &ev[0], 2, &cb, cancel_res(b))?;
    expect_eq!(o, "cancel a third time", ctx.cancel(&mut cb), Err(EINVAL));
    Ok(())
}

/// 40 requests from one iocb address (its `aio_data` changed between submits) among 40 from
/// others: io_cancel of that address takes them oldest first, one per call, then EINVAL. In
/// kaio the first ones are found by the iocb tree (the address's hash chain is longer than a
/// lock hold may look at) and the last ones in the chain: both must agree on the order.
fn cancel_same_address_40_oldest_first(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    const SAME: u64 = 40;
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 128)?;
    let mut others: Vec<Iocb> = (0..SAME).map(|d| fx.pending(b, 1000 + d)).collect();
    let mut cb = fx.pending(b, 0);
    for d in 0..SAME {
        cb.aio_data = d;
        ctx.submit1(&mut cb).map_err(|e| format!("submit {d} from the same address: {e:?}"))?;
        ctx.submit1(&mut others[d as usize]).map_err(|e| format!("submit another: {e:?}"))?;
    }
    for d in 0..SAME {
        check!(ctx.cancel(&mut cb) == Err(EINPROGRESS), "cancel {d} of the same address");
        let ev = ctx.wait_events(1, PROMPT)?;
        check_event(&format!("cancel {d}: the oldest left"), &ev[0], d, &cb, cancel_res(b))?;
    }
    expect_eq!(o, "cancel once more", ctx.cancel(&mut cb), Err(EINVAL));
    for other in others.iter_mut() {
        check!(ctx.cancel(other) == Err(EINPROGRESS), "cancel request {}", other.aio_data);
    }
    let ev = ctx.wait_events(SAME as usize, PROMPT)?;
    expect_eq!(o, "the others' events", ev.len() as u64, SAME);
    Ok(())
}
