//! kaio's tracepoints (`/sys/kernel/tracing/events/kaio/`), kaio only: a known workload runs
//! with every kaio event enabled, and the trace must hold exactly the expected events with
//! their field values, for each of this case's contexts, and nothing else for them.

use crate::aio::*;
use crate::ktap::{Case, CaseResult};
use crate::util::*;
use crate::v2::*;
use crate::{check, check_eq, want_eq};
use kaio::uapi::*;
use std::collections::BTreeMap;

pub fn cases() -> Vec<Case> {
    vec![
        Case::kaio("trace_events_exist", trace_events_exist),
        Case::kaio("trace_request_lifecycle", trace_request_lifecycle),
        Case::kaio("trace_teardown_paths", trace_teardown_paths),
        Case::kaio("trace_each_opcode_and_cancel_path", trace_each_opcode_and_cancel_path),
    ]
}

const TRACING: &str = "/sys/kernel/tracing";
const EVENTS: [&str; 6] = ["kaio_setup", "kaio_destroy", "kaio_submit", "kaio_complete", "kaio_cancel", "kaio_getevents"];

/// One trace line: the event's name and its fields, as printed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ev {
    name: String,
    f: BTreeMap<String, String>,
}

impl Ev {
    fn get(&self, k: &str) -> &str {
        self.f.get(k).map_or("", String::as_str)
    }
}

/// Enables every kaio event on a cleared trace buffer for as long as it lives.
struct Tracing;

impl Tracing {
    fn on() -> Result<Tracing, String> {
        if !std::path::Path::new(&format!("{TRACING}/events")).exists() {
            let _ = std::process::Command::new("mount").args(["-t", "tracefs", "tracefs", TRACING]).status();
        }
        write_str(&format!("{TRACING}/trace"), "").map_err(|e| format!("clear the trace: {e}"))?;
        write_str(&format!("{TRACING}/buffer_size_kb"), "4096").map_err(|e| format!("buffer_size_kb: {e}"))?;
        write_str(&format!("{TRACING}/events/kaio/enable"), "1").map_err(|e| format!("enable kaio events: {e}"))?;
        Ok(Tracing)
    }

    /// The kaio events recorded so far, in order.
    fn events(&self) -> Result<Vec<Ev>, String> {
        let text = std::fs::read_to_string(format!("{TRACING}/trace")).map_err(|e| format!("read trace: {e}"))?;
        let mut out = Vec::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            // "  comm-pid [cpu] flags  time: kaio_name: k=v k=v ..."
            let Some(i) = line.find(": kaio_") else { continue };
            let rest = &line[i + 2..];
            let Some((name, fields)) = rest.split_once(": ") else { continue };
            let f = fields.split_whitespace().filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
            out.push(Ev { name: name.to_string(), f });
        }
        Ok(out)
    }
}

impl Drop for Tracing {
    fn drop(&mut self) {
        let _ = write_str(&format!("{TRACING}/events/kaio/enable"), "0");
    }
}

fn hex(v: u64) -> String {
    format!("{v:#x}")
}

/// The events of context `ctx` (by `ctx_id`), in order.
fn of_ctx(evs: &[Ev], ctx: u64) -> Vec<Ev> {
    evs.iter().filter(|e| e.get("ctx_id") == hex(ctx)).cloned().collect()
}

/// Checks `got` against `want`: same event names in order, and every field `want` names with
/// the value it gives.
fn expect(what: &str, got: &[Ev], want: &[(&str, Vec<(&str, String)>)]) -> CaseResult {
    let names: Vec<&str> = got.iter().map(|e| e.name.as_str()).collect();
    let want_names: Vec<&str> = want.iter().map(|w| w.0).collect();
    want_eq!(format!("{what}: events"), names, want_names);
    for (i, (e, (_, fields))) in got.iter().zip(want).enumerate() {
        for (k, v) in fields {
            want_eq!(format!("{what}: event {i} ({}) field {k}", e.name), e.get(k), v.as_str());
        }
    }
    Ok(())
}

fn s<T: ToString>(v: T) -> String {
    v.to_string()
}

fn trace_events_exist() -> CaseResult {
    let _k = Kaio::open()?;
    let _t = Tracing::on()?;
    for e in EVENTS {
        let fmt = std::fs::read_to_string(format!("{TRACING}/events/kaio/{e}/format")).map_err(|err| format!("{e}/format: {err}"))?;
        check!(fmt.contains("field:u64 ctx_id"), "{e}: no ctx_id field in its format:\n{fmt}");
    }
    let fmt = std::fs::read_to_string(format!("{TRACING}/events/kaio/kaio_cancel/format")).map_err(|e| e.to_string())?;
    for field in ["u64 iocb", "u64 result", "u32 flags", "s64 ret", "u32 matched", "u32 cancelled", "u32 running"] {
        check!(fmt.contains(&format!("field:{field}")), "kaio_cancel: no field {field}");
    }
    Ok(())
}

/// Setup, a submission of each kind (accepted and refused), completion inside io_submit, a
/// cancel by io_cancel and by CANCEL_MATCH (ring and RESULT), a cancel that finds nothing,
/// getevents, and destroy of an idle context.
fn trace_request_lifecycle() -> CaseResult {
    let k = Kaio::open()?;
    let t = Tracing::on()?;
    let ctx = Ctx::new(&k, 8)?;
    let hdr = ctx.hdr();
    let p = Pipe::new()?;
    let fx = Fx::new()?;
    let mut buf = [0u8; 4];
    let mut delay = delay_iocb(fx.fd(), LONG_NS, 1);
    let mut poll = poll_iocb(p.r, POLLIN, 2);
    let mut bad = iocb(99, p.r, 3);
    p.put();
    let mut read = Iocb { aio_buf: buf.as_mut_ptr() as u64, aio_nbytes: 4, ..iocb(IOCB_CMD_PREAD, p.r, 4) };
    check_eq!(ctx.submit1(&mut delay), Ok(1));
    // A pipe with a byte: the read completes inside io_submit (its event is traced first).
    check_eq!(ctx.submit1(&mut read), Ok(1));
    check_eq!(ctx.submit1(&mut bad), Err(EINVAL));
    check_eq!(ctx.cancel(&mut delay), Err(EINPROGRESS));
    check_eq!(ctx.submit1(&mut poll), Ok(1));
    let mut res = IoEvent::default();
    let mut a = kaio_cancel_match_args { key: 2, result: &mut res as *mut IoEvent as u64, ..cm(ctx.id, KAIO_CANCEL_DATA | KAIO_CANCEL_RESULT) };
    check_eq!(cancel_match(k.fd, &mut a), Ok(0));
    let mut none = cm(ctx.id, KAIO_CANCEL_ANY);
    check_eq!(cancel_match(k.fd, &mut none), Err(ENOENT));
    let evs = ctx.getev(2, 8, Some(ts(5, 0))).map_err(|e| format!("getevents: {e:?}"))?;
    check_eq!(evs.len(), 2);
    check_eq!(ctx.destroy(), Ok(0));
    let all = t.events()?;
    let (id, obj) = (ctx.id, |cb: &Iocb| hex(cb as *const Iocb as u64));
    expect("lifecycle", &of_ctx(&all, id), &[
        ("kaio_setup", vec![("nr_events", s(hdr.nr)), ("ring_size", s(ring_geometry(8).0 * 4096))]),
        ("kaio_submit", vec![("iocb", obj(&delay)), ("data", hex(1)), ("opcode", s(KAIO_CMD_DELAY)), ("fd", s(fx.fd())), ("result", s(0))]),
        ("kaio_complete", vec![("iocb", obj(&read)), ("data", hex(4)), ("res", s(1)), ("res2", s(0)), ("how", s("normal"))]),
        ("kaio_submit", vec![("iocb", obj(&read)), ("opcode", s(IOCB_CMD_PREAD)), ("fd", s(p.r)), ("result", s(0))]),
        ("kaio_submit", vec![("iocb", obj(&bad)), ("data", hex(3)), ("opcode", s(99)), ("result", s(-libc::EINVAL))]),
        ("kaio_complete", vec![("iocb", obj(&delay)), ("res", s(-libc::ECANCELED)), ("how", s("cancelled"))]),
        ("kaio_cancel", vec![("iocb", obj(&delay)), ("flags", hex(0)), ("ret", s(-libc::EINPROGRESS)), ("matched", s(1)), ("cancelled", s(1)), ("running", s(0))]),
        ("kaio_submit", vec![("iocb", obj(&poll)), ("opcode", s(IOCB_CMD_POLL)), ("result", s(0))]),
        ("kaio_complete", vec![("iocb", obj(&poll)), ("data", hex(2)), ("res", s(0)), ("how", s("cancelled"))]),
        ("kaio_cancel", vec![("iocb", hex(0)), ("result", hex(&res as *const IoEvent as u64)), ("flags", hex((KAIO_CANCEL_DATA | KAIO_CANCEL_RESULT) as u64)), ("ret", s(0)), ("matched", s(1)), ("cancelled", s(1))]),
        ("kaio_cancel", vec![("flags", hex(KAIO_CANCEL_ANY as u64)), ("ret", s(-libc::ENOENT)), ("matched", s(0)), ("cancelled", s(0)), ("running", s(0))]),
        ("kaio_getevents", vec![("min_nr", s(2)), ("nr", s(8)), ("returned", s(2))]),
        ("kaio_destroy", vec![("in_flight", s(0))]),
    ])
}

/// Teardown by io_destroy, by the close of /dev/kaio and by exit: `kaio_destroy` counts the
/// requests in flight, and each of them gets one `kaio_complete` with `how=teardown`.
fn trace_teardown_paths() -> CaseResult {
    for how in TEARDOWNS {
        let t = Tracing::on()?;
        let p = Pipe::new()?;
        let (pr, fxfd) = (p.r, Fx::new()?);
        let fd = fxfd.fd();
        let (ids_r, ids_w) = {
            let mut fds = [0; 2];
            // SAFETY: fds is a valid array of two ints.
            unsafe { libc::pipe(fds.as_mut_ptr()) };
            (fds[0], fds[1])
        };
        in_child(PROMPT, move || {
            let k = Kaio::open()?;
            let ctx = Ctx::new(&k, 8)?;
            let mut cbs = [delay_iocb(fd, LONG_NS, 1), poll_iocb(pr, POLLIN, 2)];
            ctx.submit_all(&mut cbs)?;
            let id = ctx.id;
            // SAFETY: writes 8 bytes from a valid buffer.
            unsafe { libc::write(ids_w, (&id as *const u64).cast(), 8) };
            end_context(how, &k, &ctx)
        })
        .map_err(|e| format!("{how}: {e}"))?;
        let mut id = 0u64;
        // SAFETY: reads 8 bytes into a valid buffer; the child wrote them.
        unsafe {
            libc::read(ids_r, (&mut id as *mut u64).cast(), 8);
            libc::close(ids_r);
            libc::close(ids_w);
        }
        // Teardown completions may come from a worker or an RCU callback after the child is
        // gone: give them a moment.
        let mut evs = Vec::new();
        for _ in 0..100 {
            evs = of_ctx(&t.events()?, id);
            if evs.iter().filter(|e| e.name == "kaio_complete").count() >= 2 {
                break;
            }
            std::thread::sleep(ms(20));
        }
        let names: Vec<&str> = evs.iter().map(|e| e.name.as_str()).collect();
        want_eq!(format!("{how}: events"), names, vec!["kaio_setup", "kaio_submit", "kaio_submit", "kaio_destroy", "kaio_complete", "kaio_complete"]);
        want_eq!(format!("{how}: in_flight"), evs[3].get("in_flight"), "2");
        let mut done: Vec<(String, String, String)> = evs[4..].iter().map(|e| (e.get("data").to_string(), e.get("res").to_string(), e.get("how").to_string())).collect();
        done.sort();
        want_eq!(format!("{how}: teardown completions"), done, vec![
            (hex(1), s(-libc::ECANCELED), s("teardown")),
            (hex(2), s(0), s("teardown")),
        ]);
        drop(t);
    }
    Ok(())
}

/// Every opcode (PREAD, PWRITE, PREADV, PWRITEV, FSYNC, FDSYNC, POLL, DELAY) submitted once on
/// a tmpfs file or a pipe: one `kaio_submit` (result 0, its opcode and fd) and one
/// `kaio_complete` each, with the result the request had. Then every cancel path:
/// CANCEL_MATCH by iocb to the ring, FD|ALL (two polls), and IOCB|WAIT on a polled write that
/// has written part of its bytes (found running, then ends with what it wrote).
fn trace_each_opcode_and_cancel_path() -> CaseResult {
    let k = Kaio::open()?;
    let t = Tracing::on()?;
    let mut id = 0u64;
    kaio::raw::setup_with_flags(k.fd, 32, KAIO_SETUP_POLLED_RW, &mut id).map_err(|e| format!("setup: {e}"))?;
    let ctx = Ctx::adopt(&k, id);
    let path = format!("/tmp/kaio-trace-ops-{}\0", std::process::id());
    // SAFETY: NUL-terminated path.
    let f = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC, 0o600) };
    // SAFETY: as above.
    unsafe { libc::unlink(path.as_ptr().cast()) };
    check!(f >= 0, "open tmpfs file");
    let mut wbuf = *b"abcdefgh";
    let mut rbuf = [0u8; 8];
    let (mut a, mut b) = ([0u8; 4], [0u8; 4]);
    let riov = [libc::iovec { iov_base: a.as_mut_ptr().cast(), iov_len: 4 }, libc::iovec { iov_base: b.as_mut_ptr().cast(), iov_len: 4 }];
    let wiov = [libc::iovec { iov_base: wbuf.as_mut_ptr().cast(), iov_len: 8 }];
    let p = Pipe::new()?;
    let fx = Fx::new()?;
    let mut cbs = vec![
        Iocb { aio_buf: wbuf.as_ptr() as u64, aio_nbytes: 8, ..iocb(IOCB_CMD_PWRITE, f, 10) },
        Iocb { aio_buf: rbuf.as_mut_ptr() as u64, aio_nbytes: 8, ..iocb(IOCB_CMD_PREAD, f, 11) },
        Iocb { aio_buf: wiov.as_ptr() as u64, aio_nbytes: 1, aio_offset: 8, ..iocb(IOCB_CMD_PWRITEV, f, 12) },
        Iocb { aio_buf: riov.as_ptr() as u64, aio_nbytes: 2, ..iocb(IOCB_CMD_PREADV, f, 13) },
        iocb(IOCB_CMD_FSYNC, f, 14),
        iocb(IOCB_CMD_FDSYNC, f, 15),
        poll_iocb(p.w, libc::POLLOUT as u64, 16),
        delay_iocb(fx.fd(), 1_000_000, 17),
    ];
    let want_res = [8i64, 8, 8, 8, 0, 0, libc::POLLOUT as i64, 0];
    for cb in cbs.iter_mut() {
        check_eq!(ctx.submit1(cb), Ok(1));
    }
    let evs = ctx.wait_events(cbs.len(), PROMPT)?;
    check_eq!(evs.len(), cbs.len());
    // Cancel paths.
    let mut d1 = delay_iocb(fx.fd(), LONG_NS, 20);
    let mut p1 = poll_iocb(p.r, POLLIN, 21);
    let mut p2 = poll_iocb(p.r, POLLIN, 22);
    for cb in [&mut d1, &mut p1, &mut p2] {
        check_eq!(ctx.submit1(cb), Ok(1));
    }
    let mut by_iocb = kaio_cancel_match_args { key: &d1 as *const Iocb as u64, ..cm(ctx.id, KAIO_CANCEL_IOCB) };
    check_eq!(cancel_match(k.fd, &mut by_iocb), Ok(1));
    let mut by_fd = kaio_cancel_match_args { fd: p.r, ..cm(ctx.id, KAIO_CANCEL_FD | KAIO_CANCEL_ALL) };
    check_eq!(cancel_match(k.fd, &mut by_fd), Ok(2));
    let bp = crate::files::pipe_pair()?;
    let big = vec![9u8; 1 << 20];
    let mut w = Iocb { aio_buf: big.as_ptr() as u64, aio_nbytes: big.len() as u64, ..iocb(IOCB_CMD_PWRITE, bp.w, 23) };
    check_eq!(ctx.submit1(&mut w), Ok(1));
    let mut wait = kaio_cancel_match_args { key: &w as *const Iocb as u64, ..cm(ctx.id, KAIO_CANCEL_IOCB | KAIO_CANCEL_WAIT) };
    check_eq!(cancel_match(k.fd, &mut wait), Err(EALREADY));
    let evs2 = ctx.wait_events(4, PROMPT)?;
    let part = evs2.iter().find(|e| e.data == 23).map(|e| e.res).unwrap_or(0);
    check!(part > 0 && part < big.len() as i64, "the part-written write ended with {part}");
    check_eq!(ctx.destroy(), Ok(0));
    // SAFETY: our fd.
    unsafe { libc::close(f) };
    let all = of_ctx(&t.events()?, id);
    let obj = |cb: &Iocb| hex(cb as *const Iocb as u64);
    let of = |name: &str, iocb: &str| -> Vec<Ev> { all.iter().filter(|e| e.name == name && e.get("iocb") == iocb).cloned().collect() };
    for (cb, res) in cbs.iter().zip(want_res) {
        let (sub, done) = (of("kaio_submit", &obj(cb)), of("kaio_complete", &obj(cb)));
        want_eq!(format!("opcode {}: kaio_submit events", cb.aio_lio_opcode), sub.len(), 1);
        let (op, fd) = (s(cb.aio_lio_opcode), s(cb.aio_fildes as i32));
        want_eq!(format!("opcode {}: kaio_submit fields", cb.aio_lio_opcode), (sub[0].get("opcode"), sub[0].get("fd"), sub[0].get("result")), (op.as_str(), fd.as_str(), "0"));
        want_eq!(format!("opcode {}: kaio_complete events", cb.aio_lio_opcode), done.len(), 1);
        let res = s(res);
        want_eq!(format!("opcode {}: kaio_complete fields", cb.aio_lio_opcode), (done[0].get("res"), done[0].get("how")), (res.as_str(), "normal"));
    }
    let cancels: Vec<Ev> = all.iter().filter(|e| e.name == "kaio_cancel").cloned().collect();
    want_eq!("kaio_cancel events", cancels.len(), 3);
    let fields = |e: &Ev| (e.get("flags").to_string(), e.get("ret").to_string(), e.get("matched").to_string(), e.get("cancelled").to_string(), e.get("running").to_string());
    want_eq!("CANCEL_MATCH by iocb", fields(&cancels[0]), (hex(KAIO_CANCEL_IOCB as u64), s(1), s(1), s(1), s(0)));
    want_eq!("CANCEL_MATCH FD|ALL", fields(&cancels[1]), (hex((KAIO_CANCEL_FD | KAIO_CANCEL_ALL) as u64), s(2), s(2), s(2), s(0)));
    want_eq!("CANCEL_MATCH IOCB|WAIT on a running write", fields(&cancels[2]), (hex((KAIO_CANCEL_IOCB | KAIO_CANCEL_WAIT) as u64), s(-libc::EALREADY), s(1), s(0), s(1)));
    // A cancelled POLL's res is 0, as in Linux; a DELAY's -ECANCELED.
    for (cb, res) in [(&d1, s(-libc::ECANCELED)), (&p1, s(0)), (&p2, s(0))] {
        let done = of("kaio_complete", &obj(cb));
        want_eq!(format!("cancelled {}: kaio_complete", cb.aio_data), done.iter().map(|e| (e.get("res").to_string(), e.get("how").to_string())).collect::<Vec<_>>(), vec![(res, s("cancelled"))]);
    }
    let done = of("kaio_complete", &obj(&w));
    want_eq!("the running write's kaio_complete", done.iter().map(|e| (e.get("res").to_string(), e.get("how").to_string())).collect::<Vec<_>>(), vec![(s(part), s("normal"))]);
    Ok(())
}
