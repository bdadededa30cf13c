// SPDX-License-Identifier: GPL-2.0

//! A `struct kiocb` that drives one read or write through a file's `read_iter`/`write_iter`,
//! with the user buffer imported as an `iov_iter` (`import_ubuf` / `import_iovec`).
//!
//! C headers: [`include/linux/fs.h`](srctree/include/linux/fs.h),
//! [`include/linux/uio.h`](srctree/include/linux/uio.h).
//!
//! Files without native async support complete inside `read_iter`/`write_iter` and the result
//! is returned at once. A file that queues the I/O (`-EIOCBQUEUED`) completes it later through
//! `ki_complete`, possibly in interrupt context; until then the kiocb holds the `Arc<T>` it was
//! started with and hands it to [`RwDone::rw_done`].

use super::{arc_slot::ArcSlot, bindings, fd::FileRef};
use core::{
    ptr,
    sync::atomic::{AtomicBool, Ordering},
};
use kernel::{prelude::*, types::Opaque};
use super::arc::Arc;

/// How a transfer waits in a `KAIO_SETUP_POLLED_RW` context ([`RwKiocb::waiting`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Waiting {
    /// It does not: the transfer runs as without the flag.
    Never,
    /// Non-blocking attempts, with waits for readiness between them.
    NoWait,
    /// Wait for readiness, then one blocking attempt in a worker.
    PollThenBlock,
}

/// How a `KAIO_SETUP_POLLED_RW` context runs a read or write of `file` with `rw_flags`: never
/// waiting for regular files, block devices, `O_NONBLOCK` files and `RWF_NOWAIT` requests (as
/// without the flag); with non-blocking attempts for files that honour `IOCB_NOWAIT`; else
/// poll, then a blocking attempt in a worker.
pub(crate) fn waiting_for(file: &FileRef, rw_flags: u32) -> Waiting {
    let f = file.as_raw();
    // SAFETY: a referenced file and its inode.
    let (fmt, f_mode, f_flags) = unsafe { ((*(*f).f_inode).i_mode as u32 & bindings::S_IFMT, (*f).f_mode, (*f).f_flags) };
    if fmt == bindings::S_IFREG || fmt == bindings::S_IFBLK || f_flags & O_NONBLOCK != 0 || rw_flags & RWF_NOWAIT != 0 {
        Waiting::Never
    } else if f_mode & FMODE_NOWAIT != 0 || fmt == bindings::S_IFIFO {
        // A FIFO's methods are always `pipe_read`/`pipe_write`, which honour IOCB_NOWAIT (only
        // pipes made by pipe(2) carry FMODE_NOWAIT).
        Waiting::NoWait
    } else {
        Waiting::PollThenBlock
    }
}

/// What one [`RwKiocb::attempt`] did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Attempt {
    /// Finished with this result (bytes moved or a negative errno).
    Done(i64),
    /// Nothing could move without blocking; nothing moved.
    WouldBlock,
    /// The file queued the transfer: `rw_done` follows.
    Queued,
}

/// A user buffer imported once and kept, in place, for the attempts of a transfer; one user
/// at a time claims it (the attempting owner of the transfer, by its protocol), by a flag
/// rather than a lock: a claim never waits.
///
/// # Invariants
///
/// - Made only in place ([`HeldBuf::new`] is a `PinInit`) and `!Unpin`: it never moves, so
///   `iter` may point to `fast`.
/// - `held` is accessed only through a [`HeldClaim`], and at most one exists at a time:
///   `claimed` is true from its creation until its drop.
#[pin_data]
pub(crate) struct HeldBuf {
    claimed: AtomicBool,
    held: core::cell::UnsafeCell<Held>,
    #[pin]
    _pin: core::marker::PhantomPinned,
}

/// `iov_iter_count(iter)`: the bytes left, read in place (the inline function is this one
/// field read; every iterator type keeps its count there).
///
/// # Safety
///
/// `iter` is initialised (all-zero counts as empty).
unsafe fn iter_count(iter: &bindings::iov_iter) -> usize {
    // SAFETY: the count member of the union's struct, which every iterator type sets (and the
    // user-buffer overlay's length shares).
    unsafe { iter.__bindgen_anon_1.__bindgen_anon_1.as_ref().count }
}

/// # Invariants
///
/// `iter` is all-zero (empty) or was initialised by `import_ubuf`/`import_iovec` over `fast`
/// or `alloc`; `alloc` is null or the array `import_iovec` allocated, freed on drop. `fast` is
/// written by `import_iovec` before `iter` refers to it (left uninitialised until then: most
/// transfers have a single buffer and never touch it).
struct Held {
    iter: bindings::iov_iter,
    fast: core::mem::MaybeUninit<[bindings::iovec; bindings::UIO_FASTIOV as usize]>,
    alloc: *mut bindings::iovec,
}

// SAFETY: the iterator refers to user memory of the submitter and to memory `Held` owns; it
// is used by one thread at a time (the claim).
unsafe impl Send for HeldBuf {}
// SAFETY: shared references reach the buffer only through the exclusive claim.
unsafe impl Sync for HeldBuf {}

impl HeldBuf {
    /// An empty buffer, for [`RwKiocb::import_held`].
    pub(crate) fn new() -> impl PinInit<HeldBuf> {
        pin_init!(HeldBuf {
            claimed: AtomicBool::new(false),
            held: core::cell::UnsafeCell::new(Held {
                // SAFETY: all-zero is a valid (empty) iterator.
                iter: unsafe { core::mem::zeroed() },
                fast: core::mem::MaybeUninit::uninit(),
                alloc: ptr::null_mut(),
            }),
            _pin: core::marker::PhantomPinned,
        })
    }

    /// The buffer, exclusively, until the claim is dropped; `None` if it is claimed already.
    pub(crate) fn claim(&self) -> Option<HeldClaim<'_>> {
        self.claimed
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            // INVARIANT: the flag was false and is ours now.
            .map(|_| HeldClaim { buf: self })
    }
}

/// The claim of a [`HeldBuf`].
pub(crate) struct HeldClaim<'a> {
    buf: &'a HeldBuf,
}

impl HeldClaim<'_> {
    /// The buffer, in place (it never moves: type invariant of `HeldBuf`).
    fn held(&mut self) -> *mut Held {
        self.buf.held.get()
    }

    /// Bytes left to transfer.
    pub(crate) fn remaining(&mut self) -> usize {
        // SAFETY: ours while claimed; an initialised (or empty) iterator.
        unsafe { iter_count(&(*self.held()).iter) }
    }

    /// Copies `data` into the user buffer (a read's) at its position, which advances; returns
    /// the bytes copied, fewer if the buffer faults. The submitter's address space must be in
    /// use (the submitter, or a worker in [`super::mm::MmRef::run_in`]).
    pub(crate) fn copy_out(&mut self, data: &[u8]) -> usize {
        // SAFETY: ours while claimed; `_copy_to_iter` reads `data` and writes at most its
        // length into the iterator's memory, user memory of the address space in use, where a
        // fault ends the copy.
        unsafe { bindings::_copy_to_iter(data.as_ptr().cast(), data.len(), &mut (*self.held()).iter) }
    }

    /// Copies from the user buffer (a write's) at its position, which advances, into `buf`, up
    /// to its length; returns the bytes copied, fewer if the buffer faults. Address space as for
    /// [`HeldClaim::copy_out`].
    pub(crate) fn copy_in(&mut self, buf: &mut [u8]) -> usize {
        // SAFETY: as in `copy_out`, the other way: `buf` is written, at most its length.
        unsafe { bindings::_copy_from_iter(buf.as_mut_ptr().cast(), buf.len(), &mut (*self.held()).iter) }
    }

    /// Moves the position back by `n` bytes that [`HeldClaim::copy_in`] took but the file did
    /// not write.
    pub(crate) fn give_back(&mut self, n: usize) {
        // SAFETY: ours while claimed; the caller advanced the iterator by at least `n`.
        unsafe { bindings::iov_iter_revert(&mut (*self.held()).iter, n) }
    }
}

impl Drop for HeldClaim<'_> {
    fn drop(&mut self) {
        self.buf.claimed.store(false, Ordering::Release);
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if !self.alloc.is_null() {
            // SAFETY: allocated by `import_iovec` (type invariant); the iterator dies with us.
            unsafe { bindings::kfree(self.alloc.cast()) };
        }
    }
}

/// What runs when a queued read or write completes.
pub(crate) trait RwDone: Send + Sync + Sized {
    /// Any context, hard irq included.
    fn rw_done(this: Arc<Self>, res: i64);
}

/// Direction of the transfer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Dir {
    Read,
    Write,
}

impl Dir {
    /// The direction of an `iov_iter` over the buffer: the transfer's destination for a read
    /// (`ITER_DEST`), its source for a write (`ITER_SOURCE`).
    fn iter_dir(self) -> u32 {
        match self {
            Dir::Read => 0,  // ITER_DEST
            Dir::Write => 1, // ITER_SOURCE
        }
    }
}

/// A kiocb for one transfer on `file`.
///
/// # Invariants
///
/// - `kiocb.ki_filp` is `file`'s file, which `file` keeps referenced.
/// - `owner` is empty except while the file owns a queued transfer; then it holds an
///   `Arc<T>` that `ki_complete` takes back.
#[pin_data]
pub(crate) struct RwKiocb<T: RwDone> {
    #[pin]
    kiocb: Opaque<bindings::kiocb>,
    file: Option<FileRef>,
    dir: Dir,
    owner: ArcSlot<T>,
    /// Freeze protection of a write to a regular file is held (`kiocb_start_write`).
    write_started: AtomicBool,
}

// SAFETY: the kiocb is only touched by its submitter and then by its completion, in sequence.
unsafe impl<T: RwDone> Send for RwKiocb<T> {}
// SAFETY: as above.
unsafe impl<T: RwDone> Sync for RwKiocb<T> {}

// Flags defined in C with `__force` casts, which bindgen cannot evaluate (include/linux/fs.h,
// include/uapi/linux/fs.h).
const FMODE_READ: u32 = 1 << 0;
const FMODE_WRITE: u32 = 1 << 1;
const FOP_UNSIGNED_OFFSET: u32 = 1 << 5;
const FMODE_NOWAIT: u32 = 1 << 27;
const IOCB_HIPRI: i32 = 1; // RWF_HIPRI
/// `RWF_NOWAIT`.
const RWF_NOWAIT: u32 = 0x8;
/// `IOCB_NOWAIT` (`RWF_NOWAIT` as a kiocb flag).
const IOCB_NOWAIT: i32 = RWF_NOWAIT as i32;
/// `O_NONBLOCK` (x86).
const O_NONBLOCK: u32 = 0o4000;

/// `MAX_RW_COUNT`: `INT_MAX & PAGE_MASK`, the most one transfer moves.
const MAX_RW_COUNT: usize = 0x7fff_f000;

/// `-EIOCBQUEUED`: the file will call `ki_complete` later.
const EIOCBQUEUED: isize = -529;

impl<T: RwDone> RwKiocb<T> {
    /// A kiocb on `file`, not yet prepared; `None` for a request that does no file I/O (every
    /// method then fails with `EBADF`).
    pub(crate) fn new(file: Option<FileRef>, dir: Dir) -> impl PinInit<Self> {
        let filp = file.as_ref().map_or(ptr::null_mut(), FileRef::as_raw);
        pin_init!(Self {
            // SAFETY: all-zero is a valid kiocb; `ki_filp` is set to the referenced file.
            kiocb <- Opaque::ffi_init(move |slot: *mut bindings::kiocb| unsafe {
                slot.write(core::mem::zeroed());
                (*slot).ki_filp = filp;
                (*slot).ki_complete = Some(complete_trampoline::<T>);
            }),
            file,
            dir,
            owner: ArcSlot::empty(),
            write_started: AtomicBool::new(false),
        })
    }

    /// The direction of the transfer.
    pub(crate) fn dir(&self) -> Dir {
        self.dir
    }

    /// The request's file.
    pub(crate) fn file(&self) -> Option<&FileRef> {
        self.file.as_ref()
    }

    fn raw(&self) -> *mut bindings::kiocb {
        self.kiocb.get()
    }

    fn filp(&self) -> Result<*mut bindings::file> {
        self.file.as_ref().map(FileRef::as_raw).ok_or(EBADF)
    }

    /// `aio_prep_rw`: position, flags (`IOCB_EVENTFD`), the I/O priority (`ioprio_check_cap`
    /// when `ioprio` is given), the `RWF_*` flags. Not `IOCB_AIO_RW`, which `aio_prep_rw` sets:
    /// it tells `kiocb_set_cancel_fn` (called by USB gadget files, FunctionFS and gadgetfs,
    /// from their `read_iter`/`write_iter`) that the kiocb is inside fs/aio.c's `aio_kiocb`,
    /// and that function then writes to the request and context around it: in kaio's memory,
    /// whose layout is another. Without it the call does nothing (as for io_uring's kiocbs),
    /// and such a transfer is cancelled like any other running one.
    pub(crate) fn prep(&self, pos: i64, rw_flags: u32, ioprio: Option<i16>, eventfd: bool) -> Result {
        let k = self.raw();
        let f = self.filp()?;
        // SAFETY: the kiocb is ours and not yet started; `ki_filp` is a referenced file.
        unsafe {
            (*k).ki_pos = pos;
            (*k).ki_flags = (*f).f_iocb_flags as i32;
            if eventfd {
                (*k).ki_flags |= bindings::IOCB_EVENTFD as i32;
            }
            match ioprio {
                Some(prio) => {
                    kernel::error::to_result(bindings::kaio_ioprio_check_cap(i32::from(prio)))?;
                    (*k).ki_ioprio = prio as u16;
                }
                None => (*k).ki_ioprio = bindings::kaio_get_current_ioprio() as u16,
            }
            let rw_type = match self.dir {
                Dir::Read => 0,
                Dir::Write => 1,
            };
            // `kiocb_set_rw_flags` does nothing for no flags: the call is spared then.
            if rw_flags != 0 {
                kernel::error::to_result(bindings::kaio_kiocb_set_rw_flags(k, rw_flags as i32, rw_type))?;
            }
            // Nobody polls for AIO completions.
            (*k).ki_flags &= !(IOCB_HIPRI);
        }
        Ok(())
    }

    /// The open-mode and method checks of `aio_read`/`aio_write`: `EBADF` if the file is not
    /// open for the direction, `EINVAL` if it has no `read_iter`/`write_iter`.
    pub(crate) fn check_file(&self) -> Result {
        let f = self.filp()?;
        // SAFETY: a referenced file; `f_op` is valid for an open file.
        let (mode, has_method) = unsafe {
            let ops = (*f).f_op;
            match self.dir {
                Dir::Read => ((*f).f_mode & FMODE_READ, (*ops).read_iter.is_some()),
                Dir::Write => ((*f).f_mode & FMODE_WRITE, (*ops).write_iter.is_some()),
            }
        };
        if mode == 0 {
            return Err(EBADF);
        }
        if !has_method {
            return Err(EINVAL);
        }
        Ok(())
    }

    /// Imports the user buffer (`aio_buf`, `aio_nbytes`; an iovec array of `aio_nbytes` entries
    /// if `vectored`), checks the area (`rw_verify_area`) and runs the transfer. `Err` is a
    /// submission error (no event); `Ok(Some(res))` is the result of a transfer that finished
    /// already; `Ok(None)` means `owner` will get [`RwDone::rw_done`] later.
    /// `before_transfer` runs once every check has passed, right before the transfer (which
    /// cannot fail to start: from there on the request is accepted).
    pub(crate) fn start(&self, owner: Arc<T>, buf: u64, nbytes: u64, vectored: bool, before_transfer: impl FnOnce()) -> Result<Option<i64>> {
        let mut fast: [bindings::iovec; bindings::UIO_FASTIOV as usize] =
            // SAFETY: all-zero is a valid `iovec` array.
            unsafe { core::mem::zeroed() };
        let mut iovp: *mut bindings::iovec = ptr::null_mut();
        let mut iter = core::mem::MaybeUninit::<bindings::iov_iter>::zeroed();
        // SAFETY: `iter` and `fast` live until the end of this function, and the transfer
        // either finishes here or (queued) no longer needs them, as for Linux's stack-held
        // iterators in aio_read/aio_write.
        let imported = unsafe { self.import(buf, nbytes, vectored, fast.as_mut_ptr(), &mut iovp, iter.as_mut_ptr()) };
        let result = imported.and_then(|()| {
            let f = self.filp()?;
            before_transfer();
            // SAFETY: the iterator is initialised; the kiocb is prepared; see `transfer`.
            Ok(unsafe { self.transfer(f, owner, iter.as_mut_ptr()) })
        });
        if !iovp.is_null() {
            // SAFETY: allocated by `import_iovec`, not referenced once the transfer returned.
            unsafe { bindings::kfree(iovp.cast()) };
        }
        result
    }

    /// `import_ubuf`/`import_iovec` into `iter`, then `rw_verify_area`. On return `*alloc` is
    /// null or an iovec array `import_iovec` allocated, which the caller frees once `iter` is
    /// no longer used (also on error).
    ///
    /// # Safety
    ///
    /// `fast` points to `UIO_FASTIOV` iovecs and `iter` to an iterator, both valid for writes
    /// and for as long as `iter` is used.
    unsafe fn import(
        &self,
        buf: u64,
        nbytes: u64,
        vectored: bool,
        fast: *mut bindings::iovec,
        alloc: &mut *mut bindings::iovec,
        iter: *mut bindings::iov_iter,
    ) -> Result {
        let iter_dir = self.dir.iter_dir();
        *alloc = ptr::null_mut();
        // SAFETY: per the contract; `import_iovec` leaves in `iovp` null or an array it
        // allocated (or `fast`).
        let imported = unsafe {
            if vectored {
                let mut iovp = fast;
                let n = bindings::import_iovec(
                    iter_dir as _,
                    buf as usize as *const bindings::iovec,
                    nbytes as u32,
                    bindings::UIO_FASTIOV,
                    &mut iovp,
                    iter,
                ) as isize;
                if iovp != fast {
                    *alloc = iovp;
                }
                n
            } else {
                bindings::import_ubuf(iter_dir as _, buf as usize as *mut _, nbytes as usize, iter) as isize
            }
        };
        if imported < 0 {
            return Err(Error::from_errno(imported as i32));
        }
        // `import_iovec` returns the (capped) total; `import_ubuf` caps the length itself.
        let count = if vectored { imported as usize } else { (nbytes as usize).min(MAX_RW_COUNT) };
        // The bug put back (tests/check-bugs.sh): the range is not verified (CVE-2012-6701, "vfs:
        // make AIO use the proper rw_verify_area() area helpers" undone).
        if cfg!(kaio_bug = "rw_no_verify_area") {
            return Ok(());
        }
        self.verify_area(count)
    }

    /// Imports the user buffer into `held` once, for a transfer that may be tried several
    /// times ([`RwKiocb::attempt`]); checks as [`RwKiocb::start`]. `Err` is a submission error.
    pub(crate) fn import_held(&self, held: &mut HeldClaim<'_>, buf: u64, nbytes: u64, vectored: bool) -> Result {
        // SAFETY: ours while claimed; only the fields are written, in place.
        let h = unsafe { &mut *held.held() };
        if !h.alloc.is_null() {
            // One import per buffer.
            return Err(EINVAL);
        }
        // SAFETY: `fast` and `iter` never move and live as long as the `HeldBuf`, whose `Held`
        // frees `alloc` (their invariants).
        unsafe { self.import(buf, nbytes, vectored, h.fast.as_mut_ptr().cast(), &mut h.alloc, &mut h.iter) }
    }

    /// One try of the transfer over `held` (non-blocking if `nowait`). `WouldBlock`: nothing
    /// moved and the iterator is as before; `Queued`: `owner` gets [`RwDone::rw_done`] later.
    /// Process context; in a worker, with the submitter's address space in use.
    pub(crate) fn attempt(&self, owner: Arc<T>, held: &mut HeldClaim<'_>, nowait: bool) -> Result<Attempt> {
        let f = self.filp()?;
        let k = self.raw();
        // SAFETY: ours while claimed; the iterator is used in place, never moved.
        let held = unsafe { &mut *held.held() };
        // SAFETY: the kiocb is prepared and has no transfer under way (one attempt at a time,
        // by the caller's protocol); `held.iter` was initialised by `import_held`.
        let done = unsafe {
            if nowait {
                (*k).ki_flags |= IOCB_NOWAIT;
            } else {
                (*k).ki_flags &= !(IOCB_NOWAIT);
            }
            let before = iter_count(&held.iter);
            (before, self.transfer(f, owner, &mut held.iter))
        };
        let (before, done) = done;
        Ok(match done {
            None => Attempt::Queued,
            Some(res) if nowait && res == -(kernel::bindings::EAGAIN as i64) => {
                // Nothing moved; a file may still have advanced the iterator: undo that.
                // SAFETY: the iterator is ours; it is moved back by what it advanced, at most.
                unsafe {
                    let advanced = before - iter_count(&held.iter);
                    if advanced != 0 {
                        bindings::iov_iter_revert(&mut held.iter, advanced);
                    }
                }
                Attempt::WouldBlock
            }
            Some(res) => Attempt::Done(res),
        })
    }

    /// The offset checks of `rw_verify_area` (no LSM or fanotify hooks are configured in the
    /// guest kernels, so these are all of it): a negative position, or one that wraps with
    /// `count`, is `EINVAL` (`EOVERFLOW` for files with unsigned offsets).
    fn verify_area(&self, count: usize) -> Result {
        let f = self.filp()?;
        // SAFETY: a prepared kiocb on a referenced file.
        let (pos, unsigned) = unsafe {
            ((*self.raw()).ki_pos, (*(*f).f_op).fop_flags & FOP_UNSIGNED_OFFSET != 0)
        };
        if (count as isize) < 0 {
            return Err(EINVAL);
        }
        if pos < 0 {
            if !unsigned {
                return Err(EINVAL);
            }
            if count as u64 >= pos.unsigned_abs() {
                return Err(Error::from_errno(-(kernel::bindings::EOVERFLOW as i32)));
            }
        } else if pos.wrapping_add(count as i64) < 0 && !unsigned {
            return Err(EINVAL);
        }
        Ok(())
    }

    /// One blocking transfer between the file and the kernel buffer `buf` (read into it, or
    /// written from it), made synchronously as read(2) and write(2) make theirs: the kiocb has
    /// no completion during the call, so the file waits itself and never queues it. No user
    /// memory is touched: a worker makes it without the submitter's address space, which a
    /// transfer that sleeps must not keep from its process's exit. The result as
    /// `aio_rw_done` maps it (bytes moved, or a negative errno).
    pub(crate) fn transfer_kernel(&self, buf: &mut [u8]) -> Result<i64> {
        let f = self.filp()?;
        let k = self.raw();
        let kvec = bindings::kvec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        let mut iter = core::mem::MaybeUninit::<bindings::iov_iter>::zeroed();
        let iter_dir = self.dir.iter_dir();
        // SAFETY: `kvec` and `buf` outlive the call, which is synchronous (no completion, so
        // the file keeps nothing of them: `is_sync_kiocb`); the kiocb is prepared and has no
        // other transfer under way (the caller's claim of its buffer); `f` as in `transfer`.
        let ret = unsafe {
            bindings::iov_iter_kvec(iter.as_mut_ptr(), iter_dir, &kvec, 1, buf.len());
            (*k).ki_flags &= !(IOCB_NOWAIT);
            let complete = (*k).ki_complete.take();
            let ret = self.call_method(f, iter.as_mut_ptr());
            (*k).ki_complete = complete;
            ret
        };
        self.end_write();
        // A synchronous kiocb is never queued (`new_sync_read` asserts as much).
        if ret == EIOCBQUEUED {
            super::system::warn_on(true);
            return Err(EIO);
        }
        Ok(restart_as_eintr(ret as i64))
    }

    /// Calls `read_iter`/`write_iter` and maps its result as `aio_rw_done` does.
    ///
    /// # Safety
    ///
    /// `iter` is an initialised iterator over user memory, valid for the call; `f` is the
    /// kiocb's referenced file, checked by `check_file`.
    unsafe fn transfer(&self, f: *mut bindings::file, owner: Arc<T>, iter: *mut bindings::iov_iter) -> Option<i64> {
        // INVARIANT: from here until `ki_complete` (or our return) the kiocb owns `owner`.
        // One transfer per kiocb: the slot is empty.
        let _ = self.owner.put(owner);
        // SAFETY: per the contract.
        let ret = unsafe { self.call_method(f, iter) };
        if ret == EIOCBQUEUED {
            return None;
        }
        // Finished here: take `owner` back (no `ki_complete` will come) and end the write.
        drop(self.owner.take());
        self.end_write();
        Some(restart_as_eintr(ret as i64))
    }

    /// The file's `read_iter`/`write_iter` on the kiocb (a write to a regular file with its
    /// freeze protection, ended by `end_write`).
    ///
    /// # Safety
    ///
    /// As for [`RwKiocb::transfer`]; `iter` may also be over kernel memory valid for the call.
    unsafe fn call_method(&self, f: *mut bindings::file, iter: *mut bindings::iov_iter) -> isize {
        let k = self.raw();
        // SAFETY: a referenced file with the method (checked by `check_file`); the kiocb is
        // prepared; `iter` valid per the contract.
        unsafe {
            if self.dir == Dir::Write {
                if ((*(*f).f_inode).i_mode as u32 & bindings::S_IFMT) == bindings::S_IFREG {
                    bindings::kaio_kiocb_start_write(k);
                    self.write_started.store(true, Ordering::Relaxed);
                }
                (*k).ki_flags |= bindings::IOCB_WRITE as i32;
            }
            match self.dir {
                Dir::Read => ((*(*f).f_op).read_iter.unwrap_unchecked())(k, iter),
                Dir::Write => ((*(*f).f_op).write_iter.unwrap_unchecked())(k, iter),
            }
        }
    }

    fn end_write(&self) {
        if self.write_started.swap(false, Ordering::AcqRel) {
            // SAFETY: `kiocb_start_write` was called on this kiocb.
            unsafe { bindings::kaio_kiocb_end_write(self.raw()) };
        }
    }
}

/// A restart code of an interrupted call as `aio_rw_done` maps it: `-EINTR` (the request
/// cannot be restarted as a system call is).
fn restart_as_eintr(ret: i64) -> i64 {
    let restart = [
        kernel::bindings::ERESTARTSYS,
        kernel::bindings::ERESTARTNOINTR,
        kernel::bindings::ERESTARTNOHAND,
        kernel::bindings::ERESTART_RESTARTBLOCK,
    ];
    if restart.iter().any(|&e| ret == -(e as i64)) {
        -(kernel::bindings::EINTR as i64)
    } else {
        ret
    }
}

/// # Safety
///
/// Called by a file's I/O path with the `kiocb` of an `RwKiocb<T>` whose transfer it queued.
unsafe extern "C" fn complete_trampoline<T: RwDone>(kiocb: *mut bindings::kiocb, res: kernel::ffi::c_long) {
    let offset = core::mem::offset_of!(RwKiocb<T>, kiocb);
    // SAFETY: container_of; alive because `owner` holds an Arc to the `T` embedding it.
    let this = unsafe { &*kiocb.cast::<u8>().sub(offset).cast::<RwKiocb<T>>() };
    this.end_write();
    if let Some(owner) = this.owner.take() {
        T::rw_done(owner, res as i64);
    }
}
