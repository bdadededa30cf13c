//! kaio-tests: the guest-side test program. Prints KTAP; `-l` lists the cases, `-t NAME` runs
//! the cases whose name contains NAME. Exits 4 (skip) when `/dev/kaio` is absent.

mod cases;
mod ktap;
mod util;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cases = cases::all();
    if args.iter().any(|a| a == "-l") {
        for c in &cases {
            println!("{}", c.name);
        }
        return;
    }
    let filter = args.iter().position(|a| a == "-t").and_then(|i| args.get(i + 1)).map(|s| s.as_str());
    let skip = (!std::path::Path::new(kaio::raw::DEVICE).exists()).then_some("/dev/kaio is absent (kaio.ko not loaded)");
    std::process::exit(ktap::run(&cases, filter, skip));
}
