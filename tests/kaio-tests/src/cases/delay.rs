//! KAIO_CMD_DELAY (ABI.md "Opcodes"), kaio only: delay in ns in aio_offset (>= 0), aio_buf and
//! aio_nbytes 0, a valid fd (no reference kept), res 0 after the delay or -ECANCELED if
//! cancelled first. Its checks sit where every opcode's own checks sit (§5.2 step 9): after the
//! fd and eventfd lookups and after aio_key was zeroed.

use crate::aio::*;
use crate::ktap::{Case, CaseResult};
use crate::util::*;
use crate::{check, check_eq};
use kaio::uapi::*;
use std::time::Instant;

pub fn cases() -> Vec<Case> {
    vec![
        Case::kaio("delay_completes_res_zero", delay_completes_res_zero),
        Case::kaio("delay_zero_completes", delay_zero_completes),
        Case::kaio("delay_waits_at_least_its_delay", delay_waits_at_least_its_delay),
        Case::kaio("delay_events_in_expiry_order", delay_events_in_expiry_order),
        Case::kaio("delay_negative_offset_einval", delay_negative_offset_einval),
        Case::kaio("delay_buf_nonzero_einval", delay_buf_nonzero_einval),
        Case::kaio("delay_nbytes_nonzero_einval", delay_nbytes_nonzero_einval),
        Case::kaio("delay_bad_fd_ebadf", delay_bad_fd_ebadf),
        Case::kaio("delay_generic_checks_come_first", delay_generic_checks_come_first),
        Case::kaio("delay_cancel_ecanceled", delay_cancel_ecanceled),
        Case::kaio("delay_cancel_after_completion_einval", delay_cancel_after_completion_einval),
        Case::kaio("delay_resfd_signalled", delay_resfd_signalled),
        Case::kaio("delay_fd_closed_after_submit", delay_fd_closed_after_submit),
        Case::kaio("delay_on_kaio_fd_itself", delay_on_kaio_fd_itself),
        Case::kaio("delay_max_offset_pending_cancellable", delay_max_offset_pending_cancellable),
        Case::kaio("delay_many_concurrent_all_complete", delay_many_concurrent_all_complete),
    ]
}

const DEAD: u32 = 0xdead;

fn delay_completes_res_zero() -> CaseResult {
    let k = Kaio::open()?;
    let fx = Fx::new()?;
    let ctx = Ctx::new(&k, 8)?;
    let mut cb = delay_iocb(fx.fd(), 20_000_000, 0xfeed);
    let t = Instant::now();
    check_eq!(ctx.submit1(&mut cb), Ok(1));
    let ev = ctx.wait_events(1, PROMPT)?;
    check!(t.elapsed() >= ms(19), "completed after {:?}", t.elapsed());
    check_event("delay", &ev[0], 0xfeed, &cb, 0)?;
    ctx.no_events(ms(30))?;
    Ok(())
}

fn delay_zero_completes() -> CaseResult {
    let k = Kaio::open()?;
    let fx = Fx::new()?;
    let ctx = Ctx::new(&k, 8)?;
    let mut cbs: Vec<Iocb> = (0..5).map(|i| delay_iocb(fx.fd(), 0, i)).collect();
    ctx.submit_all(&mut cbs)?;
    let mut ev = ctx.wait_events(5, PROMPT)?;
    ev.sort_by_key(|e| e.data);
    for (i, e) in ev.iter().enumerate() {
        check_event("delay 0", e, i as u64, &cbs[i], 0)?;
    }
    Ok(())
}

fn delay_waits_at_least_its_delay() -> CaseResult {
    let k = Kaio::open()?;
    let fx = Fx::new()?;
    let ctx = Ctx::new(&k, 8)?;
    let mut cb = delay_iocb(fx.fd(), 250_000_000, 1);
    let t = Instant::now();
    check_eq!(ctx.submit1(&mut cb), Ok(1));
    check_eq!(ctx.getev(1, 8, Some(ts(0, 0))).map(|v| v.len()), Ok(0));
    let r = std::thread::scope(|s| spawn_bounded(s, || ctx.getev(1, 8, None)).join_within(PROMPT))?;
    let d = t.elapsed();
    check!(matches!(&r, Ok(v) if v.len() == 1), "getevents: {r:?}");
    check!(d >= ms(249), "a 250 ms delay completed after {d:?}");
    Ok(())
}

fn delay_events_in_expiry_order() -> CaseResult {
    let k = Kaio::open()?;
    let fx = Fx::new()?;
    let ctx = Ctx::new(&k, 8)?;
    let mut cbs = [delay_iocb(fx.fd(), 600_000_000, 1), delay_iocb(fx.fd(), 100_000_000, 2), delay_iocb(fx.fd(), 350_000_000, 3)];
    ctx.submit_all(&mut cbs)?;
    let ev = ctx.wait_events(3, PROMPT)?;
    let order: Vec<u64> = ev.iter().map(|e| e.data).collect();
    check!(order == vec![2, 3, 1], "completion order {order:?}, expected [2, 3, 1] (by expiry)");
    Ok(())
}

/// Submits `cb` (with aio_key = DEAD) `times` times on a ctx(1), expecting `want` every time,
/// no event, and no slot lost; returns the key after the first attempt.
fn rejected(cb: Iocb, want: Errno, times: u32) -> Result<u32, String> {
    let k = Kaio::open()?;
    let fx = Fx::new()?;
    let ctx = Ctx::new(&k, 1)?;
    let mut key = None;
    for i in 0..times {
        let mut c = Iocb { aio_key: DEAD, ..cb };
        let r = ctx.submit1(&mut c).map_err(|e| e);
        check!(r == Err(want), "attempt {i} with {cb:?}: expected Err({want:?}), got {r:?}");
        key.get_or_insert(c.aio_key);
    }
    ctx.no_events(ms(30))?;
    let mut ok = delay_iocb(fx.fd(), 0, 7);
    check!(ctx.submit1(&mut ok) == Ok(1), "a valid delay after the rejected ones was refused");
    ctx.wait_events(1, PROMPT)?;
    Ok(key.unwrap_or(DEAD))
}

fn delay_negative_offset_einval() -> CaseResult {
    let fx = Fx::new()?;
    for off in [-1i64, i64::MIN, -1_000_000_000] {
        let key = rejected(delay_iocb(fx.fd(), off, 1), EINVAL, 200)?;
        check!(key == 0, "aio_offset {off}: aio_key {key:#x}, expected 0 (written before the opcode's checks)");
    }
    Ok(())
}

fn delay_buf_nonzero_einval() -> CaseResult {
    let fx = Fx::new()?;
    for buf in [1u64, 0x1000, u64::MAX] {
        let key = rejected(Iocb { aio_buf: buf, ..delay_iocb(fx.fd(), 0, 1) }, EINVAL, 200)?;
        check!(key == 0, "aio_buf {buf:#x}: aio_key {key:#x}, expected 0");
    }
    Ok(())
}

fn delay_nbytes_nonzero_einval() -> CaseResult {
    let fx = Fx::new()?;
    for nb in [1u64, 4096, (1 << 63) - 1] {
        let key = rejected(Iocb { aio_nbytes: nb, ..delay_iocb(fx.fd(), 1000, 1) }, EINVAL, 200)?;
        check!(key == 0, "aio_nbytes {nb:#x}: aio_key {key:#x}, expected 0");
    }
    // Both non-zero.
    let key = rejected(Iocb { aio_buf: 8, aio_nbytes: 8, ..delay_iocb(fx.fd(), 0, 1) }, EINVAL, 5)?;
    check!(key == 0, "aio_key {key:#x}, expected 0");
    Ok(())
}

fn delay_bad_fd_ebadf() -> CaseResult {
    let closed = closed_fd();
    for fd in [9999u32, u32::MAX, closed as u32] {
        let key = rejected(delay_iocb(fd as i32, 0, 1), EBADF, 200)?;
        check!(key == DEAD, "fd {fd}: aio_key {key:#x}, expected untouched");
    }
    Ok(())
}

fn delay_generic_checks_come_first() -> CaseResult {
    let fx = Fx::new()?;
    let bad = Iocb { aio_buf: 1, aio_offset: -1, ..delay_iocb(fx.fd(), 0, 1) };
    // reserved2 before everything.
    let key = rejected(Iocb { aio_reserved2: 1, aio_fildes: 9999, ..bad }, EINVAL, 3)?;
    check!(key == DEAD, "reserved2: aio_key {key:#x}, expected untouched");
    // nbytes overflow before the fd.
    let key = rejected(Iocb { aio_nbytes: 1 << 63, aio_fildes: 9999, ..bad }, EINVAL, 3)?;
    check!(key == DEAD, "nbytes overflow: aio_key {key:#x}, expected untouched");
    // A bad fd before the delay's own checks.
    let key = rejected(Iocb { aio_fildes: 9999, ..bad }, EBADF, 3)?;
    check!(key == DEAD, "bad fd: aio_key {key:#x}, expected untouched");
    // The eventfd before the delay's own checks.
    let key = rejected(Iocb { aio_flags: IOCB_FLAG_RESFD, aio_resfd: 9999, ..bad }, EBADF, 3)?;
    check!(key == DEAD, "bad resfd: aio_key {key:#x}, expected untouched");
    let key = rejected(Iocb { aio_flags: IOCB_FLAG_RESFD, aio_resfd: fx.empty.w as u32, ..bad }, EINVAL, 3)?;
    check!(key == DEAD, "non-eventfd resfd: aio_key {key:#x}, expected untouched");
    Ok(())
}

fn delay_cancel_ecanceled() -> CaseResult {
    let k = Kaio::open()?;
    let fx = Fx::new()?;
    let ctx = Ctx::new(&k, 8)?;
    let mut cb = delay_iocb(fx.fd(), 10 * NS, 0x77);
    check_eq!(ctx.submit1(&mut cb), Ok(1));
    let t = Instant::now();
    check_eq!(ctx.cancel(&mut cb), Err(EINPROGRESS));
    let ev = ctx.wait_events(1, PROMPT)?;
    check!(t.elapsed() < ms(9000), "the cancelled delay completed only after {:?}", t.elapsed());
    check_event("cancelled delay", &ev[0], 0x77, &cb, RES_ECANCELED)?;
    check_eq!(ctx.cancel(&mut cb), Err(EINVAL));
    ctx.no_events(ms(50))?;
    Ok(())
}

fn delay_cancel_after_completion_einval() -> CaseResult {
    let k = Kaio::open()?;
    let fx = Fx::new()?;
    let ctx = Ctx::new(&k, 8)?;
    let mut cb = delay_iocb(fx.fd(), 1_000_000, 1);
    check_eq!(ctx.submit1(&mut cb), Ok(1));
    wait_ring(ctx.id, 1, PROMPT)?;
    check_eq!(ctx.cancel(&mut cb), Err(EINVAL));
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("completed delay", &ev[0], 1, &cb, 0)?;
    check_eq!(ctx.cancel(&mut cb), Err(EINVAL));
    Ok(())
}

fn delay_resfd_signalled() -> CaseResult {
    let k = Kaio::open()?;
    let fx = Fx::new()?;
    let ctx = Ctx::new(&k, 8)?;
    let with = |cb: Iocb| Iocb { aio_flags: IOCB_FLAG_RESFD, aio_resfd: fx.efd.0 as u32, ..cb };
    let mut done = with(delay_iocb(fx.fd(), 10_000_000, 1));
    let mut cancelled = with(delay_iocb(fx.fd(), LONG_NS, 2));
    check_eq!(ctx.submit(&[&mut done as *mut Iocb, &mut cancelled]), Ok(2));
    check_eq!(fx.efd.wait_for(1, PROMPT), 1);
    check_eq!(ctx.cancel(&mut cancelled), Err(EINPROGRESS));
    check_eq!(fx.efd.wait_for(1, PROMPT), 1);
    let mut ev = ctx.wait_events(2, PROMPT)?;
    ev.sort_by_key(|e| e.data);
    check_event("completed", &ev[0], 1, &done, 0)?;
    check_event("cancelled", &ev[1], 2, &cancelled, RES_ECANCELED)?;
    std::thread::sleep(ms(30));
    check_eq!(fx.efd.take(), 0);
    Ok(())
}

fn delay_fd_closed_after_submit() -> CaseResult {
    let k = Kaio::open()?;
    let ctx = Ctx::new(&k, 8)?;
    let p = Pipe::new()?;
    let mut cb = delay_iocb(p.r, 50_000_000, 1);
    check_eq!(ctx.submit1(&mut cb), Ok(1));
    let mut cb2 = delay_iocb(p.w, LONG_NS, 2);
    check_eq!(ctx.submit1(&mut cb2), Ok(1));
    drop(p);
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("delay whose fd was closed", &ev[0], 1, &cb, 0)?;
    check_eq!(ctx.cancel(&mut cb2), Err(EINPROGRESS));
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("cancelled delay whose fd was closed", &ev[0], 2, &cb2, RES_ECANCELED)?;
    Ok(())
}

fn delay_on_kaio_fd_itself() -> CaseResult {
    let k = Kaio::open()?;
    let ctx = Ctx::new(&k, 8)?;
    let mut cb = delay_iocb(k.fd, 1_000_000, 1);
    check_eq!(ctx.submit1(&mut cb), Ok(1));
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("delay on the kaio fd", &ev[0], 1, &cb, 0)?;
    Ok(())
}

fn delay_max_offset_pending_cancellable() -> CaseResult {
    let k = Kaio::open()?;
    let fx = Fx::new()?;
    let ctx = Ctx::new(&k, 8)?;
    let mut cb = delay_iocb(fx.fd(), i64::MAX, 1);
    check_eq!(ctx.submit1(&mut cb), Ok(1));
    ctx.no_events(ms(100))?;
    check_eq!(ctx.cancel(&mut cb), Err(EINPROGRESS));
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("cancelled", &ev[0], 1, &cb, RES_ECANCELED)?;
    Ok(())
}

fn delay_many_concurrent_all_complete() -> CaseResult {
    const N: usize = 2000;
    let k = Kaio::open()?;
    let fx = Fx::new()?;
    let ctx = Ctx::new(&k, N as u32)?;
    let mut rng = Rng(12345);
    let mut cbs: Vec<Iocb> = (0..N as u64).map(|i| delay_iocb(fx.fd(), rng.below(200_000_000) as i64, i)).collect();
    ctx.submit_all(&mut cbs)?;
    let ev = ctx.wait_events(N, PROMPT)?;
    let mut seen = vec![false; N];
    for e in &ev {
        let i = e.data as usize;
        check!(i < N && !seen[i], "unexpected or duplicate event {e:?}");
        seen[i] = true;
        check_event("delay", e, i as u64, &cbs[i], 0)?;
    }
    ctx.no_events(ms(50))?;
    Ok(())
}
