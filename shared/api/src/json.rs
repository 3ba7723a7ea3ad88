//! JSON answers for every handler: serialised once and typed `application/json`; a body that
//! cannot be serialised is a 500 problem document, never a panic.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::Problem;

pub(crate) fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let mut response = (status, bytes).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(_) => Problem::internal().into_response(),
    }
}

/// [`json`] for operational state, which changes by the second: no cache may hold it.
pub(crate) fn uncached_json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let mut response = json(status, body);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
