#!/usr/bin/env python3
"""test_field.py - the node as a district office meets it (issue 13): a
district-scoped downlink, priority lanes, a board without a clock, a
metered link. Real sikhnas-node stores, the real sikhnas-hub over TLS and a
throwaway PostgreSQL + PostGIS (tests/lib/pgtemp.py), on loopback.

    test_field.py NODE_EXE HUB_EXE [TEST ...]

The link emulator's profiles (tests/field/linkemu.py) are in test_link.py."""
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'e2e'))
import e2elib  # noqa: E402
from e2elib import hubtest, nodetest  # noqa: E402

# the national area list when SIKHNAS_AREAS names it (the downlink's figure)
hubtest.AREAS_DIR = os.environ.get('SIKHNAS_AREAS', e2elib.AREAS)
BOGOR = [v for v in nodetest.villages('3201')][:50]
BACKLOG = int(os.environ.get('SIKHNAS_FIELD_BACKLOG', '100000'))

NODE_EXE = os.path.abspath(sys.argv[1])
HUB_EXE = os.path.abspath(sys.argv[2])
os.environ['SIKHNAS_HUB'] = HUB_EXE
ENV = None
TMP = nodetest.scratch('sikhnas-field-')


def new_node(district='3201'):
    return e2elib.enrolled_node(ENV, NODE_EXE, TMP, district)


def sync(node, *extra, env=None, timeout=600):
    args = ['sync', '--hub', 'https://127.0.0.1:%d' % ENV.hub.port, '--ca', ENV.hub.ca,
            '--no-progress'] + list(extra)
    return node.run(*args, timeout=timeout, env=env)


def ok_sync(node, *extra, env=None):
    r = sync(node, *extra, env=env)
    assert r.returncode == 0, 'sync failed (%d): %s' % (r.returncode, r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


def node_id(node):
    return node.sql("SELECT value FROM meta WHERE key = 'node_id'")[0][0]


# ------------------------------------------------------------ downlink

def test_district_downlink():
    """A node pulls its own district's kecamatan and villages, every
    province and kabupaten/kota (to name another district), the national
    code lists, and nothing of another district's villages."""
    node = new_node('3201')
    s = ok_sync(node)
    hub_areas = {}
    for line in ENV.pg.psql("SELECT code, level FROM area").splitlines():
        code, level = line.split('|')
        hub_areas[code] = int(level)
    mine = {c for c, lv in hub_areas.items() if lv <= 2 or c.startswith('3201')}
    have = {r[0] for r in node.sql("SELECT code FROM area")}
    assert mine <= have, 'missing: %s' % sorted(mine - have)[:10]
    foreign = sorted(c for c in have if len(c) > 4 and not c.startswith('3201'))
    assert not foreign, 'villages of other districts came down: %s' % foreign[:10]
    other = [c for c, lv in hub_areas.items() if lv >= 3 and not c.startswith('3201')]
    assert other, 'the test data should hold another district'
    ncodes = int(ENV.pg.psql("SELECT count(*) FROM code_list"))
    assert node.sql("SELECT count(*) FROM code_list")[0][0] >= ncodes
    # what came down: the rows of this district and the national ones only
    expect = len(mine) + ncodes
    assert s['pulled'] <= expect + 5, (s, expect)
    print('  downlink: %d areas at the hub, %d pulled, %d bytes down'
          % (len(hub_areas), s['pulled'], s['bytes_down']), flush=True)
    if len(hub_areas) > 80000:          # the national list (SIKHNAS_AREAS)
        assert s['bytes_down'] <= 100 * 1024, s
    # a node of another district gets that district's villages, not these
    node2 = new_node('3202')
    ok_sync(node2)
    got = {r[0] for r in node2.sql("SELECT code FROM area WHERE level >= 3")}
    assert not any(c.startswith('3201') for c in got), sorted(got)[:5]
    # a central rename of a village reaches its district only
    v = sorted(c for c, lv in hub_areas.items() if lv == 4 and c.startswith('3201'))[0]
    ENV.pg.psql("UPDATE area SET name = 'Desa Lapangan' WHERE code = '%s'" % v)
    assert ok_sync(node)['pulled'] == 1
    assert ok_sync(node2)['pulled'] == 0
    assert node.sql("SELECT name FROM area WHERE code = ?", (v,))[0][0] == 'Desa Lapangan'


# ------------------------------------------------------------ priority lane

def p_report(i=0):
    r = e2elib.report(village=BOGOR[i % len(BOGOR)], i=i, kind='P', syndrome='MMD')
    del r['signs']
    return r


def test_priority_lane():
    """With BACKLOG routine records queued and the daemon pushing them, a
    new P report reaches PostgreSQL within 10 s, ahead of the backlog; a
    follow-up of it goes in the priority lane too."""
    node = new_node()
    ok_sync(node)                               # remembers the hub in the store
    nid = node_id(node)
    path = e2elib.write_jsonl(os.path.join(node.tmp, 'in.jsonl'), BACKLOG, BOGOR)
    r = node.run('import', '--no-progress', path, timeout=600)
    assert r.returncode == 0, r.stderr
    conf = os.path.join(node.tmp, 'node.ini')
    with open(conf, 'w') as f:
        f.write('[sync]\ninterval_s = 3600\n')
    with nodetest.Daemon(node, conf) as d:
        assert e2elib.wait_for(lambda: e2elib.pg_counts(ENV.pg, nid)[0] > 0, timeout=60), \
            'the daemon did not start pushing: ' + d.log
        r = node.add_report(p_report())
        assert r.returncode == 0, r.stderr
        rid = json.loads(r.stdout)['id']
        t0 = time.time()
        got = e2elib.wait_for(lambda: ENV.pg.psql(
            "SELECT count(*) FROM case_report WHERE id = '%s'" % rid) == '1', timeout=30)
        took = time.time() - t0
        behind = BACKLOG - e2elib.pg_counts(ENV.pg, nid)[0]
        print('  priority lane: P report at the hub %.2f s after it was saved, %d routine '
              'records still queued then (backlog %d)' % (took, behind, BACKLOG), flush=True)
        assert got and took <= 10, 'the P report took %.1f s' % took
        assert behind > 0, 'the backlog was gone before the P report: the test proves nothing'
    # the follow-ups of a P report go in its lane, those of a routine one not
    uid = node.sql("SELECT id FROM case_report WHERE kind = 'U' LIMIT 1")[0][0]
    con = sqlite3.connect(node.db, timeout=30)
    try:
        for fid, case in (('f-of-p', rid), ('f-of-u', uid)):
            con.execute("INSERT INTO case_followup (id, origin, hlc, created_at, updated_at, "
                        "case_id, outcome, event_date) VALUES (?, 'n', 1, '', '', ?, 'MS', "
                        "'2026-11-21')", (fid, case))
        con.commit()
        lanes = dict(con.execute("SELECT row_id, lane FROM outbox WHERE row_id LIKE 'f-of-%'"))
    finally:
        con.close()
    assert lanes == {'f-of-p': 1, 'f-of-u': 0}, lanes


P_HEAD = 12000


def test_priority_head_backlog():
    """An outbreak's backlog: 12,000 P reports at the head of the queue go
    up about as fast as 12,000 routine ones (a second node, the baseline in
    the same run). The queries that find the lane's head used to look at
    every entry before each P report: with 12,000 at the head each batch
    waited seconds for them (with 20,000, 20 s; footprint.py's round took
    87 s for 100,000 records instead of 14)."""
    took = {}
    for kind in ('U', 'P'):
        node = new_node()
        ok_sync(node)
        path = os.path.join(node.tmp, 'backlog.jsonl')
        with open(path, 'w') as f:
            for i in range(P_HEAD):
                f.write(json.dumps(p_report(i) if kind == 'P' else
                                   e2elib.report(village=BOGOR[i % len(BOGOR)], i=i)) + '\n')
        r = node.run('import', '--no-progress', path, timeout=600)
        assert r.returncode == 0, r.stderr
        t0 = time.time()
        s = ok_sync(node)
        took[kind] = time.time() - t0
        assert s['pushed'] == P_HEAD, s
        assert e2elib.pg_counts(ENV.pg, node_id(node)) == (P_HEAD, P_HEAD)
    print('  %d reports: routine %.2f s, P at the head %.2f s' % (P_HEAD, took['U'], took['P']),
          flush=True)
    assert took['P'] <= 2.5 * took['U'] + 2, took


def gauge(name):
    _, _, text = ENV.hub.request('GET', '/metrics')
    m = re.search(r'^%s (\S+)$' % re.escape(name), text.decode(), re.M)
    return float(m.group(1)) if m else None


class HeldSlot:
    """The hub's one admission slot (--admit 1) held: a batch of a made-up
    node waits for its registry row, which an open transaction locks."""

    def __init__(self):
        self.node = hubtest.uuid7()
        assert self.push(1) == 200                 # its registry row exists
        self.psql = subprocess.Popen(['psql', '-X', '-q', '-At', '-d', ENV.pg.conninfo],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.psql.stdin.write("BEGIN; SELECT 1 FROM node WHERE node_id = '%s' FOR UPDATE;\n"
                              "\\echo locked\n" % self.node)
        self.psql.stdin.flush()
        while self.psql.stdout.readline().strip() != 'locked':
            pass
        self.res = []
        self.t = threading.Thread(target=lambda: self.res.append(self.push(2)))
        self.t.start()
        assert e2elib.wait_for(lambda: gauge('sikhnas_hub_admission{state="admitted"}') == 1)

    def push(self, seq):
        body, h = hubtest.encode_batch(self.node, seq,
                                       {'case_report': (hubtest.CASE_COLS,
                                                        [hubtest.case_row(seq, self.node)])})
        h.update(hubtest.ident(self.node, '3201'))
        return ENV.hub.request('POST', '/v1/push', body, h)[0]

    def release(self):
        if self.psql:
            self.psql.stdin.write('COMMIT;\n')
            self.psql.stdin.close()
            self.psql.wait(30)
            self.psql = None
            self.t.join(30)


def spawn_sync(node):
    return subprocess.Popen([NODE_EXE, '--db', node.db, 'sync', '--hub',
                             'https://127.0.0.1:%d' % ENV.hub.port, '--ca', ENV.hub.ca,
                             '--no-progress', '--retry-for', '120'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_priority_header():
    """A node whose next batch carries a P report says so
    (X-Sikhnas-Priority: 1), and the hub admits that batch before a routine
    one: with the one slot held and a routine batch waiting in the one
    place of the queue, the P batch takes the place and the routine one is
    told to come back later (429)."""
    routine, prio = new_node(), new_node()
    ok_sync(routine)
    ok_sync(prio)
    path = e2elib.write_jsonl(os.path.join(routine.tmp, 'in.jsonl'), 20, BOGOR)
    assert routine.run('import', '--no-progress', path).returncode == 0
    r = prio.add_report(p_report())
    assert r.returncode == 0, r.stderr
    args = ENV.hub.extra_args
    ENV.hub.stop()
    ENV.hub.extra_args = ['--admit', '1', '--admit-queue', '1']
    ENV.hub.start()
    procs = []
    try:
        hold = HeldSlot()
        try:
            procs.append(spawn_sync(routine))
            assert e2elib.wait_for(
                lambda: gauge('sikhnas_hub_admission{state="waiting"}') == 1, timeout=30)
            procs.append(spawn_sync(prio))
            # the P batch takes the routine one's place in the queue
            assert e2elib.wait_for(lambda: gauge('sikhnas_hub_admission_refused_total') >= 1,
                                   timeout=30)
            time.sleep(0.5)
            assert gauge('sikhnas_hub_admission{state="waiting"}') == 1
        finally:
            hold.release()
        outs = [p.communicate(timeout=180) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        ENV.hub.stop()
        ENV.hub.extra_args = args
        ENV.hub.start()
    assert hold.res == [200], hold.res
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    assert '429' in outs[0][1], 'the routine batch was not refused: ' + outs[0][1]
    assert '429' not in outs[1][1], 'the P batch was refused: ' + outs[1][1]
    assert e2elib.pg_counts(ENV.pg, node_id(prio))[0] == 1
    assert e2elib.pg_counts(ENV.pg, node_id(routine))[0] == 20


def test_tcp_congestion():
    """sync.tcp_congestion: BBR by default; a congestion control the kernel
    lacks is said once and the sync goes on with the system's; empty: the
    system's, nothing said."""
    node = new_node()
    r = node.run('--help-config')
    assert 'sync.tcp_congestion' in r.stdout + r.stderr, r.stdout
    for cc, said in (('nosuchcc', True), ('', False), ('bbr', None)):
        conf = os.path.join(node.tmp, 'cc.ini')
        with open(conf, 'w') as f:
            f.write('[sync]\ntcp_congestion = %s\n' % cc)
        r = node.run('--config', conf, '-v', 'sync', '--hub',
                     'https://127.0.0.1:%d' % ENV.hub.port, '--ca', ENV.hub.ca, '--no-progress')
        assert r.returncode == 0, r.stderr
        if said is not None:
            assert ("congestion control '%s' is not available" % cc in r.stderr) == said, \
                r.stderr
    assert node.status()['outbox'] == 0


# ------------------------------------------------------------ metered link

def test_status_clears_last_error():
    """A failed sync shows in status; once a sync succeeds, status shows
    no last error, and the failure stays as the previous one, with its time."""
    node = new_node()
    r = node.run('sync', '--hub', 'https://127.0.0.1:1', '--ca', ENV.hub.ca, '--no-progress',
                 '--retry-for', '0')
    assert r.returncode != 0
    st = node.status()
    assert st['last_error'] and st['last_error_at'], st
    failed_at = st['last_error_at']
    ok_sync(node)
    st = node.status()
    assert st['last_error'] is None and st['last_error_at'] is None, st
    assert st['previous_error']['at'] == failed_at, st
    text = node.run('status').stdout
    assert 'last sync error' not in text and 'previous error' in text, text


def test_metered_link():
    """A daily byte budget: status shows today's use; once it is used up,
    routine records wait and a P report still goes up."""
    node = new_node()
    s = ok_sync(node)
    st = node.status()
    assert st['link_today']['bytes'] >= s['bytes_up'] + s['bytes_down'], (st, s)
    used = st['link_today']['bytes']
    conf = os.path.join(node.tmp, 'metered.ini')
    with open(conf, 'w') as f:
        f.write('[sync]\ndaily_budget_kib = %d\n' % max(1, used // 1024))
    ids = []
    for i in range(5):
        r = node.add_report(e2elib.report(village=BOGOR[i], i=i))
        assert r.returncode == 0, r.stderr
        ids.append(json.loads(r.stdout)['id'])
    r = node.add_report(p_report(1))
    assert r.returncode == 0, r.stderr
    pid = json.loads(r.stdout)['id']
    r = node.run('--config', conf, 'sync', '--hub', 'https://127.0.0.1:%d' % ENV.hub.port,
                 '--ca', ENV.hub.ca, '--no-progress')
    assert r.returncode != 0 and 'daily budget' in r.stderr, r.stderr
    at_hub = lambda i: ENV.pg.psql("SELECT count(*) FROM case_report WHERE id = '%s'" % i)
    assert at_hub(pid) == '1', 'the P report did not go up on a used-up budget'
    assert [at_hub(i) for i in ids] == ['0'] * 5, 'routine records went up over the budget'
    st = node.status()
    assert st['link_today']['budget'] == max(1, used // 1024) * 1024, st
    assert st['link_today']['bytes'] > used, st
    assert 'used up' in node.run('--config', conf, 'status').stdout
    # without the budget, the rest goes
    ok_sync(node)
    assert [at_hub(i) for i in ids] == ['1'] * 5


# ------------------------------------------------------------ a board without a clock

def at_1970(extra=None):
    """The environment of a board that booted in 1970 (faketime; the boot
    clock stays real, as on a board: it counts from the boot)."""
    e = {'LD_PRELOAD': FAKETIME_LIB, 'FAKETIME': '@1970-01-02 00:00:00',
         'FAKETIME_DONT_FAKE_MONOTONIC': '1', 'FAKETIME_NO_CACHE': '1',
         # under ASan the preloaded library comes first; that is fine here
         'ASAN_OPTIONS': os.environ.get('ASAN_OPTIONS', '') + ':verify_asan_link_order=0'}
    e.update(extra or {})
    return e


FAKETIME_LIB = next((p for p in ('/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1',
                                 '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1')
                     if os.path.exists(p)), None)


def test_board_without_clock():
    """A board at 1970 takes reports (dated by the newest time it has seen,
    flagged), syncs over strict TLS, learns the hub's time, and corrects the
    flagged records' times; a fresh board at 1970 enrols and syncs."""
    assert FAKETIME_LIB, 'faketime is not installed (scripts/deps.sh)'
    node = new_node()
    assert node.add_report(e2elib.report(village=BOGOR[0])).returncode == 0
    ok_sync(node)
    before = node.sql("SELECT max(hlc), max(created_at) FROM case_report")[0]
    t_real = time.time()
    env = at_1970()
    r = node.run('report', 'add', input=json.dumps(e2elib.report(
        village=BOGOR[1], event_date=time.strftime('%Y-%m-%d', time.gmtime()))), env=env)
    assert r.returncode == 0, 'a report at 1970 was refused: ' + r.stderr
    rid = json.loads(r.stdout)['id']
    hlc, created = node.sql("SELECT hlc, created_at FROM case_report WHERE id = ?", (rid,))[0]
    assert hlc > before[0] and created >= before[1], (hlc, created, before)
    assert node.sql("SELECT corrected FROM clock_suspect WHERE row_id = ?", (rid,)) == [(None,)]
    st = json.loads(node.run('status', '--json', env=env).stdout)
    assert st['clock']['behind_s'] > 86400 * 365 and st['clock']['records_flagged'] == 1, st
    time.sleep(1.5)
    s = ok_sync(node, env=env)                   # strict TLS, at 1970
    assert s['pushed'] >= 1, s
    fixed = node.sql("SELECT corrected FROM clock_suspect WHERE row_id = ?", (rid,))[0][0]
    assert fixed, 'the record was not corrected'
    want = time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(t_real))
    got = node.sql("SELECT created_at FROM case_report WHERE id = ?", (rid,))[0][0]
    assert abs(time.mktime(time.strptime(got[:19], '%Y-%m-%dT%H:%M:%S')) -
               time.mktime(time.strptime(want, '%Y-%m-%dT%H:%M:%S'))) <= 3, (got, want)
    ok_sync(node, env=env)                       # the corrected version goes up
    central = ENV.pg.psql("SELECT sikhnas_ts(created_at) FROM case_report WHERE id = '%s'" % rid)
    assert central == got, (central, got)
    # a fresh board at 1970: enrols, syncs, its records come after the hub's time
    fresh = nodetest.Node(NODE_EXE, district='3201', tmp=tempfile.mkdtemp(dir=TMP), init=False)
    r = fresh.run('init', '--district', '3201', '--areas', e2elib.AREAS, env=env)
    assert r.returncode == 0, r.stderr
    token = ENV.hub.run_cmd('node', 'add', '--district', '3201', '--name', 'fresh-1970'
                            ).stdout.strip()
    r = fresh.run('enroll', '--hub', 'https://127.0.0.1:%d' % ENV.hub.port, '--token', token,
                  '--ca', ENV.hub.ca, env=env)
    assert r.returncode == 0, 'enrol at 1970: ' + r.stderr
    ok_sync(fresh, env=env)
    r = fresh.run('report', 'add', input=json.dumps(e2elib.report(village=BOGOR[2])), env=env)
    assert r.returncode == 0, r.stderr
    hub_now = int(ENV.pg.psql("SELECT sikhnas_hlc_next()"))
    assert fresh.sql("SELECT max(hlc) FROM case_report")[0][0] >> 16 > (hub_now >> 16) - 60000
    # strict otherwise: a floor past the hub certificate's end refuses it
    con = sqlite3.connect(fresh.db, timeout=30)
    con.execute("UPDATE meta SET value = ? WHERE key = 'clock.floor'",
                (str(int((time.time() + 20 * 365 * 86400) * 1000)),))
    con.commit()
    con.close()
    r = sync(fresh, env=env)
    assert r.returncode != 0 and 'expired' in r.stderr, r.stderr


TESTS = [test_district_downlink, test_priority_lane, test_priority_head_backlog,
         test_priority_header,
         test_tcp_congestion, test_status_clears_last_error,
         test_metered_link, test_board_without_clock]


def restart_dead_hub():
    """After a failed test: a hub the test left dead is started again."""
    if ENV.hub.proc is None or ENV.hub.proc.poll() is not None:
        ENV.hub.start()


def main():
    global ENV
    ENV = hubtest.Env()
    return e2elib.run_tests(TESTS, sys.argv[3:], ENV, after_failure=restart_dead_hub)


if __name__ == '__main__':
    sys.exit(main())
