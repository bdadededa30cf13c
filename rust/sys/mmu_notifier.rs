// SPDX-License-Identifier: GPL-2.0

//! Watching an address space die: an `mmu_notifier` with only a `release` callback.
//!
//! C header: [`include/linux/mmu_notifier.h`](srctree/include/linux/mmu_notifier.h).
//!
//! `release` runs from `exit_mmap()` when the last user of the mm goes away (process exit, or
//! exec replacing the mm): the point where Linux calls `exit_aio()`. It runs in process context
//! and may sleep. It also runs from [`MmWatch`]'s drop (`mmu_notifier_unregister`) if the mm
//! is still alive then, so the owner sees exactly one release either way.

use super::{bindings, mm::MmId};
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::{prelude::*, types::Opaque};
use super::arc::Arc;

/// The owner of an [`MmWatch`]: told when the watched address space is torn down.
pub(crate) trait MmRelease: Send + Sync + Sized {
    /// The address space `mm` is going away (or the watch is being dropped). May sleep.
    fn mm_released(&self, mm: MmId);
}

/// A registration of an `mmu_notifier` on the caller's address space.
///
/// # Invariants
///
/// `notifier` is registered on `mm` (which `mmu_notifier_register` pinned with `mmgrab`) with
/// `Self::OPS`, until `PinnedDrop` unregisters it; `owner` outlives every callback.
#[pin_data(PinnedDrop)]
pub(crate) struct MmWatch<T: MmRelease> {
    #[pin]
    notifier: Opaque<bindings::mmu_notifier>,
    mm: *mut bindings::mm_struct,
    owner: Arc<T>,
    /// Set once `mmu_notifier_register` succeeded.
    registered: AtomicBool,
    released: AtomicBool,
}

// SAFETY: the notifier core serialises registration and callbacks; `released` is atomic.
unsafe impl<T: MmRelease> Send for MmWatch<T> {}
// SAFETY: as above.
unsafe impl<T: MmRelease> Sync for MmWatch<T> {}

impl<T: MmRelease> MmWatch<T> {
    const OPS: bindings::mmu_notifier_ops = {
        // SAFETY: all-zero is a valid `mmu_notifier_ops` (no callbacks).
        let mut ops: bindings::mmu_notifier_ops = unsafe { core::mem::zeroed() };
        ops.release = Some(release_trampoline::<T>);
        ops
    };

    /// Watches the caller's address space for `owner`. Takes the mmap lock for writing.
    pub(crate) fn register(owner: Arc<T>) -> Result<Pin<KBox<Self>>> {
        // SAFETY: reading `current->mm` is always safe in task context.
        let mm = unsafe { bindings::kaio_current_mm() };
        if mm.is_null() {
            return Err(EINVAL);
        }
        let watch = KBox::pin_init(
            pin_init!(MmWatch {
                // SAFETY: all-zero is the unregistered state of an `mmu_notifier`.
                notifier <- Opaque::ffi_init(|slot: *mut bindings::mmu_notifier| unsafe {
                    slot.write(core::mem::zeroed());
                    (*slot).ops = &Self::OPS;
                }),
                mm,
                owner,
                registered: AtomicBool::new(false),
                released: AtomicBool::new(false),
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: `notifier` is initialised and pinned in the box; `mm` is the caller's live
        // address space. On failure nothing stays registered and the box may be freed.
        kernel::error::to_result(unsafe { bindings::mmu_notifier_register(watch.notifier.get(), mm) })?;
        // INVARIANT: registered; from now on the drop unregisters.
        watch.registered.store(true, Ordering::Release);
        Ok(watch)
    }

    /// The watched address space.
    pub(crate) fn mm(&self) -> MmId {
        MmId::from_raw(self.mm)
    }

    /// Whether the address space has already gone away.
    pub(crate) fn is_released(&self) -> bool {
        self.released.load(Ordering::Acquire)
    }
}

/// # Safety
///
/// Called by the notifier core with the `notifier` field of a registered `MmWatch<T>`.
unsafe extern "C" fn release_trampoline<T: MmRelease>(
    notifier: *mut bindings::mmu_notifier,
    _mm: *mut bindings::mm_struct,
) {
    let offset = core::mem::offset_of!(MmWatch<T>, notifier);
    // SAFETY: container_of; the watch lives until unregistered, which waits for callbacks.
    let this = unsafe { &*notifier.cast::<u8>().sub(offset).cast::<MmWatch<T>>() };
    if !this.released.swap(true, Ordering::AcqRel) {
        this.owner.mm_released(this.mm());
    }
}

#[pinned_drop]
impl<T: MmRelease> PinnedDrop for MmWatch<T> {
    fn drop(self: Pin<&mut Self>) {
        // A failed registration took no mm reference: nothing to undo.
        if !self.registered.load(Ordering::Acquire) {
            return;
        }
        // SAFETY: registered on `self.mm` (type invariant). `mmu_notifier_unregister` calls
        // `release` if the mm is still alive, waits for running callbacks, and drops the mm
        // reference that registration took.
        unsafe { bindings::mmu_notifier_unregister(self.notifier.get(), self.mm) };
    }
}
