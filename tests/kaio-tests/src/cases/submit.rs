//! io_submit (§5.1, §5.2, §13.3): the syscall-level checks, the per-iocb checks in their exact
//! order with their side effects (aio_key), the partial-success rule, the events' data/obj.
//! Everything here happens before the opcode dispatch (or uses the backend's own requests), so
//! every case runs on both backends.

use crate::aio::*;
use crate::ktap::{Case, CaseResult};
use crate::util::*;
use crate::{check, expect_eq, want_eq};
use kaio::uapi::*;

pub fn cases() -> Vec<Case> {
    vec![
        Case::both("submit_nr_negative_einval", submit_nr_negative_einval),
        Case::both("submit_bad_ctx_einval", submit_bad_ctx_einval),
        Case::both("submit_nr_zero_returns_zero", submit_nr_zero_returns_zero),
        Case::both("submit_iocbpp_bad_efault", submit_iocbpp_bad_efault),
        Case::both("submit_iocb_pointer_bad_efault", submit_iocb_pointer_bad_efault),
        Case::both("submit_reserved2_einval_before_fd", submit_reserved2_einval_before_fd),
        Case::both("submit_nbytes_overflow_einval_before_fd", submit_nbytes_overflow_einval_before_fd),
        Case::both("submit_bad_fd_ebadf_key_untouched", submit_bad_fd_ebadf_key_untouched),
        Case::both("submit_unknown_opcode_einval_key_zeroed", submit_unknown_opcode_einval_key_zeroed),
        Case::both("submit_resfd_not_eventfd_einval", submit_resfd_not_eventfd_einval),
        Case::both("submit_resfd_bad_fd_ebadf", submit_resfd_bad_fd_ebadf),
        Case::both("submit_iocb_readonly_efault", submit_iocb_readonly_efault),
        Case::both("submit_unchecked_fields_ignored", submit_unchecked_fields_ignored),
        Case::both("submit_partial_success_count", submit_partial_success_count),
        Case::both("submit_first_invalid_returns_error", submit_first_invalid_returns_error),
        Case::both("submit_partial_efault_in_array", submit_partial_efault_in_array),
        Case::both("submit_key_written_zero", submit_key_written_zero),
        Case::both("submit_event_data_obj", submit_event_data_obj),
        Case::both("submit_rejected_no_event_no_slot", submit_rejected_no_event_no_slot),
        Case::both("submit_same_iocb_twice", submit_same_iocb_twice),
        Case::both("submit_from_other_thread", submit_from_other_thread),
        Case::both("submit_resfd_signals_eventfd", submit_resfd_signals_eventfd),
    ]
}

const DEAD: u32 = 0xdead;

fn sub(ctx: &Ctx, cbs: &mut [Iocb]) -> Ret {
    let p = ptrs(cbs);
    ctx.submit(&p)
}

fn submit_nr_negative_einval(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 4)?;
    let mut cb = Iocb { aio_key: DEAD, ..fx.ready(b, 1) };
    let p: [*mut Iocb; 1] = [&mut cb];
    for nr in [-1i64, -2, i64::MIN] {
        expect_eq!(o, format!("io_submit(ctx, {nr})"), b.submit(ctx.id, nr, p.as_ptr()), Err(EINVAL));
        expect_eq!(o, format!("io_submit(bad, {nr})"), b.submit(0, nr, p.as_ptr()), Err(EINVAL));
    }
    expect_eq!(o, "aio_key untouched", cb.aio_key, DEAD);
    ctx.no_events(ms(20))?;
    Ok(())
}

fn submit_bad_ctx_einval(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let real = Ctx::new(b, 128)?;
    let mut cb = Iocb { aio_key: DEAD, ..fx.ready(b, 1) };
    let p: [*mut Iocb; 1] = [&mut cb];
    for (what, h) in crate::cases::destroy::bad_handles(&real) {
        expect_eq!(o, format!("io_submit({what}, 0, NULL)"), b.submit(h, 0, std::ptr::null()), Err(EINVAL));
        expect_eq!(o, format!("io_submit({what}, 1, valid)"), b.submit(h, 1, p.as_ptr()), Err(EINVAL));
    }
    expect_eq!(o, "aio_key untouched", cb.aio_key, DEAD);
    real.no_events(ms(20))?;
    Ok(())
}

fn submit_nr_zero_returns_zero(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let ctx = Ctx::new(b, 4)?;
    expect_eq!(o, "io_submit(ctx, 0, NULL)", b.submit(ctx.id, 0, std::ptr::null()), Ok(0));
    expect_eq!(o, "io_submit(ctx, 0, unmapped)", b.submit(ctx.id, 0, unmapped_addr() as *const *mut Iocb), Ok(0));
    ctx.no_events(ms(0))?;
    Ok(())
}

fn submit_iocbpp_bad_efault(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let ctx = Ctx::new(b, 4)?;
    let bad = [0u64, 8, unmapped_addr(), crate::cases::setup::KERNEL_ADDR];
    for p in bad {
        expect_eq!(o, format!("io_submit(ctx, 1, {p:#x})"), b.submit(ctx.id, 1, p as *const *mut Iocb), Err(EFAULT));
        expect_eq!(o, format!("io_submit(ctx, 3, {p:#x})"), b.submit(ctx.id, 3, p as *const *mut Iocb), Err(EFAULT));
    }
    ctx.no_events(ms(0))?;
    Ok(())
}

fn submit_iocb_pointer_bad_efault(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let ctx = Ctx::new(b, 4)?;
    for p in [0u64, 1, 8, unmapped_addr(), crate::cases::setup::KERNEL_ADDR] {
        let arr = [p as *mut Iocb];
        expect_eq!(o, format!("iocbpp[0] = {p:#x}"), b.submit(ctx.id, 1, arr.as_ptr()), Err(EFAULT));
    }
    // An iocb whose 64 bytes straddle into an unmapped page.
    let m = Map::new(8192)?;
    munmap(m.addr + 4096, 4096)?;
    let arr = [(m.addr + 4096 - 32) as *mut Iocb];
    expect_eq!(o, "iocb straddling an unmapped page", b.submit(ctx.id, 1, arr.as_ptr()), Err(EFAULT));
    ctx.no_events(ms(0))?;
    Ok(())
}

fn submit_reserved2_einval_before_fd(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 4)?;
    for r2 in [1u64, 1 << 63, u64::MAX] {
        let mut cb = Iocb { aio_key: DEAD, aio_reserved2: r2, ..fx.ready(b, 1) };
        expect_eq!(o, format!("reserved2 = {r2:#x}"), ctx.submit1(&mut cb), Err(EINVAL));
        expect_eq!(o, "aio_key untouched", cb.aio_key, DEAD);
    }
    // reserved2 is checked before the fd (T112).
    let mut cb = Iocb { aio_key: DEAD, aio_reserved2: 1, aio_fildes: 9999, ..fx.pending(b, 1) };
    expect_eq!(o, "reserved2 = 1 with fd 9999", ctx.submit1(&mut cb), Err(EINVAL));
    expect_eq!(o, "aio_key untouched", cb.aio_key, DEAD);
    ctx.no_events(ms(20))?;
    Ok(())
}

fn submit_nbytes_overflow_einval_before_fd(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 4)?;
    for nb in [1u64 << 63, u64::MAX, (1 << 63) + 4096] {
        // With a bad fd: EINVAL, not EBADF (the overflow check precedes the fd lookup).
        let mut cb = Iocb { aio_key: DEAD, aio_nbytes: nb, aio_fildes: 9999, ..fx.ready(b, 1) };
        expect_eq!(o, format!("nbytes {nb:#x}, fd 9999"), ctx.submit1(&mut cb), Err(EINVAL));
        expect_eq!(o, "aio_key untouched", cb.aio_key, DEAD);
        let mut cb = Iocb { aio_key: DEAD, aio_nbytes: nb, ..iocb(IOCB_CMD_PREAD, fx.fd(), 1) };
        expect_eq!(o, format!("PREAD nbytes {nb:#x}"), ctx.submit1(&mut cb), Err(EINVAL));
        expect_eq!(o, "aio_key untouched", cb.aio_key, DEAD);
    }
    ctx.no_events(ms(20))?;
    Ok(())
}

fn submit_bad_fd_ebadf_key_untouched(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 4)?;
    let closed = closed_fd();
    for (what, fd) in [("9999", 9999u32), ("-1", u32::MAX), ("closed", closed as u32), ("0x80000000", 0x8000_0000)] {
        // T33: a bad opcode with a bad fd is EBADF (the fd comes first), aio_key untouched.
        let mut cb = Iocb { aio_key: DEAD, aio_fildes: fd, ..iocb(IOCB_CMD_NOOP, 0, 1) };
        expect_eq!(o, format!("NOOP, fd {what}"), ctx.submit1(&mut cb), Err(EBADF));
        expect_eq!(o, "aio_key untouched", cb.aio_key, DEAD);
        let mut cb = Iocb { aio_key: DEAD, aio_fildes: fd, ..fx.ready(b, 1) };
        expect_eq!(o, format!("valid request, fd {what}"), ctx.submit1(&mut cb), Err(EBADF));
        expect_eq!(o, "aio_key untouched", cb.aio_key, DEAD);
    }
    ctx.no_events(ms(20))?;
    Ok(())
}

fn submit_unknown_opcode_einval_key_zeroed(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 4)?;
    let mut ops = vec![4u16, IOCB_CMD_NOOP, 9, 10, 0x100, 0x4AFF, 0x4B01, 0xFFFF];
    if !b.is_kaio() {
        ops.push(KAIO_CMD_DELAY); // not an opcode of Linux
    }
    for op in ops {
        // T34: a good fd with a bad opcode: EINVAL, and aio_key was already zeroed.
        let mut cb = Iocb { aio_key: DEAD, ..iocb(op, fx.fd(), 1) };
        let r = ctx.submit1(&mut cb);
        if op == KAIO_CMD_DELAY {
            want_eq!("native: opcode 0x4b00 is unknown", r, Err(EINVAL));
            continue;
        }
        expect_eq!(o, format!("opcode {op:#x}"), r, Err(EINVAL));
        expect_eq!(o, format!("opcode {op:#x}: aio_key zeroed"), cb.aio_key, 0);
    }
    ctx.no_events(ms(20))?;
    Ok(())
}

fn submit_resfd_not_eventfd_einval(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 4)?;
    for (what, fd) in [("pipe", fx.empty.w), ("request's own fd", fx.fd()), ("stdin-like /dev/null", -1)] {
        let fd = if fd < 0 {
            // SAFETY: opens /dev/null; closed below.
            unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) }
        } else {
            fd
        };
        let mut cb = Iocb { aio_key: DEAD, aio_flags: IOCB_FLAG_RESFD, aio_resfd: fd as u32, ..fx.ready(b, 1) };
        expect_eq!(o, format!("RESFD = {what}"), ctx.submit1(&mut cb), Err(EINVAL));
        // The eventfd lookup precedes the aio_key write.
        expect_eq!(o, "aio_key untouched", cb.aio_key, DEAD);
        // And precedes the opcode check (T111).
        let mut cb = Iocb { aio_key: DEAD, aio_flags: IOCB_FLAG_RESFD, aio_resfd: fd as u32, ..iocb(IOCB_CMD_NOOP, fx.fd(), 1) };
        expect_eq!(o, format!("NOOP with RESFD = {what}"), ctx.submit1(&mut cb), Err(EINVAL));
        expect_eq!(o, "aio_key untouched", cb.aio_key, DEAD);
        if what.starts_with("stdin") {
            // SAFETY: closes the fd opened above.
            unsafe { libc::close(fd) };
        }
    }
    ctx.no_events(ms(20))?;
    Ok(())
}

fn submit_resfd_bad_fd_ebadf(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 4)?;
    for (what, fd) in [("9999", 9999u32), ("-1", u32::MAX), ("closed", closed_fd() as u32)] {
        let mut cb = Iocb { aio_key: DEAD, aio_flags: IOCB_FLAG_RESFD, aio_resfd: fd, ..fx.ready(b, 1) };
        expect_eq!(o, format!("RESFD = {what}"), ctx.submit1(&mut cb), Err(EBADF));
        expect_eq!(o, "aio_key untouched", cb.aio_key, DEAD);
        // T113: before the aio_key write and before the opcode's own checks.
        let mut cb = Iocb { aio_key: DEAD, aio_flags: IOCB_FLAG_RESFD, aio_resfd: fd, aio_nbytes: 1, ..fx.pending(b, 1) };
        expect_eq!(o, format!("invalid request with RESFD = {what}"), ctx.submit1(&mut cb), Err(EBADF));
        expect_eq!(o, "aio_key untouched", cb.aio_key, DEAD);
        // A bad request fd still comes first.
        let mut cb = Iocb { aio_key: DEAD, aio_flags: IOCB_FLAG_RESFD, aio_resfd: fx.empty.w as u32, aio_fildes: fd, ..fx.ready(b, 1) };
        expect_eq!(o, format!("fd {what} with a non-eventfd RESFD"), ctx.submit1(&mut cb), Err(EBADF));
    }
    ctx.no_events(ms(20))?;
    Ok(())
}

fn submit_iocb_readonly_efault(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 1)?;
    let page = Map::new(4096)?;
    let cbp: *mut Iocb = page.ptr(64);
    // SAFETY: the page is mapped read-write until the mprotect below.
    unsafe { cbp.write(Iocb { aio_key: DEAD, ..fx.ready(b, 5) }) };
    page.protect(libc::PROT_READ)?;
    let arr = [cbp];
    for i in 0..200 {
        // More attempts than the ring has slots: a failed key write gives its slot back.
        let r = ctx.submit(&arr);
        if i == 0 {
            expect_eq!(o, "iocb on a read-only page", r, Err(EFAULT));
        } else if r != Err(EFAULT) {
            return Err(format!("attempt {i}: expected Err(EFAULT), got {r:?}"));
        }
    }
    // SAFETY: readable.
    expect_eq!(o, "aio_key untouched", unsafe { (*cbp).aio_key }, DEAD);
    ctx.no_events(ms(20))?;
    // The slots are all still there.
    let mut cb = fx.ready(b, 6);
    expect_eq!(o, "a writable iocb is accepted", ctx.submit1(&mut cb), Ok(1));
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("event", &ev[0], 6, &cb, ready_res(b))?;
    Ok(())
}

fn submit_unchecked_fields_ignored(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 8)?;
    let variants: [(&str, fn(Iocb) -> Iocb); 5] = [
        ("unknown aio_flags bit 0x80", |c| Iocb { aio_flags: 0x80, ..c }),
        ("aio_flags 0xfffffffc", |c| Iocb { aio_flags: 0xffff_fffc, ..c }),
        ("aio_resfd without RESFD", |c| Iocb { aio_resfd: 9999, ..c }),
        ("aio_reqprio without IOPRIO", |c| Iocb { aio_reqprio: 7 << 13, ..c }),
        ("any incoming aio_key", |c| Iocb { aio_key: 0xffff_ffff, ..c }),
    ];
    for (i, (what, f)) in variants.iter().enumerate() {
        let mut cb = f(fx.ready(b, i as u64));
        expect_eq!(o, *what, ctx.submit1(&mut cb), Ok(1));
        let ev = ctx.wait_events(1, PROMPT)?;
        check_event(what, &ev[0], i as u64, &cb, ready_res(b))?;
        expect_eq!(o, format!("{what}: aio_key"), cb.aio_key, 0);
    }
    Ok(())
}

fn submit_partial_success_count(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 8)?;
    let mut cbs = [
        Iocb { aio_key: DEAD, ..fx.ready(b, 1) },
        Iocb { aio_key: DEAD, aio_reserved2: 1, ..fx.ready(b, 2) },
        Iocb { aio_key: DEAD, ..fx.ready(b, 3) },
    ];
    expect_eq!(o, "[valid, reserved2 = 1, valid]", sub(&ctx, &mut cbs), Ok(1));
    expect_eq!(o, "keys", cbs.map(|c| c.aio_key), [0, DEAD, DEAD]);
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("the accepted one", &ev[0], 1, &cbs[0], ready_res(b))?;
    ctx.no_events(ms(50))?;
    // [valid, valid, bad fd, valid]: 2.
    let mut cbs = [fx.ready(b, 4), fx.ready(b, 5), Iocb { aio_fildes: 9999, ..fx.ready(b, 6) }, fx.ready(b, 7)];
    expect_eq!(o, "[valid, valid, bad fd, valid]", sub(&ctx, &mut cbs), Ok(2));
    let mut ev = ctx.wait_events(2, PROMPT)?;
    ev.sort_by_key(|e| e.data);
    expect_eq!(o, "events' data", ev.iter().map(|e| e.data).collect::<Vec<_>>(), vec![4, 5]);
    ctx.no_events(ms(50))?;
    Ok(())
}

fn submit_first_invalid_returns_error(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 8)?;
    let mut cbs = [
        Iocb { aio_key: DEAD, aio_reserved2: 1, ..fx.ready(b, 1) },
        Iocb { aio_key: DEAD, ..fx.ready(b, 2) },
        Iocb { aio_key: DEAD, ..fx.ready(b, 3) },
    ];
    expect_eq!(o, "[reserved2 = 1, valid, valid]", sub(&ctx, &mut cbs), Err(EINVAL));
    expect_eq!(o, "keys", cbs.map(|c| c.aio_key), [DEAD; 3]);
    let mut cbs = [Iocb { aio_fildes: 9999, ..fx.ready(b, 1) }, fx.ready(b, 2)];
    expect_eq!(o, "[bad fd, valid]", sub(&ctx, &mut cbs), Err(EBADF));
    let mut cbs = [iocb(IOCB_CMD_NOOP, fx.fd(), 1), fx.ready(b, 2)];
    expect_eq!(o, "[NOOP, valid]", sub(&ctx, &mut cbs), Err(EINVAL));
    ctx.no_events(ms(50))?;
    Ok(())
}

fn submit_partial_efault_in_array(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 8)?;
    let mut cbs = [fx.ready(b, 1), fx.ready(b, 2)];
    let arr = [&mut cbs[0] as *mut Iocb, &mut cbs[1] as *mut Iocb, std::ptr::null_mut()];
    expect_eq!(o, "[valid, valid, NULL]", ctx.submit(&arr), Ok(2));
    ctx.wait_events(2, PROMPT)?;
    // T107: nr = 2^40 (capped at ring_nr), arr[3] on an unmapped page: 3, the EFAULT is not
    // reported.
    let m = Map::new(8192)?;
    munmap(m.addr + 4096, 4096)?;
    let mut cbs = [fx.ready(b, 3), fx.ready(b, 4), fx.ready(b, 5)];
    let arr: *mut *mut Iocb = (m.addr + 4096 - 24) as *mut *mut Iocb;
    for (i, c) in cbs.iter_mut().enumerate() {
        // SAFETY: the three slots before the unmapped page are writable.
        unsafe { arr.add(i).write(c) };
    }
    expect_eq!(o, "io_submit(ctx, 2^40, [3 valid, unmapped])", b.submit(ctx.id, 1 << 40, arr), Ok(3));
    let mut ev = ctx.wait_events(3, PROMPT)?;
    ev.sort_by_key(|e| e.data);
    for (i, e) in ev.iter().enumerate() {
        check_event("event", e, 3 + i as u64, &cbs[i], ready_res(b))?;
    }
    ctx.no_events(ms(50))?;
    munmap(m.addr, 4096)?;
    std::mem::forget(m);
    Ok(())
}

fn submit_key_written_zero(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 8)?;
    let mut cb = Iocb { aio_key: 0xdead_beef, ..fx.pending(b, 1) };
    expect_eq!(o, "submit", ctx.submit1(&mut cb), Ok(1));
    expect_eq!(o, "aio_key after submit", cb.aio_key, 0);
    // The rest of the iocb is left alone.
    let mut want = fx.pending(b, 1);
    want.aio_key = 0;
    expect_eq!(o, "iocb otherwise unchanged", cb == want, true);
    expect_eq!(o, "cancel", ctx.cancel(&mut cb), Err(EINPROGRESS));
    ctx.wait_events(1, PROMPT)?;
    Ok(())
}

fn submit_event_data_obj(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 8)?;
    let datas = [0u64, u64::MAX, 1 << 63, 0x0123_4567_89ab_cdef, 42];
    let mut cbs: Vec<Iocb> = datas.iter().map(|&d| fx.ready(b, d)).collect();
    expect_eq!(o, "submit 5", sub(&ctx, &mut cbs), Ok(5));
    let ev = ctx.wait_events(5, PROMPT)?;
    for (i, d) in datas.iter().enumerate() {
        let e = ev.iter().find(|e| e.data == *d).ok_or(format!("no event with data {d:#x}: {ev:?}"))?;
        check_event("event", e, *d, &cbs[i], ready_res(b))?;
    }
    expect_eq!(o, "event count", ev.len(), 5);
    Ok(())
}

fn submit_rejected_no_event_no_slot(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 1)?;
    let (_, ring_nr) = ring_geometry(1);
    // Far more rejected submissions than slots: each is the iocb's own error, never EAGAIN.
    for i in 0..(2 * ring_nr) {
        let mut cb = match i % 3 {
            0 => Iocb { aio_fildes: 9999, ..fx.ready(b, 1) },
            1 => iocb(IOCB_CMD_NOOP, fx.fd(), 1),
            _ => Iocb { aio_flags: IOCB_FLAG_RESFD, aio_resfd: fx.empty.w as u32, ..fx.ready(b, 1) },
        };
        let want = if i % 3 == 0 { Err(EBADF) } else { Err(EINVAL) };
        let r = ctx.submit1(&mut cb);
        if r != want {
            return Err(format!("rejected submission {i}: expected {want:?}, got {r:?}"));
        }
    }
    o.rec("rejections", "all as expected");
    ctx.no_events(ms(50))?;
    let mut cb = fx.ready(b, 9);
    expect_eq!(o, "valid afterwards", ctx.submit1(&mut cb), Ok(1));
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("event", &ev[0], 9, &cb, ready_res(b))?;
    ctx.no_events(ms(20))?;
    Ok(())
}

fn submit_same_iocb_twice(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 8)?;
    let mut cb = fx.ready(b, 5);
    let arr = [&mut cb as *mut Iocb, &mut cb as *mut Iocb];
    expect_eq!(o, "[&cb, &cb]", ctx.submit(&arr), Ok(2));
    let ev = ctx.wait_events(2, PROMPT)?;
    for e in &ev {
        check_event("event", e, 5, &cb, ready_res(b))?;
    }
    ctx.no_events(ms(20))?;
    Ok(())
}

fn submit_from_other_thread(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 16)?;
    // Threads share the address space, so they share the handle (CLONE_VM).
    let (r, obj) = std::thread::scope(|s| {
        s.spawn(|| {
            let mut cb = fx.ready(b, 11);
            let r = ctx.submit1(&mut cb);
            (r, &cb as *const Iocb as u64)
        })
        .join()
        .unwrap()
    });
    expect_eq!(o, "submit from another thread", r, Ok(1));
    let ev = ctx.wait_events(1, PROMPT)?;
    expect_eq!(o, "event data", ev[0].data, 11);
    check!(ev[0].obj == obj, "obj {:#x}, expected {obj:#x}", ev[0].obj);
    // And a context made by another thread is usable here.
    let (id, r) = std::thread::scope(|s| {
        s.spawn(|| {
            let mut id = 0u64;
            let r = b.setup(4, &mut id);
            (id, r)
        })
        .join()
        .unwrap()
    });
    expect_eq!(o, "setup in another thread", r, Ok(0));
    let other = Ctx::adopt(b, id);
    let mut cb = fx.ready(b, 12);
    expect_eq!(o, "submit on it from here", other.submit1(&mut cb), Ok(1));
    other.wait_events(1, PROMPT)?;
    expect_eq!(o, "destroy it from here", other.destroy(), Ok(0));
    Ok(())
}

fn submit_resfd_signals_eventfd(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 32)?;
    let mut cbs: Vec<Iocb> = (0..10)
        .map(|i| Iocb { aio_flags: IOCB_FLAG_RESFD, aio_resfd: fx.efd.0 as u32, ..fx.ready(b, i) })
        .collect();
    expect_eq!(o, "submit 10 with RESFD", sub(&ctx, &mut cbs), Ok(10));
    expect_eq!(o, "eventfd count", fx.efd.wait_for(10, PROMPT), 10);
    ctx.wait_events(10, PROMPT)?;
    std::thread::sleep(ms(20));
    expect_eq!(o, "no more", fx.efd.take(), 0);
    Ok(())
}
