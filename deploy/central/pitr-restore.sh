#!/bin/bash
# pitr-restore.sh - restore the central database from the pgBackRest
# repository into a NEW data directory (never over a cluster member), and
# optionally start it as a stand-alone server for inspection or export.
#
#   pitr-restore.sh --dest DIR --target 'YYYY-MM-DD HH:MM:SS.ffffff+00' [--port P] [--start]
#   pitr-restore.sh --dest DIR --latest [--port P] [--start]      (end of the WAL archive)
#   pitr-restore.sh --dest DIR --stop
#   options: --set LABEL (restore from this backup; default: the newest one before the target)
#
# The restored copy is started with archive_mode=off (it must never push WAL
# into the production stanza), no synchronous_standby_names (writes would
# hang), its own port (default CENTRAL_BASE_PORT+30) and socket directory,
# listening on 127.0.0.1 only. It is promoted at the target.
# Turning a restored copy into the new production cluster: docs/central-ops.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

dest="" target="" latest=0 port="" start=0 stop=0 set_=""
while [ $# -gt 0 ]; do
    case "$1" in
    --dest) dest=$2; shift 2 ;;
    --target) target=$2; shift 2 ;;
    --latest) latest=1; shift ;;
    --port) port=$2; shift 2 ;;
    --set) set_=$2; shift 2 ;;
    --start) start=1; shift ;;
    --stop) stop=1; shift ;;
    *) sed -n '2,16p' "$0" >&2; exit 2 ;;
    esac
done
[ -n "$dest" ] || die "--dest is required"
: "${port:=$(pitr_port)}"

if [ $stop = 1 ]; then
    [ -f "$dest/postmaster.pid" ] && as_pg pg_ctl -D "$dest" -m fast -w stop
    exit 0
fi
[ -n "$target" ] || [ $latest = 1 ] || die "give --target TIME or --latest"
for m in $CENTRAL_ALL_MEMBERS; do
    [ "$(readlink -f "$dest")" = "$(readlink -f "$(member_data "$m")")" ] && die "$dest is the data directory of member $m"
done
if [ -d "$dest" ] && [ -n "$(ls -A "$dest")" ]; then die "$dest is not empty"; fi
pg_dir "$dest" 700

args=(--pg1-path="$dest" --archive-mode=off)
[ -n "$set_" ] && args+=(--set="$set_")
if [ -n "$target" ]; then
    args+=(--type=time "--target=$target" --target-action=promote)
fi
t0=$(date +%s.%N)
as_pg pgbackrest --config="$PGBR_CONF" --stanza="$PGBR_STANZA" "${args[@]}" restore
log "files restored into $dest"

if [ $start = 1 ]; then
    sock="$dest.sock"; pg_dir "$sock" 755
    # command-line settings override the restored member's postgresql.conf
    as_pg pg_ctl -D "$dest" -l "$dest.log" -w -t 300 -o "-p $port -c listen_addresses=127.0.0.1 \
        -c unix_socket_directories=$sock -c archive_mode=off -c synchronous_standby_names= \
        -c primary_conninfo= -c primary_slot_name= -c cluster_name=restore \
        -c hba_file=$dest/pg_hba.conf -c ident_file=$dest/pg_ident.conf" start >/dev/null
    for _ in $(seq 1 300); do
        [ "$(as_pg psql -X -At -h "$sock" -p "$port" -U "$CENTRAL_SUPERUSER" -d postgres \
            -c 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ] && break
        sleep 0.2
    done
    [ "$(as_pg psql -X -At -h "$sock" -p "$port" -U "$CENTRAL_SUPERUSER" -d postgres -c 'SELECT pg_is_in_recovery()')" = f ] \
        || die "restored server did not finish recovery (log: $dest.log)"
    log "restored server running: psql -h $sock -p $port -U $CENTRAL_SUPERUSER $CENTRAL_DB" \
        "($(python3 -c "import sys,time; print(f'{time.time()-float(sys.argv[1]):.1f}')" "$t0") s)"
fi
