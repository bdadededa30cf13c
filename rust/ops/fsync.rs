// SPDX-License-Identifier: GPL-2.0

//! `IOCB_CMD_FSYNC` and `IOCB_CMD_FDSYNC` (`aio_fsync`): always deferred to a workqueue,
//! where `vfs_fsync` runs with the submitter's credentials; never cancellable.

use crate::req::{Kiocb, Op};
use crate::sys::{cred::Creds, fd::FileRef, work::Work};
use crate::uapi::{Iocb, IOCB_CMD_FDSYNC};
use kernel::prelude::*;
use crate::sys::arc::Arc;

/// An fsync request's own state (`struct fsync_iocb`).
#[pin_data]
pub(crate) struct Fsync {
    file: FileRef,
    /// The submitter's credentials, for `vfs_fsync` in the worker.
    creds: Creds,
    datasync: bool,
    #[pin]
    work: Work<Kiocb>,
}

impl Fsync {
    pub(crate) fn new(file: FileRef, creds: Creds, datasync: bool) -> impl PinInit<Self> {
        pin_init!(Fsync { file, creds, datasync, work <- Work::new() })
    }
}

/// Checks in Linux's order: buffer, offset, size and rw flags must be 0 (`EINVAL`); the file
/// needs an fsync method (`EINVAL`); the credentials are copied (`ENOMEM`).
pub(crate) fn prep(iocb: &Iocb, file: FileRef) -> Result<Op> {
    if iocb.aio_buf != 0 || iocb.aio_offset != 0 || iocb.aio_nbytes != 0 || iocb.aio_rw_flags != 0 {
        return Err(EINVAL);
    }
    if !file.has_fsync() {
        return Err(EINVAL);
    }
    let creds = Creds::of_current()?;
    Ok(Op::Fsync(file, creds, iocb.aio_lio_opcode == IOCB_CMD_FDSYNC))
}

/// Queues the fsync.
pub(crate) fn start(req: Arc<Kiocb>) {
    let queued = req.fsync().work.queue(req.clone());
    if !queued {
        // Only when the module's queue is gone, which cannot happen while a file is open.
        req.complete(-(kernel::bindings::EIO as i64));
    }
}

/// The work function: `vfs_fsync` as the submitter, then the event.
pub(crate) fn run(req: Arc<Kiocb>) {
    let f = req.fsync();
    #[cfg(not(kaio_bug = "fsync_creds"))]
    let res = f.creds.run_as(|| f.file.fsync(f.datasync));
    // The bug put back (tests/check-bugs.sh): the worker's credentials.
    #[cfg(kaio_bug = "fsync_creds")]
    let res = f.file.fsync(f.datasync);
    req.complete(i64::from(res));
}
