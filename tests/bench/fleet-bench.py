#!/usr/bin/env python3
"""fleet-bench.py - the queries behind the operators' fleet view: 514 nodes
(one per regency of tests/data/idn-area) with a year of daily history
(node_health_day), 30 days of push batches at one an hour (what the hub's
ledger keeps) and a health block each, in a throwaway PostgreSQL.

usage: fleet-bench.py SIKHNAS_HUB [--runs N] [--web SIKHNAS_WEB]

Times, over N runs in one psql session: the whole fleet_view (every node,
its figures and problems, sorted by district: the fleet page), one node's
year of history (the node page's chart), and the fleet watch pass. The
baseline of the run: a plain count of node_health_day. With --web, also
the operators' pages over HTTPS (sikhnas-web, a logged-in operator, one
connection per request as a browser's fetch may): GET /api/v1/ops/fleet
(all 514 nodes) and a node's node_history. Prints the load."""
import http.client
import json
import os
import re
import ssl
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
sys.path.insert(0, os.path.join(HERE, '..', 'sync'))
import pgtemp  # noqa: E402

AREAS = os.path.join(HERE, '..', 'data', 'idn-area')

SETUP = """
INSERT INTO node_registration (name, district, node_id, created_at)
SELECT 'node-' || code, code, '00000000-0000-7000-8000-' || lpad(code, 12, '0'),
       now() - interval '400 days' FROM area WHERE level = 2;
INSERT INTO node (node_id, district, last_contact)
SELECT node_id, district, now() - (random() * interval '100 hours') FROM node_registration;
INSERT INTO node_cert (serial, name, node_id, district, not_before, not_after, via)
SELECT md5(node_id), name, node_id, district, now() - interval '60 days',
       now() + (random() * interval '90 days'), 'enrol' FROM node_registration;
INSERT INTO node_health (node_id, district, v, version, outbox_depth, outbox_oldest_s,
    rows_rejected, clock_skew_s, bytes_up, bytes_down, last_sms_in, last_sms_out,
    disk_free, disk_total)
SELECT node_id, district, 1, '0.1.0', (random() * 500)::int, (random() * 100000)::int,
       (random() * 3)::int, random() * 700 - 350, 1000000, 200000, now(), now(), 5e9, 8e9
FROM node_registration;
INSERT INTO node_health_day (node_id, day, contacts, outbox_max, outbox_last, bytes_up, bytes_down)
SELECT r.node_id, current_date - d, 24, (random() * 500)::int, (random() * 100)::int,
       (random() * 1e6)::int, (random() * 2e5)::int
FROM node_registration r, generate_series(0, 364) d;
INSERT INTO push_batch (node_id, batch_hlc, node_hlc, min_seq, last_seq, applied, refused,
                        conflicts, duplicate, at)
SELECT r.node_id, h, h, h, h, 10, 0, 0, 0, now() - h * interval '1 hour'
FROM node_registration r, generate_series(1, 720) h;
ANALYZE;
"""


def timed(pg, sql, runs):
    script = '\\timing on\n' + ('%s\n' % sql) * runs
    r = subprocess.run(['psql', '-X', '-q', '-At', '-d', pg.conninfo, '-o', '/dev/null'],
                       input=script, capture_output=True, text=True, check=True)
    ms = sorted(float(x) for x in re.findall(r'Time: ([0-9.]+) ms', r.stdout + r.stderr))
    return ms[len(ms) // 2], ms[min(len(ms) - 1, int(len(ms) * 0.99))], ms[-1]


def web_bench(web, pg, runs):
    import hubtest
    d = os.path.join(pg.dir, 'web')
    os.makedirs(d)
    ca, cert, key = hubtest.make_ca(d)
    subprocess.run([web, '--pg', pg.conninfo, 'account', 'add', 'ops', '--name', 'Ops',
                    '--role', 'operator'], input='bench-pass-12345\n', text=True, check=True,
                   capture_output=True)
    p = subprocess.Popen([web, '--pg', pg.conninfo, 'serve', '--listen', '127.0.0.1:0',
                          '--tls-cert', cert, '--tls-key', key, '--pg-conns', '3'],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = int(p.stdout.readline().strip().rsplit(':', 1)[1])
        ctx = ssl.create_default_context(cafile=ca)

        def req(method, path, body=None, cookie=None):
            c = http.client.HTTPSConnection('127.0.0.1', port, context=ctx, timeout=60)
            c.request(method, path, body, dict({'Content-Type': 'application/json'},
                                               **({'Cookie': cookie} if cookie else {})))
            r = c.getresponse()
            data = r.read()
            c.close()
            return r, data
        r, _ = req('POST', '/api/login', json.dumps({'login': 'ops',
                                                      'password': 'bench-pass-12345'}))
        cookie = r.getheader('Set-Cookie').split(';')[0]
        for name, path in (('web: GET ops/fleet (514 nodes)', '/api/v1/ops/fleet'),
                           ('web: GET ops/node_history (365 d)',
                            '/api/v1/ops/node_history?id=00000000-0000-7000-8000-000000003201')):
            load = os.getloadavg()[0]
            ms = []
            for _ in range(runs):
                t0 = time.time()
                r, data = req('GET', path, cookie=cookie)
                ms.append((time.time() - t0) * 1000)
                assert r.status == 200, data[:200]
            ms.sort()
            print('%-36s p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms  (load %.2f, %d bytes)'
                  % (name, ms[len(ms) // 2], ms[min(len(ms) - 1, int(len(ms) * 0.99))], ms[-1],
                     load, len(data)), flush=True)
    finally:
        p.terminate()
        p.wait()


def main():
    hub = os.path.abspath(sys.argv[1])
    runs = int(sys.argv[sys.argv.index('--runs') + 1]) if '--runs' in sys.argv else 100
    with pgtemp.PgTemp() as pg:
        subprocess.run([hub, '--pg', pg.conninfo, 'migrate'], check=True, capture_output=True)
        subprocess.run([hub, '--pg', pg.conninfo, 'refdata', 'load', '--areas', AREAS],
                       check=True, capture_output=True)
        pg.psql(SETUP)
        print('nodes %s, history rows %s, push_batch rows %s' % (
            pg.psql('SELECT count(*) FROM node_registration'),
            pg.psql('SELECT count(*) FROM node_health_day'),
            pg.psql('SELECT count(*) FROM push_batch')))
        for name, sql in (
                ('baseline: count(*) of the history', 'SELECT count(*) FROM node_health_day;'),
                ('fleet page: all of fleet_view', 'SELECT * FROM fleet_view ORDER BY district;'),
                ('node page: a year of history', "SELECT day, contacts, outbox_max, bytes_up, "
                 "bytes_down FROM node_health_day WHERE node_id = '00000000-0000-7000-8000-000000003201' "
                 "AND day > current_date - 365 ORDER BY day;"),
                ('fleet watch pass', 'SELECT sikhnas_fleet_watch();')):
            load = os.getloadavg()[0]
            p50, p99, mx = timed(pg, sql, runs if 'watch' not in name else 20)
            print('%-36s p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms  (load %.2f)'
                  % (name, p50, p99, mx, load), flush=True)
        if '--web' in sys.argv:
            web_bench(os.path.abspath(sys.argv[sys.argv.index('--web') + 1]), pg, runs)


if __name__ == '__main__':
    main()
