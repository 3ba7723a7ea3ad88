//! Several portals at once: outbound to 10 customer portals, each installed through OAuth with
//! its own budget of 110 requests / 10 s (HubSpot's OAuth-app limit per portal), on the
//! production wiring (`wiring::portal_workers`). Per-portal budgets must not serialise: the
//! goal is an aggregate of at least 0.9 × portals × one portal's ceiling of 11 calls a second.
//!
//! `--batch-size` sets records per call (`OUTBOX_BATCH_SIZE`). With small batches the budgets
//! bind, which is what this measures; with HubSpot's 100 a call, 10 portals would need 11,000
//! records a second of bookkeeping, more than a 2-core machine's Postgres does, so that run is
//! reported apart (`--prefix full_batch_`).
//!
//! `cargo run --profile perf -p warp-sync --example portals_bench -- --portals 10 --per-portal 500 --batch-size 5`
//!
//! Needs Postgres (TEST_DATABASE_URL or the local server); spawns its own sandbox. Prints one
//! JSON line.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use warp_store::Database;
use warp_store::installations::InstallationRole;
use warp_testkit::PORTAL;

use support::{customer_ids, open_rows, round};

#[path = "support/mod.rs"]
mod support;

/// HubSpot's per-portal limit for an OAuth app, per 10 s.
const PORTAL_LIMIT: f64 = 110.0;
const FIRST_PORTAL: i64 = 8_001;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let portals = flag("--portals")?;
    let per_portal = flag("--per-portal")?;
    let batch_size = flag("--batch-size")?;
    let prefix = text_flag("--prefix").unwrap_or_default();
    let sandbox = warp_testkit::hubspot::sandbox(hubspot_sandbox::SandboxConfig::default()).await;
    let database = warp_testkit::fresh_database().await;
    let config = warp_runtime::Config::from_lookup(|name| match name {
        "HUBSPOT_BASE_URL" => Some(sandbox.base_url()),
        "HUBSPOT_AUTHORIZE_URL" => Some(format!("{}/oauth/authorize", sandbox.base_url())),
        "OUTBOX_BATCH_SIZE" => Some(batch_size.to_string()),
        _ => None,
    })?;
    let secrets = warp_runtime::SecretsCache::values_only();
    let home = warp_sync::wiring::hubspot_client(&config, &secrets, &database).await?;
    let (app, keyring) = warp_sync::wiring::oauth_app(&config, &secrets)
        .await?
        .ok_or("the local configuration has WARP's HubSpot app")?;

    insert_customers(&database, portals * per_portal).await?;
    let owners = customer_ids(&database, portals as i64).await?;
    let portal_ids: Vec<i64> = (0..portals as i64).map(|n| FIRST_PORTAL + n).collect();
    for (portal_id, owner) in portal_ids.iter().zip(&owners) {
        warp_testkit::oauth::install(
            &sandbox,
            &database,
            &app,
            &keyring,
            *portal_id,
            InstallationRole::Customer(*owner),
        )
        .await;
        let client = warp_testkit::hubspot::client(&warp_testkit::hubspot::client_config(
            &sandbox,
            warp_testkit::hubspot::settings(110, 10_000),
        ))
        .with_credentials(Arc::new(warp_installations::InstallationCredentials::new(
            *portal_id,
            database.clone(),
            Arc::clone(&keyring),
            app.clone(),
        )));
        warp_hubspot::ensure_warp_properties(&client).await?;
    }
    // The property calls spent part of each portal's budget: let the window pass.
    tokio::time::sleep(Duration::from_secs(10)).await;
    enqueue_per_portal(&database, &portal_ids, per_portal).await?;
    let workers =
        warp_sync::wiring::portal_workers(&config, &secrets, database.clone(), home).await?;

    let started = Instant::now();
    let mut calls = 0;
    loop {
        let pass_started = Instant::now();
        let report = workers.process_due(1_000).await?;
        if std::env::var_os("BENCH_TRACE").is_some() {
            eprintln!(
                "pass {:.0} ms: {} rows, {} calls",
                pass_started.elapsed().as_secs_f64() * 1000.0,
                report.rows(),
                report.hubspot_calls
            );
        }
        calls += report.hubspot_calls;
        if report.rows() == 0 {
            if open_rows(&database).await? == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let records = (portals * per_portal) as f64;
    let calls_per_second = calls as f64 / elapsed;
    let ceiling = portals as f64 * PORTAL_LIMIT / 10.0;
    let stats = sandbox.stats();
    let by_portal: BTreeMap<String, u64> = stats
        .requests_by_portal
        .iter()
        .filter(|(portal, _)| *portal != &PORTAL.to_string())
        .map(|(portal, calls)| (portal.clone(), *calls))
        .collect();
    eprintln!(
        "pushed {records} records to {portals} portals in {elapsed:.1} s with {calls} calls \
         ({batch_size} a call); real 429s {}",
        stats.rate_limited_real
    );
    let line = serde_json::json!({
        format!("{prefix}portals"): portals,
        format!("{prefix}portals_batch_size"): batch_size,
        format!("{prefix}portals_records_per_s"): round(records / elapsed),
        format!("{prefix}portals_calls_per_s"): round(calls_per_second),
        format!("{prefix}portals_ceiling_calls_per_s"): ceiling,
        format!("{prefix}portals_ceiling_ratio"): round(calls_per_second / ceiling),
        format!("{prefix}portals_rate_limited_real"): stats.rate_limited_real,
        format!("{prefix}portals_requests_by_portal"): by_portal,
    });
    println!("{line}");
    Ok(())
}

fn text_flag(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|at| args.get(at + 1))
        .cloned()
}

fn flag(name: &str) -> Result<usize, String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|at| args.get(at + 1))
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            format!("usage: portals_bench --portals N --per-portal M --batch-size B ({name})")
        })
}

/// Bulk insert of `count` customers (no outbox rows: each portal's rows are queued below).
async fn insert_customers(
    database: &Database,
    count: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let client = database.client().await?;
    client
        .execute(
            "INSERT INTO customers (id, ban, company_name, customer_type, credit_limit, domain, contact, services) \
             SELECT gen_random_uuid(), 'BN-' || lpad(i::text, 9, '0'), 'Portal bench customer ' || i, \
                    (ARRAY['PREPAID','POSTPAID','RESELLER'])[1 + i % 3], 1000 + i, 'portal' || i || '.example', \
                    jsonb_build_object('email', 'billing' || i || '@bench.example'), \
                    '{\"voice\":{\"enabled\":true}}'::jsonb \
             FROM generate_series(1, $1::bigint) AS i",
            &[&(count as i64)],
        )
        .await?;
    Ok(())
}

/// Each portal gets its own `per_portal` customers, queued as a resync to that portal.
async fn enqueue_per_portal(
    database: &Database,
    portals: &[i64],
    per_portal: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let client = database.client().await?;
    client
        .execute(
            "INSERT INTO hubspot_sync_queue (portal_id, object_type, local_id, operation, local_version) \
             SELECT ($1::int8[])[(1 + (n - 1) / $2)::int], 'companies', id, 'RESYNC', version \
             FROM (SELECT id, version, row_number() OVER (ORDER BY ban) AS n FROM customers) AS c",
            &[&portals, &(per_portal as i64)],
        )
        .await?;
    Ok(())
}
