//! The user routes: a customer's logins (DESIGN §7). Create (with Idempotency-Key) and list
//! under `/v1/customers/{id}/users`; read, PATCH and disable under `/v1/users/{id}` (If-Match
//! required on writes); `GET /v1/users?email=` finds a person across customers.

use crate::ApiState;
use crate::auth::{Principal, Role};
use crate::body;
use crate::conventions::{
    IdempotencyKeyHeader, IfMatchHeader, PageParams, expected_version, idempotency_key, invalid,
    json_response, replay, request_hash, stored_created,
};
use crate::problem::Problem;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;
use warp_domain::customer::FieldError;
use warp_domain::user::{NewUser, User, UserEmail, UserPatch, UserStatus};
use warp_store::IdempotentRequest;
use warp_store::users::{CreatedUser, RenderUser, UserMove, UserQuery};

/// The OpenAPI paths and schemas of this module (merged into the API document).
#[derive(OpenApi)]
#[openapi(
    paths(create_user, list_customer_users, find_users, get_user, patch_user, disable_user, move_user),
    components(schemas(UserResponse, UserList, UserInput, UserMoveInput, UserRoleSchema, UserStatusSchema)),
    tags((name = "users", description = "A customer's logins, synced to HubSpot contacts"))
)]
pub(crate) struct Doc;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/v1/customers/{id}/users",
            get(list_customer_users).post(create_user),
        )
        .route("/v1/users", get(find_users))
        .route("/v1/users/{id}", get(get_user).patch(patch_user))
        .route("/v1/users/{id}/disable", post(disable_user))
        .route("/v1/users/{id}/move", post(move_user))
}

/// What a user may do in WARP.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // documents `role`, served as stored
pub enum UserRoleSchema {
    Admin,
    Developer,
    Billing,
    Readonly,
}

/// Whether a user can log in: `invited` until WARP enables it, `disabled` after.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // documents `status`, served as stored
pub enum UserStatusSchema {
    Active,
    Invited,
    Disabled,
}

/// A user.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    pub id: Uuid,
    pub customer_id: Uuid,
    /// Lower-cased; unique per customer.
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// E.164.
    pub phone: Option<String>,
    pub job_title: Option<String>,
    #[schema(value_type = UserRoleSchema)]
    pub role: String,
    #[schema(value_type = UserStatusSchema)]
    pub status: String,
    pub two_factor_enabled: bool,
    pub last_login_at: Option<DateTime<Utc>>,
    /// How many API keys the user holds (the keys themselves never leave WARP).
    pub api_key_count: i32,
    pub last_api_call_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<User> for UserResponse {
    fn from(user: User) -> Self {
        UserResponse {
            id: user.id,
            customer_id: user.customer_id,
            email: user.email.as_str().to_owned(),
            first_name: user.first_name.map(String::from),
            last_name: user.last_name.map(String::from),
            phone: user.phone.map(String::from),
            job_title: user.job_title.map(String::from),
            role: user.role.as_str().to_owned(),
            status: user.status.as_str().to_owned(),
            two_factor_enabled: user.two_factor_enabled,
            last_login_at: user.last_login_at,
            api_key_count: user.api_key_count,
            last_api_call_at: user.last_api_call_at,
            version: user.version,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

/// A page of users.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub items: Vec<UserResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// The body of a create (every writable field) or a merge-patch (any of them; `null` clears
/// the optional ones).
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the body, which `warp_domain::user` reads field by field
pub struct UserInput {
    /// Required on create.
    /// `local@domain`: no spaces, control characters or `"(),:;<>[\]`, dots only between
    /// characters of the local part (up to 4 parts of 16 characters here); stored lower-cased.
    #[schema(
        example = "ada@example.com",
        max_length = 254,
        pattern = r#"^[^\s\x00-\x1f\x7f-\x9f"(),:;<>@\[\\\].]{1,16}(\.[^\s\x00-\x1f\x7f-\x9f"(),:;<>@\[\\\].]{1,15}){0,3}@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]|[A-Za-z][A-Za-z0-9-]{0,61}[A-Za-z0-9])$"#
    )]
    pub email: String,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub first_name: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub last_name: Option<String>,
    #[schema(example = "+4791234567", pattern = "^\\+[1-9][0-9]{7,14}$")]
    pub phone: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub job_title: Option<String>,
    /// Required on create.
    #[schema(value_type = UserRoleSchema)]
    pub role: String,
    /// `invited` when absent on create.
    #[schema(value_type = Option<UserStatusSchema>, nullable = false)]
    pub status: Option<String>,
    #[schema(nullable = false)]
    pub two_factor_enabled: Option<bool>,
}

/// POST /v1/customers/{id}/users
#[utoipa::path(
    post,
    path = "/v1/customers/{id}/users",
    tag = "users",
    params(("id" = Uuid, Path, description = "Customer id"), IdempotencyKeyHeader),
    request_body(content = UserInput, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = UserResponse,
            headers(("Location" = String, description = "/v1/users/{id}"), ("ETag" = String, description = "\"<version>\""))),
        (status = 400, description = "Malformed JSON or header", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The editor role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The email is taken in this customer, the customer is deleted, or a request with this key is in progress", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or the key was used with another body", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn create_user(
    State(state): State<ApiState>,
    principal: Principal,
    Path(customer_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Editor)?;
    let customer_id = crate::ids::path_id(&customer_id)?;
    body::require_json(&headers)?;
    let value = body::json(body)?;
    let new = NewUser::from_json(&value).map_err(invalid)?;
    let idempotency = idempotency_key(&headers)?.map(|key| IdempotentRequest {
        principal: principal.subject.clone(),
        key,
        request_hash: request_hash(&format!("POST /v1/customers/{customer_id}/users"), &value),
    });
    let render = |user: &User| created_response(user);
    let idempotency = idempotency
        .as_ref()
        .map(|request| (request, &render as &RenderUser));
    match state
        .users_for(&principal)
        .create(customer_id, &new, idempotency)
        .await?
    {
        CreatedUser::New(user, stored, outbox_id) => {
            tracing::info!(user_id = %user.id, %customer_id, outbox_id, "user created");
            state.publish(outbox_id).await;
            Ok(replay(
                stored.unwrap_or_else(|| created_response(&user)),
                false,
            ))
        }
        CreatedUser::Replayed(stored) => Ok(replay(stored, true)),
    }
}

fn created_response(user: &User) -> warp_store::StoredResponse {
    stored_created(
        &format!("/v1/users/{}", user.id),
        user.version,
        &UserResponse::from(user.clone()),
    )
}

/// GET /v1/customers/{id}/users
#[utoipa::path(
    get,
    path = "/v1/customers/{id}/users",
    tag = "users",
    params(
        ("id" = Uuid, Path, description = "Customer id"),
        ("limit" = Option<u32>, Query, description = "1 to 100, default 20", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page", pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"),
        ("email" = Option<String>, Query, description = "Only the user with this email (any case); text that is no address matches no user", min_length = 1),
    ),
    responses(
        (status = 200, description = "A page of the customer's users, by id", body = UserList),
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid limit, cursor or email", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn list_customer_users(
    State(state): State<ApiState>,
    principal: Principal,
    Path(customer_id): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Viewer)?;
    let customer_id = crate::ids::path_id(&customer_id)?;
    let (mut query, matchable) = user_query(query)?;
    query.customer_id = Some(customer_id);
    list(&state, &query, matchable).await
}

/// GET /v1/users?email=
#[utoipa::path(
    get,
    path = "/v1/users",
    tag = "users",
    params(
        ("email" = String, Query, description = "The email to find (any case), across customers; text that is no address matches no user", min_length = 1),
        ("limit" = Option<u32>, Query, description = "1 to 100, default 20", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page", pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"),
    ),
    responses(
        (status = 200, description = "Every user with this email, by id", body = UserList),
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "email missing, or a bad limit or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn find_users(
    State(state): State<ApiState>,
    principal: Principal,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Viewer)?;
    let (query, matchable) = user_query(query)?;
    if query.email.is_none() && matchable {
        return Err(Problem::invalid_field(
            "email",
            "is required: users are listed per customer under /v1/customers/{id}/users",
        ));
    }
    list(&state, &query, matchable).await
}

/// A page of users; an empty one, without a read, when the filter is no email any user has.
async fn list(state: &ApiState, query: &UserQuery, matchable: bool) -> Result<Response, Problem> {
    let page = if matchable {
        state.users().list(query).await?
    } else {
        warp_store::users::UserPage::default()
    };
    let body = UserList {
        items: page.items.into_iter().map(UserResponse::from).collect(),
        next_cursor: page.next_cursor,
    };
    Ok(json_response(StatusCode::OK, &body, None))
}

/// `limit`, `cursor` and `email`; every bad one named. The second value is false when `email`
/// is no address at all: a filter no user can match (an empty page, not an error).
fn user_query(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<(UserQuery, bool), Problem> {
    let Query(pairs) = query
        .map_err(|_| Problem::new(StatusCode::BAD_REQUEST, "the query string is malformed"))?;
    let mut parsed = UserQuery {
        customer_id: None,
        email: None,
        after: None,
        limit: 20,
    };
    let mut errors = Vec::new();
    let mut page = PageParams::default();
    let mut matchable = true;
    for (name, value) in pairs {
        if page.read(&name, &value, &mut errors) {
            continue;
        }
        match name.as_str() {
            "email" if value.is_empty() => {
                errors.push(FieldError::new("email", "must not be empty"));
            }
            "email" => match UserEmail::parse(&value) {
                Ok(email) => parsed.email = Some(email),
                Err(_) => matchable = false,
            },
            other => errors.push(FieldError::new(other, "is not a known parameter")),
        }
    }
    (parsed.limit, parsed.after) = (page.limit, page.after);
    if errors.is_empty() {
        Ok((parsed, matchable))
    } else {
        Err(Problem::invalid(errors))
    }
}

/// GET /v1/users/{id}
#[utoipa::path(
    get,
    path = "/v1/users/{id}",
    tag = "users",
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = UserResponse, headers(("ETag" = String, description = "\"<version>\""))),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn get_user(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    principal.require(Role::Viewer)?;
    let id = crate::ids::path_id(&id)?;
    let user = state.users().get(id).await?;
    Ok(user_response(user))
}

/// PATCH /v1/users/{id}
#[utoipa::path(
    patch,
    path = "/v1/users/{id}",
    tag = "users",
    params(("id" = Uuid, Path, description = "User id"), IfMatchHeader),
    request_body(content = UserInput, content_type = "application/merge-patch+json",
        description = "JSON merge-patch (RFC 7396); application/json is accepted too"),
    responses(
        (status = 200, description = "The updated user", body = UserResponse, headers(("ETag" = String, description = "\"<version>\""))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The editor role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another user of the customer has the email", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (each named)", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn patch_user(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Editor)?;
    let id = crate::ids::path_id(&id)?;
    body::require_json(&headers)?;
    let expected = expected_version(&headers)?;
    let value = body::json(body)?;
    let patch = UserPatch::from_json(&value).map_err(invalid)?;
    let written = state
        .users_for(&principal)
        .update(id, expected, &patch)
        .await?;
    tracing::info!(user_id = %id, version = written.value.version, outbox_id = ?written.outbox_id, "user updated");
    Ok(published_user(&state, written).await)
}

/// POST /v1/users/{id}/disable
#[utoipa::path(
    post,
    path = "/v1/users/{id}/disable",
    tag = "users",
    params(("id" = Uuid, Path, description = "User id"), IfMatchHeader),
    responses(
        (status = 200, description = "The user, now disabled (it can no longer log in)", body = UserResponse, headers(("ETag" = String, description = "\"<version>\""))),
        (status = 400, description = "If-Match is not an ETag this API writes", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The editor role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn disable_user(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    principal.require(Role::Editor)?;
    let id = crate::ids::path_id(&id)?;
    let expected = expected_version(&headers)?;
    let patch = UserPatch {
        status: Some(UserStatus::Disabled),
        ..UserPatch::default()
    };
    let written = state
        .users_for(&principal)
        .update(id, expected, &patch)
        .await?;
    tracing::info!(user_id = %id, outbox_id = ?written.outbox_id, "user disabled");
    Ok(published_user(&state, written).await)
}

/// The body of a move: the customer the user now belongs to.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the body, read by `move_target`
pub struct UserMoveInput {
    pub customer_id: Uuid,
}

/// POST /v1/users/{id}/move
#[utoipa::path(
    post,
    path = "/v1/users/{id}/move",
    tag = "users",
    params(("id" = Uuid, Path, description = "User id"), IfMatchHeader),
    request_body(content = UserMoveInput, content_type = "application/json"),
    responses(
        (status = 200, description = "The user, now of the customer; its HubSpot contact follows (associated with the new customer's company as primary, the old association removed)", body = UserResponse, headers(("ETag" = String, description = "\"<version>\""))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The editor role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The customer is deleted, or another of its users has the email", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`customer_id` is missing, not a UUID, or names no customer", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn move_user(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Editor)?;
    let id = crate::ids::path_id(&id)?;
    body::require_json(&headers)?;
    let expected = expected_version(&headers)?;
    let customer_id = move_target(&body::json(body)?)?;
    match state
        .users_for(&principal)
        .move_to(id, expected, customer_id)
        .await?
    {
        UserMove::Moved(written) => {
            tracing::info!(user_id = %id, %customer_id, outbox_id = ?written.outbox_id, "user moved");
            Ok(published_user(&state, *written).await)
        }
        UserMove::NoSuchCustomer => Err(Problem::invalid_field(
            "customer_id",
            "no customer has this id",
        )),
    }
}

/// The customer a move names: `{"customer_id": "<uuid>"}` and nothing else.
fn move_target(value: &serde_json::Value) -> Result<Uuid, Problem> {
    let Some(object) = value.as_object() else {
        return Err(Problem::invalid_field("", "the body must be a JSON object"));
    };
    let mut errors: Vec<FieldError> = object
        .keys()
        .filter(|key| key.as_str() != "customer_id")
        .map(|key| FieldError::new(key.as_str(), "unknown field"))
        .collect();
    let target = match object.get("customer_id") {
        None => Err("required"),
        Some(serde_json::Value::String(text)) => {
            Uuid::parse_str(text).map_err(|_| "must be a UUID")
        }
        Some(_) => Err("must be a UUID string"),
    };
    match target {
        Ok(customer_id) if errors.is_empty() => Ok(customer_id),
        Ok(_) => Err(Problem::invalid(errors)),
        Err(message) => {
            errors.insert(0, FieldError::new("customer_id", message));
            Err(Problem::invalid(errors))
        }
    }
}

/// The answer to a user write, after its contact push was handed to the queue.
async fn published_user(state: &ApiState, written: warp_store::Written<User>) -> Response {
    if let Some(outbox_id) = written.outbox_id {
        state.publish(outbox_id).await;
    }
    user_response(written.value)
}

fn user_response(user: User) -> Response {
    let version = user.version;
    json_response(StatusCode::OK, &UserResponse::from(user), Some(version))
}
