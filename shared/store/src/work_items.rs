//! Tables whose rows are their own work item, written to HubSpot once and never diffed (a
//! finished call, an account event, a ticket alert): claimed for a lease, then settled as written, skipped,
//! refused, or to be tried again.

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use uuid::Uuid;
use warp_domain::storable::storable;

use crate::StoreError;
use crate::database::Database;

/// A table of work items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkTable {
    Calls,
    AccountEvents,
    TicketAlerts,
}

impl WorkTable {
    fn name(self) -> &'static str {
        match self {
            WorkTable::Calls => "calls",
            WorkTable::AccountEvents => "account_events",
            WorkTable::TicketAlerts => "ticket_alerts",
        }
    }

    /// The HubSpot ids a written item records, in the order [`Settlement::Written`] gives them.
    fn written_columns(self) -> &'static [&'static str] {
        match self {
            WorkTable::Calls => &["contact_id", "engagement_id", "note_id"],
            WorkTable::AccountEvents => &["note_id"],
            WorkTable::TicketAlerts => &["hubspot_id"],
        }
    }
}

/// What became of one claimed item.
#[derive(Debug, Clone, PartialEq)]
pub enum Settlement {
    /// Written in `portal_id`; `ids` are the HubSpot ids of the table's written columns.
    Written {
        portal_id: i64,
        ids: Vec<Option<String>>,
    },
    /// Not written, for good, for `reason`.
    Skipped {
        portal_id: Option<i64>,
        reason: String,
    },
    /// Refused for good (HubSpot's message).
    Failed {
        portal_id: Option<i64>,
        reason: String,
    },
    /// Tried again at `retry_at`; a wait (a portal to reconnect) does not count as an attempt.
    Later {
        reason: String,
        retry_at: DateTime<Utc>,
        counts_as_attempt: bool,
    },
}

/// The claim of up to `$1` due items for `$2` milliseconds, counting the attempt; `returning`
/// names the columns answered (of the table, aliased `w`).
pub(crate) fn claim_sql(table: WorkTable, returning: &str) -> String {
    let name = table.name();
    format!(
        "WITH due AS (SELECT id FROM {name} WHERE status = 'pending' AND next_attempt_at <= now() \
             ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) \
         UPDATE {name} w SET attempts = w.attempts + 1, \
             next_attempt_at = now() + $2 * interval '1 millisecond' \
         FROM due WHERE w.id = due.id RETURNING {returning}"
    )
}

/// The claim's parameters: how many, and the lease in milliseconds.
pub(crate) fn claim_limits(limit: usize, lease: std::time::Duration) -> (i64, i64) {
    (
        i64::try_from(limit).unwrap_or(i64::MAX),
        i64::try_from(lease.as_millis()).unwrap_or(i64::MAX),
    )
}

/// Records what became of the claimed item `id` of `table`.
pub async fn settle(
    database: &Database,
    table: WorkTable,
    id: Uuid,
    settlement: &Settlement,
) -> Result<(), StoreError> {
    let client = database.client().await?;
    let name = table.name();
    match settlement {
        Settlement::Written { portal_id, ids } => {
            let columns = table.written_columns();
            if ids.len() != columns.len() {
                return Err(StoreError::Other(format!(
                    "{name} records {} HubSpot ids, {} given",
                    columns.len(),
                    ids.len()
                )));
            }
            let sets: String = columns
                .iter()
                .enumerate()
                .map(|(index, column)| format!(", {column} = ${}", index + 3))
                .collect();
            let mut params: Vec<(&(dyn tokio_postgres::types::ToSql + Sync), Type)> =
                vec![(&id, Type::UUID), (portal_id, Type::INT8)];
            params.extend(ids.iter().map(|value| (value as _, Type::TEXT)));
            client
                .execute_typed(
                    &format!(
                        "UPDATE {name} SET status = 'success', portal_id = $2{sets}, \
                             reason = NULL, logged_at = now() WHERE id = $1"
                    ),
                    &params,
                )
                .await?;
        }
        Settlement::Skipped { portal_id, reason } | Settlement::Failed { portal_id, reason } => {
            let status = if matches!(settlement, Settlement::Skipped { .. }) {
                "skipped"
            } else {
                "error"
            };
            client
                .execute_typed(
                    &format!(
                        "UPDATE {name} SET status = $2, portal_id = $3, reason = $4, \
                             logged_at = now() WHERE id = $1"
                    ),
                    &[
                        (&id, Type::UUID),
                        (&status, Type::TEXT),
                        (portal_id, Type::INT8),
                        (&storable(reason).into_owned(), Type::TEXT),
                    ],
                )
                .await?;
        }
        Settlement::Later {
            reason,
            retry_at,
            counts_as_attempt,
        } => {
            client
                .execute_typed(
                    &format!(
                        "UPDATE {name} SET reason = $2, next_attempt_at = $3, \
                             attempts = CASE WHEN $4 THEN attempts ELSE greatest(attempts - 1, 0) END \
                         WHERE id = $1 AND status = 'pending'"
                    ),
                    &[
                        (&id, Type::UUID),
                        (&storable(reason).into_owned(), Type::TEXT),
                        (retry_at, Type::TIMESTAMPTZ),
                        (counts_as_attempt, Type::BOOL),
                    ],
                )
                .await?;
        }
    }
    Ok(())
}
