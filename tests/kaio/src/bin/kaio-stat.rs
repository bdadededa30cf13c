//! kaio-stat: kaio's statistics, once or every few seconds (like vmstat), or its tracepoints
//! as one line per event (a tiny strace for kaio).
//!
//! ```text
//! kaio-stat                 every counter once
//! kaio-stat -i 1 [-c N]     a line per second: gauges as they are, counters as per-second rates
//! kaio-stat --trace [-c N]  enables /sys/kernel/tracing/events/kaio and prints each event
//! ```
//!
//! The counters are the read-only module parameters `/sys/module/kaio/parameters/stat_*`.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

const PARAMS: &str = "/sys/module/kaio/parameters";
const TRACING: &str = "/sys/kernel/tracing";
const USAGE: &str = "usage: kaio-stat [-i SECONDS] [-c COUNT] | --trace [-c COUNT]";

/// Counters that are levels, not totals.
fn is_gauge(name: &str) -> bool {
    name == "contexts" || name.starts_with("in_flight_")
}

fn read_stats() -> Result<BTreeMap<String, i64>, String> {
    let dir = std::fs::read_dir(PARAMS).map_err(|e| format!("{PARAMS}: {e} (is kaio.ko loaded?)"))?;
    let mut m = BTreeMap::new();
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(stat) = name.strip_prefix("stat_") else { continue };
        let text = std::fs::read_to_string(e.path()).map_err(|err| format!("{name}: {err}"))?;
        let v = text.trim().parse().map_err(|err| format!("{name}: {text:?}: {err}"))?;
        m.insert(stat.to_string(), v);
    }
    if m.is_empty() {
        return Err(format!("no stat_* parameters in {PARAMS}"));
    }
    Ok(m)
}

fn once() -> Result<(), String> {
    let m = read_stats()?;
    let width = m.keys().map(String::len).max().unwrap_or(0);
    for (k, v) in &m {
        println!("{k:<width$} {v}");
    }
    Ok(())
}

/// Short column names: `in_flight_pread` → `pread`, the rest as they are.
fn column(name: &str) -> &str {
    name.strip_prefix("in_flight_").unwrap_or(name)
}

/// A column's width: its name's, at least 8.
fn width(name: &str) -> usize {
    column(name).len().max(8)
}

fn every(interval: Duration, count: Option<u64>) -> Result<(), String> {
    let mut prev = read_stats()?;
    let names: Vec<String> = prev.keys().cloned().collect();
    let (gauges, totals): (Vec<&String>, Vec<&String>) = names.iter().partition(|n| is_gauge(n));
    let header = |out: &mut dyn Write| {
        let _ = writeln!(out, "{:>8} | {} | per second: {}", "time", gauges.iter().map(|g| format!("{:>w$}", column(g), w = width(g))).collect::<Vec<_>>().join(" "),
            totals.iter().map(|t| format!("{:>w$}", column(t), w = width(t))).collect::<Vec<_>>().join(" "));
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    header(&mut out);
    let start = Instant::now();
    let mut last = Instant::now();
    let mut n = 0u64;
    while count.is_none_or(|c| n < c) {
        std::thread::sleep(interval.saturating_sub(last.elapsed()));
        let now = read_stats()?;
        let secs = last.elapsed().as_secs_f64().max(1e-9);
        last = Instant::now();
        n += 1;
        if n % 20 == 0 {
            header(&mut out);
        }
        let g = gauges.iter().map(|k| format!("{:>w$}", now[*k], w = width(k))).collect::<Vec<_>>().join(" ");
        let t = totals.iter().map(|k| format!("{:>w$.0}", (now[*k] - prev[*k]) as f64 / secs, w = width(k))).collect::<Vec<_>>().join(" ");
        let _ = writeln!(out, "{:>7.1}s | {g} | per second: {t}", start.elapsed().as_secs_f64());
        let _ = out.flush();
        prev = now;
    }
    Ok(())
}

/// Enables kaio's events while alive.
struct Enabled;

impl Drop for Enabled {
    fn drop(&mut self) {
        let _ = std::fs::write(format!("{TRACING}/events/kaio/enable"), "0");
    }
}

fn trace(count: Option<u64>) -> Result<(), String> {
    if !std::path::Path::new(&format!("{TRACING}/events")).exists() {
        let _ = std::process::Command::new("mount").args(["-t", "tracefs", "tracefs", TRACING]).status();
    }
    std::fs::write(format!("{TRACING}/events/kaio/enable"), "1").map_err(|e| format!("enable {TRACING}/events/kaio: {e}"))?;
    let _on = Enabled;
    let pipe = std::fs::File::open(format!("{TRACING}/trace_pipe")).map_err(|e| format!("trace_pipe: {e}"))?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut n = 0u64;
    for line in std::io::BufReader::new(pipe).lines() {
        let line = line.map_err(|e| e.to_string())?;
        // "  comm-pid [cpu] flags time: kaio_event: fields" → "time comm-pid event fields"
        let Some(at) = line.find(": kaio_") else { continue };
        let head: Vec<&str> = line[..at].split_whitespace().collect();
        let (task, time) = (head.first().copied().unwrap_or("?"), head.last().copied().unwrap_or("?"));
        let rest = &line[at + 2..];
        let (event, fields) = rest.split_once(": ").unwrap_or((rest, ""));
        let _ = writeln!(out, "{time:>14} {task:<20} {:<10} {fields}", event.trim_start_matches("kaio_"));
        let _ = out.flush();
        n += 1;
        if count.is_some_and(|c| n >= c) {
            break;
        }
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut interval = None;
    let mut count = None;
    let mut tracing = false;
    let mut i = 0;
    let fail = |msg: &str| -> ! {
        eprintln!("kaio-stat: {msg}\n{USAGE}");
        std::process::exit(2)
    };
    while i < args.len() {
        match args[i].as_str() {
            "-i" => {
                i += 1;
                let s: f64 = args.get(i).and_then(|v| v.parse().ok()).filter(|s: &f64| *s > 0.0).unwrap_or_else(|| fail("-i needs a positive number of seconds"));
                interval = Some(Duration::from_secs_f64(s));
            }
            "-c" => {
                i += 1;
                count = Some(args.get(i).and_then(|v| v.parse().ok()).unwrap_or_else(|| fail("-c needs a count")));
            }
            "--trace" => tracing = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            other => fail(&format!("unknown argument {other:?}")),
        }
        i += 1;
    }
    let r = match (tracing, interval) {
        (true, Some(_)) => fail("--trace and -i do not go together"),
        (true, None) => trace(count),
        (false, Some(d)) => every(d, count),
        (false, None) => once(),
    };
    if let Err(e) = r {
        eprintln!("kaio-stat: {e}");
        std::process::exit(1);
    }
}
