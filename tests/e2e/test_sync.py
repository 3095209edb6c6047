#!/usr/bin/env python3
"""test_sync.py - end-to-end sync: real sikhnas-node stores, the real
sikhnas-hub over TLS, a throwaway PostgreSQL + PostGIS (tests/lib/pgtemp.py).

    test_sync.py NODE_EXE HUB_EXE [TEST ...]

Every test uses a new node (its own node id), so the tests share one
PostgreSQL and one hub and count only their own rows. Faults: a TCP proxy
that cuts the connection mid-request and mid-response, kill -9 of the node
during a sync, kill -9 of the hub during a batch, a PostgreSQL restart.
The invariant checked after each: every record is in PostgreSQL exactly
once, the node's outbox is empty, and nothing was refused that was good."""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import e2elib  # noqa: E402
from e2elib import hubtest, nodetest, Proxy  # noqa: E402

NODE_EXE = os.path.abspath(sys.argv[1])
HUB_EXE = os.path.abspath(sys.argv[2])
os.environ['SIKHNAS_HUB'] = HUB_EXE
ENV = None
TMP = nodetest.scratch('sikhnas-e2e-')   # removed at exit (SIKHNAS_KEEP_TMP=1 keeps it)
BOGOR = [v for v in nodetest.villages('3201')][:50]


def new_node(n=0, village_list=None):
    node = e2elib.enrolled_node(ENV, NODE_EXE, TMP)
    if n:
        path = e2elib.write_jsonl(os.path.join(node.tmp, 'in.jsonl'), n, village_list or BOGOR)
        r = node.run('import', '--no-progress', path, timeout=600)
        assert r.returncode == 0, r.stderr
    return node


def hub_url(port=None):
    return 'https://127.0.0.1:%d' % (port or ENV.hub.port)


def sync(node, *extra, port=None, timeout=600):
    args = ['sync', '--hub', hub_url(port), '--ca', ENV.hub.ca, '--no-progress'] + list(extra)
    return node.run(*args, timeout=timeout)


def ok_sync(node, *extra, port=None):
    r = sync(node, *extra, port=port)
    assert r.returncode == 0, 'sync failed (%d): %s' % (r.returncode, r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


def node_id(node):
    return node.status()['node_id']


def exactly_once(node, expect):
    """Every case report node made is centrally present once; its outbox is
    empty. (Nodes of one district also pull each other's corrected records
    here: the tests share a district, which a real deployment does not.)"""
    nid = node_id(node)
    rows, distinct = e2elib.pg_counts(ENV.pg, nid)
    local = node.sql('SELECT count(*) FROM case_report WHERE origin = ?', (nid,))[0][0]
    assert local == expect, 'node has %d reports, expected %d' % (local, expect)
    assert rows == distinct == expect, 'hub has %d rows (%d ids), expected %d' % (
        rows, distinct, expect)
    queued = node.sql("SELECT count(*) FROM outbox_named WHERE state_name = 'queued'")[0][0]
    assert queued == 0, '%d outbox entries still queued' % queued
    ids = set(r[0] for r in node.sql('SELECT id FROM case_report WHERE origin = ?', (nid,)))
    central = set(ENV.pg.psql("SELECT id FROM case_report WHERE origin = '%s'" % nid).split())
    assert ids == central, 'ids differ: %d only local, %d only central' % (
        len(ids - central), len(central - ids))
    maxseq = node.sql("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'")[0][0]
    acked = ENV.pg.scalar("SELECT acked_seq FROM node WHERE node_id = '%s'" % nid)
    assert acked == maxseq, 'hub acked_seq %s, node outbox seq %s' % (acked, maxseq)
    conflicts = ENV.pg.scalar("SELECT count(*) FROM conflict_log WHERE row_id IN "
                              "(SELECT id FROM case_report WHERE origin = '%s')" % nid)
    assert conflicts == 0, '%d conflicts logged for rows written once' % conflicts


# ------------------------------------------------------------------ tests

def test_push_exactly_once():
    node = new_node(300)
    for i in range(3):
        assert node.add_report(e2elib.report(i=i)).returncode == 0
    s = ok_sync(node)
    assert s['pushed'] == 303 and s['queued'] == 0, s
    exactly_once(node, 303)
    st = node.status()
    assert st['last_sync'] and st['outbox'] == 0 and st['rejected'] == 0, st
    assert st['oldest_unsent_age_s'] is None, st
    # a second round has nothing to push, and the hub applies nothing twice
    s = ok_sync(node)
    assert s['pushed'] == 0, s
    exactly_once(node, 303)
    # an edit of a synced record goes up as a new version of the same row
    rid = node.sql('SELECT id FROM case_report LIMIT 1')[0][0]
    subprocess.run(['sqlite3', node.db, "UPDATE case_report SET note = 'edited', "
                    "hlc = hlc + 1 WHERE id = '%s'" % rid], check=True)
    ok_sync(node)
    assert ENV.pg.psql("SELECT note FROM case_report WHERE id = '%s'" % rid) == 'edited'
    exactly_once(node, 303)


def test_tls_session_kept():
    """The TLS session of a round's full handshake is kept beside the store
    (mode 0600) and resumed by the next round, which is a new process; a
    session the hub no longer holds, a damaged or outdated file, or one
    made with another node's certificate costs a full handshake, never a
    sync; a revoked node is refused on a resumed session too."""
    node, other = new_node(), new_node()
    path = node.db + '.tls-session'
    s = ok_sync(node)
    assert (s['tls_full'], s['tls_resumed']) == (1, 0), s
    assert os.stat(path).st_mode & 0o777 == 0o600, oct(os.stat(path).st_mode)
    ok_sync(other)

    def round_(expect, n):
        assert node.add_report(e2elib.report(i=n)).returncode == 0
        s = ok_sync(node)
        assert s['pushed'] == 1 and (s['tls_full'], s['tls_resumed']) == expect, (expect, s)
    round_((0, 1), 1)
    round_((0, 1), 2)
    # damaged: a full handshake, and a good file again
    data = open(path, 'rb').read()
    open(path, 'wb').write(data[:-40] + b'x' * 40)
    round_((1, 0), 3)
    round_((0, 1), 4)
    # outdated (kept 20 h at most)
    lines = open(path, 'rb').read().split(b'\n', 3)     # magic, binding, time, DER
    lines[2] = str(int(time.time()) - 21 * 3600).encode()
    open(path, 'wb').write(b'\n'.join(lines))
    round_((1, 0), 5)
    # another node's session, made with its certificate: never offered
    open(path, 'wb').write(open(other.db + '.tls-session', 'rb').read())
    round_((1, 0), 6)
    exactly_once(node, 6)
    # the hub forgot its sessions (a restart): a full handshake
    port = ENV.hub.port
    ENV.hub.stop()
    ENV.hub.port = port
    ENV.hub.start()
    round_((1, 0), 7)
    round_((0, 1), 8)
    exactly_once(node, 8)
    # revoked: refused on the resumed session (the hub checks every request)
    nid = node_id(node)
    name = ENV.pg.psql("SELECT name FROM node WHERE node_id = '%s'" % nid)
    ENV.hub.run_cmd('node', 'revoke', name)
    assert node.add_report(e2elib.report(i=9)).returncode == 0
    r = node.run('-v', '-v', 'sync', '--hub', hub_url(), '--ca', ENV.hub.ca, '--no-progress',
                 '--retries', '0')
    assert r.returncode != 0 and 'revoked' in r.stderr, r.stderr
    assert 'the session kept was resumed' in r.stderr, r.stderr[-3000:]


def test_status_before_sync():
    node = new_node(0)
    assert node.add_report(e2elib.report()).returncode == 0
    st = node.status()
    assert st['last_sync'] is None and st['outbox'] == 1, st
    assert isinstance(st['oldest_unsent_age_s'], (int, float)), st
    assert st['oldest_unsent_age_s'] >= 0, st
    # a hub that is not there: a clear message, non-zero, recorded in status
    r = node.run('sync', '--hub', 'https://127.0.0.1:1', '--ca', ENV.hub.ca, '--retries', '0',
                 '--no-progress')
    assert r.returncode != 0 and 'failed' in r.stderr, (r.returncode, r.stderr)
    st = node.status()
    assert st['last_error'] and st['outbox'] == 1, st
    # a hub whose certificate is not signed by the given CA is refused
    other = tempfile.mkdtemp(dir=TMP)
    ca2, _, _ = hubtest.make_ca(other)
    r = node.run('sync', '--hub', hub_url(), '--ca', ca2, '--retries', '0', '--no-progress')
    assert r.returncode != 0 and 'certificate' in r.stderr, r.stderr
    assert node.status()['outbox'] == 1


def test_refused_rows_do_not_wedge():
    node = new_node(50)
    ids = [r[0] for r in node.sql('SELECT id FROM case_report ORDER BY hlc')]
    # a village of another district (Sukabumi) and an unknown sign code, written
    # behind the validator's back; the triggers queue both
    subprocess.run(['sqlite3', node.db,
                    "UPDATE case_report SET village = '3202010001' WHERE id = '%s';"
                    "UPDATE case_report SET signs = '[\"XXQ\"]' WHERE id = '%s';"
                    % (ids[10], ids[20])], check=True)
    s = ok_sync(node)
    assert s['refused'] == 2 and s['queued'] == 0, s
    nid = node_id(node)
    rows, _ = e2elib.pg_counts(ENV.pg, nid)
    assert rows == 48, rows
    st = node.status()
    assert st['rejected'] == 2 and st['outbox'] == 0, st
    lst = json.loads(node.run('report', 'list', '--json').stdout)
    bad = {r['id']: r for r in lst if r['sync'] == 'rejected'}
    assert set(bad) == {ids[10], ids[20]}, bad.keys()
    assert bad[ids[10]]['sync_error'].startswith('out_of_district'), bad[ids[10]]
    assert bad[ids[20]]['sync_error'].startswith('unknown_code'), bad[ids[20]]
    assert sum(1 for r in lst if r['sync'] == 'synced') == 48
    # later records still flow
    assert node.add_report(e2elib.report(i=5)).returncode == 0
    s = ok_sync(node)
    assert s['pushed'] == 1 and s['refused'] == 0, s
    assert e2elib.pg_counts(ENV.pg, nid)[0] == 49
    # fixing a refused record sends it and clears its rejection
    subprocess.run(['sqlite3', node.db, "UPDATE case_report SET village = '3201011001' "
                    "WHERE id = '%s'" % ids[10]], check=True)
    s = ok_sync(node)
    assert s['pushed'] == 1 and s['refused'] == 0, s
    assert e2elib.pg_counts(ENV.pg, nid)[0] == 50
    assert node.status()['rejected'] == 1


def test_duplicate_batch_after_lost_ack():
    """The ack is cut off after the hub committed: the next run asks the hub
    for its high-water mark first, drops what the hub has, and sends nothing
    twice (nor is anything applied twice)."""
    node = new_node(400)
    proxy = Proxy(ENV.hub.port)
    try:
        # the handshake and the request go through; the answer is cut after 20 bytes
        proxy.fault(cut_down=20, after_up=4000, times=1)
        r = sync(node, '--retries', '0', port=proxy.port)
        assert r.returncode != 0, r.stdout
        assert proxy.cuts >= 1
        # the hub applied the batch; the node still has it queued
        nid = node_id(node)
        assert e2elib.pg_counts(ENV.pg, nid)[0] == 400
        assert node.status()['outbox'] == 400
        s = ok_sync(node, port=proxy.port)
        assert s['pushed'] == 0 and s['found_acked'] == 400 and s['batches'] == 0, s
        assert s['bytes_up'] < 4000, s      # a probe, not the batch again
        exactly_once(node, 400)
        # a row the hub refused in a batch whose answer was lost is marked
        # refused from the probe's answer, not taken as delivered
        bad = node.sql('SELECT id FROM case_report ORDER BY hlc LIMIT 1')[0][0]
        subprocess.run(['sqlite3', node.db, "UPDATE case_report SET village = '3202010001', "
                        "hlc = hlc + 1 WHERE id = '%s'" % bad], check=True)
        path = e2elib.write_jsonl(os.path.join(node.tmp, 'more.jsonl'), 200, BOGOR, seed=7)
        assert node.run('import', path, '--no-progress').returncode == 0
        proxy.fault(cut_down=20, after_up=4000, times=1)
        r = sync(node, '--retries', '0', port=proxy.port)
        assert r.returncode != 0 and proxy.cuts >= 2, r.stdout
        s = ok_sync(node, port=proxy.port)
        assert s['pushed'] == 0 and s['found_acked'] == 200 and s['refused'] == 1, s
        lst = {x['id']: x for x in json.loads(node.run('report', 'list', '--json').stdout)}
        assert lst[bad]['sync'] == 'rejected', lst[bad]
        assert lst[bad]['sync_error'].startswith('out_of_district'), lst[bad]
        assert node.status()['outbox'] == 0 and node.status()['rejected'] == 1
    finally:
        proxy.close()


def test_cut_mid_request_and_mid_response():
    proxy = Proxy(ENV.hub.port)
    try:
        # cuts in the first request of a connection fail the run (no retries);
        # a fresh node each, so that the first request is a batch (a node whose
        # answer was lost asks for the hub's high-water mark first)
        nodes = []
        for kw in ({'cut_down': 10, 'after_up': 3000}, {'cut_up': 4000}):
            node = new_node(3000)
            nodes.append(node)
            proxy.fault(times=1, **kw)
            r = sync(node, '--retries', '0', '--batch-kib', '16', port=proxy.port)
            assert r.returncode != 0, (kw, r.stdout, proxy.conns, proxy.cuts)
            assert 'failed' in r.stderr, r.stderr
        ok_sync(nodes[0], port=proxy.port)
        exactly_once(nodes[0], 3000)
        # later in a kept-alive connection libcurl may re-send on a new
        # connection by itself (a reused connection that died): either way
        for kw in ({'cut_up': 20000}, {'cut_down': 3000}, {'cut_down': 10, 'after_up': 30000}):
            proxy.fault(times=1, **kw)
            sync(node, '--retries', '0', '--batch-kib', '16', port=proxy.port)
        # with retries the same cuts are ridden out within one run
        proxy.fault(cut_down=100, after_up=8000, times=2)
        s = ok_sync(node, '--batch-kib', '16', port=proxy.port)
        assert s['queued'] == 0, s
        exactly_once(node, 3000)
    finally:
        proxy.close()


def test_store_restored_from_backup():
    """A store put back from an older copy reuses outbox seqs the hub has
    already acknowledged; its new records must still arrive."""
    node = new_node(5)
    backup = os.path.join(node.tmp, 'backup.db')
    subprocess.run(['sqlite3', node.db, ".backup '%s'" % backup], check=True)
    for i in range(5):
        assert node.add_report(e2elib.report(i=i)).returncode == 0
    ok_sync(node)
    nid = node_id(node)
    assert e2elib.pg_counts(ENV.pg, nid)[0] == 10
    os.replace(backup, node.db)
    for suffix in ('-wal', '-shm'):
        if os.path.exists(node.db + suffix):
            os.unlink(node.db + suffix)
    for i in range(3):
        assert node.add_report(e2elib.report(i=i, note='after restore')).returncode == 0
    ok_sync(node)
    rows, distinct = e2elib.pg_counts(ENV.pg, nid)
    assert rows == distinct == 13, (rows, distinct)
    assert ENV.pg.scalar("SELECT count(*) FROM case_report WHERE origin = '%s' AND "
                         "note = 'after restore'" % nid) == 3
    assert node.status()['outbox'] == 0


def test_batches_bounded_in_plain_bytes():
    """A backlog goes up in batches of at most PLAIN_BATCH (1 MiB) before
    compression, however many rows the node may send at once: the batch is
    what the uplink program holds several times (issue 13, footprint). With
    8,000 reports the ramp (1,000, 2,000, 4,000 rows) would reach 1.2 MB."""
    node = new_node(8000)
    r = node.run('-vv', 'sync', '--hub', hub_url(), '--ca', ENV.hub.ca, '--no-progress',
                 timeout=600)
    assert r.returncode == 0, r.stderr
    sizes = [(int(m.group(1)), int(m.group(2))) for m in
             re.finditer(r'batch of (\d+) rows up to seq \d+: (\d+) bytes', r.stderr)]
    assert sum(n for n, _ in sizes) == 8000, sizes
    biggest = max(b for _, b in sizes)
    # the cap binds (a batch near it) and holds (one row over it at most)
    assert (1 << 20) * 3 // 4 < biggest <= (1 << 20) + 4096, sizes
    exactly_once(node, 8000)


def batch_rows(node, *extra):
    r = node.run('-vv', 'sync', '--hub', hub_url(), '--ca', ENV.hub.ca, '--no-progress',
                 *extra, timeout=600)
    assert r.returncode == 0, r.stderr
    return [int(n) for n in re.findall(r'batch of (\d+) rows up to seq', r.stderr)]


def test_small_rest_goes_along():
    """A batch cut at its size with a quarter of its rows or fewer left goes
    with the rest instead of leaving a small batch (a turnaround on 2G):
    the batches of 1,500 reports at 8 KiB first give b1, b2, ...; a node
    with b1 + b2 + b2/8 reports sends two batches, not three."""
    a = new_node(1500)
    bs = batch_rows(a, '--batch-kib', '8')
    assert len(bs) >= 4 and sum(bs) == 1500, bs
    n = bs[0] + bs[1] + bs[1] // 8
    b = new_node(n)
    got = batch_rows(b, '--batch-kib', '8')
    assert sum(got) == n, (bs, got)
    if got[0] == bs[0]:
        assert len(got) == 2 and got[1] > bs[1], (bs, got)
    else:
        # b's rows compressed otherwise than a's (their ids and times are
        # made at import, slower under ASan on a busy machine), so its cuts
        # differ: the rule itself then, no rest of a quarter of the batch
        # before it or less left behind (a CI run: a 227, 230, ...; b 212,
        # 212, 61: 61 more than a quarter of 212, three batches right)
        assert len(got) >= 2 and got[-1] > got[-2] // 4, (bs, got)
    exactly_once(b, n)


def test_slow_link_shrinks_batches():
    """A link too slow for the first batch within the request timeout: the
    batch is halved after each timeout until it fits, and the sync finishes."""
    node = new_node(1500)
    conf = os.path.join(node.tmp, 'slow.ini')
    with open(conf, 'w') as f:
        f.write('[sync]\ntimeout_s = 5\n')
    proxy = Proxy(ENV.hub.port)
    proxy.rate = 5000
    try:
        r = node.run('--config', conf, 'sync', '--hub', hub_url(proxy.port), '--ca', ENV.hub.ca,
                     '--no-progress', '--retries', '3', timeout=300)
        assert r.returncode == 0, r.stderr
        assert 'smaller batches' in r.stderr, r.stderr
        s = json.loads(r.stdout.strip().splitlines()[-1])
        # a batch whose answer timed out may have landed: found, not re-sent
        assert s['batches'] >= 1 and s['pushed'] + s['found_acked'] == 1500, s
    finally:
        proxy.close()
    exactly_once(node, 1500)


def test_kill9_node_mid_sync():
    node = new_node(10000)
    args = [NODE_EXE, '--db', node.db, 'sync', '--hub', hub_url(), '--ca', ENV.hub.ca,
            '--no-progress', '--batch-kib', '8']
    queued = lambda: node.sql("SELECT count(*) FROM outbox_named WHERE state_name = 'queued'")[0][0]  # noqa
    for _ in range(2):
        # kill -9 as soon as an ack has been applied: mid-sync, more to go
        before = queued()
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        e2elib.wait_for(lambda: queued() < before, timeout=60, step=0.02)
        p.kill()
        p.wait()
    left = node.status()['outbox']
    assert 0 < left < 10000, 'kill -9 did not land mid-sync (%d left)' % left
    ok_sync(node)
    exactly_once(node, 10000)


def test_kill9_between_commit_and_cleanup():
    """kill -9 of `sync` after the hub committed a batch and before the node
    dropped it from its outbox (the answer held back by the proxy), three
    times: the next run learns the hub's high-water mark and drops what the
    hub has; it neither renumbers the outbox nor sends those rows again."""
    node = new_node(0)
    nid = node_id(node)
    proxy = Proxy(ENV.hub.port)
    try:
        for trial in range(3):
            path = e2elib.write_jsonl(os.path.join(node.tmp, 't%d.jsonl' % trial), 3000, BOGOR,
                                      seed=100 + trial)
            r = node.run('import', '--no-progress', path, timeout=600)
            assert r.returncode == 0, r.stderr
            before = e2elib.pg_counts(ENV.pg, nid)[0]
            queued = node.status()['outbox']
            maxseq = node.sql("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'")[0][0]
            proxy.fault(hold=True, after_up=3000, times=2)
            p = subprocess.Popen([NODE_EXE, '--db', node.db, 'sync', '--hub', hub_url(proxy.port),
                                  '--ca', ENV.hub.ca, '--no-progress', '--batch-kib', '64'],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            assert e2elib.wait_for(lambda: e2elib.pg_counts(ENV.pg, nid)[0] > before and
                                   proxy.held > 0, timeout=60), 'the hub applied nothing'
            time.sleep(0.5)                 # a batch sent ahead may land as well
            p.kill()
            p.wait()
            # a batch the hub was applying when the node died still lands
            landed, still = -1, 0
            while still < 4:
                n = e2elib.pg_counts(ENV.pg, nid)[0] - before
                still = still + 1 if n == landed else 0
                landed = n
                time.sleep(0.25)
            assert node.status()['outbox'] == queued, 'the node dropped rows without an answer'
            r = sync(node)
            assert r.returncode == 0, r.stderr
            assert 'backup' not in r.stderr, r.stderr
            s = json.loads(r.stdout.strip().splitlines()[-1])
            assert s['found_acked'] == landed, (s, landed)
            assert s['pushed'] == queued - landed, (s, queued, landed)
            after = node.sql("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'")[0][0]
            assert after == maxseq, 'the outbox was renumbered (%d -> %d)' % (maxseq, after)
            exactly_once(node, 3000 * (trial + 1))
    finally:
        proxy.close()


def test_officer_saves_during_two_syncs():
    """Two syncs of one store started at once (say the daemon's round and one
    by hand) while an officer keeps saving reports: the second sync waits for
    the first, every save goes through, and none waits for more than a short
    sync transaction (2 s is the bound here, for a loaded test machine; the
    store's busy timeout is 5 s)."""
    node = new_node(20000)
    args = [NODE_EXE, '--db', node.db, 'sync', '--hub', hub_url(), '--ca', ENV.hub.ca,
            '--no-progress']
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    lat = []
    deadline = time.time() + 120
    while any(p.poll() is None for p in procs) and time.time() < deadline:
        t0 = time.time()
        r = node.add_report(e2elib.report(i=len(lat)))
        lat.append(time.time() - t0)
        assert r.returncode == 0, 'save %d refused: %s' % (len(lat), r.stderr)
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    assert any('another sync of this store is running' in err for _, err in outs), outs
    lat.sort()
    print('     %d saves during the syncs: median %.3f s, max %.3f s'
          % (len(lat), lat[len(lat) // 2], lat[-1]))
    assert len(lat) >= 3, 'the syncs ended before the saves could overlap them'
    assert lat[-1] < 2.0, 'a save waited %.2f s' % lat[-1]
    ok_sync(node)
    exactly_once(node, 20000 + len(lat))


def test_kill9_hub_mid_batch():
    node = new_node(10000)
    port = ENV.hub.port
    args = [NODE_EXE, '--db', node.db, 'sync', '--hub', hub_url(), '--ca', ENV.hub.ca,
            '--no-progress', '--batch-kib', '64', '--retries', '0']
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # right after the first ack the next batch is on its way: kill the hub then
    e2elib.wait_for(lambda: node.sql('SELECT count(*) FROM outbox')[0][0] < 10000,
                    timeout=60, step=0.02)
    ENV.hub.stop(sig=signal.SIGKILL)
    out, err = p.communicate(timeout=120)
    assert p.returncode != 0, 'the sync finished before the hub was killed'
    ENV.hub.port = port
    ENV.hub.start()
    assert node.status()['outbox'] > 0
    ok_sync(node)
    exactly_once(node, 10000)


def test_postgres_restart():
    node = new_node(10000)
    args = [NODE_EXE, '--db', node.db, 'sync', '--hub', hub_url(), '--ca', ENV.hub.ca,
            '--no-progress', '--batch-kib', '32', '--retries', '8']
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    ENV.pg.restart()
    out, err = p.communicate(timeout=300)
    if p.returncode != 0:        # retries ran out while the database was away: once more
        ok_sync(node)
    exactly_once(node, 10000)
    # and a crash of PostgreSQL (kill -9) between two syncs
    for i in range(20):
        assert node.add_report(e2elib.report(i=i)).returncode == 0
    ENV.pg.kill9()
    r = sync(node, '--retries', '0')
    assert r.returncode != 0, r.stdout
    assert node.status()['last_error'], node.status()
    ENV.pg.start()
    e2elib.wait_for(lambda: sync(node).returncode == 0, timeout=60, step=1)
    exactly_once(node, 10020)


def test_pull_reference_and_corrections():
    node = new_node(5)
    ok_sync(node)
    nid = node_id(node)
    rid = node.sql('SELECT id FROM case_report ORDER BY hlc LIMIT 1')[0][0]
    # central edits: a correction of this node's record, a renamed village,
    # a new code, an officer of the district (and one of another district)
    ENV.pg.psql("UPDATE case_report SET note = 'corrected centrally', event_date = "
                "'2026-11-02' WHERE id = '%s'" % rid)
    ENV.pg.psql("UPDATE area SET name = 'Desa Baru' WHERE code = '3201011001'")
    ENV.pg.psql("INSERT INTO code_list (list, code, label_id, label_en) "
                "VALUES ('sign', 'ZZT', 'uji', 'test sign') ON CONFLICT DO NOTHING")
    for oid, district, phone in ((hubtest.uuid7(), '3201', '+628111000001'),
                                 (hubtest.uuid7(), '3202', '+628111000002')):
        ENV.pg.psql("INSERT INTO officer (id, origin, hlc, created_at, updated_at, name, role, "
                    "phone, district) VALUES ('%s', 'central', 0, now(), now(), 'Dr %s', 'vet', "
                    "'%s', '%s')" % (oid, district, phone, district))
    before = node.sql("SELECT count(*) FROM outbox")[0][0]
    s = ok_sync(node)
    assert s['pulled'] >= 4, s
    row = node.sql("SELECT note, event_date FROM case_report WHERE id = ?", (rid,))[0]
    assert row == ('corrected centrally', '2026-11-02'), row
    assert node.sql("SELECT name FROM area WHERE code = '3201011001'")[0][0] == 'Desa Baru'
    assert node.sql("SELECT count(*) FROM code_list WHERE code = 'ZZT'")[0][0] == 1
    phones = [r[0] for r in node.sql("SELECT phone FROM officer")]
    assert '+628111000001' in phones and '+628111000002' not in phones, phones
    # applied rows are not queued back up
    assert node.sql("SELECT count(*) FROM outbox")[0][0] == before
    assert node.sql("SELECT count(*) FROM sync_apply")[0][0] == 0
    # caught up: the next round pulls nothing
    s = ok_sync(node)
    assert s['pulled'] == 0, s
    # an older version never overwrites a newer one (LWW by hlc): a local edit
    # made after the correction wins locally and centrally
    subprocess.run(['sqlite3', node.db, "UPDATE case_report SET note = 'local later', "
                    "hlc = (SELECT value FROM meta WHERE key = 'hlc') + 100000 "
                    "WHERE id = '%s'" % rid], check=True)
    ok_sync(node)
    assert ENV.pg.psql("SELECT note FROM case_report WHERE id = '%s'" % rid) == 'local later'
    assert nid
    # a new node of the same district (a reinstalled board) gets the corrected
    # record, and never hands out its reference again
    ref = node.sql("SELECT ref FROM case_report WHERE id = ?", (rid,))[0][0]
    node_b = new_node(0)
    ok_sync(node_b)
    assert node_b.sql("SELECT ref FROM case_report WHERE id = ?", (rid,)) == [(ref,)]
    r = node_b.add_report(e2elib.report())
    assert r.returncode == 0, r.stderr
    assert int(json.loads(r.stdout)['ref'][5:]) > int(ref[5:]), (r.stdout, ref)


def test_wrong_node_clock():
    """A node whose clock runs a day ahead: its rows carry future HLCs, which
    would win last-writer-wins against every correction for a day: the hub
    refuses them (hlc_ahead), the node shows them as rejected, and the hub
    does not follow it into the future. A node whose HLC is far behind moves
    up to the hub's."""
    node = new_node(0)
    day = 86400 * 1000
    future = (int(time.time() * 1000) + day) << 16
    subprocess.run(['sqlite3', node.db, "UPDATE meta SET value = '%d' WHERE key = 'hlc'"
                    % future], check=True)
    assert node.add_report(e2elib.report()).returncode == 0
    rid, hlc = node.sql('SELECT id, hlc FROM case_report')[0]
    assert hlc > future
    s = ok_sync(node)
    assert s['refused'] == 1, s
    hub_hlc = ENV.pg.scalar('SELECT sikhnas_hlc_next()')
    assert hub_hlc < future, 'the hub followed a node clock a day ahead'
    assert ENV.pg.scalar("SELECT count(*) FROM case_report WHERE id = '%s'" % rid) == 0
    lst = json.loads(node.run('report', 'list', '--json').stdout)
    assert [r['sync_error'].split(':')[0] for r in lst if r['id'] == rid] == ['hlc_ahead'], lst
    # behind: the store's clock as on a board that booted in 1970
    node2 = new_node(0)
    subprocess.run(['sqlite3', node2.db, "UPDATE meta SET value = '65536' WHERE key = 'hlc'"],
                   check=True)
    ok_sync(node2)
    h = int(node2.sql("SELECT value FROM meta WHERE key = 'hlc'")[0][0])
    assert h >> 16 > (time.time() - 3600) * 1000, 'the node did not take the hub clock'


def test_daemon_syncs_on_timer():
    node = new_node(30)
    ok_sync(node)                           # remembers the hub in the store
    for i in range(7):
        assert node.add_report(e2elib.report(i=i)).returncode == 0
    conf = os.path.join(node.tmp, 'node.ini')
    with open(conf, 'w') as f:
        f.write('[sync]\ninterval_s = 5\n')
    logf = open(os.path.join(node.tmp, 'run.log'), 'w')
    p = subprocess.Popen([NODE_EXE, '--db', node.db, '--config', conf, 'run'],
                         stdout=logf, stderr=logf)
    try:
        nid = node_id(node)
        got = e2elib.wait_for(lambda: e2elib.pg_counts(ENV.pg, nid)[0] == 37, timeout=30)
        assert got, 'the daemon did not push within 30 s: %s' % open(logf.name).read()
        # the hub goes away: the daemon keeps retrying with backoff, and
        # catches up when it is back
        port = ENV.hub.port
        ENV.hub.stop()
        for i in range(5):
            assert node.add_report(e2elib.report(i=i)).returncode == 0
        e2elib.wait_for(lambda: node.status()['last_error'], timeout=30)
        assert node.status()['last_error'], 'no error recorded while the hub was down'
        ENV.hub.port = port
        ENV.hub.start()
        got = e2elib.wait_for(lambda: e2elib.pg_counts(ENV.pg, nid)[0] == 42, timeout=90,
                              step=0.5)
        assert got, 'the daemon did not catch up: %s' % open(logf.name).read()[-2000:]
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    assert p.returncode == 0, 'run exited %d: %s' % (p.returncode, open(logf.name).read())
    exactly_once(node, 42)


def test_daemon_syncs_soon_after_sms():
    """A record saved inside the daemon (here: an SMS from the spool) is
    pushed within seconds, long before the next timed round."""
    node = new_node(0)
    r = node.run('officer', 'add', '--name', 'Budi Pelsa', '--phone', '081234567890',
                 '--role', 'reporter', '--village', '3201011001')
    assert r.returncode == 0, r.stderr
    ok_sync(node)
    nid = node_id(node)
    spool = os.path.join(node.tmp, 'spool')
    for sub in ('incoming', 'outgoing'):
        os.makedirs(os.path.join(spool, sub))
    conf = os.path.join(node.tmp, 'node.ini')
    with open(conf, 'w') as f:
        f.write('[sync]\ninterval_s = 600\n[sms]\ngateway = smstools\n')
    logf = open(os.path.join(node.tmp, 'run.log'), 'w')
    p = subprocess.Popen([NODE_EXE, '--db', node.db, '--config', conf, 'run', '--sms-spool',
                          spool], stdout=logf, stderr=logf)
    try:
        before = node.status()['last_sync']
        # the round at start-up, then quiet for interval_s
        assert e2elib.wait_for(lambda: node.status()['last_sync'] != before, timeout=20)
        text = 'U KBG,DMM SP 2'
        head = ('From: 6281234567890\nSent: 26-11-28 10:00:01\nReceived: 26-11-28 10:00:05\n'
                'Alphabet: ISO\nLength: %d\n' % len(text))
        path = os.path.join(spool, 'incoming', 'GSM1.000001')
        with open(path + '.part', 'w') as f:
            f.write(head + '\n' + text)
        os.utime(path + '.part', (time.time() - 5, time.time() - 5))
        os.rename(path + '.part', path)
        t0 = time.time()
        got = e2elib.wait_for(lambda: e2elib.pg_counts(ENV.pg, nid)[0] == 1, timeout=30)
        assert got, 'not pushed within 30 s: %s' % open(logf.name).read()[-2000:]
        assert time.time() - t0 < 30
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    assert p.returncode == 0, open(logf.name).read()
    exactly_once(node, 1)


TESTS = [test_status_before_sync, test_push_exactly_once, test_tls_session_kept, test_refused_rows_do_not_wedge,
         test_duplicate_batch_after_lost_ack, test_cut_mid_request_and_mid_response,
         test_pull_reference_and_corrections, test_wrong_node_clock,
         test_store_restored_from_backup, test_batches_bounded_in_plain_bytes,
         test_small_rest_goes_along,
         test_slow_link_shrinks_batches,
         test_kill9_between_commit_and_cleanup, test_officer_saves_during_two_syncs,
         test_kill9_node_mid_sync,
         test_daemon_syncs_on_timer, test_daemon_syncs_soon_after_sms,
         test_kill9_hub_mid_batch, test_postgres_restart]


def restart_dead_hub():
    """After a failed test: a hub the test left dead is started again."""
    if ENV.hub.proc is None or ENV.hub.proc.poll() is not None:
        ENV.hub.start()


def main():
    global ENV
    ENV = hubtest.Env()
    return e2elib.run_tests(TESTS, sys.argv[3:], ENV, after_failure=restart_dead_hub)


if __name__ == '__main__':
    sys.exit(main())
