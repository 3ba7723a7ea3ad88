#!/usr/bin/env bash
# Outbound: 20,000 changed customers pushed to a sandbox at HubSpot's real 100 requests / 10 s,
# then a steady 100 changes/s for change→HubSpot latency (shared/sync/examples/outbound_bench.rs).
set -euo pipefail
cargo build --quiet --profile perf -p warp-sync --example outbound_bench
target/perf/examples/outbound_bench --customers "${BENCH_OUTBOUND_CUSTOMERS:-20000}" | tail -1 > "$1/outbound.json"
