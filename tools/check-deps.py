#!/usr/bin/env python3
"""check-deps.py - the dependency rule of docs/architecture.md, over the
#include lines: programs (node/, hub/) -> protocol (sync/) -> helpers
(common/); node/ and hub/ never include each other, sync/ and common/
include nothing of the programs, common/ nothing of sync/. The central
programs in hub/'s subfolders (hub/web/, hub/worker/) may include hub/,
never each other, and hub/'s top level includes none of its subfolders.

    tools/check-deps.py [SOURCE_ROOT]

A header's name is unique across these folders: with two `web.h`, an
include would say nothing of which one it means (and the include path
decides). Prints each include that breaks the rule and each name defined
twice, and exits 1; exits 0 when there is none. A header that exists in no folder (a system header, config.h, a
generated file) is not checked."""
import os
import re
import sys

ALLOWED = {
    'common': {'common'},
    'sync': {'sync', 'common'},
    'node': {'node', 'sync', 'common'},
    'hub': {'hub', 'sync', 'common'},
    'hub/web': {'hub/web', 'hub', 'sync', 'common'},
    'hub/worker': {'hub/worker', 'hub', 'sync', 'common'},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(__file__), '..'))
    where = {}                      # header base name -> the folders that have it
    folders = [f for f in ALLOWED if os.path.isdir(os.path.join(root, f))]
    for folder in folders:
        for name in os.listdir(os.path.join(root, folder)):
            if name.endswith('.h'):
                where.setdefault(name, set()).add(folder)
    bad = 0
    for name, homes in sorted(where.items()):
        if len(homes) > 1:
            print('%s: a header of this name in %s: rename one' % (
                name, ', '.join('%s/' % h for h in sorted(homes))))
            bad += 1
    for folder, allowed in sorted(ALLOWED.items()):
        if folder not in folders:
            continue
        for name in sorted(os.listdir(os.path.join(root, folder))):
            if not name.endswith(('.c', '.h')):
                continue
            with open(os.path.join(root, folder, name), encoding='utf-8') as fp:
                for lineno, line in enumerate(fp, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    homes = where.get(os.path.basename(m.group(1)), set())
                    if folder in homes or not homes or homes & allowed:
                        continue
                    print('%s/%s:%d: includes %s of %s/ (%s/ may include %s/)' % (
                        folder, name, lineno, m.group(1), '/'.join(sorted(homes)), folder,
                        ', '.join(sorted(allowed))))
                    bad += 1
    print('check-deps: %d include(s) or header name(s) against the rule' % bad if bad else
          'check-deps: programs -> sync -> common, no include against the rule')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
