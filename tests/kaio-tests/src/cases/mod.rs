//! The test cases, one file per area.

use crate::ktap::Case;

mod device;

/// Every case, in the order they run.
pub fn all() -> Vec<Case> {
    let mut v = Vec::new();
    v.extend(device::cases());
    v
}
