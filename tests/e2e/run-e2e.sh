#!/bin/sh
# Browser end-to-end tests. Meson runs this with KAIGI_BINARY set to the built
# server; exit status 77 means "skipped" (no chromium or no node_modules).
# Arguments: the test files to run (default: all of them, one after another).
set -e
cd "$(dirname "$0")"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
    echo "1..0 # SKIP $CHROMIUM not found (apt-get install chromium)"
    exit 77
fi
if [ ! -d node_modules/playwright-core ] || ! command -v node >/dev/null 2>&1; then
    echo "1..0 # SKIP node or node_modules/playwright-core missing (run npm install in tests/e2e)"
    exit 77
fi
[ $# -gt 0 ] || set -- rooms.test.mjs recording.test.mjs
exec node --test --test-concurrency=1 --test-reporter=tap "$@"
