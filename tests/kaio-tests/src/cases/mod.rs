//! The test cases, one file per area. Cases whose behaviour native AIO defines are written once,
//! generic over the backend (`aio::Aio`), and compared; the rest are kaio only.

use crate::ktap::Case;

mod cancel;
mod cancel_match;
mod cancel_sync;
mod delay;
mod destroy;
mod device;
mod getevents;
mod history;
mod history_mm;
mod lifecycle;
mod opcodes;
mod params;
mod pgetevents;
mod polled_rw;
mod races;
mod ring;
mod setup;
mod sockets;
mod stats;
mod submit;
mod trace;

/// Every case, in the order they run.
pub fn all() -> Vec<Case> {
    let mut v = Vec::new();
    v.extend(device::cases());
    v.extend(setup::cases());
    v.extend(destroy::cases());
    v.extend(submit::cases());
    v.extend(getevents::cases());
    v.extend(cancel::cases());
    v.extend(ring::cases());
    v.extend(delay::cases());
    v.extend(opcodes::cases());
    v.extend(params::cases());
    v.extend(lifecycle::cases());
    v.extend(races::cases());
    v.extend(pgetevents::cases());
    v.extend(cancel_sync::cases());
    v.extend(cancel_match::cases());
    v.extend(sockets::cases());
    v.extend(history::cases());
    v.extend(history_mm::cases());
    v.extend(polled_rw::cases());
    v.extend(trace::cases());
    v.extend(stats::cases());
    v
}
