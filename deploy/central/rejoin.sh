#!/bin/bash
# rejoin.sh - bring a failed member (e.g. the old primary) back as a standby.
#
#   rejoin.sh NAME [--timeout S]     start its Patroni; Patroni sees another
#                                    leader, runs pg_rewind (use_pg_rewind: true,
#                                    WAL from the archive if needed) and follows it
#   rejoin.sh NAME --reinit          if rewind is impossible: wipe the member's
#                                    data and clone it afresh from the leader
#
# Waits until NAME streams from the leader with no lag; prints the seconds taken.
# On a real host: "systemctl start sikhnas-patroni" instead of member.sh start.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
name=${1:-}; shift || true
[ -n "$name" ] || die "usage: rejoin.sh NAME [--reinit] [--timeout S]"
timeout=120 reinit=0
while [ $# -gt 0 ]; do
    case "$1" in --reinit) reinit=1; shift ;; --timeout) timeout=$2; shift 2 ;; *) die "unknown $1" ;; esac
done
leader=$(leader_name); [ -n "$leader" ] || die "no leader to follow"
[ "$leader" != "$name" ] || die "$name is the leader"
t0=$(date +%s.%N)
if [ "${CENTRAL_SYSTEMD:-0}" = 1 ]; then   # real host (central.conf sets CENTRAL_SYSTEMD=1)
    systemctl start sikhnas-patroni
else
    "$here/member.sh" start "$name"
fi
if [ $reinit = 1 ]; then
    for _ in $(seq 1 60); do members_table | grep -q "^$name " && break; sleep 0.5; done
    patronictl_ reinit --force "$CENTRAL_SCOPE" "$name" >/dev/null
fi
deadline=$(( $(date +%s) + timeout ))
state=""
while [ "$(date +%s)" -lt "$deadline" ]; do
    state=$(members_table | awk -v n="$name" '$1 == n {print $2, $3, $4, $5}')
    lt=$(members_table | awk '$2 == "leader" {print $5}')
    case "$state" in
    "replica running 0 $lt"|"sync_standby running 0 $lt"|"replica streaming 0 $lt"|"sync_standby streaming 0 $lt")
        log "$name rejoined as ${state%% *} of $(leader_name) on timeline $lt in" \
            "$(python3 -c "import sys,time; print(f'{time.time()-float(sys.argv[1]):.1f}')" "$t0") s"
        exit 0 ;;
    esac
    sleep 0.5
done
die "$name did not rejoin within ${timeout}s (state: ${state:-absent}; log $CENTRAL_LOG_DIR/$name.log);" \
    "try: rejoin.sh $name --reinit"
