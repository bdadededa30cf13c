// SPDX-License-Identifier: GPL-2.0

//! kaio: Linux native AIO (`fs/aio.c`) re-implemented behind the ioctls of `/dev/kaio`.
//!
//! Layout: [`device`] is the misc device and its file operations, [`ioctl`] decodes the
//! argument blocks and dispatches, [`domain`] is the per-open state. [`sys`] is the
//! abstraction layer over C, the only place with `unsafe`. [`uapi`] is the user ABI.

use kernel::prelude::*;

mod device;
mod domain;
mod ioctl;
mod sys;
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
    _device: Pin<KBox<sys::miscdev::Registration<device::KaioDevice>>>,
}

impl kernel::Module for KaioModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let device = KBox::pin_init(device::register(module), GFP_KERNEL)?;
        Ok(KaioModule { _device: device })
    }
}
