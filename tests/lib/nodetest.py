"""nodetest.py - helpers for tests that drive the real sikhnas-node binary
on real SQLite files in a temporary directory (Python 3 standard library).

Every directory a test makes comes from scratch(): one root per test
process under $TMPDIR (else /tmp), removed with everything in it when the
process exits, whether the tests passed or failed, and on SIGTERM (meson's
timeout). SIKHNAS_KEEP_TMP=1 keeps it for a post-mortem and says where."""
import atexit
import csv
import http.client
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
AREAS = os.path.join(HERE, '..', 'data', 'idn-area')
KEEP_TMP = os.environ.get('SIKHNAS_KEEP_TMP') == '1'

_root = None


def _remove_root():
    if _root is None:
        return
    if KEEP_TMP:
        sys.stderr.write('kept the test files in %s (SIKHNAS_KEEP_TMP=1)\n' % _root)
    else:
        shutil.rmtree(_root, ignore_errors=True)


def _on_sigterm(signum, frame):
    sys.exit(128 + signum)          # unwinds: finally blocks stop daemons, atexit removes


def scratch(prefix='sikhnas-'):
    """A new empty directory for a test's files, under this process's
    scratch root (made on first use); see the module doc for its removal."""
    global _root
    if _root is None:
        _root = tempfile.mkdtemp(prefix='sikhnas-test-')
        atexit.register(_remove_root)
        if (threading.current_thread() is threading.main_thread() and
                signal.getsignal(signal.SIGTERM) is signal.SIG_DFL):
            signal.signal(signal.SIGTERM, _on_sigterm)
    return tempfile.mkdtemp(prefix=prefix, dir=_root)


class Node:
    """One store in a temp dir and the binary that works on it."""

    def __init__(self, exe, district='3201', init=True, tmp=None):
        self.exe = exe
        self.tmp = tmp or scratch('sikhnas-node-')
        self.db = os.path.join(self.tmp, 'node.db')
        self.district = district
        if init:
            r = self.run('init', '--district', district, '--areas', AREAS)
            assert r.returncode == 0, r.stderr

    def run(self, *args, input=None, timeout=60, env=None):
        e = dict(os.environ)
        e.update(env or {})
        return subprocess.run([self.exe, '--db', self.db] + list(args), input=input,
                              capture_output=True, text=True, timeout=timeout, env=e)

    def add_report(self, report, timeout=60):
        text = report if isinstance(report, str) else json.dumps(report)
        return self.run('report', 'add', input=text, timeout=timeout)

    def status(self):
        r = self.run('status', '--json')
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def sql(self, query, args=()):
        """Read-only look at the store (no SpatiaLite functions)."""
        con = sqlite3.connect('file:%s?mode=ro' % self.db, uri=True, timeout=30)
        try:
            return con.execute(query, args).fetchall()
        finally:
            con.close()

    def counts(self):
        """Everything a refused write must leave unchanged."""
        tables = ['case_report', 'officer', 'outbox', 'meta', 'case_followup',
                  'vaccination', 'population_report', 'movement_permit']
        return {t: self.sql('SELECT count(*) FROM %s' % t)[0][0] for t in tables} | {
            'ref_seq': self.sql("SELECT value FROM meta WHERE key = 'ref_seq'")}


class Daemon:
    """`sikhnas-node run --listen 127.0.0.1:0` on a Node's store; the port
    comes from the daemon's log line. Use as a context manager."""

    def __init__(self, node, conf=None, args=()):
        cmd = [node.exe, '--db', node.db] + (['--config', conf] if conf else []) + \
            ['run', '--listen', '127.0.0.1:0'] + list(args)
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        self.port = None
        self.log = ''
        deadline = time.time() + 20
        while self.port is None and time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.log += line
            m = re.search(r'listening on http://127\.0\.0\.1:(\d+)', line)
            if m:
                self.port = int(m.group(1))
        if self.port is None:
            self.stop()
            raise RuntimeError('the daemon did not report its port: ' + self.log)
        os.set_blocking(self.proc.stderr.fileno(), False)

    def stop(self):
        """SIGTERM; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Client:
    """One officer's HTTP client of a Daemon, from a chosen loopback source
    address (127.0.0.2 ... are all this host on Linux)."""

    def __init__(self, port, source='127.0.0.1', lang='id'):
        self.port, self.source, self.lang = port, source, lang
        self.cookie = self.csrf = None

    def request(self, method, path, body=None, headers=None):
        """Returns (status, headers as a dict, body bytes)."""
        c = http.client.HTTPConnection('127.0.0.1', self.port, timeout=30,
                                       source_address=(self.source, 0))
        h = {'Accept-Language': self.lang}
        if body is not None:
            h['Content-Type'] = 'application/json'
        if self.cookie:
            h['Cookie'] = self.cookie
        if self.csrf:
            h['X-CSRF-Token'] = self.csrf
        h.update(headers or {})
        raw = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        try:
            c.request(method, path, body=raw, headers=h)
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def login(self, phone, password):
        """Returns (status, JSON answer); keeps the session on success."""
        st, h, b = self.request('POST', '/api/v1/login', {'phone': phone, 'password': password})
        if st == 200:
            self.cookie = h['set-cookie'].split(';')[0]
            self.csrf = json.loads(b)['csrf']
        return st, json.loads(b) if b else None

    def post(self, path, body):
        """body: a dict, or raw bytes. Returns (status, JSON answer)."""
        st, _, b = self.request('POST', path, body)
        return st, json.loads(b) if b else None

    def get(self, path):
        st, _, b = self.request('GET', path)
        return st, json.loads(b) if b else None


def villages(district='3201'):
    """The village codes (10 digits) of a district in the test subset."""
    with open(os.path.join(AREAS, 'villages.csv'), newline='') as fp:
        return [r['code'].replace('.', '') for r in csv.DictReader(fp)
                if r['code'].replace('.', '').startswith(district)]


SIGNS = ['KBG', 'DMM', 'DIA', 'BTK', 'NFM', 'LMS', 'PCG', 'ILR']
SPECIES = ['SP', 'KR', 'KB', 'DB', 'AY', 'IT', 'BB', 'AJ']
SYNDROMES = ['MMU', 'MMD', 'GGK', 'DPB', 'KSB', 'KBD', 'PAL', 'PLB']


def make_animals(rng, species):
    """Counts that agree (docs/data-model.md, "Counts"): at least one sick,
    and at_risk either 0 (not counted, one time in ten) or at least sick +
    dead. As many draws from rng as before the rule, so a seed still gives
    the same villages, dates and codes."""
    sick, dead, extra = rng.randint(1, 30), rng.randint(0, 5), rng.randint(0, 200)
    return {'species': species, 'sick': sick, 'dead': dead,
            'at_risk': 0 if extra < 20 else sick + dead + extra}


def make_report(rng, vills, i=0):
    """A plausible case report, different for every i."""
    r = {
        'village': rng.choice(vills),
        'animals': [make_animals(rng, s) for s in rng.sample(SPECIES, rng.randint(1, 2))],
        'event_date': '2026-%02d-%02d' % (rng.randint(1, 10), rng.randint(1, 28)),
        'lat': round(-6.4 - rng.random() * 0.4, 5),
        'lon': round(106.6 + rng.random() * 0.5, 5),
        'note': 'laporan %d dari desa' % i,
    }
    if rng.random() < 0.8:
        r['kind'] = 'U'
        r['signs'] = rng.sample(SIGNS, rng.randint(1, 3))
    else:
        r['kind'] = 'P'
        r['syndrome'] = rng.choice(SYNDROMES)
    return r


def write_jsonl(path, n, seed=1, district='3201', bad_every=0):
    """n lines of case reports; with bad_every, every bad_every-th line is bad.
    Returns the line numbers (1-based) of the bad lines."""
    rng = random.Random(seed)
    vills = villages(district)
    bad = []
    with open(path, 'w') as fp:
        for i in range(1, n + 1):
            if bad_every and i % bad_every == 0:
                bad.append(i)
                kind = (i // bad_every) % 4
                if kind == 0:
                    fp.write('{"kind":"U", this is not json\n')
                    continue
                r = make_report(rng, vills, i)
                if kind == 1:
                    r['village'] = '3202011001'           # another district
                elif kind == 2:
                    r['animals'][0]['sick'] = -3
                else:
                    r['animals'][0].update(sick=500, at_risk=1)   # counts that conflict
                fp.write(json.dumps(r) + '\n')
            else:
                fp.write(json.dumps(make_report(rng, vills, i)) + '\n')
    return bad
