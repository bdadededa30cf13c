// SPDX-License-Identifier: GPL-2.0

//! The caller's address space: its identity, and mapping/unmapping a file into it.
//!
//! C header: [`include/linux/mm.h`](srctree/include/linux/mm.h).

use super::{bindings, file::File};
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
