//! kaio-api-check: the safe API of the `kaio` crate (Domain, Context, Ring) against the real
//! module, in the guest. Prints KTAP, one result per check; exits 4 (skip) when `/dev/kaio` is
//! absent, 1 when a check failed.

use kaio::uapi::{IoEvent, Iocb};
use kaio::{raw, Domain};
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

fn main() {
    let checks: [(&str, Check); 5] = [
        ("submit_cancel_get_events", submit_cancel_get_events),
        ("submit_refuses_buffers", submit_refuses_buffers),
        ("ring_user_space_reaping", ring_user_space_reaping),
        ("get_events_times_out", get_events_times_out),
        ("context_lifetime", context_lifetime),
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
