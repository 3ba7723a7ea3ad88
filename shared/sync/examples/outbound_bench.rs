//! Outbound benchmark: how close the worker gets to HubSpot's ceiling (100 requests / 10 s ×
//! 100 records a call = 1,000 records/s) and how long a change takes to reach HubSpot at a
//! steady 100 changes/s.
//!
//! `cargo run --release -p warp-sync --example outbound_bench -- --customers 20000`
//!
//! Needs Postgres (TEST_DATABASE_URL or the local server); spawns its own sandbox with the real
//! limit. Prints one JSON line.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use warp_domain::customer::CustomerPatch;
use warp_store::{CustomerStore, Database, Update};

use support::{PORTAL, customer_ids, open_rows, round};

#[path = "support/mod.rs"]
mod support;
const CHANGES_PER_SECOND: u64 = 100;
const LATENCY_PHASE: Duration = Duration::from_secs(20);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let customers = customers_flag()?;
    let (_sandbox, database, worker) = support::sandbox_worker().await?;
    let worker = Arc::new(worker);

    insert_customers(&database, customers).await?;

    // Throughput: push every customer, as fast as the budget allows.
    let started = Instant::now();
    let mut calls = 0;
    loop {
        let report = worker.drain_due(1_000).await?;
        calls += report.hubspot_calls;
        if report.rows() == 0 {
            if open_rows(&database).await? == 0 {
                break;
            }
            // Only rows waiting for their retry time are left.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let records_per_second = customers as f64 / elapsed;
    eprintln!("pushed {customers} customers in {elapsed:.1} s with {calls} calls");

    // Let the 10-second window pass so the latency phase starts from a steady state.
    tokio::time::sleep(Duration::from_secs(10)).await;

    // Latency: a steady stream of changes, each to a different customer, and the worker loop.
    let store = CustomerStore::new(database.clone(), PORTAL);
    let ids = customer_ids(
        &database,
        (CHANGES_PER_SECOND * LATENCY_PHASE.as_secs()) as i64,
    )
    .await?;
    let started_at: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
    let writer = {
        let started_at = Arc::clone(&started_at);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(1_000 / CHANGES_PER_SECOND));
            for (n, id) in ids.into_iter().enumerate() {
                tick.tick().await;
                let patch = CustomerPatch::from_json(
                    &serde_json::json!({"credit_limit": format!("{}.00", 2_000 + n)}),
                )
                .map_err(|_| "patch")?;
                let written = store
                    .update(id, None, &Update::Patch(patch))
                    .await
                    .map_err(|e| e.to_string())?;
                if let Some(outbox_id) = written.outbox_id {
                    started_at
                        .lock()
                        .map_err(|_| "poisoned")?
                        .insert(outbox_id, Instant::now());
                }
            }
            Ok::<(), String>(())
        })
    };
    let mut latencies_ms = Vec::new();
    let deadline = Instant::now() + LATENCY_PHASE + Duration::from_secs(30);
    loop {
        let pass_started = Instant::now();
        let report = worker.process_due(1_000).await?;
        let finished = Instant::now();
        {
            let started_at = started_at.lock().map_err(|_| "poisoned")?;
            for id in &report.succeeded {
                if let Some(at) = started_at.get(id) {
                    latencies_ms.push(finished.duration_since(*at).as_secs_f64() * 1_000.0);
                }
            }
        }
        if writer.is_finished() && open_rows(&database).await? == 0 {
            break;
        }
        if Instant::now() > deadline {
            eprintln!("latency phase did not drain in time");
            break;
        }
        // At most ten passes a second: the budget allows ten calls a second on average.
        let pass = pass_started.elapsed();
        if pass < Duration::from_millis(100) {
            tokio::time::sleep(Duration::from_millis(100) - pass).await;
        }
    }
    writer.await?.map_err(|e| format!("writer failed: {e}"))?;
    latencies_ms.sort_by(f64::total_cmp);
    let line = serde_json::json!({
        "outbound_records_per_s": round(records_per_second),
        "outbound_ceiling_ratio": round(records_per_second / 1_000.0),
        "change_to_hubspot_p50_ms": round(percentile(&latencies_ms, 0.50)),
        "change_to_hubspot_p99_ms": round(percentile(&latencies_ms, 0.99)),
        "customers": customers,
        "changes_measured": latencies_ms.len(),
    });
    println!("{line}");
    Ok(())
}

fn customers_flag() -> Result<usize, String> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--customers") {
        Some(at) => args
            .get(at + 1)
            .and_then(|n| n.parse().ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| "--customers needs a positive number".to_owned()),
        None => Err("usage: outbound_bench --customers N".to_owned()),
    }
}

/// Bulk insert: customers and their CREATE outbox rows, as the store would write them.
async fn insert_customers(
    database: &Database,
    count: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let client = database.client().await?;
    let count = count as i64;
    client
        .execute(
            "INSERT INTO customers (id, ban, company_name, customer_type, credit_limit, domain, contact, services) \
             SELECT gen_random_uuid(), 'BN-' || lpad(i::text, 9, '0'), 'Bench customer ' || i, \
                    (ARRAY['PREPAID','POSTPAID','RESELLER'])[1 + i % 3], 1000 + i, 'bench' || i || '.example', \
                    jsonb_build_object('email', 'billing' || i || '@bench.example'), \
                    '{\"voice\":{\"enabled\":true}}'::jsonb \
             FROM generate_series(1, $1::bigint) AS i",
            &[&count],
        )
        .await?;
    client
        .execute(
            "INSERT INTO hubspot_sync_queue (portal_id, object_type, local_id, operation, local_version) \
             SELECT $1, 'companies', id, 'CREATE', version FROM customers ORDER BY ban",
            &[&PORTAL],
        )
        .await?;
    Ok(())
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}
