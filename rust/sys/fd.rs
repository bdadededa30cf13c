// SPDX-License-Identifier: GPL-2.0

//! File descriptors of the caller: a referenced `struct file`, and an eventfd context.
//!
//! C headers: [`include/linux/file.h`](srctree/include/linux/file.h),
//! [`include/linux/eventfd.h`](srctree/include/linux/eventfd.h).

use super::bindings;
use core::ptr::NonNull;
use kernel::prelude::*;

/// A reference to the file behind a file descriptor (`fget`), dropped with `fput`.
///
/// # Invariants
///
/// `file` holds a reference taken by `fget`.
pub(crate) struct FileRef {
    file: NonNull<bindings::file>,
}

// SAFETY: a file reference may be used and dropped on any thread (`fput` defers as needed).
unsafe impl Send for FileRef {}
// SAFETY: as above.
unsafe impl Sync for FileRef {}

impl FileRef {
    /// `fget(fd)`: `EBADF` if `fd` is not open.
    pub(crate) fn get(fd: u32) -> Result<FileRef> {
        // SAFETY: `fget` accepts any number.
        let f = unsafe { bindings::fget(fd) };
        // INVARIANT: non-null means a reference was taken.
        NonNull::new(f).map(|file| FileRef { file }).ok_or(EBADF)
    }

    /// Whether the file has an `fsync` method.
    pub(crate) fn has_fsync(&self) -> bool {
        // SAFETY: a referenced file; `f_op` is valid while it is open.
        unsafe { (*(*self.file.as_ptr()).f_op).fsync.is_some() }
    }

    /// `vfs_fsync(file, datasync)`: 0 or a negative errno. Process context, may sleep.
    pub(crate) fn fsync(&self, datasync: bool) -> i32 {
        // SAFETY: a referenced file.
        unsafe { bindings::vfs_fsync(self.file.as_ptr(), i32::from(datasync)) }
    }

    /// The referenced `struct file`.
    pub(crate) fn as_raw(&self) -> *mut bindings::file {
        self.file.as_ptr()
    }

    /// Whether the file is a socket with an error pending (`sk_err`, which its next read or
    /// write reports and clears), as opposed to entries on its error queue, which only a
    /// `MSG_ERRQUEUE` read takes: `vfs_poll` reports `EPOLLERR` for either. Any context.
    pub(crate) fn socket_error_pending(&self) -> bool {
        // SAFETY: a referenced file; the helper reads the socket's error word once, without
        // a lock, as the socket's own poll does.
        unsafe { bindings::kaio_socket_error_pending(self.file.as_ptr()) }
    }

    /// The `struct file`'s address, which names the open file description (never 0).
    pub(crate) fn id(&self) -> u64 {
        self.as_raw() as usize as u64
    }
}

impl Drop for FileRef {
    fn drop(&mut self) {
        // SAFETY: the reference taken by `fget` (type invariant).
        unsafe { bindings::fput(self.file.as_ptr()) }
    }
}

/// A reference to an eventfd context (`eventfd_ctx_fdget`), dropped with `eventfd_ctx_put`.
///
/// # Invariants
///
/// `ctx` holds a reference.
pub(crate) struct EventFd {
    ctx: NonNull<bindings::eventfd_ctx>,
}

// SAFETY: eventfd contexts are reference counted and signalled under their own lock.
unsafe impl Send for EventFd {}
// SAFETY: as above.
unsafe impl Sync for EventFd {}

impl EventFd {
    /// `eventfd_ctx_fdget(fd)`: `EBADF` if `fd` is not open, `EINVAL` if it is not an eventfd.
    pub(crate) fn get(fd: u32) -> Result<EventFd> {
        // SAFETY: any fd number is accepted; the result is a pointer or an ERR_PTR.
        let p = unsafe { bindings::eventfd_ctx_fdget(fd as i32) };
        let v = p as isize;
        if (-(bindings::MAX_ERRNO as isize)..0).contains(&v) {
            return Err(Error::from_errno(v as i32));
        }
        // INVARIANT: a valid pointer carries a reference.
        NonNull::new(p).map(|ctx| EventFd { ctx }).ok_or(EBADF)
    }

    /// `eventfd_signal()`: adds 1 to the counter and wakes its pollers. Any context.
    pub(crate) fn signal(&self) {
        // SAFETY: a referenced context (type invariant).
        unsafe { bindings::kaio_eventfd_signal(self.ctx.as_ptr()) }
    }
}

impl Drop for EventFd {
    fn drop(&mut self) {
        // SAFETY: the reference we hold (type invariant).
        unsafe { bindings::eventfd_ctx_put(self.ctx.as_ptr()) }
    }
}
