#!/usr/bin/env bash
# Reconciliation: 100,000 customers against 100,000 companies (1% renamed in HubSpot) at
# HubSpot's real 100 requests / 10 s; seconds and the ratio to the floor of 1,000 list pages
# at 10 requests/s = 100 s (shared/reconcile/examples/reconcile_bench.rs).
set -euo pipefail
cargo build --quiet --profile perf -p warp-reconcile --example reconcile_bench
target/perf/examples/reconcile_bench --customers "${BENCH_RECONCILE_CUSTOMERS:-100000}" | tail -1 > "$1/reconcile.json"
