//! Custom object schemas (HubSpot's `/crm-object-schemas/2026-09/schemas`, Enterprise only): a
//! portal defines up to [`MAX_CUSTOM_OBJECTS`] types, each in a slot whose store holds its
//! records like any other type's. What HubSpot documents is followed (docs/hubspot/
//! PLATFORM-2026.md; the schemas OpenAPI file); where it documents nothing the sandbox chooses,
//! and says so:
//! - creating the exact name again answers 201 with the existing schema, the name in another
//!   case 409 `OBJECT_ALREADY_EXISTS` (as HubSpot was seen to answer; not documented);
//! - a portal without Enterprise answers 403 with its own category `ENTERPRISE_REQUIRED`
//!   (HubSpot's answer is not documented);
//! - every custom type may be associated with every other type (HubSpot asks for a definition
//!   first), by one unlabeled `USER_DEFINED` type each way whose id is derived from the pair.

use serde_json::{Value, json};

use crate::error::ApiError;
use crate::objects::{MAX_CUSTOM_OBJECTS, ObjectKind};
use crate::properties::{PropertyCreate, PropertyDefinition, PropertyType};
use crate::time::iso_millis;

/// One defined custom object type.
#[derive(Clone, Debug)]
pub struct CustomSchema {
    pub slot: u8,
    pub name: String,
    pub description: Option<String>,
    pub singular: String,
    pub plural: String,
    pub primary_display_property: String,
    pub secondary_display_properties: Vec<String>,
    pub searchable_properties: Vec<String>,
    pub required_properties: Vec<String>,
    /// The object types named in `associatedObjects` (or added since).
    pub associated: Vec<ObjectKind>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl CustomSchema {
    pub fn kind(&self) -> ObjectKind {
        ObjectKind::Custom(self.slot)
    }

    /// `p{portal}_{name}`.
    pub fn fully_qualified_name(&self, portal_id: u64) -> String {
        format!("p{portal_id}_{}", self.name)
    }

    /// The `ObjectSchema` of the schemas API, with the type's properties as its store holds
    /// them.
    pub fn to_json(&self, portal_id: u64, properties: &[&PropertyDefinition]) -> Value {
        let kind = self.kind();
        let type_id = kind.type_id();
        let mut schema = json!({
            "id": type_id.trim_start_matches("2-"),
            "objectTypeId": type_id,
            "fullyQualifiedName": self.fully_qualified_name(portal_id),
            "name": self.name,
            "labels": {"singular": self.singular, "plural": self.plural},
            "primaryDisplayProperty": self.primary_display_property,
            "secondaryDisplayProperties": self.secondary_display_properties,
            "searchableProperties": self.searchable_properties,
            "requiredProperties": self.required_properties,
            "allowsSensitiveProperties": false,
            "archived": false,
            "createdAt": iso_millis(self.created_at_ms),
            "updatedAt": iso_millis(self.updated_at_ms),
            "properties": properties.iter().map(|p| p.to_json()).collect::<Vec<_>>(),
            "associations": self.associated.iter().flat_map(|other| {
                [(kind, *other), (*other, kind)].map(|(from, to)| self.association_json(from, to))
            }).collect::<Vec<_>>(),
        });
        // Absent rather than null when none was given (the schema does not allow null).
        if let Some(description) = &self.description {
            schema["description"] = Value::from(description.as_str());
        }
        schema
    }

    /// An `AssociationDefinition` of this type's pair with another.
    pub fn association_json(&self, from: ObjectKind, to: ObjectKind) -> Value {
        let id = custom_association_type(from, to).map_or(0, |(id, _)| id);
        json!({
            "id": id.to_string(),
            "fromObjectTypeId": from.type_id(),
            "toObjectTypeId": to.type_id(),
            "name": format!("{}_to_{}", self.label_of(from), self.label_of(to)),
            "createdAt": iso_millis(self.created_at_ms),
            "updatedAt": iso_millis(self.updated_at_ms),
        })
    }

    fn label_of(&self, kind: ObjectKind) -> String {
        if kind == self.kind() {
            self.name.clone()
        } else {
            kind.singular().to_owned()
        }
    }
}

/// The body of a schema create (`ObjectSchemaEgg`); the members the 2026-09 file lists as
/// required beyond these are accepted when absent, as HubSpot was seen to do.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaCreate {
    pub name: String,
    pub labels: Labels,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub primary_display_property: Option<String>,
    #[serde(default)]
    pub secondary_display_properties: Vec<String>,
    #[serde(default)]
    pub searchable_properties: Vec<String>,
    #[serde(default)]
    pub required_properties: Vec<String>,
    #[serde(default)]
    pub properties: Vec<SchemaProperty>,
    #[serde(default)]
    pub associated_objects: Vec<String>,
}

#[derive(Debug, serde::Deserialize)]
pub struct Labels {
    pub singular: String,
    pub plural: String,
}

/// A property of a schema create: a property create whose group is the type's own.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaProperty {
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub property_type: PropertyType,
    pub field_type: String,
    #[serde(default)]
    pub has_unique_value: bool,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub options: Vec<crate::properties::PropertyOption>,
    #[serde(default)]
    pub display_order: Option<i32>,
}

impl SchemaProperty {
    pub fn into_create(self, group: &str) -> PropertyCreate {
        PropertyCreate {
            name: self.name,
            label: self.label,
            property_type: self.property_type,
            field_type: self.field_type,
            group_name: group.to_owned(),
            description: self.description,
            options: self.options,
            has_unique_value: self.has_unique_value,
            display_order: self.display_order,
            hidden: false,
            form_field: false,
        }
    }
}

/// A portal's custom object types, by slot.
#[derive(Debug, Default)]
pub struct CustomObjects {
    schemas: [Option<CustomSchema>; MAX_CUSTOM_OBJECTS],
}

/// What a create found.
pub enum Defined<'a> {
    /// A schema of this exact name exists: HubSpot answers it again.
    Existing(&'a CustomSchema),
    /// A free slot for the new type.
    Free(u8),
}

impl CustomObjects {
    pub fn all(&self) -> impl Iterator<Item = &CustomSchema> {
        self.schemas.iter().flatten()
    }

    pub fn get(&self, slot: u8) -> Option<&CustomSchema> {
        self.schemas.get(usize::from(slot))?.as_ref()
    }

    pub fn get_mut(&mut self, slot: u8) -> Option<&mut CustomSchema> {
        self.schemas.get_mut(usize::from(slot))?.as_mut()
    }

    /// The type a path names: its `objectTypeId`, `p{portal}_{name}` or `p_{name}` (HubSpot no
    /// longer takes the bare name).
    pub fn resolve(&self, portal_id: u64, text: &str) -> Option<ObjectKind> {
        if let Some(ObjectKind::Custom(slot)) = ObjectKind::from_path(text) {
            return self.get(slot).map(CustomSchema::kind);
        }
        let prefix = format!("p{portal_id}_");
        let name = text
            .strip_prefix(&prefix)
            .or_else(|| text.strip_prefix("p_"))?;
        self.all()
            .find(|schema| schema.name == name)
            .map(CustomSchema::kind)
    }

    /// Where a create of `name` goes: the existing schema of that exact name, or a free slot;
    /// 409 for the name in another case, 400 when every slot is taken.
    pub fn place(&self, name: &str) -> Result<Defined<'_>, ApiError> {
        if let Some(existing) = self.all().find(|schema| schema.name == name) {
            return Ok(Defined::Existing(existing));
        }
        if let Some(other) = self
            .all()
            .find(|schema| schema.name.eq_ignore_ascii_case(name))
        {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "OBJECT_ALREADY_EXISTS",
                format!("{name} already exists (as {})", other.name),
            )
            .with_sub_category("InboundDbObjectTypeError.OBJECT_TYPE_ALREADY_EXIST"));
        }
        self.schemas
            .iter()
            .position(Option::is_none)
            .map(|slot| Defined::Free(slot as u8))
            .ok_or_else(|| {
                ApiError::validation(format!(
                    "This portal already has the most custom object types ({MAX_CUSTOM_OBJECTS})"
                ))
            })
    }

    pub fn insert(&mut self, schema: CustomSchema) {
        let slot = usize::from(schema.slot);
        self.schemas[slot] = Some(schema);
    }

    pub fn remove(&mut self, slot: u8) {
        if let Some(entry) = self.schemas.get_mut(usize::from(slot)) {
            *entry = None;
        }
    }

    pub fn count(&self) -> usize {
        self.all().count()
    }

    pub fn clear(&mut self) {
        *self = CustomObjects::default();
    }
}

/// Refuses a name HubSpot refuses: letters, digits and `_`, a letter first, at most 50.
pub fn check_name(name: &str) -> Result<(), ApiError> {
    let valid = name.len() <= 50
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "Invalid object type name {name:?}: letters, digits and underscores, starting with a letter, at most 50"
        ))
        .with_sub_category("InboundDbObjectTypeError.OBJECT_TYPE_NAME_FORMAT"))
    }
}

/// Every object type a custom pair may name, in a fixed order: the pair's ids derive from it.
fn position(kind: ObjectKind) -> u32 {
    match kind {
        ObjectKind::Custom(slot) => ObjectKind::ALL.len() as u32 + u32::from(slot),
        standard => ObjectKind::ALL
            .iter()
            .position(|k| *k == standard)
            .map_or(0, |p| p as u32),
    }
}

/// The unlabeled type from `from` to `to` when either is a custom type, and its inverse:
/// `(id, inverse)`. The pair's lower type (by [`ObjectKind`]'s order; standard types come
/// first) to the higher has the even id, the other way the odd one.
pub fn custom_association_type(from: ObjectKind, to: ObjectKind) -> Option<(u32, u32)> {
    if from == to {
        return None;
    }
    let (low, high) = if from < to { (from, to) } else { (to, from) };
    let ObjectKind::Custom(slot) = high else {
        return None;
    };
    let base = 1000 + 100 * u32::from(slot) + 2 * position(low);
    Some(if from == low {
        (base, base + 1)
    } else {
        (base + 1, base)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_custom_pair_has_one_type_each_way_each_the_others_inverse() {
        let trunk = ObjectKind::Custom(0);
        let number = ObjectKind::Custom(1);
        for other in ObjectKind::ALL.into_iter().chain([number]) {
            let (there, back) = custom_association_type(trunk, other).unwrap();
            assert_eq!(custom_association_type(other, trunk), Some((back, there)));
            assert_ne!(there, back);
        }
        assert_eq!(
            custom_association_type(ObjectKind::Companies, ObjectKind::Contacts),
            None
        );
        let mut ids: Vec<u32> = ObjectKind::custom_slots()
            .flat_map(|c| ObjectKind::ALL.map(|s| custom_association_type(c, s).unwrap().0))
            .collect();
        let count = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), count, "every pair has its own ids");
    }

    #[test]
    fn names_follow_hubspot_s_rules() {
        assert!(check_name("warp_trunk").is_ok());
        for bad in ["", "1trunk", "warp-trunk", "warp trunk", &"a".repeat(51)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
