#!/usr/bin/env python3
"""test_link.py - the node and the hub over an emulated 2G link
(tests/field/linkemu.py: two TUN devices, the node in a network namespace
of its own, a user-space forwarder with rate, delay, loss and cuts).

    test_link.py NODE_EXE HUB_EXE [PROFILE ...]

Profiles: 2g (50 kbit/s, 300 ms round trip, 5 % loss, and a 30 s cut in
the middle of a push) and edge (256 kbit/s, 200 ms, 1 % loss). For each:
enrolment, the first sync and REPORTS queued reports go over the link;
push goodput (HTTP bytes up over the round's time, against the link's rate)
at least the profile's floor (the goal is 80 %, not reached yet: see
docs/performance.md); after the cut, the bytes sent again are counted
against the clean push: at most 10 %, the goal (TCP rides the cut out).
Prints the figures (docs/performance.md records them). Needs root."""
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, '..', 'e2e'))
import e2elib  # noqa: E402
import linkemu  # noqa: E402
from e2elib import hubtest, nodetest  # noqa: E402

NODE_EXE = os.path.abspath(sys.argv[1])
HUB_EXE = os.path.abspath(sys.argv[2])
os.environ['SIKHNAS_HUB'] = HUB_EXE
hubtest.AREAS_DIR = os.environ.get('SIKHNAS_AREAS', e2elib.AREAS)
REPORTS = int(os.environ.get('SIKHNAS_FIELD_REPORTS', '1000'))
TMP = nodetest.scratch('sikhnas-link-')
ENV = None

# push goodput, the whole round's time (handshakes, pull, health report
# included) against the link's rate; the goal is 80 %, not reached
# (docs/performance.md, "Evening: resume within a batch"). Each profile
# holds a floor below its lowest run on the busy shared machine, so that
# it cannot silently get worse (edge: runs 0.21-0.41, one CI run 0.23: the
# floor 0.15 guards a collapse, not the goal); SIKHNAS_FIELD_GOODPUT
# overrides both.
GOODPUT_ENV = os.environ.get('SIKHNAS_FIELD_GOODPUT')
LANE_MARGIN = float(os.environ.get('SIKHNAS_FIELD_LANE_MARGIN', '1.5'))
# the 30 s cut is ridden out: the hub gives a node 75 s of silence within
# a request and between two (--stall-timeout), the node waits 90 s, and
# TCP's backed-off retransmission comes within a minute on the same
# connection; the goal, 10 %, is the guard (before: 8-21 %, the hub's and
# the node's 30 s running out with the cut; docs/performance.md)
RESENT_CEIL = float(os.environ.get('SIKHNAS_FIELD_RESENT', '0.10'))
PROFILES = {
    '2g': dict(rate=50000, rtt=0.3, loss=0.05, cut=30, floor=0.25),
    'edge': dict(rate=256000, rtt=0.2, loss=0.01, cut=0, floor=0.15),
}


def make_certs(d, near):
    """The hub's certificates as hubtest.make_ca() makes them, for the near
    end of the link too (the node connects to it by address)."""
    def ossl(*a):
        subprocess.run(['openssl'] + list(a), check=True, capture_output=True)
    j = lambda n: os.path.join(d, n)  # noqa: E731
    with open(j('san.ext'), 'w') as f:
        f.write('subjectAltName=IP:127.0.0.1,IP:%s,DNS:localhost\nbasicConstraints=CA:FALSE\n'
                'keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n' % near)
    ossl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', j('ca.key'))
    ossl('req', '-x509', '-new', '-key', j('ca.key'), '-subj', '/CN=sikhnas link CA', '-days',
         '2', '-sha256', '-out', j('ca.pem'))
    ossl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', j('server.key'))
    ossl('req', '-new', '-key', j('server.key'), '-subj', '/CN=%s' % near, '-out', j('server.csr'))
    ossl('x509', '-req', '-in', j('server.csr'), '-CA', j('ca.pem'), '-CAkey', j('ca.key'),
         '-CAcreateserial', '-days', '2', '-sha256', '-extfile', j('san.ext'),
         '-out', j('server.pem'))


class LinkEnv(hubtest.Env):
    """hubtest.Env with the hub's certificate naming the link's near end."""

    def __init__(self, near):
        self.pg = hubtest.pgtemp.PgTemp().start()
        self.dir = os.path.join(self.pg.dir, 'hub')
        os.makedirs(self.dir, exist_ok=True)
        make_certs(self.dir, near)
        self.hub = hubtest.Hub(hubtest.hub_exe(), self.pg.conninfo, self.dir)
        self.hub.run_cmd('migrate')
        self.hub.run_cmd('refdata', 'load', '--areas', hubtest.AREAS_DIR)
        # a TLS handshake over 2G with 5 % loss can take a few retransmission
        # timeouts: the hub's default 5 s cut some (docs/node.md)
        self.hub.handshake_timeout = 30
        self.hub.start()


class Field:
    """A node whose every request to the hub crosses the link."""

    def __init__(self, link):
        self.link = link
        self.port = link.relay(ENV.hub.port)
        self.node = nodetest.Node(NODE_EXE, tmp=tempfile.mkdtemp(dir=TMP))
        self.url = 'https://%s:%d' % (link.near, self.port)

    def run(self, *args, timeout=900):
        return subprocess.run(self.link.cmd([NODE_EXE, '--db', self.node.db] + list(args)),
                              capture_output=True, text=True, timeout=timeout)

    def sync(self, *extra):
        t0 = time.monotonic()
        r = self.run('sync', '--hub', self.url, '--ca', ENV.hub.ca, '--no-progress',
                     '--retry-for', '600', *extra)
        assert r.returncode == 0, 'sync over the link failed: %s' % r.stderr[-2000:]
        s = json.loads(r.stdout.strip().splitlines()[-1])
        s['wall'] = time.monotonic() - t0
        return s

    def queue(self, n, seed):
        path = os.path.join(self.node.tmp, 'in-%d.jsonl' % seed)
        nodetest.write_jsonl(path, n, seed=seed, district='3201')
        r = self.node.run('import', '--no-progress', path, timeout=600)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout.strip().splitlines()[-1])['imported'] == n, r.stdout


def goodput(s, rate):
    """The whole round: HTTP bytes up over the sync's time (handshakes, the
    pull and the health report included)."""
    return s['bytes_up'] * 8.0 / s['seconds'] / rate


def push_goodput(s, rate):
    """The push phase: its requests' bytes up over the time from its first
    request (the connection's handshakes included) to its last answer."""
    return s['push_bytes_up'] * 8.0 / s['push_s'] / rate if s['push_s'] > 0 else 0.0


def run_profile(name, p):
    link = linkemu.Link(p['rate'], p['rtt'], p['loss'], seed=13).start()
    out = {'profile': name}
    try:
        f = Field(link)
        token = ENV.hub.run_cmd('node', 'add', '--district', '3201', '--name',
                                'field-' + name).stdout.strip()
        t0 = time.monotonic()
        r = f.run('enroll', '--hub', f.url, '--token', token, '--ca', ENV.hub.ca)
        assert r.returncode == 0, 'enrol over the link: ' + r.stderr
        out['enrol_s'] = round(time.monotonic() - t0, 1)
        s = f.sync()
        out['first_sync'] = {'s': round(s['wall'], 1), 'down': s['bytes_down'],
                             'pulled': s['pulled']}
        # the push: REPORTS queued reports, the link otherwise idle
        f.queue(REPORTS, 1)
        before = link.counters()
        s = f.sync()
        after = link.counters()
        assert s['pushed'] + s['found_acked'] == REPORTS, s
        busy = (after['up']['busy_s'] - before['up']['busy_s']) / s['seconds']
        out['push'] = {'reports': REPORTS, 's': round(s['seconds'], 1),
                       'records_per_s': round(REPORTS / s['seconds'], 1),
                       'http_up': s['bytes_up'], 'batches': s['batches'],
                       'goodput': round(goodput(s, p['rate']), 3),
                       'push_s': s['push_s'], 'push_goodput': round(push_goodput(s, p['rate']), 3),
                       'connects': s['connects'], 'connect_s': s['connect_s'],
                       'tls': 'resumed' if s['tls_resumed'] else 'full',
                       'link_busy': round(busy, 3),
                       'ip_up': after['up']['offered'] - before['up']['offered'],
                       'ip_down': after['down']['offered'] - before['down']['offered']}
        print('  %s: %s' % (name, json.dumps(out)), flush=True)
        # the goal is 80 %; what is reached today (docs/performance.md)
        # is held here so that it cannot silently get worse
        floor = float(GOODPUT_ENV) if GOODPUT_ENV else p['floor']
        assert out['push']['goodput'] >= floor, 'round goodput %.0f %% of the link (floor %.0f %%)' % (
            100 * out['push']['goodput'], 100 * floor)
        assert out['push']['push_goodput'] >= floor, 'push goodput %.0f %% (floor %.0f %%)' % (
            100 * out['push']['push_goodput'], 100 * floor)
        # one connection carries the round (a second one costs its handshakes)
        assert s['connects'] == 1, 'the round opened %d connections' % s['connects']
        # and resumed the TLS session of the first sync's round (node/sync_tls.c):
        # one round trip and no certificates instead of 1.35 s of handshake
        assert s['tls_resumed'] == 1 and s['tls_full'] == 0, s
        if p['cut']:
            out['lane'] = lane_run(f, s)
            print('  %s priority lane: %s' % (name, json.dumps(out['lane'])), flush=True)
            out['cut'] = cut_run(f, link, p, s)
            print('  %s cut: %s' % (name, json.dumps(out['cut'])), flush=True)
            # ridden out, or (a longer cut) resumed: not the batch again
            assert out['cut']['resent_ratio'] <= RESENT_CEIL, out['cut']
    finally:
        link.close()
    return out


def lane_run(f, clean):
    """A P report saved while REPORTS routine ones go up: how long until it
    is at the hub, against a batch's round trip in the clean push."""
    nid = f.node.sql("SELECT value FROM meta WHERE key = 'node_id'")[0][0]
    before = e2elib.pg_counts(ENV.pg, nid)[0]
    f.queue(REPORTS, 3)
    res = {}
    t = threading.Thread(target=lambda: res.update(s=f.sync()))
    t.start()
    assert e2elib.wait_for(lambda: e2elib.pg_counts(ENV.pg, nid)[0] > before,
                           timeout=300, step=0.2), 'no batch reached the hub'
    rep = e2elib.report(village=nodetest.villages('3201')[0], kind='P', syndrome='MMD')
    del rep['signs']
    r = f.node.add_report(rep)
    assert r.returncode == 0, r.stderr
    rid = json.loads(r.stdout)['id']
    t0 = time.monotonic()
    got = e2elib.wait_for(lambda: ENV.pg.psql(
        "SELECT count(*) FROM case_report WHERE id = '%s'" % rid) == '1', timeout=300, step=0.2)
    took = time.monotonic() - t0
    left = before + REPORTS + 1 - e2elib.pg_counts(ENV.pg, nid)[0]
    t.join(timeout=600)
    batch_rt = clean['seconds'] / max(1, clean['batches'])
    assert got, 'the P report did not reach the hub'
    out = {'p_report_s': round(took, 1), 'routine_left_then': left,
           'batch_round_trip_s': round(batch_rt, 1)}
    # a slow link carries one batch at a time, and the P report goes alone
    # in the next: it waits at most for the one on the wire, then its own
    # small batch's round trip
    assert took <= batch_rt + LANE_MARGIN, out
    return out


def cut_run(f, link, p, clean):
    """The same push with a cut of p['cut'] seconds once a third of it has
    gone up: what went up twice, against the clean push."""
    f.queue(REPORTS, 2)
    before = link.counters()['up']['offered']
    res = {}

    def push():
        res['s'] = f.sync()
    t = threading.Thread(target=push)
    t.start()
    time.sleep(clean['seconds'] / 3)
    link.cut(p['cut'])
    t.join(timeout=900)
    assert 's' in res, 'the push did not finish after the cut'
    s = res['s']
    # rows an attempt cut after the hub's commit are found there (the probe);
    # a routine entry that the lane run's P report moved past that round's
    # end may come in this one
    assert REPORTS <= s['pushed'] + s['found_acked'] <= REPORTS + 1, s
    nid = f.node.sql("SELECT value FROM meta WHERE key = 'node_id'")[0][0]
    local = f.node.sql("SELECT count(*) FROM case_report")[0][0]
    assert s['queued'] == 0 and e2elib.pg_counts(ENV.pg, nid) == (local, local), s
    ip_up = link.counters()['up']['offered'] - before
    # bytes_lost: the pushes whose answer never came (their rows went again)
    return {'s': round(s['seconds'], 1), 'http_up': s['bytes_up'],
            'http_up_clean': clean['bytes_up'], 'bytes_lost': s['bytes_lost'],
            'bytes_kept': s['bytes_kept'], 'resumes': s['resumes'],
            'resent_ratio': round(s['bytes_lost'] / (s['bytes_up'] - s['bytes_lost']), 3),
            'ip_up': ip_up, 'batches': s['batches']}


def main():
    global ENV
    want = sys.argv[3:] or list(PROFILES)
    if os.geteuid() != 0:
        print('SKIP: the link emulator needs root (namespaces, TUN)')
        return 77
    if not os.path.exists('/dev/net/tun'):
        print('SKIP: no /dev/net/tun on this machine (the link emulator needs TUN devices)')
        return 77
    failed = 0
    ENV = LinkEnv(linkemu.Link(1, 1, 0).near)
    try:
        for name in want:
            t0 = time.time()
            try:
                run_profile(name, PROFILES[name])
                print('ok   %s (%.1f s)' % (name, time.time() - t0), flush=True)
            except Exception:
                failed += 1
                print('FAIL %s (%.1f s)' % (name, time.time() - t0), flush=True)
                traceback.print_exc()
    finally:
        ENV.close()
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
