#!/bin/sh
# train-dict.sh - makes the zstd dictionary of push batches:
#   tools/train-dict.sh OUT.zdict [DICT_ID [COLUMNAR_EXE [MAXDICT [COLUMNAR_FLAG]]]]
# from 1,200 batches of tools/batchgen.py (1 to 100 case reports each, half
# with free-text notes, from 1,200 made-up nodes; fixed seeds, so the run
# is repeatable). With COLUMNAR_EXE (the program build/tests/bench/
# batch-columnar) the batches are first put in their columnar form: the
# dictionary of columnar batches, version 2, was made by
#   tools/train-dict.sh sync/dict/batch-2.zdict 1397227522 \
#       build/tests/bench/batch-columnar 32768
# and the one of columnar-2 batches, version 3, by
#   tools/train-dict.sh sync/dict/batch-3.zdict 1397227523 \
#       build/tests/bench/batch-columnar 32768 -2
# A dictionary that has shipped never changes (its id is in every frame
# made with it): train a new one under the next version and
# id (sync/batch.h) and keep the old one in sync/dict/ for the hub.
set -eu
out=$1
id=${2:-1397227521}                     # 0x53480001: version 1
columnar=${3:-}
maxdict=${4:-65536}
colflag=${5:-}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$here" "$tmp" <<'PY'
import random
import sys
sys.path.insert(0, sys.argv[1])
import batchgen as g
for s in range(1200):
    node = g.node_id(1000 + s)
    n = random.Random(s).choice([1, 2, 5, 10, 20, 50, 100])
    kind = 'noted' if s % 2 else 'coded'
    with open('%s/t%04d.json' % (sys.argv[2], s), 'wb') as f:
        f.write(g.batch(node, n, g.rows(node, 1, n, kind, seed=50000 + s)))
PY
if [ -n "$columnar" ]; then
    for f in "$tmp"/t*.json; do
        "$columnar" $colflag < "$f" > "${f%.json}.skc"
        rm "$f"
    done
fi
zstd -q -f --train "$tmp"/t* -o "$out" --maxdict="$maxdict" --dictID="$id" -3
echo "$out: $(wc -c < "$out") bytes, dictionary id $id"
