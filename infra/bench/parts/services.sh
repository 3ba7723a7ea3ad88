#!/usr/bin/env bash
# Trunks, numbers and the daily usage push (#22): 10,000 customers with a trunk and 5 numbers
# each pushed as custom object records (ratio to the ceiling: floor seconds / seconds), then the
# daily usage push for 100,000 customers (ratio to the request floor), on the production wiring
# against the sandbox (shared/sync/examples/service_bench.rs).
set -euo pipefail
cargo build --quiet --profile perf -p warp-sync --example service_bench
target/perf/examples/service_bench --customers "${BENCH_SERVICE_CUSTOMERS:-10000}" \
  --numbers "${BENCH_SERVICE_NUMBERS:-5}" --usage-customers "${BENCH_USAGE_CUSTOMERS:-100000}" \
  | tail -1 > "$1/services.json"
