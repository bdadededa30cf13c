#!/usr/bin/env bash
# The history cases' own test: for each fixed bug (of fs/aio.c, or kaio's own) that can be put back into kaio (a
# `cfg(kaio_bug = "NAME")` in rust/, see Kbuild), build that broken kaio.ko, run the case that
# reproduces the bug against it in the release guest, and require the case to FAIL (and, as a
# control, the same case to pass on the real module in the same guest). Prints one "ok"/"FAIL"
# line per bug and, last, "P F" (passed, failed), like ktap-summary.sh.
#   check-bugs.sh [LOGDIR]
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
logroot=${1:-$top/build/logs/bugs-$(date +%Y%m%d-%H%M%S)}
variant=release
# NAME PROGRAM CASE: the bug put back, and the case of kaio-tests or kaio-diff (its kaio half)
# that must catch it (tests/aio-bugs.md). polled_list_after_event stays last: its hung child
# keeps the broken module loaded, so nothing can run after it in the same guest.
bugs="
fsync_creds         tests history_fsync_runs_with_submitter_creds
destroy_no_wait     tests history_destroy_waits_for_every_request
destroy_stale_base  tests history_ring_mremap_vs_destroy
setup_error_leak    tests history_ring_mmap_over_rlimit_as
efault_no_teardown  tests history_setup_faulting_ctxp_vs_destroy
debugfs_after_kill  tests stats_debugfs_setup_vs_destroy_race
rw_no_verify_area   tests history_rw_offsets_past_llong_max
rw_nbytes_unchecked tests socket_rw_huge_lengths
mremap_any_mm       diff  mremap_ring_after_fork.kaio
poll_resfd_inline   diff  poll_resfd_eventfd_recursion.kaio
polled_resume_ignores_claim tests polled_rw_race_data_vs_cancel
polled_wake_during_arming tests polled_rw_race_wake_during_arming
ctx_freed_in_irq    tests destroy_last_reference_in_process_context
rw_listed_before_checks tests cancel_match_never_sees_refused_read
posted_after_unlist tests cancel_wait_sees_completions_in_progress
poll_wake_posted_after_unlist tests cancel_wait_sees_completions_in_progress
poll_work_posted_after_unlist tests cancel_wait_sees_completions_in_progress
cancel_posted_after_unlist tests cancel_wait_sees_completions_in_progress
polled_socket_error_ignored tests polled_rw_socket_error_after_attempt_is_not_lost
polled_list_after_event tests polled_rw_race_wake_during_submit
"
# Bugs whose broken module cannot be unloaded after its case (workers or processes left stuck
# in it): each gets a guest of its own, after the others.
alone="
worker_mmput_sync   tests polled_rw_worker_attempt_vs_exit
blocking_attempt_uninterruptible tests polled_rw_blocked_tty_read_is_stoppable
blocking_attempt_holds_mm tests polled_rw_blocked_tty_read_is_stoppable
"
# The guest command that runs one case of PROGRAM.
case_command() {
	case $1 in
	tests) echo "env KAIO_TEST_FILTER=$2 sh selftests/with_module.sh bin/kaio-tests" ;;
	diff) echo "sh selftests/with_module.sh bin/kaio-diff --races -t $2" ;;
	esac
}
passed=0 failed=0
mkdir -p "$logroot"
payload=$logroot/payload
rm -rf "$payload"
# The real module, for the control runs (up to date after `make check`, built here otherwise).
if ! "$top/qemu/build-module.sh" "$variant" > "$logroot/module-build.log" 2>&1; then
	echo "FAIL bugs: building the real module (log $logroot/module-build.log)"; echo "0 1"; exit 0
fi
"$top/tests/make-payload.sh" "$variant" "$payload" 2>> "$logroot/payload.log"
mkdir -p "$payload/bugs"
: > "$payload/tests.list"
# Builds the module with BUG put back into the payload and appends its two runs (the real
# module, then up to three against the broken one: some bugs are races that a busy host can
# hide once; the case is caught if any run fails) to the payload's tests.list.
add_bug() {
	local bug=$1 prog=$2 case=$3
	if ! KAIO_BUG=$bug "$top/qemu/build-module.sh" "$variant" > "$logroot/module-build-$bug.log" 2>&1; then
		echo "FAIL bugs: building the module with KAIO_BUG=$bug (log $logroot/module-build-$bug.log)"; failed=$((failed + 1)); return 1
	fi
	cp "$top/build/$variant-bug-$bug/kaio.ko" "$payload/bugs/$bug.ko"
	echo "fixed_$bug 300 $(case_command "$prog" "$case")" >> "$payload/tests.list"
	echo "bug_$bug 300 for run in 1 2 3; do env KAIO_KO=/kaio/bugs/$bug.ko $(case_command "$prog" "$case") || exit 1; done" >> "$payload/tests.list"
}
# One test's output in LOG: the lines between its KAIO-TEST-BEGIN and KAIO-TEST-END markers.
output() { tr -d '\r' < "$2" | awk -v n="$1" '$1 == "KAIO-TEST-BEGIN" { on = ($2 == n); next } $1 == "KAIO-TEST-END" { on = 0 } on'; }
# Judges one bug's two runs in LOG.
judge() {
	local bug=$1 case=$2 log=$3 fixed broken why
	[ -f "$payload/bugs/$bug.ko" ] || return
	fixed=$(output "fixed_$bug" "$log") broken=$(output "bug_$bug" "$log")
	if ! grep -q "^ok [0-9]* $case\$" <<< "$fixed"; then
		echo "FAIL bugs: $case does not pass on the real module (log $log)"; failed=$((failed + 1))
	elif grep -q "^not ok [0-9]* $case\$" <<< "$broken"; then
		why=$(grep -m1 "^# $case: " <<< "$broken" | sed "s/^# $case: //" | cut -c1-200)
		echo "ok   bugs: $bug put back is caught by $case ($why)"; passed=$((passed + 1))
	else
		echo "FAIL bugs: $bug put back went unnoticed by $case (log $log)"; failed=$((failed + 1))
	fi
}
# Boots the payload's tests.list in LOGDIR.
boot() {
	local timeout_s
	echo "sh /kaio/run-tests.sh" > "$payload/job"
	timeout_s=$(awk '{ s += $2 } END { print s + 120 }' "$payload/tests.list")
	"$top/qemu/boot.sh" "$variant" "$payload" "$1" "$timeout_s"
}
while read -r bug prog case; do
	[ -n "$bug" ] || continue
	add_bug "$bug" "$prog" "$case" || true
done <<< "$bugs"
boot "$logroot"
while read -r bug prog case; do
	[ -n "$bug" ] || continue
	judge "$bug" "$case" "$logroot/tests.log"
done <<< "$bugs"
while read -r bug prog case; do
	[ -n "$bug" ] || continue
	: > "$payload/tests.list"
	add_bug "$bug" "$prog" "$case" || continue
	boot "$logroot/alone-$bug"
	judge "$bug" "$case" "$logroot/alone-$bug/tests.log"
done <<< "$alone"
echo "$passed $failed"
