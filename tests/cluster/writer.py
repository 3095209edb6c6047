#!/usr/bin/env python3
"""writer.py - the default load generator of the cluster tests ("phase 1").

It writes straight to PostgreSQL through the multi-host conninfo with
target_session_attrs=read-write, exactly as the hub does, one psql call per
record, and keeps a ledger of every record PostgreSQL acknowledged.

The cluster tests talk to any writer only through this interface, so it can
be swapped for "nodes pushing through sikhnas-hub" (set CLUSTER_WRITER to
another program with the same three subcommands):

  WRITER setup --uri URI
        prepare the target (table, or hub + nodes); exit 0 when ready.
  WRITER run --uri URI --name NAME --ledger FILE --stop-file FILE [--interval S]
        write records until STOP-FILE exists (then finish the record in
        flight and exit 0). Append one line per record whose write was
        acknowledged:  "<id> <ack_unix_time> <server_port or ->"
        An unacknowledged record is retried with the same id until it is
        acknowledged (the retry must not create a second copy).
  WRITER dump --uri URI
        print the id of every record stored centrally, one per line,
        duplicates included (the test checks "exactly once").
  WRITER teardown
        stop whatever setup started (called on exit, even after a failure).
  State that must survive between the calls goes to $CLUSTER_WRITER_STATE.
  Ledger lines may carry a 4th field, the time the acknowledged attempt
  started (the failover time then only counts attempts started after the kill).

Python 3 stdlib only; needs psql (postgresql-client).
"""
import argparse
import os
import subprocess
import sys
import time
import uuid

TABLE = "cluster_probe"


def psql(uri, sql, timeout=15):
    """Run one statement; return (ok, stdout, stderr)."""
    try:
        p = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", uri, "-c", sql],
                           capture_output=True, text=True, timeout=timeout,
                           env=dict(os.environ, PGCONNECT_TIMEOUT="2"))
    except subprocess.TimeoutExpired:
        return False, "", "timeout"
    return p.returncode == 0, p.stdout.strip(), p.stderr.strip()


def cmd_setup(a):
    ok, _, err = psql(a.uri, f"""
        CREATE TABLE IF NOT EXISTS {TABLE} (
            n bigserial PRIMARY KEY,
            id text NOT NULL,            -- deliberately not UNIQUE: duplicates must be detectable
            writer text NOT NULL,
            stored_at timestamptz NOT NULL DEFAULT clock_timestamp());
        CREATE INDEX IF NOT EXISTS {TABLE}_id ON {TABLE} (id);""")
    if not ok:
        sys.exit(f"writer setup: {err}")


def cmd_run(a):
    deadline = time.time() + a.max_seconds
    seq = 0
    acked = failures = 0
    with open(a.ledger, "a", buffering=1) as ledger:
        # stop also when the test's work directory is gone (test killed, reaper cleaned up)
        while (time.time() < deadline and not os.path.exists(a.stop_file)
               and os.path.isdir(os.path.dirname(os.path.abspath(a.stop_file)))):
            seq += 1
            rid = f"{a.name}-{seq:07d}-{uuid.uuid4().hex[:8]}"
            # idempotent insert: a retry after an unknown outcome never duplicates
            sql = (f"WITH ins AS (INSERT INTO {TABLE} (id, writer) SELECT '{rid}', '{a.name}' "
                   f"WHERE NOT EXISTS (SELECT 1 FROM {TABLE} WHERE id = '{rid}') RETURNING 1) "
                   f"SELECT inet_server_port()")
            give_up = time.time() + 60
            while True:
                ok, out, err = psql(a.uri, sql)
                if ok:
                    ledger.write(f"{rid} {time.time():.3f} {out or '-'}\n")
                    acked += 1
                    break
                failures += 1
                if time.time() > give_up:   # never acknowledged: not in the ledger
                    print(f"writer {a.name}: gave up on {rid}: {err}", file=sys.stderr)
                    break
                time.sleep(0.1)
            time.sleep(a.interval)
    print(f"writer {a.name}: acked={acked} failed_attempts={failures}", file=sys.stderr)


def cmd_dump(a):
    ok, out, err = psql(a.uri, f"SELECT id FROM {TABLE}", timeout=60)
    if not ok:
        sys.exit(f"writer dump: {err}")
    if out:
        print(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup"); s.add_argument("--uri", required=True)
    r = sub.add_parser("run")
    r.add_argument("--uri", required=True); r.add_argument("--name", required=True)
    r.add_argument("--ledger", required=True); r.add_argument("--stop-file", required=True)
    r.add_argument("--interval", type=float, default=0.05)
    r.add_argument("--max-seconds", type=float, default=600)
    d = sub.add_parser("dump"); d.add_argument("--uri", required=True)
    sub.add_parser("teardown")
    a = ap.parse_args()
    {"setup": cmd_setup, "run": cmd_run, "dump": cmd_dump, "teardown": lambda a: None}[a.cmd](a)


if __name__ == "__main__":
    main()
