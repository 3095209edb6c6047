#!/bin/sh
# package.sh ARCH [node|hub] - build a Debian package from the tree:
#   scripts/package.sh arm64 node    sikhnas-node for a 64-bit ARM board
#   scripts/package.sh armhf node    ... a 32-bit one (Raspberry Pi 2, ...)
#   scripts/package.sh amd64 hub     sikhnas-hub (also amd64 node, arm64 hub)
# Prints the .deb's path (under build/pkg/). ARM builds are cross-compiled
# against cross/sysroot.sh's sysroot, amd64 ones natively; release build,
# stripped. The package holds the binary, the systemd unit (deploy/node or
# deploy/hub), its defaults file, the config (/etc/sikhnas/node.ini, a
# conffile), docs, and maintainer scripts that make the dedicated user and
# /var/lib/sikhnas. Depends are the packages of the shared libraries the
# binary needs (readelf), as this Debian names them.
#   SIKHNAS_AREAS=DIR   also ship the idn-area data (for `init`) from DIR
set -eu
cd "$(dirname "$0")/.."
arch=${1:?usage: scripts/package.sh amd64|arm64|armhf [node|hub]}
what=${2:-node}
case $arch in amd64|arm64|armhf) ;; *) echo "package.sh: unknown arch '$arch'" >&2; exit 2 ;; esac
case $what in node|hub) ;; *) echo "package.sh: node or hub, not '$what'" >&2; exit 2 ;; esac
[ "$what$arch" = hubarmhf ] && { echo "package.sh: the hub is built for amd64 and arm64" >&2; exit 2; }

build=build/pkg-$arch
name=sikhnas-$what
mkdir -p build/pkg
if [ ! -f "$build/build.ninja" ]; then
    opts="-Dbuildtype=release -Dprefix=/usr -Dareas_dir=/usr/share/sikhnas/idn-area"
    if [ "$arch" = amd64 ]; then
        # shellcheck disable=SC2086
        meson setup "$build" $opts > "$build.setup.log" 2>&1 || { tail -n 20 "$build.setup.log"; exit 1; }
    else
        ini=$(cross/sysroot.sh "$arch" | tail -n 1)
        hub=disabled
        [ "$arch" = arm64 ] && hub=auto
        # shellcheck disable=SC2086
        meson setup "$build" --cross-file "$ini" --cross-file "cross/$arch.ini" $opts \
            -Dhub=$hub > "$build.setup.log" 2>&1 || { tail -n 20 "$build.setup.log"; exit 1; }
    fi
fi
ninja -C "$build" "$what/$name" >&2
# the node's sync program (node/uplink_main.c): the daemon runs it for each
# round, `sync` and `enroll` exec it; only it links libcurl
if [ "$what" = node ]; then
    ninja -C "$build" node/sikhnas-node-uplink >&2
    uplink=$build/node/sikhnas-node-uplink
fi
bin=$build/$what/$name
[ -x "$bin" ] || { echo "package.sh: $bin was not built (for the hub: libpq-dev:$arch)" >&2; exit 1; }

case $arch in
    amd64) strip=strip readelf=readelf ;;
    arm64) strip=aarch64-linux-gnu-strip readelf=aarch64-linux-gnu-readelf ;;
    armhf) strip=arm-linux-gnueabihf-strip readelf=arm-linux-gnueabihf-readelf ;;
esac
version=$(meson introspect --projectinfo "$build" | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
rev=$(git log -1 --format=%cd.%h --date=format:%Y%m%d 2>/dev/null || echo 0)
version="$version+git$rev"

stage=$(mktemp -d)
chmod 0755 "$stage"
trap 'rm -rf "$stage"' EXIT
install -D -m 0755 "$bin" "$stage/usr/bin/$name"
$strip --strip-unneeded "$stage/usr/bin/$name"
if [ "$what" = node ]; then
    install -D -m 0755 "$uplink" "$stage/usr/libexec/sikhnas/sikhnas-node-uplink"
    $strip --strip-unneeded "$stage/usr/libexec/sikhnas/sikhnas-node-uplink"
fi
install -D -m 0644 "deploy/$what/$name.service" "$stage/lib/systemd/system/$name.service"
install -D -m 0644 "deploy/$what/$name.default" "$stage/etc/default/$name"
mkdir -p "$stage/usr/share/doc/$name" "$stage/DEBIAN"
conffiles="/etc/default/$name"
if [ "$what" = node ]; then
    install -D -m 0644 deploy/node/node.ini "$stage/etc/sikhnas/node.ini"
    conffiles="$conffiles
/etc/sikhnas/node.ini"
    cp docs/node.md docs/sms.md "$stage/usr/share/doc/$name/" 2>/dev/null || true
    if [ -n "${SIKHNAS_AREAS:-}" ]; then
        mkdir -p "$stage/usr/share/sikhnas/idn-area"
        cp "$SIKHNAS_AREAS"/*.csv "$SIKHNAS_AREAS"/LICENSE.md "$stage/usr/share/sikhnas/idn-area/"
    fi
    user=sikhnas home=/var/lib/sikhnas
else
    cp docs/deploy.md "$stage/usr/share/doc/$name/" 2>/dev/null || true
    user=sikhnas-hub home=/var/lib/sikhnas-hub
fi
echo "$conffiles" > "$stage/DEBIAN/conffiles"

# Depends: the package of each NEEDED library, as this Debian names it
# (the same name on every architecture); the node loads SpatiaLite itself
deps=""
for so in $($readelf -d "$bin" ${uplink:-} | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | sort -u); do
    case $so in ld-linux*|libc.so*|libm.so*) continue ;; esac
    p=$(dpkg -S "*/$so" 2>/dev/null | grep -v -- '-cross' | head -n 1 | cut -d: -f1)
    [ -n "$p" ] || { echo "package.sh: no package ships $so" >&2; exit 1; }
    case " $deps " in *" $p "*) ;; *) deps="$deps $p" ;; esac
done
deps="libc6$(for p in $deps; do printf ', %s' "$p"; done)"
[ "$what" = node ] && deps="$deps, libsqlite3-mod-spatialite"
deps="$deps, adduser | passwd"

cat > "$stage/DEBIAN/control" <<EOT
Package: $name
Version: $version
Architecture: $arch
Maintainer: SIKHNAS Edge <sikhnas@localhost>
Section: misc
Priority: optional
Depends: $deps
Recommends: systemd-timesyncd | chrony
Suggests: smstools
Installed-Size: $(du -sk "$stage" | cut -f1)
Description: SIKHNAS Edge $what (animal-health surveillance)
 $(if [ "$what" = node ]; then echo "The district node: web UI, SMS intake, a store that works offline,"; echo " and sync with the central hub over a slow or metered link."; else echo "The central gateway the district nodes sync with."; fi)
EOT

# maintainer scripts: chroot-less installs (dpkg --root with
# --force-script-chrootless) set DPKG_ROOT; every path goes through it
cat > "$stage/DEBIAN/postinst" <<EOT
#!/bin/sh
set -e
R="\${DPKG_ROOT:-}"
if [ "\$1" = configure ]; then
    if ! grep -q '^$user:' "\$R/etc/passwd" 2>/dev/null; then
        useradd --root "\${R:-/}" --system --user-group --home-dir $home \\
            --shell /usr/sbin/nologin --comment "SIKHNAS $what" $user
    fi
    install -d -m 0750 -o $user -g $user "\$R$home" 2>/dev/null ||
        { mkdir -p "\$R$home"; chmod 0750 "\$R$home"; }
EOT
if [ "$what" = node ]; then
    cat >> "$stage/DEBIAN/postinst" <<'EOT'
    # smstools3's spool: the node reads incoming/, writes outgoing/ (through
    # tmp/) and keeps processed/ and failed/ (docs/node.md)
    if grep -q '^smsd:' "$R/etc/group" 2>/dev/null; then
        usermod --root "${R:-/}" -a -G smsd sikhnas
        for d in incoming outgoing processed failed tmp; do
            mkdir -p "$R/var/spool/sms/$d"
        done
        chgrp smsd "$R/var/spool/sms" "$R/var/spool/sms/"* 2>/dev/null || true
        chmod g+rwxs,-t "$R/var/spool/sms/incoming" "$R/var/spool/sms/outgoing" \
            "$R/var/spool/sms/processed" "$R/var/spool/sms/failed" "$R/var/spool/sms/tmp"
    fi
EOT
fi
cat >> "$stage/DEBIAN/postinst" <<EOT
    if [ -z "\$R" ] && [ -d /run/systemd/system ]; then
        systemctl daemon-reload || true
        systemctl enable $name.service || true
        [ -e $home/node.db ] || [ "$what" = hub ] && systemctl restart $name.service || true
    fi
fi
exit 0
EOT
cat > "$stage/DEBIAN/prerm" <<EOT
#!/bin/sh
set -e
if [ -z "\${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ] && [ "\$1" = remove ]; then
    systemctl stop $name.service || true
fi
exit 0
EOT
cat > "$stage/DEBIAN/postrm" <<EOT
#!/bin/sh
set -e
if [ -z "\${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
fi
# the store stays on purge too: it holds the district's records
exit 0
EOT
chmod 0755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/prerm" "$stage/DEBIAN/postrm"
deb=build/pkg/${name}_${version}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >&2
echo "$deb"
