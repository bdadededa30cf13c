#!/usr/bin/env bash
# `make bench`: kaio vs native AIO vs io_uring, side by side in one release guest.
#   tests/bench.sh [ARGS...]   ARGS go to kaio-bench (--json, --only LIST, --scale X).
# Builds the static benchmark program, boots the release guest with kaio.ko loaded, runs it
# there and prints the console log (tables as `# ` lines of a KTAP report). Under QEMU TCG only
# the ratios mean anything.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
(cd "$top/tests" && cargo build --release --target x86_64-unknown-linux-gnu -p kaio-bench)
cd "$top"
exec make --no-print-directory run VARIANT=release \
	PROG=tests/target/x86_64-unknown-linux-gnu/release/kaio-bench ARGS="$*"
