//! Won-deal onboardings (issue 20): `GET /v1/onboardings` and `/v1/onboardings/{id}` show where
//! each stands (step, attempts, last error, why it is parked); `POST
//! /v1/onboardings/{id}/retry` (editor) makes a parked one due again once its cause is fixed.

use crate::ApiState;
use crate::auth::{Principal, Role};
use crate::conventions::{PageParams, json_response};
use crate::problem::Problem;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;
use warp_domain::customer::FieldError;
use warp_domain::onboarding::OnboardingStatus;
use warp_store::onboardings::{self, Onboarding, OnboardingQuery};

/// The OpenAPI paths and schemas of this module (merged into the API document).
#[derive(OpenApi)]
#[openapi(
    paths(list_onboardings, get_onboarding, retry_onboarding),
    components(schemas(OnboardingResponse, OnboardingList)),
    tags((name = "onboardings", description = "Won HubSpot deals becoming WARP customers"))
)]
pub(crate) struct Doc;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/onboardings", get(list_onboardings))
        .route("/v1/onboardings/{id}", get(get_onboarding))
        .route("/v1/onboardings/{id}/retry", post(retry_onboarding))
}

/// One won deal's way to a customer.
#[derive(Debug, Serialize, ToSchema)]
pub struct OnboardingResponse {
    pub id: Uuid,
    /// DEAL (a won deal), RULE (the company rule took a company created in HubSpot) or
    /// ADOPTION (an editor adopted a company).
    #[schema(example = "DEAL")]
    pub source: String,
    /// Who adopted the company.
    pub requested_by: Option<String>,
    /// The won deal; null for a company taken by the rule or adopted.
    #[schema(example = "70000000001")]
    pub hubspot_deal_id: Option<String>,
    pub hubspot_company_id: Option<String>,
    /// The BAN reserved for (or held by) the company's customer.
    #[schema(example = "ZT-487392012")]
    pub ban: Option<String>,
    pub customer_id: Option<Uuid>,
    /// This onboarding made the customer (false: the company was a customer already).
    pub created_customer: bool,
    /// FIND_COMPANY, STAMP_COMPANY, CREATE_CUSTOMER, WRITE_DEAL_BAN, RECORD_NOTE or DONE: the
    /// next step to run (DONE when finished).
    #[schema(example = "WRITE_DEAL_BAN")]
    pub step: String,
    /// PENDING (runs at next_attempt_at), PARKED (waits for a person or a change of the deal)
    /// or DONE.
    #[schema(example = "PENDING")]
    pub status: String,
    /// Attempts at the current step.
    pub attempts: i32,
    pub last_error: Option<String>,
    /// Why it is parked, and what would let it go on.
    pub parked_reason: Option<String>,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl From<Onboarding> for OnboardingResponse {
    fn from(onboarding: Onboarding) -> Self {
        OnboardingResponse {
            id: onboarding.id,
            source: onboarding.source.as_str().to_owned(),
            requested_by: onboarding.requested_by,
            hubspot_deal_id: onboarding.hubspot_deal_id,
            hubspot_company_id: onboarding.hubspot_company_id,
            ban: onboarding.ban.map(|ban| ban.to_string()),
            customer_id: onboarding.customer_id,
            created_customer: onboarding.created_customer,
            step: onboarding.step.as_str().to_owned(),
            status: onboarding.status.as_str().to_owned(),
            attempts: onboarding.attempts,
            last_error: onboarding.last_error,
            parked_reason: onboarding.parked_reason,
            next_attempt_at: onboarding.next_attempt_at,
            created_at: onboarding.created_at,
            updated_at: onboarding.updated_at,
            completed_at: onboarding.completed_at,
        }
    }
}

/// A page of onboardings.
#[derive(Debug, Serialize, ToSchema)]
pub struct OnboardingList {
    pub items: Vec<OnboardingResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// GET /v1/onboardings
#[utoipa::path(
    get,
    path = "/v1/onboardings",
    tag = "onboardings",
    params(
        ("status" = Option<String>, Query, description = "PENDING, PARKED or DONE", pattern = r"^\s*(PENDING|PARKED|DONE|pending|parked|done)\s*$"),
        ("limit" = Option<u32>, Query, description = "1 to 100, default 20", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page", pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"),
    ),
    responses(
        (status = 200, description = "Onboardings, oldest first", body = OnboardingList),
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad status, limit or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn list_onboardings(
    State(state): State<ApiState>,
    principal: Principal,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Viewer)?;
    let query = onboarding_query(query)?;
    let page = onboardings::list(&state.database, state.portal_id(), &query).await?;
    let body = OnboardingList {
        items: page
            .items
            .into_iter()
            .map(OnboardingResponse::from)
            .collect(),
        next_cursor: page.next_cursor,
    };
    Ok(json_response(StatusCode::OK, &body, None))
}

/// GET /v1/onboardings/{id}
#[utoipa::path(
    get,
    path = "/v1/onboardings/{id}",
    tag = "onboardings",
    params(("id" = Uuid, Path, description = "Onboarding id")),
    responses(
        (status = 200, description = "The onboarding", body = OnboardingResponse),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such onboarding", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn get_onboarding(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    principal.require(Role::Viewer)?;
    let id = crate::ids::path_id(&id)?;
    let onboarding = onboardings::get(&state.database, state.portal_id(), id).await?;
    Ok(json_response(
        StatusCode::OK,
        &OnboardingResponse::from(onboarding),
        None,
    ))
}

/// POST /v1/onboardings/{id}/retry
#[utoipa::path(
    post,
    path = "/v1/onboardings/{id}/retry",
    tag = "onboardings",
    params(("id" = Uuid, Path, description = "Onboarding id")),
    responses(
        (status = 202, description = "Due now, its attempts counted afresh; the next runner pass takes it", body = OnboardingResponse),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The editor role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such onboarding", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The onboarding is done already, or a runner is executing it now", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn retry_onboarding(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    principal.require(Role::Editor)?;
    let id = crate::ids::path_id(&id)?;
    let onboarding = onboardings::retry(&state.database, state.portal_id(), id).await?;
    tracing::info!(onboarding_id = %id, by = %principal.subject, "onboarding retried");
    Ok(json_response(
        StatusCode::ACCEPTED,
        &OnboardingResponse::from(onboarding),
        None,
    ))
}

/// `status`, `limit` and `cursor`; every bad one named.
fn onboarding_query(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<OnboardingQuery, Problem> {
    let Query(pairs) = query
        .map_err(|_| Problem::new(StatusCode::BAD_REQUEST, "the query string is malformed"))?;
    let mut status = None;
    let mut errors = Vec::new();
    let mut page = PageParams::default();
    for (name, value) in pairs {
        if page.read(&name, &value, &mut errors) {
            continue;
        }
        match name.as_str() {
            "status" => match value.trim().parse::<OnboardingStatus>() {
                Ok(parsed) => status = Some(parsed),
                Err(_) => errors.push(FieldError::new("status", "must be PENDING, PARKED or DONE")),
            },
            other => errors.push(FieldError::new(other, "is not a known parameter")),
        }
    }
    if !errors.is_empty() {
        return Err(Problem::invalid(errors));
    }
    Ok(OnboardingQuery {
        status,
        after: page.after,
        limit: page.limit,
    })
}
