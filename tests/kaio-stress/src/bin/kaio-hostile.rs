//! `kaio-hostile`: a hostile-input sweep of the five ioctls. Every pointer argument is tried
//! NULL, small, unmapped, a kernel address, non-canonical, -1, the top user page, misaligned,
//! straddling into an unmapped page and read-only where the kernel writes; every integer at its
//! boundaries; ioctl numbers with a wrong size, direction, number or magic.
//!
//! Every input that has a native analogue runs through the native system call too (the oracle)
//! and through kaio, each from the same starting state (files, pipe and eventfd are reset
//! before each run); the observations (return value or errno, plus side effects: events and
//! their results, `aio_key` after submit, aio-nr/nr deltas, ring mappings left behind) must be
//! identical. Some inputs also carry the documented Linux 6.12 expectation, checked on both.
//!
//! One KTAP case per group (ioctl x argument); every divergence is printed. Without `/dev/kaio`
//! (e.g. on a development host) only the native half runs, checked against the expectations,
//! and the kaio cases are skipped.

use kaio::uapi::*;
use kstress::mem::{self, bytes_of, Hole, Mapping, Straddle, PAGE};
use kstress::*;
use std::cell::Cell;
use std::time::{Duration, Instant};

#[path = "../hostile_v2.rs"]
mod hostile_v2;

/// The KTAP cases, in order (plus `nr_restored` at the end of a full run).
const GROUPS: [&str; 25] = [
    "ioctl_numbers",
    "ioctl_arg_blocks",
    "setup_ctxp",
    "setup_nr_events",
    "setup_limits",
    "destroy_ctx",
    "submit_ctx_nr",
    "submit_iocbpp",
    "submit_iocb_pointer",
    "submit_iocb_fields",
    "submit_buffers",
    "getevents_ctx_nr",
    "getevents_events",
    "getevents_timeout",
    "pgetevents_ctx_nr",
    "pgetevents_events",
    "pgetevents_timeout",
    "pgetevents_sigmask",
    "cancel_args",
    "cancel_match_args",
    "cancel_match_flags",
    "cancel_match_result",
    "cancel_match_running",
    "cross_domain",
    "ring_header",
];

const USAGE: &str = "kaio-hostile [--only GROUP] [--no-blocking] [-v]";

// ---------------------------------------------------------------------------------------------
// Backends

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Native,
    Kaio,
}

struct B {
    kind: Kind,
    fd: i32,
    ctx: Cell<u64>,
}

impl B {
    fn name(&self) -> &'static str {
        match self.kind {
            Kind::Native => "native",
            Kind::Kaio => "kaio",
        }
    }

    fn ioctl<T>(&self, cmd: u32, a: &T) -> Ret {
        // SAFETY: the argument block is a valid local; the pointers inside are hostile on
        // purpose and only the kernel dereferences them.
        unsafe { kaio::raw::ioctl(self.fd, cmd, a) }
    }

    fn setup(&self, nr: u32, ctxp: u64) -> Ret {
        match self.kind {
            // SAFETY: raw system call; the kernel validates the pointer.
            Kind::Native => ret(unsafe { libc::syscall(libc::SYS_io_setup, nr as libc::c_ulong, ctxp) }),
            Kind::Kaio => self.ioctl(KAIO_IOC_SETUP, &kaio_setup_args { nr_events: nr, flags: 0, ctxp }),
        }
    }

    fn destroy(&self, ctx: u64) -> Ret {
        match self.kind {
            // SAFETY: raw system call.
            Kind::Native => ret(unsafe { libc::syscall(libc::SYS_io_destroy, ctx) }),
            Kind::Kaio => self.ioctl(KAIO_IOC_DESTROY, &kaio_destroy_args { ctx_id: ctx }),
        }
    }

    fn submit(&self, ctx: u64, nr: i64, iocbpp: u64) -> Ret {
        match self.kind {
            // SAFETY: raw system call; the kernel validates the pointers.
            Kind::Native => ret(unsafe { libc::syscall(libc::SYS_io_submit, ctx, nr, iocbpp) }),
            Kind::Kaio => self.ioctl(KAIO_IOC_SUBMIT, &kaio_submit_args { ctx_id: ctx, nr, iocbpp }),
        }
    }

    fn getevents(&self, ctx: u64, min: i64, nr: i64, events: u64, timeout: u64) -> Ret {
        match self.kind {
            // SAFETY: raw system call; the kernel validates the pointers.
            Kind::Native => ret(unsafe { libc::syscall(libc::SYS_io_getevents, ctx, min, nr, events, timeout) }),
            Kind::Kaio => self.ioctl(
                KAIO_IOC_GETEVENTS,
                &kaio_getevents_args { ctx_id: ctx, min_nr: min, nr, events, timeout },
            ),
        }
    }

    fn cancel(&self, ctx: u64, iocb: u64, result: u64) -> Ret {
        match self.kind {
            // SAFETY: raw system call; the kernel validates the pointers.
            Kind::Native => ret(unsafe { libc::syscall(libc::SYS_io_cancel, ctx, iocb, result) }),
            Kind::Kaio => self.ioctl(KAIO_IOC_CANCEL, &kaio_cancel_args { ctx_id: ctx, iocb, result }),
        }
    }

    /// aio-nr / kaio's nr.
    fn nr(&self) -> u64 {
        read_u64_file(match self.kind {
            Kind::Native => AIO_NR,
            Kind::Kaio => NR_PARAM,
        })
        .unwrap_or(u64::MAX)
    }

    /// Ring mappings of this backend in the address space.
    fn rings_mapped(&self) -> usize {
        let pat = match self.kind {
            Kind::Native => "[aio]",
            Kind::Kaio => "/dev/kaio",
        };
        std::fs::read_to_string("/proc/self/maps").map(|m| m.lines().filter(|l| l.contains(pat)).count()).unwrap_or(0)
    }

    /// The fixture context (nr_events 8), made again if an input destroyed it.
    fn ctx(&self) -> u64 {
        if self.ctx.get() == 0 {
            let mut id = 0u64;
            let r = self.setup(8, &mut id as *mut u64 as u64);
            assert!(r == Ok(0), "{}: fixture setup: {}", self.name(), show(&r));
            self.ctx.set(id);
        }
        self.ctx.get()
    }

    /// Destroys the fixture context (the next `ctx()` makes a new one).
    fn drop_ctx(&self) {
        if self.ctx.get() != 0 {
            let _ = self.destroy(self.ctx.get());
            self.ctx.set(0);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Shared files

const FILE_SIZE: usize = 65536;
const FD_CLOSED: i32 = 900;
const FD_HUGE: i32 = 9999;

struct Fds {
    file: i32,
    file_ro: i32,
    file_wo: i32,
    pipe_r: i32,
    pipe_w: i32,
    evfd: i32,
    /// `/dev/kaio` (or `/dev/null` without kaio): a character device without read/write.
    dev: i32,
    dir: i32,
    opath: i32,
    /// A connected AF_UNIX stream socket pair and a UDP socket connected to itself, all
    /// non-blocking.
    sock: [i32; 2],
    udp: i32,
}

fn file_byte(i: usize) -> u8 {
    (i as u8).wrapping_mul(7).wrapping_add((i >> 8) as u8)
}

impl Fds {
    fn new() -> Fds {
        let path = format!("/tmp/kaio-hostile.{}\0", std::process::id());
        let p = path.as_ptr() as *const libc::c_char;
        let mut pipe = [0i32; 2];
        // SAFETY: plain system calls on a NUL-terminated path and a local array.
        unsafe {
            let file = libc::open(p, libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC, 0o600);
            let file_ro = libc::open(p, libc::O_RDONLY | libc::O_CLOEXEC);
            let file_wo = libc::open(p, libc::O_WRONLY | libc::O_CLOEXEC);
            let opath = libc::open(p, libc::O_PATH | libc::O_CLOEXEC);
            libc::unlink(p);
            assert!(file >= 0 && file_ro >= 0 && file_wo >= 0 && opath >= 0, "tmp file: {}", errno_name(errno()));
            assert!(libc::pipe2(pipe.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) == 0);
            let dev = match kaio::raw::open() {
                Ok(fd) => fd,
                Err(_) => libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC),
            };
            let dir = libc::open(c"/tmp".as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC);
            let mut sock = [0i32; 2];
            assert!(libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0, sock.as_mut_ptr()) == 0);
            let udp = {
                use std::os::fd::IntoRawFd;
                let u = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp socket on loopback");
                u.connect(u.local_addr().expect("udp address")).expect("udp connect");
                u.set_nonblocking(true).expect("udp non-blocking");
                u.into_raw_fd()
            };
            let f = Fds { file, file_ro, file_wo, pipe_r: pipe[0], pipe_w: pipe[1], evfd: eventfd(), dev, dir, opath, sock, udp };
            f.reset();
            f
        }
    }

    /// Puts every shared file back in its starting state: the file 64 KiB of a known pattern,
    /// the pipe, the sockets and the eventfd empty.
    fn reset(&self) {
        let data: Vec<u8> = (0..FILE_SIZE).map(file_byte).collect();
        let mut sink = [0u8; 4096];
        // SAFETY: plain system calls on our own fds and local buffers.
        unsafe {
            libc::ftruncate(self.file, FILE_SIZE as i64);
            libc::pwrite(self.file, data.as_ptr() as *const libc::c_void, FILE_SIZE, 0);
            while libc::read(self.pipe_r, sink.as_mut_ptr() as *mut libc::c_void, sink.len()) > 0 {}
            for fd in [self.sock[0], self.sock[1], self.udp] {
                while libc::recv(fd, sink.as_mut_ptr() as *mut libc::c_void, sink.len(), libc::MSG_DONTWAIT) > 0 {}
            }
        }
        eventfd_take(self.evfd);
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile pointers

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum P {
    Null,
    Eight,
    Unmapped,
    Kernel,
    KText,
    NonCanon,
    MinusOne,
    TopUser,
    Valid,
    Mis1,
    Mis3,
    RO,
    /// The object straddles into an unmapped page; this many bytes are mapped.
    Straddle(usize),
}

const BAD: [P; 8] = [P::Null, P::Eight, P::Unmapped, P::Kernel, P::KText, P::NonCanon, P::MinusOne, P::TopUser];

impl P {
    fn name(&self) -> String {
        match self {
            P::Null => "null".into(),
            P::Eight => "0x8".into(),
            P::Unmapped => "unmapped".into(),
            P::Kernel => "kernel".into(),
            P::KText => "kernel-text".into(),
            P::NonCanon => "noncanonical".into(),
            P::MinusOne => "-1".into(),
            P::TopUser => "top-user-page".into(),
            P::Valid => "valid".into(),
            P::Mis1 => "misaligned+1".into(),
            P::Mis3 => "misaligned+3".into(),
            P::RO => "readonly".into(),
            P::Straddle(n) => format!("straddle{n}"),
        }
    }
    fn readable(&self) -> bool {
        matches!(self, P::Valid | P::Mis1 | P::Mis3 | P::RO)
    }
}

#[allow(dead_code)] // the fields keep memory alive
enum Keep {
    None,
    Map(Mapping),
    Hole(Hole),
    Str(Straddle),
}

/// An object placed in memory of a given kind.
struct Placed {
    addr: u64,
    kind: P,
    _keep: Keep,
}

impl Placed {
    /// Reads the object back (if its memory is readable).
    fn read<T: Copy>(&self) -> Option<T> {
        // SAFETY: readable kinds hold at least size_of::<T>() mapped bytes at `addr`.
        self.kind.readable().then(|| unsafe { std::ptr::read_unaligned(self.addr as *const T) })
    }
}

/// At least `len` read-write bytes followed by an unmapped page (in the far area, where no ring
/// lands), so that a kernel write that runs past the object faults instead of scribbling over
/// another mapping.
fn guarded(len: usize) -> Mapping {
    let pages = len.div_ceil(PAGE).max(1);
    Mapping::far(pages * PAGE, libc::PROT_READ | libc::PROT_WRITE)
}

fn place(p: P, bytes: &[u8]) -> Placed {
    let fixed = |addr: u64| Placed { addr, kind: p, _keep: Keep::None };
    let copy_at = |off: usize| {
        let m = guarded(off + bytes.len() + 64);
        // SAFETY: the mapping is large enough and writable.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), (m.addr + off) as *mut u8, bytes.len()) };
        Placed { addr: (m.addr + off) as u64, kind: p, _keep: Keep::Map(m) }
    };
    match p {
        P::Null => fixed(0),
        P::Eight => fixed(8),
        P::Unmapped => {
            let h = Hole::new();
            Placed { addr: h.addr(), kind: p, _keep: Keep::Hole(h) }
        }
        P::Kernel => fixed(mem::KERNEL_ADDR),
        P::KText => fixed(mem::KERNEL_TEXT),
        P::NonCanon => fixed(mem::NONCANONICAL),
        P::MinusOne => fixed(u64::MAX),
        P::TopUser => fixed(mem::TOP_USER_PAGE),
        P::Valid => copy_at(0),
        P::Mis1 => copy_at(1),
        P::Mis3 => copy_at(3),
        P::RO => {
            let m = mem::readonly(bytes, 0);
            Placed { addr: m.addr as u64, kind: p, _keep: Keep::Map(m) }
        }
        P::Straddle(n) => {
            let s = Straddle::new(bytes, n);
            Placed { addr: s.addr as u64, kind: p, _keep: Keep::Str(s) }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The sweep

/// What an input observed: the main result first, then side effects.
type Obs = Vec<String>;

struct Sweep {
    k: Ktap,
    native: B,
    kaio: Option<B>,
    fds: Fds,
    verbose: bool,
    only: Option<String>,
    no_blocking: bool,
    group: &'static str,
    group_problems: Vec<String>,
    group_inputs: usize,
    group_start: Instant,
    total_inputs: usize,
    total_compared: usize,
    total_divergences: usize,
    total_expect_fail: usize,
    cpus: u32,
}

fn r(x: Ret) -> String {
    show(&x)
}

impl Sweep {
    fn begin(&mut self, group: &'static str) -> bool {
        self.group = group;
        self.group_start = Instant::now();
        self.group_problems.clear();
        self.group_inputs = 0;
        self.only.as_deref().is_none_or(|o| group.contains(o))
    }

    fn end(&mut self, kaio_only: bool) {
        let name = self.group;
        if self.only.as_deref().is_some_and(|o| !name.contains(o)) {
            return;
        }
        if kaio_only && self.kaio.is_none() {
            self.k.skip(name, "no /dev/kaio");
            return;
        }
        self.k.diag(&format!("{name}: {} inputs ({:.1} s)", self.group_inputs, self.group_start.elapsed().as_secs_f64()));
        let p = std::mem::take(&mut self.group_problems);
        self.k.result(name, &p);
    }

    /// Runs one input on both backends from the same starting state and compares.
    fn both(&mut self, name: &str, expect: Option<Ret>, f: &dyn Fn(&B, &Fds) -> Obs) {
        self.group_inputs += 1;
        self.total_inputs += 1;
        self.fds.reset();
        let n = f(&self.native, &self.fds);
        self.check_expect(name, "native", &n, expect);
        let Some(kb) = &self.kaio else {
            if self.verbose {
                self.k.diag(&format!("{}: {name}: native {n:?}", self.group));
            }
            return;
        };
        self.fds.reset();
        let kv = f(kb, &self.fds);
        self.check_expect(name, "kaio", &kv, expect);
        self.total_compared += 1;
        if self.verbose {
            self.k.diag(&format!("{}: {name}: native {n:?} kaio {kv:?}", self.group));
        }
        if n != kv {
            self.total_divergences += 1;
            self.group_problems.push(format!("{name}: native {n:?} != kaio {kv:?}"));
        }
    }

    /// Runs a kaio-only input (no native analogue) against its expectation.
    fn kaio(&mut self, name: &str, expect: Option<Ret>, f: &dyn Fn(&B, &Fds) -> Obs) {
        let Some(kb) = &self.kaio else { return };
        self.group_inputs += 1;
        self.total_inputs += 1;
        self.fds.reset();
        let kv = f(kb, &self.fds);
        if self.verbose {
            self.k.diag(&format!("{}: {name}: kaio {kv:?}", self.group));
        }
        self.check_expect(name, "kaio", &kv, expect);
    }

    fn check_expect(&mut self, name: &str, who: &str, obs: &Obs, expect: Option<Ret>) {
        if let Some(e) = expect {
            if obs.first().map(|s| s.as_str()) != Some(r(e).as_str()) {
                self.total_expect_fail += 1;
                self.group_problems.push(format!("{name}: {who} gave {obs:?}, Linux 6.12 documents {}", r(e)));
            }
        }
    }
}

/// Collects the events of `want` accepted requests (cancelling them if they do not complete
/// within a short while), and checks that no other event comes: observations.
fn settle(b: &B, ctx: u64, want: i64, iocbs: &[u64], obs: &mut Obs) {
    if want <= 0 {
        let n = extra_events(b, ctx);
        if n != 0 {
            obs.push(format!("unexpected events {n}"));
        }
        return;
    }
    let mut evs = [IoEvent::default(); 64];
    let t = KernelTimespec { tv_sec: 0, tv_nsec: 400_000_000 };
    let mut got = b.getevents(ctx, want, 64, evs.as_mut_ptr() as u64, &t as *const _ as u64).unwrap_or(0).max(0) as usize;
    if (got as i64) < want {
        for (i, &p) in iocbs.iter().enumerate() {
            obs.push(format!("cancel[{i}]={}", r(b.cancel(ctx, p, 0))));
        }
        let t = KernelTimespec { tv_sec: 2, tv_nsec: 0 };
        let more = b
            .getevents(ctx, want - got as i64, (64 - got) as i64, evs[got..].as_mut_ptr() as u64, &t as *const _ as u64)
            .unwrap_or(0)
            .max(0);
        got += more as usize;
    }
    let mut descr: Vec<String> = evs[..got]
        .iter()
        .map(|e| {
            let which = iocbs.iter().position(|&p| p == e.obj).map_or("?".to_string(), |i| i.to_string());
            format!("ev(data={:#x},obj=iocb[{which}],res={},res2={})", e.data, e.res, e.res2)
        })
        .collect();
    descr.sort();
    obs.push(format!("events={got}"));
    obs.extend(descr);
    let n = extra_events(b, ctx);
    if n != 0 {
        obs.push(format!("extra events {n}"));
    }
}

/// Events left in the ring (collected without waiting).
fn extra_events(b: &B, ctx: u64) -> i64 {
    let mut evs = [IoEvent::default(); 64];
    let z = KernelTimespec::default();
    b.getevents(ctx, 0, 64, evs.as_mut_ptr() as u64, &z as *const _ as u64).unwrap_or(-1)
}

// ---------------------------------------------------------------------------------------------
// Groups

fn ioctl_numbers(s: &mut Sweep) {
    if !s.begin("ioctl_numbers") {
        return;
    }
    let valid = [
        KAIO_IOC_SETUP,
        KAIO_IOC_DESTROY,
        KAIO_IOC_SUBMIT,
        KAIO_IOC_GETEVENTS,
        KAIO_IOC_CANCEL,
        KAIO_IOC_CANCEL_MATCH,
        KAIO_IOC_PGETEVENTS,
    ];
    let buf = Mapping::rw(PAGE);
    let mut wrong = 0usize;
    let mut tried = 0usize;
    if let Some(kb) = &s.kaio {
        let mut cmds: Vec<u32> = Vec::new();
        for dir in 0u32..4 {
            for nr in 0u32..256 {
                for size in [0u32, 1, 7, 8, 9, 15, 16, 17, 23, 24, 25, 39, 40, 41, 55, 56, 57, 63, 64, 65, 0x3FFF] {
                    cmds.push((dir << 30) | (size << 16) | (KAIO_IOC_MAGIC << 8) | nr);
                }
            }
        }
        for magic in [0x01u32, 0xA6, 0xA8, 0xFF] {
            for &v in &valid {
                cmds.push((v & !0xFF00) | (magic << 8));
            }
        }
        cmds.extend([0u32, 0xFFFF_FFFF, 0xA700, 0x4000_A700]);
        for cmd in cmds {
            if valid.contains(&cmd) {
                continue;
            }
            tried += 1;
            // SAFETY: the argument is a zeroed, mapped page; an unknown command must not use it.
            let got = unsafe { kaio::raw::ioctl(kb.fd, cmd, buf.ptr::<u8>()) };
            if got != Err(libc::ENOTTY) {
                wrong += 1;
                if wrong <= 20 {
                    s.group_problems.push(format!("ioctl {cmd:#010x}: {} (want ENOTTY)", r(got)));
                }
            }
        }
        if wrong > 20 {
            s.group_problems.push(format!("... {} more", wrong - 20));
        }
    }
    s.group_inputs += tried;
    s.total_inputs += tried;
    s.end(true);
}

fn argblock(s: &mut Sweep) {
    if !s.begin("ioctl_arg_blocks") {
        return;
    }
    let cmds = [
        ("setup", KAIO_IOC_SETUP, 16usize),
        ("destroy", KAIO_IOC_DESTROY, 8),
        ("submit", KAIO_IOC_SUBMIT, 24),
        ("getevents", KAIO_IOC_GETEVENTS, 40),
        ("cancel", KAIO_IOC_CANCEL, 24),
        ("cancel_match", KAIO_IOC_CANCEL_MATCH, 64),
        ("pgetevents", KAIO_IOC_PGETEVENTS, 56),
    ];
    for (name, cmd, size) in cmds {
        let zero = vec![0u8; size];
        let mut kinds: Vec<P> = BAD.to_vec();
        kinds.extend([P::Straddle(size - 1), P::Straddle(1), P::Straddle(size / 2)]);
        for p in kinds {
            s.kaio(&format!("{name} block {}", p.name()), Some(Err(libc::EFAULT)), &|b, _| {
                let pl = place(p, &zero);
                let before = (b.nr(), b.rings_mapped());
                // SAFETY: hostile argument block pointer, dereferenced only by the kernel.
                let got = unsafe { kaio::raw::ioctl(b.fd, cmd, pl.addr as *const u8) };
                vec![r(got), format!("nr{:+} rings{:+}", b.nr() as i64 - before.0 as i64, b.rings_mapped() as i64 - before.1 as i64)]
            });
        }
        // A read-only block is fine: blocks are only read. Zeroed, each command fails its own way.
        // Zeroed: setup's ctxp and cancel's iocb are NULL (EFAULT); the others name no context.
        let want = match name {
            "setup" | "cancel" => Err(libc::EFAULT),
            _ => Err(libc::EINVAL),
        };
        s.kaio(&format!("{name} block readonly zeroed"), Some(want), &|b, _| {
            let pl = place(P::RO, &zero);
            // SAFETY: read-only argument block.
            vec![r(unsafe { kaio::raw::ioctl(b.fd, cmd, pl.addr as *const u8) })]
        });
        s.kaio(&format!("{name} block misaligned zeroed"), Some(want), &|b, _| {
            let pl = place(P::Mis3, &zero);
            // SAFETY: misaligned, mapped argument block.
            vec![r(unsafe { kaio::raw::ioctl(b.fd, cmd, pl.addr as *const u8) })]
        });
    }
    for flags in [2u32, 3, 0x8000_0000, 0xFFFF_FFFF] {
        s.kaio(&format!("setup flags {flags:#x}"), Some(Err(libc::EINVAL)), &|b, _| {
            let mut id = 0u64;
            let a = kaio_setup_args { nr_events: 8, flags, ctxp: &mut id as *mut u64 as u64 };
            let before = b.nr();
            vec![r(b.ioctl(KAIO_IOC_SETUP, &a)), format!("ctx {}", if id == 0 { "untouched" } else { "written" }), format!("nr{:+}", b.nr() as i64 - before as i64)]
        });
    }
    s.end(true);
}

fn setup_one(b: &B, nr: u32, ctxp: P, init: u64, obs: &mut Obs) {
    let pl = place(ctxp, &init.to_ne_bytes());
    let before = (b.nr(), b.rings_mapped());
    let got = b.setup(nr, pl.addr);
    obs.push(r(got));
    let after = (b.nr(), b.rings_mapped());
    obs.push(format!("nr+{} rings+{}", after.0 as i64 - before.0 as i64, after.1 as i64 - before.1 as i64));
    if got == Ok(0) {
        let id: u64 = pl.read().unwrap_or(0);
        // SAFETY: a successful setup mapped the ring at `id`.
        let hdr = unsafe { std::ptr::read_volatile(id as *const AioRing) };
        obs.push(format!(
            "ring nr={} magic={:#x} head={} tail={} compat={} incompat={} hdrlen={}",
            hdr.nr, hdr.magic, hdr.head, hdr.tail, hdr.compat_features, hdr.incompat_features, hdr.header_length
        ));
        obs.push(format!("destroy={}", r(b.destroy(id))));
        obs.push(format!("after destroy nr{:+} rings{:+}", b.nr() as i64 - before.0 as i64, b.rings_mapped() as i64 - before.1 as i64));
    } else if let Some(v) = pl.read::<u64>() {
        obs.push(format!("*ctxp {}", if v == init { "unchanged" } else { "changed" }));
    }
}

fn setup_ctxp(s: &mut Sweep) {
    if !s.begin("setup_ctxp") {
        return;
    }
    let mut kinds: Vec<(P, u64, Option<Ret>)> = BAD.iter().map(|&p| (p, 0, Some(Err(libc::EFAULT)))).collect();
    kinds.extend([
        (P::Straddle(4), 0, Some(Err(libc::EFAULT))),
        (P::Straddle(7), 0, Some(Err(libc::EFAULT))),
        (P::Straddle(1), 0, Some(Err(libc::EFAULT))),
        (P::Valid, 0, Some(Ok(0))),
        (P::Mis1, 0, Some(Ok(0))),
        (P::Mis3, 0, Some(Ok(0))),
        (P::RO, 0, Some(Err(libc::EFAULT))),
        (P::RO, 1, Some(Err(libc::EINVAL))),
        (P::Valid, 1, Some(Err(libc::EINVAL))),
        (P::Valid, u64::MAX, Some(Err(libc::EINVAL))),
        (P::Valid, 1 << 32, Some(Err(libc::EINVAL))),
        (P::Mis3, 0x100, Some(Err(libc::EINVAL))),
    ]);
    for (p, init, exp) in kinds {
        s.both(&format!("ctxp {} holding {init:#x}", p.name()), exp, &|b, _| {
            let mut o = Obs::new();
            setup_one(b, 8, p, init, &mut o);
            o
        });
    }
    // Check order: the ctxp read comes first, then the value, then nr_events.
    for (p, init, nr, exp) in [
        (P::Null, 0u64, 0u32, Err(libc::EFAULT)),
        (P::Unmapped, 0, 0xFFFF_FFFF, Err(libc::EFAULT)),
        (P::Valid, 1, 0, Err(libc::EINVAL)),
        (P::RO, 0, 0, Err(libc::EINVAL)),
        (P::RO, 0, 0xFFFF_FFFF, Err(libc::EINVAL)),
        (P::RO, 0, 65537, Err(libc::EAGAIN)),
        (P::RO, 0, 0x8000_0000, Err(libc::EAGAIN)),
        (P::Straddle(4), 0, 0, Err(libc::EFAULT)),
    ] {
        s.both(&format!("order: ctxp {} holding {init:#x}, nr_events {nr:#x}", p.name()), Some(exp), &|b, _| {
            let mut o = Obs::new();
            setup_one(b, nr, p, init, &mut o);
            o
        });
    }
    s.end(false);
}

fn setup_nr_events(s: &mut Sweep) {
    if !s.begin("setup_nr_events") {
        return;
    }
    // The fixture contexts (8 slots each) exist in both backends during the sweep.
    s.native.ctx();
    if let Some(k) = &s.kaio {
        k.ctx();
    }
    let vals: [(u32, Option<Ret>); 24] = [
        (0, Some(Err(libc::EINVAL))),
        (1, Some(Ok(0))),
        (2, Some(Ok(0))),
        (3, Some(Ok(0))),
        (4, Some(Ok(0))),
        (7, Some(Ok(0))),
        (8, Some(Ok(0))),
        (9, Some(Ok(0))),
        (63, Some(Ok(0))),
        (64, Some(Ok(0))),
        (127, Some(Ok(0))),
        (128, Some(Ok(0))),
        (4096, Some(Ok(0))),
        (65528, None),
        (65529, None),
        (65536, Some(Err(libc::EAGAIN))),
        (65537, Some(Err(libc::EAGAIN))),
        (0x40_0000, Some(Err(libc::EAGAIN))),
        (0x40_0001, Some(Err(libc::EINVAL))),
        (0x7FFF_FFFF, Some(Err(libc::EINVAL))),
        (0x8000_0000, Some(Err(libc::EAGAIN))),
        (0x8000_0001, Some(Err(libc::EAGAIN))),
        (0xFFFF_FFF0, Some(Err(libc::EINVAL))),
        (0xFFFF_FFFF, Some(Err(libc::EINVAL))),
    ];
    for (nr, exp) in vals {
        s.both(&format!("nr_events {nr:#x}"), exp, &|b, _| {
            let mut o = Obs::new();
            setup_one(b, nr, P::Valid, 0, &mut o);
            o
        });
    }
    let cpus = s.cpus;
    s.k.diag(&format!("setup_nr_events: {cpus} possible CPUs"));
    s.end(false);
}

/// Sets aio-max-nr and kaio's max_nr together (root only), runs setups, restores.
fn setup_limits(s: &mut Sweep) {
    if !s.begin("setup_limits") {
        return;
    }
    let old_native = read_u64_file(AIO_MAX_NR);
    let old_kaio = read_u64_file(MAX_NR_PARAM);
    if s.kaio.is_none() {
        s.k.skip("setup_limits", "native-only run: the host's aio-max-nr is left alone");
        return;
    }
    let writable = write_file(AIO_MAX_NR, &old_native.unwrap_or(65536).to_string()).is_ok()
        && (s.kaio.is_none() || write_file(MAX_NR_PARAM, &old_kaio.unwrap_or(65536).to_string()).is_ok());
    if !writable {
        s.k.skip("setup_limits", "cannot write aio-max-nr / max_nr (not root?)");
        return;
    }
    s.native.ctx();
    if let Some(k) = &s.kaio {
        k.ctx();
    }
    for max in [0u64, 8, 9, 16, 100, 0x8000_0000, 0x8000_0001, 0xFFFF_FFFF, 0x1_0000_0000] {
        let _ = write_file(AIO_MAX_NR, &max.to_string());
        let _ = write_file(MAX_NR_PARAM, &max.to_string());
        let (rn, rk) = (read_u64_file(AIO_MAX_NR), read_u64_file(MAX_NR_PARAM));
        if rn != Some(max) || rk != Some(max) {
            s.group_problems.push(format!("writing {max:#x}: aio-max-nr reads {rn:?}, kaio max_nr reads {rk:?}"));
            continue;
        }
        for nr in [1u32, 8, 9, 100, 0x40_0000, 0x8000_0000, 0x8000_0001, 0xFFFF_FFFF] {
            s.both(&format!("max {max:#x}, nr_events {nr:#x}"), None, &|b, _| {
                let mut o = Obs::new();
                setup_one(b, nr, P::Valid, 0, &mut o);
                o
            });
        }
    }
    let _ = write_file(AIO_MAX_NR, &old_native.unwrap_or(65536).to_string());
    if s.kaio.is_some() {
        let _ = write_file(MAX_NR_PARAM, &old_kaio.unwrap_or(65536).to_string());
    }
    s.end(false);
}

/// Context ids that name no context, built per backend: `(name, id, keep-alive)`.
fn bad_ctx_ids(b: &B) -> Vec<(String, u64, Keep)> {
    let ctx = b.ctx();
    let mut v: Vec<(String, u64, Keep)> = Vec::new();
    for p in BAD {
        let pl = place(p, &[0u8; 8]);
        v.push((format!("ctx {}", p.name()), pl.addr, pl._keep));
    }
    for off in [1u64, 4, 8, 32, 4096] {
        v.push((format!("ctx ring+{off}"), ctx + off, Keep::None));
    }
    v.push(("ctx ring-4096".into(), ctx - 4096, Keep::None));
    for (what, word) in [("anon page with id 0", 0u32), ("anon page with id 1", 1), ("anon page with id -1", u32::MAX)] {
        let pl = place(P::Valid, &word.to_ne_bytes());
        v.push((format!("ctx {what}"), pl.addr, pl._keep));
    }
    let pl = place(P::RO, &0u32.to_ne_bytes());
    v.push(("ctx readonly page with id 0".into(), pl.addr, pl._keep));
    let pl = place(P::Straddle(2), &0u32.to_ne_bytes());
    v.push(("ctx straddling (2 of 4 id bytes mapped)".into(), pl.addr, pl._keep));
    // A destroyed context's old handle.
    let mut id = 0u64;
    if b.setup(4, &mut id as *mut u64 as u64) == Ok(0) {
        let _ = b.destroy(id);
        v.push(("ctx destroyed".into(), id, Keep::None));
    }
    v
}

fn destroy_ctx(s: &mut Sweep) {
    if !s.begin("destroy_ctx") {
        return;
    }
    let n = bad_ctx_ids(&s.native).len();
    for i in 0..n {
        let name = bad_ctx_ids(&s.native)[i].0.clone();
        s.both(&name, Some(Err(libc::EINVAL)), &|b, _| {
            let ids = bad_ctx_ids(b);
            let before = b.nr();
            let got = b.destroy(ids[i].1);
            // The fixture must have survived.
            let alive = extra_events(b, b.ctx()) >= 0;
            vec![r(got), format!("nr{:+}", b.nr() as i64 - before as i64), format!("fixture alive {alive}")]
        });
    }
    s.both("ctx valid, then again", Some(Ok(0)), &|b, _| {
        let id = b.ctx();
        let before = (b.nr(), b.rings_mapped());
        let a = b.destroy(id);
        b.ctx.set(0);
        let again = b.destroy(id);
        vec![
            r(a),
            format!("again {}", r(again)),
            format!("nr{:+} rings{:+}", b.nr() as i64 - before.0 as i64, b.rings_mapped() as i64 - before.1 as i64),
        ]
    });
    s.end(false);
}

/// Builds an iocb for a base opcode, data 1, with its buffers in `keep`.
fn base_iocb(op: u16, f: &Fds, keep: &mut Vec<Mapping>) -> Iocb {
    let buf = guarded(PAGE);
    let iov = guarded(PAGE);
    // SAFETY: writes one iovec into the fresh mapping.
    unsafe { *iov.ptr::<libc::iovec>() = libc::iovec { iov_base: buf.ptr(), iov_len: 16 } };
    let i = match op {
        IOCB_CMD_PREAD | IOCB_CMD_PWRITE => Iocb::new(op, f.file).with_buf(buf.addr as u64, 16, 0),
        IOCB_CMD_PREADV | IOCB_CMD_PWRITEV => Iocb::new(op, f.file).with_buf(iov.addr as u64, 1, 0),
        IOCB_CMD_POLL => Iocb::poll(f.file, libc::POLLIN as u32),
        KAIO_CMD_DELAY => Iocb::delay(1000, f.file),
        _ => Iocb::new(op, f.file),
    };
    keep.push(buf);
    keep.push(iov);
    i.with_data(1)
}

/// Submits `iocb` (placed as `p`) through a one-element array on the fixture context and
/// observes: the result, `aio_key` afterwards, the events.
fn submit_placed(b: &B, iocb: &Iocb, p: P, obs: &mut Obs) {
    let ctx = b.ctx();
    let pl = place(p, &bytes_of(iocb));
    let arr = [pl.addr];
    let got = b.submit(ctx, 1, arr.as_ptr() as u64);
    obs.push(r(got));
    if let Some(after) = pl.read::<Iocb>() {
        obs.push(format!("aio_key {:#x}", after.aio_key));
    }
    settle(b, ctx, got.unwrap_or(0), &[pl.addr], obs);
}

fn submit_args(s: &mut Sweep) {
    if !s.begin("submit_ctx_nr") {
        return;
    }
    let n = bad_ctx_ids(&s.native).len();
    for i in 0..n {
        let name = bad_ctx_ids(&s.native)[i].0.clone();
        for nr in [1i64, 0] {
            s.both(&format!("{name}, nr {nr}"), Some(Err(libc::EINVAL)), &|b, f| {
                let ids = bad_ctx_ids(b);
                let mut keep = Vec::new();
                let iocb = base_iocb(IOCB_CMD_PWRITE, f, &mut keep);
                let arr = [&iocb as *const Iocb as u64];
                let mut o = vec![r(b.submit(ids[i].1, nr, arr.as_ptr() as u64))];
                settle(b, b.ctx(), 0, &[], &mut o);
                o
            });
        }
    }
    // nr at its boundaries on the fixture; the array: [valid, valid, valid, unmapped pointer].
    let nrs: [(i64, Option<Ret>); 12] = [
        (-1, Some(Err(libc::EINVAL))),
        (i64::MIN, Some(Err(libc::EINVAL))),
        (-(1 << 32), Some(Err(libc::EINVAL))),
        (0, Some(Ok(0))),
        (1, Some(Ok(1))),
        (2, Some(Ok(2))),
        (3, Some(Ok(3))),
        (4, Some(Ok(3))),
        (1 << 32, Some(Ok(3))),
        ((1 << 32) + 1, Some(Ok(3))),
        (i64::MAX, Some(Ok(3))),
        (0x7FFF_FFFF, Some(Ok(3))),
    ];
    for (nr, exp) in nrs {
        s.both(&format!("nr {nr:#x} over [pwrite, pwrite, pwrite, unmapped]"), exp, &|b, f| {
            let mut keep = Vec::new();
            let iocbs: Vec<Iocb> = (0..3).map(|i| base_iocb(IOCB_CMD_PWRITE, f, &mut keep).with_data(i + 1)).collect();
            let hole = Hole::new();
            let arr: Vec<u64> = iocbs.iter().map(|i| i as *const Iocb as u64).chain([hole.addr()]).collect();
            let got = b.submit(b.ctx(), nr, arr.as_ptr() as u64);
            let mut o = vec![r(got)];
            settle(b, b.ctx(), got.unwrap_or(0), &arr, &mut o);
            o
        });
    }
    s.both("nr 0, iocbpp null", Some(Ok(0)), &|b, _| vec![r(b.submit(b.ctx(), 0, 0))]);
    s.both("nr -1, bad ctx (nr checked first)", Some(Err(libc::EINVAL)), &|b, _| vec![r(b.submit(8, -1, 0))]);
    // More iocbs than the ring holds, all valid: nr is capped at ring_nr, slots run out.
    // How many are accepted depends on slot batching (AIO-SEMANTICS §7.4 latitude): only the
    // bounds [nr_events, ring_nr - 1] and "as many events as accepted" are compared.
    s.both("nr 300 over 300 pwrites (ring of 127+)", None, &|b, f| {
        let mut keep = Vec::new();
        let one = base_iocb(IOCB_CMD_PWRITE, f, &mut keep);
        let iocbs: Vec<Iocb> = (0..300).map(|i| one.with_data(i + 1)).collect();
        let arr: Vec<u64> = iocbs.iter().map(|i| i as *const Iocb as u64).collect();
        let got = b.submit(b.ctx(), 300, arr.as_ptr() as u64);
        // SAFETY: the fixture's ring is mapped at its ctx id.
        let ring_nr = unsafe { std::ptr::read_volatile(b.ctx() as *const AioRing) }.nr as i64;
        let mut o = vec![match got {
            Ok(n) if (8..ring_nr).contains(&n) => "accepted within [nr_events, ring_nr-1]".to_string(),
            other => format!("accepted {} (ring_nr {ring_nr})", r(other)),
        }];
        let mut evs = vec![IoEvent::default(); 400];
        let t = KernelTimespec { tv_sec: 1, tv_nsec: 0 };
        let n = b.getevents(b.ctx(), 0, 400, evs.as_mut_ptr() as u64, &t as *const _ as u64);
        o.push(format!("reaped as many as accepted: {}", n == got));
        o
    });
    s.end(false);
}

fn submit_iocbpp(s: &mut Sweep) {
    if !s.begin("submit_iocbpp") {
        return;
    }
    for p in BAD {
        s.both(&format!("iocbpp {} nr 1", p.name()), Some(Err(libc::EFAULT)), &|b, f| {
            let mut keep = Vec::new();
            let iocb = base_iocb(IOCB_CMD_PWRITE, f, &mut keep);
            let pl = place(p, &(&iocb as *const Iocb as u64).to_ne_bytes());
            let mut o = vec![r(b.submit(b.ctx(), 1, pl.addr))];
            settle(b, b.ctx(), 0, &[], &mut o);
            o
        });
    }
    for (p, nr, exp) in [
        (P::Straddle(4), 1i64, Err(libc::EFAULT)),
        (P::Straddle(7), 1, Err(libc::EFAULT)),
        (P::Straddle(8), 2, Ok(1)),
        (P::Straddle(12), 2, Ok(1)),
        (P::Straddle(16), 3, Ok(2)),
        (P::RO, 2, Ok(2)),
        (P::Mis1, 2, Ok(2)),
        (P::Mis3, 2, Ok(2)),
        (P::Valid, 2, Ok(2)),
    ] {
        s.both(&format!("iocbpp {} nr {nr}", p.name()), Some(exp), &|b, f| {
            let mut keep = Vec::new();
            let i1 = base_iocb(IOCB_CMD_PWRITE, f, &mut keep);
            let i2 = i1.with_data(2);
            let i3 = i1.with_data(3);
            let ptrs = [&i1 as *const Iocb as u64, &i2 as *const _ as u64, &i3 as *const _ as u64];
            let mut bytes = Vec::new();
            for p in ptrs {
                bytes.extend(p.to_ne_bytes());
            }
            let pl = place(p, &bytes);
            let got = b.submit(b.ctx(), nr, pl.addr);
            let mut o = vec![r(got)];
            settle(b, b.ctx(), got.unwrap_or(0), &ptrs, &mut o);
            o
        });
    }
    s.end(false);
}

fn submit_iocb_pointer(s: &mut Sweep) {
    if !s.begin("submit_iocb_pointer") {
        return;
    }
    let mut kinds: Vec<(P, Option<Ret>)> = BAD.iter().map(|&p| (p, Some(Err(libc::EFAULT)))).collect();
    kinds.extend([
        (P::Straddle(63), Some(Err(libc::EFAULT))),
        (P::Straddle(32), Some(Err(libc::EFAULT))),
        (P::Straddle(12), Some(Err(libc::EFAULT))),
        (P::Straddle(1), Some(Err(libc::EFAULT))),
        (P::RO, Some(Err(libc::EFAULT))),
        (P::Mis1, Some(Ok(1))),
        (P::Mis3, Some(Ok(1))),
        (P::Valid, Some(Ok(1))),
    ]);
    for (p, exp) in kinds {
        for op in [IOCB_CMD_PWRITE, IOCB_CMD_POLL] {
            s.both(&format!("iocb {} op {op}", p.name()), exp, &|b, f| {
                let mut keep = Vec::new();
                let iocb = base_iocb(op, f, &mut keep);
                let mut o = Obs::new();
                submit_placed(b, &iocb, p, &mut o);
                o
            });
        }
    }
    // Read-only iocbs that fail before the aio_key write keep their own error (check order).
    for (what, mutate, exp) in [
        ("fd 9999", 0u8, Err(libc::EBADF)),
        ("reserved2 1", 1, Err(libc::EINVAL)),
        ("nbytes 2^63", 2, Err(libc::EINVAL)),
        ("resfd 9999", 3, Err(libc::EBADF)),
        ("resfd pipe", 4, Err(libc::EINVAL)),
        ("opcode 6", 5, Err(libc::EFAULT)),
    ] {
        s.both(&format!("iocb readonly with {what}"), Some(exp), &|b, f| {
            let mut keep = Vec::new();
            let mut iocb = base_iocb(IOCB_CMD_PWRITE, f, &mut keep);
            iocb.aio_key = 0xdead;
            match mutate {
                0 => iocb.aio_fildes = FD_HUGE as u32,
                1 => iocb.aio_reserved2 = 1,
                2 => iocb.aio_nbytes = 1 << 63,
                3 => iocb = iocb.with_resfd(FD_HUGE),
                4 => iocb = iocb.with_resfd(f.pipe_r),
                _ => iocb.aio_lio_opcode = IOCB_CMD_NOOP,
            }
            let mut o = Obs::new();
            submit_placed(b, &iocb, P::RO, &mut o);
            o
        });
    }
    s.end(false);
}

/// One mutation of an iocb field.
type Mutation = (String, Box<dyn Fn(&mut Iocb, &Fds)>);

fn mutations() -> Vec<Mutation> {
    let mut v: Vec<Mutation> = Vec::new();
    let mut add = |name: String, f: Box<dyn Fn(&mut Iocb, &Fds)>| v.push((name, f));
    add("base".into(), Box::new(|_, _| {}));
    for key in [1u32, 0xFFFF_FFFF] {
        add(format!("aio_key {key:#x}"), Box::new(move |i, _| i.aio_key = key));
    }
    for fl in [1u32, 2, 4, 8, 0x10, 0x20, 0x30, 0x40, 0x80, 0x100, 0x8000_0000, 0xFFFF_FFFF] {
        add(format!("rw_flags {fl:#x}"), Box::new(move |i, _| i.aio_rw_flags = fl));
    }
    for prio in [0i16, -1, i16::MIN, i16::MAX, 1 << 13, (2 << 13) | 7, (2 << 13) | 8, 3 << 13, 4 << 13, 7 << 13] {
        add(format!("ioprio {prio:#x}"), Box::new(move |i, _| {
            i.aio_flags |= IOCB_FLAG_IOPRIO;
            i.aio_reqprio = prio;
        }));
    }
    add("reqprio -1 without IOPRIO".into(), Box::new(|i, _| i.aio_reqprio = -1));
    type FdPick = fn(&Fds) -> i32;
    let fds: [(&str, FdPick); 15] = [
        ("-1", |_| -1),
        ("9999", |_| FD_HUGE),
        ("closed 900", |_| FD_CLOSED),
        ("0x7fffffff", |_| 0x7FFF_FFFF),
        ("file O_RDONLY", |f| f.file_ro),
        ("file O_WRONLY", |f| f.file_wo),
        ("O_PATH", |f| f.opath),
        ("pipe read end", |f| f.pipe_r),
        ("pipe write end", |f| f.pipe_w),
        ("eventfd", |f| f.evfd),
        ("char device", |f| f.dev),
        ("directory", |f| f.dir),
        ("unix socket", |f| f.sock[0]),
        ("unix socket peer", |f| f.sock[1]),
        ("udp socket", |f| f.udp),
    ];
    for (name, pick) in fds {
        add(format!("fildes {name}"), Box::new(move |i, f| i.aio_fildes = pick(f) as u32));
    }
    for off in [-1i64, i64::MIN, i64::MAX, i64::MAX - 15, FILE_SIZE as i64, 1 << 40, 4095] {
        add(format!("offset {off:#x}"), Box::new(move |i, _| i.aio_offset = off));
    }
    for nb in [0u64, 1, 4096, 4097, 0x7FFF_F000, 0x7FFF_F001, i64::MAX as u64, 1 << 63, u64::MAX] {
        add(format!("nbytes {nb:#x}"), Box::new(move |i, _| i.aio_nbytes = nb));
    }
    for res in [1u64, 1 << 63, u64::MAX] {
        add(format!("reserved2 {res:#x}"), Box::new(move |i, _| i.aio_reserved2 = res));
    }
    for (name, pick) in [("eventfd", (|f: &Fds| f.evfd) as FdPick), ("pipe", |f| f.pipe_r), ("9999", |_| FD_HUGE), ("-1", |_| -1), ("char device", |f| f.dev)] {
        add(format!("RESFD {name}"), Box::new(move |i, f| *i = i.with_resfd(pick(f))));
    }
    for fl in [4u32, 0x80, 0xFFFF_FFFC, 0xFFFF_FFFF] {
        add(format!("aio_flags {fl:#x} (resfd eventfd)"), Box::new(move |i, f| {
            i.aio_flags = fl;
            i.aio_resfd = f.evfd as u32;
        }));
    }
    for b in [0u64, 1, 0x10001, 0xFFFF_FFFF, 1 << 32, u64::MAX] {
        add(format!("aio_buf {b:#x}"), Box::new(move |i, _| i.aio_buf = b));
    }
    add("aio_data max".into(), Box::new(|i, _| i.aio_data = u64::MAX));
    v
}

fn submit_fields(s: &mut Sweep) {
    if !s.begin("submit_iocb_fields") {
        return;
    }
    let muts = mutations();
    let ops: [u16; 11] = [
        IOCB_CMD_PREAD,
        IOCB_CMD_PWRITE,
        IOCB_CMD_FSYNC,
        IOCB_CMD_FDSYNC,
        4,
        IOCB_CMD_POLL,
        IOCB_CMD_NOOP,
        IOCB_CMD_PREADV,
        IOCB_CMD_PWRITEV,
        9,
        0xFFFF,
    ];
    for op in ops {
        for (mname, m) in &muts {
            s.both(&format!("op {op} {mname}"), None, &|b, f| {
                let mut keep = Vec::new();
                let mut iocb = base_iocb(op, f, &mut keep);
                m(&mut iocb, f);
                let mut o = Obs::new();
                submit_placed(b, &iocb, P::Valid, &mut o);
                o
            });
        }
    }
    // KAIO_CMD_DELAY has no native analogue: kaio only, against ABI.md.
    for (what, m, exp) in [
        ("base", 0u8, Ok(1)),
        ("offset -1", 1, Err(libc::EINVAL)),
        ("offset i64::MIN", 2, Err(libc::EINVAL)),
        ("buf 1", 3, Err(libc::EINVAL)),
        ("nbytes 1", 4, Err(libc::EINVAL)),
        ("fildes 9999", 5, Err(libc::EBADF)),
        ("reserved2 1", 6, Err(libc::EINVAL)),
        ("offset i64::MAX", 7, Ok(1)),
        ("RESFD pipe", 8, Err(libc::EINVAL)),
    ] {
        s.kaio(&format!("delay {what}"), Some(exp), &|b, f| {
            let mut keep = Vec::new();
            let mut iocb = base_iocb(KAIO_CMD_DELAY, f, &mut keep);
            match m {
                1 => iocb.aio_offset = -1,
                2 => iocb.aio_offset = i64::MIN,
                3 => iocb.aio_buf = 1,
                4 => iocb.aio_nbytes = 1,
                5 => iocb.aio_fildes = FD_HUGE as u32,
                6 => iocb.aio_reserved2 = 1,
                7 => iocb.aio_offset = i64::MAX,
                8 => iocb = iocb.with_resfd(f.pipe_r),
                _ => {}
            }
            let mut o = Obs::new();
            submit_placed(b, &iocb, P::Valid, &mut o);
            o
        });
    }
    s.end(false);
}

fn submit_buffers(s: &mut Sweep) {
    if !s.begin("submit_buffers") {
        return;
    }
    let mut kinds: Vec<P> = BAD.to_vec();
    kinds.extend([P::Straddle(8), P::Straddle(1), P::RO, P::Mis1, P::Mis3, P::Valid]);
    for op in [IOCB_CMD_PREAD, IOCB_CMD_PWRITE] {
        for &p in &kinds {
            for len in [16u64, 0, 4096] {
                s.both(&format!("op {op} buf {} len {len}", p.name()), None, &|b, f| {
                    let pl = place(p, &[0x33u8; 16]);
                    let iocb = Iocb::new(op, f.file).with_buf(pl.addr, len, 0).with_data(1);
                    let mut o = Obs::new();
                    submit_placed(b, &iocb, P::Valid, &mut o);
                    o
                });
            }
        }
    }
    for op in [IOCB_CMD_PREADV, IOCB_CMD_PWRITEV] {
        // The iovec array itself.
        for &p in &kinds {
            s.both(&format!("op {op} iovec array {}", p.name()), None, &|b, f| {
                let buf = guarded(PAGE);
                let iov = libc::iovec { iov_base: buf.ptr(), iov_len: 16 };
                let pl = place(if let P::Straddle(_) = p { P::Straddle(8) } else { p }, &bytes_of(&iov));
                let iocb = Iocb::new(op, f.file).with_buf(pl.addr, 1, 0).with_data(1);
                let mut o = Obs::new();
                submit_placed(b, &iocb, P::Valid, &mut o);
                o
            });
        }
        // iov_base of one iovec.
        for &p in &kinds {
            s.both(&format!("op {op} iov_base {}", p.name()), None, &|b, f| {
                let pl = place(p, &[0x33u8; 16]);
                let iov = libc::iovec { iov_base: pl.addr as *mut libc::c_void, iov_len: 16 };
                let iocb = Iocb::new(op, f.file).with_buf(&iov as *const _ as u64, 1, 0).with_data(1);
                let mut o = Obs::new();
                submit_placed(b, &iocb, P::Valid, &mut o);
                o
            });
        }
        // iov_len values and the iovec count.
        for lens in [
            vec![0usize],
            vec![1],
            vec![isize::MAX as usize],
            vec![usize::MAX],
            vec![1 << 62, 1 << 62],
            vec![0x7FFF_F000, 0x1000],
            vec![0x4000_0000, 0x4000_0000],
            vec![16, 0, 16],
        ] {
            s.both(&format!("op {op} iov_len {lens:x?}"), None, &|b, f| {
                let buf = guarded(PAGE);
                let iovs: Vec<libc::iovec> = lens.iter().map(|&l| libc::iovec { iov_base: buf.ptr(), iov_len: l }).collect();
                let iocb = Iocb::new(op, f.file).with_buf(iovs.as_ptr() as u64, iovs.len() as u64, 0).with_data(1);
                let mut o = Obs::new();
                submit_placed(b, &iocb, P::Valid, &mut o);
                o
            });
        }
        for cnt in [0u64, 1, 8, 9, 1024, 1025, 1 << 32 | 1, u64::MAX] {
            s.both(&format!("op {op} iovcnt {cnt:#x}"), None, &|b, f| {
                let buf = guarded(PAGE);
                let n = cnt.min(1024) as usize;
                let iovs: Vec<libc::iovec> = (0..n.max(1)).map(|_| libc::iovec { iov_base: buf.ptr(), iov_len: 1 }).collect();
                let iocb = Iocb::new(op, f.file).with_buf(iovs.as_ptr() as u64, cnt, 0).with_data(1);
                let mut o = Obs::new();
                submit_placed(b, &iocb, P::Valid, &mut o);
                o
            });
        }
    }
    s.end(false);
}

/// Submits `n` completed writes on the fixture (events waiting in the ring).
fn fill_events(b: &B, f: &Fds, n: usize) {
    let mut keep = Vec::new();
    let iocbs: Vec<Iocb> = (0..n).map(|i| base_iocb(IOCB_CMD_PWRITE, f, &mut keep).with_data(i as u64 + 1)).collect();
    let arr: Vec<u64> = iocbs.iter().map(|i| i as *const Iocb as u64).collect();
    let got = b.submit(b.ctx(), n as i64, arr.as_ptr() as u64);
    assert_eq!(got, Ok(n as i64), "{}: fill_events", b.name());
}

fn getevents_args(s: &mut Sweep) {
    if !s.begin("getevents_ctx_nr") {
        return;
    }
    let n = bad_ctx_ids(&s.native).len();
    for i in 0..n {
        let name = bad_ctx_ids(&s.native)[i].0.clone();
        s.both(&name, Some(Err(libc::EINVAL)), &|b, _| {
            let ids = bad_ctx_ids(b);
            let mut ev = [IoEvent::default(); 4];
            let z = KernelTimespec::default();
            vec![r(b.getevents(ids[i].1, 0, 4, ev.as_mut_ptr() as u64, &z as *const _ as u64))]
        });
    }
    let pairs: [(i64, i64, Option<Ret>); 14] = [
        (-1, 1, Some(Err(libc::EINVAL))),
        (0, -1, Some(Err(libc::EINVAL))),
        (i64::MIN, 0, Some(Err(libc::EINVAL))),
        (i64::MIN, i64::MIN, Some(Err(libc::EINVAL))),
        (0, 0, Some(Ok(0))),
        (1, 0, Some(Err(libc::EINVAL))),
        (2, 1, Some(Err(libc::EINVAL))),
        (0, 1, Some(Ok(1))),
        (0, i64::MAX, Some(Ok(2))),
        (i64::MAX, i64::MAX, Some(Ok(2))),
        (1 << 32, (1 << 32) + 1, Some(Ok(2))),
        (2, 2, Some(Ok(2))),
        (3, 3, Some(Ok(2))),
        (0, 1 << 32, Some(Ok(2))),
    ];
    for (min, nr, exp) in pairs {
        s.both(&format!("min_nr {min:#x} nr {nr:#x} (2 events ready, zero timeout)"), exp, &|b, f| {
            fill_events(b, f, 2);
            let mut ev = [IoEvent::default(); 8];
            let z = KernelTimespec::default();
            let got = b.getevents(b.ctx(), min, nr, ev.as_mut_ptr() as u64, &z as *const _ as u64);
            let left = extra_events(b, b.ctx());
            vec![r(got), format!("left {left}")]
        });
    }
    // Order: the timeout is read before the lookup; min/nr are checked after it.
    s.both("bad ctx, bad timeout pointer", Some(Err(libc::EFAULT)), &|b, _| {
        let mut ev = [IoEvent::default(); 1];
        vec![r(b.getevents(8, 0, 1, ev.as_mut_ptr() as u64, 1))]
    });
    s.both("bad ctx, min_nr > nr", Some(Err(libc::EINVAL)), &|b, _| vec![r(b.getevents(8, 2, 1, 0, 0))]);
    s.both("bad ctx, nr -1, bad timeout", Some(Err(libc::EFAULT)), &|b, _| vec![r(b.getevents(8, 0, -1, 0, mem::KERNEL_ADDR))]);
    s.end(false);
}

fn getevents_events(s: &mut Sweep) {
    if !s.begin("getevents_events") {
        return;
    }
    let mut kinds: Vec<P> = BAD.to_vec();
    kinds.extend([P::Straddle(48), P::Straddle(32), P::Straddle(16), P::Straddle(1), P::RO, P::Mis1, P::Mis3, P::Valid]);
    for &p in &kinds {
        for ready in [2usize, 0] {
            s.both(&format!("events {} ({ready} ready, min 0 nr 2)", p.name()), None, &|b, f| {
                if ready > 0 {
                    fill_events(b, f, ready);
                }
                let pl = place(p, &[0u8; 64]);
                let z = KernelTimespec::default();
                let got = b.getevents(b.ctx(), 0, 2, pl.addr, &z as *const _ as u64);
                let left = extra_events(b, b.ctx());
                vec![r(got), format!("left {left}")]
            });
        }
        s.both(&format!("events {} (none ready, min 1, 5 ms)", p.name()), None, &|b, _| {
            let pl = place(p, &[0u8; 64]);
            let t = KernelTimespec { tv_sec: 0, tv_nsec: 5_000_000 };
            vec![r(b.getevents(b.ctx(), 1, 2, pl.addr, &t as *const _ as u64))]
        });
    }
    s.end(false);
}

fn getevents_timeout(s: &mut Sweep) {
    if !s.begin("getevents_timeout") {
        return;
    }
    // (A NULL timeout means "no timeout": see below.)
    let mut kinds: Vec<(P, Option<Ret>)> = BAD[1..].iter().map(|&p| (p, Some(Err(libc::EFAULT)))).collect();
    kinds.extend([
        (P::Straddle(8), Some(Err(libc::EFAULT))),
        (P::Straddle(15), Some(Err(libc::EFAULT))),
        (P::RO, Some(Ok(0))),
        (P::Mis1, Some(Ok(0))),
        (P::Mis3, Some(Ok(0))),
    ]);
    for (p, exp) in kinds {
        s.both(&format!("timeout pointer {} ({{0,0}})", p.name()), exp, &|b, _| {
            let pl = place(p, &bytes_of(&KernelTimespec::default()));
            let mut ev = [IoEvent::default(); 1];
            vec![r(b.getevents(b.ctx(), 1, 1, ev.as_mut_ptr() as u64, pl.addr))]
        });
    }
    s.both("timeout null, min_nr 0", Some(Ok(0)), &|b, _| {
        let mut ev = [IoEvent::default(); 1];
        vec![r(b.getevents(b.ctx(), 0, 1, ev.as_mut_ptr() as u64, 0))]
    });
    if !s.no_blocking {
        s.both("timeout null, min_nr 1 (waits until the alarm)", Some(Err(libc::EINTR)), &|b, _| {
            let mut ev = [IoEvent::default(); 1];
            arm_alarm(300);
            let got = b.getevents(b.ctx(), 1, 1, ev.as_mut_ptr() as u64, 0);
            arm_alarm(0);
            vec![r(got)]
        });
    }
    // Values (min_nr 1, empty ring). Infinite ones are interrupted by SIGALRM after 300 ms.
    let ksm = kaio::time::KTIME_SEC_MAX;
    let vals: [(i64, i64, &str); 16] = [
        (0, 0, "now"),
        (0, 1, "now"),
        (0, 20_000_000, "now"),
        (-1, 1_000_000_000, "now"),
        (1, -1_000_000_000, "now"),
        (i64::MIN, 0, "now"),
        (0, -1, "forever"),
        (-1, 0, "forever"),
        (-1, 999_999_999, "forever"),
        (ksm, 0, "forever"),
        (ksm - 1, 0, "forever"),
        (i64::MAX, i64::MAX, "forever"),
        (i64::MIN, -1, "forever"),
        (-ksm, 0, "forever"),
        (-ksm - 1, 0, "forever"),
        (0, 1_100_000_000, "1.1s"),
    ];
    for (sec, nsec, what) in vals {
        if s.no_blocking && what != "now" {
            continue;
        }
        let exp = if what == "forever" { Err(libc::EINTR) } else { Ok(0) };
        s.both(&format!("timeout {{{sec}, {nsec}}} (expected: {what})"), Some(exp), &|b, _| {
            let t = KernelTimespec { tv_sec: sec, tv_nsec: nsec };
            let mut ev = [IoEvent::default(); 1];
            arm_alarm(if what == "forever" { 300 } else { 3000 });
            let start = Instant::now();
            let got = b.getevents(b.ctx(), 1, 1, ev.as_mut_ptr() as u64, &t as *const _ as u64);
            let took = start.elapsed();
            arm_alarm(0);
            let took_class = if got == Err(libc::EINTR) {
                "interrupted by the alarm"
            } else if took < Duration::from_millis(250) {
                "immediate"
            } else {
                "timed out"
            };
            vec![r(got), took_class.to_string()]
        });
    }
    s.end(false);
}

extern "C" fn on_alarm(_: libc::c_int) {
    hostile_v2::ALARMS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

/// Arms SIGALRM after `ms` milliseconds (0 disarms).
fn arm_alarm(ms: u64) {
    let it = libc::itimerval {
        it_interval: libc::timeval { tv_sec: 0, tv_usec: 0 },
        it_value: libc::timeval { tv_sec: (ms / 1000) as i64, tv_usec: ((ms % 1000) * 1000) as i64 },
    };
    // SAFETY: sets the process's real-time interval timer.
    unsafe { libc::setitimer(libc::ITIMER_REAL, &it, std::ptr::null_mut()) };
}

/// Submits a POLL on the empty pipe (pending until cancelled) at a fresh page; returns its
/// iocb address and the mapping holding it.
fn pending_poll(b: &B, f: &Fds) -> (u64, Mapping) {
    let m = Mapping::rw(PAGE);
    let iocb = Iocb::poll(f.pipe_r, libc::POLLIN as u32).with_data(0x77);
    // SAFETY: the mapping holds a page; the iocb goes at its start.
    unsafe { *m.ptr::<Iocb>() = iocb };
    let arr = [m.addr as u64];
    let got = b.submit(b.ctx(), 1, arr.as_ptr() as u64);
    assert_eq!(got, Ok(1), "{}: pending poll", b.name());
    (m.addr as u64, m)
}

fn cancel_args(s: &mut Sweep) {
    if !s.begin("cancel_args") {
        return;
    }
    // The iocb pointer, with a pending poll in the context.
    let mut kinds: Vec<(P, Option<Ret>)> = BAD.iter().map(|&p| (p, Some(Err(libc::EFAULT)))).collect();
    kinds.extend([
        (P::Straddle(8), Some(Err(libc::EFAULT))),
        (P::Straddle(10), Some(Err(libc::EFAULT))),
        (P::Straddle(12), Some(Err(libc::EINVAL))),
        (P::Straddle(32), Some(Err(libc::EINVAL))),
        (P::RO, Some(Err(libc::EINVAL))),
        (P::Mis1, Some(Err(libc::EINVAL))),
        (P::Valid, Some(Err(libc::EINVAL))),
    ]);
    for (p, exp) in kinds {
        s.both(&format!("iocb {} (a poll pending elsewhere)", p.name()), exp, &|b, f| {
            let (real, _m) = pending_poll(b, f);
            let pl = place(p, &bytes_of(&Iocb::poll(f.pipe_r, 1)));
            let got = b.cancel(b.ctx(), pl.addr, 0);
            let mut o = vec![r(got)];
            // The pending poll is untouched: cancelling it now works.
            o.push(format!("real cancel {}", r(b.cancel(b.ctx(), real, 0))));
            settle(b, b.ctx(), 1, &[real], &mut o);
            o
        });
    }
    // aio_key values on the pending iocb itself.
    for key in [1u32, 0x8000_0000, 0xFFFF_FFFF] {
        s.both(&format!("pending iocb with aio_key {key:#x}"), Some(Err(libc::EINVAL)), &|b, f| {
            let (real, _m) = pending_poll(b, f);
            // SAFETY: the iocb lives at the start of the mapping.
            unsafe { (*(real as *mut Iocb)).aio_key = key };
            let got = b.cancel(b.ctx(), real, 0);
            // SAFETY: as above.
            unsafe { (*(real as *mut Iocb)).aio_key = 0 };
            let mut o = vec![r(got), format!("then key 0: {}", r(b.cancel(b.ctx(), real, 0)))];
            o.push(format!("again: {}", r(b.cancel(b.ctx(), real, 0))));
            settle(b, b.ctx(), 1, &[real], &mut o);
            o
        });
    }
    // result is never touched, whatever it points at.
    let mut rkinds: Vec<P> = BAD.to_vec();
    rkinds.extend([P::RO, P::Straddle(4), P::Valid]);
    for p in rkinds {
        s.both(&format!("result {}", p.name()), Some(Err(libc::EINPROGRESS)), &|b, f| {
            let (real, _m) = pending_poll(b, f);
            let pl = place(p, &[0x5Au8; 32]);
            let got = b.cancel(b.ctx(), real, pl.addr);
            let mut o = vec![r(got)];
            if let Some(v) = pl.read::<[u8; 32]>() {
                o.push(format!("result {}", if v == [0x5A; 32] { "untouched" } else { "written" }));
            }
            settle(b, b.ctx(), 1, &[real], &mut o);
            o
        });
    }
    // The context argument.
    let n = bad_ctx_ids(&s.native).len();
    for i in 0..n {
        let name = bad_ctx_ids(&s.native)[i].0.clone();
        s.both(&format!("{name} (poll pending in the fixture)"), Some(Err(libc::EINVAL)), &|b, f| {
            let ids = bad_ctx_ids(b);
            let (real, _m) = pending_poll(b, f);
            let mut o = vec![r(b.cancel(ids[i].1, real, 0))];
            o.push(format!("real cancel {}", r(b.cancel(b.ctx(), real, 0))));
            settle(b, b.ctx(), 1, &[real], &mut o);
            o
        });
    }
    // Requests that are not (or no longer) cancellable.
    for op in [IOCB_CMD_PWRITE, IOCB_CMD_PREAD, IOCB_CMD_FSYNC, IOCB_CMD_POLL] {
        s.both(&format!("completed op {op}"), Some(Err(libc::EINVAL)), &|b, f| {
            let mut keep = Vec::new();
            let iocb = base_iocb(op, f, &mut keep);
            let arr = [&iocb as *const Iocb as u64];
            let got = b.submit(b.ctx(), 1, arr.as_ptr() as u64);
            let mut o = Obs::new();
            settle(b, b.ctx(), got.unwrap_or(0), &arr, &mut o);
            let mut out = vec![r(b.cancel(b.ctx(), arr[0], 0))];
            out.extend(o);
            out
        });
    }
    // Key check before the handle: key 1 with a bad ctx is EINVAL, unreadable key with a bad ctx EFAULT.
    s.both("bad ctx, unreadable iocb", Some(Err(libc::EFAULT)), &|b, _| vec![r(b.cancel(8, 8, 0))]);
    s.both("bad ctx, key 1", Some(Err(libc::EINVAL)), &|b, f| {
        let mut i = Iocb::poll(f.pipe_r, 1);
        i.aio_key = 1;
        vec![r(b.cancel(8, &i as *const _ as u64, 0))]
    });
    s.kaio("delay pending: cancel", Some(Err(libc::EINPROGRESS)), &|b, f| {
        let mut keep = Vec::new();
        let iocb = base_iocb(KAIO_CMD_DELAY, f, &mut keep).with_buf(0, 0, 10_000_000_000);
        let arr = [&iocb as *const Iocb as u64];
        assert_eq!(b.submit(b.ctx(), 1, arr.as_ptr() as u64), Ok(1));
        let mut o = vec![r(b.cancel(b.ctx(), arr[0], mem::KERNEL_ADDR)), format!("again {}", r(b.cancel(b.ctx(), arr[0], 0)))];
        settle(b, b.ctx(), 1, &arr, &mut o);
        if o.iter().any(|x| x.contains(&format!("res={}", -libc::ECANCELED))) {
            o.push("ECANCELED".into());
        }
        o
    });
    s.end(false);
}

fn cross_domain(s: &mut Sweep) {
    if !s.begin("cross_domain") {
        return;
    }
    if let Some(kb) = &s.kaio {
        let kctx = kb.ctx();
        let nctx = s.native.ctx();
        let other = match kaio::raw::open() {
            Ok(fd) => B { kind: Kind::Kaio, fd, ctx: Cell::new(0) },
            Err(_) => {
                s.group_problems.push("cannot open a second domain".into());
                s.end(true);
                return;
            }
        };
        let mut ev = [IoEvent::default(); 2];
        let z = KernelTimespec::default();
        let pw = Iocb::new(IOCB_CMD_PWRITE, s.fds.file).with_buf(ev.as_ptr() as u64, 8, 0);
        let arr = [&pw as *const Iocb as u64];
        let mut probe = |who: &B, id: u64, label: &str, problems: &mut Vec<String>| {
            let got = [
                who.getevents(id, 0, 2, ev.as_mut_ptr() as u64, &z as *const _ as u64),
                who.submit(id, 1, arr.as_ptr() as u64),
                who.cancel(id, arr[0], 0),
                who.destroy(id),
            ];
            if got.iter().any(|g| *g != Err(libc::EINVAL)) {
                problems.push(format!("{label}: getevents/submit/cancel/destroy gave {:?}, want EINVAL x4", got.map(|g| r(g))));
            }
        };
        let mut p = Vec::new();
        probe(&other, kctx, "kaio ctx through another /dev/kaio fd", &mut p);
        probe(kb, nctx, "native ctx through /dev/kaio", &mut p);
        probe(&s.native, kctx, "kaio ctx through the native syscalls", &mut p);
        // The second domain's first context has id 0 too; its handle is not the first's.
        let octx = other.ctx();
        probe(kb, octx, "second domain's ctx through the first fd", &mut p);
        if extra_events(kb, kctx) < 0 || extra_events(&other, octx) < 0 || extra_events(&s.native, nctx) < 0 {
            p.push("a context died from a cross-domain call".into());
        }
        other.drop_ctx();
        // SAFETY: closes the second domain's fd.
        unsafe { libc::close(other.fd) };
        s.group_inputs += 4;
        s.total_inputs += 4;
        s.group_problems.extend(p);
    }
    s.end(true);
}

/// User space writes into the ring header (AIO-SEMANTICS §7, I17): the kernel must keep its
/// own producer state, reduce head/tail modulo ring_nr, fail lookups on a bad id, and never
/// spin or read out of bounds. Each case: 2 completed events in the fixture's ring, then the
/// write, then getevents (zero timeout, then min_nr 1 with a 50 ms timeout), a submit, and a
/// final reap; every result compared with native. Last group: a kaio that loops in the kernel
/// hangs here (the line before the hang names the case).
fn ring_header(s: &mut Sweep) {
    if !s.begin("ring_header") {
        return;
    }
    // (field offset, value as a function of (head, tail, nr))
    type Val = fn(u32, u32, u32) -> u32;
    let cases: [(&str, usize, Val); 14] = [
        ("tail = head", 12, |h, _, _| h),
        ("tail = head + 1", 12, |h, _, _| h + 1),
        ("tail = tail + nr", 12, |_, t, n| t + n),
        ("tail = nr", 12, |_, _, n| n),
        ("tail = 0xffffffff", 12, |_, _, _| u32::MAX),
        ("head = tail", 8, |_, t, _| t),
        ("head = tail + 1", 8, |_, t, _| t + 1),
        ("head = head + nr", 8, |h, _, n| h + n),
        ("head = nr - 1", 8, |_, _, n| n - 1),
        ("head = 0xffffffff", 8, |_, _, _| u32::MAX),
        ("id = 1", 0, |_, _, _| 1),
        ("id = 0xffffffff", 0, |_, _, _| u32::MAX),
        ("nr = 0", 4, |_, _, _| 0),
        ("magic = 0", 16, |_, _, _| 0),
    ];
    for (name, off, val) in cases {
        s.k.diag(&format!("ring_header: {name} (a hang here is a kernel busy loop)"));
        s.both(name, None, &|b, f| {
            b.drop_ctx();
            let ctx = b.ctx();
            fill_events(b, f, 2);
            // SAFETY: the fixture's ring header is mapped read-write at `ctx`.
            let hdr = unsafe { &mut *(ctx as *mut AioRing) };
            let v = val(hdr.head, hdr.tail, hdr.nr);
            // SAFETY: writes one u32 of the header.
            unsafe { std::ptr::write_volatile((ctx as usize + off) as *mut u32, v) };
            let mut o = Vec::new();
            let mut ev = [IoEvent::default(); 8];
            let z = KernelTimespec::default();
            let t50 = KernelTimespec { tv_sec: 0, tv_nsec: 50_000_000 };
            let ring = |o: &mut Obs, what: &str| {
                // SAFETY: as above (the ring stays mapped unless the context is destroyed).
                let h = unsafe { std::ptr::read_volatile(ctx as *const AioRing) };
                o.push(format!("{what}: head {} tail {}", h.head, h.tail));
            };
            let g = b.getevents(ctx, 0, 8, ev.as_mut_ptr() as u64, &z as *const _ as u64);
            o.push(format!("getevents(0, 8, now) {}", r(g)));
            ring(&mut o, "after");
            arm_alarm(2000);
            let g = b.getevents(ctx, 1, 8, ev.as_mut_ptr() as u64, &t50 as *const _ as u64);
            arm_alarm(0);
            o.push(format!("getevents(1, 8, 50ms) {}", r(g)));
            ring(&mut o, "after");
            let mut keep = Vec::new();
            let one = base_iocb(IOCB_CMD_PWRITE, f, &mut keep).with_data(9);
            let arr = [&one as *const Iocb as u64];
            o.push(format!("submit {}", r(b.submit(ctx, 1, arr.as_ptr() as u64))));
            ring(&mut o, "after submit");
            arm_alarm(2000);
            let g = b.getevents(ctx, 1, 8, ev.as_mut_ptr() as u64, &t50 as *const _ as u64);
            arm_alarm(0);
            o.push(format!("getevents(1, 8, 50ms) {}", r(g)));
            let d = b.destroy(ctx);
            o.push(format!("destroy {}", r(d)));
            if d == Ok(0) {
                b.ctx.set(0);
            } else {
                // The context cannot be named any more (bad id): it lives until the fd closes
                // or the process exits. Put the id back to destroy it.
                // SAFETY: the ring is still mapped (destroy failed).
                unsafe { std::ptr::write_volatile(ctx as *mut u32, 0) };
                o.push(format!("destroy after restoring id 0: {}", r(b.destroy(ctx))));
                b.ctx.set(0);
            }
            o
        });
    }
    s.end(false);
}

fn main() {
    let args = Args::parse(0.0, 1, &["only"], USAGE);
    let no_blocking = std::env::args().any(|a| a == "--no-blocking");
    let mut k = Ktap::stdout();
    let only = args.get("only").map(|s| s.to_string());
    let plan = GROUPS.iter().filter(|g| only.as_deref().is_none_or(|o| g.contains(o))).count();
    k.header(plan + usize::from(only.is_none()));
    let kaio_fd = kaio::raw::open().ok();
    let fds = Fds::new();
    // SAFETY: installs a no-op SIGALRM handler without SA_RESTART (to interrupt waits).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_alarm as *const () as usize;
        libc::sigaction(libc::SIGALRM, &sa, std::ptr::null_mut());
    }
    let nr0 = (read_u64_file(AIO_NR), read_u64_file(NR_PARAM));
    k.diag(&format!(
        "kaio-hostile: {} possible CPUs, aio-nr {:?}, kaio nr {:?}{}",
        possible_cpus(),
        nr0.0,
        nr0.1,
        if kaio_fd.is_none() { "; no /dev/kaio: native half only" } else { "" }
    ));
    let mut s = Sweep {
        k,
        native: B { kind: Kind::Native, fd: -1, ctx: Cell::new(0) },
        kaio: kaio_fd.map(|fd| B { kind: Kind::Kaio, fd, ctx: Cell::new(0) }),
        fds,
        verbose: args.verbose,
        only,
        no_blocking,
        group: "",
        group_problems: Vec::new(),
        group_inputs: 0,
        group_start: Instant::now(),
        total_inputs: 0,
        total_compared: 0,
        total_divergences: 0,
        total_expect_fail: 0,
        cpus: possible_cpus(),
    };
    let _ = args.threads;
    ioctl_numbers(&mut s);
    argblock(&mut s);
    setup_ctxp(&mut s);
    setup_nr_events(&mut s);
    setup_limits(&mut s);
    destroy_ctx(&mut s);
    submit_args(&mut s);
    submit_iocbpp(&mut s);
    submit_iocb_pointer(&mut s);
    submit_fields(&mut s);
    submit_buffers(&mut s);
    getevents_args(&mut s);
    getevents_events(&mut s);
    getevents_timeout(&mut s);
    hostile_v2::pgetevents_ctx_nr(&mut s);
    hostile_v2::pgetevents_events(&mut s);
    hostile_v2::pgetevents_timeout(&mut s);
    hostile_v2::pgetevents_sigmask(&mut s);
    cancel_args(&mut s);
    hostile_v2::cancel_match_args(&mut s);
    hostile_v2::cancel_match_flags(&mut s);
    hostile_v2::cancel_match_result(&mut s);
    hostile_v2::cancel_match_running(&mut s);
    cross_domain(&mut s);
    ring_header(&mut s);
    // Teardown: the fixtures, then nr must be back where it was.
    s.native.drop_ctx();
    let mut p = Vec::new();
    if let Some(kb) = &s.kaio {
        kb.drop_ctx();
        // SAFETY: closes the domain's fd (and so every context it still holds).
        unsafe { libc::close(kb.fd) };
        // SAFETY: closes the other fd of /dev/kaio (the char-device role).
        unsafe { libc::close(s.fds.dev) };
        let (nr, took) = wait_nr(nr0.1.unwrap_or(0), Duration::from_secs(5));
        if nr != nr0.1 {
            p.push(format!("kaio nr {nr:?} at the end, {:?} at the start (waited {took:?})", nr0.1));
        }
    }
    let an = read_u64_file(AIO_NR);
    if an != nr0.0 {
        p.push(format!("aio-nr {an:?} at the end, {:?} at the start", nr0.0));
    }
    if s.only.is_none() {
        s.group = "nr_restored";
        s.k.result("nr_restored", &p);
    }
    s.k.diag(&format!(
        "inputs {}, compared with native {}, divergences {}, expectation failures {}",
        s.total_inputs, s.total_compared, s.total_divergences, s.total_expect_fail
    ));
    s.k.totals();
    std::process::exit(s.k.exit_code());
}
