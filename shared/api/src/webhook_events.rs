//! Inbound webhook events for operations (issue 23): `GET /v1/sync/webhook-events` (viewer)
//! lists them newest first, by status and portal, with attempts and the reason of the last
//! failure (never the property value, which may be personal data); `POST
//! /v1/sync/webhook-events/retry` (editor) makes failed ones due again, by id or all; `POST
//! /v1/sync/webhook-events/dismiss` (editor) ends those a person gives up on (SKIPPED, with who
//! dismissed them), which stops the alarm counting them.
//!
//! A failed event is retried by itself 1 and 5 minutes after its first two failures
//! (`warp_domain::sync::event_retry`); after the third it waits here, and the
//! `WebhookEventsFailed` alarm fires.

use crate::ApiState;
use crate::auth::{Principal, Role};
use crate::conventions::{json_response, read_limit};
use crate::problem::Problem;
use crate::selection::{self, Selection};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use warp_domain::customer::FieldError;
use warp_store::webhook_events::{self, RetrySelection, StoredEvent};

/// The OpenAPI paths and schemas of this module (merged into the API document).
#[derive(OpenApi)]
#[openapi(
    paths(list_webhook_events, retry_webhook_events, dismiss_webhook_events),
    components(schemas(WebhookEventResponse, WebhookEventList, WebhookEventRetryInput, WebhookEventRetryResponse, WebhookEventDismissInput, WebhookEventDismissResponse)),
    tags((name = "sync", description = "HubSpot sync conflicts and operations"))
)]
pub(crate) struct Doc;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/sync/webhook-events", get(list_webhook_events))
        .route("/v1/sync/webhook-events/retry", post(retry_webhook_events))
        .route(
            "/v1/sync/webhook-events/dismiss",
            post(dismiss_webhook_events),
        )
}

const STATUSES: [&str; 5] = ["RECEIVED", "PROCESSED", "SKIPPED", "FAILED", "UNROUTED"];

/// One webhook event as stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEventResponse {
    pub id: i64,
    pub portal_id: i64,
    /// HubSpot's eventId (-1 for the reconciler's own events).
    pub event_id: i64,
    #[schema(example = "company.propertyChange")]
    pub subscription_type: String,
    pub object_id: i64,
    pub property_name: Option<String>,
    pub change_source: Option<String>,
    pub occurred_at: Option<DateTime<Utc>>,
    /// RECEIVED (waiting), PROCESSED, SKIPPED, FAILED or UNROUTED (a portal not installed).
    #[schema(example = "FAILED")]
    pub status: String,
    /// Failed processing attempts.
    pub attempts: i32,
    /// When a failed event is tried again by itself; null when it waits for a person.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Why it failed (or was skipped), in words.
    pub error: Option<String>,
    pub received_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
}

impl From<StoredEvent> for WebhookEventResponse {
    fn from(event: StoredEvent) -> Self {
        WebhookEventResponse {
            id: event.id,
            portal_id: event.portal_id,
            event_id: event.event_id,
            subscription_type: event.subscription_type,
            object_id: event.object_id,
            property_name: event.property_name,
            change_source: event.change_source,
            occurred_at: Utc.timestamp_millis_opt(event.occurred_at_ms).single(),
            status: event.status,
            attempts: event.attempts,
            next_attempt_at: event.next_attempt_at,
            error: event.error,
            received_at: event.received_at,
            processed_at: event.processed_at,
        }
    }
}

/// Events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEventList {
    pub items: Vec<WebhookEventResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// `{"ids": [12, 13]}` or `{"all": true}` (optionally with `"portal_id"`): exactly one of the
/// two shapes, as `parse_retry` reads it.
#[derive(Debug)]
#[allow(dead_code)] // documents the body; parsing is by hand to name the field at fault
pub struct WebhookEventRetryInput;

impl utoipa::PartialSchema for WebhookEventRetryInput {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::selection::body_schema(&[(
            "portal_id",
            serde_json::json!({"type": "integer", "format": "int64", "minimum": 1}),
        )])
    }
}

impl utoipa::ToSchema for WebhookEventRetryInput {}

/// What a retry made due.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEventRetryResponse {
    /// How many failed events are due again (the processor takes them within seconds).
    pub retried: usize,
    /// Their ids (at most the first 1,000).
    pub ids: Vec<i64>,
}

/// `{"ids": [12, 13]}`: failed events to give up on.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the body; parsing is by hand to name the field at fault
pub struct WebhookEventDismissInput {
    /// 1 to 1,000 failed event ids.
    #[schema(schema_with = crate::conventions::id_list_schema)]
    pub ids: Vec<i64>,
}

/// What a dismissal ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEventDismissResponse {
    /// How many failed events are now SKIPPED (ids that were not FAILED are left alone).
    pub dismissed: usize,
    pub ids: Vec<i64>,
}

/// POST /v1/sync/webhook-events/dismiss
#[utoipa::path(
    post,
    path = "/v1/sync/webhook-events/dismiss",
    tag = "sync",
    request_body(content = WebhookEventDismissInput, content_type = "application/json"),
    responses(
        (status = 200, description = "The failed events named are SKIPPED, with who dismissed them", body = WebhookEventDismissResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The editor role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body (the field is named)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn dismiss_webhook_events(
    State(state): State<ApiState>,
    principal: Principal,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Editor)?;
    let value = crate::body::json(body)?;
    let ids = match parse_retry(&value)? {
        RetrySelection::Ids(ids) => ids,
        RetrySelection::All { .. } => {
            return Err(Problem::invalid_field(
                "all",
                "is not accepted here: dismiss names its events",
            ));
        }
    };
    let ids = webhook_events::dismiss(&state.database, &ids, &principal.subject).await?;
    tracing::info!(dismissed = ids.len(), "failed webhook events dismissed");
    Ok(json_response(
        StatusCode::OK,
        &WebhookEventDismissResponse {
            dismissed: ids.len(),
            ids,
        },
        None,
    ))
}

/// GET /v1/sync/webhook-events
#[utoipa::path(
    get,
    path = "/v1/sync/webhook-events",
    tag = "sync",
    params(
        ("status" = Option<String>, Query, description = "RECEIVED, PROCESSED, SKIPPED, FAILED or UNROUTED", pattern = r"^(RECEIVED|PROCESSED|SKIPPED|FAILED|UNROUTED)$"),
        ("portal_id" = Option<i64>, Query, description = "Only this portal's events", minimum = 1),
        ("limit" = Option<u32>, Query, description = "1 to 100, default 20", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page", pattern = r"^[0-9]{1,19}$"),
    ),
    responses(
        (status = 200, description = "Events, newest first", body = WebhookEventList),
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad parameter (named)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn list_webhook_events(
    State(state): State<ApiState>,
    principal: Principal,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Viewer)?;
    let Query(pairs) = query
        .map_err(|_| Problem::new(StatusCode::BAD_REQUEST, "the query string is malformed"))?;
    let (mut status, mut portal_id, mut limit, mut before) = (None, None, 20, None);
    let mut errors = Vec::new();
    for (name, value) in pairs {
        let value = value.trim();
        match name.as_str() {
            "status" => match STATUSES.iter().find(|s| s.eq_ignore_ascii_case(value)) {
                Some(known) => status = Some(*known),
                None => errors.push(FieldError::new(
                    "status",
                    "must be RECEIVED, PROCESSED, SKIPPED, FAILED or UNROUTED",
                )),
            },
            "portal_id" => match value.parse::<i64>() {
                Ok(id) if id > 0 => portal_id = Some(id),
                _ => errors.push(FieldError::new("portal_id", "must be a positive integer")),
            },
            "limit" => {
                if let Some(parsed) = read_limit(value, &mut errors) {
                    limit = parsed;
                }
            }
            "cursor" => match crate::conventions::id_cursor(value) {
                Some(id) => before = Some(id),
                _ => errors.push(FieldError::new(
                    "cursor",
                    "is not a cursor this API returned",
                )),
            },
            _ => errors.push(FieldError::new(name, "is not a known parameter")),
        }
    }
    if !errors.is_empty() {
        return Err(Problem::invalid(errors));
    }
    let events = webhook_events::list(&state.database, status, portal_id, before, limit).await?;
    let next_cursor = (events.len() == limit as usize)
        .then(|| events.last().map(|event| event.id.to_string()))
        .flatten();
    let body = WebhookEventList {
        items: events.into_iter().map(WebhookEventResponse::from).collect(),
        next_cursor,
    };
    Ok(json_response(StatusCode::OK, &body, None))
}

/// POST /v1/sync/webhook-events/retry
#[utoipa::path(
    post,
    path = "/v1/sync/webhook-events/retry",
    tag = "sync",
    request_body(content = WebhookEventRetryInput, content_type = "application/json"),
    responses(
        (status = 202, description = "The failed events named are due again (events stored failed on receipt, holding a NUL character, never are)", body = WebhookEventRetryResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The editor role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body (the field is named)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn retry_webhook_events(
    State(state): State<ApiState>,
    principal: Principal,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Editor)?;
    let value = crate::body::json(body)?;
    let selection = parse_retry(&value)?;
    let mut ids = webhook_events::retry(&state.database, &selection).await?;
    tracing::info!(retried = ids.len(), by = %principal.subject, "failed webhook events retried");
    let retried = ids.len();
    ids.truncate(selection::MAX_IDS);
    Ok(json_response(
        StatusCode::ACCEPTED,
        &WebhookEventRetryResponse { retried, ids },
        None,
    ))
}

/// `{"ids": [...]}` or `{"all": true}`, optionally with `portal_id`.
fn parse_retry(body: &serde_json::Value) -> Result<RetrySelection, Problem> {
    let selection = selection::parse(body, &["portal_id"], |object, errors| {
        selection::positive_id(object, "portal_id", errors)
    })?;
    Ok(match selection {
        Selection::Ids(ids) => RetrySelection::Ids(ids),
        Selection::All(portal_id) => RetrySelection::All { portal_id },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_retry_names_ids_or_all_and_every_mistake_is_named() {
        assert_eq!(
            parse_retry(&json!({"ids": [3, 4]})).unwrap(),
            RetrySelection::Ids(vec![3, 4])
        );
        assert_eq!(
            parse_retry(&json!({"all": true, "portal_id": 7})).unwrap(),
            RetrySelection::All { portal_id: Some(7) }
        );
        for (body, field) in [
            (json!({}), "ids"),
            (json!({"ids": []}), "ids"),
            (json!({"ids": [0]}), "ids"),
            (json!({"ids": ["1"]}), "ids"),
            (json!({"ids": [1], "all": true}), "all"),
            (json!({"ids": [1], "portal_id": 3}), "portal_id"),
            (json!({"all": "yes"}), "all"),
            (json!({"all": true, "nope": 1}), "nope"),
            (json!([1]), "body"),
        ] {
            let problem = parse_retry(&body).unwrap_err();
            assert_eq!(problem.status, 422, "{body}");
            assert!(
                problem.errors.iter().any(|e| e.field == field),
                "{body}: {:?}",
                problem.errors
            );
        }
        let too_many: Vec<i64> = (1..=1_001).collect();
        assert!(parse_retry(&json!({ "ids": too_many })).is_err());
    }
}
