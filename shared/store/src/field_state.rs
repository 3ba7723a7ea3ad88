//! `hubspot_field_state`: per record (portal, object type, WARP id) and mapped field, the value each side holds and when
//! each side last changed it. The outbound diff reads HubSpot's side; the inbound rules and
//! reconciliation read both.
//!
//! WARP's side is written by every customer write, in its transaction, so the time WARP last
//! changed a field is exact. HubSpot's side is written when a push succeeds or an inbound
//! change is applied or observed.

use crate::StoreError;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use tokio_postgres::GenericClient;
use tokio_postgres::types::Type;
use uuid::Uuid;
use warp_domain::storable::storable;
use warp_domain::sync::{FieldState, FieldValues, ObjectType, WarpField};

/// The field states of one customer, by field (fields never recorded are absent).
pub type CustomerFieldStates = BTreeMap<WarpField, FieldState>;

/// Which side of the state a write records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Warp,
    HubSpot,
}

/// Records `values` as `side`'s values of the record `local_id` of `object_type`. A field's change time moves to `at`
/// only when its value actually changed, so re-recording the same value keeps the original
/// change time (LATEST_WINS compares those times).
pub async fn record(
    client: &impl GenericClient,
    portal_id: i64,
    object_type: ObjectType,
    local_id: Uuid,
    side: Side,
    values: &FieldValues,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    record_many(
        client,
        portal_id,
        object_type,
        side,
        &[(local_id, values, at)],
    )
    .await
}

/// [`record`] for many records of `object_type` at once, each `(record, values, at)`: one
/// statement, so a batch call's bookkeeping is not a hundred statements parsed and planned
/// one by one. A record listed twice keeps the last of its values.
pub async fn record_many(
    client: &impl GenericClient,
    portal_id: i64,
    object_type: ObjectType,
    side: Side,
    records: &[(Uuid, &FieldValues, DateTime<Utc>)],
) -> Result<(), StoreError> {
    // ON CONFLICT cannot touch one row twice in a statement: the last write of a field wins.
    let mut latest: BTreeMap<(Uuid, WarpField), (Option<String>, DateTime<Utc>)> = BTreeMap::new();
    for (local_id, values, at) in records {
        for (field, value) in values.iter() {
            let value = value.map(|text| storable(text).into_owned());
            latest.insert((*local_id, field), (value, *at));
        }
    }
    if latest.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::with_capacity(latest.len());
    let mut fields = Vec::with_capacity(latest.len());
    let mut values = Vec::with_capacity(latest.len());
    let mut times = Vec::with_capacity(latest.len());
    for ((local_id, field), (value, at)) in latest {
        ids.push(local_id);
        fields.push(field.as_str().to_owned());
        values.push(value);
        times.push(at);
    }
    let (value_column, time_column) = match side {
        Side::Warp => ("warp_value", "warp_changed_at"),
        Side::HubSpot => ("hubspot_value", "hubspot_changed_at"),
    };
    // For HubSpot's side a NULL value with a time means "known empty", so the time is set even
    // when the first record is empty; for either side an unchanged value keeps its time.
    let sql = format!(
        "INSERT INTO hubspot_field_state AS s (portal_id, object_type, local_id, field, {value_column}, {time_column}) \
         SELECT $1, $2, i, f, v, t FROM unnest($3::uuid[], $4::text[], $5::text[], $6::timestamptz[]) AS x(i, f, v, t) \
         ON CONFLICT (portal_id, object_type, local_id, field) DO UPDATE SET \
           {value_column} = excluded.{value_column}, \
           {time_column} = CASE WHEN s.{value_column} IS DISTINCT FROM excluded.{value_column} \
                                  OR s.{time_column} IS NULL \
                                THEN excluded.{time_column} ELSE s.{time_column} END, \
           updated_at = now()"
    );
    client
        .execute_typed(
            &sql,
            &[
                (&portal_id, Type::INT8),
                (&object_type.as_str(), Type::TEXT),
                (&ids, Type::UUID_ARRAY),
                (&fields, Type::TEXT_ARRAY),
                (&values, Type::TEXT_ARRAY),
                (&times, Type::TIMESTAMPTZ_ARRAY),
            ],
        )
        .await?;
    Ok(())
}

/// Forgets what HubSpot was known to hold for one record (it was unlinked from its HubSpot
/// record); WARP's side and its change times stay.
pub async fn forget_hubspot_side(
    client: &impl GenericClient,
    portal_id: i64,
    object_type: ObjectType,
    local_id: Uuid,
) -> Result<(), StoreError> {
    client
        .execute_typed(
            "UPDATE hubspot_field_state SET hubspot_value = NULL, hubspot_changed_at = NULL, updated_at = now() \
             WHERE portal_id = $1 AND object_type = $2 AND local_id = $3",
            &[
                (&portal_id, Type::INT8),
                (&object_type.as_str(), Type::TEXT),
                (&local_id, Type::UUID),
            ],
        )
        .await?;
    Ok(())
}

/// The recorded field states of these records of `object_type`.
pub async fn load(
    client: &impl GenericClient,
    portal_id: i64,
    object_type: ObjectType,
    local_ids: &[Uuid],
) -> Result<HashMap<Uuid, CustomerFieldStates>, StoreError> {
    let ids = local_ids.to_vec();
    let rows = client
        .query_typed(
            "SELECT local_id, field, warp_value, hubspot_value, warp_changed_at, hubspot_changed_at \
             FROM hubspot_field_state WHERE portal_id = $1 AND object_type = $3 AND local_id = ANY($2)",
            &[
                (&portal_id, Type::INT8),
                (&ids, Type::UUID_ARRAY),
                (&object_type.as_str(), Type::TEXT),
            ],
        )
        .await?;
    let mut states: HashMap<Uuid, CustomerFieldStates> = HashMap::new();
    for row in rows {
        let field: String = row.try_get(1)?;
        // A row for a field this build no longer maps is skipped, not an error.
        let Ok(field) = field.parse::<WarpField>() else {
            continue;
        };
        states.entry(row.try_get(0)?).or_default().insert(
            field,
            FieldState {
                warp_value: row.try_get(2)?,
                hubspot_value: row.try_get(3)?,
                warp_changed_at: row.try_get(4)?,
                hubspot_changed_at: row.try_get(5)?,
            },
        );
    }
    Ok(states)
}

/// HubSpot's known values of one customer, for the outbound diff: only fields whose HubSpot
/// value is known (a value, or no value with a change time).
pub fn hubspot_known_values(states: &CustomerFieldStates) -> FieldValues {
    let mut known = FieldValues::new();
    for (field, state) in states {
        if state.hubspot_value.is_some() || state.hubspot_changed_at.is_some() {
            known.set(*field, state.hubspot_value.as_deref());
        }
    }
    known
}
