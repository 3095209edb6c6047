#!/bin/sh
# run.sh - run the whole system on this machine with embedded defaults:
# a node for Kabupaten Bogor (3201) and a local central (PostgreSQL 15 +
# PostGIS, sikhnas-hub over TLS and the analysts' web app sikhnas-web), the
# node synced to it, then the node daemon in the foreground (web UI, SMS
# spool, sync timer). Idempotent.
#   scripts/run.sh          set up what is missing and run
#   scripts/run.sh stop     stop the local central (hub, web app and PostgreSQL)
# Settings (environment): SIKHNAS_DISTRICT (3201), SIKHNAS_WEB (127.0.0.1:8080),
# SIKHNAS_CENTRAL_DIR (/var/tmp/sikhnas-central), SIKHNAS_PG_PORT (55432),
# SIKHNAS_HUB_PORT (8443), SIKHNAS_ANALYST_PORT (8444), SIKHNAS_NO_DAEMON=1 (set up, sync, show status, exit).
set -eu
cd "$(dirname "$0")/.."
top=$PWD
district=${SIKHNAS_DISTRICT:-3201}
web=${SIKHNAS_WEB:-127.0.0.1:8080}
central=${SIKHNAS_CENTRAL_DIR:-/var/tmp/sikhnas-central}
pg_port=${SIKHNAS_PG_PORT:-55432}
hub_port=${SIKHNAS_HUB_PORT:-8443}
analyst_port=${SIKHNAS_ANALYST_PORT:-8444}
pg_user=sikhnas
pgbin=/usr/lib/postgresql/15/bin
db=$top/var/node.db
conninfo="host=$central port=$pg_port dbname=sikhnas user=$pg_user"

say() { printf '==> %s\n' "$*"; }
as_pg() { runuser -u "$pg_user" -- "$@"; }

stop_central() {
    if [ -f "$central/web.pid" ] && kill -0 "$(cat "$central/web.pid")" 2>/dev/null; then
        kill -TERM "$(cat "$central/web.pid")"
        say "analysts' web app stopped"
    fi
    rm -f "$central/web.pid"
    if [ -f "$central/hub.pid" ] && kill -0 "$(cat "$central/hub.pid")" 2>/dev/null; then
        kill -TERM "$(cat "$central/hub.pid")"
        say "hub stopped"
    fi
    rm -f "$central/hub.pid"
    if [ -f "$central/pg/postmaster.pid" ]; then
        as_pg "$pgbin/pg_ctl" -D "$central/pg" -m fast -w stop >/dev/null && say "PostgreSQL stopped"
    fi
}

if [ "${1:-}" = stop ]; then
    stop_central
    exit 0
fi

say "dependencies"
scripts/deps.sh
say "build"
if [ ! -f build/run/build.ninja ]; then
    meson setup build/run -Dbuildtype=release > build-run-setup.log 2>&1 ||
        { tail -n 20 build-run-setup.log; exit 1; }
    rm -f build-run-setup.log
fi
ninja -C build/run >/dev/null
node=$top/build/run/node/sikhnas-node
hub=$top/build/run/hub/sikhnas-hub

say "administrative areas (idn-area-data 4.0.1, ODbL)"
areas=$(scripts/fetch-areas.sh "$top/var/idn-area")

# ---------------------------------------------------------------- the node
mkdir -p var/sms/incoming var/sms/outgoing
if [ ! -f "$db" ]; then
    say "node store for district $district"
    "$node" --db "$db" init --district "$district" --areas "$areas"
fi
if [ "$("$node" --db "$db" officer list --json | grep -c '"phone"')" = 0 ]; then
    say "demo officers (web login 0811000001 / sikhnas-demo)"
    village=$(sqlite3 "$db" "SELECT code FROM area WHERE level = 4 ORDER BY code LIMIT 1")
    echo sikhnas-demo | "$node" --db "$db" officer add --name "Drh. Siti Rahma" \
        --phone 0811000001 --role vet --password-stdin >/dev/null
    echo sikhnas-demo | "$node" --db "$db" officer add --name "Budi Santoso" \
        --phone 0811000002 --role reporter --village "$village" --password-stdin >/dev/null
    i=0
    for v in $(sqlite3 "$db" "SELECT code FROM area WHERE level = 4 ORDER BY code LIMIT 5"); do
        i=$((i + 1))
        printf '{"kind":"U","village":"%s","signs":["KBG","NFM"],"animals":[{"species":"SP","sick":%d,"dead":0,"at_risk":20}],"event_date":"%s","lat":-6.48,"lon":106.85,"reporter":"0811000002"}\n' \
            "$v" "$i" "$(date -u +%Y-%m-%d)" | "$node" --db "$db" report add >/dev/null
    done
fi

# ---------------------------------------------------------------- the central
id "$pg_user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /bin/sh "$pg_user"
mkdir -p "$central"
chown "$pg_user" "$central"
if [ ! -f "$central/pg/PG_VERSION" ]; then
    say "PostgreSQL 15 + PostGIS in $central/pg"
    as_pg "$pgbin/initdb" -D "$central/pg" -U "$pg_user" -A trust -E UTF8 --locale C.UTF-8 >/dev/null
fi
if ! as_pg "$pgbin/pg_ctl" -D "$central/pg" status >/dev/null 2>&1; then
    as_pg "$pgbin/pg_ctl" -D "$central/pg" -l "$central/pg.log" -w start \
        -o "-p $pg_port -k $central -c listen_addresses=127.0.0.1" >/dev/null
fi
as_pg psql -h "$central" -p "$pg_port" -d postgres -Atqc \
    "SELECT 1 FROM pg_database WHERE datname = 'sikhnas'" | grep -q 1 ||
    as_pg createdb -h "$central" -p "$pg_port" sikhnas
"$hub" --pg "$conninfo" migrate
"$hub" --pg "$conninfo" refdata load --areas "$areas"

tls=$central/tls
if [ ! -f "$tls/hub.pem" ]; then
    say "TLS: a local CA and the hub's certificate (EC P-256)"
    mkdir -p "$tls"
    openssl ecparam -name prime256v1 -genkey -noout -out "$tls/ca.key" 2>/dev/null
    openssl req -x509 -new -key "$tls/ca.key" -sha256 -days 3650 -subj "/CN=Sikhnas Edge local CA" \
        -out "$tls/ca.pem" 2>/dev/null
    openssl ecparam -name prime256v1 -genkey -noout -out "$tls/hub.key" 2>/dev/null
    openssl req -new -key "$tls/hub.key" -subj "/CN=localhost" -out "$tls/hub.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$tls/ext.cnf"
    openssl x509 -req -in "$tls/hub.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
        -days 825 -sha256 -extfile "$tls/ext.cnf" -out "$tls/hub.pem" 2>/dev/null
    chmod 600 "$tls/ca.key" "$tls/hub.key"
fi
"$hub" ca init --dir "$central/nodeca" >/dev/null    # signs the nodes' certificates
hub_url=https://127.0.0.1:$hub_port
if ! { [ -f "$central/hub.pid" ] && kill -0 "$(cat "$central/hub.pid")" 2>/dev/null; }; then
    say "sikhnas-hub on $hub_url (log: $central/hub.log)"
    nohup setsid "$hub" --pg "$conninfo" run --listen "127.0.0.1:$hub_port" \
        --tls-cert "$tls/hub.pem" --tls-key "$tls/hub.key" --client-ca "$central/nodeca/ca.pem" \
        >> "$central/hub.log" 2>&1 &
    echo $! > "$central/hub.pid"
    n=0
    until curl -fsS --cacert "$tls/ca.pem" "$hub_url/v1/health" >/dev/null 2>&1; do
        n=$((n + 1))
        [ $n -lt 50 ] || { tail -n 20 "$central/hub.log"; echo "run.sh: the hub did not start" >&2; exit 1; }
        sleep 0.2
    done
fi

if [ ! -f "$db.crt" ]; then
    say "register the node centrally and enrol it (one-time token, client certificate)"
    token=$("$hub" -q --pg "$conninfo" node add --district "$district" --name "local-$district")
    "$node" --db "$db" enroll --hub "$hub_url" --token "$token" --ca "$tls/ca.pem"
fi
say "sync the node to the central"
"$node" --db "$db" sync
say "node status"
"$node" --db "$db" status

# ---------------------------------------------------------------- the analysts' web app
webapp=$top/build/run/hub/web/sikhnas-web
if [ -x "$webapp" ]; then
    if ! "$webapp" --pg "$conninfo" account list 2>/dev/null | grep -q '^analis '; then
        echo sikhnas-demo | "$webapp" -q --pg "$conninfo" account add analis \
            --name "Analis Nasional" --role national
    fi
    if ! { [ -f "$central/web.pid" ] && kill -0 "$(cat "$central/web.pid")" 2>/dev/null; }; then
        say "sikhnas-web on https://127.0.0.1:$analyst_port (log: $central/web.log)"
        nohup setsid "$webapp" --pg "$conninfo" serve --listen "127.0.0.1:$analyst_port" \
            --tls-cert "$tls/hub.pem" --tls-key "$tls/hub.key" --upkeep \
            >> "$central/web.log" 2>&1 &
        echo $! > "$central/web.pid"
    fi
    echo "analysts: https://127.0.0.1:$analyst_port (login analis / sikhnas-demo; CA $tls/ca.pem)"
fi
echo "central: psql -h $central -p $pg_port -U $pg_user sikhnas    (stop it: scripts/run.sh stop)"

if [ "${SIKHNAS_NO_DAEMON:-}" = 1 ]; then
    exit 0
fi
say "node daemon: web UI http://$web (login 0811000001 / sikhnas-demo), SMS spool var/sms; Ctrl-C stops it"
exec "$node" --db "$db" run --listen "$web" --sms-spool "$top/var/sms" --sms-gateway smstools
