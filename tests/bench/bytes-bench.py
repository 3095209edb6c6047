#!/usr/bin/env python3
"""bytes-bench.py - body bytes per record of push batches, by hand (no
pass/fail): plain JSON, gzip -6, zstd -3 and zstd -3 with the batch
dictionary (sync/dict/batch-1.zdict); then the columnar form of the same
batch (sync/batch_colenc.c, through build/tests/bench/batch-columnar) plain,
zstd -3, and zstd -3 with the dictionary of columnar batches
(sync/dict/batch-2.zdict): what a node sends to a hub that lists
columnar-1; then the body a node sends to a hub that lists columnar-2
(docs/protocol.md §4.10: version 2, zstd -3 with sync/dict/batch-3.zdict,
made by batch_encode() itself, so without the CLI's 4-byte checksum; the
node's columnar-1 body the same way beside it). For case reports with a ~120-character free-text note ("noted")
and without ("coded"), at several batch sizes.

    tests/bench/bytes-bench.py [--sizes 10,100,1000,5000] [--seed 99]
                               [--columnar build/tests/bench/batch-columnar]

The records come from tools/batchgen.py with seeds the dictionary was not
trained on (tools/train-dict.sh uses 50000 and up). zstd and gzip are the
command-line tools, at the levels the node uses (sync/batch.c). TLS and
HTTP add about 0.5 KiB per request on top (see hub-bench.py for the wire)."""
import argparse
import gzip
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', 'tools'))
import batchgen  # noqa: E402

DICT = os.path.join(HERE, '..', '..', 'sync', 'dict', 'batch-1.zdict')
COLDICT = os.path.join(HERE, '..', '..', 'sync', 'dict', 'batch-2.zdict')


def zstd(data, dict_=None):
    args = ['zstd', '-3', '-q', '-c'] + (['-D', dict_] if dict_ else [])
    return len(subprocess.run(args, input=data, capture_output=True, check=True).stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--sizes', default='10,100,1000,5000')
    ap.add_argument('--seed', type=int, default=99)
    ap.add_argument('--columnar', default=os.path.join(HERE, '..', '..', 'build', 'tests',
                                                       'bench', 'batch-columnar'))
    args = ap.parse_args()
    print('%-6s %6s %9s %9s %9s %12s | %9s %9s %12s | %9s %9s' % (
        'kind', 'rows', 'plain', 'gzip', 'zstd', 'zstd+dict', 'col', 'col+zstd', 'col+z+dict2',
        'node:col1', 'node:col2'))
    for kind in ('noted', 'coded'):
        for n in (int(x) for x in args.sizes.split(',')):
            node = batchgen.node_id(args.seed)
            plain = batchgen.batch(node, n, batchgen.rows(node, 1, n, kind, seed=args.seed))
            col = subprocess.run([args.columnar], input=plain, capture_output=True,
                                 check=True).stdout
            body = [len(subprocess.run([args.columnar, '-e', v], input=plain, capture_output=True,
                                       check=True).stdout) for v in ('1', '2')]
            print('%-6s %6d %9.1f %9.1f %9.1f %12.1f | %9.1f %9.1f %12.1f | %9.1f %9.1f' % (
                kind, n, len(plain) / n, len(gzip.compress(plain, 6)) / n, zstd(plain) / n,
                zstd(plain, DICT) / n, len(col) / n, zstd(col) / n, zstd(col, COLDICT) / n,
                body[0] / n, body[1] / n))
    print('(bytes per record in the request body)')


if __name__ == '__main__':
    main()
