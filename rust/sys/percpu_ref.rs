// SPDX-License-Identifier: GPL-2.0

//! `struct percpu_ref`: a reference count that is per-CPU (cheap) until killed, then atomic,
//! with a release callback that runs once when it reaches zero after the kill.
//!
//! C header: [`include/linux/percpu-refcount.h`](srctree/include/linux/percpu-refcount.h).
//!
//! The counted object `T` is kept alive across the kill: [`PercpuRef::kill_and_confirm`] takes
//! an `Arc<T>` and parks it in the ref; the release callback receives it back. So the release can
//! run late (from the RCU callback that switches the ref to atomic mode, in softirq context)
//! without outliving the object that embeds the ref.
//!
//! An object may instead park that `Arc` from the start ([`PercpuRef::adopt`], killed with
//! [`PercpuRef::kill_adopted`]): then every count keeps the object alive, as a request's
//! `ctx->reqs` reference keeps its `kioctx` in fs/aio.c, and a [`Held`] is a reference to the
//! object that costs one per-CPU count instead of a shared atomic one.
//!
//! States: live (per-CPU) --kill--> dead (atomic, count > 0) --last put--> released.

use super::{arc_slot::ArcSlot, bindings};
use core::{
    ptr,
    sync::atomic::{AtomicBool, AtomicPtr, Ordering},
    ops::Deref,
};
use kernel::{prelude::*, types::Opaque};
use super::arc::Arc;

/// A `percpu_ref` whose release callback gets the `Arc<T>` parked by the kill or the adoption.
///
/// # Invariants
///
/// - `inner` was initialised by `percpu_ref_init` with `release_trampoline::<T>`.
/// - `owner` is empty until `kill` or `adopt`; then it holds an `Arc<T>` to the object
///   embedding this ref, which the release callback takes back exactly once.
/// - `killed` is set by the one kill. An `owner` parked before it (by `adopt`) stays until the
///   release.
#[pin_data(PinnedDrop)]
pub(crate) struct PercpuRef<T: Send + Sync> {
    #[pin]
    inner: Opaque<bindings::percpu_ref>,
    owner: ArcSlot<T>,
    release: fn(Arc<T>),
    /// Called by `kill_and_confirm` once the kill is seen by every CPU.
    confirm: AtomicPtr<()>,
    killed: AtomicBool,
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
            // INVARIANT: null until the kill or the adoption.
            owner: ArcSlot::empty(),
            release,
            confirm: AtomicPtr::new(ptr::null_mut()),
            killed: AtomicBool::new(false),
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

    /// [`PercpuRef::put`] through a pointer, for a put that may free the ref: no reference to
    /// it is alive across the call.
    ///
    /// # Safety
    ///
    /// `this` is an initialised ref, alive until the put, on which the caller owns a count.
    unsafe fn put_raw(this: *const Self) {
        // SAFETY: the caller's contract; `addr_of!` makes no reference.
        unsafe { bindings::kaio_percpu_ref_put(Opaque::raw_get(ptr::addr_of!((*this).inner))) }
    }

    /// `percpu_ref_tryget_live()`: a new reference unless the ref has been killed.
    pub(crate) fn tryget_live(&self) -> bool {
        // SAFETY: initialised (type invariant).
        unsafe { bindings::kaio_percpu_ref_tryget_live(self.inner.get()) }
    }

    /// `percpu_ref_kill_and_confirm()`: marks the ref dead and drops the initial reference;
    /// `owner` is kept alive until the release callback, which receives it. Killing twice is
    /// refused (`false`), as it is a bug in C. `confirm` runs (from an RCU callback, softirq
    /// context) once every CPU sees the ref dead: from then on [`PercpuRef::tryget_live`]
    /// fails everywhere.
    pub(crate) fn kill_and_confirm(&self, owner: Arc<T>, confirm: fn(&T)) -> bool {
        self.confirm.store(confirm as *mut (), Ordering::Release);
        self.kill_with(owner, Some(confirm_trampoline::<T>))
    }

    fn kill_with(&self, owner: Arc<T>, confirm: bindings::percpu_ref_func_t) -> bool {
        if self.killed.load(Ordering::Acquire) || self.owner.put(owner).is_err() {
            // Killed already, or adopted (killed by `kill_adopted`).
            return false;
        }
        self.kill_parked(confirm)
    }

    /// Parks `owner`, the `Arc` of the object embedding this ref, until the release: from now
    /// on every count keeps the object alive (see [`Held`]), and the ref is killed with
    /// [`PercpuRef::kill_adopted`]; an object adopted and never killed is never freed. Refused
    /// (`owner` given back) for another object, or once an owner is parked.
    pub(crate) fn adopt(&self, owner: Arc<T>) -> Result<(), Arc<T>>
    where
        T: PercpuOwner,
    {
        if !ptr::eq(owner.percpu_ref(), self) {
            return Err(owner);
        }
        // INVARIANT: the object embedding this ref, parked until the release.
        self.owner.put(owner)
    }

    /// `percpu_ref_kill()` of an adopted ref (its owner is parked already). Refused (`false`)
    /// if the ref was not adopted or is killed already.
    pub(crate) fn kill_adopted(&self) -> bool {
        // Parked and not killed: adopted (a kill parks its owner and sets `killed`).
        if !self.owner.is_occupied() {
            return false;
        }
        self.kill_parked(None)
    }

    fn kill_parked(&self, confirm: bindings::percpu_ref_func_t) -> bool {
        if self.killed.swap(true, Ordering::AcqRel) {
            return false;
        }
        // INVARIANT: `owner` holds the Arc the release callback takes back; `killed` is set.
        // SAFETY: initialised and not yet killed (`killed` was clear); the confirmation, if
        // any, runs while `owner` keeps the object alive (before the release).
        unsafe { bindings::percpu_ref_kill_and_confirm(self.inner.get(), confirm) };
        true
    }
}

/// An object embedding a [`PercpuRef`] of itself that it may adopt, so that a [`Held`] can be
/// taken on it.
pub(crate) trait PercpuOwner: Send + Sync + Sized {
    /// The ref (always the same one).
    fn percpu_ref(&self) -> &PercpuRef<Self>;
}

/// A reference to a `T` that is one count of its adopted [`PercpuRef`]: per-CPU, so taking and
/// dropping it touches no shared cache line while the ref is live.
///
/// # Invariants
///
/// `obj` is the object the `Arc` parked in its ref points to, and this holds one count of that
/// ref; the count keeps the ref from its release and so the parked owner, and the object,
/// alive.
pub(crate) struct Held<T: PercpuOwner> {
    obj: ptr::NonNull<T>,
}

// SAFETY: a shared reference to a `T: Sync + Send`, droppable on any thread (a percpu_ref put
// is).
unsafe impl<T: PercpuOwner> Send for Held<T> {}
// SAFETY: as above.
unsafe impl<T: PercpuOwner> Sync for Held<T> {}

impl<T: PercpuOwner> Held<T> {
    /// A count of `obj`'s ref (`percpu_ref_tryget_live`): `None` if it is killed, or did not
    /// adopt `obj`.
    pub(crate) fn new(obj: &T) -> Option<Self> {
        let r = obj.percpu_ref();
        if !r.tryget_live() {
            return None;
        }
        // With our count taken, a parked owner (adopted, or parked by a kill racing with us)
        // stays until we put it; it must be `obj` itself (not only a ref `obj` points to).
        if !r.owner.holds(obj) {
            r.put();
            return None;
        }
        // INVARIANT: `obj` is the parked object, and the count taken above is ours.
        Some(Held { obj: ptr::NonNull::from(obj) })
    }

    /// An `Arc` of the object (one more count of its `Arc`).
    pub(crate) fn arc(&self) -> Arc<T> {
        // SAFETY: the object is the one the parked `Arc` points to, so its pointer is one
        // `Arc::into_raw` gave, and alive while we hold a count (type invariant).
        unsafe { Arc::from(super::arc::ArcBorrow::from_raw(self.obj.as_ptr())) }
    }
}

impl<T: PercpuOwner> Deref for Held<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: alive while we hold the count (type invariant).
        unsafe { self.obj.as_ref() }
    }
}

impl<T: PercpuOwner> Drop for Held<T> {
    fn drop(&mut self) {
        // The last access to the object through `self`: the put may release the ref, and the
        // release drop the object, so no reference to either lives across it.
        let r: *const PercpuRef<T> = self.percpu_ref();
        // SAFETY: the object is alive until our count is put (type invariant), which is this.
        unsafe { PercpuRef::put_raw(r) };
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
