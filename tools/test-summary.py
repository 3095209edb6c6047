#!/usr/bin/env python3
"""test-summary.py BUILDDIR... - add up meson's test logs (testlog.json) and
print one line per build and the closing line 'N passed, N failed'."""
import json
import os
import sys


def main():
    total_ok = total_fail = total_skip = 0
    for build in sys.argv[1:]:
        path = os.path.join(build, 'meson-logs', 'testlog.json')
        if not os.path.exists(path):
            print('%s: no test log (the build or its tests did not run)' % build)
            total_fail += 1
            continue
        ok = fail = skip = 0
        failed = []
        with open(path) as fp:
            for line in fp:
                t = json.loads(line)
                res = t.get('result')
                if res in ('OK', 'EXPECTEDFAIL'):
                    ok += 1
                elif res == 'SKIP':
                    skip += 1
                else:
                    fail += 1
                    failed.append(t.get('name'))
        print('%s: %d passed, %d failed, %d skipped%s' % (
            build, ok, fail, skip, (' (' + ', '.join(failed) + ')') if failed else ''))
        total_ok += ok
        total_fail += fail
        total_skip += skip
    print('%d passed, %d failed, %d skipped' % (total_ok, total_fail, total_skip))
    return 1 if total_fail else 0


sys.exit(main())
