// SPDX-License-Identifier: GPL-2.0

//! `struct kioctx`: one AIO context, its two reference counts, its request list and its
//! completion ring.
//!
//! Lifecycle (as `fs/aio.c`), with the context each step runs in:
//!
//! ```text
//! setup (process) ──> live ──kill (destroy/close/exit, process)──> dead: out of the table,
//!   waiters woken, aio-nr uncharged, `users` killed
//!   ──last `users` put (any, often the RCU callback)──> users_released: cancel sweep of
//!   `active` under ctx_lock, `reqs` killed
//!   ──last request freed (any, often the timer irq)──> reqs_released: the release work queued
//!   ──release work (process)──> `drained` completed; the killer's wait returns; the last Arc
//!   dropped (by the killer or the work, both in process context) ──> freed
//! ```
//!
//! `users` counts the syscalls holding the context (plus the initial reference); `reqs`
//! counts the live requests (plus the initial and one extra reference, dropped by
//! `users_released`), and keeps the context alive until its release (it adopts the context
//! when it is made: a request's `ReqsRef` is one `reqs` count, no `Arc` count). Readers reach
//! the context under RCU through the domain's table; the table's reference is dropped only
//! after a grace period (see `table.rs`).

use crate::inflight::{InFlight, Selector, Step, Take, OPCODES};
use crate::ops::{polled_rw::{self, PolledRw}, ready_list::ReadyList};
use crate::req::Kiocb;
use crate::sys::{
    completion::Completion,
    hrtimer::{HrTimer, TimerCallback},
    mm::{MmId, MmRef},
    irq_spinlock::{new_irq_spinlock, IrqSpinLock},
    percpu_ref::{Held, PercpuOwner, PercpuRef},
    poll::QueueHold,
    debugfs::{SeqOut, Show, ShowFile},
    ring_mem::SharedMem,
    spinlock_irq::{new_spinlock_irq, SpinLockIrq},
    system,
    task_work::TaskWorkCallback,
    work::{Work, WorkCallback},
};
use crate::uapi::{AioRing, IoEvent, AIO_RING_COMPAT_FEATURES, AIO_RING_INCOMPAT_FEATURES, AIO_RING_MAGIC};
use core::mem::{offset_of, size_of};
use core::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicUsize, Ordering};
use kernel::{
    new_condvar, new_mutex,
    prelude::*,
    str::CString,
    sync::{CondVar, Mutex},
    uaccess::UserSlice,
};
use crate::sys::arc::{Arc, BlockPool};

const HEAD: usize = offset_of!(AioRing, head);
const TAIL: usize = offset_of!(AioRing, tail);
const EVENT: usize = size_of::<IoEvent>();
/// Bytes before the first event: the header is exactly one event in size.
const EVENTS_OFFSET: usize = size_of::<AioRing>();

/// The size of a context's ring, from the `nr_events` the caller asked for (`ioctx_alloc` and
/// `aio_setup_ring`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geometry {
    /// What the caller asked for; charged to aio-nr.
    pub(crate) max_reqs: u32,
    /// Ring capacity in events (`ring->nr`, `ctx->nr_events`).
    pub(crate) nr_events: u32,
    /// Bytes mapped.
    pub(crate) size: usize,
}

impl Geometry {
    /// Applies Linux's adjustment: at least 4 slots per possible CPU, doubled, plus 2, rounded
    /// up to whole pages. `EINVAL` when too large, `EAGAIN` when it wraps to 0 or exceeds
    /// `max_nr`, in Linux's order.
    pub(crate) fn new(nr_events: u32, cpus: u32, max_nr: u64) -> Result<Geometry> {
        let n = nr_events.max(cpus.wrapping_mul(4)).wrapping_mul(2);
        if n > 0x1000_0000 / EVENT as u32 {
            return Err(EINVAL);
        }
        if n == 0 || u64::from(nr_events) > max_nr {
            return Err(EAGAIN);
        }
        let page = kernel::page::PAGE_SIZE;
        let bytes = EVENTS_OFFSET + EVENT * (n as usize + 2);
        let size = bytes.div_ceil(page) * page;
        Ok(Geometry { max_reqs: nr_events, nr_events: ((size - EVENTS_OFFSET) / EVENT) as u32, size })
    }
}

/// Producer state of the ring. Guarded by `completion_lock`.
struct CompletionState {
    /// The real producer index; `ring->tail` is a copy user space may scribble on.
    tail: u32,
    /// Events posted whose slots have not been given back yet (`completed_events`).
    completed_events: u32,
    /// Callers between their last look at the ring (or at a request) and the end of their
    /// sleep: a completion wakes the waiters only if there is one (`waitqueue_active`).
    sleepers: u32,
    /// Those of the sleepers that are in io_getevents: each makes the polled attempts of the
    /// ready list once woken (see `read_events`).
    reapers: u32,
}

/// How long a getevents caller may wait.
#[derive(Clone, Copy)]
pub(crate) enum Deadline {
    /// No timeout.
    Never,
    /// Do not wait at all.
    Now,
    /// Relative, in nanoseconds (> 0), with hrtimer precision as Linux.
    After(u64),
}

/// The timer of one waiting getevents call: on expiry it wakes the context's waiters, with
/// `fired` set under `completion_lock` so that a waiter cannot miss it.
#[pin_data]
struct WaitTimer {
    #[pin]
    timer: HrTimer<WaitTimer>,
    ctx: Arc<Kioctx>,
    fired: AtomicBool,
}

impl TimerCallback for WaitTimer {
    fn run(this: Arc<Self>) {
        {
            let _c = this.ctx.completion.lock();
            this.fired.store(true, Ordering::Release);
        }
        this.ctx.waiters.notify_all();
    }
}

/// Where a waiting getevents call stands with its deadline.
enum Wait {
    Forever,
    Timer(Arc<WaitTimer>),
    /// Without memory for a timer: jiffies left, through the condition variable's timeout.
    Jiffies(u64),
}

/// The deadline of a call that may sleep several times (`KAIO_CANCEL_WAIT`), with its timer
/// once armed.
pub(crate) struct Sleeper {
    deadline: Deadline,
    wait: Option<Wait>,
}

impl Sleeper {
    pub(crate) fn new(deadline: Deadline) -> Sleeper {
        Sleeper { deadline, wait: None }
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        if let Some(Wait::Timer(t)) = &self.wait {
            t.timer.cancel();
        }
    }
}

/// How [`Kioctx::wait_posted`] ended.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waited {
    Posted,
    TimedOut,
    Interrupted,
}

/// How many blocks of request memory a context's pool has at most, kept for its next requests
/// as requests finish: one per ring slot, the most it can have in flight, so the memory of its
/// busiest moment stays with it until it is destroyed (as io_uring's request cache does;
/// `max_nr` bounds the slots of all contexts).
/// A cancel of many requests then frees none through the slab allocator's slow paths. None
/// under KASAN: a request's memory that goes back to the slab allocator is what lets KASAN
/// catch a use after the request's end.
fn request_pool_cap(nr_events: u32) -> u32 {
    if cfg!(CONFIG_KASAN) {
        0
    } else {
        nr_events
    }
}

/// An AIO context.
#[pin_data(PinnedDrop)]
pub(crate) struct Kioctx {
    /// Syscalls holding the context, plus the initial reference; killed by `kill`.
    #[pin]
    pub(crate) users: PercpuRef<Kioctx>,
    /// Live requests, plus two; killed by `users_released`.
    #[pin]
    pub(crate) reqs: PercpuRef<Kioctx>,
    /// `ctx_lock`: the in-flight requests (`active_reqs`). IRQ-safe: completions take it from
    /// the timer irq.
    #[pin]
    pub(crate) inflight: IrqSpinLock<InFlight>,
    /// `completion_lock`: the producer side of the ring.
    #[pin]
    completion: SpinLockIrq<CompletionState>,
    /// io_getevents waiters (`ctx->wait`).
    #[pin]
    waiters: CondVar,
    /// `ring_lock`: serialises consumers of the ring.
    #[pin]
    ring_lock: Mutex<()>,
    /// Completed when `reqs` is released: every request has posted its event.
    #[pin]
    drained: Completion,
    /// Completes `drained` and drops `reqs`' reference, in process context (`free_rwork`).
    #[pin]
    release: Work<Kioctx, RELEASE>,
    ring: SharedMem,
    geometry: Geometry,
    /// Free ring slots (`reqs_available`), one global counter (AIO-SEMANTICS §7.4 latitude).
    reqs_available: AtomicU32,
    /// Events ever posted (wrapping), bumped under `completion_lock` after the tail that covers
    /// the event: a waiter sleeps until one is posted after its last look at the ring, as a
    /// Linux waiter sleeps until `aio_complete` wakes it.
    posted: AtomicU32,
    /// `completion_lock`'s `reapers`, readable without the lock (see `has_reapers`).
    reapers_hint: AtomicU32,
    /// Set once, by the first `kill` (`ctx->dead`).
    pub(crate) dead: AtomicBool,
    /// Set when every CPU sees `users` killed: no lookup can take a new reference any more.
    users_dead_everywhere: AtomicBool,
    /// Index in the domain's table (`ctx->id`).
    pub(crate) id: AtomicU32,
    /// The ring's user address, which is the ctx id (`ctx->user_id`, `mmap_base`).
    user_id: AtomicUsize,
    /// Bytes to unmap on destroy; 0 once the mapping is not ours to remove.
    mmap_size: AtomicUsize,
    /// The page offset the ring was mapped with: it names the ring in the mremap hook.
    ring_pgoff: AtomicUsize,
    /// The address space that created the context; only it can use it.
    pub(crate) mm: MmId,
    /// `KAIO_SETUP_POLLED_RW`: reads and writes that would block wait without blocking.
    pub(crate) polled_rw: bool,
    /// The address space of `mm`, counted, for the attempts a worker makes (polled contexts
    /// only; every request of the context comes from it).
    pub(crate) polled_mm: Option<MmRef>,
    /// Polled reads and writes whose next attempt a reaper may make (empty otherwise).
    #[pin]
    pub(crate) ready: ReadyList,
    /// The process that created the context (its debugfs directory).
    owner_pid: i32,
    /// Memory of the context's finished requests, for the next ones (see [`request_pool_cap`]).
    pub(crate) req_pool: Arc<BlockPool>,
    /// The same for the state of polled reads and writes (polled contexts only).
    pub(crate) polled_pool: Option<Arc<BlockPool>>,
    /// `/sys/kernel/debug/kaio/<pid>/<ctx_id>`, from setup until the context is killed (it
    /// holds a reference to the context).
    #[pin]
    debugfs: Mutex<Option<ShowFile<Kioctx>>>,
}

impl Kioctx {
    /// Allocates a context and its zeroed ring, with the ring header written (`id` still
    /// `~0`, as between mapping and publication in Linux).
    pub(crate) fn new(geometry: Geometry, mm: MmId, polled_rw: bool) -> Result<Unpublished> {
        let ring = SharedMem::new(geometry.size)?;
        let header = AioRing {
            id: !0,
            nr: geometry.nr_events,
            head: 0,
            tail: 0,
            magic: AIO_RING_MAGIC,
            compat_features: AIO_RING_COMPAT_FEATURES,
            incompat_features: AIO_RING_INCOMPAT_FEATURES,
            header_length: size_of::<AioRing>() as u32,
        };
        for (i, word) in [header.id, header.nr, header.head, header.tail, header.magic,
            header.compat_features, header.incompat_features, header.header_length]
            .into_iter()
            .enumerate()
        {
            ring.write_u32(4 * i, word);
        }
        let inflight = InFlight::new(geometry.nr_events)?;
        let polled_mm = if polled_rw { Some(MmRef::current()?) } else { None };
        let pool_cap = request_pool_cap(geometry.nr_events);
        let req_pool = BlockPool::for_arc_of::<Kiocb>(pool_cap, GFP_KERNEL)?;
        let polled_pool = match polled_rw {
            true => Some(BlockPool::for_arc_of::<PolledRw>(pool_cap, GFP_KERNEL)?),
            false => None,
        };
        let ctx = Arc::pin_init(
            try_pin_init!(Kioctx {
                users <- PercpuRef::new(Kioctx::users_released),
                reqs <- PercpuRef::new(Kioctx::reqs_released),
                inflight <- new_irq_spinlock!(inflight, "kioctx::ctx_lock"),
                completion <- new_spinlock_irq!(
                    CompletionState { tail: 0, completed_events: 0, sleepers: 0, reapers: 0 },
                    "kioctx::completion_lock"
                ),
                waiters <- new_condvar!("kioctx::wait"),
                ring_lock <- new_mutex!((), "kioctx::ring_lock"),
                drained <- Completion::new(),
                release <- Work::new(),
                ring,
                geometry,
                reqs_available: AtomicU32::new(geometry.nr_events - 1),
                posted: AtomicU32::new(0),
                reapers_hint: AtomicU32::new(0),
                dead: AtomicBool::new(false),
                users_dead_everywhere: AtomicBool::new(false),
                id: AtomicU32::new(!0),
                user_id: AtomicUsize::new(0),
                mmap_size: AtomicUsize::new(0),
                ring_pgoff: AtomicUsize::new(0),
                mm,
                polled_rw,
                polled_mm,
                ready <- ReadyList::new(),
                owner_pid: system::current_tgid(),
                req_pool,
                polled_pool,
                debugfs <- new_mutex!(None, "kioctx::debugfs"),
            }),
            GFP_KERNEL,
        )?;
        // The extra `reqs` reference of ioctx_alloc, dropped by `users_released`.
        ctx.reqs.get();
        // From now on `reqs` keeps the context alive until it is released: a request's hold
        // on it (`ReqsRef`) is one per-CPU count, as in fs/aio.c. (Refused only for another
        // object's ref or a second adoption: never here.)
        if ctx.reqs.adopt(ctx.clone()).is_err() {
            system::warn_on(true);
            return Err(EINVAL);
        }
        Ok(Unpublished { ctx, published: false })
    }

    /// Ends a context that was never published (a failed setup): `reqs` is killed as
    /// `users_released` would, and drained, so that the last `Arc` frees it. Process context.
    fn abandon(&self) {
        // Adopted by `new`, and killed by nobody else: never published.
        if self.reqs.kill_adopted() {
            self.reqs.put();
            self.wait_drained();
        } else {
            system::warn_on(true);
        }
    }

    /// Creates the context's debugfs file, named by its ctx id. Process context.
    ///
    /// The file holds a reference to the context that only `unpublish_debugfs` (in the kill)
    /// drops. A kill may come between the context's publication in the table and this call
    /// (another thread destroys it by its id): then the kill has already unpublished, and a
    /// file made now would keep the context forever. `dead` is set before the kill unpublishes,
    /// which takes this lock: checked under it, no file is made after the unpublish.
    pub(crate) fn publish_debugfs(self: &Arc<Self>) {
        let mut slot = self.debugfs.lock();
        // Not in the build with this check taken out (tests/check-bugs.sh).
        #[cfg(not(kaio_bug = "debugfs_after_kill"))]
        if self.dead.load(Ordering::Acquire) {
            return;
        }
        if let Ok(name) = CString::try_from_fmt(kernel::fmt!("{:#x}", self.user_id())) {
            *slot = ShowFile::new(self.owner_pid, &name, self.clone());
        }
    }

    /// Removes the debugfs file (waiting for reads in progress), which lets go of its reference
    /// to the context. Process context.
    pub(crate) fn unpublish_debugfs(&self) {
        let file = self.debugfs.lock().take();
        drop(file);
    }

    /// The ring, for the mmap handler.
    pub(crate) fn ring(&self) -> &SharedMem {
        &self.ring
    }

    /// The ring capacity in events.
    pub(crate) fn nr_events(&self) -> u32 {
        self.geometry.nr_events
    }

    /// The ring capacity as a divisor: `Geometry` never makes it 0, and saying so lets the
    /// compiler drop a division-by-zero panic path (which objtool cannot follow).
    fn slots(&self) -> u32 {
        self.geometry.nr_events.max(1)
    }

    /// What setup charged to aio-nr.
    pub(crate) fn max_reqs(&self) -> u32 {
        self.geometry.max_reqs
    }

    /// The ctx id (user address of the ring).
    pub(crate) fn user_id(&self) -> usize {
        self.user_id.load(Ordering::Acquire)
    }

    /// Records where the ring is mapped, and with which page offset.
    pub(crate) fn set_mapping(&self, addr: usize, pgoff: usize) {
        self.mmap_size.store(self.geometry.size, Ordering::Relaxed);
        self.ring_pgoff.store(pgoff, Ordering::Relaxed);
        self.user_id.store(addr, Ordering::Release);
    }

    /// Whether a mapping at page offset `pgoff` is a piece of this context's ring: the ring was
    /// mapped at `ring_pgoff` and spans one page offset per page (a partial mremap moves a piece
    /// whose offset is inside that range; Linux tells rings apart by their file instead).
    pub(crate) fn ring_holds_pgoff(&self, pgoff: usize) -> bool {
        let first = self.ring_pgoff.load(Ordering::Relaxed);
        let pages = self.geometry.size / kernel::page::PAGE_SIZE;
        pgoff.wrapping_sub(first) < pages
    }

    /// The ring was moved by mremap: the new address is the ctx id (and what destroy unmaps).
    pub(crate) fn move_mapping(&self, addr: usize) {
        self.user_id.store(addr, Ordering::Release);
    }

    /// Takes the mapping to remove on destroy (`mmap_base`, `mmap_size`), once.
    pub(crate) fn take_mapping(&self) -> Option<(usize, usize)> {
        let size = self.mmap_size.swap(0, Ordering::AcqRel);
        (size != 0).then(|| (self.user_id(), size))
    }

    /// Writes the table index into `ring->id`, the last step of publication.
    pub(crate) fn publish_id(&self, id: u32) {
        self.id.store(id, Ordering::Release);
        self.ring.write_u32(offset_of!(AioRing, id), id);
    }

    /// Marks the context dead (once) and wakes every getevents waiter. Returns `false` if it
    /// was already dead.
    pub(crate) fn mark_dead(&self) -> bool {
        if self.dead.swap(true, Ordering::AcqRel) {
            return false;
        }
        // A waiter checks `dead` under completion_lock and queues itself before dropping it:
        // passing through the lock here orders the flag before the wake-up.
        drop(self.completion.lock());
        self.waiters.notify_all();
        true
    }

    /// Kills `users` (the end of `kill_ioctx`): the cancel sweep starts once no syscall holds
    /// the context. The confirmation records when no new reference can be taken anywhere.
    pub(crate) fn kill_users(self: &Arc<Self>) {
        self.users.kill_and_confirm(self.clone(), |ctx| {
            ctx.users_dead_everywhere.store(true, Ordering::Release);
        });
    }

    /// Takes a `users` reference for a lookup (`percpu_ref_tryget_live`).
    pub(crate) fn tryget_user(&self) -> bool {
        let confirmed_dead = self.users_dead_everywhere.load(Ordering::Acquire);
        let got = self.users.tryget_live();
        // After the confirmation, percpu_ref guarantees failure on every CPU.
        debug_assert!(!(confirmed_dead && got), "users reference taken after confirmed kill");
        got
    }

    /// Uninterruptibly waits until every request has completed (`reqs` released).
    pub(crate) fn wait_drained(&self) {
        self.drained.wait();
    }

    /// `free_ioctx_users`: the last syscall has let go of a killed context. Cancels every
    /// cancellable request, then lets `reqs` drain. Any context (often the RCU callback).
    ///
    /// The sweep holds `ctx_lock` for at most `SCAN_BATCH` requests at a time. Its order is not
    /// observable (the events go to a ring that is being discarded); requests that cannot be
    /// cancelled stay listed until they complete (polled reads and writes are told to stop
    /// at their next wait).
    fn users_released(ctx: Arc<Kioctx>) {
        let any = Selector::default();
        let mut walk = core::pin::pin!(any.walk(&ctx.inflight));
        loop {
            let swept = {
                let mut inflight = ctx.inflight.lock();
                match inflight.find(&any, walk.as_mut(), u64::MAX, Take::Nothing) {
                    Step::Match(req) => {
                        req.mark_swept();
                        if !req.swept_off() {
                            // Left listed until its event; a polled read/write is stopped.
                            req.stop(&mut QueueHold::new(inflight.irqs_off()));
                            None
                        } else {
                            let swept = inflight.unlist(&req);
                            if let Some(req) = &swept {
                                req.cancel(inflight.irqs_off());
                            }
                            swept
                        }
                    }
                    // Not asked for.
                    Step::Taken(_) | Step::Claimable(_) | Step::Delivering | Step::Pause => None,
                    Step::Done => break,
                }
            };
            // Requests are freed outside ctx_lock.
            drop(swept);
        }
        // The context stays alive until the release: `reqs` adopted it.
        ctx.reqs.kill_adopted();
        ctx.reqs.put();
    }

    /// `free_ioctx_reqs`: the last request is gone. Any context, often with interrupts off
    /// (a delay's timer, a wake-up, an RCU callback), where the context's last reference must
    /// not go: its drop frees arrays that may be vmalloc'd and drops an address space. So the
    /// release work wakes the killer and drops this reference, in process context (Linux
    /// frees the context from an RCU work item). Queued before the killer is woken, so before
    /// the module can unload; should it not be queued (never expected), the killer is woken
    /// from here.
    fn reqs_released(ctx: Arc<Kioctx>) {
        // The bug put back (tests/check-bugs.sh): the killer is woken from here, and the last
        // reference may go here too (a test widens the window in which the killer, woken on
        // another CPU, lets go of its own first: 10 ms, more than a wake-up across the
        // emulated CPUs may take).
        #[cfg(kaio_bug = "ctx_freed_in_irq")]
        {
            ctx.drained.complete_all();
            for _ in 0..10 {
                system::race_delay();
            }
        }
        #[cfg(not(kaio_bug = "ctx_freed_in_irq"))]
        if let Err(ctx) = Work::queue_in(ctx, |ctx| &ctx.release) {
            system::warn_on(true);
            ctx.drained.complete_all();
        }
    }

    /// `get_reqs_available`: reserves a ring slot for a new request.
    pub(crate) fn reserve_slot(&self) -> bool {
        let take = |avail: &AtomicU32| {
            avail.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok()
        };
        if take(&self.reqs_available) {
            return true;
        }
        // `user_refill_reqs_available`: user space may have consumed events by itself.
        {
            let mut c = self.completion.lock();
            if c.completed_events != 0 {
                let head = self.ring.read_u32(HEAD);
                let tail = c.tail;
                self.refill(&mut c, head, tail);
            }
        }
        take(&self.reqs_available)
    }

    /// Gives back a slot reserved for a request that was rejected.
    pub(crate) fn release_slot(&self) {
        self.reqs_available.fetch_add(1, Ordering::AcqRel);
    }

    /// `refill_reqs_available`: slots of events that were consumed become free again. Never
    /// more than the completions counted, whatever user space wrote into `head`.
    fn refill(&self, c: &mut CompletionState, head: u32, tail: u32) {
        let nr = self.slots();
        // User space may have written anything into `head`; it is below `nr` unless it did
        // (the division is skipped: an emulated one is slow).
        let head = if head < nr { head } else { head % nr };
        let in_ring = if head <= tail { tail - head } else { nr - (head - tail) };
        let consumed = c.completed_events.saturating_sub(in_ring);
        if consumed != 0 {
            c.completed_events -= consumed;
            self.reqs_available.fetch_add(consumed, Ordering::AcqRel);
        }
    }

    /// The first half of `aio_complete`: writes `event` at the tail and publishes the new tail.
    /// Any context, hard irq included. The caller then signals the request's eventfd, and
    /// wakes the waiters with [`Kioctx::wake_waiters`] if this returned true, in that order
    /// (as Linux).
    ///
    /// `posted` (the request's flag) is set under `completion_lock` with the tail, so that a
    /// cancel waiting for the request sees it together with the event. A waiter counts itself
    /// in `sleepers` under the same lock before it looks, so it either sees this event or is
    /// counted here.
    pub(crate) fn post_event(&self, event: &IoEvent, posted: &AtomicBool) -> bool {
        self.post_events(core::iter::once((*event, posted)))
    }

    /// [`Kioctx::post_event`] for several events under one hold of `completion_lock` (a cancel
    /// of many requests), published by one tail. Returns whether anyone waits.
    pub(crate) fn post_events<'a, I>(&self, events: I) -> bool
    where
        I: Iterator<Item = (IoEvent, &'a AtomicBool)> + Clone,
    {
        let mut c = self.completion.lock();
        let mut tail = c.tail;
        let mut n = 0u32;
        for (event, _) in events.clone() {
            self.ring.write_event(EVENTS_OFFSET + EVENT * tail as usize, &event);
            tail = if tail + 1 >= self.geometry.nr_events { 0 } else { tail + 1 };
            n += 1;
        }
        // The events must be visible before the tail that covers them (smp_wmb).
        fence(Ordering::Release);
        c.tail = tail;
        self.ring.write_u32(TAIL, tail);
        let head = self.ring.read_u32(HEAD);
        c.completed_events += n;
        for (_, posted) in events {
            posted.store(true, Ordering::Release);
        }
        // After the tail: a reader that sees this count also sees the tail (Acquire below).
        // Written only under `completion_lock`: no atomic read-modify-write needed.
        self.posted.store(self.posted.load(Ordering::Relaxed).wrapping_add(n), Ordering::Release);
        if c.completed_events > 1 {
            self.refill(&mut c, head, tail);
        }
        c.sleepers != 0
    }

    /// A request's event went to the caller of a RESULT cancel instead of the ring: `posted`
    /// (the request's flag) is set under `completion_lock`, as [`Kioctx::post_events`] does, for
    /// a cancel waiting for it. Returns whether anyone waits.
    pub(crate) fn mark_delivered(&self, posted: &AtomicBool) -> bool {
        let c = self.completion.lock();
        posted.store(true, Ordering::Release);
        c.sleepers != 0
    }

    /// The second half of `aio_complete`: wakes the getevents waiters. Each one goes back to
    /// sleep unless the ring now holds the events it still needs (see `read_events`).
    pub(crate) fn wake_waiters(&self) {
        self.waiters.notify_all();
    }

    /// Whether a task sleeps in io_getevents on the context. If so, after a request was added
    /// to the ready list, one of them makes its attempt: it is counted until it leaves its
    /// sleep, under the lock taken here, and then runs the ready list. Any context.
    pub(crate) fn has_reapers(&self) -> bool {
        // Without the lock first: a reaper counts itself in `reapers_hint`, then (after a
        // full fence) looks at the ready list before it sleeps; the caller pushed to the list
        // before this fence. So either the reaper sees the request and does not sleep, or
        // this load sees the reaper and the answer comes from under the lock.
        fence(Ordering::SeqCst);
        self.reapers_hint.load(Ordering::Relaxed) != 0 && self.completion.lock().reapers != 0
    }

    /// Events in the ring as the waker of Linux counts them (`tail` against the user-visible
    /// `head`); empty counts as 0 here, so a waiter never spins.
    fn available(&self, c: &CompletionState) -> u32 {
        let nr = self.slots();
        let head = self.ring.read_u32(HEAD) % nr;
        if c.tail >= head { c.tail - head } else { c.tail + nr - head }
    }

    /// `aio_read_events_ring`: copies up to `nr` events to `user`, oldest first, and advances
    /// `head` past them. A failed copy consumes nothing (`EFAULT`).
    fn read_ring(&self, user: usize, nr: usize) -> Result<usize> {
        let _consumer = self.ring_lock.lock();
        let head = self.ring.read_u32(HEAD);
        let tail = self.ring.read_u32(TAIL);
        // Events are read after the tail that covers them (smp_rmb).
        fence(Ordering::Acquire);
        if head == tail {
            return Ok(0);
        }
        let ring_nr = self.slots();
        let (mut head, tail) = (head % ring_nr, tail % ring_nr);
        let mut copied = 0usize;
        while copied < nr && head != tail {
            let event = self.ring.read_event(EVENTS_OFFSET + EVENT * head as usize);
            let dst = user.checked_add(copied * EVENT).ok_or(EFAULT)?;
            UserSlice::new(dst, EVENT).writer().write(&event)?;
            copied += 1;
            head = if head + 1 >= ring_nr { 0 } else { head + 1 };
        }
        self.ring.write_u32(HEAD, head);
        Ok(copied)
    }

    /// `read_events`: collects at least `min_nr` (at most `nr`) events into `user`, waiting up
    /// to `deadline`. Returns the number collected, even below `min_nr` on timeout or signal; an
    /// error only if none was.
    ///
    /// As in Linux, a sleeping waiter reads nothing until the ring holds all the events it still
    /// needs (or the context dies, or the timeout or a signal ends the wait), so events it cannot
    /// use yet stay in the ring for other readers.
    pub(crate) fn read_events(self: &Arc<Self>, min_nr: usize, nr: usize, user: usize, deadline: Deadline) -> Result<usize> {
        let mut got = 0usize;
        let mut wait: Option<Wait> = None;
        let mut stop = false;
        let result = loop {
            // Retries of polled reads and writes that are ready: made here rather than by
            // the worker, whose events this call may be waiting for.
            if !self.ready.is_empty() {
                polled_rw::run_ready(self);
            }
            // Completions posted from here on are news to this pass (read before the ring is,
            // so none is missed).
            let seen = self.posted.load(Ordering::Acquire);
            match self.read_ring(user.wrapping_add(got * EVENT), nr - got) {
                Ok(n) => got += n,
                Err(e) => break if got > 0 { Ok(got) } else { Err(e) },
            }
            if self.dead.load(Ordering::Acquire) {
                break if got > 0 { Ok(got) } else { Err(EINVAL) };
            }
            if got >= min_nr || matches!(deadline, Deadline::Now) || stop {
                break Ok(got);
            }
            let wait = wait.get_or_insert_with(|| self.start_wait(&deadline));
            let need = u32::try_from(min_nr - got).unwrap_or(u32::MAX);
            let mut c = self.completion.lock();
            c.sleepers += 1;
            c.reapers += 1;
            self.reapers_hint.fetch_add(1, Ordering::Relaxed);
            // Against `has_reapers`: the count before the look at the ready list.
            fence(Ordering::SeqCst);
            // Sleep until a completion posted after `seen` leaves the events still needed in
            // the ring. Counting alone is not enough: `available` trusts the kernel's tail, the
            // reader the user-visible one, which user space may have rewritten.
            // A polled read or write readied meanwhile wakes it too, to make the attempt.
            while !(self.posted.load(Ordering::Relaxed) != seen && self.available(&c) >= need)
                && !self.dead.load(Ordering::Acquire)
                && self.ready.is_empty()
            {
                match wait {
                    Wait::Forever => {
                        if self.waiters.wait_interruptible(&mut c) {
                            stop = true;
                            break;
                        }
                    }
                    Wait::Timer(t) => {
                        if t.fired.load(Ordering::Acquire) || self.waiters.wait_interruptible(&mut c) {
                            stop = true;
                            break;
                        }
                    }
                    Wait::Jiffies(j) => match self.waiters.wait_interruptible_timeout(&mut c, *j as _) {
                        kernel::sync::CondVarTimeoutResult::Woken { jiffies } => *j = (jiffies as u64).max(1),
                        _ => {
                            stop = true;
                            break;
                        }
                    },
                }
            }
            c.sleepers -= 1;
            c.reapers -= 1;
            self.reapers_hint.fetch_sub(1, Ordering::Relaxed);
        };
        // Attempts readied after the last run of the ready list go to the ready worker.
        polled_rw::hand_ready_to_worker(self);
        if let Some(Wait::Timer(t)) = wait {
            t.timer.cancel();
        }
        result
    }

    /// Sleeps until `req` has posted its event (`KAIO_CANCEL_WAIT`), or until the deadline of
    /// `sleeper` or a signal.
    pub(crate) fn wait_posted(self: &Arc<Self>, req: &Kiocb, sleeper: &mut Sleeper) -> Waited {
        if req.is_posted() {
            return Waited::Posted;
        }
        if matches!(sleeper.deadline, Deadline::Now) {
            return Waited::TimedOut;
        }
        let deadline = &sleeper.deadline;
        let wait = sleeper.wait.get_or_insert_with(|| self.start_wait(deadline));
        let mut c = self.completion.lock();
        c.sleepers += 1;
        // `post_event` sets the flag under completion_lock and wakes the waiters after.
        let waited = loop {
            if req.is_posted() {
                break Waited::Posted;
            }
            match wait {
                Wait::Forever => {
                    if self.waiters.wait_interruptible(&mut c) {
                        break Waited::Interrupted;
                    }
                }
                Wait::Timer(t) => {
                    if t.fired.load(Ordering::Acquire) {
                        break Waited::TimedOut;
                    }
                    if self.waiters.wait_interruptible(&mut c) {
                        break Waited::Interrupted;
                    }
                }
                Wait::Jiffies(j) => match self.waiters.wait_interruptible_timeout(&mut c, *j as _) {
                    kernel::sync::CondVarTimeoutResult::Woken { jiffies } => *j = (jiffies as u64).max(1),
                    kernel::sync::CondVarTimeoutResult::Timeout => break Waited::TimedOut,
                    _ => break Waited::Interrupted,
                },
            }
        };
        c.sleepers -= 1;
        waited
    }

    /// Arms the deadline of a getevents call that is about to sleep for the first time.
    fn start_wait(self: &Arc<Self>, deadline: &Deadline) -> Wait {
        let Deadline::After(ns) = *deadline else { return Wait::Forever };
        let timer = Arc::pin_init(
            pin_init!(WaitTimer { timer <- HrTimer::new(), ctx: self.clone(), fired: AtomicBool::new(false) }),
            GFP_KERNEL,
        );
        match timer {
            Ok(t) => {
                t.timer.start(t.clone(), ns);
                Wait::Timer(t)
            }
            Err(_) => Wait::Jiffies(system::nsecs_to_jiffies(ns).max(1)),
        }
    }

}

impl PercpuOwner for Kioctx {
    fn percpu_ref(&self) -> &PercpuRef<Self> {
        &self.reqs
    }
}

/// A request's hold on its context: one `reqs` count, which keeps the context alive (the
/// table's `CtxRef` is a syscall's, one `users` count).
pub(crate) type ReqsRef = Held<Kioctx>;

/// A new context until it is published in the table: dropped before, it is abandoned (its
/// adopted `reqs` killed and drained), else it would never be freed.
pub(crate) struct Unpublished {
    ctx: Arc<Kioctx>,
    published: bool,
}

impl Unpublished {
    /// Published: from now on the context ends through `kill_ioctx`.
    pub(crate) fn published(mut self) -> Arc<Kioctx> {
        self.published = true;
        self.ctx.clone()
    }
}

impl core::ops::Deref for Unpublished {
    type Target = Arc<Kioctx>;

    fn deref(&self) -> &Arc<Kioctx> {
        &self.ctx
    }
}

impl Drop for Unpublished {
    fn drop(&mut self) {
        if !self.published {
            self.ctx.abandon();
        }
    }
}

impl WorkCallback for Kioctx {
    /// The ready worker of polled reads and writes.
    fn run(this: Arc<Self>) {
        polled_rw::ready_work(&this);
    }
}

/// The work item of [`Kioctx::reqs_released`].
const RELEASE: u8 = 1;

impl WorkCallback<RELEASE> for Kioctx {
    /// Wakes the killer, then drops the reference `reqs` held.
    fn run(this: Arc<Self>) {
        this.drained.complete_all();
        // A test widens the window in which the killer lets go of its reference first.
        system::race_delay();
        drop(this);
    }
}

#[pinned_drop]
impl PinnedDrop for Kioctx {
    /// The fields' drops may sleep (`kvfree` of a vmalloc'd array, `mmdrop`): the last
    /// reference goes in process context (see [`Kioctx::reqs_released`]). Checked: a warning
    /// in an interrupt or with interrupts off, and `might_sleep()`'s in the debug kernel.
    fn drop(self: Pin<&mut Self>) {
        system::warn_on(system::in_interrupt_or_irqs_off());
        system::might_sleep();
    }
}

impl TaskWorkCallback for Kioctx {
    /// The attempts of polled reads and writes readied by the task itself.
    fn run_task_work(this: Arc<Self>) {
        polled_rw::ready_task_work(&this);
    }
}

/// `/sys/kernel/debug/kaio/<pid>/<ctx_id>`: the context as the kernel sees it.
impl Show for Kioctx {
    fn show(&self, out: &mut SeqOut<'_>) -> core::fmt::Result {
        use core::fmt::Write;
        let (tail, completed, waiters) = {
            let c = self.completion.lock();
            (c.tail, c.completed_events, c.sleepers)
        };
        let (listed, per_op) = {
            let i = self.inflight.lock();
            (i.len(), i.per_op())
        };
        writeln!(out, "ctx_id {:#x}", self.user_id())?;
        writeln!(out, "pid {}", self.owner_pid)?;
        writeln!(out, "max_reqs {}", self.max_reqs())?;
        writeln!(out, "nr_events {}", self.nr_events())?;
        writeln!(out, "polled_rw {}", u8::from(self.polled_rw))?;
        writeln!(out, "dead {}", u8::from(self.dead.load(Ordering::Relaxed)))?;
        // The head as user space last wrote it; the tail as the producer keeps it.
        writeln!(out, "ring_head {}", self.ring.read_u32(HEAD))?;
        writeln!(out, "ring_tail {tail}")?;
        writeln!(out, "completed_events {completed}")?;
        writeln!(out, "reqs_available {}", self.reqs_available.load(Ordering::Relaxed))?;
        writeln!(out, "in_flight {listed}")?;
        for ((_, name), n) in OPCODES.iter().zip(per_op) {
            writeln!(out, "in_flight_{name} {n}")?;
        }
        writeln!(out, "waiters {waiters}")
    }
}
