#!/bin/sh
# long_run.sh SECONDS PROGRAM [ARGS...]: run a reliability program for as long as asked, as a
# series of fresh runs, each with a new seed; one KTAP result per run.
#
#   CHUNK=300 (default): each run of PROGRAM gets `--seconds CHUNK` (the last one what is left),
#       for programs with a time budget (bin/kaio-stress, bin/kaio-fuzz). Several shorter runs
#       rather than one long one also exercise process exit and module state between runs.
#   CHUNK=0: PROGRAM runs as it is (no --seconds added), again and again until SECONDS have
#       passed (bin/kaio-hostile, any KTAP program).
#   STOP_ON_FAIL=1: stop after the first failed run (default: keep going, report them all).
#
# Each run's own KTAP output is passed through indented by four spaces (a nested KTAP test, so
# its "ok" lines are not counted as ours), followed by "ok N run N: PROGRAM seed=S (T s)" or
# "not ok ...". A run fails if PROGRAM exits non-zero or if the kernel log (dmesg) gained a
# splat while it ran: the seed on that line reproduces it (PROGRAM --seed S --seconds T).
# Exit status: 0 if every run passed, 1 otherwise.
#
# Examples (run from /kaio in a guest, kaio.ko loaded, e.g. through selftests/with_module.sh):
#   sh selftests/long_run.sh 3600 bin/kaio-stress --threads 4
#   CHUNK=120 sh selftests/long_run.sh 86400 bin/kaio-fuzz
#   CHUNK=0 sh selftests/long_run.sh 600 bin/kaio-hostile
# A tests.list line (NAME TIMEOUT_S COMMAND), timeout above SECONDS plus one CHUNK:
#   stress_1h 4200 sh selftests/with_module.sh sh selftests/long_run.sh 3600 bin/kaio-stress
# Or from the host without a tests.list entry: put the binaries and this script in a directory
# with a `run` script calling it, and `make run PROG=that/dir TIMEOUT=...`.
total=${1:?usage: long_run.sh SECONDS PROGRAM [ARGS...]}
shift
prog=${1:?usage: long_run.sh SECONDS PROGRAM [ARGS...]}
shift
chunk=${CHUNK:-300}
splat_re='BUG:|WARNING:|KASAN:|Oops|Kernel panic|general protection fault|kernel BUG|UBSAN:|RCU stall|detected stalls|rcu: INFO|INFO: task .* blocked|soft lockup|hard LOCKUP|Call Trace:|ODEBUG:|list_(add|del) corruption|DEBUG_LOCKS_WARN_ON|panicked at'

now() { cut -d. -f1 /proc/uptime; }
splats() { dmesg 2>/dev/null | grep -cE "$splat_re"; }

echo "KTAP version 1"
if [ "$chunk" -gt 0 ]; then
	runs=$(( (total + chunk - 1) / chunk ))
	[ "$runs" -gt 0 ] || runs=1
	echo "1..$runs"
fi
echo "# long_run: $prog $*, $total s in total, chunk ${chunk:-0} s"
start=$(now)
n=0 failed=0
out=/tmp/long_run.$$.out
while :; do
	elapsed=$(( $(now) - start ))
	if [ "$chunk" -gt 0 ]; then
		[ "$n" -lt "$runs" ] || break
		left=$(( total - elapsed ))
		secs=$chunk
		[ "$left" -lt "$secs" ] && secs=$left
		[ "$secs" -lt 1 ] && secs=1
	else
		[ "$elapsed" -lt "$total" ] || break
	fi
	n=$((n + 1))
	before=$(splats)
	t0=$(now)
	if [ "$chunk" -gt 0 ]; then
		"$prog" --seconds "$secs" "$@" > "$out" 2>&1
	else
		"$prog" "$@" > "$out" 2>&1
	fi
	rc=$?
	took=$(( $(now) - t0 ))
	sed 's/^/    /' "$out"
	seed=$(grep -o 'seed=0x[0-9a-f]*' "$out" | head -1)
	new=$(( $(splats) - before ))
	what="run $n: $(basename "$prog") ${seed:-seed=?} (${took} s)"
	if [ "$rc" = 0 ] && [ "$new" -le 0 ]; then
		echo "ok $n $what"
	else
		[ "$new" -gt 0 ] && { echo "# run $n: $new new kernel splat line(s):"; dmesg | grep -E "$splat_re" | tail -n "$new" | sed 's/^/#   /'; }
		[ "$rc" != 0 ] && echo "# run $n: exit status $rc"
		echo "not ok $n $what"
		failed=$((failed + 1))
		[ -n "${STOP_ON_FAIL:-}" ] && break
	fi
done
rm -f "$out"
[ "$chunk" -gt 0 ] || echo "1..$n"
echo "# long_run: $n runs, $failed failed"
[ "$failed" = 0 ]
