#!/usr/bin/env python3
"""test_resume.py - a push batch resumed within its body (docs/protocol.md,
"Resuming within a batch"; hub/hub_resume.c, node/sync_resume.c). The real
hub over TLS and a throwaway PostgreSQL (tests/lib/pgtemp.py).

    test_resume.py NODE_EXE HUB_EXE [TEST ...]

- raw: a client with a node's certificate cuts a batch at a random byte;
  the hub keeps the prefix and says how much (HEAD), takes the rest with
  Content-Range and applies the whole once; and refuses what does not fit:
  a wrong offset, another batch's digest, another node, a changed byte (the
  digest of the whole), a malformed range; a body without X-Sikhnas-Batch
  (an older node) is not kept, and a whole push works as before.
- node: the real node behind a proxy that cuts its push at a random byte:
  the rest is sent, every report is centrally once.
- old hub: the same against a hub run with --resume 0 (as a hub without
  it): no X-Sikhnas-Resume, HEAD /v1/push 405, the node sends the batch
  whole, every report once."""
import json
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'e2e'))
sys.path.insert(0, os.path.join(HERE, '..', 'sync'))
import e2elib  # noqa: E402
from e2elib import hubtest, nodetest  # noqa: E402
from hubtest import CASE_COLS, case_row, encode_batch, ident, read_answer, uuid7  # noqa: E402

NODE_EXE = os.path.abspath(sys.argv[1])
HUB_EXE = os.path.abspath(sys.argv[2])
os.environ['SIKHNAS_HUB'] = HUB_EXE
ENV = None
TMP = nodetest.scratch('sikhnas-resume-')
BOGOR = [v for v in nodetest.villages('3201')][:50]
D = '3201'
SEED = int(os.environ.get('SIKHNAS_RESUME_SEED', str(int(time.time()))))
RND = random.Random(SEED)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def big_batch(node, seq, n=400):
    """A gzip batch of n reports with notes that do not compress away
    (tens of KB), and its headers, named for a resume."""
    rows = [case_row(i + 1, node, note=os.urandom(48).hex()) for i in range(n)]
    body, h = encode_batch(node, seq, {'case_report': (CASE_COLS, rows)})
    h.update(ident(node, D))
    h['X-Sikhnas-Batch'] = h['X-Sikhnas-Digest']
    return body, h


def request(node, method, body, headers, length=None):
    """One request on a new connection with node's certificate; body may be
    shorter than length (Content-Length): the connection is then closed
    mid-body and None returned."""
    s = ENV.hub.tls_socket(node, D)
    try:
        n = len(body) if length is None else length
        head = '%s /v1/push HTTP/1.1\r\nHost: hub\r\n' % method
        if method != 'HEAD':
            head += 'Content-Length: %d\r\n' % n
        head += ''.join('%s: %s\r\n' % kv for kv in headers.items()) + '\r\n'
        s.sendall(head.encode() + body)
        if len(body) < n:
            time.sleep(0.2)
            return None
        st, h, b, _ = read_answer(s, head_only=method == 'HEAD')
        return st, h, json.loads(b) if b else {}
    finally:
        s.close()


def cut(node, body, h, k):
    """Sends body[:k] of the batch and closes the connection."""
    request(node, 'POST', body[:k], h, length=len(body))


def held(node, h):
    """What the hub holds of the batch h names: bytes (0: nothing)."""
    st, hd, _ = request(node, 'HEAD', b'', {**ident(node, D),
                                             'X-Sikhnas-Batch': h['X-Sikhnas-Batch']})
    check(st == 200 and hd.get('x-sikhnas-resume') == '1', 'HEAD /v1/push: %s %r' % (st, hd))
    r = hd.get('range')
    if r is None:
        return 0
    check(r.startswith('bytes=0-'), 'Range: %r' % r)
    return int(r[8:]) + 1


def wait_held(node, h, want):
    got = [0]

    def ok():
        got[0] = held(node, h)
        return got[0] == want
    e2elib.wait_for(ok, timeout=10, step=0.1)
    return got[0]


def rest(node, body, h, k, **over):
    hh = dict(h, **{'Content-Range': 'bytes %d-%d/%d' % (k, len(body) - 1, len(body))})
    hh.update(over)
    return request(node, 'POST', body[k:], hh)


def rows_of(node):
    return int(ENV.pg.scalar("SELECT count(*) FROM case_report WHERE src_node = '%s'" % node))


def test_raw():
    node, other = uuid7(), uuid7()
    body, h = big_batch(node, 400)
    check(len(body) > 20000, 'the batch is %d bytes' % len(body))
    k = RND.randrange(1, len(body))
    print('  batch of %d bytes cut at %d (seed %d)' % (len(body), k, SEED), flush=True)
    # nothing held yet; a rest without a prefix is refused
    check(held(node, h) == 0, 'nothing held before the cut')
    st, hd, js = rest(node, body, h, k)
    check(st == 416 and js.get('error') == 'resume_mismatch', 'a rest of nothing: %s %r' % (st, js))
    # the cut: the hub keeps exactly what came
    cut(node, body, h, k)
    check(wait_held(node, h, k) == k, 'the hub holds the %d bytes sent' % k)
    # another node neither sees nor uses it
    check(held(other, h) == 0, 'another node is told nothing is held')
    st, _, js = rest(other, body, dict(h, **ident(other, D)), k)
    check(st == 416, 'another node cannot resume it: %s %r' % (st, js))
    check(held(node, h) == k, 'still held for its node')
    # a wrong offset is refused, and the prefix dropped (the node sends whole)
    st, _, js = rest(node, body, h, k - 1 if k > 1 else k + 1)
    check(st == 416, 'a wrong offset: %s %r' % (st, js))
    check(held(node, h) == 0, 'a refused resume drops the prefix')
    # another batch's digest
    cut(node, body, h, k)
    wait_held(node, h, k)
    st, _, js = rest(node, body, h, k, **{'X-Sikhnas-Batch': 'sha256=' + '0' * 64})
    check(st == 416, 'another batch named: %s %r' % (st, js))
    # malformed ranges
    for bad in ('bytes %d-%d/%d' % (k, len(body), len(body)), 'bytes 5-3/10', 'bytes -1-2/3',
                'bytes %d-%d/99999999999999999999' % (k, len(body) - 1), 'bytes=%d-' % k, ''):
        cut(node, body, h, k)
        wait_held(node, h, k)
        st, _, js = rest(node, body, h, k, **{'Content-Range': bad})
        check(st == 416, 'Content-Range %r: %s %r' % (bad, st, js))
    # a changed byte in the rest: the digest of the whole, nothing applied
    cut(node, body, h, k)
    wait_held(node, h, k)
    bad = bytearray(body)
    bad[-1] ^= 1
    st, _, js = rest(node, bytes(bad), h, k)
    check(st == 400 and 'digest' in js.get('error', ''), 'a changed byte: %s %r' % (st, js))
    check(rows_of(node) == 0, 'nothing applied after a digest mismatch')
    # the old connection still open (its close lost on the link): the HEAD
    # of the same node and batch ends it and gets what it carried
    s_old = ENV.hub.tls_socket(node, D)
    head = 'POST /v1/push HTTP/1.1\r\nHost: hub\r\nContent-Length: %d\r\n' % len(body)
    s_old.sendall((head + ''.join('%s: %s\r\n' % kv for kv in h.items()) + '\r\n').encode() +
                  body[:k])
    time.sleep(0.3)
    check(held(other, h) == 0, 'another node does not end it')
    check(held(node, h) == k, 'a HEAD while the old connection is open gets its %d bytes' % k)
    s_old.close()
    # the rest as it was: applied once
    cut(node, body, h, k)
    wait_held(node, h, k)
    st, hd, js = rest(node, body, h, k)
    check(st == 200 and js.get('acked_seq') == 400, 'the rest: %s %r' % (st, js))
    check(hd.get('x-sikhnas-resume') == '1', 'answers say X-Sikhnas-Resume: 1')
    check(rows_of(node) == 400, '400 rows once: %d' % rows_of(node))
    check(held(node, h) == 0, 'a resumed batch is not held any more')
    # the whole again (the node lost the answer): a duplicate, still once
    st, _, js = request(node, 'POST', body, h)
    check(st == 200 and js.get('acked_seq') == 400, 'the whole again: %s %r' % (st, js))
    check(rows_of(node) == 400, 'still once: %d' % rows_of(node))
    # an older node names no batch: its cut body is not kept; whole works
    node2 = uuid7()
    body2, h2 = big_batch(node2, 400)
    named = h2.pop('X-Sikhnas-Batch')
    cut(node2, body2, h2, len(body2) // 2)
    time.sleep(0.3)
    check(held(node2, {'X-Sikhnas-Batch': named}) == 0, 'an unnamed body is not kept')
    st, _, js = request(node2, 'POST', body2, h2)
    check(st == 200 and rows_of(node2) == 400, 'an older node pushes whole: %s' % st)


def new_node():
    return e2elib.enrolled_node(ENV, NODE_EXE, TMP, D)


def ok_sync(node, port, *extra):
    r = node.run('-v', 'sync', '--hub', 'https://127.0.0.1:%d' % port, '--ca', ENV.hub.ca,
                 '--no-progress', *extra, timeout=600)
    assert r.returncode == 0, 'sync failed (%d): %s' % (r.returncode, r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1]), r.stderr


def once(node, n):
    nid = node.sql("SELECT value FROM meta WHERE key = 'node_id'")[0][0]
    check(e2elib.pg_counts(ENV.pg, nid) == (n, n), 'central %r, expected %d once' % (
        e2elib.pg_counts(ENV.pg, nid), n))
    q = node.sql("SELECT count(*) FROM outbox_named WHERE state_name = 'queued'")[0][0]
    check(q == 0, '%d entries still queued' % q)


def hub_kept():
    """The hub's log lines of bytes kept from a cut batch, so far."""
    with open(ENV.hub.log, errors='replace') as f:
        return [x for x in f if 'kept for a resume' in x]


def cut_push(n=3000, trials=3, lo=12000, hi=31000, until=None, most=0):
    """A node pushes n reports through a proxy that cuts the first
    connection at a random byte; returns, per trial, the sync summary, the
    node's log, the node and whether the hub kept a prefix. The first batch
    is 32-34 kB on the wire here, so a cut from lo to hi falls in its
    handshake, headers or body (above it the connection carries no more and
    the cut never happens). With until, trials go on (up to most) while
    until(results) is false."""
    out = []
    proxy = e2elib.Proxy(ENV.hub.port)
    try:
        while len(out) < trials or (until and not until(out) and len(out) < most):
            node = new_node()
            ok_sync(node, proxy.port)              # learns whether the hub resumes
            path = e2elib.write_jsonl(os.path.join(node.tmp, 'in.jsonl'), n, BOGOR,
                                      seed=RND.randrange(1 << 30))
            assert node.run('import', '--no-progress', path).returncode == 0
            k = RND.randrange(lo, hi)
            before = len(hub_kept())
            proxy.fault(cut_up=k, times=1)
            s, err = ok_sync(node, proxy.port, '--batch-kib', '64')
            kept = len(hub_kept()) > before
            print('  cut at %d (the hub kept a prefix: %s): %s' % (k, kept, json.dumps(s)),
                  flush=True)
            once(node, n)
            out.append((s, err, node, kept))
    finally:
        proxy.close()
    return out


def test_node_cut_at_random():
    """Where the cut falls is random: in a batch's body (the hub keeps all
    but the last TLS record; the node sends the rest), or in a handshake,
    headers or an answer (nothing to keep). Whenever the hub kept a prefix
    of a cut the node saw, the node resumed from it; and at least one of
    the cuts did."""
    res = cut_push(trials=5, until=resumed, most=10)
    for s, err, node, kept in res:
        if kept and s['resumes'] == 0 and 'out_of_order' in err:
            # On a fast link (here loopback) two batches are in flight; the
            # cut took the first and the hub refused the second (409): the
            # node sends both again from the hub's acked_seq, the first
            # whole (not resumed: a known limit, docs/protocol.md 4.9; a
            # slow link, where resuming pays, has one batch in flight).
            print('  two batches were in flight: sent again from acked_seq', flush=True)
            continue
        if kept and s['bytes_lost'] == 0 and s['resumes'] == 0:
            # The node never saw the cut: libcurl sent the request again on
            # a fresh connection by itself (it does so when a reused
            # connection dies before any answer), so there was nothing to
            # resume; the batch still landed once (cut_push checks).
            print('  libcurl retried the cut request itself', flush=True)
            continue
        if kept:
            check(s['resumes'] >= 1 and s['bytes_kept'] > 0,
                  'the hub kept a prefix, the node did not use it: %r\n%s' % (s, err[-3000:]))
            check('sending the rest of the cut batch' in err, err[-2000:])
    check(resumed(res), 'no cut of %d was resumed (seed %d)' % (len(res), SEED))


def resumed(res):
    return any(kept and s['bytes_kept'] > 0 for s, _, _, kept in res)


def test_old_hub():
    args = ENV.hub.extra_args
    ENV.hub.stop()
    ENV.hub.extra_args = args + ['--resume', '0']
    ENV.hub.start()
    try:
        node = uuid7()
        st, hd, _ = request(node, 'HEAD', b'', ident(node, D))
        check(st == 405 and 'x-sikhnas-resume' not in hd, 'an older hub: HEAD %s %r' % (st, hd))
        for s, err, node, kept in cut_push(trials=1):
            check(not kept and s['resumes'] == 0 and s['bytes_kept'] == 0, s)
            check(node.sql("SELECT value FROM meta WHERE key = 'sync.hub_resume'") in
                  ([], [('0',)]), 'the node still thinks the hub resumes')
    finally:
        ENV.hub.stop()
        ENV.hub.extra_args = args
        ENV.hub.start()


TESTS = [test_raw, test_node_cut_at_random, test_old_hub]


def restart_dead_hub():
    if ENV.hub.proc is None or ENV.hub.proc.poll() is not None:
        ENV.hub.start()


def main():
    global ENV
    ENV = hubtest.Env()
    return e2elib.run_tests(TESTS, sys.argv[3:], ENV, after_failure=restart_dead_hub)


if __name__ == '__main__':
    sys.exit(main())
