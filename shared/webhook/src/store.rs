//! Storing a delivery's events once each in `hubspot_webhook_events` (status RECEIVED), keyed on
//! the table's full UNIQUE key (portal, eventId, type, object, occurredAt, property): eventId
//! alone is not unique. One statement per delivery (arrays through `unnest`), so the answer
//! stays fast, and `query_typed` (an unnamed statement) so nothing pins an RDS Proxy connection.

use serde_json::Value;
use tokio_postgres::types::Type;
use warp_domain::sync::WebhookEvent;
use warp_store::{Database, DatabaseError};

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
    #[error("storing webhook events failed")]
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
     change_source, attempt_number, raw)
SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[],
                     $6::text[], $7::text[], $8::integer[], $9::jsonb[])
ON CONFLICT (portal_id, event_id, subscription_type, object_id, occurred_at_ms, property_name)
    DO NOTHING
RETURNING id";

/// Inserts every event not stored yet, with its raw JSON as received, in one statement.
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
    for (event, raw) in events {
        let key = event.dedupe_key();
        portal_ids.push(key.portal_id);
        event_ids.push(key.event_id);
        subscription_types.push(key.subscription_type);
        object_ids.push(key.object_id);
        occurred_at_ms.push(key.occurred_at_ms);
        property_names.push(key.property_name);
        change_sources.push(event.change_source.as_deref());
        attempt_numbers.push(event.attempt_number);
        raws.push(raw);
    }
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
            ],
        )
        .await?;
    let stored = inserted.len() as u64;
    Ok(StoreOutcome {
        stored,
        duplicates: (events.len() as u64).saturating_sub(stored),
    })
}
