#!/bin/bash
# switchover.sh - planned switchover to the synchronous standby (or CANDIDATE):
# the primary is demoted cleanly, nothing is lost, writes pause for ~2-5 s.
#   switchover.sh [CANDIDATE]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
leader=$(leader_name); [ -n "$leader" ] || die "no leader"
cand=${1:-$(members_table | awk '$2 == "sync_standby" {print $1; exit}')}
[ -n "$cand" ] || die "no synchronous standby to switch over to"
is_analytics "$cand" && die "$cand is an analytics replica (never promoted)"
patronictl_ switchover --force --leader "$leader" --candidate "$cand" "$CENTRAL_SCOPE"
for _ in $(seq 1 60); do [ "$(leader_name)" = "$cand" ] && member_ready "$cand" && break; sleep 0.5; done
[ "$(leader_name)" = "$cand" ] || die "switchover did not complete"
log "switchover $leader -> $cand done"
