"""hubtest.py - helpers for the sikhnas-hub integration tests: a test CA and
server certificate made with the openssl CLI (EC P-256), the hub's node CA
(`sikhnas-hub ca init`), client certificates for test nodes, a running hub on
a free port, and a small HTTPS client that speaks docs/protocol.md.
Python 3 standard library only (and the openssl CLI)."""
import gzip
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
import pgtemp  # noqa: E402

AREAS_DIR = os.environ.get('SIKHNAS_AREAS', os.path.join(HERE, '..', 'data', 'idn-area'))


def make_ca(d):
    """Writes ca.pem, server.pem, server.key (EC P-256, CN/SAN 127.0.0.1) into d."""
    def ossl(*a):
        subprocess.run(['openssl'] + list(a), check=True, capture_output=True)
    ca_key, ca = os.path.join(d, 'ca.key'), os.path.join(d, 'ca.pem')
    key, csr, crt = (os.path.join(d, n) for n in ('server.key', 'server.csr', 'server.pem'))
    ext = os.path.join(d, 'san.ext')
    with open(ext, 'w') as f:
        f.write('subjectAltName=IP:127.0.0.1,DNS:localhost\n'
                'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n'
                'extendedKeyUsage=serverAuth\n')
    ossl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', ca_key)
    ossl('req', '-x509', '-new', '-key', ca_key, '-subj', '/CN=sikhnas test CA', '-days', '2',
         '-sha256', '-out', ca)
    ossl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key)
    ossl('req', '-new', '-key', key, '-subj', '/CN=127.0.0.1', '-out', csr)
    ossl('x509', '-req', '-in', csr, '-CA', ca, '-CAkey', ca_key, '-CAcreateserial',
         '-days', '2', '-sha256', '-extfile', ext, '-out', crt)
    return ca, crt, key


def hub_exe():
    exe = os.environ.get('SIKHNAS_HUB')
    if exe:
        return exe
    for cand in (os.path.join(HERE, '..', '..', '..', 'build-hub', 'hub', 'sikhnas-hub'),):
        if os.path.exists(cand):
            return os.path.abspath(cand)
    raise SystemExit('set SIKHNAS_HUB to the sikhnas-hub executable')


def psql(conninfo, sql):
    r = subprocess.run(['psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', conninfo, '-c', sql],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError('psql failed: %s\n%s' % (sql[:200], r.stderr))
    return r.stdout.strip()


class Hub:
    """A sikhnas-hub process bound to 127.0.0.1 on a free port. Its node CA
    is in DIR/nodeca; test nodes get certificates from node_cert()."""

    def __init__(self, exe, conninfo, tmpdir, conns=4, port=0, lifetime=None, enroll_rate=100000,
                 max_conns_per_addr=1024, handshake_timeout=None, extra_args=()):
        self.exe, self.conninfo, self.dir, self.conns = exe, conninfo, tmpdir, conns
        self.ca, self.cert, self.key = make_ca(tmpdir) if not os.path.exists(
            os.path.join(tmpdir, 'ca.pem')) else (os.path.join(tmpdir, 'ca.pem'),
                                                  os.path.join(tmpdir, 'server.pem'),
                                                  os.path.join(tmpdir, 'server.key'))
        self.nodeca_dir = os.path.join(tmpdir, 'nodeca')
        self.nodeca = os.path.join(self.nodeca_dir, 'ca.pem')
        self.nodeca_key = os.path.join(self.nodeca_dir, 'ca.key')
        self.lifetime, self.enroll_rate = lifetime, enroll_rate
        # tests and benchmarks connect many nodes from 127.0.0.1 (None: the hub's default)
        self.max_conns_per_addr, self.handshake_timeout = max_conns_per_addr, handshake_timeout
        self.extra_args = list(extra_args)      # more `run` options (e.g. --admit 1)
        self.port = port
        self.proc = None
        self.log = os.path.join(tmpdir, 'hub.log')
        self.certs = {}
        self.certs_lock = threading.Lock()
        subprocess.run([self.exe, 'ca', 'init', '--dir', self.nodeca_dir], check=True,
                       capture_output=True)

    def node_cert(self, node, district, days=2):
        """(cert, key) files for node: registered in the registry and signed
        by the node CA with openssl, as an enrolment would (fast: no token
        round trip). Cached per node."""
        return self.node_certs([(node, district)], days)[0]

    def node_certs(self, pairs, days=2):
        todo = [(n, d) for n, d in pairs if n not in self.certs]
        if todo:
            d = os.path.join(self.dir, 'nodes')
            os.makedirs(d, exist_ok=True)
            key = os.path.join(d, 'shared.key')
            with self.certs_lock:
                if not os.path.exists(key):
                    subprocess.run(['openssl', 'ecparam', '-name', 'prime256v1', '-genkey',
                                    '-noout', '-out', key], check=True, capture_output=True)

            def sign(nd):
                node, district = nd
                serial = '%032x' % (int.from_bytes(os.urandom(16), 'big') >> 2 | 1 << 125)
                crt = os.path.join(d, node + '.pem')
                subprocess.run(['openssl', 'req', '-new', '-x509', '-key', key, '-subj',
                                '/O=Sikhnas Edge/OU=%s/CN=%s' % (district, node), '-CA',
                                self.nodeca, '-CAkey', self.nodeca_key, '-days', str(days),
                                '-set_serial', '0x' + serial, '-addext',
                                'extendedKeyUsage=clientAuth', '-out', crt],
                               check=True, capture_output=True)
                return node, district, serial, crt
            with ThreadPoolExecutor(4) as ex:
                done = list(ex.map(sign, todo))
            values = ','.join("('%s','%s','%s')" % (n, dd, ser) for n, dd, ser, _ in done)
            psql(self.conninfo,
                 "WITH v(node, district, serial) AS (VALUES %s), "
                 "r AS (INSERT INTO node_registration (name, district, node_id) "
                 "SELECT node, district, node FROM v ON CONFLICT DO NOTHING) "
                 "INSERT INTO node_cert (serial, name, node_id, district, not_before, not_after, "
                 "via) SELECT serial, node, node, district, now() - interval '1 hour', "
                 "now() + interval '%d days', 'enrol' FROM v" % (values, days))
            with self.certs_lock:
                for n, _, _, crt in done:
                    self.certs[n] = (crt, key)
        return [self.certs[n] for n, _ in pairs]

    def run_cmd(self, *args):
        r = subprocess.run([self.exe, '--pg', self.conninfo] + list(args),
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError('sikhnas-hub %s failed: %s' % (' '.join(args), r.stderr))
        return r

    def start(self, wait_db=True):
        """Starts the hub; with wait_db, returns once /v1/health says 200."""
        logf = open(self.log, 'a')
        self.proc = subprocess.Popen(
            [self.exe] + os.environ.get('HUBTEST_LOG', '-v').split() +
            ['--pg', self.conninfo, 'run', '--listen',
             '127.0.0.1:%d' % self.port, '--tls-cert', self.cert, '--tls-key', self.key,
             '--client-ca', self.nodeca, '--enroll-rate', str(self.enroll_rate),
             '--pg-conns', str(self.conns)] +
            (['--cert-lifetime', str(self.lifetime)] if self.lifetime else []) +
            (['--max-conns-per-addr', str(self.max_conns_per_addr)]
             if self.max_conns_per_addr else []) +
            (['--handshake-timeout', str(self.handshake_timeout)]
             if self.handshake_timeout else []) + self.extra_args,
            stdout=subprocess.PIPE, stderr=logf, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith('listening '):
            raise RuntimeError('hub did not start: %r; log:\n%s' % (line, open(self.log).read()))
        self.port = int(line.split(':')[-1])
        if wait_db:
            self.wait_db()
        return self

    def wait_db(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                st, _, _ = self.request('GET', '/v1/health')
                if st == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError('hub never saw the database')

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        return rc

    def context(self, node=None, district=None, cert=None):
        """A client context; with node (and district), that node's certificate."""
        ctx = ssl.create_default_context(cafile=self.ca)
        if node:
            cert = self.node_cert(node, district)
        if cert:
            ctx.load_cert_chain(*cert)
        return ctx

    def tls_socket(self, node=None, district=None, port=None):
        """A raw TLS socket to the hub (with node's certificate when given),
        for requests http.client will not send (a body cut short, HEAD with
        a body's headers); read_answer() reads what comes back."""
        raw = socket.create_connection(('127.0.0.1', port or self.port), timeout=10)
        return self.context(node, district if node else None).wrap_socket(
            raw, server_hostname='127.0.0.1')

    def connection(self, port=None, node=None, district=None, cert=None):
        return http.client.HTTPSConnection('127.0.0.1', port or self.port,
                                           context=self.context(node, district, cert),
                                           timeout=30)

    def request(self, method, path, body=None, headers=None, conn=None, port=None):
        """Without conn, a new connection; when headers name a node
        (X-Sikhnas-Node, X-Sikhnas-District: see ident()), it presents that
        node's certificate, which is where the hub takes the identity from."""
        own = conn is None
        h = headers or {}
        c = conn or self.connection(port, h.get('X-Sikhnas-Node'),
                                    h.get('X-Sikhnas-District'))
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            enc = r.getheader('Content-Encoding')
            if enc == 'gzip':
                data = gzip.decompress(data)
            elif enc == 'zstd':
                data = subprocess.run(['zstd', '-dc'], input=data, capture_output=True,
                                      check=True).stdout
            hdrs = dict((k.lower(), v) for k, v in r.getheaders())
            return r.status, hdrs, json.loads(data) if data[:1] in (b'{', b'[') else data
        finally:
            if own:
                c.close()


def encode_batch(node, last_seq, tables, hlc=None, enc='gzip', base_seq=None):
    """tables: {name: (cols, rows)}. Returns (body bytes, headers) for a push."""
    doc = {'v': 1, 'node': node, 'last_seq': last_seq,
           'hlc': str(hlc if hlc is not None else now_hlc()),
           'tables': [{'table': t, 'cols': c, 'rows': r} for t, (c, r) in tables.items()]}
    if base_seq is not None:
        doc['base_seq'] = base_seq
    plain = json.dumps(doc, separators=(',', ':')).encode()
    if enc == 'gzip':
        body = gzip.compress(plain)
    elif enc == 'zstd':
        # with its content size in the frame, as a node's: the hub counts
        # a frame without one as the largest batch when it admits it
        body = subprocess.run(['zstd', '-3', '-c', '--stream-size=%d' % len(plain)], input=plain,
                              capture_output=True, check=True).stdout
    else:
        body = plain
    h = {'Content-Type': 'application/json',
         'X-Sikhnas-Digest': 'sha256=' + hashlib.sha256(body).hexdigest()}
    if enc != 'identity':
        h['Content-Encoding'] = enc
    return body, h


def read_answer(s, buf=b'', head_only=False):
    """One HTTP answer from socket s (buf: bytes already read): (status,
    headers with lower-case names, body, the bytes after it); status None
    when the connection closed first."""
    while b'\r\n\r\n' not in buf:
        d = s.recv(65536)
        if not d:
            return None, {}, b'', b''
        buf += d
    head, buf = buf.split(b'\r\n\r\n', 1)
    lines = head.decode('latin-1').split('\r\n')
    hdrs = {k.lower(): v.strip() for k, v in (line.split(':', 1) for line in lines[1:])}
    n = 0 if head_only else int(hdrs.get('content-length', '0'))
    while len(buf) < n:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    return int(lines[0].split()[1]), hdrs, buf[:n], buf[n:]


def ident(node, district):
    """Headers naming node: Hub.request() then presents the node's client
    certificate (the hub refuses a header that differs from it)."""
    return {'X-Sikhnas-Node': node, 'X-Sikhnas-District': district,
            'X-Sikhnas-HLC': str(now_hlc())}


def now_hlc():
    return int(time.time() * 1000) << 16


def uuid7(ms=None):
    """A UUIDv7 made now, or at ms (Unix milliseconds) as a node makes one
    for a record created then."""
    if ms is None:
        ms = int(time.time() * 1000)
    rnd = int.from_bytes(os.urandom(10), 'big')
    v = (ms << 80) | (0x7 << 76) | ((rnd >> 68) & 0xfff) << 64 | (0b10 << 62) | (rnd & ((1 << 62) - 1))
    return str(uuid.UUID(int=v))


CASE_COLS = ['seq', 'id', 'origin', 'hlc', 'deleted', 'created_at', 'updated_at', 'ref',
             'kind', 'village', 'syndrome', 'signs', 'animals', 'ddx', 'event_date',
             'reporter', 'note', 'lon', 'lat']


def case_row(seq, node, village='3201011001', hlc=None, rid=None, ref=None, **kw):
    """A valid case_report row for CASE_COLS; kw overrides cells by name."""
    row = {'seq': seq, 'id': rid or uuid7(), 'origin': node,
           'hlc': str(hlc if hlc is not None else now_hlc() + seq), 'deleted': 0,
           'created_at': '2026-11-28T10:00:00Z', 'updated_at': '2026-11-28T10:00:00Z',
           'ref': ref or '%s-%06d' % (village[:4], seq), 'kind': 'U', 'village': village,
           'syndrome': None, 'signs': ['DMM'],
           'animals': [{'species': 'SP', 'sick': 3, 'dead': 1, 'at_risk': 20}],
           'ddx': [], 'event_date': '2026-11-27', 'reporter': '+6281234567890',
           'note': None, 'lon': 106.8, 'lat': -6.6}
    row.update(kw)
    return [row[c] for c in CASE_COLS]


class Env:
    """PostgreSQL (migrated, reference data loaded) + a hub, in one temp dir."""

    def __init__(self, conns=4, areas=True, pg_settings=None, **hub_kw):
        self.pg = pgtemp.PgTemp(settings=pg_settings).start()
        self.dir = os.path.join(self.pg.dir, 'hub')
        os.makedirs(self.dir, exist_ok=True)
        self.hub = Hub(hub_exe(), self.pg.conninfo, self.dir, conns=conns, **hub_kw)
        self.hub.run_cmd('migrate')
        if areas:
            self.hub.run_cmd('refdata', 'load', '--areas', AREAS_DIR)
        self.hub.start()

    def close(self):
        try:
            self.hub.stop()
        finally:
            self.pg.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
