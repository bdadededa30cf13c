#!/usr/bin/env bash
# `make run`: boot a guest with kaio.ko loaded and run one program, showing as they happen its
# output and the kernel lines that matter, and exiting with the program's status.
#   run.sh VARIANT [PROG [ARGS]]   PROG: a static executable, or a directory with a `run` script.
#   Without PROG the demo (tests/kaio-tests' kaio-demo) runs. INTERACTIVE=1 gives a guest shell.
#   V=1 shows the whole console (boot messages included) instead of the kernel lines that matter.
#   TIMEOUT=s stops the guest after s seconds (600).
# What is shown goes to stdout: every line the program writes (stdout and stderr), and of the
# kernel's console the lines of kaio (those with "kaio") and splats (qemu/splats.sh), from the
# first splat line on every kernel line (a splat's registers and call trace do not match
# themselves), and a kmemleak report. Everything, in the order it arrived, is kept in the run's
# output.log, whose path is printed at the end (on stderr, with the program's status).
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
# The guest's ttyS0 carries the kernel's console (printk, with no timestamps in these kernels),
# ttyS1 lands in LOG_DIR/tests.log (qemu/boot.sh). The job sends its own output and the
# program's (stdout and stderr) to ttyS1, so that the host tells the two apart exactly, even
# when they interleave mid-line on one port, and without changing the kernels' config:
# console.log holds only the kernel (and /init), tests.log only the job and the program.
cat > "$payload/job" <<JOB
[ -n "\${KAIO_INTERACTIVE:-}" ] || exec > /dev/ttyS1 2>&1
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
. "$here/splats.sh"
console=$logdir/console.log progout=$logdir/tests.log full=$logdir/output.log
: > "$console"; : > "$progout"
# Both logs are followed while the guest runs, each line tagged with its source (k: kernel,
# p: program), and merged into one stream, shown filtered (all of it with V=1) and kept whole
# in output.log. The followers stop when $sentinel ends, after the guest has powered off.
follow() { # follow FILE TAG
	tail -n +1 -s 0.2 -F --pid="$sentinel" "$1" 2>/dev/null | sed -u "s/\r\$//; s/^/$2 /"
}
show() {
	local all=${V:-} loud= tag line
	[ "$all" != 0 ] || all=
	while IFS= read -r line || [ -n "$line" ]; do
		tag=${line%% *}; line=${line#* }
		printf '%s\n' "$line" >> "$full"
		if [ -n "$all" ]; then
			printf '%s\n' "$line"
		elif [ "$tag" = p ]; then
			# The job's status marker is the host's business (reported below); a program
			# output left without a newline ends up before it on the same line.
			if [[ $line =~ ^(.*)KAIO-RUN-STATUS\ [0-9]+$ ]]; then
				[ -z "${BASH_REMATCH[1]}" ] || printf '%s\n' "${BASH_REMATCH[1]}"
			else
				printf '%s\n' "$line"
			fi
		elif [[ $line =~ ^KAIO-(JOB-EXIT\ [0-9]+|POWEROFF|KMEMLEAK-CLEAN)$ ]]; then
			: # /init's markers for the host; the status is reported below
		elif [ -n "$loud" ]; then
			printf '%s\n' "$line"
		elif [[ $line =~ $SPLAT_RE || $line == KAIO-KMEMLEAK-BEGIN ]]; then
			loud=1
			printf '%s\n' "$line"
		elif [[ $line == *kaio* ]]; then
			printf '%s\n' "$line"
		fi
	done
}
sleep infinity & sentinel=$!
trap 'kill "$sentinel" 2>/dev/null || true' EXIT
trap 'exit 130' INT TERM
{ follow "$console" k & follow "$progout" p & wait; } | show &
shower=$!
set +e
"$here/boot.sh" "$variant" "$payload" "$logdir" "${TIMEOUT:-600}"
boot=$?
kill "$sentinel"
wait "$shower"
set -e
status=$(tr -d '\r' < "$progout" | sed -n 's/^.*KAIO-RUN-STATUS \([0-9]*\)$/\1/p' | tail -1)
echo "run: full log $full" >&2
[ "$boot" = 0 ] || { echo "run: guest did not power off cleanly (status $boot)" >&2; exit 125; }
[ -n "$status" ] || { echo "run: the program did not finish" >&2; exit 125; }
# A kernel splat spoils a run whatever the program thought of it.
if grep -qE "$SPLAT_RE" "$console"; then
	echo "run: kernel splat in the console log ($console)" >&2
	[ "$status" = 0 ] && exit 125
fi
name=$(basename "$prog"); [ ! -d "$prog" ] || name+=/run
echo "run: $name exited with status $status" >&2
exit "$status"
