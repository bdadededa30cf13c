//! io_setup (§2, §13.1): argument checks in order, nr_events adjustment and ring geometry, the
//! ring header, accounting, the per-mm (per-domain) table.

use crate::aio::*;
use crate::ktap::{Case, CaseResult};
use crate::util::*;
use crate::{check, expect_eq};
use kaio::uapi::*;

pub fn cases() -> Vec<Case> {
    vec![
        Case::both("setup_nr_zero_einval", setup_nr_zero_einval),
        Case::both("setup_ctxp_bad_efault", setup_ctxp_bad_efault),
        Case::both("setup_ctxp_nonzero_einval", setup_ctxp_nonzero_einval),
        Case::both("setup_nr_too_large_einval", setup_nr_too_large_einval),
        Case::both("setup_nr_over_max_eagain", setup_nr_over_max_eagain),
        Case::both("setup_ring_header_values", setup_ring_header_values),
        Case::both("setup_ring_geometry", setup_ring_geometry),
        Case::both("setup_ctxp_readonly_efault_no_leak", setup_ctxp_readonly_efault_no_leak),
        Case::both("setup_nr_accounting", setup_nr_accounting),
        Case::both("setup_table_ids_lowest_free", setup_table_ids_lowest_free),
        Case::both("setup_many_contexts_independent", setup_many_contexts_independent),
        Case::both("setup_ring_not_executable", setup_ring_not_executable),
        Case::kaio("setup_flags_unknown_einval", setup_flags_unknown_einval),
        Case::kaio("setup_arg_block_unreadable_efault", setup_arg_block_unreadable_efault),
        Case::kaio("setup_domains_have_separate_tables", setup_domains_have_separate_tables),
    ]
}

/// A kernel address: unreadable for user copies.
pub const KERNEL_ADDR: u64 = 0xffff_8880_0000_0000;

fn nr_now(b: &dyn Aio) -> Result<u64, String> {
    read_u64(b.nr_path())
}

fn setup_nr_zero_einval(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let base = nr_now(b)?;
    let mut z = 0u64;
    expect_eq!(o, "io_setup(0, &0)", b.setup(0, &mut z), Err(EINVAL));
    expect_eq!(o, "*ctxp after", z, 0);
    expect_eq!(o, "nr unchanged", nr_now(b)?, base);
    Ok(())
}

fn setup_ctxp_bad_efault(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let base = nr_now(b)?;
    expect_eq!(o, "io_setup(1, NULL)", b.setup(1, std::ptr::null_mut()), Err(EFAULT));
    expect_eq!(o, "io_setup(1, unmapped)", b.setup(1, unmapped_addr() as *mut u64), Err(EFAULT));
    expect_eq!(o, "io_setup(1, kernel address)", b.setup(1, KERNEL_ADDR as *mut u64), Err(EFAULT));
    // The ctxp read comes first: EFAULT even with nr_events = 0.
    expect_eq!(o, "io_setup(0, NULL)", b.setup(0, std::ptr::null_mut()), Err(EFAULT));
    expect_eq!(o, "nr unchanged", nr_now(b)?, base);
    Ok(())
}

fn setup_ctxp_nonzero_einval(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let base = nr_now(b)?;
    for v in [5u64, 1, u64::MAX, 0x1000] {
        let mut x = v;
        expect_eq!(o, format!("io_setup(1, &{v:#x})"), b.setup(1, &mut x), Err(EINVAL));
        expect_eq!(o, format!("*ctxp still {v:#x}"), x, v);
    }
    expect_eq!(o, "nr unchanged", nr_now(b)?, base);
    Ok(())
}

fn setup_nr_too_large_einval(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let base = nr_now(b)?;
    // Adjusted count 2 * max(n, 4C) (mod 2^32) above 8,388,608: EINVAL, before the limit check.
    for n in [0x400001u32, 0x7FFF_FFFF, 0xFFFF_FFFF, 0x8040_0001, 0x500000] {
        let mut z = 0u64;
        expect_eq!(o, format!("io_setup({n:#x})"), b.setup(n, &mut z), Err(EINVAL));
        expect_eq!(o, "*ctxp", z, 0);
    }
    expect_eq!(o, "nr unchanged", nr_now(b)?, base);
    Ok(())
}

fn setup_nr_over_max_eagain(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let max = read_u64(b.max_nr_path())?;
    let base = nr_now(b)?;
    // 0x80000000 wraps to an adjusted count of 0: EAGAIN whatever the limit.
    let mut z = 0u64;
    expect_eq!(o, "io_setup(0x80000000)", b.setup(0x8000_0000, &mut z), Err(EAGAIN));
    // Above the limit (only values that are above it with the current max_nr).
    for n in [65537u32, 0x400000, 0x8000_0001, 100_000] {
        if (n as u64) <= max {
            o.rec(format!("io_setup({n:#x}) not tried"), ());
            continue;
        }
        let mut z = 0u64;
        expect_eq!(o, format!("io_setup({n:#x}) above max_nr"), b.setup(n, &mut z), Err(EAGAIN));
        expect_eq!(o, "*ctxp", z, 0);
    }
    expect_eq!(o, "nr unchanged", nr_now(b)?, base);
    Ok(())
}

fn setup_ring_header_values(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let base = nr_now(b)?;
    let mut z = 0u64;
    expect_eq!(o, "io_setup(1)", b.setup(1, &mut z), Ok(0));
    let ctx = Ctx::adopt(b, z);
    check!(z != 0, "handle is 0");
    expect_eq!(o, "handle page aligned", z % 4096, 0);
    let (_, ring_nr) = ring_geometry(1);
    let h = ctx.hdr();
    let want = AioRing {
        id: 0,
        nr: ring_nr,
        head: 0,
        tail: 0,
        magic: AIO_RING_MAGIC,
        compat_features: 1,
        incompat_features: 0,
        header_length: 32,
    };
    expect_eq!(o, "ring header", h, want);
    for i in 0..ring_nr {
        let ev = ring_event(z, i);
        if ev != IoEvent::default() {
            return Err(format!("event slot {i} not zero-filled: {ev:?}"));
        }
    }
    expect_eq!(o, "nr rose by 1", nr_now(b)?, base + 1);
    expect_eq!(o, "io_destroy", ctx.destroy(), Ok(0));
    Ok(())
}

fn setup_ring_geometry(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let max = read_u64(b.max_nr_path())?;
    let c = possible_cpus();
    for n in [1u32, 8, 9, 4 * c, 4 * c + 1, 63, 64, 128, 1000, 4096, 65536] {
        let base = nr_now(b)?;
        if base + n as u64 > max {
            o.rec(format!("n={n} not tried"), ());
            continue;
        }
        let ctx = Ctx::new(b, n)?;
        let (pages, ring_nr) = ring_geometry(n);
        let h = ctx.hdr();
        expect_eq!(o, format!("n={n}: ring->nr"), h.nr, ring_nr);
        expect_eq!(o, format!("n={n}: head, tail"), (h.head, h.tail), (0, 0));
        let m = mapping_at(ctx.id);
        let got = m.map(|(a, e, p)| (a == ctx.id, e - a, p));
        expect_eq!(o, format!("n={n}: mapping (starts at handle, size, perms)"), got, Some((true, pages * 4096, "rw-s".to_string())));
        expect_eq!(o, format!("n={n}: nr charged"), nr_now(b)?, base + n as u64);
        expect_eq!(o, format!("n={n}: io_destroy"), ctx.destroy(), Ok(0));
        expect_eq!(o, format!("n={n}: nr uncharged"), nr_now(b)?, base);
        check!(mapping_at(ctx.id).is_none_or(|(a, _, p)| a != ctx.id || p != "rw-s"), "n={n}: ring still mapped after io_destroy");
    }
    Ok(())
}

fn shared_maps() -> Vec<String> {
    maps_lines().into_iter().filter(|l| l.split_whitespace().nth(1) == Some("rw-s")).collect()
}

fn setup_ctxp_readonly_efault_no_leak(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let base = nr_now(b)?;
    let page = Map::new(4096)?;
    page.protect(libc::PROT_READ)?;
    let before = shared_maps();
    expect_eq!(o, "io_setup(1, read-only &0)", b.setup(1, page.ptr(0)), Err(EFAULT));
    let after = shared_maps();
    expect_eq!(o, "no ring mapping left behind", after.len(), before.len());
    check!(after == before, "shared mappings changed: before {before:?}, after {after:?}");
    expect_eq!(o, "nr unchanged", nr_now(b)?, base);
    // Nothing was left in the table either: the next context gets id 0.
    let ctx = Ctx::new(b, 1)?;
    expect_eq!(o, "next ring->id", ctx.hdr().id, 0);
    Ok(())
}

fn setup_nr_accounting(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let base = nr_now(b)?;
    let a = Ctx::new(b, 37)?;
    expect_eq!(o, "after setup(37)", nr_now(b)? - base, 37);
    let c = Ctx::new(b, 100)?;
    expect_eq!(o, "after setup(100)", nr_now(b)? - base, 137);
    expect_eq!(o, "destroy first", a.destroy(), Ok(0));
    expect_eq!(o, "after destroy(37)", nr_now(b)? - base, 100);
    expect_eq!(o, "destroy second", c.destroy(), Ok(0));
    expect_eq!(o, "after destroy(100)", nr_now(b)?, base);
    Ok(())
}

fn setup_table_ids_lowest_free(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let mut ctxs = Vec::new();
    for i in 0..21u32 {
        let c = Ctx::new(b, 1)?;
        expect_eq!(o, format!("ctx {i}: ring->id"), c.hdr().id, i);
        ctxs.push(Some(c));
    }
    let c4 = ctxs[4].take().unwrap();
    expect_eq!(o, "destroy id 4", c4.destroy(), Ok(0));
    drop(c4);
    let n = Ctx::new(b, 1)?;
    expect_eq!(o, "new ctx reuses id", n.hdr().id, 4);
    let m = Ctx::new(b, 1)?;
    expect_eq!(o, "next new ctx", m.hdr().id, 21);
    // Every handle is distinct.
    let mut ids: Vec<u64> = ctxs.iter().flatten().map(|c| c.id).chain([n.id, m.id]).collect();
    ids.sort();
    ids.dedup();
    expect_eq!(o, "distinct handles", ids.len(), 22);
    Ok(())
}

fn setup_many_contexts_independent(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let fx = Fx::new()?;
    let ctxs: Vec<Ctx> = (0..32).map(|_| Ctx::new(b, 4)).collect::<Result<_, _>>()?;
    let mut cbs: Vec<Iocb> = (0..32).map(|i| fx.ready(b, 1000 + i)).collect();
    for (i, c) in ctxs.iter().enumerate() {
        expect_eq!(o, format!("submit on ctx {i}"), c.submit1(&mut cbs[i]), Ok(1));
    }
    for (i, c) in ctxs.iter().enumerate() {
        let ev = c.wait_events(1, PROMPT)?;
        check_event(&format!("ctx {i}"), &ev[0], 1000 + i as u64, &cbs[i], ready_res(b))?;
        c.no_events(ms(0))?;
    }
    for (i, c) in ctxs.iter().enumerate() {
        expect_eq!(o, format!("destroy ctx {i}"), c.destroy(), Ok(0));
    }
    Ok(())
}

fn setup_ring_not_executable(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    let ctx = Ctx::new(b, 1)?;
    // SAFETY: mprotect of our own ring; the kernel refuses PROT_EXEC (T15).
    let r = unsafe { libc::mprotect(ctx.id as *mut libc::c_void, 4096, libc::PROT_READ | libc::PROT_EXEC) };
    expect_eq!(o, "mprotect(ring, PROT_READ | PROT_EXEC)", if r < 0 { Err(Errno(kaio::raw::errno())) } else { Ok(r as i64) }, Err(EACCES));
    expect_eq!(o, "still the ring", ctx.hdr().magic, AIO_RING_MAGIC);
    // Read-only is allowed (the kernel writes through its own references).
    // SAFETY: as above.
    let r = unsafe { libc::mprotect(ctx.id as *mut libc::c_void, 4096, libc::PROT_READ) };
    expect_eq!(o, "mprotect(ring, PROT_READ)", r, 0);
    expect_eq!(o, "destroy", ctx.destroy(), Ok(0));
    Ok(())
}

// ---- kaio only: the argument blocks

/// Every bit but `KAIO_SETUP_POLLED_RW` (version 2) is `EINVAL`, alone or with it.
fn setup_flags_unknown_einval() -> CaseResult {
    let k = Kaio::open()?;
    let base = read_u64(KAIO_PARAM_NR)?;
    for flags in [2u32, 3, 0x8000_0000, 0x8000_0001, u32::MAX] {
        let mut z = 0u64;
        let a = kaio_setup_args { nr_events: 1, flags, ctxp: &mut z as *mut u64 as u64 };
        // SAFETY: the block and the ctxp it names are valid.
        let r = unsafe { kaio::raw::ioctl(k.fd, KAIO_IOC_SETUP, &a) }.map_err(Errno);
        check!(r == Err(EINVAL), "setup with flags {flags:#x}: expected Err(EINVAL), got {r:?}");
        check!(z == 0, "setup with flags {flags:#x} wrote {z:#x} to *ctxp");
    }
    let now = read_u64(KAIO_PARAM_NR)?;
    check!(now == base, "nr changed from {base} to {now}");
    Ok(())
}

fn setup_arg_block_unreadable_efault() -> CaseResult {
    let k = Kaio::open()?;
    let bad = [0u64, unmapped_addr(), KERNEL_ADDR];
    for cmd in [KAIO_IOC_SETUP, KAIO_IOC_DESTROY, KAIO_IOC_SUBMIT, KAIO_IOC_GETEVENTS, KAIO_IOC_CANCEL] {
        for &p in &bad {
            // SAFETY: the pointer is deliberately bad; the module must fail the copy.
            let r = unsafe { kaio::raw::ioctl(k.fd, cmd, p as *const u8) }.map_err(Errno);
            check!(r == Err(EFAULT), "ioctl {cmd:#x} with argument block {p:#x}: expected Err(EFAULT), got {r:?}");
        }
    }
    // A block that straddles the end of a mapping: the first bytes readable, the rest not.
    let m = Map::new(8192)?;
    munmap(m.addr + 4096, 4096)?;
    let tail = m.addr + 4096 - 8;
    // SAFETY: 8 readable bytes; the copy of the larger block must fail.
    let r = unsafe { kaio::raw::ioctl(k.fd, KAIO_IOC_SETUP, tail as *const u8) }.map_err(Errno);
    check!(r == Err(EFAULT), "setup with a half-readable block: expected Err(EFAULT), got {r:?}");
    std::mem::forget(m); // its second page is already unmapped
    munmap(tail - 4088, 4096)?;
    Ok(())
}

fn setup_domains_have_separate_tables() -> CaseResult {
    let a = Kaio::open()?;
    let bk = Kaio::open()?;
    let fx = Fx::new()?;
    let ca = Ctx::new(&a, 4)?;
    let cb_ = Ctx::new(&bk, 4)?;
    check!(ca.hdr().id == 0 && cb_.hdr().id == 0, "ring ids: domain A {}, domain B {} (each table starts at 0)", ca.hdr().id, cb_.hdr().id);
    // A's handle through B: unknown context.
    let mut cb = fx.pending(&a, 1);
    let p: [*mut Iocb; 1] = [&mut cb];
    let r = bk.submit(ca.id, 1, p.as_ptr());
    check!(r == Err(EINVAL), "submit of A's ctx through B: expected Err(EINVAL), got {r:?}");
    let mut ev = [IoEvent::default(); 4];
    let z = ts(0, 0);
    let r = bk.getevents(ca.id, 0, 4, ev.as_mut_ptr(), &z);
    check!(r == Err(EINVAL), "getevents of A's ctx through B: expected Err(EINVAL), got {r:?}");
    check!(ca.submit1(&mut cb) == Ok(1), "submit through A failed");
    let r = bk.cancel(ca.id, &mut cb, std::ptr::null_mut());
    check!(r == Err(EINVAL), "cancel of A's request through B: expected Err(EINVAL), got {r:?}");
    let r = bk.destroy(ca.id);
    check!(r == Err(EINVAL), "destroy of A's ctx through B: expected Err(EINVAL), got {r:?}");
    // A is untouched.
    check!(ca.cancel(&mut cb) == Err(EINPROGRESS), "cancel through A");
    let ev = ca.wait_events(1, PROMPT)?;
    check_event("cancelled in A", &ev[0], 1, &cb, RES_ECANCELED)?;
    check!(ca.destroy() == Ok(0), "destroy through A");
    check!(cb_.destroy() == Ok(0), "destroy through B");
    Ok(())
}
