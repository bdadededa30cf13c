//! Sockets, compared with native AIO: POLL on AF_UNIX stream, datagram and seqpacket pairs and
//! on UDP and TCP loopback connections (POLL's main real use), a POLL cancelled or left
//! waiting while its fd is closed; and reads and writes with huge lengths and overflowing
//! iovec totals on sockets and pipes (the CVE-2012-6701 / CVE-2015-8830 family: "vfs: make
//! AIO use the proper rw_verify_area() area helpers", "aio: lift iov_iter_init() into
//! aio_setup_..._rw and aio_setup_iocb" (subject lines as recalled; the fixes made AIO check
//! and cap lengths as read(2)/readv(2) do). Every observation is recorded and must be the
//! same on native AIO and on kaio.

use crate::aio::*;
use crate::expect_eq;
use crate::files::*;
use crate::ktap::{Case, CaseResult};
use crate::util::*;
use kaio::uapi::*;
use std::os::fd::RawFd;

pub fn cases() -> Vec<Case> {
    vec![
        Case::both("socket_poll_in_after_data", socket_poll_in_after_data),
        Case::both("socket_poll_out_writable", socket_poll_out_writable),
        Case::both("socket_poll_hup_on_peer_close", socket_poll_hup_on_peer_close),
        Case::both("socket_poll_cancel_waiting", socket_poll_cancel_waiting),
        Case::both("socket_poll_fd_closed_while_waiting", socket_poll_fd_closed_while_waiting),
        Case::both("socket_rw_huge_lengths", socket_rw_huge_lengths),
        Case::both("socket_rw_iovec_totals", socket_rw_iovec_totals),
    ]
}

const POLLOUT: u64 = libc::POLLOUT as u64;
const POLLRDHUP: u64 = 0x2000;

/// Every kind of connected socket pair.
fn socket_pairs() -> Result<Vec<Pair>, String> {
    Ok(vec![
        socketpair(libc::SOCK_STREAM, "unix-stream")?,
        socketpair(libc::SOCK_DGRAM, "unix-dgram")?,
        socketpair(libc::SOCK_SEQPACKET, "unix-seqpacket")?,
        udp_pair()?,
        tcp_pair()?,
    ])
}

/// The one event `ctx` has within `within`, or what it had instead.
fn one_event(ctx: &Ctx, within: std::time::Duration) -> Result<IoEvent, String> {
    let ev = ctx.wait_events(1, within)?;
    Ok(ev[0])
}

fn socket_poll_in_after_data(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let ctx = Ctx::new(b, 8)?;
    for p in socket_pairs()? {
        let mut cb = poll_iocb(p.r, POLLIN, 1);
        expect_eq!(o, format!("{}: submit POLLIN on an empty socket", p.what), ctx.submit1(&mut cb), Ok(1));
        expect_eq!(o, format!("{}: nothing before data", p.what), ctx.getev(0, 4, Some(ts(0, 30_000_000))).map(|v| v.len()), Ok(0));
        write_all(p.w, b"ping")?;
        let ev = one_event(&ctx, PROMPT)?;
        expect_eq!(o, format!("{}: the event is the poll's", p.what), (ev.data, ev.obj), (1, &cb as *const Iocb as u64));
        o.rec(format!("{}: mask", p.what), ev.res);
    }
    Ok(())
}

fn socket_poll_out_writable(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let ctx = Ctx::new(b, 8)?;
    for p in socket_pairs()? {
        let mut cb = poll_iocb(p.w, POLLOUT, 2);
        expect_eq!(o, format!("{}: submit POLLOUT on a writable socket", p.what), ctx.submit1(&mut cb), Ok(1));
        let ev = one_event(&ctx, PROMPT)?;
        o.rec(format!("{}: mask", p.what), ev.res);
        expect_eq!(o, format!("{}: POLLOUT set", p.what), ev.res as u64 & POLLOUT, POLLOUT);
    }
    Ok(())
}

fn socket_poll_hup_on_peer_close(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let ctx = Ctx::new(b, 8)?;
    for kind in [(libc::SOCK_STREAM, "unix-stream"), (libc::SOCK_SEQPACKET, "unix-seqpacket")] {
        let mut p = socketpair(kind.0, kind.1)?;
        let mut cb = poll_iocb(p.r, POLLIN | POLLRDHUP, 3);
        expect_eq!(o, format!("{}: submit POLLIN|POLLRDHUP", p.what), ctx.submit1(&mut cb), Ok(1));
        expect_eq!(o, format!("{}: nothing yet", p.what), ctx.getev(0, 4, Some(ts(0, 20_000_000))).map(|v| v.len()), Ok(0));
        close(p.w);
        p.w = p.r;
        let ev = one_event(&ctx, PROMPT)?;
        o.rec(format!("{}: mask after the peer closed", p.what), ev.res);
    }
    // TCP: the peer shuts down its write side.
    let p = tcp_pair()?;
    let mut cb = poll_iocb(p.r, POLLIN | POLLRDHUP, 4);
    expect_eq!(o, "tcp: submit POLLIN|POLLRDHUP", ctx.submit1(&mut cb), Ok(1));
    // SAFETY: shutdown of an owned socket.
    unsafe { libc::shutdown(p.w, libc::SHUT_WR) };
    let ev = one_event(&ctx, PROMPT)?;
    o.rec("tcp: mask after the peer's SHUT_WR", ev.res);
    Ok(())
}

fn socket_poll_cancel_waiting(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let ctx = Ctx::new(b, 8)?;
    for p in socket_pairs()? {
        let mut cb = poll_iocb(p.r, POLLIN, 5);
        expect_eq!(o, format!("{}: submit", p.what), ctx.submit1(&mut cb), Ok(1));
        expect_eq!(o, format!("{}: io_cancel", p.what), ctx.cancel(&mut cb), Err(EINPROGRESS));
        let ev = one_event(&ctx, PROMPT)?;
        expect_eq!(o, format!("{}: the cancelled poll's event", p.what), (ev.data, ev.res), (5, 0));
        // Nothing left: data now completes nothing.
        write_all(p.w, b"late")?;
        expect_eq!(o, format!("{}: no second event", p.what), ctx.getev(0, 4, Some(ts(0, 20_000_000))).map(|v| v.len()), Ok(0));
    }
    Ok(())
}

/// The POLL keeps its file: closing the fd it was submitted with changes nothing; data
/// written by the peer completes it.
fn socket_poll_fd_closed_while_waiting(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let ctx = Ctx::new(b, 8)?;
    for p in socket_pairs()? {
        // SAFETY: dup of an owned fd.
        let d: RawFd = unsafe { libc::dup(p.r) };
        let mut cb = poll_iocb(d, POLLIN, 6);
        expect_eq!(o, format!("{}: submit on a dup", p.what), ctx.submit1(&mut cb), Ok(1));
        close(d);
        expect_eq!(o, format!("{}: nothing after the close", p.what), ctx.getev(0, 4, Some(ts(0, 20_000_000))).map(|v| v.len()), Ok(0));
        write_all(p.w, b"x")?;
        let ev = one_event(&ctx, PROMPT)?;
        o.rec(format!("{}: event after the fd was closed", p.what), (ev.data, ev.res));
    }
    Ok(())
}

/// Empties a non-blocking read end (every datagram).
fn drain(fd: RawFd) {
    while !read_now(fd, 1 << 20).is_empty() {}
}

/// The files of the length tests, each holding 100 bytes to read and non-blocking, so that
/// native io_submit never blocks on them.
fn rw_files() -> Result<Vec<Pair>, String> {
    let mut v = vec![pipe_pair()?, socketpair(libc::SOCK_STREAM, "unix-stream")?, socketpair(libc::SOCK_DGRAM, "unix-dgram")?, udp_pair()?];
    for p in &mut v {
        set_nonblock(p.r, true);
        set_nonblock(p.w, true);
    }
    Ok(v)
}

/// PREAD and PWRITE with `aio_nbytes` at and past the limits: SSIZE_MAX, MAX_RW_COUNT + 1,
/// 2^31, 2^32 + 1, and one that is negative as a signed size; each from/into a 64 KiB buffer
/// followed by an unmapped page. The submission's result and the event's are recorded.
fn socket_rw_huge_lengths(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let ctx = Ctx::new(b, 64)?;
    let map = Map::new(64 * 1024 + 4096)?;
    munmap(map.ptr::<u8>(64 * 1024) as u64, 4096)?;
    let buf = map.ptr::<u8>(0) as u64;
    // SAFETY: the first 64 KiB are mapped and ours.
    unsafe { std::ptr::write_bytes(buf as *mut u8, 0x5a, 64 * 1024) };
    let lens: [(u64, &str); 5] = [
        (i64::MAX as u64, "SSIZE_MAX"),
        (0x7fff_f001, "MAX_RW_COUNT+1"),
        (1 << 31, "2^31"),
        ((1 << 32) + 1, "2^32+1"),
        (1 << 63, "2^63 (negative)"),
    ];
    for p in rw_files()? {
        for (len, name) in lens {
            for (op, fd) in [(IOCB_CMD_PREAD, p.r), (IOCB_CMD_PWRITE, p.w)] {
                // A datagram or a few bytes to read first, so that a read has something.
                // SAFETY: a valid buffer; non-blocking.
                unsafe { libc::write(p.w, [1u8; 100].as_ptr().cast(), 100) };
                let mut cb = Iocb { aio_buf: buf, aio_nbytes: len, ..iocb(op, fd, 7) };
                let r = ctx.submit1(&mut cb);
                let what = format!("{}: {} of {name}", p.what, if op == IOCB_CMD_PREAD { "pread" } else { "pwrite" });
                o.rec(format!("{what}: submit"), r);
                if r == Ok(1) {
                    let ev = one_event(&ctx, PROMPT)?;
                    o.rec(format!("{what}: res"), ev.res);
                }
                drain(p.r);
            }
        }
    }
    Ok(())
}

/// PREADV and PWRITEV whose iovec lengths sum past SSIZE_MAX, past MAX_RW_COUNT, with
/// UIO_MAXIOV + 1 entries, and with 1024 entries of one byte.
fn socket_rw_iovec_totals(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let ctx = Ctx::new(b, 64)?;
    // Larger than any datagram or pipe content a read can find: the iovecs all start here.
    let mut store = vec![0u8; 1 << 20];
    let base = store.as_mut_ptr();
    let iov = |len: usize| libc::iovec { iov_base: base.cast(), iov_len: len };
    let sets: Vec<(&str, Vec<libc::iovec>)> = vec![
        ("two of SSIZE_MAX/2+1 (overflow)", vec![iov(i64::MAX as usize / 2 + 1), iov(i64::MAX as usize / 2 + 1)]),
        ("SSIZE_MAX then 1 (overflow)", vec![iov(i64::MAX as usize), iov(1)]),
        ("three of 1 GiB (past MAX_RW_COUNT)", vec![iov(1 << 30), iov(1 << 30), iov(1 << 30)]),
        ("UIO_MAXIOV+1 of 1 byte", (0..1025).map(|_| iov(1)).collect()),
        ("1024 of 1 byte", (0..1024).map(|_| iov(1)).collect()),
    ];
    for p in rw_files()? {
        for (name, v) in &sets {
            for (op, fd) in [(IOCB_CMD_PREADV, p.r), (IOCB_CMD_PWRITEV, p.w)] {
                // SAFETY: a valid buffer; non-blocking.
                unsafe { libc::write(p.w, [2u8; 100].as_ptr().cast(), 100) };
                let mut cb = Iocb { aio_buf: v.as_ptr() as u64, aio_nbytes: v.len() as u64, ..iocb(op, fd, 8) };
                let r = ctx.submit1(&mut cb);
                let what = format!("{}: {} with {name}", p.what, if op == IOCB_CMD_PREADV { "preadv" } else { "pwritev" });
                o.rec(format!("{what}: submit"), r);
                if r == Ok(1) {
                    let ev = one_event(&ctx, PROMPT)?;
                    o.rec(format!("{what}: res"), ev.res);
                }
                drain(p.r);
            }
        }
    }
    drop(store);
    Ok(())
}
