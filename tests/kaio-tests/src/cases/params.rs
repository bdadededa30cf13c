//! The limit and the count of request slots (§2.8): kaio's module parameters `max_nr` (rw) and
//! `nr` (ro), the analogues of /proc/sys/fs/aio-max-nr and aio-nr. The comparable cases change
//! the native sysctl too (always in the guest; on a host only with --allow-sysctl).

use crate::aio::*;
use crate::ktap::{Case, CaseResult};
use crate::util::*;
use crate::{check, expect_eq};

pub fn cases() -> Vec<Case> {
    vec![
        Case::kaio("params_max_nr_default_65536", params_max_nr_default),
        Case::kaio("params_nr_read_only", params_nr_read_only),
        Case::kaio("params_nr_counts_every_domain", params_nr_counts_every_domain),
        Case::both("max_nr_enforced_inclusive", max_nr_enforced_inclusive),
        Case::both("max_nr_lowered_below_nr_keeps_contexts", max_nr_lowered_below_nr_keeps_contexts),
    ]
}

fn params_max_nr_default() -> CaseResult {
    let v = read_u64(KAIO_PARAM_MAX_NR)?;
    check!(v == 65536, "max_nr is {v}, expected the default 65536");
    let n = read_u64(KAIO_PARAM_NR)?;
    check!(n == 0, "nr is {n} with no context alive");
    Ok(())
}

fn params_nr_read_only() -> CaseResult {
    let k = Kaio::open()?;
    let ctx = Ctx::new(&k, 5)?;
    let before = read_u64(KAIO_PARAM_NR)?;
    let w = write_str(KAIO_PARAM_NR, "12345");
    check!(w.is_err(), "writing nr succeeded");
    let after = read_u64(KAIO_PARAM_NR)?;
    check!(after == before, "nr changed from {before} to {after} by a write");
    check!(ctx.destroy() == Ok(0), "destroy");
    Ok(())
}

fn params_nr_counts_every_domain() -> CaseResult {
    let native_before = read_u64("/proc/sys/fs/aio-nr").ok();
    let base = read_u64(KAIO_PARAM_NR)?;
    let a = Kaio::open()?;
    let b = Kaio::open()?;
    let ca = Ctx::new(&a, 10)?;
    let cb = Ctx::new(&b, 20)?;
    let cb2 = Ctx::new(&b, 3)?;
    let n = read_u64(KAIO_PARAM_NR)?;
    check!(n == base + 33, "nr {n}, expected {}", base + 33);
    // kaio's count is its own: native aio-nr does not move.
    let native_now = read_u64("/proc/sys/fs/aio-nr").ok();
    check!(native_now == native_before, "native aio-nr moved from {native_before:?} to {native_now:?}");
    check!(cb.destroy() == Ok(0), "destroy");
    let n = read_u64(KAIO_PARAM_NR)?;
    check!(n == base + 13, "nr {n} after destroying 20, expected {}", base + 13);
    check!(ca.destroy() == Ok(0) && cb2.destroy() == Ok(0), "destroy");
    let n = read_u64(KAIO_PARAM_NR)?;
    check!(n == base, "nr {n} after destroying all, expected {base}");
    Ok(())
}

/// The native half changes a global sysctl: only when allowed.
fn may_change_limit(b: &dyn Aio) -> CaseResult {
    if !b.is_kaio() && !mode().allow_sysctl {
        return Err("SKIP changes /proc/sys/fs/aio-max-nr (use --allow-sysctl)".into());
    }
    Ok(())
}

fn max_nr_enforced_inclusive(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    may_change_limit(b)?;
    let base = read_u64(b.nr_path())?;
    let _restore = set_param(b.max_nr_path(), base + 100)?;
    let mut z = 0u64;
    expect_eq!(o, "io_setup(101) > max", b.setup(101, &mut z), Err(EAGAIN));
    let first = Ctx::new(b, 60)?;
    o.rec("io_setup(60)", "ok");
    expect_eq!(o, "second io_setup(60)", b.setup(60, &mut z), Err(EAGAIN));
    expect_eq!(o, "io_setup(41)", b.setup(41, &mut z), Err(EAGAIN));
    expect_eq!(o, "*ctxp untouched", z, 0);
    // The limit is inclusive.
    let second = Ctx::new(b, 40)?;
    o.rec("io_setup(40) reaching the limit", "ok");
    expect_eq!(o, "nr at the limit", read_u64(b.nr_path())?, base + 100);
    expect_eq!(o, "io_setup(1) beyond", b.setup(1, &mut z), Err(EAGAIN));
    // The charge is released by io_destroy.
    expect_eq!(o, "destroy the 60", first.destroy(), Ok(0));
    let third = Ctx::new(b, 60)?;
    o.rec("io_setup(60) after destroy", "ok");
    expect_eq!(o, "destroy", third.destroy(), Ok(0));
    expect_eq!(o, "destroy", second.destroy(), Ok(0));
    expect_eq!(o, "nr back", read_u64(b.nr_path())?, base);
    Ok(())
}

fn max_nr_lowered_below_nr_keeps_contexts(b: &dyn Aio, o: &mut Obs) -> CaseResult {
    may_change_limit(b)?;
    let fx = Fx::new()?;
    let base = read_u64(b.nr_path())?;
    let ctx = Ctx::new(b, 50)?;
    let restore = set_param(b.max_nr_path(), base)?;
    expect_eq!(o, "nr unchanged by lowering the limit", read_u64(b.nr_path())?, base + 50);
    let mut z = 0u64;
    expect_eq!(o, "io_setup(1) above the lowered limit", b.setup(1, &mut z), Err(EAGAIN));
    let mut cb = fx.ready(b, 1);
    expect_eq!(o, "the existing context still works", ctx.submit1(&mut cb), Ok(1));
    ctx.wait_events(1, PROMPT)?;
    expect_eq!(o, "destroy", ctx.destroy(), Ok(0));
    expect_eq!(o, "nr back", read_u64(b.nr_path())?, base);
    drop(restore);
    let again = Ctx::new(b, 50)?;
    expect_eq!(o, "io_setup after restoring the limit", again.destroy(), Ok(0));
    Ok(())
}
