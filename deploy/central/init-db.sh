#!/bin/bash
# init-db.sh - one-time (idempotent) set-up on the current primary:
#   - the application database $CENTRAL_DB with PostGIS (replicates to every member),
#   - roles for the hub (read-write) and analysts (read-only),
#   - the pgBackRest stanza (stanza-create + check: WAL archiving works).
# Run after the first member is leader. Safe to re-run at any time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

: "${CENTRAL_HUB_ROLE:=sikhnas_hub}"
: "${CENTRAL_HUB_PASSWORD:=}"
: "${CENTRAL_ANALYST_ROLE:=sikhnas_analyst}"
: "${CENTRAL_ANALYST_PASSWORD:=}"

leader=$(leader_name)
[ -n "$leader" ] || die "no leader: is the cluster up? (deploy/central/lab.sh status)"

sql_role() {   # NAME PASSWORD
    local pw=""
    [ -n "$2" ] && pw=" PASSWORD '$2'"
    echo "DO \$\$BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$1') THEN CREATE ROLE $1 LOGIN$pw; END IF;
END\$\$;"
    [ -n "$2" ] && echo "ALTER ROLE $1 PASSWORD '$2';"
    return 0
}

{
    sql_role "$CENTRAL_HUB_ROLE" "$CENTRAL_HUB_PASSWORD"
    sql_role "$CENTRAL_ANALYST_ROLE" "$CENTRAL_ANALYST_PASSWORD"
    echo "GRANT pg_read_all_data TO $CENTRAL_ANALYST_ROLE;"
} | member_psql "$leader" -v ON_ERROR_STOP=1 -d postgres -f - >/dev/null

if [ "$(member_psql "$leader" -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$CENTRAL_DB'")" != 1 ]; then
    member_psql "$leader" -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $CENTRAL_DB OWNER $CENTRAL_HUB_ROLE" >/dev/null
fi
member_psql "$leader" -v ON_ERROR_STOP=1 -d "$CENTRAL_DB" >/dev/null <<SQL
CREATE EXTENSION IF NOT EXISTS postgis;
GRANT ALL ON SCHEMA public TO $CENTRAL_HUB_ROLE;
SQL
log "database $CENTRAL_DB: $(member_psql "$leader" -d "$CENTRAL_DB" -Atc 'SELECT postgis_lib_version()' | sed 's/^/PostGIS /')"

# pgBackRest: stanza-create is idempotent; check forces a WAL switch and waits for the archive
as_pg pgbackrest --config="$PGBR_CONF" --stanza="$PGBR_STANZA" stanza-create >/dev/null
as_pg pgbackrest --config="$PGBR_CONF" --stanza="$PGBR_STANZA" check
log "pgBackRest stanza '$PGBR_STANZA' ok (repo $PGBR_REPO_PATH)"
