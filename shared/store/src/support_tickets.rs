//! `support_tickets` and `ticket_alerts` (migration V28): the platform's alerts, one open ticket
//! per (trigger, customer, trunk) that they gather on, and what became of each in HubSpot.

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use uuid::Uuid;
use warp_domain::storable::storable_opt;
use warp_domain::support_ticket::{Severity, TicketAlert, technical_details};

use crate::StoreError;
use crate::database::Database;
use crate::work_items::{WorkTable, claim_limits, claim_sql};

/// What an alert did to its ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raised {
    /// No ticket of its (trigger, customer, trunk) was open: it opens one.
    Opened,
    /// One was open: the alert becomes a note on it.
    Noted,
}

impl Raised {
    pub fn as_str(self) -> &'static str {
        match self {
            Raised::Opened => "opened",
            Raised::Noted => "noted",
        }
    }
}

/// The alert's customer does not exist or is deleted; nothing was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownCustomer;

/// A stored alert: its id, its ticket and what it did.
#[derive(Debug, Clone, PartialEq)]
pub struct RaisedAlert {
    pub alert_id: Uuid,
    pub ticket_id: Uuid,
    pub outcome: Raised,
}

/// The key a ticket is unique on while open.
struct TicketKey<'a> {
    trigger: &'a str,
    customer_id: Uuid,
    trunk_id: &'a str,
}

/// What an alert brings to the ticket it opens or joins.
struct AlertFields<'a> {
    severity: Severity,
    call_id: Option<&'a str>,
    issue_type: &'a str,
    subject: &'a str,
    details: &'a serde_json::Value,
}

/// Where an alert landed.
struct Attached {
    ticket_id: Uuid,
    opens: bool,
    number: i32,
    escalates: bool,
}

/// Stores an alert: on the open ticket of its key, or on a new one.
pub async fn raise(
    database: &Database,
    alert: &TicketAlert,
) -> Result<Result<RaisedAlert, UnknownCustomer>, StoreError> {
    let mut client = database.client().await?;
    let transaction = client.transaction().await?;
    let known = transaction
        .query_typed(
            "SELECT 1 FROM customers WHERE id = $1 AND deleted_at IS NULL FOR SHARE",
            &[(&alert.customer_id, Type::UUID)],
        )
        .await?;
    if known.is_empty() {
        return Ok(Err(UnknownCustomer));
    }
    let trunk_id = alert.trunk_id.as_ref().map_or("", |t| t.as_str());
    let key = TicketKey {
        trigger: alert.trigger.as_str(),
        customer_id: alert.customer_id,
        trunk_id,
    };
    let subject = alert.subject();
    let details = serde_json::Value::Object(alert.data.clone());
    let fields = AlertFields {
        severity: alert.severity,
        call_id: alert.call_id.as_ref().map(|c| c.as_str()),
        issue_type: alert.issue_type.as_str(),
        subject: &subject,
        details: &details,
    };
    let attached = attach(&transaction, &key, &fields).await?;
    let rows = transaction
        .query_typed(
            "INSERT INTO ticket_alerts (ticket_id, opens, number, severity, call_id, issue_type, \
                 subject, data, observed_at, escalates) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            &[
                (&attached.ticket_id, Type::UUID),
                (&attached.opens, Type::BOOL),
                (&attached.number, Type::INT4),
                (&alert.severity.as_str(), Type::TEXT),
                (&fields.call_id, Type::TEXT),
                (&fields.issue_type, Type::TEXT),
                (&subject, Type::TEXT),
                (&details, Type::JSONB),
                (&alert.observed_at, Type::TIMESTAMPTZ),
                (&attached.escalates, Type::BOOL),
            ],
        )
        .await?;
    transaction.commit().await?;
    Ok(Ok(RaisedAlert {
        alert_id: rows[0].get(0),
        ticket_id: attached.ticket_id,
        outcome: if attached.opens {
            Raised::Opened
        } else {
            Raised::Noted
        },
    }))
}

/// Opens a ticket for `key`, or joins the open one (raising its severity, and bringing its SLA
/// breach closer, when the alert is worse). A ticket opened concurrently is joined: the insert
/// waits for the other transaction and then finds its row; one closed in that instant is
/// replaced by a new one on the next round.
async fn attach(
    client: &deadpool_postgres::Transaction<'_>,
    key: &TicketKey<'_>,
    fields: &AlertFields<'_>,
) -> Result<Attached, StoreError> {
    for _ in 0..3 {
        if let Some(attached) = try_attach(client, key, fields).await? {
            return Ok(attached);
        }
    }
    Err(StoreError::Other(
        "the open ticket an alert joins kept closing while it was being stored".to_owned(),
    ))
}

async fn try_attach(
    client: &deadpool_postgres::Transaction<'_>,
    key: &TicketKey<'_>,
    fields: &AlertFields<'_>,
) -> Result<Option<Attached>, StoreError> {
    let sla_ms = fields.severity.sla().num_milliseconds();
    let opened = client
        .query_typed(
            "INSERT INTO support_tickets (customer_id, trigger, trunk_id, call_id, issue_type, \
                 severity, subject, details, sla_breach_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + $9 * interval '1 millisecond') \
             ON CONFLICT (trigger, customer_id, trunk_id) WHERE state = 'open' DO NOTHING \
             RETURNING id",
            &[
                (&key.customer_id, Type::UUID),
                (&key.trigger, Type::TEXT),
                (&key.trunk_id, Type::TEXT),
                (&fields.call_id, Type::TEXT),
                (&fields.issue_type, Type::TEXT),
                (&fields.severity.as_str(), Type::TEXT),
                (&fields.subject, Type::TEXT),
                (fields.details, Type::JSONB),
                (&sla_ms, Type::INT8),
            ],
        )
        .await?;
    if let Some(row) = opened.first() {
        return Ok(Some(Attached {
            ticket_id: row.get(0),
            opens: true,
            number: 1,
            escalates: false,
        }));
    }
    let open = client
        .query_typed(
            "SELECT id, severity FROM support_tickets \
             WHERE trigger = $1 AND customer_id = $2 AND trunk_id = $3 AND state = 'open' \
             FOR UPDATE",
            &[
                (&key.trigger, Type::TEXT),
                (&key.customer_id, Type::UUID),
                (&key.trunk_id, Type::TEXT),
            ],
        )
        .await?;
    let Some(row) = open.first() else {
        return Ok(None);
    };
    let ticket_id: Uuid = row.get(0);
    let current = Severity::parse(row.get(1)).unwrap_or(Severity::Low);
    let escalates = fields.severity > current;
    let severity = fields.severity.max(current).as_str();
    let rows = client
        .query_typed(
            "UPDATE support_tickets SET alerts = alerts + 1, last_alert_at = now(), \
                 severity = $2, \
                 sla_breach_at = CASE WHEN $3 \
                     THEN LEAST(sla_breach_at, now() + $4 * interval '1 millisecond') \
                     ELSE sla_breach_at END \
             WHERE id = $1 RETURNING alerts",
            &[
                (&ticket_id, Type::UUID),
                (&severity, Type::TEXT),
                (&escalates, Type::BOOL),
                (&sla_ms, Type::INT8),
            ],
        )
        .await?;
    Ok(Some(Attached {
        ticket_id,
        opens: false,
        number: rows[0].get(0),
        escalates,
    }))
}

/// A ticket as `GET /v1/support/tickets` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTicket {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub trigger: String,
    pub trunk_id: Option<String>,
    pub call_id: Option<String>,
    pub issue_type: String,
    pub severity: String,
    pub subject: String,
    pub opened_at: DateTime<Utc>,
    pub sla_breach_at: DateTime<Utc>,
    /// `open` or `closed` (closed in HubSpot, read back).
    pub state: String,
    pub closed_at: Option<DateTime<Utc>>,
    pub alerts: i32,
    pub last_alert_at: DateTime<Utc>,
    /// Alerts not yet written to HubSpot (the ticket itself, or notes).
    pub alerts_pending: i64,
    pub portal_id: Option<i64>,
    pub hubspot_ticket_id: Option<String>,
    pub pipeline_id: Option<String>,
    pub stage_id: Option<String>,
    pub stage_label: Option<String>,
    pub checked_at: Option<DateTime<Utc>>,
    /// Why the latest alert not written yet (or refused) is waiting, in words.
    pub reason: Option<String>,
}

const STORED_TICKET: &str = "t.id, t.customer_id, t.trigger, NULLIF(t.trunk_id, ''), t.call_id, \
    t.issue_type, t.severity, t.subject, t.opened_at, t.sla_breach_at, t.state, t.closed_at, \
    t.alerts, t.last_alert_at, \
    (SELECT count(*) FROM ticket_alerts a WHERE a.ticket_id = t.id AND a.status = 'pending'), \
    t.portal_id, t.hubspot_ticket_id, t.pipeline_id, t.stage_id, t.stage_label, t.checked_at, \
    (SELECT a.reason FROM ticket_alerts a WHERE a.ticket_id = t.id AND a.status <> 'success' \
        AND a.reason IS NOT NULL ORDER BY a.seq DESC LIMIT 1)";

fn stored_ticket(row: &tokio_postgres::Row) -> StoredTicket {
    StoredTicket {
        id: row.get(0),
        customer_id: row.get(1),
        trigger: row.get(2),
        trunk_id: row.get(3),
        call_id: row.get(4),
        issue_type: row.get(5),
        severity: row.get(6),
        subject: row.get(7),
        opened_at: row.get(8),
        sla_breach_at: row.get(9),
        state: row.get(10),
        closed_at: row.get(11),
        alerts: row.get(12),
        last_alert_at: row.get(13),
        alerts_pending: row.get(14),
        portal_id: row.get(15),
        hubspot_ticket_id: row.get(16),
        pipeline_id: row.get(17),
        stage_id: row.get(18),
        stage_label: row.get(19),
        checked_at: row.get(20),
        reason: row.get(21),
    }
}

pub async fn get(database: &Database, id: Uuid) -> Result<Option<StoredTicket>, StoreError> {
    let client = database.client().await?;
    let rows = client
        .query_typed(
            &format!("SELECT {STORED_TICKET} FROM support_tickets t WHERE t.id = $1"),
            &[(&id, Type::UUID)],
        )
        .await?;
    Ok(rows.first().map(stored_ticket))
}

/// The most a page holds.
pub const MAX_LIMIT: u32 = 100;

/// What `GET /v1/support/tickets` filters by; every filter optional.
#[derive(Debug, Clone, Default)]
pub struct TicketQuery {
    pub customer_id: Option<Uuid>,
    /// `open` or `closed`.
    pub state: Option<&'static str>,
    pub trigger: Option<String>,
    pub limit: u32,
    pub offset: u32,
}

/// A page of tickets, newest first, and how many match in all.
pub async fn list(
    database: &Database,
    query: &TicketQuery,
) -> Result<(Vec<StoredTicket>, i64), StoreError> {
    let client = database.client().await?;
    let filters = "($1::uuid IS NULL OR t.customer_id = $1) AND ($2::text IS NULL OR t.state = $2) \
                   AND ($3::text IS NULL OR t.trigger = $3)";
    let limit = i64::from(query.limit.clamp(1, MAX_LIMIT));
    let offset = i64::from(query.offset);
    let rows = client
        .query_typed(
            &format!(
                "SELECT {STORED_TICKET} FROM support_tickets t WHERE {filters} \
                 ORDER BY t.seq DESC LIMIT $4 OFFSET $5"
            ),
            &[
                (&query.customer_id, Type::UUID),
                (&query.state, Type::TEXT),
                (&query.trigger, Type::TEXT),
                (&limit, Type::INT8),
                (&offset, Type::INT8),
            ],
        )
        .await?;
    let total = client
        .query_typed(
            &format!("SELECT count(*) FROM support_tickets t WHERE {filters}"),
            &[
                (&query.customer_id, Type::UUID),
                (&query.state, Type::TEXT),
                (&query.trigger, Type::TEXT),
            ],
        )
        .await?;
    Ok((rows.iter().map(stored_ticket).collect(), total[0].get(0)))
}

/// An alert due to be written, claimed for one pass, with its ticket and customer.
#[derive(Debug, Clone, PartialEq)]
pub struct DueAlert {
    pub id: Uuid,
    pub ticket_id: Uuid,
    /// The alert that opens its ticket (creates it in HubSpot); else a note.
    pub opens: bool,
    pub number: i32,
    pub severity: String,
    pub escalates: bool,
    pub data: serde_json::Value,
    pub observed_at: DateTime<Utc>,
    /// Counting this one.
    pub attempts: i32,
    pub trigger: String,
    pub customer_id: Uuid,
    pub trunk_id: Option<String>,
    pub ticket: TicketFacts,
    pub customer_name: String,
    pub ban: String,
    /// The customer's company in the home portal, when linked.
    pub company_id: Option<String>,
}

/// What the HubSpot ticket carries: the ticket's values (the highest severity of its alerts).
#[derive(Debug, Clone, PartialEq)]
pub struct TicketFacts {
    pub call_id: Option<String>,
    pub issue_type: String,
    pub severity: String,
    pub subject: String,
    pub details: serde_json::Value,
    pub opened_at: DateTime<Utc>,
    pub sla_breach_at: DateTime<Utc>,
    pub hubspot_ticket_id: Option<String>,
}

/// Claims up to `limit` alerts due, oldest due first, for `lease`.
pub async fn claim_due(
    database: &Database,
    limit: usize,
    lease: std::time::Duration,
) -> Result<Vec<DueAlert>, StoreError> {
    let client = database.client().await?;
    let (limit, lease_ms) = claim_limits(limit, lease);
    let claimed: Vec<Uuid> = client
        .query_typed(
            &claim_sql(WorkTable::TicketAlerts, "w.id"),
            &[(&limit, Type::INT8), (&lease_ms, Type::INT8)],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    let rows = client
        .query_typed(
            "SELECT a.id, a.ticket_id, a.opens, a.number, a.severity, a.escalates, a.data, \
                 a.observed_at, a.attempts, t.trigger, t.customer_id, NULLIF(t.trunk_id, ''), \
                 t.call_id, t.issue_type, t.severity, t.subject, t.details, t.opened_at, \
                 t.sla_breach_at, t.hubspot_ticket_id, c.company_name, c.ban, \
                 c.external_ids->>'hubspot_company_id' \
             FROM ticket_alerts a JOIN support_tickets t ON t.id = a.ticket_id \
                 JOIN customers c ON c.id = t.customer_id \
             WHERE a.id = ANY($1) ORDER BY a.seq",
            &[(&claimed, Type::UUID_ARRAY)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| DueAlert {
            id: row.get(0),
            ticket_id: row.get(1),
            opens: row.get(2),
            number: row.get(3),
            severity: row.get(4),
            escalates: row.get(5),
            data: row.get(6),
            observed_at: row.get(7),
            attempts: row.get(8),
            trigger: row.get(9),
            customer_id: row.get(10),
            trunk_id: row.get(11),
            ticket: TicketFacts {
                call_id: row.get(12),
                issue_type: row.get(13),
                severity: row.get(14),
                subject: row.get(15),
                details: row.get(16),
                opened_at: row.get(17),
                sla_breach_at: row.get(18),
                hubspot_ticket_id: row.get(19),
            },
            customer_name: row.get(20),
            ban: row.get(21),
            company_id: row.get(22),
        })
        .collect())
}

/// A ticket's stage as read from HubSpot.
#[derive(Debug, Clone, PartialEq)]
pub struct StageRead {
    pub pipeline_id: Option<String>,
    pub stage_id: Option<String>,
    pub label: Option<String>,
    /// The stage closes the ticket, or the ticket is gone from HubSpot.
    pub closed: bool,
}

impl StageRead {
    /// The pipeline, stage and label as Postgres text can hold them: they are HubSpot's text
    /// (a portal's labels), and a NUL in one would fail every pass that records it.
    fn storable(&self) -> (Option<String>, Option<String>, Option<String>) {
        let keep = |text: &Option<String>| storable_opt(text.as_deref()).map(|t| t.into_owned());
        (
            keep(&self.pipeline_id),
            keep(&self.stage_id),
            keep(&self.label),
        )
    }
}

/// Records the ticket created in HubSpot for `ticket_id`, and its stage unless one was read
/// already (a retried create does not undo what support did meanwhile).
pub async fn record_created(
    database: &Database,
    ticket_id: Uuid,
    portal_id: i64,
    hubspot_ticket_id: &str,
    stage: &StageRead,
) -> Result<(), StoreError> {
    let (pipeline_id, stage_id, label) = stage.storable();
    let client = database.client().await?;
    client
        .execute_typed(
            "UPDATE support_tickets SET portal_id = $2, hubspot_ticket_id = $3, \
                 pipeline_id = COALESCE(pipeline_id, $4), stage_id = COALESCE(stage_id, $5), \
                 stage_label = COALESCE(stage_label, $6), \
                 checked_at = COALESCE(checked_at, now()) WHERE id = $1",
            &[
                (&ticket_id, Type::UUID),
                (&portal_id, Type::INT8),
                (&hubspot_ticket_id, Type::TEXT),
                (&pipeline_id, Type::TEXT),
                (&stage_id, Type::TEXT),
                (&label, Type::TEXT),
            ],
        )
        .await?;
    Ok(())
}

/// Open tickets in HubSpot whose stage was last read more than `every` ago (or never), oldest
/// check first: their ids and HubSpot ids.
pub async fn due_checks(
    database: &Database,
    limit: usize,
    every: std::time::Duration,
) -> Result<Vec<(Uuid, String)>, StoreError> {
    let client = database.client().await?;
    let (limit, every_ms) = claim_limits(limit, every);
    let rows = client
        .query_typed(
            "SELECT id, hubspot_ticket_id FROM support_tickets \
             WHERE state = 'open' AND hubspot_ticket_id IS NOT NULL \
               AND (checked_at IS NULL OR checked_at < now() - $2 * interval '1 millisecond') \
             ORDER BY checked_at NULLS FIRST LIMIT $1",
            &[(&limit, Type::INT8), (&every_ms, Type::INT8)],
        )
        .await?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

/// Records a ticket's stage as read from HubSpot. A ticket closed there is closed here, and its
/// alerts not yet noted on it move to the key's open ticket (opening one): a repeat after the
/// close is a new problem. Moved are the alerts no pass holds, and those of `claimed` (the
/// caller's own pass); an alert another pass holds is moved by that pass when it reads the
/// stage. Works on a ticket closed before too.
pub async fn record_stage(
    database: &Database,
    ticket_id: Uuid,
    stage: &StageRead,
    claimed: &[Uuid],
) -> Result<(), StoreError> {
    let (pipeline_id, stage_id, label) = stage.storable();
    let mut client = database.client().await?;
    let transaction = client.transaction().await?;
    let key = transaction
        .query_typed(
            "UPDATE support_tickets SET pipeline_id = COALESCE($2, pipeline_id), \
                 stage_id = COALESCE($3, stage_id), stage_label = COALESCE($4, stage_label), \
                 checked_at = now(), \
                 state = CASE WHEN $5 THEN 'closed' ELSE state END, \
                 closed_at = CASE WHEN $5 AND closed_at IS NULL THEN now() ELSE closed_at END \
             WHERE id = $1 AND (state = 'open' OR $5) \
             RETURNING trigger, customer_id, trunk_id",
            &[
                (&ticket_id, Type::UUID),
                (&pipeline_id, Type::TEXT),
                (&stage_id, Type::TEXT),
                (&label, Type::TEXT),
                (&stage.closed, Type::BOOL),
            ],
        )
        .await?;
    let Some(row) = key.first().filter(|_| stage.closed) else {
        transaction.commit().await?;
        return Ok(());
    };
    let (trigger, customer_id, trunk_id): (String, Uuid, String) =
        (row.get(0), row.get(1), row.get(2));
    let key = TicketKey {
        trigger: &trigger,
        customer_id,
        trunk_id: &trunk_id,
    };
    let claimed = claimed.to_vec();
    let waiting = transaction
        .query_typed(
            "SELECT id, severity, call_id, issue_type, subject, data FROM ticket_alerts \
             WHERE ticket_id = $1 AND status = 'pending' AND NOT opens \
               AND (next_attempt_at <= now() OR id = ANY($2)) \
             ORDER BY seq FOR UPDATE",
            &[(&ticket_id, Type::UUID), (&claimed, Type::UUID_ARRAY)],
        )
        .await?;
    for alert in &waiting {
        let alert_id: Uuid = alert.get(0);
        let call_id: Option<String> = alert.get(2);
        let issue_type: String = alert.get(3);
        let subject: Option<String> = alert.get(4);
        let details: serde_json::Value = alert.get(5);
        let fields = AlertFields {
            severity: Severity::parse(alert.get(1)).unwrap_or(Severity::Medium),
            call_id: call_id.as_deref(),
            issue_type: &issue_type,
            subject: subject.as_deref().unwrap_or(&trigger),
            details: &details,
        };
        let attached = attach(&transaction, &key, &fields).await?;
        transaction
            .execute_typed(
                "UPDATE ticket_alerts SET ticket_id = $2, opens = $3, number = $4, \
                     escalates = $5, next_attempt_at = now(), \
                     reason = 'its ticket was closed in HubSpot: moved to a new one' \
                 WHERE id = $1",
                &[
                    (&alert_id, Type::UUID),
                    (&attached.ticket_id, Type::UUID),
                    (&attached.opens, Type::BOOL),
                    (&attached.number, Type::INT4),
                    (&attached.escalates, Type::BOOL),
                ],
            )
            .await?;
    }
    transaction.commit().await?;
    Ok(())
}

/// Closes the tickets that could not be created in HubSpot (the alert that opened each ended
/// refused or skipped), failing their waiting notes with its reason, so the key's next alert
/// opens a new ticket instead of waiting on one that will never exist. Answers how many.
pub async fn close_unopened(database: &Database) -> Result<u64, StoreError> {
    let mut client = database.client().await?;
    let transaction = client.transaction().await?;
    let closed = transaction
        .query_typed(
            "WITH failed AS (SELECT t.id, coalesce(a.reason, a.status) AS reason \
                 FROM support_tickets t JOIN ticket_alerts a ON a.ticket_id = t.id AND a.opens \
                 WHERE t.state = 'open' AND t.hubspot_ticket_id IS NULL \
                   AND a.status IN ('error', 'skipped') FOR UPDATE OF t) \
             UPDATE support_tickets t SET state = 'closed', closed_at = now(), \
                 stage_label = 'not created in HubSpot' \
             FROM failed WHERE t.id = failed.id RETURNING t.id, failed.reason",
            &[],
        )
        .await?;
    for row in &closed {
        let ticket_id: Uuid = row.get(0);
        let reason: String = row.get(1);
        transaction
            .execute_typed(
                "UPDATE ticket_alerts SET status = 'error', logged_at = now(), \
                     reason = 'its ticket could not be created in HubSpot: ' || $2 \
                 WHERE ticket_id = $1 AND status = 'pending' AND NOT opens",
                &[(&ticket_id, Type::UUID), (&reason, Type::TEXT)],
            )
            .await?;
    }
    transaction.commit().await?;
    Ok(closed.len() as u64)
}

/// A ticket's alerts, oldest first: whether each opened it, its status, HubSpot id and reason.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAlert {
    pub id: Uuid,
    pub opens: bool,
    pub number: i32,
    pub status: String,
    pub hubspot_id: Option<String>,
    pub reason: Option<String>,
}

pub async fn alerts_of(
    database: &Database,
    ticket_id: Uuid,
) -> Result<Vec<StoredAlert>, StoreError> {
    let client = database.client().await?;
    let rows = client
        .query_typed(
            "SELECT id, opens, number, status, hubspot_id, reason FROM ticket_alerts \
             WHERE ticket_id = $1 ORDER BY seq",
            &[(&ticket_id, Type::UUID)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| StoredAlert {
            id: row.get(0),
            opens: row.get(1),
            number: row.get(2),
            status: row.get(3),
            hubspot_id: row.get(4),
            reason: row.get(5),
        })
        .collect())
}

/// The compact JSON a ticket's `warp_technical_details` carries.
pub fn details_text(details: &serde_json::Value) -> String {
    match details.as_object() {
        Some(map) => technical_details(map),
        None => details.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_label_with_a_nul_is_stored_without_it() {
        let stage = StageRead {
            pipeline_id: Some("0".to_owned()),
            stage_id: None,
            label: Some("Wait\u{0}ing".to_owned()),
            closed: false,
        };
        let (pipeline, stage_id, label) = stage.storable();
        assert_eq!(pipeline.as_deref(), Some("0"));
        assert_eq!(stage_id, None);
        let label = label.unwrap();
        assert!(!label.contains('\u{0}'), "{label:?}");
        assert!(label.starts_with("Wait") && label.ends_with("ing"));
    }
}
