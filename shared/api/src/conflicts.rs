//! Sync conflicts the field rules could not settle: listing and resolving them (admin).

use crate::ApiState;
use axum::Router;
use utoipa::OpenApi;

/// The OpenAPI paths and schemas of this module (merged into the API document).
#[derive(OpenApi)]
#[openapi()]
pub(crate) struct Doc;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
}
