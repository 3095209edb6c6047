#!/bin/sh
# test-package.sh [ARCH] - install the sikhnas-node package (scripts/package.sh)
# into a Debian 12 root of ARCH (default arm64) made by debootstrap, and run
# the installed daemon under qemu-user: it must make its user and config,
# answer on its web port, and say READY=1 (and WATCHDOG=1) to a stand-in
# for systemd's notify socket.
#   root: /var/cache/sikhnas/debroot-ARCH (debootstrap --foreign, kept)
# The package goes in with `dpkg --root --force-script-chrootless`, so its
# maintainer scripts run (DPKG_ROOT-aware) without binfmt_misc; the
# libraries it depends on are unpacked into the root from Debian's
# packages (their own maintainer scripts would need the root booted).
set -eu
cd "$(dirname "$0")/.."
arch=${1:-arm64}
case $arch in
    arm64) qemu=qemu-aarch64 ;;
    armhf) qemu=qemu-arm ;;
    *) echo "test-package.sh: unknown architecture '$arch'" >&2; exit 2 ;;
esac
root=/var/cache/sikhnas/debroot-$arch
command -v debootstrap >/dev/null || { echo "test-package.sh: apt-get install debootstrap" >&2; exit 1; }
if [ ! -f "$root/.done" ]; then
    rm -rf "$root.tmp"
    debootstrap --foreign --variant=minbase --arch="$arch" bookworm "$root.tmp" \
        http://deb.debian.org/debian > "/tmp/debootstrap-$arch.log" 2>&1 ||
        { tail -n 20 "/tmp/debootstrap-$arch.log"; exit 1; }
    rm -rf "$root"
    mv "$root.tmp" "$root"
    touch "$root/.done"
fi

deb=$(scripts/package.sh "$arch" node | tail -n 1)
[ -f "$deb" ] || { echo "test-package.sh: no package built" >&2; exit 1; }

# the libraries of Depends, with theirs, unpacked into the root
tmp=$(mktemp -d)
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
deps=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/ //g' |
       grep -v -e '^adduser$' -e '^$')
want=""
for p in $deps; do want="$want $p:$arch"; done
# shellcheck disable=SC2086
list=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
        --no-replaces --no-enhances $want 2>/dev/null | grep -E "^[a-z0-9][a-z0-9.+-]*:$arch\$" |
       sort -u)
mkdir -p "$root/.debs"
# shellcheck disable=SC2086
(cd "$root/.debs" && apt-get download -qq -o APT::Sandbox::User=root $list)
for d in "$root"/.debs/*.deb; do
    dpkg -x "$d" "$root"
done
rm -rf "$root/.debs"

# the package itself, through dpkg, its maintainer scripts chroot-less
dpkg --root="$root" --force-script-chrootless --force-depends --force-architecture \
    --log=/dev/null -i "$deb" > "$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log"; exit 1; }
fail() { echo "test-package.sh: $*" >&2; exit 1; }
grep -q '^sikhnas:' "$root/etc/passwd" || fail "the package made no user sikhnas"
[ -f "$root/etc/sikhnas/node.ini" ] || fail "no /etc/sikhnas/node.ini"
[ -d "$root/var/lib/sikhnas" ] || fail "no /var/lib/sikhnas"
grep -q '^Type=notify' "$root/lib/systemd/system/sikhnas-node.service" || fail "no notify unit"
if command -v systemd-analyze >/dev/null; then
    systemd-analyze verify --root="$root" sikhnas-node.service > "$tmp/verify.log" 2>&1 ||
        { grep -v -e 'not found' -e 'Failed to' "$tmp/verify.log" | head -n 20; }
fi

# the installed binary under qemu, on the installed root's libraries
node() {
    "$qemu" -L "$root" "$root/usr/bin/sikhnas-node" --config "$root/etc/sikhnas/node.ini" \
        --db "$tmp/node.db" "$@"
}
node init --district 32.01 --areas tests/data/idn-area > "$tmp/init.log" 2>&1 ||
    { cat "$tmp/init.log"; fail "init failed"; }
# the sync program (issue 13: the daemon maps no libcurl; it runs this one
# for each round): installed, its libraries found, its usage as the node's
uplink=$root/usr/libexec/sikhnas/sikhnas-node-uplink
[ -x "$uplink" ] || fail "no /usr/libexec/sikhnas/sikhnas-node-uplink"
"$qemu" -L "$root" "$uplink" --db "$tmp/node.db" sync > "$tmp/uplink.log" 2>&1 && st=0 || st=$?
[ "$st" = 2 ] && grep -q 'no hub known' "$tmp/uplink.log" ||
    { cat "$tmp/uplink.log"; fail "sikhnas-node-uplink sync answered $st, not 2 (no hub known)"; }
python3 - "$tmp/notify" > "$tmp/notify.log" 2>&1 <<'EOT' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(5)
t0 = time.time()
while time.time() - t0 < 180:
    try:
        lines = s.recv(4096).decode().splitlines()
    except socket.timeout:
        continue
    for line in lines:
        print(line, flush=True)
    if 'STOPPING=1' in lines:
        break
EOT
sleep 1
NOTIFY_SOCKET=$tmp/notify WATCHDOG_USEC=4000000 "$qemu" -L "$root" "$root/usr/bin/sikhnas-node" \
    --config "$root/etc/sikhnas/node.ini" --db "$tmp/node.db" run --listen 127.0.0.1:0 \
    > "$tmp/run.log" 2>&1 &
pid=$!
port=""
for _ in $(seq 1 120); do
    port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/run.log")
    [ -n "$port" ] && grep -q '^READY=1' "$tmp/notify.log" && grep -q '^WATCHDOG=1' "$tmp/notify.log" && break
    sleep 1
done
[ -n "$port" ] || { cat "$tmp/run.log"; fail "the daemon did not listen"; }
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/")
[ "$code" = 200 ] || fail "the web port answered $code"
grep -q '^READY=1' "$tmp/notify.log" || { cat "$tmp/notify.log"; fail "no READY=1"; }
grep -q '^WATCHDOG=1' "$tmp/notify.log" || fail "no WATCHDOG=1"
kill "$pid"
wait "$pid" 2>/dev/null || true
pid=""
sleep 1
grep -q '^STOPPING=1' "$tmp/notify.log" || fail "no STOPPING=1 on SIGTERM"
echo "test-package.sh: $(basename "$deb") installed into a Debian 12 $arch root; under $qemu" \
     "it answered HTTP 200 on its port and said READY=1, WATCHDOG=1, STOPPING=1"
