// SPDX-License-Identifier: GPL-2.0

//! `KAIO_CMD_DELAY`: a request that completes from an hrtimer (hard irq) after `aio_offset`
//! nanoseconds with `res = 0`, or with `res = -ECANCELED` if it was cancelled first. It is
//! always cancellable: it sits in the in-flight index from submission to expiry.
//!
//! The teardown sweep only makes the timer expire now; the expiry callback, which takes the
//! request off the index under `ctx_lock`, learns from finding it gone that it was cancelled.
//! A cancel ioctl claims the request instead: it dequeues the timer (or, if the callback is
//! already running, lets the callback find the request claimed and leave it) and posts the
//! event itself.

use crate::req::Kiocb;
use crate::sys::hrtimer::{Expire, HrTimer};
use crate::sys::system;
use crate::uapi::Iocb;
use kernel::prelude::*;
use crate::sys::arc::Arc;

/// The delay part of a request.
#[pin_data]
pub(crate) struct Delay {
    #[pin]
    timer: HrTimer<Kiocb>,
    ns: u64,
}

impl Delay {
    pub(crate) fn new(ns: u64) -> impl PinInit<Self> {
        pin_init!(Delay { timer <- HrTimer::new(), ns })
    }

    /// The sweep's cancel hook. Runs under `ctx_lock`, after the request left the index.
    pub(crate) fn cancel(&self) {
        // The timer is started under ctx_lock together with the listing, and its callback
        // unlists under ctx_lock, so a listed request's timer is queued or waiting for
        // ctx_lock in its callback: Rearmed or Running, never Inactive.
        let expire = self.timer.expire_now();
        if expire == Expire::Inactive {
            pr_warn!("kaio: cancelled a delay whose timer was not queued\n");
        }
    }

    /// A cancel ioctl's claim, under `ctx_lock` (the request off the index, or listed until a
    /// RESULT delivery): the timer will not complete it. A callback already running finds it
    /// claimed.
    pub(crate) fn claim(&self) {
        self.timer.try_cancel();
    }
}

/// Checks the iocb fields of a delay request: `aio_buf` and `aio_nbytes` must be 0 and the
/// delay (`aio_offset`) non-negative. Returns the delay in nanoseconds.
pub(crate) fn prep(iocb: &Iocb) -> Result<u64> {
    if iocb.aio_buf != 0 || iocb.aio_nbytes != 0 || iocb.aio_offset < 0 {
        return Err(EINVAL);
    }
    Ok(iocb.aio_offset as u64)
}

/// Lists the request in the index and starts its timer, both under `ctx_lock`.
pub(crate) fn start(req: Arc<Kiocb>) {
    let mut inflight = req.ctx.inflight.lock();
    inflight.list(&req);
    let delay = req.delay();
    delay.timer.start(req.clone(), delay.ns);
    drop(inflight);
}

/// The timer callback (hard irq): completes the request, cancelled if the sweep took it off
/// the index first; leaves it to a cancel ioctl that claimed it. The event is posted in the
/// hold of `ctx_lock` that unlists the request, so a cancel finds it listed or posted.
pub(crate) fn expired(req: Arc<Kiocb>) {
    let mut inflight = req.ctx.inflight.lock();
    // A cancel took it (off the index, or listed until a RESULT delivery) and posts its event.
    if req.is_claimed() {
        return;
    }
    let listed = inflight.unlist(&req);
    let res = if listed.is_some() { 0 } else { crate::errors::ECANCELED };
    if cfg!(kaio_bug = "posted_after_unlist") {
        // The bug put back (tests/check-bugs.sh): posted after ctx_lock, as fs/aio.c completes;
        // a CANCEL_MATCH(WAIT) in between sees nothing in flight and no event yet.
        drop(inflight);
        system::completion_delay();
        drop(listed);
        req.complete(res);
        return;
    }
    system::completion_delay();
    let posted = req.post_held(res, &mut inflight);
    drop(inflight);
    drop(listed);
    req.notify(posted);
}
