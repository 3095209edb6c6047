#!/usr/bin/env python3
"""footprint.py - the node daemon's memory, idle and while it syncs N
records (issue 13: goals <= 12 MB idle, <= 20 MB syncing 100,000), with the
breakdown from /proc/PID/smaps: heap and other anonymous memory (SQLite's
page cache lives there), the binary, the shared libraries, and other file
mappings. The daemon runs each round in a child, sikhnas-node-uplink
(node/uplink.c): while it syncs, the daemon's RSS, the child's, their sum
(sampled together) and the sum of their PSS (pages both map counted once,
shared with other processes split) are reported, each at its own peak
(sampled every 0.2 s or so), and the child's high-water mark (VmHWM: the
kernel's count, so a peak shorter than the sampling, such as a batch
being built, is in it; RSS, so the libraries it shares are counted).
As root, also the pages the two hold together ("pair_pages"): the distinct
physical pages mapped by either (/proc/PID/pagemap), each counted once
whoever else maps it: what the pair keeps in RAM, where the RSS sum counts
the libraries both map (libc, SQLite, ...) twice and the PSS sum gives a
share of each page to unrelated processes.
A benchmark: prints figures, asserts nothing.

    tests/bench/footprint.py NODE_EXE HUB_EXE [N]     (default N = 100000)
"""
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'e2e'))
import e2elib  # noqa: E402
from e2elib import hubtest, nodetest  # noqa: E402

NODE_EXE = os.path.abspath(sys.argv[1])
os.environ['SIKHNAS_HUB'] = os.path.abspath(sys.argv[2])
N = int(sys.argv[3]) if len(sys.argv) > 3 else 100000
UPLINK_EXE = os.path.join(os.path.dirname(os.path.realpath(NODE_EXE)), 'sikhnas-node-uplink')


def children(pid):
    """The pids whose parent is pid."""
    out = []
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                with open('/proc/%s/stat' % d) as f:
                    if int(f.read().rsplit(')', 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return out


def hwm(pid):
    """The kernel's high-water mark of pid's RSS (VmHWM, KiB): its peak,
    short ones between two samples included; 0 once it has ended."""
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


FILE_FIELDS = ('Rss:', 'Private_Dirty:', 'Private_Clean:', 'Shared_Clean:')


def frames(pid):
    """The set of physical page frames pid maps (present pages), or None
    when pagemap hides them (not root)."""
    out = set()
    try:
        with open('/proc/%d/maps' % pid) as m, open('/proc/%d/pagemap' % pid, 'rb') as pm:
            for line in m:
                lo, hi = (int(x, 16) for x in line.split()[0].split('-'))
                if line.split()[-1] == '[vsyscall]':
                    continue
                pm.seek(lo // PAGE * 8)
                buf = pm.read((hi - lo) // PAGE * 8)
                for i in range(0, len(buf), 8):
                    e = int.from_bytes(buf[i:i + 8], 'little')
                    if e >> 63:                         # present
                        out.add(e & ((1 << 55) - 1))
    except OSError:
        return None
    return out if any(out) else None


PAGE = os.sysconf('SC_PAGE_SIZE')


def smaps(pid, per_file=None):
    """{'rss', 'anon', 'heap', 'binary', 'libs', 'files'} in KiB; with a
    dict per_file, also {path: [Rss, Private_Dirty, Private_Clean, Shared_Clean]}
    of every file mapping (a library's text pages are clean; its relocated
    data, .data.rel.ro and .bss, private dirty)."""
    out = dict.fromkeys(('rss', 'pss', 'anon', 'heap', 'binary', 'libs', 'files', 'stack'), 0)
    name = None
    with open('/proc/%d/smaps' % pid) as f:
        for line in f:
            parts = line.split()
            if '-' in parts[0] and len(parts) >= 5 and ':' not in parts[0]:
                name = parts[5] if len(parts) > 5 else ''
                continue
            if per_file is not None and name and not name.startswith('[') and \
                    parts[0] in FILE_FIELDS:
                per_file.setdefault(name, [0] * len(FILE_FIELDS))[FILE_FIELDS.index(parts[0])] \
                    += int(parts[1])
            if parts[0] == 'Pss:':
                out['pss'] += int(parts[1])
            if parts[0] != 'Rss:':
                continue
            kb = int(parts[1])
            out['rss'] += kb
            if name == '[heap]':
                out['heap'] += kb
            elif name == '[stack]':
                out['stack'] += kb
            elif name == '' or name.startswith('['):
                out['anon'] += kb
            elif name in (os.path.realpath(NODE_EXE), UPLINK_EXE):
                out['binary'] += kb
            elif '.so' in os.path.basename(name):
                out['libs'] += kb
            else:
                out['files'] += kb
    return out


def main():
    env = hubtest.Env()
    tmp = nodetest.scratch('sikhnas-footprint-')
    try:
        node = nodetest.Node(NODE_EXE, tmp=tempfile.mkdtemp(dir=tmp))
        e2elib.enroll(env, node)
        r = node.run('sync', '--hub', 'https://127.0.0.1:%d' % env.hub.port, '--ca', env.hub.ca,
                     '--no-progress')
        assert r.returncode == 0, r.stderr
        nid = node.sql("SELECT value FROM meta WHERE key = 'node_id'")[0][0]
        conf = os.path.join(node.tmp, 'node.ini')
        with open(conf, 'w') as f:
            f.write('[sync]\ninterval_s = 3600\n')
        with nodetest.Daemon(node, conf) as d:
            time.sleep(6)               # the first (empty) round is done
            idle_files = {}
            idle = smaps(d.proc.pid, idle_files)
        path = os.path.join(node.tmp, 'in.jsonl')
        nodetest.write_jsonl(path, N, seed=7)
        r = node.run('import', '--no-progress', path, timeout=1200)
        assert r.returncode == 0, r.stderr
        peak = peak_files = child_peak = child_files = None
        sum_rss = sum_pss = pair_kib = child_hwm = 0
        t0 = time.time()
        with nodetest.Daemon(node, conf) as d:
            while time.time() - t0 < 1200:
                files = {}
                s = smaps(d.proc.pid, files)
                if peak is None or s['rss'] > peak['rss']:
                    peak, peak_files = s, files
                rss, pss = s['rss'], s['pss']
                pages = frames(d.proc.pid)
                for pid in children(d.proc.pid):
                    cf = {}
                    try:
                        c = smaps(pid, cf)
                    except OSError:         # it ended meanwhile
                        continue
                    rss += c['rss']
                    pss += c['pss']
                    cp = frames(pid) if pages is not None else None
                    pages = pages | cp if cp is not None else None
                    if child_peak is None or c['rss'] > child_peak['rss']:
                        child_peak, child_files = c, cf
                    child_hwm = max(child_hwm, hwm(pid))
                sum_rss, sum_pss = max(sum_rss, rss), max(sum_pss, pss)
                if pages is not None:
                    pair_kib = max(pair_kib, len(pages) * PAGE // 1024)
                if e2elib.pg_counts(env.pg, nid)[0] >= N:
                    break
                time.sleep(0.2)
            took = time.time() - t0
            after = smaps(d.proc.pid)
        load = os.getloadavg()[0]
        res = {'records': N, 'idle_kib': idle, 'syncing_peak_kib': peak,
               'child_peak_kib': child_peak, 'child_hwm_kib': child_hwm,
               'sum_rss_peak_kib': sum_rss,
               'sum_pss_peak_kib': sum_pss, 'pair_pages_peak_kib': pair_kib, 'after_kib': after,
               'sync_s': round(took, 1), 'load1': round(load, 2)}
        print(json.dumps(res, indent=1))
        for what, files in (('idle', idle_files), ('syncing (peak)', peak_files),
                            ('the uplink child (its peak)', child_files or {})):
            print('%s, file mappings by Rss (KiB: Rss, Private_Dirty, Private_Clean, '
                  'Shared_Clean):' % what)
            for name, (rss, dirty, pclean, sclean) in sorted(files.items(),
                                                              key=lambda kv: -kv[1][0]):
                if rss >= 64:
                    print('  %6d %5d %5d %5d  %s' % (rss, dirty, pclean, sclean, name))
        print('idle %.1f MB (goal 12), syncing %d records: daemon peak %.1f MB, child peak '
              '%.1f MB (high-water mark %.1f MB), sum %.1f MB RSS / %.1f MB PSS / %.1f MB '
              'distinct pages (goal 20), %.0f s, load %.2f'
              % (idle['rss'] / 1024, N, peak['rss'] / 1024,
                 (child_peak or {'rss': 0})['rss'] / 1024, child_hwm / 1024, sum_rss / 1024,
                 sum_pss / 1024, pair_kib / 1024, took, load))
    finally:
        env.close()


if __name__ == '__main__':
    main()
