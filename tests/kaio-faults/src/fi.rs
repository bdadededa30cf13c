//! The kernel's fault injection (Documentation/fault-injection/fault-injection.rst), aimed at
//! kaio.ko: failslab, fail_page_alloc and fail_usercopy through debugfs, each restricted by its
//! stack-trace filter (`require-start`/`require-end`, FAULT_INJECTION_STACKTRACE_FILTER) to
//! call chains that pass through the module's text, so only allocations and user copies made
//! by kaio or on its behalf (vm_mmap, read_iter, ...) are ever failed.
//!
//! Two ways of failing:
//! - `/proc/thread-self/fail-nth` (deterministic): writing N makes the N-th matching call of
//!   this thread fail; reading it back gives 0 once that fault has been injected. The kernel
//!   checks the stack filter before counting, so with only one attribute's filter open, the
//!   N-th *kaio* allocation (or user copy) of the call fails. This is the sweep.
//! - `probability`/`interval`/`times`/`space` with `task-filter` and `/proc/self/make-it-fail`
//!   (random): the soak.

use std::fs::{self, File};
use std::io::Write;
use std::os::fd::AsRawFd;

const DEBUGFS: &str = "/sys/kernel/debug";

/// Which fault-injection capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Slab,
    Page,
    Copy,
}

pub const KINDS: [Kind; 3] = [Kind::Slab, Kind::Page, Kind::Copy];

impl Kind {
    pub fn dir(self) -> &'static str {
        match self {
            Kind::Slab => "failslab",
            Kind::Page => "fail_page_alloc",
            Kind::Copy => "fail_usercopy",
        }
    }

    pub fn short(self) -> &'static str {
        match self {
            Kind::Slab => "slab",
            Kind::Page => "page",
            Kind::Copy => "usercopy",
        }
    }

    pub fn index(self) -> usize {
        match self {
            Kind::Slab => 0,
            Kind::Page => 1,
            Kind::Copy => 2,
        }
    }

    /// An allocation kind (as opposed to a user copy).
    pub fn is_alloc(self) -> bool {
        self != Kind::Copy
    }
}

/// What the running kernel offers.
pub enum Availability {
    /// No fault-injection file at all (a kernel built without fault injection).
    None,
    /// Some, not all: a broken setup, not a reason to skip.
    Partial(String),
    All,
}

fn path(kind: Kind, attr: &str) -> String {
    format!("{DEBUGFS}/{}/{attr}", kind.dir())
}

/// The attributes written (and restored at the end), per kind.
fn attrs(kind: Kind) -> &'static [&'static str] {
    const COMMON: &[&str] = &[
        "probability", "interval", "times", "space", "verbose", "verbose_ratelimit_interval_ms", "task-filter", "stacktrace-depth",
        "require-start", "require-end", "reject-start", "reject-end",
    ];
    const SLAB: &[&str] = &[
        "probability", "interval", "times", "space", "verbose", "verbose_ratelimit_interval_ms", "task-filter", "stacktrace-depth",
        "require-start", "require-end", "reject-start", "reject-end", "ignore-gfp-wait",
        "cache-filter",
    ];
    const PAGE: &[&str] = &[
        "probability", "interval", "times", "space", "verbose", "verbose_ratelimit_interval_ms", "task-filter", "stacktrace-depth",
        "require-start", "require-end", "reject-start", "reject-end", "ignore-gfp-wait",
        "ignore-gfp-highmem", "min-order",
    ];
    match kind {
        Kind::Slab => SLAB,
        Kind::Page => PAGE,
        Kind::Copy => COMMON,
    }
}

pub fn availability() -> Availability {
    let mut present = Vec::new();
    let mut missing = Vec::new();
    for kind in KINDS {
        for a in attrs(kind) {
            let p = path(kind, a);
            if fs::metadata(&p).is_ok() {
                present.push(p);
            } else {
                missing.push(p);
            }
        }
    }
    for p in ["/proc/self/fail-nth", "/proc/self/make-it-fail"] {
        if fs::metadata(p).is_ok() {
            present.push(p.into());
        } else {
            missing.push(p.into());
        }
    }
    if missing.is_empty() {
        Availability::All
    } else if present.is_empty() {
        Availability::None
    } else {
        Availability::Partial(format!("missing: {}", missing.join(" ")))
    }
}

fn write_file(p: &str, v: &str) -> Result<(), String> {
    // One write(2) of the whole value: debugfs attribute files parse a single write.
    let mut f = fs::OpenOptions::new().write(true).open(p).map_err(|e| format!("open {p}: {e}"))?;
    f.write_all(v.as_bytes()).map_err(|e| format!("write {v:?} to {p}: {e}"))
}

fn read_file(p: &str) -> Result<String, String> {
    fs::read_to_string(p).map(|s| s.trim().to_string()).map_err(|e| format!("read {p}: {e}"))
}

/// The module's text: `[start, end)`.
#[derive(Clone, Copy)]
pub struct Range {
    pub start: u64,
    pub end: u64,
}

fn hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok()
}

/// kaio's code addresses: from the start of its text (the `.text` section, and the base that
/// `/proc/modules` prints, which is that of the module's text allocation) to that start plus
/// the module's whole size (an over-estimate of the text: harmless, nothing else is loaded).
pub fn module_range() -> Result<Range, String> {
    let modules = read_file("/proc/modules")?;
    let line = modules
        .lines()
        .find(|l| l.starts_with("kaio "))
        .ok_or("kaio is not in /proc/modules")?;
    let f: Vec<&str> = line.split_whitespace().collect();
    let size: u64 = f.get(1).and_then(|s| s.parse().ok()).ok_or(format!("bad line {line:?}"))?;
    let base = f.get(5).and_then(|s| hex(s)).filter(|&b| b != 0);
    let text = read_file("/sys/module/kaio/sections/.text").ok().and_then(|s| hex(&s)).filter(|&t| t != 0);
    // Every text section (.text, .text.unlikely, ...) must lie in the range.
    let mut lowest = None::<u64>;
    if let Ok(dir) = fs::read_dir("/sys/module/kaio/sections") {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".text") || name == ".noinstr.text" {
                if let Some(a) = read_file(&e.path().to_string_lossy()).ok().and_then(|s| hex(&s)) {
                    if a != 0 {
                        lowest = Some(lowest.map_or(a, |l| l.min(a)));
                    }
                }
            }
        }
    }
    let start = [base, text, lowest].into_iter().flatten().min().ok_or("no address for kaio's text (kallsyms hidden?)")?;
    Ok(Range { start, end: start + size })
}

/// Control of the three capabilities, restricted to kaio.
pub struct Fi {
    pub range: Range,
    nth: File,
    saved: Vec<(String, String)>,
    restored: bool,
}

/// `require-start`/`require-end` that no stack matches: the capability is off for fail-nth too.
const NEVER: (u64, u64) = (1, 1);

impl Fi {
    /// Saves the current settings and sets every capability to: nothing fails unless a fault
    /// is asked for (probability 0, fail-nth 0), allocations that may sleep and order-0 pages
    /// are candidates too, and no stack matches until [`Fi::select`].
    pub fn new(range: Range) -> Result<Fi, String> {
        let mut saved = Vec::new();
        for kind in KINDS {
            for a in attrs(kind) {
                let p = path(kind, a);
                saved.push((p.clone(), read_file(&p)?));
            }
        }
        saved.push(("/proc/self/make-it-fail".into(), read_file("/proc/self/make-it-fail")?));
        let nth = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/proc/thread-self/fail-nth")
            .map_err(|e| format!("open /proc/thread-self/fail-nth: {e}"))?;
        let fi = Fi { range, nth, saved, restored: false };
        fi.set_nth(0)?;
        for kind in KINDS {
            let w = |a: &str, v: &str| write_file(&path(kind, a), v);
            w("probability", "0")?;
            w("interval", "1")?;
            w("times", "-1")?;
            w("space", "0")?;
            // One "FAULT_INJECTION: forcing a failure" line per fault that is not __GFP_NOWARN,
            // not rate-limited: the sweep counts them in /dev/kmsg.
            w("verbose", "1")?;
            w("verbose_ratelimit_interval_ms", "0")?;
            w("task-filter", "Y")?;
            w("stacktrace-depth", "32")?;
            w("reject-start", "0")?;
            w("reject-end", "0")?;
            w("require-start", &NEVER.0.to_string())?;
            w("require-end", &NEVER.1.to_string())?;
            match kind {
                Kind::Slab => {
                    w("ignore-gfp-wait", "N")?;
                    w("cache-filter", "N")?;
                }
                Kind::Page => {
                    w("ignore-gfp-wait", "N")?;
                    w("ignore-gfp-highmem", "N")?;
                    w("min-order", "0")?;
                }
                Kind::Copy => {}
            }
        }
        Ok(fi)
    }

    /// Opens the stack filter of `kinds` on kaio's text; closes the others.
    pub fn select(&self, kinds: &[Kind]) -> Result<(), String> {
        for kind in KINDS {
            let (s, e) = if kinds.contains(&kind) { (self.range.start, self.range.end) } else { NEVER };
            // Narrow first (end, then start) so that no wider window ever opens in between.
            write_file(&path(kind, "require-end"), &format!("{e:#x}"))?;
            write_file(&path(kind, "require-start"), &format!("{s:#x}"))?;
        }
        Ok(())
    }

    fn set_nth(&self, n: u32) -> Result<(), String> {
        let s = n.to_string();
        // SAFETY: writes `s` from a live buffer to our own fd.
        let r = unsafe { libc::write(self.nth.as_raw_fd(), s.as_ptr().cast(), s.len()) };
        if r != s.len() as isize {
            return Err(format!("write {n} to fail-nth: {}", std::io::Error::last_os_error()));
        }
        Ok(())
    }

    fn get_nth(&self) -> Result<u32, String> {
        let mut buf = [0u8; 32];
        // SAFETY: reads into a live buffer from our own fd.
        let r = unsafe { libc::pread(self.nth.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if r <= 0 {
            return Err(format!("read fail-nth: {}", std::io::Error::last_os_error()));
        }
        std::str::from_utf8(&buf[..r as usize])
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| format!("fail-nth reads {:?}", String::from_utf8_lossy(&buf[..r as usize])))
    }

    /// Makes the `k`-th matching call of this thread fail.
    pub fn arm(&self, k: u32) {
        self.set_nth(k).expect("arming fail-nth");
    }

    /// Cancels what is left of the armed count; returns whether the fault was injected.
    pub fn disarm(&self) -> bool {
        let left = self.get_nth().expect("reading fail-nth");
        self.set_nth(0).expect("clearing fail-nth");
        left == 0
    }

    /// Random mode for the soak: every matching call of a task with make-it-fail fails with
    /// `percent` probability (every `interval`-th candidate), at most `times` times per kind.
    pub fn random(&self, percent: u32, interval: u32, times: i32) -> Result<(), String> {
        for kind in KINDS {
            let w = |a: &str, v: &str| write_file(&path(kind, a), v);
            // The soak's messages are rate-limited again, as by default.
            let p = path(kind, "verbose_ratelimit_interval_ms");
            if let Some((_, v)) = self.saved.iter().find(|(q, _)| *q == p) {
                w("verbose_ratelimit_interval_ms", v)?;
            }
            w("times", &times.to_string())?;
            w("interval", &interval.to_string())?;
            w("space", "0")?;
            w("probability", &percent.to_string())?;
        }
        Ok(())
    }

    /// Stops random mode; returns what is left of each kind's `times`.
    pub fn random_off(&self) -> Result<[i32; 3], String> {
        let mut left = [0; 3];
        for kind in KINDS {
            write_file(&path(kind, "probability"), "0")?;
            left[kind.index()] = read_file(&path(kind, "times"))?.parse().map_err(|e| format!("times: {e}"))?;
        }
        Ok(left)
    }

    /// `/proc/thread-self/make-it-fail` of this thread (the task filter's flag).
    pub fn make_it_fail(&self, on: bool) -> Result<(), String> {
        write_file("/proc/thread-self/make-it-fail", if on { "1" } else { "0" })
    }

    /// Puts every setting back as it was found.
    pub fn restore(&mut self) -> Result<(), String> {
        if self.restored {
            return Ok(());
        }
        self.restored = true;
        let _ = self.set_nth(0);
        let mut first_err = Ok(());
        // Probability first: nothing may fail while the filters are being widened back.
        let mut order: Vec<&(String, String)> = self.saved.iter().filter(|(p, _)| p.ends_with("/probability")).collect();
        order.extend(self.saved.iter().filter(|(p, _)| !p.ends_with("/probability")));
        for (p, v) in order {
            if let Err(e) = write_file(p, v) {
                if first_err.is_ok() {
                    first_err = Err(e);
                }
            }
        }
        first_err
    }
}

impl Drop for Fi {
    fn drop(&mut self) {
        let _ = self.restore();
    }
}
