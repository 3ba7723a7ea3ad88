//! `hubspot_webhook_events`: every query of the table, for the receiver (storing a delivery),
//! the inbound processor (claiming and marking events, the lifecycle questions it asks of the
//! events already processed) and the reconciler (storing its synthetic events).
//!
//! Storing a delivery's events once each (status RECEIVED), keyed on
//! the table's full UNIQUE key (portal, eventId, type, object, occurredAt, property): eventId
//! alone is not unique. One statement per delivery (arrays through `unnest`), so the answer
//! stays fast, and `query_typed` (an unnamed statement) so nothing pins an RDS Proxy connection.
//!
//! An event holding a NUL character (U+0000), which PostgreSQL stores neither in `text` nor in
//! `jsonb`, would fail the statement and lose the whole delivery, at every redelivery. Such an
//! event is stored all the same, with U+FFFD in place of each NUL (`warp_domain::storable`),
//! and marked FAILED at once with the reason (which member held the NUL, never the value): it
//! is not the event HubSpot sent, so it must not be applied. The delivery's other events are
//! stored RECEIVED as usual.

use std::borrow::Cow;

use serde_json::Value;
use tokio_postgres::GenericClient;
use tokio_postgres::types::Type;
use warp_domain::storable::{into_storable, json_has_nul, nul_reason, storable, storable_json};
use warp_domain::sync::{ObjectType, WebhookEvent, event_retry};

use crate::{Database, DatabaseError};

/// What storing a delivery did. `stored + duplicates` is the number of events received; an
/// event repeated within the delivery, or already stored by an earlier one, is a duplicate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreOutcome {
    pub stored: u64,
    pub duplicates: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreEventsError {
    #[error(transparent)]
    Database(#[from] DatabaseError),
    /// Displayed by SQLSTATE and names only: the server's message could quote a value.
    #[error("storing webhook events failed: {}", crate::error::describe_postgres_error(.0))]
    Postgres(#[from] tokio_postgres::Error),
}

impl StoreEventsError {
    /// True when the database cannot be reached right now (answer 503: HubSpot retries).
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreEventsError::Database(error) => error.is_unavailable(),
            StoreEventsError::Postgres(error) => error.is_closed() || error.as_db_error().is_none(),
        }
    }
}

const INSERT_EVENTS: &str = "\
INSERT INTO hubspot_webhook_events
    (portal_id, event_id, subscription_type, object_id, occurred_at_ms, property_name,
     change_source, attempt_number, raw, status, error, processed_at, received_via)
SELECT p, e, t, o, a, n, c, m, r, s, x, CASE WHEN s = 'RECEIVED' THEN NULL ELSE now() END, $12
  FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[],
              $6::text[], $7::text[], $8::integer[], $9::jsonb[], $10::text[], $11::text[])
       AS u(p, e, t, o, a, n, c, m, r, s, x)
 WHERE $12 = 'push'
    -- A journal event has no push eventId: the same change (object, type, property, time)
    -- stored already, pushed or read before, is the same event.
    OR NOT EXISTS (SELECT 1 FROM hubspot_webhook_events w
                    WHERE w.portal_id = u.p AND w.object_id = u.o AND w.occurred_at_ms = u.a
                      AND w.subscription_type = u.t AND w.property_name = u.n)
ON CONFLICT (portal_id, event_id, subscription_type, object_id, occurred_at_ms, property_name)
    DO NOTHING
RETURNING id";

/// How events reached WARP (the `received_via` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceivedVia {
    /// A signed delivery HubSpot posted.
    Push,
    /// Read from HubSpot's Webhooks Journal by the backstop poller.
    Journal,
}

impl ReceivedVia {
    pub fn as_str(self) -> &'static str {
        match self {
            ReceivedVia::Push => "push",
            ReceivedVia::Journal => "journal",
        }
    }
}

/// Inserts every event of a push delivery not stored yet; see [`store_events_via`].
pub async fn store_events(
    database: &Database,
    events: &[(WebhookEvent, Value)],
) -> Result<StoreOutcome, StoreEventsError> {
    store_events_via(database, events, ReceivedVia::Push).await
}

/// Inserts every event not stored yet, with its raw JSON as received (but for NULs, see the
/// module doc), in one statement. An event already stored, however it came, is a duplicate.
pub async fn store_events_via(
    database: &Database,
    events: &[(WebhookEvent, Value)],
    via: ReceivedVia,
) -> Result<StoreOutcome, StoreEventsError> {
    if events.is_empty() {
        return Ok(StoreOutcome::default());
    }
    let mut portal_ids = Vec::with_capacity(events.len());
    let mut event_ids = Vec::with_capacity(events.len());
    let mut subscription_types = Vec::with_capacity(events.len());
    let mut object_ids = Vec::with_capacity(events.len());
    let mut occurred_at_ms = Vec::with_capacity(events.len());
    let mut property_names = Vec::with_capacity(events.len());
    let mut change_sources = Vec::with_capacity(events.len());
    let mut attempt_numbers = Vec::with_capacity(events.len());
    let mut raws = Vec::with_capacity(events.len());
    let mut statuses = Vec::with_capacity(events.len());
    let mut errors = Vec::with_capacity(events.len());
    let mut refused = 0;
    for (event, raw) in events {
        let key = event.dedupe_key();
        portal_ids.push(key.portal_id);
        event_ids.push(key.event_id);
        subscription_types.push(into_storable(key.subscription_type));
        object_ids.push(key.object_id);
        occurred_at_ms.push(key.occurred_at_ms);
        property_names.push(into_storable(key.property_name));
        change_sources.push(event.change_source.as_deref().map(storable));
        attempt_numbers.push(event.attempt_number);
        if json_has_nul(raw) {
            let mut replaced = raw.clone();
            let holding_nul = storable_json(&mut replaced);
            refused += 1;
            statuses.push("FAILED");
            errors.push(Some(nul_reason(&holding_nul.join(", "))));
            raws.push(Cow::Owned(replaced));
        } else {
            statuses.push("RECEIVED");
            errors.push(None);
            raws.push(Cow::Borrowed(raw));
        }
    }
    if refused > 0 {
        tracing::warn!(
            refused,
            reason = "a NUL character (U+0000)",
            "webhook events stored as FAILED: they cannot be stored as received"
        );
    }
    let raws: Vec<&Value> = raws.iter().map(Cow::as_ref).collect();
    let client = database.client().await?;
    let inserted = client
        .query_typed(
            INSERT_EVENTS,
            &[
                (&portal_ids, Type::INT8_ARRAY),
                (&event_ids, Type::INT8_ARRAY),
                (&subscription_types, Type::TEXT_ARRAY),
                (&object_ids, Type::INT8_ARRAY),
                (&occurred_at_ms, Type::INT8_ARRAY),
                (&property_names, Type::TEXT_ARRAY),
                (&change_sources, Type::TEXT_ARRAY),
                (&attempt_numbers, Type::INT4_ARRAY),
                (&raws, Type::JSONB_ARRAY),
                (&statuses, Type::TEXT_ARRAY),
                (&errors, Type::TEXT_ARRAY),
                (&via.as_str(), Type::TEXT),
            ],
        )
        .await?;
    let stored = inserted.len() as u64;
    Ok(StoreOutcome {
        stored,
        duplicates: (events.len() as u64).saturating_sub(stored),
    })
}

/// Claims up to `limit` events for the transaction (`SKIP LOCKED`: two processors never claim
/// the same event): failed events whose retry is due first, then RECEIVED ones, oldest first;
/// returns (row id, raw JSON).
pub async fn claim(
    client: &impl GenericClient,
    limit: i64,
) -> Result<Vec<(i64, Value)>, tokio_postgres::Error> {
    let mut claimed: Vec<(i64, Value)> = client
        .query_typed(
            "SELECT id, raw FROM hubspot_webhook_events \
             WHERE status = 'FAILED' AND next_attempt_at IS NOT NULL AND next_attempt_at <= now() \
             ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED",
            &[(&limit, Type::INT8)],
        )
        .await?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<_, tokio_postgres::Error>>()?;
    let left = limit - claimed.len() as i64;
    if left > 0 {
        let received = client
            .query_typed(
                "SELECT id, raw FROM hubspot_webhook_events WHERE status = 'RECEIVED' \
                 ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                &[(&left, Type::INT8)],
            )
            .await?;
        for row in &received {
            claimed.push((row.try_get(0)?, row.try_get(1)?));
        }
    }
    Ok(claimed)
}

/// Ends claimed events: each id with its status and note, in one statement. A FAILED one
/// marked `retryable` counts a failed attempt and is due again after
/// [`event_retry::delay_after`] (never by itself after the last); one that is not (a HubSpot
/// value WARP refused) is never retried, and its attempts go back to 0 (a refusal is not a
/// processing failure: neither retried by hand nor alarmed on). Returns how many failed their last attempt now.
pub async fn mark(
    client: &impl GenericClient,
    ids: &[i64],
    statuses: &[&str],
    notes: &[Option<String>],
    retryable: &[bool],
) -> Result<u64, tokio_postgres::Error> {
    if ids.is_empty() {
        return Ok(0);
    }
    let first_delay = event_retry::FIRST_DELAY.as_secs_f64();
    let factor = f64::from(event_retry::FACTOR);
    let rows = client
        .query_typed(
            "UPDATE hubspot_webhook_events e SET status = u.status, processed_at = now(), \
               error = u.note, \
               attempts = CASE WHEN u.status = 'FAILED' AND NOT u.retry THEN 0 \
                               ELSE e.attempts + (u.status = 'FAILED')::int END, \
               next_attempt_at = CASE WHEN u.status = 'FAILED' AND u.retry AND e.attempts + 1 < $5 \
                 THEN now() + make_interval(secs => $6 * power($7, e.attempts)) END \
             FROM unnest($1::int8[], $2::text[], $3::text[], $4::bool[]) AS u(id, status, note, retry) \
             WHERE e.id = u.id \
             RETURNING e.status = 'FAILED' AND e.next_attempt_at IS NULL AND e.attempts >= $5",
            &[
                (&ids, Type::INT8_ARRAY),
                (&statuses, Type::TEXT_ARRAY),
                (&notes, Type::TEXT_ARRAY),
                (&retryable, Type::BOOL_ARRAY),
                (&event_retry::MAX_ATTEMPTS, Type::INT4),
                (&first_delay, Type::FLOAT8),
                (&factor, Type::FLOAT8),
            ],
        )
        .await?;
    let mut for_good = 0;
    for row in &rows {
        if row.try_get::<_, bool>(0)? {
            for_good += 1;
        }
    }
    Ok(for_good)
}

/// Events that failed their last attempt and wait for a person (no retry due by itself): what
/// the alarm watches. Refused values and events stored failed on receipt are not counted.
pub async fn failed_for_good(client: &impl GenericClient) -> Result<i64, tokio_postgres::Error> {
    client
        .query_typed_one(
            "SELECT count(*) FROM hubspot_webhook_events \
             WHERE status = 'FAILED' AND next_attempt_at IS NULL AND attempts >= $1",
            &[(&event_retry::MAX_ATTEMPTS, Type::INT4)],
        )
        .await?
        .try_get(0)
}

/// One stored event, as the operations API lists it (no property value: it may be personal).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub id: i64,
    pub portal_id: i64,
    pub event_id: i64,
    pub subscription_type: String,
    pub object_id: i64,
    pub property_name: Option<String>,
    pub change_source: Option<String>,
    pub occurred_at_ms: i64,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<chrono::DateTime<chrono::Utc>>,
    pub error: Option<String>,
    pub received_at: chrono::DateTime<chrono::Utc>,
    pub processed_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Events newest first, by status and portal when given, with ids below `before`.
pub async fn list(
    database: &Database,
    status: Option<&str>,
    portal_id: Option<i64>,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<StoredEvent>, crate::StoreError> {
    let client = database.client().await?;
    let limit = i64::from(limit.clamp(1, 100));
    client
        .query_typed(
            "SELECT id, portal_id, event_id, subscription_type, object_id, property_name, \
               change_source, occurred_at_ms, status, attempts, next_attempt_at, error, \
               received_at, processed_at \
             FROM hubspot_webhook_events \
             WHERE ($1::text IS NULL OR status = $1) AND ($2::int8 IS NULL OR portal_id = $2) \
               AND ($3::int8 IS NULL OR id < $3) \
             ORDER BY id DESC LIMIT $4",
            &[
                (&status, Type::TEXT),
                (&portal_id, Type::INT8),
                (&before, Type::INT8),
                (&limit, Type::INT8),
            ],
        )
        .await?
        .iter()
        .map(|row| {
            let property: String = row.try_get(5)?;
            Ok(StoredEvent {
                id: row.try_get(0)?,
                portal_id: row.try_get(1)?,
                event_id: row.try_get(2)?,
                subscription_type: row.try_get(3)?,
                object_id: row.try_get(4)?,
                property_name: (!property.is_empty()).then_some(property),
                change_source: row.try_get(6)?,
                occurred_at_ms: row.try_get(7)?,
                status: row.try_get(8)?,
                attempts: row.try_get(9)?,
                next_attempt_at: row.try_get(10)?,
                error: row.try_get(11)?,
                received_at: row.try_get(12)?,
                processed_at: row.try_get(13)?,
            })
        })
        .collect()
}

/// Ends failed events a person gives up on: SKIPPED, with who dismissed them before the
/// reason they failed (the alarm stops counting them). Returns the ids dismissed.
pub async fn dismiss(
    database: &Database,
    ids: &[i64],
    by: &str,
) -> Result<Vec<i64>, crate::StoreError> {
    let client = database.client().await?;
    let note = format!("dismissed by {by}");
    client
        .query_typed(
            "UPDATE hubspot_webhook_events SET status = 'SKIPPED', next_attempt_at = NULL, \
               processed_at = now(), error = $2 || coalesce(': ' || error, '') \
             WHERE status = 'FAILED' AND id = ANY($1) RETURNING id",
            &[(&ids, Type::INT8_ARRAY), (&storable(&note), Type::TEXT)],
        )
        .await?
        .iter()
        .map(|row| Ok(row.try_get(0)?))
        .collect()
}

/// What a retry asks for: these failed events, or every failed one (of a portal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetrySelection {
    Ids(Vec<i64>),
    All { portal_id: Option<i64> },
}

/// Makes failed events due again now (RECEIVED; their attempts keep counting, so one that
/// fails again waits for a person). Events that never failed an attempt are not retried: those
/// stored FAILED on receipt (a NUL character: not what HubSpot sent) and HubSpot values WARP
/// refused (pushed back, or left for a person to correct in HubSpot). Returns the ids made due.
pub async fn retry(
    database: &Database,
    selection: &RetrySelection,
) -> Result<Vec<i64>, crate::StoreError> {
    let client = database.client().await?;
    let (ids, all, portal_id) = match selection {
        RetrySelection::Ids(ids) => (Some(ids.clone()), false, None),
        RetrySelection::All { portal_id } => (None, true, *portal_id),
    };
    client
        .query_typed(
            "UPDATE hubspot_webhook_events SET status = 'RECEIVED', next_attempt_at = NULL, \
               processed_at = NULL \
             WHERE status = 'FAILED' AND attempts > 0 \
               AND (($1::int8[] IS NOT NULL AND id = ANY($1)) \
                    OR ($2 AND ($3::int8 IS NULL OR portal_id = $3))) \
             RETURNING id",
            &[
                (&ids, Type::INT8_ARRAY),
                (&all, Type::BOOL),
                (&portal_id, Type::INT8),
            ],
        )
        .await?
        .iter()
        .map(|row| Ok(row.try_get(0)?))
        .collect()
}

/// Whether a deletion or restore of this record, newer than `occurred_at_ms`, was already
/// processed (a lifecycle event older than it is then out of date).
pub async fn newer_lifecycle_processed(
    client: &impl GenericClient,
    portal_id: i64,
    object_type: ObjectType,
    object_id: i64,
    occurred_at_ms: i64,
) -> Result<bool, tokio_postgres::Error> {
    let object = object_type.event_object();
    let lifecycle = [format!("{object}.deletion"), format!("{object}.restore")];
    client
        .query_typed_one(
            "SELECT EXISTS (SELECT 1 FROM hubspot_webhook_events WHERE portal_id = $1 \
             AND object_id = $2 AND status = 'PROCESSED' AND occurred_at_ms > $3 \
             AND subscription_type = ANY($4))",
            &[
                (&portal_id, Type::INT8),
                (&object_id, Type::INT8),
                (&occurred_at_ms, Type::INT8),
                (&lifecycle.as_slice(), Type::TEXT_ARRAY),
            ],
        )
        .await?
        .try_get(0)
}

/// Whether a stored merge event of `object_type` names this record as merged into another.
pub async fn merged_away(
    client: &impl GenericClient,
    portal_id: i64,
    object_type: ObjectType,
    object_id: i64,
) -> Result<bool, tokio_postgres::Error> {
    let merge = format!("{}.merge", object_type.event_object());
    client
        .query_typed_one(
            "SELECT EXISTS (SELECT 1 FROM hubspot_webhook_events WHERE portal_id = $1 \
             AND subscription_type = $3 \
             AND raw->'mergedObjectIds' @> jsonb_build_array($2::bigint) \
             AND object_id <> $2)",
            &[
                (&portal_id, Type::INT8),
                (&object_id, Type::INT8),
                (&merge, Type::TEXT),
            ],
        )
        .await?
        .try_get(0)
}
