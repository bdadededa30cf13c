// SPDX-License-Identifier: GPL-2.0

//! A one-shot high-resolution timer whose callback runs in hard-irq context and receives the
//! `Arc<T>` the timer holds while it is queued.
//!
//! C header: [`include/linux/hrtimer.h`](srctree/include/linux/hrtimer.h).
//!
//! States: idle --start(Arc)--> queued --expiry--> running (callback owns the Arc) --> idle.
//! [`HrTimer::expire_now`] turns queued into "queued to expire immediately": the callback still
//! runs, from the timer, so every completion takes the same path.

use super::{arc_slot::ArcSlot, bindings};
use kernel::{prelude::*, types::Opaque};
use super::arc::Arc;

/// What a timer does when it expires.
pub(crate) trait TimerCallback: Send + Sync + Sized {
    /// Runs in hard-irq context with interrupts disabled.
    fn run(this: Arc<Self>);
}

/// What [`HrTimer::expire_now`] found.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Expire {
    /// The timer was queued; it now expires at once.
    Rearmed,
    /// The callback is running right now.
    Running,
    /// The timer was not queued (never started, or its callback has finished).
    Inactive,
}

/// An `hrtimer` on `CLOCK_MONOTONIC`, relative, hard-irq expiry.
///
/// # Invariants
///
/// - `timer` is initialised with `hrtimer_init` and its function is `trampoline::<T>`.
/// - While the timer is queued, `owner` holds an `Arc<T>`, so the `T`
///   that embeds the timer cannot be freed while the timer core can still reach it; the
///   callback takes that `Arc`. The timer is never touched by the core after its callback has
///   returned `HRTIMER_NORESTART`, so the callback may drop the last reference.
#[pin_data]
pub(crate) struct HrTimer<T: TimerCallback> {
    #[pin]
    timer: Opaque<bindings::hrtimer>,
    owner: ArcSlot<T>,
}

// SAFETY: the hrtimer API is thread-safe; `owner` is atomic.
unsafe impl<T: TimerCallback> Send for HrTimer<T> {}
// SAFETY: as above.
unsafe impl<T: TimerCallback> Sync for HrTimer<T> {}

const MODE: bindings::hrtimer_mode = bindings::hrtimer_mode_HRTIMER_MODE_REL_HARD;

impl<T: TimerCallback> HrTimer<T> {
    /// An idle timer.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is valid for writes; `hrtimer_init` initialises it fully.
            timer <- Opaque::ffi_init(|slot: *mut bindings::hrtimer| unsafe {
                bindings::hrtimer_init(slot, bindings::CLOCK_MONOTONIC as i32, MODE);
                (*slot).function = Some(trampoline::<T>);
            }),
            owner: ArcSlot::empty(),
        })
    }

    /// Queues the timer to expire after `ns` nanoseconds; it holds `owner` until then.
    /// Returns `false` (and drops `owner`) if the timer is already queued.
    pub(crate) fn start(&self, owner: Arc<T>, ns: u64) -> bool {
        if self.owner.put(owner).is_err() {
            return false;
        }
        let ns = i64::try_from(ns).unwrap_or(i64::MAX);
        // INVARIANT: `owner` holds the Arc while the timer is queued.
        // SAFETY: the timer is initialised and stays pinned inside `T`, kept alive by `owner`.
        unsafe { bindings::hrtimer_start_range_ns(self.timer.get(), ns, 0, MODE) };
        true
    }

    /// `hrtimer_cancel()`: dequeues the timer, or waits for its running callback; afterwards the
    /// callback is not running and will not run. Must not be called from the callback.
    pub(crate) fn cancel(&self) {
        // SAFETY: the timer is initialised.
        unsafe { bindings::hrtimer_cancel(self.timer.get()) };
        // Dequeued before its callback took it: the timer's reference.
        drop(self.owner.take());
    }

    /// `hrtimer_try_to_cancel()`: if the timer is queued, dequeues it and drops its reference;
    /// a running callback is not waited for. Safe with interrupts disabled and spinlocks held;
    /// the caller must hold another reference (the timer's is dropped here). Returns whether
    /// the timer was dequeued.
    pub(crate) fn try_cancel(&self) -> bool {
        // SAFETY: the timer is initialised.
        let dequeued = unsafe { bindings::hrtimer_try_to_cancel(self.timer.get()) } == 1;
        if dequeued {
            // Dequeued before its callback took it: the timer's reference.
            drop(self.owner.take());
        }
        dequeued
    }

    /// If the timer is queued, makes it expire now (its callback runs, from the timer, as soon
    /// as possible). Safe to call with interrupts disabled and spinlocks held.
    pub(crate) fn expire_now(&self) -> Expire {
        // SAFETY: the timer is initialised.
        match unsafe { bindings::hrtimer_try_to_cancel(self.timer.get()) } {
            1 => {
                // Dequeued: `owner` still holds the Arc, and it is handed to the re-queued
                // timer. SAFETY: initialised and kept alive by `owner`.
                unsafe { bindings::hrtimer_start_range_ns(self.timer.get(), 0, 0, MODE) };
                Expire::Rearmed
            }
            -1 => Expire::Running,
            _ => Expire::Inactive,
        }
    }
}

/// # Safety
///
/// Called by the hrtimer core, in hard-irq context, with the `timer` field of a queued
/// `HrTimer<T>`.
unsafe extern "C" fn trampoline<T: TimerCallback>(
    timer: *mut bindings::hrtimer,
) -> bindings::hrtimer_restart {
    let offset = core::mem::offset_of!(HrTimer<T>, timer);
    // SAFETY: container_of; the `HrTimer` is alive because `owner` holds an Arc to its `T`.
    let this = unsafe { &*timer.cast::<u8>().sub(offset).cast::<HrTimer<T>>() };
    if let Some(owner) = this.owner.take() {
        T::run(owner);
    }
    bindings::hrtimer_restart_HRTIMER_NORESTART
}
