//! Handlers of `/crm/v3/properties/companies`: property definitions and property groups.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use super::InPortal;
use super::parse_body;
use super::{GroupPath, Kind, PropertyPath};
use crate::error::ApiError;
use crate::properties::{
    PropertyCreate, PropertyDefinition, PropertyGroup, PropertyGroupCreate, PropertyGroupUpdate,
    PropertyType, PropertyUpdate, check_field_type, check_internal_name,
};
use crate::state::lock;
use crate::store::property_not_found;
use crate::time::now_ms;

fn group_not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("Property group {name} does not exist"))
        .with_context("groupName", vec![name.to_owned()])
}

pub async fn list(InPortal(state): InPortal, Kind(kind): Kind) -> Json<Value> {
    let store = lock(state.store(kind));
    let results: Vec<Value> = store
        .properties
        .values()
        .map(PropertyDefinition::to_json)
        .collect();
    Json(json!({ "results": results }))
}

pub async fn read(
    InPortal(state): InPortal,
    Kind(kind): Kind,
    Path(PropertyPath {
        property_name: name,
    }): Path<PropertyPath>,
) -> Result<Json<Value>, ApiError> {
    let store = lock(state.store(kind));
    store
        .properties
        .get(&name)
        .map(|definition| Json(definition.to_json()))
        .ok_or_else(|| property_not_found(&name))
}

pub async fn create(
    InPortal(state): InPortal,
    Kind(kind): Kind,
    body: Bytes,
) -> Result<Response, ApiError> {
    let input: PropertyCreate = parse_body(&body)?;
    check_internal_name(&input.name)?;
    check_field_type(&input.field_type)?;
    if input.property_type == PropertyType::Enumeration && input.options.is_empty() {
        return Err(ApiError::validation(format!(
            "Enumeration property {:?} needs at least one option",
            input.name
        )));
    }
    let now = now_ms();
    let definition = PropertyDefinition {
        name: input.name,
        label: input.label,
        property_type: input.property_type,
        field_type: input.field_type,
        group_name: input.group_name,
        description: input.description.unwrap_or_default(),
        options: input.options,
        has_unique_value: input.has_unique_value,
        display_order: input.display_order.unwrap_or(-1),
        hidden: input.hidden,
        form_field: input.form_field,
        hubspot_defined: false,
        read_only_value: false,
        created_at_ms: now,
        updated_at_ms: now,
    };
    let answer = definition.to_json();
    lock(state.store(kind)).add_property(definition)?;
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

pub async fn update(
    InPortal(state): InPortal,
    Kind(kind): Kind,
    Path(PropertyPath {
        property_name: name,
    }): Path<PropertyPath>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let input: PropertyUpdate = parse_body(&body)?;
    let mut store = lock(state.store(kind));
    if let Some(group) = &input.group_name
        && !store.groups.contains_key(group)
    {
        return Err(group_not_found(group));
    }
    let definition = store
        .properties
        .get_mut(&name)
        .ok_or_else(|| property_not_found(&name))?;
    if definition.hubspot_defined && definition.read_only_value {
        return Err(ApiError::validation(format!("{name:?} is read-only")));
    }
    if let Some(unique) = input.has_unique_value
        && unique != definition.has_unique_value
    {
        return Err(ApiError::validation(
            "hasUniqueValue cannot be changed after a property is created",
        ));
    }
    if let Some(field_type) = &input.field_type {
        check_field_type(field_type)?;
        definition.field_type.clone_from(field_type);
    }
    if let Some(label) = input.label {
        definition.label = label;
    }
    if let Some(property_type) = input.property_type {
        definition.property_type = property_type;
    }
    if let Some(group) = input.group_name {
        definition.group_name = group;
    }
    if let Some(description) = input.description {
        definition.description = description;
    }
    if let Some(options) = input.options {
        definition.options = options;
    }
    if let Some(order) = input.display_order {
        definition.display_order = order;
    }
    if let Some(hidden) = input.hidden {
        definition.hidden = hidden;
    }
    if let Some(form_field) = input.form_field {
        definition.form_field = form_field;
    }
    definition.updated_at_ms = now_ms();
    Ok(Json(definition.to_json()))
}

pub async fn delete(
    InPortal(state): InPortal,
    Kind(kind): Kind,
    Path(PropertyPath {
        property_name: name,
    }): Path<PropertyPath>,
) -> Result<StatusCode, ApiError> {
    lock(state.store(kind)).remove_property(&name)?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_groups(InPortal(state): InPortal, Kind(kind): Kind) -> Json<Value> {
    let store = lock(state.store(kind));
    let results: Vec<Value> = store.groups.values().map(PropertyGroup::to_json).collect();
    Json(json!({ "results": results }))
}

pub async fn read_group(
    InPortal(state): InPortal,
    Kind(kind): Kind,
    Path(GroupPath { group_name: name }): Path<GroupPath>,
) -> Result<Json<Value>, ApiError> {
    let store = lock(state.store(kind));
    store
        .groups
        .get(&name)
        .map(|group| Json(group.to_json()))
        .ok_or_else(|| group_not_found(&name))
}

pub async fn create_group(
    InPortal(state): InPortal,
    Kind(kind): Kind,
    body: Bytes,
) -> Result<Response, ApiError> {
    let input: PropertyGroupCreate = parse_body(&body)?;
    check_internal_name(&input.name)?;
    let mut store = lock(state.store(kind));
    if store.groups.contains_key(&input.name) {
        return Err(ApiError::already_exists(format!(
            "A property group named '{}' already exists.",
            input.name
        ))
        .with_sub_category("PropertyGroupAlreadyExists"));
    }
    let group = PropertyGroup {
        name: input.name.clone(),
        label: input.label,
        display_order: input.display_order.unwrap_or(-1),
    };
    let answer = group.to_json();
    store.groups.insert(input.name, group);
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

pub async fn update_group(
    InPortal(state): InPortal,
    Kind(kind): Kind,
    Path(GroupPath { group_name: name }): Path<GroupPath>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let input: PropertyGroupUpdate = parse_body(&body)?;
    let mut store = lock(state.store(kind));
    let group = store
        .groups
        .get_mut(&name)
        .ok_or_else(|| group_not_found(&name))?;
    if let Some(label) = input.label {
        group.label = label;
    }
    if let Some(order) = input.display_order {
        group.display_order = order;
    }
    Ok(Json(group.to_json()))
}

pub async fn delete_group(
    InPortal(state): InPortal,
    Kind(kind): Kind,
    Path(GroupPath { group_name: name }): Path<GroupPath>,
) -> Result<StatusCode, ApiError> {
    let mut store = lock(state.store(kind));
    if !store.groups.contains_key(&name) {
        return Err(group_not_found(&name));
    }
    if store.properties.values().any(|p| p.group_name == name) {
        return Err(ApiError::validation(format!(
            "Property group {name} still holds properties; move or delete them first"
        )));
    }
    store.groups.remove(&name);
    Ok(StatusCode::NO_CONTENT)
}
