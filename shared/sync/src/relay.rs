//! The outbox relay (run by the reconciler's schedule): re-publishes outbox rows the queue
//! may never have seen, so a failed best-effort publish after a commit only delays a sync.
//!
//! Due rows: still waiting (PENDING and due, FAILED and due with attempts left, or IN_FLIGHT
//! with an expired lease: its worker died) and not published in the last `older_than` (never
//! published rows count from their creation, so the relay does not race the writer's own
//! publish). Publishing twice is harmless: the worker's claim skips rows that are done or
//! leased.

use std::time::Duration;
use warp_store::outbox::{self, OutboxPublisher, RetryPolicy};
use warp_store::{Database, StoreError};

/// Re-publishes up to `limit` due rows, oldest first, and records them as published now.
/// Returns how many were published.
pub async fn relay_once(
    database: &Database,
    publisher: &dyn OutboxPublisher,
    older_than: Duration,
    limit: usize,
) -> Result<usize, StoreError> {
    relay_once_with(
        database,
        publisher,
        older_than,
        limit,
        RetryPolicy::default().max_attempts,
    )
    .await
}

/// [`relay_once`] for a worker whose retry policy allows `max_attempts` attempts.
pub async fn relay_once_with(
    database: &Database,
    publisher: &dyn OutboxPublisher,
    older_than: Duration,
    limit: usize,
    max_attempts: i32,
) -> Result<usize, StoreError> {
    let due = outbox::due_for_relay(database, older_than, limit, max_attempts).await?;
    if due.is_empty() {
        return Ok(0);
    }
    for id in &due {
        publisher.publish(*id).await;
    }
    outbox::mark_republished(database, &due).await?;
    tracing::info!(rows = due.len(), "outbox rows re-published");
    Ok(due.len())
}
