// SPDX-License-Identifier: GPL-2.0

//! `IOCB_CMD_PREAD`, `PWRITE`, `PREADV`, `PWRITEV`: `aio_read`/`aio_write`. The transfer runs
//! through the file's `read_iter`/`write_iter` as Linux runs it for files without native
//! async support: inside io_submit, data moving directly between the file and the user
//! buffer, the event posted before io_submit returns. Errors found before the transfer starts
//! reject the iocb; the transfer's own result, an error included, is the event's `res`.

use crate::req::Kiocb;
use crate::uapi::{Iocb, IOCB_FLAG_IOPRIO};
use kernel::prelude::*;
use crate::sys::arc::Arc;

/// Checks, in Linux's order, and starts the transfer (`aio_prep_rw`, the open mode, the method,
/// the buffer import, `rw_verify_area`).
pub(crate) fn start(req: Arc<Kiocb>, iocb: &Iocb, vectored: bool) -> Result {
    let ioprio = (iocb.aio_flags & IOCB_FLAG_IOPRIO != 0).then_some(iocb.aio_reqprio);
    req.rw().prep(iocb.aio_offset, iocb.aio_rw_flags, ioprio, req.has_eventfd())?;
    req.rw().check_file()?;
    if let Some(res) = req.rw().start(req.clone(), iocb.aio_buf, iocb.aio_nbytes, vectored)? {
        req.complete(res);
    }
    Ok(())
}
