// SPDX-License-Identifier: GPL-2.0

//! Deliberate defects for the test harness's own test (`make check-harness`, also run by
//! `make check`): a module built with `KAIO_INJECT=leak|warn|sleep` misbehaves on every open
//! of `/dev/kaio`, and the debug guest run must then fail. Without `KAIO_INJECT` this file
//! compiles to nothing.

#[cfg(kaio_inject = "leak")]
use kernel::prelude::*;

/// Called on every open of `/dev/kaio`.
pub(crate) fn on_open() {
    // A leak: kmemleak's final scan must report it.
    #[cfg(kaio_inject = "leak")]
    if let Ok(b) = KBox::new([0x6bu8; 96], GFP_KERNEL) {
        KBox::leak(b);
    }
    // A WARN: the console must show it.
    #[cfg(kaio_inject = "warn")]
    crate::sys::system::warn_on(true);
    // A sleep in atomic context (a spinlock held across it): DEBUG_ATOMIC_SLEEP must say so.
    #[cfg(kaio_inject = "sleep")]
    {
        kernel::stack_pin_init!(let lock = kernel::new_spinlock!(()));
        let _guard = lock.lock();
        crate::sys::system::msleep(1);
    }
}
