// SPDX-License-Identifier: GPL-2.0

//! The module's reference-counted pointer: the `kernel` crate's `Arc`, `ArcBorrow` and
//! `UniqueArc` (the same API and the same rules), with two differences a request needs:
//!
//! - The count is an atomic in Rust, not a `refcount_t` behind a C helper call: a get or a put
//!   is one locked instruction. It saturates as `refcount_t` does: a count that would pass
//!   `i32::MAX`, or a put of a count at zero, warns and pins the count, and the object is
//!   never freed (leaked rather than used after free).
//! - Memory may come from a [`BlockPool`], a free list its owner keeps (a context keeps one
//!   for its requests), and goes back there when the last reference goes: a request does not
//!   pass through the slab allocator each time, as io_uring keeps a per-ring request cache.
//!   A pooled allocation owns a reference to its pool, so the pool outlives its blocks.

use super::system;
use core::{
    alloc::Layout,
    cell::UnsafeCell,
    marker::PhantomData,
    mem::{offset_of, MaybeUninit},
    ops::{Deref, DerefMut},
    pin::Pin,
    ptr::{self, NonNull},
    sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, Ordering},
};
use kernel::{
    alloc::{allocator::Kmalloc, AllocError, Allocator, Flags},
    ffi::c_void,
    init::PinInit,
    prelude::*,
    types::ForeignOwnable,
};

/// The value a count is pinned at once it overflowed or underflowed (`REFCOUNT_SATURATED`).
const SATURATED: u32 = 0xc000_0000;
/// A count at or above this (a negative `refcount_t`) has overflowed.
const OVERFLOWED: u32 = 0x8000_0000;

/// The allocation behind an [`Arc`].
///
/// # Invariants
///
/// - `refcount` is the number of [`Arc`]s (and [`UniqueArc`]s) of the allocation, or
///   [`SATURATED`] and above once pinned (never freed then).
/// - `pool` is `None` for memory from `kmalloc` of `Layout::new::<ArcInner<T>>()`, or the
///   pool whose block this is (a reference the allocation owns).
#[repr(C)]
struct ArcInner<T> {
    refcount: AtomicU32,
    pool: Option<Arc<BlockPool>>,
    data: T,
}

impl<T> ArcInner<T> {
    /// The allocation whose `data` is at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` came from [`Arc::into_raw`], and the allocation is still alive.
    unsafe fn container_of(ptr: *const T) -> NonNull<ArcInner<T>> {
        // SAFETY: `ptr` is the `data` field of a live `ArcInner<T>` (the caller's contract), so
        // stepping back to its start stays inside the allocation, which is never at address 0.
        unsafe { NonNull::new_unchecked(ptr.byte_sub(offset_of!(ArcInner<T>, data)).cast::<ArcInner<T>>().cast_mut()) }
    }
}

/// A reference-counted pointer to a `T` (see the module documentation).
///
/// # Invariants
///
/// `ptr` points to a live, initialised [`ArcInner<T>`] on which this `Arc` owns one count.
pub(crate) struct Arc<T> {
    ptr: NonNull<ArcInner<T>>,
    _p: PhantomData<ArcInner<T>>,
}

// SAFETY: an `Arc<T>` gives shared access to `T` from any thread and may drop it on any
// thread, which needs `T: Sync + Send`; the count is atomic.
unsafe impl<T: Sync + Send> Send for Arc<T> {}
// SAFETY: as above: `&Arc<T>` gives `&T` and can be cloned into an `Arc<T>` on another thread.
unsafe impl<T: Sync + Send> Sync for Arc<T> {}

impl<T> Arc<T> {
    /// An `Arc` holding the value `init` initialises, in `kmalloc` memory.
    pub(crate) fn pin_init<E>(init: impl PinInit<T, E>, flags: Flags) -> Result<Self>
    where
        Error: From<E>,
    {
        let unique = UniqueArc::<T>::new_uninit(flags)?;
        Ok(unique.pin_init_with(init)?.into())
    }

    /// Takes back the count owned by the `Arc` given to [`Arc::into_raw`].
    ///
    /// # Safety
    ///
    /// `ptr` came from [`Arc::into_raw`] on an `Arc<T>`, whose count is given back only once.
    pub(crate) unsafe fn from_raw(ptr: *const T) -> Self {
        // INVARIANT: the count the caller gives back is owned by the new `Arc`.
        // SAFETY: from `Arc::into_raw` (the caller's contract).
        Arc { ptr: unsafe { ArcInner::container_of(ptr) }, _p: PhantomData }
    }

    /// The object, keeping its count: give it back with [`Arc::from_raw`].
    pub(crate) fn into_raw(this: Self) -> *const T {
        let this = core::mem::ManuallyDrop::new(this);
        // SAFETY: `ptr` is live by the type invariant.
        unsafe { ptr::addr_of!((*this.ptr.as_ptr()).data) }
    }

    fn inner(&self) -> &ArcInner<T> {
        // SAFETY: live by the type invariant.
        unsafe { self.ptr.as_ref() }
    }
}

/// One more count on `inner`, saturating.
fn get(inner: &ArcInner<impl Sized>) {
    if inner.refcount.fetch_add(1, Ordering::Relaxed) >= OVERFLOWED - 1 {
        saturate(&inner.refcount);
    }
}

/// Pins an overflowed or underflowed count and warns, as `refcount_t` does.
#[cold]
fn saturate(count: &AtomicU32) {
    count.store(SATURATED, Ordering::Relaxed);
    system::warn_on(true);
}

impl<T> Deref for Arc<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.inner().data
    }
}

impl<T> Clone for Arc<T> {
    fn clone(&self) -> Self {
        get(self.inner());
        // INVARIANT: the count just taken is owned by the new `Arc`.
        Arc { ptr: self.ptr, _p: PhantomData }
    }
}

impl<T> Drop for Arc<T> {
    fn drop(&mut self) {
        self.release(1);
    }
}

impl<T> Arc<T> {
    /// Gives up `n` counts (each owned by `self`'s caller: `self` and references it forgets);
    /// the last one frees the object. `self` must not be used or dropped afterwards.
    /// The decrement is inline: most drops leave other references, and a call per drop costs
    /// more than the decrement under emulation.
    #[inline(always)]
    fn release(&self, n: u32) {
        // Not touched after a decrement that leaves others: another CPU may free it.
        let old = self.inner().refcount.fetch_sub(n, Ordering::Release);
        if old != n {
            if old < n || old > OVERFLOWED {
                saturate(&self.inner().refcount);
            }
            return;
        }
        self.free();
    }

    /// Frees the object once its last count is given up.
    #[inline(never)]
    fn free(&self) {
        // Every other owner's accesses happen before the release below.
        fence(Ordering::Acquire);
        if let Some(pool) = self.drop_object() {
            // SAFETY: a block of `pool` (type invariant of `ArcInner`), unused now.
            unsafe { pool.give_back(self.ptr.cast()) };
        }
    }

    /// Drops the object in place once its last count is gone; `kmalloc` memory is freed, a
    /// pool's block is left to the caller to give back to the pool returned (with the count
    /// the block held on it). The memory is never touched through this `Arc` again.
    fn drop_object(&self) -> Option<Arc<BlockPool>> {
        let inner = self.ptr.as_ptr();
        // SAFETY: the last count (the caller's, after its acquire): nobody else can reach the
        // object. `pool` is read out once and `data` dropped in place once; `kmalloc` memory of
        // this layout goes back (type invariant of `ArcInner`).
        unsafe {
            let pool = ptr::read(ptr::addr_of!((*inner).pool));
            ptr::drop_in_place(ptr::addr_of_mut!((*inner).data));
            if pool.is_none() {
                Kmalloc::free(self.ptr.cast(), Layout::new::<ArcInner<T>>());
            }
            pool
        }
    }
}

/// Drops many references together (a cancel's batch of requests): an object whose last
/// reference goes is dropped at once, and the blocks of one pool go back to it together, with
/// one change of its free list and one of its count, when the batch ends.
///
/// # Invariants
///
/// `first..=last` are `n` blocks of `pool`, linked through their [`FreeBlock`]s (none if `n` is
/// 0), no longer used by anyone; `pool` holds `n` counts of the pool (one its own, the others
/// those the blocks owned).
pub(crate) struct DropBatch {
    pool: Option<Arc<BlockPool>>,
    first: *mut FreeBlock,
    last: *mut FreeBlock,
    n: u32,
}

impl DropBatch {
    /// Nothing dropped yet.
    pub(crate) fn new() -> Self {
        DropBatch { pool: None, first: ptr::null_mut(), last: ptr::null_mut(), n: 0 }
    }

    /// Drops `a` and `others`; those that are references to `a`'s object (a canceller's
    /// references to a request: the index's and its wait queues') with `a`'s one count change.
    pub(crate) fn drop_together<T>(&mut self, a: Arc<T>, others: [Option<Arc<T>>; 2]) {
        let mut n = 1;
        for b in others.into_iter().flatten() {
            if b.ptr == a.ptr {
                // `b`'s count is given up with `a`'s.
                core::mem::forget(b);
                n += 1;
            } else {
                drop(b);
            }
        }
        let a = core::mem::ManuallyDrop::new(a);
        // Counts held only by the caller cannot change under it: the last ones are recognised
        // by a load, with no locked instruction. Pairs with the release decrements of every
        // owner that let go before.
        if a.inner().refcount.load(Ordering::Acquire) == n {
            self.free(&a);
        } else {
            a.release(n);
        }
    }

    /// The last counts of `a` are gone: drops its object and keeps its block for the batch's
    /// pool (other memory goes back where it came from at once).
    fn free<T>(&mut self, a: &Arc<T>) {
        let Some(pool) = a.drop_object() else { return };
        if !self.pool.as_ref().is_some_and(|p| p.ptr == pool.ptr) {
            self.give_back();
            self.pool = Some(pool);
        } else {
            // Its count is carried by `self.pool` from now on.
            core::mem::forget(pool);
        }
        let block = a.ptr.as_ptr().cast::<FreeBlock>();
        // SAFETY: an unused block of the pool, which holds a `FreeBlock`.
        unsafe { (*block).next = self.first };
        if self.first.is_null() {
            self.last = block;
        }
        // INVARIANT: one more block of `pool`, and its count.
        self.first = block;
        self.n += 1;
    }

    /// Gives the blocks back to their pool, and the counts they held on it.
    fn give_back(&mut self) {
        let Some(pool) = self.pool.take() else { return };
        // SAFETY: `n` unused blocks of `pool`, linked from `first` to `last` (type invariant).
        unsafe { pool.give_back_list(self.first, self.last) };
        let n = self.n;
        self.first = ptr::null_mut();
        self.last = ptr::null_mut();
        self.n = 0;
        // `pool` holds `n` counts (type invariant).
        core::mem::ManuallyDrop::new(pool).release(n);
    }
}

impl Drop for DropBatch {
    fn drop(&mut self) {
        self.give_back();
    }
}

impl<T> From<Pin<UniqueArc<T>>> for Arc<T> {
    fn from(item: Pin<UniqueArc<T>>) -> Self {
        // SAFETY: an `Arc` never moves its object out, so the pin is kept.
        unsafe { Pin::into_inner_unchecked(item) }.inner
    }
}

impl<T: 'static> ForeignOwnable for Arc<T> {
    type Borrowed<'a> = ArcBorrow<'a, T>;

    fn into_foreign(self) -> *const c_void {
        Arc::into_raw(self).cast()
    }

    unsafe fn borrow<'a>(ptr: *const c_void) -> ArcBorrow<'a, T> {
        // SAFETY: `ptr` came from `into_foreign`, and `from_foreign` waits until every borrow
        // has ended (the trait's contract): the object outlives `'a`.
        unsafe { ArcBorrow::from_raw(ptr.cast()) }
    }

    unsafe fn from_foreign(ptr: *const c_void) -> Self {
        // SAFETY: `ptr` came from `into_foreign` (the trait's contract), which kept the count.
        unsafe { Arc::from_raw(ptr.cast()) }
    }
}

/// A borrowed [`Arc`]: the object without a count of its own, for `'a`.
///
/// # Invariants
///
/// `inner` is a live `ArcInner<T>` that some count keeps alive for `'a`.
pub(crate) struct ArcBorrow<'a, T> {
    inner: NonNull<ArcInner<T>>,
    _p: PhantomData<&'a ()>,
}

impl<T> Clone for ArcBorrow<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for ArcBorrow<'_, T> {}

impl<T> ArcBorrow<'_, T> {
    /// A borrow of the object at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` came from [`Arc::into_raw`], and a count keeps the object alive for the
    /// borrow's lifetime.
    pub(crate) unsafe fn from_raw(ptr: *const T) -> Self {
        // INVARIANT: the caller keeps the object alive for the lifetime.
        // SAFETY: from `Arc::into_raw` (the caller's contract).
        ArcBorrow { inner: unsafe { ArcInner::container_of(ptr) }, _p: PhantomData }
    }
}

impl<T> From<ArcBorrow<'_, T>> for Arc<T> {
    fn from(b: ArcBorrow<'_, T>) -> Self {
        // SAFETY: live for the borrow by its invariant.
        get(unsafe { b.inner.as_ref() });
        // INVARIANT: the count just taken is owned by the new `Arc`.
        Arc { ptr: b.inner, _p: PhantomData }
    }
}

impl<T> Deref for ArcBorrow<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: live for the borrow by its invariant.
        &unsafe { self.inner.as_ref() }.data
    }
}

/// An [`Arc`] known to be the only reference: its object may be changed, or initialised.
pub(crate) struct UniqueArc<T> {
    inner: Arc<T>,
}

impl<T> UniqueArc<T> {
    /// Uninitialised memory for a `T` from `kmalloc`.
    pub(crate) fn new_uninit(flags: Flags) -> Result<UniqueArc<MaybeUninit<T>>, AllocError> {
        let memory = Kmalloc::alloc(Layout::new::<ArcInner<MaybeUninit<T>>>(), flags)?;
        // SAFETY: fresh `kmalloc` memory of `ArcInner<MaybeUninit<T>>`'s layout (which is
        // `ArcInner<T>`'s: `MaybeUninit<T>` has `T`'s).
        Ok(unsafe { UniqueArc::from_memory(memory.cast(), None) })
    }

    /// Uninitialised memory for a `T` from `pool`: a free block of it, or a new one if it may
    /// have another; it goes back to the pool when the last reference goes. A `T` the pool's
    /// blocks cannot hold, or one the pool has no block for, is allocated as
    /// [`UniqueArc::new_uninit`] does.
    pub(crate) fn new_uninit_in(pool: &Arc<BlockPool>, flags: Flags) -> Result<UniqueArc<MaybeUninit<T>>, AllocError> {
        let need = Layout::new::<ArcInner<MaybeUninit<T>>>();
        if need.size() > pool.block.size() || need.align() > pool.block.align() {
            return Self::new_uninit(flags);
        }
        let memory = match pool.take() {
            Some(block) => block,
            None => match pool.make(flags) {
                Some(block) => block?,
                // The pool has all the blocks it may have, in use.
                None => return Self::new_uninit(flags),
            },
        };
        // SAFETY: a block of the pool's layout, which holds an `ArcInner<MaybeUninit<T>>`
        // (checked above), owned by nobody else; it goes back to `pool`.
        Ok(unsafe { UniqueArc::from_memory(memory, Some(pool.clone())) })
    }

    /// # Safety
    ///
    /// `memory` is unused memory for an `ArcInner<MaybeUninit<T>>`, from `kmalloc` of that
    /// layout (`pool` `None`) or a block of `pool`.
    unsafe fn from_memory(memory: NonNull<u8>, pool: Option<Arc<BlockPool>>) -> UniqueArc<MaybeUninit<T>> {
        let inner = memory.cast::<ArcInner<MaybeUninit<T>>>();
        // SAFETY: writable memory of the right layout (the caller's contract).
        unsafe {
            inner.as_ptr().write(ArcInner { refcount: AtomicU32::new(1), pool, data: MaybeUninit::uninit() });
        }
        // INVARIANT: initialised with one count, owned here; the memory's origin is in `pool`.
        UniqueArc { inner: Arc { ptr: inner, _p: PhantomData } }
    }
}

impl<T> UniqueArc<MaybeUninit<T>> {
    /// Initialises the object in place with `init`; on error the memory is given back.
    pub(crate) fn pin_init_with<E>(mut self, init: impl PinInit<T, E>) -> core::result::Result<Pin<UniqueArc<T>>, E> {
        let slot = self.as_mut_ptr();
        // SAFETY: `slot` is valid for writes and never moved (the memory is the allocation's);
        // on error `init` leaves it uninitialised, which `MaybeUninit` allows.
        unsafe { init.__pinned_init(slot)? };
        let inner = core::mem::ManuallyDrop::new(self).inner.ptr.cast::<ArcInner<T>>();
        // SAFETY: initialised just now; `ArcInner<MaybeUninit<T>>` and `ArcInner<T>` have the
        // same layout. The count moves to the new `Arc`, which never moves the object.
        Ok(unsafe { Pin::new_unchecked(UniqueArc { inner: Arc { ptr: inner, _p: PhantomData } }) })
    }
}

impl<T> Deref for UniqueArc<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T> DerefMut for UniqueArc<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the only reference (the type's meaning), so no other access exists.
        unsafe { &mut (*self.inner.ptr.as_ptr()).data }
    }
}

/// A free block in a [`BlockPool`].
#[repr(C)]
struct FreeBlock {
    next: *mut FreeBlock,
}

/// Memory blocks of one layout, kept for reuse: at most `cap` blocks are ever the pool's (in
/// use or free) at a time; beyond that, memory comes from `kmalloc` and goes back to it.
///
/// Blocks come back from any context (the last reference to a request can go in an interrupt)
/// onto `returned`, a lock-free stack; one taker at a time (`taking`) pops them from `taken`,
/// which it refills by taking all of `returned` at once. A taker that finds another at work, or
/// no block, makes one if the pool may have another. Push-only on one side and take-all on the
/// other, the stack has no ABA. Counting the blocks made rather than the blocks free keeps the
/// count off the path of a block's reuse.
///
/// # Invariants
///
/// - Every block on `returned` and `taken` is memory from `kmalloc` of `block`, used by no one
///   else; `block` holds a [`FreeBlock`].
/// - `made` counts the blocks of the pool, free or in use (a block in use goes back to the pool
///   with [`BlockPool::give_back`]); never more than `cap` once a block is made.
/// - `taken` is accessed only by the task that set `taking` (until it clears it).
pub(crate) struct BlockPool {
    block: Layout,
    cap: u32,
    made: AtomicU32,
    returned: AtomicPtr<FreeBlock>,
    taking: AtomicBool,
    taken: UnsafeCell<*mut FreeBlock>,
}

// SAFETY: the blocks are plain memory owned by the pool; `taken` is guarded by `taking`, the
// rest is atomic.
unsafe impl Send for BlockPool {}
// SAFETY: as above.
unsafe impl Sync for BlockPool {}

impl BlockPool {
    /// A pool for the allocations of [`UniqueArc::new_uninit_in`] of `T`, of at most `cap`
    /// blocks (0: it keeps none).
    pub(crate) fn for_arc_of<T>(cap: u32, flags: Flags) -> Result<Arc<BlockPool>> {
        // An `ArcInner` starts with a count and a pointer: it always holds a `FreeBlock`.
        const { assert!(core::mem::size_of::<ArcInner<()>>() >= core::mem::size_of::<FreeBlock>()) };
        Arc::pin_init(
            kernel::init!(BlockPool {
                block: Layout::new::<ArcInner<T>>(),
                cap,
                made: AtomicU32::new(0),
                returned: AtomicPtr::new(ptr::null_mut()),
                taking: AtomicBool::new(false),
                taken: UnsafeCell::new(ptr::null_mut()),
            }),
            flags,
        )
    }

    /// A free block, if there is one and no other task is taking.
    fn take(&self) -> Option<NonNull<u8>> {
        if self.taking.swap(true, Ordering::Acquire) {
            return None;
        }
        // SAFETY: `taking` is ours until the store below (type invariant).
        let taken = unsafe { &mut *self.taken.get() };
        if taken.is_null() {
            // Pairs with the release in `give_back`: the blocks' `next` links are seen.
            *taken = self.returned.swap(ptr::null_mut(), Ordering::Acquire);
        }
        let block = NonNull::new(*taken);
        if let Some(b) = block {
            // SAFETY: a free block of the pool (type invariant), which holds a `FreeBlock`.
            *taken = unsafe { (*b.as_ptr()).next };
        }
        self.taking.store(false, Ordering::Release);
        block.map(NonNull::cast)
    }

    /// A new block of the pool, unless it has `cap` already (`None`).
    fn make(&self, flags: Flags) -> Option<Result<NonNull<u8>, AllocError>> {
        if self.made.fetch_add(1, Ordering::Relaxed) >= self.cap {
            self.made.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        let block = Kmalloc::alloc(self.block, flags).map(NonNull::cast);
        if block.is_err() {
            self.made.fetch_sub(1, Ordering::Relaxed);
        }
        Some(block)
    }

    /// Takes back `memory`, a block of this pool nobody uses any more.
    ///
    /// # Safety
    ///
    /// `memory` is a block of this pool ([`BlockPool::make`]), no longer used.
    unsafe fn give_back(&self, memory: NonNull<u8>) {
        let block = memory.cast::<FreeBlock>().as_ptr();
        // SAFETY: one unused block of this pool (the caller's contract).
        unsafe { self.give_back_list(block, block) };
    }

    /// Takes back the blocks linked from `first` to `last` (through their `next`).
    ///
    /// # Safety
    ///
    /// They are blocks of this pool, no longer used, linked from `first` to `last`.
    unsafe fn give_back_list(&self, first: *mut FreeBlock, last: *mut FreeBlock) {
        let mut head = self.returned.load(Ordering::Relaxed);
        loop {
            // SAFETY: the blocks are ours and hold `FreeBlock`s (the pool's layout does).
            unsafe { (*last).next = head };
            match self.returned.compare_exchange_weak(head, first, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }
}

impl Drop for BlockPool {
    fn drop(&mut self) {
        let lists = [*self.taken.get_mut(), *self.returned.get_mut()];
        for mut p in lists {
            while let Some(b) = NonNull::new(p) {
                // SAFETY: a free block of the pool (type invariant); the last use of the pool.
                unsafe {
                    p = (*b.as_ptr()).next;
                    Kmalloc::free(b.cast(), self.block);
                }
            }
        }
    }
}
