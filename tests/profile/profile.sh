#!/usr/bin/env bash
# `make profile`: where a cancel's and a polled read's time goes. Builds the static programs of
# tests/profile/ into build/profile/ with the guest script `run`, then runs them in the
# release guest (one vCPU) with kaio.ko loaded (`make run`): the two path programs' medians,
# and the function graph of one cancel (KAIO_IOC_CANCEL + ring) and of one polled read
# (submit, write(2) with the read made in its task work, the ring; write(2) + read(2) beside
# it); the cost of one submitting call by interface (`submit_cost`: native io_submit, kaio and
# io_uring, each also with nothing to submit); then a sampling profile (`sample`, no tracer)
# of table 7's throughput loop (`polled_read_loop`: 64, then 1 read on sockets per round) on
# kaio and on io_uring, in ns per read, and of table 5's cancel ALL (`cancel_all_loop`: 1024
# POLLs submitted, cancelled by one KAIO_CANCEL_ANY, reaped from the ring), in ns per request.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$top/build/profile
rm -rf "$out"
mkdir -p "$out"
for prog in cancel_path polled_read_path submit_cost polled_read_loop cancel_all_loop sample; do
	gcc -O2 -Wall -Werror -static -I"$top/tests/libaio-compat" -o "$out/$prog" "$top/tests/profile/$prog.c"
done
cp "$top/tests/profile/run" "$out/run"
# One vCPU: enabling the function graph patches live code, which under TCG can trap on a vCPU
# running it (an int3 oops was seen with two).
KAIO_GUEST_CPUS=1 exec "$top/qemu/run.sh" release "$out" ''
