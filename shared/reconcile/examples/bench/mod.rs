//! What the reconciler's benchmarks share: the production wiring pointed at an in-process
//! sandbox (the default budget is HubSpot's Free tier, 100 requests / 10 s, shared through
//! Postgres), WARP's properties created, and N customers seeded by SQL.

use std::sync::Arc;
use std::time::Instant;

use hubspot_sandbox::SandboxHandle;
use warp_hubspot::HubSpotClient;
use warp_reconcile::Reconciler;
use warp_store::Database;
use warp_store::sync_config::MappingSource;
use warp_testkit::PORTAL;
use warp_webhook::InboundProcessor;

pub type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

/// The client the production wiring builds, pointed at the sandbox, with WARP's properties.
pub async fn client(sandbox: &SandboxHandle, database: &Database) -> BenchResult<HubSpotClient> {
    let config = warp_runtime::Config::from_lookup(|name| {
        (name == "HUBSPOT_BASE_URL").then(|| sandbox.base_url())
    })?;
    let hubspot = warp_sync::wiring::hubspot_client(
        &config,
        &warp_runtime::SecretsCache::values_only(),
        database,
    )
    .await?;
    // The properties exist before seeding (the sandbox validates property names).
    warp_hubspot::ensure_warp_properties(&hubspot).await?;
    Ok(hubspot)
}

/// A reconciler on that client (no onboardings, no publisher: the outbox keeps the pushes).
pub async fn reconciler(database: &Database, hubspot: HubSpotClient) -> BenchResult<Reconciler> {
    let map =
        MappingSource::load(database.clone(), PORTAL, std::time::Duration::from_secs(30)).await?;
    Ok(Reconciler {
        database: database.clone(),
        hubspot: hubspot.clone(),
        reader: hubspot.clone(),
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
        audit_retention: warp_store::audit::DEFAULT_RETENTION,
        journal: None,
        calls: None,
        account_events: None,
        tickets: None,
        services: None,
        usage_daily_note: false,
    })
}

/// `count` customers (BN-000000001 …, domain benchN.example), unlinked; their ids in BAN order.
pub async fn seed_customers(database: &Database, count: usize) -> BenchResult<Vec<uuid::Uuid>> {
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
    Ok(client
        .query("SELECT id FROM customers ORDER BY ban", &[])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect())
}

/// Lets the 10-second window refill so a run starts from a steady budget.
pub async fn settle_budget() {
    tokio::time::sleep(std::time::Duration::from_secs(10)).await;
}

/// A benchmark's parts before its seed: the sandbox, a fresh database, the client on them.
pub struct World {
    pub sandbox: SandboxHandle,
    pub database: Database,
    pub hubspot: HubSpotClient,
    seeding: Instant,
}

pub async fn world() -> BenchResult<World> {
    let sandbox = warp_testkit::hubspot::sandbox(hubspot_sandbox::SandboxConfig::default()).await;
    let database = warp_testkit::fresh_database().await;
    let hubspot = client(&sandbox, &database).await?;
    Ok(World {
        sandbox,
        database,
        hubspot,
        seeding: Instant::now(),
    })
}

impl World {
    /// After the seed: says how long it took, lets the budget refill, and wires the
    /// reconciler.
    pub async fn seeded(&self, what: &str) -> BenchResult<Reconciler> {
        eprintln!(
            "seeded {what} in {:.1} s",
            self.seeding.elapsed().as_secs_f64()
        );
        settle_budget().await;
        reconciler(&self.database, self.hubspot.clone()).await
    }
}

/// A figure's name suffix: `100k` for the standard size, else the count.
pub fn suffix(count: usize) -> String {
    if count == 100_000 {
        "100k".to_owned()
    } else {
        count.to_string()
    }
}
