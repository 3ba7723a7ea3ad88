//! Companies created in HubSpot (issue 20): the portal's company rule (`GET|PUT
//! /v1/sync/hubspot/company-rule`), the companies no rule took (`GET
//! /v1/sync/hubspot/companies/candidates`), and adopting one (`POST
//! /v1/sync/hubspot/companies/{id}/adopt`, editor): an onboarding of the company, which makes
//! the customer and writes its BAN back (see `GET /v1/onboardings/{id}`).

use crate::ApiState;
use crate::auth::{Principal, Role};
use crate::conventions::json_response;
use crate::onboardings::OnboardingResponse;
use crate::problem::Problem;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;
use warp_domain::customer::FieldError;
use warp_domain::onboarding::{CompanyRule, OnboardingSource};
use warp_hubspot::{HubSpotId, ReadOptions, RecordLookup};
use warp_store::company_candidates::{self, Candidate, CompanyRuleSetting};
use warp_store::{StoreError, onboardings};

/// The OpenAPI paths and schemas of this module (merged into the API document).
#[derive(OpenApi)]
#[openapi(
    paths(get_company_rule, put_company_rule, list_candidates, adopt_company),
    components(schemas(CompanyRuleResponse, CompanyRuleInput, CandidateResponse, CandidateList)),
    tags((name = "onboardings", description = "Won HubSpot deals and adopted companies becoming WARP customers"))
)]
pub(crate) struct Doc;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/v1/sync/hubspot/company-rule",
            get(get_company_rule).put(put_company_rule),
        )
        .route(
            "/v1/sync/hubspot/companies/candidates",
            get(list_candidates),
        )
        .route("/v1/sync/hubspot/companies/{id}/adopt", post(adopt_company))
}

/// Which companies created in HubSpot become customers without a person.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompanyRuleResponse {
    /// won_deal (none by themselves: only a won deal's company, or one an editor adopts; the
    /// default), lifecycle_customer (also a company whose lifecycle stage is customer), any.
    #[schema(example = "won_deal")]
    pub rule: String,
    pub updated_at: Option<DateTime<Utc>>,
    pub updated_by: Option<String>,
}

impl From<CompanyRuleSetting> for CompanyRuleResponse {
    fn from(setting: CompanyRuleSetting) -> Self {
        CompanyRuleResponse {
            rule: setting.rule.as_str().to_owned(),
            updated_at: setting.updated_at,
            updated_by: setting.updated_by,
        }
    }
}

/// `{"rule": "won_deal" | "lifecycle_customer" | "any"}`, nothing else.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // documents the body; parsing is by hand to name the field at fault
pub struct CompanyRuleInput {
    #[schema(pattern = r"^\s*(won_deal|lifecycle_customer|any)\s*$")]
    pub rule: String,
}

/// GET /v1/sync/hubspot/company-rule
#[utoipa::path(
    get,
    path = "/v1/sync/hubspot/company-rule",
    tag = "onboardings",
    responses(
        (status = 200, description = "The portal's company rule", body = CompanyRuleResponse),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn get_company_rule(
    State(state): State<ApiState>,
    principal: Principal,
) -> Result<Response, Problem> {
    principal.require(Role::Viewer)?;
    let client = state.database.client().await.map_err(StoreError::from)?;
    let setting = company_candidates::rule(&**client, state.portal_id()).await?;
    Ok(json_response(
        StatusCode::OK,
        &CompanyRuleResponse::from(setting),
        None,
    ))
}

/// PUT /v1/sync/hubspot/company-rule
#[utoipa::path(
    put,
    path = "/v1/sync/hubspot/company-rule",
    tag = "onboardings",
    request_body(content = CompanyRuleInput, content_type = "application/json"),
    responses(
        (status = 200, description = "The rule now in force (for companies created from now on)", body = CompanyRuleResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The admin role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "rule is missing or unknown, or another field is given", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn put_company_rule(
    State(state): State<ApiState>,
    principal: Principal,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Admin)?;
    crate::body::require_json(&headers)?;
    let value = crate::body::json(body)?;
    let rule = parse_rule_input(&value)?;
    let setting =
        company_candidates::set_rule(&state.database, state.portal_id(), rule, &principal.subject)
            .await?;
    tracing::info!(rule = rule.as_str(), by = %principal.subject, "company rule changed");
    Ok(json_response(
        StatusCode::OK,
        &CompanyRuleResponse::from(setting),
        None,
    ))
}

fn parse_rule_input(body: &serde_json::Value) -> Result<CompanyRule, Problem> {
    let Some(object) = body.as_object() else {
        return Err(Problem::invalid_field(
            "body",
            "must be an object with rule",
        ));
    };
    if let Some(unknown) = object.keys().find(|k| *k != "rule") {
        return Err(Problem::invalid_field(unknown, "is not a known field"));
    }
    object
        .get("rule")
        .and_then(|v| v.as_str())
        .and_then(|text| text.trim().parse::<CompanyRule>().ok())
        .ok_or_else(|| {
            Problem::invalid_field("rule", "must be won_deal, lifecycle_customer or any")
        })
}

/// A company created in HubSpot that no rule took.
#[derive(Debug, Serialize, ToSchema)]
pub struct CandidateResponse {
    #[schema(example = "10000000001")]
    pub hubspot_company_id: String,
    pub name: Option<String>,
    pub domain: Option<String>,
    pub lifecycle_stage: Option<String>,
    /// When its creation (or last sight) was processed.
    pub seen_at: DateTime<Utc>,
}

impl From<Candidate> for CandidateResponse {
    fn from(candidate: Candidate) -> Self {
        CandidateResponse {
            hubspot_company_id: candidate.hubspot_company_id,
            name: candidate.name,
            domain: candidate.domain,
            lifecycle_stage: candidate.lifecycle_stage,
            seen_at: candidate.seen_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CandidateList {
    pub items: Vec<CandidateResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// GET /v1/sync/hubspot/companies/candidates
#[utoipa::path(
    get,
    path = "/v1/sync/hubspot/companies/candidates",
    tag = "onboardings",
    params(
        ("limit" = Option<u32>, Query, description = "1 to 100, default 20", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page", pattern = r"^[0-9]{1,19}$"),
    ),
    responses(
        (status = 200, description = "Companies created in HubSpot with no customer and no onboarding, by company id", body = CandidateList),
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad limit or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn list_candidates(
    State(state): State<ApiState>,
    principal: Principal,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Viewer)?;
    let Query(pairs) = query
        .map_err(|_| Problem::new(StatusCode::BAD_REQUEST, "the query string is malformed"))?;
    let (mut limit, mut after, mut errors) = (20, None, Vec::new());
    for (name, value) in pairs {
        match name.as_str() {
            "limit" => match value.trim().parse::<u32>() {
                Ok(n) if (1..=100).contains(&n) => limit = n,
                _ => errors.push(FieldError::new("limit", "must be an integer from 1 to 100")),
            },
            "cursor" => match HubSpotId::parse(value.trim()) {
                Ok(id) => after = Some(id.as_str().to_owned()),
                Err(_) => errors.push(FieldError::new(
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
    let page =
        company_candidates::list(&state.database, state.portal_id(), after.as_deref(), limit)
            .await?;
    Ok(json_response(
        StatusCode::OK,
        &CandidateList {
            items: page
                .items
                .into_iter()
                .map(CandidateResponse::from)
                .collect(),
            next_cursor: page.next_cursor,
        },
        None,
    ))
}

/// POST /v1/sync/hubspot/companies/{id}/adopt
#[utoipa::path(
    post,
    path = "/v1/sync/hubspot/companies/{id}/adopt",
    tag = "onboardings",
    params(("id" = String, Path, description = "HubSpot company id (digits)")),
    responses(
        (status = 202, description = "Adopted: the onboarding that makes the customer and writes its BAN back runs next (see Location)", body = OnboardingResponse,
            headers(("Location" = String, description = "/v1/onboardings/{id}"))),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The editor role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such company in HubSpot", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The company is a customer already, or an onboarding of it exists", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "HubSpot failed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database or HubSpot unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn adopt_company(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    principal.require(Role::Editor)?;
    let company_id = HubSpotId::parse(&id).map_err(|_| Problem::not_found())?;
    let company_id = company_id.as_str();
    let client = state.database.client().await.map_err(StoreError::from)?;
    if let Some(customer) = onboardings::customer_of_company(&**client, company_id).await? {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            format!(
                "the company is a customer already: {} ({})",
                customer.id, customer.ban
            ),
        ));
    }
    if let Some(existing) =
        onboardings::unfinished_of_company(&**client, state.portal_id(), company_id)
            .await?
            .first()
    {
        return Err(under_way(existing.id));
    }
    // Checked before anything is stored, so an adoption never waits on a company that is not
    // there. Without a HubSpot client the runner finds out and parks it with the reason.
    if let Some(hubspot) = state.hubspot() {
        let found = hubspot
            .companies()
            .get(
                &RecordLookup::Id(HubSpotId::parse(company_id).map_err(|_| Problem::not_found())?),
                &ReadOptions::properties(["name"]),
            )
            .await
            .map_err(|error| crate::hubspot_links::hubspot_failed(&error, "company read"))?;
        if found.is_none() {
            return Err(Problem::new(
                StatusCode::NOT_FOUND,
                "no such company in HubSpot",
            ));
        }
    }
    let Some(onboarding) = onboardings::start_for_company(
        &**client,
        state.portal_id(),
        company_id,
        OnboardingSource::Adoption,
        Some(&principal.subject),
    )
    .await?
    else {
        let earlier =
            onboardings::of_company_without_deal(&**client, state.portal_id(), company_id).await?;
        return Err(under_way(earlier.map_or(Uuid::nil(), |o| o.id)));
    };
    tracing::info!(onboarding_id = %onboarding.id, hubspot_company_id = company_id, by = %principal.subject, "company adopted");
    let location = format!("/v1/onboardings/{}", onboarding.id);
    let mut response = json_response(
        StatusCode::ACCEPTED,
        &OnboardingResponse::from(onboarding),
        None,
    );
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

fn under_way(onboarding_id: Uuid) -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        format!(
            "an onboarding of the company exists: /v1/onboardings/{onboarding_id} (retry it there if it is parked)"
        ),
    )
}
