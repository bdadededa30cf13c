#!/usr/bin/env bash
# Build kaio.ko against one guest kernel: build-module.sh VARIANT [make args...]
# The sources are copied to build/VARIANT/module so that the work tree stays clean and the two
# variants do not share objects; rsync keeps timestamps, so a rebuild is incremental.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
. "$here/toolchain.sh"
variant=$1; shift
kdir=$("$here/kernel-dir.sh" "$variant")
[ -f "$kdir/.kaio-built" ] || "$here/build-kernel.sh" "$variant"
# KAIO_INJECT (harness self-test) builds elsewhere so that it never replaces the real module.
# So does KAIO_BUG (a fixed fs/aio.c bug put back, tests/check-bugs.sh).
tag=$variant${KAIO_INJECT:+-inject-$KAIO_INJECT}${KAIO_BUG:+-bug-$KAIO_BUG}
out=$top/build/$tag/module
mkdir -p "$out"
# Concurrent builds of the same variant (parallel `make test` runs) take turns.
exec 9>"$out.lock"
flock 9
# Objects built against another kernel (a config change gives a new kernel directory) are not
# rebuilt by Kbuild, whose command lines name the kernel's headers by relative paths: start over.
if [ "$(cat "$out/.kernel-dir" 2>/dev/null)" != "$kdir" ]; then
	find "$out" -mindepth 1 -delete
	echo "$kdir" > "$out/.kernel-dir"
fi
rsync -a --delete --exclude 'bindings_generated.rs' --exclude '*.o' --exclude '*.cmd' \
	--exclude '*.ko' --exclude '*.mod*' --exclude '*.d' --exclude 'Module.symvers' \
	--exclude 'modules.order' --exclude '.*.cmd' \
	"$top/Kbuild" "$top/rust" "$out/"
"${KAIO_KMAKE[@]}" -s -C "$kdir" M="$out" KAIO_INJECT="${KAIO_INJECT:-}" KAIO_BUG="${KAIO_BUG:-}" "$@" modules
cp "$out/kaio.ko" "$top/build/$tag/kaio.ko"
