//! A Webhooks Journal entry's file read as the events WARP stores and applies: the same
//! [`WebhookEvent`]s push deliveries carry, so one processor applies both.
//!
//! The file is a JSON object whose `journalEvents` hold one event per change: `portalId`,
//! `objectTypeId`, `objectId`, `occurredAt` (ISO 8601 or epoch milliseconds), `action`
//! (`CREATE`, `UPDATE`, `DELETE`, `RESTORE`, `MERGE`, `ASSOCIATION_ADDED`,
//! `ASSOCIATION_REMOVED`, ...), `propertyChanges` (name → new value) for an update, and for an
//! association `fromObjectId`, `toObjectId`, `fromObjectTypeId`, `toObjectTypeId`,
//! `associationTypeId`, `isPrimary`. (HubSpot does not document the file precisely:
//! docs/hubspot/PLATFORM-2026.md; this is the shape its journal clients read.)
//!
//! An update naming several properties becomes one `propertyChange` event per property, as push
//! sends them. Journal events carry no push `eventId`: they get 0, and the store recognises a
//! change push delivered already by its object, type, property and time instead. Object types
//! and actions WARP does not apply (notes, snapshots, list memberships) are skipped and counted.

use chrono::DateTime;
use serde::Deserialize as _;
use serde_json::{Map, Value, json};

use super::webhook::WebhookEvent;
use crate::strict_json::{StrictJsonError, parse_strict};

/// A journal file read: the events to store (each with the push-shaped JSON stored as its raw
/// body, the journal's own event kept under `journalEvent`), and how many were skipped.
#[derive(Debug, Default)]
pub struct JournalEvents {
    pub events: Vec<(WebhookEvent, Value)>,
    pub skipped: usize,
    /// Events that could not be read (index and reason): one bad event must not hold up the
    /// file and every entry after it.
    pub unreadable: Vec<(usize, String)>,
}

/// Why a journal file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum JournalFileError {
    #[error("the journal file is not valid JSON")]
    InvalidJson(#[source] serde_json::Error),
    #[error("the journal file repeats a key")]
    DuplicateKey { path: String },
    #[error("the journal file has no journalEvents list")]
    NoEvents,
}

/// The journal actions WARP applies; the others (snapshots, list memberships, app lifecycle)
/// are skipped before their members are read. WARP's journal subscriptions ask for these.
pub const JOURNAL_APPLIED_ACTIONS: [&str; 8] = [
    "CREATE",
    "UPDATE",
    "DELETE",
    "RESTORE",
    "GDPR_DELETE",
    "MERGE",
    "ASSOCIATION_ADDED",
    "ASSOCIATION_REMOVED",
];

/// The v3 subscription prefix of a HubSpot object type id WARP applies events of.
fn object_name(type_id: &str) -> Option<&'static str> {
    match type_id {
        "0-1" => Some("contact"),
        "0-2" => Some("company"),
        "0-3" => Some("deal"),
        _ => None,
    }
}

/// Reads a journal file.
pub fn events_of_journal_file(body: &[u8]) -> Result<JournalEvents, JournalFileError> {
    let value = parse_strict(body).map_err(|error| match error {
        StrictJsonError::DuplicateKey { path } => JournalFileError::DuplicateKey { path },
        StrictJsonError::Syntax(error) => JournalFileError::InvalidJson(error),
    })?;
    let Some(Value::Array(items)) = value.get("journalEvents") else {
        return Err(JournalFileError::NoEvents);
    };
    let mut read = JournalEvents::default();
    for (index, item) in items.iter().enumerate() {
        let pushed = match push_events_of(item) {
            Ok(pushed) => pushed,
            Err(reason) => {
                read.unreadable.push((index, reason));
                continue;
            }
        };
        if pushed.is_empty() {
            read.skipped += 1;
        }
        for raw in pushed {
            match WebhookEvent::deserialize(&raw) {
                Ok(event) => read.events.push((event, raw)),
                Err(error) => read.unreadable.push((index, error.to_string())),
            }
        }
    }
    Ok(read)
}

fn id_of(event: &Value, name: &str) -> Result<Option<i64>, String> {
    match event.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => number
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("{name} is not an integer id")),
        Some(Value::String(text)) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("{name} is not an integer id")),
        Some(_) => Err(format!("{name} is not an integer id")),
    }
}

fn required_id(event: &Value, name: &str) -> Result<i64, String> {
    id_of(event, name)?.ok_or_else(|| format!("{name} is missing"))
}

fn text_of<'a>(event: &'a Value, name: &str) -> Option<&'a str> {
    event.get(name).and_then(Value::as_str)
}

/// `occurredAt` as epoch milliseconds, from milliseconds or an ISO 8601 text.
fn occurred_at_ms(event: &Value) -> Result<i64, String> {
    match event.get("occurredAt") {
        Some(Value::String(text)) => match text.trim().parse::<i64>() {
            Ok(ms) => Ok(ms),
            Err(_) => DateTime::parse_from_rfc3339(text.trim())
                .map(|at| at.timestamp_millis())
                .map_err(|_| "occurredAt is neither milliseconds nor an ISO 8601 time".to_owned()),
        },
        Some(Value::Number(number)) => number
            .as_i64()
            .ok_or_else(|| "occurredAt is not an integer".to_owned()),
        _ => Err("occurredAt is missing".to_owned()),
    }
}

/// The push-shaped events of one journal event (none for what WARP does not apply).
fn push_events_of(event: &Value) -> Result<Vec<Value>, String> {
    if !event.is_object() {
        return Err("not an object".to_owned());
    }
    let action = text_of(event, "action").ok_or("action is missing")?;
    if !JOURNAL_APPLIED_ACTIONS.contains(&action) {
        return Ok(Vec::new());
    }
    let association = matches!(action, "ASSOCIATION_ADDED" | "ASSOCIATION_REMOVED");
    let type_key = if association {
        "fromObjectTypeId"
    } else {
        "objectTypeId"
    };
    let Some(object) = text_of(event, type_key)
        .or_else(|| text_of(event, "objectTypeId"))
        .and_then(object_name)
    else {
        return Ok(Vec::new());
    };
    let mut base = Map::new();
    base.insert("eventId".into(), json!(0));
    base.insert("portalId".into(), json!(required_id(event, "portalId")?));
    base.insert("occurredAt".into(), json!(occurred_at_ms(event)?));
    let object_id = if association {
        id_of(event, "fromObjectId")?.or(id_of(event, "objectId")?)
    } else {
        id_of(event, "objectId")?
    };
    base.insert(
        "objectId".into(),
        json!(object_id.ok_or("objectId is missing")?),
    );
    for name in ["changeSource", "sourceId"] {
        if let Some(value) = event.get(name) {
            base.insert(name.into(), value.clone());
        }
    }
    base.insert("journalEvent".into(), event.clone());
    let with = |kind: &str, extra: &[(&str, Value)]| {
        let mut push = base.clone();
        push.insert("subscriptionType".into(), json!(format!("{object}.{kind}")));
        for (name, value) in extra {
            push.insert((*name).into(), value.clone());
        }
        Value::Object(push)
    };
    Ok(match action {
        "CREATE" => vec![with("creation", &[("changeFlag", json!("NEW"))])],
        "DELETE" => vec![with("deletion", &[("changeFlag", json!("DELETED"))])],
        "RESTORE" => vec![with("restore", &[("changeFlag", json!("RESTORED"))])],
        "GDPR_DELETE" if object == "contact" => vec![with("privacyDeletion", &[])],
        "UPDATE" => match event.get("propertyChanges") {
            Some(Value::Object(changes)) => changes
                .iter()
                .map(|(name, value)| {
                    with(
                        "propertyChange",
                        &[
                            ("propertyName", json!(name)),
                            ("propertyValue", value.clone()),
                        ],
                    )
                })
                .collect(),
            _ => Vec::new(),
        },
        "MERGE" => {
            let merged: Vec<i64> = match event.get("mergedObjectIds") {
                Some(Value::Array(ids)) => ids
                    .iter()
                    .map(|id| {
                        id_of(&json!({ "id": id }), "id")?.ok_or("a merged id is null".into())
                    })
                    .collect::<Result<_, String>>()?,
                _ => Vec::new(),
            };
            let primary =
                id_of(event, "primaryObjectId")?.unwrap_or(required_id(event, "objectId")?);
            let mut extra = vec![
                ("primaryObjectId", json!(primary)),
                ("mergedObjectIds", json!(merged)),
            ];
            if let Some(new_id) = id_of(event, "newObjectId")? {
                extra.push(("newObjectId", json!(new_id)));
            }
            vec![with("merge", &extra)]
        }
        "ASSOCIATION_ADDED" | "ASSOCIATION_REMOVED" => {
            let Some(to) = text_of(event, "toObjectTypeId").and_then(object_name) else {
                return Ok(Vec::new());
            };
            let to_id = required_id(event, "toObjectId")?;
            let association_type = format!("{}_TO_{}", object.to_uppercase(), to.to_uppercase());
            let primary = event
                .get("isPrimary")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            vec![with(
                "associationChange",
                &[
                    // Push leaves it empty; here it tells apart two association changes of one
                    // record at one time (removed from A, added to B), which the store's key
                    // would otherwise take for one.
                    (
                        "propertyName",
                        json!(format!(
                            "{to_id}:{}",
                            if action == "ASSOCIATION_REMOVED" {
                                "removed"
                            } else {
                                "added"
                            }
                        )),
                    ),
                    ("associationType", json!(association_type)),
                    ("fromObjectId", base["objectId"].clone()),
                    ("toObjectId", json!(to_id)),
                    ("associationRemoved", json!(action == "ASSOCIATION_REMOVED")),
                    ("isPrimaryAssociation", json!(primary)),
                ],
            )]
        }
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::EventKind;

    #[test]
    fn an_update_becomes_one_property_change_per_property_and_unknown_types_are_skipped() {
        let file = br#"{"offset":"0b8a3f7e-1c1d-4d0e-9f61-8d1f6f2b4a11","publishedAt":"2026-12-06T10:00:00Z",
          "journalEvents":[
            {"type":"OBJECT","portalId":62515,"objectTypeId":"0-2","objectId":"42",
             "occurredAt":"2026-12-06T10:00:00.123Z","action":"UPDATE",
             "propertyChanges":{"name":"Acme","phone":"+1 303 555 1234"}},
            {"type":"OBJECT","portalId":62515,"objectTypeId":"0-46","objectId":7,
             "occurredAt":1765015200000,"action":"CREATE"},
            {"type":"OBJECT","portalId":62515,"objectTypeId":"0-1","objectId":8,
             "occurredAt":1765015200000,"action":"DELETE"}
          ]}"#;
        let read = events_of_journal_file(file).unwrap();
        assert_eq!(read.skipped, 1, "the note");
        assert_eq!(read.events.len(), 3);
        let (name, raw) = &read.events[0];
        assert_eq!(name.subscription_type, "company.propertyChange");
        assert_eq!(name.object_id, 42);
        assert_eq!(name.event_id, 0);
        assert_eq!(name.occurred_at_ms(), 1_796_551_200_123);
        assert_eq!(name.property_name.as_deref(), Some("name"));
        assert_eq!(name.property_value.as_deref(), Some("Acme"));
        assert_eq!(raw["journalEvent"]["action"], "UPDATE");
        assert_eq!(read.events[1].0.property_name.as_deref(), Some("phone"));
        assert_eq!(read.events[2].0.kind(), EventKind::Deletion);
        assert_eq!(read.events[2].0.object_type(), "contact");
    }

    #[test]
    fn associations_read_from_the_from_side_with_their_primary_flag() {
        let file = br#"{"journalEvents":[
            {"type":"ASSOCIATION","portalId":1,"action":"ASSOCIATION_REMOVED","occurredAt":5,
             "fromObjectTypeId":"0-1","fromObjectId":10,"toObjectTypeId":"0-2","toObjectId":20,
             "associationTypeId":1,"isPrimary":true}]}"#;
        let read = events_of_journal_file(file).unwrap();
        let event = &read.events[0].0;
        assert_eq!(event.subscription_type, "contact.associationChange");
        assert_eq!(
            event.association_type.as_deref(),
            Some("CONTACT_TO_COMPANY")
        );
        assert_eq!(
            (event.from_object_id, event.to_object_id),
            (Some(10), Some(20))
        );
        assert_eq!(event.association_removed, Some(true));
        assert_eq!(event.is_primary_association, Some(true));
        assert_eq!(event.property_name.as_deref(), Some("20:removed"));
    }

    #[test]
    fn a_file_that_is_not_a_journal_file_or_an_event_without_its_ids_is_refused() {
        assert!(matches!(
            events_of_journal_file(b"[]"),
            Err(JournalFileError::NoEvents)
        ));
        // An event without its ids is set aside with the reason; the rest of the file is read.
        let read = events_of_journal_file(
            br#"{"journalEvents":[{"action":"CREATE","objectTypeId":"0-2","occurredAt":1},
                {"action":"SNAPSHOT"},
                {"action":"DELETE","objectTypeId":"0-2","objectId":5,"portalId":1,"occurredAt":2}]}"#,
        )
        .unwrap();
        assert_eq!(read.unreadable.len(), 1);
        assert!(
            read.unreadable[0].1.contains("portalId"),
            "{:?}",
            read.unreadable
        );
        assert_eq!((read.events.len(), read.skipped), (1, 1));
        assert!(matches!(
            events_of_journal_file(br#"{"journalEvents":[],"journalEvents":[]}"#),
            Err(JournalFileError::DuplicateKey { .. })
        ));
    }
}
