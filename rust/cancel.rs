// SPDX-License-Identifier: GPL-2.0

//! The one cancel path, for `KAIO_IOC_CANCEL` (io_cancel: one cancellable request by iocb) and
//! `KAIO_IOC_CANCEL_MATCH` (a selector, one or all, WAIT, RESULT).
//!
//! Each considered request is looked up under `ctx_lock`. A cancellable one is taken off the
//! index and claimed there, and its event posted before the lock is dropped, so the event is
//! in the ring before the ioctl returns and no other cancel finds the request neither listed
//! nor posted. In RESULT mode the request stays listed, claimed, while its event is copied to
//! the caller after the lock, and leaves the index after: other cancels skip it (it is neither
//! theirs to cancel nor running) but with WAIT wait for it. An ALL cancel into the ring takes
//! up to [`TAKE_BATCH`] requests per hold of the lock and posts their events together. A
//! running one (a read, write or fsync under way) is counted, and with WAIT waited for once
//! every cancellable match has been cancelled. With ALL, the requests listed before the call
//! started are considered once each, whatever is submitted during it.

use crate::ctx::{Deadline, Kioctx, Sleeper, Waited};
use crate::errors::etime;
use crate::inflight::{Selector, Step, Take};
use crate::req::{Kiocb, QueueRefs};
use crate::sys::{poll::QueueHold, system};
use crate::uapi::IoEvent;
use kernel::{prelude::*, uaccess::UserSlice};
use crate::sys::arc::{Arc, DropBatch};

/// What to cancel, and how.
pub(crate) struct Cancel {
    pub(crate) sel: Selector,
    /// Every match, not only the oldest.
    pub(crate) all: bool,
    /// Only cancellable requests match (io_cancel's `active_reqs` holds nothing else).
    pub(crate) cancellable_only: bool,
    /// `KAIO_CANCEL_WAIT`: until every considered request has posted its event.
    pub(crate) wait: Option<Deadline>,
    /// `KAIO_CANCEL_RESULT`: the user address the cancelled request's event goes to.
    pub(crate) result: Option<u64>,
}

/// What a cancel did.
#[derive(Default)]
pub(crate) struct Outcome {
    /// Requests cancelled (their events posted, or copied to `result`).
    pub(crate) cancelled: u32,
    /// Requests that matched but run on.
    pub(crate) running: u32,
}

/// Most requests an ALL cancel into the ring takes off the index under one hold of `ctx_lock`
/// (then posted under one hold of `completion_lock`, with one wake-up).
const TAKE_BATCH: usize = 32;

/// Runs `c` on `ctx`. The error, if any, is WAIT's `ETIME`/`EINTR` or RESULT's `EFAULT`; the
/// outcome counts what was done either way.
pub(crate) fn run(ctx: &Arc<Kioctx>, c: &Cancel) -> (Outcome, Result) {
    if c.all && c.result.is_none() {
        run_taking::<TAKE_BATCH>(ctx, c)
    } else {
        // One request at a time: no batch arrays to fill and drop on the single-cancel path.
        run_taking::<1>(ctx, c)
    }
}

/// The bug put back (tests/check-bugs.sh): the requests a cancel claimed are posted after
/// `ctx_lock`, as fs/aio.c's io_cancel completes them; a CANCEL_MATCH(WAIT) in between finds
/// them neither listed nor posted.
const POSTED_AFTER_LOCK: bool = cfg!(kaio_bug = "cancel_posted_after_unlist");

/// [`run`], taking up to `BATCH` requests off the index per hold of `ctx_lock`.
fn run_taking<const BATCH: usize>(ctx: &Arc<Kioctx>, c: &Cancel) -> (Outcome, Result) {
    let mut out = Outcome::default();
    // With ALL, requests listed from now on are not considered; nor, for WAIT, waited for
    // when another cancel delivers them.
    let boundary = if c.all || c.wait.is_some() { ctx.inflight.lock().boundary() } else { u64::MAX };
    let before = if c.all { boundary } else { u64::MAX };
    // A match another cancel claimed and is delivering was seen (RESULT): WAIT waits for it.
    let mut saw_delivering = false;
    let mut walk = core::pin::pin!(c.sel.walk(&ctx.inflight));
    let mut considered_running = None;
    let take = match (c.cancellable_only, c.result) {
        (true, _) => Take::OnlyCancellable,
        // The bug put back (tests/check-bugs.sh): RESULT takes the request off the index
        // before its copy to the caller (or, failing that, its event in the ring).
        (false, Some(_)) if !cfg!(kaio_bug = "posted_after_unlist") => Take::CancellableInPlace,
        (false, _) => Take::Cancellable,
    };
    let mut done = false;
    while !done {
        let mut taken: [Option<Arc<Kiocb>>; BATCH] = core::array::from_fn(|_| None);
        let mut queue_refs: [QueueRefs; BATCH] = core::array::from_fn(|_| [None, None]);
        let mut n = 0;
        let mut steps = 0;
        let mut posted = None;
        {
            let mut guard = ctx.inflight.lock();
            let (irqs, inflight) = guard.split();
            // Requests on one wait queue (a file's POLLs) leave it under one hold of its lock.
            let mut hold = QueueHold::new(irqs);
            loop {
                let step = inflight.find(&c.sel, walk.as_mut(), before, take);
                // Only a single cancel (RESULT) claims in place, to deliver after the lock.
                debug_assert!(BATCH == 1 || !matches!(step, Step::Claimable(_)));
                let considered = match step {
                    Step::Done => {
                        done = true;
                        break;
                    }
                    // Let go of the lock, then go on.
                    Step::Pause => break,
                    // Off the index, or (RESULT) listed until its event is delivered, so that
                    // other cancels with WAIT wait for it: the cancel decides its outcome.
                    Step::Taken(req) | Step::Claimable(req) => {
                        // Dropped after ctx_lock.
                        queue_refs[n] = req.claim(&mut hold);
                        taken[n] = Some(req);
                        n += 1;
                        out.cancelled += 1;
                        None
                    }
                    // Another cancel's: not counted, and not the one a single cancel considers.
                    Step::Delivering => {
                        saw_delivering = true;
                        steps += 1;
                        if steps == TAKE_BATCH {
                            break;
                        }
                        continue;
                    }
                    // Running: a polled read/write mid-attempt ends at its next wait instead.
                    Step::Match(req) => {
                        req.stop(&mut hold);
                        out.running += 1;
                        Some(req)
                    }
                };
                steps += 1;
                if !c.all {
                    considered_running = considered;
                    // The walk ends here, under the lock it needs.
                    inflight.end_walk(walk.as_mut());
                    done = true;
                    break;
                }
                // Bounded holds of the lock, however many matches are skipped.
                if n == BATCH || steps == TAKE_BATCH {
                    break;
                }
            }
            drop(hold);
            // Into the ring before ctx_lock goes, so that no cancel finds them neither listed
            // nor posted; RESULT's copy to the caller cannot be made under a spinlock.
            if n > 0 && c.result.is_none() && !POSTED_AFTER_LOCK {
                posted = Some(Kiocb::post_claimed(ctx, &taken[..n], inflight));
            }
        }
        if POSTED_AFTER_LOCK && n > 0 && c.result.is_none() {
            system::completion_delay();
            for req in taken[..n].iter().flatten() {
                req.clone().complete(req.cancelled_res());
            }
        }
        if let Some(posted) = posted.take() {
            Kiocb::notify_claimed(ctx, &taken[..n], posted);
        }
        if BATCH > 1 {
            // A request's references go together (the index's with its wait queue's), and the
            // batch's memory goes back to the context's pool at once.
            let mut batch = DropBatch::new();
            for (req, queues) in taken.iter_mut().zip(queue_refs.iter_mut()).take(n) {
                let queues = core::mem::take(queues);
                if let Some(req) = req.take() {
                    batch.drop_together(req, queues);
                }
            }
        } else {
            drop(queue_refs);
            if let (Some(req), Some(user)) = (taken[0].take(), c.result) {
                if let Err(e) = deliver_result(req, user) {
                    return (out, Err(e));
                }
            }
        }
    }
    let Some(deadline) = &c.wait else { return (out, Ok(())) };
    if out.running == 0 && !saw_delivering {
        return (out, Ok(()));
    }
    let mut sleeper = Sleeper::new(*deadline);
    let waited = if c.all {
        // The running matches and those others deliver.
        wait_all(ctx, c, before, Take::Nothing, &mut sleeper)
    } else {
        let considered = considered_running.map_or(Ok(()), |req| ctx_wait(ctx, &req, &mut sleeper));
        match considered {
            Ok(()) if saw_delivering => wait_all(ctx, c, boundary, Take::OnlyDelivering, &mut sleeper),
            done => done,
        }
    };
    (out, waited)
}

/// WAIT: every request listed before `before` that matches and has not posted its event
/// (`Take::Nothing`: for ALL, the running ones and those other cancels deliver, the
/// cancellable ones were all taken; `Take::OnlyDelivering`: those others deliver).
fn wait_all(ctx: &Arc<Kioctx>, c: &Cancel, before: u64, take: Take, sleeper: &mut Sleeper) -> Result {
    let mut walk = core::pin::pin!(c.sel.walk(&ctx.inflight));
    loop {
        let step = ctx.inflight.lock().find(&c.sel, walk.as_mut(), before, take);
        match step {
            Step::Done => return Ok(()),
            Step::Pause => {}
            // The walk stays parked after `req` while the caller sleeps.
            Step::Match(req) => ctx_wait(ctx, &req, sleeper)?,
            // Not asked for.
            Step::Taken(_) | Step::Claimable(_) | Step::Delivering => {}
        }
    }
}

fn ctx_wait(ctx: &Arc<Kioctx>, req: &Kiocb, sleeper: &mut Sleeper) -> Result {
    match ctx.wait_posted(req, sleeper) {
        Waited::Posted => Ok(()),
        Waited::TimedOut => Err(etime()),
        Waited::Interrupted => Err(EINTR),
    }
}

/// RESULT: copies the event of a request claimed in place (still listed) to `user` instead of
/// the ring, its ring slot given back; then takes it off the index. An event `user` cannot take
/// goes to the ring (`EFAULT`): it is never lost. Either way the request counts as posted in
/// the hold of `ctx_lock` that unlists it, so a cancel waiting for it returns after this.
fn deliver_result(req: Arc<Kiocb>, user: u64) -> Result {
    let res = req.cancelled_res();
    let event: IoEvent = req.event(res);
    // A test widens the window in which other cancels find the request claimed.
    system::completion_delay();
    let copied = UserSlice::new(user as usize, core::mem::size_of::<IoEvent>()).writer().write(&event).is_ok();
    let mut inflight = req.ctx.inflight.lock();
    let listed = inflight.unlist(&req);
    let posted = if copied { req.delivered_elsewhere(res, &mut inflight) } else { req.post_held(res, &mut inflight) };
    drop(inflight);
    drop(listed);
    if copied {
        req.wake_waiters(posted);
        Ok(())
    } else {
        req.notify(posted);
        Err(EFAULT)
    }
}
