// SPDX-License-Identifier: GPL-2.0

//! Waiting on a file's wait queue for readiness: one `wait_queue_entry` with a custom wake
//! function, registered through `vfs_poll` on at most one queue, as `fs/aio.c`'s poll does.
//!
//! C headers: [`include/linux/poll.h`](srctree/include/linux/poll.h),
//! [`include/linux/wait.h`](srctree/include/linux/wait.h).
//!
//! While the entry is on a queue it holds an `Arc<T>` (the "queue reference"), so the owner
//! outlives every wake-up; whoever takes the entry off the queue (always with the queue's lock
//! held) gets that reference back. A queue can disappear before its file does (`POLLFREE`,
//! e.g. signalfd, binder): its owner wakes us with `POLLFREE` and frees it only after an RCU
//! grace period, so the queue pointer is read with acquire ordering under RCU, and cleared with
//! release ordering as the very last access.

use super::{arc_slot::ArcSlot, bindings, fd::FileRef, irq_spinlock::IrqsOff};
use core::{
    ptr,
    sync::atomic::{AtomicPtr, Ordering},
};
use kernel::{
    ffi::{c_int, c_uint, c_void},
    prelude::*,
    types::Opaque,
};
use super::arc::Arc;

/// `EPOLLERR`, `EPOLLHUP`: always part of what a poll request waits for.
pub(crate) const EPOLLERR: u32 = 0x8;
pub(crate) const EPOLLHUP: u32 = 0x10;
/// `POLLFREE`: the wait queue is being freed.
pub(crate) const POLLFREE: u32 = 0x4000;
/// The `POLL*` bits user space can name; on x86 `EPOLL*` has the same values, so
/// `demangle_poll`/`mangle_poll` reduce to this mask.
pub(crate) const POLL_KNOWN: u32 = 0x27ff;

/// The owner of a [`PollWait`]: told about wake-ups.
pub(crate) trait PollWake: Send + Sync + Sized {
    /// A wake-up with event mask `mask` (0 when the waker gave none). Runs with the queue's
    /// lock held, in any context, hard irq included. Returns the wake function's result.
    fn wake(this: &Self, waiter: &Waker<'_, Self>, mask: u32) -> c_int;
}

/// A wait-queue entry owned by a `T`.
///
/// # Invariants
///
/// - `entry` is initialised with `wake_trampoline::<T>`; its list links are empty when it is
///   on no queue.
/// - `head` is the queue the entry was added to, or null; it is cleared only after the entry
///   left the queue (whoever takes it off clears it, under the queue's lock).
/// - While the entry is on a queue, `owner` holds an `Arc<T>`; it is taken only with the
///   queue's lock held (or before the entry was ever queued).
#[pin_data]
pub(crate) struct PollWait<T: PollWake> {
    #[pin]
    entry: Opaque<bindings::wait_queue_entry>,
    head: AtomicPtr<bindings::wait_queue_head>,
    owner: ArcSlot<T>,
}

// SAFETY: the entry is manipulated under its queue's lock; the pointers are atomics.
unsafe impl<T: PollWake> Send for PollWait<T> {}
// SAFETY: as above.
unsafe impl<T: PollWake> Sync for PollWait<T> {}

/// What registering found.
pub(crate) struct Armed {
    /// What the file reported ready, before masking.
    pub(crate) mask: u32,
    /// The entry was added to a queue (with [`PollWait::arm_pair`]: the first one was).
    pub(crate) queued: bool,
    /// `-EINVAL` if the file wanted more queues than entries were given, or none and nothing
    /// is ready; else 0.
    pub(crate) error: i32,
}

/// The poll table handed to `vfs_poll` (`struct aio_poll_table`).
#[repr(C)]
struct Table<T: PollWake> {
    pt: bindings::poll_table_struct,
    wait: *const PollWait<T>,
    /// A second entry for a second queue, or null.
    second: *const PollWait<T>,
    /// The owner, whose reference the second entry takes if it gets a queue.
    owner: *const Arc<T>,
    queued: bool,
    error: c_int,
    /// Widen the window after the first entry's registration (a test's `race_delay`).
    widen: bool,
}

impl<T: PollWake> PollWait<T> {
    /// An entry on no queue.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is valid for writes: the entry as `init_waitqueue_func_entry`
            // makes it (no flags, no private data, the wake function; a plain store of each
            // field rather than a call out of the module), its list links empty.
            entry <- Opaque::ffi_init(|slot: *mut bindings::wait_queue_entry| unsafe {
                let links = ptr::addr_of_mut!((*slot).entry);
                slot.write(bindings::wait_queue_entry {
                    flags: 0,
                    private: ptr::null_mut(),
                    func: Some(wake_trampoline::<T>),
                    entry: bindings::list_head { next: links, prev: links },
                });
            }),
            head: AtomicPtr::new(ptr::null_mut()),
            owner: ArcSlot::empty(),
        })
    }

    /// `vfs_poll(file, table)` with a queue function that adds the entry to the first queue
    /// the file offers (the entry then holds `owner`) and records an error for any further one.
    pub(crate) fn arm(&self, owner: &Arc<T>, file: &FileRef, events: u32) -> Armed {
        self.arm_with(None, owner, file, events, false)
    }

    /// As [`PollWait::arm`], with `second` taking a second queue if the file offers one (as a
    /// FIFO open for reading and writing, or a tty, does); only a third is an error.
    /// `widen`: a test may widen the window between the two entries' registrations
    /// ([`super::system::race_delay`] after the first).
    pub(crate) fn arm_pair(&self, second: &PollWait<T>, owner: &Arc<T>, file: &FileRef, events: u32, widen: bool) -> Armed {
        self.arm_with(Some(second), owner, file, events, widen)
    }

    fn arm_with(&self, second: Option<&PollWait<T>>, owner: &Arc<T>, file: &FileRef, events: u32, widen: bool) -> Armed {
        // The queue reference must be in place before an entry is visible to wakers: the
        // first entry's now (a file nearly always offers a queue), the second's when the file
        // offers it one (`queue_proc`). One registration per entry: the slots are empty.
        let _ = self.owner.put(owner.clone());
        let mut table = Table::<T> {
            pt: bindings::poll_table_struct { _qproc: Some(queue_proc::<T>), _key: events },
            wait: self,
            second: second.map_or(ptr::null(), |w| w as *const PollWait<T>),
            owner,
            queued: false,
            error: -(kernel::bindings::EINVAL as c_int),
            widen,
        };
        // SAFETY: a referenced file; `table` outlives the call and its `pt` is first (repr C).
        let mask = unsafe { bindings::kaio_vfs_poll(file.as_raw(), &mut table.pt) };
        if !table.queued {
            // Never visible to a waker: take the queue reference back.
            drop(self.owner.take());
        }
        Armed { mask, queued: table.queued, error: table.error }
    }

    /// `vfs_poll` without registering anything: what the file reports ready now.
    pub(crate) fn poll_now(file: &FileRef, events: u32) -> u32 {
        let mut pt = bindings::poll_table_struct { _qproc: None, _key: events };
        // SAFETY: a referenced file; `pt` outlives the call.
        unsafe { bindings::kaio_vfs_poll(file.as_raw(), &mut pt) }
    }

    /// Whether the entry may be on a queue still (a hint: a wake-up may take it off at once;
    /// false stays false until the entry is armed again).
    pub(crate) fn may_be_queued(&self) -> bool {
        !self.head.load(Ordering::Acquire).is_null()
    }

    /// `poll_iocb_lock_wq`: if the entry is still on its queue, locks the queue under `hold`
    /// and returns the entry (an entry found off the queue after the lock was taken leaves it
    /// held by `hold` all the same). Interrupts are off meanwhile (`hold` proves it): an RCU
    /// read-side critical section, as `poll_iocb_lock_wq`'s `rcu_read_lock` is, against
    /// `POLLFREE`. The queue's lock stays held by `hold` afterwards (released when `hold`
    /// needs another queue, or goes), so that the entries of several requests on one queue
    /// are taken off it under one hold of its lock.
    pub(crate) fn lock_queue_in<'h>(&'h self, hold: &'h mut QueueHold<'_>) -> Option<HeldEntry<'h, T>> {
        let head = self.head.load(Ordering::Acquire);
        if head.is_null() {
            // Taken off already (the usual case after a wake-up).
            return None;
        }
        // SAFETY: a queue seen non-null with interrupts off (which `hold` proves) is not freed
        // before they are on again: POLLFREE users free it after an RCU grace period, which
        // waits for this region.
        unsafe { hold.hold(head) };
        // SAFETY: the entry's links are stable under the queue lock, held now.
        if unsafe { bindings::kaio_list_empty(ptr::addr_of!((*self.entry.get()).entry)) } {
            return None;
        }
        Some(HeldEntry { wait: self })
    }

    /// Takes the entry off its queue and forgets the queue; the caller holds the queue lock.
    fn detach_locked(&self) -> Option<Arc<T>> {
        // SAFETY: the queue lock is held by the caller (a hold or the wake-up).
        unsafe { bindings::kaio_list_del_init(ptr::addr_of_mut!((*self.entry.get()).entry)) };
        // SAFETY: the entry was queued, so `owner` is taken only under the queue lock, which the
        // caller holds (type invariant), and parked again only once the entry is off the queue
        // and unseen by any waker (`head` still names the queue until the store below).
        let owner = unsafe { self.owner.take_exclusive() };
        // INVARIANT: off the queue now. The caller's hold or wake-up still holds the lock
        // it took through the old pointer. Last: whoever sees `head` null without the queue's
        // lock may arm the entry again at once, parking a new reference in the emptied slot.
        self.head.store(ptr::null_mut(), Ordering::Release);
        owner
    }
}

/// The lock of at most one wait queue, held with interrupts off (`irqs`) across several
/// [`PollWait::lock_queue_in`]: taking another queue's lock releases the one held first, so no
/// two queue locks are ever held at once. Released when it goes.
///
/// # Invariants
///
/// `head` is null, or a queue whose lock this hold took (and releases), alive while it is held
/// with interrupts off.
pub(crate) struct QueueHold<'a> {
    head: *mut bindings::wait_queue_head,
    /// What keeps a held queue alive (see [`PollWait::lock_queue_in`]).
    _irqs: IrqsOff<'a>,
}

impl<'a> QueueHold<'a> {
    /// Holds nothing yet.
    pub(crate) fn new(irqs: IrqsOff<'a>) -> Self {
        QueueHold { head: ptr::null_mut(), _irqs: irqs }
    }

    /// Holds `head`'s lock: nothing to do if it is the one held, else that one is released
    /// first.
    ///
    /// # Safety
    ///
    /// `head` is a live wait queue that stays alive while interrupts are off.
    unsafe fn hold(&mut self, head: *mut bindings::wait_queue_head) {
        if self.head == head {
            return;
        }
        self.release();
        // SAFETY: a live queue (the caller's contract); its lock is not held by us (released
        // above, or never taken).
        unsafe { bindings::_raw_spin_lock(super::spinlock_irq::raw(ptr::addr_of_mut!((*head).lock))) };
        // INVARIANT: locked here, released by `release`.
        self.head = head;
    }

    /// Releases the lock held, if any.
    pub(crate) fn release(&mut self) {
        if !self.head.is_null() {
            // SAFETY: locked by `hold` (type invariant), alive while interrupts are off.
            unsafe { bindings::kaio_spin_unlock(ptr::addr_of_mut!((*self.head).lock)) };
            self.head = ptr::null_mut();
        }
    }
}

impl Drop for QueueHold<'_> {
    fn drop(&mut self) {
        self.release();
    }
}

/// An entry on the queue a [`QueueHold`] holds locked.
pub(crate) struct HeldEntry<'a, T: PollWake> {
    wait: &'a PollWait<T>,
}

impl<T: PollWake> HeldEntry<'_, T> {
    /// Takes the entry off the queue, returning the queue reference.
    pub(crate) fn detach(&self) -> Option<Arc<T>> {
        self.wait.detach_locked()
    }
}

/// What a wake-up may do to the entry (the queue lock is held).
pub(crate) struct Waker<'a, T: PollWake> {
    wait: &'a PollWait<T>,
}

impl<T: PollWake> Waker<'_, T> {
    /// Takes the entry off the queue, returning the queue reference.
    pub(crate) fn detach(&self) -> Option<Arc<T>> {
        self.wait.detach_locked()
    }

    /// For `POLLFREE`: takes the entry off the queue and forgets the queue, as the last access
    /// to it; returns the queue reference.
    pub(crate) fn detach_pollfree(&self) -> Option<Arc<T>> {
        self.wait.detach_locked()
    }

    /// Another reference to the owner.
    pub(crate) fn owner(&self) -> Option<Arc<T>> {
        // SAFETY: during a wake-up the queue lock is held, and only its holders take `owner`.
        unsafe { self.wait.owner.peek() }.map(Arc::from)
    }
}

/// # Safety
///
/// Called by `vfs_poll` with the `pt` of a live `Table<T>` and a valid queue of the file.
unsafe extern "C" fn queue_proc<T: PollWake>(
    _file: *mut bindings::file,
    head: *mut bindings::wait_queue_head,
    pt: *mut bindings::poll_table_struct,
) {
    // SAFETY: `pt` is the first field of a `Table<T>` (repr C) on `arm`'s stack.
    let table = unsafe { &mut *pt.cast::<Table<T>>() };
    let wait_ptr = if !table.queued {
        table.queued = true;
        table.error = 0;
        table.wait
    } else if !table.second.is_null() {
        // The second entry takes this queue; `second` is null from now on. Its queue
        // reference first, as the first entry's was put before `vfs_poll`.
        let second = core::mem::replace(&mut table.second, ptr::null());
        // SAFETY: `second` and `owner` point at the entry and the owner given to the running
        // `arm_with`, alive for the call.
        let _ = unsafe { (*second).owner.put((*table.owner).clone()) };
        second
    } else {
        // More queues than entries: not supported.
        table.error = -(kernel::bindings::EINVAL as c_int);
        return;
    };
    // SAFETY: `wait_ptr` points at a `PollWait` given to the running `arm_with`.
    let wait = unsafe { &*wait_ptr };
    // INVARIANT: `head` set before the entry goes on the queue.
    wait.head.store(head, Ordering::Release);
    // SAFETY: a valid queue and an initialised, unqueued entry that stays pinned while queued
    // (it holds a reference to its owner).
    unsafe { bindings::add_wait_queue(head, wait.entry.get()) };
    if table.widen && ptr::eq(wait_ptr, table.wait) {
        // Between the first entry and a second one (a test widens it; a wake-up may come).
        super::system::race_delay();
    }
}

/// # Safety
///
/// Called by a wake-up of the queue holding the entry of a `PollWait<T>`, with its lock held.
unsafe extern "C" fn wake_trampoline<T: PollWake>(
    entry: *mut bindings::wait_queue_entry,
    _mode: c_uint,
    _sync: c_int,
    key: *mut c_void,
) -> c_int {
    let offset = core::mem::offset_of!(PollWait<T>, entry);
    // SAFETY: container_of; the `PollWait` is alive because, on the queue, it holds `owner`.
    let wait = unsafe { &*entry.cast::<u8>().sub(offset).cast::<PollWait<T>>() };
    // SAFETY: the queue lock is held, and only its holders take `owner`.
    let Some(owner) = (unsafe { wait.owner.peek() }) else { return 0 };
    // A reference of our own for the whole wake-up, which may take the queue's.
    let owner: Arc<T> = owner.into();
    T::wake(&owner, &Waker { wait }, key as usize as u32)
}
