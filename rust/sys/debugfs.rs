// SPDX-License-Identifier: GPL-2.0

//! debugfs: `/sys/kernel/debug/kaio/<pid>/<name>`, read-only files whose contents an object
//! writes when read (`seq_file`).
//!
//! C header: [`include/linux/debugfs.h`](srctree/include/linux/debugfs.h).
//!
//! The module's directory lives from load to unload ([`ModuleDir`]). A process's directory
//! exists while it has a file in it: the registry counts them under a mutex. A [`ShowFile`]
//! keeps its object (an `Arc<T>`) until the file is removed; `debugfs_remove` waits for reads
//! in progress, so a read never sees a freed object. debugfs failures are not errors: the
//! file is then simply absent.

use super::bindings;
use core::{
    fmt,
    ptr::{self, NonNull},
    sync::atomic::{AtomicPtr, Ordering},
};
use kernel::{
    ffi::{c_int, c_void},
    new_mutex,
    prelude::*,
    str::{CStr, CString},
    sync::Mutex,
};
use super::arc::Arc;

/// What a file shows.
pub(crate) trait Show: Send + Sync + Sized {
    /// Writes the file's contents. Process context, may sleep.
    fn show(&self, out: &mut SeqOut<'_>) -> fmt::Result;
}

/// The output of a read: `seq_file` as [`fmt::Write`].
pub(crate) struct SeqOut<'a> {
    m: &'a mut bindings::seq_file,
}

impl fmt::Write for SeqOut<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: a live seq_file during its show callback; `s` is valid for its length.
        unsafe { bindings::seq_write(self.m, s.as_ptr().cast(), s.len()) };
        Ok(())
    }
}

/// A process's directory and how many files it holds.
#[derive(Clone, Copy)]
struct PidDir {
    pid: i32,
    dentry: NonNull<bindings::dentry>,
    files: usize,
}

/// The module's directory and its process directories.
#[pin_data]
struct Registry {
    root: NonNull<bindings::dentry>,
    #[pin]
    pids: Mutex<KVec<PidDir>>,
}

// SAFETY: dentries are used under the mutex or by debugfs, which serialises itself.
unsafe impl Send for Registry {}
// SAFETY: as above.
unsafe impl Sync for Registry {}

/// The registry, set while a [`ModuleDir`] exists.
static REGISTRY: AtomicPtr<Registry> = AtomicPtr::new(ptr::null_mut());

/// Owns `/sys/kernel/debug/kaio` from load to unload.
///
/// # Invariants
///
/// `REGISTRY` holds a leaked, pinned `Registry` from `new` until drop, or null if debugfs is
/// unavailable.
pub(crate) struct ModuleDir(());

impl ModuleDir {
    pub(crate) fn new() -> Result<ModuleDir> {
        // SAFETY: a static name; a null parent is the debugfs root.
        let root = unsafe { bindings::debugfs_create_dir(kernel::c_str!("kaio").as_char_ptr(), ptr::null_mut()) };
        let Some(root) = valid(root) else { return Ok(ModuleDir(())) };
        let reg = KBox::pin_init(
            pin_init!(Registry { root, pids <- new_mutex!(KVec::new(), "kaio::debugfs::pids") }),
            GFP_KERNEL,
        );
        match reg {
            Ok(reg) => {
                // SAFETY: never moved out of: freed in `drop` through `from_raw`.
                let raw = KBox::into_raw(unsafe { Pin::into_inner_unchecked(reg) });
                // INVARIANT: published until drop.
                REGISTRY.store(raw, Ordering::Release);
            }
            // SAFETY: the directory just created.
            Err(_) => unsafe { bindings::debugfs_remove(root.as_ptr()) },
        }
        Ok(ModuleDir(()))
    }
}

impl Drop for ModuleDir {
    fn drop(&mut self) {
        let raw = REGISTRY.swap(ptr::null_mut(), Ordering::AcqRel);
        if raw.is_null() {
            return;
        }
        // SAFETY: leaked in `new` (type invariant); every file is gone (they pin the module).
        let reg = unsafe { KBox::from_raw(raw) };
        // SAFETY: our directory; recursive removal of whatever is left.
        unsafe { bindings::debugfs_remove(reg.root.as_ptr()) };
    }
}

/// `IS_ERR_OR_NULL` → `None`.
fn valid(d: *mut bindings::dentry) -> Option<NonNull<bindings::dentry>> {
    if (d as isize) < 0 && (d as isize) >= -(bindings::MAX_ERRNO as isize) {
        return None;
    }
    NonNull::new(d)
}

fn registry() -> Option<&'static Registry> {
    let raw = REGISTRY.load(Ordering::Acquire);
    // SAFETY: published until the module unloads, which cannot happen while a caller (a file
    // operation of /dev/kaio, or a context it keeps) runs.
    unsafe { raw.as_ref() }
}

/// What a file's read calls: the object and its show function.
struct Thunk {
    obj: *const c_void,
    call: unsafe fn(*const c_void, &mut SeqOut<'_>) -> fmt::Result,
}

unsafe fn show_trampoline<T: Show>(obj: *const c_void, out: &mut SeqOut<'_>) -> fmt::Result {
    // SAFETY: `obj` is the `Arc<T>` a live `ShowFile<T>` holds.
    unsafe { &*obj.cast::<T>() }.show(out)
}

/// The show callback of every kaio debugfs file (`rust/helpers.c`), with the file's `Thunk`.
///
/// # Safety
///
/// Called by seq_file with `data` the `Thunk` of a file created by [`ShowFile::new`], which
/// debugfs does not let be removed while this runs.
#[no_mangle]
unsafe extern "C" fn kaio_debugfs_show(m: *mut bindings::seq_file, data: *mut c_void) -> c_int {
    // SAFETY: per the contract.
    let thunk = unsafe { &*data.cast::<Thunk>() };
    // SAFETY: a live seq_file for the duration of the callback.
    let mut out = SeqOut { m: unsafe { &mut *m } };
    // SAFETY: the thunk was built for its object's type.
    let _ = unsafe { (thunk.call)(thunk.obj, &mut out) };
    0
}

/// `/sys/kernel/debug/kaio/<pid>/<name>`, showing an object; removed on drop.
///
/// # Invariants
///
/// `dentry` is a file whose data is `thunk`, which points to `obj`; `pid`'s directory counts it.
pub(crate) struct ShowFile<T: Show> {
    dentry: NonNull<bindings::dentry>,
    pid: i32,
    thunk: KBox<Thunk>,
    obj: Arc<T>,
}

// SAFETY: the dentry is only removed (on drop); the object is `Send + Sync`.
unsafe impl<T: Show> Send for ShowFile<T> {}
// SAFETY: shared references give no access.
unsafe impl<T: Show> Sync for ShowFile<T> {}

impl<T: Show> ShowFile<T> {
    /// Creates the file in `pid`'s directory (created if needed). `None` if debugfs is
    /// unavailable or out of memory. Process context.
    pub(crate) fn new(pid: i32, name: &CStr, obj: Arc<T>) -> Option<ShowFile<T>> {
        let reg = registry()?;
        let thunk = KBox::new(Thunk { obj: (&*obj as *const T).cast(), call: show_trampoline::<T> }, GFP_KERNEL).ok()?;
        let mut pids = reg.pids.lock();
        let i = match pids.iter().position(|d| d.pid == pid) {
            Some(i) => i,
            None => {
                let dname = CString::try_from_fmt(kernel::fmt!("{pid}")).ok()?;
                pids.reserve(1, GFP_KERNEL).ok()?;
                // SAFETY: a valid name and our directory.
                let d = valid(unsafe { bindings::debugfs_create_dir(dname.as_char_ptr(), reg.root.as_ptr()) })?;
                // Room was reserved: no allocation.
                pids.push(PidDir { pid, dentry: d, files: 0 }, GFP_KERNEL).ok()?;
                pids.len() - 1
            }
        };
        let data = (&*thunk as *const Thunk).cast_mut().cast::<c_void>();
        // SAFETY: a valid name, a live directory; `data` outlives the file (removed on drop).
        let f = valid(unsafe { bindings::kaio_debugfs_create_show_file(name.as_char_ptr(), pids[i].dentry.as_ptr(), data) });
        let Some(dentry) = f else {
            if pids[i].files == 0 {
                release_dir(&mut pids, i);
            }
            return None;
        };
        pids[i].files += 1;
        // INVARIANT: counted above; `thunk` points to `obj`.
        Some(ShowFile { dentry, pid, thunk, obj })
    }
}

/// Removes the process directory at `i` (empty).
fn release_dir(pids: &mut KVec<PidDir>, i: usize) {
    let last = pids.len() - 1;
    pids.swap(i, last);
    let d = pids[last];
    // SAFETY: shrinks by one; `PidDir` is `Copy`, so nothing is left undropped.
    unsafe { pids.set_len(last) };
    // SAFETY: a directory we created, now empty.
    unsafe { bindings::debugfs_remove(d.dentry.as_ptr()) };
}

impl<T: Show> Drop for ShowFile<T> {
    fn drop(&mut self) {
        // SAFETY: our file (type invariant); waits for reads in progress.
        unsafe { bindings::debugfs_remove(self.dentry.as_ptr()) };
        let _ = (&self.thunk, &self.obj);
        let Some(reg) = registry() else { return };
        let mut pids = reg.pids.lock();
        if let Some(i) = pids.iter().position(|d| d.pid == self.pid) {
            pids[i].files -= 1;
            if pids[i].files == 0 {
                release_dir(&mut pids, i);
            }
        }
    }
}
