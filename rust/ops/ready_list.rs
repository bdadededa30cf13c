// SPDX-License-Identifier: GPL-2.0

//! The ready list of a `KAIO_SETUP_POLLED_RW` context: polled reads and writes whose next
//! attempt a wake-up handed on (see [`super::polled_rw`]).
//!
//! The attempt goes to a reaper asleep in `KAIO_IOC_GETEVENTS` (then no worker is queued), or
//! to the context's ready worker, which a task entering `KAIO_IOC_GETEVENTS` may beat to it,
//! saving the switch to the worker and back (io_uring runs such retries as task work of the
//! submitter). One worker for the context rather than one per request: attempts readied
//! together cost one hop. Whoever gets there (a reaper, the ready worker, the task below)
//! takes every entry at once, and makes the attempts oldest first.
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
    llist::{LList, Taken},
    task_work::{TaskWork, UserTask},
    work::{DelayedWork, Work},
};
use kernel::prelude::*;
use crate::sys::arc::Arc;

/// The requests of a context whose next attempt is ready to be made.
#[pin_data]
pub(crate) struct ReadyList {
    /// Lock-free (as io_uring's task work list): a push in a wake-up takes no lock and turns
    /// no interrupts off, and a consumer takes every entry at once.
    reqs: LList<Kiocb>,
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
    /// An empty list.
    pub(crate) fn new() -> impl PinInit<Self, Error> {
        try_pin_init!(ReadyList {
            reqs: LList::new(),
            worker <- Work::new(),
            worker_later <- DelayedWork::new(),
            here <- TaskWork::new(),
        }? Error)
    }

    /// Adds `req`; gives it back if it is in the list already (never expected: then its own
    /// worker makes the attempt). Any context.
    pub(crate) fn push(&self, req: Arc<Kiocb>) -> Result<(), Arc<Kiocb>> {
        self.reqs.push(req)
    }

    /// Takes every entry, oldest first: the caller makes their attempts (or hands them on).
    pub(crate) fn take_all(&self) -> Taken<Kiocb> {
        self.reqs.take_all()
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

    /// Whether no request waits for an attempt (a hint: it may change at once).
    pub(crate) fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }
}
