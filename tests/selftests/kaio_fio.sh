#!/bin/sh
# kaio_fio.sh: the fio comparison (tests/fio/run-fio.sh) from the payload's fio bundle, with
# kaio.ko loaded. A payload built without the bundle (fio not installed on the host) fails.
if [ ! -f /kaio/fio/run-fio.sh ]; then
	echo "KTAP version 1"; echo "1..0"
	echo "Bail out! no fio bundle in the payload (install fio on the host: apt-get install fio)"
	exit 1
fi
exec sh selftests/with_module.sh sh /kaio/fio/run-fio.sh
