// SPDX-License-Identifier: GPL-2.0

//! The caller's address space: its identity, and mapping/unmapping a file into it.
//!
//! C header: [`include/linux/mm.h`](srctree/include/linux/mm.h).

use super::{bindings, file::File, task_work::UserTask};
use kernel::prelude::*;

/// The identity of an address space (`struct mm_struct *`), for comparison only: it is never
/// dereferenced.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct MmId(usize);

impl MmId {
    /// The identity of `mm`.
    pub(crate) fn from_raw(mm: *mut bindings::mm_struct) -> MmId {
        MmId(mm as usize)
    }

    /// The calling task's address space (`current->mm`).
    pub(crate) fn current() -> MmId {
        // SAFETY: reading `current->mm` is always safe in task context.
        MmId(unsafe { bindings::kaio_current_mm() } as usize)
    }

    /// Whether the caller is a user task (not an interrupt, not a kernel thread, even one
    /// borrowing an address space) of this address space. Any context.
    pub(crate) fn is_current_user_task(&self) -> bool {
        self.current_user_task().is_some()
    }

    /// [`MmId::is_current_user_task`], with the proof a task work item is queued with.
    pub(crate) fn current_user_task(&self) -> Option<UserTask> {
        // SAFETY: the helper only compares the pointer with `current->mm`.
        let user = unsafe { bindings::kaio_current_is_user_task_of(self.0 as *mut bindings::mm_struct) };
        // SAFETY: the helper checked `in_task()` and not `PF_KTHREAD`.
        user.then(|| unsafe { UserTask::new_unchecked() })
    }
}

/// `vm_mmap(file, 0, len, PROT_READ | PROT_WRITE, MAP_SHARED, offset)` in the caller's address
/// space; the file's `mmap` handler sees `offset` as the page offset. Returns the address.
pub(crate) fn map_shared(file: &File, len: usize, pgoff: usize) -> Result<usize> {
    let offset = pgoff.checked_mul(bindings::PAGE_SIZE as usize).ok_or(EINVAL)?;
    // SAFETY: `file` is a live file; `vm_mmap` takes the mmap lock itself.
    let addr = unsafe {
        bindings::vm_mmap(
            file.as_raw(),
            0,
            len as _,
            (bindings::PROT_READ | bindings::PROT_WRITE) as _,
            bindings::MAP_SHARED as _,
            offset as _,
        )
    } as usize;
    if addr >= (-(bindings::MAX_ERRNO as isize)) as usize {
        return Err(Error::from_errno(addr as isize as i32));
    }
    Ok(addr)
}

/// `vm_munmap(addr, len)` in the caller's address space: unmaps whatever is there now. On
/// failure (`ENOMEM`: splitting a mapping or the maple tree needed memory) nothing was unmapped.
pub(crate) fn unmap(addr: usize, len: usize) -> Result {
    // SAFETY: `vm_munmap` validates the range and takes the mmap lock itself.
    kernel::error::to_result(unsafe { bindings::vm_munmap(addr as _, len as _) })
}

/// A counted reference to the calling task's address space (`mmgrab`: the `mm_struct` stays,
/// its mappings may go), so that a kernel worker can later reach the submitter's user memory.
///
/// # Invariants
///
/// `mm` holds an `mm_count` reference from `mmgrab`.
pub(crate) struct MmRef {
    mm: core::ptr::NonNull<bindings::mm_struct>,
}

// SAFETY: an `mm_count` reference may be used and dropped from any thread.
unsafe impl Send for MmRef {}
// SAFETY: as above.
unsafe impl Sync for MmRef {}

impl MmRef {
    /// The caller's address space; `EINVAL` for a task without one (a kernel thread).
    pub(crate) fn current() -> Result<MmRef> {
        // SAFETY: task context; the helper grabs `current->mm` if there is one.
        let mm = unsafe { bindings::kaio_mmgrab_current() };
        // INVARIANT: non-null means `mmgrab` was called.
        core::ptr::NonNull::new(mm).map(|mm| MmRef { mm }).ok_or(EINVAL)
    }

    /// Runs `f` in a kernel worker with this address space as its own (`kthread_use_mm`), so
    /// that user addresses of the submitter resolve. `None` if the address space is already
    /// torn down (its last user exited): `f` did not run. Process context of a kernel thread.
    pub(crate) fn run_in<R>(&self, f: impl FnOnce() -> R) -> Option<R> {
        // SAFETY: `mm` is kept by our `mm_count` reference (type invariant).
        if !unsafe { bindings::kaio_mmget_not_zero(self.mm.as_ptr()) } {
            return None;
        }
        // SAFETY: called from a kernel thread (a workqueue worker) that uses no other mm; the
        // `mm_users` reference taken above keeps the mappings until `mmput`.
        unsafe { bindings::kthread_use_mm(self.mm.as_ptr()) };
        let r = f();
        // SAFETY: paired with the calls above, on the same thread. `mmput_async`: if the
        // process exited meanwhile, this is the last `mm_users` reference, and the address
        // space's teardown (its mmu notifier's release waits for the process's requests) must
        // not run on this worker, whose caller still holds the request it made the attempt for.
        unsafe {
            bindings::kthread_unuse_mm(self.mm.as_ptr());
            // The bug put back (tests/check-bugs.sh): the teardown runs on this worker.
            if cfg!(kaio_bug = "worker_mmput_sync") {
                bindings::mmput(self.mm.as_ptr());
            } else {
                bindings::mmput_async(self.mm.as_ptr());
            }
        }
        Some(r)
    }
}

impl Drop for MmRef {
    fn drop(&mut self) {
        // SAFETY: the `mm_count` reference taken by `current` (type invariant).
        unsafe { bindings::kaio_mmdrop(self.mm.as_ptr()) };
    }
}
