//! The two backends of the oracle: the native system calls (`io_setup(2)` ...) and the ioctls
//! of `/dev/kaio`, behind one trait, plus the runner that puts a case written once, generic over
//! the backend, through both and compares what they did.
//!
//! A comparable case is a `fn(&dyn Aio, &mut Obs) -> CaseResult`. It checks every result
//! against the documented (Linux 6.12) expectation with [`expect_eq!`], which also records the
//! observation in the [`Obs`] log. [`both`] runs the case on the native syscalls and on a fresh
//! `/dev/kaio` domain; the case passes only if both pass and both logs are identical, so a
//! recorded value that no expectation pins down is still compared against the kernel.

use kaio::uapi::*;
use std::fmt;
use std::os::fd::RawFd;
use std::sync::OnceLock;

/// An errno value, shown by name.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", errno_name(self.0))
    }
}

#[allow(dead_code)]
pub const EPERM: Errno = Errno(libc::EPERM);
pub const EINTR: Errno = Errno(libc::EINTR);
pub const EBADF: Errno = Errno(libc::EBADF);
pub const EAGAIN: Errno = Errno(libc::EAGAIN);
#[allow(dead_code)]
pub const ENOMEM: Errno = Errno(libc::ENOMEM);
#[allow(dead_code)]
pub const EACCES: Errno = Errno(libc::EACCES);
pub const EFAULT: Errno = Errno(libc::EFAULT);
pub const EINVAL: Errno = Errno(libc::EINVAL);
#[allow(dead_code)]
pub const ENOTTY: Errno = Errno(libc::ENOTTY);
pub const EOPNOTSUPP: Errno = Errno(libc::EOPNOTSUPP);
pub const EINPROGRESS: Errno = Errno(libc::EINPROGRESS);
#[allow(dead_code)]
pub const ECANCELED: Errno = Errno(libc::ECANCELED);

pub fn errno_name(e: i32) -> String {
    let n = match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EINVAL => "EINVAL",
        libc::ENOTTY => "ENOTTY",
        libc::ENOSYS => "ENOSYS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EINPROGRESS => "EINPROGRESS",
        libc::ECANCELED => "ECANCELED",
        libc::EOVERFLOW => "EOVERFLOW",
        libc::EALREADY => "EALREADY",
        libc::ETIME => "ETIME",
        libc::ESRCH => "ESRCH",
        _ => return format!("errno {e}"),
    };
    n.to_string()
}

/// What a call returns: the syscall's non-negative value, or `Err(errno)`.
pub type Ret = Result<i64, Errno>;

fn ret(r: libc::c_long) -> Ret {
    if r < 0 {
        Err(Errno(kaio::raw::errno()))
    } else {
        Ok(r)
    }
}

/// The five AIO calls, with the native system call signatures.
pub trait Aio: Sync {
    fn name(&self) -> &'static str;
    fn is_kaio(&self) -> bool;
    /// Which requests the generic cases use on this backend (see `util::Fx`): kaio's DELAY
    /// (true), or POLL on pipes exactly as natively (false), which makes every observation
    /// comparable with the native run, `res` values included.
    fn uses_delay(&self) -> bool;
    /// The `/dev/kaio` fd of this domain (kaio only).
    fn fd(&self) -> Option<RawFd>;
    fn setup(&self, nr_events: u32, ctxp: *mut u64) -> Ret;
    fn destroy(&self, ctx: u64) -> Ret;
    fn submit(&self, ctx: u64, nr: i64, iocbpp: *const *mut Iocb) -> Ret;
    fn getevents(&self, ctx: u64, min_nr: i64, nr: i64, events: *mut IoEvent, timeout: *const KernelTimespec) -> Ret;
    fn cancel(&self, ctx: u64, iocb: *mut Iocb, result: *mut IoEvent) -> Ret;
    /// The file holding the current sum of all contexts' nr_events (aio-nr / kaio's `nr`).
    fn nr_path(&self) -> &'static str;
    /// The file holding the limit (aio-max-nr / kaio's `max_nr`).
    fn max_nr_path(&self) -> &'static str;
    /// Whether this backend implements `opcode` (kaio implements Linux opcodes one by one).
    fn supports(&self, opcode: u16) -> bool;
}

/// The native system calls of the running kernel.
pub struct Native;

impl Aio for Native {
    fn name(&self) -> &'static str {
        "native"
    }
    fn is_kaio(&self) -> bool {
        false
    }
    fn uses_delay(&self) -> bool {
        false
    }
    fn fd(&self) -> Option<RawFd> {
        None
    }
    fn setup(&self, nr_events: u32, ctxp: *mut u64) -> Ret {
        // SAFETY: raw system call; the kernel validates the pointer.
        ret(unsafe { libc::syscall(libc::SYS_io_setup, nr_events as libc::c_ulong, ctxp) })
    }
    fn destroy(&self, ctx: u64) -> Ret {
        // SAFETY: raw system call with a plain integer.
        ret(unsafe { libc::syscall(libc::SYS_io_destroy, ctx) })
    }
    fn submit(&self, ctx: u64, nr: i64, iocbpp: *const *mut Iocb) -> Ret {
        // SAFETY: raw system call; the kernel validates the pointers.
        ret(unsafe { libc::syscall(libc::SYS_io_submit, ctx, nr, iocbpp) })
    }
    fn getevents(&self, ctx: u64, min_nr: i64, nr: i64, events: *mut IoEvent, timeout: *const KernelTimespec) -> Ret {
        // SAFETY: raw system call; the kernel validates the pointers.
        ret(unsafe { libc::syscall(libc::SYS_io_getevents, ctx, min_nr, nr, events, timeout) })
    }
    fn cancel(&self, ctx: u64, iocb: *mut Iocb, result: *mut IoEvent) -> Ret {
        // SAFETY: raw system call; the kernel validates the pointers.
        ret(unsafe { libc::syscall(libc::SYS_io_cancel, ctx, iocb, result) })
    }
    fn nr_path(&self) -> &'static str {
        "/proc/sys/fs/aio-nr"
    }
    fn max_nr_path(&self) -> &'static str {
        "/proc/sys/fs/aio-max-nr"
    }
    fn supports(&self, _opcode: u16) -> bool {
        true
    }
}

/// The opcodes kaio implements so far. Cases that need another opcode skip their kaio half
/// ("not yet implemented in kaio"); add an opcode here when the module gains it.
pub const KAIO_OPCODES: &[u16] =
    &[KAIO_CMD_DELAY, IOCB_CMD_PREAD, IOCB_CMD_PWRITE, IOCB_CMD_FSYNC, IOCB_CMD_FDSYNC, IOCB_CMD_POLL, IOCB_CMD_PREADV, IOCB_CMD_PWRITEV];

pub const KAIO_PARAM_NR: &str = "/sys/module/kaio/parameters/nr";
pub const KAIO_PARAM_MAX_NR: &str = "/sys/module/kaio/parameters/max_nr";

/// One open file description of `/dev/kaio` (one domain), closed on drop.
pub struct Kaio {
    pub fd: RawFd,
    /// The generic cases use DELAY requests (else POLL, as natively).
    pub delay: bool,
}

impl Kaio {
    pub fn open() -> Result<Kaio, String> {
        kaio::raw::open().map(|fd| Kaio { fd, delay: true }).map_err(|e| format!("open /dev/kaio: {:?}", Errno(e)))
    }
}

impl Drop for Kaio {
    fn drop(&mut self) {
        // SAFETY: the fd is owned by this value.
        unsafe { libc::close(self.fd) };
    }
}

impl Aio for Kaio {
    fn name(&self) -> &'static str {
        if self.delay {
            "kaio"
        } else {
            "kaio-poll"
        }
    }
    fn is_kaio(&self) -> bool {
        true
    }
    fn uses_delay(&self) -> bool {
        self.delay
    }
    fn fd(&self) -> Option<RawFd> {
        Some(self.fd)
    }
    fn setup(&self, nr_events: u32, ctxp: *mut u64) -> Ret {
        kaio::raw::setup(self.fd, nr_events, ctxp).map_err(Errno)
    }
    fn destroy(&self, ctx: u64) -> Ret {
        kaio::raw::destroy(self.fd, ctx).map_err(Errno)
    }
    fn submit(&self, ctx: u64, nr: i64, iocbpp: *const *mut Iocb) -> Ret {
        kaio::raw::submit(self.fd, ctx, nr, iocbpp).map_err(Errno)
    }
    fn getevents(&self, ctx: u64, min_nr: i64, nr: i64, events: *mut IoEvent, timeout: *const KernelTimespec) -> Ret {
        kaio::raw::getevents(self.fd, ctx, min_nr, nr, events, timeout).map_err(Errno)
    }
    fn cancel(&self, ctx: u64, iocb: *mut Iocb, result: *mut IoEvent) -> Ret {
        kaio::raw::cancel(self.fd, ctx, iocb, result).map_err(Errno)
    }
    fn nr_path(&self) -> &'static str {
        KAIO_PARAM_NR
    }
    fn max_nr_path(&self) -> &'static str {
        KAIO_PARAM_MAX_NR
    }
    fn supports(&self, opcode: u16) -> bool {
        KAIO_OPCODES.contains(&opcode)
    }
}

/// The observation log of one run of a comparable case.
#[derive(Default)]
pub struct Obs {
    pub log: Vec<(String, String)>,
}

impl Obs {
    /// Records an observation that both backends must agree on.
    pub fn rec(&mut self, label: impl fmt::Display, v: impl fmt::Debug) {
        self.log.push((label.to_string(), format!("{v:?}")));
    }
}

/// Records `got` under `label` and fails the case unless it equals `want`.
#[macro_export]
macro_rules! expect_eq {
    ($o:expr, $label:expr, $got:expr, $want:expr) => {{
        let label = $label;
        let got = $got;
        let want = $want;
        $o.rec(&label, &got);
        if got != want {
            return Err(format!("{}:{}: {}: expected {:?}, got {:?}", file!(), line!(), label, want, got));
        }
    }};
}

/// Like [`expect_eq!`] without recording (for values that legitimately differ by backend,
/// e.g. the `res` of a cancelled request: 0 for a native POLL, -ECANCELED for a kaio DELAY).
#[macro_export]
macro_rules! want_eq {
    ($label:expr, $got:expr, $want:expr) => {{
        let got = $got;
        let want = $want;
        if got != want {
            return Err(format!("{}:{}: {}: expected {:?}, got {:?}", file!(), line!(), $label, want, got));
        }
    }};
}

/// Which backends this run uses.
#[derive(Clone, Copy, Debug)]
pub struct Mode {
    pub native: bool,
    pub kaio: bool,
    /// The native half of cases that change the global aio-max-nr sysctl may run.
    pub allow_sysctl: bool,
}

static MODE: OnceLock<Mode> = OnceLock::new();

pub fn set_mode(m: Mode) {
    let _ = MODE.set(m);
}

pub fn mode() -> Mode {
    *MODE.get().unwrap_or(&Mode { native: true, kaio: true, allow_sysctl: true })
}

/// A comparable case.
pub type Body = fn(&dyn Aio, &mut Obs) -> crate::ktap::CaseResult;

enum Half {
    Pass(Obs),
    Skip(String),
    Fail(String),
}

fn run_half(b: &dyn Aio, body: Body) -> Half {
    let mut o = Obs::default();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(b, &mut o)));
    match r {
        Ok(Ok(())) => Half::Pass(o),
        Ok(Err(why)) if why.starts_with("SKIP ") => Half::Skip(why[5..].to_string()),
        Ok(Err(why)) => Half::Fail(why),
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Half::Fail(format!("panicked: {msg}"))
        }
    }
}

/// Runs `body` on the native syscalls and on fresh `/dev/kaio` domains (as the mode allows):
/// once with DELAY requests and, once kaio implements POLL, once with the very requests of the
/// native run. Every run must pass, and each kaio run must agree with the native one.
pub fn both(body: Body) -> crate::ktap::CaseResult {
    let m = mode();
    let mut halves: Vec<(&'static str, Half)> = Vec::new();
    if m.native {
        halves.push(("native", run_half(&Native, body)));
    }
    if m.kaio {
        let mut kinds = vec![("kaio", true)];
        if KAIO_OPCODES.contains(&IOCB_CMD_POLL) {
            kinds.push(("kaio-poll", false));
        }
        for (name, delay) in kinds {
            let h = match Kaio::open() {
                Ok(k) => run_half(&Kaio { delay, ..k }, body),
                Err(e) => Half::Fail(e),
            };
            halves.push((name, h));
        }
    }
    let mut fails = Vec::new();
    let mut skips = Vec::new();
    for (name, h) in &halves {
        match h {
            Half::Fail(why) => fails.push(format!("{name}: {why}")),
            Half::Skip(why) => skips.push(format!("{name}: {why}")),
            Half::Pass(_) => {}
        }
    }
    if let Some(("native", Half::Pass(n))) = halves.first().map(|(a, b)| (*a, b)) {
        for (name, h) in &halves[1..] {
            let Half::Pass(k) = h else { continue };
            let len = n.log.len().max(k.log.len());
            let mut diffs = Vec::new();
            for i in 0..len {
                let (a, b) = (n.log.get(i), k.log.get(i));
                if a != b {
                    let show = |x: Option<&(String, String)>| x.map_or("(nothing)".to_string(), |(l, v)| format!("{l} = {v}"));
                    diffs.push(format!("step {i}: native {} / {name} {}", show(a), show(b)));
                    if diffs.len() >= 8 {
                        break;
                    }
                }
            }
            if !diffs.is_empty() {
                fails.push(format!("native and {name} disagree:\n{}", diffs.join("\n")));
            }
        }
    }
    if !fails.is_empty() {
        let mut msg = fails.join("\n");
        for s in &skips {
            msg.push_str(&format!("\n(skipped {s})"));
        }
        return Err(msg);
    }
    if !skips.is_empty() {
        let passed: Vec<&str> = halves.iter().filter(|(_, h)| matches!(h, Half::Pass(_))).map(|(n, _)| *n).collect();
        let mut msg = format!("SKIP {}", skips.join("; "));
        if !passed.is_empty() {
            msg.push_str(&format!(" ({} passed)", passed.join(", ")));
        }
        return Err(msg);
    }
    Ok(())
}

/// Skips the kaio half of a case that needs an opcode kaio does not implement yet.
pub fn need_opcode(b: &dyn Aio, opcode: u16) -> crate::ktap::CaseResult {
    if b.supports(opcode) {
        Ok(())
    } else {
        Err(format!("SKIP not yet implemented in kaio (opcode {opcode})"))
    }
}
