#!/bin/sh
# libaio_harness.sh [CASE...]: libaio's own test harness on native AIO and on /dev/kaio
# (tests/libaio-harness/run-harness.sh, from the payload), with kaio.ko loaded. A payload
# built without it (the libaio source could not be fetched or built) fails.
if [ ! -f /kaio/libaio-harness/run-harness.sh ]; then
	echo "KTAP version 1"; echo "1..0"
	echo "Bail out! no libaio harness in the payload (make -C tests/libaio-harness)"
	exit 1
fi
exec sh selftests/with_module.sh sh /kaio/libaio-harness/run-harness.sh "$@"
