#!/usr/bin/env python3
"""test_hub_conns.py - sikhnas-hub under connection floods, with its default
limits (64 connections per client address, 5 s for a TLS handshake), on raw
sockets against the real hub (PostgreSQL from tests/lib/pgtemp.py). Other
client addresses are 127.0.0.2.. (all of 127/8 is loopback on Linux).

usage: test_hub_conns.py SIKHNAS_HUB_EXE   (exit status 0 = all passed)"""
import http.client
import os
import socket
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import hubtest  # noqa: E402


def check(cond, what):
    print(('ok   ' if cond else 'FAIL ') + what, flush=True)
    if not cond:
        raise AssertionError(what)


def raw(port, src):
    return socket.create_connection(('127.0.0.1', port), timeout=5, source_address=(src, 0))


def is_closed(s):
    """True when the hub has closed s (without waiting)."""
    s.setblocking(False)
    try:
        return s.recv(1) == b''
    except BlockingIOError:
        return False
    except OSError:
        return True


def health(env, src):
    """GET /v1/health over TLS from address src: (status, seconds)."""
    t0 = time.time()
    c = http.client.HTTPSConnection('127.0.0.1', env.hub.port, context=env.hub.context(),
                                    timeout=5, source_address=(src, 0))
    try:
        c.request('GET', '/v1/health')
        r = c.getresponse()
        r.read()
        return r.status, time.time() - t0
    except OSError:
        return None, time.time() - t0
    finally:
        c.close()


def test_one_address_cannot_starve_the_others(env):
    port = env.hub.port
    log0 = os.path.getsize(env.hub.log)
    t0 = time.time()
    flood = [raw(port, '127.0.0.1') for _ in range(2100)]   # more than HTTP_MAX_CONNS
    trickle = raw(port, '127.0.0.3')
    hello = b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' + bytes(32)
    time.sleep(1.0)
    open_ = [s for s in flood if not is_closed(s)]
    check(len(open_) == 64, 'one address keeps 64 of 2100 connections, the rest are closed '
          'at accept (%d kept)' % len(open_))
    st, secs = health(env, '127.0.0.2')
    check(st == 200 and secs < 2, 'meanwhile 127.0.0.2 is served (%s in %.2f s)' % (st, secs))
    # the 64 never start a handshake, the trickle sends a byte every 0.3 s
    i = 0
    while time.time() - t0 < 9 and (any(not is_closed(s) for s in open_) or
                                    not is_closed(trickle)):
        if i < len(hello):
            try:
                trickle.send(hello[i:i + 1])
            except OSError:
                pass
            i += 1
        time.sleep(0.3)
    t = time.time() - t0
    check(all(is_closed(s) for s in open_) and 4 < t < 8,
          'connections that do not finish the handshake close after 5 s (%.1f s)' % t)
    check(is_closed(trickle), 'a handshake that trickles a byte at a time closes too')
    for s in flood:
        s.close()
    trickle.close()
    log = open(env.hub.log, errors='replace').read()[log0:]
    n = log.count('127.0.0.1 holds 64 connections')
    check(n == 1, 'the refusals are logged once, with the reason (%d lines)' % n)
    st, _ = health(env, '127.0.0.1')
    check(st == 200, 'then 127.0.0.1 is served again (%s)' % st)


def audit_rows(env, addr):
    out = env.pg.psql("SELECT reason FROM security_audit WHERE event = 'refuse' AND "
                      "endpoint = 'tls' AND address = '%s' ORDER BY id" % addr)
    return out.split('\n') if out else []


def garbage(port, src):
    s = raw(port, src)
    s.sendall(b'GET /v1/health HTTP/1.1\r\nHost: hub\r\n\r\n')   # plain HTTP on the TLS port
    s.settimeout(5)
    try:
        while s.recv(4096):
            pass
    except OSError:
        pass
    s.close()


def wait_rows(env, addr, n, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline and len(audit_rows(env, addr)) < n:
        time.sleep(0.1)
    time.sleep(0.5)                 # and no more than n
    return audit_rows(env, addr)


def test_tls_failures_are_audited_once_a_minute(env):
    port = env.hub.port
    t0 = time.time()
    for _ in range(20):
        garbage(port, '127.0.0.4')
    rows = wait_rows(env, '127.0.0.4', 1)
    check(len(rows) == 1 and rows[0], '20 failed handshakes: one security_audit row (%r)' % rows)
    time.sleep(max(0, 61 - (time.time() - t0)))
    garbage(port, '127.0.0.4')
    rows = wait_rows(env, '127.0.0.4', 2)
    check(len(rows) == 2 and '19 more' in rows[1],
          'a minute later, a second row counts the 19 not recorded (%r)' % rows[1:])


TESTS = [test_one_address_cannot_starve_the_others, test_tls_failures_are_audited_once_a_minute]


def main():
    os.environ['SIKHNAS_HUB'] = os.path.abspath(sys.argv[1])
    failed = 0
    with hubtest.Env(max_conns_per_addr=None) as env:      # the hub's own defaults
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
