//! io_destroy and handle resolution (§3, §4, §13.2).

use crate::aio::*;
use crate::ktap::{Case, CaseResult};
use crate::util::*;
use crate::{check, expect_eq, want_eq};
use kaio::uapi::*;
use std::time::Instant;

pub fn cases() -> Vec<Case> {
    vec![
        Case::both("destroy_bad_ctx_einval", destroy_bad_ctx_einval),
        Case::both("destroy_twice_einval", destroy_twice_einval),
        Case::both("destroy_unmaps_ring", destroy_unmaps_ring),
        Case::both("destroy_pending_completes_before_return", destroy_pending_completes_before_return),
        Case::both("destroy_discards_unread_events", destroy_discards_unread_events),
        Case::both("destroy_thousands_in_flight", destroy_thousands_in_flight),
        Case::both("destroy_getevents_waiter_returns", destroy_getevents_waiter_returns),
        Case::both("destroy_waiter_gets_ready_event", destroy_waiter_gets_ready_event),
        Case::both("destroy_then_setup_again", destroy_then_setup_again),
        Case::kaio("destroy_last_reference_in_process_context", destroy_last_reference_in_process_context),
    ]
}

/// Handles that name no context of the caller.
pub fn bad_handles(real: &Ctx) -> Vec<(&'static str, u64)> {
    // A readable word holding 0 = a valid table index, at an address that is not a ring.
    let fake = Box::leak(Box::new([0u64; 8]));
    vec![
        ("0", 0),
        ("1", 1),
        ("unmapped", unmapped_addr()),
        ("kernel address", crate::cases::setup::KERNEL_ADDR),
        ("readable word 0 (not a ring)", fake.as_ptr() as u64),
        ("handle + 32", real.id + 32),
        ("handle + 4096", real.id + 4096),
        ("handle - 4096", real.id - 4096),
    ]
}

fn destroy_bad_ctx_einval(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let base = read_u64(b.nr_path())?;
    let real = Ctx::new(b, 128)?; // three pages: handle + 4096 is inside the ring
    expect_eq!(o, "ring id", real.hdr().id, 0);
    for (what, h) in bad_handles(&real) {
        expect_eq!(o, format!("io_destroy({what})"), b.destroy(h), Err(EINVAL));
    }
    expect_eq!(o, "real ctx still alive: nr", read_u64(b.nr_path())? - base, 128);
    expect_eq!(o, "io_destroy(real)", real.destroy(), Ok(0));
    Ok(())
}

fn destroy_twice_einval(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let base = read_u64(b.nr_path())?;
    let ctx = Ctx::new(b, 10)?;
    expect_eq!(o, "first io_destroy", b.destroy(ctx.id), Ok(0));
    ctx.forget();
    expect_eq!(o, "nr back to baseline", read_u64(b.nr_path())?, base);
    expect_eq!(o, "second io_destroy", b.destroy(ctx.id), Err(EINVAL));
    Ok(())
}

fn destroy_unmaps_ring(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let ctx = Ctx::new(b, 200)?;
    let (pages, _) = ring_geometry(200);
    let m = mapping_at(ctx.id).map(|(a, e, _)| (a == ctx.id, e - a));
    expect_eq!(o, "mapped before", m, Some((true, pages * 4096)));
    expect_eq!(o, "io_destroy", ctx.destroy(), Ok(0));
    for p in 0..pages {
        let gone = mapping_at(ctx.id + p * 4096).is_none_or(|(_, _, perm)| perm != "rw-s");
        expect_eq!(o, format!("page {p} unmapped"), gone, true);
    }
    Ok(())
}

fn destroy_pending_completes_before_return(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 8)?;
    let mut cbs: Vec<Iocb> = (0..3)
        .map(|i| Iocb { aio_flags: IOCB_FLAG_RESFD, aio_resfd: fx.efd.0 as u32, ..fx.pending(b, i) })
        .collect();
    ctx.submit_all(&mut cbs)?;
    expect_eq!(o, "eventfd before", fx.efd.take(), 0);
    let t = Instant::now();
    expect_eq!(o, "io_destroy", ctx.destroy(), Ok(0));
    check!(t.elapsed() < PROMPT, "io_destroy took {:?}", t.elapsed());
    // Every cancelled request posted its event and signalled its eventfd before io_destroy
    // returned.
    expect_eq!(o, "eventfd right after io_destroy", fx.efd.take(), 3);
    std::thread::sleep(ms(50));
    expect_eq!(o, "eventfd later", fx.efd.take(), 0);
    expect_eq!(o, "ring unmapped", mapping_at(ctx.id).is_none_or(|(a, _, p)| a != ctx.id || p != "rw-s"), true);
    Ok(())
}

fn destroy_discards_unread_events(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 8)?;
    let mut cbs: Vec<Iocb> = (0..5).map(|i| fx.ready(b, i)).collect();
    ctx.submit_all(&mut cbs)?;
    wait_ring(ctx.id, 5, PROMPT)?;
    expect_eq!(o, "io_destroy with 5 unread events", ctx.destroy(), Ok(0));
    let again = Ctx::new(b, 8)?;
    expect_eq!(o, "fresh ctx has no events", again.getev(0, 8, Some(ts(0, 0))).map(|v| v.len()), Ok(0));
    Ok(())
}

fn destroy_thousands_in_flight(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    const N: usize = 3000;
    let fx = Fx::new()?;
    let base = read_u64(b.nr_path())?;
    let ctx = Ctx::new(b, 4096)?;
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let mut cbs: Vec<Iocb> = (0..N as u64)
        .map(|i| {
            let mut cb = fx.pending(b, i);
            if b.uses_delay() && i % 2 == 0 {
                // Half of the delays are short: some expire before, some during the teardown.
                cb.aio_offset = rng.below(200_000_000) as i64;
            }
            Iocb { aio_flags: IOCB_FLAG_RESFD, aio_resfd: fx.efd.0 as u32, ..cb }
        })
        .collect();
    ctx.submit_all(&mut cbs)?;
    std::thread::sleep(ms(20));
    let t = Instant::now();
    expect_eq!(o, "io_destroy", ctx.destroy(), Ok(0));
    let took = t.elapsed();
    // Every accepted request completed (event posted, eventfd signalled) before it returned.
    expect_eq!(o, "eventfd count right after io_destroy", fx.efd.take(), N as u64);
    check!(took < PROMPT, "io_destroy took {took:?}");
    expect_eq!(o, "nr back to baseline", read_u64(b.nr_path())?, base);
    std::thread::sleep(ms(250));
    expect_eq!(o, "no late completions", fx.efd.take(), 0);
    Ok(())
}

fn destroy_getevents_waiter_returns(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let ctx = Ctx::new(b, 4)?;
    let r = std::thread::scope(|s| {
        let w = spawn_bounded(s, || ctx.getev(1, 4, None).map(|v| v.len()));
        std::thread::sleep(ms(150));
        let blocked = !w.finished();
        let d = ctx.destroy();
        (blocked, d, w.join_within(PROMPT))
    });
    expect_eq!(o, "waiter was blocked", r.0, true);
    expect_eq!(o, "io_destroy", r.1, Ok(0));
    expect_eq!(o, "blocked io_getevents returns", r.2?, Err(EINVAL));
    Ok(())
}

fn destroy_waiter_gets_ready_event(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 8)?;
    let mut cb = fx.later(b, 77, ms(50));
    expect_eq!(o, "submit", ctx.submit1(&mut cb), Ok(1));
    let r = std::thread::scope(|s| {
        // min_nr 4: one completion does not wake it.
        let w = spawn_bounded(s, || ctx.getev(4, 8, None));
        let fire = fx.fire(b, ms(50));
        let posted = wait_tail(ctx.id, 1, PROMPT);
        std::thread::sleep(ms(100));
        let head = ctx.hdr().head;
        let blocked = !w.finished();
        let d = ctx.destroy();
        let got = w.join_within(PROMPT);
        if let Some(f) = fire {
            let _ = f.join();
        }
        (posted.map(|_| head), blocked, d, got)
    });
    // Linux wakes a waiter only when the ring holds what it still needs (§6 step 9), so the
    // event stays unconsumed in the ring while the waiter (min_nr 4) sleeps.
    expect_eq!(o, "ring head while the waiter needs 4 events (event not consumed yet)", r.0?, 0);
    expect_eq!(o, "waiter still blocked with 1 < min_nr events", r.1, true);
    expect_eq!(o, "io_destroy", r.2, Ok(0));
    let ev = r.3?;
    expect_eq!(o, "waiter returns the one event", ev.as_ref().map(|v| v.len()), Ok(1));
    let ev = ev.unwrap();
    want_eq!("event data/obj", (ev[0].data, ev[0].obj, ev[0].res2), (77, &cb as *const Iocb as u64, 0));
    check!(later_res_ok(b, ev[0].res), "event res {}", ev[0].res);
    Ok(())
}

fn destroy_then_setup_again(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    for round in 0..20 {
        let ctx = Ctx::new(b, 16)?;
        expect_eq!(o, format!("round {round}: ring id"), ctx.hdr().id, 0);
        let mut cb = fx.ready(b, round);
        expect_eq!(o, format!("round {round}: submit"), ctx.submit1(&mut cb), Ok(1));
        let ev = ctx.wait_events(1, PROMPT)?;
        check_event("event", &ev[0], round, &cb, ready_res(b))?;
        expect_eq!(o, format!("round {round}: destroy"), ctx.destroy(), Ok(0));
    }
    Ok(())
}

/// The context's last reference goes in process context. Its release (`reqs` drained) runs
/// where the last request or the percpu_ref's RCU callback lets go, often in an interrupt;
/// the killer, woken from there, drops its own reference at once on another CPU. Here a read
/// blocked in io_submit on CPU 0 holds the last `users` reference while io_destroy waits on
/// CPU 1; once a byte ends the read, that submit's return starts the `reqs` switch on CPU 0,
/// whose RCU callback (softirq, CPU 0) is the release. `race_delay_us` holds the release
/// after it woke the killer, so the killer's reference goes first. The context's drop warns
/// in an interrupt or with interrupts off (and `might_sleep()` in the debug guest): no kernel
/// warning may be logged during the case (the bug put back as `KAIO_BUG=ctx_freed_in_irq`:
/// the release itself drops the reference).
fn destroy_last_reference_in_process_context() -> CaseResult {
    use crate::v2::{pread_iocb, wait_running, BlockingPipe};
    let _delay = set_param("/sys/module/kaio/parameters/race_delay_us", 1000)?;
    // This thread's affinity comes back when the case ends.
    let _affinity = crate::v2::Pin::here();
    let mut log = KernelLog::mark()?;
    let k = Kaio::open()?;
    let fd = k.fd().ok_or("no /dev/kaio fd")?;
    for round in 0..4 {
        let ctx = Ctx::new(&k, 4)?;
        let bp = BlockingPipe::new()?;
        let mut buf = [0u8; 1];
        let mut cb = pread_iocb(bp.r, &mut buf, round);
        let cbp = &mut cb as *mut Iocb as usize;
        let (d, sub) = std::thread::scope(|s| {
            let sub = spawn_bounded(s, || {
                bind_to(0);
                ctx.submit(&[cbp as *mut Iocb])
            });
            bind_to(1);
            let running = wait_running(fd, ctx.id, cbp as *const Iocb);
            let writer = s.spawn(|| {
                std::thread::sleep(ms(500));
                bp.put();
            });
            let d = running.map(|_| ctx.destroy());
            let _ = writer.join();
            (d, sub.join_within(PROMPT))
        });
        want_eq!(format!("round {round}: io_destroy"), d?, Ok(0));
        want_eq!(format!("round {round}: the blocked submit"), sub?, Ok(1));
        want_eq!(format!("round {round}: the byte read"), buf[0], b'r');
    }
    // The last release (and its warning, if any) a moment after the last destroy returned.
    std::thread::sleep(ms(50));
    let warnings = log.since(|m| m.contains("WARNING:") || m.contains("BUG:"));
    want_eq!("kernel warnings during the case", warnings, Vec::<String>::new());
    Ok(())
}
