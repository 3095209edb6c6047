#!/bin/bash
# Rejoin: the killed old primary comes back as a standby (Patroni runs
# pg_rewind) and catches up, while writers keep writing to the new primary.
# In a shared lab after test-failover.sh the old primary is already down;
# otherwise this test kills the primary node itself first.
. "$(dirname "$0")/common.sh"
CLUSTER_WRITER_PREFIX=rw
lab_setup
"$CLUSTER_WRITER" setup --uri "$ADMIN_URI"
start_writers "$ADMIN_URI"
sleep 2

down=""
for m in $CENTRAL_MEMBERS; do
    members_table | grep -q "^$m running\|^$m [a-z_]* running" || { down=$m; break; }
done
if [ -z "$down" ]; then
    down=$(leader_name)
    read -r pp pm <<< "$("$CENTRAL/member.sh" pids "$down")"
    say "killing the primary $down (kill -9 patroni $pp + postmaster $pm)"
    kill -KILL $pp $pm
    for _ in $(seq 1 120); do
        l=$(leader_name); [ -n "$l" ] && [ "$l" != "$down" ] && member_ready "$l" && break; sleep 0.5
    done
fi
leader=$(leader_name)
[ -n "$leader" ] && [ "$leader" != "$down" ] || fail "no new leader"
say "member $down is down; leader is $leader; writes continue for 3 s"
sleep 3

t0=$(date +%s.%N)
"$CENTRAL/rejoin.sh" "$down" --timeout 120
rejoin_s=$(elapsed "$t0")
sleep 2
stop_writers

"$CLUSTER_WRITER" dump --uri "$ADMIN_URI" > "$LAB/stored"
python3 "$TESTS/check_ledger.py" --dump "$LAB/stored" --prefix rw "$LAB"/ledger-w*
want=$(grep -c '^rw' "$LAB/stored")
got=""
for _ in $(seq 1 60); do
    got=$("$CLUSTER_WRITER" dump --uri "postgresql://$CENTRAL_SUPERUSER@$(member_host "$down"):$(member_port "$down")/$CENTRAL_DB" 2>/dev/null | grep -c '^rw' || true)
    [ "$got" = "$want" ] && break; sleep 0.5
done
say "rows on the leader $leader: $want; on the rejoined $down: $got"
[ "$got" = "$want" ] || fail "rejoined member has $got rows, leader $want"
[ "$(member_psql "$down" -d postgres -Atc 'SELECT pg_is_in_recovery()')" = t ] || fail "$down is not a standby"
members_table | sed 's/^/  /'
# WAL archiving follows the primary: archive a segment from the new primary
# (pgBackRest finds it among pg1..pg3) and take an incremental backup after the
# timeline switch
"$CENTRAL/backup.sh" check || fail "WAL archiving does not work from the new primary $leader"
"$CENTRAL/backup.sh" incr || fail "incremental backup after the failover failed"
say "archiving and an incremental backup work from the new primary $leader"
say "PASS rejoin: $down back as a standby and caught up in $rejoin_s s"
