//! The customer HTTP API: one axum router shared by the local server and the Lambda binary.
//! Routes under `/v1` need a bearer JWT; errors are RFC 7807 problem documents; every request
//! runs in a span carrying its request id (never customer values or tokens).

mod activity;
mod audit;
pub mod auth;
mod body;
pub mod bootstrap;
mod calls;
mod company_adoption;
mod conflicts;
mod connect_page;
mod console;
mod contact_links;
mod conventions;
mod customers;
mod deals;
pub mod dto;
mod failed_records;
mod hubspot_links;
mod ids;
mod imports;
mod installations;
mod json;
mod numbers;
mod onboardings;
pub mod openapi;
pub mod problem;
mod reconciliations;
mod search_admission;
mod selection;
mod services;
mod support_tickets;
mod sync_mappings;
mod sync_operations;
pub mod sync_status;
mod trunks;
mod usage;
mod usage_properties;
mod users;
mod web_assets;
mod webhook_events;

pub use auth::{
    AuthConfig, KeySource, Principal, Role, TokenError, issue_dev_token, issue_dev_token_for,
};
pub use console::{ConsoleOidc, DevSignIn};
pub use problem::Problem;

use auth::Authenticator;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument;
use warp_store::{CustomerStore, Database};

/// Largest request body accepted (413 above).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub use warp_store::outbox::{NoopPublisher, OutboxPublisher};

/// Everything the handlers share; cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    database: Database,
    customers: CustomerStore,
    users: warp_store::users::UserStore,
    trunks: warp_store::trunks::TrunkStore,
    numbers: warp_store::phone_numbers::NumberStore,
    authenticator: Arc<Authenticator>,
    publisher: Arc<dyn OutboxPublisher>,
    /// Set in strict create mode: pushes a new customer to HubSpot before its commit.
    strict_create: Option<Arc<customers::StrictCreate>>,
    /// For the company search and link routes; they answer 503 without one.
    hubspot: Option<warp_hubspot::HubSpotClient>,
    /// For the searches, when a read-only credential is configured (else `hubspot`).
    hubspot_reader: Option<warp_hubspot::HubSpotClient>,
    /// The DLQ whose depth `GET /v1/sync/status` reports, when configured.
    dead_letter_queue: Option<Arc<sync_status::DeadLetterQueue>>,
    /// Outstanding HubSpot searches per caller (429 past a few).
    search_admission: search_admission::SearchAdmission,
    /// Connects and disconnects HubSpot portals; the OAuth routes answer 503 without one.
    connector: Option<Arc<warp_installations::Connector>>,
    /// The console's local dev sign-in (`warp dev` only).
    dev_sign_in: Option<Arc<DevSignIn>>,
    /// The console's identity-provider sign-in, when configured.
    console_oidc: Option<Arc<ConsoleOidc>>,
    portal_id: i64,
    /// Spend alerts on `POST /v1/usage` (`USAGE_ALERT_PERCENT`, `USAGE_ALERT_TICKETS`).
    usage_alerts: warp_runtime::config::UsageAlertSettings,
}

impl ApiState {
    pub fn new(database: Database, auth: AuthConfig, portal_id: i64) -> Self {
        ApiState {
            customers: CustomerStore::new(database.clone(), portal_id),
            users: warp_store::users::UserStore::new(database.clone(), portal_id),
            trunks: warp_store::trunks::TrunkStore::new(database.clone()),
            numbers: warp_store::phone_numbers::NumberStore::new(database.clone()),
            database,
            authenticator: Arc::new(Authenticator::new(auth)),
            publisher: Arc::new(NoopPublisher),
            strict_create: None,
            hubspot: None,
            hubspot_reader: None,
            dead_letter_queue: None,
            search_admission: search_admission::SearchAdmission::default(),
            connector: None,
            dev_sign_in: None,
            console_oidc: None,
            portal_id,
            usage_alerts: warp_runtime::config::UsageAlertSettings {
                percent: 80,
                tickets: false,
                daily_note: false,
            },
        }
    }

    /// When `POST /v1/usage` raises spend alerts (the configuration's; the default is 80 % of
    /// the credit limit, a timeline event only).
    pub fn with_usage_alerts(mut self, alerts: warp_runtime::config::UsageAlertSettings) -> Self {
        self.usage_alerts = alerts;
        self
    }

    /// The HubSpot client the company search and link routes use.
    pub fn with_hubspot(mut self, hubspot: warp_hubspot::HubSpotClient) -> Self {
        self.hubspot = Some(hubspot);
        self
    }

    /// The HubSpot client the searches use (a read-only credential's).
    pub fn with_hubspot_reader(mut self, reader: warp_hubspot::HubSpotClient) -> Self {
        self.hubspot_reader = Some(reader);
        self
    }

    /// The OAuth connector of WARP's HubSpot app.
    pub fn with_connector(mut self, connector: warp_installations::Connector) -> Self {
        self.connector = Some(Arc::new(connector));
        self
    }

    /// Lets the console mint tokens for a chosen role: local development only.
    pub fn with_dev_sign_in(mut self, signer: DevSignIn) -> Self {
        self.dev_sign_in = Some(Arc::new(signer));
        self
    }

    pub(crate) fn dev_sign_in(&self) -> Option<&DevSignIn> {
        self.dev_sign_in.as_deref()
    }

    /// Lets the console sign people in through an OpenID Connect provider.
    pub fn with_console_oidc(mut self, oidc: ConsoleOidc) -> Self {
        self.console_oidc = Some(Arc::new(oidc));
        self
    }

    pub(crate) fn console_oidc(&self) -> Option<&ConsoleOidc> {
        self.console_oidc.as_deref()
    }

    pub(crate) fn connector(&self) -> Option<&warp_installations::Connector> {
        self.connector.as_deref()
    }

    /// The dead-letter queue whose depth the sync status reports.
    pub fn with_dead_letter_queue(mut self, queue: sync_status::DeadLetterQueue) -> Self {
        self.dead_letter_queue = Some(Arc::new(queue));
        self
    }

    pub(crate) fn hubspot(&self) -> Option<&warp_hubspot::HubSpotClient> {
        self.hubspot.as_ref()
    }

    /// The client for reads that change nothing (the searches).
    pub(crate) fn hubspot_reader(&self) -> Option<&warp_hubspot::HubSpotClient> {
        self.hubspot_reader.as_ref().or(self.hubspot.as_ref())
    }

    pub(crate) fn dead_letter_queue(&self) -> Option<&sync_status::DeadLetterQueue> {
        self.dead_letter_queue.as_deref()
    }

    pub(crate) fn search_admission(&self) -> &search_admission::SearchAdmission {
        &self.search_admission
    }

    pub(crate) fn portal_id(&self) -> i64 {
        self.portal_id
    }

    /// Replaces the after-commit publisher (the lead wires SQS here).
    pub fn with_outbox_publisher(mut self, publisher: Arc<dyn OutboxPublisher>) -> Self {
        self.publisher = publisher;
        self
    }

    /// Strict create mode: `POST /v1/customers` upserts the company in HubSpot before the
    /// commit and stores nothing when HubSpot refuses (502).
    pub fn with_strict_create(
        mut self,
        hubspot: warp_hubspot::HubSpotClient,
        mapping: warp_store::sync_config::MappingSource,
    ) -> Self {
        self.strict_create = Some(Arc::new(customers::StrictCreate::new(hubspot, mapping)));
        self
    }

    pub(crate) fn strict_create(&self) -> Option<&dyn warp_store::customers::PreCommit> {
        self.strict_create
            .as_deref()
            .map(|hook| hook as &dyn warp_store::customers::PreCommit)
    }

    pub(crate) fn customers(&self) -> &CustomerStore {
        &self.customers
    }

    /// The customer store whose writes are audited under `principal`.
    pub(crate) fn customers_for(&self, principal: &auth::Principal) -> CustomerStore {
        self.customers.with_actor(principal.actor())
    }

    /// The user store whose writes are audited under `principal`.
    pub(crate) fn users_for(&self, principal: &auth::Principal) -> warp_store::users::UserStore {
        self.users.with_actor(principal.actor())
    }

    pub(crate) fn users(&self) -> &warp_store::users::UserStore {
        &self.users
    }

    pub(crate) fn trunks(&self) -> &warp_store::trunks::TrunkStore {
        &self.trunks
    }

    pub(crate) fn numbers(&self) -> &warp_store::phone_numbers::NumberStore {
        &self.numbers
    }

    pub(crate) fn authenticator(&self) -> &Authenticator {
        &self.authenticator
    }

    pub(crate) async fn publish(&self, outbox_id: i64) {
        self.publisher.publish(outbox_id).await;
    }
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("database", &self.database)
            .field("auth", &self.authenticator.describe())
            .finish()
    }
}

/// The API's routes with their middleware: request ids and spans, panic → 500 problem, the
/// body limit, and problem documents for unknown routes and methods.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/v1/openapi.json", get(openapi_json))
        .route(
            "/v1/customers",
            get(customers::list_customers).post(customers::create_customer),
        )
        .route(
            "/v1/customers/by-ban/{ban}",
            get(customers::get_customer_by_ban),
        )
        .route(
            "/v1/customers/{id}",
            get(customers::get_customer)
                .patch(customers::patch_customer)
                .put(customers::replace_customer)
                .delete(customers::delete_customer),
        )
        .merge(users::routes())
        .merge(trunks::routes())
        .merge(numbers::routes())
        .merge(usage::routes())
        .merge(usage_properties::routes())
        .merge(calls::routes())
        .merge(support_tickets::routes())
        .merge(deals::routes())
        .merge(onboardings::routes())
        .merge(imports::routes())
        .merge(audit::routes())
        .merge(webhook_events::routes())
        .merge(failed_records::routes())
        .merge(activity::routes())
        .merge(company_adoption::routes())
        .merge(sync_operations::routes())
        .merge(sync_mappings::routes())
        .merge(conflicts::routes())
        .merge(reconciliations::routes())
        .merge(sync_status::routes())
        .merge(hubspot_links::routes())
        .merge(contact_links::routes())
        .merge(installations::routes())
        .merge(connect_page::routes())
        .merge(console::routes())
        .fallback(|| async { Problem::not_found() })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "this method is not allowed on this resource",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn(request_context))
        .with_state(state)
}

fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    // The payload may hold input values: log that it happened, not what it said.
    tracing::error!("handler panicked");
    Problem::internal().into_response()
}

/// A request's id, for handlers (the audit log records it).
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub std::sync::Arc<str>);

/// Gives every request a span with its request id (taken from `x-request-id` when sane,
/// generated otherwise) and echoes the id in the answer. The span names the route template
/// (`/v1/customers/by-ban/{ban}`), never the path itself: paths carry BANs and ids.
/// Answers under `/v1` hold customer data or operational state, so no cache may keep them
/// unless the handler says otherwise (the OpenAPI document is public and unchanging).
async fn request_context(mut request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|id| (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic()))
        .map(std::sync::Arc::<str>::from)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string().into());
    request
        .extensions_mut()
        .insert(RequestId(request_id.clone()));
    // A MatchedPath is an `Arc<str>`: cloning it copies no text.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map_or("(unmatched)", MatchedPath::as_str);
    let private = request.uri().path().starts_with("/v1/") && route != "/v1/openapi.json";
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %request.method(),
        route = %route,
    );
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request done"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    if private && !response.headers().contains_key(header::CACHE_CONTROL) {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// GET /health
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    responses(
        (status = 200, description = "The database answers", body = dto::Health),
        (status = 503, description = "The database does not answer", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn health(State(state): State<ApiState>) -> Response {
    let check = async {
        let client = state.database.client().await.ok()?;
        client.query_typed("SELECT 1", &[]).await.ok()
    };
    match tokio::time::timeout(Duration::from_secs(3), check).await {
        Ok(Some(_)) => {
            let mut response = axum::Json(dto::Health {
                status: "ok".into(),
            })
            .into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        _ => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the database does not answer",
        )
        .into_response(),
    }
}

/// GET /v1/openapi.json (public: it holds no data, and tools such as schemathesis read it).
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "operations",
    responses((status = 200, description = "This API's OpenAPI 3 document", content_type = "application/json"))
)]
pub(crate) async fn openapi_json() -> Response {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let document = DOCUMENT.get_or_init(|| openapi::document().to_json().unwrap_or_default());
    (
        [(header::CONTENT_TYPE, "application/json")],
        document.clone(),
    )
        .into_response()
}

/// The OpenAPI document as a value (for the CLI or a file export).
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    openapi::document()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_panicking_handler_answers_a_500_problem() {
        async fn boom() -> &'static str {
            panic!("secret customer value")
        }
        let app = Router::new()
            .route("/boom", get(boom))
            .layer(CatchPanicLayer::custom(panic_response))
            .layer(middleware::from_fn(request_context));
        let request = axum::http::Request::get("/boom")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert!(response.headers().contains_key("x-request-id"));
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.contains("\"status\":500"));
        assert!(!text.contains("secret"));
    }
}
