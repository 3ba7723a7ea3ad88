//! Reconciliation benchmark: N customers (default 100,000) against N linked companies in a
//! sandbox at HubSpot's real 100 requests / 10 s, 1% of the companies renamed in HubSpot.
//! The floor is the list itself: N / 100 pages at 10 requests per second.
//!
//! `cargo run --profile perf -p warp-reconcile --example reconcile_bench -- --customers 100000`
//!
//! Needs Postgres (TEST_DATABASE_URL or the local server); spawns its own sandbox. Prints one
//! JSON line. Peak heap is measured by a counting allocator (live bytes above the level before
//! the run; the in-process sandbox's request buffers are included).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use warp_domain::sync::{FieldMap, customer_field_values, full_push};
use warp_reconcile::Reconciler;
use warp_store::Database;
use warp_store::sync_config::MappingSource;
use warp_webhook::InboundProcessor;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

use warp_testkit::PORTAL;
const SEED_CHUNK: usize = 5_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let customers = customers_flag()?;
    let sandbox = warp_testkit::hubspot::sandbox(hubspot_sandbox::SandboxConfig::default()).await;
    let database = warp_testkit::fresh_database().await;
    // The production wiring, pointed at the sandbox: the default budget is HubSpot's Free tier
    // (100 requests / 10 s), shared through Postgres.
    let config = warp_runtime::Config::from_lookup(|name| {
        (name == "HUBSPOT_BASE_URL").then(|| sandbox.base_url())
    })?;
    let hubspot = warp_sync::wiring::hubspot_client(
        &config,
        &warp_runtime::SecretsCache::values_only(),
        &database,
    )
    .await?;

    // The properties exist before seeding (the sandbox validates property names).
    warp_hubspot::ensure_warp_properties(&hubspot).await?;
    let seeding = Instant::now();
    seed(&database, &sandbox, customers).await?;
    eprintln!(
        "seeded {customers} customers and companies in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    // Let the 10-second window refill so the run starts from a steady budget.
    tokio::time::sleep(std::time::Duration::from_secs(10)).await;

    let map =
        MappingSource::load(database.clone(), PORTAL, std::time::Duration::from_secs(30)).await?;
    let reconciler = Reconciler {
        database: database.clone(),
        hubspot: hubspot.clone(),
        map: map.clone(),
        portal_id: PORTAL,
        inbound: Arc::new(InboundProcessor {
            database: database.clone(),
            hubspot: Some(hubspot),
            map,
            portal_id: PORTAL,
        }),
        publisher: None,
        onboarding: None,
    };
    let baseline = LIVE.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);
    let started = Instant::now();
    let report = reconciler.run(None, false, None).await?;
    let seconds = started.elapsed().as_secs_f64();
    let peak_mb = PEAK.load(Ordering::Relaxed).saturating_sub(baseline) as f64 / 1_048_576.0;
    let floor = customers.div_ceil(100) as f64 / 10.0;
    let suffix = if customers == 100_000 {
        "100k".to_owned()
    } else {
        customers.to_string()
    };
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
    });
    println!("{line}");
    Ok(())
}

/// Customers by SQL; companies seeded into the sandbox with the customers' own mapped values
/// (1% renamed, as if edited in HubSpot while webhooks were lost); then the links.
async fn seed(
    database: &Database,
    sandbox: &hubspot_sandbox::SandboxHandle,
    count: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let client = database.client().await?;
    let total = count as i64;
    client
        .execute(
            "INSERT INTO customers (id, ban, company_name, customer_type, credit_limit, domain, contact, services) \
             SELECT gen_random_uuid(), 'BN-' || lpad(i::text, 9, '0'), 'Bench customer ' || i, \
                    (ARRAY['PREPAID','POSTPAID','RESELLER'])[1 + i % 3], 1000 + i, 'bench' || i || '.example', \
                    jsonb_build_object('email', 'billing' || i || '@bench.example'), \
                    '{\"voice\":{\"enabled\":true}}'::jsonb \
             FROM generate_series(1, $1::bigint) AS i",
            &[&total],
        )
        .await?;
    let ids: Vec<uuid::Uuid> = client
        .query("SELECT id FROM customers ORDER BY ban", &[])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
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

fn customers_flag() -> Result<usize, String> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--customers") {
        Some(at) => args
            .get(at + 1)
            .and_then(|n| n.parse().ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| "--customers needs a positive number".to_owned()),
        None => Ok(100_000),
    }
}

fn round(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}
