// SPDX-License-Identifier: GPL-2.0

//! ioctl decoding: each argument block copied in once, then one handler.

use crate::domain::Domain;
use crate::sys::file::File;
use kernel::prelude::*;

/// Runs one ioctl; the value returned is what the mirrored system call returns.
pub(crate) fn dispatch(_domain: &Domain, _file: &File, _cmd: u32, _arg: usize) -> Result<isize> {
    Err(ENOTTY)
}
