//! Imports from HubSpot (issue 20; seed 002's `POST /api/v1/sync/customers/hubspot`): every
//! company, contact or deal of the portal read page by page (100 a page, only the properties
//! matching needs) and matched to WARP by the rules of [`warp_domain::import`]:
//!
//! - **Companies.** Linked already, or carrying a customer's `warp_ban` → linked (the link
//!   queues a RESYNC, as the link route does; a page's links in a few statements). No BAN: the one unlinked customer with the
//!   company's domain → the BAN is stamped on the company first (the worker upserts companies by
//!   `warp_ban`, so a link without it would make a second company), in one batch write a page,
//!   then linked. Nothing matches → the portal's company rule: onboarded (a customer is created
//!   with a new BAN by the onboarding runner) or left as a candidate to adopt. A domain shared
//!   by several customers, or whose customer is linked elsewhere, is proposed, never forced.
//! - **Contacts.** By `warp_user_id`, then by email (the one user with it, linked to nothing):
//!   linked, and a RESYNC queued (the worker finds the contact by email and gives it its
//!   `warp_user_id`). A contact with no user is counted unmatched: users are WARP's logins, and
//!   an import never invents one.
//! - **Deals.** Stored as the deal webhooks store them; a won deal not yet onboarded starts its
//!   onboarding, so an import of deals also recovers won deals whose webhooks were lost.
//!
//! A page's effects, counts, items and the cursor of the next page commit in one transaction
//! fenced by the import's lease ([`warp_store::imports::record_page`]): after a crash the next
//! runner resumes at the page that did not commit, and nothing is counted twice. The next page
//! is read while the current one is stored, so the import runs at the speed of HubSpot's rate
//! budget, not of HubSpot plus Postgres. A dry run matches and counts, writing nothing but
//! its own report.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use uuid::Uuid;
use warp_domain::customer::Ban;
use warp_domain::deal::DEAL_PROPERTIES;
use warp_domain::import::{
    CUSTOMER_NOUNS, ImportCounts, ImportObject, Lookups, Match, Nouns, USER_NOUNS, match_record,
    normalized_domain, settle_page,
};
use warp_domain::onboarding::{CompanyRule, OnboardingSource};
use warp_domain::sync::ObjectType;
use warp_hubspot::search::SearchRequest;
use warp_hubspot::{
    BatchUpdateInput, CrmObject, HubSpotError, HubSpotRecord, ListOptions, WARP_BAN_PROPERTY,
    WARP_USER_ID_PROPERTY,
};
use warp_store::imports::{self, Import, ImportItem};
use warp_store::inbound::{self, InboundLogEntry, InboundLogStatus};
use warp_store::outbox::{self, OutboxOperation};
use warp_store::sync_reports::{self, LINK_OPERATION};
use warp_store::{StoreError, company_candidates, customers, links, manual_links, onboardings};

use crate::engine::Reconciler;

/// Records per page (HubSpot's maximum for a list).
pub const IMPORT_PAGE: u32 = 100;
const LIFECYCLE_STAGE: &str = "lifecyclestage";
/// Attempts in a row that failed for now (each a relay job, a minute apart) after which an
/// import is failed rather than retried again.
const GIVE_UP_AFTER: i32 = 20;

/// How a run of an import ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ImportEnd {
    /// Every page is done (`status` says whether some records failed).
    Finished(Import),
    /// The time budget ran out; the import waits, at its cursor, for the next runner.
    Paused(Import),
    /// HubSpot or the database failed for now; the next runner tries again from the cursor.
    Released { import: Import, error: String },
    /// HubSpot refused the read itself (a missing scope): the import is failed.
    Failed { import: Import, reason: String },
    /// Another runner took the import over (this one was too slow to renew its lease).
    LostLease,
}

impl ImportEnd {
    /// The import as it stood when this run ended (`None` when the lease was lost).
    pub fn import(&self) -> Option<&Import> {
        match self {
            ImportEnd::Finished(import)
            | ImportEnd::Paused(import)
            | ImportEnd::Released { import, .. }
            | ImportEnd::Failed { import, .. } => Some(import),
            ImportEnd::LostLease => None,
        }
    }
}

/// A progress callback (the CLI's bar); called after each page with the import as it stands.
pub type ImportProgressFn = dyn Fn(&Import) + Send + Sync;

/// Why a page was not recorded.
#[derive(Debug)]
enum PageError {
    /// Try again later from the same cursor.
    Transient(String),
    /// The import cannot go on.
    Permanent(String),
}

impl From<StoreError> for PageError {
    fn from(error: StoreError) -> Self {
        // A unique index met a concurrent writer (a link made meanwhile): the page is redone
        // and sees it.
        if error.is_temporary()
            || error.is_lock_conflict()
            || matches!(error, StoreError::Conflict(_))
        {
            PageError::Transient(format!("database: {error}"))
        } else {
            PageError::Permanent(format!("database: {error}"))
        }
    }
}

impl From<tokio_postgres::Error> for PageError {
    fn from(error: tokio_postgres::Error) -> Self {
        StoreError::from(error).into()
    }
}

impl From<warp_store::DatabaseError> for PageError {
    fn from(error: warp_store::DatabaseError) -> Self {
        StoreError::from(error).into()
    }
}

fn hubspot_failed(error: &HubSpotError, what: &str) -> PageError {
    let reason = format!("HubSpot {what}: {error}");
    if error.waits() {
        PageError::Transient(reason)
    } else {
        PageError::Permanent(reason)
    }
}

/// What one page did, recorded with it.
#[derive(Default)]
struct PageResult {
    counts: ImportCounts,
    items: Vec<ImportItem>,
    outbox_ids: Vec<i64>,
}

impl PageResult {
    fn item(
        &mut self,
        hubspot_id: &str,
        outcome: &'static str,
        reason: String,
        candidates: Vec<Uuid>,
    ) {
        self.items.push(ImportItem {
            hubspot_id: hubspot_id.to_owned(),
            outcome,
            reason,
            candidates,
        });
    }
}

type Tx<'a> = tokio_postgres::Transaction<'a>;

/// `pairs` without those whose WARP record a person unlinked: only a person links it again
/// (`POST …/hubspot-link`). Each one left out is an item `failed`, with the reason.
async fn without_held<T>(
    tx: &tokio_postgres::Transaction<'_>,
    portal_id: i64,
    object_type: ObjectType,
    pairs: Vec<T>,
    ids_of: impl Fn(&T) -> (Uuid, &str),
    result: &mut PageResult,
) -> Result<Vec<T>, StoreError> {
    let local_ids: Vec<Uuid> = pairs.iter().map(|pair| ids_of(pair).0).collect();
    let held = manual_links::held(tx, portal_id, object_type, &local_ids).await?;
    if held.is_empty() {
        return Ok(pairs);
    }
    let mut kept = Vec::with_capacity(pairs.len());
    for pair in pairs {
        let (local_id, hubspot_id) = ids_of(&pair);
        if held.contains(&local_id) {
            result.counts.matched -= 1;
            result.counts.failed += 1;
            result.item(
                hubspot_id,
                "failed",
                manual_links::HELD_UNLINKED.to_owned(),
                vec![local_id],
            );
        } else {
            kept.push(pair);
        }
    }
    Ok(kept)
}

impl Reconciler {
    /// Requests an import of `object`, or finds the unfinished one, and runs it to the end in
    /// this process (the CLI). `Ok(None)` when another runner holds it under a live lease.
    pub async fn import_now(
        &self,
        object: ImportObject,
        dry_run: bool,
        requested_by: &str,
        progress: Option<&ImportProgressFn>,
    ) -> Result<Option<ImportEnd>, StoreError> {
        let import = match imports::request(
            &self.database,
            self.portal_id,
            object,
            dry_run,
            requested_by,
        )
        .await?
        {
            imports::Requested::New(import) => import,
            imports::Requested::Existing(import) if import.dry_run != dry_run => {
                return Err(StoreError::Conflict(format!(
                    "an unfinished {} import of {object} ({}) must end first",
                    if import.dry_run {
                        "dry-run"
                    } else {
                        "repairing"
                    },
                    import.id
                )));
            }
            imports::Requested::Existing(import) => import,
        };
        let Some(claimed) = imports::claim(&self.database, self.portal_id, Some(import.id)).await?
        else {
            return Ok(None);
        };
        Ok(Some(self.run_import(claimed, None, progress).await?))
    }

    /// Runs a claimed import from its cursor until it ends or `budget` runs out.
    pub async fn run_import(
        &self,
        claimed: Import,
        budget: Option<Duration>,
        progress: Option<&ImportProgressFn>,
    ) -> Result<ImportEnd, StoreError> {
        let started = Instant::now();
        let mut import = claimed;
        tracing::info!(import_id = %import.id, object = %import.object, dry_run = import.dry_run,
            after = ?import.after_cursor, "import running");
        if import.total_estimate.is_none()
            && let Some(total) = self.estimate_total(import.object).await
        {
            imports::set_total_estimate(&self.database, &import, total).await?;
            import.total_estimate = Some(total);
        }
        let objects = self.reader.objects(crm_object(import.object));
        let options = list_options(import.object);
        let rule = match import.object {
            ImportObject::Companies => {
                let client = self.database.client().await?;
                company_candidates::rule(&**client, self.portal_id)
                    .await?
                    .rule
            }
            _ => CompanyRule::default(),
        };
        let mut fetched = objects
            .list_page(&options, import.after_cursor.as_deref())
            .await;
        loop {
            let page = match fetched {
                Ok(page) => page,
                Err(error) => return self.stop(import, hubspot_failed(&error, "list")).await,
            };
            let next = page.next_after.clone();
            // The next page is read while this one is stored.
            let (stored, prefetched) = tokio::join!(
                self.store_page(&import, page.results, next.as_deref(), rule),
                async {
                    match &next {
                        Some(after) => Some(objects.list_page(&options, Some(after)).await),
                        None => None,
                    }
                }
            );
            import = match stored {
                Ok(Some(import)) => import,
                Ok(None) => return Ok(ImportEnd::LostLease),
                Err(error) => return self.stop(import, error).await,
            };
            if let Some(progress) = progress {
                progress(&import);
            }
            let Some(prefetched) = prefetched else {
                tracing::info!(import_id = %import.id, status = %import.status, read = import.counts.read,
                    matched = import.counts.matched, linked = import.counts.linked,
                    created = import.counts.created, ambiguous = import.counts.ambiguous,
                    failed = import.counts.failed, "import finished");
                return Ok(ImportEnd::Finished(import));
            };
            if budget.is_some_and(|budget| started.elapsed() >= budget) {
                imports::release(&self.database, &import, None).await?;
                return Ok(ImportEnd::Paused(import));
            }
            fetched = prefetched;
        }
    }

    /// Runs queued and abandoned imports of this portal, one after another, until `budget` is
    /// spent (what the reconciler's frequent job does).
    pub async fn run_due_imports(&self, budget: Duration) -> Result<Vec<ImportEnd>, StoreError> {
        let started = Instant::now();
        let mut ended = Vec::new();
        while let Some(left) = budget.checked_sub(started.elapsed()) {
            let Some(claimed) = imports::claim(&self.database, self.portal_id, None).await? else {
                break;
            };
            let end = self.run_import(claimed, Some(left), None).await?;
            let more = matches!(end, ImportEnd::Finished(_) | ImportEnd::Failed { .. });
            ended.push(end);
            if !more {
                break;
            }
        }
        Ok(ended)
    }

    async fn stop(&self, import: Import, error: PageError) -> Result<ImportEnd, StoreError> {
        match error {
            PageError::Transient(error) if import.attempts + 1 >= GIVE_UP_AFTER => {
                let reason = format!("{error} ({GIVE_UP_AFTER} attempts in a row failed)");
                tracing::error!(import_id = %import.id, %reason, "import failed");
                imports::fail(&self.database, &import, &reason).await?;
                Ok(ImportEnd::Failed { import, reason })
            }
            PageError::Transient(error) => {
                tracing::warn!(import_id = %import.id, %error, "import paused by a failure; the next runner resumes it");
                imports::release(&self.database, &import, Some(&error)).await?;
                Ok(ImportEnd::Released { import, error })
            }
            PageError::Permanent(reason) => {
                tracing::error!(import_id = %import.id, %reason, "import failed");
                imports::fail(&self.database, &import, &reason).await?;
                Ok(ImportEnd::Failed { import, reason })
            }
        }
    }

    /// HubSpot's count of the records (one search call, for progress); `None` when it does
    /// not answer.
    async fn estimate_total(&self, object: ImportObject) -> Option<i64> {
        let request = SearchRequest {
            limit: 1,
            ..SearchRequest::default()
        };
        match self
            .reader
            .objects(crm_object(object))
            .search_page(&request)
            .await
        {
            Ok(page) => i64::try_from(page.total).ok(),
            Err(error) => {
                tracing::info!(%error, "no total for the import's progress");
                None
            }
        }
    }

    /// Stores one page and records it, in one transaction. `Ok(None)`: the lease was lost.
    async fn store_page(
        &self,
        import: &Import,
        records: Vec<HubSpotRecord>,
        next: Option<&str>,
        rule: CompanyRule,
    ) -> Result<Option<Import>, PageError> {
        let mut client = self.database.client().await?;
        let transaction = client.transaction().await?;
        let tx: &Tx<'_> = &transaction;
        let mut result = match import.object {
            ImportObject::Companies => self.companies_page(tx, import, &records, rule).await?,
            ImportObject::Contacts => self.contacts_page(tx, import, &records).await?,
            ImportObject::Deals => self.deals_page(tx, import, &records).await?,
        };
        result.counts.read = records.len() as i64;
        let Some(recorded) =
            imports::record_page(tx, import, &result.counts, next, &result.items).await?
        else {
            return Ok(None);
        };
        transaction.commit().await?;
        if let Some(publisher) = &self.publisher {
            for id in result.outbox_ids {
                publisher.publish(id).await;
            }
        }
        Ok(Some(recorded))
    }

    async fn companies_page(
        &self,
        tx: &Tx<'_>,
        import: &Import,
        records: &[HubSpotRecord],
        rule: CompanyRule,
    ) -> Result<PageResult, PageError> {
        let ids: Vec<String> = records.iter().map(|r| r.id.as_str().to_owned()).collect();
        let linked: HashMap<String, Uuid> = customers::linked_to_companies(tx, &ids)
            .await?
            .into_iter()
            .collect();
        let ban_of = |record: &HubSpotRecord| {
            record
                .property(WARP_BAN_PROPERTY)
                .map(str::trim)
                .filter(|ban| !ban.is_empty())
                .map(|ban| {
                    Ban::parse(ban).map_or_else(|_| ban.to_owned(), |b| b.as_str().to_owned())
                })
        };
        let domain_of =
            |record: &HubSpotRecord| record.property("domain").and_then(normalized_domain);
        let bans: Vec<String> = records.iter().filter_map(ban_of).collect();
        let by_ban = imports::customers_by_ban(tx, &bans).await?;
        let domains: Vec<String> = records
            .iter()
            .filter(|r| ban_of(r).is_none() && !linked.contains_key(r.id.as_str()))
            .filter_map(domain_of)
            .collect();
        let by_domain = imports::customers_by_domain(tx, &domains).await?;

        let mut result = PageResult::default();
        let mut to_link: Vec<(&HubSpotRecord, Uuid)> = Vec::new();
        let mut to_stamp: Vec<(&HubSpotRecord, Uuid)> = Vec::new();
        let decided = decide_page(records, CUSTOMER_NOUNS, |record| Lookups {
            linked_here: linked.get(record.id.as_str()).copied(),
            by_key: ban_of(record).map(|ban| by_ban.get(&ban).cloned()),
            by_secondary: domain_of(record)
                .and_then(|domain| by_domain.get(&domain).cloned())
                .unwrap_or_default(),
        });
        for (record, decided) in records.iter().zip(decided) {
            let id = record.id.as_str();
            match decided {
                Match::Linked(_) => result.counts.matched += 1,
                Match::ByKey(customer) => {
                    result.counts.matched += 1;
                    to_link.push((record, customer));
                }
                Match::BySecondary(customer) => {
                    result.counts.matched += 1;
                    to_stamp.push((record, customer));
                }
                Match::Ambiguous { reason, candidates } => {
                    result.counts.ambiguous += 1;
                    result.item(id, "ambiguous", reason, candidates);
                }
                Match::UnknownKey { reason } => {
                    result.counts.unmatched += 1;
                    result.item(id, "unknown_key", reason, Vec::new());
                }
                Match::Unmatched => {
                    self.company_unmatched(tx, import, record, rule, &mut result)
                        .await?
                }
            }
        }
        if import.dry_run {
            return Ok(result);
        }
        let to_stamp = without_held(
            tx,
            self.portal_id,
            ObjectType::Companies,
            to_stamp,
            |(record, customer)| (*customer, record.id.as_str()),
            &mut result,
        )
        .await?;
        let mut to_link = without_held(
            tx,
            self.portal_id,
            ObjectType::Companies,
            to_link,
            |(record, customer)| (*customer, record.id.as_str()),
            &mut result,
        )
        .await?;
        let stamped = self.stamp_bans(tx, &to_stamp, &mut result).await?;
        to_link.extend(stamped);
        let pairs: Vec<(Uuid, String)> = to_link
            .iter()
            .map(|(record, customer)| (*customer, record.id.as_str().to_owned()))
            .collect();
        let links = sync_reports::link_customers_in(tx, self.portal_id, &pairs).await?;
        result.counts.linked += links.linked.len() as i64;
        result
            .outbox_ids
            .extend(links.linked.iter().map(|(_, _, outbox_id)| *outbox_id));
        for (customer, company, refused) in links.refused {
            result.counts.matched -= 1;
            result.counts.failed += 1;
            result.item(&company, "failed", refused.to_string(), vec![customer]);
        }
        Ok(result)
    }

    /// A company nothing in WARP is: onboarded when the company rule takes it, else a
    /// candidate to adopt.
    async fn company_unmatched(
        &self,
        tx: &Tx<'_>,
        import: &Import,
        record: &HubSpotRecord,
        rule: CompanyRule,
        result: &mut PageResult,
    ) -> Result<(), PageError> {
        let stage = record.property(LIFECYCLE_STAGE);
        if !rule.takes(stage) {
            result.counts.candidates += 1;
            if !import.dry_run {
                company_candidates::note(
                    tx,
                    self.portal_id,
                    record.id.as_str(),
                    record.property("name"),
                    record.property("domain"),
                    stage,
                )
                .await?;
            }
            return Ok(());
        }
        if import.dry_run {
            result.counts.created += 1;
            return Ok(());
        }
        let requested_by = format!("import {}", import.id);
        let started = onboardings::start_for_company(
            tx,
            self.portal_id,
            record.id.as_str(),
            OnboardingSource::Rule,
            Some(&requested_by),
        )
        .await?;
        // An onboarding of the company underway already is its match.
        match started {
            Some(_) => result.counts.created += 1,
            None => result.counts.matched += 1,
        }
        Ok(())
    }

    /// Writes each domain-matched customer's BAN on its company (one batch update); returns
    /// those HubSpot took, and lists the others as failed.
    async fn stamp_bans<'r>(
        &self,
        tx: &Tx<'_>,
        to_stamp: &[(&'r HubSpotRecord, Uuid)],
        result: &mut PageResult,
    ) -> Result<Vec<(&'r HubSpotRecord, Uuid)>, PageError> {
        if to_stamp.is_empty() {
            return Ok(Vec::new());
        }
        let customer_ids: Vec<Uuid> = to_stamp.iter().map(|(_, id)| *id).collect();
        let bans: HashMap<Uuid, String> = customers::load(tx, &customer_ids)
            .await?
            .into_iter()
            .map(|(id, customer)| (id, customer.ban.as_str().to_owned()))
            .collect();
        let inputs: Vec<BatchUpdateInput> = to_stamp
            .iter()
            .filter_map(|(record, customer)| {
                Some(BatchUpdateInput {
                    id: record.id.clone(),
                    properties: BTreeMap::from([(
                        WARP_BAN_PROPERTY.to_owned(),
                        bans.get(customer)?.clone(),
                    )]),
                    object_write_trace_id: None,
                })
            })
            .collect();
        let written = self.hubspot.companies().batch_update(&inputs).await;
        // Only a refusal of the records themselves fails them; anything else (an outage, the
        // daily limit, credentials) stops the page for a retry or fails the import.
        if let Some(failure) = written
            .failed_calls
            .iter()
            .find(|failure| !refuses_records(&failure.error))
        {
            return Err(hubspot_failed(&failure.error, "BAN write"));
        }
        let mut taken: HashSet<String> = written
            .results
            .iter()
            .map(|record| record.id.as_str().to_owned())
            .collect();
        // A batch HubSpot refused as a whole (one company's BAN taken by another company
        // refuses all): each company is written alone, so one refusal fails one company.
        if !written.failed_calls.is_empty() && inputs.len() > 1 {
            let refused: Vec<&BatchUpdateInput> = inputs
                .iter()
                .filter(|i| !taken.contains(i.id.as_str()))
                .collect();
            for input in refused {
                let lookup = warp_hubspot::RecordLookup::Id(input.id.clone());
                match self
                    .hubspot
                    .companies()
                    .update(&lookup, &input.properties)
                    .await
                {
                    Ok(_) => {
                        taken.insert(input.id.as_str().to_owned());
                    }
                    Err(error) if refuses_records(&error) => {}
                    Err(error) => return Err(hubspot_failed(&error, "BAN write")),
                }
            }
        }
        let why_not = written
            .errors
            .first()
            .map(|error| error.message.clone())
            .or_else(|| written.failed_calls.first().map(|f| f.error.to_string()))
            .unwrap_or_else(|| "HubSpot did not write it".to_owned());
        let mut stamped = Vec::new();
        for (record, customer) in to_stamp {
            if taken.contains(record.id.as_str()) {
                stamped.push((*record, *customer));
            } else {
                result.counts.matched -= 1;
                result.counts.failed += 1;
                result.item(
                    record.id.as_str(),
                    "failed",
                    format!("the customer's BAN could not be written on the company: {why_not}"),
                    vec![*customer],
                );
            }
        }
        Ok(stamped)
    }

    async fn contacts_page(
        &self,
        tx: &Tx<'_>,
        import: &Import,
        records: &[HubSpotRecord],
    ) -> Result<PageResult, PageError> {
        let ids: Vec<String> = records.iter().map(|r| r.id.as_str().to_owned()).collect();
        let linked: HashMap<String, Uuid> =
            links::linked_to(tx, self.portal_id, ObjectType::Contacts, &ids)
                .await?
                .into_iter()
                .collect();
        let key_of = |record: &HubSpotRecord| {
            record
                .property(WARP_USER_ID_PROPERTY)
                .map(str::trim)
                .filter(|key| !key.is_empty())
                .map(|key| Uuid::parse_str(key).ok())
        };
        let email_of = |record: &HubSpotRecord| {
            record
                .property("email")
                .map(|email| email.trim().to_lowercase())
                .filter(|email| !email.is_empty())
        };
        let user_ids: Vec<Uuid> = records.iter().filter_map(key_of).flatten().collect();
        let by_id = imports::users_by_id(tx, self.portal_id, &user_ids).await?;
        let emails: Vec<String> = records
            .iter()
            .filter(|r| key_of(r).is_none() && !linked.contains_key(r.id.as_str()))
            .filter_map(email_of)
            .collect();
        let by_email = imports::users_by_email(tx, self.portal_id, &emails).await?;

        let mut result = PageResult::default();
        let mut to_link: Vec<(Uuid, String)> = Vec::new();
        let decided = decide_page(records, USER_NOUNS, |record| Lookups {
            linked_here: linked.get(record.id.as_str()).copied(),
            by_key: key_of(record).map(|key| key.and_then(|key| by_id.get(&key).cloned())),
            by_secondary: email_of(record)
                .and_then(|email| by_email.get(&email).cloned())
                .unwrap_or_default(),
        });
        for (record, decided) in records.iter().zip(decided) {
            let id = record.id.as_str();
            match decided {
                Match::Linked(_) => result.counts.matched += 1,
                Match::ByKey(user) | Match::BySecondary(user) => {
                    result.counts.matched += 1;
                    to_link.push((user, id.to_owned()));
                }
                Match::Ambiguous { reason, candidates } => {
                    result.counts.ambiguous += 1;
                    result.item(id, "ambiguous", reason, candidates);
                }
                Match::UnknownKey { reason } => {
                    result.counts.unmatched += 1;
                    result.item(id, "unknown_key", reason, Vec::new());
                }
                Match::Unmatched => result.counts.unmatched += 1,
            }
        }
        if import.dry_run || to_link.is_empty() {
            return Ok(result);
        }
        let to_link = without_held(
            tx,
            self.portal_id,
            ObjectType::Contacts,
            to_link,
            |(user, contact)| (*user, contact.as_str()),
            &mut result,
        )
        .await?;
        let clashes = links::link(tx, self.portal_id, ObjectType::Contacts, &to_link).await?;
        for (user, contact) in &clashes {
            result.counts.matched -= 1;
            result.counts.failed += 1;
            result.item(
                contact,
                "failed",
                "the contact is linked to another user".to_owned(),
                vec![*user],
            );
        }
        let clashed: HashSet<Uuid> = clashes.iter().map(|(user, _)| *user).collect();
        let linked_now: Vec<(Uuid, String)> = to_link
            .into_iter()
            .filter(|(user, _)| !clashed.contains(user))
            .collect();
        let users: Vec<Uuid> = linked_now.iter().map(|(user, _)| *user).collect();
        let versions = warp_store::users::versions(tx, &users).await?;
        let queued = outbox::enqueue_many(
            tx,
            self.portal_id,
            ObjectType::Contacts,
            OutboxOperation::Resync,
            &versions,
        )
        .await?;
        let queue_of: HashMap<Uuid, i64> = queued.into_iter().collect();
        for (user, contact) in &linked_now {
            inbound::log_inbound(
                tx,
                &InboundLogEntry {
                    portal_id: self.portal_id,
                    object_type: ObjectType::Contacts,
                    local_id: Some(*user),
                    queue_id: queue_of.get(user).copied(),
                    operation: LINK_OPERATION,
                    status: InboundLogStatus::Success,
                    fields: Vec::new(),
                    hubspot_id: Some(contact.clone()),
                    error: None,
                },
            )
            .await?;
        }
        result.counts.linked += linked_now.len() as i64;
        result.outbox_ids.extend(queue_of.values().copied());
        Ok(result)
    }

    async fn deals_page(
        &self,
        tx: &Tx<'_>,
        import: &Import,
        records: &[HubSpotRecord],
    ) -> Result<PageResult, PageError> {
        let mut result = PageResult::default();
        let count = records.len() as i64;
        let new = if import.dry_run {
            let ids: Vec<String> = records.iter().map(|r| r.id.as_str().to_owned()).collect();
            count - warp_store::deals::count_known(tx, self.portal_id, &ids).await?
        } else {
            let made = self
                .inbound
                .import_deals(tx, &self.hubspot, records)
                .await
                .map_err(|error| match error.transient {
                    true => PageError::Transient(error.reason),
                    false => PageError::Permanent(error.reason),
                })?;
            made as i64
        };
        result.counts.created = new;
        result.counts.matched = count - new;
        Ok(result)
    }
}

/// Each record's match (by what `lookups` found for it), settled for the page.
fn decide_page(
    records: &[HubSpotRecord],
    nouns: Nouns,
    lookups: impl Fn(&HubSpotRecord) -> Lookups,
) -> Vec<Match> {
    let decided = records
        .iter()
        .map(|record| {
            let id = record.id.as_str();
            (id.to_owned(), match_record(id, &lookups(record), nouns))
        })
        .collect();
    settle_page(decided, nouns)
        .into_iter()
        .map(|(_, decided)| decided)
        .collect()
}

/// HubSpot refused the records written (a BAN another company holds, a value it rejects), not
/// the call.
fn refuses_records(error: &HubSpotError) -> bool {
    matches!(
        error,
        HubSpotError::Conflict { .. } | HubSpotError::Validation { .. }
    )
}

fn crm_object(object: ImportObject) -> CrmObject {
    match object {
        ImportObject::Companies => CrmObject::Companies,
        ImportObject::Contacts => CrmObject::Contacts,
        ImportObject::Deals => CrmObject::Deals,
    }
}

/// What matching needs of each object type, and nothing more.
fn list_options(object: ImportObject) -> ListOptions {
    let properties: Vec<String> = match object {
        ImportObject::Companies => [WARP_BAN_PROPERTY, "name", "domain", LIFECYCLE_STAGE]
            .map(str::to_owned)
            .to_vec(),
        ImportObject::Contacts => [WARP_USER_ID_PROPERTY, "email"].map(str::to_owned).to_vec(),
        ImportObject::Deals => DEAL_PROPERTIES.iter().map(|p| (*p).to_owned()).collect(),
    };
    ListOptions {
        properties,
        limit: IMPORT_PAGE,
        archived: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_object_lists_what_matching_reads() {
        let companies = list_options(ImportObject::Companies);
        assert!(companies.properties.contains(&WARP_BAN_PROPERTY.to_owned()));
        assert!(companies.properties.contains(&"domain".to_owned()));
        let contacts = list_options(ImportObject::Contacts);
        assert_eq!(contacts.properties, vec![WARP_USER_ID_PROPERTY, "email"]);
        assert_eq!(contacts.limit, 100);
        let deals = list_options(ImportObject::Deals);
        assert!(deals.properties.iter().any(|p| p == "dealstage"));
    }
}
