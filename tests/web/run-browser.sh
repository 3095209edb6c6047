#!/bin/sh
# run-browser.sh NODE_EXE SOURCE_ROOT OUT_DIR [--screenshots DIR]
# Installs playwright-core from the committed lock file into
# tests/web/node_modules (gitignored) when it is missing, then runs the
# browser test. Chromium is Debian's (scripts/deps.sh); playwright never
# downloads a browser.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [ ! -f "$here/node_modules/playwright-core/package.json" ] || [ ! -f "$here/node_modules/axe-core/axe.min.js" ]; then
    npm ci --prefix "$here" --no-audit --no-fund --loglevel=error
fi
exec node "$here/browser-test.js" "$@"
