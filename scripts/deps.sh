#!/bin/sh
# deps.sh - install the Debian 12 packages this project needs (idempotent).
#   scripts/deps.sh            build + test + run dependencies for this machine
#   scripts/deps.sh --cross    also the aarch64 cross compiler and qemu-user
# Safe to re-run: apt-get only installs what is missing.
set -eu

HOST_PKGS="build-essential meson ninja-build pkg-config python3 git ca-certificates curl
  sqlite3 libsqlite3-dev libsqlite3-mod-spatialite
  libcurl4-openssl-dev libmbedtls-dev libcjson-dev libuv1-dev libpq-dev
  zlib1g-dev libzstd-dev libinih-dev libhttp-parser-dev
  clang libclang-rt-14-dev openssl procps time libcsv-dev zstd
  postgresql-15-postgis-3 postgresql-client-15 pgbackrest
  patroni etcd-server etcd-client
  chromium wrk
  python3-aiosmtpd
  libxlsxwriter-dev libjs-chart.js libjs-leaflet libjs-leaflet.markercluster
  gdal-bin python3-openpyxl
  gammu-smsd smstools"

# the cross compiler and qemu; the arm64 libraries go into a sysroot (cross/sysroot.sh)
CROSS_PKGS="gcc-aarch64-linux-gnu qemu-user"

cross=0
[ "${1:-}" = "--cross" ] && cross=1

if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: run as root (apt-get install)" >&2
    exit 1
fi

want=$HOST_PKGS
if [ $cross = 1 ]; then
    want="$want $CROSS_PKGS"
fi

missing=""
# npm: the machine image ships Node.js with npm; Debian's npm only where there is none
command -v npm >/dev/null 2>&1 || want="$want npm"
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
# the SMS gateways are for tests/sms-gateway, which runs its own: the
# services the packages start (on their placeholder devices) are stopped
case " $missing " in *" gammu-smsd "*|*" smstools "*)
    for unit in gammu-smsd smstools; do
        systemctl disable --now "$unit" >/dev/null 2>&1 || true
    done ;;
esac
