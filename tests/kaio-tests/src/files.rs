//! The kinds of files the tests read, write and poll: pipes, FIFOs, socket pairs (AF_UNIX
//! stream, datagram and seqpacket; UDP and TCP on loopback), eventfds, pseudo-terminals; and
//! small helpers for reading and writing them directly.

use crate::check;
use crate::ktap::CaseResult;
use crate::util::iocb;
use crate::v2::BlockingPipe;
use kaio::uapi::*;
use std::os::fd::RawFd;

pub fn read_iocb(fd: RawFd, buf: &mut [u8], data: u64) -> Iocb {
    Iocb { aio_buf: buf.as_mut_ptr() as u64, aio_nbytes: buf.len() as u64, ..iocb(IOCB_CMD_PREAD, fd, data) }
}

pub fn write_iocb(fd: RawFd, buf: &[u8], data: u64) -> Iocb {
    Iocb { aio_buf: buf.as_ptr() as u64, aio_nbytes: buf.len() as u64, ..iocb(IOCB_CMD_PWRITE, fd, data) }
}

pub fn write_all(fd: RawFd, data: &[u8]) -> CaseResult {
    // SAFETY: a valid buffer.
    let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
    check!(n == data.len() as isize, "write({fd}, {} bytes) = {n}, errno {}", data.len(), kaio::raw::errno());
    Ok(())
}

/// Reads what is there now (the fd must not block: a non-blocking twin, or data known present).
pub fn read_now(fd: RawFd, max: usize) -> Vec<u8> {
    let mut buf = vec![0u8; max];
    // SAFETY: a valid buffer.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), max, libc::MSG_DONTWAIT) };
    let n = if n < 0 && kaio::raw::errno() == libc::ENOTSOCK {
        // SAFETY: as above; for pipes the caller made sure data is there or the fd is O_NONBLOCK.
        unsafe { libc::read(fd, buf.as_mut_ptr().cast(), max) }
    } else {
        n
    };
    buf.truncate(n.max(0) as usize);
    buf
}

pub fn set_nonblock(fd: RawFd, on: bool) {
    // SAFETY: fcntl on an owned fd.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, if on { fl | libc::O_NONBLOCK } else { fl & !libc::O_NONBLOCK });
    }
}

pub fn close(fd: RawFd) {
    // SAFETY: closes an fd the caller owns.
    unsafe { libc::close(fd) };
}

/// A pair of connected blocking fds of one kind: (read end, write end, what).
pub struct Pair {
    pub r: RawFd,
    pub w: RawFd,
    pub what: &'static str,
}

impl Drop for Pair {
    fn drop(&mut self) {
        close(self.r);
        if self.w != self.r {
            close(self.w);
        }
    }
}

pub fn pipe_pair() -> Result<Pair, String> {
    let p = BlockingPipe::new()?;
    let pair = Pair { r: p.r, w: p.w, what: "pipe" };
    std::mem::forget(p);
    Ok(pair)
}

pub fn socketpair(kind: i32, what: &'static str) -> Result<Pair, String> {
    let mut sv = [0; 2];
    // SAFETY: sv is a valid array of two ints.
    if unsafe { libc::socketpair(libc::AF_UNIX, kind | libc::SOCK_CLOEXEC, 0, sv.as_mut_ptr()) } < 0 {
        return Err(format!("socketpair({what}): errno {}", kaio::raw::errno()));
    }
    Ok(Pair { r: sv[0], w: sv[1], what })
}

/// Two UDP sockets on loopback, connected to each other.
pub fn udp_pair() -> Result<Pair, String> {
    let a = std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("udp bind: {e} (is lo up?)"))?;
    let b = std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("udp bind: {e}"))?;
    a.connect(b.local_addr().map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    b.connect(a.local_addr().map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    use std::os::fd::IntoRawFd;
    Ok(Pair { r: a.into_raw_fd(), w: b.into_raw_fd(), what: "udp" })
}

/// A TCP connection on loopback.
pub fn tcp_pair() -> Result<Pair, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("tcp bind: {e} (is lo up?)"))?;
    let c = std::net::TcpStream::connect(l.local_addr().map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let (s, _) = l.accept().map_err(|e| e.to_string())?;
    use std::os::fd::IntoRawFd;
    Ok(Pair { r: s.into_raw_fd(), w: c.into_raw_fd(), what: "tcp" })
}

/// A FIFO opened read-write (so that opening does not wait for a peer) at both ends.
pub fn fifo_pair() -> Result<Pair, String> {
    let path = format!("/tmp/kaio-polled-fifo-{}\0", std::process::id());
    // SAFETY: NUL-terminated paths.
    unsafe {
        libc::unlink(path.as_ptr().cast());
        if libc::mkfifo(path.as_ptr().cast(), 0o600) < 0 {
            return Err(format!("mkfifo: errno {}", kaio::raw::errno()));
        }
        let r = libc::open(path.as_ptr().cast(), libc::O_RDWR | libc::O_CLOEXEC);
        let w = libc::open(path.as_ptr().cast(), libc::O_RDWR | libc::O_CLOEXEC);
        libc::unlink(path.as_ptr().cast());
        if r < 0 || w < 0 {
            return Err(format!("open fifo: errno {}", kaio::raw::errno()));
        }
        Ok(Pair { r, w, what: "fifo" })
    }
}

pub fn eventfd_pair() -> Result<Pair, String> {
    // SAFETY: plain syscall; blocking eventfd.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    check!(fd >= 0, "eventfd: errno {}", kaio::raw::errno());
    Ok(Pair { r: fd, w: fd, what: "eventfd" })
}

/// The payload a peer writes to wake a read on `p` (eventfd: a counter value).
pub fn payload(p: &Pair) -> Vec<u8> {
    if p.what == "eventfd" {
        5u64.to_ne_bytes().to_vec()
    } else {
        b"hello, kaio".to_vec()
    }
}

/// A pseudo-terminal: the master, and the slave in raw mode (bytes pass one by one).
pub fn pty_pair() -> Result<Pair, String> {
    // SAFETY: plain libc calls on fds we own; ptsname's buffer is copied at once.
    unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        if m < 0 || libc::grantpt(m) < 0 || libc::unlockpt(m) < 0 {
            return Err(format!("posix_openpt: errno {} (devpts mounted?)", kaio::raw::errno()));
        }
        let name = libc::ptsname(m);
        check!(!name.is_null(), "ptsname");
        let sl = libc::open(name, libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        check!(sl >= 0, "open pty slave: errno {}", kaio::raw::errno());
        let mut t: libc::termios = std::mem::zeroed();
        libc::tcgetattr(sl, &mut t);
        libc::cfmakeraw(&mut t);
        libc::tcsetattr(sl, libc::TCSANOW, &t);
        Ok(Pair { r: sl, w: m, what: "pty" })
    }
}

