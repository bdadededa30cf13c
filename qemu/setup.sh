#!/usr/bin/env bash
# Install what building and booting the guests needs, if it is missing: Debian packages and a
# pinned bindgen-cli (Debian's bindgen is older than 6.12's minimum). Idempotent and quiet
# when everything is present.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/toolchain.sh"
packages=(rustc-web rust-web-src clang lld llvm libclang-dev flex bison bc libelf-dev
	libssl-dev cpio qemu-system-x86 busybox-static linux-source-6.12 rsync
	libaio-dev fio python3-matplotlib)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
bindgen_version=0.73.2
if ! "$KAIO_BINDGEN" --version 2>/dev/null | grep -qx "bindgen $bindgen_version"; then
	echo "setup: cargo install bindgen-cli $bindgen_version"
	cargo install --quiet bindgen-cli --version "$bindgen_version" --locked
fi
# libaio's source (its test harness: tests/libaio-harness) into the cache, when missing. Not
# fatal here: without it only the libaio_harness test fails (its build fetches it again).
"$here/../tests/libaio-harness/fetch-source.sh" >/dev/null ||
	echo "setup: could not fetch libaio's source; the libaio_harness test will fail" >&2
