//! The differential fuzzer: a seeded random sequence of steps (setup, submit of random valid
//! and invalid iocbs, getevents, user-space reaping, cancel, destroy, and plain reads, writes
//! and closes of the files the requests use) run identically on two "worlds": the native
//! system calls and a `/dev/kaio` domain, each with its own but identically prepared files,
//! pipes, eventfds and memory. After every step both worlds are brought to rest (every request
//! that can still complete has completed) and compared: return values and errnos, the `aio_key`
//! words, the events (data, res, res2, and obj relative to the iocb array), the ring, the
//! buffers, the file contents and the eventfd counts. The first divergence fails the run with
//! its seed and step.
//!
//! Determinism: the generator only ever looks at the native world's state; it keeps the number
//! of unreaped requests of a context within the `nr_events` Linux guarantees, never reuses an
//! iocb slot whose request has not been reaped, and never mixes, in one io_submit, requests on
//! an eventfd with requests that signal an eventfd (an asynchronous signal could land before or
//! after them). Event order is compared as a multiset (asynchronous completions may land in
//! either order in both implementations); counts per call are compared exactly.

use crate::aio::{self, errno_name, show, Aio};
use crate::ktap;
use crate::util::*;
use kaio::uapi::*;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

const PAGE: usize = 4096;
const P_IOCB: usize = 0;
const N_IOCB: usize = 64;
const P_PTRS: usize = 1;
const P_IOV: usize = 2;
const N_IOV: usize = 6 * PAGE / 16;
const P_MISC: usize = 8;
const P_EVENTS: usize = 9;
const N_EVENTS: usize = 128;
const P_RO: usize = 10;
const P_DATA: usize = 11;
const DATA_LEN: usize = 16 * PAGE;
const P_GUARD: usize = 27;
const ARENA_PAGES: usize = 28;

// The misc page.
const M_CTXP: usize = 0;
const M_TS: usize = 128;
const M_EFDVAL: usize = 256;
const EFDVALS: [u64; 6] = [1, 2, 3, 0, u64::MAX, u64::MAX - 1];
const M_SCRATCH: usize = 512;

const KERNEL_ADDR: u64 = 0xffff_8880_0000_0000;
const BAD_FD: u32 = 9999;

/// The files of a world, by slot.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    File,
    PipeR,
    PipeW,
    Efd,
    Dev,
    Bad,
}

const SLOTS: &[(&str, Kind)] = &[
    ("fa", Kind::File),
    ("fa.ro", Kind::File),
    ("fa.wo", Kind::File),
    ("fa.app", Kind::File),
    ("fb", Kind::File),
    ("p0.r", Kind::PipeR),
    ("p0.w", Kind::PipeW),
    ("p1.r", Kind::PipeR),
    ("p1.w", Kind::PipeW),
    ("e0", Kind::Efd),
    ("e1", Kind::Efd),
    ("null", Kind::Dev),
    ("zero", Kind::Dev),
    ("bad", Kind::Bad),
    ("bad-1", Kind::Bad),
];
const S_FA: usize = 0;
const S_FA_RO: usize = 1;
const S_FA_WO: usize = 2;
const S_FA_APP: usize = 3;
const S_FB: usize = 4;
const S_P0R: usize = 5;
const S_P0W: usize = 6;
const S_P1R: usize = 7;
const S_P1W: usize = 8;
const S_E0: usize = 9;
const S_E1: usize = 10;
const S_NULL: usize = 11;
const S_ZERO: usize = 12;
const S_BAD: usize = 13;
const S_BAD2: usize = 14;
const N_SLOTS: usize = 15;
const N_CTX: usize = 2;

fn is_efd(slot: usize) -> bool {
    slot == S_E0 || slot == S_E1
}

// ---------------------------------------------------------------------------------------------
// Steps

#[derive(Clone, Debug)]
enum Addr {
    Null,
    Data(usize),
    /// `k` bytes before the end of the data area (which the guard page follows).
    DataEnd(usize),
    Guard,
    Kernel,
    EfdVal(usize),
    /// An address inside the iovec area (set when materialised).
    IovArea,
    /// A plain value (POLL's event mask, FSYNC's invalid buf).
    Raw(u64),
}

#[derive(Clone, Debug)]
struct Cb {
    /// Index of the iocb in the array, or None: the read-only page.
    slot: Option<usize>,
    opcode: u16,
    fd: usize,
    buf: Addr,
    nbytes: u64,
    /// Vectored: the entries written to the iovec area (`nbytes` is the count given).
    iov: Option<Vec<(Addr, u64)>>,
    offset: i64,
    rw_flags: u32,
    reqprio: i16,
    flags: u32,
    resfd: usize,
    key: u32,
    data: u64,
    reserved2: u64,
}

#[derive(Clone, Copy, Debug)]
enum CtxSel {
    Slot(usize),
    Zero,
    /// A readable address that is no context (the iocb array).
    Bogus,
}

#[derive(Clone, Copy, Debug)]
enum Ctxp {
    Good,
    Null,
    NonZero,
    ReadOnly,
}

#[derive(Clone, Copy, Debug)]
enum Ptr {
    Iocb,
    Null,
    Guard,
}

#[derive(Clone, Copy, Debug)]
enum NrSel {
    Exact,
    Minus1,
    Zero,
    /// 2^40 with a NULL pointer after the iocbs (nr is capped at ring_nr).
    Huge,
    /// The array pointer is NULL.
    NullArray,
}

#[derive(Clone, Copy, Debug)]
enum EvSel {
    Good,
    Guard,
    /// Room for `j` events before the read-only page.
    Straddle(usize),
}

#[derive(Clone, Copy, Debug)]
enum TsSel {
    Null,
    Zero,
    OneMs,
    Bad,
}

#[derive(Clone, Copy, Debug)]
enum Target {
    Slot(usize),
    Ro,
    Guard,
}

#[derive(Clone, Debug)]
enum Step {
    Setup { c: usize, nr: u32, ctxp: Ctxp },
    Destroy { sel: CtxSel },
    Submit { sel: CtxSel, nr: NrSel, cbs: Vec<Cb>, ptrs: Vec<Ptr> },
    GetEvents { sel: CtxSel, min: i64, nr: i64, ev: EvSel, ts: TsSel },
    UserReap { c: usize, n: usize },
    Cancel { sel: CtxSel, target: Target, bad_key: bool },
    PipeWrite { slot: usize, off: usize, len: usize },
    PipeRead { slot: usize, off: usize, len: usize },
    EfdWrite { slot: usize, val: usize },
    EfdRead { slot: usize },
    Close { slot: usize },
    CheckEventfds,
    CheckFiles,
}

fn op_name(op: u16) -> String {
    match op {
        IOCB_CMD_PREAD => "PREAD".into(),
        IOCB_CMD_PWRITE => "PWRITE".into(),
        IOCB_CMD_FSYNC => "FSYNC".into(),
        IOCB_CMD_FDSYNC => "FDSYNC".into(),
        IOCB_CMD_POLL => "POLL".into(),
        IOCB_CMD_PREADV => "PREADV".into(),
        IOCB_CMD_PWRITEV => "PWRITEV".into(),
        o => format!("op{o}"),
    }
}

impl Cb {
    fn desc(&self) -> String {
        let mut s = format!(
            "{}[{}] {} fd={}",
            op_name(self.opcode),
            self.slot.map_or("ro".to_string(), |s| s.to_string()),
            self.data,
            SLOTS[self.fd].0
        );
        match &self.iov {
            Some(v) => s.push_str(&format!(" iov={:?} cnt={:#x}", v, self.nbytes)),
            None => s.push_str(&format!(" buf={:?} n={:#x}", self.buf, self.nbytes)),
        }
        s.push_str(&format!(" off={}", self.offset));
        if self.rw_flags != 0 {
            s.push_str(&format!(" rwf={:#x}", self.rw_flags));
        }
        if self.flags != 0 {
            s.push_str(&format!(" flags={:#x}", self.flags));
        }
        if self.flags & IOCB_FLAG_IOPRIO != 0 {
            s.push_str(&format!(" prio={:#x}", self.reqprio as u16));
        }
        if self.flags & IOCB_FLAG_RESFD != 0 {
            s.push_str(&format!(" resfd={}", SLOTS[self.resfd].0));
        }
        if self.reserved2 != 0 {
            s.push_str(&format!(" rsv2={:#x}", self.reserved2));
        }
        s.push_str(&format!(" key={:#x}", self.key));
        s
    }
}

impl Step {
    fn desc(&self) -> String {
        match self {
            Step::Submit { sel, nr, cbs, ptrs } => {
                let mut s = format!("submit ctx={sel:?} nr={nr:?} ptrs={ptrs:?}");
                for cb in cbs {
                    s.push_str("\n    ");
                    s.push_str(&cb.desc());
                }
                s
            }
            other => format!("{other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Worlds

/// An event as compared: (obj relative to the arena, data, res, res2).
type Ev = (i64, u64, i64, i64);

#[derive(Clone, Debug)]
struct Inflight {
    obj: i64,
    op: u16,
    fd: usize,
    /// POLL: what poll(2) must report for the request to be ready.
    events: i16,
    resfd: bool,
    cancelled: bool,
    seen_done: bool,
}

struct CtxState {
    id: u64,
    nr_events: u32,
    inflight: Vec<Inflight>,
    /// Events reaped (getevents or user space) not yet matched against the other world.
    reaped: Vec<Ev>,
}

struct World {
    b: Box<dyn Aio>,
    arena: Map,
    fds: [RawFd; N_SLOTS],
    closed: [bool; N_SLOTS],
    /// A second fd of the same file (readiness, contents, counters), or -1.
    shadow: [RawFd; N_SLOTS],
    ctx: [Option<CtxState>; N_CTX],
    /// Contexts destroyed during this step: (slot, reaped + unread events).
    retired: Vec<(usize, Vec<Ev>)>,
    dir: String,
    /// Compare `ring->id` (not when both worlds share the native table: --native-twice).
    ids: bool,
}

fn open_file(path: &str, flags: i32) -> RawFd {
    let c = std::ffi::CString::new(path).unwrap();
    // SAFETY: a NUL-terminated path.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC, 0o600) };
    assert!(fd >= 0, "open {path}: {}", errno_name(errno()));
    fd
}

fn dup(fd: RawFd) -> RawFd {
    // SAFETY: plain dup of an fd we own.
    let d = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    assert!(d >= 0, "dup: {}", errno_name(errno()));
    d
}

impl World {
    fn new(kaio: bool, seed: u64, ids: bool) -> Result<World, String> {
        let b = aio::open(kaio)?;
        let dir = format!("/tmp/kaio-diff.{}.{}", std::process::id(), b.name());
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {dir}: {e}"))?;
        let mut r = Rng::new(seed ^ 0xfeed);
        let content: Vec<u8> = (0..16384).map(|_| r.next() as u8).collect();
        std::fs::write(format!("{dir}/fa"), &content).map_err(|e| e.to_string())?;
        std::fs::write(format!("{dir}/fb"), b"").map_err(|e| e.to_string())?;
        let fa = format!("{dir}/fa");
        let fb = format!("{dir}/fb");
        let mut fds = [-1; N_SLOTS];
        let mut shadow = [-1; N_SLOTS];
        fds[S_FA] = open_file(&fa, libc::O_RDWR);
        fds[S_FA_RO] = open_file(&fa, libc::O_RDONLY);
        fds[S_FA_WO] = open_file(&fa, libc::O_WRONLY);
        fds[S_FA_APP] = open_file(&fa, libc::O_RDWR | libc::O_APPEND);
        fds[S_FB] = open_file(&fb, libc::O_RDWR);
        for (rs, ws) in [(S_P0R, S_P0W), (S_P1R, S_P1W)] {
            let p = Pipe::new();
            fds[rs] = p.r;
            fds[ws] = p.w;
            std::mem::forget(p);
            shadow[rs] = dup(fds[rs]);
        }
        for s in [S_E0, S_E1] {
            let e = EventFd::new();
            fds[s] = e.0;
            std::mem::forget(e);
            shadow[s] = dup(fds[s]);
        }
        fds[S_NULL] = open_file("/dev/null", libc::O_RDWR);
        fds[S_ZERO] = open_file("/dev/zero", libc::O_RDONLY);
        fds[S_BAD] = BAD_FD as RawFd;
        fds[S_BAD2] = -1;
        shadow[S_FA] = open_file(&fa, libc::O_RDONLY);
        shadow[S_FB] = open_file(&fb, libc::O_RDONLY);
        let arena = Map::new(ARENA_PAGES * PAGE);
        let data: Vec<u8> = (0..DATA_LEN).map(|_| r.next() as u8).collect();
        arena.bytes_mut(P_DATA * PAGE, DATA_LEN).copy_from_slice(&data);
        for (i, v) in EFDVALS.iter().enumerate() {
            // SAFETY: inside the misc page.
            unsafe { *arena.ptr::<u64>(P_MISC * PAGE + M_EFDVAL + 8 * i) = *v };
        }
        // SAFETY: inside the misc page: timespecs {0,0} and {0,1ms}.
        unsafe {
            *arena.ptr::<KernelTimespec>(P_MISC * PAGE + M_TS) = KernelTimespec { tv_sec: 0, tv_nsec: 0 };
            *arena.ptr::<KernelTimespec>(P_MISC * PAGE + M_TS + 16) = KernelTimespec { tv_sec: 0, tv_nsec: 1_000_000 };
        }
        arena.protect(P_RO * PAGE, PAGE, libc::PROT_READ);
        arena.protect(P_GUARD * PAGE, PAGE, libc::PROT_NONE);
        let mut closed = [false; N_SLOTS];
        closed[S_BAD] = true;
        closed[S_BAD2] = true;
        Ok(World { b, arena, fds, closed, shadow, ctx: [None, None], retired: Vec::new(), dir, ids })
    }

    fn base(&self) -> u64 {
        self.arena.addr
    }
    fn page(&self, p: usize) -> u64 {
        self.base() + (p * PAGE) as u64
    }
    fn iocb_addr(&self, slot: Option<usize>) -> u64 {
        match slot {
            Some(s) => self.page(P_IOCB) + 64 * s as u64,
            None => self.page(P_RO),
        }
    }
    fn addr(&self, a: &Addr, iov_at: u64) -> u64 {
        match a {
            Addr::Null => 0,
            Addr::Data(off) => self.page(P_DATA) + *off as u64,
            Addr::DataEnd(k) => self.page(P_DATA) + (DATA_LEN - k) as u64,
            Addr::Guard => self.page(P_GUARD),
            Addr::Kernel => KERNEL_ADDR,
            Addr::EfdVal(i) => self.page(P_MISC) + (M_EFDVAL + 8 * i) as u64,
            Addr::IovArea => iov_at,
            Addr::Raw(v) => *v,
        }
    }
    fn fd_num(&self, slot: usize) -> u32 {
        match slot {
            S_BAD => BAD_FD,
            S_BAD2 => u32::MAX,
            s => self.fds[s] as u32,
        }
    }
    fn ctx_id(&self, sel: CtxSel) -> u64 {
        match sel {
            CtxSel::Slot(c) => self.ctx[c].as_ref().map_or(0, |c| c.id),
            CtxSel::Zero => 0,
            CtxSel::Bogus => self.page(P_IOCB),
        }
    }
    fn rel(&self, obj: u64) -> i64 {
        obj.wrapping_sub(self.base()) as i64
    }
    fn ev(&self, e: &IoEvent) -> Ev {
        (self.rel(e.obj), e.data, e.res, e.res2)
    }
    fn key_at(&self, slot: Option<usize>) -> u32 {
        // SAFETY: the iocb is inside the arena (readable); aio_key is at offset 8.
        unsafe { std::ptr::read_volatile((self.iocb_addr(slot) + 8) as *const u32) }
    }

    /// Writes `cb` as this world's iocb; returns its address.
    fn materialise(&self, cb: &Cb, iov_cursor: &mut usize) -> u64 {
        let mut buf = self.addr(&cb.buf, 0);
        if let Some(entries) = &cb.iov {
            let at = self.page(P_IOV) + (*iov_cursor * 16) as u64;
            for (i, (a, len)) in entries.iter().enumerate() {
                let e = libc::iovec { iov_base: self.addr(a, 0) as *mut libc::c_void, iov_len: *len as usize };
                // SAFETY: the iovec area has room (checked by the generator).
                unsafe { *self.arena.ptr::<libc::iovec>(P_IOV * PAGE + (*iov_cursor + i) * 16) = e };
            }
            *iov_cursor += entries.len();
            buf = at;
        }
        let iocb = Iocb {
            aio_data: cb.data,
            aio_key: cb.key,
            aio_rw_flags: cb.rw_flags,
            aio_lio_opcode: cb.opcode,
            aio_reqprio: cb.reqprio,
            aio_fildes: self.fd_num(cb.fd),
            aio_buf: buf,
            aio_nbytes: cb.nbytes,
            aio_offset: cb.offset,
            aio_reserved2: cb.reserved2,
            aio_flags: cb.flags,
            aio_resfd: if cb.flags & IOCB_FLAG_RESFD != 0 { self.fd_num(cb.resfd) } else { 0 },
        };
        let addr = self.iocb_addr(cb.slot);
        if cb.slot.is_none() {
            self.arena.protect(P_RO * PAGE, PAGE, libc::PROT_READ | libc::PROT_WRITE);
        }
        // SAFETY: the iocb slot lies in the arena and is writable now.
        unsafe { std::ptr::write_volatile(addr as *mut Iocb, iocb) };
        if cb.slot.is_none() {
            self.arena.protect(P_RO * PAGE, PAGE, libc::PROT_READ);
        }
        addr
    }

    fn efd_counts(&self) -> (u64, u64) {
        (efd_take(self.shadow[S_E0]), efd_take(self.shadow[S_E1]))
    }

    /// Removes the in-flight entries of reaped events and keeps the events for comparison.
    fn reaped(&mut self, c: usize, evs: &[IoEvent]) {
        let converted: Vec<Ev> = evs.iter().map(|e| self.ev(e)).collect();
        if let Some(cs) = self.ctx[c].as_mut() {
            for e in &converted {
                if let Some(i) = cs.inflight.iter().position(|f| f.obj == e.0) {
                    cs.inflight.remove(i);
                }
            }
            cs.reaped.extend(converted);
        }
    }

    /// Runs one step; returns what it observed.
    fn exec(&mut self, step: &Step) -> Vec<(String, String)> {
        let mut o: Vec<(String, String)> = Vec::new();
        let mut rec = |l: &str, v: String| o.push((l.to_string(), v));
        match step {
            Step::Setup { c, nr, ctxp } => {
                let cell = self.page(P_MISC) + M_CTXP as u64;
                // SAFETY: inside the misc page.
                unsafe { *(cell as *mut u64) = if matches!(ctxp, Ctxp::NonZero) { 5 } else { 0 } };
                let p = match ctxp {
                    Ctxp::Good | Ctxp::NonZero => cell,
                    Ctxp::Null => 0,
                    Ctxp::ReadOnly => self.page(P_RO) + 2048,
                };
                let r = self.b.setup(*nr, p as *mut u64);
                rec("setup", show(r));
                if let (Ok(0), Ctxp::Good) = (r, ctxp) {
                    // SAFETY: the cell was just written by the kernel.
                    let id = unsafe { *(cell as *const u64) };
                    let h = ring_hdr(id);
                    rec("ring", format!("{:?}", AioRing { id: if self.ids { h.id } else { 0 }, ..h }));
                    self.ctx[*c] = Some(CtxState { id, nr_events: *nr, inflight: Vec::new(), reaped: Vec::new() });
                } else if let Ctxp::NonZero = ctxp {
                    // SAFETY: inside the misc page.
                    rec("cell", unsafe { *(cell as *const u64) }.to_string());
                }
            }
            Step::Destroy { sel } => {
                let id = self.ctx_id(*sel);
                let mut left = Vec::new();
                if let CtxSel::Slot(c) = sel {
                    if let Some(cs) = &self.ctx[*c] {
                        left = ring_peek(cs.id).iter().map(|e| self.ev(e)).collect();
                    }
                }
                let r = self.b.destroy(id);
                rec("destroy", show(r));
                if let (Ok(_), CtxSel::Slot(c)) = (r, sel) {
                    if let Some(mut cs) = self.ctx[*c].take() {
                        cs.reaped.extend(left);
                        self.retired.push((*c, std::mem::take(&mut cs.reaped)));
                    }
                    // Every request has signalled its eventfd when destroy returns (I6).
                    rec("eventfds right after destroy", format!("{:?}", self.efd_counts()));
                }
            }
            Step::Submit { sel, nr, cbs, ptrs } => {
                let mut cursor = 0;
                let addrs: Vec<u64> = cbs.iter().map(|cb| self.materialise(cb, &mut cursor)).collect();
                let arr = self.arena.ptr::<u64>(P_PTRS * PAGE);
                for (i, (a, p)) in addrs.iter().zip(ptrs).enumerate() {
                    let v = match p {
                        Ptr::Iocb => *a,
                        Ptr::Null => 0,
                        Ptr::Guard => self.page(P_GUARD),
                    };
                    // SAFETY: inside the pointer page (at most 8 entries).
                    unsafe { *arr.add(i) = v };
                }
                // SAFETY: as above: the terminator for NrSel::Huge.
                unsafe { *arr.add(addrs.len()) = 0 };
                let (n, pp) = match nr {
                    NrSel::Exact => (addrs.len() as i64, arr as u64),
                    NrSel::Minus1 => (-1, arr as u64),
                    NrSel::Zero => (0, arr as u64),
                    NrSel::Huge => (1 << 40, arr as u64),
                    NrSel::NullArray => (addrs.len() as i64, 0),
                };
                let r = self.b.submit(self.ctx_id(*sel), n, pp as *const *mut Iocb);
                rec("submit", show(r));
                let keys: Vec<String> = cbs.iter().map(|cb| format!("{:#x}", self.key_at(cb.slot))).collect();
                rec("keys", keys.join(","));
                if let (Ok(k), CtxSel::Slot(c)) = (r, sel) {
                    let base = self.base();
                    if let Some(cs) = self.ctx[*c].as_mut() {
                        for (cb, a) in cbs.iter().zip(&addrs).take(k as usize) {
                            cs.inflight.push(Inflight {
                                obj: a.wrapping_sub(base) as i64,
                                op: cb.opcode,
                                fd: cb.fd,
                                events: match &cb.buf {
                                    Addr::Raw(v) => (*v as u16 as i16) | libc::POLLERR | libc::POLLHUP,
                                    _ => 0,
                                },
                                resfd: cb.flags & IOCB_FLAG_RESFD != 0,
                                cancelled: false,
                                seen_done: false,
                            });
                        }
                    }
                }
            }
            Step::GetEvents { sel, min, nr, ev, ts } => {
                let evp = match ev {
                    EvSel::Good => self.page(P_EVENTS),
                    EvSel::Guard => self.page(P_GUARD),
                    EvSel::Straddle(j) => self.page(P_RO) - 32 * *j as u64,
                };
                self.arena.bytes_mut(P_EVENTS * PAGE, PAGE).fill(0);
                let tsp = match ts {
                    TsSel::Null => 0,
                    TsSel::Zero => self.page(P_MISC) + M_TS as u64,
                    TsSel::OneMs => self.page(P_MISC) + M_TS as u64 + 16,
                    TsSel::Bad => self.page(P_GUARD),
                };
                // Which events a partial read takes depends on completion order; a read of
                // everything, with nothing reaped since the ring was last empty, does not.
                let avail = match sel {
                    CtxSel::Slot(c) => self.ctx[*c].as_ref().map_or(0, |cs| if cs.reaped.is_empty() { ring_peek(cs.id).len() } else { usize::MAX }),
                    _ => 0,
                };
                let r = self.b.getevents(self.ctx_id(*sel), *min, *nr, evp as *mut IoEvent, tsp as *const KernelTimespec);
                rec("getevents", show(r));
                if let (Ok(n), CtxSel::Slot(c)) = (r, sel) {
                    let evs: Vec<IoEvent> = (0..n as usize)
                        // SAFETY: the kernel wrote n events at evp (readable arena memory).
                        .map(|i| unsafe { std::ptr::read_volatile((evp as *const IoEvent).add(i)) })
                        .collect();
                    if n as usize == avail {
                        let mut v: Vec<Ev> = evs.iter().map(|e| self.ev(e)).collect();
                        v.sort();
                        rec("events", format!("{v:?}"));
                    }
                    self.reaped(*c, &evs);
                }
            }
            Step::UserReap { c, n } => {
                if let Some(cs) = &self.ctx[*c] {
                    let evs = ring_reap(cs.id, *n);
                    rec("user reap", evs.len().to_string());
                    self.reaped(*c, &evs);
                }
            }
            Step::Cancel { sel, target, bad_key } => {
                let addr = match target {
                    Target::Slot(s) => self.iocb_addr(Some(*s)),
                    Target::Ro => self.iocb_addr(None),
                    Target::Guard => self.page(P_GUARD),
                };
                let old = match target {
                    Target::Slot(s) if *bad_key => {
                        let k = self.key_at(Some(*s));
                        // SAFETY: the iocb slot is in the writable arena.
                        unsafe { std::ptr::write_volatile((addr + 8) as *mut u32, 7) };
                        Some(k)
                    }
                    _ => None,
                };
                let r = self.b.cancel(self.ctx_id(*sel), addr as *mut Iocb, self.page(P_GUARD) as *mut IoEvent);
                rec("cancel", show(r));
                if let Some(k) = old {
                    // SAFETY: as above.
                    unsafe { std::ptr::write_volatile((addr + 8) as *mut u32, k) };
                }
                if let (Err(libc::EINPROGRESS), CtxSel::Slot(c)) = (r, sel) {
                    let rel = self.rel(addr);
                    if let Some(cs) = self.ctx[*c].as_mut() {
                        for f in cs.inflight.iter_mut().filter(|f| f.obj == rel) {
                            f.cancelled = true;
                        }
                    }
                }
            }
            Step::PipeWrite { slot, off, len } => {
                let p = self.page(P_DATA) + *off as u64;
                // SAFETY: writes from the data area (in bounds).
                let r = unsafe { libc::write(self.fds[*slot], p as *const libc::c_void, *len) };
                rec("write", show(if r < 0 { Err(errno()) } else { Ok(r as i64) }));
            }
            Step::PipeRead { slot, off, len } => {
                let p = self.page(P_DATA) + *off as u64;
                // SAFETY: reads into the data area (in bounds).
                let r = unsafe { libc::read(self.fds[*slot], p as *mut libc::c_void, *len) };
                rec("read", show(if r < 0 { Err(errno()) } else { Ok(r as i64) }));
            }
            Step::EfdWrite { slot, val } => {
                let p = self.page(P_MISC) + (M_EFDVAL + 8 * val) as u64;
                // SAFETY: 8 bytes from the misc page.
                let r = unsafe { libc::write(self.fds[*slot], p as *const libc::c_void, 8) };
                rec("write", show(if r < 0 { Err(errno()) } else { Ok(r as i64) }));
            }
            Step::EfdRead { slot } => {
                let p = self.page(P_MISC) + M_SCRATCH as u64;
                // SAFETY: 8 bytes into the misc page.
                let r = unsafe { libc::read(self.fds[*slot], p as *mut libc::c_void, 8) };
                rec("read", show(if r < 0 { Err(errno()) } else { Ok(r as i64) }));
                // SAFETY: as above.
                rec("value", unsafe { *(p as *const u64) }.to_string());
            }
            Step::Close { slot } => {
                close(self.fds[*slot]);
                self.closed[*slot] = true;
            }
            Step::CheckEventfds => {
                // Asynchronous completions signal right after posting: settle first.
                let mut total = (0u64, 0u64);
                let mut quiet = 0;
                while quiet < 4 {
                    let (a, b) = self.efd_counts();
                    if a == 0 && b == 0 {
                        quiet += 1;
                    } else {
                        quiet = 0;
                    }
                    total.0 = total.0.saturating_add(a);
                    total.1 = total.1.saturating_add(b);
                    std::thread::sleep(ms(2));
                }
                rec("eventfds", format!("{total:?}"));
            }
            Step::CheckFiles => {
                for s in [S_FA, S_FB] {
                    rec(SLOTS[s].0, file_digest(self.shadow[s]));
                }
            }
        }
        o
    }

    /// Waits until every request that can still complete has completed (its event is in the
    /// ring): fsyncs, cancelled polls, and polls whose file is ready. Err if that takes more
    /// than `limit` (a request that is ready but never completes).
    fn quiesce(&mut self, limit: Duration) -> Result<(), String> {
        let start = Instant::now();
        let mut waited = false;
        loop {
            let mut busy: Option<String> = None;
            let mut new_resfd = false;
            for cs in self.ctx.iter_mut().flatten() {
                let done: Vec<i64> = ring_peek(cs.id).iter().map(|e| e.obj.wrapping_sub(self.arena.addr) as i64).collect();
                for f in cs.inflight.iter_mut() {
                    if done.contains(&f.obj) {
                        if !f.seen_done && f.resfd {
                            new_resfd = true;
                        }
                        f.seen_done = true;
                        continue;
                    }
                    let why = match f.op {
                        IOCB_CMD_POLL if f.cancelled => Some("cancelled"),
                        IOCB_CMD_POLL => {
                            let fd = if self.shadow[f.fd] >= 0 {
                                self.shadow[f.fd]
                            } else if !self.closed[f.fd] {
                                self.fds[f.fd]
                            } else {
                                -1
                            };
                            // An eventfd wakes with the key of what changed (IN on a write, OUT
                            // on a read), never with ERR: a poll waiting for OUT stays pending
                            // when a signal saturates the counter (ERR), in Linux too.
                            let ev = if is_efd(f.fd) { f.events & !(libc::POLLERR | libc::POLLHUP) } else { f.events };
                            (fd >= 0 && ready_now(fd, ev) & ev != 0).then_some("ready")
                        }
                        _ => Some("not a poll"),
                    };
                    if let Some(why) = why {
                        busy = Some(format!("{} on {} ({why}) at iocb offset {:#x}", op_name(f.op), SLOTS[f.fd].0, f.obj));
                    }
                }
            }
            // A closed pipe write end is released only when the last request holding it has
            // dropped its reference, which after an asynchronous completion happens later
            // (fput from a worker is deferred): wait for the readers' HUP that follows.
            for (w, r) in [(S_P0W, S_P0R), (S_P1W, S_P1R)] {
                if busy.is_some() || !self.closed[w] {
                    continue;
                }
                let held = self.ctx.iter().flatten().any(|cs| {
                    let done: Vec<i64> = ring_peek(cs.id).iter().map(|e| e.obj.wrapping_sub(self.arena.addr) as i64).collect();
                    cs.inflight.iter().any(|f| f.fd == w && !done.contains(&f.obj))
                });
                if !held && ready_now(self.shadow[r], libc::POLLIN) & libc::POLLHUP == 0 {
                    busy = Some(format!("{} closed and no request holds it, but its readers see no HUP", SLOTS[w].0));
                }
            }
            if busy.is_none() {
                if new_resfd || waited {
                    // Let eventfd signals that follow the posted events land.
                    std::thread::sleep(ms(3));
                }
                return Ok(());
            }
            if start.elapsed() > limit {
                return Err(format!("{}: a request did not complete within {limit:?}: {}", self.b.name(), busy.unwrap()));
            }
            waited = true;
            std::thread::sleep(Duration::from_micros(500));
        }
    }

    /// What both worlds must agree on after every step.
    fn state(&mut self) -> Vec<(String, String)> {
        let mut o = Vec::new();
        for c in 0..N_CTX {
            match &self.ctx[c] {
                None => o.push((format!("ctx{c}"), "none".to_string())),
                Some(cs) => {
                    let peek: Vec<Ev> = ring_peek(cs.id).iter().map(|e| self.ev(e)).collect();
                    let pending = cs.inflight.len() - cs.inflight.iter().filter(|f| peek.iter().any(|e| e.0 == f.obj)).count();
                    let mut all = cs.reaped.clone();
                    all.extend(peek.iter().cloned());
                    all.sort();
                    let h = ring_hdr(cs.id);
                    o.push((format!("ctx{c}"), format!("id {} nr {} unread {} pending {}", if self.ids { h.id } else { 0 }, h.nr, peek.len(), pending)));
                    o.push((format!("ctx{c} events (reaped since the ring was last empty + unread, sorted)"), format!("{all:?}")));
                }
            }
        }
        for (c, mut evs) in std::mem::take(&mut self.retired) {
            evs.sort();
            o.push((format!("ctx{c} destroyed: its events"), format!("{evs:?}")));
        }
        o.push(("data area".into(), format!("{:016x}", fnv(self.arena.bytes(P_DATA * PAGE, DATA_LEN)))));
        let keys: Vec<u32> = (0..N_IOCB).map(|s| self.key_at(Some(s))).collect();
        o.push(("aio_key of every iocb".into(), format!("{keys:x?}")));
        o
    }

    /// Forgets events that both worlds have matched, once the ring is empty.
    fn settle_reaped(&mut self, c: usize) {
        if let Some(cs) = self.ctx[c].as_mut() {
            if ring_peek(cs.id).is_empty() {
                cs.reaped.clear();
            }
        }
    }

    /// Makes every pending poll completable (so destroy cannot hang on a kaio bug), then
    /// destroys what is left. Used after a failure.
    fn unblock_and_destroy(&mut self) {
        for s in [S_P0R, S_P1R] {
            if !self.closed[s] {
                drain_fd(self.fds[s]);
            }
        }
        for s in [S_P0W, S_P1W] {
            if !self.closed[s] {
                close(self.fds[s]);
                self.closed[s] = true;
            }
        }
        for s in [S_E0, S_E1] {
            efd_take(self.shadow[s]);
            let one = 1u64;
            // SAFETY: writes 8 bytes from a u64.
            unsafe { libc::write(self.shadow[s], (&one as *const u64).cast(), 8) };
        }
        for c in 0..N_CTX {
            if let Some(cs) = self.ctx[c].take() {
                let _ = self.b.destroy(cs.id);
            }
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for c in 0..N_CTX {
            if let Some(cs) = self.ctx[c].take() {
                let _ = self.b.destroy(cs.id);
            }
        }
        for s in 0..N_SLOTS {
            if !self.closed[s] {
                close(self.fds[s]);
            }
            close(self.shadow[s]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn fnv(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for x in b {
        h ^= *x as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// Size and a hash of the first 128 KiB (and the last 4 KiB) of a file.
fn file_digest(fd: RawFd) -> String {
    // SAFETY: fstat into a zeroed struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(fd, &mut st) } < 0 {
        return format!("fstat {}", errno_name(errno()));
    }
    let size = st.st_size;
    let mut buf = vec![0u8; 128 * 1024];
    // SAFETY: reads into a valid buffer.
    let n = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
    let h1 = fnv(&buf[..n.max(0) as usize]);
    let mut h2 = 0;
    if size > 128 * 1024 {
        let at = size - 4096;
        // SAFETY: as above.
        let n = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), 4096, at) };
        h2 = fnv(&buf[..n.max(0) as usize]);
    }
    format!("size {size} head {h1:016x} tail {h2:016x}")
}

// ---------------------------------------------------------------------------------------------
// The generator (it looks only at the native world).

struct Gen {
    r: Rng,
}

const RWF_HIPRI: u32 = 1;
const RWF_DSYNC: u32 = 2;
const RWF_SYNC: u32 = 4;
const RWF_NOWAIT: u32 = 8;
const RWF_APPEND: u32 = 0x10;
const RWF_NOAPPEND: u32 = 0x20;
const RWF_ATOMIC: u32 = 0x40;

impl Gen {
    fn fd_for(&mut self, op: u16) -> usize {
        let slots = [S_FA, S_FA_RO, S_FA_WO, S_FA_APP, S_FB, S_P0R, S_P0W, S_P1R, S_P1W, S_E0, S_E1, S_NULL, S_ZERO, S_BAD, S_BAD2];
        let w: [u32; 15] = match op {
            IOCB_CMD_POLL => [5, 2, 1, 1, 2, 18, 8, 10, 4, 14, 8, 3, 2, 2, 1],
            IOCB_CMD_FSYNC | IOCB_CMD_FDSYNC => [30, 6, 6, 4, 10, 4, 2, 1, 1, 4, 1, 4, 2, 3, 1],
            _ => [25, 6, 6, 6, 10, 6, 6, 3, 3, 6, 3, 4, 4, 2, 1],
        };
        slots[self.r.weighted(&w)]
    }

    fn offset(&mut self, file: bool) -> i64 {
        let r = &mut self.r;
        match r.weighted(&[if file { 55 } else { 10 }, 10, if file { 10 } else { 70 }, 5, 3, 3, 3, 2, 4, 2]) {
            0 => r.below(20000) as i64,
            1 => r.below(70000) as i64,
            2 => 0,
            3 => -1,
            4 => i64::MIN,
            5 => i64::MAX,
            6 => i64::MAX - 5,
            7 => -4096,
            8 => (r.below(16) * 4096) as i64,
            _ => r.next() as i64,
        }
    }

    /// A buffer and its length for a plain read or write.
    fn buffer(&mut self, efd: bool, write: bool) -> (Addr, u64) {
        let r = &mut self.r;
        if efd && r.pct(70) {
            if write {
                return (Addr::EfdVal(r.below(EFDVALS.len() as u64) as usize), r.pick(&[8, 8, 8, 7, 16]));
            }
            let len = r.pick(&[8u64, 8, 8, 4, 16]);
            return (Addr::Data(r.below((DATA_LEN - 16) as u64) as usize), len);
        }
        match r.weighted(&[80, 4, 4, 3, 2, 2, 1]) {
            0 => {
                let len = r.pick(&[0u64, 1, 8, 100, 511, 512, 4096, 4097, 8192, 20000]);
                let off = r.below(DATA_LEN as u64 - len + 1) as usize;
                (Addr::Data(off), len)
            }
            1 => (Addr::Null, r.pick(&[0, 1, 4096])),
            2 => (Addr::DataEnd(r.pick(&[1, 100, 4095, 4096])), 4096),
            3 => (Addr::Guard, 16),
            4 => (Addr::Kernel, 16),
            5 => (Addr::Data(0), 1 << 40),
            _ => (Addr::Data(0), 1 << 63),
        }
    }

    fn iovecs(&mut self, efd: bool, write: bool, room: usize) -> (Vec<(Addr, u64)>, u64) {
        let kind = self.r.weighted(&[70, 5, 5, 5, 3, 3]);
        let mut n = match kind {
            0 => self.r.range(1, 4) as usize,
            1 => 0,
            2 => 1024,
            3 => 1025,
            _ => 1,
        };
        if n > room {
            n = 1.min(room);
        }
        let mut v = Vec::new();
        if n != 1025 {
            for i in 0..n {
                if n >= 1024 && i > 2 {
                    v.push((Addr::Data(i), self.r.below(2)));
                    continue;
                }
                let (a, mut len) = self.buffer(efd, write);
                if len >= 1 << 40 || self.r.pct(2) {
                    len = self.r.pick(&[u64::MAX, 1 << 63, 16]);
                }
                v.push((a, len));
            }
        }
        let count = match kind {
            4 if n == 1 => (1u64 << 32) | 1,
            5 if n == 1 => 1u64 << 32,
            _ => if n == 1025 { 1025 } else { v.len() as u64 },
        };
        (v, count)
    }

    fn cb(&mut self, slot: Option<usize>, iov_room: &mut usize) -> Cb {
        let ops = [IOCB_CMD_PREAD, IOCB_CMD_PWRITE, IOCB_CMD_PREADV, IOCB_CMD_PWRITEV, IOCB_CMD_FSYNC, IOCB_CMD_FDSYNC, IOCB_CMD_POLL, 4, 6, 9, 0xffff];
        let opcode = ops[self.r.weighted(&[18, 18, 9, 9, 6, 4, 30, 1, 1, 1, 1])];
        let fd = self.fd_for(opcode);
        let efd = is_efd(fd);
        let file = SLOTS[fd].1 == Kind::File;
        let mut cb = Cb {
            slot,
            opcode,
            fd,
            buf: Addr::Null,
            nbytes: 0,
            iov: None,
            offset: 0,
            rw_flags: 0,
            reqprio: 0,
            flags: 0,
            resfd: S_E0,
            key: if self.r.pct(30) { 0 } else { self.r.next() as u32 },
            data: self.r.next(),
            reserved2: 0,
        };
        match opcode {
            IOCB_CMD_PREAD | IOCB_CMD_PWRITE => {
                let (a, n) = self.buffer(efd, opcode == IOCB_CMD_PWRITE);
                cb.buf = a;
                cb.nbytes = n;
                cb.offset = self.offset(file);
            }
            IOCB_CMD_PREADV | IOCB_CMD_PWRITEV => {
                let (v, count) = self.iovecs(efd, opcode == IOCB_CMD_PWRITEV, *iov_room);
                *iov_room -= v.len();
                cb.buf = Addr::IovArea;
                cb.nbytes = count;
                cb.iov = Some(v);
                cb.offset = self.offset(file);
            }
            IOCB_CMD_FSYNC | IOCB_CMD_FDSYNC => {
                if self.r.pct(10) {
                    match self.r.below(4) {
                        0 => cb.buf = Addr::Raw(1),
                        1 => cb.nbytes = 1,
                        2 => cb.offset = 1,
                        _ => cb.rw_flags = RWF_DSYNC,
                    }
                }
            }
            IOCB_CMD_POLL => {
                let ev: u64 = match self.r.weighted(&[35, 15, 10, 5, 5, 5, 3, 3, 5, 4]) {
                    0 => libc::POLLIN as u64,
                    1 => libc::POLLOUT as u64,
                    2 => (libc::POLLIN | libc::POLLOUT) as u64,
                    3 => libc::POLLPRI as u64,
                    4 => 0,
                    5 => libc::POLLRDNORM as u64,
                    6 => libc::POLLHUP as u64,
                    7 => 0x10000,
                    8 => self.r.next() & 0xffff,
                    _ => (libc::POLLIN | libc::POLLRDHUP) as u64,
                };
                cb.buf = Addr::Raw(ev);
                if self.r.pct(6) {
                    match self.r.below(3) {
                        0 => cb.nbytes = 1,
                        1 => cb.offset = 1,
                        _ => cb.rw_flags = RWF_NOWAIT,
                    }
                }
            }
            _ => {
                let (a, n) = self.buffer(efd, false);
                cb.buf = a;
                cb.nbytes = n;
            }
        }
        if matches!(opcode, IOCB_CMD_PREAD | IOCB_CMD_PWRITE | IOCB_CMD_PREADV | IOCB_CMD_PWRITEV) && self.r.pct(35) {
            cb.rw_flags = self.r.pick(&[
                RWF_HIPRI,
                RWF_DSYNC,
                RWF_SYNC,
                RWF_NOWAIT,
                RWF_NOWAIT,
                RWF_APPEND,
                RWF_NOAPPEND,
                RWF_APPEND | RWF_NOAPPEND,
                RWF_ATOMIC,
                0x80,
                0x8000_0000,
                RWF_NOWAIT | RWF_APPEND,
                RWF_DSYNC | RWF_NOWAIT,
            ]);
            if self.r.pct(5) {
                cb.rw_flags = self.r.next() as u32;
            }
        }
        if fd == S_ZERO {
            // /dev/zero's NOWAIT read stops wherever need_resched() happens to be set.
            cb.rw_flags &= !RWF_NOWAIT;
        }
        if self.r.pct(12) {
            cb.flags |= IOCB_FLAG_IOPRIO;
            cb.reqprio = if self.r.pct(85) { ((self.r.below(8) << 13) | self.r.below(8)) as i16 } else { self.r.next() as i16 };
        } else if self.r.pct(5) {
            cb.reqprio = self.r.next() as i16;
        }
        if self.r.pct(22) {
            cb.flags |= IOCB_FLAG_RESFD;
            cb.resfd = [S_E0, S_E1, S_P0R, S_BAD, S_FA][self.r.weighted(&[45, 35, 8, 8, 4])];
        } else if self.r.pct(5) {
            cb.resfd = S_BAD;
        }
        if self.r.pct(4) {
            cb.flags |= 1 << self.r.range(2, 31);
        }
        if self.r.pct(2) {
            cb.reserved2 = self.r.next() | 1;
        }
        cb
    }

    fn ctx_sel(&mut self, w: &World, want_live: bool) -> CtxSel {
        let live: Vec<usize> = (0..N_CTX).filter(|&c| w.ctx[c].is_some()).collect();
        if live.is_empty() || !want_live || self.r.pct(4) {
            return if self.r.pct(50) { CtxSel::Zero } else { CtxSel::Bogus };
        }
        CtxSel::Slot(self.r.pick(&live))
    }

    fn step(&mut self, w: &World) -> Step {
        let live: Vec<usize> = (0..N_CTX).filter(|&c| w.ctx[c].is_some()).collect();
        let free_ctx: Vec<usize> = (0..N_CTX).filter(|&c| w.ctx[c].is_none()).collect();
        let w_setup = if live.is_empty() { 200 } else if free_ctx.is_empty() { 0 } else { 3 };
        let k = self.r.weighted(&[w_setup, 2, 40, 14, 3, 10, 6, 5, 4, 3, 1, 3, 3]);
        match k {
            0 => {
                let c = if free_ctx.is_empty() { 0 } else { self.r.pick(&free_ctx) };
                let nr = if self.r.pct(92) {
                    self.r.pick(&[1, 2, 3, 4, 8, 16, 32, 64, 128])
                } else {
                    self.r.pick(&[0, 0x8000_0000, 0xffff_ffff, 65537, 0x40_0001])
                };
                let ctxp = [Ctxp::Good, Ctxp::Null, Ctxp::NonZero, Ctxp::ReadOnly][self.r.weighted(&[90, 3, 4, 3])];
                Step::Setup { c, nr, ctxp }
            }
            1 => Step::Destroy { sel: self.ctx_sel(w, true) },
            2 => self.submit(w),
            3 | 4 => {
                let sel = self.ctx_sel(w, true);
                let avail = match sel {
                    CtxSel::Slot(c) => ring_peek(w.ctx[c].as_ref().unwrap().id).len(),
                    _ => 0,
                };
                if k == 4 && avail > 0 {
                    if let CtxSel::Slot(c) = sel {
                        return Step::UserReap { c, n: self.r.range(1, avail as u64) as usize };
                    }
                }
                let avail = avail.min(N_EVENTS - 4) as i64;
                let mut min = self.r.range(0, avail as u64) as i64;
                let mut nr = self.r.range(min as u64, (avail + 3) as u64) as i64;
                let mut ts = [TsSel::Zero, TsSel::Null, TsSel::OneMs, TsSel::Bad][self.r.weighted(&[50, 25, 15, 4])];
                if let TsSel::OneMs = ts {
                    if self.r.pct(50) && nr > avail {
                        min = avail + 1;
                    }
                }
                match self.r.below(40) {
                    0 => min = -1,
                    1 => {
                        min = nr + 1;
                        ts = TsSel::Zero;
                    }
                    2 => nr = -1,
                    _ => {}
                }
                let ev = match self.r.weighted(&[92, 4, 4]) {
                    0 => EvSel::Good,
                    1 => EvSel::Guard,
                    _ => EvSel::Straddle(self.r.range(0, 3) as usize),
                };
                Step::GetEvents { sel, min, nr, ev, ts }
            }
            5 => {
                let sel = self.ctx_sel(w, true);
                let pend: Vec<usize> = match sel {
                    CtxSel::Slot(c) => {
                        let cs = w.ctx[c].as_ref().unwrap();
                        let peek: Vec<i64> = ring_peek(cs.id).iter().map(|e| w.rel(e.obj)).collect();
                        cs.inflight
                            .iter()
                            .filter(|f| f.op == IOCB_CMD_POLL && !peek.contains(&f.obj))
                            .map(|f| f.obj as usize / 64)
                            .collect()
                    }
                    _ => Vec::new(),
                };
                let target = if !pend.is_empty() && self.r.pct(65) {
                    Target::Slot(self.r.pick(&pend))
                } else {
                    match self.r.weighted(&[90, 5, 5]) {
                        0 => Target::Slot(self.r.below(N_IOCB as u64) as usize),
                        1 => Target::Ro,
                        _ => Target::Guard,
                    }
                };
                Step::Cancel { sel, target, bad_key: self.r.pct(8) }
            }
            6 => {
                let len = self.r.pick(&[1usize, 1, 7, 100, 4096, 20000]);
                Step::PipeWrite { slot: self.r.pick(&[S_P0W, S_P1W]), off: self.r.below((DATA_LEN - len) as u64) as usize, len }
            }
            7 => {
                let len = self.r.pick(&[1usize, 3, 100, 4096, 65536]);
                Step::PipeRead { slot: self.r.pick(&[S_P0R, S_P1R]), off: self.r.below((DATA_LEN - len + 1) as u64) as usize, len }
            }
            8 => Step::EfdWrite { slot: self.r.pick(&[S_E0, S_E1]), val: self.r.below(EFDVALS.len() as u64) as usize },
            9 => Step::EfdRead { slot: self.r.pick(&[S_E0, S_E1]) },
            10 => {
                let open: Vec<usize> = [S_P0R, S_P0W, S_P1R, S_P1W, S_E1].into_iter().filter(|&s| !w.closed[s]).collect();
                if open.is_empty() {
                    Step::CheckFiles
                } else {
                    Step::Close { slot: self.r.pick(&open) }
                }
            }
            11 => Step::CheckEventfds,
            _ => Step::CheckFiles,
        }
    }

    fn submit(&mut self, w: &World) -> Step {
        let sel = self.ctx_sel(w, true);
        // Room: never more unreaped requests than nr_events (what Linux guarantees).
        let room = match sel {
            CtxSel::Slot(c) => {
                let cs = w.ctx[c].as_ref().unwrap();
                (cs.nr_events as usize).saturating_sub(cs.inflight.len())
            }
            _ => 4,
        };
        let used: Vec<usize> = w.ctx.iter().flatten().flat_map(|cs| cs.inflight.iter().map(|f| f.obj as usize / 64)).collect();
        let mut free: Vec<usize> = (0..N_IOCB).filter(|s| !used.contains(s)).collect();
        let n = (self.r.range(1, 4) as usize).min(room).min(free.len());
        if n == 0 {
            // Nothing fits: reap instead.
            return Step::GetEvents { sel, min: 0, nr: N_EVENTS as i64, ev: EvSel::Good, ts: TsSel::Zero };
        }
        let mut iov_room = N_IOV;
        let mut cbs = Vec::new();
        for _ in 0..n {
            let i = self.r.below(free.len() as u64) as usize;
            let s = free.remove(i);
            cbs.push(self.cb(Some(s), &mut iov_room));
        }
        if self.r.pct(3) {
            // The last iocb on a read-only page: EFAULT when aio_key is written.
            let last = cbs.len() - 1;
            cbs[last].slot = None;
        }
        // An eventfd as the file of a request, beside a request that signals one, would race
        // with that (possibly asynchronous) signal.
        if cbs.iter().any(|cb| is_efd(cb.fd)) {
            for cb in cbs.iter_mut() {
                cb.flags &= !IOCB_FLAG_RESFD;
            }
        }
        let mut ptrs = vec![Ptr::Iocb; cbs.len()];
        if self.r.pct(4) {
            let i = self.r.below(ptrs.len() as u64) as usize;
            ptrs[i] = if self.r.pct(50) { Ptr::Null } else { Ptr::Guard };
        }
        let nr = [NrSel::Exact, NrSel::Minus1, NrSel::Zero, NrSel::Huge, NrSel::NullArray][self.r.weighted(&[90, 2, 2, 4, 2])];
        Step::Submit { sel, nr, cbs, ptrs }
    }
}

// ---------------------------------------------------------------------------------------------
// The run

fn compare(what: &str, a: &[(String, String)], b: &[(String, String)]) -> Result<(), String> {
    let n = a.len().max(b.len());
    let mut diffs = Vec::new();
    for i in 0..n {
        if a.get(i) != b.get(i) {
            let show = |x: Option<&(String, String)>| x.map_or("(nothing)".to_string(), |(l, v)| format!("{l} = {v}"));
            diffs.push(format!("  native: {}\n  kaio:   {}", show(a.get(i)), show(b.get(i))));
        }
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(format!("{what}:\n{}", diffs.join("\n")))
    }
}

pub struct Opts {
    pub seed: u64,
    pub steps: u64,
    pub verbose: bool,
    /// Both worlds native (a check of the harness's own determinism; no /dev/kaio needed).
    pub native_twice: bool,
}

/// One seeded sequence through both worlds.
pub fn run(o: &Opts) -> Result<(), String> {
    let mut g = Gen { r: Rng::new(o.seed) };
    let mut worlds = [World::new(false, o.seed, !o.native_twice)?, World::new(!o.native_twice, o.seed, !o.native_twice)?];
    let limit = Duration::from_secs(10);
    let total = o.steps;
    let mut step_no = 0u64;
    let mut final_steps: Vec<Step> = Vec::new();
    let result = (|| -> Result<(), String> {
        loop {
            let step = if step_no < total {
                g.step(&worlds[0])
            } else {
                if final_steps.is_empty() && step_no == total {
                    final_steps.push(Step::CheckEventfds);
                    final_steps.push(Step::CheckFiles);
                    for c in 0..N_CTX {
                        if worlds[0].ctx[c].is_some() {
                            final_steps.push(Step::Destroy { sel: CtxSel::Slot(c) });
                        }
                    }
                    final_steps.push(Step::CheckEventfds);
                    final_steps.reverse();
                }
                match final_steps.pop() {
                    Some(s) => s,
                    None => return Ok(()),
                }
            };
            let desc = step.desc();
            if o.verbose {
                ktap::diag(format!("step {step_no}: {desc}"));
            }
            let fail = |what: String| format!("seed {} step {step_no}: {desc}\n{what}\nreproduce: kaio-diff --seed {} --steps {} -v", o.seed, o.seed, step_no + 1);
            let mut obs = Vec::new();
            let mut states = Vec::new();
            for w in worlds.iter_mut() {
                ktap::doing(format!("seed {} step {step_no} {}: {desc}", o.seed, w.b.name()));
                obs.push(w.exec(&step));
                w.quiesce(limit).map_err(fail)?;
            }
            for w in worlds.iter_mut() {
                states.push(w.state());
            }
            if o.verbose {
                for (l, v) in &obs[0] {
                    ktap::diag(format!("    {l} = {v}"));
                }
            }
            compare("results differ", &obs[0], &obs[1]).map_err(fail)?;
            compare("state after the step differs", &states[0], &states[1]).map_err(fail)?;
            for c in 0..N_CTX {
                let empty = worlds.iter().all(|w| w.ctx[c].as_ref().is_none_or(|cs| ring_peek(cs.id).is_empty()));
                if empty {
                    for w in worlds.iter_mut() {
                        w.settle_reaped(c);
                    }
                }
            }
            step_no += 1;
        }
    })();
    if result.is_err() {
        ktap::doing(format!("seed {}: cleaning up after a divergence", o.seed));
        for w in worlds.iter_mut() {
            w.unblock_and_destroy();
        }
    }
    result
}
