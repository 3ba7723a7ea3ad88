//! `account_events`: a customer's status, credit limit or services changed (migration V27's
//! trigger records each, whoever wrote it), and what became of its note on the company.

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::StoreError;
use crate::database::Database;
use crate::work_items::{WorkTable, claim_limits, claim_sql};

/// An event due for its note, claimed for one pass, with its account and its company.
#[derive(Debug, Clone, PartialEq)]
pub struct DueEvent {
    pub id: Uuid,
    /// The note's `warp_event_id`.
    pub event_id: String,
    pub customer_id: Uuid,
    pub kind: String,
    pub details: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
    /// Counting this one.
    pub attempts: i32,
    pub ban: String,
    /// The customer's company in the home portal, when linked.
    pub company_id: Option<String>,
}

/// Claims up to `limit` events due for their note, oldest due first, for `lease`.
pub async fn claim_due(
    database: &Database,
    limit: usize,
    lease: std::time::Duration,
) -> Result<Vec<DueEvent>, StoreError> {
    let client = database.client().await?;
    let (limit, lease_ms) = claim_limits(limit, lease);
    let rows = client
        .query_typed(
            &claim_sql(
                WorkTable::AccountEvents,
                "w.id, w.event_id, w.customer_id, w.kind, w.details, w.occurred_at, w.attempts, \
                 (SELECT ban FROM customers WHERE id = w.customer_id), \
                 (SELECT external_ids->>'hubspot_company_id' FROM customers WHERE id = w.customer_id)",
            ),
            &[(&limit, Type::INT8), (&lease_ms, Type::INT8)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| DueEvent {
            id: row.get(0),
            event_id: row.get(1),
            customer_id: row.get(2),
            kind: row.get(3),
            details: row.get(4),
            occurred_at: row.get(5),
            attempts: row.get(6),
            ban: row.get(7),
            company_id: row.get(8),
        })
        .collect())
}

/// An event and its note, as tests and the log read it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub event_id: String,
    pub kind: String,
    pub details: serde_json::Value,
    pub status: String,
    pub note_id: Option<String>,
    pub reason: Option<String>,
    pub attempts: i32,
}

/// The customer's events, oldest first.
pub async fn of_customer(
    database: &Database,
    customer_id: Uuid,
) -> Result<Vec<StoredEvent>, StoreError> {
    let client = database.client().await?;
    let rows = client
        .query_typed(
            "SELECT event_id, kind, details, status, note_id, reason, attempts FROM account_events \
             WHERE customer_id = $1 ORDER BY seq",
            &[(&customer_id, Type::UUID)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| StoredEvent {
            event_id: row.get(0),
            kind: row.get(1),
            details: row.get(2),
            status: row.get(3),
            note_id: row.get(4),
            reason: row.get(5),
            attempts: row.get(6),
        })
        .collect())
}
