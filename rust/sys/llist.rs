// SPDX-License-Identifier: GPL-2.0

//! A lock-free list of `Arc<T>` (the kernel's `llist`): any context pushes one object with a
//! compare-and-exchange; a consumer takes every object at once with one exchange, and gets them
//! oldest first (`llist_add`, `llist_del_all`, `llist_reverse_order`).
//!
//! C header: [`include/linux/llist.h`](srctree/include/linux/llist.h).
//!
//! No lock and no interrupts turned off on either side, and no allocation. Since nobody takes
//! out one object alone, there is no ABA hazard: objects come back to the list only after a
//! consumer took them out.
//!
//! An object has one [`LLink`]; it is in no list, or in one. A push of an object in a list is
//! refused (the caller gets its `Arc` back): the link is claimed with a compare-and-exchange
//! before it is written, so a list can never be corrupted through the safe interface.

use super::arc::Arc;
use core::{
    marker::PhantomData,
    ptr,
    sync::atomic::{AtomicPtr, Ordering},
};

/// An object's link: the next object of its list (the older one, while in the list), or a
/// mark.
///
/// # Invariants
///
/// `next` is null while the object is in no list and owned by no consumer; otherwise it is
/// [`END`] or the next object of the list (or of the consumer's [`Taken`]).
pub(crate) struct LLink<T> {
    next: AtomicPtr<T>,
}

impl<T> LLink<T> {
    /// A link in no list.
    pub(crate) const fn new() -> Self {
        LLink { next: AtomicPtr::new(ptr::null_mut()) }
    }
}

/// The end of a list: the link of its last object (never a valid object's address).
fn end<T>() -> *mut T {
    ptr::NonNull::dangling().as_ptr()
}

/// An object that can be in an [`LList`].
///
/// # Safety
///
/// `llink` returns the same link every time for an object, used by nothing but the lists.
pub(crate) unsafe trait LListItem: Sized {
    fn llink(&self) -> &LLink<Self>;
}

/// Implements [`LListItem`] for `$t`, whose link is `|$this| $link` (an expression giving a
/// `&LLink<$t>` that is the same for the object's whole life).
macro_rules! impl_llist_item {
    ($t:ty, |$this:ident| $link:expr) => {
        // SAFETY: the link is a field reached the same way every time, used only by lists.
        unsafe impl $crate::sys::llist::LListItem for $t {
            fn llink(&self) -> &$crate::sys::llist::LLink<$t> {
                let $this = self;
                $link
            }
        }
    };
}
pub(crate) use impl_llist_item;

/// A lock-free list of objects.
///
/// # Invariants
///
/// `head` is null (empty) or the newest object of a chain through the objects' links that
/// ends in [`END`]; each object in the chain is kept alive by one `Arc<T>` count the list owns
/// (from `Arc::into_raw`).
pub(crate) struct LList<T: LListItem> {
    head: AtomicPtr<T>,
    _items: PhantomData<Arc<T>>,
}

// SAFETY: the list owns `Arc<T>`s and hands them to whichever thread takes them; its own state
// is one atomic pointer.
unsafe impl<T: LListItem + Send + Sync> Send for LList<T> {}
// SAFETY: as above; every access to the shared state is atomic.
unsafe impl<T: LListItem + Send + Sync> Sync for LList<T> {}

impl<T: LListItem> LList<T> {
    /// An empty list.
    pub(crate) const fn new() -> Self {
        LList { head: AtomicPtr::new(ptr::null_mut()), _items: PhantomData }
    }

    /// Adds `item` (`llist_add`); gives it back if it is in a list already. Any context.
    pub(crate) fn push(&self, item: Arc<T>) -> Result<(), Arc<T>> {
        // Claim the link: in no list, and now ours to write.
        let claimed = item.llink().next.compare_exchange(ptr::null_mut(), end(), Ordering::Acquire, Ordering::Relaxed);
        if claimed.is_err() {
            return Err(item);
        }
        let me = Arc::into_raw(item).cast_mut();
        // SAFETY: alive: the count just taken from the `Arc` is ours.
        let link = unsafe { &(*me).llink().next };
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            link.store(if head.is_null() { end() } else { head }, Ordering::Relaxed);
            // Release: a consumer that takes the list sees the link written above (and what the
            // pusher wrote before it). Sequentially consistent, as `is_empty` and `take_all`: a
            // pusher that then finds the consumer's work item queued already (see ArcSlot::put)
            // is seen by that run.
            match self.head.compare_exchange_weak(head, me, Ordering::SeqCst, Ordering::Relaxed) {
                // INVARIANT: the count from `into_raw` is the list's now.
                Ok(_) => return Ok(()),
                Err(now) => head = now,
            }
        }
    }

    /// Takes every object out (`llist_del_all`), oldest first. Any context.
    pub(crate) fn take_all(&self) -> Taken<T> {
        if self.head.load(Ordering::Relaxed).is_null() {
            return Taken { next: end(), _items: PhantomData };
        }
        // Acquire: pairs with the pushes' Release (the links of the chain are written).
        let mut at = self.head.swap(ptr::null_mut(), Ordering::SeqCst);
        // Reverse the chain, newest first, into oldest first.
        let mut reversed = end();
        while !at.is_null() && at != end() {
            // SAFETY: an object of the chain, kept alive by the list's count (type invariant),
            // which the swap above made ours along with the chain.
            let link = unsafe { &(*at).llink().next };
            let older = link.load(Ordering::Relaxed);
            link.store(reversed, Ordering::Relaxed);
            reversed = at;
            at = older;
        }
        Taken { next: reversed, _items: PhantomData }
    }

    /// Whether the list is empty now (a hint: it may change at once).
    pub(crate) fn is_empty(&self) -> bool {
        self.head.load(Ordering::SeqCst).is_null()
    }
}

impl<T: LListItem> Drop for LList<T> {
    fn drop(&mut self) {
        drop(self.take_all());
    }
}

/// The objects a consumer took out of an [`LList`], oldest first; those not taken from it are
/// dropped with it.
///
/// # Invariants
///
/// `next` is [`END`] or the first of a chain of objects through their links, ending in
/// [`END`], each kept alive by one count this owns.
pub(crate) struct Taken<T: LListItem> {
    next: *mut T,
    _items: PhantomData<Arc<T>>,
}

impl<T: LListItem> Iterator for Taken<T> {
    type Item = Arc<T>;

    fn next(&mut self) -> Option<Arc<T>> {
        if self.next == end() {
            return None;
        }
        let at = self.next;
        // SAFETY: an object of the chain (type invariant), alive by our count.
        let link = unsafe { &(*at).llink().next };
        self.next = link.load(Ordering::Relaxed);
        // The object leaves every list: it may be pushed again (Release: after our read of its
        // link).
        link.store(ptr::null_mut(), Ordering::Release);
        // SAFETY: the count from the push's `Arc::into_raw`, ours (type invariant), handed on.
        Some(unsafe { Arc::from_raw(at) })
    }
}

impl<T: LListItem> Drop for Taken<T> {
    fn drop(&mut self) {
        for item in self.by_ref() {
            drop(item);
        }
    }
}
