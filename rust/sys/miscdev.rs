// SPDX-License-Identifier: GPL-2.0

//! Misc device registration with open, release, ioctl and mmap file operations.
//!
//! C header: [`include/linux/miscdevice.h`](srctree/include/linux/miscdevice.h).
//!
//! The per-open state is a [`ForeignOwnable`] stored in `file->private_data`: created by
//! [`MiscDevice::open`], borrowed by `ioctl` and `mmap`, taken back by `release`.

use super::bindings;
use super::file::{File, VmArea};
use core::{marker::PhantomData, pin::Pin};
use kernel::{
    error::{to_result, Error},
    ffi::{c_int, c_long, c_uint, c_ulong},
    init::{pin_init_from_closure, PinInit},
    prelude::*,
    str::CStr,
    types::{ForeignOwnable, Opaque},
    ThisModule,
};

/// The file operations of a misc device.
pub(crate) trait MiscDevice {
    /// Per-open state, kept in `file->private_data`.
    type Data: ForeignOwnable + Send + Sync;

    /// A new open file description.
    fn open(file: &File) -> Result<Self::Data>;

    /// The last reference to the file is gone.
    fn release(data: Self::Data, file: &File);

    /// An ioctl; `Ok(n)` is returned to user space as is.
    fn ioctl(
        data: <Self::Data as ForeignOwnable>::Borrowed<'_>,
        file: &File,
        cmd: u32,
        arg: usize,
    ) -> Result<isize>;

    /// `mmap` of the device file. On success the mapping gets the `mremap` hook below.
    fn mmap(data: <Self::Data as ForeignOwnable>::Borrowed<'_>, file: &File, vma: &VmArea)
        -> Result;

    /// A mapping made by `mmap` was moved by `mremap` to `vma`; an error makes mremap fail.
    fn mremap(data: <Self::Data as ForeignOwnable>::Borrowed<'_>, vma: &VmArea) -> Result;
}

/// The `vm_operations_struct` of mappings of a `T` device: only the `mremap` hook.
struct VmOps<T: MiscDevice>(PhantomData<T>);

impl<T: MiscDevice> VmOps<T> {
    const OPS: bindings::vm_operations_struct = {
        // SAFETY: all-zero is a valid `vm_operations_struct` (no callbacks).
        let mut ops: bindings::vm_operations_struct = unsafe { core::mem::zeroed() };
        ops.mremap = Some(Self::mremap);
        ops
    };

    /// # Safety
    ///
    /// Called by mremap, with the mmap lock held for writing, on a mapping of a `T` device
    /// file (`vm_file` holds a reference to it, so its private data is live).
    unsafe extern "C" fn mremap(vma: *mut bindings::vm_area_struct) -> c_int {
        // SAFETY: see above.
        let data = unsafe { T::Data::borrow((*(*vma).vm_file).private_data) };
        // SAFETY: valid vma under the mmap write lock.
        match T::mremap(data, unsafe { VmArea::from_raw(vma) }) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }
}

/// A registered misc device; deregistered on drop.
///
/// # Invariants
///
/// `device` is registered with `misc_register` and points at `fops`, which lives as long as
/// the registration (both are pinned in `self`).
#[pin_data(PinnedDrop)]
pub(crate) struct Registration<T: MiscDevice> {
    #[pin]
    fops: Opaque<bindings::file_operations>,
    #[pin]
    device: Opaque<bindings::miscdevice>,
    _ops: PhantomData<T>,
}

// SAFETY: the registration is only touched by `misc_register`/`misc_deregister`, which lock
// internally; the file operations are static functions.
unsafe impl<T: MiscDevice> Send for Registration<T> {}
// SAFETY: `&Registration` allows no access to the C structures.
unsafe impl<T: MiscDevice> Sync for Registration<T> {}

impl<T: MiscDevice> Registration<T> {
    /// Registers `/dev/<name>` with mode `mode`, its file operations owned by `module`.
    pub(crate) fn register(
        name: &'static CStr,
        mode: u16,
        module: &'static ThisModule,
    ) -> impl PinInit<Self, Error> {
        let init = move |slot: *mut Self| {
            // SAFETY: `slot` is valid for writes and pinned (the `PinInit` contract).
            let fops = unsafe { Opaque::raw_get(core::ptr::addr_of!((*slot).fops)) };
            // SAFETY: as above.
            let device = unsafe { Opaque::raw_get(core::ptr::addr_of!((*slot).device)) };
            // SAFETY: `fops` and `device` are valid for writes; all-zero is a valid
            // `file_operations` and `miscdevice` (null pointers, zero integers).
            unsafe {
                fops.write(core::mem::zeroed());
                (*fops).owner = module.as_ptr();
                (*fops).open = Some(Self::open);
                (*fops).release = Some(Self::release);
                (*fops).unlocked_ioctl = Some(Self::ioctl);
                (*fops).mmap = Some(Self::mmap);
                device.write(core::mem::zeroed());
                (*device).minor = bindings::MISC_DYNAMIC_MINOR as c_int;
                (*device).name = name.as_char_ptr();
                (*device).fops = fops;
                (*device).mode = mode;
            }
            // INVARIANT: registered on `Ok`; `fops` is pinned next to it.
            // SAFETY: `device` is initialised and stays pinned until `PinnedDrop` deregisters.
            to_result(unsafe { bindings::misc_register(device) })
        };
        // SAFETY: on `Err` nothing was registered, so `slot` may be freed.
        unsafe { pin_init_from_closure(init) }
    }

    /// # Safety
    ///
    /// Called by the VFS with a valid inode and file, `private_data` set by `misc_open`.
    unsafe extern "C" fn open(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
        // SAFETY: the VFS passes a valid file.
        let f = unsafe { File::from_raw(file) };
        match T::open(f) {
            Ok(data) => {
                // SAFETY: `file` is valid; `release` takes the pointer back.
                unsafe { (*file).private_data = data.into_foreign() as *mut _ };
                0
            }
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by the VFS once, after a successful `open`, with a valid file.
    unsafe extern "C" fn release(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
        // SAFETY: `private_data` came from `into_foreign` in `open`, and this is the last use.
        let data = unsafe { T::Data::from_foreign((*file).private_data) };
        // SAFETY: the VFS passes a valid file.
        T::release(data, unsafe { File::from_raw(file) });
        0
    }

    /// # Safety
    ///
    /// Called by the VFS on an open file (so `release` has not run).
    unsafe extern "C" fn ioctl(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
        // SAFETY: `private_data` came from `into_foreign` and `release` cannot run while the
        // VFS holds the file for this call.
        let data = unsafe { T::Data::borrow((*file).private_data) };
        // SAFETY: the VFS passes a valid file.
        match T::ioctl(data, unsafe { File::from_raw(file) }, cmd, arg as usize) {
            Ok(ret) => ret as c_long,
            Err(e) => e.to_errno() as c_long,
        }
    }

    /// # Safety
    ///
    /// Called by the VFS on an open file with the mmap lock held for writing.
    unsafe extern "C" fn mmap(
        file: *mut bindings::file,
        vma: *mut bindings::vm_area_struct,
    ) -> c_int {
        // SAFETY: as in `ioctl`.
        let data = unsafe { T::Data::borrow((*file).private_data) };
        // SAFETY: the VFS passes a valid file and a valid vma under the mmap write lock.
        let (f, v) = unsafe { (File::from_raw(file), VmArea::from_raw(vma)) };
        match T::mmap(data, f, v) {
            Ok(()) => {
                // SAFETY: `vma` is being set up under the mmap write lock; the ops are static.
                unsafe { (*vma).vm_ops = &VmOps::<T>::OPS };
                0
            }
            Err(e) => e.to_errno(),
        }
    }
}

#[pinned_drop]
impl<T: MiscDevice> PinnedDrop for Registration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: by the type invariant the device is registered.
        unsafe { bindings::misc_deregister(self.device.get()) };
    }
}
