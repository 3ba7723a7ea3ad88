//! Outbound records that failed: `GET /v1/sync/failed` (viewer) lists them newest first with
//! the reason in words (HubSpot's message for a refused value) and how many match; `POST
//! /v1/sync/failed/retry` (admin) makes them due again, by id or all matching.

use crate::ApiState;
use crate::auth::{Principal, Role};
use crate::conventions::json_response;
use crate::problem::Problem;
use crate::selection::{self, Selection};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;
use warp_domain::customer::FieldError;
use warp_domain::sync::ObjectType;
use warp_store::outbox_failures::{
    self, FailedRecord, FailureFilter, FailureQuery, FailureSelection, MAX_FAILURE_LIMIT,
};

/// The OpenAPI paths and schemas of this module (merged into the API document).
#[derive(OpenApi)]
#[openapi(
    paths(list_failed, retry_failed),
    components(schemas(FailedRecordResponse, FailedRecordList, FailedRetryInput, RetryResult)),
    tags((name = "sync", description = "HubSpot sync conflicts and operations"))
)]
pub(crate) struct Doc;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/sync/failed", get(list_failed))
        .route("/v1/sync/failed/retry", post(retry_failed))
}

/// Longest reason filter.
const MAX_REASON_CHARS: usize = 200;

/// How many requeued rows a retry sends to the queue itself; the relay sends the rest.
const PUBLISH_AT_ONCE: usize = 50;

/// One record whose push to HubSpot failed.
#[derive(Debug, Serialize, ToSchema)]
pub struct FailedRecordResponse {
    /// The outbox row; retry it by this id.
    pub id: i64,
    pub portal_id: i64,
    /// `companies` or `contacts`.
    pub object_type: String,
    /// The WARP record: a customer's id for companies, a user's for contacts.
    pub local_id: Uuid,
    /// CREATE, UPDATE, DELETE, RESYNC or PUSH_BACK.
    pub operation: String,
    pub attempts: i32,
    /// Why it failed, in words (HubSpot's category and message when HubSpot refused it).
    pub reason: Option<String>,
    /// When the worker tries it again by itself, unless its attempts are used up.
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub failed_at: DateTime<Utc>,
}

impl From<FailedRecord> for FailedRecordResponse {
    fn from(record: FailedRecord) -> Self {
        FailedRecordResponse {
            id: record.outbox_id,
            portal_id: record.portal_id,
            object_type: record.object_type.as_str().to_owned(),
            local_id: record.local_id,
            operation: record.operation,
            attempts: record.attempts,
            reason: record.reason,
            next_attempt_at: record.next_attempt_at,
            created_at: record.created_at,
            failed_at: record.failed_at,
        }
    }
}

/// Failed records, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct FailedRecordList {
    pub items: Vec<FailedRecordResponse>,
    /// How many failed records match the filters in all.
    pub total: i64,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// `{"ids": [12, 13]}`, or `{"all": true}` with optional filters; no body at all retries every
/// failed record (as the first version of this route did). Documented by hand: exactly one of
/// the two shapes, as `parse_retry` reads it.
#[derive(Debug)]
#[allow(dead_code)] // documents the body; parsing is by hand to name the field at fault
pub struct FailedRetryInput;

impl utoipa::PartialSchema for FailedRetryInput {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use serde_json::json;
        crate::selection::body_schema(&[
            (
                "object_type",
                json!({"type": "string", "pattern": r"^\s*(companies|contacts)?\s*$"}),
            ),
            (
                "portal_id",
                json!({"type": "integer", "format": "int64", "minimum": 1}),
            ),
            (
                "reason",
                json!({"type": "string", "maxLength": MAX_REASON_CHARS,
                              "description": "Words the reason contains (case-insensitive)"}),
            ),
            (
                "since",
                json!({"type": "string", "format": "date-time",
                             "description": "Only records that failed at or after this instant"}),
            ),
        ])
    }
}

impl utoipa::ToSchema for FailedRetryInput {}

/// Failed rows were queued again.
#[derive(Debug, Serialize, ToSchema)]
pub struct RetryResult {
    /// How many FAILED rows became PENDING.
    pub requeued: u64,
    /// Their ids (at most the first 1,000).
    pub ids: Vec<i64>,
}

/// GET /v1/sync/failed
#[utoipa::path(
    get,
    path = "/v1/sync/failed",
    tag = "sync",
    params(
        ("object_type" = Option<String>, Query, description = "companies or contacts", pattern = r"^\s*(companies|contacts)?\s*$"),
        ("portal_id" = Option<i64>, Query, description = "Only this portal's records", minimum = 1),
        ("reason" = Option<String>, Query, description = "Words the reason contains (case-insensitive; empty means any)", max_length = 200),
        ("since" = Option<DateTime<Utc>>, Query, description = "Only records that failed at or after this instant (RFC 3339)"),
        ("limit" = Option<u32>, Query, description = "1 to 200, default 50", minimum = 1, maximum = 200),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page", pattern = r"^[0-9]{1,19}$"),
    ),
    responses(
        (status = 200, description = "Failed records, newest first, and how many match", body = FailedRecordList),
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad parameter (named)", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Server fault", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn list_failed(
    State(state): State<ApiState>,
    principal: Principal,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Viewer)?;
    let Query(pairs) = query
        .map_err(|_| Problem::new(StatusCode::BAD_REQUEST, "the query string is malformed"))?;
    let mut query = FailureQuery {
        limit: 50,
        ..FailureQuery::default()
    };
    let mut errors = Vec::new();
    for (name, value) in &pairs {
        let value = value.trim();
        match name.as_str() {
            "object_type" => query.filter.object_type = object_type(value, &mut errors),
            "portal_id" => match value.parse::<i64>() {
                Ok(id) if id > 0 => query.filter.portal_id = Some(id),
                _ => errors.push(FieldError::new("portal_id", "must be a positive integer")),
            },
            "reason" => query.filter.reason = reason(value, &mut errors),
            "since" => query.filter.since = since(value, &mut errors),
            "limit" => match value.parse::<u32>() {
                Ok(limit) if (1..=MAX_FAILURE_LIMIT).contains(&limit) => query.limit = limit,
                _ => errors.push(FieldError::new("limit", "must be an integer from 1 to 200")),
            },
            "cursor" => match crate::conventions::id_cursor(value) {
                Some(id) => query.before = Some(id),
                _ => errors.push(FieldError::new(
                    "cursor",
                    "is not a cursor this API returned",
                )),
            },
            other => errors.push(FieldError::new(other, "is not a known parameter")),
        }
    }
    if !errors.is_empty() {
        return Err(Problem::invalid(errors));
    }
    let (records, total) = outbox_failures::list(&state.database, &query).await?;
    let next_cursor = (records.len() == query.limit as usize)
        .then(|| records.last().map(|record| record.outbox_id.to_string()))
        .flatten();
    let body = FailedRecordList {
        items: records.into_iter().map(Into::into).collect(),
        total,
        next_cursor,
    };
    Ok(json_response(StatusCode::OK, &body, None))
}

/// POST /v1/sync/failed/retry
#[utoipa::path(
    post,
    path = "/v1/sync/failed/retry",
    tag = "sync",
    request_body(content = Option<FailedRetryInput>, content_type = "application/json",
        description = r#"{"ids":[12]} | {"all":true,"object_type":"contacts","reason":"INVALID_EMAIL"}; no body retries every failed record"#),
    responses(
        (status = 200, description = "The failed records selected are PENDING again, attempts reset", body = RetryResult),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The admin role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "A body that is not declared JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body (the field is named)", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Server fault", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn retry_failed(
    State(state): State<ApiState>,
    principal: Principal,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Admin)?;
    let bytes = crate::body::bytes(body)?;
    let selection = if crate::body::is_absent(&bytes) {
        FailureSelection::Matching(FailureFilter::default())
    } else {
        crate::body::require_json(&headers)?;
        parse_retry(&crate::body::parse(&bytes)?)?
    };
    let mut ids = outbox_failures::requeue(&state.database, &selection).await?;
    tracing::info!(rows = ids.len(), by = %principal.subject, "failed outbox rows requeued");
    // One send each would outlast the request's time for thousands of rows; the rest are
    // unpublished, so the relay sends them within a minute.
    for id in ids.iter().take(PUBLISH_AT_ONCE) {
        state.publish(*id).await;
    }
    let requeued = ids.len() as u64;
    ids.truncate(selection::MAX_IDS);
    Ok(json_response(
        StatusCode::OK,
        &RetryResult { requeued, ids },
        None,
    ))
}

fn parse_retry(body: &Value) -> Result<FailureSelection, Problem> {
    let selection = selection::parse(
        body,
        &["object_type", "portal_id", "reason", "since"],
        |object: &Map<String, Value>, errors| FailureFilter {
            object_type: match object.get("object_type") {
                None | Some(Value::Null) => None,
                Some(Value::String(text)) => object_type(text.trim(), errors),
                Some(_) => {
                    errors.push(FieldError::new(
                        "object_type",
                        "must be companies or contacts",
                    ));
                    None
                }
            },
            portal_id: selection::positive_id(object, "portal_id", errors),
            reason: match object.get("reason") {
                None | Some(Value::Null) => None,
                Some(Value::String(text)) => reason(text.trim(), errors),
                Some(_) => {
                    errors.push(FieldError::new("reason", "must be a string"));
                    None
                }
            },
            since: match object.get("since") {
                None | Some(Value::Null) => None,
                Some(Value::String(text)) => since(text.trim(), errors),
                Some(_) => {
                    errors.push(FieldError::new("since", "must be an RFC 3339 instant"));
                    None
                }
            },
        },
    )?;
    Ok(match selection {
        Selection::Ids(ids) => FailureSelection::Ids(ids),
        Selection::All(filter) => FailureSelection::Matching(filter),
    })
}

/// Empty means any object type.
fn object_type(value: &str, errors: &mut Vec<FieldError>) -> Option<ObjectType> {
    if value.is_empty() {
        return None;
    }
    match value.parse::<ObjectType>() {
        Ok(object_type) => Some(object_type),
        Err(_) => {
            errors.push(FieldError::new(
                "object_type",
                "must be companies or contacts",
            ));
            None
        }
    }
}

/// An RFC 3339 instant, as the document's date-time format says (empty is none: 422).
fn since(value: &str, errors: &mut Vec<FieldError>) -> Option<DateTime<Utc>> {
    match DateTime::parse_from_rfc3339(value) {
        Ok(instant) => Some(instant.with_timezone(&Utc)),
        Err(_) => {
            errors.push(FieldError::new(
                "since",
                "must be an RFC 3339 instant such as 2026-12-01T00:00:00Z",
            ));
            None
        }
    }
}

/// Empty means any reason.
fn reason(value: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    if value.is_empty() {
        None
    } else if value.chars().count() > MAX_REASON_CHARS {
        errors.push(FieldError::new("reason", "must be at most 200 characters"));
        None
    } else {
        Some(warp_domain::storable::storable(value).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_retry_names_ids_or_filters_and_every_mistake_is_named() {
        assert_eq!(
            parse_retry(&json!({"ids": [3]})).unwrap(),
            FailureSelection::Ids(vec![3])
        );
        assert_eq!(
            parse_retry(&json!({"all": true, "object_type": "contacts", "reason": " email "}))
                .unwrap(),
            FailureSelection::Matching(FailureFilter {
                object_type: Some(ObjectType::Contacts),
                portal_id: None,
                reason: Some("email".into()),
                since: None,
            })
        );
        for (body, field) in [
            (json!({"ids": [1], "reason": "x"}), "reason"),
            (json!({"all": true, "object_type": "deals"}), "object_type"),
            (json!({"all": true, "reason": 5}), "reason"),
            (json!({"all": true, "reason": "x".repeat(201)}), "reason"),
            (json!({"all": true, "portal_id": -1}), "portal_id"),
            (json!({"all": true, "since": "yesterday"}), "since"),
        ] {
            let problem = parse_retry(&body).unwrap_err();
            assert!(
                problem.errors.iter().any(|e| e.field == field),
                "{body}: {:?}",
                problem.errors
            );
        }
    }
}
