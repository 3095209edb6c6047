#!/usr/bin/env python3
"""collation-bench.py - what the database's collation costs the hub's
writes, by hand (no pass/fail).

    tests/bench/collation-bench.py [--rows 1000000] [--repeat 2]

Starts its own PostgreSQL (tests/lib/pgtemp.py), writes --rows pairs of a
random UUID (as the field tables' ids) and a reference ('DISTRICT-0000001',
as case_report.ref) and, for the collation "C" (the cluster's, since
deploy/central/configure.sh gives initdb --lc-collate=C) and "C.utf8"
(what --locale=C.UTF-8 alone gives), COPYs them into a table with the id
as primary key and an index on the reference, then looks up a fifth of
the ids with = ANY (the hub's probe of stored ids). Prints the wall time
of each; the baseline is "C" in the same run."""
import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
import pgtemp  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--rows', type=int, default=1000000)
    ap.add_argument('--repeat', type=int, default=2)
    args = ap.parse_args()
    pg = pgtemp.PgTemp(postgis=False)
    pg.start()
    fd, data = tempfile.mkstemp(prefix='collation-', suffix='.tsv')
    try:
        with os.fdopen(fd, 'w') as f:
            for i in range(args.rows):
                f.write('%s\tDISTRICT-%07d\n' % (uuid.uuid4(), i))

        def timed(sql):
            t = time.monotonic()
            subprocess.run(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', pg.conninfo,
                            '-c', sql], check=True, stdout=subprocess.DEVNULL)
            return time.monotonic() - t

        print('load average %s' % ' '.join(open('/proc/loadavg').read().split()[:3]))
        base = {}
        for rep in range(args.repeat):
            for coll in ('C', 'C.utf8'):
                timed('SET client_min_messages = warning; DROP TABLE IF EXISTS t; CREATE TABLE t (id text COLLATE "%s" PRIMARY KEY,'
                      ' ref text COLLATE "%s"); CREATE INDEX ON t (ref)' % (coll, coll))
                copy = timed("\\copy t FROM '%s'" % data)
                probe = timed('SELECT count(*) FROM t WHERE id = ANY(ARRAY('
                              'SELECT id FROM t ORDER BY ref LIMIT %d))' % (args.rows // 5))
                if coll == 'C':
                    base = {'copy': copy, 'probe': probe}
                print('%-7s COPY of %d rows (primary key + one index): %.2f s (%.2f x C); '
                      'look-up of %d ids: %.2f s (%.2f x C)' % (
                          coll, args.rows, copy, copy / base['copy'], args.rows // 5, probe,
                          probe / base['probe']), flush=True)
    finally:
        os.unlink(data)
        pg.stop()


if __name__ == '__main__':
    main()
