//! Finished calls from the telephony platform (issue 21): `POST /v1/calls` takes one call or a
//! batch of up to 500 (role `ingest`), stores each once by its call id and answers at once; the
//! logging in HubSpot happens afterwards. `GET /v1/calls/{call_id}` tells what became of one,
//! `GET /v1/hubspot/sync-logs` of them all (a customer's own token: its own calls only).

use crate::ApiState;
use crate::auth::{Principal, Role};
use crate::conventions::{json_response, read_offset};
use crate::problem::Problem;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;
use warp_domain::call::{CallId, calls_from_json};
use warp_domain::customer::FieldError;
use warp_store::calls::{
    self, CallLogQuery, MAX_LOG_LIMIT, MAX_LOG_OFFSET, StoredCall, Taken, UnknownCustomers,
};

/// The largest body `POST /v1/calls` reads: a Lambda behind API Gateway takes at most 6 MB, so
/// 500 calls with long summaries are sent as several requests.
pub const CALLS_MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

/// The OpenAPI paths and schemas of this module (merged into the API document).
#[derive(OpenApi)]
#[openapi(
    paths(take_calls, get_call, sync_logs),
    components(schemas(CallInput, CallBatch, CallsBody, CallsTaken, CallTaken, CallResponse, LogEntry, LogList)),
    tags((name = "calls", description = "Finished calls from the telephony platform, logged on HubSpot contacts"))
)]
pub(crate) struct Doc;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/v1/calls",
            post(take_calls).layer(DefaultBodyLimit::max(CALLS_MAX_BODY_BYTES)),
        )
        .route("/v1/calls/{call_id}", get(get_call))
        .route("/v1/hubspot/sync-logs", get(sync_logs))
}

/// One finished call.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // the body's schema only: bodies are read by warp_domain::call
pub struct CallInput {
    /// The platform's call id: 1 to 128 visible ASCII characters. A repeat is a no-op.
    #[schema(example = "c-81f2", pattern = r"^[!-~]{1,128}$")]
    call_id: String,
    customer_id: Uuid,
    #[schema(example = "OUTBOUND", pattern = "^(INBOUND|OUTBOUND)$")]
    direction: String,
    /// E.164
    #[schema(example = "+14155550100", pattern = r"^\+[1-9][0-9]{7,14}$")]
    from: String,
    /// E.164
    #[schema(example = "+13035551234", pattern = r"^\+[1-9][0-9]{7,14}$")]
    to: String,
    started_at: DateTime<Utc>,
    /// 0 to 86,400,000 (a day); the call must have ended by now (5 minutes of clock skew).
    #[schema(minimum = 0, maximum = 86_400_000)]
    duration_ms: i64,
    #[schema(
        example = "COMPLETED",
        pattern = "^(COMPLETED|BUSY|NO_ANSWER|FAILED|CANCELED)$"
    )]
    outcome: String,
    /// An https URL, at most 2,048 characters.
    #[schema(example = "https://recordings.example/c-81f2.wav", max_length = 2048)]
    recording_url: Option<String>,
    /// At most 64 KiB of UTF-8; a blank one is dropped.
    #[schema(example = "Asked for a demo", max_length = 65536)]
    summary: Option<String>,
}

/// Up to 500 calls in one request.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // the body's schema only
pub struct CallBatch {
    #[schema(min_items = 1, max_items = 500)]
    calls: Vec<CallInput>,
}

/// One call, or a batch.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // the body's schema only
pub enum CallsBody {
    One(CallInput),
    Batch(CallBatch),
}

/// What became of each call sent, in the order sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallsTaken {
    /// Calls stored now, to be logged in HubSpot.
    pub queued: usize,
    /// Calls whose id was stored before: nothing changed.
    pub repeated: usize,
    pub calls: Vec<CallTaken>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CallTaken {
    #[schema(example = "c-81f2")]
    pub call_id: String,
    /// `queued` or `repeated`.
    #[schema(example = "queued")]
    pub status: &'static str,
}

/// A call and its logging in HubSpot.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallResponse {
    #[schema(example = "c-81f2")]
    pub call_id: String,
    pub customer_id: Uuid,
    pub direction: String,
    pub from: String,
    pub to: String,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i64,
    pub outcome: String,
    pub recording_url: Option<String>,
    /// Whether a summary came with it (logged as a note on the contact).
    pub has_summary: bool,
    pub received_at: DateTime<Utc>,
    /// `pending` (not logged yet), `success`, `skipped` (see `reason`) or `error`.
    #[schema(example = "pending")]
    pub status: String,
    pub attempts: i32,
    pub portal_id: Option<i64>,
    /// The HubSpot contact it was logged on.
    pub contact_id: Option<String>,
    /// The HubSpot call engagement.
    pub engagement_id: Option<String>,
    /// The HubSpot note holding the summary.
    pub note_id: Option<String>,
    /// Why it was skipped or refused, in words (HubSpot's message for an error).
    pub reason: Option<String>,
    pub logged_at: Option<DateTime<Utc>>,
}

impl From<StoredCall> for CallResponse {
    fn from(call: StoredCall) -> Self {
        CallResponse {
            call_id: call.call_id,
            customer_id: call.customer_id,
            direction: call.direction,
            from: call.from_number,
            to: call.to_number,
            started_at: call.started_at,
            duration_ms: call.duration_ms,
            outcome: call.outcome,
            recording_url: call.recording_url,
            has_summary: call.has_summary,
            received_at: call.received_at,
            status: call.status,
            attempts: call.attempts,
            portal_id: call.portal_id,
            contact_id: call.contact_id,
            engagement_id: call.engagement_id,
            note_id: call.note_id,
            reason: call.reason,
            logged_at: call.logged_at,
        }
    }
}

/// POST /v1/calls
#[utoipa::path(
    post,
    path = "/v1/calls",
    tag = "calls",
    request_body(content = CallsBody, description = "One finished call, or {\"calls\": [...]} with 1 to 500"),
    responses(
        (status = 202, description = "Stored (or stored before): each will be logged in HubSpot", body = CallsTaken),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The ingest role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 6 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A call is invalid or names no customer; nothing was stored", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn take_calls(
    State(state): State<ApiState>,
    principal: Principal,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    principal.require_ingest()?;
    if let Err(rejection) = &body
        && rejection.status() == StatusCode::PAYLOAD_TOO_LARGE
    {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the body is over 6 MiB: send the calls in smaller batches",
        ));
    }
    crate::body::require_json(&headers)?;
    let value = crate::body::json(body)?;
    let batch = value.get("calls").is_some();
    let calls = calls_from_json(&value, Utc::now()).map_err(Problem::invalid)?;
    let taken = match calls::take_in(&state.database, &calls).await? {
        Ok(taken) => taken,
        Err(UnknownCustomers(positions)) => {
            return Err(Problem::invalid(
                positions
                    .into_iter()
                    .map(|index| {
                        let field = if batch {
                            format!("calls[{index}].customer_id")
                        } else {
                            "customer_id".to_owned()
                        };
                        FieldError::new(field, "names no customer (or a deleted one)")
                    })
                    .collect(),
            ));
        }
    };
    let queued = taken.iter().filter(|t| **t == Taken::Queued).count();
    tracing::info!(calls = calls.len(), queued, "calls taken in");
    let body = CallsTaken {
        queued,
        repeated: taken.len() - queued,
        calls: calls
            .iter()
            .zip(&taken)
            .map(|(call, taken)| CallTaken {
                call_id: call.call_id.as_str().to_owned(),
                status: taken.as_str(),
            })
            .collect(),
    };
    Ok(json_response(StatusCode::ACCEPTED, &body, None))
}

/// GET /v1/calls/{call_id}
#[utoipa::path(
    get,
    path = "/v1/calls/{call_id}",
    tag = "calls",
    params(("call_id" = String, Path, description = "The platform's call id", pattern = r"^[!-~]{1,128}$")),
    responses(
        (status = 200, description = "The call and its logging in HubSpot", body = CallResponse),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The ingest or viewer role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No call has this id", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn get_call(
    State(state): State<ApiState>,
    principal: Principal,
    Path(call_id): Path<String>,
) -> Result<Response, Problem> {
    // The platform reads back what it sent; people read every call.
    principal
        .require_ingest()
        .or_else(|_| principal.require(Role::Viewer))?;
    if CallId::parse(&call_id).is_err() {
        return Err(Problem::not_found());
    }
    let call = calls::get(&state.database, &call_id)
        .await?
        .ok_or_else(Problem::not_found)?;
    Ok(json_response(
        StatusCode::OK,
        &CallResponse::from(call),
        None,
    ))
}

/// One record WARP wrote (or tried to write) to HubSpot for the platform: today a call.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogEntry {
    /// `calls`
    #[schema(example = "calls")]
    pub object_type: &'static str,
    #[schema(example = "c-81f2")]
    pub call_id: String,
    pub customer_id: Uuid,
    /// The portal it went to.
    pub portal_id: Option<i64>,
    pub contact_id: Option<String>,
    /// The call engagement.
    pub engagement_id: Option<String>,
    /// The note holding the summary.
    pub note_id: Option<String>,
    /// `pending`, `success`, `skipped` or `error`.
    #[schema(example = "success")]
    pub status: String,
    /// Why it was skipped or refused, in words (HubSpot's message for an error).
    pub reason: Option<String>,
    pub attempts: i32,
    pub received_at: DateTime<Utc>,
    pub logged_at: Option<DateTime<Utc>>,
}

impl From<StoredCall> for LogEntry {
    fn from(call: StoredCall) -> Self {
        LogEntry {
            object_type: "calls",
            call_id: call.call_id,
            customer_id: call.customer_id,
            portal_id: call.portal_id,
            contact_id: call.contact_id,
            engagement_id: call.engagement_id,
            note_id: call.note_id,
            status: call.status,
            reason: call.reason,
            attempts: call.attempts,
            received_at: call.received_at,
            logged_at: call.logged_at,
        }
    }
}

/// A page of the log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogList {
    pub items: Vec<LogEntry>,
    /// Entries matching the filters in all; absent on pages read by `cursor`.
    pub total: Option<i64>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

const LOG_STATUSES: [&str; 4] = ["pending", "success", "skipped", "error"];

/// GET /v1/hubspot/sync-logs
#[utoipa::path(
    get,
    path = "/v1/hubspot/sync-logs",
    tag = "calls",
    params(
        ("status" = Option<String>, Query, description = "Only entries with this outcome", pattern = "^(pending|success|skipped|error)$"),
        ("object_type" = Option<String>, Query, description = "Only entries of this object type (calls)", pattern = "^calls$"),
        ("customer_id" = Option<Uuid>, Query, description = "Only this customer's entries (a customer's own token gets its own only)"),
        ("limit" = Option<u32>, Query, description = "1 to 100, default 20", minimum = 1, maximum = 100),
        ("offset" = Option<u32>, Query, description = "Entries to skip, 0 to 10,000 (counted from the cursor's place with one); past that, cursor", minimum = 0, maximum = 10000),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page (without total)", pattern = "^[A-Za-z0-9_-]{10}[AEIMQUYcgkosw048]$"),
    ),
    responses(
        (status = 200, description = "One page of the log, newest first", body = LogList),
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role (or ingest) is needed; a customer's token reads its own customer only", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A parameter is invalid (each one is named)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn sync_logs(
    State(state): State<ApiState>,
    principal: Principal,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Problem> {
    principal.require_platform_reader()?;
    let Query(pairs) = query
        .map_err(|_| Problem::new(StatusCode::BAD_REQUEST, "the query string is malformed"))?;
    let mut query = log_query(&pairs)?;
    query.customer_id = principal.customer_filter(query.customer_id, "log")?;
    let page = calls::list_log(&state.database, &query).await?;
    let body = LogList {
        items: page.items.into_iter().map(LogEntry::from).collect(),
        total: page.total,
        next_cursor: page.next_cursor,
    };
    Ok(json_response(StatusCode::OK, &body, None))
}

/// Every parameter checked, each bad one named (unknown parameters are ignored, as the other
/// lists do).
fn log_query(pairs: &[(String, String)]) -> Result<CallLogQuery, Problem> {
    let mut query = CallLogQuery {
        limit: 20,
        ..CallLogQuery::default()
    };
    let mut errors = Vec::new();
    for (name, value) in pairs {
        let value = value.trim();
        match name.as_str() {
            "status" => match LOG_STATUSES.iter().find(|s| s.eq_ignore_ascii_case(value)) {
                Some(status) => query.status = Some(status),
                None => errors.push(FieldError::new(
                    "status",
                    "must be pending, success, skipped or error",
                )),
            },
            "object_type" if value.eq_ignore_ascii_case("calls") => {}
            "object_type" => errors.push(FieldError::new(
                "object_type",
                "must be calls (the only object logged here so far)",
            )),
            "customer_id" => match crate::ids::query_id("customer_id", value) {
                Ok(id) => query.customer_id = Some(id),
                Err(error) => errors.push(error),
            },
            "limit" => match value.parse::<u32>() {
                Ok(limit) if (1..=MAX_LOG_LIMIT).contains(&limit) => query.limit = limit,
                _ => errors.push(FieldError::new(
                    "limit",
                    format!("must be an integer from 1 to {MAX_LOG_LIMIT}"),
                )),
            },
            "offset" => {
                let beyond = "; page further with cursor";
                if let Some(offset) = read_offset(value, MAX_LOG_OFFSET, beyond, &mut errors) {
                    query.offset = offset;
                }
            }
            "cursor" => match warp_store::sync_reports::decode_log_cursor(value) {
                Ok(_) => query.cursor = Some(value.to_owned()),
                Err(_) => errors.push(FieldError::new(
                    "cursor",
                    "is not a cursor this API returned",
                )),
            },
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok(query)
    } else {
        Err(Problem::invalid(errors))
    }
}
