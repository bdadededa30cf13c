#!/usr/bin/env bash
# `make run`: boot a guest with kaio.ko loaded and run one program, printing the console log
# (the program's output included) and exiting with the program's status.
#   run.sh VARIANT [PROG [ARGS]]   PROG: a static executable, or a directory with a `run` script.
#   Without PROG the demo (tests/kaio-tests' kaio-demo) runs. INTERACTIVE=1 gives a guest shell.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
variant=$1 prog=${2:-} args=${3:-}
"$here/setup.sh"
"$here/build-kernel.sh" "$variant" >&2
"$here/build-module.sh" "$variant" >&2
# One directory per run, so that runs side by side do not share one; the last few are kept.
mkdir -p "$top/build/run"
logdir=$(mktemp -d "$top/build/run/$variant-$(date +%Y%m%d-%H%M%S)-XXXX")
ls -dt "$top/build/run/$variant"-* | tail -n +6 | xargs -r rm -rf
mkdir -p "$logdir/payload/prog"
payload=$logdir/payload
cp "$top/build/$variant/kaio.ko" "$payload/kaio.ko"
if [ -z "$prog" ]; then
	(cd "$top/tests" && cargo build -q --release --target x86_64-unknown-linux-gnu --bin kaio-demo) >&2
	prog=$top/tests/target/x86_64-unknown-linux-gnu/release/kaio-demo
fi
if [ -d "$prog" ]; then
	cp -a "$prog/." "$payload/prog/"
	[ -f "$payload/prog/run" ] || { echo "run: $prog has no 'run' script" >&2; exit 2; }
	cmd="sh ./run $args"
elif [ -f "$prog" ]; then
	cp "$prog" "$payload/prog/"
	cmd="./$(basename "$prog") $args"
else
	echo "run: PROG=$prog: no such file or directory" >&2; exit 2
fi
cat > "$payload/job" <<JOB
insmod /kaio/kaio.ko || { echo "KAIO-RUN-STATUS 1"; exit 1; }
cd /kaio/prog
if [ -n "\${KAIO_INTERACTIVE:-}" ]; then
	echo "kaio.ko is loaded; the program is in /kaio/prog. Exit the shell to power off."
	setsid cttyhack sh
	rc=\$?
else
	$cmd
	rc=\$?
fi
echo "KAIO-RUN-STATUS \$rc"
rmmod kaio || echo "KAIO-RUN: rmmod kaio failed"
exit \$rc
JOB
if [ -n "${INTERACTIVE:-}" ]; then
	sed -i '1i export KAIO_INTERACTIVE=1' "$payload/job"
	exec "$here/boot.sh" "$variant" "$payload" "$logdir" 0 interactive
fi
set +e
"$here/boot.sh" "$variant" "$payload" "$logdir" "${TIMEOUT:-600}"
boot=$?
set -e
tr -d '\r' < "$logdir/console.log"
status=$(tr -d '\r' < "$logdir/console.log" | sed -n 's/^KAIO-RUN-STATUS \([0-9]*\)$/\1/p' | tail -1)
[ "$boot" = 0 ] || { echo "run: guest did not power off cleanly (status $boot)" >&2; exit 125; }
[ -n "$status" ] || { echo "run: the program did not finish" >&2; exit 125; }
# A kernel splat spoils a run whatever the program thought of it.
. "$here/splats.sh"
if grep -qE "$SPLAT_RE" "$logdir/console.log"; then
	echo "run: kernel splat in the console log ($logdir/console.log)" >&2
	[ "$status" = 0 ] && exit 125
fi
exit "$status"
