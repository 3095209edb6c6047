#!/usr/bin/env python3
"""test-http.py - the web module's HTTP edges on raw sockets, against the
real daemon on port 0: caps (headers, body, connections, connections per
client address), keep-alive, pipelining, timeouts, bad requests, and the
API's refusals. 127.0.0.2 stands for a second office PC (all of 127/8 is
loopback on Linux).

usage: test-http.py NODE_EXE SOURCE_ROOT"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

NODE, SRC = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(SRC, 'tests', 'lib'))
import nodetest  # noqa: E402  (scratch directories, removed at exit)
PHONE, PASSWORD = '081211112222', 'kata-sandi-uji'
failures = 0


def check(ok, what):
    global failures
    print(('ok   ' if ok else 'FAIL ') + what)
    if not ok:
        failures += 1


def connect(port, src='127.0.0.1'):
    s = socket.create_connection(('127.0.0.1', port), timeout=5, source_address=(src, 0))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_response(s, buf=b''):
    """Reads one response; returns (status, headers, body, rest)."""
    while b'\r\n\r\n' not in buf:
        d = s.recv(65536)
        if not d:
            return None, {}, b'', b''
        buf += d
    head, buf = buf.split(b'\r\n\r\n', 1)
    lines = head.decode('latin-1').split('\r\n')
    status = int(lines[0].split()[1])
    hdrs = {k.lower(): v.strip() for k, v in (l.split(':', 1) for l in lines[1:])}
    n = int(hdrs.get('content-length', '0'))
    while len(buf) < n:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    return status, hdrs, buf[:n], buf[n:]


def closed(s, wait=3.0):
    s.settimeout(wait)
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def main():
    tmp = nodetest.scratch('sikhnas-http-')
    db = os.path.join(tmp, 'node.db')
    conf = os.path.join(tmp, 'node.ini')
    with open(conf, 'w') as f:
        f.write('[web]\nmax_connections = 6\nidle_timeout_s = 2\n')
    subprocess.run([NODE, '--db', db, 'init', '--district', '3201', '--areas',
                    os.path.join(SRC, 'tests/data/idn-area')], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([NODE, '--db', db, 'officer', 'add', '--name', 'Uji', '--phone', PHONE,
                    '--role', 'clerk', '--password-stdin'], input=PASSWORD + '\n', text=True,
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([NODE, '--db', db, 'officer', 'add', '--name', 'Pelapor', '--phone',
                    '081255556666', '--role', 'reporter', '--village', '3201011006',
                    '--password-stdin'], input='sandi-pelapor\n', text=True, check=True,
                   stdout=subprocess.DEVNULL)
    r = subprocess.run([NODE, '--db', db, 'officer', 'add', '--name', 'Pendek', '--phone',
                        '081233334444', '--role', 'viewer', '--password-stdin'],
                       input='pendek\n', text=True, capture_output=True)
    check(r.returncode == 65 and 'password' in r.stderr, 'a short password is refused (exit 65)')
    d = subprocess.Popen([NODE, '--db', db, '--config', conf, 'run', '--listen', '127.0.0.1:0'],
                         stderr=subprocess.PIPE, text=True)
    try:
        port = None
        t0 = time.time()
        while port is None and time.time() - t0 < 20:
            m = re.search(r'listening on http://127\.0\.0\.1:(\d+)', d.stderr.readline())
            if m:
                port = int(m.group(1))
        check(port is not None, 'the daemon logs the port it bound')
        os.set_blocking(d.stderr.fileno(), False)

        s = connect(port)
        s.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /app.js HTTP/1.1\r\nHost: x\r\n\r\n')
        st1, h1, b1, rest = read_response(s)
        st2, h2, b2, rest = read_response(s, rest)
        check(st1 == 200 and b'<html' in b1 and st2 == 200 and 'javascript' in h2['content-type'],
              'two pipelined requests, two answers in order')
        check("default-src 'self'" in h1.get('content-security-policy', ''),
              'pages carry a Content-Security-Policy')
        s.sendall(b'HEAD / HTTP/1.1\r\nHost: x\r\n\r\n')
        s.settimeout(2)
        head = s.recv(65536)
        check(head.startswith(b'HTTP/1.1 200') and head.endswith(b'\r\n\r\n'),
              'HEAD: headers only, on the same keep-alive connection')
        s.close()

        s = connect(port)
        s.sendall(b'GET / HTTP/1.1\r\nHost: x\r\nX-Big: ' + b'a' * 9000 + b'\r\n\r\n')
        st, _, _, _ = read_response(s)
        check(st == 431 and closed(s), 'headers over 8 KiB: 431 and closed')

        s = connect(port)
        s.sendall(b'POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
                  b'Content-Length: 70000\r\n\r\n')
        st, _, _, _ = read_response(s)
        check(st == 413 and closed(s), 'a body over 64 KiB: 413 before it is sent')

        s = connect(port)
        s.sendall(b'POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
                  b'Transfer-Encoding: chunked\r\n\r\n')
        for _ in range(20):
            try:
                s.sendall(b'1000\r\n' + b'a' * 4096 + b'\r\n')
            except (BrokenPipeError, ConnectionResetError):
                break
        st, _, _, _ = read_response(s)
        check(st == 413, 'a chunked body over 64 KiB: 413')
        s.close()

        s = connect(port)
        s.sendall(b'NONSENSE\r\n\r\n')
        st, _, _, _ = read_response(s)
        check(st == 400 and closed(s), 'a malformed request: 400 and closed')

        s = connect(port)
        s.sendall(b'GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\nGET /api/v1/login HTTP/1.1\r\nHost: x\r\n\r\n')
        st1, _, _, rest = read_response(s)
        st2, _, _, _ = read_response(s, rest)
        check(st1 == 404 and st2 == 405, 'unknown path 404, wrong method 405')
        t0 = time.time()
        check(closed(s, 6) and 1.5 < time.time() - t0 < 5, 'an idle keep-alive connection closes '
              'after web.idle_timeout_s (%.1f s)' % (time.time() - t0))

        # the rest of a pipelined request comes after the answer to the first
        s = connect(port)
        s.sendall(b'GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\nGET /nowhere2 HT')
        st1, _, _, rest = read_response(s)
        time.sleep(0.2)
        s.sendall(b'TP/1.1\r\nHost: x\r\n\r\n')
        s.settimeout(1.5)
        try:
            st2, _, _, _ = read_response(s, rest)
        except socket.timeout:
            st2 = None
        check(st1 == 404 and st2 == 404, 'a pipelined request cut after its answer is read '
              'and answered at once (%s)' % st2)
        s.close()

        for target in (b'http://x/', b'*'):
            s = connect(port)
            s.sendall(b'GET %s HTTP/1.1\r\nHost: x\r\n\r\n' % target)
            st, _, _, _ = read_response(s)
            check(st == 400 and closed(s), 'request target %r: 400 and closed' % target)

        socks = [connect(port) for _ in range(6)]
        time.sleep(0.3)
        extra = connect(port)
        check(closed(extra, 2), 'the 7th connection is closed at once (web.max_connections = 6)')
        for x in socks:
            x.close()
        time.sleep(0.3)

        # the API: log in, then refusals of bad bodies
        s = connect(port)
        body = json.dumps({'phone': PHONE, 'password': PASSWORD}).encode()
        s.sendall(b'POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
                  b'Content-Length: %d\r\n\r\n%s' % (len(body), body))
        st, h, b, _ = read_response(s)
        cookie = h.get('set-cookie', '')
        check(st == 200 and 'HttpOnly' in cookie and 'SameSite=Strict' in cookie,
              'login: 200 with an HttpOnly SameSite=Strict cookie')
        sid = cookie.split(';')[0]
        csrf = json.loads(b)['csrf']

        def post(path, payload, lang='id'):
            raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            s.sendall(b'POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
                      b'Cookie: %s\r\nX-CSRF-Token: %s\r\nAccept-Language: %s\r\n'
                      b'Content-Length: %d\r\n\r\n%s' % (path.encode(), sid.encode(),
                                                         csrf.encode(), lang.encode(), len(raw), raw))
            st, _, b, _ = read_response(s)
            return st, json.loads(b) if b else None

        st, j = post('/api/v1/reports', b'{not json')
        check(st == 422 and j['error']['code'] == 'syntax', 'a body that is not JSON: 422 syntax')
        st, j = post('/api/v1/reports', {'kind': 'P', 'village': '3201011006', 'syndrome': 'MMU',
                                         'animals': [{'species': 'AY', 'sick': 1}],
                                         'event_date': '2026-01-02', 'colour': 'red'})
        check(st == 422 and j['error']['code'] == 'unknown_field' and j['error']['field'] == 'colour',
              'an unknown field: 422 unknown_field')
        st, j = post('/api/v1/reports', {'kind': 'P', 'village': '3201011006', 'syndrome': 'MMU',
                                         'animals': [{'species': 'AY', 'sick': 1}],
                                         'event_date': '2099-01-02'}, 'en')
        check(st == 422 and j['error']['field'] == 'event_date' and 'future' in j['error']['message'],
              'a future date: 422 in English: ' + j['error']['message'])
        st, j = post('/api/v1/vaccinations', {'program': 'AI-1', 'village': '3201011006',
                                              'animals': [{'species': 'AY', 'primary': -1}],
                                              'event_date': '2026-01-02'})
        check(st == 422 and j['error']['field'].startswith('animals[0]'),
              'a negative vaccination count: 422 on animals[0]')
        st, j = post('/api/v1/followups', {'case_ref': '3201-999999', 'outcome': 'SB',
                                           'event_date': '2026-01-02'})
        check(st == 422 and j['error']['field'] == 'case_ref', 'a follow-up of an unknown case: 422')
        st, j = post('/api/v1/followups', {'outcome': 'SB', 'event_date': '2026-01-02'})
        check(st == 422 and j['error']['field'] == 'case_ref' and j['error']['code'] == 'required',
              'a follow-up without a case: 422 required on case_ref')
        st, j = post('/api/v1/reports', {'kind': 'P', 'village': '3201011006', 'syndrome': 'MMU',
                                         'animals': [{'species': 'AY', 'sick': 1}],
                                         'event_date': '2026-01-02'})
        check(st == 201 and re.match(r'3201-\d{6}$', j['ref']), 'a good report: 201 ' + str(j))
        ref = j['ref']
        st, j = post('/api/v1/followups', {'case_ref': ref, 'outcome': 'SB',
                                           'event_date': '2026-01-03'})
        check(st == 201, 'a follow-up of that case: 201')
        st, j = post('/api/v1/movements', {'owner_id': '0812777', 'from_area': '3201011006',
                                           'to_area': '3202', 'animals': [{'species': 'SP', 'n': 2}],
                                           'issue_date': '2026-01-03'})
        check(st == 201 and j['ref'].startswith('3201-SK-'), 'a movement permit: 201 ' + str(j))
        s.sendall(b'GET /api/v1/movements HTTP/1.1\r\nHost: x\r\nCookie: %s\r\n\r\n' % sid.encode())
        st, _, b, _ = read_response(s)
        rows = json.loads(b)
        check(st == 200 and rows[0]['sync'] == 'queued' and rows[0]['animals'][0]['n'] == 2,
              'the movement list shows it queued')
        s.sendall(b'GET /api/v1/session HTTP/1.1\r\nHost: x\r\nCookie: other=1; %sX\r\n\r\n'
                  % sid.encode())
        st, _, _, _ = read_response(s)
        check(st == 401, 'a session token with a character more is not a session: %d' % st)
        s.sendall(b'GET /api/v1/session HTTP/1.1\r\nHost: x\r\nCookie: other=1; %s\r\n\r\n'
                  % sid.encode())
        st, _, _, _ = read_response(s)
        check(st == 200, 'the token among other cookies is found: %d' % st)
        s.close()

        # a village reporter: case reports of the own village only, no other kinds
        s = connect(port)
        body = json.dumps({'phone': '081255556666', 'password': 'sandi-pelapor'}).encode()
        s.sendall(b'POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
                  b'Content-Length: %d\r\n\r\n%s' % (len(body), body))
        st, h, b, _ = read_response(s)
        sid = h.get('set-cookie', '').split(';')[0]
        csrf = json.loads(b)['csrf']
        report = {'kind': 'U', 'signs': ['DMM'], 'animals': [{'species': 'SP', 'sick': 1}],
                  'event_date': '2026-01-02'}
        st, j = post('/api/v1/reports', dict(report, village='3201011007'))
        check(st == 403 and j['error']['code'] == 'not_own_village',
              'a reporter may not report for another village: %d' % st)
        st, j = post('/api/v1/reports', dict(report, village='3201011006'))
        check(st == 201, 'a reporter reports for the own village: %d' % st)
        st, j = post('/api/v1/populations', {'village': '3201011006', 'event_date': '2026-01-02',
                                             'animals': [{'species': 'SP', 'n': 3}]})
        check(st == 403 and j['error']['code'] == 'forbidden', 'a reporter may not post other kinds')
        s.sendall(b'GET /api/v1/reports?q=3201-000002 HTTP/1.1\r\nHost: x\r\nCookie: %s\r\n\r\n'
                  % sid.encode())
        st, _, b, _ = read_response(s)
        rows = json.loads(b)
        check(st == 200 and len(rows) == 1 and rows[0]['reporter'] == '+6281255556666',
              "the reporter's report carries the reporter's phone")
        # a map pin: stored as a SpatiaLite point by the node, read back for
        # the list and as GeoJSON for the map
        st, j = post('/api/v1/reports', {'kind': 'P', 'village': '3201011006', 'syndrome': 'MMU',
                                         'animals': [{'species': 'AY', 'sick': 1}],
                                         'event_date': '2026-01-02', 'lat': -6.4817,
                                         'lon': 106.854})
        pin_ref = j['ref'] if st == 201 else None
        s.sendall(b'GET /api/v1/map?days=3660 HTTP/1.1\r\nHost: x\r\nCookie: %s\r\n\r\n'
                  % sid.encode())
        st, _, b, _ = read_response(s)
        feats = [f for f in json.loads(b)['features'] if f['properties']['ref'] == pin_ref]
        check(st == 200 and len(feats) == 1 and feats[0]['geometry'] ==
              {'type': 'Point', 'coordinates': [106.854, -6.4817]},
              'the map: GeoJSON point of the pinned report: ' + str(feats))
        s.sendall(b'GET /api/v1/reports?q=%s HTTP/1.1\r\nHost: x\r\nCookie: %s\r\n\r\n'
                  % (str(pin_ref).encode(), sid.encode()))
        st, _, b, _ = read_response(s)
        rows = json.loads(b)
        check(st == 200 and len(rows) == 1 and rows[0]['lat'] == -6.4817 and
              rows[0]['lon'] == 106.854, 'the list: lat and lon of the pinned report')
        s.close()

        d.send_signal(signal.SIGTERM)
        rc = d.wait(timeout=20)
        check(rc == 0, 'SIGTERM: the daemon stops cleanly (exit %d)' % rc)
    finally:
        if d.poll() is None:
            d.kill()
    per_address(db)
    print('%d failures' % failures)
    return 1 if failures else 0


def drain(p):
    """What p wrote to stderr so far (the pipe is non-blocking)."""
    out = b''
    while True:
        try:
            c = os.read(p.stderr.fileno(), 65536)
        except BlockingIOError:
            break
        if not c:
            break
        out += c
    return out.decode('utf-8', 'replace')


def per_address(db):
    """The default settings: one address that opens 300 connections and
    sends nothing holds web.max_conns_per_addr (32) of them, the rest are
    closed at accept, the log says so once, another address is served at
    once, and the 32 go after web.first_request_s (10 s), not after
    web.idle_timeout_s (30 s)."""
    d = subprocess.Popen([NODE, '--db', db, 'run', '--listen', '127.0.0.1:0'],
                         stderr=subprocess.PIPE, text=True)
    try:
        port = None
        t0 = time.time()
        while port is None and time.time() - t0 < 20:
            m = re.search(r'listening on http://127\.0\.0\.1:(\d+)', d.stderr.readline())
            if m:
                port = int(m.group(1))
        os.set_blocking(d.stderr.fileno(), False)
        t0 = time.time()
        flood = [connect(port) for _ in range(300)]
        time.sleep(1.0)
        for x in flood:
            x.setblocking(False)
        gone = []
        for x in flood:
            try:
                gone.append(x.recv(1) == b'')
            except BlockingIOError:
                gone.append(False)
            except ConnectionResetError:
                gone.append(True)
        check(gone.count(False) == 32, 'one address keeps 32 of 300 connections '
              '(web.max_conns_per_addr), the others are closed at accept (%d kept)'
              % gone.count(False))
        t1 = time.time()
        try:
            s = connect(port, '127.0.0.2')
            s.sendall(b'GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n')
            st, _, _, _ = read_response(s)
            s.close()
        except OSError:
            st = None
        check(st == 404 and time.time() - t1 < 1, 'meanwhile 127.0.0.2 is served at once (%s)' % st)
        log = drain(d)
        n = log.count('127.0.0.1 holds 32 connections')
        check(n == 1, 'the refusals are logged once, with the reason (%d lines)' % n)
        kept = [x for x, g in zip(flood, gone) if not g]
        for x in kept:
            x.setblocking(True)
        ok = all(closed(x, max(0.1, 14 - (time.time() - t0))) for x in kept)
        t = time.time() - t0
        check(ok and 8 < t < 14, 'connections that never send a request close after '
              'web.first_request_s (%.1f s)' % t)
        for x in flood:
            x.close()
        s = connect(port)
        s.sendall(b'GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n')
        st, _, _, _ = read_response(s)
        check(st == 404, 'then the address is served again')
        s.close()
        d.send_signal(signal.SIGTERM)
        d.wait(timeout=20)
    finally:
        if d.poll() is None:
            d.kill()


if __name__ == '__main__':
    sys.exit(main())
