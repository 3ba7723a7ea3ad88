//! Building the HubSpot client of a process and the property bootstrap command.

use anyhow::Context;
use std::sync::Arc;
use warp_hubspot::{
    HubSpotClient, HubSpotClientConfig, PostgresRateBudget, ensure_warp_properties,
};
use warp_runtime::{Config, SecretsCache};
use warp_store::Database;

/// The client, drawing on the portal's request budget shared through Postgres.
pub async fn client(
    config: &Config,
    secrets: &SecretsCache,
    database: &Database,
) -> anyhow::Result<HubSpotClient> {
    let token = secrets.resolve(&config.hubspot.token).await?;
    let client_config = HubSpotClientConfig::from_runtime(config, token)?;
    let budget = PostgresRateBudget::new(
        database.pool().clone(),
        config.hubspot.portal_id,
        &client_config.rate_limit,
    );
    Ok(HubSpotClient::new(&client_config, Arc::new(budget))?)
}

/// Creates the `warp` property group and the `warp_*` properties, idempotently, and prints
/// what it did.
pub async fn setup(client: &HubSpotClient) -> anyhow::Result<()> {
    let report = ensure_warp_properties(client)
        .await
        .context("creating the warp_* properties in HubSpot")?;
    println!(
        "hubspot-setup: group {}, {} properties created, {} already there{}",
        if report.group_created {
            "created"
        } else {
            "already there"
        },
        report.created.len(),
        report.already_existing.len(),
        if report.mismatched.is_empty() {
            String::new()
        } else {
            format!(
                "; differing from ours (left unchanged): {}",
                report.mismatched.join(", ")
            )
        },
    );
    Ok(())
}
