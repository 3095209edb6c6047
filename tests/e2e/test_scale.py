#!/usr/bin/env python3
"""test_scale.py - the hub at national scale: admission control of push
batches (hub/hub_admit.c, docs/protocol.md §4.6) and the zstd dictionary of
batches (sync/batch.c, §4.7), with the real sikhnas-hub over TLS, a
throwaway PostgreSQL + PostGIS and a real sikhnas-node.

    test_scale.py NODE_EXE HUB_EXE [TEST ...]

The hub runs with --admit 1 --admit-queue 1: one batch at a time, one
waiting. A test holds that one slot by locking a node's registry row in
PostgreSQL (SELECT ... FOR UPDATE in an open transaction): the hub's batch
of that node then waits for the lock, admitted. Checked: a batch beyond the
queue is answered 429 at once with a Retry-After and changes nothing; a
batch of a node holding a priority report (X-Sikhnas-Priority: 1) goes
before a routine one waiting; the batches waiting stay at the configured
cap however many nodes push, and within --admit-mib of inflated bytes
(a batch past it refused, a small one beside it admitted); the real node honours Retry-After with jitter
and then syncs every record exactly once. Dictionary: a batch made with it
is applied, one made without it (an old node) too, one naming a dictionary
the hub lacks is refused with 415 and changes nothing, and the real node
uses it once the hub has listed it."""
import contextlib
import hashlib
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import e2elib  # noqa: E402
from e2elib import hubtest, nodetest  # noqa: E402

NODE_EXE = os.path.abspath(sys.argv[1])
HUB_EXE = os.path.abspath(sys.argv[2])
os.environ['SIKHNAS_HUB'] = HUB_EXE
D = '3201'
ENV = None
# the columnar encoder from the command line (tests/bench/batch-columnar.c)
COLUMNAR = os.path.join(os.path.dirname(os.path.dirname(NODE_EXE)), 'tests', 'bench',
                        'batch-columnar')


def zstd_bytes(data):
    return subprocess.run(['zstd', '-3', '-q', '-c'], input=data, capture_output=True,
                          check=True).stdout
TMP = nodetest.scratch('sikhnas-admit-')


class Hold:
    """Locks node's registry row in an open transaction: the hub's next
    batch of that node waits for the lock, holding its admission slot."""

    def __init__(self, node):
        self.p = subprocess.Popen(['psql', '-X', '-q', '-At', '-d', ENV.pg.conninfo],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.p.stdin.write("BEGIN; SELECT 1 FROM node WHERE node_id = '%s' FOR UPDATE;\n"
                           "\\echo locked\n" % node)
        self.p.stdin.flush()
        while self.p.stdout.readline().strip() != 'locked':
            pass

    def release(self):
        if self.p:
            self.p.stdin.write('COMMIT;\n')
            self.p.stdin.close()
            self.p.wait(30)
            self.p = None


def push(node, seq, prio=False, n=1):
    rows = [hubtest.case_row(seq - n + 1 + i, node) for i in range(n)]
    body, h = hubtest.encode_batch(node, seq, {'case_report': (hubtest.CASE_COLS, rows)})
    h.update(hubtest.ident(node, D))
    if prio:
        h['X-Sikhnas-Priority'] = '1'
    return ENV.hub.request('POST', '/v1/push', body, h)


def push_bg(node, seq, prio=False):
    """Pushes in a thread; the result (status, headers, json) lands in res[0]."""
    res = []
    t = threading.Thread(target=lambda: res.append(push(node, seq, prio)))
    t.start()
    return t, res


def gauge(name):
    _, _, text = ENV.hub.request('GET', '/metrics')
    m = re.search(r'^%s (\S+)$' % re.escape(name), text.decode(), re.M)
    return float(m.group(1)) if m else None


def rows_of(node):
    return int(ENV.pg.scalar("SELECT count(*) FROM case_report WHERE origin = '%s'" % node))


def new_node(n):
    """A real node, enrolled, with n case reports queued."""
    node = nodetest.Node(NODE_EXE, tmp=tempfile.mkdtemp(dir=TMP))
    e2elib.enroll(ENV, node)
    path = e2elib.write_jsonl(os.path.join(node.tmp, 'in.jsonl'), n,
                              list(nodetest.villages(D))[:20])
    assert node.run('import', '--no-progress', path).returncode == 0
    return node


def held_slot():
    """A node whose next batch holds the one slot (until release())."""
    a = hubtest.uuid7()
    assert push(a, 1)[0] == 200                    # its registry row exists
    hold = Hold(a)
    t, res = push_bg(a, 2)
    assert e2elib.wait_for(lambda: gauge('sikhnas_hub_admission{state="admitted"}') == 1)
    return a, hold, t, res


@contextlib.contextmanager
def hub_with(extra):
    """The hub started again with extra as its run options (a fresh hub:
    it forgets the nodes refused before), and with the suite's after."""
    args = ENV.hub.extra_args
    ENV.hub.stop()
    ENV.hub.extra_args = extra
    ENV.hub.start()
    try:
        yield
    finally:
        ENV.hub.stop()
        ENV.hub.extra_args = args
        ENV.hub.start()


# ------------------------------------------------------------------ tests

def test_busy_answers_429_and_priority_goes_first():
    a, hold, ta, ra = held_slot()
    refused0 = gauge('sikhnas_hub_admission_refused_total')
    try:
        c = hubtest.uuid7()
        tc, rc = push_bg(c, 1)                     # waits: the queue's one place
        assert e2elib.wait_for(lambda: gauge('sikhnas_hub_admission{state="waiting"}') == 1)
        b = hubtest.uuid7()
        t0 = time.time()
        st, hdrs, js = push(b, 1)                  # no room: refused at once
        assert st == 429 and js['error'] == 'busy', (st, js)
        assert time.time() - t0 < 5
        assert 1 <= int(hdrs['retry-after']) <= 60, hdrs
        # a node holding a P report pushes the routine batch out of the queue
        p = hubtest.uuid7()
        tp, rp = push_bg(p, 1, prio=True)
        tc.join(10)
        assert rc and rc[0][0] == 429 and int(rc[0][1]['retry-after']) >= 1, rc
        assert not rp, 'the priority batch ran while the slot was held'
    finally:
        hold.release()
    ta.join(30)
    tp.join(30)
    assert ra[0][0] == 200 and rp[0][0] == 200, (ra, rp)
    assert rows_of(a) == 2 and rows_of(p) == 1 and rows_of(b) == 0 and rows_of(c) == 0
    assert gauge('sikhnas_hub_admission_refused_total') - refused0 == 2
    # the refused come back and go in, once
    assert push(b, 1)[0] == 200 and push(c, 1)[0] == 200
    assert rows_of(b) == 1 and rows_of(c) == 1


def admitted_buckets():
    """sikhnas_hub_admitted_seconds by bucket: {le: cumulative count}."""
    _, _, text = ENV.hub.request('GET', '/metrics')
    return {m.group(1): float(m.group(2)) for m in re.finditer(
        r'^sikhnas_hub_admitted_seconds_bucket\{le="([^"]+)"\} (\S+)$', text.decode(), re.M)}


def test_admission_histogram_shows_two_seconds():
    """The goal is p99 admission to answer within 2 s: the histogram has a
    2 s bucket, and a batch held 1.2 s after its admission counts above 1 s
    and at or below 2 s, the quick batch before it at or below 1 s."""
    h0 = admitted_buckets()
    assert '2' in h0, sorted(h0)
    _, hold, ta, ra = held_slot()                  # one quick batch, then one held
    time.sleep(1.2)
    hold.release()
    ta.join(30)
    assert ra and ra[0][0] == 200, ra
    h1 = admitted_buckets()
    d = {le: h1[le] - h0[le] for le in h0}
    assert d['+Inf'] == 2 and d['1'] == 1 and d['2'] == 2, d
    order = sorted((le for le in h1 if le != '+Inf'), key=float)
    assert all(h1[x] <= h1[y] for x, y in zip(order, order[1:] + ['+Inf'])), h1


def test_waiting_batches_capped_by_configuration():
    nodes = [hubtest.uuid7() for _ in range(30)]
    ENV.hub.node_certs([(n, D) for n in nodes])   # first: no waiting on openssl
    a, hold, ta, ra = held_slot()
    try:
        threads = [push_bg(n, 1) for n in nodes]
        t0 = time.time()
        # all but one are refused at once; one waits
        assert e2elib.wait_for(lambda: sum(1 for _, r in threads if r) == len(nodes) - 1,
                               timeout=20)
        assert time.time() - t0 < 20
        assert gauge('sikhnas_hub_admission{state="waiting"}') == 1
        assert all(r[0][0] == 429 for _, r in threads if r)
    finally:
        hold.release()
    for t, _ in threads:
        t.join(30)
    ta.join(30)
    assert sorted(r[0][0] for _, r in threads).count(200) == 1
    assert sum(rows_of(n) for n in nodes) == 1


def test_admission_by_bytes():
    """--admit-mib: with room for 8 batches by count but 1 MiB of inflated
    bytes, a batch that would pass the bound is refused at once (429 with
    Retry-After, nothing stored) while a large one is admitted; a small one
    still goes; once the large one ends, the refused one is admitted."""
    with hub_with(['--admit', '8', '--admit-queue', '0', '--admit-mib', '1']):
        b, c = hubtest.uuid7(), hubtest.uuid7()
        ENV.hub.node_certs([(b, D), (c, D)])
        a = hubtest.uuid7()
        assert push(a, 1)[0] == 200
        hold = Hold(a)
        try:
            res = []
            t = threading.Thread(target=lambda: res.append(push(a, 2501, n=2500)))
            t.start()               # ~0.8 MB inflated: admitted, waits for the lock
            assert e2elib.wait_for(
                lambda: gauge('sikhnas_hub_admission{state="admitted"}') == 1)
            st, hdrs, js = push(b, 2000, n=2000)        # ~0.6 MB more: past 1 MiB
            assert st == 429 and js['error'] == 'busy', (st, js)
            assert 1 <= int(hdrs['retry-after']) <= 60, hdrs
            assert push(c, 1)[0] == 200                 # a small one fits beside it
        finally:
            hold.release()
        t.join(30)
        assert res and res[0][0] == 200, res
        assert rows_of(b) == 0 and rows_of(a) == 2501 and rows_of(c) == 1
        assert push(b, 2000, n=2000)[0] == 200          # admitted again after
        assert rows_of(b) == 2000


def test_refused_node_keeps_its_connection():
    """With --idle-timeout 2 (and --stall-timeout 30, so that a node's
    connection gets no longer wait of its own), a connection idle after a
    200 is closed in 2 s; one whose answer was a 429 with Retry-After R
    stays open until the node may be back (R and its jitter of up to R/2,
    and 5 s), and the node's next push goes on it: no new TLS handshake."""
    with hub_with(['--admit', '1', '--admit-queue', '0', '--idle-timeout', '2',
                   '--stall-timeout', '30']):
        b, c = hubtest.uuid7(), hubtest.uuid7()
        ENV.hub.node_certs([(b, D), (c, D)])

        def on(conn, node, seq):
            rows = [hubtest.case_row(seq, node)]
            body, h = hubtest.encode_batch(node, seq, {'case_report': (hubtest.CASE_COLS, rows)})
            h.update(hubtest.ident(node, D))
            return ENV.hub.request('POST', '/v1/push', body, h, conn=conn)

        cc = ENV.hub.connection(node=c, district=D)
        assert on(cc, c, 1)[0] == 200
        time.sleep(3.5)                             # past the idle timeout: closed
        try:
            st = on(cc, c, 2)[0]
        except (OSError, http.client.HTTPException) as e:
            st = e
        assert not isinstance(st, int), 'an idle connection was kept: %r' % st
        cc.close()
        a, hold, ta, ra = held_slot()
        bc = ENV.hub.connection(node=b, district=D)
        try:
            st, hdrs, js = on(bc, b, 1)             # the slot is held: refused
            assert st == 429 and js['error'] == 'busy', (st, js)
            sock = bc.sock
            time.sleep(3.5)                         # past the idle timeout, within R + 5 s
        finally:
            hold.release()
        ta.join(30)
        st, _, js = on(bc, b, 1)
        assert st == 200 and bc.sock is sock, (st, js, 'Retry-After %s' % hdrs['retry-after'])
        bc.close()
        assert rows_of(b) == 1 and rows_of(c) == 1 and ra[0][0] == 200


def test_real_node_honours_retry_after_with_jitter():
    node = new_node(200)
    # a fresh hub with no queue: while the slot is held every push is refused
    with hub_with(['--admit', '1', '--admit-queue', '0']):
        a, hold, ta, ra = held_slot()
        try:
            p = subprocess.Popen([NODE_EXE, '--db', node.db, 'sync', '--hub',
                                  'https://127.0.0.1:%d' % ENV.hub.port, '--ca', ENV.hub.ca,
                                  '--no-progress', '--retry-for', '120'],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(6)
        finally:
            hold.release()
        out, err = p.communicate(timeout=120)
        ta.join(30)
    assert p.returncode == 0, err
    # "... 429 (busy: the hub is busy; send the batch again in N s); trying again in X s"
    waits = [(int(n), float(x)) for n, x in
             re.findall(r'429 \(busy: [^)]*again in (\d+) s\); trying again in ([\d.]+) s', err)]
    assert len(waits) >= 2, err
    # at least what the hub asked, at most half again (or the node's own
    # backoff in the first minute of failures, up to 2 s, when that is longer)
    for n, x in waits:
        assert n - 0.05 <= x <= max(1.5 * n, 2.0) + 0.05, (n, x, err)
    assert len(set(x for _, x in waits)) > 1, 'no jitter: %s' % waits
    # and came back on its connection (the hub keeps it for a refused node)
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary['connects'] == 1, summary
    nid = node.status()['node_id']
    assert e2elib.pg_counts(ENV.pg, nid) == (200, 200)
    assert node.status()['outbox'] == 0


DICT = os.path.join(HERE, '..', '..', 'sync', 'dict', 'batch-1.zdict')


def dict_push(node, seq, mangle=False):
    """A batch of one row compressed with the batch dictionary (zstd -D);
    mangle: the frame names dictionary id + 3 instead (no such one)."""
    rows = [hubtest.case_row(seq, node, note='Pak Slamet di dusun Sukamaju: 3 ekor ayam '
                             'kampung lemas dan tidak mau makan sejak 2 hari.')]
    body, h = hubtest.encode_batch(node, seq, {'case_report': (hubtest.CASE_COLS, rows)},
                                   enc='identity')
    body = subprocess.run(['zstd', '-3', '-q', '-c', '-D', DICT], input=body,
                          capture_output=True, check=True).stdout
    at = body.find(b'\x01\x00\x48\x53', 4, 12)   # the dictionary id in the frame header
    assert at > 0
    if mangle:
        body = body[:at] + b'\x04' + body[at + 1:]     # 2, 3 are the columnar batches'
    h['Content-Encoding'] = 'zstd'
    h['X-Sikhnas-Digest'] = 'sha256=' + hashlib.sha256(body).hexdigest()
    h.update(hubtest.ident(node, D))
    return ENV.hub.request('POST', '/v1/push', body, h)


def encoded(which):
    return gauge('sikhnas_hub_push_encoding_total{encoding="%s"}' % which)


def test_dictionary_and_old_nodes():
    n = hubtest.uuid7()
    before = encoded('zstd-dict-1')
    st, hdrs, js = dict_push(n, 1)
    assert st == 200 and js['applied'] == 1, (st, js)
    assert 'zstd-dict-1' in hdrs['x-sikhnas-accept-encoding'], hdrs
    assert 'columnar-1' in hdrs['x-sikhnas-accept-encoding'], hdrs
    assert 'zstd-dict-2' in hdrs['x-sikhnas-accept-encoding'], hdrs
    assert 'columnar-2' in hdrs['x-sikhnas-accept-encoding'], hdrs
    assert 'zstd-dict-3' in hdrs['x-sikhnas-accept-encoding'], hdrs
    assert encoded('zstd-dict-1') == before + 1
    # an old node: plain zstd and gzip, no dictionary
    for seq, enc in ((2, 'zstd'), (3, 'gzip')):
        rows = [hubtest.case_row(seq, n)]
        body, h = hubtest.encode_batch(n, seq, {'case_report': (hubtest.CASE_COLS, rows)},
                                       enc=enc)
        h.update(hubtest.ident(n, D))
        assert ENV.hub.request('POST', '/v1/push', body, h)[0] == 200
    # a dictionary this hub does not have: refused, nothing applied
    st, _, js = dict_push(n, 4, mangle=True)
    assert st == 415 and js['error'] == 'unsupported_dictionary', (st, js)
    assert rows_of(n) == 3


def test_real_node_uses_the_dictionary():
    node = new_node(1500)
    before = encoded('zstd-dict-1') + encoded('zstd-dict-2') + encoded('zstd-dict-3')
    r = node.run('sync', '--hub', 'https://127.0.0.1:%d' % ENV.hub.port, '--ca', ENV.hub.ca,
                 '--no-progress', '--batch-kib', '4')
    assert r.returncode == 0, r.stderr
    # the first batch goes before the hub has listed the dictionary; the rest with it.
    # 1,500 reports: the node builds a batch again at the ratio it measured, so
    # 4 KiB take 136 JSON rows but ~330 columnar ones (600 were 2 JSON and 1 columnar)
    # (columnar-2 batches, with the dictionary of columnar-2 batches)
    assert encoded('zstd-dict-1') + encoded('zstd-dict-2') + encoded('zstd-dict-3') - before >= 2
    assert e2elib.pg_counts(ENV.pg, node.status()['node_id']) == (1500, 1500)


def test_real_node_sends_columnar_batches():
    """The hub lists columnar-1 and columnar-2; the node then sends
    columnar-2 batches (the first goes as JSON, before it has heard the
    hub), and every row lands as the JSON ones do (old nodes: every other
    test here sends JSON)."""
    node = new_node(1500)
    before, dict_before = encoded('columnar-2'), encoded('zstd-dict-3')
    v1_before = encoded('columnar-1')
    r = node.run('sync', '--hub', 'https://127.0.0.1:%d' % ENV.hub.port, '--ca', ENV.hub.ca,
                 '--no-progress', '--batch-kib', '4')
    assert r.returncode == 0, r.stderr
    columnar = encoded('columnar-2') - before
    assert columnar >= 2
    assert encoded('columnar-1') == v1_before
    # batches after the first are columnar-2, with its dictionary
    assert columnar == encoded('zstd-dict-3') - dict_before, columnar
    assert e2elib.pg_counts(ENV.pg, node.status()['node_id']) == (1500, 1500)


def test_old_and_new_columnar():
    """An old node's version 1 body (it knows only columnar-1) and a new
    node's version 2 body (no node in it: the hub takes its certificate's)
    land alike on the same hub. A new node facing an old hub, which lists
    only columnar-1, sends version 1: test-batch-dict and the hub's tokens
    (test_dictionary_and_old_nodes) cover the choice, node/sync_client.c."""
    n = hubtest.uuid7()
    for seq, ver in ((1, 1), (2, 2)):
        rows = [hubtest.case_row(seq, n)]
        plain, h = hubtest.encode_batch(n, seq, {'case_report': (hubtest.CASE_COLS, rows)},
                                        enc='identity')
        col = subprocess.run([COLUMNAR] + (['-2'] if ver == 2 else []), input=plain,
                             capture_output=True, check=True).stdout
        assert col[:4] == b'SKC' + bytes([ver])
        body = zstd_bytes(col)
        h.update(hubtest.ident(n, D))
        h['Content-Encoding'] = 'zstd'
        h['X-Sikhnas-Digest'] = 'sha256=' + hashlib.sha256(body).hexdigest()
        before = encoded('columnar-%d' % ver)
        st, _, js = ENV.hub.request('POST', '/v1/push', body, h)
        assert st == 200 and js['applied'] == 1, (ver, st, js)
        assert encoded('columnar-%d' % ver) == before + 1
    assert rows_of(n) == 2


TESTS = [test_dictionary_and_old_nodes, test_real_node_uses_the_dictionary,
         test_real_node_sends_columnar_batches, test_old_and_new_columnar,
         test_busy_answers_429_and_priority_goes_first, test_admission_histogram_shows_two_seconds,
         test_waiting_batches_capped_by_configuration, test_admission_by_bytes,
         test_refused_node_keeps_its_connection, test_real_node_honours_retry_after_with_jitter]


def main():
    global ENV
    ENV = hubtest.Env(extra_args=['--admit', '1', '--admit-queue', '1'])
    return e2elib.run_tests(TESTS, sys.argv[3:], ENV)


if __name__ == '__main__':
    sys.exit(main())
