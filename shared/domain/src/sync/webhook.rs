//! HubSpot webhook deliveries, parsed from the raw body (hubspot/FACTS.md, "Webhook
//! deliveries"): a JSON array of events. Parsing never panics, whatever the bytes; an event
//! without the fields that identify it (portalId, eventId, subscriptionType, objectId,
//! occurredAt) makes the batch invalid, since it could be neither deduplicated nor stored.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Defence against absurd bodies: HubSpot sends fewer than 100 events per request.
pub const MAX_EVENTS_PER_BATCH: usize = 1000;

/// One webhook event. Unknown JSON fields are ignored; ids given as numeric strings are
/// accepted; `subscriptionType` may also be spelled `eventType`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "RawWebhookEvent")]
pub struct WebhookEvent {
    pub event_id: i64,
    pub subscription_id: Option<i64>,
    pub portal_id: i64,
    pub app_id: Option<i64>,
    /// HubSpot's `occurredAt` (milliseconds since the epoch).
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub occurred_at: DateTime<Utc>,
    pub subscription_type: String,
    pub attempt_number: Option<i32>,
    pub object_id: i64,
    pub property_name: Option<String>,
    /// The new value of a propertyChange, as text (numbers and booleans are turned into text).
    pub property_value: Option<String>,
    pub change_source: Option<String>,
    pub change_flag: Option<String>,
    pub source_id: Option<String>,
    pub primary_object_id: Option<i64>,
    pub merged_object_ids: Vec<i64>,
    pub new_object_id: Option<i64>,
    pub number_of_properties_moved: Option<i64>,
    pub association_type: Option<String>,
    pub from_object_id: Option<i64>,
    pub to_object_id: Option<i64>,
    pub association_removed: Option<bool>,
    pub is_primary_association: Option<bool>,
}

/// What an event is about, from the part of `subscriptionType` after the object type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Creation,
    PropertyChange,
    /// `deletion`, and `privacyDeletion` (contacts).
    Deletion,
    Restore,
    /// The surviving record is `survivor` (newObjectId, else primaryObjectId, else objectId).
    /// HubSpot sends no propertyChange for fields the merge changed: re-read the survivor.
    Merge {
        survivor: i64,
    },
    AssociationChange,
    Other,
}

/// The full key an event is stored once under (the UNIQUE key of `hubspot_webhook_events`);
/// eventId alone is not unique.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WebhookDedupeKey {
    pub portal_id: i64,
    pub event_id: i64,
    pub subscription_type: String,
    pub object_id: i64,
    pub occurred_at_ms: i64,
    /// "" for events without a property, as in the table.
    pub property_name: String,
}

impl WebhookEvent {
    /// The object type: "company" for `company.propertyChange`.
    pub fn object_type(&self) -> &str {
        self.subscription_type
            .split_once('.')
            .map_or("", |(object_type, _)| object_type)
    }

    pub fn kind(&self) -> EventKind {
        let action = self
            .subscription_type
            .split_once('.')
            .map_or(self.subscription_type.as_str(), |(_, action)| action);
        match action {
            "creation" => EventKind::Creation,
            "propertyChange" => EventKind::PropertyChange,
            "deletion" | "privacyDeletion" => EventKind::Deletion,
            "restore" => EventKind::Restore,
            "merge" => EventKind::Merge {
                survivor: self
                    .new_object_id
                    .or(self.primary_object_id)
                    .unwrap_or(self.object_id),
            },
            "associationChange" => EventKind::AssociationChange,
            _ => EventKind::Other,
        }
    }

    pub fn occurred_at_ms(&self) -> i64 {
        self.occurred_at.timestamp_millis()
    }

    pub fn dedupe_key(&self) -> WebhookDedupeKey {
        WebhookDedupeKey {
            portal_id: self.portal_id,
            event_id: self.event_id,
            subscription_type: self.subscription_type.clone(),
            object_id: self.object_id,
            occurred_at_ms: self.occurred_at_ms(),
            property_name: self.property_name.clone().unwrap_or_default(),
        }
    }
}

/// Why a webhook body is not a batch of events.
#[derive(Debug, thiserror::Error)]
pub enum WebhookParseError {
    #[error("webhook body is not valid JSON")]
    InvalidJson(#[source] serde_json::Error),
    /// An object names a key twice: which one a reader takes would be a guess. The path is
    /// the sender's text: the answer names it, the Display (what logs print) does not.
    #[error("webhook body repeats a key")]
    DuplicateKey { path: String },
    #[error("webhook body is not a JSON array")]
    NotAnArray,
    #[error("webhook body has {count} events, more than {MAX_EVENTS_PER_BATCH}")]
    TooManyEvents { count: usize },
    #[error("webhook event {index} is invalid")]
    InvalidEvent {
        index: usize,
        #[source]
        source: serde_json::Error,
    },
}

/// Parses a webhook body into its events, in delivery order.
pub fn parse_webhook_batch(body: &[u8]) -> Result<Vec<WebhookEvent>, WebhookParseError> {
    Ok(parse_webhook_batch_with_raw(body)?
        .into_iter()
        .map(|(event, _raw)| event)
        .collect())
}

/// Parses a webhook body into its events, each with its raw JSON (stored as received, so
/// fields this type does not model are kept).
pub fn parse_webhook_batch_with_raw(
    body: &[u8],
) -> Result<Vec<(WebhookEvent, serde_json::Value)>, WebhookParseError> {
    let value = crate::strict_json::parse_strict(body).map_err(|error| match error {
        crate::strict_json::StrictJsonError::DuplicateKey { path } => {
            WebhookParseError::DuplicateKey { path }
        }
        crate::strict_json::StrictJsonError::Syntax(error) => WebhookParseError::InvalidJson(error),
    })?;
    let serde_json::Value::Array(items) = value else {
        return Err(WebhookParseError::NotAnArray);
    };
    if items.len() > MAX_EVENTS_PER_BATCH {
        return Err(WebhookParseError::TooManyEvents { count: items.len() });
    }
    items
        .into_iter()
        .enumerate()
        .map(|(index, raw)| {
            WebhookEvent::deserialize(&raw)
                .map(|event| (event, raw))
                .map_err(|source| WebhookParseError::InvalidEvent { index, source })
        })
        .collect()
}

/// Orders events for processing: by object, then property, then occurredAt (delivery order is
/// not guaranteed), with eventId as the last tie-break so the order is total and repeatable.
pub fn sort_for_processing(events: &mut [WebhookEvent]) {
    events.sort_by(|a, b| {
        (a.object_id, &a.property_name, a.occurred_at, a.event_id).cmp(&(
            b.object_id,
            &b.property_name,
            b.occurred_at,
            b.event_id,
        ))
    });
}

/// An id as HubSpot may send it: a JSON number or a numeric string.
#[derive(Deserialize)]
#[serde(untagged)]
enum IdRepr {
    Number(i64),
    Text(String),
}

impl IdRepr {
    fn into_i64(self, name: &str) -> Result<i64, String> {
        match self {
            IdRepr::Number(n) => Ok(n),
            IdRepr::Text(text) => text
                .trim()
                .parse()
                .map_err(|_| format!("{name} is not an integer id")),
        }
    }
}

/// The event as it is on the wire, before its identity fields are checked.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawWebhookEvent {
    event_id: Option<IdRepr>,
    subscription_id: Option<IdRepr>,
    portal_id: Option<IdRepr>,
    app_id: Option<IdRepr>,
    occurred_at: Option<IdRepr>,
    subscription_type: Option<String>,
    event_type: Option<String>,
    attempt_number: Option<i32>,
    object_id: Option<IdRepr>,
    property_name: Option<String>,
    property_value: Option<serde_json::Value>,
    change_source: Option<String>,
    change_flag: Option<String>,
    source_id: Option<serde_json::Value>,
    primary_object_id: Option<IdRepr>,
    #[serde(default)]
    merged_object_ids: Option<Vec<IdRepr>>,
    new_object_id: Option<IdRepr>,
    number_of_properties_moved: Option<i64>,
    association_type: Option<String>,
    from_object_id: Option<IdRepr>,
    to_object_id: Option<IdRepr>,
    association_removed: Option<bool>,
    is_primary_association: Option<bool>,
}

fn required(id: Option<IdRepr>, name: &str) -> Result<i64, String> {
    id.ok_or_else(|| format!("{name} is missing"))?
        .into_i64(name)
}

fn optional(id: Option<IdRepr>, name: &str) -> Result<Option<i64>, String> {
    id.map(|id| id.into_i64(name)).transpose()
}

fn json_as_text(value: Option<serde_json::Value>) -> Option<String> {
    match value? {
        serde_json::Value::Null => None,
        serde_json::Value::String(text) => Some(text),
        other => Some(other.to_string()),
    }
}

impl TryFrom<RawWebhookEvent> for WebhookEvent {
    type Error = String;

    fn try_from(raw: RawWebhookEvent) -> Result<Self, Self::Error> {
        let occurred_at_ms = required(raw.occurred_at, "occurredAt")?;
        let occurred_at = DateTime::from_timestamp_millis(occurred_at_ms)
            .ok_or_else(|| "occurredAt is out of range".to_owned())?;
        let subscription_type = raw
            .subscription_type
            .or(raw.event_type)
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| "subscriptionType (or eventType) is missing".to_owned())?;
        Ok(WebhookEvent {
            event_id: required(raw.event_id, "eventId")?,
            subscription_id: optional(raw.subscription_id, "subscriptionId")?,
            portal_id: required(raw.portal_id, "portalId")?,
            app_id: optional(raw.app_id, "appId")?,
            occurred_at,
            subscription_type,
            attempt_number: raw.attempt_number,
            object_id: required(raw.object_id, "objectId")?,
            property_name: raw.property_name,
            property_value: json_as_text(raw.property_value),
            change_source: raw.change_source,
            change_flag: raw.change_flag,
            source_id: json_as_text(raw.source_id),
            primary_object_id: optional(raw.primary_object_id, "primaryObjectId")?,
            merged_object_ids: raw
                .merged_object_ids
                .unwrap_or_default()
                .into_iter()
                .map(|id| id.into_i64("mergedObjectIds"))
                .collect::<Result<_, _>>()?,
            new_object_id: optional(raw.new_object_id, "newObjectId")?,
            number_of_properties_moved: raw.number_of_properties_moved,
            association_type: raw.association_type,
            from_object_id: optional(raw.from_object_id, "fromObjectId")?,
            to_object_id: optional(raw.to_object_id, "toObjectId")?,
            association_removed: raw.association_removed,
            is_primary_association: raw.is_primary_association,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FACTS_V1_BODY: &str = r#"[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]"#;

    #[test]
    fn an_event_repeating_a_key_refuses_the_delivery_naming_the_key() {
        let body = br#"[{"eventId":1,"portalId":1,"occurredAt":5,"subscriptionType":"company.propertyChange",
            "objectId":42,"propertyName":"name","propertyValue":"a","propertyValue":"b"}]"#;
        match parse_webhook_batch(body) {
            Err(WebhookParseError::DuplicateKey { path }) => assert_eq!(path, "[0].propertyValue"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_the_documented_example() {
        let events = parse_webhook_batch(FACTS_V1_BODY.as_bytes()).unwrap();
        assert_eq!(events.len(), 1);
        let event = &events[0];
        assert_eq!(event.event_id, 1);
        assert_eq!(event.subscription_id, Some(12345));
        assert_eq!(event.portal_id, 62515);
        assert_eq!(event.app_id, Some(54321));
        assert_eq!(event.occurred_at_ms(), 1_564_113_600_000);
        assert_eq!(event.attempt_number, Some(0));
        assert_eq!(event.object_type(), "contact");
        assert_eq!(event.kind(), EventKind::Creation);
        assert_eq!(event.change_flag.as_deref(), Some("NEW"));
        assert_eq!(
            event.dedupe_key(),
            WebhookDedupeKey {
                portal_id: 62515,
                event_id: 1,
                subscription_type: "contact.creation".into(),
                object_id: 123,
                occurred_at_ms: 1_564_113_600_000,
                property_name: String::new(),
            }
        );
    }

    #[test]
    fn accepts_event_type_string_ids_and_non_string_values_and_ignores_unknown_fields() {
        let body = br#"[{"eventId":"7","portalId":1,"occurredAt":5,"eventType":"company.propertyChange",
            "objectId":"42","propertyName":"warp_credit_limit","propertyValue":1500,"somethingNew":{"a":1}}]"#;
        let event = &parse_webhook_batch(body).unwrap()[0];
        assert_eq!(event.event_id, 7);
        assert_eq!(event.object_id, 42);
        assert_eq!(event.subscription_type, "company.propertyChange");
        assert_eq!(event.kind(), EventKind::PropertyChange);
        assert_eq!(event.property_value.as_deref(), Some("1500"));
        assert_eq!(event.dedupe_key().property_name, "warp_credit_limit");
    }

    #[test]
    fn merge_survivor_is_new_object_then_primary_then_object() {
        let body = br#"[
            {"eventId":1,"portalId":1,"occurredAt":5,"subscriptionType":"company.merge","objectId":3,
             "primaryObjectId":10,"mergedObjectIds":[11,"12"],"newObjectId":20,"numberOfPropertiesMoved":4},
            {"eventId":2,"portalId":1,"occurredAt":5,"subscriptionType":"company.merge","objectId":3,"primaryObjectId":10},
            {"eventId":3,"portalId":1,"occurredAt":5,"subscriptionType":"company.merge","objectId":3}
        ]"#;
        let events = parse_webhook_batch(body).unwrap();
        assert_eq!(events[0].kind(), EventKind::Merge { survivor: 20 });
        assert_eq!(events[0].merged_object_ids, [11, 12]);
        assert_eq!(events[1].kind(), EventKind::Merge { survivor: 10 });
        assert_eq!(events[2].kind(), EventKind::Merge { survivor: 3 });
    }

    #[test]
    fn kinds_from_subscription_types() {
        let kind = |t: &str| {
            let body = format!(
                r#"[{{"eventId":1,"portalId":1,"occurredAt":5,"subscriptionType":"{t}","objectId":3}}]"#
            );
            parse_webhook_batch(body.as_bytes()).unwrap()[0].kind()
        };
        assert_eq!(kind("company.deletion"), EventKind::Deletion);
        assert_eq!(kind("contact.privacyDeletion"), EventKind::Deletion);
        assert_eq!(kind("company.restore"), EventKind::Restore);
        assert_eq!(
            kind("company.associationChange"),
            EventKind::AssociationChange
        );
        assert_eq!(kind("company.somethingElse"), EventKind::Other);
        assert_eq!(kind("nodot"), EventKind::Other);
    }

    #[test]
    fn rejects_bodies_that_are_not_event_arrays() {
        assert!(matches!(
            parse_webhook_batch(b"not json"),
            Err(WebhookParseError::InvalidJson(_))
        ));
        assert!(matches!(
            parse_webhook_batch(b"{}"),
            Err(WebhookParseError::NotAnArray)
        ));
        let missing_portal =
            br#"[{"eventId":1,"occurredAt":5,"subscriptionType":"company.creation","objectId":3}]"#;
        assert!(matches!(
            parse_webhook_batch(missing_portal),
            Err(WebhookParseError::InvalidEvent { index: 0, .. })
        ));
        let out_of_range = br#"[{"eventId":1,"portalId":1,"occurredAt":9223372036854775807,"subscriptionType":"company.creation","objectId":3}]"#;
        assert!(parse_webhook_batch(out_of_range).is_err());
        let too_many = format!("[{}]", vec!["1"; MAX_EVENTS_PER_BATCH + 1].join(","));
        assert!(matches!(
            parse_webhook_batch(too_many.as_bytes()),
            Err(WebhookParseError::TooManyEvents { .. })
        ));
        assert!(parse_webhook_batch(b"[]").unwrap().is_empty());
    }

    #[test]
    fn raw_json_is_kept_and_serialisation_round_trips() {
        let parsed = parse_webhook_batch_with_raw(FACTS_V1_BODY.as_bytes()).unwrap();
        let (event, raw) = &parsed[0];
        assert_eq!(raw["changeSource"], "CRM");
        let again: WebhookEvent =
            serde_json::from_value(serde_json::to_value(event).unwrap()).unwrap();
        assert_eq!(&again, event);
    }

    #[test]
    fn sorting_groups_by_object_and_property_then_time() {
        let body = br#"[
            {"eventId":1,"portalId":1,"occurredAt":30,"subscriptionType":"company.propertyChange","objectId":2,"propertyName":"name"},
            {"eventId":2,"portalId":1,"occurredAt":10,"subscriptionType":"company.propertyChange","objectId":2,"propertyName":"name"},
            {"eventId":3,"portalId":1,"occurredAt":5,"subscriptionType":"company.propertyChange","objectId":2,"propertyName":"domain"},
            {"eventId":4,"portalId":1,"occurredAt":1,"subscriptionType":"company.propertyChange","objectId":9,"propertyName":"domain"},
            {"eventId":5,"portalId":1,"occurredAt":99,"subscriptionType":"company.propertyChange","objectId":1,"propertyName":"name"}
        ]"#;
        let mut events = parse_webhook_batch(body).unwrap();
        sort_for_processing(&mut events);
        let ids: Vec<_> = events.iter().map(|e| e.event_id).collect();
        assert_eq!(ids, [5, 3, 2, 1, 4]);
    }
}

/// When a webhook event whose processing failed is tried again (issue 23, seed 002's rule: an
/// alarm after 3 failed attempts): 1 minute after the first failure, 5 after the second, never
/// by itself after the third (a person retries it through the API).
pub mod event_retry {
    use std::time::Duration;

    /// Failed attempts after which an event waits for a person (and the alarm counts it).
    pub const MAX_ATTEMPTS: i32 = 3;
    /// The wait after the first failure; each later one is [`FACTOR`] times longer.
    pub const FIRST_DELAY: Duration = Duration::from_secs(60);
    pub const FACTOR: u32 = 5;

    /// The wait before the next attempt of an event that has now failed `failed` times; `None`
    /// when it is not tried again by itself.
    pub fn delay_after(failed: i32) -> Option<Duration> {
        if !(1..MAX_ATTEMPTS).contains(&failed) {
            return None;
        }
        Some(FIRST_DELAY * FACTOR.pow(u32::try_from(failed - 1).ok()?))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn one_then_five_minutes_then_a_person() {
            assert_eq!(delay_after(1), Some(Duration::from_secs(60)));
            assert_eq!(delay_after(2), Some(Duration::from_secs(300)));
            assert_eq!(delay_after(3), None);
            assert_eq!(delay_after(0), None);
            assert_eq!(delay_after(-1), None);
        }
    }
}
