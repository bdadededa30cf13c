// SPDX-License-Identifier: GPL-2.0
//! glibc's `<aio.h>` and `<signal.h>` structures on x86_64, as a program compiled against
//! glibc lays them out (`struct aiocb` and `struct aiocb64` are the same there), and the
//! constants of `<aio.h>`. `test/layout.c` checks every offset against the system header.

use libc::{c_int, c_void, pthread_attr_t};

/// `struct sigevent` (64 bytes). `sigev_value` is `union sigval` (an `int` or a pointer),
/// carried as a pointer: passed by value it travels in one register either way.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SigEvent {
    pub sigev_value: *mut c_void,
    pub sigev_signo: c_int,
    pub sigev_notify: c_int,
    /// `SIGEV_THREAD`: `void (*)(union sigval)`.
    pub sigev_notify_function: Option<unsafe extern "C" fn(*mut c_void)>,
    /// `SIGEV_THREAD`: `pthread_attr_t *`, may be null.
    pub sigev_notify_attributes: *mut pthread_attr_t,
    pub pad: [u8; 32],
}

/// `struct aiocb` (168 bytes). The four `__` fields are the implementation's: this library
/// keeps the result in `error_code` and `return_value`, where glibc keeps it, so that
/// `aio_error` and `aio_return` read the control block and nothing else.
#[repr(C)]
pub struct Aiocb {
    pub aio_fildes: c_int,
    pub aio_lio_opcode: c_int,
    pub aio_reqprio: c_int,
    pub pad0: c_int,
    pub aio_buf: *mut c_void,
    pub aio_nbytes: usize,
    pub aio_sigevent: SigEvent,
    pub next_prio: *mut Aiocb,
    pub abs_prio: c_int,
    pub policy: c_int,
    /// `__error_code`: `EINPROGRESS` while in flight, then 0 or the error.
    pub error_code: c_int,
    pub pad1: c_int,
    /// `__return_value`: the byte count, or -1.
    pub return_value: isize,
    pub aio_offset: i64,
    pub reserved: [u8; 32],
}

const _: () = assert!(core::mem::size_of::<SigEvent>() == 64);
const _: () = assert!(core::mem::size_of::<Aiocb>() == 168);
const _: () = assert!(core::mem::offset_of!(Aiocb, aio_sigevent) == 32);
const _: () = assert!(core::mem::offset_of!(Aiocb, error_code) == 112);
const _: () = assert!(core::mem::offset_of!(Aiocb, return_value) == 120);
const _: () = assert!(core::mem::offset_of!(Aiocb, aio_offset) == 128);

pub const LIO_READ: c_int = 0;
pub const LIO_WRITE: c_int = 1;
pub const LIO_NOP: c_int = 2;
pub const LIO_WAIT: c_int = 0;
pub const LIO_NOWAIT: c_int = 1;

pub const AIO_CANCELED: c_int = 0;
pub const AIO_NOTCANCELED: c_int = 1;
pub const AIO_ALLDONE: c_int = 2;

pub const SIGEV_SIGNAL: c_int = 0;
pub const SIGEV_NONE: c_int = 1;
pub const SIGEV_THREAD: c_int = 2;

/// `si_code` of a signal sent on AIO completion.
pub const SI_ASYNCIO: c_int = -4;

/// glibc's `AIO_PRIO_DELTA_MAX` on Linux: `aio_reqprio` outside `0..=20` is `EINVAL`, as
/// glibc checks it.
pub const AIO_PRIO_DELTA_MAX: c_int = 20;

/// `struct aioinit` (glibc's `aio_init` extension); only its size matters here.
#[repr(C)]
pub struct AioInit {
    pub fields: [c_int; 8],
}
