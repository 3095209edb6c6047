#!/bin/sh
# sysroot.sh ARCH - build a sysroot of Debian's ARCH (arm64, armhf) packages
# for cross-compiling the node, and a meson machine file naming it.
#   cross/sysroot.sh arm64 [DIR]     (default DIR: /var/cache/sikhnas/sysroot-ARCH)
# The packages are unpacked with dpkg -x, not installed: some -dev packages
# (libhttp-parser-dev) cannot be installed for two architectures at once,
# and the host's own build must keep working.
# Idempotent: a sysroot whose package list has not changed is left as it is.
set -eu

arch=${1:?usage: cross/sysroot.sh arm64|armhf [DIR]}
root=${2:-/var/cache/sikhnas/sysroot-$arch}
case $arch in
    arm64) triplet=aarch64-linux-gnu ;;
    armhf) triplet=arm-linux-gnueabihf ;;
    *) echo "sysroot.sh: unknown architecture '$arch'" >&2; exit 2 ;;
esac

# the node's libraries, and libpq for an arm64 hub (scripts/package.sh); mod_spatialite is not
# linked but loaded by the node for migrations and by its tests
PKGS="libc6-dev libsqlite3-dev libsqlite3-mod-spatialite libcurl4-openssl-dev libmbedtls-dev
  libcjson-dev libuv1-dev zlib1g-dev libzstd-dev libinih-dev libhttp-parser-dev libcsv-dev
  libssl-dev libpq-dev"

case " $(dpkg --print-foreign-architectures | tr '\n' ' ') " in
    *" $arch "*) ;;
    *) dpkg --add-architecture "$arch"; apt-get update -qq ;;
esac
[ -n "$(apt-cache policy "libc6:$arch" | grep Candidate | grep -v none)" ] || apt-get update -qq

want=""
for p in $PKGS; do want="$want $p:$arch"; done
# every package those need, recursively, for the same architecture
# shellcheck disable=SC2086
list=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
        --no-breaks --no-replaces --no-enhances $want 2>/dev/null |
       grep -E "^[a-z0-9][a-z0-9.+-]*:$arch\$" | sort -u)
stamp=$(echo "$list" | sha256sum | cut -c1-16)
if [ -f "$root/.stamp" ] && [ "$(cat "$root/.stamp")" = "$stamp" ]; then
    echo "sysroot $root is up to date ($(echo "$list" | wc -l) packages)"
else
    echo "sysroot: unpacking $(echo "$list" | wc -l) $arch packages into $root"
    rm -rf "$root"
    mkdir -p "$root/.debs"
    # shellcheck disable=SC2086
    (cd "$root/.debs" && apt-get download -qq $list)
    for deb in "$root"/.debs/*.deb; do
        dpkg -x "$deb" "$root"
    done
    rm -rf "$root/.debs"
    # absolute symlinks point into the host: make them point into the sysroot
    find "$root" -type l | while read -r l; do
        t=$(readlink "$l")
        case $t in /*) ln -sfn "$root$t" "$l" ;; esac
    done
    echo "$stamp" > "$root/.stamp"
fi

# the machine file that says where the sysroot is (used with cross/$arch.ini)
cat > "$root/meson-sysroot.ini" <<EOT
[constants]
sysroot = '$root'
triplet = '$triplet'
EOT
echo "$root/meson-sysroot.ini"
