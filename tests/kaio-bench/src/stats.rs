//! Sampling: adaptive, time-bounded, round-robin over the variants of one comparison, and the
//! median / p90 of what was sampled.
//!
//! Every comparison (one table row) is a *group* of variants measured in rounds: one sample of
//! each variant per round, until the group's budget is spent. Interleaving matters under QEMU
//! TCG, whose speed drifts with the host: variants measured at different moments would compare
//! the host's mood, not the code.

use crate::clock::Stamp;
use std::sync::OnceLock;
use std::time::Duration;

static START: OnceLock<Stamp> = OnceLock::new();
static HARD_LIMIT: OnceLock<Duration> = OnceLock::new();

/// Starts the program clock and sets the total time after which every group stops as soon as
/// it has its minimum number of samples.
pub fn start(hard_limit: Duration) {
    let _ = START.set(Stamp::now());
    let _ = HARD_LIMIT.set(hard_limit);
}

/// Time since [`start`].
pub fn elapsed() -> Duration {
    START.get_or_init(Stamp::now).elapsed()
}

/// Whether the program is past its hard limit (groups then take only their minimum).
pub fn over_limit() -> bool {
    HARD_LIMIT.get().is_some_and(|l| elapsed() >= *l)
}

/// Median and p90 (nearest rank) of one metric of one variant.
#[derive(Clone, Copy, Debug, Default)]
pub struct Summary {
    pub median: f64,
    pub p90: f64,
    pub samples: usize,
    /// Operations timed together in one sample (1 for latencies).
    pub per_sample: u64,
}

impl Summary {
    pub fn of(mut values: Vec<f64>, per_sample: u64) -> Summary {
        if values.is_empty() {
            return Summary {
                median: f64::NAN,
                p90: f64::NAN,
                samples: 0,
                per_sample,
            };
        }
        values.sort_by(|a, b| a.total_cmp(b));
        let n = values.len();
        let median = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        };
        let rank = ((0.9 * n as f64).ceil() as usize).clamp(1, n);
        Summary {
            median,
            p90: values[rank - 1],
            samples: n,
            per_sample,
        }
    }
}

/// How long a group may run and how many samples each of its variants takes.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Wall time of the whole group (all variants), calibration excluded.
    pub budget: Duration,
    pub min_samples: usize,
    pub max_samples: usize,
    /// Throughput groups: a sample times enough operations to last at least this long.
    pub target_sample: Duration,
}

impl Plan {
    pub fn scaled(self, scale: f64) -> Plan {
        Plan {
            budget: self.budget.mul_f64(scale),
            ..self
        }
    }
}

/// Measures a throughput group. `run(v, k)` performs `k` units of variant `v` and returns the
/// elapsed time and the number of operations those units were (per-op time = time / ops).
/// Each variant is calibrated first (doubling `k` until a sample lasts `target_sample`; those
/// runs double as warm-up), then sampled in rounds, each sample preceded by one untimed unit.
/// Returns one summary (ns per op) per variant.
pub fn throughput_group(
    plan: &Plan,
    variants: usize,
    mut run: impl FnMut(usize, u64) -> Result<(Duration, u64), String>,
) -> Result<Vec<Summary>, String> {
    let mut ks = Vec::with_capacity(variants);
    let mut ops_per = Vec::with_capacity(variants);
    for v in 0..variants {
        let mut k = 1u64;
        loop {
            let (d, ops) = run(v, k)?;
            if d >= plan.target_sample || k >= 1 << 24 {
                ks.push(k);
                ops_per.push(ops);
                break;
            }
            // Jump close to the target, at most 16x at a time.
            let ratio = plan.target_sample.as_secs_f64() / d.as_secs_f64().max(1e-7);
            k = (k as f64 * ratio.clamp(2.0, 16.0)).ceil() as u64;
        }
    }
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); variants];
    let t0 = Stamp::now();
    loop {
        for v in 0..variants {
            if samples[v].len() < plan.max_samples {
                // One untimed unit first: the first after a switch pays for what the previous
                // variant left behind (deferred work, cold caches).
                run(v, 1)?;
                let (d, ops) = run(v, ks[v])?;
                samples[v].push(d.as_nanos() as f64 / ops.max(1) as f64);
            }
        }
        let have_min = samples.iter().all(|s| s.len() >= plan.min_samples);
        let all_max = samples.iter().all(|s| s.len() >= plan.max_samples);
        if all_max || (have_min && (t0.elapsed() >= plan.budget || over_limit())) {
            break;
        }
    }
    Ok(samples
        .into_iter()
        .zip(ops_per)
        .map(|(s, ops)| Summary::of(s, ops))
        .collect())
}

/// Measures a latency group: `run(v)` performs one operation of variant `v` and returns
/// `metrics` durations (e.g. the call alone, and until its event was reaped). Variants take
/// turns in runs of `1 + run_len` operations whose first is discarded: the first operation
/// after a switch pays for what the previous variant left behind (deferred work, a sleep in
/// the idle loop, cold caches), which is not the operation's own cost. Returns
/// `[variant][metric]` summaries (ns).
pub fn latency_group(
    plan: &Plan,
    variants: usize,
    metrics: usize,
    run_len: usize,
    run: impl FnMut(usize) -> Result<Vec<Duration>, String>,
) -> Result<Vec<Vec<Summary>>, String> {
    latency_group_warm(plan, variants, metrics, 1, run_len, run)
}

/// [`latency_group`] with runs of `warmup + run_len` operations whose first `warmup` are
/// discarded: under TCG a variant that follows one that slept (native AIO's cancel completes
/// in a kworker) stays slow for two or three operations, not one.
pub fn latency_group_warm(
    plan: &Plan,
    variants: usize,
    metrics: usize,
    warmup: usize,
    run_len: usize,
    mut run: impl FnMut(usize) -> Result<Vec<Duration>, String>,
) -> Result<Vec<Vec<Summary>>, String> {
    let mut samples: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); metrics]; variants];
    let t0 = Stamp::now();
    loop {
        for (v, s) in samples.iter_mut().enumerate() {
            if s[0].len() >= plan.max_samples {
                continue;
            }
            for i in 0..warmup + run_len {
                let ds = run(v)?;
                if ds.len() != metrics {
                    return Err(format!(
                        "variant {v}: {} metrics, expected {metrics}",
                        ds.len()
                    ));
                }
                if i < warmup || s[0].len() >= plan.max_samples {
                    continue;
                }
                for (m, d) in ds.into_iter().enumerate() {
                    s[m].push(d.as_nanos() as f64);
                }
            }
        }
        let have_min = samples.iter().all(|s| s[0].len() >= plan.min_samples);
        let all_max = samples.iter().all(|s| s[0].len() >= plan.max_samples);
        if all_max || (have_min && (t0.elapsed() >= plan.budget || over_limit())) {
            break;
        }
    }
    Ok(samples
        .into_iter()
        .map(|ms| ms.into_iter().map(|s| Summary::of(s, 1)).collect())
        .collect())
}

/// The median cost of reading the clock (`Stamp::now`, the TSC), which every latency sample pays
/// once or twice and which is not subtracted.
pub fn clock_cost() -> f64 {
    let mut v = Vec::with_capacity(64);
    for _ in 0..64 {
        let t0 = Stamp::now();
        for _ in 0..100 {
            std::hint::black_box(Stamp::now());
        }
        v.push(t0.elapsed().as_nanos() as f64 / 100.0);
    }
    Summary::of(v, 100).median
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p90() {
        let s = Summary::of((1..=10).map(f64::from).collect(), 1);
        assert_eq!((s.median, s.p90, s.samples), (5.5, 9.0, 10));
        let s = Summary::of(vec![3.0, 1.0, 2.0], 1);
        assert_eq!((s.median, s.p90), (2.0, 3.0));
        let s = Summary::of(vec![7.0], 1);
        assert_eq!((s.median, s.p90), (7.0, 7.0));
        assert!(Summary::of(vec![], 1).median.is_nan());
    }

    #[test]
    fn throughput_group_calibrates_and_interleaves() {
        let plan = Plan {
            budget: Duration::from_millis(20),
            min_samples: 3,
            max_samples: 5,
            target_sample: Duration::from_micros(200),
        };
        let mut order = Vec::new();
        let r = throughput_group(&plan, 2, |v, k| {
            order.push(v);
            let t = Stamp::now();
            for _ in 0..k * (v as u64 + 1) {
                std::hint::black_box(Stamp::now());
            }
            Ok((t.elapsed(), k))
        })
        .unwrap();
        assert_eq!(r.len(), 2);
        assert!(r
            .iter()
            .all(|s| s.samples >= 3 && s.samples <= 5 && s.per_sample >= 1));
        // After calibration, the variants alternate, each sample after one untimed unit.
        let tail: Vec<usize> = order.iter().rev().take(8).copied().collect();
        assert!(tail == [1, 1, 0, 0, 1, 1, 0, 0], "{order:?}");
    }

    #[test]
    fn latency_group_shapes() {
        let plan = Plan {
            budget: Duration::from_millis(5),
            min_samples: 4,
            max_samples: 6,
            target_sample: Duration::ZERO,
        };
        let mut calls = [0usize; 3];
        let r = latency_group(&plan, 3, 2, 2, |v| {
            calls[v] += 1;
            Ok(vec![
                Duration::from_nanos(v as u64 + 1),
                Duration::from_nanos(10 * (v as u64 + 1)),
            ])
        })
        .unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!((r[2][0].median, r[2][1].median), (3.0, 30.0));
        assert!(r
            .iter()
            .all(|m| m.len() == 2 && m[0].samples >= 4 && m[0].samples <= 6));
        // Runs of 3, the first of each discarded.
        assert!(calls.iter().all(|&c| c % 3 == 0 && c >= 6), "{calls:?}");
        assert!(latency_group(&plan, 1, 2, 0, |_| Err("boom".into())).is_err());
    }

    #[test]
    fn latency_group_warmup() {
        let plan = Plan {
            budget: Duration::ZERO,
            min_samples: 4,
            max_samples: 4,
            target_sample: Duration::ZERO,
        };
        // Each run: 3 warm-up operations (1000 ns), then 2 counted (position + 1 ns).
        let mut pos = [0usize; 2];
        let r = latency_group_warm(&plan, 2, 1, 3, 2, |v| {
            let p = pos[v] % 5;
            pos[v] += 1;
            Ok(vec![Duration::from_nanos(if p < 3 {
                1000
            } else {
                p as u64 - 2
            })])
        })
        .unwrap();
        assert!(
            r.iter().all(|m| m[0].samples == 4 && m[0].p90 <= 2.0),
            "{r:?}"
        );
        assert_eq!(pos, [10, 10]);
    }
}
