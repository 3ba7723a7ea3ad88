//! `GET /v1/sync/activity` (any role): what the sync did hour by hour (pushed, applied,
//! failed, HubSpot 429s, webhook apply lag) and per portal and object type (waiting now, done
//! in the last hour and day). Counts and durations only; the console draws it.

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use warp_domain::customer::FieldError;
use warp_store::activity::{self, HourActivity, MAX_HOURS, PortalObjectActivity};

use crate::ApiState;
use crate::auth::{Principal, Role};
use crate::conventions::json_response;
use crate::problem::Problem;

#[derive(OpenApi)]
#[openapi(
    paths(sync_activity),
    components(schemas(ActivityResponse, HourActivityResponse, PortalActivityResponse)),
    tags((name = "sync", description = "HubSpot sync conflicts and operations"))
)]
pub(crate) struct Doc;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new().route("/v1/sync/activity", get(sync_activity))
}

/// One hour.
#[derive(Debug, Serialize, ToSchema)]
pub struct HourActivityResponse {
    pub start: DateTime<Utc>,
    /// Records pushed to HubSpot.
    pub pushed: i64,
    /// HubSpot changes applied to WARP.
    pub applied: i64,
    /// Sync attempts that failed, either way.
    pub failed: i64,
    /// HubSpot 429 answers.
    pub rate_limited: i64,
    /// 95th percentile of webhook events' wait from receipt to applied, in seconds; null in
    /// an hour without applied events.
    pub apply_lag_p95_seconds: Option<f64>,
}

impl From<HourActivity> for HourActivityResponse {
    fn from(hour: HourActivity) -> Self {
        HourActivityResponse {
            start: hour.start,
            pushed: hour.pushed,
            applied: hour.applied,
            failed: hour.failed,
            rate_limited: hour.rate_limited,
            apply_lag_p95_seconds: hour.apply_lag_p95_seconds,
        }
    }
}

/// One portal's and object type's figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortalActivityResponse {
    pub portal_id: i64,
    /// `companies` or `contacts`; null on a row holding only a portal's 429s.
    pub object_type: Option<String>,
    pub pending: i64,
    pub in_flight: i64,
    pub failed: i64,
    pub pushed_last_hour: i64,
    pub pushed_last_day: i64,
    pub applied_last_hour: i64,
    pub applied_last_day: i64,
    pub failed_last_day: i64,
    pub rate_limited_last_hour: i64,
}

impl From<PortalObjectActivity> for PortalActivityResponse {
    fn from(figures: PortalObjectActivity) -> Self {
        PortalActivityResponse {
            portal_id: figures.portal_id,
            object_type: figures.object_type.map(|t| t.as_str().to_owned()),
            pending: figures.pending,
            in_flight: figures.in_flight,
            failed: figures.failed,
            pushed_last_hour: figures.pushed_last_hour,
            pushed_last_day: figures.pushed_last_day,
            applied_last_hour: figures.applied_last_hour,
            applied_last_day: figures.applied_last_day,
            failed_last_day: figures.failed_last_day,
            rate_limited_last_hour: figures.rate_limited_last_hour,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityResponse {
    /// Oldest hour first; the last is the current, partial hour.
    pub hours: Vec<HourActivityResponse>,
    pub by_portal: Vec<PortalActivityResponse>,
}

/// GET /v1/sync/activity
#[utoipa::path(
    get,
    path = "/v1/sync/activity",
    tag = "sync",
    params(
        ("hours" = Option<u32>, Query, description = "How many hours the series covers, 1 to 168, default 24", minimum = 1, maximum = 168),
    ),
    responses(
        (status = 200, description = "What the sync did lately", body = ActivityResponse),
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad parameter (named)", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Server fault", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn sync_activity(
    State(state): State<ApiState>,
    principal: Principal,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Viewer)?;
    let Query(pairs) = query
        .map_err(|_| Problem::new(StatusCode::BAD_REQUEST, "the query string is malformed"))?;
    let mut hours = 24;
    let mut errors = Vec::new();
    for (name, value) in &pairs {
        match name.as_str() {
            "hours" => match value.trim().parse::<u32>() {
                Ok(n) if (1..=MAX_HOURS).contains(&n) => hours = n,
                _ => errors.push(FieldError::new("hours", "must be an integer from 1 to 168")),
            },
            other => errors.push(FieldError::new(other, "is not a known parameter")),
        }
    }
    if !errors.is_empty() {
        return Err(Problem::invalid(errors));
    }
    let activity = activity::activity(&state.database, Utc::now(), hours).await?;
    Ok(json_response(
        StatusCode::OK,
        &ActivityResponse {
            hours: activity.hours.into_iter().map(Into::into).collect(),
            by_portal: activity.by_portal.into_iter().map(Into::into).collect(),
        },
        None,
    ))
}
