//! Imports from HubSpot (issue 20): `POST /v1/sync/imports` (admin: an import links records
//! and may create customers by the company rule) queues one; `GET /v1/sync/imports[/{id}]`
//! shows progress and counts; `GET /v1/sync/imports/{id}/items` lists the records left for a
//! person (proposed matches with their candidates, keys naming nothing, refused links).
//!
//! The API only queues; the reconciler's frequent job (or `warp import`) runs it, page by page
//! from its checkpoint.

use crate::ApiState;
use crate::auth::{Principal, Role};
use crate::conventions::{PageParams, json_response, read_limit};
use crate::problem::Problem;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;
use warp_domain::customer::FieldError;
use warp_domain::import::ImportObject;
use warp_store::imports::{self, Import, ImportItem, Requested};

/// The OpenAPI paths and schemas of this module (merged into the API document).
#[derive(OpenApi)]
#[openapi(
    paths(request_import, list_imports, get_import, list_import_items),
    components(schemas(ImportResponse, ImportList, ImportInput, ImportObjectType, ImportItemResponse, ImportItemList)),
    tags((name = "sync", description = "HubSpot sync conflicts and operations"))
)]
pub(crate) struct Doc;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/sync/imports", get(list_imports).post(request_import))
        .route("/v1/sync/imports/{id}", get(get_import))
        .route("/v1/sync/imports/{id}/items", get(list_import_items))
}

/// What an import reads from HubSpot.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // documents the values of `object_type`, which is parsed and served as text
pub enum ImportObjectType {
    Companies,
    Contacts,
    Deals,
}

/// `{"object_type": "companies"|"contacts"|"deals", "dry_run": bool}`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the body; parsing is by hand to name the field at fault
pub struct ImportInput {
    /// companies (matched to customers), contacts (to users) or deals (mirrored).
    #[schema(value_type = ImportObjectType)]
    pub object_type: String,
    /// Match and count only (default false).
    pub dry_run: Option<bool>,
}

/// One import and its progress.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResponse {
    pub id: Uuid,
    #[schema(value_type = ImportObjectType)]
    pub object_type: String,
    pub dry_run: bool,
    /// queued, running, succeeded, completed_with_errors (some records failed: see the items)
    /// or failed (HubSpot refused the read; see last_error).
    #[schema(example = "running")]
    pub status: String,
    pub requested_by: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// HubSpot's count of the records when the import started, for progress.
    pub total_estimate: Option<i64>,
    /// Pages of 100 done.
    pub pages: i64,
    /// HubSpot records read.
    pub read: i64,
    /// Matched to a WARP record (linked before, or by this import).
    pub matched: i64,
    /// Linked by this import.
    pub linked: i64,
    /// Customers started by the company rule, or deals stored for the first time.
    pub created: i64,
    /// Proposed matches left for a person (see the items).
    pub ambiguous: i64,
    /// Companies left as candidates to adopt.
    pub candidates: i64,
    /// Nothing in WARP and nothing to create (a contact with no user, a key naming nothing).
    pub unmatched: i64,
    /// Records whose link was refused (see the items).
    pub failed: i64,
    /// Why the last attempt stopped (a transient failure is retried from the checkpoint).
    pub last_error: Option<String>,
}

impl From<Import> for ImportResponse {
    fn from(import: Import) -> Self {
        let counts = import.counts;
        ImportResponse {
            id: import.id,
            object_type: import.object.as_str().to_owned(),
            dry_run: import.dry_run,
            status: import.status,
            requested_by: import.requested_by,
            requested_at: import.requested_at,
            started_at: import.started_at,
            finished_at: import.finished_at,
            total_estimate: import.total_estimate,
            pages: import.pages,
            read: counts.read,
            matched: counts.matched,
            linked: counts.linked,
            created: counts.created,
            ambiguous: counts.ambiguous,
            candidates: counts.candidates,
            unmatched: counts.unmatched,
            failed: counts.failed,
            last_error: import.last_error,
        }
    }
}

/// Imports, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportList {
    pub items: Vec<ImportResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A record an import left for a person.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportItemResponse {
    #[schema(example = "40000000017")]
    pub hubspot_id: String,
    /// ambiguous (a proposed match: link one of the candidates by hand), unknown_key (it
    /// carries a key naming no WARP record) or failed (the link was refused).
    #[schema(example = "ambiguous")]
    pub outcome: String,
    #[schema(example = "2 customers have its domain")]
    pub reason: String,
    /// The WARP records it may be (customers for companies, users for contacts).
    pub candidates: Vec<Uuid>,
}

impl From<ImportItem> for ImportItemResponse {
    fn from(item: ImportItem) -> Self {
        ImportItemResponse {
            hubspot_id: item.hubspot_id,
            outcome: item.outcome.to_owned(),
            reason: item.reason,
            candidates: item.candidates,
        }
    }
}

/// A page of an import's items, in HubSpot id order.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportItemList {
    pub items: Vec<ImportItemResponse>,
    /// Pass as `after` for the next page; null on the last page.
    pub next_after: Option<String>,
}

/// POST /v1/sync/imports
#[utoipa::path(
    post,
    path = "/v1/sync/imports",
    tag = "sync",
    request_body(content = ImportInput, content_type = "application/json"),
    responses(
        (status = 202, description = "Queued; the reconciler runs it shortly (Location: the import)", body = ImportResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The admin role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "An import of this object type is queued or running (Location: that one)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body (the field is named)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn request_import(
    State(state): State<ApiState>,
    principal: Principal,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Admin)?;
    let value = crate::body::json(body)?;
    let (object, dry_run) = parse_input(&value)?;
    let requested = imports::request(
        &state.database,
        state.portal_id(),
        object,
        dry_run,
        &principal.subject,
    )
    .await?;
    match requested {
        Requested::New(import) => {
            tracing::info!(import_id = %import.id, %object, dry_run, "import requested");
            let mut response = json_response(
                StatusCode::ACCEPTED,
                &ImportResponse::from(import.clone()),
                None,
            );
            set_location(&mut response, import.id);
            Ok(response)
        }
        Requested::Existing(import) => {
            let mut response = Problem::new(
                StatusCode::CONFLICT,
                format!(
                    "an import of {object} is {} already: /v1/sync/imports/{}",
                    import.status, import.id
                ),
            )
            .into_response();
            set_location(&mut response, import.id);
            Ok(response)
        }
    }
}

fn set_location(response: &mut Response, id: Uuid) {
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/sync/imports/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
}

/// GET /v1/sync/imports
#[utoipa::path(
    get,
    path = "/v1/sync/imports",
    tag = "sync",
    params(
        ("limit" = Option<u32>, Query, description = "1 to 100, default 20", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page", pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"),
    ),
    responses(
        (status = 200, description = "Imports, newest first", body = ImportList),
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad limit or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn list_imports(
    State(state): State<ApiState>,
    principal: Principal,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Viewer)?;
    let Query(pairs) = query
        .map_err(|_| Problem::new(StatusCode::BAD_REQUEST, "the query string is malformed"))?;
    let mut page = PageParams::default();
    let mut errors = Vec::new();
    for (name, value) in pairs {
        if !page.read(&name, &value, &mut errors) {
            errors.push(FieldError::new(name, "is not a known parameter"));
        }
    }
    if !errors.is_empty() {
        return Err(Problem::invalid(errors));
    }
    let found = imports::list(&state.database, state.portal_id(), page.limit, page.after).await?;
    let body = ImportList {
        items: found.items.into_iter().map(ImportResponse::from).collect(),
        next_cursor: found.next_cursor,
    };
    Ok(json_response(StatusCode::OK, &body, None))
}

/// GET /v1/sync/imports/{id}
#[utoipa::path(
    get,
    path = "/v1/sync/imports/{id}",
    tag = "sync",
    params(("id" = Uuid, Path, description = "Import id")),
    responses(
        (status = 200, description = "The import and its counts", body = ImportResponse),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such import", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn get_import(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    principal.require(Role::Viewer)?;
    let id = crate::ids::path_id(&id)?;
    let import = imports::get(&state.database, state.portal_id(), id).await?;
    Ok(json_response(
        StatusCode::OK,
        &ImportResponse::from(import),
        None,
    ))
}

/// GET /v1/sync/imports/{id}/items
#[utoipa::path(
    get,
    path = "/v1/sync/imports/{id}/items",
    tag = "sync",
    params(
        ("id" = Uuid, Path, description = "Import id"),
        ("limit" = Option<u32>, Query, description = "1 to 100, default 20", minimum = 1, maximum = 100),
        ("after" = Option<String>, Query, description = "next_after of the previous page (a HubSpot id)", pattern = r"^[0-9]{1,20}$"),
    ),
    responses(
        (status = 200, description = "The records left for a person", body = ImportItemList),
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such import", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad limit or after", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn list_import_items(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Viewer)?;
    let id = crate::ids::path_id(&id)?;
    let Query(pairs) = query
        .map_err(|_| Problem::new(StatusCode::BAD_REQUEST, "the query string is malformed"))?;
    let mut limit = 20;
    let mut after = None;
    let mut errors = Vec::new();
    for (name, value) in pairs {
        match name.as_str() {
            "limit" => {
                if let Some(parsed) = read_limit(&value, &mut errors) {
                    limit = parsed;
                }
            }
            "after" => {
                let value = value.trim();
                if (1..=20).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()) {
                    after = Some(value.to_owned());
                } else {
                    errors.push(FieldError::new(
                        "after",
                        "must be a HubSpot id: 1 to 20 digits",
                    ));
                }
            }
            _ => errors.push(FieldError::new(name, "is not a known parameter")),
        }
    }
    if !errors.is_empty() {
        return Err(Problem::invalid(errors));
    }
    // 404 for an import of another portal, or none.
    imports::get(&state.database, state.portal_id(), id).await?;
    let items = imports::items(&state.database, id, after.as_deref(), limit).await?;
    let next_after = (items.len() == limit as usize)
        .then(|| items.last().map(|item| item.hubspot_id.clone()))
        .flatten();
    let body = ImportItemList {
        items: items.into_iter().map(ImportItemResponse::from).collect(),
        next_after,
    };
    Ok(json_response(StatusCode::OK, &body, None))
}

/// `{"object_type": ..., "dry_run": ...}`: object_type required, nothing else accepted.
fn parse_input(body: &serde_json::Value) -> Result<(ImportObject, bool), Problem> {
    let Some(object) = body.as_object() else {
        return Err(Problem::invalid_field(
            "body",
            "must be an object such as {\"object_type\": \"companies\", \"dry_run\": true}",
        ));
    };
    let mut errors = Vec::new();
    for unknown in object
        .keys()
        .filter(|k| !matches!(k.as_str(), "object_type" | "dry_run"))
    {
        errors.push(FieldError::new(unknown, "is not a known field"));
    }
    let kind = match object.get("object_type") {
        Some(serde_json::Value::String(text)) => match text.trim().parse::<ImportObject>() {
            Ok(kind) => Some(kind),
            Err(error) => {
                errors.push(FieldError::new("object_type", error.to_string()));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::new(
                "object_type",
                "must be one of companies, contacts, deals",
            ));
            None
        }
        None => {
            errors.push(FieldError::new(
                "object_type",
                "is required: companies, contacts or deals",
            ));
            None
        }
    };
    let dry_run = match object.get("dry_run") {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::Bool(dry_run)) => *dry_run,
        Some(_) => {
            errors.push(FieldError::new("dry_run", "must be true or false"));
            false
        }
    };
    match kind {
        Some(kind) if errors.is_empty() => Ok((kind, dry_run)),
        _ => Err(Problem::invalid(errors)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_parse_or_name_every_field_at_fault() {
        assert_eq!(
            parse_input(&json!({"object_type": "contacts"})).unwrap(),
            (ImportObject::Contacts, false)
        );
        assert_eq!(
            parse_input(&json!({"object_type": "deals", "dry_run": true})).unwrap(),
            (ImportObject::Deals, true)
        );
        let problem =
            parse_input(&json!({"object_type": "tickets", "dry_run": "yes", "x": 1})).unwrap_err();
        assert_eq!(problem.status, 422);
        let mut fields: Vec<&str> = problem.errors.iter().map(|e| e.field.as_str()).collect();
        fields.sort();
        assert_eq!(fields, vec!["dry_run", "object_type", "x"]);
        assert_eq!(
            parse_input(&json!({})).unwrap_err().errors[0].field,
            "object_type"
        );
        assert_eq!(
            parse_input(&json!([1])).unwrap_err().errors[0].field,
            "body"
        );
    }
}
