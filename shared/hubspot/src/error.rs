//! HubSpot's error bodies and the client's error type: which failures are worth retrying and
//! which cannot succeed however often they are sent.

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// One entry of an error body's `errors` array: which field or parameter was wrong and why.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    #[serde(default)]
    pub message: Option<String>,
    /// Where the error was found (a property name, a parameter).
    #[serde(default, rename = "in")]
    pub location: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub sub_category: Option<String>,
    #[serde(default, deserialize_with = "lenient_context")]
    pub context: BTreeMap<String, Vec<String>>,
}

/// HubSpot's error body. HubSpot is not consistent about which fields it sends (429 bodies
/// carry `errorType` and `policyName`, batch errors a numeric-string `status`, `subCategory` is
/// a string or an object), so every field is optional and odd shapes are tolerated.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// `"error"` on most answers; the HTTP status as a string on batch item errors.
    #[serde(default, deserialize_with = "lenient_string")]
    pub status: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub correlation_id: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub sub_category: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "lenient_details")]
    pub errors: Vec<ErrorDetail>,
    #[serde(default, deserialize_with = "lenient_context")]
    pub context: BTreeMap<String, Vec<String>>,
    #[serde(default, deserialize_with = "lenient_links")]
    pub links: BTreeMap<String, String>,
    /// `RATE_LIMIT` on 429 answers.
    #[serde(default)]
    pub error_type: Option<String>,
    /// `TEN_SECONDLY_ROLLING` or `DAILY` on 429 answers.
    #[serde(default)]
    pub policy_name: Option<String>,
    #[serde(default)]
    pub request_id: Option<String>,
}

impl ErrorBody {
    /// Parses a response body; a body that is not HubSpot's JSON keeps its first 200 characters
    /// as the message so nothing the server said is lost.
    pub fn parse(body: &[u8]) -> Self {
        match serde_json::from_slice::<ErrorBody>(body) {
            Ok(parsed) => parsed,
            Err(_) => {
                let text = String::from_utf8_lossy(body);
                let message: String = text.chars().take(200).collect();
                Self {
                    message: (!message.trim().is_empty()).then_some(message),
                    ..Self::default()
                }
            }
        }
    }

    fn summary(&self) -> String {
        let mut text = self
            .message
            .clone()
            .unwrap_or_else(|| "no message".to_owned());
        if let Some(category) = &self.category {
            text = format!("{category}: {text}");
        }
        if let Some(id) = &self.correlation_id {
            text = format!("{text} (correlationId {id})");
        }
        text
    }
}

/// Everything that can go wrong talking to HubSpot, sorted by what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum HubSpotError {
    /// 429: wait (`retry_after` when HubSpot said, else the rest of the interval) and retry;
    /// a `DAILY` policy will not clear today.
    #[error("rate limited by HubSpot (policy {policy:?}, retry after {retry_after:?}): {}", body.summary())]
    RateLimited {
        retry_after: Option<Duration>,
        policy: Option<String>,
        body: Box<ErrorBody>,
    },
    /// 401 or 403: the token is wrong, expired or lacks a scope. Retrying cannot help.
    #[error("HubSpot refused the credentials ({status}): {}", body.summary())]
    Unauthorized { status: u16, body: Box<ErrorBody> },
    #[error("not found in HubSpot: {}", body.summary())]
    NotFound { body: Box<ErrorBody> },
    /// 409: the thing exists already, or a unique value is taken.
    #[error("conflict in HubSpot: {}", body.summary())]
    Conflict { body: Box<ErrorBody> },
    /// 400 or 422: the request itself is wrong; `field_errors` say which fields.
    #[error("HubSpot rejected the request ({status}): {}", body.summary())]
    Validation {
        status: u16,
        field_errors: Vec<ErrorDetail>,
        body: Box<ErrorBody>,
    },
    /// 423: the record is locked for a moment (seen when upserting many records quickly).
    #[error("HubSpot record locked: {}", body.summary())]
    Locked { body: Box<ErrorBody> },
    /// 5xx (and HubSpot's 477): HubSpot failed; the write may or may not have happened.
    #[error("HubSpot server error {status}: {}", body.summary())]
    Server {
        status: u16,
        retry_after: Option<Duration>,
        body: Box<ErrorBody>,
    },
    /// Another 4xx this client does not expect.
    #[error("unexpected HubSpot answer {status}: {}", body.summary())]
    UnexpectedStatus { status: u16, body: Box<ErrorBody> },
    /// No answer within the configured timeout; the write may or may not have happened.
    #[error("HubSpot did not answer in time")]
    Timeout,
    /// No connection could be opened: nothing was sent.
    #[error("could not connect to HubSpot: {0}")]
    Connect(String),
    /// The connection failed after the request may have been sent.
    #[error("could not reach HubSpot: {0}")]
    Transport(String),
    /// A success answer whose body is not what the API documents.
    #[error("could not read HubSpot's answer: {0}")]
    Decode(String),
    /// The shared rate budget (the database behind it) failed.
    #[error("rate budget unavailable: {0}")]
    Budget(String),
    /// Refused before sending: the request breaks a documented HubSpot limit.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// No token to send: the installation needs reconnecting, or its token could not be had.
    #[error(transparent)]
    Credentials(#[from] crate::credentials::CredentialsError),
}

impl HubSpotError {
    /// Builds the error for a non-success answer from its status, `Retry-After` and body.
    pub fn from_response(status: u16, retry_after: Option<Duration>, body: &[u8]) -> Self {
        let body = Box::new(ErrorBody::parse(body));
        match status {
            429 => HubSpotError::RateLimited {
                retry_after,
                policy: body.policy_name.clone(),
                body,
            },
            401 | 403 => HubSpotError::Unauthorized { status, body },
            404 => HubSpotError::NotFound { body },
            409 => HubSpotError::Conflict { body },
            400 | 422 => HubSpotError::Validation {
                status,
                field_errors: body.errors.clone(),
                body,
            },
            423 => HubSpotError::Locked { body },
            477 | 500..=599 => HubSpotError::Server {
                status,
                retry_after,
                body,
            },
            _ => HubSpotError::UnexpectedStatus { status, body },
        }
    }

    /// True when the same request may succeed later: 429 (except the daily cap), 423, 5xx,
    /// timeouts, transport failures and a briefly unavailable budget. 400, 401, 403, 404, 409
    /// and other 4xx cannot succeed by repetition.
    /// Whether work waiting on HubSpot should be kept for later rather than failed: a
    /// retryable error, or a portal whose credentials need reconnecting (an outage a person
    /// ends, not a refusal of the work).
    pub fn waits(&self) -> bool {
        self.is_retryable() || matches!(self, HubSpotError::Credentials(_))
    }

    pub fn is_retryable(&self) -> bool {
        match self {
            HubSpotError::RateLimited { policy, .. } => policy.as_deref() != Some("DAILY"),
            HubSpotError::Locked { .. }
            | HubSpotError::Server { .. }
            | HubSpotError::Timeout
            | HubSpotError::Connect(_)
            | HubSpotError::Transport(_)
            | HubSpotError::Budget(_) => true,
            HubSpotError::Credentials(error) => {
                matches!(error, crate::credentials::CredentialsError::Unavailable(_))
            }
            HubSpotError::Unauthorized { .. }
            | HubSpotError::NotFound { .. }
            | HubSpotError::Conflict { .. }
            | HubSpotError::Validation { .. }
            | HubSpotError::UnexpectedStatus { .. }
            | HubSpotError::Decode(_)
            | HubSpotError::InvalidRequest(_) => false,
        }
    }

    /// True when HubSpot certainly did not act on the request, so even a create may be sent
    /// again without risking a duplicate: 429s and 423s are refused before any write, a
    /// connection that never opened carried nothing, and the budget fails before sending.
    pub fn request_was_not_applied(&self) -> bool {
        matches!(
            self,
            HubSpotError::RateLimited { .. }
                | HubSpotError::Locked { .. }
                | HubSpotError::Connect(_)
                | HubSpotError::Budget(_)
                | HubSpotError::Credentials(_)
        )
    }

    /// The delay HubSpot asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            HubSpotError::RateLimited { retry_after, .. }
            | HubSpotError::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// HubSpot's error body, when the answer had one.
    pub fn body(&self) -> Option<&ErrorBody> {
        match self {
            HubSpotError::RateLimited { body, .. }
            | HubSpotError::Unauthorized { body, .. }
            | HubSpotError::NotFound { body }
            | HubSpotError::Conflict { body }
            | HubSpotError::Validation { body, .. }
            | HubSpotError::Locked { body }
            | HubSpotError::Server { body, .. }
            | HubSpotError::UnexpectedStatus { body, .. } => Some(body),
            _ => None,
        }
    }

    /// The HTTP status of the answer, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            HubSpotError::RateLimited { .. } => Some(429),
            HubSpotError::Unauthorized { status, .. }
            | HubSpotError::Validation { status, .. }
            | HubSpotError::Server { status, .. }
            | HubSpotError::UnexpectedStatus { status, .. } => Some(*status),
            HubSpotError::NotFound { .. } => Some(404),
            HubSpotError::Conflict { .. } => Some(409),
            HubSpotError::Locked { .. } => Some(423),
            _ => None,
        }
    }
}

impl From<reqwest::Error> for HubSpotError {
    fn from(error: reqwest::Error) -> Self {
        if error.is_timeout() {
            HubSpotError::Timeout
        } else if error.is_connect() {
            HubSpotError::Connect(error.to_string())
        } else if error.is_decode() {
            HubSpotError::Decode(error.to_string())
        } else {
            // reqwest's message names the URL (never headers), so the token cannot leak here.
            HubSpotError::Transport(error.to_string())
        }
    }
}

/// Reads `Retry-After` as seconds (HubSpot's form) or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0)
            .then(|| Duration::from_secs_f64(seconds.min(86_400.0)));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = date.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

fn lenient_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    })
}

/// `context` is documented as `{name: [strings]}`; a lone string or number becomes a list of one.
fn lenient_context<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, Vec<String>>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    let serde_json::Value::Object(map) = value else {
        return Ok(BTreeMap::new());
    };
    let as_text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Ok(map
        .into_iter()
        .map(|(key, value)| {
            let values = match &value {
                serde_json::Value::Array(items) => items.iter().map(as_text).collect(),
                serde_json::Value::Null => Vec::new(),
                other => vec![as_text(other)],
            };
            (key, values)
        })
        .collect())
}

fn lenient_links<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    let serde_json::Value::Object(map) = value else {
        return Ok(BTreeMap::new());
    };
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
        .collect())
}

fn lenient_details<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<ErrorDetail>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    let serde_json::Value::Array(items) = value else {
        return Ok(Vec::new());
    };
    Ok(items
        .into_iter()
        .filter_map(|item| serde_json::from_value(item).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_validation_error_with_field_details() {
        let body = br#"{"status":"error","message":"Property values were not valid: [{\"isValid\":false,\"message\":\"foo is not a valid option\",\"error\":\"INVALID_OPTION\",\"name\":\"warp_status\"}]","correlationId":"aeb5f871-7f07-4993-9211-075dc63e7cbf","category":"VALIDATION_ERROR","errors":[{"message":"foo is not a valid option","in":"warp_status","code":"INVALID_OPTION","context":{"propertyName":["warp_status"]}}],"links":{"knowledge-base":"https://www.hubspot.com/products/service/knowledge-base"}}"#;
        let error = HubSpotError::from_response(400, None, body);
        let HubSpotError::Validation {
            status,
            field_errors,
            body,
        } = &error
        else {
            panic!("{error:?}")
        };
        assert_eq!(*status, 400);
        assert_eq!(field_errors.len(), 1);
        assert_eq!(field_errors[0].location.as_deref(), Some("warp_status"));
        assert_eq!(field_errors[0].code.as_deref(), Some("INVALID_OPTION"));
        assert_eq!(
            field_errors[0].context["propertyName"],
            vec!["warp_status".to_owned()]
        );
        assert_eq!(body.category.as_deref(), Some("VALIDATION_ERROR"));
        assert_eq!(
            body.correlation_id.as_deref(),
            Some("aeb5f871-7f07-4993-9211-075dc63e7cbf")
        );
        assert!(!error.is_retryable());
        assert!(error.to_string().contains("VALIDATION_ERROR"));
    }

    #[test]
    fn parses_hubspots_429_body_and_keeps_the_policy() {
        let body = br#"{"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","correlationId":"c033cdaa-2c40-4a64-ae48-b4cec88dad24","policyName":"TEN_SECONDLY_ROLLING","requestId":"3d3e35b7-0dae-4b9f-a6e3-9c230cbcf8dd"}"#;
        let error = HubSpotError::from_response(429, Some(Duration::from_secs(2)), body);
        let HubSpotError::RateLimited {
            retry_after,
            policy,
            body,
        } = &error
        else {
            panic!("{error:?}")
        };
        assert_eq!(*retry_after, Some(Duration::from_secs(2)));
        assert_eq!(policy.as_deref(), Some("TEN_SECONDLY_ROLLING"));
        assert_eq!(body.error_type.as_deref(), Some("RATE_LIMIT"));
        assert_eq!(
            body.request_id.as_deref(),
            Some("3d3e35b7-0dae-4b9f-a6e3-9c230cbcf8dd")
        );
        assert!(error.is_retryable());
        assert!(error.request_was_not_applied());

        let daily = HubSpotError::from_response(429, None, br#"{"policyName":"DAILY"}"#);
        assert!(
            !daily.is_retryable(),
            "the daily cap does not clear within a retry loop"
        );
    }

    #[test]
    fn tolerates_odd_shapes_and_non_json_bodies() {
        // subCategory as an object, status as a number, context values not in lists.
        let body = br#"{"status":409,"subCategory":{"x":1},"context":{"id":"12","n":[1,"a"]},"errors":[{"message":"m"},7]}"#;
        let parsed = ErrorBody::parse(body);
        assert_eq!(parsed.status.as_deref(), Some("409"));
        assert!(parsed.sub_category.as_ref().is_some_and(|v| v.is_object()));
        assert_eq!(parsed.context["id"], vec!["12".to_owned()]);
        assert_eq!(parsed.context["n"], vec!["1".to_owned(), "a".to_owned()]);
        assert_eq!(
            parsed.errors.len(),
            1,
            "a detail that is not an object is skipped"
        );

        let html = ErrorBody::parse(b"<html>502 Bad Gateway</html>");
        assert_eq!(
            html.message.as_deref(),
            Some("<html>502 Bad Gateway</html>")
        );
        assert_eq!(ErrorBody::parse(b"").message, None);
    }

    #[test]
    fn classifies_statuses_for_retrying() {
        let cases: &[(u16, bool)] = &[
            (400, false),
            (401, false),
            (403, false),
            (404, false),
            (409, false),
            (422, false),
            (410, false),
            (423, true),
            (429, true),
            (477, true),
            (500, true),
            (502, true),
            (503, true),
            (504, true),
        ];
        for (status, retryable) in cases {
            let error = HubSpotError::from_response(*status, None, b"{}");
            assert_eq!(
                error.is_retryable(),
                *retryable,
                "status {status}: {error:?}"
            );
            assert_eq!(error.status(), Some(*status));
        }
        assert!(HubSpotError::Timeout.is_retryable());
        assert!(
            !HubSpotError::Timeout.request_was_not_applied(),
            "a timed-out write may have happened"
        );
        assert!(HubSpotError::Transport("reset".into()).is_retryable());
        assert!(!HubSpotError::Transport("reset".into()).request_was_not_applied());
        assert!(HubSpotError::Connect("refused".into()).request_was_not_applied());
        assert!(!HubSpotError::from_response(500, None, b"").request_was_not_applied());
        assert!(matches!(
            HubSpotError::from_response(403, None, b""),
            HubSpotError::Unauthorized { status: 403, .. }
        ));
    }

    #[test]
    fn reads_retry_after_in_seconds_and_dates() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0.5 "), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
    }
}
