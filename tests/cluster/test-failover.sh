#!/bin/bash
# Failover under load: writers push continuously through the multi-host
# conninfo (target_session_attrs=read-write); the primary node is killed with
# kill -9 (its Patroni agent and its postmaster, i.e. the machine is lost); the
# synchronous standby is promoted; writers carry on; every acknowledged record
# must be stored exactly once. Prints kill -> first accepted write.
#   CLUSTER_FAILOVER_LIMIT  seconds allowed before the test fails (default 20: the
#                           target is 15 s, reported as met or missed; the margin is
#                           for the shared, loaded 2-core CI machine; Patroni's own
#                           defaults, 25 s, fail)
#   CLUSTER_KILL=node|postmaster  (postmaster: Patroni survives and restarts it in place)
. "$(dirname "$0")/common.sh"
: "${CLUSTER_FAILOVER_LIMIT:=20}"
: "${CLUSTER_FAILOVER_TARGET:=15}"
: "${CLUSTER_KILL:=node}"
: "${CLUSTER_LOAD_BEFORE:=3}"
: "${CLUSTER_LOAD_AFTER:=5}"

CLUSTER_WRITER_PREFIX=fw
lab_setup
"$CLUSTER_WRITER" setup --uri "$ADMIN_URI"
# with nodes behind the hub: one more node, whose one plain `sync` (default
# retries) is started before the kill and must finish by itself
bulk=0
if [ "$(basename "$CLUSTER_WRITER")" = hub-writer.py ]; then
    bulk=${CLUSTER_BULK:-40000}
    "$CLUSTER_WRITER" bulk --uri "$ADMIN_URI" --name bulk1 --count "$bulk"
    say "node bulk1: $bulk reports queued"
fi

say "starting $CLUSTER_WRITERS writers ($CLUSTER_WRITER)"
start_writers "$ADMIN_URI"
# every writer has had acknowledgements (a hub writer first creates its node store)
for _ in $(seq 1 120); do
    ok=1
    for i in $(seq 1 "$CLUSTER_WRITERS"); do
        [ "$(cat "$LAB/ledger-w$i" 2>/dev/null | wc -l)" -ge 2 ] || ok=0
    done
    [ $ok = 1 ] && break; sleep 0.5
done
sleep "$CLUSTER_LOAD_BEFORE"
n_before=$(ledger_count)
[ "$n_before" -gt 0 ] || fail "writers acknowledged nothing before the kill"

old=$(leader_name); [ -n "$old" ] || fail "no leader"
old_port=$(member_port "$old")
sync_before=$(members_table | awk '$2=="sync_standby"{print $1}')
say "primary $old (port $old_port), synchronous standby $sync_before; $n_before records acked so far"

bulk_pid=""
if [ "$bulk" -gt 0 ]; then
    "$CLUSTER_WRITER" bulk-sync --name bulk1 > "$LAB/bulk.out" 2> "$LAB/bulk.err" &
    bulk_pid=$!
    # kill once its first batch is in, with most of it still to go
    for _ in $(seq 1 300); do
        left=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(
            "SELECT count(*) FROM outbox").fetchone()[0])' "$CLUSTER_WRITER_STATE/bulk1.db" 2>/dev/null || echo "$bulk")
        [ "$left" -lt "$bulk" ] && break
        sleep 0.1
    done
fi

read -r patroni_pid pm_pid <<< "$("$CENTRAL/member.sh" pids "$old")"
[ -n "$patroni_pid" ] && [ -n "$pm_pid" ] || fail "pids of $old not found"
if [ "$CLUSTER_KILL" = postmaster ]; then
    kill_ts=$(date +%s.%N); kill -KILL "$pm_pid"
    old_port=none    # the same node may legitimately come back
else
    kill_ts=$(date +%s.%N); kill -KILL "$patroni_pid" "$pm_pid"
fi
say "kill -9 ($CLUSTER_KILL) of $old at $kill_ts"
if [ -n "$bulk_pid" ] && ! kill -0 "$bulk_pid" 2>/dev/null; then
    fail "bulk1's sync ended before the kill: raise CLUSTER_BULK (now $bulk)"
fi

new=""
for _ in $(seq 1 120); do
    new=$(leader_name)
    if [ -n "$new" ] && { [ "$new" != "$old" ] || [ "$CLUSTER_KILL" = postmaster ]; } && member_ready "$new"; then break; fi
    new=""; sleep 0.5
done
[ -n "$new" ] || fail "no new leader within 60 s"
say "new leader: $new (Patroni reports it $(elapsed "$kill_ts") s after the kill)"
if [ "$CLUSTER_KILL" = node ]; then
    [ "$new" = "$sync_before" ] || fail "promoted $new, but the synchronous standby was $sync_before"
fi

# wait until the writers get through again, then keep the load a little longer
for _ in $(seq 1 120); do
    [ "$(awk -v k="$kill_ts" -v p="$old_port" '($4 == "" ? $2 : $4) > k && $3 != p' "$LAB"/ledger-w* | wc -l)" -gt 0 ] && break
    sleep 0.5
done
sleep "$CLUSTER_LOAD_AFTER"
stop_writers
if [ -n "$bulk_pid" ]; then
    bulk_rc=0; wait "$bulk_pid" || bulk_rc=$?
    say "bulk1's sync, started before the kill: exit $bulk_rc: $(cat "$LAB/bulk.out")"
    grep -E 'trying again|another' "$LAB/bulk.err" | tail -n 3 | sed 's/^/  /'
    [ "$bulk_rc" = 0 ] || { cat "$LAB/bulk.err"; fail "a sync started before the kill did not finish by itself"; }
    grep -q '"queued":0' "$LAB/bulk.out" || fail "bulk1's sync left records queued"
fi

"$CLUSTER_WRITER" dump --uri "$ADMIN_URI" > "$LAB/stored"
for _ in $(seq 1 60); do members_table | grep -q ' sync_standby ' && break; sleep 0.5; done
say "members after the failover:"; members_table | sed 's/^/  /'
members_table | grep -q ' sync_standby ' || fail "no synchronous standby 30 s after the failover"

# the analysts' replica must have caught up with the new primary too
want=$(grep -c '^fw' "$LAB/stored")
analytics_uri="postgresql://$CENTRAL_SUPERUSER@$(member_host analytics):$(member_port analytics)/$CENTRAL_DB"
got=""
for _ in $(seq 1 60); do
    got=$("$CLUSTER_WRITER" dump --uri "$analytics_uri" 2>/dev/null | grep -c '^fw' || true)
    [ "$got" = "$want" ] && break
    sleep 0.5
done
say "rows on the new primary: $want, on the analytics replica: $got"
[ "$got" = "$want" ] || fail "analytics replica has $got rows, primary $want"
[ "$(member_psql analytics -d "$CENTRAL_DB" -Atc 'SELECT pg_is_in_recovery()')" = t ] || fail "analytics was promoted"

if [ "$bulk" -gt 0 ]; then
    got_bulk=$(grep -c '^bulk1:' "$LAB/stored" || true)
    uniq_bulk=$(grep '^bulk1:' "$LAB/stored" | sort -u | wc -l)
    say "bulk1: $got_bulk rows stored centrally ($uniq_bulk distinct), $bulk sent"
    [ "$got_bulk" = "$bulk" ] && [ "$uniq_bulk" = "$bulk" ] || fail "bulk1: $got_bulk rows ($uniq_bulk distinct) stored, expected $bulk once each"
fi
python3 "$TESTS/check_ledger.py" --dump "$LAB/stored" --kill-time "$kill_ts" --old-port "$old_port" \
    --limit "$CLUSTER_FAILOVER_LIMIT" --target "$CLUSTER_FAILOVER_TARGET" --prefix fw "$LAB"/ledger-w*
collate=$(member_psql "$new" -d "$CENTRAL_DB" -Atc \
    "SELECT datcollate || ' ' || datctype FROM pg_database WHERE datname = current_database()")
[ "$collate" = "C C.UTF-8" ] || fail "the central database's collation and ctype: $collate (expected C C.UTF-8)"
say "PostGIS on the new primary: $(member_psql "$new" -d "$CENTRAL_DB" -Atc \
    "SELECT round(ST_Distance('SRID=4326;POINT(106.8 -6.2)'::geography, 'SRID=4326;POINT(115.2 -8.65)'::geography)/1000) || ' km Jakarta-Denpasar'")"
say "PASS failover ($CLUSTER_KILL kill, writer $(basename "$CLUSTER_WRITER")) in $(elapsed "$T_START") s of test time"
