//! Shared pieces of the kaio reliability programs (`kaio-stress`, `kaio-hostile`, `kaio-fuzz`):
//! a seeded PRNG, command-line parsing, KTAP output, the module parameters, errno names and
//! helpers for hostile memory (unmapped, read-only, straddling a page boundary).

pub mod fatal;
pub mod mem;

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// PRNG

/// `splitmix64`: seeds the generators and derives per-thread seeds.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `xoshiro256**`: small, fast, good enough for choosing operations and arguments.
#[derive(Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut sm = seed;
        let mut s = [0u64; 4];
        for w in s.iter_mut() {
            *w = splitmix64(&mut sm);
        }
        if s == [0; 4] {
            s[0] = 1;
        }
        Rng { s }
    }

    /// The generator of stream `index` derived from `seed` (one per thread).
    pub fn stream(seed: u64, index: u64) -> Rng {
        let mut sm = seed ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03);
        Rng::new(splitmix64(&mut sm))
    }

    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Index chosen with the given weights.
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| w as u64).sum();
        let mut x = self.below(total.max(1));
        for (i, &w) in weights.iter().enumerate() {
            if x < w as u64 {
                return i;
            }
            x -= w as u64;
        }
        weights.len() - 1
    }
}

/// A seed from the clock and the pid, for runs without `--seed`.
pub fn fresh_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut s = t ^ ((std::process::id() as u64) << 32);
    splitmix64(&mut s)
}

// ---------------------------------------------------------------------------------------------
// Command line

/// The options the three programs share.
#[derive(Clone, Debug)]
pub struct Args {
    pub seconds: f64,
    pub seed: u64,
    pub threads: usize,
    pub iterations: Option<u64>,
    pub verbose: bool,
    /// Extra `--name value` options a program understands itself.
    pub extra: Vec<(String, String)>,
}

impl Args {
    /// Parses `--seconds N --seed S --threads T --iterations N -v` and `--key value` pairs
    /// listed in `known_extra`. Exits with status 2 and a usage line on anything else.
    pub fn parse(default_seconds: f64, default_threads: usize, known_extra: &[&str], usage: &str) -> Args {
        let mut a = Args {
            seconds: default_seconds,
            seed: fresh_seed(),
            threads: default_threads,
            iterations: None,
            verbose: false,
            extra: Vec::new(),
        };
        let argv: Vec<String> = std::env::args().skip(1).collect();
        let mut i = 0;
        let bad = |why: &str| -> ! {
            eprintln!("{why}\nusage: {usage}");
            std::process::exit(2)
        };
        while i < argv.len() {
            let k = argv[i].as_str();
            let val = |i: usize| -> &str {
                argv.get(i + 1).map(|s| s.as_str()).unwrap_or_else(|| bad(&format!("{k} needs a value")))
            };
            match k {
                "-h" | "--help" => {
                    println!("usage: {usage}");
                    std::process::exit(0);
                }
                "-v" | "--verbose" => {
                    a.verbose = true;
                    i += 1;
                    continue;
                }
                "--seconds" => a.seconds = val(i).parse().unwrap_or_else(|_| bad("bad --seconds")),
                "--seed" => a.seed = parse_u64(val(i)).unwrap_or_else(|| bad("bad --seed")),
                "--threads" => a.threads = val(i).parse().unwrap_or_else(|_| bad("bad --threads")),
                "--iterations" => a.iterations = Some(parse_u64(val(i)).unwrap_or_else(|| bad("bad --iterations"))),
                _ if k.starts_with("--") && known_extra.contains(&&k[2..]) => {
                    a.extra.push((k[2..].to_string(), val(i).to_string()))
                }
                _ => bad(&format!("unknown argument {k}")),
            }
            i += 2;
        }
        a
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.extra.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.seconds.max(0.0))
    }
}

/// Decimal or `0x` hexadecimal.
pub fn parse_u64(s: &str) -> Option<u64> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

// ---------------------------------------------------------------------------------------------
// KTAP

/// KTAP output: the header and plan first (so that a crash leaves a short, failing plan), then
/// one result per case. Output goes to `out`, which the fuzzer points away from fd 1.
pub struct Ktap {
    out: Box<dyn Write + Send>,
    next: usize,
    pub failed: usize,
}

impl Ktap {
    pub fn stdout() -> Ktap {
        Ktap { out: Box::new(std::io::stdout()), next: 1, failed: 0 }
    }

    pub fn with_writer(out: Box<dyn Write + Send>) -> Ktap {
        Ktap { out, next: 1, failed: 0 }
    }

    pub fn header(&mut self, plan: usize) {
        let _ = writeln!(self.out, "KTAP version 1");
        let _ = writeln!(self.out, "1..{plan}");
        let _ = self.out.flush();
    }

    pub fn diag(&mut self, msg: &str) {
        for line in msg.lines() {
            let _ = writeln!(self.out, "# {line}");
        }
        let _ = self.out.flush();
    }

    /// Reports one case: passes iff `problems` is empty; every problem is printed.
    pub fn result(&mut self, name: &str, problems: &[String]) {
        for p in problems {
            for line in p.lines() {
                let _ = writeln!(self.out, "# {name}: {line}");
            }
        }
        if problems.is_empty() {
            let _ = writeln!(self.out, "ok {} {name}", self.next);
        } else {
            self.failed += 1;
            let _ = writeln!(self.out, "not ok {} {name}", self.next);
        }
        self.next += 1;
        let _ = self.out.flush();
    }

    pub fn skip(&mut self, name: &str, why: &str) {
        let _ = writeln!(self.out, "ok {} {name} # SKIP {why}", self.next);
        self.next += 1;
        let _ = self.out.flush();
    }

    pub fn totals(&mut self) {
        let _ = writeln!(self.out, "# Totals: pass:{} fail:{}", self.next - 1 - self.failed, self.failed);
        let _ = self.out.flush();
    }

    pub fn exit_code(&self) -> i32 {
        if self.failed > 0 {
            1
        } else {
            0
        }
    }
}

// ---------------------------------------------------------------------------------------------
// System helpers

pub const NR_PARAM: &str = "/sys/module/kaio/parameters/nr";
pub const MAX_NR_PARAM: &str = "/sys/module/kaio/parameters/max_nr";
pub const AIO_NR: &str = "/proc/sys/fs/aio-nr";
pub const AIO_MAX_NR: &str = "/proc/sys/fs/aio-max-nr";

pub fn read_u64_file(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

pub fn write_file(path: &str, value: &str) -> std::io::Result<()> {
    std::fs::write(path, value)
}

/// Whether `/dev/kaio` can be opened.
pub fn kaio_present() -> bool {
    match kaio::raw::open() {
        Ok(fd) => {
            // SAFETY: closes the fd just opened.
            unsafe { libc::close(fd) };
            true
        }
        Err(_) => false,
    }
}

/// Waits up to `limit` for `kaio`'s `nr` to equal `want`; returns the last value read and how
/// long it took.
pub fn wait_nr(want: u64, limit: Duration) -> (Option<u64>, Duration) {
    let start = Instant::now();
    loop {
        let v = read_u64_file(NR_PARAM);
        if v == Some(want) || start.elapsed() >= limit {
            return (v, start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

pub fn errno_name(e: i32) -> String {
    let n = match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::E2BIG => "E2BIG",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ENOTTY => "ENOTTY",
        libc::EFBIG => "EFBIG",
        libc::ENOSPC => "ENOSPC",
        libc::ESPIPE => "ESPIPE",
        libc::EPIPE => "EPIPE",
        libc::ERANGE => "ERANGE",
        libc::ENOSYS => "ENOSYS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EOVERFLOW => "EOVERFLOW",
        libc::EINPROGRESS => "EINPROGRESS",
        libc::ECANCELED => "ECANCELED",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::EALREADY => "EALREADY",
        libc::ETIME => "ETIME",
        _ => return format!("errno{e}"),
    };
    n.to_string()
}

/// A call's outcome as the program saw it: the value or the errno.
pub type Ret = Result<i64, i32>;

pub fn show(r: &Ret) -> String {
    match r {
        Ok(v) => format!("{v}"),
        Err(e) => errno_name(*e),
    }
}

/// A result of `libc::syscall`/`libc::ioctl` as [`Ret`].
pub fn ret(r: libc::c_long) -> Ret {
    if r < 0 {
        Err(errno())
    } else {
        Ok(r)
    }
}

/// An eventfd (`EFD_NONBLOCK | EFD_CLOEXEC`).
pub fn eventfd() -> i32 {
    // SAFETY: plain system call.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    assert!(fd >= 0, "eventfd: {}", errno_name(errno()));
    fd
}

/// Reads (and resets) a non-blocking eventfd's counter; 0 if it is zero.
pub fn eventfd_take(fd: i32) -> u64 {
    let mut v = 0u64;
    // SAFETY: reads 8 bytes into `v`.
    let r = unsafe { libc::read(fd, &mut v as *mut u64 as *mut libc::c_void, 8) };
    if r == 8 {
        v
    } else {
        0
    }
}

/// Keeps glibc's malloc on the brk heap: no mmap of its own after start, so that the only
/// mappings that come and go are the ones the program makes (rings, placeholders).
pub fn malloc_no_mmap() {
    // SAFETY: mallopt only tunes the allocator.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 512 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// `MAP_FIXED_NOREPLACE` (not in every libc crate version).
pub const MAP_FIXED_NOREPLACE: i32 = 0x100000;

/// Ring size in bytes for `nr_events` on a machine with `cpus` possible CPUs (AIO-SEMANTICS
/// §2.3-2.4): `None` where setup must fail.
pub fn ring_bytes(nr_events: u32, cpus: u32) -> Option<usize> {
    let n = nr_events.max(cpus.wrapping_mul(4)).wrapping_mul(2);
    if n == 0 || n > 0x1000_0000 / 32 {
        return None;
    }
    let bytes = 32 + 32 * (n as usize + 2);
    Some(bytes.div_ceil(4096) * 4096)
}

/// Number of possible CPUs (`/sys/devices/system/cpu/possible`, e.g. `0-3`).
pub fn possible_cpus() -> u32 {
    let s = std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap_or_default();
    let mut n = 0;
    for part in s.trim().split(',') {
        let mut it = part.split('-');
        let a: u32 = it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
        let b: u32 = it.next().and_then(|x| x.parse().ok()).unwrap_or(a);
        n += b - a + 1;
    }
    n.max(1)
}

/// A counter table: named atomic counters printed as `# ` lines.
pub struct Counters {
    pub names: &'static [&'static str],
    pub values: Vec<AtomicU64>,
}

impl Counters {
    pub fn new(names: &'static [&'static str]) -> Counters {
        Counters { names, values: names.iter().map(|_| AtomicU64::new(0)).collect() }
    }
    pub fn add(&self, i: usize, n: u64) {
        self.values[i].fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self, i: usize) -> u64 {
        self.values[i].load(Ordering::Relaxed)
    }
}

/// Blocks every signal in the calling thread (helper threads that must not take them).
pub fn block_all_signals() {
    // SAFETY: manipulates the calling thread's signal mask only.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

// ---------------------------------------------------------------------------------------------
// ABI version 2: KAIO_IOC_CANCEL_MATCH and KAIO_IOC_PGETEVENTS (ABI.md "Version 2")

pub mod v2 {
    use super::{ret, Ret};
    use kaio::uapi::*;

    /// `__NR_io_pgetevents` on x86_64.
    pub const SYS_IO_PGETEVENTS: libc::c_long = 333;

    /// What every `nr_running` is set to before a call, to see whether the kernel wrote it back.
    pub const NR_SENTINEL: u32 = 0xA5A5_A5A5;

    /// `struct __aio_sigset`: io_pgetevents' last argument.
    #[repr(C)]
    #[derive(Clone, Copy, Default, Debug)]
    pub struct AioSigset {
        pub sigmask: u64,
        pub sigsetsize: u64,
    }

    /// An argument block for KAIO_IOC_CANCEL_MATCH: `flags`, `key`, `nr_running` preset to
    /// [`NR_SENTINEL`], everything else 0.
    pub fn match_args(ctx_id: u64, flags: u32, key: u64) -> kaio_cancel_match_args {
        kaio_cancel_match_args { ctx_id, flags, key, nr_running: NR_SENTINEL, ..Default::default() }
    }

    /// KAIO_IOC_CANCEL_MATCH with the argument block at `args`.
    ///
    /// # Safety
    ///
    /// The kernel reads 64 bytes at `args` and writes `nr_running` there; it reads the timeout
    /// and writes an event through `result` as the flags in the block say.
    pub unsafe fn cancel_match_at(fd: i32, args: u64) -> Ret {
        // SAFETY: the caller vouches for the block and the pointers in it.
        unsafe { kaio::raw::ioctl(fd, KAIO_IOC_CANCEL_MATCH, args as *const u8) }
    }

    /// KAIO_IOC_CANCEL_MATCH with a local argument block (`nr_running` comes back in it).
    pub fn cancel_match(fd: i32, a: &mut kaio_cancel_match_args) -> Ret {
        // SAFETY: the block is a live local; the caller chose its timeout and result pointers
        // (memory set aside for the kernel, or nowhere).
        unsafe { cancel_match_at(fd, a as *mut kaio_cancel_match_args as u64) }
    }

    /// KAIO_IOC_PGETEVENTS.
    pub fn pgetevents(fd: i32, a: &kaio_pgetevents_args) -> Ret {
        // SAFETY: the block is a live local; the kernel writes events where `a.events` says,
        // which the caller chose.
        unsafe { kaio::raw::ioctl(fd, KAIO_IOC_PGETEVENTS, a) }
    }

    /// The native `io_pgetevents(ctx, min_nr, nr, events, timeout, usig)`.
    pub fn native_pgetevents(ctx: u64, min_nr: i64, nr: i64, events: u64, timeout: u64, usig: u64) -> Ret {
        // SAFETY: raw system call; the kernel validates every pointer.
        ret(unsafe { libc::syscall(SYS_IO_PGETEVENTS, ctx, min_nr, nr, events, timeout, usig) })
    }

    /// The calling thread's blocked-signal mask (first word of the sigset: signals 1..64).
    pub fn thread_mask() -> u64 {
        // SAFETY: reads the calling thread's mask into a zeroed set.
        unsafe {
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut old);
            std::ptr::read_unaligned(&old as *const libc::sigset_t as *const u64)
        }
    }

    /// Sets the calling thread's blocked-signal mask (first word; the rest cleared).
    pub fn set_thread_mask(mask: u64) {
        // SAFETY: writes the calling thread's mask from a zeroed set holding `mask`.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            std::ptr::write_unaligned(&mut set as *mut libc::sigset_t as *mut u64, mask);
            libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        }
    }

    /// The bit of signal `sig` in a mask word.
    pub fn sigbit(sig: i32) -> u64 {
        1u64 << (sig - 1)
    }
}
