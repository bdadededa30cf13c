// SPDX-License-Identifier: GPL-2.0
//! The process's requests in flight, in slots allocated once with its context: taking a slot
//! and giving it back are single atomic operations on a bitmap, never `malloc` or `free`, so
//! that `aio_error` and `aio_return` can reap a completion inside a signal handler (POSIX lists
//! both as async-signal-safe; a handler that frees memory while the thread it interrupted is
//! inside `malloc` corrupts the heap or deadlocks).

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicU64, Ordering};

/// Fixed slots for values of type `T`, handed out by address.
///
/// # Invariants
///
/// Bit `i % 64` of `free[i / 64]` is set exactly when slot `i` holds no value; a clear bit
/// belongs to whoever cleared it until it gives the slot back.
pub struct Pool<T> {
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
    free: Box<[AtomicU64]>,
}

// SAFETY: a slot is only touched by the one owner its bit gives it to; values move between
// threads (a request submitted by one thread is reaped by another).
unsafe impl<T: Send> Sync for Pool<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for Pool<T> {}

impl<T> Pool<T> {
    /// `capacity` empty slots (allocated here, touched only when used).
    pub fn new(capacity: usize) -> Pool<T> {
        let slots = (0..capacity).map(|_| UnsafeCell::new(MaybeUninit::uninit())).collect();
        let free = (0..capacity.div_ceil(64))
            .map(|w| {
                let in_word = (capacity - w * 64).min(64);
                AtomicU64::new(if in_word == 64 { u64::MAX } else { (1u64 << in_word) - 1 })
            })
            .collect();
        Pool { slots, free }
    }

    /// Moves `value` into a free slot and returns its address; gives `value` back when every
    /// slot is taken. Lock-free.
    pub fn put(&self, value: T) -> Result<*mut T, T> {
        for (w, word) in self.free.iter().enumerate() {
            let mut bits = word.load(Ordering::Relaxed);
            while bits != 0 {
                let bit = bits.trailing_zeros() as usize;
                // Acquire: the previous owner's reads of the slot happened before it gave the
                // slot back (Release below).
                match word.compare_exchange_weak(bits, bits & !(1 << bit), Ordering::Acquire, Ordering::Relaxed) {
                    Ok(_) => {
                        let slot = self.slots[w * 64 + bit].get();
                        // SAFETY: the cleared bit makes the slot ours (type invariant).
                        unsafe { (*slot).write(value) };
                        return Ok(slot.cast());
                    }
                    Err(now) => bits = now,
                }
            }
        }
        Err(value)
    }

    /// Moves the value out of the slot at `addr` and frees the slot. Lock-free and
    /// async-signal-safe (it does not drop the value).
    ///
    /// # Safety
    ///
    /// `addr` was returned by [`Pool::put`] on this pool and not taken since.
    pub unsafe fn take(&self, addr: *mut T) -> T {
        let index = (addr as usize - self.slots.as_ptr() as usize) / core::mem::size_of::<T>();
        // SAFETY: the caller's contract: the slot holds the value put there.
        let value = unsafe { addr.read() };
        // Release: the read above happens before the next owner writes the slot.
        self.free[index / 64].fetch_or(1 << (index % 64), Ordering::Release);
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_slot_once_then_full() {
        let pool = Pool::<u32>::new(70);
        let addrs: Vec<_> = (0..70).map(|i| pool.put(i).expect("a free slot")).collect();
        assert_eq!(pool.put(70), Err(70));
        let mut sorted = addrs.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 70);
        // SAFETY: each address came from `put` and is taken once.
        let values: Vec<u32> = addrs.iter().map(|&a| unsafe { pool.take(a) }).collect();
        assert_eq!(values, (0..70).collect::<Vec<_>>());
        assert!(pool.put(7).is_ok());
    }
}
