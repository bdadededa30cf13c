#!/bin/sh
# run-fio.sh: fio, unmodified, with --ioengine=libaio on a tmpfs file, random reads and writes
# with --verify=crc32c, at iodepths 1, 8 and 32, once on native AIO (the system's libaio) and
# once on /dev/kaio (tests/libaio-compat's libaio), in the same guest. KTAP: one result per
# run (fio's exit status, no error, both directions did I/O, verify passed, and the run was
# served by the intended implementation: aio-nr or kaio's nr rose while it ran, the other did
# not). IOPS of both and their ratio are `# ` diagnostics.
#   FIO_DEPTHS (default "1 8 32"), FIO_SIZE (default 16M), FIO_DIR (default /tmp, a tmpfs)
B=$(cd "$(dirname "$0")" && pwd)
LD=$B/lib/ld-linux-x86-64.so.2
depths=${FIO_DEPTHS:-"1 8 32"}
size=${FIO_SIZE:-16M}
dir=${FIO_DIR:-/tmp}
nr_native=/proc/sys/fs/aio-nr
nr_kaio=/sys/module/kaio/parameters/nr
# fio keeps its job table in a System V shared memory segment: the guests have SYSVIPC.
if [ ! -d /proc/sysvipc ]; then
	echo "KTAP version 1"; echo "1..0"; echo "Bail out! no System V IPC in this kernel (CONFIG_SYSVIPC)"; exit 1
fi
n=0
fails=0
count=$((1 + 2 * $(echo $depths | wc -w)))

echo "KTAP version 1"
echo "1..$count"
result() { # result OK NAME [WHY...]
	n=$((n + 1)); ok=$1 name=$2; shift 2
	[ $# -gt 0 ] && for l in "$@"; do echo "# $name: $l"; done
	if [ "$ok" = 1 ]; then echo "ok $n $name"; else echo "not ok $n $name"; fails=$((fails + 1)); fi
}
fio_cmd() { # fio_cmd MODE ARGS...
	mode=$1; shift
	$LD --library-path "$B/lib-$mode:$B/lib" "$B/bin/fio" "$@"
}
maxof() { [ -r "$1" ] && cat "$1" || echo 0; }

# Which libaio each run loads.
nat=$($LD --library-path "$B/lib-native:$B/lib" --list "$B/bin/fio" 2>&1 | awk '/libaio/ { print $3 }')
kai=$($LD --library-path "$B/lib-kaio:$B/lib" --list "$B/bin/fio" 2>&1 | awk '/libaio/ { print $3 }')
if [ "$nat" = "$B/lib-native/libaio.so.1" ] && [ "$kai" = "$B/lib-kaio/libaio.so.1" ] && [ -e /dev/kaio ]; then
	result 1 fio_bundle "native run loads $nat" "kaio run loads $kai"
else
	result 0 fio_bundle "native run loads '$nat', kaio run loads '$kai' (/dev/kaio: $(ls /dev/kaio 2>&1))"
fi

run_one() { # run_one MODE DEPTH -> sets IOPS
	mode=$1 qd=$2 name=fio_qd$2.$1
	f=$dir/fio-$mode.dat out=$dir/fio-$mode.out err=$dir/fio-$mode.err
	rm -f "$f"
	mine=$nr_native other=$nr_kaio
	[ "$mode" = kaio ] && mine=$nr_kaio other=$nr_native
	start=$(date +%s)
	fio_cmd "$mode" --name="kaio-$mode-qd$qd" --filename="$f" --size="$size" --bs=4k \
		--rw=randrw --ioengine=libaio --iodepth="$qd" --verify=crc32c --do_verify=1 \
		--verify_fatal=1 --verify_state_save=0 --randrepeat=1 --minimal > "$out" 2> "$err" &
	pid=$!
	seen_mine=0 seen_other=0
	while kill -0 $pid 2>/dev/null; do
		v=$(maxof $mine); [ "$v" -gt "$seen_mine" ] && seen_mine=$v
		v=$(maxof $other); [ "$v" -gt "$seen_other" ] && seen_other=$v
		sleep 0.01
	done
	wait $pid
	rc=$?
	secs=$(( $(date +%s) - start ))
	line=$(grep '^3;' "$out" | head -1)
	IOPS=$(echo "$line" | awk -F';' '{ printf "%d", $8 + $49 }')
	why=
	[ $rc = 0 ] || why="$why fio exit status $rc;"
	[ -n "$line" ] || why="$why no terse result line;"
	echo "$line" | awk -F';' '{ exit !($5 == 0 && $6 > 0 && $47 > 0) }' || why="$why error field/IO counts wrong;"
	grep -qi 'verify' "$err" && why="$why verify messages on stderr;"
	[ "$seen_mine" -gt 0 ] || why="$why $mine never rose (not served by $mode);"
	[ "$seen_other" -eq 0 ] || why="$why $other rose to $seen_other (served by the wrong implementation);"
	if [ -z "$why" ]; then
		result 1 "$name" "$(echo "$line" | awk -F';' '{ printf "read %d KiB %d IOPS, write %d KiB %d IOPS, ", $6, $8, $47, $49 }')${secs} s, peak nr $seen_mine"
	else
		result 0 "$name" "$why" "$(head -c 2000 "$err")" "terse: $line"
		IOPS=0
	fi
	rm -f "$f" "$out" "$err"
}

for qd in $depths; do
	run_one native "$qd"; ni=$IOPS
	run_one kaio "$qd"; ki=$IOPS
	echo "$qd $ni $ki" | awk '{ printf "# iodepth %d: IOPS (read+write, same guest) native %d, kaio %d, ratio kaio/native %.2f\n", $1, $2, $3, ($2 > 0 ? $3 / $2 : 0) }'
done
echo "# Totals: pass:$((n - fails)) fail:$fails xfail:0 xpass:0 skip:0 error:0"
[ $fails = 0 ]
