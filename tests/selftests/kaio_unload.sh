#!/bin/sh
# kselftest-style checks of module unload safety: rmmod is refused while a process holds
# contexts with requests in flight (through its fd and blocked in io_getevents, or only through
# ring mappings shared with forked children); once it is killed (SIGKILL, requests still in
# flight) the module unloads; repeated load / short workload / unload cycles leave nothing
# behind (/sys/module/kaio and /dev/kaio gone after each rmmod; the runner's final kmemleak
# scan covers memory). Run as root in a guest where kaio.ko is not loaded; it loads and
# unloads kaio itself. Helper: bin/kaio-hold (tests/kaio-faults).
#   KAIO_KO, KAIO_HOLD: paths; KAIO_UNLOAD_CYCLES: number of cycles (default 50).
cd "$(dirname "$0")" && . ./ktap_helpers.sh
ko=${KAIO_KO:-/kaio/kaio.ko}
hold=${KAIO_HOLD:-/kaio/bin/kaio-hold}
cycles=${KAIO_UNLOAD_CYCLES:-50}
ready=/tmp/kaio-unload.ready
ktap_print_header
if [ ! -f "$ko" ]; then ktap_skip_all "$ko not found"; exit $KSFT_SKIP; fi
if [ ! -x "$hold" ]; then ktap_skip_all "$hold not found"; exit $KSFT_SKIP; fi
if grep -q "^kaio " /proc/modules; then ktap_skip_all "kaio already loaded"; exit $KSFT_SKIP; fi
ktap_set_plan 17

refcnt() { awk '$1 == "kaio" { print $3 }' /proc/modules; }
nr() { cat /sys/module/kaio/parameters/nr 2>/dev/null; }
holder=
quiet=

# start_holder ARGS...: kaio-hold in the background; waits until it holds everything.
start_holder() {
	rm -f "$ready"
	"$hold" -r "$ready" "$@" &
	holder=$!
	i=0
	while [ ! -f "$ready" ]; do
		if ! kill -0 "$holder" 2>/dev/null; then
			ktap_print_msg "kaio-hold $* exited early"; holder=; return 1
		fi
		i=$((i + 1))
		if [ $i -gt 600 ]; then ktap_print_msg "kaio-hold $* not ready after 60 s"; return 1; fi
		sleep 0.1
	done
	[ -n "$quiet" ] || ktap_print_msg "kaio-hold $* holds kaio: pids $(cat "$ready"), refcount $(refcnt), nr $(nr)"
}

# wait_unused: the module's reference count drops to 0 (children killed by PDEATHSIG go
# asynchronously) within 30 s.
wait_unused() {
	i=0
	while [ "$(refcnt)" != 0 ]; do
		i=$((i + 1))
		if [ $i -gt 300 ]; then ktap_print_msg "refcount still $(refcnt) after 30 s"; return 1; fi
		sleep 0.1
	done
}

# kill_holder: SIGKILL, reap, and the module is unused again with nothing charged.
kill_holder() {
	[ -n "$holder" ] || return 1
	kill -9 "$holder" && wait "$holder" 2>/dev/null
	holder=
	wait_unused || return 1
	[ "$(nr)" = 0 ] || { ktap_print_msg "nr is $(nr) after the holder died"; return 1; }
}

# rmmod_refused: rmmod fails and the module is left exactly as it was.
rmmod_refused() {
	before=$(refcnt)
	if rmmod kaio 2>/tmp/kaio-unload.err; then ktap_print_msg "rmmod kaio succeeded"; return 1; fi
	ktap_print_msg "rmmod refused: $(cat /tmp/kaio-unload.err)"
	grep -q "^kaio " /proc/modules && test -c /dev/kaio && [ "$(refcnt)" = "$before" ] && [ "$before" -ge 1 ]
}

gone() {
	[ ! -e /sys/module/kaio ] && [ ! -e /dev/kaio ] && ! grep -q "^kaio " /proc/modules
}

unload() { rmmod kaio && gone; }

# 1. A holder with its fd open, blocked in io_getevents: 2 contexts of 9 slots, 8 hour-long
# delays each and one unread event.
ktap_test_result "insmod kaio.ko" insmod "$ko"
ktap_test_result "holder: 2 contexts, 16 delays in flight, blocked in io_getevents" start_holder -c 2 -n 8 -w
ktap_test_result "nr counts the holder's contexts (nr $(nr), expected 18)" test "$(nr)" = 18
ktap_test_result "rmmod refused while contexts and requests exist" rmmod_refused
ktap_test_result "kaio still usable by another process after the refused rmmod" "$hold" -q
ktap_test_result "holder killed with requests in flight: module unused, nr 0" kill_holder
ktap_test_result "rmmod after the kill; /sys/module/kaio and /dev/kaio gone" unload

# 2. Only ring mappings hold the file: the holder closed its fd and forked 2 children, which
# share the rings (and die with it).
ktap_test_result "insmod kaio.ko again" insmod "$ko"
ktap_test_result "holder: fd closed, rings mapped in it and 2 children" start_holder -c 3 -n 4 -f 2 -C
ktap_test_result "rmmod refused while only ring mappings hold the file" rmmod_refused
ktap_test_result "holder killed (children die with it): module unused, nr 0" kill_holder
ktap_test_result "rmmod after the kill; /sys/module/kaio and /dev/kaio gone" unload

# 3. Cycles: load, a short workload (alternately: a program that exits with a context and a
# request in flight; a holder killed with requests in flight), unload.
cycle_fail=
cycle() {
	insmod "$ko" || { cycle_fail="insmod"; return 1; }
	if [ $(($1 % 2)) = 0 ]; then
		"$hold" -q || { cycle_fail="workload"; return 1; }
		wait_unused || { cycle_fail="refcount"; return 1; }
	else
		start_holder -c 1 -n 4 -f 1 || { cycle_fail="holder"; return 1; }
		kill_holder || { cycle_fail="kill"; return 1; }
	fi
	[ "$(nr)" = 0 ] || { cycle_fail="nr $(nr)"; return 1; }
	rmmod kaio || { cycle_fail="rmmod"; return 1; }
	gone || { cycle_fail="module still there after rmmod"; return 1; }
}
cycles_ok() {
	c=0
	while [ $c -lt "$cycles" ]; do
		if ! cycle $c; then ktap_print_msg "cycle $c failed: $cycle_fail"; return 1; fi
		c=$((c + 1))
	done
	ktap_print_msg "$c load/workload/unload cycles"
}
t0=$(date +%s)
quiet=1
ktap_test_result "$cycles load / workload / unload cycles" cycles_ok
quiet=
ktap_print_msg "cycles took $(($(date +%s) - t0)) s"
ktap_test_result "module not loaded at the end" gone

# 4. A last load, for a module that has been through all of this to still work, then unload.
ktap_test_result "insmod after the cycles" insmod "$ko"
ktap_test_result "workload after the cycles" "$hold" -q
ktap_test_result "final rmmod; /sys/module/kaio and /dev/kaio gone" unload
[ -n "$holder" ] && kill -9 "$holder" 2>/dev/null
grep -q "^kaio " /proc/modules && { wait_unused; rmmod kaio; }
ktap_finished
