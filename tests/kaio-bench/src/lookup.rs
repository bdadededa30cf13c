//! Benchmark 2, lookup throughput: `io_getevents(ctx, 0, 1, ev, {0,0})` on an empty ring is the context
//! lookup (read `ring->id`, index the table under RCU, take a `users` reference), one pass of
//! the ring reader (`ring_lock`, head == tail) and nothing else. Measured against the number of
//! contexts in the table (1, 16, 256) and the number of threads calling at once (1, 2, 4).
//!
//! Thread `t`'s call `i` looks up context `(t + i * threads) mod contexts`: with one context
//! every thread hits the same one (and its `ring_lock`), with more they spread. The time per
//! call is aggregate: wall time of a sample / calls made by all threads (1 / throughput).

use crate::aio::{Api, NOW};
use crate::clock;
use crate::report::{cell, ns, ratio, Section};
use crate::stats::{throughput_group, Plan};
use crate::Env;
use kaio::uapi::IoEvent;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub const CONTEXTS: [usize; 3] = [1, 16, 256];
pub const THREADS: [usize; 3] = [1, 2, 4];

const PLAN: Plan = Plan {
    budget: Duration::from_millis(1500),
    min_samples: 5,
    max_samples: 300,
    target_sample: Duration::from_millis(5),
};

/// What the workers of a pool share with the main thread.
struct Shared {
    start: Barrier,
    done: Barrier,
    /// Calls per worker in the next sample.
    calls: AtomicU64,
    quit: AtomicBool,
    error: Mutex<Option<String>>,
    /// TSC when each worker started and finished its calls in the current sample: a sample
    /// lasts from the first start to the last finish. (The main thread's own view would be
    /// skewed by when it gets the CPU back from the barriers: the guest may have 1 CPU.)
    starts: Vec<AtomicU64>,
    ends: Vec<AtomicU64>,
}

/// `threads` workers that each make `calls` lookups of one backend per sample, started and
/// finished together through barriers.
struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    threads: usize,
}

impl Pool {
    fn new(api: Api, ctxs: Arc<Vec<u64>>, threads: usize) -> Pool {
        let shared = Arc::new(Shared {
            start: Barrier::new(threads + 1),
            done: Barrier::new(threads + 1),
            calls: AtomicU64::new(0),
            quit: AtomicBool::new(false),
            error: Mutex::new(None),
            starts: (0..threads).map(|_| AtomicU64::new(0)).collect(),
            ends: (0..threads).map(|_| AtomicU64::new(0)).collect(),
        });
        let workers = (0..threads)
            .map(|t| {
                let (shared, ctxs) = (shared.clone(), ctxs.clone());
                std::thread::spawn(move || worker(api, &ctxs, t, threads, &shared))
            })
            .collect();
        Pool {
            shared,
            workers,
            threads,
        }
    }

    /// One sample: every worker makes `calls` calls. Returns the wall time and the calls made.
    fn sample(&self, calls: u64) -> Result<(Duration, u64), String> {
        self.shared.calls.store(calls, Ordering::Relaxed);
        self.shared.start.wait();
        self.shared.done.wait();
        let first = self
            .shared
            .starts
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .min()
            .unwrap_or(0);
        let last = self
            .shared
            .ends
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0);
        let d = clock::duration(last.saturating_sub(first));
        if let Some(e) = self
            .shared
            .error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            return Err(e);
        }
        Ok((d, calls * self.threads as u64))
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.quit.store(true, Ordering::Relaxed);
        self.shared.start.wait();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

fn worker(api: Api, ctxs: &[u64], t: usize, threads: usize, shared: &Shared) {
    let mut ev = [IoEvent::default(); 1];
    let n = ctxs.len();
    let mut i = t % n;
    let step = threads % n;
    loop {
        shared.start.wait();
        if shared.quit.load(Ordering::Relaxed) {
            return;
        }
        let calls = shared.calls.load(Ordering::Relaxed);
        shared.starts[t].store(clock::ticks(), Ordering::Relaxed);
        for _ in 0..calls {
            match api.getevents(ctxs[i], 0, &mut ev, Some(&NOW)) {
                Ok(0) => {}
                other => {
                    let mut e = shared.error.lock().unwrap_or_else(|e| e.into_inner());
                    e.get_or_insert(format!(
                        "{} getevents on an empty ring: {other:?}",
                        api.name()
                    ));
                    break;
                }
            }
            i += step;
            if i >= n {
                i -= n;
            }
        }
        shared.ends[t].store(clock::ticks(), Ordering::Relaxed);
        shared.done.wait();
    }
}

pub fn run(env: &Env, sec: &mut Section) -> Result<(), String> {
    // A domain of its own, so that kaio's table holds exactly the contexts counted. Native
    // contexts go to this process's table; none exist before this benchmark, and those made
    // here stay until exit (io_destroy waits for a grace period each; exit_aio does all at once).
    let domain = kaio::Domain::open().map_err(|e| format!("open /dev/kaio: {e}"))?;
    let apis = [Api::Kaio(domain.as_raw_fd()), Api::Native];
    let mut ctxs: [Vec<u64>; 2] = [Vec::new(), Vec::new()];
    sec.line("2. lookup: io_getevents(ctx, 0, 1, ev, {0,0}) on an empty ring; aggregate ns per call, median (p90)");
    sec.line("   (thread t, call i looks up context (t + i*threads) mod contexts; a sample lasts from the");
    sec.line("   first thread's first call to the last thread's last)");
    sec.line(format!(
        "   {:>8} {:>7} {:>20} {:>20} {:>12} {:>12}",
        "contexts", "threads", "kaio", "native", "kaio/native", "Mcalls/s k/n"
    ));
    let mut single = Vec::new();
    for &n in &CONTEXTS {
        for (api, list) in apis.iter().zip(ctxs.iter_mut()) {
            while list.len() < n {
                list.push(api.setup(1)?);
            }
        }
        let shared: [Arc<Vec<u64>>; 2] = [Arc::new(ctxs[0].clone()), Arc::new(ctxs[1].clone())];
        for &threads in &THREADS {
            let pools = [
                Pool::new(apis[0], shared[0].clone(), threads),
                Pool::new(apis[1], shared[1].clone(), threads),
            ];
            let sums = throughput_group(&PLAN.scaled(env.scale), 2, |v, k| pools[v].sample(k))?;
            drop(pools);
            let mcalls = |m: f64| 1e3 / m;
            sec.line(format!(
                "   {:>8} {:>7} {} {} {} {:>12}",
                n,
                threads,
                cell(&sums[0], 20),
                cell(&sums[1], 20),
                ratio(sums[0].median, sums[1].median, 12),
                format!(
                    "{:.2}/{:.2}",
                    mcalls(sums[0].median),
                    mcalls(sums[1].median)
                )
            ));
            let params = [
                ("contexts", n.to_string()),
                ("threads", threads.to_string()),
            ];
            sec.record("kaio", &params, "ns_per_call", sums[0]);
            sec.record("native", &params, "ns_per_call", sums[1]);
            if threads == 1 {
                single.push((n, sums[0].median, sums[1].median));
            }
            eprintln!(
                "kaio-bench: lookup contexts={n} threads={threads} done ({:.1} s)",
                crate::stats::elapsed().as_secs_f64()
            );
        }
    }
    if let Some(f) = &env.floor {
        for (n, k, nat) in single {
            sec.line(format!(
                "   above the floor, 1 thread, {n} contexts: kaio {} (getevents - empty ioctl), native {} (getevents - getppid), ratio {}",
                ns(k - f.kaio),
                ns(nat - f.syscall),
                ratio(k - f.kaio, nat - f.syscall, 0)
            ));
        }
    }
    // The native contexts stay; the kaio ones go with the domain.
    drop(domain);
    Ok(())
}
