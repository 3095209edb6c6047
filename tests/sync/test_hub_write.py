#!/usr/bin/env python3
"""test_hub_write.py - the hub's write path under hostile or broken input,
against the real sikhnas-hub, a real PostgreSQL 15 + PostGIS
(tests/lib/pgtemp.py) and real TLS: rows of another district, foreign
origins, clocks far ahead, contradictory counts, digest mismatches, the
push ledger and its metrics when a commit's answer is lost, the
high-water-mark probe, and a database that is down at start or goes away.

usage: test_hub_write.py [SIKHNAS_HUB_EXE] [-k NAME]   (exit status 0 = all passed)

Each test uses its own node ids; the tests that need a broken database
start a second hub of their own (through tests/sync/pgproxy.py)."""
import json
import os
import re
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import hubtest  # noqa: E402
import pgproxy  # noqa: E402
from hubtest import CASE_COLS, case_row, encode_batch, ident, uuid7  # noqa: E402

D = '3201'


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def push(hub, node, tables, last_seq, district=D, port=None, hlc=None):
    """tables: {name: (cols, rows)}; returns (status, headers, json)."""
    body, h = encode_batch(node, last_seq, tables, hlc=hlc)
    h.update(ident(node, district))
    return hub.request('POST', '/v1/push', body, h, port=port)


def push_cases(env, node, rows, last_seq, district=D, port=None):
    st, _, js = push(env.hub, node, {'case_report': (CASE_COLS, rows)}, last_seq, district,
                     port=port)
    return st, js


def wait_for(cond, what, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError('timed out: ' + what)


def health(hub, port=None):
    st, hd, js = hub.request('GET', '/v1/health', port=port)
    return st, js


def refusals(js):
    return {r['seq']: (r['code'], r['reason']) for r in js['refused']}


def central(env, table, rid, cols='*'):
    return env.pg.psql("SELECT %s FROM %s WHERE id = '%s'" % (cols, table, rid))


# ------------------------------------------------------------ clocks

def test_row_hlc_far_ahead_is_refused(env):
    """A node whose clock runs 11 days fast would win last-writer-wins
    against every correction for 11 days: its rows are refused; a minute
    ahead (clocks drift) is fine."""
    node = uuid7()
    now_ms = int(time.time() * 1000)
    far, near = uuid7(), uuid7()
    rows = [case_row(1, node, rid=far, hlc=(now_ms + 11 * 86400000) << 16),
            case_row(2, node, rid=near, hlc=(now_ms + 60000) << 16)]
    st, js = push_cases(env, node, rows, 2)
    check(st == 200 and js['applied'] == 1 and js['acked_seq'] == 2, js)
    ref = refusals(js)
    check(list(ref) == [1] and ref[1][0] == 'hlc_ahead' and '11.0 days ahead' in ref[1][1], ref)
    check(central(env, 'case_report', far) == '' and central(env, 'case_report', near, 'id') == near,
          'rows')


# ------------------------------------------------------------ counts

FOLLOWUP_COLS = ['seq', 'id', 'origin', 'hlc', 'deleted', 'created_at', 'updated_at', 'case_id',
                 'outcome', 'animals', 'escalate', 'event_date', 'reporter', 'note']


def followup_row(seq, node, animals, rid=None, case_id=None, origin=None, hlc=None):
    return [seq, rid or uuid7(), origin or node, str(hlc or hubtest.now_hlc() + seq), 0,
            '2026-11-28T10:00:00Z', '2026-11-28T10:00:00Z', case_id or uuid7(), None, animals,
            0, '2026-11-28', '+6281234567890', None]


def herd(sick, dead, at_risk, species='SP', **more):
    return dict(species=species, sick=sick, dead=dead, at_risk=at_risk, **more)


def test_contradictory_counts_are_refused(env):
    node = uuid7()
    rows = [case_row(1, node, animals=[herd(5, 1, 4)]),                 # more sick than at risk
            case_row(2, node, animals=[herd(0, 0, 10)]),                # nobody sick or dead
            case_row(3, node, animals=[herd(2, 0, 0)]),                 # at risk not counted
            case_row(4, node, animals=[herd(3, 1, 4)]),                 # exactly all of them
            case_row(5, node, animals=[herd(1, 0, 5), herd(2, 2, 3, 'KB')]),
            case_row(6, node, animals=[herd(-1, 3, 5)]),
            case_row(7, node, animals=[herd('2', 0, 5)]),
            case_row(8, node, animals=[herd(1.5, 0, 5)])]
    st, js = push_cases(env, node, rows, 8)
    check(st == 200 and js['applied'] == 2, js)
    ref = refusals(js)
    check(sorted(ref) == [1, 2, 5, 6, 7, 8] and {c for c, _ in ref.values()} == {'bad_value'}, ref)
    check(ref[1][1] == 'animals: SP sick 5 + dead 1 exceeds at_risk 4', ref[1])
    check(ref[2][1] == 'animals: SP has no sick or dead animal (sick 0, dead 0)', ref[2])
    check(ref[5][1] == 'animals: KB sick 2 + dead 2 exceeds at_risk 3', ref[5])
    check('not an integer >= 0' in ref[6][1] and 'not an integer' in ref[7][1] and
          'not an integer' in ref[8][1], ref)
    fu = [followup_row(9, node, [herd(1, 1, 2, culled=1)]),
          followup_row(10, node, [herd(1, 1, 3, culled=1)]),
          followup_row(11, node, [herd(0, 0, 0, culled=4)]),
          followup_row(12, node, [])]
    st, _, js = push(env.hub, node, {'case_followup': (FOLLOWUP_COLS, fu)}, 12)
    check(st == 200 and js['applied'] == 3, js)
    ref = refusals(js)
    check(list(ref) == [9] and ref[9] == ('bad_value', 'animals: SP sick 1 + dead 1 + culled 1 '
                                          'exceeds at_risk 2'), ref)
    check(env.pg.scalar("SELECT count(*) FROM case_followup WHERE src_node = '%s'" % node) == 3,
          'followups')


# ------------------------------------------------------------ the database down

def refused_for_now(env, other, node):
    """While other's database is down: health says so, requests get 503 with
    Retry-After, and the hub keeps running."""
    st, js = health(env.hub, other.port)
    check(st == 503 and js['status'] == 'degraded' and js['db'] == 'down', (st, js))
    body, h = encode_batch(node, 1, {'case_report': (CASE_COLS, [case_row(1, node)])})
    h.update(ident(node, D))
    for path, b in (('/v1/push', body), ('/v1/pull', b'{"v":1,"cursor":""}')):
        st, hd, js = env.hub.request('POST', path, b, h, port=other.port)
        check(st == 503 and js['error'] == 'unavailable' and hd.get('retry-after') == '2',
              (path, st, hd, js))
    st, _, text = env.hub.request('GET', '/metrics', port=other.port)
    check(st == 200 and b'sikhnas_hub_db_up 0' in text, text[:200])
    check(other.proc.poll() is None, 'the hub died; log:\n' + open(other.log).read()[-3000:])


def test_database_down_at_start(env):
    """No database at all: the hub starts, says it is degraded, answers 503
    and logs libpq's own words (the text was read after PQfinish freed it)."""
    other = hubtest.Hub(env.hub.exe, 'host=/nonexistent port=1 dbname=x', env.hub.dir, conns=2)
    other.log = os.path.join(env.hub.dir, 'hub-nodb.log')
    try:
        other.start(wait_db=False)
        time.sleep(1.5)                         # several rounds of retries
        refused_for_now(env, other, uuid7())
        log = open(other.log).read()
        m = re.search(r'database unavailable \((.*)\); retrying', log)
        check(m and '/nonexistent/.s.PGSQL.1' in m.group(1), 'log line: %r' % log[-2000:])
    finally:
        rc = other.stop()
    check(rc == 0, 'exit status %s; log:\n%s' % (rc, open(other.log).read()[-3000:]))


def test_database_appears_goes_and_comes_back(env):
    proxy = pgproxy.PgProxy(env.pg.port)
    proxy.stop()                                # the address exists, nothing answers yet
    other = hubtest.Hub(env.hub.exe, proxy.conninfo(env.pg), env.hub.dir, conns=2)
    other.log = os.path.join(env.hub.dir, 'hub-proxy.log')
    node = uuid7()
    try:
        other.start(wait_db=False)
        time.sleep(1)
        refused_for_now(env, other, node)
        proxy.start()                           # the database appears
        other.wait_db(15)
        st, js = push_cases(env, node, [case_row(1, node)], 1, port=other.port)
        check(st == 200 and js['applied'] == 1, js)
        proxy.stop()                            # ... goes away
        wait_for(lambda: health(env.hub, other.port)[0] == 503, 'health after the loss')
        refused_for_now(env, other, node)
        proxy.start()                           # ... and comes back
        other.wait_db(15)
        st, js = push_cases(env, node, [case_row(2, node)], 2, port=other.port)
        check(st == 200 and js['applied'] == 1 and js['acked_seq'] == 2, js)
        log = open(other.log).read()
        check('database connection re-established' in log, log[-2000:])
        for m in re.finditer(r'database unavailable \((.*)\); retrying', log):
            check(m.group(1).isprintable() and len(m.group(1)) > 5, 'log line: %r' % m.group(0))
    finally:
        rc = other.stop()
        proxy.stop()
    check(rc == 0, 'exit status %s' % rc)


TESTS = [test_row_hlc_far_ahead_is_refused, test_contradictory_counts_are_refused,
         test_database_down_at_start, test_database_appears_goes_and_comes_back]


def main():
    args = sys.argv[1:]
    if args and not args[0].startswith('-'):
        os.environ['SIKHNAS_HUB'] = os.path.abspath(args.pop(0))
    only = args[args.index('-k') + 1] if '-k' in args else None
    failed = 0
    with hubtest.Env() as env:
        for t in TESTS:
            if only and only not in t.__name__:
                continue
            t0 = time.time()
            try:
                t(env)
                print('ok   %-50s %.1fs' % (t.__name__, time.time() - t0), flush=True)
            except Exception:           # noqa: BLE001 - report and go on
                failed += 1
                print('FAIL %s' % t.__name__, flush=True)
                traceback.print_exc()
                print('--- hub log tail:\n' + open(env.hub.log).read()[-3000:], flush=True)
                if env.hub.proc is None or env.hub.proc.poll() is not None:
                    env.hub.proc = None
                    env.hub.start()
    print('%d failed' % failed if failed else 'all passed')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
