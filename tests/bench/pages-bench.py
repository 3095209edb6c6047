#!/usr/bin/env python3
"""pages-bench.py - the officers' pages on a store of 100,000 records, on
the board's budget (issue 14): each page's API reads at 10 concurrent
users (wrk, keep-alive, loopback) with p50/p99 latency, the daemon's RSS
under that load, and each page's weight on a first visit (what a browser
that takes gzip downloads: the HTML, CSS, scripts, the libraries the page
loads, and its API answers).

usage: tests/bench/pages-bench.py NODE_EXE [--records 100000] [--clients 10]
                                  [--seconds 5] [--keep DIR]

The store is made by `import` from generated case reports (two years of
event dates ending today, villages of district 3201, a GPS point on half of
them, one in five a P report) plus follow-ups and SMS for some. The
baseline measured in the same run is GET /api/v1/session (a session
look-up, the least a page does); each page's p99 is also given as a ratio
to it. Targets: p99 <= 50 ms at 10 users, RSS <= 15 MB, weight <= 150 KB.
Needs wrk (Debian package `wrk`).
"""
import argparse
import datetime
import gzip
import http.client
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
import nodetest  # noqa: E402

PHONE, PASSWORD = '081299990000', 'bench-password-1'
SCRIPTS = ['app.css', 'case.js', 'officers.js', 'dash.js', 'map.js', 'offline.js', 'app.js']
PAGES = {   # page: (its API reads, the libraries it loads)
    'home':      (['/api/v1/session', '/api/v1/codes', '/api/v1/queues'], []),
    'reports':   (['/api/v1/session', '/api/v1/codes', '/api/v1/reports?limit=100'], []),
    'case':      (['/api/v1/session', '/api/v1/codes', '/api/v1/case?ref={ref}'], []),
    'dashboard': (['/api/v1/session', '/api/v1/codes', '/api/v1/dashboard', '/api/v1/trends'],
                  ['chart.min.js']),
    'map':       (['/api/v1/session', '/api/v1/codes', '/api/v1/map?days=90'],
                  ['leaflet.css', 'MarkerCluster.css', 'MarkerCluster.Default.css',
                   'leaflet.min.js', 'leaflet.markercluster.min.js']),
    'officers':  (['/api/v1/session', '/api/v1/codes', '/api/v1/officers'], []),
}


def rss_kib(pid, key='VmRSS'):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    return -1


def make_store(exe, db, tmp, n):
    """A store of n case reports over the last two years, with follow-ups and SMS."""
    subprocess.run([exe, '--db', db, 'init', '--district', '3201', '--areas', nodetest.AREAS],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([exe, '--db', db, 'officer', 'add', '--name', 'Bench Vet', '--phone', PHONE,
                    '--role', 'vet', '--password-stdin'], input=PASSWORD + '\n', text=True,
                   check=True, stdout=subprocess.DEVNULL)
    for i in range(60):
        subprocess.run([exe, '--db', db, 'officer', 'add', '--name', 'Pelsa %d' % i, '--phone',
                        '0813%08d' % i, '--role', 'reporter', '--village',
                        nodetest.villages()[i % len(nodetest.villages())]],
                       check=True, stdout=subprocess.DEVNULL)
    rng = random.Random(14)
    vills = nodetest.villages()
    today = datetime.date.today()
    path = os.path.join(tmp, 'reports.jsonl')
    with open(path, 'w') as fp:
        for i in range(n):
            r = nodetest.make_report(rng, vills, i)
            r['event_date'] = (today - datetime.timedelta(days=int(rng.random() ** 1.3 * 730))).isoformat()
            if rng.random() < 0.5:
                del r['lat'], r['lon']
            fp.write(json.dumps(r) + '\n')
    t = time.time()
    subprocess.run([exe, '--db', db, 'import', path, '--no-progress'], check=True,
                   stdout=subprocess.DEVNULL)
    print('store: %d case reports imported in %.1f s' % (n, time.time() - t))
    # follow-ups with an outcome for most older cases, SMS for some
    con = sqlite3.connect(db)
    con.execute("CREATE TEMP TABLE x AS SELECT id, ref, event_date FROM case_report"
                " WHERE abs(random()) % 10 < 7 AND event_date < date('now', '-14 days')")
    con.execute("INSERT INTO case_followup (id, origin, hlc, created_at, updated_at, case_id,"
                " outcome, event_date) SELECT lower(hex(randomblob(16))), 'bench', 1,"
                " '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', id, 'SB', event_date FROM x")
    con.execute("INSERT INTO sms_in (hash, sender, sent, received_at, text, code, status, ref)"
                " SELECT lower(hex(randomblob(32))), '+6281300000001', '', '2026-01-01T00:00:00Z',"
                " 'U KBG SP 2', 'U', 'saved', ref FROM x WHERE abs(random()) % 4 = 0")
    con.commit()
    ref = con.execute("SELECT ref FROM case_report c WHERE EXISTS (SELECT 1 FROM sms_in i"
                      " WHERE i.ref = c.ref) ORDER BY hlc DESC LIMIT 1").fetchone()[0]
    counts = con.execute("SELECT (SELECT count(*) FROM case_report),"
                         " (SELECT count(*) FROM case_followup), (SELECT count(*) FROM sms_in)").fetchone()
    con.close()
    print('store: %d case reports, %d follow-ups, %d SMS; %.1f MB' %
          (counts[0], counts[1], counts[2], os.path.getsize(db) / 1e6))
    return ref


def wrk(url, cookie, clients, seconds):
    """p50, p99 in ms and requests/s of GET url."""
    out = subprocess.run(['wrk', '-t2', '-c%d' % clients, '-d%ds' % seconds, '--latency',
                          '-H', 'Cookie: ' + cookie, '-H', 'Accept-Encoding: gzip', url],
                         capture_output=True, text=True, check=True).stdout

    def ms(label):
        m = re.search(r'^\s+%s\s+([\d.]+)(us|ms|s)\s*$' % label, out, re.M)
        v = float(m.group(1))
        return v / 1000 if m.group(2) == 'us' else v * 1000 if m.group(2) == 's' else v
    rps = float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1))
    non2xx = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
    if non2xx:
        sys.exit('pages-bench: %s answered %s errors' % (url, non2xx.group(1)))
    return ms('50%'), ms('99%'), rps


def fetch(port, path, cookie):
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
    c.request('GET', path, headers={'Cookie': cookie, 'Accept-Encoding': 'gzip'})
    r = c.getresponse()
    body = r.read()
    c.close()
    if r.status != 200:
        sys.exit('pages-bench: %s answered %d' % (path, r.status))
    return len(body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('node_exe')
    ap.add_argument('--records', type=int, default=100000)
    ap.add_argument('--clients', type=int, default=10)
    ap.add_argument('--seconds', type=int, default=5)
    ap.add_argument('--keep', help='make the store here once and reuse it')
    a = ap.parse_args()
    if not shutil.which('wrk'):
        sys.exit('pages-bench: needs wrk (apt-get install wrk)')
    tmp = a.keep or tempfile.mkdtemp(prefix='sikhnas-pages-bench-')
    os.makedirs(tmp, exist_ok=True)
    db = os.path.join(tmp, 'node.db')
    node = daemon = None
    try:
        if not os.path.exists(db):
            ref = make_store(a.node_exe, db, tmp, a.records)
        else:
            ref = sqlite3.connect(db).execute("SELECT ref FROM case_report c WHERE EXISTS"
                                              " (SELECT 1 FROM sms_in i WHERE i.ref = c.ref)"
                                              " ORDER BY hlc DESC LIMIT 1").fetchone()[0]
        node = nodetest.Node(a.node_exe, init=False, tmp=tmp)
        node.db = db
        daemon = nodetest.Daemon(node)
        pid, port = daemon.proc.pid, daemon.port
        client = nodetest.Client(port)
        st, _ = client.login(PHONE, PASSWORD)
        assert st == 200, st
        cookie = client.cookie
        base = 'http://127.0.0.1:%d' % port
        print('load average: %s' % ' '.join(open('/proc/loadavg').read().split()[:3]))
        print('rss idle: %d KiB' % rss_kib(pid))

        peak = [0]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], rss_kib(pid))
                time.sleep(0.1)
        th = threading.Thread(target=sample)
        th.start()
        b50, b99, brps = wrk(base + '/api/v1/session', cookie, a.clients, a.seconds)
        print('\n%-34s %8s %8s %9s %7s' % ('GET (%d users, %d s each)' % (a.clients, a.seconds),
                                           'p50 ms', 'p99 ms', 'req/s', 'p99 x'))
        print('%-34s %8.2f %8.2f %9.0f %7s' % ('/api/v1/session (baseline)', b50, b99, brps, '1.0'))
        worst = 0
        seen = set()
        for page, (reads, _) in PAGES.items():
            for path in reads:
                path = path.format(ref=ref)
                if path in seen:
                    continue
                seen.add(path)
                p50, p99, rps = wrk(base + path, cookie, a.clients, a.seconds)
                worst = max(worst, p99)
                print('%-34s %8.2f %8.2f %9.0f %7.1f' % (path[:34], p50, p99, rps, p99 / b99))
        stop.set()
        th.join()
        print('\nrss under load: %d KiB (VmHWM %d KiB)' % (peak[0], rss_kib(pid, 'VmHWM')))
        print('worst p99: %.2f ms (target 50)' % worst)

        print('\n%-10s %9s %9s %9s %9s' % ('page', 'shell', 'libs', 'api', 'total KB'))
        shell = sum(fetch(port, '/' + f, cookie) for f in ['index.html'] + SCRIPTS)
        heaviest = 0
        for page, (reads, libs) in PAGES.items():
            lib = sum(fetch(port, '/' + f, cookie) for f in libs)
            apis = sum(fetch(port, p.format(ref=ref), cookie) for p in reads)
            total = (shell + lib + apis) / 1024
            heaviest = max(heaviest, total)
            print('%-10s %9.1f %9.1f %9.1f %9.1f' % (page, shell / 1024, lib / 1024, apis / 1024,
                                                      total))
        print('heaviest page: %.1f KB (target 150; later visits: the API answers only, the '
              'rest revalidated by ETag)' % heaviest)
    finally:
        if daemon:
            daemon.stop()
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
