// SPDX-License-Identifier: GPL-2.0

//! A value that one owner at a time uses, by a protocol of its holder (the attempting owner
//! of a polled read or write and its buffer): an atomic flag instead of a lock. A claim never
//! waits: it fails if the value is claimed already, which the protocol says cannot happen.

use core::{
    cell::UnsafeCell,
    ops::{Deref, DerefMut},
    sync::atomic::{AtomicBool, Ordering},
};

/// A `T` with a claim flag.
///
/// # Invariants
///
/// `value` is accessed only through an [`OwnerGuard`], and at most one exists at a time:
/// `claimed` is true from its creation until its drop.
pub(crate) struct OwnerCell<T> {
    claimed: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value moves between threads only with the claim (one user at a time).
unsafe impl<T: Send> Send for OwnerCell<T> {}
// SAFETY: shared references give access to the value only through the exclusive claim.
unsafe impl<T: Send> Sync for OwnerCell<T> {}

impl<T> OwnerCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        OwnerCell { claimed: AtomicBool::new(false), value: UnsafeCell::new(value) }
    }

    /// The value, exclusively, until the guard is dropped; `None` if someone holds it.
    pub(crate) fn claim(&self) -> Option<OwnerGuard<'_, T>> {
        self.claimed
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            // INVARIANT: the flag was false and is ours now.
            .map(|_| OwnerGuard { cell: self })
    }
}

/// The claim of an [`OwnerCell`].
pub(crate) struct OwnerGuard<'a, T> {
    cell: &'a OwnerCell<T>,
}

impl<T> Deref for OwnerGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the only guard (type invariant of the cell).
        unsafe { &*self.cell.value.get() }
    }
}

impl<T> DerefMut for OwnerGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the only guard (type invariant of the cell).
        unsafe { &mut *self.cell.value.get() }
    }
}

impl<T> Drop for OwnerGuard<'_, T> {
    fn drop(&mut self) {
        self.cell.claimed.store(false, Ordering::Release);
    }
}
