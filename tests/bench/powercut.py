#!/usr/bin/env python3
"""powercut.py - power cuts as a board meets them: LOOPS times, kill -9 at a
random moment of an import, of a burst of saved reports, and of a sync;
after each, PRAGMA integrity_check; every acknowledged record (an import's
committed chunks, a `report add` that printed its id) must be present; at
the end a sync makes the central counts exactly the node's.

    tests/bench/powercut.py NODE_EXE HUB_EXE [LOOPS]     (default 100)
Prints the figures; exits 1 on a broken invariant."""
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'e2e'))
import e2elib  # noqa: E402
from e2elib import hubtest, nodetest  # noqa: E402

NODE_EXE = os.path.abspath(sys.argv[1])
os.environ['SIKHNAS_HUB'] = os.path.abspath(sys.argv[2])
LOOPS = int(sys.argv[3]) if len(sys.argv) > 3 else 100
rng = random.Random(13)


def killed(cmd, at, stdin=None):
    """Runs cmd, kill -9 after `at` seconds (if still running); (rc, out)."""
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin else None,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        out, _ = p.communicate(input=stdin, timeout=at)
        return p.returncode, out
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGKILL)
        p.communicate()
        return -9, ''


def check(node, acked):
    ok = node.sql('PRAGMA integrity_check')[0][0]
    assert ok == 'ok', ok
    have = {r[0] for r in node.sql('SELECT id FROM case_report')}
    missing = acked - have
    assert not missing, '%d acknowledged records lost' % len(missing)


def main():
    env = hubtest.Env()
    tmp = nodetest.scratch('sikhnas-powercut-')
    t0 = time.time()
    kills = {'import': 0, 'burst': 0, 'sync': 0}
    try:
        node = nodetest.Node(NODE_EXE, tmp=tempfile.mkdtemp(dir=tmp))
        e2elib.enroll(env, node)
        base = [NODE_EXE, '--db', node.db]
        sync = base + ['sync', '--hub', 'https://127.0.0.1:%d' % env.hub.port, '--ca',
                       env.hub.ca, '--no-progress', '--retries', '0']
        vills = nodetest.villages('3201')[:50]
        acked = set()
        for i in range(LOOPS):
            # an import of 500 reports, cut (a resumed import goes on where it stopped)
            path = os.path.join(node.tmp, 'in-%d.jsonl' % i)
            nodetest.write_jsonl(path, 500, seed=1000 + i)
            rc, _ = killed(base + ['import', '--no-progress', path],
                           rng.uniform(0.05, 1.0))
            kills['import'] += rc == -9
            check(node, acked)
            # a burst of reports, one at a time, the last one cut
            for k in range(rng.randint(1, 6)):
                rep = json.dumps(e2elib.report(village=rng.choice(vills), i=k))
                rc, out = killed(base + ['report', 'add'], rng.uniform(0.02, 0.6), rep)
                if rc == 0:
                    acked.add(json.loads(out)['id'])
                else:
                    kills['burst'] += 1
            check(node, acked)
            # a sync, cut
            rc, _ = killed(sync, rng.uniform(0.05, 2.0))
            kills['sync'] += rc == -9
            check(node, acked)
            if (i + 1) % 10 == 0:
                print('  %d loops, %.0f s, kills %s' % (i + 1, time.time() - t0, kills),
                      flush=True)
        r = subprocess.run(sync[:-2], capture_output=True, text=True, timeout=1200)
        assert r.returncode == 0, r.stderr
        nid = node.sql("SELECT value FROM meta WHERE key = 'node_id'")[0][0]
        local = node.sql("SELECT count(*) FROM case_report")[0][0]
        central, distinct = e2elib.pg_counts(env.pg, nid)
        assert central == local == distinct, (central, distinct, local)
        assert node.sql("SELECT count(*) FROM outbox WHERE state = 0")[0][0] == 0
        print('powercut: %d loops (kill -9: %s), integrity ok after each, %d acknowledged '
              'reports all present, central %d = local %d, %.0f s, load %.2f'
              % (LOOPS, kills, len(acked), central, local, time.time() - t0, os.getloadavg()[0]))
    finally:
        env.close()


if __name__ == '__main__':
    main()
