// SPDX-License-Identifier: GPL-2.0

//! Words read from or written to user memory (`get_user`/`put_user`) where fs/aio.c uses
//! them: `aio_key`, `ring->id`, `*ctxp`; cheaper than a `UserSlice` copy (no length checks or
//! string move for four or eight bytes) and, like Linux's, not `fail_usercopy` sites. And
//! io_submit's iocb pointer with the iocb it points to, in one access window.
//!
//! C header: [`arch/x86/include/asm/uaccess.h`](srctree/arch/x86/include/asm/uaccess.h).

use super::bindings;
use crate::uapi::Iocb;
use core::mem::size_of;
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

/// io_submit's reads of one array entry: the iocb address at user address `slot`, then the
/// iocb there, in one user-access window (`kaio_get_iocb`). `Err(EFAULT)`: the address could
/// not be read; `Ok((addr, Err(EFAULT)))`: the iocb could not (a `fail_usercopy` site, as
/// Linux's copy of it). Task context.
pub(crate) fn get_iocb(slot: usize) -> Result<(usize, Result<Iocb>)> {
    const WORDS: usize = size_of::<Iocb>() / size_of::<u64>();
    const _: () = assert!(WORDS * size_of::<u64>() == size_of::<Iocb>() && WORDS == 8);
    let mut addr = 0u64;
    let mut words = [0u64; WORDS];
    // SAFETY: `addr` and the eight words are locals the helper writes; it checks and faults on
    // the user addresses itself.
    let r = unsafe { bindings::kaio_get_iocb(slot as *const u64, &mut addr, words.as_mut_ptr()) };
    match r {
        0 => {
            // SAFETY: `Iocb` is plain bytes (`FromBytes`: any bit pattern is a value) of the
            // same size, moved by value.
            let iocb = unsafe { core::mem::transmute::<[u64; WORDS], Iocb>(words) };
            Ok((addr as usize, Ok(iocb)))
        }
        1 => Ok((addr as usize, Err(EFAULT))),
        _ => Err(EFAULT),
    }
}
