//! The audit log (issue 23): `GET /v1/audit` (admin) reads who changed which customer or user,
//! when, through which route and request, and each field's old and new value. Values are in
//! the answer (admins only) and never in logs.

use crate::ApiState;
use crate::auth::{Principal, Role};
use crate::conventions::{json_response, read_limit};
use crate::problem::Problem;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;
use warp_domain::customer::FieldError;
use warp_store::audit::{self, AuditEntry, AuditQuery, EntityType};

/// The OpenAPI paths and schemas of this module (merged into the API document).
#[derive(OpenApi)]
#[openapi(
    paths(list_audit),
    components(schemas(AuditEntryResponse, AuditList)),
    tags((name = "audit", description = "Who changed what through the API"))
)]
pub(crate) struct Doc;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new().route("/v1/audit", get(list_audit))
}

/// One write.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryResponse {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// The JWT subject.
    pub actor: String,
    #[schema(example = "PATCH /v1/customers/{id}")]
    pub route: String,
    pub request_id: Option<String>,
    /// customer, user, trunk or number.
    #[schema(example = "customer")]
    pub entity_type: String,
    pub entity_id: Uuid,
    /// create, update, delete, move or release.
    #[schema(example = "update")]
    pub action: String,
    /// `{"field": {"old": …, "new": …}}` for each field that changed.
    #[schema(value_type = Object)]
    pub changes: serde_json::Value,
}

impl From<AuditEntry> for AuditEntryResponse {
    fn from(entry: AuditEntry) -> Self {
        AuditEntryResponse {
            id: entry.id,
            at: entry.at,
            actor: entry.actor,
            route: entry.route,
            request_id: entry.request_id,
            entity_type: entry.entity_type,
            entity_id: entry.entity_id,
            action: entry.action,
            changes: entry.changes,
        }
    }
}

/// Entries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditList {
    pub items: Vec<AuditEntryResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// GET /v1/audit
#[utoipa::path(
    get,
    path = "/v1/audit",
    tag = "audit",
    params(
        ("entity_type" = Option<String>, Query, description = "customer, user, trunk or number", pattern = r"^(customer|user|trunk|number)$"),
        ("entity_id" = Option<Uuid>, Query, description = "One customer's or user's entries"),
        ("actor" = Option<String>, Query, description = "One JWT subject's entries", min_length = 1, max_length = 255),
        ("limit" = Option<u32>, Query, description = "1 to 100, default 20", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page", pattern = r"^[0-9]{1,19}$"),
    ),
    responses(
        (status = 200, description = "Entries, newest first", body = AuditList),
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The admin role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad parameter (named)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn list_audit(
    State(state): State<ApiState>,
    principal: Principal,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Admin)?;
    let Query(pairs) = query
        .map_err(|_| Problem::new(StatusCode::BAD_REQUEST, "the query string is malformed"))?;
    let mut audit_query = AuditQuery {
        limit: 20,
        ..AuditQuery::default()
    };
    let mut errors = Vec::new();
    for (name, value) in pairs {
        let value = value.trim();
        match name.as_str() {
            "entity_type" => match EntityType::ALL.iter().find(|e| e.as_str() == value) {
                Some(entity) => audit_query.entity_type = Some(*entity),
                None => errors.push(FieldError::new(
                    "entity_type",
                    "must be customer, user, trunk or number",
                )),
            },
            "entity_id" => match Uuid::parse_str(value) {
                Ok(id) => audit_query.entity_id = Some(id),
                Err(_) => errors.push(FieldError::new("entity_id", "must be a UUID")),
            },
            "actor" if (1..=255).contains(&value.len()) => {
                // Actors are stored storable (a NUL replaced): the filter matches them so.
                audit_query.actor = Some(warp_domain::storable::storable(value).into_owned());
            }
            "actor" => errors.push(FieldError::new("actor", "must be 1 to 255 characters")),
            "limit" => {
                if let Some(limit) = read_limit(value, &mut errors) {
                    audit_query.limit = limit;
                }
            }
            "cursor" => match crate::conventions::id_cursor(value) {
                Some(id) => audit_query.before = Some(id),
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
    let entries = audit::list(&state.database, &audit_query).await?;
    let next_cursor = (entries.len() == audit_query.limit as usize)
        .then(|| entries.last().map(|entry| entry.id.to_string()))
        .flatten();
    let body = AuditList {
        items: entries.into_iter().map(AuditEntryResponse::from).collect(),
        next_cursor,
    };
    Ok(json_response(StatusCode::OK, &body, None))
}
