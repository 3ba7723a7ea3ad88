//! The usage routes (issue 22 item 3, seed 002's usage sync): the platform sends each
//! customer's daily usage (`POST /v1/usage`, a day sent again is a correction); anyone who reads
//! the platform's data reads a customer's month (`GET /v1/customers/{id}/usage`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{NaiveDate, Utc};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;
use warp_domain::customer::FieldError;
use warp_domain::usage::{MonthToDate, UsageDay, usage_days_from_json};
use warp_store::usage::{self, UsageOutcome};

use crate::ApiState;
use crate::auth::{Principal, Role};
use crate::conventions::json_response;
use crate::problem::Problem;

/// The OpenAPI paths and schemas of this module (merged into the API document).
#[derive(OpenApi)]
#[openapi(
    paths(post_usage, customer_usage, usage_pushes),
    components(schemas(UsageBatchInput, UsageDayInput, UsageRecordedResponse, UsageMonthResponse, UsageDayResponse, UsagePushRunResponse, UsagePushRunList)),
    tags((name = "usage", description = "A customer's daily usage, summed into the company's month-to-date figures"))
)]
pub(crate) struct Doc;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/usage", post(post_usage))
        .route("/v1/customers/{id}/usage", get(customer_usage))
        .route("/v1/usage/pushes", get(usage_pushes))
}

/// A batch of daily usage.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the body, which `warp_domain::usage` reads field by field
pub struct UsageBatchInput {
    /// 1 to 1,000 days; a customer and date at most once.
    #[schema(min_items = 1, max_items = 1000)]
    pub days: Vec<UsageDayInput>,
}

/// One customer's usage on one day (UTC).
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents an item of `days`
pub struct UsageDayInput {
    pub customer_id: Uuid,
    /// 2000-01-01 or later, and not after tomorrow (UTC).
    #[schema(example = "2026-12-01", format = Date)]
    pub date: String,
    #[schema(minimum = 0, maximum = 1000000000000_i64, example = 10000)]
    pub calls_completed: i64,
    #[schema(minimum = 0, maximum = 1000000000000_i64, example = 50000)]
    pub minutes: i64,
    #[schema(minimum = 0, maximum = 1000000000000_i64, example = 5000)]
    pub sms_sent: i64,
    /// Not negative.
    pub spend: crate::dto::NonNegativeMoneyInput,
    /// Answered over attempted calls.
    #[schema(minimum = 0, maximum = 1, example = 0.65)]
    pub asr: Option<f64>,
    /// Average call duration, minutes.
    #[schema(minimum = 0, maximum = 1440, example = 4.5)]
    pub acd: Option<f64>,
}

/// What a batch did: each day created, corrected (a figure changed) or unchanged.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageRecordedResponse {
    pub received: u64,
    pub created: u64,
    pub corrected: u64,
    pub unchanged: u64,
    /// Customers whose spend this month reached the alert share of their credit limit with
    /// this batch (a timeline event each, once a month; and a support ticket where configured).
    pub alerts_raised: u64,
}

/// Each alert opens (or notes on) a support ticket, through the automatic-ticket path. The
/// batch and its timeline events are stored already: a ticket that cannot be opened is logged,
/// never turned into a failed answer (a retry of the batch would raise no alert again).
async fn open_tickets(state: &ApiState, alerts: &[usage::SpendAlert]) {
    for alert in alerts {
        let body = serde_json::json!({
            "trigger": "spend_threshold",
            "customer_id": alert.customer_id.to_string(),
            "data": {
                "spend": alert.spend.to_string(),
                "credit_limit": alert.credit_limit.to_string(),
                "percent": alert.percent,
            },
        });
        let raised = match warp_domain::support_ticket::ticket_alert_from_json(&body, Utc::now()) {
            Ok(ticket) => warp_store::support_tickets::raise(&state.database, &ticket)
                .await
                .map_err(|error| error.to_string())
                .map(|_| ()),
            Err(errors) => Err(format!("{errors:?}")),
        };
        if let Err(error) = raised {
            tracing::error!(customer_id = %alert.customer_id, %error, "a spend alert's ticket could not be opened");
        }
    }
}

/// One stored day.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageDayResponse {
    #[schema(example = "2026-12-01", format = Date)]
    pub date: String,
    pub calls_completed: i64,
    pub minutes: i64,
    pub sms_sent: i64,
    #[schema(example = "450.00")]
    pub spend: String,
    pub asr: Option<f64>,
    pub acd: Option<f64>,
}

impl From<&UsageDay> for UsageDayResponse {
    fn from(day: &UsageDay) -> Self {
        UsageDayResponse {
            date: day.date.to_string(),
            calls_completed: day.calls_completed,
            minutes: day.minutes,
            sms_sent: day.sms_sent,
            spend: day.spend.to_string(),
            asr: day.asr,
            acd: day.acd,
        }
    }
}

/// A customer's month: its totals so far and its days.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageMonthResponse {
    pub customer_id: Uuid,
    #[schema(example = "2026-12")]
    pub month: String,
    pub days_reported: u32,
    pub calls_completed: i64,
    pub minutes: i64,
    pub sms_sent: i64,
    #[schema(example = "1350.00")]
    pub spend: String,
    #[schema(format = Date)]
    pub last_usage_date: Option<String>,
    pub days: Vec<UsageDayResponse>,
}

impl UsageMonthResponse {
    fn new(customer_id: Uuid, totals: &MonthToDate, days: &[UsageDay]) -> Self {
        UsageMonthResponse {
            customer_id,
            month: totals.month.format("%Y-%m").to_string(),
            days_reported: totals.days_reported,
            calls_completed: totals.calls_completed,
            minutes: totals.minutes,
            sms_sent: totals.sms_sent,
            spend: totals.spend.to_string(),
            last_usage_date: totals.last_usage_date.map(|d| d.to_string()),
            days: days.iter().map(UsageDayResponse::from).collect(),
        }
    }
}

/// POST /v1/usage
#[utoipa::path(
    post,
    path = "/v1/usage",
    tag = "usage",
    request_body(content = UsageBatchInput, content_type = "application/json"),
    responses(
        (status = 200, description = "Stored: each day created, corrected or unchanged (sending a day again with the same figures changes nothing)", body = UsageRecordedResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The ingest or editor role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A day is invalid, repeated or names no customer (each named by its path, `days[3].spend`); nothing was stored", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn post_usage(
    State(state): State<ApiState>,
    principal: Principal,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    principal
        .require_ingest()
        .or_else(|_| principal.require(Role::Editor))?;
    crate::body::require_json(&headers)?;
    let value = crate::body::json(body)?;
    let today = Utc::now().date_naive();
    let days = usage_days_from_json(&value, today).map_err(Problem::invalid)?;
    let settings = state.usage_alerts;
    let rule = (settings.percent > 0).then_some(usage::AlertRule {
        percent: settings.percent,
        month: today,
    });
    match usage::record(&state.database, &days, rule).await? {
        UsageOutcome::Recorded(recorded) => {
            if settings.tickets {
                open_tickets(&state, &recorded.alerts).await;
            }
            tracing::info!(
                days = days.len(),
                created = recorded.created,
                corrected = recorded.corrected,
                "usage recorded"
            );
            let body = UsageRecordedResponse {
                received: days.len() as u64,
                created: recorded.created,
                corrected: recorded.corrected,
                unchanged: recorded.unchanged,
                alerts_raised: recorded.alerts.len() as u64,
            };
            Ok(json_response(StatusCode::OK, &body, None))
        }
        UsageOutcome::UnknownCustomers(unknown) => Err(Problem::invalid(
            days.iter()
                .enumerate()
                .filter(|(_, day)| unknown.contains(&day.customer_id))
                .map(|(index, _)| {
                    FieldError::new(format!("days[{index}].customer_id"), "names no customer")
                })
                .collect(),
        )),
    }
}

/// GET /v1/customers/{id}/usage
#[utoipa::path(
    get,
    path = "/v1/customers/{id}/usage",
    tag = "usage",
    params(
        ("id" = Uuid, Path, description = "Customer id"),
        ("month" = Option<String>, Query, description = "The month (UTC), default the current one", pattern = r"^(19[7-9][0-9]|2[0-9]{3})-(0[1-9]|1[0-2])$", example = "2026-12"),
    ),
    responses(
        (status = 200, description = "The customer's month: totals so far and each day", body = UsageMonthResponse),
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role (or ingest) is needed; a customer's token reads its own customer only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An invalid month, or an unknown parameter", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn customer_usage(
    State(state): State<ApiState>,
    principal: Principal,
    Path(customer_id): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Problem> {
    principal.require_platform_reader()?;
    let customer_id = crate::ids::path_id(&customer_id)?;
    principal.customer_filter(Some(customer_id), "usage")?;
    let Query(pairs) = query
        .map_err(|_| Problem::new(StatusCode::BAD_REQUEST, "the query string is malformed"))?;
    let mut month = Utc::now().date_naive();
    let mut errors = Vec::new();
    for (name, value) in pairs {
        match name.as_str() {
            "month" => match NaiveDate::parse_from_str(&format!("{value}-01"), "%Y-%m-%d") {
                Ok(first) if value.len() == 7 => month = first,
                _ => errors.push(FieldError::new("month", "must be a month such as 2026-12")),
            },
            _ => errors.push(FieldError::new(name, "is not a known parameter")),
        }
    }
    if !errors.is_empty() {
        return Err(Problem::invalid(errors));
    }
    warp_store::customers::exists(&state.database, customer_id).await?;
    let (totals, days) = usage::month_of_customer(&state.database, customer_id, month).await?;
    let body = UsageMonthResponse::new(customer_id, &totals, &days);
    Ok(json_response(StatusCode::OK, &body, None))
}

/// One daily usage push (the schedule's `usage_push` job, or `make dev`'s timer).
#[derive(Debug, Serialize, ToSchema)]
pub struct UsagePushRunResponse {
    pub id: i64,
    pub started_at: Option<chrono::DateTime<Utc>>,
    /// Null while it runs.
    pub finished_at: Option<chrono::DateTime<Utc>>,
    pub duration_ms: Option<i64>,
    /// The month pushed.
    #[schema(example = "2026-12")]
    pub month: Option<String>,
    /// Linked customers whose figures were computed.
    pub customers_checked: i64,
    /// Companies written (figures that changed since the last push).
    pub companies_written: i64,
    pub failed: i64,
    /// HubSpot calls made.
    pub requests: i64,
    pub error: Option<String>,
}

/// The newest runs first.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsagePushRunList {
    pub items: Vec<UsagePushRunResponse>,
}

/// GET /v1/usage/pushes
#[utoipa::path(
    get,
    path = "/v1/usage/pushes",
    tag = "usage",
    params(("limit" = Option<u32>, Query, description = "1 to 100, default 20", minimum = 1, maximum = 100)),
    responses(
        (status = 200, description = "The daily usage pushes, newest first, with their counts and duration", body = UsagePushRunList),
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An invalid limit, or an unknown parameter", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn usage_pushes(
    State(state): State<ApiState>,
    principal: Principal,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Viewer)?;
    let Query(pairs) = query
        .map_err(|_| Problem::new(StatusCode::BAD_REQUEST, "the query string is malformed"))?;
    let mut limit = 20;
    let mut errors = Vec::new();
    for (name, value) in pairs {
        match name.as_str() {
            "limit" => {
                if let Some(read) = crate::conventions::read_limit(&value, &mut errors) {
                    limit = read;
                }
            }
            _ => errors.push(FieldError::new(name, "is not a known parameter")),
        }
    }
    if !errors.is_empty() {
        return Err(Problem::invalid(errors));
    }
    let runs = usage::recent_runs(&state.database, i64::from(limit)).await?;
    let items = runs
        .into_iter()
        .map(|run| UsagePushRunResponse {
            duration_ms: run
                .started_at
                .zip(run.finished_at)
                .map(|(start, end)| (end - start).num_milliseconds()),
            id: run.id,
            started_at: run.started_at,
            finished_at: run.finished_at,
            month: run.month.map(|m| m.format("%Y-%m").to_string()),
            customers_checked: run.customers_checked,
            companies_written: run.companies_written,
            failed: run.failed,
            requests: run.requests,
            error: run.error,
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &UsagePushRunList { items },
        None,
    ))
}
