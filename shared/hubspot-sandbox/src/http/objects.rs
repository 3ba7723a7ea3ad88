//! Handlers of `/crm/v3/objects/{objectType}` and `/crm/objects/2026-09/{objectType}`: CRUD,
//! list, batch, search and merge, for every object type the sandbox serves.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::InPortal;
use super::associations::{InlineAssociation, make_links, plan_links, record_associations};
use super::{Kind, PortalRules, RecordPath};
use super::{QueryParams, parse_body};
use crate::error::ApiError;
use crate::portal::Portal;
use crate::properties::OBJECT_ID;
use crate::search::{self, SearchRequest};
use crate::state::{SandboxState, lock};
use crate::store::{Actor, PropertyValues, ReadShape, Store, not_found};
use crate::time::{iso_millis, now_ms};

/// Batch endpoints take at most this many inputs.
const MAX_BATCH_INPUTS: usize = 100;
const MAX_LIST_LIMIT: usize = 100;
/// HubSpot lowers the per-request maximum when property history is asked for
/// (`propertiesWithHistory` "will reduce the maximum number of companies that can be read by a
/// single request"): 50 on a list page, and the sandbox holds batch reads to the same.
const MAX_WITH_HISTORY: usize = 50;
const DEFAULT_LIST_LIMIT: usize = 10;

type Shared = State<Arc<SandboxState>>;

/// Turns `properties` of a write into strings: HubSpot accepts strings, numbers and booleans;
/// null clears like "".
fn property_values(value: Option<&Value>) -> Result<PropertyValues, ApiError> {
    let Some(value) = value else {
        return Ok(PropertyValues::new());
    };
    let Value::Object(fields) = value else {
        return Err(ApiError::validation("properties must be an object"));
    };
    fields
        .iter()
        .map(|(name, value)| {
            let text = match value {
                Value::String(text) => text.clone(),
                Value::Number(number) => number.to_string(),
                Value::Bool(flag) => flag.to_string(),
                Value::Null => String::new(),
                _ => {
                    return Err(ApiError::validation(format!(
                        "Property {name:?} must be a string, number or boolean"
                    )));
                }
            };
            Ok((name.clone(), text))
        })
        .collect()
}

fn read_shape(query: &QueryParams) -> ReadShape {
    ReadShape {
        properties: query.list("properties"),
        properties_with_history: query.list("propertiesWithHistory").unwrap_or_default(),
        as_of_ms: None,
    }
}

#[derive(Deserialize)]
pub struct SingleInput {
    #[serde(default)]
    properties: Option<Value>,
    /// Records to associate the new one with (a create's `associations`); unused by updates.
    #[serde(default)]
    associations: Option<Vec<InlineAssociation>>,
}

pub async fn create(
    InPortal(state): InPortal,
    Kind(kind): Kind,
    rules: PortalRules,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let input: SingleInput = parse_body(&body)?;
    let values = property_values(input.properties.as_ref())?;
    // Checked before the record is written (and before its store is locked): a create whose
    // associations cannot be made creates nothing.
    let links = plan_links(
        &state,
        kind,
        input.associations.as_deref().unwrap_or_default(),
    )?;
    let (id, rendered) = {
        let mut store = lock(state.store(kind));
        rules.check(&store, &values, None)?;
        let id = store.create(&values, actor, now_ms())?;
        let company = store
            .record(id)
            .ok_or_else(|| not_found(kind, &id.to_string()))?;
        (id, store.render_written(company))
    };
    make_links(&state, actor, (kind, id), &links);
    Ok((StatusCode::CREATED, Json(rendered)).into_response())
}

/// Adds the `associations` member a read asked for with `associations=` to each rendered
/// record (after the store's lock is released: associations are locked after a store).
fn add_associations(
    state: &Portal,
    kind: crate::objects::ObjectKind,
    query: &QueryParams,
    rendered: &mut [(u64, Value)],
) {
    let Some(names) = query.list("associations").filter(|names| !names.is_empty()) else {
        return;
    };
    let all = lock(&state.associations);
    for (id, record) in rendered {
        if let Some(found) = record_associations(&all, (kind, *id), &names) {
            record["associations"] = found;
        }
    }
}

pub async fn read(
    InPortal(state): InPortal,
    Kind(kind): Kind,
    Path(RecordPath {
        object_id: company_id,
    }): Path<RecordPath>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let query = QueryParams::parse(raw.as_deref());
    let archived = query.flag("archived")?;
    let rendered = {
        let store = lock(state.store(kind));
        let found = store
            .resolve_id(&company_id, query.get("idProperty"))?
            .and_then(|id| store.record(id))
            .filter(|company| company.is_archived() == archived)
            .ok_or_else(|| not_found(kind, &company_id))?;
        (found.id, store.render(found, &read_shape(&query)))
    };
    let mut one = [rendered];
    add_associations(&state, kind, &query, &mut one);
    let [(_, rendered)] = one;
    Ok(Json(rendered))
}

pub async fn update(
    InPortal(state): InPortal,
    Kind(kind): Kind,
    rules: PortalRules,
    Extension(actor): Extension<Actor>,
    Path(RecordPath {
        object_id: company_id,
    }): Path<RecordPath>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let query = QueryParams::parse(raw.as_deref());
    let input: SingleInput = parse_body(&body)?;
    let values = property_values(input.properties.as_ref())?;
    let mut store = lock(state.store(kind));
    let id = store
        .resolve_id(&company_id, query.get("idProperty"))?
        .ok_or_else(|| not_found(kind, &company_id))?;
    rules.check(&store, &values, Some(id))?;
    store.update(id, &values, actor, now_ms())?;
    let company = store
        .record(id)
        .ok_or_else(|| not_found(kind, &company_id))?;
    Ok(Json(store.render_written(company)))
}

pub async fn archive(
    InPortal(state): InPortal,
    Kind(kind): Kind,
    Extension(actor): Extension<Actor>,
    Path(RecordPath {
        object_id: company_id,
    }): Path<RecordPath>,
) -> StatusCode {
    let mut store = lock(state.store(kind));
    if let Ok(id) = company_id.trim().parse::<u64>() {
        store.archive(id, actor, now_ms());
    }
    // HubSpot answers 204 whether or not the company existed.
    StatusCode::NO_CONTENT
}

pub async fn list(
    InPortal(state): InPortal,
    Kind(kind): Kind,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let query = QueryParams::parse(raw.as_deref());
    let limit = query.limit(DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT)?;
    let after = query.after()?;
    let archived = query.flag("archived")?;
    let shape = read_shape(&query);
    check_history_limit(&shape, limit, "limit")?;
    let (mut results, next) = {
        let store = lock(state.store(kind));
        let (page, next) = store.list(after, limit, archived);
        let results: Vec<(u64, Value)> = page
            .iter()
            .map(|company| (company.id, store.render(company, &shape)))
            .collect();
        (results, next)
    };
    add_associations(&state, kind, &query, &mut results);
    let results: Vec<Value> = results.into_iter().map(|(_, value)| value).collect();
    let mut answer = json!({ "results": results });
    if let Some(next) = next {
        answer["paging"] =
            json!({ "next": { "after": next.to_string(), "link": format!("?after={next}") } });
    }
    Ok(Json(answer))
}

// ----- batch -----

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchIdInput {
    id: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchReadBody {
    inputs: Vec<BatchIdInput>,
    #[serde(default)]
    properties: Option<Vec<String>>,
    #[serde(default)]
    properties_with_history: Option<Vec<String>>,
    #[serde(default)]
    id_property: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchCreateInput {
    #[serde(default)]
    properties: Option<Value>,
    #[serde(default)]
    associations: Option<Vec<InlineAssociation>>,
    #[serde(default)]
    object_write_trace_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchWriteInput {
    id: Value,
    #[serde(default)]
    id_property: Option<String>,
    #[serde(default)]
    properties: Option<Value>,
    #[serde(default)]
    object_write_trace_id: Option<String>,
}

#[derive(Deserialize)]
pub struct BatchBody<T> {
    inputs: Vec<T>,
}

fn id_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Refuses more than [`MAX_WITH_HISTORY`] companies in one read that asks for history.
fn check_history_limit(shape: &ReadShape, count: usize, what: &str) -> Result<(), ApiError> {
    if shape.properties_with_history.is_empty() || count <= MAX_WITH_HISTORY {
        return Ok(());
    }
    Err(ApiError::validation(format!(
        "Too many {what}: {count}; with propertiesWithHistory a request reads at most {MAX_WITH_HISTORY} companies"
    ))
    .with_context(what, vec![count.to_string()]))
}

fn check_batch_size(count: usize) -> Result<(), ApiError> {
    if count > MAX_BATCH_INPUTS {
        Err(ApiError::validation(format!(
            "Too many inputs: {count}; a batch takes at most {MAX_BATCH_INPUTS}"
        ))
        .with_context("inputs", vec![count.to_string()]))
    } else {
        Ok(())
    }
}

/// Names the input an error belongs to: its id, its position, its trace id.
fn input_error(
    mut error: ApiError,
    index: usize,
    id: Option<&str>,
    trace_id: Option<&str>,
) -> Value {
    error
        .context
        .insert("inputIndex".to_owned(), vec![index.to_string()]);
    if let Some(id) = id {
        error.context.insert("ids".to_owned(), vec![id.to_owned()]);
    }
    if let Some(trace_id) = trace_id {
        error
            .context
            .insert("objectWriteTraceId".to_owned(), vec![trace_id.to_owned()]);
    }
    error.standard_error()
}

fn batch_answer(
    success: StatusCode,
    started_ms: i64,
    results: Vec<Value>,
    errors: Vec<Value>,
) -> Response {
    let mut body = json!({
        "status": "COMPLETE",
        "results": results,
        "requestedAt": iso_millis(started_ms),
        "startedAt": iso_millis(started_ms),
        "completedAt": iso_millis(now_ms()),
    });
    if errors.is_empty() {
        return (success, Json(body)).into_response();
    }
    body["numErrors"] = json!(errors.len());
    body["errors"] = Value::Array(errors);
    (StatusCode::MULTI_STATUS, Json(body)).into_response()
}

pub async fn batch_read(
    InPortal(state): InPortal,
    Kind(kind): Kind,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let started = now_ms();
    let query = QueryParams::parse(raw.as_deref());
    let archived = query.flag("archived")?;
    let input: BatchReadBody = parse_body(&body)?;
    check_batch_size(input.inputs.len())?;
    let shape = ReadShape {
        properties: input.properties.clone(),
        properties_with_history: input.properties_with_history.clone().unwrap_or_default(),
        as_of_ms: None,
    };
    check_history_limit(&shape, input.inputs.len(), "inputs")?;
    let store = lock(state.store(kind));
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for (index, item) in input.inputs.iter().enumerate() {
        let id = id_text(&item.id);
        let found = store
            .resolve_id(&id, input.id_property.as_deref())?
            .and_then(|found| store.record(found))
            .filter(|company| company.is_archived() == archived);
        match found {
            Some(company) => results.push(store.render(company, &shape)),
            None => errors.push(input_error(not_found(kind, &id), index, Some(&id), None)),
        }
    }
    Ok(batch_answer(StatusCode::OK, started, results, errors))
}

pub async fn batch_create(
    InPortal(state): InPortal,
    Kind(kind): Kind,
    rules: PortalRules,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let started = now_ms();
    let input: BatchBody<BatchCreateInput> = parse_body(&body)?;
    check_batch_size(input.inputs.len())?;
    // Each input's associations are checked before its store is locked; an input whose
    // associations cannot be made is an error of its own and creates nothing.
    let planned: Vec<_> = input
        .inputs
        .iter()
        .map(|item| {
            plan_links(
                &state,
                kind,
                item.associations.as_deref().unwrap_or_default(),
            )
        })
        .collect();
    let mut results = Vec::new();
    let mut errors = Vec::new();
    let mut to_link = Vec::new();
    {
        let mut store = lock(state.store(kind));
        for (index, (item, links)) in input.inputs.iter().zip(planned).enumerate() {
            let trace = item.object_write_trace_id.as_deref();
            let created = links.and_then(|links| {
                let values = property_values(item.properties.as_ref())?;
                rules.check(&store, &values, None)?;
                Ok((store.create(&values, actor, now_ms())?, links))
            });
            match created {
                Ok((id, links)) => {
                    if let Some(company) = store.record(id) {
                        let mut rendered = store.render_written(company);
                        if let Some(trace) = trace {
                            rendered["objectWriteTraceId"] = json!(trace);
                        }
                        results.push(rendered);
                    }
                    to_link.push((id, links));
                }
                Err(error) => errors.push(input_error(error, index, None, trace)),
            }
        }
    }
    for (id, links) in to_link {
        make_links(&state, actor, (kind, id), &links);
    }
    Ok(batch_answer(StatusCode::CREATED, started, results, errors))
}

pub async fn batch_update(
    InPortal(state): InPortal,
    Kind(kind): Kind,
    rules: PortalRules,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let started = now_ms();
    let input: BatchBody<BatchWriteInput> = parse_body(&body)?;
    check_batch_size(input.inputs.len())?;
    let mut store = lock(state.store(kind));
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for (index, item) in input.inputs.iter().enumerate() {
        let id = id_text(&item.id);
        let trace = item.object_write_trace_id.as_deref();
        let updated = property_values(item.properties.as_ref()).and_then(|values| {
            let found = store
                .resolve_id(&id, item.id_property.as_deref())?
                .ok_or_else(|| not_found(kind, &id))?;
            rules.check(&store, &values, Some(found))?;
            store.update(found, &values, actor, now_ms())?;
            Ok(found)
        });
        match updated {
            Ok(found) => {
                if let Some(company) = store.record(found) {
                    results.push(store.render_written(company));
                }
            }
            Err(error) => errors.push(input_error(error, index, Some(&id), trace)),
        }
    }
    Ok(batch_answer(StatusCode::OK, started, results, errors))
}

/// Creates or updates one upsert input; `Ok((id, created))`.
fn upsert_one(
    store: &mut Store,
    rules: PortalRules,
    item: &BatchWriteInput,
    actor: Actor,
) -> Result<(u64, bool), ApiError> {
    let id = id_text(&item.id);
    let mut values = property_values(item.properties.as_ref())?;
    let id_property = item.id_property.as_deref().unwrap_or(OBJECT_ID);
    match store.resolve_id(&id, Some(id_property))? {
        Some(existing) => {
            if store.record(existing).is_some_and(|c| c.is_archived()) {
                return Err(ApiError::conflict(format!(
                    "The {} holding {id_property}={id:?} is archived (id {existing}); restore it first",
                    store.kind.singular()
                )));
            }
            rules.check(store, &values, Some(existing))?;
            store.update(existing, &values, actor, now_ms())?;
            Ok((existing, false))
        }
        None if id_property == OBJECT_ID => Err(store.not_found(&id)),
        None => {
            values.insert(id_property.to_owned(), id);
            rules.check(store, &values, None)?;
            Ok((store.create(&values, actor, now_ms())?, true))
        }
    }
}

pub async fn batch_upsert(
    InPortal(state): InPortal,
    Kind(kind): Kind,
    rules: PortalRules,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let started = now_ms();
    let input: BatchBody<BatchWriteInput> = parse_body(&body)?;
    check_batch_size(input.inputs.len())?;
    let mut store = lock(state.store(kind));
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for (index, item) in input.inputs.iter().enumerate() {
        match upsert_one(&mut store, rules, item, actor) {
            Ok((id, created)) => {
                if let Some(company) = store.record(id) {
                    let mut rendered = store.render_written(company);
                    rendered["new"] = json!(created);
                    results.push(rendered);
                }
            }
            Err(error) => errors.push(input_error(
                error,
                index,
                Some(&id_text(&item.id)),
                item.object_write_trace_id.as_deref(),
            )),
        }
    }
    Ok(batch_answer(StatusCode::OK, started, results, errors))
}

pub async fn batch_archive(
    InPortal(state): InPortal,
    Kind(kind): Kind,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let input: BatchBody<BatchIdInput> = parse_body(&body)?;
    check_batch_size(input.inputs.len())?;
    let mut store = lock(state.store(kind));
    for item in &input.inputs {
        if let Ok(id) = id_text(&item.id).trim().parse::<u64>() {
            store.archive(id, actor, now_ms());
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

// ----- search and merge -----

pub async fn search(
    State(sandbox): Shared,
    InPortal(state): InPortal,
    Kind(kind): Kind,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request: SearchRequest = parse_body(&body)?;
    let delay = i64::try_from(sandbox.search_index_delay_ms).unwrap_or(i64::MAX);
    let as_of_ms = now_ms().saturating_sub(delay);
    let store = lock(state.store(kind));
    let page = search::search(&store, &request, as_of_ms)?;
    let shape = ReadShape {
        properties: request.properties.clone(),
        properties_with_history: Vec::new(),
        as_of_ms: Some(as_of_ms),
    };
    let results: Vec<Value> = page
        .ids
        .iter()
        .filter_map(|id| store.record(*id))
        .map(|company| store.render(company, &shape))
        .collect();
    let mut answer = Map::new();
    answer.insert("total".to_owned(), json!(page.total));
    answer.insert("results".to_owned(), Value::Array(results));
    if let Some(next) = page.next_after {
        answer.insert(
            "paging".to_owned(),
            json!({ "next": { "after": next.to_string(), "link": format!("?after={next}") } }),
        );
    }
    Ok(Json(Value::Object(answer)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MergeInput {
    primary_object_id: Value,
    object_id_to_merge: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GdprDeleteInput {
    object_id: Value,
    #[serde(default)]
    id_property: Option<String>,
}

/// `POST .../{objectType}/gdpr-delete` `{objectId, idProperty?}`: the record is deleted for
/// good and a `privacyDeletion` event announced; 204.
pub async fn gdpr_delete(
    InPortal(state): InPortal,
    Kind(kind): Kind,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let input: GdprDeleteInput = parse_body(&body)?;
    let id = id_text(&input.object_id);
    let mut store = lock(state.store(kind));
    let found = store
        .resolve_id(&id, input.id_property.as_deref())?
        .ok_or_else(|| not_found(kind, &id))?;
    store.privacy_delete(found, actor, now_ms());
    Ok(StatusCode::NO_CONTENT)
}

pub async fn merge(
    InPortal(state): InPortal,
    Kind(kind): Kind,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let input: MergeInput = parse_body(&body)?;
    let parse = |value: &Value| {
        let text = id_text(value);
        text.trim()
            .parse::<u64>()
            .map_err(|_| not_found(kind, &text))
    };
    let primary = parse(&input.primary_object_id)?;
    let loser = parse(&input.object_id_to_merge)?;
    let mut store = lock(state.store(kind));
    store.merge(primary, loser, actor, now_ms())?;
    let company = store
        .record(primary)
        .ok_or_else(|| not_found(kind, &primary.to_string()))?;
    Ok(Json(store.render_written(company)))
}
