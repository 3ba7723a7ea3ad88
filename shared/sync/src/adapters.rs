//! The object types the outbound engine pushes (DESIGN §7): one adapter per pair of a WARP
//! entity and a HubSpot object. The engine ([`crate::outbound`]) claims, coalesces, diffs,
//! batches, paces, retries and books the outcome once for all of them; an adapter says only
//! how its records load, which unique property they are upserted by, where their link is
//! kept, and what else HubSpot must be told after a record was written (a contact's company).

use std::collections::{HashMap, HashSet};
use std::future::Future;

use tokio_postgres::GenericClient;
use uuid::Uuid;
use warp_domain::customer::Customer;
use warp_domain::sync::{
    FieldValues, ObjectType, WarpField, customer_field_values, key_property, user_field_values,
};
use warp_hubspot::associations::{AssociationInput, type_ids};
use warp_hubspot::{HubSpotClient, HubSpotId};
use warp_store::StoreError;
use warp_store::{customers, links, manual_links, users};

/// One WARP record as the engine pushes it.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalRecord {
    pub id: Uuid,
    pub version: i64,
    /// Every mapped field of the record, canonical.
    pub values: FieldValues,
    /// The HubSpot record it is linked to, if any.
    pub hubspot_id: Option<String>,
    /// The HubSpot record WARP says is its primary parent (a user's customer's company).
    pub parent_hubspot_id: Option<String>,
    /// The parent, when it differs from the one it was last associated with: the association
    /// to make.
    pub associate_with: Option<String>,
    /// The parent it was last associated with, when WARP has since given it another (a user
    /// moved to another customer): the association to remove once the new one is made.
    pub dissociate_from: Option<String>,
    /// Why it cannot be pushed yet (it is retried later).
    pub waiting_for: Option<&'static str>,
    /// Why it is never pushed (its rows are done without a call).
    pub excluded: Option<&'static str>,
}

impl LocalRecord {
    /// The value of the object type's key field (the BAN, the user id).
    pub fn key(&self, object_type: ObjectType) -> &str {
        self.values
            .get(WarpField::key(object_type))
            .flatten()
            .unwrap_or_default()
    }
}

/// A record's upsert identity: HubSpot finds the record by `property` = `value`, or creates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpsertKey {
    pub property: &'static str,
    pub value: String,
}

/// What the engine needs from one object type.
pub trait ObjectAdapter: Send + Sync {
    fn object_type(&self) -> ObjectType;

    /// These records (absent ids are left out), with their links, in as few queries as can be.
    fn load(
        &self,
        client: &(impl GenericClient + Sync),
        portal_id: i64,
        ids: &[Uuid],
    ) -> impl Future<Output = Result<HashMap<Uuid, LocalRecord>, StoreError>> + Send;

    /// Links records to the HubSpot ids HubSpot answered with; returns the links refused
    /// because another record holds that HubSpot id.
    fn link(
        &self,
        client: &(impl GenericClient + Sync),
        portal_id: i64,
        links: &[(Uuid, String)],
    ) -> impl Future<Output = Result<Vec<(Uuid, String)>, StoreError>> + Send;

    /// How the record is upserted: by the object type's unique key property. `known`: the
    /// values HubSpot is known to hold.
    fn upsert_key(&self, record: &LocalRecord, _known: &FieldValues) -> UpsertKey {
        let object_type = self.object_type();
        UpsertKey {
            property: key_property(object_type),
            value: record.key(object_type).to_owned(),
        }
    }

    /// After HubSpot wrote these records (`(record, HubSpot id)`): anything else HubSpot must
    /// be told. Returns why it failed, per record; a record listed is retried.
    fn after_written(
        &self,
        _hubspot: &HubSpotClient,
        _written: &[(&LocalRecord, &str)],
    ) -> impl Future<Output = (HashMap<Uuid, String>, usize)> + Send {
        async { (HashMap::new(), 0) }
    }

    /// Records what [`ObjectAdapter::after_written`] achieved, in the bookkeeping transaction.
    fn record_after_written(
        &self,
        _client: &(impl GenericClient + Sync),
        _portal_id: i64,
        _done: &[(Uuid, String)],
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async { Ok(()) }
    }
}

/// The links to make of `links`, without those of records a person unlinked meanwhile: a
/// push loaded before the unlink's hold can still land after it, and only a person links a
/// held record again (the HubSpot record it wrote is left for them; the log says so).
async fn unheld(
    client: &(impl GenericClient + Sync),
    portal_id: i64,
    object_type: ObjectType,
    links: &[(Uuid, String)],
) -> Result<Vec<(Uuid, String)>, StoreError> {
    let ids: Vec<Uuid> = links.iter().map(|(id, _)| *id).collect();
    let held = manual_links::held(client, portal_id, object_type, &ids).await?;
    Ok(links
        .iter()
        .filter(|(id, hubspot_id)| {
            let keep = !held.contains(id);
            if !keep {
                tracing::warn!(local_id = %id, hubspot_id, object_type = object_type.as_str(), "a push landed after a person unlinked the record: not linked to what it wrote");
            }
            keep
        })
        .cloned()
        .collect())
}

/// Customers ↔ companies: upserted by `warp_ban`, linked in `customers.external_ids`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Companies;

impl Companies {
    /// A customer as the engine pushes it.
    pub fn record(customer: &Customer) -> LocalRecord {
        LocalRecord {
            id: customer.id,
            version: customer.version,
            values: customer_field_values(customer),
            hubspot_id: customer.external_ids.hubspot_company_id.clone(),
            parent_hubspot_id: None,
            associate_with: None,
            dissociate_from: None,
            waiting_for: None,
            excluded: None,
        }
    }
}

impl ObjectAdapter for Companies {
    fn object_type(&self) -> ObjectType {
        ObjectType::Companies
    }

    async fn load(
        &self,
        client: &(impl GenericClient + Sync),
        portal_id: i64,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, LocalRecord>, StoreError> {
        let held = manual_links::held(client, portal_id, ObjectType::Companies, ids).await?;
        Ok(customers::load(client, ids)
            .await?
            .into_iter()
            .map(|(id, customer)| {
                let record = LocalRecord {
                    excluded: held.contains(&id).then_some(manual_links::HELD_UNLINKED),
                    ..Companies::record(&customer)
                };
                (id, record)
            })
            .collect())
    }

    async fn link(
        &self,
        client: &(impl GenericClient + Sync),
        portal_id: i64,
        links: &[(Uuid, String)],
    ) -> Result<Vec<(Uuid, String)>, StoreError> {
        let links = unheld(client, portal_id, ObjectType::Companies, links).await?;
        customers::link_companies(client, &links).await
    }
}

/// Customers ↔ companies in a portal other than the home one: upserted by `warp_ban` like
/// [`Companies`], but linked in `hubspot_links` under that portal, because the link in
/// `customers.external_ids` is the home portal's and must never take another portal's id.
#[derive(Debug, Clone, Copy, Default)]
pub struct PortalCompanies;

impl ObjectAdapter for PortalCompanies {
    fn object_type(&self) -> ObjectType {
        ObjectType::Companies
    }

    async fn load(
        &self,
        client: &(impl GenericClient + Sync),
        portal_id: i64,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, LocalRecord>, StoreError> {
        let mut links = links::load(client, portal_id, ObjectType::Companies, ids).await?;
        Ok(customers::load(client, ids)
            .await?
            .into_iter()
            .map(|(id, customer)| {
                let record = LocalRecord {
                    hubspot_id: links.remove(&id).map(|link| link.hubspot_id),
                    ..Companies::record(&customer)
                };
                (id, record)
            })
            .collect())
    }

    async fn link(
        &self,
        client: &(impl GenericClient + Sync),
        portal_id: i64,
        new_links: &[(Uuid, String)],
    ) -> Result<Vec<(Uuid, String)>, StoreError> {
        links::link(client, portal_id, ObjectType::Companies, new_links).await
    }
}

/// An object type that is not synced to this portal: its records load as excluded, so their
/// rows are settled without a call (a user's contact belongs in the home portal; what reaches
/// a customer's portal is decided per object type, DESIGN §7).
#[derive(Debug, Clone, Copy)]
pub struct NotSyncedHere<A> {
    pub adapter: A,
    pub why: &'static str,
}

impl<A: ObjectAdapter> ObjectAdapter for NotSyncedHere<A> {
    fn object_type(&self) -> ObjectType {
        self.adapter.object_type()
    }

    async fn load(
        &self,
        client: &(impl GenericClient + Sync),
        portal_id: i64,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, LocalRecord>, StoreError> {
        let mut records = self.adapter.load(client, portal_id, ids).await?;
        for record in records.values_mut() {
            // Nothing is sent, so nothing is waited for either.
            record.waiting_for = None;
            record.excluded = Some(self.why);
        }
        Ok(records)
    }

    async fn link(
        &self,
        _client: &(impl GenericClient + Sync),
        _portal_id: i64,
        _links: &[(Uuid, String)],
    ) -> Result<Vec<(Uuid, String)>, StoreError> {
        Ok(Vec::new())
    }
}

/// Why a user's contact is not pushed to a customer's portal.
pub const CONTACTS_HOME_ONLY: &str = "users are synced as contacts to the home portal only";

/// Users ↔ contacts: upserted by `warp_user_id` (by email at first link, so that a contact
/// sales already created is adopted, not duplicated), linked in `hubspot_links`, and associated
/// with the customer's company as its primary company.
#[derive(Debug, Clone, Copy, Default)]
pub struct Contacts;

/// Why a user's contact waits: its customer has no company in HubSpot yet (the customer's own
/// push links it; the contact follows on its next attempt).
pub const WAITING_FOR_COMPANY: &str = "waiting for the customer's company to be linked in HubSpot";

/// Why a user's contact is never sent again: the person asked HubSpot to delete their data.
pub const PRIVACY_DELETED: &str =
    "privacy deletion in HubSpot: the person's data is not sent to HubSpot again";

impl ObjectAdapter for Contacts {
    fn object_type(&self) -> ObjectType {
        ObjectType::Contacts
    }

    async fn load(
        &self,
        client: &(impl GenericClient + Sync),
        portal_id: i64,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, LocalRecord>, StoreError> {
        let loaded = users::load_for_sync(client, ids).await?;
        let ids: Vec<Uuid> = loaded.keys().copied().collect();
        let mut links = links::load(client, portal_id, ObjectType::Contacts, &ids).await?;
        let forgotten =
            links::privacy_deleted(client, portal_id, ObjectType::Contacts, &ids).await?;
        let held = manual_links::held(client, portal_id, ObjectType::Contacts, &ids).await?;
        Ok(loaded
            .into_iter()
            .map(|(id, found)| {
                let link = links.remove(&id);
                let associated = link.as_ref().and_then(|l| l.parent_hubspot_id.clone());
                let moved = associated != found.company_id;
                let waiting_for = found.company_id.is_none().then_some(WAITING_FOR_COMPANY);
                let record = LocalRecord {
                    id,
                    version: found.user.version,
                    values: user_field_values(&found.user),
                    hubspot_id: link.map(|l| l.hubspot_id),
                    associate_with: found.company_id.clone().filter(|_| moved),
                    dissociate_from: associated.filter(|_| moved && found.company_id.is_some()),
                    parent_hubspot_id: found.company_id,
                    waiting_for,
                    excluded: if forgotten.contains(&id) {
                        Some(PRIVACY_DELETED)
                    } else {
                        held.contains(&id).then_some(manual_links::HELD_UNLINKED)
                    },
                };
                (id, record)
            })
            .collect())
    }

    async fn link(
        &self,
        client: &(impl GenericClient + Sync),
        portal_id: i64,
        new_links: &[(Uuid, String)],
    ) -> Result<Vec<(Uuid, String)>, StoreError> {
        let new_links = unheld(client, portal_id, ObjectType::Contacts, new_links).await?;
        links::link(client, portal_id, ObjectType::Contacts, &new_links).await
    }

    /// By `warp_user_id` once HubSpot is known to hold it; before that (a first push, or a
    /// contact created in HubSpot and linked to an invited user) by email, so the contact with
    /// that address is found, not duplicated.
    fn upsert_key(&self, record: &LocalRecord, known: &FieldValues) -> UpsertKey {
        let key = record.key(ObjectType::Contacts);
        let key_known = known.get(WarpField::UserId) == Some(Some(key));
        match record.values.get(WarpField::Email).flatten() {
            Some(email) if !key_known => UpsertKey {
                property: "email",
                value: email.to_owned(),
            },
            _ => UpsertKey {
                property: key_property(ObjectType::Contacts),
                value: key.to_owned(),
            },
        }
    }

    /// Associates each written contact with its customer's company: primary (type 1) and
    /// unlabeled (279), in one batch call per chunk, only where WARP's company differs from
    /// the one last associated; then, for a user WARP moved to another customer, removes the
    /// association with the old customer's company (one more call, only when there are moves).
    async fn after_written(
        &self,
        hubspot: &HubSpotClient,
        written: &[(&LocalRecord, &str)],
    ) -> (HashMap<Uuid, String>, usize) {
        let (mut failures, mut calls) = associate(hubspot, written).await;
        let moved: Vec<(&LocalRecord, &str)> = written
            .iter()
            .filter(|(record, _)| {
                record.dissociate_from.is_some() && !failures.contains_key(&record.id)
            })
            .copied()
            .collect();
        if !moved.is_empty() {
            let (dissociate_failures, dissociate_calls) = dissociate(hubspot, &moved).await;
            failures.extend(dissociate_failures);
            calls += dissociate_calls;
        }
        (failures, calls)
    }

    async fn record_after_written(
        &self,
        client: &(impl GenericClient + Sync),
        portal_id: i64,
        done: &[(Uuid, String)],
    ) -> Result<(), StoreError> {
        links::set_parents(client, portal_id, ObjectType::Contacts, done).await
    }
}

/// Associates each written contact whose company changed with it: primary (1) and unlabeled
/// (279), one batch call per chunk. Returns why it failed, per user, and the calls made.
async fn associate(
    hubspot: &HubSpotClient,
    written: &[(&LocalRecord, &str)],
) -> (HashMap<Uuid, String>, usize) {
    let mut inputs = Vec::new();
    let mut owners = Vec::new();
    let mut failures = HashMap::new();
    for (record, contact_id) in written {
        let Some(company) = &record.associate_with else {
            continue;
        };
        match (
            HubSpotId::parse(*contact_id),
            HubSpotId::parse(company.as_str()),
        ) {
            (Ok(contact), Ok(company)) => {
                inputs.push(AssociationInput::new(
                    contact,
                    company,
                    &[
                        type_ids::CONTACT_TO_COMPANY_PRIMARY,
                        type_ids::CONTACT_TO_COMPANY,
                    ],
                ));
                owners.push(record.id);
            }
            _ => {
                failures.insert(record.id, "an id HubSpot answered is not numeric".into());
            }
        }
    }
    if inputs.is_empty() {
        return (failures, 0);
    }
    let result = hubspot
        .associations(ObjectType::Contacts, ObjectType::Companies)
        .batch_create(&inputs)
        .await;
    let made: HashSet<(String, String)> = result
        .results
        .iter()
        .map(|pair| (pair.from_object_id.clone(), pair.to_object_id.clone()))
        .collect();
    let why = result
        .failed_calls
        .first()
        .map(|failed| association_failure("company association failed", &failed.error))
        .or_else(|| {
            result
                .errors
                .first()
                .map(|error| format!("company association refused ({})", error.category))
        })
        .unwrap_or_else(|| "company association not confirmed by HubSpot".to_owned());
    for (input, owner) in inputs.iter().zip(owners) {
        let pair = (
            input.from.id.as_str().to_owned(),
            input.to.id.as_str().to_owned(),
        );
        if !made.contains(&pair) {
            failures.insert(owner, why.clone());
        }
    }
    (failures, result.calls)
}

/// Removes the association of each moved user's contact with its old customer's company.
/// Returns why it failed, per user (the push is retried, the association made again and the
/// removal repeated: both are idempotent), and the calls made.
async fn dissociate(
    hubspot: &HubSpotClient,
    moved: &[(&LocalRecord, &str)],
) -> (HashMap<Uuid, String>, usize) {
    let mut pairs = Vec::new();
    let mut owners = Vec::new();
    for (record, contact_id) in moved {
        let Some(old) = &record.dissociate_from else {
            continue;
        };
        if let (Ok(contact), Ok(old)) = (HubSpotId::parse(*contact_id), HubSpotId::parse(old)) {
            pairs.push((contact, old));
            owners.push(record.id);
        }
    }
    if pairs.is_empty() {
        return (HashMap::new(), 0);
    }
    let result = hubspot
        .associations(ObjectType::Contacts, ObjectType::Companies)
        .batch_archive(&pairs)
        .await;
    let mut failures = HashMap::new();
    for failed in &result.failed_calls {
        let why = association_failure("removing the old company association failed", &failed.error);
        for owner in &owners[failed.inputs.clone()] {
            failures.insert(*owner, why.clone());
        }
    }
    (failures, result.calls)
}

/// Kind, status and category only: HubSpot's message may quote values.
fn association_failure(what: &str, error: &warp_hubspot::HubSpotError) -> String {
    format!("{what}: {}", crate::outbound::describe_call_error(error))
}
