// SPDX-License-Identifier: GPL-2.0

//! A blocking call in a kernel worker that another context can interrupt.
//!
//! C header: [`include/linux/sched/signal.h`](srctree/include/linux/sched/signal.h).
//!
//! A kernel worker takes no signals, so a read that sleeps in one (on a file that ignores
//! `IOCB_NOWAIT`, such as a tty) would end only when its data comes. io_uring interrupts its
//! blocked io-wq workers with `TIF_NOTIFY_SIGNAL` (`set_notify_signal`): `signal_pending()`
//! is then true, so an interruptible sleep ends (the read returns what it has, or
//! `-ERESTARTSYS`). This does the same for one call at a time. The flag is set only while the
//! call runs, under the lock the call's end takes, and the worker clears it there: a kernel
//! thread never returns to user space, where the flag is otherwise cleared, and the next work
//! item it runs must not find its sleeps interrupted. `set_notify_signal` wakes with
//! `wake_up_state`, which modules cannot call; `wake_up_process` may also wake an
//! uninterruptible sleep early, which every sleep tolerates (wake-ups can be spurious).

use super::bindings;
use super::irq_spinlock::{new_irq_spinlock, IrqSpinLock};
use kernel::prelude::*;

/// Who is inside the call, and whether it was interrupted.
///
/// # Invariants
///
/// `task` is null or the `current` of a call inside [`Interruptible::run`], which cannot
/// leave it without taking the lock that guards this value (so the task is alive while the
/// lock is held and `task` is set). `flagged`: `TIF_NOTIFY_SIGNAL` was set on `task` by
/// [`Interruptible::interrupt`] and is still to be cleared by the call's end.
struct Inside {
    task: *mut bindings::task_struct,
    flagged: bool,
    interrupted: bool,
}

// SAFETY: the task pointer is used only under the lock, on either side (see the invariants).
unsafe impl Send for Inside {}

/// A blocking call that [`Interruptible::interrupt`] ends early, once and for good: a call
/// that starts after it does not run.
#[pin_data]
pub(crate) struct Interruptible {
    #[pin]
    inside: IrqSpinLock<Inside>,
}

impl Interruptible {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Interruptible {
            inside <- new_irq_spinlock!(
                Inside { task: core::ptr::null_mut(), flagged: false, interrupted: false },
                "kaio_interruptible"
            ),
        })
    }

    /// Runs `call` in the current kernel thread, interruptible by [`Interruptible::interrupt`]
    /// meanwhile; `None`, without running it, if that came first. Process context, in a kernel
    /// thread (a user task would take the flag back to user space on its own).
    pub(crate) fn run<R>(&self, call: impl FnOnce() -> R) -> Option<R> {
        {
            let mut inside = self.inside.lock();
            if inside.interrupted {
                return None;
            }
            // SAFETY: `current` is always valid to read in process context.
            inside.task = unsafe { bindings::kaio_current_task() };
        }
        let r = call();
        let mut inside = self.inside.lock();
        // INVARIANT: no task inside any more; the flag set for this call is cleared here,
        // under the lock an interrupt sets it under, so none is set after.
        inside.task = core::ptr::null_mut();
        if core::mem::take(&mut inside.flagged) {
            // SAFETY: clears the current task's own flag.
            unsafe { bindings::kaio_clear_notify_signal() };
        }
        Some(r)
    }

    /// Ends the call inside [`Interruptible::run`], if any, at its next interruptible sleep
    /// (or at once if it sleeps now), and keeps any later call from running. Any context.
    pub(crate) fn interrupt(&self) {
        let mut inside = self.inside.lock();
        inside.interrupted = true;
        if inside.task.is_null() || inside.flagged {
            return;
        }
        // SAFETY: `task` is inside `run` and cannot leave it while the lock is held (type
        // invariant), so it is alive.
        unsafe {
            // A flag set already is not ours to clear (a kernel worker gets none otherwise).
            inside.flagged = !bindings::kaio_test_and_set_notify_signal(inside.task);
            if inside.flagged {
                kernel::bindings::wake_up_process(inside.task);
            }
        }
    }
}
