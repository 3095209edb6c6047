#!/usr/bin/env python3
"""test_worker.py - sikhnas-worker against a real PostgreSQL + PostGIS, the
real sikhnas-hub over TLS and a real SMTP server (python3-aiosmtpd, with
STARTTLS and AUTH required, tests/worker/smtptest.py).

usage: test_worker.py SIKHNAS_WORKER SIKHNAS_HUB SIKHNAS_NODE [-k NAME]

Time: delays are real except where a test says it scales them with
--time-scale (every delay of the worker multiplied by F): "SMTP down for
10 minutes" runs with F = 0.01, so its 10 minutes take 6 s."""
import csv
import hashlib
import io
import os
import signal
import socket
import subprocess
import sys
import time
import traceback

try:
    import aiosmtpd  # noqa: F401
except ImportError:       # a python3 other than Debian's (pyenv): use Debian's
    if sys.executable != '/usr/bin/python3' and os.path.exists('/usr/bin/python3'):
        os.execv('/usr/bin/python3', ['/usr/bin/python3'] + sys.argv)
    raise

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'sync'))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
sys.path.insert(0, os.path.join(HERE, '..', 'e2e'))
import e2elib  # noqa: E402
import hubtest  # noqa: E402
import nodetest  # noqa: E402
import pgtemp  # noqa: E402
import smtptest  # noqa: E402
from hubtest import CASE_COLS, case_row, encode_batch, ident, uuid7  # noqa: E402

WORKER = None
NODE = None
SEQ = {}


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def wait_for(pred, timeout, what, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError('timed out (%.0f s) waiting for %s' % (timeout, what))


def msgid(key):
    return '<%s.sikhnas@test.invalid>' % hashlib.sha256(key.encode()).hexdigest()[:32]


class Worker:
    """A sikhnas-worker process with its INI file."""

    def __init__(self, env, smtp, name='w', threads=2, scale=None, now=None, extra=''):
        self.dir = env.dir
        self.conf = os.path.join(self.dir, name + '.ini')
        with open(os.path.join(self.dir, 'smtp.pass'), 'w') as f:
            f.write(smtptest.PASSWORD + '\n')
        with open(self.conf, 'w') as f:
            f.write('[database]\nconninfo = %s\n\n[smtp]\nurl = smtp://127.0.0.1:%d\n'
                    'starttls = required\nusername = %s\npassword_file = %s\n'
                    'ca_file = %s\nfrom = alerts@test.invalid\nfrom_name = SIKHNAS Test\n'
                    'message_id_domain = test.invalid\ntimeout = 10\n\n[worker]\n'
                    'base_url = https://sikhnas.test\n%s' % (
                        env.pg.conninfo, smtp.port, smtptest.USER,
                        os.path.join(self.dir, 'smtp.pass'), env.hub.ca, extra))
        self.args = ['--threads', str(threads)] + (
            ['--time-scale', str(scale)] if scale else []) + (['--now', now] if now else [])
        self.log = os.path.join(self.dir, name + '.log')
        self.proc = None

    def cmd(self, *args, check_rc=True):
        r = subprocess.run([WORKER, '--config', self.conf] + list(args), capture_output=True,
                           text=True, timeout=60)
        if check_rc and r.returncode != 0:
            raise AssertionError('sikhnas-worker %s: %d %s' % (args, r.returncode, r.stderr))
        return r

    def start(self):
        self.proc = subprocess.Popen([WORKER, '-v', '--config', self.conf, 'run'] + self.args,
                                     stdout=subprocess.PIPE, stderr=open(self.log, 'a'),
                                     text=True)
        line = self.proc.stdout.readline()
        check(line.strip() == 'running', 'worker did not start: %r' % line)
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        return rc


def push(env, node, district, rows):
    seq = SEQ.get(node, 0) + len(rows)
    SEQ[node] = seq
    body, h = encode_batch(node, seq, {'case_report': (CASE_COLS, rows)})
    h.update(ident(node, district))
    st, _, js = env.hub.request('POST', '/v1/push', body, h)
    check(st == 200, 'push: %s %s' % (st, js))
    return js


def next_seq(node):
    return SEQ.get(node, 0) + 1


def job_states(env, where='true'):
    out = env.pg.psql("SELECT state, count(*) FROM job WHERE %s GROUP BY 1" % where)
    return dict((s, int(n)) for s, n in (ln.split('|') for ln in out.splitlines() if ln))


def alerts(smtp):
    """The priority alerts received (fleet alerts of other tests' nodes left out)."""
    return [m for _, m, _ in smtp.snapshot() if (m['X-Sikhnas-Job'] or '').startswith('alert:')]


def mails_for(smtp, key):
    return [m for _, m, _ in smtp.snapshot() if m['X-Sikhnas-Job'] == key]


# ------------------------------------------------------------------ tests

def test_alert_through_the_hub(env, smtp):
    """A P report pushed through the real hub: one email within 60 s to the
    province's and the national vets only, valid MIME, in Bahasa Indonesia,
    with the case, place, counts and link; U reports send nothing; an edit
    sends an update only when the counts or the syndrome change."""
    node = uuid7()
    w = Worker(env, smtp).start()
    try:
        before = len(alerts(smtp))
        seq = next_seq(node)
        p = case_row(seq, node, kind='P', syndrome='PAL', village='3201011001')
        u = case_row(seq + 1, node)
        t0 = time.time()
        push(env, node, '3201', [p, u])
        key = 'alert:' + p[1]
        m = wait_for(lambda: mails_for(smtp, key), 60, 'the alert email')
        # this node sends no health block (the old protocol): it synced all the same
        check(env.pg.psql("SELECT count(*) FROM node_health WHERE node_id = '%s'" % node) == '0'
              and env.pg.scalar("SELECT acked_seq FROM node WHERE node_id = '%s'" % node)
              == seq + 1, 'a node without the health block did not sync')
        took = time.time() - t0
        print('  alert delivered %.2f s after the batch landed' % took)
        check(took < 60, 'alert took %.1f s' % took)
        rcpt, msg, raw = [x for x in smtp.snapshot() if x[1]['X-Sikhnas-Job'] == key][0]
        check(sorted(rcpt) == ['dki@test.invalid', 'jabar@test.invalid', 'nas@test.invalid'],
              'recipients %s' % rcpt)
        check(msg['Message-ID'] == msgid(key), 'Message-ID %s' % msg['Message-ID'])
        check(not msg.defects and msg.get_body(('plain',)) is not None, msg.defects)
        body = msg.get_body(('plain',)).get_content()
        for want in ('Laporan sindrom prioritas', 'PAL', 'pincang, air liur, lepuh', p[7],
                     'Pondok Rajeg', 'Kabupaten Bogor', 'sakit 3, mati 1, berisiko 20',
                     'https://sikhnas.test/cases/' + p[1], 'Jawa Barat'):
            check(want in body, '%r not in the alert:\n%s' % (want, body))
        check('Sindrom prioritas PAL' in msg['Subject'], msg['Subject'])
        time.sleep(1)
        check(len(alerts(smtp)) == before + 1, 'more than one email for one P report')
        # an edit of the note only: no update
        p2 = list(p)
        p2[CASE_COLS.index('hlc')] = str(int(p[3]) + 1000)
        p2[CASE_COLS.index('note')] = 'catatan baru'
        p2[0] = next_seq(node)
        push(env, node, '3201', [p2])
        # the counts change: one update, following the first message
        p3 = list(p2)
        p3[CASE_COLS.index('hlc')] = str(int(p[3]) + 2000)
        p3[CASE_COLS.index('animals')] = [{'species': 'SP', 'sick': 9, 'dead': 4, 'at_risk': 20}]
        p3[0] = next_seq(node)
        push(env, node, '3201', [p3])
        upd = wait_for(lambda: [m for _, m, _ in smtp.snapshot()
                                if m['In-Reply-To'] == msgid(key)], 30, 'the update email')
        check(len(upd) == 1 and 'Pembaruan' in upd[0]['Subject'] and
              'sakit 9, mati 4' in upd[0].get_body(('plain',)).get_content(), 'update %s' % upd[0]['Subject'])
        # the same content again (a re-sent edit): nothing more
        p4 = list(p3)
        p4[CASE_COLS.index('hlc')] = str(int(p[3]) + 3000)
        p4[0] = next_seq(node)
        push(env, node, '3201', [p4])
        wait_for(lambda: job_states(env, "idem_key LIKE 'alert:%s%%'" % p[1]) == {'done': 2},
                 20, 'two alert jobs done')
        time.sleep(1)
        check(len(alerts(smtp)) == before + 2, 'emails: %d' % (len(alerts(smtp)) - before))
    finally:
        check(w.stop() == 0, 'worker exit status')


def test_kill9_while_sending(env, smtp):
    """kill -9 of the worker while the SMTP server holds its DATA: the job
    is taken again after the lease, delivered at least once, every copy
    with the same Message-ID, and nothing is lost from the queue."""
    node = uuid7()
    rows = [case_row(next_seq(node) + i, node, kind='P', syndrome='MMU',
                     village='3201011002') for i in range(3)]
    smtp.hold(2)
    w = Worker(env, smtp, threads=1, scale=0.05, extra='batch = 1\n').start()   # lease 6 s
    push(env, node, '3201', rows)
    check(smtp.data_started.wait(30), 'the worker never sent')
    # the job it was sending (an alert, or a fleet alert of an earlier test's node)
    pid = w.proc.pid
    w.stop(signal.SIGKILL)
    time.sleep(0.2)
    held = env.pg.psql("SELECT idem_key FROM job WHERE state = 'running' AND locked_by LIKE "
                       "'%%:%d:%%'" % pid)
    check(held.startswith(('alert:', 'fleet:')), 'no job held by the dead worker: %r' % held)
    w2 = Worker(env, smtp, name='w2', threads=1, scale=0.05).start()
    try:
        keys = ['alert:' + r[1] for r in rows]
        wait_for(lambda: all(mails_for(smtp, k) for k in keys), 60, 'all three alerts')
        wait_for(lambda: job_states(env, "idem_key IN (%s)" % ','.join(
            "'%s'" % k for k in keys)) == {'done': 3}, 30, 'three jobs done')
        try:
            wait_for(lambda: job_states(env, "idem_key = '%s'" % held) == {'done': 1}, 30,
                     'the held job done')
        except AssertionError:
            print(env.pg.psql("SELECT * FROM job WHERE idem_key = '%s'" % held))
            raise
        copies = mails_for(smtp, held)
        ids = set(m['Message-ID'] for m in copies)
        print('  held job delivered %d time(s), Message-IDs %s' % (len(copies), ids))
        check(len(copies) >= 1 and ids == {msgid(held)}, 'copies %s' % ids)
        for k in keys:
            if k != held:
                check(len(mails_for(smtp, k)) == 1, 'a job not held was sent twice')
        att = env.pg.scalar("SELECT attempts FROM job WHERE idem_key = '%s'" % held)
        check(att == 2, 'the held job took %s attempts' % att)
    finally:
        w2.stop()


def test_stop_gives_back_unstarted_jobs(env, smtp):
    """SIGTERM while a worker holds a batch: it finishes the job it is
    sending, gives back the ones it had not started (pending again at once,
    the attempt not counted) and exits 0; another worker sends them."""
    node = uuid7()
    rows = [case_row(next_seq(node) + i, node, kind='P', syndrome='KSB',
                     village='3201011001') for i in range(4)]
    env.pg.psql("UPDATE job SET state = 'cancelled' WHERE state IN ('pending', 'failed')")
    smtp.hold(2)
    w = Worker(env, smtp, name='stopper', threads=1).start()
    try:
        push(env, node, '3201', rows)
        check(smtp.data_started.wait(30), 'the worker never sent')
    finally:
        check(w.stop() == 0, 'exit status after SIGTERM')
    keys = ','.join("'alert:%s'" % r[1] for r in rows)
    st = job_states(env, 'idem_key IN (%s)' % keys)
    check(st.get('running', 0) == 0 and st.get('done', 0) == 1 and st.get('pending', 0) == 3,
          'after the stop: %s' % st)
    check(env.pg.scalar("SELECT max(attempts) FROM job WHERE state = 'pending' "
                        "AND idem_key IN (%s)" % keys) == 0, 'a given-back attempt counted')
    w2 = Worker(env, smtp, name='stopper2').start()
    try:
        wait_for(lambda: job_states(env, 'idem_key IN (%s)' % keys) == {'done': 4}, 30,
                 'the given-back jobs done')
    finally:
        w2.stop()


def test_smtps_and_a_refused_login(env, smtp):
    """smtps:// (TLS from the first byte) delivers; with a wrong password
    nothing is delivered and the job waits to retry with the error kept."""
    tls = smtptest.Smtp(pgtemp.free_port(), env.hub.cert, env.hub.key, implicit_tls=True).start()
    try:
        node = uuid7()
        w = Worker(env, tls, name='smtps', extra='')
        conf = open(w.conf).read().replace('smtp://127.0.0.1', 'smtps://127.0.0.1')
        conf = conf.replace('starttls = required', 'starttls = no')
        open(w.conf, 'w').write(conf)
        w.start()
        try:
            row = case_row(next_seq(node), node, kind='P', syndrome='PLB', village='3201011003')
            push(env, node, '3201', [row])
            m = wait_for(lambda: mails_for(tls, 'alert:' + row[1]), 60, 'the alert over smtps')
            check(m[0]['Message-ID'] == msgid('alert:' + row[1]), 'Message-ID')
        finally:
            w.stop()
        w2 = Worker(env, tls, name='smtps2')
        conf = open(w2.conf).read().replace('smtp://127.0.0.1', 'smtps://127.0.0.1')
        open(w2.conf, 'w').write(conf.replace('starttls = required', 'starttls = no')
                                 .replace('password_file', 'password = wrong\n;'))
        w2.start()
        try:
            row = case_row(next_seq(node), node, kind='P', syndrome='PLB', village='3201011003')
            push(env, node, '3201', [row])
            err = wait_for(lambda: env.pg.psql("SELECT last_error FROM job WHERE idem_key = "
                                               "'alert:%s' AND state = 'failed'" % row[1]),
                           30, 'the login failure recorded')
            check(err.startswith('SMTP smtps://') and not mails_for(tls, 'alert:' + row[1]), err)
        finally:
            w2.stop()
        env.pg.psql("UPDATE job SET state = 'cancelled' WHERE idem_key = 'alert:%s'" % row[1])
    finally:
        tls.stop()


def test_smtp_down_ten_minutes(env, smtp):
    """SMTP down for 10 minutes (time scaled by 0.01: 6 s): the jobs wait,
    back off (failed, attempts growing, the error kept and shown by
    `sikhnas-worker jobs`), then deliver once it is back."""
    node = uuid7()
    smtp.stop()
    w = Worker(env, smtp, scale=0.01).start()
    try:
        rows = [case_row(next_seq(node) + i, node, kind='P', syndrome='GGK',
                         village='3201011003') for i in range(2)]
        push(env, node, '3201', rows)
        keys = ["'alert:%s'" % r[1] for r in rows]
        time.sleep(6.0)             # 10 minutes at 0.01
        st = env.pg.psql("SELECT state, attempts, last_error FROM job WHERE idem_key IN (%s)"
                         % ','.join(keys)).splitlines()
        print('  after 10 (scaled) minutes down: %s' % [s.split('|')[:2] for s in st])
        for s in st:
            state, att, err = s.split('|', 2)
            check(state in ('failed', 'running') and 3 <= int(att) <= 15 and 'SMTP' in err,
                  'while down: %s' % s)
        shown = w.cmd('jobs', 'failed').stdout
        check(rows[0][1] in shown and 'SMTP' in shown, 'jobs page:\n' + shown)
        smtp.start()
        for r in rows:
            wait_for(lambda: mails_for(smtp, 'alert:' + r[1]), 60, 'delivery after SMTP returns')
        wait_for(lambda: job_states(env, 'idem_key IN (%s)' % ','.join(keys)) == {'done': 2},
                 20, 'jobs done')
        for r in rows:
            check(len(mails_for(smtp, 'alert:' + r[1])) == 1, 'sent twice')
    finally:
        if not smtp.ctl:
            smtp.start()
        w.stop()


def test_two_workers_each_job_once(env, smtp):
    """Two worker processes (two threads each): 40 alerts and 2,000 no-op
    jobs are each taken once (attempts 1) and each alert sent once."""
    node = uuid7()
    rows = [case_row(next_seq(node) + i, node, kind='P', syndrome='DPB',
                     village='3201011001') for i in range(40)]
    ws = [Worker(env, smtp, name='a').start(), Worker(env, smtp, name='b').start()]
    try:
        time.sleep(0.5)             # both connected and listening
        env.pg.psql("INSERT INTO job (kind, idem_key) SELECT 'noop', 'two:' || g "
                    "FROM generate_series(1, 2000) g")
        push(env, node, '3201', rows)
        keys = ','.join("'alert:%s'" % r[1] for r in rows)
        wait_for(lambda: job_states(env, "idem_key IN (%s) OR idem_key LIKE 'two:%%'" % keys)
                 == {'done': 2040}, 120, 'all jobs done')
        check(env.pg.scalar("SELECT count(*) FROM job WHERE (idem_key IN (%s) OR idem_key "
                            "LIKE 'two:%%') AND attempts <> 1" % keys) == 0, 'a job ran twice')
        by = env.pg.psql("SELECT count(DISTINCT split_part(locked_by, ':', 2)) FROM job "
                         "WHERE idem_key LIKE 'two:%'")
        check(by == '2', 'both workers took jobs (%s)' % by)
        for r in rows:
            check(len(mails_for(smtp, 'alert:' + r[1])) == 1, 'alert count')
    finally:
        for w in ws:
            w.stop()
    running = env.pg.psql("SELECT id, kind, idem_key, locked_by, attempts, started_at, "
                          "locked_until FROM job WHERE state = 'running'")
    check(not running, 'a stopped worker left jobs running:\n' + running)


def test_weekly_summary_at_local_time(env, smtp):
    """Monday 07:00 in each province's zone (WIT 22:00, WITA 23:00, WIB 00:00
    UTC on Sunday/Monday), injected with --now: one summary per province,
    HTML and text, the epi table attached as CSV, priority events and silent
    districts; scheduling twice sends nothing more."""
    w = Worker(env, smtp)
    node = uuid7()
    env.hub.node_cert(uuid7(), '5301')         # a district with a node and no report: silent
    rows = [case_row(next_seq(node), node, village='5371011001', event_date='2026-11-24',
                     kind='P', syndrome='GGK'),
            case_row(next_seq(node) + 1, node, village='5371011001', event_date='2026-11-29'),
            case_row(next_seq(node) + 2, node, village='5371011001', event_date='2026-11-30')]
    push(env, node, '5371', rows)
    for t, want in (('2026-11-29T21:59:00Z', 0), ('2026-11-29T22:00:30Z', 1),
                    ('2026-11-29T23:00:30Z', 1), ('2026-11-30T00:00:30Z', 2),
                    ('2026-11-30T06:00:00Z', 0)):
        got = w.cmd('--now', t, 'schedule').stdout.strip()
        check(got == str(want), 'at %s: %s summaries queued, not %d' % (t, got, want))
    queued = env.pg.psql("SELECT string_agg(idem_key, ' ' ORDER BY idem_key) FROM job "
                         "WHERE kind = 'summary'")
    check(queued == 'summary:11:2026-11-30 summary:32:2026-11-30 summary:53:2026-11-30 summary:91:2026-11-30', queued)
    w.args += ['--now', '2026-11-30T00:01:00Z']
    w.start()
    try:
        for prov in ('11', '32', '53', '91'):
            wait_for(lambda: mails_for(smtp, 'summary:%s:2026-11-30' % prov), 60,
                     'summary of %s' % prov)
        rcpt, msg, _ = [x for x in smtp.snapshot()
                        if x[1]['X-Sikhnas-Job'] == 'summary:53:2026-11-30'][0]
        check(sorted(rcpt) == ['ntt@test.invalid'], rcpt)
        check(msg.get_content_type() == 'multipart/mixed' and not msg.defects, msg.defects)
        text = msg.get_body(('plain',)).get_content()
        html = msg.get_body(('html',)).get_content()
        att = [p for p in msg.iter_attachments()]
        check(len(att) == 1 and att[0].get_filename() == 'sikhnas-53-2026-11-23.csv', att)
        table = list(csv.reader(io.StringIO(att[0].get_content())))
        row = [r for r in table if r[0] == '5371']
        check(table[0][:4] == ['kode', 'kabupaten/kota', 'laporan', 'prioritas'], table[0])
        check(row and row[0][2:6] == ['2', '1', '6', '2'], 'epi row %s' % row)
        silent = [r for r in table if r[0] == '5301']
        check(silent and silent[0][2] == '0', 'silent district row %s' % silent)
        check('Nusa Tenggara Timur' in msg['Subject'] and '23-11-2026 s.d. 29-11-2026' in msg['Subject'],
              msg['Subject'])
        for want in ('Kejadian prioritas (1)', 'GGK', rows[0][7], 'tanpa laporan'):
            check(want in text and (want in html or want == 'tanpa laporan'),
                  '%r missing' % want)
        check('<table' in html, 'html has no table')
        check(w.cmd('--now', '2026-11-30T00:02:00Z', 'schedule').stdout.strip() == '0',
              'scheduled twice')
        time.sleep(1)
        check(len(mails_for(smtp, 'summary:53:2026-11-30')) == 1, 'two summaries')
    finally:
        w.stop()


def health(env, node, district, **kw):
    doc = {'v': 1, 'version': '0.1.0', 'outbox_depth': 0, 'outbox_oldest_s': 0,
           'rows_rejected': 0, 'clock': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
           'bytes_up': 1000, 'bytes_down': 2000, 'disk_free': 5 << 30, 'disk_total': 8 << 30,
           'last_sms_in': '2026-12-01T10:00:00Z', 'last_sms_out': '2026-12-01T10:00:05Z'}
    doc.update(kw)
    import json
    st, _, js = env.hub.request('POST', '/v1/node-health', json.dumps(doc).encode(),
                                dict(ident(node, district), **{'Content-Type':
                                                               'application/json'}))
    return st, js


def test_fleet_watch(env, smtp):
    """Simulated nodes, one per problem (silent 72 h, queue older than 24 h,
    certificate within 14 days, clock 10 minutes off) and one healthy: the
    fleet view flags each, the watch sends exactly one alert per problem
    node to the operators, and nothing more while the problems last; a
    problem that clears and comes back alerts again."""
    nodes = {p: uuid7() for p in ('ok', 'silent', 'queue', 'cert', 'clock')}
    for p, n in nodes.items():
        env.hub.node_certs([(n, '3201')], days=10 if p == 'cert' else 365)
    env.pg.psql("UPDATE node_registration SET created_at = now() - interval '4 days' "
                "WHERE node_id = '%s'" % nodes['silent'])
    for p, n in nodes.items():
        if p == 'silent':
            continue
        kw = {}
        if p == 'queue':
            kw = {'outbox_depth': 420, 'outbox_oldest_s': 25 * 3600}
        if p == 'clock':
            kw = {'clock': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(time.time() + 600))}
        st, js = health(env, n, '3201', **kw)
        check(st == 200, 'health %s: %s %s' % (p, st, js))
        push(env, n, '3201', [case_row(next_seq(n), n)])      # a contact
    flags = dict(ln.split('|') for ln in env.pg.psql(
        "SELECT node_id, array_to_string(problems, ',') FROM fleet_view WHERE node_id IN (%s)"
        % ','.join("'%s'" % n for n in nodes.values())).splitlines())
    for p, n in nodes.items():
        check(flags[n] == ('' if p == 'ok' else p), '%s flagged %r' % (p, flags[n]))
    w = Worker(env, smtp, scale=0.01, extra='fleet_interval = 100\n').start()  # 1 s
    try:
        for p in ('silent', 'queue', 'cert', 'clock'):
            wait_for(lambda: [m for _, m, _ in smtp.snapshot()
                              if (m['X-Sikhnas-Job'] or '').startswith('fleet:' + nodes[p])],
                     30, 'fleet alert %s' % p)
        time.sleep(4)               # four more passes of the watch
        fleet = [(r, m) for r, m, _ in smtp.snapshot()
                 if (m['X-Sikhnas-Job'] or '').startswith('fleet:')]
        mine = [(r, m) for r, m in fleet if any(n in m['X-Sikhnas-Job'] for n in nodes.values())]
        check(len(mine) == 4, 'fleet alerts: %s' % [m['Subject'] for _, m in mine])
        for r, m in mine:
            check(sorted(r) == ['ops-jabar@test.invalid', 'ops@test.invalid'], r)
            check('What to do' in m.get_body(('plain',)).get_content(), 'no advice')
        # the clock is put right, then goes wrong again: a second alert
        st, _ = health(env, nodes['clock'], '3201')
        wait_for(lambda: env.pg.scalar("SELECT count(*) FROM fleet_problem WHERE node_id = '%s' "
                                       "AND closed_at IS NOT NULL" % nodes['clock']) == 1,
                 20, 'clock problem closed')
        health(env, nodes['clock'], '3201', clock='2026-01-01T00:00:00Z')
        wait_for(lambda: len([m for _, m, _ in smtp.snapshot() if (m['X-Sikhnas-Job'] or '')
                              .startswith('fleet:' + nodes['clock'])]) == 2, 30, 'second alert')
    finally:
        w.stop()


def test_health_block_checked(env, smtp):
    """The hub refuses a malformed health block (400) and stores nothing;
    unknown keys of a newer node are ignored; /metrics shows the gauges."""
    n = uuid7()
    for bad in ({'v': 0}, {'v': 1, 'outbox_depth': -1}, {'v': 1, 'clock': 'yesterday'},
                {'v': 1, 'cert_not_after': '2027-02-31T00:00:00Z'}, {'v': '1'},
                {'v': 1, 'version': 'x' * 40}, {'v': 1, 'bytes_up': 1.5}):
        st, js = health(env, n, '3201', **bad)
        check(st == 400 and js['error'] == 'bad_health', 'accepted %s: %s' % (bad, js))
    check(env.pg.scalar("SELECT count(*) FROM node_health WHERE node_id = '%s'" % n) == 0,
          'a refused block was stored')
    st, js = health(env, n, '3201', v=3, future_key={'a': 1}, outbox_depth=7)
    check(st == 200, js)
    check(env.pg.psql("SELECT v, outbox_depth FROM node_health WHERE node_id = '%s'" % n)
          == '1|7', 'stored')
    st, _, text = env.hub.request('GET', '/metrics')
    text = text.decode()
    check('sikhnas_node_outbox_depth{node="%s",district="3201"} 7.000' % n in text,
          'metrics lack the node gauge')
    # every metric the example Grafana dashboard queries is one the hub serves
    import json
    import re
    dash = json.load(open(os.path.join(HERE, '..', '..', 'deploy', 'central',
                                       'grafana-fleet.json')))
    names = set()
    for p in dash['panels']:
        for t in p['targets']:
            names |= set(re.findall(r'\b(sikhnas_[a-z_]+)', t.get('expr', '')))
    check(names and all('# TYPE %s ' % m in text for m in names),
          'dashboard metrics not served: %s' % [m for m in names if '# TYPE %s ' % m not in text])


def test_real_node_alert_and_health(env, smtp):
    """A real sikhnas-node: a P report entered on the node, synced through
    the hub, becomes an alert email; the round's health block lands in
    node_health (version, outbox, bytes, disk, certificate, clock). A hub
    that fails the health block (here: its SQL function gone, 503) does not
    fail the round: the node still syncs, as with a hub that has no
    /v1/node-health (404, the same path on the node)."""
    node = nodetest.Node(NODE, district='3201')
    e2elib.enroll(env, node)
    nid = node.status()['node_id']
    w = Worker(env, smtp).start()
    try:
        r = node.add_report({'kind': 'P', 'syndrome': 'MMD', 'village': '3201011002',
                             'event_date': '2026-12-01',
                             'animals': [{'species': 'SP', 'sick': 2, 'dead': 5,
                                          'at_risk': 40}]})
        check(r.returncode == 0, r.stderr)
        t0 = time.time()
        r = node.run('sync', '--hub', 'https://127.0.0.1:%d' % env.hub.port, '--ca',
                     env.hub.ca, '--no-progress')
        check(r.returncode == 0, 'sync: %s' % r.stderr)
        cid = env.pg.psql("SELECT id FROM case_report WHERE src_node = '%s'" % nid)
        m = wait_for(lambda: mails_for(smtp, 'alert:' + cid), 60, 'the alert of the node')
        print('  node report to alert email: %.2f s' % (time.time() - t0))
        check('mati mendadak' in m[0].get_body(('plain',)).get_content(), 'syndrome label')
        h = env.pg.psql("SELECT v, version, outbox_depth, rows_rejected, bytes_up > 0, "
                        "disk_total > 0, cert_not_after > now(), abs(clock_skew_s) < 5 "
                        "FROM node_health WHERE node_id = '%s'" % nid)
        check(h == '1|0.1.0|0|0|t|t|t|t', 'health block %r' % h)
        check(env.pg.scalar("SELECT contacts FROM node_health_day WHERE node_id = '%s'" % nid)
              == 1, 'contacts')
        env.pg.psql("ALTER FUNCTION sikhnas_node_health_store(text, text, jsonb) "
                    "RENAME TO sikhnas_node_health_store_gone")
        try:
            r = node.add_report({'kind': 'U', 'signs': ['DMM'], 'village': '3201011002',
                                 'event_date': '2026-12-01',
                                 'animals': [{'species': 'SP', 'sick': 1, 'dead': 0}]})
            check(r.returncode == 0, r.stderr)
            r = node.run('sync', '--hub', 'https://127.0.0.1:%d' % env.hub.port, '--ca',
                         env.hub.ca, '--no-progress')
            check(r.returncode == 0, 'sync with the health block refused: %s' % r.stderr)
            check(env.pg.scalar("SELECT count(*) FROM case_report WHERE src_node = '%s'"
                                % nid) == 2, 'the round did not push')
        finally:
            env.pg.psql("ALTER FUNCTION sikhnas_node_health_store_gone(text, text, jsonb) "
                        "RENAME TO sikhnas_node_health_store")
    finally:
        w.stop()


def test_database_restart_and_bad_settings(env, smtp):
    """PostgreSQL restarts under a running worker: it reconnects (LISTEN
    again), takes back at once what its threads held when their connection
    broke (not after the lease, 120 s) and the next alert goes out. Bad
    settings and bad commands are refused with a clear message and exit
    status 2; a key with a line break is refused by the queue."""
    w = Worker(env, smtp).start()
    try:
        # a job its thread 1 was running when the database went away
        held = '%s:%d:1' % (socket.gethostname()[:63], w.proc.pid)
        env.pg.psql("INSERT INTO job (kind, idem_key, state, attempts, locked_by, locked_until, "
                    "started_at) VALUES ('noop', 'held:%s', 'running', 1, '%s', "
                    "now() + interval '1 hour', now())" % (held, held))
        env.pg.restart()
        wait_for(lambda: job_states(env, "idem_key = 'held:%s'" % held) == {'done': 1}, 20,
                 'the job held when the connection broke, taken back and done')
        check(env.pg.scalar("SELECT attempts FROM job WHERE idem_key = 'held:%s'" % held) == 2,
              'the broken attempt counted')
        node = uuid7()
        row = case_row(next_seq(node), node, kind='P', syndrome='KBD', village='3201011001')
        env.hub.wait_db()           # the hub reconnects too
        push(env, node, '3201', [row])
        wait_for(lambda: mails_for(smtp, 'alert:' + row[1]), 60, 'the alert after a restart')
    finally:
        check(w.stop() == 0, 'worker exit status')
    bad = os.path.join(env.dir, 'bad.ini')
    for text, want in (('[smtp]\nurl = http://x\n', 'bad value for smtp.url'),
                       ('[worker]\nthreads = 0\n', 'bad value for worker.threads'),
                       ('[smtp]\nfrom = a@b>, <x@y\n', 'bad value for smtp.from'),
                       ('[smtp]\nfrom = a@b\r\nBcc: x@y\n', "unknown setting 'smtp.Bcc'"),
                       ('[nope]\nx = 1\n', "unknown setting 'nope.x'")):
        with open(bad, 'w') as f:
            f.write(text)
        r = subprocess.run([WORKER, '--config', bad, '--pg', env.pg.conninfo, 'jobs'],
                           capture_output=True, text=True)
        check(r.returncode == 2 and want in r.stderr, '%r: %d %s' % (text, r.returncode,
                                                                      r.stderr))
    r = subprocess.run([WORKER, '--pg', env.pg.conninfo, 'enqueue', 'noop', 'a\nb'],
                       capture_output=True, text=True)
    check(r.returncode == 1 and 'job_idem_key_check' in r.stderr, r.stderr)
    # the daily upkeep prunes: periodic jobs after a day, others after 30 days
    env.pg.psql("INSERT INTO job (kind, idem_key, state, finished_at) VALUES "
                "('aggregates', 'prune:a', 'done', now() - interval '2 days'), "
                "('alert', 'prune:b', 'done', now() - interval '2 days'), "
                "('alert', 'prune:c', 'done', now() - interval '31 days'); "
                "SELECT sikhnas_upkeep()")
    check(env.pg.psql("SELECT string_agg(idem_key, ',') FROM job WHERE idem_key LIKE 'prune:%'")
          == 'prune:b', 'upkeep pruned the wrong jobs')
    r = subprocess.run([WORKER, '--pg', env.pg.conninfo, 'retry', '999999'],
                       capture_output=True, text=True)
    check(r.returncode == 1 and 'no such job' in r.stderr, r.stderr)


def metrics(env):
    st, _, text = env.hub.request('GET', '/metrics')
    check(st == 200, 'metrics: %s' % st)
    return text.decode() if isinstance(text, bytes) else text


def gauge(text, name):
    """The value of the sample named exactly name (with its labels), or None."""
    for ln in text.splitlines():
        if ln.startswith(name + ' '):
            return float(ln.split(' ')[-1])
    return None


def test_job_queue_metrics(env, smtp):
    """The hub's /metrics shows the job queue by kind and state, how long the
    oldest ready job has waited past its time and the longest running one has
    run; a kind's label is escaped; with the database down a scrape still
    answers at once, says the reading failed and keeps the last gauges with
    their age. Fails without hub_jobstats.c (no such gauges)."""
    hub = env.hub
    hub.stop()
    hub.extra_args += ['--job-stats', '1']
    hub.start()
    kind, odd = 'metrics_test', 'metrics "odd\\kind'
    try:
        env.pg.psql(
            "INSERT INTO job (kind, idem_key, state, run_at, started_at) VALUES "
            "('%s', 'mt:1', 'pending', now() - interval '90 s', NULL), "
            "('%s', 'mt:2', 'pending', now() - interval '30 s', NULL), "
            "('%s', 'mt:3', 'pending', now() + interval '1 hour', NULL), "
            "('%s', 'mt:4', 'running', now() - interval '1 hour', now() - interval '40 s'), "
            "('%s', 'mt:5', 'dead', now(), NULL), "
            "('%s', 'mt:6', 'done', now(), NULL), "
            "('%s', 'mt:7', 'failed', now() - interval '5 s', NULL)"
            % (kind, kind, kind, kind, kind, kind, odd.replace("'", "''")))
        lab = 'sikhnas_jobs{kind="%s",state="%%s"}' % kind
        wait_for(lambda: gauge(metrics(env), lab % 'pending') == 3, 10, 'the pending gauge')
        m = metrics(env)
        check(gauge(m, lab % 'running') == 1 and gauge(m, lab % 'dead') == 1 and
              gauge(m, lab % 'done') is None, m)
        old = 'sikhnas_jobs_oldest_seconds{kind="%s",state="%%s"}' % kind
        check(90 <= gauge(m, old % 'pending') < 200, m)       # the future one not ready
        check(40 <= gauge(m, old % 'running') < 200, m)
        check(gauge(m, old % 'dead') is None, m)
        check(gauge(m, 'sikhnas_jobs{kind="metrics \\"odd\\\\kind",state="failed"}') == 1,
              [ln for ln in m.splitlines() if 'odd' in ln])
        check(gauge(m, 'sikhnas_jobs_stats_up') == 1, m)
        check(gauge(m, 'sikhnas_jobs_stats_age_seconds') < 5, m)
        # the database down: the scrape answers at once, the reading says so
        env.pg.stop()
        try:
            wait_for(lambda: gauge(metrics(env), 'sikhnas_jobs_stats_up') == 0, 30,
                     'stats_up 0 with the database down')
            t0 = time.time()
            m = metrics(env)
            check(time.time() - t0 < 1, 'a scrape waited %.1f s' % (time.time() - t0))
            check(gauge(m, lab % 'pending') == 3, 'the last gauges kept')
            wait_for(lambda: gauge(metrics(env), 'sikhnas_jobs_stats_age_seconds') >= 2, 10,
                     'the age growing')
        finally:
            env.pg.start()
        hub.wait_db(60)
        wait_for(lambda: gauge(metrics(env), 'sikhnas_jobs_stats_up') == 1, 30,
                 'stats_up 1 again')
    finally:
        env.pg.psql("DELETE FROM job WHERE idem_key LIKE 'mt:%'")
        hub.stop()
        hub.extra_args.remove('--job-stats')
        hub.extra_args.remove('1')
        hub.start()


TESTS = [test_job_queue_metrics, test_health_block_checked,
         test_database_restart_and_bad_settings,
         test_real_node_alert_and_health, test_alert_through_the_hub, test_kill9_while_sending,
         test_stop_gives_back_unstarted_jobs, test_smtps_and_a_refused_login,
         test_smtp_down_ten_minutes,
         test_two_workers_each_job_once, test_weekly_summary_at_local_time, test_fleet_watch]


def setup_recipients(env):
    env.pg.psql("INSERT INTO recipient (email, role, province) VALUES "
                "('nas@test.invalid', 'vet', NULL), ('jabar@test.invalid', 'vet', '32'), "
                "('dki@test.invalid', 'vet', NULL), ('aceh@test.invalid', 'vet', '11'), "
                "('ntt@test.invalid', 'analyst', '53'), ('papua@test.invalid', 'vet', '91'), "
                "('ops@test.invalid', 'operator', NULL), "
                "('ops-jabar@test.invalid', 'operator', '32'), "
                "('ops-ntt@test.invalid', 'operator', '53')")


def main():
    global WORKER
    args = sys.argv[1:]
    global NODE
    WORKER = os.path.abspath(args.pop(0))
    os.environ['SIKHNAS_HUB'] = os.path.abspath(args.pop(0))
    NODE = os.path.abspath(args.pop(0))
    only = args[args.index('-k') + 1] if '-k' in args else None
    failed = 0
    with hubtest.Env() as env:
        ca, cert, key = env.hub.ca, env.hub.cert, env.hub.key
        smtp = smtptest.Smtp(pgtemp.free_port(), cert, key).start()
        setup_recipients(env)
        # national vets get every alert; summaries go to the province's own
        try:
            for t in TESTS:
                if only and only not in t.__name__:
                    continue
                t0 = time.time()
                try:
                    t(env, smtp)
                    print('ok   %s (%.1f s)' % (t.__name__, time.time() - t0), flush=True)
                except Exception:
                    failed += 1
                    print('FAIL %s' % t.__name__, flush=True)
                    traceback.print_exc()
                    for f in sorted(os.listdir(env.dir)):
                        if f.endswith('.log') and f != 'hub.log':
                            print('--- %s (tail)' % f)
                            print(''.join(open(os.path.join(env.dir, f)).readlines()[-15:]))
        finally:
            smtp.stop()
    print('%d failed' % failed)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
