//! The routes of what a customer has in service (trunks, numbers), one shape for both under
//! `/v1/customers/{id}/<collection>`: create (Idempotency-Key), list (cursor, `status`, and
//! the kind's reference filter), read, merge-patch and release (If-Match). Writes need the
//! editor role; a customer's own token reads its own. Each kind's module documents its routes
//! and calls these.

use axum::body::Bytes;
use axum::extract::Query;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;
use warp_domain::customer::FieldError;
use warp_store::IdempotentRequest;
use warp_store::services::{CreatedItem, ItemQuery, ServiceItem, ServiceStore};

use crate::ApiState;
use crate::auth::{Principal, Role};
use crate::body;
use crate::conventions::{
    PageParams, expected_version, idempotency_key, invalid, json_response, replay, request_hash,
    stored_created,
};
use crate::problem::Problem;

/// A kind of item in service, as the API serves it.
pub(crate) trait Resource: ServiceItem {
    type Response: Serialize;
    type Patch: Send;
    /// The path segment under the customer: `trunks`.
    const COLLECTION: &'static str;
    /// What a list's `status` may ask for.
    const STATUSES: &'static [&'static str];
    /// The query parameter of [`ServiceItem::REFERENCE_COLUMN`], when the kind has one.
    const REFERENCE_PARAM: Option<&'static str>;

    fn response(&self) -> Self::Response;
    fn parse_new(value: &Value) -> Result<Self::New, Vec<FieldError>>;
    fn parse_patch(value: &Value) -> Result<Self::Patch, Vec<FieldError>>;
    fn patched(patch: &Self::Patch, current: &Self) -> Self::Settings;
    fn store(state: &ApiState) -> &ServiceStore<Self>;
}

/// A page of items.
#[derive(Debug, Serialize)]
pub(crate) struct ItemList<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// 403 unless the caller reads every customer (viewer and up) or is the customer itself.
fn require_reader(principal: &Principal, customer_id: Uuid, what: &str) -> Result<(), Problem> {
    match principal.customer_scope {
        Some(own) if own == customer_id => Ok(()),
        Some(_) => Err(Problem::new(
            StatusCode::FORBIDDEN,
            format!("this token reads its own customer's {what} only"),
        )),
        None => principal.require(Role::Viewer),
    }
}

fn location<R: Resource>(item: &R) -> String {
    format!(
        "/v1/customers/{}/{}/{}",
        item.customer_id(),
        R::COLLECTION,
        item.id()
    )
}

fn item_response<R: Resource>(item: &R) -> Response {
    json_response(StatusCode::OK, &item.response(), Some(item.version()))
}

pub(crate) async fn create<R: Resource>(
    state: &ApiState,
    principal: &Principal,
    customer_id: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Editor)?;
    let customer_id = crate::ids::path_id(customer_id)?;
    body::require_json(headers)?;
    let value = body::json(body)?;
    let new = R::parse_new(&value).map_err(invalid)?;
    let route = format!("POST /v1/customers/{customer_id}/{}", R::COLLECTION);
    let idempotency = idempotency_key(headers)?.map(|key| IdempotentRequest {
        principal: principal.subject.clone(),
        key,
        request_hash: request_hash(&route, &value),
    });
    let render = |item: &R| stored_created(&location(item), item.version(), &item.response());
    let idempotency = idempotency
        .as_ref()
        .map(|request| (request, &render as &warp_store::services::Render<R>));
    let store = R::store(state).with_actor(principal.actor());
    match store.create(customer_id, &new, idempotency).await? {
        CreatedItem::New(item, stored) => {
            tracing::info!(id = %item.id(), %customer_id, kind = R::COLLECTION, "created");
            Ok(replay(stored.unwrap_or_else(|| render(&item)), false))
        }
        CreatedItem::Replayed(stored) => Ok(replay(stored, true)),
    }
}

pub(crate) async fn list<R: Resource>(
    state: &ApiState,
    principal: &Principal,
    customer_id: &str,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Problem> {
    let customer_id = crate::ids::path_id(customer_id)?;
    require_reader(principal, customer_id, R::COLLECTION)?;
    let Query(pairs) = query
        .map_err(|_| Problem::new(StatusCode::BAD_REQUEST, "the query string is malformed"))?;
    let mut item_query = ItemQuery::default();
    let mut page = PageParams::default();
    let mut errors = Vec::new();
    for (name, value) in pairs {
        if page.read(&name, &value, &mut errors) {
            continue;
        }
        if name == "status" {
            match R::STATUSES.iter().find(|status| **status == value) {
                Some(status) => item_query.status = Some(status),
                None => errors.push(FieldError::new(
                    "status",
                    format!("must be one of {}", R::STATUSES.join(", ")),
                )),
            }
        } else if R::REFERENCE_PARAM == Some(name.as_str()) {
            match crate::ids::query_id(&name, &value) {
                Ok(id) => item_query.reference = Some(id),
                Err(error) => errors.push(error),
            }
        } else {
            errors.push(FieldError::new(name, "is not a known parameter"));
        }
    }
    if !errors.is_empty() {
        return Err(Problem::invalid(errors));
    }
    (item_query.limit, item_query.after) = (page.limit, page.after);
    let found = R::store(state).list(customer_id, &item_query).await?;
    let body = ItemList {
        items: found.items.iter().map(R::response).collect(),
        next_cursor: found.next_cursor,
    };
    Ok(json_response(StatusCode::OK, &body, None))
}

pub(crate) async fn get<R: Resource>(
    state: &ApiState,
    principal: &Principal,
    (customer_id, id): (&str, &str),
) -> Result<Response, Problem> {
    let (customer_id, id) = (crate::ids::path_id(customer_id)?, crate::ids::path_id(id)?);
    require_reader(principal, customer_id, R::COLLECTION)?;
    let item = R::store(state).get(customer_id, id).await?;
    Ok(item_response(&item))
}

pub(crate) async fn update<R: Resource>(
    state: &ApiState,
    principal: &Principal,
    (customer_id, id): (&str, &str),
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Editor)?;
    let (customer_id, id) = (crate::ids::path_id(customer_id)?, crate::ids::path_id(id)?);
    body::require_json(headers)?;
    let expected = expected_version(headers)?;
    let patch = R::parse_patch(&body::json(body)?).map_err(invalid)?;
    let item = R::store(state)
        .with_actor(principal.actor())
        .update(customer_id, id, expected, |current| {
            R::patched(&patch, current)
        })
        .await?;
    tracing::info!(%id, version = item.version(), kind = R::COLLECTION, "updated");
    Ok(item_response(&item))
}

pub(crate) async fn release<R: Resource>(
    state: &ApiState,
    principal: &Principal,
    (customer_id, id): (&str, &str),
    headers: &HeaderMap,
) -> Result<Response, Problem> {
    principal.require(Role::Editor)?;
    let (customer_id, id) = (crate::ids::path_id(customer_id)?, crate::ids::path_id(id)?);
    let expected = expected_version(headers)?;
    let item = R::store(state)
        .with_actor(principal.actor())
        .release(customer_id, id, expected)
        .await?;
    tracing::info!(%id, kind = R::COLLECTION, "released");
    Ok(item_response(&item))
}
