//! Contexts and processes (§10, §13.7 T93-T101, T115; ABI.md "The device"): contexts belong to
//! the address space (threads share them, fork children do not, exit and exec tear them down);
//! kaio only: closing the last reference to the device file (fd and ring mappings) tears its
//! domain down, and a delay on the device's own fd does not pin it.

use crate::aio::*;
use crate::ktap::{Case, CaseResult};
use crate::util::*;
use crate::{check, check_eq, expect_eq};
use kaio::uapi::*;

pub fn cases() -> Vec<Case> {
    vec![
        Case::both("lifecycle_fork_child_parent_ctx_einval", lifecycle_fork_child_parent_ctx_einval),
        Case::both("lifecycle_fork_child_mremap_ring_einval", lifecycle_fork_child_mremap_ring_einval),
        Case::both("lifecycle_child_exit_cancels_in_flight", lifecycle_child_exit_cancels_in_flight),
        Case::both("lifecycle_exec_releases_contexts", lifecycle_exec_releases_contexts),
        Case::both("lifecycle_thread_exit_keeps_ctx", lifecycle_thread_exit_keeps_ctx),
        Case::kaio("lifecycle_child_exit_own_domain_long_delays", lifecycle_child_exit_own_domain_long_delays),
        Case::kaio("lifecycle_child_exit_leaves_parent_contexts", lifecycle_child_exit_leaves_parent_contexts),
        Case::kaio("lifecycle_close_fd_ring_mapped_keeps_domain", lifecycle_close_fd_ring_mapped_keeps_domain),
        Case::kaio("lifecycle_close_fd_and_munmap_tears_down", lifecycle_close_fd_and_munmap_tears_down),
        Case::kaio("lifecycle_munmap_then_close_tears_down", lifecycle_munmap_then_close_tears_down),
        Case::kaio("lifecycle_delay_on_own_fd_does_not_pin", lifecycle_delay_on_own_fd_does_not_pin),
    ]
}

fn resfd(efd: &EventFd, cb: Iocb) -> Iocb {
    Iocb { aio_flags: IOCB_FLAG_RESFD, aio_resfd: efd.0 as u32, ..cb }
}

fn lifecycle_fork_child_parent_ctx_einval(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 8)?;
    let mut done = fx.ready(b, 1);
    expect_eq!(o, "submit ready", ctx.submit1(&mut done), Ok(1));
    wait_ring(ctx.id, 1, PROMPT)?;
    let mut pend = fx.pending(b, 2);
    expect_eq!(o, "submit pending", ctx.submit1(&mut pend), Ok(1));
    let hdr = ctx.hdr();
    let pend_ptr = &mut pend as *mut Iocb;
    let r = in_child(PROMPT, || {
        // The child inherits a copy of the ring mapping (it can read it) but not the context.
        let h = ring_hdr(ctx.id);
        check!(h == hdr, "child's view of the ring header {h:?}, parent's {hdr:?}");
        let e = ring_event(ctx.id, 0);
        check!(e.data == 1, "child's view of event 0: {e:?}");
        let r = ctx.getev(0, 8, Some(ts(0, 0))).map(|v| v.len());
        check!(r == Err(EINVAL), "io_getevents with the parent's ctx: expected Err(EINVAL), got {r:?}");
        let mut cb = fx.ready(b, 3);
        let r = ctx.submit1(&mut cb);
        check!(r == Err(EINVAL), "io_submit with the parent's ctx: expected Err(EINVAL), got {r:?}");
        let r = b.cancel(ctx.id, pend_ptr, std::ptr::null_mut());
        check!(r == Err(EINVAL), "io_cancel with the parent's ctx: expected Err(EINVAL), got {r:?}");
        let r = b.destroy(ctx.id);
        check!(r == Err(EINVAL), "io_destroy of the parent's ctx: expected Err(EINVAL), got {r:?}");
        // Its own contexts: natively a fresh per-mm table (id 0); kaio's table belongs to the
        // domain (the inherited fd), where the parent's context holds slot 0 (ABI.md, §14.2).
        let mine = Ctx::new(b, 4)?;
        let want = if b.is_kaio() { 1 } else { 0 };
        check!(mine.hdr().id == want, "child's first ctx id {}, expected {want}", mine.hdr().id);
        check!(mine.destroy() == Ok(0), "child destroy");
        ctx.forget();
        Ok(())
    });
    expect_eq!(o, "child", r, Ok(()));
    // The parent's context is untouched.
    expect_eq!(o, "parent: header", ctx.hdr(), hdr);
    expect_eq!(o, "parent: cancel pending", ctx.cancel(pend_ptr), Err(EINPROGRESS));
    let ev = ctx.wait_events(2, PROMPT)?;
    expect_eq!(o, "parent: events", ev.iter().map(|e| e.data).collect::<Vec<_>>(), vec![1, 2]);
    Ok(())
}

fn lifecycle_fork_child_mremap_ring_einval(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, 8)?;
    let (pages, _) = ring_geometry(8);
    let len = (pages * 4096) as usize;
    let r = in_child(PROMPT, || {
        let target = Map::new(len)?;
        let t = target.addr;
        std::mem::forget(target);
        // SAFETY: moves the child's copy of the ring onto its own reserved range.
        let p = unsafe { libc::mremap(ctx.id as *mut libc::c_void, len, len, libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED, t as *mut libc::c_void) };
        let e = kaio::raw::errno();
        check!(p == libc::MAP_FAILED && e == libc::EINVAL, "child mremap of the parent's ring: expected EINVAL, got {p:?} errno {e}");
        check!(ring_hdr(ctx.id).magic == AIO_RING_MAGIC, "the ring moved anyway");
        ctx.forget();
        Ok(())
    });
    expect_eq!(o, "child", r, Ok(()));
    let mut cb = fx.ready(b, 1);
    expect_eq!(o, "parent: submit", ctx.submit1(&mut cb), Ok(1));
    ctx.wait_events(1, PROMPT)?;
    expect_eq!(o, "parent: destroy", ctx.destroy(), Ok(0));
    Ok(())
}

fn lifecycle_child_exit_cancels_in_flight(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    const N: u64 = 200;
    let fx = Fx::new()?;
    let base = read_u64(b.nr_path())?;
    let r = in_child(PROMPT, || {
        let ctx = Ctx::new(b, 256)?;
        let mut cbs: Vec<Iocb> = (0..N).map(|i| resfd(&fx.efd, fx.pending(b, i))).collect();
        ctx.submit_all(&mut cbs)?;
        check!(read_u64(b.nr_path())? == base + 256, "nr in the child");
        // Exit without io_destroy.
        ctx.forget();
        std::mem::forget(cbs);
        Ok(())
    });
    expect_eq!(o, "child", r, Ok(()));
    // exit_aio cancelled every request, and each posted its eventfd signal, before the child
    // was reaped.
    expect_eq!(o, "eventfd after waitpid", fx.efd.take(), N);
    expect_eq!(o, "nr after waitpid", read_u64(b.nr_path())?, base);
    std::thread::sleep(ms(50));
    expect_eq!(o, "no late signals", fx.efd.take(), 0);
    Ok(())
}

fn lifecycle_exec_releases_contexts(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    const N: u64 = 20;
    let fx = Fx::new()?;
    let base = read_u64(b.nr_path())?;
    let mut fds = [0; 2];
    // SAFETY: a valid array of two ints.
    check!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == 0, "pipe2");
    let (r, w) = (fds[0], fds[1]);
    let exe = std::ffi::CString::new("/proc/self/exe").unwrap();
    let path = std::ffi::CString::new(b.nr_path()).unwrap();
    let argv: Vec<std::ffi::CString> = ["kaio-tests", "--print-file"].iter().map(|s| std::ffi::CString::new(*s).unwrap()).collect();
    // SAFETY: fork; the child sets up, then execs (or _exits on failure).
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let ctx = Ctx::new(b, 50).unwrap_or_else(|_| unsafe { libc::_exit(2) });
        let mut cbs: Vec<Iocb> = (0..N).map(|i| resfd(&fx.efd, fx.pending(b, i))).collect();
        if ctx.submit_all(&mut cbs).is_err() {
            // SAFETY: ends the child.
            unsafe { libc::_exit(3) };
        }
        // SAFETY: stdout to the pipe, keep the kaio domain open across exec (without
        // O_CLOEXEC): only the address space goes away.
        unsafe {
            libc::dup2(w, 1);
            if let Some(fd) = b.fd() {
                libc::dup(fd);
            }
            let args = [argv[0].as_ptr(), argv[1].as_ptr(), path.as_ptr(), std::ptr::null()];
            libc::execv(exe.as_ptr(), args.as_ptr());
            libc::_exit(4);
        }
    }
    // SAFETY: the parent's copy of the write end.
    unsafe { libc::close(w) };
    let out = read_fd_until_eof(r, PROMPT);
    // SAFETY: our read end.
    unsafe { libc::close(r) };
    let status = wait_child(pid, PROMPT)?;
    expect_eq!(o, "child exit status", status, 0);
    let out = out?;
    // In the new image the old contexts are gone.
    expect_eq!(o, "nr seen by the exec'd image", out.trim().parse::<u64>().map_err(|_| out.clone()), Ok(base));
    expect_eq!(o, "eventfd", fx.efd.take(), N);
    expect_eq!(o, "nr after waitpid", read_u64(b.nr_path())?, base);
    Ok(())
}

fn lifecycle_thread_exit_keeps_ctx(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let (id, mut pend) = std::thread::scope(|s| {
        s.spawn(|| {
            let ctx = Ctx::new(b, 8).expect("setup in thread");
            let mut pend = Box::new(fx.pending(b, 5));
            assert_eq!(ctx.submit1(&mut pend), Ok(1));
            ctx.forget();
            (ctx.id, pend)
        })
        .join()
        .unwrap()
    });
    // Contexts belong to the address space, not to the thread that made them.
    let ctx = Ctx::adopt(b, id);
    let mut cb = fx.ready(b, 6);
    expect_eq!(o, "submit after the creating thread exited", ctx.submit1(&mut cb), Ok(1));
    expect_eq!(o, "cancel the thread's request", ctx.cancel(&mut *pend), Err(EINPROGRESS));
    let mut ev = ctx.wait_events(2, PROMPT)?;
    ev.sort_by_key(|e| e.data);
    expect_eq!(o, "events", ev.iter().map(|e| e.data).collect::<Vec<_>>(), vec![5, 6]);
    expect_eq!(o, "destroy", ctx.destroy(), Ok(0));
    Ok(())
}

// ---- kaio only

fn lifecycle_child_exit_own_domain_long_delays() -> CaseResult {
    const N: u64 = 1000;
    let efd = EventFd::new()?;
    let base = read_u64(KAIO_PARAM_NR)?;
    in_child(PROMPT, || {
        let k = Kaio::open()?;
        let ctx = Ctx::new(&k, 1024)?;
        let fd = Pipe::new()?;
        let mut rng = Rng(77);
        let mut cbs: Vec<Iocb> = (0..N).map(|i| resfd(&efd, delay_iocb(fd.r, 60 * NS + rng.below(NS as u64) as i64, i))).collect();
        ctx.submit_all(&mut cbs)?;
        ctx.forget();
        std::mem::forget(ctx);
        std::mem::forget(k);
        std::mem::forget(cbs);
        Ok(())
    })?;
    let got = efd.take();
    check!(got == N, "eventfd after waitpid: {got}, expected {N} (exit must cancel every delay and post its event first)");
    let n = read_u64(KAIO_PARAM_NR)?;
    check!(n == base, "nr after waitpid: {n}, expected {base}");
    std::thread::sleep(ms(50));
    check_eq!(efd.take(), 0);
    Ok(())
}

fn lifecycle_child_exit_leaves_parent_contexts() -> CaseResult {
    let k = Kaio::open()?;
    let fx = Fx::new()?;
    let base = read_u64(KAIO_PARAM_NR)?;
    let ctx = Ctx::new(&k, 8)?;
    let mut pend = delay_iocb(fx.fd(), LONG_NS, 1);
    check_eq!(ctx.submit1(&mut pend), Ok(1));
    // The child uses the same domain (the inherited fd) with its own address space.
    in_child(PROMPT, || {
        let mine = Ctx::new(&k, 16)?;
        let mut cbs: Vec<Iocb> = (0..10).map(|i| resfd(&fx.efd, delay_iocb(fx.fd(), LONG_NS, 100 + i))).collect();
        mine.submit_all(&mut cbs)?;
        mine.forget();
        ctx.forget();
        std::mem::forget(cbs);
        Ok(())
    })?;
    check_eq!(fx.efd.take(), 10);
    let n = read_u64(KAIO_PARAM_NR)?;
    check!(n == base + 8, "nr after the child exited: {n}, expected {}", base + 8);
    check_eq!(ctx.cancel(&mut pend), Err(EINPROGRESS));
    let ev = ctx.wait_events(1, PROMPT)?;
    check_event("parent's delay", &ev[0], 1, &pend, RES_ECANCELED)?;
    check_eq!(ctx.destroy(), Ok(0));
    Ok(())
}

/// Opens a domain with one ctx(nr) holding `n` delays (RESFD = efd) of `ns` each; returns
/// (fd, ctx id, ring length).
fn domain_with_delays(efd: &EventFd, nr: u32, n: u64, ns: i64) -> Result<(i32, u64, usize), String> {
    let k = Kaio::open()?;
    let ctx = Ctx::new(&k, nr)?;
    let mut cbs: Vec<Iocb> = (0..n).map(|i| resfd(efd, delay_iocb(efd.0, ns, i))).collect();
    ctx.submit_all(&mut cbs)?;
    let id = ctx.id;
    ctx.forget();
    std::mem::forget(ctx);
    let fd = k.fd;
    std::mem::forget(k);
    Ok((fd, id, (ring_geometry(nr).0 * 4096) as usize))
}

fn lifecycle_close_fd_ring_mapped_keeps_domain() -> CaseResult {
    let efd = EventFd::new()?;
    let base = read_u64(KAIO_PARAM_NR)?;
    let (fd, id, len) = domain_with_delays(&efd, 64, 20, 100_000_000)?;
    // SAFETY: closes the fd we own; the ring mapping still references the file.
    unsafe { libc::close(fd) };
    check!(read_u64(KAIO_PARAM_NR)? == base + 64, "nr dropped when only the fd was closed");
    // The delays complete normally into the still-mapped ring.
    let got = efd.wait_for(20, PROMPT);
    check!(got == 20, "eventfd {got}, expected 20");
    wait_ring(id, 20, PROMPT)?;
    let ev = user_reap(id);
    check!(ev.len() == 20 && ev.iter().all(|e| e.res == 0), "events reaped from the ring: {ev:?}");
    // The ring mapping was the last reference: unmapping it tears the domain down.
    munmap(id, len)?;
    let n = wait_value(KAIO_PARAM_NR, base, PROMPT)?;
    check!(n == base, "nr after unmapping the ring: {n}, expected {base}");
    Ok(())
}

fn lifecycle_close_fd_and_munmap_tears_down() -> CaseResult {
    const N: u64 = 1000;
    let efd = EventFd::new()?;
    let base = read_u64(KAIO_PARAM_NR)?;
    let (fd, id, len) = domain_with_delays(&efd, 1024, N, LONG_NS)?;
    // SAFETY: closes the fd we own.
    unsafe { libc::close(fd) };
    check_eq!(efd.take(), 0);
    munmap(id, len)?;
    let got = efd.wait_for(N, PROMPT);
    check!(got == N, "eventfd {got}, expected {N}: the last close must cancel every delay");
    let n = wait_value(KAIO_PARAM_NR, base, PROMPT)?;
    check!(n == base, "nr after the last close: {n}, expected {base}");
    Ok(())
}

fn lifecycle_munmap_then_close_tears_down() -> CaseResult {
    const N: u64 = 500;
    let efd = EventFd::new()?;
    let base = read_u64(KAIO_PARAM_NR)?;
    let (fd, id, len) = domain_with_delays(&efd, 512, N, LONG_NS)?;
    munmap(id, len)?;
    check_eq!(efd.take(), 0);
    check!(read_u64(KAIO_PARAM_NR)? == base + 512, "nr dropped at munmap while the fd is open");
    // SAFETY: closes the fd we own: the last reference.
    unsafe { libc::close(fd) };
    let got = efd.wait_for(N, PROMPT);
    check!(got == N, "eventfd {got}, expected {N}");
    let n = wait_value(KAIO_PARAM_NR, base, PROMPT)?;
    check!(n == base, "nr after the last close: {n}, expected {base}");
    Ok(())
}

fn lifecycle_delay_on_own_fd_does_not_pin() -> CaseResult {
    let efd = EventFd::new()?;
    let base = read_u64(KAIO_PARAM_NR)?;
    let k = Kaio::open()?;
    let ctx = Ctx::new(&k, 8)?;
    // A delay whose fd is the domain's own /dev/kaio fd.
    let mut cb = resfd(&efd, delay_iocb(k.fd, LONG_NS, 1));
    check_eq!(ctx.submit1(&mut cb), Ok(1));
    let (pages, _) = ring_geometry(8);
    let id = ctx.id;
    ctx.forget();
    std::mem::forget(ctx);
    drop(k); // closes the fd
    munmap(id, (pages * 4096) as usize)?;
    let got = efd.wait_for(1, PROMPT);
    check!(got == 1, "eventfd {got}: the delay kept its own domain alive");
    let n = wait_value(KAIO_PARAM_NR, base, PROMPT)?;
    check!(n == base, "nr {n}, expected {base}");
    Ok(())
}
