// SPDX-License-Identifier: GPL-2.0

//! Work items on the module's own workqueue, each carrying the `Arc<T>` it was queued with.
//!
//! C header: [`include/linux/workqueue.h`](srctree/include/linux/workqueue.h).
//!
//! The queue belongs to the module ([`ModuleQueue`], created at load, destroyed at unload):
//! destroying it waits for every work item, so no work function can still be running module
//! code after unload. A delayed item ([`DelayedWork`]) is counted from its queueing until its
//! function has returned, and the unload waits for the count to drop first: its timer must not
//! fire into a destroyed queue.

use super::{arc_slot::ArcSlot, bindings};
use core::{
    ptr,
    sync::atomic::{AtomicPtr, AtomicUsize, Ordering},
};
use kernel::{prelude::*, types::Opaque};
use super::arc::Arc;

/// The module's workqueue, set while a [`ModuleQueue`] exists.
static QUEUE: AtomicPtr<bindings::workqueue_struct> = AtomicPtr::new(ptr::null_mut());

/// Delayed items queued whose function has not returned yet.
static DELAYED: AtomicUsize = AtomicUsize::new(0);

/// Owns the module's workqueue.
///
/// # Invariants
///
/// `QUEUE` holds a live workqueue from `new` until drop.
pub(crate) struct ModuleQueue(());

impl ModuleQueue {
    /// `alloc_workqueue("kaio", WQ_UNBOUND, 0)`.
    pub(crate) fn new() -> Result<ModuleQueue> {
        // SAFETY: the name is a static C string.
        let wq = unsafe { bindings::kaio_alloc_workqueue(kernel::c_str!("kaio").as_char_ptr()) };
        if wq.is_null() {
            return Err(ENOMEM);
        }
        // INVARIANT: published until drop.
        QUEUE.store(wq, Ordering::Release);
        Ok(ModuleQueue(()))
    }
}

impl Drop for ModuleQueue {
    fn drop(&mut self) {
        // Nothing queues a delayed item any more (no file is open); those in flight fire
        // within their delay, a jiffy at most.
        while DELAYED.load(Ordering::Acquire) != 0 {
            super::system::msleep(1);
        }
        let wq = QUEUE.swap(ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: allocated in `new` (type invariant); waits for all queued work.
        unsafe { bindings::destroy_workqueue(wq) };
    }
}

/// What a work item does. `ID` tells apart the work items of one type that do different
/// things (0 for the one most types have).
pub(crate) trait WorkCallback<const ID: u8 = 0>: Send + Sync + Sized {
    /// Process context, may sleep.
    fn run(this: Arc<Self>);
}

/// A work item that runs `<T as WorkCallback<ID>>::run` with the `Arc<T>` it was queued with.
///
/// # Invariants
///
/// `work` is initialised with `trampoline::<T, ID>`; while it is queued `owner` holds an
/// `Arc<T>` keeping the embedding `T` alive.
#[pin_data]
pub(crate) struct Work<T: WorkCallback<ID>, const ID: u8 = 0> {
    #[pin]
    work: Opaque<bindings::work_struct>,
    owner: ArcSlot<T>,
}

// SAFETY: the workqueue API is thread-safe; `owner` is atomic.
unsafe impl<T: WorkCallback<ID>, const ID: u8> Send for Work<T, ID> {}
// SAFETY: as above.
unsafe impl<T: WorkCallback<ID>, const ID: u8> Sync for Work<T, ID> {}

impl<T: WorkCallback<ID>, const ID: u8> Work<T, ID> {
    /// An idle work item.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is valid for writes; `INIT_WORK` initialises it.
            work <- Opaque::ffi_init(|slot| unsafe { bindings::kaio_init_work(slot, Some(trampoline::<T, ID>)) }),
            owner: ArcSlot::empty(),
        })
    }

    /// Queues the item on the module's workqueue with `owner`; `false` (and `owner` dropped)
    /// if it is already queued or the module is unloading.
    pub(crate) fn queue(&self, owner: Arc<T>) -> bool {
        let wq = QUEUE.load(Ordering::Acquire);
        if wq.is_null() || self.owner.put(owner).is_err() {
            return false;
        }
        // INVARIANT: `owner` holds the Arc while queued.
        // SAFETY: initialised work item, kept alive by `owner`; a live workqueue.
        unsafe { bindings::kaio_queue_work(wq, self.work.get()) };
        true
    }

    /// Queues the item that `item` picks inside `owner`'s own object, with `owner`, which may
    /// be the last reference: once queued, the object may be gone as soon as the work has run,
    /// so nothing of it is touched after the queueing. `owner` back when nothing was queued.
    pub(crate) fn queue_in(owner: Arc<T>, item: impl FnOnce(&T) -> &Self) -> Result<(), Arc<T>> {
        let wq = QUEUE.load(Ordering::Acquire);
        if wq.is_null() {
            return Err(owner);
        }
        let this: *const Self = item(&owner);
        // SAFETY: `this` is inside `owner`'s object, alive during the put: until it `owner` is
        // ours, after it the slot holds it, and the slot is emptied only by the work, which
        // cannot run before the queueing below.
        unsafe { (*this).owner.put(owner) }?;
        // INVARIANT: `owner` holds the Arc while queued.
        // SAFETY: initialised work item, alive until the work has run (the slot's reference);
        // a live workqueue. No reference to the object is held across the call.
        unsafe { bindings::kaio_queue_work(wq, Opaque::raw_get(ptr::addr_of!((*this).work))) };
        Ok(())
    }
}

/// # Safety
///
/// Called by the workqueue with the `work` field of a queued `Work<T, ID>`.
unsafe extern "C" fn trampoline<T: WorkCallback<ID>, const ID: u8>(work: *mut bindings::work_struct) {
    let offset = core::mem::offset_of!(Work<T, ID>, work);
    // SAFETY: container_of; alive because `owner` holds an Arc to the embedding `T`.
    let this = unsafe { &*work.cast::<u8>().sub(offset).cast::<Work<T, ID>>() };
    if let Some(owner) = this.owner.take() {
        <T as WorkCallback<ID>>::run(owner);
    }
}

/// A work item that runs `T::run` with the `Arc<T>` it was queued with, a number of jiffies
/// after it was queued.
///
/// # Invariants
///
/// `dwork` is initialised with `delayed_trampoline::<T>`; while it is queued (its timer
/// pending or its work waiting) `owner` holds an `Arc<T>` keeping the embedding `T` alive, and
/// `DELAYED` counts it until its function has returned.
#[pin_data]
pub(crate) struct DelayedWork<T: WorkCallback> {
    #[pin]
    dwork: Opaque<bindings::delayed_work>,
    owner: ArcSlot<T>,
}

// SAFETY: the workqueue API is thread-safe; `owner` is atomic.
unsafe impl<T: WorkCallback> Send for DelayedWork<T> {}
// SAFETY: as above.
unsafe impl<T: WorkCallback> Sync for DelayedWork<T> {}

impl<T: WorkCallback> DelayedWork<T> {
    /// An idle delayed work item.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is valid for writes; `INIT_DELAYED_WORK` initialises it.
            dwork <- Opaque::ffi_init(|slot| unsafe {
                bindings::kaio_init_delayed_work(slot, Some(delayed_trampoline::<T>))
            }),
            owner: ArcSlot::empty(),
        })
    }

    /// Queues the item to run `jiffies` from now with `owner`; `false` (and `owner` dropped)
    /// if it is already queued (it runs no later) or the module is unloading. Any context.
    pub(crate) fn queue_after(&self, owner: Arc<T>, jiffies: u64) -> bool {
        let wq = QUEUE.load(Ordering::Acquire);
        if wq.is_null() || self.owner.put(owner).is_err() {
            return false;
        }
        // INVARIANT: counted and owned before the timer can fire.
        DELAYED.fetch_add(1, Ordering::AcqRel);
        // SAFETY: initialised item, kept alive by `owner`; a live workqueue (the unload waits
        // for `DELAYED` before destroying it).
        if unsafe { bindings::kaio_queue_delayed_work(wq, self.dwork.get(), jiffies as _) } {
            return true;
        }
        // Pending without an owner cannot be (the owner is put before every queueing and taken
        // only once it runs); should it be, nothing was queued: undo.
        drop(self.owner.take());
        DELAYED.fetch_sub(1, Ordering::AcqRel);
        false
    }
}

impl<T: WorkCallback> DelayedWork<T> {
    /// Whether the item is queued and its function has not started yet (a hint: it may
    /// start right after). Any context.
    pub(crate) fn is_queued(&self) -> bool {
        self.owner.is_occupied()
    }
}

/// # Safety
///
/// Called by the workqueue with the `work` field of the `delayed_work` of a queued
/// `DelayedWork<T>`.
unsafe extern "C" fn delayed_trampoline<T: WorkCallback>(work: *mut bindings::work_struct) {
    let offset = core::mem::offset_of!(DelayedWork<T>, dwork) + core::mem::offset_of!(bindings::delayed_work, work);
    // SAFETY: container_of; alive because `owner` holds an Arc to the embedding `T`.
    let this = unsafe { &*work.cast::<u8>().sub(offset).cast::<DelayedWork<T>>() };
    if let Some(owner) = this.owner.take() {
        <T as WorkCallback>::run(owner);
    }
    // The owner is dropped: from here on only module text runs, which the unload waits for.
    DELAYED.fetch_sub(1, Ordering::AcqRel);
}
