//! HubSpot's Webhooks Journal (2026-03): the app's journal subscriptions per portal, and the
//! journal itself: every event those subscriptions cover, written in order as entries, kept
//! for the retention (3 days), each entry's events in a file behind a pre-signed link.
//!
//! Entries are written with the webhook dispatcher's tick, before the push faults are applied,
//! so an event dropped from push delivery is still in the journal (what the backstop recovers).
//! An entry holds at most [`MAX_EVENTS_PER_ENTRY`] events of one portal. Its file is
//! `{"offset", "publishedAt", "journalEvents": [...]}`, each event with `type`, `portalId`,
//! `objectTypeId`, `objectId`, `occurredAt` (ISO 8601), `action` and, by action,
//! `propertyChanges` or the association's ends: the shape HubSpot's journal clients read (the
//! file is not documented precisely: docs/hubspot/PLATFORM-2026.md). Journal events carry no
//! push `eventId`; their object, time, type and property are the same as the pushed event's.

use std::collections::{BTreeMap, VecDeque};

use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::Sha256;
use uuid::Uuid;

use crate::objects::ObjectKind;
use crate::webhooks::WebhookEvent;

/// How long HubSpot keeps an entry.
pub const RETENTION_MS: i64 = 3 * 24 * 60 * 60 * 1000;
/// How long a file link works.
pub const LINK_LIFETIME_MS: i64 = 10 * 60 * 1000;
/// Events per entry at most.
pub const MAX_EVENTS_PER_ENTRY: usize = 99;
/// Entries a batch read returns at most.
pub const MAX_BATCH: usize = 100;

/// The actions a journal subscription may name, as HubSpot's spec lists them.
pub const ACTIONS: [&str; 13] = [
    "CREATE",
    "UPDATE",
    "DELETE",
    "MERGE",
    "RESTORE",
    "ASSOCIATION_ADDED",
    "ASSOCIATION_REMOVED",
    "SNAPSHOT",
    "APP_INSTALL",
    "APP_UNINSTALL",
    "ADDED_TO_LIST",
    "REMOVED_FROM_LIST",
    "GDPR_DELETE",
];

/// A journal subscription (`SubscriptionResponse`).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: u64,
    pub app_id: u64,
    pub subscription_type: String,
    pub portal_id: u64,
    pub object_type_id: String,
    pub actions: Vec<String>,
    pub properties: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl Subscription {
    /// Whether this subscription covers `event` (its portal, object type and action, and for a
    /// property change the property when the subscription names some).
    fn covers(&self, event: &WebhookEvent) -> bool {
        let Some(kind) = event
            .subscription_type
            .split('.')
            .next()
            .and_then(ObjectKind::from_path)
        else {
            return false;
        };
        if self.portal_id != event.portal_id || self.object_type_id != kind.type_id() {
            return false;
        }
        let action = action_of(event);
        if !self.actions.iter().any(|named| named == action) {
            return false;
        }
        match &event.property_name {
            Some(name) if !self.properties.is_empty() => self.properties.contains(name),
            _ => true,
        }
    }
}

/// What a subscription upsert asks for.
#[derive(Clone, Debug)]
pub struct SubscriptionRequest {
    pub subscription_type: String,
    pub portal_id: u64,
    pub object_type_id: String,
    pub actions: Vec<String>,
    pub properties: Vec<String>,
}

/// The journal action of a push event.
fn action_of(event: &WebhookEvent) -> &'static str {
    let suffix = event
        .subscription_type
        .split('.')
        .nth(1)
        .unwrap_or_default();
    match suffix {
        "creation" => "CREATE",
        "propertyChange" => "UPDATE",
        "deletion" => "DELETE",
        "restore" => "RESTORE",
        "merge" => "MERGE",
        "privacyDeletion" => "GDPR_DELETE",
        "associationChange" if event.association_removed == Some(true) => "ASSOCIATION_REMOVED",
        "associationChange" => "ASSOCIATION_ADDED",
        _ => "UPDATE",
    }
}

/// The journal's form of a push event.
pub fn journal_event(event: &WebhookEvent) -> Value {
    let object_type_id = event
        .subscription_type
        .split('.')
        .next()
        .and_then(ObjectKind::from_path)
        .map_or("", ObjectKind::type_id);
    let action = action_of(event);
    let mut journal = json!({
        "type": "OBJECT",
        "portalId": event.portal_id,
        "objectTypeId": object_type_id,
        "objectId": event.object_id,
        "occurredAt": crate::time::iso_millis(event.occurred_at),
        "action": action,
        "changeSource": event.change_source,
        "sourceId": event.source_id,
    });
    if let (Some(name), Some(value)) = (&event.property_name, &event.property_value) {
        journal["propertyChanges"] = json!({ name: value });
    }
    if let Some(primary) = event.primary_object_id {
        journal["primaryObjectId"] = json!(primary);
        journal["mergedObjectIds"] = json!(event.merged_object_ids);
        journal["newObjectId"] = json!(event.new_object_id);
    }
    if let (Some(association), Some(to)) = (event.association_type, event.to_object_id) {
        let primary = event.is_primary_association == Some(true);
        let (to_type, type_id) = match (association, primary) {
            ("CONTACT_TO_COMPANY", true) => ("0-2", 1),
            ("CONTACT_TO_COMPANY", false) => ("0-2", 279),
            ("DEAL_TO_COMPANY", true) => ("0-2", 5),
            ("DEAL_TO_COMPANY", false) => ("0-2", 341),
            _ => ("0-1", 3),
        };
        journal["type"] = json!("ASSOCIATION");
        journal["fromObjectTypeId"] = json!(object_type_id);
        journal["fromObjectId"] = json!(event.object_id);
        journal["toObjectTypeId"] = json!(to_type);
        journal["toObjectId"] = json!(to);
        journal["associationTypeId"] = json!(type_id);
        journal["isPrimary"] = json!(primary);
    }
    journal
}

/// One entry: its offset, portal, when it was written, and its events (the file).
#[derive(Clone, Debug)]
pub struct Entry {
    pub offset: Uuid,
    pub portal_id: u64,
    pub written_at_ms: i64,
    pub events: Vec<WebhookEvent>,
}

/// A journal read that cannot be answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadRefused {
    /// The offset is not (or no longer) in the journal: HubSpot's 404.
    UnknownOffset,
}

/// The journal and its subscriptions.
pub struct Journal {
    entries: VecDeque<Entry>,
    /// Position of each kept entry's offset, counted from the first entry ever written.
    positions: BTreeMap<Uuid, u64>,
    /// Position of `entries[0]`.
    first_position: u64,
    subscriptions: BTreeMap<u64, Subscription>,
    next_subscription_id: u64,
    link_key: Vec<u8>,
}

impl Journal {
    pub fn new(link_key: Vec<u8>) -> Self {
        Self {
            entries: VecDeque::new(),
            positions: BTreeMap::new(),
            first_position: 0,
            subscriptions: BTreeMap::new(),
            next_subscription_id: 1,
            link_key,
        }
    }

    /// Subscriptions, entries and positions forgotten (the link key stays).
    pub fn reset(&mut self) {
        *self = Self::new(std::mem::take(&mut self.link_key));
    }

    pub fn subscriptions(&self) -> Vec<Subscription> {
        self.subscriptions.values().cloned().collect()
    }

    pub fn subscription(&self, id: u64) -> Option<Subscription> {
        self.subscriptions.get(&id).cloned()
    }

    /// Creates a subscription, or updates the one of the same type, portal and object type
    /// (HubSpot's upsert).
    pub fn upsert_subscription(
        &mut self,
        app_id: u64,
        request: SubscriptionRequest,
        now: &str,
    ) -> Subscription {
        let SubscriptionRequest {
            subscription_type,
            portal_id,
            object_type_id,
            actions,
            properties,
        } = request;
        let existing = self.subscriptions.values_mut().find(|subscription| {
            subscription.subscription_type == subscription_type
                && subscription.portal_id == portal_id
                && subscription.object_type_id == object_type_id
        });
        if let Some(subscription) = existing {
            subscription.actions = actions;
            subscription.properties = properties;
            subscription.updated_at = now.to_owned();
            return subscription.clone();
        }
        let id = self.next_subscription_id;
        self.next_subscription_id += 1;
        let subscription = Subscription {
            id,
            app_id,
            subscription_type,
            portal_id,
            object_type_id,
            actions,
            properties,
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
        };
        self.subscriptions.insert(id, subscription.clone());
        subscription
    }

    pub fn delete_subscription(&mut self, id: u64) -> bool {
        self.subscriptions.remove(&id).is_some()
    }

    /// Every subscription of `portal_id` removed; how many.
    pub fn delete_portal_subscriptions(&mut self, portal_id: u64) -> usize {
        let before = self.subscriptions.len();
        self.subscriptions
            .retain(|_, subscription| subscription.portal_id != portal_id);
        before - self.subscriptions.len()
    }

    /// Writes the events some subscription covers, per portal in entries of at most
    /// [`MAX_EVENTS_PER_ENTRY`], and forgets entries past the retention. Returns the events
    /// written.
    pub fn record(&mut self, events: &[WebhookEvent], now_ms: i64) -> usize {
        self.expire_before(now_ms.saturating_sub(RETENTION_MS));
        let mut by_portal: BTreeMap<u64, Vec<WebhookEvent>> = BTreeMap::new();
        for event in events {
            if self
                .subscriptions
                .values()
                .any(|subscription| subscription.covers(event))
            {
                by_portal
                    .entry(event.portal_id)
                    .or_default()
                    .push(event.clone());
            }
        }
        let mut written = 0;
        for (portal_id, events) in by_portal {
            for chunk in events.chunks(MAX_EVENTS_PER_ENTRY) {
                written += chunk.len();
                let offset = Uuid::new_v4();
                let position = self.first_position + self.entries.len() as u64;
                self.positions.insert(offset, position);
                self.entries.push_back(Entry {
                    offset,
                    portal_id,
                    written_at_ms: now_ms,
                    events: chunk.to_vec(),
                });
            }
        }
        written
    }

    /// Forgets every entry written before `cutoff_ms` (HubSpot's retention; the sandbox's
    /// control route uses it to age the journal at once).
    pub fn expire_before(&mut self, cutoff_ms: i64) -> usize {
        let mut expired = 0;
        while self
            .entries
            .front()
            .is_some_and(|entry| entry.written_at_ms < cutoff_ms)
        {
            if let Some(entry) = self.entries.pop_front() {
                self.positions.remove(&entry.offset);
                self.first_position += 1;
                expired += 1;
            }
        }
        expired
    }

    /// Up to `count` entries of `portal` (every portal when `None`) from the earliest kept.
    pub fn earliest(&self, portal: Option<u64>, count: usize) -> Vec<&Entry> {
        self.entries
            .iter()
            .filter(|entry| portal.is_none_or(|id| entry.portal_id == id))
            .take(count)
            .collect()
    }

    /// The last `count` entries of `portal`, oldest first.
    pub fn latest(&self, portal: Option<u64>, count: usize) -> Vec<&Entry> {
        let mut latest: Vec<&Entry> = self
            .entries
            .iter()
            .rev()
            .filter(|entry| portal.is_none_or(|id| entry.portal_id == id))
            .take(count)
            .collect();
        latest.reverse();
        latest
    }

    /// Up to `count` entries of `portal` written after the entry `offset`.
    pub fn after(
        &self,
        offset: Uuid,
        portal: Option<u64>,
        count: usize,
    ) -> Result<Vec<&Entry>, ReadRefused> {
        let position = *self
            .positions
            .get(&offset)
            .ok_or(ReadRefused::UnknownOffset)?;
        let index = usize::try_from(position - self.first_position).unwrap_or(usize::MAX);
        Ok(self
            .entries
            .iter()
            .skip(index.saturating_add(1))
            .filter(|entry| portal.is_none_or(|id| entry.portal_id == id))
            .take(count)
            .collect())
    }

    /// The file of the entry `offset`, while kept.
    pub fn file(&self, offset: Uuid) -> Option<Value> {
        let entry = self.entry(offset)?;
        Some(json!({
            "offset": entry.offset,
            "publishedAt": crate::time::iso_millis(entry.written_at_ms),
            "journalEvents": entry.events.iter().map(journal_event).collect::<Vec<_>>(),
        }))
    }

    /// The entry `offset`, while kept.
    pub fn entry(&self, offset: Uuid) -> Option<&Entry> {
        let position = self.positions.get(&offset)?;
        let index = usize::try_from(position - self.first_position).ok()?;
        self.entries.get(index)
    }

    /// The link signature for `offset` until `expires_ms` (HMAC-SHA256, hex).
    pub fn link_signature(&self, offset: Uuid, expires_ms: i64) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.link_key).expect("HMAC takes any key length");
        mac.update(format!("{offset}:{expires_ms}").as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    /// Whether a link's signature is this journal's for `offset` until `expires_ms`.
    pub fn link_is_valid(&self, offset: Uuid, expires_ms: i64, signature: &str) -> bool {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.link_key).expect("HMAC takes any key length");
        mac.update(format!("{offset}:{expires_ms}").as_bytes());
        let Some(bytes) = hex_bytes(signature) else {
            return false;
        };
        mac.verify_slice(&bytes).is_ok()
    }
}

fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;

    use super::*;
    use crate::store::Actor;
    use crate::webhooks::{EventKind, EventOrigin};

    fn event(ids: &AtomicU64, portal_id: u64, kind: EventKind) -> WebhookEvent {
        WebhookEvent::new(
            ids,
            kind,
            EventOrigin {
                portal_id,
                app_id: 9,
                object: ObjectKind::Companies,
            },
            42,
            Actor::CrmUi,
            1_000,
        )
        .unwrap()
    }

    fn change(name: &str) -> EventKind {
        EventKind::PropertyChange {
            name: name.into(),
            value: "x".into(),
        }
    }

    #[test]
    fn only_subscribed_events_are_written_and_reads_go_on_from_an_offset() {
        let ids = AtomicU64::new(1);
        let mut journal = Journal::new(b"key".to_vec());
        journal.record(&[event(&ids, 7, change("name"))], 0);
        assert!(journal.earliest(None, 10).is_empty(), "no subscription yet");
        let request = |actions: &[&str], properties: &[&str]| SubscriptionRequest {
            subscription_type: "OBJECT".into(),
            portal_id: 7,
            object_type_id: "0-2".into(),
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
            properties: properties.iter().map(|p| (*p).to_owned()).collect(),
        };
        journal.upsert_subscription(9, request(&["UPDATE"], &[]), "t");
        let again = journal.upsert_subscription(9, request(&["UPDATE", "CREATE"], &["name"]), "t");
        assert_eq!((again.id, journal.subscriptions().len()), (1, 1));
        let written = journal.record(
            &[
                event(&ids, 7, change("name")),
                event(&ids, 7, change("phone")),
                event(&ids, 8, change("name")),
                event(&ids, 7, EventKind::Creation),
                event(&ids, 7, EventKind::Deletion),
            ],
            10,
        );
        assert_eq!(written, 2, "name change and creation of portal 7");
        let first = journal.earliest(Some(7), 10);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].events.len(), 2);
        let first = first[0].offset;
        journal.record(&[event(&ids, 7, change("name"))], 20);
        let next = journal.after(first, Some(7), 10).unwrap();
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].written_at_ms, 20);
        let next = next[0].offset;
        assert!(journal.after(next, Some(7), 10).unwrap().is_empty());
        assert_eq!(journal.latest(Some(7), 1)[0].offset, next);
        assert_eq!(journal.expire_before(15), 1);
        assert_eq!(
            journal.after(first, Some(7), 10).unwrap_err(),
            ReadRefused::UnknownOffset
        );
        assert_eq!(journal.entry(next).unwrap().written_at_ms, 20);
        let file = journal.file(next).unwrap();
        let written = &file["journalEvents"][0];
        assert_eq!(written["action"], "UPDATE");
        assert_eq!(written["objectTypeId"], "0-2");
        assert_eq!(written["propertyChanges"], json!({"name": "x"}));
        assert_eq!(written["occurredAt"], "1970-01-01T00:00:01.000Z");
        let signature = journal.link_signature(next, 99);
        assert!(journal.link_is_valid(next, 99, &signature));
        assert!(!journal.link_is_valid(next, 100, &signature));
        assert!(!journal.link_is_valid(first, 99, &signature));
    }
}
