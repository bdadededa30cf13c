// SPDX-License-Identifier: GPL-2.0

//! Task work: a callback the kernel runs in the calling task on its way back to user space
//! (`task_work_add(current, .., TWA_RESUME)`), carrying the `Arc<T>` it was queued with.
//!
//! C header: [`include/linux/task_work.h`](srctree/include/linux/task_work.h).
//!
//! Module text: core code (`task_work_run`) calls the callback at a time no file of the module
//! bounds (the task may sleep in the system call that queued it while the module's last file
//! is closed). So a queued item holds a reference on the module (an unloading module queues
//! nothing), which the trampoline drops as its last act. The instructions after that drop
//! still run module text: the unload waits for them with `synchronize_rcu_tasks()`
//! ([`ModuleTaskWorks`]), which returns only once every task has passed a voluntary context
//! switch or user mode since. Without Tasks RCU it is `synchronize_rcu()`, whose grace period
//! a non-preemptible kernel's CPU cannot end before the trampoline returned; a preemptible
//! kernel without Tasks RCU (possible: it comes with tracing or BPF) could preempt the
//! trampoline after its last drop and unload the module under it, so there nothing is queued
//! ([`TASK_WORK_USABLE`]) and callers take their other way (the workers).

use super::{arc_slot::ArcSlot, bindings};
use core::sync::atomic::{AtomicBool, Ordering};
use core::marker::PhantomData;
use kernel::{prelude::*, types::Opaque};
use super::arc::Arc;

/// Proof that the caller runs in a user task (not an interrupt, not a kernel thread): one a
/// task work item can be queued on. Made by [`super::mm::MmId::current_user_task`], which
/// checks it anyway; not `Send`, so it stays with the context that checked.
pub(crate) struct UserTask {
    _not_send: PhantomData<*mut ()>,
}

impl UserTask {
    /// # Safety
    ///
    /// The caller runs in a user task (`in_task()`, not `PF_KTHREAD`).
    pub(super) unsafe fn new_unchecked() -> UserTask {
        UserTask { _not_send: PhantomData }
    }
}

/// Whether the unload can wait for a trampoline's last instructions (see the module comment).
const TASK_WORK_USABLE: bool = cfg!(any(CONFIG_TASKS_RCU, not(CONFIG_PREEMPTION)));

/// Whether an item was ever queued since the module loaded (the unload then waits).
static QUEUED_EVER: AtomicBool = AtomicBool::new(false);

/// Waits, when the module unloads, until no trampoline runs module text any more.
pub(crate) struct ModuleTaskWorks(());

impl ModuleTaskWorks {
    pub(crate) fn new() -> ModuleTaskWorks {
        ModuleTaskWorks(())
    }
}

impl Drop for ModuleTaskWorks {
    fn drop(&mut self) {
        // The module's reference count is zero: every trampoline has dropped its reference
        // and at most runs its last instructions.
        if QUEUED_EVER.load(Ordering::Acquire) {
            // SAFETY: process context (module unload).
            unsafe { bindings::kaio_synchronize_rcu_tasks() };
        }
    }
}

/// What a task work item does.
pub(crate) trait TaskWorkCallback: Send + Sync + Sized {
    /// In the task that queued it, on its way back to user space (or in its exit): process
    /// context, no lock held, may sleep.
    fn run_task_work(this: Arc<Self>);
}

/// A task work item that runs `T::run_task_work` with the `Arc<T>` it was queued with.
///
/// # Invariants
///
/// `head` is initialised with `trampoline::<T>`; while it is queued `owner` holds an `Arc<T>`
/// keeping the embedding `T` alive, and the item holds a reference on the module.
#[pin_data]
pub(crate) struct TaskWork<T: TaskWorkCallback> {
    #[pin]
    head: Opaque<bindings::callback_head>,
    owner: ArcSlot<T>,
}

// SAFETY: `task_work_add` is thread-safe; `owner` is atomic.
unsafe impl<T: TaskWorkCallback> Send for TaskWork<T> {}
// SAFETY: as above.
unsafe impl<T: TaskWorkCallback> Sync for TaskWork<T> {}

impl<T: TaskWorkCallback> TaskWork<T> {
    /// An idle item.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is valid for writes; `init_task_work` initialises it.
            head <- Opaque::ffi_init(|slot| unsafe { bindings::kaio_init_task_work(slot, Some(trampoline::<T>)) }),
            owner: ArcSlot::empty(),
        })
    }

    /// Queues the item to run in the calling user task on its way back to user space, with
    /// `owner`. Nothing is queued (and `owner` is dropped) if the item is queued already (in
    /// this task or another), if the task is exiting or if the module is unloading: the
    /// caller has another way on for the work (its workers). Never queued on a kernel whose
    /// unload could not wait for the trampoline (see the module comment).
    pub(crate) fn queue_on_current(&self, owner: Arc<T>, _task: UserTask) {
        if !TASK_WORK_USABLE {
            return;
        }
        // SAFETY: may be called in any context.
        if !unsafe { bindings::kaio_module_get() } {
            return;
        }
        if self.owner.put(owner).is_err() {
            // SAFETY: the reference taken above; the caller's own code is pinned otherwise
            // (it runs on behalf of an open file or a queued item of the module).
            unsafe { bindings::kaio_module_put() };
            return;
        }
        QUEUED_EVER.store(true, Ordering::Release);
        // INVARIANT: `owner` holds the Arc and the module reference is held while queued.
        // SAFETY: initialised head, kept alive by `owner`; the caller is a user task.
        if unsafe { bindings::kaio_task_work_add_current(self.head.get()) } == 0 {
            return;
        }
        // The task is exiting: nothing was queued.
        drop(self.owner.take());
        // SAFETY: as above.
        unsafe { bindings::kaio_module_put() };
    }
}

/// # Safety
///
/// Called by `task_work_run` with the `head` of a queued `TaskWork<T>`.
unsafe extern "C" fn trampoline<T: TaskWorkCallback>(head: *mut bindings::callback_head) {
    let offset = core::mem::offset_of!(TaskWork<T>, head);
    // SAFETY: container_of; alive because `owner` holds an Arc to the embedding `T`.
    let this = unsafe { &*head.cast::<u8>().sub(offset).cast::<TaskWork<T>>() };
    // After the take the item may be queued again (the core read `head->next` already), and
    // once the owner is dropped `this` may be gone: not touched again.
    if let Some(owner) = this.owner.take() {
        T::run_task_work(owner);
    }
    // SAFETY: the reference the queueing took (type invariant). The last act: the unload
    // waits for the instructions after it (see the module's comment).
    unsafe { bindings::kaio_module_put() };
}
