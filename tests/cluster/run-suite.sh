#!/bin/bash
# run-suite.sh - the whole cluster suite on ONE loopback lab (set up once,
# torn down at the end even on failure): backup + PITR, failover under load,
# rejoin of the killed primary. This is what `meson test --suite cluster` runs.
# Each test-*.sh also runs alone with its own lab.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
lab_setup                 # our own lab (CLUSTER_SHARED_LAB is 0 here)
export CENTRAL_DIR CENTRAL_BASE_PORT    # the tests below reuse this lab; our own trap destroys it
summary=""
for t in test-backup-restore.sh test-failover.sh test-rejoin.sh; do
    echo; echo "======== $t"
    t0=$(date +%s.%N)
    rc=0; CLUSTER_SHARED_LAB=1 "$here/$t" || rc=$?
    summary="$summary$(printf '%-24s %s  %5s s' "$t" "$([ $rc = 0 ] && echo PASS || echo "FAIL($rc)")" "$(elapsed "$t0")")"$'\n'
    [ $rc = 0 ] || { echo "$summary"; fail "$t"; }
done
echo; echo "======== summary"; printf '%s' "$summary"
