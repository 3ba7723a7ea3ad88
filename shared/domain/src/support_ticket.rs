//! Automatic support tickets (issue 21, seed 002's `POST /api/v1/support/auto-ticket`): the
//! monitoring side reports an alert (a trigger such as `asr_below_threshold` for a customer and
//! maybe a trunk); WARP opens one HubSpot ticket per (trigger, customer, trunk) while it is open,
//! and notes every repeat on it. Here: what an alert is, the rules its body must meet, and the
//! words and values the ticket and its notes carry. No I/O.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::call::{CLOCK_SKEW, CallId};
use crate::customer::FieldError;
use crate::html::escape;
use crate::json_input::{Reader, join, text};
use crate::storable::json_has_nul;

/// The largest `data` kept, in bytes of compact JSON: it becomes the ticket's
/// `warp_technical_details` (a HubSpot text value holds 65,536 characters).
pub const MAX_DATA_BYTES: usize = 16 * 1024;
/// The longest subject taken (HubSpot's ticket name has no documented limit; a subject is a line).
pub const MAX_SUBJECT_CHARS: usize = 200;
const MAX_TRUNK_ID_CHARS: usize = 64;
const MAX_TRIGGER_CHARS: usize = 64;

const FIELDS: &[&str] = &[
    "trigger",
    "customer_id",
    "trunk_id",
    "call_id",
    "severity",
    "issue_type",
    "subject",
    "data",
    "observed_at",
];

/// How urgent an alert is (`warp_severity`), in rising order; it sets the ticket's HubSpot
/// priority and the time its SLA breaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn parse(text: &str) -> Result<Self, &'static str> {
        Self::ALL
            .into_iter()
            .find(|severity| severity.as_str() == text)
            .ok_or("must be one of critical, high, medium, low")
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// HubSpot's `hs_ticket_priority` option.
    pub fn hubspot_priority(self) -> &'static str {
        match self {
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "URGENT",
        }
    }

    /// How long support has before the ticket breaches its SLA (`warp_sla_breach`).
    pub fn sla(self) -> Duration {
        match self {
            Severity::Critical => Duration::hours(1),
            Severity::High => Duration::hours(4),
            Severity::Medium => Duration::hours(24),
            Severity::Low => Duration::hours(72),
        }
    }
}

/// Seed 002's ticket categories (`warp_issue_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueType {
    Voice,
    Sms,
    Billing,
    Api,
    Portal,
}

impl IssueType {
    pub const ALL: [IssueType; 5] = [
        IssueType::Voice,
        IssueType::Sms,
        IssueType::Billing,
        IssueType::Api,
        IssueType::Portal,
    ];

    pub fn parse(text: &str) -> Result<Self, &'static str> {
        Self::ALL
            .into_iter()
            .find(|issue| issue.as_str() == text)
            .ok_or("must be one of voice, sms, billing, api, portal")
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IssueType::Voice => "voice",
            IssueType::Sms => "sms",
            IssueType::Billing => "billing",
            IssueType::Api => "api",
            IssueType::Portal => "portal",
        }
    }
}

/// What raised an alert: a lower-case identifier (`asr_below_threshold`). The triggers WARP
/// knows carry a label, an issue type and a default severity; others must name their issue type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger(String);

/// A trigger WARP knows: its words on the ticket and its defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownTrigger {
    pub name: &'static str,
    pub label: &'static str,
    pub issue_type: IssueType,
    pub severity: Severity,
}

/// The monitoring platform's triggers (seed 002's examples and categories).
pub const KNOWN_TRIGGERS: [KnownTrigger; 9] = [
    known(
        "asr_below_threshold",
        "Low ASR",
        IssueType::Voice,
        Severity::High,
    ),
    known(
        "acd_below_threshold",
        "Low ACD",
        IssueType::Voice,
        Severity::Medium,
    ),
    known(
        "call_failures_high",
        "High call failure rate",
        IssueType::Voice,
        Severity::High,
    ),
    known(
        "trunk_down",
        "Trunk unreachable",
        IssueType::Voice,
        Severity::Critical,
    ),
    known(
        "fraud_suspected",
        "Suspected fraud",
        IssueType::Voice,
        Severity::Critical,
    ),
    known(
        "sms_delivery_failed",
        "SMS delivery failures",
        IssueType::Sms,
        Severity::Medium,
    ),
    known(
        "payment_failed",
        "Payment failed",
        IssueType::Billing,
        Severity::High,
    ),
    known(
        "spend_threshold",
        "Spend threshold reached",
        IssueType::Billing,
        Severity::Medium,
    ),
    known(
        "api_errors_high",
        "High API error rate",
        IssueType::Api,
        Severity::Medium,
    ),
];

const fn known(
    name: &'static str,
    label: &'static str,
    issue_type: IssueType,
    severity: Severity,
) -> KnownTrigger {
    KnownTrigger {
        name,
        label,
        issue_type,
        severity,
    }
}

impl Trigger {
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let mut bytes = text.bytes();
        let starts_with_letter = bytes.next().is_some_and(|b| b.is_ascii_lowercase());
        let rest_ok = bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !starts_with_letter || !rest_ok || text.len() > MAX_TRIGGER_CHARS {
            return Err(
                "must be 1 to 64 lower-case letters, digits and underscores, starting with a letter (such as asr_below_threshold)",
            );
        }
        Ok(Trigger(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn known(&self) -> Option<KnownTrigger> {
        KNOWN_TRIGGERS.into_iter().find(|t| t.name == self.0)
    }

    /// The words a ticket's subject starts with: the known label, else the identifier's words
    /// ("carrier_blocked" → "Carrier blocked").
    pub fn label(&self) -> String {
        if let Some(known) = self.known() {
            return known.label.to_owned();
        }
        let words = self.0.replace('_', " ");
        let mut chars = words.chars();
        chars
            .next()
            .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
            .unwrap_or_default()
    }
}

/// A SIP trunk's identifier on the platform (`warp_trunk_id`): 1 to 64 visible ASCII
/// characters. Trunks are not WARP records yet (issue 22), so any identifier is taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkId(String);

impl TrunkId {
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let visible = text.bytes().all(|b| b.is_ascii_graphic());
        if text.is_empty() || text.len() > MAX_TRUNK_ID_CHARS || !visible {
            return Err("must be 1 to 64 visible ASCII characters, without spaces");
        }
        Ok(TrunkId(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One alert, checked. `trunk_id` and `call_id` may come at the top level or inside `data`
/// (seed 002 puts the trunk there); both places must agree.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketAlert {
    pub trigger: Trigger,
    pub customer_id: Uuid,
    pub trunk_id: Option<TrunkId>,
    pub call_id: Option<CallId>,
    pub severity: Severity,
    pub issue_type: IssueType,
    /// A subject the sender chose; else one is made from the trigger and trunk.
    pub subject: Option<String>,
    pub data: Map<String, Value>,
    pub observed_at: DateTime<Utc>,
}

impl TicketAlert {
    /// The ticket's subject: the sender's, or "Low ASR · trunk trunk_456".
    pub fn subject(&self) -> String {
        if let Some(subject) = &self.subject {
            return subject.clone();
        }
        match &self.trunk_id {
            Some(trunk) => format!("{} · trunk {}", self.trigger.label(), trunk.as_str()),
            None => self.trigger.label(),
        }
    }
}

/// Reads `POST /v1/support/tickets`'s body; every fault is named by its field.
pub fn ticket_alert_from_json(
    value: &Value,
    now: DateTime<Utc>,
) -> Result<TicketAlert, Vec<FieldError>> {
    let mut reader = Reader::new(&[]);
    let alert = alert(&mut reader, value, now);
    let errors = reader.into_errors();
    match alert {
        Some(alert) if errors.is_empty() => Ok(alert),
        _ => Err(errors),
    }
}

fn alert(reader: &mut Reader, value: &Value, now: DateTime<Utc>) -> Option<TicketAlert> {
    let map = reader.object(value, "", FIELDS)?;
    for key in ["trigger", "customer_id"] {
        if !map.contains_key(key) {
            reader.error(key, "is required");
        }
    }
    let trigger = reader.required(map, "", "trigger", |v| Ok(Trigger::parse(text(v)?)?));
    let customer_id = reader.required(map, "", "customer_id", |v| {
        Uuid::parse_str(text(v)?).map_err(|_| "must be a customer id (a UUID)".to_owned())
    });
    let data = reader
        .clearable(map, "", "data", |v| {
            let Some(data) = v.as_object() else {
                return Err("must be a JSON object of technical details".to_owned());
            };
            if serde_json::to_string(v).map_or(usize::MAX, |json| json.len()) > MAX_DATA_BYTES {
                return Err(format!(
                    "must be at most {MAX_DATA_BYTES} bytes as compact JSON"
                ));
            }
            if json_has_nul(v) {
                return Err("must not contain the NUL character".to_owned());
            }
            Ok(data.clone())
        })
        .into_option()
        .unwrap_or_default();
    let trunk_id = agreed(reader, map, &data, "trunk_id", TrunkId::parse);
    let call_id = agreed(reader, map, &data, "call_id", CallId::parse);
    let severity = reader
        .clearable(map, "", "severity", |v| Ok(Severity::parse(text(v)?)?))
        .into_option();
    let issue_type = reader
        .clearable(map, "", "issue_type", |v| Ok(IssueType::parse(text(v)?)?))
        .into_option();
    let subject = reader
        .clearable(map, "", "subject", |v| {
            let subject = text(v)?.trim();
            if subject.is_empty() || subject.chars().count() > MAX_SUBJECT_CHARS {
                return Err(format!("must be 1 to {MAX_SUBJECT_CHARS} characters"));
            }
            if subject.chars().any(char::is_control) {
                return Err("must be one line without control characters".to_owned());
            }
            Ok(subject.to_owned())
        })
        .into_option();
    let observed_at = reader
        .clearable(map, "", "observed_at", |v| {
            DateTime::parse_from_rfc3339(text(v)?)
                .map(|at| at.with_timezone(&Utc))
                .map_err(|_| "must be an RFC 3339 time such as 2026-12-04T10:00:00Z".to_owned())
        })
        .into_option();
    if observed_at.is_some_and(|at| at > now + CLOCK_SKEW) {
        reader.error("observed_at", "must not be in the future");
    }
    let known = trigger.as_ref().and_then(Trigger::known);
    let issue_type = issue_type.or(known.map(|k| k.issue_type));
    let issue_type_given = map.get("issue_type").is_some_and(|v| !v.is_null());
    if trigger.is_some() && issue_type.is_none() && !issue_type_given {
        reader.error(
            "issue_type",
            "is required for a trigger WARP does not know (voice, sms, billing, api or portal)",
        );
    }
    Some(TicketAlert {
        trigger: trigger?,
        customer_id: customer_id?,
        trunk_id,
        call_id,
        severity: severity
            .or(known.map(|k| k.severity))
            .unwrap_or(Severity::Medium),
        issue_type: issue_type?,
        subject,
        data,
        observed_at: observed_at.unwrap_or(now),
    })
}

/// A value that may be given at the top level or in `data`; both must agree.
fn agreed<T: PartialEq>(
    reader: &mut Reader,
    map: &Map<String, Value>,
    data: &Map<String, Value>,
    key: &str,
    parse: fn(&str) -> Result<T, &'static str>,
) -> Option<T> {
    let mut read = |value: Option<&Value>, field: String| match value {
        None | Some(Value::Null) => None,
        Some(value) => match value.as_str().ok_or("must be a string").and_then(parse) {
            Ok(parsed) => Some(parsed),
            Err(message) => {
                reader.error(field, message);
                None
            }
        },
    };
    let top = read(map.get(key), key.to_owned());
    let inside = read(data.get(key), join("data", key));
    match (top, inside) {
        (Some(top), Some(inside)) if top != inside => {
            reader.error(
                join("data", key),
                format!("differs from the top-level {key}"),
            );
            None
        }
        (Some(value), _) | (None, Some(value)) => Some(value),
        (None, None) => None,
    }
}

/// The customer a ticket is about, as support reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketCustomer<'a> {
    pub name: &'a str,
    pub ban: &'a str,
}

/// What a ticket or note says about one alert: stored values, read back for writing.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertFacts<'a> {
    pub trigger: &'a Trigger,
    pub trunk_id: Option<&'a str>,
    pub severity: Severity,
    pub observed_at: DateTime<Utc>,
    pub data: &'a Map<String, Value>,
}

impl TicketAlert {
    pub fn facts(&self) -> AlertFacts<'_> {
        AlertFacts {
            trigger: &self.trigger,
            trunk_id: self.trunk_id.as_ref().map(TrunkId::as_str),
            severity: self.severity,
            observed_at: self.observed_at,
            data: &self.data,
        }
    }
}

/// The ticket's description (`content`, plain text): what happened, for whom, and the data one
/// value per line.
pub fn ticket_content(alert: &AlertFacts<'_>, customer: &TicketCustomer<'_>) -> String {
    let mut content = format!(
        "{} for {} (BAN {})",
        alert.trigger.label(),
        customer.name,
        customer.ban
    );
    if let Some(trunk) = alert.trunk_id {
        content.push_str(&format!(" on trunk {trunk}"));
    }
    content.push_str(&format!(
        ", observed {}.",
        alert.observed_at.format("%Y-%m-%d %H:%M UTC")
    ));
    let lines = data_lines(alert.data);
    if !lines.is_empty() {
        content.push_str("\n\n");
        content.push_str(&lines.join("\n"));
    }
    content
}

/// The note a repeat adds to the open ticket (HTML: HubSpot's note body); `alert_number` is
/// its place among the ticket's alerts.
pub fn repeat_note(alert: &AlertFacts<'_>, alert_number: i32) -> String {
    let mut note = format!(
        "<p><strong>{} again</strong> (alert {alert_number}, severity {}), observed {}.</p>",
        escape(&alert.trigger.label()),
        alert.severity.as_str(),
        alert.observed_at.format("%Y-%m-%d %H:%M UTC")
    );
    let lines = data_lines(alert.data);
    if !lines.is_empty() {
        note.push_str("<p>");
        note.push_str(
            &lines
                .iter()
                .map(|line| escape(line))
                .collect::<Vec<_>>()
                .join("<br>"),
        );
        note.push_str("</p>");
    }
    note
}

/// `key: value`, one per member, strings without their quotes.
fn data_lines(data: &Map<String, Value>) -> Vec<String> {
    data.iter()
        .map(|(key, value)| match value {
            Value::String(text) => format!("{key}: {text}"),
            other => format!("{key}: {other}"),
        })
        .collect()
}

/// The compact JSON of `data` (`warp_technical_details`).
pub fn technical_details(data: &Map<String, Value>) -> String {
    Value::Object(data.clone()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 4, 12, 0, 0).unwrap()
    }

    const CUSTOMER: &str = "0192f0c4-1d2e-7a3b-8c4d-5e6f708192a3";

    fn fields(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn the_seed_example_takes_its_trunk_from_data_and_the_trigger_s_defaults() {
        let alert = ticket_alert_from_json(
            &json!({"trigger": "asr_below_threshold", "customer_id": CUSTOMER,
                "data": {"trunk_id": "trunk_456", "current_asr": 0.35, "threshold": 0.5,
                         "period": "last_hour"}}),
            now(),
        )
        .unwrap();
        assert_eq!(alert.trunk_id.as_ref().unwrap().as_str(), "trunk_456");
        assert_eq!(alert.severity, Severity::High);
        assert_eq!(alert.issue_type, IssueType::Voice);
        assert_eq!(alert.observed_at, now());
        assert_eq!(alert.subject(), "Low ASR · trunk trunk_456");
        let content = ticket_content(
            &alert.facts(),
            &TicketCustomer {
                name: "Acme",
                ban: "BAN-1",
            },
        );
        assert!(content.starts_with("Low ASR for Acme (BAN BAN-1) on trunk trunk_456"));
        assert!(content.contains("current_asr: 0.35\n"), "{content}");
        assert!(content.contains("period: last_hour"), "{content}");
    }

    #[test]
    fn an_unknown_trigger_needs_its_issue_type_and_defaults_to_medium() {
        let errors = ticket_alert_from_json(
            &json!({"trigger": "carrier_blocked", "customer_id": CUSTOMER}),
            now(),
        )
        .unwrap_err();
        assert_eq!(fields(errors), ["issue_type"]);
        let errors = ticket_alert_from_json(
            &json!({"trigger": "carrier_blocked", "customer_id": CUSTOMER, "issue_type": null}),
            now(),
        )
        .unwrap_err();
        assert_eq!(fields(errors), ["issue_type"], "null names it too");
        let alert = ticket_alert_from_json(
            &json!({"trigger": "carrier_blocked", "customer_id": CUSTOMER,
                    "issue_type": "sms"}),
            now(),
        )
        .unwrap();
        assert_eq!(alert.severity, Severity::Medium);
        assert_eq!(alert.subject(), "Carrier blocked");
    }

    #[test]
    fn every_fault_is_named() {
        let errors = ticket_alert_from_json(
            &json!({"trigger": "Low ASR", "customer_id": "12345", "severity": "urgent",
                    "issue_type": "fax", "trunk_id": "t 1", "subject": "two\nlines",
                    "data": {"call_id": ""}, "observed_at": "2027-01-01T00:00:00Z",
                    "extra": 1}),
            now(),
        )
        .unwrap_err();
        assert_eq!(
            fields(errors),
            [
                "extra",
                "trigger",
                "customer_id",
                "trunk_id",
                "data.call_id",
                "severity",
                "issue_type",
                "subject",
                "observed_at"
            ]
        );
        assert_eq!(
            fields(ticket_alert_from_json(&json!({}), now()).unwrap_err()),
            ["trigger", "customer_id"]
        );
        assert_eq!(
            fields(ticket_alert_from_json(&json!([]), now()).unwrap_err()),
            ["body"]
        );
    }

    #[test]
    fn the_trunk_may_be_given_twice_only_if_both_agree() {
        let body = |data_trunk: &str| {
            json!({"trigger": "trunk_down", "customer_id": CUSTOMER, "trunk_id": "t-1",
                   "data": {"trunk_id": data_trunk}})
        };
        assert!(ticket_alert_from_json(&body("t-1"), now()).is_ok());
        assert_eq!(
            fields(ticket_alert_from_json(&body("t-2"), now()).unwrap_err()),
            ["data.trunk_id"]
        );
    }

    #[test]
    fn data_is_bounded() {
        let big = "x".repeat(MAX_DATA_BYTES);
        let errors = ticket_alert_from_json(
            &json!({"trigger": "trunk_down", "customer_id": CUSTOMER, "data": {"blob": big}}),
            now(),
        )
        .unwrap_err();
        assert_eq!(fields(errors), ["data"]);
        // Postgres's jsonb holds no NUL, in a value or a key.
        for data in [json!({"a": "x\u{0}y"}), json!({"k\u{0}": 1})] {
            let errors = ticket_alert_from_json(
                &json!({"trigger": "trunk_down", "customer_id": CUSTOMER, "data": data}),
                now(),
            )
            .unwrap_err();
            assert_eq!(fields(errors), ["data"]);
        }
    }

    #[test]
    fn severity_orders_priority_and_sla() {
        assert!(Severity::Critical > Severity::High);
        assert_eq!(Severity::Critical.hubspot_priority(), "URGENT");
        assert!(Severity::Critical.sla() < Severity::Low.sla());
        for severity in Severity::ALL {
            assert_eq!(Severity::parse(severity.as_str()), Ok(severity));
        }
        for issue in IssueType::ALL {
            assert_eq!(IssueType::parse(issue.as_str()), Ok(issue));
        }
    }

    #[test]
    fn a_repeat_note_escapes_what_the_sender_wrote() {
        let alert = ticket_alert_from_json(
            &json!({"trigger": "trunk_down", "customer_id": CUSTOMER,
                    "data": {"detail": "<script>"}}),
            now(),
        )
        .unwrap();
        let note = repeat_note(&alert.facts(), 3);
        assert!(note.contains("alert 3, severity critical"), "{note}");
        assert!(note.contains("detail: &lt;script&gt;"), "{note}");
        assert!(!note.contains("<script>"));
    }
}
