#!/usr/bin/env python3
"""check-sizes.py - the limits of docs/hacking.md over the C sources: no file
over 1,200 lines, no function over 150 lines (from the line of its name to
its closing brace).

    tools/check-sizes.py [SOURCE_ROOT]

Prints what is over and exits 1, or says the largest and exits 0."""
import os
import re
import sys

FILE_MAX, FUNC_MAX = 1200, 150
FOLDERS = ('common', 'sync', 'node', 'hub')
START = re.compile(r'^[A-Za-z_][\w \*\(\),\[\]]*\b(\w+)\s*\([^;]*$')


def functions(lines):
    """(name, first line, line count) of each top-level function body."""
    out, name, first, depth = [], None, 0, 0
    for i, line in enumerate(lines, 1):
        if depth == 0:
            m = START.match(line)
            if m and not line.startswith(('typedef', 'struct', 'enum', 'static const',
                                          'const ', '#')):
                name, first = m.group(1), i
        opened = line.count('{') - line.count('}')
        if depth == 0 and opened > 0 and name and line.startswith('{'):
            depth = opened
            continue
        if depth > 0:
            depth += opened
            if depth == 0:
                out.append((name, first, i - first + 1))
                name = None
        elif line.strip() and not line.startswith((' ', '\t', '{')) and not START.match(line):
            name = None if not line.rstrip().endswith(',') else name
    return out


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(__file__), '..'))
    bad, big_file, big_func = 0, (0, ''), (0, '')
    subs = tuple(f for f in ('hub/web', 'hub/worker') if os.path.isdir(os.path.join(root, f)))
    for folder in FOLDERS + subs:               # and the central programs' subfolders
        for name in sorted(os.listdir(os.path.join(root, folder))):
            if not name.endswith(('.c', '.h')):
                continue
            path = '%s/%s' % (folder, name)
            with open(os.path.join(root, path), encoding='utf-8') as fp:
                lines = fp.read().split('\n')
            if len(lines) > FILE_MAX:
                print('%s: %d lines (at most %d)' % (path, len(lines), FILE_MAX))
                bad += 1
            big_file = max(big_file, (len(lines), path))
            for fn, first, n in functions(lines):
                if n > FUNC_MAX:
                    print('%s:%d: %s() is %d lines (at most %d)' % (path, first, fn, n, FUNC_MAX))
                    bad += 1
                big_func = max(big_func, (n, '%s() in %s' % (fn, path)))
    if bad:
        print('check-sizes: %d over the limits' % bad)
        return 1
    print('check-sizes: largest file %s (%d lines), largest function %s (%d lines)' % (
        big_file[1], big_file[0], big_func[1], big_func[0]))
    return 0


if __name__ == '__main__':
    sys.exit(main())
