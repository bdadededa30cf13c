//! The Linux opcodes' own semantics (§5.3-§5.5, §13.4). kaio implements them in a later issue:
//! until an opcode is listed in `aio::KAIO_OPCODES`, the kaio half of a case that needs it is
//! skipped ("not yet implemented in kaio") and only the native half runs.

use crate::aio::*;
use crate::ktap::{Case, CaseResult};
use crate::util::*;
use crate::{check, expect_eq};
use kaio::uapi::*;
use std::os::fd::RawFd;

pub fn cases() -> Vec<Case> {
    vec![
        Case::both("op_pread_regular_file", op_pread_regular_file),
        Case::both("op_pwrite_then_pread", op_pwrite_then_pread),
        Case::both("op_pread_negative_offset_einval", op_pread_negative_offset_einval),
        Case::both("op_rw_wrong_open_mode_ebadf", op_rw_wrong_open_mode_ebadf),
        Case::both("op_rw_flags_checked_before_open_mode", op_rw_flags_checked_before_open_mode),
        Case::both("op_pread_nowait_empty_pipe_eagain_event", op_pread_nowait_empty_pipe_eagain_event),
        Case::both("op_preadv_iovec_count", op_preadv_iovec_count),
        Case::both("op_ioprio_checks", op_ioprio_checks),
        Case::both("op_poll_ignores_ioprio", op_poll_ignores_ioprio),
        Case::both("op_fsync_checks", op_fsync_checks),
        Case::both("op_poll_argument_checks", op_poll_argument_checks),
        Case::both("op_poll_ready_completes_in_submit", op_poll_ready_completes_in_submit),
        Case::both("op_poll_wakeup_and_hup", op_poll_wakeup_and_hup),
    ]
}

const DEAD: u32 = 0xdead;
const RWF_NOWAIT: u32 = 0x8;
const RWF_APPEND: u32 = 0x10;
const RWF_NOAPPEND: u32 = 0x20;

/// A temporary regular file (unlinked at once), closed on drop.
struct TmpFile(RawFd);

impl TmpFile {
    fn new(flags: i32, content: &[u8]) -> Result<TmpFile, String> {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("kaio-tests-{}-{n}", std::process::id()));
        std::fs::write(&path, content).map_err(|e| format!("write {path:?}: {e}"))?;
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: opens the file just written.
        let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) };
        let _ = std::fs::remove_file(&path);
        if fd < 0 {
            return Err(format!("open {path:?}: errno {}", kaio::raw::errno()));
        }
        Ok(TmpFile(fd))
    }
}

impl Drop for TmpFile {
    fn drop(&mut self) {
        // SAFETY: the fd is owned by this value.
        unsafe { libc::close(self.0) };
    }
}

fn rw(op: u16, fd: RawFd, buf: &mut [u8], off: i64, data: u64) -> Iocb {
    Iocb { aio_buf: buf.as_mut_ptr() as u64, aio_nbytes: buf.len() as u64, aio_offset: off, ..iocb(op, fd, data) }
}

fn op_pread_regular_file(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    need_opcode(b, IOCB_CMD_PREAD)?;
    let f = TmpFile::new(libc::O_RDONLY, b"0123456789abcdefXYZ")?;
    let ctx = Ctx::new(b, 8)?;
    let mut buf = [0u8; 16];
    let mut cb = rw(IOCB_CMD_PREAD, f.0, &mut buf, 0, 0x45);
    expect_eq!(o, "PREAD 16 at 0", ctx.submit1(&mut cb), Ok(1));
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("pread", &ev[0], 0x45, &cb, 16)?;
    expect_eq!(o, "data read", &buf, b"0123456789abcdef");
    // Short read at the end of the file.
    let mut buf = [0u8; 16];
    let mut cb = rw(IOCB_CMD_PREAD, f.0, &mut buf, 16, 2);
    expect_eq!(o, "PREAD 16 at 16", ctx.submit1(&mut cb), Ok(1));
    let ev = ctx.wait_events(1, PROMPT)?;
    expect_eq!(o, "short read res", ev[0].res, 3);
    Ok(())
}

fn op_pwrite_then_pread(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    need_opcode(b, IOCB_CMD_PWRITE)?;
    need_opcode(b, IOCB_CMD_PREAD)?;
    let f = TmpFile::new(libc::O_RDWR, b"")?;
    let ctx = Ctx::new(b, 8)?;
    let mut w = *b"hello, kaio";
    let mut cb = rw(IOCB_CMD_PWRITE, f.0, &mut w, 100, 1);
    expect_eq!(o, "PWRITE 11 at 100", ctx.submit1(&mut cb), Ok(1));
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("pwrite", &ev[0], 1, &cb, 11)?;
    let mut r = [0u8; 11];
    let mut cb = rw(IOCB_CMD_PREAD, f.0, &mut r, 100, 2);
    expect_eq!(o, "PREAD it back", ctx.submit1(&mut cb), Ok(1));
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("pread", &ev[0], 2, &cb, 11)?;
    expect_eq!(o, "content", &r, b"hello, kaio");
    Ok(())
}

fn op_pread_negative_offset_einval(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    need_opcode(b, IOCB_CMD_PREAD)?;
    let f = TmpFile::new(libc::O_RDONLY, b"abc")?;
    let ctx = Ctx::new(b, 8)?;
    let mut buf = [0u8; 4];
    let mut cb = Iocb { aio_key: DEAD, ..rw(IOCB_CMD_PREAD, f.0, &mut buf, -1, 1) };
    expect_eq!(o, "PREAD at -1", ctx.submit1(&mut cb), Err(EINVAL));
    expect_eq!(o, "aio_key zeroed", cb.aio_key, 0);
    ctx.no_events(ms(20))?;
    Ok(())
}

fn op_rw_wrong_open_mode_ebadf(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    need_opcode(b, IOCB_CMD_PREAD)?;
    need_opcode(b, IOCB_CMD_PWRITE)?;
    let p = Pipe::new()?;
    let ctx = Ctx::new(b, 8)?;
    let mut buf = [0u8; 4];
    let mut cb = rw(IOCB_CMD_PREAD, p.w, &mut buf, 0, 1);
    expect_eq!(o, "PREAD on a pipe's write end", ctx.submit1(&mut cb), Err(EBADF));
    let mut cb = rw(IOCB_CMD_PWRITE, p.r, &mut buf, 0, 1);
    expect_eq!(o, "PWRITE on a pipe's read end", ctx.submit1(&mut cb), Err(EBADF));
    let f = TmpFile::new(libc::O_RDONLY, b"abc")?;
    let mut cb = rw(IOCB_CMD_PWRITE, f.0, &mut buf, 0, 1);
    expect_eq!(o, "PWRITE on a read-only file", ctx.submit1(&mut cb), Err(EBADF));
    ctx.no_events(ms(20))?;
    Ok(())
}

fn op_rw_flags_checked_before_open_mode(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    need_opcode(b, IOCB_CMD_PREAD)?;
    let f = TmpFile::new(libc::O_RDONLY, b"abc")?;
    let p = Pipe::new()?;
    let ctx = Ctx::new(b, 8)?;
    let mut buf = [0u8; 4];
    let mut cb = Iocb { aio_rw_flags: 0x8000_0000, ..rw(IOCB_CMD_PREAD, f.0, &mut buf, 0, 1) };
    expect_eq!(o, "unknown RWF bit", ctx.submit1(&mut cb), Err(EOPNOTSUPP));
    let mut cb = Iocb { aio_rw_flags: RWF_APPEND | RWF_NOAPPEND, ..rw(IOCB_CMD_PREAD, f.0, &mut buf, 0, 1) };
    expect_eq!(o, "RWF_APPEND | RWF_NOAPPEND", ctx.submit1(&mut cb), Err(EINVAL));
    // T106: on a write-only fd the flags come first.
    let mut cb = Iocb { aio_rw_flags: 0x8000_0000, ..rw(IOCB_CMD_PREAD, p.w, &mut buf, 0, 1) };
    expect_eq!(o, "write-only fd, unknown RWF bit", ctx.submit1(&mut cb), Err(EOPNOTSUPP));
    let mut cb = rw(IOCB_CMD_PREAD, p.w, &mut buf, 0, 1);
    expect_eq!(o, "write-only fd, no flags", ctx.submit1(&mut cb), Err(EBADF));
    ctx.no_events(ms(20))?;
    Ok(())
}

fn op_pread_nowait_empty_pipe_eagain_event(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    need_opcode(b, IOCB_CMD_PREAD)?;
    let p = Pipe::new()?;
    let ctx = Ctx::new(b, 8)?;
    let mut buf = [0u8; 4];
    let mut cb = Iocb { aio_rw_flags: RWF_NOWAIT, ..rw(IOCB_CMD_PREAD, p.r, &mut buf, 0, 9) };
    expect_eq!(o, "PREAD RWF_NOWAIT on an empty pipe", ctx.submit1(&mut cb), Ok(1));
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("nowait", &ev[0], 9, &cb, -(libc::EAGAIN as i64))?;
    Ok(())
}

fn op_preadv_iovec_count(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    need_opcode(b, IOCB_CMD_PREADV)?;
    let f = TmpFile::new(libc::O_RDONLY, b"0123456789")?;
    let ctx = Ctx::new(b, 8)?;
    let mut bufs = [[0u8; 3]; 2];
    let iov: Vec<libc::iovec> = bufs.iter_mut().map(|x| libc::iovec { iov_base: x.as_mut_ptr().cast(), iov_len: 3 }).collect();
    let mut cb = Iocb { aio_buf: iov.as_ptr() as u64, aio_nbytes: 2, ..iocb(IOCB_CMD_PREADV, f.0, 1) };
    expect_eq!(o, "PREADV 2 x 3", ctx.submit1(&mut cb), Ok(1));
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("preadv", &ev[0], 1, &cb, 6)?;
    expect_eq!(o, "data", bufs, [*b"012", *b"345"]);
    let mut cb = Iocb { aio_buf: iov.as_ptr() as u64, aio_nbytes: 1025, ..iocb(IOCB_CMD_PREADV, f.0, 2) };
    expect_eq!(o, "PREADV with 1025 iovecs", ctx.submit1(&mut cb), Err(EINVAL));
    let mut cb = Iocb { aio_buf: iov.as_ptr() as u64, aio_nbytes: 0, ..iocb(IOCB_CMD_PREADV, f.0, 3) };
    expect_eq!(o, "PREADV with 0 iovecs", ctx.submit1(&mut cb), Ok(1));
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("preadv 0", &ev[0], 3, &cb, 0)?;
    let mut cb = Iocb { aio_buf: 8, aio_nbytes: 2, ..iocb(IOCB_CMD_PREADV, f.0, 4) };
    expect_eq!(o, "PREADV with a bad iovec array", ctx.submit1(&mut cb), Err(EFAULT));
    Ok(())
}

fn op_ioprio_checks(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    need_opcode(b, IOCB_CMD_PREAD)?;
    let f = TmpFile::new(libc::O_RDONLY, b"abc")?;
    let p = Pipe::new()?;
    let ctx = Ctx::new(b, 8)?;
    let mut buf = [0u8; 3];
    let prio = |cb: Iocb, v: i16| Iocb { aio_flags: IOCB_FLAG_IOPRIO, aio_reqprio: v, ..cb };
    // Without CONFIG_BLOCK (no /sys/block) ioprio_check_cap() is a stub that always fails
    // with ENOTBLK; with it, invalid classes are EINVAL.
    let block = std::path::Path::new("/sys/block").exists();
    let bad = if block { Err(EINVAL) } else { Err(Errno(libc::ENOTBLK)) };
    let mut cb = prio(rw(IOCB_CMD_PREAD, f.0, &mut buf, 0, 1), 7 << 13);
    expect_eq!(o, "PREAD, class 7", ctx.submit1(&mut cb), bad);
    let mut cb = prio(rw(IOCB_CMD_PREAD, f.0, &mut buf, 0, 2), (2 << 13) | 7);
    expect_eq!(o, "PREAD, class BE level 7", ctx.submit1(&mut cb), if block { Ok(1) } else { bad });
    if block {
        ctx.wait_events(1, PROMPT)?;
    }
    // T105: the priority is checked before the open mode.
    let mut cb = prio(rw(IOCB_CMD_PREAD, p.w, &mut buf, 0, 3), 7 << 13);
    expect_eq!(o, "PREAD on a write-only fd, class 7", ctx.submit1(&mut cb), bad);
    // Class NONE with a non-zero level.
    let mut cb = prio(rw(IOCB_CMD_PREAD, f.0, &mut buf, 0, 4), 3);
    expect_eq!(o, "PREAD, class NONE level 3", ctx.submit1(&mut cb), bad);
    // Without the flag the value is not looked at.
    let mut cb = Iocb { aio_reqprio: 7 << 13, ..rw(IOCB_CMD_PREAD, f.0, &mut buf, 0, 5) };
    expect_eq!(o, "PREAD, class 7 without IOCB_FLAG_IOPRIO", ctx.submit1(&mut cb), Ok(1));
    ctx.wait_events(1, PROMPT)?;
    Ok(())
}

fn op_poll_ignores_ioprio(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    need_opcode(b, IOCB_CMD_POLL)?;
    let p = Pipe::with_data()?;
    let ctx = Ctx::new(b, 8)?;
    let prio = |cb: Iocb, v: i16| Iocb { aio_flags: IOCB_FLAG_IOPRIO, aio_reqprio: v, ..cb };
    // T55: POLL ignores it.
    let mut cb = prio(poll_iocb(p.r, POLLIN, 4), 7 << 13);
    expect_eq!(o, "POLL, class 7", ctx.submit1(&mut cb), Ok(1));
    ctx.wait_events(1, PROMPT)?;
    Ok(())
}

fn op_fsync_checks(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    need_opcode(b, IOCB_CMD_FSYNC)?;
    need_opcode(b, IOCB_CMD_FDSYNC)?;
    let f = TmpFile::new(libc::O_RDWR, b"abc")?;
    let p = Pipe::new()?;
    let ctx = Ctx::new(b, 8)?;
    for op in [IOCB_CMD_FSYNC, IOCB_CMD_FDSYNC] {
        for (what, cb) in [
            ("aio_buf", Iocb { aio_buf: 1, ..iocb(op, f.0, 1) }),
            ("aio_offset", Iocb { aio_offset: 1, ..iocb(op, f.0, 1) }),
            ("aio_nbytes", Iocb { aio_nbytes: 1, ..iocb(op, f.0, 1) }),
            ("aio_rw_flags", Iocb { aio_rw_flags: 1, ..iocb(op, f.0, 1) }),
        ] {
            let mut cb = cb;
            expect_eq!(o, format!("op {op}: {what} != 0"), ctx.submit1(&mut cb), Err(EINVAL));
        }
        let mut cb = iocb(op, p.r, 1);
        expect_eq!(o, format!("op {op} on a pipe"), ctx.submit1(&mut cb), Err(EINVAL));
        let mut cb = iocb(op, f.0, 5);
        expect_eq!(o, format!("op {op} on a regular file"), ctx.submit1(&mut cb), Ok(1));
        let ev = ctx.wait_events(1, PROMPT)?;
        check_event("fsync", &ev[0], 5, &cb, 0)?;
        // Not cancellable.
        let mut cb = iocb(op, f.0, 6);
        expect_eq!(o, format!("op {op} again"), ctx.submit1(&mut cb), Ok(1));
        expect_eq!(o, format!("op {op}: io_cancel"), ctx.cancel(&mut cb), Err(EINVAL));
        ctx.wait_events(1, PROMPT)?;
    }
    Ok(())
}

fn op_poll_argument_checks(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    need_opcode(b, IOCB_CMD_POLL)?;
    let p = Pipe::new()?;
    let f = TmpFile::new(libc::O_RDONLY, b"abc")?;
    let ctx = Ctx::new(b, 8)?;
    for (what, cb) in [
        ("aio_buf 0x10001", poll_iocb(p.r, 0x10001, 1)),
        ("aio_nbytes 1", Iocb { aio_nbytes: 1, ..poll_iocb(p.r, POLLIN, 1) }),
        ("aio_offset 1", Iocb { aio_offset: 1, ..poll_iocb(p.r, POLLIN, 1) }),
        ("aio_rw_flags 1", Iocb { aio_rw_flags: 1, ..poll_iocb(p.r, POLLIN, 1) }),
        ("regular file, POLLPRI", poll_iocb(f.0, libc::POLLPRI as u64, 1)),
    ] {
        let mut cb = cb;
        expect_eq!(o, what, ctx.submit1(&mut cb), Err(EINVAL));
    }
    ctx.no_events(ms(20))?;
    Ok(())
}

fn op_poll_ready_completes_in_submit(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    need_opcode(b, IOCB_CMD_POLL)?;
    let p = Pipe::with_data()?;
    let f = TmpFile::new(libc::O_RDONLY, b"abc")?;
    let ctx = Ctx::new(b, 8)?;
    let mut cb = poll_iocb(f.0, POLLIN, 1);
    expect_eq!(o, "POLLIN on a regular file", ctx.submit1(&mut cb), Ok(1));
    expect_eq!(o, "in the ring when io_submit returns", ctx.hdr().tail, 1);
    let ev = ctx.getev(1, 8, Some(ts(0, 0))).map_err(|e| format!("{e:?}"))?;
    check_event("poll file", &ev[0], 1, &cb, 1)?;
    let mut cb = poll_iocb(p.r, POLLIN, 2);
    expect_eq!(o, "POLLIN on a pipe with data", ctx.submit1(&mut cb), Ok(1));
    expect_eq!(o, "in the ring when io_submit returns", ctx.hdr().tail, 2);
    let ev = ctx.getev(1, 8, Some(ts(0, 0))).map_err(|e| format!("{e:?}"))?;
    check_event("poll pipe", &ev[0], 2, &cb, 1)?;
    Ok(())
}

fn op_poll_wakeup_and_hup(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    need_opcode(b, IOCB_CMD_POLL)?;
    let p = Pipe::new()?;
    let ctx = Ctx::new(b, 8)?;
    let mut cb = poll_iocb(p.r, POLLIN, 1);
    expect_eq!(o, "POLLIN on an empty pipe", ctx.submit1(&mut cb), Ok(1));
    ctx.no_events(ms(30))?;
    p.put();
    let ev = ctx.wait_events(1, PROMPT)?;
    check!(ev[0].res as u64 & POLLIN != 0 && ev[0].data == 1 && ev[0].res2 == 0, "event {:?}", ev[0]);
    let q = Pipe::new()?;
    let (qr, qw) = (q.r, q.w);
    std::mem::forget(q);
    let mut cb = poll_iocb(qr, POLLIN, 2);
    let r = ctx.submit1(&mut cb);
    // SAFETY: closes the write end we own.
    unsafe { libc::close(qw) };
    let ev = ctx.wait_events(1, PROMPT);
    // SAFETY: closes the read end we own.
    unsafe { libc::close(qr) };
    expect_eq!(o, "POLLIN on another empty pipe", r, Ok(1));
    check_event("hup", &ev?[0], 2, &cb, libc::POLLHUP as i64)?;
    Ok(())
}
