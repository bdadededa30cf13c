//! Bugs fs/aio.c had around the ring's mapping (its address space side), as cases run on
//! native AIO and on kaio and compared: mremap against io_destroy, io_setup against the range
//! its ring is going to, a scribbled ring torn down with RESFD requests in flight, the ring's
//! mmap refused for a user-space reason, a faulting `ctxp` against io_destroy, the ring's pages
//! migrated under a busy ring. Each runs in a forked child, whose exit must then give every
//! charge back (`nr` as before).

use super::ring::in_child_nr_restored;
use crate::aio::*;
use crate::check;
use crate::expect_eq;
use crate::ktap::{Case, CaseResult};
use crate::util::*;
use kaio::uapi::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub fn cases() -> Vec<Case> {
    vec![
        Case::both("history_ring_mremap_vs_destroy", history_ring_mremap_vs_destroy),
        Case::both("history_setup_vs_ring_range_remapped", history_setup_vs_ring_range_remapped),
        Case::both("history_scribbled_ring_resfd_then_destroy", history_scribbled_ring_resfd_then_destroy),
        Case::both("history_scribbled_ring_resfd_then_exit", history_scribbled_ring_resfd_then_exit),
        Case::both("history_ring_mmap_over_rlimit_as", history_ring_mmap_over_rlimit_as),
        Case::both("history_ring_mmap_over_max_map_count", history_ring_mmap_over_max_map_count),
        Case::both("history_setup_faulting_ctxp_vs_destroy", history_setup_faulting_ctxp_vs_destroy),
        Case::both("history_ring_pages_moved_under_busy_ring", history_ring_pages_moved_under_busy_ring),
    ]
}

/// `mremap(from, len, len, MAYMOVE | FIXED, to)`: the new address, or the errno.
fn mremap_to(from: u64, len: usize, to: u64) -> Result<u64, Errno> {
    // SAFETY: moves a range of this process's own address space (rings and reserved ranges the
    // case made); nothing in Rust's view points into them.
    let p = unsafe { libc::mremap(from as *mut libc::c_void, len, len, libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED, to as *mut libc::c_void) };
    if p == libc::MAP_FAILED {
        Err(Errno(kaio::raw::errno()))
    } else {
        Ok(p as u64)
    }
}

/// The bytes of a ring for `nr` events.
fn ring_len(nr: u32) -> usize {
    (ring_geometry(nr).0 * 4096) as usize
}

/// Burns a little time, so that two racing threads meet at varying offsets.
fn spin(n: u64) {
    for _ in 0..n {
        std::hint::spin_loop();
    }
}

/// The destroy side of "aio: fix mremap after fork null-deref" (2022), whose hook
/// (`aio_ring_mremap`) must not re-home a dying context: a ring with a request in flight is
/// moved by one thread while another destroys it by its old address. Round after round the
/// context is destroyed exactly once: by the old address if the destroy came first (the move
/// then fails, EINVAL from the hook or EFAULT once the ring is unmapped) or during the move, by
/// the new one otherwise. Afterwards neither address is a handle, no ring stays mapped, and
/// `nr` is back.
fn history_ring_mremap_vs_destroy(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    const ROUNDS: u64 = 64;
    in_child_nr_restored(b, o, |base| {
        let fx = Fx::new()?;
        let len = ring_len(8);
        let (mut moves_won, mut destroys_won, mut both) = (0, 0, 0);
        for round in 0..ROUNDS {
            let mut id = 0u64;
            check!(b.setup(8, &mut id) == Ok(0), "round {round}: io_setup");
            let mut pend = fx.pending(b, round);
            let p = [&mut pend as *mut Iocb];
            check!(b.submit(id, 1, p.as_ptr()) == Ok(1), "round {round}: io_submit");
            let target = reserve(len)?;
            let ready = AtomicBool::new(false);
            let go = AtomicBool::new(false);
            // Sweep the meeting point: half the rounds the mover waits, half the destroyer.
            let lead = (round / 2 % 32) * 400;
            let (moved, destroyed) = std::thread::scope(|s| {
                let mover = s.spawn(|| {
                    ready.store(true, SeqCst);
                    while !go.load(SeqCst) {
                        std::hint::spin_loop();
                    }
                    if round % 2 == 0 {
                        spin(lead);
                    }
                    mremap_to(id, len, target)
                });
                while !ready.load(SeqCst) {
                    std::hint::spin_loop();
                }
                go.store(true, SeqCst);
                if round % 2 == 1 {
                    spin(lead);
                }
                let d = b.destroy(id);
                (mover.join().expect("mover thread"), d)
            });
            let by_new = b.destroy(target);
            match (&moved, &destroyed) {
                (Ok(_), Err(e)) if *e == EINVAL => {
                    check!(by_new == Ok(0), "round {round}: the ring moved: io_destroy by the new address = {by_new:?}");
                    moves_won += 1;
                }
                (Err(m), Ok(0)) if *m == EINVAL || *m == EFAULT => {
                    check!(by_new == Err(EINVAL), "round {round}: destroyed first: io_destroy by the new address = {by_new:?}");
                    destroys_won += 1;
                }
                // The move came between io_destroy's lookup and its kill (Linux does not look
                // again either): the destroy still ends the context, and unmaps the ring where
                // it now is.
                (Ok(_), Ok(0)) => {
                    check!(by_new == Err(EINVAL), "round {round}: moved during the destroy: io_destroy by the new address = {by_new:?}");
                    both += 1;
                }
                _ => return Err(format!("round {round}: mremap = {moved:?}, io_destroy by the old address = {destroyed:?} (exactly one must win)")),
            }
            let mut c = fx.ready(b, round);
            let p = [&mut c as *mut Iocb];
            for (what, at) in [("old", id), ("new", target)] {
                let again = (b.destroy(at), b.submit(at, 1, p.as_ptr()));
                check!(again == (Err(EINVAL), Err(EINVAL)), "round {round}: the {what} address is still a handle: io_destroy, io_submit = {again:?}");
            }
            let rings = ring_mappings();
            check!(rings.is_empty(), "round {round}: a ring stays mapped: {rings:?}");
            let nr = read_u64(b.nr_path())?;
            check!(nr == base, "round {round}: nr {nr}, want {base}");
            // The reserved range, if the ring did not take it over (and unmap it).
            let _ = munmap(target, len);
        }
        eprintln!("# {}: in {ROUNDS} rounds the move won {moves_won}, the destroy {destroys_won}; {both} moves came during the destroy", b.name());
        Ok(())
    })
}

/// io_setup racing munmap, mmap(MAP_FIXED) and mremap of the range its ring is being mapped
/// into (the range the last ring had: mmap hands out the same free range again). Every setup
/// returns a handle or a clean ENOMEM; afterwards every context is destroyed by its handle, or
/// is unreachable because its ring was taken away (and is then still charged, as in Linux),
/// and no ring mapping is left that no context owns. The child's exit gives every charge back.
fn history_setup_vs_ring_range_remapped(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    const ROUNDS: u64 = 120;
    in_child_nr_restored(b, o, |base| {
        let fx = Fx::new()?;
        let len = ring_len(8);
        let first = Ctx::new(b, 8)?;
        let hint = AtomicU64::new(first.id);
        check!(first.destroy() == Ok(0), "io_destroy of the first context");
        let scratch = reserve(len)?;
        let stop = AtomicBool::new(false);
        let racer_ops = AtomicU64::new(0);
        let mut problems = Vec::new();
        let mut unsettled = Vec::new();
        let (mut destroyed, mut enomem) = (0u64, 0u64);
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut i = 0u64;
                while !stop.load(SeqCst) {
                    let at = hint.load(SeqCst);
                    match i % 4 {
                        1 => {
                            // SAFETY: replaces whatever is at `at` (a ring or a hole) with
                            // anonymous memory; nothing in Rust's view points there.
                            unsafe {
                                libc::mmap(at as *mut libc::c_void, len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED, -1, 0)
                            };
                        }
                        2 => {
                            if mremap_to(at, len, scratch).is_ok() {
                                let _ = mremap_to(scratch, len, at);
                            }
                        }
                        _ => {
                            let _ = munmap(at, len);
                        }
                    }
                    i += 1;
                    racer_ops.fetch_add(1, SeqCst);
                    spin(i % 7 * 150);
                }
            });
            for round in 0..ROUNDS {
                let mut id = 0u64;
                match b.setup(8, &mut id) {
                    Ok(0) => {
                        hint.store(id, SeqCst);
                        let mut cb = fx.ready(b, round);
                        let p = [&mut cb as *mut Iocb];
                        // The racer may have taken the ring already: then EINVAL.
                        let _ = b.submit(id, 1, p.as_ptr());
                        match b.destroy(id) {
                            Ok(0) => destroyed += 1,
                            _ => unsettled.push(id),
                        }
                    }
                    Err(e) if e == ENOMEM => enomem += 1,
                    r => problems.push(format!("round {round}: io_setup = {r:?}")),
                }
            }
            stop.store(true, SeqCst);
        });
        // A context whose ring the racer was moving a moment ago is reachable again.
        let mut unreachable = 0u64;
        for id in unsettled {
            match b.destroy(id) {
                Ok(0) => destroyed += 1,
                Err(e) if e == EINVAL => unreachable += 1,
                r => problems.push(format!("io_destroy({id:#x}) = {r:?}")),
            }
        }
        // A ring found mapped must be its context's handle (a ring moved and not moved back).
        for line in ring_mappings() {
            let start = u64::from_str_radix(line.split('-').next().unwrap_or(""), 16).unwrap_or(0);
            match b.destroy(start) {
                Ok(0) if unreachable > 0 => unreachable -= 1,
                r => problems.push(format!("a ring mapping no context owns ({line}): io_destroy there = {r:?}")),
            }
        }
        check!(problems.is_empty(), "{}", problems.join("; "));
        let nr = read_u64(b.nr_path())?;
        check!(nr == base + 8 * unreachable, "nr {nr}, want {} ({unreachable} unreachable contexts)", base + 8 * unreachable);
        eprintln!(
            "# {}: {destroyed} destroyed, {unreachable} unreachable, {enomem} ENOMEM, {} racer operations",
            b.name(),
            racer_ops.load(SeqCst)
        );
        let _ = munmap(scratch, len);
        Ok(())
    })
}

/// "aio: Fix a trinity splat" (2013) and the RESFD teardown: requests that signal an eventfd
/// are in flight (192 that only a teardown ends, so many that their completions outlast a
/// destroy that forgot to wait; 32 completing within 35 ms) while the ring's `head` and `tail`
/// are scribbled over and events are reaped from the garbage. Then the context is destroyed:
/// when io_destroy returns every eventfd count has arrived, and none comes later.
fn history_scribbled_ring_resfd_then_destroy(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    scribbled_ring_resfd(b, o, false)
}

/// As [`history_scribbled_ring_resfd_then_destroy`], ended by the process's exit instead: when
/// the exited child has been reaped, every eventfd count has arrived, and none comes later.
fn history_scribbled_ring_resfd_then_exit(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    scribbled_ring_resfd(b, o, true)
}

fn scribbled_ring_resfd(b: &dyn Aio, o: &mut Obs, by_exit: bool) -> CaseResult {
    const PENDING: u64 = 192;
    const LATER: u64 = 32;
    let efd = EventFd::new()?;
    let base = read_u64(b.nr_path())?;
    o.rec("run in a child", ());
    in_child(PROMPT, || {
        let fx = Fx::new()?;
        let ctx = Ctx::new(b, 256)?;
        let mut cbs: Vec<Iocb> = (0..PENDING)
            .map(|d| fx.pending(b, d).with_resfd(efd.0))
            .chain((0..LATER).map(|d| fx.later(b, 1000 + d, ms(2 + d)).with_resfd(efd.0)))
            .collect();
        ctx.submit_all(&mut cbs)?;
        let fire = fx.fire(b, ms(15));
        let t0 = Instant::now();
        let mut x = 0x9e37_79b9u32;
        while t0.elapsed() < ms(40) {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            ring_set_head(ctx.id, x);
            ring_set_tail(ctx.id, x.rotate_left(13));
            // Whatever the garbage yields; only the teardown's counts are checked.
            let _ = ctx.getev(0, 4, Some(ts(0, 0)));
            std::thread::sleep(ms(1));
        }
        if let Some(h) = fire {
            let _ = h.join();
        }
        if by_exit {
            // Exit with everything in flight: nothing of the child is dropped.
            std::mem::forget(ctx);
            std::mem::forget(fx);
            return Ok(());
        }
        check!(ctx.destroy() == Ok(0), "io_destroy");
        let at_return = efd.take();
        std::thread::sleep(ms(50));
        let late = efd.take();
        check!(
            (at_return, late) == (PENDING + LATER, 0),
            "eventfd counts when io_destroy returned / later: {at_return} / {late}, want {} / 0",
            PENDING + LATER
        );
        std::mem::forget(fx);
        Ok(())
    })?;
    if by_exit {
        let at_exit = efd.take();
        std::thread::sleep(ms(50));
        let late = efd.take();
        expect_eq!(o, "eventfd counts when the child was reaped / later", (at_exit, late), (PENDING + LATER, 0));
    }
    expect_eq!(o, "nr after the child exited", read_u64(b.nr_path())?, base);
    Ok(())
}

/// The address space's size in bytes (`VmSize`).
fn vm_size() -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| format!("/proc/self/status: {e}"))?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .ok_or("no VmSize in /proc/self/status")?;
    Ok(kb * 1024)
}

fn set_rlimit_as(cur: u64) -> Result<(), String> {
    let lim = libc::rlimit { rlim_cur: cur, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: plain system call on a local struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) } < 0 {
        return Err(format!("setrlimit(RLIMIT_AS, {cur}): errno {}", kaio::raw::errno()));
    }
    Ok(())
}

/// After a refused setup: the charge is back, no ring is mapped, and a setup works again.
fn refused_then_works(b: &dyn Aio, what: &str, r: Ret, id: u64, base: u64, nr: u32) -> Result<(), String> {
    check!(r == Err(ENOMEM) && id == 0, "io_setup({nr}) {what}: {r:?}, ctx {id:#x} (want ENOMEM)");
    let now = read_u64(b.nr_path())?;
    check!(now == base, "nr after the refused setup: {now}, want {base}");
    let rings = ring_mappings();
    check!(rings.is_empty(), "a ring is mapped after the refused setup: {rings:?}");
    let fx = Fx::new()?;
    let ctx = Ctx::new(b, nr)?;
    let mut cb = fx.ready(b, 1);
    check!(ctx.submit1(&mut cb) == Ok(1), "io_submit after the limit was lifted");
    ctx.wait_events(1, PROMPT)?;
    check!(ctx.destroy() == Ok(0), "io_destroy after the limit was lifted");
    Ok(())
}

/// CVE-2013-7348 ("aio: fix kioctx leak in io_setup error path") and CVE-2006-5754 (the ring's
/// mapping failing): the ring's mmap is refused by RLIMIT_AS set just above the address space's
/// size. io_setup is ENOMEM, `nr` is unchanged, nothing is mapped, and once the limit is lifted
/// a setup works.
fn history_ring_mmap_over_rlimit_as(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    const NR: u32 = 4096;
    in_child_nr_restored(b, o, |base| {
        let margin = 16 * 4096;
        check!(ring_len(NR) > 2 * margin, "the ring ({} bytes) must not fit in the margin", ring_len(NR));
        let mut limit = vm_size()? + margin as u64;
        set_rlimit_as(limit)?;
        // Reading VmSize frees what it allocated, and malloc may then give its heap's top
        // back: the address space shrinks, and the limit must follow it down (else the ring
        // fits in what was given back).
        for _ in 0..4 {
            let now = vm_size()? + margin as u64;
            if now >= limit {
                break;
            }
            limit = now;
            set_rlimit_as(limit)?;
        }
        let mut id = 0u64;
        // Nothing between the last setrlimit and the setup allocates.
        let r = b.setup(NR, &mut id);
        set_rlimit_as(libc::RLIM_INFINITY)?;
        refused_then_works(b, "over RLIMIT_AS", r, id, base, NR)
    })
}

/// As [`history_ring_mmap_over_rlimit_as`], with the address space's map count exhausted
/// (`vm.max_map_count` lowered to just above the child's count, which one-page shared mappings
/// then fill).
fn history_ring_mmap_over_max_map_count(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    const PATH: &str = "/proc/sys/vm/max_map_count";
    // Whatever happens in the child, the parent puts the sysctl back.
    let old = read_u64(PATH)?;
    let _restore = set_param(PATH, old)?;
    in_child_nr_restored(b, o, |base| {
        let mut fillers: Vec<u64> = Vec::with_capacity(256);
        let low = maps_lines().len() as u64 + 32;
        write_str(PATH, &low.to_string()).map_err(|e| format!("write {PATH}: {e}"))?;
        // From here until the sysctl is back nothing allocates (the vector has its room).
        let mut refused = 0;
        while fillers.len() < fillers.capacity() {
            // SAFETY: a fresh one-page shared anonymous mapping (never merged with another).
            let p = unsafe { libc::mmap(std::ptr::null_mut(), 4096, libc::PROT_READ, libc::MAP_SHARED | libc::MAP_ANONYMOUS, -1, 0) };
            if p == libc::MAP_FAILED {
                refused = kaio::raw::errno();
                break;
            }
            fillers.push(p as u64);
        }
        let mut id = 0u64;
        let r = b.setup(8, &mut id);
        write_str(PATH, &old.to_string()).map_err(|e| format!("write {PATH}: {e}"))?;
        check!(refused == libc::ENOMEM, "filling the map count: {} mappings, then errno {refused}", fillers.len());
        for &f in &fillers {
            munmap(f, 4096)?;
        }
        refused_then_works(b, "over vm.max_map_count", r, id, base, 8)
    })
}

/// The EFAULT path of io_setup (`ctxp` on a read-only page holding 0: the context is
/// published, then torn down) racing io_destroy of the address its ring gets: every setup is
/// EFAULT whoever tears the context down, nothing stays charged or mapped, and a setup works
/// afterwards.
fn history_setup_faulting_ctxp_vs_destroy(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    const ROUNDS: u64 = 120;
    in_child_nr_restored(b, o, |base| {
        let ro = Map::new(4096)?;
        ro.protect(libc::PROT_READ)?;
        let first = Ctx::new(b, 8)?;
        let at = first.id;
        check!(first.destroy() == Ok(0), "io_destroy of the first context");
        let stop = AtomicBool::new(false);
        let wins = AtomicU64::new(0);
        let results = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            s.spawn(|| {
                while !stop.load(SeqCst) {
                    if b.destroy(at) == Ok(0) {
                        wins.fetch_add(1, SeqCst);
                    }
                }
            });
            for round in 0..ROUNDS {
                let r = b.setup(8, ro.ptr(0));
                if r != Err(EFAULT) {
                    results.lock().unwrap().push(format!("round {round}: {r:?}"));
                }
            }
            stop.store(true, SeqCst);
        });
        let bad = results.into_inner().unwrap();
        check!(bad.is_empty(), "io_setup with a read-only ctxp, not EFAULT: {}", bad.join("; "));
        let nr = read_u64(b.nr_path())?;
        check!(nr == base, "nr {nr}, want {base}");
        let rings = ring_mappings();
        check!(rings.is_empty(), "rings left mapped: {rings:?}");
        let ctx = Ctx::new(b, 8)?;
        check!(ctx.destroy() == Ok(0), "io_destroy after the race");
        eprintln!("# {}: the racing io_destroy won {} of {ROUNDS} setups", b.name(), wins.load(SeqCst));
        Ok(())
    })
}

/// Status of a page that move_pages(2) did not reach: the call gave up on its batch and returned
/// how many pages it did not migrate.
const NOT_REACHED: i32 = i32::MIN;

/// `move_pages(2)` on this process: moves each page of `pages` to its node in `nodes` (or, with
/// `None`, queries where each is). The per-page status: a node, a negative errno, or
/// `NOT_REACHED`.
fn move_pages(pages: &[u64], nodes: Option<&[i32]>) -> Result<Vec<i32>, Errno> {
    let mut status = vec![NOT_REACHED; pages.len()];
    const MPOL_MF_MOVE: libc::c_long = 1 << 1;
    // SAFETY: the arrays hold `pages.len()` entries each and outlive the call; the kernel only
    // reads `pages` and `nodes` and writes `status`.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_pages,
            0 as libc::c_long,
            pages.len() as libc::c_ulong,
            pages.as_ptr(),
            nodes.map_or(std::ptr::null(), |n| n.as_ptr()),
            status.as_mut_ptr(),
            if nodes.is_some() { MPOL_MF_MOVE } else { 0 },
        )
    };
    if r < 0 {
        Err(Errno(kaio::raw::errno()))
    } else {
        Ok(status)
    }
}

/// One round of the mover: where each page is, then each page that is on a node sent to the
/// other one. Tallies per outcome: "moved", "unmoved ERRNO", "not present ERRNO", "not reached",
/// "move_pages ERRNO".
fn move_ring_pages_once(pages: &[u64], tally: &mut std::collections::BTreeMap<String, u64>) {
    let mut count = |k: String| *tally.entry(k).or_insert(0) += 1;
    let before = match move_pages(pages, None) {
        Ok(v) => v,
        Err(e) => return count(format!("move_pages query {}", errno_name(e.0))),
    };
    let mut targets = Vec::new();
    let mut moving = Vec::new();
    for (page, at) in pages.iter().zip(&before) {
        match *at {
            0 | 1 => {
                moving.push(*page);
                targets.push(1 - *at);
            }
            e if e < 0 && e != NOT_REACHED => count(format!("not present {}", errno_name(-e))),
            e => count(format!("query status {e}")),
        }
    }
    match move_pages(&moving, Some(&targets)) {
        Ok(after) => {
            for (to, st) in targets.iter().zip(after) {
                match st {
                    NOT_REACHED => count("not reached".into()),
                    st if st == *to => count("moved".into()),
                    st if st < 0 => count(format!("unmoved {}", errno_name(-st))),
                    st => count(format!("left on node {st}")),
                }
            }
        }
        Err(e) => count(format!("move_pages {}", errno_name(e.0))),
    }
}

/// Ring pages migrated under a busy ring: "aio: fix race in ring buffer page lookup introduced
/// by page migration support" (2013) and "aio: v4 ensure access to ctx->ring_pages is correctly
/// serialised for migration" (2014). fs/aio.c's ring pages are movable: `aio_migrate_folio`
/// copies a page under `ring_lock` and `completion_lock`. For 1.5 s requests complete without
/// pause and are reaped, alternate batches from user space (through the mapping whose pages
/// move) and by io_getevents, while another thread moves every ring page between the two
/// emulated NUMA nodes (boot.sh: `numa=fake=2`) with move_pages(2), and compacts memory now and
/// then. Every event is seen exactly once with its `res`. Native's pages must really move (else the case proves
/// nothing); kaio's ring pages are the module's own kernel pages, which migration cannot move:
/// move_pages must report each of them unmoved, and the ring keeps working.
fn history_ring_pages_moved_under_busy_ring(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    const BATCH: u64 = 32;
    const NR: u32 = 1024;
    check!(
        std::path::Path::new("/sys/devices/system/node/node1").exists(),
        "one NUMA node: the guest kernel needs CONFIG_NUMA_EMU and boot.sh's numa=fake=2"
    );
    in_child_nr_restored(b, o, |_base| {
        let fx = Fx::new()?;
        let ctx = Ctx::new(b, NR)?;
        let pages: Vec<u64> = (0..ring_len(NR) as u64 / 4096).map(|i| ctx.id + i * 4096).collect();
        let stop = AtomicBool::new(false);
        let compactions = AtomicU64::new(0);
        let budget = Instant::now();
        let (mut batches, mut seen_total) = (0u64, 0u64);
        let mut seen = vec![false; 0];
        let moves = std::thread::scope(|s| -> Result<std::collections::BTreeMap<String, u64>, String> {
            let mover = s.spawn(|| {
                block_all_signals();
                let mut tally = std::collections::BTreeMap::new();
                let mut round = 0u32;
                while !stop.load(SeqCst) {
                    // Every 16th round, compaction too (it migrates movable pages, a native
                    // ring's among them, to make free blocks).
                    if round % 16 == 15 && std::fs::write("/proc/sys/vm/compact_memory", "1").is_ok() {
                        compactions.fetch_add(1, SeqCst);
                    }
                    move_ring_pages_once(&pages, &mut tally);
                    round += 1;
                }
                tally
            });
            let res = (|| -> CaseResult {
                while budget.elapsed() < Duration::from_millis(1500) {
                    let first = batches * BATCH;
                    let mut cbs: Vec<Iocb> = (first..first + BATCH).map(|d| fx.ready(b, d)).collect();
                    ctx.submit_all(&mut cbs)?;
                    seen.resize(((batches + 1) * BATCH) as usize, false);
                    let mut got = 0u64;
                    let deadline = Instant::now() + PROMPT;
                    while got < BATCH {
                        check!(Instant::now() < deadline, "batch {batches}: {got} of {BATCH} events");
                        let evs = if batches % 2 == 0 {
                            user_reap(ctx.id)
                        } else {
                            ctx.getev(1, BATCH as usize, Some(ts(0, 10_000_000))).map_err(|e| format!("io_getevents: {e:?}"))?
                        };
                        for ev in evs {
                            check!(ev.data >= first && ev.data < first + BATCH, "batch {batches}: an event of another batch (data {})", ev.data);
                            check!(!seen[ev.data as usize], "event {} seen twice", ev.data);
                            check!(ev.res == ready_res(b), "event {}: res {:#x}", ev.data, ev.res);
                            seen[ev.data as usize] = true;
                            got += 1;
                        }
                    }
                    seen_total += got;
                    batches += 1;
                }
                Ok(())
            })();
            stop.store(true, SeqCst);
            let tally = mover.join().map_err(|_| "mover thread panicked".to_string())?;
            res.map(|()| tally)
        })?;
        check!(seen_total == batches * BATCH, "{seen_total} events seen of {}", batches * BATCH);
        check!(ctx.getev(0, 8, Some(ts(0, 0))).map(|v| v.len()) == Ok(0), "events left after the last batch");
        let moved = moves.get("moved").copied().unwrap_or(0);
        let shown: Vec<String> = moves.iter().map(|(k, n)| format!("{k} {n}")).collect();
        eprintln!(
            "# {}: {seen_total} events in {batches} batches; ring page moves: {}; {} compactions",
            b.name(),
            shown.join(", "),
            compactions.load(SeqCst)
        );
        if b.is_kaio() {
            check!(moved == 0, "a kaio ring page moved ({moved} times): {}", shown.join(", "));
            check!(moves.keys().all(|k| k.starts_with("unmoved ")), "kaio: {}", shown.join(", "));
        } else {
            check!(moved > 0, "native: no ring page moved, the case proves nothing: {}", shown.join(", "));
            let now = move_pages(&pages, None).map_err(|e| format!("move_pages query: {e:?}"))?;
            check!(now.iter().all(|n| *n == 0 || *n == 1), "native ring pages after the moves: {now:?}");
        }
        Ok(())
    })
}
