//! Runs the host checks of libkaio-posix (`make -C tests/libkaio-posix check`: layouts against
//! glibc's `<aio.h>`, the shared library's exports and binding, the conformance program on the
//! host's glibc, the kaio build's skip without `/dev/kaio`), building into this test's scratch
//! directory so that it never races a developer's build.

use std::process::Command;

#[test]
fn libkaio_posix_host_checks() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../libkaio-posix");
    let build = format!("{}/libkaio-posix", env!("CARGO_TARGET_TMPDIR"));
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
    assert!(out.status.success(), "make check in tests/libkaio-posix failed:\n{text}");
    assert!(text.contains("libkaio-posix host checks passed"), "{text}");
    assert!(!text.contains("not ok"), "{text}");
}
