// SPDX-License-Identifier: GPL-2.0

//! The ready list of a `KAIO_SETUP_POLLED_RW` context: polled reads and writes whose next
//! attempt a wake-up handed on (see [`super::polled_rw`]).
//!
//! The attempt goes to a reaper asleep in `KAIO_IOC_GETEVENTS` (then no worker is queued), or
//! to the context's ready worker, which a task entering `KAIO_IOC_GETEVENTS` may beat to it,
//! saving the switch to the worker and back (io_uring runs such retries as task work of the
//! submitter). One worker for the context rather than one per request: attempts readied
//! together cost one hop. An entry leaves when a reaper or the ready worker pops it, oldest
//! first.
//!
//! When a task of the submitter's process readied the request (it wrote to its own pipe or
//! socket), that task makes the attempt itself on its way back to user space, from a task
//! work item (as io_uring does): the event is in the ring when its `write(2)` returns, with no
//! switch to the worker and no second system call. The worker is queued too, to run a jiffy
//! later, and finds nothing left unless the task could not make it: it went on to sleep in
//! the same system call (a blocking write to a full pipe whose reader is this very request),
//! or it is exiting. The attempt never depends on the task.

use crate::ctx::{Kioctx, ReqsRef};
use crate::req::Kiocb;
use crate::sys::{
    spinlock_irq::{new_spinlock_irq, SpinLockIrq},
    task_work::{TaskWork, UserTask},
    work::{DelayedWork, Work},
};
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::prelude::*;
use crate::sys::arc::Arc;

/// A first-in first-out ring of a fixed number of slots, allocated once.
struct Fifo {
    slots: KVec<Option<Arc<Kiocb>>>,
    /// The oldest entry's slot.
    head: usize,
    len: usize,
}

impl Fifo {
    fn new(capacity: usize) -> Result<Fifo> {
        let mut slots = KVec::with_capacity(capacity, GFP_KERNEL)?;
        for _ in 0..capacity {
            slots.push(None, GFP_KERNEL)?;
        }
        Ok(Fifo { slots, head: 0, len: 0 })
    }

    fn push(&mut self, req: Arc<Kiocb>) -> Result<(), Arc<Kiocb>> {
        let capacity = self.slots.len();
        if self.len == capacity {
            return Err(req);
        }
        // The slot after the newest, wrapped without a division (an emulated one is slow).
        let tail = self.head + self.len;
        let tail = if tail >= capacity { tail - capacity } else { tail };
        self.slots[tail] = Some(req);
        self.len += 1;
        Ok(())
    }

    fn pop(&mut self) -> Option<Arc<Kiocb>> {
        if self.len == 0 {
            return None;
        }
        let req = self.slots[self.head].take();
        self.head = if self.head + 1 == self.slots.len() { 0 } else { self.head + 1 };
        self.len -= 1;
        req
    }
}

/// The requests of a context whose next attempt is ready to be made.
#[pin_data]
pub(crate) struct ReadyList {
    /// Room for every request the context can have in flight, so that a push in a wake-up
    /// never allocates.
    #[pin]
    reqs: SpinLockIrq<Fifo>,
    /// Entries now, for a lock-free look.
    len: AtomicU32,
    /// The ready worker ([`super::polled_rw::ready_work`]); queued with a reference to the
    /// context.
    #[pin]
    worker: Work<Kioctx>,
    /// The same, queued to run a jiffy later.
    #[pin]
    worker_later: DelayedWork<Kioctx>,
    /// The attempts made by the task that readied them ([`super::polled_rw::ready_task_work`]).
    #[pin]
    here: TaskWork<Kioctx>,
}

impl ReadyList {
    /// A list for `capacity` requests (0 for a context without polled reads and writes).
    pub(crate) fn new(capacity: usize) -> impl PinInit<Self, Error> {
        try_pin_init!(ReadyList {
            reqs <- new_spinlock_irq!(Fifo::new(capacity)?, "kioctx::ready"),
            len: AtomicU32::new(0),
            worker <- Work::new(),
            worker_later <- DelayedWork::new(),
            here <- TaskWork::new(),
        }? Error)
    }

    /// Adds `req`; gives it back if there is no room (never expected: then its own worker
    /// makes the attempt). Any context.
    pub(crate) fn push(&self, req: Arc<Kiocb>) -> Result<(), Arc<Kiocb>> {
        let mut reqs = self.reqs.lock();
        reqs.push(req)?;
        self.len.store(reqs.len as u32, Ordering::Release);
        Ok(())
    }

    /// Takes the oldest entry.
    pub(crate) fn pop(&self) -> Option<Arc<Kiocb>> {
        let mut reqs = self.reqs.lock();
        let req = reqs.pop();
        self.len.store(reqs.len as u32, Ordering::Release);
        req
    }

    /// Queues the ready worker of `ctx` (this list's context) unless it is queued already.
    /// Any context; the module's queue cannot be gone while a file is open.
    pub(crate) fn kick(&self, ctx: Arc<Kioctx>) {
        self.worker.queue(ctx);
    }

    /// Queues the ready worker of `ctx` to run a jiffy from now, unless it is queued already
    /// (see above). Any context.
    pub(crate) fn kick_later(&self, ctx: &ReqsRef) {
        // Queued and not started: it will find this list's new entries. (Spares the
        // reference taken and dropped again on the way to the same answer.)
        if !self.worker_later.is_queued() {
            self.worker_later.queue_after(ctx.arc(), 1);
        }
    }

    /// Has the calling task make the attempts of the list on its way back to user space,
    /// unless a task is to do so already or it cannot (see [`TaskWork`]). Any context.
    pub(crate) fn kick_here(&self, ctx: Arc<Kioctx>, task: UserTask) {
        self.here.queue_on_current(ctx, task);
    }

    /// Whether no request waits for a reaper (a hint: read without the lock).
    pub(crate) fn is_empty(&self) -> bool {
        self.len.load(Ordering::Acquire) == 0
    }
}
