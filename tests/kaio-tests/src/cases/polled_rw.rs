//! `KAIO_SETUP_POLLED_RW` (ABI.md "Version 2"), kaio only: a read or write on a pipe, FIFO,
//! socket or eventfd that would block returns from io_submit at once, waits for the file, and
//! can be cancelled until it moves data; its result is that of a blocking read(2)/write(2) of
//! the same file in the same state (checked against read/write on a twin file). Regular files,
//! O_NONBLOCK files and RWF_NOWAIT requests behave as without the flag.

use crate::aio::*;
use crate::ktap::{Case, CaseResult};
use crate::util::*;
use crate::v2::*;
use crate::files::*;
use crate::{check, check_eq, want_eq};
use kaio::uapi::*;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

pub fn cases() -> Vec<Case> {
    vec![
        Case::kaio("polled_rw_setup_flags", polled_rw_setup_flags),
        Case::kaio("polled_rw_pipe_read_waits", polled_rw_pipe_read_waits),
        Case::kaio("polled_rw_each_file_kind_waits", polled_rw_each_file_kind_waits),
        Case::kaio("polled_rw_cancel_waiting_read", polled_rw_cancel_waiting_read),
        Case::kaio("polled_rw_cancel_match_by_fd_all", polled_rw_cancel_match_by_fd_all),
        Case::kaio("polled_rw_pipe_write_waits_for_room", polled_rw_pipe_write_waits_for_room),
        Case::kaio("polled_rw_cancel_part_written", polled_rw_cancel_part_written),
        Case::kaio("polled_rw_same_as_blocking", polled_rw_same_as_blocking),
        Case::kaio("polled_rw_tcp_rcvlowat_as_blocking", polled_rw_tcp_rcvlowat_as_blocking),
        Case::kaio("polled_rw_readv_writev", polled_rw_readv_writev),
        Case::kaio("polled_rw_unchanged_files", polled_rw_unchanged_files),
        Case::kaio("polled_rw_close_fd_while_waiting", polled_rw_close_fd_while_waiting),
        Case::kaio("polled_rw_teardown_with_waiters", polled_rw_teardown_with_waiters),
        Case::kaio("polled_rw_race_data_vs_cancel", polled_rw_race_data_vs_cancel),
        Case::kaio("polled_rw_many_waiters_one_pipe", polled_rw_many_waiters_one_pipe),
        Case::kaio("polled_rw_two_queue_files", polled_rw_two_queue_files),
        Case::kaio("polled_rw_pollfree_signalfd", polled_rw_pollfree_signalfd),
        Case::kaio("polled_rw_mixed_storm", polled_rw_mixed_storm),
        Case::kaio("polled_rw_self_readied_read_made_once", polled_rw_self_readied_read_made_once),
        Case::kaio("polled_rw_sleeping_reaper_woken_for_the_attempt", polled_rw_sleeping_reaper_woken_for_the_attempt),
        Case::kaio("polled_rw_ring_watcher_gets_the_event", polled_rw_ring_watcher_gets_the_event),
        Case::kaio("polled_rw_readying_write_blocks", polled_rw_readying_write_blocks),
        Case::kaio("polled_rw_task_work_pending_at_exit", polled_rw_task_work_pending_at_exit),
        Case::kaio("polled_rw_destroy_with_attempt_handed_on", polled_rw_destroy_with_attempt_handed_on),
        Case::kaio("polled_rw_race_sleeping_reaper_vs_cancel", polled_rw_race_sleeping_reaper_vs_cancel),
        Case::kaio("polled_rw_destroy_while_reaper_sleeps", polled_rw_destroy_while_reaper_sleeps),
        Case::kaio("polled_rw_race_wake_during_submit", polled_rw_race_wake_during_submit),
        Case::kaio("polled_rw_race_wake_during_arming", polled_rw_race_wake_during_arming),
        Case::kaio("polled_rw_worker_attempt_vs_exit", polled_rw_worker_attempt_vs_exit),
        Case::kaio("polled_rw_error_queue_is_not_readiness", polled_rw_error_queue_is_not_readiness),
        Case::kaio("polled_rw_socket_error_after_attempt_is_not_lost", polled_rw_socket_error_after_attempt_is_not_lost),
        Case::kaio("polled_rw_blocked_tty_read_is_stoppable", polled_rw_blocked_tty_read_is_stoppable),
        Case::kaio("polled_rw_tty_write_blocks_in_the_worker", polled_rw_tty_write_blocks_in_the_worker),
    ]
}

/// A module statistic (`/sys/module/kaio/parameters/stat_NAME`).
fn stat(name: &str) -> Result<i64, String> {
    let path = format!("/sys/module/kaio/parameters/stat_{name}");
    let v = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    v.trim().parse().map_err(|e| format!("{path}: {v:?}: {e}"))
}

/// Attempts made after a hand-off since the module loaded: by the worker, by reapers, and
/// by the task that readied the request, on its way back to user space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Retries {
    worker: i64,
    reaper: i64,
    task: i64,
}

impl core::ops::Sub for Retries {
    type Output = Retries;
    fn sub(self, base: Retries) -> Retries {
        Retries { worker: self.worker - base.worker, reaper: self.reaper - base.reaper, task: self.task - base.task }
    }
}

fn retries() -> Result<Retries, String> {
    Ok(Retries {
        worker: stat("polled_retries_worker")?,
        reaper: stat("polled_retries_reaper")?,
        task: stat("polled_retries_task")?,
    })
}

/// How long a submission may take and still count as "not blocked".
const SUBMIT_BOUND: Duration = Duration::from_secs(2);
const RES_EAGAIN: i64 = -(libc::EAGAIN as i64);

/// A context set up with `KAIO_SETUP_POLLED_RW`.
fn polled_ctx(k: &Kaio, nr: u32) -> Result<Ctx<'_>, String> {
    let mut id = 0u64;
    kaio::raw::setup_with_flags(k.fd, nr, KAIO_SETUP_POLLED_RW, &mut id)
        .map_err(|e| format!("setup with KAIO_SETUP_POLLED_RW: {:?}", Errno(e)))?;
    Ok(Ctx::adopt(k, id))
}

/// Submits one iocb and fails if io_submit took long enough to have blocked.
fn submit_unblocked(ctx: &Ctx, cb: &mut Iocb) -> CaseResult {
    let t = Instant::now();
    let r = ctx.submit1(cb);
    let took = t.elapsed();
    want_eq!("io_submit", r, Ok(1));
    check!(took < SUBMIT_BOUND, "io_submit took {took:?}: it blocked");
    Ok(())
}

fn polled_rw_setup_flags() -> CaseResult {
    let k = Kaio::open()?;
    for (flags, want) in [(KAIO_SETUP_POLLED_RW, Ok(0)), (2, Err(EINVAL)), (KAIO_SETUP_POLLED_RW | 2, Err(EINVAL)), (1 << 31, Err(EINVAL))] {
        let mut id = 0u64;
        let r = kaio::raw::setup_with_flags(k.fd, 8, flags, &mut id).map_err(Errno);
        want_eq!(format!("setup flags {flags:#x}"), r, want);
        if r.is_ok() {
            check!(id != 0, "no ctx id");
            want_eq!("destroy", kaio::raw::destroy(k.fd, id).map_err(Errno), Ok(0));
        } else {
            want_eq!(format!("ctx id after setup flags {flags:#x}"), id, 0);
        }
    }
    Ok(())
}

/// A read of an empty blocking pipe: io_submit returns at once, no event until data comes,
/// then the bytes that came.
fn polled_rw_pipe_read_waits() -> CaseResult {
    let k = Kaio::open()?;
    let ctx = polled_ctx(&k, 8)?;
    let p = pipe_pair()?;
    let mut buf = [0u8; 64];
    let mut cb = read_iocb(p.r, &mut buf, 7);
    submit_unblocked(&ctx, &mut cb)?;
    ctx.no_events(ms(100))?;
    write_all(p.w, b"abcde")?;
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("read", &ev[0], 7, &cb, 5)?;
    want_eq!("bytes read", &buf[..5], b"abcde");
    Ok(())
}

/// The same read on each file kind that can block: AF_UNIX stream and datagram sockets, UDP
/// and TCP on loopback, a FIFO, an eventfd; and a write into a full socket waits for room.
fn polled_rw_each_file_kind_waits() -> CaseResult {
    let k = Kaio::open()?;
    let ctx = polled_ctx(&k, 16)?;
    let pairs = [
        socketpair(libc::SOCK_STREAM, "unix-stream")?,
        socketpair(libc::SOCK_DGRAM, "unix-dgram")?,
        socketpair(libc::SOCK_SEQPACKET, "unix-seqpacket")?,
        udp_pair()?,
        tcp_pair()?,
        fifo_pair()?,
        eventfd_pair()?,
    ];
    for (i, p) in pairs.iter().enumerate() {
        let mut buf = [0u8; 64];
        let mut cb = read_iocb(p.r, &mut buf, i as u64);
        if p.what == "eventfd" {
            cb.aio_nbytes = 8;
        }
        submit_unblocked(&ctx, &mut cb).map_err(|e| format!("{}: {e}", p.what))?;
        ctx.no_events(ms(50)).map_err(|e| format!("{}: {e}", p.what))?;
        let data = payload(p);
        write_all(p.w, &data).map_err(|e| format!("{}: {e}", p.what))?;
        let ev = ctx.wait_events(1, PROMPT).map_err(|e| format!("{}: {e}", p.what))?;
        check_event(p.what, &ev[0], i as u64, &cb, data.len() as i64)?;
        want_eq!(format!("{}: bytes", p.what), &buf[..data.len()], &data[..]);
    }
    // A write into a socket whose buffer is full waits for room, then writes everything.
    let p = socketpair(libc::SOCK_STREAM, "unix-stream")?;
    set_nonblock(p.r, true);
    let mut filler = 0usize;
    loop {
        // SAFETY: a valid buffer.
        let n = unsafe { libc::send(p.r, [0u8; 4096].as_ptr().cast(), 4096, libc::MSG_DONTWAIT) };
        if n <= 0 {
            break;
        }
        filler += n as usize;
    }
    let msg = vec![0x5au8; 1000];
    let mut cb = write_iocb(p.r, &msg, 99);
    submit_unblocked(&ctx, &mut cb).map_err(|e| format!("write into a full socket: {e}"))?;
    // It was O_NONBLOCK for filling: as without the flag, the event is -EAGAIN at once.
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("O_NONBLOCK write into a full socket", &ev[0], 99, &cb, RES_EAGAIN)?;
    set_nonblock(p.r, false);
    submit_unblocked(&ctx, &mut cb).map_err(|e| format!("write into a full socket: {e}"))?;
    ctx.no_events(ms(50))?;
    let mut got = 0usize;
    set_nonblock(p.w, true);
    let deadline = Instant::now() + PROMPT;
    while got < filler + msg.len() && Instant::now() < deadline {
        let d = read_now(p.w, 65536);
        if d.is_empty() {
            std::thread::sleep(ms(1));
        }
        got += d.len();
    }
    want_eq!("bytes through the full socket", got, filler + msg.len());
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("write after room", &ev[0], 99, &cb, msg.len() as i64)?;
    Ok(())
}

/// A waiting read is cancellable by io_cancel and by CANCEL_MATCH: its event (-ECANCELED) is
/// in the ring when the call returns, and no byte was taken from the pipe.
fn polled_rw_cancel_waiting_read() -> CaseResult {
    let k = Kaio::open()?;
    let ctx = polled_ctx(&k, 8)?;
    let p = pipe_pair()?;
    let mut buf = [0u8; 16];
    for (round, how) in ["io_cancel", "match_iocb", "match_data", "match_op", "match_any"].iter().enumerate() {
        let data = 0x100 + round as u64;
        let mut cb = read_iocb(p.r, &mut buf, data);
        submit_unblocked(&ctx, &mut cb)?;
        let r = match *how {
            "io_cancel" => ctx.cancel(&mut cb),
            "match_iocb" => cancel_match(k.fd, &mut kaio_cancel_match_args { key: &cb as *const Iocb as u64, ..cm(ctx.id, KAIO_CANCEL_IOCB) }),
            "match_data" => cancel_match(k.fd, &mut kaio_cancel_match_args { key: data, ..cm(ctx.id, KAIO_CANCEL_DATA) }),
            "match_op" => cancel_match(k.fd, &mut kaio_cancel_match_args { opcode: IOCB_CMD_PREAD, ..cm(ctx.id, KAIO_CANCEL_OP) }),
            _ => cancel_match(k.fd, &mut cm(ctx.id, KAIO_CANCEL_ANY)),
        };
        let want = if *how == "io_cancel" { Err(EINPROGRESS) } else { Ok(1) };
        want_eq!(format!("{how}"), r, want);
        want_eq!(format!("{how}: ring right after the call"), ring_unread(ctx.id),
            vec![IoEvent { data, obj: &cb as *const Iocb as u64, res: RES_ECANCELED, res2: 0 }]);
        ctx.wait_events(1, PROMPT)?;
    }
    // RESULT mode: the event goes to the caller, not the ring.
    let mut cb = read_iocb(p.r, &mut buf, 0x200);
    submit_unblocked(&ctx, &mut cb)?;
    let mut res = IoEvent::default();
    let r = cancel_match(k.fd, &mut kaio_cancel_match_args {
        key: &cb as *const Iocb as u64,
        result: &mut res as *mut IoEvent as u64,
        ..cm(ctx.id, KAIO_CANCEL_IOCB | KAIO_CANCEL_RESULT)
    });
    want_eq!("RESULT", r, Ok(0));
    want_eq!("RESULT event", res, IoEvent { data: 0x200, obj: &cb as *const Iocb as u64, res: RES_ECANCELED, res2: 0 });
    ctx.no_events(ms(50))?;
    // Nothing was consumed: a byte written now is all there is.
    write_all(p.w, b"z")?;
    set_nonblock(p.r, true);
    want_eq!("pipe content after the cancels", read_now(p.r, 16), b"z".to_vec());
    Ok(())
}

/// CANCEL_MATCH by FD with ALL cancels every read waiting on that file and none on another;
/// WAIT returns at once (nothing is left running).
fn polled_rw_cancel_match_by_fd_all() -> CaseResult {
    let k = Kaio::open()?;
    let ctx = polled_ctx(&k, 32)?;
    let a = pipe_pair()?;
    let b = socketpair(libc::SOCK_STREAM, "unix-stream")?;
    let mut bufs = vec![[0u8; 8]; 10];
    let mut cbs: Vec<Iocb> = bufs.iter_mut().enumerate().map(|(i, buf)| read_iocb(if i % 2 == 0 { a.r } else { b.r }, buf, i as u64)).collect();
    for cb in cbs.iter_mut() {
        submit_unblocked(&ctx, cb)?;
    }
    let mut args = kaio_cancel_match_args { fd: a.r, ..cm(ctx.id, KAIO_CANCEL_FD | KAIO_CANCEL_ALL | KAIO_CANCEL_WAIT) };
    let r = cancel_match(k.fd, &mut args);
    want_eq!("FD|ALL|WAIT on the pipe", (r, args.nr_running), (Ok(5), 0));
    let mut evs = ctx.wait_events(5, PROMPT)?;
    evs.sort_by_key(|e| e.data);
    for (j, ev) in evs.iter().enumerate() {
        check_event("cancelled by fd", ev, 2 * j as u64, &cbs[2 * j], RES_ECANCELED)?;
    }
    // The socket's reads still wait; data wakes them one by one (a stream socket's read takes
    // what is there, so send five separate bytes after each completion).
    for n in 0..5 {
        write_all(b.w, b"q")?;
        let ev = ctx.wait_events(1, PROMPT)?;
        check!(ev[0].data % 2 == 1 && ev[0].res == 1, "socket read {n}: {:?}", ev[0]);
    }
    ctx.no_events(ms(20))?;
    Ok(())
}

/// A write bigger than a pipe holds: io_submit returns at once; the write completes with every
/// byte once a reader drained it, in order.
fn polled_rw_pipe_write_waits_for_room() -> CaseResult {
    let k = Kaio::open()?;
    let ctx = polled_ctx(&k, 8)?;
    let p = pipe_pair()?;
    let msg: Vec<u8> = (0..(1 << 20)).map(|i: u32| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    let mut cb = write_iocb(p.w, &msg, 1);
    submit_unblocked(&ctx, &mut cb)?;
    ctx.no_events(ms(50))?;
    let mut got = Vec::with_capacity(msg.len());
    let deadline = Instant::now() + PROMPT;
    while got.len() < msg.len() && Instant::now() < deadline {
        let mut buf = vec![0u8; 65536];
        // SAFETY: a valid buffer; blocking read of a pipe with a writer in flight.
        let n = unsafe { libc::read(p.r, buf.as_mut_ptr().cast(), buf.len()) };
        check!(n > 0, "read from the pipe: {n}, errno {}", kaio::raw::errno());
        got.extend_from_slice(&buf[..n as usize]);
    }
    check!(got == msg, "the reader got {} bytes, not the {} written in order", got.len(), msg.len());
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("1 MiB write", &ev[0], 1, &cb, msg.len() as i64)?;
    Ok(())
}

/// A write that has moved part of its bytes is running: CANCEL_MATCH says EALREADY, and the
/// write then ends with the count it wrote (as write(2) interrupted by a signal), which is
/// exactly what the reader gets.
fn polled_rw_cancel_part_written() -> CaseResult {
    let k = Kaio::open()?;
    let ctx = polled_ctx(&k, 8)?;
    let p = pipe_pair()?;
    let msg = vec![7u8; 1 << 20];
    let mut cb = write_iocb(p.w, &msg, 3);
    submit_unblocked(&ctx, &mut cb)?;
    ctx.no_events(ms(50))?;
    let mut args = kaio_cancel_match_args { key: &cb as *const Iocb as u64, ..cm(ctx.id, KAIO_CANCEL_IOCB | KAIO_CANCEL_WAIT) };
    let r = cancel_match(k.fd, &mut args);
    want_eq!("cancel of a part-written write (WAIT)", (r, args.nr_running), (Err(EALREADY), 1));
    let ev = ctx.wait_events(1, ms(10))?;
    check!(ev[0].res > 0 && (ev[0].res as usize) < msg.len(), "part-written write ended with {}", ev[0].res);
    set_nonblock(p.r, true);
    let mut got = 0usize;
    loop {
        let d = read_now(p.r, 65536);
        if d.is_empty() {
            break;
        }
        got += d.len();
    }
    want_eq!("bytes in the pipe vs the write's result", got as i64, ev[0].res);
    Ok(())
}

/// Differential: on each kind of file, with data already there (less, as much as, or more
/// than asked), a polled read's result and bytes equal read(2) of a twin file in the same
/// state; likewise a write's result equals write(2).
fn polled_rw_same_as_blocking() -> CaseResult {
    let k = Kaio::open()?;
    let ctx = polled_ctx(&k, 8)?;
    let makers: [fn() -> Result<Pair, String>; 5] = [
        pipe_pair,
        || socketpair(libc::SOCK_STREAM, "unix-stream"),
        || socketpair(libc::SOCK_DGRAM, "unix-dgram"),
        udp_pair,
        fifo_pair,
    ];
    for make in makers {
        for (have, ask) in [(10usize, 100usize), (100, 100), (300, 100), (1, 1)] {
            let (ours, twin) = (make()?, make()?);
            let data: Vec<u8> = (0..have as u32).map(|i| i as u8).collect();
            write_all(ours.w, &data)?;
            write_all(twin.w, &data)?;
            let mut buf = vec![0u8; ask];
            let mut cb = read_iocb(ours.r, &mut buf, 5);
            submit_unblocked(&ctx, &mut cb)?;
            let ev = ctx.wait_events(1, PROMPT)?;
            let mut tbuf = vec![0u8; ask];
            // SAFETY: a valid buffer; data is present so the read does not block.
            let n = unsafe { libc::read(twin.r, tbuf.as_mut_ptr().cast(), ask) } as i64;
            want_eq!(format!("{} holding {have}, read {ask}: result vs read(2)", ours.what), ev[0].res, n);
            want_eq!(format!("{} holding {have}, read {ask}: bytes", ours.what), &buf[..n.max(0) as usize], &tbuf[..n.max(0) as usize]);
            // What is left is the same too.
            set_nonblock(ours.r, true);
            set_nonblock(twin.r, true);
            want_eq!(format!("{}: left after the read", ours.what), read_now(ours.r, 1024), read_now(twin.r, 1024));
            // A write that fits.
            let mut wcb = write_iocb(ours.w, &data, 6);
            submit_unblocked(&ctx, &mut wcb)?;
            let ev = ctx.wait_events(1, PROMPT)?;
            // SAFETY: a valid buffer; the buffer has room.
            let n = unsafe { libc::write(twin.w, data.as_ptr().cast(), data.len()) } as i64;
            want_eq!(format!("{}: write of {have} vs write(2)", ours.what), ev[0].res, n);
        }
    }
    Ok(())
}

/// A TCP socket with a receive low-water mark (`SO_RCVLOWAT` 100) holding 10 bytes: read(2)
/// blocks until 100 are there, and a polled read waits as long (the socket does not report
/// itself readable below the mark), rather than taking the 10 a non-blocking read would
/// return. Then both get the same 100 bytes.
fn polled_rw_tcp_rcvlowat_as_blocking() -> CaseResult {
    let k = Kaio::open()?;
    let ctx = polled_ctx(&k, 8)?;
    let (ours, twin) = (tcp_pair()?, tcp_pair()?);
    let data: Vec<u8> = (0..100u32).map(|i| (i * 7) as u8).collect();
    for p in [&ours, &twin] {
        set_int_option(p.r, libc::SOL_SOCKET, libc::SO_RCVLOWAT, 100)?;
        // No Nagle: the second write must not wait for the first one's ACK.
        set_int_option(p.w, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
        write_all(p.w, &data[..10])?;
    }
    // The twin, as read(2) sees it: 10 bytes there, not readable below the mark.
    let mut pfd = libc::pollfd { fd: twin.r, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd; waits up to 100 ms for the 10 bytes to be reported readable.
    let ready = unsafe { libc::poll(&mut pfd, 1, 100) };
    want_eq!("poll(POLLIN) of the twin holding 10 bytes under SO_RCVLOWAT 100", ready, 0);
    let mut buf = vec![0u8; 200];
    let mut cb = read_iocb(ours.r, &mut buf, 9);
    submit_unblocked(&ctx, &mut cb)?;
    ctx.no_events(ms(200))?;
    for p in [&ours, &twin] {
        write_all(p.w, &data[10..])?;
    }
    let ev = ctx.wait_events(1, PROMPT)?;
    let mut tbuf = vec![0u8; 200];
    // SAFETY: a valid buffer; 100 bytes are there (or coming), the mark is met.
    let n = unsafe { libc::read(twin.r, tbuf.as_mut_ptr().cast(), tbuf.len()) } as i64;
    want_eq!("read(2) of the twin after 100 bytes", n, 100);
    check_event("polled read after 100 bytes", &ev[0], 9, &cb, n)?;
    want_eq!("bytes", &buf[..100], &data[..]);
    Ok(())
}

/// `setsockopt(fd, level, name, &value)` with an int value.
fn set_int_option(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> CaseResult {
    let len = core::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` is a valid int for the call's duration.
    let r = unsafe { libc::setsockopt(fd, level, name, (&value as *const libc::c_int).cast(), len) };
    check!(r == 0, "setsockopt(level {level}, option {name}): errno {}", kaio::raw::errno());
    Ok(())
}

/// PREADV/PWRITEV wait the same way; the bytes land across the iovecs in order.
fn polled_rw_readv_writev() -> CaseResult {
    let k = Kaio::open()?;
    let ctx = polled_ctx(&k, 8)?;
    let p = socketpair(libc::SOCK_STREAM, "unix-stream")?;
    let (mut a, mut b, mut c) = ([0u8; 3], [0u8; 4], [0u8; 5]);
    let iov = [
        libc::iovec { iov_base: a.as_mut_ptr().cast(), iov_len: 3 },
        libc::iovec { iov_base: b.as_mut_ptr().cast(), iov_len: 4 },
        libc::iovec { iov_base: c.as_mut_ptr().cast(), iov_len: 5 },
    ];
    let mut cb = Iocb { aio_buf: iov.as_ptr() as u64, aio_nbytes: 3, ..iocb(IOCB_CMD_PREADV, p.r, 1) };
    submit_unblocked(&ctx, &mut cb)?;
    ctx.no_events(ms(50))?;
    let src = b"0123456789AB";
    let wiov = [
        libc::iovec { iov_base: src.as_ptr() as *mut _, iov_len: 5 },
        libc::iovec { iov_base: src[5..].as_ptr() as *mut _, iov_len: 7 },
    ];
    let mut wcb = Iocb { aio_buf: wiov.as_ptr() as u64, aio_nbytes: 2, ..iocb(IOCB_CMD_PWRITEV, p.w, 2) };
    submit_unblocked(&ctx, &mut wcb)?;
    let mut evs = ctx.wait_events(2, PROMPT)?;
    evs.sort_by_key(|e| e.data);
    check_event("readv", &evs[0], 1, &cb, 12)?;
    check_event("writev", &evs[1], 2, &wcb, 12)?;
    want_eq!("readv bytes", [&a[..], &b[..], &c[..]].concat(), src.to_vec());
    Ok(())
}

/// Regular files, O_NONBLOCK files and RWF_NOWAIT requests: as without the flag.
fn polled_rw_unchanged_files() -> CaseResult {
    let k = Kaio::open()?;
    let ctx = polled_ctx(&k, 8)?;
    // An O_NONBLOCK pipe: -EAGAIN at once.
    let p = Pipe::new()?;
    let mut buf = [0u8; 8];
    let mut cb = read_iocb(p.r, &mut buf, 1);
    submit_unblocked(&ctx, &mut cb)?;
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("O_NONBLOCK pipe read", &ev[0], 1, &cb, RES_EAGAIN)?;
    // RWF_NOWAIT on a blocking pipe: -EAGAIN at once, as natively.
    let bp = pipe_pair()?;
    let mut cb = Iocb { aio_rw_flags: libc::RWF_NOWAIT as u32, ..read_iocb(bp.r, &mut buf, 2) };
    submit_unblocked(&ctx, &mut cb)?;
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("RWF_NOWAIT pipe read", &ev[0], 2, &cb, RES_EAGAIN)?;
    // A tmpfs file: the read completes inside io_submit (the event is there at return).
    let path = format!("/tmp/kaio-polled-reg-{}\0", std::process::id());
    // SAFETY: NUL-terminated path.
    let fd = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC, 0o600) };
    check!(fd >= 0, "open tmpfs file");
    // SAFETY: as above.
    unsafe { libc::unlink(path.as_ptr().cast()) };
    write_all(fd, b"regular")?;
    let mut cb = read_iocb(fd, &mut buf, 3);
    cb.aio_offset = 0;
    check_eq!(ctx.submit1(&mut cb), Ok(1));
    want_eq!("regular file: event at io_submit's return", ring_unread(ctx.id).len(), 1);
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("regular file read", &ev[0], 3, &cb, 7)?;
    close(fd);
    Ok(())
}

/// The fd is closed (and its number reused) while a read waits: the request keeps its file;
/// data written to the pipe completes it, and a cancel by FD on the new file finds nothing.
fn polled_rw_close_fd_while_waiting() -> CaseResult {
    let k = Kaio::open()?;
    let ctx = polled_ctx(&k, 8)?;
    let p = pipe_pair()?;
    // SAFETY: dup of an owned fd.
    let r2 = unsafe { libc::dup(p.r) };
    let mut buf = [0u8; 8];
    let mut cb = read_iocb(r2, &mut buf, 9);
    submit_unblocked(&ctx, &mut cb)?;
    close(r2);
    let other = socketpair(libc::SOCK_STREAM, "unix-stream")?;
    let mut args = kaio_cancel_match_args { fd: other.r, ..cm(ctx.id, KAIO_CANCEL_FD) };
    want_eq!("cancel by fd of another file", cancel_match(k.fd, &mut args), Err(ENOENT));
    write_all(p.w, b"late")?;
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("read on a closed fd's file", &ev[0], 9, &cb, 4)?;
    want_eq!("bytes", &buf[..4], b"late");
    Ok(())
}

/// Waiting reads and a part-written write do not hold up io_destroy, the close of /dev/kaio,
/// or the exit of the process: each returns promptly and the files are left as they were
/// (nothing read from the pipe later).
fn polled_rw_teardown_with_waiters() -> CaseResult {
    for how in TEARDOWNS {
        let p = pipe_pair()?;
        let q = pipe_pair()?;
        let (pr, pw, qw) = (p.r, p.w, q.w);
        let t = Instant::now();
        in_child(PROMPT, move || {
            let k = Kaio::open()?;
            let ctx = polled_ctx(&k, 32)?;
            let mut bufs = vec![[0u8; 8]; 8];
            let mut cbs: Vec<Iocb> = bufs.iter_mut().enumerate().map(|(i, b)| read_iocb(pr, b, i as u64)).collect();
            for cb in cbs.iter_mut() {
                submit_unblocked(&ctx, cb)?;
            }
            let big = vec![1u8; 1 << 20];
            let mut w = write_iocb(qw, &big, 100);
            submit_unblocked(&ctx, &mut w)?;
            end_context(how, &k, &ctx)
            // `ctx` and then `k` (closing /dev/kaio) are dropped here.
        })
        .map_err(|e| format!("{how}: {e}"))?;
        check!(t.elapsed() < PROMPT, "{how}: took {:?}", t.elapsed());
        // No read is left in flight: a byte written now stays in the pipe.
        write_all(pw, b"s")?;
        std::thread::sleep(ms(20));
        set_nonblock(p.r, true);
        want_eq!(format!("{how}: pipe content"), read_now(p.r, 8), b"s".to_vec());
        drop(q);
    }
    Ok(())
}

/// Data arriving races a cancel of the read waiting for it: every round posts exactly one
/// event, either the byte (then it left the pipe) or -ECANCELED (then it is still there). The
/// cancel is issued after a delay that sweeps across the write's wake-up and retry.
fn polled_rw_race_data_vs_cancel() -> CaseResult {
    let k = Kaio::open()?;
    let ctx = polled_ctx(&k, 8)?;
    let p = pipe_pair()?;
    let (mut got, mut cancelled, mut running) = (0, 0, 0);
    let t0 = Instant::now();
    let mut rounds = 0u64;
    // The round the writer thread is to write in; 0: none; u64::MAX: stop.
    let turn = std::sync::atomic::AtomicU64::new(0);
    let written = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|s| -> CaseResult {
        s.spawn(|| loop {
            let t = turn.load(SeqCst);
            if t == u64::MAX {
                return;
            }
            if t != 0 && written.load(SeqCst) != t {
                let _ = write_all(p.w, b"d");
                written.store(t, SeqCst);
            }
            std::hint::spin_loop();
        });
        let res = (|| -> CaseResult {
            while rounds < 3000 && t0.elapsed() < Duration::from_secs(8) {
                rounds += 1;
                let mut buf = [0u8; 1];
                let mut cb = read_iocb(p.r, &mut buf, rounds);
                submit_unblocked(&ctx, &mut cb)?;
                turn.store(rounds, SeqCst);
                // 0 to ~300 µs: before the write, during the wake-up, after the read.
                let spin = Instant::now();
                let delay = Duration::from_micros((rounds * 7) % 300);
                while spin.elapsed() < delay {
                    std::hint::spin_loop();
                }
                let mut args = kaio_cancel_match_args { key: &cb as *const Iocb as u64, ..cm(ctx.id, KAIO_CANCEL_IOCB) };
                let r = (cancel_match(k.fd, &mut args), args.nr_running);
                let ev = ctx.wait_events(1, PROMPT).map_err(|e| format!("round {rounds}: {e}"))?;
                while written.load(SeqCst) != rounds {
                    std::hint::spin_loop();
                }
                set_nonblock(p.r, true);
                let left = read_now(p.r, 8);
                set_nonblock(p.r, false);
                match (r, ev[0].res) {
                    ((Ok(1), 0), RES_ECANCELED) => {
                        cancelled += 1;
                        want_eq!(format!("round {rounds}: cancelled, the byte stays"), left, b"d".to_vec());
                    }
                    ((Err(e), _), 1) if e == ENOENT => {
                        got += 1;
                        want_eq!(format!("round {rounds}: read, nothing left"), left, Vec::<u8>::new());
                    }
                    ((Err(e), 1), res) if e == EALREADY && (res == 1 || res == RES_ECANCELED) => {
                        // Mid-attempt: the byte was read, or the attempt found nothing and stopped.
                        running += 1;
                        let want: &[u8] = if res == 1 { b"" } else { b"d" };
                        want_eq!(format!("round {rounds}: running, res {res}"), left, want.to_vec());
                    }
                    (r, res) => return Err(format!("round {rounds}: cancel {r:?}, event res {res}")),
                }
                ctx.no_events(Duration::ZERO)?;
            }
            Ok(())
        })();
        turn.store(u64::MAX, SeqCst);
        res
    })?;
    eprintln!("# polled_rw_race_data_vs_cancel: {rounds} rounds: {got} read, {cancelled} cancelled, {running} found running");
    check!(cancelled > 0 && got + running > 0, "the race never went both ways ({got} read, {cancelled} cancelled)");
    Ok(())
}

/// Many reads wait on one pipe; bytes arrive one at a time from another thread: each byte
/// completes exactly one read, none is lost, and the rest are then cancelled together.
fn polled_rw_many_waiters_one_pipe() -> CaseResult {
    let k = Kaio::open()?;
    let ctx = polled_ctx(&k, 128)?;
    let p = pipe_pair()?;
    let n = 64usize;
    let mut bufs = vec![[0u8; 1]; n];
    let mut cbs: Vec<Iocb> = bufs.iter_mut().enumerate().map(|(i, b)| read_iocb(p.r, b, i as u64)).collect();
    for cb in cbs.iter_mut() {
        submit_unblocked(&ctx, cb)?;
    }
    let sent = 40usize;
    let done = AtomicUsize::new(0);
    std::thread::scope(|s| -> CaseResult {
        s.spawn(|| {
            for i in 0..sent {
                let _ = write_all(p.w, &[i as u8]);
                done.fetch_add(1, SeqCst);
            }
        });
        let evs = ctx.wait_events(sent, PROMPT)?;
        for ev in &evs {
            check!(ev.res == 1, "a read completed with {}", ev.res);
        }
        Ok(())
    })?;
    let mut seen: Vec<u8> = bufs.iter().map(|b| b[0]).collect::<Vec<_>>();
    seen.sort();
    let mut args = cm(ctx.id, KAIO_CANCEL_ANY | KAIO_CANCEL_WAIT);
    // A retry the last wake-ups started may still be under way: counted as running, it ends at
    // its next wait (-ECANCELED: nothing is left to read). WAIT returns once all have ended.
    let r = cancel_match(k.fd, &mut args);
    let cancelled = match r {
        Ok(c) => c as usize,
        Err(e) if e == EALREADY => 0,
        r => return Err(format!("cancel the rest: {r:?}")),
    };
    want_eq!("cancel the rest: cancelled + running", cancelled + args.nr_running as usize, n - sent);
    let rest = ctx.wait_events(n - sent, PROMPT)?;
    check!(rest.iter().all(|e| e.res == RES_ECANCELED), "the rest: {rest:?}");
    // Every byte sent went to exactly one read (the unread buffers hold 0, as does byte 0).
    let mut want: Vec<u8> = (0..sent as u8).collect();
    want.extend(std::iter::repeat(0).take(n - sent));
    want.sort();
    want_eq!("bytes across the reads", seen, want);
    Ok(())
}

/// Files that wait on two queues: a FIFO open for reading and writing (IOCB_NOWAIT attempts)
/// and a pty slave (a tty: poll, then a blocking read in the worker). A read waits and is
/// cancellable with no byte taken; then data completes it; a FIFO write bigger than the pipe
/// waits for room on the second queue and completes once drained.
fn polled_rw_two_queue_files() -> CaseResult {
    let k = Kaio::open()?;
    let ctx = polled_ctx(&k, 8)?;
    for p in [fifo_pair()?, pty_pair()?] {
        let what = p.what;
        let mut buf = [0u8; 32];
        let mut cb = read_iocb(p.r, &mut buf, 1);
        submit_unblocked(&ctx, &mut cb).map_err(|e| format!("{what}: {e}"))?;
        ctx.no_events(ms(50)).map_err(|e| format!("{what}: {e}"))?;
        let mut args = kaio_cancel_match_args { key: &cb as *const Iocb as u64, ..cm(ctx.id, KAIO_CANCEL_IOCB) };
        want_eq!(format!("{what}: cancel of the waiting read"), cancel_match(k.fd, &mut args), Ok(1));
        let ev = ctx.wait_events(1, PROMPT)?;
        check_event(what, &ev[0], 1, &cb, RES_ECANCELED)?;
        let mut cb = read_iocb(p.r, &mut buf, 2);
        submit_unblocked(&ctx, &mut cb).map_err(|e| format!("{what}: {e}"))?;
        ctx.no_events(ms(50)).map_err(|e| format!("{what}: {e}"))?;
        write_all(p.w, b"xyz")?;
        let ev = ctx.wait_events(1, PROMPT).map_err(|e| format!("{what}: {e}"))?;
        check_event(what, &ev[0], 2, &cb, 3)?;
        want_eq!(format!("{what}: bytes"), &buf[..3], b"xyz");
    }
    let p = fifo_pair()?;
    let msg = vec![3u8; 256 * 1024];
    let mut cb = write_iocb(p.w, &msg, 3);
    submit_unblocked(&ctx, &mut cb)?;
    ctx.no_events(ms(50))?;
    let mut got = 0usize;
    let deadline = Instant::now() + PROMPT;
    while got < msg.len() && Instant::now() < deadline {
        let mut buf = vec![0u8; 65536];
        // SAFETY: a valid buffer; the FIFO has a writer in flight.
        let n = unsafe { libc::read(p.r, buf.as_mut_ptr().cast(), buf.len()) };
        check!(n > 0, "read from the FIFO: {n}");
        got += n as usize;
    }
    want_eq!("bytes through the FIFO", got, msg.len());
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("FIFO write", &ev[0], 3, &cb, msg.len() as i64)?;
    Ok(())
}

/// What a CLONE_VM child of `polled_rw_pollfree_signalfd` shares with its parent.
#[repr(C)]
struct PollfreeChild {
    dev: RawFd,
    ctx: u64,
    buf: [u8; 128],
    cb: Iocb,
    ptr: *mut Iocb,
    submit_ret: std::sync::atomic::AtomicI64,
    go: std::sync::atomic::AtomicBool,
}

extern "C" fn pollfree_child(arg: *mut libc::c_void) -> libc::c_int {
    // Only raw system calls: this task shares the parent's memory (and its TLS).
    // SAFETY: the parent keeps the block alive until it has reaped this child.
    let a = unsafe { &mut *(arg as *mut PollfreeChild) };
    let set: u64 = 1 << (libc::SIGUSR2 - 1);
    // SAFETY: raw system calls with valid pointers into the shared block or this stack.
    unsafe {
        libc::syscall(libc::SYS_rt_sigprocmask, libc::SIG_BLOCK, &set as *const u64, 0usize, 8usize);
        // Blocking (no SFD_NONBLOCK): the read waits, on this task's sighand queue.
        let sfd = libc::syscall(libc::SYS_signalfd4, -1, &set as *const u64, 8usize, libc::SFD_CLOEXEC);
        a.cb = Iocb { aio_buf: a.buf.as_mut_ptr() as u64, aio_nbytes: 128, ..iocb(IOCB_CMD_PREAD, sfd as RawFd, 0x5f) };
        a.ptr = &mut a.cb;
        let args = kaio_submit_args { ctx_id: a.ctx, nr: 1, iocbpp: &a.ptr as *const *mut Iocb as u64 };
        let r = libc::syscall(libc::SYS_ioctl, a.dev, KAIO_IOC_SUBMIT as libc::c_ulong, &args as *const kaio_submit_args);
        a.submit_ret.store(if sfd < 0 { -1000 } else { r as i64 }, SeqCst);
        while !a.go.load(SeqCst) {
            libc::syscall(libc::SYS_sched_yield);
        }
    }
    0
}

/// POLLFREE: a CLONE_VM child (same mm, its own sighand) reads its blocking signalfd through
/// the parent's POLLED_RW context and exits; reaping it frees the sighand, whose signalfd
/// queue is woken with POLLFREE while the read waits on it. The read ends with -ECANCELED
/// (the queue is gone; the retry finds nothing), once, and nothing touches the freed queue
/// (KASAN in the debug guest). Also with the read cancelled while the child is reaped.
fn polled_rw_pollfree_signalfd() -> CaseResult {
    let k = Kaio::open()?;
    let ctx = polled_ctx(&k, 8)?;
    let mut stack = vec![0u8; 256 * 1024];
    let top = ((stack.as_mut_ptr() as usize + stack.len()) & !15) as *mut libc::c_void;
    for round in 0..20 {
        let mut a = Box::new(PollfreeChild {
            dev: k.fd,
            ctx: ctx.id,
            buf: [0; 128],
            cb: Iocb::default(),
            ptr: std::ptr::null_mut(),
            submit_ret: std::sync::atomic::AtomicI64::new(i64::MIN),
            go: std::sync::atomic::AtomicBool::new(false),
        });
        let ap = &mut *a as *mut PollfreeChild as *mut libc::c_void;
        // SAFETY: a CLONE_VM child on its own stack making only raw system calls; reaped below
        // before the stack and the block go away.
        let pid = unsafe { libc::clone(pollfree_child, top, libc::CLONE_VM | libc::SIGCHLD, ap) };
        check!(pid > 0, "clone: errno {}", kaio::raw::errno());
        let t0 = Instant::now();
        while a.submit_ret.load(SeqCst) == i64::MIN && t0.elapsed() < PROMPT {
            std::thread::yield_now();
        }
        let sr = a.submit_ret.load(SeqCst);
        let hammer = round % 2 == 1;
        let cancel = || {
            let mut args = kaio_cancel_match_args { key: 0x5f, ..cm(ctx.id, KAIO_CANCEL_DATA) };
            cancel_match(k.fd, &mut args)
        };
        let early = if sr == 1 { ctx.getev(0, 8, Some(ts(0, 10_000_000))) } else { Ok(vec![]) };
        a.go.store(true, SeqCst);
        let (mut status, w, cancelled) = std::thread::scope(|s| {
            let h = hammer.then(|| s.spawn(cancel));
            let mut status = 0;
            // SAFETY: reaps our child; this frees its sighand (POLLFREE).
            let w = unsafe { libc::waitpid(pid, &mut status, 0) };
            (status, w, h.map(|h| h.join().unwrap_or(Err(EINVAL))))
        });
        check!(sr == 1, "round {round}: the child's submit returned {sr}");
        want_eq!(format!("round {round}: events before POLLFREE"), early, Ok(vec![]));
        check!(w == pid, "round {round}: waitpid = {w}");
        let ev = ctx.wait_events(1, PROMPT).map_err(|e| format!("round {round}: after POLLFREE: {e}"))?;
        want_eq!(format!("round {round}: event"), (ev[0].data, ev[0].obj, ev[0].res), (0x5f, &a.cb as *const Iocb as u64, RES_ECANCELED));
        if let Some(c) = cancelled {
            check!(c == Ok(1) || c == Err(ENOENT) || c == Err(EALREADY), "round {round}: cancel racing POLLFREE: {c:?}");
        }
        ctx.no_events(Duration::ZERO).map_err(|e| format!("round {round}: {e}"))?;
        status = status & 0xffff;
        check!(status == 0, "round {round}: child status {status:#x}");
    }
    Ok(())
}

/// Several threads for a few seconds, on shared contexts: polled reads and writes on pipes and
/// socket pairs, feeders and drainers, io_cancel and CANCEL_MATCH (one, ALL by file, ANY,
/// WAIT), and contexts destroyed with requests waiting and set up again. Every request
/// reaped gets exactly one event, with a result in range (bytes moved within the asked length,
/// or -ECANCELED only after a cancel was tried on it or its context); every destroy returns.
fn polled_rw_mixed_storm() -> CaseResult {
    use std::collections::HashMap;
    use std::sync::Mutex;
    const THREADS: usize = 4;
    const SLOTS: usize = 64;
    let k = Kaio::open()?;
    let pairs = [pipe_pair()?, socketpair(libc::SOCK_STREAM, "unix-stream")?, pipe_pair()?, socketpair(libc::SOCK_DGRAM, "unix-dgram")?];
    /// One request in flight: its buffer and what it asked.
    struct Slot {
        cb: Box<Iocb>,
        _buf: Box<[u8]>,
        len: i64,
        cancel_tried: bool,
    }
    struct Shared {
        ctx: u64,
        live: HashMap<u64, Slot>,
        next: u64,
    }
    let setup = || -> Result<u64, String> {
        let mut id = 0u64;
        kaio::raw::setup_with_flags(k.fd, 256, KAIO_SETUP_POLLED_RW, &mut id).map_err(|e| format!("setup: {:?}", Errno(e)))?;
        Ok(id)
    };
    let shared = Mutex::new(Shared { ctx: setup()?, live: HashMap::new(), next: 1 });
    let problems = Mutex::new(Vec::<String>::new());
    let counts = Mutex::new([0u64; 6]); // events, bytes, cancelled, destroys, io_cancel won, match won
    let deadline = Instant::now() + Duration::from_secs(4);
    let reap = |sh: &mut Shared, min: i64| {
        let mut evs = [IoEvent::default(); 32];
        let t = ts(0, if min > 0 { 20_000_000 } else { 0 });
        match kaio::raw::getevents(k.fd, sh.ctx, min, 32, evs.as_mut_ptr(), &t) {
            Ok(n) => {
                for ev in &evs[..n as usize] {
                    let mut c = counts.lock().unwrap();
                    c[0] += 1;
                    match sh.live.remove(&ev.data) {
                        None => problems.lock().unwrap().push(format!("event for unknown or already reaped request {ev:?}")),
                        Some(slot) => {
                            if ev.obj != &*slot.cb as *const Iocb as u64 {
                                problems.lock().unwrap().push(format!("event {ev:?} names another iocb"));
                            }
                            if ev.res == RES_ECANCELED {
                                c[2] += 1;
                                if !slot.cancel_tried {
                                    problems.lock().unwrap().push(format!("-ECANCELED without a cancel: {ev:?}"));
                                }
                            } else if ev.res <= 0 || ev.res > slot.len {
                                problems.lock().unwrap().push(format!("result {} for a request of {} bytes", ev.res, slot.len));
                            } else {
                                c[1] += ev.res as u64;
                            }
                        }
                    }
                }
            }
            Err(e) => problems.lock().unwrap().push(format!("getevents: {:?}", Errno(e))),
        }
    };
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (shared, problems, counts, pairs, reap, setup) = (&shared, &problems, &counts, &pairs, &reap, &setup);
            s.spawn(move || {
                let mut r = 0x9e3779b97f4a7c15u64 ^ (t as u64 + 1);
                let mut rnd = |n: u64| {
                    r ^= r << 13;
                    r ^= r >> 7;
                    r ^= r << 17;
                    r % n
                };
                while Instant::now() < deadline {
                    let p = &pairs[rnd(pairs.len() as u64) as usize];
                    match rnd(100) {
                        // Submit a read or a write.
                        0..=39 => {
                            let mut sh = shared.lock().unwrap();
                            if sh.live.len() >= SLOTS {
                                reap(&mut sh, 0);
                                continue;
                            }
                            let big = p.what == "pipe" && rnd(4) == 0;
                            let len = 1 + rnd(if big { 200_000 } else { 64 }) as usize;
                            let mut buf = vec![0x42u8; len].into_boxed_slice();
                            let data = sh.next;
                            sh.next += 1;
                            let write = rnd(3) == 0;
                            let mut cb = Box::new(if write { write_iocb(p.w, &buf, data) } else { read_iocb(p.r, &mut buf, data) });
                            let ctx = sh.ctx;
                            let ptr: [*mut Iocb; 1] = [&mut *cb];
                            match kaio::raw::submit(k.fd, ctx, 1, ptr.as_ptr()) {
                                Ok(1) => {
                                    sh.live.insert(data, Slot { cb, _buf: buf, len: len as i64, cancel_tried: false });
                                }
                                r => problems.lock().unwrap().push(format!("submit on {}: {r:?}", p.what)),
                            }
                        }
                        // Feed or drain a socket without blocking (pipes are fed and drained by
                        // the polled requests themselves: their ends block).
                        40..=59 => {
                            if p.what == "pipe" {
                                continue;
                            }
                            if rnd(2) == 0 {
                                let b = [0x61u8; 128];
                                // SAFETY: a valid buffer.
                                unsafe { libc::send(p.w, b.as_ptr().cast(), 1 + rnd(128) as usize, libc::MSG_DONTWAIT) };
                            } else {
                                let mut d = [0u8; 4096];
                                // SAFETY: a valid buffer.
                                unsafe { libc::recv(p.r, d.as_mut_ptr().cast(), d.len(), libc::MSG_DONTWAIT) };
                            }
                        }
                        // Cancel one (io_cancel or CANCEL_MATCH by data), by file, or all.
                        60..=79 => {
                            let mut sh = shared.lock().unwrap();
                            let ctx = sh.ctx;
                            let keys: Vec<u64> = sh.live.keys().copied().collect();
                            if keys.is_empty() {
                                continue;
                            }
                            let key = keys[rnd(keys.len() as u64) as usize];
                            let how = rnd(4);
                            match how {
                                0 | 1 => {
                                    let slot = sh.live.get_mut(&key).unwrap();
                                    slot.cancel_tried = true;
                                    let cb: *mut Iocb = &mut *slot.cb;
                                    let r = if how == 0 {
                                        kaio::raw::cancel(k.fd, ctx, cb, std::ptr::null_mut()).map_err(Errno)
                                    } else {
                                        cancel_match(k.fd, &mut kaio_cancel_match_args { key, ..cm(ctx, KAIO_CANCEL_DATA) })
                                    };
                                    match r {
                                        Err(e) if e == EINPROGRESS || e == EINVAL || e == EALREADY || e == ENOENT => {
                                            if e == EINPROGRESS {
                                                counts.lock().unwrap()[4] += 1;
                                            }
                                        }
                                        Ok(1) => counts.lock().unwrap()[5] += 1,
                                        r => problems.lock().unwrap().push(format!("cancel ({how}): {r:?}")),
                                    }
                                }
                                _ => {
                                    for slot in sh.live.values_mut() {
                                        slot.cancel_tried = true;
                                    }
                                    let mut a = if how == 2 { kaio_cancel_match_args { fd: p.r, ..cm(ctx, KAIO_CANCEL_FD | KAIO_CANCEL_ALL) } } else { cm(ctx, KAIO_CANCEL_ANY | KAIO_CANCEL_WAIT) };
                                    a.timeout = 0;
                                    match cancel_match(k.fd, &mut a) {
                                        Ok(_) => {}
                                        Err(e) if e == ENOENT || e == EALREADY => {}
                                        r => problems.lock().unwrap().push(format!("cancel_match ALL ({how}): {r:?}")),
                                    }
                                }
                            }
                            reap(&mut sh, 0);
                        }
                        // Reap.
                        80..=96 => {
                            let mut sh = shared.lock().unwrap();
                            reap(&mut sh, 0);
                        }
                        // Destroy with requests waiting, and set up a new context.
                        _ => {
                            let mut sh = shared.lock().unwrap();
                            let t0 = Instant::now();
                            match kaio::raw::destroy(k.fd, sh.ctx) {
                                Ok(0) => {}
                                r => problems.lock().unwrap().push(format!("destroy: {r:?}")),
                            }
                            if t0.elapsed() > Duration::from_secs(5) {
                                problems.lock().unwrap().push(format!("destroy took {:?}", t0.elapsed()));
                            }
                            counts.lock().unwrap()[3] += 1;
                            // Their events went with the ring.
                            sh.live.clear();
                            match setup() {
                                Ok(id) => sh.ctx = id,
                                Err(e) => problems.lock().unwrap().push(e),
                            }
                        }
                    }
                }
            });
        }
    });
    // The end: cancel everything, reap everything.
    let mut sh = shared.lock().unwrap();
    for slot in sh.live.values_mut() {
        slot.cancel_tried = true;
    }
    let mut a = cm(sh.ctx, KAIO_CANCEL_ANY | KAIO_CANCEL_WAIT);
    let r = cancel_match(k.fd, &mut a);
    let t0 = Instant::now();
    while !sh.live.is_empty() && t0.elapsed() < PROMPT {
        reap(&mut sh, 1);
    }
    let left = sh.live.len();
    // Destroyed before any check can return: a context left behind (it lives with its ring
    // mapping until destroy or exit) would show in the cases after this one.
    let destroyed = kaio::raw::destroy(k.fd, sh.ctx).map_err(Errno);
    drop(sh);
    // EALREADY (ABI): every match was running (a write part done, or an attempt under way),
    // asked to stop and waited for; their events were reaped above like the others.
    check!(matches!(r, Ok(_)) || r == Err(ENOENT) || r == Err(EALREADY), "final cancel ANY|WAIT: {r:?}");
    check_eq!(destroyed, Ok(0));
    let c = counts.lock().unwrap();
    eprintln!("# polled_rw_mixed_storm: {} events, {} bytes moved, {} cancelled, {} io_cancel won, {} match won, {} destroys", c[0], c[1], c[2], c[4], c[5], c[3]);
    let p = problems.lock().unwrap();
    check!(p.is_empty(), "{} problems, first: {:?}", p.len(), &p[..p.len().min(5)]);
    check!(left == 0, "{left} requests never got their event");
    check!(c[0] > 100 && c[2] > 10, "too little happened: {:?}", *c);
    Ok(())
}

/// The process writes to its own pipe, then reaps with io_getevents: the attempt the wake-up
/// hands on is made once, by the worker or by the reaper if it gets there first (the module
/// counts which), with the bytes written.
fn polled_rw_self_readied_read_made_once() -> CaseResult {
    let k = Kaio::open()?;
    let ctx = polled_ctx(&k, 8)?;
    let p = pipe_pair()?;
    let rounds = 20;
    let base = retries()?;
    for round in 0..rounds {
        let mut buf = [0u8; 64];
        let mut cb = read_iocb(p.r, &mut buf, round);
        submit_unblocked(&ctx, &mut cb)?;
        let data = [b'a' + round as u8; 7];
        write_all(p.w, &data)?;
        let ev = ctx.wait_events(1, PROMPT)?;
        check_event("read", &ev[0], round, &cb, 7)?;
        want_eq!("bytes read", &buf[..7], &data);
    }
    let Retries { worker, reaper, task } = retries()? - base;
    println!("# {rounds} reads made ready by the process itself: {task} attempts made by the writing task, {reaper} by the reaper, {worker} by the worker");
    want_eq!("attempts made after a hand-off", worker + reaper + task, rounds as i64);
    // The writing task makes them on its way back from write(2), before it can reap; only the
    // ready worker of an earlier round, firing in between, may take one.
    check!(task >= rounds as i64 / 2, "the writing task made only {task} of {rounds} attempts");
    Ok(())
}

/// A thread sleeps in io_getevents while another writes to the pipe: the wake-up queues no
/// worker but wakes the sleeper, which makes the attempt; one event each round, the bytes
/// written, one attempt. (A round where the reaper was not asleep yet when the write came goes
/// to the worker: the sleeper is given 50 ms to fall asleep, so most rounds must be its.)
fn polled_rw_sleeping_reaper_woken_for_the_attempt() -> CaseResult {
    let k = Kaio::open()?;
    let ctx = polled_ctx(&k, 8)?;
    let p = pipe_pair()?;
    let rounds = 20u64;
    let base = retries()?;
    for round in 0..rounds {
        let mut buf = [0u8; 64];
        let mut cb = read_iocb(p.r, &mut buf, round);
        submit_unblocked(&ctx, &mut cb)?;
        let ev = std::thread::scope(|s| {
            let reaper = s.spawn(|| ctx.wait_events(1, PROMPT));
            // Let the reaper fall asleep first.
            std::thread::sleep(ms(50));
            write_all(p.w, b"0123456789")?;
            reaper.join().map_err(|_| "reaper thread panicked".to_string())?
        })?;
        check_event("read", &ev[0], round, &cb, 10)?;
        want_eq!("bytes read", &buf[..10], b"0123456789");
    }
    let Retries { worker, reaper, task } = retries()? - base;
    println!("# {rounds} reads made ready by another thread: {reaper} attempts made by the sleeping reaper, {task} by the writing thread, {worker} by the worker");
    want_eq!("attempts made after a hand-off", worker + reaper + task, rounds as i64);
    check!(reaper >= rounds as i64 / 2, "the sleeping reaper made only {reaper} of {rounds} attempts");
    Ok(())
}

/// The process writes to its own pipe and then only watches the mapped ring, never entering
/// io_getevents: the writing task makes the attempt on its way back from write(2), so the
/// event is in the ring when write returns (or, if the ready worker queued beside it got there
/// first, it appears soon after).
fn polled_rw_ring_watcher_gets_the_event() -> CaseResult {
    let k = Kaio::open()?;
    let ctx = polled_ctx(&k, 8)?;
    let p = pipe_pair()?;
    let base = retries()?;
    let mut buf = [0u8; 64];
    let mut cb = read_iocb(p.r, &mut buf, 42);
    submit_unblocked(&ctx, &mut cb)?;
    write_all(p.w, b"ring")?;
    let at_return = ring_unread(ctx.id).first().copied();
    let t = Instant::now();
    let ev = loop {
        if let Some(ev) = ring_unread(ctx.id).first() {
            break *ev;
        }
        check!(t.elapsed() < PROMPT, "no event in the ring after {:?}", t.elapsed());
        std::thread::yield_now();
    };
    println!("# the event was in the ring when write returned: {}", at_return.is_some());
    check_event("read", &ev, 42, &cb, 4)?;
    want_eq!("bytes read", &buf[..4], b"ring");
    let got = retries()? - base;
    want_eq!("attempts by reapers", got.reaper, 0);
    want_eq!("attempts by the writing task and the worker", got.task + got.worker, 1);
    if got.task == 1 {
        check!(at_return.is_some(), "the writing task made the attempt, yet the event was not in the ring when write returned");
    }
    Ok(())
}

/// A blocking write(2) that readies the process's own polled read and then sleeps for room
/// (more than the pipe holds): its task cannot make the attempt it was handed before the write
/// returns, and the write cannot return before the read makes room. The ready worker queued
/// beside the task's attempt makes it: the write completes in full, the read gets the first
/// 4096 bytes, and the task's attempt finds nothing left. Without the worker this hangs.
fn polled_rw_readying_write_blocks() -> CaseResult {
    let k = Kaio::open()?;
    let ctx = polled_ctx(&k, 8)?;
    let p = pipe_pair()?;
    // SAFETY: fcntl on a pipe fd we own.
    let cap = unsafe { libc::fcntl(p.w, libc::F_GETPIPE_SZ) };
    check!(cap > 0, "F_GETPIPE_SZ: errno {}", kaio::raw::errno());
    let base = retries()?;
    let mut buf = vec![0u8; 4096];
    let mut cb = Iocb { aio_buf: buf.as_mut_ptr() as u64, aio_nbytes: 4096, ..iocb(IOCB_CMD_PREAD, p.r, 77) };
    submit_unblocked(&ctx, &mut cb)?;
    let data: Vec<u8> = (0..cap as usize + 4096).map(|i| (i % 251) as u8).collect();
    let t = Instant::now();
    write_all(p.w, &data)?;
    println!("# a {}-byte write into a {cap}-byte pipe returned after {:?}", data.len(), t.elapsed());
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("read", &ev[0], 77, &cb, 4096)?;
    want_eq!("bytes read", &buf[..], &data[..4096]);
    set_nonblock(p.r, true);
    let mut rest = Vec::new();
    loop {
        let chunk = read_now(p.r, 65536);
        if chunk.is_empty() {
            break;
        }
        rest.extend_from_slice(&chunk);
    }
    check!(rest == data[4096..], "the pipe held {} bytes after the read, want the {} after its 4096", rest.len(), data.len() - 4096);
    let got = retries()? - base;
    want_eq!("attempts (worker, reaper, task)", (got.worker, got.reaper, got.task), (1, 0, 0));
    Ok(())
}

/// The module's reference count (`/sys/module/kaio/refcnt`).
fn module_refcnt() -> Result<i64, String> {
    let v = std::fs::read_to_string("/sys/module/kaio/refcnt").map_err(|e| format!("refcnt: {e}"))?;
    v.trim().parse().map_err(|e| format!("refcnt {v:?}: {e}"))
}

/// A child readies its own polled read with a blocking write of twice what the pipe holds:
/// the wake-up queues the read as task work of the child and the ready worker makes it, but
/// the child never returns from its write (the pipe fills again), so its task work stays
/// queued, holding a reference on the module beside the child's open `/dev/kaio`. Killed, the
/// child runs it in its exit, without an address space (it does nothing then), and the
/// reference goes: the module's count is back where it was.
fn polled_rw_task_work_pending_at_exit() -> CaseResult {
    let base = module_refcnt()?;
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    check!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == 0, "pipe2: errno {}", kaio::raw::errno());
    let (ready_r, ready_w) = (fds[0], fds[1]);
    // SAFETY: fork; the child uses system calls only and leaves by _exit or SIGKILL.
    let pid = unsafe { libc::fork() };
    check!(pid >= 0, "fork: errno {}", kaio::raw::errno());
    if pid == 0 {
        let child = || -> Result<(), String> {
            let k = Kaio::open()?;
            let ctx = polled_ctx(&k, 8)?;
            let p = pipe_pair()?;
            // SAFETY: fcntl on a pipe fd we own.
            let cap = unsafe { libc::fcntl(p.w, libc::F_GETPIPE_SZ) };
            let mut buf = vec![0u8; 4096];
            let mut cb = Iocb { aio_buf: buf.as_mut_ptr() as u64, aio_nbytes: 4096, ..iocb(IOCB_CMD_PREAD, p.r, 1) };
            check_eq!(ctx.submit1(&mut cb), Ok(1));
            let data = vec![7u8; 2 * cap.max(4096) as usize];
            // SAFETY: valid buffers; the second write blocks until the child is killed.
            unsafe {
                libc::write(ready_w, b"x".as_ptr().cast(), 1);
                libc::write(p.w, data.as_ptr().cast(), data.len());
            }
            Err("the write returned".into())
        };
        let _ = child();
        // SAFETY: leaves the child without running the parent's destructors.
        unsafe { libc::_exit(1) };
    }
    // SAFETY: our copy of the write end.
    unsafe { libc::close(ready_w) };
    let mut byte = [0u8; 1];
    // SAFETY: a valid one-byte buffer; blocks until the child is about to write (or exits).
    let n = unsafe { libc::read(ready_r, byte.as_mut_ptr().cast(), 1) };
    // SAFETY: our read end.
    unsafe { libc::close(ready_r) };
    // The ready worker makes the read a jiffy after the wake-up; then the pipe fills again.
    std::thread::sleep(ms(300));
    let during = module_refcnt()?;
    // SAFETY: our own child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let status = wait_child(pid, PROMPT)?;
    check!(n == 1, "the child did not get to its write (status {status:#x})");
    want_eq!("module references while the child sleeps in its write: its /dev/kaio, its task work", during - base, 2);
    let t = Instant::now();
    let mut after = module_refcnt()?;
    while after != base && t.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(ms(10));
        after = module_refcnt()?;
    }
    want_eq!("module references after the child's exit", after - base, 0);
    Ok(())
}

/// io_destroy right after the process made its own read ready (the attempt handed on to the
/// worker or a reaper): destroy returns with the read's one completion done (its
/// eventfd signalled once before destroy returns), and the pipe holds exactly what the read did
/// not take: nothing if it read, the 3 bytes if the teardown stopped it first.
fn polled_rw_destroy_with_attempt_handed_on() -> CaseResult {
    let k = Kaio::open()?;
    let (mut read, mut stopped) = (0, 0);
    for round in 0..20u64 {
        let ctx = polled_ctx(&k, 8)?;
        let p = pipe_pair()?;
        let efd = EventFd::new()?;
        let mut buf = [0u8; 64];
        let mut cb = read_iocb(p.r, &mut buf, round);
        cb.aio_flags |= IOCB_FLAG_RESFD;
        cb.aio_resfd = efd.0 as u32;
        submit_unblocked(&ctx, &mut cb)?;
        write_all(p.w, b"xyz")?;
        want_eq!(format!("round {round}: io_destroy"), ctx.destroy(), Ok(0));
        want_eq!(format!("round {round}: completions signalled when destroy returned"), efd.take(), 1);
        set_nonblock(p.r, true);
        match read_now(p.r, 8).as_slice() {
            b"" => {
                want_eq!(format!("round {round}: bytes the read took"), &buf[..3], b"xyz");
                read += 1;
            }
            b"xyz" => stopped += 1,
            left => return Err(format!("round {round}: after destroy the pipe held {left:?}")),
        }
    }
    println!("# destroy after the hand-off: the read took the bytes {read} times, was stopped {stopped} times");
    Ok(())
}

/// The race of `polled_rw_race_data_vs_cancel` with the read made by a reaper asleep in
/// io_getevents (woken by the write) rather than by the worker: each round one event, and the
/// byte read exactly when the event says so; the cancel wins some rounds and loses others.
fn polled_rw_race_sleeping_reaper_vs_cancel() -> CaseResult {
    let k = Kaio::open()?;
    let ctx = polled_ctx(&k, 8)?;
    let p = pipe_pair()?;
    let (mut got, mut cancelled, mut running) = (0, 0, 0);
    let base = retries()?;
    let t0 = Instant::now();
    let mut rounds = 0u64;
    while rounds < 400 && t0.elapsed() < Duration::from_secs(8) {
        rounds += 1;
        let mut buf = [0u8; 1];
        let mut cb = read_iocb(p.r, &mut buf, rounds);
        submit_unblocked(&ctx, &mut cb)?;
        let (r, ev) = std::thread::scope(|s| {
            let reaper = s.spawn(|| ctx.wait_events(1, PROMPT));
            // Asleep by then, mostly; the write and the cancel 0 to ~200 µs apart.
            std::thread::sleep(ms(2));
            write_all(p.w, b"d")?;
            let spin = Instant::now();
            let delay = Duration::from_micros((rounds * 13) % 200);
            while spin.elapsed() < delay {
                std::hint::spin_loop();
            }
            let mut args = kaio_cancel_match_args { key: &cb as *const Iocb as u64, ..cm(ctx.id, KAIO_CANCEL_IOCB) };
            let r = (cancel_match(k.fd, &mut args), args.nr_running);
            let ev = reaper.join().map_err(|_| "reaper thread panicked".to_string())?;
            Ok::<_, String>((r, ev.map_err(|e| format!("round {rounds}: {e}"))?))
        })?;
        set_nonblock(p.r, true);
        let left = read_now(p.r, 8);
        set_nonblock(p.r, false);
        match (r, ev[0].res) {
            ((Ok(1), 0), RES_ECANCELED) => {
                cancelled += 1;
                want_eq!(format!("round {rounds}: cancelled, the byte stays"), left, b"d".to_vec());
            }
            ((Err(e), _), 1) if e == ENOENT => {
                got += 1;
                want_eq!(format!("round {rounds}: read, nothing left"), left, Vec::<u8>::new());
            }
            ((Err(e), 1), res) if e == EALREADY && (res == 1 || res == RES_ECANCELED) => {
                running += 1;
                let want: &[u8] = if res == 1 { b"" } else { b"d" };
                want_eq!(format!("round {rounds}: running, res {res}"), left, want.to_vec());
            }
            (r, res) => return Err(format!("round {rounds}: cancel {r:?}, event res {res}")),
        }
        ctx.no_events(Duration::ZERO)?;
    }
    let Retries { worker, reaper, task } = retries()? - base;
    println!("# {rounds} rounds: {got} read, {cancelled} cancelled, {running} found running; attempts by the reaper {reaper}, by the writing thread {task}, by the worker {worker}");
    check!(cancelled > 0 && got + running > 0, "the race never went both ways ({got} read, {cancelled} cancelled)");
    check!(reaper > 0, "no attempt was made by the sleeping reaper");
    Ok(())
}

/// A thread sleeps in io_getevents; another writes to the pipe and destroys the context at once,
/// so the destroy meets the attempt handed on to the sleeper (no worker queued for it): destroy
/// returns with the read's completion signalled exactly once, the sleeper returns, and the pipe
/// holds exactly what the read did not take.
fn polled_rw_destroy_while_reaper_sleeps() -> CaseResult {
    let k = Kaio::open()?;
    let (mut read, mut stopped, mut reaped) = (0, 0, 0);
    for round in 0..40u64 {
        let ctx = polled_ctx(&k, 8)?;
        let p = pipe_pair()?;
        let efd = EventFd::new()?;
        let mut buf = [0u8; 64];
        let mut cb = read_iocb(p.r, &mut buf, round);
        cb.aio_flags |= IOCB_FLAG_RESFD;
        cb.aio_resfd = efd.0 as u32;
        submit_unblocked(&ctx, &mut cb)?;
        let got = std::thread::scope(|s| {
            let reaper = s.spawn(|| ctx.getev(1, 1, Some(ts(20, 0))));
            std::thread::sleep(ms(5));
            write_all(p.w, b"xyz")?;
            // 0 to ~100 µs after the write.
            let spin = Instant::now();
            while spin.elapsed() < Duration::from_micros((round * 3) % 100) {
                std::hint::spin_loop();
            }
            want_eq!(format!("round {round}: io_destroy"), ctx.destroy(), Ok(0));
            want_eq!(format!("round {round}: completions signalled when destroy returned"), efd.take(), 1);
            reaper.join().map_err(|_| "reaper thread panicked".to_string())
        })?;
        // The sleeper reaped the event, or found the context gone (EINVAL, as Linux).
        match got {
            Ok(ev) if ev.len() == 1 => reaped += 1,
            Err(e) if e == EINVAL => {}
            r => return Err(format!("round {round}: the sleeping io_getevents gave {r:?}")),
        }
        set_nonblock(p.r, true);
        match read_now(p.r, 8).as_slice() {
            b"" => {
                want_eq!(format!("round {round}: bytes the read took"), &buf[..3], b"xyz");
                read += 1;
            }
            b"xyz" => stopped += 1,
            left => return Err(format!("round {round}: after destroy the pipe held {left:?}")),
        }
    }
    println!("# destroy while the reaper sleeps: the read took the bytes {read} times, was stopped {stopped} times; the sleeper reaped the event {reaped} times");
    Ok(())
}

/// The context's `in_flight` line in debugfs (requests in its index).
fn listed_now(ctx: &Ctx) -> Result<String, String> {
    let path = format!("/sys/kernel/debug/kaio/{}/{:#x}", std::process::id(), ctx.id);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("in_flight "))
        .map(str::to_string)
        .ok_or_else(|| format!("{path}: no in_flight line"))
}

/// Reads of one byte submitted in one call while another thread writes the bytes and a third
/// sleeps in io_getevents, io_submit waiting 100 µs while it arms each read on the pipe, before
/// parking and listing it (`race_delay_us`): wake-ups land in that window (io_submit then
/// reads the byte itself), or after it (the attempt is handed on to the reaper or the writer).
/// Every read takes one byte, with one event, and after each round nothing is left in the
/// context's index. (When a wake-up in that window handed the attempt on, the read could
/// complete before io_submit listed it, and a request listed after its event would stay there:
/// the context's teardown would wait for it for ever, so the rounds run in a child, whose exit
/// would hang.)
fn polled_rw_race_wake_during_submit() -> CaseResult {
    // io_submit's busy waits while it arms each read (before parking and listing it), put back after.
    let _delay = set_param("/sys/module/kaio/parameters/race_delay_us", 100)?;
    in_child(Duration::from_secs(15), wake_during_submit_rounds)
}

fn wake_during_submit_rounds() -> CaseResult {
    const BATCH: usize = 8;
    let k = Kaio::open()?;
    let ctx = polled_ctx(&k, 64)?;
    let p = pipe_pair()?;
    let base = retries()?;
    let t0 = Instant::now();
    let mut rounds = 0u64;
    while rounds < 100 && t0.elapsed() < Duration::from_secs(6) {
        rounds += 1;
        let mut bufs = [[0u8; 1]; BATCH];
        let mut cbs: Vec<Iocb> = bufs.iter_mut().enumerate().map(|(i, b)| read_iocb(p.r, b, i as u64)).collect();
        let ptrs: Vec<*mut Iocb> = cbs.iter_mut().map(|c| c as *mut Iocb).collect();
        let go = AtomicBool::new(false);
        let (submitted, events) = std::thread::scope(|s| {
            let reaper = s.spawn(|| ctx.wait_events(BATCH, PROMPT));
            let writer = s.spawn(|| {
                while !go.load(SeqCst) {
                    std::hint::spin_loop();
                }
                // 0 to ~400 µs after io_submit began (each read waits 100 µs in it), a byte at
                // a time.
                let spin = Instant::now();
                while spin.elapsed() < Duration::from_micros((rounds * 37) % 400) {
                    std::hint::spin_loop();
                }
                for i in 0..BATCH {
                    write_all(p.w, &[b'a' + i as u8])?;
                }
                Ok::<(), String>(())
            });
            go.store(true, SeqCst);
            let submitted = ctx.submit(&ptrs);
            writer.join().map_err(|_| "writer thread panicked".to_string())??;
            let events = reaper.join().map_err(|_| "reaper thread panicked".to_string())?;
            Ok::<_, String>((submitted, events.map_err(|e| format!("round {rounds}: {e}"))?))
        })?;
        want_eq!(format!("round {rounds}: io_submit"), submitted, Ok(BATCH as i64));
        let mut data: Vec<u64> = events.iter().map(|e| e.data).collect();
        data.sort_unstable();
        want_eq!(format!("round {rounds}: one event per read"), data, (0..BATCH as u64).collect::<Vec<_>>());
        for e in &events {
            want_eq!(format!("round {rounds}: read {} took one byte", e.data), e.res, 1);
        }
        let mut got: Vec<u8> = bufs.iter().map(|b| b[0]).collect();
        got.sort_unstable();
        want_eq!(format!("round {rounds}: the bytes written, each read once"), got, (0..BATCH as u8).map(|i| b'a' + i).collect::<Vec<_>>());
        // A completion posts its event, then unlists the request: a reaper can see the event
        // a moment before. Only an entry that stays is wrong.
        let mut listed = listed_now(&ctx)?;
        let t = Instant::now();
        while listed != "0" && t.elapsed() < Duration::from_millis(500) {
            std::thread::sleep(ms(10));
            listed = listed_now(&ctx)?;
        }
        if listed != "0" {
            // Its teardown would wait for ever: left to the exit, so that this is said first.
            ctx.forget();
            return Err(format!("round {rounds}: {listed} requests left in the index after their events"));
        }
        ctx.no_events(Duration::ZERO)?;
    }
    let Retries { worker, reaper, task } = retries()? - base;
    println!("# {rounds} rounds of {BATCH} reads: attempts after a wake-up by the reaper {reaper}, by the writing thread {task}, by the worker {worker}");
    check!(reaper + task + worker > 0, "no attempt was handed on: the writes never met a waiting read");
    Ok(())
}

/// A polled read on a FIFO open for reading and writing waits on two queues, the readers' and
/// the writers': io_submit registers one entry, then the other, and waits 1 ms between them
/// here (`race_delay_us`). A byte written in that wait wakes the first entry while the arming
/// goes on: the wake-up only marks it, and io_submit takes both entries back and reads the
/// byte itself. (When the wake-up handed the attempt on, it was made, and the read completed,
/// while io_submit went on to queue the second entry, which then held the completed request
/// and its file until the writers' queue was next woken: the context's teardown waited for
/// it.) Each round checks the read's one event and byte, and that once the FIFO is closed no
/// reader of it is left (opening it to write without blocking fails with ENXIO). A leftover is
/// cleared before the case fails (resizing the FIFO wakes the writers' queue), so that the
/// context's teardown ends.
fn polled_rw_race_wake_during_arming() -> CaseResult {
    // io_submit's busy waits while it arms a polled read, put back after.
    let _delay = set_param("/sys/module/kaio/parameters/race_delay_us", 1000)?;
    in_child(Duration::from_secs(30), wake_during_arming_rounds)
}

fn wake_during_arming_rounds() -> CaseResult {
    const ROUNDS: u64 = 8;
    let k = Kaio::open()?;
    let ctx = polled_ctx(&k, 8)?;
    let path = format!("/tmp/kaio-arming-fifo-{}\0", std::process::id());
    let mut inside = 0;
    for round in 1..=ROUNDS {
        let (r, w) = fifo_reader_writer(&path)?;
        let mut buf = [0u8; 1];
        let mut cb = read_iocb(r, &mut buf, round);
        let ptrs = [&mut cb as *mut Iocb];
        let go = AtomicBool::new(false);
        let (submitted, began, ended, wrote) = std::thread::scope(|s| {
            let writer = s.spawn(|| {
                while !go.load(SeqCst) {
                    std::hint::spin_loop();
                }
                // 300 µs into io_submit: inside its wait after the first entry.
                let spin = Instant::now();
                while spin.elapsed() < Duration::from_micros(300) {
                    std::hint::spin_loop();
                }
                let at = Instant::now();
                write_all(w, b"x")?;
                Ok::<Instant, String>(at)
            });
            let began = Instant::now();
            go.store(true, SeqCst);
            let submitted = ctx.submit(&ptrs);
            let ended = Instant::now();
            let wrote = writer.join().map_err(|_| "writer thread panicked".to_string())??;
            Ok::<_, String>((submitted, began, ended, wrote))
        })?;
        want_eq!(format!("round {round}: io_submit"), submitted, Ok(1));
        let events = ctx.wait_events(1, PROMPT)?;
        want_eq!(format!("round {round}: events"), events.len(), 1);
        want_eq!(format!("round {round}: the read's result"), events[0].res, 1);
        want_eq!(format!("round {round}: the byte read"), &buf, b"x");
        if began < wrote && wrote < ended {
            inside += 1;
        }
        // SAFETY: our descriptors, closed once.
        unsafe {
            libc::close(r);
            libc::close(w);
        }
        // The request's last reference (and its hold on the FIFO) may go a moment after its
        // event: only a reader that stays is wrong.
        let left = fifo_reader_left(&path, Duration::from_millis(500));
        if let Some(fd) = left {
            clear_fifo_writers_queue(fd);
            // SAFETY: a NUL-terminated path; our descriptor.
            unsafe {
                libc::close(fd);
                libc::unlink(path.as_ptr().cast());
            }
            return Err(format!("round {round}: the FIFO still has a reader after the read's event and the close (an entry of the completed request left queued)"));
        }
        // SAFETY: a NUL-terminated path.
        unsafe { libc::unlink(path.as_ptr().cast()) };
    }
    println!("# {inside} of {ROUNDS} bytes written while io_submit armed the read");
    check!(inside > 0, "no byte was written while io_submit armed the read: the window was never met");
    Ok(())
}

/// A new FIFO at `path` (NUL-terminated): one descriptor open for reading and writing (so
/// that a read on it waits on both queues), one for writing without blocking.
fn fifo_reader_writer(path: &str) -> Result<(RawFd, RawFd), String> {
    // SAFETY: NUL-terminated path.
    unsafe {
        libc::unlink(path.as_ptr().cast());
        if libc::mkfifo(path.as_ptr().cast(), 0o600) < 0 {
            return Err(format!("mkfifo: errno {}", kaio::raw::errno()));
        }
        let r = libc::open(path.as_ptr().cast(), libc::O_RDWR | libc::O_CLOEXEC);
        let w = libc::open(path.as_ptr().cast(), libc::O_WRONLY | libc::O_NONBLOCK | libc::O_CLOEXEC);
        if r < 0 || w < 0 {
            return Err(format!("open fifo: errno {}", kaio::raw::errno()));
        }
        Ok((r, w))
    }
}

/// A descriptor writing to the FIFO at `path` if it still has a reader after `within`, else
/// `None` (opening it to write without blocking fails with ENXIO once no reader is left).
fn fifo_reader_left(path: &str, within: Duration) -> Option<RawFd> {
    let t0 = Instant::now();
    loop {
        // SAFETY: NUL-terminated path.
        let fd = unsafe { libc::open(path.as_ptr().cast(), libc::O_WRONLY | libc::O_NONBLOCK | libc::O_CLOEXEC) };
        if fd < 0 {
            return None;
        }
        if t0.elapsed() > within {
            return Some(fd);
        }
        // SAFETY: our descriptor.
        unsafe { libc::close(fd) };
        std::thread::sleep(ms(10));
    }
}

/// Wakes the writers' queue of the FIFO `fd` writes to with no key, which takes any entry off
/// it (a key names events, and an entry waiting for others stays): resizing the pipe does
/// (`pipe_resize_ring`); a read that makes room wakes it with EPOLLOUT only.
fn clear_fifo_writers_queue(fd: RawFd) {
    for size in [8192, 65536] {
        // SAFETY: fcntl on our descriptor.
        unsafe { libc::fcntl(fd, libc::F_SETPIPE_SZ, size) };
    }
}

/// A polled read's attempt in a worker holds its process's address space (`mm_users`) while it
/// runs. If the process exits meanwhile, the worker's put is the last one and the address
/// space's teardown runs where it is put: the mmu notifier's release waits for the process's
/// requests, the one this worker is attempting among them, so it must not run on that worker
/// (it did, and the worker waited for itself for ever; the context was never freed). A child
/// submits a polled read on a pipe and waits; a thread of this process (another address
/// space, so the read goes to the ready worker) writes a byte on CPU 0, where the worker then
/// runs, held in the attempt for 1 ms (`race_delay_us`); meanwhile this thread, on CPU 1,
/// kills the child, which exits on CPU 1. Every round's context must be freed (`nr` back
/// where it was) and the child's `/dev/kaio` released (the module's reference count back).
fn polled_rw_worker_attempt_vs_exit() -> CaseResult {
    const ROUNDS: u64 = 12;
    const REFCNT: &str = "/sys/module/kaio/refcnt";
    let _delay = set_param("/sys/module/kaio/parameters/race_delay_us", 1000)?;
    let _affinity = Pin::here();
    let base = read_u64(KAIO_PARAM_NR)?;
    let base_refs = read_u64(REFCNT)?;
    for round in 0..ROUNDS {
        // Blocking: a read of an O_NONBLOCK pipe does not wait.
        let data = BlockingPipe::new()?;
        let said = Pipe::new()?;
        // SAFETY: the child only makes system calls and exits (or is killed).
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(format!("fork: errno {}", kaio::raw::errno()));
        }
        if pid == 0 {
            bind_to(1);
            let mut buf = [0u8; 1];
            let mut cb = read_iocb(data.r, &mut buf, round);
            let ok = submit_polled_read_alone(&mut cb);
            // SAFETY: one byte to the parent; then wait to be killed, never returning.
            unsafe {
                libc::write(said.w, if ok { b"k" } else { b"e" }.as_ptr().cast(), 1);
                loop {
                    libc::pause();
                }
            }
        }
        let answer = read_fd_byte(said.r, PROMPT);
        if answer != Some(b'k') {
            // SAFETY: our child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = wait_child(pid, PROMPT);
            return Err(format!("round {round}: the child's setup and submit: {answer:?}"));
        }
        // 0: the writer starts; 1: it is on CPU 0; 2: go; 3: it is writing.
        let step = AtomicUsize::new(0);
        std::thread::scope(|s| {
            s.spawn(|| {
                bind_to(0);
                step.store(1, SeqCst);
                while step.load(SeqCst) != 2 {
                    std::hint::spin_loop();
                }
                step.store(3, SeqCst);
                data.put();
            });
            bind_to(1);
            while step.load(SeqCst) != 1 {
                std::hint::spin_loop();
            }
            step.store(2, SeqCst);
            while step.load(SeqCst) != 3 {
                std::hint::spin_loop();
            }
            // Into the worker's millisecond: it starts on CPU 0 as the write returns.
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_micros(200) {
                std::hint::spin_loop();
            }
            // SAFETY: our child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        });
        wait_child(pid, PROMPT).map_err(|e| format!("round {round}: {e}"))?;
        let nr = wait_value(KAIO_PARAM_NR, base, PROMPT)?;
        if nr != base {
            return Err(format!("round {round}: nr {nr} 10 s after the child was reaped, {base} before it: its context was never freed"));
        }
        let refs = wait_value(REFCNT, base_refs, PROMPT)?;
        if refs != base_refs {
            return Err(format!("round {round}: the module's reference count {refs} 10 s after the child was reaped, {base_refs} before it: its file was never released"));
        }
    }
    Ok(())
}

/// In a forked child: opens /dev/kaio, sets up a `KAIO_SETUP_POLLED_RW` context and submits
/// `cb` there; false if any step fails.
fn submit_polled_read_alone(cb: &mut Iocb) -> bool {
    // SAFETY: a NUL-terminated path.
    let fd = unsafe { libc::open(c"/dev/kaio".as_ptr(), libc::O_RDWR) };
    let mut ctx = 0u64;
    let mut ptr = cb as *mut Iocb;
    fd >= 0
        && kaio::raw::setup_with_flags(fd, 4, KAIO_SETUP_POLLED_RW, &mut ctx).is_ok()
        && kaio::raw::submit(fd, ctx, 1, &mut ptr) == Ok(1)
}

/// One byte read from `fd` within `limit`, if any.
fn read_fd_byte(fd: RawFd, limit: Duration) -> Option<u8> {
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd.
    if unsafe { libc::poll(&mut pfd, 1, limit.as_millis() as i32) } != 1 {
        return None;
    }
    let mut b = [0u8; 1];
    // SAFETY: reads one byte into `b`.
    (unsafe { libc::read(fd, b.as_mut_ptr().cast(), 1) } == 1).then_some(b[0])
}

/// A UDP socket whose error queue holds a transmit timestamp reports `POLLERR`, yet a read
/// with no datagram queued would block (the error queue is read only with `MSG_ERRQUEUE`), as
/// read(2) does. A polled read of it must wait like one: io_submit returns, the read waits
/// (it tried again and again for as long as the entry stayed, in io_submit, where nothing
/// could stop it), and a datagram completes it. In a child, which a spinning io_submit would
/// leave stuck (`KAIO_BUG=polled_error_is_readiness`: the case fails after 20 s, and the CPU
/// spinning stalls RCU, so the guest cannot even power off: not in `make check-bugs`).
fn polled_rw_error_queue_is_not_readiness() -> CaseResult {
    let pair = udp_pair()?;
    let flags: libc::c_int = libc::SOF_TIMESTAMPING_TX_SOFTWARE as libc::c_int | libc::SOF_TIMESTAMPING_SOFTWARE as libc::c_int;
    // SAFETY: an int option of our socket.
    let r = unsafe {
        libc::setsockopt(pair.r, libc::SOL_SOCKET, libc::SO_TIMESTAMPING, (&flags as *const libc::c_int).cast(), 4)
    };
    check!(r == 0, "SO_TIMESTAMPING: errno {}", kaio::raw::errno());
    // A datagram to the peer: its transmit timestamp goes to this socket's error queue.
    write_all(pair.r, b"t")?;
    let mut pfd = libc::pollfd { fd: pair.r, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut pfd, 1, 2000) };
    check!(n == 1 && pfd.revents == libc::POLLERR, "poll(2) of the socket: {n}, revents {:#x} (POLLERR alone expected)", pfd.revents);
    in_child(PROMPT, || {
        let k = Kaio::open()?;
        let ctx = polled_ctx(&k, 4)?;
        let mut buf = [0u8; 16];
        let mut cb = read_iocb(pair.r, &mut buf, 7);
        let t0 = Instant::now();
        want_eq!("io_submit", ctx.submit1(&mut cb), Ok(1));
        check!(t0.elapsed() < Duration::from_secs(2), "io_submit took {:?}", t0.elapsed());
        ctx.no_events(ms(100))?;
        write_all(pair.w, b"data")?;
        let ev = ctx.wait_events(1, PROMPT)?;
        want_eq!("the read's event (data, res)", (ev[0].data, ev[0].res), (7, 4));
        want_eq!("the bytes read", &buf[..4], b"data");
        Ok(())
    })
}

const REARM_DELAY: &str = "/sys/module/kaio/parameters/rearm_delay_us";

/// A UDP socket with `IP_RECVERR` connected to a loopback port nothing listens on: each
/// datagram it sends comes back as an ICMP error, which sets its pending error (`sk_err`, which
/// a read reports and clears) and queues an entry on its error queue (which stays).
fn udp_refused_socket() -> Result<std::net::UdpSocket, String> {
    let closed = std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("udp bind: {e} (is lo up?)"))?;
    let port = closed.local_addr().map_err(|e| e.to_string())?;
    drop(closed);
    let s = std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("udp bind: {e}"))?;
    s.connect(port).map_err(|e| format!("udp connect: {e}"))?;
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: an int option of our socket.
    let r = unsafe { libc::setsockopt(s.as_raw_fd(), libc::IPPROTO_IP, libc::IP_RECVERR, (&on as *const libc::c_int).cast(), 4) };
    check!(r == 0, "IP_RECVERR: errno {}", kaio::raw::errno());
    Ok(s)
}

/// `recv(fd, MSG_DONTWAIT)` of one byte: its result and errno.
fn recv_now(fd: RawFd) -> (isize, i32) {
    let mut b = [0u8; 1];
    // SAFETY: reads at most one byte into `b`.
    let n = unsafe { libc::recv(fd, b.as_mut_ptr().cast(), 1, libc::MSG_DONTWAIT) };
    (n, if n < 0 { kaio::raw::errno() } else { 0 })
}

/// The error-queue rule (see the case above) must not lose a real error: a socket whose error
/// queue holds an entry reports `POLLERR` for as long, so a polled read that found it ready and
/// then would block parks without counting `POLLERR` as readiness. An error that comes after
/// that attempt and before the entry is back on the socket's queue wakes nobody; the arming
/// must see it pending (`sk_err`) and try again, which reports it, as recv(2) would: else the
/// read waits with the error pending until some other event. `rearm_delay_us` holds io_submit
/// 20 ms in that window while a thread on the other CPU sends a datagram that comes back as
/// ECONNREFUSED; each round's read must complete with it, and at least one round's error must
/// land in the window (`KAIO_BUG=polled_socket_error_ignored` parks the read there).
fn polled_rw_socket_error_after_attempt_is_not_lost() -> CaseResult {
    // A datagram takes up to ~8 ms to come back as an error in the debug guest.
    const WINDOW: Duration = Duration::from_millis(20);
    const ROUNDS: u64 = 8;
    let socket = udp_refused_socket()?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&socket);
    // One error, taken by a read: then only the error queue's entry is left.
    write_all(fd, b"x")?;
    std::thread::sleep(ms(50));
    want_eq!("recv after the first ICMP error", recv_now(fd), (-1, libc::ECONNREFUSED));
    want_eq!("recv with only the error queue's entry", recv_now(fd), (-1, libc::EAGAIN));
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
    check!(n == 1 && pfd.revents == libc::POLLERR, "poll(2) of the socket: {n}, revents {:#x} (POLLERR alone expected)", pfd.revents);
    let _delay = set_param(REARM_DELAY, WINDOW.as_micros() as u64)?;
    let k = Kaio::open()?;
    let ctx = polled_ctx(&k, 4)?;
    let _affinity = Pin::here();
    let mut hits = 0;
    for round in 0..ROUNDS {
        let mut buf = [0u8; 16];
        let mut cb = read_iocb(fd, &mut buf, round);
        let (ready, go) = (AtomicBool::new(false), AtomicBool::new(false));
        let (submit, t0, returned, (sent, send_errno, send_start, send_end)) = std::thread::scope(|s| {
            let sender = s.spawn(|| {
                bind_to(1);
                ready.store(true, SeqCst);
                while !go.load(SeqCst) {
                    std::hint::spin_loop();
                }
                // Busy on its own CPU: a sleep here overshoots by milliseconds in these guests.
                let aim = Instant::now() + WINDOW * 3 / 10;
                while Instant::now() < aim {
                    std::hint::spin_loop();
                }
                let start = Instant::now();
                // SAFETY: sends one byte from a static buffer.
                let n = unsafe { libc::send(fd, b"x".as_ptr().cast(), 1, 0) };
                (n, kaio::raw::errno(), start, Instant::now())
            });
            bind_to(0);
            // The sender spins on its CPU before io_submit begins.
            while !ready.load(SeqCst) {
                std::hint::spin_loop();
            }
            go.store(true, SeqCst);
            let t0 = Instant::now();
            let r = ctx.submit1(&mut cb);
            let returned = Instant::now();
            (r, t0, returned, sender.join().unwrap())
        });
        want_eq!("io_submit", submit, Ok(1));
        check!(sent == 1, "round {round}: send: {sent}, errno {send_errno}");
        let events = ctx.wait_events(1, Duration::from_secs(2));
        let Ok(ev) = events else {
            let mut a = kaio_cancel_match_args { fd, ..cm(ctx.id, KAIO_CANCEL_FD | KAIO_CANCEL_ALL) };
            let _ = cancel_match(k.fd, &mut a);
            let _ = ctx.wait_events(1, Duration::from_secs(1));
            return Err(format!(
                "round {round}: the read waits with the socket's error pending: the datagram went from {:?} to {:?} after io_submit began, which returned after {:?} (its wait before the re-arming: {WINDOW:?})",
                send_start - t0,
                send_end - t0,
                returned - t0
            ));
        };
        want_eq!("the read's event (data, res)", (ev[0].data, ev[0].res), (round, -i64::from(libc::ECONNREFUSED)));
        // The send began after io_submit's part before the wait and ended before its part
        // after it, whatever the split of those two (together what io_submit took beyond it).
        let slack = (returned - t0).saturating_sub(WINDOW);
        let hit = send_start - t0 > slack && returned - send_end > slack;
        hits += usize::from(hit);
        println!(
            "# round {round}: io_submit took {:?}, the datagram went {:?}..{:?} after it began{}",
            returned - t0,
            send_start - t0,
            send_end - t0,
            if hit { ": in the window" } else { "" }
        );
    }
    println!("# errors that came while io_submit waited to re-arm: {hits} of {ROUNDS} rounds");
    check!(hits > 0, "no round's error came while io_submit waited to re-arm: the case tested nothing");
    Ok(())
}

/// CANCEL_MATCH(IOCB, WAIT) of `cb`, a transfer sleeping in kaio's worker: it must find it
/// running (EALREADY, nr_running 1) and return within 2 s (its timeout is 5 s), the transfer
/// stopped and its event posted.
fn stop_sleeping_transfer(k: &Kaio, ctx: &Ctx, cb: &Iocb) -> CaseResult {
    let timeout = ts(5, 0);
    let mut a = kaio_cancel_match_args {
        key: cb as *const Iocb as u64,
        timeout: &timeout as *const KernelTimespec as u64,
        ..cm(ctx.id, KAIO_CANCEL_IOCB | KAIO_CANCEL_WAIT)
    };
    let t = Instant::now();
    let r = cancel_match(k.fd, &mut a);
    let took = t.elapsed();
    want_eq!("CANCEL_MATCH(WAIT)", (r, a.nr_running), (Err(EALREADY), 1));
    check!(took < Duration::from_secs(2), "CANCEL_MATCH(WAIT) took {took:?}");
    Ok(())
}

/// Bytes waiting in a tty's input (`FIONREAD`).
fn tty_input(fd: RawFd) -> i32 {
    let mut n: libc::c_int = -1;
    // SAFETY: FIONREAD writes one int.
    unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) };
    n
}

/// Submits a polled read of up to 64 bytes on the slow pty slave `sl` (see the case below),
/// writes `byte` to its master `m`, and returns once kaio's worker is inside the blocking
/// read: the worker has made its attempt (its statistic moved) and the byte has left the
/// tty's input (the read took it and now waits for more).
fn start_blocked_tty_read(ctx: &Ctx, sl: RawFd, m: RawFd, cb: &mut Iocb, buf: &mut [u8; 64], byte: u8) -> CaseResult {
    *cb = read_iocb(sl, buf, u64::from(byte));
    let before = retries()?;
    submit_unblocked(ctx, cb)?;
    ctx.no_events(ms(50))?;
    write_all(m, &[byte])?;
    let t = Instant::now();
    while retries()?.worker == before.worker || tty_input(sl) != 0 {
        check!(t.elapsed() < Duration::from_secs(5), "no blocking read by the worker within 5 s (input {})", tty_input(sl));
        std::thread::sleep(ms(5));
    }
    Ok(())
}

/// A file that ignores IOCB_NOWAIT (a tty) is polled, then read once, blocking, in kaio's
/// worker, and that read can sleep long after the poll said ready: a pty slave in raw mode
/// with VMIN 255 and VTIME 255 is readable at its first byte, and a read then waits up to
/// 25.5 s for more. A stop interrupts the read as a signal interrupts read(2) (a kernel worker
/// takes none; io_uring interrupts its workers the same way): CANCEL_MATCH(WAIT) finds it
/// running (EALREADY) and returns with the read ended with the byte it took; io_destroy, the
/// close of /dev/kaio and the process's exit end promptly too, not 25 s later. A second read
/// afterwards must sleep as the first did: the interruption is not left pending in the
/// worker's kernel thread. Then the same through the user-buffer path of files that refuse a
/// kernel buffer (FUSE, ALSA; `refuse_kernel_buffer` makes the pty one): a cancel and
/// io_destroy stop it the same way (the process's exit does not: README).
fn polled_rw_blocked_tty_read_is_stoppable() -> CaseResult {
    const REFCNT: &str = "/sys/module/kaio/refcnt";
    let base = read_u64(KAIO_PARAM_NR)?;
    let base_refs = read_u64(REFCNT)?;
    for (how, refuse) in [("cancel", 0), ("destroy", 0), ("close", 0), ("exit", 0), ("cancel", 1), ("destroy", 1)] {
        let _refuse = set_param(REFUSE_KERNEL_BUFFER, refuse)?;
        let how_ = how;
        let how = if refuse == 1 { format!("{how} (user buffer)") } else { how.to_string() };
        let p = pty_pair()?;
        // SAFETY: termios of our own pty slave.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            libc::tcgetattr(p.r, &mut t);
            t.c_cc[libc::VMIN] = 255;
            t.c_cc[libc::VTIME] = 255;
            check!(libc::tcsetattr(p.r, libc::TCSANOW, &t) == 0, "tcsetattr: errno {}", kaio::raw::errno());
        }
        let (sl, m) = (p.r, p.w);
        let t0 = Instant::now();
        in_child(PROMPT, move || {
            let k = Kaio::open()?;
            let ctx = polled_ctx(&k, 8)?;
            let (mut cb, mut buf) = (Iocb::default(), [0u8; 64]);
            start_blocked_tty_read(&ctx, sl, m, &mut cb, &mut buf, b'x')?;
            if how_ != "cancel" {
                return end_context(how_, &k, &ctx);
            }
            for (round, byte) in [b'x', b'y'].into_iter().enumerate() {
                if round > 0 {
                    start_blocked_tty_read(&ctx, sl, m, &mut cb, &mut buf, byte)?;
                    // Still asleep in its read: nothing interrupts it before the cancel.
                    ctx.no_events(ms(300)).map_err(|e| format!("the second read: {e}"))?;
                }
                stop_sleeping_transfer(&k, &ctx, &cb).map_err(|e| format!("round {round}, the read: {e}"))?;
                let ev = ctx.wait_events(1, ms(10)).map_err(|e| format!("round {round}: {e}"))?;
                check_event(&format!("round {round}: the stopped read"), &ev[0], u64::from(byte), &cb, 1)?;
                want_eq!(format!("round {round}: byte read"), buf[0], byte);
            }
            Ok(())
        })
        .map_err(|e| format!("{how}: {e}"))?;
        let took = t0.elapsed();
        check!(took < Duration::from_secs(10), "{how}: took {took:?} (the read sleeps 25.5 s unless stopped)");
        want_eq!(format!("{how}: bytes left in the tty"), tty_input(sl), 0);
        // Everything of the child's is released: the worker that made the read may have held
        // its address space last (then mmput_async ends it a little later).
        want_eq!(format!("{how}: nr after the child"), wait_value(KAIO_PARAM_NR, base, ms(5000))?, base);
        want_eq!(format!("{how}: module references after the child"), wait_value(REFCNT, base_refs, ms(5000))?, base_refs);
    }
    Ok(())
}

/// The test-only parameter that sends polled blocking attempts down the user-buffer path.
const REFUSE_KERNEL_BUFFER: &str = "/sys/module/kaio/parameters/refuse_kernel_buffer";

/// Reads the pty master `m` until `want` bytes came or nothing came for 500 ms.
fn drain_master(m: RawFd, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    let mut idle = Instant::now();
    while got.len() < want && idle.elapsed() < ms(500) {
        let mut pfd = libc::pollfd { fd: m, events: libc::POLLIN, revents: 0 };
        // SAFETY: one pollfd.
        if unsafe { libc::poll(&mut pfd, 1, 50) } == 1 {
            let mut buf = vec![0u8; 65536];
            // SAFETY: a valid buffer; the master is readable.
            let n = unsafe { libc::read(m, buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 {
                got.extend_from_slice(&buf[..n as usize]);
                idle = Instant::now();
            }
        }
    }
    got
}

/// A tty write is made blocking in kaio's worker, through a kernel buffer in turns of at most
/// 64 KiB: a 200 KiB write to a pty slave (raw mode: bytes pass unchanged) completes with
/// every byte, in order, as the master reads them. A 1 MiB write that the master does not
/// read fills the pty and sleeps in the worker; CANCEL_MATCH(WAIT) finds it running and stops
/// it, and it ends with exactly the count the master then finds (no byte a turn copied but
/// did not write is counted, none is written twice). Both through the kernel buffer and
/// through the user-buffer path of files that refuse one (`refuse_kernel_buffer`).
fn polled_rw_tty_write_blocks_in_the_worker() -> CaseResult {
    for refuse in [0, 1] {
        let _refuse = set_param(REFUSE_KERNEL_BUFFER, refuse)?;
        tty_write_blocks_in_the_worker().map_err(|e| format!("refuse_kernel_buffer {refuse}: {e}"))?;
    }
    Ok(())
}

fn tty_write_blocks_in_the_worker() -> CaseResult {
    let k = Kaio::open()?;
    let ctx = polled_ctx(&k, 8)?;
    let p = pty_pair()?;
    let (sl, m) = (p.r, p.w);
    let msg: Vec<u8> = (0..200 * 1024u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    let mut cb = write_iocb(sl, &msg, 1);
    submit_unblocked(&ctx, &mut cb)?;
    let got = drain_master(m, msg.len());
    check!(got == msg, "the master read {} bytes, not the {} written in order", got.len(), msg.len());
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("200 KiB tty write", &ev[0], 1, &cb, msg.len() as i64)?;

    let big: Vec<u8> = (0..1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let mut cb = write_iocb(sl, &big, 2);
    submit_unblocked(&ctx, &mut cb)?;
    // Until the pty is full and the write sleeps: nothing more comes out of it.
    std::thread::sleep(ms(300));
    ctx.no_events(Duration::ZERO).map_err(|e| format!("the 1 MiB write: {e}"))?;
    stop_sleeping_transfer(&k, &ctx, &cb).map_err(|e| format!("the 1 MiB write: {e}"))?;
    let ev = ctx.wait_events(1, ms(10))?;
    check!(ev[0].res > 0 && (ev[0].res as usize) < big.len(), "the stopped write ended with {}", ev[0].res);
    let got = drain_master(m, big.len());
    want_eq!("bytes the master read vs the write's result", got.len() as i64, ev[0].res);
    check!(got[..] == big[..got.len()], "the bytes the master read are not the write's first {}", got.len());
    Ok(())
}
