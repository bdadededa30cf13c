//! The `make run` demo: the lifecycle of a kaio context, printed step by step.
//! Sets up a context, submits delay requests, cancels some, reaps every event, destroys it.
//! Exits non-zero if anything differs from what the ABI promises (README.md).

use kaio::raw;
use kaio::uapi::*;

fn fail(what: &str) -> ! {
    println!("kaio-demo: FAILED: {what}");
    std::process::exit(1);
}

/// An errno as its name (`EINVAL`), the way a person reads it; `errno N` for one not listed.
fn errno_name(e: i32) -> String {
    let n = match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EFAULT => "EFAULT",
        libc::EINVAL => "EINVAL",
        libc::ENOTTY => "ENOTTY",
        libc::ENOSYS => "ENOSYS",
        libc::ENXIO => "ENXIO",
        libc::ENODEV => "ENODEV",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EINPROGRESS => "EINPROGRESS",
        libc::ECANCELED => "ECANCELED",
        _ => return format!("errno {e}"),
    };
    n.to_string()
}

/// A call's outcome as a person reads it: `returned N` or the errno's name.
fn outcome(r: Result<i64, i32>) -> String {
    match r {
        Ok(n) => format!("returned {n}"),
        Err(e) => errno_name(e),
    }
}

fn main() {
    let fd = raw::open().unwrap_or_else(|e| fail(&format!("open /dev/kaio: {}", errno_name(e))));
    let mut ctx: u64 = 0;
    raw::setup(fd, 32, &mut ctx).unwrap_or_else(|e| fail(&format!("setup: {}", errno_name(e))));
    // SAFETY: the ctx id is the address of the ring header the module mapped for us.
    let ring = unsafe { std::ptr::read_volatile(ctx as *const AioRing) };
    println!(
        "setup: ctx id {ctx:#x}, ring id {} nr {} magic {:#x} header_length {}",
        ring.id, ring.nr, ring.magic, ring.header_length
    );

    const N: usize = 8;
    let mut iocbs: Vec<Iocb> = (0..N)
        .map(|i| Iocb {
            aio_data: i as u64,
            aio_lio_opcode: KAIO_CMD_DELAY,
            aio_fildes: fd as u32,
            aio_offset: 200_000_000 + 50_000_000 * i as i64,
            aio_key: 0xdead,
            ..Default::default()
        })
        .collect();
    let ptrs: Vec<*mut Iocb> = iocbs.iter_mut().map(|c| c as *mut Iocb).collect();
    let n = raw::submit(fd, ctx, N as i64, ptrs.as_ptr()).unwrap_or_else(|e| fail(&format!("submit: {}", errno_name(e))));
    println!("submit: {n} delay requests (200 ms .. 550 ms)");
    if n != N as i64 {
        fail("not every request was accepted");
    }

    let cancelled = [1usize, 4, 6];
    for &i in &cancelled {
        let r = raw::cancel(fd, ctx, ptrs[i], std::ptr::null_mut());
        println!("cancel request {i}: {}", match r {
            Err(libc::EINPROGRESS) => "EINPROGRESS (its event comes through the ring)".to_string(),
            other => outcome(other),
        });
        if r != Err(libc::EINPROGRESS) {
            fail("cancel did not return EINPROGRESS");
        }
    }

    let mut events = vec![IoEvent::default(); N];
    let mut got = 0usize;
    while got < N {
        let n = raw::getevents(fd, ctx, 1, (N - got) as i64, events[got..].as_mut_ptr(), std::ptr::null())
            .unwrap_or_else(|e| fail(&format!("getevents: {}", errno_name(e))));
        got += n as usize;
    }
    for ev in &events {
        println!("event: data {} obj {:#x} res {} ({})", ev.data, ev.obj, ev.res,
            if ev.res == 0 { "expired" } else if ev.res == -(libc::ECANCELED as i64) { "cancelled" } else { "?" });
        let i = ev.data as usize;
        let want = if cancelled.contains(&i) { -(libc::ECANCELED as i64) } else { 0 };
        if ev.res != want || ev.obj != ptrs[i] as u64 {
            fail("unexpected event");
        }
    }
    raw::destroy(fd, ctx).unwrap_or_else(|e| fail(&format!("destroy: {}", errno_name(e))));
    let again = raw::destroy(fd, ctx);
    println!("destroy: ok; a second destroy gives {}", outcome(again));
    if again != Err(libc::EINVAL) {
        fail("a second destroy did not return EINVAL");
    }
    println!("kaio-demo: all {N} requests produced exactly one event each");
}
