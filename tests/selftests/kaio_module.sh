#!/bin/sh
# kselftest-style checks of kaio.ko as a module: load, the device node, open and close,
# unload refused while the device is open, unload, and repeated load/unload cycles.
# Run as root in a guest where kaio.ko is not loaded; exits 4 when the module file is absent.
cd "$(dirname "$0")" && . ./ktap_helpers.sh
ko=${KAIO_KO:-/kaio/kaio.ko}
ktap_print_header
if [ ! -f "$ko" ]; then ktap_skip_all "$ko not found"; exit $KSFT_SKIP; fi
if grep -q "^kaio " /proc/modules; then ktap_skip_all "kaio already loaded"; exit $KSFT_SKIP; fi
ktap_set_plan 10

ktap_test_result "insmod kaio.ko" insmod "$ko"
ktap_test_result "module listed in /proc/modules" grep -q "^kaio " /proc/modules
ktap_test_result "/dev/kaio is a character device" test -c /dev/kaio
mode=$(stat -c %a /dev/kaio 2>/dev/null)
ktap_test_result "/dev/kaio has mode 0666 (got $mode)" test "$mode" = 666
ktap_test_result "open and close /dev/kaio" sh -c 'exec 3<>/dev/kaio && exec 3>&-'

# While a file is open the module is pinned (fops->owner): rmmod must fail, not free code
# that an open file still points at.
exec 3<>/dev/kaio
refs=$(awk '$1 == "kaio" { print $3 }' /proc/modules)
ktap_test_result "open file holds a module reference (refcount $refs)" test "$refs" = 1
if rmmod kaio 2>/dev/null; then ktap_test_fail "rmmod refused while /dev/kaio is open"
else ktap_test_pass "rmmod refused while /dev/kaio is open"; fi
exec 3>&-

ktap_test_result "rmmod kaio" rmmod kaio
ktap_test_result "/dev/kaio gone after rmmod" test ! -e /dev/kaio
cycles_ok() {
	i=0
	while [ $i -lt 20 ]; do
		insmod "$ko" || return 1
		sh -c 'exec 3<>/dev/kaio' || return 1
		rmmod kaio || return 1
		i=$((i + 1))
	done
}
ktap_test_result "20 load/open/unload cycles" cycles_ok
ktap_finished
