//! The transactional outbox (`hubspot_sync_queue`): one row per customer write, inserted in the
//! write's own transaction so both commit or neither does (DESIGN guarantee 1).

use crate::StoreError;
use std::future::Future;
use std::pin::Pin;
use tokio_postgres::types::Type;
use uuid::Uuid;

/// What happened to the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxOperation {
    Create,
    Update,
    Delete,
}

impl OutboxOperation {
    pub fn as_str(&self) -> &'static str {
        match self {
            OutboxOperation::Create => "CREATE",
            OutboxOperation::Update => "UPDATE",
            OutboxOperation::Delete => "DELETE",
        }
    }
}

/// Inserts a PENDING outbound row inside the caller's transaction; returns its id.
pub(crate) async fn enqueue(
    transaction: &tokio_postgres::Transaction<'_>,
    portal_id: i64,
    customer_id: Uuid,
    operation: OutboxOperation,
    customer_version: i64,
) -> Result<i64, StoreError> {
    let operation = operation.as_str();
    let row = transaction
        .query_typed_one(
            "INSERT INTO hubspot_sync_queue (portal_id, customer_id, operation, direction, status, customer_version) \
             VALUES ($1, $2, $3, 'OUTBOUND', 'PENDING', $4) RETURNING id",
            &[
                (&portal_id, Type::INT8),
                (&customer_id, Type::UUID),
                (&operation, Type::TEXT),
                (&customer_version, Type::INT8),
            ],
        )
        .await?;
    Ok(row.try_get(0)?)
}

/// Records that these outbox ids were handed to the queue (the relay skips them).
pub async fn mark_published(database: &crate::Database, ids: &[i64]) -> Result<u64, StoreError> {
    let client = database.client().await?;
    let ids = ids.to_vec();
    Ok(client
        .execute_typed(
            "UPDATE hubspot_sync_queue SET published_at = now(), updated_at = now() WHERE id = ANY($1) AND published_at IS NULL",
            &[(&ids, Type::INT8_ARRAY)],
        )
        .await?)
}

/// Hands an outbox id to the queue after its transaction committed. Best effort: the
/// reconciler's relay re-publishes what was never sent, so a failure here only delays the sync.
pub trait OutboxPublisher: Send + Sync + 'static {
    fn publish(&self, outbox_id: i64) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// Publishes nothing (the relay picks the rows up); the default until SQS is wired in.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopPublisher;

impl OutboxPublisher for NoopPublisher {
    fn publish(&self, _outbox_id: i64) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async {})
    }
}
