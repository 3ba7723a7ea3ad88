//! The state shared by every handler and background task of one sandbox.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use crate::config::{Faults, SandboxConfig};
use crate::journal::Journal;
use crate::oauth::OAuthServer;
use crate::portal::{LimitSettings, Portal};
use crate::stats::Stats;
use crate::time::now_ms;
use crate::webhooks::WebhookEvent;

/// Shared state; every lock is held for short, non-async sections only.
pub struct SandboxState {
    pub app_token: String,
    pub user_token: String,
    pub read_token: String,
    pub webhook_secret: String,
    /// The portal the static tokens call (WARP's own CRM).
    pub portal_id: u64,
    pub app_id: u64,
    pub search_index_delay_ms: u64,
    home: Arc<Portal>,
    /// Every portal by id, the home portal included.
    portals: Mutex<BTreeMap<u64, Arc<Portal>>>,
    /// The limits of a portal the app is installed in through OAuth (110 / 10 s per portal).
    installed_limits: LimitSettings,
    event_ids: Arc<AtomicU64>,
    faults: Mutex<Faults>,
    /// The OAuth app: codes, tokens, grants, each bound to the portal it was installed in.
    pub oauth: Mutex<OAuthServer>,
    webhook_target: Mutex<Option<String>>,
    /// The Webhooks Journal: the app's journal subscriptions and the entries they wrote.
    pub journal: Mutex<Journal>,
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

/// Why a portal could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortalRefused {
    #[error("portal ids are positive")]
    Zero,
}

impl SandboxState {
    pub fn new(config: SandboxConfig) -> Arc<Self> {
        let home_limits = LimitSettings {
            max: config.rate_limit_max,
            interval_ms: config.rate_limit_interval_ms,
            daily: config.daily_limit,
            search_per_second: config.search_per_second,
        };
        let installed_limits = LimitSettings {
            max: config.installed_rate_limit_max,
            ..home_limits
        };
        let (shutdown, _) = watch::channel(false);
        let event_ids = Arc::new(AtomicU64::new(1));
        let home = Arc::new(Portal::new(
            config.app_id,
            config.portal_id,
            home_limits,
            &event_ids,
            now_ms(),
        ));
        home.set_enterprise(config.home_enterprise);
        let mut portals = BTreeMap::from([(config.portal_id, Arc::clone(&home))]);
        for &portal_id in &config.extra_portals {
            portals.entry(portal_id).or_insert_with(|| {
                Arc::new(Portal::new(
                    config.app_id,
                    portal_id,
                    installed_limits,
                    &event_ids,
                    now_ms(),
                ))
            });
        }
        Arc::new(Self {
            home,
            portals: Mutex::new(portals),
            installed_limits,
            event_ids,
            faults: Mutex::new(config.faults),
            oauth: Mutex::new(OAuthServer::new(
                config.oauth_client_id,
                config.oauth_client_secret,
                config.oauth_access_token_ttl_ms,
            )),
            webhook_target: Mutex::new(config.webhook_target),
            journal: Mutex::new(Journal::new(
                rand::Rng::random::<[u8; 32]>(&mut rand::rng()).to_vec(),
            )),
            stats: Mutex::new(Stats::default()),
            app_token: config.app_token,
            user_token: config.user_token,
            read_token: config.read_token,
            webhook_secret: config.webhook_secret,
            portal_id: config.portal_id,
            app_id: config.app_id,
            search_index_delay_ms: config.search_index_delay_ms,
            shutdown,
            http: reqwest::Client::new(),
        })
    }

    /// The portal the static tokens call.
    pub fn home(&self) -> &Arc<Portal> {
        &self.home
    }

    pub fn portal(&self, portal_id: u64) -> Option<Arc<Portal>> {
        lock(&self.portals).get(&portal_id).cloned()
    }

    /// The portal, created with an installed app's limits when it does not exist yet (a person
    /// picked a new account on the consent page). `max` overrides its requests per window.
    pub fn portal_or_create(
        &self,
        portal_id: u64,
        max: Option<u32>,
    ) -> Result<Arc<Portal>, PortalRefused> {
        if portal_id == 0 {
            return Err(PortalRefused::Zero);
        }
        let mut portals = lock(&self.portals);
        let limits = LimitSettings {
            max: max.unwrap_or(self.installed_limits.max),
            ..self.installed_limits
        };
        Ok(Arc::clone(portals.entry(portal_id).or_insert_with(|| {
            Arc::new(Portal::new(
                self.app_id,
                portal_id,
                limits,
                &self.event_ids,
                now_ms(),
            ))
        })))
    }

    pub fn portals(&self) -> Vec<Arc<Portal>> {
        lock(&self.portals).values().cloned().collect()
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

    /// The counters, with the record counts of `portal` (the home portal when `None`).
    pub fn stats_of(&self, portal: Option<&Portal>) -> Stats {
        let mut stats = lock(&self.stats).clone();
        let counts = portal.unwrap_or(&self.home).counts();
        stats.companies = counts.companies;
        stats.companies_archived = counts.companies_archived;
        stats.contacts = counts.contacts;
        stats.contacts_archived = counts.contacts_archived;
        stats.deals = counts.deals;
        stats.deals_archived = counts.deals_archived;
        stats.notes = counts.notes;
        stats.notes_archived = counts.notes_archived;
        stats.calls = counts.calls;
        stats.calls_archived = counts.calls_archived;
        stats.tickets = counts.tickets;
        stats.tickets_archived = counts.tickets_archived;
        stats
    }

    /// The counters, with the home portal's record counts.
    pub fn stats(&self) -> Stats {
        self.stats_of(None)
    }

    /// Every portal's waiting events, in the order they happened, written to the journal
    /// where a journal subscription covers them (before any push fault can drop them).
    pub fn take_pending_events(&self) -> Vec<WebhookEvent> {
        let mut events: Vec<WebhookEvent> = self
            .portals()
            .iter()
            .flat_map(|portal| portal.take_pending_events())
            .collect();
        events.sort_by_key(|event| event.event_id);
        if !events.is_empty() {
            let written = lock(&self.journal).record(&events, now_ms());
            if written > 0 {
                self.record(|stats| stats.journal_events_written += written as u64);
            }
        }
        events
    }

    /// Every portal but the configured ones forgotten, records and properties back to
    /// defaults; stats, faults, grants and limits cleared.
    pub fn reset(&self) {
        let now = now_ms();
        lock(&self.portals).retain(|id, _| *id == self.portal_id);
        self.home.reset(now);
        *lock(&self.stats) = Stats::default();
        *lock(&self.faults) = Faults::default();
        lock(&self.oauth).reset();
        lock(&self.journal).reset();
    }
}
