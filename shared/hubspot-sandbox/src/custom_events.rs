//! Custom events (HubSpot's `/events/custom/2026-09`): event definitions a portal's apps make,
//! and occurrences sent on records. An Enterprise feature: a portal without it answers 403 to
//! every call. Definitions get the portal's fully qualified name (`pe<portal>_<name>`), which a
//! send must use; a send names a record of the definition's primary object that exists, only
//! properties the definition has, and may carry a `uuid`, which HubSpot keeps once: a repeat
//! of a uuid is accepted and not counted again.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ErrorDetail};
use crate::objects::ObjectKind;
use crate::time::iso_millis;

/// The most occurrences one batch send carries.
pub const MAX_BATCH: usize = 500;

/// An event property's type (`ExternalBehavioralEventPropertyCreate.type`).
const PROPERTY_TYPES: [&str; 4] = ["string", "number", "enumeration", "datetime"];

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OptionInput {
    pub label: String,
    pub value: String,
    #[serde(default)]
    pub display_order: i32,
    #[serde(default)]
    pub hidden: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyInput {
    pub label: String,
    #[serde(rename = "type")]
    pub property_type: String,
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub options: Vec<OptionInput>,
}

/// `ExternalBehavioralEventTypeDefinitionEgg`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DefinitionInput {
    pub label: String,
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub primary_object: Option<String>,
    pub include_default_properties: bool,
    pub property_definitions: Vec<PropertyInput>,
}

/// One occurrence to record (`BehavioralEventHttpCompletionRequest`).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendInput {
    pub event_name: String,
    pub object_id: Option<String>,
    pub occurred_at: Option<String>,
    #[serde(default)]
    pub properties: Map<String, Value>,
    pub uuid: Option<String>,
    pub email: Option<String>,
    pub utk: Option<String>,
}

#[derive(Clone, Debug)]
struct EventProperty {
    name: String,
    label: String,
    property_type: String,
    description: String,
    options: Vec<OptionInput>,
}

#[derive(Clone, Debug)]
struct Definition {
    id: String,
    name: String,
    label: String,
    description: String,
    primary_object: ObjectKind,
    properties: Vec<EventProperty>,
    created_at_ms: i64,
}

/// One recorded occurrence (`ExternalUnifiedEvent`).
#[derive(Clone, Debug)]
pub struct Occurrence {
    pub id: String,
    pub event_type: String,
    pub object_type: ObjectKind,
    pub object_id: u64,
    pub occurred_at_ms: i64,
    pub properties: Map<String, Value>,
}

/// A portal's event definitions and the occurrences sent.
#[derive(Debug, Default)]
pub struct CustomEvents {
    definitions: BTreeMap<String, Definition>,
    occurrences: Vec<Occurrence>,
    uuids: HashSet<String>,
    next_id: u64,
}

/// HubSpot's 403 for a portal without custom events.
pub fn not_enterprise() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::FORBIDDEN,
        "MISSING_SCOPES",
        "This portal does not have access to custom events: they need Marketing, Sales, \
         Service or Content Hub Enterprise",
    )
}

fn primary_object(name: Option<&str>) -> Result<ObjectKind, ApiError> {
    match name.unwrap_or("CONTACT") {
        "CONTACT" => Ok(ObjectKind::Contacts),
        "COMPANY" => Ok(ObjectKind::Companies),
        "DEAL" => Ok(ObjectKind::Deals),
        "TICKET" => Ok(ObjectKind::Tickets),
        other => Err(ApiError::validation(format!(
            "primaryObject {other:?} is not one of CONTACT, COMPANY, DEAL, TICKET"
        ))),
    }
}

fn primary_object_name(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Companies => "COMPANY",
        ObjectKind::Deals => "DEAL",
        ObjectKind::Tickets => "TICKET",
        _ => "CONTACT",
    }
}

/// An internal name: lower-case letters, digits and underscores, starting with a letter.
fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && name.len() <= 100
}

impl CustomEvents {
    fn fully_qualified(portal_id: u64, name: &str) -> String {
        format!("pe{portal_id}_{name}")
    }

    pub fn create(
        &mut self,
        portal_id: u64,
        input: DefinitionInput,
        now_ms: i64,
    ) -> Result<Value, ApiError> {
        if input.label.trim().is_empty() {
            return Err(ApiError::validation("An event definition needs a label"));
        }
        let name = input
            .name
            .clone()
            .unwrap_or_else(|| input.label.to_lowercase().replace(' ', "_"));
        if !valid_name(&name) {
            return Err(ApiError::validation(format!(
                "Event name {name:?} must be lower-case letters, digits and underscores, starting with a letter"
            )));
        }
        if self.definitions.contains_key(&name) {
            return Err(ApiError::conflict(format!(
                "An event definition named {name:?} already exists"
            )));
        }
        let mut properties = Vec::new();
        for property in input.property_definitions {
            if !PROPERTY_TYPES.contains(&property.property_type.as_str()) {
                return Err(ApiError::validation(format!(
                    "Property type {:?} is not one of {}",
                    property.property_type,
                    PROPERTY_TYPES.join(", ")
                )));
            }
            let property_name = property
                .name
                .clone()
                .unwrap_or_else(|| property.label.to_lowercase().replace(' ', "_"));
            if !valid_name(&property_name)
                || properties
                    .iter()
                    .any(|p: &EventProperty| p.name == property_name)
            {
                return Err(ApiError::validation(format!(
                    "Property name {property_name:?} is invalid or repeated"
                )));
            }
            if property.property_type == "enumeration" && property.options.is_empty() {
                return Err(ApiError::validation(format!(
                    "Enumeration property {property_name:?} needs options"
                )));
            }
            properties.push(EventProperty {
                name: property_name,
                label: property.label,
                property_type: property.property_type,
                description: property.description.unwrap_or_default(),
                options: property.options,
            });
        }
        self.next_id += 1;
        let definition = Definition {
            id: (4_000_000 + self.next_id).to_string(),
            name: name.clone(),
            label: input.label,
            description: input.description.unwrap_or_default(),
            primary_object: primary_object(input.primary_object.as_deref())?,
            properties,
            created_at_ms: now_ms,
        };
        let body = definition_json(portal_id, &definition);
        self.definitions.insert(name, definition);
        Ok(body)
    }

    pub fn get(&self, portal_id: u64, name: &str) -> Result<Value, ApiError> {
        self.definitions
            .get(name)
            .map(|definition| definition_json(portal_id, definition))
            .ok_or_else(|| ApiError::not_found(format!("Event definition {name:?} does not exist")))
    }

    pub fn list(&self, portal_id: u64) -> Value {
        let results: Vec<Value> = self
            .definitions
            .values()
            .map(|definition| definition_json(portal_id, definition))
            .collect();
        json!({ "total": results.len(), "results": results })
    }

    /// Checks every input against its definition and the portal's records (`exists`), then
    /// records them all, or none.
    pub fn send(
        &mut self,
        portal_id: u64,
        inputs: Vec<SendInput>,
        exists: impl Fn(ObjectKind, u64) -> bool,
        now_ms: i64,
    ) -> Result<(), ApiError> {
        let mut ready = Vec::with_capacity(inputs.len());
        for (index, input) in inputs.into_iter().enumerate() {
            let definition = self
                .definitions
                .values()
                .find(|d| Self::fully_qualified(portal_id, &d.name) == input.event_name)
                .ok_or_else(|| {
                    ApiError::validation(format!(
                        "inputs[{index}]: eventName {:?} is not the fully qualified name of an event definition of this portal",
                        input.event_name
                    ))
                })?;
            let object_id = input
                .object_id
                .as_deref()
                .and_then(|id| id.parse::<u64>().ok())
                .filter(|id| exists(definition.primary_object, *id))
                .ok_or_else(|| {
                    ApiError::validation(format!(
                        "inputs[{index}]: objectId must name an existing {} (email and utk resolve contacts only)",
                        definition.primary_object.singular()
                    ))
                })?;
            let unknown: Vec<ErrorDetail> = input
                .properties
                .keys()
                .filter(|key| !definition.properties.iter().any(|p| &p.name == *key))
                .map(|key| {
                    ErrorDetail::property(
                        format!("Property {key:?} is not defined on {}", definition.name),
                        "PROPERTY_DOESNT_EXIST",
                        key,
                    )
                })
                .collect();
            if !unknown.is_empty() {
                return Err(ApiError::validation(format!(
                    "inputs[{index}]: properties the event does not define"
                ))
                .with_errors(unknown));
            }
            let occurred_at_ms = match &input.occurred_at {
                None => now_ms,
                Some(text) => chrono::DateTime::parse_from_rfc3339(text)
                    .map(|at| at.timestamp_millis())
                    .map_err(|_| {
                        ApiError::validation(format!(
                            "inputs[{index}]: occurredAt {text:?} is not an ISO 8601 time"
                        ))
                    })?,
            };
            ready.push((
                input.uuid,
                Occurrence {
                    id: String::new(),
                    event_type: input.event_name,
                    object_type: definition.primary_object,
                    object_id,
                    occurred_at_ms,
                    properties: input.properties,
                },
            ));
        }
        for (uuid, mut occurrence) in ready {
            if let Some(uuid) = uuid
                && !self.uuids.insert(uuid)
            {
                continue;
            }
            self.next_id += 1;
            occurrence.id = format!("{}", 9_000_000_000u64 + self.next_id);
            self.occurrences.push(occurrence);
        }
        Ok(())
    }

    /// Occurrences, oldest first, filtered as `/events/event-occurrences/2026-09` takes them.
    pub fn occurrences(
        &self,
        object_type: Option<ObjectKind>,
        object_id: Option<u64>,
        event_type: Option<&str>,
    ) -> Vec<Value> {
        self.occurrences
            .iter()
            .filter(|o| object_type.is_none_or(|kind| o.object_type == kind))
            .filter(|o| object_id.is_none_or(|id| o.object_id == id))
            .filter(|o| event_type.is_none_or(|name| o.event_type == name))
            .map(|o| {
                json!({
                    "id": o.id,
                    "eventType": o.event_type,
                    "objectType": o.object_type.singular().to_uppercase(),
                    "objectId": o.object_id.to_string(),
                    "occurredAt": iso_millis(o.occurred_at_ms),
                    "properties": o.properties,
                })
            })
            .collect()
    }
}

fn definition_json(portal_id: u64, definition: &Definition) -> Value {
    let properties: Vec<Value> = definition
        .properties
        .iter()
        .map(|property| {
            json!({
                "name": property.name,
                "label": property.label,
                "type": property.property_type,
                "fieldType": match property.property_type.as_str() {
                    "number" => "number",
                    "enumeration" => "select",
                    "datetime" => "date",
                    _ => "text",
                },
                "groupName": "event_properties",
                "description": property.description,
                "options": property.options.iter().map(|o| json!({
                    "label": o.label, "value": o.value, "displayOrder": o.display_order,
                    "hidden": o.hidden,
                })).collect::<Vec<_>>(),
                "hubspotDefined": false,
                "archived": false,
            })
        })
        .collect();
    json!({
        "id": definition.id,
        "name": definition.name,
        "fullyQualifiedName": CustomEvents::fully_qualified(portal_id, &definition.name),
        "labels": { "singular": definition.label },
        "description": definition.description,
        "primaryObject": primary_object_name(definition.primary_object),
        "objectTypeId": definition.primary_object.type_id(),
        "associations": [],
        "properties": properties,
        "archived": false,
        "trackingType": "MANUAL",
        "createdAt": iso_millis(definition.created_at_ms),
        "updatedAt": iso_millis(definition.created_at_ms),
    })
}
