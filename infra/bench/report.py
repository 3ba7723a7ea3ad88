"""Merges the benchmark parts into results.json and prints them as a markdown table."""
import json
import pathlib
import sys

parts, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
results = {}
for part in sorted(parts.glob("*.json")):
    for line in part.read_text().splitlines():
        line = line.strip()
        if line.startswith("{"):
            results.update(json.loads(line))

if "api_get_rps" in results and results.get("pgbench_select_rps"):
    results["api_vs_pgbench_ratio"] = round(results["api_get_rps"] / results["pgbench_select_rps"], 3)

if results.get("api_write_rps_without_capture"):
    results["capture_write_ratio"] = round(results["api_write_rps_with_capture"] / results["api_write_rps_without_capture"], 3)

GOALS = {
    "capture_write_ratio": ">= 0.95 (API creates with the change-capture triggers / without)",
    "api_vs_pgbench_ratio": ">= 0.5",
    "webhook_ack_p99_ms": "< 50",
    "webhook_ack_under_apply_p99_ms": "< 50 (acks while 2,000 events/s are being applied)",
    "outbound_ceiling_ratio": ">= 0.97 (issue 23)",
    "contacts_outbound_ceiling_ratio": ">= 0.95",
    "mixed_outbound_ceiling_ratio": ">= 0.95",
    "contacts_first_link_ceiling_ratio": "reported (two calls per hundred: upsert + association)",
    "portals_ceiling_ratio": ">= 0.9 (10 portals, each 110 calls / 10 s; 5 records a call)",
    "full_batch_portals_records_per_s": "reported (100 a call: bound by Postgres bookkeeping on 2 cores)",
    "change_to_hubspot_p99_ms": "< 3000",
    "webhook_apply_p99_ms": "< 2000",
    "reconcile_ratio_to_floor": "<= 1.05 (issue 23)",
    "reconcile_seconds_100k": "<= 130 (floor: 1,000 list pages at 10/s = 100 s)",
    "reconcile_peak_heap_mb_100k": "< 128",
    "incremental_requests_ratio_to_full": "<= 0.05 (1% of companies changed in HubSpot; the daily incremental run against the full run)",
    "calls_ratio_to_floor": "<= 1.2 (10,000 calls with summaries to 100 contacts of one OAuth portal; floor: searches, company reads, 6 writes per 100 calls at 11/s)",
    "calls_steady_p99_ms": "reported (5 calls/s; the logger loops every second as in make dev)",
    "service_ceiling_ratio": ">= 0.95 (10,000 customers, a trunk and 5 numbers each, as custom object records: upserts + default associations at 10/s)",
    "usage_push_ratio_to_floor": "<= 1.1 (100,000 customers' usage figures: one batch update per 100 companies at 10/s)",
    "import_ratio_to_floor": "<= 1.1 (floor: every request at 10/s: list pages + BAN batch writes)",
    "import_peak_heap_mb_100k": "flat (reported; < 64)",
    **{f"{f}_bootstrap_bytes": "<= 8,000,000 (arm64, stripped)" for f in ("customer-api", "sync-worker", "hubspot-webhook", "reconciler")},
    **{f"{f}_init_ms": "reported (local, x86_64)" for f in ("customer_api", "sync_worker", "hubspot_webhook", "reconciler")},
    "startup_baseline_hello_tls_ms": "reported (hello-world lambda_runtime bootstrap + one verified-TLS Postgres connection, same run)",
    "startup_ratio_to_baseline_max": "<= 1.5 (the slowest function's start-up over the baseline)",
}
out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
print("| measure | value | goal |")
print("|---|---|---|")
for key in sorted(results):
    value = results[key]
    if isinstance(value, dict):
        continue
    shown = f"{value:,.2f}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else str(value)
    print(f"| {key} | {shown} | {GOALS.get(key, '')} |")
print(f"\nwritten to {out}")
