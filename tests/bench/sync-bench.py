#!/usr/bin/env python3
"""sync-bench.py - node -> hub -> PostgreSQL throughput, against a COPY ceiling.

    tests/bench/sync-bench.py BUILD_DIR [N]     (N case reports, default 100000)

Starts a throwaway PostgreSQL + PostGIS (tests/lib/pgtemp.py) and the real
sikhnas-hub with TLS on 127.0.0.1, makes a node store, pulls the reference
data once, imports N case reports (`sikhnas-node import`), then times
`sikhnas-node sync` pushing them all. In the same PostgreSQL it then COPYs
the very same rows (exported from the hub's table) into a fresh table with
the same columns, indexes and constraints (psql \\copy = libpq COPY), which
is the ceiling. Prints records/s of both, their ratio and the bytes on the
wire per record as counted by the client (request and response headers and
bodies; TLS framing not included), and the load average. With
HUBTEST_LOG='-v -v' and SYNC_BENCH_HUB_LOG=FILE the hub's debug log (the
time of each batch: decode, copy and check, lock, apply) is kept in FILE.
Python 3 standard library only."""
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'e2e'))
import e2elib  # noqa: E402
from e2elib import hubtest, nodetest  # noqa: E402


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else 'build')
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
    node_exe = os.path.join(build, 'node', 'sikhnas-node')
    os.environ['SIKHNAS_HUB'] = os.path.join(build, 'hub', 'sikhnas-hub')
    tmp = nodetest.scratch('sync-bench-')      # removed at exit, even when the bench fails
    with hubtest.Env() as env:
        url = 'https://127.0.0.1:%d' % env.hub.port
        node = nodetest.Node(node_exe, tmp=tmp)
        e2elib.enroll(env, node)
        r = node.run('sync', '--hub', url, '--ca', env.hub.ca, '--no-progress')
        assert r.returncode == 0, r.stderr          # reference data down, once
        path = e2elib.write_jsonl(os.path.join(tmp, 'reports.jsonl'), n,
                                  nodetest.villages('3201'))
        t = time.time()
        r = node.run('import', '--no-progress', path, timeout=3600)
        assert r.returncode == 0, r.stderr
        t_import = time.time() - t

        load = os.getloadavg()[0]
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.time()
        r = node.run('sync', '--no-progress', timeout=3600)
        t_sync = time.time() - t
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        node_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        assert r.returncode == 0, r.stderr
        s = json.loads(r.stdout.strip().splitlines()[-1])
        nid = node.status()['node_id']
        got = env.pg.scalar("SELECT count(*) FROM case_report WHERE origin = '%s'" % nid)
        assert got == n and s['pushed'] == n and s['queued'] == 0, (got, s)
        if os.environ.get('SYNC_BENCH_HUB_LOG'):    # with HUBTEST_LOG='-v -v': per-batch times
            subprocess.run(['cp', env.hub.log, os.environ['SYNC_BENCH_HUB_LOG']])

        # the ceiling: COPY of the same rows into a table like case_report
        data = os.path.join(env.pg.dir, 'rows.copy')
        env.pg.psql("CREATE TABLE case_report_copy (LIKE case_report INCLUDING ALL)")
        env.pg.psql("\\copy (SELECT * FROM case_report WHERE origin = '%s') TO '%s'"
                    % (nid, data))
        t = time.time()
        env.pg.psql("\\copy case_report_copy FROM '%s'" % data)
        t_copy = time.time() - t
        assert env.pg.scalar('SELECT count(*) FROM case_report_copy') == n

    wire = s['bytes_up'] + s['bytes_down']
    res = {
        'records': n,
        'import_s': round(t_import, 2),
        'sync_s': round(t_sync, 2),
        'sync_records_per_s': round(n / t_sync),
        'copy_s': round(t_copy, 2),
        'copy_records_per_s': round(n / t_copy),
        'ratio_sync_to_copy': round(t_copy / t_sync, 3),
        'node_cpu_s': round(node_cpu, 2),
        'batches': s['batches'],
        'requests': s['requests'],
        'bytes_up': s['bytes_up'],
        'bytes_down': s['bytes_down'],
        'wire_bytes_per_record': round(wire / n, 1),
        'load_avg_1min': round(load, 2),
    }
    print('sync  %7d records in %6.2f s = %7.0f records/s' % (n, t_sync, n / t_sync))
    print('      node CPU %.2f s (the rest: hub + PostgreSQL + waiting)' % node_cpu)
    print('COPY  %7d records in %6.2f s = %7.0f records/s' % (n, t_copy, n / t_copy))
    print('ratio sync/COPY %.2f (target >= 0.5)' % (t_copy / t_sync))
    print('wire  %.1f bytes/record (%d up, %d down, %d requests; target <= 100)' % (
        wire / n, s['bytes_up'], s['bytes_down'], s['requests']))
    print('load  %.2f (1-minute average when the sync started)' % load)
    print(json.dumps(res))


if __name__ == '__main__':
    main()
