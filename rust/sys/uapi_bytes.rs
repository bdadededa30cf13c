// SPDX-License-Identifier: GPL-2.0

//! Marks the ABI structures of `uapi.rs` as plain bytes, so `UserSlice` can copy them.

use crate::uapi::*;
use kernel::types::{AsBytes, FromBytes};

macro_rules! plain_bytes {
    ($($t:ty),* $(,)?) => {
        $(
            // SAFETY: `$t` is `repr(C)`, made only of integer fields with no padding between or
            // after them (the layout test in tests/kaio checks the sizes), so every bit pattern
            // is a valid value and every byte of a value is initialised.
            unsafe impl FromBytes for $t {}
            // SAFETY: as above: no padding, so all bytes are initialised.
            unsafe impl AsBytes for $t {}
        )*
    };
}

plain_bytes!(
    Iocb,
    IoEvent,
    AioRing,
    KernelTimespec,
    kaio_setup_args,
    kaio_destroy_args,
    kaio_submit_args,
    kaio_getevents_args,
    kaio_cancel_args,
    kaio_pgetevents_args,
    kaio_cancel_match_args,
);
