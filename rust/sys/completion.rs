// SPDX-License-Identifier: GPL-2.0

//! `struct completion`: a one-shot event that a task can wait for uninterruptibly.
//!
//! C header: [`include/linux/completion.h`](srctree/include/linux/completion.h).

use super::bindings;
use kernel::{prelude::*, types::Opaque};

/// A completion. `complete_all` may be called from any context, `wait` only from process
/// context.
///
/// # Invariants
///
/// `inner` is initialised by `init_completion`.
#[pin_data]
pub(crate) struct Completion {
    #[pin]
    inner: Opaque<bindings::completion>,
}

// SAFETY: the completion API is thread-safe (it has its own lock).
unsafe impl Send for Completion {}
// SAFETY: as above.
unsafe impl Sync for Completion {}

impl Completion {
    /// A completion that has not happened.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is valid for writes.
            inner <- Opaque::ffi_init(|slot| unsafe { bindings::kaio_init_completion(slot) }),
        })
    }

    /// `complete_all()`: wakes every waiter, now and later. Any context.
    pub(crate) fn complete_all(&self) {
        // SAFETY: initialised (type invariant).
        unsafe { bindings::complete_all(self.inner.get()) }
    }

    /// `wait_for_completion()`: sleeps uninterruptibly until `complete_all` has been called.
    pub(crate) fn wait(&self) {
        // SAFETY: initialised; process context is the caller's contract (may sleep).
        unsafe { bindings::wait_for_completion(self.inner.get()) }
    }
}
