// SPDX-License-Identifier: GPL-2.0

//! `struct aio_kiocb`: one request, from submission to its single event.
//!
//! ```text
//! submit (process): copy iocb, checks, slot, fd, eventfd, aio_key := 0, opcode prep
//!   ──reject──> freed, slot given back, no event
//!   ──accept──> listed in the in-flight index and started
//! started ──completion (any context)──> event posted and off the index under one hold of
//!   ctx_lock, eventfd signalled ──> freed (reqs reference dropped)
//! started (cancellable) ──cancel ioctl (process, under ctx_lock)──> off the index, claimed:
//!   the operation will not complete it; the canceller posts the event before dropping
//!   ctx_lock (KAIO_CANCEL_RESULT: claimed but left listed, the event copied to the caller
//!   after the lock, then off the index)
//! started (cancellable) ──teardown sweep (any context, under ctx_lock)──> off the index,
//!   cancel hook kicks the operation ──> it completes through its own path, cancelled
//! ```
//!
//! A cancellable request (POLL, DELAY) is taken off the index by whoever decides its outcome:
//! its own completion, a cancel or the sweep, each under `ctx_lock`, so there is exactly one
//! event per accepted request; a completion or cancel posts the event in that same hold of the
//! lock, so a cancel never finds a request neither listed nor posted (ABI.md "Matching"). A
//! RESULT cancel claims it instead and leaves it listed until its event is delivered: other
//! cancels skip it meanwhile, and one with WAIT waits for it. A read, write or fsync stays
//! listed until its event is posted: a cancel finds it running. A polled read or write is
//! listed once the attempts it makes in `io_submit` leave it in flight (one that completes
//! there is never listed): until then only the submitting call knows it, and the teardown
//! sweep cannot start while that call holds the context.

use crate::ctx::{Kioctx, ReqsRef};
use crate::inflight::{op_index, InFlight, FAMILIES};
use crate::ops::{
    delay::{self, Delay},
    fsync::{self, Fsync},
    poll::{self, Poll},
    polled_rw::{self, Polled, PolledRw, PolledState},
    rw,
};
use crate::sys::{
    cred::Creds,
    fd::{EventFd, FileRef},
    hrtimer::TimerCallback,
    irq_spinlock::IrqsOff,
    one_of::{InitOneOf, OneOf},
    poll::{PollWake, QueueHold, Waker},
    seq_index::IndexLinks,
    rw::{self as sys_rw, Dir, RwDone, RwKiocb, Waiting},
    stats::{self, Stat},
    system,
    trace::{self, How},
    user_word,
    work::WorkCallback,
};
use crate::uapi::*;
use core::mem::offset_of;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use kernel::prelude::*;
use crate::sys::arc::{Arc, UniqueArc};

/// A request.
#[pin_data]
pub(crate) struct Kiocb {
    /// `ki_res`: data and obj of the event; `res`/`res2` are filled at completion.
    template: IoEvent,
    /// Listing sequence number in the in-flight index, assigned under `ctx_lock`.
    seq: AtomicU64,
    /// The nodes of the in-flight index.
    pub(crate) links: IndexLinks<FAMILIES>,
    /// `aio_lio_opcode`.
    opcode: u16,
    /// Its place in [`crate::inflight::OPCODES`] (the index's opcode lists and counts),
    /// found once.
    op_slot: u8,
    /// The file the request was submitted on, as the index keys it (0: none kept).
    file_key: u64,
    /// The event is in the ring (set under `completion_lock`).
    posted: AtomicBool,
    /// A cancel ioctl took the request: its operation must not complete it.
    claimed: AtomicBool,
    /// The teardown sweep reached it (for the trace's `how`).
    swept: AtomicBool,
    /// `IOCB_FLAG_RESFD`: signalled after the event is posted.
    eventfd: Option<EventFd>,
    /// The state of the request's own operation, and of no other.
    #[pin]
    op: OpState,
    /// The context, held by one of its `reqs` references (`iocb_destroy` puts it last: the
    /// fields above, the file references among them, go first).
    pub(crate) ctx: ReqsRef,
}

/// A request's operation state, one of delay, read/write, fsync, poll, polled read/write (the
/// union in fs/aio.c's `struct aio_kiocb`).
type OpState = OneOf<Delay, RwKiocb<Kiocb>, Fsync, Poll, Polled>;

/// The references wait queues held on a request, returned by whoever took its entries off
/// them, to be dropped once `ctx_lock` is released.
pub(crate) type QueueRefs = [Option<Arc<Kiocb>>; 2];

/// The operation a request is built for.
pub(crate) enum Op {
    Delay(u64),
    Rw(FileRef, Dir),
    Fsync(FileRef, Creds, bool),
    Poll(FileRef),
    PolledRw(FileRef, Dir, PolledState),
}

/// Which operation a request carries.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Delay,
    Rw,
    Fsync,
    Poll,
    PolledRw,
}

impl Kiocb {
    fn new(ctx: ReqsRef, template: IoEvent, opcode: u16, eventfd: Option<EventFd>, op: Op) -> impl PinInit<Self, Error> {
        // Every opcode that reaches a request is one of them.
        let op_slot = op_index(opcode).unwrap_or(0) as u8;
        let file_key = match &op {
            Op::Delay(_) => 0,
            Op::Rw(file, _) | Op::Fsync(file, ..) | Op::Poll(file) | Op::PolledRw(file, ..) => file.id(),
        };
        let op = match op {
            Op::Delay(ns) => InitOneOf::A(Delay::new(ns)),
            Op::Rw(file, dir) => InitOneOf::B(RwKiocb::new(Some(file), dir)),
            Op::Fsync(file, creds, datasync) => InitOneOf::C(Fsync::new(file, creds, datasync)),
            Op::Poll(file) => InitOneOf::D(Poll::new(file)),
            Op::PolledRw(file, dir, state) => InitOneOf::E(Polled::new(file, dir, state)),
        };
        try_pin_init!(Kiocb {
            template,
            seq: AtomicU64::new(0),
            links: IndexLinks::new(),
            opcode,
            op_slot,
            file_key,
            posted: AtomicBool::new(false),
            claimed: AtomicBool::new(false),
            swept: AtomicBool::new(false),
            eventfd,
            op <- op,
            ctx,
        }? Error)
    }

    fn kind(&self) -> Kind {
        match self.op {
            OneOf::A(_) => Kind::Delay,
            OneOf::B(_) => Kind::Rw,
            OneOf::C(_) => Kind::Fsync,
            OneOf::D(_) => Kind::Poll,
            OneOf::E(_) => Kind::PolledRw,
        }
    }

    // The accessors of each operation's state are called only on paths of that operation.

    /// A delay's timer.
    pub(crate) fn delay(&self) -> &Delay {
        match &self.op {
            OneOf::A(delay) => delay,
            _ => unreachable!("{:?} request has no delay", self.kind()),
        }
    }

    /// The kiocb of a read or write (polled or not).
    pub(crate) fn rw(&self) -> &RwKiocb<Kiocb> {
        match &self.op {
            OneOf::B(rw) => rw,
            OneOf::E(polled) => &polled.rw,
            _ => unreachable!("{:?} request has no kiocb", self.kind()),
        }
    }

    /// An fsync's file, credentials and worker.
    pub(crate) fn fsync(&self) -> &Fsync {
        match &self.op {
            OneOf::C(fsync) => fsync,
            _ => unreachable!("{:?} request is no fsync", self.kind()),
        }
    }

    /// A poll's file, entry, flags and worker.
    pub(crate) fn poll(&self) -> &Poll {
        match &self.op {
            OneOf::D(poll) => poll,
            _ => unreachable!("{:?} request is no poll", self.kind()),
        }
    }

    /// A polled read or write's waiting state.
    pub(crate) fn polled(&self) -> &PolledRw {
        match &self.op {
            OneOf::E(polled) => &polled.state,
            _ => unreachable!("{:?} request is not polled", self.kind()),
        }
    }

    /// Whether `IOCB_FLAG_RESFD` gave the request an eventfd.
    pub(crate) fn has_eventfd(&self) -> bool {
        self.eventfd.is_some()
    }

    /// The user address of the submitting iocb (`ki_res.obj`), which io_cancel matches.
    pub(crate) fn obj(&self) -> u64 {
        self.template.obj
    }

    /// `aio_data`.
    pub(crate) fn data(&self) -> u64 {
        self.template.data
    }

    /// `aio_lio_opcode`.
    pub(crate) fn opcode(&self) -> u16 {
        self.opcode
    }

    /// The opcode's place in [`crate::inflight::OPCODES`].
    pub(crate) fn op_slot(&self) -> usize {
        self.op_slot as usize
    }

    /// The file's key in the index (0 for a request that keeps no file).
    pub(crate) fn file_key(&self) -> u64 {
        self.file_key
    }

    /// Listing sequence number in the in-flight index (submission order; 0: never listed).
    pub(crate) fn seq(&self) -> u64 {
        self.seq.load(Ordering::Relaxed)
    }

    /// Sets the sequence number; called under `ctx_lock` before listing.
    pub(crate) fn set_seq(&self, seq: u64) {
        self.seq.store(seq, Ordering::Relaxed);
    }

    /// Whether the event has been posted to the ring.
    pub(crate) fn is_posted(&self) -> bool {
        self.posted.load(Ordering::Acquire)
    }

    /// Whether a cancel ioctl took the request (its operation then leaves it alone).
    pub(crate) fn is_claimed(&self) -> bool {
        self.claimed.load(Ordering::Relaxed)
    }

    /// Whether a cancel takes the request now: POLL and DELAY, and a polled read or write
    /// still waiting with nothing moved (claimed by this check: see
    /// [`PolledRw::claim_if_cancellable`]). Others run on. Asked only of a request no cancel
    /// claimed (`InFlight::find`). Under `ctx_lock`; a true answer must be followed by
    /// [`Kiocb::claim`] (and taking the request off the index, or, for RESULT, off it after
    /// the delivery).
    pub(crate) fn cancel_takes(&self) -> bool {
        match self.kind() {
            Kind::Delay | Kind::Poll => true,
            Kind::PolledRw => self.polled().claim_if_cancellable(),
            Kind::Rw | Kind::Fsync => false,
        }
    }

    /// The teardown sweep reached the request (under `ctx_lock`).
    pub(crate) fn mark_swept(&self) {
        self.swept.store(true, Ordering::Relaxed);
        stats::add(Stat::Swept, 1);
    }

    /// Why the event is posted now, for the trace.
    fn how(&self) -> How {
        if self.is_claimed() {
            How::Cancelled
        } else if self.swept.load(Ordering::Relaxed) {
            How::Teardown
        } else {
            How::Normal
        }
    }

    /// Records the request's one event (`kaio_complete`); also for an event a cancel copied to
    /// the caller instead of the ring.
    pub(crate) fn trace_event(&self, res: i64) {
        stats::count_with_in_flight(Stat::Events, self.opcode, -1);
        self.trace_complete(res);
    }

    /// The `kaio_complete` tracepoint alone (a batch counts its statistics once).
    fn trace_complete(&self, res: i64) {
        trace::complete(self.ctx.user_id() as u64, self.template.obj, self.template.data, res, 0, self.how());
    }

    /// Whether the teardown sweep takes the request off the index and kicks it ([`Kiocb::cancel`])
    /// rather than leaving it listed until its event ([`Kiocb::stop`]).
    pub(crate) fn swept_off(&self) -> bool {
        matches!(self.kind(), Kind::Delay | Kind::Poll)
    }

    /// Asks a running request to end at its next wait (a polled read or write); nothing for
    /// other kinds, which run to their end. Under `ctx_lock`.
    pub(crate) fn stop(self: &Arc<Self>, hold: &mut QueueHold<'_>) {
        if self.kind() == Kind::PolledRw {
            polled_rw::stop(self, hold);
        }
    }

    /// `ki_cancel` of the teardown sweep: kicks the operation; called under `ctx_lock` after
    /// the request was taken off the index. The event comes from the operation's own path.
    pub(crate) fn cancel(self: &Arc<Self>, irqs: IrqsOff<'_>) {
        match self.kind() {
            Kind::Delay => self.delay().cancel(),
            Kind::Poll => poll::cancel(self, irqs),
            // Never swept off the index.
            Kind::Rw | Kind::Fsync | Kind::PolledRw => {}
        }
    }

    /// A cancel ioctl's claim, under `ctx_lock` (the request taken off the index, or left on
    /// it until a RESULT delivery): the operation is stopped and will not complete the
    /// request; the caller posts the event ([`Kiocb::cancelled_res`]) before it drops
    /// `ctx_lock` (RESULT: copies it to the caller after). Returns a reference to drop after
    /// the lock.
    pub(crate) fn claim(self: &Arc<Self>, hold: &mut QueueHold<'_>) -> QueueRefs {
        self.claimed.store(true, Ordering::Relaxed);
        match self.kind() {
            Kind::Delay => {
                self.delay().claim();
                [None, None]
            }
            Kind::Poll => [poll::claim(self, hold), None],
            Kind::PolledRw => polled_rw::claim(self, hold),
            Kind::Rw | Kind::Fsync => [None, None],
        }
    }

    /// The `res` of a cancelled request's event: 0 for POLL (as Linux), else `-ECANCELED`.
    pub(crate) fn cancelled_res(&self) -> i64 {
        match self.kind() {
            Kind::Poll => 0,
            _ => crate::errors::ECANCELED,
        }
    }

    /// The event this request posts with `res`.
    pub(crate) fn event(&self, res: i64) -> IoEvent {
        IoEvent { res, res2: 0, ..self.template }
    }

    /// Posts the events of requests a cancel claimed and took off the index, all of `ctx`, each
    /// with its cancelled `res`, under one hold of `completion_lock`, while the cancel still
    /// holds `ctx_lock` (`_held`): a cancel that looks next finds each either listed or posted
    /// (ABI.md "Matching": in flight until the event is posted). Then, outside `ctx_lock`,
    /// [`Kiocb::notify_claimed`].
    pub(crate) fn post_claimed(ctx: &Kioctx, reqs: &[Option<Arc<Kiocb>>], _held: &mut InFlight) -> Posted {
        let claimed = || reqs.iter().flatten();
        // The statistics once per batch: the events, and the in-flight gauge of each opcode.
        let mut gauges: [Option<(Stat, i64)>; 8] = [None; 8];
        let mut events = 0;
        for req in claimed() {
            events += 1;
            if let Some(gauge) = stats::in_flight(req.opcode) {
                // The gauge's slot, or the first free one (8 slots: one per opcode).
                if let Some(slot) = gauges.iter_mut().find(|g| g.map_or(true, |(s, _)| s == gauge)) {
                    slot.get_or_insert((gauge, 0)).1 += 1;
                }
            }
            req.trace_complete(req.cancelled_res());
        }
        stats::add(Stat::Events, events);
        for (gauge, n) in gauges.into_iter().flatten() {
            stats::add(gauge, -n);
        }
        system::completion_delay();
        Posted(ctx.post_events(claimed().map(|req| (req.event(req.cancelled_res()), &req.posted))))
    }

    /// After [`Kiocb::post_claimed`], outside `ctx_lock`: each eventfd is signalled, then the
    /// waiters are woken once. Process context.
    pub(crate) fn notify_claimed(ctx: &Kioctx, reqs: &[Option<Arc<Kiocb>>], posted: Posted) {
        for req in reqs.iter().flatten() {
            req.signal_eventfd();
        }
        if posted.0 {
            ctx.wake_waiters();
        }
    }

    /// Posts the one event of this request with `res` while `ctx_lock` is held (`_held`), in
    /// the same hold that took it off the index (or found it taken by the sweep): a cancel,
    /// which looks under that lock, finds it either listed or posted. Then, outside
    /// `ctx_lock`, [`Kiocb::notify`]. Any context.
    pub(crate) fn post_held(&self, res: i64, _held: &mut InFlight) -> Posted {
        self.post(res)
    }

    /// Posts the one event with `res` (traced): under `ctx_lock` for a listed request
    /// ([`Kiocb::post_held`]), or for one that never was.
    fn post(&self, res: i64) -> Posted {
        self.trace_event(res);
        Posted(self.ctx.post_event(&self.event(res), &self.posted))
    }

    /// RESULT: the event with `res` went to the cancel's caller instead of the ring (its ring
    /// slot given back, no eventfd), recorded while `ctx_lock` is held (`_held`) in the hold
    /// that unlists the request. Then, outside `ctx_lock`, [`Kiocb::wake_waiters`].
    pub(crate) fn delivered_elsewhere(&self, res: i64, _held: &mut InFlight) -> Posted {
        self.trace_event(res);
        self.ctx.release_slot();
        Posted(self.ctx.mark_delivered(&self.posted))
    }

    /// The second half of `aio_complete`, outside `ctx_lock`: the eventfd is signalled, then
    /// the waiters are woken.
    pub(crate) fn notify(&self, posted: Posted) {
        self.signal_eventfd();
        self.wake_waiters(posted);
    }

    /// `IOCB_FLAG_RESFD`: signals the eventfd, after the event was posted.
    pub(crate) fn signal_eventfd(&self) {
        if let Some(eventfd) = &self.eventfd {
            eventfd.signal();
        }
    }

    /// Wakes the getevents waiters if the posting said there are any.
    pub(crate) fn wake_waiters(&self, posted: Posted) {
        if posted.0 {
            self.ctx.wake_waiters();
        }
    }

    /// `iocb_put` → `aio_complete`: posts the one event of this request with `res`, then
    /// signals the eventfd. Any context.
    pub(crate) fn complete(self: Arc<Self>, res: i64) {
        let (posted, listed) = match self.kind() {
            // Listed until now, so that a cancel finds it running until its event is posted:
            // posted under `ctx_lock` (`completion_lock` inside it), then unlisted, with
            // interrupts turned off and back on once.
            Kind::Rw | Kind::Fsync | Kind::PolledRw => {
                let mut inflight = self.ctx.inflight.lock();
                let posted = self.post_held(res, &mut inflight);
                (posted, inflight.unlist(&self))
            }
            // Never listed here: their listed completions post with `post_held` in the hold
            // of `ctx_lock` that unlists them.
            Kind::Delay | Kind::Poll => (self.post(res), None),
        };
        drop(listed);
        self.notify(posted);
    }
}

/// An event posted (under `ctx_lock`); what must follow once the lock is dropped: the eventfd
/// signalled and the waiters woken ([`Kiocb::notify`]), `true` if anyone waits.
#[must_use]
pub(crate) struct Posted(bool);

impl RwDone for Kiocb {
    fn rw_done(this: Arc<Self>, res: i64) {
        this.complete(res);
    }
}

impl WorkCallback for Kiocb {
    fn run(this: Arc<Self>) {
        match this.kind() {
            Kind::Poll => poll::work(this),
            Kind::PolledRw => polled_rw::work(this),
            _ => fsync::run(this),
        }
    }
}

impl PollWake for Kiocb {
    fn wake(this: &Self, waiter: &Waker<'_, Self>, mask: u32) -> kernel::ffi::c_int {
        match this.kind() {
            Kind::PolledRw => polled_rw::wake(this, waiter, mask),
            _ => poll::wake(this, waiter, mask),
        }
    }
}

impl TimerCallback for Kiocb {
    fn run(this: Arc<Self>) {
        delay::expired(this);
    }
}

/// A read or write: polled in a `KAIO_SETUP_POLLED_RW` context when the file may block, else
/// as Linux runs it. `EAGAIN` when the polled state cannot be allocated (as `aio_get_req`).
fn rw_op(ctx: &Kioctx, file: FileRef, dir: Dir, iocb: &Iocb) -> Result<Op> {
    let Some(pool) = &ctx.polled_pool else {
        return Ok(Op::Rw(file, dir));
    };
    match sys_rw::waiting_for(&file, iocb.aio_rw_flags) {
        Waiting::Never => Ok(Op::Rw(file, dir)),
        mode => Ok(Op::PolledRw(file, dir, PolledRw::new(mode, pool).map_err(|_| EAGAIN)?)),
    }
}

/// A reserved ring slot, given back unless the request is accepted.
struct SlotReservation<'a>(Option<&'a Kioctx>);

impl SlotReservation<'_> {
    fn accept(mut self) {
        self.0 = None;
    }
}

impl Drop for SlotReservation<'_> {
    fn drop(&mut self) {
        if let Some(ctx) = self.0 {
            ctx.release_slot();
        }
    }
}

/// `io_submit_one`: validates and starts `iocb`, read from user address `user_iocb` (or not:
/// `EFAULT`), in Linux's order (AIO-SEMANTICS §5.2). On error nothing was started and no event
/// will come. Recorded as `kaio_submit` once the iocb is done with (after the event of a
/// request that completed inside io_submit).
pub(crate) fn submit_one(ctx: &Arc<Kioctx>, user_iocb: usize, iocb: Result<Iocb>) -> Result {
    let (data, opcode, fd) = iocb.as_ref().map_or((0, 0, -1), |i| (i.aio_data, i.aio_lio_opcode, i.aio_fildes as i32));
    let r = iocb.and_then(|iocb| submit_iocb(ctx, user_iocb, iocb));
    let result = r.as_ref().err().map_or(0, |e| i64::from(e.to_errno()));
    trace::submit(ctx.user_id() as u64, user_iocb as u64, data, opcode, fd, result);
    r
}

fn submit_iocb(ctx: &Arc<Kioctx>, user_iocb: usize, iocb: Iocb) -> Result {
    if iocb.aio_reserved2 != 0 {
        return Err(EINVAL);
    }
    // `aio_buf` always fits an unsigned long here; `aio_nbytes` must fit a signed size. (Not
    // with the bug put back for tests/check-bugs.sh: a length with its top bit set reaches the
    // import, as the single vector's overflowing length did before CVE-2015-8830's fix.)
    if (iocb.aio_nbytes as i64) < 0 && cfg!(not(kaio_bug = "rw_nbytes_unchecked")) {
        return Err(EINVAL);
    }
    // `aio_get_req`: the request and a ring slot; either failing is EAGAIN.
    let memory = UniqueArc::<Kiocb>::new_uninit_in(&ctx.req_pool, GFP_KERNEL).map_err(|_| EAGAIN)?;
    if !ctx.reserve_slot() {
        return Err(EAGAIN);
    }
    let slot = SlotReservation(Some(ctx));
    let file = FileRef::get(iocb.aio_fildes)?;
    let eventfd = match iocb.aio_flags & IOCB_FLAG_RESFD {
        0 => None,
        _ => Some(EventFd::get(iocb.aio_resfd)?),
    };
    user_word::put(user_iocb + offset_of!(Iocb, aio_key), KIOCB_KEY)?;
    let template = IoEvent { data: iocb.aio_data, obj: user_iocb as u64, res: 0, res2: 0 };
    let mut poll_events = 0;
    let op = match iocb.aio_lio_opcode {
        KAIO_CMD_DELAY => {
            let ns = delay::prep(&iocb)?;
            // A delay keeps no reference to its file.
            drop(file);
            Op::Delay(ns)
        }
        IOCB_CMD_PREAD | IOCB_CMD_PREADV => rw_op(ctx, file, Dir::Read, &iocb)?,
        IOCB_CMD_PWRITE | IOCB_CMD_PWRITEV => rw_op(ctx, file, Dir::Write, &iocb)?,
        IOCB_CMD_FSYNC | IOCB_CMD_FDSYNC => fsync::prep(&iocb, file)?,
        IOCB_CMD_POLL => {
            poll_events = poll::prep(&iocb)?;
            Op::Poll(file)
        }
        // NOOP (6), the former PREADX (4) and everything else: EINVAL, as in Linux.
        _ => return Err(EINVAL),
    };
    // The request's `reqs` reference, dropped with the request. (The caller's `users`
    // reference keeps `reqs` live: it is killed only after the last `users` put.)
    let reqs_ref = ReqsRef::new(ctx).ok_or(EINVAL)?;
    let req: Arc<Kiocb> = memory.pin_init_with(Kiocb::new(reqs_ref, template, iocb.aio_lio_opcode, eventfd, op))?.into();
    // On error the request is dropped here: no event, and the slot goes back.
    match req.kind() {
        Kind::Delay => delay::start(req),
        Kind::Fsync => {
            ctx.inflight.lock().list(&req);
            fsync::start(req);
        }
        Kind::Poll => poll::start(req, poll_events)?,
        Kind::Rw => {
            // Listed by `start` once its checks have passed, before the transfer starts.
            let vectored = matches!(iocb.aio_lio_opcode, IOCB_CMD_PREADV | IOCB_CMD_PWRITEV);
            rw::start(req.clone(), &iocb, vectored)?;
        }
        Kind::PolledRw => {
            let vectored = matches!(iocb.aio_lio_opcode, IOCB_CMD_PREADV | IOCB_CMD_PWRITEV);
            polled_rw::prepare(&req, &iocb, vectored)?;
            // Listed once its first attempts leave it in flight (with its parking, under one
            // hold of ctx_lock); the submit's own reference goes on with the attempts.
            polled_rw::start(req);
        }
    }
    slot.accept();
    stats::count_with_in_flight(Stat::Submitted, iocb.aio_lio_opcode, 1);
    Ok(())
}
// A request and its `Arc` header (count and pool, 16 bytes) fill one 512-byte slab object; a field
// that pushes it over doubles the memory per request. (Lock debugging makes every lock larger.)
#[cfg(not(any(CONFIG_LOCKDEP, CONFIG_DEBUG_SPINLOCK)))]
const _: () = assert!(core::mem::size_of::<Kiocb>() + 16 <= 512);
