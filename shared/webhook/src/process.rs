//! Inbound processing, the second step after the ack: apply stored HubSpot webhook events to
//! customers by the field rules (DESIGN §3–4, `warp_domain::sync` module doc).
//!
//! # Claiming and exactly-once effect
//! [`InboundProcessor::process_pending`] claims up to `limit` RECEIVED events, oldest first,
//! with `FOR UPDATE SKIP LOCKED` inside one transaction, so concurrent processors (several
//! Lambda instances, or the dev loop and a manual run) never take the same event. Effects and
//! marks commit with the claim, so an event's effect happens exactly once with its PROCESSED /
//! SKIPPED / FAILED mark; on a transient error (database or HubSpot unavailable) the affected
//! events are rolled back and stay RECEIVED for the next run. Duplicate deliveries never reach
//! this point twice: the receiver stores each event once under its full dedupe key. A FAILED
//! processing (not a refused HubSpot value) is claimed again, before new events, after the
//! delays of `warp_domain::sync::event_retry`, and waits for a person after its last attempt.
//!
//! # Batched, then one by one
//! The property changes of companies that have nothing but property changes in the claim are
//! decided together in one savepoint ([`batch::DecisionBatch`]): one statement locks their
//! customers, one reads their field states, decisions run in memory, and the writes go out as
//! one statement per table. That is what makes a burst of edits cheap (a few statements per
//! claim instead of several per event). A company with a creation, deletion, restore or merge in
//! the claim has its events handled one by one, each in its own savepoint with the same
//! decision code; so does the whole batch when one of its writes is refused, so that the bad
//! event fails alone. Before any of that, a claim with such events locks every customer it
//! names in one id-ordered statement, like the worker's sweep, so the two cannot deadlock; and
//! if a deadlock happens anyway (a customer found by BAN, say), the claim ends at the victim
//! and commits what it settled, instead of keeping its locks through the next events.
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

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use uuid::Uuid;
use warp_domain::customer::{Ban, Customer};
use warp_domain::storable::into_storable;
use warp_domain::sync::{
    EventKind, FieldMapping, ObjectType, WarpField, WebhookEvent, canonical_opt,
};
use warp_hubspot::{HubSpotClient, HubSpotError, HubSpotRecord, WARP_BAN_PROPERTY};
use warp_store::inbound::{self, InboundLogEntry, InboundLogStatus};
use warp_store::installations::{self, Installation, InstallationRole, InstallationStatus};
use warp_store::outbox::{self, OutboxOperation};
use warp_store::sync_config::MappingSource;
use warp_store::{Database, DatabaseError, StoreError, webhook_events};

/// Events claimed per transaction by the loops.
pub const DEFAULT_BATCH: u32 = 500;

type Tx<'a> = tokio_postgres::Transaction<'a>;

/// Claimed events with their row ids.
type Claimed = Vec<(i64, WebhookEvent)>;

mod batch;
mod company_rule;
mod contacts;
mod deals;
pub use deals::DealsNotStored;
mod reads;
use batch::DecisionBatch;
use reads::HubSpotReads;

/// Applies stored webhook events. Build once per process and share it (`Arc`).
pub struct InboundProcessor {
    pub database: Database,
    /// Reads a company's `warp_ban` (creation) and a merge survivor's properties. Without it,
    /// creations are SKIPPED with a note and merges relink without re-reading.
    pub hubspot: Option<HubSpotClient>,
    /// The company mapping (re-read when stale at the start of each pass).
    pub map: MappingSource,
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
    /// Of those failed, the ones at their last attempt: they wait for a person (the alarm's).
    pub failed_for_good: u64,
    /// Left RECEIVED after a transient error (database or HubSpot unavailable).
    pub retry_later: u64,
    pub applied: u64,
    pub overridden: u64,
    pub echoes: u64,
    pub stale: u64,
    pub conflicts: u64,
    /// HubSpot values refused because they are not valid WARP values (pushed back).
    pub invalid_values: u64,
    /// HubSpot values refused because they hold a NUL character, which cannot be stored (not
    /// pushed back: a person corrects them in HubSpot).
    pub unstorable: u64,
    pub linked: u64,
    pub unlinked: u64,
    /// Events of a portal that is not installed: kept, never applied.
    pub unrouted: u64,
}

impl InboundReport {
    fn add(&mut self, other: &InboundReport) {
        self.claimed += other.claimed;
        self.processed += other.processed;
        self.skipped += other.skipped;
        self.failed += other.failed;
        self.failed_for_good += other.failed_for_good;
        self.retry_later += other.retry_later;
        self.applied += other.applied;
        self.overridden += other.overridden;
        self.echoes += other.echoes;
        self.stale += other.stale;
        self.conflicts += other.conflicts;
        self.invalid_values += other.invalid_values;
        self.unstorable += other.unstorable;
        self.linked += other.linked;
        self.unlinked += other.unlinked;
        self.unrouted += other.unrouted;
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
    /// Kept, never applied: the event's portal is not installed (unknown or disconnected).
    Unrouted,
}

impl EventStatus {
    fn as_str(self) -> &'static str {
        match self {
            EventStatus::Processed => "PROCESSED",
            EventStatus::Skipped => "SKIPPED",
            EventStatus::Failed => "FAILED",
            EventStatus::Unrouted => "UNROUTED",
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
#[derive(Debug, Clone, thiserror::Error)]
enum HandleError {
    /// Transient: roll the event back and leave it RECEIVED.
    #[error("{0}")]
    RetryLater(String),
    /// A deadlock or serialization victim: roll the event back and end the claim, so the
    /// customers it already locked are released at once (the other side waits for them).
    #[error("{0}")]
    LockConflict(String),
    /// Permanent: roll its effects back and mark it FAILED with this reason.
    #[error("{0}")]
    Failed(String),
}

impl From<StoreError> for HandleError {
    fn from(error: StoreError) -> Self {
        match error {
            conflict if conflict.is_lock_conflict() => {
                HandleError::LockConflict(conflict.to_string())
            }
            StoreError::Unavailable(reason) => HandleError::RetryLater(reason),
            temporary if temporary.is_temporary() => HandleError::RetryLater(temporary.to_string()),
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
        HandleError::from(&error)
    }
}

impl From<&HubSpotError> for HandleError {
    fn from(error: &HubSpotError) -> Self {
        // A portal that needs reconnecting is waited for, like an outage: its events are kept.
        if error.waits() {
            HandleError::RetryLater(format!("HubSpot: {error}"))
        } else {
            HandleError::Failed(format!("HubSpot: {error}"))
        }
    }
}

/// The final marks of a claim's events, written in one statement at its end.
#[derive(Default)]
struct Marks {
    ids: Vec<i64>,
    statuses: Vec<&'static str>,
    notes: Vec<Option<String>>,
    /// Per event: a failure worth trying again (a processing failure, not a HubSpot value
    /// WARP refused, which was pushed back or left for a person and would fail the same way).
    retryable: Vec<bool>,
}

impl Marks {
    fn push(&mut self, id: i64, status: EventStatus, note: Option<String>, retryable: bool) {
        self.ids.push(id);
        self.statuses.push(status.as_str());
        // A reason may quote HubSpot's error message.
        self.notes.push(note.map(into_storable));
        self.retryable.push(retryable);
    }

    /// Returns how many events failed for good.
    async fn write(&self, tx: &Tx<'_>) -> Result<u64, tokio_postgres::Error> {
        webhook_events::mark(tx, &self.ids, &self.statuses, &self.notes, &self.retryable).await
    }
}

/// Every HubSpot company the events name (merges name several), sorted and deduplicated.
fn companies_named<'a>(events: impl Iterator<Item = &'a (i64, WebhookEvent)>) -> Vec<String> {
    let mut ids = std::collections::BTreeSet::new();
    for (_, event) in events.filter(|(_, event)| event.object_type() == "company") {
        ids.insert(event.object_id);
        if let EventKind::Merge { survivor } = event.kind() {
            ids.insert(survivor);
        }
        ids.extend(event.merged_object_ids.iter().copied());
        ids.extend(event.primary_object_id);
    }
    ids.into_iter().map(|id| id.to_string()).collect()
}

/// Counts a finished event and queues its mark.
fn settle(report: &mut InboundReport, marks: &mut Marks, id: i64, outcome: Outcome) {
    let status = outcome.status();
    report.add(&outcome.tally);
    match status {
        EventStatus::Processed => report.processed += 1,
        EventStatus::Skipped => report.skipped += 1,
        EventStatus::Failed => report.failed += 1,
        EventStatus::Unrouted => report.unrouted += 1,
    }
    let refused_value = outcome.tally.invalid_values + outcome.tally.unstorable > 0;
    marks.push(
        id,
        status,
        outcome.note,
        status == EventStatus::Failed && !refused_value,
    );
}

/// Parses the claimed rows (a row that does not parse fails alone) and orders the events so a
/// record's changes apply oldest first.
fn parse_claimed(
    rows: Vec<(i64, serde_json::Value)>,
    report: &mut InboundReport,
    marks: &mut Marks,
) -> Claimed {
    let mut events = Vec::with_capacity(rows.len());
    for (id, raw) in rows {
        match serde_json::from_value::<WebhookEvent>(raw) {
            Ok(event) => events.push((id, event)),
            Err(_) => settle(
                report,
                marks,
                id,
                Outcome::new(
                    EventStatus::Failed,
                    Some("the stored event does not parse".into()),
                ),
            ),
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
    events
}

/// Where an event of `portal_id` goes, given the installation recorded for that portal.
fn route_of(
    home_portal: i64,
    portal_id: i64,
    installation: Option<&Installation>,
) -> Option<Outcome> {
    if portal_id == home_portal {
        return None;
    }
    let installation = match installation {
        None => {
            return Some(Outcome::new(
                EventStatus::Unrouted,
                Some(format!("portal {portal_id} is not installed")),
            ));
        }
        Some(installation) => installation,
    };
    match (installation.role, installation.status) {
        (_, InstallationStatus::Revoked) => Some(Outcome::new(
            EventStatus::Unrouted,
            Some(format!("portal {portal_id} was disconnected")),
        )),
        (InstallationRole::Customer(_), _) => Some(Outcome::skipped(
            "a customer portal's changes are not synced into WARP",
        )),
        // A home installation of another id: the deployment's configuration names the home
        // portal, so this one is not routed anywhere.
        (InstallationRole::Home, _) => Some(Outcome::new(
            EventStatus::Unrouted,
            Some(format!(
                "portal {portal_id} is not this deployment's home portal"
            )),
        )),
    }
}

/// What became of the property changes decided together.
enum BulkOutcome {
    /// Applied, or left for a retry as a whole.
    Settled,
    /// A lock conflict: the claim ends and every event not yet settled waits for a retry.
    ClaimEnded,
    /// One event's write was refused: these events are applied one by one, so it fails alone.
    OneByOne(Claimed),
}

impl InboundProcessor {
    /// Claims up to `limit` RECEIVED events and applies them (see the module doc).
    pub async fn process_pending(&self, limit: u32) -> Result<InboundReport, ProcessError> {
        // Before the claim: a re-read must not hold the claimed events' locks.
        self.map.fresh().await;
        let limit = i64::from(limit.max(1));
        let mut client = self.database.client().await?;
        let mut transaction = client.transaction().await?;
        let rows = webhook_events::claim(&*transaction, limit).await?;
        let mut report = InboundReport {
            claimed: rows.len() as u64,
            ..InboundReport::default()
        };
        let mut marks = Marks::default();
        let events = parse_claimed(rows, &mut report, &mut marks);
        let events = self
            .route(&transaction, events, &mut report, &mut marks)
            .await?;

        // Deals are mirrored from HubSpot, apart from the company and contact rules.
        let (deal_events, events): (Claimed, Claimed) = events
            .into_iter()
            .partition(|(_, event)| event.object_type() == "deal");
        self.apply_deals(&mut transaction, deal_events, &mut report, &mut marks)
            .await?;
        let (bulk, single) = self.partition(events, &mut report, &mut marks);
        let reads = self.read_ahead(&transaction, &single).await?;
        if !single.is_empty() {
            // Single events lock their customers one at a time and keep them across
            // savepoints. Taken piecemeal, those locks can close a cycle with the worker's
            // id-ordered sweep; taken here in one id-ordered sweep, they cannot.
            let companies = companies_named(bulk.iter().chain(&single));
            let claim: &Tx<'_> = &transaction;
            inbound::lock_by_hubspot_companies(claim, &companies).await?;
        }
        let waiting = single.len();
        match self
            .apply_bulk(&mut transaction, bulk, waiting, &mut report, &mut marks)
            .await?
        {
            BulkOutcome::ClaimEnded => {}
            BulkOutcome::Settled => {
                self.apply_one_by_one(&mut transaction, single, &reads, &mut report, &mut marks)
                    .await?;
            }
            BulkOutcome::OneByOne(mut refused) => {
                refused.extend(single);
                self.apply_one_by_one(&mut transaction, refused, &reads, &mut report, &mut marks)
                    .await?;
            }
        }
        report.failed_for_good = marks.write(&transaction).await?;
        transaction.commit().await?;
        if report.claimed > 0 {
            tracing::info!(?report, "inbound events processed");
        }
        Ok(report)
    }

    /// Routes the claimed events by portal: the home portal's go on to be applied; the others
    /// are settled here (a customer portal's are not synced inbound; an unknown or
    /// disconnected portal's are kept UNROUTED), so nothing read from one portal reaches
    /// another portal's records.
    async fn route(
        &self,
        tx: &Tx<'_>,
        events: Claimed,
        report: &mut InboundReport,
        marks: &mut Marks,
    ) -> Result<Claimed, ProcessError> {
        if events
            .iter()
            .all(|(_, event)| event.portal_id == self.portal_id)
        {
            return Ok(events);
        }
        let installed: HashMap<i64, Installation> = installations::list(tx)
            .await?
            .into_iter()
            .map(|installation| (installation.portal_id, installation))
            .collect();
        let mut home = Vec::with_capacity(events.len());
        for (id, event) in events {
            match route_of(
                self.portal_id,
                event.portal_id,
                installed.get(&event.portal_id),
            ) {
                None => home.push((id, event)),
                Some(outcome) => settle(report, marks, id, outcome),
            }
        }
        Ok(home)
    }

    /// Decides the bulk property changes together under one savepoint. `waiting` counts the
    /// single events a lock conflict would leave for a retry too.
    async fn apply_bulk(
        &self,
        transaction: &mut Tx<'_>,
        bulk: Claimed,
        waiting: usize,
        report: &mut InboundReport,
        marks: &mut Marks,
    ) -> Result<BulkOutcome, ProcessError> {
        if bulk.is_empty() {
            return Ok(BulkOutcome::Settled);
        }
        let savepoint = transaction.transaction().await?;
        match self.property_changes(&savepoint, &bulk).await {
            Ok(outcomes) => {
                savepoint.commit().await?;
                for (id, outcome) in outcomes {
                    settle(report, marks, id, outcome);
                }
                Ok(BulkOutcome::Settled)
            }
            Err(HandleError::RetryLater(reason)) => {
                savepoint.rollback().await?;
                tracing::warn!(events = bulk.len(), %reason, "inbound events left for a retry");
                report.retry_later += bulk.len() as u64;
                Ok(BulkOutcome::Settled)
            }
            Err(HandleError::LockConflict(reason)) => {
                savepoint.rollback().await?;
                let left = bulk.len() + waiting;
                tracing::warn!(events = left, %reason, "lock conflict: the claim ends here, its events wait for a retry");
                report.retry_later += left as u64;
                Ok(BulkOutcome::ClaimEnded)
            }
            Err(HandleError::Failed(reason)) => {
                savepoint.rollback().await?;
                tracing::warn!(events = bulk.len(), %reason, "batched apply refused; applying event by event");
                Ok(BulkOutcome::OneByOne(bulk))
            }
        }
    }

    /// Applies events one at a time in record and time order, each under its own savepoint, so
    /// one failure stays alone; a lock conflict ends the claim.
    async fn apply_one_by_one(
        &self,
        transaction: &mut Tx<'_>,
        mut events: Claimed,
        reads: &HubSpotReads,
        report: &mut InboundReport,
        marks: &mut Marks,
    ) -> Result<(), ProcessError> {
        events.sort_by_key(|(id, event)| (event.object_id, event.occurred_at, *id));
        for (index, (id, event)) in events.iter().enumerate() {
            let savepoint = transaction.transaction().await?;
            let mut batch = DecisionBatch::new(self.portal_id);
            let result = match self.handle(&savepoint, &mut batch, reads, event).await {
                Ok(outcome) => batch
                    .flush(&savepoint)
                    .await
                    .map(|()| outcome)
                    .map_err(HandleError::from),
                Err(error) => Err(error),
            };
            match result {
                Ok(outcome) => {
                    savepoint.commit().await?;
                    settle(report, marks, *id, outcome);
                }
                Err(HandleError::RetryLater(reason)) => {
                    savepoint.rollback().await?;
                    tracing::warn!(event_row = id, %reason, "inbound event left for a retry");
                    report.retry_later += 1;
                }
                Err(HandleError::LockConflict(reason)) => {
                    savepoint.rollback().await?;
                    let left = events.len() - index;
                    tracing::warn!(event_row = id, events = left, %reason, "lock conflict: the claim ends here, its events wait for a retry");
                    report.retry_later += left as u64;
                    break;
                }
                Err(HandleError::Failed(reason)) => {
                    savepoint.rollback().await?;
                    tracing::warn!(event_row = id, %reason, "inbound event failed");
                    settle(
                        report,
                        marks,
                        *id,
                        Outcome::new(EventStatus::Failed, Some(reason)),
                    );
                }
            }
        }
        Ok(())
    }

    /// Settles the events the rules skip without reading anything, and splits the rest: the
    /// property changes of companies that have only property changes in this claim are decided
    /// together (`bulk`); a company with a creation, deletion, restore or merge in the claim has
    /// all its events handled one by one in order (`single`), since those change its link.
    fn partition(
        &self,
        events: Claimed,
        report: &mut InboundReport,
        marks: &mut Marks,
    ) -> (Claimed, Claimed) {
        let mut lifecycle = std::collections::HashSet::new();
        for (_, event) in &events {
            match event.kind() {
                EventKind::PropertyChange => {}
                EventKind::Merge { survivor } => {
                    lifecycle.insert(event.object_id);
                    lifecycle.insert(survivor);
                    lifecycle.extend(event.merged_object_ids.iter().copied());
                    lifecycle.extend(event.primary_object_id);
                }
                _ => {
                    lifecycle.insert(event.object_id);
                }
            }
        }
        let (mut bulk, mut single) = (Vec::new(), Vec::new());
        for (id, event) in events {
            if let Some(outcome) = self.not_synced(&event) {
                settle(report, marks, id, outcome);
            } else if event.kind() == EventKind::PropertyChange
                && event.object_type() == "company"
                && !lifecycle.contains(&event.object_id)
            {
                match self.property_mapping(&event) {
                    Ok(_) => bulk.push((id, event)),
                    Err(_) if company_rule::is_lifecycle_customer(&event) => {
                        single.push((id, event));
                    }
                    Err(why) => settle(report, marks, id, Outcome::skipped(why)),
                }
            } else {
                single.push((id, event));
            }
        }
        (bulk, single)
    }

    /// Decides property changes of companies without lifecycle events in the claim: one lock of
    /// all their customers, one read of their field states, decisions in memory, one flush.
    async fn property_changes(
        &self,
        tx: &Tx<'_>,
        events: &[(i64, WebhookEvent)],
    ) -> Result<Vec<(i64, Outcome)>, HandleError> {
        let mut company_ids: Vec<String> = events
            .iter()
            .map(|(_, event)| event.object_id.to_string())
            .collect();
        company_ids.sort_unstable();
        company_ids.dedup();
        let customers = inbound::lock_by_hubspot_companies(tx, &company_ids).await?;
        let linked: HashMap<String, Uuid> = customers
            .iter()
            .filter_map(|customer| {
                let company = customer.external_ids.hubspot_company_id.clone()?;
                Some((company, customer.id))
            })
            .collect();
        let mut batch = DecisionBatch::new(self.portal_id);
        batch.admit(tx, customers).await?;
        let outcomes = events
            .iter()
            .map(|(id, event)| {
                let customer = linked.get(&event.object_id.to_string()).copied();
                (*id, self.property_change(&mut batch, event, customer))
            })
            .collect();
        batch.flush(tx).await?;
        Ok(outcomes)
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

    /// Events the sync ignores whatever the database holds.
    fn not_synced(&self, event: &WebhookEvent) -> Option<Outcome> {
        if event.portal_id != self.portal_id {
            return Some(Outcome::skipped("the event is for another portal"));
        }
        match (event.object_type(), event.kind()) {
            (_, EventKind::Other) | ("company", EventKind::AssociationChange) => {
                Some(Outcome::skipped("event type not synced"))
            }
            ("company" | "contact", _) => None,
            _ => Some(Outcome::skipped("object type not synced")),
        }
    }

    /// Handles one event; its writes are in `batch` (flushed by the caller) or already made.
    async fn handle(
        &self,
        tx: &Tx<'_>,
        batch: &mut DecisionBatch<Customer>,
        reads: &HubSpotReads,
        event: &WebhookEvent,
    ) -> Result<Outcome, HandleError> {
        if let Some(outcome) = self.not_synced(event) {
            return Ok(outcome);
        }
        if event.object_type() == "contact" {
            return self.handle_contact(tx, reads, event).await;
        }
        match event.kind() {
            EventKind::PropertyChange => {
                if let Err(why) = self.property_mapping(event) {
                    if company_rule::is_lifecycle_customer(event) {
                        return self.lifecycle_customer(tx, event).await;
                    }
                    return Ok(Outcome::skipped(why));
                }
                let company_id = event.object_id.to_string();
                let customer = inbound::lock_by_hubspot_company(tx, &company_id).await?;
                let customer_id = customer.as_ref().map(|c| c.id);
                batch.admit(tx, customer.into_iter().collect()).await?;
                Ok(self.property_change(batch, event, customer_id))
            }
            EventKind::Creation => self.creation(tx, batch, reads, event).await,
            EventKind::Deletion => self.deletion(tx, event).await,
            EventKind::Restore => self.restore(tx, event).await,
            EventKind::Merge { survivor } => self.merge(tx, batch, reads, event, survivor).await,
            EventKind::AssociationChange | EventKind::Other => {
                Ok(Outcome::skipped("event type not synced"))
            }
        }
    }

    /// The mapping of the property a propertyChange names, or why the event is skipped.
    fn property_mapping(&self, event: &WebhookEvent) -> Result<FieldMapping, &'static str> {
        let Some(property) = event.property_name.as_deref() else {
            return Err("the event names no property");
        };
        self.map
            .current()
            .by_hubspot_property(property)
            .cloned()
            .ok_or("unmapped property")
    }

    /// Decides a propertyChange for the customer linked to its company (admitted to `batch`).
    fn property_change(
        &self,
        batch: &mut DecisionBatch<Customer>,
        event: &WebhookEvent,
        customer_id: Option<Uuid>,
    ) -> Outcome {
        let mapping = match self.property_mapping(event) {
            Ok(mapping) => mapping,
            Err(why) => return Outcome::skipped(why),
        };
        let Some(customer_id) = customer_id else {
            return Outcome::skipped("no customer is linked to the company");
        };
        let result = batch.decide_field(
            customer_id,
            &mapping,
            event.property_value.as_deref(),
            event.occurred_at,
            "PROPERTY_CHANGE",
        );
        Outcome {
            status: Some(result.status),
            note: result.note,
            tally: result.tally,
        }
    }

    /// Decides every enabled mapped property of a (re)read company at `occurred_at`, like a
    /// propertyChange each (the BAN is the link key, not compared).
    async fn decide_company(
        &self,
        tx: &Tx<'_>,
        batch: &mut DecisionBatch<Customer>,
        customer: Customer,
        company: &HubSpotRecord,
        occurred_at: DateTime<Utc>,
        operation: &'static str,
    ) -> Result<InboundReport, HandleError> {
        let customer_id = customer.id;
        batch.admit(tx, vec![customer]).await?;
        let mut tally = InboundReport::default();
        let map = self.map.current();
        for mapping in map.iter() {
            if !mapping.enabled || mapping.field == WarpField::Ban {
                continue;
            }
            let Some(value) = company.properties.get(&mapping.hubspot_property) else {
                continue;
            };
            let result = batch.decide_field(
                customer_id,
                mapping,
                value.as_deref(),
                occurred_at,
                operation,
            );
            tally.add(&result.tally);
        }
        Ok(tally)
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
            object_type: ObjectType::Companies,
            local_id: customer_id,
            queue_id: None,
            operation,
            status,
            fields: Vec::new(),
            hubspot_id: Some(company_id.to_owned()),
            error,
        }
    }

    /// A company created in HubSpot with the `warp_ban` of an unlinked customer is linked to
    /// it, and its mapped properties are decided at the creation time.
    async fn creation(
        &self,
        tx: &Tx<'_>,
        batch: &mut DecisionBatch<Customer>,
        reads: &HubSpotReads,
        event: &WebhookEvent,
    ) -> Result<Outcome, HandleError> {
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
        if self.hubspot.is_none() {
            return Ok(Outcome::skipped(
                "no HubSpot client configured to read the company's warp_ban",
            ));
        }
        let Some(company) = reads.company(event.object_id)? else {
            return Ok(Outcome::skipped("the company no longer exists in HubSpot"));
        };
        // The key's property is fixed (FieldMapError::KeyFieldFixed).
        let Some(ban) = company
            .property(WARP_BAN_PROPERTY)
            .and_then(|text| canonical_opt(WarpField::Ban, Some(text)))
        else {
            return self.company_without_ban(tx, &company).await;
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
            .decide_company(tx, batch, linked, &company, event.occurred_at, "CREATION")
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
        Ok(webhook_events::newer_lifecycle_processed(
            tx,
            event.portal_id,
            ObjectType::Companies,
            event.object_id,
            event.occurred_at_ms(),
        )
        .await?)
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
        let queue_id = outbox::enqueue(
            tx,
            self.portal_id,
            ObjectType::Companies,
            relinked.id,
            OutboxOperation::Resync,
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
        batch: &mut DecisionBatch<Customer>,
        reads: &HubSpotReads,
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
        if self.hubspot.is_none() {
            notes.push("survivor not re-read: no HubSpot client configured".into());
            return Ok(Outcome {
                status: Some(EventStatus::Processed),
                note: Some(notes.join("; ")),
                tally,
            });
        }
        match reads.company(survivor)? {
            Some(company) => {
                let decided = self
                    .decide_company(tx, batch, customer, &company, event.occurred_at, "MERGE")
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn installation(
        portal_id: i64,
        role: InstallationRole,
        status: InstallationStatus,
    ) -> Installation {
        Installation {
            portal_id,
            role,
            token_source: installations::TokenSource::OAuth,
            status,
            scopes: Vec::new(),
            hub_domain: None,
            connected_at: Utc::now(),
            connected_by: None,
            access_token_expires_at: None,
            last_refreshed_at: None,
            refresh_count: 0,
            last_error: None,
            rate_limit_max: None,
        }
    }

    fn status_of(outcome: Option<Outcome>) -> Option<EventStatus> {
        outcome.map(|outcome| outcome.status())
    }

    #[test]
    fn only_the_home_portals_events_go_on_to_be_applied() {
        let customer = InstallationRole::Customer(Uuid::nil());
        assert_eq!(status_of(route_of(1, 1, None)), None);
        assert_eq!(status_of(route_of(1, 2, None)), Some(EventStatus::Unrouted));
        for status in [
            InstallationStatus::Active,
            InstallationStatus::NeedsReconnect,
        ] {
            let connected = installation(2, customer, status);
            assert_eq!(
                status_of(route_of(1, 2, Some(&connected))),
                Some(EventStatus::Skipped)
            );
        }
        let disconnected = installation(2, customer, InstallationStatus::Revoked);
        assert_eq!(
            status_of(route_of(1, 2, Some(&disconnected))),
            Some(EventStatus::Unrouted)
        );
        let other_home = installation(3, InstallationRole::Home, InstallationStatus::Active);
        assert_eq!(
            status_of(route_of(1, 3, Some(&other_home))),
            Some(EventStatus::Unrouted)
        );
    }
}
