//! Custom object schemas (`/crm-object-schemas/2026-09/schemas`, Enterprise portals only) and
//! the custom object limit (`/crm/limits/2026-09/custom-object-types`): WARP's `warp_trunk` and
//! `warp_number` types, made once per portal. A schema's name and labels never change after
//! creation, so WARP reads the list first and creates only what is missing.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use warp_domain::service_objects::{PropertySpec, ServiceObject, ValueKind};

use crate::client::{HubSpotClient, Repeatable};
use crate::error::HubSpotError;
use crate::properties::{FieldType, PropertyOption, PropertyType};
use crate::rate_budget::Bucket;

const SCHEMAS: [&str; 3] = ["crm-object-schemas", "2026-09", "schemas"];

/// A custom object type as HubSpot answers it (the part WARP reads).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectSchema {
    /// `2-<id>`: the `{objectType}` of record paths.
    pub object_type_id: String,
    pub fully_qualified_name: String,
    pub name: String,
    #[serde(default)]
    pub properties: Vec<SchemaPropertyName>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct SchemaPropertyName {
    pub name: String,
}

/// How many custom object types the portal may have and has.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
pub struct CustomObjectLimit {
    pub limit: i64,
    pub usage: i64,
}

/// The body of a schema create (`ObjectSchemaEgg`).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaCreate {
    pub name: String,
    pub labels: SchemaLabels,
    pub description: String,
    pub primary_display_property: String,
    pub secondary_display_properties: Vec<String>,
    pub searchable_properties: Vec<String>,
    pub required_properties: Vec<String>,
    pub allows_sensitive_properties: bool,
    pub properties: Vec<SchemaPropertyCreate>,
    /// `COMPANY`, or another custom type's `objectTypeId`.
    pub associated_objects: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SchemaLabels {
    pub singular: String,
    pub plural: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaPropertyCreate {
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub property_type: PropertyType,
    pub field_type: FieldType,
    pub has_unique_value: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<PropertyOption>,
}

/// The schema create of `object`, associated with companies and `also` (a number with the
/// trunk type).
pub fn schema_create(
    object: &ServiceObject,
    properties: &[PropertySpec],
    also: Option<&str>,
) -> SchemaCreate {
    let properties = properties
        .iter()
        .map(|(name, label, kind)| {
            let (property_type, field_type, options) = match kind {
                ValueKind::Text => (PropertyType::String, FieldType::Text, Vec::new()),
                ValueKind::Lines => (PropertyType::String, FieldType::Textarea, Vec::new()),
                ValueKind::Number => (PropertyType::Number, FieldType::Number, Vec::new()),
                ValueKind::Choice(choices) => (
                    PropertyType::Enumeration,
                    FieldType::Select,
                    choices
                        .iter()
                        .enumerate()
                        .map(|(i, (label, value))| PropertyOption::new(*label, *value, i as i32))
                        .collect(),
                ),
            };
            SchemaPropertyCreate {
                name: (*name).to_owned(),
                label: (*label).to_owned(),
                property_type,
                field_type,
                has_unique_value: *name == object.id_property,
                options,
            }
        })
        .collect();
    SchemaCreate {
        name: object.name.to_owned(),
        labels: SchemaLabels {
            singular: object.singular.to_owned(),
            plural: object.plural.to_owned(),
        },
        description: "Written by WARP; WARP's values win over edits made here.".to_owned(),
        primary_display_property: object.display_property.to_owned(),
        secondary_display_properties: vec![object.id_property.to_owned()],
        searchable_properties: vec![
            object.display_property.to_owned(),
            object.id_property.to_owned(),
        ],
        required_properties: vec![object.id_property.to_owned()],
        allows_sensitive_properties: false,
        properties,
        associated_objects: std::iter::once("COMPANY".to_owned())
            .chain(also.map(str::to_owned))
            .collect(),
    }
}

impl HubSpotClient {
    /// `GET /crm/limits/2026-09/custom-object-types`.
    pub async fn custom_object_limit(&self) -> Result<CustomObjectLimit, HubSpotError> {
        self.call(
            Method::GET,
            &["crm", "limits", "2026-09", "custom-object-types"],
            &[],
            None::<&()>,
            Bucket::Default,
            Repeatable::Yes,
        )
        .await
    }

    /// Every custom object type of the portal.
    pub async fn object_schemas(&self) -> Result<Vec<ObjectSchema>, HubSpotError> {
        #[derive(Deserialize)]
        struct List {
            results: Vec<ObjectSchema>,
        }
        let list: List = self
            .call(
                Method::GET,
                &SCHEMAS,
                &[],
                None::<&()>,
                Bucket::Default,
                Repeatable::Yes,
            )
            .await?;
        Ok(list.results)
    }

    /// Creates a custom object type (403 on a portal without custom objects).
    pub async fn create_object_schema(
        &self,
        schema: &SchemaCreate,
    ) -> Result<ObjectSchema, HubSpotError> {
        self.call(
            Method::POST,
            &SCHEMAS,
            &[],
            Some(schema),
            Bucket::Default,
            Repeatable::OnlyIfNotApplied,
        )
        .await
    }
}
