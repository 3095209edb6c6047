#!/usr/bin/env python3
"""hub-bench.py - sikhnas-hub throughput and concurrency, by hand (no pass/fail).

    tests/bench/hub-bench.py BUILD/hub/sikhnas-hub [--rows 100000] [--batch 5000]
                             [--nodes 500] [--node-batches 4] [--node-rows 50]
                             [--enc zstd|gzip] [--skip-copy] [--skip-nodes] [--profile]
                             [--cache FILE] [--columnar build/tests/bench/batch-columnar]
                             [--storm-again] [--storm-copy]

Starts its own PostgreSQL 15 + PostGIS (tests/lib/pgtemp.py) and hub over TLS
on loopback, then:
 1. one node pushes --rows case reports (~440 B each as keyed JSON) in
    batches of --batch, one batch in flight, as the protocol requires
    (JSON, or with --columnar columnar as a node sends them);
    records/s, bytes per record in the body and on the wire (a counting TCP
    proxy: TLS + HTTP, both directions);
 2. the same rows with libpq COPY (psql \\copy) into the same table,
    case_report, from the state the hub began with (the issue's ceiling), and
    into a bare table LIKE case_report INCLUDING ALL (no triggers); prints
    them and the ratios;
 3. --nodes simulated nodes (one asyncio process, one TLS connection each)
    push --node-batches batches of --node-rows rows each, concurrently:
    p50/p99 batch latency, every record landed once, the hub's peak RSS
    (VmHWM);
    With --storm-again, part 3 runs twice, the second time on the cluster
    the first storm warmed (what it wrote emptied), as a hub's running
    cluster meets a storm;
 4. with --storm-copy, part 3's rows again with psql \\copy from
    --pg-conns sessions at once into the emptied case_report: what
    PostgreSQL itself takes of them on this machine, and storm / COPY.
Part 1 prints the hub's per-batch times (from its -v -v log); --profile
also logs every statement's duration on the cluster during part 1
(log_min_duration_statement = 0) and prints where the time went, per kind
of statement (the logging itself slows part 1).
Batches are built and compressed before the clock starts."""
import argparse
import asyncio
import hashlib
import json
import os
import pickle
import random
import re
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'sync'))
import faultproxy  # noqa: E402
import hubtest  # noqa: E402
from hubtest import CASE_COLS  # noqa: E402

DISTRICT = '3201'
BASE_MS = int(time.time() * 1000) - 3 * 86400000  # seq n made n s later: 100,000 rows all past
COLDICT = os.path.join(HERE, '..', '..', 'sync', 'dict', 'batch-2.zdict')
# the columns copy_text() writes, in its order
COPY_COLS = ', '.join(CASE_COLS[1:17]) + ', geom, src_node'
# case_report emptied with the alert jobs and dirty marks its rows made
EMPTY_CASES = 'TRUNCATE case_report CASCADE; DELETE FROM job; DELETE FROM report.dirty; '


def villages(pg):
    return pg.psql("SELECT code FROM area WHERE level = 4 AND code LIKE '3201%' "
                   "ORDER BY code").split()


def make_rows(node, first, n, vill, rnd):
    """n realistic case reports (seq first..first+n-1) as CASE_COLS rows.
    Their ids are UUIDv7 of the time each was made (ms), as a node makes
    them: the same seq of every node falls in the same second, so in a
    storm the nodes' ids interleave as the backlogs of a national outage
    would (not one range per node, the order they were generated in here)."""
    species = ['AY', 'IT', 'SP', 'KB', 'DB', 'BB', 'KR']
    signs = ['DMM', 'DIA', 'KBG', 'DBD']
    out = []
    for i in range(n):
        seq = first + i
        ms = BASE_MS + seq * 1000 + rnd.randrange(1000)
        t = time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(ms / 1000)) + 'Z'
        sp = rnd.choice(species)
        sick = rnd.randrange(1, 40)
        out.append([seq, hubtest.uuid7(ms), node, str(ms << 16), 0, t, t,
                    '%s-%06d' % (DISTRICT, seq), 'U', rnd.choice(vill), None,
                    rnd.sample(signs, rnd.randrange(1, 3)),
                    [{'species': sp, 'sick': sick, 'dead': rnd.randrange(0, sick),
                      'at_risk': sick * rnd.randrange(2, 20)}],
                    [], time.strftime('%Y-%m-%d', time.gmtime(ms / 1000 - 86400)),
                    '+62812%07d' % rnd.randrange(200),
                    rnd.choice([None, None, 'ayam mati mendadak', 'sapi lemas, tidak mau makan']),
                    round(106.7 + rnd.random() * 0.4, 6), round(-6.7 + rnd.random() * 0.3, 6)])
    return out


def keyed_size(rows):
    """Bytes of the same rows as keyed JSON objects (the ~440 B reference)."""
    return sum(len(json.dumps(dict(zip(CASE_COLS, r)), separators=(',', ':'))) for r in rows)


def build(node, rows, last_seq, enc, base_seq=None, columnar=None):
    body, h = hubtest.encode_batch(node, last_seq, {'case_report': (CASE_COLS, rows)},
                                   enc='identity' if columnar else enc, base_seq=base_seq)
    if columnar:        # as a node sends to a hub that lists columnar-1 and zstd-dict-2
        col = subprocess.run([columnar], input=body, capture_output=True, check=True).stdout
        body = subprocess.run(['zstd', '-3', '-c', '-D', COLDICT, '--stream-size=%d' % len(col)],
                              input=col, capture_output=True, check=True).stdout
        h['X-Sikhnas-Digest'] = 'sha256=' + hashlib.sha256(body).hexdigest()
        h['Content-Encoding'] = 'zstd'
    h.update(hubtest.ident(node, DISTRICT))
    return body, h


def copy_text(rows):
    """The rows as COPY text for the table LIKE case_report."""
    def esc(v):
        if v is None:
            return '\\N'
        if isinstance(v, (list, dict)):
            v = json.dumps(v, separators=(',', ':'))
        return str(v).replace('\\', '\\\\').replace('\t', '\\t').replace('\n', '\\n')
    lines = []
    for r in rows:
        d = dict(zip(CASE_COLS, r))
        geom = 'SRID=4326;POINT(%s %s)' % (d['lon'], d['lat'])
        lines.append('\t'.join(esc(d[c]) for c in CASE_COLS[1:17]) + '\t' + geom +
                     '\t' + esc(d['origin']))
    return '\n'.join(lines) + '\n'


def one_node(env, args):
    pg, hub = env.pg, env.hub
    rnd = random.Random(7)
    vill = villages(pg)
    node = hubtest.uuid7()
    batches, all_rows = [], []
    for first in range(1, args.rows + 1, args.batch):
        n = min(args.batch, args.rows - first + 1)
        rows = make_rows(node, first, n, vill, rnd)
        all_rows.extend(rows)
        batches.append(build(node, rows, first + n - 1, args.enc,
                             first - 1 if args.pipeline else None, args.columnar))
    body_bytes = sum(len(b) for b, _ in batches)
    plain = keyed_size(all_rows[:2000]) / 2000
    proxy = faultproxy.FaultProxy(hub.port)
    conns = [hub.connection(proxy.port, node, DISTRICT) for _ in range(2 if args.pipeline else 1)]
    retries = 0
    t0 = time.time()
    if not args.pipeline:
        for body, h in batches:
            st, _, js = hub.request('POST', '/v1/push', body, h, conn=conns[0])
            if st != 200 or js['refused']:
                raise SystemExit('push failed: %s %s' % (st, js))
    else:
        # two batches in flight, ordered by base_seq (protocol.md §4.1)
        import threading
        res = [None] * len(batches)
        threads = [None] * len(batches)

        def send(k, sent=None):
            c = conns[k % 2]
            c.request('POST', '/v1/push', body=batches[k][0], headers=batches[k][1])
            if sent:
                sent.set()
            r = c.getresponse()
            res[k] = (r.status, json.loads(r.read()))
        for k in range(len(batches)):
            sent = threading.Event()
            threads[k] = threading.Thread(target=send, args=(k, sent))
            threads[k].start()
            sent.wait(60)       # the next one goes once this one is sent (§4.1)
            if k >= 1:
                threads[k - 1].join()
                if res[k - 1][0] == 409:          # it overtook its predecessor: again
                    retries += 1
                    send(k - 1)
                if res[k - 1][0] != 200:
                    raise SystemExit('push failed: %s' % (res[k - 1],))
        threads[-1].join()
        if res[-1][0] == 409:
            retries += 1
            send(len(batches) - 1)
        if res[-1][0] != 200:
            raise SystemExit('push failed: %s' % (res[-1],))
    dt = time.time() - t0
    for conn in conns:
        conn.close()
    time.sleep(0.3)
    proxy.close()
    landed = pg.scalar("SELECT count(*) FROM case_report WHERE src_node = '%s'" % node)
    rate = args.rows / dt
    print('hub push   : %d case reports in %.2f s = %.0f records/s (%d batches of %d, %s, '
          '%s)' % (args.rows, dt, rate, len(batches), args.batch,
                   'columnar, zstd with its dictionary' if args.columnar else args.enc,
                   'two batches in flight with base_seq, %d re-sent after 409' % retries
                   if args.pipeline else 'one batch in flight'))
    print('  body     : %.1f B/record compressed (keyed JSON %.0f B/record)'
          % (body_bytes / args.rows, plain))
    print('  wire     : %.1f B/record up, %.1f B/record down (TLS + HTTP, via a counting proxy)'
          % (proxy.up_bytes / args.rows, proxy.down_bytes / args.rows))
    print('  landed   : %d of %d' % (landed, args.rows))
    return all_rows, rate


def copy_ceiling(env, rows):
    """The issue's ceiling: a COPY of the same rows into the same table,
    case_report, after the hub's copy of them is gone (TRUNCATE, and the
    alert jobs and dirty marks they made: the COPY starts from the state the
    hub started from). Its indexes and the triggers that fire for the hub's
    writes run (the reporting schema's dirty marks, the alert trigger); the
    session says it is the hub, as the hub's transactions do, so that the
    stamp and feed log of central edits stay off. Before it, the former
    ceiling: into a bare table LIKE case_report INCLUDING ALL (the indexes,
    no triggers), printed beside it. Returns (same table, bare) rows/s."""
    pg = env.pg
    pg.psql("DROP TABLE IF EXISTS bench_copy; CREATE TABLE bench_copy "
            "(LIKE case_report INCLUDING ALL)")
    path = os.path.join(pg.dir, 'bench.copy')
    with open(path, 'w') as f:
        f.write(copy_text(rows))
    os.chmod(path, 0o644)
    cols = COPY_COLS
    rates = {}
    for table in ('bench_copy', 'case_report'):
        if table == 'case_report':
            pg.psql(EMPTY_CASES)
        os.environ['PGOPTIONS'] = '-c sikhnas.writer=hub'
        t0 = time.time()
        pg.psql("\\copy %s (%s) FROM '%s'" % (table, cols, path))
        dt = time.time() - t0
        del os.environ['PGOPTIONS']
        n = pg.scalar('SELECT count(*) FROM %s' % table)
        rates[table] = n / dt
        print('libpq COPY : %d rows in %.2f s = %.0f rows/s (psql \\copy into %s)'
              % (n, dt, n / dt, 'case_report itself, from the state the hub began with'
                 if table == 'case_report' else
                 'a table LIKE case_report INCLUDING ALL: its indexes, no triggers'))
    return rates['case_report'], rates['bench_copy']


def profile_start(env, statements):
    if not statements:
        return 0, os.path.getsize(env.hub.log)
    for sql in ('ALTER SYSTEM SET log_min_duration_statement = 0', 'SELECT pg_reload_conf()'):
        env.pg.psql(sql)
    time.sleep(0.5)
    return os.path.getsize(env.pg.log), os.path.getsize(env.hub.log)


def stmt_key(text):
    """A statement's kind: its first words, with names of temporary tables kept."""
    text = re.sub(r'\$\d+(::\w+)?', '$', text.strip())
    m = re.match(r'(WITH \w+ AS \(\w+( INTO)? \w+|INSERT INTO \w+|UPDATE \w+ \w+ SET \w+ = '
                 r"('[a-z_]+'|\w+)|UPDATE \w+|DELETE FROM \w+|COPY \w+|SELECT [^ ]+ [^ ]+|\w+)",
                 text)
    return m.group(0) if m else text[:40]


def profile_report(env, start, rows):
    """Sums the cluster's logged durations per kind of statement since start."""
    pg_off, hub_off = start
    if pg_off:
        profile_statements(env, pg_off, rows)
    hub_times(env, hub_off)


def profile_statements(env, pg_off, rows):
    for sql in ('ALTER SYSTEM RESET log_min_duration_statement', 'SELECT pg_reload_conf()'):
        env.pg.psql(sql)
    tot = {}
    pat = re.compile(r'duration: ([\d.]+) ms  (parse|bind|execute|statement)[^:]*: (.*)')
    with open(env.pg.log, errors='replace') as f:
        f.seek(pg_off)
        for line in f:
            m = pat.search(line)
            if not m:
                continue
            k = stmt_key(m.group(3))
            t = tot.setdefault(k, [0.0, 0])
            t[0] += float(m.group(1))
            t[1] += m.group(2) in ('execute', 'statement')
    allms = sum(v[0] for v in tot.values())
    print('profile    : PostgreSQL, per kind of statement (parse + bind + execute), '
          'for %d rows:' % rows)
    for k, (ms, n) in sorted(tot.items(), key=lambda kv: -kv[1][0])[:25]:
        print('  %8.1f ms %5.1f %% %5d x  %.2f us/row  %s' % (ms, 100 * ms / allms, n,
                                                            ms * 1000 / rows, k))
    print('  %8.1f ms in all' % allms)


def hub_times(env, hub_off):
    parts = [0.0] * 5
    n = 0
    pat = re.compile(r'ms \(decode ([\d.]+), lock ([\d.]+), copy ([\d.]+), '
                     r'apply ([\d.]+)(?:; split ([\d.]+))?\)')
    with open(env.hub.log, errors='replace') as f:
        f.seek(hub_off)
        for line in f:
            m = pat.search(line)
            if m:
                n += 1
                for i in range(5):
                    parts[i] += float(m.group(i + 1) or 0)
    if n:
        print('profile    : the hub, %d batches, per batch: decode %.1f ms, lock and probe '
              '%.1f ms, copy %.1f ms (of it the split %.1f ms), apply %.1f ms'
              % (n, parts[0] / n, parts[1] / n, parts[2] / n, parts[4] / n, parts[3] / n))


async def read_answer(reader):
    """(status, headers, body) of one HTTP answer."""
    status = int((await reader.readline()).split()[1])
    hdrs = {}
    while True:
        line = await reader.readline()
        if line in (b'\r\n', b''):
            break
        k, _, v = line.decode().partition(':')
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, await reader.readexactly(int(hdrs.get('content-length', 0)))


async def node_task(i, port, ctx, batches, lat, errors, done, stats, rnd):
    """One node: its batches one after the other; a 429 or 503 is sent
    again after its Retry-After plus up to half again (as the node does),
    on a new connection when the hub closed the idle one meanwhile (as
    libcurl does)."""
    t_start = time.monotonic()
    conn = [None, None]

    async def connect():
        if conn[1]:
            conn[1].close()
        conn[0], conn[1] = await asyncio.open_connection('127.0.0.1', port, ssl=ctx,
                                                         server_hostname='127.0.0.1')
    try:
        await connect()
        for body, h in batches:
            head = 'POST /v1/push HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n' % len(body)
            head += ''.join('%s: %s\r\n' % kv for kv in h.items()) + '\r\n'
            lost = 0
            while True:
                t0 = time.monotonic()
                try:
                    conn[1].write(head.encode() + body)
                    await conn[1].drain()
                    status, hdrs, data = await read_answer(conn[0])
                except (OSError, asyncio.IncompleteReadError, IndexError, ValueError):
                    lost += 1
                    if lost > 3:
                        raise
                    stats['reconnect'] = stats.get('reconnect', 0) + 1
                    await connect()
                    continue
                if status in (429, 503):
                    stats[status] = stats.get(status, 0) + 1
                    ra = float(hdrs.get('retry-after', '1'))
                    stats.setdefault('ra', []).append((time.monotonic(), ra))
                    await asyncio.sleep(ra + rnd.random() * ra / 2)
                    continue
                break
            lat.append(time.monotonic() - t0)
            if status != 200:
                errors.append('%s %s' % (status, data[:200]))
                return
        done.append(time.monotonic() - t_start)
    except (OSError, asyncio.IncompleteReadError) as e:
        errors.append('node %d: %s' % (i, e))
    finally:
        if conn[1]:
            conn[1].close()


def hub_metric(env, name):
    _, _, text = env.hub.request('GET', '/metrics')
    out = {}
    for line in text.decode().splitlines():
        if line.startswith(name):
            k, _, v = line.rpartition(' ')
            out[k] = float(v)
    return out


def cpu_seconds(pid, children=False):
    """utime + stime of pid (with children: plus those of its reaped
    children, and of its live ones), in seconds; 0 when it is gone."""
    tick = os.sysconf('SC_CLK_TCK')

    def stat(p):
        try:
            with open('/proc/%d/stat' % p) as f:
                return f.read().rpartition(')')[2].split()
        except OSError:
            return None
    st = stat(pid)
    if not st:
        return 0.0
    t = int(st[11]) + int(st[12]) + (int(st[13]) + int(st[14]) if children else 0)
    if children:
        for d in os.listdir('/proc'):
            if d.isdigit():
                c = stat(int(d))
                if c and int(c[1]) == pid:
                    t += int(c[11]) + int(c[12])
    return t / tick


def loadavg():
    """The machine's load averages over 1, 5 and 15 minutes, as uptime prints them."""
    with open('/proc/loadavg') as f:
        return ' / '.join(f.read().split()[:3])


def cpu_now(env):
    """CPU seconds so far of the hub, of PostgreSQL (the postmaster and its
    backends, live and ended) and of this driver."""
    me = os.times()
    return (cpu_seconds(env.hub.proc.pid), cpu_seconds(env.pg.pid(), children=True),
            me.user + me.system)


def storm_work(env, args):
    """(nodes, their batches); with --cache FILE made once and read again
    on later runs of the same sizes (the making is the long part at the
    issue's size: some 100 s for 5.14 M rows)."""
    key = (args.nodes, args.node_batches, args.node_rows, args.enc, args.columnar,
           'ids at record time, content size')   # a cache made before is made again
    if args.cache and os.path.exists(args.cache):
        with open(args.cache, 'rb') as f:
            got = pickle.load(f)
        if got[0] == key:
            print('storm      : batches read from %s' % args.cache)
            return got[1], got[2]
    rnd = random.Random(11)
    vill = villages(env.pg)
    work, nodes = [], []
    for i in range(args.nodes):
        node = hubtest.uuid7()
        nodes.append(node)
        bs = []
        for k in range(args.node_batches):
            rows = make_rows(node, k * args.node_rows + 1, args.node_rows, vill, rnd)
            bs.append(build(node, rows, (k + 1) * args.node_rows, args.enc,
                            columnar=args.columnar))
        work.append(bs)
    if args.cache:
        with open(args.cache + '.tmp', 'wb') as f:
            pickle.dump((key, nodes, work), f, protocol=pickle.HIGHEST_PROTOCOL)
        os.rename(args.cache + '.tmp', args.cache)
    return nodes, work


def retry_after_summary(ras, t0):
    """The Retry-After values of ras ([(monotonic time, seconds)]) by 10 s
    of the storm from t0: 'from-to s: count, mean, max'."""
    slots = {}
    for t, ra in ras:
        slots.setdefault(int((t - t0) // 10), []).append(ra)
    return '; '.join('%d-%d s: %d, %.1f, %.0f' % (k * 10, k * 10 + 10, len(v), sum(v) / len(v),
                                                  max(v))
                     for k, v in sorted(slots.items()))


def storm_reset(env, nodes):
    """Empties what a storm of nodes wrote, as copy_ceiling() empties
    case_report, and sets the nodes back to their first contact (high-water
    mark, HLC and greatest id 0), so that the same batches can be pushed
    again and land as new: the cluster itself stays as the storm left it."""
    where = ','.join("'%s'" % n for n in nodes)
    env.pg.psql(EMPTY_CASES + "DELETE FROM push_batch WHERE node_id IN (%s); "
                "DELETE FROM push_refusal WHERE node_id IN (%s); "
                "UPDATE node SET acked_seq = 0, last_hlc = 0, max_id = '' WHERE node_id IN (%s)"
                % (where, where, where))
    env.pg.psql('CHECKPOINT')


def many_nodes(env, args, again=False):
    nodes, work = storm_work(env, args)
    if again:
        storm_reset(env, nodes)
        print('storm again: the same batches, after emptying what the first storm wrote: on '
              'the cluster it warmed (shared buffers used, WAL segments made), as a hub that '
              'has been running meets a storm')
    ctxs = [env.hub.context(cert=c) for c in env.hub.node_certs([(n, DISTRICT) for n in nodes])]
    lat, errors, done, stats = [], [], [], {}
    rnd = random.Random(3)

    async def run():
        await asyncio.gather(*(node_task(i, env.hub.port, ctxs[i], work[i], lat, errors, done,
                                         stats, rnd)
                               for i in range(args.nodes)))
    rss, stop = [], threading.Event()

    def sample():                       # the hub's RSS every 0.25 s: when is the peak
        while not stop.wait(0.25):
            with open('/proc/%d/status' % env.hub.proc.pid) as f:
                for line in f:
                    if line.startswith('VmRSS:'):
                        rss.append((time.time() - t0, int(line.split()[1])))
    load0 = loadavg()
    adm0 = hub_metric(env, 'sikhnas_hub_admitted_seconds_bucket')
    t0, t0_mono = time.time(), time.monotonic()
    cpu0 = cpu_now(env)
    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        asyncio.run(run())
    finally:
        stop.set()
        sampler.join()
    dt = time.time() - t0
    cpu = [b - a for a, b in zip(cpu0, cpu_now(env))]
    total = args.nodes * args.node_batches * args.node_rows
    landed = env.pg.scalar("SELECT count(*) FROM case_report WHERE src_node IN (%s)"
                           % ','.join("'%s'" % n for n in nodes))
    lat.sort()
    hwm = 0
    with open('/proc/%d/status' % env.hub.proc.pid) as f:
        for line in f:
            if line.startswith('VmHWM:'):
                hwm = int(line.split()[1])
    print('%d nodes : %d batches of %d rows each, concurrently, in %.2f s (%.0f records/s; '
          'load %s at the start, %s at the end)' % (args.nodes, args.node_batches, args.node_rows,
                                                    dt, total / dt, load0, loadavg()))
    if lat:
        print('  latency  : p50 %.1f ms, p99 %.1f ms, max %.1f ms (accepted batch: request sent '
              'to ack read, %d batches)' % (lat[len(lat) // 2] * 1e3,
                                            lat[int(len(lat) * 0.99)] * 1e3, lat[-1] * 1e3,
                                            len(lat)))
    adm = {k: v - adm0.get(k, 0) for k, v in            # this storm's batches only
           hub_metric(env, 'sikhnas_hub_admitted_seconds_bucket').items()}
    cnt = adm.get('sikhnas_hub_admitted_seconds_bucket{le="+Inf"}', 0)
    if cnt:
        within = ', '.join('%.1f %% within %s s' % (
            100 * adm['sikhnas_hub_admitted_seconds_bucket{le="%s"}' % le] / cnt, le)
            for le in ('1', '2', '2.5')
            if 'sikhnas_hub_admitted_seconds_bucket{le="%s"}' % le in adm)
        print('  admitted : of the batches answered, %s of their admission (hub histogram)'
              % within)
    print('  refused  : %d x 429, %d x 503 (each sent again after Retry-After + jitter), '
          '%d reconnects' % (stats.get(429, 0), stats.get(503, 0), stats.get('reconnect', 0)))
    if stats.get('ra'):
        print('  schedule : Retry-After given in each 10 s of the storm (count, mean s, max s): %s'
              % retry_after_summary(stats['ra'], t0_mono))
    if done:
        done.sort()
        print('  per node : median %.1f s, slowest %.1f s (%.2f x the median)'
              % (done[len(done) // 2], done[-1], done[-1] / done[len(done) // 2]))
    print('  landed   : %d of %d (%s)' % (landed, total, 'each once' if landed == total
                                           else 'MISMATCH'))
    print('  CPU      : hub %.1f s, PostgreSQL %.1f s, this driver %.1f s: %.2f of the '
          'machine\'s %d cores over the %.1f s' % (cpu[0], cpu[1], cpu[2], sum(cpu) / dt,
                                                  os.cpu_count(), dt))
    print('  hub RSS  : peak %.1f MiB (VmHWM)' % (hwm / 1024))
    if rss:
        top = max(rss, key=lambda x: x[1])
        print('  RSS over : the largest sample %.1f MiB at %.1f s; %s' % (
            top[1] / 1024, top[0], ', '.join('%.0f s %.0f' % (t, k / 1024) for t, k in
                                              rss[::max(1, len(rss) // 12)])))
    if errors:
        print('  errors   : %d, e.g. %s' % (len(errors), errors[0]))
    return nodes, dt


def copy_scripts(d, texts, sessions):
    """Writes each COPY text of texts (copy_text()'s form) to a file of
    its own in d, and one psql script per session that \\copies every
    sessions-th of them into case_report, as the hub's writers share a
    storm's batches. Returns the scripts' paths."""
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    lines = [[] for _ in range(sessions)]
    for i, text in enumerate(texts):
        path = os.path.join(d, '%06d.copy' % i)
        with open(path, 'w') as f:
            f.write(text)
        os.chmod(path, 0o644)
        lines[i % sessions].append("\\copy case_report (%s) FROM '%s'" % (COPY_COLS, path))
    scripts = []
    for k, ls in enumerate(lines):
        path = os.path.join(d, 'session%d.sql' % k)
        with open(path, 'w') as f:
            f.write('\n'.join(ls) + '\n')
        os.chmod(path, 0o644)
        scripts.append(path)
    return scripts


def run_copy_scripts(pg, scripts):
    """Runs the scripts of copy_scripts() at once, each in its own psql
    session that says it is the hub (its triggers fire as for the hub's
    writes). Returns (wall s, PostgreSQL CPU s, psql CPU s); raises when a
    session failed."""
    env = dict(os.environ, PGOPTIONS='-c sikhnas.writer=hub')
    pg0, ch0, t0 = cpu_seconds(pg.pid(), children=True), os.times(), time.time()
    ps = [subprocess.Popen(['psql', pg.conninfo, '-q', '-v', 'ON_ERROR_STOP=1', '-f', path],
                           stdout=subprocess.DEVNULL, env=env) for path in scripts]
    failed = [p.wait() for p in ps]
    dt = time.time() - t0
    ch1 = os.times()
    if any(failed):
        raise RuntimeError('psql failed: exit codes %s' % failed)
    return (dt, cpu_seconds(pg.pid(), children=True) - pg0,
            (ch1.children_user + ch1.children_system) - (ch0.children_user + ch0.children_system))


def storm_copy(env, args, nodes, storm_s):
    """Part 4: PostgreSQL's own speed for the storm's rows. The rows the
    storm landed are read back in the order they landed, case_report is
    emptied as in copy_ceiling(), and the same rows are COPYed into it by
    --pg-conns psql sessions at once (the hub's writers), in transactions of
    --node-rows rows (the storm's batches), each session taking every
    --pg-conns-th batch. No TLS, no hub, no admission control: the most this
    table takes on this machine. The cluster is warm from the storm (its
    shared buffers touched, its WAL segments recycled), which favours the
    COPY. Prints its wall time, PostgreSQL's and psql's CPU, and storm / COPY."""
    pg = env.pg
    d = os.path.join(pg.dir, 'storm-copy')
    os.makedirs(d, exist_ok=True)
    every = os.path.join(d, 'all.copy')
    where = ','.join("'%s'" % n for n in nodes)
    os.environ['PGOPTIONS'] = '-c synchronize_seqscans=off'     # from the table's start
    try:
        pg.psql("\\copy (SELECT %s FROM case_report WHERE src_node IN (%s)) TO '%s'"
                % (COPY_COLS, where, every))
    finally:
        del os.environ['PGOPTIONS']

    def batches(f):                     # the landed rows, --node-rows at a time
        while True:
            chunk = ''.join(line for _, line in zip(range(args.node_rows), f))
            if not chunk:
                return
            yield chunk
    with open(every) as f:
        scripts = copy_scripts(d, batches(f), args.pg_conns)
    os.unlink(every)
    rows = int(pg.scalar('SELECT count(*) FROM case_report WHERE src_node IN (%s)' % where))
    pg.psql(EMPTY_CASES + 'CHECKPOINT')
    try:
        dt, pgcpu, psqlcpu = run_copy_scripts(pg, scripts)
    except RuntimeError as e:
        print('storm COPY : FAILED (%s)' % e)
        return
    n = int(pg.scalar('SELECT count(*) FROM case_report'))
    for name in os.listdir(d):
        os.unlink(os.path.join(d, name))
    os.rmdir(d)
    if n != rows:
        print('storm COPY : FAILED (%d of %d rows)' % (n, rows))
        return
    print('storm COPY : the same %d rows, psql \\copy from %d sessions at once in transactions '
          'of %d, into case_report emptied: %.1f s (%.0f rows/s); CPU PostgreSQL %.1f s, psql '
          '%.1f s; load %s' % (rows, args.pg_conns, args.node_rows, dt, rows / dt, pgcpu,
                               psqlcpu, loadavg()))
    print('ratio      : storm / COPY = %.2f (wall time; above 1 the storm took longer)'
          % (storm_s / dt))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('hub')
    ap.add_argument('--rows', type=int, default=100000)
    ap.add_argument('--batch', type=int, default=5000)
    ap.add_argument('--nodes', type=int, default=500)
    ap.add_argument('--node-batches', type=int, default=4)
    ap.add_argument('--node-rows', type=int, default=50)
    ap.add_argument('--enc', default='zstd', choices=['zstd', 'gzip'])
    ap.add_argument('--pg-conns', type=int, default=4)
    ap.add_argument('--hub-args', default='',
                    help='more sikhnas-hub run options, e.g. "--admit 1024 --admit-queue 4096" '
                         '(admission off, the baseline)')
    ap.add_argument('--skip-copy', action='store_true')
    ap.add_argument('--pipeline', action='store_true',
                    help='two batches in flight, ordered by base_seq')
    ap.add_argument('--skip-nodes', action='store_true')
    ap.add_argument('--columnar', metavar='TOOL',
                    help='parts 1 and 3: send columnar batches with the dictionary of '
                         'columnar batches, as a node does (TOOL: '
                         'build/tests/bench/batch-columnar)')
    ap.add_argument('--cache', metavar='FILE',
                    help='part 3: keep the storm\'s batches in FILE and reuse them when the '
                         'sizes match (node ids, times and bodies the same; a new database '
                         'each run)')
    ap.add_argument('--profile', action='store_true',
                    help='part 1: log statement durations and the hub\'s per-batch times')
    ap.add_argument('--storm-again', action='store_true',
                    help='part 3 twice: the second storm on the cluster the first one warmed '
                         '(its writes emptied first); part 4 compares with the second')
    ap.add_argument('--storm-copy', action='store_true',
                    help='part 4: after the storm, COPY its rows into the emptied table from '
                         '--pg-conns psql sessions, in transactions of --node-rows: '
                         'PostgreSQL\'s own speed for them, and storm / COPY')
    ap.add_argument('--pg-set', action='append', default=[], metavar='NAME=VALUE',
                    help='a setting of the bench\'s PostgreSQL (e.g. shared_buffers=4GB)')
    args = ap.parse_args()
    os.environ['SIKHNAS_HUB'] = os.path.abspath(args.hub)
    os.environ.setdefault('HUBTEST_LOG', '-v -v')     # the hub's per-batch times
    pg = dict(kv.split('=', 1) for kv in args.pg_set)
    if pg:
        print('PostgreSQL : %s' % ', '.join('%s = %s' % kv for kv in sorted(pg.items())))
    with hubtest.Env(conns=args.pg_conns, extra_args=args.hub_args.split(),
                     pg_settings=pg) as env:
        start = profile_start(env, args.profile)
        rows, rate = one_node(env, args)
        profile_report(env, start, args.rows)
        if not args.skip_copy:
            same, bare = copy_ceiling(env, rows)
            print('ratio      : hub / COPY = %.2f (into the same table, as the issue asks; '
                  'against the bare table %.2f)' % (rate / same, rate / bare))
        if not args.skip_nodes:
            nodes, storm_s = many_nodes(env, args)
            if args.storm_again:
                nodes, storm_s = many_nodes(env, args, again=True)
            if args.storm_copy:
                storm_copy(env, args, nodes, storm_s)


if __name__ == '__main__':
    main()
