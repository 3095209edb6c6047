#!/usr/bin/env python3
"""SMS through the real gateways: Debian's gammu-smsd (files backend, its
dummy phone driver) and smsd of smstools3 (against the fake AT modem of
fakemodem.py on a pseudo-terminal), each run with the configuration file
and the locale drop-in that deploy/node/sms/ ships, on the spool of a real
`sikhnas-node run`. Messages go in as the phone or modem receives them and
come out as the gateway sends them: stored records, replies, alerts,
non-ASCII text both ways, a reply left by a crash, and the locale.
usage: test_gateway.py PATH/TO/sikhnas-node"""
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
import nodetest  # noqa: E402
import fakemodem  # noqa: E402
import pdu  # noqa: E402

EXE = None
DEPLOY = os.path.join(HERE, '..', '..', 'deploy', 'node', 'sms')
REPORTER = '+6281234567890'      # a village reporter (Pelsa) of 3201011001
VET = '+6281298765432'
VET2 = '+6281311112222'
WAIT_S = 40


def wait_for(pred, what, timeout=WAIT_S):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError('timed out after %d s waiting for %s' % (timeout, what))


def dropin_env(unit):
    """The Environment= of deploy/node/sms/UNIT.service.d/sikhnas.conf, over
    a bare PATH: the gateway runs with what the unit gives it, nothing of
    the test runner's own locale."""
    env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin')}
    with open(os.path.join(DEPLOY, unit + '.service.d', 'sikhnas.conf')) as fp:
        for line in fp:
            if line.startswith('Environment='):
                for kv in shlex.split(line[len('Environment='):]):
                    k, _, v = kv.partition('=')
                    env[k] = v
    return env


def require_utf8(env, who):
    """Fails clearly when env gives no UTF-8 locale (gammu-smsd then cuts
    every reply at its first non-ASCII character)."""
    r = subprocess.run(['locale', 'charmap'], env=env, capture_output=True, text=True)
    if r.stdout.strip() != 'UTF-8':
        raise AssertionError(
            '%s would run without a UTF-8 locale (LANG=%r LC_ALL=%r gives charmap %r%s): set '
            'Environment=LANG=C.UTF-8 in its drop-in (deploy/node/sms/) and make sure the '
            'locale exists (`locale -a`)' % (who, env.get('LANG'), env.get('LC_ALL'),
                                              r.stdout.strip(), ', ' + r.stderr.strip()
                                              if r.stderr.strip() else ''))


def stop(p, timeout=15):
    """SIGTERM to the process group, then SIGKILL: nothing is left behind."""
    if p is None or p.poll() is not None:
        return
    try:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(timeout)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait(10)


class Node:
    """A store with officers and `sikhnas-node run` on a spool."""

    def __init__(self, gateway):
        self.node = nodetest.Node(EXE)
        self.gateway = gateway
        self.spool = os.path.join(self.node.tmp, 'spool')
        self.p = None
        for name, phone, role, village in [
                ('Budi Pelsa', '0' + REPORTER[3:], 'reporter', '3201011001'),
                ('Drh Sari', VET, 'vet', '3201011002'),
                ('Drh Andi', VET2, 'vet', '3201011003')]:
            r = self.node.run('officer', 'add', '--name', name, '--phone', phone, '--role', role,
                              '--village', village)
            assert r.returncode == 0, r.stderr
        for sub in ('incoming', 'outgoing'):
            os.makedirs(os.path.join(self.spool, sub), exist_ok=True)

    def start(self):
        log = open(os.path.join(self.node.tmp, 'node-run.log'), 'a')
        self.p = subprocess.Popen([EXE, '--db', self.node.db, 'run', '--sms-spool', self.spool,
                                   '--sms-gateway', self.gateway], stdout=log, stderr=log,
                                  start_new_session=True)
        log.close()

    def crash(self):
        os.killpg(self.p.pid, signal.SIGKILL)
        self.p.wait(10)

    def stop(self):
        stop(self.p)

    def log(self):
        with open(os.path.join(self.node.tmp, 'node-run.log')) as fp:
            return fp.read()

    def files(self, sub):
        try:
            return sorted(os.listdir(os.path.join(self.spool, sub)))
        except FileNotFoundError:
            return []


class Gammu:
    """gammu-smsd with deploy/node/sms/gammu-smsdrc: its [gammu] section
    becomes the dummy phone (a device folder whose sms/1/ is the phone's
    inbox), its paths the node's spool, its log a file at debuglevel 1
    (which logs each text as gammu read it)."""
    name = 'gammu'

    def __init__(self, tmp, spool, env=None):
        self.dev = os.path.join(tmp, 'phone')
        for f in range(1, 6):
            os.makedirs(os.path.join(self.dev, 'sms', str(f)))
        os.makedirs(os.path.join(self.dev, 'tmp'))
        for sub in ('sent', 'error'):
            os.makedirs(os.path.join(spool, sub), exist_ok=True)
        self.spool = spool
        self.logfile = os.path.join(tmp, 'gammu-smsd.log')
        with open(os.path.join(DEPLOY, 'gammu-smsdrc')) as fp:
            conf = fp.read()
        conf = re.sub(r'(?ms)^\[gammu\].*?(?=^\[smsd\])',
                      '[gammu]\nmodel = dummy\nconnection = none\ndevice = %s\n\n' % self.dev,
                      conf)
        assert 'model = dummy' in conf and '/var/spool/sms/' in conf
        conf = conf.replace('/var/spool/sms/', spool + '/')
        conf = conf.replace('logfile = syslog', 'logfile = ' + self.logfile)
        conf = conf.replace('debuglevel = 0', 'debuglevel = 1')
        self.conf = os.path.join(tmp, 'gammu-smsdrc')
        with open(self.conf, 'w') as fp:
            fp.write(conf)
        self.env = env or dropin_env('gammu-smsd')
        self.n = 0
        self.p = None

    def start(self):
        self.p = subprocess.Popen(['gammu-smsd', '-c', self.conf], env=self.env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)

    def stop(self):
        stop(self.p)

    def inject(self, sender, text, second):
        """A message the phone received, as a gammu SMS backup file in the
        dummy phone's inbox folder (written aside, then renamed in)."""
        self.n += 1
        coding = 'Default' if pdu.gsm7_septets(text) is not None else 'Unicode'
        hx = text.encode('utf-16-be').hex().upper()
        body = ['[SMSBackup000]', 'SMSC = "+6281100000"',
                'Sent = 20261128T1001%02d' % second, 'State = UnRead',
                'Number = "%s"' % sender, 'Name = ""']
        body += ['Text%02d = %s' % (i // 200, hx[i:i + 200]) for i in range(0, len(hx), 200)]
        body += ['Coding = ' + coding, 'Folder = 1', 'Length = %d' % len(text), 'Class = -1', '']
        tmp = os.path.join(self.dev, 'tmp', str(self.n))
        with open(tmp, 'w') as fp:
            fp.write('\n'.join(body))
        os.rename(tmp, os.path.join(self.dev, 'sms', '1', str(self.n)))

    def sent(self):
        """What gammu-smsd sent: [{number, text (the file), logged (its first
        part as gammu read it), coding, parts}] in order."""
        try:
            with open(self.logfile, encoding='utf-8', errors='replace') as fp:
                log = fp.read()
        except FileNotFoundError:
            return []
        out, found = [], None
        for line in log.splitlines():
            m = re.search(r'Found (\d+) sms to "(.*?)" with text "(.*)" cod (\d+) lgt', line)
            if m:
                found = m
                continue
            m = re.search(r'Transmitted (\S+) \(total', line)
            if m and found:
                path = os.path.join(self.spool, 'sent', m.group(1))
                try:
                    with open(path, encoding='utf-8') as fp:
                        text = fp.read()
                except FileNotFoundError:
                    break                   # logged, not yet moved to sent/: next look
                out.append({'number': found.group(2), 'text': text, 'logged': found.group(3),
                            'coding': int(found.group(4)), 'parts': int(found.group(1)),
                            'file': m.group(1)})
                found = None
        return out

    def received_all(self):
        return not os.listdir(os.path.join(self.dev, 'sms', '1'))

    @staticmethod
    def drop_incoming(spool, sender, text):
        """A received message as gammu-smsd writes it (InboxFormat = unicode)."""
        path = os.path.join(spool, 'incoming', 'IN20261128_100159_00_%s_00.txt' % sender)
        with open(path, 'wb') as fp:
            fp.write(b'\xff\xfe' + text.encode('utf-16-le') + b'\0\0')


class Smstools:
    """smsd with deploy/node/sms/smsd.conf: its device becomes the fake
    modem's pseudo-terminal, its paths the node's spool and temp files."""
    name = 'smstools'

    def __init__(self, tmp, spool, env=None):
        self.modem = fakemodem.FakeModem(os.path.join(tmp, 'modem.log'))
        for sub in ('checked', 'sent', 'failed-out'):
            os.makedirs(os.path.join(spool, sub), exist_ok=True)
        with open(os.path.join(DEPLOY, 'smsd.conf')) as fp:
            conf = fp.read()
        assert '/var/spool/sms/' in conf and 'device = /dev/ttyUSB0' in conf
        conf = conf.replace('/var/spool/sms/', spool + '/')
        conf = conf.replace('/var/log/smstools/smsd.log', os.path.join(tmp, 'smsd.log'))
        conf = conf.replace('device = /dev/ttyUSB0', 'device = ' + self.modem.device)
        # the test runs as root, so smsd's user and files are its own
        conf = conf.replace('devices = GSM1\n', 'devices = GSM1\ninfofile = %s\npidfile = %s\n'
                            % (os.path.join(tmp, 'smsd.working'), os.path.join(tmp, 'smsd.pid')))
        self.conf = os.path.join(tmp, 'smsd.conf')
        with open(self.conf, 'w') as fp:
            fp.write(conf)
        self.env = env or dropin_env('smstools')
        self.p = None

    def start(self):
        self.p = subprocess.Popen(['smsd', '-c' + self.conf, '-t'], env=self.env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)

    def stop(self):
        stop(self.p)
        self.modem.stop()

    def inject(self, sender, text, second):
        self.modem.inject(sender, text, when=(26, 11, 28, 10, 1, second, 28))

    def sent(self):
        return [dict(m, logged=m['text'], coding=m['dcs']) for m in self.modem.messages()]

    def received_all(self):
        return self.modem.sim_empty()

    @staticmethod
    def drop_incoming(spool, sender, text):
        """A received message as smsd writes it (incoming_utf8 = yes)."""
        with open(os.path.join(spool, 'incoming', 'GSM1.Xy1234'), 'w') as fp:
            fp.write('From: %s\nSent: 26-11-28 10:01:59\nAlphabet: UTF-8\n\n%s'
                     % (sender.lstrip('+'), text))


class GatewayCase:
    """The checks for one gateway (a mixin: GATEWAY is Gammu or Smstools)."""
    GATEWAY = None

    def setUp(self):
        self.n = Node(self.GATEWAY.name)
        self.addCleanup(self.n.stop)
        self.gw = self.GATEWAY(self.n.node.tmp, self.n.spool)
        self.addCleanup(self.gw.stop)
        require_utf8(self.gw.env, self.GATEWAY.name)
        self.second = 0

    def send(self, text, sender=REPORTER):
        self.second += 1
        self.gw.inject(sender, text, self.second)

    def wait_sent(self, n, what):
        return wait_for(lambda: len(self.gw.sent()) >= n and self.gw.sent(), what)

    def to(self, number):
        return [m for m in self.gw.sent() if m['number'] == number]

    def assert_sent_intact(self, m, expect):
        """The text as the gateway sent it is the node's reply, whole: a
        gateway without a UTF-8 locale cuts it at the first non-ASCII
        character, and this says so."""
        if m['text'] != expect:
            raise AssertionError('the node wrote %r, not %r' % (m['text'], expect))
        if not expect.startswith(m['logged']) or \
                (m['parts'] == 1 and m['logged'] != expect):
            cut = len(m['logged'])
            raise AssertionError(
                '%s sent %r for %r: cut at character %d (%r); a gateway without a UTF-8 '
                'locale does this: see deploy/node/sms/*.service.d' %
                (self.GATEWAY.name, m['logged'], expect, cut, expect[cut:cut + 1]))

    def test_report_reply_and_alerts(self):
        self.n.start()
        self.gw.start()
        time.sleep(1)                                    # both up: time the messages only
        t0 = time.monotonic()
        self.send('P MMD SP 3')
        self.send('U KBG,DMM SP 2')
        sent = self.wait_sent(4, 'a reply to each report and an alert to each vet')
        sys.stderr.write('\n%s: 2 reports in, 4 messages (4 parts) out in %.1f s\n' % (
            self.GATEWAY.name, time.monotonic() - t0))
        self.assertTrue(self.gw.received_all())
        self.assertEqual(self.n.node.sql('SELECT count(*) FROM case_report')[0][0], 2)
        replies = sorted(m['text'] for m in self.to(REPORTER))
        self.assertEqual(len(replies), 2, sent)
        self.assertTrue(replies[0].startswith('Terima kasih. [ID kasus 3201-000001] Sindrom: '
                                              'mati mendadak; 3 sapi mati'), replies)
        self.assertTrue(replies[1].startswith('Terima kasih. [ID kasus 3201-000002] Tanda: '
                                              'kembung'), replies)
        for vet in (VET, VET2):
            [alert] = self.to(vet)
            self.assertIn('PERINGATAN P: mati mendadak', alert['text'])
            self.assertIn('Pelapor Budi Pelsa 0%s' % REPORTER.lstrip('+')[2:], alert['text'])
            self.assertEqual(alert['parts'], 1)               # every alert fits in one SMS
        stored = self.n.node.sql('SELECT text FROM sms_out ORDER BY id')
        for m in sent:
            self.assertIn((m['text'],), stored)
            self.assert_sent_intact(m, m['text'])
        wait_for(lambda: not self.n.files('incoming') and not self.n.files('outgoing'),
                 'incoming/ and outgoing/ to empty')
        self.assertEqual(len(self.n.files('processed')), 2)

    def test_non_ascii_both_ways(self):
        self.n.start()
        self.gw.start()
        self.send('CKL Rājeg')                       # not in GSM 7-bit: UCS-2
        self.send('CKL Désa')                        # GSM 7-bit with é
        self.wait_sent(2, 'the two replies')
        self.assertEqual(self.n.node.sql('SELECT text FROM sms_in ORDER BY id'),
                         [('CKL Rājeg',), ('CKL Désa',)])     # no trailing zero units
        texts = {}
        for m in self.to(REPORTER):
            want = self.n.node.sql('SELECT text FROM sms_out WHERE text = ?', (m['text'],))
            self.assertEqual(len(want), 1, m)
            self.assert_sent_intact(m, want[0][0])
            texts[m['text']] = m
        r1 = next(t for t in texts if "'Rājeg'" in t)
        self.assertTrue(r1.endswith("'Rājeg' di kabupaten ini."), r1)
        self.assertIn(texts[r1]['coding'], (1, 'ucs2'))          # UCS-2 on the air
        self.assertTrue(any("'Désa'" in t for t in texts), texts)

    def test_duplicate_delivery(self):
        """The same message delivered twice (same sender, time and text):
        one record, answered twice."""
        self.n.start()
        self.gw.start()
        self.gw.inject(REPORTER, 'U KBG SP 2', 7)
        wait_for(lambda: self.to(REPORTER), 'the first reply')
        self.gw.inject(REPORTER, 'U KBG SP 2', 7)
        wait_for(lambda: len(self.to(REPORTER)) == 2, 'the second reply')
        self.assertEqual(self.n.node.sql('SELECT count(*) FROM case_report')[0][0], 1)
        self.assertEqual(self.n.node.sql('SELECT deliveries FROM sms_in'), [(2,)])
        a, b = self.to(REPORTER)
        self.assertEqual(a['text'], b['text'])

    def test_a_reply_left_by_a_crash_goes_out_after_the_restart(self):
        """The store committed the message and its reply, then the node died
        before the file was written (here: tmp/ is not a folder, so the
        write fails; then SIGKILL). Started again, the node writes the reply
        in the configured gateway's format and the gateway sends it."""
        self.gw.start()
        os.makedirs(self.n.spool, exist_ok=True)
        with open(os.path.join(self.n.spool, 'tmp'), 'w') as fp:
            fp.write('not a folder')
        self.n.start()
        self.send('U KBG SP 2')
        wait_for(lambda: self.n.node.sql('SELECT count(*) FROM sms_out WHERE written = 0')[0][0],
                 'the reply committed but not written')
        self.n.crash()
        self.assertEqual(self.gw.sent(), [])
        os.unlink(os.path.join(self.n.spool, 'tmp'))
        self.n.start()
        wait_for(lambda: self.to(REPORTER), 'the reply after the restart')
        self.assertIn('committed before a stop or crash (%s format)' % self.GATEWAY.name,
                      self.n.log())
        wait_for(lambda: not self.n.files('outgoing'),
                 'the gateway to take every file from outgoing/ (left: %s)' %
                 self.n.files('outgoing'))
        for m in self.to(REPORTER):       # at least once: the duplicate is answered too
            self.assertTrue(m['text'].startswith('Terima kasih. [ID kasus 3201-000001]'), m)
        self.assertEqual(self.n.node.sql('SELECT count(*) FROM case_report')[0][0], 1)
        self.assertEqual(self.n.node.sql('SELECT count(*) FROM sms_out WHERE written = 0'),
                         [(0,)])
        st = self.n.node.status()['sms']
        self.assertEqual((st['gateway'], st['stuck'], st['warning']),
                         (self.GATEWAY.name, 0, None))

    def test_status_warns_when_the_gateway_does_not_pick_up(self):
        """The gateway stops; a message it had put in incoming/ is answered,
        and the reply stays in outgoing/: after SMS_STUCK_S (the file's time
        is set back) `status` warns and names the file."""
        self.n.start()
        self.gw.start()
        self.send('U KBG SP 2')
        self.wait_sent(1, 'the reply')
        self.assertIsNone(self.n.node.status()['sms']['warning'])
        self.gw.stop()                                   # the gateway is down
        self.gw.drop_incoming(self.n.spool, REPORTER, 'U KBG SP 3')
        [name] = wait_for(lambda: self.n.files('outgoing'), 'the reply to wait in outgoing/')
        st = self.n.node.status()['sms']
        self.assertEqual((st['outgoing'], st['stuck'], st['warning']), (1, 0, None))
        path = os.path.join(self.n.spool, 'outgoing', name)
        os.utime(path, (time.time() - 400, time.time() - 400))
        st = self.n.node.status()['sms']
        self.assertEqual((st['stuck'], st['gateway']), (1, self.GATEWAY.name))
        self.assertIn(name, st['warning'])
        self.assertIn('not picked up by the gateway (%s)' % self.GATEWAY.name, st['warning'])
        # the web dashboard carries the same warning
        r = self.n.node.run('officer', 'password', '--phone', VET, '--password-stdin',
                            input='gateway-test-pw\n')
        self.assertEqual(r.returncode, 0, r.stderr)
        with nodetest.Daemon(self.n.node) as web:
            c = nodetest.Client(web.port)
            self.assertEqual(c.login(VET, 'gateway-test-pw')[0], 200)
            code, d = c.get('/api/v1/dashboard')
        self.assertEqual(code, 200)
        self.assertEqual((d['sms']['stuck'], d['sms']['gateway']), (1, self.GATEWAY.name))
        self.assertIn(name, d['sms']['warning'])


class GammuTest(GatewayCase, unittest.TestCase):
    GATEWAY = Gammu

    def test_locale(self):
        """Without a UTF-8 locale gammu-smsd cuts the reply at its first
        non-ASCII character, and the check above says so clearly."""
        self.gw.stop()
        env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'LANG': 'C'}
        with self.assertRaisesRegex(AssertionError, 'without a UTF-8 locale'):
            require_utf8(env, 'gammu-smsd')
        tmp = nodetest.scratch('gammu-c-')
        shutil.rmtree(tmp)
        os.makedirs(tmp)
        self.gw = Gammu(tmp, self.n.spool, env=env)
        self.addCleanup(self.gw.stop)
        self.n.start()
        self.gw.start()
        self.send('CKL Rājeg')
        [m] = self.wait_sent(1, 'the reply')
        self.assertTrue(m['logged'].endswith("'R"), m)          # what a reporter would get
        with self.assertRaisesRegex(AssertionError, 'cut at character .* without a UTF-8 '
                                    'locale'):
            self.assert_sent_intact(m, m['text'])


class SmstoolsTest(GatewayCase, unittest.TestCase):
    GATEWAY = Smstools

    def test_the_modem_saw_pdu_mode(self):
        """The fake modem is spoken to as a modem: PDU mode, SIM read and emptied."""
        self.n.start()
        self.gw.start()
        self.send('U KBG SP 2')
        self.wait_sent(1, 'the reply')
        cmds = self.gw.modem.commands
        self.assertIn('AT+CMGF=0', cmds)
        self.assertTrue(any(c.startswith('AT+CMGR=') for c in cmds), cmds)
        self.assertTrue(any(c.startswith('AT+CMGD=') for c in cmds), cmds)
        self.assertTrue(self.gw.modem.sim_empty())


@unittest.skipUnless(os.geteuid() == 0, 'needs root: runs the node and smsd as other users')
class SmstoolsPermissionsTest(unittest.TestCase):
    """The spool as Debian's smstools package lays it out (every folder
    `drwxrwsr-t smsd:smsd`) and then as docs/sms.md ("Permissions") says to
    set it up; smsd dropping to user smsd as Debian's init script starts it
    (-usmsd -gdialout), the node as another user (nobody) in group smsd."""

    def setUp(self):
        os.chmod(os.path.dirname(nodetest.scratch('probe-')), 0o711)   # the scratch root
        self.base = nodetest.scratch('perm-')
        os.chmod(self.base, 0o711)
        self.n = Node('smstools')
        self.addCleanup(self.n.stop)
        os.chmod(self.n.node.tmp, 0o711)
        self.n.spool = os.path.join(self.base, 'sms')
        self.run_dir = os.path.join(self.base, 'run')
        os.makedirs(self.run_dir)
        shutil.chown(self.run_dir, 'smsd', 'smsd')
        for path in [self.n.spool] + [os.path.join(self.n.spool, d) for d in
                                      ('checked', 'failed', 'incoming', 'outgoing', 'sent')]:
            os.makedirs(path, exist_ok=True)
            shutil.chown(path, 'smsd', 'smsd')
            os.chmod(path, 0o3775)                      # as the package makes them
        for f in os.listdir(self.n.node.tmp):           # the store belongs to the node's user
            shutil.chown(os.path.join(self.n.node.tmp, f), 'nobody', 'nogroup')
        shutil.chown(self.n.node.tmp, 'nobody', 'nogroup')

    def docs_setup(self):
        """The command of docs/sms.md, "Permissions" (paths made local): on
        folders that exist, install -d sets owner and mode (the t goes)."""
        sp = self.n.spool
        subprocess.run(['install', '-d', '-o', 'smsd', '-g', 'smsd', '-m', '2770',
                        sp + '/incoming', sp + '/outgoing', sp + '/failed-out'], check=True)

    def start(self):
        gw = Smstools(self.run_dir, self.n.spool)
        self.addCleanup(gw.stop)
        os.chown(gw.modem.device, 0, 20)                # like /dev/ttyUSB0: root:dialout 0660
        os.chmod(gw.modem.device, 0o660)
        for f in os.listdir(self.run_dir):
            shutil.chown(os.path.join(self.run_dir, f), 'smsd', 'smsd')
        gw.p = subprocess.Popen(['smsd', '-c' + gw.conf, '-t', '-usmsd', '-gdialout'],
                                env=gw.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        log = open(os.path.join(self.base, 'node-run.log'), 'a')
        self.n.p = subprocess.Popen(['setpriv', '--reuid=nobody', '--regid=nogroup',
                                     '--groups=smsd', '--', EXE, '--db', self.n.node.db, 'run',
                                     '--sms-spool', self.n.spool, '--sms-gateway', 'smstools'],
                                    stdout=log, stderr=log, start_new_session=True)
        log.close()
        self.gw = gw
        return gw

    def node_log(self):
        with open(os.path.join(self.base, 'node-run.log')) as fp:
            return fp.read()

    def test_as_docs_say(self):
        self.docs_setup()
        gw = self.start()
        gw.inject(REPORTER, 'U KBG SP 2', 1)
        [m] = wait_for(lambda: gw.sent(), 'the reply, through smsd as user smsd')
        self.assertTrue(m['text'].startswith('Terima kasih. [ID kasus 3201-000001]'), m)
        wait_for(lambda: not self.n.files('incoming') and not self.n.files('outgoing'),
                 'incoming/ and outgoing/ to empty (left: %s %s; node log: %s)' % (
                     self.n.files('incoming'), self.n.files('outgoing'), self.node_log()))
        self.assertEqual(len(self.n.files('processed')), 1)
        self.assertEqual(os.stat(os.path.join(self.n.spool, 'processed')).st_uid,
                         65534)                          # made by the node's user

    def test_with_the_sticky_bit_the_node_cannot_move_files(self):
        """Debian's sticky incoming/: the node answers once, cannot move the
        file, says why, and does not answer it again on every pass."""
        self.docs_setup()
        os.chmod(os.path.join(self.n.spool, 'incoming'), 0o3770)     # the t back
        gw = self.start()
        gw.inject(REPORTER, 'U KBG SP 2', 1)
        wait_for(lambda: gw.sent(), 'the reply')
        wait_for(lambda: 'cannot move' in self.node_log(), 'the node to say it cannot move')
        self.assertIn('Operation not permitted', self.node_log())
        self.assertIn('incoming has the sticky bit', self.node_log())      # said at start
        time.sleep(12)                                  # longer than the 10 s rescan
        self.assertEqual(len(gw.sent()), 1, 'answered again on a later pass')
        self.assertEqual(len(self.n.files('incoming')), 1)          # still there


if __name__ == '__main__':
    EXE = os.path.abspath(sys.argv.pop(1))
    for tool in ('gammu-smsd', 'smsd'):
        if not shutil.which(tool):
            sys.exit('test_gateway.py: %s is missing: scripts/deps.sh installs gammu-smsd and '
                     'smstools' % tool)
    unittest.main(verbosity=2)
