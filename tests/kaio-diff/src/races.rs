//! POLL race and lifetime tests, modelled on the bugs fixed in fs/aio.c's poll history
//! (AIO-SEMANTICS §5.5, §9.2, §11): cancel racing the wake-up, POLLFREE from a signalfd whose
//! sighand dies ("aio: fix use-after-free due to missing POLLFREE handling"), requests that
//! must stay on their wait queue across spurious wake-ups ("aio: keep poll requests on
//! waitqueue until completed"), the polled fd closed under a pending request, teardown with
//! polls pending, many polls woken at once, eventfd recursion through RESFD, wake-ups that
//! land while the request is being submitted, and mremap of the ring in a forked child ("aio:
//! fix mremap after fork null-deref").
//!
//! Every test runs on the native system calls and on `/dev/kaio` (one KTAP line each) and
//! checks the invariants Linux guarantees: exactly one event per accepted request, with its
//! data and obj, a result that is one of the legitimate outcomes, one eventfd signal per
//! RESFD request, and nothing afterwards. The debug guest adds KASAN, lockdep and the rest.

use crate::aio::{self, errno_name, show, Aio};
use crate::ktap::{self, Test, TestResult};
use crate::util::*;
use kaio::uapi::*;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const POLLIN: u64 = libc::POLLIN as u64;
const POLLHUP: i64 = libc::POLLHUP as i64;
const PROMPT: Duration = Duration::from_secs(10);

type Body = fn(&dyn Aio) -> TestResult;

fn factor() -> u64 {
    std::env::var("KAIO_DIFF_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(1).max(1)
}

fn rounds(n: u64) -> u64 {
    n * factor()
}

/// Stops a loop of rounds early once `budget` has passed (QEMU TCG, debug kernels).
struct Budget(Instant, Duration);

impl Budget {
    fn new(secs: u64) -> Budget {
        Budget(Instant::now(), Duration::from_secs(secs * factor()))
    }
    fn over(&self) -> bool {
        self.0.elapsed() > self.1
    }
}

pub fn tests() -> Vec<Test> {
    let list: &[(&str, Body, bool)] = &[
        ("poll_cancel_vs_wake", poll_cancel_vs_wake, false),
        ("poll_wake_during_submit", poll_wake_during_submit, false),
        ("poll_irq_wake_during_submit", poll_irq_wake_during_submit, true),
        ("poll_spurious_wakeups_keep_waiting", poll_spurious_wakeups_keep_waiting, false),
        ("pollfree_signalfd_clone_vm", pollfree_signalfd_clone_vm, false),
        ("poll_close_polled_fd", poll_close_polled_fd, false),
        ("poll_teardown_pending", poll_teardown_pending, false),
        ("poll_destroy_vs_wake", poll_destroy_vs_wake, false),
        ("poll_many_on_one_pipe", poll_many_on_one_pipe, false),
        ("poll_resfd_eventfd_recursion", poll_resfd_eventfd_recursion, false),
        ("mremap_ring_after_fork", mremap_ring_after_fork, false),
    ];
    let mut v = Vec::new();
    for &(name, body, kaio_only) in list {
        for kaio in [false, true] {
            if kaio_only && !kaio {
                continue;
            }
            v.push(Test {
                name: format!("{name}.{}", if kaio { "kaio" } else { "native" }),
                run: Box::new(move || {
                    let b = aio::open(kaio)?;
                    body(b.as_ref())
                }),
            });
        }
    }
    v
}

fn check_event(what: &str, ev: &IoEvent, data: u64, obj: *const Iocb) -> TestResult {
    if ev.data != data || ev.obj != obj as u64 || ev.res2 != 0 {
        return Err(format!("{what}: event {ev:?}, expected data {data} obj {:#x} res2 0", obj as u64));
    }
    Ok(())
}

fn no_more(ctx: &Ctx, what: &str) -> TestResult {
    let extra = ctx.extra_events(ms(30));
    if !extra.is_empty() {
        return Err(format!("{what}: unexpected extra events {extra:?}"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------

/// A pending POLL; one thread cancels it while another makes it ready. Exactly one event per
/// round; io_cancel gives EINPROGRESS (res 0, or the mask if the worker had sampled it) or
/// EINVAL (the wake-up won: res has POLLIN); one eventfd signal per round with RESFD.
fn poll_cancel_vs_wake(b: &dyn Aio) -> TestResult {
    let ctx = Ctx::new(b, 8)?;
    let p = Pipe::new();
    let efd = EventFd::new();
    let n = rounds(400);
    let budget = Budget::new(40);
    let spin = Spin::new(3);
    let cancel_ret = AtomicI64::new(0);
    let stop = AtomicBool::new(false);
    let jitter = AtomicU32::new(0);
    let mut cb = poll_iocb(p.r, POLLIN, 0);
    let cbp = &mut cb as *mut Iocb as usize;
    let (mut inprog, mut inval, mut inprog_res_mask) = (0, 0, 0);
    let mut done = 0;
    std::thread::scope(|s| -> TestResult {
        s.spawn(|| {
            block_all_signals();
            loop {
                spin.wait();
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                spin_for(jitter.load(Ordering::SeqCst) as u64 % 700);
                let r = ctx.cancel(cbp as *mut Iocb);
                cancel_ret.store(match r {
                    Ok(v) => v,
                    Err(e) => -(e as i64),
                }, Ordering::SeqCst);
                spin.wait();
            }
        });
        s.spawn(|| {
            block_all_signals();
            loop {
                spin.wait();
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                spin_for((jitter.load(Ordering::SeqCst) / 1000) as u64 % 700);
                p.put();
                spin.wait();
            }
        });
        let mut r = Rng::new(11);
        let res = (|| -> TestResult {
            for round in 0..n {
                if budget.over() {
                    break;
                }
                let resfd = round % 2 == 1;
                // SAFETY: the iocb is only read by the kernel during the calls below.
                let c = unsafe { &mut *(cbp as *mut Iocb) };
                *c = poll_iocb(p.r, POLLIN, round);
                if resfd {
                    *c = with_resfd(*c, efd.0);
                }
                ctx.submit1(c).map_err(|e| format!("round {round}: submit {}", errno_name(e)))?;
                jitter.store(r.next() as u32, Ordering::SeqCst);
                spin.wait();
                spin.wait();
                let ev = ctx.wait_events(1, PROMPT).map_err(|e| format!("round {round}: {e}"))?;
                check_event(&format!("round {round}"), &ev[0], round, c)?;
                let cr = cancel_ret.load(Ordering::SeqCst);
                let res = ev[0].res;
                match -cr {
                    x if x == libc::EINPROGRESS as i64 => {
                        inprog += 1;
                        if res != 0 {
                            inprog_res_mask += 1;
                            if res as u64 & POLLIN == 0 {
                                return Err(format!("round {round}: cancelled, res {res:#x} (neither 0 nor POLLIN)"));
                            }
                        }
                    }
                    x if x == libc::EINVAL as i64 => {
                        inval += 1;
                        if res as u64 & POLLIN == 0 {
                            return Err(format!("round {round}: io_cancel EINVAL (completed first) but res {res:#x}"));
                        }
                    }
                    _ => return Err(format!("round {round}: io_cancel returned {cr}")),
                }
                if resfd {
                    let c = efd.wait_for(1, PROMPT);
                    if c != 1 {
                        return Err(format!("round {round}: eventfd count {c}, expected 1"));
                    }
                }
                p.drain();
                done += 1;
            }
            no_more(&ctx, "after the rounds")?;
            if efd.take() != 0 {
                return Err("eventfd signalled more than once per request".into());
            }
            Ok(())
        })();
        stop.store(true, Ordering::SeqCst);
        spin.wait();
        res
    })?;
    ktap::diag(format!("{}: {done} rounds: cancel EINPROGRESS {inprog} (res = mask {inprog_res_mask}), EINVAL {inval}", b.name()));
    Ok(())
}

/// The wake-up lands while the POLL is being submitted (between its registration on the
/// queue and the decision under ctx_lock). An older pending request must stay cancellable
/// (an implementation that unlists "the request with the new one's key" loses it) and the new
/// one must complete exactly once.
fn poll_wake_during_submit(b: &dyn Aio) -> TestResult {
    let pa = Pipe::new();
    let pb = Pipe::new();
    let batches = rounds(8);
    let per = 150u64;
    let budget = Budget::new(40);
    let spin = Spin::new(2);
    let stop = AtomicBool::new(false);
    let jitter = AtomicU32::new(0);
    let mut total = 0;
    std::thread::scope(|s| -> TestResult {
        s.spawn(|| {
            block_all_signals();
            loop {
                spin.wait();
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let j = jitter.load(Ordering::SeqCst);
                spin_for(j as u64 % 3000);
                if j & 1 == 1 {
                    std::thread::yield_now();
                }
                pb.put();
                spin.wait();
            }
        });
        let mut r = Rng::new(12);
        let res = (|| -> TestResult {
            for batch in 0..batches {
                if budget.over() {
                    break;
                }
                let ctx = Ctx::new(b, 32)?;
                let mut a = poll_iocb(pa.r, POLLIN, 1000 + batch);
                ctx.submit1(&mut a).map_err(|e| format!("submit A: {}", errno_name(e)))?;
                let mut cb = poll_iocb(pb.r, POLLIN, 0);
                for i in 0..per {
                    cb.aio_data = i;
                    jitter.store(r.next() as u32, Ordering::SeqCst);
                    spin.wait();
                    let sr = ctx.submit1(&mut cb);
                    spin.wait();
                    if sr != Ok(1) {
                        return Err(format!("batch {batch} round {i}: submit B = {}", show(sr)));
                    }
                    let ev = ctx.wait_events(1, PROMPT).map_err(|e| format!("batch {batch} round {i}: {e}"))?;
                    check_event(&format!("batch {batch} round {i}"), &ev[0], i, &cb)?;
                    if ev[0].res as u64 & POLLIN == 0 {
                        return Err(format!("batch {batch} round {i}: res {:#x}", ev[0].res));
                    }
                    pb.drain();
                    total += 1;
                }
                let c = ctx.cancel(&mut a);
                if c != Err(libc::EINPROGRESS) {
                    // Let A finish so that the context can go.
                    pa.put();
                    return Err(format!(
                        "batch {batch}: after {per} wake-ups racing the submission of other polls, io_cancel of the first (still pending) poll = {} (expected EINPROGRESS): it was lost from active_reqs",
                        show(c)
                    ));
                }
                let ev = ctx.wait_events(1, PROMPT)?;
                check_event("the first poll", &ev[0], 1000 + batch, &a)?;
                if ev[0].res != 0 {
                    return Err(format!("cancelled poll res {:#x}", ev[0].res));
                }
                no_more(&ctx, "after the batch")?;
                pa.drain();
            }
            Ok(())
        })();
        stop.store(true, Ordering::SeqCst);
        spin.wait();
        res
    })?;
    ktap::diag(format!("{}: {total} submissions raced by a wake-up", b.name()));
    Ok(())
}

/// kaio only: the wake-up comes from hard-irq context during the submission. DELAY requests
/// with RESFD = an eventfd expire every few microseconds (their completion signals the eventfd
/// from the timer interrupt) while POLLs on that eventfd are submitted; on one CPU this is the
/// way to land a wake-up between a poll's registration and its listing. An older pending poll
/// must stay cancellable, and every request completes exactly once.
fn poll_irq_wake_during_submit(b: &dyn Aio) -> TestResult {
    let dev = b.dev_fd();
    let e = EventFd::new();
    let pa = Pipe::new();
    let budget = Budget::new(45);
    let batches = rounds(24);
    let mut polls_done = 0u64;
    for batch in 0..batches {
        if budget.over() {
            break;
        }
        let ctx = Ctx::new(b, 1024)?;
        let mut a = poll_iocb(pa.r, POLLIN, u64::MAX);
        ctx.submit1(&mut a).map_err(|e| format!("submit A: {}", errno_name(e)))?;
        // Before each POLL(E): a DELAY of a few microseconds with RESFD = E, whose expiry
        // signals E from the timer interrupt, with luck while the POLL is being registered.
        let mut r = Rng::new(15 + batch);
        let n = 400usize;
        let mut delays: Vec<Iocb> = Vec::with_capacity(n);
        let mut polls: Vec<Iocb> = Vec::with_capacity(n);
        let mut all = Vec::new();
        for i in 0..n {
            delays.push(with_resfd(Iocb::delay(r.range(500, 40_000) as i64, dev).with_data(1_000_000 + i as u64), e.0));
            let d = delays.last_mut().unwrap() as *mut Iocb;
            let rd = ctx.submit1(d);
            e.take();
            polls.push(poll_iocb(e.0, POLLIN, i as u64));
            let cb = polls.last_mut().unwrap() as *mut Iocb;
            let rp = ctx.submit1(cb);
            if rd != Ok(1) || rp != Ok(1) {
                return Err(format!("round {i}: submit delay {}, poll {}", show(rd), show(rp)));
            }
            all.extend(ctx.getev(0, 64, Some(Duration::ZERO)).map_err(errno_name)?);
        }
        // Every request completes: the timers by themselves, then a last write wakes the polls
        // that saw no timer after them.
        let want = 2 * n;
        std::thread::sleep(ms(30));
        e.add(1);
        let deadline = Instant::now() + PROMPT;
        while all.len() < want && Instant::now() < deadline {
            all.extend(ctx.getev(1, want - all.len(), Some(ms(50))).map_err(errno_name)?);
        }
        let c = ctx.cancel(&mut a);
        if c != Err(libc::EINPROGRESS) {
            pa.put();
            return Err(format!(
                "batch {batch}: io_cancel of the first pending poll = {} after {} polls raced by timer-irq wake-ups (expected EINPROGRESS)",
                show(c),
                polls.len()
            ));
        }
        all.extend(ctx.wait_events(1, PROMPT)?);
        let mut seen = std::collections::HashMap::new();
        for ev in &all {
            *seen.entry(ev.data).or_insert(0) += 1;
        }
        let dup: Vec<_> = seen.iter().filter(|(_, &n)| n > 1).collect();
        if !dup.is_empty() || all.len() != want + 1 {
            return Err(format!("batch {batch}: {} events for {} requests; duplicated data {dup:?}", all.len(), want + 1));
        }
        polls_done += polls.len() as u64;
        pa.drain();
    }
    ktap::diag(format!("kaio: {polls_done} polls submitted under timer-irq wake-ups ({} batches)", polls_done / 400));
    Ok(())
}

/// Spurious wake-ups (the pipe becomes readable and is drained again before the request's
/// worker looks, while another thread keeps ctx_lock busy so that the inline completion fails
/// its trylock) must leave the request on its queue: the final write still completes it,
/// exactly once.
fn poll_spurious_wakeups_keep_waiting(b: &dyn Aio) -> TestResult {
    let ctx = Ctx::new(b, 8)?;
    let p = Pipe::new();
    let n = rounds(60);
    let budget = Budget::new(30);
    let stop = AtomicBool::new(false);
    let mut dummy = poll_iocb(p.r, POLLIN, 0);
    dummy.aio_key = 0;
    let dp = &mut dummy as *mut Iocb as usize;
    let mut early = 0;
    let mut done = 0;
    std::thread::scope(|s| -> TestResult {
        // Keeps ctx_lock busy: io_cancel of an iocb that was never submitted.
        s.spawn(|| {
            block_all_signals();
            while !stop.load(Ordering::SeqCst) {
                let _ = ctx.cancel(dp as *mut Iocb);
            }
        });
        let res = (|| -> TestResult {
            for round in 0..n {
                if budget.over() {
                    break;
                }
                let mut cb = poll_iocb(p.r, POLLIN, round);
                ctx.submit1(&mut cb).map_err(|e| format!("submit {}", errno_name(e)))?;
                for _ in 0..20 {
                    p.put();
                    p.drain();
                }
                let mut ev = ctx.getev(0, 4, Some(Duration::ZERO)).map_err(errno_name)?;
                if !ev.is_empty() {
                    early += 1;
                }
                p.put();
                if ev.is_empty() {
                    ev = ctx.wait_events(1, PROMPT).map_err(|e| format!("round {round}: the final write did not complete the poll: {e}"))?;
                }
                if ev.len() != 1 {
                    return Err(format!("round {round}: {} events: {ev:?}", ev.len()));
                }
                check_event(&format!("round {round}"), &ev[0], round, &cb)?;
                if ev[0].res as u64 & POLLIN == 0 {
                    return Err(format!("round {round}: res {:#x}", ev[0].res));
                }
                no_more(&ctx, &format!("round {round}"))?;
                p.drain();
                done += 1;
            }
            Ok(())
        })();
        stop.store(true, Ordering::SeqCst);
        res
    })?;
    ktap::diag(format!("{}: {done} rounds, {early} completed during the burst", b.name()));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// POLLFREE: a CLONE_VM child (same mm, so it may use the parent's contexts; its own sighand)
// polls a signalfd through the parent's context and exits; reaping it frees its sighand,
// whose signalfd wait queue is woken with POLLFREE.

#[repr(C)]
struct ChildArgs {
    kaio: bool,
    dev: RawFd,
    ctx: u64,
    n: usize,
    iocbs: [Iocb; 4],
    ptrs: [*mut Iocb; 4],
    /// Send itself the polled signal after submitting (a keyless wake-up: the worker re-polls
    /// in a kworker, finds nothing, and the request must stay on the queue until POLLFREE).
    signal_self: bool,
    submit_ret: AtomicI64,
    submitted: AtomicBool,
    go: AtomicBool,
}

extern "C" fn pollfree_child(arg: *mut libc::c_void) -> libc::c_int {
    // Only raw system calls here: this task shares the parent's memory (and its TLS).
    // SAFETY: the parent keeps the arguments alive until it has reaped this child.
    let a = unsafe { &mut *(arg as *mut ChildArgs) };
    let set: u64 = 1 << (libc::SIGUSR2 - 1);
    // SAFETY: raw system calls with valid pointers into the shared memory or this stack.
    unsafe {
        libc::syscall(libc::SYS_rt_sigprocmask, libc::SIG_BLOCK, &set as *const u64, 0usize, 8usize);
        let sfd = libc::syscall(libc::SYS_signalfd4, -1, &set as *const u64, 8usize, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC);
        for i in 0..a.n {
            a.iocbs[i].aio_fildes = sfd as u32;
        }
        let r = if a.kaio {
            let args = kaio_submit_args { ctx_id: a.ctx, nr: a.n as i64, iocbpp: a.ptrs.as_ptr() as u64 };
            libc::syscall(libc::SYS_ioctl, a.dev, KAIO_IOC_SUBMIT as libc::c_ulong, &args as *const kaio_submit_args)
        } else {
            libc::syscall(libc::SYS_io_submit, a.ctx, a.n as i64, a.ptrs.as_ptr())
        };
        a.submit_ret.store(if sfd < 0 { -1000 } else { r as i64 }, Ordering::SeqCst);
        if a.signal_self {
            let pid = libc::syscall(libc::SYS_getpid);
            let tid = libc::syscall(libc::SYS_gettid);
            libc::syscall(libc::SYS_tgkill, pid, tid, libc::SIGUSR2);
        }
        a.submitted.store(true, Ordering::SeqCst);
        while !a.go.load(Ordering::SeqCst) {
            libc::syscall(libc::SYS_sched_yield);
        }
    }
    0
}

fn pollfree_signalfd_clone_vm(b: &dyn Aio) -> TestResult {
    let n_rounds = rounds(60);
    let budget = Budget::new(40);
    let efd = EventFd::new();
    let ctx = Ctx::new(b, 64)?;
    let mut stack = vec![0u8; 256 * 1024];
    let top = ((stack.as_mut_ptr() as usize + stack.len()) & !15) as *mut libc::c_void;
    let mut outcomes = std::collections::BTreeMap::new();
    let hammer_target = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let mut done = 0;
    std::thread::scope(|s| -> TestResult {
        // Cancels the child's requests while the parent reaps it (cancel vs POLLFREE).
        s.spawn(|| {
            block_all_signals();
            while !stop.load(Ordering::SeqCst) {
                let t = hammer_target.load(Ordering::SeqCst);
                if t != 0 {
                    let _ = ctx.cancel(t as *mut Iocb);
                } else {
                    std::thread::yield_now();
                }
            }
        });
        let mut r = Rng::new(13);
        let res = (|| -> TestResult {
            for round in 0..n_rounds {
                if budget.over() {
                    break;
                }
                let n = r.range(1, 4) as usize;
                let resfd = r.pct(50);
                let signal_self = r.pct(50);
                let hammer = r.pct(40);
                let mut args = Box::new(ChildArgs {
                    kaio: b.is_kaio(),
                    dev: b.dev_fd(),
                    ctx: ctx.id,
                    n,
                    iocbs: [Iocb::default(); 4],
                    ptrs: [std::ptr::null_mut(); 4],
                    signal_self,
                    submit_ret: AtomicI64::new(i64::MIN),
                    submitted: AtomicBool::new(false),
                    go: AtomicBool::new(false),
                });
                for i in 0..n {
                    let mut cb = poll_iocb(-1, POLLIN, round * 10 + i as u64);
                    if resfd {
                        cb = with_resfd(cb, efd.0);
                    }
                    args.iocbs[i] = cb;
                }
                for i in 0..n {
                    args.ptrs[i] = &mut args.iocbs[i];
                }
                let ap = &mut *args as *mut ChildArgs as *mut libc::c_void;
                // SAFETY: a CLONE_VM child on its own stack; it only makes raw system calls and
                // the parent reaps it before the stack and the arguments go away.
                let pid = unsafe { libc::clone(pollfree_child, top, libc::CLONE_VM | libc::SIGCHLD, ap) };
                if pid < 0 {
                    return Err(format!("clone: {}", errno_name(errno())));
                }
                let t0 = Instant::now();
                while !args.submitted.load(Ordering::SeqCst) {
                    if t0.elapsed() > PROMPT {
                        return Err("the CLONE_VM child did not submit".into());
                    }
                    std::thread::yield_now();
                }
                let sr = args.submit_ret.load(Ordering::SeqCst);
                if sr != n as i64 {
                    args.go.store(true, Ordering::SeqCst);
                    // SAFETY: reaps our child.
                    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
                    return Err(format!("round {round}: the child's io_submit of {n} polls on its signalfd returned {sr}"));
                }
                // Pending until its sighand dies.
                let early = ctx.getev(0, 8, Some(ms(if round < 3 { 20 } else { 0 }))).map_err(errno_name)?;
                if !early.is_empty() {
                    return Err(format!("round {round}: polls on a signalfd completed before POLLFREE: {early:?} (signal sent: {signal_self})"));
                }
                if hammer {
                    hammer_target.store(args.ptrs[n - 1] as usize, Ordering::SeqCst);
                }
                args.go.store(true, Ordering::SeqCst);
                let mut status = 0;
                // SAFETY: reaps our child; this frees its sighand (POLLFREE).
                let w = unsafe { libc::waitpid(pid, &mut status, 0) };
                if w != pid || status != 0 {
                    return Err(format!("round {round}: waitpid = {w}, status {status:#x}"));
                }
                let evs = ctx.wait_events(n, PROMPT).map_err(|e| format!("round {round}: after POLLFREE: {e}"))?;
                hammer_target.store(0, Ordering::SeqCst);
                let mut datas: Vec<u64> = evs.iter().map(|e| e.data).collect();
                datas.sort();
                let want: Vec<u64> = (0..n as u64).map(|i| round * 10 + i).collect();
                if datas != want {
                    return Err(format!("round {round}: events {evs:?}, expected data {want:?}"));
                }
                for ev in &evs {
                    let i = (ev.data - round * 10) as usize;
                    check_event(&format!("round {round}"), ev, ev.data, args.ptrs[i])?;
                    if ev.res != 0 && ev.res != POLLHUP {
                        return Err(format!("round {round}: res {:#x} after POLLFREE (expected 0 or POLLHUP)", ev.res));
                    }
                    *outcomes.entry(ev.res).or_insert(0) += 1;
                }
                if resfd {
                    let c = efd.wait_for(n as u64, PROMPT);
                    if c != n as u64 {
                        return Err(format!("round {round}: eventfd {c}, expected {n}"));
                    }
                }
                no_more(&ctx, &format!("round {round}"))?;
                if efd.take() != 0 {
                    return Err(format!("round {round}: eventfd signalled more than once"));
                }
                done += 1;
            }
            Ok(())
        })();
        stop.store(true, Ordering::SeqCst);
        res
    })?;
    drop(stack);
    ktap::diag(format!("{}: {done} rounds, results {outcomes:?}", b.name()));
    Ok(())
}

// ---------------------------------------------------------------------------------------------

/// The polled fd is closed while the request is pending: the request keeps its own file
/// reference, produces nothing on the close, and completes later on a write, on the last
/// writer's close (POLLHUP) or on io_cancel.
fn poll_close_polled_fd(b: &dyn Aio) -> TestResult {
    let ctx = Ctx::new(b, 8)?;
    for round in 0..rounds(30) {
        let mut p = Pipe::new();
        let mut cb = poll_iocb(p.r, POLLIN, round);
        ctx.submit1(&mut cb).map_err(|e| format!("submit {}", errno_name(e)))?;
        p.close_r();
        no_more(&ctx, &format!("round {round}: closing the polled fd"))?;
        let how = round % 3;
        match how {
            0 => {
                if p.put() != 1 {
                    return Err(format!("round {round}: write to the pipe whose read fd is closed: {}", errno_name(errno())));
                }
            }
            1 => p.close_w(),
            _ => {
                let c = ctx.cancel(&mut cb);
                if c != Err(libc::EINPROGRESS) {
                    return Err(format!("round {round}: io_cancel after close = {}", show(c)));
                }
            }
        }
        let ev = ctx.wait_events(1, PROMPT).map_err(|e| format!("round {round} ({how}): {e}"))?;
        check_event(&format!("round {round}"), &ev[0], round, &cb)?;
        let res = ev[0].res;
        let ok = match how {
            0 => res as u64 & POLLIN != 0,
            1 => res & POLLHUP != 0,
            _ => res == 0,
        };
        if !ok {
            return Err(format!("round {round} (way {how}): res {res:#x}"));
        }
        no_more(&ctx, &format!("round {round}"))?;
    }
    Ok(())
}

/// Teardown with polls pending: io_destroy, process exit (a forked child), and for kaio the
/// close of the domain's last reference. Every request completes (cancelled) and signals its
/// eventfd before the call that tore the context down returns.
fn poll_teardown_pending(b: &dyn Aio) -> TestResult {
    const M: usize = 40;
    let pipes: Vec<Pipe> = (0..4).map(|_| Pipe::new()).collect();
    let efd = EventFd::new();
    let make = |ctx: &Ctx, cbs: &mut Vec<Iocb>| -> TestResult {
        *cbs = (0..M).map(|i| with_resfd(poll_iocb(pipes[i % 4].r, POLLIN, i as u64), efd.0)).collect();
        let ptrs: Vec<*mut Iocb> = cbs.iter_mut().map(|c| c as *mut Iocb).collect();
        match ctx.submit(&ptrs) {
            Ok(n) if n == M as i64 => Ok(()),
            r => Err(format!("submit of {M} polls = {}", show(r))),
        }
    };
    // io_destroy.
    for round in 0..rounds(5) {
        let mut ctx = Ctx::new(b, 64)?;
        let mut cbs = Vec::new();
        make(&ctx, &mut cbs)?;
        let r = ctx.destroy();
        let c = efd.take();
        if r != Ok(0) || c != M as u64 {
            return Err(format!("round {round}: io_destroy = {}, eventfd right after it {c} (expected {M})", show(r)));
        }
    }
    // Process exit.
    for round in 0..rounds(3) {
        // SAFETY: fork; the child only makes system calls and leaves with _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let code = (|| -> i32 {
                let ctx = match Ctx::new(b, 64) {
                    Ok(c) => c,
                    Err(_) => return 2,
                };
                let mut cbs = Vec::new();
                if make(&ctx, &mut cbs).is_err() {
                    return 3;
                }
                std::mem::forget(ctx);
                0
            })();
            // SAFETY: leaves the child without running anything of the parent's.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: reaps our child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        let c = efd.take();
        if status != 0 || c != M as u64 {
            return Err(format!("exit round {round}: child status {status:#x}, eventfd right after its exit {c} (expected {M})"));
        }
    }
    // kaio: the last reference to the domain (fd closed, then the ring unmapped).
    if b.is_kaio() {
        for round in 0..rounds(3) {
            let d = aio::Kaio::open()?;
            let (id, len) = {
                let ctx = Ctx::new(&d, 64)?;
                let mut cbs = Vec::new();
                make(&ctx, &mut cbs)?;
                let nr = ring_hdr(ctx.id).nr as usize;
                let id = ctx.id;
                std::mem::forget(ctx);
                (id, (32 + 32 * nr).div_ceil(4096) * 4096)
            };
            drop(d);
            let before = efd.take();
            // SAFETY: unmaps the ring of a context we no longer use.
            unsafe { libc::munmap(id as *mut libc::c_void, len) };
            let c = before + efd.wait_for(M as u64 - before, PROMPT);
            if c != M as u64 {
                return Err(format!("domain close round {round}: eventfd {c} (expected {M})"));
            }
            std::thread::sleep(ms(20));
            if efd.take() != 0 {
                return Err("eventfd signalled again after the domain's teardown".into());
            }
        }
    }
    Ok(())
}

/// io_destroy races wake-ups of its pending polls: every request signals exactly once, and
/// all of them before io_destroy returns.
fn poll_destroy_vs_wake(b: &dyn Aio) -> TestResult {
    const M: usize = 24;
    let p = Pipe::new();
    let efd = EventFd::new();
    let budget = Budget::new(30);
    let spin = Spin::new(2);
    let stop = AtomicBool::new(false);
    let jitter = AtomicU32::new(0);
    let mut done = 0;
    std::thread::scope(|s| -> TestResult {
        s.spawn(|| {
            block_all_signals();
            loop {
                spin.wait();
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                spin_for(jitter.load(Ordering::SeqCst) as u64 % 5000);
                p.put();
                spin.wait();
            }
        });
        let mut r = Rng::new(14);
        let res = (|| -> TestResult {
            for round in 0..rounds(100) {
                if budget.over() {
                    break;
                }
                let mut ctx = Ctx::new(b, 64)?;
                let mut cbs: Vec<Iocb> = (0..M).map(|i| with_resfd(poll_iocb(p.r, POLLIN, i as u64), efd.0)).collect();
                let ptrs: Vec<*mut Iocb> = cbs.iter_mut().map(|c| c as *mut Iocb).collect();
                if ctx.submit(&ptrs) != Ok(M as i64) {
                    return Err("submit".into());
                }
                jitter.store(r.next() as u32, Ordering::SeqCst);
                spin.wait();
                spin_for(r.below(5000));
                let d = ctx.destroy();
                let c = efd.take();
                spin.wait();
                if d != Ok(0) || c != M as u64 {
                    return Err(format!("round {round}: io_destroy = {}, eventfd right after it {c} (expected {M})", show(d)));
                }
                std::thread::sleep(ms(1));
                if efd.take() != 0 {
                    return Err(format!("round {round}: eventfd signalled after io_destroy returned"));
                }
                p.drain();
                done += 1;
            }
            Ok(())
        })();
        stop.store(true, Ordering::SeqCst);
        spin.wait();
        res
    })?;
    ktap::diag(format!("{}: {done} rounds", b.name()));
    Ok(())
}

/// Many polls on one pipe, all woken by one write; then the same with a thread cancelling
/// half of them while the write happens.
fn poll_many_on_one_pipe(b: &dyn Aio) -> TestResult {
    const K: usize = 128;
    let ctx = Ctx::new(b, 256)?;
    for round in 0..rounds(6) {
        let p = Pipe::new();
        let mut cbs: Vec<Iocb> = (0..K).map(|i| poll_iocb(p.r, POLLIN, i as u64)).collect();
        let ptrs: Vec<*mut Iocb> = cbs.iter_mut().map(|c| c as *mut Iocb).collect();
        if ctx.submit(&ptrs) != Ok(K as i64) {
            return Err("submit".into());
        }
        no_more(&ctx, "before the write")?;
        let cancel_rets: Vec<AtomicI64> = (0..K).map(|_| AtomicI64::new(1)).collect();
        let with_cancel = round % 2 == 1;
        let pp = ptrs.iter().map(|&x| x as usize).collect::<Vec<_>>();
        std::thread::scope(|s| {
            if with_cancel {
                s.spawn(|| {
                    block_all_signals();
                    for i in (0..K).step_by(2) {
                        let r = ctx.cancel(pp[i] as *mut Iocb);
                        cancel_rets[i].store(match r {
                            Ok(v) => v,
                            Err(e) => -(e as i64),
                        }, Ordering::SeqCst);
                    }
                });
                spin_for(3000);
            }
            p.put();
        });
        let evs = ctx.wait_events(K, PROMPT).map_err(|e| format!("round {round}: {e}"))?;
        let mut seen = vec![0; K];
        for ev in &evs {
            let i = ev.data as usize;
            if i >= K {
                return Err(format!("event {ev:?}"));
            }
            seen[i] += 1;
            check_event("", ev, i as u64, ptrs[i])?;
            let c = -cancel_rets[i].load(Ordering::SeqCst);
            let ok = if c == libc::EINPROGRESS as i64 {
                ev.res == 0 || ev.res as u64 & POLLIN != 0
            } else {
                ev.res as u64 & POLLIN != 0
            };
            if !ok {
                return Err(format!("round {round}: request {i}: io_cancel {c}, res {:#x}", ev.res));
            }
        }
        if seen.iter().any(|&n| n != 1) {
            return Err(format!("round {round}: events per request {seen:?}"));
        }
        no_more(&ctx, &format!("round {round}"))?;
    }
    Ok(())
}

/// RESFD on polls woken by an eventfd: the completion must not signal its eventfd from inside
/// the eventfd's own wake-up (eventfd_signal would WARN on the recursion, or deadlock on the
/// queue lock): POLL(E) with RESFD = E; a cycle E1 -> E2 -> E1; a read completion with RESFD
/// = E waking a POLL(E) with RESFD = E inside eventfd_signal; an epoll instance in between;
/// and (e) a POLL of an epoll instance, woken by a pipe, whose RESFD the instance watches.
fn poll_resfd_eventfd_recursion(b: &dyn Aio) -> TestResult {
    let ctx = Ctx::new(b, 16)?;
    for round in 0..rounds(10) {
        // (a) POLL(E) with RESFD = E, woken by a write to E.
        let e = EventFd::new();
        let mut r1 = with_resfd(poll_iocb(e.0, POLLIN, 1), e.0);
        ctx.submit1(&mut r1).map_err(|x| format!("a: submit {}", errno_name(x)))?;
        no_more(&ctx, "a: before the write")?;
        e.add(1);
        let ev = ctx.wait_events(1, PROMPT).map_err(|x| format!("round {round} a: {x}"))?;
        check_event("a", &ev[0], 1, &r1)?;
        if ev[0].res as u64 & POLLIN == 0 {
            return Err(format!("a: res {:#x}", ev[0].res));
        }
        let c = e.wait_for(2, PROMPT);
        if c != 2 {
            return Err(format!("round {round} a: eventfd {c}, expected 2 (1 written + 1 completion)"));
        }
        // (b) R1 = POLL(E1) RESFD E2, R2 = POLL(E2) RESFD E1; write E1.
        let (e1, e2) = (EventFd::new(), EventFd::new());
        let mut cbs = [with_resfd(poll_iocb(e1.0, POLLIN, 1), e2.0), with_resfd(poll_iocb(e2.0, POLLIN, 2), e1.0)];
        let ptrs: Vec<*mut Iocb> = cbs.iter_mut().map(|c| c as *mut Iocb).collect();
        if ctx.submit(&ptrs) != Ok(2) {
            return Err("b: submit".into());
        }
        e1.add(1);
        let evs = ctx.wait_events(2, PROMPT).map_err(|x| format!("round {round} b: {x}"))?;
        let mut d: Vec<u64> = evs.iter().map(|x| x.data).collect();
        d.sort();
        if d != [1, 2] || evs.iter().any(|x| x.res as u64 & POLLIN == 0) {
            return Err(format!("round {round} b: events {evs:?}"));
        }
        let (c1, c2) = (e1.wait_for(2, PROMPT), e2.wait_for(1, PROMPT));
        std::thread::sleep(ms(5));
        let (x1, x2) = (e1.take(), e2.take());
        if (c1 + x1, c2 + x2) != (2, 1) {
            return Err(format!("round {round} b: eventfds ({}, {}), expected (2, 1)", c1 + x1, c2 + x2));
        }
        // (c) A read completing inside io_submit signals E (RESFD) and so wakes POLL(E), whose
        // own RESFD is E: signalled from inside eventfd_signal unless deferred.
        let e = EventFd::new();
        let path = format!("/tmp/kaio-diff-recursion.{}", std::process::id());
        std::fs::write(&path, [7u8; 64]).map_err(|x| x.to_string())?;
        let f = std::fs::File::open(&path).map_err(|x| x.to_string())?;
        let _ = std::fs::remove_file(&path);
        let mut buf = [0u8; 16];
        let mut cbs = [
            with_resfd(poll_iocb(e.0, POLLIN, 1), e.0),
            with_resfd(Iocb::pread(std::os::fd::AsRawFd::as_raw_fd(&f), &mut buf, 0).with_data(2), e.0),
        ];
        let ptrs: Vec<*mut Iocb> = cbs.iter_mut().map(|c| c as *mut Iocb).collect();
        if ctx.submit(&ptrs) != Ok(2) {
            return Err("c: submit".into());
        }
        let evs = ctx.wait_events(2, PROMPT).map_err(|x| format!("round {round} c: {x}"))?;
        let mut got: Vec<(u64, i64)> = evs.iter().map(|x| (x.data, x.res)).collect();
        got.sort();
        if got[0].0 != 1 || got[0].1 as u64 & POLLIN == 0 || got[1] != (2, 16) {
            return Err(format!("round {round} c: events {evs:?}"));
        }
        let c = e.wait_for(2, PROMPT);
        if c != 2 {
            return Err(format!("round {round} c: eventfd {c}, expected 2"));
        }
        // (d) POLL(E) with RESFD = E2; an epoll instance watches E2; POLL(epfd) with RESFD = E.
        let (e, e2) = (EventFd::new(), EventFd::new());
        // SAFETY: plain system calls.
        let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        let mut ee = libc::epoll_event { events: libc::EPOLLIN as u32, u64: 0 };
        // SAFETY: valid epoll_event.
        if unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, e2.0, &mut ee) } < 0 {
            return Err(format!("epoll_ctl: {}", errno_name(errno())));
        }
        let mut cbs = [with_resfd(poll_iocb(e.0, POLLIN, 1), e2.0), with_resfd(poll_iocb(ep, POLLIN, 2), e.0)];
        let ptrs: Vec<*mut Iocb> = cbs.iter_mut().map(|c| c as *mut Iocb).collect();
        let sr = ctx.submit(&ptrs);
        close(ep);
        if sr != Ok(2) {
            return Err(format!("d: submit = {}", show(sr)));
        }
        e.add(1);
        let evs = ctx.wait_events(2, PROMPT).map_err(|x| format!("round {round} d: {x}"))?;
        if evs.iter().any(|x| x.res as u64 & POLLIN == 0) {
            return Err(format!("round {round} d: events {evs:?}"));
        }
        let c = e.wait_for(2, PROMPT);
        let c2 = e2.wait_for(1, PROMPT);
        if (c, c2) != (2, 1) {
            return Err(format!("round {round} d: eventfds ({c}, {c2}), expected (2, 1)"));
        }
        resfd_poll_of_epoll_woken_by_pipe(&ctx).map_err(|x| format!("round {round} e: {x}"))?;
        no_more(&ctx, &format!("round {round}"))?;
    }
    Ok(())
}

/// (e) of [`poll_resfd_eventfd_recursion`]: an epoll instance EP watches a pipe and an eventfd
/// E; a POLL of EP has RESFD = E, and a thread sleeps in poll(2) on EP. A write to the pipe
/// wakes EP's pollers from the pipe's wake-up, EP's poll queue locked: the POLL completes
/// there, and signalling E from there would wake EP's pollers again through E's epoll entry,
/// taking that lock a second time on the same CPU (Linux defers every eventfd-backed poll
/// completion since 6.12.117, "aio: prevent eventfd/epoll recursion on poll").
fn resfd_poll_of_epoll_woken_by_pipe(ctx: &Ctx) -> TestResult {
    let e = EventFd::new();
    let mut p = [0; 2];
    // SAFETY: plain system calls; `p` has room for two fds.
    let ep = unsafe {
        if libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) < 0 {
            return Err(format!("pipe2: {}", errno_name(errno())));
        }
        libc::epoll_create1(libc::EPOLL_CLOEXEC)
    };
    let result = (|| {
        for fd in [p[0], e.0] {
            let mut ee = libc::epoll_event { events: libc::EPOLLIN as u32, u64: fd as u64 };
            // SAFETY: valid epoll_event.
            if unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ee) } < 0 {
                return Err(format!("epoll_ctl: {}", errno_name(errno())));
            }
        }
        let mut r = with_resfd(poll_iocb(ep, POLLIN, 5), e.0);
        ctx.submit1(&mut r).map_err(|x| format!("submit {}", errno_name(x)))?;
        std::thread::scope(|s| {
            let poller = s.spawn(|| {
                let mut pfd = libc::pollfd { fd: ep, events: libc::POLLIN, revents: 0 };
                // SAFETY: one valid pollfd.
                let n = unsafe { libc::poll(&mut pfd, 1, 10_000) };
                (n, pfd.revents)
            });
            // The poller asleep on EP's poll queue, then the write.
            std::thread::sleep(ms(20));
            // SAFETY: writes one byte from a literal.
            unsafe { libc::write(p[1], b"p".as_ptr().cast(), 1) };
            let ev = ctx.wait_events(1, PROMPT)?;
            check_event("", &ev[0], 5, &r)?;
            if ev[0].res as u64 & POLLIN == 0 {
                return Err(format!("res {:#x}", ev[0].res));
            }
            let c = e.wait_for(1, PROMPT);
            let polled = poller.join().map_err(|_| "the poller panicked".to_string())?;
            if c != 1 || polled.0 != 1 || polled.1 & libc::POLLIN == 0 {
                return Err(format!("eventfd {c} (expected 1), poll(2) on the epoll fd {polled:?}"));
            }
            Ok(())
        })
    })();
    close(ep);
    close(p[0]);
    close(p[1]);
    result
}

/// mremap of the ring in a forked child (no table of its own, then with one) must fail with
/// EINVAL ("aio: fix mremap after fork null-deref"); the parent's context keeps working.
fn mremap_ring_after_fork(b: &dyn Aio) -> TestResult {
    let ctx = Ctx::new(b, 8)?;
    let nr = ring_hdr(ctx.id).nr as usize;
    let len = (32 + 32 * nr).div_ceil(4096) * 4096;
    for with_own_ctx in [false, true] {
        let mut fds = [0; 2];
        // SAFETY: a valid array.
        unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
        // SAFETY: fork; the child only makes system calls and leaves with _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: raw calls in the child.
            unsafe {
                let mut own = 0u64;
                if with_own_ctx && b.setup(4, &mut own).is_err() {
                    libc::_exit(3);
                }
                let dst = libc::mmap(std::ptr::null_mut(), len, libc::PROT_NONE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0);
                let r = libc::mremap(ctx.id as *mut libc::c_void, len, len, libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED, dst);
                let e: i64 = if r == libc::MAP_FAILED { errno() as i64 } else { 0 };
                libc::write(fds[1], (&e as *const i64).cast(), 8);
                libc::munmap(ctx.id as *mut libc::c_void, len);
                libc::_exit(0);
            }
        }
        close(fds[1]);
        let mut e = -1i64;
        // SAFETY: reads 8 bytes.
        unsafe { libc::read(fds[0], (&mut e as *mut i64).cast(), 8) };
        close(fds[0]);
        let mut status = 0;
        // SAFETY: reaps our child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        if status != 0 || e != libc::EINVAL as i64 {
            return Err(format!("child (own context: {with_own_ctx}): mremap of the parent's ring gave {} (expected EINVAL), status {status:#x}", if e == 0 { "success".to_string() } else { errno_name(e as i32) }));
        }
    }
    let p = Pipe::new();
    p.put();
    let mut cb = poll_iocb(p.r, POLLIN, 5);
    if ctx.submit1(&mut cb) != Ok(1) {
        return Err("the parent's context no longer accepts requests".into());
    }
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("parent", &ev[0], 5, &cb)
}
