//! The trunk routes: a customer's SIP trunks under `/v1/customers/{id}/trunks` (issue 22,
//! seed 002's trunk). The shape is [`crate::services`]'.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;
use warp_domain::customer::FieldError;
use warp_domain::trunk::{IpEntry, NewTrunk, Trunk, TrunkPatch};
use warp_store::services::ServiceStore;

use crate::ApiState;
use crate::auth::Principal;
use crate::conventions::{IdempotencyKeyHeader, IfMatchHeader};
use crate::problem::Problem;
use crate::services::{self, Resource};

/// The OpenAPI paths and schemas of this module (merged into the API document).
#[derive(OpenApi)]
#[openapi(
    paths(create_trunk, list_trunks, get_trunk, patch_trunk, release_trunk),
    components(schemas(TrunkResponse, TrunkList, TrunkInput, TrunkStatusSchema, TrunkWritableStatus)),
    tags((name = "trunks", description = "A customer's SIP trunks, pushed to HubSpot"))
)]
pub(crate) struct Doc;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/v1/customers/{id}/trunks",
            get(list_trunks).post(create_trunk),
        )
        .route(
            "/v1/customers/{id}/trunks/{trunk_id}",
            get(get_trunk).patch(patch_trunk),
        )
        .route(
            "/v1/customers/{id}/trunks/{trunk_id}/release",
            post(release_trunk),
        )
}

impl Resource for Trunk {
    type Response = TrunkResponse;
    type Patch = TrunkPatch;
    const COLLECTION: &'static str = "trunks";
    const STATUSES: &'static [&'static str] = &["active", "suspended", "released"];
    const REFERENCE_PARAM: Option<&'static str> = None;

    fn response(&self) -> TrunkResponse {
        TrunkResponse {
            id: self.id,
            customer_id: self.customer_id,
            name: self.name.as_str().to_owned(),
            status: self.status.as_str().to_owned(),
            ip_addresses: self
                .ip_addresses
                .iter()
                .map(|a| IpEntry::as_str(a).to_owned())
                .collect(),
            concurrent_calls: self.concurrent_calls,
            monthly_minutes: self.monthly_minutes,
            partition_id: self.partition_id.as_ref().map(|p| p.as_str().to_owned()),
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
            released_at: self.released_at,
        }
    }

    fn parse_new(value: &Value) -> Result<NewTrunk, Vec<FieldError>> {
        NewTrunk::from_json(value)
    }

    fn parse_patch(value: &Value) -> Result<TrunkPatch, Vec<FieldError>> {
        TrunkPatch::from_json(value)
    }

    fn patched(patch: &TrunkPatch, current: &Trunk) -> NewTrunk {
        patch.apply_to(current)
    }

    fn store(state: &ApiState) -> &ServiceStore<Trunk> {
        state.trunks()
    }
}

/// Whether a trunk carries calls; `released` is final.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // documents `status`, served as stored
pub enum TrunkStatusSchema {
    Active,
    Suspended,
    Released,
}

/// The statuses a client sets (a trunk is released through its release route).
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // documents the body's `status`
pub enum TrunkWritableStatus {
    Active,
    Suspended,
}

/// A trunk.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrunkResponse {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub name: String,
    #[schema(value_type = TrunkStatusSchema)]
    pub status: String,
    /// Addresses and CIDR networks the trunk accepts calls from, canonical.
    pub ip_addresses: Vec<String>,
    pub concurrent_calls: Option<i32>,
    pub monthly_minutes: Option<i64>,
    pub partition_id: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub released_at: Option<DateTime<Utc>>,
}

/// A page of trunks.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the page `services::list` serves
pub struct TrunkList {
    pub items: Vec<TrunkResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// The body of a create (`name` required) or a merge-patch (any field; `null` clears the
/// optional ones).
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the body, which `warp_domain::trunk` reads field by field
pub struct TrunkInput {
    /// Required on create.
    #[schema(
        example = "Production SIP Trunk",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// `active` when absent on create.
    #[schema(value_type = Option<TrunkWritableStatus>, nullable = false)]
    pub status: Option<String>,
    /// Up to 50 distinct sources: IPv4 addresses as here; an IPv4 or IPv6 network in CIDR
    /// form (`198.51.100.0/28`, host bits zero) or an IPv6 address is taken too. Loopback,
    /// multicast, unspecified addresses and /0 networks are refused.
    #[schema(
        nullable = false,
        max_items = 50,
        example = json!(["198.51.100.10"]),
        inline
    )]
    pub ip_addresses: Option<Vec<Ipv4Source>>,
    #[schema(minimum = 1, maximum = 100000, example = 100)]
    pub concurrent_calls: Option<i32>,
    #[schema(minimum = 0, maximum = 1000000000000_i64, example = 1000000)]
    pub monthly_minutes: Option<i64>,
    #[schema(example = "ABC123", pattern = r"^[A-Za-z0-9_-]{1,64}$")]
    pub partition_id: Option<String>,
}

/// A public IPv4 host address (first byte 1-126 or 128-223).
#[derive(Debug, ToSchema)]
#[schema(
    pattern = r"^(12[0-6]|1[01][0-9]|[1-9][0-9]?|12[89]|1[3-9][0-9]|2[01][0-9]|22[0-3])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$",
    example = "198.51.100.10"
)]
#[allow(dead_code)] // documents an item of `ip_addresses`
pub struct Ipv4Source(String);

/// POST /v1/customers/{id}/trunks
#[utoipa::path(
    post,
    path = "/v1/customers/{id}/trunks",
    tag = "trunks",
    params(("id" = Uuid, Path, description = "Customer id"), IdempotencyKeyHeader),
    request_body(content = TrunkInput, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = TrunkResponse,
            headers(("Location" = String, description = "/v1/customers/{id}/trunks/{trunk_id}"), ("ETag" = String, description = "\"<version>\""))),
        (status = 400, description = "Malformed JSON or header", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The editor role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The customer is deleted, or a request with this key is in progress", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (each named), or the key was used with another body", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn create_trunk(
    State(state): State<ApiState>,
    principal: Principal,
    Path(customer_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    services::create::<Trunk>(&state, &principal, &customer_id, &headers, body).await
}

/// GET /v1/customers/{id}/trunks
#[utoipa::path(
    get,
    path = "/v1/customers/{id}/trunks",
    tag = "trunks",
    params(
        ("id" = Uuid, Path, description = "Customer id"),
        ("status" = Option<String>, Query, description = "Only trunks with this status", pattern = "^(active|suspended|released)$"),
        ("limit" = Option<u32>, Query, description = "1 to 100, default 20", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page", pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"),
    ),
    responses(
        (status = 200, description = "A page of the customer's trunks, by id (released ones included unless `status` says otherwise)", body = TrunkList),
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role is needed (or the customer's own token)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid status, limit or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn list_trunks(
    State(state): State<ApiState>,
    principal: Principal,
    Path(customer_id): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Problem> {
    services::list::<Trunk>(&state, &principal, &customer_id, query).await
}

/// GET /v1/customers/{id}/trunks/{trunk_id}
#[utoipa::path(
    get,
    path = "/v1/customers/{id}/trunks/{trunk_id}",
    tag = "trunks",
    params(("id" = Uuid, Path, description = "Customer id"), ("trunk_id" = Uuid, Path, description = "Trunk id")),
    responses(
        (status = 200, description = "The trunk", body = TrunkResponse, headers(("ETag" = String, description = "\"<version>\""))),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role is needed (or the customer's own token)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such trunk of this customer", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn get_trunk(
    State(state): State<ApiState>,
    principal: Principal,
    Path((customer_id, trunk_id)): Path<(String, String)>,
) -> Result<Response, Problem> {
    services::get::<Trunk>(&state, &principal, (&customer_id, &trunk_id)).await
}

/// PATCH /v1/customers/{id}/trunks/{trunk_id}
#[utoipa::path(
    patch,
    path = "/v1/customers/{id}/trunks/{trunk_id}",
    tag = "trunks",
    params(("id" = Uuid, Path, description = "Customer id"), ("trunk_id" = Uuid, Path, description = "Trunk id"), IfMatchHeader),
    request_body(content = TrunkInput, content_type = "application/merge-patch+json",
        description = "JSON merge-patch (RFC 7396); application/json is accepted too"),
    responses(
        (status = 200, description = "The updated trunk", body = TrunkResponse, headers(("ETag" = String, description = "\"<version>\""))),
        (status = 400, description = "Malformed JSON or If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The editor role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such trunk of this customer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The trunk is released", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (each named)", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn patch_trunk(
    State(state): State<ApiState>,
    principal: Principal,
    Path((customer_id, trunk_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    services::update::<Trunk>(
        &state,
        &principal,
        (&customer_id, &trunk_id),
        &headers,
        body,
    )
    .await
}

/// POST /v1/customers/{id}/trunks/{trunk_id}/release
#[utoipa::path(
    post,
    path = "/v1/customers/{id}/trunks/{trunk_id}/release",
    tag = "trunks",
    params(("id" = Uuid, Path, description = "Customer id"), ("trunk_id" = Uuid, Path, description = "Trunk id"), IfMatchHeader),
    responses(
        (status = 200, description = "The trunk, released (final; releasing it again changes nothing)", body = TrunkResponse, headers(("ETag" = String, description = "\"<version>\""))),
        (status = 400, description = "If-Match is not an ETag this API writes", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The editor role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such trunk of this customer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Numbers in service still route to the trunk", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn release_trunk(
    State(state): State<ApiState>,
    principal: Principal,
    Path((customer_id, trunk_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    services::release::<Trunk>(&state, &principal, (&customer_id, &trunk_id), &headers).await
}
