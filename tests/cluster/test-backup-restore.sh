#!/bin/bash
# Backup and point-in-time restore: full backup, more writes, differential
# backup, note a timestamp, more writes; restore to the timestamp into a new
# data directory and check the restored rows match the timestamp exactly.
. "$(dirname "$0")/common.sh"
lab_setup
P() { "$CENTRAL/lab.sh" psql -v ON_ERROR_STOP=1 -Atc "$1"; }
ins() { P "INSERT INTO pitr_probe (n, phase) SELECT g, '$3' FROM generate_series($1, $2) g" >/dev/null; }

P "CREATE TABLE pitr_probe (n int PRIMARY KEY, phase text NOT NULL,
     at timestamptz NOT NULL DEFAULT clock_timestamp(), geom geometry(Point, 4326) DEFAULT 'SRID=4326;POINT(106.8 -6.2)')" >/dev/null
ins 1 1000 before-full
t0=$(date +%s.%N); "$CENTRAL/backup.sh" full; say "full backup: $(elapsed "$t0") s"
ins 1001 2000 after-full
t0=$(date +%s.%N); "$CENTRAL/backup.sh" diff; say "diff backup: $(elapsed "$t0") s"
sleep 2     # a target in the same second as the end of the only backup is refused (whole seconds)
ins 2001 2500 before-target
target=$(P "SELECT clock_timestamp()")
expected=$(P "SELECT count(*) FROM pitr_probe WHERE at <= '$target'")
sleep 1.1
ins 2501 4000 after-target
total=$(P "SELECT count(*) FROM pitr_probe")
"$CENTRAL/backup.sh" check    # forces a WAL switch and waits until the segment is archived
"$CENTRAL/backup.sh" info | sed 's/^/  /'
"$CENTRAL/backup.sh" info | grep -q 'full backup' || fail "no full backup listed"
"$CENTRAL/backup.sh" info | grep -q 'diff backup' || fail "no diff backup listed"
say "target $target: expected $expected rows (the primary now has $total)"
[ "$expected" = 2500 ] || fail "expected 2500 rows before the target, the primary says $expected"

dest=$CENTRAL_DIR/restore-pitr
t0=$(date +%s.%N)
"$CENTRAL/pitr-restore.sh" --dest "$dest" --target "$target" --start
say "point-in-time restore (files + replay + promote): $(elapsed "$t0") s"
R() { as_pg psql -X -At -h "$dest.sock" -p "$(pitr_port)" -U postgres -d "$CENTRAL_DB" -c "$1"; }
got=$(R "SELECT count(*) FROM pitr_probe")
maxn=$(R "SELECT max(n) FROM pitr_probe")
phases=$(R "SELECT string_agg(phase || '=' || c, ' ' ORDER BY phase) FROM (SELECT phase, count(*) c FROM pitr_probe GROUP BY phase) x")
say "restored: $got rows, max(n)=$maxn ($phases); expected $expected (primary has $total)"
[ "$got" = "$expected" ] && [ "$maxn" = "$expected" ] || fail "restored $got rows (max $maxn), expected exactly $expected"
[ "$(R "SELECT count(*) FROM pitr_probe WHERE ST_X(geom) = 106.8")" = "$expected" ] || fail "PostGIS data not restored"
R "INSERT INTO pitr_probe (n, phase) VALUES (-1, 'restored-copy-writable')" >/dev/null || fail "restored copy not writable"
"$CENTRAL/pitr-restore.sh" --dest "$dest" --stop

# and the newest state: restore to the end of the archive
dest2=$CENTRAL_DIR/restore-latest
t0=$(date +%s.%N)
"$CENTRAL/pitr-restore.sh" --dest "$dest2" --latest --start
got2=$(as_pg psql -X -At -h "$dest2.sock" -p "$(pitr_port)" -U postgres -d "$CENTRAL_DB" -c "SELECT count(*) FROM pitr_probe")
say "latest restore: $got2 rows (primary $total) in $(elapsed "$t0") s"
[ "$got2" = "$total" ] || fail "latest restore has $got2 rows, primary $total"
"$CENTRAL/pitr-restore.sh" --dest "$dest2" --stop
say "PASS backup + point-in-time restore"
