// SPDX-License-Identifier: GPL-2.0

//! `struct file` and `struct vm_area_struct`, as the misc device's callbacks see them.
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h),
//! [`include/linux/mm_types.h`](srctree/include/linux/mm_types.h).

use super::bindings;
use kernel::types::Opaque;

/// An open file, borrowed for the duration of a file operation.
///
/// # Invariants
///
/// The wrapped `struct file` is valid for the lifetime of any `&File`: the VFS holds a
/// reference to it while it calls a file operation.
#[repr(transparent)]
pub(crate) struct File(Opaque<bindings::file>);

impl File {
    /// Borrows a `struct file` for the duration of a file operation.
    ///
    /// # Safety
    ///
    /// `ptr` must point at a valid `struct file` that stays valid for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::file) -> &'a File {
        // SAFETY: `File` is `repr(transparent)` over `Opaque<file>`, and the caller guarantees
        // validity for `'a`.
        unsafe { &*ptr.cast() }
    }

    /// The raw `struct file` pointer.
    pub(crate) fn as_raw(&self) -> *mut bindings::file {
        self.0.get()
    }
}

/// A virtual memory area being set up by `mmap`.
///
/// # Invariants
///
/// The wrapped `vm_area_struct` is valid, and its mm's mmap lock is held for writing, for the
/// lifetime of any `&VmArea`.
#[repr(transparent)]
pub(crate) struct VmArea(Opaque<bindings::vm_area_struct>);

impl VmArea {
    /// Borrows a `vm_area_struct` handed to `f_op->mmap`.
    ///
    /// # Safety
    ///
    /// `ptr` must be valid and its mm's mmap lock held for writing for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::vm_area_struct) -> &'a VmArea {
        // SAFETY: `repr(transparent)` over `Opaque`, validity guaranteed by the caller.
        unsafe { &*ptr.cast() }
    }

    /// The raw `vm_area_struct` pointer.
    pub(crate) fn as_raw(&self) -> *mut bindings::vm_area_struct {
        self.0.get()
    }

    /// Forbids `mprotect(PROT_EXEC)` on the area (`EACCES`), as for a file on a noexec mount.
    pub(crate) fn forbid_exec(&self) {
        // SAFETY: valid, with the mmap lock held for writing (type invariant).
        unsafe { bindings::kaio_vm_flags_clear(self.0.get(), bindings::VM_MAYEXEC as _) }
    }

    /// Marks the area `VM_DONTEXPAND | VM_DONTDUMP`: mremap cannot grow it, core dumps skip it.
    pub(crate) fn set_dontexpand(&self) {
        // SAFETY: valid, with the mmap lock held for writing (type invariant).
        unsafe { bindings::kaio_vm_flags_set(self.0.get(), (bindings::VM_DONTEXPAND | bindings::VM_DONTDUMP) as _) }
    }

    /// Start address of the area.
    pub(crate) fn start(&self) -> usize {
        // SAFETY: by the type invariant the area is valid; `vm_start` is stable while the mmap
        // lock is held.
        unsafe { (*self.0.get()).__bindgen_anon_1.__bindgen_anon_1.vm_start as usize }
    }

    /// End address (exclusive) of the area.
    pub(crate) fn end(&self) -> usize {
        // SAFETY: as in `start`.
        unsafe { (*self.0.get()).__bindgen_anon_1.__bindgen_anon_1.vm_end as usize }
    }

    /// Page offset the area maps the file at.
    pub(crate) fn pgoff(&self) -> usize {
        // SAFETY: as in `start`.
        unsafe { (*self.0.get()).vm_pgoff as usize }
    }
}
