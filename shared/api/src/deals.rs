//! The deal routes (issue 20): HubSpot's deals as WARP mirrors them, read only. `GET /v1/deals`
//! (filters by pipeline, stage and outcome; cursors), `GET /v1/deals/{id}` and
//! `GET /v1/customers/{id}/deals` (the deals of the customer's company).

use crate::ApiState;
use crate::auth::{Principal, Role};
use crate::conventions::{PageParams, json_response};
use crate::problem::Problem;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;
use warp_domain::customer::FieldError;
use warp_domain::deal::StageOutcome;
use warp_store::StoreError;
use warp_store::deals::{self, Deal, DealQuery};

/// The OpenAPI paths and schemas of this module (merged into the API document).
#[derive(OpenApi)]
#[openapi(
    paths(list_deals, get_deal, list_customer_deals),
    components(schemas(DealResponse, DealList)),
    tags((name = "deals", description = "HubSpot deals, mirrored read-only from HubSpot"))
)]
pub(crate) struct Doc;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/deals", get(list_deals))
        .route("/v1/deals/{id}", get(get_deal))
        .route("/v1/customers/{id}/deals", get(list_customer_deals))
}

/// A deal as HubSpot last showed it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DealResponse {
    pub id: Uuid,
    #[schema(example = "70000000001")]
    pub hubspot_id: String,
    pub name: Option<String>,
    /// Exact decimal, as text.
    #[schema(example = "12500.00")]
    pub amount: Option<String>,
    #[schema(example = "USD")]
    pub currency: Option<String>,
    pub pipeline_id: Option<String>,
    pub pipeline_label: Option<String>,
    pub stage_id: Option<String>,
    pub stage_label: Option<String>,
    /// From the stage's metadata in HubSpot: open, won (closed with probability 1) or lost.
    #[schema(example = "won")]
    pub stage_outcome: String,
    pub close_date: Option<DateTime<Utc>>,
    pub owner_id: Option<String>,
    pub probability: Option<String>,
    /// The deal's primary company in HubSpot.
    pub hubspot_company_id: Option<String>,
    /// The customer linked to that company, if any.
    pub customer_id: Option<Uuid>,
    /// Deleted in HubSpot, or merged into `merged_into_hubspot_id`.
    pub archived: bool,
    pub merged_into_hubspot_id: Option<String>,
    pub hubspot_modified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Deal> for DealResponse {
    fn from(deal: Deal) -> Self {
        DealResponse {
            id: deal.id,
            hubspot_id: deal.hubspot_id,
            name: deal.name,
            amount: deal.amount.map(|amount| amount.to_string()),
            currency: deal.currency,
            pipeline_id: deal.pipeline_id,
            pipeline_label: deal.pipeline_label,
            stage_id: deal.stage_id,
            stage_label: deal.stage_label,
            stage_outcome: deal.stage_outcome,
            close_date: deal.close_date,
            owner_id: deal.owner_id,
            probability: deal.probability.map(|p| p.normalize().to_string()),
            hubspot_company_id: deal.hubspot_company_id,
            customer_id: deal.customer_id,
            archived: deal.archived,
            merged_into_hubspot_id: deal.merged_into_hubspot_id,
            hubspot_modified_at: deal.hubspot_modified_at,
            created_at: deal.created_at,
            updated_at: deal.updated_at,
        }
    }
}

/// A page of deals.
#[derive(Debug, Serialize, ToSchema)]
pub struct DealList {
    pub items: Vec<DealResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// GET /v1/deals
#[utoipa::path(
    get,
    path = "/v1/deals",
    tag = "deals",
    params(
        ("pipeline" = Option<String>, Query, description = "Only deals in this pipeline (HubSpot's pipeline id)", pattern = r"^[^\x00]{1,100}$"),
        ("stage" = Option<String>, Query, description = "Only deals in this stage (HubSpot's stage id)", pattern = r"^[^\x00]{1,100}$"),
        ("outcome" = Option<String>, Query, description = "open, won or lost", pattern = "^(open|won|lost)$"),
        ("archived" = Option<bool>, Query, description = "Include deals deleted or merged in HubSpot (default false)"),
        ("limit" = Option<u32>, Query, description = "1 to 100, default 20", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page", pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"),
    ),
    responses(
        (status = 200, description = "Deals by id", body = DealList),
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad filter, limit or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn list_deals(
    State(state): State<ApiState>,
    principal: Principal,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Viewer)?;
    let query = deal_query(query)?;
    list(&state, &query).await
}

/// GET /v1/customers/{id}/deals
#[utoipa::path(
    get,
    path = "/v1/customers/{id}/deals",
    tag = "deals",
    params(
        ("id" = Uuid, Path, description = "Customer id"),
        ("pipeline" = Option<String>, Query, description = "Only deals in this pipeline", pattern = r"^[^\x00]{1,100}$"),
        ("stage" = Option<String>, Query, description = "Only deals in this stage", pattern = r"^[^\x00]{1,100}$"),
        ("outcome" = Option<String>, Query, description = "open, won or lost", pattern = "^(open|won|lost)$"),
        ("archived" = Option<bool>, Query, description = "Include deals deleted or merged in HubSpot"),
        ("limit" = Option<u32>, Query, description = "1 to 100, default 20", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page", pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"),
    ),
    responses(
        (status = 200, description = "The deals of the customer's HubSpot company, by id", body = DealList),
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad id, filter, limit or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn list_customer_deals(
    State(state): State<ApiState>,
    principal: Principal,
    Path(customer_id): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Viewer)?;
    let customer_id = crate::ids::path_id(&customer_id)?;
    let mut query = deal_query(query)?;
    query.customer_id = Some(customer_id);
    list(&state, &query).await
}

async fn list(state: &ApiState, query: &DealQuery) -> Result<Response, Problem> {
    let client = state.database.client().await.map_err(StoreError::from)?;
    let page = deals::list(&**client, state.portal_id(), query).await?;
    let body = DealList {
        items: page.items.into_iter().map(DealResponse::from).collect(),
        next_cursor: page.next_cursor,
    };
    Ok(json_response(StatusCode::OK, &body, None))
}

/// GET /v1/deals/{id}
#[utoipa::path(
    get,
    path = "/v1/deals/{id}",
    tag = "deals",
    params(("id" = Uuid, Path, description = "Deal id (WARP's)")),
    responses(
        (status = 200, description = "The deal", body = DealResponse),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such deal", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn get_deal(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    principal.require(Role::Viewer)?;
    let id = crate::ids::path_id(&id)?;
    let client = state.database.client().await.map_err(StoreError::from)?;
    let deal = deals::get(&**client, state.portal_id(), id).await?;
    Ok(json_response(
        StatusCode::OK,
        &DealResponse::from(deal),
        None,
    ))
}

/// The filters, `limit` and `cursor`; every bad one named.
fn deal_query(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<DealQuery, Problem> {
    let Query(pairs) = query
        .map_err(|_| Problem::new(StatusCode::BAD_REQUEST, "the query string is malformed"))?;
    let mut parsed = DealQuery {
        limit: 20,
        ..DealQuery::default()
    };
    let mut errors = Vec::new();
    // Exactly the documented pattern: an id no deal has matches nothing.
    let id_text = |name: &str, value: &str, errors: &mut Vec<FieldError>| {
        if !(1..=100).contains(&value.chars().count()) || value.contains('\0') {
            errors.push(FieldError::new(name, "must be 1 to 100 characters"));
            None
        } else {
            Some(value.to_owned())
        }
    };
    let mut page = PageParams::default();
    for (name, value) in pairs {
        if page.read(&name, &value, &mut errors) {
            continue;
        }
        match name.as_str() {
            "pipeline" => parsed.pipeline_id = id_text("pipeline", &value, &mut errors),
            "stage" => parsed.stage_id = id_text("stage", &value, &mut errors),
            "outcome" => match value.as_str() {
                "open" => parsed.outcome = Some(StageOutcome::Open),
                "won" => parsed.outcome = Some(StageOutcome::Won),
                "lost" => parsed.outcome = Some(StageOutcome::Lost),
                _ => errors.push(FieldError::new("outcome", "must be open, won or lost")),
            },
            "archived" => match value.trim() {
                "true" => parsed.include_archived = true,
                "false" => parsed.include_archived = false,
                _ => errors.push(FieldError::new("archived", "must be true or false")),
            },
            other => errors.push(FieldError::new(other, "is not a known parameter")),
        }
    }
    (parsed.limit, parsed.after) = (page.limit, page.after);
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(Problem::invalid(errors))
    }
}
