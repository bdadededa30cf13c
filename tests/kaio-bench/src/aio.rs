//! The two AIO backends behind one set of calls: `/dev/kaio` ioctls and the native system
//! calls. Both take and return exactly what the system call does (`Err(errno)`).

use kaio::uapi::{AioRing, IoEvent, Iocb, KernelTimespec};
use kaio::Ring;
use std::os::fd::RawFd;

/// Which implementation a call goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// `/dev/kaio`, domain (open file) `fd`.
    Kaio(RawFd),
    /// `io_setup(2)` and friends.
    Native,
}

fn sys(r: libc::c_long) -> Result<i64, i32> {
    if r < 0 {
        Err(kaio::raw::errno())
    } else {
        Ok(r)
    }
}

impl Api {
    pub fn name(self) -> &'static str {
        match self {
            Api::Kaio(_) => "kaio",
            Api::Native => "native",
        }
    }

    /// `io_setup(nr, &ctx)`.
    pub fn setup(self, nr: u32) -> Result<u64, String> {
        let mut ctx: u64 = 0;
        let r = match self {
            Api::Kaio(fd) => kaio::raw::setup(fd, nr, &mut ctx),
            // SAFETY: io_setup writes the ctx id to `ctx`, which is ours and 0.
            Api::Native => sys(unsafe {
                libc::syscall(
                    libc::SYS_io_setup,
                    nr as libc::c_ulong,
                    &mut ctx as *mut u64,
                )
            }),
        };
        r.map_err(|e| format!("{} io_setup({nr}): errno {e}", self.name()))?;
        Ok(ctx)
    }

    /// `io_destroy(ctx)`.
    pub fn destroy(self, ctx: u64) -> Result<(), String> {
        let r = match self {
            Api::Kaio(fd) => kaio::raw::destroy(fd, ctx),
            // SAFETY: only the context is named.
            Api::Native => sys(unsafe { libc::syscall(libc::SYS_io_destroy, ctx) }),
        };
        r.map(drop)
            .map_err(|e| format!("{} io_destroy: errno {e}", self.name()))
    }

    /// `io_submit(ctx, iocbs.len(), iocbs)`.
    ///
    /// The caller keeps every buffer an iocb names valid until its event has been reaped.
    pub fn submit(self, ctx: u64, iocbs: &[*mut Iocb]) -> Result<i64, i32> {
        match self {
            Api::Kaio(fd) => kaio::raw::submit(fd, ctx, iocbs.len() as i64, iocbs.as_ptr()),
            // SAFETY: the kernel reads the array and the iocbs (and writes their aio_key); the
            // buffers are the caller's business, as documented.
            Api::Native => sys(unsafe {
                libc::syscall(
                    libc::SYS_io_submit,
                    ctx,
                    iocbs.len() as libc::c_long,
                    iocbs.as_ptr(),
                )
            }),
        }
    }

    /// `io_getevents(ctx, min_nr, events.len(), events, timeout)`.
    pub fn getevents(
        self,
        ctx: u64,
        min_nr: usize,
        events: &mut [IoEvent],
        timeout: Option<&KernelTimespec>,
    ) -> Result<usize, i32> {
        let tp = timeout.map_or(std::ptr::null(), |t| t as *const KernelTimespec);
        let r = match self {
            Api::Kaio(fd) => kaio::raw::getevents(
                fd,
                ctx,
                min_nr as i64,
                events.len() as i64,
                events.as_mut_ptr(),
                tp,
            ),
            // SAFETY: the kernel writes at most events.len() events and reads the timespec.
            Api::Native => sys(unsafe {
                libc::syscall(
                    libc::SYS_io_getevents,
                    ctx,
                    min_nr as libc::c_long,
                    events.len() as libc::c_long,
                    events.as_mut_ptr(),
                    tp,
                )
            }),
        };
        r.map(|n| n as usize)
    }

    /// `io_cancel(ctx, iocb, NULL)`: `Err(EINPROGRESS)` is success.
    pub fn cancel(self, ctx: u64, iocb: *mut Iocb) -> Result<i64, i32> {
        match self {
            Api::Kaio(fd) => kaio::raw::cancel(fd, ctx, iocb, std::ptr::null_mut()),
            // SAFETY: the kernel reads the iocb's aio_key only.
            Api::Native => sys(unsafe {
                libc::syscall(
                    libc::SYS_io_cancel,
                    ctx,
                    iocb,
                    std::ptr::null_mut::<IoEvent>(),
                )
            }),
        }
    }
}

/// The completion ring mapped at `ctx` (both backends map the same layout there).
///
/// # Safety
///
/// `ctx` must be a live context of this process whose ring stays mapped while the view is used.
pub unsafe fn ring<'a>(ctx: u64) -> Result<Ring<'a>, String> {
    // SAFETY: the caller vouches for the mapping; a 0-slot view reads only the header.
    let nr = unsafe { Ring::from_raw(ctx as *mut AioRing, 0) }
        .header()
        .nr;
    // SAFETY: as above, with the ring's own size.
    let r = unsafe { Ring::from_raw(ctx as *mut AioRing, nr) };
    if !r.is_compatible() {
        return Err(format!(
            "ring at {ctx:#x}: unexpected header {:?}",
            r.header()
        ));
    }
    Ok(r)
}

/// A zero timeout: `io_getevents` copies what is there and returns.
pub const NOW: KernelTimespec = KernelTimespec {
    tv_sec: 0,
    tv_nsec: 0,
};
/// A generous bound for an event that must come promptly (QEMU TCG is slow).
pub const PROMPT: KernelTimespec = KernelTimespec {
    tv_sec: 10,
    tv_nsec: 0,
};
