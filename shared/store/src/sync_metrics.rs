//! The sync's figures for CloudWatch (issue 23, metrics), taken by the reconciler's relay job
//! every minute: what happened since the last take (records pushed and failed with their
//! reasons, changes applied, webhook events received, HubSpot 429s, token refreshes), counted
//! from the tables every process writes, per portal and object type, and how things stand
//! now (outbox waiting and its oldest row, webhook apply lag, installations needing a
//! reconnect). Counting from the tables gives one figure per fact whichever process did the
//! work; the marks (`sync_metric_marks`, V19) move in the same transaction as the reading.
//! Counts only, never values; a failure's reason is the error text, classified by the caller.

use std::collections::BTreeMap;

use tokio_postgres::GenericClient;
use tokio_postgres::types::Type;

use crate::{Database, StoreError};

/// One portal's and object type's figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectFigures {
    /// Outbound successes since the last take.
    pub records_pushed: i64,
    /// Outbound failures since the last take that are not retried (a record HubSpot refused);
    /// retryable call failures count only under their reason.
    pub records_failed: i64,
    /// Inbound successes (HubSpot changes applied) since the last take.
    pub changes_applied: i64,
    /// Webhook events stored since the last take.
    pub webhook_events_received: i64,
    /// Outbox rows waiting now (pending, in flight, or failed with attempts left).
    pub outbox_waiting: i64,
    /// How long the oldest of them has waited, in seconds (0 when none waits).
    pub outbox_oldest_wait_seconds: f64,
}

/// What a take found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncFigures {
    /// By (portal, object type name).
    pub by_object: BTreeMap<(i64, String), ObjectFigures>,
    /// Outbound failures since the last take: (portal, object type, error text, how many).
    pub failures: Vec<(i64, String, String, i64)>,
    /// HubSpot 429 answers since the last take, by portal.
    pub rate_limited: BTreeMap<i64, i64>,
    /// Access tokens refreshed since the last take (OAuth installations).
    pub token_refreshes: i64,
    /// Installations that need a person to connect them again.
    pub installations_needing_reconnect: i64,
    /// 95th percentile of the wait from receipt to applied of the webhook events processed in
    /// the last five minutes, in seconds; `None` when none was.
    pub apply_lag_p95_seconds: Option<f64>,
}

/// The counters' sources: (mark name, the statement giving the current high value).
const MARKS: [(&str, &str); 4] = [
    (
        "sync_log",
        "SELECT coalesce(max(id), 0) FROM hubspot_sync_log",
    ),
    (
        "webhook_events",
        "SELECT coalesce(max(id), 0) FROM hubspot_webhook_events",
    ),
    (
        "rate_limit_events",
        "SELECT coalesce(max(id), 0) FROM hubspot_rate_limit_events",
    ),
    (
        "token_refreshes",
        "SELECT coalesce(sum(refresh_count), 0)::bigint FROM hubspot_installations",
    ),
];

/// Takes the figures since the last take. The first take only sets the marks (history is not
/// counted as if it had just happened). Counters lag one take: each counts the rows up to the
/// highest id the previous take saw, because a row's id is taken at insert and a transaction
/// still open then commits below it later (counted here as long as it commits within a take's
/// interval). `max_attempts` is the workers' retry limit: a failed row with attempts left waits.
pub async fn take(database: &Database, max_attempts: i32) -> Result<SyncFigures, StoreError> {
    let mut client = database.client().await?;
    let transaction = client.transaction().await?;
    let tx: &tokio_postgres::Transaction<'_> = &transaction;
    // Overlapping jobs take turns here, so each range is counted by one of them.
    tx.execute("LOCK TABLE sync_metric_marks IN EXCLUSIVE MODE", &[])
        .await?;
    let mut ranges = BTreeMap::new();
    for (name, current) in MARKS {
        let now: i64 = tx.query_one(current, &[]).await?.try_get(0)?;
        let marked = tx
            .query_typed_opt(
                "SELECT last_value, seen_value FROM sync_metric_marks WHERE name = $1",
                &[(&name, Type::TEXT)],
            )
            .await?;
        let (counted_to, seen): (Option<i64>, Option<i64>) = match &marked {
            Some(row) => (Some(row.try_get(0)?), row.try_get(1)?),
            None => (None, None),
        };
        // A sum (token refreshes) is counted at once: it has no late rows.
        let lagged = name != "token_refreshes";
        let high = match (lagged, seen) {
            (true, Some(seen)) => seen.min(now),
            (true, None) => counted_to.unwrap_or(now),
            (false, _) => now,
        };
        tx.execute_typed(
            "INSERT INTO sync_metric_marks (name, last_value, seen_value) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET last_value = excluded.last_value, \
               seen_value = excluded.seen_value, updated_at = now()",
            &[(&name, Type::TEXT), (&high, Type::INT8), (&now, Type::INT8)],
        )
        .await?;
        ranges.insert(name, (counted_to.unwrap_or(high).min(high), high));
    }
    let mut figures = SyncFigures::default();
    let (low, high) = ranges["sync_log"];
    log_counts(tx, low, high, &mut figures).await?;
    let (low, high) = ranges["webhook_events"];
    for row in tx
        .query_typed(
            "SELECT portal_id, object_type, count(*) FROM hubspot_webhook_events \
             WHERE id > $1 AND id <= $2 AND status <> 'UNROUTED' GROUP BY 1, 2",
            &[(&low, Type::INT8), (&high, Type::INT8)],
        )
        .await?
    {
        let key = (row.try_get(0)?, row.try_get(1)?);
        figures
            .by_object
            .entry(key)
            .or_default()
            .webhook_events_received = row.try_get(2)?;
    }
    let (low, high) = ranges["rate_limit_events"];
    for row in tx
        .query_typed(
            "SELECT portal_id, count(*) FROM hubspot_rate_limit_events \
             WHERE id > $1 AND id <= $2 GROUP BY 1",
            &[(&low, Type::INT8), (&high, Type::INT8)],
        )
        .await?
    {
        figures
            .rate_limited
            .insert(row.try_get(0)?, row.try_get(1)?);
    }
    let (low, high) = ranges["token_refreshes"];
    figures.token_refreshes = (high - low).max(0);
    standing(tx, max_attempts, &mut figures).await?;
    transaction.commit().await?;
    Ok(figures)
}

/// The sync log's outcomes in (low, high]: pushed, failed (with their errors), applied.
async fn log_counts(
    client: &impl GenericClient,
    low: i64,
    high: i64,
    figures: &mut SyncFigures,
) -> Result<(), StoreError> {
    let rows = client
        .query_typed(
            "SELECT portal_id, object_type, direction, status, \
               CASE WHEN status = 'FAILED' THEN coalesce(error, '') END, count(*) \
             FROM hubspot_sync_log WHERE id > $1 AND id <= $2 \
               AND status IN ('SUCCESS', 'FAILED') GROUP BY 1, 2, 3, 4, 5",
            &[(&low, Type::INT8), (&high, Type::INT8)],
        )
        .await?;
    for row in rows {
        let portal_id: i64 = row.try_get(0)?;
        let object_type: String = row.try_get(1)?;
        let direction: String = row.try_get(2)?;
        let status: String = row.try_get(3)?;
        let n: i64 = row.try_get(5)?;
        let entry = figures
            .by_object
            .entry((portal_id, object_type.clone()))
            .or_default();
        match (direction.as_str(), status.as_str()) {
            ("OUTBOUND", "SUCCESS") => entry.records_pushed += n,
            ("OUTBOUND", _) => {
                let error: Option<String> = row.try_get(4)?;
                // A whole call's retryable failure (a 429, a 5xx) fails no record for good:
                // its records are tried again. It still counts under its reason.
                if !error.as_deref().is_some_and(|e| e.ends_with("(retryable)")) {
                    entry.records_failed += n;
                }
                figures
                    .failures
                    .push((portal_id, object_type, error.unwrap_or_default(), n));
            }
            (_, "SUCCESS") => entry.changes_applied += n,
            _ => {}
        }
    }
    Ok(())
}

/// How things stand now: the outbox, the apply lag, installations to reconnect.
async fn standing(
    client: &impl GenericClient,
    max_attempts: i32,
    figures: &mut SyncFigures,
) -> Result<(), StoreError> {
    // Waiting: pending, in flight, or failed with attempts left (retrying is waiting too, and
    // what the outbox age alarm is for when HubSpot keeps failing).
    for row in client
        .query_typed(
            "SELECT portal_id, object_type, count(*), \
               extract(epoch FROM now() - min(created_at))::float8 \
             FROM hubspot_sync_queue WHERE direction = 'OUTBOUND' \
               AND (status IN ('PENDING', 'IN_FLIGHT') OR (status = 'FAILED' AND attempts < $1)) \
             GROUP BY 1, 2",
            &[(&max_attempts, Type::INT4)],
        )
        .await?
    {
        let key = (row.try_get(0)?, row.try_get(1)?);
        let entry = figures.by_object.entry(key).or_default();
        entry.outbox_waiting = row.try_get(2)?;
        entry.outbox_oldest_wait_seconds = row.try_get::<_, f64>(3)?.max(0.0);
    }
    // received_at bounds the scan to the last hour (its BRIN index: no index on processed_at
    // slows every apply); processed_at picks the last five minutes. An event applied more than
    // an hour after receipt is left out of the percentile; the outbox and failure alarms and
    // WebhookEventsFailed still see such an outage.
    figures.apply_lag_p95_seconds = client
        .query_typed_one(
            "SELECT percentile_cont(0.95) WITHIN GROUP \
               (ORDER BY extract(epoch FROM processed_at - received_at)::float8) \
             FROM hubspot_webhook_events \
             WHERE received_at > now() - interval '1 hour' \
               AND processed_at > now() - interval '5 minutes'",
            &[],
        )
        .await?
        .try_get(0)?;
    figures.installations_needing_reconnect = client
        .query_typed_one(
            "SELECT count(*) FROM hubspot_installations WHERE status = 'needs_reconnect'",
            &[],
        )
        .await?
        .try_get(0)?;
    Ok(())
}
