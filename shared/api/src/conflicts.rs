//! Sync conflicts the field rules could not settle: listing and resolving them (admin).
//!
//! A conflict holds both values and both change times. Resolving applies the chosen value to
//! the customer and queues an outbound push when HubSpot must change, in one transaction with
//! marking the conflict RESOLVED (see `warp_store::conflicts`).

use crate::ApiState;
use crate::auth::{Principal, Role};
use crate::problem::Problem;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::json::json;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;
use warp_domain::sync::ObjectType;
use warp_store::conflicts::{
    self, ConflictQuery, ConflictStatus, Resolution, ResolveError, SyncConflict,
};

/// The OpenAPI paths and schemas of this module (merged into the API document).
#[derive(OpenApi)]
#[openapi(
    paths(list_conflicts, resolve_conflict),
    components(schemas(ConflictResponse, ConflictList, ResolveConflictInput)),
    tags((name = "sync", description = "HubSpot sync conflicts and operations"))
)]
pub(crate) struct Doc;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/sync/conflicts", get(list_conflicts))
        .route("/v1/sync/conflicts/{id}/resolve", post(resolve_conflict))
}

/// One conflict.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConflictResponse {
    pub id: Uuid,
    /// `companies` (a customer's field) or `contacts` (a user's).
    pub object_type: String,
    /// The WARP record: the customer's id for companies, the user's for contacts.
    pub local_id: Uuid,
    /// The customer, for a company conflict (kept for clients of the first API version).
    pub customer_id: Option<Uuid>,
    /// The WARP field, e.g. `company_name`.
    pub field: String,
    pub warp_value: Option<String>,
    pub hubspot_value: Option<String>,
    pub warp_changed_at: Option<DateTime<Utc>>,
    pub hubspot_changed_at: Option<DateTime<Utc>>,
    /// OPEN or RESOLVED.
    pub status: String,
    /// How it was resolved: `{"winner": "warp"|"hubspot"|"value", "resolved_by", "outbox_id",
    /// "customer_version"}` (`"user_version"` for a contact conflict).
    #[schema(value_type = Option<Object>)]
    pub resolution: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

impl From<SyncConflict> for ConflictResponse {
    fn from(conflict: SyncConflict) -> Self {
        ConflictResponse {
            id: conflict.id,
            object_type: conflict.object_type.as_str().to_owned(),
            local_id: conflict.local_id,
            customer_id: (conflict.object_type == ObjectType::Companies)
                .then_some(conflict.local_id),
            field: conflict.field,
            warp_value: conflict.warp_value,
            hubspot_value: conflict.hubspot_value,
            warp_changed_at: conflict.warp_changed_at,
            hubspot_changed_at: conflict.hubspot_changed_at,
            status: conflict.status.as_str().to_owned(),
            resolution: conflict.resolution,
            created_at: conflict.created_at,
            resolved_at: conflict.resolved_at,
        }
    }
}

/// One page of conflicts, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConflictList {
    pub items: Vec<ConflictResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Exactly one of `winner` ("warp" or "hubspot") or `value` (the value both sides take).
#[derive(Debug)]
#[allow(dead_code)] // documents the body; parsing is by hand to name the field at fault
pub struct ResolveConflictInput {
    pub winner: Option<String>,
    pub value: Option<String>,
}

// One of two closed objects, as `parse_resolution` reads the body: the derive cannot say
// "exactly one of".
impl utoipa::PartialSchema for ResolveConflictInput {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        let closed = |name: &str, property: ObjectBuilder| {
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property(name, property)
                .required(name)
                .additional_properties(Some(
                    utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
                ))
        };
        OneOfBuilder::new()
            .item(closed(
                "winner",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["warp", "hubspot"])),
            ))
            .item(closed(
                "value",
                ObjectBuilder::new().schema_type(Type::String),
            ))
            .into()
    }
}

impl utoipa::ToSchema for ResolveConflictInput {}

/// GET /v1/sync/conflicts
#[utoipa::path(
    get,
    path = "/v1/sync/conflicts",
    tag = "sync",
    params(
        ("status" = Option<String>, Query, description = "OPEN or RESOLVED; all when absent", pattern = r"^\s*(OPEN|RESOLVED)\s*$"),
        ("limit" = Option<u32>, Query, description = "1 to 100, default 20", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page", pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"),
    ),
    responses(
        (status = 200, description = "One page of conflicts, oldest first", body = ConflictList),
        (status = 400, description = "Malformed query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The admin role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid status, limit or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn list_conflicts(
    State(state): State<ApiState>,
    principal: Principal,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Admin)?;
    let Query(pairs) = query
        .map_err(|_| Problem::new(StatusCode::BAD_REQUEST, "the query string is malformed"))?;
    let mut query = ConflictQuery {
        limit: 20,
        ..ConflictQuery::default()
    };
    for (name, value) in &pairs {
        match name.as_str() {
            "status" => {
                query.status =
                    Some(ConflictStatus::parse(value.trim()).ok_or_else(|| {
                        Problem::invalid_field("status", "must be OPEN or RESOLVED")
                    })?);
            }
            "limit" => {
                query.limit = value
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|limit| (1..=100).contains(limit))
                    .ok_or_else(|| {
                        Problem::invalid_field("limit", "must be an integer from 1 to 100")
                    })?;
            }
            "cursor" => query.cursor = Some(value.clone()),
            other => {
                return Err(Problem::invalid_field(other, "is not a known parameter"));
            }
        }
    }
    let page = conflicts::list(&state.database, None, &query).await?;
    let body = ConflictList {
        items: page.items.into_iter().map(ConflictResponse::from).collect(),
        next_cursor: page.next_cursor,
    };
    Ok(json(StatusCode::OK, &body))
}

/// POST /v1/sync/conflicts/{id}/resolve
#[utoipa::path(
    post,
    path = "/v1/sync/conflicts/{id}/resolve",
    tag = "sync",
    params(("id" = Uuid, Path, description = "The conflict id")),
    request_body(content = ResolveConflictInput, content_type = "application/json",
        description = r#"{"winner":"warp"} | {"winner":"hubspot"} | {"value":"..."}"#),
    responses(
        (status = 200, description = "Resolved: the value is applied and, when HubSpot must change, a push is queued", body = ConflictResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The admin role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such conflict", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already resolved, the customer is deleted, or a contact conflict (settled in HubSpot or through the user API)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body or value (the field is named)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn resolve_conflict(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Admin)?;
    let id = crate::ids::path_id(&id)?;
    let value = crate::body::json(body)?;
    let resolution = parse_resolution(&value)?;
    let resolved = conflicts::resolve(
        &state.database,
        id,
        &resolution,
        &principal.subject,
        Some(&principal.actor()),
    )
    .await
    .map_err(|error| match error {
        ResolveError::NotFound => Problem::not_found(),
        ResolveError::AlreadyResolved => {
            Problem::new(StatusCode::CONFLICT, "the conflict is already resolved")
        }
        ResolveError::CustomerDeleted => {
            Problem::new(StatusCode::CONFLICT, "the customer is deleted")
        }
        not_by_value @ ResolveError::NotByValue(_) => {
            Problem::new(StatusCode::CONFLICT, not_by_value.to_string())
        }
        ResolveError::InvalidValue(reason) => {
            let field = if matches!(resolution, Resolution::Value(_)) {
                "value"
            } else {
                "winner"
            };
            Problem::invalid_field(field, &reason)
        }
        ResolveError::Store(store) => store.into(),
    })?;
    tracing::info!(conflict_id = %id, object_type = %resolved.conflict.object_type, local_id = %resolved.conflict.local_id, outbox_id = ?resolved.outbox_id, "sync conflict resolved");
    if let Some(outbox_id) = resolved.outbox_id {
        state.publish(outbox_id).await;
    }
    Ok(json(
        StatusCode::OK,
        &ConflictResponse::from(resolved.conflict),
    ))
}

/// `{"winner":"warp"|"hubspot"}` or `{"value":"..."}`, nothing else.
fn parse_resolution(body: &serde_json::Value) -> Result<Resolution, Problem> {
    let Some(object) = body.as_object() else {
        return Err(Problem::invalid_field(
            "body",
            "must be an object with winner or value",
        ));
    };
    if let Some(unknown) = object.keys().find(|k| *k != "winner" && *k != "value") {
        return Err(Problem::invalid_field(unknown, "is not a known field"));
    }
    match (object.get("winner"), object.get("value")) {
        (Some(_), Some(_)) => Err(Problem::invalid_field(
            "value",
            "give either winner or value, not both",
        )),
        (Some(winner), None) => match winner.as_str() {
            Some("warp") => Ok(Resolution::Warp),
            Some("hubspot") => Ok(Resolution::HubSpot),
            _ => Err(Problem::invalid_field(
                "winner",
                "must be \"warp\" or \"hubspot\"",
            )),
        },
        (None, Some(value)) => match value.as_str() {
            Some(text) => Ok(Resolution::Value(text.to_owned())),
            None => Err(Problem::invalid_field("value", "must be a string")),
        },
        (None, None) => Err(Problem::invalid_field(
            "winner",
            "give winner (\"warp\" or \"hubspot\") or value",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resolution_bodies_parse_or_name_the_field_at_fault() {
        assert_eq!(
            parse_resolution(&json!({"winner": "warp"})).unwrap(),
            Resolution::Warp
        );
        assert_eq!(
            parse_resolution(&json!({"winner": "hubspot"})).unwrap(),
            Resolution::HubSpot
        );
        assert_eq!(
            parse_resolution(&json!({"value": "Acme"})).unwrap(),
            Resolution::Value("Acme".into())
        );
        for (body, field) in [
            (json!({"winner": "nobody"}), "winner"),
            (json!({}), "winner"),
            (json!({"value": 5}), "value"),
            (json!({"winner": "warp", "value": "x"}), "value"),
            (json!({"other": 1}), "other"),
            (json!([1]), "body"),
        ] {
            let problem = parse_resolution(&body).unwrap_err();
            assert_eq!(problem.status, 422, "{body}");
            assert_eq!(problem.errors[0].field, field, "{body}");
        }
    }
}
