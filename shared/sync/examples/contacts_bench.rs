//! Contacts outbound benchmark, beside `outbound_bench` (companies): how close the worker gets
//! to HubSpot's ceiling (100 requests / 10 s × 100 records a call = 1,000 records/s) for users
//! ↔ contacts, alone and mixed with companies in one run sharing the one budget.
//!
//! `cargo run --release -p warp-sync --example contacts_bench -- --users 20000`
//!
//! Phases, each after the 10-second window has passed: (untimed) N customers pushed as
//! companies; N users' first push (an upsert by email and the company association: two calls
//! per hundred, so half the ceiling by construction); N contact updates (one call per
//! hundred); N/2 customers and N/2 users changed together. Prints one JSON line.

use std::time::{Duration, Instant};
use support::{PORTAL, round};
use warp_store::Database;
use warp_sync::outbound::OutboundWorker;

#[path = "support/mod.rs"]
mod support;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let users = users_flag()?;
    let (_sandbox, database, worker) = support::sandbox_worker().await?;

    sql(
        &database,
        &format!(
            "INSERT INTO customers (id, ban, company_name, customer_type, credit_limit) \
             SELECT gen_random_uuid(), 'BN-' || lpad(i::text, 9, '0'), 'Bench customer ' || i, 'POSTPAID', 1000 + i \
             FROM generate_series(1, {users}) AS i;
             INSERT INTO hubspot_sync_queue (portal_id, object_type, local_id, operation, local_version) \
             SELECT {PORTAL}, 'companies', id, 'CREATE', version FROM customers ORDER BY ban;"
        ),
    )
    .await?;
    drain(&worker, &database).await?;
    eprintln!("{users} companies pushed (setup)");

    sql(
        &database,
        &format!(
            "INSERT INTO users (id, customer_id, email, first_name, role, status) \
             SELECT gen_random_uuid(), id, 'user' || substr(ban, 4) || '@bench.example', 'Bench', 'developer', 'active' \
             FROM customers;
             INSERT INTO hubspot_sync_queue (portal_id, object_type, local_id, operation, local_version) \
             SELECT {PORTAL}, 'contacts', id, 'CREATE', version FROM users ORDER BY email;"
        ),
    )
    .await?;
    let (first_link, first_calls) = timed(&worker, &database, users).await?;

    sql(
        &database,
        &format!(
            "UPDATE users SET last_name = 'Changed ' || substr(email, 5, 9), version = version + 1;
             INSERT INTO hubspot_sync_queue (portal_id, object_type, local_id, operation, local_version) \
             SELECT {PORTAL}, 'contacts', id, 'UPDATE', version FROM users ORDER BY email;"
        ),
    )
    .await?;
    let (updates, update_calls) = timed(&worker, &database, users).await?;

    let half = users / 2;
    sql(
        &database,
        &format!(
            "WITH picked AS (SELECT id FROM customers ORDER BY ban LIMIT {half}) \
             UPDATE customers c SET credit_limit = credit_limit + 1, version = version + 1 FROM picked p WHERE c.id = p.id;
             WITH picked AS (SELECT id FROM users ORDER BY email DESC LIMIT {half}) \
             UPDATE users u SET job_title = 'Mixed', version = version + 1 FROM picked p WHERE u.id = p.id;
             INSERT INTO hubspot_sync_queue (portal_id, object_type, local_id, operation, local_version) \
             SELECT {PORTAL}, 'companies', id, 'UPDATE', version FROM (SELECT id, version FROM customers ORDER BY ban LIMIT {half}) c;
             INSERT INTO hubspot_sync_queue (portal_id, object_type, local_id, operation, local_version) \
             SELECT {PORTAL}, 'contacts', id, 'UPDATE', version FROM (SELECT id, version FROM users ORDER BY email DESC LIMIT {half}) u;"
        ),
    )
    .await?;
    let (mixed, mixed_calls) = timed(&worker, &database, 2 * half).await?;

    let line = serde_json::json!({
        "contacts_first_link_records_per_s": round(first_link),
        "contacts_first_link_ceiling_ratio": round(first_link / 1_000.0),
        "contacts_first_link_calls": first_calls,
        "contacts_outbound_records_per_s": round(updates),
        "contacts_outbound_ceiling_ratio": round(updates / 1_000.0),
        "contacts_outbound_calls": update_calls,
        "mixed_outbound_records_per_s": round(mixed),
        "mixed_outbound_ceiling_ratio": round(mixed / 1_000.0),
        "mixed_outbound_calls": mixed_calls,
        "contacts_bench_users": users,
    });
    println!("{line}");
    Ok(())
}

/// Waits out the rate window, then pushes everything open; records per second and calls.
async fn timed(
    worker: &OutboundWorker,
    database: &Database,
    records: usize,
) -> Result<(f64, usize), Box<dyn std::error::Error>> {
    tokio::time::sleep(Duration::from_secs(10)).await;
    let started = Instant::now();
    let calls = drain(worker, database).await?;
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!("{records} records in {elapsed:.1} s with {calls} calls");
    Ok((records as f64 / elapsed, calls))
}

/// Processes until no outbox row is left open; the HubSpot calls made.
async fn drain(
    worker: &OutboundWorker,
    database: &Database,
) -> Result<usize, Box<dyn std::error::Error>> {
    let mut calls = 0;
    loop {
        let report = worker.drain_due(1_000).await?;
        calls += report.hubspot_calls;
        if report.rows() == 0 {
            let client = database.client().await?;
            let open: i64 = client
                .query_one(
                    "SELECT count(*) FROM hubspot_sync_queue WHERE status <> 'DONE'",
                    &[],
                )
                .await?
                .get(0);
            if open == 0 {
                return Ok(calls);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn sql(database: &Database, statements: &str) -> Result<(), Box<dyn std::error::Error>> {
    database.client().await?.batch_execute(statements).await?;
    Ok(())
}

fn users_flag() -> Result<usize, String> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--users") {
        Some(at) => args
            .get(at + 1)
            .and_then(|n| n.parse().ok())
            .filter(|n| *n > 1)
            .ok_or_else(|| "--users needs a number above 1".to_owned()),
        None => Err("usage: contacts_bench --users N".to_owned()),
    }
}
