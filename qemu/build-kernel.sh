#!/usr/bin/env bash
# Build (or find in the cache) the guest kernel of one variant: release or debug.
# Debian's linux-source-6.12, tinyconfig + config/common.config + config/<variant>.config,
# LLVM=1 with Rust. The full `make` is run because out-of-tree modpost needs Module.symvers.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/toolchain.sh"
variant=$1
out=$("$here/kernel-dir.sh" "$variant")
if [ -f "$out/.kaio-built" ]; then
	echo "kernel $variant: cached at $out"
	exit 0
fi
src=$KAIO_CACHE/src/$(basename "$KAIO_KERNEL_TARBALL" .tar.xz)-$(dpkg-query -W -f '${Version}' linux-source-6.12)
if [ ! -f "$src/.kaio-extracted" ]; then
	echo "kernel: extracting $KAIO_KERNEL_TARBALL to $src"
	rm -rf "$src"; mkdir -p "$src"
	tar -xf "$KAIO_KERNEL_TARBALL" -C "$src" --strip-components=1
	touch "$src/.kaio-extracted"
fi
echo "kernel $variant: building in $out (about 4-6 minutes on 2 cores)"
start=$(date +%s)
rm -rf "$out"; mkdir -p "$out"
kmake=("${KAIO_KMAKE[@]}" -C "$src" "O=$out")
"${kmake[@]}" -s tinyconfig
"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" \
	"$here/config/common.config" "$here/config/$variant.config" >/dev/null
"${kmake[@]}" -s olddefconfig
# A fragment line that did not survive olddefconfig (an unmet dependency) is a build error:
# a guest silently missing RUST or KASAN would make every later result meaningless.
missing=0
while read -r line; do
	case "$line" in ''|\#*) continue ;; esac
	opt=${line%%=*}; val=${line#*=}
	if [ "$val" = n ]; then
		grep -qx "$opt=y" "$out/.config" && { echo "config: $opt is still set" >&2; missing=1; }
	else
		grep -qx "$line" "$out/.config" || { echo "config: $line did not take ($(grep "^$opt=\|# $opt " "$out/.config" || echo absent))" >&2; missing=1; }
	fi
done < <(cat "$here/config/common.config" "$here/config/$variant.config")
[ $missing = 0 ] || { echo "kernel $variant: config fragment not satisfied" >&2; exit 1; }
"${kmake[@]}" -s -j"$(($(nproc) + 1))"
touch "$out/.kaio-built"
echo "kernel $variant: built in $(( $(date +%s) - start )) s"
