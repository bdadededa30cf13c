#!/usr/bin/env bash
# `make bench`: kaio vs native AIO vs io_uring, side by side in one release guest.
#   tests/bench.sh [ARGS...]   ARGS go to kaio-bench (--json, --only LIST, --scale X).
# Builds the static benchmark program, boots the release guest with kaio.ko loaded, runs it
# there and prints its output (tables as `# ` lines of a KTAP report; `make bench V=1`: the
# whole console too). Under QEMU TCG only the ratios mean anything.
# Table 5 keeps up to 16384 POLLs pending per backend: one kaio and one native context of 16400
# events each, within the defaults of kaio's max_nr and fs.aio-max-nr (65536; the run prints
# both), and an io_uring with a 32768-entry CQ (IORING_SETUP_CQSIZE). About 50 s in all.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
(cd "$top/tests" && cargo build --release --target x86_64-unknown-linux-gnu -p kaio-bench)
cd "$top"
exec make --no-print-directory run VARIANT=release \
	PROG=tests/target/x86_64-unknown-linux-gnu/release/kaio-bench ARGS="$*"
