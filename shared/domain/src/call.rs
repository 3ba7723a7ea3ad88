//! Finished calls taken in from the telephony platform (`POST /v1/calls`): what a call is, and
//! the rules a body must meet before anything is stored. A call is logged in HubSpot later, on
//! the contact its other party's number finds; here it is only read and checked.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::customer::{FieldError, Phone};
use crate::json_input::{Reader, join, text};
use crate::storable::has_nul;

/// Calls one request may carry (`{"calls": [...]}`).
pub const MAX_CALLS_PER_BATCH: usize = 500;
/// The longest summary kept, in bytes of UTF-8 (HubSpot's note body holds far more).
pub const MAX_SUMMARY_BYTES: usize = 64 * 1024;
/// The longest call taken: a day.
pub const MAX_DURATION_MS: i64 = 24 * 60 * 60 * 1000;
/// How far a call may end after the receiving clock's now (the platform's clock may run ahead).
pub const CLOCK_SKEW: Duration = Duration::minutes(5);
const MAX_CALL_ID_CHARS: usize = 128;
const MAX_URL_CHARS: usize = 2048;

const FIELDS: &[&str] = &[
    "call_id",
    "customer_id",
    "direction",
    "from",
    "to",
    "started_at",
    "duration_ms",
    "outcome",
    "recording_url",
    "summary",
];
/// Every field but the last two (`recording_url`, `summary`) must be there.
const REQUIRED: &[&str] = FIELDS.split_at(FIELDS.len() - 2).0;

/// The platform's id of a call: 1 to 128 visible ASCII characters, no spaces. It becomes the
/// call's `warp_call_id` in HubSpot, which keeps a retried call from being logged twice.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(String);

impl CallId {
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let visible = text.bytes().all(|b| b.is_ascii_graphic());
        if text.is_empty() || text.len() > MAX_CALL_ID_CHARS || !visible {
            return Err("must be 1 to 128 visible ASCII characters, without spaces");
        }
        Ok(CallId(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who placed the call: HubSpot's `hs_call_direction` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallDirection {
    Inbound,
    Outbound,
}

impl CallDirection {
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        match text {
            "INBOUND" => Ok(CallDirection::Inbound),
            "OUTBOUND" => Ok(CallDirection::Outbound),
            _ => Err("must be INBOUND or OUTBOUND"),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            CallDirection::Inbound => "INBOUND",
            CallDirection::Outbound => "OUTBOUND",
        }
    }
}

/// How a finished call ended: the final values of HubSpot's `hs_call_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    Completed,
    Busy,
    NoAnswer,
    Failed,
    Canceled,
}

impl CallOutcome {
    const ALL: [CallOutcome; 5] = [
        CallOutcome::Completed,
        CallOutcome::Busy,
        CallOutcome::NoAnswer,
        CallOutcome::Failed,
        CallOutcome::Canceled,
    ];

    pub fn parse(text: &str) -> Result<Self, &'static str> {
        Self::ALL
            .into_iter()
            .find(|outcome| outcome.as_str() == text)
            .ok_or("must be COMPLETED, BUSY, NO_ANSWER, FAILED or CANCELED")
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            CallOutcome::Completed => "COMPLETED",
            CallOutcome::Busy => "BUSY",
            CallOutcome::NoAnswer => "NO_ANSWER",
            CallOutcome::Failed => "FAILED",
            CallOutcome::Canceled => "CANCELED",
        }
    }
}

/// Where the recording is: an absolute `https` URL (HubSpot plays it from there), at most
/// 2,048 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingUrl(String);

impl RecordingUrl {
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        const MESSAGE: &str = "must be an https URL of at most 2048 characters";
        let Some(rest) = text.strip_prefix("https://") else {
            return Err(MESSAGE);
        };
        let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let host = &rest[..host_end];
        let clean = text
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '"' | '\\'));
        if text.len() > MAX_URL_CHARS || host.is_empty() || host.contains('@') || !clean {
            return Err(MESSAGE);
        }
        Ok(RecordingUrl(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A finished call, every part checked.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedCall {
    pub call_id: CallId,
    pub customer_id: Uuid,
    pub direction: CallDirection,
    pub from: Phone,
    pub to: Phone,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i64,
    pub outcome: CallOutcome,
    pub recording_url: Option<RecordingUrl>,
    pub summary: Option<String>,
}

impl FinishedCall {
    /// The number of the party outside the platform: the one a HubSpot contact is found by.
    pub fn other_party(&self) -> &Phone {
        match self.direction {
            CallDirection::Inbound => &self.from,
            CallDirection::Outbound => &self.to,
        }
    }
}

/// The ways a person may have typed `phone` into HubSpot, which stores phone numbers as typed
/// and matches them exactly: the E.164 form, its digits with and without `00`, and for North
/// American numbers (+1 and ten digits) the usual national and international layouts. A
/// contact is found by any of them.
pub fn number_variants(phone: &Phone) -> Vec<String> {
    let e164 = phone.as_str();
    let digits = &e164[1..];
    let mut variants = vec![e164.to_owned(), digits.to_owned(), format!("00{digits}")];
    if let Some(national) = digits.strip_prefix('1').filter(|n| n.len() == 10) {
        let (area, exchange, line) = (&national[..3], &national[3..6], &national[6..]);
        variants.extend([
            national.to_owned(),
            format!("({area}) {exchange}-{line}"),
            format!("({area}){exchange}-{line}"),
            format!("{area}-{exchange}-{line}"),
            format!("{area}.{exchange}.{line}"),
            format!("{area} {exchange} {line}"),
            format!("1-{area}-{exchange}-{line}"),
            format!("1 ({area}) {exchange}-{line}"),
            format!("+1 ({area}) {exchange}-{line}"),
            format!("+1 {area} {exchange} {line}"),
            format!("+1 {area}-{exchange}-{line}"),
            format!("+1-{area}-{exchange}-{line}"),
            format!("+1.{area}.{exchange}.{line}"),
        ]);
    }
    variants
}

/// The calls of a `POST /v1/calls` body: one call object, or `{"calls": [...]}` with 1 to 500.
/// Every fault is named by its path (`calls[3].from`); any fault refuses the whole body, so a
/// batch is stored whole or not at all. `now` is the receiving clock (a call has ended by then).
pub fn calls_from_json(
    value: &Value,
    now: DateTime<Utc>,
) -> Result<Vec<FinishedCall>, Vec<FieldError>> {
    let mut reader = Reader::new(&[]);
    let calls = match value.as_object() {
        Some(map) if map.contains_key("calls") => batch(&mut reader, map, now),
        Some(_) => call(&mut reader, value, "", now).into_iter().collect(),
        None => {
            reader.error(
                "body",
                "must be a JSON object: one call, or {\"calls\": [...]}",
            );
            Vec::new()
        }
    };
    let errors = reader.into_errors();
    if errors.is_empty() {
        Ok(calls)
    } else {
        Err(errors)
    }
}

fn batch(reader: &mut Reader, map: &Map<String, Value>, now: DateTime<Utc>) -> Vec<FinishedCall> {
    for key in map.keys().filter(|key| key.as_str() != "calls") {
        reader.error(
            key.as_str(),
            "is not a known field (a batch holds only \"calls\")",
        );
    }
    let Some(items) = map.get("calls").and_then(Value::as_array) else {
        reader.error("calls", "must be an array of calls");
        return Vec::new();
    };
    if items.is_empty() || items.len() > MAX_CALLS_PER_BATCH {
        reader.error(
            "calls",
            format!(
                "must hold 1 to {MAX_CALLS_PER_BATCH} calls, not {}",
                items.len()
            ),
        );
        return Vec::new();
    }
    items
        .iter()
        .enumerate()
        .filter_map(|(index, item)| call(reader, item, &format!("calls[{index}]"), now))
        .collect()
}

fn call(
    reader: &mut Reader,
    value: &Value,
    path: &str,
    now: DateTime<Utc>,
) -> Option<FinishedCall> {
    let map = reader.object(value, path, FIELDS)?;
    let before = reader.error_count();
    for key in REQUIRED {
        if !map.contains_key(*key) {
            reader.error(join(path, key), "is required");
        }
    }
    let call_id = reader.required(map, path, "call_id", |v| Ok(CallId::parse(text(v)?)?));
    let customer_id = reader.required(map, path, "customer_id", |v| {
        Uuid::parse_str(text(v)?).map_err(|_| "must be a customer id (a UUID)".to_owned())
    });
    let direction = reader.required(map, path, "direction", |v| {
        Ok(CallDirection::parse(text(v)?)?)
    });
    let from = reader.required(map, path, "from", phone);
    let to = reader.required(map, path, "to", phone);
    let started_at = reader.required(map, path, "started_at", |v| {
        DateTime::parse_from_rfc3339(text(v)?)
            .map(|at| at.with_timezone(&Utc))
            .map_err(|_| "must be an RFC 3339 time such as 2026-12-04T10:00:00Z".to_owned())
    });
    let duration_ms = reader.required(map, path, "duration_ms", |v| {
        v.as_i64()
            .filter(|ms| (0..=MAX_DURATION_MS).contains(ms))
            .ok_or_else(|| {
                format!("must be a whole number of milliseconds, 0 to {MAX_DURATION_MS}")
            })
    });
    let outcome = reader.required(map, path, "outcome", |v| Ok(CallOutcome::parse(text(v)?)?));
    let recording_url = reader
        .clearable(map, path, "recording_url", |v| {
            Ok(RecordingUrl::parse(text(v)?)?)
        })
        .into_option();
    let summary = reader
        .clearable(map, path, "summary", |v| {
            let summary = text(v)?;
            if summary.len() > MAX_SUMMARY_BYTES {
                return Err(format!(
                    "must be at most {MAX_SUMMARY_BYTES} bytes of UTF-8"
                ));
            }
            if has_nul(summary) {
                return Err("must not contain the NUL character".to_owned());
            }
            Ok(summary.to_owned())
        })
        .into_option()
        .filter(|summary| !summary.trim().is_empty());
    if let (Some(started_at), Some(duration_ms)) = (started_at, duration_ms)
        && started_at + Duration::milliseconds(duration_ms) > now + CLOCK_SKEW
    {
        reader.error(
            join(path, "started_at"),
            "the call must have ended: its start and duration reach past now",
        );
    }
    if reader.error_count() > before {
        return None;
    }
    Some(FinishedCall {
        call_id: call_id?,
        customer_id: customer_id?,
        direction: direction?,
        from: from?,
        to: to?,
        started_at: started_at?,
        duration_ms: duration_ms?,
        outcome: outcome?,
        recording_url,
        summary,
    })
}

fn phone(value: &Value) -> Result<Phone, String> {
    Phone::parse(text(value)?).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 4, 12, 0, 0).unwrap()
    }

    fn example() -> Value {
        json!({"call_id":"c-81f2","customer_id":"0192f0c4-1d2e-7a3b-8c4d-5e6f708192a3",
            "direction":"OUTBOUND","from":"+14155550100","to":"+13035551234",
            "started_at":"2026-12-04T10:00:00Z","duration_ms":65000,"outcome":"COMPLETED",
            "recording_url":"https://recordings.example/c-81f2.wav","summary":"Asked for a demo"})
    }

    fn fields(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn the_issue_example_is_one_call_whose_other_party_is_the_number_called() {
        let calls = calls_from_json(&example(), now()).unwrap();
        assert_eq!(calls.len(), 1);
        let call = &calls[0];
        assert_eq!(call.call_id.as_str(), "c-81f2");
        assert_eq!(call.other_party().as_str(), "+13035551234");
        assert_eq!(call.outcome, CallOutcome::Completed);
        assert_eq!(call.summary.as_deref(), Some("Asked for a demo"));
        let mut inbound = example();
        inbound["direction"] = json!("INBOUND");
        let calls = calls_from_json(&inbound, now()).unwrap();
        assert_eq!(calls[0].other_party().as_str(), "+14155550100");
    }

    #[test]
    fn a_batch_names_each_fault_by_its_index_and_stores_nothing() {
        let mut bad = example();
        bad["from"] = json!("(303) 555-1234");
        bad["outcome"] = json!("RINGING");
        let mut missing = example();
        missing.as_object_mut().unwrap().remove("call_id");
        let errors =
            calls_from_json(&json!({"calls": [example(), bad, missing]}), now()).unwrap_err();
        assert_eq!(
            fields(errors),
            ["calls[1].from", "calls[1].outcome", "calls[2].call_id"]
        );
    }

    #[test]
    fn a_batch_holds_one_to_five_hundred_calls_and_nothing_else() {
        assert_eq!(
            fields(calls_from_json(&json!({"calls": []}), now()).unwrap_err()),
            ["calls"]
        );
        let many = vec![example(); MAX_CALLS_PER_BATCH + 1];
        assert_eq!(
            fields(calls_from_json(&json!({"calls": many}), now()).unwrap_err()),
            ["calls"]
        );
        let full = vec![example(); MAX_CALLS_PER_BATCH];
        assert_eq!(
            calls_from_json(&json!({"calls": full}), now())
                .unwrap()
                .len(),
            500
        );
        let extra = json!({"calls": [example()], "portal": 1});
        assert_eq!(
            fields(calls_from_json(&extra, now()).unwrap_err()),
            ["portal"]
        );
        assert_eq!(
            fields(calls_from_json(&json!([example()]), now()).unwrap_err()),
            ["body"]
        );
    }

    #[test]
    fn unknown_members_nulls_and_bad_values_are_each_named() {
        let mut call = example();
        call["callee"] = json!("x");
        call["duration_ms"] = json!(-1);
        call["call_id"] = json!("has space");
        call["customer_id"] = json!(null);
        call["recording_url"] = json!("http://plain.example/x.wav");
        call["started_at"] = json!("yesterday");
        let errors = calls_from_json(&call, now()).unwrap_err();
        let mut named = fields(errors);
        named.sort();
        assert_eq!(
            named,
            [
                "call_id",
                "callee",
                "customer_id",
                "duration_ms",
                "recording_url",
                "started_at"
            ]
        );
    }

    #[test]
    fn a_call_still_going_on_is_refused_but_clock_skew_is_allowed() {
        let mut call = example();
        call["started_at"] = json!("2026-12-04T11:59:00Z");
        call["duration_ms"] = json!(5 * 60 * 1000);
        assert!(
            calls_from_json(&call, now()).is_ok(),
            "ends 4 minutes ahead: skew"
        );
        call["duration_ms"] = json!(7 * 60 * 1000);
        assert_eq!(
            fields(calls_from_json(&call, now()).unwrap_err()),
            ["started_at"]
        );
    }

    #[test]
    fn summaries_are_limited_blank_ones_dropped_and_nul_refused() {
        let mut call = example();
        call["summary"] = json!("x".repeat(MAX_SUMMARY_BYTES));
        assert!(calls_from_json(&call, now()).is_ok());
        call["summary"] = json!("x".repeat(MAX_SUMMARY_BYTES + 1));
        assert_eq!(
            fields(calls_from_json(&call, now()).unwrap_err()),
            ["summary"]
        );
        call["summary"] = json!("a\u{0}b");
        assert_eq!(
            fields(calls_from_json(&call, now()).unwrap_err()),
            ["summary"]
        );
        call["summary"] = json!("  ");
        assert_eq!(calls_from_json(&call, now()).unwrap()[0].summary, None);
        call["summary"] = json!(null);
        call["recording_url"] = json!(null);
        let parsed = calls_from_json(&call, now()).unwrap();
        assert_eq!(
            (parsed[0].summary.clone(), parsed[0].recording_url.clone()),
            (None, None)
        );
    }

    #[test]
    fn a_north_american_number_is_searched_as_people_type_it() {
        let variants = number_variants(&Phone::parse("+13035551234").unwrap());
        for typed in [
            "(303) 555-1234",
            "303-555-1234",
            "3035551234",
            "+1 303 555 1234",
            "+13035551234",
        ] {
            assert!(
                variants.iter().any(|v| v == typed),
                "{typed} missing from {variants:?}"
            );
        }
        let other = number_variants(&Phone::parse("+4791234567").unwrap());
        assert_eq!(other, ["+4791234567", "4791234567", "004791234567"]);
    }

    proptest::proptest! {
        /// Every variant is the same number: its digits are the E.164 digits, or those without
        /// the country code, with at most a `00` in front; none repeats; at most 100 (the
        /// most values one HubSpot IN filter takes).
        #[test]
        fn every_variant_is_the_same_number(digits in "[1-9][0-9]{7,14}") {
            let phone = Phone::parse(&format!("+{digits}")).unwrap();
            let variants = number_variants(&phone);
            proptest::prop_assert!(variants.len() <= 100);
            let unique: std::collections::HashSet<_> = variants.iter().collect();
            proptest::prop_assert_eq!(unique.len(), variants.len());
            for variant in &variants {
                let only: String = variant.chars().filter(char::is_ascii_digit).collect();
                let national_ok = digits.starts_with('1') && digits.len() == 11
                    && (only == digits[1..] || only == digits);
                proptest::prop_assert!(
                    only == digits || only == format!("00{digits}") || national_ok,
                    "{} is not {}", variant, digits
                );
            }
        }
    }

    #[test]
    fn recording_urls_must_be_https_without_credentials() {
        for bad in [
            "https://",
            "https://user:pw@host.example/x",
            "ftp://h/x",
            "https://h/a b",
        ] {
            assert!(RecordingUrl::parse(bad).is_err(), "{bad}");
        }
        assert!(RecordingUrl::parse("https://rec.example/c-1.wav?sig=abc").is_ok());
    }
}
