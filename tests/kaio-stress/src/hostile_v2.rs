//! kaio-hostile, ABI version 2 (`ABI.md` "Version 2"): `KAIO_IOC_PGETEVENTS`, every input
//! compared with the native `io_pgetevents` (the same inputs as the getevents groups, plus the
//! signal mask: pointers, `sigsetsize`, check order, and what the mask does to a signal during
//! the wait), and `KAIO_IOC_CANCEL_MATCH`, which has no native analogue: every input is checked
//! against the ABI's rules, down to the errno, whether `nr_running` was written back, which
//! requests were cancelled, and that their events were in the ring when the call returned (or
//! in `*result`, and then not in the ring).
//!
//! The cancel_match groups start each input from three requests pending in the kaio fixture
//! context, submitted in this order: P0 a POLL on the empty pipe (data 0x77), P1 a 10 s DELAY
//! (data 0x88, no file), P2 a POLL on the empty eventfd (data 0x77). Running requests (reads
//! that cannot be cancelled) are preads of an empty blocking pipe, submitted by a helper thread
//! that blocks inside the submit until the read is given data.

use super::*;
use kstress::v2::{self, set_thread_mask, sigbit, thread_mask, NR_SENTINEL};
use std::sync::atomic::{AtomicU32, Ordering};

/// SIGALRM deliveries to the handler (the sigmask cases count them).
pub(super) static ALARMS: AtomicU32 = AtomicU32::new(0);

fn alarms() -> u32 {
    ALARMS.load(Ordering::SeqCst)
}

/// A mask that blocks nothing the sweep uses (SIGUSR2).
fn quiet() -> u64 {
    sigbit(libc::SIGUSR2)
}

impl B {
    /// `io_pgetevents(ctx, min, nr, events, timeout, {sigmask, sigsetsize})`; natively the pair
    /// travels in a `struct __aio_sigset` (NULL when both are 0), for kaio in the argument
    /// block.
    #[allow(clippy::too_many_arguments)]
    fn pgetevents(&self, ctx: u64, min: i64, nr: i64, events: u64, timeout: u64, sigmask: u64, sigsetsize: u64) -> Ret {
        match self.kind {
            Kind::Native => {
                let ks = v2::AioSigset { sigmask, sigsetsize };
                let usig = if sigmask == 0 && sigsetsize == 0 { 0 } else { &ks as *const v2::AioSigset as u64 };
                v2::native_pgetevents(ctx, min, nr, events, timeout, usig)
            }
            Kind::Kaio => v2::pgetevents(
                self.fd,
                &kaio_pgetevents_args { ctx_id: ctx, min_nr: min, nr, events, timeout, sigmask, sigsetsize },
            ),
        }
    }
}

impl Sweep {
    /// A kaio-only input whose whole observation is predicted by the ABI.
    fn kaio_obs(&mut self, name: &str, want: Obs, f: &dyn Fn(&B, &Fds) -> Obs) {
        let Some(kb) = &self.kaio else { return };
        self.group_inputs += 1;
        self.total_inputs += 1;
        self.fds.reset();
        let kv = f(kb, &self.fds);
        if self.verbose {
            self.k.diag(&format!("{}: {name}: kaio {kv:?}", self.group));
        }
        if kv != want {
            self.total_expect_fail += 1;
            self.group_problems.push(format!("{name}: kaio gave {kv:?}, ABI.md says {want:?}"));
        }
    }
}

/// Whether the thread's signal mask is what it was before the call.
fn mask_obs(before: u64) -> String {
    let now = thread_mask();
    if now == before {
        "mask restored".into()
    } else {
        format!("mask {now:#x} after the call, {before:#x} before")
    }
}

/// A mask word placed as `p`, and the pointer to pass.
fn mask_at(p: P, mask: u64) -> Placed {
    place(p, &mask.to_ne_bytes())
}

// ---------------------------------------------------------------------------------------------
// KAIO_IOC_PGETEVENTS

pub(super) fn pgetevents_ctx_nr(s: &mut Sweep) {
    if !s.begin("pgetevents_ctx_nr") {
        return;
    }
    let n = bad_ctx_ids(&s.native).len();
    for i in 0..n {
        let name = bad_ctx_ids(&s.native)[i].0.clone();
        for masked in [false, true] {
            s.both(&format!("{name}, {}", if masked { "mask" } else { "no mask" }), Some(Err(libc::EINVAL)), &|b, _| {
                let ids = bad_ctx_ids(b);
                let mut ev = [IoEvent::default(); 4];
                let z = KernelTimespec::default();
                let m = quiet();
                let before = thread_mask();
                let mp = if masked { &m as *const u64 as u64 } else { 0 };
                let got = b.pgetevents(ids[i].1, 0, 4, ev.as_mut_ptr() as u64, &z as *const _ as u64, mp, 8);
                vec![r(got), mask_obs(before)]
            });
        }
    }
    let pairs: [(i64, i64, Option<Ret>); 14] = [
        (-1, 1, Some(Err(libc::EINVAL))),
        (0, -1, Some(Err(libc::EINVAL))),
        (i64::MIN, 0, Some(Err(libc::EINVAL))),
        (i64::MIN, i64::MIN, Some(Err(libc::EINVAL))),
        (0, 0, Some(Ok(0))),
        (1, 0, Some(Err(libc::EINVAL))),
        (2, 1, Some(Err(libc::EINVAL))),
        (0, 1, Some(Ok(1))),
        (0, i64::MAX, Some(Ok(2))),
        (i64::MAX, i64::MAX, Some(Ok(2))),
        (1 << 32, (1 << 32) + 1, Some(Ok(2))),
        (2, 2, Some(Ok(2))),
        (3, 3, Some(Ok(2))),
        (0, 1 << 32, Some(Ok(2))),
    ];
    for (min, nr, exp) in pairs {
        s.both(&format!("min_nr {min:#x} nr {nr:#x} (2 events ready, zero timeout, a mask)"), exp, &|b, f| {
            fill_events(b, f, 2);
            let mut ev = [IoEvent::default(); 8];
            let z = KernelTimespec::default();
            let m = quiet();
            let before = thread_mask();
            let got = b.pgetevents(b.ctx(), min, nr, ev.as_mut_ptr() as u64, &z as *const _ as u64, &m as *const u64 as u64, 8);
            let after = mask_obs(before);
            let left = extra_events(b, b.ctx());
            vec![r(got), after, format!("left {left}")]
        });
    }
    // Check order: timeout, then sigsetsize, then the mask itself, then the lookup, then
    // min_nr/nr (the mask is installed by then, and must be put back).
    let un = Hole::new().addr();
    let m = quiet();
    let mp = &m as *const u64 as u64;
    let order: [(&str, u64, i64, i64, u64, u64, u64, Ret); 9] = [
        ("bad ctx, bad timeout, sigsetsize 7", 8, 0, 1, 1, mp, 7, Err(libc::EFAULT)),
        ("bad ctx, bad timeout, sigmask unmapped", 8, 0, 1, 1, un, 8, Err(libc::EFAULT)),
        ("bad ctx, sigsetsize 7, sigmask unmapped", 8, 0, 1, 0, un, 7, Err(libc::EINVAL)),
        ("bad ctx, sigmask unmapped", 8, 0, 1, 0, un, 8, Err(libc::EFAULT)),
        ("bad ctx, sigmask kernel", 8, 0, 1, 0, mem::KERNEL_ADDR, 8, Err(libc::EFAULT)),
        ("bad ctx, sigsetsize 0", 8, 0, 1, 0, mp, 0, Err(libc::EINVAL)),
        ("bad ctx, min_nr > nr, a mask", 8, 2, 1, 0, mp, 8, Err(libc::EINVAL)),
        ("bad ctx, nr -1, sigmask null, sigsetsize 7", 8, 0, -1, 0, 0, 7, Err(libc::EINVAL)),
        ("bad ctx, sigmask null, sigsetsize -1", 8, 0, 1, 0, 0, u64::MAX, Err(libc::EINVAL)),
    ];
    for (name, ctx, min, nr, tmo, sm, ss, exp) in order {
        s.both(name, Some(exp), &|b, _| {
            let mut ev = [IoEvent::default(); 1];
            let before = thread_mask();
            let got = b.pgetevents(ctx, min, nr, ev.as_mut_ptr() as u64, tmo, sm, ss);
            vec![r(got), mask_obs(before)]
        });
    }
    s.both("valid ctx, min_nr > nr, a mask (installed, then put back)", Some(Err(libc::EINVAL)), &|b, _| {
        let m = quiet();
        let before = thread_mask();
        let got = b.pgetevents(b.ctx(), 2, 1, 0, 0, &m as *const u64 as u64, 8);
        vec![r(got), mask_obs(before)]
    });
    s.end(false);
}

pub(super) fn pgetevents_events(s: &mut Sweep) {
    if !s.begin("pgetevents_events") {
        return;
    }
    let mut kinds: Vec<P> = BAD.to_vec();
    kinds.extend([P::Straddle(48), P::Straddle(32), P::Straddle(16), P::Straddle(1), P::RO, P::Mis1, P::Mis3, P::Valid]);
    for &p in &kinds {
        for ready in [2usize, 0] {
            s.both(&format!("events {} ({ready} ready, min 0 nr 2, a mask)", p.name()), None, &|b, f| {
                if ready > 0 {
                    fill_events(b, f, ready);
                }
                let pl = place(p, &[0u8; 64]);
                let z = KernelTimespec::default();
                let m = quiet();
                let before = thread_mask();
                let got = b.pgetevents(b.ctx(), 0, 2, pl.addr, &z as *const _ as u64, &m as *const u64 as u64, 8);
                let after = mask_obs(before);
                let left = extra_events(b, b.ctx());
                vec![r(got), after, format!("left {left}")]
            });
        }
        s.both(&format!("events {} (none ready, min 1, 5 ms, a mask)", p.name()), None, &|b, _| {
            let pl = place(p, &[0u8; 64]);
            let t = KernelTimespec { tv_sec: 0, tv_nsec: 5_000_000 };
            let m = quiet();
            let before = thread_mask();
            let got = b.pgetevents(b.ctx(), 1, 2, pl.addr, &t as *const _ as u64, &m as *const u64 as u64, 8);
            vec![r(got), mask_obs(before)]
        });
    }
    s.end(false);
}

/// How a wait ended: interrupted, before `limit`, or at it (or later).
fn took_class(got: &Ret, took: Duration, limit: Duration) -> &'static str {
    if *got == Err(libc::EINTR) {
        "interrupted by the alarm"
    } else if took + Duration::from_millis(5) < limit {
        "before the timeout"
    } else {
        "after the timeout"
    }
}

pub(super) fn pgetevents_timeout(s: &mut Sweep) {
    if !s.begin("pgetevents_timeout") {
        return;
    }
    let mut kinds: Vec<(P, Option<Ret>)> = BAD[1..].iter().map(|&p| (p, Some(Err(libc::EFAULT)))).collect();
    kinds.extend([
        (P::Straddle(8), Some(Err(libc::EFAULT))),
        (P::Straddle(15), Some(Err(libc::EFAULT))),
        (P::RO, Some(Ok(0))),
        (P::Mis1, Some(Ok(0))),
        (P::Mis3, Some(Ok(0))),
    ]);
    for (p, exp) in kinds {
        s.both(&format!("timeout pointer {} ({{0,0}}), a mask", p.name()), exp, &|b, _| {
            let pl = place(p, &bytes_of(&KernelTimespec::default()));
            let mut ev = [IoEvent::default(); 1];
            let m = quiet();
            let before = thread_mask();
            let got = b.pgetevents(b.ctx(), 1, 1, ev.as_mut_ptr() as u64, pl.addr, &m as *const u64 as u64, 8);
            vec![r(got), mask_obs(before)]
        });
    }
    s.both("timeout null, min_nr 0, a mask", Some(Ok(0)), &|b, _| {
        let mut ev = [IoEvent::default(); 1];
        let m = quiet();
        vec![r(b.pgetevents(b.ctx(), 0, 1, ev.as_mut_ptr() as u64, 0, &m as *const u64 as u64, 8))]
    });
    if !s.no_blocking {
        for masked in [false, true] {
            let name = format!("timeout null, min_nr 1, {} (waits until the alarm)", if masked { "a mask" } else { "no mask" });
            s.both(&name, Some(Err(libc::EINTR)), &|b, _| {
                let mut ev = [IoEvent::default(); 1];
                let m = quiet();
                let before = thread_mask();
                let a0 = alarms();
                arm_alarm(300);
                let got = b.pgetevents(b.ctx(), 1, 1, ev.as_mut_ptr() as u64, 0, if masked { &m as *const u64 as u64 } else { 0 }, 8);
                arm_alarm(0);
                vec![r(got), mask_obs(before), format!("handler ran {} times", alarms() - a0)]
            });
        }
    }
    // The getevents group's values: infinite ones are ended by SIGALRM after 300 ms, which
    // the mask (SIGUSR2 only) leaves unblocked.
    let ksm = kaio::time::KTIME_SEC_MAX;
    let vals: [(i64, i64, &str); 16] = [
        (0, 0, "now"),
        (0, 1, "now"),
        (0, 20_000_000, "now"),
        (-1, 1_000_000_000, "now"),
        (1, -1_000_000_000, "now"),
        (i64::MIN, 0, "now"),
        (0, -1, "forever"),
        (-1, 0, "forever"),
        (-1, 999_999_999, "forever"),
        (ksm, 0, "forever"),
        (ksm - 1, 0, "forever"),
        (i64::MAX, i64::MAX, "forever"),
        (i64::MIN, -1, "forever"),
        (-ksm, 0, "forever"),
        (-ksm - 1, 0, "forever"),
        (0, 1_100_000_000, "1.1s"),
    ];
    for (sec, nsec, what) in vals {
        if s.no_blocking && what != "now" {
            continue;
        }
        let exp = if what == "forever" { Err(libc::EINTR) } else { Ok(0) };
        s.both(&format!("timeout {{{sec}, {nsec}}} (expected: {what}), a mask"), Some(exp), &|b, _| {
            let t = KernelTimespec { tv_sec: sec, tv_nsec: nsec };
            let mut ev = [IoEvent::default(); 1];
            let m = quiet();
            let before = thread_mask();
            arm_alarm(if what == "forever" { 300 } else { 3000 });
            let start = Instant::now();
            let got = b.pgetevents(b.ctx(), 1, 1, ev.as_mut_ptr() as u64, &t as *const _ as u64, &m as *const u64 as u64, 8);
            let took = start.elapsed();
            arm_alarm(0);
            let class = if got == Err(libc::EINTR) {
                "interrupted by the alarm"
            } else if took < Duration::from_millis(250) {
                "immediate"
            } else {
                "timed out"
            };
            vec![r(got), class.to_string(), mask_obs(before)]
        });
    }
    s.end(false);
}

pub(super) fn pgetevents_sigmask(s: &mut Sweep) {
    if !s.begin("pgetevents_sigmask") {
        return;
    }
    // The mask pointer (sigsetsize 8, zero timeout, empty ring).
    let mut kinds: Vec<(P, Ret)> = BAD[1..].iter().map(|&p| (p, Err(libc::EFAULT))).collect();
    kinds.extend([
        (P::Straddle(4), Err(libc::EFAULT)),
        (P::Straddle(7), Err(libc::EFAULT)),
        (P::Straddle(1), Err(libc::EFAULT)),
        (P::RO, Ok(0)),
        (P::Mis1, Ok(0)),
        (P::Mis3, Ok(0)),
        (P::Valid, Ok(0)),
    ]);
    for (p, exp) in kinds {
        s.both(&format!("sigmask {}", p.name()), Some(exp), &|b, _| {
            let pl = mask_at(p, quiet());
            let z = KernelTimespec::default();
            let mut ev = [IoEvent::default(); 1];
            let before = thread_mask();
            let got = b.pgetevents(b.ctx(), 1, 1, ev.as_mut_ptr() as u64, &z as *const _ as u64, pl.addr, 8);
            vec![r(got), mask_obs(before)]
        });
    }
    // sigsetsize, with a valid mask and with none.
    for size in [0u64, 1, 4, 7, 8, 9, 16, 64, 128, (1 << 32) | 8, 1 << 63, u64::MAX] {
        for with_mask in [true, false] {
            let exp = if size == 8 || !with_mask { Ok(0) } else { Err(libc::EINVAL) };
            let name = format!("sigsetsize {size:#x}, {}", if with_mask { "mask valid" } else { "sigmask null" });
            s.both(&name, Some(exp), &|b, _| {
                let m = quiet();
                let z = KernelTimespec::default();
                let mut ev = [IoEvent::default(); 1];
                let before = thread_mask();
                let mp = if with_mask { &m as *const u64 as u64 } else { 0 };
                let got = b.pgetevents(b.ctx(), 1, 1, ev.as_mut_ptr() as u64, &z as *const _ as u64, mp, size);
                vec![r(got), mask_obs(before)]
            });
        }
    }
    // Mask values that never block anything the sweep needs (zero timeout).
    for (what, mask) in [
        ("0", 0u64),
        ("SIGKILL|SIGSTOP (unblockable)", sigbit(libc::SIGKILL) | sigbit(libc::SIGSTOP)),
        ("every signal", u64::MAX),
        ("signal 64", 1 << 63),
        ("SIGALRM", sigbit(libc::SIGALRM)),
    ] {
        s.both(&format!("mask {what}, zero timeout"), Some(Ok(0)), &|b, _| {
            let z = KernelTimespec::default();
            let mut ev = [IoEvent::default(); 1];
            let before = thread_mask();
            let got = b.pgetevents(b.ctx(), 1, 1, ev.as_mut_ptr() as u64, &z as *const _ as u64, &mask as *const u64 as u64, 8);
            vec![r(got), mask_obs(before)]
        });
    }
    // A signal the thread blocks, already pending: the mask decides (no wait needed).
    let alrm = sigbit(libc::SIGALRM);
    for (what, mask, ready, exp) in [
        ("mask unblocks it, zero timeout, no event", 0u64, 0usize, Err(libc::EINTR)),
        ("mask unblocks it, 1 event ready", 0, 1, Ok(1)),
        ("mask blocks it too, zero timeout, no event", alrm, 0, Ok(0)),
        ("mask blocks it too, 1 event ready", alrm, 1, Ok(1)),
    ] {
        s.both(&format!("SIGALRM blocked and pending, {what}"), Some(exp), &|b, f| {
            if ready > 0 {
                fill_events(b, f, ready);
            }
            let before = thread_mask();
            set_thread_mask(before | alrm);
            let blocked = thread_mask();
            let a0 = alarms();
            // SAFETY: sends SIGALRM to this thread, which blocks it: it stays pending.
            unsafe { libc::raise(libc::SIGALRM) };
            let z = KernelTimespec::default();
            let mut ev = [IoEvent::default(); 2];
            let got = b.pgetevents(b.ctx(), 1, 2, ev.as_mut_ptr() as u64, &z as *const _ as u64, &mask as *const u64 as u64, 8);
            let ran = alarms() - a0;
            let after = mask_obs(blocked);
            set_thread_mask(before);
            let ran_later = alarms() - a0 - ran;
            vec![r(got), after, format!("handler ran {ran} times by the return, {ran_later} once unblocked")]
        });
    }
    if !s.no_blocking {
        // The alarm fires during the wait.
        for (what, thread_blocks, mask, timeout_ms, exp) in [
            ("mask blocks SIGALRM, 150 ms timeout", false, alrm, 150u64, Ok(0)),
            ("mask blocks every signal, 150 ms timeout", false, u64::MAX, 150, Ok(0)),
            ("thread blocks SIGALRM, mask unblocks it, 2 s timeout", true, 0, 2000, Err(libc::EINTR)),
            ("thread blocks SIGALRM, mask unblocks it, no timeout", true, 0, 0, Err(libc::EINTR)),
            ("mask blocks SIGUSR2 only, 2 s timeout", false, quiet(), 2000, Err(libc::EINTR)),
        ] {
            s.both(&format!("alarm at 40 ms: {what}"), Some(exp), &|b, _| {
                let before = thread_mask();
                if thread_blocks {
                    set_thread_mask(before | alrm);
                }
                let during = thread_mask();
                let t = KernelTimespec { tv_sec: (timeout_ms / 1000) as i64, tv_nsec: ((timeout_ms % 1000) * 1_000_000) as i64 };
                let tp = if timeout_ms == 0 { 0 } else { &t as *const _ as u64 };
                let mut ev = [IoEvent::default(); 1];
                let a0 = alarms();
                arm_alarm(40);
                let start = Instant::now();
                let got = b.pgetevents(b.ctx(), 1, 1, ev.as_mut_ptr() as u64, tp, &mask as *const u64 as u64, 8);
                let took = start.elapsed();
                arm_alarm(0);
                let ran = alarms() - a0;
                let after = mask_obs(during);
                set_thread_mask(before);
                let class = took_class(&got, took, Duration::from_millis(if timeout_ms == 0 { u64::MAX / 4 } else { timeout_ms }));
                vec![r(got), class.into(), after, format!("handler ran {ran} times by the return")]
            });
        }
    }
    s.end(false);
}

// ---------------------------------------------------------------------------------------------
// KAIO_IOC_CANCEL_MATCH: the fixture and the ABI's rules

/// Which file a request was submitted on, or a selector names.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ft {
    Pipe,
    Evfd,
    Other,
}

#[derive(Clone, Copy)]
struct Spec {
    op: u16,
    data: u64,
    file: Option<Ft>,
}

const SPECS: [Spec; 3] = [
    Spec { op: IOCB_CMD_POLL, data: 0x77, file: Some(Ft::Pipe) },
    Spec { op: KAIO_CMD_DELAY, data: 0x88, file: None },
    Spec { op: IOCB_CMD_POLL, data: 0x77, file: Some(Ft::Evfd) },
];

/// The `res` of fixture request `i` when cancelled: POLL 0, DELAY -ECANCELED.
fn cancelled_res(i: usize) -> i64 {
    if SPECS[i].op == KAIO_CMD_DELAY {
        -(libc::ECANCELED as i64)
    } else {
        0
    }
}

/// The fixture requests, each iocb alone at the start of its own page.
struct Pending {
    addrs: [u64; 3],
    _maps: Vec<Mapping>,
}

fn pend_all(b: &B, f: &Fds) -> Pending {
    let ctx = b.ctx();
    let mut maps = Vec::new();
    let mut addrs = [0u64; 3];
    for (i, sp) in SPECS.iter().enumerate() {
        let iocb = match sp.file {
            Some(Ft::Pipe) => Iocb::poll(f.pipe_r, libc::POLLIN as u32),
            Some(_) => Iocb::poll(f.evfd, libc::POLLIN as u32),
            None => Iocb::delay(10_000_000_000, f.file),
        }
        .with_data(sp.data);
        let m = guarded(PAGE);
        // SAFETY: the iocb goes at the start of the fresh page.
        unsafe { *m.ptr::<Iocb>() = iocb };
        let arr = [m.addr as u64];
        let got = b.submit(ctx, 1, arr.as_ptr() as u64);
        assert_eq!(got, Ok(1), "cancel_match fixture: submit of P{i}");
        addrs[i] = m.addr as u64;
        maps.push(m);
    }
    Pending { addrs, _maps: maps }
}

fn nr_obs(v: u32) -> String {
    if v == NR_SENTINEL {
        "nr_running untouched".into()
    } else {
        format!("nr_running {v}")
    }
}

/// Names an event by its iocb: `P0`.. (the fixture) or one of `extra` (name, iocb address).
fn ev_name(e: &IoEvent, p: &Pending, extra: &[(&str, u64)]) -> String {
    let name = match p.addrs.iter().position(|&a| a == e.obj) {
        Some(i) if e.data == SPECS[i].data => format!("P{i}"),
        Some(i) => format!("P{i}(data {:#x})", e.data),
        None => match extra.iter().find(|x| x.1 == e.obj) {
            Some(x) => x.0.to_string(),
            None => format!("obj {:#x} data {:#x}", e.obj, e.data),
        },
    };
    let res2 = if e.res2 != 0 { format!(" res2 {}", e.res2) } else { String::new() };
    format!("{name}={}{res2}", e.res)
}

/// After a call: the `ring` (what was posted by the time it returned, read without waiting),
/// the fixture requests still `pending` (each cancelled now with io_cancel, which must work),
/// and that nothing else ever comes. Returns the events seen in the ring.
fn observe(b: &B, p: &Pending, extra: &[(&str, u64)], obs: &mut Obs) -> Vec<IoEvent> {
    let ctx = b.ctx();
    let mut evs = [IoEvent::default(); 16];
    let z = KernelTimespec::default();
    let n = b.getevents(ctx, 0, 16, evs.as_mut_ptr() as u64, &z as *const _ as u64).unwrap_or(0).max(0) as usize;
    let mut names: Vec<String> = evs[..n].iter().map(|e| ev_name(e, p, extra)).collect();
    names.sort();
    obs.push(format!("ring [{}]", names.join(" ")));
    let seen = evs[..n].to_vec();
    let mut pend = Vec::new();
    for (i, &a) in p.addrs.iter().enumerate() {
        // The page may hold other bytes now (a result written over the iocb): io_cancel reads
        // only aio_key.
        // SAFETY: the iocb's page is mapped read-write.
        unsafe { std::ptr::write_volatile((a as usize + std::mem::offset_of!(Iocb, aio_key)) as *mut u32, 0) };
        if b.cancel(ctx, a, 0) == Err(libc::EINPROGRESS) {
            pend.push(format!("P{i}"));
        }
    }
    obs.push(format!("pending [{}]", pend.join(" ")));
    if !pend.is_empty() {
        let t = KernelTimespec { tv_sec: 2, tv_nsec: 0 };
        let got = b.getevents(ctx, pend.len() as i64, 16, evs.as_mut_ptr() as u64, &t as *const _ as u64);
        if got != Ok(pend.len() as i64) {
            obs.push(format!("io_cancel of the pending ones: {} events", r(got)));
        }
    }
    seen
}

/// What a RESULT buffer holds afterwards (it was filled with 0x5A).
fn result_obs(pl: Option<&Placed>, p: &Pending) -> String {
    let Some(pl) = pl else { return "result null".into() };
    match pl.read::<[u8; 32]>() {
        None => "result unreadable".into(),
        Some(b) if b == [0x5A; 32] => "result untouched".into(),
        // SAFETY: 32 plain bytes as an event.
        Some(b) => format!("result {}", ev_name(&unsafe { std::ptr::read_unaligned(b.as_ptr() as *const IoEvent) }, p, &[])),
    }
}

const C_IOCB: u32 = KAIO_CANCEL_IOCB;
const C_DATA: u32 = KAIO_CANCEL_DATA;
const C_FD: u32 = KAIO_CANCEL_FD;
const C_OP: u32 = KAIO_CANCEL_OP;
const C_ANY: u32 = KAIO_CANCEL_ANY;
const C_ALL: u32 = KAIO_CANCEL_ALL;
const C_WAIT: u32 = KAIO_CANCEL_WAIT;
const C_RESULT: u32 = KAIO_CANCEL_RESULT;
const C_KNOWN: u32 = 0xFF;

fn flag_names(f: u32) -> String {
    let names = ["IOCB", "DATA", "FD", "OP", "ANY", "ALL", "WAIT", "RESULT"];
    let mut v: Vec<String> = (0..8).filter(|b| f & (1 << b) != 0).map(|b| names[b].to_string()).collect();
    if f & !C_KNOWN != 0 {
        v.push(format!("{:#x}", f & !C_KNOWN));
    }
    if v.is_empty() {
        "none".into()
    } else {
        v.join("|")
    }
}

/// The flag rules: unknown bits; a selector or ANY; IOCB with DATA, ANY with a selector and
/// RESULT with ALL/ANY/WAIT are EINVAL.
fn flags_valid(f: u32) -> bool {
    let sel = f & (C_IOCB | C_DATA | C_FD | C_OP);
    let any = f & C_ANY != 0;
    f & !C_KNOWN == 0
        && (sel != 0 || any)
        && !(any && sel != 0)
        && f & (C_IOCB | C_DATA) != (C_IOCB | C_DATA)
        && !(f & C_RESULT != 0 && f & (C_ALL | C_ANY | C_WAIT) != 0)
}

/// A key: the address of fixture request `i`'s iocb, or a raw value.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Key {
    Iocb(usize),
    Raw(u64),
}

/// An fd for KAIO_CANCEL_FD.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum FdSel {
    Pipe,
    Evfd,
    File,
    /// `dup` of the pipe's read end: the same open file.
    Dup,
    /// The pipe opened again through /proc/self/fd: the same pipe, another open file.
    Reopen,
    Dir,
    Dev,
    /// A number that names no file fget takes (closed, out of range, O_PATH...).
    Bad(i32),
}

impl FdSel {
    fn file(self) -> Option<Ft> {
        match self {
            FdSel::Pipe | FdSel::Dup => Some(Ft::Pipe),
            FdSel::Evfd => Some(Ft::Evfd),
            FdSel::Bad(_) => None,
            _ => Some(Ft::Other),
        }
    }
}

/// fds opened for the cancel_match groups.
#[derive(Clone, Copy)]
struct ExtraFds {
    dup: i32,
    reopen: i32,
}

impl ExtraFds {
    fn new(f: &Fds) -> ExtraFds {
        // SAFETY: plain system calls on our own fds.
        unsafe {
            let dup = libc::fcntl(f.pipe_r, libc::F_DUPFD_CLOEXEC, 0);
            let path = format!("/proc/self/fd/{}\0", f.pipe_r);
            let reopen = libc::open(path.as_ptr() as *const libc::c_char, libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC);
            assert!(dup >= 0 && reopen >= 0, "cancel_match fds: {}", errno_name(errno()));
            ExtraFds { dup, reopen }
        }
    }
    fn fd(&self, f: &Fds, s: FdSel) -> i32 {
        match s {
            FdSel::Pipe => f.pipe_r,
            FdSel::Evfd => f.evfd,
            FdSel::File => f.file,
            FdSel::Dup => self.dup,
            FdSel::Reopen => self.reopen,
            FdSel::Dir => f.dir,
            FdSel::Dev => f.dev,
            FdSel::Bad(n) => n,
        }
    }
    fn close(self) {
        // SAFETY: closes the fds this value opened.
        unsafe {
            libc::close(self.dup);
            libc::close(self.reopen);
        }
    }
}

/// One CANCEL_MATCH input over the fixture.
#[derive(Clone, Copy, Debug)]
struct Cm {
    flags: u32,
    key: Key,
    fd: FdSel,
    op: u16,
    reserved1: u16,
    reserved2: [u64; 2],
    /// Where the WAIT timeout lies (holding {1, 0}): `None` for a null pointer.
    timeout: Option<P>,
    /// Where the RESULT buffer lies (filled with 0x5A): `None` for a null pointer.
    result: Option<P>,
}

impl Cm {
    fn new(flags: u32) -> Cm {
        Cm {
            flags,
            key: Key::Iocb(0),
            fd: FdSel::Pipe,
            op: IOCB_CMD_POLL,
            reserved1: 0,
            reserved2: [0, 0],
            timeout: Some(P::Valid),
            result: Some(P::Valid),
        }
    }

    /// The fixture requests the selector matches, oldest first.
    fn matched(&self) -> Vec<usize> {
        let f = self.flags;
        (0..3)
            .filter(|&i| {
                let sp = SPECS[i];
                (f & C_IOCB == 0 || self.key == Key::Iocb(i))
                    && (f & C_DATA == 0 || self.key == Key::Raw(sp.data))
                    && (f & C_FD == 0 || (sp.file.is_some() && sp.file == self.fd.file()))
                    && (f & C_OP == 0 || self.op == sp.op)
            })
            .collect()
    }

    /// What ABI.md says the call gives: [return, nr_running, ring, pending, (result)].
    fn expect(&self) -> Obs {
        let f = self.flags;
        let rmode = f & C_RESULT != 0;
        let res_readable = self.result.is_some_and(|p| p.readable());
        let res_writable = self.result.is_some_and(|p| p.readable() && p != P::RO);
        let untouched_result = || -> String {
            match self.result {
                None => "result null".into(),
                Some(_) if res_readable => "result untouched".into(),
                Some(_) => "result unreadable".into(),
            }
        };
        let all_pending = "pending [P0 P1 P2]".to_string();
        let finish = |ret: Ret, nr: &str, taken: &[usize], to_result: bool| -> Obs {
            let ring: Vec<String> = if to_result { Vec::new() } else { taken.iter().map(|&i| format!("P{i}={}", cancelled_res(i))).collect() };
            let pend: Vec<String> = (0..3).filter(|i| !taken.contains(i)).map(|i| format!("P{i}")).collect();
            let mut o = vec![r(ret), nr.to_string(), format!("ring [{}]", ring.join(" ")), format!("pending [{}]", pend.join(" "))];
            if rmode {
                o.push(if to_result && !taken.is_empty() {
                    format!("result P{}={}", taken[0], cancelled_res(taken[0]))
                } else {
                    untouched_result()
                });
            }
            o
        };
        let _ = all_pending;
        let valid = flags_valid(f) && self.reserved1 == 0 && self.reserved2 == [0, 0];
        if !valid {
            return finish(Err(libc::EINVAL), "nr_running untouched", &[], false);
        }
        if f & C_WAIT != 0 && !self.timeout.is_none_or(|p| p.readable() || matches!(p, P::Valid)) {
            return finish(Err(libc::EFAULT), "nr_running untouched", &[], false);
        }
        if f & C_FD != 0 {
            if let FdSel::Bad(_) = self.fd {
                return finish(Err(libc::EBADF), "nr_running 0", &[], false);
            }
        }
        let m = self.matched();
        let taken: Vec<usize> = if f & (C_ALL | C_ANY) != 0 { m } else { m.into_iter().take(1).collect() };
        if rmode {
            if taken.is_empty() {
                finish(Err(libc::EINVAL), "nr_running 0", &[], false)
            } else if res_writable {
                finish(Ok(0), "nr_running 0", &taken, true)
            } else {
                finish(Err(libc::EFAULT), "nr_running 0", &taken, false)
            }
        } else if taken.is_empty() {
            finish(Err(libc::ENOENT), "nr_running 0", &[], false)
        } else {
            finish(Ok(taken.len() as i64), "nr_running 0", &taken, false)
        }
    }

    fn name(&self) -> String {
        let mut s = format!("flags {}", flag_names(self.flags));
        match self.key {
            Key::Iocb(i) => s += &format!(" key &P{i}"),
            Key::Raw(v) => s += &format!(" key {v:#x}"),
        }
        s += &format!(" fd {:?} op {:#x}", self.fd, self.op);
        if self.reserved1 != 0 || self.reserved2 != [0, 0] {
            s += &format!(" reserved1 {:#x} reserved2 {:x?}", self.reserved1, self.reserved2);
        }
        if self.flags & C_WAIT != 0 {
            s += &format!(" timeout {}", self.timeout.map_or("null".into(), |p| p.name()));
        }
        if self.flags & C_RESULT != 0 {
            s += &format!(" result {}", self.result.map_or("null".into(), |p| p.name()));
        }
        s
    }

    /// Runs the input over a fresh fixture (context `ctx`, or the fixture's).
    fn run(&self, b: &B, f: &Fds, x: &ExtraFds, ctx: Option<u64>) -> Obs {
        let p = pend_all(b, f);
        let tpl = self.timeout.map(|k| place(k, &bytes_of(&KernelTimespec { tv_sec: 1, tv_nsec: 0 })));
        let rpl = self.result.map(|k| place(k, &[0x5Au8; 32]));
        let key = match self.key {
            Key::Iocb(i) => p.addrs[i],
            Key::Raw(v) => v,
        };
        let mut a = v2::match_args(ctx.unwrap_or_else(|| b.ctx()), self.flags, key);
        a.fd = x.fd(f, self.fd);
        a.opcode = self.op;
        a.reserved1 = self.reserved1;
        a.reserved2 = self.reserved2;
        a.timeout = tpl.as_ref().map_or(0, |t| t.addr);
        a.result = rpl.as_ref().map_or(0, |t| t.addr);
        let got = v2::cancel_match(b.fd, &mut a);
        let mut o = vec![r(got), nr_obs(a.nr_running)];
        observe(b, &p, &[], &mut o);
        if self.flags & C_RESULT != 0 {
            o.push(result_obs(rpl.as_ref(), &p));
        }
        o
    }
}

// ---------------------------------------------------------------------------------------------
// KAIO_IOC_CANCEL_MATCH groups

/// Every combination of the eight flags, each valid one with selectors naming P0, P1, P2 and
/// nothing; every unknown bit.
pub(super) fn cancel_match_flags(s: &mut Sweep) {
    if !s.begin("cancel_match_flags") {
        return;
    }
    let x = ExtraFds::new(&s.fds);
    // (key for IOCB, key for DATA, fd, opcode): selectors naming P0 (and P2 for DATA/OP),
    // P1 (FD cannot: a delay keeps no file), P2, and nothing.
    let variants: [(&str, Key, Key, FdSel, u16); 4] = [
        ("P0", Key::Iocb(0), Key::Raw(0x77), FdSel::Pipe, IOCB_CMD_POLL),
        ("P1", Key::Iocb(1), Key::Raw(0x88), FdSel::Pipe, KAIO_CMD_DELAY),
        ("P2", Key::Iocb(2), Key::Raw(0x77), FdSel::Evfd, IOCB_CMD_POLL),
        ("none", Key::Raw(0x1000), Key::Raw(0x99), FdSel::File, IOCB_CMD_PREAD),
    ];
    for f in 0u32..=0xFF {
        let vs: &[_] = if flags_valid(f) { &variants } else { &variants[..1] };
        for &(vname, ik, dk, fd, op) in vs {
            let mut c = Cm::new(f);
            c.key = if f & C_DATA != 0 { dk } else { ik };
            c.fd = fd;
            c.op = op;
            s.kaio_obs(&format!("{} (selectors {vname})", c.name()), c.expect(), &|b, f| c.run(b, f, &x, None));
        }
    }
    let mut unknown: Vec<u32> = (8..32).map(|b| C_ANY | (1 << b)).collect();
    unknown.extend([u32::MAX, 0xFFFF_FF00 | C_IOCB, 0x100, 0x8000_0000 | C_DATA]);
    for f in unknown {
        let c = Cm::new(f);
        s.kaio_obs(&c.name(), c.expect(), &|b, f| c.run(b, f, &x, None));
    }
    x.close();
    s.end(true);
}

/// The argument block, the context, the reserved fields, fds, keys, opcodes, the WAIT timeout
/// pointer, and the check order.
pub(super) fn cancel_match_args(s: &mut Sweep) {
    if !s.begin("cancel_match_args") {
        return;
    }
    let x = ExtraFds::new(&s.fds);
    // The block itself (ANY): unreadable blocks fail first; a read-only one is read, and the
    // module finds right after the lookup that nr_running cannot be written: EFAULT, nothing
    // cancelled.
    let mut kinds: Vec<P> = BAD.to_vec();
    kinds.extend([P::Straddle(63), P::Straddle(32), P::Straddle(28), P::Straddle(1), P::RO, P::Mis1, P::Mis3, P::Valid]);
    for k in kinds {
        let want = match k {
            P::RO => vec![r(Err(libc::EFAULT)), "nr_running untouched".into(), "ring []".into(), "pending [P0 P1 P2]".into()],
            P::Mis1 | P::Mis3 | P::Valid => vec![r(Ok(3)), "nr_running 0".into(), "ring [P0=0 P1=-125 P2=0]".into(), "pending []".into()],
            _ => vec![r(Err(libc::EFAULT)), "nr_running unreadable".into(), "ring []".into(), "pending [P0 P1 P2]".into()],
        };
        s.kaio_obs(&format!("args block {} (ANY)", k.name()), want, &|b, f| {
            let p = pend_all(b, f);
            let a = v2::match_args(b.ctx(), C_ANY, 0);
            let pl = place(k, &bytes_of(&a));
            // SAFETY: a hostile argument block, dereferenced by the kernel only; no timeout or
            // result pointer in it.
            let got = unsafe { v2::cancel_match_at(b.fd, pl.addr) };
            let nr = pl.read::<kaio_cancel_match_args>().map_or("nr_running unreadable".into(), |a| nr_obs(a.nr_running));
            let mut o = vec![r(got), nr];
            observe(b, &p, &[], &mut o);
            o
        });
    }
    // A read-only block: errors before the lookup are returned as they are; right after it the
    // write-back of nr_running fails (EFAULT) before anything else is done.
    let ro: [(&str, u32, Option<u64>, Key, FdSel, Obs); 6] = [
        ("unknown flag", 0x100, None, Key::Raw(0), FdSel::Pipe, vec![r(Err(libc::EINVAL)), "nr_running untouched".into(), "ring []".into(), "pending [P0 P1 P2]".into()]),
        ("ANY, bad ctx", C_ANY, Some(8), Key::Raw(0), FdSel::Pipe, vec![r(Err(libc::EINVAL)), "nr_running untouched".into(), "ring []".into(), "pending [P0 P1 P2]".into()]),
        ("WAIT, null timeout pointer ok, IOCB none", C_IOCB | C_WAIT, None, Key::Raw(0x1000), FdSel::Pipe, vec![r(Err(libc::EFAULT)), "nr_running untouched".into(), "ring []".into(), "pending [P0 P1 P2]".into()]),
        ("FD closed (EBADF after the lookup)", C_FD, None, Key::Raw(0), FdSel::Bad(FD_CLOSED), vec![r(Err(libc::EFAULT)), "nr_running untouched".into(), "ring []".into(), "pending [P0 P1 P2]".into()]),
        ("IOCB naming nothing (ENOENT)", C_IOCB, None, Key::Raw(0x1000), FdSel::Pipe, vec![r(Err(libc::EFAULT)), "nr_running untouched".into(), "ring []".into(), "pending [P0 P1 P2]".into()]),
        ("IOCB P1", C_IOCB, None, Key::Iocb(1), FdSel::Pipe, vec![r(Err(libc::EFAULT)), "nr_running untouched".into(), "ring []".into(), "pending [P0 P1 P2]".into()]),
    ];
    for (what, flags, ctx, key, fd, want) in ro {
        s.kaio_obs(&format!("args block readonly: {what}"), want, &|b, f| {
            let p = pend_all(b, f);
            let k = match key {
                Key::Iocb(i) => p.addrs[i],
                Key::Raw(v) => v,
            };
            let mut a = v2::match_args(ctx.unwrap_or_else(|| b.ctx()), flags, k);
            a.fd = x.fd(f, fd);
            let pl = place(P::RO, &bytes_of(&a));
            // SAFETY: a read-only argument block; no timeout or result pointer in it.
            let got = unsafe { v2::cancel_match_at(b.fd, pl.addr) };
            let nr = pl.read::<kaio_cancel_match_args>().map_or("nr_running unreadable".into(), |a| nr_obs(a.nr_running));
            let mut o = vec![r(got), nr];
            observe(b, &p, &[], &mut o);
            o
        });
    }
    // The context: ids that name none (EINVAL, nothing written back, nothing cancelled).
    let n = bad_ctx_ids(&s.native).len();
    let none = vec![r(Err(libc::EINVAL)), "nr_running untouched".into(), "ring []".into(), "pending [P0 P1 P2]".into()];
    for i in 0..n {
        let name = bad_ctx_ids(&s.native)[i].0.clone();
        s.kaio_obs(&format!("{name} (ANY)"), none.clone(), &|b, f| {
            let ids = bad_ctx_ids(b);
            Cm::new(C_ANY).run(b, f, &x, Some(ids[i].1))
        });
    }
    let native_ctx = s.native.ctx();
    s.kaio_obs("a native context's id (ANY)", none.clone(), &|b, f| Cm::new(C_ANY).run(b, f, &x, Some(native_ctx)));
    s.kaio_obs("the fixture through another /dev/kaio fd (ANY)", none.clone(), &|b, f| {
        let p = pend_all(b, f);
        let other = kaio::raw::open().expect("a second /dev/kaio");
        let mut a = v2::match_args(b.ctx(), C_ANY, 0);
        let got = v2::cancel_match(other, &mut a);
        // SAFETY: closes the fd just opened.
        unsafe { libc::close(other) };
        let mut o = vec![r(got), nr_obs(a.nr_running)];
        observe(b, &p, &[], &mut o);
        o
    });
    // Reserved fields.
    for r1 in [1u16, 0x8000, 0xFFFF] {
        let mut c = Cm::new(C_ANY);
        c.reserved1 = r1;
        s.kaio_obs(&c.name(), c.expect(), &|b, f| c.run(b, f, &x, None));
    }
    for r2 in [[1u64, 0], [0, 1], [u64::MAX, u64::MAX], [1 << 63, 0]] {
        let mut c = Cm::new(C_IOCB);
        c.reserved2 = r2;
        s.kaio_obs(&c.name(), c.expect(), &|b, f| c.run(b, f, &x, None));
    }
    // fds.
    let mut fds = vec![FdSel::Pipe, FdSel::Evfd, FdSel::File, FdSel::Dup, FdSel::Reopen, FdSel::Dir, FdSel::Dev];
    fds.extend([-1, FD_HUGE, FD_CLOSED, i32::MIN, i32::MAX, 1 << 20, s.fds.opath].map(FdSel::Bad));
    for &fd in &fds {
        for flags in [C_FD, C_FD | C_ALL, C_FD | C_OP, C_FD | C_DATA, C_FD | C_RESULT] {
            let mut c = Cm::new(flags);
            c.fd = fd;
            c.key = Key::Raw(0x77);
            s.kaio_obs(&c.name(), c.expect(), &|b, f| c.run(b, f, &x, None));
        }
        // Without the FD flag the fd is not looked at.
        let mut c = Cm::new(C_IOCB);
        c.fd = fd;
        s.kaio_obs(&c.name(), c.expect(), &|b, f| c.run(b, f, &x, None));
    }
    // An fd that names no file, on a context that does not exist: the lookup comes first.
    s.kaio_obs("FD closed, bad ctx", none.clone(), &|b, f| {
        let mut c = Cm::new(C_FD);
        c.fd = FdSel::Bad(FD_CLOSED);
        c.run(b, f, &x, Some(8))
    });
    // Keys and opcodes.
    for key in [0u64, 1, 0x77, 0x88, u64::MAX, mem::KERNEL_ADDR, 1 << 63] {
        for flags in [C_IOCB, C_DATA, C_IOCB | C_ALL, C_DATA | C_ALL, C_DATA | C_OP] {
            let mut c = Cm::new(flags);
            c.key = Key::Raw(key);
            s.kaio_obs(&c.name(), c.expect(), &|b, f| c.run(b, f, &x, None));
        }
    }
    for op in [0u16, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x4AFF, KAIO_CMD_DELAY, 0x4B01, 0x8000, 0xFFFF] {
        for flags in [C_OP, C_OP | C_ALL, C_OP | C_FD, C_OP | C_RESULT] {
            let mut c = Cm::new(flags);
            c.op = op;
            s.kaio_obs(&c.name(), c.expect(), &|b, f| c.run(b, f, &x, None));
        }
    }
    // The WAIT timeout pointer (nothing running: no wait), and the pointers the flags do not
    // ask for, which are not looked at.
    let mut tk: Vec<P> = BAD[1..].to_vec();
    tk.extend([P::Straddle(8), P::Straddle(15), P::RO, P::Mis1, P::Mis3]);
    for k in tk {
        for flags in [C_ANY | C_WAIT, C_IOCB | C_WAIT] {
            let mut c = Cm::new(flags);
            c.timeout = Some(k);
            s.kaio_obs(&c.name(), c.expect(), &|b, f| c.run(b, f, &x, None));
        }
        let mut c = Cm::new(C_ANY);
        c.timeout = Some(k);
        c.result = Some(k);
        s.kaio_obs(&format!("{} (timeout and result {} but no WAIT/RESULT)", c.name(), k.name()), c.expect(), &|b, f| c.run(b, f, &x, None));
    }
    let mut c = Cm::new(C_ANY | C_WAIT);
    c.timeout = None;
    s.kaio_obs(&c.name(), c.expect(), &|b, f| c.run(b, f, &x, None));
    // Order: flags, then reserved, then the selector rules, then the timeout, then the lookup.
    for (what, flags, r1, tmo, ctx, want) in [
        ("unknown flag, bad timeout, bad ctx", 0x100 | C_WAIT, 0u16, Some(P::Unmapped), Some(8u64), Err(libc::EINVAL)),
        ("reserved1, bad timeout, bad ctx", C_ANY | C_WAIT, 1, Some(P::Unmapped), Some(8), Err(libc::EINVAL)),
        ("IOCB|DATA, bad timeout, bad ctx", C_IOCB | C_DATA | C_WAIT, 0, Some(P::Unmapped), Some(8), Err(libc::EINVAL)),
        ("RESULT|WAIT, bad timeout, bad ctx", C_IOCB | C_RESULT | C_WAIT, 0, Some(P::Unmapped), Some(8), Err(libc::EINVAL)),
        ("bad timeout, bad ctx", C_ANY | C_WAIT, 0, Some(P::Unmapped), Some(8), Err(libc::EFAULT)),
        ("bad timeout, bad fd", C_FD | C_WAIT, 0, Some(P::Kernel), None, Err(libc::EFAULT)),
    ] {
        s.kaio_obs(&format!("order: {what}"), vec![r(want), "nr_running untouched".into(), "ring []".into(), "pending [P0 P1 P2]".into()], &|b, f| {
            let mut c = Cm::new(flags);
            c.reserved1 = r1;
            c.timeout = tmo;
            c.fd = FdSel::Bad(FD_CLOSED);
            c.result = None;
            let mut o = c.run(b, f, &x, ctx);
            o.truncate(4);
            o
        });
    }
    x.close();
    s.end(true);
}

/// KAIO_CANCEL_RESULT: where the event goes, for every kind of result pointer, including the
/// ring itself, the argument block and the iocb.
pub(super) fn cancel_match_result(s: &mut Sweep) {
    if !s.begin("cancel_match_result") {
        return;
    }
    let x = ExtraFds::new(&s.fds);
    let mut kinds: Vec<Option<P>> = BAD[1..].iter().map(|&p| Some(p)).collect();
    kinds.extend([None, Some(P::Straddle(1)), Some(P::Straddle(16)), Some(P::Straddle(31)), Some(P::RO), Some(P::Mis1), Some(P::Mis3), Some(P::Valid)]);
    for k in kinds {
        for (flags, key) in [(C_IOCB, Key::Iocb(0)), (C_IOCB, Key::Iocb(1)), (C_DATA, Key::Raw(0x77)), (C_OP, Key::Raw(0)), (C_FD, Key::Raw(0))] {
            let mut c = Cm::new(flags | C_RESULT);
            c.key = key;
            c.fd = FdSel::Evfd;
            c.op = KAIO_CMD_DELAY;
            c.result = k;
            s.kaio_obs(&c.name(), c.expect(), &|b, f| c.run(b, f, &x, None));
        }
    }
    // A result buffer that is exactly 32 bytes before an unmapped page.
    let mut c = Cm::new(C_IOCB | C_RESULT);
    c.result = Some(P::Straddle(32));
    let mut want = c.expect();
    // Straddle(32) holds the whole event: it is written.
    want[0] = r(Ok(0));
    want[2] = "ring []".into();
    want[3] = "pending [P1 P2]".into();
    want[4] = "result P0=0".into();
    s.kaio_obs(&c.name(), want, &|b, f| {
        let p = pend_all(b, f);
        let pl = place(P::Straddle(32), &[0x5Au8; 32]);
        let mut a = v2::match_args(b.ctx(), C_IOCB | C_RESULT, p.addrs[0]);
        a.result = pl.addr;
        let got = v2::cancel_match(b.fd, &mut a);
        let mut o = vec![r(got), nr_obs(a.nr_running)];
        observe(b, &p, &[], &mut o);
        // SAFETY: the 32 bytes at the end of the mapped page.
        let e = unsafe { std::ptr::read_unaligned(pl.addr as *const IoEvent) };
        o.push(format!("result {}", ev_name(&e, &p, &[])));
        o
    });
    // Into the ring: its last event slot, then its header.
    s.kaio_obs("result = the ring's last event slot", vec![r(Ok(0)), "nr_running 0".into(), "ring []".into(), "pending [P1 P2]".into(), "slot P0=0".into()], &|b, f| {
        let p = pend_all(b, f);
        let ctx = b.ctx();
        // SAFETY: the fixture's ring is mapped at its id.
        let nr = unsafe { std::ptr::read_volatile(ctx as *const AioRing) }.nr as u64;
        let slot = ctx + 32 + 32 * (nr - 1);
        let mut a = v2::match_args(ctx, C_IOCB | C_RESULT, p.addrs[0]);
        a.result = slot;
        let got = v2::cancel_match(b.fd, &mut a);
        let mut o = vec![r(got), nr_obs(a.nr_running)];
        observe(b, &p, &[], &mut o);
        // SAFETY: as above.
        let e = unsafe { std::ptr::read_volatile(slot as *const IoEvent) };
        o.push(format!("slot {}", ev_name(&e, &p, &[])));
        o
    });
    s.kaio_obs(
        "result = the ring header (then put back)",
        vec![r(Ok(0)), "nr_running 0".into(), "header now holds the event: true".into(), "getevents EINVAL".into(), "ring [] after the header is put back".into(), "pending [P1 P2]".into()],
        &|b, f| {
            let p = pend_all(b, f);
            let ctx = b.ctx();
            // SAFETY: the fixture's ring header is mapped read-write at its id.
            let saved = unsafe { std::ptr::read_volatile(ctx as *const AioRing) };
            let mut a = v2::match_args(ctx, C_IOCB | C_RESULT, p.addrs[0]);
            a.result = ctx;
            let got = v2::cancel_match(b.fd, &mut a);
            // SAFETY: as above.
            let e = unsafe { std::ptr::read_volatile(ctx as *const IoEvent) };
            let holds = e.data == 0x77 && e.obj == p.addrs[0] && e.res == 0 && e.res2 == 0;
            let mut ev = [IoEvent::default(); 4];
            let z = KernelTimespec::default();
            // The id now reads 0x77: no context by that name (EINVAL, as a scribbled id).
            let g = b.getevents(ctx, 0, 4, ev.as_mut_ptr() as u64, &z as *const _ as u64);
            // SAFETY: as above.
            unsafe { std::ptr::write_volatile(ctx as *mut AioRing, saved) };
            let mut o = vec![r(got), nr_obs(a.nr_running), format!("header now holds the event: {holds}"), format!("getevents {}", r(g))];
            let mut rest = Vec::new();
            observe(b, &p, &[], &mut rest);
            o.push(format!("{} after the header is put back", rest[0]));
            o.extend(rest.into_iter().skip(1));
            o
        },
    );
    // Into the argument block itself: the event is written there, then nr_running over its
    // bytes 28..32 (res2's high half, 0 anyway).
    s.kaio_obs(
        "result = the argument block",
        vec![r(Ok(0)), "block: data 0x77, obj right, res 0, res2 0, nr_running 0".into(), "ring []".into(), "pending [P1 P2]".into()],
        &|b, f| {
            let p = pend_all(b, f);
            let m = guarded(PAGE);
            let a = v2::match_args(b.ctx(), C_IOCB | C_RESULT, p.addrs[0]);
            // SAFETY: the block goes at the start of the fresh page; its result is itself.
            unsafe {
                *m.ptr::<kaio_cancel_match_args>() = kaio_cancel_match_args { result: m.addr as u64, ..a };
            }
            // SAFETY: the block and its result lie in the page just filled.
            let got = unsafe { v2::cancel_match_at(b.fd, m.addr as u64) };
            // SAFETY: the page is mapped.
            let e = unsafe { std::ptr::read_volatile(m.ptr::<IoEvent>()) };
            // SAFETY: as above.
            let nr = unsafe { (*m.ptr::<kaio_cancel_match_args>()).nr_running };
            let mut o = vec![
                r(got),
                format!(
                    "block: data {:#x}, obj {}, res {}, res2 {}, nr_running {nr}",
                    e.data,
                    if e.obj == p.addrs[0] { "right" } else { "wrong" },
                    e.res,
                    e.res2
                ),
            ];
            observe(b, &p, &[], &mut o);
            o
        },
    );
    // Over the iocb of the request it cancels.
    s.kaio_obs("result = the cancelled request's own iocb", vec![r(Ok(0)), "nr_running 0".into(), "iocb now holds P0=0".into(), "ring []".into(), "pending [P1 P2]".into()], &|b, f| {
        let p = pend_all(b, f);
        let mut a = v2::match_args(b.ctx(), C_IOCB | C_RESULT, p.addrs[0]);
        a.result = p.addrs[0];
        let got = v2::cancel_match(b.fd, &mut a);
        // SAFETY: the iocb's page is mapped.
        let e = unsafe { std::ptr::read_volatile(p.addrs[0] as *const IoEvent) };
        let mut o = vec![r(got), nr_obs(a.nr_running), format!("iocb now holds {}", ev_name(&e, &p, &[]))];
        observe(b, &p, &[], &mut o);
        o
    });
    // A read-only argument block in RESULT mode: the call must not copy an event to `result`
    // and then report EFAULT (the caller would be told it does not have the event). The
    // module fails on the write-back of nr_running before cancelling anything.
    s.kaio_obs(
        "args block readonly, RESULT by iocb P0 (result writable)",
        vec![r(Err(libc::EFAULT)), "nr_running untouched".into(), "ring []".into(), "pending [P0 P1 P2]".into(), "result untouched".into()],
        &|b, f| {
            let p = pend_all(b, f);
            let rpl = place(P::Valid, &[0x5Au8; 32]);
            let mut a = v2::match_args(b.ctx(), C_IOCB | C_RESULT, p.addrs[0]);
            a.result = rpl.addr;
            let pl = place(P::RO, &bytes_of(&a));
            // SAFETY: a read-only argument block whose result is a writable local page.
            let got = unsafe { v2::cancel_match_at(b.fd, pl.addr) };
            let nr = pl.read::<kaio_cancel_match_args>().map_or("nr_running unreadable".into(), |a| nr_obs(a.nr_running));
            let mut o = vec![r(got), nr];
            observe(b, &p, &[], &mut o);
            o.push(result_obs(Some(&rpl), &p));
            o
        },
    );
    x.close();
    s.end(true);
}

/// A read that cannot be cancelled: a pread of an empty blocking pipe, submitted by a helper
/// thread that stays inside the submit until the pipe is written.
struct Running {
    r: i32,
    w: i32,
    iocb: Box<Iocb>,
    _buf: Box<[u8; 64]>,
    th: Option<std::thread::JoinHandle<Ret>>,
}

const R_DATA: u64 = 0x55;

impl Running {
    fn start(b: &B) -> Running {
        let mut p = [0i32; 2];
        // SAFETY: fills a two-element array.
        assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        let mut buf = Box::new([0u8; 64]);
        let iocb = Box::new(Iocb::new(IOCB_CMD_PREAD, p[0]).with_buf(buf.as_mut_ptr() as u64, 16, 0).with_data(R_DATA));
        let (fd, ctx, ip) = (b.fd, b.ctx(), &*iocb as *const Iocb as u64);
        let th = std::thread::spawn(move || {
            block_all_signals();
            let arr = [ip];
            // The iocb and its buffer live until `finish` joins this thread.
            kaio::raw::submit(fd, ctx, 1, arr.as_ptr() as *const *mut Iocb)
        });
        // Until the read is in flight: a match by its data finds it running.
        let start = Instant::now();
        loop {
            let mut a = v2::match_args(ctx, C_DATA, R_DATA);
            match v2::cancel_match(fd, &mut a) {
                Err(libc::EALREADY) => break,
                Err(libc::ENOENT) if start.elapsed() < Duration::from_secs(10) => std::thread::sleep(Duration::from_millis(1)),
                other => panic!("the running read never showed up: {}", r(other)),
            }
        }
        Running { r: p[0], w: p[1], iocb, _buf: buf, th: Some(th) }
    }

    fn addr(&self) -> u64 {
        &*self.iocb as *const Iocb as u64
    }

    /// Gives the read its 16 bytes (after `delay_ms`, from another thread if not 0).
    fn feed_later(&self, delay_ms: u64) -> std::thread::JoinHandle<()> {
        let w = self.w;
        std::thread::spawn(move || {
            block_all_signals();
            std::thread::sleep(Duration::from_millis(delay_ms));
            // SAFETY: writes 16 bytes from a literal to our pipe.
            unsafe { libc::write(w, b"0123456789abcdef".as_ptr().cast(), 16) };
        })
    }

    /// Lets the read complete; its event must come (unless `seen` in the ring already).
    fn finish(mut self, b: &B, seen: &[IoEvent], obs: &mut Obs) {
        self.feed_later(0).join().ok();
        let sub = self.th.take().map(|t| t.join().unwrap_or(Err(-1)));
        if sub != Some(Ok(1)) {
            obs.push(format!("the running read's submit returned {:?}", sub.map(|s| r(s))));
        }
        if !seen.iter().any(|e| e.obj == self.addr()) {
            let mut ev = [IoEvent::default(); 4];
            let t = KernelTimespec { tv_sec: 5, tv_nsec: 0 };
            let got = b.getevents(b.ctx(), 1, 4, ev.as_mut_ptr() as u64, &t as *const _ as u64);
            if got != Ok(1) || ev[0].obj != self.addr() || ev[0].res != 16 {
                obs.push(format!("the running read's event: {} {:?}", r(got), ev[0]));
            }
        }
        let x = extra_events(b, b.ctx());
        if x != 0 {
            obs.push(format!("extra events {x}"));
        }
        // SAFETY: closes our pipe.
        unsafe {
            libc::close(self.r);
            libc::close(self.w);
        }
    }
}

/// Requests that match but run on: nr_running, EALREADY, EAGAIN, and WAIT with its timeouts
/// (ETIME, EINTR, or success once the read completes).
pub(super) fn cancel_match_running(s: &mut Sweep) {
    if !s.begin("cancel_match_running") {
        return;
    }
    if s.no_blocking {
        s.end(true);
        return;
    }
    struct Case {
        what: String,
        flags: u32,
        /// Selector: 0 data of R, 1 iocb of R, 2 opcode PREAD, 3 fd of R's pipe, 4 none (ANY),
        /// 5 opcode POLL.
        sel: u8,
        timeout: Option<KernelTimespec>,
        /// The read is given data this long after the call starts (0: not during the call).
        feed_ms: u64,
        alarm_ms: u64,
        want: Obs,
        /// The call must take at least this long (its timeout), and less than 3 s more.
        at_least: Option<Duration>,
    }
    let ms = |n: i64| KernelTimespec { tv_sec: n / 1000, tv_nsec: (n % 1000) * 1_000_000 };
    let ob = |ret: Ret, nr: u32, ring: &str, pend: &str| -> Obs { vec![r(ret), format!("nr_running {nr}"), format!("ring [{ring}]"), format!("pending [{pend}]")] };
    let mut cases = vec![
        Case { what: "DATA of the read".into(), flags: C_DATA, sel: 0, timeout: None, feed_ms: 0, alarm_ms: 0, want: ob(Err(libc::EALREADY), 1, "", "P0 P1 P2"), at_least: None },
        Case { what: "IOCB of the read".into(), flags: C_IOCB, sel: 1, timeout: None, feed_ms: 0, alarm_ms: 0, want: ob(Err(libc::EALREADY), 1, "", "P0 P1 P2"), at_least: None },
        Case { what: "OP PREAD, ALL".into(), flags: C_OP | C_ALL, sel: 2, timeout: None, feed_ms: 0, alarm_ms: 0, want: ob(Err(libc::EALREADY), 1, "", "P0 P1 P2"), at_least: None },
        Case { what: "FD of the read's pipe".into(), flags: C_FD, sel: 3, timeout: None, feed_ms: 0, alarm_ms: 0, want: ob(Err(libc::EALREADY), 1, "", "P0 P1 P2"), at_least: None },
        Case { what: "ANY".into(), flags: C_ANY, sel: 4, timeout: None, feed_ms: 0, alarm_ms: 0, want: ob(Ok(3), 1, "P0=0 P1=-125 P2=0", ""), at_least: None },
        Case { what: "OP POLL, ALL (the read does not match)".into(), flags: C_OP | C_ALL, sel: 5, timeout: None, feed_ms: 0, alarm_ms: 0, want: ob(Ok(2), 0, "P0=0 P2=0", "P1"), at_least: None },
        Case { what: "DATA of the read, RESULT".into(), flags: C_DATA | C_RESULT, sel: 0, timeout: None, feed_ms: 0, alarm_ms: 0, want: { let mut o = ob(Err(libc::EAGAIN), 1, "", "P0 P1 P2"); o.push("result untouched".into()); o }, at_least: None },
        Case { what: "DATA of the read, WAIT {0,0}".into(), flags: C_DATA | C_WAIT, sel: 0, timeout: Some(ms(0)), feed_ms: 0, alarm_ms: 0, want: ob(Err(libc::ETIME), 1, "", "P0 P1 P2"), at_least: None },
        Case { what: "DATA of the read, WAIT 50 ms".into(), flags: C_DATA | C_WAIT, sel: 0, timeout: Some(ms(50)), feed_ms: 0, alarm_ms: 0, want: ob(Err(libc::ETIME), 1, "", "P0 P1 P2"), at_least: Some(Duration::from_millis(50)) },
        Case { what: "ANY, WAIT 50 ms (the cancellations stay made)".into(), flags: C_ANY | C_WAIT, sel: 4, timeout: Some(ms(50)), feed_ms: 0, alarm_ms: 0, want: ob(Err(libc::ETIME), 1, "P0=0 P1=-125 P2=0", ""), at_least: Some(Duration::from_millis(50)) },
        Case { what: "DATA of the read, WAIT null timeout, alarm at 100 ms".into(), flags: C_DATA | C_WAIT, sel: 0, timeout: None, feed_ms: 0, alarm_ms: 100, want: ob(Err(libc::EINTR), 1, "", "P0 P1 P2"), at_least: None },
        Case { what: "DATA of the read, WAIT 5 s, the read completes at 50 ms".into(), flags: C_DATA | C_WAIT, sel: 0, timeout: Some(ms(5000)), feed_ms: 50, alarm_ms: 0, want: ob(Err(libc::EALREADY), 1, "R=16", "P0 P1 P2"), at_least: Some(Duration::from_millis(50)) },
        Case { what: "ANY, WAIT 5 s, the read completes at 50 ms".into(), flags: C_ANY | C_WAIT, sel: 4, timeout: Some(ms(5000)), feed_ms: 50, alarm_ms: 0, want: ob(Ok(3), 1, "P0=0 P1=-125 P2=0 R=16", ""), at_least: Some(Duration::from_millis(50)) },
        Case { what: "FD of the read's pipe, ALL, WAIT null timeout, the read completes at 50 ms".into(), flags: C_FD | C_ALL | C_WAIT, sel: 3, timeout: None, feed_ms: 50, alarm_ms: 0, want: ob(Err(libc::EALREADY), 1, "R=16", "P0 P1 P2"), at_least: Some(Duration::from_millis(50)) },
    ];
    // The getevents timeout values, as WAIT timeouts.
    let ksm = kaio::time::KTIME_SEC_MAX;
    for (sec, nsec, what) in [
        (0i64, 1i64, "now"),
        (-1, 1_000_000_000, "now"),
        (i64::MIN, 0, "now"),
        (0, -1, "forever"),
        (-1, 999_999_999, "forever"),
        (ksm, 0, "forever"),
        (i64::MIN, -1, "forever"),
        (0, 300_000_000, "300ms"),
    ] {
        let forever = what == "forever";
        cases.push(Case {
            what: format!("DATA of the read, WAIT {{{sec}, {nsec}}} ({what})"),
            flags: C_DATA | C_WAIT,
            sel: 0,
            timeout: Some(KernelTimespec { tv_sec: sec, tv_nsec: nsec }),
            feed_ms: 0,
            alarm_ms: if forever { 300 } else { 0 },
            want: ob(Err(if forever { libc::EINTR } else { libc::ETIME }), 1, "", "P0 P1 P2"),
            at_least: (what == "300ms").then(|| Duration::from_millis(300)),
        });
    }
    for c in &cases {
        let mut want = c.want.clone();
        if let Some(t) = c.at_least {
            want.push(format!("took at least {t:?}"));
        }
        s.kaio_obs(&c.what, want, &|b, f| {
            let p = pend_all(b, f);
            let run = Running::start(b);
            let rpl = place(P::Valid, &[0x5Au8; 32]);
            let tpl = c.timeout.map(|t| place(P::Valid, &bytes_of(&t)));
            let key = match c.sel {
                0 => R_DATA,
                1 => run.addr(),
                _ => 0,
            };
            let mut a = v2::match_args(b.ctx(), c.flags, key);
            a.opcode = if c.sel == 5 { IOCB_CMD_POLL } else { IOCB_CMD_PREAD };
            a.fd = run.r;
            a.timeout = tpl.as_ref().map_or(0, |t| t.addr);
            a.result = rpl.addr;
            let feeder = (c.feed_ms > 0).then(|| run.feed_later(c.feed_ms));
            if c.alarm_ms > 0 {
                arm_alarm(c.alarm_ms);
            }
            let start = Instant::now();
            let got = v2::cancel_match(b.fd, &mut a);
            let took = start.elapsed();
            arm_alarm(0);
            if let Some(fh) = feeder {
                fh.join().ok();
            }
            let mut o = vec![r(got), nr_obs(a.nr_running)];
            let seen = observe(b, &p, &[("R", run.addr())], &mut o);
            if c.flags & C_RESULT != 0 {
                o.push(result_obs(Some(&rpl), &p));
            }
            if let Some(t) = c.at_least {
                if took + Duration::from_millis(1) >= t && took < t + Duration::from_secs(3) {
                    o.push(format!("took at least {t:?}"));
                } else {
                    o.push(format!("took {took:?} (timeout {t:?})"));
                }
            }
            run.finish(b, &seen, &mut o);
            o
        });
    }
    s.end(true);
}
