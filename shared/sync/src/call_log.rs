//! Logging finished calls in HubSpot (issue 21): each call taken in by `POST /v1/calls` is
//! written as a call engagement on the contact its other party's number finds (with a note for
//! its summary), in the customer's own connected portal, or in the home portal when
//! `CALLS_DEFAULT_PORTAL=home` and the customer has none.
//!
//! A call is written once and never diffed, so it does not go through the field-state engine:
//! its row in `calls` is its own work item. Upserts by `warp_call_id` (unique in HubSpot) make
//! a retried pass harmless; a portal that needs reconnecting keeps its calls waiting.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use warp_domain::call::number_variants;
use warp_domain::customer::Phone;
use warp_hubspot::{
    AssociationInput, BatchUpsertInput, CrmObject, Filter, FilterGroup, HubSpotClient,
    HubSpotError, HubSpotId, SearchRequest, Sort, WARP_CALL_ID_PROPERTY, WARP_EVENT_ID_PROPERTY,
    type_ids,
};
use warp_store::calls::{self, DueCall};
use warp_store::work_items::{Settlement, WorkTable};
use warp_store::{Database, StoreError};

use crate::outbound::{Answer, answers_by_input};
use crate::portals::InstalledPortals;
use crate::work_items::{RetryPolicy, Settler, WriteReport, associations_failed, passes_of_within};

/// How long a found number's contact is remembered (a person adding a number shows within it).
const FOUND_FOR: Duration = Duration::from_secs(300);
/// How long a number no contact has is remembered.
const NOT_FOUND_FOR: Duration = Duration::from_secs(60);
/// Numbers remembered per process before the memory starts afresh.
const CACHE_LIMIT: usize = 10_000;
/// Calls one pass claims: many write batches, so the calls of numbers already found are
/// written while the others' numbers are searched (searches have their own, slower budget).
pub const CALL_PASS: usize = 2_000;
/// Calls one write carries (HubSpot's batch limit).
const WRITE_BATCH: usize = 100;
/// Numbers one pass searches at most (at 5 a second, about 40 s, well inside the lease); the
/// calls of further numbers wait for the next pass.
const SEARCHES_PER_PASS: usize = 200;
/// How long a portal's client is kept before it is built again (a changed budget applies).
const CLIENT_MAX_AGE: Duration = Duration::from_secs(300);

/// How calls are logged; see the module.
#[derive(Clone, Copy, Debug)]
pub struct CallLogSettings {
    /// A customer without a connected portal has its calls logged in the home portal
    /// (`CALLS_DEFAULT_PORTAL=home`); otherwise they are skipped.
    pub home_for_unconnected: bool,
    /// How long a pass holds the calls it claimed.
    pub lease: Duration,
    /// How a call that failed is tried again.
    pub retry: RetryPolicy,
}

impl Default for CallLogSettings {
    fn default() -> Self {
        Self {
            home_for_unconnected: false,
            lease: Duration::from_secs(120),
            retry: RetryPolicy::default(),
        }
    }
}

/// What logging passes did.
pub type CallLogReport = WriteReport;

/// A contact found by number, and the company its call is associated with.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FoundContact {
    id: String,
    company_id: Option<String>,
}

/// A contact remembered for its number; its own company once read (`None`: not read yet, as
/// a call whose company WARP knows does not need it).
#[derive(Clone, Debug, PartialEq, Eq)]
struct RememberedContact {
    id: String,
    company: Option<Option<String>>,
}

/// A call's contact as found (from memory or a search), before its company is known.
#[derive(Clone, Debug)]
struct LookedUp {
    key: (i64, String),
    contact: RememberedContact,
    /// The customer's company in the home portal, when the call goes there.
    known_company: Option<String>,
}

/// Each (portal, number) looked up: the contact found, if any, and when.
type ContactMemory = HashMap<(i64, String), (Option<RememberedContact>, Instant)>;

/// Where a call goes, or why it does not now.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    Portal {
        portal_id: i64,
        /// The company to associate, when known without asking HubSpot (the home portal's
        /// company of the customer).
        company_id: Option<String>,
    },
    Wait(String),
    Skip(String),
}

/// Logs due calls. Build it once per process.
pub struct CallLogger {
    database: Database,
    home: HubSpotClient,
    home_portal_id: i64,
    installed: Option<InstalledPortals>,
    settings: CallLogSettings,
    clients: tokio::sync::Mutex<HashMap<i64, (HubSpotClient, Instant)>>,
    contacts: Mutex<ContactMemory>,
}

impl std::fmt::Debug for CallLogger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallLogger")
            .field("home_portal_id", &self.home_portal_id)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl CallLogger {
    pub fn new(
        database: Database,
        home: HubSpotClient,
        home_portal_id: i64,
        installed: Option<InstalledPortals>,
        settings: CallLogSettings,
    ) -> Self {
        Self {
            database,
            home,
            home_portal_id,
            installed,
            settings,
            clients: tokio::sync::Mutex::new(HashMap::new()),
            contacts: Mutex::new(HashMap::new()),
        }
    }

    /// Logs due calls in passes of [`CALL_PASS`] until none is due, `limit` are logged or
    /// `budget` is spent (the frequent job's share).
    pub async fn log_due_within(
        &self,
        limit: usize,
        budget: Duration,
    ) -> Result<CallLogReport, StoreError> {
        passes_of_within(CALL_PASS, limit, budget, |n| self.log_due(n)).await
    }

    /// Logs up to `limit` due calls.
    pub async fn log_due(&self, limit: usize) -> Result<CallLogReport, StoreError> {
        let due = calls::claim_due(&self.database, limit, self.settings.lease).await?;
        let mut report = CallLogReport {
            claimed: due.len(),
            ..CallLogReport::default()
        };
        let mut by_portal: BTreeMap<i64, Vec<(DueCall, Option<String>)>> = BTreeMap::new();
        for call in due {
            match target(
                &call,
                self.home_portal_id,
                self.settings.home_for_unconnected,
            ) {
                Target::Portal {
                    portal_id,
                    company_id,
                } => by_portal
                    .entry(portal_id)
                    .or_default()
                    .push((call, company_id)),
                Target::Wait(reason) => {
                    self.wait(&call, reason, &mut report).await?;
                }
                Target::Skip(reason) => {
                    let settlement = Settlement::Skipped {
                        portal_id: None,
                        reason,
                    };
                    self.settle(&call, settlement, &mut report).await?;
                }
            }
        }
        // The pass's searches, across its portals, so it ends well inside its lease.
        let mut searches_left = SEARCHES_PER_PASS;
        for (portal_id, calls) in by_portal {
            self.log_in_portal(portal_id, calls, &mut searches_left, &mut report)
                .await?;
        }
        if report.claimed > 0 {
            tracing::info!(?report, "calls logged");
        }
        Ok(report)
    }

    async fn log_in_portal(
        &self,
        portal_id: i64,
        due: Vec<(DueCall, Option<String>)>,
        searches_left: &mut usize,
        report: &mut CallLogReport,
    ) -> Result<(), StoreError> {
        let hubspot = match self.client(portal_id).await {
            Ok(hubspot) => hubspot,
            Err(reason) => {
                for (call, _) in &due {
                    self.retry(call, &reason, report).await?;
                }
                return Ok(());
            }
        };
        // Contacts are looked up (searched at 5 a second) while the calls already matched are
        // written (at the portal's other budget), in batches of 100.
        let (matched, mut to_write) = tokio::sync::mpsc::unbounded_channel();
        let lookup = async {
            let mut looked_report = CallLogReport::default();
            self.look_up(
                &hubspot,
                portal_id,
                due,
                &matched,
                searches_left,
                &mut looked_report,
            )
            .await?;
            drop(matched);
            Ok::<_, StoreError>(looked_report)
        };
        let write = async {
            let mut written_report = CallLogReport::default();
            let mut ready = Vec::new();
            loop {
                let next = to_write.recv().await;
                let done = next.is_none();
                ready.extend(next);
                if ready.len() >= WRITE_BATCH || (done && !ready.is_empty()) {
                    let batch = std::mem::take(&mut ready);
                    self.write_batch(&hubspot, portal_id, batch, &mut written_report)
                        .await?;
                }
                if done {
                    return Ok::<_, StoreError>(written_report);
                }
            }
        };
        let (looked_report, written_report) = tokio::try_join!(lookup, write)?;
        report.absorb(looked_report);
        report.absorb(written_report);
        Ok(())
    }

    /// Finds each call's contact and sends the call on to be written: first the calls whose
    /// number is remembered, then one number at a time, each searched once with all its calls
    /// released together (so writing starts long before every number is searched). A pass
    /// searches at most [`SEARCHES_PER_PASS`] numbers across its portals (`searches_left`);
    /// the calls of the others are left for the next pass, attempts not counted.
    async fn look_up(
        &self,
        hubspot: &HubSpotClient,
        portal_id: i64,
        due: Vec<(DueCall, Option<String>)>,
        matched: &tokio::sync::mpsc::UnboundedSender<(DueCall, LookedUp)>,
        searches_left: &mut usize,
        report: &mut CallLogReport,
    ) -> Result<(), StoreError> {
        let mut by_number: BTreeMap<String, Vec<(DueCall, Option<String>)>> = BTreeMap::new();
        for (call, home_company) in due {
            // Checked when taken in and by the table; kept from panicking all the same.
            let Ok(number) = Phone::parse(other_party(&call)) else {
                let settlement = Settlement::Failed {
                    portal_id: Some(portal_id),
                    reason: "the stored number of the other party is not E.164".to_owned(),
                };
                self.settle(&call, settlement, report).await?;
                continue;
            };
            by_number
                .entry(number.as_str().to_owned())
                .or_default()
                .push((call, home_company));
        }
        let (remembered, to_search): (Vec<_>, Vec<_>) = by_number
            .into_iter()
            .partition(|(number, _)| self.remembered(&(portal_id, number.clone())).is_some());
        for (number, calls) in remembered.into_iter().chain(to_search) {
            let key = (portal_id, number);
            let Ok(phone) = Phone::parse(&key.1) else {
                continue;
            };
            if self.remembered(&key).is_none() {
                if *searches_left == 0 {
                    for (call, _) in &calls {
                        let settlement = Settlement::Later {
                            reason: "its number is searched in a later pass".to_owned(),
                            retry_at: chrono::Utc::now(),
                            counts_as_attempt: false,
                        };
                        self.settle(call, settlement, report).await?;
                    }
                    continue;
                }
                *searches_left -= 1;
            }
            match self.contact_of(hubspot, &key, &phone, report).await {
                Ok(Some(contact)) => {
                    for (call, home_company) in calls {
                        let looked_up = LookedUp {
                            key: key.clone(),
                            contact: contact.clone(),
                            known_company: home_company,
                        };
                        // The writer only stops once this sender is dropped.
                        let _ = matched.send((call, looked_up));
                    }
                }
                Ok(None) => {
                    for (call, _) in &calls {
                        let settlement = Settlement::Skipped {
                            portal_id: Some(portal_id),
                            reason: format!("no HubSpot contact has the number {phone}"),
                        };
                        self.settle(call, settlement, report).await?;
                    }
                }
                Err(error) => {
                    for (call, _) in &calls {
                        self.after_error(call, &error, report).await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes up to 100 calls whose contact was found: the engagements, their associations
    /// and the notes of their summaries.
    async fn write_batch(
        &self,
        hubspot: &HubSpotClient,
        portal_id: i64,
        looked_up: Vec<(DueCall, LookedUp)>,
        report: &mut CallLogReport,
    ) -> Result<(), StoreError> {
        let found = match self.with_companies(hubspot, looked_up).await {
            Ok(found) => found,
            Err((waiting, error)) => {
                for call in waiting {
                    self.after_error(&call, &error, report).await?;
                }
                return Ok(());
            }
        };
        if found.is_empty() {
            return Ok(());
        }
        let inputs: Vec<BatchUpsertInput> = found
            .iter()
            .map(|(call, _)| {
                BatchUpsertInput::new(
                    WARP_CALL_ID_PROPERTY,
                    call.call_id.clone(),
                    call_properties(call),
                )
            })
            .collect();
        let written = hubspot
            .objects(CrmObject::Calls)
            .batch_upsert(&inputs)
            .await;
        let answers = answers_by_input(&inputs, &written);
        let mut logged: Vec<(&DueCall, &FoundContact, HubSpotId)> = Vec::new();
        for ((call, contact), answer) in found.iter().zip(answers) {
            match answer {
                Answer::Accepted { hubspot_id, .. } => match HubSpotId::parse(hubspot_id) {
                    Ok(id) => logged.push((call, contact, id)),
                    Err(_) => {
                        self.retry(call, "HubSpot answered no call id", report)
                            .await?
                    }
                },
                Answer::Refused {
                    error,
                    permanent: true,
                } => {
                    let settlement = Settlement::Failed {
                        portal_id: Some(portal_id),
                        reason: error,
                    };
                    self.settle(call, settlement, report).await?;
                }
                Answer::Refused { error, .. } => self.retry(call, &error, report).await?,
                Answer::Waiting { reason } => self.wait(call, reason, report).await?,
            }
        }
        self.associate_and_note(hubspot, portal_id, logged, report)
            .await
    }

    /// Associates each written call with its contact and company, writes the notes of the
    /// summaries, and records each call's outcome.
    async fn associate_and_note(
        &self,
        hubspot: &HubSpotClient,
        portal_id: i64,
        logged: Vec<(&DueCall, &FoundContact, HubSpotId)>,
        report: &mut CallLogReport,
    ) -> Result<(), StoreError> {
        let mut to_contacts = Vec::new();
        let mut to_companies = Vec::new();
        for (_, contact, call_id) in &logged {
            if let Ok(contact) = HubSpotId::parse(contact.id.clone()) {
                to_contacts.push(AssociationInput::new(
                    call_id.clone(),
                    contact,
                    &[type_ids::CALL_TO_CONTACT],
                ));
            }
            if let Some(company) = contact
                .company_id
                .as_ref()
                .and_then(|c| HubSpotId::parse(c.clone()).ok())
            {
                to_companies.push(AssociationInput::new(
                    call_id.clone(),
                    company,
                    &[type_ids::CALL_TO_COMPANY],
                ));
            }
        }
        let contact_links = hubspot
            .associations(CrmObject::Calls, CrmObject::Contacts)
            .batch_create(&to_contacts)
            .await;
        let company_links = hubspot
            .associations(CrmObject::Calls, CrmObject::Companies)
            .batch_create(&to_companies)
            .await;
        // An association left undone is made by the retry (the call itself is not written twice).
        let association_error = associations_failed(&[&contact_links, &company_links]);
        if association_error.is_some() {
            // A contact merged or deleted since its number was remembered: search again.
            self.forget(portal_id);
        }
        let notes = self.write_notes(hubspot, &logged).await;
        for (call, contact, engagement) in &logged {
            if let Some(error) = &association_error {
                self.retry(call, &format!("associating the call: {error}"), report)
                    .await?;
                continue;
            }
            let note_id = match notes.get(call.call_id.as_str()) {
                Some(Ok(note)) => note.clone(),
                Some(Err(error)) => {
                    self.retry(
                        call,
                        &format!("writing the summary's note: {error}"),
                        report,
                    )
                    .await?;
                    continue;
                }
                None => None,
            };
            let settlement = Settlement::Written {
                portal_id,
                ids: vec![
                    Some(contact.id.clone()),
                    Some(engagement.as_str().to_owned()),
                    note_id,
                ],
            };
            self.settle(call, settlement, report).await?;
        }
        Ok(())
    }

    /// The note of each summary, by call id: upserted by its own `warp_event_id`, associated
    /// with the contact and its company.
    async fn write_notes(
        &self,
        hubspot: &HubSpotClient,
        logged: &[(&DueCall, &FoundContact, HubSpotId)],
    ) -> HashMap<String, Result<Option<String>, String>> {
        let with_summary: Vec<&(&DueCall, &FoundContact, HubSpotId)> = logged
            .iter()
            .filter(|(call, _, _)| call.summary.is_some())
            .collect();
        let mut outcome: HashMap<String, Result<Option<String>, String>> = HashMap::new();
        if with_summary.is_empty() {
            return outcome;
        }
        let inputs: Vec<BatchUpsertInput> = with_summary
            .iter()
            .map(|(call, _, _)| {
                BatchUpsertInput::new(
                    WARP_EVENT_ID_PROPERTY,
                    summary_note_id(call),
                    note_properties(call),
                )
            })
            .collect();
        let written = hubspot
            .objects(CrmObject::Notes)
            .batch_upsert(&inputs)
            .await;
        let answers = answers_by_input(&inputs, &written);
        let mut to_contacts = Vec::new();
        let mut to_companies = Vec::new();
        for ((call, contact, _), answer) in with_summary.iter().zip(answers) {
            let result = match answer {
                Answer::Accepted { hubspot_id, .. } => {
                    if let (Ok(note), Ok(to)) = (
                        HubSpotId::parse(hubspot_id.clone()),
                        HubSpotId::parse(contact.id.clone()),
                    ) {
                        to_contacts.push(AssociationInput::new(
                            note.clone(),
                            to,
                            &[type_ids::NOTE_TO_CONTACT],
                        ));
                        if let Some(company) = contact
                            .company_id
                            .as_ref()
                            .and_then(|c| HubSpotId::parse(c.clone()).ok())
                        {
                            to_companies.push(AssociationInput::new(
                                note,
                                company,
                                &[type_ids::NOTE_TO_COMPANY],
                            ));
                        }
                    }
                    Ok(Some(hubspot_id))
                }
                Answer::Refused { error, .. } => Err(error),
                Answer::Waiting { reason } => Err(reason),
            };
            outcome.insert(call.call_id.clone(), result);
        }
        let contact_links = hubspot
            .associations(CrmObject::Notes, CrmObject::Contacts)
            .batch_create(&to_contacts)
            .await;
        let company_links = hubspot
            .associations(CrmObject::Notes, CrmObject::Companies)
            .batch_create(&to_companies)
            .await;
        if let Some(error) = associations_failed(&[&contact_links, &company_links]) {
            for result in outcome.values_mut() {
                if result.is_ok() {
                    *result = Err(format!("associating the note: {error}"));
                }
            }
        }
        outcome
    }

    /// The contact `number` finds in `key`'s portal: from memory, else one search of `phone`
    /// and `mobilephone` in every way it may have been typed (the oldest contact when several).
    async fn contact_of(
        &self,
        hubspot: &HubSpotClient,
        key: &(i64, String),
        number: &Phone,
        report: &mut CallLogReport,
    ) -> Result<Option<RememberedContact>, HubSpotError> {
        match self.remembered(key) {
            Some(remembered) => Ok(remembered),
            None => {
                let searched = self.search_contact(hubspot, number, report).await?;
                self.remember(key.clone(), searched.clone());
                Ok(searched)
            }
        }
    }

    /// The company each call is associated with: the customer's (at home), else its contact's
    /// own primary company, read for every contact not read before in one batch read per 100
    /// and remembered with the contact. On failure, the calls and HubSpot's error.
    async fn with_companies(
        &self,
        hubspot: &HubSpotClient,
        looked_up: Vec<(DueCall, LookedUp)>,
    ) -> Result<Vec<(DueCall, FoundContact)>, (Vec<DueCall>, HubSpotError)> {
        let unread: Vec<String> = looked_up
            .iter()
            .filter(|(_, l)| l.known_company.is_none() && l.contact.company.is_none())
            .map(|(_, l)| l.contact.id.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let read = if unread.is_empty() {
            HashMap::new()
        } else {
            match primary_companies(hubspot, &unread).await {
                Ok(read) => read,
                Err(error) => {
                    return Err((looked_up.into_iter().map(|(call, _)| call).collect(), error));
                }
            }
        };
        Ok(looked_up
            .into_iter()
            .map(|(call, looked_up)| {
                let LookedUp {
                    key,
                    contact,
                    known_company,
                } = looked_up;
                let company_id = match (known_company, contact.company) {
                    (Some(company), _) => Some(company),
                    (None, Some(company)) => company,
                    (None, None) => {
                        let company = read.get(&contact.id).cloned().flatten();
                        self.remember_company(&key, company.clone());
                        company
                    }
                };
                let found = FoundContact {
                    id: contact.id,
                    company_id,
                };
                (call, found)
            })
            .collect())
    }

    async fn search_contact(
        &self,
        hubspot: &HubSpotClient,
        number: &Phone,
        report: &mut CallLogReport,
    ) -> Result<Option<RememberedContact>, HubSpotError> {
        report.searches += 1;
        let variants = number_variants(number);
        let request = SearchRequest {
            filter_groups: ["phone", "mobilephone"]
                .into_iter()
                .map(|property| FilterGroup {
                    filters: vec![Filter::in_values(property, variants.clone())],
                })
                .collect(),
            sorts: vec![Sort::ascending("createdate")],
            properties: vec!["phone".to_owned(), "mobilephone".to_owned()],
            limit: 1,
            ..SearchRequest::default()
        };
        let page = hubspot
            .objects(CrmObject::Contacts)
            .search_page(&request)
            .await?;
        Ok(page.results.first().map(|contact| RememberedContact {
            id: contact.id.as_str().to_owned(),
            company: None,
        }))
    }

    fn remembered(&self, key: &(i64, String)) -> Option<Option<RememberedContact>> {
        let contacts = self.contacts.lock().unwrap_or_else(|e| e.into_inner());
        let (found, at) = contacts.get(key)?;
        let keep = if found.is_some() {
            FOUND_FOR
        } else {
            NOT_FOUND_FOR
        };
        (at.elapsed() < keep).then(|| found.clone())
    }

    /// Forgets every number remembered for `portal_id`.
    fn forget(&self, portal_id: i64) {
        let mut contacts = self.contacts.lock().unwrap_or_else(|e| e.into_inner());
        contacts.retain(|(portal, _), _| *portal != portal_id);
    }

    /// Adds the company read for a remembered contact, keeping when it was found.
    fn remember_company(&self, key: &(i64, String), company: Option<String>) {
        let mut contacts = self.contacts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((Some(contact), _)) = contacts.get_mut(key) {
            contact.company = Some(company);
        }
    }

    fn remember(&self, key: (i64, String), found: Option<RememberedContact>) {
        let mut contacts = self.contacts.lock().unwrap_or_else(|e| e.into_inner());
        if contacts.len() >= CACHE_LIMIT {
            contacts.clear();
        }
        contacts.insert(key, (found, Instant::now()));
    }

    /// The client of `portal_id`: the home client, or the customer installation's.
    async fn client(&self, portal_id: i64) -> Result<HubSpotClient, String> {
        if portal_id == self.home_portal_id {
            return Ok(self.home.clone());
        }
        let Some(installed) = &self.installed else {
            return Err(format!(
                "portal {portal_id} is a customer's, but WARP's HubSpot app is not configured"
            ));
        };
        let mut clients = self.clients.lock().await;
        if let Some((client, built)) = clients.get(&portal_id)
            && built.elapsed() < CLIENT_MAX_AGE
        {
            return Ok(client.clone());
        }
        let client = installed
            .client(&self.database, portal_id)
            .await
            .map_err(|error| format!("the portal's client: {error}"))?;
        clients.insert(portal_id, (client.clone(), Instant::now()));
        Ok(client)
    }

    fn settler(&self) -> Settler<'_> {
        Settler {
            database: &self.database,
            table: WorkTable::Calls,
            retry: self.settings.retry,
        }
    }

    async fn after_error(
        &self,
        call: &DueCall,
        error: &HubSpotError,
        report: &mut CallLogReport,
    ) -> Result<(), StoreError> {
        self.settler()
            .after_error(call.id, call.attempts, error, report)
            .await
    }

    async fn wait(
        &self,
        call: &DueCall,
        reason: String,
        report: &mut CallLogReport,
    ) -> Result<(), StoreError> {
        self.settler().wait(call.id, reason, report).await
    }

    async fn retry(
        &self,
        call: &DueCall,
        reason: &str,
        report: &mut CallLogReport,
    ) -> Result<(), StoreError> {
        self.settler()
            .retry(call.id, call.attempts, reason, report)
            .await
    }

    async fn settle(
        &self,
        call: &DueCall,
        settlement: Settlement,
        report: &mut CallLogReport,
    ) -> Result<(), StoreError> {
        self.settler().settle(call.id, settlement, report).await
    }
}

/// Each contact's primary company, else the lowest id among its companies (a stable choice),
/// `None` for a contact without one; read in batches of 100.
async fn primary_companies(
    hubspot: &HubSpotClient,
    contacts: &[String],
) -> Result<HashMap<String, Option<String>>, HubSpotError> {
    let ids: Vec<HubSpotId> = contacts
        .iter()
        .filter_map(|id| HubSpotId::parse(id.clone()).ok())
        .collect();
    let companies = hubspot
        .associations(CrmObject::Contacts, CrmObject::Companies)
        .batch_read(&ids)
        .await;
    if let Some(failed) = companies.failed_calls.into_iter().next() {
        return Err(failed.error);
    }
    let mut read: HashMap<String, Option<String>> =
        contacts.iter().map(|id| (id.clone(), None)).collect();
    for links in &companies.results {
        read.insert(
            links.from.id.as_str().to_owned(),
            links
                .primary_or_lowest(type_ids::CONTACT_TO_COMPANY_PRIMARY)
                .map(str::to_owned),
        );
    }
    Ok(read)
}

/// Where `call` is logged: its customer's own portal while connected (waiting while it is
/// not), else the home portal when allowed, else nowhere.
fn target(call: &DueCall, home_portal_id: i64, home_for_unconnected: bool) -> Target {
    match &call.customer_portal {
        Some((portal_id, status)) if status == "active" => Target::Portal {
            portal_id: *portal_id,
            company_id: None,
        },
        Some((portal_id, status)) => Target::Wait(format!(
            "waiting: the customer's HubSpot portal {portal_id} is {}",
            if status == "revoked" {
                "disconnected; the call is logged once it is connected again"
            } else {
                "waiting to be reconnected"
            }
        )),
        None if home_for_unconnected => Target::Portal {
            portal_id: home_portal_id,
            company_id: call.home_company_id.clone(),
        },
        None => Target::Skip(
            "the customer has no connected HubSpot portal (CALLS_DEFAULT_PORTAL=home logs such calls in WARP's own)"
                .to_owned(),
        ),
    }
}

/// The number of the party outside the platform, as stored.
fn other_party(call: &DueCall) -> &str {
    if call.direction == "INBOUND" {
        &call.from_number
    } else {
        &call.to_number
    }
}

/// The `warp_event_id` of a call's summary note.
fn summary_note_id(call: &DueCall) -> String {
    format!("call-summary:{}", call.call_id)
}

/// A call engagement's properties (PLATFORM-2026.md, "Engagements").
fn call_properties(call: &DueCall) -> BTreeMap<String, String> {
    let other = other_party(call);
    let title = if call.direction == "INBOUND" {
        format!("Call from {other}")
    } else {
        format!("Call to {other}")
    };
    let seconds = call.duration_ms / 1000;
    let body = format!(
        "{} call, {}: {} min {} s.",
        call.direction.to_lowercase(),
        call.outcome.to_lowercase().replace('_', " "),
        seconds / 60,
        seconds % 60
    );
    let mut properties = BTreeMap::from([
        (
            "hs_timestamp".to_owned(),
            call.started_at.timestamp_millis().to_string(),
        ),
        ("hs_call_title".to_owned(), title),
        ("hs_call_body".to_owned(), body),
        ("hs_call_direction".to_owned(), call.direction.clone()),
        ("hs_call_duration".to_owned(), call.duration_ms.to_string()),
        ("hs_call_from_number".to_owned(), call.from_number.clone()),
        ("hs_call_to_number".to_owned(), call.to_number.clone()),
        ("hs_call_status".to_owned(), call.outcome.clone()),
    ]);
    if let Some(url) = &call.recording_url {
        properties.insert("hs_call_recording_url".to_owned(), url.clone());
    }
    properties
}

/// A summary note's properties: the summary as text (HubSpot's note body is HTML).
fn note_properties(call: &DueCall) -> BTreeMap<String, String> {
    let summary = call.summary.as_deref().unwrap_or_default();
    BTreeMap::from([
        (
            "hs_timestamp".to_owned(),
            call.started_at.timestamp_millis().to_string(),
        ),
        (
            "hs_note_body".to_owned(),
            format!(
                "<p><strong>Call summary</strong> ({})</p><p>{}</p>",
                warp_domain::html::escape(&call.call_id),
                warp_domain::html::escape_lines(summary)
            ),
        ),
    ])
}

/// Logs due calls every `interval` until `shutdown` completes (`warp dev`; in AWS the
/// reconciler's frequent job runs them).
pub async fn run_call_log_loop(
    logger: std::sync::Arc<CallLogger>,
    interval: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    crate::passes::run_passes("calls", interval, shutdown, || async {
        logger
            .log_due(CALL_PASS)
            .await
            .map(|report| report.claimed == CALL_PASS)
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn due(direction: &str, portal: Option<(i64, &str)>) -> DueCall {
        DueCall {
            id: uuid::Uuid::nil(),
            call_id: "c-1".to_owned(),
            customer_id: uuid::Uuid::nil(),
            direction: direction.to_owned(),
            from_number: "+14155550100".to_owned(),
            to_number: "+13035551234".to_owned(),
            started_at: Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap(),
            duration_ms: 65_000,
            outcome: "NO_ANSWER".to_owned(),
            recording_url: None,
            summary: Some("a <b> & \"c\"\nnext".to_owned()),
            attempts: 1,
            home_company_id: Some("301".to_owned()),
            customer_portal: portal.map(|(id, status)| (id, status.to_owned())),
        }
    }

    #[test]
    fn a_call_goes_to_its_customers_portal_waits_while_it_is_away_else_home_or_nowhere() {
        let active = target(&due("OUTBOUND", Some((77, "active"))), 1, true);
        assert_eq!(
            active,
            Target::Portal {
                portal_id: 77,
                company_id: None
            }
        );
        for status in ["needs_reconnect", "revoked"] {
            assert!(matches!(
                target(&due("OUTBOUND", Some((77, status))), 1, true),
                Target::Wait(_)
            ));
        }
        let home = target(&due("OUTBOUND", None), 1, true);
        assert_eq!(
            home,
            Target::Portal {
                portal_id: 1,
                company_id: Some("301".to_owned())
            }
        );
        assert!(matches!(
            target(&due("OUTBOUND", None), 1, false),
            Target::Skip(_)
        ));
    }

    #[test]
    fn the_engagement_says_who_was_called_how_long_and_how_it_ended() {
        let properties = call_properties(&due("OUTBOUND", None));
        assert_eq!(properties["hs_call_title"], "Call to +13035551234");
        assert_eq!(
            properties["hs_call_body"],
            "outbound call, no answer: 1 min 5 s."
        );
        assert_eq!(properties["hs_call_duration"], "65000");
        assert_eq!(properties["hs_timestamp"], "1796378400000");
        assert!(!properties.contains_key("hs_call_recording_url"));
        let inbound = call_properties(&due("INBOUND", None));
        assert_eq!(inbound["hs_call_title"], "Call from +14155550100");
    }

    #[test]
    fn a_summary_is_escaped_into_its_note() {
        let note = note_properties(&due("OUTBOUND", None));
        assert_eq!(
            note["hs_note_body"],
            "<p><strong>Call summary</strong> (c-1)</p><p>a &lt;b&gt; &amp; &quot;c&quot;<br>next</p>"
        );
    }
}
