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
use warp_domain::sync::{ObjectType, WebhookEvent};

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
     change_source, attempt_number, raw, status, error, processed_at)
SELECT p, e, t, o, a, n, c, m, r, s, x, CASE WHEN s = 'RECEIVED' THEN NULL ELSE now() END
  FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[],
              $6::text[], $7::text[], $8::integer[], $9::jsonb[], $10::text[], $11::text[])
       AS u(p, e, t, o, a, n, c, m, r, s, x)
ON CONFLICT (portal_id, event_id, subscription_type, object_id, occurred_at_ms, property_name)
    DO NOTHING
RETURNING id";

/// Inserts every event not stored yet, with its raw JSON as received (but for NULs, see the
/// module doc), in one statement.
pub async fn store_events(
    database: &Database,
    events: &[(WebhookEvent, Value)],
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
            ],
        )
        .await?;
    let stored = inserted.len() as u64;
    Ok(StoreOutcome {
        stored,
        duplicates: (events.len() as u64).saturating_sub(stored),
    })
}

/// Claims up to `limit` RECEIVED events, oldest first, for the transaction (`SKIP LOCKED`: two
/// processors never claim the same event); returns (row id, raw JSON).
pub async fn claim(
    client: &impl GenericClient,
    limit: i64,
) -> Result<Vec<(i64, Value)>, tokio_postgres::Error> {
    client
        .query_typed(
            "SELECT id, raw FROM hubspot_webhook_events WHERE status = 'RECEIVED' \
             ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
            &[(&limit, Type::INT8)],
        )
        .await?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}

/// Ends claimed events: each id with its status and note, in one statement.
pub async fn mark(
    client: &impl GenericClient,
    ids: &[i64],
    statuses: &[&str],
    notes: &[Option<String>],
) -> Result<(), tokio_postgres::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    client
        .execute_typed(
            "UPDATE hubspot_webhook_events e SET status = u.status, processed_at = now(), \
             error = u.note FROM unnest($1::int8[], $2::text[], $3::text[]) AS u(id, status, note) \
             WHERE e.id = u.id",
            &[
                (&ids, Type::INT8_ARRAY),
                (&statuses, Type::TEXT_ARRAY),
                (&notes, Type::TEXT_ARRAY),
            ],
        )
        .await?;
    Ok(())
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
