//! `kaio-fuzz`: random multi-threaded sequences of valid-looking and hostile calls on
//! `/dev/kaio`: setup, submit, getevents and pgetevents (random masks and timeouts), cancel and
//! cancel_match (random flags, valid and not; selectors drawn from submitted iocbs, data, fds and
//! opcodes; ALL/ANY; WAIT with short timeouts; RESULT into valid and bad memory), destroy,
//! open/close of the device, fork
//! (children exit or are killed with requests in flight), munmap/mremap of rings, anonymous
//! MAP_FIXED mappings over ring ranges (racing setups that map there) and scribbles on ring headers, with random fds, random iocb fields and random pointers into valid,
//! invalid and read-only memory. The seed is printed first: a kernel splat in the console can
//! be replayed with `--seed` (thread interleavings vary from run to run, the operations do
//! not).
//!
//! Checks: the process itself never crashes (every pointer handed to the kernel points into memory
//! set aside for it, behind guard pages; its unmapped pages lie far below the mmap area, where no
//! ring lands; rings are moved only into a zone set aside for them, see `MoveZone`), every call
//! returns something its Linux analogue can return (cancel never 0, counts within bounds), every
//! event reaped has a sane `res` and `res2` 0 (and, with `--ring-writes 0`, names an iocb this
//! program submitted), rings of successful setups have the right header, children end as expected,
//! and `nr` returns to its starting value once every fd and ring mapping is gone. For the version-2
//! calls: cancel_match returns what ABI.md's rules allow for its flags, with `nr_running` written
//! back exactly when it must be; an event returned through RESULT is that of a cancellable request
//! the selector names (POLL res 0, DELAY -ECANCELED, a read or write waiting in a
//! KAIO_SETUP_POLLED_RW context -ECANCELED), counts as reaped, and never also comes
//! out of a ring; delays reaped from a ring have res 0 or -ECANCELED; pgetevents leaves the
//! thread's signal mask as it found it.
//!
//! Standard input, output and error are pointed at /dev/null while the fuzzer runs (random fds
//! include them); KTAP goes to a saved copy of standard output.

use kaio::raw;
use kaio::uapi::*;
use kstress::mem::{self, Mapping, PAGE};
use kstress::*;
use std::io::Write;
use std::os::fd::FromRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const USAGE: &str = "kaio-fuzz [--seconds N] [--iterations N] [--seed S] [--threads T] [--ring-writes 0|1] [-v]\n\
  --ring-writes 0: never let the kernel or the fuzzer write into a ring header (no scribbles, no\n\
  ring addresses as ctxp/iocb pointers); default 1.";

const COMMON: usize = 4 << 20;
const PRIV: usize = 256 << 10;
const RO_PAGES: usize = 8;
const FILE_CAP: i64 = 16 << 20;

/// Offsets inside a thread's private region.
const P_CTXP: usize = 0;
const P_IOCBS: usize = 64;
const N_IOCBS: usize = 64;
const P_IOCBPP: usize = 8 << 10;
/// Pointers the iocb pointer array has room for (up to `P_EVENTS`).
const IOCBPP_CAP: usize = (P_EVENTS - P_IOCBPP) / 8;
const P_EVENTS: usize = 16 << 10;
const N_EVENTS: usize = 256;
const P_TS: usize = 32 << 10;
const P_IOV: usize = 40 << 10;
/// A RESULT buffer (32 bytes), a signal mask, a WAIT timeout.
const P_RESULT: usize = 36 << 10;
const P_MASK: usize = P_RESULT + 64;
const P_WTS: usize = P_RESULT + 128;
const P_DATA: usize = 64 << 10;

// ---------------------------------------------------------------------------------------------
// Findings and statistics

static FINDINGS: Mutex<Vec<(u8, String)>> = Mutex::new(Vec::new());
static FINDING_COUNT: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
const F_RET: u8 = 0;
const F_RING: u8 = 1;
const F_CHILD: u8 = 2;
const F_RUN: u8 = 3;

fn finding(cat: u8, msg: String) {
    FINDING_COUNT[cat as usize].fetch_add(1, Relaxed);
    let mut f = FINDINGS.lock().unwrap_or_else(|e| e.into_inner());
    if f.iter().filter(|(c, _)| *c == cat).count() < 25 {
        f.push((cat, msg));
    }
}

fn findings(cat: u8) -> Vec<String> {
    let f = FINDINGS.lock().unwrap_or_else(|e| e.into_inner());
    let mut v: Vec<String> = f.iter().filter(|(c, _)| *c == cat).map(|(_, m)| m.clone()).collect();
    let n = FINDING_COUNT[cat as usize].load(Relaxed);
    if n > v.len() as u64 {
        v.push(format!("... {} more", n - v.len() as u64));
    }
    v
}

const OPS: &[&str] = &[
    "open", "close", "setup", "destroy", "submit", "getevents", "cancel", "badioctl", "munmap", "mremap",
    "scribble", "fork", "pipe", "truncate", "reset", "cancel_match", "pgetevents", "mapover",
];
const NOPS: usize = 18;
const OP_CANCEL_MATCH: usize = 15;
const OP_PGETEVENTS: usize = 16;
const OP_MAP_OVER: usize = 17;

struct Stats {
    calls: [AtomicU64; NOPS],
    ok: [AtomicU64; NOPS],
    errnos: Mutex<std::collections::BTreeMap<(usize, i32), u64>>,
    setups_ok: AtomicU64,
    accepted: AtomicU64,
    events: AtomicU64,
    children: AtomicU64,
    children_killed: AtomicU64,
    /// Events returned through KAIO_CANCEL_RESULT (counted in `events` too).
    result_events: AtomicU64,
    /// cancel_match calls that cancelled at least one request, and the requests.
    matched_calls: AtomicU64,
    matched_reqs: AtomicU64,
}

/// What the fuzzer knows of the requests it submitted from its own iocb slots (random `aio_data`,
/// so unique but for an iocb submitted twice, in one array or through a pointer an earlier
/// call left past the array's end), for checking the events they give.
#[derive(Default)]
struct Registry {
    /// data -> (opcode, times accepted).
    subs: std::collections::HashMap<u64, (u16, u32)>,
    order: std::collections::VecDeque<u64>,
    /// data -> obj of events returned through RESULT.
    via_result: std::collections::HashMap<u64, u64>,
    vorder: std::collections::VecDeque<u64>,
}

impl Registry {
    const MAX: usize = 1 << 18;

    fn accepted(&mut self, data: u64, op: u16) {
        let e = self.subs.entry(data).or_insert((op, 0));
        e.1 += 1;
        self.order.push_back(data);
        while self.order.len() > Self::MAX {
            if let Some(d) = self.order.pop_front() {
                self.subs.remove(&d);
            }
        }
    }

    fn returned(&mut self, data: u64, obj: u64) {
        self.via_result.insert(data, obj);
        self.vorder.push_back(data);
        while self.vorder.len() > Self::MAX / 4 {
            if let Some(d) = self.vorder.pop_front() {
                self.via_result.remove(&d);
            }
        }
    }

    /// The opcode of a request submitted once with this data.
    fn single(&self, data: u64) -> Option<u16> {
        self.subs.get(&data).filter(|e| e.1 == 1).map(|e| e.0)
    }
}

// ---------------------------------------------------------------------------------------------
// Memory and fds set aside for the kernel

struct Arena {
    common: usize,
    private: Vec<usize>,
    ro: usize,
    /// A PROT_NONE page (behaves as unmapped) and, above it, a real hole.
    guard: usize,
    hole: usize,
}

impl Arena {
    fn new(threads: usize) -> Arena {
        // [guard][common][guard]([private][guard])*  then ro, then [none][hole][none].
        let total = PAGE + COMMON + PAGE + threads * (PRIV + PAGE);
        let m = Mapping::rw(total);
        let base = m.addr;
        std::mem::forget(m);
        let prot_none = |a: usize| {
            // SAFETY: changes the protection of one page of the arena.
            unsafe { libc::mprotect(a as *mut libc::c_void, PAGE, libc::PROT_NONE) };
        };
        prot_none(base);
        let common = base + PAGE;
        prot_none(common + COMMON);
        let mut private = Vec::new();
        let mut at = common + COMMON + PAGE;
        for _ in 0..threads {
            private.push(at);
            prot_none(at + PRIV);
            at += PRIV + PAGE;
        }
        // The read-only pages: random bytes with some valid-looking objects.
        let ro = Mapping::rw(RO_PAGES * PAGE);
        let mut rng = Rng::new(0x5eed);
        for i in 0..RO_PAGES * PAGE / 8 {
            // SAFETY: inside the fresh mapping.
            unsafe { *((ro.addr + i * 8) as *mut u64) = if i % 3 == 0 { 0 } else { rng.next_u64() } };
        }
        // SAFETY: valid-looking iocbs at the start of the second page.
        unsafe {
            let p = (ro.addr + PAGE) as *mut Iocb;
            *p = Iocb::delay(1000, 0);
            *p.add(1) = Iocb::poll(0, 1);
        }
        ro.protect(libc::PROT_READ);
        let ro_addr = ro.addr;
        std::mem::forget(ro);
        // The hole lies in the far area: a hole among the fuzzer's mappings is where setup puts
        // the next one-page ring, and calls aimed at the hole then wrote into that ring.
        let hole = mem::Hole::new();
        let at = hole.addr() as usize;
        std::mem::forget(hole);
        Arena { common, private, ro: ro_addr, guard: at - PAGE, hole: at }
    }
}

struct Files {
    file: i32,
    pipe_nb: [i32; 2],
    pipe_bl: [i32; 2],
    /// The blocking pipe's write end, opened again non-blocking (for the fuzzer's own writes).
    pipe_bl_w_nb: i32,
    evfd: i32,
    null: i32,
    /// A connected AF_UNIX stream socket pair and a UDP socket connected to itself, both
    /// non-blocking.
    sock: [i32; 2],
    udp: i32,
}

/// A context the fuzzer made (or a stale one).
#[derive(Clone, Copy)]
struct CtxRec {
    fd: i32,
    id: u64,
    size: usize,
    /// Destroyed, but kept to try a dead id. Its address range may since hold part of another
    /// ring, so it is never written through: a write there could land in that ring's events.
    stale: bool,
}

struct World {
    arena: Arena,
    files: Files,
    cpus: u32,
    kfds: Mutex<Vec<i32>>,
    ctxs: Mutex<Vec<CtxRec>>,
    children: Mutex<Vec<(i32, bool)>>,
    stop: AtomicBool,
    /// Ring headers may be written (scribbles; ring addresses as ctxp and iocb pointers).
    ring_writes: bool,
    reg: Mutex<Registry>,
    /// The ids (ring addresses) of KAIO_SETUP_POLLED_RW contexts, where a waiting read or write
    /// is cancellable; an address a plain context gets is taken out again.
    polled: Mutex<std::collections::HashSet<u64>>,
    /// Where mremap moves rings to (see `op_mremap`).
    zone: MoveZone,
    stats: Stats,
    /// Per thread: when the current call started (0: not in a call), and what it is.
    in_call: Vec<AtomicU64>,
    last_op: Vec<Mutex<String>>,
    tids: Vec<AtomicU64>,
    start: Instant,
}

fn now_ms(w: &World) -> u64 {
    w.start.elapsed().as_millis() as u64 + 1
}

/// The address range mremap moves rings into, reserved PROT_NONE at start.
///
/// A moved range need not be a whole ring: the record may be stale (destroyed, unmapped or
/// moved by another thread) and its range now hold the first pages of a bigger ring, or a
/// piece of one whose page offset names another context of the domain. The mremap hook then
/// makes the start of the moved piece the ctx id of a live context whose `mmap_size` is larger
/// than the piece (as `aio_ring_mremap` does in Linux), and that context's destroy unmaps
/// `mmap_size` bytes from there: past the piece, into whatever lies above it. With targets
/// chosen by mmap that was whatever the fuzzer had mapped just above (a thread's stack, the
/// arena), later refilled by a ring: the fuzzer jumped to NULL or into a ring. So every target
/// starts at least `pad` (the largest ring) below the end of this zone, which holds nothing
/// but moved rings, rings setup placed into its holes and PROT_NONE: such an unmap removes only
/// zone memory. Targets are handed out in turn; at the end the zone is reserved afresh
/// (MAP_FIXED over whatever rings are still in it), which bounds the address space and the
/// number of mappings the fuzzer leaves behind.
struct MoveZone {
    base: usize,
    size: usize,
    pad: usize,
    next: Mutex<usize>,
}

impl MoveZone {
    const SPAN: usize = 64 << 20;

    fn new(pad: usize) -> MoveZone {
        // Room for a target of up to `pad` bytes (no ring is larger) and `pad` above it.
        let size = Self::SPAN + 2 * pad;
        let m = Mapping::anon(size, libc::PROT_NONE);
        let base = m.addr;
        std::mem::forget(m);
        MoveZone { base, size, pad, next: Mutex::new(0) }
    }

    /// A target for `len` bytes: the whole of `[at, at + len + pad)` is in the zone.
    fn target(&self, len: usize) -> usize {
        let mut next = self.next.lock().unwrap();
        if *next + len + self.pad > self.size {
            // SAFETY: reserves the zone afresh; only rings and PROT_NONE are ever in it.
            unsafe {
                libc::mmap(
                    self.base as *mut libc::c_void,
                    self.size,
                    libc::PROT_NONE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED | libc::MAP_NORESERVE,
                    -1,
                    0,
                )
            };
            *next = 0;
        }
        let at = self.base + *next;
        *next += len;
        at
    }
}

// ---------------------------------------------------------------------------------------------
// Random arguments

struct T<'a> {
    w: &'a World,
    rng: Rng,
    idx: usize,
    p: usize,
    /// Recently accepted iocbs: (fd, ctx, iocb address, (data, opcode) if from an own slot), for
    /// cancel and cancel_match.
    recent: Vec<(i32, u64, u64, Option<(u64, u16)>)>,
}

impl T<'_> {
    fn private(&self, off: usize) -> u64 {
        (self.p + off) as u64
    }

    /// A pointer the kernel may read or write `len` bytes at: never into memory this program
    /// uses for itself.
    fn ptr(&mut self, len: usize) -> u64 {
        let a = &self.w.arena;
        let r = &mut self.rng;
        match r.below(16) {
            0 => 0,
            1 => r.below(4096),
            2 => (a.common + r.below(COMMON as u64) as usize) as u64,
            3 => (a.common + COMMON - r.below(len.max(1) as u64 + 1) as usize) as u64,
            4 => (a.ro + r.below((RO_PAGES * PAGE) as u64) as usize) as u64,
            5 => (a.guard + r.below(PAGE as u64) as usize) as u64,
            6 => a.hole as u64 + r.below(PAGE as u64),
            7 => mem::KERNEL_ADDR + r.below(1 << 20),
            8 => mem::KERNEL_TEXT,
            9 => mem::NONCANONICAL + r.below(1 << 30),
            10 => u64::MAX - r.below(64),
            11 => mem::TOP_USER_PAGE + r.below(PAGE as u64),
            12 => (a.common + COMMON - PAGE + r.below(PAGE as u64) as usize) as u64,
            _ => (a.common + (r.below((COMMON / 64) as u64) as usize) * 64) as u64,
        }
    }

    /// A pointer to memory the kernel reads pointers from and then writes through (an iov
    /// array of a read, an iocb, an iocb pointer array): only memory whose contents this
    /// program fixed at start (the read-only pages) or that cannot be read. Never a ring or the
    /// common region: their contents are whatever the kernel and earlier reads left there
    /// (events whose `obj` is an iocb address in a thread's private region, ctx ids, file
    /// data), so a read through them would write file data over a thread's events buffer or a
    /// ring's events, as it would on Linux.
    fn src_ptr(&mut self) -> u64 {
        let a = &self.w.arena;
        let r = &mut self.rng;
        match r.below(10) {
            0 => 0,
            1 => r.below(4096),
            2 | 3 | 4 => (a.ro + r.below((RO_PAGES * PAGE) as u64) as usize) as u64,
            5 => (a.ro + PAGE + 64 * r.below(2) as usize) as u64,
            6 => (a.guard + r.below(PAGE as u64) as usize) as u64,
            7 => a.hole as u64 + r.below(PAGE as u64),
            8 => mem::KERNEL_ADDR + r.below(1 << 20),
            _ => match r.below(3) {
                0 => mem::NONCANONICAL + r.below(1 << 30),
                1 => u64::MAX - r.below(64),
                _ => mem::TOP_USER_PAGE + r.below(PAGE as u64),
            },
        }
    }

    /// A pointer the kernel only reads, and writes nothing through what it finds there (may
    /// also point into a ring).
    fn rptr(&mut self, len: usize) -> u64 {
        if self.w.ring_writes && self.rng.chance(1, 8) {
            if let Some(c) = self.pick_ctx(false) {
                return c.id + self.rng.below(64);
            }
        }
        self.ptr(len)
    }

    fn kfd(&mut self) -> i32 {
        let fds = self.w.kfds.lock().unwrap();
        if !fds.is_empty() && self.rng.chance(9, 10) {
            return fds[self.rng.below(fds.len() as u64) as usize];
        }
        drop(fds);
        self.any_fd()
    }

    fn any_fd(&mut self) -> i32 {
        let f = &self.w.files;
        match self.rng.below(12) {
            0 => f.file,
            1 => f.pipe_nb[self.rng.below(2) as usize],
            2 => f.pipe_bl[self.rng.below(2) as usize],
            3 => f.evfd,
            4 => f.null,
            5 => -1,
            6 => 9999,
            7 => f.sock[self.rng.below(2) as usize],
            8 => f.udp,
            _ => self.rng.below(64) as i32,
        }
    }

    /// A known context; with `live`, only one believed alive, whose ring may be written into.
    fn pick_ctx(&mut self, live: bool) -> Option<CtxRec> {
        let c = self.w.ctxs.lock().unwrap();
        let pool: Vec<&CtxRec> = c.iter().filter(|x| !(live && x.stale)).collect();
        if pool.is_empty() {
            None
        } else {
            Some(*pool[self.rng.below(pool.len() as u64) as usize])
        }
    }

    /// (fd, ctx id): mostly a known context with its own fd.
    fn fd_ctx(&mut self) -> (i32, u64) {
        if self.rng.chance(5, 6) {
            if let Some(c) = self.pick_ctx(false) {
                let fd = if self.rng.chance(9, 10) { c.fd } else { self.kfd() };
                let id = if self.rng.chance(15, 16) { c.id } else { c.id.wrapping_add(self.rng.range(1, 8192)) };
                return (fd, id);
            }
        }
        let fd = self.kfd();
        (fd, self.rptr(32))
    }

    fn small_or_wild(&mut self, small: u64) -> i64 {
        match self.rng.below(12) {
            0 => -1,
            1 => i64::MIN,
            2 => i64::MAX,
            3 => 1 << 32,
            4 => self.rng.next_u64() as i64,
            _ => self.rng.below(small + 1) as i64,
        }
    }

    /// An iocb: valid-looking most of the time, with fields made hostile at random.
    fn iocb(&mut self, slot: usize) -> Iocb {
        let f = &self.w.files;
        let data_at = self.p + P_DATA + (slot % 32) * 4096;
        let op = match self.rng.below(12) {
            0..=3 => KAIO_CMD_DELAY,
            4 => IOCB_CMD_PREAD,
            5 => IOCB_CMD_PWRITE,
            6 => IOCB_CMD_PREADV,
            7 => IOCB_CMD_PWRITEV,
            8 => *self.rng.pick(&[IOCB_CMD_FSYNC, IOCB_CMD_FDSYNC]),
            9 => IOCB_CMD_POLL,
            10 => *self.rng.pick(&[IOCB_CMD_NOOP, 4, 9, 0xFFFF]),
            _ => self.rng.next_u32() as u16,
        };
        let fd = if self.rng.chance(3, 4) {
            match op {
                IOCB_CMD_POLL => *self.rng.pick(&[f.pipe_nb[0], f.pipe_bl[0], f.evfd, f.file, f.sock[0], f.sock[1], f.udp]),
                // A read of the blocking pipe runs on (its submit blocks until the pipe is
                // written or the watchdog's signal): cancel_match finds it running.
                IOCB_CMD_PREAD | IOCB_CMD_PREADV if self.rng.chance(1, 8) => f.pipe_bl[0],
                // Sockets: reads find data or EAGAIN, writes room or EAGAIN (non-blocking).
                _ if self.rng.chance(1, 6) => *self.rng.pick(&[f.sock[0], f.sock[1], f.udp]),
                _ => f.file,
            }
        } else {
            let k = self.kfd();
            if self.rng.chance(1, 2) { k } else { self.any_fd() }
        };
        let mut i = Iocb::new(op, fd);
        match op {
            KAIO_CMD_DELAY => {
                i.aio_offset = match self.rng.below(10) {
                    0 => 0,
                    1 => self.rng.next_u64() as i64,
                    2 => -1,
                    3 | 4 | 5 => 10_000_000_000,
                    _ => self.rng.below(2_000_000) as i64,
                }
            }
            IOCB_CMD_PREAD | IOCB_CMD_PWRITE => {
                let len = if self.rng.chance(7, 8) { self.rng.below(4097) } else { self.rng.next_u64() >> self.rng.below(64) };
                let buf = if self.rng.chance(3, 4) { data_at as u64 } else if op == IOCB_CMD_PWRITE { self.rptr(len as usize) } else { self.ptr(len as usize) };
                i = i.with_buf(buf, len, self.rng.below(FILE_CAP as u64) as i64);
            }
            IOCB_CMD_PREADV | IOCB_CMD_PWRITEV => {
                let n = self.rng.below(5) as usize;
                let iov = self.p + P_IOV + (slot % 64) * 64;
                for k in 0..n.min(4) {
                    let base = if self.rng.chance(3, 4) { (data_at + k * 1024) as u64 } else { self.ptr(1024) };
                    let len = if self.rng.chance(7, 8) { self.rng.below(1025) } else { self.rng.next_u64() };
                    // SAFETY: writes an iovec in this thread's private region.
                    unsafe { *((iov + k * 16) as *mut libc::iovec) = libc::iovec { iov_base: base as *mut _, iov_len: len as usize } };
                }
                // A read writes through the iovecs it finds: a foreign array only where their
                // contents are fixed (a write only reads through them).
                let arr = if self.rng.chance(7, 8) {
                    iov as u64
                } else if op == IOCB_CMD_PREADV {
                    self.src_ptr()
                } else {
                    self.rptr(64)
                };
                let cnt = if self.rng.chance(7, 8) { n as u64 } else { self.rng.next_u64() >> self.rng.below(64) };
                i = i.with_buf(arr, cnt, self.rng.below(FILE_CAP as u64) as i64);
            }
            IOCB_CMD_POLL => i.aio_buf = if self.rng.chance(3, 4) { *self.rng.pick(&[1, 4, 5, 0x41]) } else { self.rng.next_u64() },
            _ => {}
        }
        // Hostile touches, on a quarter of the iocbs.
        let clean = self.rng.chance(3, 4);
        if clean {
            i.aio_data = self.rng.next_u64();
            return i;
        }
        if self.rng.chance(1, 10) {
            i = i.with_resfd(if self.rng.chance(1, 2) { f.evfd } else { self.any_fd() });
        }
        if self.rng.chance(1, 20) {
            i.aio_rw_flags = self.rng.next_u32() >> self.rng.below(32);
        }
        if self.rng.chance(1, 20) {
            i = i.with_ioprio(self.rng.next_u32() as i16);
        }
        if self.rng.chance(1, 30) {
            i.aio_reserved2 = self.rng.next_u64();
        }
        if self.rng.chance(1, 30) {
            i.aio_key = self.rng.next_u32();
        }
        if self.rng.chance(1, 30) {
            i.aio_flags = self.rng.next_u32();
        }
        if self.rng.chance(1, 40) {
            i.aio_buf = self.ptr(64);
            i.aio_nbytes = self.rng.next_u64() >> self.rng.below(64);
        }
        i.aio_data = self.rng.next_u64();
        i
    }

    fn timeout(&mut self) -> u64 {
        let at = self.private(P_TS);
        let (s, n) = match self.rng.below(10) {
            0 => return 0,
            1 => return self.rptr(16),
            2 => (-1, 0),
            3 => (0, -1),
            4 => (self.rng.next_u64() as i64, self.rng.next_u64() as i64),
            5 => (0, 0),
            _ => (0, self.rng.below(3_000_000) as i64),
        };
        // SAFETY: writes a timespec in this thread's private region.
        unsafe { *(at as *mut KernelTimespec) = KernelTimespec { tv_sec: s, tv_nsec: n } };
        at
    }
}

// ---------------------------------------------------------------------------------------------
// Calls

fn record(t: &T, op: usize, r: Ret) {
    let s = &t.w.stats;
    s.calls[op].fetch_add(1, Relaxed);
    match r {
        Ok(_) => {
            s.ok[op].fetch_add(1, Relaxed);
        }
        Err(e) => {
            *s.errnos.lock().unwrap().entry((op, e)).or_insert(0) += 1;
        }
    }
}

fn enter(t: &T, what: String) {
    *t.w.last_op[t.idx].lock().unwrap() = what;
    t.w.in_call[t.idx].store(now_ms(t.w), SeqCst);
}

fn leave(t: &T) {
    t.w.in_call[t.idx].store(0, SeqCst);
}

fn allowed(op: &str, r: Ret, ok: &[i32]) -> bool {
    let _ = op;
    match r {
        Ok(_) => true,
        Err(e) => ok.contains(&e),
    }
}

const E_FD: [i32; 2] = [libc::EBADF, libc::ENOTTY];

/// Reads `len` bytes of our own memory at `addr` without faulting (process_vm_readv).
fn safe_read(addr: u64, buf: &mut [u8]) -> bool {
    let local = libc::iovec { iov_base: buf.as_mut_ptr() as *mut _, iov_len: buf.len() };
    let remote = libc::iovec { iov_base: addr as *mut _, iov_len: buf.len() };
    // SAFETY: the kernel copies from our own address space into `buf`, failing on bad addresses.
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    n == buf.len() as isize
}

fn op_setup(t: &mut T) {
    let fd = t.kfd();
    let nr: u32 = match t.rng.below(10) {
        0 => 0,
        1 => t.rng.next_u32(),
        2 => *t.rng.pick(&[0x8000_0000, 0x8000_0001, 0xFFFF_FFFF, 0x40_0001, 65537]),
        3 => t.rng.range(1, 4096) as u32,
        _ => t.rng.range(1, 128) as u32,
    };
    let ours = t.rng.chance(7, 8);
    let ctxp = if ours {
        let p = t.private(P_CTXP);
        // SAFETY: the ctxp slot of this thread.
        unsafe { *(p as *mut u64) = if t.rng.chance(15, 16) { 0 } else { 1 } };
        p
    } else if t.w.ring_writes && t.rng.chance(1, 4) {
        match t.pick_ctx(true) {
            Some(c) => c.id,
            None => t.ptr(8),
        }
    } else {
        t.ptr(8)
    };
    // A quarter are KAIO_SETUP_POLLED_RW: reads and writes on the pipes and sockets wait in
    // the kernel there, cancellable, instead of completing (or blocking) at once.
    let flags = if t.rng.chance(1, 4) { KAIO_SETUP_POLLED_RW } else { 0 };
    enter(t, format!("setup(fd {fd}, nr {nr:#x}, ctxp {ctxp:#x}, flags {flags:#x})"));
    let r = raw::setup_with_flags(fd, nr, flags, ctxp as *mut u64);
    leave(t);
    record(t, 2, r);
    if !allowed("setup", r, &[libc::EFAULT, libc::EINVAL, libc::EAGAIN, libc::ENOMEM, libc::EBADF, libc::ENOTTY]) {
        finding(F_RET, format!("setup(fd {fd}, nr {nr:#x}, ctxp {ctxp:#x}) = {}", show(&r)));
    }
    if r == Ok(0) {
        t.w.stats.setups_ok.fetch_add(1, Relaxed);
        if ours {
            // SAFETY: the slot of this thread, just written by the kernel.
            let id = unsafe { *(ctxp as *const u64) };
            let size = ring_bytes(nr, t.w.cpus).unwrap_or(PAGE);
            let mut hdr = [0u8; 32];
            if safe_read(id, &mut hdr) {
                // SAFETY: 32 bytes read into a plain-data header.
                let h: AioRing = unsafe { std::ptr::read_unaligned(hdr.as_ptr() as *const AioRing) };
                let want = (size / 32 - 1) as u32;
                if h.nr != want || h.magic != AIO_RING_MAGIC || h.header_length != 32 || h.compat_features != 1 || h.incompat_features != 0 {
                    finding(F_RING, format!("setup(nr {nr:#x}) at {id:#x}: header {h:?}, want nr {want}"));
                }
            }
            {
                let mut polled = t.w.polled.lock().unwrap();
                if flags & KAIO_SETUP_POLLED_RW != 0 {
                    polled.insert(id);
                } else {
                    polled.remove(&id);
                }
            }
            let mut c = t.w.ctxs.lock().unwrap();
            if c.len() >= 64 {
                let i = t.rng.below(c.len() as u64) as usize;
                c.swap_remove(i);
            }
            c.push(CtxRec { fd, id, size, stale: false });
        }
    }
}

fn op_destroy(t: &mut T) {
    let (fd, id) = t.fd_ctx();
    enter(t, format!("destroy(fd {fd}, ctx {id:#x})"));
    let r = raw::destroy(fd, id);
    leave(t);
    record(t, 3, r);
    if r == Ok(0) {
        let mut v = t.w.ctxs.lock().unwrap();
        if t.rng.chance(7, 8) {
            v.retain(|c| c.id != id);
        } else {
            v.iter_mut().filter(|c| c.id == id).for_each(|c| c.stale = true);
        }
    }
    if !matches!(r, Ok(0) | Err(libc::EINVAL) | Err(libc::EBADF) | Err(libc::ENOTTY)) {
        finding(F_RET, format!("destroy(fd {fd}, ctx {id:#x}) = {}", show(&r)));
    }
}

fn op_submit(t: &mut T) {
    let (fd, id) = t.fd_ctx();
    let n = t.rng.below(9) as usize;
    let arr = t.private(P_IOCBPP) as *mut u64;
    for k in 0..n {
        let slot = t.rng.below(N_IOCBS as u64) as usize;
        let at = t.p + P_IOCBS + slot * 64;
        let p = if t.rng.chance(15, 16) {
            let iocb = t.iocb(slot);
            // SAFETY: writes an iocb into this thread's private region.
            unsafe { *(at as *mut Iocb) = iocb };
            at as u64
        } else {
            // The kernel reads the iocb there and may read into its aio_buf.
            t.src_ptr()
        };
        // SAFETY: the iocb pointer array of this thread's private region.
        unsafe { *arr.add(k) = p };
    }
    let nr = if t.rng.chance(7, 8) { n as i64 } else { t.small_or_wild(n as u64 + 2) };
    // The kernel reads iocb pointers there, then the iocbs they point at.
    let iocbpp = if t.rng.chance(15, 16) { arr as u64 } else { t.src_ptr() };
    enter(t, format!("submit(fd {fd}, ctx {id:#x}, nr {nr}, iocbpp {iocbpp:#x})"));
    let r = raw::submit(fd, id, nr, iocbpp as *const *mut Iocb);
    leave(t);
    record(t, 4, r);
    match r {
        Ok(k) => {
            if k < 0 || k > nr.max(0) || (k == 0 && nr > 0) {
                finding(F_RET, format!("submit(nr {nr}) = {k}"));
            }
            t.w.stats.accepted.fetch_add(k as u64, Relaxed);
            if iocbpp == arr as u64 {
                // Every accepted entry, also those past the `n` written for this call (an `nr`
                // above `n` makes the kernel read on, into pointers left by earlier calls, which
                // may name an iocb slot still holding an earlier request's data: that request
                // is then in flight twice, and must be registered twice).
                for j in 0..(k as usize).min(IOCBPP_CAP) {
                    // SAFETY: this thread's iocb pointer array.
                    let p = unsafe { *arr.add(j) };
                    let slot = p.wrapping_sub((t.p + P_IOCBS) as u64);
                    let known = (slot < (N_IOCBS * 64) as u64 && slot % 64 == 0).then(|| {
                        // SAFETY: an iocb slot of this thread's private region.
                        let i = unsafe { *(p as *const Iocb) };
                        t.w.reg.lock().unwrap().accepted(i.aio_data, i.aio_lio_opcode);
                        (i.aio_data, i.aio_lio_opcode)
                    });
                    if t.recent.len() >= 32 {
                        t.recent.remove(0);
                    }
                    t.recent.push((fd, id, p, known));
                }
            }
        }
        Err(libc::ENOTTY) | Err(libc::EBADF) => {}
        Err(e) if e > 0 && e < 4096 => {}
        Err(e) => finding(F_RET, format!("submit: errno {e}")),
    }
}

fn op_getevents(t: &mut T) {
    let (fd, id) = t.fd_ctx();
    let own = t.rng.chance(7, 8);
    let events = if own { t.private(P_EVENTS) } else { t.ptr(32 * 8) };
    let max = if own { N_EVENTS as u64 } else { 8 };
    let (min, nr) = if t.rng.chance(7, 8) {
        let nr = t.rng.below(max + 1) as i64;
        (t.rng.below(nr as u64 + 1).min(2) as i64, nr)
    } else {
        (t.small_or_wild(2), if own { t.rng.below(max + 1) as i64 } else { t.small_or_wild(max) })
    };
    // Writes go only where `events` may take `nr` events: a wild nr is fine only where
    // the kernel cannot get that far (it stops at the first fault, at a guard page).
    let nr = if own || nr <= max as i64 { nr } else { nr.min(8) };
    let timeout = t.timeout();
    if own {
        // SAFETY: this thread's events buffer.
        unsafe { std::ptr::write_bytes(events as *mut u8, 0xEE, N_EVENTS * 32) };
    }
    enter(t, format!("getevents(fd {fd}, ctx {id:#x}, min {min}, nr {nr}, events {events:#x}, timeout {timeout:#x})"));
    let r = raw::getevents(fd, id, min, nr, events as *mut IoEvent, timeout as *const KernelTimespec);
    leave(t);
    record(t, 5, r);
    match r {
        Ok(n) => {
            if n < 0 || n > nr || (nr > 0 && n > nr) {
                finding(F_RET, format!("getevents(min {min}, nr {nr}) = {n}"));
            }
            t.w.stats.events.fetch_add(n.max(0) as u64, Relaxed);
            if own {
                check_reaped(t.w, events, n, &format!("getevents(fd {fd}, ctx {id:#x})"));
            }
        }
        Err(e) if [libc::EFAULT, libc::EINVAL, libc::EINTR].contains(&e) || E_FD.contains(&e) => {}
        Err(e) => finding(F_RET, format!("getevents(fd {fd}, ctx {id:#x}, min {min}, nr {nr}) = {}", errno_name(e))),
    }
}

/// Checks the `n` events a call returned into this thread's events buffer at `events` (filled
/// with 0xEE before the call).
fn check_reaped(w: &World, events: u64, n: i64, call: &str) {
    let got = (n.max(0) as usize).min(N_EVENTS);
    // SAFETY: this thread's events buffer.
    let buf = unsafe { std::slice::from_raw_parts(events as *const u8, N_EVENTS * 32) };
    // The bytes past the events returned must still hold the fill: if not, something
    // other than this call wrote into the buffer.
    let foreign = buf[got * 32..].iter().position(|&b| b != 0xEE);
    for k in 0..got {
        // SAFETY: events the kernel just wrote into this thread's buffer.
        let e = unsafe { *((events as *const IoEvent).add(k)) };
        let why = implausible(w, &e).or_else(|| from_ring_wrong(w, &e));
        if let Some(why) = why {
            let past = match foreign {
                Some(at) => format!("bytes past the {got} events overwritten from byte {}", got * 32 + at),
                None => "fill past the events intact".to_string(),
            };
            finding(F_RET, format!("{call}: event {k} of {n}: {why} ({e:x?}); {past}"));
        }
    }
}

/// What is wrong with an event reaped from a ring, given what the registry knows of its request:
/// an event already returned through RESULT (a request submitted once has one event), or a delay
/// with a res other than 0 and -ECANCELED. (`res` and `res2` cannot be scribbled: a write through
/// a stale record lands on a slot's data or obj, see `implausible`.)
fn from_ring_wrong(w: &World, e: &IoEvent) -> Option<String> {
    let reg = w.reg.lock().unwrap();
    let op = reg.single(e.data)?;
    if reg.via_result.get(&e.data) == Some(&e.obj) {
        return Some("the event of a request submitted once, already returned through KAIO_CANCEL_RESULT, came out of a ring too".into());
    }
    (op == KAIO_CMD_DELAY && e.res != 0 && e.res != -(libc::ECANCELED as i64)).then(|| format!("a delay's event with res {}", e.res))
}

/// Why an event cannot have come from a request this program submitted, if it cannot. Its res
/// is a byte count, a poll mask or a negative errno; res2 is 0. Without ring writes, its obj is
/// also the address of an iocb the kernel accepted: an iocb slot of a thread's private region,
/// or a spot in the read-only pages that happened to hold an acceptable iocb (children submit
/// only into their own domains).
///
/// With ring writes, data and obj go unchecked: a scribble or a setup through a record whose
/// address now lies inside another ring (moved there, or mapped where an unmapped ring was)
/// writes at a page-aligned address, which inside a ring is the start of a slot, so it lands on
/// data or obj (never on res or res2); and a scribbled tail hands such slots out.
fn implausible(w: &World, e: &IoEvent) -> Option<String> {
    if e.res2 != 0 {
        return Some(format!("res2 {:#x}", e.res2));
    }
    if e.res < -4095 || e.res > i32::MAX as i64 {
        return Some(format!("res {:#x} is neither a count, a mask nor an errno", e.res));
    }
    if w.ring_writes {
        return None;
    }
    let a = &w.arena;
    let in_slot = a.private.iter().any(|&p| {
        let off = e.obj.wrapping_sub((p + P_IOCBS) as u64);
        off < (N_IOCBS * 64) as u64 && off % 64 == 0
    });
    let in_ro = e.obj.wrapping_sub(a.ro as u64) < (RO_PAGES * PAGE) as u64;
    (!in_slot && !in_ro).then(|| format!("obj {:#x} is no iocb this program could have submitted", e.obj))
}

fn op_cancel(t: &mut T) {
    let (fd, id, iocb) = if !t.recent.is_empty() && t.rng.chance(3, 4) {
        let r = t.recent[t.rng.below(t.recent.len() as u64) as usize];
        (r.0, r.1, r.2)
    } else {
        let (fd, id) = t.fd_ctx();
        (fd, id, t.rptr(64))
    };
    let result = t.ptr(32);
    enter(t, format!("cancel(fd {fd}, ctx {id:#x}, iocb {iocb:#x}, result {result:#x})"));
    let r = raw::cancel(fd, id, iocb as *mut Iocb, result as *mut IoEvent);
    leave(t);
    record(t, 6, r);
    if r == Err(libc::EINPROGRESS) {
        t.w.stats.ok[6].fetch_add(1, Relaxed);
    }
    if !matches!(r, Err(libc::EINPROGRESS) | Err(libc::EINVAL) | Err(libc::EFAULT) | Err(libc::EBADF) | Err(libc::ENOTTY)) {
        finding(F_RET, format!("cancel(fd {fd}, ctx {id:#x}, iocb {iocb:#x}) = {}", show(&r)));
    }
}

/// ABI.md's flag rules for KAIO_IOC_CANCEL_MATCH: no unknown bit; a selector or ANY; not IOCB
/// with DATA, not ANY with a selector, not RESULT with ALL/ANY/WAIT.
fn cm_flags_valid(f: u32) -> bool {
    let sel = f & (KAIO_CANCEL_IOCB | KAIO_CANCEL_DATA | KAIO_CANCEL_FD | KAIO_CANCEL_OP);
    let any = f & KAIO_CANCEL_ANY != 0;
    f & !0xFF == 0
        && (sel != 0 || any)
        && !(any && sel != 0)
        && f & (KAIO_CANCEL_IOCB | KAIO_CANCEL_DATA) != (KAIO_CANCEL_IOCB | KAIO_CANCEL_DATA)
        && !(f & KAIO_CANCEL_RESULT != 0 && f & (KAIO_CANCEL_ALL | KAIO_CANCEL_ANY | KAIO_CANCEL_WAIT) != 0)
}

const ECANCELED: i64 = -(libc::ECANCELED as i64);

fn op_cancel_match(t: &mut T) {
    use kstress::v2::{self, NR_SENTINEL};
    // Mostly aimed at a request this thread submitted recently, often a cancellable one.
    let cancellable: Vec<usize> = (0..t.recent.len())
        .filter(|&i| matches!(t.recent[i].3, Some((_, KAIO_CMD_DELAY | IOCB_CMD_POLL))))
        .collect();
    let rec = if !cancellable.is_empty() && t.rng.chance(1, 2) {
        Some(t.recent[cancellable[t.rng.below(cancellable.len() as u64) as usize]])
    } else if !t.recent.is_empty() && t.rng.chance(3, 4) {
        Some(t.recent[t.rng.below(t.recent.len() as u64) as usize])
    } else {
        None
    };
    let (fd, id) = match rec {
        Some(r) if t.rng.chance(7, 8) => (r.0, r.1),
        _ => t.fd_ctx(),
    };
    let flags = if t.rng.chance(1, 10) {
        match t.rng.below(3) {
            0 => t.rng.next_u32(),
            1 => 1 << t.rng.below(32),
            _ => t.rng.next_u32() & 0xFF,
        }
    } else {
        let mut fl = 0;
        if t.rng.chance(1, 6) {
            fl |= KAIO_CANCEL_ANY;
        } else {
            while fl == 0 {
                for (bit, num) in [(KAIO_CANCEL_IOCB, 2), (KAIO_CANCEL_DATA, 2), (KAIO_CANCEL_FD, 1), (KAIO_CANCEL_OP, 2)] {
                    if t.rng.chance(num, 5) {
                        fl |= bit;
                    }
                }
            }
            if fl & (KAIO_CANCEL_IOCB | KAIO_CANCEL_DATA) == (KAIO_CANCEL_IOCB | KAIO_CANCEL_DATA) && t.rng.chance(9, 10) {
                fl &= !KAIO_CANCEL_DATA;
            }
        }
        if t.rng.chance(1, 2) {
            fl |= KAIO_CANCEL_ALL;
        }
        if t.rng.chance(1, 4) {
            fl |= KAIO_CANCEL_WAIT;
        }
        if t.rng.chance(1, 5) {
            fl |= KAIO_CANCEL_RESULT;
            if t.rng.chance(9, 10) {
                fl &= !(KAIO_CANCEL_ALL | KAIO_CANCEL_ANY | KAIO_CANCEL_WAIT);
                if fl & !KAIO_CANCEL_RESULT == 0 {
                    fl |= KAIO_CANCEL_IOCB;
                }
            }
        }
        fl
    };
    let known = rec.and_then(|r| r.3);
    let key = if flags & KAIO_CANCEL_IOCB != 0 {
        match rec {
            Some(r) if t.rng.chance(7, 8) => r.2,
            _ => t.rptr(64),
        }
    } else {
        match known {
            Some((data, _)) if t.rng.chance(7, 8) => data,
            _ => t.rng.next_u64() >> t.rng.below(64),
        }
    };
    let f = &t.w.files;
    let sel_fd = match t.rng.below(9) {
        0 => f.pipe_nb[0],
        1 => f.pipe_bl[0],
        2 => f.evfd,
        3 | 4 => f.file,
        5 => t.kfd(),
        6 => *t.rng.pick(&[f.sock[0], f.sock[1], f.udp]),
        _ => t.any_fd(),
    };
    let opcode = match known {
        Some((_, op)) if t.rng.chance(3, 4) => op,
        _ => {
            let any = t.rng.next_u32() as u16;
            *t.rng.pick(&[KAIO_CMD_DELAY, IOCB_CMD_POLL, IOCB_CMD_PREAD, IOCB_CMD_PWRITE, IOCB_CMD_FSYNC, any])
        }
    };
    let wts = t.private(P_WTS);
    let timeout = match t.rng.below(10) {
        0 => 0,
        1 => t.rptr(16),
        2 => {
            // SAFETY: this thread's WAIT timeout slot.
            unsafe { *(wts as *mut KernelTimespec) = KernelTimespec { tv_sec: t.rng.next_u64() as i64 >> t.rng.below(64), tv_nsec: t.rng.next_u64() as i64 } };
            wts
        }
        _ => {
            // SAFETY: as above.
            unsafe { *(wts as *mut KernelTimespec) = KernelTimespec { tv_sec: 0, tv_nsec: t.rng.below(3_000_000) as i64 } };
            wts
        }
    };
    let own_result = t.rng.chance(7, 10);
    let result = if own_result {
        let at = t.private(P_RESULT);
        // SAFETY: this thread's RESULT slot.
        unsafe { std::ptr::write_bytes(at as *mut u8, 0xEE, 32) };
        at
    } else if t.rng.chance(5, 6) {
        t.ptr(32)
    } else {
        0
    };
    let mut a = v2::match_args(id, flags, key);
    a.fd = sel_fd;
    a.opcode = opcode;
    a.timeout = timeout;
    a.result = result;
    if t.rng.chance(1, 20) {
        a.reserved1 = t.rng.next_u32() as u16;
    }
    if t.rng.chance(1, 20) {
        a.reserved2[t.rng.below(2) as usize] = t.rng.next_u64();
    }
    // Mostly a local block; sometimes one the kernel cannot write back into, or cannot read
    // (its contents fixed at start: no lookup can succeed with them).
    let own_args = t.rng.chance(19, 20);
    let wild = if own_args { 0 } else { t.src_ptr() };
    enter(t, format!("cancel_match(fd {fd}, {a:x?}{})", if own_args { String::new() } else { format!(", args at {wild:#x}") }));
    // SAFETY: every pointer in the block points into memory set aside for the kernel (or
    // nowhere); a wild block is read-only or unreadable.
    let r = if own_args { v2::cancel_match(fd, &mut a) } else { unsafe { v2::cancel_match_at(fd, wild) } };
    leave(t);
    record(t, OP_CANCEL_MATCH, r);
    let call = format!("cancel_match(fd {fd}, ctx {id:#x}, flags {flags:#x}, key {key:#x}, fd {sel_fd}, op {opcode:#x}, reserved {:#x}/{:x?})", a.reserved1, a.reserved2);
    let valid = cm_flags_valid(flags) && a.reserved1 == 0 && a.reserved2 == [0, 0];
    let rmode = flags & KAIO_CANCEL_RESULT != 0;
    let nr = a.nr_running;
    let wb = nr != NR_SENTINEL;
    if !own_args {
        if !matches!(r, Err(libc::EFAULT) | Err(libc::EINVAL) | Err(libc::ENOTTY) | Err(libc::EBADF)) {
            finding(F_RET, format!("cancel_match(fd {fd}, args at {wild:#x}) = {}", show(&r)));
        }
        return;
    }
    let bad = |why: &str| finding(F_RET, format!("{call} = {}, nr_running {nr:#x}: {why}", show(&r)));
    match r {
        // Not a /dev/kaio fd (or no fd), or the FD selector's fd is not open.
        Err(libc::ENOTTY) | Err(libc::EBADF) => {}
        Err(libc::EINVAL) => {
            if !valid && wb {
                bad("invalid flags or reserved fields, yet nr_running was written back");
            }
        }
        _ if !valid => bad("invalid flags or reserved fields must give EINVAL"),
        Ok(n) => {
            if !wb {
                bad("nr_running not written back");
            }
            if rmode {
                if n != 0 || nr != 0 {
                    bad("RESULT succeeds with 0 and nr_running 0");
                }
                t.w.stats.events.fetch_add(1, Relaxed);
                t.w.stats.result_events.fetch_add(1, Relaxed);
                if own_result {
                    // SAFETY: this thread's RESULT slot, just written by the kernel.
                    let e = unsafe { *(result as *const IoEvent) };
                    let polled = t.w.polled.lock().unwrap().contains(&id);
                    check_result_event(t.w, &e, flags, key, opcode, polled, &call);
                }
            } else {
                if n < 1 || (flags & (KAIO_CANCEL_ALL | KAIO_CANCEL_ANY) == 0 && n != 1) {
                    bad("without ALL/ANY a match cancels one request");
                }
                t.w.stats.matched_calls.fetch_add(1, Relaxed);
                t.w.stats.matched_reqs.fetch_add(n.max(0) as u64, Relaxed);
            }
        }
        Err(libc::ENOENT) => {
            if rmode || nr != 0 {
                bad("ENOENT: without RESULT, nr_running 0");
            }
        }
        Err(libc::EALREADY) => {
            if rmode || !wb || nr == 0 {
                bad("EALREADY: without RESULT, nr_running at least 1");
            }
        }
        Err(libc::EAGAIN) => {
            if !rmode || !wb || nr == 0 {
                bad("EAGAIN: RESULT only, nr_running at least 1");
            }
        }
        Err(libc::ETIME) | Err(libc::EINTR) => {
            if flags & KAIO_CANCEL_WAIT == 0 || !wb || nr == 0 {
                bad("ETIME/EINTR: WAIT only, and only with a request running (nr_running at least 1)");
            }
        }
        Err(libc::EFAULT) => {
            if rmode && own_result {
                // SAFETY: as above.
                let buf = unsafe { std::slice::from_raw_parts(result as *const u8, 32) };
                if buf.iter().any(|&b| b != 0xEE) {
                    bad("EFAULT with the event written to *result (the caller is told the call failed)");
                }
            }
        }
        Err(_) => bad("not an error KAIO_IOC_CANCEL_MATCH gives"),
    }
}

/// An event returned through KAIO_CANCEL_RESULT: that of a cancellable request the selector
/// names, with the res a cancel gives it, and from now on never to come out of a ring.
/// `polled`: the context is a KAIO_SETUP_POLLED_RW one, where a waiting read or write is
/// cancelled with -ECANCELED.
fn check_result_event(w: &World, e: &IoEvent, flags: u32, key: u64, opcode: u16, polled: bool, call: &str) {
    let mut why = Vec::new();
    if e.res2 != 0 || (e.res != 0 && e.res != ECANCELED) {
        why.push(format!("res {} res2 {} (a cancelled POLL gives 0, a DELAY or polled read/write -ECANCELED)", e.res, e.res2));
    }
    if flags & KAIO_CANCEL_IOCB != 0 && e.obj != key {
        why.push("obj is not the iocb asked for".into());
    }
    if flags & KAIO_CANCEL_DATA != 0 && e.data != key {
        why.push("data is not the one asked for".into());
    }
    let mut reg = w.reg.lock().unwrap();
    if let Some(op) = reg.single(e.data) {
        let want = match op {
            IOCB_CMD_POLL => Some(0),
            KAIO_CMD_DELAY => Some(ECANCELED),
            IOCB_CMD_PREAD | IOCB_CMD_PWRITE | IOCB_CMD_PREADV | IOCB_CMD_PWRITEV if polled => Some(ECANCELED),
            _ => None,
        };
        match want {
            None => why.push(format!("opcode {op:#x} cannot be cancelled")),
            Some(res) if res != e.res => why.push(format!("opcode {op:#x} is cancelled with res {res}")),
            _ => {}
        }
        if flags & KAIO_CANCEL_OP != 0 && op != opcode {
            why.push(format!("the request's opcode is {op:#x}"));
        }
        if reg.via_result.contains_key(&e.data) {
            why.push("returned through RESULT twice".into());
        }
        reg.returned(e.data, e.obj);
    }
    drop(reg);
    if !why.is_empty() {
        finding(F_RET, format!("{call}: RESULT event {e:x?}: {}", why.join("; ")));
    }
}

fn op_pgetevents(t: &mut T) {
    use kstress::v2;
    let (fd, id) = t.fd_ctx();
    let own = t.rng.chance(7, 8);
    let events = if own { t.private(P_EVENTS) } else { t.ptr(32 * 8) };
    let max = if own { N_EVENTS as u64 } else { 8 };
    let (min, nr) = if t.rng.chance(7, 8) {
        let nr = t.rng.below(max + 1) as i64;
        (t.rng.below(nr as u64 + 1).min(2) as i64, nr)
    } else {
        (t.small_or_wild(2), if own { t.rng.below(max + 1) as i64 } else { t.small_or_wild(max) })
    };
    let nr = if own || nr <= max as i64 { nr } else { nr.min(8) };
    let mut timeout = t.timeout();
    let usr1 = v2::sigbit(libc::SIGUSR1);
    let (sigmask, may_block_usr1) = match t.rng.below(10) {
        0 => (0, false),
        1 => (t.rptr(8), true),
        _ => {
            let m = if t.rng.chance(9, 10) { t.rng.next_u64() & !usr1 } else { t.rng.next_u64() };
            // SAFETY: this thread's mask slot.
            unsafe { *(t.private(P_MASK) as *mut u64) = m };
            (t.private(P_MASK), m & usr1 != 0)
        }
    };
    if may_block_usr1 {
        // The watchdog's SIGUSR1 may be blocked for the wait: keep it short.
        let at = t.private(P_TS);
        // SAFETY: this thread's timeout slot.
        unsafe { *(at as *mut KernelTimespec) = KernelTimespec { tv_sec: 0, tv_nsec: t.rng.below(3_000_000) as i64 } };
        timeout = at;
    }
    let sigsetsize = if t.rng.chance(9, 10) {
        8
    } else {
        let any = t.rng.next_u64();
        *t.rng.pick(&[0u64, 4, 7, 9, 16, 128, u64::MAX, any])
    };
    if own {
        // SAFETY: this thread's events buffer.
        unsafe { std::ptr::write_bytes(events as *mut u8, 0xEE, N_EVENTS * 32) };
    }
    let a = kaio_pgetevents_args { ctx_id: id, min_nr: min, nr, events, timeout, sigmask, sigsetsize };
    let before = v2::thread_mask();
    enter(t, format!("pgetevents(fd {fd}, {a:x?})"));
    let r = v2::pgetevents(fd, &a);
    leave(t);
    let after = v2::thread_mask();
    record(t, OP_PGETEVENTS, r);
    if after != before {
        finding(F_RET, format!("pgetevents(fd {fd}, {a:x?}) = {}: the thread's signal mask is {after:#x} after the call, {before:#x} before", show(&r)));
    }
    match r {
        Ok(n) => {
            if n < 0 || n > nr {
                finding(F_RET, format!("pgetevents(min {min}, nr {nr}) = {n}"));
            }
            t.w.stats.events.fetch_add(n.max(0) as u64, Relaxed);
            if own {
                check_reaped(t.w, events, n, &format!("pgetevents(fd {fd}, ctx {id:#x})"));
            }
        }
        Err(e) if [libc::EFAULT, libc::EINVAL, libc::EINTR].contains(&e) || E_FD.contains(&e) => {}
        Err(e) => finding(F_RET, format!("pgetevents(fd {fd}, {a:x?}) = {}", errno_name(e))),
    }
}

fn op_badioctl(t: &mut T) {
    let fd = t.kfd();
    let valid = [
        KAIO_IOC_SETUP,
        KAIO_IOC_DESTROY,
        KAIO_IOC_SUBMIT,
        KAIO_IOC_GETEVENTS,
        KAIO_IOC_CANCEL,
        KAIO_IOC_CANCEL_MATCH,
        KAIO_IOC_PGETEVENTS,
    ];
    let cmd = match t.rng.below(3) {
        0 => (t.rng.below(4) as u32) << 30 | (t.rng.below(0x4000) as u32) << 16 | KAIO_IOC_MAGIC << 8 | t.rng.below(256) as u32,
        1 => *t.rng.pick(&valid) ^ (1 << t.rng.below(32)),
        _ => *t.rng.pick(&valid),
    };
    let arg = if t.rng.chance(1, 2) { t.rptr(64) } else { t.ptr(64) };
    let is_valid = valid.contains(&cmd);
    if is_valid && cmd == KAIO_IOC_SETUP {
        // A setup through a wild block may write 8 bytes wherever ctxp points: only places set
        // aside for the kernel are wild pointers, so this is as safe as the other calls.
    }
    enter(t, format!("ioctl(fd {fd}, cmd {cmd:#x}, arg {arg:#x})"));
    // SAFETY: `arg` points only into memory set aside for the kernel (or nowhere); a command
    // taken as valid dereferences only pointers found there, which are equally harmless... except
    // that a submit may read iocbs whose buffers point anywhere, so valid commands take their
    // block from the read-only pages, the guard pages or invalid addresses only.
    let arg = if is_valid && t.rng.chance(1, 2) { t.w.arena.ro as u64 + t.rng.below((RO_PAGES * PAGE) as u64) } else if is_valid { mem::KERNEL_ADDR } else { arg };
    let r = unsafe { raw::ioctl(fd, cmd, arg as *const u8) };
    leave(t);
    record(t, 7, r);
    if !is_valid && !matches!(r, Err(libc::ENOTTY) | Err(libc::EBADF) | Err(libc::EINVAL) | Err(libc::EFAULT)) {
        // EINVAL/EFAULT: a random cmd can be a generic one of another file type (fd reuse).
        finding(F_RET, format!("ioctl(fd {fd}, cmd {cmd:#x}) = {}", show(&r)));
    }
}

fn op_open(t: &mut T) {
    let mut fds = t.w.kfds.lock().unwrap();
    if fds.len() >= 4 {
        return;
    }
    t.w.stats.calls[0].fetch_add(1, Relaxed);
    match raw::open() {
        Ok(fd) => {
            t.w.stats.ok[0].fetch_add(1, Relaxed);
            fds.push(fd)
        }
        Err(e) => finding(F_RUN, format!("open /dev/kaio: {}", errno_name(e))),
    }
}

fn op_close(t: &mut T) {
    let fd = {
        let mut fds = t.w.kfds.lock().unwrap();
        if fds.len() <= 1 {
            return;
        }
        let i = t.rng.below(fds.len() as u64) as usize;
        fds.swap_remove(i)
    };
    if t.rng.chance(3, 4) {
        t.w.ctxs.lock().unwrap().retain(|c| c.fd != fd);
    }
    t.w.stats.calls[1].fetch_add(1, Relaxed);
    // SAFETY: closes a /dev/kaio fd this program opened (other threads may still use the
    // number: they get EBADF, or whatever file reuses it).
    unsafe { libc::close(fd) };
}

/// Unmaps a known ring (its contexts then become unreachable, as in Linux).
fn op_munmap(t: &mut T) {
    let Some(c) = t.pick_ctx(false) else { return };
    t.w.stats.calls[8].fetch_add(1, Relaxed);
    t.w.ctxs.lock().unwrap().retain(|x| x.id != c.id);
    // SAFETY: the range is (or was) a ring mapping of this program; if it was destroyed, the
    // address range may since hold another ring, which is fair game too. Nothing else is ever
    // mapped there (malloc does not mmap, see malloc_no_mmap).
    unsafe { libc::munmap(c.id as *mut libc::c_void, c.size) };
}

/// Maps anonymous memory over a known ring's range (MAP_FIXED) and unmaps it again soon after:
/// the context becomes unreachable, as after munmap, and a setup in another thread may be
/// putting its ring into that very range (a destroyed ring's range is the next one handed out).
/// Nothing is left mapped there, so the mapping count stays bounded.
fn op_map_over(t: &mut T) {
    let Some(c) = t.pick_ctx(false) else { return };
    t.w.stats.calls[OP_MAP_OVER].fetch_add(1, Relaxed);
    t.w.ctxs.lock().unwrap().retain(|x| x.id != c.id);
    enter(t, format!("mmap(MAP_FIXED) over {:#x}, {:#x}", c.id, c.size));
    // SAFETY: as in op_munmap: the range is (or was) a ring mapping of this program, and
    // nothing of the program's own lives there.
    let p = unsafe {
        libc::mmap(c.id as *mut libc::c_void, c.size, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED, -1, 0)
    };
    if p != libc::MAP_FAILED {
        t.w.stats.ok[OP_MAP_OVER].fetch_add(1, Relaxed);
        std::thread::yield_now();
        // SAFETY: the anonymous mapping just made (or whatever replaced it: zone rules as above).
        unsafe { libc::munmap(p, c.size) };
    }
    leave(t);
}

/// Moves a known ring (or whatever part of a ring its range now holds) with mremap into the
/// move zone (see `MoveZone`); the new address becomes the handle.
fn op_mremap(t: &mut T) {
    let Some(c) = t.pick_ctx(false) else { return };
    let target = t.w.zone.target(c.size) as *mut libc::c_void;
    enter(t, format!("mremap({:#x}, {:#x} -> {:#x})", c.id, c.size, target as u64));
    // SAFETY: moves the ring (if it still is one) onto the target range, in the zone.
    let p = unsafe {
        libc::mremap(c.id as *mut libc::c_void, c.size, c.size, libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED, target)
    };
    leave(t);
    record(t, 9, if p == libc::MAP_FAILED { Err(errno()) } else { Ok(0) });
    if p != libc::MAP_FAILED {
        let mut v = t.w.ctxs.lock().unwrap();
        for x in v.iter_mut() {
            if x.id == c.id {
                x.id = p as u64;
            }
        }
        let mut polled = t.w.polled.lock().unwrap();
        if polled.remove(&c.id) {
            polled.insert(p as u64);
        } else {
            polled.remove(&(p as u64));
        }
    }
}

/// Writes random values into a ring header field (id, head or tail) through the kernel, so
/// that an unmapped ring gives EFAULT instead of a crash.
fn op_scribble(t: &mut T) {
    if !t.w.ring_writes {
        return;
    }
    let Some(c) = t.pick_ctx(true) else { return };
    let off = *t.rng.pick(&[0u64, 8, 12, 4]);
    let v: u32 = match t.rng.below(4) {
        0 => 0,
        1 => t.rng.next_u32(),
        2 => u32::MAX,
        _ => t.rng.below(300) as u32,
    };
    let f = &t.w.files;
    t.w.stats.calls[10].fetch_add(1, Relaxed);
    let mut p = [0i32; 2];
    // SAFETY: a private pipe; the kernel copies 4 bytes into the ring field or fails.
    unsafe {
        if libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) == 0 {
            libc::write(p[1], &v as *const u32 as *const libc::c_void, 4);
            libc::read(p[0], (c.id + off) as *mut libc::c_void, 4);
            libc::close(p[0]);
            libc::close(p[1]);
        }
    }
    let _ = f;
}

fn op_pipe(t: &mut T) {
    let f = &t.w.files;
    let mut buf = [0u8; 512];
    let n = t.rng.range(1, 512) as usize;
    t.w.stats.calls[12].fetch_add(1, Relaxed);
    // SAFETY: plain reads and writes on our non-blocking pipes and eventfd.
    unsafe {
        match t.rng.below(6) {
            4 => {
                libc::send(f.sock[t.rng.below(2) as usize], buf.as_ptr() as *const _, n, libc::MSG_DONTWAIT);
            }
            5 => {
                libc::send(f.udp, buf.as_ptr() as *const _, n, libc::MSG_DONTWAIT);
            }
            0 => {
                libc::write(f.pipe_nb[1], buf.as_ptr() as *const _, n);
            }
            1 => {
                libc::read(f.pipe_nb[0], buf.as_mut_ptr() as *mut _, n);
            }
            2 => {
                let one = 1u64;
                libc::write(f.evfd, &one as *const u64 as *const _, 8);
            }
            _ => {
                // The blocking pipe, through a non-blocking open file description of it.
                libc::write(f.pipe_bl_w_nb, buf.as_ptr() as *const _, n);
            }
        }
    }
}

/// Drops every domain at once, while the other threads keep using them: every /dev/kaio fd
/// is closed and every ring unmapped (the last reference goes, the contexts are torn down),
/// then one fresh fd is opened.
fn op_reset(t: &mut T) {
    t.w.stats.calls[14].fetch_add(1, Relaxed);
    let fds = std::mem::take(&mut *t.w.kfds.lock().unwrap());
    t.w.ctxs.lock().unwrap().clear();
    enter(t, format!("reset (closing fds {fds:?} and unmapping every ring)"));
    for fd in fds {
        // SAFETY: closes a /dev/kaio fd this program opened.
        unsafe { libc::close(fd) };
    }
    let text = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    for line in text.lines().filter(|l| l.ends_with("/dev/kaio")) {
        let mut it = line.split_whitespace().next().unwrap_or("").split('-');
        if let (Some(Ok(a)), Some(Ok(b))) = (it.next().map(|a| u64::from_str_radix(a, 16)), it.next().map(|b| u64::from_str_radix(b, 16))) {
            // SAFETY: unmaps a ring mapping of /dev/kaio (nothing else maps that file).
            unsafe { libc::munmap(a as *mut libc::c_void, (b - a) as usize) };
        }
    }
    leave(t);
    if let Ok(fd) = raw::open() {
        t.w.kfds.lock().unwrap().push(fd);
    }
}

fn op_truncate(t: &mut T) {
    t.w.stats.calls[13].fetch_add(1, Relaxed);
    // SAFETY: truncates our tmpfs file (bounds its size).
    unsafe { libc::ftruncate(t.w.files.file, t.rng.below(1 << 16) as i64) };
}

/// The child of a fork: a few random calls with stack memory and inherited fds only (no locks,
/// no allocation), then `_exit` with whatever is in flight.
fn child(t: &mut T, fds: &[i32; 4], nfds: usize) -> ! {
    let mut rng = t.rng.clone();
    let fd = if nfds > 0 && rng.chance(2, 3) {
        fds[rng.below(nfds as u64) as usize]
    } else {
        raw::open().unwrap_or(-1)
    };
    let mut ctx = 0u64;
    let _ = raw::setup(fd, rng.range(1, 64) as u32, &mut ctx);
    let f = &t.w.files;
    let mut iocbs = [Iocb::default(); 8];
    let mut ptrs = [std::ptr::null_mut::<Iocb>(); 8];
    let n = rng.range(1, 8) as usize;
    for k in 0..n {
        iocbs[k] = match rng.below(4) {
            0 => Iocb::delay(rng.below(50_000_000) as i64, f.file),
            1 => Iocb::poll(f.pipe_nb[0], 1),
            2 => Iocb::fsync(f.file),
            _ => Iocb::delay(10_000_000_000, f.file),
        }
        .with_data(k as u64);
        if rng.chance(1, 3) {
            iocbs[k] = iocbs[k].with_resfd(f.evfd);
        }
        ptrs[k] = &mut iocbs[k];
    }
    let _ = raw::submit(fd, ctx, n as i64, ptrs.as_ptr());
    if rng.chance(1, 2) {
        let mut ev = [IoEvent::default(); 8];
        let ts = KernelTimespec { tv_sec: 0, tv_nsec: rng.below(5_000_000) as i64 };
        let _ = raw::getevents(fd, ctx, 1, 8, ev.as_mut_ptr(), &ts);
    }
    if rng.chance(1, 4) {
        let _ = raw::cancel(fd, ctx, ptrs[0], std::ptr::null_mut());
    }
    if rng.chance(1, 4) {
        let flags = if rng.chance(1, 2) { KAIO_CANCEL_ANY } else { KAIO_CANCEL_OP | KAIO_CANCEL_ALL | KAIO_CANCEL_WAIT };
        let ts = KernelTimespec { tv_sec: 0, tv_nsec: rng.below(2_000_000) as i64 };
        let mut a = kstress::v2::match_args(ctx, flags, 0);
        a.opcode = KAIO_CMD_DELAY;
        a.timeout = &ts as *const KernelTimespec as u64;
        let _ = kstress::v2::cancel_match(fd, &mut a);
    }
    if rng.chance(1, 4) {
        // SAFETY: closes the child's copy of the fd (its rings keep the file).
        unsafe { libc::close(fd) };
    }
    if rng.chance(1, 3) {
        // Sleep a little so that the parent's SIGKILL may land in the middle of things.
        let ts = libc::timespec { tv_sec: 0, tv_nsec: rng.below(20_000_000) as i64 };
        // SAFETY: plain sleep.
        unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
    }
    // SAFETY: ends the child with requests in flight.
    unsafe { libc::_exit(0) }
}

fn op_fork(t: &mut T) {
    if t.w.children.lock().unwrap().len() >= 3 {
        return;
    }
    let mut fds = [0i32; 4];
    let mut n = 0;
    for &fd in t.w.kfds.lock().unwrap().iter().take(4) {
        fds[n] = fd;
        n += 1;
    }
    t.w.stats.calls[11].fetch_add(1, Relaxed);
    let kill = t.rng.chance(1, 3);
    // SAFETY: the child runs `child` only, which takes no locks and does not allocate.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        child(t, &fds, n);
    }
    if pid > 0 {
        t.w.stats.children.fetch_add(1, Relaxed);
        if kill {
            std::thread::sleep(Duration::from_micros(t.rng.below(3000)));
            // SAFETY: kills our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            t.w.stats.children_killed.fetch_add(1, Relaxed);
        }
        t.w.children.lock().unwrap().push((pid, kill));
    }
}

fn reap_children(w: &World, block: bool) {
    let mut kids = w.children.lock().unwrap();
    kids.retain(|&(pid, killed)| {
        let mut st = 0;
        // SAFETY: waits for our own child.
        let r = unsafe { libc::waitpid(pid, &mut st, if block { 0 } else { libc::WNOHANG }) };
        if r == 0 {
            return true;
        }
        let ok = libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0 || killed && libc::WIFSIGNALED(st) && libc::WTERMSIG(st) == libc::SIGKILL;
        if !ok {
            finding(
                F_CHILD,
                format!(
                    "child {pid}: {}",
                    if libc::WIFSIGNALED(st) { format!("killed by signal {}", libc::WTERMSIG(st)) } else { format!("exit {}", libc::WEXITSTATUS(st)) }
                ),
            );
        }
        false
    });
}

fn worker(w: &World, idx: usize, seed: u64, deadline: Instant, iterations: Option<u64>) {
    // SAFETY: gettid for the watchdog's signals.
    w.tids[idx].store(unsafe { libc::syscall(libc::SYS_gettid) } as u64, SeqCst);
    let mut t = T { w, rng: Rng::stream(seed, idx as u64), idx, p: w.arena.private[idx], recent: Vec::new() };
    let mut done = 0u64;
    while !w.stop.load(Relaxed) && Instant::now() < deadline && iterations.is_none_or(|n| done < n) {
        done += 1;
        match t.rng.weighted(&[2, 1, 8, 5, 30, 25, 12, 3, 1, 1, 2, 1, 4, 1, 1, 10, 8, 1]) {
            0 => op_open(&mut t),
            1 => {
                if t.rng.chance(1, 4) {
                    op_close(&mut t)
                }
            }
            2 => op_setup(&mut t),
            3 => op_destroy(&mut t),
            4 => op_submit(&mut t),
            5 => op_getevents(&mut t),
            6 => op_cancel(&mut t),
            7 => op_badioctl(&mut t),
            8 => op_munmap(&mut t),
            9 => op_mremap(&mut t),
            10 => op_scribble(&mut t),
            11 => {
                if t.rng.chance(1, 10) {
                    op_fork(&mut t)
                }
            }
            12 => op_pipe(&mut t),
            13 => op_truncate(&mut t),
            14 => {
                if t.rng.chance(1, 50) {
                    op_reset(&mut t)
                }
            }
            15 => op_cancel_match(&mut t),
            16 => op_pgetevents(&mut t),
            _ => op_map_over(&mut t),
        }
    }
}

/// The kernel stacks of the worker threads (for a hang report).
fn kernel_stacks(w: &World) -> String {
    let mut out = String::new();
    for (i, tid) in w.tids.iter().enumerate() {
        let tid = tid.load(SeqCst);
        let op = w.last_op[i].lock().map(|s| s.clone()).unwrap_or_default();
        let in_call = w.in_call[i].load(SeqCst) != 0;
        out += &format!("# thread {i} (tid {tid}, {}): {op}\n", if in_call { "in the call" } else { "between calls" });
        let stack = std::fs::read_to_string(format!("/proc/self/task/{tid}/stack")).unwrap_or_else(|e| format!("({e})"));
        for l in stack.lines() {
            out += &format!("#   {l}\n");
        }
    }
    // The main thread, and every child process.
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    let stack = std::fs::read_to_string(format!("/proc/self/task/{me}/stack")).unwrap_or_default();
    out += "# main thread:\n";
    for l in stack.lines() {
        out += &format!("#   {l}\n");
    }
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let Ok(pid) = name.parse::<i32>() else { continue };
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // pid (comm) state ppid ...
            let after = stat.rsplit_once(") ").map(|x| x.1).unwrap_or("");
            let mut f = after.split_whitespace();
            let state = f.next().unwrap_or("?");
            let ppid: i32 = f.next().and_then(|x| x.parse().ok()).unwrap_or(0);
            if ppid != me {
                continue;
            }
            out += &format!("# child {pid} state {state}:\n");
            for task in std::fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten() {
                let st = std::fs::read_to_string(task.path().join("stack")).unwrap_or_default();
                for l in st.lines() {
                    out += &format!("#   {l}\n");
                }
            }
        }
    }
    out
}

extern "C" fn on_usr1(_: libc::c_int) {}

/// Closes every fd of /dev/kaio and unmaps every mapping of it.
fn close_everything() -> (usize, usize) {
    let mut fds = 0;
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        let list: Vec<_> = dir.flatten().collect();
        for e in list {
            if std::fs::read_link(e.path()).map(|p| p.to_string_lossy() == "/dev/kaio").unwrap_or(false) {
                if let Ok(n) = e.file_name().to_string_lossy().parse::<i32>() {
                    // SAFETY: closes an fd of /dev/kaio; no other thread is running.
                    unsafe { libc::close(n) };
                    fds += 1;
                }
            }
        }
    }
    let mut maps = 0;
    let text = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    for line in text.lines().filter(|l| l.ends_with("/dev/kaio")) {
        let range = line.split_whitespace().next().unwrap_or("");
        let mut it = range.split('-');
        if let (Some(a), Some(b)) = (it.next(), it.next()) {
            if let (Ok(a), Ok(b)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) {
                // SAFETY: unmaps a ring mapping of /dev/kaio.
                unsafe { libc::munmap(a as *mut libc::c_void, (b - a) as usize) };
                maps += 1;
            }
        }
    }
    (fds, maps)
}

/// The size of the largest ring a setup can map: `max_nr` events at most, and no more than
/// the 0x1000_0000-byte limit (nr_events doubled) allows.
fn max_ring_bytes(cpus: u32) -> usize {
    let max_nr = read_u64_file(MAX_NR_PARAM).unwrap_or(u64::MAX).min(0x1000_0000 / 64) as u32;
    ring_bytes(max_nr, cpus).unwrap_or(0x1000_0000) + 2 * PAGE
}

fn main() {
    let args = Args::parse(20.0, 4, &["ring-writes"], USAGE);
    let ring_writes = args.get("ring-writes") != Some("0");
    malloc_no_mmap();
    // KTAP goes to a copy of stdout above every fd the fuzzer may pick; 0-2 become /dev/null.
    // SAFETY: fd juggling on our own process at start, single-threaded.
    let out_fd = unsafe { libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 1000) };
    kstress::fatal::report_deaths_to(out_fd);
    // SAFETY: as above.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        libc::dup2(null, 0);
        libc::dup2(null, 1);
        libc::dup2(null, 2);
        if null > 2 {
            libc::close(null);
        }
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_usr1 as *const () as usize;
        libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
    }
    // SAFETY: the duplicated stdout is ours alone.
    let out = unsafe { std::fs::File::from_raw_fd(out_fd) };
    let mut k = Ktap::with_writer(Box::new(out));
    k.header(5);
    let rw = if ring_writes { "" } else { " --ring-writes 0" };
    k.diag(&format!(
        "kaio-fuzz seed={:#x} seconds={} threads={}{}{rw} (reproduce: kaio-fuzz --seed {:#x} --threads {}{}{rw})",
        args.seed,
        args.seconds,
        args.threads,
        args.iterations.map_or(String::new(), |n| format!(" iterations={n}")),
        args.seed,
        args.threads,
        args.iterations.map_or(format!(" --seconds {}", args.seconds), |n| format!(" --iterations {n}"))
    ));
    let nr0 = read_u64_file(NR_PARAM);
    k.diag(&format!("nr at start: {nr0:?}"));
    if nr0.is_none() || !kaio_present() {
        k.result("fuzz_run", &["no /dev/kaio or no nr parameter".to_string()]);
        for n in ["return_values", "ring_headers", "children", "nr_restored"] {
            k.skip(n, "no /dev/kaio");
        }
        std::process::exit(1);
    }

    let path = format!("/tmp/kaio-fuzz.{}\0", std::process::id());
    let mut pn = [0i32; 2];
    let mut pb = [0i32; 2];
    // SAFETY: creating the files the fuzzer hands to the kernel.
    let files = unsafe {
        let file = libc::open(path.as_ptr() as *const libc::c_char, libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC, 0o600);
        libc::unlink(path.as_ptr() as *const libc::c_char);
        libc::ftruncate(file, 1 << 16);
        libc::pipe2(pn.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC);
        libc::pipe2(pb.as_mut_ptr(), libc::O_CLOEXEC);
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        let again = format!("/proc/self/fd/{}\0", pb[1]);
        let pipe_bl_w_nb = libc::open(again.as_ptr() as *const libc::c_char, libc::O_WRONLY | libc::O_NONBLOCK | libc::O_CLOEXEC);
        let mut sock = [0i32; 2];
        libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0, sock.as_mut_ptr());
        let udp = udp_self_connected();
        Files { file, pipe_nb: pn, pipe_bl: pb, pipe_bl_w_nb, evfd: eventfd(), null, sock, udp }
    };
    let threads = args.threads.max(1);
    let cpus = possible_cpus();
    let w = Arc::new(World {
        arena: Arena::new(threads),
        files,
        cpus,
        kfds: Mutex::new(Vec::new()),
        ctxs: Mutex::new(Vec::new()),
        children: Mutex::new(Vec::new()),
        stop: AtomicBool::new(false),
        ring_writes,
        reg: Mutex::new(Registry::default()),
        polled: Mutex::new(std::collections::HashSet::new()),
        zone: MoveZone::new(max_ring_bytes(cpus)),
        stats: Stats {
            calls: [const { AtomicU64::new(0) }; NOPS],
            ok: [const { AtomicU64::new(0) }; NOPS],
            errnos: Mutex::new(Default::default()),
            setups_ok: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            events: AtomicU64::new(0),
            children: AtomicU64::new(0),
            children_killed: AtomicU64::new(0),
            result_events: AtomicU64::new(0),
            matched_calls: AtomicU64::new(0),
            matched_reqs: AtomicU64::new(0),
        },
        in_call: (0..threads).map(|_| AtomicU64::new(0)).collect(),
        last_op: (0..threads).map(|_| Mutex::new(String::new())).collect(),
        tids: (0..threads).map(|_| AtomicU64::new(0)).collect(),
        start: Instant::now(),
    });
    for _ in 0..2 {
        if let Ok(fd) = raw::open() {
            w.kfds.lock().unwrap().push(fd);
        }
    }

    // Watchdog: interrupts calls that block (SIGUSR1), and ends a hung run with the calls in
    // progress printed.
    let limit = args.duration() + Duration::from_secs(if args.iterations.is_some() { 3600 } else { 150 });
    {
        let w = w.clone();
        std::thread::spawn(move || {
            block_all_signals();
            let started = Instant::now();
            loop {
                std::thread::sleep(Duration::from_millis(10));
                let now = now_ms(&w);
                for i in 0..w.in_call.len() {
                    let since = w.in_call[i].load(SeqCst);
                    if since != 0 && now > since + 40 {
                        // SAFETY: signals one of our own threads.
                        unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), w.tids[i].load(SeqCst) as i32, libc::SIGUSR1) };
                    }
                    if since != 0 && now > since + 150_000 {
                        let op = w.last_op[i].lock().map(|s| s.clone()).unwrap_or_default();
                        let mut msg = format!("# thread {i} stuck for 150 s in {op}\n");
                        msg += &kernel_stacks(&w);
                        msg += "Bail out! hung call\n";
                        // SAFETY: writes to the saved stdout and ends the process.
                        unsafe {
                            libc::write(out_fd, msg.as_ptr() as *const _, msg.len());
                            libc::_exit(1);
                        }
                    }
                }
                if started.elapsed() > limit {
                    let mut msg = String::from("# kaio-fuzz: run did not end in time; calls in progress:\n");
                    for i in 0..w.in_call.len() {
                        if w.in_call[i].load(SeqCst) != 0 {
                            msg += &format!("# thread {i}: {}\n", w.last_op[i].lock().map(|s| s.clone()).unwrap_or_default());
                        }
                    }
                    msg += &kernel_stacks(&w);
                    msg += "Bail out! hung\n";
                    // SAFETY: as above.
                    unsafe {
                        libc::write(out_fd, msg.as_ptr() as *const _, msg.len());
                        libc::_exit(1);
                    }
                }
            }
        });
    }

    let deadline = Instant::now() + args.duration() + if args.iterations.is_some() { Duration::from_secs(86_400) } else { Duration::ZERO };
    let hs: Vec<_> = (0..threads)
        .map(|i| {
            let w = w.clone();
            let seed = args.seed;
            let it = args.iterations;
            std::thread::spawn(move || worker(&w, i, seed, deadline, it))
        })
        .collect();
    while hs.iter().any(|h| !h.is_finished()) {
        std::thread::sleep(Duration::from_millis(50));
        reap_children(&w, false);
    }
    let mut run = Vec::new();
    for h in hs {
        if h.join().is_err() {
            run.push("a fuzz thread panicked".to_string());
        }
    }
    let elapsed = w.start.elapsed().as_secs_f64();
    reap_children(&w, true);
    let (nfds, nmaps) = close_everything();
    let (nr_end, took) = wait_nr(nr0.unwrap_or(0), Duration::from_secs(10));

    let s = &w.stats;
    let total: u64 = s.calls.iter().map(|c| c.load(Relaxed)).sum();
    k.diag(&format!("ran {elapsed:.1} s, {threads} threads, {total} calls ({:.0}/s)", total as f64 / elapsed));
    let mut line = String::new();
    for (i, name) in OPS.iter().enumerate() {
        line += &format!("{name} {}/{} ", s.ok[i].load(Relaxed), s.calls[i].load(Relaxed));
    }
    k.diag(&format!("calls (succeeded/made): {line}"));
    k.diag(&format!(
        "setups ok {}, iocbs accepted {}, events reaped {} ({} through RESULT), cancel_match cancelled {} requests in {} calls, children {} ({} killed), at the end closed {nfds} fds and unmapped {nmaps} rings",
        s.setups_ok.load(Relaxed),
        s.accepted.load(Relaxed),
        s.events.load(Relaxed),
        s.result_events.load(Relaxed),
        s.matched_reqs.load(Relaxed),
        s.matched_calls.load(Relaxed),
        s.children.load(Relaxed),
        s.children_killed.load(Relaxed)
    ));
    let errs = s.errnos.lock().unwrap();
    let mut e: Vec<String> = errs.iter().map(|((op, er), n)| format!("{}:{}={n}", OPS[*op], errno_name(*er))).collect();
    e.sort();
    k.diag(&format!("errnos: {}", e.join(" ")));
    drop(errs);
    if total == 0 {
        run.push("no calls made".into());
    }
    run.extend(findings(F_RUN));
    k.result("fuzz_run", &run);
    k.result("return_values", &findings(F_RET));
    k.result("ring_headers", &findings(F_RING));
    k.result("children", &findings(F_CHILD));
    let mut p = Vec::new();
    if nr_end != nr0 {
        p.push(format!("nr {nr_end:?} after every fd and ring mapping is gone; {nr0:?} at the start (waited {took:?})"));
    }
    k.result("nr_restored", &p);
    k.totals();
    let _ = std::io::stderr().flush();
    std::process::exit(k.exit_code());
}

/// A non-blocking UDP socket on loopback connected to itself (-1 without networking).
fn udp_self_connected() -> i32 {
    use std::os::fd::IntoRawFd;
    let Ok(s) = std::net::UdpSocket::bind("127.0.0.1:0") else { return -1 };
    let ok = s.local_addr().and_then(|a| s.connect(a)).and_then(|()| s.set_nonblocking(true));
    if ok.is_err() {
        return -1;
    }
    s.into_raw_fd()
}
