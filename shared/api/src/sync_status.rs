//! The sync's dashboard: `GET /v1/sync/status` (any role: outbox counts, oldest waiting row, DLQ
//! depth, last webhook, last reconciliation, HubSpot 429s) and `GET /v1/sync/logs` (admin: the audit
//! trail, newest first, keyset-paged). Both read ids, counts and field names, never values.

use crate::ApiState;
use crate::auth::{Principal, Role};
use crate::problem::Problem;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::json::uncached_json as json;
use std::time::Duration;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;
use warp_domain::customer::FieldError;
use warp_domain::sync::ObjectType;
use warp_store::StoreError;
use warp_store::sync_reports::{
    self, LOG_DIRECTIONS, LOG_STATUSES, MAX_LOG_LIMIT, OutboxCounts, ReconciliationSummary,
    SyncLogEntry, SyncLogQuery, SyncStatus,
};

/// The OpenAPI paths and schemas of this module (merged into the API document).
#[derive(OpenApi)]
#[openapi(
    paths(sync_status, sync_logs),
    components(schemas(SyncStatusResponse, ServiceObjectsResponse, OutboxCountsResponse, ReconciliationSummaryResponse, SyncLogList, SyncLogEntryResponse, LogStatusSchema, LogDirectionSchema)),
    tags((name = "sync", description = "HubSpot sync conflicts and operations"))
)]
pub(crate) struct Doc;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/sync/status", get(sync_status))
        .route("/v1/sync/logs", get(sync_logs))
}

/// How long the status waits for SQS before it answers without the DLQ depth.
const DLQ_TIMEOUT: Duration = Duration::from_secs(2);

/// The dead-letter queue whose depth the status reports (`SQS_DLQ_URL`).
#[derive(Debug, Clone)]
pub struct DeadLetterQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl DeadLetterQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: String) -> Self {
        DeadLetterQueue { client, url }
    }

    /// SQS's approximate count of visible messages; `None` when SQS does not answer in time
    /// (the status must still answer when only the queue is down).
    async fn depth(&self) -> Option<i64> {
        let request = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send();
        let answer = match tokio::time::timeout(DLQ_TIMEOUT, request).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(error)) => {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&error), "reading the DLQ depth failed");
                return None;
            }
            Err(_) => {
                tracing::warn!("reading the DLQ depth timed out");
                return None;
            }
        };
        answer
            .attributes()
            .and_then(|attributes| {
                attributes.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            })
            .and_then(|depth| depth.parse().ok())
    }
}

/// Outbox rows by state.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxCountsResponse {
    pub pending: i64,
    pub in_flight: i64,
    pub done: i64,
    pub failed: i64,
}

impl From<OutboxCounts> for OutboxCountsResponse {
    fn from(counts: OutboxCounts) -> Self {
        OutboxCountsResponse {
            pending: counts.pending,
            in_flight: counts.in_flight,
            done: counts.done,
            failed: counts.failed,
        }
    }
}

/// The newest finished reconciliation run.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReconciliationSummaryResponse {
    pub id: Uuid,
    /// `running`, `succeeded`, `completed_with_errors` or `failed`.
    pub status: String,
    pub dry_run: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub customers_checked: i64,
    pub companies_checked: i64,
    pub drift_found: i64,
    pub drift_fixed: i64,
    pub errors: i64,
    pub duration_ms: Option<i64>,
}

impl From<ReconciliationSummary> for ReconciliationSummaryResponse {
    fn from(run: ReconciliationSummary) -> Self {
        ReconciliationSummaryResponse {
            id: run.id,
            status: run.status,
            dry_run: run.dry_run,
            started_at: run.started_at,
            finished_at: run.finished_at,
            customers_checked: run.customers_checked,
            companies_checked: run.companies_checked,
            drift_found: run.drift_found,
            drift_fixed: run.drift_fixed,
            errors: run.errors,
            duration_ms: run.duration_ms,
        }
    }
}

/// Where the sync stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncStatusResponse {
    pub outbox: OutboxCountsResponse,
    /// The same counts per object type (`companies`, `contacts`).
    pub outbox_by_object_type: std::collections::BTreeMap<String, OutboxCountsResponse>,
    /// Seconds the oldest PENDING or IN_FLIGHT outbox row has waited; null when none waits.
    pub oldest_pending_age_seconds: Option<i64>,
    /// Messages in the dead-letter queue; null when no DLQ is configured or SQS did not answer.
    pub dlq_depth: Option<i64>,
    pub last_webhook_received_at: Option<DateTime<Utc>>,
    /// The newest finished reconciliation run; null before the first one.
    pub last_reconciliation: Option<ReconciliationSummaryResponse>,
    /// HubSpot 429 answers recorded in the last hour (every process shares the count).
    pub rate_limited_last_hour: i64,
    /// Webhook events of a portal that is not installed (unknown or disconnected), by portal
    /// id: kept, never applied.
    pub unrouted_webhook_events: std::collections::BTreeMap<String, i64>,
    /// How the home portal shows trunks and numbers; null before the first push detected it.
    pub service_objects: Option<ServiceObjectsResponse>,
}

/// How the home portal shows trunks and numbers (detected from HubSpot's custom object limit
/// and schemas), and what waits to be pushed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceObjectsResponse {
    /// `custom_objects` (records of `warp_trunk` and `warp_number`) or `company_properties`
    /// (counts and lists on the company).
    #[schema(example = "custom_objects")]
    pub mode: String,
    /// The custom object types' ids (custom objects only).
    pub trunk_type_id: Option<String>,
    pub number_type_id: Option<String>,
    /// Why this mode: the types found or made, or the limit or refusal that ruled them out.
    pub detail: String,
    pub detected_at: DateTime<Utc>,
    /// Trunks and numbers (of customers linked to a company) changed since their last push.
    pub trunks_waiting: i64,
    pub numbers_waiting: i64,
    /// Trunks and numbers HubSpot refused at their current version (the push log says why);
    /// pushed again once they change.
    pub trunks_refused: i64,
    pub numbers_refused: i64,
}

/// GET /v1/sync/status
#[utoipa::path(
    get,
    path = "/v1/sync/status",
    tag = "sync",
    responses(
        (status = 200, description = "Where the sync stands", body = SyncStatusResponse),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role is needed (counts only, no values: any role reads them)", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Server fault", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn sync_status(
    State(state): State<ApiState>,
    principal: Principal,
) -> Result<Response, Problem> {
    principal.require(Role::Viewer)?;
    let dlq = async {
        match state.dead_letter_queue() {
            Some(queue) => queue.depth().await,
            None => None,
        }
    };
    let (status, dlq_depth) = tokio::join!(sync_reports::sync_status(&state.database), dlq);
    let SyncStatus {
        outbox,
        outbox_by_object_type,
        oldest_pending_age_seconds,
        last_webhook_received_at,
        last_reconciliation,
        rate_limited_last_hour,
        unrouted_webhook_events,
    } = status?;
    let service_objects = service_objects(&state).await?;
    let body = SyncStatusResponse {
        outbox: outbox.into(),
        outbox_by_object_type: outbox_by_object_type
            .into_iter()
            .map(|(object_type, counts)| (object_type.as_str().to_owned(), counts.into()))
            .collect(),
        oldest_pending_age_seconds,
        dlq_depth,
        last_webhook_received_at,
        last_reconciliation: last_reconciliation.map(Into::into),
        rate_limited_last_hour,
        unrouted_webhook_events: unrouted_webhook_events
            .into_iter()
            .map(|(portal_id, count)| (portal_id.to_string(), count))
            .collect(),
        service_objects,
    };
    Ok(json(StatusCode::OK, &body))
}

async fn service_objects(state: &ApiState) -> Result<Option<ServiceObjectsResponse>, Problem> {
    use warp_domain::phone_number::PhoneNumber;
    use warp_domain::trunk::Trunk;
    use warp_store::service_push;
    let Some(detected) = service_push::load_mode(&state.database, state.portal_id).await? else {
        return Ok(None);
    };
    Ok(Some(ServiceObjectsResponse {
        mode: detected.mode.as_str().to_owned(),
        trunk_type_id: detected.trunk_type_id,
        number_type_id: detected.number_type_id,
        detail: detected.detail,
        detected_at: detected.detected_at,
        trunks_waiting: service_push::waiting::<Trunk>(&state.database).await?,
        numbers_waiting: service_push::waiting::<PhoneNumber>(&state.database).await?,
        trunks_refused: service_push::refused_count::<Trunk>(&state.database).await?,
        numbers_refused: service_push::refused_count::<PhoneNumber>(&state.database).await?,
    }))
}

/// One sync attempt (ids and field names, never values).
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncLogEntryResponse {
    pub id: i64,
    pub portal_id: i64,
    /// The outbox row the attempt carried or queued.
    pub queue_id: Option<i64>,
    /// `companies` or `contacts`.
    pub object_type: String,
    /// The WARP record: a customer's id for companies, a user's for contacts.
    pub local_id: Option<Uuid>,
    /// `local_id` on a company row (kept for clients of the first API version).
    pub customer_id: Option<Uuid>,
    /// OUTBOUND or INBOUND.
    pub direction: String,
    /// CREATE, UPDATE, RESYNC, PUSH_BACK, PROPERTY_CHANGE, LINK, ...
    pub operation: String,
    /// SUCCESS, FAILED, SKIPPED, OVERRIDDEN or CONFLICT.
    pub status: String,
    /// Names of the fields synced.
    pub fields: Vec<String>,
    /// The HubSpot record's id (a company's or a contact's).
    pub hubspot_id: Option<String>,
    /// `hubspot_id` on a company row (kept for clients of the first API version).
    pub hubspot_company_id: Option<String>,
    pub error: Option<String>,
    pub started_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl From<SyncLogEntry> for SyncLogEntryResponse {
    fn from(entry: SyncLogEntry) -> Self {
        let companies = entry.object_type == ObjectType::Companies;
        SyncLogEntryResponse {
            id: entry.id,
            portal_id: entry.portal_id,
            queue_id: entry.queue_id,
            object_type: entry.object_type.as_str().to_owned(),
            local_id: entry.local_id,
            customer_id: entry.local_id.filter(|_| companies),
            direction: entry.direction,
            operation: entry.operation,
            status: entry.status,
            fields: entry.fields,
            hubspot_company_id: entry.hubspot_id.clone().filter(|_| companies),
            hubspot_id: entry.hubspot_id,
            error: entry.error,
            started_at: entry.started_at,
            completed_at: entry.completed_at,
        }
    }
}

/// A sync attempt's outcome (the parameter also accepts lower case).
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the parameter; parsing is by hand to name it when wrong
pub enum LogStatusSchema {
    #[schema(rename = "SUCCESS")]
    Success,
    #[schema(rename = "FAILED")]
    Failed,
    #[schema(rename = "SKIPPED")]
    Skipped,
    #[schema(rename = "OVERRIDDEN")]
    Overridden,
    #[schema(rename = "CONFLICT")]
    Conflict,
}

/// A sync attempt's direction (the parameter also accepts lower case).
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the parameter; parsing is by hand to name it when wrong
pub enum LogDirectionSchema {
    #[schema(rename = "OUTBOUND")]
    Outbound,
    #[schema(rename = "INBOUND")]
    Inbound,
}

/// One page of the sync log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncLogList {
    pub items: Vec<SyncLogEntryResponse>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// GET /v1/sync/logs
#[utoipa::path(
    get,
    path = "/v1/sync/logs",
    tag = "sync",
    params(
        ("status" = Option<LogStatusSchema>, Query, description = "Only attempts with this outcome"),
        ("direction" = Option<LogDirectionSchema>, Query, description = "Only attempts in this direction"),
        ("customer_id" = Option<Uuid>, Query, description = "Only this customer's attempts (company rows)"),
        ("user_id" = Option<Uuid>, Query, description = "Only this user's attempts (contact rows)"),
        ("object_type" = Option<String>, Query, description = "Only rows of this object type: companies or contacts", pattern = "^(companies|contacts)$"),
        ("portal_id" = Option<i64>, Query, description = "Only this HubSpot portal's rows (a customer-scoped token always gets its own portal's only)", minimum = 1),
        ("limit" = Option<u32>, Query, description = "1 to 200, default 50", minimum = 1, maximum = 200),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page", pattern = "^[A-Za-z0-9_-]{10}[AEIMQUYcgkosw048]$"),
    ),
    responses(
        (status = 200, description = "One page of the sync log, newest first", body = SyncLogList),
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The admin role is needed (or a token scoped to one customer, for its own portal's rows)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A parameter is invalid (each one is named)", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Server fault", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn sync_logs(
    State(state): State<ApiState>,
    principal: Principal,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Problem> {
    if principal.customer_scope.is_none() {
        principal.require(Role::Admin)?;
    }
    let Query(pairs) = query
        .map_err(|_| Problem::new(StatusCode::BAD_REQUEST, "the query string is malformed"))?;
    let mut query = log_query(&pairs)?;
    // A customer's token reads its own HubSpot's rows, whatever it asked for.
    if let Some(customer) = principal.customer_scope {
        let client = state.database.client().await.map_err(StoreError::from)?;
        let own = warp_store::installations::list(&**client)
            .await?
            .into_iter()
            .find(|i| i.role.customer_id() == Some(customer));
        let Some(own) = own else {
            return Ok(json(
                StatusCode::OK,
                &SyncLogList {
                    items: Vec::new(),
                    next_cursor: None,
                },
            ));
        };
        query.portal_id = Some(own.portal_id);
    }
    let page = sync_reports::list_sync_log(&state.database, &query).await?;
    let body = SyncLogList {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    };
    Ok(json(StatusCode::OK, &body))
}

/// Validates every parameter and names each bad one (unknown parameters are ignored, as the
/// customer list does).
fn log_query(pairs: &[(String, String)]) -> Result<SyncLogQuery, Problem> {
    let mut query = SyncLogQuery {
        limit: 50,
        ..SyncLogQuery::default()
    };
    let mut errors = Vec::new();
    for (name, value) in pairs {
        let value = value.trim();
        match name.as_str() {
            "status" => match one_of(&LOG_STATUSES, value) {
                Some(status) => query.status = Some(status),
                None => errors.push(FieldError::new("status", expected(&LOG_STATUSES))),
            },
            "direction" => match one_of(&LOG_DIRECTIONS, value) {
                Some(direction) => query.direction = Some(direction),
                None => errors.push(FieldError::new("direction", expected(&LOG_DIRECTIONS))),
            },
            "customer_id" => match crate::ids::query_id("customer_id", value) {
                Ok(id) => {
                    query.local_id = Some(id);
                    query.object_type = Some(ObjectType::Companies);
                }
                Err(error) => errors.push(error),
            },
            "user_id" => match crate::ids::query_id("user_id", value) {
                Ok(id) => {
                    query.local_id = Some(id);
                    query.object_type = Some(ObjectType::Contacts);
                }
                Err(error) => errors.push(error),
            },
            "object_type" => match value.parse::<ObjectType>() {
                Ok(object_type) => query.object_type = Some(object_type),
                Err(unknown) => errors.push(FieldError::new("object_type", unknown.to_string())),
            },
            "portal_id" => match value.parse::<i64>() {
                Ok(portal) if portal > 0 => query.portal_id = Some(portal),
                _ => errors.push(FieldError::new("portal_id", "must be a HubSpot portal id")),
            },
            "limit" => match value.parse::<u32>() {
                Ok(limit) if (1..=MAX_LOG_LIMIT).contains(&limit) => query.limit = limit,
                _ => errors.push(FieldError::new(
                    "limit",
                    format!("must be an integer from 1 to {MAX_LOG_LIMIT}"),
                )),
            },
            "cursor" => match sync_reports::decode_log_cursor(value) {
                Ok(_) => query.cursor = Some(value.to_owned()),
                Err(_) => errors.push(FieldError::new(
                    "cursor",
                    "is not a cursor this API returned",
                )),
            },
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok(query)
    } else {
        Err(Problem::invalid(errors))
    }
}

/// The allowed value equal to `value` ignoring case.
fn one_of(allowed: &[&'static str], value: &str) -> Option<&'static str> {
    allowed
        .iter()
        .copied()
        .find(|candidate| candidate.eq_ignore_ascii_case(value))
}

fn expected(allowed: &[&str]) -> String {
    format!("must be one of {}", allowed.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn log_queries_parse_or_name_every_bad_parameter() {
        let query = log_query(&pairs(&[
            ("status", "failed"),
            ("direction", " INBOUND "),
            ("customer_id", "0196b3c4-0000-7000-8000-000000000001"),
            ("limit", "200"),
            ("unknown", "ignored"),
        ]))
        .unwrap();
        assert_eq!(query.status, Some("FAILED"));
        assert_eq!(query.direction, Some("INBOUND"));
        assert!(query.local_id.is_some());
        assert_eq!(query.object_type, Some(ObjectType::Companies));
        assert_eq!(query.limit, 200);
        let users = log_query(&pairs(&[(
            "user_id",
            "0196b3c4-0000-7000-8000-000000000001",
        )]))
        .unwrap();
        assert_eq!(users.object_type, Some(ObjectType::Contacts));
        assert!(log_query(&pairs(&[("object_type", "deals")])).is_err());
        assert_eq!(log_query(&[]).unwrap().limit, 50);

        let problem = log_query(&pairs(&[
            ("status", "DONE"),
            ("direction", "SIDEWAYS"),
            ("customer_id", "1' OR '1'='1"),
            ("limit", "0"),
            ("cursor", "bogus"),
        ]))
        .unwrap_err();
        assert_eq!(problem.status, 422);
        let mut fields: Vec<&str> = problem.errors.iter().map(|e| e.field.as_str()).collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            ["cursor", "customer_id", "direction", "limit", "status"]
        );
        assert!(log_query(&pairs(&[("limit", "201")])).is_err());
    }
}
