//! Inbound processing, the second step after the ack: apply stored HubSpot webhook events to
//! customers by the field rules (DESIGN §3–4, `warp_domain::sync` module doc).
//!
//! # Claiming and exactly-once effect
//! [`InboundProcessor::process_pending`] claims up to `limit` RECEIVED events, oldest first,
//! with `FOR UPDATE SKIP LOCKED` inside one transaction, so concurrent processors (several
//! Lambda instances, or the dev loop and a manual run) never take the same event. Each event
//! then runs in its own savepoint: its customer write, field state, conflict, push-back outbox
//! row, sync-log row and its PROCESSED / SKIPPED / FAILED mark commit together, or (on a
//! transient error: database or HubSpot unavailable) are rolled back and the event stays
//! RECEIVED for the next run. Duplicate deliveries never reach this point twice: the receiver
//! stores each event once under its full dedupe key.
//!
//! # Order
//! Claimed events are ordered by company, then `occurredAt` (then event id), so each company's
//! and each property's events apply oldest first (what `sort_for_processing` guarantees per
//! property) and a company's deletion, restore and property changes keep their relative order.
//! Events of different claims can still arrive out of order: property changes are guarded by
//! the Stale rule (field state), deletion/restore by "a later lifecycle event of this company
//! was already processed".
//!
//! # When processing runs (the ack stays fast)
//! - `warp dev`: the receiver only stores and answers (p99 well under 50 ms); it signals a
//!   [`tokio::sync::Notify`] (see [`crate::WebhookState::with_processing_kick`]) that wakes
//!   [`run_inbound_loop_with_kick`] at once, and the loop's interval covers missed kicks.
//! - AWS Lambda: a function freezes as soon as it has answered, so nothing may run "after the
//!   response". The webhook function therefore stores the delivery (committed: nothing can be
//!   lost from here on), then calls [`InboundProcessor::process_within`] with a budget of about
//!   2 s (HubSpot waits 5 s, and the store plus cold start must fit too), then answers 200.
//!   Whatever the budget did not cover stays RECEIVED and is picked up by the reconciler's
//!   frequent schedule (every minute), which calls the same `process_within`. Chosen over
//!   "enqueue to SQS": events are already durably queued in Postgres (the RECEIVED rows with a
//!   partial index), a second queue would add a hop and a poison-message path without adding
//!   durability, and SKIP LOCKED gives the same one-consumer-per-event guarantee.
//!
//! Logs and `hubspot_sync_log` carry ids, field names and reasons, never property values.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio_postgres::types::Type;
use warp_domain::customer::{Ban, Customer};
use warp_domain::sync::{
    EventKind, FieldMap, FieldMapping, FieldState, InboundChange, InboundDecision, WarpField,
    WebhookEvent, canonical_opt, customer_field_values, decide_inbound,
};
use warp_hubspot::{
    Company, CompanyId, CompanyLookup, HubSpotClient, HubSpotError, ReadOptions, WARP_BAN_PROPERTY,
};
use warp_store::conflicts::{self, NewConflict};
use warp_store::field_state;
use warp_store::inbound::{
    self, InboundLogEntry, InboundLogStatus, OutboundRequest, WriteFieldError,
};
use warp_store::{Database, DatabaseError, StoreError};

/// Events claimed per transaction by the loops.
pub const DEFAULT_BATCH: u32 = 100;

type Tx<'a> = tokio_postgres::Transaction<'a>;

/// Applies stored webhook events. Build once per process and share it (`Arc`).
pub struct InboundProcessor {
    pub database: Database,
    /// Reads a company's `warp_ban` (creation) and a merge survivor's properties. Without it,
    /// creations are SKIPPED with a note and merges relink without re-reading.
    pub hubspot: Option<HubSpotClient>,
    pub map: FieldMap,
    pub portal_id: i64,
}

/// What one or more runs did, by event and by decision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InboundReport {
    /// Events claimed (each ends PROCESSED, SKIPPED, FAILED or stays RECEIVED for a retry).
    pub claimed: u64,
    pub processed: u64,
    pub skipped: u64,
    pub failed: u64,
    /// Left RECEIVED after a transient error (database or HubSpot unavailable).
    pub retry_later: u64,
    pub applied: u64,
    pub overridden: u64,
    pub echoes: u64,
    pub stale: u64,
    pub conflicts: u64,
    /// HubSpot values refused because they are not valid WARP values (pushed back).
    pub invalid_values: u64,
    pub linked: u64,
    pub unlinked: u64,
}

impl InboundReport {
    fn add(&mut self, other: &InboundReport) {
        self.claimed += other.claimed;
        self.processed += other.processed;
        self.skipped += other.skipped;
        self.failed += other.failed;
        self.retry_later += other.retry_later;
        self.applied += other.applied;
        self.overridden += other.overridden;
        self.echoes += other.echoes;
        self.stale += other.stale;
        self.conflicts += other.conflicts;
        self.invalid_values += other.invalid_values;
        self.linked += other.linked;
        self.unlinked += other.unlinked;
    }
}

/// Why a run could not claim or commit its events (nothing of it took effect).
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<tokio_postgres::Error> for ProcessError {
    fn from(error: tokio_postgres::Error) -> Self {
        ProcessError::Store(error.into())
    }
}

impl From<DatabaseError> for ProcessError {
    fn from(error: DatabaseError) -> Self {
        ProcessError::Store(error.into())
    }
}

/// The final status of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EventStatus {
    Processed,
    Skipped,
    Failed,
}

impl EventStatus {
    fn as_str(self) -> &'static str {
        match self {
            EventStatus::Processed => "PROCESSED",
            EventStatus::Skipped => "SKIPPED",
            EventStatus::Failed => "FAILED",
        }
    }
}

/// What handling one event did; counted only once its savepoint committed.
#[derive(Debug, Default)]
struct Outcome {
    status: Option<EventStatus>,
    note: Option<String>,
    tally: InboundReport,
}

impl Outcome {
    fn new(status: EventStatus, note: Option<String>) -> Self {
        Outcome {
            status: Some(status),
            note,
            tally: InboundReport::default(),
        }
    }

    fn skipped(note: &str) -> Self {
        Outcome::new(EventStatus::Skipped, Some(note.to_owned()))
    }

    fn status(&self) -> EventStatus {
        self.status.unwrap_or(EventStatus::Processed)
    }
}

/// Why handling one event stopped.
#[derive(Debug, thiserror::Error)]
enum HandleError {
    /// Transient: roll the event back and leave it RECEIVED.
    #[error("{0}")]
    RetryLater(String),
    /// Permanent: roll its effects back and mark it FAILED with this reason.
    #[error("{0}")]
    Failed(String),
}

impl From<StoreError> for HandleError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(reason) => HandleError::RetryLater(reason),
            other => HandleError::Failed(other.to_string()),
        }
    }
}

impl From<tokio_postgres::Error> for HandleError {
    fn from(error: tokio_postgres::Error) -> Self {
        StoreError::from(error).into()
    }
}

impl From<HubSpotError> for HandleError {
    fn from(error: HubSpotError) -> Self {
        if error.is_retryable() {
            HandleError::RetryLater(format!("HubSpot: {error}"))
        } else {
            HandleError::Failed(format!("HubSpot: {error}"))
        }
    }
}

/// One field decision's result: the customer afterwards and what it counted.
struct FieldOutcome {
    customer: Customer,
    status: EventStatus,
    note: Option<String>,
    tally: InboundReport,
}

const CLAIM: &str = "SELECT id, raw FROM hubspot_webhook_events WHERE status = 'RECEIVED' \
                     ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED";
const MARK: &str = "UPDATE hubspot_webhook_events SET status = $2, processed_at = now(), error = $3 \
                    WHERE id = $1";

impl InboundProcessor {
    /// Claims up to `limit` RECEIVED events and applies them (see the module doc).
    pub async fn process_pending(&self, limit: u32) -> Result<InboundReport, ProcessError> {
        let limit = i64::from(limit.max(1));
        let mut client = self.database.client().await?;
        let mut transaction = client.transaction().await?;
        let rows = transaction
            .query_typed(CLAIM, &[(&limit, Type::INT8)])
            .await?;
        let mut report = InboundReport {
            claimed: rows.len() as u64,
            ..InboundReport::default()
        };
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: i64 = row.try_get(0)?;
            let raw: serde_json::Value = row.try_get(1)?;
            match serde_json::from_value::<WebhookEvent>(raw) {
                Ok(event) => events.push((id, event)),
                Err(_) => {
                    mark(
                        &transaction,
                        id,
                        EventStatus::Failed,
                        Some("the stored event does not parse"),
                    )
                    .await?;
                    report.failed += 1;
                }
            }
        }
        events.sort_by(|(a_id, a), (b_id, b)| {
            (
                a.object_id,
                a.occurred_at,
                &a.property_name,
                a.event_id,
                a_id,
            )
                .cmp(&(
                    b.object_id,
                    b.occurred_at,
                    &b.property_name,
                    b.event_id,
                    b_id,
                ))
        });

        for (id, event) in &events {
            let savepoint = transaction.transaction().await?;
            let result = self.handle(&savepoint, event).await;
            match result {
                Ok(outcome) => {
                    let status = outcome.status();
                    mark(&savepoint, *id, status, outcome.note.as_deref()).await?;
                    savepoint.commit().await?;
                    report.add(&outcome.tally);
                    match status {
                        EventStatus::Processed => report.processed += 1,
                        EventStatus::Skipped => report.skipped += 1,
                        EventStatus::Failed => report.failed += 1,
                    }
                }
                Err(HandleError::RetryLater(reason)) => {
                    savepoint.rollback().await?;
                    tracing::warn!(event_row = id, %reason, "inbound event left for a retry");
                    report.retry_later += 1;
                }
                Err(HandleError::Failed(reason)) => {
                    savepoint.rollback().await?;
                    tracing::warn!(event_row = id, %reason, "inbound event failed");
                    mark(&transaction, *id, EventStatus::Failed, Some(&reason)).await?;
                    report.failed += 1;
                }
            }
        }
        transaction.commit().await?;
        if report.claimed > 0 {
            tracing::info!(?report, "inbound events processed");
        }
        Ok(report)
    }

    /// Runs [`Self::process_pending`] in batches until nothing is left or `budget` is spent
    /// (for a Lambda answering HubSpot within its 5 s): a batch cut by the deadline is rolled
    /// back whole and its events stay RECEIVED.
    pub async fn process_within(&self, budget: Duration, batch: u32) -> InboundReport {
        let deadline = tokio::time::Instant::now() + budget;
        let mut total = InboundReport::default();
        while tokio::time::Instant::now() < deadline {
            match tokio::time::timeout_at(deadline, self.process_pending(batch)).await {
                Ok(Ok(report)) => {
                    total.add(&report);
                    if report.claimed < u64::from(batch) || report.retry_later == report.claimed {
                        break;
                    }
                }
                Ok(Err(error)) => {
                    tracing::warn!(%error, "inbound processing failed");
                    break;
                }
                Err(_) => break,
            }
        }
        total
    }

    async fn handle(&self, tx: &Tx<'_>, event: &WebhookEvent) -> Result<Outcome, HandleError> {
        if event.portal_id != self.portal_id {
            return Ok(Outcome::skipped("the event is for another portal"));
        }
        if event.object_type() != "company" {
            return Ok(Outcome::skipped("not a company event"));
        }
        match event.kind() {
            EventKind::PropertyChange => self.property_change(tx, event).await,
            EventKind::Creation => self.creation(tx, event).await,
            EventKind::Deletion => self.deletion(tx, event).await,
            EventKind::Restore => self.restore(tx, event).await,
            EventKind::Merge { survivor } => self.merge(tx, event, survivor).await,
            EventKind::AssociationChange | EventKind::Other => {
                Ok(Outcome::skipped("event type not synced"))
            }
        }
    }

    async fn property_change(
        &self,
        tx: &Tx<'_>,
        event: &WebhookEvent,
    ) -> Result<Outcome, HandleError> {
        let Some(property) = event.property_name.as_deref() else {
            return Ok(Outcome::skipped("the event names no property"));
        };
        let Some(mapping) = self.map.by_hubspot_property(property) else {
            return Ok(Outcome::skipped("unmapped property"));
        };
        let company_id = event.object_id.to_string();
        let Some(customer) = inbound::lock_by_hubspot_company(tx, &company_id).await? else {
            return Ok(Outcome::skipped("no customer is linked to the company"));
        };
        let result = self
            .decide_field(
                tx,
                &customer,
                mapping,
                event.property_value.as_deref(),
                event.occurred_at,
                "PROPERTY_CHANGE",
            )
            .await?;
        Ok(Outcome {
            status: Some(result.status),
            note: result.note,
            tally: result.tally,
        })
    }

    /// Decides one HubSpot value of one field and records exactly what the domain rules say
    /// (see `warp_domain::sync`): Apply writes the customer and both sides of the state; an
    /// invalid value, Override and Echo record HubSpot's known value (the first two also
    /// queue a push-back); Conflict keeps both values in `sync_conflicts`; Stale is logged.
    async fn decide_field(
        &self,
        tx: &Tx<'_>,
        customer: &Customer,
        mapping: &FieldMapping,
        value: Option<&str>,
        occurred_at: DateTime<Utc>,
        operation: &str,
    ) -> Result<FieldOutcome, HandleError> {
        let field = mapping.field;
        let stored = field_state::load(tx, self.portal_id, &[customer.id])
            .await?
            .remove(&customer.id)
            .and_then(|mut states| states.remove(&field))
            .unwrap_or_default();
        let state = FieldState {
            warp_value: customer_field_values(customer)
                .get(field)
                .flatten()
                .map(str::to_owned),
            ..stored
        };
        let change = InboundChange {
            value: value.map(str::to_owned),
            occurred_at,
        };
        let reported = canonical_opt(field, value);
        let decision = decide_inbound(mapping, &change, &state);
        let mut tally = InboundReport::default();
        let log = |status, queue_id, error: Option<String>| InboundLogEntry {
            portal_id: self.portal_id,
            customer_id: Some(customer.id),
            queue_id,
            operation,
            status,
            fields: vec![field.as_str().to_owned()],
            hubspot_company_id: customer.external_ids.hubspot_company_id.clone(),
            error,
        };
        let done = |customer: Customer, status, note: Option<&str>, tally| FieldOutcome {
            customer,
            status,
            note: note.map(str::to_owned),
            tally,
        };
        match decision {
            InboundDecision::Apply { value } => {
                match inbound::write_inbound_field(tx, customer, field, value.as_deref()).await {
                    Ok(updated) => {
                        inbound::record_warp_value(
                            tx,
                            self.portal_id,
                            updated.id,
                            field,
                            value.as_deref(),
                        )
                        .await?;
                        inbound::observe_hubspot_value(
                            tx,
                            self.portal_id,
                            updated.id,
                            field,
                            value.as_deref(),
                            occurred_at,
                        )
                        .await?;
                        inbound::log_inbound(tx, &log(InboundLogStatus::Success, None, None))
                            .await?;
                        tally.applied = 1;
                        tracing::info!(customer_id = %updated.id, field = field.as_str(), version = updated.version, "HubSpot change applied");
                        Ok(done(updated, EventStatus::Processed, None, tally))
                    }
                    Err(WriteFieldError::Invalid(invalid)) => {
                        // HubSpot holds the invalid value: recording it makes the outbound
                        // diff carry WARP's value back.
                        inbound::observe_hubspot_value(
                            tx,
                            self.portal_id,
                            customer.id,
                            field,
                            reported.as_deref(),
                            occurred_at,
                        )
                        .await?;
                        let queue_id = inbound::enqueue_outbound(
                            tx,
                            self.portal_id,
                            customer.id,
                            OutboundRequest::PushBack,
                            customer.version,
                        )
                        .await?;
                        let reason = invalid.to_string();
                        inbound::log_inbound(
                            tx,
                            &log(
                                InboundLogStatus::Failed,
                                Some(queue_id),
                                Some(reason.clone()),
                            ),
                        )
                        .await?;
                        tally.invalid_values = 1;
                        tracing::warn!(customer_id = %customer.id, field = field.as_str(), %reason, "HubSpot value refused; WARP's value pushed back");
                        Ok(done(
                            customer.clone(),
                            EventStatus::Failed,
                            Some(&reason),
                            tally,
                        ))
                    }
                    Err(WriteFieldError::Store(error)) => Err(error.into()),
                }
            }
            InboundDecision::Override { .. } => {
                inbound::observe_hubspot_value(
                    tx,
                    self.portal_id,
                    customer.id,
                    field,
                    reported.as_deref(),
                    occurred_at,
                )
                .await?;
                let queue_id = inbound::enqueue_outbound(
                    tx,
                    self.portal_id,
                    customer.id,
                    OutboundRequest::PushBack,
                    customer.version,
                )
                .await?;
                inbound::log_inbound(tx, &log(InboundLogStatus::Overridden, Some(queue_id), None))
                    .await?;
                tally.overridden = 1;
                Ok(done(customer.clone(), EventStatus::Processed, None, tally))
            }
            InboundDecision::Echo => {
                inbound::observe_hubspot_value(
                    tx,
                    self.portal_id,
                    customer.id,
                    field,
                    reported.as_deref(),
                    occurred_at,
                )
                .await?;
                tally.echoes = 1;
                Ok(done(
                    customer.clone(),
                    EventStatus::Processed,
                    Some("echo"),
                    tally,
                ))
            }
            InboundDecision::Stale => {
                let note = "older than the newest HubSpot change already seen";
                inbound::log_inbound(
                    tx,
                    &log(InboundLogStatus::Skipped, None, Some(note.to_owned())),
                )
                .await?;
                tally.stale = 1;
                Ok(done(
                    customer.clone(),
                    EventStatus::Skipped,
                    Some(note),
                    tally,
                ))
            }
            InboundDecision::Conflict {
                warp_value,
                hubspot_value,
            } => {
                let conflict_id = conflicts::insert(
                    tx,
                    &NewConflict {
                        portal_id: self.portal_id,
                        customer_id: customer.id,
                        field,
                        warp_value: warp_value.as_deref(),
                        hubspot_value: hubspot_value.as_deref(),
                        warp_changed_at: state.warp_changed_at,
                        hubspot_changed_at: occurred_at,
                    },
                )
                .await?;
                inbound::log_inbound(
                    tx,
                    &log(
                        InboundLogStatus::Conflict,
                        None,
                        Some(format!("conflict {conflict_id} kept for a person")),
                    ),
                )
                .await?;
                tally.conflicts = 1;
                Ok(done(
                    customer.clone(),
                    EventStatus::Processed,
                    Some("conflict"),
                    tally,
                ))
            }
            InboundDecision::Ignored => Ok(done(
                customer.clone(),
                EventStatus::Skipped,
                Some("the field's mapping is disabled"),
                tally,
            )),
        }
    }

    /// Decides every enabled mapped property of a (re)read company at `occurred_at`, like a
    /// propertyChange each (the BAN is the link key, not compared).
    async fn decide_company(
        &self,
        tx: &Tx<'_>,
        mut customer: Customer,
        company: &Company,
        occurred_at: DateTime<Utc>,
        operation: &str,
    ) -> Result<InboundReport, HandleError> {
        let mut tally = InboundReport::default();
        for mapping in self.map.iter() {
            if !mapping.enabled || mapping.field == WarpField::Ban {
                continue;
            }
            let Some(value) = company.properties.get(&mapping.hubspot_property) else {
                continue;
            };
            let result = self
                .decide_field(
                    tx,
                    &customer,
                    mapping,
                    value.as_deref(),
                    occurred_at,
                    operation,
                )
                .await?;
            tally.add(&result.tally);
            customer = result.customer;
        }
        Ok(tally)
    }

    async fn read_company(
        &self,
        client: &HubSpotClient,
        id: i64,
    ) -> Result<Option<Company>, HandleError> {
        let id = u64::try_from(id)
            .map_err(|_| HandleError::Failed("the company id is negative".into()))?;
        let options = ReadOptions::properties(self.map.hubspot_properties());
        Ok(client
            .get_company(&CompanyLookup::Id(CompanyId::from(id)), &options)
            .await?)
    }

    fn log_entry<'a>(
        &self,
        customer_id: Option<uuid::Uuid>,
        operation: &'a str,
        status: InboundLogStatus,
        company_id: &str,
        error: Option<String>,
    ) -> InboundLogEntry<'a> {
        InboundLogEntry {
            portal_id: self.portal_id,
            customer_id,
            queue_id: None,
            operation,
            status,
            fields: Vec::new(),
            hubspot_company_id: Some(company_id.to_owned()),
            error,
        }
    }

    /// A company created in HubSpot with the `warp_ban` of an unlinked customer is linked to
    /// it, and its mapped properties are decided at the creation time.
    async fn creation(&self, tx: &Tx<'_>, event: &WebhookEvent) -> Result<Outcome, HandleError> {
        let company_id = event.object_id.to_string();
        if inbound::lock_by_hubspot_company(tx, &company_id)
            .await?
            .is_some()
        {
            return Ok(Outcome::new(
                EventStatus::Processed,
                Some("already linked".into()),
            ));
        }
        let Some(client) = &self.hubspot else {
            return Ok(Outcome::skipped(
                "no HubSpot client configured to read the company's warp_ban",
            ));
        };
        let Some(company) = self.read_company(client, event.object_id).await? else {
            return Ok(Outcome::skipped("the company no longer exists in HubSpot"));
        };
        let ban_property = self
            .map
            .get(WarpField::Ban)
            .map_or(WARP_BAN_PROPERTY, |m| m.hubspot_property.as_str());
        let Some(ban) = company
            .property(ban_property)
            .and_then(|text| canonical_opt(WarpField::Ban, Some(text)))
        else {
            return Ok(Outcome::skipped("the company has no warp_ban"));
        };
        let Ok(ban) = Ban::parse(&ban) else {
            return Ok(Outcome::skipped("the company's warp_ban is not a BAN"));
        };
        let Some(customer) = inbound::lock_by_ban(tx, &ban).await? else {
            return Ok(Outcome::skipped("no customer has the company's warp_ban"));
        };
        if customer.external_ids.hubspot_company_id.is_some() {
            let note = "the customer with this warp_ban is linked to another company";
            inbound::log_inbound(
                tx,
                &self.log_entry(
                    Some(customer.id),
                    "CREATION",
                    InboundLogStatus::Skipped,
                    &company_id,
                    Some(note.into()),
                ),
            )
            .await?;
            return Ok(Outcome::skipped(note));
        }
        let linked = inbound::link_company(tx, customer.id, &company_id).await?;
        inbound::log_inbound(
            tx,
            &self.log_entry(
                Some(linked.id),
                "CREATION",
                InboundLogStatus::Success,
                &company_id,
                None,
            ),
        )
        .await?;
        let mut outcome = Outcome::new(EventStatus::Processed, Some("linked".into()));
        outcome.tally = self
            .decide_company(tx, linked, &company, event.occurred_at, "CREATION")
            .await?;
        outcome.tally.linked += 1;
        Ok(outcome)
    }

    /// True when a deletion or restore of this company newer than `event` was already
    /// processed: this lifecycle event is then out of date.
    async fn newer_lifecycle_processed(
        &self,
        tx: &Tx<'_>,
        event: &WebhookEvent,
    ) -> Result<bool, HandleError> {
        let occurred_at_ms = event.occurred_at_ms();
        let row = tx
            .query_typed_one(
                "SELECT EXISTS (SELECT 1 FROM hubspot_webhook_events WHERE portal_id = $1 AND object_id = $2 \
                 AND status = 'PROCESSED' AND occurred_at_ms > $3 \
                 AND subscription_type IN ('company.deletion', 'company.restore'))",
                &[
                    (&event.portal_id, Type::INT8),
                    (&event.object_id, Type::INT8),
                    (&occurred_at_ms, Type::INT8),
                ],
            )
            .await?;
        Ok(row.try_get(0)?)
    }

    /// The company was archived: unlink its customer, keeping the id for a restore.
    async fn deletion(&self, tx: &Tx<'_>, event: &WebhookEvent) -> Result<Outcome, HandleError> {
        if self.newer_lifecycle_processed(tx, event).await? {
            return Ok(Outcome::skipped(
                "a newer deletion or restore was already processed",
            ));
        }
        let company_id = event.object_id.to_string();
        let Some(customer) = inbound::lock_by_hubspot_company(tx, &company_id).await? else {
            return Ok(Outcome::skipped("no customer is linked to the company"));
        };
        let unlinked = inbound::unlink_company(tx, customer.id).await?;
        inbound::log_inbound(
            tx,
            &self.log_entry(
                Some(unlinked.id),
                "DELETION",
                InboundLogStatus::Success,
                &company_id,
                None,
            ),
        )
        .await?;
        tracing::info!(customer_id = %unlinked.id, company_id, "company deleted in HubSpot: customer unlinked");
        let mut outcome = Outcome::new(EventStatus::Processed, Some("unlinked".into()));
        outcome.tally.unlinked = 1;
        Ok(outcome)
    }

    /// The company was restored: relink the customer it was unlinked from, and queue a
    /// resync so changes WARP made meanwhile reach it.
    async fn restore(&self, tx: &Tx<'_>, event: &WebhookEvent) -> Result<Outcome, HandleError> {
        if self.newer_lifecycle_processed(tx, event).await? {
            return Ok(Outcome::skipped(
                "a newer deletion or restore was already processed",
            ));
        }
        let company_id = event.object_id.to_string();
        if inbound::lock_by_hubspot_company(tx, &company_id)
            .await?
            .is_some()
        {
            return Ok(Outcome::new(
                EventStatus::Processed,
                Some("already linked".into()),
            ));
        }
        let Some(customer) = inbound::lock_by_unlinked_hubspot_company(tx, &company_id).await?
        else {
            return Ok(Outcome::skipped(
                "no customer was unlinked from the company",
            ));
        };
        let relinked = match inbound::link_company(tx, customer.id, &company_id).await {
            Ok(customer) => customer,
            Err(StoreError::Conflict(_)) => {
                return Ok(Outcome::skipped(
                    "the company is linked to another customer",
                ));
            }
            Err(other) => return Err(other.into()),
        };
        let queue_id = inbound::enqueue_outbound(
            tx,
            self.portal_id,
            relinked.id,
            OutboundRequest::Resync,
            relinked.version,
        )
        .await?;
        let mut entry = self.log_entry(
            Some(relinked.id),
            "RESTORE",
            InboundLogStatus::Success,
            &company_id,
            None,
        );
        entry.queue_id = Some(queue_id);
        inbound::log_inbound(tx, &entry).await?;
        let mut outcome = Outcome::new(EventStatus::Processed, Some("relinked".into()));
        outcome.tally.linked = 1;
        Ok(outcome)
    }

    /// Companies were merged: the customer of a merged-away company is relinked to the
    /// survivor, whose mapped properties are re-read and decided at the merge time (HubSpot
    /// sends no propertyChange for values the merge moved).
    async fn merge(
        &self,
        tx: &Tx<'_>,
        event: &WebhookEvent,
        survivor: i64,
    ) -> Result<Outcome, HandleError> {
        let survivor_id = survivor.to_string();
        let mut merged_away: Vec<i64> = event.merged_object_ids.clone();
        merged_away.push(event.object_id);
        merged_away.extend(event.primary_object_id);
        merged_away.retain(|id| *id != survivor);
        merged_away.sort_unstable();
        merged_away.dedup();

        let mut survivor_customer = inbound::lock_by_hubspot_company(tx, &survivor_id).await?;
        let mut tally = InboundReport::default();
        let mut notes = Vec::new();
        for loser in merged_away {
            let loser_id = loser.to_string();
            let linked = inbound::lock_by_hubspot_company(tx, &loser_id).await?;
            let customer = match linked {
                Some(customer) => Some(customer),
                None => inbound::lock_by_unlinked_hubspot_company(tx, &loser_id).await?,
            };
            let Some(customer) = customer else { continue };
            if let Some(kept) = &survivor_customer {
                // Both companies had a customer: the survivor keeps its own; the other is
                // unlinked for a person to decide (two billing accounts, one company).
                if customer.external_ids.hubspot_company_id.is_some() {
                    inbound::unlink_company(tx, customer.id).await?;
                    tally.unlinked += 1;
                }
                let note = format!(
                    "merged into company {survivor_id}, which is linked to customer {}",
                    kept.id
                );
                inbound::log_inbound(
                    tx,
                    &self.log_entry(
                        Some(customer.id),
                        "MERGE",
                        InboundLogStatus::Failed,
                        &loser_id,
                        Some(note.clone()),
                    ),
                )
                .await?;
                notes.push(note);
                continue;
            }
            let relinked = inbound::link_company(tx, customer.id, &survivor_id).await?;
            inbound::log_inbound(
                tx,
                &self.log_entry(
                    Some(relinked.id),
                    "MERGE",
                    InboundLogStatus::Success,
                    &survivor_id,
                    None,
                ),
            )
            .await?;
            tally.linked += 1;
            survivor_customer = Some(relinked);
        }
        let Some(customer) = survivor_customer else {
            return Ok(Outcome::skipped(
                "no customer is linked to the merged companies",
            ));
        };
        let Some(client) = &self.hubspot else {
            notes.push("survivor not re-read: no HubSpot client configured".into());
            return Ok(Outcome {
                status: Some(EventStatus::Processed),
                note: Some(notes.join("; ")),
                tally,
            });
        };
        match self.read_company(client, survivor).await? {
            Some(company) => {
                let decided = self
                    .decide_company(tx, customer, &company, event.occurred_at, "MERGE")
                    .await?;
                tally.add(&decided);
            }
            None => notes.push("the survivor no longer exists in HubSpot".into()),
        }
        Ok(Outcome {
            status: Some(EventStatus::Processed),
            note: (!notes.is_empty()).then(|| notes.join("; ")),
            tally,
        })
    }
}

async fn mark(
    tx: &Tx<'_>,
    id: i64,
    status: EventStatus,
    note: Option<&str>,
) -> Result<(), tokio_postgres::Error> {
    let status = status.as_str();
    tx.execute_typed(
        MARK,
        &[
            (&id, Type::INT8),
            (&status, Type::TEXT),
            (&note, Type::TEXT),
        ],
    )
    .await?;
    Ok(())
}

/// Processes pending events every `interval` until `shutdown` completes.
pub async fn run_inbound_loop(
    processor: Arc<InboundProcessor>,
    interval: Duration,
    shutdown: impl Future<Output = ()>,
) {
    run_inbound_loop_with_kick(processor, interval, None, shutdown).await;
}

/// As [`run_inbound_loop`], also woken at once by `kick` (the receiver signals it after
/// storing a delivery). Each wake drains what is pending, batch after batch.
pub async fn run_inbound_loop_with_kick(
    processor: Arc<InboundProcessor>,
    interval: Duration,
    kick: Option<Arc<Notify>>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        loop {
            let report = tokio::select! {
                biased;
                () = &mut shutdown => return,
                report = processor.process_pending(DEFAULT_BATCH) => report,
            };
            match report {
                Ok(report)
                    if report.claimed == u64::from(DEFAULT_BATCH)
                        && report.retry_later < report.claimed => {}
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(%error, "inbound processing failed; retrying at the next tick");
                    break;
                }
            }
        }
        let kicked = async {
            match &kick {
                Some(kick) => kick.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = &mut shutdown => return,
            () = kicked => {}
            () = tokio::time::sleep(interval) => {}
        }
    }
}
