//! Hostile memory: pages that are unmapped, read-only, or where an object straddles into an
//! unmapped page. Every helper maps fresh pages and unmaps them on drop.
//!
//! An unmapped page must stay unmapped while the program goes on mapping rings. mmap allocates
//! top-down and takes the highest gap that fits, so a one-page hole among ordinary mappings is
//! where the next one-page ring lands: a kernel write meant to fault would then land in the
//! ring's events. Holes are therefore made far below everything mmap hands out (see
//! [`Mapping::far`]).

use std::sync::atomic::{AtomicUsize, Ordering};

pub const PAGE: usize = 4096;

/// Where [`Mapping::far`] places mappings: 1 TiB, far below the mmap area (just under the
/// stack, near the top of the 128 TiB user space) and far above the program and its heap.
const FAR_BASE: usize = 1 << 40;
/// Bytes of the far area handed out so far (never reused: address space is plentiful).
static FAR_USED: AtomicUsize = AtomicUsize::new(0);

/// A direct-map kernel address (x86_64 `PAGE_OFFSET` without KASLR).
pub const KERNEL_ADDR: u64 = 0xffff_8880_0000_0000;
/// Kernel text.
pub const KERNEL_TEXT: u64 = 0xffff_ffff_8100_0000;
/// The first non-canonical address above user space.
pub const NONCANONICAL: u64 = 0x0000_8000_0000_0000;
/// The highest user page (`TASK_SIZE - PAGE`), never mapped in practice.
pub const TOP_USER_PAGE: u64 = 0x0000_7fff_ffff_f000;

/// An anonymous mapping, unmapped on drop.
pub struct Mapping {
    pub addr: usize,
    pub len: usize,
}

impl Mapping {
    /// `len` bytes (rounded up to pages), zeroed, with `prot`.
    pub fn anon(len: usize, prot: i32) -> Mapping {
        let len = len.div_ceil(PAGE).max(1) * PAGE;
        // SAFETY: a fresh private anonymous mapping at an address the kernel picks.
        let p = unsafe {
            libc::mmap(std::ptr::null_mut(), len, prot, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0)
        };
        assert!(p != libc::MAP_FAILED, "mmap: {}", crate::errno_name(crate::errno()));
        Mapping { addr: p as usize, len }
    }

    pub fn rw(len: usize) -> Mapping {
        Mapping::anon(len, libc::PROT_READ | libc::PROT_WRITE)
    }

    /// Like [`Mapping::anon`], but placed at a fresh address of the far area, with an unmapped
    /// page above it. mmap reaches down there only once everything above is full, so the holes
    /// punched into such a mapping (and the page above it) stay unmapped.
    pub fn far(len: usize, prot: i32) -> Mapping {
        let len = len.div_ceil(PAGE).max(1) * PAGE;
        loop {
            let at = FAR_BASE + FAR_USED.fetch_add(len + PAGE, Ordering::Relaxed);
            // SAFETY: a fresh private anonymous mapping at `at`; NOREPLACE fails instead of
            // replacing anything already mapped there.
            let p = unsafe {
                libc::mmap(
                    at as *mut libc::c_void,
                    len,
                    prot,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
                    -1,
                    0,
                )
            };
            if p == at as *mut libc::c_void {
                return Mapping { addr: at, len };
            }
            let e = crate::errno();
            assert!(p == libc::MAP_FAILED && e == libc::EEXIST, "mmap at {at:#x}: {}", crate::errno_name(e));
        }
    }

    pub fn ptr<T>(&self) -> *mut T {
        self.addr as *mut T
    }

    pub fn protect(&self, prot: i32) {
        // SAFETY: changes the protection of this mapping only.
        let r = unsafe { libc::mprotect(self.addr as *mut libc::c_void, self.len, prot) };
        assert!(r == 0, "mprotect: {}", crate::errno_name(crate::errno()));
    }

    /// Unmaps the part `[addr + off, addr + off + len)` now (the rest is unmapped on drop).
    pub fn punch(&mut self, off: usize, len: usize) {
        // SAFETY: unmaps pages of this mapping only.
        unsafe { libc::munmap((self.addr + off) as *mut libc::c_void, len) };
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps this mapping (punched holes are simply unmapped again).
        unsafe { libc::munmap(self.addr as *mut libc::c_void, self.len) };
    }
}

/// An object whose first `inside` bytes are the last bytes of a mapped read-write page and whose
/// remaining bytes fall on the following page, which is unmapped.
pub struct Straddle {
    map: Mapping,
    pub addr: usize,
}

impl Straddle {
    /// Places `bytes` (the whole object as it would be) so that only its first `inside` bytes
    /// are mapped.
    pub fn new(bytes: &[u8], inside: usize) -> Straddle {
        let mut map = Mapping::far(2 * PAGE, libc::PROT_READ | libc::PROT_WRITE);
        map.punch(PAGE, PAGE);
        let addr = map.addr + PAGE - inside;
        let n = inside.min(bytes.len());
        // SAFETY: `[addr, addr + n)` lies inside the first page, which is mapped and writable.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), addr as *mut u8, n) };
        Straddle { map, addr }
    }

    /// Protects the mapped page (e.g. read-only).
    pub fn protect(&self, prot: i32) {
        // SAFETY: the first page of the mapping is still mapped.
        unsafe { libc::mprotect(self.map.addr as *mut libc::c_void, PAGE, prot) };
    }
}

/// An unmapped page between two mapped ones (in the far area: nothing is mapped there while it
/// lives, unless the program maps it with MAP_FIXED).
pub struct Hole {
    map: Mapping,
}

impl Hole {
    pub fn new() -> Hole {
        let mut map = Mapping::far(3 * PAGE, libc::PROT_NONE);
        map.punch(PAGE, PAGE);
        Hole { map }
    }

    pub fn addr(&self) -> u64 {
        (self.map.addr + PAGE) as u64
    }
}

impl Default for Hole {
    fn default() -> Hole {
        Hole::new()
    }
}

/// A page holding `bytes` at offset `off`, then made read-only.
pub fn readonly(bytes: &[u8], off: usize) -> Mapping {
    let m = Mapping::rw(off + bytes.len());
    // SAFETY: the mapping is at least `off + bytes.len()` bytes long and writable.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), (m.addr + off) as *mut u8, bytes.len()) };
    m.protect(libc::PROT_READ);
    m
}

/// The bytes of a plain-data value.
pub fn bytes_of<T: Copy>(v: &T) -> Vec<u8> {
    // SAFETY: reads the `size_of::<T>()` bytes of a `Copy` value (the ABI structs have no
    // padding).
    unsafe { std::slice::from_raw_parts(v as *const T as *const u8, std::mem::size_of::<T>()).to_vec() }
}
