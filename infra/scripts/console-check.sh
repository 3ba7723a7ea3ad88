#!/usr/bin/env bash
# The sync console in a real headless Chromium against the whole local system: `warp dev` (API,
# webhooks, the worker and reconciler loops, the HubSpot sandbox) on free loopback ports over a
# fresh database, driven by tests/browser/console.py (Playwright, Debian's chromium). Needs
# `make venv chromium` (make test runs both). Screenshots and the server log land in
# target/console/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

server="${DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}"
# shellcheck source=lib/warp-dev.sh
source infra/scripts/lib/warp-dev.sh
require_browser
out="$root/target/console"
mkdir -p "$out"
rm -f "$out"/*.png

cargo build --quiet -p warp-cli --bin warp
warp="$root/target/debug/warp"

database="warp_console_$(date +%s)_$$"
trap stop_warp_dev_and_drop_database EXIT
export RECONCILE_POLL_SECS=1
start_warp_dev "$out/warp.log"

echo "console: $base (database $database) in $chromium"
WARP_BASE="$base" SANDBOX_BASE="$sandbox_base" CHROMIUM="$chromium" \
  SCREENSHOT_DIR="$out" AXE_JS="$root/tests/browser/vendor/axe-core-4.14.1/axe.min.js" \
  "$python" tests/browser/console.py || {
    status=$?
    # CI keeps only this output: the server's warnings say what the page could not.
    echo "the server's warnings and errors (from $out/warp.log):" >&2
    grep -E '"level":"(WARN|ERROR)"' "$out/warp.log" | tail -n 60 | cut -c1-400 >&2 || true
    exit "$status"
  }
