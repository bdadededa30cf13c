//! kaio-tests: the guest-side conformance suite. Prints KTAP.
//!
//! Usage: `kaio-tests [-l] [-t NAME] [--backend both|native|kaio] [--allow-sysctl]`
//!
//! * `-l` lists the cases (of the selected backend), `-t NAME` (or the environment variable
//!   `KAIO_TEST_FILTER`) runs the cases whose name contains NAME (`A|B`: contains A or B); a
//!   filter that selects no case fails.
//! * `--backend both` (the default) runs every case; a case defined for native AIO runs on the
//!   native system calls and on `/dev/kaio` and both must give the documented result. Exits 4
//!   (skip) when `/dev/kaio` is absent.
//! * `--backend native` runs only the comparable cases, on the native system calls only: it
//!   checks the suite's expectations against the running kernel (no `/dev/kaio` needed).
//!   The native half of the cases that change the global `aio-max-nr` sysctl is skipped unless
//!   `--allow-sysctl` is given (in `both` mode, run in the guest, it always runs).
//! * `--backend kaio` runs everything on `/dev/kaio` only.

mod aio;
mod cases;
mod files;
mod ktap;
mod util;
mod v2;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--print-file") {
        // Helper mode for the exec case: print a file's contents and exit.
        let path = args.get(i + 1).cloned().unwrap_or_default();
        print!("{}", std::fs::read_to_string(&path).unwrap_or_else(|e| format!("error {e}")));
        return;
    }
    let backend = args
        .iter()
        .position(|a| a == "--backend")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.as_str())
        .unwrap_or("both");
    let (native, kaio) = match backend {
        "both" => (true, true),
        "native" => (true, false),
        "kaio" => (false, true),
        other => {
            eprintln!("unknown backend {other} (both, native or kaio)");
            std::process::exit(2);
        }
    };
    let allow_sysctl = kaio || args.iter().any(|a| a == "--allow-sysctl");
    aio::set_mode(aio::Mode { native, kaio, allow_sysctl });
    util::install_signal_handlers();

    let cases: Vec<ktap::Case> = cases::all().into_iter().filter(|c| kaio || c.is_both()).collect();
    if args.iter().any(|a| a == "-l") {
        for c in &cases {
            println!("{}{}", c.name, if c.is_both() { "" } else { " (kaio only)" });
        }
        return;
    }
    let env_filter = std::env::var("KAIO_TEST_FILTER").ok().filter(|s| !s.is_empty());
    let filter = args
        .iter()
        .position(|a| a == "-t")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .or(env_filter);
    let skip = (kaio && !std::path::Path::new(kaio::raw::DEVICE).exists())
        .then_some("/dev/kaio is absent (kaio.ko not loaded)");
    std::process::exit(ktap::run(&cases, filter.as_deref(), skip));
}
