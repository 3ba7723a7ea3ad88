//! One HubSpot portal (account) in the sandbox: its own records, associations and rate
//! budget. A static token calls the home portal; an OAuth access token calls the portal it was
//! installed in, so several WARP installations each see only their own data and limits.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::associations::Associations;
use crate::custom_events::CustomEvents;
use crate::custom_objects::CustomObjects;
use crate::objects::ObjectKind;
use crate::rate_limit::RateLimits;
use crate::state::lock;
use crate::store::Store;
use crate::webhooks::WebhookEvent;

/// A portal's API limits: requests per rolling window, per day, and searches per second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitSettings {
    pub max: u32,
    pub interval_ms: u64,
    pub daily: u64,
    pub search_per_second: u32,
}

impl LimitSettings {
    fn fresh(self) -> RateLimits {
        RateLimits::new(
            self.max,
            self.interval_ms,
            self.daily,
            self.search_per_second,
        )
    }
}

/// How many records of each type a portal holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordCounts {
    pub companies: u64,
    pub companies_archived: u64,
    pub contacts: u64,
    pub contacts_archived: u64,
    pub deals: u64,
    pub deals_archived: u64,
    pub notes: u64,
    pub notes_archived: u64,
    pub calls: u64,
    pub calls_archived: u64,
    pub tickets: u64,
    pub tickets_archived: u64,
}

pub struct Portal {
    pub portal_id: u64,
    companies: Mutex<Store>,
    contacts: Mutex<Store>,
    deals: Mutex<Store>,
    notes: Mutex<Store>,
    calls: Mutex<Store>,
    tickets: Mutex<Store>,
    /// The records of each custom object slot (`ObjectKind::Custom`), defined or not.
    custom_stores: Vec<Mutex<Store>>,
    /// The portal's custom object types (locked before any store, never after one).
    pub custom_objects: Mutex<CustomObjects>,
    /// Associations between records of any two types (locked after a store, never before).
    pub associations: Mutex<Associations>,
    pub limits: Mutex<RateLimits>,
    limit_settings: LimitSettings,
    /// Custom events and custom objects need an Enterprise portal.
    enterprise: AtomicBool,
    pub custom_events: Mutex<CustomEvents>,
}

impl std::fmt::Debug for Portal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Portal")
            .field("portal_id", &self.portal_id)
            .field("limit_settings", &self.limit_settings)
            .finish_non_exhaustive()
    }
}

impl Portal {
    /// `event_ids` is shared by every portal so event ids stay unique across the sandbox.
    pub fn new(
        app_id: u64,
        portal_id: u64,
        limit_settings: LimitSettings,
        event_ids: &Arc<AtomicU64>,
        now_ms: i64,
    ) -> Self {
        let store = |kind| {
            Mutex::new(Store::new(
                app_id,
                portal_id,
                kind,
                Arc::clone(event_ids),
                now_ms,
            ))
        };
        Self {
            portal_id,
            companies: store(ObjectKind::Companies),
            contacts: store(ObjectKind::Contacts),
            deals: store(ObjectKind::Deals),
            notes: store(ObjectKind::Notes),
            calls: store(ObjectKind::Calls),
            tickets: store(ObjectKind::Tickets),
            custom_stores: ObjectKind::custom_slots().map(store).collect(),
            custom_objects: Mutex::new(CustomObjects::default()),
            associations: Mutex::new(Associations::default()),
            limits: Mutex::new(limit_settings.fresh()),
            limit_settings,
            enterprise: AtomicBool::new(false),
            custom_events: Mutex::new(CustomEvents::default()),
        }
    }

    /// Whether the portal has an Enterprise subscription (custom events).
    pub fn is_enterprise(&self) -> bool {
        self.enterprise.load(Ordering::Relaxed)
    }

    pub fn set_enterprise(&self, enterprise: bool) {
        self.enterprise.store(enterprise, Ordering::Relaxed);
    }

    /// The store of one object type.
    pub fn store(&self, kind: ObjectKind) -> &Mutex<Store> {
        match kind {
            ObjectKind::Companies => &self.companies,
            ObjectKind::Contacts => &self.contacts,
            ObjectKind::Deals => &self.deals,
            ObjectKind::Notes => &self.notes,
            ObjectKind::Calls => &self.calls,
            ObjectKind::Tickets => &self.tickets,
            ObjectKind::Custom(slot) => &self.custom_stores[usize::from(slot)],
        }
    }

    /// The object type a path's `{objectType}` names in this portal: HubSpot's own by name or
    /// id, a custom one by id or qualified name once defined here.
    pub fn object_kind(&self, text: &str) -> Option<ObjectKind> {
        match ObjectKind::from_path(text) {
            Some(ObjectKind::Custom(_)) | None => {
                lock(&self.custom_objects).resolve(self.portal_id, text)
            }
            standard => standard,
        }
    }

    /// Every object type with records here: HubSpot's own and each defined custom type.
    fn kinds(&self) -> Vec<ObjectKind> {
        let custom: Vec<ObjectKind> = lock(&self.custom_objects)
            .all()
            .map(|schema| schema.kind())
            .collect();
        ObjectKind::ALL.into_iter().chain(custom).collect()
    }

    pub fn limit_settings(&self) -> LimitSettings {
        self.limit_settings
    }

    pub fn counts(&self) -> RecordCounts {
        let companies = lock(&self.companies);
        let contacts = lock(&self.contacts);
        let deals = lock(&self.deals);
        let notes = lock(&self.notes);
        let calls = lock(&self.calls);
        let tickets = lock(&self.tickets);
        RecordCounts {
            companies: companies.active_count() as u64,
            companies_archived: companies.archived_count() as u64,
            contacts: contacts.active_count() as u64,
            contacts_archived: contacts.archived_count() as u64,
            deals: deals.active_count() as u64,
            deals_archived: deals.archived_count() as u64,
            notes: notes.active_count() as u64,
            notes_archived: notes.archived_count() as u64,
            calls: calls.active_count() as u64,
            calls_archived: calls.archived_count() as u64,
            tickets: tickets.active_count() as u64,
            tickets_archived: tickets.archived_count() as u64,
        }
    }

    /// The portal's waiting events of every object type.
    pub fn take_pending_events(&self) -> Vec<WebhookEvent> {
        let mut events = Vec::new();
        for kind in self.kinds() {
            events.append(&mut lock(self.store(kind)).pending_events);
        }
        events
    }

    /// Records, properties, associations and limits back to a fresh portal's.
    pub fn reset(&self, now_ms: i64) {
        for kind in ObjectKind::ALL
            .into_iter()
            .chain(ObjectKind::custom_slots())
        {
            lock(self.store(kind)).reset(now_ms);
        }
        lock(&self.custom_objects).clear();
        lock(&self.associations).clear();
        *lock(&self.limits) = self.limit_settings.fresh();
    }
}
