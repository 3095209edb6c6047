#!/usr/bin/env python3
"""browser_run.py SIKHNAS_WEB SIKHNAS_HUB OUT_DIR - a real central with the
seed of analystlib.py and sikhnas-web on port 0, then browser-test.js in
headless Chromium against it; exits with the browser test's status."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import analystlib as A  # noqa: E402


def main():
    web, hub, out = sys.argv[1:4]
    c = A.Central(web, hub)
    try:
        c.start_web(upkeep=True)
        env = dict(os.environ, ANALYST_ACCOUNTS=repr(A.ACCOUNTS))
        r = subprocess.run(['node', os.path.join(HERE, 'browser-test.js'),
                            'https://127.0.0.1:%d' % c.port, out, A.W(1).isoformat()],
                           env=env, timeout=280)
        if r.returncode != 0:
            print(c.log(), file=sys.stderr)
        return r.returncode
    finally:
        c.close()


if __name__ == '__main__':
    sys.exit(main())
