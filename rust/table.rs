// SPDX-License-Identifier: GPL-2.0

//! The ioctx table of a domain (`mm->ioctx_table`) and `lookup_ioctx`.
//!
//! Readers find contexts without locks, under RCU. Writers (setup, kill) are serialised by
//! `writer` (`mm->ioctx_lock`). A context takes the first free slot and keeps that index (it is
//! `ring->id`) for its life; a full table is replaced by a copy 4 times larger (4, 16, 64, ...
//! slots, as Linux), published with release ordering, the old copy freed after a grace period.
//! A slot's reference to a killed context is dropped only after a grace period too.

use crate::ctx::Kioctx;
use crate::sys::{
    mm::MmId,
    rcu::{self, RcuBox, RcuSlots, Retired},
    user_word,
};
use core::ops::Deref;
use core::sync::atomic::Ordering;
use kernel::{
    new_mutex,
    prelude::*,
    sync::Mutex,
};
use crate::sys::arc::Arc;

/// The table of a domain.
#[pin_data]
pub(crate) struct Table {
    published: RcuBox<RcuSlots<Kioctx>>,
    /// Serialises writers.
    #[pin]
    writer: Mutex<()>,
}

/// A context found by [`Table::lookup`]: holds one of its `users` references.
pub(crate) struct CtxRef(Arc<Kioctx>);

impl Deref for CtxRef {
    type Target = Arc<Kioctx>;
    fn deref(&self) -> &Arc<Kioctx> {
        &self.0
    }
}

impl Drop for CtxRef {
    fn drop(&mut self) {
        self.0.users.put();
    }
}

impl Table {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Table {
            published: RcuBox::empty(),
            writer <- new_mutex!((), "kaio::ioctx_lock"),
        })
    }

    /// `lookup_ioctx`: the id is read from the ring header at the user address `ctx_id`, then
    /// under RCU: bounds check, exact address match, the caller's address space, and a live
    /// `users` reference. Every failure is "no such context".
    pub(crate) fn lookup(&self, ctx_id: u64) -> Option<CtxRef> {
        let id: u32 = user_word::get(ctx_id as usize).ok()?;
        let mm = MmId::current();
        let guard = rcu::Guard::new();
        let ctx = self.published.load(&guard)?.get(id as usize, &guard)?;
        if ctx.user_id() as u64 != ctx_id || ctx.mm != mm || !ctx.tryget_user() {
            return None;
        }
        Some(CtxRef(ctx.into()))
    }

    /// `ioctx_add_table`: publishes `ctx` in the first free slot, growing the table if it is
    /// full, writes the index into `ring->id` and returns it.
    pub(crate) fn insert(&self, ctx: &Arc<Kioctx>) -> Result<u32> {
        // A grown table's predecessor, freed after the writer lock: its slots hold references
        // to the contexts, which must not be dropped from an RCU callback (one may be the last,
        // and a context goes in process context), so this task waits for the grace period.
        let mut old_table = None;
        let writer = self.writer.lock();
        let (len, free) = {
            let guard = rcu::Guard::new();
            match self.published.load(&guard) {
                None => (0, None),
                Some(t) => (t.len(), (0..t.len()).find(|&i| t.get(i, &guard).is_none())),
            }
        };
        let index = match free {
            Some(i) => {
                let guard = rcu::Guard::new();
                let table = self.published.load(&guard).ok_or(EINVAL)?;
                table.publish(i, ctx.clone()).map_err(|_| EINVAL)?;
                i
            }
            None => {
                let grown = RcuSlots::new(if len == 0 { 4 } else { len.checked_mul(4).ok_or(ENOMEM)? }, GFP_KERNEL)?;
                {
                    let guard = rcu::Guard::new();
                    if let Some(old) = self.published.load(&guard) {
                        old.copy_into(&grown, &guard);
                    }
                }
                grown.publish(len, ctx.clone()).map_err(|_| EINVAL)?;
                old_table = Some(self.published.replace(grown, GFP_KERNEL)?);
                len
            }
        };
        ctx.publish_id(index as u32);
        drop(writer);
        drop(old_table);
        Ok(index as u32)
    }

    /// The start of `kill_ioctx`: under the writer lock, marks `ctx` dead (once; `None` if it
    /// already was) and empties its slot, returning the slot's reference.
    pub(crate) fn kill(&self, ctx: &Arc<Kioctx>) -> Option<Retired<Arc<Kioctx>>> {
        let _writer = self.writer.lock();
        if !ctx.mark_dead() {
            return None;
        }
        let id = ctx.id.load(Ordering::Acquire) as usize;
        let guard = rcu::Guard::new();
        self.published.load(&guard)?.take_if(id, &guard, |c| core::ptr::eq(c, &**ctx))
    }

    /// `aio_ring_mremap`: under the writer lock, the live context of address space `mm` whose
    /// ring the moved mapping (page offset `pgoff`) is a piece of gets `new_addr` as its ctx id.
    /// `false` if there is none (a fork child's copy of the ring, or a dead context).
    pub(crate) fn ring_moved(&self, pgoff: usize, mm: MmId, new_addr: usize) -> bool {
        let _writer = self.writer.lock();
        let guard = rcu::Guard::new();
        let Some(table) = self.published.load(&guard) else { return false };
        for i in 0..table.len() {
            if let Some(ctx) = table.get(i, &guard) {
                // The bug put back (tests/check-bugs.sh): any address space's copy of the ring
                // re-homes the context, as a fork child's did ("aio: fix mremap after fork
                // null-deref").
                #[cfg(kaio_bug = "mremap_any_mm")]
                let mm = ctx.mm;
                if ctx.ring_holds_pgoff(pgoff) && ctx.mm == mm && !ctx.dead.load(Ordering::Acquire) {
                    ctx.move_mapping(new_addr);
                    return true;
                }
            }
        }
        false
    }

    /// Marks dead and unpublishes every live context of the table whose address space is `mm`
    /// (all of them for `None`), handing each slot's reference to `each`.
    pub(crate) fn kill_all(&self, mm: Option<MmId>, mut each: impl FnMut(Retired<Arc<Kioctx>>)) {
        let _writer = self.writer.lock();
        let len = {
            let guard = rcu::Guard::new();
            self.published.load(&guard).map_or(0, |t| t.len())
        };
        for i in 0..len {
            let taken = {
                let guard = rcu::Guard::new();
                self.published.load(&guard).and_then(|table| {
                    table.take_if(i, &guard, |c| mm.is_none_or(|mm| c.mm == mm) && c.mark_dead())
                })
            };
            if let Some(retired) = taken {
                each(retired);
            }
        }
    }
}
