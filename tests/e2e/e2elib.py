"""e2elib.py - helpers for the node <-> hub end-to-end tests: a fault-injecting
TCP proxy, case-report generators and PostgreSQL counts. It reuses
tests/sync/hubtest.py (PostgreSQL + sikhnas-hub over TLS) and
tests/lib/nodetest.py (a real sikhnas-node store). Python 3 stdlib only."""
import json
import os
import random
import socket
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
sys.path.insert(0, os.path.join(HERE, '..', 'sync'))
import hubtest  # noqa: E402
import nodetest  # noqa: E402

AREAS = os.path.abspath(os.path.join(HERE, '..', 'data', 'idn-area'))
hubtest.AREAS_DIR = AREAS


def enroll(env, node, name=None):
    """Registers node with the hub (`sikhnas-hub node add`) and enrols it
    with the one-time token (`sikhnas-node enroll`), as an operator would."""
    name = name or 'node-' + os.path.basename(node.tmp)
    token = env.hub.run_cmd('node', 'add', '--district', node.district,
                            '--name', name).stdout.strip()
    enroll_with(env, node, token)
    return name


def enrolled_node(env, exe, tmp, district='3201'):
    """A new node store (in a directory of its own under tmp), enrolled."""
    node = nodetest.Node(exe, district=district, tmp=tempfile.mkdtemp(dir=tmp))
    enroll(env, node)
    return node


def enroll_with(env, node, token):
    """`sikhnas-node enroll` with token; asserts that it worked."""
    r = node.run('enroll', '--hub', 'https://127.0.0.1:%d' % env.hub.port, '--token', token,
                 '--ca', env.hub.ca)
    assert r.returncode == 0, 'enroll failed: %s' % r.stderr


class Proxy:
    """TCP proxy on 127.0.0.1 in front of port `target`. Faults, for the next
    `times` connections: cut_up=N closes both sides after N bytes from the
    client (mid-request); cut_down=N after N bytes from the server that come
    once the client has sent more than after_up bytes (with after_up past the
    TLS handshake, that is mid-response, after the hub has acted); hold=True
    keeps those server bytes instead (counted in `held`), so the client waits
    for an answer the hub has already given."""

    def __init__(self, target):
        self.target = target
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(('127.0.0.1', 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.faults = []          # list of (cut_up, cut_down), one per future connection
        self.cuts = 0
        self.held = 0
        self.conns = 0
        self.closed = False
        self.rate = None          # bytes/s from the client, None: as fast as it goes
        threading.Thread(target=self._accept, daemon=True).start()

    def fault(self, cut_up=None, cut_down=None, after_up=0, times=1, hold=False):
        with self.lock:
            self.faults = [(cut_up, cut_down, after_up, hold)] * times

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                f = self.faults.pop(0) if self.faults else (None, None, 0, False)
                self.conns += 1
            try:
                u = socket.create_connection(('127.0.0.1', self.target), timeout=5)
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            state = {'up': 0, 'after_up': f[2], 'hold': f[3]}
            threading.Thread(target=self._pump, args=(c, u, f[0], state, True),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c, f[1], state, False),
                             daemon=True).start()

    def _pump(self, src, dst, cut, state, up):
        n = 0
        try:
            while True:
                rate = self.rate if up else None
                data = src.recv(max(1, rate // 20) if rate else 65536)
                if not data:
                    break
                if rate:
                    time.sleep(len(data) / rate)
                if up:
                    state['up'] += len(data)
                elif state['up'] <= state['after_up']:
                    dst.sendall(data)       # the handshake: not counted
                    continue
                elif state['hold']:
                    with self.lock:
                        self.held += len(data)
                    continue
                if cut is not None and n + len(data) >= cut:
                    dst.sendall(data[:max(0, cut - n)])
                    with self.lock:
                        self.cuts += 1
                    break
                dst.sendall(data)
                n += len(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self):
        self.closed = True
        self.lsock.close()


def report(village='3201011001', i=0, **kw):
    r = {'kind': 'U', 'village': village, 'signs': ['KBG'],
         'animals': [{'species': 'SP', 'sick': 1 + i % 7, 'dead': i % 3, 'at_risk': 10 + i % 50}],
         'event_date': '2026-11-%02d' % (1 + i % 20), 'lat': -6.59, 'lon': 106.80}
    r.update(kw)
    return r


def write_jsonl(path, n, villages, seed=1):
    rnd = random.Random(seed)
    with open(path, 'w') as f:
        for i in range(n):
            f.write(json.dumps(report(rnd.choice(villages), i)) + '\n')
    return path


def pg_counts(pg, node_id, table='case_report'):
    """(rows, distinct ids) that node_id has in table centrally."""
    out = pg.psql("SELECT count(*), count(DISTINCT id) FROM %s WHERE origin = '%s'"
                  % (table, node_id))
    a, b = out.split('|')
    return int(a), int(b)


def wait_for(pred, timeout=30, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def run_tests(tests, want, env, after_failure=None):
    """Runs the tests named in want (all when empty; with or without their
    test_ prefix) one after the other, prints ok/FAIL lines and a count,
    calls after_failure() after a failed one, closes env; returns the exit
    status."""
    import traceback
    passed = failed = 0
    try:
        for t in tests:
            if want and t.__name__ not in want and t.__name__[5:] not in want:
                continue
            t0 = time.time()
            try:
                t()
                passed += 1
                print('ok   %s (%.1f s)' % (t.__name__, time.time() - t0), flush=True)
            except Exception:
                failed += 1
                print('FAIL %s (%.1f s)' % (t.__name__, time.time() - t0), flush=True)
                traceback.print_exc()
                if after_failure:
                    after_failure()
    finally:
        env.close()
    print('%d passed, %d failed' % (passed, failed))
    return 1 if failed else 0
