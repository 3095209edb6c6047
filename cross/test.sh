#!/bin/sh
# test.sh [ARCH] - cross-build the node for ARCH (default arm64) against a
# sysroot of Debian's ARCH packages, run its unit tests and fuzz replays
# under qemu-user, and drive the cross-built sikhnas-node once end to end.
set -eu
cd "$(dirname "$0")/.."
arch=${1:-arm64}
case $arch in
    arm64) qemu=qemu-aarch64 ;;
    armhf) qemu=qemu-arm ;;
    *) echo "cross/test.sh: unknown architecture '$arch'" >&2; exit 2 ;;
esac
build=build/cross-$arch
mkdir -p build

sysroot_ini=$(cross/sysroot.sh "$arch" | tail -n 1)
sysroot=$(dirname "$sysroot_ini")
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" --cross-file "$sysroot_ini" --cross-file "cross/$arch.ini" \
        -Dhub=disabled > "$build.setup.log" 2>&1 || { tail -n 20 "$build.setup.log"; exit 1; }
fi
ninja -C "$build"
meson test -C "$build" --suite unit --suite fuzz --print-errorlogs

# the real binary on a real store, under emulation
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
node() { "$qemu" -L "$sysroot" "$build/node/sikhnas-node" --db "$tmp/node.db" "$@"; }
node init --district 32.01 --areas tests/data/idn-area
echo '{"kind":"U","village":"3201011001","signs":["KBG"],"animals":[{"species":"SP","sick":2}],"event_date":"2026-11-20","lat":-6.59,"lon":106.8}' |
    node report add
node status --json > "$tmp/status.json"
grep -q '"records":[[:space:]]*1,' "$tmp/status.json" || {
    echo "cross/test.sh: $arch node did not store the report:" >&2
    cat "$tmp/status.json" >&2
    exit 1
}
echo "cross/test.sh: $arch build passed its unit tests and stored a report under $qemu"
