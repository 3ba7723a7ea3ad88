//! The Webhooks Journal's routes (2026-03): subscriptions, the global and local journals read
//! from the earliest or latest entry or after an offset, the pre-signed entry files, and the
//! `/_sandbox/journal` controls. Every API route takes the app's client-credentials token with
//! the journal scope it needs (HubSpot's 401 / 403 otherwise); a file link takes no token but
//! its own signature and expiry (403 when either is wrong, as a file store answers).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{QueryParams, parse_body};
use crate::error::ApiError;
use crate::journal::{
    ACTIONS, Entry, LINK_LIFETIME_MS, MAX_BATCH, ReadRefused, SubscriptionRequest,
};
use crate::oauth::AppTokenState;
use crate::state::{SandboxState, lock};
use crate::time::{iso_millis, now_ms};

type Shared = State<Arc<SandboxState>>;

const READ_SCOPE: &str = "developer.webhooks_journal.read";
const SUBSCRIPTIONS_READ_SCOPE: &str = "developer.webhooks_journal.subscriptions.read";
const SUBSCRIPTIONS_WRITE_SCOPE: &str = "developer.webhooks_journal.subscriptions.write";

/// The app token's check: live, and granted `scope` (or, for reading subscriptions, the write
/// scope, which includes it).
fn authorize(state: &SandboxState, headers: &HeaderMap, scopes: &[&str]) -> Result<(), ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or_else(ApiError::unauthorized)?;
    match lock(&state.oauth).app_token_state(token, now_ms()) {
        AppTokenState::Valid(granted) if scopes.iter().any(|s| granted.iter().any(|g| g == s)) => {
            Ok(())
        }
        AppTokenState::Valid(_) => Err(ApiError::missing_scopes()),
        AppTokenState::Expired => Err(ApiError::expired_token()),
        AppTokenState::Unknown => Err(ApiError::unauthorized()),
    }
}

fn count_journal_request(state: &SandboxState, route: &str) {
    state.record(|stats| {
        stats.requests_total += 1;
        *stats.requests_by_route.entry(route.to_owned()).or_default() += 1;
    });
}

/// `{count}`: 1 to 100.
fn parse_count(text: &str) -> Result<usize, ApiError> {
    text.parse::<usize>()
        .ok()
        .filter(|count| (1..=MAX_BATCH).contains(count))
        .ok_or_else(|| ApiError::validation(format!("count must be between 1 and {MAX_BATCH}")))
}

fn parse_offset(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::validation(format!("Invalid offset: {text}")))
}

/// The portal a local journal read is about (`installPortalId`), or every portal for the
/// global journal.
fn portal_filter(local: bool, query: Option<&str>) -> Result<Option<u64>, ApiError> {
    if !local {
        return Ok(None);
    }
    match QueryParams::parse(query).get("installPortalId") {
        None => Ok(None),
        Some(text) => text
            .parse::<u64>()
            .map(Some)
            .map_err(|_| ApiError::validation(format!("Invalid installPortalId: {text}"))),
    }
}

/// `JournalFetchResponse`: the offset and a link to the entry's file.
fn fetch_response(state: &SandboxState, headers: &HeaderMap, entry: &Entry) -> Value {
    let expires_ms = now_ms() + LINK_LIFETIME_MS;
    let signature = lock(&state.journal).link_signature(entry.offset, expires_ms);
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("127.0.0.1");
    json!({
        "currentOffset": entry.offset,
        "expiresAt": iso_millis(expires_ms),
        "url": format!(
            "http://{host}/_sandbox/journal/files/{}?expires={expires_ms}&signature={signature}",
            entry.offset
        ),
    })
}

fn batch_response(state: &SandboxState, headers: &HeaderMap, entries: &[Entry]) -> Response {
    let now = iso_millis(now_ms());
    let results: Vec<Value> = entries
        .iter()
        .map(|entry| fetch_response(state, headers, entry))
        .collect();
    Json(json!({
        "status": "COMPLETE",
        "results": results,
        "startedAt": now,
        "completedAt": now,
    }))
    .into_response()
}

fn unknown_offset(offset: Uuid) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "OBJECT_NOT_FOUND",
        format!("Offset {offset} is not in the journal (expired or never written)"),
    )
}

/// Which journal a route reads: the app's global one or a portal's local one.
#[derive(Clone, Copy)]
enum Scope {
    Global,
    Local,
}

impl Scope {
    fn of(journal: &str) -> Result<Self, ApiError> {
        match journal {
            "journal" => Ok(Scope::Global),
            "journal-local" => Ok(Scope::Local),
            other => Err(ApiError::route_not_found("GET", other)),
        }
    }
}

#[derive(Deserialize)]
pub struct BatchEdgePath {
    journal: String,
    edge: String,
    count: String,
}

/// `GET /webhooks-journal/{journal}/2026-03/batch/{earliest|latest}/{count}`, or, when the
/// edge is an offset, `…/batch/{offset}/next/{count}` is served by [`batch_next`].
pub async fn batch_edge(
    State(state): Shared,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    Path(path): Path<BatchEdgePath>,
) -> Result<Response, ApiError> {
    count_journal_request(
        &state,
        &format!("GET /webhooks-journal/{}/batch/{}", path.journal, path.edge),
    );
    authorize(&state, &headers, &[READ_SCOPE])?;
    let local = matches!(Scope::of(&path.journal)?, Scope::Local);
    let portal = portal_filter(local, query.as_deref())?;
    let count = parse_count(&path.count)?;
    let entries: Vec<Entry> = {
        let journal = lock(&state.journal);
        match path.edge.as_str() {
            "earliest" => journal
                .earliest(portal, count)
                .into_iter()
                .cloned()
                .collect(),
            "latest" => journal.latest(portal, count).into_iter().cloned().collect(),
            other => return Err(ApiError::route_not_found("GET", other)),
        }
    };
    Ok(batch_response(&state, &headers, &entries))
}

#[derive(Deserialize)]
pub struct BatchNextPath {
    journal: String,
    offset: String,
    count: String,
}

/// `GET /webhooks-journal/{journal}/2026-03/batch/{offset}/next/{count}`: the entries after
/// the offset (none yet: an empty list); 404 for an offset no longer kept.
pub async fn batch_next(
    State(state): Shared,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    Path(path): Path<BatchNextPath>,
) -> Result<Response, ApiError> {
    count_journal_request(
        &state,
        &format!("GET /webhooks-journal/{}/batch/next", path.journal),
    );
    authorize(&state, &headers, &[READ_SCOPE])?;
    let local = matches!(Scope::of(&path.journal)?, Scope::Local);
    let portal = portal_filter(local, query.as_deref())?;
    let count = parse_count(&path.count)?;
    let offset = parse_offset(&path.offset)?;
    let entries: Vec<Entry> = {
        let journal = lock(&state.journal);
        match journal.after(offset, portal, count) {
            Ok(entries) => entries.into_iter().cloned().collect(),
            Err(ReadRefused::UnknownOffset) => return Err(unknown_offset(offset)),
        }
    };
    Ok(batch_response(&state, &headers, &entries))
}

#[derive(Deserialize)]
pub struct EdgePath {
    journal: String,
    edge: String,
}

/// `GET /webhooks-journal/{journal}/2026-03/{earliest|latest}`: one entry; 204 when the
/// journal holds none.
pub async fn edge(
    State(state): Shared,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    Path(path): Path<EdgePath>,
) -> Result<Response, ApiError> {
    count_journal_request(
        &state,
        &format!("GET /webhooks-journal/{}/{}", path.journal, path.edge),
    );
    authorize(&state, &headers, &[READ_SCOPE])?;
    let local = matches!(Scope::of(&path.journal)?, Scope::Local);
    let portal = portal_filter(local, query.as_deref())?;
    let entry: Option<Entry> = {
        let journal = lock(&state.journal);
        match path.edge.as_str() {
            "earliest" => journal.earliest(portal, 1).first().map(|e| (*e).clone()),
            "latest" => journal.latest(portal, 1).first().map(|e| (*e).clone()),
            other => return Err(ApiError::route_not_found("GET", other)),
        }
    };
    Ok(match entry {
        Some(entry) => Json(fetch_response(&state, &headers, &entry)).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

#[derive(Deserialize)]
pub struct NextPath {
    journal: String,
    offset: String,
}

/// `GET /webhooks-journal/{journal}/2026-03/offset/{offset}/next`: the entry after the
/// offset; 204 when there is none yet, 404 for an offset no longer kept.
pub async fn next(
    State(state): Shared,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    Path(path): Path<NextPath>,
) -> Result<Response, ApiError> {
    count_journal_request(
        &state,
        &format!("GET /webhooks-journal/{}/offset/next", path.journal),
    );
    authorize(&state, &headers, &[READ_SCOPE])?;
    let local = matches!(Scope::of(&path.journal)?, Scope::Local);
    let portal = portal_filter(local, query.as_deref())?;
    let offset = parse_offset(&path.offset)?;
    let entry: Option<Entry> = {
        let journal = lock(&state.journal);
        match journal.after(offset, portal, 1) {
            Ok(entries) => entries.first().map(|e| (*e).clone()),
            Err(ReadRefused::UnknownOffset) => return Err(unknown_offset(offset)),
        }
    };
    Ok(match entry {
        Some(entry) => Json(fetch_response(&state, &headers, &entry)).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

#[derive(Deserialize)]
pub struct ReadInputs {
    inputs: Vec<String>,
}

#[derive(Deserialize)]
pub struct JournalPath {
    journal: String,
}

/// `POST /webhooks-journal/{journal}/2026-03/batch/read`: the entries of the offsets given;
/// 207 with an error per offset no longer kept.
pub async fn batch_read(
    State(state): Shared,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    Path(path): Path<JournalPath>,
    body: Bytes,
) -> Result<Response, ApiError> {
    count_journal_request(
        &state,
        &format!("POST /webhooks-journal/{}/batch/read", path.journal),
    );
    authorize(&state, &headers, &[READ_SCOPE])?;
    let local = matches!(Scope::of(&path.journal)?, Scope::Local);
    let portal = portal_filter(local, query.as_deref())?;
    let ReadInputs { inputs } = parse_body(&body)?;
    if inputs.len() > MAX_BATCH {
        return Err(ApiError::validation(format!(
            "inputs may hold at most {MAX_BATCH} offsets"
        )));
    }
    let mut found = Vec::new();
    let mut missing = Vec::new();
    {
        let journal = lock(&state.journal);
        for input in &inputs {
            let entry = Uuid::parse_str(input)
                .ok()
                .and_then(|offset| journal.entry(offset))
                .filter(|entry| portal.is_none_or(|id| entry.portal_id == id));
            match entry {
                Some(entry) => found.push(entry.clone()),
                None => missing.push(input.clone()),
            }
        }
    }
    let mut answer = batch_response(&state, &headers, &found);
    if missing.is_empty() {
        return Ok(answer);
    }
    let now = iso_millis(now_ms());
    let results: Vec<Value> = found
        .iter()
        .map(|entry| fetch_response(&state, &headers, entry))
        .collect();
    answer = (
        StatusCode::MULTI_STATUS,
        Json(json!({
            "status": "COMPLETE",
            "results": results,
            "numErrors": 1,
            "errors": [{
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": "Some offsets are not in the journal",
                "context": {"offset": missing},
            }],
            "startedAt": now,
            "completedAt": now,
        })),
    )
        .into_response();
    Ok(answer)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionInput {
    subscription_type: String,
    portal_id: u64,
    #[serde(default)]
    object_type_id: Option<String>,
    #[serde(default)]
    actions: Vec<String>,
    #[serde(default)]
    properties: Vec<String>,
}

/// `POST /webhooks-journal/subscriptions/2026-03`: creates or updates (per type, portal and
/// object type) a subscription.
pub async fn upsert_subscription(
    State(state): Shared,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    count_journal_request(&state, "POST /webhooks-journal/subscriptions");
    authorize(&state, &headers, &[SUBSCRIPTIONS_WRITE_SCOPE])?;
    let input: SubscriptionInput = parse_body(&body)?;
    if !matches!(
        input.subscription_type.as_str(),
        "OBJECT"
            | "ASSOCIATION"
            | "APP_LIFECYCLE_EVENT"
            | "LIST_MEMBERSHIP"
            | "GDPR_PRIVACY_DELETION"
    ) {
        return Err(ApiError::validation(format!(
            "Unknown subscriptionType: {}",
            input.subscription_type
        )));
    }
    if input.actions.is_empty() {
        return Err(ApiError::validation(
            "actions must name at least one action",
        ));
    }
    if let Some(unknown) = input
        .actions
        .iter()
        .find(|a| !ACTIONS.contains(&a.as_str()))
    {
        return Err(ApiError::validation(format!("Unknown action: {unknown}")));
    }
    let object_type_id = match (input.subscription_type.as_str(), input.object_type_id) {
        ("OBJECT", Some(id)) => {
            let kind = crate::objects::ObjectKind::from_path(&id)
                .ok_or_else(|| ApiError::validation(format!("Unknown objectTypeId: {id}")))?;
            kind.type_id().to_owned()
        }
        ("OBJECT", None) => return Err(ApiError::validation("objectTypeId is required")),
        (_, id) => id.unwrap_or_default(),
    };
    if state.portal(input.portal_id).is_none() {
        return Err(ApiError::validation(format!(
            "The app is not installed in portal {}",
            input.portal_id
        )));
    }
    let subscription = lock(&state.journal).upsert_subscription(
        state.app_id,
        SubscriptionRequest {
            subscription_type: input.subscription_type,
            portal_id: input.portal_id,
            object_type_id,
            actions: input.actions,
            properties: input.properties,
        },
        &iso_millis(now_ms()),
    );
    Ok(Json(subscription).into_response())
}

/// `GET /webhooks-journal/subscriptions/2026-03`.
pub async fn list_subscriptions(
    State(state): Shared,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    count_journal_request(&state, "GET /webhooks-journal/subscriptions");
    authorize(
        &state,
        &headers,
        &[SUBSCRIPTIONS_READ_SCOPE, SUBSCRIPTIONS_WRITE_SCOPE],
    )?;
    let results = lock(&state.journal).subscriptions();
    Ok(Json(json!({ "results": results })).into_response())
}

fn parse_id(text: &str) -> Result<u64, ApiError> {
    text.parse()
        .map_err(|_| ApiError::validation(format!("Invalid id: {text}")))
}

fn no_subscription(id: u64) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "OBJECT_NOT_FOUND",
        format!("No subscription with id {id}"),
    )
}

/// `GET /webhooks-journal/subscriptions/2026-03/{subscriptionId}`.
pub async fn read_subscription(
    State(state): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    count_journal_request(&state, "GET /webhooks-journal/subscriptions/{id}");
    authorize(
        &state,
        &headers,
        &[SUBSCRIPTIONS_READ_SCOPE, SUBSCRIPTIONS_WRITE_SCOPE],
    )?;
    let id = parse_id(&id)?;
    let subscription = lock(&state.journal)
        .subscription(id)
        .ok_or_else(|| no_subscription(id))?;
    Ok(Json(subscription).into_response())
}

/// `DELETE /webhooks-journal/subscriptions/2026-03/{subscriptionId}`.
pub async fn delete_subscription(
    State(state): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    count_journal_request(&state, "DELETE /webhooks-journal/subscriptions/{id}");
    authorize(&state, &headers, &[SUBSCRIPTIONS_WRITE_SCOPE])?;
    let id = parse_id(&id)?;
    if lock(&state.journal).delete_subscription(id) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_subscription(id))
    }
}

/// `DELETE /webhooks-journal/subscriptions/2026-03/portals/{portalId}`.
pub async fn delete_portal_subscriptions(
    State(state): Shared,
    headers: HeaderMap,
    Path(portal_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    count_journal_request(
        &state,
        "DELETE /webhooks-journal/subscriptions/portals/{portalId}",
    );
    authorize(&state, &headers, &[SUBSCRIPTIONS_WRITE_SCOPE])?;
    let portal_id = parse_id(&portal_id)?;
    lock(&state.journal).delete_portal_subscriptions(portal_id);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct FileLink {
    expires: i64,
    signature: String,
}

/// `GET /_sandbox/journal/files/{offset}?expires=&signature=`: the entry's file. No token:
/// the link is the credential, until it expires.
pub async fn file(
    State(state): Shared,
    Path(offset): Path<String>,
    link: Result<axum::extract::Query<FileLink>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let denied = |why: &str| (StatusCode::FORBIDDEN, why.to_owned()).into_response();
    let Ok(axum::extract::Query(link)) = link else {
        return denied("AccessDenied: the link is not signed");
    };
    let Ok(offset) = Uuid::parse_str(&offset) else {
        return denied("AccessDenied: no such file");
    };
    let file = {
        let journal = lock(&state.journal);
        if !journal.link_is_valid(offset, link.expires, &link.signature) {
            return denied("AccessDenied: the signature does not match");
        }
        if link.expires <= now_ms() {
            return denied("AccessDenied: the link has expired");
        }
        match journal.file(offset) {
            Some(file) => file,
            None => return (StatusCode::NOT_FOUND, "NoSuchKey").into_response(),
        }
    };
    state.record(|stats| stats.journal_files_fetched += 1);
    Json(file).into_response()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ExpireRequest {
    /// Entries written more than this long ago are forgotten; every entry when left out.
    older_than_ms: Option<i64>,
}

/// `POST /_sandbox/journal/expire`: ages the journal at once, as if its retention had passed.
pub async fn expire(State(state): Shared, body: Bytes) -> Result<Json<Value>, ApiError> {
    let request: ExpireRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ExpireRequest::default()
    } else {
        parse_body(&body)?
    };
    let cutoff = match request.older_than_ms {
        Some(age) => now_ms().saturating_sub(age),
        None => i64::MAX,
    };
    let expired = lock(&state.journal).expire_before(cutoff);
    Ok(Json(json!({ "expired": expired })))
}

/// `GET /_sandbox/journal`: the subscriptions and how many entries are kept.
pub async fn summary(State(state): Shared) -> Json<Value> {
    let journal = lock(&state.journal);
    Json(json!({
        "subscriptions": journal.subscriptions(),
        "entries": journal.earliest(None, usize::MAX).len(),
    }))
}
