#!/usr/bin/env bash
# make-payload.sh VARIANT DIR: fill DIR (it becomes /kaio in the guest) with kaio.ko built for
# VARIANT, the static test programs and the selftest scripts.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
variant=$1 dir=$2
mkdir -p "$dir/bin"
cp "$top/build/$variant/kaio.ko" "$dir/kaio.ko"
for p in "$top"/tests/target/x86_64-unknown-linux-gnu/release/*; do
	[ -f "$p" ] && [ -x "$p" ] && cp "$p" "$dir/bin/"
done
# The libaio-compatible library's guest programs (static) and their KTAP driver.
make -s -C "$top/tests/libaio-compat" >/dev/null
cp "$top"/tests/libaio-compat/build/guest/libaio-* "$dir/bin/"
# POSIX AIO: the conformance program against glibc and against libkaio-posix, the example,
# and their KTAP driver (tests/libkaio-posix); without them the posix_aio test fails.
if make -s -C "$top/tests/libkaio-posix" >/dev/null 2>&1; then
	cp "$top"/tests/libkaio-posix/build/guest/posix-aio-* "$top"/tests/libkaio-posix/build/guest/aio-copy "$dir/bin/"
else
	echo "make-payload: tests/libkaio-posix did not build; the posix_aio test will fail" >&2
fi
# libaio's own test harness, each case built against the system's libaio and against ours
# (tests/libaio-harness); without it the libaio_harness test fails.
if make -s -C "$top/tests/libaio-harness" >/dev/null; then
	cp -r "$top/tests/libaio-harness/build/guest" "$dir/libaio-harness"
else
	echo "make-payload: no libaio harness; the libaio_harness test will fail" >&2
fi
cp -r "$top/tests/selftests" "$dir/selftests"
cp "$top/tests/guest/run-tests.sh" "$dir/run-tests.sh"
# The fio bundle (tests/fio): Debian's fio, its libraries, the system's libaio and ours; built
# once into build/fio-bundle and reused while its inputs are unchanged.
if "$top/tests/fio/make-bundle.sh" "$top/build/fio-bundle" >&2; then
	cp -r "$top/build/fio-bundle" "$dir/fio"
else
	echo "make-payload: no fio bundle; the kaio_fio test will fail" >&2
fi
