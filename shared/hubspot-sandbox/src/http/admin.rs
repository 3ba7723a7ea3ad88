//! `/_sandbox` control routes (no auth): faults, stats, reset, webhook target, restore.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{InPortal, Kind, RecordPath};
use super::{actor_from_optional_token, parse_body};
use crate::config::Faults;
use crate::error::ApiError;
use crate::portal::Portal;
use crate::state::{SandboxState, lock};
use crate::stats::Stats;
use crate::store::not_found;
use crate::time::now_ms;

type Shared = State<Arc<SandboxState>>;

pub async fn read_faults(State(state): Shared) -> Json<Faults> {
    Json(state.faults())
}

/// Replaces the faults: fields left out are off, so `{}` resets them all.
pub async fn set_faults(State(state): Shared, body: Bytes) -> Result<Json<Faults>, ApiError> {
    let faults: Faults = parse_body(&body)?;
    faults.validate().map_err(ApiError::validation)?;
    state.set_faults(faults.clone());
    Ok(Json(faults))
}

/// The counters; record counts are the home portal's, or `?portal_id=`'s.
pub async fn stats(State(state): Shared, InPortal(portal): InPortal) -> Json<Stats> {
    Json(state.stats_of(Some(&portal)))
}

/// One portal as `/_sandbox/portals` shows it.
#[derive(Debug, serde::Serialize)]
pub struct PortalView {
    portal_id: u64,
    home: bool,
    rate_limit_max: u32,
    rate_limit_interval_ms: u64,
    companies: u64,
    contacts: u64,
    notes: u64,
    calls: u64,
    tickets: u64,
    enterprise: bool,
}

fn view(state: &SandboxState, portal: &Portal) -> PortalView {
    let counts = portal.counts();
    let limits = portal.limit_settings();
    PortalView {
        portal_id: portal.portal_id,
        home: portal.portal_id == state.portal_id,
        rate_limit_max: limits.max,
        rate_limit_interval_ms: limits.interval_ms,
        companies: counts.companies,
        contacts: counts.contacts,
        notes: counts.notes,
        calls: counts.calls,
        tickets: counts.tickets,
        enterprise: portal.is_enterprise(),
    }
}

pub async fn list_portals(State(state): Shared) -> Json<Vec<PortalView>> {
    Json(
        state
            .portals()
            .iter()
            .map(|portal| view(&state, portal))
            .collect(),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPortal {
    portal_id: u64,
    rate_limit_max: Option<u32>,
    /// Sets whether the portal has Enterprise (custom events), new or existing.
    enterprise: Option<bool>,
}

/// Adds a portal (an account the app can be installed in); an existing one is left as is,
/// but for `enterprise` when given.
pub async fn create_portal(
    State(state): Shared,
    body: Bytes,
) -> Result<Json<PortalView>, ApiError> {
    let input: NewPortal = parse_body(&body)?;
    let portal = state
        .portal_or_create(input.portal_id, input.rate_limit_max)
        .map_err(|refused| ApiError::validation(refused.to_string()))?;
    if let Some(enterprise) = input.enterprise {
        portal.set_enterprise(enterprise);
    }
    Ok(Json(view(&state, &portal)))
}

pub async fn reset(State(state): Shared) -> StatusCode {
    state.reset();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
pub struct WebhookTarget {
    url: Option<String>,
}

pub async fn set_webhook_target(
    State(state): Shared,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let input: WebhookTarget = parse_body(&body)?;
    if let Some(url) = &input.url
        && url::Url::parse(url).is_err()
    {
        return Err(ApiError::validation(format!("Invalid webhook URL {url:?}")));
    }
    state.set_webhook_target(input.url.clone());
    Ok(Json(json!({ "url": input.url })))
}

pub async fn read_webhook_target(State(state): Shared) -> Json<Value> {
    Json(json!({ "url": state.webhook_target() }))
}

pub async fn restore(
    State(state): Shared,
    InPortal(portal): InPortal,
    Kind(kind): Kind,
    headers: HeaderMap,
    Path(RecordPath {
        object_id: company_id,
    }): Path<RecordPath>,
) -> Result<Json<Value>, ApiError> {
    let actor = actor_from_optional_token(&state, &headers);
    let id = company_id
        .trim()
        .parse::<u64>()
        .map_err(|_| not_found(kind, &company_id))?;
    let mut store = lock(portal.store(kind));
    store.restore(id, actor, now_ms())?;
    let company = store
        .record(id)
        .ok_or_else(|| not_found(kind, &company_id))?;
    Ok(Json(store.render_written(company)))
}

/// The portal's validation rules for one object type: `{"required": ["industry"]}`; for
/// deals also `"closed_won_requires_close_date": true` (HubSpot's conditional rule).
#[derive(Debug, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationRules {
    #[serde(default)]
    required: Vec<String>,
    #[serde(default)]
    closed_won_requires_close_date: bool,
}

impl ValidationRules {
    fn of(store: &crate::store::Store) -> Self {
        Self {
            required: store.required_properties.iter().cloned().collect(),
            closed_won_requires_close_date: store.closed_won_requires_close_date,
        }
    }
}

/// Replaces the rules (`{}` lifts them); enforced on writes through the dated paths.
pub async fn set_validation_rules(
    InPortal(portal): InPortal,
    Kind(kind): Kind,
    body: Bytes,
) -> Result<Json<ValidationRules>, ApiError> {
    let rules: ValidationRules = parse_body(&body)?;
    let mut store = lock(portal.store(kind));
    if let Some(unknown) = rules
        .required
        .iter()
        .find(|name| !store.properties.contains_key(name.as_str()))
    {
        return Err(crate::store::property_not_found(unknown));
    }
    if rules.closed_won_requires_close_date && store.pipelines.is_none() {
        return Err(ApiError::validation(format!(
            "closed_won_requires_close_date applies to deals, not {}",
            kind.name()
        )));
    }
    store.required_properties = rules.required.iter().cloned().collect();
    store.closed_won_requires_close_date = rules.closed_won_requires_close_date;
    Ok(Json(ValidationRules::of(&store)))
}

pub async fn read_validation_rules(
    InPortal(portal): InPortal,
    Kind(kind): Kind,
) -> Json<ValidationRules> {
    Json(ValidationRules::of(&lock(portal.store(kind))))
}
