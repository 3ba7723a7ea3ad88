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
        let object_type = ObjectType::ALL
            .into_iter()
            .find(|known| known.as_str() == object_type)
            .ok_or_else(|| StoreError::Other(format!("unexpected object_type {object_type:?}")))?;
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
        let records = current_values(&transaction, object_type, &ids).await?;
        queued.extend(queue(&transaction, portal_id, object_type, &of_type, &records).await?);
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

/// The records' current field values and versions, as their pushes will read them.
async fn current_values(
    transaction: &tokio_postgres::Transaction<'_>,
    object_type: ObjectType,
    ids: &[Uuid],
) -> Result<BTreeMap<Uuid, (FieldValues, i64)>, StoreError> {
    Ok(match object_type {
        ObjectType::Companies => customers::load(transaction, ids)
            .await?
            .into_iter()
            .map(|(id, customer)| (id, (customer_field_values(&customer), customer.version)))
            .collect(),
        ObjectType::Contacts => users::load_for_sync(transaction, ids)
            .await?
            .into_iter()
            .map(|(id, row)| (id, (user_field_values(&row.user), row.user.version)))
            .collect(),
    })
}

async fn queue(
    transaction: &tokio_postgres::Transaction<'_>,
    portal_id: i64,
    object_type: ObjectType,
    changes: &[(Uuid, Change)],
    records: &BTreeMap<Uuid, (FieldValues, i64)>,
) -> Result<Vec<i64>, StoreError> {
    let present: Vec<(Uuid, Change, &FieldValues, i64)> = changes
        .iter()
        .filter_map(|(id, change)| {
            let found = records.get(id);
            if found.is_none() {
                // Rows are never deleted by WARP (closed or disabled instead); a row deleted
                // in SQL has nothing left to push.
                tracing::warn!(object_type = object_type.as_str(), local_id = %id,
                    "a captured change's row is gone; nothing to push");
            }
            found.map(|(values, version)| (*id, *change, values, *version))
        })
        .collect();
    let field_values: Vec<(Uuid, &FieldValues, DateTime<Utc>)> = present
        .iter()
        .map(|(id, change, values, _)| (*id, *values, change.at))
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
            .filter(|(_, change, _, _)| change.operation == operation)
            .map(|(id, _, _, version)| (*id, *version))
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
