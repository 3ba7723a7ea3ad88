//! The reconciler's bookkeeping: `hubspot_reconciliation_runs` (runs requested, claimed,
//! executed and reported), the compact customer reads a full reconciliation streams, and the
//! resumable position of `warp backfill`.
//!
//! A run's life: the API inserts it queued (`status = 'running'`, `claimed_at` NULL); a
//! reconciler claims the oldest queued run with `FOR UPDATE SKIP LOCKED`, so two reconcilers
//! never take the same one; the partial unique index of V2 allows one executing run per portal,
//! so a claim while another run executes leaves the run queued. The executing run beats a
//! heartbeat; a run whose heartbeat stopped (its process died) is failed by
//! [`fail_abandoned`], which frees the portal for the next one.

use crate::customers::{decode_cursor, page_of};
use crate::outbox::{self, OutboxOperation};
use crate::{Database, StoreError};
use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use tokio_postgres::types::Type;
use uuid::Uuid;
use warp_domain::storable::{storable, storable_json};
use warp_domain::sync::ObjectType;

/// The counts a run reports, written at each heartbeat and at the end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunCounts {
    pub customers_checked: i64,
    pub companies_checked: i64,
    pub drift_found: i64,
    pub drift_fixed: i64,
    pub errors: i64,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// It got to the end and every step worked (drift a person must settle, such as a
    /// conflict, is not an error).
    Succeeded,
    /// It got to the end, repairing what it could, but some steps failed (a record it could
    /// not repair, a HubSpot read that failed): the report's `error_reasons` say which.
    CompletedWithErrors,
    /// It stopped before the end (or its process died).
    Failed,
}

impl RunOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Succeeded => "succeeded",
            RunOutcome::CompletedWithErrors => "completed_with_errors",
            RunOutcome::Failed => "failed",
        }
    }

    /// How a run that got to the end with `errors` errors ended.
    pub fn finished_with(errors: u64) -> Self {
        if errors == 0 {
            RunOutcome::Succeeded
        } else {
            RunOutcome::CompletedWithErrors
        }
    }
}

/// One run as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ReconciliationRun {
    pub id: Uuid,
    /// None while a run requested through the API waits to be claimed.
    pub portal_id: Option<i64>,
    /// `running` (queued or executing), `succeeded`, `completed_with_errors` or `failed`
    /// ([`RunOutcome`]).
    pub status: String,
    pub dry_run: bool,
    pub requested_at: DateTime<Utc>,
    pub requested_by: Option<String>,
    /// When a reconciler took it; None while queued.
    pub claimed_at: Option<DateTime<Utc>>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub heartbeat_at: Option<DateTime<Utc>>,
    pub counts: RunCounts,
    pub duration_ms: Option<i64>,
    /// Drift by kind and field, errors, the per-customer list (ids, kinds, fields; no values).
    pub report: serde_json::Value,
    /// `full` (every record) or `incremental` (what changed since `changed_since`).
    pub mode: String,
    pub changed_since: Option<DateTime<Utc>>,
}

impl ReconciliationRun {
    pub fn is_queued(&self) -> bool {
        self.status == "running" && self.claimed_at.is_none()
    }
}

/// A run this process now executes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimedRun {
    pub id: Uuid,
    pub dry_run: bool,
}

const COLUMNS: &str = "id, portal_id, status, dry_run, requested_at, requested_by, claimed_at, started_at, \
     finished_at, heartbeat_at, customers_checked, companies_checked, drift_found, drift_fixed, errors, \
     duration_ms, report, mode, changed_since";

fn run_from_row(row: &tokio_postgres::Row) -> Result<ReconciliationRun, StoreError> {
    Ok(ReconciliationRun {
        id: row.try_get(0)?,
        portal_id: row.try_get(1)?,
        status: row.try_get(2)?,
        dry_run: row.try_get(3)?,
        requested_at: row.try_get(4)?,
        requested_by: row.try_get(5)?,
        claimed_at: row.try_get(6)?,
        started_at: row.try_get(7)?,
        finished_at: row.try_get(8)?,
        heartbeat_at: row.try_get(9)?,
        counts: RunCounts {
            customers_checked: row.try_get(10)?,
            companies_checked: row.try_get(11)?,
            drift_found: row.try_get(12)?,
            drift_fixed: row.try_get(13)?,
            errors: row.try_get(14)?,
        },
        duration_ms: row.try_get(15)?,
        report: row.try_get(16)?,
        mode: row.try_get(17)?,
        changed_since: row.try_get(18)?,
    })
}

/// Queues a run for a reconciler to claim (what the API does); returns it.
pub async fn request(
    client: &impl GenericClient,
    dry_run: bool,
    requested_by: &str,
) -> Result<ReconciliationRun, StoreError> {
    let requested_by = storable(requested_by);
    let sql = format!(
        "INSERT INTO hubspot_reconciliation_runs (id, status, dry_run, requested_by) \
         VALUES ($1, 'running', $2, $3) RETURNING {COLUMNS}"
    );
    let row = client
        .query_typed_one(
            &sql,
            &[
                (&Uuid::now_v7(), Type::UUID),
                (&dry_run, Type::BOOL),
                (&requested_by, Type::TEXT),
            ],
        )
        .await?;
    run_from_row(&row)
}

/// Claims the oldest queued run for `portal_id`. `None` when nothing is queued, or when a run
/// of this portal is executing already (the queued run waits for it).
pub async fn claim_next(
    database: &Database,
    portal_id: i64,
) -> Result<Option<ClaimedRun>, StoreError> {
    let client = database.client().await?;
    let claimed = client
        .query_typed_opt(
            "UPDATE hubspot_reconciliation_runs r SET claimed_at = now(), started_at = now(), \
               heartbeat_at = now(), portal_id = $1 \
             WHERE r.id = (SELECT id FROM hubspot_reconciliation_runs \
                           WHERE claimed_at IS NULL AND status = 'running' \
                             AND (portal_id IS NULL OR portal_id = $1) \
                           ORDER BY requested_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING r.id, r.dry_run",
            &[(&portal_id, Type::INT8)],
        )
        .await;
    claimed_or_busy(claimed)
}

/// Starts a run at once (the schedule, the CLI); `None` when a run of this portal is executing.
pub async fn start(
    database: &Database,
    portal_id: i64,
    dry_run: bool,
    requested_by: &str,
) -> Result<Option<ClaimedRun>, StoreError> {
    let client = database.client().await?;
    let requested_by = storable(requested_by);
    let started = client
        .query_typed_opt(
            "INSERT INTO hubspot_reconciliation_runs \
               (id, portal_id, status, dry_run, requested_by, claimed_at, heartbeat_at) \
             VALUES ($1, $2, 'running', $3, $4, now(), now()) RETURNING id, dry_run",
            &[
                (&Uuid::now_v7(), Type::UUID),
                (&portal_id, Type::INT8),
                (&dry_run, Type::BOOL),
                (&requested_by, Type::TEXT),
            ],
        )
        .await;
    claimed_or_busy(started)
}

/// The one-executing-run index refusing the claim means "busy", not a failure.
fn claimed_or_busy(
    result: Result<Option<tokio_postgres::Row>, tokio_postgres::Error>,
) -> Result<Option<ClaimedRun>, StoreError> {
    match result {
        Ok(Some(row)) => Ok(Some(ClaimedRun {
            id: row.try_get(0)?,
            dry_run: row.try_get(1)?,
        })),
        Ok(None) => Ok(None),
        Err(error)
            if error.as_db_error().is_some_and(|db| {
                db.constraint() == Some("hubspot_reconciliation_runs_one_executing")
            }) =>
        {
            Ok(None)
        }
        Err(error) => Err(error.into()),
    }
}

/// Records progress so far (and that the run is alive).
pub async fn heartbeat(
    database: &Database,
    id: Uuid,
    counts: &RunCounts,
) -> Result<(), StoreError> {
    let client = database.client().await?;
    client
        .execute_typed(
            "UPDATE hubspot_reconciliation_runs SET heartbeat_at = now(), customers_checked = $2, \
               companies_checked = $3, drift_found = $4, drift_fixed = $5, errors = $6 \
             WHERE id = $1 AND status = 'running'",
            &[
                (&id, Type::UUID),
                (&counts.customers_checked, Type::INT8),
                (&counts.companies_checked, Type::INT8),
                (&counts.drift_found, Type::INT8),
                (&counts.drift_fixed, Type::INT8),
                (&counts.errors, Type::INT8),
            ],
        )
        .await?;
    Ok(())
}

/// Ends a run with its counts and report.
pub async fn finish(
    database: &Database,
    id: Uuid,
    outcome: RunOutcome,
    counts: &RunCounts,
    report: &serde_json::Value,
) -> Result<(), StoreError> {
    let client = database.client().await?;
    let status = outcome.as_str();
    // Error reasons may quote HubSpot's messages.
    let mut report = report.clone();
    storable_json(&mut report);
    client
        .execute_typed(
            "UPDATE hubspot_reconciliation_runs SET status = $2, finished_at = now(), heartbeat_at = now(), \
               duration_ms = (extract(epoch FROM now() - started_at) * 1000)::bigint, \
               customers_checked = $3, companies_checked = $4, drift_found = $5, drift_fixed = $6, \
               errors = $7, report = $8 \
             WHERE id = $1",
            &[
                (&id, Type::UUID),
                (&status, Type::TEXT),
                (&counts.customers_checked, Type::INT8),
                (&counts.companies_checked, Type::INT8),
                (&counts.drift_found, Type::INT8),
                (&counts.drift_fixed, Type::INT8),
                (&counts.errors, Type::INT8),
                (&report, Type::JSONB),
            ],
        )
        .await?;
    Ok(())
}

/// Fails the executing runs of `portal_id` whose heartbeat is older than `silent_for` (their
/// process died); returns how many.
pub async fn fail_abandoned(
    database: &Database,
    portal_id: i64,
    silent_for: std::time::Duration,
) -> Result<u64, StoreError> {
    let client = database.client().await?;
    let silent_ms = i64::try_from(silent_for.as_millis()).unwrap_or(i64::MAX);
    Ok(client
        .execute_typed(
            "UPDATE hubspot_reconciliation_runs SET status = 'failed', finished_at = now(), \
               report = report || jsonb_build_object('error', 'abandoned: the run stopped beating') \
             WHERE portal_id = $1 AND status = 'running' AND claimed_at IS NOT NULL \
               AND coalesce(heartbeat_at, claimed_at) < now() - make_interval(secs => $2::bigint / 1000.0)",
            &[(&portal_id, Type::INT8), (&silent_ms, Type::INT8)],
        )
        .await?)
}

/// One run by id.
pub async fn get(database: &Database, id: Uuid) -> Result<ReconciliationRun, StoreError> {
    let client = database.client().await?;
    let sql = format!("SELECT {COLUMNS} FROM hubspot_reconciliation_runs WHERE id = $1");
    let row = client
        .query_typed_opt(&sql, &[(&id, Type::UUID)])
        .await?
        .ok_or(StoreError::NotFound)?;
    run_from_row(&row)
}

/// One page of runs, newest first (ids are v7 uuids: creation order).
#[derive(Debug, Clone)]
pub struct RunPage {
    pub items: Vec<ReconciliationRun>,
    pub next_cursor: Option<String>,
}

/// Runs newest first; `limit` is clamped to 1..=100; `cursor` is a previous `next_cursor`.
pub async fn list(
    database: &Database,
    limit: u32,
    cursor: Option<&str>,
) -> Result<RunPage, StoreError> {
    let limit = i64::from(limit.clamp(1, 100));
    let before = cursor.map(decode_cursor).transpose()?;
    let fetch = limit + 1;
    let sql = format!(
        "SELECT {COLUMNS} FROM hubspot_reconciliation_runs WHERE ($1::uuid IS NULL OR id < $1) \
         ORDER BY id DESC LIMIT $2"
    );
    let client = database.client().await?;
    let rows = client
        .query_typed(&sql, &[(&before, Type::UUID), (&fetch, Type::INT8)])
        .await?;
    let (items, next_cursor) = page_of(&rows, run_from_row, limit, |run| run.id)?;
    Ok(RunPage { items, next_cursor })
}

// ----- the compact customer reads of a full reconciliation -----

/// What a reconciliation needs of every customer to classify its link: no field values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerLink {
    pub id: Uuid,
    pub ban: String,
    pub hubspot_company_id: Option<String>,
    pub version: i64,
    pub deleted: bool,
    /// A person unlinked it: its pushes are held until it is linked again.
    pub held: bool,
}

/// One keyset page of customers (deleted ones included), in id order after `after`.
pub async fn customer_links_page(
    client: &impl GenericClient,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<CustomerLink>, StoreError> {
    let limit = i64::from(limit.max(1));
    client
        .query_typed(
            "SELECT id, ban, external_ids->>'hubspot_company_id', version, deleted_at IS NOT NULL, \
               EXISTS (SELECT 1 FROM hubspot_link_holds h WHERE h.object_type = 'companies' AND h.local_id = customers.id) \
             FROM customers WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2",
            &[(&after, Type::UUID), (&limit, Type::INT8)],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(CustomerLink {
                id: row.try_get(0)?,
                ban: row.try_get(1)?,
                hubspot_company_id: row.try_get(2)?,
                version: row.try_get(3)?,
                deleted: row.try_get(4)?,
                held: row.try_get(5)?,
            })
        })
        .collect()
}

/// Which of these records of `object_type` have an outbound row waiting (PENDING or FAILED
/// with retries left is not distinguished: either means a push is on its way).
pub async fn records_with_waiting_push(
    client: &impl GenericClient,
    object_type: ObjectType,
    local_ids: &[Uuid],
) -> Result<Vec<Uuid>, StoreError> {
    if local_ids.is_empty() {
        return Ok(Vec::new());
    }
    client
        .query_typed(
            "SELECT DISTINCT local_id FROM hubspot_sync_queue \
             WHERE local_id = ANY($1) AND object_type = $2 AND direction = 'OUTBOUND' \
               AND status IN ('PENDING', 'FAILED')",
            &[
                (&local_ids, Type::UUID_ARRAY),
                (&object_type.as_str(), Type::TEXT),
            ],
        )
        .await?
        .iter()
        .map(|row| Ok(row.try_get(0)?))
        .collect()
}

/// What a reconciliation needs of every user to classify its contact link: no field values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserLink {
    pub id: Uuid,
    pub version: i64,
    /// The company of the user's customer, when the customer is linked.
    pub company_id: Option<String>,
    /// The contact the user is linked to in the portal.
    pub contact_id: Option<String>,
    /// The person asked HubSpot to delete their data: never sent again.
    pub privacy_deleted: bool,
    /// A merge put the user's contact into another user's: a person decides (open conflict).
    pub merge_undecided: bool,
    /// A person unlinked it: its pushes are held until it is linked again.
    pub held: bool,
}

/// One keyset page of users, in id order after `after`, with their links in `portal_id`.
pub async fn user_links_page(
    client: &impl GenericClient,
    portal_id: i64,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<UserLink>, StoreError> {
    let limit = i64::from(limit.max(1));
    client
        .query_typed(
            "SELECT u.id, u.version, c.external_ids->>'hubspot_company_id', l.hubspot_id, \
               EXISTS (SELECT 1 FROM hubspot_privacy_deletions p WHERE p.portal_id = $1 \
                 AND p.object_type = 'contacts' AND p.local_id = u.id), \
               EXISTS (SELECT 1 FROM sync_conflicts k WHERE k.portal_id = $1 \
                 AND k.object_type = 'contacts' AND k.local_id = u.id AND k.field = 'user_id' \
                 AND k.status = 'OPEN'), \
               EXISTS (SELECT 1 FROM hubspot_link_holds h WHERE h.portal_id = $1 \
                 AND h.object_type = 'contacts' AND h.local_id = u.id) \
             FROM users u JOIN customers c ON c.id = u.customer_id \
             LEFT JOIN hubspot_links l ON l.portal_id = $1 AND l.object_type = 'contacts' \
               AND l.local_id = u.id AND l.unlinked_at IS NULL \
             WHERE ($2::uuid IS NULL OR u.id > $2) ORDER BY u.id LIMIT $3",
            &[
                (&portal_id, Type::INT8),
                (&after, Type::UUID),
                (&limit, Type::INT8),
            ],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(UserLink {
                id: row.try_get(0)?,
                version: row.try_get(1)?,
                company_id: row.try_get(2)?,
                contact_id: row.try_get(3)?,
                privacy_deleted: row.try_get(4)?,
                merge_undecided: row.try_get(5)?,
                held: row.try_get(6)?,
            })
        })
        .collect()
}

// ----- `warp backfill` -----

/// Where a backfill of `portal_id` stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillProgress {
    /// The last customer (in id order) whose push was queued; None before the first.
    pub last_customer_id: Option<Uuid>,
    pub customers_queued: i64,
    pub finished: bool,
}

/// The backfill position; a finished backfill (or none) starts over from the first customer.
pub async fn backfill_start(
    database: &Database,
    portal_id: i64,
) -> Result<BackfillProgress, StoreError> {
    let client = database.client().await?;
    let row = client
        .query_typed_one(
            "INSERT INTO hubspot_backfill_progress AS p (portal_id) VALUES ($1) \
             ON CONFLICT (portal_id) DO UPDATE SET \
               last_customer_id = CASE WHEN p.finished_at IS NULL THEN p.last_customer_id END, \
               customers_queued = CASE WHEN p.finished_at IS NULL THEN p.customers_queued ELSE 0 END, \
               started_at = CASE WHEN p.finished_at IS NULL THEN p.started_at ELSE now() END, \
               finished_at = NULL, updated_at = now() \
             RETURNING last_customer_id, customers_queued",
            &[(&portal_id, Type::INT8)],
        )
        .await?;
    Ok(BackfillProgress {
        last_customer_id: row.try_get(0)?,
        customers_queued: row.try_get(1)?,
        finished: false,
    })
}

/// Queues a RESYNC (full push) for each of `customers` and moves the backfill position to
/// `through` (the last customer of the page read, pushed or not), in one transaction: a crash
/// repeats at most this page. Returns the outbox ids.
pub async fn backfill_page(
    database: &Database,
    portal_id: i64,
    customers: &[(Uuid, i64)],
    through: Uuid,
) -> Result<Vec<i64>, StoreError> {
    let last = through;
    let mut client = database.client().await?;
    let transaction = client.transaction().await?;
    let connection: &tokio_postgres::Transaction<'_> = &transaction;
    let queued = outbox::enqueue_many(
        connection,
        portal_id,
        ObjectType::Companies,
        OutboxOperation::Resync,
        customers,
    )
    .await?;
    let count = i64::try_from(queued.len()).unwrap_or(i64::MAX);
    connection
        .execute_typed(
            "UPDATE hubspot_backfill_progress SET last_customer_id = $2, \
               customers_queued = customers_queued + $3, updated_at = now() WHERE portal_id = $1",
            &[
                (&portal_id, Type::INT8),
                (&last, Type::UUID),
                (&count, Type::INT8),
            ],
        )
        .await?;
    transaction.commit().await?;
    Ok(queued.into_iter().map(|(_, id)| id).collect())
}

/// Marks the backfill of `portal_id` finished (the next one starts over).
pub async fn backfill_finish(database: &Database, portal_id: i64) -> Result<(), StoreError> {
    let client = database.client().await?;
    client
        .execute_typed(
            "UPDATE hubspot_backfill_progress SET finished_at = now(), updated_at = now() WHERE portal_id = $1",
            &[(&portal_id, Type::INT8)],
        )
        .await?;
    Ok(())
}

/// Records that run `id` compares only what changed since `since` (an incremental run).
pub async fn mark_incremental(
    database: &Database,
    id: Uuid,
    since: DateTime<Utc>,
) -> Result<(), StoreError> {
    let client = database.client().await?;
    client
        .execute_typed(
            "UPDATE hubspot_reconciliation_runs SET mode = 'incremental', changed_since = $2 \
             WHERE id = $1",
            &[(&id, Type::UUID), (&since, Type::TIMESTAMPTZ)],
        )
        .await?;
    Ok(())
}

/// When the last repairing (not dry) runs of `portal_id` that succeeded started: of any mode,
/// and full ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LastSucceeded {
    pub any: Option<DateTime<Utc>>,
    pub full: Option<DateTime<Utc>>,
}

pub async fn last_succeeded(
    client: &impl GenericClient,
    portal_id: i64,
) -> Result<LastSucceeded, StoreError> {
    let row = client
        .query_typed_one(
            "SELECT max(started_at), max(started_at) FILTER (WHERE mode = 'full') \
             FROM hubspot_reconciliation_runs \
             WHERE portal_id = $1 AND status = 'succeeded' AND NOT dry_run",
            &[(&portal_id, Type::INT8)],
        )
        .await?;
    Ok(LastSucceeded {
        any: row.try_get(0)?,
        full: row.try_get(1)?,
    })
}

/// The HubSpot records linked to WARP records of `object_type` changed in WARP since `since`
/// (customers: not deleted; users: linked in `portal_id`).
pub async fn changed_links_since(
    client: &impl GenericClient,
    portal_id: i64,
    object_type: ObjectType,
    since: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    let rows = match object_type {
        ObjectType::Companies => {
            client
                .query_typed(
                    "SELECT external_ids->>'hubspot_company_id' FROM customers \
                     WHERE updated_at >= $1 AND deleted_at IS NULL \
                       AND external_ids->>'hubspot_company_id' IS NOT NULL",
                    &[(&since, Type::TIMESTAMPTZ)],
                )
                .await?
        }
        ObjectType::Contacts => {
            client
                .query_typed(
                    "SELECT l.hubspot_id FROM users u JOIN hubspot_links l \
                       ON l.portal_id = $1 AND l.object_type = 'contacts' AND l.local_id = u.id \
                      AND l.unlinked_at IS NULL \
                     WHERE u.updated_at >= $2",
                    &[(&portal_id, Type::INT8), (&since, Type::TIMESTAMPTZ)],
                )
                .await?
        }
    };
    rows.iter().map(|row| Ok(row.try_get(0)?)).collect()
}
