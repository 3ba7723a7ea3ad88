#!/usr/bin/env bash
# Finished calls (#21): 10,000 calls of one customer to 100 contacts of its own OAuth-installed
# portal (110 requests / 10 s, searches 5 / s), logged by the production wiring; seconds,
# requests, the ratio to the request floor; then 5 calls a second for 30 s with the logger
# looping every second: p50 / p99 from taken in to logged (shared/sync/examples/calls_bench.rs).
set -euo pipefail
cargo build --quiet --profile perf -p warp-sync --example calls_bench
target/perf/examples/calls_bench --calls "${BENCH_CALLS:-10000}" --numbers "${BENCH_CALL_NUMBERS:-100}" \
  --rate "${BENCH_CALL_RATE:-5}" --steady-seconds "${BENCH_CALL_STEADY_SECONDS:-30}" | tail -1 > "$1/calls.json"
