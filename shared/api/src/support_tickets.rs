//! Automatic support tickets (issue 21, seed 002's auto-ticket): `POST /v1/support/tickets`
//! takes an alert from the monitoring platform (role `ingest`, or a person with `editor`) and
//! answers at once whether it opened a ticket or joins the open one for its (trigger, customer,
//! trunk); the HubSpot ticket, and a note per repeat, are written afterwards.
//! `GET /v1/support/tickets` shows the tickets and their stage as read back from HubSpot.

use crate::ApiState;
use crate::auth::{Principal, Role};
use crate::conventions::{json_response, read_limit, read_offset};
use crate::problem::Problem;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;
use warp_domain::customer::FieldError;
use warp_domain::support_ticket::{Trigger, ticket_alert_from_json};
use warp_store::support_tickets::{self, StoredTicket, TicketQuery, UnknownCustomer};

/// How deep offset paging goes.
const MAX_OFFSET: u32 = 10_000;

/// The OpenAPI paths and schemas of this module (merged into the API document).
#[derive(OpenApi)]
#[openapi(
    paths(raise_alert, list_tickets, get_ticket),
    components(schemas(AlertInput, AlertRaised, TicketResponse, TicketInHubSpot, TicketList)),
    tags((name = "support", description = "Automatic support tickets in HubSpot, opened by the platform's alerts"))
)]
pub(crate) struct Doc;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/support/tickets", get(list_tickets).post(raise_alert))
        .route("/v1/support/tickets/{ticket_id}", get(get_ticket))
}

/// One alert.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // the body's schema only: bodies are read by warp_domain::support_ticket
pub struct AlertInput {
    /// What raised it. Known: asr_below_threshold, acd_below_threshold, call_failures_high,
    /// trunk_down, fraud_suspected, sms_delivery_failed, payment_failed, spend_threshold,
    /// api_errors_high; another needs `issue_type`.
    #[schema(example = "asr_below_threshold", pattern = "^[a-z][a-z0-9_]{0,63}$")]
    trigger: String,
    customer_id: Uuid,
    /// The trunk at fault (here or as `data.trunk_id`); one open ticket per trigger, customer
    /// and trunk.
    #[schema(example = "trunk_456", pattern = r"^[!-~]{1,64}$")]
    trunk_id: Option<String>,
    /// A call that shows the problem (here or as `data.call_id`).
    #[schema(example = "c-81f2", pattern = r"^[!-~]{1,128}$")]
    call_id: Option<String>,
    /// Default: the known trigger's, else medium.
    #[schema(example = "high", pattern = "^(critical|high|medium|low)$")]
    severity: Option<String>,
    /// Default: the known trigger's.
    #[schema(example = "voice", pattern = "^(voice|sms|billing|api|portal)$")]
    issue_type: Option<String>,
    /// The ticket's name; default: the trigger's words and the trunk.
    #[schema(
        example = "Low ASR on the Denver trunk",
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    subject: Option<String>,
    /// Technical details (at most 16 KiB as JSON): the ticket's `warp_technical_details`, one
    /// line each in its description.
    #[schema(value_type = Option<Object>, example = json!({"current_asr": 0.35, "threshold": 0.5, "period": "last_hour"}))]
    data: Option<serde_json::Value>,
    /// When it was observed (default: now); not in the future.
    observed_at: Option<DateTime<Utc>>,
}

/// What an alert did.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertRaised {
    pub alert_id: Uuid,
    /// `opened`: a new ticket; `noted`: a note on the open one.
    #[schema(example = "opened")]
    pub outcome: &'static str,
    pub ticket: TicketResponse,
}

/// Where a ticket lives in HubSpot, and its stage as last read.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketInHubSpot {
    pub portal_id: Option<i64>,
    pub ticket_id: String,
    pub pipeline_id: Option<String>,
    pub stage_id: Option<String>,
    #[schema(example = "Waiting on us")]
    pub stage_label: Option<String>,
    /// When the stage was last read from HubSpot.
    pub checked_at: Option<DateTime<Utc>>,
}

/// An automatic support ticket.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketResponse {
    pub id: Uuid,
    pub customer_id: Uuid,
    #[schema(example = "asr_below_threshold")]
    pub trigger: String,
    pub trunk_id: Option<String>,
    pub call_id: Option<String>,
    #[schema(example = "voice")]
    pub issue_type: String,
    /// The highest of its alerts'.
    #[schema(example = "high")]
    pub severity: String,
    pub subject: String,
    /// `open`, or `closed` (closed in HubSpot, read back).
    #[schema(example = "open")]
    pub state: String,
    pub opened_at: DateTime<Utc>,
    pub sla_breach_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Alerts gathered on it (the first opened it, the others are notes).
    pub alerts: i32,
    /// Alerts not written to HubSpot yet.
    pub alerts_pending: i64,
    pub last_alert_at: DateTime<Utc>,
    /// Absent until the ticket is created in HubSpot.
    pub hubspot: Option<TicketInHubSpot>,
    /// Why an alert is waiting or was refused, in words.
    pub reason: Option<String>,
}

impl From<StoredTicket> for TicketResponse {
    fn from(ticket: StoredTicket) -> Self {
        let hubspot = ticket.hubspot_ticket_id.map(|ticket_id| TicketInHubSpot {
            portal_id: ticket.portal_id,
            ticket_id,
            pipeline_id: ticket.pipeline_id,
            stage_id: ticket.stage_id,
            stage_label: ticket.stage_label,
            checked_at: ticket.checked_at,
        });
        TicketResponse {
            id: ticket.id,
            customer_id: ticket.customer_id,
            trigger: ticket.trigger,
            trunk_id: ticket.trunk_id,
            call_id: ticket.call_id,
            issue_type: ticket.issue_type,
            severity: ticket.severity,
            subject: ticket.subject,
            state: ticket.state,
            opened_at: ticket.opened_at,
            sla_breach_at: ticket.sla_breach_at,
            closed_at: ticket.closed_at,
            alerts: ticket.alerts,
            alerts_pending: ticket.alerts_pending,
            last_alert_at: ticket.last_alert_at,
            hubspot,
            reason: ticket.reason,
        }
    }
}

/// A page of tickets, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketList {
    pub items: Vec<TicketResponse>,
    /// Tickets matching the filters in all.
    pub total: i64,
}

/// POST /v1/support/tickets
#[utoipa::path(
    post,
    path = "/v1/support/tickets",
    tag = "support",
    request_body(content = AlertInput, description = "An alert: trigger, customer, trunk, severity and data"),
    responses(
        (status = 202, description = "Stored: the ticket (or the note on the open one) will be written to HubSpot", body = AlertRaised),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The ingest or editor role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The alert is invalid or names no customer (each field at fault is named); nothing was stored", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn raise_alert(
    State(state): State<ApiState>,
    principal: Principal,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    // The monitoring platform sends alerts; a person may raise one too.
    principal
        .require_ingest()
        .or_else(|_| principal.require(Role::Editor))?;
    crate::body::require_json(&headers)?;
    let value = crate::body::json(body)?;
    let alert = ticket_alert_from_json(&value, Utc::now()).map_err(Problem::invalid)?;
    let raised = match support_tickets::raise(&state.database, &alert).await? {
        Ok(raised) => raised,
        Err(UnknownCustomer) => {
            return Err(Problem::invalid(vec![FieldError::new(
                "customer_id",
                "names no customer (or a deleted one)",
            )]));
        }
    };
    let ticket = support_tickets::get(&state.database, raised.ticket_id)
        .await?
        .ok_or_else(Problem::not_found)?;
    tracing::info!(
        trigger = alert.trigger.as_str(),
        outcome = raised.outcome.as_str(),
        ticket = %raised.ticket_id,
        "support alert raised"
    );
    let body = AlertRaised {
        alert_id: raised.alert_id,
        outcome: raised.outcome.as_str(),
        ticket: ticket.into(),
    };
    Ok(json_response(StatusCode::ACCEPTED, &body, None))
}

/// GET /v1/support/tickets
#[utoipa::path(
    get,
    path = "/v1/support/tickets",
    tag = "support",
    params(
        ("customer_id" = Option<Uuid>, Query, description = "Only this customer's tickets (a customer's own token gets its own only)"),
        ("state" = Option<String>, Query, description = "Only open or closed tickets", pattern = "^(open|closed)$"),
        ("trigger" = Option<String>, Query, description = "Only tickets of this trigger", pattern = "^[a-z][a-z0-9_]{0,63}$"),
        ("limit" = Option<u32>, Query, description = "1 to 100, default 20", minimum = 1, maximum = 100),
        ("offset" = Option<u32>, Query, description = "Tickets to skip, 0 to 10,000", minimum = 0, maximum = 10000),
    ),
    responses(
        (status = 200, description = "One page of tickets, newest first", body = TicketList),
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role (or ingest) is needed; a customer's token reads its own customer only", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A parameter is invalid (each one is named)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn list_tickets(
    State(state): State<ApiState>,
    principal: Principal,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Problem> {
    principal.require_platform_reader()?;
    let Query(pairs) = query
        .map_err(|_| Problem::new(StatusCode::BAD_REQUEST, "the query string is malformed"))?;
    let mut query = ticket_query(&pairs)?;
    query.customer_id = principal.customer_filter(query.customer_id, "tickets")?;
    let (tickets, total) = support_tickets::list(&state.database, &query).await?;
    let body = TicketList {
        items: tickets.into_iter().map(TicketResponse::from).collect(),
        total,
    };
    Ok(json_response(StatusCode::OK, &body, None))
}

/// GET /v1/support/tickets/{ticket_id}
#[utoipa::path(
    get,
    path = "/v1/support/tickets/{ticket_id}",
    tag = "support",
    params(("ticket_id" = Uuid, Path, description = "The ticket's id in WARP")),
    responses(
        (status = 200, description = "The ticket and its stage in HubSpot", body = TicketResponse),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role (or ingest) is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No ticket has this id (or it is another customer's)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn get_ticket(
    State(state): State<ApiState>,
    principal: Principal,
    Path(ticket_id): Path<String>,
) -> Result<Response, Problem> {
    principal.require_platform_reader()?;
    let Ok(ticket_id) = Uuid::parse_str(&ticket_id) else {
        return Err(Problem::not_found());
    };
    let ticket = support_tickets::get(&state.database, ticket_id)
        .await?
        .filter(|ticket| {
            principal
                .customer_scope
                .is_none_or(|own| own == ticket.customer_id)
        })
        .ok_or_else(Problem::not_found)?;
    Ok(json_response(
        StatusCode::OK,
        &TicketResponse::from(ticket),
        None,
    ))
}

/// Every parameter checked, each bad one named (unknown parameters are ignored, as the other
/// lists do).
fn ticket_query(pairs: &[(String, String)]) -> Result<TicketQuery, Problem> {
    let mut query = TicketQuery {
        limit: 20,
        ..TicketQuery::default()
    };
    let mut errors = Vec::new();
    for (name, value) in pairs {
        let value = value.trim();
        match name.as_str() {
            "customer_id" => match crate::ids::query_id("customer_id", value) {
                Ok(id) => query.customer_id = Some(id),
                Err(error) => errors.push(error),
            },
            "state" => match ["open", "closed"].into_iter().find(|s| *s == value) {
                Some(state) => query.state = Some(state),
                None => errors.push(FieldError::new("state", "must be open or closed")),
            },
            "trigger" => match Trigger::parse(value) {
                Ok(trigger) => query.trigger = Some(trigger.as_str().to_owned()),
                Err(message) => errors.push(FieldError::new("trigger", message)),
            },
            "limit" => {
                if let Some(limit) = read_limit(value, &mut errors) {
                    query.limit = limit;
                }
            }
            "offset" => {
                if let Some(offset) = read_offset(value, MAX_OFFSET, "", &mut errors) {
                    query.offset = offset;
                }
            }
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok(query)
    } else {
        Err(Problem::invalid(errors))
    }
}
