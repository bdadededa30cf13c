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
/// the buffer import, `rw_verify_area`). The request is listed once every check has passed,
/// before the transfer starts: a read blocked inside it is in flight, and a request refused
/// is never seen by a cancel (it has no event to wait for).
pub(crate) fn start(req: Arc<Kiocb>, iocb: &Iocb, vectored: bool) -> Result {
    // The bug put back (tests/check-bugs.sh): listed before the checks, so that a cancel may
    // find running a request that is then refused, and never has an event.
    #[cfg(kaio_bug = "rw_listed_before_checks")]
    {
        req.ctx.inflight.lock().list(&req);
        let r = checked_start(req.clone(), iocb, vectored, false);
        if r.is_err() {
            drop(req.ctx.inflight.lock().unlist(&req));
        }
        r
    }
    #[cfg(not(kaio_bug = "rw_listed_before_checks"))]
    checked_start(req, iocb, vectored, true)
}

/// [`start`]'s checks and transfer; the request is listed once the checks have passed if
/// `list`.
fn checked_start(req: Arc<Kiocb>, iocb: &Iocb, vectored: bool, list: bool) -> Result {
    let ioprio = (iocb.aio_flags & IOCB_FLAG_IOPRIO != 0).then_some(iocb.aio_reqprio);
    req.rw().prep(iocb.aio_offset, iocb.aio_rw_flags, ioprio, req.has_eventfd())?;
    req.rw().check_file()?;
    let listing = || {
        if list {
            req.ctx.inflight.lock().list(&req);
        }
    };
    if let Some(res) = req.rw().start(req.clone(), iocb.aio_buf, iocb.aio_nbytes, vectored, listing)? {
        req.complete(res);
    }
    Ok(())
}
