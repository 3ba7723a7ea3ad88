//! Handlers of `/crm-object-schemas/2026-09/schemas` (and v3): custom object types, for
//! Enterprise portals; and of `/crm/limits/2026-09/custom-object-types`, which every portal may
//! read (its `limit` is 0 without Enterprise: the sandbox's choice, HubSpot documents no value).

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use super::{InPortal, parse_body};
use crate::custom_objects::{CustomSchema, Defined, SchemaCreate, check_name};
use crate::error::ApiError;
use crate::objects::{MAX_CUSTOM_OBJECTS, ObjectKind};
use crate::portal::Portal;
use crate::properties::{PropertyDefinition, PropertyType, check_field_type, check_internal_name};
use crate::state::lock;
use crate::time::now_ms;

/// The 403 of a portal without Enterprise: its app cannot hold the custom object scopes, so
/// HubSpot answers as to any call missing them.
fn not_enterprise() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "MISSING_SCOPES",
        "This app hasn't been granted all required scopes to make this call: custom objects \
         need Marketing, Sales, Service, Content or Data Hub Enterprise \
         (crm.schemas.custom.write)",
    )
}

fn enterprise(portal: &Portal) -> Result<(), ApiError> {
    if portal.is_enterprise() {
        Ok(())
    } else {
        Err(not_enterprise())
    }
}

fn schema_json(portal: &Portal, schema: &CustomSchema) -> Value {
    let store = lock(portal.store(schema.kind()));
    let properties: Vec<&PropertyDefinition> = store.properties.values().collect();
    schema.to_json(portal.portal_id, &properties)
}

fn schema_not_found(object_type: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "OBJECT_NOT_FOUND",
        format!("Unable to find object type {object_type}"),
    )
}

/// The defined schema `object_type` names (`2-…`, `p{portal}_{name}` or `p_{name}`).
fn named(portal: &Portal, object_type: &str) -> Result<CustomSchema, ApiError> {
    let kind = portal
        .object_kind(object_type)
        .filter(|kind| kind.is_custom())
        .ok_or_else(|| schema_not_found(object_type))?;
    let ObjectKind::Custom(slot) = kind else {
        return Err(schema_not_found(object_type));
    };
    lock(&portal.custom_objects)
        .get(slot)
        .cloned()
        .ok_or_else(|| schema_not_found(object_type))
}

pub async fn list(InPortal(portal): InPortal) -> Result<Json<Value>, ApiError> {
    // Listing answers an empty list on any portal (as HubSpot was seen to); creating needs
    // Enterprise.
    let schemas: Vec<CustomSchema> = lock(&portal.custom_objects).all().cloned().collect();
    let results: Vec<Value> = schemas
        .iter()
        .map(|schema| schema_json(&portal, schema))
        .collect();
    Ok(Json(json!({"results": results})))
}

pub async fn read(
    InPortal(portal): InPortal,
    Path(object_type): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let schema = named(&portal, &object_type)?;
    Ok(Json(schema_json(&portal, &schema)))
}

pub async fn create(InPortal(portal): InPortal, body: Bytes) -> Result<Response, ApiError> {
    enterprise(&portal)?;
    let input: SchemaCreate = parse_body(&body)?;
    check_name(&input.name)?;
    let Some(primary) = input.primary_display_property.clone() else {
        return Err(ApiError::validation("primaryDisplayProperty is required")
            .with_sub_category("ObjectSchemaError.PRIMARY_DISPLAY_PROPERTY_REQUIRED"));
    };
    let mut associated = Vec::new();
    for name in &input.associated_objects {
        let kind = portal
            .object_kind(&name.to_lowercase())
            .or_else(|| portal.object_kind(name))
            .ok_or_else(|| {
                ApiError::validation(format!("Unable to infer object type from: {name}"))
            })?;
        associated.push(kind);
    }
    let now = now_ms();
    let mut definitions = Vec::new();
    for property in input.properties {
        check_internal_name(&property.name)?;
        check_field_type(&property.field_type)?;
        if property.property_type == PropertyType::Enumeration && property.options.is_empty() {
            return Err(ApiError::validation(format!(
                "Enumeration property {:?} needs at least one option",
                property.name
            )));
        }
        let create = property.into_create("");
        definitions.push(PropertyDefinition {
            name: create.name,
            label: create.label,
            property_type: create.property_type,
            field_type: create.field_type,
            group_name: create.group_name,
            description: create.description.unwrap_or_default(),
            options: create.options,
            has_unique_value: create.has_unique_value,
            display_order: create.display_order.unwrap_or(-1),
            hidden: false,
            form_field: false,
            hubspot_defined: false,
            read_only_value: false,
            created_at_ms: now,
            updated_at_ms: now,
        });
    }
    let mut registry = lock(&portal.custom_objects);
    let slot = match registry.place(&input.name)? {
        Defined::Existing(existing) => {
            let existing = existing.clone();
            drop(registry);
            return Ok((StatusCode::CREATED, Json(schema_json(&portal, &existing))).into_response());
        }
        Defined::Free(slot) => slot,
    };
    let schema = CustomSchema {
        slot,
        name: input.name.clone(),
        description: input.description,
        singular: input.labels.singular,
        plural: input.labels.plural,
        primary_display_property: primary,
        secondary_display_properties: input.secondary_display_properties,
        searchable_properties: input.searchable_properties,
        required_properties: input.required_properties,
        associated,
        created_at_ms: now,
        updated_at_ms: now,
    };
    {
        let mut store = lock(portal.store(schema.kind()));
        store.define(&schema.name, definitions, &schema.required_properties, now)?;
        let named_properties = std::iter::once(&schema.primary_display_property)
            .chain(&schema.secondary_display_properties)
            .chain(&schema.searchable_properties);
        for property in named_properties {
            if !store.properties.contains_key(property) {
                return Err(ApiError::validation(format!(
                    "{property:?} is not a property of {}",
                    schema.name
                ))
                .with_sub_category(
                    "ObjectSchemasSandboxesSyncErrorType.INVALID_PRIMARY_DISPLAY_PROPERTY",
                ));
            }
        }
    }
    registry.insert(schema.clone());
    drop(registry);
    Ok((StatusCode::CREATED, Json(schema_json(&portal, &schema))).into_response())
}

/// `POST /schemas/{objectType}/associations`: records that the type is associated with
/// another (every pair already has its type; see `custom_objects.rs`).
pub async fn create_association(
    InPortal(portal): InPortal,
    Path(object_type): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    enterprise(&portal)?;
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Egg {
        from_object_type_id: String,
        to_object_type_id: String,
    }
    let schema = named(&portal, &object_type)?;
    let egg: Egg = parse_body(&body)?;
    let resolve = |text: &str| {
        portal
            .object_kind(text)
            .or_else(|| portal.object_kind(&text.to_lowercase()))
            .ok_or_else(|| {
                ApiError::validation(format!("Unable to infer object type from: {text}"))
            })
    };
    let (from, to) = (
        resolve(&egg.from_object_type_id)?,
        resolve(&egg.to_object_type_id)?,
    );
    if from != schema.kind() || to == from {
        return Err(ApiError::validation(format!(
            "An association of {} must lead from it to another object type",
            schema.name
        )));
    }
    let mut registry = lock(&portal.custom_objects);
    let Some(stored) = registry.get_mut(schema.slot) else {
        return Err(schema_not_found(&object_type));
    };
    if !stored.associated.contains(&to) {
        stored.associated.push(to);
        stored.updated_at_ms = now_ms();
    }
    let answer = stored.association_json(from, to);
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `DELETE /schemas/{objectType}`: archives a type without records (HubSpot refuses one with
/// records).
pub async fn archive(
    InPortal(portal): InPortal,
    Path(object_type): Path<String>,
) -> Result<StatusCode, ApiError> {
    enterprise(&portal)?;
    let schema = named(&portal, &object_type)?;
    let mut registry = lock(&portal.custom_objects);
    {
        let mut store = lock(portal.store(schema.kind()));
        if store.active_count() > 0 {
            return Err(ApiError::validation(format!(
                "{} has records: delete them first",
                schema.name
            ))
            .with_sub_category("ObjectSchemaError.EXISTING_OBJECT_RECORDS"));
        }
        store.reset(now_ms());
    }
    registry.remove(schema.slot);
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /crm/limits/2026-09/custom-object-types` (`CustomObjectLimitResponse`).
pub async fn limits(InPortal(portal): InPortal) -> Json<Value> {
    let usage = lock(&portal.custom_objects).count() as u64;
    let limit = if portal.is_enterprise() {
        MAX_CUSTOM_OBJECTS as u64
    } else {
        0
    };
    let percentage = if limit == 0 {
        0.0
    } else {
        usage as f64 * 100.0 / limit as f64
    };
    Json(json!({"limit": limit, "usage": usage, "percentage": percentage}))
}
