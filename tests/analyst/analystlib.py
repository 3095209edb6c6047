"""analystlib.py - a real central for the analysts' tests: a throwaway
PostgreSQL + PostGIS primary (and, when asked, a hot standby made with
pg_basebackup -R), migrated and loaded with the test areas by the real
sikhnas-hub, a few accounts made with `sikhnas-web account add`, a small
set of records with known figures, and sikhnas-web serving HTTPS on port 0
with a certificate of a test CA. Python 3 standard library only (and the
openssl CLI).

    c = Central(web_exe, hub_exe, replica=True)
    c.start_web(upkeep=True)
    s = c.session('nat')              # logged in
    rows = s.data('weekly', area='32')
    c.close()
"""
import datetime
import http.client
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
sys.path.insert(0, os.path.join(HERE, '..', 'sync'))
import pgtemp  # noqa: E402
from hubtest import make_ca  # noqa: E402

AREAS = os.path.join(HERE, '..', 'data', 'idn-area')

# login -> (role, scope, password)
ACCOUNTS = {
    'nat': ('national', '', 'rahasia-nasional-1'),
    'jabar': ('province', '32', 'rahasia-jabar-2'),
    'bogor': ('district', '3201', 'rahasia-bogor-3'),
    'ops': ('operator', '', 'rahasia-ops-4'),
}


def monday(weeks_back=0):
    """The Monday of the ISO week weeks_back weeks before this one (UTC)."""
    d = datetime.date.today()
    return d - datetime.timedelta(days=d.weekday() + 7 * weeks_back)


W = monday


def case_sql(cid, village, kind, day, animals, syndrome=None, signs=(), point=None):
    geom = ('ST_SetSRID(ST_MakePoint(%f, %f), 4326)' % point) if point else 'NULL'
    return ("INSERT INTO case_report (id, origin, hlc, created_at, updated_at, ref, kind, village,"
            " syndrome, signs, animals, event_date, geom, src_node) VALUES ('%s', 'n-%s', 1, now(),"
            " now(), 'REF-%s', '%s', '%s', %s, '%s', '%s', '%s', %s, 'node-%s');" % (
                cid, village[:4], cid, kind, village,
                "'%s'" % syndrome if syndrome else 'NULL', json.dumps(list(signs)),
                json.dumps(animals), day.isoformat(), geom, village[:4]))


def seed_sql():
    """Records with known figures (docs in test_analyst.py)."""
    s = []
    a = W(1) + datetime.timedelta(days=1)       # last week's Tuesday
    s.append(case_sql('c1', '3201011001', 'U', a, [{'species': 'SP', 'sick': 3, 'dead': 1,
                                                    'at_risk': 20}], signs=['KBG'],
                      point=(106.80, -6.50)))
    s.append(case_sql('c2', '3201011002', 'P', a, [{'species': 'SP', 'sick': 1, 'dead': 2,
                                                    'at_risk': 10}], syndrome='MMD',
                      point=(106.85, -6.55)))
    s.append(case_sql('c3', '5101010001', 'U', a, [{'species': 'SP', 'sick': 7, 'dead': 3,
                                                    'at_risk': 50}], signs=['KBG'],
                      point=(114.60, -8.35)))
    # 3202 reported in each of the four weeks before last, not since: silent
    for k in range(2, 6):
        s.append(case_sql('s%d' % k, '3202011001', 'U', W(k), [{'species': 'KB', 'sick': 5,
                                                                'dead': 0}], signs=['DMM'],
                          point=(106.90, -6.90)))
    s.append("INSERT INTO case_followup (id, origin, hlc, created_at, updated_at, case_id, outcome,"
             " event_date, district) VALUES ('f1', 'n-3201', 2, now(), now(), 'c2', 'MS', '%s',"
             " '3201');" % (a + datetime.timedelta(days=2)).isoformat())
    s.append("INSERT INTO vaccination (id, origin, hlc, created_at, updated_at, program, disease,"
             " village, animals, event_date) VALUES ('v1', 'n-3201', 1, now(), now(), 'P1', 'ANT',"
             " '3201011001', '[{\"species\": \"SP\", \"primary\": 40, \"booster\": 10}]', '%s');"
             % a.isoformat())
    s.append("INSERT INTO population_report (id, origin, hlc, created_at, updated_at, village,"
             " animals, event_date) VALUES ('p1', 'n-3201', 1, now(), now(), '3201011001',"
             " '[{\"species\": \"SP\", \"n\": 200}]', '%s');" % W(10).isoformat())
    s.append("INSERT INTO movement_permit (id, origin, hlc, created_at, updated_at, permit_no,"
             " owner_id, from_area, to_area, animals, issue_date) VALUES ('m1', 'n-3201', 1, now(),"
             " now(), 'SK-1', 'O1', '3201011001', '3202011001', '[{\"species\": \"SP\", \"n\": 12}]',"
             " '%s');" % a.isoformat())
    s.append("INSERT INTO slaughter_report (id, origin, hlc, created_at, updated_at, abattoir,"
             " village, species, n_animals, event_date) VALUES ('r1', 'n-3201', 1, now(), now(),"
             " 'RPH', '3201011001', 'SP', 4, '%s');" % a.isoformat())
    # a reference a spreadsheet would run as a formula
    s.append("UPDATE case_report SET ref = '=1+1' WHERE id = 'c3';")
    s.append("INSERT INTO conflict_log (tbl, row_id, winner_node, winner_hlc, loser_node,"
             " loser_hlc, winner, loser) VALUES ('case_report', 'c1', 'node-3201', 5, 'central', 4,"
             " '{\"note\": \"won\"}', '{\"note\": \"lost\"}');")
    return '\n'.join(s)


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body.decode('utf-8'))


class Session:
    """An HTTPS client of sikhnas-web with its session cookie and CSRF token."""

    def __init__(self, central, cert=None):
        self.c = central
        self.cookie = None
        self.csrf = ''
        self.ctx = ssl.create_default_context(cafile=central.ca)
        if cert:
            self.ctx.load_cert_chain(*cert)

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPSConnection('127.0.0.1', self.c.port, context=self.ctx, timeout=60)
        h = dict(headers or {})
        if self.cookie:
            h['Cookie'] = self.cookie
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        sc = r.getheader('Set-Cookie')
        if sc:
            self.cookie = sc.split(';')[0]
        conn.close()
        return Response(r.status, r, data)

    def login(self, login, password):
        r = self.request('POST', '/api/login', json.dumps({'login': login, 'password': password}),
                         {'Content-Type': 'application/json'})
        if r.status == 200:
            self.csrf = r.json()['csrf']
        return r

    def get(self, name, **q):
        return self.request('GET', '/api/v1/data/%s?%s' % (name, urllib.parse.urlencode(q)))

    def data(self, name, **q):
        r = self.get(name, **q)
        if r.status != 200:
            raise AssertionError('%s: %d %s' % (name, r.status, r.body[:300]))
        return r.json()


class Central:
    def __init__(self, web_exe, hub_exe, replica=False):
        self.web_exe, self.hub_exe = web_exe, hub_exe
        self.tmp = tempfile.mkdtemp(prefix='sikhnas-analyst-')
        self.web = None
        self.pg = pgtemp.PgTemp().start()
        self.run([hub_exe, '--pg', self.pg.conninfo, 'migrate'])
        self.run([hub_exe, '--pg', self.pg.conninfo, 'refdata', 'load', '--areas', AREAS])
        for login, (role, scope, pw) in ACCOUNTS.items():
            args = ['account', 'add', login, '--name', 'Test %s' % login, '--role', role]
            if scope:
                args += ['--scope', scope]
            self.cli(args, pw + '\n')
        self.pg.psql(seed_sql())
        self.cli(['upkeep', '--once'])
        self.standby = None
        if replica:
            self.standby = pgtemp.Standby(self.pg).start()
            self.standby.wait_caught_up()
        self.ca, self.cert, self.key = make_ca(self.tmp)

    def run(self, argv, stdin=''):
        r = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError('%s: exit %d: %s' % (' '.join(argv[:4]), r.returncode, r.stderr))
        return r.stdout

    def cli(self, args, stdin='', check=True):
        argv = [self.web_exe, '--pg', self.pg.conninfo] + args
        if check:
            return self.run(argv, stdin)
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=120)

    def start_web(self, upkeep=False, client_ca=None, extra=('--cache-seconds', '0'),
                  verbose=False):
        argv = [self.web_exe] + (['-v'] if verbose else []) + ['--pg', self.pg.conninfo]
        if self.standby:
            argv += ['--pg-replica', self.standby.conninfo]
        argv += ['serve', '--listen', '127.0.0.1:0', '--tls-cert', self.cert, '--tls-key',
                 self.key, '--pg-conns', '3'] + list(extra)
        if upkeep:
            argv.append('--upkeep')
        if client_ca:
            argv += ['--client-ca', client_ca]
        self.web_log = open(os.path.join(self.tmp, 'web.log'), 'a')
        self.web = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.web_log, text=True)
        line = self.web.stdout.readline()
        if not line.startswith('listening https://'):
            self.stop_web()
            raise RuntimeError('sikhnas-web did not start: %r; log: %s' % (line, self.log()))
        self.port = int(line.strip().rsplit(':', 1)[1])
        return self

    def log(self):
        try:
            with open(os.path.join(self.tmp, 'web.log')) as f:
                return f.read()[-20000:]
        except OSError:
            return ''

    def stop_web(self):
        if self.web and self.web.poll() is None:
            self.web.terminate()
            try:
                self.web.wait(20)
            except subprocess.TimeoutExpired:
                self.web.kill()
                self.web.wait()
        rc = self.web.returncode if self.web else 0
        if self.web:
            self.web.stdout.close()
            self.web_log.close()
        self.web = None
        if rc not in (0, None):
            raise RuntimeError('sikhnas-web exited with %d: %s' % (rc, self.log()))
        errors = [l for l in self.log().splitlines() if ': error: ' in l]
        if errors and not getattr(self, 'errors_expected', False):
            raise RuntimeError('sikhnas-web logged errors: %s' % '\n'.join(errors))
        return rc

    def session(self, login=None, cert=None):
        s = Session(self, cert)
        if login:
            r = s.login(login, ACCOUNTS[login][2])
            if r.status != 200:
                raise AssertionError('login %s: %d %s' % (login, r.status, r.body))
        return s

    def sync_replica(self):
        if self.standby:
            self.standby.wait_caught_up()

    def close(self):
        try:
            self.stop_web()         # a leak or a crash at exit (ASan) fails the run
        finally:
            self._cleanup()

    def _cleanup(self):
        if self.standby:
            self.standby.cleanup()
        self.pg.cleanup()
        if os.environ.get('SIKHNAS_KEEP_TMP') != '1':
            shutil.rmtree(self.tmp, ignore_errors=True)
