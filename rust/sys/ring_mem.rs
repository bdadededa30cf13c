// SPDX-License-Identifier: GPL-2.0

//! Memory shared with user space: zeroed pages that are mapped into the caller and that the
//! kernel reads and writes through its own (direct-map) addresses, as `fs/aio.c` keeps
//! `ring_pages` and writes events through `page_address`.
//!
//! C header: [`include/linux/mm.h`](srctree/include/linux/mm.h).
//!
//! User space may write any byte at any time, so every kernel access is a volatile
//! (`READ_ONCE`/`WRITE_ONCE`-like) access at a bounds-checked, aligned offset that never
//! straddles a page, and nothing read from it is trusted. Allocation failures are reported as
//! `ENOMEM` without the allocator's warning (fault injection makes them routine).

use super::{bindings, file::VmArea};
use crate::uapi::IoEvent;
use core::ptr::NonNull;
use kernel::{
    alloc::{flags, KVVec},
    page::{Page, PAGE_SIZE},
    prelude::*,
};

/// Whole pages, zeroed, mappable into user space.
///
/// # Invariants
///
/// `addrs[i]` is the kernel address of `pages[i]` (lowmem: GFP_KERNEL without HIGHMEM), and
/// `size == pages.len() * PAGE_SIZE`.
pub(crate) struct SharedMem {
    pages: KVVec<Page>,
    addrs: KVVec<NonNull<u8>>,
    size: usize,
}

// SAFETY: the pages are owned; all accesses are volatile and bounds-checked.
unsafe impl Send for SharedMem {}
// SAFETY: as above.
unsafe impl Sync for SharedMem {}

impl SharedMem {
    /// `size` bytes (a multiple of the page size) of zeroed pages.
    pub(crate) fn new(size: usize) -> Result<SharedMem> {
        let n = size.div_ceil(PAGE_SIZE);
        let quiet = GFP_KERNEL | flags::__GFP_NOWARN;
        let mut pages = KVVec::with_capacity(n, quiet)?;
        let mut addrs = KVVec::with_capacity(n, quiet)?;
        for _ in 0..n {
            let page = Page::alloc_page(quiet | flags::__GFP_ZERO)?;
            // SAFETY: a lowmem page we own has a permanent kernel address.
            let addr = unsafe { bindings::kaio_page_address(page.as_ptr()) };
            addrs.push(NonNull::new(addr.cast::<u8>()).ok_or(ENOMEM)?, quiet)?;
            pages.push(page, quiet)?;
        }
        // INVARIANT: one address per page, `n` pages.
        Ok(SharedMem { pages, addrs, size: n * PAGE_SIZE })
    }

    /// Size in bytes.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    fn at<U>(&self, offset: usize) -> Option<*mut U> {
        let (page, within) = (offset / PAGE_SIZE, offset % PAGE_SIZE);
        let end = within.checked_add(core::mem::size_of::<U>())?;
        let base = self.addrs.get(page)?;
        (end <= PAGE_SIZE && within % core::mem::align_of::<U>() == 0)
            // SAFETY: inside one page we own (checked just above).
            .then(|| unsafe { base.as_ptr().add(within) }.cast::<U>())
    }

    /// Reads the `u32` at `offset` (out of bounds reads give 0).
    pub(crate) fn read_u32(&self, offset: usize) -> u32 {
        // SAFETY: `at` returns an aligned pointer inside a page we own.
        self.at::<u32>(offset).map_or(0, |p| unsafe { p.read_volatile() })
    }

    /// Writes the `u32` at `offset` (out of bounds writes are dropped).
    pub(crate) fn write_u32(&self, offset: usize, value: u32) {
        if let Some(p) = self.at::<u32>(offset) {
            // SAFETY: aligned, inside a page we own.
            unsafe { p.write_volatile(value) }
        }
    }

    /// Reads the `io_event` at `offset`.
    pub(crate) fn read_event(&self, offset: usize) -> IoEvent {
        // SAFETY: aligned, inside a page we own; any bit pattern is a valid `IoEvent`.
        self.at::<IoEvent>(offset).map_or(IoEvent::default(), |p| unsafe { p.read_volatile() })
    }

    /// Writes the `io_event` at `offset`.
    pub(crate) fn write_event(&self, offset: usize, event: &IoEvent) {
        if let Some(p) = self.at::<IoEvent>(offset) {
            // SAFETY: aligned, inside a page we own.
            unsafe { p.write_volatile(*event) }
        }
    }

    /// Maps every page into `vma` (which must span exactly `size` bytes), marked
    /// `VM_DONTEXPAND` (mremap cannot grow it) and `VM_DONTDUMP`. Each mapped page holds its
    /// own reference, so the mapping stays valid even if `self` is dropped first.
    pub(crate) fn map(&self, vma: &VmArea) -> Result {
        if vma.end() - vma.start() != self.size {
            return Err(EINVAL);
        }
        vma.set_dontexpand();
        for (i, page) in self.pages.iter().enumerate() {
            // SAFETY: `vma` is valid with the mmap lock held (type invariant of `VmArea`), the
            // address is inside it, and the page is ours.
            kernel::error::to_result(unsafe {
                bindings::vm_insert_page(vma.as_raw(), (vma.start() + i * PAGE_SIZE) as _, page.as_ptr())
            })?;
        }
        Ok(())
    }
}
