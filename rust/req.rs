// SPDX-License-Identifier: GPL-2.0

//! `struct aio_kiocb`: one request, from submission to its single event.
//!
//! ```text
//! submit (process): copy iocb, checks, slot, fd, eventfd, aio_key := 0, opcode prep
//!   ──reject──> freed, slot given back, no event
//!   ──accept──> on active_reqs (if cancellable) and started
//! started ──completion (any context)──> off active_reqs ──> complete(res): event posted,
//!   eventfd signalled ──> freed (reqs reference dropped)
//! started ──cancel (io_cancel or the destroy sweep, under ctx_lock)──> off active_reqs,
//!   cancel hook kicks the operation ──> it completes through the same path, cancelled
//! ```
//!
//! Whoever takes the request off `active_reqs` decides whether it was cancelled; both paths
//! do that under `ctx_lock`, so there is exactly one event per accepted request.

use crate::ctx::Kioctx;
use crate::ops::delay::{self, Delay};
use crate::sys::{
    fd::{EventFd, FileRef},
    hrtimer::TimerCallback,
};
use crate::uapi::{Iocb, IoEvent, IOCB_FLAG_RESFD, KAIO_CMD_DELAY, KIOCB_KEY};
use core::mem::{offset_of, size_of};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::{
    prelude::*,
    rbtree::RBTreeNodeReservation,
    sync::{Arc, UniqueArc},
    uaccess::UserSlice,
};

/// A request.
#[pin_data(PinnedDrop)]
pub(crate) struct Kiocb {
    /// The context; the request also holds one of its `reqs` references.
    pub(crate) ctx: Arc<Kioctx>,
    /// `ki_res`: data and obj of the event; `res`/`res2` are filled at completion.
    template: IoEvent,
    /// Key in `active_reqs`, assigned under `ctx_lock` when the request is listed.
    seq: AtomicU64,
    /// `IOCB_FLAG_RESFD`: signalled after the event is posted.
    eventfd: Option<EventFd>,
    /// The operation (only the delay request so far).
    #[pin]
    pub(crate) delay: Delay,
}

impl Kiocb {
    fn new(
        ctx: &Arc<Kioctx>,
        template: IoEvent,
        eventfd: Option<EventFd>,
        delay_ns: u64,
    ) -> impl PinInit<Self, Error> {
        let ctx = ctx.clone();
        try_pin_init!(Kiocb {
            ctx,
            template,
            seq: AtomicU64::new(0),
            eventfd,
            delay <- Delay::new(delay_ns),
        })
    }

    /// The user address of the submitting iocb (`ki_res.obj`), which io_cancel matches.
    pub(crate) fn obj(&self) -> u64 {
        self.template.obj
    }

    /// Key of the request in `active_reqs`.
    pub(crate) fn seq(&self) -> u64 {
        self.seq.load(Ordering::Relaxed)
    }

    /// Sets the key; called under `ctx_lock` before listing.
    pub(crate) fn set_seq(&self, seq: u64) {
        self.seq.store(seq, Ordering::Relaxed);
    }

    /// `ki_cancel`: kicks the operation; called under `ctx_lock` after the request was taken
    /// off `active_reqs`. The event still comes from the operation's completion path.
    pub(crate) fn cancel(&self) {
        self.delay.cancel();
    }

    /// `iocb_put` → `aio_complete`: posts the one event of this request with `res`, then
    /// signals the eventfd. Any context.
    pub(crate) fn complete(self: Arc<Self>, res: i64) {
        let event = IoEvent { res, res2: 0, ..self.template };
        self.ctx.post_event(&event);
        if let Some(eventfd) = &self.eventfd {
            eventfd.signal();
        }
    }
}

impl TimerCallback for Kiocb {
    fn run(this: Arc<Self>) {
        delay::expired(this);
    }
}

#[pinned_drop]
impl PinnedDrop for Kiocb {
    fn drop(self: Pin<&mut Self>) {
        // `iocb_destroy`: the request's `reqs` reference; may release the context's `reqs`.
        self.ctx.reqs.put();
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

/// `io_submit_one`: validates and starts the iocb at user address `user_iocb`, in Linux's
/// order (AIO-SEMANTICS §5.2). On error nothing was started and no event will come.
pub(crate) fn submit_one(ctx: &Arc<Kioctx>, user_iocb: usize) -> Result {
    let iocb: Iocb = UserSlice::new(user_iocb, size_of::<Iocb>()).reader().read()?;
    if iocb.aio_reserved2 != 0 {
        return Err(EINVAL);
    }
    // `aio_buf` always fits an unsigned long here; `aio_nbytes` must fit a signed size.
    if (iocb.aio_nbytes as i64) < 0 {
        return Err(EINVAL);
    }
    // `aio_get_req`: the request and a ring slot; either failing is EAGAIN.
    let memory = UniqueArc::<Kiocb>::new_uninit(GFP_KERNEL).map_err(|_| EAGAIN)?;
    let node = RBTreeNodeReservation::new(GFP_KERNEL).map_err(|_| EAGAIN)?;
    if !ctx.reserve_slot() {
        return Err(EAGAIN);
    }
    let slot = SlotReservation(Some(ctx));
    let file = FileRef::get(iocb.aio_fildes)?;
    let eventfd = match iocb.aio_flags & IOCB_FLAG_RESFD {
        0 => None,
        _ => Some(EventFd::get(iocb.aio_resfd)?),
    };
    UserSlice::new(user_iocb + offset_of!(Iocb, aio_key), size_of::<u32>())
        .writer()
        .write(&KIOCB_KEY)?;
    let template = IoEvent { data: iocb.aio_data, obj: user_iocb as u64, res: 0, res2: 0 };
    match iocb.aio_lio_opcode {
        KAIO_CMD_DELAY => {
            let ns = delay::prep(&iocb)?;
            // A delay keeps no reference to its file.
            drop(file);
            let req: Arc<Kiocb> = memory.pin_init_with(Kiocb::new(ctx, template, eventfd, ns))?.into();
            // The request's `reqs` reference, dropped with the request.
            ctx.reqs.get();
            slot.accept();
            delay::start(req, node);
            Ok(())
        }
        // The Linux opcodes (PREAD ... PWRITEV, FSYNC, FDSYNC, POLL) are not implemented yet:
        // EINVAL, as Linux answers an unknown opcode.
        _ => Err(EINVAL),
    }
}

/// `io_cancel`'s search: under `ctx_lock`, the oldest request submitted from `obj` is taken
/// off `active_reqs` and its cancel hook called. `EINVAL` if there is none.
pub(crate) fn cancel(ctx: &Kioctx, obj: u64) -> Result {
    let cancelled = {
        let mut active = ctx.active.lock();
        let key = active.tree.iter().find(|(_, req)| req.obj() == obj).map(|(key, _)| *key);
        let req = key.and_then(|key| active.tree.remove(&key));
        if let Some(req) = &req {
            req.cancel();
        }
        req
    };
    // The request is released outside ctx_lock.
    cancelled.map(drop).ok_or(EINVAL)
}
