// SPDX-License-Identifier: GPL-2.0

//! RCU: the read-side guard, a pointer published to readers, and freeing after a grace period.
//!
//! C header: [`include/linux/rcupdate.h`](srctree/include/linux/rcupdate.h).
//!
//! [`RcuBox`] owns a `KBox<T>` that readers reach without locks under a [`Guard`]. Replacing
//! it hands the old value back as [`RetiredBox`], which is freed after a grace period, in the
//! task that drops it (never from an RCU callback: `T`'s drop may drop the last reference to
//! an object that must go in process context).
//!
//! [`RcuSlots`] is an array of `Arc<T>` slots that readers index under a [`Guard`]. Emptying a
//! slot hands its `Arc` back as [`Retired`]: usable, but its reference may be dropped only after
//! a grace period ([`drop_after_grace_period`], or `Retired`'s own drop, which waits for one).

use super::bindings;
use core::{
    marker::PhantomData,
    ptr::{self, NonNull},
    sync::atomic::{compiler_fence, AtomicPtr, Ordering},
};
use kernel::{alloc::KBox, prelude::*};
use super::arc::{Arc, ArcBorrow};

/// An RCU read-side critical section; ends on drop. Not `Send`: it must end on its CPU/task.
pub(crate) struct Guard(PhantomData<*mut ()>);

/// Whether `rcu_read_lock()` and `rcu_read_unlock()` do nothing at run time in this kernel's
/// configuration but keep the compiler from moving accesses across them: RCU not preemptible,
/// no preempt count (so `preempt_disable()` is a barrier), no RCU lockdep, no strict grace
/// periods. Then a guard costs no call into C.
const READ_LOCK_IS_BARRIER: bool = !cfg!(any(
    CONFIG_PREEMPT_RCU,
    CONFIG_PREEMPT_COUNT,
    CONFIG_DEBUG_LOCK_ALLOC,
    CONFIG_PROVE_RCU,
    CONFIG_RCU_STRICT_GRACE_PERIOD
));

impl Guard {
    /// `rcu_read_lock()`.
    pub(crate) fn new() -> Self {
        if READ_LOCK_IS_BARRIER {
            compiler_fence(Ordering::SeqCst);
        } else {
            // SAFETY: always safe to call; balanced by `Drop`.
            unsafe { bindings::kaio_rcu_read_lock() };
        }
        Guard(PhantomData)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if READ_LOCK_IS_BARRIER {
            compiler_fence(Ordering::SeqCst);
        } else {
            // SAFETY: `new` took the read lock.
            unsafe { bindings::kaio_rcu_read_unlock() };
        }
    }
}

/// `synchronize_rcu()`: waits until every read-side critical section that began before the
/// call has ended. May sleep.
pub(crate) fn synchronize() {
    // SAFETY: always safe to call from process context.
    unsafe { bindings::synchronize_rcu() };
}

/// `rcu_barrier()`: waits until every RCU callback queued so far has run (module unload).
pub(crate) fn barrier() {
    // SAFETY: always safe to call from process context.
    unsafe { bindings::rcu_barrier() };
}

/// A heap node: the value.
struct Node<T> {
    value: T,
}

/// An RCU-published pointer to an owned `T`.
///
/// # Invariants
///
/// `ptr` is null or comes from `KBox::into_raw` of a `Node<T>` that this `RcuBox` owns; a
/// node unpublished by [`RcuBox::replace`] is freed only after a grace period (via
/// [`RetiredBox`]).
pub(crate) struct RcuBox<T> {
    ptr: AtomicPtr<Node<T>>,
}

// SAFETY: readers on any CPU get `&T`, writers hand `T` between threads.
unsafe impl<T: Send + Sync> Send for RcuBox<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for RcuBox<T> {}

impl<T: Send + Sync> RcuBox<T> {
    /// An empty pointer.
    pub(crate) const fn empty() -> Self {
        // INVARIANT: null.
        RcuBox { ptr: AtomicPtr::new(ptr::null_mut()) }
    }

    /// `rcu_dereference()`: the published value, valid while `guard` and `self` are.
    pub(crate) fn load<'a>(&'a self, _guard: &'a Guard) -> Option<&'a T> {
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY: by the type invariant a non-null `p` is a live node; a node replaced after
        // this load is freed only after a grace period, which cannot end while `_guard` lives.
        NonNull::new(p).map(|p| unsafe { &(*p.as_ptr()).value })
    }

    /// `rcu_assign_pointer()`: publishes `value` (release ordering: readers that see the new
    /// pointer see the value initialised) and returns the previous one, to free after a grace
    /// period.
    pub(crate) fn replace(&self, value: T, flags: kernel::alloc::Flags) -> Result<RetiredBox<T>> {
        let raw = KBox::into_raw(KBox::new(Node { value }, flags)?);
        // INVARIANT: `raw` comes from `KBox::into_raw`.
        let old = self.ptr.swap(raw, Ordering::AcqRel);
        Ok(RetiredBox { node: NonNull::new(old) })
    }
}

impl<T> Drop for RcuBox<T> {
    fn drop(&mut self) {
        // `&mut self`: no reader holds a borrow of this `RcuBox`, so none can reach the node.
        if let Some(p) = NonNull::new(*self.ptr.get_mut()) {
            // SAFETY: by the type invariant, `p` came from `KBox::into_raw` and is owned here.
            drop(unsafe { KBox::from_raw(p.as_ptr()) });
        }
    }
}

/// A value unpublished from an [`RcuBox`]: readers may still hold references to it until a
/// grace period has elapsed. Dropping it waits for one ([`synchronize`]) and then drops the
/// value in the dropping task: it may sleep.
pub(crate) struct RetiredBox<T> {
    node: Option<NonNull<Node<T>>>,
}

// SAFETY: it owns a `T`.
unsafe impl<T: Send> Send for RetiredBox<T> {}

impl<T> Drop for RetiredBox<T> {
    fn drop(&mut self) {
        if let Some(p) = self.node.take() {
            synchronize();
            // SAFETY: `p` came from `KBox::into_raw` (the `RcuBox` invariant) and is owned
            // here; no reader can reach it after the grace period.
            drop(unsafe { KBox::from_raw(p.as_ptr()) });
        }
    }
}


/// An array of slots, each empty or holding an `Arc<T>`, read by RCU readers.
///
/// # Invariants
///
/// Every non-null slot pointer comes from `Arc::into_raw` and is one reference owned by the
/// array. A reference taken out of a slot ([`RcuSlots::take_if`]) is dropped only after a grace
/// period ([`Retired`]).
pub(crate) struct RcuSlots<T: Send + Sync> {
    slots: KVec<AtomicPtr<T>>,
}

impl<T: Send + Sync> RcuSlots<T> {
    /// `len` empty slots.
    pub(crate) fn new(len: usize, flags: kernel::alloc::Flags) -> Result<Self> {
        let mut slots = KVec::with_capacity(len, flags)?;
        for _ in 0..len {
            slots.push(AtomicPtr::new(ptr::null_mut()), flags)?;
        }
        Ok(RcuSlots { slots })
    }

    /// Number of slots.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// The value in slot `i`, valid while `guard` is.
    pub(crate) fn get<'a>(&'a self, i: usize, _guard: &'a Guard) -> Option<ArcBorrow<'a, T>> {
        let p = self.slots.get(i)?.load(Ordering::Acquire);
        // SAFETY: a non-null slot holds an `Arc` reference (type invariant); one taken out
        // after this load is dropped only after a grace period, which `_guard` holds off.
        (!p.is_null()).then(|| unsafe { ArcBorrow::from_raw(p) })
    }

    /// Publishes `value` in the empty slot `i` (release ordering); gives it back if the slot is
    /// out of range or taken.
    pub(crate) fn publish(&self, i: usize, value: Arc<T>) -> core::result::Result<(), Arc<T>> {
        let Some(slot) = self.slots.get(i) else { return Err(value) };
        let raw = Arc::into_raw(value).cast_mut();
        match slot.compare_exchange(ptr::null_mut(), raw, Ordering::AcqRel, Ordering::Acquire) {
            // INVARIANT: the slot now owns the reference.
            Ok(_) => Ok(()),
            // SAFETY: `raw` came from `Arc::into_raw` above and was not stored.
            Err(_) => Err(unsafe { Arc::from_raw(raw) }),
        }
    }

    /// Empties slot `i` if `pred` accepts its value, returning the slot's reference.
    pub(crate) fn take_if(&self, i: usize, guard: &Guard, pred: impl FnOnce(&T) -> bool) -> Option<Retired<Arc<T>>> {
        let slot = self.slots.get(i)?;
        let current = self.get(i, guard)?;
        if !pred(&current) {
            return None;
        }
        let p = (&*current as *const T).cast_mut();
        slot.compare_exchange(p, ptr::null_mut(), Ordering::AcqRel, Ordering::Acquire).ok()?;
        // SAFETY: the slot owned this reference (type invariant) and no longer holds it.
        Some(Retired { value: Some(unsafe { Arc::from_raw(p) }) })
    }

    /// A copy with `len >= self.len()` slots, each holding its own reference to the values of
    /// this one. `new` must have been allocated by the caller before taking `guard`.
    pub(crate) fn copy_into(&self, new: &RcuSlots<T>, guard: &Guard) {
        for i in 0..self.len() {
            if let Some(v) = self.get(i, guard) {
                let _ = new.publish(i, v.into());
            }
        }
    }
}

impl<T: Send + Sync> Drop for RcuSlots<T> {
    fn drop(&mut self) {
        for slot in self.slots.iter_mut() {
            let p = *slot.get_mut();
            if !p.is_null() {
                // SAFETY: an owned reference (type invariant); `&mut self` means no reader can
                // still reach this array.
                drop(unsafe { Arc::from_raw(p) });
            }
        }
    }
}

/// A reference taken out of an RCU-visible place: readers may still use the object it points
/// to until a grace period has elapsed, so the reference may be dropped only after one.
/// Dropping a `Retired` waits for a grace period (it may sleep).
pub(crate) struct Retired<P> {
    value: Option<P>,
}

impl<T> Retired<Arc<T>> {
    /// Another reference to the object, which may be dropped at any time.
    pub(crate) fn clone_arc(&self) -> Option<Arc<T>> {
        self.value.clone()
    }
}

impl<P> Drop for Retired<P> {
    fn drop(&mut self) {
        if let Some(v) = self.value.take() {
            synchronize();
            drop(v);
        }
    }
}

/// Drops every retired reference after one grace period. May sleep.
pub(crate) fn drop_after_grace_period<P>(mut retired: KVec<Retired<P>>) {
    if retired.is_empty() {
        return;
    }
    synchronize();
    for r in retired.iter_mut() {
        // The grace period above covers every reference in the batch.
        drop(r.value.take());
    }
}
