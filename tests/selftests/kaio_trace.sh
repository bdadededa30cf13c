#!/bin/sh
# kaio's observability in the guest: kaio-stat in each mode, and the tracepoints switched on
# and off every 50 ms while the stress program and then the fuzzer run (the debug kernel's
# checks must stay clean). Run under with_module.sh.
. /kaio/selftests/ktap_helpers.sh
T=/sys/kernel/tracing
[ -d $T/events ] || mount -t tracefs tracefs $T
ktap_print_header
ktap_set_plan 5
out=/tmp/kaio-stat.out

ktap_test_result "kaio-stat prints every counter" \
	sh -c "kaio-stat > $out && grep -q '^in_flight_poll ' $out && grep -q '^cancelled ' $out"
ktap_test_result "kaio-stat -i prints a line per interval" \
	sh -c "kaio-stat -i 0.2 -c 3 > $out && [ \$(grep -c 'per second' $out) -eq 4 ]"
# --trace shows the demo's setup, submits, cancels and destroy.
kaio-stat --trace -c 12 > $out &
tracer=$!
sleep 1
kaio-demo > /dev/null 2>&1
wait $tracer
ktap_test_result "kaio-stat --trace prints the events" \
	sh -c "grep -q ' setup ' $out && grep -q ' submit ' $out && grep -q ' cancel .*ret=-115' $out"
cat $out | sed 's/^/# /' | head -12

# toggle SECONDS: switches every kaio event on and off until killed.
toggle() {
	while :; do
		echo 1 > $T/events/kaio/enable; sleep 0.05
		echo 0 > $T/events/kaio/enable; sleep 0.05
	done
}
toggle & t=$!
kaio-stress --seconds ${KAIO_TRACE_SECONDS:-10} > /tmp/stress.out 2>&1; rc=$?
kill $t; wait $t 2>/dev/null
echo 0 > $T/events/kaio/enable
grep -v "^ok\|^# ok" /tmp/stress.out | head -60 | sed "s/^/# /"
ktap_test_result "stress with tracing toggled" [ $rc -eq 0 ]
toggle & t=$!
kaio-fuzz --seconds ${KAIO_TRACE_SECONDS:-10} > /tmp/fuzz.out 2>&1; rc=$?
kill $t; wait $t 2>/dev/null
echo 0 > $T/events/kaio/enable
echo > $T/trace
# The whole report on failure (seed, findings), the summary otherwise.
if [ $rc -eq 0 ]; then tail -3 /tmp/fuzz.out; else grep -v '^ok\|^# ok' /tmp/fuzz.out | head -80; fi | sed 's/^/# /'
ktap_test_result "fuzz with tracing toggled" [ $rc -eq 0 ]
ktap_finished
