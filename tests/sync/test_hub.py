#!/usr/bin/env python3
"""test_hub.py - integration tests of sikhnas-hub against a real PostgreSQL 15
+ PostGIS (tests/lib/pgtemp.py) over real TLS (a test CA made now).

usage: test_hub.py [SIKHNAS_HUB_EXE] [-k NAME]   (exit status 0 = all passed)

Each test uses its own node ids, so they share one database and one hub;
the crash tests restart the hub (kill -9) and PostgreSQL themselves."""
import gzip
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import faultproxy  # noqa: E402
import hubtest  # noqa: E402
from hubtest import CASE_COLS, case_row, encode_batch, ident, uuid7  # noqa: E402

D = '3201'


def push(env, node, rows, last_seq, enc='gzip', district=D, port=None, conn=None,
         table='case_report', cols=CASE_COLS, hlc=None):
    body, h = encode_batch(node, last_seq, {table: (cols, rows)}, enc=enc, hlc=hlc)
    h.update(ident(node, district))
    st, _, js = env.hub.request('POST', '/v1/push', body, h, port=port, conn=conn)
    return st, js


def count(env, node):
    return env.pg.scalar("SELECT count(*) FROM case_report WHERE src_node = '%s'" % node)


def acked(env, node):
    v = env.pg.psql("SELECT acked_seq FROM node WHERE node_id = '%s'" % node)
    return int(v) if v else None


def check(cond, what):
    if not cond:
        raise AssertionError(what)


# ------------------------------------------------------------------ tests

def test_duplicate_batch_applies_once(env):
    node = uuid7()
    rows = [case_row(i, node) for i in range(1, 101)]
    st, js = push(env, node, rows, 100)
    check(st == 200 and js['applied'] == 100 and js['acked_seq'] == 100, js)
    st, js = push(env, node, rows, 100)          # the ack was "lost": re-send
    check(st == 200 and js['applied'] == 0 and js['duplicate'] == 100, js)
    more = rows[50:] + [case_row(i, node) for i in range(101, 151)]
    st, js = push(env, node, more, 150, enc='identity')   # overlaps the first batch
    check(st == 200 and js['applied'] == 50 and js['duplicate'] == 50, js)
    check(count(env, node) == 150 and acked(env, node) == 150, 'rows or acked_seq')
    # a row coalesced in the batch (two outbox entries, one row) is applied once
    rid = uuid7()
    st, js = push(env, node, [case_row(151, node, rid=rid, note='old'),
                              case_row(152, node, rid=rid, note='new')], 152)
    check(st == 200 and count(env, node) == 151, js)
    check(env.pg.psql("SELECT note FROM case_report WHERE id = '%s'" % rid) == 'new', 'coalesce')
    # zstd (via the zstd CLI) too
    st, js = push(env, node, [case_row(153, node)], 153, enc='zstd')
    check(st == 200 and js['applied'] == 1, js)


def test_refused_row_does_not_stop_others(env):
    node = uuid7()
    rows = [case_row(1, node), case_row(2, node, village='3301012001'),
            case_row(3, node, signs=['XXX']), case_row(4, node, event_date='2026-02-30'),
            case_row(5, node, kind='P'), case_row(6, node, village='3201019999'),
            case_row(7, node, animals=[{'species': 'ZZ', 'sick': 1}]),
            case_row(8, node, note='x' * 5000), case_row(9, node, hlc='12a'),
            case_row(10, node), case_row(11, node, signs=['DMM', 5]),
            case_row(12, node, ddx=[['DMM']]), case_row(13, node, signs=['DMM', {'c': 'DMM'}])]
    st, js = push(env, node, rows, 13)
    check(st == 200 and js['acked_seq'] == 13 and js['applied'] == 2, js)
    codes = {r['seq']: r['code'] for r in js['refused']}
    check(codes == {2: 'out_of_district', 3: 'unknown_code', 4: 'bad_value', 5: 'bad_value',
                    6: 'unknown_area', 7: 'unknown_code', 8: 'bad_value', 9: 'bad_value',
                    11: 'unknown_code', 12: 'unknown_code', 13: 'unknown_code'}, codes)
    st, js2 = push(env, node, rows, 13)         # a re-send gets the same refusals
    check(st == 200 and js2['refused'] == js['refused'] and js2['duplicate'] == 13, js2)
    st, js = push(env, node, [case_row(14, node)], 14)   # the queue moves on
    check(st == 200 and js['applied'] == 1 and js['refused'] == [], js)
    check(count(env, node) == 3, 'count')


def test_base_seq_orders_two_batches_in_flight(env):
    node = uuid7()

    def batch(first, n, base):
        body, h = encode_batch(node, first + n - 1, {'case_report': (CASE_COLS, big_batch(
            node, first, n))}, base_seq=base)
        h.update(ident(node, D))
        return body, h
    a, b, c = batch(1, 10, 0), batch(11, 10, 10), batch(21, 10, 20)
    st, _, js = env.hub.request('POST', '/v1/push', *a)
    check(st == 200 and js['acked_seq'] == 10, js)
    st, _, js = env.hub.request('POST', '/v1/push', *c)      # b has not arrived
    check(st == 409 and js['error'] == 'out_of_order' and js['acked_seq'] == 10, js)
    check(count(env, node) == 10, 'c was applied')
    for x in (b, c):
        st, _, js = env.hub.request('POST', '/v1/push', *x)
        check(st == 200, js)
    check(count(env, node) == 30 and acked(env, node) == 30, 'count')
    # two large batches at once, on two connections: all rows land once
    seq = 30
    for _ in range(3):
        x, y = batch(seq + 1, 3000, seq), batch(seq + 3001, 3000, seq + 3000)
        res = {}

        def send(name, bh):
            res[name] = env.hub.request('POST', '/v1/push', *bh)
        ts = [threading.Thread(target=send, args=(n, bh)) for n, bh in (('x', x), ('y', y))]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        check(res['x'][0] == 200, res['x'])
        if res['y'][0] == 409:        # y took the lock first: re-send it
            res['y'] = env.hub.request('POST', '/v1/push', *y)
        check(res['y'][0] == 200 and res['y'][2]['acked_seq'] == seq + 6000, res['y'])
        seq += 6000
        check(count(env, node) == seq, 'count %d' % count(env, node))



def test_second_batch_waits_for_a_slower_first(env):
    """A small batch sent ahead (base_seq) behind a large one that is still
    decoding when the small one is: the hub applies the large one first and
    answers both 200 instead of refusing the small one as out of order."""
    node = uuid7()
    big, hb = encode_batch(node, 8000, {'case_report': (CASE_COLS, big_batch(node, 1, 8000))})
    hb.update(ident(node, D))
    small, hs = encode_batch(node, 8010, {'case_report': (CASE_COLS, big_batch(node, 8001, 10))},
                             base_seq=8000)
    hs.update(ident(node, D))
    c1 = env.hub.connection(node=node, district=D)
    c2 = env.hub.connection(node=node, district=D)
    try:
        c1.request('POST', '/v1/push', body=big, headers=hb)
        time.sleep(0.05)                # the large one arrives first
        c2.request('POST', '/v1/push', body=small, headers=hs)
        r2, r1 = c2.getresponse(), c1.getresponse()
        js2, js1 = json.loads(r2.read()), json.loads(r1.read())
    finally:
        c1.close()
        c2.close()
    check(r1.status == 200 and js1['acked_seq'] == 8000, js1)
    check(r2.status == 200 and js2['acked_seq'] == 8010 and js2['applied'] == 10, js2)
    check(count(env, node) == 8010 and acked(env, node) == 8010, 'count')

def test_tls_policy(env):
    import socket
    import ssl
    import warnings
    warnings.simplefilter('ignore', DeprecationWarning)    # TLS 1.1 on purpose

    def handshake(configure):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(env.hub.ca)
        configure(ctx)
        with socket.create_connection(('127.0.0.1', env.hub.port), timeout=10) as raw:
            try:
                with ctx.wrap_socket(raw, server_hostname='127.0.0.1') as tls:
                    return tls.version(), tls.cipher()[0]
            except (ssl.SSLError, OSError) as e:
                return None, str(e)

    def tls11(ctx):
        ctx.set_ciphers('DEFAULT:@SECLEVEL=0')
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1

    def cbc(ctx):
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers('ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA:AES128-GCM-SHA256')

    def good(ctx):
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    v, c = handshake(tls11)
    check(v is None, 'TLS 1.1 accepted: %s %s' % (v, c))
    v, c = handshake(cbc)
    check(v is None, 'a CBC or non-ECDHE suite accepted: %s %s' % (v, c))
    v, c = handshake(good)
    check(v == 'TLSv1.2' and ('GCM' in c or 'CHACHA20' in c) and c.startswith('ECDHE'),
          'default handshake: %s %s' % (v, c))


def totals(env):
    return env.pg.psql("SELECT (SELECT count(*) FROM case_report), "
                       "(SELECT coalesce(sum(acked_seq), 0) FROM node), "
                       "(SELECT count(*) FROM push_refusal), (SELECT count(*) FROM node)")


def test_bad_input_gets_4xx_and_changes_nothing(env):
    node = uuid7()
    st, js = push(env, node, [case_row(1, node)], 1)
    check(st == 200, js)
    before = totals(env)
    h = ident(node, D)
    good, gh = encode_batch(node, 2, {'case_report': (CASE_COLS, [case_row(2, node)])})

    def post(body, extra, path='/v1/push', method='POST'):
        hh = dict(h)
        hh.update(extra)
        return env.hub.request(method, path, body, hh)

    def digest(b):
        return {'X-Sikhnas-Digest': 'sha256=' + hashlib.sha256(b).hexdigest()}

    cases = []
    big = os.urandom(5 << 20)
    cases.append(('oversize', post(big, digest(big)), 413))
    bomb = gzip.compress(b'[' * (40 << 20))
    cases.append(('inflates too far', post(bomb, dict(digest(bomb), **{'Content-Encoding': 'gzip'})),
                  413))
    values = gzip.compress(b'{"v":1,"node":"%s","last_seq":1,"tables":[' % node.encode() +
                           b'0,' * 1500000 + b'0]}')
    cases.append(('too many values', post(values, dict(digest(values),
                                                       **{'Content-Encoding': 'gzip'})), 413))
    junk = b'{"v":1,"node":'
    cases.append(('malformed json', post(junk, digest(junk)), 400))
    cases.append(('bad digest', post(good, dict(gh, **{'X-Sikhnas-Digest': 'sha256=' + '0' * 64})),
                  400))
    nod = dict(gh)
    del nod['X-Sikhnas-Digest']
    cases.append(('no digest', post(good, dict(nod, **{'X-Sikhnas-Digest': ''})), 400))
    notgz = b'this is not gzip'
    cases.append(('bad gzip', post(notgz, dict(digest(notgz), **{'Content-Encoding': 'gzip'})),
                  400))
    cases.append(('encoding br', post(good, dict(gh, **{'Content-Encoding': 'br'})), 415))
    short = dict(gh)
    cases.append(('no identity', env.hub.request('POST', '/v1/push', good, short), 401))
    cases.append(('wrong district', post(good, dict(gh, **{'X-Sikhnas-District': '3301'})), 403))
    badrow, bh = encode_batch(node, 2, {'case_report': (CASE_COLS, [[2, 'x']])})
    cases.append(('short row', post(badrow, bh), 400))
    badtbl, bh = encode_batch(node, 2, {'nope': (CASE_COLS, [])})
    cases.append(('unknown table', post(badtbl, bh), 400))
    badseq, bh = encode_batch(node, 1, {'case_report': (CASE_COLS, [case_row(5, node)])})
    cases.append(('seq above last_seq', post(badseq, bh), 400))
    v2 = json.dumps({'v': 2, 'node': node, 'last_seq': 2, 'tables': []}).encode()
    cases.append(('version 2', post(v2, digest(v2)), 400))
    cases.append(('GET push', post(None, {}, method='GET'), 405))
    cases.append(('no such path', post(None, {}, path='/v2/push', method='GET'), 404))
    cases.append(('bad cursor', env.hub.request('GET', '/v1/pull?cursor=abc', None, h), 400))
    cases.append(('headers too large', post(good, dict(gh, **{'X-Pad': 'a' * 9000})), 431))
    # chunked body: Content-Length is required
    c = env.hub.connection()
    c.putrequest('POST', '/v1/push')
    for k, v in dict(h, **gh, **{'Transfer-Encoding': 'chunked'}).items():
        c.putheader(k, v)
    c.endheaders()
    c.send(b'%x\r\n%s\r\n0\r\n\r\n' % (len(good), good))
    r = c.getresponse()
    cases.append(('chunked', (r.status, {}, r.read()), 411))
    c.close()
    for name, (st, _, body), want in cases:
        check(st == want, '%s: got %s %r, want %d' % (name, st, body, want))
        if isinstance(body, dict):
            check('error' in body and 'hub_hlc' in body, '%s: error body %r' % (name, body))
    check(totals(env) == before, 'something changed: %s -> %s' % (before, totals(env)))
    # the hub still serves
    st, _, js = env.hub.request('POST', '/v1/push', good, dict(h, **gh))
    check(st == 200 and js['applied'] == 1, js)


def test_conflict_resolves_by_hlc_and_is_logged(env):
    a, b = uuid7(), uuid7()
    rid = uuid7()
    h0 = hubtest.now_hlc()
    st, js = push(env, a, [case_row(1, a, rid=rid, hlc=h0, note='from a')], 1)
    check(st == 200 and js['applied'] == 1, js)
    env.pg.psql("UPDATE case_report SET note = 'central fix' WHERE id = '%s'" % rid)
    central_hlc = int(env.pg.psql("SELECT hlc FROM case_report WHERE id = '%s'" % rid))
    check(central_hlc > h0, 'central write did not advance the hlc')
    # node a edits with an older clock: the central correction wins, a's version is logged
    st, js = push(env, a, [case_row(2, a, rid=rid, hlc=h0 + 1, note='a again')], 2)
    check(st == 200 and js['conflicts'] == 1, js)
    row = env.pg.psql("SELECT note, src_node FROM case_report WHERE id = '%s'" % rid)
    check(row == 'central fix|central', row)
    log = env.pg.psql("SELECT winner_node, loser_node, loser->>'note', winner->>'note' "
                      "FROM conflict_log WHERE row_id = '%s' ORDER BY id" % rid)
    check(log == 'central|%s|a again|central fix' % a, log)
    # node b (same district) writes later by HLC: b wins, the central version is
    # logged (the row keeps its origin: it was born on a)
    st, js = push(env, b, [case_row(1, b, rid=rid, hlc=central_hlc + 1, note='from b',
                                    origin=a)], 1)
    check(st == 200 and js['conflicts'] == 1, js)
    row = env.pg.psql("SELECT note, src_node FROM case_report WHERE id = '%s'" % rid)
    check(row == 'from b|%s' % b, row)
    log = env.pg.psql("SELECT winner_node, loser_node, loser->>'note' FROM conflict_log "
                      "WHERE row_id = '%s' ORDER BY id" % rid).splitlines()
    check(len(log) == 2 and log[1] == '%s|central|central fix' % b, log)
    # equal HLC: the node id breaks the tie, deterministically
    lo, hi = sorted([a, b])
    rid2 = uuid7()
    t = hubtest.now_hlc()
    st, js = push(env, hi, [case_row(10, hi, rid=rid2, hlc=t, note='hi')], 10)
    check(st == 200 and js['applied'] == 1, js)
    st, js = push(env, lo, [case_row(11, lo, rid=rid2, hlc=t, note='lo', origin=hi)], 11)
    check(st == 200 and js['conflicts'] == 1, js)
    check(env.pg.psql("SELECT note FROM case_report WHERE id = '%s'" % rid2) == 'hi', 'tie')


def pull_all(env, node, cursor='', district=D, limit=10000, max_pages=100):
    """Pulls until more is false; returns (cursor, {table: [rows]})."""
    got = {}
    for _ in range(max_pages):
        st, _, js = env.hub.request('POST', '/v1/pull',
                                    json.dumps({'v': 1, 'cursor': cursor, 'limit': limit}),
                                    dict(ident(node, district), **{'Accept-Encoding': 'gzip'}))
        check(st == 200, js)
        for t in js['tables']:
            got.setdefault(t['table'], []).extend(t['rows'])
        cursor = js['cursor']
        if not js['more']:
            return cursor, got
    raise AssertionError('pull did not end')


class Psql:
    """An interactive psql session, to hold a transaction open."""

    def __init__(self, pg):
        self.p = subprocess.Popen(['psql', '-X', '-q', '-h', '127.0.0.1', '-p', str(pg.port),
                                   '-U', pg.user, '-d', pg.dbname, '-v', 'ON_ERROR_STOP=1'],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)

    def run(self, sql):
        """Sends sql and waits until psql has executed it (a marker echoes back)."""
        marker = 'done-%d' % random.randrange(1 << 30)
        self.p.stdin.write(sql + "\n\\echo " + marker + "\n")
        self.p.stdin.flush()
        while True:
            line = self.p.stdout.readline()
            if not line:
                raise AssertionError('psql died: ' + self.p.stderr.read())
            if line.strip() == marker:
                return

    def close(self):
        self.p.stdin.close()
        self.p.wait(10)


def test_pull_never_skips_out_of_order_commits(env):
    node = uuid7()
    cursor, got = pull_all(env, node)
    # the district-scoped downlink: every province and kabupaten, and the
    # kecamatan and villages of the node's district only
    n_areas = 0
    for f in ('provinces', 'regencies', 'districts', 'villages'):
        with open(os.path.join(hubtest.AREAS_DIR, f + '.csv')) as fp:
            codes = [line.split(',')[0].replace('.', '') for line in list(fp)[1:]]
            n_areas += sum(1 for c in codes if len(c) <= 4 or c.startswith(D))
    check(len(got.get('area', [])) == n_areas, 'initial pull lacks areas')
    check(len(got.get('code_list', [])) > 50, 'initial pull lacks code lists')
    s1, s2 = Psql(env.pg), Psql(env.pg)
    try:
        # s1 starts first and takes the smaller feed position, s2 commits first
        s1.run("BEGIN; INSERT INTO code_list (list, code, label_id, label_en) "
               "VALUES ('species', 'T1', 'satu', 'one');")
        s2.run("BEGIN; INSERT INTO code_list (list, code, label_id, label_en) "
               "VALUES ('species', 'T2', 'dua', 'two'); COMMIT;")
        pos = env.pg.psql("SELECT string_agg(key || '=' || pos, ',' ORDER BY pos) FROM change_log "
                          "WHERE key IN ('species/T1', 'species/T2')")
        check(pos.startswith('species/T2='), 'only T2 is visible yet: %s' % pos)
        cursor, got = pull_all(env, node, cursor)
        seen = {r[1] for r in got.get('code_list', [])}
        # T2 is committed but behind T1's open transaction: it waits, it is not skipped
        check('T1' not in seen, seen)
        s1.run("COMMIT;")
    finally:
        s1.close()
        s2.close()
    cursor2, got2 = pull_all(env, node, cursor)
    seen |= {r[1] for r in got2.get('code_list', [])}
    check({'T1', 'T2'} <= seen, 'a change was skipped: %s' % seen)
    # an officer of the district comes down, one of another district does not
    env.pg.psql("INSERT INTO officer (id, origin, hlc, created_at, updated_at, name, role, phone, "
                "district) VALUES ('%s', 'central', 0, now(), now(), 'Dr Ani', 'vet', "
                "'+628111', '3201'), ('%s', 'central', 0, now(), now(), 'Dr Budi', 'vet', "
                "'+628112', '3301')" % (uuid7(), uuid7()))
    cursor3, got3 = pull_all(env, node, cursor2)
    names = [r[6] for r in got3.get('officer', [])]
    check(names == ['Dr Ani'], names)
    # the cursor is stable when nothing changes
    cursor4, got4 = pull_all(env, node, cursor3)
    check(got4 == {}, got4)


def test_central_correction_flows_down(env):
    node = uuid7()
    rid = uuid7()
    st, js = push(env, node, [case_row(1, node, rid=rid)], 1)
    cursor, _ = pull_all(env, node)
    env.pg.psql("UPDATE case_report SET note = 'lab confirmed' WHERE id = '%s'" % rid)
    cursor, got = pull_all(env, node, cursor)
    rows = got.get('case_report', [])
    check(len(rows) == 1 and rows[0][0] == rid and rows[0][15] == 'lab confirmed', rows)
    check(isinstance(rows[0][2], str) and int(rows[0][2]) > 0, 'hlc is a string')
    # GET with a zstd answer, from the start, one small page
    st, hd, js = env.hub.request('GET', '/v1/pull?limit=5', None,
                                 dict(ident(node, D), **{'Accept-Encoding': 'zstd'}))
    check(st == 200 and hd.get('content-encoding') == 'zstd' and js['more'] is True and
          sum(len(t['rows']) for t in js['tables']) == 5, (st, hd, js))
    check(int(hd['x-sikhnas-hub-hlc']) > 0 and 'hub_time_ms' in js, hd)
    other = uuid7()
    _, got = pull_all(env, other, district='3301')
    check('case_report' not in got, 'another district got the correction')


def big_batch(node, first, n):
    return [case_row(first + i, node) for i in range(n)]


def test_hub_kill9_mid_batch(env):
    node = uuid7()
    seq = 0
    for delay in (0.02, 0.08, 0.15, 0.3, 0.5):
        rows = big_batch(node, seq + 1, 5000)
        body, h = encode_batch(node, seq + 5000, {'case_report': (CASE_COLS, rows)})
        h.update(ident(node, D))
        res = {}

        def send():
            try:
                res['r'] = env.hub.request('POST', '/v1/push', body, h)
            except Exception as e:      # noqa: BLE001 - the cut is the point
                res['e'] = e
        t = threading.Thread(target=send)
        t.start()
        time.sleep(delay)
        env.hub.proc.kill()
        env.hub.proc.wait()
        t.join(30)
        env.hub.start()
        st, _, js = env.hub.request('POST', '/v1/push', body, h)
        check(st == 200 and js['acked_seq'] == seq + 5000, js)
        check(js['applied'] + js['duplicate'] == 5000, js)
        seq += 5000
        check(count(env, node) == seq, 'after kill at %.2fs: %d rows, want %d' % (
            delay, count(env, node), seq))


def test_multi_host_skips_a_hanging_host(env):
    """A first host that accepts TCP and then says nothing (a hung or
    black-holed server): libpq alone would wait forever on it."""
    import socket
    silent = socket.socket()
    silent.bind(('127.0.0.1', 0))
    silent.listen(64)
    held = []
    stop = threading.Event()

    def hold():
        silent.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(silent.accept()[0])
            except OSError:
                pass
    threading.Thread(target=hold, daemon=True).start()
    conninfo = ('host=127.0.0.1,127.0.0.1 port=%d,%d dbname=%s user=%s connect_timeout=2 '
                'target_session_attrs=read-write' % (silent.getsockname()[1], env.pg.port,
                                                     env.pg.dbname, env.pg.user))
    other = hubtest.Hub(env.hub.exe, conninfo, env.hub.dir, conns=2)
    try:
        t0 = time.time()
        other.start()                       # waits until /v1/health says the db is up
        node = uuid7()
        st, js = push(env, node, [case_row(1, node)], 1, port=other.port)
        check(st == 200 and js['applied'] == 1, js)
        check(time.time() - t0 < 20, 'took %.1f s' % (time.time() - t0))
    finally:
        other.stop()
        stop.set()
        silent.close()
        for c in held:
            c.close()


def test_postgres_restart(env):
    node = uuid7()
    st, js = push(env, node, [case_row(1, node)], 1)
    check(st == 200, js)
    env.pg.stop()
    st, js = push(env, node, [case_row(2, node)], 2)
    check(st == 503 and js['error'] == 'unavailable', js)
    env.pg.start()
    env.hub.wait_db(90)
    st, js = push(env, node, [case_row(2, node)], 2)
    check(st == 200 and js['applied'] == 1, js)
    # a crash of PostgreSQL in the middle of a batch
    seq = 2
    for delay in (0.05, 0.2):
        rows = big_batch(node, seq + 1, 5000)
        body, h = encode_batch(node, seq + 5000, {'case_report': (CASE_COLS, rows)})
        h.update(ident(node, D))
        res = {}
        t = threading.Thread(target=lambda: res.update(r=env.hub.request('POST', '/v1/push',
                                                                          body, h)))
        t.start()
        time.sleep(delay)
        env.pg.kill9()
        t.join(30)
        env.pg.start()
        env.hub.wait_db(90)
        st, _, js = env.hub.request('POST', '/v1/push', body, h)
        check(st == 200 and js['acked_seq'] == seq + 5000, js)
        seq += 5000
        check(count(env, node) == seq, 'after a PostgreSQL crash: %d rows' % count(env, node))


def test_cut_connections_lose_and_duplicate_nothing(env):
    node = uuid7()
    seq = 0

    def batch(n=1500):
        rows = big_batch(node, seq + 1, n)
        body, h = encode_batch(node, seq + n, {'case_report': (CASE_COLS, rows)})
        h.update(ident(node, D))
        return body, h

    # measure uncut exchanges through the proxy; the smallest answer counts
    # (a measurement that caught extra bytes would put the "mid-answer" cuts
    # past the end of a later answer)
    up = down = None
    for _ in range(2):
        body, h = batch()
        proxy = faultproxy.FaultProxy(env.hub.port)
        st, _, js = env.hub.request('POST', '/v1/push', body, h, port=proxy.port)
        proxy.close()
        check(st == 200, js)
        seq += 1500
        time.sleep(0.2)
        if down is None or proxy.down_bytes < down:
            up, down, blen = proxy.up_bytes, proxy.down_bytes, len(body)
    base = up - blen                # handshake, headers, record overhead, close alert
    check(up > blen and down > 300, 'proxy counts %d/%d' % (up, down))
    lost_acks = 0
    # up: in the handshake, after it, mid-body, in the last record of the body;
    # down (counted back from the end of the exchange): in the handshake, in
    # the answer's headers, mid-answer, its last byte
    cases = [(200, None), (700, None), ('mid', None), ('end', None),
             (None, ('start', 300)), (None, 300), (None, 60), (None, 1)]
    tries = 0
    while cases:
        cut_up, cut_down = cases[0]
        body, h = batch()
        if cut_up == 'mid':
            cut_up = base + len(body) // 2
        elif cut_up == 'end':
            cut_up = base + len(body) - 31 - 40     # 31: the client's close_notify alert
        if isinstance(cut_down, tuple):
            cut_down = cut_down[1]
        elif cut_down is not None:
            cut_down = down - cut_down
        proxy = faultproxy.FaultProxy(env.hub.port, cut_up=cut_up, cut_down=cut_down)
        try:
            st, _, js = env.hub.request('POST', '/v1/push', body, h, port=proxy.port)
            ok = st == 200
        except Exception:               # noqa: BLE001 - the cut is the point
            ok = False
        finally:
            proxy.close()
        time.sleep(0.2)
        if ok and proxy.cuts == 0 and cut_down is not None and tries < 3:
            # this exchange was shorter than the measured one (the answer's
            # size varies a little), so the cut fell past its end: measure
            # again from this exchange and cut this batch's successor
            tries += 1
            down = min(down, proxy.down_bytes)
        else:
            check(not ok, 'cut %s/%s: the client got a whole answer' % (cut_up, cut_down))
            cases.pop(0)
        st, _, js = env.hub.request('POST', '/v1/push', body, h)       # the node re-sends
        check(st == 200 and js['acked_seq'] == seq + 1500, js)
        if js['duplicate'] == 1500 and not ok:
            lost_acks += 1          # applied before the cut: acknowledged, not re-applied
        seq += 1500
        check(count(env, node) == seq, 'cut %s/%s: %d rows, want %d' % (
            cut_up, cut_down, count(env, node), seq))
    check(lost_acks >= 2, 'only %d cuts fell after the commit' % lost_acks)


def test_sigterm_finishes_in_flight_batch(env):
    node = uuid7()
    rows = big_batch(node, 1, 8000)
    body, h = encode_batch(node, 8000, {'case_report': (CASE_COLS, rows)})
    h.update(ident(node, D))
    res = {}
    t = threading.Thread(target=lambda: res.update(r=env.hub.request('POST', '/v1/push',
                                                                      body, h)))
    t.start()
    # wait until the hub has the whole request, then stop it
    deadline = time.time() + 10
    while time.time() < deadline:
        m = env.hub.request('GET', '/metrics')[2].decode()
        if 'sikhnas_hub_requests_in_flight 2' in m:
            break
        time.sleep(0.01)
    env.hub.proc.send_signal(signal.SIGTERM)
    t.join(30)
    rc = env.hub.proc.wait(30)
    check(rc == 0, 'exit status %s' % rc)
    st, _, js = res['r']
    check(st == 200 and js['applied'] == 8000, js)
    check(count(env, node) == 8000, 'count')
    log = open(env.hub.log).read()
    check('SIGTERM: stopping' in log and 'stopped' in log, 'log lines')
    env.hub.proc = None
    env.hub.start()


TESTS = [test_duplicate_batch_applies_once, test_refused_row_does_not_stop_others,
         test_bad_input_gets_4xx_and_changes_nothing, test_conflict_resolves_by_hlc_and_is_logged,
         test_base_seq_orders_two_batches_in_flight, test_second_batch_waits_for_a_slower_first,
         test_tls_policy,
         test_pull_never_skips_out_of_order_commits, test_central_correction_flows_down,
         test_hub_kill9_mid_batch, test_multi_host_skips_a_hanging_host, test_postgres_restart,
         test_cut_connections_lose_and_duplicate_nothing, test_sigterm_finishes_in_flight_batch]


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
