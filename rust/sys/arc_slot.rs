// SPDX-License-Identifier: GPL-2.0

//! An `Arc<T>` parked where a C callback will find it: the reference a queued timer, work
//! item, wait entry, in-flight kiocb or killed percpu_ref holds on the object embedding it.

use core::{
    ptr,
    sync::atomic::{AtomicPtr, Ordering},
};
use super::arc::{Arc, ArcBorrow};

/// Empty, or holding one reference to a `T`.
///
/// # Invariants
///
/// `ptr` is null or comes from `Arc::into_raw`, and then is one reference owned by the slot.
pub(crate) struct ArcSlot<T> {
    ptr: AtomicPtr<T>,
}

impl<T> ArcSlot<T> {
    /// An empty slot.
    pub(crate) const fn empty() -> Self {
        ArcSlot { ptr: AtomicPtr::new(ptr::null_mut()) }
    }

    /// Parks `arc` if the slot is empty; gives it back otherwise.
    ///
    /// Sequentially consistent, as [`ArcSlot::take`]: a slot used as "queued already" (a work
    /// item's) orders the caller's earlier sequentially consistent stores against the taker's
    /// later loads (whoever finds the slot taken then leaves the work to a run that sees them;
    /// as `test_and_set_bit` and the `smp_mb` after the clear do for a work item in C).
    pub(crate) fn put(&self, arc: Arc<T>) -> Result<(), Arc<T>> {
        let raw = Arc::into_raw(arc).cast_mut();
        match self.ptr.compare_exchange(ptr::null_mut(), raw, Ordering::SeqCst, Ordering::SeqCst) {
            // INVARIANT: the slot owns the reference now.
            Ok(_) => Ok(()),
            // SAFETY: `raw` came from `Arc::into_raw` above and was not stored.
            Err(_) => Err(unsafe { Arc::from_raw(raw) }),
        }
    }

    /// Whether a reference is parked now (a hint: it may be taken or parked right after).
    /// Sequentially consistent, as `put` and `take`: a caller that skips a `put` because the
    /// slot is taken relies on the taker's later loads seeing its earlier sequentially
    /// consistent stores (store buffering: with an acquire load here, a weakly ordered CPU may
    /// let both sides read the old values; on x86 it is the same plain load).
    pub(crate) fn is_occupied(&self) -> bool {
        !self.ptr.load(Ordering::SeqCst).is_null()
    }

    /// Whether the parked reference is to the object at `p` (a hint, as [`ArcSlot::is_occupied`]).
    pub(crate) fn holds(&self, p: *const T) -> bool {
        ptr::eq(self.ptr.load(Ordering::Acquire), p)
    }

    /// Takes the parked reference out (at most one caller gets it).
    pub(crate) fn take(&self) -> Option<Arc<T>> {
        let p = self.ptr.swap(ptr::null_mut(), Ordering::SeqCst);
        // SAFETY: a non-null pointer is a reference owned by the slot (type invariant), which
        // the swap has just transferred to us.
        (!p.is_null()).then(|| unsafe { Arc::from_raw(p) })
    }

    /// [`ArcSlot::take`] without an atomic exchange.
    ///
    /// # Safety
    ///
    /// No other [`ArcSlot::put`] or take may run concurrently (the caller holds whatever
    /// serialises them).
    pub(crate) unsafe fn take_exclusive(&self) -> Option<Arc<T>> {
        let p = self.ptr.load(Ordering::Acquire);
        if p.is_null() {
            return None;
        }
        self.ptr.store(ptr::null_mut(), Ordering::Release);
        // SAFETY: a reference owned by the slot (type invariant), ours now: nobody else takes
        // or parks concurrently (the caller's contract).
        Some(unsafe { Arc::from_raw(p) })
    }

    /// A borrow of the parked object.
    ///
    /// # Safety
    ///
    /// No [`ArcSlot::take`] may run concurrently (the caller holds whatever serialises takers,
    /// or is the only possible taker), so the reference outlives the borrow.
    pub(crate) unsafe fn peek(&self) -> Option<ArcBorrow<'_, T>> {
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY: owned by the slot, and kept there for the borrow by the caller's contract.
        (!p.is_null()).then(|| unsafe { ArcBorrow::from_raw(p) })
    }
}

impl<T> Drop for ArcSlot<T> {
    fn drop(&mut self) {
        // No one else can reach the slot any more: a plain read, not an exchange.
        let p = *self.ptr.get_mut();
        if !p.is_null() {
            // SAFETY: a non-null pointer is a reference owned by the slot (type invariant),
            // dropped with it.
            drop(unsafe { Arc::from_raw(p) });
        }
    }
}
