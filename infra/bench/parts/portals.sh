#!/usr/bin/env bash
# Several portals: outbound to 10 customer portals at once, each with its own 110 / 10 s budget
# (shared/sync/examples/portals_bench.rs); goal: aggregate >= 0.9 x 10 x one portal's ceiling.
set -euo pipefail
cargo build --quiet --profile perf -p warp-sync --example portals_bench
target/perf/examples/portals_bench --portals "${BENCH_PORTALS:-10}" --per-portal "${BENCH_PER_PORTAL:-10000}" | tail -1 > "$1/portals.json"
