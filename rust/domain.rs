// SPDX-License-Identifier: GPL-2.0

//! An AIO domain: the state of one open file description of `/dev/kaio`.

use crate::sys::file::VmArea;
use kernel::{prelude::*, sync::Arc};

/// The per-open state of `/dev/kaio`.
pub(crate) struct Domain {}

impl Domain {
    /// A new, empty domain.
    pub(crate) fn new() -> Result<Arc<Domain>> {
        Ok(Arc::new(Domain {}, GFP_KERNEL)?)
    }

    /// The last reference to the file is gone.
    pub(crate) fn release(&self) {}

    /// A mapping of the device file. Rings are mapped by the module itself during setup; a
    /// mapping asked for by user space directly is refused.
    pub(crate) fn mmap(&self, _vma: &VmArea) -> Result {
        Err(EINVAL)
    }
}
