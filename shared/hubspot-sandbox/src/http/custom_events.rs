//! Handlers of `/events/custom/2026-09` (event definitions, send, send/batch) and
//! `/events/event-occurrences/2026-09`: custom events, for Enterprise portals only.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{InPortal, parse_body};
use crate::custom_events::{DefinitionInput, MAX_BATCH, SendInput, not_enterprise};
use crate::error::ApiError;
use crate::objects::ObjectKind;
use crate::portal::Portal;
use crate::state::lock;
use crate::time::now_ms;

fn enterprise(portal: &Portal) -> Result<(), ApiError> {
    if portal.is_enterprise() {
        Ok(())
    } else {
        Err(not_enterprise())
    }
}

pub async fn list_definitions(InPortal(portal): InPortal) -> Result<Json<Value>, ApiError> {
    enterprise(&portal)?;
    Ok(Json(lock(&portal.custom_events).list(portal.portal_id)))
}

pub async fn create_definition(
    InPortal(portal): InPortal,
    body: Bytes,
) -> Result<Response, ApiError> {
    enterprise(&portal)?;
    let input: DefinitionInput = parse_body(&body)?;
    let created = lock(&portal.custom_events).create(portal.portal_id, input, now_ms())?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

#[derive(Deserialize)]
pub struct EventPath {
    event_name: String,
}

pub async fn read_definition(
    InPortal(portal): InPortal,
    Path(EventPath { event_name }): Path<EventPath>,
) -> Result<Json<Value>, ApiError> {
    enterprise(&portal)?;
    Ok(Json(
        lock(&portal.custom_events).get(portal.portal_id, &event_name)?,
    ))
}

/// Records `inputs` if every one is valid.
fn record(portal: &Portal, inputs: Vec<SendInput>) -> Result<StatusCode, ApiError> {
    let exists = |kind: ObjectKind, id: u64| {
        lock(portal.store(kind))
            .record(id)
            .is_some_and(|record| !record.is_archived())
    };
    lock(&portal.custom_events).send(portal.portal_id, inputs, exists, now_ms())?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn send(InPortal(portal): InPortal, body: Bytes) -> Result<StatusCode, ApiError> {
    enterprise(&portal)?;
    let input: SendInput = parse_body(&body)?;
    record(&portal, vec![input])
}

#[derive(Deserialize)]
pub struct BatchSend {
    inputs: Vec<SendInput>,
}

pub async fn send_batch(InPortal(portal): InPortal, body: Bytes) -> Result<StatusCode, ApiError> {
    enterprise(&portal)?;
    let batch: BatchSend = parse_body(&body)?;
    if batch.inputs.is_empty() || batch.inputs.len() > MAX_BATCH {
        return Err(ApiError::validation(format!(
            "A batch sends 1 to {MAX_BATCH} events, not {}",
            batch.inputs.len()
        )));
    }
    record(&portal, batch.inputs)
}

/// `GET /events/event-occurrences/2026-09?objectType=&objectId=&eventType=`.
pub async fn occurrences(
    InPortal(portal): InPortal,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let object_type = match query.get("objectType") {
        None => None,
        Some(name) => Some(
            ObjectKind::from_path(&name.to_lowercase())
                .ok_or_else(|| ApiError::validation(format!("Unknown objectType {name:?}")))?,
        ),
    };
    let object_id = match query.get("objectId") {
        None => None,
        Some(id) => Some(
            id.parse::<u64>()
                .map_err(|_| ApiError::validation(format!("objectId {id:?} is not an id")))?,
        ),
    };
    let results = lock(&portal.custom_events).occurrences(
        object_type,
        object_id,
        query.get("eventType").map(String::as_str),
    );
    Ok(Json(json!({ "results": results })))
}
