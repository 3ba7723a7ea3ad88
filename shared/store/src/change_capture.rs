//! Change capture, the store's side: what the V22 triggers recorded of writes that bypassed
//! WARP (billing updating a balance in SQL) becomes what a WARP write would have queued in its
//! own transaction: WARP's side of the field state and an outbox row per record.

use crate::field_state::{self, Side};
use crate::outbox::{self, OutboxOperation};
use crate::{Database, StoreError, customers, users};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use tokio_postgres::types::Type;
use uuid::Uuid;
use warp_domain::sync::{FieldValues, ObjectType, customer_field_values, user_field_values};

/// One record's captured changes since the last pass, coalesced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Change {
    operation: OutboxOperation,
    /// When the last of them was captured: WARP's change time for LATEST_WINS.
    at: DateTime<Utc>,
}

/// Queues up to `limit` captured changes (oldest first) for `portal_id`, the home portal that
/// WARP's own writes queue for; returns the new outbox ids, to publish. The captured rows are
/// deleted in the transaction that queues them, so a change is queued exactly once, however
/// many passes run at the same time (each skips rows another has locked). Several changes of
/// one record become one outbox row, as the worker would coalesce them anyway.
pub async fn queue_captured(
    database: &Database,
    portal_id: i64,
    limit: usize,
) -> Result<Vec<i64>, StoreError> {
    let mut client = database.client().await?;
    let transaction = client.transaction().await?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = transaction
        .query_typed(
            "DELETE FROM captured_changes WHERE id IN \
               (SELECT id FROM captured_changes ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) \
             RETURNING object_type, local_id, operation, captured_at",
            &[(&limit, Type::INT8)],
        )
        .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut changes: BTreeMap<(&'static str, Uuid), Change> = BTreeMap::new();
    for row in &rows {
        let object_type: String = row.try_get(0)?;
        let object_type: ObjectType = object_type
            .parse()
            .map_err(|_| StoreError::Other(format!("unexpected object_type {object_type:?}")))?;
        let operation: String = row.try_get(2)?;
        let operation = OutboxOperation::parse(&operation)
            .ok_or_else(|| StoreError::Other(format!("unexpected operation {operation:?}")))?;
        let change = Change {
            operation,
            at: row.try_get(3)?,
        };
        changes
            .entry((object_type.as_str(), row.try_get(1)?))
            .and_modify(|seen| *seen = coalesce(*seen, change))
            .or_insert(change);
    }
    let mut queued = Vec::new();
    for object_type in ObjectType::ALL {
        let of_type: Vec<(Uuid, Change)> = changes
            .iter()
            .filter(|((kind, _), _)| *kind == object_type.as_str())
            .map(|((_, id), change)| (*id, *change))
            .collect();
        if of_type.is_empty() {
            continue;
        }
        let ids: Vec<Uuid> = of_type.iter().map(|(id, _)| *id).collect();
        let versions = new_versions(&transaction, object_type, &ids).await?;
        let values = current_values(&transaction, object_type, &ids).await?;
        queued.extend(
            queue(
                &transaction,
                portal_id,
                object_type,
                &of_type,
                &versions,
                &values,
            )
            .await?,
        );
    }
    transaction.commit().await?;
    Ok(queued)
}

/// What a record's two changes amount to: a record created, then changed, is still new; one
/// deleted stays deleted; the later capture time counts.
fn coalesce(earlier: Change, later: Change) -> Change {
    let rank = |operation| match operation {
        OutboxOperation::Delete => 2,
        OutboxOperation::Create => 1,
        _ => 0,
    };
    Change {
        operation: if rank(later.operation) >= rank(earlier.operation) {
            later.operation
        } else {
            earlier.operation
        },
        at: earlier.at.max(later.at),
    }
}

/// A write made outside WARP is a new version of the record, as a WARP write would be: the
/// outbox row carries it, so the worker cannot take the row for one it already pushed (it
/// marks done the rows up to the version it pushed), and a client's old If-Match no longer
/// matches. Rows locked in id order, as every writer locks them; gone rows are absent.
async fn new_versions(
    transaction: &tokio_postgres::Transaction<'_>,
    object_type: ObjectType,
    ids: &[Uuid],
) -> Result<BTreeMap<Uuid, i64>, StoreError> {
    let table = outbox::local_table(object_type);
    let ids = ids.to_vec();
    transaction
        .query_typed(
            &format!("SELECT id FROM {table} WHERE id = ANY($1) ORDER BY id FOR UPDATE"),
            &[(&ids, Type::UUID_ARRAY)],
        )
        .await?;
    transaction
        .query_typed(
            &format!(
                "UPDATE {table} SET version = version + 1, updated_at = now() WHERE id = ANY($1) RETURNING id, version"
            ),
            &[(&ids, Type::UUID_ARRAY)],
        )
        .await?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}

/// The records' current field values, as their pushes will read them. A row another writer
/// left with a value WARP cannot read (a malformed email set in SQL) has none: its outbox row
/// is still queued, and its push fails visibly, alone, instead of this pass failing for every
/// change behind it.
async fn current_values(
    transaction: &tokio_postgres::Transaction<'_>,
    object_type: ObjectType,
    ids: &[Uuid],
) -> Result<BTreeMap<Uuid, FieldValues>, StoreError> {
    // `Other` is a stored row that does not parse; anything else is the database's fault.
    match values_of(transaction, object_type, ids).await {
        Err(StoreError::Other(_)) => {
            let mut values = BTreeMap::new();
            for id in ids {
                match values_of(transaction, object_type, std::slice::from_ref(id)).await {
                    Ok(one) => values.extend(one),
                    Err(StoreError::Other(error)) => {
                        tracing::warn!(object_type = object_type.as_str(),
                        local_id = %id, %error, "a row changed outside WARP holds a value WARP cannot read")
                    }
                    Err(error) => return Err(error),
                }
            }
            Ok(values)
        }
        other => other,
    }
}

async fn values_of(
    transaction: &tokio_postgres::Transaction<'_>,
    object_type: ObjectType,
    ids: &[Uuid],
) -> Result<BTreeMap<Uuid, FieldValues>, StoreError> {
    Ok(match object_type {
        ObjectType::Companies => customers::load(transaction, ids)
            .await?
            .into_iter()
            .map(|(id, customer)| (id, customer_field_values(&customer)))
            .collect(),
        ObjectType::Contacts => users::load_for_sync(transaction, ids)
            .await?
            .into_iter()
            .map(|(id, row)| (id, user_field_values(&row.user)))
            .collect(),
    })
}

async fn queue(
    transaction: &tokio_postgres::Transaction<'_>,
    portal_id: i64,
    object_type: ObjectType,
    changes: &[(Uuid, Change)],
    versions: &BTreeMap<Uuid, i64>,
    values: &BTreeMap<Uuid, FieldValues>,
) -> Result<Vec<i64>, StoreError> {
    let present: Vec<(Uuid, Change, i64)> = changes
        .iter()
        .filter_map(|(id, change)| {
            let version = versions.get(id);
            if version.is_none() {
                // Rows are never deleted by WARP (closed or disabled instead); a row deleted
                // in SQL has nothing left to push.
                tracing::warn!(object_type = object_type.as_str(), local_id = %id,
                    "a captured change's row is gone; nothing to push");
            }
            version.map(|version| (*id, *change, *version))
        })
        .collect();
    let field_values: Vec<(Uuid, &FieldValues, DateTime<Utc>)> = present
        .iter()
        .filter_map(|(id, change, _)| values.get(id).map(|values| (*id, values, change.at)))
        .collect();
    field_state::record_many(
        transaction,
        portal_id,
        object_type,
        Side::Warp,
        &field_values,
    )
    .await?;
    let mut queued = Vec::with_capacity(present.len());
    for operation in [
        OutboxOperation::Create,
        OutboxOperation::Update,
        OutboxOperation::Delete,
    ] {
        let records: Vec<(Uuid, i64)> = present
            .iter()
            .filter(|(_, change, _)| change.operation == operation)
            .map(|(id, _, version)| (*id, *version))
            .collect();
        let ids =
            outbox::enqueue_many(transaction, portal_id, object_type, operation, &records).await?;
        queued.extend(ids.into_iter().map(|(_, outbox_id)| outbox_id));
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(operation: OutboxOperation, second: u32) -> Change {
        Change {
            operation,
            at: DateTime::from_timestamp(1_800_000_000 + i64::from(second), 0).unwrap(),
        }
    }

    #[test]
    fn a_created_record_changed_later_is_still_new_and_a_deletion_wins() {
        let created = change(OutboxOperation::Create, 1);
        let updated = change(OutboxOperation::Update, 2);
        let deleted = change(OutboxOperation::Delete, 3);
        assert_eq!(
            coalesce(created, updated),
            Change {
                operation: OutboxOperation::Create,
                at: updated.at
            }
        );
        assert_eq!(coalesce(updated, deleted), deleted);
        let changed_after = change(OutboxOperation::Update, 4);
        assert_eq!(
            coalesce(deleted, changed_after),
            Change {
                operation: OutboxOperation::Delete,
                at: changed_after.at
            }
        );
        assert_eq!(
            coalesce(updated, created).operation,
            OutboxOperation::Create
        );
    }
}
