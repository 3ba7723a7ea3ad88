//! `hubspot_sync_log`: the audit trail, one row per sync attempt of a customer. It holds ids,
//! field NAMES, the outcome and an error text (ours, or HubSpot's category and message), never
//! field values: the log must stay free of PII (DESIGN guarantee 7). Also the per-customer
//! sync state the API shows, derived from the outbox and this log.

use crate::StoreError;
use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use tokio_postgres::types::Type;
use uuid::Uuid;
use warp_domain::storable::storable_opt;
use warp_domain::sync::ObjectType;

/// How a sync attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStatus {
    Success,
    Failed,
    /// Nothing to send: HubSpot already holds every value.
    Skipped,
}

impl LogStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LogStatus::Success => "SUCCESS",
            LogStatus::Failed => "FAILED",
            LogStatus::Skipped => "SKIPPED",
        }
    }
}

/// One outbound attempt for one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundLogEntry {
    pub portal_id: i64,
    pub object_type: ObjectType,
    /// The newest outbox row the attempt carried.
    pub queue_id: i64,
    pub local_id: Uuid,
    pub operation: String,
    pub status: LogStatus,
    /// Names of the fields sent (never their values).
    pub fields: Vec<String>,
    /// The HubSpot record's id, when known.
    pub hubspot_id: Option<String>,
    /// Our own message or HubSpot's category and message; never property values.
    pub error: Option<String>,
    pub started_at: DateTime<Utc>,
}

/// Inserts outbound log entries in one statement; completed now.
pub async fn insert_outbound(
    client: &impl GenericClient,
    entries: &[OutboundLogEntry],
) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut portal_ids = Vec::with_capacity(entries.len());
    let mut queue_ids = Vec::with_capacity(entries.len());
    let mut object_types = Vec::with_capacity(entries.len());
    let mut local_ids = Vec::with_capacity(entries.len());
    let mut operations = Vec::with_capacity(entries.len());
    let mut statuses = Vec::with_capacity(entries.len());
    // Field lists go as one comma-joined text each: unnest cannot take a ragged text[][].
    let mut fields = Vec::with_capacity(entries.len());
    let mut hubspot_ids = Vec::with_capacity(entries.len());
    let mut errors = Vec::with_capacity(entries.len());
    let mut started = Vec::with_capacity(entries.len());
    for entry in entries {
        portal_ids.push(entry.portal_id);
        queue_ids.push(entry.queue_id);
        object_types.push(entry.object_type.as_str());
        local_ids.push(entry.local_id);
        operations.push(entry.operation.clone());
        statuses.push(entry.status.as_str().to_owned());
        fields.push(entry.fields.join(","));
        hubspot_ids.push(storable_opt(entry.hubspot_id.as_deref()));
        // Often HubSpot's message, which may quote a value.
        errors.push(storable_opt(entry.error.as_deref()));
        started.push(entry.started_at);
    }
    client
        .execute_typed(
            "INSERT INTO hubspot_sync_log (portal_id, object_type, queue_id, local_id, direction, operation, status, \
               fields_synced, hubspot_id, error, started_at, completed_at) \
             SELECT p, y, q, c, 'OUTBOUND', o, s, \
               CASE WHEN f = '' THEN '{}'::text[] ELSE string_to_array(f, ',') END, h, e, t, now() \
             FROM unnest($1::bigint[], $2::bigint[], $3::uuid[], $4::text[], $5::text[], $6::text[], \
                         $7::text[], $8::text[], $9::timestamptz[], $10::text[]) AS x(p, q, c, o, s, f, h, e, t, y)",
            &[
                (&portal_ids, Type::INT8_ARRAY),
                (&queue_ids, Type::INT8_ARRAY),
                (&local_ids, Type::UUID_ARRAY),
                (&operations, Type::TEXT_ARRAY),
                (&statuses, Type::TEXT_ARRAY),
                (&fields, Type::TEXT_ARRAY),
                (&hubspot_ids, Type::TEXT_ARRAY),
                (&errors, Type::TEXT_ARRAY),
                (&started, Type::TIMESTAMPTZ_ARRAY),
                (&object_types, Type::TEXT_ARRAY),
            ],
        )
        .await?;
    Ok(())
}

/// Where a customer's outbound sync stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    /// A change waits to be sent (or is being sent).
    Pending,
    /// HubSpot holds WARP's values as of the last change.
    Synced,
    /// The last attempt failed; it is retried with backoff or waits for an operator.
    Failed,
    /// Nothing was ever sent for this customer.
    Never,
}

impl SyncState {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncState::Pending => "pending",
            SyncState::Synced => "synced",
            SyncState::Failed => "failed",
            SyncState::Never => "never",
        }
    }
}

/// A customer's sync state as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerSyncState {
    pub state: SyncState,
    /// The error of the newest FAILED row, if any row is FAILED.
    pub last_error: Option<String>,
    /// The company id the newest successful push reported.
    pub hubspot_company_id: Option<String>,
    pub last_synced_at: Option<DateTime<Utc>>,
}

/// Reads the `sync_*` columns of a `customer_reads` row (migration V4).
pub(crate) fn sync_state_from_row(
    row: &tokio_postgres::Row,
) -> Result<CustomerSyncState, StoreError> {
    let failed_error: Option<String> = row.try_get("sync_failed_error")?;
    let any_failed: bool = row.try_get("sync_any_failed")?;
    let any_waiting: bool = row.try_get("sync_any_waiting")?;
    let any_done: bool = row.try_get("sync_any_done")?;
    let hubspot_company_id: Option<String> = row.try_get("sync_company_id")?;
    let last_synced_at: Option<DateTime<Utc>> = row.try_get("sync_completed_at")?;
    let state = if any_failed {
        SyncState::Failed
    } else if any_waiting {
        SyncState::Pending
    } else if any_done || last_synced_at.is_some() {
        SyncState::Synced
    } else {
        SyncState::Never
    };
    Ok(CustomerSyncState {
        state,
        last_error: if any_failed { failed_error } else { None },
        hubspot_company_id,
        last_synced_at,
    })
}
