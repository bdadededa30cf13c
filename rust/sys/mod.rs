// SPDX-License-Identifier: GPL-2.0

//! The module's abstraction layer: the only place in kaio with `unsafe`.
//!
//! Each file wraps one C object or mechanism the 6.12 `kernel` crate lacks, in the manner of
//! the upstream Rust-for-Linux abstractions: C structures inside `Opaque<T>`, a `// SAFETY:`
//! comment on every `unsafe` block, type invariants under `# Invariants`.

pub(crate) mod arc;
pub(crate) mod arc_slot;
pub(crate) mod bindings;
pub(crate) mod completion;
pub(crate) mod cred;
pub(crate) mod debugfs;
pub(crate) mod fd;
pub(crate) mod interruptible;
pub(crate) mod hrtimer;
pub(crate) mod irq_spinlock;
pub(crate) mod llist;
pub(crate) mod mm;
pub(crate) mod mmu_notifier;
pub(crate) mod one_of;
pub(crate) mod percpu_ref;
pub(crate) mod poll;
pub(crate) mod seq_index;
pub(crate) mod rcu;
pub(crate) mod ring_mem;
pub(crate) mod signal;
pub(crate) mod rw;
pub(crate) mod spinlock_irq;
pub(crate) mod stats;
pub(crate) mod system;
pub(crate) mod task_work;
pub(crate) mod trace;
pub(crate) mod work;
pub(crate) mod file;
pub(crate) mod miscdev;
pub(crate) mod uapi_bytes;
pub(crate) mod user_word;
