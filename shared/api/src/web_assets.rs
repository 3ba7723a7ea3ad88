//! The headers every page and file the API serves to browsers carries: a strict
//! Content-Security-Policy (only this origin's own files, no inline script, never framed),
//! no MIME sniffing, no referrer.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Only this origin's own files: no inline script, nothing framed, nothing sent elsewhere.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub(crate) fn guarded(content_type: &'static str, status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

pub(crate) fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = guarded(content_type, StatusCode::OK, body.to_owned());
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Widens a response's policy to let its page call `origin` too (an identity provider's
/// token endpoint); the origin is a URL's serialized origin, never a page's input.
pub(crate) fn allow_connect_to(response: &mut Response, origin: &str) {
    let widened = CONTENT_SECURITY_POLICY.replace(
        "connect-src 'self'",
        &format!("connect-src 'self' {origin}"),
    );
    if let Ok(value) = HeaderValue::from_str(&widened) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
}
