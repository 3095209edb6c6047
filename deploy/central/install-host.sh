#!/bin/bash
# install-host.sh - set up ONE host of a real deployment (idempotent; run as root).
#
#   CENTRAL_CONF=/etc/sikhnas-central/central.conf install-host.sh MEMBER     a database host
#   CENTRAL_CONF=/etc/sikhnas-central/central.conf install-host.sh --backup-host
#
# Database host: packages (scripts/deps.sh has them: patroni, etcd, postgresql-15-postgis-3,
# pgbackrest), the OS user, the member's Patroni YAML and a pgbackrest.conf for its
# own data directory (WAL archiving), the unit sikhnas-patroni@MEMBER (enabled, started).
# Start the hosts one after the other: the first one bootstraps, the others clone it.
# Then, once, on any database host: deploy/central/init-db.sh (database, PostGIS, roles, stanza).
# Backup host: pgbackrest.conf listing every database host (pgN-host, SSH as sikhnas-pg),
# the backup service and the 12-hour timers (full 00:30/12:30, diff 06:30/18:30).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ -n "${CENTRAL_CONF:-}" ] || { echo "set CENTRAL_CONF=/etc/sikhnas-central/central.conf" >&2; exit 2; }
. "$here/lib.sh"
[ "$(id -u)" = 0 ] || die "run as root"
what=${1:-}; [ -n "$what" ] || die "usage: install-host.sh MEMBER | --backup-host"

command -v patroni >/dev/null && command -v pgbackrest >/dev/null \
    || die "packages missing: apt-get install patroni etcd-server etcd-client pgbackrest postgresql-15-postgis-3"
ensure_os_user
pg_dir "$CENTRAL_DIR" 750; pg_dir "$CENTRAL_LOG_DIR" 750; pg_dir "$CENTRAL_CONF_DIR" 750
for f in sikhnas-patroni@.service sikhnas-pgbackrest@.service sikhnas-pgbackrest-full.timer sikhnas-pgbackrest-diff.timer; do
    install -m 644 "$here/systemd/$f" "/etc/systemd/system/$f"
done
systemctl daemon-reload

if [ "$what" = --backup-host ]; then
    PGBR_PG_REMOTE=1 "$here/configure.sh" "$(echo "$CENTRAL_MEMBERS" | awk '{print $1}')"
    rm -f "$CENTRAL_CONF_DIR/$(echo "$CENTRAL_MEMBERS" | awk '{print $1}').yml"   # not a member here
    systemctl enable --now sikhnas-pgbackrest-full.timer sikhnas-pgbackrest-diff.timer
    log "backup host ready; check: sudo -u $CENTRAL_OS_USER pgbackrest --config=$PGBR_CONF --stanza=$PGBR_STANZA check"
else
    member_index "$what" >/dev/null
    PGBR_PG_LOCAL_ONLY=$what "$here/configure.sh" "$what"
    systemctl enable --now "sikhnas-patroni@$what"
    log "member $what started: patronictl -c $(member_conf "$what") list"
fi
