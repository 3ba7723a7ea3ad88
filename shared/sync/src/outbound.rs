//! The outbound worker: from outbox rows to HubSpot companies (DESIGN §1 `sync-worker`, §4
//! guarantees 1–5).
//!
//! One pass: claim the rows (a lease, so duplicate or redelivered messages are harmless) →
//! coalesce them per customer (one push per customer however many rows) → load the customers
//! and their field states → per customer, the fields to send: everything for a customer not
//! yet linked to a company or asked to RESYNC, else only the fields whose value differs from
//! the value HubSpot is known to hold → customers with nothing to send are DONE at once, no
//! HubSpot call (guarantee 3) → the rest go in batch upserts keyed by `warp_ban`, 100 a call
//! (guarantee 2: a retry updates, it cannot create a second company) → per customer HubSpot
//! accepted: link the company id, record the sent values as HubSpot's known values, mark its
//! rows DONE, log SUCCESS; per customer it refused: mark its rows FAILED with backoff.
//!
//! A row is DONE only after HubSpot accepted the values it carried. The customer is loaded
//! after its rows were claimed, so every claimed row's change is in what is sent; a change
//! committed meanwhile has a newer row, which is not claimed and stays PENDING for the next
//! pass.

use chrono::Utc;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;
use warp_domain::sync::{
    FieldChange, FieldMap, FieldValues, ObjectType, WarpField, full_push, key_property,
    outbound_diff,
};
use warp_hubspot::{
    BATCH_INPUT_LIMIT, BatchItemError, BatchUpsertInput, CredentialsError, HubSpotClient,
    HubSpotError,
};

use crate::adapters::{
    CONTACTS_HOME_ONLY, Companies, Contacts, LocalRecord, NotSyncedHere, ObjectAdapter,
    PortalCompanies, UpsertKey,
};
use warp_store::field_state::{self, Side};
use warp_store::outbox::{self, ClaimedRow, OutboxOperation, OutboxStatus, RetryPolicy};
use warp_store::sync_config::MappingSource;
use warp_store::sync_log::{self, LogStatus, OutboundLogEntry};
use warp_store::{Database, StoreError};

/// How long a claim holds rows by default: longer than one pass can take (10 batch calls
/// paced by the rate budget), short enough that a crashed worker's rows come back soon.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(120);

/// How many batch calls of one pass may be in flight at once.
pub const CHUNKS_IN_FLIGHT: usize = 4;

/// How many due rows the local loop claims per pass.
pub const LOOP_BATCH: usize = 500;

/// How many passes a drain keeps going at once (see [`OutboundWorker::drain_due`]).
pub const PASSES_IN_FLIGHT: usize = 2;

/// What stops a pass before it could process anything.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("outbox store: {0}")]
    Store(#[from] StoreError),
}

/// The outcome of one pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessReport {
    /// Rows that are DONE, or need nothing from this caller (already done, being processed by
    /// another worker, out of attempts): a queue may forget them.
    pub succeeded: Vec<i64>,
    /// Rows not done, with why (no values, never PII): a queue should deliver them again.
    pub failed: Vec<(i64, String)>,
    /// Customers whose values HubSpot accepted in this pass.
    pub pushed_customers: usize,
    /// Batch calls made to HubSpot (not counting the client's own retries).
    pub hubspot_calls: usize,
}

impl ProcessReport {
    pub(crate) fn absorb(&mut self, other: ProcessReport) {
        self.succeeded.extend(other.succeeded);
        self.failed.extend(other.failed);
        self.pushed_customers += other.pushed_customers;
        self.hubspot_calls += other.hubspot_calls;
    }

    /// Ids in ascending order, whatever order the calls finished in.
    pub(crate) fn sorted(mut self) -> Self {
        self.succeeded.sort_unstable();
        self.failed.sort_by_key(|(id, _)| *id);
        self
    }

    pub(crate) fn fail_all(ids: impl IntoIterator<Item = i64>, why: &str) -> Self {
        ProcessReport {
            failed: ids.into_iter().map(|id| (id, why.to_owned())).collect(),
            ..ProcessReport::default()
        }
    }

    /// How many rows this pass looked at.
    pub fn rows(&self) -> usize {
        self.succeeded.len() + self.failed.len()
    }
}

/// Pushes outbox rows to HubSpot. Build it once per process; it is cheap to share in an `Arc`.
pub struct OutboundWorker {
    database: Database,
    hubspot: HubSpotClient,
    mapping: MappingSource,
    portal_id: i64,
    /// The home portal keeps company links on the customer; another portal in `hubspot_links`.
    home: bool,
    lease: Duration,
    retry: RetryPolicy,
    /// Records per batch call (at most HubSpot's 100).
    batch_size: usize,
}

impl std::fmt::Debug for OutboundWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundWorker")
            .field("portal_id", &self.portal_id)
            .field("lease", &self.lease)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// One record's push in a pass (also built, with no rows, by the API's strict create).
pub struct Push {
    pub object_type: ObjectType,
    pub record: LocalRecord,
    pub key: UpsertKey,
    pub rows: Vec<ClaimedRow>,
    pub changes: Vec<FieldChange>,
    pub operation: String,
}

impl Push {
    /// `record`'s push of `changes` by `adapter`, carrying `rows`.
    pub fn new(
        adapter: &impl ObjectAdapter,
        record: LocalRecord,
        known: &FieldValues,
        rows: Vec<ClaimedRow>,
        changes: Vec<FieldChange>,
        operation: String,
    ) -> Self {
        Push {
            object_type: adapter.object_type(),
            key: adapter.upsert_key(&record, known),
            record,
            rows,
            changes,
            operation,
        }
    }

    fn row_ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.rows.iter().map(|row| row.id)
    }

    fn newest_row(&self) -> i64 {
        self.rows.iter().map(|row| row.id).max().unwrap_or_default()
    }

    fn field_names(&self) -> Vec<String> {
        self.changes
            .iter()
            .map(|change| change.field.as_str().to_owned())
            .collect()
    }

    /// The upsert input: found by its upsert key, the object type's key always among the
    /// properties (so a contact adopted by email gains its `warp_user_id`).
    pub fn upsert_input(&self) -> BatchUpsertInput {
        let mut properties: BTreeMap<String, String> = self
            .changes
            .iter()
            .map(|change| {
                (
                    change.hubspot_property.clone(),
                    change.hubspot_value().to_owned(),
                )
            })
            .collect();
        properties.insert(
            key_property(self.object_type).to_owned(),
            self.record.key(self.object_type).to_owned(),
        );
        BatchUpsertInput::new(self.key.property, self.key.value.clone(), properties)
    }

    /// The values HubSpot holds once it accepted this push.
    pub fn pushed_values(&self) -> FieldValues {
        let mut values: FieldValues = self
            .changes
            .iter()
            .map(|change| (change.field, change.value.as_deref()))
            .collect();
        let key = WarpField::key(self.object_type);
        values.set(key, Some(self.record.key(self.object_type)));
        values
    }
}

/// What HubSpot said about one record's input.
pub enum Answer {
    /// `written_at`: HubSpot's own time of the write (the record's `updatedAt`), recorded as
    /// when HubSpot's side changed, so the webhook echo of this very write is not newer.
    Accepted {
        hubspot_id: String,
        written_at: chrono::DateTime<Utc>,
    },
    Refused {
        error: String,
        /// HubSpot refused the record itself (a `VALIDATION_ERROR`: an invalid value, or a
        /// rule of the portal's from 2026-09): sending it again cannot help until someone
        /// changes the record or the portal, so it is not retried by itself
        /// (docs/hubspot/PLATFORM-2026.md). The retry route brings it back.
        permanent: bool,
    },
    /// Not sent: the portal's installation needs reconnecting. The rows wait, their attempts
    /// kept, and are looked at again every [`RECONNECT_RECHECK`].
    Waiting { reason: String },
}

/// How often rows of a portal that needs reconnecting are looked at again.
pub const RECONNECT_RECHECK: Duration = Duration::from_secs(60);

impl Answer {
    fn accepted(upserted: &warp_hubspot::UpsertedRecord) -> Self {
        Answer::Accepted {
            hubspot_id: upserted.company.id.as_str().to_owned(),
            written_at: upserted.company.updated_at,
        }
    }
}

impl OutboundWorker {
    /// A worker for `portal_id` that pushes by the mapping `mapping` serves (read from
    /// `hubspot_sync_config`, see [`MappingSource::load`]).
    pub fn new(
        database: Database,
        hubspot: HubSpotClient,
        portal_id: i64,
        mapping: MappingSource,
    ) -> Self {
        OutboundWorker {
            database,
            hubspot,
            mapping,
            portal_id,
            home: true,
            lease: DEFAULT_LEASE,
            retry: RetryPolicy::default(),
            batch_size: BATCH_INPUT_LIMIT,
        }
    }

    /// A worker like this one (lease, retries, batch size) for a customer's portal.
    pub fn for_portal(
        &self,
        hubspot: HubSpotClient,
        portal_id: i64,
        mapping: MappingSource,
    ) -> Self {
        OutboundWorker {
            database: self.database.clone(),
            hubspot,
            mapping,
            portal_id,
            home: false,
            lease: self.lease,
            retry: self.retry,
            batch_size: self.batch_size,
        }
    }

    pub fn portal_id(&self) -> i64 {
        self.portal_id
    }

    /// How long a claim holds its rows.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Records per batch call, 1 to HubSpot's limit of 100.
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.clamp(1, BATCH_INPUT_LIMIT);
        self
    }

    /// How failed rows are retried.
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    pub fn database(&self) -> &Database {
        &self.database
    }

    /// Processes these outbox rows; returns the ids that FAILED (to be retried by SQS); rows
    /// that are DONE, skipped as duplicates or already processed count as success.
    pub async fn process(&self, outbox_ids: &[i64]) -> ProcessReport {
        let mut ids = outbox_ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let claimed = match outbox::claim_by_ids(
            &self.database,
            self.portal_id,
            &ids,
            self.lease,
            self.retry.max_attempts,
        )
        .await
        {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(error = %error, rows = ids.len(), "could not claim outbox rows");
                return ProcessReport::fail_all(ids, &format!("could not claim: {error}"));
            }
        };
        let claimed_ids: HashSet<i64> = claimed.iter().map(|row| row.id).collect();
        let unclaimed: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| !claimed_ids.contains(id))
            .collect();
        let mut report = self.classify_unclaimed(&unclaimed).await;
        report.absorb(self.process_claimed(claimed).await);
        report.sorted()
    }

    /// Claims up to `limit` due rows itself and processes them (the local loop).
    pub async fn process_due(&self, limit: usize) -> Result<ProcessReport, OutboundError> {
        let claimed = outbox::claim_due(
            &self.database,
            self.portal_id,
            limit,
            self.lease,
            self.retry.max_attempts,
        )
        .await?;
        Ok(self.process_claimed(claimed).await.sorted())
    }

    /// Claims and pushes due rows until a pass finds fewer than `limit` or none of its rows
    /// succeeded, keeping up to [`PASSES_IN_FLIGHT`] passes going: the next claim is made as
    /// soon as the previous one committed, so while one pass claims, loads and plans (Postgres
    /// work, no HubSpot call) another's calls hold the rate budget. One pass at a time left the
    /// budget idle at every boundary longer than its burst of two tokens covers (contacts and
    /// mixed pushes measured 0.92 to 0.96 of the ceiling). Claims run one after another: two at
    /// once would select the same first rows and the second would find them taken. The drain
    /// never drops a claim half-way (it holds a transaction that leases rows): a claim outlives
    /// the select that polls it. A failed claim starts no other, and the passes going finish
    /// before its error is returned. (Dropping the whole drain, as a shutdown does, drops its
    /// passes as dropping a pass always did: their rows wait for the lease.)
    pub async fn drain_due(&self, limit: usize) -> Result<ProcessReport, OutboundError> {
        use futures::StreamExt;
        let claim_due = || {
            Box::pin(outbox::claim_due(
                &self.database,
                self.portal_id,
                limit,
                self.lease,
                self.retry.max_attempts,
            ))
        };
        let mut claim = Some(claim_due());
        let mut passes = futures::stream::FuturesUnordered::new();
        let mut drained = ProcessReport::default();
        let mut first_error: Option<OutboundError> = None;
        let mut more = true;
        loop {
            tokio::select! {
                claimed = async { claim.as_mut().expect("enabled only with a claim").await }, if claim.is_some() => {
                    claim = None;
                    match claimed {
                        Ok(rows) => {
                            more = rows.len() >= limit;
                            if !rows.is_empty() {
                                passes.push(self.process_claimed(rows));
                            }
                        }
                        Err(error) => {
                            more = false;
                            first_error.get_or_insert(error.into());
                        }
                    }
                }
                Some(report) = passes.next(), if !passes.is_empty() => {
                    if report.rows() > 0 && report.succeeded.is_empty() {
                        more = false;
                    }
                    drained.absorb(report);
                }
                else => break,
            }
            if claim.is_none() && more && passes.len() < PASSES_IN_FLIGHT {
                claim = Some(claim_due());
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(drained.sorted()),
        }
    }

    /// Why rows a claim left alone were left alone, and whether a queue should retry them.
    async fn classify_unclaimed(&self, ids: &[i64]) -> ProcessReport {
        if ids.is_empty() {
            return ProcessReport::default();
        }
        let statuses = match outbox::statuses(&self.database, ids).await {
            Ok(statuses) => statuses,
            Err(error) => {
                return ProcessReport::fail_all(
                    ids.iter().copied(),
                    &format!("could not read the rows: {error}"),
                );
            }
        };
        let by_id: HashMap<i64, &outbox::RowStatus> = statuses.iter().map(|s| (s.id, s)).collect();
        let mut report = ProcessReport::default();
        for id in ids {
            let Some(status) = by_id.get(id) else {
                // No such row: a retry cannot make it appear.
                tracing::warn!(outbox_id = id, "unknown outbox id skipped");
                report.succeeded.push(*id);
                continue;
            };
            let done_for_the_queue = !status.outbound
                || match status.status {
                    OutboxStatus::Done => true,
                    OutboxStatus::InFlight => status.leased,
                    OutboxStatus::Failed => status.attempts >= self.retry.max_attempts,
                    OutboxStatus::Pending => false,
                };
            if done_for_the_queue {
                report.succeeded.push(*id);
            } else if status.status == OutboxStatus::Failed {
                report
                    .failed
                    .push((*id, "waiting for its retry time".to_owned()));
            } else {
                report
                    .failed
                    .push((*id, "another push of this customer is in flight".to_owned()));
            }
        }
        report
    }

    /// Everything after the claim. A database failure gives the rows back (PENDING) and
    /// reports them failed; the lease would bring them back anyway.
    async fn process_claimed(&self, claimed: Vec<ClaimedRow>) -> ProcessReport {
        if claimed.is_empty() {
            return ProcessReport::default();
        }
        let ids: Vec<i64> = claimed.iter().map(|row| row.id).collect();
        match self.push_claimed(claimed).await {
            Ok(report) => report,
            Err(error) => {
                tracing::error!(error = %error, rows = ids.len(), "outbound pass failed after the claim");
                if let Ok(client) = self.database.client().await {
                    let done = outbox::statuses(&self.database, &ids)
                        .await
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|s| s.status == OutboxStatus::InFlight)
                        .map(|s| s.id)
                        .collect::<Vec<_>>();
                    let _ = outbox::release(&**client, &done).await;
                }
                ProcessReport::fail_all(ids, &format!("outbound pass failed: {error}"))
            }
        }
    }

    /// The claimed rows, per object type, each by its adapter.
    async fn push_claimed(&self, claimed: Vec<ClaimedRow>) -> Result<ProcessReport, StoreError> {
        let (companies, contacts): (Vec<ClaimedRow>, Vec<ClaimedRow>) = claimed
            .into_iter()
            .partition(|row| row.object_type == ObjectType::Companies);
        let mut report = ProcessReport::default();
        if !companies.is_empty() {
            let pass = if self.home {
                self.push_rows(&Companies, companies).await?
            } else {
                self.push_rows(&PortalCompanies, companies).await?
            };
            report.absorb(pass);
        }
        if !contacts.is_empty() {
            let pass = if self.home {
                self.push_rows(&Contacts, contacts).await?
            } else {
                let not_here = NotSyncedHere {
                    adapter: Contacts,
                    why: CONTACTS_HOME_ONLY,
                };
                self.push_rows(&not_here, contacts).await?
            };
            report.absorb(pass);
        }
        Ok(report)
    }

    /// Plans one push per record (coalescing its rows), books the records with nothing to
    /// send, and sends the rest in batch calls.
    async fn push_rows<A: ObjectAdapter>(
        &self,
        adapter: &A,
        claimed: Vec<ClaimedRow>,
    ) -> Result<ProcessReport, StoreError> {
        let started_at = Utc::now();
        // Before the connection: a stale mapping is re-read on a connection of its own.
        let field_map = self.mapping.fresh_for(adapter.object_type()).await;
        let client = self.database.client().await?;
        let mut plan = self
            .plan_pushes(adapter, &**client, &field_map, claimed)
            .await?;
        let to_send = std::mem::take(&mut plan.to_send);
        let mut report = self
            .settle_unsent(&**client, adapter.object_type(), plan, started_at)
            .await?;
        drop(client);
        report.absorb(self.send_all(adapter, to_send, started_at).await?);
        Ok(report)
    }

    /// Loads the claimed rows' records and decides, per record, what its rows come to: a push
    /// of the fields that differ from what HubSpot holds (all of them for a RESYNC or a first
    /// push), nothing to send, a wait, or a failure.
    async fn plan_pushes<A: ObjectAdapter>(
        &self,
        adapter: &A,
        client: &(impl tokio_postgres::GenericClient + Sync),
        field_map: &FieldMap,
        claimed: Vec<ClaimedRow>,
    ) -> Result<PushPlan, StoreError> {
        let object_type = adapter.object_type();
        let mut rows_by_record: BTreeMap<Uuid, Vec<ClaimedRow>> = BTreeMap::new();
        for row in claimed {
            rows_by_record.entry(row.local_id).or_default().push(row);
        }
        let record_ids: Vec<Uuid> = rows_by_record.keys().copied().collect();
        let mut records = adapter.load(client, self.portal_id, &record_ids).await?;
        let states = field_state::load(client, self.portal_id, object_type, &record_ids).await?;

        let mut plan = PushPlan::default();
        for (record_id, rows) in rows_by_record {
            let Some(record) = records.get(&record_id) else {
                let why = format!("the {object_type} record does not exist");
                for row in &rows {
                    plan.report.failed.push((row.id, why.clone()));
                    plan.missing.push((
                        row.id,
                        why.clone(),
                        self.retry.jittered_delay(row.attempts),
                    ));
                }
                continue;
            };
            if let Some(why) = record.waiting_for {
                // Not this record's failure: it waits without using up its attempts.
                for row in &rows {
                    plan.report.failed.push((row.id, why.to_owned()));
                    plan.waiting.push((row.id, why.to_owned(), self.retry.base));
                }
                continue;
            }
            let Some(record) = records.remove(&record_id) else {
                continue;
            };
            let resync = rows
                .iter()
                .any(|row| row.operation == OutboxOperation::Resync);
            let operation = if resync {
                OutboxOperation::Resync.as_str().to_owned()
            } else {
                rows.iter()
                    .max_by_key(|row| row.id)
                    .map(|row| row.operation.as_str().to_owned())
                    .unwrap_or_default()
            };
            let known = states
                .get(&record_id)
                .map(field_state::hubspot_known_values)
                .unwrap_or_default();
            let changes = if resync || record.hubspot_id.is_none() {
                full_push(field_map, &record.values)
            } else {
                outbound_diff(field_map, &record.values, &known)
            };
            let excluded = record.excluded;
            let push = Push::new(adapter, record, &known, rows, changes, operation);
            if let Some(why) = excluded {
                plan.excluded.push((push, why));
            } else if push.changes.is_empty() && push.record.associate_with.is_none() {
                // A contact whose company association is due is sent even when no field differs.
                plan.unchanged.push(push);
            } else {
                plan.to_send.push(push);
            }
        }
        Ok(plan)
    }

    /// Books every planned row that sends nothing: missing records FAILED, waiting ones
    /// deferred, excluded and unchanged ones DONE with a SKIPPED log row.
    async fn settle_unsent(
        &self,
        client: &(impl tokio_postgres::GenericClient + Sync),
        object_type: ObjectType,
        plan: PushPlan,
        started_at: chrono::DateTime<Utc>,
    ) -> Result<ProcessReport, StoreError> {
        let PushPlan {
            mut report,
            missing,
            waiting,
            excluded,
            unchanged,
            ..
        } = plan;
        outbox::mark_failed(client, &missing).await?;
        outbox::defer(client, &waiting).await?;
        if !excluded.is_empty() {
            let ids: Vec<i64> = excluded
                .iter()
                .flat_map(|(push, _)| push.row_ids())
                .collect();
            outbox::mark_done(client, &ids, self.portal_id, object_type, &[]).await?;
            let entries: Vec<OutboundLogEntry> = excluded
                .iter()
                .map(|(push, why)| {
                    let mut entry = self.log_entry(
                        push,
                        LogStatus::Skipped,
                        None,
                        Some((*why).to_owned()),
                        started_at,
                    );
                    entry.fields.clear();
                    entry
                })
                .collect();
            sync_log::insert_outbound(client, &entries).await?;
            report.succeeded.extend(ids);
        }

        // Guarantee 3: nothing differs from what HubSpot holds, so nothing is sent.
        if !unchanged.is_empty() {
            let ids: Vec<i64> = unchanged.iter().flat_map(Push::row_ids).collect();
            let superseded: Vec<(Uuid, i64)> = unchanged
                .iter()
                .map(|push| (push.record.id, push.record.version))
                .collect();
            outbox::mark_done(client, &ids, self.portal_id, object_type, &superseded).await?;
            let entries: Vec<OutboundLogEntry> = unchanged
                .iter()
                .map(|push| {
                    let mut entry = self.log_entry(
                        push,
                        LogStatus::Skipped,
                        push.record.hubspot_id.clone(),
                        None,
                        started_at,
                    );
                    entry.fields.clear();
                    entry
                })
                .collect();
            sync_log::insert_outbound(client, &entries).await?;
            report.succeeded.extend(ids);
        }
        Ok(report)
    }

    /// Sends the pushes in chunks of one batch call each, recorded as soon as HubSpot
    /// answered, so a crash loses at most one call's bookkeeping (which the upsert makes safe
    /// to repeat).
    async fn send_all<A: ObjectAdapter>(
        &self,
        adapter: &A,
        to_send: Vec<Push>,
        started_at: chrono::DateTime<Utc>,
    ) -> Result<ProcessReport, StoreError> {
        let mut chunks = Vec::new();
        let mut rest = to_send;
        while !rest.is_empty() {
            let tail = rest.split_off(rest.len().min(self.batch_size));
            chunks.push(std::mem::replace(&mut rest, tail));
        }
        // A few calls in flight at once, so one call's bookkeeping overlaps the next call;
        // the rate budget still paces the calls. Chunks hold different records.
        use futures::StreamExt;
        let outcomes: Vec<Result<ProcessReport, StoreError>> = futures::stream::iter(chunks)
            .map(|chunk| self.push_chunk(adapter, chunk, started_at))
            .buffer_unordered(CHUNKS_IN_FLIGHT)
            .collect()
            .await;
        let mut report = ProcessReport::default();
        let mut first_error = None;
        for outcome in outcomes {
            match outcome {
                Ok(chunk_report) => report.absorb(chunk_report),
                Err(error) => first_error = first_error.or(Some(error)),
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(report),
        }
    }

    fn log_entry(
        &self,
        push: &Push,
        status: LogStatus,
        hubspot_id: Option<String>,
        error: Option<String>,
        started_at: chrono::DateTime<Utc>,
    ) -> OutboundLogEntry {
        OutboundLogEntry {
            portal_id: self.portal_id,
            object_type: push.object_type,
            queue_id: push.newest_row(),
            local_id: push.record.id,
            operation: push.operation.clone(),
            status,
            fields: push.field_names(),
            hubspot_id,
            error,
            started_at,
        }
    }

    /// One batch upsert of at most 100 records, what the adapter adds after it (a contact's
    /// company association), and its bookkeeping.
    async fn push_chunk<A: ObjectAdapter>(
        &self,
        adapter: &A,
        chunk: Vec<Push>,
        started_at: chrono::DateTime<Utc>,
    ) -> Result<ProcessReport, StoreError> {
        let sent = self.send_chunk(adapter, &chunk).await;
        let mut report = ProcessReport {
            hubspot_calls: sent.calls,
            ..ProcessReport::default()
        };
        // The bookkeeping of one call is one transaction: one commit instead of one per
        // record, and never a row DONE without HubSpot's values recorded.
        let mut client = self.database.client().await?;
        let transaction = client.transaction().await?;
        let connection: &tokio_postgres::Transaction<'_> = &transaction;
        // The records first: API writes lock a record before its field state, so taking
        // them in that order here too means bookkeeping cannot deadlock with them.
        let object_type = adapter.object_type();
        let record_ids: Vec<Uuid> = chunk.iter().map(|push| push.record.id).collect();
        let current_versions = outbox::lock_versions(connection, object_type, &record_ids).await?;
        let answers = self
            .record_answers(adapter, connection, &chunk, sent)
            .await?;
        self.settle_rows(
            connection,
            object_type,
            &chunk,
            &answers,
            &current_versions,
            started_at,
            &mut report,
        )
        .await?;
        transaction.commit().await?;
        tracing::info!(
            object_type = %object_type,
            records = chunk.len(),
            accepted = report.pushed_customers,
            refused = chunk.len() - report.pushed_customers,
            calls = report.hubspot_calls,
            "outbound batch pushed"
        );
        Ok(report)
    }

    /// The HubSpot calls of one chunk: the batch upsert, then what the adapter adds for the
    /// records HubSpot accepted. No database work: nothing is held while HubSpot answers.
    async fn send_chunk<A: ObjectAdapter>(&self, adapter: &A, chunk: &[Push]) -> SentChunk {
        let inputs: Vec<BatchUpsertInput> = chunk.iter().map(Push::upsert_input).collect();
        let objects = self.hubspot.objects(adapter.object_type());
        let result = objects.batch_upsert(&inputs).await;
        let mut answers = answers_by_input(&inputs, &result);
        let mut calls = result.calls;
        // A record upserted by another key than its own (a contact by email at first link)
        // that HubSpot refused as a duplicate may be one HubSpot already holds under its own
        // key: a write whose bookkeeping was lost (the process died after HubSpot answered)
        // and whose email changed since. Upserted again by its own key, it finds that record.
        let key = key_property(adapter.object_type());
        let refused_as_duplicate = result
            .errors
            .iter()
            .any(|error| error.category == "CONFLICT")
            || result
                .failed_calls
                .iter()
                .any(|failed| matches!(failed.error, HubSpotError::Conflict { .. }));
        let again: Vec<usize> = (0..inputs.len())
            .filter(|&index| {
                refused_as_duplicate
                    && inputs[index].id_property != key
                    && matches!(answers[index], Answer::Refused { .. })
            })
            .collect();
        if !again.is_empty() {
            let by_key: Vec<BatchUpsertInput> = again
                .iter()
                .map(|&index| {
                    let input = &inputs[index];
                    let value = input.properties.get(key).cloned().unwrap_or_default();
                    BatchUpsertInput::new(key, value, input.properties.clone())
                })
                .collect();
            let retried = objects.batch_upsert(&by_key).await;
            calls += retried.calls;
            for (index, answer) in again.into_iter().zip(answers_by_input(&by_key, &retried)) {
                if matches!(answer, Answer::Accepted { .. }) {
                    answers[index] = answer;
                }
            }
        }
        let written: Vec<(&LocalRecord, &str)> = chunk
            .iter()
            .zip(&answers)
            .filter_map(|(push, answer)| match answer {
                Answer::Accepted { hubspot_id, .. } => Some((&push.record, hubspot_id.as_str())),
                Answer::Refused { .. } | Answer::Waiting { .. } => None,
            })
            .collect();
        let (after_failures, after_calls) = adapter.after_written(&self.hubspot, &written).await;
        let associated: Vec<(Uuid, String)> = written
            .iter()
            .filter(|(record, _)| !after_failures.contains_key(&record.id))
            .filter_map(|(record, _)| Some((record.id, record.associate_with.clone()?)))
            .collect();
        SentChunk {
            answers,
            after_failures,
            associated,
            calls: calls + after_calls,
        }
    }

    /// Records what HubSpot accepted: new links, what the adapter achieved, and HubSpot's
    /// values in the field state. Returns the final answers: an accepted record whose link
    /// clashed or whose follow-up failed is refused after all (retried).
    async fn record_answers<A: ObjectAdapter>(
        &self,
        adapter: &A,
        connection: &tokio_postgres::Transaction<'_>,
        chunk: &[Push],
        sent: SentChunk,
    ) -> Result<Vec<Answer>, StoreError> {
        let object_type = adapter.object_type();
        let SentChunk {
            mut answers,
            after_failures,
            associated,
            ..
        } = sent;
        let links: Vec<(Uuid, String)> = chunk
            .iter()
            .zip(&answers)
            .filter_map(|(push, answer)| match answer {
                Answer::Accepted { hubspot_id, .. }
                    if push.record.hubspot_id.as_deref() != Some(hubspot_id.as_str()) =>
                {
                    Some((push.record.id, hubspot_id.clone()))
                }
                _ => None,
            })
            .collect();
        let clashes = adapter.link(connection, self.portal_id, &links).await?;
        adapter
            .record_after_written(connection, self.portal_id, &associated)
            .await?;
        let mut pushed = Vec::new();
        for (push, answer) in chunk.iter().zip(answers.iter_mut()) {
            if let Answer::Accepted {
                hubspot_id,
                written_at,
            } = answer
            {
                // HubSpot holds the values either way; record them so the next diff is right.
                pushed.push((push.record.id, push.pushed_values(), *written_at));
                if clashes.iter().any(|(record, _)| *record == push.record.id) {
                    *answer = Answer::Refused {
                        error: format!(
                            "HubSpot {object_type} record {hubspot_id} is already linked to another WARP record"
                        ),
                        permanent: false,
                    };
                } else if let Some(why) = after_failures.get(&push.record.id) {
                    *answer = Answer::Refused {
                        error: why.clone(),
                        permanent: false,
                    };
                }
            }
        }
        let recorded: Vec<(Uuid, &FieldValues, chrono::DateTime<Utc>)> = pushed
            .iter()
            .map(|(record, values, at)| (*record, values, *at))
            .collect();
        field_state::record_many(
            connection,
            self.portal_id,
            object_type,
            Side::HubSpot,
            &recorded,
        )
        .await?;
        Ok(answers)
    }

    /// Ends each row of the chunk by its answer (DONE, or FAILED with a retry time, or FAILED
    /// for good), queues a push-back for a record that changed meanwhile, and logs each record.
    #[allow(clippy::too_many_arguments)]
    async fn settle_rows(
        &self,
        connection: &tokio_postgres::Transaction<'_>,
        object_type: ObjectType,
        chunk: &[Push],
        answers: &[Answer],
        current_versions: &HashMap<Uuid, i64>,
        started_at: chrono::DateTime<Utc>,
        report: &mut ProcessReport,
    ) -> Result<(), StoreError> {
        let mut done_ids = Vec::new();
        let mut superseded = Vec::new();
        let mut failures = Vec::new();
        let mut permanent_failures = Vec::new();
        let mut waiting = Vec::new();
        let mut entries = Vec::with_capacity(chunk.len());
        for (push, answer) in chunk.iter().zip(answers) {
            let entry = match answer {
                Answer::Waiting { reason } => {
                    for row in &push.rows {
                        waiting.push((row.id, reason.clone(), RECONNECT_RECHECK));
                        // Done for the queue: the outbox holds the row, and the relay sends it
                        // again once the portal is reconnected (a queue retry would only end
                        // in the dead-letter queue).
                        report.succeeded.push(row.id);
                    }
                    // The installation's status says why; a log row every minute would not.
                    continue;
                }
                Answer::Accepted { hubspot_id, .. } => {
                    done_ids.extend(push.row_ids());
                    superseded.push((push.record.id, push.record.version));
                    report.succeeded.extend(push.row_ids());
                    report.pushed_customers += 1;
                    self.log_entry(
                        push,
                        LogStatus::Success,
                        Some(hubspot_id.clone()),
                        None,
                        started_at,
                    )
                }
                Answer::Refused { error, permanent } => {
                    for row in &push.rows {
                        let failure = (
                            row.id,
                            error.clone(),
                            self.retry.jittered_delay(row.attempts),
                        );
                        if *permanent {
                            permanent_failures.push(failure);
                        } else {
                            failures.push(failure);
                        }
                        report.failed.push((row.id, error.clone()));
                    }
                    self.log_entry(
                        push,
                        LogStatus::Failed,
                        push.record.hubspot_id.clone(),
                        Some(error.clone()),
                        started_at,
                    )
                }
            };
            entries.push(entry);
        }
        outbox::mark_done(
            connection,
            &done_ids,
            self.portal_id,
            object_type,
            &superseded,
        )
        .await?;
        // A record that changed after it was loaded, with no outbox row of its own (a HubSpot
        // edit applied meanwhile), may just have had that change overwritten in HubSpot by this
        // push: queue a push-back, whose diff sends WARP's value back over the stale one.
        let changed: Vec<Uuid> = superseded
            .iter()
            .filter(|(id, pushed)| current_versions.get(id).is_some_and(|now| now > pushed))
            .map(|(id, _)| *id)
            .collect();
        let queued = outbox::records_with_open_rows(connection, object_type, &changed).await?;
        let push_backs: Vec<(Uuid, i64)> = changed
            .into_iter()
            .filter(|id| !queued.contains(id))
            .filter_map(|id| Some((id, *current_versions.get(&id)?)))
            .collect();
        outbox::enqueue_many(
            connection,
            self.portal_id,
            object_type,
            OutboxOperation::PushBack,
            &push_backs,
        )
        .await?;
        outbox::mark_failed(connection, &failures).await?;
        outbox::mark_failed_for_good(connection, &permanent_failures, self.retry.max_attempts)
            .await?;
        outbox::defer(connection, &waiting).await?;
        sync_log::insert_outbound(connection, &entries).await
    }
}

/// What the claimed rows come to, per record, before anything is sent or booked.
#[derive(Default)]
struct PushPlan {
    /// Rows already known to fail (missing records, waiting ones), with why.
    report: ProcessReport,
    /// Rows of records that do not exist: FAILED, retried with backoff.
    missing: Vec<(i64, String, Duration)>,
    /// Rows of records that cannot be pushed yet: deferred, their attempts kept.
    waiting: Vec<(i64, String, Duration)>,
    /// Records never sent (a privacy deletion), with why.
    excluded: Vec<(Push, &'static str)>,
    /// Records whose values HubSpot already holds.
    unchanged: Vec<Push>,
    to_send: Vec<Push>,
}

/// What HubSpot answered for one chunk, before any of it is recorded.
struct SentChunk {
    /// One per input, in input order.
    answers: Vec<Answer>,
    /// Records whose follow-up (a contact's association) failed, with why.
    after_failures: HashMap<Uuid, String>,
    /// Records the follow-up associated, with the parent they now have.
    associated: Vec<(Uuid, String)>,
    calls: usize,
}

/// Matches HubSpot's answer to each input: results by the value of their input's `idProperty`
/// (the BAN, the user id, an email), per-input errors by
/// the unique values in their context, whole-call failures by their input range. An input
/// with no answer at all counts as refused (the upsert is safe to send again).
pub fn answers_by_input(
    inputs: &[BatchUpsertInput],
    result: &warp_hubspot::BatchResult<warp_hubspot::UpsertedRecord>,
) -> Vec<Answer> {
    let index_of: HashMap<&str, usize> = inputs
        .iter()
        .enumerate()
        .map(|(index, input)| (input.unique_value.as_str(), index))
        .collect();
    let mut id_properties: Vec<&str> = inputs.iter().map(|i| i.id_property.as_str()).collect();
    id_properties.sort_unstable();
    id_properties.dedup();
    let mut answers: Vec<Option<Answer>> = inputs.iter().map(|_| None).collect();
    let mut unmatched_results = Vec::new();
    for upserted in &result.results {
        let found = id_properties.iter().find_map(|property| {
            let value = upserted.company.property(property)?;
            index_of
                .get(value)
                .copied()
                .filter(|&index| inputs[index].id_property == *property)
        });
        match found.as_ref() {
            Some(&index) => answers[index] = Some(Answer::accepted(upserted)),
            None => unmatched_results.push(upserted),
        }
    }
    // HubSpot's answer may omit the unique property; a complete answer with one result per
    // input is then in input order.
    if !unmatched_results.is_empty() && result.is_complete() && result.results.len() == inputs.len()
    {
        for (index, upserted) in result.results.iter().enumerate() {
            answers[index] = Some(Answer::accepted(upserted));
        }
    }
    let mut unattributed = None;
    for error in &result.errors {
        let description = describe_item_error(error);
        let permanent = error.category == "VALIDATION_ERROR";
        let named: Vec<usize> = error
            .context
            .get("ids")
            .into_iter()
            .flatten()
            .filter_map(|id| index_of.get(id.as_str()).copied())
            .collect();
        if named.is_empty() {
            unattributed = Some(description);
            continue;
        }
        for index in named {
            answers[index] = Some(Answer::Refused {
                error: description.clone(),
                permanent,
            });
        }
    }
    for failed in &result.failed_calls {
        let description = describe_call_error(&failed.error);
        let waits = matches!(
            failed.error,
            HubSpotError::Credentials(CredentialsError::NeedsReconnect { .. })
        );
        for index in failed.inputs.clone() {
            if let Some(answer) = answers.get_mut(index) {
                *answer = Some(if waits {
                    Answer::Waiting {
                        reason: description.clone(),
                    }
                } else {
                    Answer::Refused {
                        error: description.clone(),
                        permanent: false,
                    }
                });
            }
        }
    }
    answers
        .into_iter()
        .map(|answer| {
            answer.unwrap_or_else(|| Answer::Refused {
                error: unattributed
                    .clone()
                    .unwrap_or_else(|| "HubSpot's answer did not include this input".to_owned()),
                permanent: false,
            })
        })
        .collect()
}

/// A per-input error as stored: status, category and the properties at fault (their names,
/// each with HubSpot's code for what is wrong, e.g. `REQUIRED_FIELD`). HubSpot's messages are
/// left out: they may quote the values, which are PII.
pub(crate) fn describe_item_error(error: &BatchItemError) -> String {
    let properties: Vec<String> = error
        .errors
        .iter()
        .filter_map(|detail| {
            let property = detail.location.as_deref()?;
            Some(match detail.code.as_deref().filter(|code| is_code(code)) {
                Some(code) => format!("{property} ({code})"),
                None => property.to_owned(),
            })
        })
        .collect();
    let mut text = format!("HubSpot refused the input ({}", error.category);
    if !error.status.is_empty() && error.status != "error" {
        text.push_str(&format!(", {}", error.status));
    }
    text.push(')');
    if !properties.is_empty() {
        text.push_str(&format!(" on properties: {}", properties.join(", ")));
    }
    text
}

/// An identifier such as `INVALID_EMAIL`, never free text that could quote a value.
fn is_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// The HubSpot properties a per-input error names (never their values).
pub fn item_error_properties(error: &BatchItemError) -> Vec<&str> {
    error
        .errors
        .iter()
        .filter_map(|detail| detail.location.as_deref())
        .collect()
}

/// The HubSpot properties a refused (400) call names; none for other failures.
pub fn call_error_properties(error: &HubSpotError) -> Vec<&str> {
    match error {
        HubSpotError::Validation { field_errors, .. } => field_errors
            .iter()
            .filter_map(|detail| detail.location.as_deref())
            .collect(),
        _ => Vec::new(),
    }
}

/// A whole-call failure as stored: its kind, status and HubSpot's category, without messages.
pub(crate) fn describe_call_error(error: &HubSpotError) -> String {
    let kind = match error {
        HubSpotError::RateLimited { .. } => "rate limited",
        HubSpotError::Unauthorized { .. } => "credentials refused",
        HubSpotError::NotFound { .. } => "not found",
        HubSpotError::Conflict { .. } => "conflict",
        HubSpotError::Validation { .. } => "request refused",
        HubSpotError::Locked { .. } => "record locked",
        HubSpotError::Server { .. } => "server error",
        HubSpotError::UnexpectedStatus { .. } => "unexpected answer",
        HubSpotError::Timeout => "no answer in time",
        HubSpotError::Connect(_) => "could not connect",
        HubSpotError::Transport(_) => "connection failed",
        HubSpotError::Decode(_) => "unreadable answer",
        HubSpotError::Budget(_) => "rate budget unavailable",
        HubSpotError::InvalidRequest(_) => "invalid request",
        HubSpotError::Credentials(CredentialsError::NeedsReconnect { .. }) => {
            "the portal needs reconnecting"
        }
        HubSpotError::Credentials(CredentialsError::Unavailable(_)) => "token unavailable",
    };
    let mut text = format!("HubSpot batch call failed: {kind}");
    if let Some(status) = error.status() {
        text.push_str(&format!(" ({status})"));
    }
    if let Some(category) = error.body().and_then(|body| body.category.as_deref()) {
        text.push_str(&format!(", {category}"));
    }
    let properties = call_error_properties(error);
    if !properties.is_empty() {
        text.push_str(&format!(" on properties: {}", properties.join(", ")));
    }
    if error.is_retryable() {
        text.push_str(" (retryable)");
    }
    text
}

/// What the local loop drives: one portal's worker, or every portal's.
pub trait DueRows: Send + Sync {
    fn process_due(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<ProcessReport, OutboundError>> + Send;

    /// Passes of up to `limit` rows until one finds fewer than `limit` or none of its rows
    /// succeeded (what is left waits for its retry time); one pass at a time unless the
    /// implementation overlaps them. What every pass did.
    fn drain_due(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<ProcessReport, OutboundError>> + Send {
        async move {
            let mut drained = ProcessReport::default();
            loop {
                let report = self.process_due(limit).await?;
                let more = report.rows() >= limit && !report.succeeded.is_empty();
                drained.absorb(report);
                if !more {
                    return Ok(drained.sorted());
                }
            }
        }
    }
}

impl DueRows for OutboundWorker {
    fn process_due(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<ProcessReport, OutboundError>> + Send {
        OutboundWorker::process_due(self, limit)
    }

    fn drain_due(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<ProcessReport, OutboundError>> + Send {
        OutboundWorker::drain_due(self, limit)
    }
}

/// The local outbox loop (`make dev`): every `interval`, processes due rows until none are
/// left, until `shutdown` completes. Errors are logged and the loop goes on.
pub async fn run_outbox_loop<W: DueRows>(
    worker: Arc<W>,
    interval: Duration,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let drained = tokio::select! {
            _ = &mut shutdown => return,
            drained = worker.drain_due(LOOP_BATCH) => drained,
        };
        match drained {
            Ok(report) if report.rows() > 0 => tracing::debug!(
                succeeded = report.succeeded.len(),
                failed = report.failed.len(),
                calls = report.hubspot_calls,
                "outbox drained"
            ),
            Ok(_) => {}
            Err(error) => tracing::warn!(error = %error, "outbox pass failed"),
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use warp_hubspot::{
        BatchResult, ErrorDetail, HubSpotId, HubSpotRecord, UpsertedRecord, WARP_BAN_PROPERTY,
    };

    fn input(ban: &str) -> BatchUpsertInput {
        BatchUpsertInput::new(WARP_BAN_PROPERTY, ban, BTreeMap::new())
    }

    #[test]
    fn a_refusal_names_properties_and_codes_but_never_hubspots_message() {
        let error = BatchItemError {
            status: "400".into(),
            category: "VALIDATION_ERROR".into(),
            message: "ada@example is not a valid email".into(),
            context: BTreeMap::new(),
            errors: vec![
                ErrorDetail {
                    location: Some("email".into()),
                    code: Some("INVALID_EMAIL".into()),
                    message: Some("ada@example is not a valid email".into()),
                    ..ErrorDetail::default()
                },
                ErrorDetail {
                    location: Some("phone".into()),
                    code: Some("value 555 is odd".into()),
                    ..ErrorDetail::default()
                },
            ],
            sub_category: None,
        };
        let described = describe_item_error(&error);
        assert_eq!(
            described,
            "HubSpot refused the input (VALIDATION_ERROR, 400) on properties: email (INVALID_EMAIL), phone"
        );
        assert!(!described.contains("ada@"), "{described}");
    }

    fn upserted(id: &str, ban: Option<&str>) -> UpsertedRecord {
        let now = Utc::now();
        let mut properties = BTreeMap::new();
        if let Some(ban) = ban {
            properties.insert(WARP_BAN_PROPERTY.to_owned(), Some(ban.to_owned()));
        }
        UpsertedRecord {
            company: HubSpotRecord {
                id: HubSpotId::parse(id).unwrap(),
                properties,
                properties_with_history: BTreeMap::new(),
                created_at: now,
                updated_at: now,
                archived: false,
                archived_at: None,
            },
            created: true,
        }
    }

    fn accepted(answer: &Answer) -> Option<&str> {
        match answer {
            Answer::Accepted { hubspot_id, .. } => Some(hubspot_id),
            Answer::Refused { .. } | Answer::Waiting { .. } => None,
        }
    }

    #[test]
    fn results_and_errors_are_matched_by_ban_not_position() {
        let inputs = [
            input("ZT-000000001"),
            input("ZT-000000002"),
            input("ZT-000000003"),
        ];
        let mut context = BTreeMap::new();
        context.insert("ids".to_owned(), vec!["ZT-000000002".to_owned()]);
        let result = BatchResult {
            results: vec![
                upserted("30", Some("ZT-000000003")),
                upserted("10", Some("ZT-000000001")),
            ],
            errors: vec![BatchItemError {
                status: "error".into(),
                category: "VALIDATION_ERROR".into(),
                message: "RESELLER is not a valid option".into(),
                context,
                errors: vec![ErrorDetail {
                    location: Some("warp_customer_type".into()),
                    ..ErrorDetail::default()
                }],
                sub_category: None,
            }],
            failed_calls: Vec::new(),
            calls: 1,
        };
        let answers = answers_by_input(&inputs, &result);
        assert_eq!(accepted(&answers[0]), Some("10"));
        assert_eq!(accepted(&answers[2]), Some("30"));
        let Answer::Refused { error, .. } = &answers[1] else {
            panic!("the second input was refused")
        };
        assert!(error.contains("VALIDATION_ERROR"), "{error}");
        assert!(error.contains("warp_customer_type"), "{error}");
        assert!(!error.contains("RESELLER"), "no values in errors: {error}");
    }

    /// Contacts go by `warp_user_id` once linked and by email at first link, in one call:
    /// each result is matched by the property its own input named.
    #[test]
    fn results_are_matched_by_each_inputs_own_id_property() {
        let by_email = BatchUpsertInput::new("email", "ada@example.com", BTreeMap::new());
        let by_user = BatchUpsertInput::new("warp_user_id", "u-2", BTreeMap::new());
        let contact = |id: &str, email: &str, user: &str| {
            let mut written = upserted(id, None);
            for (name, value) in [("email", email), ("warp_user_id", user)] {
                written
                    .company
                    .properties
                    .insert(name.to_owned(), Some(value.to_owned()));
            }
            written
        };
        let result = BatchResult {
            results: vec![
                contact("22", "grace@example.com", "u-2"),
                contact("11", "ada@example.com", "u-1"),
            ],
            calls: 1,
            ..BatchResult::default()
        };
        let answers = answers_by_input(&[by_email, by_user], &result);
        assert_eq!(accepted(&answers[0]), Some("11"));
        assert_eq!(accepted(&answers[1]), Some("22"));
    }

    #[test]
    fn results_without_the_ban_fall_back_to_order_only_when_complete() {
        let inputs = [input("ZT-000000001"), input("ZT-000000002")];
        let complete = BatchResult {
            results: vec![upserted("10", None), upserted("20", None)],
            ..BatchResult::default()
        };
        let answers = answers_by_input(&inputs, &complete);
        assert_eq!(accepted(&answers[0]), Some("10"));
        assert_eq!(accepted(&answers[1]), Some("20"));

        let partial = BatchResult {
            results: vec![upserted("10", None)],
            ..BatchResult::default()
        };
        let answers = answers_by_input(&inputs, &partial);
        assert!(answers.iter().all(|a| accepted(a).is_none()));
    }

    #[test]
    fn a_failed_call_refuses_every_input_it_carried() {
        let inputs = [input("ZT-000000001"), input("ZT-000000002")];
        let result: BatchResult<UpsertedRecord> = BatchResult {
            failed_calls: vec![warp_hubspot::FailedBatchCall {
                inputs: 0..2,
                error: HubSpotError::Timeout,
            }],
            calls: 1,
            ..BatchResult::default()
        };
        let answers = answers_by_input(&inputs, &result);
        for answer in &answers {
            let Answer::Refused { error, .. } = answer else {
                panic!("refused")
            };
            assert!(error.contains("no answer in time"));
            assert!(error.contains("retryable"));
        }
    }
}
