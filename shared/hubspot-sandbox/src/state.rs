//! The state shared by every handler and background task of one sandbox.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use crate::associations::Associations;
use crate::config::{Faults, SandboxConfig};
use crate::oauth::OAuthServer;
use crate::objects::ObjectKind;
use crate::rate_limit::RateLimits;
use crate::stats::Stats;
use crate::store::Store;
use crate::time::now_ms;
use crate::webhooks::WebhookEvent;

/// Shared state; every lock is held for short, non-async sections only.
pub struct SandboxState {
    pub app_token: String,
    pub user_token: String,
    pub webhook_secret: String,
    pub portal_id: u64,
    pub app_id: u64,
    pub search_index_delay_ms: u64,
    rate_limit_settings: (u32, u64, u64, u32),
    companies: Mutex<Store>,
    contacts: Mutex<Store>,
    /// Associations between records of any two types (locked after a store, never before).
    pub associations: Mutex<Associations>,
    pub limits: Mutex<RateLimits>,
    faults: Mutex<Faults>,
    /// The OAuth app installed in this portal: codes, tokens, grants.
    pub oauth: Mutex<OAuthServer>,
    webhook_target: Mutex<Option<String>>,
    stats: Mutex<Stats>,
    /// Flips to true once on shutdown; hung requests and deliveries watch it.
    pub shutdown: watch::Sender<bool>,
    pub http: reqwest::Client,
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SandboxState {
    pub fn new(config: SandboxConfig) -> Arc<Self> {
        let rate_limit_settings = (
            config.rate_limit_max,
            config.rate_limit_interval_ms,
            config.daily_limit,
            config.search_per_second,
        );
        let (shutdown, _) = watch::channel(false);
        let event_ids = Arc::new(AtomicU64::new(1));
        let store = |kind| {
            Mutex::new(Store::new(
                config.app_id,
                config.portal_id,
                kind,
                Arc::clone(&event_ids),
                now_ms(),
            ))
        };
        Arc::new(Self {
            companies: store(ObjectKind::Companies),
            contacts: store(ObjectKind::Contacts),
            associations: Mutex::new(Associations::default()),
            limits: Mutex::new(Self::fresh_limits(rate_limit_settings)),
            rate_limit_settings,
            faults: Mutex::new(config.faults),
            oauth: Mutex::new(OAuthServer::new(
                config.oauth_client_id,
                config.oauth_client_secret,
                config.oauth_access_token_ttl_ms,
            )),
            webhook_target: Mutex::new(config.webhook_target),
            stats: Mutex::new(Stats::default()),
            app_token: config.app_token,
            user_token: config.user_token,
            webhook_secret: config.webhook_secret,
            portal_id: config.portal_id,
            app_id: config.app_id,
            search_index_delay_ms: config.search_index_delay_ms,
            shutdown,
            http: reqwest::Client::new(),
        })
    }

    fn fresh_limits((max, interval_ms, daily, search): (u32, u64, u64, u32)) -> RateLimits {
        RateLimits::new(max, interval_ms, daily, search)
    }

    /// The store of one object type.
    pub fn store(&self, kind: ObjectKind) -> &Mutex<Store> {
        match kind {
            ObjectKind::Companies => &self.companies,
            ObjectKind::Contacts => &self.contacts,
        }
    }

    pub fn faults(&self) -> Faults {
        lock(&self.faults).clone()
    }

    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.faults) = faults;
    }

    pub fn webhook_target(&self) -> Option<String> {
        lock(&self.webhook_target).clone()
    }

    pub fn set_webhook_target(&self, target: Option<String>) {
        *lock(&self.webhook_target) = target;
    }

    pub fn record(&self, update: impl FnOnce(&mut Stats)) {
        update(&mut lock(&self.stats));
    }

    pub fn stats(&self) -> Stats {
        let mut stats = lock(&self.stats).clone();
        let companies = lock(&self.companies);
        stats.companies = companies.active_count() as u64;
        stats.companies_archived = companies.archived_count() as u64;
        drop(companies);
        let contacts = lock(&self.contacts);
        stats.contacts = contacts.active_count() as u64;
        stats.contacts_archived = contacts.archived_count() as u64;
        stats
    }

    /// Every object type's waiting events, in the order they happened.
    pub fn take_pending_events(&self) -> Vec<WebhookEvent> {
        let mut events = std::mem::take(&mut lock(&self.companies).pending_events);
        events.append(&mut lock(&self.contacts).pending_events);
        events.sort_by_key(|event| event.event_id);
        events
    }

    /// Companies and properties back to defaults; stats, faults and limits cleared.
    pub fn reset(&self) {
        for kind in ObjectKind::ALL {
            lock(self.store(kind)).reset(now_ms());
        }
        lock(&self.associations).clear();
        *lock(&self.stats) = Stats::default();
        *lock(&self.faults) = Faults::default();
        lock(&self.oauth).reset();
        *lock(&self.limits) = Self::fresh_limits(self.rate_limit_settings);
    }
}
