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
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import hubtest  # noqa: E402
import pgproxy  # noqa: E402
from hubtest import CASE_COLS, case_row, encode_batch, ident, uuid7  # noqa: E402
from test_hub import Psql  # noqa: E402

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


# ------------------------------------------------------------ ownership

D2, V2 = '3202', '3202011001'          # another district and one of its villages
OFFICER_COLS = ['seq', 'id', 'origin', 'hlc', 'deleted', 'created_at', 'updated_at', 'name',
                'role', 'phone', 'district', 'village']


def officer_row(seq, node, district, rid=None, hlc=None, name='drh. Ani', origin=None):
    return [seq, rid or uuid7(), origin or node, str(hlc or hubtest.now_hlc() + seq), 0,
            '2026-11-28T10:00:00Z', '2026-11-28T10:00:00Z', name, 'vet',
            '+62811%07d' % (seq + hash(rid) % 1000000), district, None]


def audit_rows(node, code):
    return "SELECT reason FROM security_audit WHERE event = 'refuse' AND endpoint = 'push' " \
           "AND node_id = '%s' AND reason LIKE '%s:%%' ORDER BY id" % (node, code)


def test_row_of_another_district_is_not_overwritten(env):
    """The stored row's district decides: a node of 3201 cannot delete (or
    change) a case report, officer or follow-up stored for 3202 by sending
    the same id with a 3201 village and a newer hlc."""
    a, b = uuid7(), uuid7()                     # a in 3202, b in 3201
    case, off, fu = uuid7(), uuid7(), uuid7()
    t0 = hubtest.now_hlc()
    st, _, js = push(env.hub, a, {
        'case_report': (CASE_COLS, [case_row(1, a, village=V2, rid=case, hlc=t0, kind='P',
                                             syndrome='MMD')]),
        'officer': (OFFICER_COLS, [officer_row(2, a, D2, rid=off, hlc=t0)]),
        'case_followup': (FOLLOWUP_COLS, [followup_row(3, a, [herd(1, 0, 5)], rid=fu,
                                                       case_id=case, hlc=t0)])}, 3, D2)
    check(st == 200 and js['applied'] == 3, js)
    before = [central(env, t, r) for t, r in (('case_report', case), ('officer', off),
                                               ('case_followup', fu))]
    conflicts0 = env.pg.scalar("SELECT count(*) FROM conflict_log")
    later = t0 + (10 << 16)
    attack = {'case_report': (CASE_COLS, [case_row(1, b, rid=case, hlc=later, deleted=1,
                                                   origin=a)]),
              'officer': (OFFICER_COLS, [officer_row(2, b, D, rid=off, hlc=later, origin=a,
                                                     name='drh. Mallory')]),
              'case_followup': (FOLLOWUP_COLS, [followup_row(3, b, [herd(0, 0, 0)], rid=fu,
                                                             origin=a, hlc=later)])}
    for attempt in range(2):                    # the re-send is told the same
        st, _, js = push(env.hub, b, attack, 3)
        check(st == 200 and js['applied'] == 0 and js['conflicts'] == 0, js)
        ref = refusals(js)
        check(sorted(ref) == [1, 2, 3] and {c for c, _ in ref.values()} == {'foreign_row'}, ref)
        check(ref[1][1] == 'the stored row belongs to district 3202, not 3201', ref)
    after = [central(env, t, r) for t, r in (('case_report', case), ('officer', off),
                                              ('case_followup', fu))]
    check(after == before, 'a stored row changed:\n%s\n%s' % (before, after))
    check(env.pg.scalar("SELECT count(*) FROM conflict_log") == conflicts0, 'conflict logged')
    audit = env.pg.psql(audit_rows(b, 'foreign_row')).splitlines()
    check(len(audit) == 1 and audit[0].startswith('foreign_row: 3 row(s) of another district')
          and case in audit[0] and off in audit[0] and fu in audit[0], audit)
    check(env.pg.psql("SELECT address, district FROM security_audit WHERE node_id = '%s'" % b)
          == '127.0.0.1|3201', 'audit row')
    # a movement permit: its district is its from_area's
    perm = uuid7()
    pcols = ['seq', 'id', 'origin', 'hlc', 'deleted', 'created_at', 'updated_at', 'permit_no',
             'owner_id', 'from_area', 'to_area', 'animals', 'issue_date']

    def permit(seq, node, area, hlc):
        return [seq, perm, a, str(hlc), 0, '2026-11-28T10:00:00Z', '2026-11-28T10:00:00Z',
                'P-1', '3202010101800001', area, '3201011001', [herd(0, 0, 4, 'SP')],
                '2026-11-28']
    st, _, js = push(env.hub, a, {'movement_permit': (pcols, [permit(4, a, V2, t0)])}, 4, D2)
    check(st == 200 and js['applied'] == 1, js)
    st, _, js = push(env.hub, b, {'movement_permit': (pcols, [permit(4, b, '3201011001',
                                                                     later)])}, 4)
    check(st == 200 and [r['code'] for r in js['refused']] == ['foreign_row'], js)
    check(central(env, 'movement_permit', perm, 'from_area') == V2, 'permit moved')


def test_concurrent_insert_of_another_district_cannot_slip_through(env):
    """The check before the upsert cannot see a row another transaction is
    inserting: the upsert waits for it, its guard keeps the row, and the
    check after the upsert refuses the push's version."""
    b = uuid7()
    rid = uuid7()
    s = Psql(env.pg)
    try:
        s.run("BEGIN; INSERT INTO case_report (id, origin, hlc, created_at, updated_at, ref, "
              "kind, village, animals, event_date) VALUES ('%s', 'central', 0, now(), now(), "
              "'3202-C1', 'U', '%s', '[{\"species\": \"SP\", \"sick\": 1}]', '2026-11-27');"
              % (rid, V2))
        res = {}
        t = threading.Thread(target=lambda: res.update(r=push_cases(
            env, b, [case_row(1, b, rid=rid, hlc=hubtest.now_hlc() + (1 << 30))], 1)))
        t.start()
        wait_for(lambda: env.pg.scalar("SELECT count(*) FROM pg_stat_activity WHERE "
                                       "application_name = 'sikhnas-hub' AND "
                                       "wait_event_type = 'Lock'") > 0, 'the push to wait')
        s.run("COMMIT;")
        t.join(30)
    finally:
        s.close()
    st, js = res['r']
    check(st == 200 and [(r['seq'], r['code']) for r in js['refused']] == [(1, 'foreign_row')],
          js)
    check(central(env, 'case_report', rid, 'village, src_node') == V2 + '|central', 'row')


def test_origin_is_the_node_or_the_stored_rows(env):
    """A new row is born on the node that sends it; an existing row keeps
    its origin: a node may update a row born centrally or on another board
    of its district, but never relabel it."""
    n, m = uuid7(), uuid7()                     # two boards of 3201
    other = uuid7()
    mine, born_m, born_c = uuid7(), uuid7(), uuid7()
    st, js = push_cases(env, m, [case_row(1, m, rid=born_m)], 1)
    check(st == 200 and js['applied'] == 1, js)
    env.pg.psql("INSERT INTO case_report (id, origin, hlc, created_at, updated_at, ref, kind, "
                "village, animals, event_date) VALUES ('%s', 'central', 0, now(), now(), "
                "'3201-C9', 'U', '3201011001', '[{\"species\": \"SP\", \"sick\": 1}]', "
                "'2026-11-27')" % born_c)
    later = int(env.pg.psql("SELECT hlc FROM case_report WHERE id = '%s'" % born_c)) + 1
    rows = [case_row(1, n, rid=mine, origin=other),                     # new, not n's
            case_row(2, n, rid=born_c, origin=n, hlc=later),             # relabels central
            case_row(3, n, rid=born_m, origin=n, hlc=later),             # relabels m's
            case_row(4, n, origin=n)]                                   # its own
    st, js = push_cases(env, n, rows, 4)
    check(st == 200 and js['applied'] == 1, js)
    ref = refusals(js)
    check(sorted(ref) == [1, 2, 3] and {c for c, _ in ref.values()} == {'bad_origin'}, ref)
    check(ref[1][1] == 'origin %s of a new row is not this node (%s)' % (other, n), ref[1])
    check(ref[2][1] == 'origin %s is not the stored row\'s origin central' % n, ref[2])
    rows = [case_row(5, n, rid=born_c, origin='central', hlc=later + 1, note='fixed by n'),
            case_row(6, n, rid=born_m, origin=m, hlc=later + 1, note='n too')]
    st, js = push_cases(env, n, rows, 6)
    check(st == 200 and js['applied'] == 2 and js['refused'] == [], js)
    check(central(env, 'case_report', born_c, 'origin, src_node, note') ==
          'central|%s|fixed by n' % n, 'central-born row')
    check(central(env, 'case_report', born_m, 'origin, src_node, note') == '%s|%s|n too' % (m, n),
          'row born on m')
    check(central(env, 'case_report', mine) == '', 'a row with a foreign origin was written')
    audit = env.pg.psql(audit_rows(n, 'bad_origin')).splitlines()
    check(len(audit) == 1 and audit[0].startswith('bad_origin: 3 row(s) with another origin'),
          audit)


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
    check(central(env, 'case_report', far) == '', 'the row far ahead was written')
    check(central(env, 'case_report', near, 'id') == near, 'the row a minute ahead is missing')


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
            case_row(8, node, animals=[herd(1.5, 0, 5)]),
            case_row(9, node, animals=[herd(5, None, 4)]),              # null is 0
            case_row(10, node, animals=[{'species': 'SP', 'sick': 2}]),  # absent is 0
            case_row(11, node, animals=[herd(2, 0, None, culled=None)])]
    st, js = push_cases(env, node, rows, 11)
    check(st == 200 and js['applied'] == 4, js)
    ref = refusals(js)
    check(sorted(ref) == [1, 2, 5, 6, 7, 8, 9] and {c for c, _ in ref.values()} == {'bad_value'},
          ref)
    check(ref[9][1] == 'animals: SP sick 5 + dead 0 exceeds at_risk 4', ref[9])
    check(ref[1][1] == 'animals: SP sick 5 + dead 1 exceeds at_risk 4', ref[1])
    check(ref[2][1] == 'animals: SP has no sick or dead animal (sick 0, dead 0)', ref[2])
    check(ref[5][1] == 'animals: KB sick 2 + dead 2 exceeds at_risk 3', ref[5])
    check('not an integer >= 0' in ref[6][1] and 'not an integer' in ref[7][1] and
          'not an integer' in ref[8][1], ref)
    fu = [followup_row(12, node, [herd(1, 1, 2, culled=1)]),
          followup_row(13, node, [herd(1, 1, 3, culled=1)]),
          followup_row(14, node, [herd(0, 0, 0, culled=4)]),
          followup_row(15, node, []),
          followup_row(16, node, [{'species': 'SP', 'sick': 1, 'culled': 3, 'at_risk': 3}]),
          followup_row(17, node, [{'species': 'SP', 'dead': 1}])]
    st, _, js = push(env.hub, node, {'case_followup': (FOLLOWUP_COLS, fu)}, 17)
    check(st == 200 and js['applied'] == 4, js)
    ref = refusals(js)
    check(sorted(ref) == [12, 16] and ref[12] == ('bad_value', 'animals: SP sick 1 + dead 1 + '
                                                  'culled 1 exceeds at_risk 2'), ref)
    check(ref[16][1] == 'animals: SP sick 1 + dead 0 + culled 3 exceeds at_risk 3', ref)
    check(env.pg.scalar("SELECT count(*) FROM case_followup WHERE src_node = '%s'" % node) == 4,
          'followups')


# ------------------------------------------------------------ the ledger, the metrics, the probe

def metric(hub, port, name):
    st, _, text = hub.request('GET', '/metrics', port=port)
    for line in text.decode().splitlines():
        if line.startswith(name + ' '):
            return int(float(line.split()[-1]))
    raise AssertionError('no metric ' + name)


APPLIED = 'sikhnas_hub_rows_total{outcome="applied"}'
DUPLICATE = 'sikhnas_hub_rows_total{outcome="duplicate"}'


def test_lost_commit_answer_is_counted_once(env):
    """The connection to PostgreSQL dies at COMMIT (pgproxy): when the
    transaction committed, the hub finds its ledger row later and counts
    its rows as applied, once, and the node's re-send as duplicates; when
    it did not, nothing is counted until the re-send applies them."""
    proxy = pgproxy.PgProxy(env.pg.port)
    other = hubtest.Hub(env.hub.exe, proxy.conninfo(env.pg), env.hub.dir, conns=2)
    other.log = os.path.join(env.hub.dir, 'hub-ledger.log')
    node = uuid7()
    try:
        other.start()
        port = other.port
        rows = [case_row(i, node) for i in range(1, 51)]
        proxy.arm(b'UPDATE node SET acked_seq', 'commit')
        st, js = push_cases(env, node, rows, 50, port=port)
        check(st == 503 and js['error'] == 'unavailable' and proxy.fired.is_set(), (st, js))
        wait_for(lambda: metric(env.hub, port, APPLIED) == 50, 'the committed rows counted')
        check(env.pg.scalar("SELECT count(*) FROM case_report WHERE src_node = '%s'" % node)
              == 50, 'rows')
        check(env.pg.psql("SELECT applied, refused, duplicate, last_seq FROM push_batch WHERE "
                          "node_id = '%s'" % node) == '50|0|0|50', 'ledger')
        st, js = push_cases(env, node, rows, 50, port=port)       # the node re-sends
        check(st == 200 and js['applied'] == 0 and js['duplicate'] == 50, js)
        check(metric(env.hub, port, APPLIED) == 50 and metric(env.hub, port, DUPLICATE) == 50,
              'counted twice')
        # the transaction never reaches PostgreSQL: rolled back, nothing counted
        more = [case_row(i, node) for i in range(51, 81)]
        proxy.arm(b'UPDATE node SET acked_seq', 'drop')
        st, js = push_cases(env, node, more, 80, port=port)
        check(st == 503 and proxy.fired.is_set(), (st, js))
        wait_for(lambda: 'did not commit' in open(other.log).read(), 'the ledger check')
        check(metric(env.hub, port, APPLIED) == 50, 'a rolled-back batch counted')
        st, js = push_cases(env, node, more, 80, port=port)
        check(st == 200 and js['applied'] == 30 and js['duplicate'] == 0, js)
        check(metric(env.hub, port, APPLIED) == 80 and metric(env.hub, port, DUPLICATE) == 50,
              'after the re-send')
        check(env.pg.scalar("SELECT count(*) FROM push_batch WHERE node_id = '%s'" % node) == 2,
              'ledger rows')
    finally:
        rc = other.stop()
        proxy.stop()
    check(rc == 0, 'exit status %s' % rc)


def test_probe_below_the_mark_answers_the_mark(env):
    """A node that crashed between the hub's commit and its own clean-up
    asks with an empty batch (or re-sends old rows) whose last_seq is below
    the hub's acked_seq: the answer carries acked_seq and every refusal up
    to it, and nothing changes."""
    node = uuid7()
    rows = [case_row(i, node, village='3301012001' if i in (3, 7) else '3201011001')
            for i in range(1, 11)]
    st, js = push_cases(env, node, rows, 10)
    check(st == 200 and js['applied'] == 8 and sorted(refusals(js)) == [3, 7], js)
    check(env.pg.psql("SELECT min_seq, last_seq, applied, refused, conflicts, duplicate "
                      "FROM push_batch WHERE node_id = '%s'" % node) == '1|10|8|2|0|0', 'ledger')

    def state():
        return env.pg.psql("SELECT (SELECT count(*) FROM case_report), (SELECT acked_seq FROM "
                           "node WHERE node_id = '%s'), (SELECT count(*) FROM push_refusal), "
                           "(SELECT count(*) FROM conflict_log), (SELECT count(*) FROM "
                           "push_batch)" % node)
    before = state()
    for last, want in ((5, [7]), (0, [3, 7]), (10, []), (7, [7])):
        st, _, js = push(env.hub, node, {}, last)
        check(st == 200 and js['acked_seq'] == 10 and js['applied'] == 0 and
              js['duplicate'] == 0 and sorted(refusals(js)) == want, (last, js))
    st, js = push_cases(env, node, rows[3:6], 6)        # old rows 4..6 again
    check(st == 200 and js['acked_seq'] == 10 and js['duplicate'] == 3 and
          sorted(refusals(js)) == [7], js)
    check(state() == before, 'something changed: %s -> %s' % (before, state()))


def test_ledger_is_pruned(env):
    env.pg.psql("INSERT INTO push_batch (node_id, batch_hlc, node_hlc, min_seq, last_seq, "
                "applied, refused, conflicts, duplicate, at) VALUES "
                "('old-node', 1, 1, 1, 1, 1, 0, 0, 0, now() - interval '31 days'), "
                "('old-node', 2, 1, 2, 2, 1, 0, 0, 0, now() - interval '29 days')")
    other = hubtest.Hub(env.hub.exe, env.pg.conninfo, env.hub.dir, conns=1)
    other.log = os.path.join(env.hub.dir, 'hub-prune.log')
    try:
        other.start()
        wait_for(lambda: env.pg.psql("SELECT string_agg(batch_hlc::text, ',') FROM push_batch "
                                     "WHERE node_id = 'old-node'") == '2', 'pruning')
    finally:
        other.stop()


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


TESTS = [test_row_of_another_district_is_not_overwritten,
         test_concurrent_insert_of_another_district_cannot_slip_through,
         test_origin_is_the_node_or_the_stored_rows,
         test_row_hlc_far_ahead_is_refused, test_contradictory_counts_are_refused,
         test_lost_commit_answer_is_counted_once, test_probe_below_the_mark_answers_the_mark,
         test_ledger_is_pruned,
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
