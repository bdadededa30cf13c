//! Benchmark 4, cancel latency against the number of cancellable requests in flight (1, 64, 1024, 4096).
//!
//! - kaio DELAY: a one-hour `KAIO_CMD_DELAY`, cancelled with io_cancel; event `res = -ECANCELED`;
//! - kaio POLL: `IOCB_CMD_POLL(POLLIN)` on an empty pipe (the same request as native's);
//!   event `res = 0`;
//! - native POLL: the same through the system calls (POLL is the only request native AIO can
//!   cancel);
//! - io_uring POLL_ADD on an empty pipe, cancelled by `IORING_OP_ASYNC_CANCEL` (user_data);
//!   CQEs: the cancel's 0 and the poll's `-ECANCELED`.
//!
//! Each sample cancels either the last-submitted or the first-submitted request in flight (Linux
//! and kaio walk `active_reqs` from the oldest), timing the cancel call alone and the time until
//! the cancelled request's event has been reaped (io_getevents(min 1) / the CQ ring), then
//! resubmits it untimed so that the number in flight stays the same (the resubmitted request is
//! the newest). Every event is checked: the right request, the right result, nothing else.
//!
//! The two sides ([`AioSide`], [`UringSide`]) also serve benchmark 5 (`cancel_reap.rs`), which
//! adds `KAIO_IOC_CANCEL_MATCH`, reaping from the mapped ring and cancelling everything at once.

use crate::aio::{ring, Api, NOW, PROMPT};
use crate::clock::Stamp;
use crate::report::{cell, ratio, Section};
use crate::stats::{latency_group, Plan, Summary};
use crate::Env;
use io_uring::{opcode, types, IoUring};
use kaio::uapi::{kaio_cancel_match_args, IoEvent, Iocb, KAIO_IOC_CANCEL_MATCH};
use std::collections::VecDeque;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

pub const IN_FLIGHT: [usize; 4] = [1, 64, 1024, 4096];
const MAX: usize = 4096;
/// The io_uring user_data of the cancel requests (requests in flight use their index).
pub const CANCEL_TAG: u64 = u64::MAX;
/// Each variant runs this many timed cancels in a row (after one untimed), then the next.
const RUN_LEN: usize = 4;
const HOUR_NS: i64 = 3600 * 1_000_000_000;

const PLAN: Plan = Plan {
    budget: Duration::from_millis(4000),
    min_samples: 10,
    max_samples: 1500,
    target_sample: Duration::ZERO,
};

pub fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe2: errno {}", kaio::raw::errno()));
    }
    // SAFETY: both were just created and are owned here.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// How an AIO request is cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelCall {
    /// `io_cancel(ctx, iocb, NULL)` (kaio: `KAIO_IOC_CANCEL`): `EINPROGRESS`.
    IoCancel,
    /// kaio `KAIO_IOC_CANCEL_MATCH` with `KAIO_CANCEL_IOCB`, key = the iocb's address: 1.
    MatchIocb,
}

/// How the cancelled request's event is reaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reap {
    /// `io_getevents(ctx, 1, 1, ev, 10 s)`.
    Getevents,
    /// From the mapped ring (kaio only: version 2 has the event there when the cancel returns,
    /// so finding the ring empty is an error).
    Ring,
}

/// How every request in flight is cancelled at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelAll {
    /// One io_cancel per request, oldest first (each is then at the head of Linux's
    /// `active_reqs`: no list walk).
    Loop,
    /// One `KAIO_IOC_CANCEL_MATCH` with these flags (`KAIO_CANCEL_ANY`, or `FD | ALL` on the
    /// requests' file).
    Match(u32),
}

/// `KAIO_IOC_CANCEL_MATCH` on domain `fd`: the number of requests cancelled, or the errno.
pub fn cancel_match(fd: RawFd, args: &mut kaio_cancel_match_args) -> Result<i64, i32> {
    // SAFETY: the kernel reads the block and writes its nr_running; no WAIT timeout or RESULT
    // buffer is named by the callers here.
    unsafe {
        kaio::raw::ioctl(
            fd,
            KAIO_IOC_CANCEL_MATCH,
            args as *mut kaio_cancel_match_args,
        )
    }
}

/// Requests in flight on one AIO context.
pub struct AioSide {
    pub label: &'static str,
    api: Api,
    pub ctx: u64,
    iocbs: Box<[Iocb]>,
    /// Indices of the requests in flight, oldest first.
    pub order: VecDeque<usize>,
    /// The `res` of a cancelled request's event.
    cancelled_res: i64,
    /// The file the requests are on (for `KAIO_CANCEL_FD`).
    fd: RawFd,
    /// Room for the events of every request (cancel-all).
    events: Vec<IoEvent>,
}

impl AioSide {
    /// A context with room for `max` requests in flight (`max + 16` events).
    pub fn new(
        label: &'static str,
        api: Api,
        template: Iocb,
        cancelled_res: i64,
        max: usize,
    ) -> Result<AioSide, String> {
        let ctx = api.setup(max as u32 + 16)?;
        let iocbs = (0..max).map(|i| template.with_data(i as u64)).collect();
        Ok(AioSide {
            label,
            api,
            ctx,
            iocbs,
            order: VecDeque::new(),
            cancelled_res,
            fd: template.aio_fildes as RawFd,
            events: Vec::new(),
        })
    }

    /// The domain fd of a kaio side.
    fn kaio_fd(&self) -> Result<RawFd, String> {
        match self.api {
            Api::Kaio(fd) => Ok(fd),
            Api::Native => Err(format!(
                "{}: KAIO_IOC_CANCEL_MATCH on native AIO",
                self.label
            )),
        }
    }

    /// Checks the event of cancelled request `idx`.
    fn check_event(&self, idx: usize, e: &IoEvent) -> Result<(), String> {
        let p = &self.iocbs[idx] as *const Iocb;
        if e.obj != p as u64 || e.data != idx as u64 || e.res != self.cancelled_res {
            return Err(format!(
                "{}: cancelled request {idx}, got event {e:?}",
                self.label
            ));
        }
        Ok(())
    }

    fn ptr(&mut self, i: usize) -> *mut Iocb {
        &mut self.iocbs[i] as *mut Iocb
    }

    fn submit(&mut self, idx: &[usize]) -> Result<(), String> {
        let ptrs: Vec<*mut Iocb> = idx.iter().map(|&i| self.ptr(i)).collect();
        match self.api.submit(self.ctx, &ptrs) {
            Ok(n) if n == ptrs.len() as i64 => {
                self.order.extend(idx);
                Ok(())
            }
            other => Err(format!(
                "{}: io_submit of {}: {other:?}",
                self.label,
                ptrs.len()
            )),
        }
    }

    pub fn grow(&mut self, n: usize) -> Result<(), String> {
        while self.order.len() < n {
            let from = self.order.len();
            let to = n.min(from + 256);
            self.submit(&(from..to).collect::<Vec<_>>())?;
        }
        self.no_stray_event()
    }

    pub fn no_stray_event(&self) -> Result<(), String> {
        let mut ev = [IoEvent::default(); 1];
        match self.api.getevents(self.ctx, 0, &mut ev, Some(&NOW)) {
            Ok(0) => Ok(()),
            other => Err(format!(
                "{}: an event with nothing cancelled: {other:?} {:?}",
                self.label, ev[0]
            )),
        }
    }

    /// Cancels the newest (`last`) or the oldest request by io_cancel and reaps its event by
    /// io_getevents; returns [cancel call, until reaped].
    fn sample(&mut self, last: bool) -> Result<Vec<Duration>, String> {
        self.sample_with(last, CancelCall::IoCancel, Reap::Getevents)
    }

    /// Cancels the newest (`last`) or the oldest request with `call` and reaps its event as
    /// `reap` says; returns [cancel call, until reaped]. The request is then resubmitted
    /// (untimed): it is the newest.
    pub fn sample_with(
        &mut self,
        last: bool,
        call: CancelCall,
        reap: Reap,
    ) -> Result<Vec<Duration>, String> {
        let idx = *(if last {
            self.order.back()
        } else {
            self.order.front()
        })
        .ok_or("nothing in flight")?;
        let p = self.ptr(idx);
        let mut args = kaio_cancel_match_args {
            ctx_id: self.ctx,
            flags: kaio::uapi::KAIO_CANCEL_IOCB,
            key: p as u64,
            ..Default::default()
        };
        let (expected, kfd) = match call {
            CancelCall::IoCancel => (Err(libc::EINPROGRESS), -1),
            CancelCall::MatchIocb => (Ok(1), self.kaio_fd()?),
        };
        let view = match reap {
            // SAFETY: the context stays live (and its ring mapped) while the view is used.
            Reap::Ring => Some(unsafe { ring(self.ctx) }?),
            Reap::Getevents => None,
        };
        let mut ev = [IoEvent::default(); 1];
        let t0 = Stamp::now();
        let r = match call {
            CancelCall::IoCancel => self.api.cancel(self.ctx, p),
            CancelCall::MatchIocb => cancel_match(kfd, &mut args),
        };
        let t1 = Stamp::now();
        let n = match &view {
            Some(v) => Ok(v.reap(&mut ev)),
            // EINTR with no signal sent (seen once in a full run; most likely io_uring's task
            // work for this thread, which sets TIF_NOTIFY_SIGNAL): call again, as a program would.
            None => loop {
                match self.api.getevents(self.ctx, 1, &mut ev, Some(&PROMPT)) {
                    Err(e) if e == libc::EINTR => continue,
                    n => break n,
                }
            },
        };
        let t2 = Stamp::now();
        if r != expected {
            return Err(format!(
                "{}: {call:?} of request {idx}: {r:?}, expected {expected:?}",
                self.label
            ));
        }
        if n != Ok(1) {
            return Err(format!(
                "{}: the cancelled request's event ({reap:?}): {n:?}",
                self.label
            ));
        }
        self.check_event(idx, &ev[0])?;
        if last {
            self.order.pop_back();
        } else {
            self.order.pop_front();
        }
        self.submit(&[idx])?;
        Ok(vec![t1 - t0, t2 - t0])
    }

    /// Cancels every request in flight as `how` says and reaps all their events (io_getevents
    /// for as many as are missing, or from the mapped ring, where kaio's version 2 has put
    /// every one before the cancel returns); returns [per request, total]. The requests are
    /// then resubmitted (untimed).
    pub fn cancel_all(&mut self, how: CancelAll, reap: Reap) -> Result<Vec<Duration>, String> {
        let n = self.order.len();
        if n == 0 {
            return Err("nothing in flight".into());
        }
        self.events.resize(n, IoEvent::default());
        let base = self.iocbs.as_mut_ptr();
        let ptrs: Vec<*mut Iocb> = self.order.iter().map(|&i| base.wrapping_add(i)).collect();
        let mut args = kaio_cancel_match_args {
            ctx_id: self.ctx,
            fd: self.fd,
            ..Default::default()
        };
        let kfd = match how {
            CancelAll::Loop => -1,
            CancelAll::Match(flags) => {
                args.flags = flags;
                self.kaio_fd()?
            }
        };
        let view = match reap {
            // SAFETY: the context stays live (and its ring mapped) while the view is used.
            Reap::Ring => Some(unsafe { ring(self.ctx) }?),
            Reap::Getevents => None,
        };
        let mut bad = None;
        let t0 = Stamp::now();
        match how {
            CancelAll::Loop => {
                for &p in &ptrs {
                    let r = self.api.cancel(self.ctx, p);
                    if r != Err(libc::EINPROGRESS) && bad.is_none() {
                        bad = Some(format!("io_cancel of {p:?}: {r:?}"));
                    }
                }
            }
            CancelAll::Match(_) => {
                let r = cancel_match(kfd, &mut args);
                if r != Ok(n as i64) {
                    bad = Some(format!(
                        "KAIO_IOC_CANCEL_MATCH {how:?}: {r:?}, expected {n}"
                    ));
                }
            }
        }
        let mut got = 0;
        if let Some(v) = &view {
            while got < n && bad.is_none() {
                match v.reap(&mut self.events[got..n]) {
                    0 => {
                        bad = Some(format!(
                            "{got} of {n} events in the ring when the cancel returned"
                        ))
                    }
                    k => got += k,
                }
            }
        }
        while got < n && bad.is_none() {
            match self
                .api
                .getevents(self.ctx, n - got, &mut self.events[got..], Some(&PROMPT))
            {
                Ok(0) => bad = Some(format!("{got} of {n} events after 10 s")),
                Ok(k) => got += k,
                Err(e) => bad = Some(format!("io_getevents: errno {e}")),
            }
        }
        let t1 = Stamp::now();
        if let Some(b) = bad {
            return Err(format!("{}: cancel all {n}: {b}", self.label));
        }
        let mut seen = vec![false; self.iocbs.len()];
        for e in &self.events[..n] {
            let idx = e.data as usize;
            if idx >= seen.len() || seen[idx] {
                return Err(format!("{}: cancel all: event {e:?}", self.label));
            }
            seen[idx] = true;
            self.check_event(idx, e)?;
        }
        self.order.clear();
        self.grow(n)?;
        let total = t1 - t0;
        Ok(vec![total / n as u32, total])
    }
}

/// POLL_ADD requests in flight on an io_uring.
pub struct UringSide {
    ring: IoUring,
    fd: RawFd,
    pub order: VecDeque<usize>,
}

impl UringSide {
    /// POLL_ADD on `fd`; a CQ of `cq_entries` (IORING_SETUP_CQSIZE) when more than the
    /// default twice 256 are needed.
    pub fn new(fd: RawFd, cq_entries: u32) -> Result<UringSide, String> {
        let mut b = IoUring::builder();
        if cq_entries > 512 {
            b.setup_cqsize(cq_entries);
        }
        Ok(UringSide {
            ring: b
                .build(256)
                .map_err(|e| format!("io_uring_setup(256, cq {cq_entries}): {e}"))?,
            fd,
            order: VecDeque::new(),
        })
    }

    fn poll_entry(&self, i: usize) -> io_uring::squeue::Entry {
        opcode::PollAdd::new(types::Fd(self.fd), libc::POLLIN as u32)
            .build()
            .user_data(i as u64)
    }

    pub fn grow(&mut self, n: usize) -> Result<(), String> {
        while self.order.len() < n {
            let from = self.order.len();
            let to = n.min(from + 128);
            {
                let entries: Vec<_> = (from..to).map(|i| self.poll_entry(i)).collect();
                // SAFETY: a poll entry names no memory.
                unsafe { self.ring.submission().push_multiple(&entries) }
                    .map_err(|_| "io_uring: submission queue full".to_string())?;
            }
            let s = self
                .ring
                .submit()
                .map_err(|e| format!("io_uring_enter: {e}"))?;
            if s != to - from {
                return Err(format!("io_uring: submitted {s} of {}", to - from));
            }
            self.order.extend(from..to);
        }
        self.no_stray_cqe()
    }

    pub fn no_stray_cqe(&mut self) -> Result<(), String> {
        match self.ring.completion().next() {
            None => Ok(()),
            Some(c) => Err(format!("io_uring: a CQE with nothing cancelled: {c:?}")),
        }
    }

    /// Cancels the newest (`last`) or the oldest POLL_ADD by its user_data and reaps both
    /// CQEs; returns [the io_uring_enter call, until both CQEs are reaped]. With `wait_both`
    /// that enter also waits for the two CQEs (min_complete 2), else it only submits. The
    /// request is then resubmitted (untimed).
    pub fn sample(&mut self, last: bool, wait_both: bool) -> Result<Vec<Duration>, String> {
        let idx = *(if last {
            self.order.back()
        } else {
            self.order.front()
        })
        .ok_or("nothing in flight")?;
        let cancel = opcode::AsyncCancel::new(idx as u64)
            .build()
            .user_data(CANCEL_TAG);
        // SAFETY: a cancel entry names no memory.
        unsafe { self.ring.submission().push(&cancel) }
            .map_err(|_| "io_uring: submission queue full")?;
        let t0 = Stamp::now();
        let s = if wait_both {
            self.ring.submit_and_wait(2)
        } else {
            self.ring.submit()
        };
        let t1 = Stamp::now();
        let (mut cancel_res, mut poll_res) = (None, None);
        let mut t2 = t1;
        while poll_res.is_none() || cancel_res.is_none() {
            for cqe in self.ring.completion() {
                match cqe.user_data() {
                    CANCEL_TAG if cancel_res.is_none() => cancel_res = Some(cqe.result()),
                    u if u == idx as u64 && poll_res.is_none() => {
                        poll_res = Some(cqe.result());
                        t2 = Stamp::now();
                    }
                    _ => return Err(format!("io_uring: cancelled {idx}, got CQE {cqe:?}")),
                }
            }
            if poll_res.is_none() || cancel_res.is_none() {
                if t0.elapsed() > Duration::from_secs(10) {
                    return Err(format!(
                        "io_uring: CQEs of the cancel of {idx} missing after 10 s"
                    ));
                }
                self.ring
                    .submit_and_wait(1)
                    .map_err(|e| format!("io_uring_enter: {e}"))?;
            }
        }
        if s.map_err(|e| format!("io_uring_enter (cancel): {e}"))? != 1 {
            return Err("io_uring: the cancel was not submitted".into());
        }
        if cancel_res != Some(0) || poll_res != Some(-libc::ECANCELED) {
            return Err(format!(
                "io_uring: cancel of {idx}: cancel {cancel_res:?}, poll {poll_res:?}"
            ));
        }
        if last {
            self.order.pop_back();
        } else {
            self.order.pop_front();
        }
        let e = self.poll_entry(idx);
        // SAFETY: a poll entry names no memory.
        unsafe { self.ring.submission().push(&e) }
            .map_err(|_| "io_uring: submission queue full")?;
        if self
            .ring
            .submit()
            .map_err(|e| format!("io_uring_enter: {e}"))?
            != 1
        {
            return Err("io_uring: resubmission failed".into());
        }
        self.order.push_back(idx);
        Ok(vec![t1 - t0, t2 - t0])
    }

    /// One `IORING_OP_ASYNC_CANCEL` with `IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_FD` on
    /// the pipe, one io_uring_enter that waits for every CQE (n POLL_ADDs' -ECANCELED and the
    /// cancel's count n), all reaped; returns [per request, total]. The requests are then
    /// resubmitted (untimed).
    pub fn cancel_all(&mut self) -> Result<Vec<Duration>, String> {
        let n = self.order.len();
        if n == 0 {
            return Err("nothing in flight".into());
        }
        let cancel = opcode::AsyncCancel2::new(types::CancelBuilder::fd(types::Fd(self.fd)).all())
            .build()
            .user_data(CANCEL_TAG);
        // SAFETY: a cancel entry names no memory.
        unsafe { self.ring.submission().push(&cancel) }
            .map_err(|_| "io_uring: submission queue full")?;
        let mut seen = vec![false; n];
        let (mut polls, mut cancel_res) = (0, None);
        let mut bad = None;
        let t0 = Stamp::now();
        let mut s = self.ring.submit_and_wait(n + 1);
        loop {
            for cqe in self.ring.completion() {
                let u = cqe.user_data();
                if u == CANCEL_TAG && cancel_res.is_none() {
                    cancel_res = Some(cqe.result());
                } else if (u as usize) < n && !seen[u as usize] && cqe.result() == -libc::ECANCELED
                {
                    seen[u as usize] = true;
                    polls += 1;
                } else if bad.is_none() {
                    bad = Some(format!("CQE {cqe:?}"));
                }
            }
            if (polls == n && cancel_res.is_some()) || bad.is_some() || s.is_err() {
                break;
            }
            if t0.elapsed() > Duration::from_secs(10) {
                bad = Some(format!("{polls} of {n} CQEs after 10 s"));
                break;
            }
            s = self
                .ring
                .submit_and_wait(n + 1 - polls - usize::from(cancel_res.is_some()));
        }
        let t1 = Stamp::now();
        s.map_err(|e| format!("io_uring_enter (cancel all): {e}"))?;
        if let Some(b) = bad {
            return Err(format!("io_uring: cancel all {n}: {b}"));
        }
        if cancel_res != Some(n as i32) {
            return Err(format!(
                "io_uring: cancel all {n}: the cancel's CQE {cancel_res:?}"
            ));
        }
        self.order.clear();
        self.grow(n)?;
        let total = t1 - t0;
        Ok(vec![total / n as u32, total])
    }
}

pub fn run(env: &Env, sec: &mut Section) -> Result<(), String> {
    let delay_dom = kaio::Domain::open().map_err(|e| format!("open /dev/kaio: {e}"))?;
    let poll_dom = kaio::Domain::open().map_err(|e| format!("open /dev/kaio: {e}"))?;
    let (kr, _kw) = pipe()?;
    let (nr, _nw) = pipe()?;
    let (ur, _uw) = pipe()?;
    let dfd = delay_dom.as_raw_fd();
    let mut aio = [
        AioSide::new(
            "kaio DELAY",
            Api::Kaio(dfd),
            Iocb::delay(HOUR_NS, dfd),
            -(libc::ECANCELED as i64),
            MAX,
        )?,
        AioSide::new(
            "kaio POLL",
            Api::Kaio(poll_dom.as_raw_fd()),
            Iocb::poll(kr.as_raw_fd(), libc::POLLIN as u32),
            0,
            MAX,
        )?,
        AioSide::new(
            "native POLL",
            Api::Native,
            Iocb::poll(nr.as_raw_fd(), libc::POLLIN as u32),
            0,
            MAX,
        )?,
    ];
    let mut uring = UringSide::new(ur.as_raw_fd(), 0)?;
    let labels = [
        "kaio DELAY",
        "kaio POLL",
        "native POLL",
        "io_uring POLL_ADD",
    ];
    let keys = [
        "kaio_delay",
        "kaio_poll",
        "native_poll",
        "io_uring_poll_add",
    ];
    sec.line("4. cancel latency vs cancellable requests in flight; ns, median (p90)");
    sec.line(
        "   cancel: the io_cancel call (io_uring: the io_uring_enter submitting ASYNC_CANCEL);",
    );
    sec.line("   reaped: from before the cancel until the cancelled request's event is reaped");
    sec.line("   last: the newest request in flight is cancelled; first: the oldest");
    sec.line(format!(
        "   (variants take turns in runs of {} cancels, the first of each run not counted)",
        RUN_LEN + 1
    ));
    sec.line(format!(
        "   {:>9} {:<18} {:>18} {:>18} {:>18} {:>18}",
        "in-flight", "backend", "last: cancel", "last: reaped", "first: cancel", "first: reaped"
    ));
    let mut all: Vec<(usize, Vec<Vec<Summary>>)> = Vec::new();
    for &n in &IN_FLIGHT {
        for side in aio.iter_mut() {
            side.grow(n)?;
        }
        uring.grow(n)?;
        // Variant v: backend v / 2, last-submitted if v is even, first-submitted if odd.
        let sums = latency_group(&PLAN.scaled(env.scale), 8, 2, RUN_LEN, |v| {
            let last = v % 2 == 0;
            match v / 2 {
                b @ 0..=2 => aio[b].sample(last),
                _ => uring.sample(last, false),
            }
        })?;
        for side in &aio {
            if side.order.len() != n {
                return Err(format!(
                    "{}: {} in flight, expected {n}",
                    side.label,
                    side.order.len()
                ));
            }
            side.no_stray_event()?;
        }
        uring.no_stray_cqe()?;
        for b in 0..4 {
            let (l, f) = (&sums[2 * b], &sums[2 * b + 1]);
            sec.line(format!(
                "   {:>9} {:<18} {} {} {} {}",
                n,
                labels[b],
                cell(&l[0], 18),
                cell(&l[1], 18),
                cell(&f[0], 18),
                cell(&f[1], 18)
            ));
            let params = [("in_flight", n.to_string())];
            for (which, s) in [("last", l), ("first", f)] {
                let variant = format!("{}_{which}", keys[b]);
                sec.record(variant.clone(), &params, "cancel_ns", s[0]);
                sec.record(variant, &params, "reaped_ns", s[1]);
            }
        }
        eprintln!(
            "kaio-bench: cancel in_flight={n} done ({:.1} s)",
            crate::stats::elapsed().as_secs_f64()
        );
        all.push((n, sums));
    }
    sec.line("   ratios of medians:");
    sec.line(format!(
        "   {:>9} {:<28} {:>13} {:>13} {:>13} {:>13}",
        "in-flight", "", "last: cancel", "last: reaped", "first: cancel", "first: reaped"
    ));
    for (n, sums) in &all {
        for (name, a, b) in [
            ("kaio DELAY / native POLL", 0, 2),
            ("kaio POLL / native POLL", 1, 2),
            ("kaio DELAY / io_uring", 0, 3),
            ("native POLL / io_uring", 2, 3),
        ] {
            let r = |x: usize, m: usize| {
                ratio(sums[2 * a + x][m].median, sums[2 * b + x][m].median, 13)
            };
            sec.line(format!(
                "   {:>9} {:<28} {} {} {} {}",
                n,
                name,
                r(0, 0),
                r(0, 1),
                r(1, 0),
                r(1, 1)
            ));
        }
    }
    // Growth of cancel(last) from 1 to MAX in flight, per backend: the cost of the list walk.
    if let (Some((n0, first)), Some((n1, lastrow))) = (all.first(), all.last()) {
        let growth: Vec<String> = (0..4)
            .map(|b| {
                format!(
                    "{} {}",
                    labels[b],
                    ratio(lastrow[2 * b][0].median, first[2 * b][0].median, 0)
                )
            })
            .collect();
        sec.line(format!(
            "   cancel(last) at {n1} / at {n0} in flight: {}",
            growth.join(", ")
        ));
    }
    if all
        .iter()
        .any(|(_, s)| s[0][1].median > 1e6 || s[1][1].median > 1e6)
    {
        let cs = std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .unwrap_or_default();
        sec.line("   note: a cancelled kaio DELAY's event is posted by its own hrtimer, which the cancel");
        sec.line("   re-arms to expire now; with no high-resolution clocksource (here: ".to_string()
            + cs.trim()
            + ") hrtimers run from the periodic tick, so 'reaped' for kaio DELAY is the wait for");
        sec.line("   the next tick, not the cancel path (compare kaio POLL, cancelled through a work item)");
    }
    // Native contexts are destroyed here (cancelling their polls); kaio's with their domains.
    Api::Native.destroy(aio[2].ctx)?;
    drop(aio);
    drop(uring);
    drop((delay_dom, poll_dom));
    Ok(())
}
