// SPDX-License-Identifier: GPL-2.0

//! The caller's signal mask swapped for the length of a wait, as `ppoll`, `pselect` and
//! `io_pgetevents` do (`set_user_sigmask`, `restore_saved_sigmask_unless`).
//!
//! C header: [`include/linux/sched/signal.h`](srctree/include/linux/sched/signal.h).
//!
//! The mask in force before is kept in `current->saved_sigmask` with `TIF_RESTORE_SIGMASK`
//! set. A wait that a signal interrupted leaves it so: the signal is delivered with the
//! temporary mask still in force and the old one is restored when the handler frame is set up,
//! which is what makes the swap atomic. Otherwise it is restored at once.

use super::bindings;

/// `SIGKILL` and `SIGSTOP` cannot be blocked.
const UNBLOCKABLE: u64 = (1 << (bindings::SIGKILL - 1)) | (1 << (bindings::SIGSTOP - 1));
const SIG_SETMASK: i32 = 2;

/// Installs `mask` (a user `sigset_t`) as the caller's signal mask until
/// [`restore_unless`] (`set_user_sigmask`).
pub(crate) fn install(mask: u64) {
    let mut set = bindings::sigset_t { sig: [(mask & !UNBLOCKABLE) as usize] };
    // SAFETY: `current` is the caller, in process context; these only touch its own fields.
    unsafe {
        bindings::kaio_set_restore_sigmask();
        bindings::kaio_save_sigmask();
        bindings::sigprocmask(SIG_SETMASK, &mut set, core::ptr::null_mut());
    }
}

/// `restore_saved_sigmask_unless(interrupted)`: puts the saved mask back now, unless a signal
/// interrupted the wait (its delivery restores it). Harmless when nothing was installed.
pub(crate) fn restore_unless(interrupted: bool) {
    if interrupted {
        return;
    }
    // SAFETY: process context, on the caller's own mask and flags; `saved_sigmask` is the
    // caller's, read before `sigprocmask` replaces the mask with a copy of it.
    unsafe {
        if bindings::kaio_test_and_clear_restore_sigmask() {
            let mut saved = *bindings::kaio_saved_sigmask();
            bindings::sigprocmask(SIG_SETMASK, &mut saved, core::ptr::null_mut());
        }
    }
}
