// SPDX-License-Identifier: GPL-2.0

//! Error codes the 6.12 `kernel` crate does not name.

use kernel::{bindings, error::Error};

fn errno(code: u32) -> Error {
    Error::from_errno(-(code as i32))
}

/// `EINPROGRESS`: io_cancel's success.
pub(crate) fn einprogress() -> Error {
    errno(bindings::EINPROGRESS)
}

/// `EALREADY`: every match is running and cannot be cancelled.
pub(crate) fn ealready() -> Error {
    errno(bindings::EALREADY)
}

/// `ETIME`: a `KAIO_CANCEL_WAIT` timeout expired.
pub(crate) fn etime() -> Error {
    errno(bindings::ETIME)
}

/// `ECANCELED`: the `res` of a cancelled request.
pub(crate) const ECANCELED: i64 = -(bindings::ECANCELED as i64);

/// `EINTR` as a `res`: what an interrupted read or write gives (`-ERESTARTSYS` mapped as
/// `aio_rw_done` maps it).
pub(crate) const EINTR_RES: i64 = -(bindings::EINTR as i64);

/// `EINVAL` as a `res`: what FUSE's and ALSA's read and write say to a kernel buffer.
pub(crate) const EINVAL_RES: i64 = -(bindings::EINVAL as i64);
