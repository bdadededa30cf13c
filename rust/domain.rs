// SPDX-License-Identifier: GPL-2.0

//! An AIO domain: the state of one open file description of `/dev/kaio`, the analogue of the
//! AIO part of an `mm_struct`. It owns the ioctx table, creates contexts (io_setup), kills them
//! (io_destroy, and every remaining one when the file is released), and maps rings.

use crate::ctx::{Geometry, Kioctx};
use crate::limits;
use crate::sys::{
    stats::{self, Stat},
    trace,
    file::{File, VmArea},
    mm::{self, MmId},
    mmu_notifier::{MmRelease, MmWatch},
    rcu::{self, Retired},
    system,
    user_word,
};
use crate::table::{CtxRef, Table};
use core::sync::atomic::{AtomicUsize, Ordering};
use kernel::{
    new_mutex,
    prelude::*,
    sync::Mutex,
};
use crate::sys::arc::{Arc, ArcBorrow};

/// A ring waiting to be mapped by the `mmap` that setup is making.
struct PendingRing {
    pgoff: usize,
    mm: MmId,
    ctx: Arc<Kioctx>,
}

/// The per-open state of `/dev/kaio`.
#[pin_data]
pub(crate) struct Domain {
    #[pin]
    table: Table,
    /// Serialises setups in this domain (Linux's `ring_lock` during setup): one ring at a time
    /// is being mapped.
    #[pin]
    setup_lock: Mutex<()>,
    /// The ring the current setup is mapping. Taken by the mmap handler, under the mmap lock:
    /// lock order setup_lock -> mmap_lock -> pending.
    #[pin]
    pending: Mutex<Option<PendingRing>>,
    /// Page offsets that name rings in the setup's `mmap`, never reused within a domain.
    next_pgoff: AtomicUsize,
    /// One watch per address space that created contexts here: its death kills them.
    #[pin]
    watches: Mutex<KVec<Pin<KBox<MmWatch<Domain>>>>>,
}

impl MmRelease for Domain {
    /// `exit_aio`: the address space is being torn down (exit, exec).
    fn mm_released(&self, mm: MmId) {
        self.kill_all(Some(mm));
    }
}

impl Domain {
    /// A new, empty domain.
    pub(crate) fn new() -> Result<Arc<Domain>> {
        Arc::pin_init(
            try_pin_init!(Domain {
                table <- Table::new(),
                setup_lock <- new_mutex!((), "kaio::domain::setup_lock"),
                pending <- new_mutex!(None, "kaio::domain::pending"),
                next_pgoff: AtomicUsize::new(1),
                watches <- new_mutex!(KVec::new(), "kaio::domain::watches"),
            }),
            GFP_KERNEL,
        )
    }

    /// `lookup_ioctx` in this domain.
    pub(crate) fn lookup(&self, ctx_id: u64) -> Option<CtxRef> {
        self.table.lookup(ctx_id)
    }

    /// `io_setup(nr_events, ctxp)`, in Linux's order (AIO-SEMANTICS §2.1).
    /// `polled_rw`: `KAIO_SETUP_POLLED_RW`.
    pub(crate) fn setup(this: ArcBorrow<'_, Domain>, file: &File, nr_events: u32, ctxp: u64, polled_rw: bool) -> Result<isize> {
        let current: u64 = user_word::get(ctxp as usize)?;
        if current != 0 || nr_events == 0 {
            return Err(EINVAL);
        }
        let geometry = Geometry::new(nr_events, system::num_possible_cpus(), system::max_nr())?;
        Domain::watch_current_mm(this).map_err(|_| ENOMEM)?;
        let mm = MmId::current();
        let ctx = Kioctx::new(geometry, mm, polled_rw)?;
        let mapped = this.map_ring(file, &ctx, mm);
        // The bug put back (tests/check-bugs.sh): a failed mapping leaves a charge behind.
        #[cfg(kaio_bug = "setup_error_leak")]
        if mapped.is_err() {
            let _ = limits::charge(geometry.max_reqs);
        }
        mapped?;
        if let Err(e) = limits::charge(geometry.max_reqs) {
            this.unmap_ring(&ctx);
            return Err(e);
        }
        if let Err(e) = this.table.insert(&ctx) {
            limits::uncharge(geometry.max_reqs);
            this.unmap_ring(&ctx);
            return Err(e);
        }
        let ctx = ctx.published();
        let id = ctx.user_id() as u64;
        trace::setup(id, geometry.nr_events, geometry.size as u64);
        stats::add(Stat::Contexts, 1);
        // The build with the check in `publish_debugfs` taken out widens the window in which a
        // destroy by the published id comes first (tests/check-bugs.sh).
        #[cfg(kaio_bug = "debugfs_after_kill")]
        crate::sys::system::msleep(1);
        ctx.publish_debugfs();
        if let Err(e) = user_word::put(ctxp as usize, id) {
            // As Linux: the context is fully torn down (without waiting) before EFAULT (not in
            // the build with this bug put back, tests/check-bugs.sh).
            #[cfg(not(kaio_bug = "efault_no_teardown"))]
            let _ = this.kill(&ctx, true);
            return Err(e);
        }
        Ok(0)
    }

    /// Makes sure the caller's address space is watched, so that its contexts die with it, and
    /// lets go of watches whose address space is gone.
    fn watch_current_mm(this: ArcBorrow<'_, Domain>) -> Result {
        let mm = MmId::current();
        let mut stale = KVec::new();
        let mut watches = this.watches.lock();
        if watches.iter().any(|w| w.is_released()) {
            let n = watches.len();
            if let (Ok(mut keep), Ok(())) = (KVec::with_capacity(n, GFP_KERNEL), stale.reserve(n, GFP_KERNEL)) {
                for w in core::mem::take(&mut *watches) {
                    // Both vectors have room: these pushes do not allocate.
                    let _ = if w.is_released() { stale.push(w, GFP_KERNEL) } else { keep.push(w, GFP_KERNEL) };
                }
                *watches = keep;
            }
        }
        if !watches.iter().any(|w| w.mm() == mm) {
            watches.reserve(1, GFP_KERNEL)?;
            watches.push(MmWatch::register(this.into())?, GFP_KERNEL)?;
        }
        drop(watches);
        // Unregistering sleeps: done outside the lock.
        drop(stale);
        Ok(())
    }

    /// The mremap hook of a ring mapping: the ring moved to `vma`.
    pub(crate) fn ring_moved(&self, vma: &VmArea) -> Result {
        if self.table.ring_moved(vma.pgoff(), MmId::current(), vma.start()) {
            Ok(())
        } else {
            Err(EINVAL)
        }
    }

    /// Maps `ctx`'s ring into the caller: `vm_mmap` of this very file, at a fresh range of page
    /// offsets (one per ring page, so that no piece of one ring has another ring's offset) that
    /// tells the mmap handler and the mremap hook which ring it is. Any failure is `ENOMEM`, as
    /// in Linux.
    fn map_ring(&self, file: &File, ctx: &Arc<Kioctx>, mm: MmId) -> Result {
        let _setup = self.setup_lock.lock();
        let pages = ctx.ring().size() / kernel::page::PAGE_SIZE;
        let pgoff = self.next_pgoff.fetch_add(pages, Ordering::Relaxed);
        *self.pending.lock() = Some(PendingRing { pgoff, mm, ctx: ctx.clone() });
        let mapped = mm::map_shared(file, ctx.ring().size(), pgoff);
        *self.pending.lock() = None;
        let addr = mapped.map_err(|_| ENOMEM)?;
        ctx.set_mapping(addr, pgoff);
        Ok(())
    }

    /// Removes the ring mapping setup made, if it is still ours to remove.
    ///
    /// Unmapping fails only for want of memory, and Linux then leaves the ring of a dead
    /// context mapped. kaio tries again a few times, so that a transient failure (an injected
    /// one, say) leaves nothing behind.
    fn unmap_ring(&self, ctx: &Kioctx) {
        const TRIES: usize = 8;
        if let Some((addr, size)) = ctx.take_mapping() {
            for _ in 0..TRIES {
                if mm::unmap(addr, size) != Err(ENOMEM) {
                    break;
                }
            }
        }
    }

    /// The `mmap` file operation: only the mapping that setup is making right now, in the
    /// address space making it, is accepted; a direct `mmap` of `/dev/kaio` is `EINVAL`.
    pub(crate) fn mmap(&self, vma: &VmArea) -> Result {
        let ctx = {
            let pending = self.pending.lock();
            match &*pending {
                Some(p) if p.pgoff == vma.pgoff() && p.mm == MmId::current() => p.ctx.clone(),
                _ => return Err(EINVAL),
            }
        };
        // The ring of Linux lives on a noexec pseudo file system: PROT_EXEC is refused.
        vma.forbid_exec();
        ctx.ring().map(vma)
    }

    /// `kill_ioctx`: takes `ctx` out of the table (once: `EINVAL` for a second caller), wakes
    /// its waiters, uncharges aio-nr, unmaps the ring if `unmap`, and kills `users`, which
    /// starts the cancel sweep once no syscall holds the context.
    pub(crate) fn kill(&self, ctx: &Arc<Kioctx>, unmap: bool) -> Result {
        let retired = self.table.kill(ctx).ok_or(EINVAL)?;
        self.finish_kill(&retired, unmap);
        // The slot's reference goes after a grace period (dropping `retired` waits for one).
        drop(retired);
        Ok(())
    }

    /// The part of `kill_ioctx` after the context left the table.
    fn finish_kill(&self, retired: &Retired<Arc<Kioctx>>, unmap: bool) {
        let Some(ctx) = retired.clone_arc() else { return };
        let in_flight = ctx.inflight.lock().len();
        trace::destroy(ctx.user_id() as u64, in_flight as u64);
        stats::add(Stat::Contexts, -1);
        stats::add(Stat::Teardowns, 1);
        ctx.unpublish_debugfs();
        limits::uncharge(ctx.max_reqs());
        if unmap {
            self.unmap_ring(&ctx);
        }
        ctx.kill_users();
    }

    /// `io_destroy(ctx_id)`.
    pub(crate) fn destroy(&self, ctx_id: u64) -> Result<isize> {
        let ctx = self.lookup(ctx_id).ok_or(EINVAL)?;
        let arc = (*ctx).clone();
        #[cfg(not(kaio_bug = "destroy_stale_base"))]
        let killed = self.kill(&arc, true);
        // The bug put back (tests/check-bugs.sh): the ring's address is taken before the
        // context is dead, so an mremap in between re-homes a ring that is then not unmapped.
        #[cfg(kaio_bug = "destroy_stale_base")]
        let killed = {
            let stale = arc.take_mapping();
            crate::sys::system::msleep(2);
            let killed = self.kill(&arc, false);
            if let (Ok(()), Some((addr, size))) = (&killed, stale) {
                let _ = crate::sys::mm::unmap(addr, size);
            }
            killed
        };
        // Drop the lookup's `users` reference before waiting: the cancel sweep waits for it.
        drop(ctx);
        killed?;
        // Not in the build with that bug put back (tests/check-bugs.sh).
        #[cfg(not(kaio_bug = "destroy_no_wait"))]
        arc.wait_drained();
        Ok(0)
    }

    /// Kills every context of the domain created by `mm` (every context for `None`) and waits
    /// until their requests have drained: `exit_aio`, and the release of the file.
    pub(crate) fn kill_all(&self, mm: Option<MmId>) {
        let mut killed: KVec<Retired<Arc<Kioctx>>> = KVec::new();
        self.table.kill_all(mm, |retired| {
            // The address space is going away (or nothing maps the file any more): no unmap.
            self.finish_kill(&retired, false);
            if killed.reserve(1, GFP_KERNEL).is_ok() {
                let _ = killed.push(retired, GFP_KERNEL);
            } else if let Some(ctx) = retired.clone_arc() {
                ctx.wait_drained();
            }
        });
        for retired in killed.iter() {
            if let Some(ctx) = retired.clone_arc() {
                ctx.wait_drained();
            }
        }
        rcu::drop_after_grace_period(killed);
    }

    /// The last reference to the file is gone: no fd and no ring mapping is left.
    pub(crate) fn release(&self) {
        // Dropping a watch unregisters it; it breaks the watch's reference to the domain.
        let watches = core::mem::take(&mut *self.watches.lock());
        drop(watches);
        self.kill_all(None);
    }
}
