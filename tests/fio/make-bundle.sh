#!/usr/bin/env bash
# make-bundle.sh OUT: the fio guest bundle (it becomes /kaio/fio in the guest):
#   bin/fio                  Debian's fio, unmodified
#   lib/                     its shared libraries (ldd) and the dynamic loader, except libaio
#   lib-native/libaio.so.1   the system's libaio (io_setup(2) ...: native AIO)
#   lib-kaio/libaio.so.1     tests/libaio-compat's libaio (ioctls of /dev/kaio)
#   run-fio.sh               the KTAP test
# The bundle is rebuilt only when one of its inputs is newer than OUT/.stamp.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$(dirname "$here")")
out=$1
fio=$(command -v fio || true)
[ -n "$fio" ] || { echo "make-bundle: fio is not installed (apt-get install fio)" >&2; exit 1; }
native=/usr/lib/x86_64-linux-gnu/libaio.so.1
[ -e "$native" ] || { echo "make-bundle: $native missing (apt-get install libaio1)" >&2; exit 1; }
make -s -C "$top/tests/libaio-compat" >/dev/null
ours=$top/tests/libaio-compat/build/lib/libaio.so.1
inputs=("$fio" "$native" "$ours" "$here/run-fio.sh" "$here/make-bundle.sh")
if [ -f "$out/.stamp" ]; then
	fresh=1
	for f in "${inputs[@]}"; do
		[ "$(readlink -f "$f")" -nt "$out/.stamp" ] && fresh=0
	done
	[ "$fresh" = 1 ] && exit 0
fi
rm -rf "$out"
mkdir -p "$out/bin" "$out/lib" "$out/lib-native" "$out/lib-kaio"
cp "$fio" "$out/bin/fio"
ldd "$fio" | awk '/=> \// { print $3 } /^[ \t]*\// { print $1 }' | while read -r lib; do
	case "$(basename "$lib")" in
	libaio.so.*) ;;
	ld-linux-x86-64.so.2) cp -L "$lib" "$out/lib/ld-linux-x86-64.so.2" ;;
	*) cp -L "$lib" "$out/lib/" ;;
	esac
done
[ -f "$out/lib/ld-linux-x86-64.so.2" ] || cp -L /lib64/ld-linux-x86-64.so.2 "$out/lib/"
cp -L "$native" "$out/lib-native/libaio.so.1"
cp -L "$ours" "$out/lib-kaio/libaio.so.1"
cp "$here/run-fio.sh" "$out/run-fio.sh"
touch "$out/.stamp"
