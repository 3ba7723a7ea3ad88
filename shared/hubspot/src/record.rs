//! CRM records (companies, contacts: every object type reads the same) as HubSpot's CRM API
//! reads and writes them: the id newtype, the record, and the inputs of single and batch
//! writes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A HubSpot record id (of a company, a contact, ...): a non-empty string of ASCII digits (HubSpot ids are 64-bit numbers
/// sent as strings).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HubSpotId(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a HubSpot company id is 1 to 20 ASCII digits, got {0:?}")]
pub struct InvalidHubSpotId(pub String);

impl HubSpotId {
    pub fn parse(text: impl Into<String>) -> Result<Self, InvalidHubSpotId> {
        let text = text.into();
        let digits_only =
            !text.is_empty() && text.len() <= 20 && text.bytes().all(|b| b.is_ascii_digit());
        if digits_only && text.parse::<u64>().is_ok() {
            Ok(Self(text))
        } else {
            Err(InvalidHubSpotId(text))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as a number, for ordering ids the way HubSpot's `hs_object_id` sorts them.
    pub fn as_u64(&self) -> u64 {
        // Checked in `parse`; 0 is unreachable and harmless if ever seen.
        self.0.parse().unwrap_or(0)
    }
}

impl TryFrom<String> for HubSpotId {
    type Error = InvalidHubSpotId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<HubSpotId> for String {
    fn from(id: HubSpotId) -> Self {
        id.0
    }
}

impl From<u64> for HubSpotId {
    fn from(number: u64) -> Self {
        Self(number.to_string())
    }
}

impl std::fmt::Display for HubSpotId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for HubSpotId {
    type Err = InvalidHubSpotId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// One past value of a property (`propertiesWithHistory`), newest first in HubSpot's answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyVersion {
    #[serde(default)]
    pub value: Option<String>,
    pub timestamp: DateTime<Utc>,
    /// Who wrote it: `CRM_UI`, `INTEGRATION`, `API`, `IMPORT`, ...
    #[serde(default)]
    pub source_type: Option<String>,
    #[serde(default)]
    pub source_id: Option<String>,
    #[serde(default)]
    pub source_label: Option<String>,
    #[serde(default)]
    pub updated_by_user_id: Option<i64>,
}

/// A record (a company, a contact) as HubSpot returns it. Property values are strings (HubSpot's wire form for every
/// type) and `None` where HubSpot holds no value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HubSpotRecord {
    pub id: HubSpotId,
    #[serde(default)]
    pub properties: BTreeMap<String, Option<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties_with_history: BTreeMap<String, Vec<PropertyVersion>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub archived: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<DateTime<Utc>>,
}

impl HubSpotRecord {
    /// The value of `name`, `None` when unset or empty.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .get(name)
            .and_then(|v| v.as_deref())
            .filter(|v| !v.is_empty())
    }

    /// The values of `map`'s enabled fields this record carries, canonical; a property it was
    /// not read with stays unknown.
    pub fn mapped_values(
        &self,
        map: &warp_domain::sync::FieldMap,
    ) -> warp_domain::sync::FieldValues {
        let mut values = warp_domain::sync::FieldValues::new();
        for mapping in map.iter().filter(|m| m.enabled) {
            if let Some(value) = self.properties.get(&mapping.hubspot_property) {
                values.set(mapping.field, value.as_deref());
            }
        }
        values
    }
}

/// A batch-upsert result: the record and whether this call created it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UpsertedRecord {
    #[serde(flatten)]
    pub company: HubSpotRecord,
    /// True when the upsert created the record, false when it updated an existing one.
    #[serde(rename = "new")]
    pub created: bool,
}

/// How to find one record: by HubSpot id or by a property whose values are unique.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordLookup {
    Id(HubSpotId),
    UniqueProperty { property: String, value: String },
}

impl RecordLookup {
    /// The path segment and the `idProperty` query value, if any.
    pub(crate) fn path_and_id_property(&self) -> (&str, Option<&str>) {
        match self {
            RecordLookup::Id(id) => (id.as_str(), None),
            RecordLookup::UniqueProperty { property, value } => {
                (value.as_str(), Some(property.as_str()))
            }
        }
    }
}

impl From<HubSpotId> for RecordLookup {
    fn from(id: HubSpotId) -> Self {
        RecordLookup::Id(id)
    }
}

/// What to read with a record: only named properties are returned (HubSpot's default set
/// otherwise), and history only for the properties named in `properties_with_history`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadOptions {
    pub properties: Vec<String>,
    pub properties_with_history: Vec<String>,
    pub archived: bool,
}

impl ReadOptions {
    pub fn properties<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            properties: names.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }
}

/// Body of a single create or update: property values as strings; an empty string clears.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordProperties {
    pub properties: BTreeMap<String, String>,
}

/// One input of a batch create. Sent with an empty `associations` list, which HubSpot's
/// schema requires.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchCreateInput {
    pub properties: BTreeMap<String, String>,
    #[serde(default)]
    pub object_write_trace_id: Option<String>,
}

impl Serialize for BatchCreateInput {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let fields = if self.object_write_trace_id.is_some() {
            3
        } else {
            2
        };
        let mut input = serializer.serialize_struct("BatchCreateInput", fields)?;
        input.serialize_field("properties", &self.properties)?;
        input.serialize_field("associations", &[(); 0])?;
        if let Some(trace_id) = &self.object_write_trace_id {
            input.serialize_field("objectWriteTraceId", trace_id)?;
        }
        input.end()
    }
}

/// One input of a batch update, addressed by HubSpot id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchUpdateInput {
    pub id: HubSpotId,
    pub properties: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_write_trace_id: Option<String>,
}

/// One input of a batch upsert: `id` is the value of `id_property`, a property with
/// `hasUniqueValue` (for WARP: `warp_ban`, `warp_user_id`). HubSpot creates the record when
/// none holds that value and updates it otherwise.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchUpsertInput {
    #[serde(rename = "id")]
    pub unique_value: String,
    pub id_property: String,
    pub properties: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_write_trace_id: Option<String>,
}

impl BatchUpsertInput {
    pub fn new(
        id_property: impl Into<String>,
        unique_value: impl Into<String>,
        properties: BTreeMap<String, String>,
    ) -> Self {
        Self {
            unique_value: unique_value.into(),
            id_property: id_property.into(),
            properties,
            object_write_trace_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn company_ids_are_numeric_strings() {
        assert_eq!(HubSpotId::parse("12345").unwrap().as_u64(), 12345);
        for bad in [
            "",
            "12a",
            "-1",
            " 1",
            "123456789012345678901",
            "99999999999999999999",
        ] {
            assert!(HubSpotId::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(serde_json::from_str::<HubSpotId>("\"x\"").is_err());
        assert_eq!(serde_json::to_string(&HubSpotId::from(7)).unwrap(), "\"7\"");
    }

    #[test]
    fn reads_a_company_with_nulls_and_history() {
        let json = r#"{"id":"512","properties":{"name":"Acme","domain":null,"hs_object_id":"512"},
            "propertiesWithHistory":{"name":[{"value":"Acme","timestamp":"2019-12-07T16:50:06.678Z","sourceType":"CRM_UI","sourceId":"userId:123"}]},
            "createdAt":"2019-10-30T03:30:17.883Z","updatedAt":"2019-12-07T16:50:06.678Z","archived":false}"#;
        let company: HubSpotRecord = serde_json::from_str(json).unwrap();
        assert_eq!(company.id.as_str(), "512");
        assert_eq!(company.property("name"), Some("Acme"));
        assert_eq!(company.property("domain"), None);
        assert_eq!(company.properties["domain"], None);
        assert_eq!(
            company.properties_with_history["name"][0]
                .source_type
                .as_deref(),
            Some("CRM_UI")
        );
    }

    #[test]
    fn upsert_results_carry_new_and_inputs_use_hubspots_names() {
        let json = r#"{"id":"1","properties":{},"createdAt":"2024-01-01T00:00:00Z","updatedAt":"2024-01-01T00:00:00Z","archived":false,"new":true}"#;
        let upserted: UpsertedRecord = serde_json::from_str(json).unwrap();
        assert!(upserted.created);
        let input = BatchUpsertInput::new(
            "warp_ban",
            "ZT-487392012",
            BTreeMap::from([("name".into(), "Acme".into())]),
        );
        let value = serde_json::to_value(&input).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"id":"ZT-487392012","idProperty":"warp_ban","properties":{"name":"Acme"}})
        );
    }
}
