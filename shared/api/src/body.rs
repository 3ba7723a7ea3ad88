//! Reading request bodies, the same way on every route: 413 over the limit, 415 when not
//! declared JSON, 400 for JSON that does not parse or names a key twice (naming it).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use warp_domain::customer::FieldError;
use warp_domain::strict_json::{StrictJsonError, parse_strict};

use crate::Problem;

/// 415 unless the body is declared JSON (`application/json` or any `+json` type).
pub(crate) fn require_json(headers: &HeaderMap) -> Result<(), Problem> {
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    match essence.as_deref() {
        Some("application/json") => Ok(()),
        Some(other) if other.starts_with("application/") && other.ends_with("+json") => Ok(()),
        _ => Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be application/json",
        )),
    }
}

/// The body's bytes: 413 over the body limit, 400 when it cannot be read.
pub(crate) fn bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, Problem> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "the body is over 1 MiB")
        } else {
            Problem::new(StatusCode::BAD_REQUEST, "the body could not be read")
        }
    })
}

/// Whether an optional body was left out. Only zero bytes count: whitespace is a body, and
/// not the object the contract asks for, so it is parsed (and refused) like any other.
pub(crate) fn is_absent(body: &[u8]) -> bool {
    body.is_empty()
}

/// The body as one JSON value; see [`parse`].
pub(crate) fn json(body: Result<Bytes, BytesRejection>) -> Result<serde_json::Value, Problem> {
    parse(&bytes(body)?)
}

/// 400 for JSON that does not parse (naming where it broke) or that repeats a key (naming it).
pub(crate) fn parse(body: &[u8]) -> Result<serde_json::Value, Problem> {
    parse_strict(body).map_err(|error| match error {
        StrictJsonError::DuplicateKey { path } => Problem::new(
            StatusCode::BAD_REQUEST,
            format!("the key '{path}' appears more than once"),
        )
        .with_fields(vec![FieldError::new(
            path,
            "appears more than once in its object",
        )]),
        StrictJsonError::Syntax(error) => {
            let kind = match error.classify() {
                serde_json::error::Category::Eof => "the JSON ends early",
                serde_json::error::Category::Syntax => "the JSON is malformed",
                serde_json::error::Category::Data => "the JSON has an invalid value",
                serde_json::error::Category::Io => "the body could not be read",
            };
            Problem::new(
                StatusCode::BAD_REQUEST,
                format!("{kind} at line {} column {}", error.line(), error.column()),
            )
            .with_fields(vec![FieldError::new("body", kind)])
        }
    })
}

/// A header map with one header, for the tests of header parsing.
#[cfg(test)]
pub(crate) fn one_header(name: &'static str, value: &'static str) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert(name, axum::http::HeaderValue::from_static(value));
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use one_header as headers;

    #[test]
    fn content_types() {
        assert!(require_json(&headers("content-type", "application/json; charset=utf-8")).is_ok());
        assert!(require_json(&headers("content-type", "application/merge-patch+json")).is_ok());
        assert_eq!(
            require_json(&headers("content-type", "text/plain"))
                .unwrap_err()
                .status,
            415
        );
        assert_eq!(require_json(&HeaderMap::new()).unwrap_err().status, 415);
    }

    #[test]
    fn a_repeated_key_is_a_400_naming_it() {
        let problem = parse(br#"{"contact":{"email":"a@b.c","email":"x@y.z"}}"#).unwrap_err();
        assert_eq!(problem.status, 400);
        assert_eq!(problem.errors[0].field, "contact.email");
        let problem = parse(b"{\"a\":").unwrap_err();
        assert_eq!(problem.status, 400);
        assert_eq!(problem.errors[0].field, "body");
    }
}
