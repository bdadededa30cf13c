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
        unsafe { bindings::kaio_spin_lock_irqsave(ptr) }
    }

    unsafe fn unlock(ptr: *mut Self::State, flags: &c_ulong) {
        // SAFETY: the caller owns the lock; `flags` came from the matching `lock`.
        unsafe { bindings::kaio_spin_unlock_irqrestore(ptr, *flags) }
    }
}
