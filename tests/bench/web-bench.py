#!/usr/bin/env python3
"""web-bench.py - case report submissions from 50 concurrent clients on
loopback against the real daemon (`sikhnas-node run --listen 127.0.0.1:0`)
with a fresh store: p50/p90/p99 latency from wrk, the daemon's RSS idle and
under load (VmRSS sampled every 100 ms, and VmHWM), and a check that every
answered submission is in the store.

usage: tests/bench/web-bench.py NODE_EXE [--areas DIR] [--clients 50]
                                [--seconds 20] [--threads 1] [--cache-kib N]

Needs wrk (Debian package `wrk`). Each POST is one full case report through
the validator, queued for the group commit, and answered after the commit
(synchronous=FULL). Targets (docs/performance.md): p99 <= 50 ms, RSS <= 15 MB.
"""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PHONE, PASSWORD = '081299990000', 'bench-password-1'


def rss_kib(pid, key='VmRSS'):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    return -1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('node_exe')
    ap.add_argument('--areas', default=os.path.join(HERE, '..', 'data', 'idn-area'))
    ap.add_argument('--clients', type=int, default=50)
    ap.add_argument('--seconds', type=int, default=20)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--cache-kib', type=int, default=0,
                    help="the daemon's SQLite page cache (run.cache_kib; 0: the default)")
    a = ap.parse_args()
    if not shutil.which('wrk'):
        sys.exit('web-bench: needs wrk (apt-get install wrk)')

    tmp = tempfile.mkdtemp(prefix='sikhnas-web-bench-')
    db = os.path.join(tmp, 'node.db')
    daemon = None
    try:
        subprocess.run([a.node_exe, '--db', db, 'init', '--district', '3201', '--areas', a.areas],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run([a.node_exe, '--db', db, 'officer', 'add', '--name', 'Bench Vet',
                        '--phone', PHONE, '--role', 'vet', '--password-stdin'],
                       input=PASSWORD + '\n', text=True, check=True, stdout=subprocess.DEVNULL)
        conf = []
        if a.cache_kib:
            conf = ['--config', os.path.join(tmp, 'node.conf')]
            with open(conf[1], 'w') as f:
                f.write('[run]\ncache_kib = %d\n' % a.cache_kib)
        # the daemon without the web module, for comparison
        base = subprocess.Popen([a.node_exe, '--db', db] + conf + ['run'],
                                stderr=subprocess.DEVNULL)
        time.sleep(1.5)
        base_rss, base_anon = rss_kib(base.pid), rss_kib(base.pid, 'RssAnon')
        base.send_signal(signal.SIGTERM)
        base.wait(timeout=30)
        village = sqlite3.connect(db).execute(
            "SELECT code FROM area WHERE level = 4 ORDER BY code LIMIT 1").fetchone()[0]
        daemon = subprocess.Popen([a.node_exe, '--db', db] + conf + ['run', '--listen',
                                   '127.0.0.1:0'], stderr=subprocess.PIPE, text=True)
        port = None
        deadline = time.time() + 20
        while time.time() < deadline and port is None:
            line = daemon.stderr.readline()
            m = re.search(r'listening on http://127\.0\.0\.1:(\d+)', line)
            if m:
                port = int(m.group(1))
        if port is None:
            sys.exit('web-bench: the daemon did not report its port')
        threading.Thread(target=daemon.stderr.read, daemon=True).start()

        c = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
        c.request('POST', '/api/v1/login', json.dumps({'phone': PHONE, 'password': PASSWORD}),
                  {'Content-Type': 'application/json'})
        r = c.getresponse()
        session = json.loads(r.read())
        cookie = r.getheader('Set-Cookie').split(';')[0]
        if r.status != 200:
            sys.exit('web-bench: login failed: %s' % session)
        c.close()
        time.sleep(1.0)
        idle_rss = rss_kib(daemon.pid)
        idle_anon = rss_kib(daemon.pid, 'RssAnon')

        body = json.dumps({'kind': 'P', 'village': village, 'syndrome': 'MMU',
                           'event_date': time.strftime('%Y-%m-%d', time.gmtime()),
                           'animals': [{'species': 'AY', 'sick': 40, 'dead': 12, 'at_risk': 300}],
                           'lat': -6.48, 'lon': 106.85,
                           'note': 'bench: kematian ayam kampung mendadak'})
        lua = os.path.join(tmp, 'post.lua')
        with open(lua, 'w') as f:
            f.write('wrk.method = "POST"\n'
                    'wrk.headers["Content-Type"] = "application/json"\n'
                    'wrk.headers["Cookie"] = "%s"\n'
                    'wrk.headers["X-CSRF-Token"] = "%s"\n'
                    'wrk.body = [[%s]]\n'
                    'done = function(summary, latency, requests)\n'
                    '  io.write(string.format("RESULT requests=%%d non2xx=%%d errors=%%d "\n'
                    '    .. "p50=%%d p90=%%d p99=%%d max=%%d\\n", summary.requests,\n'
                    '    summary.errors.status, summary.errors.connect + summary.errors.read\n'
                    '    + summary.errors.write + summary.errors.timeout,\n'
                    '    latency:percentile(50), latency:percentile(90),\n'
                    '    latency:percentile(99), latency.max))\n'
                    'end\n' % (cookie, session['csrf'], body))

        peak = [idle_rss, idle_anon]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], rss_kib(daemon.pid))
                peak[1] = max(peak[1], rss_kib(daemon.pid, 'RssAnon'))
                time.sleep(0.1)
        t = threading.Thread(target=sample)
        t.start()
        out = subprocess.run(['wrk', '-t%d' % a.threads, '-c%d' % a.clients,
                              '-d%ds' % a.seconds, '--timeout', '5s', '-s', lua,
                              'http://127.0.0.1:%d/api/v1/reports' % port],
                             capture_output=True, text=True, check=True).stdout
        stop.set()
        t.join()
        load_rss, load_anon = peak
        hwm = rss_kib(daemon.pid, 'VmHWM')
        m = re.search(r'RESULT requests=(\d+) non2xx=(\d+) errors=(\d+) p50=(\d+) p90=(\d+) '
                      r'p99=(\d+) max=(\d+)', out)
        if not m:
            sys.exit('web-bench: no result from wrk:\n' + out)
        req, non2xx, errs, p50, p90, p99, mx = map(int, m.groups())
        rps = re.search(r'Requests/sec:\s+([\d.]+)', out).group(1)
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        daemon = None
        stored = sqlite3.connect(db).execute('SELECT count(*) FROM case_report').fetchone()[0]

        print('clients %d, %d s, wrk threads %d, page cache %s' % (a.clients, a.seconds,
              a.threads, '%d KiB' % a.cache_kib if a.cache_kib else 'default'))
        print('requests %d (%s/s), non-2xx %d, socket errors %d, reports stored %d'
              % (req, rps, non2xx, errs, stored))
        print('latency p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms'
              % (p50 / 1000, p90 / 1000, p99 / 1000, mx / 1000))
        print('daemon RSS idle %.1f MB, under load (peak VmRSS) %.1f MB, VmHWM %.1f MB'
              % (idle_rss / 1024, load_rss / 1024, hwm / 1024))
        print('  of which private (RssAnon): idle %.1f MB, under load %.1f MB'
              % (idle_anon / 1024, load_anon / 1024))
        print('  the daemon without --listen: VmRSS %.1f MB, RssAnon %.1f MB'
              % (base_rss / 1024, base_anon / 1024))
        print('load average during the run: %s' % open('/proc/loadavg').read().split()[0])
        ok = p99 <= 50000 and hwm <= 15 * 1024 and non2xx == 0 and stored >= req - errs
        print('targets (p99 <= 50 ms, RSS <= 15 MB, every 201 stored): %s'
              % ('met' if ok else 'NOT met'))
        return 0 if ok else 1
    finally:
        if daemon:
            daemon.kill()
        if os.environ.get('SIKHNAS_KEEP_TMP') == '1':
            print('kept %s (SIKHNAS_KEEP_TMP=1)' % tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
