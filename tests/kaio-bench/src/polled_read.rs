//! Benchmark 7, a read that becomes ready after submit: a 4096-byte read on an AF_UNIX stream
//! socket pair (then a pipe) is submitted while nothing is there; a 64-byte write to the peer
//! makes it ready. N = 1, 8, 64 reads in flight, each on its own socket pair (pipe): a server
//! with N connections, each with a read waiting, which is the use POLLED_RW is for (N reads on
//! one socket would measure which waiter the socket wakes, not the AIO path).
//!
//! Variants, sampled round-robin:
//!
//! - sync: no AIO, the reference: `write(2)` then `read(2)` of the data now there;
//! - kaio getev: a `KAIO_SETUP_POLLED_RW` context, `KAIO_IOC_SUBMIT` (the read waits in the
//!   kernel, io_submit returns), then `KAIO_IOC_GETEVENTS(min_nr = the reads outstanding)`;
//! - kaio ring: the same, reaping from the mapped ring first and calling
//!   `KAIO_IOC_GETEVENTS(min_nr = the rest)` only for what is not there yet;
//! - io_uring: `IORING_OP_READ` SQEs, `io_uring_enter(submit)` (no SQPOLL, no flags), CQEs
//!   reaped from the CQ ring first, `io_uring_enter(0, min_complete = the rest, GETEVENTS)`
//!   for what is not there yet;
//! - glibc, libkaio-posix: `posix/posix_bench.c`, written against `<aio.h>` only
//!   (`aio_read`, `aio_suspend`, `aio_error`, `aio_return`) and built twice, statically, against
//!   glibc's POSIX AIO and against libkaio-posix (the two cannot live in one binary). They run
//!   as child processes next to this program, driven over a pipe; each times itself with the
//!   same TSC and returns ticks, so their samples join the same round-robin groups. Absent
//!   binaries: the column says so.
//!
//! Latency: N reads in flight; a sample writes one message to the peer of the oldest, and
//! times from before that `write(2)` until its event (CQE, `aio_error` not EINPROGRESS) has
//! been reaped and checked; the read is then resubmitted: N stays. That re-submission is
//! timed apart (the in-process variants): the submit half of a read's cost, which the latency
//! leaves out and the throughput includes.
//! Throughput: from nothing in flight, one unit is: submit N reads (one call: KAIO_IOC_SUBMIT
//! of N iocbs, one io_uring_enter; POSIX: N aio_read), write one message to each of the N
//! peers, reap all N; ns per read = unit time / N.
//!
//! The writer is the thread that submitted (one thread per variant): io_uring's read then runs
//! from task work on the return from that `write(2)`; kaio's from its workqueue (an unbound
//! kworker); glibc's in its helper thread, woken in `read(2)`; libkaio-posix's from kaio's
//! workqueue, its reaper thread woken by the eventfd, then the `aio_suspend` caller.
//!
//! A second latency table (N = 1, in-process variants) has the write made by another thread,
//! woken through a pipe, which stamps the TSC before its `write(2)`: then io_uring's task work
//! has to wake the submitter, as a read on a socket fed by another process would.
//!
//! Every completion is checked: the right request (`data`/`obj`, `user_data`, the aiocb), the
//! byte count (64), the bytes (message `seq` of pair `i`, each byte a function of both).

use crate::aio::{ring, Api, PROMPT};
use crate::clock::{duration, Stamp};
use crate::report::{cell, ratio, Section};
use crate::stats::{latency_group_warm, throughput_group, Plan, Summary};
use crate::Env;
use io_uring::{opcode, types, IoUring};
use kaio::uapi::{IoEvent, Iocb, IOCB_CMD_PREAD, KAIO_SETUP_POLLED_RW};
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

pub const DEPTHS: [usize; 3] = [1, 8, 64];
const MAX: usize = 64;
const BUF: usize = 4096;
const MSG: usize = 64;
/// Latency runs: WARMUP untimed samples, then RUN_LEN timed, per variant in turn.
const WARMUP: usize = 2;
const RUN_LEN: usize = 8;

const LAT_PLAN: Plan = Plan {
    budget: Duration::from_millis(2500),
    min_samples: 10,
    max_samples: 4000,
    target_sample: Duration::ZERO,
};

const TPUT_PLAN: Plan = Plan {
    budget: Duration::from_millis(2500),
    min_samples: 5,
    max_samples: 300,
    target_sample: Duration::from_millis(3),
};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Sock,
    Pipe,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Sock => "sock",
            Kind::Pipe => "pipe",
        }
    }
}

/// The variants: label, JSON key.
const VARIANTS: [(&str, &str); 6] = [
    ("sync read", "sync_read"),
    ("kaio getev", "kaio_polled_getevents"),
    ("kaio ring", "kaio_polled_ring"),
    ("io_uring", "io_uring_read"),
    ("glibc", "posix_glibc"),
    ("libkaio-posix", "posix_libkaio"),
];
const SYNC: usize = 0;
const KGETEV: usize = 1;
const KRING: usize = 2;
const URING: usize = 3;
const GLIBC: usize = 4;
const KPOSIX: usize = 5;

/// Message `seq` of pair `i` (the same bytes as posix_bench.c's `fill`).
fn fill(m: &mut [u8], i: usize, seq: u32) {
    for (k, b) in m.iter_mut().enumerate() {
        *b = (i as u32)
            .wrapping_mul(131)
            .wrapping_add(seq.wrapping_mul(7))
            .wrapping_add(k as u32) as u8;
    }
}

fn errno() -> i32 {
    kaio::raw::errno()
}

/// MAX read buffers of BUF bytes, written by the kernel while a read is in flight (so never
/// borrowed as a slice then).
struct Bufs {
    ptr: *mut u8,
    layout: Layout,
}

impl Bufs {
    fn new() -> Bufs {
        let layout = Layout::from_size_align(MAX * BUF, 4096).expect("layout");
        // SAFETY: non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        assert!(!ptr.is_null(), "out of memory");
        Bufs { ptr, layout }
    }

    fn at(&self, i: usize) -> *mut u8 {
        assert!(i < MAX);
        self.ptr.wrapping_add(i * BUF)
    }

    /// The first MSG bytes of buffer `i`; only once its read has completed.
    fn head(&self, i: usize) -> [u8; MSG] {
        let mut m = [0u8; MSG];
        // SAFETY: inside the allocation; no read is in flight on buffer i (its completion has
        // been reaped).
        unsafe { std::ptr::copy_nonoverlapping(self.at(i), m.as_mut_ptr(), MSG) };
        m
    }

    /// Spoils buffer `i`'s first bytes before a read, so that stale data never passes.
    fn spoil(&self, i: usize) {
        // SAFETY: inside the allocation; nothing is in flight on buffer i.
        unsafe { std::ptr::write_bytes(self.at(i), 0xee, MSG) };
    }
}

impl Drop for Bufs {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; nothing is in flight (every variant
        // drains, or its context / ring is gone, before its buffers).
        unsafe { dealloc(self.ptr, self.layout) };
    }
}

/// MAX socket pairs or pipes: read ends and write ends.
struct Pairs {
    rd: Vec<OwnedFd>,
    wr: Vec<OwnedFd>,
    seq: Vec<u32>,
}

impl Pairs {
    fn new(kind: Kind) -> Result<Pairs, String> {
        let (mut rd, mut wr) = (Vec::new(), Vec::new());
        for _ in 0..MAX {
            let mut fds = [0; 2];
            // SAFETY: both calls write two fds into `fds`.
            let r = unsafe {
                match kind {
                    Kind::Sock => libc::socketpair(
                        libc::AF_UNIX,
                        libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                        0,
                        fds.as_mut_ptr(),
                    ),
                    Kind::Pipe => libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC),
                }
            };
            if r != 0 {
                return Err(format!("{kind:?}: errno {}", errno()));
            }
            // SAFETY: just created, owned here.
            unsafe {
                rd.push(OwnedFd::from_raw_fd(fds[0]));
                wr.push(OwnedFd::from_raw_fd(fds[1]));
            }
        }
        Ok(Pairs {
            rd,
            wr,
            seq: vec![0; MAX],
        })
    }

    /// Writes message seq[i] to pair i's peer.
    fn poke(&self, i: usize) -> Result<(), String> {
        let mut m = [0u8; MSG];
        fill(&mut m, i, self.seq[i]);
        // SAFETY: writes from our buffer.
        let r = unsafe { libc::write(self.wr[i].as_raw_fd(), m.as_ptr().cast(), MSG) };
        if r != MSG as isize {
            return Err(format!("write to pair {i}: {r}, errno {}", errno()));
        }
        Ok(())
    }
}

/// A writer thread: told over a pipe which pair to write to, it stamps the time and writes
/// the message (the time is read back after the completion has been reaped).
struct Remote {
    ctl: Option<OwnedFd>,
    stamp: std::sync::Arc<std::sync::atomic::AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Binds the calling thread to `cpu` (best effort).
fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET stays inside it; sched_setaffinity(0)
    // applies to the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Unbinds the calling thread (every CPU).
fn unpin() {
    // SAFETY: as in `pin`.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for c in 0..libc::CPU_SETSIZE as usize {
            libc::CPU_SET(c, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// What the writer thread is asked to write: message `seq` of pair `i` to `fd`.
#[repr(C)]
#[derive(Clone, Copy)]
struct Order {
    fd: i32,
    i: u32,
    seq: u32,
}

impl Remote {
    fn new() -> Result<Remote, String> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two fds.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(format!("pipe2: errno {}", errno()));
        }
        // SAFETY: just created, owned here.
        let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let stamp = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let st = stamp.clone();
        let thread = std::thread::spawn(move || {
            // On the CPU the submitter is bound to while it gives orders.
            pin(0);
            loop {
                let mut o = Order {
                    fd: -1,
                    i: 0,
                    seq: 0,
                };
                let len = std::mem::size_of::<Order>();
                // SAFETY: reads into `o`, plain data.
                let r = unsafe { libc::read(rd.as_raw_fd(), (&mut o as *mut Order).cast(), len) };
                if r != len as isize {
                    return; // EOF: the benchmark is done
                }
                let mut m = [0u8; MSG];
                fill(&mut m, o.i as usize, o.seq);
                st.store(crate::clock::ticks(), std::sync::atomic::Ordering::SeqCst);
                // SAFETY: writes from our buffer; the fd is open until the variant is dropped,
                // after its last order has completed.
                let w = unsafe { libc::write(o.fd, m.as_ptr().cast(), MSG) };
                if w != MSG as isize {
                    st.store(0, std::sync::atomic::Ordering::SeqCst);
                }
            }
        });
        Ok(Remote {
            ctl: Some(wr),
            stamp,
            thread: Some(thread),
        })
    }

    fn order(&self, o: Order) -> Result<(), String> {
        let len = std::mem::size_of::<Order>();
        let fd = self.ctl.as_ref().ok_or("writer stopped")?.as_raw_fd();
        // SAFETY: writes `o` (plain data); at most PIPE_BUF bytes, so atomically.
        let r = unsafe { libc::write(fd, (&o as *const Order).cast(), len) };
        if r != len as isize {
            return Err(format!("writer pipe: {r}, errno {}", errno()));
        }
        Ok(())
    }

    /// The TSC the writer read before its last write (0: that write failed).
    fn stamp(&self) -> u64 {
        self.stamp.swap(0, std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        self.ctl = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How an in-process variant submits and reaps.
#[derive(Clone, Copy, PartialEq, Eq)]
enum How {
    Sync,
    KaioGetev,
    KaioRing,
    Uring,
}

/// An in-process variant: its own pairs, buffers, context or ring, and reads in flight.
struct Local {
    how: How,
    label: &'static str,
    pairs: Pairs,
    bufs: Bufs,
    api: Api,
    ctx: u64,
    iocbs: Box<[Iocb]>,
    /// The iocb pointers of the last submit.
    ptrs: Vec<*mut Iocb>,
    uring: Option<IoUring>,
    /// Reads in flight, oldest first; `depth` is the N they were set up for (0: none).
    order: VecDeque<usize>,
    depth: usize,
    /// Which pairs have a read in flight and a message written for it.
    poked: [bool; MAX],
    events: Vec<IoEvent>,
    done: Vec<(usize, i64)>,
}

impl Local {
    fn new(how: How, label: &'static str, kind: Kind, dom: &kaio::Domain) -> Result<Local, String> {
        let pairs = Pairs::new(kind)?;
        let bufs = Bufs::new();
        let api = Api::Kaio(dom.as_raw_fd());
        let mut ctx = 0;
        if matches!(how, How::KaioGetev | How::KaioRing) {
            kaio::raw::setup_with_flags(
                dom.as_raw_fd(),
                2 * MAX as u32,
                KAIO_SETUP_POLLED_RW,
                &mut ctx,
            )
            .map_err(|e| format!("{label}: setup(POLLED_RW): errno {e}"))?;
        }
        let uring = if how == How::Uring {
            Some(IoUring::new(2 * MAX as u32).map_err(|e| format!("io_uring_setup: {e}"))?)
        } else {
            None
        };
        let iocbs = (0..MAX)
            .map(|i| {
                Iocb::new(IOCB_CMD_PREAD, pairs.rd[i].as_raw_fd())
                    .with_data(i as u64)
                    .with_buf(bufs.at(i) as u64, BUF as u64, 0)
            })
            .collect();
        Ok(Local {
            how,
            label,
            pairs,
            bufs,
            api,
            ctx,
            iocbs,
            ptrs: Vec::with_capacity(MAX),
            uring,
            order: VecDeque::new(),
            depth: 0,
            poked: [false; MAX],
            events: vec![IoEvent::default(); MAX],
            done: Vec::with_capacity(MAX),
        })
    }

    /// Submits a read on each pair of `idx`, in one call.
    fn submit(&mut self, idx: impl Iterator<Item = usize> + Clone) -> Result<(), String> {
        for i in idx.clone() {
            self.bufs.spoil(i);
        }
        match self.how {
            How::Sync => Ok(()),
            How::KaioGetev | How::KaioRing => {
                let base = self.iocbs.as_mut_ptr();
                // The pointer array is kept (no allocation per call, as io_uring's SQ ring).
                self.ptrs.clear();
                self.ptrs.extend(idx.map(|i| base.wrapping_add(i)));
                match self.api.submit(self.ctx, &self.ptrs) {
                    Ok(n) if n == self.ptrs.len() as i64 => Ok(()),
                    r => Err(format!("{}: submit of {}: {r:?}", self.label, self.ptrs.len())),
                }
            }
            How::Uring => {
                let ring = self.uring.as_mut().expect("io_uring variant");
                let mut count = 0;
                {
                    let mut sq = ring.submission();
                    for i in idx {
                        let e = opcode::Read::new(
                            types::Fd(self.pairs.rd[i].as_raw_fd()),
                            self.bufs.at(i),
                            BUF as u32,
                        )
                        .offset(0)
                        .build()
                        .user_data(i as u64);
                        // SAFETY: the buffer stays valid and untouched until the CQE is reaped.
                        unsafe { sq.push(&e) }.map_err(|_| "io_uring: SQ full".to_string())?;
                        count += 1;
                    }
                }
                match ring.submit() {
                    Ok(n) if n == count => Ok(()),
                    r => Err(format!("io_uring: submit of {count}: {r:?}")),
                }
            }
        }
    }

    /// Waits for `n` completions (of poked reads) into `self.done`.
    fn collect(&mut self, n: usize) -> Result<(), String> {
        self.done.clear();
        match self.how {
            How::Sync => {
                for i in 0..MAX {
                    if self.poked[i] {
                        // SAFETY: reads into buffer i (BUF bytes).
                        let r = unsafe {
                            libc::read(self.pairs.rd[i].as_raw_fd(), self.bufs.at(i).cast(), BUF)
                        };
                        self.done.push((i, r as i64));
                    }
                }
            }
            How::KaioGetev | How::KaioRing => {
                let mut got = 0;
                if self.how == How::KaioRing {
                    // SAFETY: the context is live while this variant exists.
                    let view = unsafe { ring(self.ctx) }?;
                    got = view.reap(&mut self.events[..n]);
                }
                while got < n {
                    let k = self
                        .api
                        .getevents(self.ctx, n - got, &mut self.events[got..n], Some(&PROMPT))
                        .map_err(|e| format!("{}: getevents: errno {e}", self.label))?;
                    if k == 0 {
                        return Err(format!("{}: {got} of {n} events after 10 s", self.label));
                    }
                    got += k;
                }
                for ev in &self.events[..n] {
                    let i = ev.data as usize;
                    if i >= MAX || ev.obj != &self.iocbs[i] as *const Iocb as u64 {
                        return Err(format!("{}: unexpected event {ev:?}", self.label));
                    }
                    self.done.push((i, ev.res));
                }
            }
            How::Uring => {
                let ring = self.uring.as_mut().expect("io_uring variant");
                let t0 = Stamp::now();
                loop {
                    for cqe in ring.completion() {
                        self.done
                            .push((cqe.user_data() as usize, i64::from(cqe.result())));
                    }
                    if self.done.len() >= n {
                        break;
                    }
                    if t0.elapsed() > Duration::from_secs(10) {
                        return Err(format!(
                            "io_uring: {} of {n} CQEs after 10 s",
                            self.done.len()
                        ));
                    }
                    ring.submit_and_wait(n - self.done.len())
                        .map_err(|e| format!("io_uring_enter: {e}"))?;
                }
            }
        }
        if self.done.len() != n {
            return Err(format!(
                "{}: {} completions, expected {n}",
                self.label,
                self.done.len()
            ));
        }
        for k in 0..n {
            let (i, res) = self.done[k];
            self.check(i, res)?;
        }
        Ok(())
    }

    /// Checks read i's completion: a poked read, 64 bytes, message seq[i] of pair i.
    fn check(&mut self, i: usize, res: i64) -> Result<(), String> {
        if i >= MAX || !self.poked[i] {
            return Err(format!(
                "{}: completion of request {i} (res {res}), not expected",
                self.label
            ));
        }
        self.poked[i] = false;
        if res != MSG as i64 {
            return Err(format!(
                "{}: pair {i} read {res} bytes, expected {MSG}",
                self.label
            ));
        }
        let mut m = [0u8; MSG];
        fill(&mut m, i, self.pairs.seq[i]);
        if self.bufs.head(i) != m {
            return Err(format!(
                "{}: pair {i}: wrong data for message {}",
                self.label, self.pairs.seq[i]
            ));
        }
        self.pairs.seq[i] = self.pairs.seq[i].wrapping_add(1);
        Ok(())
    }

    fn poke(&mut self, i: usize) -> Result<(), String> {
        self.poked[i] = true;
        self.pairs.poke(i)
    }

    /// Completes every read in flight (a message to each) and checks them.
    fn drain(&mut self) -> Result<(), String> {
        let n = self.order.len();
        for k in 0..n {
            let i = self.order[k];
            self.poke(i)?;
        }
        if n > 0 {
            self.collect(n)?;
        }
        self.order.clear();
        self.depth = 0;
        Ok(())
    }

    /// N reads in flight, on pairs 0..N.
    fn ensure(&mut self, n: usize) -> Result<(), String> {
        if self.depth != n {
            self.drain()?;
            if self.how != How::Sync {
                self.submit(0..n)?;
                self.order.extend(0..n);
            }
            self.depth = n;
        }
        Ok(())
    }

    /// One latency sample: write to the oldest read's peer, until its completion is reaped.
    /// Also returns how long the read's re-submission took (zero for sync), outside the
    /// latency: the submit half of a read's cost, which the latency leaves out.
    fn lat(&mut self) -> Result<(Duration, Duration), String> {
        let i = if self.how == How::Sync {
            0
        } else {
            self.order.pop_front().ok_or("nothing in flight")?
        };
        let t0 = Stamp::now();
        self.poke(i)?;
        self.collect(1)?;
        let t1 = Stamp::now();
        let mut resubmit = Duration::ZERO;
        if self.how != How::Sync {
            self.submit(std::iter::once(i))?;
            resubmit = t1.elapsed();
            self.order.push_back(i);
        }
        Ok((t1 - t0, resubmit))
    }

    /// One latency sample with the write made by the writer thread: from its stamp before
    /// `write(2)` until the completion is reaped here.
    fn lat_remote(&mut self, remote: &Remote) -> Result<Duration, String> {
        let i = if self.how == How::Sync {
            0
        } else {
            self.order.pop_front().ok_or("nothing in flight")?
        };
        self.poked[i] = true;
        remote.order(Order {
            fd: self.pairs.wr[i].as_raw_fd(),
            i: i as u32,
            seq: self.pairs.seq[i],
        })?;
        self.collect(1)?;
        let t1 = crate::clock::ticks();
        let t0 = remote.stamp();
        if t0 == 0 {
            return Err(format!("{}: the writer thread's write failed", self.label));
        }
        if self.how != How::Sync {
            self.submit(std::iter::once(i))?;
            self.order.push_back(i);
        }
        Ok(duration(t1.saturating_sub(t0)))
    }

    /// `k` throughput units of `n` reads from nothing in flight; returns the time.
    fn units(&mut self, n: usize, k: u64) -> Result<Duration, String> {
        self.ensure(0)?;
        let t0 = Stamp::now();
        for _ in 0..k {
            self.submit(0..n)?;
            for i in 0..n {
                self.poke(i)?;
            }
            self.collect(n)?;
        }
        Ok(t0.elapsed())
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        let _ = self.drain();
        if self.ctx != 0 {
            let _ = self.api.destroy(self.ctx);
        }
        // The io_uring (and with it any read still in flight) goes before the buffers.
        self.uring = None;
    }
}

/// A posix_bench child process.
struct Posix {
    label: &'static str,
    child: Child,
    stdin: ChildStdin,
    out: BufReader<ChildStdout>,
    samples: VecDeque<Duration>,
}

impl Posix {
    fn spawn(label: &'static str, path: &std::path::Path) -> Result<Posix, String> {
        let mut child = Command::new(path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let out = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut p = Posix {
            label,
            child,
            stdin,
            out,
            samples: VecDeque::new(),
        };
        let hello = p.reply()?;
        if !hello.starts_with("ready") {
            return Err(format!("{label}: {hello}"));
        }
        Ok(p)
    }

    fn reply(&mut self) -> Result<String, String> {
        let mut line = String::new();
        match self.out.read_line(&mut line) {
            Ok(0) => Err(format!("{}: the child exited", self.label)),
            Ok(_) if line.starts_with("err") => Err(format!("{}: {}", self.label, line.trim())),
            Ok(_) => Ok(line.trim().to_string()),
            Err(e) => Err(format!("{}: {e}", self.label)),
        }
    }

    fn cmd(&mut self, c: &str) -> Result<Vec<u64>, String> {
        writeln!(self.stdin, "{c}")
            .and_then(|_| self.stdin.flush())
            .map_err(|e| format!("{}: {e}", self.label))?;
        let r = self.reply()?;
        let mut w = r.split_whitespace();
        if w.next() != Some("ok") {
            return Err(format!("{}: {c}: {r}", self.label));
        }
        w.map(|x| {
            x.parse::<u64>()
                .map_err(|_| format!("{}: {c}: {r}", self.label))
        })
        .collect()
    }

    /// One latency sample; the child is asked for a whole run (WARMUP + RUN_LEN) at a time,
    /// which is what the group takes from a variant in a row.
    fn lat(&mut self, kind: Kind, n: usize) -> Result<Duration, String> {
        if self.samples.is_empty() {
            let t = self.cmd(&format!("lat {} {n} {}", kind.name(), WARMUP + RUN_LEN))?;
            self.samples.extend(t.into_iter().map(duration));
        }
        self.samples
            .pop_front()
            .ok_or_else(|| format!("{}: no sample", self.label))
    }

    fn units(&mut self, kind: Kind, n: usize, k: u64) -> Result<Duration, String> {
        self.samples.clear();
        let t = self.cmd(&format!("tput {} {n} {k}", kind.name()))?;
        match t[..] {
            [ticks, ops] if ops == k * n as u64 => Ok(duration(ticks)),
            _ => Err(format!("{}: tput reply {t:?}", self.label)),
        }
    }
}

impl Drop for Posix {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit").and_then(|_| self.stdin.flush());
        let _ = self.child.wait();
    }
}

/// The POSIX children, next to this program: (label, binary).
const CHILDREN: [(&str, &str); 2] = [
    ("glibc", "posix-bench-glibc"),
    ("libkaio-posix", "posix-bench-kaio"),
];

pub fn run(env: &Env, sec: &mut Section) -> Result<(), String> {
    let dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.to_path_buf()))
        .unwrap_or_default();
    let mut posix: Vec<Option<Posix>> = Vec::new();
    let mut missing = Vec::new();
    for (label, bin) in CHILDREN {
        let p = dir.join(bin);
        if p.exists() {
            posix.push(Some(Posix::spawn(label, &p)?));
        } else {
            missing.push(format!("{label} ({bin} not next to kaio-bench)"));
            posix.push(None);
        }
    }
    // The variants measured: every in-process one, and the children that exist.
    let active: Vec<usize> = (0..VARIANTS.len())
        .filter(|&v| v < GLIBC || posix[v - GLIBC].is_some())
        .collect();
    let dom = kaio::Domain::open().map_err(|e| format!("open /dev/kaio: {e}"))?;
    let retries_before = retries();

    let w = 18;
    sec.line("7. polled read: a 4096-byte read submitted on an empty AF_UNIX stream socket pair (pipe), made");
    sec.line(
        "   ready by a 64-byte write(2) to the peer; N = 1, 8, 64 reads in flight, one per pair.",
    );
    sec.line("   sync: write + read(2), no AIO (the floor); kaio: KAIO_SETUP_POLLED_RW context, KAIO_IOC_SUBMIT,");
    sec.line("   reaped by KAIO_IOC_GETEVENTS (getev) or the mapped ring first (ring); io_uring: IORING_OP_READ,");
    sec.line("   io_uring_enter, CQ ring first; glibc / libkaio-posix: one <aio.h> program (aio_read, aio_suspend,");
    sec.line(
        "   aio_error, aio_return) built against each, run as child processes in the same rounds.",
    );
    sec.line("   The thread that submits also writes. Every completion checked (request, 64 bytes, data).");
    if !missing.is_empty() {
        sec.line(format!("   not measured: {}", missing.join(", ")));
    }
    let mut head = format!("   {:<5} {:>3}", "", "N");
    for (l, _) in VARIANTS {
        head += &format!(" {l:>w$}");
    }
    let rhead = format!(
        "   {:<5} {:>3} {:>16} {:>16} {:>16}",
        "", "N", "kaio getev/uring", "kaio ring/uring", "kposix/glibc"
    );
    // [kind][depth] -> per variant summary (NaN when not measured)
    let mut lat_rows: Vec<(Kind, usize, Vec<Summary>)> = Vec::new();
    let mut sub_rows: Vec<(Kind, usize, Vec<Summary>)> = Vec::new();
    let mut tput_rows: Vec<(Kind, usize, Vec<Summary>)> = Vec::new();
    let mut remote_rows: Vec<(Kind, Vec<Summary>)> = Vec::new();
    let remote = Remote::new()?;
    let none = Summary::of(Vec::new(), 1);
    for kind in [Kind::Sock, Kind::Pipe] {
        let mut locals = vec![
            Local::new(How::Sync, VARIANTS[SYNC].0, kind, &dom)?,
            Local::new(How::KaioGetev, VARIANTS[KGETEV].0, kind, &dom)?,
            Local::new(How::KaioRing, VARIANTS[KRING].0, kind, &dom)?,
            Local::new(How::Uring, VARIANTS[URING].0, kind, &dom)?,
        ];
        for &n in &DEPTHS {
            for l in locals.iter_mut() {
                l.ensure(n)?;
            }
            for p in posix.iter_mut().flatten() {
                p.samples.clear();
            }
            let sums = latency_group_warm(
                &LAT_PLAN.scaled(env.scale),
                active.len(),
                2,
                WARMUP,
                RUN_LEN,
                |g| {
                    let v = active[g];
                    let (d, resubmit) = if v < GLIBC {
                        locals[v].lat()?
                    } else {
                        // The children time the latency only.
                        (
                            posix[v - GLIBC].as_mut().expect("active").lat(kind, n)?,
                            Duration::ZERO,
                        )
                    };
                    Ok(vec![d, resubmit])
                },
            )?;
            let mut row = vec![none; VARIANTS.len()];
            let mut sub_row = vec![none; VARIANTS.len()];
            for (g, &v) in active.iter().enumerate() {
                row[v] = sums[g][0];
                let params = [
                    ("kind", kind.name().to_string()),
                    ("in_flight", n.to_string()),
                ];
                sec.record(VARIANTS[v].1, &params, "write_to_reaped_ns", row[v]);
                if matches!(v, KGETEV | KRING | URING) {
                    sub_row[v] = sums[g][1];
                    sec.record(VARIANTS[v].1, &params, "resubmit_one_ns", sub_row[v]);
                }
            }
            lat_rows.push((kind, n, row));
            sub_rows.push((kind, n, sub_row));
            eprintln!(
                "kaio-bench: polled_read latency {} N={n} done ({:.1} s)",
                kind.name(),
                crate::stats::elapsed().as_secs_f64()
            );
        }
        // The writer in another thread, one read in flight, the in-process variants.
        for l in locals.iter_mut() {
            l.ensure(1)?;
        }
        // Both threads on CPU 0: a wake-up across the guest's vCPUs here can wait for the next
        // tick (4 ms) under TCG, which would measure the emulator, not the I/O path.
        pin(0);
        let sums = latency_group_warm(
            &LAT_PLAN.scaled(env.scale),
            locals.len(),
            1,
            WARMUP,
            RUN_LEN,
            |v| Ok(vec![locals[v].lat_remote(&remote)?]),
        );
        unpin();
        let sums = sums?;
        let mut row = vec![none; VARIANTS.len()];
        for (v, s) in sums.iter().enumerate() {
            row[v] = s[0];
            let params = [
                ("kind", kind.name().to_string()),
                ("in_flight", "1".to_string()),
            ];
            sec.record(
                VARIANTS[v].1,
                &params,
                "other_thread_write_to_reaped_ns",
                row[v],
            );
        }
        remote_rows.push((kind, row));
        eprintln!(
            "kaio-bench: polled_read latency, writer in another thread, {} done ({:.1} s)",
            kind.name(),
            crate::stats::elapsed().as_secs_f64()
        );
        for &n in &DEPTHS {
            let sums = throughput_group(&TPUT_PLAN.scaled(env.scale), active.len(), |g, k| {
                let v = active[g];
                let d = if v < GLIBC {
                    locals[v].units(n, k)?
                } else {
                    posix[v - GLIBC]
                        .as_mut()
                        .expect("active")
                        .units(kind, n, k)?
                };
                Ok((d, k * n as u64))
            })?;
            let mut row = vec![none; VARIANTS.len()];
            for (g, &v) in active.iter().enumerate() {
                row[v] = sums[g];
                let params = [
                    ("kind", kind.name().to_string()),
                    ("in_flight", n.to_string()),
                ];
                sec.record(VARIANTS[v].1, &params, "ns_per_read", row[v]);
            }
            tput_rows.push((kind, n, row));
            eprintln!(
                "kaio-bench: polled_read throughput {} N={n} done ({:.1} s)",
                kind.name(),
                crate::stats::elapsed().as_secs_f64()
            );
        }
        drop(locals);
    }
    drop(posix);
    drop(remote);

    let ratios = |sec: &mut Section, rows: &[(Kind, usize, Vec<Summary>)]| {
        sec.line("   ratios of medians:");
        sec.line(rhead.clone());
        for (kind, n, s) in rows {
            sec.line(format!(
                "   {:<5} {:>3} {} {} {}",
                kind.name(),
                n,
                ratio(s[KGETEV].median, s[URING].median, 16),
                ratio(s[KRING].median, s[URING].median, 16),
                ratio(s[KPOSIX].median, s[GLIBC].median, 16)
            ));
        }
    };
    sec.line("   latency: ns from before the write(2) until the read's completion is reaped, median (p90)");
    sec.line(format!(
        "   (N reads in flight, the oldest made ready; variants take turns in runs of {}, the first {WARMUP} not counted)",
        WARMUP + RUN_LEN
    ));
    sec.line(head.clone());
    for (kind, n, s) in &lat_rows {
        let mut row = format!("   {:<5} {n:>3}", kind.name());
        for x in s {
            row += &format!(" {}", cell(x, w));
        }
        sec.line(row);
    }
    ratios(sec, &lat_rows);
    sec.line(
        "   submit: ns in the one call that re-submits the read after each latency sample above",
    );
    sec.line(
        "   (KAIO_IOC_SUBMIT / io_uring_enter of one read that would block: it is left waiting on",
    );
    sec.line("   the empty socket or pipe), median (p90); the half of a read's cost the latency leaves out:");
    let mut h = format!("   {:<5} {:>3}", "", "N");
    for v in [KGETEV, KRING, URING] {
        h += &format!(" {:>w$}", VARIANTS[v].0);
    }
    h += &format!(" {:>16}", "kaio ring/uring");
    sec.line(h);
    for (kind, n, s) in &sub_rows {
        let mut row = format!("   {:<5} {n:>3}", kind.name());
        for v in [KGETEV, KRING, URING] {
            row += &format!(" {}", cell(&s[v], w));
        }
        row += &format!(" {}", ratio(s[KRING].median, s[URING].median, 16));
        sec.line(row);
    }
    sec.line(
        "   latency, the write made by another thread of the process (blocked in read(2) on a pipe",
    );
    sec.line(
        "   until told to write; stamps the TSC before its write(2)), both threads bound to CPU 0 (across",
    );
    sec.line(
        "   vCPUs the wake-up can wait for a 4 ms tick under TCG), N = 1, in-process variants:",
    );
    let mut h = format!("   {:<5} {:>3}", "", "N");
    for (l, _) in &VARIANTS[..GLIBC] {
        h += &format!(" {l:>w$}");
    }
    h += &format!(" {:>16} {:>16}", "kaio getev/uring", "kaio ring/uring");
    sec.line(h);
    for (kind, s) in &remote_rows {
        let mut row = format!("   {:<5} {:>3}", kind.name(), 1);
        for x in &s[..GLIBC] {
            row += &format!(" {}", cell(x, w));
        }
        row += &format!(
            " {} {}",
            ratio(s[KGETEV].median, s[URING].median, 16),
            ratio(s[KRING].median, s[URING].median, 16)
        );
        sec.line(row);
    }
    sec.line("   throughput: ns per read, median (p90): submit N reads, write to the N peers, reap N, / N");
    sec.line(head.clone());
    for (kind, n, s) in &tput_rows {
        let mut row = format!("   {:<5} {n:>3}", kind.name());
        for x in s {
            row += &format!(" {}", cell(x, w));
        }
        sec.line(row);
    }
    sec.line("   reads/s (of the medians):");
    for (kind, n, s) in &tput_rows {
        let mut row = format!("   {:<5} {n:>3}", kind.name());
        for x in s {
            let r = 1e9 / x.median;
            row += &format!(
                " {:>w$}",
                if r.is_finite() {
                    format!("{r:.0}")
                } else {
                    "-".into()
                }
            );
        }
        sec.line(row);
    }
    ratios(sec, &tput_rows);
    // The targets: kaio within 1.2x of io_uring; libkaio-posix at least 2x faster
    // than glibc; at every N (both kinds, latency and throughput).
    let all: Vec<&(Kind, usize, Vec<Summary>)> = lat_rows.iter().chain(&tput_rows).collect();
    let worst = |a: usize, b: usize| {
        all.iter()
            .map(|(_, _, s)| s[a].median / s[b].median)
            .fold(f64::NAN, f64::max)
    };
    for (label, v) in [("kaio getev", KGETEV), ("kaio ring", KRING)] {
        let x = worst(v, URING);
        sec.line(format!(
            "   target {label} <= 1.2x io_uring at every N: worst {x:.2}x ({})",
            if x <= 1.2 { "met" } else { "not met" }
        ));
    }
    // Who made the attempts a wake-up handed on (module counters, every kaio variant of this
    // table, libkaio-posix's included).
    if let (Some((w0, r0, t0)), Some((w1, r1, t1))) = (retries_before, retries()) {
        sec.line(format!(
            "   kaio attempts after a wake-up, this table: {} by the writing task on its way back to user space, {} by a task in KAIO_IOC_GETEVENTS, {} by the worker",
            t1.saturating_sub(t0),
            r1.saturating_sub(r0),
            w1.saturating_sub(w0)
        ));
    }
    let x = worst(KPOSIX, GLIBC);
    sec.line(format!(
        "   target libkaio-posix >= 2x faster than glibc at every N: worst libkaio-posix/glibc {x:.2}x ({})",
        if x.is_nan() {
            "not measured"
        } else if x <= 0.5 {
            "met"
        } else {
            "not met"
        }
    ));
    drop(dom);
    Ok(())
}

/// The module's counters of polled attempts: (by the worker, by a reaper, by the task that
/// readied the request); `None` if unreadable.
fn retries() -> Option<(u64, u64, u64)> {
    let read = |name: &str| -> Option<u64> {
        std::fs::read_to_string(format!(
            "/sys/module/kaio/parameters/stat_polled_retries_{name}"
        ))
        .ok()?
        .trim()
        .parse()
        .ok()
    };
    Some((read("worker")?, read("reaper")?, read("task")?))
}
