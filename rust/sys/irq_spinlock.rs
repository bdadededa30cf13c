// SPDX-License-Identifier: GPL-2.0

//! A spinlock taken with interrupts disabled that can also be *tried*: `ctx_lock`.
//!
//! C header: [`include/linux/spinlock.h`](srctree/include/linux/spinlock.h).
//!
//! The `kernel` crate's `Lock` of 6.12 has no trylock, and the poll wake-up needs one: it runs
//! with the polled file's wait-queue lock held, while everyone else takes that lock inside
//! `ctx_lock` (the order `fs/aio.c` inverts with `spin_trylock_irqsave`).

use super::bindings;
use core::{
    cell::UnsafeCell,
    marker::PhantomData,
    ops::{Deref, DerefMut},
};
use kernel::{
    ffi::c_ulong,
    prelude::*,
    str::CStr,
    sync::LockClassKey,
    types::Opaque,
};

/// Creates an [`IrqSpinLock`] initialiser with a static lock class named `$name`.
macro_rules! new_irq_spinlock {
    ($inner:expr, $name:literal) => {
        $crate::sys::irq_spinlock::IrqSpinLock::new($inner, kernel::c_str!($name), kernel::static_lock_class!())
    };
}
pub(crate) use new_irq_spinlock;

/// A `spinlock_t` protecting a `T`, always held with interrupts disabled.
///
/// # Invariants
///
/// `lock` is initialised; `data` is accessed only through an [`IrqGuard`], which exists only
/// while `lock` is held.
#[pin_data]
pub(crate) struct IrqSpinLock<T> {
    #[pin]
    lock: Opaque<bindings::spinlock_t>,
    data: UnsafeCell<T>,
}

// SAFETY: the lock serialises access to `data`.
unsafe impl<T: Send> Send for IrqSpinLock<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for IrqSpinLock<T> {}

impl<T> IrqSpinLock<T> {
    /// A new lock of class `key`.
    pub(crate) fn new(data: T, name: &'static CStr, key: &'static LockClassKey) -> impl PinInit<Self> {
        // `LockClassKey` is a transparent wrapper of `lock_class_key` (its own accessor is
        // private to the kernel crate).
        let key = (key as *const LockClassKey).cast_mut().cast::<bindings::lock_class_key>();
        pin_init!(Self {
            // SAFETY: `slot` is valid for writes; `name` and `key` are static.
            lock <- Opaque::ffi_init(move |slot| unsafe {
                kernel::bindings::__spin_lock_init(slot, name.as_char_ptr(), key)
            }),
            data: UnsafeCell::new(data),
        })
    }

    /// `spin_lock_irqsave()`.
    pub(crate) fn lock(&self) -> IrqGuard<'_, T> {
        // SAFETY: initialised (type invariant).
        let flags = unsafe { super::spinlock_irq::lock_irqsave(self.lock.get()) };
        // INVARIANT: the lock is held.
        IrqGuard { lock: self, flags, _not_send: PhantomData }
    }

    /// `spin_trylock_irqsave()`: the guard if the lock was free.
    pub(crate) fn try_lock(&self) -> Option<IrqGuard<'_, T>> {
        let mut flags: c_ulong = 0;
        // SAFETY: initialised; `flags` is written on success.
        let taken = unsafe { bindings::kaio_spin_trylock_irqsave(self.lock.get(), &mut flags) };
        // INVARIANT: held when `taken`.
        taken.then(|| IrqGuard { lock: self, flags, _not_send: PhantomData })
    }
}

/// Interrupts off on this CPU from [`IrqsDisabled::new`] until the value is dropped
/// (`local_irq_save`, `local_irq_restore`). Locks taken inside save and restore the disabled
/// state, so a run of short critical sections turns interrupts back on once: the costly step
/// (an `sti`, which under emulation ends the translated block).
pub(crate) struct IrqsDisabled {
    flags: c_ulong,
    _not_send: PhantomData<*mut ()>,
}

impl IrqsDisabled {
    /// `local_irq_save()`.
    pub(crate) fn new() -> Self {
        // SAFETY: no precondition; the flags are restored on drop, on this CPU (not `Send`).
        let flags = unsafe { bindings::kaio_local_irq_save() };
        IrqsDisabled { flags, _not_send: PhantomData }
    }

    /// The proof that interrupts are off while this lives.
    pub(crate) fn irqs_off(&self) -> IrqsOff<'_> {
        IrqsOff { _guard: PhantomData, _not_send: PhantomData }
    }
}

impl Drop for IrqsDisabled {
    fn drop(&mut self) {
        // SAFETY: `flags` came from the matching save on this CPU.
        unsafe { bindings::kaio_local_irq_restore(self.flags) }
    }
}

/// Proof that interrupts are off on this CPU for `'a` (an [`IrqGuard`] or an [`IrqsDisabled`]
/// is held). Such a region
/// is an RCU read-side critical section: every grace period waits for it.
#[derive(Clone, Copy)]
pub(crate) struct IrqsOff<'a> {
    _guard: PhantomData<&'a ()>,
    _not_send: PhantomData<*mut ()>,
}

impl<T> IrqGuard<'_, T> {
    /// The proof that interrupts are off while this guard lives.
    pub(crate) fn irqs_off(&self) -> IrqsOff<'_> {
        IrqsOff { _guard: PhantomData, _not_send: PhantomData }
    }

    /// The proof and the data together, both for as long as the guard is borrowed.
    pub(crate) fn split(&mut self) -> (IrqsOff<'_>, &mut T) {
        let irqs = IrqsOff { _guard: PhantomData, _not_send: PhantomData };
        (irqs, &mut **self)
    }
}

/// Proof that an [`IrqSpinLock`] is held; unlocks and restores interrupts on drop.
pub(crate) struct IrqGuard<'a, T> {
    lock: &'a IrqSpinLock<T>,
    flags: c_ulong,
    _not_send: PhantomData<*mut ()>,
}

impl<T> Deref for IrqGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the lock is held (type invariant of the guard).
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for IrqGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the lock is held, exclusively.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for IrqGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: held by this guard; `flags` came from the matching lock.
        unsafe { super::spinlock_irq::unlock_irqrestore(self.lock.lock.get(), self.flags) }
    }
}
