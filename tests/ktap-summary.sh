#!/usr/bin/env bash
# Parse one guest run: ktap-summary.sh VARIANT LOG_DIR BOOT_STATUS
# Reads LOG_DIR/tests.log (KTAP of every test, framed by KAIO-TEST-BEGIN/END) and
# LOG_DIR/console.log (the kernel log). Prints one line per result and, last, "P F" (passed,
# failed) on a line of its own. A test fails on any `not ok`, a missing plan, fewer results
# than planned, a whole-suite skip, a non-zero exit, or a missing END marker (crash/timeout).
# The guest fails on any kernel splat, a leak in the final kmemleak scan, or not powering off.
set -uo pipefail
variant=$1 logdir=$2 boot_status=$3
tests=$logdir/tests.log console=$logdir/console.log
touch "$tests" "$console"
awk -v variant="$variant" -v TAIL=12 '
	function finish(rc,   why) {
		why = ""
		if (rc == "") why = "no end marker (guest crashed or timed out)"
		else if (plan < 0) why = "no KTAP plan"
		else if (skipall) why = "whole suite skipped"
		else if (results != plan) why = "ran " results " of " plan " planned cases"
		else if (rc != 0 && notok == 0) why = "exit status " rc
		if (why != "" && why !~ /^exit/ && rc != "" && rc != 0) why = why ", exit status " rc
		if (why != "") {
			printf "FAIL %s/%s: %s\n", variant, name, why; failed++
			# The last lines of output say why (CI shows this summary, not the log).
			for (i = (nlines > TAIL ? nlines - TAIL : 0); i < nlines; i++)
				printf "#   %s\n", substr(tail[i % TAIL], 1, 300)
		}
		inblock = 0
	}
	{ sub(/\r$/, "") }
	/^KAIO-TEST-BEGIN / { if (inblock) finish(""); name = $2; inblock = 1; plan = -1; results = 0; notok = 0; skipall = 0; nlines = 0; next }
	/^KAIO-TEST-END / { if ($4 != "") printf "# %s/%s: %d s\n", variant, name, $4; finish($3); next }
	!inblock { next }
	!/^KAIO-TEST-END / { tail[nlines % TAIL] = $0; nlines++ }
	/^1\.\.[0-9]+/ { if (plan < 0) { plan = substr($1, 4) + 0; if ($0 ~ /# *SKIP/) skipall = 1 } next }
	/^not ok [0-9]+/ { results++; notok++; failed++; sub(/^not ok [0-9]+ /, ""); printf "FAIL %s/%s: %s\n", variant, name, $0; next }
	/^ok [0-9]+/ { results++; line = $0; sub(/^ok [0-9]+ /, "", line)
		if (line ~ /# *SKIP/) { skipped++; printf "SKIP %s/%s: %s\n", variant, name, line }
		else { passed++; printf "ok   %s/%s: %s\n", variant, name, line } next }
	END { if (inblock) finish(""); printf "%d %d %d\n", passed, failed, skipped > "/dev/stderr" }
' "$tests" 2> "$logdir/.counts"
read -r passed failed skipped < "$logdir/.counts"
guest_check() { # name, ok?
	if [ "$2" = 0 ]; then echo "ok   $variant/guest: $1"; passed=$((passed + 1))
	else echo "FAIL $variant/guest: $1"; failed=$((failed + 1)); fi
}
. "$(dirname "$0")/../qemu/splats.sh"
splats=$(grep -E "$SPLAT_RE" "$console" | head -5)
[ -z "$splats" ]; guest_check "no kernel splat in the console log" $?
[ -n "$splats" ] && echo "$splats" | sed 's/^/#   /'
if grep -q "KAIO-KMEMLEAK" "$console" || [ "$variant" = debug ]; then
	grep -q "KAIO-KMEMLEAK-CLEAN" "$console"; guest_check "kmemleak scan found no leak" $?
fi
grep -q "^KAIO-JOB-EXIT 0" "$console"; guest_check "job completed" $?
{ [ "$boot_status" = 0 ] && grep -q "KAIO-POWEROFF" "$console"; }; guest_check "powered off (boot status $boot_status)" $?
echo "$passed $failed"
