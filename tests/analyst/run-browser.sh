#!/bin/sh
# run-browser.sh SIKHNAS_WEB SIKHNAS_HUB OUT_DIR
# The analysts' pages in headless Chromium: browser_run.py makes a real
# central (tests/analyst/analystlib.py) and runs browser-test.js against
# sikhnas-web. playwright-core comes from the node tests' lock file
# (tests/web/node_modules, installed here when missing); Chromium is
# Debian's (scripts/deps.sh); playwright never downloads a browser.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
web=$(cd "$here/../web" && pwd)
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [ ! -f "$web/node_modules/playwright-core/package.json" ]; then
    npm ci --prefix "$web" --no-audit --no-fund --loglevel=error
fi
export NODE_PATH="$web/node_modules"
exec python3 "$here/browser_run.py" "$@"
