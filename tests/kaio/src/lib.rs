//! User-space side of `/dev/kaio`: the ABI (the module's own definitions, compiled from
//! `rust/uapi.rs`) and the raw calls.

#[path = "../../../rust/uapi.rs"]
pub mod uapi;

pub mod raw;
