#!/usr/bin/env bash
# The harness's own test: for each deliberate defect (a leak, a WARN, a sleep under a
# spinlock; see rust/selftest_faults.rs), build a broken kaio.ko, run the module selftest with
# it in the debug guest, and require the run to FAIL. Prints one "ok"/"FAIL" line per defect
# and, last, "P F" (passed, failed), like ktap-summary.sh.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
logroot=${1:-$top/build/logs/harness-$(date +%Y%m%d-%H%M%S)}
passed=0 failed=0
for fault in leak warn sleep; do
	logdir=$logroot/inject-$fault
	mkdir -p "$logdir"
	if ! KAIO_INJECT=$fault "$top/qemu/build-module.sh" debug > "$logdir/module-build.log" 2>&1; then
		echo "FAIL harness: building the module with KAIO_INJECT=$fault"; failed=$((failed + 1)); continue
	fi
	payload=$logdir/payload
	mkdir -p "$payload"
	cp -r "$top/tests/selftests" "$payload/selftests"
	cp "$top/tests/guest/run-tests.sh" "$payload/run-tests.sh"
	cp "$top/build/debug-inject-$fault/kaio.ko" "$payload/kaio.ko"
	echo "kaio_module 120 sh selftests/kaio_module.sh" > "$payload/tests.list"
	echo "sh /kaio/run-tests.sh" > "$payload/job"
	"$top/qemu/boot.sh" debug "$payload" "$logdir" 300
	boot=$?
	summary=$("$top/tests/ktap-summary.sh" debug "$logdir" "$boot")
	read -r _ vf < <(echo "$summary" | tail -1)
	if [ "$vf" -gt 0 ]; then
		why=$(echo "$summary" | grep '^FAIL' | sed 's/^FAIL debug\///' | head -3 | paste -sd ';' -)
		echo "ok   harness: injected $fault is caught ($why)"; passed=$((passed + 1))
	else
		echo "FAIL harness: injected $fault went unnoticed (log $logdir/console.log)"; failed=$((failed + 1))
	fi
done
echo "$passed $failed"
