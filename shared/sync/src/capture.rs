//! Change capture's runner: queues what the triggers captured of writes that bypassed WARP
//! (see [`warp_store::change_capture`]) and hands the new outbox rows to the queue, as the API
//! does after its commit. `warp dev` runs it in a loop; in Lambda the reconciler's `capture`
//! schedule runs it for most of each minute, so a balance updated in SQL reaches HubSpot within
//! seconds, like an API write.

use std::future::Future;
use std::time::Duration;
use warp_store::outbox::OutboxPublisher;
use warp_store::{Database, StoreError, change_capture};

/// Captured changes queued per pass (one transaction).
pub const CAPTURE_BATCH: usize = 500;

/// One pass: queues up to [`CAPTURE_BATCH`] captured changes for `portal_id` and publishes
/// their outbox rows; returns how many rows it queued.
pub async fn capture_once(
    database: &Database,
    portal_id: i64,
    publisher: &dyn OutboxPublisher,
) -> Result<usize, StoreError> {
    let queued = change_capture::queue_captured(database, portal_id, CAPTURE_BATCH).await?;
    for id in &queued {
        publisher.publish(*id).await;
    }
    if !queued.is_empty() {
        tracing::info!(rows = queued.len(), "changes made outside WARP queued");
    }
    Ok(queued.len())
}

/// Passes until `stop` resolves: again at once while a pass finds a full batch, else after
/// `interval`. A failed pass is logged and retried after `interval` (what it took stays
/// captured: its transaction rolled back). Returns the rows queued.
pub async fn follow(
    database: &Database,
    portal_id: i64,
    publisher: &dyn OutboxPublisher,
    interval: Duration,
    stop: impl Future<Output = ()>,
) -> usize {
    tokio::pin!(stop);
    let mut total = 0;
    loop {
        let full = match capture_once(database, portal_id, publisher).await {
            Ok(queued) => {
                total += queued;
                queued >= CAPTURE_BATCH
            }
            Err(error) => {
                tracing::warn!(%error, "change capture pass failed");
                false
            }
        };
        let pause = if full { Duration::ZERO } else { interval };
        tokio::select! {
            biased;
            _ = &mut stop => return total,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}
