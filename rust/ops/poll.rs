// SPDX-License-Identifier: GPL-2.0

//! `IOCB_CMD_POLL` (`aio_poll`, `aio_poll_wake`, `aio_poll_complete_work`, `aio_poll_cancel`):
//! wait for readiness on any pollable file; the request that io_cancel really cancels.
//!
//! ```text
//! submit: vfs_poll registers the wait entry on the file's queue (at most one queue)
//!   ready now (or an error)      ──> entry stolen off the queue; event at once (or rejected)
//!   not ready                    ──> listed in the index, cancellable, waiting
//! wake-up (any context, queue lock held):
//!   with a matching mask, worker idle, ctx_lock free (trylock) ──> completed inline, res = mask
//!     (the event posted under ctx_lock; with RESFD, the worker signals the request's
//!     eventfd and wakes the waiters)
//!   otherwise                    ──> the worker is queued (or told to run again)
//!   POLLFREE                     ──> also cancelled and taken off the dying queue for good
//! worker: re-polls; nothing ready and not cancelled ──> keeps waiting; else completes (the
//!   event posted under the ctx_lock that unlists it)
//! teardown sweep (ctx_lock held): marks cancelled, queues the worker ──> res 0
//! cancel ioctl (ctx_lock held): claims it: off the queue, no wake-up or worker completes it
//!   ──> the canceller posts res 0 before dropping ctx_lock (RESULT: copies it to the caller
//!   after, the request listed until then)
//! ```
//!
//! `work_scheduled`/`need_resched` are changed only with the queue lock held (or after the
//! entry left the queue), as in Linux; `cancelled` is read without it.

use crate::req::Kiocb;
use crate::sys::{
    fd::FileRef,
    irq_spinlock::IrqsOff,
    poll::{PollWait, QueueHold, Waker, EPOLLERR, EPOLLHUP, POLLFREE, POLL_KNOWN},
    system,
    work::Work,
};
use crate::uapi::Iocb;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use kernel::{ffi::c_int, prelude::*};
use crate::sys::arc::Arc;

/// A poll request's own state (`struct poll_iocb`).
#[pin_data]
pub(crate) struct Poll {
    file: FileRef,
    /// The entry on the file's wait queue.
    #[pin]
    wait: PollWait<Kiocb>,
    state: PollState,
    /// The worker: re-polls, or finishes an inline completion (eventfd, waiters).
    #[pin]
    work: Work<Kiocb>,
}

impl Poll {
    pub(crate) fn new(file: FileRef) -> impl PinInit<Self> {
        pin_init!(Poll { file, wait <- PollWait::new(), state: PollState::new(), work <- Work::new() })
    }
}

/// The flags of a poll request.
struct PollState {
    events: AtomicU32,
    cancelled: AtomicBool,
    work_scheduled: AtomicBool,
    need_resched: AtomicBool,
    /// The worker only has to signal the eventfd of an inline completion, which must not be
    /// signalled from inside a wake-up, and then wake the waiters, in `aio_complete`'s order
    /// (`aio_poll_put_work`; the event is posted already).
    deferred: AtomicBool,
}

impl PollState {
    const fn new() -> Self {
        PollState {
            events: AtomicU32::new(0),
            cancelled: AtomicBool::new(false),
            work_scheduled: AtomicBool::new(false),
            need_resched: AtomicBool::new(false),
            deferred: AtomicBool::new(false),
        }
    }
}

/// Checks the iocb of a poll request: the requested mask must fit 16 bits, and offset, size and
/// rw flags must be 0. Returns the events to wait for (`demangle_poll` plus ERR and HUP).
pub(crate) fn prep(iocb: &Iocb) -> Result<u32> {
    if iocb.aio_buf > u64::from(u16::MAX) {
        return Err(EINVAL);
    }
    if iocb.aio_offset != 0 || iocb.aio_nbytes != 0 || iocb.aio_rw_flags != 0 {
        return Err(EINVAL);
    }
    Ok((iocb.aio_buf as u32 & POLL_KNOWN) | EPOLLERR | EPOLLHUP)
}

fn mangle(mask: u32) -> i64 {
    i64::from(mask & POLL_KNOWN)
}

/// Registers the request and decides, under `ctx_lock`, between completing now, rejecting,
/// and waiting in the index (`aio_poll`).
pub(crate) fn start(req: Arc<Kiocb>, events: u32) -> Result {
    let p = req.poll();
    let st = &p.state;
    st.events.store(events, Ordering::Relaxed);
    let file = &p.file;
    let armed = p.wait.arm(&req, file, events);
    let mut mask = armed.mask & events;
    let mut error = armed.error;
    let mut stolen = None;
    let mut complete_now = false;
    {
        let mut guard = req.ctx.inflight.lock();
        let (irqs, inflight) = guard.split();
        if armed.queued {
            let mut hold = QueueHold::new(irqs);
            let queue = p.wait.lock_queue_in(&mut hold);
            let on_queue = queue.is_some();
            let mut cancel = false;
            if !on_queue || st.work_scheduled.load(Ordering::Relaxed) {
                // A wake-up already completed it inline, or queued the worker.
                if error != 0 {
                    // Several queues: cancel if possible (it may be too late).
                    cancel = true;
                }
                error = 0;
                mask = 0;
            }
            if mask != 0 || error != 0 {
                // Steal it off the queue to finish here.
                stolen = queue.as_ref().and_then(|q| q.detach());
            } else if cancel {
                st.cancelled.store(true, Ordering::Relaxed);
                // Still on its queue, the worker queued: in flight until the worker posts its
                // event, so listed (ABI.md "Matching"); Linux leaves it off `active_reqs`.
                if on_queue {
                    inflight.list(&req);
                }
            } else if on_queue {
                // Really waiting: cancellable from now on.
                inflight.list(&req);
            }
            drop(hold);
        }
        if mask != 0 {
            error = 0;
            complete_now = true;
        }
    }
    drop(stolen);
    if complete_now {
        req.complete(mangle(mask));
    }
    if error != 0 {
        return Err(Error::from_errno(error));
    }
    Ok(())
}

/// `aio_poll_wake`.
pub(crate) fn wake(req: &Kiocb, waker: &Waker<'_, Kiocb>, mask: u32) -> c_int {
    let p = req.poll();
    let st = &p.state;
    let events = st.events.load(Ordering::Relaxed);
    if mask != 0 && mask & events == 0 {
        return 0;
    }
    if mask != 0 && !st.work_scheduled.load(Ordering::Relaxed) {
        if let Some(mut inflight) = req.ctx.inflight.try_lock() {
            let queue_ref = waker.detach();
            let listed = inflight.unlist(req);
            // The bug put back (tests/check-bugs.sh): posted after ctx_lock, as fs/aio.c's
            // aio_poll_wake completes; a CANCEL_MATCH(WAIT) in between sees nothing in flight
            // and no event yet.
            if cfg!(kaio_bug = "poll_wake_posted_after_unlist") {
                if let Some(owner) = queue_ref {
                    drop(inflight);
                    system::completion_delay();
                    drop(listed);
                    owner.complete(mangle(mask));
                    return 1;
                }
            }
            // Posted in this hold of ctx_lock: a cancel finds the request listed or posted.
            system::completion_delay();
            let posted = req.post_held(mangle(mask), &mut inflight);
            // This is some file's wake-up, its queue lock held: signalling the eventfd here can
            // recurse through epoll into that same lock (an epoll instance that watches the
            // eventfd, polled by this request), or into the eventfd's own wake-up. So the
            // worker signals it, for every request with one, as `aio_poll_wake` defers every
            // eventfd-backed completion ("aio: prevent eventfd/epoll recursion on poll"). The
            // event is posted here all the same.
            #[cfg(not(kaio_bug = "poll_resfd_inline"))]
            let deferred = req.has_eventfd();
            // The bug put back (tests/check-bugs.sh): "aio: prevent potential eventfd recursion
            // on poll" undone, and its 2025 successor.
            #[cfg(kaio_bug = "poll_resfd_inline")]
            let deferred = false;
            if deferred {
                st.deferred.store(true, Ordering::Release);
                if let Some(r) = &queue_ref {
                    p.work.queue(r.clone());
                }
            }
            drop(inflight);
            drop(listed);
            if deferred {
                // The worker signals the eventfd, then wakes the waiters.
                drop(posted);
            } else {
                req.notify(posted);
            }
            drop(queue_ref);
            return 1;
        }
    }
    // Re-polling is needed: the worker decides (the entry stays on the queue, so no wake-up
    // can be missed).
    if st.work_scheduled.load(Ordering::Relaxed) {
        st.need_resched.store(true, Ordering::Relaxed);
    } else if let Some(owner) = waker.owner() {
        st.work_scheduled.store(true, Ordering::Relaxed);
        p.work.queue(owner);
    }
    if mask & POLLFREE != 0 {
        // The queue is going away: leave it now, and let the worker complete the request.
        st.cancelled.store(true, Ordering::Relaxed);
        drop(waker.detach_pollfree());
    }
    1
}

/// The worker (`aio_poll_complete_work`, or `aio_poll_put_work` for a deferred completion).
pub(crate) fn work(req: Arc<Kiocb>) {
    let p = req.poll();
    let st = &p.state;
    if st.deferred.swap(false, Ordering::AcqRel) {
        // The wake-up posted the event and left the eventfd and the wake-up to this worker.
        req.signal_eventfd();
        req.ctx.wake_waiters();
        return;
    }
    let events = st.events.load(Ordering::Relaxed);
    let mut mask = 0;
    if !st.cancelled.load(Ordering::Relaxed) {
        mask = PollWait::<Kiocb>::poll_now(&p.file, events) & events;
    }
    let (queue_ref, listed, posted) = {
        let mut inflight = req.ctx.inflight.lock();
        let mut queue_ref = None;
        {
            let mut hold = QueueHold::new(inflight.irqs_off());
            if let Some(queue) = p.wait.lock_queue_in(&mut hold) {
                if mask == 0 && !st.cancelled.load(Ordering::Relaxed) {
                    // Not ready after all: wait on, or run again if another wake-up came.
                    if st.need_resched.swap(false, Ordering::Relaxed) {
                        p.work.queue(req.clone());
                    } else {
                        st.work_scheduled.store(false, Ordering::Relaxed);
                    }
                    return;
                }
                queue_ref = queue.detach();
            }
        }
        // Otherwise POLLFREE took it off its queue: complete regardless.
        if req.is_claimed() {
            // A cancel ioctl took it (off the index, or listed until a RESULT delivery) and
            // posts its event.
            drop(inflight);
            drop(queue_ref);
            return;
        }
        let listed = inflight.unlist(&req);
        // The bug put back (tests/check-bugs.sh): posted after ctx_lock, as fs/aio.c's
        // aio_poll_complete_work completes; a CANCEL_MATCH(WAIT) in between sees nothing in
        // flight and no event yet.
        if cfg!(kaio_bug = "poll_work_posted_after_unlist") {
            drop(inflight);
            system::completion_delay();
            drop(queue_ref);
            drop(listed);
            req.complete(mangle(mask));
            return;
        }
        // Posted in this hold of ctx_lock: a cancel finds the request listed or posted.
        system::completion_delay();
        let posted = req.post_held(mangle(mask), &mut inflight);
        (queue_ref, listed, posted)
    };
    drop(queue_ref);
    drop(listed);
    req.notify(posted);
}

/// `aio_poll_cancel` for the teardown sweep, under `ctx_lock`: mark cancelled and let the
/// worker complete it (res 0).
pub(crate) fn cancel(req: &Arc<Kiocb>, irqs: IrqsOff<'_>) {
    let p = req.poll();
    let st = &p.state;
    let mut hold = QueueHold::new(irqs);
    if p.wait.lock_queue_in(&mut hold).is_some() {
        st.cancelled.store(true, Ordering::Relaxed);
        if !st.work_scheduled.swap(true, Ordering::Relaxed) {
            p.work.queue(req.clone());
        }
    }
    // Otherwise POLLFREE already force-cancelled it.
}

/// A cancel ioctl's claim, under `ctx_lock` (the request off the index, or listed until a
/// RESULT delivery): the entry leaves its queue (no wake-up reaches it any more) and a worker
/// already queued will find the request claimed. Returns the queue's reference, to be dropped after `ctx_lock`.
pub(crate) fn claim(req: &Arc<Kiocb>, hold: &mut QueueHold<'_>) -> Option<Arc<Kiocb>> {
    let p = req.poll();
    let st = &p.state;
    let queue = p.wait.lock_queue_in(hold);
    st.cancelled.store(true, Ordering::Relaxed);
    // No wake-up may complete it inline or queue the worker from now on.
    st.work_scheduled.store(true, Ordering::Relaxed);
    // Otherwise POLLFREE already took it off its queue.
    queue.as_ref().and_then(|q| q.detach())
}
