// SPDX-License-Identifier: GPL-2.0

//! Taking elements out of a `KVec`, which the 6.12 `kernel` crate cannot do yet (upstream
//! added `pop` and `remove` later): without reallocating, so also under a spinlock.

use core::ptr;
use kernel::prelude::*;

/// Removes and returns the last element.
pub(crate) fn pop<T>(v: &mut KVec<T>) -> Option<T> {
    let len = v.len();
    if len == 0 {
        return None;
    }
    // SAFETY: `len - 1 < len`, so the element is initialized; the length drops before anything
    // can observe the vector again, so the element is moved out exactly once.
    unsafe {
        let last = ptr::read(v.as_ptr().add(len - 1));
        v.set_len(len - 1);
        Some(last)
    }
}

/// Removes and returns the element at `i`, putting the last one in its place (`None` if `i`
/// is out of bounds).
pub(crate) fn swap_remove<T>(v: &mut KVec<T>, i: usize) -> Option<T> {
    if i >= v.len() {
        return None;
    }
    let last = v.len() - 1;
    v.as_mut_slice().swap(i, last);
    pop(v)
}
