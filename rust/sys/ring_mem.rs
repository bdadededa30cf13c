// SPDX-License-Identifier: GPL-2.0

//! Memory shared with user space: a zeroed `vmalloc_user` area that is mapped into the caller
//! and written by the kernel through its own mapping.
//!
//! C header: [`include/linux/vmalloc.h`](srctree/include/linux/vmalloc.h).
//!
//! User space may write any byte of it at any time, so every kernel access is a volatile
//! (`READ_ONCE`/`WRITE_ONCE`-like) access at a bounds-checked, aligned offset, and nothing read
//! from it is trusted.

use super::{bindings, file::VmArea};
use crate::uapi::IoEvent;
use core::ptr::NonNull;
use kernel::prelude::*;

/// A page-aligned, zeroed area that user space can map.
///
/// # Invariants
///
/// `ptr` is the start of a live `vmalloc_user` allocation of `size` bytes, owned by `self`.
pub(crate) struct SharedMem {
    ptr: NonNull<u8>,
    size: usize,
}

// SAFETY: the memory is owned; all accesses are volatile and bounds-checked.
unsafe impl Send for SharedMem {}
// SAFETY: as above.
unsafe impl Sync for SharedMem {}

impl SharedMem {
    /// `vmalloc_user(size)`; `size` is rounded up to pages by the allocator.
    pub(crate) fn new(size: usize) -> Result<SharedMem> {
        // SAFETY: no preconditions.
        let p = unsafe { bindings::kaio_vmalloc_user(size as _) };
        // INVARIANT: a non-null result is a fresh allocation of at least `size` bytes.
        NonNull::new(p.cast::<u8>()).map(|ptr| SharedMem { ptr, size }).ok_or(ENOMEM)
    }

    /// Size in bytes.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    fn at<U>(&self, offset: usize) -> Option<*mut U> {
        let end = offset.checked_add(core::mem::size_of::<U>())?;
        (end <= self.size && offset % core::mem::align_of::<U>() == 0)
            // SAFETY: in bounds of the allocation (checked just above).
            .then(|| unsafe { self.ptr.as_ptr().add(offset) }.cast::<U>())
    }

    /// Reads the `u32` at `offset` (out of bounds reads give 0).
    pub(crate) fn read_u32(&self, offset: usize) -> u32 {
        // SAFETY: `at` returns an aligned in-bounds pointer into memory we own.
        self.at::<u32>(offset).map_or(0, |p| unsafe { p.read_volatile() })
    }

    /// Writes the `u32` at `offset` (out of bounds writes are dropped).
    pub(crate) fn write_u32(&self, offset: usize, value: u32) {
        if let Some(p) = self.at::<u32>(offset) {
            // SAFETY: aligned, in bounds, owned.
            unsafe { p.write_volatile(value) }
        }
    }

    /// Reads the `io_event` at `offset`.
    pub(crate) fn read_event(&self, offset: usize) -> IoEvent {
        // SAFETY: aligned, in bounds, owned; any bit pattern is a valid `IoEvent`.
        self.at::<IoEvent>(offset).map_or(IoEvent::default(), |p| unsafe { p.read_volatile() })
    }

    /// Writes the `io_event` at `offset`.
    pub(crate) fn write_event(&self, offset: usize, event: &IoEvent) {
        if let Some(p) = self.at::<IoEvent>(offset) {
            // SAFETY: aligned, in bounds, owned.
            unsafe { p.write_volatile(*event) }
        }
    }

    /// Maps the whole area into `vma` (`remap_vmalloc_range`, which also marks the area
    /// `VM_DONTEXPAND`). The pages stay referenced by the mapping until it is unmapped, even if
    /// `self` is dropped first.
    pub(crate) fn map(&self, vma: &VmArea) -> Result {
        // SAFETY: `vma` is valid with the mmap lock held (type invariant of `VmArea`); the area
        // is a `vmalloc_user` allocation.
        kernel::error::to_result(unsafe {
            bindings::remap_vmalloc_range(vma.as_raw(), self.ptr.as_ptr().cast(), 0)
        })
    }
}

impl Drop for SharedMem {
    fn drop(&mut self) {
        // SAFETY: owned allocation (type invariant); `vfree` defers itself in interrupt context.
        unsafe { bindings::vfree(self.ptr.as_ptr().cast()) }
    }
}
