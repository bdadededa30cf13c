//! The module-wide statistics (`/sys/module/kaio/parameters/stat_*`), kaio only: a known
//! workload moves each counter by exactly what it did (nothing else uses kaio while a case
//! runs), and the gauges come back to where they were.

use crate::aio::*;
use crate::ktap::{Case, CaseResult};
use crate::util::*;
use crate::v2::*;
use crate::{check_eq, want_eq};
use kaio::uapi::*;
use std::collections::BTreeMap;

pub fn cases() -> Vec<Case> {
    vec![Case::kaio("stats_follow_a_workload", stats_follow_a_workload)]
}

const PARAMS: &str = "/sys/module/kaio/parameters";

fn snapshot() -> Result<BTreeMap<String, i64>, String> {
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(PARAMS).map_err(|e| format!("{PARAMS}: {e}"))? {
        let name = e.map_err(|e| e.to_string())?.file_name().to_string_lossy().into_owned();
        if let Some(stat) = name.strip_prefix("stat_") {
            let v = std::fs::read_to_string(format!("{PARAMS}/{name}")).map_err(|e| format!("{name}: {e}"))?;
            m.insert(stat.to_string(), v.trim().parse::<i64>().map_err(|e| format!("{name}: {v:?}: {e}"))?);
        }
    }
    Ok(m)
}

/// What changed from `a` to `b`, only the counters that moved.
fn delta(a: &BTreeMap<String, i64>, b: &BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    b.iter().filter_map(|(k, v)| {
        let d = v - a.get(k).copied().unwrap_or(0);
        (d != 0).then(|| (k.clone(), d))
    }).collect()
}

fn want(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn stats_follow_a_workload() -> CaseResult {
    let base = snapshot()?;
    want_eq!("the counters", base.keys().cloned().collect::<Vec<_>>(), vec![
        "cancel_missed", "cancel_running", "cancelled", "contexts", "events", "in_flight_delay",
        "in_flight_fdsync", "in_flight_fsync", "in_flight_poll", "in_flight_pread", "in_flight_preadv",
        "in_flight_pwrite", "in_flight_pwritev", "submitted", "swept",
    ].into_iter().map(String::from).collect::<Vec<_>>());
    let k = Kaio::open()?;
    let a = Ctx::new(&k, 8)?;
    let b = Ctx::new(&k, 8)?;
    let fx = Fx::new()?;
    let p = Pipe::new()?;
    p.put();
    let mut buf = [0u8; 1];
    let mut cbs = [delay_iocb(fx.fd(), LONG_NS, 1), delay_iocb(fx.fd(), LONG_NS, 2), delay_iocb(fx.fd(), LONG_NS, 3)];
    a.submit_all(&mut cbs)?;
    // A POLLIN on an empty pipe waits.
    let q = Pipe::new()?;
    let mut poll = poll_iocb(q.r, POLLIN, 4);
    check_eq!(b.submit1(&mut poll), Ok(1));
    let mut read = Iocb { aio_buf: buf.as_mut_ptr() as u64, aio_nbytes: 1, ..iocb(IOCB_CMD_PREAD, p.r, 5) };
    check_eq!(b.submit1(&mut read), Ok(1));
    let now = snapshot()?;
    want_eq!("after submitting", delta(&base, &now), want(&[
        ("contexts", 2), ("submitted", 5), ("events", 1), ("in_flight_delay", 3), ("in_flight_poll", 1),
    ]));
    check_eq!(a.cancel(&mut cbs[0]), Err(EINPROGRESS));
    let mut none = kaio_cancel_match_args { key: 99, ..cm(b.id, KAIO_CANCEL_DATA) };
    check_eq!(cancel_match(k.fd, &mut none), Err(ENOENT));
    let now = snapshot()?;
    want_eq!("after the cancels", delta(&base, &now), want(&[
        ("contexts", 2), ("submitted", 5), ("events", 2), ("in_flight_delay", 2), ("in_flight_poll", 1),
        ("cancelled", 1), ("cancel_missed", 1),
    ]));
    check_eq!(a.destroy(), Ok(0));
    check_eq!(b.destroy(), Ok(0));
    let now = snapshot()?;
    want_eq!("after destroying both", delta(&base, &now), want(&[
        ("submitted", 5), ("events", 5), ("cancelled", 1), ("cancel_missed", 1), ("swept", 3),
    ]));
    Ok(())
}
