//! The safe API: a [`Domain`] (an open `/dev/kaio`) and its [`Context`]s.
//!
//! ```no_run
//! use kaio::{uapi::{Iocb, IoEvent}, Domain};
//! use std::{os::fd::AsRawFd, time::Duration};
//!
//! let domain = Domain::open()?;
//! let ctx = domain.setup(8)?;
//! let mut fast = Iocb::delay(1_000_000, domain.as_raw_fd()).with_data(1);
//! let mut slow = Iocb::delay(60_000_000_000, domain.as_raw_fd()).with_data(2);
//! assert_eq!(ctx.submit(&mut [&mut fast, &mut slow])?, 2);
//! ctx.cancel(&slow)?;
//! let mut ev = [IoEvent::default(); 2];
//! let n = ctx.get_events(2, &mut ev, Some(Duration::from_secs(5)))?;
//! assert_eq!(n, 2);
//! # Ok::<(), std::io::Error>(())
//! ```

use crate::raw;
use crate::ring::Ring;
use crate::uapi::*;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::Duration;

fn os_err(errno: i32) -> io::Error {
    io::Error::from_raw_os_error(errno)
}

/// One open file description of `/dev/kaio`: one AIO domain. Closed on drop (which tears
/// down the contexts it still holds once every ring mapping of it is gone, too).
#[derive(Debug)]
pub struct Domain {
    fd: OwnedFd,
}

impl Domain {
    /// Opens `/dev/kaio` (read-write, close-on-exec): a new domain.
    pub fn open() -> io::Result<Domain> {
        let fd = raw::open().map_err(os_err)?;
        // SAFETY: `raw::open` just returned this fd, and nothing else owns it.
        Ok(Domain { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    /// `io_setup(nr_events, &ctx)`: a new context with room for at least `nr_events`
    /// requests in flight.
    pub fn setup(&self, nr_events: u32) -> io::Result<Context<'_>> {
        let mut id: u64 = 0;
        raw::setup(self.as_raw_fd(), nr_events, &mut id).map_err(os_err)?;
        // SAFETY: a successful setup mapped a ring at `id`, page-aligned, and nobody else
        // knows `id` yet; a view with 0 slots reads only the header.
        let nr = unsafe { Ring::from_raw(id as *mut AioRing, 0) }.header().nr;
        // INVARIANT: `id` is a live context of this domain, with `nr` slots, owned by the
        // new value.
        Ok(Context { domain: self, id, nr })
    }
}

impl AsFd for Domain {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Domain {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl From<OwnedFd> for Domain {
    /// A domain from an already open `/dev/kaio` file.
    fn from(fd: OwnedFd) -> Domain {
        Domain { fd }
    }
}

impl From<Domain> for OwnedFd {
    fn from(d: Domain) -> OwnedFd {
        d.fd
    }
}

impl IntoRawFd for Domain {
    fn into_raw_fd(self) -> RawFd {
        self.fd.into_raw_fd()
    }
}

/// One AIO context (kioctx) of a [`Domain`]; `io_destroy`ed on drop.
///
/// # Invariants
///
/// `id` is a context that this value set up in `domain` and has not destroyed; its ring is
/// mapped at address `id` with `nr` event slots. (Code that destroys or unmaps it behind this
/// value's back through [`raw`] or `munmap` breaks this, and with it [`Context::ring`].)
#[derive(Debug)]
pub struct Context<'d> {
    domain: &'d Domain,
    id: u64,
    nr: u32,
}

impl<'d> Context<'d> {
    /// The ctx id (`aio_context_t`): the user address of the ring.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The domain this context lives in.
    pub fn domain(&self) -> &'d Domain {
        self.domain
    }

    /// The ring's capacity in events (`ring->nr` as it was at setup).
    pub fn nr(&self) -> u32 {
        self.nr
    }

    /// `io_submit(ctx, iocbs.len(), iocbs)` for requests that leave the caller's memory alone
    /// once submitted (delay, poll, fsync, and any iocb without a buffer). Returns how many
    /// were submitted; an error only when the first one failed, as in Linux.
    ///
    /// Reads and writes with a buffer are refused with `InvalidInput` before any system call:
    /// the kernel would use their buffers after this returns. Use
    /// [`Context::submit_unchecked`] for them.
    pub fn submit(&self, iocbs: &mut [&mut Iocb]) -> io::Result<usize> {
        if iocbs.iter().any(|i| i.touches_user_memory()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "submit: an iocb has a data buffer; use submit_unchecked",
            ));
        }
        // SAFETY: no iocb lets the kernel touch our memory after the call (checked above).
        unsafe { self.submit_unchecked(iocbs) }
    }

    /// `io_submit` of any iocbs.
    ///
    /// # Safety
    ///
    /// Every buffer (and, for vectored requests, every buffer an iovec names) of a submitted
    /// iocb must stay valid for the kernel to write (reads) or read (writes), and must not be
    /// otherwise accessed, until that request's event has been reaped or the context is
    /// destroyed.
    pub unsafe fn submit_unchecked(&self, iocbs: &mut [&mut Iocb]) -> io::Result<usize> {
        let ptrs: Vec<*mut Iocb> = iocbs.iter_mut().map(|i| &mut **i as *mut Iocb).collect();
        let n = raw::submit(self.domain.as_raw_fd(), self.id, ptrs.len() as i64, ptrs.as_ptr())
            .map_err(os_err)?;
        Ok(n as usize)
    }

    /// `io_getevents(ctx, min_nr, events.len(), events, timeout)`; `None` waits without limit.
    /// Returns how many events were stored at the front of `events`.
    pub fn get_events(
        &self,
        min_nr: usize,
        events: &mut [IoEvent],
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        let ts = timeout.map(KernelTimespec::from);
        let tp = ts.as_ref().map_or(std::ptr::null(), |t| t as *const KernelTimespec);
        let n = raw::getevents(
            self.domain.as_raw_fd(),
            self.id,
            min_nr.try_into().unwrap_or(i64::MAX),
            events.len().try_into().unwrap_or(i64::MAX),
            events.as_mut_ptr(),
            tp,
        )
        .map_err(os_err)?;
        Ok(n as usize)
    }

    /// `io_cancel(ctx, iocb, NULL)` of a request submitted from `iocb` (the same object: the
    /// kernel matches its address). Success, Linux's `EINPROGRESS`, is `Ok`: the event with
    /// `-ECANCELED` then arrives through the ring.
    pub fn cancel(&self, iocb: &Iocb) -> io::Result<()> {
        // The kernel only reads `aio_key` through this pointer.
        let p = iocb as *const Iocb as *mut Iocb;
        match raw::cancel(self.domain.as_raw_fd(), self.id, p, std::ptr::null_mut()) {
            Ok(_) => Ok(()),
            Err(libc::EINPROGRESS) => Ok(()),
            Err(e) => Err(os_err(e)),
        }
    }

    /// The completion ring, for reading its header or reaping events in user space.
    pub fn ring(&self) -> Ring<'_> {
        // SAFETY: by the type invariant the ring is mapped at `id` with `nr` slots, page-aligned,
        // until this context is destroyed, which needs `self` by value; the kernel stores only
        // whole, aligned fields to it.
        unsafe { Ring::from_raw(self.id as *mut AioRing, self.nr) }
    }

    /// `io_destroy(ctx)`, reporting its error (dropping the context ignores it).
    pub fn destroy(self) -> io::Result<()> {
        let fd = self.domain.as_raw_fd();
        let id = self.into_raw();
        raw::destroy(fd, id).map(drop).map_err(os_err)
    }

    /// Gives up ownership: returns the ctx id without destroying the context.
    pub fn into_raw(self) -> u64 {
        let id = self.id;
        std::mem::forget(self);
        id
    }
}

impl Drop for Context<'_> {
    fn drop(&mut self) {
        let _ = raw::destroy(self.domain.as_raw_fd(), self.id);
    }
}
