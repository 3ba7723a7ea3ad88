//! The full reconciliation: every HubSpot company against every customer, streamed on both
//! sides, drift classified by the domain rules (`warp_domain::sync::classify_drift`,
//! `classify_record`) and repaired by the same rules as live sync.
//!
//! # Two passes, bounded memory
//! 1. **Companies.** Every active company is listed (100 a page, only the mapped properties).
//!    Per page, the customers linked to those companies are loaded and compared field by field;
//!    pairs that differ are kept (at most a batch read's worth) and repaired together.
//!    What the pass keeps is compact: the ids of the companies seen and a map from BAN to the
//!    company carrying it, both as integers (about 40 bytes a company in hash tables).
//! 2. **Customers.** Every customer is streamed in keyset pages of ids, BANs and links only.
//!    A customer linked to a company seen in pass 1 was compared there; the others are
//!    classified by [`classify_record`]: linked company gone, unlinked company with our BAN,
//!    or missing in HubSpot.
//!
//! # History only where it decides something
//! LATEST_WINS compares HubSpot's property change time with WARP's, and the synthetic event
//! that applies a HubSpot value carries HubSpot's change time, so `propertiesWithHistory` is
//! read, in batch reads of 50, only for the companies and properties that differ and may be
//! written into WARP (direction BOTH or HUBSPOT_TO_WARP).
//!
//! # Repairs (skipped when `dry_run`)
//! - Apply to WARP, or a conflict: a synthetic `company.propertyChange` event (changeSource
//!   `RECONCILIATION`, occurredAt = HubSpot's change time) is stored in
//!   `hubspot_webhook_events` and the [`InboundProcessor`] applies it by the inbound rules: one
//!   rules path for webhooks and reconciliation. The event key is HubSpot's change (company,
//!   property, time) with eventId [`RECONCILIATION_EVENT_ID`], so finding the same change
//!   again stores nothing twice (no duplicate conflicts).
//! - Push to HubSpot: the field state may believe HubSpot holds WARP's value (a lost webhook),
//!   so what HubSpot really holds is recorded first as HubSpot's known value, then an outbound
//!   row is queued; the worker's diff then sends exactly the differing fields.
//! - Missing in HubSpot: a RESYNC (full push, an upsert keyed by BAN) creates and links it.
//! - Linked company gone: link to the company carrying our BAN (a merge survivor) when there
//!   is one, else unlink and queue a RESYNC (which recreates it).
//! - Either of the last two while an archived company still holds the BAN: HubSpot refuses
//!   the BAN to a new company, so nothing is queued (it could only fail); the customer is
//!   unlinked and the drift reported for a person (restore the company, which relinks it).
//! - "Gone" and "missing" are checked once more against HubSpot before any repair: a company
//!   created while the list was being read is not in pass 1's sets.
//! - Unlinked company with our BAN: link, then compare its values like any linked pair.
//! - A HubSpot value WARP would take (apply, or keep in a conflict) that holds a NUL character
//!   (U+0000) cannot be stored: it is the run's error (customer and field, never the value),
//!   left unfixed for a person to correct in HubSpot, and the rest of the batch is repaired as
//!   usual. A run with errors ends `completed_with_errors` (see `jobs`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;
use warp_domain::customer::Customer;
use warp_domain::storable::{has_nul, nul_reason};
use warp_domain::sync::{
    ChangeTimes, DriftKind, FieldMap, FieldMapping, FieldValues, RecordDrift, Repair, WarpField,
    WebhookEvent, classify_drift, classify_record, customer_field_values,
};
use warp_hubspot::{
    Company, HubSpotClient, HubSpotError, ListOptions, ReadOptions, WARP_BAN_PROPERTY,
};
use warp_store::field_state;
use warp_store::inbound::{self, HubSpotObservation};
use warp_store::outbox::{self, OutboxOperation, OutboxPublisher};
use warp_store::reconciliation_runs::{self as runs, CustomerLink};
use warp_store::sync_config::MappingSource;
use warp_store::{Database, StoreError};
use warp_webhook::InboundProcessor;

use crate::report::{DriftReport, RepairKind};

/// The eventId of synthetic reconciliation events (HubSpot's own ids are positive).
pub const RECONCILIATION_EVENT_ID: i64 = -1;
/// The changeSource of synthetic reconciliation events.
pub const RECONCILIATION_CHANGE_SOURCE: &str = "RECONCILIATION";
/// Companies per list page (HubSpot's maximum).
pub const LIST_PAGE: u32 = 100;
/// Companies per batch read with `propertiesWithHistory`: HubSpot lowers its per-request
/// maximum when history is asked for; 50 is the documented lower limit of the list endpoint.
pub const HISTORY_BATCH: usize = 50;
/// Customers per keyset page of pass 2.
pub const CUSTOMER_PAGE: u32 = 1_000;
/// Events the inbound processor claims per transaction when applying repairs.
const EVENT_BATCH: u32 = 100;
/// How often a run records its progress (and that it is alive).
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);

/// Why a run stopped before the end (drift repairs that fail are counted, not fatal).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("listing HubSpot companies: {0}")]
    HubSpot(#[from] HubSpotError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// Where a run is, for progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Companies,
    Customers,
}

#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub phase: Phase,
    pub companies_checked: u64,
    pub customers_checked: u64,
    pub drift_found: u64,
}

/// A progress callback (the CLI's bar); called once per page.
pub type ProgressFn = dyn Fn(Progress) + Send + Sync;

/// Compares and repairs. Build once per process and share it.
pub struct Reconciler {
    pub database: Database,
    pub hubspot: HubSpotClient,
    /// The company mapping (re-read when stale at the start of each run).
    pub map: MappingSource,
    pub portal_id: i64,
    /// Applies the synthetic events (the same processor the webhook path uses).
    pub inbound: Arc<InboundProcessor>,
    /// Hands queued outbox rows to the queue right away; without one the relay or the local
    /// outbox loop picks them up.
    pub publisher: Option<Arc<dyn OutboxPublisher>>,
}

/// One linked pair to compare.
struct Pair {
    customer: Customer,
    company: Company,
}

/// The repairs of one batch of pairs, gathered before any is made.
#[derive(Default)]
struct PairRepairs {
    events: Vec<(WebhookEvent, serde_json::Value)>,
    observations: Vec<HubSpotObservation>,
    pushes: BTreeMap<Uuid, i64>,
}

/// One pair's drifted fields and their repairs: (customer, company, (field, repair)).
type Planned = (Uuid, Option<String>, Vec<(WarpField, Repair)>);

/// What pass 1 leaves for pass 2: compact sets of integers.
#[derive(Default)]
struct Seen {
    companies: HashSet<u64>,
    company_by_ban: HashMap<u64, u64>,
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
        self.map.fresh().await;
        let mut report = DriftReport::new(dry_run);
        let mut heartbeat = Heartbeat::new(run_id);
        let seen = self
            .companies_pass(&mut report, &mut heartbeat, progress)
            .await?;
        self.customers_pass(&seen, &mut report, &mut heartbeat, progress)
            .await?;
        tracing::info!(
            dry_run,
            customers = report.customers_checked,
            companies = report.companies_checked,
            drift_found = report.drift_found,
            drift_fixed = report.drift_fixed,
            errors = report.errors,
            "reconciliation finished"
        );
        Ok(report)
    }

    fn mapped_properties(&self) -> Vec<String> {
        self.map
            .current()
            .hubspot_properties()
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    async fn companies_pass(
        &self,
        report: &mut DriftReport,
        heartbeat: &mut Heartbeat,
        progress: Option<&ProgressFn>,
    ) -> Result<Seen, ReconcileError> {
        let options = ListOptions {
            properties: self.mapped_properties(),
            limit: LIST_PAGE,
            archived: false,
        };
        let mut seen = Seen::default();
        // Drifted pairs wait here until a batch read's worth of them needs history, so history
        // costs one request per 50 drifted companies, not one per page.
        let mut pending: Vec<Pair> = Vec::new();
        let mut next = Some(
            self.hubspot
                .companies()
                .list_page(&options, None)
                .await
                .map_err(ReconcileError::HubSpot)?,
        );
        report.hubspot_requests += 1;
        while let Some(page) = next.take() {
            let warp_hubspot::Page {
                results: companies,
                next_after,
            } = page;
            // The next page is fetched while this one is compared: the rate budget, not the
            // database, then sets the pace.
            let fetch_next = async {
                match next_after.as_deref() {
                    Some(after) => Some(
                        self.hubspot
                            .companies()
                            .list_page(&options, Some(after))
                            .await,
                    ),
                    None => None,
                }
            };
            let (fetched, compared) = tokio::join!(
                fetch_next,
                self.companies_page(companies, &mut seen, report)
            );
            pending.extend(compared?);
            if pending.len() >= HISTORY_BATCH {
                self.compare_pairs(std::mem::take(&mut pending), report, &HashMap::new())
                    .await?;
            }
            if let Some(fetched) = fetched {
                report.hubspot_requests += 1;
                next = Some(fetched?);
            }
            if let Some(progress) = progress {
                progress(Progress {
                    phase: Phase::Companies,
                    companies_checked: report.companies_checked,
                    customers_checked: report.customers_checked,
                    drift_found: report.drift_found,
                });
            }
            heartbeat.beat(&self.database, report).await;
        }
        self.compare_pairs(pending, report, &HashMap::new()).await?;
        Ok(seen)
    }

    /// Records one page's companies in the compact sets and returns its linked pairs whose
    /// values differ (pairs that agree are done with here).
    async fn companies_page(
        &self,
        companies: Vec<Company>,
        seen: &mut Seen,
        report: &mut DriftReport,
    ) -> Result<Vec<Pair>, ReconcileError> {
        let map = self.map.current();
        report.companies_checked += companies.len() as u64;
        for company in &companies {
            let id = company.id.as_u64();
            seen.companies.insert(id);
            if let Some(ban) = company.property(WARP_BAN_PROPERTY).and_then(ban_key) {
                seen.company_by_ban.insert(ban, id);
            }
        }
        let ids: Vec<String> = companies.iter().map(|c| c.id.as_str().to_owned()).collect();
        let client = self.database.client().await.map_err(StoreError::from)?;
        let linked = runs::customers_linked_to(&**client, &ids).await?;
        let customer_ids: Vec<Uuid> = linked.iter().map(|(_, customer)| *customer).collect();
        let mut customers = outbox::load_customers(&**client, &customer_ids).await?;
        drop(client);
        let mut by_company: HashMap<String, Company> = companies
            .into_iter()
            .map(|company| (company.id.as_str().to_owned(), company))
            .collect();
        let no_times = ChangeTimes::new();
        Ok(linked
            .into_iter()
            .filter_map(|(company_id, customer_id)| {
                Some(Pair {
                    customer: customers.remove(&customer_id)?,
                    company: by_company.remove(&company_id)?,
                })
            })
            .filter(|pair| {
                let warp = customer_field_values(&pair.customer);
                let hubspot = hubspot_values(&map, &pair.company);
                !classify_drift(&map, &warp, &hubspot, &no_times, &no_times).is_empty()
            })
            .collect())
    }

    async fn customers_pass(
        &self,
        seen: &Seen,
        report: &mut DriftReport,
        heartbeat: &mut Heartbeat,
        progress: Option<&ProgressFn>,
    ) -> Result<(), ReconcileError> {
        let mut after = None;
        loop {
            let client = self.database.client().await.map_err(StoreError::from)?;
            let page = runs::customer_links_page(&**client, after, CUSTOMER_PAGE).await?;
            drop(client);
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            report.customers_checked += page.len() as u64;
            let drifts: Vec<(CustomerLink, RecordDrift)> = page
                .into_iter()
                .filter_map(|link| {
                    let drift = record_drift(&link, seen)?;
                    Some((link, drift))
                })
                .collect();
            let (drifts, held_by_archived) = self.still_drifted(drifts, report).await;
            if !drifts.is_empty()
                && let Err(error) = self.repair_records(drifts, &held_by_archived, report).await
            {
                report.error(format!("repairing record drift: {error}"));
            }
            if let Some(progress) = progress {
                progress(Progress {
                    phase: Phase::Customers,
                    companies_checked: report.companies_checked,
                    customers_checked: report.customers_checked,
                    drift_found: report.drift_found,
                });
            }
            heartbeat.beat(&self.database, report).await;
        }
        Ok(())
    }

    /// Pass 1 took minutes: a company created (or restored) since the list passed its id
    /// cannot be in the compact sets. Before "gone" or "missing" is believed, HubSpot is asked
    /// once more, in batch reads: by the linked id, and by BAN. Companies found again leave the
    /// customer alone for this run (the next run sees the settled state). Also returns the BANs
    /// (as keys) of the rest that an archived company still holds: HubSpot keeps a unique value
    /// on an archived record, so an upsert by that BAN is refused until it is restored.
    async fn still_drifted(
        &self,
        drifts: Vec<(CustomerLink, RecordDrift)>,
        report: &mut DriftReport,
    ) -> (Vec<(CustomerLink, RecordDrift)>, HashSet<String>) {
        let gone: Vec<String> = drifts
            .iter()
            .filter_map(|(link, drift)| match drift {
                RecordDrift::LinkedCompanyGone {
                    company_with_our_ban: None,
                    ..
                } => link.hubspot_company_id.clone(),
                _ => None,
            })
            .collect();
        let missing: Vec<String> = drifts
            .iter()
            .filter(|(_, drift)| *drift == RecordDrift::MissingInHubSpot)
            .map(|(link, _)| link.ban.clone())
            .collect();
        let found_ids = self.still_there(&gone, None, false, report).await;
        let found_bans = self
            .still_there(&missing, Some(WARP_BAN_PROPERTY), false, report)
            .await;
        let drifts: Vec<(CustomerLink, RecordDrift)> = drifts
            .into_iter()
            .filter(|(link, drift)| match drift {
                RecordDrift::LinkedCompanyGone {
                    company_with_our_ban: None,
                    ..
                } => link
                    .hubspot_company_id
                    .as_ref()
                    .is_none_or(|id| !found_ids.contains(id)),
                RecordDrift::MissingInHubSpot => {
                    ban_key(&link.ban).is_none_or(|ban| !found_bans.contains(&ban.to_string()))
                }
                _ => true,
            })
            .collect();
        let to_create: Vec<String> = drifts
            .iter()
            .filter(|(_, drift)| drift.link_to().is_none())
            .map(|(link, _)| link.ban.clone())
            .collect();
        let held_by_archived = self
            .still_there(&to_create, Some(WARP_BAN_PROPERTY), true, report)
            .await;
        (drifts, held_by_archived)
    }

    /// Which of `ids` (company ids, or values of `id_property`) HubSpot holds (among archived
    /// companies when `archived`), as ids or BAN keys. A failed read counts as "not there":
    /// the repair that follows is safe to repeat.
    async fn still_there(
        &self,
        ids: &[String],
        id_property: Option<&str>,
        archived: bool,
        report: &mut DriftReport,
    ) -> HashSet<String> {
        if ids.is_empty() {
            return HashSet::new();
        }
        let read = self
            .hubspot
            .companies()
            .batch_read(
                ids,
                id_property,
                &ReadOptions {
                    archived,
                    ..ReadOptions::properties([WARP_BAN_PROPERTY])
                },
            )
            .await;
        report.hubspot_requests += read.calls as u64;
        read.results
            .iter()
            .filter_map(|company| match id_property {
                None => Some(company.id.as_str().to_owned()),
                Some(_) => company
                    .property(WARP_BAN_PROPERTY)
                    .and_then(ban_key)
                    .map(|ban| ban.to_string()),
            })
            .collect()
    }

    /// Repairs (or, in a dry run, reports) one page of record-level drift. Customers linked to
    /// a company by the repair have their values compared at once.
    async fn repair_records(
        &self,
        drifts: Vec<(CustomerLink, RecordDrift)>,
        held_by_archived: &HashSet<String>,
        report: &mut DriftReport,
    ) -> Result<(), ReconcileError> {
        let mut to_link: Vec<(CustomerLink, RecordDrift, String)> = Vec::new();
        let mut to_push: Vec<(CustomerLink, RecordDrift)> = Vec::new();
        for (link, drift) in drifts {
            match drift.link_to().map(str::to_owned) {
                Some(company) => to_link.push((link, drift, company)),
                None => to_push.push((link, drift)),
            }
        }

        // Links: make them, then compare the company's values with the customer's.
        let mut linked: Vec<(Customer, String, &'static str)> = Vec::new();
        for (link, drift, company) in &to_link {
            let kind = drift.kind().as_str();
            let outcome = if report.dry_run {
                self.load_customer(link.id).await
            } else {
                self.link_customer(link.id, company).await
            };
            match outcome {
                Ok(customer) => linked.push((customer, company.clone(), kind)),
                Err(error) => {
                    report.error(format!(
                        "customer {}: linking to company {company}: {error}",
                        link.id
                    ));
                    report.add_customer(
                        link.id,
                        Some(company.clone()),
                        Some((kind, false)),
                        &[],
                        vec![RepairKind::Link],
                    );
                }
            }
        }
        if !linked.is_empty() {
            let ids: Vec<String> = linked
                .iter()
                .map(|(_, company, _)| company.clone())
                .collect();
            let read = self
                .hubspot
                .companies()
                .batch_read(
                    &ids,
                    None,
                    &ReadOptions {
                        properties: self.mapped_properties(),
                        ..ReadOptions::default()
                    },
                )
                .await;
            report.hubspot_requests += read.calls as u64;
            for failed in &read.failed_calls {
                report.error(format!("reading linked companies: {}", failed.error));
            }
            let mut companies: HashMap<String, Company> = read
                .results
                .into_iter()
                .map(|company| (company.id.as_str().to_owned(), company))
                .collect();
            let mut pairs = Vec::new();
            let mut record_kinds = HashMap::new();
            for (customer, company_id, kind) in linked {
                record_kinds.insert(customer.id, kind);
                match companies.remove(&company_id) {
                    Some(company) => pairs.push(Pair { customer, company }),
                    None => report.add_customer(
                        customer.id,
                        Some(company_id),
                        Some((kind, !report.dry_run)),
                        &[],
                        vec![RepairKind::Link],
                    ),
                }
            }
            self.compare_pairs(pairs, report, &record_kinds).await?;
        }

        // Creates and recreates: a RESYNC upserts by BAN, creating the company, and links it,
        // unless an archived company holds the BAN (a person restores it, or lets it go).
        let blocked = |link: &CustomerLink| {
            ban_key(&link.ban).is_some_and(|ban| held_by_archived.contains(&ban.to_string()))
        };
        if !to_push.is_empty() {
            let mut queued = Vec::new();
            if !report.dry_run {
                let mut client = self.database.client().await.map_err(StoreError::from)?;
                let transaction = client.transaction().await.map_err(StoreError::from)?;
                let connection: &tokio_postgres::Transaction<'_> = &transaction;
                let mut resync = Vec::new();
                for (link, drift) in &to_push {
                    let version = match drift {
                        RecordDrift::LinkedCompanyGone { .. } => {
                            inbound::unlink_company(connection, link.id).await?.version
                        }
                        _ => link.version,
                    };
                    // A deleted customer's company is not recreated: unlinking is the repair.
                    if !link.deleted && !blocked(link) {
                        resync.push((link.id, version));
                    }
                }
                queued = outbox::enqueue_many(
                    connection,
                    self.portal_id,
                    warp_domain::sync::ObjectType::Companies,
                    OutboxOperation::Resync,
                    &resync,
                )
                .await?;
                transaction.commit().await.map_err(StoreError::from)?;
                report.repaired("full_pushes_queued", queued.len() as u64);
            }
            let held = to_push.iter().filter(|(link, _)| blocked(link)).count();
            report.repaired("blocked_by_archived_company", held as u64);
            for (link, drift) in &to_push {
                let repair = match drift {
                    _ if blocked(link) => RepairKind::RestoreInHubSpot,
                    RecordDrift::LinkedCompanyGone { .. } => RepairKind::UnlinkAndPush,
                    _ => RepairKind::Create,
                };
                let fixed = !report.dry_run && repair != RepairKind::RestoreInHubSpot;
                let company = match drift {
                    RecordDrift::LinkedCompanyGone {
                        linked_company_id, ..
                    } => Some(linked_company_id.clone()),
                    _ => None,
                };
                report.add_customer(
                    link.id,
                    company,
                    Some((drift.kind().as_str(), fixed)),
                    &[],
                    vec![repair],
                );
            }
            let ids: Vec<i64> = queued.iter().map(|(_, id)| *id).collect();
            self.publish(&ids).await;
        }
        Ok(())
    }

    /// Compares linked pairs field by field, reads history where it decides something, and
    /// repairs. `record_kinds` names the record drift a pair was just repaired from (a link).
    async fn compare_pairs(
        &self,
        mut pairs: Vec<Pair>,
        report: &mut DriftReport,
        record_kinds: &HashMap<Uuid, &'static str>,
    ) -> Result<(), ReconcileError> {
        let map = self.map.current();
        if pairs.is_empty() {
            return Ok(());
        }
        let customer_ids: Vec<Uuid> = pairs.iter().map(|p| p.customer.id).collect();
        let client = self.database.client().await.map_err(StoreError::from)?;
        let states = field_state::load(
            &**client,
            self.portal_id,
            warp_domain::sync::ObjectType::Companies,
            &customer_ids,
        )
        .await?;
        drop(client);
        let warp_times = |customer: &Uuid| -> ChangeTimes {
            states
                .get(customer)
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
            let warp = customer_field_values(&pair.customer);
            let hubspot = hubspot_values(&map, &pair.company);
            for drift in classify_drift(
                &map,
                &warp,
                &hubspot,
                &ChangeTimes::new(),
                &warp_times(&pair.customer.id),
            ) {
                if let Some(mapping) = map.get(drift.field)
                    && mapping.direction.includes_inbound()
                {
                    history_wanted
                        .entry(pair.company.id.as_str().to_owned())
                        .or_default()
                        .insert(mapping.hubspot_property.clone());
                }
            }
        }
        if !history_wanted.is_empty() {
            let fresh = self.read_with_history(&history_wanted, report).await;
            for pair in &mut pairs {
                if let Some(company) = fresh.get(pair.company.id.as_str()) {
                    pair.company = company.clone();
                }
            }
        }

        let mut repairs = PairRepairs::default();
        let mut planned: Vec<Planned> = Vec::new();
        // Fields whose HubSpot value WARP cannot take because Postgres cannot store it (a NUL):
        // reported as errors and left for a person, while the rest of the batch is repaired.
        let mut unstorable: HashSet<(Uuid, WarpField)> = HashSet::new();
        for pair in &pairs {
            let warp = customer_field_values(&pair.customer);
            let hubspot = hubspot_values(&map, &pair.company);
            let hubspot_times = history_times(&map, &pair.company);
            let drifts = classify_drift(
                &map,
                &warp,
                &hubspot,
                &hubspot_times,
                &warp_times(&pair.customer.id),
            );
            if drifts.is_empty() && !record_kinds.contains_key(&pair.customer.id) {
                continue;
            }
            for drift in &drifts {
                let takes_hubspot_value =
                    matches!(drift.repair, Repair::ApplyToWarp | Repair::Conflict);
                let unstorable_value = map
                    .get(drift.field)
                    .and_then(|mapping| pair.company.property(&mapping.hubspot_property))
                    .is_some_and(has_nul);
                if takes_hubspot_value && unstorable_value {
                    report.error(format!(
                        "customer {}: {}: {}; correct it in HubSpot",
                        pair.customer.id,
                        drift.field.as_str(),
                        nul_reason("HubSpot's value")
                    ));
                    unstorable.insert((pair.customer.id, drift.field));
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
                        .unwrap_or(pair.company.updated_at);
                    match drift.repair {
                        Repair::PushToHubSpot => {
                            repairs.observations.push(HubSpotObservation {
                                local_id: pair.customer.id,
                                field: drift.field,
                                value: hubspot.get(drift.field).flatten().map(str::to_owned),
                                at: changed_at,
                            });
                            repairs
                                .pushes
                                .insert(pair.customer.id, pair.customer.version);
                        }
                        Repair::ApplyToWarp | Repair::Conflict
                            if unstorable.contains(&(pair.customer.id, drift.field)) => {}
                        Repair::ApplyToWarp | Repair::Conflict => {
                            repairs.events.push(self.synthetic_event(
                                &pair.company,
                                mapping,
                                changed_at,
                            ));
                        }
                    }
                }
            }
            planned.push((
                pair.customer.id,
                Some(pair.company.id.as_str().to_owned()),
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
                        .fields_now_equal(&pairs, &planned, &unstorable, &mut repairs, report)
                        .await?;
                }
                Err(error) => report.error(format!("applying HubSpot values: {error}")),
            }
            match self.queue_pushes(&repairs).await {
                Ok(queued) => {
                    report.repaired("pushes_queued", queued.len() as u64);
                    pushed_ok = queued.iter().map(|(customer, _)| *customer).collect();
                    let ids: Vec<i64> = queued.into_iter().map(|(_, id)| id).collect();
                    self.publish(&ids).await;
                }
                Err(error) => report.error(format!("queueing pushes: {error}")),
            }
        }
        for (customer_id, company_id, drifts) in planned {
            let mut repair_kinds = Vec::new();
            let fields: Vec<(&'static str, bool)> = drifts
                .iter()
                .map(|(field, repair)| {
                    let fixed = match repair {
                        Repair::PushToHubSpot => {
                            repair_kinds.push(RepairKind::Push);
                            pushed_ok.contains(&customer_id)
                        }
                        Repair::ApplyToWarp => {
                            repair_kinds.push(RepairKind::Apply);
                            !unstorable.contains(&(customer_id, *field))
                                && (applied_ok.contains(&(customer_id, *field))
                                    || pushed_ok.contains(&customer_id))
                        }
                        Repair::Conflict => {
                            repair_kinds.push(RepairKind::Conflict);
                            false
                        }
                    };
                    (field.as_str(), fixed)
                })
                .collect();
            let record = record_kinds.get(&customer_id).map(|kind| {
                repair_kinds.push(RepairKind::Link);
                (*kind, !report.dry_run)
            });
            report.add_customer(customer_id, company_id, record, &fields, repair_kinds);
        }
        Ok(())
    }

    /// Batch reads (50 a call) of these companies with their mapped properties and the
    /// history of the properties named; companies not found are left out.
    async fn read_with_history(
        &self,
        wanted: &BTreeMap<String, BTreeSet<String>>,
        report: &mut DriftReport,
    ) -> HashMap<String, Company> {
        let mut found = HashMap::new();
        let ids: Vec<&String> = wanted.keys().collect();
        for chunk in ids.chunks(HISTORY_BATCH) {
            let history: BTreeSet<String> = chunk
                .iter()
                .flat_map(|id| wanted[*id].iter().cloned())
                .collect();
            let chunk_ids: Vec<String> = chunk.iter().map(|id| (*id).clone()).collect();
            let read = self
                .hubspot
                .companies()
                .batch_read(
                    &chunk_ids,
                    None,
                    &ReadOptions {
                        properties: self.mapped_properties(),
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
                    .map(|company| (company.id.as_str().to_owned(), company)),
            );
        }
        found
    }

    fn synthetic_event(
        &self,
        company: &Company,
        mapping: &FieldMapping,
        occurred_at: DateTime<Utc>,
    ) -> (WebhookEvent, serde_json::Value) {
        let raw = serde_json::json!({
            "eventId": RECONCILIATION_EVENT_ID,
            "portalId": self.portal_id,
            "occurredAt": occurred_at.timestamp_millis(),
            "subscriptionType": "company.propertyChange",
            "attemptNumber": 0,
            "objectId": company.id.as_u64(),
            "propertyName": mapping.hubspot_property,
            "propertyValue": company.property(&mapping.hubspot_property).unwrap_or(""),
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
        pairs: &[Pair],
        planned: &[Planned],
        unstorable: &HashSet<(Uuid, WarpField)>,
        repairs: &mut PairRepairs,
        report: &mut DriftReport,
    ) -> Result<HashSet<(Uuid, WarpField)>, ReconcileError> {
        let map = self.map.current();
        let wanted: Vec<Uuid> = planned
            .iter()
            .filter(|(_, _, drifts)| drifts.iter().any(|(_, r)| *r == Repair::ApplyToWarp))
            .map(|(id, _, _)| *id)
            .collect();
        if wanted.is_empty() {
            return Ok(HashSet::new());
        }
        let client = self.database.client().await.map_err(StoreError::from)?;
        let now = outbox::load_customers(&**client, &wanted).await?;
        // The rules may refuse HubSpot's value (not a valid WARP value) and push WARP's back
        // instead: that repairs the drift too.
        let pushing: HashSet<Uuid> = runs::customers_with_waiting_push(&**client, &wanted)
            .await?
            .into_iter()
            .collect();
        let mut equal = HashSet::new();
        for pair in pairs {
            let Some(customer) = now.get(&pair.customer.id) else {
                continue;
            };
            let warp = customer_field_values(customer);
            let hubspot = hubspot_values(&map, &pair.company);
            for (id, _, drifts) in planned.iter().filter(|(id, _, _)| *id == customer.id) {
                for (field, repair) in drifts {
                    if *repair != Repair::ApplyToWarp || unstorable.contains(&(*id, *field)) {
                        continue;
                    }
                    if warp.get(*field) == hubspot.get(*field) || pushing.contains(id) {
                        equal.insert((*id, *field));
                    } else {
                        repairs.observations.push(HubSpotObservation {
                            local_id: *id,
                            field: *field,
                            value: hubspot.get(*field).flatten().map(str::to_owned),
                            at: Utc::now(),
                        });
                        repairs.pushes.insert(*id, customer.version);
                        report.repaired("kept_warp_value_pushed_back", 1);
                    }
                }
            }
        }
        Ok(equal)
    }

    /// Records what HubSpot really holds for the fields to push, then queues one outbound row
    /// per customer, in one transaction; returns (customer, outbox id).
    async fn queue_pushes(&self, repairs: &PairRepairs) -> Result<Vec<(Uuid, i64)>, StoreError> {
        if repairs.pushes.is_empty() {
            return Ok(Vec::new());
        }
        let mut client = self.database.client().await?;
        let transaction = client.transaction().await?;
        let connection: &tokio_postgres::Transaction<'_> = &transaction;
        inbound::observe_hubspot_values(connection, self.portal_id, &repairs.observations).await?;
        // The version is read now: events applied a moment ago may have moved it.
        let ids: Vec<Uuid> = repairs.pushes.keys().copied().collect();
        let current = outbox::load_customers(connection, &ids).await?;
        let pushes: Vec<(Uuid, i64)> = repairs
            .pushes
            .iter()
            .map(|(id, version)| (*id, current.get(id).map_or(*version, |c| c.version)))
            .collect();
        let queued = outbox::enqueue_many(
            connection,
            self.portal_id,
            warp_domain::sync::ObjectType::Companies,
            OutboxOperation::PushBack,
            &pushes,
        )
        .await?;
        transaction.commit().await?;
        Ok(queued)
    }

    /// Locks the customer and links it to `company` (version + 1).
    async fn link_customer(
        &self,
        customer_id: Uuid,
        company: &str,
    ) -> Result<Customer, StoreError> {
        let mut client = self.database.client().await?;
        let transaction = client.transaction().await?;
        let connection: &tokio_postgres::Transaction<'_> = &transaction;
        inbound::lock_by_id(connection, customer_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let linked = inbound::link_company(connection, customer_id, company).await?;
        transaction.commit().await?;
        Ok(linked)
    }

    async fn load_customer(&self, customer_id: Uuid) -> Result<Customer, StoreError> {
        let client = self.database.client().await?;
        outbox::load_customers(&**client, &[customer_id])
            .await?
            .remove(&customer_id)
            .ok_or(StoreError::NotFound)
    }

    async fn publish(&self, ids: &[i64]) {
        if let Some(publisher) = &self.publisher {
            for id in ids {
                publisher.publish(*id).await;
            }
        }
    }
}

/// The record-level drift of one customer after pass 1; `None` when sound or compared there.
fn record_drift(link: &CustomerLink, seen: &Seen) -> Option<RecordDrift> {
    let company_with_our_ban = ban_key(&link.ban)
        .and_then(|ban| seen.company_by_ban.get(&ban))
        .map(u64::to_string);
    let linked_exists = link
        .hubspot_company_id
        .as_deref()
        .and_then(|id| id.parse::<u64>().ok())
        .is_some_and(|id| seen.companies.contains(&id));
    let drift = classify_record(
        link.hubspot_company_id.as_deref(),
        linked_exists,
        company_with_our_ban.as_deref(),
    )?;
    // A deleted customer never pushed is not created in HubSpot.
    if link.deleted && drift.kind() == DriftKind::MissingInHubSpot {
        return None;
    }
    Some(drift)
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
fn hubspot_values(map: &FieldMap, company: &Company) -> FieldValues {
    let mut values = FieldValues::new();
    for mapping in map.iter().filter(|m| m.enabled) {
        values.set(mapping.field, company.property(&mapping.hubspot_property));
    }
    values
}

/// When HubSpot last changed each property whose history was read (its newest entry).
fn history_times(map: &FieldMap, company: &Company) -> ChangeTimes {
    map.iter()
        .filter_map(|mapping| {
            let newest = company
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
struct Heartbeat {
    run_id: Option<Uuid>,
    last: Instant,
}

impl Heartbeat {
    fn new(run_id: Option<Uuid>) -> Self {
        Heartbeat {
            run_id,
            last: Instant::now(),
        }
    }

    async fn beat(&mut self, database: &Database, report: &DriftReport) {
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
    fn record_drift_uses_the_compact_sets() {
        let mut seen = Seen::default();
        seen.companies.insert(7);
        seen.company_by_ban
            .insert(ban_key("ZT-000000001").unwrap(), 9);
        let link = |ban: &str, company: Option<&str>, deleted| CustomerLink {
            id: Uuid::nil(),
            ban: ban.into(),
            hubspot_company_id: company.map(str::to_owned),
            version: 1,
            deleted,
        };
        assert_eq!(
            record_drift(&link("ZT-000000002", Some("7"), false), &seen),
            None
        );
        assert_eq!(
            record_drift(&link("ZT-000000001", Some("5"), false), &seen)
                .unwrap()
                .link_to(),
            Some("9")
        );
        assert_eq!(
            record_drift(&link("ZT-000000001", None, false), &seen)
                .unwrap()
                .kind(),
            DriftKind::UnlinkedCompanyWithOurBan
        );
        assert_eq!(
            record_drift(&link("ZT-000000002", None, false), &seen)
                .unwrap()
                .kind(),
            DriftKind::MissingInHubSpot
        );
        assert_eq!(record_drift(&link("ZT-000000002", None, true), &seen), None);
    }
}
