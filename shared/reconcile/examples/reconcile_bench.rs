//! Reconciliation benchmark: N customers (default 100,000) against N linked companies in a
//! sandbox at HubSpot's real 100 requests / 10 s, 1% of the companies renamed in HubSpot.
//! The floor is the list itself: N / 100 pages at 10 requests per second. Then 1% of the
//! companies are renamed again in HubSpot and the daily incremental run repairs them: its
//! requests are compared with the full run's (goal: at most 5%).
//!
//! `cargo run --profile perf -p warp-reconcile --example reconcile_bench -- --customers 100000`
//!
//! Needs Postgres (TEST_DATABASE_URL or the local server); spawns its own sandbox. Prints one
//! JSON line. Peak heap is measured by a counting allocator (live bytes above the level before
//! the run; the in-process sandbox's request buffers are included).

mod bench;

use std::time::Instant;
use warp_domain::sync::{FieldMap, customer_field_values, full_push};
use warp_store::Database;
use warp_testkit::heap::{self, count_flag, round2 as round};

#[global_allocator]
static ALLOCATOR: heap::Counting = heap::Counting;

const SEED_CHUNK: usize = 5_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let customers = count_flag("--customers", 100_000)?;
    let world = bench::world().await?;
    seed(&world.database, &world.sandbox, customers).await?;
    let reconciler = world
        .seeded(&format!("{customers} customers and companies"))
        .await?;
    let baseline = heap::start();
    let started = Instant::now();
    let report = reconciler.run(None, false, None).await?;
    let seconds = started.elapsed().as_secs_f64();
    let peak_mb = heap::peak_mb_since(baseline);
    let floor = customers.div_ceil(100) as f64 / 10.0;
    let suffix = bench::suffix(customers);
    let since = chrono::Utc::now();
    let renamed = rename_in_hubspot(&world.database, &world.sandbox, customers / 100).await?;
    let started_incremental = Instant::now();
    let incremental = reconciler.run_incremental(None, false, since, None).await?;
    let incremental_seconds = started_incremental.elapsed().as_secs_f64();
    eprintln!(
        "incremental run over {renamed} renamed in {incremental_seconds:.1} s ({} requests, {} drift found, {} fixed)",
        incremental.hubspot_requests, incremental.drift_found, incremental.drift_fixed
    );
    eprintln!(
        "reconciled in {seconds:.1} s ({} requests, {} drift found, {} fixed, {} errors)",
        report.hubspot_requests, report.drift_found, report.drift_fixed, report.errors
    );
    let line = serde_json::json!({
        format!("reconcile_seconds_{suffix}"): round(seconds),
        "reconcile_ratio_to_floor": round(seconds / floor),
        format!("reconcile_hubspot_requests_{suffix}"): report.hubspot_requests,
        format!("reconcile_peak_heap_mb_{suffix}"): round(peak_mb),
        format!("reconcile_drift_found_{suffix}"): report.drift_found,
        format!("reconcile_drift_fixed_{suffix}"): report.drift_fixed,
        format!("incremental_reconcile_seconds_{suffix}"): round(incremental_seconds),
        format!("incremental_reconcile_requests_{suffix}"): incremental.hubspot_requests,
        format!("incremental_reconcile_drift_fixed_{suffix}"): incremental.drift_fixed,
        "incremental_requests_ratio_to_full": round(
            incremental.hubspot_requests as f64 / report.hubspot_requests.max(1) as f64
        ),
    });
    println!("{line}");
    Ok(())
}

/// Renames `count` linked companies in HubSpot's UI (batch updates of 100, as a person's bulk
/// edit), their webhooks lost: what the incremental run must find. Returns how many.
async fn rename_in_hubspot(
    database: &Database,
    sandbox: &hubspot_sandbox::SandboxHandle,
    count: usize,
) -> Result<usize, Box<dyn std::error::Error>> {
    let client = database.client().await?;
    let step = i64::try_from(100usize)?;
    let companies: Vec<String> = client
        .query(
            "SELECT external_ids->>'hubspot_company_id' FROM customers \
             WHERE external_ids ? 'hubspot_company_id' ORDER BY ban OFFSET 1 LIMIT $1",
            &[&(i64::try_from(count)? * step)],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .step_by(100)
        .collect();
    let http = reqwest::Client::new();
    for chunk in companies.chunks(100) {
        let inputs: Vec<serde_json::Value> = chunk
            .iter()
            .map(|id| serde_json::json!({"id": id, "properties": {"name": format!("Renamed again {id}")}}))
            .collect();
        let answer = http
            .post(format!(
                "{}/crm/v3/objects/companies/batch/update",
                sandbox.base_url()
            ))
            .bearer_auth(warp_testkit::USER_TOKEN)
            .json(&serde_json::json!({ "inputs": inputs }))
            .send()
            .await?;
        if !answer.status().is_success() {
            return Err(format!("renaming in HubSpot answered {}", answer.status()).into());
        }
    }
    Ok(companies.len())
}

/// Customers by SQL; companies seeded into the sandbox with the customers' own mapped values
/// (1% renamed, as if edited in HubSpot while webhooks were lost); then the links.
async fn seed(
    database: &Database,
    sandbox: &hubspot_sandbox::SandboxHandle,
    count: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let ids = bench::seed_customers(database, count).await?;
    let client = database.client().await?;
    let map = FieldMap::default_mapping();
    for (chunk_number, chunk) in ids.chunks(SEED_CHUNK).enumerate() {
        let loaded = warp_store::customers::load(&**client, chunk).await?;
        let companies = chunk.iter().enumerate().map(|(n, id)| {
            let mut values: hubspot_sandbox::PropertyValues =
                full_push(&map, &customer_field_values(&loaded[id]))
                    .into_iter()
                    .map(|change| {
                        (
                            change.hubspot_property.clone(),
                            change.hubspot_value().to_owned(),
                        )
                    })
                    .collect();
            if (chunk_number * SEED_CHUNK + n).is_multiple_of(100) {
                values.insert("name".into(), format!("Renamed in HubSpot {n}"));
            }
            values
        });
        let company_ids: Vec<String> = sandbox
            .seed_companies(companies)?
            .iter()
            .map(u64::to_string)
            .collect();
        client
            .execute(
                "UPDATE customers c SET external_ids = jsonb_build_object('hubspot_company_id', l.company) \
                 FROM unnest($1::uuid[], $2::text[]) AS l(id, company) WHERE c.id = l.id",
                &[&chunk.to_vec(), &company_ids],
            )
            .await?;
    }
    client.execute("VACUUM ANALYZE customers", &[]).await?;
    Ok(())
}
