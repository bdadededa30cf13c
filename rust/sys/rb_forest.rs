// SPDX-License-Identifier: GPL-2.0

//! A forest of intrusive red-black trees: each object embeds one `rb_node` per tree and is
//! ordered in every tree by a key of its own, so that listing and unlisting under an
//! interrupts-off lock never allocate and never fail.
//!
//! C header: [`include/linux/rbtree.h`](srctree/include/linux/rbtree.h).
//!
//! The forest owns one `Arc<T>` per listed object, taken at [`Forest::insert`] and given back
//! by [`Forest::remove`]. Keys are `(u64, u64)` pairs compared lexicographically; an object's
//! keys must not change while it is listed. Lookups return borrows tied to the forest, so no
//! object can be removed (and possibly freed) while one is held.

use super::bindings;
use core::{
    cell::UnsafeCell,
    marker::PhantomData,
    ptr,
    sync::atomic::{AtomicU64, Ordering},
};
use kernel::{
    prelude::*,
    types::Opaque,
};
use super::arc::{Arc, ArcBorrow};

/// Where an object stands in one tree: its key there, then its order.
pub(crate) type Key = (u64, u64);

/// The nodes an object embeds, one per tree of a forest of `N` trees, with a copy of the
/// object's keys beside them: a descent compares keys without calling out of the forest.
///
/// # Invariants
///
/// `forest` is 0 while the object is in no forest, else the id of the forest that links
/// every one of `nodes`; only that forest touches `nodes`, `keys` and `order` then, writing
/// them only under `&mut`. While it is listed, `keys[i]` and `order` are the object's
/// [`ForestItem::key`] in tree `i` and its [`ForestItem::order`].
#[repr(C)]
pub(crate) struct Links<const N: usize> {
    nodes: [Opaque<bindings::rb_node>; N],
    keys: UnsafeCell<[u64; N]>,
    order: UnsafeCell<u64>,
    forest: AtomicU64,
}

// SAFETY: the nodes and keys are only touched by the forest that links them, written through
// `&mut Forest` only, so never from two threads at once; `forest` is atomic.
unsafe impl<const N: usize> Send for Links<N> {}
// SAFETY: as above.
unsafe impl<const N: usize> Sync for Links<N> {}

impl<const N: usize> Links<N> {
    /// Nodes in no tree.
    pub(crate) fn new() -> Self {
        Links {
            nodes: [const { Opaque::uninit() }; N],
            keys: UnsafeCell::new([0; N]),
            order: UnsafeCell::new(0),
            forest: AtomicU64::new(0),
        }
    }
}

/// An object that can be listed in a [`Forest`] of `N` trees.
///
/// # Safety
///
/// `LINKS_OFFSET` is the byte offset in `Self` of a field of type [`Links<N>`]. Use
/// [`impl_forest_item!`], which computes it.
pub(crate) unsafe trait ForestItem<const N: usize>: Sized {
    /// Byte offset of the `Links<N>` field.
    const LINKS_OFFSET: usize;
    /// The object's key in tree `tree` (< N); constant while the object is listed.
    fn key(&self, tree: usize) -> u64;
    /// What orders objects of equal key, in every tree (a sequence number); constant while
    /// the object is listed.
    fn order(&self) -> u64;
}

/// Implements [`ForestItem`] for `$t`, whose field `$field` is a `Links<$n>`, with the key
/// function `|$this, $tree| $key` and the order `|$this| $order`.
macro_rules! impl_forest_item {
    ($t:ty, $field:ident, $n:expr, |$this:ident, $tree:ident| $key:expr, |$this2:ident| $order:expr) => {
        // SAFETY: the offset is that of `$field`, which the function below checks to be a
        // `Links<$n>`.
        unsafe impl $crate::sys::rb_forest::ForestItem<{ $n }> for $t {
            const LINKS_OFFSET: usize = core::mem::offset_of!($t, $field);
            fn key(&self, $tree: usize) -> u64 {
                let $this = self;
                $key
            }
            fn order(&self) -> u64 {
                let $this2 = self;
                $order
            }
        }
        const _: fn(&$t) -> &$crate::sys::rb_forest::Links<{ $n }> = |item| &item.$field;
    };
}
pub(crate) use impl_forest_item;

/// `rb_link_node()`, a static inline of rbtree.h written out here: four stores, which the
/// kernel crate's helper would make a call.
///
/// # Safety
///
/// `node` is valid and in no tree; `link` is the null child pointer of `parent` (or the root
/// pointer, with a null `parent`) found by a descent, the tree not changed since.
unsafe fn link_node(node: *mut bindings::rb_node, parent: *mut bindings::rb_node, link: *mut *mut bindings::rb_node) {
    // SAFETY: the caller's contract; a black-or-red colour bit of 0 (red) with the parent
    // pointer, as rbtree.h stores it.
    unsafe {
        (*node).__rb_parent_color = parent as usize as _;
        (*node).rb_left = ptr::null_mut();
        (*node).rb_right = ptr::null_mut();
        *link = node;
    }
}

/// Ids of forests; 0 means "in no forest".
static NEXT_FOREST_ID: AtomicU64 = AtomicU64::new(1);

/// `N` trees over the same objects.
///
/// # Invariants
///
/// - Every node reachable from `roots[i]` is `nodes[i]` of a `T` whose `Links::forest` is
///   `id`, kept alive by one `Arc<T>` reference the forest owns (from `Arc::into_raw`).
/// - Each tree is ordered by `T::key(i)`, with ties in insertion order.
/// - `last[i]` is the last node of tree `i` in that order, null if the tree is empty.
pub(crate) struct Forest<T: ForestItem<N>, const N: usize> {
    roots: [bindings::rb_root; N],
    /// The last node of each tree: a key that does not decrease (one opcode in flight,
    /// increasing iocb addresses or data) is linked after it without a descent.
    last: [*mut bindings::rb_node; N],
    id: u64,
    _items: PhantomData<Arc<T>>,
}

// SAFETY: the forest owns `Arc<T>`s; moving it between threads moves those references.
unsafe impl<T: ForestItem<N> + Send + Sync, const N: usize> Send for Forest<T, N> {}

impl<T: ForestItem<N>, const N: usize> Forest<T, N> {
    /// An empty forest.
    pub(crate) fn new() -> Self {
        Forest {
            roots: [const { bindings::rb_root { rb_node: ptr::null_mut() } }; N],
            last: [ptr::null_mut(); N],
            id: NEXT_FOREST_ID.fetch_add(1, Ordering::Relaxed),
            _items: PhantomData,
        }
    }

    fn links(item: &T) -> &Links<N> {
        // SAFETY: `LINKS_OFFSET` is the offset of a `Links<N>` field of `T` (trait contract).
        unsafe { &*ptr::from_ref(item).cast::<u8>().add(T::LINKS_OFFSET).cast::<Links<N>>() }
    }

    fn node(item: &T, tree: usize) -> *mut bindings::rb_node {
        Self::links(item).nodes[tree].get()
    }

    /// The object whose node `tree` is `node`.
    ///
    /// # Safety
    ///
    /// `node` is reachable from `roots[tree]`.
    unsafe fn item<'a>(&'a self, node: *mut bindings::rb_node, tree: usize) -> &'a T {
        let offset = T::LINKS_OFFSET + tree * core::mem::size_of::<Opaque<bindings::rb_node>>();
        // SAFETY: `nodes` is the first field of `Links` (repr C), so this is container_of; the
        // object is alive while listed (type invariant), and stays listed while `self` is
        // borrowed (removal needs `&mut self`).
        unsafe { &*node.cast::<u8>().sub(offset).cast::<T>() }
    }

    /// Where `item`, listed here, stands in tree `tree`: its keys as copied at insertion.
    #[inline]
    pub(crate) fn key_of(&self, item: &T, tree: usize) -> Key {
        let links = Self::links(item);
        // SAFETY: written only under `&mut self` while listed here (type invariant of
        // `Links`), and `&self` is held: no write now.
        unsafe { ((*links.keys.get())[tree], *links.order.get()) }
    }

    /// Whether `item` is listed in this forest.
    pub(crate) fn contains(&self, item: &T) -> bool {
        Self::links(item).forest.load(Ordering::Relaxed) == self.id
    }

    /// Lists `item` in every tree. Gives it back if it is already in a forest.
    pub(crate) fn insert(&mut self, item: Arc<T>) -> Result<(), Arc<T>> {
        let links = Self::links(&item);
        if links.forest.compare_exchange(0, self.id, Ordering::Relaxed, Ordering::Relaxed).is_err() {
            return Err(item);
        }
        let order = item.order();
        // SAFETY: the keys are read only through this forest (type invariant of `Links`), and
        // `&mut self` excludes every reader.
        unsafe { *links.order.get() = order };
        for tree in 0..N {
            let key = (item.key(tree), order);
            // SAFETY: as above.
            unsafe { (*links.keys.get())[tree] = key.0 };
            let node = Self::node(&item, tree);
            let last = self.last[tree];
            // SAFETY: `last` is null or a node of the tree (type invariant), of a listed object.
            let after_last = !last.is_null() && key >= self.key_of(unsafe { self.item(last, tree) }, tree);
            let (parent, link) = if after_last {
                // The last node has no right child: that is where the new last one goes.
                // SAFETY: `last` is a node of the tree; `&mut self` excludes every other user.
                (last, unsafe { ptr::addr_of_mut!((*last).rb_right) })
            } else {
                let mut parent = ptr::null_mut();
                let mut link = ptr::addr_of_mut!(self.roots[tree].rb_node);
                // SAFETY: `link` points into the tree, every node of which is a listed
                // object's (type invariant); `&mut self` excludes every other user of the tree.
                unsafe {
                    while !(*link).is_null() {
                        parent = *link;
                        link = if key < self.key_of(self.item(parent, tree), tree) {
                            ptr::addr_of_mut!((*parent).rb_left)
                        } else {
                            ptr::addr_of_mut!((*parent).rb_right)
                        };
                    }
                }
                (parent, link)
            };
            // SAFETY: `link` is the null child pointer (or root) the new node belongs at, and
            // the node is in no tree (its object was in no forest).
            unsafe {
                link_node(node, parent, link);
                bindings::rb_insert_color(node, &mut self.roots[tree]);
            }
            // INVARIANT: linked after the last node, or into an empty tree, it is the last
            // (a key below the last one's descends to some place before it).
            if after_last || last.is_null() {
                self.last[tree] = node;
            }
        }
        // INVARIANT: linked in every tree, and the forest owns this reference.
        let _ = Arc::into_raw(item);
        Ok(())
    }

    /// Unlists `item` from every tree and returns the forest's reference to it; `None` if it
    /// is not listed here.
    pub(crate) fn remove(&mut self, item: &T) -> Option<Arc<T>> {
        if !self.contains(item) {
            return None;
        }
        for tree in 0..N {
            let node = Self::node(item, tree);
            if self.last[tree] == node {
                // INVARIANT: the one before it is the last now (null: the tree empties).
                // SAFETY: the node is in this tree.
                self.last[tree] = unsafe { bindings::rb_prev(node) };
            }
            // SAFETY: the node is in this tree (it is listed here); `&mut self` is exclusive.
            unsafe { bindings::rb_erase(node, &mut self.roots[tree]) };
        }
        Self::links(item).forest.store(0, Ordering::Relaxed);
        // SAFETY: the reference the forest took in `insert` (type invariant), given up now
        // that the object is in no tree.
        Some(unsafe { Arc::from_raw(ptr::from_ref(item)) })
    }

    /// Another reference to `item`, if it is listed here.
    pub(crate) fn get(&self, item: &T) -> Option<Arc<T>> {
        if !self.contains(item) {
            return None;
        }
        // SAFETY: listed here, so the forest owns a reference from `Arc::into_raw` (type
        // invariant) that outlives this borrow.
        Some(unsafe { ArcBorrow::from_raw(ptr::from_ref(item)) }.into())
    }

    /// The first object of tree `tree` whose key is at least `key`.
    pub(crate) fn lower_bound(&self, tree: usize, key: Key) -> Option<&T> {
        let mut node = self.roots[tree].rb_node;
        let mut best = None;
        while !node.is_null() {
            // SAFETY: `node` is in the tree (type invariant).
            let item = unsafe { self.item(node, tree) };
            node = if self.key_of(item, tree) >= key {
                best = Some(item);
                // SAFETY: `node` is in the tree; its child pointers are valid or null.
                unsafe { (*node).rb_left }
            } else {
                // SAFETY: as above.
                unsafe { (*node).rb_right }
            };
        }
        best
    }

    /// The object after `item` in tree `tree`; `None` at the end or if `item` is not listed.
    pub(crate) fn next(&self, tree: usize, item: &T) -> Option<&T> {
        if !self.contains(item) {
            return None;
        }
        // SAFETY: the node is in the tree.
        let next = unsafe { bindings::rb_next(Self::node(item, tree)) };
        // SAFETY: a node returned by `rb_next` is in the same tree.
        (!next.is_null()).then(|| unsafe { self.item(next, tree) })
    }
}

impl<T: ForestItem<N>, const N: usize> Drop for Forest<T, N> {
    fn drop(&mut self) {
        // Gives back every reference the forest still owns.
        while let Some(item) = self.lower_bound(0, (0, 0)).map(ptr::from_ref) {
            // SAFETY: listed here, so alive until removed.
            drop(self.remove(unsafe { &*item }));
        }
    }
}
