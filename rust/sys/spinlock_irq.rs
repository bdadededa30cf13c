// SPDX-License-Identifier: GPL-2.0

//! An interrupt-safe spinlock backend for the `kernel` crate's [`Lock`]: `spin_lock_irqsave`.
//!
//! C header: [`include/linux/spinlock.h`](srctree/include/linux/spinlock.h).
//!
//! `fs/aio.c` takes `ctx_lock` and `completion_lock` with interrupts disabled because
//! completions arrive in interrupt context (here: the hrtimer of a delay request). The guard
//! keeps the saved interrupt flags and restores them on unlock.

use super::bindings;
use kernel::{
    ffi::{c_char, c_ulong},
    sync::lock::{Backend, Lock},
};

/// A spinlock taken with `spin_lock_irqsave`.
pub(crate) type SpinLockIrq<T> = Lock<T, IrqSaveBackend>;

/// Creates a [`SpinLockIrq`] initialiser with a static lock class named `$name`.
macro_rules! new_spinlock_irq {
    ($inner:expr, $name:literal) => {
        kernel::sync::lock::Lock::<_, $crate::sys::spinlock_irq::IrqSaveBackend>::new(
            $inner,
            kernel::c_str!($name),
            kernel::static_lock_class!(),
        )
    };
}
pub(crate) use new_spinlock_irq;

/// The backend of [`SpinLockIrq`].
pub(crate) struct IrqSaveBackend;

// SAFETY: `spin_lock_irqsave` gives exclusive ownership until `spin_unlock_irqrestore`; the
// default `relock` calls `lock` again, the same locking method.
unsafe impl Backend for IrqSaveBackend {
    type State = bindings::spinlock_t;
    type GuardState = c_ulong;

    unsafe fn init(ptr: *mut Self::State, name: *const c_char, key: *mut bindings::lock_class_key) {
        // SAFETY: the caller guarantees `ptr` is valid for writes and `name`/`key` live forever.
        unsafe { kernel::bindings::__spin_lock_init(ptr, name, key) }
    }

    unsafe fn lock(ptr: *mut Self::State) -> c_ulong {
        // SAFETY: the caller guarantees the lock was initialised.
        unsafe { lock_irqsave(ptr) }
    }

    unsafe fn unlock(ptr: *mut Self::State, flags: &c_ulong) {
        // SAFETY: the caller owns the lock; `flags` came from the matching `lock`.
        unsafe { unlock_irqrestore(ptr, *flags) }
    }
}

/// The `raw_spinlock_t` inside a `spinlock_t`, where `spin_lock_irqsave()` and friends take it
/// (`spinlock_check()`): `rlock` is the first member of the union that makes up `spinlock_t`
/// in a kernel without `PREEMPT_RT`.
pub(crate) fn raw(lock: *mut bindings::spinlock_t) -> *mut bindings::raw_spinlock_t {
    lock.cast()
}

/// `spin_lock_irqsave(lock, flags)`, as the macro expands: `_raw_spin_lock_irqsave` on the
/// raw lock, returning the flags (one call rather than a helper's two).
///
/// # Safety
///
/// `lock` is an initialised spinlock.
pub(crate) unsafe fn lock_irqsave(lock: *mut bindings::spinlock_t) -> c_ulong {
    // SAFETY: an initialised lock (the caller's contract).
    unsafe { bindings::_raw_spin_lock_irqsave(raw(lock)) }
}

/// `spin_unlock_irqrestore(lock, flags)`, as the macro expands.
///
/// # Safety
///
/// The caller holds `lock`, taken with [`lock_irqsave`], which returned `flags`.
pub(crate) unsafe fn unlock_irqrestore(lock: *mut bindings::spinlock_t, flags: c_ulong) {
    // SAFETY: held by the caller, `flags` from its lock.
    unsafe { bindings::_raw_spin_unlock_irqrestore(raw(lock), flags) }
}
