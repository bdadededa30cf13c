// SPDX-License-Identifier: GPL-2.0

//! An index of objects in the order they were listed: `N` families of intrusive doubly linked
//! lists (each family an array of bucket lists; an object is in one bucket of every family,
//! chosen by a value of its own), with cursors that hold a walk's place while the lock guarding
//! the index is dropped.
//!
//! Listing appends to a bucket's tail and unlisting unlinks: both O(1), without allocation, so
//! they cannot fail under an interrupts-off lock. Every bucket is in listing order. A walk
//! ([`SeqIndex::scan`]) goes through one bucket, oldest first; it stops at a match or after a
//! bounded number of objects, and then parks its [`Cursor`] in the bucket, right after the last
//! object it looked at. The cursor is a link like an object's (flagged as a cursor, skipped by
//! every walk), so objects may come and go around it while the lock is dropped; the walk goes
//! on from it. (The kernel's lists have the same device: `list_for_each_entry` with a cursor
//! entry, as in `mm/list_lru.c`'s and `kernfs`' walks.)
//!
//! The index owns one `Arc<T>` per listed object, taken by [`SeqIndex::insert`] and given back
//! by [`SeqIndex::remove`].

use super::arc::{Arc, ArcBorrow};
use core::{
    cell::UnsafeCell,
    marker::{PhantomData, PhantomPinned},
    pin::Pin,
    ptr,
    sync::atomic::{AtomicU64, Ordering},
};
use kernel::prelude::*;

/// A link in one bucket list: an object's, a bucket's head, or a cursor.
///
/// # Invariants
///
/// `next` and `prev` are null while the link is in no list; in a list, they point to the links
/// around it (the list is circular through its head). `cursor` is true only for a [`Cursor`]'s
/// link. Only the index whose list holds the link touches `next` and `prev`, under `&mut`.
#[repr(C)]
pub(crate) struct Link {
    next: UnsafeCell<*mut Link>,
    prev: UnsafeCell<*mut Link>,
    cursor: bool,
}

impl Link {
    const fn new(cursor: bool) -> Link {
        Link { next: UnsafeCell::new(ptr::null_mut()), prev: UnsafeCell::new(ptr::null_mut()), cursor }
    }

    /// Links `me` between `prev` and `prev`'s next.
    ///
    /// # Safety
    ///
    /// `me` is in no list; `prev` is in a list; the caller has exclusive access to the list.
    unsafe fn link_after(me: *mut Link, prev: *mut Link) {
        // SAFETY: the caller's contract: every link touched is valid and ours to change.
        unsafe {
            let next = *(*prev).next.get();
            *(*me).next.get() = next;
            *(*me).prev.get() = prev;
            *(*next).prev.get() = me;
            *(*prev).next.get() = me;
        }
    }

    /// Unlinks `me` from its list and marks it in none.
    ///
    /// # Safety
    ///
    /// `me` is in a list; the caller has exclusive access to that list.
    unsafe fn unlink(me: *mut Link) {
        // SAFETY: the caller's contract; `me`'s neighbours are valid links of the same list.
        unsafe {
            let next = *(*me).next.get();
            let prev = *(*me).prev.get();
            *(*prev).next.get() = next;
            *(*next).prev.get() = prev;
            *(*me).next.get() = ptr::null_mut();
            *(*me).prev.get() = ptr::null_mut();
        }
    }
}

/// The links an object embeds, one per family of an index of `N` families.
///
/// # Invariants
///
/// `index` is 0 while the object is in no index, else the id of the index whose lists hold
/// every one of `links`.
#[repr(C)]
pub(crate) struct IndexLinks<const N: usize> {
    links: [Link; N],
    index: AtomicU64,
}

// SAFETY: the links are only touched by the index that lists the object, under `&mut`; `index`
// is atomic.
unsafe impl<const N: usize> Send for IndexLinks<N> {}
// SAFETY: as above.
unsafe impl<const N: usize> Sync for IndexLinks<N> {}

impl<const N: usize> IndexLinks<N> {
    /// Links in no index.
    pub(crate) fn new() -> Self {
        IndexLinks { links: [const { Link::new(false) }; N], index: AtomicU64::new(0) }
    }
}

/// An object that can be listed in a [`SeqIndex`] of `N` families.
///
/// # Safety
///
/// `LINKS_OFFSET` is the byte offset in `Self` of a field of type [`IndexLinks<N>`]. Use
/// [`impl_index_item!`], which computes it.
pub(crate) unsafe trait IndexItem<const N: usize>: Sized {
    /// Byte offset of the `IndexLinks<N>` field.
    const LINKS_OFFSET: usize;
    /// The value that picks the object's bucket in family `family` (< N); constant while the
    /// object is listed.
    fn slot(&self, family: usize) -> u64;
}

/// Implements [`IndexItem`] for `$t`, whose field `$field` is an `IndexLinks<$n>`, with the
/// slot function `|$this, $family| $slot`.
macro_rules! impl_index_item {
    ($t:ty, $field:ident, $n:expr, |$this:ident, $family:ident| $slot:expr) => {
        // SAFETY: the offset is that of `$field`, which the function below checks to be an
        // `IndexLinks<$n>`.
        unsafe impl $crate::sys::seq_index::IndexItem<{ $n }> for $t {
            const LINKS_OFFSET: usize = core::mem::offset_of!($t, $field);
            fn slot(&self, $family: usize) -> u64 {
                let $this = self;
                $slot
            }
        }
        const _: fn(&$t) -> &$crate::sys::seq_index::IndexLinks<{ $n }> = |item| &item.$field;
    };
}
pub(crate) use impl_index_item;

/// How a family picks an object's bucket from its slot value.
#[derive(Clone, Copy)]
pub(crate) enum Buckets {
    /// `n` buckets (rounded up to a power of two), by a hash of the slot value with a seed of
    /// the index's own.
    Hashed(usize),
    /// `n` buckets (rounded up to a power of two), the slot value itself (modulo `n`).
    Direct(usize),
}

/// One family: its bucket heads, in memory of their own (lists point to them).
struct Family {
    heads: KVVec<Link>,
    /// 64 minus log2 of the bucket count, for a hashed family; `None` for a direct one.
    shift: Option<u32>,
}

impl Family {
    fn new(buckets: Buckets) -> Result<Family> {
        let (n, hashed) = match buckets {
            Buckets::Hashed(n) => (n.max(1).next_power_of_two(), true),
            Buckets::Direct(n) => (n.max(1).next_power_of_two(), false),
        };
        let mut heads = KVVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            heads.push(Link::new(false), GFP_KERNEL)?;
        }
        // The heads' memory does not move from here on (no more pushes): each empty list is
        // its head alone.
        for h in heads.iter() {
            let me = ptr::from_ref(h).cast_mut();
            // SAFETY: a head nobody else knows yet.
            unsafe {
                *h.next.get() = me;
                *h.prev.get() = me;
            }
        }
        Ok(Family { heads, shift: hashed.then(|| 64 - n.trailing_zeros()) })
    }
}

static NEXT_INDEX_ID: AtomicU64 = AtomicU64::new(1);

/// An index of objects of type `T` in `N` families of bucket lists (see the module doc).
///
/// # Invariants
///
/// - Every bucket head is in a circular list of links: its own, those of objects whose
///   `IndexLinks::index` is `id` (the link for this family), and those of parked [`Cursor`]s
///   of this index; objects appear in the order they were inserted.
/// - Each object listed here is kept alive by one `Arc<T>` reference the index owns (from
///   `Arc::into_raw`).
pub(crate) struct SeqIndex<T: IndexItem<N>, const N: usize> {
    families: [Family; N],
    seed: u64,
    id: u64,
    _items: PhantomData<Arc<T>>,
}

// SAFETY: the index owns `Arc<T>`s and the links of their objects; moving it between threads
// moves those references, and the links are only touched through the index.
unsafe impl<T: IndexItem<N> + Send + Sync, const N: usize> Send for SeqIndex<T, N> {}

impl<T: IndexItem<N>, const N: usize> SeqIndex<T, N> {
    /// An empty index whose family `f` has buckets as `buckets[f]` says.
    pub(crate) fn new(buckets: [Buckets; N]) -> Result<Self> {
        let mut failed = None;
        let families = core::array::from_fn(|f| {
            Family::new(buckets[f]).unwrap_or_else(|e| {
                failed = Some(e);
                Family { heads: KVVec::new(), shift: None }
            })
        });
        if let Some(e) = failed {
            return Err(e);
        }
        Ok(SeqIndex {
            families,
            // SAFETY: always safe to call.
            seed: unsafe { kernel::bindings::get_random_u64() },
            id: NEXT_INDEX_ID.fetch_add(1, Ordering::Relaxed),
            _items: PhantomData,
        })
    }

    fn links(item: &T) -> &IndexLinks<N> {
        // SAFETY: `LINKS_OFFSET` is the offset of an `IndexLinks<N>` field of `T` (trait
        // contract).
        unsafe { &*ptr::from_ref(item).cast::<u8>().add(T::LINKS_OFFSET).cast::<IndexLinks<N>>() }
    }

    /// The bucket head of family `family` for slot value `slot`.
    fn head(&self, family: usize, slot: u64) -> *mut Link {
        let f = &self.families[family];
        let i = match f.shift {
            // Multiplicative hashing (`hash_64`) of the seeded value; one bucket: shift 64.
            Some(shift) if shift < 64 => ((slot ^ self.seed).wrapping_mul(0x61c8_8646_80b5_83eb) >> shift) as usize,
            Some(_) => 0,
            None => (slot as usize) & (f.heads.len() - 1),
        };
        ptr::from_ref(&f.heads[i]).cast_mut()
    }

    /// Lists `item` at the tail of its bucket in every family. Gives it back if it is in an
    /// index already.
    pub(crate) fn insert(&mut self, item: Arc<T>) -> Result<(), Arc<T>> {
        let links = Self::links(&item);
        if links.index.compare_exchange(0, self.id, Ordering::Relaxed, Ordering::Relaxed).is_err() {
            return Err(item);
        }
        for (f, link) in links.links.iter().enumerate() {
            let head = self.head(f, item.slot(f));
            // SAFETY: `link` is in no list (its object was in no index); `head` is a list of
            // this index, which `&mut self` lets us change; `head`'s prev is its tail.
            unsafe { Link::link_after(ptr::from_ref(link).cast_mut(), *(*head).prev.get()) };
        }
        // INVARIANT: the reference now owned by the index.
        let _ = Arc::into_raw(item);
        Ok(())
    }

    /// Takes `item` off the index: `None` if it is not listed here.
    pub(crate) fn remove(&mut self, item: &T) -> Option<Arc<T>> {
        let links = Self::links(item);
        if links.index.load(Ordering::Relaxed) != self.id {
            return None;
        }
        for link in links.links.iter() {
            // SAFETY: listed here, so each link is in one of this index's lists, which
            // `&mut self` lets us change.
            unsafe { Link::unlink(ptr::from_ref(link).cast_mut()) };
        }
        links.index.store(0, Ordering::Relaxed);
        // SAFETY: listed here, so the index owns a reference from `Arc::into_raw` (type
        // invariant), given back now that the object is off every list.
        Some(unsafe { Arc::from_raw(ptr::from_ref(item)) })
    }

    /// Goes on with `cursor`'s walk: through its bucket, oldest first, from its start or where
    /// it was parked, asking `judge` about each object, looking at no more than `limit`.
    /// [`Verdict::Take`] returns the object with the cursor parked right after it;
    /// [`Verdict::Remove`] takes it off the index and returns it, the cursor parked in its place;
    /// [`Verdict::End`] or the end of the bucket ends the walk (the cursor leaves the list);
    /// after `limit` objects the cursor is parked after the last and [`Scan::Paused`] returned.
    pub(crate) fn scan(&mut self, cursor: Pin<&mut Cursor<'_, T, N>>, limit: usize, mut judge: impl FnMut(&T) -> Verdict) -> Scan<T> {
        // SAFETY: nothing below moves the cursor out of its pinned place.
        let c = unsafe { cursor.get_unchecked_mut() };
        if c.index != 0 && c.index != self.id {
            // Another index's cursor: a bug in the caller; look at nothing.
            return Scan::Done;
        }
        let head = self.head(c.family, c.slot);
        let me = ptr::from_ref(&c.link).cast_mut();
        // Where the walk goes on: after the parked cursor, or from the head.
        let mut at = if c.index != 0 { me } else { head };
        let mut looked = 0;
        loop {
            // SAFETY: `at` is a link of this bucket's list (the head, the parked cursor, or an
            // object looked at under this same `&mut self`, not removed since); the list is
            // circular through `head`, and cursors are skipped.
            let mut next = unsafe { *(*at).next.get() };
            // SAFETY: as above: `next` is a link of the list, the head or another walk's cursor.
            while next != head && unsafe { (*next).cursor } {
                // Other walks' cursors count towards `limit` too: as many walks may be parked
                // in one list as there are tasks waiting in cancels.
                looked += 1;
                if looked >= limit {
                    self.park(c, next);
                    return Scan::Paused;
                }
                // SAFETY: as above.
                next = unsafe { *(*next).next.get() };
            }
            if next == head {
                self.unpark(c);
                return Scan::Done;
            }
            // SAFETY: an object's link for family `c.family`, in this index (type invariant):
            // container_of, and the object is alive while listed.
            let item = unsafe { &*next.cast::<u8>().sub(T::LINKS_OFFSET + c.family * core::mem::size_of::<Link>()).cast::<T>() };
            looked += 1;
            match judge(item) {
                Verdict::End => {
                    self.unpark(c);
                    return Scan::Done;
                }
                Verdict::Take => {
                    self.park(c, next);
                    // SAFETY: listed here: the index's reference keeps it alive (type
                    // invariant) while we take one of our own.
                    return Scan::Taken(unsafe { ArcBorrow::from_raw(ptr::from_ref(item)) }.into());
                }
                Verdict::Remove => {
                    // The cursor stays (or goes) before the object, and so takes its place once
                    // the object is off: a walk taking object after object moves it no more.
                    self.park(c, at);
                    // `item` is listed here, so `remove` gives back the index's reference.
                    return match self.remove(item) {
                        Some(item) => Scan::Removed(item),
                        None => Scan::Done,
                    };
                }
                Verdict::Skip if looked >= limit => {
                    self.park(c, next);
                    return Scan::Paused;
                }
                Verdict::Skip => at = next,
            }
        }
    }

    /// Parks `c` right after `after`, a link of its bucket's list.
    fn park(&mut self, c: &mut Cursor<'_, T, N>, after: *mut Link) {
        let me = ptr::from_ref(&c.link).cast_mut();
        if c.index != 0 {
            if after == me {
                return;
            }
            // SAFETY: parked, so in this index's list, which `&mut self` lets us change.
            unsafe { Link::unlink(me) };
        }
        // SAFETY: `me` is in no list now; `after` is in the bucket's list (the caller's
        // contract). The cursor is pinned, and unlinked before it goes (its `Drop`).
        unsafe { Link::link_after(me, after) };
        c.index = self.id;
    }

    /// Ends `cursor`'s walk: out of its bucket's list if it is parked there.
    pub(crate) fn release(&mut self, cursor: Pin<&mut Cursor<'_, T, N>>) {
        // SAFETY: `unpark` changes the cursor in place, never moves it.
        self.unpark(unsafe { cursor.get_unchecked_mut() });
    }

    /// Takes `c` out of its bucket's list if it is parked there.
    fn unpark(&mut self, c: &mut Cursor<'_, T, N>) {
        if c.index == self.id {
            // SAFETY: parked in this index's list, which `&mut self` lets us change.
            unsafe { Link::unlink(ptr::from_ref(&c.link).cast_mut()) };
            c.index = 0;
        }
    }
}

impl<T: IndexItem<N>, const N: usize> Drop for SeqIndex<T, N> {
    fn drop(&mut self) {
        // Nothing is listed when the owner goes (its objects hold it alive); a leftover would
        // be leaked, not freed under a walk.
        for f in self.families.iter_mut() {
            for h in f.heads.iter_mut() {
                let me = ptr::from_mut(h);
                if *h.next.get_mut() != me {
                    kernel::pr_warn!("kaio: index dropped with objects listed\n");
                    return;
                }
            }
        }
    }
}

/// What a walk makes of one object.
pub(crate) enum Verdict {
    /// Not this one; go on.
    Skip,
    /// This one: stop here.
    Take,
    /// This one, taken off the index: stop here.
    Remove,
    /// Nothing from here on can match: the walk is over.
    End,
}

/// How a [`SeqIndex::scan`] ended.
pub(crate) enum Scan<T> {
    /// The object judged [`Verdict::Take`]; the walk goes on after it.
    Taken(Arc<T>),
    /// The object judged [`Verdict::Remove`], with the index's reference; the walk goes on
    /// from where it was.
    Removed(Arc<T>),
    /// `limit` objects looked at; the walk goes on after the last.
    Paused,
    /// The walk is over.
    Done,
}

/// The index a [`Cursor`] must leave before it goes: locks it for the cursor's `Drop`.
pub(crate) trait LockedIndex<T: IndexItem<N>, const N: usize>: Sync {
    /// Runs `f` on the index, under its lock.
    fn with_index(&self, f: &mut dyn FnMut(&mut SeqIndex<T, N>));
}

/// A walk's place in one bucket of a [`SeqIndex`]: pinned, parked in the list between scans.
///
/// # Invariants
///
/// `index` is 0 while `link` is in no list, else the id of the index whose bucket list
/// (family `family`, slot value `slot`) holds it; `link` is flagged as a cursor. A parked cursor
/// is unlinked before it goes (`Drop` locks the index through `lock` if the walker did not).
pub(crate) struct Cursor<'a, T: IndexItem<N>, const N: usize> {
    link: Link,
    index: u64,
    family: usize,
    slot: u64,
    lock: &'a dyn LockedIndex<T, N>,
    _pin: PhantomPinned,
}

impl<'a, T: IndexItem<N>, const N: usize> Cursor<'a, T, N> {
    /// A walk, not started, of the bucket of family `family` that slot value `slot` picks in
    /// the index `lock` guards.
    pub(crate) fn new(lock: &'a dyn LockedIndex<T, N>, family: usize, slot: u64) -> Self {
        Cursor { link: Link::new(true), index: 0, family: family.min(N - 1), slot, lock, _pin: PhantomPinned }
    }
}

impl<T: IndexItem<N>, const N: usize> Drop for Cursor<'_, T, N> {
    fn drop(&mut self) {
        // A parked cursor is pinned (only `scan` parks it, through `Pin`): it leaves the list
        // here, in place, before its memory goes.
        if self.index != 0 {
            let lock = self.lock;
            lock.with_index(&mut |index| index.unpark(self));
        }
    }
}
