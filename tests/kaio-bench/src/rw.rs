//! Benchmark 3, submit + reap throughput: batches of 4 KiB PREAD (then PWRITE) requests on a tmpfs file,
//! batch sizes 1, 8 and 32, through
//!
//! - kaio and native AIO: `io_submit(batch)`, then `io_getevents(min = nr = batch, NULL)`;
//! - kaio and native AIO with user-space reaping: `io_submit(batch)`, then the events are read
//!   from the mapped ring (head/tail at the ctx address, head advanced), as libaio and fio's
//!   `userspace_reap` do (AIO-SEMANTICS §7.2); io_getevents only if the ring stays short;
//! - io_uring: `IORING_OP_READ`/`WRITE` SQEs, one `io_uring_enter(batch, wait batch)`, CQEs
//!   reaped from the CQ ring.
//!
//! tmpfs has no asynchronous read/write method, so both AIO implementations transfer inside
//! io_submit and the events are in the ring when it returns. Every event is checked (result,
//! `data`, `obj`), and every read's data against the file's pattern.

use crate::aio::{ring, Api};
use crate::clock::Stamp;
use crate::report::{cell, ratio, Section};
use crate::stats::{throughput_group, Plan};
use crate::Env;
use io_uring::{opcode, types, IoUring};
use kaio::uapi::{IoEvent, Iocb};
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

pub const BATCHES: [usize; 3] = [1, 8, 32];
const BLOCK: usize = 4096;
/// Blocks in each file (1 MiB): request offsets cycle through them.
const BLOCKS: usize = 256;

const PLAN: Plan = Plan {
    budget: Duration::from_millis(2500),
    min_samples: 5,
    max_samples: 300,
    target_sample: Duration::from_millis(3),
};

/// Page-aligned zeroed memory.
struct Aligned {
    ptr: *mut u8,
    layout: Layout,
}

impl Aligned {
    fn new(len: usize) -> Aligned {
        let layout = Layout::from_size_align(len.max(BLOCK), BLOCK).expect("layout");
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        assert!(!ptr.is_null(), "out of memory");
        Aligned { ptr, layout }
    }

    fn block(&self, i: usize) -> *mut u8 {
        debug_assert!((i + 1) * BLOCK <= self.layout.size());
        self.ptr.wrapping_add(i * BLOCK)
    }

    /// The first 8 bytes of block `i`.
    fn head(&self, i: usize) -> u64 {
        // SAFETY: block i is inside the allocation and 8-aligned; no request is in flight on it
        // when this is called (its event has been reaped).
        unsafe { self.block(i).cast::<u64>().read_volatile() }
    }
}

impl Drop for Aligned {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.ptr, self.layout) };
    }
}

/// Opens (creates) a file of BLOCKS blocks where every 8-byte word holds its own offset, or
/// `fill` everywhere if given.
fn make_file(path: &str, fill: Option<u8>) -> Result<OwnedFd, String> {
    let c = std::ffi::CString::new(path).map_err(|e| e.to_string())?;
    // SAFETY: a NUL-terminated path.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
            0o600,
        )
    };
    if fd < 0 {
        return Err(format!("open {path}: errno {}", kaio::raw::errno()));
    }
    // SAFETY: just opened, owned here.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: the name is ours to remove; the open file stays.
    unsafe { libc::unlink(c.as_ptr()) };
    let mut data = vec![0u8; BLOCKS * BLOCK];
    match fill {
        Some(b) => data.fill(b),
        None => {
            for (i, w) in data.chunks_exact_mut(8).enumerate() {
                w.copy_from_slice(&((i * 8) as u64).to_le_bytes());
            }
        }
    }
    // SAFETY: writes from our buffer.
    let r = unsafe { libc::pwrite(fd.as_raw_fd(), data.as_ptr().cast(), data.len(), 0) };
    if r != data.len() as isize {
        return Err(format!("fill {path}: {r}, errno {}", kaio::raw::errno()));
    }
    Ok(fd)
}

/// The file system type of `path` (`statfs`'s magic).
fn fs_magic(path: &str) -> i64 {
    let c = std::ffi::CString::new(path).unwrap_or_default();
    // SAFETY: statfs writes into `st`.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid path and buffer.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return 0;
    }
    st.f_type as i64
}

const TMPFS_MAGIC: i64 = 0x0102_1994;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Read,
    Write,
}

/// How a variant submits and reaps.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// io_submit + io_getevents.
    Getevents(Api),
    /// io_submit + reaping from the mapped ring.
    Ring(Api),
    Uring,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Getevents(Api::Kaio(_)) => "kaio getev",
            Mode::Ring(Api::Kaio(_)) => "kaio ring",
            Mode::Getevents(Api::Native) => "native getev",
            Mode::Ring(Api::Native) => "native ring",
            Mode::Uring => "io_uring",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Mode::Getevents(Api::Kaio(_)) => "kaio_getevents",
            Mode::Ring(Api::Kaio(_)) => "kaio_ring_reap",
            Mode::Getevents(Api::Native) => "native_getevents",
            Mode::Ring(Api::Native) => "native_ring_reap",
            Mode::Uring => "io_uring",
        }
    }
}

/// One variant of a row: its buffers, iocbs and counters.
struct Variant {
    mode: Mode,
    ctx: u64,
    op: Op,
    fd: RawFd,
    batch: usize,
    bufs: Aligned,
    iocbs: Box<[Iocb]>,
    ptrs: Vec<*mut Iocb>,
    events: Vec<IoEvent>,
    /// Block offset (in blocks) of the next batch's first request.
    next: usize,
}

impl Variant {
    fn new(mode: Mode, ctx: u64, op: Op, fd: RawFd, batch: usize, fill: u8) -> Variant {
        let bufs = Aligned::new(batch * BLOCK);
        if op == Op::Write {
            // SAFETY: the allocation is batch * BLOCK bytes; nothing is in flight yet.
            unsafe { std::ptr::write_bytes(bufs.ptr, fill, batch * BLOCK) };
        }
        let opcode = if op == Op::Read {
            kaio::uapi::IOCB_CMD_PREAD
        } else {
            kaio::uapi::IOCB_CMD_PWRITE
        };
        let mut iocbs: Box<[Iocb]> = (0..batch)
            .map(|i| {
                Iocb::new(opcode, fd).with_data(i as u64).with_buf(
                    bufs.block(i) as u64,
                    BLOCK as u64,
                    0,
                )
            })
            .collect();
        let ptrs = iocbs.iter_mut().map(|i| i as *mut Iocb).collect();
        Variant {
            mode,
            ctx,
            op,
            fd,
            batch,
            bufs,
            iocbs,
            ptrs,
            events: vec![IoEvent::default(); batch],
            next: 0,
        }
    }

    fn offset(&self, i: usize) -> u64 {
        (((self.next + i) % BLOCKS) * BLOCK) as u64
    }

    /// Checks request `i`'s completion (`res`) and, for reads, its data.
    fn check(&self, i: usize, res: i64) -> Result<(), String> {
        if res != BLOCK as i64 {
            return Err(format!(
                "{}: request {i} completed with {res}, expected {BLOCK}",
                self.mode.label()
            ));
        }
        if self.op == Op::Read && self.bufs.head(i) != self.offset(i) {
            return Err(format!(
                "{}: request {i} read {:#x} at offset {:#x}",
                self.mode.label(),
                self.bufs.head(i),
                self.offset(i)
            ));
        }
        Ok(())
    }

    /// Checks an AIO event: its `data` names a request of this batch not seen yet, `obj` is
    /// that request's iocb.
    fn check_event(&self, ev: &IoEvent, seen: &mut u64) -> Result<(), String> {
        let i = ev.data as usize;
        if i >= self.batch || ev.obj != self.ptrs[i] as u64 || *seen & (1 << i) != 0 {
            return Err(format!("{}: unexpected event {ev:?}", self.mode.label()));
        }
        *seen |= 1 << i;
        self.check(i, ev.res)
    }

    /// One batch through AIO: submit, then reap by getevents or from the ring.
    fn aio_batch(&mut self, api: Api, from_ring: bool) -> Result<(), String> {
        let label = self.mode.label();
        for i in 0..self.batch {
            self.iocbs[i].aio_offset = self.offset(i) as i64;
        }
        let n = api
            .submit(self.ctx, &self.ptrs)
            .map_err(|e| format!("{label}: io_submit: errno {e}"))?;
        if n != self.batch as i64 {
            return Err(format!("{label}: io_submit accepted {n} of {}", self.batch));
        }
        let mut got = 0;
        if from_ring {
            // SAFETY: the context is live for the whole benchmark and its ring mapped.
            let ring = unsafe { ring(self.ctx) }?;
            let mut spins = 0;
            while got < self.batch {
                got += ring.reap(&mut self.events[got..]);
                spins += 1;
                if got < self.batch && spins > 100 {
                    got += api
                        .getevents(
                            self.ctx,
                            self.batch - got,
                            &mut self.events[got..],
                            Some(&crate::aio::PROMPT),
                        )
                        .map_err(|e| format!("{label}: io_getevents: errno {e}"))?;
                }
            }
        } else {
            while got < self.batch {
                let n = api
                    .getevents(
                        self.ctx,
                        self.batch - got,
                        &mut self.events[got..],
                        Some(&crate::aio::PROMPT),
                    )
                    .map_err(|e| format!("{label}: io_getevents: errno {e}"))?;
                if n == 0 {
                    return Err(format!("{label}: no event within 10 s"));
                }
                got += n;
            }
        }
        let mut seen = 0u64;
        for ev in &self.events[..got] {
            self.check_event(ev, &mut seen)?;
        }
        self.next = (self.next + self.batch) % BLOCKS;
        Ok(())
    }

    /// One batch through io_uring: push the SQEs, one enter that submits and waits, reap.
    fn uring_batch(&mut self, ring: &mut IoUring) -> Result<(), String> {
        {
            let mut sq = ring.submission();
            for i in 0..self.batch {
                let (fd, buf, len, off) = (
                    types::Fd(self.fd),
                    self.bufs.block(i),
                    BLOCK as u32,
                    self.offset(i),
                );
                let e = match self.op {
                    Op::Read => opcode::Read::new(fd, buf, len).offset(off).build(),
                    Op::Write => opcode::Write::new(fd, buf, len).offset(off).build(),
                };
                // SAFETY: the buffer stays valid and untouched until the CQE is reaped.
                unsafe { sq.push(&e.user_data(i as u64)) }
                    .map_err(|_| "io_uring: submission queue full".to_string())?;
            }
        }
        let mut seen = 0u64;
        let mut got = 0;
        let mut want = self.batch;
        while got < self.batch {
            ring.submit_and_wait(want)
                .map_err(|e| format!("io_uring_enter: {e}"))?;
            for cqe in ring.completion() {
                let i = cqe.user_data() as usize;
                if i >= self.batch || seen & (1 << i) != 0 {
                    return Err(format!("io_uring: unexpected CQE {cqe:?}"));
                }
                seen |= 1 << i;
                got += 1;
                self.check(i, i64::from(cqe.result()))?;
            }
            want = self.batch - got;
        }
        self.next = (self.next + self.batch) % BLOCKS;
        Ok(())
    }
}

pub fn run(env: &Env, sec: &mut Section) -> Result<(), String> {
    let dir = ["/dev/shm", "/tmp"]
        .into_iter()
        .find(|d| fs_magic(d) == TMPFS_MAGIC)
        .unwrap_or("/tmp");
    let rfile = make_file(&format!("{dir}/kaio-bench-read"), None)?;
    let wfile = make_file(&format!("{dir}/kaio-bench-write"), Some(0))?;
    let domain = kaio::Domain::open().map_err(|e| format!("open /dev/kaio: {e}"))?;
    let kaio = Api::Kaio(domain.as_raw_fd());
    let kctx = kaio.setup(64)?;
    let nctx = Api::Native.setup(64)?;
    let modes = [
        Mode::Getevents(kaio),
        Mode::Ring(kaio),
        Mode::Getevents(Api::Native),
        Mode::Ring(Api::Native),
        Mode::Uring,
    ];
    sec.line(format!(
        "3. submit+reap: batches of 4 KiB requests on a {} file ({dir}); ns per request, median (p90)",
        if fs_magic(dir) == TMPFS_MAGIC { "tmpfs" } else { "NON-tmpfs" }
    ));
    sec.line("   getev: io_submit + io_getevents(min=nr=batch); ring: io_submit + reaping from the mapped ring;");
    sec.line(
        "   io_uring: READ/WRITE SQEs + one io_uring_enter(submit batch, wait batch) + CQ ring",
    );
    sec.line(format!(
        "   {:<6} {:>5} {:>18} {:>18} {:>18} {:>18} {:>18} | {:>9} {:>9} {:>9}",
        "op",
        "batch",
        "kaio getev",
        "kaio ring",
        "native getev",
        "native ring",
        "io_uring",
        "k/n getev",
        "k/n ring",
        "k/uring"
    ));
    let mut fill = 0u8;
    for op in [Op::Read, Op::Write] {
        let fd = if op == Op::Read {
            rfile.as_raw_fd()
        } else {
            wfile.as_raw_fd()
        };
        for &batch in &BATCHES {
            let mut ring = IoUring::new(64).map_err(|e| format!("io_uring_setup: {e}"))?;
            let mut vars: Vec<Variant> = modes
                .iter()
                .map(|&m| {
                    fill = fill.wrapping_add(1).max(1);
                    let ctx = match m {
                        Mode::Getevents(Api::Kaio(_)) | Mode::Ring(Api::Kaio(_)) => kctx,
                        Mode::Uring => 0,
                        _ => nctx,
                    };
                    Variant::new(m, ctx, op, fd, batch, fill)
                })
                .collect();
            let sums = throughput_group(&PLAN.scaled(env.scale), vars.len(), |v, k| {
                let var = &mut vars[v];
                let t0 = Stamp::now();
                for _ in 0..k {
                    match var.mode {
                        Mode::Getevents(api) => var.aio_batch(api, false)?,
                        Mode::Ring(api) => var.aio_batch(api, true)?,
                        Mode::Uring => var.uring_batch(&mut ring)?,
                    }
                }
                Ok((t0.elapsed(), k * var.batch as u64))
            })?;
            let name = if op == Op::Read { "PREAD" } else { "PWRITE" };
            sec.line(format!(
                "   {:<6} {:>5} {} {} {} {} {} | {} {} {}",
                name,
                batch,
                cell(&sums[0], 18),
                cell(&sums[1], 18),
                cell(&sums[2], 18),
                cell(&sums[3], 18),
                cell(&sums[4], 18),
                ratio(sums[0].median, sums[2].median, 9),
                ratio(sums[1].median, sums[3].median, 9),
                ratio(sums[0].median, sums[4].median, 9),
            ));
            let params = [("op", name.to_string()), ("batch", batch.to_string())];
            for (m, s) in modes.iter().zip(&sums) {
                sec.record(m.key(), &params, "ns_per_request", *s);
            }
            eprintln!(
                "kaio-bench: rw {name} batch={batch} done ({:.1} s)",
                crate::stats::elapsed().as_secs_f64()
            );
        }
    }
    // Every block of the write file must hold one of the bytes some write variant wrote.
    let mut data = vec![0u8; BLOCKS * BLOCK];
    // SAFETY: reads into our buffer.
    let r = unsafe { libc::pread(wfile.as_raw_fd(), data.as_mut_ptr().cast(), data.len(), 0) };
    if r != data.len() as isize {
        return Err(format!("read back the write file: {r}"));
    }
    for (b, block) in data.chunks_exact(BLOCK).enumerate() {
        if block.iter().any(|&x| x != block[0]) {
            return Err(format!("write file: block {b} is not one write's data"));
        }
    }
    Api::Native.destroy(nctx)?;
    kaio.destroy(kctx)?;
    Ok(())
}
