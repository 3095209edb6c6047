#!/bin/bash
# reaper.sh - started by common.sh in its own session: waits until the test
# process is gone (however it ended, even by SIGKILL from a test runner's
# timeout, when no trap can run), then cleans up what the test left: the hub
# of hub-writer.py, and (if the test owned it) the lab, by pid.
#   reaper.sh TEST_PID CENTRAL_DIR CENTRAL_BASE_PORT LAB OWNER(0|1) WRITER
# Idempotent with the test's own teardown. Gives up after one hour.
test_pid=$1 dir=$2 port=$3 lab=$4 owner=$5 writer=$6
here=$(cd "$(dirname "$0")" && pwd)
for _ in $(seq 1 3600); do
    kill -0 "$test_pid" 2>/dev/null || break
    sleep 1
done
kill -0 "$test_pid" 2>/dev/null && exit 0
if [ -f "$lab/writer-state/hub.pid" ]; then
    CLUSTER_WRITER_STATE=$lab/writer-state "$writer" teardown
fi
if [ "$owner" = 1 ] && [ -d "$dir" ]; then
    CENTRAL_DIR=$dir CENTRAL_BASE_PORT=$port "$here/../../deploy/central/lab.sh" destroy
fi
rm -rf "$lab"
