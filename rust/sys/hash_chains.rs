// SPDX-License-Identifier: GPL-2.0

//! An intrusive hash of objects by a `u64` key: a bucket array sized once, at creation, and in
//! each bucket a doubly linked chain through a link the object embeds (the shape of the C
//! `hlist`), so that listing and unlisting under an interrupts-off lock never allocate and
//! never fail, and finding an object by its key costs one short chain, whatever the number of
//! objects.
//!
//! The hash owns one `Arc<T>` per listed object, taken at [`HashChains::insert`] and given back
//! by [`HashChains::remove`]. An object's key must not change while it is listed. Chains are
//! not bounded (keys may collide, or repeat): a caller that holds an interrupts-off lock looks
//! at a bounded number of objects of a chain and falls back to something else beyond it.

use core::{
    cell::UnsafeCell,
    marker::PhantomData,
    ptr,
    sync::atomic::{AtomicU64, Ordering},
};
use kernel::{
    alloc::KVVec,
    prelude::*,
};
use super::arc::{Arc, ArcBorrow};

/// The link an object embeds.
///
/// # Invariants
///
/// `owner` is 0 while the object is in no hash, else the id of the hash whose chain it is in;
/// only that hash, under `&mut`, touches `next` and `pprev` then. While listed, `pprev` points
/// at the pointer that points at this link (a bucket head or the `next` of the link before it)
/// and `next` at the next link of the chain or is null.
#[repr(C)]
pub(crate) struct HashLink {
    next: UnsafeCell<*mut HashLink>,
    pprev: UnsafeCell<*mut *mut HashLink>,
    owner: AtomicU64,
}

// SAFETY: `next` and `pprev` are only touched by the hash that lists the object, through
// `&mut HashChains` (or read through `&HashChains`, which excludes `&mut`); `owner` is atomic.
unsafe impl Send for HashLink {}
// SAFETY: as above.
unsafe impl Sync for HashLink {}

impl HashLink {
    /// A link in no hash.
    pub(crate) fn new() -> Self {
        HashLink { next: UnsafeCell::new(ptr::null_mut()), pprev: UnsafeCell::new(ptr::null_mut()), owner: AtomicU64::new(0) }
    }
}

/// An object that can be listed in a [`HashChains`].
///
/// # Safety
///
/// `LINK_OFFSET` is the byte offset in `Self` of a field of type [`HashLink`]. Use
/// [`impl_hash_item!`], which computes it.
pub(crate) unsafe trait HashItem: Sized {
    /// Byte offset of the `HashLink` field.
    const LINK_OFFSET: usize;
    /// The object's key; constant while the object is listed.
    fn hash_key(&self) -> u64;
}

/// Implements [`HashItem`] for `$t`, whose field `$field` is a `HashLink`, with the key
/// function `|$this| $key`.
macro_rules! impl_hash_item {
    ($t:ty, $field:ident, |$this:ident| $key:expr) => {
        // SAFETY: the offset is that of `$field`, which the function below checks to be a
        // `HashLink`.
        unsafe impl $crate::sys::hash_chains::HashItem for $t {
            const LINK_OFFSET: usize = core::mem::offset_of!($t, $field);
            fn hash_key(&self) -> u64 {
                let $this = self;
                $key
            }
        }
        const _: fn(&$t) -> &$crate::sys::hash_chains::HashLink = |item| &item.$field;
    };
}
pub(crate) use impl_hash_item;

/// Ids of hashes; 0 means "in no hash".
static NEXT_HASH_ID: AtomicU64 = AtomicU64::new(1);

/// Most buckets one hash has (1 MiB of heads).
const MAX_BUCKETS: usize = 1 << 17;

/// Objects by key.
///
/// # Invariants
///
/// - `buckets.len()` is `1 << (64 - shift)`, and never changes (the heads do not move).
/// - Every link reachable from a bucket head is the `HashLink` of a `T` whose key hashes to
///   that bucket and whose `owner` is `id`, kept alive by one `Arc<T>` reference the hash owns
///   (from `Arc::into_raw`).
pub(crate) struct HashChains<T: HashItem> {
    buckets: KVVec<*mut HashLink>,
    shift: u32,
    id: u64,
    _items: PhantomData<Arc<T>>,
}

// SAFETY: the hash owns `Arc<T>`s and the links of their objects; moving it between threads
// moves those references, and the links are only touched through the hash.
unsafe impl<T: HashItem + Send + Sync> Send for HashChains<T> {}

impl<T: HashItem> HashChains<T> {
    /// An empty hash with `buckets` buckets, rounded up to a power of two (at least 8, at most
    /// `MAX_BUCKETS`).
    pub(crate) fn new(buckets: usize) -> Result<Self> {
        let n = buckets.clamp(8, MAX_BUCKETS).next_power_of_two();
        Ok(HashChains {
            buckets: KVVec::from_elem(ptr::null_mut(), n, GFP_KERNEL)?,
            shift: 64 - n.trailing_zeros(),
            id: NEXT_HASH_ID.fetch_add(1, Ordering::Relaxed),
            _items: PhantomData,
        })
    }

    fn link(item: &T) -> &HashLink {
        // SAFETY: `LINK_OFFSET` is the offset of a `HashLink` field of `T` (trait contract).
        unsafe { &*ptr::from_ref(item).cast::<u8>().add(T::LINK_OFFSET).cast::<HashLink>() }
    }

    /// The object whose link is `link`.
    ///
    /// # Safety
    ///
    /// `link` is reachable from a bucket head of `self`.
    unsafe fn item<'a>(&'a self, link: *mut HashLink) -> &'a T {
        // SAFETY: container_of; the object is alive while listed (type invariant), and stays
        // listed while `self` is borrowed (removal needs `&mut self`).
        unsafe { &*link.cast::<u8>().sub(T::LINK_OFFSET).cast::<T>() }
    }

    /// Multiplicative hashing (`hash_64`): the top bits of the key times 2^64 / phi.
    fn bucket(&self, key: u64) -> usize {
        (key.wrapping_mul(0x61c8_8646_80b5_83eb) >> self.shift) as usize
    }

    /// Whether `item` is listed in this hash.
    pub(crate) fn contains(&self, item: &T) -> bool {
        Self::link(item).owner.load(Ordering::Relaxed) == self.id
    }

    /// Lists `item` at the head of its key's chain. Gives it back if it is already in a hash.
    pub(crate) fn insert(&mut self, item: Arc<T>) -> Result<(), Arc<T>> {
        let link = Self::link(&item);
        if link.owner.compare_exchange(0, self.id, Ordering::Relaxed, Ordering::Relaxed).is_err() {
            return Err(item);
        }
        let b = self.bucket(item.hash_key());
        let head: *mut *mut HashLink = &mut self.buckets[b];
        let me = ptr::from_ref(link).cast_mut();
        // SAFETY: `head` is a bucket head of this hash and every link in its chain is a listed
        // object's (type invariant); `&mut self` excludes every other user of the chains, and
        // `link` is in no chain (its owner was 0), so nothing else reads its fields.
        unsafe {
            let first = *head;
            *link.next.get() = first;
            if !first.is_null() {
                *(*first).pprev.get() = link.next.get();
            }
            *head = me;
            *link.pprev.get() = head;
        }
        // INVARIANT: linked at the head of its bucket's chain, and the hash owns this reference.
        let _ = Arc::into_raw(item);
        Ok(())
    }

    /// Unlists `item` and returns the hash's reference to it; `None` if it is not listed here.
    pub(crate) fn remove(&mut self, item: &T) -> Option<Arc<T>> {
        if !self.contains(item) {
            return None;
        }
        let link = Self::link(item);
        // SAFETY: listed here, so `pprev` points at the pointer to this link and `next` is the
        // next link or null (type invariant); `&mut self` is exclusive.
        unsafe {
            let next = *link.next.get();
            let pprev = *link.pprev.get();
            *pprev = next;
            if !next.is_null() {
                *(*next).pprev.get() = pprev;
            }
            *link.next.get() = ptr::null_mut();
            *link.pprev.get() = ptr::null_mut();
        }
        link.owner.store(0, Ordering::Relaxed);
        // SAFETY: the reference the hash took in `insert` (type invariant), given up now that
        // the object is in no chain.
        Some(unsafe { Arc::from_raw(ptr::from_ref(item)) })
    }

    /// Another reference to `item`, if it is listed here.
    pub(crate) fn get(&self, item: &T) -> Option<Arc<T>> {
        if !self.contains(item) {
            return None;
        }
        // SAFETY: listed here, so the hash owns a reference from `Arc::into_raw` (type
        // invariant) that outlives this borrow.
        Some(unsafe { ArcBorrow::from_raw(ptr::from_ref(item)) }.into())
    }

    /// The objects of the chain `key` hashes to, newest first: every object with that key, and
    /// others whose keys collide with it.
    pub(crate) fn chain_of(&self, key: u64) -> Chain<'_, T> {
        Chain { hash: self, at: self.buckets[self.bucket(key)] }
    }
}

/// An iterator over one chain of a [`HashChains`].
///
/// # Invariants
///
/// `at` is null or a link reachable from a bucket head of `hash`.
pub(crate) struct Chain<'a, T: HashItem> {
    hash: &'a HashChains<T>,
    at: *mut HashLink,
}

impl<'a, T: HashItem> Iterator for Chain<'a, T> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        if self.at.is_null() {
            return None;
        }
        // SAFETY: `at` is in a chain of `hash` (type invariant), which is borrowed, so no link
        // of it changes.
        let item = unsafe { self.hash.item(self.at) };
        // INVARIANT: the next link of the same chain, or null.
        // SAFETY: as above.
        self.at = unsafe { *(*self.at).next.get() };
        Some(item)
    }
}

impl<T: HashItem> Drop for HashChains<T> {
    fn drop(&mut self) {
        // Gives back every reference the hash still owns.
        for b in 0..self.buckets.len() {
            while !self.buckets[b].is_null() {
                // SAFETY: the head of a chain of this hash: a listed object's link.
                let item = ptr::from_ref(unsafe { self.item(self.buckets[b]) });
                // SAFETY: listed here, so alive until removed.
                drop(self.remove(unsafe { &*item }));
            }
        }
    }
}
