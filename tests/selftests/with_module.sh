#!/bin/sh
# with_module.sh COMMAND...: load kaio.ko, run COMMAND, unload. The command's exit status is
# passed on; a failed load or unload is a failure (status 1) whatever the command did.
ko=${KAIO_KO:-/kaio/kaio.ko}
if ! insmod "$ko"; then
	echo "KTAP version 1"; echo "1..0"; echo "Bail out! insmod $ko failed"; exit 1
fi
"$@"
rc=$?
if ! rmmod kaio; then
	echo "# with_module: rmmod kaio failed after $*"; rc=1
fi
exit $rc
