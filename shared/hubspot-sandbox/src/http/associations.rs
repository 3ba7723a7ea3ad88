//! Handlers of HubSpot's association APIs, v4 and 2026-09: one pair (default, with types,
//! delete), a record's list (v4), and batch create / read / archive / associate-default.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::InPortal;
use super::{QueryParams, parse_body};
use crate::associations::{Associations, End, category_of, labels, type_json, v3_type_name};
use crate::error::ApiError;
use crate::objects::ObjectKind;
use crate::portal::Portal;
use crate::state::lock;
use crate::store::{Actor, not_found};
use crate::time::{iso_millis, now_ms};
use crate::webhooks::EventKind;
use axum::Extension;

type Params = Path<HashMap<String, String>>;

const MAX_BATCH_INPUTS: usize = 100;

fn kind(
    state: &Portal,
    params: &HashMap<String, String>,
    name: &str,
) -> Result<ObjectKind, ApiError> {
    let text = params.get(name).map_or("", String::as_str);
    state
        .object_kind(text)
        .ok_or_else(|| ApiError::validation(format!("Unable to infer object type from: {text}")))
}

/// A record that exists and is not archived, as an association end.
fn end(state: &Portal, kind: ObjectKind, id: &str) -> Result<End, ApiError> {
    let store = lock(state.store(kind));
    id.trim()
        .parse::<u64>()
        .ok()
        .filter(|id| store.record(*id).is_some_and(|r| !r.is_archived()))
        .map(|id| (kind, id))
        .ok_or_else(|| not_found(kind, id))
}

fn pair(
    state: &Portal,
    params: &HashMap<String, String>,
) -> Result<(ObjectKind, ObjectKind), ApiError> {
    Ok((
        kind(state, params, "object_type")?,
        kind(state, params, "to_type")?,
    ))
}

fn spec_json(type_id: u32) -> Value {
    json!({"associationCategory": category_of(type_id), "associationTypeId": type_id})
}

fn default_results(from: End, to: End, forward: u32, inverse: u32) -> Vec<Value> {
    vec![
        json!({"from": {"id": from.1.to_string()}, "to": {"id": to.1.to_string()}, "associationSpec": spec_json(forward)}),
        json!({"from": {"id": to.1.to_string()}, "to": {"id": from.1.to_string()}, "associationSpec": spec_json(inverse)}),
    ]
}

fn batch(status: StatusCode, started: i64, results: Vec<Value>, errors: Vec<Value>) -> Response {
    let mut body = json!({
        "status": "COMPLETE",
        "results": results,
        "startedAt": iso_millis(started),
        "completedAt": iso_millis(now_ms()),
    });
    if errors.is_empty() {
        return (status, Json(body)).into_response();
    }
    body["numErrors"] = json!(errors.len());
    body["errors"] = Value::Array(errors);
    (StatusCode::MULTI_STATUS, Json(body)).into_response()
}

fn pair_json(from: End, to: End, ids: &[u32]) -> Value {
    json!({
        "fromObjectTypeId": from.0.type_id(),
        "fromObjectId": from.1.to_string(),
        "toObjectTypeId": to.0.type_id(),
        "toObjectId": to.1.to_string(),
        "labels": labels(from.0, to.0, ids),
    })
}

/// Creates the default association of a pair, answered with both directions.
/// An association made or removed, announced as HubSpot does: from the contact's side for
/// contact ↔ company (`contact.associationChange`), from the deal's for deal ↔ company and
/// deal ↔ contact (`deal.associationChange`), after every lock is released.
fn announce(state: &Portal, actor: Actor, from: End, to: End, ids: &[u32], removed: bool) {
    use ObjectKind::{Companies, Contacts, Deals};
    let (announcer, other, association_type, primary_types): (End, End, &'static str, &[u32]) =
        match (from.0, to.0) {
            // Type 1 (contact → company) and 2 (company → contact) are the primary company.
            (Contacts, Companies) => (from, to, "CONTACT_TO_COMPANY", &[1, 2]),
            (Companies, Contacts) => (to, from, "CONTACT_TO_COMPANY", &[1, 2]),
            // Type 5 (deal → company) and 6 (company → deal) are the deal's primary company.
            (Deals, Companies) => (from, to, "DEAL_TO_COMPANY", &[5, 6]),
            (Companies, Deals) => (to, from, "DEAL_TO_COMPANY", &[5, 6]),
            (Deals, Contacts) => (from, to, "DEAL_TO_CONTACT", &[]),
            (Contacts, Deals) => (to, from, "DEAL_TO_CONTACT", &[]),
            // A note's associations are announced from neither side: no subscription covers
            // notes, and a company's or deal's associationChange leaves engagements out.
            _ => return,
        };
    let primary = ids.iter().any(|id| primary_types.contains(id));
    lock(state.store(announcer.0)).emit_association_change(
        announcer.1,
        EventKind::AssociationChange {
            association_type,
            to_object_id: other.1,
            removed,
            primary,
        },
        actor,
        now_ms(),
    );
}

fn associate_default(
    state: &Portal,
    actor: Actor,
    from: End,
    to: End,
) -> Result<Vec<Value>, ApiError> {
    let forward = Associations::default_type_id(from.0, to.0)?;
    let inverse = Associations::default_type_id(to.0, from.0)?;
    lock(&state.associations).add(from, to, &[forward]);
    announce(state, actor, from, to, &[forward], false);
    Ok(default_results(from, to, forward, inverse))
}

/// `PUT .../objects/{from}/{id}/associations/default/{to}/{toId}`
pub async fn put_default(
    InPortal(state): InPortal,
    Path(params): Params,
    Extension(actor): Extension<Actor>,
) -> Result<Json<Value>, ApiError> {
    let (from_kind, to_kind) = pair(&state, &params)?;
    let from = end(&state, from_kind, &params["object_id"])?;
    let to = end(&state, to_kind, &params["to_id"])?;
    let started = now_ms();
    let results = associate_default(&state, actor, from, to)?;
    Ok(Json(json!({
        "status": "COMPLETE",
        "results": results,
        "startedAt": iso_millis(started),
        "completedAt": iso_millis(now_ms()),
    })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    association_category: String,
    association_type_id: i64,
}

fn spec_pairs(specs: &[Spec]) -> Vec<(String, i64)> {
    specs
        .iter()
        .map(|s| (s.association_category.clone(), s.association_type_id))
        .collect()
}

/// `PUT .../objects/{from}/{id}/associations/{to}/{toId}` with `[{associationCategory, associationTypeId}]`.
pub async fn put_labeled(
    InPortal(state): InPortal,
    Path(params): Params,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (from_kind, to_kind) = pair(&state, &params)?;
    let specs: Vec<Spec> = parse_body(&body)?;
    let ids = Associations::checked_types(from_kind, to_kind, &spec_pairs(&specs))?;
    let from = end(&state, from_kind, &params["object_id"])?;
    let to = end(&state, to_kind, &params["to_id"])?;
    let now = {
        let mut all = lock(&state.associations);
        all.add(from, to, &ids);
        all.between(from, to)
    };
    announce(&state, actor, from, to, &ids, false);
    Ok((StatusCode::CREATED, Json(pair_json(from, to, &now))).into_response())
}

/// `DELETE .../objects/{from}/{id}/associations/{to}/{toId}`: every type between the two.
pub async fn delete_pair(
    InPortal(state): InPortal,
    Path(params): Params,
    Extension(actor): Extension<Actor>,
) -> Result<StatusCode, ApiError> {
    let (from_kind, to_kind) = pair(&state, &params)?;
    let parse = |name: &str, kind: ObjectKind| {
        params[name]
            .trim()
            .parse::<u64>()
            .map(|id| (kind, id))
            .map_err(|_| not_found(kind, &params[name]))
    };
    let (from, to) = (parse("object_id", from_kind)?, parse("to_id", to_kind)?);
    lock(&state.associations).remove_all(from, to);
    announce(&state, actor, from, to, &[], true);
    Ok(StatusCode::NO_CONTENT)
}

/// A page of `GET .../associations/{toType}` holds at most this many records (the spec's
/// default `limit`).
const MAX_LIST_LIMIT: usize = 500;

/// `GET /crm/v4/objects/{type}/{id}/associations/{toType}?limit=&after=`: the associated
/// records by id, a page at a time; `paging.next.after` is where the next page starts.
pub async fn list_of(
    InPortal(state): InPortal,
    Path(params): Params,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let (from_kind, to_kind) = pair(&state, &params)?;
    let query = QueryParams::parse(raw.as_deref());
    let limit = query.limit(MAX_LIST_LIMIT, MAX_LIST_LIMIT)?;
    let after = query.after()?.unwrap_or(0);
    let from = end(&state, from_kind, &params["object_id"])?;
    let mut associated: Vec<(u64, Vec<u32>)> = lock(&state.associations)
        .of(from, to_kind)
        .into_iter()
        .filter(|(id, _)| *id >= after)
        .collect();
    let next = associated.get(limit).map(|(id, _)| *id);
    associated.truncate(limit);
    let results: Vec<Value> = associated
        .into_iter()
        .map(|(id, ids)| {
            json!({"toObjectId": id.to_string(), "associationTypes": type_json(from_kind, to_kind, &ids)})
        })
        .collect();
    let mut answer = json!({ "results": results });
    if let Some(next) = next {
        answer["paging"] =
            json!({ "next": { "after": next.to_string(), "link": format!("?after={next}") } });
    }
    Ok(Json(answer))
}

/// The `associations` member of a record read with `associations=companies,...`
/// (`SimplePublicObjectWithAssociations`): per object type asked for, the associated ids, one
/// entry per type (`contact_to_company`, `contact_to_company_unlabeled`). Types that name no
/// object type, or hold no association, are left out, as HubSpot ignores them; `None` when
/// nothing is left.
pub(crate) fn record_associations(
    all: &Associations,
    from: End,
    names: &[String],
) -> Option<Value> {
    let mut found = serde_json::Map::new();
    for to_kind in names.iter().filter_map(|name| ObjectKind::from_path(name)) {
        if found.contains_key(to_kind.name()) {
            continue;
        }
        let results: Vec<Value> = all
            .of(from, to_kind)
            .into_iter()
            .flat_map(|(to_id, ids)| {
                ids.into_iter().filter_map(move |id| {
                    v3_type_name(from.0, to_kind, id)
                        .map(|name| json!({"id": to_id.to_string(), "type": name}))
                })
            })
            .collect();
        if !results.is_empty() {
            found.insert(to_kind.name().to_owned(), json!({ "results": results }));
        }
    }
    (!found.is_empty()).then_some(Value::Object(found))
}

/// One entry of the `associations` of a create (`PublicAssociationsForObject`).
#[derive(Deserialize)]
pub(crate) struct InlineAssociation {
    to: ObjectId,
    types: Vec<Spec>,
}

/// An association a create makes once its record exists: the other end and the type ids.
pub(crate) type PlannedLink = (End, Vec<u32>);

/// Checks the `associations` of a create before anything is written: the types must lead from
/// `from_kind` to one object type, and the record they name must exist and be active (a 400
/// otherwise, and no record is created). Takes other stores' locks: call it holding none.
pub(crate) fn plan_links(
    state: &Portal,
    from_kind: ObjectKind,
    inputs: &[InlineAssociation],
) -> Result<Vec<PlannedLink>, ApiError> {
    inputs
        .iter()
        .map(|input| {
            let (to_kind, ids) = Associations::target_of(from_kind, &spec_pairs(&input.types))?;
            let to_id = id_text(&input.to.id);
            let to = end(state, to_kind, &to_id).map_err(|_| {
                ApiError::validation(format!(
                    "Cannot associate the new {} with {} {to_id}: it does not exist",
                    from_kind.singular(),
                    to_kind.singular()
                ))
            })?;
            Ok((to, ids))
        })
        .collect()
}

/// Makes the associations [`plan_links`] checked, from the record just created, and announces
/// them. Takes the associations' and the contacts' locks: call it holding no store's lock.
pub(crate) fn make_links(state: &Portal, actor: Actor, from: End, links: &[PlannedLink]) {
    for (to, ids) in links {
        lock(&state.associations).add(from, *to, ids);
        announce(state, actor, from, *to, ids, false);
    }
}

#[derive(Deserialize)]
struct ObjectId {
    id: Value,
}

fn id_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[derive(Deserialize)]
struct Inputs<T> {
    inputs: Vec<T>,
}

fn check_size(count: usize) -> Result<(), ApiError> {
    if count > MAX_BATCH_INPUTS {
        return Err(ApiError::validation(format!(
            "Too many inputs: {count}; a batch takes at most {MAX_BATCH_INPUTS}"
        )));
    }
    Ok(())
}

fn input_error(error: ApiError, index: usize, id: &str) -> Value {
    error
        .with_context("inputIndex", vec![index.to_string()])
        .with_context("ids", vec![id.to_owned()])
        .standard_error()
}

#[derive(Deserialize)]
struct CreateInput {
    from: ObjectId,
    to: ObjectId,
    types: Vec<Spec>,
}

/// `POST .../associations/{from}/{to}/batch/create`: 201 on v4, 200 on the dated path (as
/// HubSpot's specs say).
pub async fn batch_create(
    InPortal(state): InPortal,
    Path(params): Params,
    Extension(actor): Extension<Actor>,
    uri: axum::http::Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let success = if uri.path().starts_with("/crm/v4/") {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let (from_kind, to_kind) = pair(&state, &params)?;
    let input: Inputs<CreateInput> = parse_body(&body)?;
    check_size(input.inputs.len())?;
    let started = now_ms();
    let (mut results, mut errors) = (Vec::new(), Vec::new());
    for (index, item) in input.inputs.iter().enumerate() {
        let from_id = id_text(&item.from.id);
        let created = Associations::checked_types(from_kind, to_kind, &spec_pairs(&item.types))
            .and_then(|ids| {
                let from = end(&state, from_kind, &from_id)?;
                let to = end(&state, to_kind, &id_text(&item.to.id))?;
                let now = {
                    let mut all = lock(&state.associations);
                    all.add(from, to, &ids);
                    all.between(from, to)
                };
                announce(&state, actor, from, to, &ids, false);
                Ok(pair_json(from, to, &now))
            });
        match created {
            Ok(result) => results.push(result),
            Err(error) => errors.push(input_error(error, index, &from_id)),
        }
    }
    Ok(batch(success, started, results, errors))
}

#[derive(Deserialize)]
struct DefaultInput {
    from: ObjectId,
    to: ObjectId,
}

/// `POST .../associations/{from}/{to}/batch/associate/default`
pub async fn batch_default(
    InPortal(state): InPortal,
    Path(params): Params,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (from_kind, to_kind) = pair(&state, &params)?;
    let input: Inputs<DefaultInput> = parse_body(&body)?;
    check_size(input.inputs.len())?;
    let started = now_ms();
    let (mut results, mut errors) = (Vec::new(), Vec::new());
    for (index, item) in input.inputs.iter().enumerate() {
        let from_id = id_text(&item.from.id);
        let done = end(&state, from_kind, &from_id).and_then(|from| {
            let to = end(&state, to_kind, &id_text(&item.to.id))?;
            associate_default(&state, actor, from, to)
        });
        match done {
            Ok(both) => results.extend(both),
            Err(error) => errors.push(input_error(error, index, &from_id)),
        }
    }
    Ok(batch(StatusCode::OK, started, results, errors))
}

#[derive(Deserialize)]
struct ReadInput {
    id: Value,
}

/// `POST .../associations/{from}/{to}/batch/read`
pub async fn batch_read(
    InPortal(state): InPortal,
    Path(params): Params,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (from_kind, to_kind) = pair(&state, &params)?;
    let input: Inputs<ReadInput> = parse_body(&body)?;
    check_size(input.inputs.len())?;
    let started = now_ms();
    let (mut results, mut errors) = (Vec::new(), Vec::new());
    for (index, item) in input.inputs.iter().enumerate() {
        let id = id_text(&item.id);
        match end(&state, from_kind, &id) {
            Ok(from) => {
                let to: Vec<Value> = lock(&state.associations)
                    .of(from, to_kind)
                    .into_iter()
                    .map(|(to_id, ids)| {
                        json!({"toObjectId": to_id.to_string(), "associationTypes": type_json(from_kind, to_kind, &ids)})
                    })
                    .collect();
                results.push(json!({"from": {"id": id}, "to": to}));
            }
            Err(error) => errors.push(input_error(error, index, &id)),
        }
    }
    Ok(batch(StatusCode::OK, started, results, errors))
}

#[derive(Deserialize)]
struct ArchiveInput {
    from: ObjectId,
    to: Vec<ObjectId>,
}

/// `POST .../associations/{from}/{to}/batch/archive`: 204 whatever existed.
pub async fn batch_archive(
    InPortal(state): InPortal,
    Path(params): Params,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let (from_kind, to_kind) = pair(&state, &params)?;
    let input: Inputs<ArchiveInput> = parse_body(&body)?;
    check_size(input.inputs.len())?;
    let mut removed = Vec::new();
    let mut all = lock(&state.associations);
    for item in &input.inputs {
        let Ok(from) = id_text(&item.from.id).trim().parse::<u64>() else {
            continue;
        };
        for to in &item.to {
            if let Ok(to) = id_text(&to.id).trim().parse::<u64>() {
                all.remove_all((from_kind, from), (to_kind, to));
                removed.push(((from_kind, from), (to_kind, to)));
            }
        }
    }
    drop(all);
    for (from, to) in removed {
        announce(&state, actor, from, to, &[], true);
    }
    Ok(StatusCode::NO_CONTENT)
}
