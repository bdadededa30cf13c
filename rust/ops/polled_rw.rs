// SPDX-License-Identifier: GPL-2.0

//! `KAIO_SETUP_POLLED_RW`: a read or write on a file that would block (pipe, FIFO, socket,
//! eventfd, tty...) waits on the file's wait queue instead of blocking `io_submit`, is retried
//! from a worker when the file is ready, and can be cancelled until it starts to move data.
//!
//! ```text
//! submit: Running, not listed ──file ready now: non-blocking attempt, in io_submit──> done: event
//!   not ready, or would block ──> the entry armed on the file's queue (one-shot)
//!     ready already, or woken while arming ──> entries taken back, attempt again
//!     not ready     ──> listed and Waiting (one hold of ctx_lock): cancellable while no
//!                       byte has moved
//!   left in flight otherwise (the worker's blocking attempt, the file's own completion)
//!     ──> listed unless its event is posted already
//! wake-up (queue lock held, any context): entry off the queue; while arming, the arming is
//!   marked woken; parked, the attempt is handed on (ready
//!   list): a reaper asleep in io_getevents is woken; else, if a task of the submitter's
//!   process woke the file, it makes the attempt on its way back to user space (task work)
//!   and the ready worker is queued to run a jiffy later; else the ready worker is queued;
//!   a task entering io_getevents may take the attempt first (whoever swaps `retry` makes it)
//! ready worker, task or reaper: Claimed ──> nothing (the canceller posts the event)
//!   stop requested ──> event: the bytes moved, or -ECANCELED
//!   else Running ──> attempt with the submitter's address space and credentials, as at submit
//! cancel ioctl (ctx_lock): Waiting, nothing moved ──> Claimed, entry off its queue, -ECANCELED
//!   posted by the canceller; Running, or a write part done ──> counted running, stop requested
//! teardown sweep (ctx_lock): stop requested
//! ```
//!
//! A file may wait on two queues (a FIFO open for reading and writing, a tty): the request
//! then has an entry on each. `armed` says who owns the next attempt. The owner sets ARMING
//! before it registers the entries, and keeps the attempt until its hold of `ctx_lock`: a
//! wake-up meanwhile only marks it WOKEN, and the owner then takes its entries back and
//! attempts again (a wake-up that took the attempt mid-arming would leave an attempt running
//! while the arming still queues entries). Parked, it is ARMED, and whoever exchanges ARMED
//! for IDLE owns the next attempt: a wake-up (handing it on) or a stop request; a cancel
//! claims a parked request through `state` instead (and leaves `armed` IDLE). So exactly one
//! attempt runs at a time, no wake-up is lost, and a request handed on after a wake-up was
//! parked (WAITING). `state` changes under `ctx_lock`, but for the
//! resumption of a parked request: WAITING to RUNNING by a compare-and-exchange, which a
//! cancel's claim (WAITING to CLAIMED, also one) beats or loses to. Files that ignore
//! `IOCB_NOWAIT` are polled first, then read or written once, blocking, in the worker (never
//! in `io_submit`); from then on they are running.
//!
//! A partial read completes, as `read(2)` does; a write goes on until everything is written
//! (a blocking `write(2)`), and a stop ends it with the count written so far.

use crate::errors::{ECANCELED, EINTR_RES, EINVAL_RES};
use crate::inflight::InFlight;
use crate::req::Kiocb;
use crate::sys::{
    cred::Creds,
    poll::{PollWait, QueueHold, Waker, EPOLLERR, EPOLLHUP, POLLFREE},
    fd::FileRef,
    interruptible::Interruptible,
    irq_spinlock::IrqsDisabled,
    llist::{impl_llist_item, LLink},
    rw::{Attempt, Dir, HeldBuf, HeldClaim, RwKiocb, Waiting},
    stats::{self, Stat},
    system,
    work::Work,
};
use crate::uapi::Iocb;
use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU8, Ordering};
use kernel::{ffi::c_int, prelude::*};
use crate::sys::arc::{Arc, BlockPool, UniqueArc};

const EPOLLIN: u32 = 0x1;
const EPOLLOUT: u32 = 0x4;
const EPOLLRDNORM: u32 = 0x40;
const EPOLLWRNORM: u32 = 0x100;

/// An attempt may run (or runs); not cancellable.
const RUNNING: u8 = 0;
/// Parked on the file's queue (or its worker queued by a wake-up): cancellable if nothing moved.
const WAITING: u8 = 1;
/// A cancel ioctl took it: nothing may complete it but the canceller.
const CLAIMED: u8 = 2;

/// `armed`: no entry armed; the next attempt belongs to whoever runs or was handed the request.
const IDLE: u32 = 0;
/// The owner is registering the entries (until its hold of `ctx_lock`); it keeps the attempt.
const ARMING: u32 = 1;
/// Parked on the entries: exchanging ARMED for IDLE takes the next attempt.
const ARMED: u32 = 2;
/// A wake-up came while the owner was arming: the owner attempts again.
const WOKEN: u32 = 3;

/// A polled read or write's own part of the request: the kiocb, and the rest (used only once
/// it waits, allocated at submit) behind a pointer.
#[pin_data]
pub(crate) struct Polled {
    #[pin]
    pub(crate) rw: RwKiocb<Kiocb>,
    pub(crate) state: PolledState,
}

/// A polled request's [`PolledRw`], in memory from its context's pool for them.
pub(crate) type PolledState = Pin<UniqueArc<PolledRw>>;

impl Polled {
    pub(crate) fn new(file: FileRef, dir: Dir, state: PolledState) -> impl PinInit<Self> {
        pin_init!(Polled { rw <- RwKiocb::new(Some(file), dir), state })
    }
}

/// The state of a polled read or write.
#[pin_data]
pub(crate) struct PolledRw {
    mode: Waiting,
    /// `RUNNING`, `WAITING` or `CLAIMED`; changed under `ctx_lock`, but for the resumption
    /// after a wake-up (WAITING to RUNNING, a compare-and-exchange against a cancel's claim).
    state: AtomicU8,
    /// Asked to end at its next wait (a cancel found it running, or the context is torn down).
    stop: AtomicBool,
    /// The queue went away (`POLLFREE`): one more attempt, then it ends as if stopped.
    queue_gone: AtomicBool,
    /// The file offers no usable wait queue: the next attempt blocks, in the worker.
    block_next: AtomicBool,
    /// Bytes a write has moved in earlier attempts.
    moved: AtomicI64,
    /// The events the entries wait for.
    events: AtomicU32,
    /// The next attempt was handed on to the worker (and, after a wake-up, to a reaper through
    /// the context's [`ReadyList`]): whichever swaps it back to false makes the attempt.
    /// Sequentially consistent: set before the worker is queued, which may find it queued
    /// already (see `ArcSlot::put`).
    retry: AtomicBool,
    /// `IDLE`, `ARMING`, `ARMED` or `WOKEN`: who owns the next attempt (see above).
    armed: AtomicU32,
    /// Its link in the context's [`ReadyList`](super::ready_list::ReadyList).
    ready_link: LLink<Kiocb>,
    /// The entries on the file's queues (the second for a file with two).
    #[pin]
    first: PollWait<Kiocb>,
    #[pin]
    second: PollWait<Kiocb>,
    /// The request's own worker: the blocking attempts, the attempt after a stop request,
    /// and one handed on when the ready list could not take it.
    #[pin]
    work: Work<Kiocb>,
    /// The sleep of the worker's blocking attempt, which a stop request interrupts: it may
    /// otherwise last for as long as the file has no data (a tty read that the poll said was
    /// ready).
    #[pin]
    sleep: Interruptible,
    /// The user buffer, imported once; used by the one attempting owner (claimed, never
    /// waited for).
    #[pin]
    held: HeldBuf,
    /// The submitter's credentials, for attempts in the worker or another task (its address
    /// space is the context's).
    creds: Creds,
}

impl PolledRw {
    /// The state of a request submitted now, by the calling task, in memory from `pool`.
    pub(crate) fn new(mode: Waiting, pool: &Arc<BlockPool>) -> Result<PolledState> {
        let creds = Creds::current()?;
        let memory = UniqueArc::<PolledRw>::new_uninit_in(pool, GFP_KERNEL)?;
        Ok(memory.pin_init_with(pin_init!(PolledRw {
            mode,
            state: AtomicU8::new(RUNNING),
            stop: AtomicBool::new(false),
            queue_gone: AtomicBool::new(false),
            block_next: AtomicBool::new(false),
            moved: AtomicI64::new(0),
            events: AtomicU32::new(0),
            retry: AtomicBool::new(false),
            armed: AtomicU32::new(IDLE),
            ready_link: LLink::new(),
            first <- PollWait::new(),
            second <- PollWait::new(),
            work <- Work::new(),
            sleep <- Interruptible::new(),
            held <- HeldBuf::new(),
            creds,
        }))?)
    }

    /// A cancel's decision, under `ctx_lock`: if the request waits with no byte moved, it is
    /// claimed (WAITING to CLAIMED) and true is returned; else it runs on. The exchange decides
    /// against a resumption racing it (WAITING to RUNNING, without the lock). A request cannot
    /// go back to WAITING while the caller holds `ctx_lock` (only arming does that, under it),
    /// so `moved`, read after WAITING was seen, is the count of a request waiting throughout.
    pub(crate) fn claim_if_cancellable(&self) -> bool {
        // Acquire: pairs with the arming's Release (what the attempts moved is visible).
        self.state.load(Ordering::Acquire) == WAITING
            && self.moved.load(Ordering::Relaxed) == 0
            && self.state.compare_exchange(WAITING, CLAIMED, Ordering::AcqRel, Ordering::Relaxed).is_ok()
    }
}

impl_llist_item!(Kiocb, |req| &req.polled().ready_link);

/// Checks as a plain read/write does (`aio_prep_rw`, the open mode, the method, the buffer,
/// `rw_verify_area`); then [`start`] goes on. The request is listed.
pub(crate) fn prepare(req: &Kiocb, iocb: &Iocb, vectored: bool) -> Result {
    let ioprio = (iocb.aio_flags & crate::uapi::IOCB_FLAG_IOPRIO != 0).then_some(iocb.aio_reqprio);
    req.rw().prep(iocb.aio_offset, iocb.aio_rw_flags, ioprio, req.has_eventfd())?;
    req.rw().check_file()?;
    let p = req.polled();
    // Nobody else has the request yet.
    let mut held = p.held.claim().ok_or(EBUSY)?;
    req.rw().import_held(&mut held, iocb.aio_buf, iocb.aio_nbytes, vectored)
}

/// Makes the first attempt of a prepared request (or waits first), in `io_submit`.
pub(crate) fn start(req: Arc<Kiocb>) {
    attempts(req, Runner::Submitter);
}

/// What arming the entry found.
enum Armed {
    /// On the queue: a wake-up, a stop request or a cancel goes on from there.
    Parked,
    /// Ready already (or stop requested): the entry is back; attempt again.
    Again(LastArming),
    /// No usable queue (none, or several): the next attempt must block.
    NoQueue,
}

/// What the last arming found, once an attempt after it would block all the same (see `arm`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum LastArming {
    /// No arming since the last attempt that moved data.
    None,
    /// The file ready.
    Ready,
    /// The file ready, counting an error the socket had pending.
    ErrorPending,
}

/// Who makes an attempt.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Runner {
    /// The submitter, inside io_submit.
    Submitter,
    /// The worker, a kernel thread: it takes on the submitter's address space.
    Worker,
    /// A task of the submitter's address space reaping the context (`KAIO_IOC_GETEVENTS`).
    Reaper,
    /// The task of the submitter's address space that readied the request, on its way back
    /// to user space.
    Task,
}

/// The attempts of the current owner of the request (the submitter, the worker or a reaper),
/// until the request completes or is parked on the file's queue.
fn attempts(req: Arc<Kiocb>, runner: Runner) {
    let p = req.polled();
    // Attempt without arming first: after a wake-up (readiness) or a stop; in io_submit, if
    // the file reports ready now. A request that would block is armed at once: its wait
    // starts without a failed attempt (as io_uring's poll-first receive), and the arming's
    // own poll catches readiness that comes meanwhile.
    let mut ready = match runner {
        Runner::Submitter => p.mode == Waiting::NoWait && file_ready_now(&req),
        _ => true,
    };
    // In io_submit the request is not listed yet: it is once it stays in flight.
    let unlisted = runner == Runner::Submitter;
    // What the last arming found: if the attempt after it would block all the same, what the
    // file reports is no reason to try again (see `arm`).
    let mut last_arming = LastArming::None;
    loop {
        if p.stop.load(Ordering::Acquire) {
            return finish_stopped(req);
        }
        let blocking = p.mode == Waiting::PollThenBlock || p.block_next.load(Ordering::Relaxed);
        if !ready {
            match arm(&req, unlisted, LastArming::None) {
                Armed::Parked => return,
                Armed::Again(found) => {
                    last_arming = found;
                    ready = true;
                }
                Armed::NoQueue => ready = true,
            }
            continue;
        }
        if blocking && runner != Runner::Worker {
            // Never in io_submit or getevents: the worker makes the blocking attempt.
            p.block_next.store(true, Ordering::Relaxed);
            if unlisted {
                list_unless_posted(&req, &mut req.ctx.inflight.lock());
            }
            return queue_worker(req);
        }
        let attempt = {
            let Some(mut held) = p.held.claim() else {
                // A second attempting owner: the protocol above is broken.
                system::warn_on(true);
                return;
            };
            let mut run = || req.rw().attempt(req.clone(), &mut held, !blocking);
            match runner {
                Runner::Submitter => Some(run()),
                // `None`: stopped before the blocking attempt began.
                Runner::Worker if blocking => blocking_attempt(&req, &mut held),
                // A test widens the time the worker holds the address space (`race_delay`),
                // in which the submitter's process may exit.
                // `EFAULT`: the submitter's address space is gone (its process is exiting).
                Runner::Worker => Some(
                    req.ctx
                        .polled_mm
                        .as_ref()
                        .and_then(|mm| {
                            mm.run_in(|| {
                                system::race_delay();
                                p.creds.run_as(run)
                            })
                        })
                        .unwrap_or(Err(EFAULT)),
                ),
                // Same address space (checked); the submitter's credentials.
                Runner::Reaper | Runner::Task => Some(p.creds.run_as(run)),
            }
        };
        let Some(attempt) = attempt else { return finish_stopped(req) };
        match attempt {
            Err(e) => return finish(req, i64::from(e.to_errno())),
            // The file completes it through `rw_done`.
            Ok(Attempt::Queued) => {
                if unlisted {
                    list_unless_posted(&req, &mut req.ctx.inflight.lock());
                }
                return;
            }
            // A stop interrupted the blocking attempt before it moved anything.
            Ok(Attempt::Done(res)) if blocking && res == EINTR_RES && p.stop.load(Ordering::Acquire) => {
                return finish_stopped(req)
            }
            Ok(Attempt::Done(res)) => {
                let write_left = req.rw().dir() == Dir::Write
                    && res > 0
                    && !blocking
                    && p.held.claim().is_some_and(|mut held| held.remaining() > 0);
                if write_left {
                    // A blocking write goes on until everything is written.
                    p.moved.fetch_add(res, Ordering::Relaxed);
                    ready = true;
                    last_arming = LastArming::None;
                    continue;
                }
                return finish(req, res);
            }
            Ok(Attempt::WouldBlock) => {
                if p.queue_gone.load(Ordering::Acquire) {
                    return finish_stopped(req);
                }
                if unlisted && last_arming != LastArming::None {
                    system::rearm_delay();
                }
                match arm(&req, unlisted, last_arming) {
                    Armed::Parked => return,
                    Armed::Again(found) => {
                        last_arming = found;
                        ready = true;
                    }
                    Armed::NoQueue => {
                        p.block_next.store(true, Ordering::Relaxed);
                        ready = true;
                    }
                }
            }
        }
    }
}

/// The most one blocking attempt moves through its kernel buffer at a time: a read returns at
/// most this (as read(2) may return less than asked); a longer write goes on in turns.
const BLOCKING_CHUNK: usize = 1 << 20;

/// The worker's blocking attempt (a file that ignores `IOCB_NOWAIT`, or has no queue to wait
/// on): the transfer sleeps as read(2) or write(2) would, through a kernel buffer, without the
/// submitter's address space, which the worker takes only to copy the bytes out or in. Held
/// through the sleep, it would keep the process's exit from tearing the address space down,
/// the teardown that stops the process's requests: the transfer could sleep for as long as
/// its file stayed quiet, holding the dead process's memory. A stop interrupts the sleep
/// ([`Interruptible`]). A file that refuses a kernel buffer (FUSE's and ALSA's read and write
/// want user memory: `EINVAL` before anything moves) is tried again with the user buffer,
/// the address space held through the sleep (interruptible all the same, but then only a
/// cancel, io_destroy or a close of every descriptor and mapping stops it, not the process's
/// exit). `None`: stopped before the transfer began.
fn blocking_attempt(req: &Arc<Kiocb>, held: &mut HeldClaim<'_>) -> Option<Result<Attempt>> {
    let p = req.polled();
    let rw = req.rw();
    let Some(mm) = req.ctx.polled_mm.as_ref() else { return Some(Err(EFAULT)) };
    let user_buffer = |held: &mut HeldClaim<'_>| {
        mm.run_in(|| p.sleep.run(|| p.creds.run_as(|| rw.attempt(req.clone(), held, false)))).unwrap_or(Some(Err(EFAULT)))
    };
    // The bug put back (tests/check-bugs.sh): the transfer sleeps into the user buffer, with
    // the address space held.
    if cfg!(kaio_bug = "blocking_attempt_holds_mm") {
        return user_buffer(held);
    }
    let mut buf = match KVVec::from_elem(0u8, held.remaining().min(BLOCKING_CHUNK), GFP_KERNEL) {
        Ok(buf) => buf,
        Err(_) => return Some(Err(ENOMEM)),
    };
    let transfer = |buf: &mut [u8]| {
        if system::refuse_kernel_buffer() {
            return Some(Ok(EINVAL_RES));
        }
        p.sleep.run(|| p.creds.run_as(|| rw.transfer_kernel(buf)))
    };
    if rw.dir() == Dir::Read {
        let read = match transfer(&mut buf)? {
            Ok(EINVAL_RES) => return user_buffer(held),
            // At most what was asked, whatever the file says.
            Ok(n) if n > 0 => (n as usize).min(buf.len()),
            other => return Some(other.map(Attempt::Done)),
        };
        // Lost with the address space if the process is gone, as a read(2) into a buffer that
        // faults loses them (a tty reads through a kernel buffer too).
        let copied = mm.run_in(|| held.copy_out(&buf[..read])).unwrap_or(0);
        return Some(if copied > 0 { Ok(Attempt::Done(copied as i64)) } else { Err(EFAULT) });
    }
    // A write, in turns of the buffer's size, until all is written, the file takes less, or a
    // stop comes; an error after a part was written reports the part.
    let done = |written: i64, res: Result<Attempt>| Some(if written > 0 { Ok(Attempt::Done(written)) } else { res });
    let mut written = 0i64;
    loop {
        let len = held.remaining().min(buf.len());
        let Some(taken) = mm.run_in(|| held.copy_in(&mut buf[..len])) else { return done(written, Err(EFAULT)) };
        if taken == 0 && len > 0 {
            return done(written, Err(EFAULT));
        }
        let res = match transfer(&mut buf[..taken]) {
            Some(Ok(n)) => n,
            Some(Err(e)) => i64::from(e.to_errno()),
            None => ECANCELED,
        };
        let moved = res.clamp(0, taken as i64);
        held.give_back(taken - moved as usize);
        if res == EINVAL_RES && written == 0 {
            return user_buffer(held);
        }
        if res < 0 {
            return done(written, Ok(Attempt::Done(res)));
        }
        written += moved;
        if moved < taken as i64 || held.remaining() == 0 || p.stop.load(Ordering::Acquire) {
            return Some(Ok(Attempt::Done(written)));
        }
    }
}

/// The events a request waits for: its direction's, and an error or hang-up (which end a
/// read or write at once).
fn wanted_events(dir: Dir) -> u32 {
    let direction = match dir {
        Dir::Read => EPOLLIN | EPOLLRDNORM,
        Dir::Write => EPOLLOUT | EPOLLWRNORM,
    };
    direction | EPOLLERR | EPOLLHUP
}

/// Whether the file reports the request's events now (`vfs_poll` registering nothing). A
/// request with no file to poll makes its attempt.
fn file_ready_now(req: &Kiocb) -> bool {
    let events = wanted_events(req.rw().dir());
    req.rw().file().map_or(true, |file| PollWait::<Kiocb>::poll_now(file, events) & events != 0)
}

/// Registers the entries on the file's queues for the transfer's direction; parks the request
/// there unless the file is ready already. `unlisted` (in io_submit): a request left in
/// flight is listed in the same hold of `ctx_lock`. `last`: what the last arming found, if an
/// attempt would block after it although it found the file ready; then an error or hang-up
/// the file reports is not readiness (a socket reports `EPOLLERR` while its error queue holds
/// a timestamp or a zerocopy notice, which a read or write does not consume: trying again
/// would spin for as long, as a blocking read(2) sleeps): only the direction's events are, and
/// the request parks unless one of them is reported, or the socket has an error pending
/// (`sk_err`, which the next attempt reports and clears: one that came after the attempt,
/// whose wake-up found no entry, is not lost; counted once, in case an attempt does not clear
/// it). A wake-up for an error still comes to it.
fn arm(req: &Arc<Kiocb>, unlisted: bool, last: LastArming) -> Armed {
    let p = req.polled();
    let events = wanted_events(req.rw().dir());
    p.events.store(events, Ordering::Relaxed);
    let Some(file) = req.rw().file() else { return Armed::NoQueue };
    // Before the entries are visible: a wake-up during `vfs_poll` finds the arming.
    p.armed.store(ARMING, Ordering::Release);
    // In io_submit a test may widen the windows in which wake-ups find the arming: between
    // the two entries of a file with two queues, and before the hold of `ctx_lock` below.
    let armed = p.first.arm_pair(&p.second, req, file, events, unlisted);
    if unlisted {
        system::race_delay();
    }
    let usable = armed.queued && armed.error == 0;
    // The bug put back (tests/check-bugs.sh): an error the attempts do not clear is readiness
    // for ever.
    let errors_seen = last != LastArming::None && !cfg!(kaio_bug = "polled_error_is_readiness");
    // Read after the entries are queued: an error set later wakes them. The bug put back
    // (tests/check-bugs.sh): an error pending is ignored with the error queue's.
    let error_pending = errors_seen
        && last != LastArming::ErrorPending
        && !cfg!(kaio_bug = "polled_socket_error_ignored")
        && file.socket_error_pending();
    let ready_events = if errors_seen && !error_pending { events & !(EPOLLERR | EPOLLHUP) } else { events };
    let ready = armed.mask & ready_events != 0;
    let taken;
    let outcome;
    {
        let mut inflight = req.ctx.inflight.lock();
        if usable && !ready && !p.stop.load(Ordering::Acquire) {
            // WAITING first (Release: a resumption that finds it sees what the attempts did),
            // then ARMED, which lets a wake-up hand the request on: it is found parked.
            let before = p.state.load(Ordering::Relaxed);
            p.state.store(WAITING, Ordering::Release);
            match p.armed.compare_exchange(ARMING, ARMED, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    if unlisted {
                        list_unless_posted(req, &mut inflight);
                    }
                    return Armed::Parked;
                }
                // Woken meanwhile: taken back below, and attempted again.
                Err(WOKEN) => {}
                Err(_) => {
                    p.state.store(before, Ordering::Relaxed);
                    return taken_mid_arming(req, unlisted, &mut inflight);
                }
            }
        } else if p.armed.load(Ordering::Relaxed) == IDLE {
            return taken_mid_arming(req, unlisted, &mut inflight);
        }
        p.armed.store(IDLE, Ordering::Relaxed);
        p.state.store(RUNNING, Ordering::Relaxed);
        taken = detach_entries(req, &mut QueueHold::new(inflight.irqs_off()));
        let found = if error_pending { LastArming::ErrorPending } else { LastArming::Ready };
        outcome = if usable { Armed::Again(found) } else { Armed::NoQueue };
    }
    // Never the last references: `req` is one.
    drop(taken);
    outcome
}

/// The arming found its attempt taken by a wake-up (`armed` IDLE), which only a build with the
/// mid-arming hand-off put back can do (tests/check-bugs.sh): as before the fix, the arming
/// leaves the request to whoever took the attempt, after listing it if in io_submit.
fn taken_mid_arming(req: &Arc<Kiocb>, unlisted: bool, inflight: &mut InFlight) -> Armed {
    system::warn_on(!HAND_ON_MID_ARMING);
    if unlisted {
        list_unless_posted(req, inflight);
    }
    Armed::Parked
}

/// The bugs put back (tests/check-bugs.sh) in which a wake-up during the arming takes the next
/// attempt (the arming's entries may then be queued after that attempt completed the request,
/// holding it for ever; and, with the listing bug, a request so completed is listed after its
/// event).
const HAND_ON_MID_ARMING: bool = cfg!(any(kaio_bug = "polled_wake_during_arming", kaio_bug = "polled_list_after_event"));

/// Lists a request that its attempts in io_submit leave in flight, under `ctx_lock`, unless
/// its event is posted already (a file that completes the transfer itself may have done so;
/// so could an attempt a wake-up took mid-arming, before the fix): `complete` posts before it
/// unlists, under this lock, so a request is never left listed after its event.
fn list_unless_posted(req: &Arc<Kiocb>, inflight: &mut InFlight) {
    // The bug put back (tests/check-bugs.sh): a request completed meanwhile is listed anyway,
    // and stays listed after its event.
    if !req.is_posted() || cfg!(kaio_bug = "polled_list_after_event") {
        inflight.list(req);
    }
}

/// Takes the entries off their queues, under `ctx_lock`; returns the queue references, to be
/// dropped after it.
fn detach_entries(req: &Kiocb, hold: &mut QueueHold<'_>) -> [Option<Arc<Kiocb>>; 2] {
    let p = req.polled();
    let first = p.first.lock_queue_in(hold).and_then(|q| q.detach());
    [first, p.second.lock_queue_in(hold).and_then(|q| q.detach())]
}

/// Hands the next attempt on to the worker (the caller owns it).
fn queue_worker(req: Arc<Kiocb>) {
    let p = req.polled();
    p.retry.store(true, Ordering::SeqCst);
    // `false`: it is queued already and will find `retry` set; the module's queue cannot be
    // gone while a file is open.
    p.work.queue(req.clone());
}

/// Completes with `res`, counting the bytes earlier attempts of a write moved.
fn finish(req: Arc<Kiocb>, res: i64) {
    let moved = req.polled().moved.load(Ordering::Relaxed);
    let res = match (moved, res) {
        (0, res) => res,
        // An error after a part was written reports the part, as write(2) does.
        (moved, res) if res < 0 => moved,
        (moved, res) => moved + res,
    };
    req.complete(res);
}

/// Completes a stopped request: the bytes moved, or `-ECANCELED` if none.
fn finish_stopped(req: Arc<Kiocb>) {
    finish(req, ECANCELED);
}

/// The wake function: takes this entry off its queue and, unless someone took it already,
/// the next attempt, queueing the worker. Queue lock held, any context.
pub(crate) fn wake(req: &Kiocb, waker: &Waker<'_, Kiocb>, mask: u32) -> c_int {
    let p = req.polled();
    let taken = if mask & POLLFREE != 0 {
        p.queue_gone.store(true, Ordering::Release);
        waker.detach_pollfree()
    } else if mask != 0 && mask & p.events.load(Ordering::Relaxed) == 0 {
        return 0;
    } else {
        waker.detach()
    };
    if let Some(owner) = taken {
        if take_parked_attempt(p) {
            // The next attempt goes to the worker, or to a task reaping the context if one
            // gets there first (it is woken if it sleeps).
            p.retry.store(true, Ordering::SeqCst);
            let ctx = &req.ctx;
            match ctx.ready.push(owner) {
                // A task sleeps in io_getevents on the context (so it is of the submitter's
                // process): woken, it makes the attempt, sparing the worker's hop.
                Ok(()) if ctx.has_reapers() => ctx.wake_waiters(),
                Ok(()) => match ctx.mm.current_user_task() {
                    // A task of the submitter's process readied it: it makes the attempt on
                    // its way back to user space; the ready worker a jiffy later if it cannot.
                    Some(task) => {
                        ctx.ready.kick_here(ctx.arc(), task);
                        ctx.ready.kick_later(ctx);
                    }
                    // The context's ready worker (one hop for every attempt readied before it
                    // runs), unless a task entering io_getevents gets there first.
                    None => ctx.ready.kick(ctx.arc()),
                },
                Err(owner) => {
                    p.work.queue(owner);
                }
            }
        }
        // Else another entry's wake-up, a stop or the owner took it; this entry is done.
    }
    1
}

/// A wake-up's claim on the next attempt: true if the request was parked (ARMED, now IDLE),
/// and the caller hands the attempt on; during the arming it is marked WOKEN (the arming owner
/// goes on), and otherwise someone owns it already.
fn take_parked_attempt(p: &PolledRw) -> bool {
    let mut seen = p.armed.load(Ordering::Acquire);
    loop {
        let next = match seen {
            ARMED => IDLE,
            ARMING if HAND_ON_MID_ARMING => IDLE,
            ARMING => WOKEN,
            _ => return false,
        };
        match p.armed.compare_exchange(seen, next, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return next == IDLE,
            Err(now) => seen = now,
        }
    }
}

/// The request's own worker: the next attempt, unless someone else made it or a cancel
/// claimed the request.
pub(crate) fn work(req: Arc<Kiocb>) {
    if req.polled().retry.swap(false, Ordering::SeqCst) {
        next_attempt(req, Runner::Worker);
    }
}

/// The context's ready worker: every attempt of the ready list, in this kernel thread on the
/// submitter's address space, until the list is empty. An attempt that will block goes to the
/// request's own worker, so that it holds up no other request.
pub(crate) fn ready_work(ctx: &crate::ctx::Kioctx) {
    while !ctx.ready.is_empty() {
        for req in ctx.ready.take_all() {
            let p = req.polled();
            if p.mode == Waiting::PollThenBlock || p.block_next.load(Ordering::Relaxed) {
                // `retry` stays set: the request's worker takes it.
                p.work.queue(req.clone());
            } else if p.retry.swap(false, Ordering::SeqCst) {
                next_attempt(req, Runner::Worker);
            }
        }
    }
}

/// Makes the attempts a wake-up handed on, in a task reaping the context (`KAIO_IOC_GETEVENTS`,
/// whose lookup found the caller in the context's address space) rather than in the worker:
/// every request of the ready list, until it is empty. Process context, no lock held.
pub(crate) fn run_ready(ctx: &crate::ctx::Kioctx) {
    run_ready_as(ctx, Runner::Reaper);
}

/// Makes the attempts of the ready list in the task that readied them, on its way back to
/// user space (the context's task work). Nothing if the task has left the submitter's address
/// space (it is exiting): the ready worker, queued with the task work, makes them.
pub(crate) fn ready_task_work(ctx: &crate::ctx::Kioctx) {
    if ctx.mm.is_current_user_task() {
        run_ready_as(ctx, Runner::Task);
    }
}

/// The attempts of the ready list, in a task of the context's address space (its requests'
/// too: only that address space submits to it).
fn run_ready_as(ctx: &crate::ctx::Kioctx, runner: Runner) {
    // Entries pushed while these attempts are made are taken in the next round.
    while !ctx.ready.is_empty() {
        for req in ctx.ready.take_all() {
            if req.polled().retry.swap(false, Ordering::SeqCst) {
                next_attempt(req, runner);
            }
        }
    }
}

/// Gives the requests left in the ready list to the ready worker (a reaper leaving
/// io_getevents: a wake-up that found it asleep queued no worker). Process context.
pub(crate) fn hand_ready_to_worker(ctx: &Arc<crate::ctx::Kioctx>) {
    if !ctx.ready.is_empty() {
        ctx.ready.kick(ctx.clone());
    }
}

/// The next attempt, after a hand-off, unless a cancel claimed the request.
fn next_attempt(req: Arc<Kiocb>, runner: Runner) {
    if let Some(taken) = resume(&req) {
        drop(taken);
        attempts_after_resume(req, runner);
    }
}

/// Running again after a hand-off: `None` if a cancel claimed the request, else the
/// references of the entries taken off their queues (the other entry, if the file has two
/// queues), to be dropped by the caller.
///
/// Without `ctx_lock` when the request waits (as it does once parked): WAITING to RUNNING by
/// a compare-and-exchange, which a cancel's claim (WAITING to CLAIMED, see
/// [`PolledRw::claim_if_cancellable`]) either beats or loses to. Nobody else changes a parked
/// request's state: a stop request finds its next attempt taken (`armed` is IDLE).
fn resume(req: &Kiocb) -> Option<[Option<Arc<Kiocb>>; 2]> {
    let p = req.polled();
    // The bug put back (tests/check-bugs.sh): the resumption overwrites a cancel's claim, so
    // the canceller and the attempt both complete the request.
    let exchanged = if cfg!(kaio_bug = "polled_resume_ignores_claim") {
        p.state.store(RUNNING, Ordering::Release);
        Ok(WAITING)
    } else {
        p.state.compare_exchange(WAITING, RUNNING, Ordering::AcqRel, Ordering::Acquire)
    };
    match exchanged {
        Ok(_) => {}
        Err(CLAIMED) => return None,
        // Running: its owner handed it to its worker without parking it (the blocking
        // attempt); or, with the mid-arming hand-off put back, a wake-up took the attempt while
        // the arming had not yet parked it, which may still park it: decided under the lock.
        Err(_) => return resume_locked(req),
    }
    // The entry a wake-up took is off its queue; the other is off too unless the file has two
    // queues (then it is taken off here, with interrupts off, as under the queue lock).
    if !p.first.may_be_queued() && !p.second.may_be_queued() {
        return Some([None, None]);
    }
    let irqs = IrqsDisabled::new();
    let taken = detach_entries(req, &mut QueueHold::new(irqs.irqs_off()));
    Some(taken)
}

/// [`resume`] of a request found RUNNING, under `ctx_lock` (so after any arming's hold of it):
/// it is RUNNING, or, with the mid-arming hand-off put back, WAITING (parked by the arming
/// since, and this its next attempt) or CLAIMED (a cancel took it since it was parked).
fn resume_locked(req: &Kiocb) -> Option<[Option<Arc<Kiocb>>; 2]> {
    let inflight = req.ctx.inflight.lock();
    let p = req.polled();
    if p.state.load(Ordering::Relaxed) == CLAIMED {
        return None;
    }
    p.state.store(RUNNING, Ordering::Relaxed);
    let taken = detach_entries(req, &mut QueueHold::new(inflight.irqs_off()));
    Some(taken)
}

/// The attempts of a request [`resume`] found unclaimed.
fn attempts_after_resume(req: Arc<Kiocb>, runner: Runner) {
    stats::add(
        match runner {
            Runner::Worker => Stat::PolledRetriesWorker,
            Runner::Reaper | Runner::Submitter => Stat::PolledRetriesReaper,
            Runner::Task => Stat::PolledRetriesTask,
        },
        1,
    );
    attempts(req, runner);
}

/// A cancel ioctl's claim, under `ctx_lock`, of a cancellable request taken off the index (or
/// left on it until a RESULT delivery): the entries leave their queues, and a worker already
/// queued finds it claimed. Returns the
/// queue references, to be dropped after `ctx_lock`.
pub(crate) fn claim(req: &Arc<Kiocb>, hold: &mut QueueHold<'_>) -> [Option<Arc<Kiocb>>; 2] {
    let p = req.polled();
    p.state.store(CLAIMED, Ordering::Relaxed);
    p.armed.store(IDLE, Ordering::Release);
    detach_entries(req, hold)
}

/// Asks the request to end at its next wait, under `ctx_lock` (a cancel that found it running,
/// or the teardown sweep). A parked request is woken for it: its worker ends it.
pub(crate) fn stop(req: &Arc<Kiocb>, hold: &mut QueueHold<'_>) {
    let p = req.polled();
    p.stop.store(true, Ordering::Release);
    // A blocking attempt in the worker ends at once (a kernel worker takes no signals). The
    // bug put back (tests/check-bugs.sh): it sleeps on until its file has data.
    if !cfg!(kaio_bug = "blocking_attempt_uninterruptible") {
        p.sleep.interrupt();
    }
    if p.state.load(Ordering::Relaxed) != WAITING
        || p.armed.compare_exchange(ARMED, IDLE, Ordering::AcqRel, Ordering::Relaxed).is_err()
    {
        // Someone owns the next attempt (running, or a queued worker): it sees `stop` before
        // it parks again (checked under ctx_lock).
        return;
    }
    let [first, second] = detach_entries(req, hold);
    // Any reference does for the worker; without the entries' (cannot be: they were armed and
    // nobody took them), a new one.
    p.retry.store(true, Ordering::SeqCst);
    p.work.queue(first.or(second).unwrap_or_else(|| req.clone()));
}
