#!/usr/bin/env python3
"""queue-bench.py - the central job queue under sikhnas-worker: no-op jobs
through a throwaway PostgreSQL (tests/lib/pgtemp.py).

usage: queue-bench.py SIKHNAS_WORKER SIKHNAS_HUB [--jobs N] [--rate R] [--seconds S]

1. drain: N jobs queued at once, then W workers started; jobs/s from the
   first start to the last finish, with 1 worker (the baseline of this
   run) and with 4 (the target: >= 2,000 jobs/s);
2. paced: R jobs/s enqueued for S seconds (one INSERT per 10 ms) while 4
   workers run; enqueue-to-start latency percentiles (target p99 <= 200 ms).
Prints the load average with every figure."""
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
import pgtemp  # noqa: E402


def arg(name, default):
    return type(default)(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def start_workers(worker, pg, threads, batch=32):
    p = subprocess.Popen([worker, '--pg', pg.conninfo, 'run', '--threads', str(threads),
                          '--batch', str(batch)], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    assert p.stdout.readline().strip() == 'running'
    return p


def wait_done(pg, like, n, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pg.scalar("SELECT count(*) FROM job WHERE state = 'done' AND idem_key LIKE '%s'"
                     % like) >= n:
            return
        time.sleep(0.2)
    raise SystemExit('jobs not done in time')


def drain(worker, pg, n, threads, tag):
    pg.psql("INSERT INTO job (kind, idem_key) SELECT 'noop', '%s:' || g "
            "FROM generate_series(1, %d) g" % (tag, n))
    load = os.getloadavg()[0]
    p = start_workers(worker, pg, threads)
    wait_done(pg, tag + ':%', n)
    p.terminate()
    p.wait()
    secs = float(pg.psql("SELECT extract(epoch FROM max(finished_at) - min(started_at)) "
                         "FROM job WHERE idem_key LIKE '%s:%%'" % tag))
    rate = n / secs
    print('drain  %d worker(s): %6d jobs in %5.2f s = %7.0f jobs/s   (load %.2f)'
          % (threads, n, secs, rate, load), flush=True)
    return rate


def paced(worker, pg, rate, seconds):
    p = start_workers(worker, pg, 4)
    per_tick = max(1, rate // 100)
    psql = subprocess.Popen(['psql', '-X', '-q', '-d', pg.conninfo], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    load = os.getloadavg()[0]
    t0 = time.time()
    k = 0
    for tick in range(int(seconds * 100)):
        psql.stdin.write("INSERT INTO job (kind, idem_key) SELECT 'noop', 'paced:' || g "
                         "FROM generate_series(%d, %d) g;\n" % (k + 1, k + per_tick))
        psql.stdin.flush()
        k += per_tick
        delay = t0 + (tick + 1) / 100 - time.time()
        if delay > 0:
            time.sleep(delay)
    psql.stdin.close()
    psql.wait()
    wait_done(pg, 'paced:%', k)
    p.terminate()
    p.wait()
    q = pg.psql("SELECT percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY "
                "extract(epoch FROM started_at - created_at) * 1000), "
                "max(extract(epoch FROM started_at - created_at) * 1000) "
                "FROM job WHERE idem_key LIKE 'paced:%'")
    pcts, mx = q.split('|')
    p50, p90, p99 = (float(x) for x in pcts.strip('{}').split(','))
    print('paced  4 workers: %d jobs at %d/s: enqueue->start p50 %.1f ms, p90 %.1f ms, '
          'p99 %.1f ms, max %.1f ms   (load %.2f)' % (k, per_tick * 100, p50, p90, p99,
                                                        float(mx), load), flush=True)
    return p99


def main():
    worker, hub = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    n, rate, seconds = arg('--jobs', 20000), arg('--rate', 2000), arg('--seconds', 10)
    with pgtemp.PgTemp() as pg:
        subprocess.run([hub, '--pg', pg.conninfo, 'migrate'], check=True, capture_output=True)
        one = drain(worker, pg, n // 4, 1, 'one')
        four = drain(worker, pg, n, 4, 'four')
        print('ratio  4 workers / 1 worker: %.2f' % (four / one))
        p99 = paced(worker, pg, rate, seconds)
        print('target: drain >= 2000 jobs/s: %s; p99 <= 200 ms: %s'
              % ('met' if four >= 2000 else 'MISSED', 'met' if p99 <= 200 else 'MISSED'))


if __name__ == '__main__':
    main()
