#!/usr/bin/env bash
# Contacts: users' first push (upsert + association), contact updates, and companies and contacts
# changed together, at HubSpot's real 100 requests / 10 s (shared/sync/examples/contacts_bench.rs).
set -euo pipefail
cargo build --quiet --profile perf -p warp-sync --example contacts_bench
target/perf/examples/contacts_bench --users "${BENCH_CONTACTS:-20000}" | tail -1 > "$1/contacts.json"
