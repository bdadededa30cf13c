//! User-space side of `/dev/kaio`: the ABI (the module's own definitions, compiled from
//! `rust/uapi.rs`), the raw calls, and a safe API on top of them.
//!
//! - [`uapi`]: structures and ioctl numbers of `ABI.md`, plus [`Iocb`](uapi::Iocb) builders
//!   ([`iocb`]).
//! - [`raw`]: one function per ioctl, returning what the mirrored system call returns.
//! - [`Domain`] and [`Context`]: an open `/dev/kaio` and its contexts, closed and destroyed
//!   on drop; version 2's `io_pgetevents` ([`Context::pgetevents`]) and cancel by match
//!   ([`Context::cancel_match`] with a [`CancelMatch`]).
//! - [`ring`]: the mapped completion ring, for user-space reaping.
//! - [`time`]: timeouts, and how the kernel reads a timespec.

#[path = "../../../rust/uapi.rs"]
pub mod uapi;

pub mod context;
pub mod iocb;
pub mod raw;
pub mod ring;
pub mod time;

pub use context::{CancelMatch, CancelMatchError, Cancelled, Context, Domain};
pub use ring::Ring;
