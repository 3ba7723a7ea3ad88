//! Webhook events and their delivery: batching per tick, HubSpot's signatures, retries with
//! exponential backoff, and the drop/duplicate/reorder faults.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::Rng as _;
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::objects::ObjectKind;
use crate::signature;
use crate::state::SandboxState;
use crate::store::Actor;
use crate::time::now_ms;

/// How often accumulated events are sent.
const TICK: Duration = Duration::from_millis(100);
/// HubSpot sends fewer than 100 events per request.
pub const MAX_EVENTS_PER_REQUEST: usize = 99;
/// HubSpot allows up to 10 deliveries in flight per app.
const MAX_IN_FLIGHT: usize = 10;
/// Attempts per delivery, the first included.
pub const MAX_ATTEMPTS: u32 = 10;
/// A receiver slower than this counts as failed.
const RECEIVER_TIMEOUT: Duration = Duration::from_secs(5);
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What happened to a record.
#[derive(Clone, Debug)]
pub enum EventKind {
    Creation,
    Deletion,
    Restore,
    PropertyChange {
        name: String,
        value: String,
    },
    Merge {
        primary_object_id: u64,
        merged_object_ids: Vec<u64>,
        new_object_id: u64,
        number_of_properties_moved: u32,
    },
    /// An association was made or removed (contact ↔ company, deal ↔ company or contact).
    AssociationChange {
        association_type: &'static str,
        to_object_id: u64,
        removed: bool,
        primary: bool,
    },
    /// The person's data was deleted for good (GDPR).
    PrivacyDeletion,
}

impl EventKind {
    /// The event's part of a subscription type (`company.propertyChange`).
    fn subscription_event(&self) -> &'static str {
        match self {
            EventKind::Creation => "creation",
            EventKind::Deletion => "deletion",
            EventKind::Restore => "restore",
            EventKind::PropertyChange { .. } => "propertyChange",
            EventKind::Merge { .. } => "merge",
            EventKind::AssociationChange { .. } => "associationChange",
            EventKind::PrivacyDeletion => "privacyDeletion",
        }
    }
}

/// Where an event comes from: the portal, the app it is sent to, the record's object type.
#[derive(Clone, Copy, Debug)]
pub struct EventOrigin {
    pub portal_id: u64,
    pub app_id: u64,
    pub object: ObjectKind,
}

/// One event as HubSpot posts it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEvent {
    pub event_id: u64,
    pub subscription_id: u64,
    pub portal_id: u64,
    pub app_id: u64,
    pub occurred_at: i64,
    pub subscription_type: &'static str,
    pub attempt_number: u32,
    pub object_id: u64,
    pub change_source: &'static str,
    pub source_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_flag: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_object_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_object_ids: Option<Vec<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_object_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_of_properties_moved: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub association_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_object_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_object_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub association_removed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_primary_association: Option<bool>,
}

impl WebhookEvent {
    /// The event a subscription of the app receives for a change, or `None` when no
    /// subscription covers the object type (notes). Its id is taken from `event_ids` only
    /// when there is an event, so the ids sent stay consecutive.
    pub fn new(
        event_ids: &AtomicU64,
        kind: EventKind,
        origin: EventOrigin,
        object_id: u64,
        actor: Actor,
        occurred_at: i64,
    ) -> Option<Self> {
        let EventOrigin {
            portal_id,
            app_id,
            object,
        } = origin;
        // One subscription per event and object type, as an app configured for both has.
        let (subscription_id, subscription_type) =
            object.subscription(kind.subscription_event())?;
        let mut event = Self {
            event_id: event_ids.fetch_add(1, Ordering::Relaxed),
            subscription_id,
            portal_id,
            app_id,
            occurred_at,
            subscription_type,
            attempt_number: 0,
            object_id,
            change_source: actor.change_source(),
            source_id: actor.source_id(app_id),
            change_flag: None,
            property_name: None,
            property_value: None,
            primary_object_id: None,
            merged_object_ids: None,
            new_object_id: None,
            number_of_properties_moved: None,
            association_type: None,
            from_object_id: None,
            to_object_id: None,
            association_removed: None,
            is_primary_association: None,
        };
        match kind {
            EventKind::Creation => event.change_flag = Some("NEW"),
            EventKind::Deletion | EventKind::PrivacyDeletion => {
                event.change_flag = Some("DELETED");
            }
            EventKind::PropertyChange { name, value } => {
                event.property_name = Some(name);
                event.property_value = Some(value);
            }
            EventKind::Restore => event.change_flag = Some("RESTORED"),
            EventKind::Merge {
                primary_object_id,
                merged_object_ids,
                new_object_id,
                number_of_properties_moved,
            } => {
                event.primary_object_id = Some(primary_object_id);
                event.merged_object_ids = Some(merged_object_ids);
                event.new_object_id = Some(new_object_id);
                event.number_of_properties_moved = Some(number_of_properties_moved);
            }
            EventKind::AssociationChange {
                association_type,
                to_object_id,
                removed,
                primary,
            } => {
                event.association_type = Some(association_type);
                event.from_object_id = Some(object_id);
                event.to_object_id = Some(to_object_id);
                event.association_removed = Some(removed);
                event.is_primary_association = Some(primary);
            }
        }
        Some(event)
    }
}

/// Sends what accumulates each tick until the sandbox shuts down.
pub async fn run_dispatcher(state: Arc<SandboxState>) {
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut shutdown = state.shutdown.subscribe();
    // Events delayed by the reorder fault, with the ticks left before they go.
    let mut held_back: Vec<(u32, WebhookEvent)> = Vec::new();
    loop {
        tokio::select! {
            () = tokio::time::sleep(TICK) => {}
            _ = shutdown.changed() => return,
        }
        let fresh = state.take_pending_events();
        let Some(target) = state.webhook_target() else {
            let discarded = fresh.len() + held_back.len();
            held_back.clear();
            if discarded > 0 {
                state.record(|stats| stats.webhook_events_discarded_no_target += discarded as u64);
            }
            continue;
        };
        let faults = state.faults();
        let mut batch = Vec::with_capacity(fresh.len());
        {
            let mut rng = rand::rng();
            let mut dropped = 0u64;
            let mut duplicated = 0u64;
            for event in fresh {
                if rng.random_bool(faults.drop_webhooks) {
                    dropped += 1;
                    continue;
                }
                if rng.random_bool(faults.duplicate_webhooks) {
                    duplicated += 1;
                    held_back.push((rng.random_range(0..3), event.clone()));
                }
                if rng.random_bool(faults.reorder_webhooks) {
                    held_back.push((rng.random_range(1..6), event));
                } else {
                    batch.push(event);
                }
            }
            let mut still_held = Vec::with_capacity(held_back.len());
            for (ticks_left, event) in held_back.drain(..) {
                if ticks_left == 0 {
                    batch.push(event);
                } else {
                    still_held.push((ticks_left - 1, event));
                }
            }
            held_back = still_held;
            if dropped + duplicated > 0 {
                state.record(|stats| {
                    stats.webhook_events_dropped += dropped;
                    stats.webhook_events_duplicated += duplicated;
                });
            }
        }
        for chunk in batch.chunks(MAX_EVENTS_PER_REQUEST) {
            let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else {
                return;
            };
            let state = Arc::clone(&state);
            let events = chunk.to_vec();
            let target = target.clone();
            tokio::spawn(async move {
                deliver(&state, &target, events).await;
                drop(permit);
            });
        }
    }
}

/// The headers of one signed delivery: (name, value).
pub fn signed_headers(
    secret: &str,
    target: &str,
    body: &[u8],
    timestamp_ms: &str,
) -> [(&'static str, String); 4] {
    [
        ("X-HubSpot-Signature", signature::v1(secret, body)),
        ("X-HubSpot-Signature-Version", "v1".to_owned()),
        (
            "X-HubSpot-Signature-v3",
            signature::v3(secret, "POST", target, body, timestamp_ms),
        ),
        ("X-HubSpot-Request-Timestamp", timestamp_ms.to_owned()),
    ]
}

async fn deliver(state: &SandboxState, target: &str, mut events: Vec<WebhookEvent>) {
    let mut shutdown = state.shutdown.subscribe();
    for attempt in 0..MAX_ATTEMPTS {
        for event in &mut events {
            event.attempt_number = attempt;
        }
        let Ok(body) = serde_json::to_vec(&events) else {
            return;
        };
        let timestamp = now_ms().to_string();
        let mut request = state
            .http
            .post(target)
            .timeout(RECEIVER_TIMEOUT)
            .header("Content-Type", "application/json");
        for (name, value) in signed_headers(&state.webhook_secret, target, &body, &timestamp) {
            request = request.header(name, value);
        }
        let succeeded = match request.body(body).send().await {
            Ok(answer) => answer.status().is_success(),
            Err(error) => {
                tracing::debug!(%error, attempt, "webhook delivery failed");
                false
            }
        };
        let delivered = events.len() as u64;
        state.record(|stats| {
            stats.webhook_requests_sent += 1;
            if succeeded {
                stats.webhook_events_delivered += delivered;
            } else {
                stats.webhook_requests_failed += 1;
            }
        });
        if succeeded {
            return;
        }
        let backoff = FIRST_BACKOFF
            .saturating_mul(1u32 << attempt.min(16))
            .min(MAX_BACKOFF);
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return,
        }
    }
    state.record(|stats| stats.webhook_deliveries_abandoned += 1);
}
