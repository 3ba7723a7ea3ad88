//! What the outbound benchmarks share: a sandbox with HubSpot's real limit, a fresh database
//! and the production wiring pointed at them, and the small helpers they print with.

// Each benchmark uses part of it.
#![allow(dead_code)]

use warp_store::Database;
use warp_sync::outbound::OutboundWorker;

pub use warp_testkit::PORTAL;

/// The sandbox (kept alive by the caller), a fresh database, and an outbound worker on the
/// production wiring: HubSpot's Free-tier budget (100 requests / 10 s) shared through Postgres,
/// the mapping read from `hubspot_sync_config`.
pub async fn sandbox_worker()
-> Result<(hubspot_sandbox::SandboxHandle, Database, OutboundWorker), Box<dyn std::error::Error>> {
    let (sandbox, database, client) = sandbox_client().await?;
    let worker = OutboundWorker::new(
        database.clone(),
        client,
        PORTAL,
        warp_store::sync_config::MappingSource::read_every_time(database.clone(), PORTAL).await?,
    );
    Ok((sandbox, database, worker))
}

/// The sandbox (kept alive by the caller), a fresh database, and the home portal's client on
/// the production wiring, with WARP's properties made.
pub async fn sandbox_client() -> Result<
    (
        hubspot_sandbox::SandboxHandle,
        Database,
        warp_hubspot::HubSpotClient,
    ),
    Box<dyn std::error::Error>,
> {
    let sandbox = warp_testkit::hubspot::sandbox(hubspot_sandbox::SandboxConfig::default()).await;
    let database = warp_testkit::fresh_database().await;
    let config = warp_runtime::Config::from_lookup(|name| {
        (name == "HUBSPOT_BASE_URL").then(|| sandbox.base_url())
    })?;
    let client = warp_sync::wiring::hubspot_client(
        &config,
        &warp_runtime::SecretsCache::values_only(),
        &database,
    )
    .await?;
    warp_hubspot::ensure_warp_properties(&client).await?;
    Ok((sandbox, database, client))
}

/// Outbox rows not DONE yet.
pub async fn open_rows(database: &Database) -> Result<i64, Box<dyn std::error::Error>> {
    let client = database.client().await?;
    Ok(client
        .query_one(
            "SELECT count(*) FROM hubspot_sync_queue WHERE status <> 'DONE'",
            &[],
        )
        .await?
        .get(0))
}

/// The first `limit` customers by BAN.
pub async fn customer_ids(
    database: &Database,
    limit: i64,
) -> Result<Vec<uuid::Uuid>, Box<dyn std::error::Error>> {
    let client = database.client().await?;
    Ok(client
        .query("SELECT id FROM customers ORDER BY ban LIMIT $1", &[&limit])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect())
}

/// Two decimals, for the printed figures.
pub fn round(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// The positive number after `name` on the command line, else `default`.
pub fn flag(name: &str, default: usize) -> Result<usize, String> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(at) => args
            .get(at + 1)
            .and_then(|n| n.parse().ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{name} takes a positive number")),
    }
}
