// SPDX-License-Identifier: GPL-2.0

//! The operations a request can carry, one file per opcode family.

pub(crate) mod delay;
pub(crate) mod fsync;
pub(crate) mod poll;
pub(crate) mod polled_rw;
pub(crate) mod ready_list;
pub(crate) mod rw;
