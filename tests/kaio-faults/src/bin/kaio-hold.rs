//! kaio-hold: holds kaio.ko busy for the unload selftest (tests/selftests/kaio_unload.sh).
//!
//! ```text
//! kaio-hold [-c CTXS] [-n REQS] [-d NS] [-f FORKS] [-C] [-w] [-r READY_FILE]
//! kaio-hold -q
//! ```
//!
//! Holding (the default): opens /dev/kaio, sets up CTXS contexts (default 2), submits REQS
//! delays of NS nanoseconds (default 8 of an hour) to each plus one that completes at once
//! (an unread event), forks FORKS children that share the file and the rings (they die with
//! the parent: PR_SET_PDEATHSIG), with -C closes its fd (the ring mappings still hold the
//! file), writes its pid and its children's to READY_FILE, then waits until killed: in
//! io_getevents with -w (with its fd), else in pause().
//!
//! -q: a short workload that leaves a context with a request in flight to the exit teardown;
//! exit status 0 if every call behaved.

use kaio::raw;
use kaio::uapi::*;
use std::time::Duration;

fn die(msg: &str) -> ! {
    eprintln!("kaio-hold: {msg}");
    std::process::exit(1);
}

fn ok<T>(r: Result<T, i32>, what: &str) -> T {
    r.unwrap_or_else(|e| die(&format!("{what}: errno {e}")))
}

fn submit(fd: i32, ctx: u64, iocbs: &mut [Box<Iocb>]) -> Result<i64, i32> {
    let ptrs: Vec<*mut Iocb> = iocbs.iter_mut().map(|b| &mut **b as *mut Iocb).collect();
    raw::submit(fd, ctx, ptrs.len() as i64, ptrs.as_ptr())
}

fn getevents(fd: i32, ctx: u64, min: i64, evs: &mut [IoEvent], timeout: Option<Duration>) -> Result<i64, i32> {
    let ts = timeout.map(|t| KernelTimespec { tv_sec: t.as_secs() as i64, tv_nsec: t.subsec_nanos() as i64 });
    let tp = ts.as_ref().map_or(std::ptr::null(), |t| t as *const KernelTimespec);
    raw::getevents(fd, ctx, min, evs.len() as i64, evs.as_mut_ptr(), tp)
}

/// The short workload between a load and an unload.
fn quick() {
    let fd = ok(raw::open(), "open /dev/kaio");
    let mut a = 0u64;
    let mut b = 0u64;
    ok(raw::setup(fd, 16, &mut a), "setup");
    ok(raw::setup(fd, 4, &mut b), "setup");
    let mut iocbs: Vec<Box<Iocb>> = (0..4).map(|i| Box::new(Iocb::delay(i * 1_000_000, fd).with_data(i as u64))).collect();
    iocbs.push(Box::new(Iocb::delay(3600 * 1_000_000_000, fd).with_data(99)));
    if ok(submit(fd, a, &mut iocbs), "submit") != 5 {
        die("submit accepted fewer than 5");
    }
    // SAFETY: `iocbs[4]` is the submitted long delay.
    match raw::cancel(fd, a, &mut *iocbs[4], std::ptr::null_mut()) {
        Err(libc::EINPROGRESS) => {}
        r => die(&format!("cancel: {r:?}")),
    }
    let mut evs = [IoEvent::default(); 8];
    let mut got = 0;
    while got < 5 {
        got += ok(getevents(fd, a, 1, &mut evs[got..], Some(Duration::from_secs(20))), "getevents") as usize;
    }
    if evs[..5].iter().any(|e| if e.data == 99 { e.res != -(libc::ECANCELED as i64) } else { e.res != 0 }) {
        die("unexpected event results");
    }
    // Left to the exit: context `b` with a request in flight and an unread event, and `a`.
    let mut more = vec![Box::new(Iocb::delay(3600 * 1_000_000_000, fd)), Box::new(Iocb::delay(0, fd))];
    if ok(submit(fd, b, &mut more), "submit") != 2 {
        die("submit accepted fewer than 2");
    }
    ok(raw::destroy(fd, a), "destroy");
    std::process::exit(0);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-q") {
        quick();
    }
    let (mut ctxs, mut reqs, mut ns, mut forks) = (2u32, 8u32, 3600i64 * 1_000_000_000, 0u32);
    let (mut close_fd, mut wait, mut ready) = (false, false, None::<String>);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().unwrap_or_else(|| die(&format!("{a} needs a value")));
        match a.as_str() {
            "-c" => ctxs = val().parse().unwrap_or_else(|_| die("-c")),
            "-n" => reqs = val().parse().unwrap_or_else(|_| die("-n")),
            "-d" => ns = val().parse().unwrap_or_else(|_| die("-d")),
            "-f" => forks = val().parse().unwrap_or_else(|_| die("-f")),
            "-r" => ready = Some(val()),
            "-C" => close_fd = true,
            "-w" => wait = true,
            _ => die(&format!("unknown argument {a}")),
        }
    }
    let fd = ok(raw::open(), "open /dev/kaio");
    let mut ids = Vec::new();
    // The iocbs stay alive for the life of the process (only their addresses matter).
    let mut all: Vec<Box<Iocb>> = Vec::new();
    for c in 0..ctxs {
        let mut id = 0u64;
        ok(raw::setup(fd, (reqs + 1).max(8), &mut id), "setup");
        let mut iocbs: Vec<Box<Iocb>> =
            (0..reqs).map(|i| Box::new(Iocb::delay(ns, fd).with_data(u64::from(c * 1000 + i)))).collect();
        iocbs.push(Box::new(Iocb::delay(0, fd).with_data(u64::from(c * 1000 + 999))));
        let n = ok(submit(fd, id, &mut iocbs), "submit");
        if n != i64::from(reqs) + 1 {
            die(&format!("submit accepted {n} of {}", reqs + 1));
        }
        all.extend(iocbs);
        ids.push(id);
    }
    let mut pids = vec![std::process::id() as i32];
    for _ in 0..forks {
        // SAFETY: single-threaded; the child only pauses.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: plain system calls.
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if libc::getppid() == 1 {
                    libc::_exit(0);
                }
                loop {
                    libc::pause();
                }
            }
        }
        pids.push(pid);
    }
    if close_fd {
        // SAFETY: our own fd; the rings keep the file open.
        unsafe { libc::close(fd) };
    }
    if let Some(p) = ready {
        let list: Vec<String> = pids.iter().map(|p| p.to_string()).collect();
        let tmp = format!("{p}.tmp");
        if std::fs::write(&tmp, list.join(" ") + "\n").and_then(|_| std::fs::rename(&tmp, &p)).is_err() {
            die(&format!("cannot write {p}"));
        }
    }
    if wait && !close_fd {
        let mut evs = [IoEvent::default(); 4];
        loop {
            // More than will ever complete: sleeps in the kernel until killed.
            let _ = getevents(fd, ids[0], 4, &mut evs, None);
        }
    }
    loop {
        // SAFETY: plain system call.
        unsafe { libc::pause() };
    }
}
