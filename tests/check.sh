#!/usr/bin/env bash
# `make check`: set up, build, boot both guests, run everything, summarise.
#   VARIANTS  guests to run (default "release debug")
#   TEST      only the tests.list entries whose name contains this
#   CASE      only the kaio-tests cases whose name contains this
# Prints one line per result and, last, "N passed, N failed"; exits non-zero on any failure.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
variants=${VARIANTS:-release debug}
stamp=$(date +%Y%m%d-%H%M%S)
logroot=$top/build/logs/$stamp
mkdir -p "$logroot"
passed=0 failed=0
fail() { echo "FAIL $1"; failed=$((failed + 1)); }
finish() {
	[ "$failed" = 0 ] || echo "logs kept in $logroot"
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ]
	exit
}
"$top/qemu/setup.sh" || { fail "setup: installing the tool chain"; finish; }

# Host: ABI layout and library tests.
if [ -z "${TEST:-}" ]; then
	(cd "$top/tests" && cargo test --target x86_64-unknown-linux-gnu 2>&1) > "$logroot/host-tests.log"
	host_rc=$?
	# libkaio-posix is a workspace of its own (built without the tests' crt-static flag).
	(cd "$top/tests/libkaio-posix" && CARGO_ENCODED_RUSTFLAGS= cargo test --release --target-dir build/cargo 2>&1) >> "$logroot/host-tests.log"
	[ $? = 0 ] || host_rc=1
	read -r hp hf < <(awk '/^test result:/ { p += $4; f += $6 } END { print p + 0, f + 0 }' "$logroot/host-tests.log")
	echo "ok   host: cargo test ($hp passed, $hf failed)"
	passed=$((passed + hp)); failed=$((failed + hf))
	[ "$host_rc" = 0 ] || [ "$hf" != 0 ] || fail "host: cargo test exited $host_rc (see $logroot/host-tests.log)"
fi

# Guest programs: static, for the guest's x86_64.
if ! (cd "$top/tests" && cargo build --release --target x86_64-unknown-linux-gnu --bins 2>&1) > "$logroot/test-build.log"; then
	fail "build: guest test programs (see $logroot/test-build.log)"; finish
fi

for variant in $variants; do
	logdir=$logroot/$variant
	mkdir -p "$logdir"
	if ! "$top/qemu/build-kernel.sh" "$variant" > "$logdir/kernel-build.log" 2>&1; then
		fail "$variant: kernel build (see $logdir/kernel-build.log)"; continue
	fi
	if ! "$top/qemu/build-module.sh" "$variant" > "$logdir/module-build.log" 2>&1; then
		fail "$variant: module build"; sed 's/^/#   /' "$logdir/module-build.log" | tail -30; continue
	fi
	payload=$logdir/payload
	"$top/tests/make-payload.sh" "$variant" "$payload"
	grep -v '^#' "$top/tests/tests.list" | awk -v t="${TEST:-}" 'NF && index($1, t)' > "$payload/tests.list"
	{
		echo "export KAIO_TEST_FILTER='${CASE:-}'"
		echo "sh /kaio/run-tests.sh"
	} > "$payload/job"
	timeout_s=$(awk '{ s += $2 } END { print s + 120 }' "$payload/tests.list")
	start=$(date +%s)
	WATCH_TESTS=$payload/tests.list "$top/qemu/boot.sh" "$variant" "$payload" "$logdir" "$timeout_s"
	boot_status=$?
	echo "# $variant guest: $(( $(date +%s) - start )) s, log $logdir/console.log"
	summary=$("$top/tests/ktap-summary.sh" "$variant" "$logdir" "$boot_status")
	echo "$summary" | sed '$d'
	read -r vp vf < <(echo "$summary" | tail -1)
	passed=$((passed + vp)); failed=$((failed + vf))
	if [ "$vf" != 0 ]; then
		echo "# $variant: failure, guest log kept at $logdir/console.log (test output: $logdir/tests.log)"
	fi
done
# The harness's own test: deliberately broken modules must make the debug run fail.
if [ -z "${TEST:-}" ] && [[ " $variants " == *" debug "* ]]; then
	summary=$("$top/tests/check-harness.sh" "$logroot/harness")
	echo "$summary" | sed '$d'
	read -r hp hf < <(echo "$summary" | tail -1)
	passed=$((passed + hp)); failed=$((failed + hf))
fi
# The history cases' own test: fixed fs/aio.c bugs put back must make their cases fail.
if [ -z "${TEST:-}" ] && [[ " $variants " == *" release "* ]]; then
	summary=$("$top/tests/check-bugs.sh" "$logroot/bugs")
	echo "$summary" | sed '$d'
	read -r bp bf < <(echo "$summary" | tail -1)
	passed=$((passed + bp)); failed=$((failed + bf))
fi
finish
