//! `warp worker`: the outbound worker alone, in its own process, next to a `warp dev` started
//! with `DEV_OUTBOUND=false`. Killing it (even with SIGKILL) loses nothing: claimed rows come
//! back when their lease (`OUTBOX_LEASE_SECS`) runs out. `warp dev` runs the same loops.

use crate::dev::Shutdown;
use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;
use warp_runtime::{Config, SecretsCache};
use warp_store::Database;
use warp_store::outbox::NoopPublisher;
use warp_sync::capture;
use warp_sync::portals::run_portal_loops;
use warp_sync::queue::{SqsPublisher, run_sqs_loop};
use warp_sync::relay::relay_once;

/// How soon the outbox loop looks again after it found nothing to push.
const OUTBOX_POLL_INTERVAL: Duration = Duration::from_millis(500);
/// The relay re-sends rows unpublished for this long (the API publishes right after commit).
const RELAY_AFTER: Duration = Duration::from_secs(30);
const RELAY_BATCH: usize = 500;
const RELAY_INTERVAL: Duration = Duration::from_secs(5);
/// How soon change capture looks again for writes made outside WARP.
const CAPTURE_INTERVAL: Duration = Duration::from_millis(500);

pub async fn run(config: Config) -> anyhow::Result<()> {
    let secrets = SecretsCache::for_config(&config).await;
    // Connects without migrating, like the sync-worker function: `warp dev` or `warp migrate`
    // own the schema.
    let database = warp_sync::wiring::database(&config, &secrets)
        .await
        .context("connecting to the database")?;
    let hubspot = crate::hubspot::client(&config, &secrets, &database).await?;
    let shutdown = Shutdown::new();
    start_outbound(&config, &secrets, &database, &hubspot, &shutdown).await?;
    println!(
        "WARP outbound worker (pid {}, lease {} s)",
        std::process::id(),
        config.outbound.lease.as_secs()
    );
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    shutdown.trigger();
    Ok(())
}

/// The outbound worker as local loops: over SQS when `SQS_QUEUE_URL` names a queue (moto's, say),
/// with the relay re-sending what was never published; otherwise straight over the outbox.
pub async fn start_outbound(
    config: &Config,
    secrets: &SecretsCache,
    database: &Database,
    hubspot: &warp_hubspot::HubSpotClient,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    let worker = Arc::new(
        warp_sync::wiring::portal_workers(config, secrets, database.clone(), hubspot.clone())
            .await?,
    );
    let portal_id = config.hubspot.portal_id;
    if config.sqs_queue_url.is_none() {
        // One loop per portal: none waits for another's pass.
        tokio::spawn(run_portal_loops(
            worker,
            OUTBOX_POLL_INTERVAL,
            shutdown.signalled(),
        ));
        // The portal loops poll the outbox: captured changes need no publishing.
        let (database, stop) = (database.clone(), shutdown.signalled());
        tokio::spawn(async move {
            capture::follow(&database, portal_id, &NoopPublisher, CAPTURE_INTERVAL, stop).await
        });
        return Ok(());
    }
    let (client, queue_url) = warp_sync::wiring::sqs_queue(config).await?;
    let publisher =
        SqsPublisher::new(client.clone(), queue_url.clone()).marking_published_in(database.clone());
    let (capture_database, capture_publisher, stop) =
        (database.clone(), publisher.clone(), shutdown.signalled());
    tokio::spawn(async move {
        capture::follow(
            &capture_database,
            portal_id,
            &capture_publisher,
            CAPTURE_INTERVAL,
            stop,
        )
        .await
    });
    let stop = shutdown.signalled();
    tokio::spawn(async move { run_sqs_loop(client, queue_url, worker.as_ref(), stop).await });
    let (database, stop) = (database.clone(), shutdown.signalled());
    tokio::spawn(async move {
        tokio::pin!(stop);
        loop {
            if let Err(error) = relay_once(&database, &publisher, RELAY_AFTER, RELAY_BATCH).await {
                tracing::warn!(%error, "relay pass failed");
            }
            tokio::select! {
                _ = &mut stop => break,
                _ = tokio::time::sleep(RELAY_INTERVAL) => {}
            }
        }
    });
    Ok(())
}
