//! kaio-api-check: the safe API of the `kaio` crate (Domain, Context, Ring) against the real
//! module, in the guest. Prints KTAP, one result per check; exits 4 (skip) when `/dev/kaio` is
//! absent, 1 when a check failed.

use kaio::uapi::{IoEvent, Iocb, KAIO_CMD_DELAY};
use kaio::{raw, CancelMatch, Domain};
use std::io::{self, ErrorKind};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

type Check = fn() -> Result<(), String>;

fn ensure(cond: bool, what: &str) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what.to_string())
    }
}

fn e(what: &str) -> impl FnOnce(io::Error) -> String + '_ {
    move |err| format!("{what}: {err}")
}

fn errno(r: io::Result<impl Sized>) -> Option<i32> {
    r.err().and_then(|e| e.raw_os_error())
}

/// Delays on the domain's own fd: submit, cancel one, reap all three with get_events.
fn submit_cancel_get_events() -> Result<(), String> {
    let d = Domain::open().map_err(e("open"))?;
    let ctx = d.setup(8).map_err(e("setup"))?;
    let fd = d.as_raw_fd();
    let mut a = Iocb::delay(1_000_000, fd).with_data(1);
    let mut b = Iocb::delay(2_000_000, fd).with_data(2);
    let mut c = Iocb::delay(60_000_000_000, fd).with_data(3);
    ensure(ctx.submit(&mut [&mut a, &mut b, &mut c]).map_err(e("submit"))? == 3, "submitted 3")?;
    ctx.cancel(&c).map_err(e("cancel"))?;
    ensure(errno(ctx.cancel(&c)) == Some(libc::EINVAL), "second cancel is EINVAL")?;
    let mut ev = [IoEvent::default(); 4];
    let n = ctx.get_events(3, &mut ev, Some(Duration::from_secs(10))).map_err(e("get_events"))?;
    ensure(n == 3, &format!("3 events, got {n}"))?;
    for x in &ev[..n] {
        let (iocb, res) = match x.data {
            1 => (&a, 0),
            2 => (&b, 0),
            3 => (&c, -(libc::ECANCELED as i64)),
            _ => return Err(format!("unexpected event {x:?}")),
        };
        ensure(x.obj == iocb as *const Iocb as u64 && x.res == res, &format!("event {x:?}"))?;
    }
    ensure(ctx.get_events(0, &mut ev, Some(Duration::ZERO)).map_err(e("get_events"))? == 0, "empty")
}

/// `submit` refuses a read with a buffer (that is `submit_unchecked`'s business).
fn submit_refuses_buffers() -> Result<(), String> {
    let d = Domain::open().map_err(e("open"))?;
    let ctx = d.setup(1).map_err(e("setup"))?;
    let mut buf = [0u8; 8];
    let mut r = Iocb::pread(d.as_raw_fd(), &mut buf, 0);
    let err = ctx.submit(&mut [&mut r]).err().ok_or("submit accepted a pread")?;
    ensure(err.kind() == ErrorKind::InvalidInput, &format!("error {err}"))
}

/// The ring: a compatible header, and events reaped in user space move head for the kernel.
fn ring_user_space_reaping() -> Result<(), String> {
    let d = Domain::open().map_err(e("open"))?;
    let ctx = d.setup(4).map_err(e("setup"))?;
    let ring = ctx.ring();
    let h = ring.header();
    ensure(ring.is_compatible() && h.nr == ctx.nr() && h.nr >= 4, &format!("header {h:?}"))?;
    for round in 0..2 * ctx.nr() as u64 {
        let mut i = Iocb::delay(1000, d.as_raw_fd()).with_data(round);
        ctx.submit(&mut [&mut i]).map_err(e("submit"))?;
        let start = Instant::now();
        while ring.pending() == 0 {
            ensure(start.elapsed() < Duration::from_secs(10), "no completion in 10 s")?;
            std::thread::sleep(Duration::from_micros(200));
        }
        let mut ev = [IoEvent::default(); 2];
        ensure(ring.reap(&mut ev) == 1 && ev[0].data == round && ev[0].res == 0, "reaped")?;
    }
    ensure(ring.head() == ring.tail(), "head caught up with tail")?;
    let mut ev = [IoEvent::default(); 1];
    let n = ctx.get_events(0, &mut ev, Some(Duration::from_millis(1))).map_err(e("get_events"))?;
    ensure(n == 0, "the kernel saw the new head")
}

/// A timeout with nothing in flight returns 0 after (about) that long.
fn get_events_times_out() -> Result<(), String> {
    let d = Domain::open().map_err(e("open"))?;
    let ctx = d.setup(1).map_err(e("setup"))?;
    let mut ev = [IoEvent::default(); 1];
    let start = Instant::now();
    let n = ctx.get_events(1, &mut ev, Some(Duration::from_millis(20))).map_err(e("get_events"))?;
    ensure(n == 0 && start.elapsed() >= Duration::from_millis(19), "0 events after 20 ms")
}

/// Drop and destroy() both destroy; into_raw() does not.
fn context_lifetime() -> Result<(), String> {
    let d = Domain::open().map_err(e("open"))?;
    let fd = d.as_raw_fd();
    let id = d.setup(1).map_err(e("setup"))?.id();
    ensure(raw::destroy(fd, id) == Err(libc::EINVAL), "dropped context is gone")?;
    let ctx = d.setup(1).map_err(e("setup"))?;
    let id = ctx.id();
    ctx.destroy().map_err(e("destroy"))?;
    ensure(raw::destroy(fd, id) == Err(libc::EINVAL), "destroyed context is gone")?;
    let id = d.setup(1).map_err(e("setup"))?.into_raw();
    ensure(raw::destroy(fd, id) == Ok(0), "into_raw keeps the context")
}

/// The calling thread's signal mask, as the kernel's 8-byte set.
fn thread_mask() -> u64 {
    let mut old = 0u64;
    // SAFETY: reads the calling thread's mask into an 8-byte set.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_BLOCK,
            std::ptr::null::<u64>(),
            &mut old,
            8,
        )
    };
    old
}

/// Version 2: pgetevents with and without a mask reaps like get_events and leaves the thread's
/// mask as it was; a mask of the wrong size is EINVAL.
fn pgetevents_with_a_mask() -> Result<(), String> {
    let d = Domain::open().map_err(e("open"))?;
    let ctx = d.setup(4).map_err(e("setup"))?;
    let before = thread_mask();
    let mut a = Iocb::delay(1_000_000, d.as_raw_fd()).with_data(1);
    let mut b = Iocb::delay(2_000_000, d.as_raw_fd()).with_data(2);
    ensure(ctx.submit(&mut [&mut a, &mut b]).map_err(e("submit"))? == 2, "submitted 2")?;
    let mut ev = [IoEvent::default(); 2];
    let mask = Some(raw::sigmask(&[libc::SIGUSR1, libc::SIGUSR2]));
    let ten = Some(Duration::from_secs(10));
    let n = ctx.pgetevents(1, &mut ev[..1], ten, mask).map_err(e("pgetevents with a mask"))?;
    ensure(n == 1 && ev[0].data == 1 && ev[0].res == 0, &format!("first event {:?}", ev[0]))?;
    let n = ctx.pgetevents(1, &mut ev, ten, None).map_err(e("pgetevents without a mask"))?;
    ensure(n == 1 && ev[0].data == 2 && ev[0].res == 0, &format!("second event {:?}", ev[0]))?;
    ensure(thread_mask() == before, "the thread's mask is restored")?;
    let n = ctx.pgetevents(0, &mut ev, Some(Duration::ZERO), mask).map_err(e("pgetevents"))?;
    ensure(n == 0, "nothing left")?;
    let m = raw::sigmask(&[libc::SIGUSR1]);
    let r =
        raw::pgetevents(d.as_raw_fd(), ctx.id(), 0, 1, ev.as_mut_ptr(), std::ptr::null(), &m, 4);
    ensure(r == Err(libc::EINVAL), &format!("sigsetsize 4: {r:?}"))
}

/// Version 2: cancel_match by data (all, wait), with RESULT, and its errors with nr_running.
fn cancel_match_data_all_result() -> Result<(), String> {
    let d = Domain::open().map_err(e("open"))?;
    let ctx = d.setup(8).map_err(e("setup"))?;
    let fd = d.as_raw_fd();
    let long = 60_000_000_000;
    let mut a = Iocb::delay(long, fd).with_data(7);
    let mut b = Iocb::delay(long, fd).with_data(7);
    let mut c = Iocb::delay(long, fd).with_data(8);
    ensure(ctx.submit(&mut [&mut a, &mut b, &mut c]).map_err(e("submit"))? == 3, "submitted 3")?;
    let m = CancelMatch::new().data(7).all().wait(Some(Duration::from_secs(10)));
    let done = ctx.cancel_match(&m).map_err(|x| format!("data 7, all, wait: {x}"))?;
    ensure(
        done.cancelled == 2 && done.nr_running == 0 && done.result.is_none(),
        &format!("{done:?}"),
    )?;
    // Synchronous completion: both events are in the ring already.
    let mut ev = [IoEvent::default(); 4];
    let n = ctx.get_events(0, &mut ev, Some(Duration::ZERO)).map_err(e("get_events"))?;
    ensure(n == 2, &format!("2 events at once, got {n}"))?;
    for x in &ev[..n] {
        ensure(x.data == 7 && x.res == -(libc::ECANCELED as i64), &format!("event {x:?}"))?;
    }
    let err =
        ctx.cancel_match(&CancelMatch::new().data(7)).err().ok_or("data 7 again succeeded")?;
    ensure(err.errno == libc::ENOENT && err.nr_running == 0, &format!("data 7 again: {err}"))?;
    let err = ctx.cancel_match(&CancelMatch::new().any().data(8)).err().ok_or("any + data")?;
    ensure(err.errno == libc::EINVAL, &format!("any + data: {err}"))?;
    // RESULT: the event comes back instead of going to the ring.
    let done = ctx
        .cancel_match(&CancelMatch::new().iocb(&c).op(KAIO_CMD_DELAY).result())
        .map_err(|x| format!("iocb, result: {x}"))?;
    let r = done.result.ok_or("no result event")?;
    ensure(done.cancelled == 0, &format!("{done:?}"))?;
    ensure(r.data == 8 && r.obj == &c as *const Iocb as u64, &format!("result {r:?}"))?;
    ensure(r.res == -(libc::ECANCELED as i64), &format!("result {r:?}"))?;
    let n = ctx.get_events(0, &mut ev, Some(Duration::from_millis(1))).map_err(e("get_events"))?;
    ensure(n == 0, "the ring did not get the RESULT event")?;
    let err = ctx.cancel_match(&CancelMatch::new().any()).err().ok_or("any on nothing")?;
    ensure(err.errno == libc::ENOENT, &format!("any on nothing: {err}"))
}

/// Version 2: setup_with_flags(0) is setup; an unknown flag is EINVAL.
fn setup_with_flags() -> Result<(), String> {
    let d = Domain::open().map_err(e("open"))?;
    let ctx = d.setup_with_flags(2, 0).map_err(e("setup_with_flags(0)"))?;
    ensure(ctx.ring().is_compatible(), "ring")?;
    ensure(errno(d.setup_with_flags(2, 1 << 31)) == Some(libc::EINVAL), "flag 1 << 31 is EINVAL")
}

fn main() {
    let checks: [(&str, Check); 8] = [
        ("submit_cancel_get_events", submit_cancel_get_events),
        ("submit_refuses_buffers", submit_refuses_buffers),
        ("ring_user_space_reaping", ring_user_space_reaping),
        ("get_events_times_out", get_events_times_out),
        ("context_lifetime", context_lifetime),
        ("pgetevents_with_a_mask", pgetevents_with_a_mask),
        ("cancel_match_data_all_result", cancel_match_data_all_result),
        ("setup_with_flags", setup_with_flags),
    ];
    println!("KTAP version 1");
    if !std::path::Path::new(raw::DEVICE).exists() {
        println!("1..0 # SKIP /dev/kaio is absent (kaio.ko not loaded)");
        std::process::exit(4);
    }
    println!("1..{}", checks.len());
    let mut failed = 0;
    for (i, (name, check)) in checks.iter().enumerate() {
        match check() {
            Ok(()) => println!("ok {} {name}", i + 1),
            Err(why) => {
                failed += 1;
                println!("# {name}: {why}");
                println!("not ok {} {name}", i + 1);
            }
        }
    }
    println!(
        "# Totals: pass:{} fail:{failed} xfail:0 xpass:0 skip:0 error:0",
        checks.len() - failed
    );
    std::process::exit(i32::from(failed != 0));
}
