#!/usr/bin/env bash
# HubSpot's official Python SDK (hubspot-api-client) against the HubSpot sandbox, unchanged:
# companies, contacts and v4 associations through the SDK's own calls and models
# (tests/sdk/hubspot_sdk_check.py). Starts the sandbox alone on a free loopback port with its
# own token, runs the check, stops the sandbox. Idempotent: the venv (.venv-sdk) is made once,
# keyed on its package list.
#
# usage: sdk-check.sh
# The sandbox's log lands in target/sdk/sandbox.log.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

venv="$root/.venv-sdk"
out="$root/target/sdk"
mkdir -p "$out"

infra/scripts/ensure-venv.sh "$venv" 'hubspot-api-client==12.0.0'
cargo build --quiet -p hubspot-sandbox --bin hubspot-sandbox
sandbox="$root/target/debug/hubspot-sandbox"

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
token="sdk-check-token-$$"
sandbox_pid=""

cleanup() {
  if [ -n "$sandbox_pid" ] && kill -0 "$sandbox_pid" 2>/dev/null; then
    kill -INT "$sandbox_pid" 2>/dev/null || true
    wait "$sandbox_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

# Only what this run sets: no faults, no webhook deliveries, the default rate limits.
env -u SANDBOX_FAULTS -u SANDBOX_WEBHOOK_URL -u SANDBOX_RATE_LIMIT_MAX -u SANDBOX_SEARCH_DELAY_MS \
  HUBSPOT_SANDBOX_ADDR="127.0.0.1:$port" HUBSPOT_TOKEN="$token" RUST_LOG=warn \
  "$sandbox" >"$out/sandbox.log" 2>&1 &
sandbox_pid=$!

base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
  if curl -fsS "$base/_sandbox/stats" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$sandbox_pid" 2>/dev/null; then
    echo "the sandbox exited; its log:" >&2
    tail -n 40 "$out/sandbox.log" >&2
    exit 1
  fi
  sleep 0.1
done
curl -fsS "$base/_sandbox/stats" >/dev/null

HUBSPOT_SANDBOX_URL="$base" HUBSPOT_TOKEN="$token" "$venv/bin/python" tests/sdk/hubspot_sdk_check.py
