// SPDX-License-Identifier: GPL-2.0

//! A lock-free list of `Arc<T>`s, intrusive through a [`StackLink`] in each `T`: any context
//! pushes one (one compare-exchange, no lock, no allocation), a consumer takes them all at once,
//! oldest first (`llist_add` and `llist_del_all` + `llist_reverse_order` of
//! `include/linux/llist.h`).
//!
//! An object is in at most one list at a time: its link says whether it is in one, and a push
//! of an object that is in a list already gives the reference back instead.

use super::arc::Arc;
use core::{
    marker::PhantomData,
    ptr,
    sync::atomic::{AtomicPtr, Ordering},
};

/// The link an object embeds to be in an [`ArcStack`].
///
/// # Invariants
///
/// `next` is [`StackLink::OUT`] while the object is in no list; while it is in one, the next
/// (older) object's address, or null for the oldest. Only a push claims it (from `OUT`), and
/// only the consumer that took the object gives it back.
pub(crate) struct StackLink {
    next: AtomicPtr<()>,
}

impl StackLink {
    /// In no list: an address no object has.
    const OUT: *mut () = 1 as *mut ();

    /// A link in no list.
    pub(crate) const fn new() -> StackLink {
        StackLink { next: AtomicPtr::new(Self::OUT) }
    }
}

/// An object that can be in an [`ArcStack`].
///
/// # Safety
///
/// `stack_link` returns the same link of `self` every time. Use [`impl_stack_item!`], which
/// returns a field.
pub(crate) unsafe trait StackItem: Sized {
    fn stack_link(&self) -> &StackLink;
}

/// Implements [`StackItem`] for `$t`, whose field `$field` is its [`StackLink`].
macro_rules! impl_stack_item {
    ($t:ty, $field:ident) => {
        // SAFETY: the link is a field of the object: the same one every time.
        unsafe impl $crate::sys::arc_stack::StackItem for $t {
            fn stack_link(&self) -> &$crate::sys::arc_stack::StackLink {
                &self.$field
            }
        }
    };
}
pub(crate) use impl_stack_item;

/// A list of `Arc<T>`s, newest first.
///
/// # Invariants
///
/// `head` is null or the newest object of a chain of objects linked through their
/// [`StackLink`]s, each kept alive by one reference the list owns (from `Arc::into_raw`).
pub(crate) struct ArcStack<T: StackItem> {
    head: AtomicPtr<T>,
    _items: PhantomData<Arc<T>>,
}

// SAFETY: the list owns `Arc<T>`s; pushing and taking are atomic.
unsafe impl<T: StackItem + Send + Sync> Send for ArcStack<T> {}
// SAFETY: as above.
unsafe impl<T: StackItem + Send + Sync> Sync for ArcStack<T> {}

impl<T: StackItem> ArcStack<T> {
    pub(crate) const fn new() -> Self {
        ArcStack { head: AtomicPtr::new(ptr::null_mut()), _items: PhantomData }
    }

    /// Adds `item`; gives it back if it is in a list already. Any context.
    pub(crate) fn push(&self, item: Arc<T>) -> Result<(), Arc<T>> {
        // The link is ours (it was out of every list) until the object is taken again.
        let claimed = item.stack_link().next.compare_exchange(StackLink::OUT, ptr::null_mut(), Ordering::Acquire, Ordering::Relaxed);
        if claimed.is_err() {
            return Err(item);
        }
        let me = Arc::into_raw(item).cast_mut();
        // SAFETY: alive by the reference `into_raw` kept.
        let link = unsafe { &(*me).stack_link().next };
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            link.store(head.cast(), Ordering::Relaxed);
            // Release: the link is written before the object can be taken through `head`.
            // INVARIANT: `me` joins the chain with the reference `into_raw` made.
            match self.head.compare_exchange_weak(head, me, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return Ok(()),
                Err(now) => head = now,
            }
        }
    }

    /// Takes every object in the list, to be handed out oldest first.
    pub(crate) fn take_all(&self) -> Taken<T> {
        // Acquire: pairs with the pushes' release (their links are written).
        let mut newest = self.head.swap(ptr::null_mut(), Ordering::Acquire);
        // Reversed in place, oldest first. Nobody else reaches these links now.
        let mut oldest: *mut T = ptr::null_mut();
        while !newest.is_null() {
            // SAFETY: an object of the chain, alive by the list's reference (type invariant).
            let link = unsafe { &(*newest).stack_link().next };
            let next = link.load(Ordering::Relaxed).cast::<T>();
            link.store(oldest.cast(), Ordering::Relaxed);
            oldest = newest;
            newest = next;
        }
        // INVARIANT: the chain moves to `Taken` with the references.
        Taken { next: oldest }
    }

    /// Whether the list is empty (a hint: others may push or take meanwhile).
    pub(crate) fn is_empty(&self) -> bool {
        self.head.load(Ordering::Acquire).is_null()
    }
}

impl<T: StackItem> Drop for ArcStack<T> {
    fn drop(&mut self) {
        drop(self.take_all());
    }
}

/// The objects a [`ArcStack::take_all`] took, oldest first.
///
/// # Invariants
///
/// `next` is null or the first of a chain of objects linked oldest first, each kept alive by a
/// reference this owns, and reached by nobody else.
pub(crate) struct Taken<T: StackItem> {
    next: *mut T,
}

impl<T: StackItem> Iterator for Taken<T> {
    type Item = Arc<T>;

    fn next(&mut self) -> Option<Arc<T>> {
        if self.next.is_null() {
            return None;
        }
        let me = self.next;
        // SAFETY: an object of the chain, alive by our reference (type invariant).
        let link = unsafe { &(*me).stack_link().next };
        self.next = link.load(Ordering::Relaxed).cast();
        // Out of the list: it may be pushed again once handed out.
        link.store(StackLink::OUT, Ordering::Release);
        // SAFETY: the reference the list owned since the push (type invariant).
        Some(unsafe { Arc::from_raw(me) })
    }
}

impl<T: StackItem> Drop for Taken<T> {
    fn drop(&mut self) {
        for item in self.by_ref() {
            drop(item);
        }
    }
}
