#!/usr/bin/env bash
# The chaos run (issue 9): `warp dev` (API, webhooks, inbound loop, reconciler, HubSpot sandbox)
# with its outbox loop off, on free loopback ports over a fresh database `warp_chaos`, and the
# chaos driver (tests/src/bin/chaos.rs), which runs `warp worker` itself so it can SIGKILL it.
# Every process started here is stopped on exit, however the run ends.
#
# usage: chaos.sh [driver options...], e.g. --customers 200 --changes 1000 --hubspot-edits 100
#   --kills 2 --timeout-secs 150 (the defaults are the full run: 1,000 / 10,000 / 2,000 / 2).
#   DATABASE_SERVER  the PostgreSQL server (default postgres://postgres@127.0.0.1:5432)
# Logs land in target/chaos/ (warp-dev.log, worker.log).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

server="${DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}"
database="warp_chaos"
out="$root/target/chaos"
mkdir -p "$out"
: >"$out/warp-dev.log"
: >"$out/worker.log"
: >"$out/worker.log.pids"

DATABASE_URL="$server/postgres" infra/scripts/ensure-postgres.sh
cargo build --quiet -p warp-cli --bin warp -p warp-tests --bin chaos
warp="$root/target/debug/warp"

# shellcheck source=lib/warp-dev.sh
source infra/scripts/lib/warp-dev.sh
dev_pid=""

stop_pid() {
  local pid="$1"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
}
cleanup() {
  # Workers the driver started and could not stop itself (it was killed, say).
  while read -r pid; do stop_pid "$pid"; done <"$out/worker.log.pids"
  stop_pid "$dev_pid"
}
trap cleanup EXIT

psql "$server/postgres" -qc "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" >/dev/null

export RUST_LOG="${RUST_LOG:-warn}"
# The outbox loop runs in the driver's `warp worker` processes, not in `warp dev`.
export DEV_OUTBOUND=false
# A killed worker's rows come back after 10 s, not 2 minutes; retries start at 250 ms.
export OUTBOX_LEASE_SECS=10
export OUTBOX_RETRY_BASE_MS=250
# An injected timeout hangs 30 s: give up after 2 s and retry, as against a slow HubSpot.
export HUBSPOT_TIMEOUT_MS=2000
export RECONCILE_POLL_SECS=1
# Calls of customers without a portal of their own go to the home portal; a call whose pass
# failed is tried again within a second, not ten.
export CALLS_DEFAULT_PORTAL=home
export CALLS_RETRY_BASE_MS=250
# The home portal has Enterprise: trunks and numbers go as custom object records (issue 22),
# which the run changes through the API and edits in HubSpot.
export SANDBOX_ENTERPRISE=true

start_warp_dev "$out/warp-dev.log" 300

echo "chaos: warp dev on $base, sandbox on 127.0.0.1:$sandbox_port, database $database"
RUST_LIB_BACKTRACE=0 "$root/target/debug/chaos" \
  --api "$base" \
  --sandbox "http://127.0.0.1:$sandbox_port" \
  --database-url "$DATABASE_URL" \
  --warp-bin "$warp" \
  --worker-log "$out/worker.log" \
  "$@"
