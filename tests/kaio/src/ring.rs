//! The completion ring seen from user space (`AIO-SEMANTICS.md` §1.7, §7): reading the header
//! and reaping events without a system call, as libaio's fast path and fio's
//! `userspace_reap` do.
//!
//! Protocol: the kernel writes an event into slot `tail`, then (write barrier) the new `tail`.
//! A consumer loads `head` and `tail` (acquire), copies slots `[head, tail)` modulo the ring
//! size, then stores the new `head` (release). Only one consumer may reap at a time: do not
//! reap from two threads, or from user space while another thread is in `io_getevents`.

use crate::uapi::*;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

/// Number of unread events between `head` and `tail` in a ring of `nr` slots, after reducing
/// both modulo `nr` as the kernel does (0 when `nr` is 0).
pub fn pending(head: u32, tail: u32, nr: u32) -> u32 {
    if nr == 0 {
        return 0;
    }
    let (h, t) = (head % nr, tail % nr);
    if h <= t {
        t - h
    } else {
        nr - h + t
    }
}

/// A view of a mapped completion ring: the 32-byte header and `nr` events after it.
///
/// # Invariants
///
/// `hdr` points at an 8-byte aligned [`AioRing`] followed by `nr` [`IoEvent`]s, readable and
/// writable for `'a`. Other parties (the kernel) access it concurrently only by plain stores
/// of whole, aligned fields.
pub struct Ring<'a> {
    hdr: NonNull<AioRing>,
    /// The capacity, copied once: a corrupt `ring->nr` never makes us index out of bounds.
    nr: u32,
    _life: PhantomData<&'a mut AioRing>,
}

impl<'a> Ring<'a> {
    /// A view of the ring at `hdr` with `nr` event slots.
    ///
    /// # Safety
    ///
    /// `hdr` must be 8-byte aligned and point at an `AioRing` followed by `nr` `IoEvent`s that
    /// stay mapped readable and writable for `'a`; whoever else accesses that memory meanwhile
    /// does so only by whole, aligned loads and stores of its fields.
    pub unsafe fn from_raw(hdr: *mut AioRing, nr: u32) -> Ring<'a> {
        // INVARIANT: the caller vouches for the memory; a null pointer panics here.
        Ring { hdr: NonNull::new(hdr).expect("ring address is null"), nr, _life: PhantomData }
    }

    /// The address of the header (the ctx id of a context's ring).
    pub fn as_ptr(&self) -> *mut AioRing {
        self.hdr.as_ptr()
    }

    /// The number of event slots this view uses (the `nr` it was made with).
    pub fn nr(&self) -> u32 {
        self.nr
    }

    fn field(&self, offset: usize) -> &AtomicU32 {
        debug_assert!(offset < size_of::<AioRing>() && offset.is_multiple_of(4));
        // SAFETY: by the type invariant the header is mapped for 'a and aligned; `offset` is
        // that of one of its u32 fields, and the kernel only stores whole u32s to them.
        unsafe { AtomicU32::from_ptr(self.hdr.as_ptr().cast::<u8>().add(offset).cast()) }
    }

    /// A snapshot of the header, field by field.
    pub fn header(&self) -> AioRing {
        let f = |o| self.field(o).load(Ordering::Relaxed);
        AioRing {
            id: f(0),
            nr: f(4),
            head: f(8),
            tail: f(12),
            magic: f(16),
            compat_features: f(20),
            incompat_features: f(24),
            header_length: f(28),
        }
    }

    /// `ring->head` as stored (not reduced).
    pub fn head(&self) -> u32 {
        self.field(8).load(Ordering::Relaxed)
    }

    /// `ring->tail` as stored, with acquire ordering: events before it are visible.
    pub fn tail(&self) -> u32 {
        self.field(12).load(Ordering::Acquire)
    }

    /// Stores `ring->head`, with release ordering: our reads of the events before it are done.
    pub fn set_head(&self, head: u32) {
        self.field(8).store(head, Ordering::Release)
    }

    /// Whether the header is one this code understands, as libaio checks before its fast
    /// path: the magic, no incompatible features, a 32-byte header.
    pub fn is_compatible(&self) -> bool {
        let h = self.header();
        h.magic == AIO_RING_MAGIC
            && h.incompat_features == AIO_RING_INCOMPAT_FEATURES
            && h.header_length as usize == size_of::<AioRing>()
    }

    /// Unread events, from the current head and tail.
    pub fn pending(&self) -> u32 {
        pending(self.head(), self.tail(), self.nr)
    }

    /// Event slot `i` (reduced modulo `nr`); `None` when `nr` is 0.
    pub fn event(&self, i: u32) -> Option<IoEvent> {
        (self.nr != 0).then(|| self.slot(i % self.nr))
    }

    /// Event slot `i`, which is below `nr`.
    fn slot(&self, i: u32) -> IoEvent {
        assert!(i < self.nr);
        // The header is exactly one event in size, so slot i is element i + 1.
        let p = self.hdr.as_ptr().cast::<IoEvent>().wrapping_add(1 + i as usize);
        // SAFETY: by the type invariant slot i < nr is mapped and 8-byte aligned. The kernel
        // does not write a slot in [head, tail), the only ones a reaper reads.
        unsafe { p.read_volatile() }
    }

    /// Reaps up to `out.len()` events: copies them in FIFO order and advances `head` past
    /// them, as `aio_read_events_ring` does. Returns how many were copied.
    pub fn reap(&self, out: &mut [IoEvent]) -> usize {
        let (head, tail) = (self.head(), self.tail());
        if head == tail || self.nr == 0 {
            return 0;
        }
        // Both are below `nr` unless the ring was scribbled on: no division per call or per
        // event then (an emulated one is slow).
        let reduce = |i: u32| if i < self.nr { i } else { i % self.nr };
        let (mut head, tail) = (reduce(head), reduce(tail));
        let mut n = 0;
        while n < out.len() && head != tail {
            let end = if head < tail { tail } else { self.nr };
            let k = ((end - head) as usize).min(out.len() - n);
            for (j, slot) in out[n..n + k].iter_mut().enumerate() {
                *slot = self.slot(head + j as u32);
            }
            n += k;
            head += k as u32;
            if head == self.nr {
                head = 0;
            }
        }
        self.set_head(head);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory ring: header plus `nr` slots, 8-byte aligned.
    struct Mem(Vec<IoEvent>);

    impl Mem {
        fn new(nr: u32) -> Mem {
            let mut m = Mem(vec![IoEvent::default(); nr as usize + 1]);
            let hdr = AioRing {
                id: 0,
                nr,
                head: 0,
                tail: 0,
                magic: AIO_RING_MAGIC,
                compat_features: 1,
                incompat_features: 0,
                header_length: 32,
            };
            // SAFETY: the first element (32 bytes, 8-aligned) holds the header.
            unsafe { m.0.as_mut_ptr().cast::<AioRing>().write(hdr) };
            m
        }

        fn ring(&mut self) -> Ring<'_> {
            let nr = (self.0.len() - 1) as u32;
            // SAFETY: the vector holds a header and nr slots, 8-aligned, borrowed for the view.
            unsafe { Ring::from_raw(self.0.as_mut_ptr().cast(), nr) }
        }

        /// Plays the kernel: appends an event with `data` at the tail.
        fn complete(&mut self, data: u64) {
            let (tail, nr) = {
                let r = self.ring();
                (r.header().tail, r.nr())
            };
            self.0[1 + (tail % nr) as usize] =
                IoEvent { data, obj: 0x1000 + data, res: 0, res2: 0 };
            self.ring().field(12).store((tail + 1) % nr, Ordering::Release);
        }
    }

    fn datas(ev: &[IoEvent]) -> Vec<u64> {
        ev.iter().map(|e| e.data).collect()
    }

    #[test]
    fn pending_arithmetic() {
        assert_eq!(pending(0, 0, 8), 0);
        assert_eq!(pending(2, 5, 8), 3);
        assert_eq!(pending(6, 1, 8), 3);
        assert_eq!(pending(7, 7, 8), 0);
        // Values are reduced modulo nr first, as the kernel does with corrupt ones.
        assert_eq!(pending(10, 13, 8), 3);
        assert_eq!(pending(8, 0, 8), 0);
        assert_eq!(pending(1, 2, 0), 0);
        assert_eq!(pending(u32::MAX, 0, 8), 1);
    }

    #[test]
    fn header_and_compatibility() {
        let mut m = Mem::new(4);
        let r = m.ring();
        assert!(r.is_compatible());
        assert_eq!((r.header().nr, r.head(), r.tail(), r.pending()), (4, 0, 0, 0));
        r.field(24).store(1, Ordering::Relaxed);
        assert!(!r.is_compatible());
    }

    #[test]
    fn reap_in_order_and_advance_head() {
        let mut m = Mem::new(8);
        for d in 1..=5 {
            m.complete(d);
        }
        let r = m.ring();
        assert_eq!(r.pending(), 5);
        let mut out = [IoEvent::default(); 3];
        assert_eq!(r.reap(&mut out), 3);
        assert_eq!(datas(&out), [1, 2, 3]);
        assert_eq!(out[0].obj, 0x1001);
        assert_eq!((r.head(), r.pending()), (3, 2));
        assert_eq!(r.reap(&mut out), 2);
        assert_eq!(datas(&out[..2]), [4, 5]);
        assert_eq!(r.reap(&mut out), 0);
        assert_eq!(r.head(), 5);
    }

    #[test]
    fn reap_across_the_wrap() {
        let mut m = Mem::new(4);
        for d in 1..=3 {
            m.complete(d);
        }
        let mut out = [IoEvent::default(); 4];
        assert_eq!(m.ring().reap(&mut out), 3);
        for d in 4..=6 {
            m.complete(d);
        }
        let r = m.ring();
        assert_eq!((r.head(), r.tail(), r.pending()), (3, 2, 3));
        assert_eq!(r.reap(&mut out), 3);
        assert_eq!(datas(&out[..3]), [4, 5, 6]);
        assert_eq!(r.head(), 2);
    }

    #[test]
    fn reap_with_small_output_stops_at_its_size() {
        let mut m = Mem::new(4);
        m.complete(1);
        m.complete(2);
        let r = m.ring();
        assert_eq!(r.reap(&mut []), 0);
        assert_eq!(r.head(), 0);
        let mut one = [IoEvent::default(); 1];
        assert_eq!(r.reap(&mut one), 1);
        assert_eq!((one[0].data, r.head()), (1, 1));
    }

    #[test]
    fn corrupt_indices_are_reduced() {
        let mut m = Mem::new(4);
        for d in 1..=3 {
            m.complete(d);
        }
        let r = m.ring();
        // head 9 is slot 1: two events (slots 1 and 2) remain; head is stored reduced.
        r.set_head(9);
        let mut out = [IoEvent::default(); 4];
        assert_eq!(r.reap(&mut out), 2);
        assert_eq!(datas(&out[..2]), [2, 3]);
        assert_eq!(r.head(), 3);
        // head 7 != tail 3 raw, but equal modulo 4: nothing to copy, head stored reduced.
        r.set_head(7);
        assert_eq!(r.reap(&mut out), 0);
        assert_eq!(r.head(), 3);
    }

    #[test]
    fn event_slots_wrap() {
        let mut m = Mem::new(2);
        m.complete(1);
        m.complete(2);
        let r = m.ring();
        assert_eq!(r.event(0).unwrap().data, 1);
        assert_eq!(r.event(3).unwrap().data, 2);
    }
}
