//! Wall-clock helpers: HubSpot speaks milliseconds since the epoch and ISO 8601 with millis.

use chrono::{DateTime, SecondsFormat, Utc};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// `2019-10-30T03:30:17.883Z`, the form HubSpot uses for createdAt, updatedAt and dates.
pub fn iso_millis(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}
