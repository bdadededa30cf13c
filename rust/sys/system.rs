// SPDX-License-Identifier: GPL-2.0

//! Small system facts and conversions: possible CPUs, jiffies, module parameters.

use super::bindings;
use core::sync::atomic::AtomicU64;

/// `num_possible_cpus()`.
pub(crate) fn num_possible_cpus() -> u32 {
    // SAFETY: reads a kernel-global mask.
    unsafe { bindings::kaio_num_possible_cpus() }
}

/// `nsecs_to_jiffies()`, rounded up.
pub(crate) fn nsecs_to_jiffies(ns: u64) -> u64 {
    // SAFETY: a pure conversion.
    unsafe { bindings::nsecs_to_jiffies(ns) as u64 }
}

/// The `max_nr` module parameter (read-write by root through sysfs).
pub(crate) fn max_nr() -> u64 {
    // SAFETY: the parameter is a static `unsigned long`; sysfs writes it with a plain store,
    // so read it once, volatile.
    unsafe { bindings::kaio_param_max_nr().read_volatile() as u64 }
}

/// The `nr` module parameter: the sum of all live contexts' `max_reqs` (read-only in sysfs).
pub(crate) fn nr() -> &'static AtomicU64 {
    // SAFETY: a static, aligned `unsigned long` (64 bits here) that only this module writes;
    // sysfs only reads it.
    unsafe { AtomicU64::from_ptr(bindings::kaio_param_nr().cast::<u64>()) }
}

/// The calling process's id (`task_tgid_nr(current)`, in the initial namespace).
pub(crate) fn current_tgid() -> i32 {
    // SAFETY: always safe in task context.
    unsafe { bindings::kaio_current_tgid() }
}

/// `WARN_ON(cond)`: a kernel warning with a backtrace when `cond` holds.
#[allow(dead_code)]
pub(crate) fn warn_on(cond: bool) {
    // SAFETY: always safe to call.
    unsafe { bindings::kaio_warn_on(cond) };
}

/// `might_sleep()`: with `CONFIG_DEBUG_ATOMIC_SLEEP`, a warning when called where the caller
/// may not sleep (interrupts off, a spinlock held, an interrupt).
pub(crate) fn might_sleep() {
    // SAFETY: always safe to call.
    unsafe { bindings::kaio_might_sleep() };
}

/// `in_interrupt() || irqs_disabled()`: the caller cannot sleep (what a kernel without
/// preemption counting can tell; `might_sleep` also sees spinlocks where it counts them).
pub(crate) fn in_interrupt_or_irqs_off() -> bool {
    // SAFETY: always safe to call.
    unsafe { bindings::kaio_in_interrupt_or_irqs_off() }
}

/// Busy-waits `race_delay_us` microseconds (a module parameter, 0 unless a test widens a race
/// window with it; at most a millisecond). Process context.
pub(crate) fn race_delay() {
    // SAFETY: a plain read of an aligned word that the parameter code writes whole.
    busy_wait_us(unsafe { core::ptr::addr_of!(bindings::kaio_race_delay_us).read_volatile() }, 1000);
}

/// Busy-waits `completion_delay_us` microseconds (a module parameter, 0 unless a test widens
/// the window between the decision of a request's outcome and its event: a completion's or
/// cancel's post, a RESULT cancel's copy; at most 5 ms, wider than an emulated guest's timer
/// jitter). Any context.
pub(crate) fn completion_delay() {
    // SAFETY: a plain read of an aligned word that the parameter code writes whole.
    busy_wait_us(unsafe { core::ptr::addr_of!(bindings::kaio_completion_delay_us).read_volatile() }, 5000);
}

/// Busy-waits `rearm_delay_us` microseconds (a module parameter, 0 unless a test widens the
/// window between an attempt that would block after an arming found the file ready and the
/// next arming; at most 20 ms, wide enough for a datagram sent in the debug guest). Process
/// context.
pub(crate) fn rearm_delay() {
    // SAFETY: a plain read of an aligned word that the parameter code writes whole.
    busy_wait_us(unsafe { core::ptr::addr_of!(bindings::kaio_rearm_delay_us).read_volatile() }, 20000);
}

/// Whether a test asks polled blocking attempts to take the user-buffer path of files that
/// refuse a kernel buffer (`refuse_kernel_buffer`, a module parameter, 0 unless set).
pub(crate) fn refuse_kernel_buffer() -> bool {
    // SAFETY: a plain read of an aligned word that the parameter code writes whole.
    unsafe { core::ptr::addr_of!(bindings::kaio_refuse_kernel_buffer).read_volatile() != 0 }
}

fn busy_wait_us(us: u32, most: u32) {
    if us != 0 {
        // SAFETY: always safe to call.
        unsafe { bindings::kaio_udelay(us.min(most) as usize) };
    }
}

/// `msleep(ms)`: sleeps; process context only.
#[allow(dead_code)]
pub(crate) fn msleep(ms: u32) {
    // SAFETY: always safe to call; whether sleeping is allowed here is the caller's business
    // (the harness self-test calls it where it is not, on purpose).
    unsafe { bindings::msleep(ms) };
}
