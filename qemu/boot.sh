#!/usr/bin/env bash
# Boot one guest: boot.sh VARIANT PAYLOAD_DIR LOG_DIR TIMEOUT_S [interactive]
# PAYLOAD_DIR becomes /kaio in the guest and must hold `job` (a sh script) and whatever it
# runs. Kernel messages go to LOG_DIR/console.log (ttyS0); the job may write test output to
# /dev/ttyS1, which lands in LOG_DIR/tests.log. Exit status: 0 if the guest powered off, 124
# on timeout (also when WATCH_TESTS, a tests.list, names a test that overran its timeout),
# another value if QEMU failed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
variant=$1 payload=$2 logdir=$3 timeout_s=$4 interactive=${5:-}
kdir=$("$here/kernel-dir.sh" "$variant")
[ -f "$kdir/.kaio-built" ] || { echo "boot: no $variant kernel at $kdir (run qemu/build-kernel.sh $variant)" >&2; exit 2; }
mkdir -p "$logdir"
rm -f "$logdir/watch.log"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,etc,kaio,usr/bin}
cp /bin/busybox "$root/bin/busybox"
cp "$here/guest/init" "$root/init"
cp -a "$payload/." "$root/kaio/"
( cd "$root" && find . -print0 | cpio --null -o -H newc --quiet ) > "$logdir/initramfs.cpio"
# no5lvl: with -cpu max the guest would use 5-level paging, and the debug kernel then sometimes
# (about 1 boot in 10) reported a KASAN wild-memory-access on an irq descriptor lock in the
# 5-level direct map, for an interrupt taken during early boot (identify_cpu), before the
# module or any test ran. 4-level paging, as on most machines, avoids that path.
append="console=ttyS0 panic=-1 nokaslr no5lvl"
# Two emulated NUMA nodes of 1 GiB: move_pages(2) then has somewhere to move a ring's pages.
append+=" numa=fake=2"
# Under TCG the guest's TSC is the host's, but the guest cannot calibrate it (no HPET or PM
# timer without ACPI, and PIT calibration fails when emulation is slow), marks it unstable
# and falls back to jiffies: 4 ms timers. Tell it the host's TSC frequency, and that the TSC is
# reliable (it is one clock shared by the vCPUs), so that the guest keeps time with the TSC and
# has high-resolution timers, as on hardware. Without the host's figure the guest calibrates.
tsc_mhz=$(dmesg 2>/dev/null | sed -n 's/.*tsc: \(Refined TSC clocksource calibration: \|Detected \)\([0-9]*\.[0-9]*\) MHz.*/\2/p' | tail -1)
if [ -n "$tsc_mhz" ]; then
	append+=" tsc_early_khz=$(awk -v m="$tsc_mhz" 'BEGIN { printf "%d", m * 1000 }') tsc=reliable"
fi
# KAIO_GUEST_CPUS (default 2): `make profile` boots one vCPU, since live ftrace patching of
# code another vCPU is running can trap under TCG.
cpus=${KAIO_GUEST_CPUS:-2}
qemu=(qemu-system-x86_64 -machine pc -cpu max -smp "$cpus,sockets=$cpus" -m 2G -no-reboot -display none
	-kernel "$kdir/arch/x86/boot/bzImage" -initrd "$logdir/initramfs.cpio" -append "$append")
if [ -n "$interactive" ]; then
	exec "${qemu[@]}" -serial mon:stdio -serial "file:$logdir/tests.log"
fi
set +e
timeout --foreground -k 5 "$timeout_s" "${qemu[@]}" -monitor none \
	-serial "file:$logdir/console.log" -serial "file:$logdir/tests.log" </dev/null &
qemu_pid=$!
# WATCH_TESTS=tests.list: stop a guest whose test overran its timeout (qemu/watch-tests.sh).
if [ -n "${WATCH_TESTS:-}" ]; then
	"$here/watch-tests.sh" "$WATCH_TESTS" "$logdir/tests.log" "$qemu_pid" > "$logdir/watch.log" &
fi
wait "$qemu_pid"
rc=$?
set -e
if [ -s "$logdir/watch.log" ]; then
	cat "$logdir/watch.log" >&2
	rc=124
fi
[ $rc = 124 ] && echo "boot: $variant guest timed out (limit ${timeout_s}s)" >&2
exit $rc
