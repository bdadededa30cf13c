//! kaio-faults: every allocation and user copy that kaio.ko makes (or has made on its behalf)
//! in each call is failed in turn, with the kernel's fault injection restricted to the module,
//! and what the caller sees and what is left behind is checked. KTAP output, exit 0/1.
//!
//! ```text
//! kaio-faults [-v] [--seed S] [--soak-seconds N] [FILTER]    (root, kaio.ko loaded, debugfs)
//! ```
//!
//! `--seed` picks the soak's random sequence (default: the one `make check` runs);
//! `--soak-seconds` soaks for that long instead of 400 calls (`make faults SECONDS=N`).
//!
//! For each site (open, setup, submit of each opcode, getevents, cancel, the version-2 calls:
//! cancel_match with WAIT timing out and WAIT ending with the request, with RESULT, with ANY,
//! and pgetevents with a mask and a timeout; destroy, release, exit) and each capability (failslab, fail_page_alloc, fail_usercopy), k = 1, 2, ...: the
//! k-th matching call of the site fails (`/proc/thread-self/fail-nth` = k, with only that
//! capability's stack filter open on kaio's text), until the call runs without reaching a k-th
//! one. After each injected fault: the error is one Linux gives (setup ENOMEM/EFAULT, submit
//! EAGAIN (request) or ENOMEM (iovec, creds)/EFAULT, getevents/cancel/destroy only EFAULT,
//! cancel_match/pgetevents only EFAULT, the WAIT timer's allocation absorbed),
//! accepted requests complete exactly once, the context or domain is still usable, and the
//! `nr` parameter, the ring mappings and the module's reference count are what they should
//! be. Then a soak with random faults (probability, interval, times, task-filter with
//! make-it-fail). Then a kmemleak scan for objects leaked during the run.
//!
//! A failure names the site, the capability and k: running the same program with FILTER set
//! to the site reproduces it. Without the kernel's fault-injection files (the release guest),
//! the single test is skipped.

mod fi;
mod scenarios;
mod scenarios_v2;
mod soak;
mod util;

use fi::{Fi, Kind, KINDS};
use scenarios::*;
use std::io::Write;
use util::*;

/// Problems printed per site (all are counted).
const MAX_REPORTS: usize = 12;
/// Sweeps of each site and kind.
const PASSES: u32 = 2;
/// No call has more kaio allocations/copies than this; reaching it means the sweep is stuck.
const MAX_K: u32 = 300;
/// Longest one site may take before the program bails out.
const SITE_LIMIT_S: u32 = 150;

extern "C" fn on_alarm(_: libc::c_int) {
    let msg = b"Bail out! a site hung (see the last '# site' line)\n";
    // SAFETY: async-signal-safe write and _exit.
    unsafe {
        libc::write(1, msg.as_ptr().cast(), msg.len());
        libc::_exit(1);
    }
}

fn watchdog(seconds: u32) {
    // SAFETY: installs a handler that only calls async-signal-safe functions; sets an alarm.
    unsafe {
        libc::signal(libc::SIGALRM, on_alarm as *const () as libc::sighandler_t);
        libc::alarm(seconds);
    }
}

fn usage(why: &str) -> ! {
    eprintln!("kaio-faults: {why}\nusage: kaio-faults [-v] [--seed S] [--soak-seconds N] [FILTER]");
    std::process::exit(2);
}

/// A number in decimal or 0x hex.
fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn out(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{s}");
    let _ = o.flush();
}

/// Faults injected into one site, per kind.
#[derive(Clone, Copy, Default)]
struct Count {
    /// All of them.
    injected: u32,
    /// Those that made the call fail.
    failed: u32,
    /// Of those that did not fail the call, the ones in __GFP_NOWARN allocations (no
    /// FAULT_INJECTION notice in the log): mostly the
    /// kernel's own debug bookkeeping done on kaio's behalf (kmemleak metadata, debugobjects,
    /// KASAN stack depot), which falls back to reserves; they rarely fail the call.
    quiet: u32,
}

impl Count {
    fn add(&mut self, o: Count) {
        self.injected += o.injected;
        self.failed += o.failed;
        self.quiet += o.quiet;
    }
    /// "30 = 13 + 2 + 15": failed the call + absorbed + __GFP_NOWARN.
    fn show(&self) -> String {
        let absorbed = self.injected - self.failed - self.quiet;
        format!("{:>3} = {:>2}+{:>2}+{:>2}", self.injected, self.failed, absorbed, self.quiet)
    }
}

struct Outcome {
    counts: [Count; 3],
    failures: Vec<String>,
}

/// Sweeps one site over the three capabilities.
fn sweep(fi: &Fi, kmsg: Option<&Kmsg>, sc: &mut dyn Scenario, verbose: bool) -> Outcome {
    let name = sc.name();
    let mut o = Outcome { counts: [Count::default(); 3], failures: Vec::new() };
    out(&format!("# site {name}"));
    watchdog(SITE_LIMIT_S);
    for kind in KINDS {
        if let Err(e) = fi.select(&[kind]) {
            o.failures.push(format!("{}: selecting: {e}", kind.dir()));
            continue;
        }
        let bug = |o: &mut Outcome, k: u32, m: String| {
            let line = format!("BUG site=\"{name}\" fault={} k={k}: {m}", kind.dir());
            if o.failures.len() < MAX_REPORTS {
                out(&format!("# {line}"));
            }
            o.failures.push(line);
        };
        set_base_nr();
        if let Err(e) = sc.begin() {
            bug(&mut o, 0, format!("setting up (no fault armed): {e}"));
            let _ = sc.end();
            continue;
        }
        let mut k = 1;
        let mut pass = 1;
        let mut einval_ks = Vec::new();
        loop {
            if k > MAX_K {
                bug(&mut o, k, format!("still injecting faults after {MAX_K} calls"));
                break;
            }
            if let Err(e) = sc.prepare() {
                bug(&mut o, k, format!("preparing the call (no fault armed): {e}"));
                break;
            }
            let (r, injected) = match sc.call(fi, k) {
                Ok(x) => x,
                Err(e) => {
                    bug(&mut o, k, format!("making the call: {e}"));
                    break;
                }
            };
            if injected && kind == Kind::Copy && r == Err(libc::EINVAL) {
                einval_ks.push(k);
                if einval_ks.len() == PASSES as usize + 1 {
                    bug(&mut o, k, format!(
                        "EINVAL for user-copy faults at k={einval_ks:?}: only one copy per call (the lookup's read of ring->id) may give EINVAL, the others EFAULT"
                    ));
                }
            }
            let checked = sc.check(kind, r, injected);
            let (splat, notices) = kmsg.map_or((None, 1), |m| m.scan());
            if verbose {
                let what = if !injected { "no fault" } else if notices == 0 { "injected, __GFP_NOWARN" } else { "injected" };
                out(&format!("#   {} pass {pass} k={k}: {} ({what})", kind.short(), rstr(&r)));
            }
            if let Some(splat) = splat {
                bug(&mut o, k, format!(
                    "the kernel logged a splat (the runner fails the run on it): {splat} (call returned {}; warn_alloc is rate-limited to one per 10 s, so later faults of the same kind may print nothing)",
                    rstr(&r)
                ));
            }
            if let Err(e) = checked {
                bug(&mut o, k, format!("{}: {e}", if injected { format!("call returned {}", rstr(&r)) } else { format!("no fault injected, call returned {}", rstr(&r)) }));
                // Start again from a clean state for the next k.
                if let Err(e) = sc.end() {
                    bug(&mut o, k, format!("cleaning up after it: {e}"));
                }
                unmap_all_rings();
                if let Err(e) = sc.begin() {
                    bug(&mut o, k, format!("setting up again: {e}"));
                    break;
                }
            }
            if !injected {
                // The kernel's own debug allocations (debugobjects pool refills, KASAN's stack
                // depot) come and go and may shift the count by one, so that a k skips a site:
                // every site is swept twice.
                if pass == PASSES {
                    break;
                }
                pass += 1;
                k = 1;
                continue;
            }
            let c = &mut o.counts[kind.index()];
            c.injected += 1;
            if sc.failed(&r) {
                c.failed += 1;
            } else if notices == 0 {
                c.quiet += 1;
            }
            k += 1;
        }
        if let Err(e) = sc.end() {
            bug(&mut o, k, format!("after the sweep: {e}"));
        }
        if let Err(e) = expect_clean() {
            bug(&mut o, k, format!("after the sweep: {e}"));
            // Do not let what is left spoil the next sites' checks.
            unmap_all_rings();
        }
    }
    let _ = fi.select(&[]);
    if o.failures.len() > MAX_REPORTS {
        out(&format!("# ... and {} more problems at this site", o.failures.len() - MAX_REPORTS));
    }
    // SAFETY: cancels the alarm.
    unsafe { libc::alarm(0) };
    o
}

/// The kmemleak report, as objects (address line + the rest), if kmemleak is there.
fn kmemleak(scan: bool) -> Option<Vec<String>> {
    let p = "/sys/kernel/debug/kmemleak";
    if scan {
        // Two scans some seconds apart, so objects on their way out (RCU, work) are not taken
        // for leaks; as the runner does.
        std::fs::write(p, "scan").ok()?;
        std::thread::sleep(std::time::Duration::from_secs(5));
        std::fs::write(p, "scan").ok()?;
    }
    let text = std::fs::read_to_string(p).ok()?;
    let mut objs: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with("unreferenced object") {
            objs.push(String::new());
        }
        if let Some(last) = objs.last_mut() {
            last.push_str(line);
            last.push('\n');
        }
    }
    Some(objs)
}

fn main() {
    let (mut verbose, mut filter, mut seed, mut soak_seconds) = (false, None, soak::SEED, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |what: &str| args.next().unwrap_or_else(|| usage(&format!("{what} needs a value")));
        match a.as_str() {
            "-v" => verbose = true,
            "--seed" => seed = parse_u64(&value("--seed")).unwrap_or_else(|| usage("bad --seed")),
            "--soak-seconds" => soak_seconds = Some(value("--soak-seconds").parse::<u64>().unwrap_or_else(|_| usage("bad --soak-seconds"))),
            _ if a.starts_with('-') => usage(&format!("unknown option {a}")),
            _ => filter = Some(a),
        }
    }
    out("KTAP version 1");
    match fi::availability() {
        fi::Availability::None => {
            // A kernel without fault injection (the release guest): one skipped test, which the
            // runner counts as a skip (a whole-suite `1..0 # SKIP` would count as a failure).
            out("1..1");
            out("ok 1 kaio_faults # SKIP this kernel has no fault injection (failslab, fail_page_alloc, fail_usercopy in debugfs)");
            std::process::exit(0);
        }
        fi::Availability::Partial(why) => {
            out("1..0");
            out(&format!("Bail out! fault injection is only partly there: {why}"));
            std::process::exit(1);
        }
        fi::Availability::All => {}
    }
    let range = match fi::module_range() {
        Ok(r) => r,
        Err(e) => {
            out("1..0");
            out(&format!("Bail out! kaio's text: {e}"));
            std::process::exit(1);
        }
    };
    if let Err(e) = expect_clean() {
        out("1..0");
        out(&format!("Bail out! kaio is in use before the test: {e}"));
        std::process::exit(1);
    }
    let leaks_before = kmemleak(false).unwrap_or_default();
    let mut fi = match Fi::new(range) {
        Ok(f) => f,
        Err(e) => {
            out("1..0");
            out(&format!("Bail out! configuring fault injection: {e}"));
            std::process::exit(1);
        }
    };
    let poll = poll_supported();
    let kmsg = Kmsg::open();
    if kmsg.is_none() {
        out("# /dev/kmsg cannot be read: splats are not tied to faults here (the runner still sees them)");
    }
    let mut sites: Vec<Box<dyn Scenario>> = vec![
        Box::new(Open::new()),
        Box::new(Setup::new()),
        Box::new(NewProcess),
    ];
    for op in OPS {
        if op != Op::Poll || poll {
            sites.push(Box::new(Submit::new(op)));
        }
    }
    sites.push(Box::new(Getevents::new(false)));
    sites.push(Box::new(Getevents::new(true)));
    sites.push(Box::new(Cancel::new()));
    sites.push(Box::new(scenarios_v2::CmWait::new(false)));
    sites.push(Box::new(scenarios_v2::CmWait::new(true)));
    sites.push(Box::new(scenarios_v2::CmResult::new()));
    sites.push(Box::new(scenarios_v2::CmAny::new()));
    sites.push(Box::new(scenarios_v2::Pgetevents::new()));
    sites.push(Box::new(Destroy::new()));
    sites.push(Box::new(Release::new()));
    sites.push(Box::new(Exit));
    sites.retain(|s| filter.as_ref().is_none_or(|f| s.name().contains(f.as_str())));
    let soak = filter.as_ref().is_none_or(|f| "soak".contains(f.as_str()));
    let plan = sites.len() + usize::from(soak) + 2;
    out(&format!("1..{plan}"));
    out(&format!(
        "# kaio text {:#x}..{:#x}; failslab, fail_page_alloc, fail_usercopy restricted to it (require-start/require-end)",
        range.start, range.end
    ));
    if !poll {
        out("# POLL is not implemented by this kaio.ko (EINVAL): not swept");
    }
    let start = std::time::Instant::now();
    let mut n = 0;
    let mut table: Vec<(String, [Count; 3])> = Vec::new();
    let mut soak_line = None;
    let mut total_bugs = 0;
    for sc in sites.iter_mut() {
        n += 1;
        let t = std::time::Instant::now();
        let o = sweep(&fi, kmsg.as_ref(), sc.as_mut(), verbose);
        let c = o.counts;
        let desc = format!(
            "{}: faults injected: slab {} page {} usercopy {}, {} of them failed the call ({:.1} s)",
            sc.name(),
            c[0].injected,
            c[1].injected,
            c[2].injected,
            c.iter().map(|x| x.failed).sum::<u32>(),
            t.elapsed().as_secs_f64()
        );
        table.push((sc.name(), c));
        total_bugs += o.failures.len();
        if o.failures.is_empty() {
            out(&format!("ok {n} {desc}"));
        } else {
            out(&format!("not ok {n} {desc}: {} problem(s)", o.failures.len()));
        }
    }
    if soak {
        n += 1;
        let length = match soak_seconds {
            Some(secs) => {
                watchdog(SITE_LIMIT_S + secs as u32);
                soak::Length::Until(std::time::Instant::now() + std::time::Duration::from_secs(secs))
            }
            None => {
                watchdog(SITE_LIMIT_S);
                soak::Length::Calls(400)
            }
        };
        match soak::run(&fi, kmsg.as_ref(), seed, length) {
            Ok(s) => {
                soak_line = Some(format!(
                    "#   {:<34} {:<16} {:<16} {:<16} ({} calls, {} of them failed; {} cancel_match, {} pgetevents; history: {} scribbled, {} moved, {} faulting ctxp)",
                    "soak (random faults)", s.counts[0], s.counts[1], s.counts[2], s.calls, s.errors, s.v2[0], s.v2[1], s.history[0], s.history[1], s.history[2]
                ));
                out(&format!(
                    "ok {n} soak: {} calls ({} cancel_match, {} pgetevents, {} history scenarios) with random kaio faults (probability {}%, task-filter, seed {seed:#x}): injected slab {} page {} usercopy {}",
                    s.calls, s.v2[0], s.v2[1], s.history.iter().sum::<u32>(), soak::PERCENT, s.counts[0], s.counts[1], s.counts[2]
                ));
            }
            Err(e) => {
                total_bugs += 1;
                out(&format!("# BUG site=\"soak\": {e}"));
                out(&format!("not ok {n} soak"));
            }
        }
        // SAFETY: cancels the alarm.
        unsafe { libc::alarm(0) };
    }
    out(&format!(
        "# faults injected per site ({PASSES} sweeps each), per kind: total = failed the call + absorbed (the call succeeded) + in __GFP_NOWARN allocations (mostly kmemleak/debugobjects/KASAN bookkeeping)"
    ));
    out(&format!("#   {:<34} {:<16} {:<16} {:<16}", "site", "slab", "page", "usercopy"));
    let mut sum = [Count::default(); 3];
    for (name, c) in &table {
        out(&format!("#   {name:<34} {:<16} {:<16} {:<16}", c[0].show(), c[1].show(), c[2].show()));
        for i in 0..3 {
            sum[i].add(c[i]);
        }
    }
    out(&format!(
        "#   {:<34} {:<16} {:<16} {:<16} ({:.0} s)",
        "total",
        sum[0].show(),
        sum[1].show(),
        sum[2].show(),
        start.elapsed().as_secs_f64()
    ));
    if let Some(l) = soak_line {
        out(&l);
    }
    n += 1;
    match fi.restore() {
        Ok(()) => out(&format!("ok {n} fault-injection settings restored")),
        Err(e) => {
            total_bugs += 1;
            out(&format!("not ok {n} fault-injection settings restored: {e}"));
        }
    }
    n += 1;
    let clean = match nr_param() {
        0 => expect_clean(),
        n => Err(format!("/sys/module/kaio/parameters/nr is {n} with no context left")),
    };
    match (clean, kmemleak(true)) {
        (Err(e), _) => {
            total_bugs += 1;
            out(&format!("not ok {n} nothing left behind: {e}"));
        }
        (Ok(()), None) => out(&format!("ok {n} nothing left behind (nr 0, no ring, no file; kmemleak absent) # SKIP no kmemleak")),
        (Ok(()), Some(now)) => {
            let new: Vec<&String> = now.iter().filter(|o| !leaks_before.contains(o)).collect();
            if new.is_empty() {
                out(&format!("ok {n} nothing left behind (nr 0, no ring, no file, no new kmemleak report)"));
            } else {
                for o in new.iter().take(6) {
                    for l in o.lines().take(24) {
                        out(&format!("#   {l}"));
                    }
                }
                out(&format!("not ok {n} nothing left behind: kmemleak reports {} new unreferenced object(s)", new.len()));
                total_bugs += 1;
            }
        }
    }
    std::process::exit(if total_bugs == 0 { 0 } else { 1 });
}
