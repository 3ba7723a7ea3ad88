#!/usr/bin/env bash
# Several portals: outbound to 10 customer portals at once, each with its own 110 / 10 s budget
# (shared/sync/examples/portals_bench.rs). Goal: aggregate calls >= 0.9 x 10 x one portal's
# ceiling, measured with 5 records a call so the budgets bind; the same with HubSpot's 100 a
# call is reported apart (bound by the machine's Postgres bookkeeping on 2 cores).
set -euo pipefail
cargo build --quiet --profile perf -p warp-sync --example portals_bench
bench=target/perf/examples/portals_bench
portals="${BENCH_PORTALS:-10}"
"$bench" --portals "$portals" --per-portal "${BENCH_PER_PORTAL:-1000}" --batch-size 5 | tail -1 > "$1/portals.json"
"$bench" --portals "$portals" --per-portal 2000 --batch-size 100 --prefix full_batch_ | tail -1 > "$1/portals_full_batch.json"
