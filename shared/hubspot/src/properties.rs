//! Company property definitions and property groups (CRM properties v3): what is created and
//! what HubSpot answers.

use serde::{Deserialize, Serialize};

/// A property's data type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PropertyType {
    Bool,
    Date,
    Datetime,
    Enumeration,
    Number,
    PhoneNumber,
    String,
}

/// How HubSpot shows and edits a property.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Booleancheckbox,
    Checkbox,
    Date,
    File,
    Html,
    Number,
    Phonenumber,
    Radio,
    Select,
    Text,
    Textarea,
}

/// One allowed value of an enumeration (or a bool's true/false).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyOption {
    pub label: String,
    pub value: String,
    #[serde(default)]
    pub hidden: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_order: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl PropertyOption {
    pub fn new(label: impl Into<String>, value: impl Into<String>, display_order: i32) -> Self {
        Self {
            label: label.into(),
            value: value.into(),
            hidden: false,
            display_order: Some(display_order),
            description: None,
        }
    }
}

/// The body of `POST /crm/v3/properties/companies`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyCreate {
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub property_type: PropertyType,
    pub field_type: FieldType,
    pub group_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<PropertyOption>,
    /// Can never be changed after creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_unique_value: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_order: Option<i32>,
}

/// A property as HubSpot describes it. Types are kept as text: HubSpot's built-ins use values
/// beyond the ones this client creates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Property {
    pub name: String,
    #[serde(default)]
    pub label: String,
    #[serde(default, rename = "type")]
    pub property_type: String,
    #[serde(default)]
    pub field_type: String,
    #[serde(default)]
    pub group_name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub options: Vec<PropertyOption>,
    #[serde(default)]
    pub has_unique_value: bool,
    #[serde(default)]
    pub hidden: bool,
    #[serde(default)]
    pub hubspot_defined: bool,
    #[serde(default)]
    pub archived: bool,
    /// HubSpot computes the value (a calculation, rollup or score).
    #[serde(default)]
    pub calculated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modification_metadata: Option<ModificationMetadata>,
}

impl Property {
    /// Whether an integration can set the property's value: not computed by HubSpot and not
    /// marked `readOnlyValue`.
    pub fn accepts_writes(&self) -> bool {
        !self.calculated
            && !self
                .modification_metadata
                .as_ref()
                .is_some_and(|metadata| metadata.read_only_value)
    }
}

/// What may be changed about a property and its value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModificationMetadata {
    #[serde(default)]
    pub archivable: bool,
    #[serde(default)]
    pub read_only_definition: bool,
    #[serde(default)]
    pub read_only_value: bool,
}

/// The body of `POST /crm/v3/properties/companies/groups`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyGroupCreate {
    pub name: String,
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_order: Option<i32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyGroup {
    pub name: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub display_order: i32,
    #[serde(default)]
    pub archived: bool,
}

/// `{"results": [...]}` answers of the list endpoints.
#[derive(Deserialize)]
pub(crate) struct ResultsList<T> {
    #[serde(default = "Vec::new")]
    pub results: Vec<T>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn property_create_uses_hubspots_names() {
        let create = PropertyCreate {
            name: "warp_status".into(),
            label: "WARP status".into(),
            property_type: PropertyType::Enumeration,
            field_type: FieldType::Select,
            group_name: "warp".into(),
            description: None,
            options: vec![PropertyOption::new("Active", "ACTIVE", 0)],
            has_unique_value: None,
            display_order: None,
        };
        assert_eq!(
            serde_json::to_value(&create).unwrap(),
            serde_json::json!({"name":"warp_status","label":"WARP status","type":"enumeration","fieldType":"select",
                "groupName":"warp","options":[{"label":"Active","value":"ACTIVE","hidden":false,"displayOrder":0}]})
        );
        assert_eq!(
            serde_json::to_value(PropertyType::PhoneNumber).unwrap(),
            "phone_number"
        );
        assert_eq!(
            serde_json::to_value(FieldType::Booleancheckbox).unwrap(),
            "booleancheckbox"
        );
    }
}
