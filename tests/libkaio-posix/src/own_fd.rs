// SPDX-License-Identifier: GPL-2.0
//! The library's own descriptors (`/dev/kaio`, its eventfd), recognised again before a forked
//! child closes them: the program may have closed them and reused their numbers (a daemon
//! closing every descriptor it did not open does), and then they are the program's, which the
//! child must keep. Only system calls and stack buffers: this runs in an atfork child handler.

use libc::c_int;

/// What a descriptor was when the library opened it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Identity {
    /// A character device: its device number and inode.
    Device { rdev: u64, ino: u64 },
    /// An eventfd: its `eventfd-id` (`/proc/self/fdinfo`), unique while it lives.
    EventFd(u64),
    /// Not recognisable (no `/proc`): never closed by the child (it is close-on-exec).
    Unknown,
}

/// The identity of the device open at `fd`.
pub fn device(fd: c_int) -> Identity {
    // SAFETY: a zeroed stat buffer filled by fstat.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(fd, &mut st) } != 0 || st.st_mode & libc::S_IFMT != libc::S_IFCHR {
        return Identity::Unknown;
    }
    Identity::Device { rdev: st.st_rdev, ino: st.st_ino }
}

/// The identity of the eventfd open at `fd`.
pub fn eventfd(fd: c_int) -> Identity {
    eventfd_id(fd).map_or(Identity::Unknown, Identity::EventFd)
}

/// Closes `fd` if it is still what `was` says (else it is the program's now).
pub fn close_if_still(fd: c_int, was: Identity) {
    let now = match was {
        Identity::Device { .. } => device(fd),
        Identity::EventFd(_) => eventfd(fd),
        Identity::Unknown => return,
    };
    if now == was {
        // SAFETY: our own descriptor, recognised.
        unsafe { libc::close(fd) };
    }
}

/// The `eventfd-id:` line of `/proc/self/fdinfo/<fd>`, if `fd` is an eventfd.
fn eventfd_id(fd: c_int) -> Option<u64> {
    if fd < 0 {
        return None;
    }
    let mut path = [0u8; 40];
    let prefix = b"/proc/self/fdinfo/";
    path[..prefix.len()].copy_from_slice(prefix);
    let mut digits = [0u8; 12];
    let mut n = fd as u32;
    let mut k = digits.len();
    loop {
        k -= 1;
        digits[k] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let len = digits.len() - k;
    path[prefix.len()..prefix.len() + len].copy_from_slice(&digits[k..]);
    // The byte after stays 0: the path is NUL-terminated.
    let mut buf = [0u8; 512];
    // SAFETY: a NUL-terminated path; reads into a stack buffer.
    let got = unsafe {
        let f = libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC);
        if f < 0 {
            return None;
        }
        let r = libc::read(f, buf.as_mut_ptr().cast(), buf.len());
        libc::close(f);
        r
    };
    let text = &buf[..usize::try_from(got).ok()?];
    let key = b"eventfd-id:";
    let at = text.windows(key.len()).position(|w| w == key)? + key.len();
    let mut id: Option<u64> = None;
    for &b in text[at..].iter().skip_while(|b| **b == b' ' || **b == b'\t') {
        if !b.is_ascii_digit() {
            break;
        }
        id = Some(id.unwrap_or(0).checked_mul(10)?.checked_add(u64::from(b - b'0'))?);
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_open(fd: c_int) -> bool {
        // SAFETY: plain system call.
        unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
    }

    #[test]
    fn closed_only_while_still_the_same_file() {
        // SAFETY: plain system calls on descriptors this test owns.
        unsafe {
            let e = libc::eventfd(0, libc::EFD_CLOEXEC);
            let was = eventfd(e);
            assert!(matches!(was, Identity::EventFd(_)), "{was:?}");
            // Another eventfd on the same number is not ours.
            let other = libc::eventfd(0, libc::EFD_CLOEXEC);
            libc::dup2(other, e);
            close_if_still(e, was);
            assert!(is_open(e));
            // Nor is a pipe.
            let mut p = [0; 2];
            libc::pipe(p.as_mut_ptr());
            libc::dup2(p[0], e);
            close_if_still(e, was);
            assert!(is_open(e));
            // Still ours: closed.
            let mine = libc::eventfd(0, libc::EFD_CLOEXEC);
            close_if_still(mine, eventfd(mine));
            assert!(!is_open(mine));
            // A device, then the pipe on its number.
            let d = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
            let dev = device(d);
            assert!(matches!(dev, Identity::Device { .. }), "{dev:?}");
            libc::dup2(p[1], d);
            close_if_still(d, dev);
            assert!(is_open(d));
            let d2 = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
            close_if_still(d2, device(d2));
            assert!(!is_open(d2));
            for fd in [e, other, p[0], p[1], d] {
                libc::close(fd);
            }
        }
    }
}
