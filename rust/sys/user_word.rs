// SPDX-License-Identifier: GPL-2.0

//! One 32- or 64-bit word read from or written to user memory (`get_user`/`put_user`), where
//! fs/aio.c uses them: the iocb pointers of io_submit, `aio_key`, `ring->id`, `*ctxp`. Cheaper
//! than a `UserSlice` copy (no length checks or string move for four or eight bytes), and like
//! Linux, not a site of `fail_usercopy`.
//!
//! C header: [`arch/x86/include/asm/uaccess.h`](srctree/arch/x86/include/asm/uaccess.h).

use super::bindings;
use kernel::prelude::*;

/// A word type `get_user`/`put_user` moves in one access.
pub(crate) trait Word: Copy + Default {
    /// # Safety
    ///
    /// `dst` is valid for writes.
    unsafe fn get(dst: *mut Self, src: usize) -> i32;
    /// # Safety
    ///
    /// None beyond `put_user`'s own checks of `dst` (an `unsafe fn` for symmetry).
    unsafe fn put(val: Self, dst: usize) -> i32;
}

impl Word for u32 {
    unsafe fn get(dst: *mut u32, src: usize) -> i32 {
        // SAFETY: `dst` is valid (caller); `get_user` checks and faults on the user address.
        unsafe { bindings::kaio_get_user_u32(dst, src as *const u32) }
    }
    unsafe fn put(val: u32, dst: usize) -> i32 {
        // SAFETY: `put_user` checks and faults on the user address.
        unsafe { bindings::kaio_put_user_u32(val, dst as *mut u32) }
    }
}

impl Word for u64 {
    unsafe fn get(dst: *mut u64, src: usize) -> i32 {
        // SAFETY: `dst` is valid (caller); `get_user` checks and faults on the user address.
        unsafe { bindings::kaio_get_user_u64(dst, src as *const u64) }
    }
    unsafe fn put(val: u64, dst: usize) -> i32 {
        // SAFETY: `put_user` checks and faults on the user address.
        unsafe { bindings::kaio_put_user_u64(val, dst as *mut u64) }
    }
}

/// `get_user` at user address `addr`: `EFAULT` if it cannot be read. Task context.
pub(crate) fn get<T: Word>(addr: usize) -> Result<T> {
    let mut val = T::default();
    // SAFETY: `val` is a local.
    match unsafe { T::get(&mut val, addr) } {
        0 => Ok(val),
        _ => Err(EFAULT),
    }
}

/// `put_user` of `val` at user address `addr`: `EFAULT` if it cannot be written. Task context.
pub(crate) fn put<T: Word>(addr: usize, val: T) -> Result {
    // SAFETY: `put_user` checks the address itself.
    match unsafe { T::put(val, addr) } {
        0 => Ok(()),
        _ => Err(EFAULT),
    }
}
