#!/usr/bin/env bash
# Import from HubSpot: 100,000 companies against 100,000 customers at HubSpot's real 100 requests
# / 10 s (4 in 10 linked already, 4 linked by BAN, 1 by domain with its BAN stamped, 1 left a
# candidate); seconds, requests, the ratio to the floor of every request at 10/s, peak heap
# (shared/reconcile/examples/import_bench.rs).
set -euo pipefail
cargo build --quiet --profile perf -p warp-reconcile --example import_bench
target/perf/examples/import_bench --companies "${BENCH_IMPORT_COMPANIES:-100000}" | tail -1 > "$1/import.json"
