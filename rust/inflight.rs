// SPDX-License-Identifier: GPL-2.0

//! The index of a context's in-flight requests (the successor of `active_reqs`), guarded by
//! `ctx_lock`.
//!
//! Linux lists only cancellable requests, in submission order, and io_cancel walks the list:
//! O(n) with interrupts off. kaio lists every request from submission until its event is
//! posted (reads, writes and fsyncs too, so that a cancel can say they are running), in five
//! families of lists (`rust/sys/seq_index.rs`), each list in submission order:
//!
//! | family | lists | a request is in the one of | serves |
//! | --- | --- | --- | --- |
//! | `ALL` | one | every request | ANY, the teardown sweep |
//! | `BY_OBJ` | hashed buckets | its iocb user address (`ki_res.obj`) | io_cancel, `KAIO_CANCEL_IOCB` |
//! | `BY_DATA` | hashed buckets | its `aio_data` | `KAIO_CANCEL_DATA` |
//! | `BY_FILE` | hashed buckets | its `struct file` (0 for a delay) | `KAIO_CANCEL_FD` |
//! | `BY_OP` | one per opcode | its `aio_lio_opcode` | `KAIO_CANCEL_OP` |
//!
//! Listing appends to five lists and unlisting unlinks from them: O(1) each, where four
//! red-black trees cost a rebalancing each way. A match walks one list, oldest first: by
//! opcode or ANY O(matches); by iocb, data or file O(matches + the other keys that share the
//! bucket). Buckets number about one per two ring slots (at most [`MAX_BUCKETS`]), hashed with
//! a seed of the context's own, so a bucket holds one key on average whatever the keys are.
//! The first match in a list is the oldest. One step of a walk ([`InFlight::find`]) looks at
//! no more than [`SCAN_BATCH`] requests (or other walks' parked cursors, which count too), and
//! a cancel makes at most 32 steps per hold of the lock (`TAKE_BATCH`, rust/cancel.rs), so one
//! hold looks at no more than 1024: the walk parks
//! a cursor in the list and goes on from it after the lock was dropped, however the list
//! changed meanwhile; and since a list is in submission order, an ALL walk stops at the first
//! request submitted after it started.

use crate::req::Kiocb;
use crate::sys::irq_spinlock::IrqSpinLock;
use crate::sys::seq_index::{impl_index_item, Buckets, Cursor, LockedIndex, Scan, SeqIndex, Verdict};
use kernel::prelude::*;
use crate::sys::arc::Arc;

/// The families of the index.
pub(crate) const ALL: usize = 0;
pub(crate) const BY_OBJ: usize = 1;
pub(crate) const BY_DATA: usize = 2;
pub(crate) const BY_FILE: usize = 3;
pub(crate) const BY_OP: usize = 4;
/// Number of families.
pub(crate) const FAMILIES: usize = 5;

/// Most requests one walk looks at before it lets go of `ctx_lock`.
pub(crate) const SCAN_BATCH: usize = 32;

/// Most buckets of a hashed family (24 bytes each): a context of 16384 slots or more shares
/// them, four requests a bucket when it is full.
const MAX_BUCKETS: usize = 8192;

impl_index_item!(Kiocb, links, FAMILIES, |req, family| match family {
    ALL => 0,
    BY_OBJ => req.obj(),
    BY_DATA => req.data(),
    BY_FILE => req.file_key(),
    _ => req.op_slot() as u64,
});

/// A walk of the index: where a cancel or the sweep goes on after letting go of `ctx_lock`.
pub(crate) type Walk<'a> = Cursor<'a, Kiocb, FAMILIES>;

impl LockedIndex<Kiocb, FAMILIES> for IrqSpinLock<InFlight> {
    fn with_index(&self, f: &mut dyn FnMut(&mut SeqIndex<Kiocb, FAMILIES>)) {
        f(&mut self.lock().index)
    }
}

/// What a cancel matches (ABI `KAIO_CANCEL_IOCB/DATA/FD/OP`); all `None` is ANY.
#[derive(Clone, Copy, Default)]
pub(crate) struct Selector {
    pub(crate) iocb: Option<u64>,
    pub(crate) data: Option<u64>,
    pub(crate) file: Option<u64>,
    pub(crate) op: Option<u16>,
}

impl Selector {
    /// io_cancel's selector.
    pub(crate) fn iocb(obj: u64) -> Selector {
        Selector { iocb: Some(obj), ..Selector::default() }
    }

    fn matches(&self, req: &Kiocb) -> bool {
        self.iocb.map_or(true, |k| req.obj() == k)
            && self.data.map_or(true, |k| req.data() == k)
            && self.file.map_or(true, |k| req.file_key() == k)
            && self.op.map_or(true, |k| req.opcode() == k)
    }

    /// The most selective list to walk: its family and slot value (`None`: an opcode kaio
    /// does not run, which nothing matches).
    fn list(&self) -> Option<(usize, u64)> {
        Some(match (self.iocb, self.data, self.file, self.op) {
            (Some(k), ..) => (BY_OBJ, k),
            (_, Some(k), ..) => (BY_DATA, k),
            (_, _, Some(k), _) => (BY_FILE, k),
            (_, _, _, Some(op)) => (BY_OP, op_index(op)? as u64),
            _ => (ALL, 0),
        })
    }

    /// A walk of the requests that may match, in `lock`'s index; pin it, then
    /// [`InFlight::find`] with it.
    pub(crate) fn walk<'a>(&self, lock: &'a IrqSpinLock<InFlight>) -> Walk<'a> {
        let (family, slot) = self.list().unwrap_or((BY_OP, u64::MAX));
        Cursor::new(lock, family, slot)
    }
}

/// What one step of a walk found.
pub(crate) enum Step {
    /// A matching request, still listed; the walk goes on after it.
    Match(Arc<Kiocb>),
    /// A matching request the walk was asked to take ([`Take`]), off the index now (the
    /// index's reference); the walk goes on from where it was.
    Taken(Arc<Kiocb>),
    /// A matching request that [`Take::CancellableInPlace`] found cancellable, still listed:
    /// the caller claims it in this hold of `ctx_lock`.
    Claimable(Arc<Kiocb>),
    /// A matching request another cancel claimed and is delivering (RESULT): neither
    /// cancellable nor running for this one, which may wait for its event. The walk goes on
    /// after it.
    Delivering,
    /// [`SCAN_BATCH`] requests looked at without a match: drop the lock, then go on.
    Pause,
    /// Nothing left.
    Done,
}

/// Which matches a walk takes off the index as it finds them.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Take {
    /// None: each is a [`Step::Match`].
    Nothing,
    /// The cancellable ones ([`Step::Taken`]); the others are a [`Step::Match`].
    Cancellable,
    /// The cancellable ones; the others do not match (io_cancel's `active_reqs`).
    OnlyCancellable,
    /// None: a cancellable one is a [`Step::Claimable`], left listed until its event is
    /// delivered (RESULT, whose copy to the caller is made after `ctx_lock`); the others are a
    /// [`Step::Match`].
    CancellableInPlace,
    /// None, and only those another cancel is delivering match ([`Step::Match`]).
    OnlyDelivering,
}

/// The in-flight requests of a context.
pub(crate) struct InFlight {
    index: SeqIndex<Kiocb, FAMILIES>,
    next_seq: u64,
    /// Requests listed now.
    len: usize,
    /// Of those, by opcode ([`OPCODES`]' order).
    per_op: [u32; OPCODES.len()],
}

/// The opcodes kaio runs, in the order [`InFlight::per_op`] counts them.
pub(crate) const OPCODES: [(u16, &str); 8] = [
    (0, "pread"),
    (1, "pwrite"),
    (2, "fsync"),
    (3, "fdsync"),
    (5, "poll"),
    (7, "preadv"),
    (8, "pwritev"),
    (0x4b00, "delay"),
];

pub(crate) fn op_index(opcode: u16) -> Option<usize> {
    OPCODES.iter().position(|(op, _)| *op == opcode)
}

impl InFlight {
    /// An empty index for a context of `slots` ring slots (at most that many in flight).
    pub(crate) fn new(slots: u32) -> Result<Self> {
        let hashed = Buckets::Hashed((slots as usize / 2).clamp(8, MAX_BUCKETS));
        Ok(InFlight {
            index: SeqIndex::new([Buckets::Direct(1), hashed, hashed, hashed, Buckets::Direct(OPCODES.len())])?,
            next_seq: 1,
            len: 0,
            per_op: [0; OPCODES.len()],
        })
    }

    /// Lists `req` under the next sequence number (`list_add_tail`).
    pub(crate) fn list(&mut self, req: &Arc<Kiocb>) {
        // A request is listed once, in its own context's index; one listed already keeps its
        // place and its number.
        if self.index.insert(req.clone()).is_err() {
            kernel::pr_warn!("kaio: request listed twice\n");
            return;
        }
        // Numbered under the same hold of ctx_lock, before any walk can look at it.
        req.set_seq(self.next_seq);
        self.next_seq += 1;
        self.len += 1;
        self.per_op[req.op_slot()] += 1;
    }

    /// How many requests are listed, by opcode ([`OPCODES`]' order).
    pub(crate) fn per_op(&self) -> [u32; OPCODES.len()] {
        self.per_op
    }

    /// How many requests are listed.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Takes `req` off the index (`list_del_init`): `None` if it is not listed (never, or
    /// already taken off by a cancel, the teardown sweep or its own completion).
    pub(crate) fn unlist(&mut self, req: &Kiocb) -> Option<Arc<Kiocb>> {
        let taken = self.index.remove(req);
        if taken.is_some() {
            self.count_off(req);
        }
        taken
    }

    /// Counts `req` off the index's totals, once it is taken off.
    fn count_off(&mut self, req: &Kiocb) {
        self.len -= 1;
        self.per_op[req.op_slot()] -= 1;
    }

    /// The sequence number the next listed request gets: requests below it are the ones in
    /// flight now.
    pub(crate) fn boundary(&self) -> u64 {
        self.next_seq
    }

    /// From where `walk` stands, the next request that matches `sel`, was listed before
    /// `before` and has not posted its event yet; taken off the index as `take` says.
    pub(crate) fn find(&mut self, sel: &Selector, walk: Pin<&mut Walk<'_>>, before: u64, take: Take) -> Step {
        if sel.list().is_none() {
            return Step::Done;
        }
        let mut claimable = false;
        let mut delivering = false;
        let judge = |req: &Kiocb| {
            if req.seq() >= before {
                // Every later one in the list was listed later still.
                Verdict::End
            } else if req.is_posted() || !sel.matches(req) {
                Verdict::Skip
            } else if take == Take::Nothing {
                Verdict::Take
            } else if take == Take::OnlyDelivering {
                // Claimed while listed: a RESULT cancel delivers it.
                if req.is_claimed() { Verdict::Take } else { Verdict::Skip }
            } else if req.is_claimed() {
                delivering = true;
                Verdict::Take
            } else if req.cancel_takes() {
                if take == Take::CancellableInPlace {
                    claimable = true;
                    Verdict::Take
                } else {
                    Verdict::Remove
                }
            } else if take == Take::OnlyCancellable {
                Verdict::Skip
            } else {
                Verdict::Take
            }
        };
        match self.index.scan(walk, SCAN_BATCH, judge) {
            Scan::Taken(req) if claimable => Step::Claimable(req),
            // Listed: the index's reference outlives the one dropped here.
            Scan::Taken(_) if delivering => Step::Delivering,
            Scan::Taken(req) => Step::Match(req),
            Scan::Removed(req) => {
                self.count_off(&req);
                Step::Taken(req)
            }
            Scan::Paused => Step::Pause,
            Scan::Done => Step::Done,
        }
    }

    /// Ends `walk` now, under the lock, if it is parked (else its drop takes the lock to).
    pub(crate) fn end_walk(&mut self, walk: Pin<&mut Walk<'_>>) {
        self.index.release(walk);
    }
}
