#!/usr/bin/env python3
"""test_hub_http.py - the hub's HTTP edges over real TLS (the server of
common/http_server.c as the hub configures it), against the real hub and
PostgreSQL (tests/lib/pgtemp.py): the room for the headers the hub reads,
the URL cap, HEAD answers without a body, a client that stops sending
after its request still getting the answer, and a node's request that
stalls for 32 s going through while an anonymous one is cut at 30 s.

usage: test_hub_http.py SIKHNAS_HUB_EXE   (exit status 0 = all passed)"""
import json
import os
import socket
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import hubtest  # noqa: E402
from hubtest import CASE_COLS, case_row, encode_batch, ident, read_answer, uuid7  # noqa: E402

D = '3201'


def check(cond, what):
    print(('ok   ' if cond else 'FAIL ') + what, flush=True)
    if not cond:
        raise AssertionError(what)


def tls(env, node=None):
    """A TLS socket to the hub (with node's certificate when given)."""
    return env.hub.tls_socket(node, D)


def test_header_room(env):
    """Each header the hub reads has a fixed room; a longer value is refused
    400 before anything else, one that fits goes on to the usual checks."""
    node = uuid7()
    body, h = encode_batch(node, 1, {'case_report': (CASE_COLS, [case_row(1, node)])})
    h.update(ident(node, D))
    before = int(env.pg.scalar('SELECT count(*) FROM case_report'))
    # (header, room with the NUL, the status of a value that just fits)
    rooms = [('X-Sikhnas-Node', 64, 403), ('X-Sikhnas-District', 16, 403),
             ('X-Sikhnas-HLC', 32, 200), ('Content-Encoding', 32, 415),
             ('X-Sikhnas-Digest', 96, 400), ('Accept-Encoding', 128, 200)]

    def post(name, n):
        c = env.hub.connection(node=node, district=D)      # the certificate stays the node's
        try:
            return env.hub.request('POST', '/v1/push', body, dict(h, **{name: '9' * n}), conn=c)
        finally:
            c.close()

    for name, room, fits in rooms:
        st, _, js = post(name, room)
        check(st == 400 and js.get('error') == 'bad_request' and
              'too long' in js.get('message', ''),
              '%s of %d bytes: 400 bad_request (%s %r)' % (name, room, st, js))
        st, _, js = post(name, room - 1)
        check(st == fits and 'too long' not in js.get('message', ''),
              '%s of %d bytes: %d (%s %r)' % (name, room - 1, fits, st, js))
    after = int(env.pg.scalar('SELECT count(*) FROM case_report'))
    check(after == before + 1, 'the batch applied once (%d -> %d)' % (before, after))


def test_url_cap(env):
    s = tls(env)
    path = '/v1/health?'
    ok = path + 'a' * (1023 - len(path))
    s.sendall(b'GET %s HTTP/1.1\r\nHost: hub\r\n\r\n' % ok.encode())
    st, _, _, _ = read_answer(s)
    check(st == 200, 'a URL of 1,023 bytes: %s' % st)
    s.sendall(b'GET %sa HTTP/1.1\r\nHost: hub\r\n\r\n' % ok.encode())
    st, h, b, _ = read_answer(s)
    check(st == 431 and h.get('connection') == 'close' and b'headers_too_large' in b,
          'one byte more: 431 headers_too_large, Connection: close (%s)' % st)
    s.close()


def test_head_answer_has_no_body(env):
    s = tls(env)
    s.sendall(b'HEAD /v1/health HTTP/1.1\r\nHost: hub\r\n\r\n'
              b'GET /v1/health HTTP/1.1\r\nHost: hub\r\n\r\n')
    st1, h1, _, rest = read_answer(s, head_only=True)
    st2, _, b2, _ = read_answer(s, rest)
    check(st1 == 405 and int(h1.get('content-length', '0')) > 0,
          'HEAD: 405 with the Content-Length of its body (%s)' % st1)
    check(st2 == 200 and json.loads(b2)['status'] == 'ok',
          'the next answer follows the HEAD answer\'s headers at once (%s)' % st2)
    s.close()


def test_half_closed_client_gets_its_answer(env):
    """A client that shuts down its sending side after a push (answered
    after the database work) still gets the answer, and the batch applies."""
    node = uuid7()
    body, h = encode_batch(node, 1, {'case_report': (CASE_COLS, [case_row(1, node)])})
    h.update(ident(node, D))
    s = tls(env, node)
    head = 'POST /v1/push HTTP/1.1\r\nHost: hub\r\nContent-Length: %d\r\n' % len(body)
    head += ''.join('%s: %s\r\n' % kv for kv in h.items()) + '\r\n'
    s.sendall(head.encode() + body)
    socket.socket.shutdown(s, socket.SHUT_WR)   # TCP only: the TLS session stays
    try:
        st, hdrs, b, _ = read_answer(s)
    except OSError as e:
        st, hdrs, b = None, {}, repr(e).encode()
    check(st == 200 and json.loads(b)['acked_seq'] == 1,
          'the answer comes after the client stopped sending (%s %r)' % (st, b[:80]))
    s.close()
    n = env.pg.scalar("SELECT count(*) FROM case_report WHERE src_node = '%s'" % node)
    check(n == 1, 'the batch applied (%s rows)' % n)


def test_stalled_request(env):
    """A node (its certificate verified) whose request goes silent for 32 s,
    a 2G outage, gets it through on the same connection when the rest
    comes (--stall-timeout, 75 s), and its connection idle as long between
    two requests is still open; a client without a certificate silent as
    long is answered 408 at 30 s, as before."""
    node = uuid7()
    body, h = encode_batch(node, 1, {'case_report': (CASE_COLS, [case_row(1, node)])})
    h.update(ident(node, D))
    head = 'POST /v1/push HTTP/1.1\r\nHost: hub\r\nContent-Length: %d\r\n' % len(body)
    head += ''.join('%s: %s\r\n' % kv for kv in h.items()) + '\r\n'
    half = len(body) // 2
    s = tls(env, node)
    s.sendall(head.encode() + body[:half])
    # and a node's connection idle between two requests for as long
    idle = tls(env, node)
    idle.sendall(b'GET /v1/health HTTP/1.1\r\nHost: hub\r\n\r\n')
    st, _, _, _ = read_answer(idle)
    check(st == 200, 'a first request on the idle connection (%s)' % st)
    anon = tls(env)
    anon.sendall(b'POST /v1/enroll HTTP/1.1\r\nHost: hub\r\nContent-Length: 100\r\n\r\n{"to')
    t0 = time.time()
    anon.settimeout(40)
    st, hdrs, b, _ = read_answer(anon)
    waited = time.time() - t0
    check(st == 408 and hdrs.get('connection') == 'close' and 29 <= waited <= 33,
          'no certificate: 408 after %.1f s of silence (%s %r)' % (waited, st, b[:80]))
    anon.close()
    time.sleep(max(0, 32 - (time.time() - t0)))
    idle.sendall(b'GET /v1/health HTTP/1.1\r\nHost: hub\r\n\r\n')
    idle.settimeout(10)
    st, _, _, _ = read_answer(idle)
    check(st == 200, 'a node\'s connection idle for 32 s still takes a request (%s)' % st)
    idle.close()
    s.sendall(body[half:])
    s.settimeout(10)
    st, _, b, _ = read_answer(s)
    check(st == 200 and json.loads(b)['acked_seq'] == 1,
          'a node silent for 32 s within its push: answered %s %r' % (st, b[:80]))
    s.close()
    n = env.pg.scalar("SELECT count(*) FROM case_report WHERE src_node = '%s'" % node)
    check(n == 1, 'the batch applied once (%s rows)' % n)


TESTS = [test_header_room, test_url_cap, test_head_answer_has_no_body,
         test_half_closed_client_gets_its_answer, test_stalled_request]


def main():
    os.environ['SIKHNAS_HUB'] = os.path.abspath(sys.argv[1])
    failed = 0
    with hubtest.Env() as env:
        for t in TESTS:
            t0 = time.time()
            try:
                t(env)
                print('ok   %-50s %.1fs' % (t.__name__, time.time() - t0), flush=True)
            except Exception:           # noqa: BLE001 - report and go on
                failed += 1
                print('FAIL %s' % t.__name__, flush=True)
                traceback.print_exc()
                print('--- hub log tail:\n' + open(env.hub.log).read()[-3000:], flush=True)
    print('%d passed, %d failed' % (len(TESTS) - failed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
