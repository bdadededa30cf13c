// SPDX-License-Identifier: GPL-2.0

//! The one cancel path, for `KAIO_IOC_CANCEL` (io_cancel: one cancellable request by iocb) and
//! `KAIO_IOC_CANCEL_MATCH` (a selector, one or all, WAIT, RESULT).
//!
//! Each considered request is looked up under `ctx_lock`. A cancellable one is taken off the
//! index and claimed there; once the lock is dropped the canceller posts its event (or copies
//! it to the caller in RESULT mode), so the event is in the ring before the ioctl returns. A
//! running one (read, write, fsync) is counted, and with WAIT waited for once every
//! cancellable match has been cancelled. With ALL, the requests listed before the call started
//! are considered once each, whatever is submitted during it.

use crate::ctx::{Deadline, Kioctx, Sleeper, Waited};
use crate::errors::etime;
use crate::inflight::{Selector, Step};
use crate::req::Kiocb;
use crate::uapi::IoEvent;
use kernel::{prelude::*, sync::Arc, uaccess::UserSlice};

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

/// What one look at the index found.
enum Found {
    Cancelled(Arc<Kiocb>),
    Running(Arc<Kiocb>),
    Skipped,
    Done,
}

/// Runs `c` on `ctx`. The error, if any, is WAIT's `ETIME`/`EINTR` or RESULT's `EFAULT`; the
/// outcome counts what was done either way.
pub(crate) fn run(ctx: &Arc<Kioctx>, c: &Cancel) -> (Outcome, Result) {
    let mut out = Outcome::default();
    // With ALL, requests listed from now on are not considered.
    let before = if c.all { ctx.inflight.lock().boundary() } else { u64::MAX };
    let mut from = c.sel.start();
    let mut considered_running = None;
    loop {
        let found = {
            let mut inflight = ctx.inflight.lock();
            match inflight.find(&c.sel, from, before) {
                Step::Done => Found::Done,
                Step::Pause(next) => {
                    from = next;
                    Found::Skipped
                }
                Step::Match(req, next) => {
                    from = next;
                    if req.cancellable() {
                        let taken = inflight.unlist(&req);
                        // Dropped after ctx_lock (never the last reference: `req` is one).
                        let _queue_refs = taken.as_ref().map(|r| r.claim());
                        drop(inflight);
                        match taken {
                            Some(req) => Found::Cancelled(req),
                            None => Found::Skipped,
                        }
                    } else if c.cancellable_only {
                        Found::Skipped
                    } else {
                        // A polled read/write mid-attempt ends at its next wait instead.
                        req.stop();
                        Found::Running(req)
                    }
                }
            }
        };
        match found {
            Found::Done => break,
            Found::Skipped => continue,
            Found::Cancelled(req) => {
                out.cancelled += 1;
                if let Err(e) = deliver(req, c.result) {
                    return (out, Err(e));
                }
            }
            Found::Running(req) => {
                out.running += 1;
                considered_running = Some(req);
            }
        }
        if !c.all {
            break;
        }
    }
    let Some(deadline) = &c.wait else { return (out, Ok(())) };
    if out.running == 0 {
        return (out, Ok(()));
    }
    let mut sleeper = Sleeper::new(*deadline);
    let waited = match considered_running {
        Some(req) if !c.all => ctx_wait(ctx, &req, &mut sleeper),
        _ => wait_all(ctx, c, before, &mut sleeper),
    };
    (out, waited)
}

/// WAIT for ALL: every request listed before `before` that matches and has not posted its
/// event (the running ones; the cancellable ones were all taken).
fn wait_all(ctx: &Arc<Kioctx>, c: &Cancel, before: u64, sleeper: &mut Sleeper) -> Result {
    let mut from = c.sel.start();
    loop {
        let step = ctx.inflight.lock().find(&c.sel, from, before);
        match step {
            Step::Done => return Ok(()),
            Step::Pause(next) => from = next,
            Step::Match(req, next) => {
                from = next;
                ctx_wait(ctx, &req, sleeper)?;
            }
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

/// Delivers the event of a claimed request: to the ring (eventfd signalled, waiters woken),
/// or to `result`, its ring slot given back. An event `result` cannot take goes to the ring
/// (`EFAULT`): it is never lost.
fn deliver(req: Arc<Kiocb>, result: Option<u64>) -> Result {
    let res = req.cancelled_res();
    let Some(user) = result else {
        req.complete(res);
        return Ok(());
    };
    let event: IoEvent = req.event(res);
    match UserSlice::new(user as usize, core::mem::size_of::<IoEvent>()).writer().write(&event) {
        Ok(()) => {
            req.trace_event(res);
            req.ctx.release_slot();
            Ok(())
        }
        Err(_) => {
            req.complete(res);
            Err(EFAULT)
        }
    }
}
