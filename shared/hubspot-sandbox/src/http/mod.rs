//! The HTTP face of the sandbox: HubSpot's routes, the gate every API request passes (auth,
//! rate limits, injected faults, stats), and the `/_sandbox` control routes.

mod admin;
mod associations;
mod custom_events;
mod journal;
mod oauth;
mod objects;
mod pipelines;
mod properties;
mod schemas;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{FromRequestParts, MatchedPath, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use rand::Rng as _;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::error::ApiError;
use crate::objects::ObjectKind;
use crate::portal::Portal;
use crate::rate_limit::{Decision, LimitHeaders, Policy};
use crate::state::{SandboxState, lock};
use crate::store::Actor;

/// How long an injected timeout hangs when the client does not give up first.
const INJECTED_HANG: Duration = Duration::from_secs(30);

/// Where HubSpot serves the CRM APIs: v3 (HubSpot's SDKs still call it) and the dated
/// version the WARP client uses.
const OBJECT_PREFIXES: [&str; 2] = ["/crm/v3/objects", "/crm/objects/2026-09"];
const PROPERTY_PREFIXES: [&str; 2] = ["/crm/v3/properties", "/crm/properties/2026-09"];

/// The complete sandbox application.
pub fn router(state: Arc<SandboxState>) -> Router {
    let mut api = Router::new();
    for prefix in OBJECT_PREFIXES {
        let objects = format!("{prefix}/{{object_type}}");
        api = api
            .route(&objects, get(objects::list).post(objects::create))
            .route(&format!("{objects}/search"), post(objects::search))
            .route(&format!("{objects}/merge"), post(objects::merge))
            .route(
                &format!("{objects}/gdpr-delete"),
                post(objects::gdpr_delete),
            )
            .route(&format!("{objects}/batch/read"), post(objects::batch_read))
            .route(
                &format!("{objects}/batch/create"),
                post(objects::batch_create),
            )
            .route(
                &format!("{objects}/batch/update"),
                post(objects::batch_update),
            )
            .route(
                &format!("{objects}/batch/upsert"),
                post(objects::batch_upsert),
            )
            .route(
                &format!("{objects}/batch/archive"),
                post(objects::batch_archive),
            )
            .route(
                &format!("{objects}/{{object_id}}"),
                get(objects::read)
                    .patch(objects::update)
                    .delete(objects::archive),
            );
    }
    for prefix in PROPERTY_PREFIXES {
        let properties_path = format!("{prefix}/{{object_type}}");
        api = api
            .route(
                &properties_path,
                get(properties::list).post(properties::create),
            )
            .route(
                &format!("{properties_path}/groups"),
                get(properties::list_groups).post(properties::create_group),
            )
            .route(
                &format!("{properties_path}/groups/{{group_name}}"),
                get(properties::read_group)
                    .patch(properties::update_group)
                    .delete(properties::delete_group),
            )
            .route(
                &format!("{properties_path}/{{property_name}}"),
                get(properties::read)
                    .patch(properties::update)
                    .delete(properties::delete),
            );
    }
    for prefix in ["/crm/v4/objects", OBJECT_PREFIXES[1]] {
        let record = format!("{prefix}/{{object_type}}/{{object_id}}/associations");
        api = api
            .route(
                &format!("{record}/default/{{to_type}}/{{to_id}}"),
                axum::routing::put(associations::put_default),
            )
            .route(
                &format!("{record}/{{to_type}}/{{to_id}}"),
                axum::routing::put(associations::put_labeled).delete(associations::delete_pair),
            );
    }
    for prefix in ["/crm/v3/pipelines", "/crm/pipelines/2026-09"] {
        let pipelines_path = format!("{prefix}/{{object_type}}");
        api = api
            .route(
                &pipelines_path,
                get(pipelines::list).post(pipelines::create),
            )
            .route(
                &format!("{pipelines_path}/{{pipeline_id}}"),
                get(pipelines::read),
            )
            .route(
                &format!("{pipelines_path}/{{pipeline_id}}/stages"),
                get(pipelines::stages),
            );
    }
    api = api.route(
        "/crm/v4/objects/{object_type}/{object_id}/associations/{to_type}",
        get(associations::list_of),
    );
    // Custom events on the dated paths and v3 (`/events/v3/event-definitions`, `/events/v3/send`,
    // `/events/v3/events` for occurrences).
    for (prefix, occurrences) in [
        (
            "/events/custom/2026-09",
            "/events/event-occurrences/2026-09",
        ),
        ("/events/v3", "/events/v3/events"),
    ] {
        let definitions = format!("{prefix}/event-definitions");
        api = api
            .route(
                &definitions,
                get(custom_events::list_definitions).post(custom_events::create_definition),
            )
            .route(
                &format!("{definitions}/{{event_name}}"),
                get(custom_events::read_definition),
            )
            .route(&format!("{prefix}/send"), post(custom_events::send))
            .route(
                &format!("{prefix}/send/batch"),
                post(custom_events::send_batch),
            )
            .route(occurrences, get(custom_events::occurrences));
    }
    for prefix in [
        "/crm-object-schemas/2026-09/schemas",
        "/crm-object-schemas/v3/schemas",
        "/crm/v3/schemas",
    ] {
        api = api
            .route(prefix, get(schemas::list).post(schemas::create))
            .route(
                &format!("{prefix}/{{object_type}}"),
                get(schemas::read).delete(schemas::archive),
            )
            .route(
                &format!("{prefix}/{{object_type}}/associations"),
                post(schemas::create_association),
            );
    }
    for path in [
        "/crm/limits/2026-09/custom-object-types",
        "/crm/limits/2026-03/custom-object-types",
        "/crm/v3/limits/custom-object-types",
    ] {
        api = api.route(path, get(schemas::limits));
    }
    for prefix in ["/crm/v4/associations", "/crm/associations/2026-09"] {
        let pair = format!("{prefix}/{{object_type}}/{{to_type}}/batch");
        api = api
            .route(&format!("{pair}/create"), post(associations::batch_create))
            .route(&format!("{pair}/read"), post(associations::batch_read))
            .route(
                &format!("{pair}/archive"),
                post(associations::batch_archive),
            )
            .route(
                &format!("{pair}/associate/default"),
                post(associations::batch_default),
            );
    }
    let api = api
        .route(
            "/appinstalls/2026-09/external-install",
            axum::routing::delete(oauth::uninstall),
        )
        .route_layer(middleware::from_fn_with_state(Arc::clone(&state), gate));
    // The OAuth server authenticates by client secret or by the token itself, not the gate.
    let oauth_routes = Router::new()
        .route(
            "/oauth/authorize",
            get(oauth::authorize_page).post(oauth::authorize_decision),
        )
        .route("/oauth/2026-09/token", post(oauth::token_dated))
        .route("/oauth/v1/token", post(oauth::token_v1))
        .route("/oauth/2026-09/token/introspect", post(oauth::introspect))
        .route("/oauth/2026-09/token/revoke", post(oauth::revoke_dated))
        .route(
            "/oauth/v1/access-tokens/{token}",
            get(oauth::access_token_info),
        )
        .route(
            "/oauth/v1/refresh-tokens/{token}",
            axum::routing::delete(oauth::revoke_v1),
        );
    // The journal takes the app's client-credentials token, not a portal's: its own check.
    let journal_base = "/webhooks-journal/{journal}/2026-03";
    let subscriptions = "/webhooks-journal/subscriptions/2026-03";
    let journal_routes = Router::new()
        .route(
            &format!("{journal_base}/batch/{{edge}}/{{count}}"),
            get(journal::batch_edge),
        )
        .route(
            &format!("{journal_base}/batch/{{offset}}/next/{{count}}"),
            get(journal::batch_next),
        )
        .route(
            &format!("{journal_base}/batch/read"),
            post(journal::batch_read),
        )
        .route(&format!("{journal_base}/{{edge}}"), get(journal::edge))
        .route(
            &format!("{journal_base}/offset/{{offset}}/next"),
            get(journal::next),
        )
        .route(
            subscriptions,
            get(journal::list_subscriptions).post(journal::upsert_subscription),
        )
        .route(
            &format!("{subscriptions}/{{id}}"),
            get(journal::read_subscription).delete(journal::delete_subscription),
        )
        .route(
            &format!("{subscriptions}/portals/{{portal_id}}"),
            axum::routing::delete(journal::delete_portal_subscriptions),
        );
    let control = Router::new()
        .route("/_sandbox/journal", get(journal::summary))
        .route("/_sandbox/journal/expire", post(journal::expire))
        .route("/_sandbox/journal/files/{offset}", get(journal::file))
        .route(
            "/_sandbox/oauth",
            get(oauth::read_control).post(oauth::set_control),
        )
        .route("/_sandbox/oauth/uninstall", post(oauth::uninstall_from_ui))
        .route(
            "/_sandbox/faults",
            get(admin::read_faults).post(admin::set_faults),
        )
        .route("/_sandbox/stats", get(admin::stats))
        .route(
            "/_sandbox/portals",
            get(admin::list_portals).post(admin::create_portal),
        )
        .route("/_sandbox/reset", post(admin::reset))
        .route(
            "/_sandbox/webhook-target",
            axum::routing::put(admin::set_webhook_target).get(admin::read_webhook_target),
        )
        .route(
            "/_sandbox/{object_type}/{object_id}/restore",
            post(admin::restore),
        )
        .route(
            "/_sandbox/validation-rules/{object_type}",
            axum::routing::put(admin::set_validation_rules).get(admin::read_validation_rules),
        );
    api.merge(oauth_routes)
        .merge(journal_routes)
        .merge(control)
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// The object type a route's `{object_type}` names; HubSpot's 400 when it names none.
pub(crate) struct Kind(pub ObjectKind);

impl<S: Send + Sync> FromRequestParts<S> for Kind {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::validation("Invalid path parameters"))?;
        let name = params.get("object_type").map_or("", String::as_str);
        object_kind(parts, name).map(Kind)
    }
}

/// The object type `name` names for the request's portal (custom types are the portal's own);
/// HubSpot's 400 when it names none.
pub(crate) fn object_kind(parts: &Parts, name: &str) -> Result<ObjectKind, ApiError> {
    let kind = match parts.extensions.get::<InPortal>() {
        Some(InPortal(portal)) => portal.object_kind(name),
        None => ObjectKind::from_path(name).filter(|kind| !kind.is_custom()),
    };
    kind.ok_or_else(|| ApiError::validation(format!("Unable to infer object type from: {name}")))
}

/// Whether a write is judged by the portal's validation rules: HubSpot enforces them on the
/// dated paths (2026-09), not on v3.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PortalRules {
    enforced: bool,
}

impl PortalRules {
    pub(crate) fn check(
        self,
        store: &crate::store::Store,
        values: &crate::store::PropertyValues,
        existing: Option<u64>,
    ) -> Result<(), ApiError> {
        if self.enforced {
            store.check_portal_rules(values, existing)
        } else {
            Ok(())
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PortalRules {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let dated = OBJECT_PREFIXES[1];
        Ok(PortalRules {
            enforced: parts.uri.path().starts_with(dated),
        })
    }
}

/// The portal a request works on: the calling token's (set by the gate), or on a `/_sandbox`
/// route the one `?portal_id=` names (the home portal without it).
#[derive(Clone, Debug)]
pub(crate) struct InPortal(pub Arc<Portal>);

impl FromRequestParts<Arc<SandboxState>> for InPortal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<SandboxState>,
    ) -> Result<Self, ApiError> {
        if let Some(portal) = parts.extensions.get::<InPortal>() {
            return Ok(portal.clone());
        }
        let query = QueryParams::parse(parts.uri.query());
        match query.get("portal_id") {
            None => Ok(InPortal(Arc::clone(state.home()))),
            Some(text) => text
                .parse::<u64>()
                .ok()
                .and_then(|id| state.portal(id))
                .map(InPortal)
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::NOT_FOUND,
                        "OBJECT_NOT_FOUND",
                        format!("No portal {text:?} in this sandbox"),
                    )
                }),
        }
    }
}

/// `{object_id}` of a record route.
#[derive(Deserialize)]
pub(crate) struct RecordPath {
    pub object_id: String,
}

/// `{property_name}` of a property route.
#[derive(Deserialize)]
pub(crate) struct PropertyPath {
    pub property_name: String,
}

/// `{group_name}` of a property group route.
#[derive(Deserialize)]
pub(crate) struct GroupPath {
    pub group_name: String,
}

/// The route a request counts under in the stats: its template with the object type filled
/// in, so companies and contacts are told apart (`POST /crm/v3/objects/contacts/batch/upsert`).
fn stats_route(template: &str, path: &str) -> String {
    if !template.contains("{object_type}") {
        return template.to_owned();
    }
    template
        .split('/')
        .zip(path.split('/'))
        .map(|(template_part, path_part)| {
            if template_part == "{object_type}" {
                path_part
            } else {
                template_part
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

async fn unknown_route(State(state): State<Arc<SandboxState>>, request: Request) -> ApiError {
    let path = request.uri().path();
    if !path.starts_with("/_sandbox/")
        && matches!(
            caller(&state, request.headers()),
            Caller::Invalid | Caller::Missing | Caller::Expired
        )
    {
        return ApiError::unauthorized();
    }
    ApiError::route_not_found(request.method().as_str(), path)
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "VALIDATION_ERROR",
        format!(
            "HTTP method {} is not supported by {}",
            request.method(),
            request.uri().path()
        ),
    )
}

/// Who is calling, by bearer token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    /// The integration, calling this portal (the home one for the static tokens); `read_only`
    /// for the token granted read scopes only.
    App {
        portal: u64,
        read_only: bool,
    },
    User,
    /// An OAuth access token this sandbox issued, past its expiry.
    Expired,
    Invalid,
    Missing,
}

impl Caller {
    fn label(self) -> &'static str {
        match self {
            Caller::App {
                read_only: false, ..
            } => "app",
            Caller::App {
                read_only: true, ..
            } => "read",
            Caller::User => "user",
            Caller::Expired => "expired",
            Caller::Invalid => "invalid",
            Caller::Missing => "missing",
        }
    }
}

fn caller(state: &SandboxState, headers: &HeaderMap) -> Caller {
    let Some(header) = headers.get(http::header::AUTHORIZATION) else {
        return Caller::Missing;
    };
    let token = header
        .to_str()
        .ok()
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(str::trim);
    match token {
        Some(token) if token == state.app_token => Caller::App {
            portal: state.portal_id,
            read_only: false,
        },
        Some(token) if token == state.read_token => Caller::App {
            portal: state.portal_id,
            read_only: true,
        },
        Some(token) if token == state.user_token => Caller::User,
        Some(token) => match lock(&state.oauth).access_token_state(token, crate::time::now_ms()) {
            crate::oauth::AccessTokenState::Valid(portal) => Caller::App {
                portal,
                read_only: false,
            },
            crate::oauth::AccessTokenState::Expired => Caller::Expired,
            crate::oauth::AccessTokenState::Unknown => Caller::Invalid,
        },
        None => Caller::Invalid,
    }
}

/// Whether a request changes the CRM: any method but GET, except the reads HubSpot serves by
/// POST (searches and batch reads).
fn writes(method: &http::Method, path: &str) -> bool {
    method != http::Method::GET
        && method != http::Method::HEAD
        && !path.ends_with("/search")
        && !path.ends_with("/batch/read")
}

/// Actor of a `/_sandbox` request that may carry a token: the app token acts as the
/// integration, anything else as a person in the UI.
pub(crate) fn actor_from_optional_token(state: &SandboxState, headers: &HeaderMap) -> Actor {
    match caller(state, headers) {
        Caller::App { .. } => Actor::Integration,
        _ => Actor::CrmUi,
    }
}

/// What the fault dice decided for one request.
enum InjectedFault {
    None,
    TooManyRequests,
    ServerError(StatusCode),
    Timeout,
}

async fn gate(
    State(state): State<Arc<SandboxState>>,
    matched: Option<MatchedPath>,
    mut request: Request,
    next: Next,
) -> Response {
    let route = matched.as_ref().map_or_else(
        || request.uri().path().to_owned(),
        |m| stats_route(m.as_str(), request.uri().path()),
    );
    let route_key = format!("{} {route}", request.method());
    let caller = caller(&state, request.headers());
    let portal = match caller {
        Caller::App { portal, .. } => state.portal(portal),
        _ => Some(Arc::clone(state.home())),
    };
    state.record(|stats| {
        if let (Caller::App { .. }, Some(portal)) = (caller, &portal) {
            *stats
                .requests_by_portal
                .entry(portal.portal_id.to_string())
                .or_default() += 1;
        }
        stats.requests_total += 1;
        *stats
            .requests_by_route
            .entry(route_key.clone())
            .or_default() += 1;
        *stats
            .requests_by_token
            .entry(caller.label().to_owned())
            .or_default() += 1;
        *stats
            .requests_by_route_and_token
            .entry(format!("{} {route_key}", caller.label()))
            .or_default() += 1;
    });
    let actor = match caller {
        Caller::App { .. } => Actor::Integration,
        Caller::User => Actor::CrmUi,
        Caller::Expired => return ApiError::expired_token().into_response(),
        Caller::Invalid | Caller::Missing => return ApiError::unauthorized().into_response(),
    };
    // A grant outliving its portal cannot happen (a reset forgets both); answer as HubSpot
    // does for a token whose portal is gone.
    let Some(portal) = portal else {
        return ApiError::unauthorized().into_response();
    };
    if matches!(
        caller,
        Caller::App {
            read_only: true,
            ..
        }
    ) && writes(request.method(), request.uri().path())
    {
        return ApiError::missing_scopes().into_response();
    }
    request.extensions_mut().insert(actor);
    request
        .extensions_mut()
        .insert(InPortal(Arc::clone(&portal)));
    if actor == Actor::CrmUi {
        // A person in the UI: no rate limits, no injected faults.
        return next.run(request).await;
    }

    let is_search = route.ends_with("/search");
    let decision = lock(&portal.limits).check(Instant::now(), is_search);
    let headers = match decision {
        Decision::Allowed(headers) => headers,
        Decision::Limited {
            policy,
            retry_after,
            headers,
        } => {
            state.record(|stats| {
                stats.rate_limited_real += 1;
                *stats
                    .rate_limited_real_by_portal
                    .entry(portal.portal_id.to_string())
                    .or_default() += 1;
            });
            return too_many_requests(policy, retry_after, headers);
        }
    };

    let faults = state.faults();
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    let fault = {
        let mut rng = rand::rng();
        if rng.random_bool(faults.rate_429.clamp(0.0, 1.0)) {
            InjectedFault::TooManyRequests
        } else if rng.random_bool(faults.rate_5xx.clamp(0.0, 1.0)) {
            let statuses = [
                StatusCode::INTERNAL_SERVER_ERROR,
                StatusCode::BAD_GATEWAY,
                StatusCode::SERVICE_UNAVAILABLE,
            ];
            InjectedFault::ServerError(statuses[rng.random_range(0..statuses.len())])
        } else if rng.random_bool(faults.rate_timeout.clamp(0.0, 1.0)) {
            InjectedFault::Timeout
        } else {
            InjectedFault::None
        }
    };
    match fault {
        InjectedFault::None => {}
        InjectedFault::TooManyRequests => {
            state.record(|stats| stats.rate_limited_injected += 1);
            let headers = (!is_search).then(|| LimitHeaders {
                remaining: 0,
                ..lock(&portal.limits).current_headers(Instant::now())
            });
            let interval = Duration::from_millis(
                faults
                    .retry_after_429_ms
                    .unwrap_or_else(|| headers.map_or(1000, |h| h.interval_ms)),
            );
            let policy = if is_search {
                Policy::Secondly
            } else {
                Policy::TenSecondlyRolling
            };
            return too_many_requests(policy, interval, headers);
        }
        InjectedFault::ServerError(status) => {
            state.record(|stats| stats.server_errors_injected += 1);
            let mut response = ApiError::new(
                status,
                "INTERNAL_ERROR",
                "internal error (injected by the HubSpot sandbox); the request was not applied",
            )
            .into_response();
            add_limit_headers(&mut response, headers);
            return response;
        }
        InjectedFault::Timeout => {
            state.record(|stats| stats.timeouts_injected += 1);
            let mut shutdown = state.shutdown.subscribe();
            // If the client disconnects first, hyper drops this future and nothing is applied.
            tokio::select! {
                () = tokio::time::sleep(INJECTED_HANG) => {}
                _ = shutdown.wait_for(|stopped| *stopped) => {}
            }
            return ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "GATEWAY_TIMEOUT",
                "the request timed out (injected by the HubSpot sandbox); it was not applied",
            )
            .into_response();
        }
    }

    let mut response = next.run(request).await;
    add_limit_headers(&mut response, headers);
    response
}

fn add_limit_headers(response: &mut Response, headers: Option<LimitHeaders>) {
    let Some(limits) = headers else {
        return;
    };
    let map = response.headers_mut();
    let values = [
        ("x-hubspot-ratelimit-max", u64::from(limits.max)),
        ("x-hubspot-ratelimit-remaining", u64::from(limits.remaining)),
        (
            "x-hubspot-ratelimit-interval-milliseconds",
            limits.interval_ms,
        ),
        ("x-hubspot-ratelimit-daily", limits.daily),
        (
            "x-hubspot-ratelimit-daily-remaining",
            limits.daily_remaining,
        ),
    ];
    for (name, value) in values {
        map.insert(name, HeaderValue::from(value));
    }
}

fn too_many_requests(
    policy: Policy,
    retry_after: Duration,
    headers: Option<LimitHeaders>,
) -> Response {
    let message = match policy {
        Policy::TenSecondlyRolling => "You have reached your ten_secondly_rolling limit.",
        Policy::Daily => "You have reached your daily limit.",
        Policy::Secondly => "You have reached your secondly limit.",
    };
    let body = json!({
        "status": "error",
        "message": message,
        "errorType": "RATE_LIMIT",
        "correlationId": uuid::Uuid::new_v4().to_string(),
        "policyName": policy.name(),
        "requestId": uuid::Uuid::new_v4().to_string(),
    });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    add_limit_headers(&mut response, headers);
    let seconds = retry_after.as_millis().div_ceil(1000).max(1);
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, value);
    }
    response
}

/// Parses a JSON body into `T`, answering HubSpot's 400 when it does not fit.
pub(crate) fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|error| ApiError::validation(format!("Invalid input JSON: {error}")))
}

/// Query parameters, allowing repeats (`properties=a&properties=b`) and lists (`a,b`).
pub(crate) struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        Self(
            url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .map(|(key, value)| (key.into_owned(), value.into_owned()))
                .collect(),
        )
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.is_empty())
    }

    pub(crate) fn list(&self, name: &str) -> Option<Vec<String>> {
        let mut found = false;
        let values: Vec<String> = self
            .0
            .iter()
            .filter(|(key, _)| key == name)
            .flat_map(|(_, value)| {
                found = true;
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        found.then_some(values)
    }

    /// A page's `limit`: `default` when absent, else a whole number from 1 to `max` (a 400
    /// otherwise).
    pub(crate) fn limit(&self, default: usize, max: usize) -> Result<usize, ApiError> {
        match self.get("limit") {
            None => Ok(default),
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|limit| (1..=max).contains(limit))
                .ok_or_else(|| {
                    ApiError::validation(format!("limit must be between 1 and {max}, got {text:?}"))
                }),
        }
    }

    /// A page's `after` cursor: the id the page starts at, if one was given.
    pub(crate) fn after(&self) -> Result<Option<u64>, ApiError> {
        self.get("after")
            .map(|text| {
                text.parse::<u64>()
                    .map_err(|_| ApiError::validation(format!("Invalid after cursor {text:?}")))
            })
            .transpose()
    }

    /// A boolean parameter, in any case: HubSpot reads `True` as `true`, and its Python SDK
    /// sends Python's spelling (`archived=True`).
    pub(crate) fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.get(name) {
            None => Ok(false),
            Some(text) if text.eq_ignore_ascii_case("true") => Ok(true),
            Some(text) if text.eq_ignore_ascii_case("false") => Ok(false),
            Some(other) => Err(ApiError::validation(format!(
                "Query parameter {name} must be true or false, got {other:?}"
            ))),
        }
    }
}
