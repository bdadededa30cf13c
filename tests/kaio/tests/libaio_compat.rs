//! Runs the host tests of the libaio-compatible C library (`make -C tests/libaio-compat
//! check`: the library against a fake /dev/kaio, its header against the system's libaio.h),
//! building into this test's scratch directory so that it never races a developer's build.

use std::process::Command;

#[test]
fn libaio_compat_host_checks() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../libaio-compat");
    let build = format!("{}/libaio-compat", env!("CARGO_TARGET_TMPDIR"));
    let out = Command::new("make")
        .args(["-s", "-C", dir, "check"])
        .arg(format!("BUILD={build}"))
        .output()
        .expect("running make");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "make check in tests/libaio-compat failed:\n{text}");
    assert!(text.contains("libaio-compat host checks passed"), "{text}");
    assert!(!text.contains("not ok"), "{text}");
}
