//! RFC 7807 problem documents (`application/problem+json`): every error the API answers, with
//! the fields at fault named in `errors`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use warp_domain::customer::FieldError;
use warp_store::StoreError;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// One field at fault.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProblemField {
    /// The JSON path of the field, e.g. `contact.email`.
    pub field: String,
    pub message: String,
}

/// An RFC 7807 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub problem_type: &'static str,
    #[schema(value_type = String)]
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    pub errors: Vec<ProblemField>,
    #[serde(skip)]
    #[schema(ignore)]
    challenge: bool,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        let problem_type = match status {
            StatusCode::BAD_REQUEST => "https://warp.example/problems/malformed-request",
            StatusCode::UNAUTHORIZED => "https://warp.example/problems/unauthorized",
            StatusCode::FORBIDDEN => "https://warp.example/problems/forbidden",
            StatusCode::NOT_FOUND => "https://warp.example/problems/not-found",
            StatusCode::METHOD_NOT_ALLOWED => "https://warp.example/problems/method-not-allowed",
            StatusCode::CONFLICT => "https://warp.example/problems/conflict",
            StatusCode::PRECONDITION_FAILED => "https://warp.example/problems/precondition-failed",
            StatusCode::PRECONDITION_REQUIRED => {
                "https://warp.example/problems/precondition-required"
            }
            StatusCode::TOO_MANY_REQUESTS => "https://warp.example/problems/too-many-requests",
            StatusCode::PAYLOAD_TOO_LARGE => "https://warp.example/problems/payload-too-large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                "https://warp.example/problems/unsupported-media-type"
            }
            StatusCode::UNPROCESSABLE_ENTITY => "https://warp.example/problems/validation-failed",
            StatusCode::BAD_GATEWAY => "https://warp.example/problems/hubspot-refused",
            StatusCode::SERVICE_UNAVAILABLE => "https://warp.example/problems/service-unavailable",
            _ => "https://warp.example/problems/internal-error",
        };
        Problem {
            problem_type,
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: detail.into(),
            instance: None,
            errors: Vec::new(),
            challenge: false,
        }
    }

    pub fn with_fields(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors
            .into_iter()
            .map(|e| ProblemField {
                field: e.field,
                message: e.message,
            })
            .collect();
        self
    }

    pub fn invalid(errors: Vec<FieldError>) -> Self {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "one or more fields are invalid",
        )
        .with_fields(errors)
    }

    pub fn invalid_field(field: &str, message: &str) -> Self {
        Problem::invalid(vec![FieldError::new(field, message)])
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        let mut problem = Problem::new(StatusCode::UNAUTHORIZED, detail);
        problem.challenge = true;
        problem
    }

    pub fn not_found() -> Self {
        Problem::new(StatusCode::NOT_FOUND, "no such resource")
    }

    pub fn internal() -> Self {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the server failed to answer; it has been logged",
        )
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        if self.challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"warp-api\""),
            );
        }
        response
    }
}

impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Problem::not_found(),
            StoreError::VersionMismatch { current } => Problem::new(
                StatusCode::PRECONDITION_FAILED,
                format!("If-Match does not match the current version {current}"),
            ),
            StoreError::Conflict(detail) => Problem::new(StatusCode::CONFLICT, detail),
            StoreError::IdempotencyKeyReused => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the Idempotency-Key was already used with a different request",
            )
            .with_fields(vec![FieldError::new(
                "Idempotency-Key",
                "was used with a different request body",
            )]),
            StoreError::IdempotencyInProgress => Problem::new(
                StatusCode::CONFLICT,
                "a request with this Idempotency-Key is still in progress",
            ),
            StoreError::InvalidValue(_) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "a value was refused by the database",
            ),
            StoreError::Refused { detail, fields } => {
                let mut problem = Problem::new(
                    StatusCode::BAD_GATEWAY,
                    format!("HubSpot refused the customer; nothing was stored: {detail}"),
                );
                problem.errors = fields
                    .into_iter()
                    .map(|field| ProblemField {
                        field,
                        message: "HubSpot refused this property's value".to_owned(),
                    })
                    .collect();
                problem
            }
            StoreError::ReadOnlyField(field) => Problem::invalid_field(
                field,
                "is changed only through POST /v1/customers/{id}/hubspot-link (admin); send the value last read, or leave it out",
            ),
            StoreError::InvalidReference { field, message } => {
                Problem::invalid_field(field, message)
            }
            StoreError::InvalidCursor => {
                Problem::invalid_field("cursor", "is not a cursor this API returned")
            }
            StoreError::Unavailable(reason) => {
                tracing::warn!(%reason, "database unavailable");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the database is unavailable; retry later",
                )
            }
            temporary @ StoreError::Postgres { .. } if temporary.is_temporary() => {
                tracing::warn!(reason = %temporary, "database unavailable");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the database is unavailable; retry later",
                )
            }
            fault @ StoreError::Postgres { .. } => {
                tracing::error!(reason = %fault, "database fault");
                Problem::internal()
            }
            StoreError::Other(reason) => {
                tracing::error!(%reason, "store error");
                Problem::internal()
            }
        }
    }
}
