// SPDX-License-Identifier: GPL-2.0

//! A pinned value that is exactly one of five types, initialized in place: a request's
//! operation state, which takes the size of the largest operation rather than the sum of all.
//!
//! `pin_init!` builds structs only; an enum whose variants hold pinned C objects (a timer, a
//! wait entry, a work item) must be built where it will stay. `#[repr(C, u8)]` fixes the
//! enum's layout (the Rust reference, "Primitive representation of enums with fields"): a
//! `u8` tag, 0 to 4 in declaration order, followed by a `#[repr(C)]` union of the variants,
//! each at the union's start. [`InitOneOf`] initializes one variant's payload there and then
//! writes its tag. Once built it is an ordinary enum: matching on it and dropping it need no
//! `unsafe`.

use core::{
    mem::ManuallyDrop,
    ptr::addr_of_mut,
};
use kernel::init::PinInit;

/// One of five values; which one is fixed at initialization.
// Built in place by `InitOneOf`, never by naming a variant.
#[allow(dead_code)]
#[repr(C, u8)]
pub(crate) enum OneOf<A, B, C, D, E> {
    A(A),
    B(B),
    C(C),
    D(D),
    E(E),
}

/// The initializer of the variant to build, for [`OneOf`].
pub(crate) enum InitOneOf<IA, IB, IC, ID, IE> {
    A(IA),
    B(IB),
    C(IC),
    D(ID),
    E(IE),
}

/// The layout `#[repr(C, u8)]` gives [`OneOf`].
#[repr(C)]
struct Layout<A, B, C, D, E> {
    tag: u8,
    payload: Payload<A, B, C, D, E>,
}

#[repr(C)]
union Payload<A, B, C, D, E> {
    a: ManuallyDrop<A>,
    b: ManuallyDrop<B>,
    c: ManuallyDrop<C>,
    d: ManuallyDrop<D>,
    e: ManuallyDrop<E>,
}

// The tags `#[repr(C, u8)]` assigns, in declaration order.
const TAG_A: u8 = 0;
const TAG_B: u8 = 1;
const TAG_C: u8 = 2;
const TAG_D: u8 = 3;
const TAG_E: u8 = 4;

// SAFETY: on `Ok`, `slot` holds a valid `OneOf`: the chosen variant's payload was initialized in
// place (at the union's start, where `#[repr(C, u8)]` puts every variant's single field) and its
// tag written; the payload is pinned where it was built because `slot` never moves (the
// caller's promise). On `Err` the payload initializer left its memory uninitialized and no tag
// was written, so nothing needs dropping.
unsafe impl<A, B, C, D, E, IA, IB, IC, ID, IE, Er> PinInit<OneOf<A, B, C, D, E>, Er> for InitOneOf<IA, IB, IC, ID, IE>
where
    IA: PinInit<A, Er>,
    IB: PinInit<B, Er>,
    IC: PinInit<C, Er>,
    ID: PinInit<D, Er>,
    IE: PinInit<E, Er>,
{
    unsafe fn __pinned_init(self, slot: *mut OneOf<A, B, C, D, E>) -> Result<(), Er> {
        let raw = slot.cast::<Layout<A, B, C, D, E>>();
        // SAFETY: `slot` is valid for writes of a `OneOf` (the caller's promise), which has the
        // layout of `Layout`; the payload pointers stay inside it.
        let payload = unsafe { addr_of_mut!((*raw).payload) };
        // SAFETY: each payload pointer is valid, uninitialized and pinned as `slot` is (above).
        let tag = unsafe {
            match self {
                InitOneOf::A(init) => init.__pinned_init(payload.cast::<A>()).map(|()| TAG_A)?,
                InitOneOf::B(init) => init.__pinned_init(payload.cast::<B>()).map(|()| TAG_B)?,
                InitOneOf::C(init) => init.__pinned_init(payload.cast::<C>()).map(|()| TAG_C)?,
                InitOneOf::D(init) => init.__pinned_init(payload.cast::<D>()).map(|()| TAG_D)?,
                InitOneOf::E(init) => init.__pinned_init(payload.cast::<E>()).map(|()| TAG_E)?,
            }
        };
        // SAFETY: as above; after this write the enum is valid.
        unsafe { addr_of_mut!((*raw).tag).write(tag) };
        Ok(())
    }
}

// The layout the initializer writes is the one the compiler gives the enum (checked on types of
// different sizes and alignments).
const _: () = {
    use core::mem::{align_of, size_of};
    type Sample = OneOf<u8, u64, [u8; 3], u16, [u32; 5]>;
    type SampleLayout = Layout<u8, u64, [u8; 3], u16, [u32; 5]>;
    assert!(size_of::<Sample>() == size_of::<SampleLayout>());
    assert!(align_of::<Sample>() == align_of::<SampleLayout>());
};
