//! What operators read about the sync (`GET /v1/sync/status`, `GET /v1/sync/logs`), straight
//! from the sync tables, and the one operator write beside them: linking a customer to an
//! existing HubSpot company. Every read here is of ids, counts, times and field names; none
//! returns customer values.

use crate::outbox::{self, OutboxOperation};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;
use warp_domain::customer::Customer;
use warp_domain::sync::ObjectType;

use crate::inbound::{self, InboundLogEntry, InboundLogStatus};
use crate::{Database, StoreError};

/// Outbox rows by state (every direction).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    pub pending: i64,
    pub in_flight: i64,
    pub done: i64,
    pub failed: i64,
}

/// The newest finished reconciliation run, as its row records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconciliationSummary {
    pub id: Uuid,
    pub status: String,
    pub dry_run: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub customers_checked: i64,
    pub companies_checked: i64,
    pub drift_found: i64,
    pub drift_fixed: i64,
    pub errors: i64,
    pub duration_ms: Option<i64>,
}

/// The sync's health at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncStatus {
    pub outbox: OutboxCounts,
    /// The same counts per object type (companies, contacts), every type present.
    pub outbox_by_object_type: Vec<(ObjectType, OutboxCounts)>,
    /// Seconds the oldest PENDING or IN_FLIGHT row has waited since it was written.
    pub oldest_pending_age_seconds: Option<i64>,
    pub last_webhook_received_at: Option<DateTime<Utc>>,
    pub last_reconciliation: Option<ReconciliationSummary>,
    /// HubSpot 429 answers recorded by the shared rate budget in the last hour.
    pub rate_limited_last_hour: i64,
    /// Webhook events kept but never applied because their portal is not installed (unknown
    /// or disconnected), by portal.
    pub unrouted_webhook_events: Vec<(i64, i64)>,
}

/// Reads the whole status in one round trip. The webhook and reconciliation lookups go by
/// primary key and `finished_at` order, and the 429 count by its time index; only the outbox
/// counts read the queue table itself.
pub async fn sync_status(database: &Database) -> Result<SyncStatus, StoreError> {
    let client = database.client().await?;
    let row = client
        .query_typed_one(
            "SELECT \
               counted.object_types, counted.statuses, counted.counts, \
               (SELECT floor(extract(epoch FROM now() - min(created_at)))::bigint \
                  FROM hubspot_sync_queue WHERE status IN ('PENDING', 'IN_FLIGHT')), \
               (SELECT received_at FROM hubspot_webhook_events \
                  WHERE change_source IS DISTINCT FROM 'RECONCILIATION' ORDER BY id DESC LIMIT 1), \
               (SELECT count(*) FROM hubspot_rate_limit_events \
                  WHERE occurred_at > now() - interval '1 hour') \
             FROM (SELECT array_agg(object_type) AS object_types, array_agg(status) AS statuses, \
                          array_agg(n) AS counts \
                     FROM (SELECT object_type, status, count(*) AS n FROM hubspot_sync_queue \
                            GROUP BY object_type, status) AS grouped) AS counted",
            &[],
        )
        .await?;
    let object_types: Option<Vec<String>> = row.try_get(0)?;
    let statuses: Option<Vec<String>> = row.try_get(1)?;
    let counts: Option<Vec<i64>> = row.try_get(2)?;
    let mut by_type: std::collections::BTreeMap<ObjectType, OutboxCounts> = ObjectType::ALL
        .into_iter()
        .map(|object_type| (object_type, OutboxCounts::default()))
        .collect();
    let grouped = object_types
        .unwrap_or_default()
        .into_iter()
        .zip(statuses.unwrap_or_default())
        .zip(counts.unwrap_or_default());
    for ((object_type, status), n) in grouped {
        let counts = by_type
            .entry(crate::object_type_column(object_type)?)
            .or_default();
        match status.as_str() {
            "PENDING" => counts.pending += n,
            "IN_FLIGHT" => counts.in_flight += n,
            "DONE" => counts.done += n,
            _ => counts.failed += n,
        }
    }
    let outbox = by_type
        .values()
        .fold(OutboxCounts::default(), |sum, c| OutboxCounts {
            pending: sum.pending + c.pending,
            in_flight: sum.in_flight + c.in_flight,
            done: sum.done + c.done,
            failed: sum.failed + c.failed,
        });
    let reconciliation = client
        .query_typed_opt(
            "SELECT id, status, dry_run, started_at, finished_at, customers_checked, \
               companies_checked, drift_found, drift_fixed, errors, duration_ms \
             FROM hubspot_reconciliation_runs WHERE finished_at IS NOT NULL \
             ORDER BY finished_at DESC, id DESC LIMIT 1",
            &[],
        )
        .await?
        .map(|run| reconciliation_from_row(&run))
        .transpose()?;
    let unrouted = client
        .query_typed(
            "SELECT portal_id, count(*) FROM hubspot_webhook_events WHERE status = 'UNROUTED' \
             GROUP BY portal_id ORDER BY portal_id",
            &[],
        )
        .await?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<_, StoreError>>()?;
    Ok(SyncStatus {
        outbox,
        outbox_by_object_type: by_type.into_iter().collect(),
        oldest_pending_age_seconds: row.try_get(3)?,
        last_webhook_received_at: row.try_get(4)?,
        last_reconciliation: reconciliation,
        rate_limited_last_hour: row.try_get(5)?,
        unrouted_webhook_events: unrouted,
    })
}

fn reconciliation_from_row(row: &Row) -> Result<ReconciliationSummary, StoreError> {
    Ok(ReconciliationSummary {
        id: row.try_get("id")?,
        status: row.try_get("status")?,
        dry_run: row.try_get("dry_run")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        customers_checked: row.try_get("customers_checked")?,
        companies_checked: row.try_get("companies_checked")?,
        drift_found: row.try_get("drift_found")?,
        drift_fixed: row.try_get("drift_fixed")?,
        errors: row.try_get("errors")?,
        duration_ms: row.try_get("duration_ms")?,
    })
}

/// The outcomes a sync-log row can record (the table's CHECK constraint).
pub const LOG_STATUSES: [&str; 5] = ["SUCCESS", "FAILED", "SKIPPED", "OVERRIDDEN", "CONFLICT"];
/// The directions a sync-log row can record.
pub const LOG_DIRECTIONS: [&str; 2] = ["OUTBOUND", "INBOUND"];

/// Filters and paging of the sync log, newest first. `status` and `direction` must be one of
/// [`LOG_STATUSES`] and [`LOG_DIRECTIONS`] (the caller validates).
#[derive(Debug, Clone, Default)]
pub struct SyncLogQuery {
    pub status: Option<&'static str>,
    pub direction: Option<&'static str>,
    pub object_type: Option<ObjectType>,
    /// One WARP record's rows (a customer's or a user's).
    pub local_id: Option<Uuid>,
    /// One portal's rows.
    pub portal_id: Option<i64>,
    /// 1..=200 (clamped).
    pub limit: u32,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One row of `hubspot_sync_log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncLogEntry {
    pub id: i64,
    pub portal_id: i64,
    pub queue_id: Option<i64>,
    pub object_type: ObjectType,
    pub local_id: Option<Uuid>,
    pub direction: String,
    pub operation: String,
    pub status: String,
    pub fields: Vec<String>,
    pub hubspot_id: Option<String>,
    pub error: Option<String>,
    pub started_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// One page of the sync log.
#[derive(Debug, Clone)]
pub struct SyncLogPage {
    pub items: Vec<SyncLogEntry>,
    pub next_cursor: Option<String>,
}

/// Largest page of the sync log.
pub const MAX_LOG_LIMIT: u32 = 200;

/// The opaque cursor of a log page: the last id, so pages stay stable while rows are added.
pub fn encode_log_cursor(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(id.to_be_bytes())
}

/// `InvalidCursor` for anything [`encode_log_cursor`] cannot have made. Every 8-byte value is
/// accepted, so the cursor's documented pattern is exact; one that is no id gives an empty page.
pub fn decode_log_cursor(cursor: &str) -> Result<i64, StoreError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
        .map(i64::from_be_bytes)
        .ok_or(StoreError::InvalidCursor)
}

/// One page of the sync log, newest first, keyset-paged on id.
pub async fn list_sync_log(
    database: &Database,
    query: &SyncLogQuery,
) -> Result<SyncLogPage, StoreError> {
    let limit = i64::from(query.limit.clamp(1, MAX_LOG_LIMIT));
    let before = query.cursor.as_deref().map(decode_log_cursor).transpose()?;
    let fetch = limit + 1;
    let client = database.client().await?;
    let rows = client
        .query_typed(
            "SELECT id, portal_id, queue_id, local_id, direction, operation, status, \
               fields_synced, hubspot_id, error, started_at, completed_at, object_type \
             FROM hubspot_sync_log \
             WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR direction = $2) \
               AND ($3::uuid IS NULL OR local_id = $3) AND ($4::bigint IS NULL OR id < $4) \
               AND ($6::text IS NULL OR object_type = $6) AND ($7::bigint IS NULL OR portal_id = $7) \
             ORDER BY id DESC LIMIT $5",
            &[
                (&query.status, Type::TEXT),
                (&query.direction, Type::TEXT),
                (&query.local_id, Type::UUID),
                (&before, Type::INT8),
                (&fetch, Type::INT8),
                (&query.object_type.map(ObjectType::as_str), Type::TEXT),
                (&query.portal_id, Type::INT8),
            ],
        )
        .await?;
    let mut items = rows
        .iter()
        .map(|row| {
            Ok(SyncLogEntry {
                id: row.try_get(0)?,
                portal_id: row.try_get(1)?,
                queue_id: row.try_get(2)?,
                object_type: crate::object_type_column(row.try_get(12)?)?,
                local_id: row.try_get(3)?,
                direction: row.try_get(4)?,
                operation: row.try_get(5)?,
                status: row.try_get(6)?,
                fields: row.try_get(7)?,
                hubspot_id: row.try_get(8)?,
                error: row.try_get(9)?,
                started_at: row.try_get(10)?,
                completed_at: row.try_get(11)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next_cursor = if more {
        items.last().map(|entry| encode_log_cursor(entry.id))
    } else {
        None
    };
    Ok(SyncLogPage { items, next_cursor })
}

/// The sync-log operation of an operator's link.
pub const LINK_OPERATION: &str = "LINK";

/// Why a link was refused.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("no such customer")]
    CustomerNotFound,
    #[error("the customer is deleted")]
    CustomerDeleted,
    /// Another customer holds this company (`None` when a concurrent link won the race).
    #[error("the company is linked to another customer")]
    CompanyLinkedElsewhere { customer_id: Option<Uuid> },
    /// The customer is linked to a different company; relinking would leave its BAN on two.
    #[error("the customer is linked to another company")]
    CustomerLinkedElsewhere { company_id: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<tokio_postgres::Error> for LinkError {
    fn from(error: tokio_postgres::Error) -> Self {
        LinkError::Store(error.into())
    }
}

impl From<crate::DatabaseError> for LinkError {
    fn from(error: crate::DatabaseError) -> Self {
        LinkError::Store(error.into())
    }
}

/// A link made now, or the one that already existed.
#[derive(Debug, Clone)]
pub enum Linked {
    /// The customer was linked already to this company: nothing was written.
    Already(Customer),
    /// Linked now (version + 1), with the RESYNC outbox row that pushes every mapped field
    /// (publish it after this returns).
    New { customer: Customer, outbox_id: i64 },
}

/// Links a customer to an existing HubSpot company, in one transaction: the link, a RESYNC
/// outbox row (so HubSpot gets warp_ban and every other mapped value) and an INBOUND `LINK`
/// row in the sync log. The caller checks that the company exists in HubSpot first.
pub async fn link_customer_to_company(
    database: &Database,
    portal_id: i64,
    customer_id: Uuid,
    company_id: &str,
    actor: Option<&crate::audit::Actor>,
) -> Result<Linked, LinkError> {
    let mut client = database.client().await?;
    let transaction = client.transaction().await?;
    let tx: &tokio_postgres::Transaction<'_> = &transaction;
    let pair = [(customer_id, company_id.to_owned())];
    let mut done = match link_customers_in(tx, portal_id, &pair).await {
        Ok(done) => done,
        // The unique index: a concurrent link to the same company committed first.
        Err(StoreError::Conflict(_)) => {
            return Err(LinkError::CompanyLinkedElsewhere { customer_id: None });
        }
        Err(other) => return Err(other.into()),
    };
    if let Some((_, _, refused)) = done.refused.pop() {
        return Err(refused);
    }
    let customer = inbound::lock_by_id(tx, customer_id)
        .await?
        .ok_or(LinkError::CustomerNotFound)?;
    let linked = match done.linked.pop() {
        Some((_, _, outbox_id)) => {
            if let Some(actor) = actor {
                let changes = serde_json::json!({
                    "hubspot_company_id": {"old": null, "new": company_id}
                });
                crate::audit::record(
                    tx,
                    actor,
                    crate::audit::EntityType::Customer,
                    customer_id,
                    "link",
                    &changes,
                )
                .await?;
            }
            Linked::New {
                customer,
                outbox_id,
            }
        }
        None => {
            // A hold on a linked customer was left by an unlink that never finished, or a
            // push that landed meanwhile: linking it again is how a person says it is right.
            crate::manual_links::release(tx, portal_id, ObjectType::Companies, &[customer_id])
                .await?;
            Linked::Already(customer)
        }
    };
    transaction.commit().await?;
    Ok(linked)
}

/// What [`link_customers_in`] did with a page of (customer, company) pairs.
#[derive(Debug, Default)]
pub struct LinkedMany {
    /// Linked now: (customer, company, the RESYNC outbox row to publish after the commit).
    pub linked: Vec<(Uuid, String, i64)>,
    /// Linked to that company already: nothing written.
    pub already: usize,
    /// Refused, with why; nothing written for them.
    pub refused: Vec<(Uuid, String, LinkError)>,
}

/// Links many (customer, company) pairs in a few statements (an import links a page at a time):
/// every customer and every company's holder locked at once, the checks made per pair (a
/// customer or company named twice keeps its first pair), then one update, one outbox insert
/// and one log insert for those free to link.
pub async fn link_customers_in(
    tx: &tokio_postgres::Transaction<'_>,
    portal_id: i64,
    pairs: &[(Uuid, String)],
) -> Result<LinkedMany, StoreError> {
    let mut result = LinkedMany::default();
    if pairs.is_empty() {
        return Ok(result);
    }
    let ids: Vec<Uuid> = pairs.iter().map(|(id, _)| *id).collect();
    let customers: std::collections::HashMap<Uuid, Customer> = inbound::lock_by_ids(tx, &ids)
        .await?
        .into_iter()
        .map(|customer| (customer.id, customer))
        .collect();
    let companies: Vec<String> = pairs.iter().map(|(_, company)| company.clone()).collect();
    let mut holders: std::collections::HashMap<String, Uuid> =
        inbound::lock_by_hubspot_companies(tx, &companies)
            .await?
            .into_iter()
            .filter_map(|holder| Some((holder.external_ids.hubspot_company_id?, holder.id)))
            .collect();
    let mut taken_customers = std::collections::HashSet::new();
    let mut free = Vec::new();
    for (customer_id, company) in pairs {
        let refusal = match customers.get(customer_id) {
            None => Some(LinkError::CustomerNotFound),
            Some(customer) if customer.is_deleted() => Some(LinkError::CustomerDeleted),
            Some(customer) => match customer.external_ids.hubspot_company_id.as_deref() {
                Some(linked) if linked == company => {
                    result.already += 1;
                    continue;
                }
                Some(other) => Some(LinkError::CustomerLinkedElsewhere {
                    company_id: other.to_owned(),
                }),
                None => match holders.get(company) {
                    Some(holder) => Some(LinkError::CompanyLinkedElsewhere {
                        customer_id: Some(*holder),
                    }),
                    None if !taken_customers.insert(*customer_id) => {
                        Some(LinkError::CustomerLinkedElsewhere {
                            company_id: "another company of this page".to_owned(),
                        })
                    }
                    None => None,
                },
            },
        };
        match refusal {
            Some(refusal) => result
                .refused
                .push((*customer_id, company.clone(), refusal)),
            None => {
                holders.insert(company.clone(), *customer_id);
                free.push((*customer_id, company.clone()));
            }
        }
    }
    let versions = inbound::link_companies_many(tx, &free).await?;
    let linked_ids: Vec<Uuid> = free.iter().map(|(customer, _)| *customer).collect();
    crate::manual_links::release(tx, portal_id, ObjectType::Companies, &linked_ids).await?;
    let queued = outbox::enqueue_many(
        tx,
        portal_id,
        ObjectType::Companies,
        OutboxOperation::Resync,
        &versions,
    )
    .await?;
    let outbox_of: std::collections::HashMap<Uuid, i64> = queued.into_iter().collect();
    let entries: Vec<InboundLogEntry> = free
        .iter()
        .map(|(customer, company)| InboundLogEntry {
            portal_id,
            object_type: ObjectType::Companies,
            local_id: Some(*customer),
            queue_id: outbox_of.get(customer).copied(),
            operation: LINK_OPERATION,
            status: InboundLogStatus::Success,
            fields: Vec::new(),
            hubspot_id: Some(company.clone()),
            error: None,
        })
        .collect();
    inbound::log_inbound_many(tx, &entries).await?;
    result.linked = free
        .into_iter()
        .filter_map(|(customer, company)| {
            let outbox_id = *outbox_of.get(&customer)?;
            Some((customer, company, outbox_id))
        })
        .collect();
    Ok(result)
}

/// The customers (deleted or not) linked to any of these HubSpot companies, by company id.
pub async fn customers_linked_to(
    database: &Database,
    company_ids: &[String],
) -> Result<std::collections::HashMap<String, Uuid>, StoreError> {
    if company_ids.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    let client = database.client().await?;
    Ok(
        crate::customers::linked_to_companies(&**client, company_ids)
            .await?
            .into_iter()
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_cursors_round_trip_and_refuse_anything_else() {
        for id in [1_i64, 42, i64::MAX, 0, -5] {
            assert_eq!(decode_log_cursor(&encode_log_cursor(id)).unwrap(), id);
        }
        for bad in ["", "not base64!", "AAAA", "AAAAAAAAAAB", "AAAAAAAAAAAA"] {
            assert!(
                matches!(decode_log_cursor(bad), Err(StoreError::InvalidCursor)),
                "{bad:?}"
            );
        }
    }
}
