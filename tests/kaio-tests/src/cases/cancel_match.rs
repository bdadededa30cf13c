//! KAIO_IOC_CANCEL_MATCH (ABI.md "Version 2"), kaio only: the argument checks in the module's
//! order (1. copy in: EFAULT; 2. unknown flags, reserved1, reserved2: EINVAL; 3. selector rules:
//! EINVAL; 4. WAIT's timeout read: EFAULT; 5. ctx lookup: EINVAL; 6. FD: EBADF; nr_running
//! written back from step 6 on), every flag combination, the outcome table (n cancelled, EALREADY
//! when every match runs on, ENOENT when nothing matched), oldest-first without ALL, matching by
//! iocb, data, file (struct file, not the number) and opcode, running requests (a PREAD blocked
//! inside io_submit on an empty pipe), WAIT (ETIME, EINTR, against destroy), RESULT (the event
//! to *result instead of the ring, the slot given back, EAGAIN, EINVAL, EFAULT), the same
//! answers as KAIO_IOC_CANCEL, and ALL against concurrent submits and completions.

use crate::aio::*;
use crate::ktap::{Case, CaseResult};
use crate::util::*;
use crate::v2::*;
use crate::{check, want_eq};
use kaio::uapi::*;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::time::Instant;

pub fn cases() -> Vec<Case> {
    vec![
        Case::kaio("cancel_match_args_unreadable_efault", cancel_match_args_unreadable_efault),
        Case::kaio("cancel_match_unknown_flags_reserved_einval", cancel_match_unknown_flags_reserved_einval),
        Case::kaio("cancel_match_invalid_combinations_einval", cancel_match_invalid_combinations_einval),
        Case::kaio("cancel_match_every_valid_combination", cancel_match_every_valid_combination),
        Case::kaio("cancel_match_check_order", cancel_match_check_order),
        Case::kaio("cancel_match_bad_ctx_einval", cancel_match_bad_ctx_einval),
        Case::kaio("cancel_match_fd_not_open_ebadf", cancel_match_fd_not_open_ebadf),
        Case::kaio("cancel_match_nothing_matched_enoent", cancel_match_nothing_matched_enoent),
        Case::kaio("cancel_match_oldest_first_by_data", cancel_match_oldest_first_by_data),
        Case::kaio("cancel_match_all_every_match", cancel_match_all_every_match),
        Case::kaio("cancel_match_fd_is_the_struct_file", cancel_match_fd_is_the_struct_file),
        Case::kaio("cancel_match_fd_never_matches_delay", cancel_match_fd_never_matches_delay),
        Case::kaio("cancel_match_by_opcode", cancel_match_by_opcode),
        Case::kaio("cancel_match_selectors_and_combine", cancel_match_selectors_and_combine),
        Case::kaio("cancel_match_long_walks", cancel_match_long_walks),
        Case::kaio("cancel_match_read_only_args_event_not_lost", cancel_match_read_only_args_event_not_lost),
        Case::kaio("cancel_match_running_ealready", cancel_match_running_ealready),
        Case::kaio("cancel_match_never_sees_refused_read", cancel_match_never_sees_refused_read),
        Case::kaio("cancel_match_running_and_poll_same_iocb_address", cancel_match_running_and_poll_same_iocb_address),
        Case::kaio("cancel_match_running_and_polls_same_file", cancel_match_running_and_polls_same_file),
        Case::kaio("cancel_match_wait_timeout_etime", cancel_match_wait_timeout_etime),
        Case::kaio("cancel_match_wait_until_running_completes", cancel_match_wait_until_running_completes),
        Case::kaio("cancel_match_wait_eintr", cancel_match_wait_eintr),
        Case::kaio("cancel_match_wait_vs_destroy", cancel_match_wait_vs_destroy),
        Case::kaio("cancel_match_result_delay", cancel_match_result_delay),
        Case::kaio("cancel_match_result_poll_oldest", cancel_match_result_poll_oldest),
        Case::kaio("cancel_match_result_gives_slot_back", cancel_match_result_gives_slot_back),
        Case::kaio("cancel_match_result_running_eagain", cancel_match_result_running_eagain),
        Case::kaio("cancel_match_result_nothing_einval", cancel_match_result_nothing_einval),
        Case::kaio("cancel_match_result_unwritable_efault", cancel_match_result_unwritable_efault),
        Case::kaio("cancel_match_same_answers_as_cancel", cancel_match_same_answers_as_cancel),
        Case::kaio("cancel_match_all_vs_submits_and_completions", cancel_match_all_vs_submits_and_completions),
        Case::kaio("cancel_match_concurrent_walks", cancel_match_concurrent_walks),
        Case::kaio("cancel_match_any_vs_destroy", cancel_match_any_vs_destroy),
        Case::kaio("cancel_match_result_vs_expiry", cancel_match_result_vs_expiry),
        Case::kaio("cancel_match_result_vs_poll_wakeup", cancel_match_result_vs_poll_wakeup),
    ]
}

const IOCB: u32 = KAIO_CANCEL_IOCB;
const DATA: u32 = KAIO_CANCEL_DATA;
const FD: u32 = KAIO_CANCEL_FD;
const OP: u32 = KAIO_CANCEL_OP;
const ANY: u32 = KAIO_CANCEL_ANY;
const ALL: u32 = KAIO_CANCEL_ALL;
const WAIT: u32 = KAIO_CANCEL_WAIT;
const RESULT: u32 = KAIO_CANCEL_RESULT;
const SELECTORS: u32 = IOCB | DATA | FD | OP;

/// The ABI's selector rules (check order step 3), given known bits only.
fn combination_valid(f: u32) -> bool {
    let sel = f & SELECTORS != 0;
    let any = f & ANY != 0;
    (sel || any) && f & (IOCB | DATA) != (IOCB | DATA) && !(any && sel) && !(f & RESULT != 0 && f & (ALL | ANY | WAIT) != 0)
}

fn flag_names(f: u32) -> String {
    let names = ["IOCB", "DATA", "FD", "OP", "ANY", "ALL", "WAIT", "RESULT"];
    let mut v: Vec<String> = (0..8).filter(|b| f & (1 << b) != 0).map(|b| names[b].to_string()).collect();
    if f >> 8 != 0 {
        v.push(format!("{:#x}", f & !0xff));
    }
    if v.is_empty() {
        "0".into()
    } else {
        v.join("|")
    }
}

fn resfd(efd: &EventFd, cb: Iocb) -> Iocb {
    Iocb { aio_flags: IOCB_FLAG_RESFD, aio_resfd: efd.0 as u32, ..cb }
}

fn addr(cb: &Iocb) -> u64 {
    cb as *const Iocb as u64
}

fn ev(cb: &Iocb, res: i64) -> IoEvent {
    IoEvent { data: cb.aio_data, obj: addr(cb), res, res2: 0 }
}

/// The events now in the ring (zero timeout), in ring order.
fn now(ctx: &Ctx) -> Result<Vec<IoEvent>, String> {
    let mut all = Vec::new();
    loop {
        let v = ctx.getev(0, 256, Some(ts(0, 0))).map_err(|e| format!("getevents {{0,0}}: {e:?}"))?;
        if v.is_empty() {
            return Ok(all);
        }
        all.extend(v);
    }
}

fn sorted(mut v: Vec<IoEvent>) -> Vec<IoEvent> {
    v.sort_by_key(|e| (e.obj, e.data));
    v
}

/// One domain, one context, an eventfd, two empty pipes.
struct Env {
    k: Kaio,
    efd: EventFd,
    a: Pipe,
    b: Pipe,
}

impl Env {
    fn new() -> Result<Env, String> {
        Ok(Env { k: Kaio::open()?, efd: EventFd::new()?, a: Pipe::new()?, b: Pipe::new()? })
    }
    fn ctx(&self, nr: u32) -> Result<Ctx<'_>, String> {
        Ctx::new(&self.k, nr)
    }
    fn call(&self, a: kaio_cancel_match_args) -> Result<(Ret, u32), String> {
        cmatch(self.k.fd, a)
    }
    fn poll(&self, fd: RawFd, data: u64) -> Iocb {
        resfd(&self.efd, poll_iocb(fd, POLLIN, data))
    }
    fn delay(&self, data: u64) -> Iocb {
        resfd(&self.efd, delay_iocb(self.a.r, LONG_NS, data))
    }
}

/// Expects CANCEL_MATCH(a) to give `want` with nr_running `nr`, and exactly `evs` (any order)
/// in the ring at once, the eventfd counting as many.
fn expect_cancel(env: &Env, ctx: &Ctx, what: &str, a: kaio_cancel_match_args, want: Ret, nr: u32, evs: Vec<IoEvent>) -> CaseResult {
    let (r, got_nr) = env.call(a)?;
    let ring = now(ctx)?;
    let count = env.efd.take();
    want_eq!(format!("{what} ({}): result, nr_running", flag_names(a.flags)), (r, got_nr), (want, nr));
    want_eq!(format!("{what}: events in the ring at return"), sorted(ring), sorted(evs.clone()));
    want_eq!(format!("{what}: eventfd"), count, evs.len() as u64);
    Ok(())
}

/// An error before the lookup: only the result is checked, nothing may be cancelled.
fn expect_early(env: &Env, ctx: &Ctx, what: &str, a: kaio_cancel_match_args, want: Errno) -> CaseResult {
    let (r, _) = env.call(a)?;
    want_eq!(format!("{what} ({}, fd {}, reserved1 {}, reserved2 {:?}, timeout {:#x})", flag_names(a.flags), a.fd, a.reserved1, a.reserved2, a.timeout), r, Err(want));
    let ring = now(ctx)?;
    want_eq!(format!("{what}: nothing cancelled"), (ring, env.efd.take()), (vec![], 0));
    Ok(())
}

/// Cancels whatever is left (ANY) expecting `n`, reaps and checks the events.
fn cleanup(env: &Env, ctx: &Ctx, what: &str, evs: Vec<IoEvent>) -> CaseResult {
    let want = if evs.is_empty() { Err(ENOENT) } else { Ok(evs.len() as i64) };
    expect_cancel(env, ctx, &format!("{what}: cleanup"), cm(ctx.id, ANY), want, 0, evs)
}

fn cancel_match_args_unreadable_efault() -> CaseResult {
    let env = Env::new()?;
    let ctx = env.ctx(8)?;
    let mut d = env.delay(1);
    want_eq!("submit", ctx.submit1(&mut d), Ok(1));
    let page = Map::new(8192)?;
    munmap(page.addr + 4096, 4096)?;
    // A valid block (cancel d by IOCB) whose last 8 bytes lie on the unmapped page.
    let at = page.addr + 4096 - 56;
    let a = kaio_cancel_match_args { key: addr(&d), ..cm(ctx.id, IOCB) };
    // SAFETY: writes the first 56 bytes of the block into the mapped page.
    unsafe { std::ptr::copy_nonoverlapping((&a as *const kaio_cancel_match_args).cast::<u8>(), at as *mut u8, 56) };
    for (what, p) in [("NULL", 0u64), ("8", 8), ("unmapped", unmapped_addr()), ("kernel", crate::cases::setup::KERNEL_ADDR), ("straddling", at)] {
        want_eq!(format!("args {what}"), cancel_match_at(env.k.fd, p), Err(EFAULT));
    }
    want_eq!("nothing cancelled", (now(&ctx)?, env.efd.take()), (vec![], 0));
    munmap(page.addr, 4096)?;
    std::mem::forget(page);
    // A read-only block: the errors of steps 2-5 come before anything is written back.
    let ro = Map::new(4096)?;
    for (what, a, want) in [
        ("unknown flag", kaio_cancel_match_args { key: addr(&d), ..cm(ctx.id, IOCB | 1 << 8) }, EINVAL),
        ("IOCB|DATA", kaio_cancel_match_args { key: addr(&d), ..cm(ctx.id, IOCB | DATA) }, EINVAL),
        ("WAIT, timeout unmapped", kaio_cancel_match_args { key: addr(&d), timeout: unmapped_addr(), ..cm(ctx.id, IOCB | WAIT) }, EFAULT),
        ("ctx 0", kaio_cancel_match_args { key: addr(&d), ..cm(0, IOCB) }, EINVAL),
    ] {
        ro.protect(libc::PROT_READ | libc::PROT_WRITE)?;
        // SAFETY: writes the block into the page.
        unsafe { std::ptr::write(ro.ptr::<kaio_cancel_match_args>(0), a) };
        ro.protect(libc::PROT_READ)?;
        want_eq!(format!("read-only block, {what}"), cancel_match_at(env.k.fd, ro.addr), Err(want));
    }
    want_eq!("nothing cancelled", (now(&ctx)?, env.efd.take()), (vec![], 0));
    cleanup(&env, &ctx, "end", vec![ev(&d, RES_ECANCELED)])
}

fn cancel_match_unknown_flags_reserved_einval() -> CaseResult {
    let env = Env::new()?;
    let ctx = env.ctx(8)?;
    let mut cbs = [env.delay(5), env.poll(env.a.r, 6)];
    ctx.submit_all(&mut cbs)?;
    let good = kaio_cancel_match_args { key: addr(&cbs[0]), ..cm(ctx.id, IOCB) };
    let unmapped = unmapped_addr();
    for bit in 8..32 {
        let f = 1u32 << bit;
        expect_early(&env, &ctx, "unknown bit", kaio_cancel_match_args { flags: IOCB | f, ..good }, EINVAL)?;
        expect_early(&env, &ctx, "unknown bit with ANY", kaio_cancel_match_args { flags: ANY | f, ..good }, EINVAL)?;
        expect_early(&env, &ctx, "unknown bit alone", kaio_cancel_match_args { flags: f, ..good }, EINVAL)?;
        // Step 2 comes before steps 4, 5 and 6.
        expect_early(&env, &ctx, "unknown bit, WAIT, timeout unmapped", kaio_cancel_match_args { flags: IOCB | WAIT | f, timeout: unmapped, ..good }, EINVAL)?;
        expect_early(&env, &ctx, "unknown bit, ctx 0", kaio_cancel_match_args { flags: IOCB | f, ctx_id: 0, ..good }, EINVAL)?;
        expect_early(&env, &ctx, "unknown bit, FD not open", kaio_cancel_match_args { flags: FD | f, fd: closed_fd(), ..good }, EINVAL)?;
    }
    expect_early(&env, &ctx, "all unknown bits", kaio_cancel_match_args { flags: !0xff | IOCB, ..good }, EINVAL)?;
    expect_early(&env, &ctx, "every bit", kaio_cancel_match_args { flags: u32::MAX, ..good }, EINVAL)?;
    for r1 in [1u16, 0x100, 0x8000, 0xffff] {
        expect_early(&env, &ctx, "reserved1", kaio_cancel_match_args { reserved1: r1, ..good }, EINVAL)?;
        expect_early(&env, &ctx, "reserved1 with ANY", kaio_cancel_match_args { reserved1: r1, flags: ANY, ..good }, EINVAL)?;
        expect_early(&env, &ctx, "reserved1, WAIT, timeout unmapped", kaio_cancel_match_args { reserved1: r1, flags: IOCB | WAIT, timeout: unmapped, ..good }, EINVAL)?;
        expect_early(&env, &ctx, "reserved1, FD not open", kaio_cancel_match_args { reserved1: r1, flags: FD, fd: closed_fd(), ..good }, EINVAL)?;
    }
    for r2 in [[1u64, 0], [0, 1], [1 << 63, 0], [0, u64::MAX], [u64::MAX, u64::MAX]] {
        expect_early(&env, &ctx, "reserved2", kaio_cancel_match_args { reserved2: r2, ..good }, EINVAL)?;
        expect_early(&env, &ctx, "reserved2 with ANY|ALL", kaio_cancel_match_args { reserved2: r2, flags: ANY | ALL, ..good }, EINVAL)?;
        expect_early(&env, &ctx, "reserved2, WAIT, timeout unmapped", kaio_cancel_match_args { reserved2: r2, flags: IOCB | WAIT, timeout: unmapped, ..good }, EINVAL)?;
        expect_early(&env, &ctx, "reserved2, ctx 0", kaio_cancel_match_args { reserved2: r2, ctx_id: 0, ..good }, EINVAL)?;
    }
    // The fields of selectors that are not given are ignored (not checked).
    let (r, nr) = env.call(kaio_cancel_match_args { fd: -5, opcode: 0xffff, timeout: unmapped, result: unmapped, ..good })?;
    want_eq!("IOCB with garbage fd, opcode, timeout, result", (r, nr), (Ok(1), 0));
    want_eq!("its event", now(&ctx)?, vec![ev(&cbs[0], RES_ECANCELED)]);
    want_eq!("eventfd", env.efd.take(), 1);
    cleanup(&env, &ctx, "end", vec![ev(&cbs[1], 0)])
}

/// Every combination of the eight flags that breaks a selector rule, with every other field
/// good, then with a bad timeout, a closed fd and ctx 0 (all later steps): EINVAL.
fn cancel_match_invalid_combinations_einval() -> CaseResult {
    let env = Env::new()?;
    let ctx = env.ctx(8)?;
    let mut cbs = [env.delay(5), env.poll(env.a.r, 5)];
    ctx.submit_all(&mut cbs)?;
    let five = ts(5, 0);
    let mut res = IoEvent::default();
    let mut n = 0;
    for f in 0u32..256 {
        if combination_valid(f) {
            continue;
        }
        n += 1;
        let good = kaio_cancel_match_args {
            key: if f & IOCB != 0 { addr(&cbs[0]) } else { 5 },
            fd: env.a.r,
            opcode: IOCB_CMD_POLL,
            timeout: &five as *const KernelTimespec as u64,
            result: &mut res as *mut IoEvent as u64,
            ..cm(ctx.id, f)
        };
        expect_early(&env, &ctx, "invalid combination", good, EINVAL)?;
        expect_early(&env, &ctx, "invalid combination, timeout unmapped", kaio_cancel_match_args { timeout: unmapped_addr(), ..good }, EINVAL)?;
        expect_early(&env, &ctx, "invalid combination, fd not open", kaio_cancel_match_args { fd: closed_fd(), ..good }, EINVAL)?;
        expect_early(&env, &ctx, "invalid combination, ctx 0", kaio_cancel_match_args { ctx_id: 0, ..good }, EINVAL)?;
    }
    // 2^8 minus the valid ones (counted by the rules; see every_valid_combination).
    want_eq!("invalid combinations", n, 256 - (0u32..256).filter(|&f| combination_valid(f)).count());
    check!(n > 100, "only {n} invalid combinations");
    want_eq!("result untouched", res, IoEvent::default());
    cleanup(&env, &ctx, "end", vec![ev(&cbs[0], RES_ECANCELED), ev(&cbs[1], 0)])
}

/// Every valid combination of the eight flags on the same six requests; the expected outcome
/// comes from the ABI's rules: selectors AND-combine, without ALL/ANY only the oldest match,
/// POLL events res 0, DELAY -ECANCELED, RESULT puts the event in *result and not in the ring.
/// Fields of absent selectors hold values that would change the outcome if they were used.
fn cancel_match_every_valid_combination() -> CaseResult {
    let env = Env::new()?;
    let ctx = env.ctx(32)?;
    let (a, b) = (env.a.r, env.b.r);
    // (is_poll, fd, data) in submission order.
    let reqs: [(bool, RawFd, u64); 6] = [(true, a, 7), (false, a, 7), (true, b, 9), (true, a, 9), (false, b, 9), (true, b, 7)];
    let mut cbs = [Iocb::default(); 6];
    let iocb_target = 3;
    let five = ts(5, 0);
    let mut tried = 0;
    for f in 0u32..256 {
        if !combination_valid(f) {
            continue;
        }
        tried += 1;
        for (i, &(is_poll, fd, data)) in reqs.iter().enumerate() {
            cbs[i] = if is_poll { env.poll(fd, data) } else { resfd(&env.efd, delay_iocb(fd, LONG_NS, data)) };
        }
        ctx.submit_all(&mut cbs)?;
        let key = if f & IOCB != 0 {
            addr(&cbs[iocb_target])
        } else if f & DATA != 0 {
            9
        } else {
            addr(&cbs[1])
        };
        let mut result = IoEvent { data: 0xdead, obj: 0xbeef, res: 77, res2: 78 };
        let args = kaio_cancel_match_args {
            key,
            fd: if f & FD != 0 { a } else { closed_fd() },
            opcode: if f & OP != 0 { IOCB_CMD_POLL } else { KAIO_CMD_DELAY },
            timeout: if f & WAIT != 0 {
                if f & ALL != 0 {
                    0
                } else {
                    &five as *const KernelTimespec as u64
                }
            } else {
                unmapped_addr()
            },
            result: if f & RESULT != 0 { &mut result as *mut IoEvent as u64 } else { unmapped_addr() },
            ..cm(ctx.id, f)
        };
        let matches: Vec<usize> = (0..6)
            .filter(|&i| {
                let (is_poll, fd, data) = reqs[i];
                f & ANY != 0
                    || ((f & IOCB == 0 || i == iocb_target)
                        && (f & DATA == 0 || data == 9)
                        && (f & FD == 0 || (is_poll && fd == a))
                        && (f & OP == 0 || is_poll))
            })
            .collect();
        let considered: Vec<usize> = if f & (ALL | ANY) != 0 { matches.clone() } else { matches.iter().take(1).copied().collect() };
        let res_of = |i: usize| if reqs[i].0 { 0 } else { RES_ECANCELED };
        let what = format!("flags {}", flag_names(f));
        let (r, nr) = env.call(args)?;
        let ring = now(&ctx)?;
        let count = env.efd.take();
        if f & RESULT != 0 {
            if let Some(&i) = considered.first() {
                want_eq!(format!("{what}: result"), (r, nr), (Ok(0), 0));
                want_eq!(format!("{what}: *result"), result, ev(&cbs[i], res_of(i)));
                want_eq!(format!("{what}: ring, eventfd"), (ring, count), (vec![], 0));
            } else {
                want_eq!(format!("{what}: nothing matched"), (r, nr), (Err(EINVAL), 0));
                want_eq!(format!("{what}: ring, eventfd"), (ring, count), (vec![], 0));
            }
        } else {
            let want = if considered.is_empty() { Err(ENOENT) } else { Ok(considered.len() as i64) };
            want_eq!(format!("{what}: result, nr_running"), (r, nr), (want, 0));
            let evs: Vec<IoEvent> = considered.iter().map(|&i| ev(&cbs[i], res_of(i))).collect();
            want_eq!(format!("{what}: events at return"), sorted(ring), sorted(evs.clone()));
            want_eq!(format!("{what}: eventfd"), count, evs.len() as u64);
        }
        let rest: Vec<IoEvent> = (0..6).filter(|i| !considered.contains(i)).map(|i| ev(&cbs[i], res_of(i))).collect();
        cleanup(&env, &ctx, &what, rest)?;
    }
    // ANY with or without ALL, WAIT: 4; 11 selector sets (nonempty, not IOCB with DATA), each
    // with or without ALL, WAIT: 44, or with RESULT alone: 11.
    want_eq!("valid combinations tried", tried, 59);
    Ok(())
}

/// Which error comes first when several are present (steps 3-6 of the check order).
fn cancel_match_check_order() -> CaseResult {
    let env = Env::new()?;
    let ctx = env.ctx(8)?;
    let mut d = env.delay(3);
    want_eq!("submit", ctx.submit1(&mut d), Ok(1));
    let unmapped = unmapped_addr();
    let page = Map::new(8192)?;
    munmap(page.addr + 4096, 4096)?;
    let straddle = page.addr + 4096 - 8;
    let bad = closed_fd();
    let key = addr(&d);
    for (what, a, want) in [
        // 3 before 4, 5, 6.
        ("IOCB|DATA|WAIT, timeout unmapped, ctx 0, fd closed", kaio_cancel_match_args { key, timeout: unmapped, fd: bad, ..cm(0, IOCB | DATA | WAIT | FD) }, EINVAL),
        ("no selector, WAIT, timeout unmapped", kaio_cancel_match_args { timeout: unmapped, ..cm(ctx.id, WAIT | ALL) }, EINVAL),
        ("ANY|FD, fd closed", kaio_cancel_match_args { fd: bad, ..cm(ctx.id, ANY | FD) }, EINVAL),
        ("RESULT|ALL|FD, fd closed, result unmapped", kaio_cancel_match_args { fd: bad, result: unmapped, ..cm(ctx.id, RESULT | ALL | FD) }, EINVAL),
        // 4 before 5 and 6.
        ("WAIT, timeout unmapped, ctx 0", kaio_cancel_match_args { key, timeout: unmapped, ..cm(0, IOCB | WAIT) }, EFAULT),
        ("WAIT, timeout 1, ctx 0", kaio_cancel_match_args { key, timeout: 1, ..cm(0, IOCB | WAIT) }, EFAULT),
        ("WAIT, timeout straddling", kaio_cancel_match_args { key, timeout: straddle, ..cm(ctx.id, IOCB | WAIT) }, EFAULT),
        ("WAIT, timeout kernel", kaio_cancel_match_args { key, timeout: crate::cases::setup::KERNEL_ADDR, ..cm(ctx.id, IOCB | WAIT) }, EFAULT),
        ("WAIT|FD|ALL, timeout unmapped, fd closed", kaio_cancel_match_args { timeout: unmapped, fd: bad, ..cm(ctx.id, WAIT | FD | ALL) }, EFAULT),
        ("ANY|WAIT, timeout unmapped, ctx unmapped", kaio_cancel_match_args { timeout: unmapped, ..cm(unmapped, ANY | WAIT) }, EFAULT),
        // 5 before 6.
        ("FD closed, ctx 0", kaio_cancel_match_args { fd: bad, ..cm(0, FD) }, EINVAL),
        ("FD -1, ctx unmapped", kaio_cancel_match_args { fd: -1, ..cm(unmapped, FD | ALL) }, EINVAL),
        ("FD closed, RESULT, ctx 0", kaio_cancel_match_args { fd: bad, result: unmapped, ..cm(0, FD | RESULT) }, EINVAL),
    ] {
        expect_early(&env, &ctx, what, a, want)?;
    }
    // 6: EBADF, nr_running written back.
    let (r, nr) = env.call(kaio_cancel_match_args { fd: bad, ..cm(ctx.id, FD | WAIT) })?;
    want_eq!("WAIT|FD, NULL timeout, fd closed", (r, nr), (Err(EBADF), 0));
    // The timeout is read only with WAIT; the result written only with RESULT.
    let (r, nr) = env.call(kaio_cancel_match_args { key: 99, timeout: unmapped, result: unmapped, ..cm(ctx.id, DATA) })?;
    want_eq!("DATA without WAIT, timeout unmapped, nothing matched", (r, nr), (Err(ENOENT), 0));
    let (r, nr) = env.call(kaio_cancel_match_args { key: 99, result: unmapped, ..cm(ctx.id, DATA | RESULT) })?;
    want_eq!("RESULT, result unmapped, nothing matched", (r, nr), (Err(EINVAL), 0));
    want_eq!("nothing cancelled", (now(&ctx)?, env.efd.take()), (vec![], 0));
    expect_cancel(&env, &ctx, "timeout unmapped without WAIT, a match", kaio_cancel_match_args { key, timeout: unmapped, ..cm(ctx.id, IOCB) }, Ok(1), 0, vec![ev(&d, RES_ECANCELED)])?;
    munmap(page.addr, 4096)?;
    std::mem::forget(page);
    Ok(())
}

fn cancel_match_bad_ctx_einval() -> CaseResult {
    let env = Env::new()?;
    let ctx = env.ctx(128)?;
    let mut d = env.delay(3);
    want_eq!("submit", ctx.submit1(&mut d), Ok(1));
    for (what, h) in crate::cases::destroy::bad_handles(&ctx) {
        expect_early(&env, &ctx, what, kaio_cancel_match_args { key: addr(&d), ..cm(h, IOCB) }, EINVAL)?;
        expect_early(&env, &ctx, what, cm(h, ANY), EINVAL)?;
        expect_early(&env, &ctx, what, kaio_cancel_match_args { fd: env.a.r, ..cm(h, FD | ALL | WAIT) }, EINVAL)?;
    }
    // The context of another domain, through this one; and this one through the other.
    let other = Kaio::open()?;
    let octx = Ctx::new(&other, 8)?;
    expect_early(&env, &ctx, "another domain's ctx", cm(octx.id, ANY), EINVAL)?;
    let (r, _) = cmatch(other.fd, cm(ctx.id, ANY))?;
    want_eq!("this ctx through another domain", r, Err(EINVAL));
    // A destroyed context.
    let dead = env.ctx(8)?;
    let id = dead.id;
    want_eq!("destroy", dead.destroy(), Ok(0));
    expect_early(&env, &ctx, "destroyed ctx", cm(id, ANY), EINVAL)?;
    // A forked child's view: the ring is mapped there, the ctx is not the child's.
    let fd = env.k.fd;
    let cid = ctx.id;
    in_child(PROMPT, move || {
        let (r, _) = cmatch(fd, cm(cid, ANY))?;
        if r != Err(EINVAL) {
            return Err(format!("CANCEL_MATCH(ANY) of the parent's ctx in a child: {r:?}, expected EINVAL"));
        }
        Ok(())
    })?;
    cleanup(&env, &ctx, "end", vec![ev(&d, RES_ECANCELED)])
}

fn cancel_match_fd_not_open_ebadf() -> CaseResult {
    let env = Env::new()?;
    let ctx = env.ctx(8)?;
    let mut p = env.poll(env.a.r, 1);
    want_eq!("submit", ctx.submit1(&mut p), Ok(1));
    for (what, fd) in [("closed", closed_fd()), ("-1", -1), ("i32::MIN", i32::MIN), ("1 << 30", 1 << 30)] {
        for f in [FD, FD | ALL, FD | OP, FD | DATA, FD | IOCB, FD | WAIT, FD | ALL | WAIT, FD | RESULT] {
            let mut res = IoEvent::default();
            let a = kaio_cancel_match_args { fd, key: addr(&p), opcode: IOCB_CMD_POLL, result: &mut res as *mut IoEvent as u64, ..cm(ctx.id, f) };
            let (r, nr) = env.call(a)?;
            want_eq!(format!("fd {what}, {}", flag_names(f)), (r, nr), (Err(EBADF), 0));
            want_eq!("result untouched", res, IoEvent::default());
        }
    }
    want_eq!("nothing cancelled", (now(&ctx)?, env.efd.take()), (vec![], 0));
    // A file with nothing on it: no match.
    let (r, nr) = env.call(kaio_cancel_match_args { fd: env.k.fd, ..cm(ctx.id, FD | ALL) })?;
    want_eq!("FD of /dev/kaio itself", (r, nr), (Err(ENOENT), 0));
    cleanup(&env, &ctx, "end", vec![ev(&p, 0)])
}

fn cancel_match_nothing_matched_enoent() -> CaseResult {
    let env = Env::new()?;
    let ctx = env.ctx(8)?;
    let other = env.ctx(8)?;
    let empty = [
        ("IOCB", kaio_cancel_match_args { key: 0x1000, ..cm(ctx.id, IOCB) }),
        ("DATA", kaio_cancel_match_args { key: 1, ..cm(ctx.id, DATA) }),
        ("FD", kaio_cancel_match_args { fd: env.a.r, ..cm(ctx.id, FD) }),
        ("OP", kaio_cancel_match_args { opcode: IOCB_CMD_POLL, ..cm(ctx.id, OP) }),
        ("ANY", cm(ctx.id, ANY)),
        ("ANY|ALL|WAIT", cm(ctx.id, ANY | ALL | WAIT)),
        ("DATA|ALL|WAIT", kaio_cancel_match_args { key: 1, ..cm(ctx.id, DATA | ALL | WAIT) }),
    ];
    for (what, a) in empty {
        expect_cancel(&env, &ctx, &format!("empty ctx, {what}"), a, Err(ENOENT), 0, vec![])?;
    }
    // Requests in another context of the same domain.
    let mut o1 = env.poll(env.a.r, 1);
    let mut o2 = env.delay(1);
    other.submit_all(std::slice::from_mut(&mut o1))?;
    other.submit_all(std::slice::from_mut(&mut o2))?;
    for (what, mut a) in empty {
        if a.flags & IOCB != 0 {
            a.key = addr(&o1);
        }
        expect_cancel(&env, &ctx, &format!("requests only in another ctx, {what}"), a, Err(ENOENT), 0, vec![])?;
    }
    // Completed, its event not reaped: no longer in flight.
    let full = Pipe::with_data()?;
    let mut done = env.poll(full.r, 1);
    let mut zero = resfd(&env.efd, delay_iocb(env.a.r, 0, 1));
    want_eq!("submit ready poll", ctx.submit1(&mut done), Ok(1));
    want_eq!("submit delay 0", ctx.submit1(&mut zero), Ok(1));
    wait_ring(ctx.id, 2, PROMPT)?;
    want_eq!("their eventfd", env.efd.wait_for(2, PROMPT), 2);
    for (what, a) in [
        ("IOCB of the poll", kaio_cancel_match_args { key: addr(&done), ..cm(ctx.id, IOCB) }),
        ("IOCB of the delay", kaio_cancel_match_args { key: addr(&zero), ..cm(ctx.id, IOCB) }),
        ("DATA", kaio_cancel_match_args { key: 1, ..cm(ctx.id, DATA | ALL) }),
        ("FD", kaio_cancel_match_args { fd: full.r, ..cm(ctx.id, FD) }),
        ("ANY", cm(ctx.id, ANY)),
    ] {
        let (r, nr) = env.call(a)?;
        want_eq!(format!("completed, unreaped: {what}"), (r, nr), (Err(ENOENT), 0));
        want_eq!("unread events", ring_avail(ctx.id), 2);
    }
    let got = sorted(now(&ctx)?);
    want_eq!("the two completions", got, sorted(vec![ev(&done, POLLIN as i64), ev(&zero, 0)]));
    // Cancelled once: the second finds nothing.
    let mut p = env.poll(env.a.r, 4);
    want_eq!("submit", ctx.submit1(&mut p), Ok(1));
    expect_cancel(&env, &ctx, "first", kaio_cancel_match_args { key: addr(&p), ..cm(ctx.id, IOCB) }, Ok(1), 0, vec![ev(&p, 0)])?;
    expect_cancel(&env, &ctx, "second", kaio_cancel_match_args { key: addr(&p), ..cm(ctx.id, IOCB) }, Err(ENOENT), 0, vec![])?;
    // A key that is an iocb's address plus one byte, or its data: not the iocb.
    let mut q = env.poll(env.a.r, addr(&p));
    want_eq!("submit", ctx.submit1(&mut q), Ok(1));
    expect_cancel(&env, &ctx, "IOCB key = address + 1", kaio_cancel_match_args { key: addr(&q) + 1, ..cm(ctx.id, IOCB) }, Err(ENOENT), 0, vec![])?;
    expect_cancel(&env, &ctx, "IOCB key = another iocb's address (q's data)", kaio_cancel_match_args { key: addr(&p), ..cm(ctx.id, IOCB) }, Err(ENOENT), 0, vec![])?;
    expect_cancel(&env, &ctx, "DATA key = q's address", kaio_cancel_match_args { key: addr(&q), ..cm(ctx.id, DATA) }, Err(ENOENT), 0, vec![])?;
    let ec = env.efd.take();
    want_eq!("eventfd", ec, 0);
    drop(other);
    want_eq!("other ctx destroyed: its two requests signalled", env.efd.take(), 2);
    cleanup(&env, &ctx, "end", vec![ev(&q, 0)])
}

/// Three DELAYs with the same aio_data (another request between them): DATA without ALL
/// cancels the first submitted, then the second, then the third.
fn cancel_match_oldest_first_by_data() -> CaseResult {
    let env = Env::new()?;
    let ctx = env.ctx(16)?;
    let mut cbs = [env.delay(0x42), env.delay(0x43), env.delay(0x42), env.poll(env.a.r, 0x42), env.delay(0x42)];
    for cb in cbs.iter_mut() {
        want_eq!("submit", ctx.submit1(cb), Ok(1));
    }
    let a = kaio_cancel_match_args { key: 0x42, ..cm(ctx.id, DATA) };
    for (i, res) in [(0, RES_ECANCELED), (2, RES_ECANCELED), (3, 0), (4, RES_ECANCELED)] {
        expect_cancel(&env, &ctx, &format!("DATA 0x42, expecting #{i}"), a, Ok(1), 0, vec![ev(&cbs[i], res)])?;
    }
    expect_cancel(&env, &ctx, "DATA 0x42 again", a, Err(ENOENT), 0, vec![])?;
    // The same iocb address submitted twice (changed in between): IOCB takes the oldest.
    let mut same = env.delay(0x50);
    want_eq!("submit 1st", ctx.submit1(&mut same), Ok(1));
    same = env.poll(env.b.r, 0x51);
    want_eq!("submit 2nd from the same address", ctx.submit1(&mut same), Ok(1));
    let by = kaio_cancel_match_args { key: addr(&same), ..cm(ctx.id, IOCB) };
    expect_cancel(&env, &ctx, "IOCB: the older", by, Ok(1), 0, vec![IoEvent { data: 0x50, obj: addr(&same), res: RES_ECANCELED, res2: 0 }])?;
    expect_cancel(&env, &ctx, "IOCB: then the newer", by, Ok(1), 0, vec![IoEvent { data: 0x51, obj: addr(&same), res: 0, res2: 0 }])?;
    // FD: polls on one pipe in submission order.
    let mut ps = [env.poll(env.b.r, 1), env.poll(env.b.r, 2), env.poll(env.b.r, 3)];
    for p in ps.iter_mut() {
        want_eq!("submit", ctx.submit1(p), Ok(1));
    }
    for i in 0..3 {
        expect_cancel(&env, &ctx, &format!("FD, expecting poll {i}"), kaio_cancel_match_args { fd: env.b.r, ..cm(ctx.id, FD) }, Ok(1), 0, vec![ev(&ps[i], 0)])?;
    }
    cleanup(&env, &ctx, "end", vec![ev(&cbs[1], RES_ECANCELED)])
}

/// ALL and ANY: every match present at the call, once.
fn cancel_match_all_every_match() -> CaseResult {
    let env = Env::new()?;
    let ctx = env.ctx(32)?;
    let mut cbs: Vec<Iocb> = (0..12).map(|i| if i % 3 == 0 { env.poll(env.a.r, i % 2) } else { env.delay(i % 2) }).collect();
    ctx.submit_all(&mut cbs)?;
    let res = |i: usize| if i % 3 == 0 { 0 } else { RES_ECANCELED };
    let odd: Vec<IoEvent> = (0..12).filter(|i| i % 2 == 1).map(|i| ev(&cbs[i], res(i))).collect();
    expect_cancel(&env, &ctx, "DATA 1 | ALL", kaio_cancel_match_args { key: 1, ..cm(ctx.id, DATA | ALL) }, Ok(6), 0, odd)?;
    expect_cancel(&env, &ctx, "DATA 1 | ALL again", kaio_cancel_match_args { key: 1, ..cm(ctx.id, DATA | ALL) }, Err(ENOENT), 0, vec![])?;
    let even_polls: Vec<IoEvent> = [0usize, 6].iter().map(|&i| ev(&cbs[i], 0)).collect();
    expect_cancel(&env, &ctx, "OP POLL | ALL", kaio_cancel_match_args { opcode: IOCB_CMD_POLL, ..cm(ctx.id, OP | ALL) }, Ok(2), 0, even_polls)?;
    let rest: Vec<IoEvent> = [2usize, 4, 8, 10].iter().map(|&i| ev(&cbs[i], RES_ECANCELED)).collect();
    expect_cancel(&env, &ctx, "ANY", cm(ctx.id, ANY), Ok(4), 0, rest)?;
    // ANY and ANY|ALL|WAIT are the same thing.
    ctx.submit_all(&mut cbs)?;
    let all: Vec<IoEvent> = (0..12).map(|i| ev(&cbs[i], res(i))).collect();
    expect_cancel(&env, &ctx, "ANY|ALL|WAIT, NULL timeout", cm(ctx.id, ANY | ALL | WAIT), Ok(12), 0, all)?;
    expect_cancel(&env, &ctx, "ANY|ALL", cm(ctx.id, ANY | ALL), Err(ENOENT), 0, vec![])?;
    Ok(())
}

fn dup(fd: RawFd) -> Result<RawFd, String> {
    // SAFETY: duplicates an fd we own.
    let d = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if d < 0 {
        return Err(format!("dup: errno {}", kaio::raw::errno()));
    }
    Ok(d)
}

fn close(fd: RawFd) {
    // SAFETY: closes an fd the case owns.
    unsafe { libc::close(fd) };
}

/// FD matches the struct file the fd names at the call: a dup() of it matches, a new open of
/// the same pipe (/proc/self/fd) does not, the other end of the pipe does not, and an fd number
/// that now names another file matches that file's requests.
fn cancel_match_fd_is_the_struct_file() -> CaseResult {
    let env = Env::new()?;
    let ctx = env.ctx(16)?;
    let mut p1 = env.poll(env.a.r, 1);
    let mut pw = env.poll(env.a.w, 2); // POLLIN on the write end: stays pending
    want_eq!("submit", ctx.submit1(&mut p1), Ok(1));
    want_eq!("submit", ctx.submit1(&mut pw), Ok(1));
    let path = std::ffi::CString::new(format!("/proc/self/fd/{}", env.a.r)).unwrap();
    // SAFETY: opens the pipe again (a new open file description of the same pipe).
    let reopened = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC) };
    check!(reopened >= 0, "open {path:?}: errno {}", kaio::raw::errno());
    let r = expect_cancel(&env, &ctx, "FD of a new open of the same pipe", kaio_cancel_match_args { fd: reopened, ..cm(ctx.id, FD | ALL) }, Err(ENOENT), 0, vec![]);
    close(reopened);
    r?;
    let d = dup(env.a.r)?;
    let r = expect_cancel(&env, &ctx, "FD of a dup", kaio_cancel_match_args { fd: d, ..cm(ctx.id, FD | ALL) }, Ok(1), 0, vec![ev(&p1, 0)]);
    close(d);
    r?;
    expect_cancel(&env, &ctx, "FD of the write end", kaio_cancel_match_args { fd: env.a.w, ..cm(ctx.id, FD) }, Ok(1), 0, vec![ev(&pw, 0)])?;
    // The number X named pipe C's read end at submit; then X is made to name pipe D's read end.
    let c = Pipe::new()?;
    let dp = Pipe::new()?;
    let x = dup(c.r)?;
    let mut pc = env.poll(x, 3);
    want_eq!("submit on X", ctx.submit1(&mut pc), Ok(1));
    // SAFETY: makes x a copy of dp.r (closing the old x, whose file the request still holds).
    check!(unsafe { libc::dup2(dp.r, x) } == x, "dup2 failed");
    let r = (|| {
        expect_cancel(&env, &ctx, "FD X, now naming another pipe", kaio_cancel_match_args { fd: x, ..cm(ctx.id, FD | ALL) }, Err(ENOENT), 0, vec![])?;
        let mut pd = env.poll(dp.r, 4);
        want_eq!("submit on D", ctx.submit1(&mut pd), Ok(1));
        expect_cancel(&env, &ctx, "FD X matches D's request", kaio_cancel_match_args { fd: x, ..cm(ctx.id, FD | ALL) }, Ok(1), 0, vec![ev(&pd, 0)])?;
        expect_cancel(&env, &ctx, "FD of C's own read end", kaio_cancel_match_args { fd: c.r, ..cm(ctx.id, FD | ALL) }, Ok(1), 0, vec![ev(&pc, 0)])
    })();
    close(x);
    r?;
    cleanup(&env, &ctx, "end", vec![])
}

fn cancel_match_fd_never_matches_delay() -> CaseResult {
    let env = Env::new()?;
    let ctx = env.ctx(16)?;
    let mut d1 = resfd(&env.efd, delay_iocb(env.a.r, LONG_NS, 1));
    let mut d2 = resfd(&env.efd, delay_iocb(env.k.fd, LONG_NS, 2));
    want_eq!("submit", ctx.submit1(&mut d1), Ok(1));
    want_eq!("submit", ctx.submit1(&mut d2), Ok(1));
    for f in [FD, FD | ALL, FD | OP | ALL, FD | DATA, FD | WAIT | ALL] {
        for fd in [env.a.r, env.k.fd] {
            let a = kaio_cancel_match_args { fd, key: 1, opcode: KAIO_CMD_DELAY, ..cm(ctx.id, f) };
            expect_cancel(&env, &ctx, "DELAY by FD", a, Err(ENOENT), 0, vec![])?;
        }
    }
    let mut p = env.poll(env.a.r, 3);
    want_eq!("submit", ctx.submit1(&mut p), Ok(1));
    expect_cancel(&env, &ctx, "FD|ALL with a poll and a delay on it", kaio_cancel_match_args { fd: env.a.r, ..cm(ctx.id, FD | ALL) }, Ok(1), 0, vec![ev(&p, 0)])?;
    cleanup(&env, &ctx, "end", vec![ev(&d1, RES_ECANCELED), ev(&d2, RES_ECANCELED)])
}

fn cancel_match_by_opcode() -> CaseResult {
    let env = Env::new()?;
    let ctx = env.ctx(16)?;
    let mut cbs = [env.delay(1), env.poll(env.a.r, 2), env.delay(3), env.poll(env.b.r, 4)];
    ctx.submit_all(&mut cbs)?;
    for op in [IOCB_CMD_PREAD, IOCB_CMD_PWRITE, IOCB_CMD_FSYNC, IOCB_CMD_NOOP, 0x4B01, 0xffff] {
        expect_cancel(&env, &ctx, &format!("OP {op:#x}"), kaio_cancel_match_args { opcode: op, ..cm(ctx.id, OP | ALL) }, Err(ENOENT), 0, vec![])?;
    }
    expect_cancel(&env, &ctx, "OP POLL: the oldest poll", kaio_cancel_match_args { opcode: IOCB_CMD_POLL, ..cm(ctx.id, OP) }, Ok(1), 0, vec![ev(&cbs[1], 0)])?;
    expect_cancel(&env, &ctx, "OP DELAY|ALL", kaio_cancel_match_args { opcode: KAIO_CMD_DELAY, ..cm(ctx.id, OP | ALL) }, Ok(2), 0, vec![ev(&cbs[0], RES_ECANCELED), ev(&cbs[2], RES_ECANCELED)])?;
    expect_cancel(&env, &ctx, "OP DELAY again", kaio_cancel_match_args { opcode: KAIO_CMD_DELAY, ..cm(ctx.id, OP) }, Err(ENOENT), 0, vec![])?;
    expect_cancel(&env, &ctx, "OP POLL again", kaio_cancel_match_args { opcode: IOCB_CMD_POLL, ..cm(ctx.id, OP | WAIT) }, Ok(1), 0, vec![ev(&cbs[3], 0)])?;
    Ok(())
}

/// Selectors AND-combine.
fn cancel_match_selectors_and_combine() -> CaseResult {
    let env = Env::new()?;
    let ctx = env.ctx(32)?;
    let (a, b) = (env.a.r, env.b.r);
    // 0: poll A d1, 1: poll B d1, 2: delay(fd A) d1, 3: poll A d2, 4: delay(fd A) d2, 5: poll A d1
    let mut cbs = [env.poll(a, 1), env.poll(b, 1), env.delay(1), env.poll(a, 2), env.delay(2), env.poll(a, 1)];
    ctx.submit_all(&mut cbs)?;
    let k = |i: usize| ev(&cbs[i], if i == 2 || i == 4 { RES_ECANCELED } else { 0 });
    expect_cancel(&env, &ctx, "IOCB of a delay | OP POLL", kaio_cancel_match_args { key: addr(&cbs[2]), opcode: IOCB_CMD_POLL, ..cm(ctx.id, IOCB | OP) }, Err(ENOENT), 0, vec![])?;
    expect_cancel(&env, &ctx, "IOCB of poll B | FD A", kaio_cancel_match_args { key: addr(&cbs[1]), fd: a, ..cm(ctx.id, IOCB | FD) }, Err(ENOENT), 0, vec![])?;
    expect_cancel(&env, &ctx, "DATA 2 | FD B", kaio_cancel_match_args { key: 2, fd: b, ..cm(ctx.id, DATA | FD | ALL) }, Err(ENOENT), 0, vec![])?;
    expect_cancel(&env, &ctx, "DATA 2 | OP DELAY", kaio_cancel_match_args { key: 2, opcode: KAIO_CMD_DELAY, ..cm(ctx.id, DATA | OP | ALL) }, Ok(1), 0, vec![k(4)])?;
    expect_cancel(&env, &ctx, "FD A | OP POLL | ALL", kaio_cancel_match_args { fd: a, opcode: IOCB_CMD_POLL, ..cm(ctx.id, FD | OP | ALL) }, Ok(3), 0, vec![k(0), k(3), k(5)])?;
    expect_cancel(&env, &ctx, "IOCB of poll B | FD B | OP POLL", kaio_cancel_match_args { key: addr(&cbs[1]), fd: b, opcode: IOCB_CMD_POLL, ..cm(ctx.id, IOCB | FD | OP) }, Ok(1), 0, vec![k(1)])?;
    cleanup(&env, &ctx, "end", vec![k(2)])
}

/// Matches far apart in the index: many requests that share the walked key (data, iocb
/// address) but fail another selector lie before the match, so that a walk looks at more than
/// one batch of requests (the module lets go of ctx_lock between batches).
fn cancel_match_long_walks() -> CaseResult {
    let env = Env::new()?;
    let ctx = env.ctx(256)?;
    // 40 polls with data 3, a delay with data 3, 40 more polls, another delay.
    let mut cbs: Vec<Iocb> = Vec::with_capacity(82);
    for i in 0..82 {
        cbs.push(if i == 40 || i == 81 { env.delay(3) } else { env.poll(env.a.r, 3) });
    }
    for cb in cbs.iter_mut() {
        want_eq!("submit", ctx.submit1(cb), Ok(1));
    }
    let by = kaio_cancel_match_args { key: 3, opcode: KAIO_CMD_DELAY, ..cm(ctx.id, DATA | OP) };
    expect_cancel(&env, &ctx, "DATA 3|OP DELAY: past 40 polls", by, Ok(1), 0, vec![ev(&cbs[40], RES_ECANCELED)])?;
    expect_cancel(&env, &ctx, "DATA 3|OP DELAY|ALL: past 80 polls", kaio_cancel_match_args { flags: DATA | OP | ALL, ..by }, Ok(1), 0, vec![ev(&cbs[81], RES_ECANCELED)])?;
    expect_cancel(&env, &ctx, "DATA 3|OP DELAY again", by, Err(ENOENT), 0, vec![])?;
    expect_cancel(&env, &ctx, "DATA 3|FD B", kaio_cancel_match_args { key: 3, fd: env.b.r, ..cm(ctx.id, DATA | FD | ALL) }, Err(ENOENT), 0, vec![])?;
    // The oldest poll, then every other one with ALL|WAIT.
    expect_cancel(&env, &ctx, "FD A|DATA 3", kaio_cancel_match_args { key: 3, fd: env.a.r, ..cm(ctx.id, DATA | FD) }, Ok(1), 0, vec![ev(&cbs[0], 0)])?;
    let polls: Vec<IoEvent> = (1..81).filter(|&i| i != 40).map(|i| ev(&cbs[i], 0)).collect();
    expect_cancel(&env, &ctx, "OP POLL|ALL|WAIT", kaio_cancel_match_args { opcode: IOCB_CMD_POLL, ..cm(ctx.id, OP | ALL | WAIT) }, Ok(79), 0, polls)?;
    // One iocb address submitted 40 times as a delay, then as a poll.
    let mut same = env.delay(0);
    want_eq!("submit", ctx.submit1(&mut same), Ok(1));
    for i in 1..40 {
        same = env.delay(i);
        want_eq!("submit", ctx.submit1(&mut same), Ok(1));
    }
    same = env.poll(env.b.r, 99);
    want_eq!("submit", ctx.submit1(&mut same), Ok(1));
    let at = addr(&same);
    let poll_ev = IoEvent { data: 99, obj: at, res: 0, res2: 0 };
    expect_cancel(&env, &ctx, "IOCB|OP POLL: past 40 delays", kaio_cancel_match_args { key: at, opcode: IOCB_CMD_POLL, ..cm(ctx.id, IOCB | OP) }, Ok(1), 0, vec![poll_ev])?;
    let delays: Vec<IoEvent> = (0..40).map(|i| IoEvent { data: i, obj: at, res: RES_ECANCELED, res2: 0 }).collect();
    expect_cancel(&env, &ctx, "IOCB|ALL: the 40 delays", kaio_cancel_match_args { key: at, ..cm(ctx.id, IOCB | ALL) }, Ok(40), 0, delays)?;
    cleanup(&env, &ctx, "end", vec![])
}

/// An argument block that can be read but not written (`nr_running` cannot be written back):
/// the module finds out right after the lookup and fails with EFAULT before cancelling
/// anything, so no event can be lost, with RESULT or without: the requests are still in flight
/// afterwards and a writable block cancels them.
fn cancel_match_read_only_args_event_not_lost() -> CaseResult {
    let env = Env::new()?;
    let ctx = env.ctx(8)?;
    let ro = Map::new(4096)?;
    let put = |a: kaio_cancel_match_args| -> CaseResult {
        ro.protect(libc::PROT_READ | libc::PROT_WRITE)?;
        // SAFETY: writes the block into the page.
        unsafe { std::ptr::write(ro.ptr::<kaio_cancel_match_args>(0), a) };
        ro.protect(libc::PROT_READ)
    };
    let mut ds = [env.delay(1), env.delay(1)];
    ctx.submit_all(&mut ds)?;
    put(kaio_cancel_match_args { key: 1, ..cm(ctx.id, DATA | ALL) })?;
    let r = cancel_match_at(env.k.fd, ro.addr);
    want_eq!("read-only block, DATA|ALL matching 2 delays", r, Err(EFAULT));
    want_eq!("nothing cancelled: ring", now(&ctx)?, vec![]);
    want_eq!("nothing cancelled: eventfd", env.efd.take(), 0);
    let both = vec![ev(&ds[0], RES_ECANCELED), ev(&ds[1], RES_ECANCELED)];
    expect_cancel(&env, &ctx, "writable block, DATA|ALL", kaio_cancel_match_args { key: 1, ..cm(ctx.id, DATA | ALL) }, Ok(2), 0, both)?;
    // RESULT.
    let mut d = env.delay(2);
    want_eq!("submit", ctx.submit1(&mut d), Ok(1));
    let mut res = IoEvent::default();
    put(kaio_cancel_match_args { key: addr(&d), result: &mut res as *mut IoEvent as u64, ..cm(ctx.id, IOCB | RESULT) })?;
    let r = cancel_match_at(env.k.fd, ro.addr);
    want_eq!("read-only block, RESULT|IOCB on a pending delay", r, Err(EFAULT));
    want_eq!("*result untouched", res, IoEvent::default());
    want_eq!("nothing cancelled: ring", now(&ctx)?, vec![]);
    want_eq!("nothing cancelled: eventfd", env.efd.take(), 0);
    expect_cancel(&env, &ctx, "writable block, IOCB", kaio_cancel_match_args { key: addr(&d), ..cm(ctx.id, IOCB) }, Ok(1), 0, vec![ev(&d, RES_ECANCELED)])?;
    cleanup(&env, &ctx, "end", vec![])
}

// ---------------------------------------------------------------------------------------------
// Running requests: a PREAD of one byte from an empty blocking pipe blocks inside io_submit.

/// Submits `cb` (a PREAD on `bp`) from another thread, waits until it is in flight (matched as
/// running), runs `body` with a function that writes the byte the read waits for, then makes
/// sure the byte was written and returns body's result and the submit's.
fn with_running_read<R>(env: &Env, ctx: &Ctx, bp: &BlockingPipe, cb: &mut Iocb, body: impl FnOnce(&(dyn Fn() + Sync)) -> Result<R, String>) -> Result<(R, Ret), String> {
    let cbp = cb as *mut Iocb as usize;
    let released = AtomicBool::new(false);
    let release = || {
        if !released.swap(true, SeqCst) {
            bp.put();
        }
    };
    std::thread::scope(|s| {
        let t = spawn_bounded(s, move || ctx.submit(&[cbp as *mut Iocb]));
        let r = wait_running(env.k.fd, ctx.id, cbp as *const Iocb).and_then(|_| body(&release));
        release();
        let sub = t.join_within(PROMPT);
        let r = r?;
        Ok((r, sub?))
    })
}

/// A read that io_submit refuses (its iovec array unreadable: EFAULT from the import) is never
/// in flight: a cancel racing such submits for 2 s finds nothing, ENOENT every time (when the
/// read was listed before its checks, a cancel could find it running, EALREADY, and a WAIT
/// would wait for an event that never comes: `KAIO_BUG=rw_listed_before_checks`).
fn cancel_match_never_sees_refused_read() -> CaseResult {
    let env = Env::new()?;
    let ctx = env.ctx(64)?;
    let fd = env.a.r;
    let stop = AtomicBool::new(false);
    let (refused, (calls, wrong)) = std::thread::scope(|s| {
        let sub = s.spawn(|| {
            block_all_signals();
            let mut n = 0u64;
            while !stop.load(SeqCst) {
                let mut cb = Iocb { aio_buf: unmapped_addr(), aio_nbytes: 1, ..iocb(IOCB_CMD_PREADV, fd, 7) };
                match ctx.submit(&[&mut cb as *mut Iocb]) {
                    Err(e) if e == EFAULT => n += 1,
                    r => return Err(format!("submit {n}: {r:?}, expected EFAULT")),
                }
            }
            Ok(n)
        });
        let t0 = Instant::now();
        let (mut calls, mut wrong) = (0u64, None);
        while t0.elapsed() < std::time::Duration::from_secs(2) && wrong.is_none() {
            calls += 1;
            match env.call(kaio_cancel_match_args { fd, ..cm(ctx.id, FD | ALL) }) {
                Ok((r, 0)) if r == Err(ENOENT) => {}
                other => wrong = Some(format!("call {calls}: {other:?}")),
            }
        }
        stop.store(true, SeqCst);
        (sub.join().map_err(|_| "submitter panicked".to_string()), (calls, wrong))
    });
    let refused = refused??;
    eprintln!("# {refused} refused submits, {calls} cancels");
    want_eq!("a cancel that found something (ENOENT, nr_running 0 expected)", wrong, None::<String>);
    check!(refused > 0, "no submit was refused");
    Ok(())
}

fn cancel_match_running_ealready() -> CaseResult {
    let env = Env::new()?;
    let ctx = env.ctx(8)?;
    let bp = BlockingPipe::new()?;
    let mut buf = [0u8; 1];
    let mut cb = resfd(&env.efd, pread_iocb(bp.r, &mut buf, 0x51));
    let key = addr(&cb);
    let (_, sub) = with_running_read(&env, &ctx, &bp, &mut cb, |_| {
        for (what, a) in [
            ("IOCB", kaio_cancel_match_args { key, ..cm(ctx.id, IOCB) }),
            ("DATA", kaio_cancel_match_args { key: 0x51, ..cm(ctx.id, DATA) }),
            ("FD", kaio_cancel_match_args { fd: bp.r, ..cm(ctx.id, FD) }),
            ("OP PREAD", kaio_cancel_match_args { opcode: IOCB_CMD_PREAD, ..cm(ctx.id, OP) }),
            ("ANY", cm(ctx.id, ANY)),
            ("IOCB|ALL", kaio_cancel_match_args { key, ..cm(ctx.id, IOCB | ALL) }),
            ("FD|OP|DATA|ALL", kaio_cancel_match_args { fd: bp.r, opcode: IOCB_CMD_PREAD, key: 0x51, ..cm(ctx.id, FD | OP | DATA | ALL) }),
        ] {
            expect_cancel(&env, &ctx, &format!("running read by {what}"), a, Err(EALREADY), 1, vec![])?;
        }
        expect_cancel(&env, &ctx, "running read, OP POLL", kaio_cancel_match_args { opcode: IOCB_CMD_POLL, ..cm(ctx.id, OP) }, Err(ENOENT), 0, vec![])?;
        expect_cancel(&env, &ctx, "running read, FD of the write end", kaio_cancel_match_args { fd: bp.w, ..cm(ctx.id, FD) }, Err(ENOENT), 0, vec![])?;
        // KAIO_IOC_CANCEL: not cancellable, as in Linux.
        want_eq!("KAIO_IOC_CANCEL of the running read", ctx.cancel(key as *mut Iocb), Err(EINVAL));
        want_eq!("nothing posted", (now(&ctx)?, env.efd.take()), (vec![], 0));
        Ok(())
    })?;
    want_eq!("the blocked submit", sub, Ok(1));
    let got = ctx.wait_events(1, PROMPT)?;
    want_eq!("the read's own event", got, vec![ev(&cb, 1)]);
    want_eq!("the byte read", buf[0], b'r');
    want_eq!("eventfd", env.efd.wait_for(1, PROMPT), 1);
    expect_cancel(&env, &ctx, "after completion", kaio_cancel_match_args { key, ..cm(ctx.id, IOCB) }, Err(ENOENT), 0, vec![])
}

/// A running read submitted from iocb address X, then a poll from the same address: io_cancel
/// (which only knows cancellable requests, as Linux's active_reqs) cancels the poll;
/// CANCEL_MATCH by IOCB considers the oldest match, the read: EALREADY.
fn cancel_match_running_and_poll_same_iocb_address() -> CaseResult {
    let env = Env::new()?;
    let ctx = env.ctx(8)?;
    let bp = BlockingPipe::new()?;
    let mut buf = [0u8; 1];
    let mut cb = resfd(&env.efd, pread_iocb(bp.r, &mut buf, 0xe0));
    let cbp = &mut cb as *mut Iocb;
    let key = cbp as u64;
    let ((), sub) = with_running_read(&env, &ctx, &bp, &mut cb, |_| {
        // SAFETY: the iocb memory is ours; the kernel copied the read's iocb at submit.
        unsafe { *cbp = env.poll(env.a.r, 0xe1) };
        want_eq!("submit a poll from the same address", ctx.submit(&[cbp]), Ok(1));
        let by = kaio_cancel_match_args { key, ..cm(ctx.id, IOCB) };
        expect_cancel(&env, &ctx, "IOCB: the oldest is the read", by, Err(EALREADY), 1, vec![])?;
        let poll_ev = IoEvent { data: 0xe1, obj: key, res: 0, res2: 0 };
        expect_cancel(&env, &ctx, "IOCB|ALL", kaio_cancel_match_args { flags: IOCB | ALL, ..by }, Ok(1), 1, vec![poll_ev])?;
        // SAFETY: as above.
        unsafe { *cbp = env.poll(env.a.r, 0xe2) };
        want_eq!("submit another poll from the same address", ctx.submit(&[cbp]), Ok(1));
        want_eq!("KAIO_IOC_CANCEL: the poll", ctx.cancel(cbp), Err(EINPROGRESS));
        want_eq!("its event at once", (now(&ctx)?, env.efd.take()), (vec![IoEvent { data: 0xe2, obj: key, res: 0, res2: 0 }], 1));
        want_eq!("KAIO_IOC_CANCEL again", ctx.cancel(cbp), Err(EINVAL));
        Ok(())
    })?;
    want_eq!("the blocked submit", sub, Ok(1));
    want_eq!("the read's event", ctx.wait_events(1, PROMPT)?, vec![IoEvent { data: 0xe0, obj: key, res: 1, res2: 0 }]);
    want_eq!("eventfd", env.efd.wait_for(1, PROMPT), 1);
    Ok(())
}

/// A running read and polls on the same pipe: FD without ALL considers the oldest only; FD|ALL
/// cancels the polls and counts the read in nr_running.
fn cancel_match_running_and_polls_same_file() -> CaseResult {
    let env = Env::new()?;
    let ctx = env.ctx(16)?;
    let bp = BlockingPipe::new()?;
    let mut buf = [0u8; 1];
    // Polls first, then the read, then more polls.
    let mut before = [env.poll(bp.r, 1), env.poll(bp.r, 2)];
    ctx.submit_all(&mut before)?;
    let mut cb = resfd(&env.efd, pread_iocb(bp.r, &mut buf, 0x60));
    let mut after = [env.poll(bp.r, 3), env.poll(bp.r, 4)];
    let fdsel = kaio_cancel_match_args { fd: bp.r, ..cm(ctx.id, FD) };
    let ((), sub) = with_running_read(&env, &ctx, &bp, &mut cb, |_| {
        ctx.submit_all(&mut after)?;
        expect_cancel(&env, &ctx, "FD: the oldest, a poll", fdsel, Ok(1), 0, vec![ev(&before[0], 0)])?;
        expect_cancel(&env, &ctx, "FD|ALL", kaio_cancel_match_args { flags: FD | ALL, ..fdsel }, Ok(3), 1, vec![ev(&before[1], 0), ev(&after[0], 0), ev(&after[1], 0)])?;
        expect_cancel(&env, &ctx, "FD: the oldest is the read now", fdsel, Err(EALREADY), 1, vec![])?;
        // Read first, polls after: FD without ALL stops at the read.
        let mut more = [env.poll(bp.r, 5), env.poll(bp.r, 6)];
        ctx.submit_all(&mut more)?;
        expect_cancel(&env, &ctx, "FD, read oldest, polls after", fdsel, Err(EALREADY), 1, vec![])?;
        expect_cancel(&env, &ctx, "OP POLL: the oldest poll", kaio_cancel_match_args { opcode: IOCB_CMD_POLL, ..cm(ctx.id, OP) }, Ok(1), 0, vec![ev(&more[0], 0)])?;
        expect_cancel(&env, &ctx, "ANY", cm(ctx.id, ANY), Ok(1), 1, vec![ev(&more[1], 0)])?;
        expect_cancel(&env, &ctx, "ANY again", cm(ctx.id, ANY), Err(EALREADY), 1, vec![])?;
        Ok(())
    })?;
    want_eq!("the blocked submit", sub, Ok(1));
    want_eq!("the read's event", ctx.wait_events(1, PROMPT)?, vec![ev(&cb, 1)]);
    want_eq!("eventfd", env.efd.wait_for(1, PROMPT), 1);
    cleanup(&env, &ctx, "end", vec![])
}

fn cancel_match_wait_timeout_etime() -> CaseResult {
    let env = Env::new()?;
    let ctx = env.ctx(16)?;
    let bp = BlockingPipe::new()?;
    let mut buf = [0u8; 1];
    let mut cb = resfd(&env.efd, pread_iocb(bp.r, &mut buf, 0x70));
    let key = addr(&cb);
    let t100 = ts(0, 100_000_000);
    let z = ts(0, 0);
    let ((), sub) = with_running_read(&env, &ctx, &bp, &mut cb, |_| {
        let start = Instant::now();
        expect_cancel(&env, &ctx, "WAIT 100 ms on the running read", kaio_cancel_match_args { key, timeout: &t100 as *const _ as u64, ..cm(ctx.id, IOCB | WAIT) }, Err(ETIME), 1, vec![])?;
        let took = start.elapsed();
        check!(took >= ms(99) && took < PROMPT, "WAIT with 100 ms returned ETIME after {took:?}");
        expect_cancel(&env, &ctx, "WAIT {0,0}", kaio_cancel_match_args { key, timeout: &z as *const _ as u64, ..cm(ctx.id, IOCB | WAIT) }, Err(ETIME), 1, vec![])?;
        // The cancellations made stay made.
        let mut polls = [env.poll(bp.r, 1), env.poll(bp.r, 2)];
        ctx.submit_all(&mut polls)?;
        let mut d = env.delay(3);
        want_eq!("submit delay", ctx.submit1(&mut d), Ok(1));
        let start = Instant::now();
        expect_cancel(
            &env,
            &ctx,
            "FD|ALL|WAIT 100 ms, polls and the read",
            kaio_cancel_match_args { fd: bp.r, timeout: &t100 as *const _ as u64, ..cm(ctx.id, FD | ALL | WAIT) },
            Err(ETIME),
            1,
            vec![ev(&polls[0], 0), ev(&polls[1], 0)],
        )?;
        check!(start.elapsed() >= ms(99), "returned after {:?}", start.elapsed());
        let start = Instant::now();
        expect_cancel(&env, &ctx, "ANY|WAIT 100 ms", kaio_cancel_match_args { timeout: &t100 as *const _ as u64, ..cm(ctx.id, ANY | WAIT) }, Err(ETIME), 1, vec![ev(&d, RES_ECANCELED)])?;
        check!(start.elapsed() >= ms(99), "returned after {:?}", start.elapsed());
        Ok(())
    })?;
    want_eq!("the blocked submit", sub, Ok(1));
    want_eq!("the read's event", ctx.wait_events(1, PROMPT)?, vec![ev(&cb, 1)]);
    want_eq!("eventfd", env.efd.wait_for(1, PROMPT), 1);
    // Nothing running now: WAIT with a timeout returns at once.
    expect_cancel(&env, &ctx, "WAIT, nothing in flight", kaio_cancel_match_args { key, timeout: &t100 as *const _ as u64, ..cm(ctx.id, IOCB | WAIT) }, Err(ENOENT), 0, vec![])
}

/// WAIT without a timeout returns once the running read has posted its event (EALREADY, or the
/// number cancelled when polls matched too); the event is in the ring when it returns.
fn cancel_match_wait_until_running_completes() -> CaseResult {
    let env = Env::new()?;
    let ctx = env.ctx(16)?;
    for with_polls in [false, true] {
        let bp = BlockingPipe::new()?;
        let mut buf = [0u8; 1];
        let mut cb = resfd(&env.efd, pread_iocb(bp.r, &mut buf, 0x80));
        let key = addr(&cb);
        let mut polls = [env.poll(bp.r, 1), env.poll(bp.r, 2)];
        let what = if with_polls { "FD|ALL|WAIT, polls and the read" } else { "IOCB|WAIT, the read" };
        let (got, sub) = with_running_read(&env, &ctx, &bp, &mut cb, |release| {
            if with_polls {
                ctx.submit_all(&mut polls)?;
            }
            let a = if with_polls { kaio_cancel_match_args { fd: bp.r, ..cm(ctx.id, FD | ALL | WAIT) } } else { kaio_cancel_match_args { key, ..cm(ctx.id, IOCB | WAIT) } };
            std::thread::scope(|s| {
                let w = spawn_bounded(s, || {
                    let r = cmatch(env.k.fd, a);
                    (r, ring_unread(ctx.id))
                });
                std::thread::sleep(ms(100));
                let early = w.finished();
                release();
                let r = w.join_within(PROMPT);
                Ok((early, r?))
            })
        })?;
        let (early, (r, ring)) = got;
        want_eq!(format!("{what}: returned before the write"), early, false);
        let (r, nr) = r?;
        let want = if with_polls { Ok(2) } else { Err(EALREADY) };
        want_eq!(format!("{what}: result"), (r, nr), (want, 1));
        check!(ring.contains(&ev(&cb, 1)), "{what}: the read's event was not in the ring when WAIT returned: {ring:?}");
        want_eq!(format!("{what}: the blocked submit"), sub, Ok(1));
        let mut want_ev = vec![ev(&cb, 1)];
        if with_polls {
            want_ev.extend([ev(&polls[0], 0), ev(&polls[1], 0)]);
        }
        want_eq!(format!("{what}: events"), sorted(now(&ctx)?), sorted(want_ev.clone()));
        want_eq!(format!("{what}: eventfd"), env.efd.take(), want_ev.len() as u64);
    }
    Ok(())
}

/// A signal to the thread sleeping in WAIT: EINTR, nr_running 1.
fn cancel_match_wait_eintr() -> CaseResult {
    let env = Env::new()?;
    let ctx = env.ctx(16)?;
    let bp = BlockingPipe::new()?;
    let mut buf = [0u8; 1];
    let mut cb = resfd(&env.efd, pread_iocb(bp.r, &mut buf, 0x90));
    let mut d = env.delay(5);
    want_eq!("submit delay", ctx.submit1(&mut d), Ok(1));
    let ((early, r, took), sub) = with_running_read(&env, &ctx, &bp, &mut cb, |_| {
        let tid = Tid::new();
        std::thread::scope(|s| {
            let w = spawn_bounded(s, || {
                tid.publish();
                let start = Instant::now();
                let r = cmatch(env.k.fd, cm(ctx.id, ANY | WAIT));
                (r, start.elapsed())
            });
            let id = tid.get();
            std::thread::sleep(ms(100));
            let early = w.finished();
            tgkill(id, libc::SIGUSR1);
            let (r, took) = w.join_within(PROMPT)?;
            Ok((early, r, took))
        })
    })?;
    want_eq!("returned before the signal", early, false);
    want_eq!("ANY|WAIT interrupted", r?, (Err(EINTR), 1));
    check!(took < PROMPT, "took {took:?}");
    want_eq!("the blocked submit", sub, Ok(1));
    // The delay was cancelled by the interrupted call, the read completed.
    want_eq!("events", sorted(ctx.wait_events(2, PROMPT)?), sorted(vec![ev(&d, RES_ECANCELED), ev(&cb, 1)]));
    want_eq!("eventfd", env.efd.wait_for(2, PROMPT), 2);
    Ok(())
}

/// The context destroyed while a WAIT sleeps on a running read: destroy blocks until the read
/// completes (as in Linux), a fourth thread writes the byte later, every thread returns.
fn cancel_match_wait_vs_destroy() -> CaseResult {
    let env = Env::new()?;
    let ctx = env.ctx(16)?;
    let bp = BlockingPipe::new()?;
    let mut buf = [0u8; 1];
    let mut cb = resfd(&env.efd, pread_iocb(bp.r, &mut buf, 0xa0));
    let key = addr(&cb);
    let calling = AtomicBool::new(false);
    let ((early, wait, destroy), sub) = with_running_read(&env, &ctx, &bp, &mut cb, |release| {
        std::thread::scope(|s| {
            let w = spawn_bounded(s, || cmatch(env.k.fd, kaio_cancel_match_args { key, ..cm(ctx.id, IOCB | WAIT) }));
            std::thread::sleep(ms(50));
            let dt = spawn_bounded(s, || {
                calling.store(true, SeqCst);
                ctx.destroy()
            });
            let deadline = Instant::now() + PROMPT;
            while !calling.load(SeqCst) && Instant::now() < deadline {
                std::thread::sleep(ms(1));
            }
            std::thread::sleep(ms(150));
            let early = (w.finished(), dt.finished());
            let writer = s.spawn(|| {
                block_all_signals();
                release();
            });
            let _ = writer.join();
            let wait = w.join_within(PROMPT);
            let destroy = dt.join_within(PROMPT);
            Ok((early, wait, destroy))
        })
    })?;
    want_eq!("WAIT, destroy returned before the write", early, (false, false));
    want_eq!("destroy", destroy?, Ok(0));
    want_eq!("the blocked submit", sub, Ok(1));
    let (r, nr) = wait??;
    eprintln!("# cancel_match_wait_vs_destroy: WAIT returned {r:?}, nr_running {nr}");
    check!(r == Err(EALREADY) && nr == 1 || r == Err(EINVAL), "WAIT across destroy: {r:?}, nr_running {nr} (expected EALREADY with nr_running 1, or EINVAL)");
    want_eq!("the read's eventfd", env.efd.wait_for(1, PROMPT), 1);
    want_eq!("the byte read", buf[0], b'r');
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// RESULT

fn cancel_match_result_delay() -> CaseResult {
    let env = Env::new()?;
    let ctx = env.ctx(8)?;
    let mut d = env.delay(0x77);
    want_eq!("submit", ctx.submit1(&mut d), Ok(1));
    let tail = ctx.hdr().tail;
    let mut res = IoEvent { data: 1, obj: 2, res: 3, res2: 4 };
    let a = kaio_cancel_match_args { key: addr(&d), result: &mut res as *mut IoEvent as u64, ..cm(ctx.id, IOCB | RESULT) };
    let (r, nr) = env.call(a)?;
    want_eq!("RESULT|IOCB", (r, nr), (Ok(0), 0));
    want_eq!("*result", res, IoEvent { data: 0x77, obj: addr(&d), res: RES_ECANCELED, res2: 0 });
    want_eq!("ring tail unchanged", ctx.hdr().tail, tail);
    want_eq!("getevents {0,0}", now(&ctx)?, vec![]);
    want_eq!("eventfd", env.efd.take(), 0);
    ctx.no_events(ms(30))?;
    want_eq!("eventfd later", env.efd.take(), 0);
    res = IoEvent::default();
    let (r, nr) = env.call(a)?;
    want_eq!("RESULT again: nothing matched", (r, nr), (Err(EINVAL), 0));
    want_eq!("*result untouched", res, IoEvent::default());
    want_eq!("KAIO_IOC_CANCEL", ctx.cancel(&mut d), Err(EINVAL));
    // By DATA: the oldest of three.
    let mut ds = [env.delay(5), env.delay(5), env.delay(5)];
    ctx.submit_all(&mut ds)?;
    for i in 0..3 {
        let (r, nr) = env.call(kaio_cancel_match_args { key: 5, result: &mut res as *mut IoEvent as u64, ..cm(ctx.id, DATA | RESULT) })?;
        want_eq!(format!("RESULT|DATA #{i}"), (r, nr), (Ok(0), 0));
        want_eq!(format!("*result #{i}"), res, ev(&ds[i], RES_ECANCELED));
    }
    want_eq!("nothing in the ring", (now(&ctx)?, env.efd.take(), ctx.hdr().tail), (vec![], 0, tail));
    Ok(())
}

fn cancel_match_result_poll_oldest() -> CaseResult {
    let env = Env::new()?;
    let ctx = env.ctx(8)?;
    let mut ps = [env.poll(env.a.r, 1), env.poll(env.a.r, 2), env.poll(env.b.r, 3)];
    ctx.submit_all(&mut ps)?;
    let mut res = IoEvent::default();
    for (what, a, i) in [
        ("FD A", kaio_cancel_match_args { fd: env.a.r, ..cm(ctx.id, FD | RESULT) }, 0),
        ("OP POLL", kaio_cancel_match_args { opcode: IOCB_CMD_POLL, ..cm(ctx.id, OP | RESULT) }, 1),
        ("FD B|OP|DATA", kaio_cancel_match_args { fd: env.b.r, opcode: IOCB_CMD_POLL, key: 3, ..cm(ctx.id, FD | OP | DATA | RESULT) }, 2),
    ] {
        let (r, nr) = env.call(kaio_cancel_match_args { result: &mut res as *mut IoEvent as u64, ..a })?;
        want_eq!(format!("RESULT|{what}"), (r, nr), (Ok(0), 0));
        want_eq!(format!("*result of {what}"), res, ev(&ps[i], 0));
        want_eq!(format!("{what}: nothing in the ring"), (now(&ctx)?, env.efd.take()), (vec![], 0));
    }
    // The pipe written afterwards: nothing (the polls are gone).
    env.a.put();
    env.b.put();
    ctx.no_events(ms(30))?;
    want_eq!("eventfd", env.efd.take(), 0);
    Ok(())
}

/// Submits DELAYs one at a time from cbs[0..] until EAGAIN; returns how many were accepted.
fn fill(ctx: &Ctx, env: &Env, cbs: &mut [Iocb], data0: u64) -> Result<usize, String> {
    for i in 0..cbs.len() {
        cbs[i] = env.delay(data0 + i as u64);
        match ctx.submit1(&mut cbs[i]) {
            Ok(1) => {}
            Err(e) if e == EAGAIN => return Ok(i),
            r => return Err(format!("submit #{i}: {r:?}")),
        }
    }
    Err(format!("{} submits accepted, no EAGAIN", cbs.len()))
}

/// A ring full of pending DELAYs (submit until EAGAIN) cancelled one by one with RESULT gives
/// every slot back: the context accepts a full load again. Cancelled without RESULT, the events
/// fill the ring and the slots come back only once they are reaped (as in Linux).
fn cancel_match_result_gives_slot_back() -> CaseResult {
    let _pin = Pin::here();
    let env = Env::new()?;
    let ctx = env.ctx(8)?;
    let mut cbs = vec![Iocb::default(); 1024];
    let m1 = fill(&ctx, &env, &mut cbs, 0)?;
    check!(m1 > 0, "no submit accepted");
    let mut res = IoEvent::default();
    for i in 0..m1 {
        let (r, nr) = env.call(kaio_cancel_match_args { key: addr(&cbs[i]), result: &mut res as *mut IoEvent as u64, ..cm(ctx.id, IOCB | RESULT) })?;
        want_eq!(format!("RESULT #{i}"), (r, nr), (Ok(0), 0));
        want_eq!(format!("*result #{i}"), res, ev(&cbs[i], RES_ECANCELED));
    }
    let h = ctx.hdr();
    want_eq!("ring head, tail", (h.head, h.tail), (0, 0));
    want_eq!("eventfd", env.efd.take(), 0);
    let m2 = fill(&ctx, &env, &mut cbs, 10_000)?;
    want_eq!("accepted after the RESULT cancels (first load)", m2, m1);
    expect_cancel(&env, &ctx, "ANY", cm(ctx.id, ANY), Ok(m2 as i64), 0, (0..m2).map(|i| ev(&cbs[i], RES_ECANCELED)).collect())?;
    // Those events were reaped by expect_cancel: a full load again.
    let m3 = fill(&ctx, &env, &mut cbs, 20_000)?;
    want_eq!("accepted after cancel + reap", m3, m1);
    let (r, nr) = env.call(cm(ctx.id, ANY))?;
    want_eq!("ANY, not reaped", (r, nr), (Ok(m3 as i64), 0));
    let mut one = env.delay(1);
    want_eq!("submit with a ring full of unreaped events", ctx.submit1(&mut one), Err(EAGAIN));
    let got = now(&ctx)?;
    want_eq!("events", sorted(got), sorted((0..m3).map(|i| ev(&cbs[i], RES_ECANCELED)).collect()));
    want_eq!("eventfd", env.efd.take(), m3 as u64);
    let m4 = fill(&ctx, &env, &mut cbs, 30_000)?;
    want_eq!("accepted after reaping", m4, m1);
    cleanup(&env, &ctx, "end", (0..m4).map(|i| ev(&cbs[i], RES_ECANCELED)).collect())
}

fn cancel_match_result_running_eagain() -> CaseResult {
    let env = Env::new()?;
    let ctx = env.ctx(8)?;
    let bp = BlockingPipe::new()?;
    let mut buf = [0u8; 1];
    let mut cb = resfd(&env.efd, pread_iocb(bp.r, &mut buf, 0xb0));
    let key = addr(&cb);
    let ((), sub) = with_running_read(&env, &ctx, &bp, &mut cb, |_| {
        let mut res = IoEvent { data: 9, obj: 9, res: 9, res2: 9 };
        for (what, a) in [
            ("IOCB", kaio_cancel_match_args { key, ..cm(ctx.id, IOCB | RESULT) }),
            ("FD", kaio_cancel_match_args { fd: bp.r, ..cm(ctx.id, FD | RESULT) }),
            ("OP", kaio_cancel_match_args { opcode: IOCB_CMD_PREAD, ..cm(ctx.id, OP | RESULT) }),
        ] {
            let (r, nr) = env.call(kaio_cancel_match_args { result: &mut res as *mut IoEvent as u64, ..a })?;
            want_eq!(format!("RESULT|{what} on the running read"), (r, nr), (Err(EAGAIN), 1));
            want_eq!("*result untouched", res, IoEvent { data: 9, obj: 9, res: 9, res2: 9 });
        }
        want_eq!("nothing posted", (now(&ctx)?, env.efd.take()), (vec![], 0));
        Ok(())
    })?;
    want_eq!("the blocked submit", sub, Ok(1));
    want_eq!("the read's event", ctx.wait_events(1, PROMPT)?, vec![ev(&cb, 1)]);
    want_eq!("eventfd", env.efd.wait_for(1, PROMPT), 1);
    Ok(())
}

fn cancel_match_result_nothing_einval() -> CaseResult {
    let env = Env::new()?;
    let ctx = env.ctx(8)?;
    let mut res = IoEvent { data: 9, obj: 9, res: 9, res2: 9 };
    let rp = &mut res as *mut IoEvent as u64;
    let full = Pipe::with_data()?;
    let mut done = env.poll(full.r, 1);
    want_eq!("submit ready poll", ctx.submit1(&mut done), Ok(1));
    wait_ring(ctx.id, 1, PROMPT)?;
    let mut d = env.delay(2);
    want_eq!("submit delay", ctx.submit1(&mut d), Ok(1));
    for (what, a) in [
        ("IOCB of nothing", kaio_cancel_match_args { key: 0x1000, ..cm(ctx.id, IOCB | RESULT) }),
        ("IOCB of a completed request", kaio_cancel_match_args { key: addr(&done), ..cm(ctx.id, IOCB | RESULT) }),
        ("DATA 3", kaio_cancel_match_args { key: 3, ..cm(ctx.id, DATA | RESULT) }),
        ("FD B", kaio_cancel_match_args { fd: env.b.r, ..cm(ctx.id, FD | RESULT) }),
        ("OP PREAD", kaio_cancel_match_args { opcode: IOCB_CMD_PREAD, ..cm(ctx.id, OP | RESULT) }),
        ("DATA 2 | OP POLL", kaio_cancel_match_args { key: 2, opcode: IOCB_CMD_POLL, ..cm(ctx.id, DATA | OP | RESULT) }),
    ] {
        let (r, nr) = env.call(kaio_cancel_match_args { result: rp, ..a })?;
        want_eq!(format!("RESULT|{what}"), (r, nr), (Err(EINVAL), 0));
        want_eq!("*result untouched", res, IoEvent { data: 9, obj: 9, res: 9, res2: 9 });
    }
    want_eq!("the completion still unread", ring_unread(ctx.id), vec![ev(&done, POLLIN as i64)]);
    want_eq!("eventfd: the completion only", env.efd.take(), 1);
    let _ = now(&ctx)?;
    cleanup(&env, &ctx, "end", vec![ev(&d, RES_ECANCELED)])
}

/// RESULT with a result that cannot be written: EFAULT, and the event goes to the ring (and the
/// eventfd) as usual: never lost, never twice.
fn cancel_match_result_unwritable_efault() -> CaseResult {
    let env = Env::new()?;
    let ctx = env.ctx(8)?;
    let ro = Map::new(4096)?;
    ro.protect(libc::PROT_READ)?;
    let page = Map::new(8192)?;
    munmap(page.addr + 4096, 4096)?;
    let straddle = page.addr + 4096 - 16;
    for (what, rp) in [
        ("read-only page", ro.addr),
        ("unmapped", unmapped_addr()),
        ("NULL", 0),
        ("straddling into an unmapped page", straddle),
        ("kernel address", crate::cases::setup::KERNEL_ADDR),
    ] {
        for is_poll in [false, true] {
            let mut cb = if is_poll { env.poll(env.a.r, 0xc1) } else { env.delay(0xc0) };
            want_eq!("submit", ctx.submit1(&mut cb), Ok(1));
            let a = kaio_cancel_match_args { key: addr(&cb), result: rp, ..cm(ctx.id, IOCB | RESULT) };
            expect_cancel(&env, &ctx, &format!("result {what}"), a, Err(EFAULT), 0, vec![ev(&cb, if is_poll { 0 } else { RES_ECANCELED })])?;
            expect_cancel(&env, &ctx, &format!("result {what}, again"), a, Err(EINVAL), 0, vec![])?;
            want_eq!("KAIO_IOC_CANCEL", ctx.cancel(&mut cb), Err(EINVAL));
        }
    }
    // SAFETY: reads the read-only page.
    let first = unsafe { std::ptr::read_volatile(ro.ptr::<IoEvent>(0)) };
    want_eq!("the read-only page unchanged", first, IoEvent::default());
    munmap(page.addr, 4096)?;
    std::mem::forget(page);
    ctx.no_events(ms(30))?;
    want_eq!("eventfd", env.efd.take(), 0);
    Ok(())
}

/// A single IOCB match without flags answers as KAIO_IOC_CANCEL on the same state: 1 where it
/// says EINPROGRESS, ENOENT where it says EINVAL, the same event.
fn cancel_match_same_answers_as_cancel() -> CaseResult {
    let env = Env::new()?;
    let ctx = env.ctx(8)?;
    let full = Pipe::with_data()?;
    for is_poll in [true, false] {
        let kind = if is_poll { "POLL" } else { "DELAY" };
        let mut cb = if is_poll { env.poll(env.a.r, 0xd0) } else { env.delay(0xd1) };
        let by_match = kaio_cancel_match_args { key: addr(&cb), ..cm(ctx.id, IOCB) };
        // Pending.
        want_eq!("submit", ctx.submit1(&mut cb), Ok(1));
        want_eq!(format!("{kind} pending: KAIO_IOC_CANCEL"), ctx.cancel(&mut cb), Err(EINPROGRESS));
        let e1 = now(&ctx)?;
        let c1 = env.efd.take();
        want_eq!("submit", ctx.submit1(&mut cb), Ok(1));
        let (r, nr) = env.call(by_match)?;
        want_eq!(format!("{kind} pending: CANCEL_MATCH"), (r, nr), (Ok(1), 0));
        let e2 = now(&ctx)?;
        let c2 = env.efd.take();
        want_eq!(format!("{kind}: the events"), (e1.clone(), c1), (e2, c2));
        want_eq!(format!("{kind}: the event"), e1, vec![ev(&cb, if is_poll { 0 } else { RES_ECANCELED })]);
        // Gone.
        want_eq!(format!("{kind} gone: KAIO_IOC_CANCEL"), ctx.cancel(&mut cb), Err(EINVAL));
        want_eq!(format!("{kind} gone: CANCEL_MATCH"), env.call(by_match)?, (Err(ENOENT), 0));
        // Completed, not reaped.
        cb = if is_poll { env.poll(full.r, 0xd2) } else { resfd(&env.efd, delay_iocb(env.a.r, 0, 0xd3)) };
        want_eq!("submit", ctx.submit1(&mut cb), Ok(1));
        wait_ring(ctx.id, 1, PROMPT)?;
        want_eq!(format!("{kind} completed: KAIO_IOC_CANCEL"), ctx.cancel(&mut cb), Err(EINVAL));
        want_eq!(format!("{kind} completed: CANCEL_MATCH"), env.call(by_match)?, (Err(ENOENT), 0));
        want_eq!("the completion", now(&ctx)?, vec![ev(&cb, if is_poll { POLLIN as i64 } else { 0 })]);
        want_eq!("eventfd", env.efd.wait_for(1, PROMPT), 1);
        // Never submitted (key 0).
        let mut never = env.delay(0xd4);
        want_eq!(format!("{kind} never submitted: KAIO_IOC_CANCEL"), ctx.cancel(&mut never), Err(EINVAL));
        want_eq!(format!("{kind} never submitted: CANCEL_MATCH"), env.call(kaio_cancel_match_args { key: addr(&never), ..cm(ctx.id, IOCB) })?, (Err(ENOENT), 0));
    }
    Ok(())
}

/// ALL while two threads submit DELAYs (half of 0-200 us, half of an hour) and the short ones
/// complete: every request gets exactly one event; the call's count equals the -ECANCELED
/// events it produced, all of them in the ring when it returns; every long request whose submit
/// returned before the call is cancelled by it, none submitted after it returned is. The first
/// half of the rounds cancels with ANY|ALL; the second with DATA 5|OP DELAY|ALL while 100 older
/// polls with data 5 lie first in the walked key (the walk lets go of ctx_lock between
/// batches while the submits go on).
fn cancel_match_all_vs_submits_and_completions() -> CaseResult {
    const THREADS: usize = 2;
    const PER: usize = 24;
    const ROUNDS: usize = 8;
    const POLLS: usize = 100;
    let env = Env::new()?;
    let ctx = env.ctx(512)?;
    let total = ROUNDS * THREADS * PER;
    let cbs: Vec<std::cell::UnsafeCell<Iocb>> = (0..total).map(|_| std::cell::UnsafeCell::new(Iocb::default())).collect();
    struct Cells<'a>(&'a [std::cell::UnsafeCell<Iocb>]);
    // SAFETY: each thread writes only its own iocbs; the kernel reads them.
    unsafe impl Sync for Cells<'_> {}
    let cells = Cells(&cbs);
    let first = cells.0[0].get() as u64;
    let index_of = |obj: u64| -> Option<usize> {
        let off = obj.wrapping_sub(first);
        (off % 64 == 0 && off / 64 < total as u64).then_some((off / 64) as usize)
    };
    // Per request: bit 0 long, bits 8-15 phase before the submit, bits 16-23 phase after, bit 31 accepted.
    let info: Vec<AtomicU64> = (0..total).map(|_| AtomicU64::new(0)).collect();
    let phase = AtomicU32::new(0);
    let submitted = AtomicUsize::new(0);
    let fd = env.a.r;
    let mut polls: Vec<Iocb> = Vec::new();
    let mut totals = [0usize; 3]; // cancelled by the call, by the cleanup, completed
    for round in 0..ROUNDS {
        let by_data = round >= ROUNDS / 2;
        if by_data && polls.is_empty() {
            polls = (0..POLLS).map(|_| env.poll(env.b.r, 5)).collect();
            ctx.submit_all(&mut polls)?;
        }
        let sel = if by_data { kaio_cancel_match_args { key: 5, opcode: KAIO_CMD_DELAY, ..cm(ctx.id, DATA | OP | ALL) } } else { cm(ctx.id, ANY | ALL) };
        phase.store(0, SeqCst);
        submitted.store(0, SeqCst);
        let base = round * THREADS * PER;
        let (r, at_return) = std::thread::scope(|s| {
            for t in 0..THREADS {
                let (cells, info, phase, submitted, ctx) = (&cells, &info, &phase, &submitted, &ctx);
                s.spawn(move || {
                    block_all_signals();
                    let mut rng = Rng(0x1000 + (round * THREADS + t) as u64);
                    for j in 0..PER {
                        let i = base + t * PER + j;
                        let long = rng.below(2) == 0;
                        let ns = if long { LONG_NS } else { rng.below(200_000) as i64 };
                        let p = cells.0[i].get();
                        // SAFETY: this thread's own iocb, not in flight.
                        unsafe { *p = delay_iocb(fd, ns, if by_data { 5 } else { i as u64 }) };
                        let before = phase.load(SeqCst);
                        let ok = ctx.submit(&[p]) == Ok(1);
                        let after = phase.load(SeqCst);
                        info[i].store(u64::from(long) | (before as u64) << 8 | (after as u64) << 16 | u64::from(ok) << 31, SeqCst);
                        submitted.fetch_add(1, SeqCst);
                        spin_for(rng.below(20_000));
                    }
                });
            }
            let deadline = Instant::now() + PROMPT;
            while submitted.load(SeqCst) < THREADS * PER / 2 && Instant::now() < deadline {
                std::hint::spin_loop();
            }
            phase.store(1, SeqCst);
            let r = cmatch(env.k.fd, sel);
            phase.store(2, SeqCst);
            (r, now(&ctx))
        });
        // The submitters are done.
        let (r, nr) = r?;
        let at_return = at_return?;
        let n = match r {
            Ok(n) => n as usize,
            Err(e) if e == ENOENT => 0,
            other => return Err(format!("round {round}: {} = {other:?}", flag_names(sel.flags))),
        };
        want_eq!(format!("round {round}: nr_running"), nr, 0);
        let accepted: Vec<usize> = (base..base + THREADS * PER).filter(|&i| info[i].load(SeqCst) >> 31 & 1 == 1).collect();
        let is_long = |i: usize| info[i].load(SeqCst) & 1 == 1;
        let has_event = |evs: &[IoEvent], i: usize| evs.iter().any(|e| index_of(e.obj) == Some(i));
        // Wait for every short delay's event.
        let mut later: Vec<IoEvent> = Vec::new();
        let deadline = Instant::now() + PROMPT;
        loop {
            later.extend(now(&ctx)?);
            let missing = accepted.iter().filter(|&&i| !is_long(i)).any(|&i| !has_event(&at_return, i) && !has_event(&later, i));
            if !missing || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(ms(2));
        }
        let cancelled_by_call = at_return.iter().filter(|e| e.res == RES_ECANCELED).count();
        check!(
            cancelled_by_call == n,
            "round {round}: {} returned {n}, but {cancelled_by_call} -ECANCELED events were in the ring at its return ({} events then)",
            flag_names(sel.flags),
            at_return.len()
        );
        if let Some(e) = later.iter().find(|e| e.res != 0) {
            return Err(format!("round {round}: after the call, before any other cancel: event {e:?} (only completions expected)"));
        }
        let mut events = at_return.clone();
        events.extend(later.iter().copied());
        let left: Vec<usize> = accepted.iter().copied().filter(|&i| !has_event(&events, i)).collect();
        check!(left.iter().all(|&i| is_long(i)), "round {round}: a short delay has no event within {PROMPT:?}");
        let (r2, nr2) = env.call(sel)?;
        let want2 = if left.is_empty() { Err(ENOENT) } else { Ok(left.len() as i64) };
        want_eq!(format!("round {round}: cleanup"), (r2, nr2), (want2, 0));
        let clean = now(&ctx)?;
        check!(clean.iter().all(|e| e.res == RES_ECANCELED), "round {round}: cleanup events {clean:?}");
        want_eq!(format!("round {round}: cleanup events"), clean.len(), left.len());
        events.extend(clean.iter().copied());
        // Exactly one event per accepted request; nothing else.
        let mut per = std::collections::HashMap::new();
        for e in &events {
            let i = index_of(e.obj);
            let ok = i.is_some_and(|i| {
                let data = if by_data { 5 } else { i as u64 };
                (base..base + THREADS * PER).contains(&i) && info[i].load(SeqCst) >> 31 & 1 == 1 && e.data == data && e.res2 == 0
            });
            check!(ok, "round {round}: stray event {e:?}");
            *per.entry(i.unwrap()).or_insert(0) += 1;
        }
        check!(
            per.len() == accepted.len() && per.values().all(|&c| c == 1),
            "round {round}: {} accepted, {} with an event, {} with more than one",
            accepted.len(),
            per.len(),
            per.values().filter(|&&c| c != 1).count()
        );
        for &i in &accepted {
            let v = info[i].load(SeqCst);
            let (long, before, after) = (v & 1 == 1, v >> 8 & 0xff, v >> 16 & 0xff);
            let by_call = at_return.iter().any(|e| index_of(e.obj) == Some(i) && e.res == RES_ECANCELED);
            if long && after == 0 {
                check!(by_call, "round {round}: long delay {i} submitted before the call was not cancelled by it");
            }
            if before == 2 {
                check!(!by_call, "round {round}: delay {i} submitted after the call returned was cancelled by it");
            }
            if long {
                let e = events.iter().find(|e| index_of(e.obj) == Some(i)).unwrap();
                check!(e.res == RES_ECANCELED, "round {round}: long delay {i}: {e:?}");
            }
        }
        totals[0] += n;
        totals[1] += left.len();
        totals[2] += events.iter().filter(|e| e.res == 0).count();
    }
    expect_cancel(&env, &ctx, "the polls", cm(ctx.id, ANY), Ok(POLLS as i64), 0, polls.iter().map(|p| ev(p, 0)).collect())?;
    eprintln!("# cancel_match_all_vs_submits_and_completions: cancelled by the racing call {}, by the cleanup {}, completed {}", totals[0], totals[1], totals[2]);
    check!(totals[0] > 0, "the racing call never cancelled anything");
    Ok(())
}

/// Three ALL walks of one list at once (DATA 7), each letting go of ctx_lock every batch, so
/// that their cursors are parked side by side in the list, while a fourth thread submits more
/// requests into it: every request gets exactly one event; each delay submitted before the
/// walks is cancelled by one of them; the calls' counts add up to the events in the ring when
/// they are done; the polls with data 8 between them are left to the final ANY.
fn cancel_match_concurrent_walks() -> CaseResult {
    const WALKERS: usize = 3;
    const FIRST: usize = 240;
    const MORE: usize = 120;
    let env = Env::new()?;
    let ctx = env.ctx(512)?;
    for round in 0..4 {
        let mut first: Vec<Iocb> = (0..FIRST).map(|i| if i % 4 == 3 { env.poll(env.a.r, 8) } else { env.delay(7) }).collect();
        ctx.submit_all(&mut first)?;
        let mut more: Vec<Iocb> = (0..MORE).map(|_| env.delay(7)).collect();
        let sel = kaio_cancel_match_args { key: 7, ..cm(ctx.id, DATA | ALL) };
        let (calls, submitted) = std::thread::scope(|s| {
            let (env, ctx, more) = (&env, &ctx, &mut more);
            let walkers: Vec<_> = (0..WALKERS)
                .map(|_| {
                    s.spawn(move || {
                        block_all_signals();
                        cmatch(env.k.fd, sel)
                    })
                })
                .collect();
            let submitter = s.spawn(move || {
                block_all_signals();
                ctx.submit_all(more)
            });
            (walkers.into_iter().map(|h| h.join().unwrap_or(Err("walker panicked".into()))).collect::<Vec<_>>(), submitter.join())
        });
        match submitted {
            Ok(r) => r?,
            Err(_) => return Err("submitter panicked".into()),
        }
        let mut per_walk = Vec::new();
        for c in calls {
            match c? {
                (Ok(n), 0) => per_walk.push(n as usize),
                (Err(e), 0) if e == ENOENT => per_walk.push(0),
                other => return Err(format!("round {round}: DATA 7|ALL = {other:?}")),
            }
        }
        eprintln!("# cancel_match_concurrent_walks: round {round}: the walks cancelled {per_walk:?}");
        let cancelled: usize = per_walk.iter().sum();
        let by_walks = now(&ctx)?;
        want_eq!(format!("round {round}: events in the ring = the calls' count"), by_walks.len(), cancelled);
        want_eq!(format!("round {round}: eventfd = the calls' count"), env.efd.take(), cancelled as u64);
        let owner = |e: &IoEvent| first.iter().chain(more.iter()).position(|cb| addr(cb) == e.obj);
        let mut seen = vec![0u32; FIRST + MORE];
        for e in &by_walks {
            let i = owner(e);
            check!(i.is_some_and(|i| (i >= FIRST || i % 4 != 3) && e.data == 7 && e.res == RES_ECANCELED), "round {round}: stray event {e:?}");
            seen[i.unwrap_or(0)] += 1;
        }
        for i in (0..FIRST).filter(|i| i % 4 != 3) {
            check!(seen[i] == 1, "round {round}: delay {i}, submitted before the walks: {} events from them", seen[i]);
        }
        // The rest: the polls (res 0) and the later delays no walk took.
        let rest: Vec<IoEvent> = (0..FIRST + MORE)
            .filter(|&i| seen[i] == 0)
            .map(|i| if i < FIRST { ev(&first[i], 0) } else { ev(&more[i - FIRST], RES_ECANCELED) })
            .collect();
        check!(seen.iter().all(|&n| n <= 1), "round {round}: a request with two events");
        expect_cancel(&env, &ctx, &format!("round {round}: ANY|ALL, the rest"), cm(ctx.id, ANY | ALL), Ok(rest.len() as i64), 0, rest)?;
    }
    Ok(())
}

/// ANY (with or without WAIT) racing io_destroy on 16 pending requests: every request
/// completes exactly once (its eventfd), all before destroy returns; the cancel returns a count,
/// ENOENT (destroy swept first) or EINVAL (the context was gone at the lookup).
fn cancel_match_any_vs_destroy() -> CaseResult {
    const K: usize = 16;
    let env = Env::new()?;
    let mut rng = Rng(0x5eed);
    let mut outcomes = std::collections::BTreeMap::new();
    for round in 0..24 {
        let ctx = env.ctx(32)?;
        let mut cbs: Vec<Iocb> = (0..K).map(|i| if i % 2 == 0 { env.delay(i as u64) } else { env.poll(env.a.r, i as u64) }).collect();
        ctx.submit_all(&mut cbs)?;
        let flags = if round % 2 == 0 { ANY } else { ANY | WAIT };
        let bar = Spin::new(2);
        let (bar, env, ctx) = (&bar, &env, &ctx);
        let (c, d) = std::thread::scope(|s| {
            let head_start = rng.below(60_000);
            let c = s.spawn(move || {
                block_all_signals();
                bar.wait();
                spin_for(head_start);
                cmatch(env.k.fd, cm(ctx.id, flags))
            });
            bar.wait();
            spin_for(rng.below(60_000));
            let d = ctx.destroy();
            (c.join(), d)
        });
        want_eq!(format!("round {round}: destroy"), d, Ok(0));
        let count = env.efd.take();
        want_eq!(format!("round {round}: eventfd when destroy returned"), count, K as u64);
        let (r, nr) = c.map_err(|_| "cancel thread panicked".to_string())??;
        let ok = match r {
            Ok(n) => n >= 1 && n <= K as i64 && nr == 0,
            Err(e) => (e == ENOENT && nr == 0) || e == EINVAL,
        };
        check!(ok, "round {round}: {} racing destroy: {r:?}, nr_running {nr:#x}", flag_names(flags));
        *outcomes.entry(format!("{r:?}")).or_insert(0) += 1;
    }
    std::thread::sleep(ms(20));
    want_eq!("late eventfd signals", env.efd.take(), 0);
    eprintln!("# cancel_match_any_vs_destroy: {outcomes:?}");
    Ok(())
}

/// RESULT against expiry: delays of 0-50 us cancelled by IOCB|RESULT at about their expiry.
/// Each request ends exactly once: either the call returns 0 with the event (-ECANCELED) in
/// *result and nothing in the ring, or it says EINVAL and the timer's event (res 0) is in the
/// ring. Afterwards the context accepts as many requests as at the start (no slot lost or
/// given back twice).
fn cancel_match_result_vs_expiry() -> CaseResult {
    const K: usize = 4;
    let _pin = Pin::here();
    let env = Env::new()?;
    let ctx = env.ctx(8)?;
    let mut load = vec![Iocb::default(); 1024];
    let m1 = fill(&ctx, &env, &mut load, 0)?;
    let all: Vec<IoEvent> = (0..m1).map(|i| ev(&load[i], RES_ECANCELED)).collect();
    expect_cancel(&env, &ctx, "the first load", cm(ctx.id, ANY), Ok(m1 as i64), 0, all)?;
    let mut rng = Rng(0xabc);
    let mut won = 0;
    let mut cbs = [Iocb::default(); K];
    for round in 0..100u64 {
        for (i, cb) in cbs.iter_mut().enumerate() {
            *cb = resfd(&env.efd, delay_iocb(env.a.r, rng.below(50_000) as i64, round * K as u64 + i as u64));
        }
        ctx.submit_all(&mut cbs)?;
        let mut results = Vec::new();
        for cb in &cbs {
            spin_for(rng.below(3000));
            let mut res = IoEvent::default();
            let r = env.call(kaio_cancel_match_args { key: addr(cb), result: &mut res as *mut IoEvent as u64, ..cm(ctx.id, IOCB | RESULT) })?;
            results.push((r, res));
        }
        // The timers that won have all fired within a few ms.
        let deadline = Instant::now() + PROMPT;
        let lost = results.iter().filter(|(r, _)| r.0 != Ok(0)).count();
        let mut ring = Vec::new();
        while ring.len() < lost && Instant::now() < deadline {
            ring.extend(now(&ctx)?);
            std::thread::sleep(ms(1));
        }
        std::thread::sleep(ms(1));
        ring.extend(now(&ctx)?);
        for (i, cb) in cbs.iter().enumerate() {
            let (r, res) = results[i];
            let in_ring: Vec<IoEvent> = ring.iter().filter(|e| e.obj == addr(cb) && e.data == cb.aio_data).copied().collect();
            match r {
                (Ok(0), 0) => {
                    want_eq!(format!("round {round}, #{i}: *result"), res, ev(cb, RES_ECANCELED));
                    check!(in_ring.is_empty(), "round {round}, #{i}: RESULT returned 0 but the event is in the ring too: {in_ring:?}");
                    won += 1;
                }
                (Err(e), 0) if e == EINVAL => {
                    want_eq!(format!("round {round}, #{i}: *result untouched"), res, IoEvent::default());
                    want_eq!(format!("round {round}, #{i}: the timer's event"), in_ring, vec![ev(cb, 0)]);
                }
                other => return Err(format!("round {round}, #{i}: RESULT|IOCB = {other:?}")),
            }
        }
        want_eq!(format!("round {round}: events in the ring"), ring.len(), lost);
        want_eq!(format!("round {round}: eventfd"), env.efd.take(), lost as u64);
    }
    eprintln!("# cancel_match_result_vs_expiry: RESULT won {won} of {}", 100 * K);
    let m2 = fill(&ctx, &env, &mut load, 100_000)?;
    want_eq!("accepted after the races", m2, m1);
    cleanup(&env, &ctx, "end", (0..m2).map(|i| ev(&load[i], RES_ECANCELED)).collect())
}

/// RESULT against a write that makes the poll ready: per round K polls on K pipes, cancelled by
/// IOCB|RESULT while another thread writes to the pipes. Each poll ends exactly once: 0 with
/// its event (res 0, or the ready mask if the wake-up had already sampled it) in *result and
/// none in the ring, or EINVAL with the wake-up's event (POLLIN) in the ring.
fn cancel_match_result_vs_poll_wakeup() -> CaseResult {
    const K: usize = 4;
    const ROUNDS: usize = 60;
    let env = Env::new()?;
    let ctx = env.ctx(32)?;
    let pipes: Vec<Pipe> = (0..K).map(|_| Pipe::new()).collect::<Result<_, _>>()?;
    let bar = Spin::new(2);
    let stop = AtomicBool::new(false);
    let mut won = 0;
    let outcome: Result<(), String> = std::thread::scope(|s| {
        {
            let (bar, stop, pipes) = (&bar, &stop, &pipes);
            s.spawn(move || {
                block_all_signals();
                let mut rng = Rng(0x77);
                loop {
                    bar.wait();
                    if stop.load(SeqCst) {
                        return;
                    }
                    for p in pipes.iter() {
                        spin_for(rng.below(4000));
                        p.put();
                    }
                    bar.wait();
                }
            });
        }
        let mut rng = Rng(0x78);
        let mut res = Ok(());
        'rounds: for round in 0..ROUNDS {
            let mut cbs: Vec<Iocb> = (0..K).map(|i| env.poll(pipes[i].r, (round * K + i) as u64)).collect();
            if let Err(e) = ctx.submit_all(&mut cbs) {
                res = Err(e);
                break;
            }
            bar.wait();
            let mut results = Vec::new();
            for cb in &cbs {
                spin_for(rng.below(4000));
                let mut ev_out = IoEvent::default();
                let r = env.call(kaio_cancel_match_args { key: addr(cb), result: &mut ev_out as *mut IoEvent as u64, ..cm(ctx.id, IOCB | RESULT) });
                results.push((r, ev_out));
            }
            bar.wait();
            let lost = results.iter().filter(|(r, _)| !matches!(r, Ok((Ok(0), 0)))).count();
            let ring = match ctx.wait_events(lost, PROMPT) {
                Ok(v) => v,
                Err(e) => {
                    res = Err(format!("round {round}: {e}"));
                    break;
                }
            };
            for (i, cb) in cbs.iter().enumerate() {
                let in_ring: Vec<IoEvent> = ring.iter().filter(|e| e.obj == addr(cb) && e.data == cb.aio_data).copied().collect();
                let ready = |e: &IoEvent| e.res > 0 && e.res as u64 & POLLIN != 0 && e.res2 == 0;
                let ok = match &results[i] {
                    (Ok((Ok(0), 0)), e) => {
                        won += 1;
                        in_ring.is_empty() && e.data == cb.aio_data && e.obj == addr(cb) && e.res2 == 0 && (e.res == 0 || ready(e))
                    }
                    (Ok((Err(x), 0)), e) if *x == EINVAL => *e == IoEvent::default() && in_ring.len() == 1 && ready(&in_ring[0]),
                    _ => false,
                };
                if !ok {
                    res = Err(format!("round {round}, poll {i}: RESULT|IOCB = {:?}, ring {in_ring:?}", results[i]));
                    break 'rounds;
                }
            }
            // One eventfd signal per event in the ring, none for a RESULT delivery. A wake-up's
            // completion signals it from the worker, after its event (as Linux defers every
            // eventfd-backed poll completion): waited for. A signal too many shows in the next
            // round, or after the last.
            let signalled = env.efd.wait_for(lost as u64, PROMPT);
            if signalled != lost as u64 {
                res = Err(format!("round {round}: eventfd {signalled}, not the {lost} events in the ring"));
                break;
            }
            for p in &pipes {
                let mut b = [0u8; 8];
                // SAFETY: drains the non-blocking pipe into a local buffer.
                unsafe { libc::read(p.r, b.as_mut_ptr().cast(), 8) };
            }
        }
        stop.store(true, SeqCst);
        bar.wait();
        res
    });
    outcome?;
    ctx.no_events(ms(20))?;
    want_eq!("eventfd signals after the last round", env.efd.take(), 0);
    eprintln!("# cancel_match_result_vs_poll_wakeup: RESULT won {won} of {}", ROUNDS * K);
    Ok(())
}
