#!/usr/bin/env bash
# watch-tests.sh TESTS_LIST TESTS_LOG PID: kill PID (the QEMU of a check run) when a guest test
# overruns its tests.list timeout by GRACE_S (default 60) seconds. The guest enforces each
# timeout itself; this catches a guest that can no longer do so (a kernel busy loop, a
# deadlock, a stall), so that a hang costs one test's time instead of the whole run's.
# Reads the KAIO-TEST-BEGIN markers as they arrive in TESTS_LOG. Prints why it killed, if it did.
set -uo pipefail
list=$1 log=$2 pid=$3 grace=${GRACE_S:-60}
declare -A limit
while read -r name timeout_s _; do
	case "$name" in ''|\#*) continue ;; esac
	limit[$name]=$timeout_s
done < "$list"
current="" since=0
while kill -0 "$pid" 2>/dev/null; do
	last=$(grep -a '^KAIO-TEST-\(BEGIN\|END\) ' "$log" 2>/dev/null | tail -1 | tr -d '\r')
	case "$last" in
	"KAIO-TEST-BEGIN "*)
		name=${last#KAIO-TEST-BEGIN }
		if [ "$name" != "$current" ]; then current=$name since=$(date +%s); fi
		allowed=$(( ${limit[$name]:-600} + grace ))
		if [ $(( $(date +%s) - since )) -gt "$allowed" ]; then
			echo "watch-tests: $name ran over ${allowed}s (its timeout plus ${grace}s): guest hung, killed"
			kill "$pid" 2>/dev/null
			exit 0
		fi ;;
	*) current="" ;;
	esac
	sleep 2
done
