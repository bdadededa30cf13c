// SPDX-License-Identifier: GPL-2.0

//! The index of a context's in-flight requests (the successor of `active_reqs`), guarded by
//! `ctx_lock`.
//!
//! Linux lists only cancellable requests, in submission order, and io_cancel walks the list:
//! O(n) with interrupts off. kaio lists every request from submission until its event is
//! posted (reads, writes and fsyncs too, so that a cancel can say they are running), in four
//! intrusive trees, each ordered by one key and then by the listing sequence number:
//!
//! | tree | key | serves |
//! | --- | --- | --- |
//! | `BY_OBJ` | iocb user address (`ki_res.obj`) | io_cancel, `KAIO_CANCEL_IOCB`, ANY |
//! | `BY_DATA` | `aio_data` | `KAIO_CANCEL_DATA` |
//! | `BY_FILE` | the `struct file` (0 for a delay) | `KAIO_CANCEL_FD` |
//! | `BY_OP` | `aio_lio_opcode` | `KAIO_CANCEL_OP` |
//!
//! A match by iocb or data is O(log n), by file or opcode O(log n + matches), ANY O(matches).
//! Within one key the oldest request comes first. A walk never holds the lock for more than
//! [`SCAN_BATCH`] requests: it stops with a [`Resume`] point and goes on after the lock was
//! dropped.
//!
//! In front of `BY_OBJ`, a hash by iocb address (`by_obj`, about one bucket per two ring
//! slots) finds a request by its iocb in one short chain instead of a walk down the tree, which
//! is most of a cancel's growth with the number in flight. A chain longer than [`SCAN_BATCH`]
//! (colliding or repeated addresses) is left for the tree.

use crate::req::Kiocb;
use crate::sys::hash_chains::{impl_hash_item, HashChains};
use crate::sys::rb_forest::{impl_forest_item, Forest, Key};
use kernel::prelude::*;
use crate::sys::arc::Arc;

/// The trees of the index.
pub(crate) const BY_OBJ: usize = 0;
pub(crate) const BY_DATA: usize = 1;
pub(crate) const BY_FILE: usize = 2;
pub(crate) const BY_OP: usize = 3;
/// Number of trees.
pub(crate) const TREES: usize = 4;

/// Most requests one walk looks at before it lets go of `ctx_lock`.
pub(crate) const SCAN_BATCH: usize = 32;

impl_forest_item!(
    Kiocb,
    links,
    TREES,
    |req, tree| match tree {
        BY_OBJ => req.obj(),
        BY_DATA => req.data(),
        BY_FILE => req.file_key(),
        _ => u64::from(req.opcode()),
    },
    |req| req.seq()
);

impl_hash_item!(Kiocb, obj_link, |req| req.obj());

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

    /// The most selective tree to walk, and the key every match has in it (`None`: all keys).
    fn tree(&self) -> (usize, Option<u64>) {
        match (self.iocb, self.data, self.file, self.op) {
            (Some(k), ..) => (BY_OBJ, Some(k)),
            (_, Some(k), ..) => (BY_DATA, Some(k)),
            (_, _, Some(k), _) => (BY_FILE, Some(k)),
            (_, _, _, Some(k)) => (BY_OP, Some(u64::from(k))),
            _ => (BY_OBJ, None),
        }
    }

    /// Where a walk starts.
    pub(crate) fn start(&self) -> Resume {
        let (_, key) = self.tree();
        Resume((key.unwrap_or(0), 0))
    }
}

/// Where an interrupted walk goes on: the first key of its tree not yet looked at.
#[derive(Clone, Copy)]
pub(crate) struct Resume(Key);

/// What one step of a walk found.
pub(crate) enum Step {
    /// A matching request, and where the walk goes on after it.
    Match(Arc<Kiocb>, Resume),
    /// [`SCAN_BATCH`] requests looked at without a match: drop the lock, then go on.
    Pause(Resume),
    /// Nothing left.
    Done,
}

/// The in-flight requests of a context.
pub(crate) struct InFlight {
    forest: Forest<Kiocb, TREES>,
    /// The requests of `forest` again, by iocb address.
    by_obj: HashChains<Kiocb>,
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

fn op_index(opcode: u16) -> Option<usize> {
    OPCODES.iter().position(|(op, _)| *op == opcode)
}

impl InFlight {
    /// An empty index for a context of `slots` ring slots (at most that many in flight).
    pub(crate) fn new(slots: u32) -> Result<Self> {
        Ok(InFlight {
            forest: Forest::new(),
            by_obj: HashChains::new(slots as usize / 2)?,
            next_seq: 1,
            len: 0,
            per_op: [0; OPCODES.len()],
        })
    }

    /// Lists `req` under the next sequence number (`list_add_tail`).
    pub(crate) fn list(&mut self, req: &Arc<Kiocb>) {
        req.set_seq(self.next_seq);
        self.next_seq += 1;
        // A request is listed once, in its own context's index.
        if self.forest.insert(req.clone()).is_err() {
            kernel::pr_warn!("kaio: request listed twice\n");
        } else {
            // Not in any hash: it was in no forest either.
            let _ = self.by_obj.insert(req.clone());
            self.len += 1;
            if let Some(i) = op_index(req.opcode()) {
                self.per_op[i] += 1;
            }
        }
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
        let taken = self.forest.remove(req);
        if taken.is_some() {
            drop(self.by_obj.remove(req));
            self.len -= 1;
            if let Some(i) = op_index(req.opcode()) {
                self.per_op[i] -= 1;
            }
        }
        taken
    }

    /// The sequence number the next listed request gets: requests below it are the ones in
    /// flight now.
    pub(crate) fn boundary(&self) -> u64 {
        self.next_seq
    }

    /// From `from`, the next request that matches `sel`, was listed before `before` and has
    /// not posted its event yet.
    pub(crate) fn find(&self, sel: &Selector, from: Resume, before: u64) -> Step {
        if let Some(step) = sel.iocb.and_then(|obj| self.find_by_obj(obj, sel, from, before)) {
            return step;
        }
        let (tree, key) = sel.tree();
        let mut next = self.forest.lower_bound(tree, from.0);
        let mut looked = 0;
        while let Some(req) = next {
            let at = self.forest.key_of(req, tree);
            if key.is_some_and(|k| at.0 != k) {
                break;
            }
            let after = Resume((at.0, at.1.saturating_add(1)));
            if at.1 < before && !req.is_posted() && sel.matches(req) {
                if let Some(req) = self.forest.get(req) {
                    return Step::Match(req, after);
                }
            }
            looked += 1;
            if looked == SCAN_BATCH {
                return Step::Pause(after);
            }
            next = self.forest.next(tree, req);
        }
        Step::Done
    }

    /// [`InFlight::find`] for a selector with an iocb, through `by_obj`: the oldest match at or
    /// after `from` (whose key is `obj`), as the walk of `BY_OBJ` would find it. `None` if the
    /// chain is longer than [`SCAN_BATCH`]: the tree walk does it then.
    fn find_by_obj(&self, obj: u64, sel: &Selector, from: Resume, before: u64) -> Option<Step> {
        let mut oldest: Option<&Kiocb> = None;
        for (looked, req) in self.by_obj.chain_of(obj).enumerate() {
            if looked == SCAN_BATCH {
                return None;
            }
            let seq = req.seq();
            if req.obj() == obj
                && seq >= from.0 .1
                && seq < before
                && oldest.map_or(true, |o| seq < o.seq())
                && !req.is_posted()
                && sel.matches(req)
            {
                oldest = Some(req);
            }
        }
        Some(match oldest.and_then(|req| self.by_obj.get(req)) {
            Some(req) => {
                let after = Resume((obj, req.seq().saturating_add(1)));
                Step::Match(req, after)
            }
            None => Step::Done,
        })
    }
}
