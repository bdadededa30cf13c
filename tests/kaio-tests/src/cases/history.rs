//! Bugs fs/aio.c had, as cases run on native AIO and on kaio and compared (each names the
//! fix's subject line as recalled).

use crate::aio::*;
use crate::check;
use crate::expect_eq;
use crate::files::*;
use crate::ktap::{Case, CaseResult};
use crate::util::*;
use kaio::uapi::*;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub fn cases() -> Vec<Case> {
    vec![
        Case::both("history_getevents_waiters_vs_producer_then_destroy", history_getevents_waiters_vs_producer_then_destroy),
        Case::both("history_fd_replaced_while_in_flight", history_fd_replaced_while_in_flight),
        Case::both("history_fsync_runs_with_submitter_creds", history_fsync_runs_with_submitter_creds),
        Case::both("history_rw_offsets_past_llong_max", history_rw_offsets_past_llong_max),
        Case::both("history_destroy_waits_for_every_request", history_destroy_waits_for_every_request),
    ]
}

/// CVE-2024-35874, "aio: Fix null ptr deref in aio_complete() wakeup" (2024): a waiter leaving
/// io_getevents while a completion wakes it. Six waiters (min_nr 1 to 4, timeouts 0 to 50 us)
/// reap what a producer submits (requests that complete at once), then wait with long
/// timeouts while the context is destroyed: every event is reaped exactly once, every waiter
/// returns.
fn history_getevents_waiters_vs_producer_then_destroy(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    const N: usize = 2000;
    const WAITERS: usize = 6;
    let ctx = Ctx::new(b, 256)?;
    let fx = Fx::new()?;
    let seen = Mutex::new(vec![0u8; N]);
    let reaped = AtomicUsize::new(0);
    let parked = AtomicBool::new(false);
    let returned = AtomicUsize::new(0);
    let problems = Mutex::new(Vec::<String>::new());
    let calls = AtomicU64::new(0);
    std::thread::scope(|s| -> CaseResult {
        for w in 0..WAITERS {
            let (ctx, seen, reaped, parked, returned, problems, calls) = (&ctx, &seen, &reaped, &parked, &returned, &problems, &calls);
            s.spawn(move || {
                block_all_signals();
                let mut i = w as i64;
                loop {
                    i += 1;
                    let long = parked.load(SeqCst);
                    let min = 1 + (i % 4);
                    let t = if long { ts(5, 0) } else { ts(0, (i * 7919) % 50_000) };
                    calls.fetch_add(1, SeqCst);
                    match ctx.getev(if long { 4 } else { min }, 8, Some(t)) {
                        Ok(evs) => {
                            let mut sn = seen.lock().unwrap();
                            for ev in &evs {
                                let d = ev.data as usize;
                                if d >= N {
                                    problems.lock().unwrap().push(format!("event with data {d}"));
                                    continue;
                                }
                                sn[d] += 1;
                                reaped.fetch_add(1, SeqCst);
                            }
                            if long && evs.is_empty() {
                                // The destroy may come after a timeout: wait again.
                                continue;
                            }
                        }
                        // The context is gone: this waiter is done.
                        Err(e) if e == EINVAL => break,
                        Err(e) => {
                            problems.lock().unwrap().push(format!("getevents: {e:?}"));
                            break;
                        }
                    }
                }
                returned.fetch_add(1, SeqCst);
            });
        }
        // The producer: requests that complete at once, in batches.
        let mut cbs: Vec<Iocb> = (0..N).map(|d| fx.ready(b, d as u64)).collect();
        let mut next = 0;
        let t0 = Instant::now();
        while next < N && t0.elapsed() < PROMPT {
            let end = (next + 16).min(N);
            let ptrs: Vec<*mut Iocb> = cbs[next..end].iter_mut().map(|c| c as *mut Iocb).collect();
            match ctx.submit(&ptrs) {
                Ok(n) if n > 0 => next += n as usize,
                // The ring is full until the waiters reap.
                Ok(_) | Err(_) => std::thread::yield_now(),
            }
        }
        while reaped.load(SeqCst) < next && t0.elapsed() < PROMPT {
            std::thread::sleep(Duration::from_millis(1));
        }
        parked.store(true, SeqCst);
        std::thread::sleep(Duration::from_millis(50));
        expect_eq!(o, "io_destroy with waiters parked", ctx.destroy(), Ok(0));
        let t1 = Instant::now();
        while returned.load(SeqCst) < WAITERS && t1.elapsed() < PROMPT {
            std::thread::sleep(Duration::from_millis(2));
        }
        expect_eq!(o, "every waiter returned after the destroy", returned.load(SeqCst), WAITERS);
        Ok(())
    })?;
    let sn = seen.lock().unwrap();
    let once = sn.iter().filter(|&&c| c == 1).count();
    let twice = sn.iter().filter(|&&c| c > 1).count();
    expect_eq!(o, "events reaped exactly once / more than once", (once, twice), (N, 0));
    expect_eq!(o, "problems", problems.lock().unwrap().clone(), Vec::<String>::new());
    eprintln!("# {}: {} getevents calls", b.name(), calls.load(SeqCst));
    Ok(())
}

/// "aio: hold an extra file reference over AIO read/write operations" (2018) and the poll
/// and fsync paths that keep their file: the fd a request was submitted with is replaced by
/// dup2 while the request is in flight. A POLL keeps waiting on the file it was submitted on
/// (data in the new file does not complete it, data in the old one does); an FSYNC completes
/// with 0.
fn history_fd_replaced_while_in_flight(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let ctx = Ctx::new(b, 8)?;
    let old = pipe_pair()?;
    let new = pipe_pair()?;
    // SAFETY: dup of an owned fd.
    let fd = unsafe { libc::dup(old.r) };
    let mut cb = poll_iocb(fd, POLLIN, 1);
    expect_eq!(o, "submit POLL on the old pipe", ctx.submit1(&mut cb), Ok(1));
    // SAFETY: dup2 over our own fd: it now names the new pipe, the old file stays referenced by
    // `old` and by the request.
    expect_eq!(o, "dup2 the new pipe over it", unsafe { libc::dup2(new.r, fd) } == fd, true);
    write_all(new.w, b"n")?;
    expect_eq!(o, "data in the new pipe completes nothing", ctx.getev(0, 4, Some(ts(0, 30_000_000))).map(|v| v.len()), Ok(0));
    write_all(old.w, b"o")?;
    let ev = ctx.wait_events(1, PROMPT)?;
    expect_eq!(o, "data in the old pipe completes it", (ev[0].data, ev[0].res & POLLIN as i64 != 0), (1, true));
    close(fd);
    // FSYNC of a tmpfs file whose fd is replaced at once.
    let path = format!("/tmp/kaio-history-{}-{}\0", std::process::id(), b.name());
    // SAFETY: NUL-terminated path; the fds are ours.
    let f = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC, 0o600) };
    // SAFETY: as above.
    unsafe { libc::unlink(path.as_ptr().cast()) };
    write_all(f, b"data")?;
    let mut fs = iocb(IOCB_CMD_FSYNC, f, 2);
    expect_eq!(o, "submit FSYNC", ctx.submit1(&mut fs), Ok(1));
    // SAFETY: replaces and then closes our own fd.
    unsafe {
        libc::dup2(new.w, f);
        libc::close(f);
    }
    let ev = ctx.wait_events(1, PROMPT)?;
    expect_eq!(o, "the FSYNC's event", (ev[0].data, ev[0].res), (2, 0));
    Ok(())
}

const TRACING: &str = "/sys/kernel/tracing";
const PROBE_GROUP: &str = "kaio_history";

/// Two kprobes, traced in a tracing instance of their own while this lives: `override_creds`
/// with the `fsuid` of the credentials it installs (`struct cred`: `usage` is 8 bytes, then
/// uid, gid, suid, sgid, euid, egid, fsuid: offset 32 in Linux 6.12), and `vfs_fsync` (which
/// both backends call; `vfs_fsync_range` is inlined into it).
struct CredProbes;

impl CredProbes {
    fn instance() -> String {
        format!("{TRACING}/instances/{PROBE_GROUP}")
    }

    fn define(line: &str) -> Result<(), String> {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(format!("{TRACING}/kprobe_events"))
            .map_err(|e| format!("open kprobe_events: {e}"))?;
        f.write_all(line.as_bytes()).map_err(|e| format!("kprobe_events {line:?}: {e}"))
    }

    fn on() -> Result<CredProbes, String> {
        if !std::path::Path::new(&format!("{TRACING}/events")).exists() {
            let _ = std::process::Command::new("mount").args(["-t", "tracefs", "tracefs", TRACING]).status();
        }
        // Leftovers of an interrupted run first.
        CredProbes::remove();
        CredProbes::define(&format!("p:{PROBE_GROUP}/override_creds override_creds fsuid=+32($arg1):u32\n"))?;
        CredProbes::define(&format!("p:{PROBE_GROUP}/vfs_fsync vfs_fsync\n"))?;
        let probes = CredProbes;
        std::fs::create_dir(CredProbes::instance()).map_err(|e| format!("mkdir {}: {e}", CredProbes::instance()))?;
        write_str(&format!("{}/events/{PROBE_GROUP}/enable", CredProbes::instance()), "1").map_err(|e| format!("enable the probes: {e}"))?;
        Ok(probes)
    }

    fn remove() {
        let _ = write_str(&format!("{}/events/{PROBE_GROUP}/enable", CredProbes::instance()), "0");
        let _ = std::fs::remove_dir(CredProbes::instance());
        let _ = CredProbes::define(&format!("-:{PROBE_GROUP}/override_creds\n"));
        let _ = CredProbes::define(&format!("-:{PROBE_GROUP}/vfs_fsync\n"));
    }

    /// Each `vfs_fsync` hit: the task's pid, and the fsuid the last `override_creds` of
    /// that task installed before it (None if it had installed none).
    fn fsyncs(&self) -> Result<Vec<(i32, Option<u32>)>, String> {
        let text = std::fs::read_to_string(format!("{}/trace", CredProbes::instance())).map_err(|e| format!("read the trace: {e}"))?;
        let mut installed = std::collections::HashMap::new();
        let mut out = Vec::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            // "   comm-pid   [cpu] flags  time: name: (sym+0x0/0x..) fsuid=N"
            let Some(task) = line.split(" [").next() else { continue };
            let Some(pid) = task.trim().rsplit('-').next().and_then(|p| p.parse::<i32>().ok()) else { continue };
            if line.contains(": override_creds: ") {
                let fsuid = line.rsplit("fsuid=").next().and_then(|v| v.trim().parse::<u32>().ok());
                installed.insert(pid, fsuid);
            } else if line.contains(": vfs_fsync: ") {
                out.push((pid, installed.get(&pid).copied().flatten()));
            }
        }
        Ok(out)
    }
}

impl Drop for CredProbes {
    fn drop(&mut self) {
        CredProbes::remove();
    }
}

/// "aio: fix async fsync creds" (2020): the FSYNC runs later in a worker, and must run with the
/// submitter's credentials, not the worker's. A thread whose fsuid is 4321 submits an FSYNC of
/// a tmpfs file; kprobes on `override_creds` and `vfs_fsync` show the fsync ran in
/// another task, after that task installed credentials with fsuid 4321.
fn history_fsync_runs_with_submitter_creds(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    const FSUID: u32 = 4321;
    let path = format!("/tmp/kaio-history-creds-{}-{}\0", std::process::id(), b.name());
    // SAFETY: NUL-terminated path.
    let f = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC, 0o600) };
    if f < 0 {
        return Err(format!("open {path}: errno {}", kaio::raw::errno()));
    }
    // SAFETY: as above.
    unsafe { libc::unlink(path.as_ptr().cast()) };
    write_all(f, b"data")?;
    let ctx = Ctx::new(b, 4)?;
    let probes = CredProbes::on()?;
    let (tid, submitted) = std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: plain system calls; setfsuid changes this thread's credentials only.
            let tid = unsafe {
                libc::syscall(libc::SYS_setfsuid, FSUID);
                libc::syscall(libc::SYS_gettid) as i32
            };
            let mut cb = iocb(IOCB_CMD_FSYNC, f, 7);
            (tid, ctx.submit1(&mut cb))
        })
        .join()
        .expect("submitting thread")
    });
    expect_eq!(o, "submit FSYNC as fsuid 4321", submitted, Ok(1));
    let ev = ctx.wait_events(1, PROMPT)?;
    expect_eq!(o, "the FSYNC's event", (ev[0].data, ev[0].res), (7, 0));
    let fsyncs = probes.fsyncs()?;
    drop(probes);
    close(f);
    let seen: Vec<(bool, Option<u32>)> = fsyncs.iter().map(|&(pid, fsuid)| (pid != tid, fsuid)).collect();
    expect_eq!(o, "vfs_fsync calls: (in another task than the submitter, fsuid installed)", seen, vec![(true, Some(FSUID))]);
    Ok(())
}

/// CVE-2012-6701, "vfs: make AIO use the proper rw_verify_area() area helpers" (2012): AIO
/// reads and writes skipped `rw_verify_area`, so an offset that is negative or that the length
/// carries past LLONG_MAX reached the file system. PREAD, PREADV and PWRITE on a tmpfs file at
/// offsets around LLONG_MAX and below 0: every submit's result and every event's `res` as
/// native's (EINVAL at submit where the range overflows or the offset is negative).
fn history_rw_offsets_past_llong_max(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let ctx = Ctx::new(b, 16)?;
    let path = format!("/tmp/kaio-history-offsets-{}-{}\0", std::process::id(), b.name());
    // SAFETY: NUL-terminated path.
    let f = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC, 0o600) };
    if f < 0 {
        return Err(format!("open {path}: errno {}", kaio::raw::errno()));
    }
    // SAFETY: as above.
    unsafe { libc::unlink(path.as_ptr().cast()) };
    write_all(f, &[0x5a; 8192])?;
    let mut buf = vec![0u8; 4096];
    let iov = [libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: 100 }];
    let offsets: [(i64, u64, &str); 4] = [
        (i64::MAX - 10, 100, "LLONG_MAX-10, 100 bytes (past LLONG_MAX)"),
        (i64::MAX - 4096, 4096, "LLONG_MAX-4096, 4096 bytes (ending at LLONG_MAX)"),
        (-1, 100, "-1"),
        (i64::MIN, 100, "LLONG_MIN"),
    ];
    for (offset, len, name) in offsets {
        let ops: &[(u16, &str)] = if offset == i64::MAX - 10 {
            &[(IOCB_CMD_PREAD, "pread"), (IOCB_CMD_PREADV, "preadv"), (IOCB_CMD_PWRITE, "pwrite")]
        } else {
            &[(IOCB_CMD_PREAD, "pread"), (IOCB_CMD_PREADV, "preadv")]
        };
        for &(op, opname) in ops {
            let (aio_buf, aio_nbytes) =
                if op == IOCB_CMD_PREADV { (iov.as_ptr() as u64, 1) } else { (buf.as_mut_ptr() as u64, len) };
            let mut cb = Iocb { aio_buf, aio_nbytes, aio_offset: offset, ..iocb(op, f, 9) };
            let r = ctx.submit1(&mut cb);
            o.rec(format!("{opname} at {name}: submit"), r);
            if r == Ok(1) {
                let ev = ctx.wait_events(1, PROMPT)?;
                o.rec(format!("{opname} at {name}: res"), ev[0].res);
            }
        }
    }
    close(f);
    Ok(())
}

/// "aio: block io_destroy() until all context requests are completed" (2015): io_destroy
/// returned while requests were still in flight. Here the teardown cannot even begin when
/// io_destroy is called: a thread is blocked inside io_submit, reading an empty blocking pipe
/// (a read Linux runs inline), and holds the context's `users` reference there, with 192
/// RESFD requests in flight that only a teardown ends. The pipe gets its byte 300 ms after
/// io_destroy is called: io_destroy returns only after that byte was written, with all 193
/// eventfd counts arrived (the read's and the teardown's), and none comes later.
fn history_destroy_waits_for_every_request(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    const PENDING: u64 = 192;
    const BYTE_AFTER: Duration = Duration::from_millis(300);
    o.rec("run in a child", ());
    in_child(PROMPT, || {
        let efd = EventFd::new()?;
        let fx = Fx::new()?;
        let ctx = Ctx::new(b, 256)?;
        let mut fds = [0; 2];
        // SAFETY: fds is a valid array of two ints.
        check!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == 0, "pipe2: errno {}", kaio::raw::errno());
        let (r, w) = (fds[0], fds[1]);
        let mut cbs: Vec<Iocb> = (0..PENDING).map(|d| fx.pending(b, d).with_resfd(efd.0)).collect();
        ctx.submit_all(&mut cbs)?;
        let mut byte = [0u8; 1];
        let mut read = Iocb { aio_buf: byte.as_mut_ptr() as u64, aio_nbytes: 1, ..iocb(IOCB_CMD_PREAD, r, 777) }.with_resfd(efd.0);
        let read_addr = &mut read as *mut Iocb as usize;
        let reader_tid = AtomicU64::new(0);
        let written = AtomicBool::new(false);
        let (destroyed, written_by_then, submitted) = std::thread::scope(|s| -> Result<_, String> {
            let reader = s.spawn(|| {
                // SAFETY: plain system call.
                reader_tid.store(unsafe { libc::syscall(libc::SYS_gettid) } as u64, SeqCst);
                let p: [*mut Iocb; 1] = [read_addr as *mut Iocb];
                ctx.b.submit(ctx.id, 1, p.as_ptr())
            });
            // The reader is asleep: in io_submit, in the pipe's read.
            let t0 = Instant::now();
            let asleep = loop {
                let tid = reader_tid.load(SeqCst);
                let state = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
                let state = state.rsplit(") ").next().and_then(|rest| rest.chars().next());
                if tid != 0 && state == Some('S') {
                    break true;
                }
                if t0.elapsed() > PROMPT {
                    break false;
                }
                std::thread::sleep(ms(1));
            };
            let writer = s.spawn(|| {
                std::thread::sleep(BYTE_AFTER);
                written.store(true, SeqCst);
                // SAFETY: writes one byte from a valid buffer to the pipe's write end.
                unsafe { libc::write(w, b"x".as_ptr().cast(), 1) };
            });
            let destroyed = if asleep { ctx.destroy() } else { Err(Errno(0)) };
            let written_by_then = written.load(SeqCst);
            let at_return = efd.take();
            std::thread::sleep(ms(50));
            let late = efd.take();
            writer.join().map_err(|_| "writer panicked")?;
            let submitted = reader.join().map_err(|_| "reader panicked")?;
            check!(asleep, "the reader did not go to sleep in io_submit");
            Ok(((destroyed, at_return, late), written_by_then, submitted))
        })?;
        close(r);
        close(w);
        check!(
            destroyed == (Ok(0), PENDING + 1, 0),
            "io_destroy, eventfd counts when it returned / later: {destroyed:?}, want (Ok(0), {}, 0)",
            PENDING + 1
        );
        check!(written_by_then, "io_destroy returned before the byte the blocked read waits for was written");
        check!(submitted == Ok(1) && byte == *b"x", "the blocked io_submit: {submitted:?}, read {byte:?}");
        Ok(())
    })
}
