#!/bin/bash
# backup.sh - pgBackRest backups of the central cluster (run from ONE place:
# the repository host, or one member; the pgBackRest lock is per host).
#
#   backup.sh full | diff | incr    take a backup from the current primary
#   backup.sh info                  list backups and the WAL archive range
#   backup.sh check                 archive_command works on the primary (forces a WAL switch)
#   backup.sh expire                apply the retention policy now (backup does it too)
#
# Retention (settings): PGBR_RETENTION_FULL full backups (default 14 = 7 days
# at two fulls a day), PGBR_RETENTION_DIFF differentials; WAL older than the
# oldest retained full is expired with it. The systemd timers in
# deploy/central/systemd/ run full at 00:30 and 12:30, diff at 06:30 and 18:30.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
B=(pgbackrest --config="$PGBR_CONF" --stanza="$PGBR_STANZA")
case "${1:-}" in
full|diff|incr)
    t0=$(date +%s.%N)
    as_pg "${B[@]}" --type="$1" backup
    log "$1 backup done in $(python3 -c "import sys,time; print(f'{time.time()-float(sys.argv[1]):.1f}')" "$t0") s"
    ;;
info)   as_pg "${B[@]}" info ;;
check)  as_pg "${B[@]}" check ;;
expire) as_pg "${B[@]}" expire ;;
*) sed -n '2,14p' "$0" >&2; exit 2 ;;
esac
