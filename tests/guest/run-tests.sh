#!/bin/sh
# The check job, run inside the guest: every line of /kaio/tests.list is one test command
# (run from /kaio, under a timeout). Each one's output goes to /dev/ttyS1 framed by
# KAIO-TEST-BEGIN/END markers (END: exit status, seconds taken), which the host parser (tests/ktap-summary.sh) reads.
out=/dev/ttyS1
while read -r name timeout_s cmd; do
	case "$name" in ''|\#*) continue ;; esac
	echo "KAIO-TEST-BEGIN $name" > $out
	echo "running $name" > /dev/console
	start=$(date +%s)
	( cd /kaio && timeout "$timeout_s" sh -c "$cmd" ) > $out 2>&1 < /dev/null
	rc=$?
	echo "KAIO-TEST-END $name $rc $(( $(date +%s) - start ))" > $out
done < /kaio/tests.list
