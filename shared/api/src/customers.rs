//! The customer routes: create (with Idempotency-Key), read by id or BAN, list, PATCH, PUT and
//! soft DELETE (If-Match honoured), each answering JSON or a problem document.

use crate::ApiState;
use crate::auth::{Principal, Role};
use crate::body;
use crate::conventions::{
    IdempotencyKeyHeader, IfMatchHeader, PageParams, etag, expected_version, idempotency_key,
    invalid, json_response, replay, request_hash, stored_created,
};
use crate::dto::{CustomerInput, CustomerList, CustomerPatchInput, CustomerResponse};
use crate::problem::Problem;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use warp_domain::customer::{
    Customer, CustomerPatch, CustomerType, FieldError, NewCustomer, Status,
};
use warp_domain::sync::full_push;
use warp_hubspot::HubSpotClient;
use warp_store::customers::LINK_FIELD;
use warp_store::customers::{
    CustomerKey, LinkedCompany, PreCommit, PreCommitFuture, PreCommitRefusal, RenderResponse,
};
use warp_store::sync_config::MappingSource;
use warp_store::{Created, IdempotentRequest, ListQuery, StoreError, StoredResponse, Update};
use warp_sync::adapters::Companies;
use warp_sync::outbound::{self, Answer, Push};

/// POST /v1/customers
#[utoipa::path(
    post,
    path = "/v1/customers",
    tag = "customers",
    request_body(content = CustomerInput, content_type = "application/json"),
    params(IdempotencyKeyHeader),
    responses(
        (status = 201, description = "Created", body = CustomerResponse,
            headers(("Location" = String, description = "/v1/customers/{id}"), ("ETag" = String, description = "\"<version>\""))),
        (status = 400, description = "Malformed JSON or header", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The editor role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A unique value is taken, or a request with this key is in progress", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or the key was used with another body", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Server fault", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Strict create mode: HubSpot refused the company; nothing was stored", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn create_customer(
    State(state): State<ApiState>,
    principal: Principal,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Editor)?;
    body::require_json(&headers)?;
    let value = body::json(body)?;
    let new = NewCustomer::from_json(&value).map_err(invalid)?;
    if new.external_ids.hubspot_company_id.is_some() {
        // A new customer has no link; the link route makes one, with its checks.
        return Err(StoreError::ReadOnlyField(LINK_FIELD).into());
    }
    let idempotency = idempotency_key(&headers)?.map(|key| IdempotentRequest {
        principal: principal.subject.clone(),
        key,
        request_hash: request_hash("POST /v1/customers", &value),
    });
    let render = |customer: &Customer| created_response(customer);
    let idempotency = idempotency
        .as_ref()
        .map(|request| (request, &render as &RenderResponse));
    let created = match state.strict_create() {
        Some(hook) => {
            state
                .customers_for(&principal)
                .create_with_hook(&new, idempotency, hook)
                .await?
        }
        None => {
            state
                .customers_for(&principal)
                .create(&new, idempotency)
                .await?
        }
    };
    match created {
        Created::New(written, stored) => {
            tracing::info!(customer_id = %written.value.id, outbox_id = ?written.outbox_id, "customer created");
            if let Some(outbox_id) = written.outbox_id {
                state.publish(outbox_id).await;
            }
            Ok(replay(
                stored.unwrap_or_else(|| created_response(&written.value)),
                false,
            ))
        }
        Created::Replayed(stored) => {
            tracing::info!("idempotent replay");
            Ok(replay(stored, true))
        }
    }
}

/// Strict create mode (`SYNC_CREATE_MODE=strict`): the new customer's company is upserted in
/// HubSpot, keyed by BAN with every mapped field (the worker's own full push), before the
/// create commits; HubSpot's refusal rolls the create back.
pub(crate) struct StrictCreate {
    hubspot: HubSpotClient,
    mapping: MappingSource,
}

impl StrictCreate {
    pub(crate) fn new(hubspot: HubSpotClient, mapping: MappingSource) -> Self {
        StrictCreate { hubspot, mapping }
    }

    async fn push(&self, customer: &Customer) -> Result<LinkedCompany, PreCommitRefusal> {
        let record = Companies::record(customer);
        let changes = full_push(&*self.mapping.fresh().await, &record.values);
        let push = Push::new(
            &Companies,
            record,
            &Default::default(),
            Vec::new(),
            changes,
            "CREATE".to_owned(),
        );
        let inputs = [push.upsert_input()];
        let result = self.hubspot.companies().batch_upsert(&inputs).await;
        match outbound::answers_by_input(&inputs, &result).pop() {
            Some(Answer::Accepted {
                hubspot_id: company_id,
                written_at,
            }) => Ok(LinkedCompany {
                company_id,
                values: push.pushed_values(),
                written_at,
            }),
            Some(Answer::Refused { error, .. }) => {
                let mut fields: Vec<String> = result
                    .errors
                    .iter()
                    .flat_map(outbound::item_error_properties)
                    .chain(
                        result
                            .failed_calls
                            .iter()
                            .flat_map(|failed| outbound::call_error_properties(&failed.error)),
                    )
                    .map(str::to_owned)
                    .collect();
                fields.sort();
                fields.dedup();
                tracing::warn!(error = %error, "HubSpot refused a strict create");
                Err(PreCommitRefusal {
                    detail: error,
                    fields,
                })
            }
            // Strict mode creates nothing HubSpot does not hold: a portal that needs
            // reconnecting refuses the create as HubSpot would.
            Some(Answer::Waiting { reason }) => Err(PreCommitRefusal {
                detail: reason,
                fields: Vec::new(),
            }),
            None => Err(PreCommitRefusal {
                detail: "HubSpot gave no answer".to_owned(),
                fields: Vec::new(),
            }),
        }
    }
}

impl PreCommit for StrictCreate {
    fn before_commit<'a>(&'a self, customer: &'a Customer) -> PreCommitFuture<'a> {
        Box::pin(self.push(customer))
    }
}

/// GET /v1/customers
#[utoipa::path(
    get,
    path = "/v1/customers",
    tag = "customers",
    params(
        ("q" = Option<String>, Query, description = "Partial, case-insensitive match on name, contact e-mail and domain; exact BAN (empty: no filter)", max_length = 255, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"),
        ("status" = Option<String>, Query, description = "ACTIVE, SUSPENDED or CLOSED; deleted customers are listed only with CLOSED", pattern = "^(ACTIVE|SUSPENDED|CLOSED)$"),
        ("customer_type" = Option<String>, Query, description = "PREPAID, POSTPAID or RESELLER", pattern = "^(PREPAID|POSTPAID|RESELLER)$"),
        ("limit" = Option<u32>, Query, description = "1 to 100, default 20", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page", pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"),
    ),
    responses(
        (status = 200, description = "One page of customers, in creation order", body = CustomerList),
        (status = 400, description = "Malformed query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid filter, limit or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Server fault", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn list_customers(
    State(state): State<ApiState>,
    principal: Principal,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Viewer)?;
    let Query(pairs) = query
        .map_err(|_| Problem::new(StatusCode::BAD_REQUEST, "the query string is malformed"))?;
    let list_query = list_query(&pairs)?;
    let page = state.customers().list(&list_query).await?;
    let body = CustomerList {
        items: page.items.into_iter().map(CustomerResponse::from).collect(),
        next_cursor: page.next_cursor,
    };
    Ok(json_response(StatusCode::OK, &body, None))
}

fn list_query(pairs: &[(String, String)]) -> Result<ListQuery, Problem> {
    let mut query = ListQuery {
        limit: 20,
        ..ListQuery::default()
    };
    let mut errors = Vec::new();
    let mut page = PageParams::default();
    for (name, value) in pairs {
        if page.read(name, value, &mut errors) {
            continue;
        }
        match name.as_str() {
            "q" => {
                // The raw value, as the document's maxLength and pattern describe it.
                let q = value.trim();
                if value.chars().count() > 255 {
                    errors.push(FieldError::new("q", "must be at most 255 characters"));
                } else if value.chars().any(char::is_control) {
                    errors.push(FieldError::new("q", "must not contain control characters"));
                } else {
                    query.q = (!q.is_empty()).then(|| q.to_owned());
                }
            }
            "status" => match Status::parse(value) {
                Ok(status) => query.status = Some(status),
                Err(e) => errors.push(FieldError::new("status", e.to_string())),
            },
            "customer_type" => match CustomerType::parse(value) {
                Ok(customer_type) => query.customer_type = Some(customer_type),
                Err(e) => errors.push(FieldError::new("customer_type", e.to_string())),
            },
            // Unknown parameters are ignored, as most HTTP APIs do for queries.
            _ => {}
        }
    }
    (query.limit, query.after) = (page.limit, page.after);
    if errors.is_empty() {
        Ok(query)
    } else {
        Err(invalid(errors))
    }
}

/// GET /v1/customers/{id}
#[utoipa::path(
    get,
    path = "/v1/customers/{id}",
    tag = "customers",
    params(("id" = Uuid, Path, description = "Customer id")),
    responses(
        (status = 200, description = "The customer (deleted ones too, with deleted_at set)", body = CustomerResponse,
            headers(("ETag" = String, description = "\"<version>\""))),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Server fault", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn get_customer(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    principal.require(Role::Viewer)?;
    customer_with_sync_state(&state, CustomerKey::Id(crate::ids::path_id(&id)?)).await
}

/// GET /v1/customers/by-ban/{ban}
#[utoipa::path(
    get,
    path = "/v1/customers/by-ban/{ban}",
    tag = "customers",
    params(("ban" = String, Path, description = "Billing account number, as the API returns it", example = "ZT-487392012")),
    responses(
        (status = 200, description = "The customer", body = CustomerResponse, headers(("ETag" = String, description = "\"<version>\""))),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Server fault", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn get_customer_by_ban(
    State(state): State<ApiState>,
    principal: Principal,
    Path(ban): Path<String>,
) -> Result<Response, Problem> {
    principal.require(Role::Viewer)?;
    let ban = crate::ids::path_ban(&ban)?;
    customer_with_sync_state(&state, CustomerKey::Ban(&ban)).await
}

/// A single-customer read: the customer plus where its HubSpot sync stands (one query).
async fn customer_with_sync_state(
    state: &ApiState,
    key: CustomerKey<'_>,
) -> Result<Response, Problem> {
    let (customer, sync) = state.customers().get_with_sync_state(key).await?;
    let version = customer.version;
    let mut body = CustomerResponse::from(customer);
    body.sync = Some(sync.into());
    Ok(json_response(StatusCode::OK, &body, Some(version)))
}

/// PATCH /v1/customers/{id}
#[utoipa::path(
    patch,
    path = "/v1/customers/{id}",
    tag = "customers",
    params(
        ("id" = Uuid, Path, description = "Customer id"),
        IfMatchHeader,
    ),
    request_body(content = CustomerPatchInput, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The updated customer", body = CustomerResponse, headers(("ETag" = String, description = "\"<version>\""))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The editor role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The customer is deleted, or a unique value is taken", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Server fault", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn patch_customer(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Editor)?;
    let id = crate::ids::path_id(&id)?;
    body::require_json(&headers)?;
    let value = body::json(body)?;
    let patch = CustomerPatch::from_json(&value).map_err(invalid)?;
    let expected = expected_version(&headers)?;
    let written = state
        .customers_for(&principal)
        .update(id, expected, &Update::Patch(patch))
        .await?;
    tracing::info!(customer_id = %id, version = written.value.version, "customer patched");
    if let Some(outbox_id) = written.outbox_id {
        state.publish(outbox_id).await;
    }
    Ok(customer_response(StatusCode::OK, written.value))
}

/// PUT /v1/customers/{id}
#[utoipa::path(
    put,
    path = "/v1/customers/{id}",
    tag = "customers",
    params(
        ("id" = Uuid, Path, description = "Customer id"),
        IfMatchHeader,
    ),
    request_body(content = CustomerInput, content_type = "application/json",
        description = "Every writable field; absent optional fields are reset, except external_ids which is kept when absent"),
    responses(
        (status = 200, description = "The replaced customer", body = CustomerResponse, headers(("ETag" = String, description = "\"<version>\""))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The editor role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The customer is deleted, or a unique value is taken", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Server fault", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn replace_customer(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Editor)?;
    let id = crate::ids::path_id(&id)?;
    body::require_json(&headers)?;
    let value = body::json(body)?;
    let fields = NewCustomer::from_json(&value).map_err(invalid)?;
    let keep_external_ids = value.get("external_ids").is_none();
    let expected = expected_version(&headers)?;
    let written = state
        .customers_for(&principal)
        .update(
            id,
            expected,
            &Update::Replace {
                fields,
                keep_external_ids,
            },
        )
        .await?;
    tracing::info!(customer_id = %id, version = written.value.version, "customer replaced");
    if let Some(outbox_id) = written.outbox_id {
        state.publish(outbox_id).await;
    }
    Ok(customer_response(StatusCode::OK, written.value))
}

/// DELETE /v1/customers/{id}
#[utoipa::path(
    delete,
    path = "/v1/customers/{id}",
    tag = "customers",
    params(
        ("id" = Uuid, Path, description = "Customer id"),
        IfMatchHeader,
    ),
    responses(
        (status = 204, description = "Closed (a soft delete: status CLOSED and deleted_at set; the customer stays readable at GET /v1/customers/{id}, as billing records must); deleting again is a no-op"),
        (status = 400, description = "If-Match is not an ETag this API writes", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The editor role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Server fault", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn delete_customer(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    principal.require(Role::Editor)?;
    let id = crate::ids::path_id(&id)?;
    let expected = expected_version(&headers)?;
    let written = state
        .customers_for(&principal)
        .soft_delete(id, expected)
        .await?;
    tracing::info!(customer_id = %id, version = written.value.version, "customer deleted");
    if let Some(outbox_id) = written.outbox_id {
        state.publish(outbox_id).await;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::ETAG, etag(written.value.version));
    Ok(response)
}

fn customer_response(status: StatusCode, customer: Customer) -> Response {
    let version = customer.version;
    json_response(status, &CustomerResponse::from(customer), Some(version))
}

/// The 201 answer to a create, in the form kept for idempotent replays.
fn created_response(customer: &Customer) -> StoredResponse {
    // A new customer's only outbox row was written with it: its sync state is exactly
    // "pending", the same answer a read right after the create gives.
    let mut response = CustomerResponse::from(customer.clone());
    response.sync = Some(crate::dto::CustomerSyncResponse::pending_first_push());
    stored_created(
        &format!("/v1/customers/{}", customer.id),
        customer.version,
        &response,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_query_reports_every_bad_parameter() {
        let pairs = vec![
            ("limit".to_owned(), "0".to_owned()),
            ("status".to_owned(), "gone".to_owned()),
            ("cursor".to_owned(), "%%%".to_owned()),
        ];
        let problem = list_query(&pairs).unwrap_err();
        let mut fields: Vec<&str> = problem.errors.iter().map(|e| e.field.as_str()).collect();
        fields.sort();
        assert_eq!(fields, ["cursor", "limit", "status"]);
    }
}
