# common.sh - sourced by the cluster tests: a private loopback cluster on free
# ports under a fresh directory, torn down by pid on exit (even on failure).
# shellcheck shell=bash
set -euo pipefail

T_START=$(date +%s.%N)
SRC=${SIKHNAS_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
CENTRAL=$SRC/deploy/central
TESTS=$SRC/tests/cluster
# pluggable load generator (interface: writer.py): nodes pushing through the hub
# when both executables are there (meson sets SIKHNAS_HUB/SIKHNAS_NODE), else
# direct writes through the multi-host conninfo
if [ -z "${CLUSTER_WRITER:-}" ]; then
    if [ -x "${SIKHNAS_HUB:-}" ] && [ -x "${SIKHNAS_NODE:-}" ]; then
        CLUSTER_WRITER=$TESTS/hub-writer.py
    else
        CLUSTER_WRITER=$TESTS/writer.py
    fi
fi
export CLUSTER_WRITER
: "${CLUSTER_WRITERS:=2}"                    # how many writers ("nodes") push at once
: "${CLUSTER_KEEP:=0}"                       # 1 = leave the lab running for inspection
: "${CLUSTER_SHARED_LAB:=0}"                 # 1 = use the running lab at CENTRAL_DIR (run-suite.sh)
: "${CLUSTER_WRITER_PREFIX:=w}"              # writer names: <prefix>1, <prefix>2, ...

say() { echo "[$(date +%T)] $*"; }
fail() { echo "FAIL: $*"; exit 1; }
elapsed() { python3 -c "import sys,time; print(f'{time.time()-float(sys.argv[1]):.1f}')" "$1"; }

skip_unless_ready() {
    if [ "$(id -u)" != 0 ]; then echo "SKIP: the cluster tests run as root (they create the OS user sikhnas-pg)"; exit 77; fi
    local t
    for t in patroni etcd pgbackrest psql curl /usr/lib/postgresql/15/bin/postgres; do
        command -v "$t" >/dev/null 2>&1 || { echo "SKIP: $t missing (run scripts/deps.sh)"; exit 77; }
    done
}

# a block of 40 free loopback ports (etcd, PostgreSQL, REST API, PITR scratch)
free_base_port() {
    python3 - <<'EOF'
import random, socket
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
for _ in range(200):
    base = random.randrange(20000, 60000, 50)
    if all(free(p) for p in range(base, base + 40)):
        print(base); break
else:
    raise SystemExit("no free port block")
EOF
}

WRITER_PIDS=()
start_writers() {   # URI
    local i
    : > "$LAB/writers.log"
    rm -f "$LAB/stop-writers"
    for i in $(seq 1 "$CLUSTER_WRITERS"); do
        "$CLUSTER_WRITER" run --uri "$1" --name "$CLUSTER_WRITER_PREFIX$i" --ledger "$LAB/ledger-w$i" \
            --stop-file "$LAB/stop-writers" >> "$LAB/writers.log" 2>&1 &
        WRITER_PIDS+=($!)
    done
}
stop_writers() {
    local p
    touch "$LAB/stop-writers"
    for p in "${WRITER_PIDS[@]}"; do wait "$p" || fail "writer $p exited with an error"; done
    WRITER_PIDS=()
    cat "$LAB/writers.log"
}
ledger_count() { cat "$LAB"/ledger-w* 2>/dev/null | wc -l; }

lab_teardown() {
    local rc=$?
    set +e
    touch "$LAB/stop-writers" 2>/dev/null
    local p
    for p in "${WRITER_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    [ -n "${CLUSTER_WRITER_STATE:-}" ] && "$CLUSTER_WRITER" teardown >/dev/null 2>&1
    if [ $rc != 0 ]; then
        echo "---- test failed (rc=$rc): last lines of the member logs ----"
        for f in "$CENTRAL_DIR"/log/*.log; do echo "== $f"; tail -n 15 "$f"; done
    fi
    if [ "$CLUSTER_SHARED_LAB" = 1 ]; then
        rm -rf "$LAB"
    elif [ "$CLUSTER_KEEP" = 1 ]; then
        echo "CLUSTER_KEEP=1: lab left running: CENTRAL_DIR=$CENTRAL_DIR CENTRAL_BASE_PORT=$CENTRAL_BASE_PORT"
    else
        "$CENTRAL/lab.sh" destroy >/dev/null 2>&1
        rm -rf "$LAB"
    fi
    say "total test time $(elapsed "$T_START") s (rc=$rc)"
    exit $rc
}

start_reaper() {   # OWNER(0|1): clean up even if this test is killed with SIGKILL
    [ "$CLUSTER_KEEP" = 1 ] && return 0
    setsid "$TESTS/reaper.sh" $$ "$CENTRAL_DIR" "$CENTRAL_BASE_PORT" "$LAB" "$1" "$CLUSTER_WRITER" \
        > /dev/null 2>&1 < /dev/null &
}

lab_setup() {
    skip_unless_ready
    LAB=$(mktemp -d /tmp/sikhnas-cluster-work.XXXXXX)
    export CLUSTER_WRITER_STATE=$LAB/writer-state
    if [ "$CLUSTER_SHARED_LAB" = 1 ]; then
        [ -f "${CENTRAL_DIR:-/nonexistent}/lab.env" ] || fail "CLUSTER_SHARED_LAB=1 but no lab at CENTRAL_DIR=${CENTRAL_DIR:-}"
        trap lab_teardown EXIT
        trap 'exit 130' INT TERM
        . "$CENTRAL/lib.sh"
        start_reaper 0
        say "shared lab: CENTRAL_DIR=$CENTRAL_DIR CENTRAL_BASE_PORT=$CENTRAL_BASE_PORT"
    else
        export CENTRAL_BASE_PORT=${CENTRAL_BASE_PORT:-$(free_base_port)}
        export CENTRAL_DIR=${CENTRAL_DIR:-$(mktemp -d /tmp/sikhnas-cluster.XXXXXX)}
        chmod 755 "$CENTRAL_DIR"
        trap lab_teardown EXIT
        trap 'exit 130' INT TERM
        . "$CENTRAL/lib.sh"
        start_reaper 1
        say "lab: CENTRAL_DIR=$CENTRAL_DIR CENTRAL_BASE_PORT=$CENTRAL_BASE_PORT"
        local t0; t0=$(date +%s.%N)
        "$CENTRAL/lab.sh" up > "$LAB/up.log" 2>&1 || { cat "$LAB/up.log"; fail "lab.sh up"; }
        say "cluster up in $(elapsed "$t0") s"
    fi
    "$CENTRAL/lab.sh" wait-leader 60 >/dev/null || fail "no leader"
    [ "$CLUSTER_SHARED_LAB" = 1 ] || "$CENTRAL/lab.sh" status | sed -n 1,6p
    ADMIN_URI=$(app_uri)   # superuser through the multi-host conninfo
}
