//! Handlers of `/crm/pipelines/2026-09/{objectType}` and `/crm/v3/pipelines/{objectType}`:
//! the portal's pipelines and stages. Deals and tickets have them; other object types answer
//! HubSpot's 400.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{InPortal, Kind, parse_body};
use crate::error::ApiError;
use crate::objects::ObjectKind;
use crate::pipelines::{Pipeline, PipelineInput, PipelineKind, Pipelines};
use crate::state::lock;
use crate::time::now_ms;

#[derive(Deserialize)]
pub struct PipelinePath {
    pub pipeline_id: String,
}

fn without_pipelines(kind: ObjectKind) -> ApiError {
    ApiError::validation(format!("Object type {} has no pipelines", kind.name()))
}

fn pipeline_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Pipeline {id} does not exist"))
}

/// Runs `read` on the portal's pipelines of `kind`.
fn with_pipelines<T>(
    portal: &crate::portal::Portal,
    kind: ObjectKind,
    read: impl FnOnce(&mut Pipelines) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let mut store = lock(portal.store(kind));
    let pipelines = store
        .pipelines
        .as_mut()
        .ok_or_else(|| without_pipelines(kind))?;
    read(pipelines)
}

pub async fn list(InPortal(portal): InPortal, Kind(kind): Kind) -> Result<Json<Value>, ApiError> {
    with_pipelines(&portal, kind, |pipelines| {
        let kind = pipelines.kind;
        let results: Vec<Value> = pipelines.all().map(|p| p.to_json(kind)).collect();
        Ok(Json(json!({ "results": results })))
    })
}

/// `render` of the pipeline `pipeline_id`, or HubSpot's 404.
fn one_pipeline(
    portal: &crate::portal::Portal,
    kind: ObjectKind,
    pipeline_id: &str,
    render: impl FnOnce(&Pipeline, PipelineKind) -> Value,
) -> Result<Json<Value>, ApiError> {
    with_pipelines(portal, kind, |pipelines| {
        let pipeline = pipelines
            .get(pipeline_id)
            .ok_or_else(|| pipeline_not_found(pipeline_id))?;
        Ok(Json(render(pipeline, pipelines.kind)))
    })
}

pub async fn read(
    InPortal(portal): InPortal,
    Kind(kind): Kind,
    Path(PipelinePath { pipeline_id }): Path<PipelinePath>,
) -> Result<Json<Value>, ApiError> {
    one_pipeline(&portal, kind, &pipeline_id, Pipeline::to_json)
}

pub async fn stages(
    InPortal(portal): InPortal,
    Kind(kind): Kind,
    Path(PipelinePath { pipeline_id }): Path<PipelinePath>,
) -> Result<Json<Value>, ApiError> {
    one_pipeline(
        &portal,
        kind,
        &pipeline_id,
        |pipeline, kind| json!({ "results": pipeline.stages_json(kind) }),
    )
}

pub async fn create(
    InPortal(portal): InPortal,
    Kind(kind): Kind,
    body: Bytes,
) -> Result<Response, ApiError> {
    let input: PipelineInput = parse_body(&body)?;
    with_pipelines(&portal, kind, |pipelines| {
        let kind = pipelines.kind;
        let created = pipelines.create(input, now_ms())?;
        Ok((StatusCode::CREATED, Json(created.to_json(kind))).into_response())
    })
}
