# Sourced by the qemu/ scripts: where the tool chain and the kernel cache live.
# The kernel and the module must be built by Debian's rustc-web (it has the library source
# the kernel builds `core` from), with the cargo-installed bindgen, and with LLVM=1.
KAIO_RUSTC=${KAIO_RUSTC:-/usr/bin/rustc}
KAIO_BINDGEN=${KAIO_BINDGEN:-$HOME/.cargo/bin/bindgen}
KAIO_CACHE=${KAIO_CACHE:-$HOME/.cache/kaio}
KAIO_KERNEL_TARBALL=${KAIO_KERNEL_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
KAIO_KMAKE=(make LLVM=1 "RUSTC=$KAIO_RUSTC" "BINDGEN=$KAIO_BINDGEN")
