//! What the outbound benchmarks share: a sandbox with HubSpot's real limit, a fresh database
//! and the production wiring pointed at them.

use warp_store::Database;
use warp_sync::outbound::OutboundWorker;

pub const PORTAL: i64 = 62515;

/// The sandbox (kept alive by the caller), a fresh database, and an outbound worker on the
/// production wiring: HubSpot's Free-tier budget (100 requests / 10 s) shared through Postgres,
/// the mapping read from `hubspot_sync_config`.
pub async fn sandbox_worker()
-> Result<(hubspot_sandbox::SandboxHandle, Database, OutboundWorker), Box<dyn std::error::Error>> {
    let sandbox = hubspot_sandbox::spawn(
        hubspot_sandbox::SandboxConfig::default(),
        "127.0.0.1:0".parse()?,
    )
    .await?;
    let server_url = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let database = Database::fresh_for_test(&server_url).await?;
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
    let worker = OutboundWorker::new(
        database.clone(),
        client,
        PORTAL,
        warp_store::sync_config::MappingSource::read_every_time(database.clone(), PORTAL).await?,
    );
    Ok((sandbox, database, worker))
}
