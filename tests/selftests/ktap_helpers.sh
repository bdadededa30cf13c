#!/bin/sh
# KTAP helpers for the shell selftests, after tools/testing/selftests/kselftest/ktap_helpers.sh.
KSFT_PASS=0; KSFT_FAIL=1; KSFT_SKIP=4
ktap_n=0; ktap_pass=0; ktap_fail=0; ktap_skip=0; ktap_plan=0
ktap_print_header() { echo "KTAP version 1"; }
ktap_set_plan() { ktap_plan=$1; echo "1..$1"; }
ktap_skip_all() { echo "1..0 # SKIP $1"; }
ktap_print_msg() { echo "# $*"; }
ktap_test_pass() { ktap_n=$((ktap_n + 1)); ktap_pass=$((ktap_pass + 1)); echo "ok $ktap_n $1"; }
ktap_test_fail() { ktap_n=$((ktap_n + 1)); ktap_fail=$((ktap_fail + 1)); echo "not ok $ktap_n $1"; }
ktap_test_skip() { ktap_n=$((ktap_n + 1)); ktap_skip=$((ktap_skip + 1)); echo "ok $ktap_n $1 # SKIP $2"; }
# ktap_test_result DESCRIPTION COMMAND...: pass iff the command succeeds.
ktap_test_result() { d=$1; shift; if "$@"; then ktap_test_pass "$d"; else ktap_test_fail "$d"; fi; }
ktap_finished() {
	echo "# Totals: pass:$ktap_pass fail:$ktap_fail xfail:0 xpass:0 skip:$ktap_skip error:0"
	[ $((ktap_pass + ktap_skip)) -eq "$ktap_plan" ] && exit $KSFT_PASS
	exit $KSFT_FAIL
}
