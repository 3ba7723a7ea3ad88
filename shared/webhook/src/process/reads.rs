//! What a claim's events need from HubSpot, read before any WARP record is locked: a read can
//! wait on the shared rate budget and retry for seconds, and customers or users locked
//! meanwhile would hold up the API's writes to them. Companies: the creations of companies no
//! customer is linked to yet, and merge survivors. Contacts: the creations and restores of
//! contacts no user is linked to, and the companies created contacts are associated with.
//! Each kind costs one batch call per hundred ids, not one per event.

use std::collections::HashMap;

use warp_domain::sync::{EventKind, ObjectType, WebhookEvent};
use warp_hubspot::associations::type_ids;
use warp_hubspot::{HubSpotClient, HubSpotId, HubSpotRecord, ReadOptions};
use warp_store::{inbound, links};

use super::{HandleError, InboundProcessor, ProcessError, Tx};

/// The reads of one claim, by HubSpot id.
#[derive(Default)]
pub(super) struct HubSpotReads {
    companies: HashMap<i64, Result<Option<HubSpotRecord>, HandleError>>,
    contacts: HashMap<i64, Result<Option<HubSpotRecord>, HandleError>>,
    /// The companies each created contact is associated with, its primary company first.
    contact_companies: HashMap<i64, Result<Vec<String>, HandleError>>,
}

fn not_read(what: &str) -> HandleError {
    HandleError::RetryLater(format!("the {what} was not read before processing"))
}

impl HubSpotReads {
    pub(super) fn company(&self, id: i64) -> Result<Option<HubSpotRecord>, HandleError> {
        self.companies
            .get(&id)
            .cloned()
            .unwrap_or_else(|| Err(not_read("company")))
    }

    pub(super) fn contact(&self, id: i64) -> Result<Option<HubSpotRecord>, HandleError> {
        self.contacts
            .get(&id)
            .cloned()
            .unwrap_or_else(|| Err(not_read("contact")))
    }

    pub(super) fn contact_companies(&self, id: i64) -> Result<Vec<String>, HandleError> {
        self.contact_companies
            .get(&id)
            .cloned()
            .unwrap_or_else(|| Err(not_read("contact's companies")))
    }
}

impl InboundProcessor {
    /// Reads what `events` need (see the module doc) while the claim holds no record lock.
    pub(super) async fn read_ahead(
        &self,
        tx: &Tx<'_>,
        events: &[(i64, WebhookEvent)],
    ) -> Result<HubSpotReads, ProcessError> {
        let mut reads = HubSpotReads::default();
        let Some(client) = &self.hubspot else {
            return Ok(reads);
        };
        let of = |object: &str, kinds: &[EventKind]| -> Vec<&WebhookEvent> {
            events
                .iter()
                .map(|(_, event)| event)
                .filter(|event| event.object_type() == object && kinds.contains(&event.kind()))
                .collect()
        };

        // Companies: creations of unlinked companies, and merge survivors.
        let created: Vec<String> = of("company", &[EventKind::Creation])
            .iter()
            .map(|event| event.object_id.to_string())
            .collect();
        let linked = inbound::linked_companies(tx, &created).await?;
        let company_ids: Vec<i64> = events
            .iter()
            .map(|(_, event)| event)
            .filter(|event| event.object_type() == "company")
            .filter_map(|event| match event.kind() {
                EventKind::Creation if !linked.contains(&event.object_id.to_string()) => {
                    Some(event.object_id)
                }
                EventKind::Merge { survivor } => Some(survivor),
                _ => None,
            })
            .collect();
        let map = self.map.current();
        let mut properties = map.hubspot_properties();
        properties.extend(super::company_rule::CANDIDATE_PROPERTIES);
        let options = ReadOptions::properties(properties);
        reads.companies = self
            .read_batched(client, ObjectType::Companies, company_ids, &options)
            .await;

        // Contacts: creations and restores of contacts no user is linked to.
        let mut contact_ids = Vec::new();
        for event in of("contact", &[EventKind::Creation, EventKind::Restore]) {
            let id = event.object_id.to_string();
            if links::local_of(tx, self.portal_id, ObjectType::Contacts, &id)
                .await?
                .is_none()
            {
                contact_ids.push(event.object_id);
            }
        }
        let options = ReadOptions::properties(
            self.map
                .current_for(ObjectType::Contacts)
                .hubspot_properties(),
        );
        reads.contacts = self
            .read_batched(client, ObjectType::Contacts, contact_ids, &options)
            .await;
        let created: Vec<i64> = of("contact", &[EventKind::Creation])
            .iter()
            .map(|event| event.object_id)
            .filter(|id| matches!(reads.contacts.get(id), Some(Ok(Some(_)))))
            .collect();
        reads.contact_companies = read_contact_companies(client, &created).await;
        Ok(reads)
    }

    /// Reads `ids` of `object_type` in batch calls of 100 (a flood of creations of unknown
    /// records costs a call per hundred, not one each, so the property changes claimed after
    /// them do not wait minutes). An id HubSpot does not return does not exist; an id whose
    /// call failed gets that call's error; a negative id is no HubSpot id.
    async fn read_batched(
        &self,
        client: &HubSpotClient,
        object_type: ObjectType,
        mut ids: Vec<i64>,
        options: &ReadOptions,
    ) -> HashMap<i64, Result<Option<HubSpotRecord>, HandleError>> {
        ids.sort_unstable();
        ids.dedup();
        let (negative, ids): (Vec<i64>, Vec<i64>) = ids.into_iter().partition(|id| *id < 0);
        let mut reads: HashMap<i64, Result<Option<HubSpotRecord>, HandleError>> = negative
            .into_iter()
            .map(|id| {
                let why = format!("the {} id is negative", object_type.event_object());
                (id, Err(HandleError::Failed(why)))
            })
            .collect();
        if ids.is_empty() {
            return reads;
        }
        let texts: Vec<String> = ids.iter().map(i64::to_string).collect();
        let result = client
            .objects(object_type)
            .batch_read(&texts, None, options)
            .await;
        let mut found: HashMap<String, HubSpotRecord> = result
            .results
            .into_iter()
            .map(|record| (record.id.as_str().to_owned(), record))
            .collect();
        let mut ordered: Vec<(i64, Result<Option<HubSpotRecord>, HandleError>)> = ids
            .iter()
            .zip(&texts)
            .map(|(id, text)| (*id, Ok(found.remove(text))))
            .collect();
        for failed in &result.failed_calls {
            for index in failed.inputs.clone() {
                if let Some((_, read)) = ordered.get_mut(index) {
                    *read = Err(HandleError::from(&failed.error));
                }
            }
        }
        // Only "not found" means gone; any other item error is retried. An error that names
        // no ids may concern any id not returned.
        for error in result
            .errors
            .iter()
            .filter(|error| error.category != "OBJECT_NOT_FOUND")
        {
            let named = error.context.get("ids");
            for (id, read) in &mut ordered {
                let concerned = match named {
                    Some(ids) => ids.iter().any(|named| *named == id.to_string()),
                    None => matches!(read, Ok(None)),
                };
                if concerned && matches!(read, Ok(None)) {
                    *read = Err(HandleError::RetryLater(format!(
                        "HubSpot could not read the {}: {}",
                        object_type.event_object(),
                        error.category
                    )));
                }
            }
        }
        reads.extend(ordered);
        reads
    }
}

/// The companies each contact is associated with, its primary companies first (one batch
/// read per hundred contacts).
async fn read_contact_companies(
    client: &HubSpotClient,
    contact_ids: &[i64],
) -> HashMap<i64, Result<Vec<String>, HandleError>> {
    let ids: Vec<HubSpotId> = contact_ids
        .iter()
        .filter_map(|id| HubSpotId::parse(id.to_string()).ok())
        .collect();
    if ids.is_empty() {
        return HashMap::new();
    }
    let read = client
        .associations(ObjectType::Contacts, ObjectType::Companies)
        .batch_read(&ids)
        .await;
    let mut companies: HashMap<i64, Result<Vec<String>, HandleError>> =
        contact_ids.iter().map(|id| (*id, Ok(Vec::new()))).collect();
    for failed in &read.failed_calls {
        for index in failed.inputs.clone() {
            if let Some(id) = contact_ids.get(index) {
                companies.insert(*id, Err(HandleError::from(&failed.error)));
            }
        }
    }
    for record in &read.results {
        let Ok(contact) = record.from.id.as_str().parse::<i64>() else {
            continue;
        };
        let mut associated: Vec<(bool, String)> = record
            .to
            .iter()
            .map(|to| {
                let primary = to.has_type(type_ids::CONTACT_TO_COMPANY_PRIMARY);
                (!primary, to.to_object_id.clone())
            })
            .collect();
        associated.sort();
        if let Some(Ok(list)) = companies.get_mut(&contact) {
            list.extend(associated.into_iter().map(|(_, company)| company));
        }
    }
    companies
}
