//! Outbound records that failed, as an operator sees and retries them: FAILED outbox rows with
//! HubSpot's (or our) reason, filtered by object type, portal and words of the reason, and
//! made due again one by one or all matching.

use crate::{Database, StoreError};
use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use uuid::Uuid;
use warp_domain::sync::ObjectType;

/// Largest page of failures.
pub const MAX_FAILURE_LIMIT: u32 = 200;

/// Which failed rows: every filter given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailureFilter {
    pub object_type: Option<ObjectType>,
    pub portal_id: Option<i64>,
    /// Words the reason contains (case-insensitive, `%` and `_` match themselves).
    pub reason: Option<String>,
    /// Failed at or after this instant.
    pub since: Option<DateTime<Utc>>,
}

impl FailureFilter {
    fn reason_pattern(&self) -> Option<String> {
        self.reason
            .as_deref()
            .map(|words| format!("%{}%", crate::escape_like(words)))
    }
}

/// One page of failures, newest id first.
#[derive(Debug, Clone, Default)]
pub struct FailureQuery {
    pub filter: FailureFilter,
    /// Rows with a smaller id than this (the previous page's last).
    pub before: Option<i64>,
    pub limit: u32,
}

/// A FAILED outbound row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRecord {
    pub outbox_id: i64,
    pub portal_id: i64,
    pub object_type: ObjectType,
    pub local_id: Uuid,
    pub operation: String,
    pub attempts: i32,
    pub reason: Option<String>,
    /// When the worker takes it again by itself, if it still will.
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub failed_at: DateTime<Utc>,
}

const MATCHING: &str = "status = 'FAILED' AND direction = 'OUTBOUND' \
     AND ($1::text IS NULL OR object_type = $1) AND ($2::int8 IS NULL OR portal_id = $2) \
     AND ($3::text IS NULL OR last_error ILIKE $3 ESCAPE '\\') \
     AND ($4::timestamptz IS NULL OR updated_at >= $4)";

/// One page of failed outbound rows, newest first, and how many match in all.
pub async fn list(
    database: &Database,
    query: &FailureQuery,
) -> Result<(Vec<FailedRecord>, i64), StoreError> {
    let client = database.client().await?;
    let limit = i64::from(query.limit.clamp(1, MAX_FAILURE_LIMIT));
    let object_type = query.filter.object_type.map(ObjectType::as_str);
    let pattern = query.filter.reason_pattern();
    let page_sql = format!(
        "SELECT id, portal_id, object_type, local_id, operation, attempts, last_error, \
           next_attempt_at, created_at, updated_at \
         FROM hubspot_sync_queue WHERE {MATCHING} AND ($5::int8 IS NULL OR id < $5) \
         ORDER BY id DESC LIMIT $6"
    );
    let total_sql = format!("SELECT count(*) FROM hubspot_sync_queue WHERE {MATCHING}");
    let filters: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 4] = [
        (&object_type, Type::TEXT),
        (&query.filter.portal_id, Type::INT8),
        (&pattern, Type::TEXT),
        (&query.filter.since, Type::TIMESTAMPTZ),
    ];
    let page_params = [
        filters[0].clone(),
        filters[1].clone(),
        filters[2].clone(),
        filters[3].clone(),
        (&query.before, Type::INT8),
        (&limit, Type::INT8),
    ];
    // One connection pipelines both.
    let page = client.query_typed(&page_sql, &page_params);
    let total = client.query_typed(&total_sql, &filters);
    let (page, total) = tokio::try_join!(page, total)?;
    let records = page
        .iter()
        .map(|row| {
            Ok(FailedRecord {
                outbox_id: row.try_get(0)?,
                portal_id: row.try_get(1)?,
                object_type: crate::object_type_column(row.try_get(2)?)?,
                local_id: row.try_get(3)?,
                operation: row.try_get(4)?,
                attempts: row.try_get(5)?,
                reason: row.try_get(6)?,
                next_attempt_at: row.try_get(7)?,
                created_at: row.try_get(8)?,
                failed_at: row.try_get(9)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let total = total
        .first()
        .map(|row| row.try_get(0))
        .transpose()?
        .unwrap_or(0);
    Ok((records, total))
}

/// What an operator retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureSelection {
    /// These outbox rows (ids that are not FAILED outbound rows are left alone).
    Ids(Vec<i64>),
    /// Every FAILED outbound row matching.
    Matching(FailureFilter),
}

/// The operator's retry: the selected FAILED outbound rows become PENDING, due now, with their
/// attempts reset and unpublished (so the relay sends them if the caller does not). Returns the
/// ids requeued, ascending.
pub async fn requeue(
    database: &Database,
    selection: &FailureSelection,
) -> Result<Vec<i64>, StoreError> {
    const REQUEUE: &str = "UPDATE hubspot_sync_queue SET status = 'PENDING', attempts = 0, \
         next_attempt_at = now(), lease_until = NULL, published_at = NULL, updated_at = now()";
    let client = database.client().await?;
    let rows = match selection {
        FailureSelection::Ids(ids) => {
            client
                .query_typed(
                    &format!(
                        "{REQUEUE} WHERE id = ANY($1) AND status = 'FAILED' \
                           AND direction = 'OUTBOUND' RETURNING id"
                    ),
                    &[(ids, Type::INT8_ARRAY)],
                )
                .await?
        }
        FailureSelection::Matching(filter) => {
            client
                .query_typed(
                    &format!("{REQUEUE} WHERE {MATCHING} RETURNING id"),
                    &[
                        (&filter.object_type.map(ObjectType::as_str), Type::TEXT),
                        (&filter.portal_id, Type::INT8),
                        (&filter.reason_pattern(), Type::TEXT),
                        (&filter.since, Type::TIMESTAMPTZ),
                    ],
                )
                .await?
        }
    };
    let mut ids = rows
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<Vec<i64>, _>>()?;
    ids.sort_unstable();
    Ok(ids)
}
