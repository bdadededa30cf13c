//! Races (§9.2, §12 I1/I6/I8, §13.7 T90-T92, T102, T24): exactly one event per accepted
//! request whatever races it, destroy waits for everything, destroy is once-only, each event
//! goes to exactly one reader.

use crate::aio::*;
use crate::ktap::{Case, CaseResult};
use crate::util::*;
use crate::{check, expect_eq};
use kaio::uapi::*;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;
use std::time::Instant;

pub fn cases() -> Vec<Case> {
    vec![
        Case::both("race_cancel_vs_completion", race_cancel_vs_completion),
        Case::both("race_cancel_vs_destroy", race_cancel_vs_destroy),
        Case::both("race_destroy_vs_submit", race_destroy_vs_submit),
        Case::both("race_destroy_concurrent_once", race_destroy_concurrent_once),
        Case::both("race_getevents_vs_destroy", race_getevents_vs_destroy),
        Case::both("race_readers_each_event_once", race_readers_each_event_once),
        Case::both("race_submit_from_many_threads", race_submit_from_many_threads),
    ]
}

/// Encodes a call result in an i64 for the shared result table (0 = not called).
fn enc(r: Ret) -> i64 {
    match r {
        Ok(v) => 1000 + v,
        Err(e) => -(e.0 as i64),
    }
}

fn dec(v: i64) -> String {
    if v >= 1000 {
        format!("Ok({})", v - 1000)
    } else if v < 0 {
        format!("Err({:?})", Errno(-v as i32))
    } else {
        "not called".into()
    }
}

/// T90 with two cancellers: per round K requests that complete by themselves at about the
/// moment two threads cancel each of them. Every request gets exactly one event; at most one
/// io_cancel per request returns EINPROGRESS, the others EINVAL; the event's res says who won.
fn race_cancel_vs_completion(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    const K: usize = 4;
    const ROUNDS: usize = 300;
    let ctx = Ctx::new(b, 64)?;
    let pipes: Vec<Pipe> = (0..K).map(|_| Pipe::new()).collect::<Result<_, _>>()?;
    let slots: Vec<Mutex<Iocb>> = (0..K).map(|_| Mutex::new(Iocb::default())).collect();
    let cbp: Vec<usize> = slots.iter().map(|m| &*m.lock().unwrap() as *const Iocb as usize).collect();
    let results: Vec<AtomicI64> = (0..2 * K).map(|_| AtomicI64::new(0)).collect();
    let bar = Spin::new(3);
    let stop = AtomicUsize::new(0);
    let mut stats = [0usize; 3]; // cancel won, completion won, cancel won but res = completion value
    let outcome: Result<(), String> = std::thread::scope(|s| {
        for t in 0..2usize {
            let (bar, stop, results, cbp, ctx) = (&bar, &stop, &results, &cbp, &ctx);
            s.spawn(move || {
                block_all_signals();
                let mut rng = Rng(0x1234 + t as u64);
                loop {
                    bar.wait();
                    if stop.load(SeqCst) != 0 {
                        return;
                    }
                    for j in 0..K {
                        let i = if t == 0 { j } else { K - 1 - j };
                        // Random head starts, so that either side wins some rounds.
                        let spread = if rng.below(2) == 0 { 300 } else { 6000 };
                        spin_for(rng.below(spread));
                        let r = ctx.cancel(cbp[i] as *mut Iocb);
                        results[t * K + i].store(enc(r), SeqCst);
                    }
                    bar.wait();
                }
            });
        }
        let mut rng = Rng(99);
        let mut res = Ok(());
        for round in 0..ROUNDS {
            for r in &results {
                r.store(0, SeqCst);
            }
            // kaio: delays on three scales, so that the timer wins some rounds and the
            // cancellers others.
            let scale = [60_000u64, 1_000_000, 15_000_000][round % 3];
            for i in 0..K {
                let data = (round * K + i) as u64;
                let cb = if b.uses_delay() {
                    delay_iocb(pipes[i].r, rng.below(scale) as i64, data)
                } else {
                    poll_iocb(pipes[i].r, POLLIN, data)
                };
                *slots[i].lock().unwrap() = cb;
            }
            let arr: Vec<*mut Iocb> = cbp.iter().map(|&p| p as *mut Iocb).collect();
            if let Err(e) = ctx.submit_all_ptrs(&arr) {
                res = Err(e);
                break;
            }
            bar.wait();
            if !b.uses_delay() {
                for (i, p) in pipes.iter().enumerate() {
                    spin_for(rng.below(300) + (i as u64) * 50);
                    p.put();
                }
            }
            bar.wait();
            let ev = match ctx.wait_events(K, PROMPT) {
                Ok(ev) => ev,
                Err(e) => {
                    res = Err(format!("round {round}: {e}"));
                    break;
                }
            };
            for e in &ev {
                let i = (e.data as usize).wrapping_sub(round * K);
                if i >= K || e.obj != cbp[i] as u64 || e.res2 != 0 {
                    res = Err(format!("round {round}: unexpected event {e:?} (a second event for an earlier request?)"));
                    break;
                }
            }
            if res.is_err() {
                break;
            }
            let mut seen = [false; K];
            for e in &ev {
                let i = e.data as usize - round * K;
                if seen[i] {
                    res = Err(format!("round {round}: two events for request {i}: {ev:?}"));
                    break;
                }
                seen[i] = true;
                let r0 = results[i].load(SeqCst);
                let r1 = results[K + i].load(SeqCst);
                let inprog = [r0, r1].iter().filter(|&&r| r == -(libc::EINPROGRESS as i64)).count();
                let einval = [r0, r1].iter().filter(|&&r| r == -(libc::EINVAL as i64)).count();
                let completed_ok = later_res_ok(b, e.res);
                let ok = match inprog {
                    0 => einval == 2 && completed_ok,
                    // Cancelled first: kaio -ECANCELED; a native POLL res 0, or rarely the mask
                    // its worker had already sampled (§9.2).
                    1 => einval == 1 && (e.res == cancel_res(b) || (!b.uses_delay() && completed_ok)),
                    _ => false,
                };
                if !ok {
                    res = Err(format!(
                        "round {round}, request {i}: io_cancel returned {} and {}, event res {}",
                        dec(r0),
                        dec(r1),
                        e.res
                    ));
                    break;
                }
                stats[if inprog == 0 { 1 } else if e.res == cancel_res(b) { 0 } else { 2 }] += 1;
            }
            if res.is_err() {
                break;
            }
            if !b.uses_delay() {
                let mut buf = [0u8; 8];
                for p in &pipes {
                    // SAFETY: drains the byte written this round.
                    unsafe { libc::read(p.r, buf.as_mut_ptr().cast(), 8) };
                }
            }
        }
        stop.store(1, SeqCst);
        bar.wait();
        res
    });
    outcome.map_err(|e| format!("{e} (so far: cancel won {}, completion won {}, cancel won late {})", stats[0], stats[1], stats[2]))?;
    ctx.no_events(ms(50))?;
    o.rec("every request exactly one event, consistent io_cancel results", true);
    eprintln!("# race_cancel_vs_completion {}: cancel won {}, completion won {}, cancel won late {}", b.name(), stats[0], stats[1], stats[2]);
    Ok(())
}

impl Ctx<'_> {
    fn submit_all_ptrs(&self, arr: &[*mut Iocb]) -> Result<(), String> {
        let mut done = 0;
        while done < arr.len() {
            match self.submit(&arr[done..]) {
                Ok(n) if n > 0 => done += n as usize,
                r => return Err(format!("{}: io_submit = {r:?} after {done}", self.b.name())),
            }
        }
        Ok(())
    }
}

/// Pending requests, one thread cancelling them while another destroys the context: exactly
/// one completion per request, all of them before io_destroy returns.
fn race_cancel_vs_destroy(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    const K: u64 = 16;
    let fx = Fx::new()?;
    let mut rng = Rng(5);
    for round in 0..50 {
        let ctx = Ctx::new(b, 32)?;
        let mut cbs: Vec<Iocb> = (0..K)
            .map(|i| Iocb { aio_flags: IOCB_FLAG_RESFD, aio_resfd: fx.efd.0 as u32, ..fx.pending(b, i) })
            .collect();
        ctx.submit_all(&mut cbs)?;
        let cbp: Vec<usize> = cbs.iter_mut().map(|c| c as *mut Iocb as usize).collect();
        let bar = Spin::new(2);
        let delay = rng.below(20_000);
        let (cancels, (d, count)) = std::thread::scope(|s| {
            let c = s.spawn(|| {
                block_all_signals();
                bar.wait();
                cbp.iter().map(|&p| ctx.cancel(p as *mut Iocb)).collect::<Vec<_>>()
            });
            bar.wait();
            spin_for(delay);
            let d = ctx.destroy();
            let count = fx.efd.take();
            (c.join().unwrap(), (d, count))
        });
        expect_eq!(o, format!("round {round}: destroy"), d, Ok(0));
        for (i, r) in cancels.iter().enumerate() {
            check!(*r == Err(EINPROGRESS) || *r == Err(EINVAL), "round {round}: io_cancel of request {i}: {r:?}");
        }
        check!(count == K, "round {round}: eventfd {count} when io_destroy returned, expected {K}");
    }
    std::thread::sleep(ms(50));
    expect_eq!(o, "no late completions", fx.efd.take(), 0);
    Ok(())
}

/// T91/T102: a thread submits (one call of 200, or one at a time) while another destroys.
/// The batch is accepted whole or refused with EINVAL (never partial); when io_destroy returns,
/// every accepted request has signalled its eventfd.
fn race_destroy_vs_submit(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    const BATCH: usize = 200;
    let fx = Fx::new()?;
    let mut rng = Rng(17);
    let mut seen = [0usize; 2];
    for round in 0..30 {
        let ctx = Ctx::new(b, 1000)?;
        let batch = round % 2 == 0;
        let bar = Spin::new(2);
        // Either side may start first.
        let delay = rng.below(if batch { 20_000 } else { 400_000 });
        let sub_delay = if batch { rng.below(20_000) } else { 0 };
        let accepted = AtomicU64::new(0);
        let (sub, d, count) = std::thread::scope(|s| {
            let a = s.spawn(|| {
                block_all_signals();
                let mut cbs: Vec<Iocb> = (0..BATCH as u64)
                    .map(|i| Iocb { aio_flags: IOCB_FLAG_RESFD, aio_resfd: fx.efd.0 as u32, ..fx.pending(b, i) })
                    .collect();
                let p = ptrs(&mut cbs);
                bar.wait();
                spin_for(sub_delay);
                let r = if batch {
                    let r = ctx.submit(&p);
                    if let Ok(n) = r {
                        accepted.store(n as u64, SeqCst);
                    }
                    r
                } else {
                    let mut r = Ok(0);
                    for &c in &p {
                        match ctx.submit(&[c]) {
                            Ok(1) => {
                                accepted.fetch_add(1, SeqCst);
                            }
                            e => {
                                r = e;
                                break;
                            }
                        }
                    }
                    r
                };
                (r, cbs)
            });
            bar.wait();
            spin_for(delay);
            let d = ctx.destroy();
            let count = fx.efd.take();
            let (r, cbs) = a.join().unwrap();
            drop(cbs);
            (r, d, count)
        });
        expect_eq!(o, format!("round {round}: destroy"), d, Ok(0));
        let acc = accepted.load(SeqCst);
        if batch {
            check!(sub == Ok(BATCH as i64) || sub == Err(EINVAL), "round {round}: batch submit returned {sub:?} (all or EINVAL)");
        } else {
            check!(sub == Err(EINVAL) || sub == Ok(0), "round {round}: one-by-one submit ended with {sub:?}, expected EINVAL");
        }
        check!(count == acc, "round {round}: eventfd {count} when io_destroy returned, {acc} accepted");
        seen[(acc > 0) as usize] += 1;
    }
    std::thread::sleep(ms(50));
    expect_eq!(o, "no late completions", fx.efd.take(), 0);
    eprintln!("# race_destroy_vs_submit {}: rounds with nothing accepted {}, with some {}", b.name(), seen[0], seen[1]);
    Ok(())
}

/// T24: two threads destroy the same context at once: exactly one gets 0.
fn race_destroy_concurrent_once(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    for round in 0..60 {
        let ctx = Ctx::new(b, 8)?;
        let mut cb = Iocb { aio_flags: IOCB_FLAG_RESFD, aio_resfd: fx.efd.0 as u32, ..fx.pending(b, 1) };
        check!(ctx.submit1(&mut cb) == Ok(1), "submit");
        let bar = Spin::new(2);
        let (r1, r2) = std::thread::scope(|s| {
            let t = s.spawn(|| {
                block_all_signals();
                bar.wait();
                b.destroy(ctx.id)
            });
            bar.wait();
            let r = b.destroy(ctx.id);
            (r, t.join().unwrap())
        });
        ctx.forget();
        let mut rs = [r1, r2];
        rs.sort_by_key(|r| r.is_err());
        expect_eq!(o, format!("round {round}: results"), rs, [Ok(0), Err(EINVAL)]);
        check!(fx.efd.take() == 1, "round {round}: the pending request was not completed exactly once");
    }
    Ok(())
}

/// T92: a waiter with a short timeout, a completion at a random moment and io_destroy at a
/// random moment: the waiter returns 1, 0 or EINVAL, never hangs; io_destroy returns 0.
fn race_getevents_vs_destroy(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let mut rng = Rng(3);
    let mut tally = [0usize; 3];
    for round in 0..80 {
        let fx = Fx::new()?;
        let ctx = Ctx::new(b, 8)?;
        let d_complete = ms(0) + std::time::Duration::from_micros(rng.below(2000));
        let d_destroy = std::time::Duration::from_micros(rng.below(3000));
        let tmo = ts(0, rng.below(2_000_000) as i64 + 1);
        let mut cb = fx.later(b, 42, d_complete);
        check!(ctx.submit1(&mut cb) == Ok(1), "submit");
        let fire = fx.fire(b, d_complete);
        let (w, d) = std::thread::scope(|s| {
            let w = spawn_bounded(s, || ctx.getev(1, 8, Some(tmo)));
            std::thread::sleep(d_destroy);
            let d = ctx.destroy();
            (w.join_within(PROMPT), d)
        });
        if let Some(f) = fire {
            let _ = f.join();
        }
        expect_eq!(o, format!("round {round}: destroy"), d, Ok(0));
        match w? {
            Ok(ev) if ev.is_empty() => tally[0] += 1,
            Ok(ev) if ev.len() == 1 && ev[0].data == 42 && ev[0].obj == &cb as *const Iocb as u64 => tally[1] += 1,
            Err(EINVAL) => tally[2] += 1,
            r => return Err(format!("round {round}: waiter returned {r:?}")),
        }
    }
    o.rec("every waiter returned 0, 1 or EINVAL", true);
    eprintln!("# race_getevents_vs_destroy {}: 0 x{}, 1 x{}, EINVAL x{}", b.name(), tally[0], tally[1], tally[2]);
    Ok(())
}

/// Four readers share one context while requests complete: each event to exactly one reader.
fn race_readers_each_event_once(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    const N: usize = 2000;
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 512)?;
    let total = AtomicUsize::new(0);
    let got: Mutex<Vec<u64>> = Mutex::new(Vec::new());
    let mut cbs: Vec<Iocb> = (0..N as u64).map(|i| fx.ready(b, i)).collect();
    let base = cbs.as_ptr() as u64;
    let start = Instant::now();
    let err: Result<(), String> = std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                block_all_signals();
                let mut mine = Vec::new();
                while total.load(SeqCst) < N && start.elapsed() < PROMPT {
                    if let Ok(ev) = ctx.getev(1, 16, Some(ts(0, 20_000_000))) {
                        total.fetch_add(ev.len(), SeqCst);
                        mine.extend(ev.iter().map(|e| (e.data, e.obj)));
                    }
                }
                let mut g = got.lock().unwrap();
                for (d, obj) in mine {
                    g.push(if obj == base + 64 * d { d } else { u64::MAX });
                }
            });
        }
        let p = ptrs(&mut cbs);
        let mut done = 0;
        while done < N {
            let end = (done + 50).min(N);
            match ctx.submit(&p[done..end]) {
                Ok(n) if n > 0 => done += n as usize,
                Err(EAGAIN) => std::thread::sleep(ms(1)),
                r => return Err(format!("submit at {done}: {r:?}")),
            }
            if start.elapsed() > PROMPT {
                return Err(format!("submitted only {done} in {PROMPT:?}"));
            }
        }
        Ok(())
    });
    err?;
    let mut g = got.into_inner().unwrap();
    g.sort();
    let dups = g.windows(2).filter(|w| w[0] == w[1]).count();
    check!(!g.contains(&u64::MAX), "an event with a wrong obj");
    expect_eq!(o, "events collected", g.len(), N);
    expect_eq!(o, "duplicates", dups, 0);
    expect_eq!(o, "every request", g == (0..N as u64).collect::<Vec<_>>(), true);
    Ok(())
}

/// Several threads submit on one context while the main thread reaps.
fn race_submit_from_many_threads(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    const T: usize = 4;
    const PER: usize = 250;
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, (T * PER + 100) as u32)?;
    let bar = Spin::new(T);
    let results: Vec<Ret> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..T)
            .map(|t| {
                let (bar, ctx, fx) = (&bar, &ctx, &fx);
                s.spawn(move || {
                    block_all_signals();
                    let mut cbs: Vec<Box<Iocb>> = (0..PER).map(|i| Box::new(fx.ready(b, (t * PER + i) as u64))).collect();
                    bar.wait();
                    let mut r = Ok(0);
                    for (i, c) in cbs.iter_mut().enumerate() {
                        r = if i % 10 == 0 { ctx.submit1(c) } else { ctx.submit(&[&mut **c as *mut Iocb]) };
                        if r != Ok(1) {
                            break;
                        }
                    }
                    std::mem::forget(cbs);
                    r
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (t, r) in results.iter().enumerate() {
        expect_eq!(o, format!("thread {t}: last submit"), *r, Ok(1));
    }
    let ev = ctx.wait_events(T * PER, PROMPT)?;
    let mut d: Vec<u64> = ev.iter().map(|e| e.data).collect();
    d.sort();
    expect_eq!(o, "every request once", d == (0..(T * PER) as u64).collect::<Vec<_>>(), true);
    ctx.no_events(ms(30))?;
    Ok(())
}
