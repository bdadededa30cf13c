//! The device itself: open, close, per-open state, unknown ioctls, direct mmap.

use crate::ktap::{Case, CaseResult};
use crate::util::Dev;
use crate::{check, check_eq};
use kaio::uapi::*;

pub fn cases() -> Vec<Case> {
    vec![
        Case::kaio("device_mode_is_0666", device_mode_is_0666),
        Case::kaio("device_open_close", device_open_close),
        Case::kaio("device_many_opens_are_independent", device_many_opens),
        Case::kaio("device_unknown_ioctl_enotty", device_unknown_ioctl_enotty),
        Case::kaio("device_wrong_size_or_direction_enotty", device_wrong_size_or_direction),
        Case::kaio("device_direct_mmap_refused", device_direct_mmap_refused),
    ]
}

fn device_mode_is_0666() -> CaseResult {
    let md = std::fs::metadata(kaio::raw::DEVICE).map_err(|e| e.to_string())?;
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    check!(md.file_type().is_char_device(), "not a character device");
    check_eq!(md.permissions().mode() & 0o777, 0o666);
    Ok(())
}

fn device_open_close() -> CaseResult {
    for _ in 0..100 {
        let d = Dev::open()?;
        drop(d);
    }
    Ok(())
}

fn device_many_opens() -> CaseResult {
    let devs: Result<Vec<Dev>, String> = (0..64).map(|_| Dev::open()).collect();
    let devs = devs?;
    let mut fds: Vec<i32> = devs.iter().map(|d| d.0).collect();
    fds.sort();
    fds.dedup();
    check_eq!(fds.len(), 64);
    Ok(())
}

fn device_unknown_ioctl_enotty() -> CaseResult {
    let d = Dev::open()?;
    let block = [0u8; 64];
    let ioc = |dir: u32, ty: u32, nr: u32, size: u32| (dir << 30) | (size << 16) | (ty << 8) | nr;
    for cmd in [
        0u32,
        ioc(1, KAIO_IOC_MAGIC, 0, 16),
        ioc(1, KAIO_IOC_MAGIC, 6, 16),
        ioc(1, KAIO_IOC_MAGIC, 255, 8),
        ioc(1, 0xA8, 1, 16),
        0x5401, // TCGETS
    ] {
        // SAFETY: the block is valid; the module must not touch it for unknown commands.
        let r = unsafe { kaio::raw::ioctl(d.0, cmd, block.as_ptr()) };
        check_eq!((cmd, r), (cmd, Err(libc::ENOTTY)));
    }
    Ok(())
}

fn device_wrong_size_or_direction() -> CaseResult {
    let d = Dev::open()?;
    let block = [0u8; 64];
    let with = |cmd: u32, dir: u32, size: u32| (cmd & 0x3fff) & 0xffff | (dir << 30) | (size << 16);
    for base in [KAIO_IOC_SETUP, KAIO_IOC_DESTROY, KAIO_IOC_SUBMIT, KAIO_IOC_GETEVENTS, KAIO_IOC_CANCEL] {
        let size = (base >> 16) & 0x3fff;
        for cmd in [with(base, 2, size), with(base, 3, size), with(base, 0, 0), with(base, 1, size + 8), with(base, 1, size - 8)] {
            // SAFETY: the block is 64 readable bytes, more than any of these sizes.
            let r = unsafe { kaio::raw::ioctl(d.0, cmd, block.as_ptr()) };
            check_eq!((cmd, r), (cmd, Err(libc::ENOTTY)));
        }
    }
    Ok(())
}

fn device_direct_mmap_refused() -> CaseResult {
    let d = Dev::open()?;
    // SAFETY: a fresh mapping request; the result is checked and unmapped if it succeeded.
    let p = unsafe {
        libc::mmap(std::ptr::null_mut(), 4096, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, d.0, 0)
    };
    if p != libc::MAP_FAILED {
        // SAFETY: the mapping was just created.
        unsafe { libc::munmap(p, 4096) };
        return Err("mmap of /dev/kaio by user space succeeded".into());
    }
    check_eq!(kaio::raw::errno(), libc::EINVAL);
    Ok(())
}
