//! The number routes: a customer's phone numbers under `/v1/customers/{id}/numbers` (issue
//! 22, seed 002's number). The shape is [`crate::services`]'.

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
use warp_domain::phone_number::{NewNumber, NumberPatch, NumberSettings, PhoneNumber};
use warp_store::services::ServiceStore;

use crate::ApiState;
use crate::auth::Principal;
use crate::conventions::{IdempotencyKeyHeader, IfMatchHeader};
use crate::dto::NonNegativeMoneyInput;
use crate::problem::Problem;
use crate::services::{self, Resource};

/// The OpenAPI paths and schemas of this module (merged into the API document).
#[derive(OpenApi)]
#[openapi(
    paths(create_number, list_numbers, get_number, patch_number, release_number),
    components(schemas(NumberResponse, NumberList, NumberInput, NumberPatchInput, NumberTypeSchema, CapabilitySchema, NumberStatusSchema)),
    tags((name = "numbers", description = "A customer's phone numbers, pushed to HubSpot"))
)]
pub(crate) struct Doc;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/v1/customers/{id}/numbers",
            get(list_numbers).post(create_number),
        )
        .route(
            "/v1/customers/{id}/numbers/{number_id}",
            get(get_number).patch(patch_number),
        )
        .route(
            "/v1/customers/{id}/numbers/{number_id}/release",
            post(release_number),
        )
}

impl Resource for PhoneNumber {
    type Response = NumberResponse;
    type Patch = NumberPatch;
    const COLLECTION: &'static str = "numbers";
    const STATUSES: &'static [&'static str] = &["active", "released"];
    const REFERENCE_PARAM: Option<&'static str> = Some("trunk_id");

    fn response(&self) -> NumberResponse {
        NumberResponse {
            id: self.id,
            customer_id: self.customer_id,
            number: self.number.as_str().to_owned(),
            number_type: self.number_type.as_str().to_owned(),
            capabilities: self
                .capabilities
                .as_slice()
                .iter()
                .map(|c| c.as_str().to_owned())
                .collect(),
            monthly_cost: self.monthly_cost.to_string(),
            trunk_id: self.trunk_id,
            e911_address: self.e911_address.as_ref().map(|a| a.as_str().to_owned()),
            cnam: self.cnam.as_ref().map(|c| c.as_str().to_owned()),
            status: self.status.as_str().to_owned(),
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
            released_at: self.released_at,
        }
    }

    fn parse_new(value: &Value) -> Result<NewNumber, Vec<FieldError>> {
        NewNumber::from_json(value)
    }

    fn parse_patch(value: &Value) -> Result<NumberPatch, Vec<FieldError>> {
        NumberPatch::from_json(value)
    }

    fn patched(patch: &NumberPatch, current: &PhoneNumber) -> NumberSettings {
        patch.apply_to(current)
    }

    fn store(state: &ApiState) -> &ServiceStore<PhoneNumber> {
        state.numbers()
    }
}

/// The kind of number.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // documents `type`
pub enum NumberTypeSchema {
    Local,
    Tollfree,
    Mobile,
}

/// What a number can do.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // documents `capabilities`
pub enum CapabilitySchema {
    Voice,
    Sms,
    Mms,
    Fax,
}

/// Whether the number is in service; `released` is final.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // documents `status`
pub enum NumberStatusSchema {
    Active,
    Released,
}

/// A phone number.
#[derive(Debug, Serialize, ToSchema)]
pub struct NumberResponse {
    pub id: Uuid,
    pub customer_id: Uuid,
    /// E.164.
    #[schema(example = "+13035551000")]
    pub number: String,
    #[serde(rename = "type")]
    #[schema(value_type = NumberTypeSchema)]
    pub number_type: String,
    /// In the order voice, sms, mms, fax.
    #[schema(value_type = Vec<CapabilitySchema>)]
    pub capabilities: Vec<String>,
    /// Money as a decimal string with two places.
    #[schema(example = "1.00", pattern = "^[0-9]{1,12}\\.[0-9]{2}$")]
    pub monthly_cost: String,
    /// The trunk its calls route to.
    pub trunk_id: Option<Uuid>,
    pub e911_address: Option<String>,
    pub cnam: Option<String>,
    #[schema(value_type = NumberStatusSchema)]
    pub status: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub released_at: Option<DateTime<Utc>>,
}

/// A page of numbers.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the page `services::list` serves
pub struct NumberList {
    pub items: Vec<NumberResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// The body of a create.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the body, which `warp_domain::phone_number` reads
pub struct NumberInput {
    /// E.164; in one customer's service at a time.
    #[schema(example = "+13035551000", pattern = "^\\+[1-9][0-9]{7,14}$")]
    pub number: String,
    #[schema(value_type = NumberTypeSchema)]
    pub r#type: String,
    #[schema(value_type = Vec<CapabilitySchema>, min_items = 1, max_items = 4, example = json!(["voice", "sms"]))]
    pub capabilities: Vec<String>,
    /// Not negative.
    pub monthly_cost: NonNegativeMoneyInput,
    /// One of the customer's trunks that is not released.
    #[schema(nullable = false)]
    pub trunk_id: Option<Uuid>,
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub e911_address: Option<String>,
    /// Caller name.
    #[schema(
        nullable = false,
        example = "ACME CORP",
        pattern = r"^ *[A-Za-z0-9.,&'-][A-Za-z0-9 .,&'-]{0,14}$"
    )]
    pub cnam: Option<String>,
}

/// A merge-patch of a number (RFC 7396): the number and its type cannot change; `null`
/// clears `trunk_id`, `e911_address` and `cnam`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the body, which `warp_domain::phone_number` reads
pub struct NumberPatchInput {
    #[schema(value_type = Option<Vec<CapabilitySchema>>, nullable = false, min_items = 1, max_items = 4)]
    pub capabilities: Option<Vec<String>>,
    #[schema(nullable = false)]
    pub monthly_cost: Option<NonNegativeMoneyInput>,
    pub trunk_id: Option<Uuid>,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub e911_address: Option<String>,
    #[schema(pattern = r"^ *[A-Za-z0-9.,&'-][A-Za-z0-9 .,&'-]{0,14}$")]
    pub cnam: Option<String>,
}

/// POST /v1/customers/{id}/numbers
#[utoipa::path(
    post,
    path = "/v1/customers/{id}/numbers",
    tag = "numbers",
    params(("id" = Uuid, Path, description = "Customer id"), IdempotencyKeyHeader),
    request_body(content = NumberInput, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = NumberResponse,
            headers(("Location" = String, description = "/v1/customers/{id}/numbers/{number_id}"), ("ETag" = String, description = "\"<version>\""))),
        (status = 400, description = "Malformed JSON or header", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The editor role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The number is in service already, the customer is deleted, or a request with this key is in progress", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (each named; `trunk_id` naming no trunk of the customer in service), or the key was used with another body", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn create_number(
    State(state): State<ApiState>,
    principal: Principal,
    Path(customer_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    services::create::<PhoneNumber>(&state, &principal, &customer_id, &headers, body).await
}

/// GET /v1/customers/{id}/numbers
#[utoipa::path(
    get,
    path = "/v1/customers/{id}/numbers",
    tag = "numbers",
    params(
        ("id" = Uuid, Path, description = "Customer id"),
        ("status" = Option<String>, Query, description = "Only numbers with this status", pattern = "^(active|released)$"),
        ("trunk_id" = Option<Uuid>, Query, description = "Only numbers routed to this trunk"),
        ("limit" = Option<u32>, Query, description = "1 to 100, default 20", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page", pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"),
    ),
    responses(
        (status = 200, description = "A page of the customer's numbers, by id (released ones included unless `status` says otherwise)", body = NumberList),
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role is needed (or the customer's own token)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid status, trunk_id, limit or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn list_numbers(
    State(state): State<ApiState>,
    principal: Principal,
    Path(customer_id): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Problem> {
    services::list::<PhoneNumber>(&state, &principal, &customer_id, query).await
}

/// GET /v1/customers/{id}/numbers/{number_id}
#[utoipa::path(
    get,
    path = "/v1/customers/{id}/numbers/{number_id}",
    tag = "numbers",
    params(("id" = Uuid, Path, description = "Customer id"), ("number_id" = Uuid, Path, description = "Number id")),
    responses(
        (status = 200, description = "The number", body = NumberResponse, headers(("ETag" = String, description = "\"<version>\""))),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role is needed (or the customer's own token)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such number of this customer", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn get_number(
    State(state): State<ApiState>,
    principal: Principal,
    Path((customer_id, number_id)): Path<(String, String)>,
) -> Result<Response, Problem> {
    services::get::<PhoneNumber>(&state, &principal, (&customer_id, &number_id)).await
}

/// PATCH /v1/customers/{id}/numbers/{number_id}
#[utoipa::path(
    patch,
    path = "/v1/customers/{id}/numbers/{number_id}",
    tag = "numbers",
    params(("id" = Uuid, Path, description = "Customer id"), ("number_id" = Uuid, Path, description = "Number id"), IfMatchHeader),
    request_body(content = NumberPatchInput, content_type = "application/merge-patch+json",
        description = "JSON merge-patch (RFC 7396); application/json is accepted too"),
    responses(
        (status = 200, description = "The updated number", body = NumberResponse, headers(("ETag" = String, description = "\"<version>\""))),
        (status = 400, description = "Malformed JSON or If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The editor role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such number of this customer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The number is released", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (each named; the number and type cannot change)", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn patch_number(
    State(state): State<ApiState>,
    principal: Principal,
    Path((customer_id, number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    services::update::<PhoneNumber>(
        &state,
        &principal,
        (&customer_id, &number_id),
        &headers,
        body,
    )
    .await
}

/// POST /v1/customers/{id}/numbers/{number_id}/release
#[utoipa::path(
    post,
    path = "/v1/customers/{id}/numbers/{number_id}/release",
    tag = "numbers",
    params(("id" = Uuid, Path, description = "Customer id"), ("number_id" = Uuid, Path, description = "Number id"), IfMatchHeader),
    responses(
        (status = 200, description = "The number, released (final; it may then be added again)", body = NumberResponse, headers(("ETag" = String, description = "\"<version>\""))),
        (status = 400, description = "If-Match is not an ETag this API writes", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The editor role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such number of this customer", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn release_number(
    State(state): State<ApiState>,
    principal: Principal,
    Path((customer_id, number_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    services::release::<PhoneNumber>(&state, &principal, (&customer_id, &number_id), &headers).await
}
