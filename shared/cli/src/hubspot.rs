//! Building the HubSpot client of a process and the property bootstrap command.

use anyhow::Context;
use warp_hubspot::{HubSpotClient, ensure_warp_properties};
use warp_runtime::{Config, SecretsCache};
use warp_store::Database;

/// The client, drawing on the portal's request budget shared through Postgres (built by
/// `warp_sync::wiring`, the same code the Lambda functions use).
pub async fn client(
    config: &Config,
    secrets: &SecretsCache,
    database: &Database,
) -> anyhow::Result<HubSpotClient> {
    Ok(warp_sync::wiring::hubspot_client(config, secrets, database).await?)
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
