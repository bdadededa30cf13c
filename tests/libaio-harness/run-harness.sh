#!/bin/sh
# run-harness.sh [CASE...]: libaio's own test harness in the guest, KTAP. Every case N of
# libaio 0.3.113's harness/cases/N.t runs twice, first native/N (Debian's libaio: the io_*
# system calls), then kaio/N (tests/libaio-compat: /dev/kaio, which must exist): one result
# each, `native_N` and `kaio_N`. Only the CASEs given, if any (else those in
# $KAIO_TEST_FILTER, which `make test CASE='22 23'` sets).
#
# Each run gets what libaio's harness/Makefile prepares, fresh, on a tmpfs of its own: the
# working directory, testdir/{rofile,wofile,rwfile} ("test", modes 400/200/600), and
# testdir.enospc/ (harness/README: "a filesystem that has space for writing [64 KiB] out, but
# fails with -ENOSPC beyond"; the harness mounts an ext2 image there, here a 64 KiB tmpfs,
# which this guest has). The exit status is the harness's: 0 passed, 3 skipped (the case
# decided it: a feature the kernel or the file system lacks), anything else failed.
#
# A case this guest cannot run at all is skipped, for both backends alike, before either runs:
#   8.t needs testdir.ext2 on ext2 (its limit is ext2's maximum file size); the guest kernel
#       has no ext2 (no block layer).
#   6.t and 14.t need twice 768 MiB of free memory (the debug guest has less).
#   11.t, 18.t and 20.t, long loops, are skipped in a debug kernel (lockdep or kmemleak) unless
#       HARNESS_LONG=1: 5 to 11 minutes per backend there; they run in the release guest.
# kaio_N must end as native_N did (passed, skipped, failed): a kaio result that differs from
# native's is `not ok`, with both outcomes ("a skip that hides a failure" included).
# HARNESS_TIMEOUT (default 300) bounds each program in seconds; HARNESS_LONG=1 runs the long cases
# in a debug kernel too (give them HARNESS_TIMEOUT=1200).
here=$(cd "$(dirname "$0")" && pwd)
per_case=${HARNESS_TIMEOUT:-300}
cases=$(ls "$here/native" | sort -n)
[ $# -gt 0 ] || set -- $(echo "${KAIO_TEST_FILTER:-}" | tr , ' ')
if [ $# -gt 0 ]; then
	want=" $* "
	sel=""
	for c in $cases; do
		case "$want" in *" $c "*) sel="$sel $c" ;; esac
	done
	cases=$sel
fi
set -- $cases
echo "KTAP version 1"
echo "1..$(( $# * 2 ))"
echo "# libaio 0.3.113 harness: cases$(printf ' %s' $cases); each case ${per_case} s at most"
echo "# $(grep -E '^(MemTotal|MemAvailable):' /proc/meminfo | tr -s ' ' | tr '\n' ' ')"
[ -c /dev/kaio ] || echo "# /dev/kaio is absent: every kaio_N fails"

root=/tmp/libaio-harness
mkdir -p "$root"
# 6.t and 14.t write files as large as the guest's memory (at most 768 MiB): a tmpfs whose
# size does not stop them first (the memory is only used as the files grow).
mount -t tmpfs -o size=90% libaio-harness "$root" || { echo "Bail out! cannot mount a tmpfs on $root"; exit 1; }
out=$root/.out

# skip_reason N: why this guest cannot run case N (empty: it can).
skip_reason() {
	case "$1" in
	6|14)
		# 6.t writes and reads back a file as large as the guest's memory, at most 768 MiB
		# (harness/README: testdir "must have at least as much free space as the machine has
		# RAM (up to 768MB)"), 14.t one of 768 MiB: a tmpfs file plus a buffer of that size.
		size=786432
		[ "$1" = 6 ] && size=$(awk '/^MemTotal:/ { print ($2 < 786432) ? $2 : 786432 }' /proc/meminfo)
		need=$(( 2 * size + 65536 ))
		avail=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
		[ "$avail" -ge "$need" ] ||
			echo "needs ${need} kB of free memory (a ${size} kB tmpfs file and a ${size} kB buffer, 64 MiB spare); the guest has ${avail} kB (MemAvailable)"
		;;
	11|18|20)
		# Long loops: 2 million synchronous writes and reads (11.t), 100 threads x 1000
		# setup/submit/destroy (18.t), 131,071 contexts (20.t). A few seconds each in the
		# release guest; 5 to 11 minutes per backend in the debug guest (KASAN, lockdep,
		# kmemleak, under TCG), about 45 minutes for the six.
		if [ -z "${HARNESS_LONG:-}" ] && { [ -e /proc/lockdep ] || [ -e /sys/kernel/debug/kmemleak ]; }; then
			echo "debug kernel: $1.t takes 5 to 11 minutes per backend here (run in the release guest; HARNESS_LONG=1 runs it here)"
		fi
		;;
	8)
		grep -qw ext2 /proc/filesystems ||
			echo "needs testdir.ext2 on an ext2 file system (harness 'extracheck'); the guest kernel has no ext2 (no block layer)"
		;;
	esac
}

# prepare DIR: what harness/Makefile's partcheck and extracheck targets set up, in DIR.
prepare() {
	mkdir -p "$1/testdir" "$1/testdir.enospc" "$1/testdir.ext2"
	for f in rofile:400 wofile:200 rwfile:600; do
		echo "test" > "$1/testdir/${f%:*}"
		chmod "${f#*:}" "$1/testdir/${f%:*}"
	done
	mount -t tmpfs -o size=64k enospc "$1/testdir.enospc" || return 1
	if grep -qw ext2 /proc/filesystems; then
		dd if=/dev/zero of="$1/ext2.img" bs=1M count=10 2>/dev/null &&
			mke2fs -F -b 4096 "$1/ext2.img" >/dev/null 2>&1 &&
			mount -o loop -t ext2 "$1/ext2.img" "$1/testdir.ext2" || return 1
	fi
}

cleanup() {
	umount "$1/testdir.enospc" 2>/dev/null
	umount "$1/testdir.ext2" 2>/dev/null
	rm -rf "$1"
}

# The request-slot counters: 20.t reads native's (/proc/sys/fs/aio-nr, aio-max-nr) whatever the
# backend; kaio keeps its own (module parameters nr and max_nr, the same default limit).
counters() {
	echo "# $1: native aio-nr/aio-max-nr $(cat /proc/sys/fs/aio-nr)/$(cat /proc/sys/fs/aio-max-nr)," \
		"kaio nr/max_nr $(cat /sys/module/kaio/parameters/nr 2>/dev/null)/$(cat /sys/module/kaio/parameters/max_nr 2>/dev/null)"
}

# reap PROG: wait up to 30 s for the processes still running PROG after it returned (cases
# fork: 22.t's child writes to its pipe and exits after the parent has returned; a timeout
# kills only the parent), so that none of them holds /dev/kaio, a context or kaio.ko when the
# next case starts or the module is unloaded. Those left then are killed (by pid) and named.
reap() {
	i=0
	while :; do
		left=""
		for d in /proc/[0-9]*; do
			[ "$(readlink "$d/exe" 2>/dev/null)" = "$1" ] && left="$left ${d#/proc/}"
		done
		[ -z "$left" ] && return 0
		i=$((i + 1))
		[ "$i" -gt 300 ] && break
		sleep 0.1
	done
	kill -9 $left 2>/dev/null
	sleep 1
	echo "processes still running 30 s after the case ended, killed:$left"
	return 1
}

n=0 pass=0 fail=0 skip=0
result() { # outcome name detail
	n=$((n + 1))
	case "$1" in
	pass) pass=$((pass + 1)); echo "ok $n $2" ;;
	skip) skip=$((skip + 1)); echo "ok $n $2 # SKIP $3" ;;
	*) fail=$((fail + 1)); echo "not ok $n $2 # $3" ;;
	esac
}

for c in $cases; do
	why=$(skip_reason "$c")
	if [ -n "$why" ]; then
		result skip "native_$c" "$why"
		result skip "kaio_$c" "$why"
		continue
	fi
	native_outcome=""
	for backend in native kaio; do
		work=$root/$backend-$c
		echo "# ---- ${backend}_$c: $here/$backend/$c (cases/$c.t) in $work"
		if ! prepare "$work"; then
			cleanup "$work"
			result fail "${backend}_$c" "could not prepare $work"
			native_outcome=${native_outcome:-setup}
			continue
		fi
		[ "$c" = 20 ] && counters before
		start=$(date +%s)
		( cd "$work" && exec timeout "$per_case" "$here/$backend/$c" ) > "$out" 2>&1 < /dev/null
		rc=$?
		secs=$(( $(date +%s) - start ))
		left=$(reap "$here/$backend/$c")
		cleanup "$work"
		sed 's/^/# /' "$out"
		[ "$c" = 20 ] && counters after
		echo "# ${backend}_$c: exit $rc, ${secs} s"
		case "$rc" in
		0) outcome=pass detail="" ;;
		3) outcome=skip
		   detail="the case skipped itself (exit 3): $(grep -v '^test cases/.* completed' "$out" | tail -1)" ;;
		124|143) outcome=fail detail="timed out after ${per_case} s" ;;
		*) outcome=fail detail="exit $rc" ;;
		esac
		if [ -n "$left" ]; then
			echo "# $left"
			[ "$outcome" = fail ] || { outcome=fail detail=$left; }
		fi
		if [ "$backend" = native ]; then
			native_outcome=$outcome
		else
			if [ ! -c /dev/kaio ]; then
				outcome=fail detail="/dev/kaio is absent (kaio.ko not loaded)"
			elif [ "$outcome" != "$native_outcome" ]; then
				detail="diverges from native: native $native_outcome, kaio $outcome${detail:+ ($detail)}"
				outcome=fail
			fi
		fi
		result "$outcome" "${backend}_$c" "$detail"
	done
done
rm -f "$out"
umount "$root"
echo "# Totals: pass:$pass fail:$fail xfail:0 xpass:0 skip:$skip error:0"
[ "$fail" = 0 ]
