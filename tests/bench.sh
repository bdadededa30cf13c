#!/usr/bin/env bash
# `make bench`: kaio vs native AIO vs io_uring, side by side in one release guest.
#   tests/bench.sh [ARGS...]   ARGS go to kaio-bench (--json, --only LIST, --scale X);
#   `make bench ARGS='--only polled_read'`.
# Builds the static benchmark program and, for benchmark 7, the POSIX AIO program
# tests/kaio-bench/posix/posix_bench.c twice (against glibc's librt and against
# tests/libkaio-posix), puts the three in build/bench/ with a `run` script, boots the release
# guest with kaio.ko loaded, runs it there and prints its output (tables as `# ` lines of a
# KTAP report; `make bench V=1`: the whole console too), and draws SVG plots of its JSON report
# into build/bench/plots/. Under QEMU TCG only the ratios mean anything.
# Table 5 keeps up to 16384 POLLs pending per backend: one kaio and one native context of 16400
# events each, within the defaults of kaio's max_nr and fs.aio-max-nr (65536; the run prints
# both), and an io_uring with a 32768-entry CQ (IORING_SETUP_CQSIZE). About 85 s in all (table 7 about 35 s).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
(cd "$top/tests" && cargo build --release --target x86_64-unknown-linux-gnu -p kaio-bench)
out=$top/build/bench
rm -rf "$out"
mkdir -p "$out"
cp "$top/tests/target/x86_64-unknown-linux-gnu/release/kaio-bench" "$out/"
src=$top/tests/kaio-bench/posix/posix_bench.c
cflags="-O2 -Wall -Werror -static"
# glibc's POSIX AIO, linked as a POSIX AIO program is (glibc >= 2.34 has it in libc.a).
gcc $cflags -o "$out/posix-bench-glibc" "$src" -lrt -pthread
# libkaio-posix first, then -lrt (its README's recipe). Without it, kaio-bench says so.
if make --no-print-directory -s -C "$top/tests/libkaio-posix" lib >&2; then
	gcc $cflags -DKAIO_POSIX -o "$out/posix-bench-kaio" "$src" \
		-L"$top/tests/libkaio-posix/build/lib" -lkaio-posix -lrt -pthread -ldl 2>&1 |
		{ grep -v "statically linked applications requires\|in function .std::" || true; } >&2
else
	echo "bench: libkaio-posix did not build; its column stays empty" >&2
fi
cat > "$out/run" <<'RUN'
#!/bin/sh
# make bench: kaio-bench finds posix-bench-glibc and posix-bench-kaio next to itself.
cd "$(dirname "$0")" && exec ./kaio-bench "$@"
RUN
chmod +x "$out/run"
cd "$top"
# The JSON report is always asked for: the plots are made from it on the host.
args="$*"
case " $args " in *" --json "*) ;; *) args="--json $args" ;; esac
set +e
make --no-print-directory run VARIANT=release PROG="$out" ARGS="$args" | tee "$out/output.txt"
status=${PIPESTATUS[0]}
set -e
# build/bench/bench.json, and SVG plots of it in build/bench/plots/ (tests/bench-plot.py).
sed -n '/^KAIO-BENCH-JSON-BEGIN$/,/^KAIO-BENCH-JSON-END$/p' "$out/output.txt" | sed '1d;$d' > "$out/bench.json"
if [ -s "$out/bench.json" ] && /usr/bin/python3 "$top/tests/bench-plot.py" "$out/bench.json" "$out/plots" > "$out/plots.txt"; then
	echo "bench: plots:" $(cat "$out/plots.txt") >&2
else
	echo "bench: no plots (no JSON report, or matplotlib missing: make setup)" >&2
fi
exit "$status"
