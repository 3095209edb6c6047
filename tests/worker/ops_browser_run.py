#!/usr/bin/env python3
"""ops_browser_run.py SIKHNAS_WEB SIKHNAS_HUB OUT_DIR - a real central with
analystlib.py's seed and opsdata.py's fleet and queue, sikhnas-web on port
0, then ops-browser.js in headless Chromium; exits with its status.
playwright-core comes from tests/web/node_modules (installed with npm ci
when missing, as tests/analyst/run-browser.sh does); Chromium is Debian's."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'analyst'))
sys.path.insert(0, HERE)
import analystlib  # noqa: E402
import opsdata  # noqa: E402


def main():
    web, hub, out = sys.argv[1:4]
    mods = os.path.join(HERE, '..', 'web', 'node_modules')
    env = dict(os.environ, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD='1', NODE_PATH=mods)
    if not os.path.exists(os.path.join(mods, 'playwright-core', 'package.json')):
        subprocess.run(['npm', 'ci', '--prefix', os.path.join(HERE, '..', 'web'), '--no-audit',
                        '--no-fund', '--loglevel=error'], check=True, env=env)
    c = analystlib.Central(os.path.abspath(web), os.path.abspath(hub))
    try:
        c.pg.psql(opsdata.seed_sql())
        c.start_web()
        r = subprocess.run(['node', os.path.join(HERE, 'ops-browser.js'),
                            'https://127.0.0.1:%d' % c.port, out], env=env, timeout=280)
        if r.returncode != 0:
            print(c.log(), file=sys.stderr)
        return r.returncode
    finally:
        c.close()


if __name__ == '__main__':
    sys.exit(main())
