//! HubSpot installations: connect a portal through OAuth, see the installations, disconnect.
//!
//! Who may do what (DESIGN §7, guarantee 8): WARP admins manage the home portal and may see and
//! disconnect any installation; a token whose `customer_id` claim scopes it to one customer
//! connects, sees and disconnects only that customer's portal. Tokens never leave the server:
//! no route answers one.

use crate::ApiState;
use crate::auth::{Principal, Role};
use crate::json::json;
use crate::problem::Problem;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;
use warp_installations::{ConnectError, Connector};
use warp_store::StoreError;
use warp_store::installations::{
    self, Installation, InstallationRole, InstallationStatus, TokenSource,
};
use warp_store::journal_cursors::{self, JournalCursor};

#[derive(OpenApi)]
#[openapi(
    paths(initiate, callback, list_installations, get_installation, change_installation, delete_installation),
    components(schemas(ConnectStarted, InstallationResponse, InstallationList, DisconnectResponse, InstallationChange, JournalBackstop)),
    tags((name = "hubspot", description = "HubSpot installations (OAuth)"))
)]
pub(crate) struct Doc;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/hubspot/oauth/initiate", get(initiate))
        .route("/v1/hubspot/oauth/callback", get(callback))
        .route("/v1/hubspot/installations", get(list_installations))
        .route(
            "/v1/hubspot/installations/{portal_id}",
            get(get_installation)
                .patch(change_installation)
                .delete(delete_installation),
        )
}

/// Where to send the person who connects.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectStarted {
    /// HubSpot's consent page, with this connect's state and PKCE challenge.
    pub authorize_url: String,
    /// The link works once, until then.
    pub expires_at: DateTime<Utc>,
}

/// An installation as status shows it (never its tokens).
#[derive(Debug, Serialize, ToSchema)]
pub struct InstallationResponse {
    pub portal_id: i64,
    /// `home` (WARP's own CRM) or `customer` (a WARP customer's HubSpot).
    pub role: String,
    pub customer_id: Option<Uuid>,
    /// `static` (a configured token) or `oauth`.
    pub token_source: String,
    /// `active`, `needs_reconnect` or `revoked`.
    pub status: String,
    /// True when nothing reaches this portal until someone connects it again.
    pub reconnect_needed: bool,
    pub scopes: Vec<String>,
    pub hub_domain: Option<String>,
    pub connected_at: DateTime<Utc>,
    pub connected_by: Option<String>,
    pub access_token_expires_at: Option<DateTime<Utc>>,
    pub last_refreshed_at: Option<DateTime<Utc>>,
    pub refresh_count: i64,
    pub last_error: Option<String>,
    /// This portal's request budget per 10 s; null: the deployment's default
    /// (`HUBSPOT_INSTALLED_RATE_LIMIT_MAX` for customer portals, `HUBSPOT_RATE_LIMIT_MAX` home).
    pub rate_limit_max: Option<i32>,
    /// The Webhooks Journal backstop of this installation; null when it was never turned on.
    pub journal_backstop: Option<JournalBackstop>,
}

/// The Webhooks Journal backstop as status shows it: on or off, and how far its poller read.
#[derive(Debug, Serialize, ToSchema)]
pub struct JournalBackstop {
    pub enabled: bool,
    /// WARP's journal subscriptions exist in HubSpot (made by the first poll).
    pub subscribed: bool,
    /// The last journal entry read; null: the next poll starts at the earliest entry.
    pub offset: Option<Uuid>,
    /// When a poll last reached the journal's end.
    pub caught_up_at: Option<DateTime<Utc>>,
    pub polled_at: Option<DateTime<Utc>>,
    /// Seconds since a poll last caught up (since it was turned on, before the first): the
    /// `JournalOffsetAge` metric, alarmed long before HubSpot's 3 days run out.
    pub offset_age_seconds: i64,
    pub entries_read: i64,
    pub events_read: i64,
    /// Events the journal had that push had not delivered.
    pub events_recovered: i64,
    /// Times the stored offset had expired and the poller started again from the earliest.
    pub restarts: i64,
    pub last_error: Option<String>,
}

impl From<JournalCursor> for JournalBackstop {
    fn from(cursor: JournalCursor) -> Self {
        JournalBackstop {
            enabled: cursor.enabled,
            subscribed: cursor.subscribed_at.is_some(),
            offset: cursor.offset,
            caught_up_at: cursor.caught_up_at,
            polled_at: cursor.polled_at,
            offset_age_seconds: cursor.offset_age_seconds,
            entries_read: cursor.entries_read,
            events_read: cursor.events_read,
            events_recovered: cursor.events_recovered,
            restarts: cursor.restarts,
            last_error: cursor.last_error,
        }
    }
}

/// An installation with its backstop's status, as every route answers it.
async fn response_of(
    database: &warp_store::Database,
    installation: Installation,
) -> Result<InstallationResponse, StoreError> {
    let client = database.client().await?;
    let cursor = journal_cursors::get(&**client, installation.portal_id).await?;
    let mut response = InstallationResponse::from(installation);
    response.journal_backstop = cursor.map(JournalBackstop::from);
    Ok(response)
}

impl From<Installation> for InstallationResponse {
    fn from(installation: Installation) -> Self {
        InstallationResponse {
            portal_id: installation.portal_id,
            role: installation.role.as_str().to_owned(),
            customer_id: installation.role.customer_id(),
            token_source: installation.token_source.as_str().to_owned(),
            status: installation.status.as_str().to_owned(),
            reconnect_needed: installation.status != InstallationStatus::Active,
            scopes: installation.scopes,
            hub_domain: installation.hub_domain,
            connected_at: installation.connected_at,
            connected_by: installation.connected_by,
            access_token_expires_at: installation.access_token_expires_at,
            last_refreshed_at: installation.last_refreshed_at,
            refresh_count: installation.refresh_count,
            last_error: installation.last_error,
            rate_limit_max: installation.rate_limit_max,
            journal_backstop: None,
        }
    }
}

/// What an admin may change on an installation.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[allow(dead_code)] // documents the body, which `change_installation` reads member by member
pub struct InstallationChange {
    /// Requests per 10 s HubSpot grants this portal: 100, 110, 190 or 250; null for the
    /// deployment's default.
    #[schema(schema_with = rate_limit_schema)]
    rate_limit_max: Option<i32>,
    /// Turns the Webhooks Journal backstop on or off (home portal, with WARP's HubSpot app).
    #[schema(nullable = false)]
    journal_backstop: Option<bool>,
}

/// HubSpot's budgets per 10 s, or null: exactly what `change_installation` takes.
fn rate_limit_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            utoipa::openapi::schema::Type::Integer,
            utoipa::openapi::schema::Type::Null,
        ]))
        .enum_values(Some([
            serde_json::json!(100),
            serde_json::json!(110),
            serde_json::json!(190),
            serde_json::json!(250),
            serde_json::Value::Null,
        ]))
        .description(Some(
            "Requests per 10 s HubSpot grants this portal: 100, 110, 190 or 250; null for the deployment's default",
        ))
        .build()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InstallationList {
    pub items: Vec<InstallationResponse>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DisconnectResponse {
    pub portal_id: i64,
    pub status: String,
    /// HubSpot revoked the refresh token.
    pub token_revoked: bool,
    /// The app was removed from the portal (`?uninstall=true`).
    pub uninstalled: bool,
}

fn connector(state: &ApiState) -> Result<&Connector, Problem> {
    state.connector().ok_or_else(|| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no HubSpot app is configured for this deployment (HUBSPOT_CLIENT_ID)",
        )
    })
}

/// The query's pairs, refusing names other than `known`.
fn query_pairs(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    known: &[&str],
) -> Result<Vec<(String, String)>, Problem> {
    let Query(pairs) = query
        .map_err(|_| Problem::new(StatusCode::BAD_REQUEST, "the query string is malformed"))?;
    if let Some((name, _)) = pairs
        .iter()
        .find(|(name, _)| !known.contains(&name.as_str()))
    {
        return Err(Problem::invalid_field(name, "is not a known parameter"));
    }
    Ok(pairs)
}

fn flag(pairs: &[(String, String)], name: &str) -> Result<bool, Problem> {
    match pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
    {
        None | Some("0" | "false") => Ok(false),
        Some("1" | "true") => Ok(true),
        Some(_) => Err(Problem::invalid_field(name, "must be true, false, 1 or 0")),
    }
}

/// Whether `principal` may see and manage `installation`.
fn may_manage(principal: &Principal, installation: &Installation) -> bool {
    match (principal.customer_scope, installation.role) {
        (Some(own), InstallationRole::Customer(id)) => own == id,
        (Some(_), InstallationRole::Home) => false,
        (None, _) => principal.role.is_some_and(|role| role >= Role::Admin),
    }
}

/// GET /v1/hubspot/oauth/initiate
#[utoipa::path(
    get,
    path = "/v1/hubspot/oauth/initiate",
    tag = "hubspot",
    params(
        ("customer_id" = Option<Uuid>, Query, description = "Connect this customer's own HubSpot (a customer-scoped token may name only its customer); absent: the home portal (admins)"),
        ("redirect" = Option<bool>, Query, description = "true: answer 302 to HubSpot's consent page instead of JSON"),
    ),
    responses(
        (status = 200, description = "HubSpot's consent page for this connect", body = ConnectStarted),
        (status = 302, description = "Redirect to HubSpot's consent page (`redirect=true`)"),
        (status = 400, description = "Malformed query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The admin role is needed (or a token scoped to the customer named)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid parameter (named)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No HubSpot app configured, or the database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn initiate(
    State(state): State<ApiState>,
    principal: Principal,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Problem> {
    let pairs = query_pairs(query, &["customer_id", "redirect"])?;
    let redirect = flag(&pairs, "redirect")?;
    let named = match pairs.iter().find(|(n, _)| n == "customer_id") {
        Some((_, value)) => Some(
            crate::ids::query_id("customer_id", value)
                .map_err(|error| Problem::invalid(vec![error]))?,
        ),
        None => None,
    };
    let role = match (principal.customer_scope, named) {
        (Some(own), None) => InstallationRole::Customer(own),
        (Some(own), Some(named)) if own == named => InstallationRole::Customer(own),
        (Some(_), Some(_)) => {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "this token may connect only its own customer's HubSpot",
            ));
        }
        (None, named) => {
            principal.require(Role::Admin)?;
            named.map_or(InstallationRole::Home, InstallationRole::Customer)
        }
    };
    if let InstallationRole::Customer(id) = role {
        // 404 for a customer that does not exist, before anything is recorded.
        state.customers().get(id).await?;
    }
    let connector = connector(&state)?;
    let started = connector
        .start(&principal.subject, role)
        .await
        .map_err(connect_problem)?;
    if redirect {
        return Ok((
            StatusCode::FOUND,
            [(header::LOCATION, started.authorize_url.to_string())],
        )
            .into_response());
    }
    Ok(json(
        StatusCode::OK,
        &ConnectStarted {
            authorize_url: started.authorize_url.to_string(),
            expires_at: started.expires_at,
        },
    ))
}

/// GET /v1/hubspot/oauth/callback
#[utoipa::path(
    get,
    path = "/v1/hubspot/oauth/callback",
    tag = "hubspot",
    params(
        ("state" = String, Query, description = "The state this connect was started with", min_length = 1),
        ("code" = Option<String>, Query, description = "HubSpot's authorization code (approved)", min_length = 1),
        ("error" = Option<String>, Query, description = "HubSpot's error (declined)", min_length = 1),
        ("error_description" = Option<String>, Query, description = "HubSpot's explanation", min_length = 1),
    ),
    responses(
        (status = 200, description = "The portal is connected (a browser, asking for HTML, gets a page that tells the connect page)", body = InstallationResponse),
        (status = 400, description = "Invalid, used or expired state; consent declined; code refused", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The portal is connected for another owner", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No state, or an unknown parameter (named)", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "HubSpot failed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No HubSpot app configured, or the database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn callback(
    State(state): State<ApiState>,
    headers: axum::http::HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Problem> {
    let outcome = finish_connect(&state, query).await;
    if !crate::connect_page::wants_html(&headers) {
        return outcome
            .map(|installation| json(StatusCode::OK, &InstallationResponse::from(installation)));
    }
    // A browser (the connect popup): a page that tells the connect page what happened.
    Ok(match outcome {
        Ok(installation) => crate::connect_page::callback_page(
            StatusCode::OK,
            true,
            "HubSpot connected successfully!",
            Some(installation.portal_id),
        ),
        Err(problem) => crate::connect_page::callback_page(
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::BAD_REQUEST),
            false,
            &problem.detail,
            None,
        ),
    })
}

/// The callback's work: check the state, trade the code, record the installation.
async fn finish_connect(
    state: &ApiState,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Installation, Problem> {
    // HubSpot's redirect: no bearer token, the signed single-use state is the proof.
    let pairs = query_pairs(query, &["state", "code", "error", "error_description"])?;
    let value = |name: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let state_param =
        value("state").ok_or_else(|| Problem::invalid_field("state", "is required"))?;
    let code = value("code").filter(|_| value("error").is_none());
    connector(state)?
        .finish(state_param, code)
        .await
        .map_err(connect_problem)
}

/// GET /v1/hubspot/installations
#[utoipa::path(
    get,
    path = "/v1/hubspot/installations",
    tag = "hubspot",
    responses(
        (status = 200, description = "The installations the caller may see (a customer-scoped token: its own)", body = InstallationList),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The admin role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn list_installations(
    State(state): State<ApiState>,
    principal: Principal,
) -> Result<Response, Problem> {
    if principal.customer_scope.is_none() {
        principal.require(Role::Admin)?;
    }
    let listed = {
        let client = state.database.client().await.map_err(StoreError::from)?;
        installations::list(&**client).await?
    };
    let mut items = Vec::new();
    for installation in listed {
        if may_manage(&principal, &installation) {
            items.push(response_of(&state.database, installation).await?);
        }
    }
    Ok(json(StatusCode::OK, &InstallationList { items }))
}

/// The installation `portal_id` names, if the caller may see it (404 otherwise: a scoped
/// token learns nothing of other portals).
async fn visible(
    state: &ApiState,
    principal: &Principal,
    portal_id: &str,
) -> Result<Installation, Problem> {
    if principal.customer_scope.is_none() {
        principal.require(Role::Admin)?;
    }
    // Like every id in a path: one that cannot name a portal names none.
    let portal_id = portal_id
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| Problem::from(StoreError::NotFound))?;
    let client = state.database.client().await.map_err(StoreError::from)?;
    installations::get(&**client, portal_id)
        .await?
        .filter(|installation| may_manage(principal, installation))
        .ok_or_else(|| Problem::from(StoreError::NotFound))
}

/// GET /v1/hubspot/installations/{portal_id}
#[utoipa::path(
    get,
    path = "/v1/hubspot/installations/{portal_id}",
    tag = "hubspot",
    params(("portal_id" = i64, Path, description = "The HubSpot portal (hub) id", minimum = 1)),
    responses(
        (status = 200, description = "Status, scopes, expiry, last refresh, last error", body = InstallationResponse),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The admin role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such installation (or not the caller's)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn get_installation(
    State(state): State<ApiState>,
    principal: Principal,
    Path(portal_id): Path<String>,
) -> Result<Response, Problem> {
    let installation = visible(&state, &principal, &portal_id).await?;
    Ok(json(
        StatusCode::OK,
        &response_of(&state.database, installation).await?,
    ))
}

/// PATCH /v1/hubspot/installations/{portal_id}
#[utoipa::path(
    patch,
    path = "/v1/hubspot/installations/{portal_id}",
    tag = "hubspot",
    params(("portal_id" = i64, Path, description = "The HubSpot portal (hub) id", minimum = 1)),
    request_body(content = InstallationChange, content_type = "application/merge-patch+json",
        description = "A merge: the members named change (application/json is taken too)"),
    responses(
        (status = 200, description = "Changed; every process uses the new budget within 5 minutes", body = InstallationResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The admin role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such installation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The journal backstop cannot be on here: a customer portal, or no HubSpot app configured (the field is named)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A member at fault (named)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn change_installation(
    State(state): State<ApiState>,
    principal: Principal,
    Path(portal_id): Path<String>,
    headers: axum::http::HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, Problem> {
    // Budgets are WARP's operations, not a customer's: admins only.
    principal.require(Role::Admin)?;
    let installation = visible(&state, &principal, &portal_id).await?;
    crate::body::require_json(&headers)?;
    let value = crate::body::json(body)?;
    let change = parse_change(&value)?;
    if change.journal_backstop == Some(true) {
        journal_backstop_allowed(&state, &installation)?;
    }
    // Both members or neither: one transaction.
    let mut client = state.database.client().await.map_err(StoreError::from)?;
    let tx = client.transaction().await.map_err(StoreError::from)?;
    if let Some(rate_limit_max) = change.rate_limit_max
        && !installations::set_rate_limit(&*tx, installation.portal_id, rate_limit_max).await?
    {
        return Err(StoreError::NotFound.into());
    }
    if let Some(enabled) = change.journal_backstop {
        journal_cursors::set_enabled(&*tx, installation.portal_id, enabled, &principal.subject)
            .await?;
        tracing::info!(portal_id = installation.portal_id, enabled, by = %principal.subject, "webhooks journal backstop switched");
    }
    let changed = installations::get(&*tx, installation.portal_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    tx.commit().await.map_err(StoreError::from)?;
    drop(client);
    Ok(json(
        StatusCode::OK,
        &response_of(&state.database, changed).await?,
    ))
}

/// 409 naming `journal_backstop` when it cannot be on for this installation: only the home
/// portal's events are applied to WARP, and the journal takes WARP's HubSpot app's own token.
fn journal_backstop_allowed(state: &ApiState, installation: &Installation) -> Result<(), Problem> {
    let refused = |why: &str| {
        Err(
            Problem::new(StatusCode::CONFLICT, why.to_owned()).with_fields(vec![
                warp_domain::customer::FieldError::new("journal_backstop", why),
            ]),
        )
    };
    if installation.role != InstallationRole::Home {
        return refused(
            "only the home portal's changes are synced into WARP: a customer portal's journal has nothing for it",
        );
    }
    if state.connector().is_none() {
        return refused(
            "the journal is read with WARP's HubSpot app's own token: configure the app (HUBSPOT_CLIENT_ID) first",
        );
    }
    Ok(())
}

/// What an [`InstallationChange`] asks for: `rate_limit_max` `Some(None)` is back to the
/// default; `None` members are left as they are (a merge naming nothing changes nothing).
#[derive(Debug, Default, PartialEq, Eq)]
struct ChangeRequest {
    rate_limit_max: Option<Option<i32>>,
    journal_backstop: Option<bool>,
}

/// Reads an [`InstallationChange`]; the member at fault is named.
fn parse_change(body: &serde_json::Value) -> Result<ChangeRequest, Problem> {
    let Some(object) = body.as_object() else {
        return Err(Problem::invalid_field("body", "must be a JSON object"));
    };
    if let Some(unknown) = object
        .keys()
        .find(|key| !matches!(key.as_str(), "rate_limit_max" | "journal_backstop"))
    {
        return Err(Problem::invalid_field(unknown, "is not a known member"));
    }
    let journal_backstop = match object.get("journal_backstop") {
        None => None,
        Some(serde_json::Value::Bool(enabled)) => Some(*enabled),
        Some(_) => {
            return Err(Problem::invalid_field(
                "journal_backstop",
                "must be true or false",
            ));
        }
    };
    Ok(ChangeRequest {
        rate_limit_max: parse_rate_limit(object)?,
        journal_backstop,
    })
}

/// The budget a change asks for.
fn parse_rate_limit(
    object: &serde_json::Map<String, serde_json::Value>,
) -> Result<Option<Option<i32>>, Problem> {
    let allowed = warp_hubspot::config::ALLOWED_RATE_LIMIT_MAX;
    match object.get("rate_limit_max") {
        None => Ok(None),
        Some(serde_json::Value::Null) => Ok(Some(None)),
        Some(value) => value
            .as_u64()
            .and_then(|max| u32::try_from(max).ok())
            .filter(|max| allowed.contains(max))
            .and_then(|max| i32::try_from(max).ok())
            .map(|max| Some(Some(max)))
            .ok_or_else(|| {
                Problem::invalid_field(
                    "rate_limit_max",
                    &format!("must be one of {allowed:?} or null"),
                )
            }),
    }
}

/// DELETE /v1/hubspot/installations/{portal_id}
#[utoipa::path(
    delete,
    path = "/v1/hubspot/installations/{portal_id}",
    tag = "hubspot",
    params(
        ("portal_id" = i64, Path, description = "The HubSpot portal (hub) id", minimum = 1),
        ("uninstall" = Option<bool>, Query, description = "Also remove the app from the portal"),
    ),
    responses(
        (status = 200, description = "Disconnected: revoked in WARP, its queue waits, every record and log kept", body = DisconnectResponse),
        (status = 400, description = "Malformed query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The admin role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such installation (or not the caller's)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A static installation: its token is the deployment's configuration", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid parameter (named)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No HubSpot app configured, or the database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn delete_installation(
    State(state): State<ApiState>,
    principal: Principal,
    Path(portal_id): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Problem> {
    let pairs = query_pairs(query, &["uninstall"])?;
    let uninstall = flag(&pairs, "uninstall")?;
    let installation = visible(&state, &principal, &portal_id).await?;
    if installation.token_source == TokenSource::Static {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "this portal is called with the deployment's static token (HUBSPOT_TOKEN); \
             connect it through OAuth to manage it here",
        ));
    }
    let outcome = connector(&state)?
        .disconnect(installation.portal_id, &principal.subject, uninstall)
        .await
        .map_err(connect_problem)?
        .ok_or_else(|| Problem::from(StoreError::NotFound))?;
    Ok(json(
        StatusCode::OK,
        &DisconnectResponse {
            portal_id: installation.portal_id,
            status: InstallationStatus::Revoked.as_str().to_owned(),
            token_revoked: outcome.token_revoked,
            uninstalled: outcome.uninstalled,
        },
    ))
}

fn connect_problem(error: ConnectError) -> Problem {
    match error {
        ConnectError::InvalidState => Problem::new(StatusCode::BAD_REQUEST, error.to_string())
            .with_fields(vec![warp_domain::customer::FieldError::new(
                "state",
                "is not a live connect of this deployment",
            )]),
        ConnectError::Declined | ConnectError::CodeRefused(_) => {
            Problem::new(StatusCode::BAD_REQUEST, error.to_string())
        }
        ConnectError::Conflict(reason) => Problem::new(StatusCode::CONFLICT, reason),
        ConnectError::HubSpotUnavailable(_) => {
            Problem::new(StatusCode::BAD_GATEWAY, error.to_string())
        }
        ConnectError::Misconfigured(_) => {
            tracing::error!(%error, "HubSpot app misconfigured");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the HubSpot app is misconfigured; see the logs",
            )
        }
        ConnectError::Store(error) => Problem::from(error),
    }
}
