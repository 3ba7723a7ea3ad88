//! Reconciliation runs (admin): request one, list them, read one's report.
//!
//! The API only queues a run (`warp_store::reconciliation_runs::request`); the reconciler's
//! frequent job claims and executes it, so a request answers at once (202) and a run never
//! ties up an API instance. Reports hold ids, kinds and field names, never values.

use crate::ApiState;
use crate::auth::{Principal, Role};
use crate::problem::Problem;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::json::json;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;
use warp_store::StoreError;
use warp_store::reconciliation_runs::{self as runs, ReconciliationRun};

/// The OpenAPI paths and schemas of this module (merged into the API document).
#[derive(OpenApi)]
#[openapi(
    paths(request_reconciliation, list_reconciliations, get_reconciliation),
    components(schemas(
        ReconciliationResponse,
        ReconciliationList,
        ReconciliationInput,
        ReconciliationStatus,
        ReconciliationMode
    )),
    tags((name = "sync", description = "HubSpot sync conflicts and operations"))
)]
pub(crate) struct Doc;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/v1/sync/reconciliations",
            get(list_reconciliations).post(request_reconciliation),
        )
        .route("/v1/sync/reconciliations/{id}", get(get_reconciliation))
}

/// How a run stands: `running` (queued or executing), `succeeded`, `completed_with_errors` (it
/// got to the end but could not repair everything: see `errors` and `details.error_reasons`)
/// or `failed` (it stopped before the end).
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // documents the values of `status`, which is served as stored
pub enum ReconciliationStatus {
    Running,
    Succeeded,
    CompletedWithErrors,
    Failed,
}

/// What a run compares: `full` (every record) or `incremental` (what changed since the last
/// successful run; the daily schedule's, with a full run at least weekly).
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // documents the values of `mode`, which is served as stored
pub enum ReconciliationMode {
    Full,
    Incremental,
}

/// One reconciliation run.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReconciliationResponse {
    pub id: Uuid,
    #[schema(value_type = ReconciliationStatus)]
    pub status: String,
    /// True while the run waits for the reconciler to take it.
    pub queued: bool,
    pub dry_run: bool,
    /// `full` (every record of both sides) or `incremental` (the daily run: only the records
    /// changed since `changed_since`, on either side).
    #[schema(value_type = ReconciliationMode)]
    pub mode: String,
    /// How far back an incremental run looked; null for a full run.
    pub changed_since: Option<DateTime<Utc>>,
    pub requested_at: DateTime<Utc>,
    pub requested_by: Option<String>,
    /// When the reconciler started it; absent while queued.
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<i64>,
    pub customers_checked: i64,
    pub companies_checked: i64,
    /// Differing fields plus record-level drift (missing, gone, unlinked).
    pub drift_found: i64,
    /// Drift repaired (values applied, pushes queued, links made); 0 for a dry run.
    pub drift_fixed: i64,
    pub errors: i64,
    /// The report: `by_kind`, `by_field` (found / fixed), `repairs`, `customers` (ids, kinds,
    /// fields, repairs), `error_reasons`. Empty until the run ends.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<ReconciliationRun> for ReconciliationResponse {
    fn from(run: ReconciliationRun) -> Self {
        ReconciliationResponse {
            queued: run.is_queued(),
            started_at: run.claimed_at.map(|_| run.started_at),
            id: run.id,
            status: run.status,
            dry_run: run.dry_run,
            mode: run.mode,
            changed_since: run.changed_since,
            requested_at: run.requested_at,
            requested_by: run.requested_by,
            finished_at: run.finished_at,
            duration_ms: run.duration_ms,
            customers_checked: run.counts.customers_checked,
            companies_checked: run.counts.companies_checked,
            drift_found: run.counts.drift_found,
            drift_fixed: run.counts.drift_fixed,
            errors: run.counts.errors,
            details: run.report,
        }
    }
}

/// Runs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReconciliationList {
    pub items: Vec<ReconciliationResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `{"dry_run": true}` only reports; `false` (the default) also repairs.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the body; parsing is by hand to name the field at fault
pub struct ReconciliationInput {
    #[schema(nullable = false)]
    pub dry_run: Option<bool>,
}

/// POST /v1/sync/reconciliations
#[utoipa::path(
    post,
    path = "/v1/sync/reconciliations",
    tag = "sync",
    request_body(content = Option<ReconciliationInput>, content_type = "application/json",
        description = r#"{"dry_run": bool}; an empty body means a repairing run"#),
    responses(
        (status = 202, description = "The run is queued; the reconciler executes it shortly", body = ReconciliationResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The admin role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body (the field is named)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn request_reconciliation(
    State(state): State<ApiState>,
    principal: Principal,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Admin)?;
    let dry_run = parse_input(&crate::body::bytes(body)?)?;
    let client = state.database.client().await.map_err(StoreError::from)?;
    let run = runs::request(&**client, dry_run, &principal.subject).await?;
    tracing::info!(run_id = %run.id, dry_run, "reconciliation requested");
    let location = HeaderValue::from_str(&format!("/v1/sync/reconciliations/{}", run.id));
    let mut response = json(StatusCode::ACCEPTED, &ReconciliationResponse::from(run));
    if let Ok(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// GET /v1/sync/reconciliations
#[utoipa::path(
    get,
    path = "/v1/sync/reconciliations",
    tag = "sync",
    params(
        ("limit" = Option<u32>, Query, description = "1 to 100, default 20", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page", pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"),
    ),
    responses(
        (status = 200, description = "One page of runs, newest first", body = ReconciliationList),
        (status = 400, description = "Malformed query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The admin role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid limit or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn list_reconciliations(
    State(state): State<ApiState>,
    principal: Principal,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Admin)?;
    let Query(pairs) = query
        .map_err(|_| Problem::new(StatusCode::BAD_REQUEST, "the query string is malformed"))?;
    let mut limit = 20;
    let mut cursor = None;
    for (name, value) in &pairs {
        match name.as_str() {
            "limit" => {
                limit = value
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|limit| (1..=100).contains(limit))
                    .ok_or_else(|| {
                        Problem::invalid_field("limit", "must be an integer from 1 to 100")
                    })?;
            }
            "cursor" => cursor = Some(value.clone()),
            other => return Err(Problem::invalid_field(other, "is not a known parameter")),
        }
    }
    let page = runs::list(&state.database, limit, cursor.as_deref()).await?;
    let body = ReconciliationList {
        items: page
            .items
            .into_iter()
            .map(ReconciliationResponse::from)
            .collect(),
        next_cursor: page.next_cursor,
    };
    Ok(json(StatusCode::OK, &body))
}

/// GET /v1/sync/reconciliations/{id}
#[utoipa::path(
    get,
    path = "/v1/sync/reconciliations/{id}",
    tag = "sync",
    params(("id" = Uuid, Path, description = "The run id")),
    responses(
        (status = 200, description = "The run and its report", body = ReconciliationResponse),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The admin role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn get_reconciliation(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    principal.require(Role::Admin)?;
    let id = crate::ids::path_id(&id)?;
    let run = runs::get(&state.database, id).await?;
    Ok(json(StatusCode::OK, &ReconciliationResponse::from(run)))
}

/// An empty body, or an object with at most `dry_run` (a boolean).
fn parse_input(body: &[u8]) -> Result<bool, Problem> {
    if crate::body::is_absent(body) {
        return Ok(false);
    }
    let value = crate::body::parse(body)?;
    // The body is optional: JSON null says "no options" as an empty body does.
    if value.is_null() {
        return Ok(false);
    }
    let Some(object) = value.as_object() else {
        return Err(Problem::invalid_field(
            "body",
            "must be an object such as {\"dry_run\": true}",
        ));
    };
    if let Some(unknown) = object.keys().find(|k| *k != "dry_run") {
        return Err(Problem::invalid_field(unknown, "is not a known field"));
    }
    match object.get("dry_run") {
        None => Ok(false),
        Some(serde_json::Value::Bool(dry_run)) => Ok(*dry_run),
        Some(_) => Err(Problem::invalid_field("dry_run", "must be true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_parse_or_name_the_field_at_fault() {
        assert!(!parse_input(b"").unwrap());
        assert!(!parse_input(b"{}").unwrap());
        assert!(!parse_input(b"null").unwrap());
        assert!(parse_input(br#"{"dry_run": true}"#).unwrap());
        assert!(!parse_input(br#"{"dry_run": false}"#).unwrap());
        assert_eq!(parse_input(b"{nope").unwrap_err().status, 400);
        // Whitespace is a body, not its absence, and not the object the contract asks for.
        assert_eq!(parse_input(b" ").unwrap_err().status, 400);
        assert_eq!(parse_input(b"\r\n").unwrap_err().status, 400);
        for (body, field) in [
            (&br#"{"dry_run": "yes"}"#[..], "dry_run"),
            (br#"{"dryrun": true}"#, "dryrun"),
            (b"[true]", "body"),
        ] {
            let problem = parse_input(body).unwrap_err();
            assert_eq!(problem.status, 422);
            assert_eq!(problem.errors[0].field, field);
        }
    }
}
