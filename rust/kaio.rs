// SPDX-License-Identifier: GPL-2.0

//! kaio: Linux native AIO (`fs/aio.c`) re-implemented behind the ioctls of `/dev/kaio`.
//!
//! Layout: [`device`] is the misc device and its file operations, [`ioctl`] decodes the
//! argument blocks and applies the syscall-level rules, [`domain`] is the per-open state (the
//! ioctx [`table`], setup, destroy, teardown), [`ctx`] a context (refcounts, `ctx_lock`, the
//! completion ring, getevents), [`inflight`] the index of in-flight requests (`active_reqs`),
//! [`cancel`] the one cancel path, [`req`] a request (submit, claim, completion), [`ops`] the
//! opcodes, [`limits`] the aio-nr accounting, [`errors`] error codes the kernel crate lacks. [`sys`] is the
//! abstraction layer over C, the only place with `unsafe`. [`uapi`] is the user ABI.

#![recursion_limit = "256"]

use kernel::prelude::*;

mod cancel;
mod ctx;
mod device;
mod domain;
mod errors;
mod inflight;
mod ioctl;
mod limits;
mod ops;
mod req;
mod selftest_faults;
mod sys;
mod table;
#[allow(unreachable_pub, missing_docs)]
mod uapi;

module! {
    type: KaioModule,
    name: "kaio",
    author: "kaio developers",
    description: "Linux native AIO re-implemented in Rust behind /dev/kaio",
    license: "GPL",
}

struct KaioModule {
    // Drop order: the device goes first, then the workqueue (which drains it).
    _device: Pin<KBox<sys::miscdev::Registration<device::KaioDevice>>>,
    _queue: sys::work::ModuleQueue,
    _debugfs: sys::debugfs::ModuleDir,
    _task_works: sys::task_work::ModuleTaskWorks,
}

impl Drop for KaioModule {
    fn drop(&mut self) {
        // Every file is closed (they pin the module), so every context has drained. What may
        // still run module code: the tail of a timer callback or RCU callback that woke the
        // last waiter (interrupts-off regions, which a grace period waits for), and queued RCU
        // callbacks that free retired tables and run percpu_ref releases.
        sys::rcu::synchronize();
        sys::rcu::barrier();
    }
}

impl kernel::Module for KaioModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let debugfs = sys::debugfs::ModuleDir::new()?;
        let queue = sys::work::ModuleQueue::new()?;
        let device = KBox::pin_init(device::register(module), GFP_KERNEL)?;
        Ok(KaioModule { _device: device, _queue: queue, _debugfs: debugfs, _task_works: sys::task_work::ModuleTaskWorks::new() })
    }
}
