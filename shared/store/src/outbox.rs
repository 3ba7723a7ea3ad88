//! The transactional outbox (`hubspot_sync_queue`): one row per customer write, inserted in the
//! write's own transaction so both commit or neither does (DESIGN guarantee 1).

use crate::StoreError;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use tokio_postgres::GenericClient;
use tokio_postgres::types::Type;
use uuid::Uuid;
use warp_domain::storable::storable;
use warp_domain::sync::ObjectType;

/// What an outbox row asks the outbound worker to do (`hubspot_sync_queue.operation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxOperation {
    /// The customer was created, updated or deleted through WARP.
    Create,
    Update,
    Delete,
    /// A (re)linked company, or an operator's request: compare everything and push what differs.
    Resync,
    /// WARP's value must go back over a HubSpot change that was not applied.
    PushBack,
}

impl OutboxOperation {
    const ALL: [OutboxOperation; 5] = [
        OutboxOperation::Create,
        OutboxOperation::Update,
        OutboxOperation::Delete,
        OutboxOperation::Resync,
        OutboxOperation::PushBack,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            OutboxOperation::Create => "CREATE",
            OutboxOperation::Update => "UPDATE",
            OutboxOperation::Delete => "DELETE",
            OutboxOperation::Resync => "RESYNC",
            OutboxOperation::PushBack => "PUSH_BACK",
        }
    }

    /// The operation stored as `text`, if it is one.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.as_str() == text)
    }
}

/// Where an outbox row stands (`hubspot_sync_queue.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxStatus {
    Pending,
    InFlight,
    Done,
    Failed,
}

impl OutboxStatus {
    const ALL: [OutboxStatus; 4] = [
        OutboxStatus::Pending,
        OutboxStatus::InFlight,
        OutboxStatus::Done,
        OutboxStatus::Failed,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            OutboxStatus::Pending => "PENDING",
            OutboxStatus::InFlight => "IN_FLIGHT",
            OutboxStatus::Done => "DONE",
            OutboxStatus::Failed => "FAILED",
        }
    }

    /// The status stored as `text`, if it is one.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }
}

/// The WARP table whose rows an object type's `local_id` names.
pub fn local_table(object_type: ObjectType) -> &'static str {
    match object_type {
        ObjectType::Companies => "customers",
        ObjectType::Contacts => "users",
    }
}

/// A text column that must hold one of an enum's values (the table's CHECK guarantees it;
/// anything else is a schema out of step with the code).
fn parsed<T>(value: String, parse: fn(&str) -> Option<T>, column: &str) -> Result<T, StoreError> {
    parse(&value).ok_or_else(|| StoreError::Other(format!("unexpected {column} {value:?}")))
}

/// Queues a PENDING outbound row inside the caller's transaction (every customer write does,
/// guarantee 1; so do push-backs and resyncs); returns its id. The worker diffs against
/// HubSpot's known values, so it sends only what differs.
pub async fn enqueue(
    client: &impl GenericClient,
    portal_id: i64,
    object_type: ObjectType,
    local_id: Uuid,
    operation: OutboxOperation,
    local_version: i64,
) -> Result<i64, StoreError> {
    enqueue_many(
        client,
        portal_id,
        object_type,
        operation,
        &[(local_id, local_version)],
    )
    .await?
    .pop()
    .map(|(_, id)| id)
    .ok_or(StoreError::NotFound)
}

/// [`enqueue`] for many `(record, version)` pairs of one object type in one statement;
/// returns each record's new outbox id.
pub async fn enqueue_many(
    client: &impl GenericClient,
    portal_id: i64,
    object_type: ObjectType,
    operation: OutboxOperation,
    records: &[(Uuid, i64)],
) -> Result<Vec<(Uuid, i64)>, StoreError> {
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let operation = operation.as_str();
    let ids: Vec<Uuid> = records.iter().map(|(id, _)| *id).collect();
    let versions: Vec<i64> = records.iter().map(|(_, version)| *version).collect();
    client
        .query_typed(
            "INSERT INTO hubspot_sync_queue (portal_id, object_type, local_id, operation, direction, status, local_version) \
             SELECT $1, $5, c, $2, 'OUTBOUND', 'PENDING', v FROM unnest($3::uuid[], $4::int8[]) AS u(c, v) \
             RETURNING local_id, id",
            &[
                (&portal_id, Type::INT8),
                (&operation, Type::TEXT),
                (&ids, Type::UUID_ARRAY),
                (&versions, Type::INT8_ARRAY),
                (&object_type.as_str(), Type::TEXT),
            ],
        )
        .await?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
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

// ----- the worker's side: claiming, finishing, retrying -----

/// One outbox row a worker holds a lease on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedRow {
    pub id: i64,
    pub portal_id: i64,
    pub object_type: ObjectType,
    /// The WARP record (a customer for companies, a user for contacts).
    pub local_id: Uuid,
    pub operation: OutboxOperation,
    /// The record's version the write produced (None for rows written without one).
    pub local_version: Option<i64>,
    /// Attempts including this one.
    pub attempts: i32,
}

/// How failed rows are retried: jittered exponential backoff, then an operator's retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The delay after the first failed attempt (before jitter).
    pub base: std::time::Duration,
    /// No delay is longer than this.
    pub cap: std::time::Duration,
    /// After this many attempts a FAILED row is no longer due: it waits for
    /// [`requeue_failed`].
    pub max_attempts: i32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: std::time::Duration::from_secs(2),
            cap: std::time::Duration::from_secs(15 * 60),
            max_attempts: 10,
        }
    }
}

impl RetryPolicy {
    /// The wait before the next attempt after `attempts` failed ones: `base · 2^(attempts−1)`,
    /// capped, then scaled by `jitter` in 0.5..=1 so retries of many rows spread out.
    pub fn delay(&self, attempts: i32, jitter: f64) -> std::time::Duration {
        let exponent = attempts.saturating_sub(1).clamp(0, 30) as u32;
        let full = self
            .base
            .checked_mul(1u32 << exponent)
            .unwrap_or(self.cap)
            .min(self.cap);
        full.mul_f64(jitter.clamp(0.5, 1.0))
    }

    /// [`RetryPolicy::delay`] with a random jitter.
    pub fn jittered_delay(&self, attempts: i32) -> std::time::Duration {
        self.delay(attempts, rand::random_range(0.5..=1.0))
    }
}

/// Which rows may be claimed: PENDING and due, FAILED and due with attempts left (fewer than
/// the parameter `max_attempts_param`), or IN_FLIGHT with an expired lease (its worker died).
/// `q` is the queue's alias.
fn claimable(max_attempts_param: &str) -> String {
    format!(
        "q.direction = 'OUTBOUND' AND ( \
           (q.status = 'PENDING' AND q.next_attempt_at <= now()) \
        OR (q.status = 'FAILED' AND q.next_attempt_at <= now() AND q.attempts < {max_attempts_param}) \
        OR (q.status = 'IN_FLIGHT' AND q.lease_until < now()))"
    )
}

/// Claims the claimable rows among `ids` for `lease`: they become IN_FLIGHT with
/// `lease_until = now + lease` and one more attempt. Rows already DONE, leased by another
/// worker, not yet due, or belonging to a customer another worker is pushing right now are
/// left alone (so duplicate and redelivered queue messages are harmless, and one customer is
/// never pushed to a portal by two workers at once, which could let an older state overwrite a
/// newer one; pushes of one record to two portals are independent).
pub async fn claim_by_ids(
    database: &crate::Database,
    portal_id: i64,
    ids: &[i64],
    lease: std::time::Duration,
    max_attempts: i32,
) -> Result<Vec<ClaimedRow>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut client = database.client().await?;
    let transaction = client.transaction().await?;
    let claimed = claim_in(&transaction, portal_id, ids, lease, max_attempts).await?;
    transaction.commit().await?;
    Ok(claimed)
}

/// Claims up to `limit` due rows, oldest first (the local outbox loop, which has no queue
/// message naming them). Rows another claimer holds a lock on are skipped.
pub async fn claim_due(
    database: &crate::Database,
    portal_id: i64,
    limit: usize,
    lease: std::time::Duration,
    max_attempts: i32,
) -> Result<Vec<ClaimedRow>, StoreError> {
    let mut client = database.client().await?;
    let transaction = client.transaction().await?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let candidates: Vec<i64> = transaction
        .query_typed(
            &format!(
                "SELECT q.id FROM hubspot_sync_queue q WHERE q.portal_id = $3 AND {} \
                 ORDER BY q.id LIMIT $1",
                claimable("$2")
            ),
            &[
                (&limit, Type::INT8),
                (&max_attempts, Type::INT4),
                (&portal_id, Type::INT8),
            ],
        )
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
    let claimed = claim_in(&transaction, portal_id, &candidates, lease, max_attempts).await?;
    transaction.commit().await?;
    Ok(claimed)
}

/// The claim itself. Locking order, the same for every claimer: the WARP records (customers,
/// then users, each by id) first, then the queue rows; writes also lock their record first, so
/// nothing can deadlock. Holding the record's lock makes the "no valid lease on this record"
/// check race-free. That check reads the record's rows through the local index only (OFFSET 0 fences the
/// status predicate off the status index, which status churn bloats).
async fn claim_in(
    transaction: &tokio_postgres::Transaction<'_>,
    portal_id: i64,
    ids: &[i64],
    lease: std::time::Duration,
    max_attempts: i32,
) -> Result<Vec<ClaimedRow>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids = ids.to_vec();
    for object_type in ObjectType::ALL {
        let sql = format!(
            "SELECT t.id FROM {table} t WHERE t.id IN \
               (SELECT local_id FROM hubspot_sync_queue WHERE id = ANY($1) AND object_type = $2) \
             ORDER BY t.id FOR NO KEY UPDATE",
            table = local_table(object_type)
        );
        transaction
            .query_typed(
                &sql,
                &[
                    (&ids, Type::INT8_ARRAY),
                    (&object_type.as_str(), Type::TEXT),
                ],
            )
            .await?;
    }
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    let claimable = claimable("$3");
    const ROWS_OF_RECORD: &str = "SELECT o.status, o.lease_until FROM hubspot_sync_queue o \
         WHERE o.local_id = q.local_id AND o.object_type = q.object_type \
           AND o.portal_id = q.portal_id OFFSET 0";
    let sql = format!(
        "UPDATE hubspot_sync_queue q SET status = 'IN_FLIGHT', \
           lease_until = now() + make_interval(secs => $2::bigint / 1000.0), \
           attempts = q.attempts + 1, updated_at = now() \
         WHERE q.id = ANY($1) AND q.portal_id = $4 AND {claimable} \
           AND NOT EXISTS (SELECT 1 FROM ({ROWS_OF_RECORD}) o \
                           WHERE o.status = 'IN_FLIGHT' AND o.lease_until >= now()) \
         RETURNING q.id, q.portal_id, q.object_type, q.local_id, q.operation, q.local_version, q.attempts"
    );
    let rows = transaction
        .query_typed(
            &sql,
            &[
                (&ids, Type::INT8_ARRAY),
                (&lease_ms, Type::INT8),
                (&max_attempts, Type::INT4),
                (&portal_id, Type::INT8),
            ],
        )
        .await?;
    let mut claimed = rows
        .iter()
        .map(|row| {
            Ok(ClaimedRow {
                id: row.try_get(0)?,
                portal_id: row.try_get(1)?,
                object_type: crate::object_type_column(row.try_get(2)?)?,
                local_id: row.try_get(3)?,
                operation: parsed(row.try_get(4)?, OutboxOperation::parse, "operation")?,
                local_version: row.try_get(5)?,
                attempts: row.try_get(6)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    claimed.sort_by_key(|row| row.id);
    Ok(claimed)
}

/// Where an outbox row stands, for rows a claim left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowStatus {
    pub id: i64,
    pub status: OutboxStatus,
    pub attempts: i32,
    /// True while a worker's lease on the row is valid.
    pub leased: bool,
    pub outbound: bool,
}

/// The status of these rows (ids that do not exist are absent).
pub async fn statuses(
    database: &crate::Database,
    ids: &[i64],
) -> Result<Vec<RowStatus>, StoreError> {
    let client = database.client().await?;
    let ids = ids.to_vec();
    let rows = client
        .query_typed(
            "SELECT id, status, attempts, coalesce(lease_until >= now(), false), direction = 'OUTBOUND' \
             FROM hubspot_sync_queue WHERE id = ANY($1) ORDER BY id",
            &[(&ids, Type::INT8_ARRAY)],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(RowStatus {
                id: row.try_get(0)?,
                status: parsed(row.try_get(1)?, OutboxStatus::parse, "status")?,
                attempts: row.try_get(2)?,
                leased: row.try_get(3)?,
                outbound: row.try_get(4)?,
            })
        })
        .collect()
}

/// Marks these rows DONE. With `superseded_up_to` = (record, version) of `object_type`, also
/// every other PENDING or FAILED outbound row of that record for `portal_id` whose version is
/// not newer: the state that portal accepted already contains their change (the diff is
/// against its known values, not per row). Another portal's rows are never superseded (that
/// portal has not seen the change), nor RESYNC rows (they ask for a full push). Returns the
/// ids marked.
pub async fn mark_done(
    client: &impl tokio_postgres::GenericClient,
    ids: &[i64],
    portal_id: i64,
    object_type: ObjectType,
    superseded_up_to: &[(Uuid, i64)],
) -> Result<Vec<i64>, StoreError> {
    let ids = ids.to_vec();
    let (records, versions): (Vec<Uuid>, Vec<i64>) = superseded_up_to.iter().copied().unzip();
    let rows = client
        .query_typed(
            // The customer index finds the superseded rows; OFFSET 0 keeps the planner from
            // also ANDing in the status index, which every status change bloats (it grew the
            // cost of each pass with the size of the queue).
            "UPDATE hubspot_sync_queue q SET status = 'DONE', lease_until = NULL, last_error = NULL, updated_at = now() \
             FROM (SELECT unnest($1::bigint[]) AS id \
                   UNION \
                   SELECT o.id FROM unnest($2::uuid[], $3::bigint[]) AS s(local_id, version) \
                   CROSS JOIN LATERAL (SELECT id, portal_id, status, direction, operation, local_version, object_type \
                       FROM hubspot_sync_queue WHERE local_id = s.local_id OFFSET 0) o \
                   WHERE o.status IN ('PENDING', 'FAILED') AND o.direction = 'OUTBOUND' AND o.object_type = $4 \
                     AND o.portal_id = $5 AND o.operation <> 'RESYNC' AND o.local_version <= s.version) AS t \
             WHERE q.id = t.id \
             RETURNING q.id",
            &[
                (&ids, Type::INT8_ARRAY),
                (&records, Type::UUID_ARRAY),
                (&versions, Type::INT8_ARRAY),
                (&object_type.as_str(), Type::TEXT),
                (&portal_id, Type::INT8),
            ],
        )
        .await?;
    rows.iter()
        .map(|row| Ok(row.try_get(0)?))
        .collect::<Result<Vec<i64>, StoreError>>()
}

/// Locks these records of `object_type` in id order (the order every multi-record writer
/// takes, and the API's single-row writes cannot invert) and returns their current versions.
pub async fn lock_versions(
    client: &impl tokio_postgres::GenericClient,
    object_type: ObjectType,
    local_ids: &[Uuid],
) -> Result<HashMap<Uuid, i64>, StoreError> {
    let mut ids = local_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let sql = format!(
        "SELECT id, version FROM {} WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
        local_table(object_type)
    );
    client
        .query_typed(&sql, &[(&ids, Type::UUID_ARRAY)])
        .await?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}

/// Which of these records still have an outbound row waiting (PENDING, IN_FLIGHT, FAILED).
pub async fn records_with_open_rows(
    client: &impl tokio_postgres::GenericClient,
    object_type: ObjectType,
    local_ids: &[Uuid],
) -> Result<std::collections::HashSet<Uuid>, StoreError> {
    if local_ids.is_empty() {
        return Ok(Default::default());
    }
    client
        .query_typed(
            "SELECT DISTINCT local_id FROM hubspot_sync_queue WHERE local_id = ANY($1) \
             AND object_type = $2 AND direction = 'OUTBOUND' AND status IN ('PENDING', 'IN_FLIGHT', 'FAILED')",
            &[(&local_ids, Type::UUID_ARRAY), (&object_type.as_str(), Type::TEXT)],
        )
        .await?
        .iter()
        .map(|row| Ok(row.try_get(0)?))
        .collect()
}

/// Marks these rows FAILED with `error` (our message or HubSpot's category and message, never
/// property values), due again after `retry_after`.
pub async fn mark_failed(
    client: &impl tokio_postgres::GenericClient,
    failures: &[(i64, String, std::time::Duration)],
) -> Result<(), StoreError> {
    mark_failed_with_attempts(client, failures, 0).await
}

/// [`mark_failed`], with each row's attempts raised to at least `min_attempts`.
async fn mark_failed_with_attempts(
    client: &impl tokio_postgres::GenericClient,
    failures: &[(i64, String, std::time::Duration)],
    min_attempts: i32,
) -> Result<(), StoreError> {
    if failures.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::with_capacity(failures.len());
    let mut errors = Vec::with_capacity(failures.len());
    let mut delays_ms = Vec::with_capacity(failures.len());
    for (id, error, delay) in failures {
        ids.push(*id);
        // Often HubSpot's message, which may quote a value.
        errors.push(truncate(&storable(error), 2_000));
        delays_ms.push(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
    }
    client
        .execute_typed(
            "UPDATE hubspot_sync_queue q SET status = 'FAILED', lease_until = NULL, last_error = f.error, \
               next_attempt_at = now() + make_interval(secs => f.delay_ms / 1000.0), \
               attempts = greatest(q.attempts, $4), updated_at = now() \
             FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS f(id, error, delay_ms) \
             WHERE q.id = f.id AND q.status = 'IN_FLIGHT'",
            &[
                (&ids, Type::INT8_ARRAY),
                (&errors, Type::TEXT_ARRAY),
                (&delays_ms, Type::INT8_ARRAY),
                (&min_attempts, Type::INT4),
            ],
        )
        .await?;
    Ok(())
}

/// Gives rows back without counting the attempt against them (the worker could not even
/// start, e.g. the database failed after the claim): PENDING, due now.
pub async fn release(
    client: &impl tokio_postgres::GenericClient,
    ids: &[i64],
) -> Result<(), StoreError> {
    let ids = ids.to_vec();
    client
        .execute_typed(
            "UPDATE hubspot_sync_queue SET status = 'PENDING', lease_until = NULL, \
               attempts = greatest(attempts - 1, 0), updated_at = now() \
             WHERE id = ANY($1) AND status = 'IN_FLIGHT'",
            &[(&ids, Type::INT8_ARRAY)],
        )
        .await?;
    Ok(())
}

/// Puts claimed rows back to wait, without counting the attempt: the record cannot be pushed
/// yet (a contact whose customer's company is not in HubSpot yet), through no fault of its own.
/// PENDING, due after `delay`, with `reason` readable as `last_error`.
pub async fn defer(
    client: &impl tokio_postgres::GenericClient,
    deferrals: &[(i64, String, std::time::Duration)],
) -> Result<(), StoreError> {
    if deferrals.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = deferrals.iter().map(|(id, _, _)| *id).collect();
    let reasons: Vec<&str> = deferrals.iter().map(|(_, why, _)| why.as_str()).collect();
    let delays_ms: Vec<i64> = deferrals
        .iter()
        .map(|(_, _, delay)| i64::try_from(delay.as_millis()).unwrap_or(i64::MAX))
        .collect();
    client
        .execute_typed(
            "UPDATE hubspot_sync_queue q SET status = 'PENDING', lease_until = NULL, \
               attempts = greatest(q.attempts - 1, 0), last_error = d.reason, \
               next_attempt_at = now() + make_interval(secs => d.delay_ms / 1000.0), updated_at = now() \
             FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS d(id, reason, delay_ms) \
             WHERE q.id = d.id AND q.status = 'IN_FLIGHT'",
            &[
                (&ids, Type::INT8_ARRAY),
                (&reasons, Type::TEXT_ARRAY),
                (&delays_ms, Type::INT8_ARRAY),
            ],
        )
        .await?;
    Ok(())
}

/// The portal of each of these rows (ids that do not exist are absent).
pub async fn portals_of(
    database: &crate::Database,
    ids: &[i64],
) -> Result<Vec<(i64, i64)>, StoreError> {
    let client = database.client().await?;
    let ids = ids.to_vec();
    let rows = client
        .query_typed(
            "SELECT id, portal_id FROM hubspot_sync_queue WHERE id = ANY($1)",
            &[(&ids, Type::INT8_ARRAY)],
        )
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}

/// Rows of `portal_id` waiting (a portal that needed reconnecting) are due now.
pub async fn resume_portal(
    client: &impl tokio_postgres::GenericClient,
    portal_id: i64,
) -> Result<u64, StoreError> {
    Ok(client
        .execute_typed(
            "UPDATE hubspot_sync_queue SET next_attempt_at = now(), updated_at = now() \
             WHERE portal_id = $1 AND status = 'PENDING' AND next_attempt_at > now()",
            &[(&portal_id, Type::INT8)],
        )
        .await?)
}

/// Marks rows FAILED that no automatic retry can help (HubSpot refused the record itself):
/// their attempts are used up at once, so neither the worker nor the queue sends them again
/// until an operator's retry (`outbox_failures::requeue`) after fixing the record or the portal.
pub async fn mark_failed_for_good(
    client: &impl tokio_postgres::GenericClient,
    failures: &[(i64, String, std::time::Duration)],
    max_attempts: i32,
) -> Result<(), StoreError> {
    mark_failed_with_attempts(client, failures, max_attempts).await
}

/// Enqueues a RESYNC (a full push of every mapped field) for one record; `NotFound` when
/// there is no such record. `portal_id` None means the portal of the record's latest
/// outbox row (every write leaves one).
pub async fn enqueue_resync(
    database: &crate::Database,
    portal_id: Option<i64>,
    object_type: ObjectType,
    local_id: Uuid,
) -> Result<i64, StoreError> {
    let client = database.client().await?;
    let sql = format!(
        "INSERT INTO hubspot_sync_queue (portal_id, object_type, local_id, operation, direction, status, local_version) \
         SELECT p.portal_id, $3, r.id, 'RESYNC', 'OUTBOUND', 'PENDING', r.version FROM {} r \
         CROSS JOIN LATERAL (SELECT coalesce($2, (SELECT portal_id FROM hubspot_sync_queue \
             WHERE local_id = r.id AND object_type = $3 ORDER BY id DESC LIMIT 1)) AS portal_id) p \
         WHERE r.id = $1 AND p.portal_id IS NOT NULL RETURNING id",
        local_table(object_type)
    );
    let row = client
        .query_typed_opt(
            &sql,
            &[
                (&local_id, Type::UUID),
                (&portal_id, Type::INT8),
                (&object_type.as_str(), Type::TEXT),
            ],
        )
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(row.try_get(0)?)
}

/// The rows the relay should (re-)publish, oldest first: never published or last published
/// before `older_than` ago, and still waiting: PENDING and due, FAILED and due with attempts
/// left (below `max_attempts`), or IN_FLIGHT with an expired lease.
/// (Rows of a portal that needs reconnecting or was disconnected wait: reconnecting makes
/// them due, see [`resume_portal`].)
pub async fn due_for_relay(
    database: &crate::Database,
    older_than: std::time::Duration,
    limit: usize,
    max_attempts: i32,
) -> Result<Vec<i64>, StoreError> {
    let client = database.client().await?;
    let older_than_ms = i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let sql = format!(
        "SELECT q.id FROM hubspot_sync_queue q WHERE {} \
           AND coalesce(q.published_at, q.created_at) <= now() - make_interval(secs => $1::bigint / 1000.0) \
           AND NOT EXISTS (SELECT 1 FROM hubspot_installations i \
                            WHERE i.portal_id = q.portal_id AND i.status <> 'active') \
         ORDER BY q.id LIMIT $2",
        claimable("$3")
    );
    let rows = client
        .query_typed(
            &sql,
            &[
                (&older_than_ms, Type::INT8),
                (&limit, Type::INT8),
                (&max_attempts, Type::INT4),
            ],
        )
        .await?;
    rows.iter()
        .map(|row| Ok(row.try_get(0)?))
        .collect::<Result<Vec<i64>, StoreError>>()
}

/// Records that the relay (re-)published these rows now, whether or not they had been before.
pub async fn mark_republished(database: &crate::Database, ids: &[i64]) -> Result<u64, StoreError> {
    let client = database.client().await?;
    let ids = ids.to_vec();
    Ok(client
        .execute_typed(
            "UPDATE hubspot_sync_queue SET published_at = now(), updated_at = now() WHERE id = ANY($1)",
            &[(&ids, Type::INT8_ARRAY)],
        )
        .await?)
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod retry_tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_is_capped_and_jitter_keeps_half_to_all() {
        let policy = RetryPolicy {
            base: Duration::from_secs(2),
            cap: Duration::from_secs(900),
            max_attempts: 10,
        };
        assert_eq!(policy.delay(1, 1.0), Duration::from_secs(2));
        assert_eq!(policy.delay(2, 1.0), Duration::from_secs(4));
        assert_eq!(policy.delay(5, 1.0), Duration::from_secs(32));
        assert_eq!(policy.delay(20, 1.0), Duration::from_secs(900));
        assert_eq!(policy.delay(i32::MAX, 1.0), Duration::from_secs(900));
        assert_eq!(policy.delay(0, 1.0), Duration::from_secs(2));
        assert_eq!(policy.delay(3, 0.5), Duration::from_secs(4));
        assert_eq!(
            policy.delay(3, 0.1),
            Duration::from_secs(4),
            "jitter floor 0.5"
        );
        for attempts in 1..40 {
            let delay = policy.jittered_delay(attempts);
            let full = policy.delay(attempts, 1.0);
            assert!(delay <= full && delay >= full / 2, "{attempts}: {delay:?}");
        }
    }

    #[test]
    fn truncation_is_by_characters() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("äöüß", 2), "äö…");
    }
}

#[cfg(test)]
mod enum_tests {
    use super::*;

    /// The texts are the table's CHECK values: each reads back as itself, and nothing else reads.
    #[test]
    fn every_operation_and_status_reads_back_from_its_text() {
        for operation in OutboxOperation::ALL {
            assert_eq!(OutboxOperation::parse(operation.as_str()), Some(operation));
        }
        for status in OutboxStatus::ALL {
            assert_eq!(OutboxStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(OutboxOperation::parse("create"), None);
        assert_eq!(OutboxStatus::parse("RUNNING"), None);
        let schema = include_str!("../../../migrations/V1__customers_and_sync.sql");
        assert!(
            schema.contains("operation IN ('CREATE', 'UPDATE', 'DELETE', 'RESYNC', 'PUSH_BACK')")
        );
        assert!(schema.contains("status IN ('PENDING', 'IN_FLIGHT', 'DONE', 'FAILED')"));
    }
}
