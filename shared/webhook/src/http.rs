//! The HTTP adapter: `POST /webhooks/hubspot` and its alias `/webhooks/hubspot/company`.
//!
//! Order, each step only after the one before passed: body size (413) → signature over the
//! raw body (401, nothing stored) → parse (400) → store once (503/500 when the database
//! fails, so HubSpot retries) → 200 `{"received", "stored", "duplicates"}`. Events stay
//! RECEIVED: applying them to customers is a later step (an event holding a NUL character is
//! stored FAILED instead, see [`crate::store`]). Logs carry ids and counts, never property
//! values, and database errors by SQLSTATE, never the server's message.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use serde::Serialize;
use warp_domain::sync::{WebhookParseError, parse_webhook_batch_with_raw};
use warp_store::Database;

use crate::config::WebhookConfig;
use crate::signed_url::signed_url;
use crate::verify::verify_delivery;
use warp_store::webhook_events::{StoreOutcome, store_events};

pub const WEBHOOK_PATH: &str = "/webhooks/hubspot";
pub const COMPANY_WEBHOOK_PATH: &str = "/webhooks/hubspot/company";
const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// What the handler needs, built once at start and shared by every request.
#[derive(Clone)]
pub struct WebhookState {
    config: Arc<WebhookConfig>,
    database: Database,
    /// Signalled after a delivery stored new events, so a local processing loop starts at once
    /// (see `process::run_inbound_loop_with_kick`); a cheap, non-blocking call.
    processing_kick: Option<Arc<tokio::sync::Notify>>,
    /// In Lambda: apply what was stored before answering, within a time budget (a frozen
    /// function cannot work after its answer); leftovers wait for the reconciler's schedule.
    inline_processing: Option<(Arc<crate::process::InboundProcessor>, std::time::Duration)>,
}

impl WebhookState {
    pub fn new(config: WebhookConfig, database: Database) -> Self {
        WebhookState {
            config: Arc::new(config),
            database,
            processing_kick: None,
            inline_processing: None,
        }
    }

    /// Applies stored events before answering, for at most `budget` (Lambda: HubSpot waits 5 s).
    pub fn with_inline_processing(
        mut self,
        processor: Arc<crate::process::InboundProcessor>,
        budget: std::time::Duration,
    ) -> Self {
        self.inline_processing = Some((processor, budget));
        self
    }

    /// Wakes `kick` whenever a delivery stored at least one new event.
    pub fn with_processing_kick(mut self, kick: Arc<tokio::sync::Notify>) -> Self {
        self.processing_kick = Some(kick);
        self
    }

    pub fn config(&self) -> &WebhookConfig {
        &self.config
    }

    pub fn database(&self) -> &Database {
        &self.database
    }
}

/// The receiver's routes, ready to merge into the local server or serve from Lambda.
pub fn router(state: WebhookState) -> Router {
    Router::new()
        .route(WEBHOOK_PATH, post(receive_delivery))
        .route(COMPANY_WEBHOOK_PATH, post(receive_delivery))
        .with_state(state)
}

/// Events claimed per inline processing batch.
const INLINE_BATCH: u32 = 100;

/// The 200 answer.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct DeliveryReceipt {
    pub received: u64,
    pub stored: u64,
    pub duplicates: u64,
}

async fn receive_delivery(State(state): State<WebhookState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    // Before anything costs: a source outside the allow-list learns nothing more.
    if let Some(allow_list) = &state.config.allow_list {
        let client = allow_list.client_ip(&parts.headers, &parts.extensions);
        if !client.is_some_and(|ip| allow_list.allows(ip)) {
            tracing::warn!(client = ?client, "webhook refused: the source is not in WEBHOOK_ALLOWED_CIDRS");
            return problem(
                StatusCode::FORBIDDEN,
                "deliveries are not accepted from this address",
            );
        }
    }
    let limit = state.config.max_body_bytes;
    let declared_length = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().parse::<u64>().ok());
    if declared_length.is_some_and(|length| length > limit as u64) {
        tracing::warn!(limit, "webhook body too large");
        return body_too_large(limit);
    }
    let body = match read_body(body, limit).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            tracing::warn!(limit, "webhook body too large");
            return body_too_large(limit);
        }
        Err(BodyError::Unreadable) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "the request body could not be read",
            );
        }
    };

    // Nested under a prefix, the router sees a shortened URI; HubSpot signed the original.
    let uri = parts
        .extensions
        .get::<OriginalUri>()
        .map_or(&parts.uri, |original| &original.0);
    let url = match signed_url(&state.config.signed_url, &parts.headers, uri) {
        Ok(url) => url,
        Err(error) => {
            tracing::warn!(%error, "webhook rejected");
            return unauthorized();
        }
    };
    let now_ms = chrono::Utc::now().timestamp_millis();
    let version = match verify_delivery(
        &state.config,
        parts.method.as_str(),
        &url,
        &parts.headers,
        &body,
        now_ms,
    ) {
        Ok(version) => version,
        Err(rejection) => {
            tracing::warn!(reason = %rejection, path = parts.uri.path(), "webhook signature rejected");
            return unauthorized();
        }
    };

    let events = match parse_webhook_batch_with_raw(&body) {
        Ok(events) => events,
        Err(error) => {
            // The error names positions and kinds only, never values from the body.
            tracing::warn!(error = %error, "webhook body rejected");
            return problem(StatusCode::BAD_REQUEST, parse_problem_detail(&error));
        }
    };

    let received = events.len() as u64;
    match store_events(&state.database, &events).await {
        Ok(StoreOutcome { stored, duplicates }) => {
            tracing::info!(
                ?version,
                received,
                stored,
                duplicates,
                portal_id = events.first().map(|(event, _)| event.portal_id),
                first_event_id = events.first().map(|(event, _)| event.event_id),
                "webhook delivery stored"
            );
            if stored > 0
                && let Some(kick) = &state.processing_kick
            {
                kick.notify_one();
            }
            if stored > 0
                && let Some((processor, budget)) = &state.inline_processing
            {
                let report = processor.process_within(*budget, INLINE_BATCH).await;
                tracing::info!(
                    processed = report.processed,
                    retry_later = report.retry_later,
                    "applied inline"
                );
            }
            let receipt = DeliveryReceipt {
                received,
                stored,
                duplicates,
            };
            (StatusCode::OK, axum::Json(receipt)).into_response()
        }
        Err(error) if error.is_unavailable() => {
            tracing::error!(%error, received, "webhook events not stored: database unavailable");
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "the events could not be stored now; retry later",
            )
        }
        Err(error) => {
            tracing::error!(%error, received, "webhook events not stored");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the events could not be stored; it has been logged",
            )
        }
    }
}

enum BodyError {
    TooLarge,
    Unreadable,
}

/// Reads at most `limit` bytes, whatever Content-Length claimed (it may be absent or chunked).
async fn read_body(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::Unreadable),
    }
}

fn parse_problem_detail(error: &WebhookParseError) -> String {
    match error {
        WebhookParseError::InvalidJson(_) => "the body is not valid JSON".to_owned(),
        WebhookParseError::DuplicateKey { path } => {
            format!("the key '{path}' appears more than once")
        }
        WebhookParseError::NotAnArray => "the body is not a JSON array of events".to_owned(),
        WebhookParseError::TooManyEvents { count } => {
            format!("the body has {count} events, more than a delivery may carry")
        }
        WebhookParseError::InvalidEvent { index, .. } => format!(
            "event {index} lacks an identifying field (portalId, eventId, subscriptionType, objectId, occurredAt) or has one of the wrong type"
        ),
    }
}

fn unauthorized() -> Response {
    // One answer for every signature failure: the sender learns nothing about which check failed.
    problem(
        StatusCode::UNAUTHORIZED,
        "the request does not carry a valid HubSpot signature within the allowed time window",
    )
}

fn body_too_large(limit: usize) -> Response {
    problem(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the body is larger than {limit} bytes"),
    )
}

/// An RFC 7807 problem document. Built here rather than with `warp_api::Problem`, whose 401
/// adds a Bearer challenge that means nothing to HubSpot, and which would pull the whole API
/// crate (JWT, OpenAPI) into the webhook function.
#[derive(Serialize)]
struct ProblemBody {
    #[serde(rename = "type")]
    problem_type: &'static str,
    title: &'static str,
    status: u16,
    detail: String,
}

fn problem(status: StatusCode, detail: impl Into<String>) -> Response {
    let problem_type = match status {
        StatusCode::BAD_REQUEST => "https://warp.example/problems/malformed-request",
        StatusCode::UNAUTHORIZED => "https://warp.example/problems/unauthorized",
        StatusCode::PAYLOAD_TOO_LARGE => "https://warp.example/problems/payload-too-large",
        StatusCode::SERVICE_UNAVAILABLE => "https://warp.example/problems/service-unavailable",
        _ => "https://warp.example/problems/internal-error",
    };
    let body = ProblemBody {
        problem_type,
        title: status.canonical_reason().unwrap_or("Error"),
        status: status.as_u16(),
        detail: detail.into(),
    };
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
    );
    response
}
