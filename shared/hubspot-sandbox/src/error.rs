//! HubSpot's error bodies: the `Error` schema of the CRM specs, and the per-input
//! `StandardError` of batch answers.

use std::collections::BTreeMap;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

/// One detail of an error (the `ErrorDetail` schema).
#[derive(Clone, Debug, Serialize)]
pub struct ErrorDetail {
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(rename = "in", skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub context: BTreeMap<String, Vec<String>>,
}

impl ErrorDetail {
    pub fn property(message: String, code: &str, property_name: &str) -> Self {
        Self {
            message,
            code: Some(code.to_owned()),
            location: Some(property_name.to_owned()),
            context: BTreeMap::from([("propertyName".to_owned(), vec![property_name.to_owned()])]),
        }
    }
}

/// An error answer of the HubSpot API.
#[derive(Clone, Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub category: &'static str,
    pub sub_category: Option<String>,
    pub message: String,
    pub errors: Vec<ErrorDetail>,
    pub context: BTreeMap<String, Vec<String>>,
}

impl ApiError {
    pub fn new(status: StatusCode, category: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            category,
            sub_category: None,
            message: message.into(),
            errors: Vec::new(),
            context: BTreeMap::new(),
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "OBJECT_NOT_FOUND", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "CONFLICT", message)
    }

    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "OBJECT_ALREADY_EXISTS", message)
    }

    /// A token without the scope a call needs (a read-only app writing), as HubSpot answers.
    pub fn missing_scopes() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "MISSING_SCOPES",
            "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.",
        )
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        )
    }

    /// An OAuth access token past its expiry (HubSpot: refresh it, then call again).
    pub fn expired_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "EXPIRED_AUTHENTICATION",
            "The OAuth token used to make this call expired. Refresh the access token and try again.",
        )
    }

    pub fn route_not_found(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            format!("Unable to infer object type from: {method} {path}"),
        )
    }

    pub fn with_context(mut self, key: &str, values: Vec<String>) -> Self {
        self.context.insert(key.to_owned(), values);
        self
    }

    pub fn with_errors(mut self, errors: Vec<ErrorDetail>) -> Self {
        self.errors = errors;
        self
    }

    pub fn with_sub_category(mut self, sub_category: &str) -> Self {
        self.sub_category = Some(sub_category.to_owned());
        self
    }

    /// The top-level `Error` body.
    pub fn body(&self) -> serde_json::Value {
        let mut body = json!({
            "status": "error",
            "message": self.message,
            "correlationId": uuid::Uuid::new_v4().to_string(),
            "category": self.category,
        });
        if let Some(sub_category) = &self.sub_category {
            body["subCategory"] = json!(sub_category);
        }
        if !self.errors.is_empty() {
            body["errors"] = json!(self.errors);
        }
        if !self.context.is_empty() {
            body["context"] = json!(self.context);
        }
        body
    }

    /// The per-input `StandardError` of a batch answer (every field the schema requires).
    pub fn standard_error(&self) -> serde_json::Value {
        let mut body = json!({
            "status": self.status.as_u16().to_string(),
            "category": self.category,
            "message": self.message,
            "errors": self.errors,
            "context": self.context,
            "links": {},
        });
        if let Some(sub_category) = &self.sub_category {
            body["subCategory"] = json!({ "name": sub_category });
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}
