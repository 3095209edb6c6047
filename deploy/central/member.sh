#!/bin/bash
# member.sh - start/stop/kill one cluster member on this machine (lab mode:
# a Patroni process under nohup/setsid with a pid file; on real hosts the
# systemd unit deploy/central/systemd/sikhnas-patroni.service does the same).
#
#   member.sh start NAME      start Patroni for NAME (no-op if running)
#   member.sh stop NAME       SIGTERM Patroni (it stops PostgreSQL), wait, SIGKILL leftovers
#   member.sh kill NAME       kill -9 Patroni AND the postmaster at once (node loss)
#   member.sh kill-postmaster NAME   kill -9 the postmaster only (Patroni restarts it in place)
#   member.sh pids NAME       "patroni_pid postmaster_pid"
#   etcd: member.sh start-etcd | stop-etcd   (lab: one etcd member)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

cmd=${1:-}; name=${2:-}

case "$cmd" in
start)
    [ -n "$name" ] || die "usage: member.sh start NAME"
    [ -f "$(member_conf "$name")" ] || die "no config for $name: run configure.sh"
    [ -n "$(patroni_pid "$name")" ] && exit 0
    # a postmaster left over from a kill -9 of Patroni alone: Patroni adopts it
    start_daemon "$(patroni_pidfile "$name")" "$CENTRAL_LOG_DIR/$name.log" patroni "$(member_conf "$name")"
    ;;
stop)
    [ -n "$name" ] || die "usage: member.sh stop NAME"
    stop_pid "$(patroni_pid "$name")" "$(member_conf "$name")" 30
    pm=$(postmaster_pid "$name")
    [ -n "$pm" ] && stop_pid "$pm" "$(member_data "$name")" 10   # orphaned postmaster
    rm -f "$(patroni_pidfile "$name")"
    ;;
kill)
    [ -n "$name" ] || die "usage: member.sh kill NAME"
    pp=$(patroni_pid "$name"); pm=$(postmaster_pid "$name")
    # shellcheck disable=SC2086
    [ -n "$pp$pm" ] && kill -KILL $pp $pm 2>/dev/null
    echo "killed patroni=${pp:--} postmaster=${pm:--}"
    ;;
kill-postmaster)
    pm=$(postmaster_pid "$name")
    [ -n "$pm" ] && kill -KILL "$pm"
    echo "killed postmaster=${pm:--}"
    ;;
pids)
    echo "$(patroni_pid "$name") $(postmaster_pid "$name")"
    ;;
start-etcd)
    [ -n "$(etcd_pid)" ] && exit 0
    pg_dir "$CENTRAL_ETCD_DATA" 700
    cp_="http://$CENTRAL_HOST:$(etcd_client_port)"; pp_="http://$CENTRAL_HOST:$(etcd_peer_port)"
    start_daemon "$CENTRAL_RUN_DIR/etcd.pid" "$CENTRAL_LOG_DIR/etcd.log" \
        etcd --name etcd1 --data-dir "$CENTRAL_ETCD_DATA" \
        --listen-client-urls "$cp_" --advertise-client-urls "$cp_" \
        --listen-peer-urls "$pp_" --initial-advertise-peer-urls "$pp_" \
        --initial-cluster "etcd1=$pp_" --initial-cluster-state new \
        --initial-cluster-token "$CENTRAL_SCOPE-lab" --log-level warn
    for _ in $(seq 1 100); do
        curl -fsS --max-time 1 "$cp_/health" 2>/dev/null | grep -q '"health":"true"' && exit 0
        sleep 0.1
    done
    die "etcd did not become healthy (log: $CENTRAL_LOG_DIR/etcd.log)"
    ;;
stop-etcd)
    stop_pid "$(etcd_pid)" "$CENTRAL_ETCD_DATA" 10
    rm -f "$CENTRAL_RUN_DIR/etcd.pid"
    ;;
*)
    sed -n '2,13p' "$0" >&2; exit 2 ;;
esac
