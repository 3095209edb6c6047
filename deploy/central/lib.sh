# lib.sh - shared settings and helpers for deploy/central/*.sh (sourced, not run).
#
# Every setting is an environment variable with a default. A settings file
# (shell syntax, e.g. deploy/central/central.conf.example) can be named with
# CENTRAL_CONF=/path; it is sourced first, then the defaults below fill in
# whatever it left unset. The same scripts therefore build
#   - the loopback lab: every member on 127.0.0.1, ports derived from
#     CENTRAL_BASE_PORT, everything under CENTRAL_DIR (default /tmp/sikhnas-central);
#   - a real deployment: one member per host, CENTRAL_CONF sets the hosts,
#     port 5432, /var/lib/... data directories, etcd on three hosts.
#
# Members: CENTRAL_MEMBERS are the data nodes that may become primary (3 for
# "no acknowledged write lost"); CENTRAL_ANALYTICS are read replicas for
# analysts (tagged nofailover + nosync: never promoted, never synchronous).
# Per member NAME the address/port/data dir may be overridden with
#   MEMBER_<NAME>_HOST, MEMBER_<NAME>_PORT, MEMBER_<NAME>_REST_PORT, MEMBER_<NAME>_DATA
# shellcheck shell=bash

if [ -n "${CENTRAL_CONF:-}" ]; then
    # shellcheck disable=SC1090
    . "$CENTRAL_CONF"
fi

: "${CENTRAL_DIR:=/tmp/sikhnas-central}"          # lab root / state dir (config, logs, pids)
: "${CENTRAL_BASE_PORT:=55400}"                    # lab port block: BASE .. BASE+39
: "${CENTRAL_HOST:=127.0.0.1}"                     # default member address (lab: loopback)
: "${CENTRAL_OS_USER:=sikhnas-pg}"                 # OS user running etcd/patroni/postgres
: "${CENTRAL_SCOPE:=sikhnas-central}"              # Patroni cluster name (scope)
: "${CENTRAL_NAMESPACE:=/sikhnas/}"                # etcd key prefix
: "${CENTRAL_DB:=sikhnas}"                         # application database (PostGIS enabled)
: "${CENTRAL_SUPERUSER:=postgres}"
: "${CENTRAL_SUPERUSER_PASSWORD:=}"                # empty = lab (trust auth on loopback)
: "${CENTRAL_REPL_USER:=replicator}"
: "${CENTRAL_REPL_PASSWORD:=}"
: "${CENTRAL_AUTH:=trust}"                         # pg_hba method: trust (lab) | scram-sha-256
: "${CENTRAL_ALLOW_CIDR:=127.0.0.1/32}"            # who may connect (pg_hba)
: "${CENTRAL_MEMBERS:=p1 p2 p3}"                   # data nodes (failover candidates)
: "${CENTRAL_ANALYTICS:=analytics}"                # read replicas, never promoted
: "${CENTRAL_PG_BIN:=/usr/lib/postgresql/15/bin}"
: "${CENTRAL_DATA_ROOT:=$CENTRAL_DIR/data}"
: "${CENTRAL_RUN_DIR:=$CENTRAL_DIR/run}"           # unix sockets + pid files
: "${CENTRAL_LOG_DIR:=$CENTRAL_DIR/log}"
: "${CENTRAL_CONF_DIR:=$CENTRAL_DIR/conf}"         # generated patroni/etcd configs
: "${CENTRAL_ETCD_HOSTS:=127.0.0.1:$CENTRAL_BASE_PORT}"   # host:port[,host:port...]
: "${CENTRAL_ETCD_DATA:=$CENTRAL_DIR/etcd}"
# failover timing (see docs/central-ops.md "Failover timing"): ~10 s kill -> writes
: "${PATRONI_TTL:=10}"
: "${PATRONI_LOOP_WAIT:=2}"
: "${PATRONI_RETRY_TIMEOUT:=3}"
: "${PATRONI_MAX_LAG_ON_FAILOVER:=1048576}"
# pgBackRest
: "${PGBR_STANZA:=main}"
: "${PGBR_DIR:=$CENTRAL_DIR/pgbackrest}"           # config, log, lock, spool
: "${PGBR_CONF:=$PGBR_DIR/pgbackrest.conf}"
: "${PGBR_REPO_PATH:=$PGBR_DIR/repo}"              # repo1-path (posix) or bucket prefix (s3)
: "${PGBR_REPO_TYPE:=posix}"                       # posix | s3 (see central.conf.example)
: "${PGBR_RETENTION_FULL:=14}"                     # 14 fulls at 2 a day = 7 days of PITR
: "${PGBR_RETENTION_DIFF:=2}"
: "${PGBR_PROCESS_MAX:=2}"
: "${PG_SHARED_BUFFERS:=128MB}"                    # lab; production: ~25% of RAM
: "${PG_INITDB_NOSYNC:=0}"                         # lab.sh sets 1: skip initdb's final fsync
: "${PG_WAL_KEEP_SIZE:=64MB}"                      # lab; production: 2GB (slots + archive do the rest)

CENTRAL_ALL_MEMBERS="$CENTRAL_MEMBERS $CENTRAL_ANALYTICS"
export PATH="$CENTRAL_PG_BIN:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"

die()  { echo "central: $*" >&2; exit 1; }
log()  { echo "central[$(date +%T)]: $*" >&2; }
now()  { date +%s.%N; }

# ---- member addressing -----------------------------------------------------
_var() { local v="MEMBER_${1}_$2"; v=${v//-/_}; printf '%s' "${!v:-}"; }
member_index() {   # 1-based position in CENTRAL_ALL_MEMBERS
    local i=0 m
    for m in $CENTRAL_ALL_MEMBERS; do i=$((i + 1)); [ "$m" = "$1" ] && { echo $i; return 0; }; done
    die "unknown member '$1' (members: $CENTRAL_ALL_MEMBERS)"
}
member_host() { local h; h=$(_var "$1" HOST); echo "${h:-$CENTRAL_HOST}"; }
member_port() { local p; p=$(_var "$1" PORT); echo "${p:-$((CENTRAL_BASE_PORT + 10 + $(member_index "$1")))}"; }
member_rest_port() { local p; p=$(_var "$1" REST_PORT); echo "${p:-$((CENTRAL_BASE_PORT + 20 + $(member_index "$1")))}"; }
member_data() { local d; d=$(_var "$1" DATA); echo "${d:-$CENTRAL_DATA_ROOT/$1}"; }
member_conf() { echo "$CENTRAL_CONF_DIR/$1.yml"; }
is_analytics() { case " $CENTRAL_ANALYTICS " in *" $1 "*) return 0;; esac; return 1; }
etcd_client_port() { echo "$CENTRAL_BASE_PORT"; }
etcd_peer_port() { echo $((CENTRAL_BASE_PORT + 1)); }
pitr_port() { echo $((CENTRAL_BASE_PORT + 30)); }

# ---- connection strings ----------------------------------------------------
# applications (the hub): every failover candidate, writes go to the primary
app_uri() {   # [user] [db]
    local user=${1:-$CENTRAL_SUPERUSER} db=${2:-$CENTRAL_DB} hosts="" m
    for m in $CENTRAL_MEMBERS; do hosts="$hosts${hosts:+,}$(member_host "$m"):$(member_port "$m")"; done
    echo "postgresql://$user@$hosts/$db?target_session_attrs=read-write&connect_timeout=2"
}
# analysts: the dedicated replica(s) first, then any standby; never the primary
analyst_uri() {   # [user] [db]
    local user=${1:-$CENTRAL_SUPERUSER} db=${2:-$CENTRAL_DB} hosts="" m
    for m in $CENTRAL_ANALYTICS $CENTRAL_MEMBERS; do hosts="$hosts${hosts:+,}$(member_host "$m"):$(member_port "$m")"; done
    echo "postgresql://$user@$hosts/$db?target_session_attrs=standby&connect_timeout=2"
}

# ---- running things as the database OS user -------------------------------
ensure_os_user() {   # idempotent; needs root
    id -u "$CENTRAL_OS_USER" >/dev/null 2>&1 && return 0
    [ "$(id -u)" = 0 ] || die "user $CENTRAL_OS_USER does not exist and we are not root"
    useradd --system --create-home --home-dir "/var/lib/$CENTRAL_OS_USER" \
        --shell /bin/bash --comment "Sikhnas central PostgreSQL" "$CENTRAL_OS_USER"
    log "created OS user $CENTRAL_OS_USER"
}
as_pg() {   # run a command as the database OS user, with a clean environment
    # (env -i: nothing leaks in from the caller, e.g. meson's MALLOC_PERTURB_,
    # which makes pgBackRest 5x slower); PGBACKREST_* (S3 keys) pass through
    local vars=("PATH=$PATH" "HOME=$(getent passwd "$CENTRAL_OS_USER" | cut -d: -f6)" "LC_ALL=C.UTF-8"
                "PGCONNECT_TIMEOUT=3" "PGOPTIONS=-c client_min_messages=warning" "TZ=${TZ:-UTC}") v
    for v in $(compgen -e | grep '^PGBACKREST_' || true); do vars+=("$v=${!v}"); done
    if [ "$(id -un)" = "$CENTRAL_OS_USER" ]; then
        env -i "${vars[@]}" "$@"
    elif [ "$(id -u)" = 0 ]; then
        # setpriv execs in place (no lingering parent process, unlike runuser/su)
        setpriv --reuid="$CENTRAL_OS_USER" --regid="$(id -g "$CENTRAL_OS_USER")" \
            --init-groups env -i --chdir=/ "${vars[@]}" "$@"
    else
        die "run as root or as $CENTRAL_OS_USER"
    fi
}
pg_dir() {   # mkdir owned by the OS user (mode 700 unless given)
    local d=$1 mode=${2:-700}
    if [ "$(id -u)" = 0 ]; then
        install -d -m "$mode" -o "$CENTRAL_OS_USER" -g "$(id -gn "$CENTRAL_OS_USER")" "$d"
    else
        install -d -m "$mode" "$d"
    fi
}
pg_file() {   # write stdin to a file owned by the OS user
    local f=$1 mode=${2:-600} tmp
    tmp=$(mktemp "$f.XXXXXX") || die "cannot write $f"
    cat > "$tmp"
    chmod "$mode" "$tmp"
    [ "$(id -u)" = 0 ] && chown "$CENTRAL_OS_USER:$(id -gn "$CENTRAL_OS_USER")" "$tmp"
    mv -f "$tmp" "$f"
}

# psql against one member through its unix socket (lab) or TCP (remote host)
member_psql() {   # NAME [psql args...]
    local m=$1; shift
    local host; host=$(member_host "$m")
    if [ "$host" = "$CENTRAL_HOST" ] && [ -d "$CENTRAL_RUN_DIR" ]; then host=$CENTRAL_RUN_DIR; fi
    as_pg psql -X -q -h "$host" -p "$(member_port "$m")" -U "$CENTRAL_SUPERUSER" "$@"
}
member_ready() { as_pg pg_isready -q -h "$CENTRAL_RUN_DIR" -p "$(member_port "$1")" -U "$CENTRAL_SUPERUSER" -d postgres -t 1; }

# ---- processes (lab mode: nohup setsid + pid files; production uses systemd)
pid_alive() {   # PID MARKER: alive and its command line contains MARKER
    local pid=$1 marker=$2
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    { tr '\0' ' ' < "/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "$marker"
}
pidfile_pid() { [ -r "$1" ] && head -n1 "$1" | tr -dc '0-9'; }
# start a background daemon as the OS user, in its own session; pid -> PIDFILE
start_daemon() {   # PIDFILE LOGFILE cmd...
    local pidfile=$1 logfile=$2; shift 2
    [ -e "$logfile" ] || : | pg_file "$logfile" 640
    # the inner sh records its own pid, then execs the daemon (same pid)
    as_pg setsid sh -c 'p=$0 l=$1; shift; echo $$ > "$p"; exec "$@" >> "$l" 2>&1 < /dev/null' \
        "$pidfile" "$logfile" "$@" > /dev/null 2>&1 < /dev/null &
    local i
    for i in $(seq 1 50); do [ -s "$pidfile" ] && break; sleep 0.1; done
    [ -s "$pidfile" ] || die "daemon did not start: $*"
}
patroni_pidfile() { echo "$CENTRAL_RUN_DIR/patroni-$1.pid"; }
patroni_pid() { local p; p=$(pidfile_pid "$(patroni_pidfile "$1")"); pid_alive "$p" "$(member_conf "$1")" && echo "$p"; return 0; }
etcd_pid() { local p; p=$(pidfile_pid "$CENTRAL_RUN_DIR/etcd.pid"); pid_alive "$p" "$CENTRAL_ETCD_DATA" && echo "$p"; return 0; }
postmaster_pid() {   # NAME -> pid of the member's postmaster if running
    local d pid; d=$(member_data "$1")
    pid=$(head -n1 "$d/postmaster.pid" 2>/dev/null | tr -dc '0-9')
    pid_alive "$pid" "$d" && echo "$pid"
    return 0
}
# stop by pid: SIGTERM, wait up to T seconds, then SIGKILL
stop_pid() {   # PID MARKER TIMEOUT
    local pid=$1 marker=$2 t=${3:-30} i
    pid_alive "$pid" "$marker" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 $((t * 10))); do pid_alive "$pid" "$marker" || return 0; sleep 0.1; done
    log "pid $pid ($marker) did not stop in ${t}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
}

# ---- patroni ---------------------------------------------------------------
patronictl_() { as_pg patronictl -c "$(member_conf "$(echo "$CENTRAL_MEMBERS" | awk '{print $1}')")" "$@"; }
# JSON list of members via one member's REST API (no etcd round trip needed)
cluster_json() {   # -> JSON from GET /cluster of the first member that answers
    local m
    for m in $CENTRAL_ALL_MEMBERS; do
        curl -fsS --max-time 2 "http://$(member_host "$m"):$(member_rest_port "$m")/cluster" 2>/dev/null && return 0
    done
    return 1
}
# name of the current leader (empty if none)
leader_name() {
    cluster_json | python3 -c '
import json,sys
try: d=json.load(sys.stdin)
except Exception: sys.exit(0)
for m in d.get("members",[]):
    if m.get("role")=="leader" and m.get("state")=="running": print(m["name"])' 2>/dev/null || true
}
# "name role state lag" lines
members_table() {
    cluster_json | python3 -c '
import json,sys
d=json.load(sys.stdin)
for m in d.get("members",[]):
    print(m["name"], m.get("role","?"), m.get("state","?"), m.get("lag",0), m.get("timeline","?"))' 2>/dev/null || true
}
