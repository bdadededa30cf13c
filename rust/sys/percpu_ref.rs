// SPDX-License-Identifier: GPL-2.0

//! `struct percpu_ref`: a reference count that is per-CPU (cheap) until killed, then atomic,
//! with a release callback that runs once when it reaches zero after the kill.
//!
//! C header: [`include/linux/percpu-refcount.h`](srctree/include/linux/percpu-refcount.h).
//!
//! The counted object `T` is kept alive across the kill: [`PercpuRef::kill`] takes an
//! `Arc<T>` and parks it in the ref; the release callback receives it back. So the release can
//! run late (from the RCU callback that switches the ref to atomic mode, in softirq context)
//! without outliving the object that embeds the ref.
//!
//! States: live (per-CPU) --kill--> dead (atomic, count > 0) --last put--> released.

use super::{arc_slot::ArcSlot, bindings};
use core::{
    ptr,
    sync::atomic::{AtomicPtr, Ordering},
};
use kernel::{prelude::*, types::Opaque};
use super::arc::Arc;

/// A `percpu_ref` whose release callback gets the `Arc<T>` given to [`PercpuRef::kill`].
///
/// # Invariants
///
/// - `inner` was initialised by `percpu_ref_init` with `release_trampoline::<T>`.
/// - `owner` is empty until `kill`; then it holds an `Arc<T>` that the
///   release callback takes back exactly once.
#[pin_data(PinnedDrop)]
pub(crate) struct PercpuRef<T: Send + Sync> {
    #[pin]
    inner: Opaque<bindings::percpu_ref>,
    owner: ArcSlot<T>,
    release: fn(Arc<T>),
    /// Called by `kill_and_confirm` once the kill is seen by every CPU.
    confirm: AtomicPtr<()>,
}

// SAFETY: the percpu_ref API is thread-safe; `owner` is an atomic.
unsafe impl<T: Send + Sync> Send for PercpuRef<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for PercpuRef<T> {}

impl<T: Send + Sync> PercpuRef<T> {
    /// `percpu_ref_init()`: count 1 (the initial reference), live, per-CPU mode.
    pub(crate) fn new(release: fn(Arc<T>)) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            // SAFETY: `slot` is valid for writes; on success the ref is initialised and is
            // torn down by `percpu_ref_exit` in `PinnedDrop`.
            inner <- unsafe {
                kernel::init::pin_init_from_closure(move |slot: *mut Opaque<bindings::percpu_ref>| {
                    kernel::error::to_result(bindings::percpu_ref_init(
                        Opaque::raw_get(slot),
                        Some(release_trampoline::<T>),
                        0,
                        bindings::GFP_KERNEL | bindings::__GFP_NOWARN,
                    ))
                })
            },
            // INVARIANT: null until `kill`.
            owner: ArcSlot::empty(),
            release,
            confirm: AtomicPtr::new(ptr::null_mut()),
        })
    }

    /// `percpu_ref_get()`.
    pub(crate) fn get(&self) {
        // SAFETY: initialised (type invariant).
        unsafe { bindings::kaio_percpu_ref_get(self.inner.get()) }
    }

    /// `percpu_ref_put()`; may run the release callback, in the caller's context.
    pub(crate) fn put(&self) {
        // SAFETY: initialised; the caller owns the reference it drops.
        unsafe { bindings::kaio_percpu_ref_put(self.inner.get()) }
    }

    /// `percpu_ref_tryget_live()`: a new reference unless the ref has been killed.
    pub(crate) fn tryget_live(&self) -> bool {
        // SAFETY: initialised (type invariant).
        unsafe { bindings::kaio_percpu_ref_tryget_live(self.inner.get()) }
    }

    /// `percpu_ref_kill_and_confirm()`: as [`PercpuRef::kill`], and `confirm` runs (from an RCU
    /// callback, softirq context) once every CPU sees the ref dead: from then on
    /// [`PercpuRef::tryget_live`] fails everywhere.
    pub(crate) fn kill_and_confirm(&self, owner: Arc<T>, confirm: fn(&T)) -> bool {
        self.confirm.store(confirm as *mut (), Ordering::Release);
        self.kill_with(owner, Some(confirm_trampoline::<T>))
    }

    /// `percpu_ref_kill()`: marks the ref dead and drops the initial reference. `owner` is kept
    /// alive until the release callback, which receives it. Killing twice is refused (`false`),
    /// as it is a bug in C.
    pub(crate) fn kill(&self, owner: Arc<T>) -> bool {
        self.kill_with(owner, None)
    }

    fn kill_with(&self, owner: Arc<T>, confirm: bindings::percpu_ref_func_t) -> bool {
        if self.owner.put(owner).is_err() {
            return false;
        }
        // INVARIANT: `owner` now holds the Arc the release callback takes back.
        // SAFETY: initialised and not yet killed (the exchange above succeeded once); the
        // confirmation, if any, runs while `owner` keeps the object alive (before the release).
        unsafe { bindings::percpu_ref_kill_and_confirm(self.inner.get(), confirm) };
        true
    }
}

/// # Safety
///
/// Called by the percpu_ref core once, when a killed ref reaches zero, with the `inner` field
/// of a live `PercpuRef<T>`.
unsafe extern "C" fn release_trampoline<T: Send + Sync>(r: *mut bindings::percpu_ref) {
    let offset = core::mem::offset_of!(PercpuRef<T>, inner);
    // SAFETY: `r` is the `inner` field of a `PercpuRef<T>` (container_of); the object is alive
    // because `owner` still holds an `Arc` to the `T` embedding it.
    let this = unsafe { &*r.cast::<u8>().sub(offset).cast::<PercpuRef<T>>() };
    // Empty only for a release without a kill: impossible, a live per-CPU ref never reaches 0.
    if let Some(owner) = this.owner.take() {
        (this.release)(owner);
    }
}

/// # Safety
///
/// Called by the percpu_ref core once, with the `inner` field of a `PercpuRef<T>` killed by
/// `kill_and_confirm`, before its release.
unsafe extern "C" fn confirm_trampoline<T: Send + Sync>(r: *mut bindings::percpu_ref) {
    let offset = core::mem::offset_of!(PercpuRef<T>, inner);
    // SAFETY: container_of; alive because `owner` holds an `Arc` to the `T` embedding it until
    // the release, which comes after the confirmation.
    let this = unsafe { &*r.cast::<u8>().sub(offset).cast::<PercpuRef<T>>() };
    let confirm = this.confirm.load(Ordering::Acquire);
    // SAFETY: the only taker of `owner` is the release, which comes after the confirmation.
    let Some(owner) = (unsafe { this.owner.peek() }) else { return };
    if confirm.is_null() {
        return;
    }
    // SAFETY: `confirm` was stored from a `fn(&T)` by `kill_and_confirm`.
    let confirm: fn(&T) = unsafe { core::mem::transmute::<*mut (), fn(&T)>(confirm) };
    confirm(&owner);
}

#[pinned_drop]
impl<T: Send + Sync> PinnedDrop for PercpuRef<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: initialised; `percpu_ref_exit` frees the per-CPU counter and is idempotent.
        // No release can be pending: a pending release holds an `Arc` to the `T` embedding us.
        unsafe { bindings::percpu_ref_exit(self.inner.get()) };
    }
}
