// SPDX-License-Identifier: GPL-2.0

//! `/dev/kaio`: a misc device, mode 0666, one AIO domain per open file description.

use crate::domain::Domain;
use crate::ioctl;
use crate::sys::file::{File, VmArea};
use crate::sys::miscdev::{MiscDevice, Registration};
use kernel::{c_str, prelude::*};
use crate::sys::arc::{Arc, ArcBorrow};

/// The file operations of `/dev/kaio`.
pub(crate) struct KaioDevice;

/// Registers `/dev/kaio`; unprivileged programs may open it, as they may call `io_setup(2)`.
pub(crate) fn register(module: &'static ThisModule) -> impl PinInit<Registration<KaioDevice>, Error> {
    Registration::register(c_str!("kaio"), 0o666, module)
}

impl MiscDevice for KaioDevice {
    type Data = Arc<Domain>;

    fn open(_file: &File) -> Result<Arc<Domain>> {
        crate::selftest_faults::on_open();
        Domain::new()
    }

    fn release(domain: Arc<Domain>, _file: &File) {
        domain.release();
    }

    fn ioctl(domain: ArcBorrow<'_, Domain>, file: &File, cmd: u32, arg: usize) -> Result<isize> {
        ioctl::dispatch(domain, file, cmd, arg)
    }

    fn mmap(domain: ArcBorrow<'_, Domain>, _file: &File, vma: &VmArea) -> Result {
        domain.mmap(vma)
    }

    fn mremap(domain: ArcBorrow<'_, Domain>, vma: &VmArea) -> Result {
        domain.ring_moved(vma)
    }
}
