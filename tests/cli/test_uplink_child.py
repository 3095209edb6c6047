#!/usr/bin/env python3
"""test_uplink_child.py - how the daemon runs its sync rounds in a child
(node/uplink.c), with a stand-in for sikhnas-node-uplink (SIKHNAS_UPLINK):
the arguments it gets, the result it reads from the pipe (the message
logged, the push budget carried to the next round), a child killed by a
signal, and SIGTERM passed on to a round in progress. No hub needed.

    test_uplink_child.py NODE_EXE
"""
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import nodetest  # noqa: E402

EXE = os.path.abspath(sys.argv[1])


def read_log(d):
    try:
        more = d.proc.stderr.read()
    except (OSError, TypeError):
        more = None
    if more:
        d.log += more
    return d.log


def wait_log(d, pattern, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = re.search(pattern, read_log(d))
        if m:
            return m
        time.sleep(0.1)
    raise AssertionError('no %r in the log:\n%s' % (pattern, d.log))


def setup(tmp, script):
    """A node that looks enrolled with a hub, and a stand-in uplink."""
    node = nodetest.Node(EXE, tmp=tmp)
    open(node.db + '.crt', 'w').close()
    conf = os.path.join(tmp, 'node.ini')
    with open(conf, 'w') as f:
        f.write('[sync]\nhub_url = https://127.0.0.1:9\ninterval_s = 3600\n')
    fake = os.path.join(tmp, 'fake-uplink')
    with open(fake, 'w') as f:
        f.write('#!/bin/sh\necho "$@" >> %s/args\n%s\n' % (tmp, script))
    os.chmod(fake, 0o755)
    os.environ['SIKHNAS_UPLINK'] = fake
    return node, conf


def test_result_and_budget(tmp):
    node, conf = setup(tmp, 'echo step >&3\n'
                            'echo "done -110 0 0 4096 1 0 the hub timed out (stand-in)" >&3\n'
                            'exit 1')
    with nodetest.Daemon(node, conf) as d:
        wait_log(d, r'uplink: the hub timed out \(stand-in\); retrying in')
        deadline = time.time() + 20        # the retry (its message is at info level)
        while time.time() < deadline:
            with open(os.path.join(tmp, 'args')) as f:
                args = f.read().splitlines()
            if len(args) >= 2:
                break
            time.sleep(0.1)
    assert len(args) >= 2, args
    assert args[0].startswith('--config %s --db %s round --hub https://127.0.0.1:9 '
                              % (conf, node.db)), args[0]
    assert args[0].endswith('--batch-bytes 0 --result-fd 3'), args[0]
    assert '--batch-bytes 4096 --failures 1 ' in args[1], args[1]  # budget, outage carried


def test_killed(tmp):
    node, conf = setup(tmp, 'kill -9 $$')
    with nodetest.Daemon(node, conf) as d:
        wait_log(d, r'was killed by signal 9; retrying in')


def test_sigterm_passed_on(tmp):
    node, conf = setup(tmp, 'echo $$ > %s/pid\nexec sleep 600' % tmp)
    d = nodetest.Daemon(node, conf)
    pidfile = os.path.join(tmp, 'pid')
    deadline = time.time() + 20
    while not os.path.exists(pidfile) and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)
    with open(pidfile) as f:
        pid = int(f.read())
    t0 = time.time()
    d.proc.send_signal(signal.SIGTERM)
    st = d.proc.wait(timeout=20)
    took = time.time() - t0
    assert st == 0, (st, read_log(d))
    assert took < 10, took
    try:
        os.kill(pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive, 'the round (pid %d) outlived the daemon' % pid


def main():
    root = nodetest.scratch('sikhnas-uplink-child-')
    for t in (test_result_and_budget, test_killed, test_sigterm_passed_on):
        tmp = os.path.join(root, t.__name__)
        os.mkdir(tmp)
        t(tmp)
        print('ok', t.__name__, flush=True)


if __name__ == '__main__':
    main()
