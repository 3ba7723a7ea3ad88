//! Finished calls (issue 21): `--calls` calls (each with a summary) of one customer to
//! `--numbers` contacts of its own portal, installed through OAuth (HubSpot's OAuth-app budget of
//! 110 requests / 10 s, searches 5 / s), logged on the production wiring (`wiring::call_logger`).
//!
//! The request floor is what any client must send: one search per number, one association read
//! per 100 contacts (their companies), and per 100 calls one upsert of the calls, two association
//! batches, one upsert of the notes and two association batches; the floor time is those requests
//! at 11 a second (or the searches at 5 a second, if slower). Goal: within 1.2 × the floor.
//!
//! Then `--rate` calls a second for `--steady-seconds` with the logger looping every second (as
//! `warp dev` runs it): the p50 and p99 from a call taken in to its engagement written.
//!
//! `cargo run --profile perf -p warp-sync --example calls_bench -- --calls 10000 --numbers 100`
//!
//! Needs Postgres (TEST_DATABASE_URL or the local server); spawns its own sandbox. Prints one
//! JSON line.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use warp_hubspot::{AssociationInput, BatchCreateInput, CrmObject, HubSpotClient, type_ids};
use warp_store::Database;
use warp_store::installations::InstallationRole;

use support::{flag, round};

#[path = "support/mod.rs"]
mod support;

/// HubSpot's per-portal limit for an OAuth app, per second; searches, per second.
const PORTAL_PER_S: f64 = 11.0;
const SEARCHES_PER_S: f64 = 5.0;
const CUSTOMER_PORTAL: i64 = 8_101;
/// Requests per 100 calls with summaries: calls upsert, call→contact, call→company, notes
/// upsert, note→contact, note→company.
const WRITES_PER_BATCH: usize = 6;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let count = flag("--calls", 10_000)?;
    let numbers = flag("--numbers", 100)?;
    let rate = flag("--rate", 5)?;
    let steady_seconds = flag("--steady-seconds", 30)?;
    let sandbox = warp_testkit::hubspot::sandbox(hubspot_sandbox::SandboxConfig::default()).await;
    let database = warp_testkit::fresh_database().await;
    let config = warp_runtime::Config::from_lookup(|name| match name {
        "HUBSPOT_BASE_URL" => Some(sandbox.base_url()),
        "HUBSPOT_AUTHORIZE_URL" => Some(format!("{}/oauth/authorize", sandbox.base_url())),
        _ => None,
    })?;
    let secrets = warp_runtime::SecretsCache::values_only();
    let home = warp_sync::wiring::hubspot_client(&config, &secrets, &database).await?;
    let (app, keyring) = warp_sync::wiring::oauth_app(&config, &secrets)
        .await?
        .ok_or("the local configuration has WARP's HubSpot app")?;

    let customer = insert_customer(&database).await?;
    warp_testkit::oauth::install(
        &sandbox,
        &database,
        &app,
        &keyring,
        CUSTOMER_PORTAL,
        InstallationRole::Customer(customer),
    )
    .await;
    let portal = warp_testkit::hubspot::client(&warp_testkit::hubspot::client_config(
        &sandbox,
        warp_testkit::hubspot::settings(110, 10_000),
    ))
    .with_credentials(Arc::new(warp_installations::InstallationCredentials::new(
        CUSTOMER_PORTAL,
        database.clone(),
        Arc::clone(&keyring),
        app.clone(),
    )));
    warp_hubspot::ensure_warp_properties(&portal).await?;
    let phones = contacts_at_one_company(&portal, numbers).await?;
    // Setting up spent part of the portal's budget (and search sees writes a moment late):
    // let the window pass.
    tokio::time::sleep(Duration::from_secs(10)).await;

    insert_calls(&database, customer, &phones, count).await?;
    let logger = warp_sync::wiring::call_logger(&config, &secrets, database.clone(), home).await?;
    let portal_key = CUSTOMER_PORTAL.to_string();
    let requests_before = requests_to(&sandbox, &portal_key);
    let started = Instant::now();
    let mut logged = 0;
    let mut skipped = 0;
    loop {
        let report = logger.log_due(warp_sync::call_log::CALL_PASS).await?;
        logged += report.logged;
        skipped += report.skipped + report.failed;
        if report.claimed == 0 {
            if pending(&database).await? == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let requests = requests_to(&sandbox, &portal_key) - requests_before;
    let batches = count.div_ceil(100);
    let minimum = numbers + numbers.div_ceil(100) + batches * WRITES_PER_BATCH;
    let floor = (minimum as f64 / PORTAL_PER_S).max(numbers as f64 / SEARCHES_PER_S);
    eprintln!(
        "logged {logged} of {count} calls ({skipped} not) in {elapsed:.1} s with {requests} \
         requests (minimum {minimum}; floor {floor:.1} s)"
    );

    let (p50, p99, steady_logged) =
        steady(&database, logger, customer, &phones, rate, steady_seconds).await?;
    let stats = sandbox.stats();
    let line = serde_json::json!({
        "calls_logged": logged,
        "calls_not_logged": skipped,
        "calls_seconds": round(elapsed),
        "calls_requests": requests,
        "calls_requests_minimum": minimum,
        "calls_floor_seconds": round(floor),
        "calls_ratio_to_floor": round(elapsed / floor),
        "calls_logged_per_s": round(logged as f64 / elapsed),
        "calls_steady_rate_per_s": rate,
        "calls_steady_logged": steady_logged,
        "calls_steady_p50_ms": round(p50),
        "calls_steady_p99_ms": round(p99),
        "calls_rate_limited_real": stats.rate_limited_real,
    });
    println!("{line}");
    Ok(())
}

/// `rate` calls a second for `seconds`, taken in as the API takes them, while the logger loops
/// every second; answers the p50 and p99 milliseconds from taken in to logged, and how many.
async fn steady(
    database: &Database,
    logger: warp_sync::call_log::CallLogger,
    customer: uuid::Uuid,
    phones: &[String],
    rate: usize,
    seconds: usize,
) -> Result<(f64, f64, i64), Box<dyn std::error::Error>> {
    let since = Utc::now();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let looping = tokio::spawn(warp_sync::call_log::run_call_log_loop(
        Arc::new(logger),
        Duration::from_secs(1),
        async move {
            let _ = stopped.await;
        },
    ));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    for n in 0..rate * seconds {
        tick.tick().await;
        let body = serde_json::json!({"call_id": format!("steady-{n}"), "customer_id": customer,
            "direction": "OUTBOUND", "from": "+14155550100", "to": phones[n % phones.len()],
            "started_at": (Utc::now() - chrono::Duration::seconds(60)).to_rfc3339(),
            "duration_ms": 55_000, "outcome": "COMPLETED", "summary": "Steady call"});
        let call = warp_domain::call::calls_from_json(&body, Utc::now())
            .map_err(|errors| format!("{errors:?}"))?;
        warp_store::calls::take_in(database, &call)
            .await?
            .map_err(|unknown| format!("{unknown:?}"))?;
    }
    for _ in 0..120 {
        if pending(database).await? == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let _ = stop.send(());
    let _ = looping.await;
    let client = database.client().await?;
    let row = client
        .query_one(
            "SELECT coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM logged_at - received_at)), 0)::float8 * 1000, \
                    coalesce(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM logged_at - received_at)), 0)::float8 * 1000, \
                    count(*) \
             FROM calls WHERE received_at >= $1 AND status = 'success'",
            &[&since],
        )
        .await?;
    Ok((row.get(0), row.get(1), row.get(2)))
}

fn requests_to(sandbox: &hubspot_sandbox::SandboxHandle, portal: &str) -> u64 {
    sandbox
        .stats()
        .requests_by_portal
        .get(portal)
        .copied()
        .unwrap_or(0)
}

async fn insert_customer(database: &Database) -> Result<uuid::Uuid, Box<dyn std::error::Error>> {
    let client = database.client().await?;
    Ok(client
        .query_one(
            "INSERT INTO customers (id, ban, company_name, customer_type, credit_limit, contact, services) \
             VALUES (gen_random_uuid(), 'CB-000000001', 'Calls bench customer', 'POSTPAID', 1000, \
                     '{\"email\": \"billing@calls-bench.example\"}', '{\"voice\":{\"enabled\":true}}') \
             RETURNING id",
            &[],
        )
        .await?
        .get(0))
}

/// `numbers` contacts of one company, each with its own phone number typed as a person would
/// (`(303) 555-0001`); answers the numbers in E.164.
async fn contacts_at_one_company(
    portal: &HubSpotClient,
    numbers: usize,
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let company = portal
        .objects(CrmObject::Companies)
        .create(&BTreeMap::from([(
            "name".to_owned(),
            "Called Corp".to_owned(),
        )]))
        .await?
        .id;
    let inputs: Vec<BatchCreateInput> = (0..numbers)
        .map(|n| BatchCreateInput {
            properties: BTreeMap::from([
                ("email".to_owned(), format!("called{n}@calls-bench.example")),
                ("phone".to_owned(), format!("(303) 555-{:04}", n % 10_000)),
            ]),
            object_write_trace_id: None,
        })
        .collect();
    let created = portal
        .objects(CrmObject::Contacts)
        .batch_create(&inputs)
        .await;
    if !created.is_complete() {
        return Err(format!("contacts not created: {:?}", created.errors).into());
    }
    let links: Vec<AssociationInput> = created
        .results
        .iter()
        .map(|contact| {
            AssociationInput::new(
                contact.id.clone(),
                company.clone(),
                &[type_ids::CONTACT_TO_COMPANY_PRIMARY],
            )
        })
        .collect();
    let associated = portal
        .associations(CrmObject::Contacts, CrmObject::Companies)
        .batch_create(&links)
        .await;
    if !associated.is_complete() {
        return Err("contacts not associated with their company".into());
    }
    Ok((0..numbers)
        .map(|n| format!("+1303555{:04}", n % 10_000))
        .collect())
}

/// `count` calls with summaries, to the numbers in turn, as if taken in a moment ago.
async fn insert_calls(
    database: &Database,
    customer: uuid::Uuid,
    phones: &[String],
    count: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let client = database.client().await?;
    client
        .execute(
            "INSERT INTO calls (call_id, customer_id, direction, from_number, to_number, \
                 started_at, duration_ms, outcome, summary) \
             SELECT 'bench-' || i, $1, 'OUTBOUND', '+14155550100', \
                    ($2::text[])[1 + i % array_length($2::text[], 1)], \
                    now() - interval '1 hour', 65000, 'COMPLETED', 'Asked for a demo (' || i || ')' \
             FROM generate_series(1, $3::bigint) AS i",
            &[&customer, &phones, &(count as i64)],
        )
        .await?;
    Ok(())
}

async fn pending(database: &Database) -> Result<i64, Box<dyn std::error::Error>> {
    let client = database.client().await?;
    Ok(client
        .query_one("SELECT count(*) FROM calls WHERE status = 'pending'", &[])
        .await?
        .get(0))
}
