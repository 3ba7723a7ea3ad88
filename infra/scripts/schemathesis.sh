#!/usr/bin/env bash
# Schemathesis against the whole local system: `warp dev` (API, webhooks, the HubSpot sandbox,
# the sync loops) on free loopback ports over a fresh database, driven through
# /v1/openapi.json with an admin token, with every check (stateful phase included). Passes only
# with 0 failures; the statuses that depend on earlier requests are in infra/schemathesis.toml.
#
# usage: schemathesis.sh [extra st run options...]
#   MAX_EXAMPLES  test cases per operation and phase (default 20)
#   MAX_TIME      time budget of the whole run in seconds (default 120)
#   ST_CHECKS     schemathesis checks (default: all of them, stateful phase included; the few
#                 statuses that depend on earlier requests are in infra/schemathesis.toml)
#   DATABASE_SERVER  the PostgreSQL server for the throwaway database
# Reports (JUnit, the server log) land in target/schemathesis/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

max_examples="${MAX_EXAMPLES:-20}"
max_time="${MAX_TIME:-120}"
checks="${ST_CHECKS:-all}"
server="${DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}"
out="$root/target/schemathesis"
mkdir -p "$out"

infra/scripts/ensure-fuzz-venv.sh
cargo build --quiet -p warp-cli --bin warp
warp="$root/target/debug/warp"

database="warp_fuzz_$(date +%s)_$$"
# shellcheck source=lib/warp-dev.sh
source infra/scripts/lib/warp-dev.sh
trap stop_warp_dev_and_drop_database EXIT
start_warp_dev "$out/warp.log" 100

token="$("$warp" token --role admin --subject schemathesis --ttl 7200)"
echo "schemathesis: $base (database $database), $max_examples examples per operation, at most ${max_time}s"

status=0
# From the report directory: schemathesis keeps its example database in the working directory.
cd "$out"
"$root/.venv-fuzz/bin/st" --config-file "$root/infra/schemathesis.toml" run "$base/v1/openapi.json" \
  --url "$base" \
  --header "Authorization: Bearer $token" \
  --checks "$checks" \
  --exclude-checks use_after_free \
  --max-examples "$max_examples" \
  --max-time "$max_time" \
  --request-timeout 10 \
  --workers 1 \
  --report junit --report-dir "$out" \
  "$@" || status=$?

# A panic answers a 500 problem (which the checks catch); say so plainly if one was logged.
if grep -q '"handler panicked"' "$out/warp.log"; then
  echo "the server log records a panic: $out/warp.log" >&2
  status=1
fi
exit "$status"
