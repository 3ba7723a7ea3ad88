//! Sync operations (admin): re-sync a customer or a user.

use crate::ApiState;
use crate::auth::{Principal, Role};
use crate::problem::Problem;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use warp_domain::sync::ObjectType;
use warp_store::outbox;

/// The OpenAPI paths and schemas of this module (merged into the API document).
#[derive(OpenApi)]
#[openapi(
    paths(resync_customer, resync_user),
    components(schemas(ResyncAccepted, crate::dto::CustomerSyncResponse, crate::dto::SyncStateSchema)),
    tags((name = "sync", description = "HubSpot sync operations (admin)"))
)]
pub(crate) struct Doc;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/sync/customers/{id}/resync", post(resync_customer))
        .route("/v1/sync/users/{id}/resync", post(resync_user))
}

/// A re-sync was queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResyncAccepted {
    /// The outbox row carrying the re-sync.
    pub outbox_id: i64,
}

/// POST /v1/sync/customers/{id}/resync
#[utoipa::path(
    post,
    path = "/v1/sync/customers/{id}/resync",
    tag = "sync",
    params(("id" = Uuid, Path, description = "Customer id")),
    responses(
        (status = 202, description = "A full push of the customer's mapped fields is queued", body = ResyncAccepted),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The admin role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Server fault", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn resync_customer(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    resync(state, principal, ObjectType::Companies, &id).await
}

/// POST /v1/sync/users/{id}/resync
#[utoipa::path(
    post,
    path = "/v1/sync/users/{id}/resync",
    tag = "sync",
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 202, description = "A full push of the user's contact (its mapped fields and its company association) is queued", body = ResyncAccepted),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The admin role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Server fault", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn resync_user(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    resync(state, principal, ObjectType::Contacts, &id).await
}

/// Queues a full push of one record of `object_type` (202 with its outbox row).
async fn resync(
    state: ApiState,
    principal: Principal,
    object_type: ObjectType,
    id: &str,
) -> Result<Response, Problem> {
    principal.require(Role::Admin)?;
    let id = crate::ids::path_id(id)?;
    // The portal is the one the record's own outbox rows carry (ApiState does not expose the
    // deployment's portal id to this module).
    let outbox_id =
        outbox::enqueue_resync(state.customers().database(), None, object_type, id).await?;
    tracing::info!(%object_type, local_id = %id, outbox_id, "re-sync queued");
    state.publish(outbox_id).await;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(ResyncAccepted { outbox_id }),
    )
        .into_response())
}
