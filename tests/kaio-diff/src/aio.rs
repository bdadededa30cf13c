//! The two backends: the native system calls and the ioctls of one `/dev/kaio` domain, behind
//! one trait with the system calls' signatures (`Err(errno)` where the call sets `errno`).

use kaio::uapi::*;
use std::os::fd::RawFd;

pub type Ret = Result<i64, i32>;

fn ret(r: libc::c_long) -> Ret {
    if r < 0 {
        Err(kaio::raw::errno())
    } else {
        Ok(r)
    }
}

pub trait Aio: Sync + Send {
    fn name(&self) -> &'static str;
    fn is_kaio(&self) -> bool;
    fn setup(&self, nr_events: u32, ctxp: *mut u64) -> Ret;
    fn destroy(&self, ctx: u64) -> Ret;
    fn submit(&self, ctx: u64, nr: i64, iocbpp: *const *mut Iocb) -> Ret;
    fn getevents(&self, ctx: u64, min_nr: i64, nr: i64, events: *mut IoEvent, timeout: *const KernelTimespec) -> Ret;
    fn cancel(&self, ctx: u64, iocb: *mut Iocb, result: *mut IoEvent) -> Ret;
    /// The `/dev/kaio` fd (kaio only); a child process sharing the fd table uses it.
    fn dev_fd(&self) -> RawFd {
        -1
    }
}

/// The running kernel's own io_setup(2) ... io_cancel(2).
pub struct Native;

impl Aio for Native {
    fn name(&self) -> &'static str {
        "native"
    }
    fn is_kaio(&self) -> bool {
        false
    }
    fn setup(&self, nr_events: u32, ctxp: *mut u64) -> Ret {
        // SAFETY: raw system call; the kernel checks the pointer.
        ret(unsafe { libc::syscall(libc::SYS_io_setup, nr_events as libc::c_ulong, ctxp) })
    }
    fn destroy(&self, ctx: u64) -> Ret {
        // SAFETY: raw system call with an integer.
        ret(unsafe { libc::syscall(libc::SYS_io_destroy, ctx) })
    }
    fn submit(&self, ctx: u64, nr: i64, iocbpp: *const *mut Iocb) -> Ret {
        // SAFETY: raw system call; the kernel checks the pointers.
        ret(unsafe { libc::syscall(libc::SYS_io_submit, ctx, nr, iocbpp) })
    }
    fn getevents(&self, ctx: u64, min_nr: i64, nr: i64, events: *mut IoEvent, timeout: *const KernelTimespec) -> Ret {
        // SAFETY: raw system call; the kernel checks the pointers.
        ret(unsafe { libc::syscall(libc::SYS_io_getevents, ctx, min_nr, nr, events, timeout) })
    }
    fn cancel(&self, ctx: u64, iocb: *mut Iocb, result: *mut IoEvent) -> Ret {
        // SAFETY: raw system call; the kernel checks the pointers.
        ret(unsafe { libc::syscall(libc::SYS_io_cancel, ctx, iocb, result) })
    }
}

/// One open file description of `/dev/kaio` (one domain), closed on drop.
pub struct Kaio {
    pub fd: RawFd,
}

impl Kaio {
    pub fn open() -> Result<Kaio, String> {
        kaio::raw::open().map(|fd| Kaio { fd }).map_err(|e| format!("open /dev/kaio: {}", errno_name(e)))
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
        "kaio"
    }
    fn is_kaio(&self) -> bool {
        true
    }
    fn setup(&self, nr_events: u32, ctxp: *mut u64) -> Ret {
        kaio::raw::setup(self.fd, nr_events, ctxp)
    }
    fn destroy(&self, ctx: u64) -> Ret {
        kaio::raw::destroy(self.fd, ctx)
    }
    fn submit(&self, ctx: u64, nr: i64, iocbpp: *const *mut Iocb) -> Ret {
        kaio::raw::submit(self.fd, ctx, nr, iocbpp)
    }
    fn getevents(&self, ctx: u64, min_nr: i64, nr: i64, events: *mut IoEvent, timeout: *const KernelTimespec) -> Ret {
        kaio::raw::getevents(self.fd, ctx, min_nr, nr, events, timeout)
    }
    fn cancel(&self, ctx: u64, iocb: *mut Iocb, result: *mut IoEvent) -> Ret {
        kaio::raw::cancel(self.fd, ctx, iocb, result)
    }
    fn dev_fd(&self) -> RawFd {
        self.fd
    }
}

/// A backend by name: a new `/dev/kaio` domain for "kaio".
pub fn open(kaio: bool) -> Result<Box<dyn Aio>, String> {
    if kaio {
        Ok(Box::new(Kaio::open()?))
    } else {
        Ok(Box::new(Native))
    }
}

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
        libc::EFBIG => "EFBIG",
        libc::ENOSPC => "ENOSPC",
        libc::ESPIPE => "ESPIPE",
        libc::EPIPE => "EPIPE",
        libc::ENOTTY => "ENOTTY",
        libc::ENOSYS => "ENOSYS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EINPROGRESS => "EINPROGRESS",
        libc::ECANCELED => "ECANCELED",
        libc::EOVERFLOW => "EOVERFLOW",
        libc::ENXIO => "ENXIO",
        _ => return format!("errno {e}"),
    };
    n.to_string()
}

/// A return value for messages: the count, or the errno's name.
pub fn show(r: Ret) -> String {
    match r {
        Ok(v) => v.to_string(),
        Err(e) => errno_name(e),
    }
}
