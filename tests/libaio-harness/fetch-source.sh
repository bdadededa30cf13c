#!/usr/bin/env bash
# fetch-source.sh: make sure libaio's upstream source (Debian bookworm's libaio 0.3.113-4
# orig tarball, whose harness/ this directory builds) is in the cache, and print its path.
# Downloaded from deb.debian.org only when missing, and kept only if its sha256 matches.
# The cache is the kernels' ($KAIO_CACHE, qemu/toolchain.sh); the tarball is never committed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../qemu/toolchain.sh"
name=libaio_0.3.113.orig.tar.gz
url=http://deb.debian.org/debian/pool/main/liba/libaio/$name
sha256=2c44d1c5fd0d43752287c9ae1eb9c023f04ef848ea8d4aafa46e9aedb678200b
dest=$KAIO_CACHE/src/$name
if [ ! -f "$dest" ]; then
	mkdir -p "$(dirname "$dest")"
	tmp=$(mktemp "$dest.XXXXXX")
	trap 'rm -f "$tmp"' EXIT
	echo "fetch-source: downloading $url" >&2
	curl -fsSL --retry 3 -o "$tmp" "$url"
	if ! echo "$sha256  $tmp" | sha256sum -c --quiet - >&2; then
		echo "fetch-source: $name: sha256 mismatch (expected $sha256)" >&2
		exit 1
	fi
	chmod 644 "$tmp"
	mv "$tmp" "$dest"
fi
echo "$sha256  $dest" | sha256sum -c --quiet - >&2 || {
	echo "fetch-source: cached $dest has the wrong sha256; delete it to fetch again" >&2; exit 1; }
echo "$dest"
