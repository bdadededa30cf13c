// SPDX-License-Identifier: GPL-2.0

//! Credentials: a copy of the submitter's, to run deferred work as the submitter.
//!
//! C header: [`include/linux/cred.h`](srctree/include/linux/cred.h).

use super::bindings;
use core::ptr::NonNull;
use kernel::prelude::*;

/// A private copy of the calling task's credentials (`prepare_creds`).
///
/// # Invariants
///
/// `cred` holds a reference (from `prepare_creds` or `get_current_cred`).
pub(crate) struct Creds {
    cred: NonNull<bindings::cred>,
}

// SAFETY: credentials are reference counted and immutable once prepared.
unsafe impl Send for Creds {}
// SAFETY: as above.
unsafe impl Sync for Creds {}

impl Creds {
    /// `prepare_creds()`: `ENOMEM` on failure.
    pub(crate) fn of_current() -> Result<Creds> {
        // SAFETY: always safe in task context.
        let c = unsafe { bindings::prepare_creds() };
        NonNull::new(c).map(|cred| Creds { cred }).ok_or(ENOMEM)
    }

    /// A reference to the calling task's credentials as they are (`get_current_cred`): no
    /// copy, which is enough to run as the caller later (credentials never change once
    /// published).
    pub(crate) fn current() -> Result<Creds> {
        // SAFETY: task context; the helper takes a reference.
        let c = unsafe { bindings::kaio_get_current_cred() };
        // INVARIANT: non-null means a reference was taken.
        NonNull::new(c.cast_mut()).map(|cred| Creds { cred }).ok_or(EINVAL)
    }

    /// Runs `f` with these credentials in place of the current task's (`override_creds`).
    pub(crate) fn run_as<R>(&self, f: impl FnOnce() -> R) -> R {
        // SAFETY: task context; only the pointer is compared, never dereferenced.
        if unsafe { bindings::kaio_current_cred() } == self.cred.as_ptr().cast_const() {
            // The task runs with these very credentials already (the submitter reaping).
            return f();
        }
        // SAFETY: a referenced cred; restored below.
        let old = unsafe { bindings::override_creds(self.cred.as_ptr()) };
        let r = f();
        // SAFETY: `old` came from `override_creds` on this task.
        unsafe { bindings::revert_creds(old) };
        r
    }
}

impl Drop for Creds {
    fn drop(&mut self) {
        // SAFETY: the reference we hold (type invariant).
        unsafe { bindings::kaio_put_cred(self.cred.as_ptr()) };
    }
}
