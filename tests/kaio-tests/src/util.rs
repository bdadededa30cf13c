//! Helpers shared by the cases.

use std::os::fd::RawFd;

/// An open `/dev/kaio` (one domain), closed on drop.
pub struct Dev(pub RawFd);

impl Dev {
    pub fn open() -> Result<Dev, String> {
        kaio::raw::open().map(Dev).map_err(|e| format!("open /dev/kaio: errno {e}"))
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        // SAFETY: the fd is owned by this value.
        unsafe { libc::close(self.0) };
    }
}

/// `Err(errno)` of a libc call returning -1.
pub fn sys(r: libc::c_long) -> Result<libc::c_long, i32> {
    if r < 0 {
        Err(kaio::raw::errno())
    } else {
        Ok(r)
    }
}
