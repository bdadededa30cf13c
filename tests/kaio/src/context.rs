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
//!
//! Version 2 of the ABI: [`Context::pgetevents`] waits with a signal mask installed, and
//! [`Context::cancel_match`] cancels by iocb, `aio_data`, file or opcode, one or all, and can
//! wait until nothing it matched is in flight ([`CancelMatch`]). [`Domain::setup_with_flags`]
//! takes `KAIO_SETUP_POLLED_RW`.
//!
//! ```no_run
//! use kaio::uapi::{Iocb, IoEvent};
//! use kaio::{raw, CancelMatch, Domain};
//! use std::{os::fd::AsRawFd, time::Duration};
//!
//! let domain = Domain::open()?;
//! let ctx = domain.setup(8)?;
//! let mut a = Iocb::delay(60_000_000_000, domain.as_raw_fd()).with_data(7);
//! let mut b = Iocb::delay(60_000_000_000, domain.as_raw_fd()).with_data(7);
//! ctx.submit(&mut [&mut a, &mut b])?;
//! // Every request with aio_data 7; their events are in the ring when this returns.
//! let done = ctx.cancel_match(&CancelMatch::new().data(7).all().wait(None))?;
//! assert_eq!((done.cancelled, done.nr_running), (2, 0));
//! let mut ev = [IoEvent::default(); 2];
//! let mask = raw::sigmask(&[libc::SIGUSR1]); // SIGUSR1 blocked while waiting
//! assert_eq!(ctx.pgetevents(2, &mut ev, Some(Duration::ZERO), Some(mask))?, 2);
//! # Ok::<(), std::io::Error>(())
//! ```

use crate::raw;
use crate::ring::Ring;
use crate::uapi::*;
use std::fmt;
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
        self.setup_with_flags(nr_events, 0)
    }

    /// [`Domain::setup`] with `kaio_setup_args.flags`: 0, or (version 2)
    /// `KAIO_SETUP_POLLED_RW`, which makes reads and writes on files that would block wait
    /// without blocking `io_submit` and stay cancellable until they transfer. Other bits are
    /// `EINVAL`.
    pub fn setup_with_flags(&self, nr_events: u32, flags: u32) -> io::Result<Context<'_>> {
        let mut id: u64 = 0;
        raw::setup_with_flags(self.as_raw_fd(), nr_events, flags, &mut id).map_err(os_err)?;
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

    /// `io_pgetevents(ctx, min_nr, events.len(), events, timeout, sigmask)` (version 2): as
    /// [`Context::get_events`], with the thread's signal mask replaced by `sigmask` (the
    /// kernel's `sigset_t`, bit `sig - 1` for signal `sig`, see [`raw::sigmask`]) for the wait
    /// and restored on return, as `ppoll` does. A signal the mask lets through ends the wait
    /// with `EINTR` if no event came. `None` leaves the mask alone (`sigmask` 0, `sigsetsize`
    /// 0).
    pub fn pgetevents(
        &self,
        min_nr: usize,
        events: &mut [IoEvent],
        timeout: Option<Duration>,
        sigmask: Option<u64>,
    ) -> io::Result<usize> {
        let ts = timeout.map(KernelTimespec::from);
        let tp = ts.as_ref().map_or(std::ptr::null(), |t| t as *const KernelTimespec);
        let (mp, size) = match sigmask.as_ref() {
            Some(m) => (m as *const u64, raw::SIGSET_SIZE),
            None => (std::ptr::null(), 0),
        };
        let n = raw::pgetevents(
            self.domain.as_raw_fd(),
            self.id,
            min_nr.try_into().unwrap_or(i64::MAX),
            events.len().try_into().unwrap_or(i64::MAX),
            events.as_mut_ptr(),
            tp,
            mp,
            size,
        )
        .map_err(os_err)?;
        Ok(n as usize)
    }

    /// `KAIO_IOC_CANCEL_MATCH` (version 2) of what `m` selects in this context: see
    /// [`CancelMatch`] and `ABI.md`. Cancelled POLL and DELAY requests have their events in the
    /// ring (or, with [`CancelMatch::result`], in [`Cancelled::result`]) when this returns.
    ///
    /// `Ok` with the number of requests cancelled (at least 1; 0 only for a `RESULT` that
    /// took the event) and `nr_running`, the matches that could not be cancelled; with `WAIT`,
    /// every considered request has also posted its event by then. Errors carry the errno and
    /// the `nr_running` the kernel wrote back: `ENOENT` nothing matched, `EALREADY` every
    /// match runs on (with `WAIT`: ran on to its end), `ETIME`/`EINTR` the wait ended early
    /// (the cancellations made stay made), `EAGAIN` a `RESULT` match runs on, `EINVAL` bad
    /// flags, combination or context (or a `RESULT` with nothing matched), `EBADF` a closed fd.
    pub fn cancel_match(&self, m: &CancelMatch) -> Result<Cancelled, CancelMatchError> {
        let mut event = IoEvent::default();
        let ts = m.timeout.map(KernelTimespec::from);
        let mut args = kaio_cancel_match_args {
            ctx_id: self.id,
            timeout: ts.as_ref().map_or(0, |t| t as *const KernelTimespec as u64),
            result: if m.args.flags & KAIO_CANCEL_RESULT != 0 {
                &mut event as *mut IoEvent as u64
            } else {
                0
            },
            ..m.args
        };
        match raw::cancel_match(self.domain.as_raw_fd(), &mut args) {
            Ok(n) => Ok(Cancelled {
                cancelled: n as usize,
                nr_running: args.nr_running,
                result: (m.args.flags & KAIO_CANCEL_RESULT != 0).then_some(event),
            }),
            Err(errno) => Err(CancelMatchError { errno, nr_running: args.nr_running }),
        }
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

/// What [`Context::cancel_match`] cancels (`KAIO_IOC_CANCEL_MATCH`, `ABI.md` "Version 2"): a
/// builder of the flags and keys of a `kaio_cancel_match_args`.
///
/// Selectors combine with AND: [`iocb`](CancelMatch::iocb) or [`data`](CancelMatch::data)
/// (not both), [`fd`](CancelMatch::fd), [`op`](CancelMatch::op); or [`any`](CancelMatch::any)
/// alone. Without [`all`](CancelMatch::all) (implied by `any`) only the oldest match is
/// considered. Nothing is checked here: the kernel answers a bad combination with `EINVAL`.
///
/// ```
/// use kaio::CancelMatch;
/// use kaio::uapi::*;
/// use std::time::Duration;
///
/// let m = CancelMatch::new().fd(3).op(IOCB_CMD_POLL).all().wait(Some(Duration::from_secs(1)));
/// let a = m.args();
/// assert_eq!(a.flags, KAIO_CANCEL_FD | KAIO_CANCEL_OP | KAIO_CANCEL_ALL | KAIO_CANCEL_WAIT);
/// assert_eq!((a.fd, a.opcode), (3, IOCB_CMD_POLL));
/// assert_eq!(m.timeout(), Some(Duration::from_secs(1)));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CancelMatch {
    /// The block without `ctx_id`, `timeout` and `result`, which the call fills in.
    args: kaio_cancel_match_args,
    /// `KAIO_CANCEL_WAIT`'s limit; `None` waits without one.
    timeout: Option<Duration>,
}

impl CancelMatch {
    /// No selector yet (the kernel refuses that: add one, or [`CancelMatch::any`]).
    pub fn new() -> CancelMatch {
        CancelMatch::default()
    }

    /// `KAIO_CANCEL_IOCB`: the request submitted from `iocb` (the kernel matches its address,
    /// as io_cancel does).
    pub fn iocb(self, iocb: &Iocb) -> CancelMatch {
        self.iocb_at(iocb as *const Iocb as u64)
    }

    /// `KAIO_CANCEL_IOCB` with the iocb's user address as a number.
    pub fn iocb_at(mut self, addr: u64) -> CancelMatch {
        self.args.flags |= KAIO_CANCEL_IOCB;
        self.args.key = addr;
        self
    }

    /// `KAIO_CANCEL_DATA`: requests whose `aio_data` is `data`.
    pub fn data(mut self, data: u64) -> CancelMatch {
        self.args.flags |= KAIO_CANCEL_DATA;
        self.args.key = data;
        self
    }

    /// `KAIO_CANCEL_FD`: requests submitted on the file `fd` names at the time of the call (a
    /// DELAY keeps no file and never matches).
    pub fn fd(mut self, fd: RawFd) -> CancelMatch {
        self.args.flags |= KAIO_CANCEL_FD;
        self.args.fd = fd;
        self
    }

    /// `KAIO_CANCEL_OP`: requests whose `aio_lio_opcode` is `opcode`.
    pub fn op(mut self, opcode: u16) -> CancelMatch {
        self.args.flags |= KAIO_CANCEL_OP;
        self.args.opcode = opcode;
        self
    }

    /// `KAIO_CANCEL_ANY`: every request in flight (implies ALL; no other selector).
    pub fn any(mut self) -> CancelMatch {
        self.args.flags |= KAIO_CANCEL_ANY;
        self
    }

    /// `KAIO_CANCEL_ALL`: every match at the start of the call, not only the oldest.
    pub fn all(mut self) -> CancelMatch {
        self.args.flags |= KAIO_CANCEL_ALL;
        self
    }

    /// `KAIO_CANCEL_WAIT`: return only once every considered request (cancelled or running)
    /// has posted its event, or after `timeout` (relative; `None`: no limit) with `ETIME`.
    pub fn wait(mut self, timeout: Option<Duration>) -> CancelMatch {
        self.args.flags |= KAIO_CANCEL_WAIT;
        self.timeout = timeout;
        self
    }

    /// `KAIO_CANCEL_RESULT`: io_cancel(2) as its man page describes it. The oldest match's
    /// event comes back in [`Cancelled::result`] instead of the ring, and the count is 0.
    /// Not with ALL, ANY or WAIT (`EINVAL`).
    pub fn result(mut self) -> CancelMatch {
        self.args.flags |= KAIO_CANCEL_RESULT;
        self
    }

    /// ORs raw `KAIO_CANCEL_*` bits (or unknown ones, to see them refused) into the flags.
    pub fn with_flags(mut self, flags: u32) -> CancelMatch {
        self.args.flags |= flags;
        self
    }

    /// The argument block as built: `ctx_id`, `timeout` and `result` are 0 here;
    /// [`Context::cancel_match`] fills them in.
    pub fn args(&self) -> kaio_cancel_match_args {
        self.args
    }

    /// The `WAIT` limit, if any.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }
}

/// The success of [`Context::cancel_match`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cancelled {
    /// Requests cancelled (the ioctl's return value; 0 for a successful `RESULT`).
    pub cancelled: usize,
    /// Requests that matched but could not be cancelled and run on (with `WAIT`: ran to
    /// their end before the call returned).
    pub nr_running: u32,
    /// With [`CancelMatch::result`]: the cancelled request's event, which the ring did not get.
    pub result: Option<IoEvent>,
}

/// The failure of [`Context::cancel_match`]: the errno and the `nr_running` the kernel wrote
/// back (0 when it failed before looking the context up).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CancelMatchError {
    pub errno: i32,
    pub nr_running: u32,
}

impl fmt::Display for CancelMatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (nr_running {})", os_err(self.errno), self.nr_running)
    }
}

impl std::error::Error for CancelMatchError {}

impl From<CancelMatchError> for io::Error {
    /// The errno alone (`nr_running` is dropped).
    fn from(e: CancelMatchError) -> io::Error {
        os_err(e.errno)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_match_builder_sets_flags_and_keys() {
        let iocb = Iocb::default();
        let a = CancelMatch::new().iocb(&iocb).result().args();
        assert_eq!(a.flags, KAIO_CANCEL_IOCB | KAIO_CANCEL_RESULT);
        assert_eq!(a.key, &iocb as *const Iocb as u64);
        let a = CancelMatch::new().data(0xfeed).fd(-1).op(KAIO_CMD_DELAY).all().args();
        assert_eq!(a.flags, KAIO_CANCEL_DATA | KAIO_CANCEL_FD | KAIO_CANCEL_OP | KAIO_CANCEL_ALL);
        assert_eq!((a.key, a.fd, a.opcode), (0xfeed, -1, KAIO_CMD_DELAY));
        let m = CancelMatch::new().any().wait(None);
        assert_eq!(m.args().flags, KAIO_CANCEL_ANY | KAIO_CANCEL_WAIT);
        assert_eq!(m.timeout(), None);
        assert_eq!(CancelMatch::new().with_flags(1 << 9).args().flags, 1 << 9);
        // Everything the call fills in, and the reserved fields, stay 0.
        let a = CancelMatch::new().any().all().wait(Some(Duration::from_millis(5))).args();
        assert_eq!((a.ctx_id, a.timeout, a.result, a.nr_running), (0, 0, 0, 0));
        assert_eq!((a.reserved1, a.reserved2), (0, [0, 0]));
    }

    #[test]
    fn cancel_match_error_keeps_nr_running() {
        let e = CancelMatchError { errno: libc::EALREADY, nr_running: 3 };
        assert!(e.to_string().ends_with("(nr_running 3)"), "{e}");
        let io: io::Error = e.into();
        assert_eq!(io.raw_os_error(), Some(libc::EALREADY));
    }

    #[test]
    fn sigmask_bits() {
        assert_eq!(raw::sigmask(&[]), 0);
        assert_eq!(raw::sigmask(&[libc::SIGHUP]), 1);
        assert_eq!(raw::sigmask(&[libc::SIGUSR1, libc::SIGUSR2]), (1 << 9) | (1 << 11));
        assert_eq!(raw::sigmask(&[64, 0, 65, -1]), 1 << 63);
    }
}
