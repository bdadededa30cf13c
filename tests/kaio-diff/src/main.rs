//! kaio-diff: differential tests of kaio against the running kernel's native AIO. KTAP output.
//!
//! Usage:
//!   kaio-diff                         the default set: seeds 1..=SEEDS (SEEDS steps each) and
//!                                     every POLL race test
//!   kaio-diff --seed S --steps N [-v] one random sequence (-v prints every step and result)
//!   kaio-diff --seeds A-B --steps N   a range of seeds
//!   kaio-diff --races [-t NAME]       only the race tests (whose name contains NAME)
//!   kaio-diff --no-races              only the random sequences
//!   kaio-diff -l                      list the tests
//!
//! Environment: KAIO_DIFF_SEEDS (default 48), KAIO_DIFF_STEPS (default 250),
//! KAIO_DIFF_ROUNDS (a factor for the race tests' round counts, default 1).

mod aio;
mod diff;
mod ktap;
mod races;
mod util;

use std::time::Duration;

fn arg<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(|s| s.as_str())
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let verbose = args.iter().any(|a| a == "-v");
    let steps = arg(&args, "--steps").and_then(|s| s.parse().ok()).unwrap_or(env_u64("KAIO_DIFF_STEPS", 250));
    let seeds: Vec<u64> = if let Some(s) = arg(&args, "--seed") {
        vec![s.parse().expect("--seed takes a number")]
    } else if let Some(r) = arg(&args, "--seeds") {
        let (a, b) = r.split_once('-').expect("--seeds A-B");
        (a.parse().expect("seed")..=b.parse().expect("seed")).collect()
    } else if args.iter().any(|a| a == "--races") {
        Vec::new()
    } else {
        (1..=env_u64("KAIO_DIFF_SEEDS", 48)).collect()
    };
    let races = !args.iter().any(|a| a == "--no-races") && arg(&args, "--seed").is_none() && arg(&args, "--seeds").is_none();
    let filter = arg(&args, "-t").map(|s| s.to_string());

    // Both worlds native: checks that the harness itself is deterministic (host use).
    let native_twice = args.iter().any(|a| a == "--native-twice");
    let mut tests: Vec<ktap::Test> = Vec::new();
    for seed in seeds {
        tests.push(ktap::Test {
            name: format!("diff_seed_{seed}"),
            run: Box::new(move || diff::run(&diff::Opts { seed, steps, verbose, native_twice })),
        });
    }
    if races {
        tests.extend(races::tests());
    }
    if let Some(f) = &filter {
        tests.retain(|t| t.name.contains(f.as_str()));
    }
    if args.iter().any(|a| a == "-l") {
        for t in &tests {
            println!("{}", t.name);
        }
        return;
    }
    let all_native = !tests.is_empty() && tests.iter().all(|t| t.name.ends_with(".native"));
    if !native_twice && !all_native && !std::path::Path::new(kaio::raw::DEVICE).exists() {
        println!("KTAP version 1");
        println!("1..0 # SKIP /dev/kaio is absent (kaio.ko not loaded)");
        std::process::exit(4);
    }
    // SAFETY: ignoring SIGPIPE (writes to a pipe without readers give EPIPE).
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    std::process::exit(ktap::run(tests, Duration::from_secs(240)));
}
