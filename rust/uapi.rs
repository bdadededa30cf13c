// SPDX-License-Identifier: GPL-2.0

//! The kaio user ABI, versions 1 and 2: the structures and ioctl numbers of `ABI.md`.
//!
//! This file is the single definition. The module compiles it as `crate::uapi`; the user-space
//! crate `tests/kaio` compiles the same file with `#[path]`. It therefore depends on `core` only.
//! The layouts of [`Iocb`], [`IoEvent`] and [`AioRing`] are those of
//! `include/uapi/linux/aio_abi.h` and `fs/aio.c` on x86_64.

#![allow(non_camel_case_types, dead_code)]

/// `KIOCB_KEY`: the value submit writes to `iocb->aio_key`, and the only one cancel accepts.
pub const KIOCB_KEY: u32 = 0;

pub const IOCB_CMD_PREAD: u16 = 0;
pub const IOCB_CMD_PWRITE: u16 = 1;
pub const IOCB_CMD_FSYNC: u16 = 2;
pub const IOCB_CMD_FDSYNC: u16 = 3;
pub const IOCB_CMD_POLL: u16 = 5;
pub const IOCB_CMD_NOOP: u16 = 6;
pub const IOCB_CMD_PREADV: u16 = 7;
pub const IOCB_CMD_PWRITEV: u16 = 8;
/// kaio's timer request: completes after `aio_offset` nanoseconds, cancellable.
pub const KAIO_CMD_DELAY: u16 = 0x4B00;

/// `aio_flags`: signal the eventfd `aio_resfd` on completion.
pub const IOCB_FLAG_RESFD: u32 = 1 << 0;
/// `aio_flags`: `aio_reqprio` is an I/O priority.
pub const IOCB_FLAG_IOPRIO: u32 = 1 << 1;

/// `AIO_RING_MAGIC`.
pub const AIO_RING_MAGIC: u32 = 0xa10a10a1;
/// `AIO_RING_COMPAT_FEATURES`.
pub const AIO_RING_COMPAT_FEATURES: u32 = 1;
/// `AIO_RING_INCOMPAT_FEATURES`.
pub const AIO_RING_INCOMPAT_FEATURES: u32 = 0;

/// `struct iocb`, 64 bytes.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Iocb {
    pub aio_data: u64,
    pub aio_key: u32,
    pub aio_rw_flags: u32,
    pub aio_lio_opcode: u16,
    pub aio_reqprio: i16,
    pub aio_fildes: u32,
    pub aio_buf: u64,
    pub aio_nbytes: u64,
    pub aio_offset: i64,
    pub aio_reserved2: u64,
    pub aio_flags: u32,
    pub aio_resfd: u32,
}

/// `struct io_event`, 32 bytes.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct IoEvent {
    pub data: u64,
    pub obj: u64,
    pub res: i64,
    pub res2: i64,
}

/// `struct aio_ring`: the 32-byte header of the mapped completion ring; `nr` events follow.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct AioRing {
    pub id: u32,
    pub nr: u32,
    pub head: u32,
    pub tail: u32,
    pub magic: u32,
    pub compat_features: u32,
    pub incompat_features: u32,
    pub header_length: u32,
}

/// `struct __kernel_timespec`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct KernelTimespec {
    pub tv_sec: i64,
    pub tv_nsec: i64,
}

/// `io_setup(nr_events, ctxp)`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct kaio_setup_args {
    pub nr_events: u32,
    /// 0, or `KAIO_SETUP_POLLED_RW` (version 2).
    pub flags: u32,
    /// `aio_context_t __user *`, must point at 0.
    pub ctxp: u64,
}

/// `io_destroy(ctx_id)`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct kaio_destroy_args {
    pub ctx_id: u64,
}

/// `io_submit(ctx_id, nr, iocbpp)`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct kaio_submit_args {
    pub ctx_id: u64,
    pub nr: i64,
    /// `struct iocb __user * __user *`.
    pub iocbpp: u64,
}

/// `io_getevents(ctx_id, min_nr, nr, events, timeout)`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct kaio_getevents_args {
    pub ctx_id: u64,
    pub min_nr: i64,
    pub nr: i64,
    /// `struct io_event __user *`.
    pub events: u64,
    /// `struct __kernel_timespec __user *`, 0 = no timeout.
    pub timeout: u64,
}

/// `io_cancel(ctx_id, iocb, result)`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct kaio_cancel_args {
    pub ctx_id: u64,
    /// `struct iocb __user *`.
    pub iocb: u64,
    /// `struct io_event __user *`, unused, as in Linux since 3.12.
    pub result: u64,
}

/// `io_pgetevents(ctx_id, min_nr, nr, events, timeout, usig)` (version 2).
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct kaio_pgetevents_args {
    pub ctx_id: u64,
    pub min_nr: i64,
    pub nr: i64,
    /// `struct io_event __user *`.
    pub events: u64,
    /// `struct __kernel_timespec __user *`, 0 = no timeout.
    pub timeout: u64,
    /// `sigset_t __user *`, 0 = none.
    pub sigmask: u64,
    /// Must be `sizeof(sigset_t)` (8) when `sigmask` is not 0.
    pub sigsetsize: u64,
}

/// Cancel by key, by file, by opcode, one or all (version 2), 64 bytes.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct kaio_cancel_match_args {
    pub ctx_id: u64,
    /// `KAIO_CANCEL_*`; unknown bits are `EINVAL`.
    pub flags: u32,
    /// `KAIO_CANCEL_FD`: requests on the file this fd names now.
    pub fd: i32,
    /// `KAIO_CANCEL_IOCB`: iocb user address; `KAIO_CANCEL_DATA`: `aio_data`.
    pub key: u64,
    /// `KAIO_CANCEL_OP`: `aio_lio_opcode`.
    pub opcode: u16,
    /// Must be 0.
    pub reserved1: u16,
    /// Out: requests that matched but could not be cancelled.
    pub nr_running: u32,
    /// `KAIO_CANCEL_WAIT`: `struct __kernel_timespec __user *`, 0 = none.
    pub timeout: u64,
    /// `KAIO_CANCEL_RESULT`: `struct io_event __user *`.
    pub result: u64,
    /// Must be 0.
    pub reserved2: [u64; 2],
}

/// `kaio_setup_args.flags`: reads and writes that wait without blocking, cancellable.
pub const KAIO_SETUP_POLLED_RW: u32 = 1 << 0;

/// Match `ki_res.obj == key` (what io_cancel matches).
pub const KAIO_CANCEL_IOCB: u32 = 1 << 0;
/// Match `aio_data == key` (io_uring's user_data).
pub const KAIO_CANCEL_DATA: u32 = 1 << 1;
/// Match the file (`struct file`, not the number).
pub const KAIO_CANCEL_FD: u32 = 1 << 2;
/// Match `aio_lio_opcode == opcode`.
pub const KAIO_CANCEL_OP: u32 = 1 << 3;
/// Match every request; implies ALL.
pub const KAIO_CANCEL_ANY: u32 = 1 << 4;
/// Every match, not only the oldest.
pub const KAIO_CANCEL_ALL: u32 = 1 << 5;
/// Return when no matched request is in flight.
pub const KAIO_CANCEL_WAIT: u32 = 1 << 6;
/// io_cancel(2) as its man page describes it: the event goes to `result`.
pub const KAIO_CANCEL_RESULT: u32 = 1 << 7;

pub const KAIO_IOC_MAGIC: u32 = 0xA7;

const IOC_WRITE: u32 = 1;
const IOC_READ: u32 = 2;

/// `_IOW(type, nr, size)` of `include/uapi/asm-generic/ioctl.h`.
const fn iow(nr: u32, size: usize) -> u32 {
    (IOC_WRITE << 30) | ((size as u32) << 16) | (KAIO_IOC_MAGIC << 8) | nr
}

/// `_IOWR(type, nr, size)`.
const fn iowr(nr: u32, size: usize) -> u32 {
    ((IOC_READ | IOC_WRITE) << 30) | ((size as u32) << 16) | (KAIO_IOC_MAGIC << 8) | nr
}

pub const KAIO_IOC_SETUP: u32 = iow(1, core::mem::size_of::<kaio_setup_args>());
pub const KAIO_IOC_DESTROY: u32 = iow(2, core::mem::size_of::<kaio_destroy_args>());
pub const KAIO_IOC_SUBMIT: u32 = iow(3, core::mem::size_of::<kaio_submit_args>());
pub const KAIO_IOC_GETEVENTS: u32 = iow(4, core::mem::size_of::<kaio_getevents_args>());
pub const KAIO_IOC_CANCEL: u32 = iow(5, core::mem::size_of::<kaio_cancel_args>());
pub const KAIO_IOC_CANCEL_MATCH: u32 = iowr(6, core::mem::size_of::<kaio_cancel_match_args>());
pub const KAIO_IOC_PGETEVENTS: u32 = iow(7, core::mem::size_of::<kaio_pgetevents_args>());
