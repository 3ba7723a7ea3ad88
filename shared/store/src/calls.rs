//! `calls`: the finished calls the platform sends (`POST /v1/calls`), each stored once by its
//! call id, and what became of its logging in HubSpot.

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use uuid::Uuid;
use warp_domain::call::FinishedCall;

use crate::StoreError;
use crate::database::Database;
use crate::work_items::{WorkTable, claim_limits, claim_sql};

/// What taking a call in did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// Stored now; it will be logged in HubSpot.
    Queued,
    /// Its call id was stored before (by an earlier request, or earlier in this batch): nothing
    /// changed.
    Repeated,
}

impl Taken {
    pub fn as_str(&self) -> &'static str {
        match self {
            Taken::Queued => "queued",
            Taken::Repeated => "repeated",
        }
    }
}

/// A batch refused before anything was stored: the positions (in the batch) of the calls whose
/// customer does not exist or is deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCustomers(pub Vec<usize>);

/// Stores the calls not stored before, in one statement (a batch is stored whole or not at all).
/// Answers, per call in order, whether it was stored now or repeats one stored before.
pub async fn take_in(
    database: &Database,
    calls: &[FinishedCall],
) -> Result<Result<Vec<Taken>, UnknownCustomers>, StoreError> {
    let client = database.client().await?;
    let customer_ids: Vec<Uuid> = calls.iter().map(|call| call.customer_id).collect();
    let known: std::collections::HashSet<Uuid> = client
        .query_typed(
            "SELECT id FROM customers WHERE id = ANY($1) AND deleted_at IS NULL",
            &[(&customer_ids, Type::UUID_ARRAY)],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let unknown: Vec<usize> = (0..calls.len())
        .filter(|index| !known.contains(&calls[*index].customer_id))
        .collect();
    if !unknown.is_empty() {
        return Ok(Err(UnknownCustomers(unknown)));
    }
    let column = |part: fn(&FinishedCall) -> String| calls.iter().map(part).collect::<Vec<_>>();
    let call_ids = column(|c| c.call_id.as_str().to_owned());
    let directions = column(|c| c.direction.as_str().to_owned());
    let from = column(|c| c.from.as_str().to_owned());
    let to = column(|c| c.to.as_str().to_owned());
    let outcomes = column(|c| c.outcome.as_str().to_owned());
    let started_at: Vec<DateTime<Utc>> = calls.iter().map(|c| c.started_at).collect();
    let durations: Vec<i64> = calls.iter().map(|c| c.duration_ms).collect();
    let recordings: Vec<Option<&str>> = calls
        .iter()
        .map(|c| c.recording_url.as_ref().map(|url| url.as_str()))
        .collect();
    let summaries: Vec<Option<&str>> = calls.iter().map(|c| c.summary.as_deref()).collect();
    let stored: std::collections::HashSet<String> = client
        .query_typed(
            "INSERT INTO calls (call_id, customer_id, direction, from_number, to_number, \
                 started_at, duration_ms, outcome, recording_url, summary) \
             SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], \
                 $6::timestamptz[], $7::int8[], $8::text[], $9::text[], $10::text[]) \
             ON CONFLICT (call_id) DO NOTHING \
             RETURNING call_id",
            &[
                (&call_ids, Type::TEXT_ARRAY),
                (&customer_ids, Type::UUID_ARRAY),
                (&directions, Type::TEXT_ARRAY),
                (&from, Type::TEXT_ARRAY),
                (&to, Type::TEXT_ARRAY),
                (&started_at, Type::TIMESTAMPTZ_ARRAY),
                (&durations, Type::INT8_ARRAY),
                (&outcomes, Type::TEXT_ARRAY),
                (&recordings, Type::TEXT_ARRAY),
                (&summaries, Type::TEXT_ARRAY),
            ],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    // The first of a call id repeated within the batch is the one stored.
    let mut seen = std::collections::HashSet::new();
    Ok(Ok(call_ids
        .iter()
        .map(|id| {
            if seen.insert(id) && stored.contains(id) {
                Taken::Queued
            } else {
                Taken::Repeated
            }
        })
        .collect()))
}

/// A stored call and its logging, as `GET /v1/calls/{call_id}` answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCall {
    pub call_id: String,
    pub customer_id: Uuid,
    pub direction: String,
    pub from_number: String,
    pub to_number: String,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i64,
    pub outcome: String,
    pub recording_url: Option<String>,
    pub has_summary: bool,
    pub received_at: DateTime<Utc>,
    /// `pending`, `success`, `skipped` or `error`.
    pub status: String,
    pub attempts: i32,
    pub portal_id: Option<i64>,
    pub contact_id: Option<String>,
    pub engagement_id: Option<String>,
    pub note_id: Option<String>,
    pub reason: Option<String>,
    pub logged_at: Option<DateTime<Utc>>,
}

/// The columns of a [`StoredCall`], in the order [`stored_call`] reads them.
const STORED_CALL: &str = "call_id, customer_id, direction, from_number, to_number, started_at, \
     duration_ms, outcome, recording_url, summary IS NOT NULL, received_at, status, attempts, \
     portal_id, contact_id, engagement_id, note_id, reason, logged_at";

fn stored_call(row: &tokio_postgres::Row) -> StoredCall {
    StoredCall {
        call_id: row.get(0),
        customer_id: row.get(1),
        direction: row.get(2),
        from_number: row.get(3),
        to_number: row.get(4),
        started_at: row.get(5),
        duration_ms: row.get(6),
        outcome: row.get(7),
        recording_url: row.get(8),
        has_summary: row.get(9),
        received_at: row.get(10),
        status: row.get(11),
        attempts: row.get(12),
        portal_id: row.get(13),
        contact_id: row.get(14),
        engagement_id: row.get(15),
        note_id: row.get(16),
        reason: row.get(17),
        logged_at: row.get(18),
    }
}

/// The call stored under `call_id`, if any.
pub async fn get(database: &Database, call_id: &str) -> Result<Option<StoredCall>, StoreError> {
    let client = database.client().await?;
    let rows = client
        .query_typed(
            &format!("SELECT {STORED_CALL} FROM calls WHERE call_id = $1"),
            &[(&call_id, Type::TEXT)],
        )
        .await?;
    Ok(rows.first().map(stored_call))
}

/// Most rows a page of the call log holds.
pub const MAX_LOG_LIMIT: u32 = 100;
/// How deep offset paging goes (past it, cursors).
pub const MAX_LOG_OFFSET: u32 = 10_000;

/// What `GET /v1/hubspot/sync-logs` filters calls by; every filter optional.
#[derive(Debug, Clone, Default)]
pub struct CallLogQuery {
    /// `pending`, `success`, `skipped` or `error`.
    pub status: Option<&'static str>,
    pub customer_id: Option<Uuid>,
    pub limit: u32,
    /// Rows to skip (offset paging; the page then carries `total`).
    pub offset: u32,
    /// A `next_cursor` of an earlier page: the rows after it.
    pub cursor: Option<String>,
}

/// One page of the call log, newest first.
#[derive(Debug, Clone, Default)]
pub struct CallLogPage {
    pub items: Vec<StoredCall>,
    /// Calls matching the filters in all; counted for offset paging only (a cursor's pages
    /// skip the count, which grows costly with the table).
    pub total: Option<i64>,
    pub next_cursor: Option<String>,
}

/// A page of stored calls and their logging, newest first, keyed on arrival.
pub async fn list_log(
    database: &Database,
    query: &CallLogQuery,
) -> Result<CallLogPage, StoreError> {
    let before = query
        .cursor
        .as_deref()
        .map(crate::sync_reports::decode_log_cursor)
        .transpose()?;
    let limit = i64::from(query.limit.clamp(1, MAX_LOG_LIMIT));
    let offset = i64::from(query.offset.min(MAX_LOG_OFFSET));
    let client = database.client().await?;
    let filters = "($1::text IS NULL OR status = $1) AND ($2::uuid IS NULL OR customer_id = $2)";
    let rows = client
        .query_typed(
            &format!(
                "SELECT {STORED_CALL}, seq FROM calls WHERE {filters} \
                   AND ($3::int8 IS NULL OR seq < $3) \
                 ORDER BY seq DESC LIMIT $4 OFFSET $5"
            ),
            &[
                (&query.status, Type::TEXT),
                (&query.customer_id, Type::UUID),
                (&before, Type::INT8),
                (&(limit + 1), Type::INT8),
                (&offset, Type::INT8),
            ],
        )
        .await?;
    let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    let shown = &rows[..rows.len().min(usize::try_from(limit).unwrap_or(usize::MAX))];
    let next_cursor = more
        .then(|| {
            shown
                .last()
                .map(|row| crate::sync_reports::encode_log_cursor(row.get(19)))
        })
        .flatten();
    let total = if before.is_none() {
        let count = client
            .query_typed(
                &format!("SELECT count(*) FROM calls WHERE {filters}"),
                &[
                    (&query.status, Type::TEXT),
                    (&query.customer_id, Type::UUID),
                ],
            )
            .await?;
        Some(count[0].get(0))
    } else {
        None
    };
    Ok(CallLogPage {
        items: shown.iter().map(stored_call).collect(),
        total,
        next_cursor,
    })
}

/// A call due for logging, claimed for one pass, with where it would go: its customer's own
/// portal (and that installation's status) and its customer's company in the home portal.
#[derive(Debug, Clone, PartialEq)]
pub struct DueCall {
    pub id: Uuid,
    pub call_id: String,
    pub customer_id: Uuid,
    pub direction: String,
    pub from_number: String,
    pub to_number: String,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i64,
    pub outcome: String,
    pub recording_url: Option<String>,
    pub summary: Option<String>,
    /// Counting this one.
    pub attempts: i32,
    /// The customer's company in the home portal, when linked.
    pub home_company_id: Option<String>,
    /// The customer's own connected portal and its installation's status text.
    pub customer_portal: Option<(i64, String)>,
}

/// Claims up to `limit` calls due for logging, oldest due first, for `lease` (another pass
/// takes them again only after it, should this one die), counting the attempt.
pub async fn claim_due(
    database: &Database,
    limit: usize,
    lease: std::time::Duration,
) -> Result<Vec<DueCall>, StoreError> {
    let client = database.client().await?;
    let (limit, lease_ms) = claim_limits(limit, lease);
    let rows = client
        .query_typed(
            &claim_sql(
                WorkTable::Calls,
                "w.id, w.call_id, w.customer_id, w.direction, w.from_number, w.to_number, \
                 w.started_at, w.duration_ms, w.outcome, w.recording_url, w.summary, w.attempts, \
                 (SELECT external_ids->>'hubspot_company_id' FROM customers WHERE id = w.customer_id), \
                 (SELECT portal_id FROM hubspot_installations WHERE customer_id = w.customer_id), \
                 (SELECT status FROM hubspot_installations WHERE customer_id = w.customer_id)",
            ),
            &[(&limit, Type::INT8), (&lease_ms, Type::INT8)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| DueCall {
            id: row.get(0),
            call_id: row.get(1),
            customer_id: row.get(2),
            direction: row.get(3),
            from_number: row.get(4),
            to_number: row.get(5),
            started_at: row.get(6),
            duration_ms: row.get(7),
            outcome: row.get(8),
            recording_url: row.get(9),
            summary: row.get(10),
            attempts: row.get(11),
            home_company_id: row.get(12),
            customer_portal: row
                .get::<_, Option<i64>>(13)
                .zip(row.get::<_, Option<String>>(14)),
        })
        .collect())
}
