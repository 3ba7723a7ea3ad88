//! The full reconciliation: every HubSpot record against every WARP record, per object type
//! (customers ↔ companies, then users ↔ contacts), streamed on both sides, drift classified by
//! the domain rules (`warp_domain::sync::classify_drift`, `classify_record`) and repaired by
//! the same rules as live sync. One engine for every object type: what differs between them
//! is where a record's link lives and how it is locked ([`crate::records`]), and that a contact
//! must be associated with its customer's company ([`crate::associations`]).
//!
//! # Two passes per object type, bounded memory
//! 1. **HubSpot.** Every active record is listed (100 a page, only the mapped properties).
//!    Per page, the WARP records linked to those HubSpot records are loaded and compared field
//!    by field; pairs that differ are kept (at most a batch read's worth) and repaired
//!    together. Contacts also have their company associations read, one batch read a page.
//!    What the pass keeps is compact: the ids of the records seen and a map from key (a BAN,
//!    a user id) to the record carrying it, as integers (about 50 bytes a record in hash
//!    tables).
//! 2. **WARP.** Every WARP record is streamed in keyset pages of ids, keys and links only.
//!    A record linked to a HubSpot record seen in pass 1 was compared there; the others are
//!    classified by [`classify_record`]: linked record gone, unlinked record with our key,
//!    or missing in HubSpot.
//!
//! # History only where it decides something
//! LATEST_WINS compares HubSpot's property change time with WARP's, and the synthetic event
//! that applies a HubSpot value carries HubSpot's change time, so `propertiesWithHistory` is
//! read, in batch reads of 50, only for the records and properties that differ and may be
//! written into WARP (direction BOTH or HUBSPOT_TO_WARP).
//!
//! # Repairs (skipped when `dry_run`)
//! - Apply to WARP, or a conflict: a synthetic `company.propertyChange` (or
//!   `contact.propertyChange`) event (changeSource `RECONCILIATION`, occurredAt = HubSpot's
//!   change time) is stored in `hubspot_webhook_events` and the [`InboundProcessor`] applies it
//!   by the inbound rules: one rules path for webhooks and reconciliation. The event key is
//!   HubSpot's change (record, property, time) with eventId [`RECONCILIATION_EVENT_ID`], so
//!   finding the same change again stores nothing twice (no duplicate conflicts).
//! - Push to HubSpot: the field state may believe HubSpot holds WARP's value (a lost webhook),
//!   so what HubSpot really holds is recorded first as HubSpot's known value, then an outbound
//!   row is queued; the worker's diff then sends exactly the differing fields.
//! - Missing in HubSpot: a RESYNC (full push, an upsert by the key) creates and links it.
//! - Linked record gone: link to the record carrying our key (a merge survivor) when there is
//!   one, else unlink and queue a RESYNC (which recreates it).
//! - Either of the last two while an archived record still holds the key: HubSpot refuses the
//!   key to a new record, so nothing is queued (it could only fail); the WARP record is
//!   unlinked and the drift reported for a person (restore the record, which relinks it).
//! - "Gone" and "missing" are checked once more against HubSpot before any repair: a record
//!   created while the list was being read is not in pass 1's sets.
//! - Unlinked record with our key: link, then compare its values like any linked pair.
//! - A contact whose primary company is not its customer's: its association is queued again
//!   (a push-back that associates the customer's company as primary).
//! - A HubSpot value WARP would take (apply, or keep in a conflict) that holds a NUL character
//!   (U+0000) cannot be stored: it is the run's error (record and field, never the value),
//!   left unfixed for a person to correct in HubSpot, and the rest of the batch is repaired as
//!   usual. A run with errors ends `completed_with_errors` (see `jobs`).
//!
//! Users waiting for their customer's company, privacy-deleted in HubSpot, or whose contact a
//! merge gave to another user (an open conflict) are not reconciled: the first follow their
//! customer, the others are for a person.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use uuid::Uuid;
use warp_domain::storable::{has_nul, nul_reason};
use warp_domain::sync::{
    ChangeTimes, FieldMap, FieldMapping, FieldValues, ObjectType, Repair, WarpField, WebhookEvent,
    classify_drift, key_property,
};
use warp_hubspot::{HubSpotClient, HubSpotError, HubSpotRecord, ListOptions, ReadOptions};
use warp_store::field_state;
use warp_store::inbound::{self, HubSpotObservation};
use warp_store::outbox::{self, OutboxOperation, OutboxPublisher};
use warp_store::reconciliation_runs as runs;
use warp_store::sync_config::MappingSource;
use warp_store::{Database, StoreError, links};
use warp_sync::adapters::{Companies, Contacts, LocalRecord, ObjectAdapter};
use warp_webhook::InboundProcessor;

use crate::report::{DriftReport, RecordFindings, RepairKind};

/// The eventId of synthetic reconciliation events (HubSpot's own ids are positive).
pub const RECONCILIATION_EVENT_ID: i64 = -1;
/// The changeSource of synthetic reconciliation events.
pub const RECONCILIATION_CHANGE_SOURCE: &str = "RECONCILIATION";
/// HubSpot records per list page (HubSpot's maximum).
pub const LIST_PAGE: u32 = 100;
/// Records per batch read with `propertiesWithHistory`: HubSpot lowers its per-request
/// maximum when history is asked for; 50 is the documented lower limit of the list endpoint.
pub const HISTORY_BATCH: usize = 50;
/// WARP records per keyset page of pass 2.
pub const CUSTOMER_PAGE: u32 = 1_000;
/// Events the inbound processor claims per transaction when applying repairs.
const EVENT_BATCH: u32 = 100;
/// How often a run records its progress (and that it is alive).
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);

/// Why a run stopped before the end (drift repairs that fail are counted, not fatal).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("listing HubSpot records: {0}")]
    HubSpot(#[from] HubSpotError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// Where a run is, for progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Companies,
    Customers,
    Contacts,
    Users,
}

#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub phase: Phase,
    pub companies_checked: u64,
    pub customers_checked: u64,
    pub contacts_checked: u64,
    pub users_checked: u64,
    pub drift_found: u64,
}

/// A progress callback (the CLI's bar); called once per page.
pub type ProgressFn = dyn Fn(Progress) + Send + Sync;

/// Compares and repairs. Build once per process and share it.
pub struct Reconciler {
    pub database: Database,
    /// Writes: repairs, stamps, onboardings.
    pub hubspot: HubSpotClient,
    /// Reads: the listing, the batch reads and searches of a run or an import (the read-only
    /// credential when one is configured, else the same client as `hubspot`).
    pub reader: HubSpotClient,
    /// The mappings of every object type (re-read when stale at the start of each run).
    pub map: MappingSource,
    pub portal_id: i64,
    /// Applies the synthetic events (the same processor the webhook path uses).
    pub inbound: Arc<InboundProcessor>,
    /// Hands queued outbox rows to the queue right away; without one the relay or the local
    /// outbox loop picks them up.
    pub publisher: Option<Arc<dyn OutboxPublisher>>,
    /// What a won deal's new customer takes where its company says nothing; `None`: this
    /// reconciler runs no onboardings (benchmarks, tests of other jobs).
    pub onboarding: Option<warp_sync::onboarding::CustomerTemplate>,
    /// How long the audit log keeps an entry (the frequent job purges older ones).
    pub audit_retention: Duration,
    /// The Webhooks Journal backstop's poller (the frequent job polls); `None` without WARP's
    /// HubSpot app (the journal takes the app's token).
    pub journal: Option<Arc<warp_webhook::JournalPoller>>,
    /// Logs finished calls in HubSpot (the frequent job runs it); `None`: this reconciler
    /// logs none (benchmarks, tests of other jobs).
    pub calls: Option<Arc<warp_sync::call_log::CallLogger>>,
    /// Notes account events on company timelines (the frequent job runs it); `None`: none.
    pub account_events: Option<Arc<warp_sync::account_events::AccountEventLogger>>,
    /// Opens and notes automatic support tickets, and reads their stages back.
    pub tickets: Option<Arc<warp_sync::support_tickets::TicketDesk>>,
    /// Pushes trunks and numbers to the home portal, and puts back what was edited there.
    pub services: Option<Arc<warp_sync::service_objects::ServiceDesk>>,
    /// The daily usage push also notes the day before's usage (`USAGE_DAILY_NOTE`).
    pub usage_daily_note: bool,
}

impl Reconciler {
    /// The onboarding runner on this reconciler's database, client, mapping and publisher.
    pub fn onboarding_runner(&self) -> Option<warp_sync::onboarding::OnboardingRunner> {
        let template = self.onboarding.clone()?;
        Some(warp_sync::onboarding::OnboardingRunner {
            database: self.database.clone(),
            hubspot: self.hubspot.clone(),
            map: self.map.clone(),
            portal_id: self.portal_id,
            template,
            publisher: self.publisher.clone(),
        })
    }
}

/// One linked pair to compare: the WARP record and the HubSpot record it is linked to.
pub(crate) struct Pair {
    pub local: LocalRecord,
    pub remote: HubSpotRecord,
}

/// The repairs of one batch of pairs, gathered before any is made.
#[derive(Default)]
struct PairRepairs {
    events: Vec<(WebhookEvent, serde_json::Value)>,
    observations: Vec<HubSpotObservation>,
    pushes: BTreeMap<Uuid, i64>,
}

/// One pair's drifted fields and their repairs: (local id, HubSpot id, (field, repair)).
type Planned = (Uuid, Option<String>, Vec<(WarpField, Repair)>);

/// What pass 1 leaves for pass 2: compact sets of integers.
#[derive(Default)]
pub(crate) struct Seen {
    pub records: HashSet<u64>,
    pub by_key: KeyIndex,
}

/// Key → HubSpot id. A BAN fits in 64 bits and a user id needs 128: each goes to the map of
/// its width, so 100,000 companies cost 16 bytes a key, not 32.
#[derive(Default)]
pub(crate) struct KeyIndex {
    narrow: HashMap<u64, u64>,
    wide: HashMap<u128, u64>,
}

impl KeyIndex {
    pub fn insert(&mut self, key: u128, hubspot_id: u64) {
        match u64::try_from(key) {
            Ok(narrow) => self.narrow.insert(narrow, hubspot_id),
            Err(_) => self.wide.insert(key, hubspot_id),
        };
    }

    pub fn get(&self, key: &u128) -> Option<&u64> {
        match u64::try_from(*key) {
            Ok(narrow) => self.narrow.get(&narrow),
            Err(_) => self.wide.get(key),
        }
    }
}

impl Reconciler {
    /// Runs a full reconciliation. With `run_id`, progress is recorded in that run's row every
    /// few seconds (the row itself is created and finished by the caller, see `jobs`).
    pub async fn run(
        &self,
        run_id: Option<Uuid>,
        dry_run: bool,
        progress: Option<&ProgressFn>,
    ) -> Result<DriftReport, ReconcileError> {
        let mut report = DriftReport::new(dry_run);
        let mut heartbeat = Heartbeat::new(run_id);
        // Companies first: a contact's association needs its customer's company linked.
        for object_type in ObjectType::ALL {
            self.map.fresh_for(object_type).await;
            let seen = self
                .hubspot_pass(object_type, &mut report, &mut heartbeat, progress)
                .await?;
            self.warp_pass(object_type, &seen, &mut report, &mut heartbeat, progress)
                .await?;
        }
        tracing::info!(
            dry_run,
            customers = report.customers_checked,
            companies = report.companies_checked,
            users = report.of(ObjectType::Contacts).warp_checked,
            contacts = report.of(ObjectType::Contacts).hubspot_checked,
            drift_found = report.drift_found,
            drift_fixed = report.drift_fixed,
            errors = report.errors,
            "reconciliation finished"
        );
        Ok(report)
    }

    pub(crate) fn mapped_properties(&self, object_type: ObjectType) -> Vec<String> {
        self.map
            .current_for(object_type)
            .hubspot_properties()
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    pub(crate) fn progress(
        &self,
        phase: Phase,
        report: &DriftReport,
        progress: Option<&ProgressFn>,
    ) {
        if let Some(progress) = progress {
            let contacts = report.of(ObjectType::Contacts);
            progress(Progress {
                phase,
                companies_checked: report.companies_checked,
                customers_checked: report.customers_checked,
                contacts_checked: contacts.hubspot_checked,
                users_checked: contacts.warp_checked,
                drift_found: report.drift_found,
            });
        }
    }

    /// Pass 1: every active HubSpot record of `object_type`, page by page.
    async fn hubspot_pass(
        &self,
        object_type: ObjectType,
        report: &mut DriftReport,
        heartbeat: &mut Heartbeat,
        progress: Option<&ProgressFn>,
    ) -> Result<Seen, ReconcileError> {
        let options = ListOptions {
            properties: self.mapped_properties(object_type),
            limit: LIST_PAGE,
            archived: false,
        };
        let objects = self.reader.objects(object_type);
        let mut seen = Seen::default();
        // Drifted pairs wait here until a batch read's worth of them needs history, so history
        // costs one request per 50 drifted records, not one per page.
        let mut pending: Vec<Pair> = Vec::new();
        let mut next = Some(
            objects
                .list_page(&options, None)
                .await
                .map_err(ReconcileError::HubSpot)?,
        );
        report.hubspot_requests += 1;
        while let Some(page) = next.take() {
            let warp_hubspot::Page {
                results: records,
                next_after,
            } = page;
            // The next page is fetched while this one is compared: the rate budget, not the
            // database, then sets the pace.
            let fetch_next = async {
                match next_after.as_deref() {
                    Some(after) => Some(objects.list_page(&options, Some(after)).await),
                    None => None,
                }
            };
            let (fetched, compared) = tokio::join!(
                fetch_next,
                self.hubspot_page(object_type, records, &mut seen, report)
            );
            self.compare_when_batch_full(object_type, &mut pending, compared?, report)
                .await?;
            if let Some(fetched) = fetched {
                report.hubspot_requests += 1;
                next = Some(fetched?);
            }
            let phase = match object_type {
                ObjectType::Companies => Phase::Companies,
                ObjectType::Contacts => Phase::Contacts,
            };
            self.progress(phase, report, progress);
            heartbeat.beat(&self.database, report).await;
        }
        self.compare_pairs(object_type, pending, report, &HashMap::new())
            .await?;
        Ok(seen)
    }

    /// Records one page's HubSpot records in the compact sets and returns its linked pairs
    /// whose values differ (pairs that agree are done with here). A contact's company
    /// association is checked here too.
    pub(crate) async fn hubspot_page(
        &self,
        object_type: ObjectType,
        records: Vec<HubSpotRecord>,
        seen: &mut Seen,
        report: &mut DriftReport,
    ) -> Result<Vec<Pair>, ReconcileError> {
        let map = self.map.current_for(object_type);
        report.checked(object_type, 0, records.len() as u64);
        let key = key_property(object_type);
        for record in &records {
            let id = record.id.as_u64();
            seen.records.insert(id);
            if let Some(key) = record.property(key).and_then(|v| key_of(object_type, v)) {
                seen.by_key.insert(key, id);
            }
        }
        let ids: Vec<String> = records.iter().map(|c| c.id.as_str().to_owned()).collect();
        let client = self.database.client().await.map_err(StoreError::from)?;
        let linked = match object_type {
            ObjectType::Companies => {
                warp_store::customers::linked_to_companies(&**client, &ids).await?
            }
            ObjectType::Contacts => {
                links::linked_to(&**client, self.portal_id, object_type, &ids).await?
            }
        };
        let local_ids: Vec<Uuid> = linked.iter().map(|(_, local)| *local).collect();
        let mut locals = self
            .load_records(object_type, &**client, &local_ids)
            .await?;
        drop(client);
        let mut by_id: HashMap<String, HubSpotRecord> = records
            .into_iter()
            .map(|record| (record.id.as_str().to_owned(), record))
            .collect();
        let pairs: Vec<Pair> = linked
            .into_iter()
            .filter_map(|(hubspot_id, local_id)| {
                Some(Pair {
                    local: locals.remove(&local_id)?,
                    remote: by_id.remove(&hubspot_id)?,
                })
            })
            .collect();
        if object_type == ObjectType::Contacts {
            self.check_associations(&pairs, report).await?;
        }
        let no_times = ChangeTimes::new();
        Ok(pairs
            .into_iter()
            .filter(|pair| {
                let hubspot = hubspot_values(&map, &pair.remote);
                !classify_drift(&map, &pair.local.values, &hubspot, &no_times, &no_times).is_empty()
            })
            .collect())
    }

    /// These WARP records of `object_type` (absent ids left out), as the outbound engine sees
    /// them: the same adapters load them for both.
    pub(crate) async fn load_records(
        &self,
        object_type: ObjectType,
        client: &(impl GenericClient + Sync),
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, LocalRecord>, StoreError> {
        match object_type {
            ObjectType::Companies => Companies.load(client, self.portal_id, ids).await,
            ObjectType::Contacts => Contacts.load(client, self.portal_id, ids).await,
        }
    }

    /// Adds drifted pairs to `pending` and compares them once a history batch read's worth
    /// waits, so history costs one request per 50 drifted records, not one per page.
    pub(crate) async fn compare_when_batch_full(
        &self,
        object_type: ObjectType,
        pending: &mut Vec<Pair>,
        drifted: Vec<Pair>,
        report: &mut DriftReport,
    ) -> Result<(), ReconcileError> {
        pending.extend(drifted);
        if pending.len() >= HISTORY_BATCH {
            self.compare_pairs(
                object_type,
                std::mem::take(pending),
                report,
                &HashMap::new(),
            )
            .await?;
        }
        Ok(())
    }

    /// Compares linked pairs field by field, reads history where it decides something, and
    /// repairs. `record_kinds` names the record drift a pair was just repaired from (a link).
    pub(crate) async fn compare_pairs(
        &self,
        object_type: ObjectType,
        mut pairs: Vec<Pair>,
        report: &mut DriftReport,
        record_kinds: &HashMap<Uuid, warp_domain::sync::DriftKind>,
    ) -> Result<(), ReconcileError> {
        if pairs.is_empty() {
            return Ok(());
        }
        let map = self.map.current_for(object_type);
        let local_ids: Vec<Uuid> = pairs.iter().map(|p| p.local.id).collect();
        let client = self.database.client().await.map_err(StoreError::from)?;
        let states = field_state::load(&**client, self.portal_id, object_type, &local_ids).await?;
        drop(client);
        let warp_times = |local: &Uuid| -> ChangeTimes {
            states
                .get(local)
                .map(|fields| {
                    fields
                        .iter()
                        .filter_map(|(field, state)| Some((*field, state.warp_changed_at?)))
                        .collect()
                })
                .unwrap_or_default()
        };

        // First look without HubSpot's times: which differing fields could HubSpot win?
        let mut history_wanted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for pair in &pairs {
            let hubspot = hubspot_values(&map, &pair.remote);
            for drift in classify_drift(
                &map,
                &pair.local.values,
                &hubspot,
                &ChangeTimes::new(),
                &warp_times(&pair.local.id),
            ) {
                if let Some(mapping) = map.get(drift.field)
                    && mapping.direction.includes_inbound()
                {
                    history_wanted
                        .entry(pair.remote.id.as_str().to_owned())
                        .or_default()
                        .insert(mapping.hubspot_property.clone());
                }
            }
        }
        if !history_wanted.is_empty() {
            let fresh = self
                .read_with_history(object_type, &history_wanted, report)
                .await;
            for pair in &mut pairs {
                if let Some(record) = fresh.get(pair.remote.id.as_str()) {
                    pair.remote = record.clone();
                }
            }
        }

        let mut repairs = PairRepairs::default();
        let mut planned: Vec<Planned> = Vec::new();
        // Fields whose HubSpot value WARP cannot take because Postgres cannot store it (a NUL):
        // reported as errors and left for a person, while the rest of the batch is repaired.
        let mut unstorable: HashSet<(Uuid, WarpField)> = HashSet::new();
        for pair in &pairs {
            let hubspot = hubspot_values(&map, &pair.remote);
            let hubspot_times = history_times(&map, &pair.remote);
            let drifts = classify_drift(
                &map,
                &pair.local.values,
                &hubspot,
                &hubspot_times,
                &warp_times(&pair.local.id),
            );
            if drifts.is_empty() && !record_kinds.contains_key(&pair.local.id) {
                continue;
            }
            for drift in &drifts {
                let takes_hubspot_value =
                    matches!(drift.repair, Repair::ApplyToWarp | Repair::Conflict);
                let unstorable_value = map
                    .get(drift.field)
                    .and_then(|mapping| pair.remote.property(&mapping.hubspot_property))
                    .is_some_and(has_nul);
                if takes_hubspot_value && unstorable_value {
                    report.error(format!(
                        "{} {}: {}: {}; correct it in HubSpot",
                        local_noun(object_type),
                        pair.local.id,
                        drift.field.as_str(),
                        nul_reason("HubSpot's value")
                    ));
                    unstorable.insert((pair.local.id, drift.field));
                }
            }
            if !report.dry_run {
                for drift in &drifts {
                    let Some(mapping) = map.get(drift.field) else {
                        continue;
                    };
                    let changed_at = hubspot_times
                        .get(&drift.field)
                        .copied()
                        .unwrap_or(pair.remote.updated_at);
                    match drift.repair {
                        Repair::PushToHubSpot => {
                            repairs.observations.push(HubSpotObservation {
                                local_id: pair.local.id,
                                field: drift.field,
                                value: hubspot.get(drift.field).flatten().map(str::to_owned),
                                at: changed_at,
                            });
                            repairs.pushes.insert(pair.local.id, pair.local.version);
                        }
                        Repair::ApplyToWarp | Repair::Conflict
                            if unstorable.contains(&(pair.local.id, drift.field)) => {}
                        Repair::ApplyToWarp | Repair::Conflict => {
                            repairs.events.push(self.synthetic_event(
                                object_type,
                                &pair.remote,
                                mapping,
                                changed_at,
                            ));
                        }
                    }
                }
            }
            planned.push((
                pair.local.id,
                Some(pair.remote.id.as_str().to_owned()),
                drifts.iter().map(|d| (d.field, d.repair)).collect(),
            ));
        }
        if planned.is_empty() {
            return Ok(());
        }

        let mut applied_ok: HashSet<(Uuid, WarpField)> = HashSet::new();
        let mut pushed_ok: HashSet<Uuid> = HashSet::new();
        if !report.dry_run {
            match self.apply_events(&repairs.events, report).await {
                Ok(()) => {
                    applied_ok = self
                        .fields_now_equal(
                            object_type,
                            &pairs,
                            &planned,
                            &unstorable,
                            &mut repairs,
                            report,
                        )
                        .await?;
                }
                Err(error) => report.error(format!("applying HubSpot values: {error}")),
            }
            match self.queue_pushes(object_type, &repairs).await {
                Ok(queued) => {
                    report.repaired("pushes_queued", queued.len() as u64);
                    pushed_ok = queued.iter().map(|(local, _)| *local).collect();
                    let ids: Vec<i64> = queued.into_iter().map(|(_, id)| id).collect();
                    self.publish(&ids).await;
                }
                Err(error) => report.error(format!("queueing pushes: {error}")),
            }
        }
        for (local_id, hubspot_id, drifts) in planned {
            let mut repair_kinds = Vec::new();
            let fields: Vec<(&'static str, bool)> = drifts
                .iter()
                .map(|(field, repair)| {
                    let fixed = match repair {
                        Repair::PushToHubSpot => {
                            repair_kinds.push(RepairKind::Push);
                            pushed_ok.contains(&local_id)
                        }
                        Repair::ApplyToWarp => {
                            repair_kinds.push(RepairKind::Apply);
                            !unstorable.contains(&(local_id, *field))
                                && (applied_ok.contains(&(local_id, *field))
                                    || pushed_ok.contains(&local_id))
                        }
                        Repair::Conflict => {
                            repair_kinds.push(RepairKind::Conflict);
                            false
                        }
                    };
                    (field.as_str(), fixed)
                })
                .collect();
            let record = record_kinds.get(&local_id).map(|kind| {
                repair_kinds.push(RepairKind::Link);
                (*kind, !report.dry_run)
            });
            report.add_record(RecordFindings {
                object_type,
                local_id,
                hubspot_id,
                record,
                fields: &fields,
                repairs: repair_kinds,
            });
        }
        Ok(())
    }

    /// Batch reads (50 a call) of these HubSpot records with their mapped properties and the
    /// history of the properties named; records not found are left out.
    async fn read_with_history(
        &self,
        object_type: ObjectType,
        wanted: &BTreeMap<String, BTreeSet<String>>,
        report: &mut DriftReport,
    ) -> HashMap<String, HubSpotRecord> {
        let mut found = HashMap::new();
        let ids: Vec<&String> = wanted.keys().collect();
        for chunk in ids.chunks(HISTORY_BATCH) {
            let history: BTreeSet<String> = chunk
                .iter()
                .flat_map(|id| wanted[*id].iter().cloned())
                .collect();
            let chunk_ids: Vec<String> = chunk.iter().map(|id| (*id).clone()).collect();
            let read = self
                .reader
                .objects(object_type)
                .batch_read(
                    &chunk_ids,
                    None,
                    &ReadOptions {
                        properties: self.mapped_properties(object_type),
                        properties_with_history: history.into_iter().collect(),
                        archived: false,
                    },
                )
                .await;
            report.hubspot_requests += read.calls as u64;
            for failed in &read.failed_calls {
                report.error(format!("reading property history: {}", failed.error));
            }
            found.extend(
                read.results
                    .into_iter()
                    .map(|record| (record.id.as_str().to_owned(), record)),
            );
        }
        found
    }

    fn synthetic_event(
        &self,
        object_type: ObjectType,
        record: &HubSpotRecord,
        mapping: &FieldMapping,
        occurred_at: DateTime<Utc>,
    ) -> (WebhookEvent, serde_json::Value) {
        let raw = serde_json::json!({
            "eventId": RECONCILIATION_EVENT_ID,
            "portalId": self.portal_id,
            "occurredAt": occurred_at.timestamp_millis(),
            "subscriptionType": format!("{}.propertyChange", object_type.event_object()),
            "attemptNumber": 0,
            "objectId": record.id.as_u64(),
            "propertyName": mapping.hubspot_property,
            "propertyValue": record.property(&mapping.hubspot_property).unwrap_or(""),
            "changeSource": RECONCILIATION_CHANGE_SOURCE,
        });
        let event = serde_json::from_value::<WebhookEvent>(raw.clone())
            .expect("a synthetic event has every field an event needs");
        (event, raw)
    }

    /// Stores the synthetic events and lets the inbound processor apply them by the rules.
    async fn apply_events(
        &self,
        events: &[(WebhookEvent, serde_json::Value)],
        report: &mut DriftReport,
    ) -> Result<(), String> {
        if events.is_empty() {
            return Ok(());
        }
        let stored = warp_webhook::store_events(&self.database, events)
            .await
            .map_err(|e| e.to_string())?;
        report.repaired("events_stored", stored.stored);
        // Other RECEIVED events may be ahead of ours: process until none is left, bounded.
        let rounds = events.len() / EVENT_BATCH as usize + 20;
        for _ in 0..rounds {
            let processed = self
                .inbound
                .process_pending(EVENT_BATCH)
                .await
                .map_err(|e| e.to_string())?;
            report.repaired("events_applied", processed.applied);
            report.repaired("conflicts_recorded", processed.conflicts);
            if processed.claimed == 0 || processed.retry_later == processed.claimed {
                break;
            }
        }
        Ok(())
    }

    /// Which planned ApplyToWarp fields now hold HubSpot's value in WARP (read back, so the
    /// report counts what took effect, whatever the rules decided). A field the rules did not
    /// apply, with no push waiting either, is one where WARP's value stands: HubSpot's is our
    /// own earlier write coming back (an echo; e.g. a push that crossed a HubSpot edit) or older
    /// than what is known. WARP's value then goes back over it (added to `repairs`), so the
    /// drift still converges.
    async fn fields_now_equal(
        &self,
        object_type: ObjectType,
        pairs: &[Pair],
        planned: &[Planned],
        unstorable: &HashSet<(Uuid, WarpField)>,
        repairs: &mut PairRepairs,
        report: &mut DriftReport,
    ) -> Result<HashSet<(Uuid, WarpField)>, ReconcileError> {
        let map = self.map.current_for(object_type);
        let wanted: Vec<Uuid> = planned
            .iter()
            .filter(|(_, _, drifts)| drifts.iter().any(|(_, r)| *r == Repair::ApplyToWarp))
            .map(|(id, _, _)| *id)
            .collect();
        if wanted.is_empty() {
            return Ok(HashSet::new());
        }
        let client = self.database.client().await.map_err(StoreError::from)?;
        let now = self.load_records(object_type, &**client, &wanted).await?;
        // The rules may refuse HubSpot's value (not a valid WARP value) and push WARP's back
        // instead: that repairs the drift too.
        let pushing: HashSet<Uuid> =
            runs::records_with_waiting_push(&**client, object_type, &wanted)
                .await?
                .into_iter()
                .collect();
        let mut equal = HashSet::new();
        for pair in pairs {
            let Some(local) = now.get(&pair.local.id) else {
                continue;
            };
            let hubspot = hubspot_values(&map, &pair.remote);
            for (id, _, drifts) in planned.iter().filter(|(id, _, _)| *id == local.id) {
                for (field, repair) in drifts {
                    if *repair != Repair::ApplyToWarp || unstorable.contains(&(*id, *field)) {
                        continue;
                    }
                    if local.values.get(*field) == hubspot.get(*field) || pushing.contains(id) {
                        equal.insert((*id, *field));
                    } else {
                        repairs.observations.push(HubSpotObservation {
                            local_id: *id,
                            field: *field,
                            value: hubspot.get(*field).flatten().map(str::to_owned),
                            at: Utc::now(),
                        });
                        repairs.pushes.insert(*id, local.version);
                        report.repaired("kept_warp_value_pushed_back", 1);
                    }
                }
            }
        }
        Ok(equal)
    }

    /// Records what HubSpot really holds for the fields to push, then queues one outbound row
    /// per record, in one transaction; returns (local id, outbox id).
    async fn queue_pushes(
        &self,
        object_type: ObjectType,
        repairs: &PairRepairs,
    ) -> Result<Vec<(Uuid, i64)>, StoreError> {
        if repairs.pushes.is_empty() {
            return Ok(Vec::new());
        }
        let mut client = self.database.client().await?;
        let transaction = client.transaction().await?;
        let connection: &tokio_postgres::Transaction<'_> = &transaction;
        inbound::observe_hubspot_values(connection, self.portal_id, &repairs.observations).await?;
        // The version is read now: events applied a moment ago may have moved it.
        let ids: Vec<Uuid> = repairs.pushes.keys().copied().collect();
        let current = self.load_records(object_type, connection, &ids).await?;
        let pushes: Vec<(Uuid, i64)> = repairs
            .pushes
            .iter()
            .map(|(id, version)| (*id, current.get(id).map_or(*version, |r| r.version)))
            .collect();
        let queued = outbox::enqueue_many(
            connection,
            self.portal_id,
            object_type,
            OutboxOperation::PushBack,
            &pushes,
        )
        .await?;
        transaction.commit().await?;
        Ok(queued)
    }

    pub(crate) async fn publish(&self, ids: &[i64]) {
        if let Some(publisher) = &self.publisher {
            for id in ids {
                publisher.publish(*id).await;
            }
        }
    }
}

/// What a record of `object_type` is called in WARP, for error reasons.
pub(crate) fn local_noun(object_type: ObjectType) -> &'static str {
    match object_type {
        ObjectType::Companies => "customer",
        ObjectType::Contacts => "user",
    }
}

/// A record's key as one integer for pass 1's map: a BAN's 40 bits, a user id's 128.
/// `None` for text that is no such key.
pub(crate) fn key_of(object_type: ObjectType, value: &str) -> Option<u128> {
    match object_type {
        ObjectType::Companies => ban_key(value).map(u128::from),
        ObjectType::Contacts => Uuid::parse_str(value.trim()).ok().map(|id| id.as_u128()),
    }
}

/// A BAN (`ZT-487392012`) as one integer: the two letters and nine digits fit in 40 bits, so
/// pass 1's map costs no string per company. `None` for anything that is not a BAN.
pub fn ban_key(ban: &str) -> Option<u64> {
    let ban = ban.trim().as_bytes();
    if ban.len() != 12 || ban[2] != b'-' {
        return None;
    }
    let letter = |b: u8| {
        b.to_ascii_uppercase()
            .is_ascii_uppercase()
            .then(|| u64::from(b.to_ascii_uppercase() - b'A'))
    };
    let mut key = letter(ban[0])? * 26 + letter(ban[1])?;
    for &digit in &ban[3..] {
        if !digit.is_ascii_digit() {
            return None;
        }
        key = key * 10 + u64::from(digit - b'0');
    }
    Some(key)
}

/// The canonical values HubSpot holds for every enabled mapped field (absent = no value).
pub(crate) fn hubspot_values(map: &FieldMap, record: &HubSpotRecord) -> FieldValues {
    let mut values = FieldValues::new();
    for mapping in map.iter().filter(|m| m.enabled) {
        values.set(mapping.field, record.property(&mapping.hubspot_property));
    }
    values
}

/// When HubSpot last changed each property whose history was read (its newest entry).
fn history_times(map: &FieldMap, record: &HubSpotRecord) -> ChangeTimes {
    map.iter()
        .filter_map(|mapping| {
            let newest = record
                .properties_with_history
                .get(&mapping.hubspot_property)?
                .iter()
                .map(|version| version.timestamp)
                .max()?;
            Some((mapping.field, newest))
        })
        .collect()
}

/// Writes progress into the run's row every [`HEARTBEAT_EVERY`].
pub(crate) struct Heartbeat {
    run_id: Option<Uuid>,
    last: Instant,
}

impl Heartbeat {
    pub(crate) fn new(run_id: Option<Uuid>) -> Self {
        Heartbeat {
            run_id,
            last: Instant::now(),
        }
    }

    pub(crate) async fn beat(&mut self, database: &Database, report: &DriftReport) {
        let Some(run_id) = self.run_id else { return };
        if self.last.elapsed() < HEARTBEAT_EVERY {
            return;
        }
        self.last = Instant::now();
        if let Err(error) = runs::heartbeat(database, run_id, &report.counts()).await {
            tracing::warn!(%error, %run_id, "could not record the run's progress");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bans_become_distinct_integers_and_other_text_none() {
        let a = ban_key("ZT-487392012").unwrap();
        assert_eq!(
            ban_key("zt-487392012"),
            Some(a),
            "case-insensitive like HubSpot's index"
        );
        assert_ne!(ban_key("ZT-487392013"), Some(a));
        assert_ne!(ban_key("ZU-487392012"), Some(a));
        assert_eq!(ban_key("AA-000000000"), Some(0));
        assert!(ban_key("ZZ-999999999").unwrap() < 1 << 40);
        for bad in [
            "",
            "ZT487392012",
            "Z1-487392012",
            "ZT-48739201x",
            "ZT-4873920123",
        ] {
            assert_eq!(ban_key(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_key_index_finds_narrow_and_wide_keys() {
        let mut index = KeyIndex::default();
        let user = Uuid::now_v7().as_u128();
        index.insert(7, 70);
        index.insert(user, 80);
        assert_eq!(index.get(&7), Some(&70));
        assert_eq!(index.get(&user), Some(&80));
        assert_eq!(index.get(&8), None);
        assert_eq!((index.narrow.len(), index.wide.len()), (1, 1));
    }

    #[test]
    fn keys_are_the_ban_for_companies_and_the_user_id_for_contacts() {
        let user = Uuid::now_v7();
        assert_eq!(
            key_of(ObjectType::Contacts, &user.to_string()),
            Some(user.as_u128())
        );
        assert_eq!(key_of(ObjectType::Contacts, "ZT-487392012"), None);
        assert_eq!(
            key_of(ObjectType::Companies, "ZT-487392012"),
            ban_key("ZT-487392012").map(u128::from)
        );
        assert_eq!(key_of(ObjectType::Companies, &user.to_string()), None);
    }
}
