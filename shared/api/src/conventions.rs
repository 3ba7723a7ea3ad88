//! The HTTP conventions every resource follows: `If-Match` on writes (428 without, 412 when
//! stale), `ETag` with the version, `Idempotency-Key` on creates (the first answer replayed,
//! another body refused), and field errors as one problem document.

use crate::problem::Problem;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use warp_domain::customer::FieldError;
use warp_store::StoredResponse;

const JSON: &str = "application/json";

/// A list route's page: `limit` (1 to 100) and `cursor` (the `next_cursor` of an earlier page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PageParams {
    pub limit: u32,
    /// The id the page starts after (the decoded cursor).
    pub after: Option<uuid::Uuid>,
}

impl Default for PageParams {
    fn default() -> Self {
        PageParams {
            limit: 20,
            after: None,
        }
    }
}

impl PageParams {
    /// Takes `name=value` when it is `limit` or `cursor`, naming a bad one in `errors`;
    /// false for any other parameter, which the caller reads.
    pub(crate) fn read(&mut self, name: &str, value: &str, errors: &mut Vec<FieldError>) -> bool {
        match name {
            "limit" => {
                if let Some(limit) = read_limit(value, errors) {
                    self.limit = limit;
                }
            }
            "cursor" => match warp_store::customers::decode_cursor(value) {
                Ok(after) => self.after = Some(after),
                Err(_) => errors.push(FieldError::new(
                    "cursor",
                    "is not a cursor this API returned",
                )),
            },
            _ => return false,
        }
        true
    }
}

/// The schema of a body's `ids`: 1 to 1,000 positive ids, as the handlers read them.
pub(crate) fn id_list_schema() -> utoipa::openapi::Array {
    utoipa::openapi::ArrayBuilder::new()
        .items(
            utoipa::openapi::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::Integer)
                .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                    utoipa::openapi::KnownFormat::Int64,
                )))
                .minimum(Some(1)),
        )
        .min_items(Some(1))
        .max_items(Some(crate::selection::MAX_IDS))
        .build()
}

/// A cursor that is a row id (`^[0-9]{1,19}$` in the document): every such value is a position
/// (one past the last id gives an empty page), so only other text is refused.
pub(crate) fn id_cursor(value: &str) -> Option<i64> {
    let digits = value;
    (!digits.is_empty() && digits.len() <= 19 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse::<u64>().ok())
        .flatten()
        .map(|id| i64::try_from(id).unwrap_or(i64::MAX))
}

/// A page's `limit` (1 to 100), or the error named in `errors`.
pub(crate) fn read_limit(value: &str, errors: &mut Vec<FieldError>) -> Option<u32> {
    match value.trim().parse::<u32>() {
        Ok(limit) if (1..=100).contains(&limit) => Some(limit),
        _ => {
            errors.push(FieldError::new("limit", "must be an integer from 1 to 100"));
            None
        }
    }
}

/// A page's `offset` (0 to `max`), or the error named in `errors`; `beyond` says how to page
/// further (empty when nothing does).
pub(crate) fn read_offset(
    value: &str,
    max: u32,
    beyond: &str,
    errors: &mut Vec<FieldError>,
) -> Option<u32> {
    match value.trim().parse::<u32>() {
        Ok(offset) if offset <= max => Some(offset),
        _ => {
            errors.push(FieldError::new(
                "offset",
                format!("must be an integer from 0 to {max}{beyond}"),
            ));
            None
        }
    }
}

/// The `If-Match` header of PUT, PATCH and DELETE, as documented: `"3"`, `W/"3"` or `*`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // documentation only: the handlers read the header with `expected_version`
pub(crate) struct IfMatchHeader {
    /// The ETag last read (a stale one gives 412), or `*` to write whatever the version
    #[param(rename = "If-Match", pattern = r#"^\s*(\*|(W/)?"[0-9]{1,18}")\s*$"#)]
    if_match: String,
}

/// The `Idempotency-Key` header of a create.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // documentation only: the handler reads the header with `idempotency_key`
pub(crate) struct IdempotencyKeyHeader {
    /// Makes retries safe: the same key and body get the first answer again
    #[param(rename = "Idempotency-Key", pattern = r"^\s*[!-~]{1,255}\s*$")]
    idempotency_key: Option<String>,
}

pub(crate) fn invalid(errors: Vec<FieldError>) -> Problem {
    tracing::info!(fields = ?errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), "invalid input");
    Problem::invalid(errors)
}

pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|key| (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            )
            .with_fields(vec![FieldError::new(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            )])
        })?;
    Ok(Some(key.to_owned()))
}

/// What makes two requests "the same" for an idempotency key: route and parsed body.
pub(crate) fn request_hash(route: &str, body: &serde_json::Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(route.as_bytes());
    hasher.update(b"\n");
    hasher.update(serde_json::to_vec(body).unwrap_or_default());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The If-Match version: `"3"`, `W/"3"` or `*` (any, said on purpose). An ETag of another form
/// is no ETag this API writes, so the request is malformed: 400 (a well-formed but stale one
/// is 412, decided by the write). Absent: 428, since a write without it could silently undo another client's
/// change (RFC 6585); a client that means "whatever the version" sends `*`.
pub(crate) fn expected_version(headers: &HeaderMap) -> Result<Option<i64>, Problem> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Err(Problem::new(
            StatusCode::PRECONDITION_REQUIRED,
            "If-Match is required: send the ETag last read, or * to write whatever the version",
        )
        .with_fields(vec![FieldError::new(
            "If-Match",
            "is required on PUT, PATCH and DELETE",
        )]));
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    let tag = text.strip_prefix("W/").unwrap_or(text);
    tag.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        // Digits only, as the documented pattern says (`parse` alone would take "+5").
        .filter(|t| (1..=18).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "If-Match must be an ETag this API returned, or *",
            )
            .with_fields(vec![FieldError::new(
                "If-Match",
                "must be \"<version>\", W/\"<version>\" or *",
            )])
        })
}

pub(crate) fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

pub(crate) fn json_response<T: serde::Serialize>(
    status: StatusCode,
    body: &T,
    version: Option<i64>,
) -> Response {
    let mut response = crate::json::json(status, body);
    if let Some(version) = version.filter(|_| response.status() == status) {
        response.headers_mut().insert(header::ETAG, etag(version));
    }
    response
}

/// A 201 answer to a create at `location`, in the form kept for idempotent replays.
pub(crate) fn stored_created<T: serde::Serialize>(
    location: &str,
    version: i64,
    body: &T,
) -> StoredResponse {
    StoredResponse {
        status: StatusCode::CREATED.as_u16(),
        headers: vec![
            (header::LOCATION.to_string(), location.to_owned()),
            (header::ETAG.to_string(), format!("\"{version}\"")),
            (header::CONTENT_TYPE.to_string(), JSON.to_owned()),
        ],
        body: serde_json::to_vec(body).unwrap_or_default(),
    }
}

pub(crate) fn replay(stored: StoredResponse, replayed: bool) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, stored.body).into_response();
    for (name, value) in stored.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            response.headers_mut().insert(name, value);
        }
    }
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::body::one_header as headers;

    #[test]
    fn if_match_accepts_strong_weak_and_star_and_is_required() {
        assert_eq!(expected_version(&HeaderMap::new()).unwrap_err().status, 428);
        assert_eq!(
            expected_version(&headers("if-match", "\"3\"")).unwrap(),
            Some(3)
        );
        assert_eq!(
            expected_version(&headers("if-match", "W/\"7\"")).unwrap(),
            Some(7)
        );
        assert_eq!(expected_version(&headers("if-match", "*")).unwrap(), None);
        for malformed in ["\"+5\"", "\"-1\"", "\"\"", "\"1234567890123456789\""] {
            assert_eq!(
                expected_version(&headers("if-match", malformed))
                    .unwrap_err()
                    .status,
                400,
                "{malformed}"
            );
        }
        assert_eq!(
            expected_version(&headers("if-match", "3"))
                .unwrap_err()
                .status,
            400
        );
    }
}
