//! Builders for [`Iocb`]: one constructor per opcode, then `with_*` setters.
//!
//! The constructors only fill in fields; nothing is checked here (a test may want to build an
//! iocb the kernel must reject). What each field means is `ABI.md`'s "Opcodes" and §5 of
//! `AIO-SEMANTICS.md`.
//!
//! ```
//! use kaio::uapi::{Iocb, KAIO_CMD_DELAY};
//! let iocb = Iocb::delay(1_000_000, 0).with_data(7);
//! assert_eq!(iocb.aio_lio_opcode, KAIO_CMD_DELAY);
//! assert_eq!((iocb.aio_offset, iocb.aio_data), (1_000_000, 7));
//! ```

use crate::uapi::*;
use std::os::fd::RawFd;

impl Iocb {
    /// An iocb with `opcode` on `fd`, every other field 0.
    pub fn new(opcode: u16, fd: RawFd) -> Iocb {
        Iocb { aio_lio_opcode: opcode, aio_fildes: fd as u32, ..Iocb::default() }
    }

    /// `KAIO_CMD_DELAY`: completes with `res = 0` after `ns` nanoseconds, or with
    /// `-ECANCELED` if cancelled first. `fd` must be open (any file); it is not kept.
    pub fn delay(ns: i64, fd: RawFd) -> Iocb {
        Iocb { aio_offset: ns, ..Iocb::new(KAIO_CMD_DELAY, fd) }
    }

    /// `IOCB_CMD_PREAD` of `buf.len()` bytes at `offset` into `buf`.
    ///
    /// The iocb keeps `buf`'s address, not a borrow: submitting it is
    /// [`Context::submit_unchecked`](crate::Context::submit_unchecked)'s business.
    pub fn pread(fd: RawFd, buf: &mut [u8], offset: i64) -> Iocb {
        Iocb::new(IOCB_CMD_PREAD, fd).with_buf(buf.as_mut_ptr() as u64, buf.len() as u64, offset)
    }

    /// `IOCB_CMD_PWRITE` of `buf` at `offset`. Same caveat as [`Iocb::pread`].
    pub fn pwrite(fd: RawFd, buf: &[u8], offset: i64) -> Iocb {
        Iocb::new(IOCB_CMD_PWRITE, fd).with_buf(buf.as_ptr() as u64, buf.len() as u64, offset)
    }

    /// `IOCB_CMD_PREADV` into the buffers of `iov` at `offset`. Same caveat as [`Iocb::pread`]
    /// (the kernel copies the iovec array at submission, not the buffers).
    pub fn preadv(fd: RawFd, iov: &[libc::iovec], offset: i64) -> Iocb {
        Iocb::new(IOCB_CMD_PREADV, fd).with_buf(iov.as_ptr() as u64, iov.len() as u64, offset)
    }

    /// `IOCB_CMD_PWRITEV` from the buffers of `iov` at `offset`. Same caveat as
    /// [`Iocb::preadv`].
    pub fn pwritev(fd: RawFd, iov: &[libc::iovec], offset: i64) -> Iocb {
        Iocb::new(IOCB_CMD_PWRITEV, fd).with_buf(iov.as_ptr() as u64, iov.len() as u64, offset)
    }

    /// `IOCB_CMD_FSYNC`.
    pub fn fsync(fd: RawFd) -> Iocb {
        Iocb::new(IOCB_CMD_FSYNC, fd)
    }

    /// `IOCB_CMD_FDSYNC`.
    pub fn fdsync(fd: RawFd) -> Iocb {
        Iocb::new(IOCB_CMD_FDSYNC, fd)
    }

    /// `IOCB_CMD_POLL` for `events` (`POLLIN`, ...), which travel in `aio_buf` (its low 32
    /// bits, where libaio's `u.poll.events` lies). Completes with the ready mask as `res`.
    pub fn poll(fd: RawFd, events: u32) -> Iocb {
        Iocb { aio_buf: u64::from(events), ..Iocb::new(IOCB_CMD_POLL, fd) }
    }

    /// `IOCB_CMD_NOOP`, which Linux (and kaio) reject with `EINVAL`.
    pub fn noop(fd: RawFd) -> Iocb {
        Iocb::new(IOCB_CMD_NOOP, fd)
    }

    /// Sets `aio_data`, returned as the event's `data`.
    pub fn with_data(self, data: u64) -> Iocb {
        Iocb { aio_data: data, ..self }
    }

    /// Sets `aio_buf`, `aio_nbytes` and `aio_offset` as raw values.
    pub fn with_buf(self, buf: u64, nbytes: u64, offset: i64) -> Iocb {
        Iocb { aio_buf: buf, aio_nbytes: nbytes, aio_offset: offset, ..self }
    }

    /// Asks for the eventfd `fd` to be signalled on completion (`IOCB_FLAG_RESFD`).
    pub fn with_resfd(self, fd: RawFd) -> Iocb {
        Iocb { aio_flags: self.aio_flags | IOCB_FLAG_RESFD, aio_resfd: fd as u32, ..self }
    }

    /// Sets `aio_rw_flags` (`RWF_*`).
    pub fn with_rw_flags(self, flags: u32) -> Iocb {
        Iocb { aio_rw_flags: flags, ..self }
    }

    /// Sets an I/O priority (`aio_reqprio` with `IOCB_FLAG_IOPRIO`).
    pub fn with_ioprio(self, prio: i16) -> Iocb {
        Iocb { aio_flags: self.aio_flags | IOCB_FLAG_IOPRIO, aio_reqprio: prio, ..self }
    }

    /// Whether the kernel may read or write caller memory through this iocb after submission
    /// returns: a read or write opcode with a non-null buffer (or iovec array) address.
    pub fn touches_user_memory(&self) -> bool {
        matches!(
            self.aio_lio_opcode,
            IOCB_CMD_PREAD | IOCB_CMD_PWRITE | IOCB_CMD_PREADV | IOCB_CMD_PWRITEV
        ) && self.aio_buf != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_sets_opcode_offset_and_fd_only() {
        let i = Iocb::delay(5_000, 3);
        assert_eq!(
            i,
            Iocb { aio_lio_opcode: 0x4B00, aio_fildes: 3, aio_offset: 5_000, ..Iocb::default() }
        );
        assert!(!i.touches_user_memory());
    }

    #[test]
    fn pread_and_pwrite_carry_the_buffer() {
        let mut buf = [0u8; 16];
        let p = buf.as_mut_ptr() as u64;
        let r = Iocb::pread(4, &mut buf, 512);
        assert_eq!(
            (r.aio_lio_opcode, r.aio_fildes, r.aio_buf, r.aio_nbytes, r.aio_offset),
            (IOCB_CMD_PREAD, 4, p, 16, 512)
        );
        let w = Iocb::pwrite(4, &buf, -1);
        assert_eq!((w.aio_lio_opcode, w.aio_buf, w.aio_nbytes, w.aio_offset), (1, p, 16, -1));
        assert!(r.touches_user_memory() && w.touches_user_memory());
        assert!(!Iocb::pread(4, &mut [], 0).with_buf(0, 0, 0).touches_user_memory());
    }

    #[test]
    fn vectored_carry_the_iovec_array() {
        let mut a = [0u8; 4];
        let iov = [libc::iovec { iov_base: a.as_mut_ptr().cast(), iov_len: a.len() }; 3];
        let r = Iocb::preadv(5, &iov, 8);
        assert_eq!((r.aio_lio_opcode, r.aio_buf, r.aio_nbytes), (7, iov.as_ptr() as u64, 3));
        let w = Iocb::pwritev(5, &iov, 8);
        assert_eq!((w.aio_lio_opcode, w.aio_offset), (8, 8));
        assert!(r.touches_user_memory() && w.touches_user_memory());
    }

    #[test]
    fn poll_puts_events_in_aio_buf() {
        let p = Iocb::poll(6, (libc::POLLIN | libc::POLLOUT) as u32);
        assert_eq!((p.aio_lio_opcode, p.aio_fildes, p.aio_buf), (5, 6, 0x5));
        assert_eq!((p.aio_nbytes, p.aio_offset), (0, 0));
        assert!(!p.touches_user_memory());
    }

    #[test]
    fn other_opcodes() {
        assert_eq!(Iocb::fsync(1).aio_lio_opcode, 2);
        assert_eq!(Iocb::fdsync(1).aio_lio_opcode, 3);
        assert_eq!(Iocb::noop(1).aio_lio_opcode, 6);
        assert_eq!(Iocb::fsync(-1).aio_fildes, u32::MAX);
    }

    #[test]
    fn setters_compose() {
        let i = Iocb::delay(1, 0)
            .with_data(0xdead_beef)
            .with_resfd(9)
            .with_ioprio(-2)
            .with_rw_flags(0x10);
        assert_eq!(i.aio_data, 0xdead_beef);
        assert_eq!(i.aio_flags, IOCB_FLAG_RESFD | IOCB_FLAG_IOPRIO);
        assert_eq!((i.aio_resfd, i.aio_reqprio, i.aio_rw_flags), (9, -2, 0x10));
        assert_eq!((i.aio_key, i.aio_reserved2), (0, 0));
    }
}
