#!/usr/bin/env bash
# Print the cache directory of a guest kernel variant (release|debug). The name holds the
# kernel version and a hash of everything that shapes the build (config fragments, tool
# chain versions), so a changed input gives a new directory and an unchanged one is reused.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/toolchain.sh"
variant=$1
[ -f "$here/config/$variant.config" ] || { echo "unknown variant '$variant' (release|debug)" >&2; exit 2; }
version=$(dpkg-query -W -f '${Version}' linux-source-6.12 2>/dev/null || echo unknown)
key=$( {
	echo "$version"
	cat "$here/config/common.config" "$here/config/$variant.config"
	"$KAIO_RUSTC" --version 2>/dev/null || true
	"$KAIO_BINDGEN" --version 2>/dev/null || true
	clang --version 2>/dev/null | head -1 || true
} | sha256sum | cut -c1-12)
echo "$KAIO_CACHE/kernels/linux-$version-$variant-$key"
