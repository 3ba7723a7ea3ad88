//! Which company property carries each daily usage figure, over HTTP (issue 22, "mapping as
//! data"): read it (any role), change one figure (admin). The checks live in
//! `warp_sync::mapping_admin::change_usage_property`; this module parses and answers.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, put};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use warp_domain::customer::FieldError;
use warp_domain::usage::UsageFigure;
use warp_store::StoreError;
use warp_store::usage_properties::{self, StoredUsageProperty};
use warp_sync::mapping_admin::{self, UsagePropertyError};

use crate::ApiState;
use crate::auth::{Principal, Role};
use crate::json::json;
use crate::problem::Problem;

/// The OpenAPI paths and schemas of this module (merged into the API document).
#[derive(OpenApi)]
#[openapi(
    paths(usage_properties, change_usage_property),
    components(schemas(UsagePropertiesResponse, UsagePropertyResponse, UsagePropertyInput, UsagePropertyChangeResponse, UsageFigureName)),
    tags((name = "usage", description = "A customer's daily usage, summed into the company's month-to-date figures"))
)]
pub(crate) struct Doc;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/usage/properties", get(usage_properties))
        .route("/v1/usage/properties/{figure}", put(change_usage_property))
}

/// A figure the daily usage push writes on the company.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // documents the path parameter, parsed by `UsageFigure`
pub enum UsageFigureName {
    MtdMinutes,
    MtdSpend,
    Mrr,
    PaymentStatus,
    LastUsageDate,
}

/// One figure's property as in force for this deployment's portal.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsagePropertyResponse {
    #[schema(value_type = UsageFigureName)]
    pub figure: String,
    /// The company property the figure is written to.
    #[schema(example = "warp_mtd_minutes")]
    pub hubspot_property: String,
    /// False: the figure is not written.
    pub enabled: bool,
    /// `default` (every portal's seed row) or `portal` (changed for this portal).
    pub source: String,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<String>,
}

impl From<StoredUsageProperty> for UsagePropertyResponse {
    fn from(stored: StoredUsageProperty) -> Self {
        UsagePropertyResponse {
            figure: stored.figure.as_str().to_owned(),
            hubspot_property: stored.hubspot_property,
            enabled: stored.enabled,
            source: crate::sync_mappings::source_name(stored.portal_specific),
            updated_at: stored.updated_at,
            updated_by: stored.updated_by,
        }
    }
}

/// Every figure's property.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsagePropertiesResponse {
    pub portal_id: i64,
    pub properties: Vec<UsagePropertyResponse>,
}

/// A figure's new property; both members are required.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the body, which `parse_input` reads member by member
pub struct UsagePropertyInput {
    /// The internal name of an existing company property that can hold the figure (a number
    /// for minutes, spend and MRR; an enumeration offering paid, balance_due and over_limit, or
    /// text, for the payment status; a date, or text, for the last usage date).
    pub hubspot_property: String,
    /// False stops writing the figure (the property is then not checked).
    pub enabled: bool,
}

/// What a change did.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsagePropertyChangeResponse {
    pub property: UsagePropertyResponse,
    /// False when the map already said this: nothing was stored.
    pub changed: bool,
    /// Companies the next daily usage push writes again, under the new map.
    pub companies_due: u64,
}

/// GET /v1/usage/properties
#[utoipa::path(
    get,
    path = "/v1/usage/properties",
    tag = "usage",
    responses(
        (status = 200, description = "Each usage figure's company property, as in force for this portal", body = UsagePropertiesResponse),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn usage_properties(
    State(state): State<ApiState>,
    principal: Principal,
) -> Result<Response, Problem> {
    principal.require(Role::Viewer)?;
    let client = state.database.client().await.map_err(StoreError::from)?;
    let rows = usage_properties::rows(&**client, state.portal_id()).await?;
    Ok(json(
        StatusCode::OK,
        &UsagePropertiesResponse {
            portal_id: state.portal_id(),
            properties: rows.into_iter().map(Into::into).collect(),
        },
    ))
}

/// PUT /v1/usage/properties/{figure}
#[utoipa::path(
    put,
    path = "/v1/usage/properties/{figure}",
    tag = "usage",
    params(("figure" = UsageFigureName, Path, description = "The usage figure")),
    request_body(content = UsagePropertyInput, content_type = "application/json"),
    responses(
        (status = 200, description = "Stored for this portal; every company is due for the next daily usage push", body = UsagePropertyChangeResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The admin role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such figure", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Refused, the member at fault named: a malformed name, a property HubSpot lacks, of the wrong type or read-only, or one another figure is written to", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "HubSpot could not be asked about the property", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database or HubSpot unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn change_usage_property(
    State(state): State<ApiState>,
    principal: Principal,
    Path(figure): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Admin)?;
    let figure = UsageFigure::parse(&figure).map_err(|_| Problem::not_found())?;
    crate::body::require_json(&headers)?;
    let value = crate::body::json(body)?;
    let (hubspot_property, enabled) = parse_input(&value)?;
    let hubspot = crate::hubspot_links::hubspot(&state)?;
    let saved = mapping_admin::change_usage_property(
        &state.database,
        hubspot,
        state.portal_id(),
        figure,
        &hubspot_property,
        enabled,
        &principal.subject,
    )
    .await
    .map_err(change_problem)?;
    Ok(json(
        StatusCode::OK,
        &UsagePropertyChangeResponse {
            property: saved.property.into(),
            changed: saved.changed,
            companies_due: saved.companies_due,
        },
    ))
}

/// The body's members; every one at fault is named at once.
fn parse_input(body: &serde_json::Value) -> Result<(String, bool), Problem> {
    const MEMBERS: [&str; 2] = ["hubspot_property", "enabled"];
    let Some(object) = body.as_object() else {
        return Err(Problem::invalid_field("body", "must be a JSON object"));
    };
    let mut errors: Vec<FieldError> = object
        .keys()
        .filter(|key| !MEMBERS.contains(&key.as_str()))
        .map(|key| FieldError::new(key, "is not a known member"))
        .collect();
    let property = match object.get("hubspot_property") {
        Some(serde_json::Value::String(text)) => text.trim().to_owned(),
        Some(_) => {
            errors.push(FieldError::new("hubspot_property", "must be a string"));
            String::new()
        }
        None => {
            errors.push(FieldError::new("hubspot_property", "is required"));
            String::new()
        }
    };
    let enabled = match object.get("enabled") {
        Some(serde_json::Value::Bool(enabled)) => *enabled,
        Some(_) => {
            errors.push(FieldError::new("enabled", "must be true or false"));
            false
        }
        None => {
            errors.push(FieldError::new("enabled", "is required"));
            false
        }
    };
    if errors.is_empty() {
        Ok((property, enabled))
    } else {
        Err(Problem::invalid(errors))
    }
}

fn change_problem(error: UsagePropertyError) -> Problem {
    match error {
        UsagePropertyError::Invalid(invalid) => {
            Problem::invalid_field("hubspot_property", &invalid.to_string())
        }
        UsagePropertyError::Property(mismatch) => {
            Problem::invalid_field("hubspot_property", &mismatch.to_string())
        }
        UsagePropertyError::HubSpot(error) => {
            crate::hubspot_links::hubspot_failed(&error, "property read")
        }
        UsagePropertyError::Store(store) => store.into(),
    }
}
