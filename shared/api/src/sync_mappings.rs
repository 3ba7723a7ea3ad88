//! The field mapping (DESIGN §7) over HTTP: read it (any role) and change one field (admin).
//! The checks and the work a change causes live in `warp_sync::mapping_admin`; this module only
//! parses and answers.

use crate::ApiState;
use crate::auth::{Principal, Role};
use crate::json::json;
use crate::problem::Problem;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, put};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;
use warp_domain::customer::FieldError;
use warp_domain::sync::{FieldMapError, FieldMappingRow, ObjectType};
use warp_store::StoreError;
use warp_store::sync_config::{self, StoredMapping};
use warp_sync::mapping_admin::{self, MappingChangeError};

/// The OpenAPI paths and schemas of this module (merged into the API document).
#[derive(OpenApi)]
#[openapi(
    paths(get_mapping, change_field_mapping),
    components(schemas(MappingResponse, FieldMappingResponse, FieldMappingInput, MappingChangeResponse, Direction, Rule, MappingObjectType)),
    tags((name = "sync", description = "HubSpot sync conflicts and operations"))
)]
pub(crate) struct Doc;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/sync/mappings/{object_type}", get(get_mapping))
        .route(
            "/v1/sync/mappings/{object_type}/fields/{warp_field}",
            put(change_field_mapping),
        )
}

/// A HubSpot object type the engine maps.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // documents the path parameter, which is parsed by `ObjectType`
pub enum MappingObjectType {
    Companies,
    Contacts,
}

/// Which way a field's changes flow.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(dead_code)] // documents `direction`, which is parsed as text
pub enum Direction {
    WarpToHubspot,
    HubspotToWarp,
    Both,
}

/// Which side's value stands when both changed.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(dead_code, clippy::enum_variant_names)] // documents `conflict_rule` (the table's names)
pub enum Rule {
    WarpWins,
    HubspotWins,
    LatestWins,
}

/// One field's mapping as in force for this deployment's portal.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldMappingResponse {
    /// The WARP field, e.g. `company_name`.
    pub warp_field: String,
    pub hubspot_property: String,
    #[schema(value_type = Direction)]
    pub direction: String,
    #[schema(value_type = Rule)]
    pub conflict_rule: String,
    pub enabled: bool,
    pub never_overwrite_with_empty: bool,
    /// `default` (every portal's seed row) or `portal` (changed for this portal).
    pub source: String,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<String>,
}

impl From<StoredMapping> for FieldMappingResponse {
    fn from(stored: StoredMapping) -> Self {
        FieldMappingResponse {
            warp_field: stored.row.warp_field,
            hubspot_property: stored.row.hubspot_property,
            direction: stored.row.direction,
            conflict_rule: stored.row.conflict_rule,
            enabled: stored.row.enabled,
            never_overwrite_with_empty: stored.row.never_overwrite_with_empty,
            source: source_name(stored.portal_specific),
            updated_at: stored.updated_at,
            updated_by: stored.updated_by,
        }
    }
}

/// Where a row in force comes from: `portal` (changed for this portal) or `default`.
pub(crate) fn source_name(portal_specific: bool) -> String {
    if portal_specific { "portal" } else { "default" }.to_owned()
}

/// The whole mapping of one object type.
#[derive(Debug, Serialize, ToSchema)]
pub struct MappingResponse {
    #[schema(value_type = MappingObjectType)]
    pub object_type: String,
    pub portal_id: i64,
    pub fields: Vec<FieldMappingResponse>,
}

/// A field's new mapping; every member is required.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the body, which `parse_input` reads member by member
pub struct FieldMappingInput {
    /// The internal name of an existing HubSpot property that can hold the field's values.
    pub hubspot_property: String,
    #[schema(value_type = Direction)]
    pub direction: String,
    #[schema(value_type = Rule)]
    pub conflict_rule: String,
    pub enabled: bool,
    /// An empty value on one side never replaces a value on the other.
    pub never_overwrite_with_empty: bool,
}

/// What a change did.
#[derive(Debug, Serialize, ToSchema)]
pub struct MappingChangeResponse {
    pub field: FieldMappingResponse,
    /// False when the mapping already said this: nothing was stored or queued.
    pub changed: bool,
    /// Linked customers whose full push was queued (what WARP sends changed).
    pub resync_queued: u64,
    /// Whether HubSpot may write the field under the new mapping, so a reconciliation compares
    /// its values (queued unless this was a dry run).
    pub reconciliation_needed: bool,
    /// The reconciliation queued to compare HubSpot's values under the new rules (what HubSpot
    /// may write changed); null for a dry run.
    pub reconciliation_id: Option<Uuid>,
    /// True when nothing was stored or queued: the figures say what saving would do.
    pub dry_run: bool,
}

/// GET /v1/sync/mappings/{object_type}
#[utoipa::path(
    get,
    path = "/v1/sync/mappings/{object_type}",
    tag = "sync",
    params(("object_type" = MappingObjectType, Path, description = "HubSpot object type")),
    responses(
        (status = 200, description = "Every mapped field, as in force for this portal", body = MappingResponse),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such object type", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn get_mapping(
    State(state): State<ApiState>,
    principal: Principal,
    Path(object_type): Path<String>,
) -> Result<Response, Problem> {
    principal.require(Role::Viewer)?;
    let object_type = parse_object_type(&object_type)?;
    let client = state.database.client().await.map_err(StoreError::from)?;
    let rows = sync_config::effective_rows(&**client, state.portal_id(), object_type).await?;
    Ok(json(
        StatusCode::OK,
        &MappingResponse {
            object_type: object_type.as_str().to_owned(),
            portal_id: state.portal_id(),
            fields: rows.into_iter().map(FieldMappingResponse::from).collect(),
        },
    ))
}

/// PUT /v1/sync/mappings/{object_type}/fields/{warp_field}
#[utoipa::path(
    put,
    path = "/v1/sync/mappings/{object_type}/fields/{warp_field}",
    tag = "sync",
    params(
        ("object_type" = MappingObjectType, Path, description = "HubSpot object type"),
        ("warp_field" = String, Path, description = "The WARP field, e.g. company_name"),
        ("dry_run" = Option<bool>, Query, description = "Check the change and answer what saving it would do, storing and queuing nothing"),
    ),
    request_body(content = FieldMappingInput, content_type = "application/json"),
    responses(
        (status = 200, description = "Stored for this portal, the resync and reconciliation it needs queued; with dry_run=true only checked and counted (`field` then shows the proposal)", body = MappingChangeResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The admin role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such object type or field", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The change is refused: the member at fault is named (a property HubSpot lacks, of the wrong type or read-only, a property mapped twice, a rule against the direction, the key field)", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "HubSpot could not be asked about the property", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database or HubSpot unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn change_field_mapping(
    State(state): State<ApiState>,
    principal: Principal,
    Path((object_type, warp_field)): Path<(String, String)>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Admin)?;
    let dry_run = dry_run(query)?;
    let object_type = parse_object_type(&object_type)?;
    crate::body::require_json(&headers)?;
    let value = crate::body::json(body)?;
    let row = parse_input(warp_field, &value)?;
    let hubspot = crate::hubspot_links::hubspot(&state)?;
    let change = mapping_admin::change_mapping(
        &state.database,
        hubspot,
        state.portal_id(),
        object_type,
        row,
        &principal.subject,
        dry_run,
    )
    .await
    .map_err(change_problem)?;
    Ok(json(
        StatusCode::OK,
        &MappingChangeResponse {
            field: change.mapping.into(),
            changed: change.changed,
            resync_queued: change.resync_queued,
            reconciliation_needed: change.reconciliation_needed,
            reconciliation_id: change.reconciliation_id,
            dry_run,
        },
    ))
}

/// `?dry_run=true|false` (absent or empty: false); any other parameter is named.
fn dry_run(query: Result<Query<Vec<(String, String)>>, QueryRejection>) -> Result<bool, Problem> {
    let Query(pairs) = query
        .map_err(|_| Problem::new(StatusCode::BAD_REQUEST, "the query string is malformed"))?;
    let mut dry_run = false;
    let mut errors = Vec::new();
    for (name, value) in &pairs {
        match (name.as_str(), value.trim()) {
            ("dry_run", "true") => dry_run = true,
            ("dry_run", "false" | "") => dry_run = false,
            ("dry_run", _) => errors.push(FieldError::new("dry_run", "must be true or false")),
            (other, _) => errors.push(FieldError::new(other, "is not a known parameter")),
        }
    }
    if errors.is_empty() {
        Ok(dry_run)
    } else {
        Err(Problem::invalid(errors))
    }
}

fn parse_object_type(text: &str) -> Result<ObjectType, Problem> {
    text.parse().map_err(|_| Problem::not_found())
}

/// A [`FieldMappingInput`] as the row it asks for; every member at fault is named at once.
fn parse_input(warp_field: String, body: &serde_json::Value) -> Result<FieldMappingRow, Problem> {
    const MEMBERS: [&str; 5] = [
        "hubspot_property",
        "direction",
        "conflict_rule",
        "enabled",
        "never_overwrite_with_empty",
    ];
    let Some(object) = body.as_object() else {
        return Err(Problem::invalid_field("body", "must be a JSON object"));
    };
    let mut errors: Vec<FieldError> = object
        .keys()
        .filter(|key| !MEMBERS.contains(&key.as_str()))
        .map(|key| FieldError::new(key, "is not a known member"))
        .collect();
    let mut text = |member: &'static str, allowed: &[&str]| -> String {
        match object.get(member) {
            None => errors.push(FieldError::new(member, "is required")),
            Some(serde_json::Value::String(value)) if allowed.is_empty() => {
                return value.trim().to_owned();
            }
            Some(serde_json::Value::String(value)) if allowed.contains(&value.as_str()) => {
                return value.clone();
            }
            Some(_) if allowed.is_empty() => {
                errors.push(FieldError::new(member, "must be a string"))
            }
            Some(_) => errors.push(FieldError::new(
                member,
                format!("must be one of {}", allowed.join(", ")),
            )),
        }
        String::new()
    };
    let hubspot_property = text("hubspot_property", &[]);
    let direction = text("direction", &["WARP_TO_HUBSPOT", "HUBSPOT_TO_WARP", "BOTH"]);
    let conflict_rule = text(
        "conflict_rule",
        &["WARP_WINS", "HUBSPOT_WINS", "LATEST_WINS"],
    );
    let mut flag = |member: &'static str| -> bool {
        match object.get(member) {
            Some(serde_json::Value::Bool(value)) => *value,
            None => {
                errors.push(FieldError::new(member, "is required"));
                false
            }
            Some(_) => {
                errors.push(FieldError::new(member, "must be true or false"));
                false
            }
        }
    };
    let enabled = flag("enabled");
    let never_overwrite_with_empty = flag("never_overwrite_with_empty");
    if !errors.is_empty() {
        return Err(Problem::invalid(errors));
    }
    Ok(FieldMappingRow {
        warp_field,
        hubspot_property,
        direction,
        conflict_rule,
        enabled,
        never_overwrite_with_empty,
    })
}

fn change_problem(error: MappingChangeError) -> Problem {
    match error {
        MappingChangeError::UnknownField(_) => Problem::not_found(),
        MappingChangeError::Invalid(invalid) => {
            let member = match &invalid {
                FieldMapError::UnknownField(_)
                | FieldMapError::KeyFieldFixed { .. }
                | FieldMapError::MixedObjectTypes { .. } => "warp_field",
                FieldMapError::UnknownDirection(_) | FieldMapError::WarpOwned { .. } => "direction",
                FieldMapError::UnknownRule(_) | FieldMapError::ContradictoryRule { .. } => {
                    "conflict_rule"
                }
                FieldMapError::DuplicateField { .. }
                | FieldMapError::DuplicateProperty { .. }
                | FieldMapError::InvalidProperty { .. } => "hubspot_property",
            };
            Problem::invalid_field(member, &invalid.to_string())
        }
        MappingChangeError::Property(mismatch) => {
            Problem::invalid_field("hubspot_property", &mismatch.to_string())
        }
        MappingChangeError::HubSpot(error) => {
            crate::hubspot_links::hubspot_failed(&error, "property read")
        }
        MappingChangeError::Store(store) => store.into(),
    }
}
