//! Finding, linking and unlinking HubSpot companies: `GET /v1/sync/hubspot/companies/search`
//! (editor: the portal's "link to an existing company" dialog; editors are the ones creating
//! customers, and a search spends the portal's shared 5-per-second search budget, so viewers
//! cannot), `GET` (any role), `POST` and `DELETE /v1/customers/{id}/hubspot-link` (admin).
//! HubSpot calls go through the HubSpot client: 503 when this deployment has none, 502 when
//! HubSpot fails. The user ↔ contact routes ([`crate::contact_links`]) share what is here.

use crate::ApiState;
use crate::auth::{Principal, Role};
use crate::json::uncached_json as json;
use crate::problem::Problem;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;
use warp_domain::customer::{Ban, FieldError};
use warp_hubspot::ObjectType;
use warp_hubspot::search::{Filter, FilterGroup, SearchPage, SearchRequest};
use warp_hubspot::{
    HubSpotClient, HubSpotError, HubSpotId, ReadOptions, RecordLookup,
    WARP_BAN_PROPERTY as WARP_BAN,
};
use warp_store::StoreError;
use warp_store::manual_links::{self, ManualLinkError};
use warp_store::sync_reports::{self, LinkError, Linked};

/// The OpenAPI paths and schemas of this module (merged into the API document).
#[derive(OpenApi)]
#[openapi(
    paths(search_companies, link_company, company_link, unlink_company),
    components(schemas(CompanySearchResult, CompanySearchList, HubSpotLinkInput, HubSpotLinkResponse, LinkState, LinkHold)),
    tags((name = "sync", description = "HubSpot sync conflicts and operations"))
)]
pub(crate) struct Doc;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/sync/hubspot/companies/search", get(search_companies))
        .route(
            "/v1/customers/{id}/hubspot-link",
            post(link_company).get(company_link).delete(unlink_company),
        )
}

const NAME: &str = "name";
const DOMAIN: &str = "domain";
/// Longest search text accepted.
const MAX_QUERY_CHARS: usize = 100;
/// Most results one search answers.
const MAX_SEARCH_LIMIT: u32 = 50;

/// One HubSpot company a search found.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompanySearchResult {
    /// The HubSpot company id.
    pub id: String,
    pub name: Option<String>,
    pub domain: Option<String>,
    pub warp_ban: Option<String>,
    /// The WARP customer linked to this company, if any.
    pub linked_customer_id: Option<Uuid>,
}

/// The companies a search found.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompanySearchList {
    pub items: Vec<CompanySearchResult>,
    /// Matches in HubSpot (more than `items` when over the limit).
    pub total: u64,
}

/// GET /v1/sync/hubspot/companies/search
#[utoipa::path(
    get,
    path = "/v1/sync/hubspot/companies/search",
    tag = "sync",
    params(
        ("q" = String, Query, description = "A BAN (exact match on warp_ban) or text matched against HubSpot's name and domain; no control characters, not blank", min_length = 1, max_length = 100, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"),
        ("limit" = Option<u32>, Query, description = "1 to 50, default 10", minimum = 1, maximum = 50),
    ),
    responses(
        (status = 200, description = "Matching HubSpot companies and the customers linked to them", body = CompanySearchList),
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The editor role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "q or limit is invalid", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "This caller has too many searches outstanding; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Server fault", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "HubSpot failed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No HubSpot configured, or the database is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn search_companies(
    State(state): State<ApiState>,
    principal: Principal,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Editor)?;
    let page = match run_search(
        &state,
        &principal,
        ObjectType::Companies,
        query,
        &COMPANY_SEARCH,
    )
    .await?
    {
        Ok(page) => page,
        Err(refused) => return Ok(refused),
    };
    let ids: Vec<String> = page
        .results
        .iter()
        .map(|company| company.id.as_str().to_owned())
        .collect();
    let linked = sync_reports::customers_linked_to(&state.database, &ids).await?;
    let items = page
        .results
        .iter()
        .map(|company| CompanySearchResult {
            id: company.id.as_str().to_owned(),
            name: company.property(NAME).map(str::to_owned),
            domain: company.property(DOMAIN).map(str::to_owned),
            warp_ban: company.property(WARP_BAN).map(str::to_owned),
            linked_customer_id: linked.get(company.id.as_str()).copied(),
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &CompanySearchList {
            items,
            total: page.total,
        },
    ))
}

/// What a record search looks up: the properties it answers with, and the exact-match filter
/// a query stands for when it is a key (HubSpot's text search does not look at custom
/// properties); any other query is HubSpot's text query.
pub(crate) struct SearchSpec {
    pub properties: &'static [&'static str],
    pub exact: fn(&str) -> Option<Filter>,
}

/// A BAN is an exact `warp_ban` match; anything else is searched in name and domain.
const COMPANY_SEARCH: SearchSpec = SearchSpec {
    properties: &[NAME, DOMAIN, WARP_BAN],
    exact: ban_filter,
};

fn ban_filter(q: &str) -> Option<Filter> {
    let ban = Ban::parse(&q.to_ascii_uppercase()).ok()?;
    Some(Filter::eq(WARP_BAN, ban.as_str()))
}

/// Searches HubSpot's `object` records for the query string (`q`, `limit`), within the
/// caller's share of the search budget: `Ok(Err(response))` when this caller has too many
/// searches outstanding.
pub(crate) async fn run_search(
    state: &ApiState,
    principal: &Principal,
    object: ObjectType,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    spec: &SearchSpec,
) -> Result<Result<SearchPage, Response>, Problem> {
    let Query(pairs) = query
        .map_err(|_| Problem::new(StatusCode::BAD_REQUEST, "the query string is malformed"))?;
    let request = search_request(&pairs, spec)?;
    let reader = match state.hubspot_reader() {
        Some(reader) => reader,
        None => hubspot(state)?,
    };
    let _admitted = match state.search_admission().admit(&principal.subject) {
        Ok(admitted) => admitted,
        Err(refused) => return Ok(Err(refused.into_response())),
    };
    let page = reader
        .objects(object)
        .search_page(&request)
        .await
        .map_err(|error| hubspot_failed(&error, "search"))?;
    Ok(Ok(page))
}

/// The HubSpot search for `q` and `limit` (1 to 50, default 10).
fn search_request(pairs: &[(String, String)], spec: &SearchSpec) -> Result<SearchRequest, Problem> {
    let mut q = None;
    let mut limit = 10;
    let mut errors = Vec::new();
    for (name, value) in pairs {
        match name.as_str() {
            "q" => {
                let text = value.trim();
                if text.is_empty() {
                    errors.push(FieldError::new("q", "must not be empty"));
                } else if text.chars().count() > MAX_QUERY_CHARS {
                    errors.push(FieldError::new(
                        "q",
                        format!("must be at most {MAX_QUERY_CHARS} characters"),
                    ));
                } else if text.chars().any(char::is_control) {
                    errors.push(FieldError::new("q", "must not contain control characters"));
                } else {
                    q = Some(text.to_owned());
                }
            }
            "limit" => match value.trim().parse::<u32>() {
                Ok(n) if (1..=MAX_SEARCH_LIMIT).contains(&n) => limit = n,
                _ => errors.push(FieldError::new(
                    "limit",
                    format!("must be an integer from 1 to {MAX_SEARCH_LIMIT}"),
                )),
            },
            _ => {}
        }
    }
    if q.is_none() && !errors.iter().any(|e| e.field == "q") {
        errors.push(FieldError::new("q", "is required"));
    }
    let Some(q) = q.filter(|_| errors.is_empty()) else {
        return Err(Problem::invalid(errors));
    };
    let mut request = SearchRequest {
        properties: spec.properties.iter().map(|p| (*p).to_owned()).collect(),
        limit,
        ..SearchRequest::default()
    };
    match (spec.exact)(&q) {
        Some(filter) => {
            request.filter_groups = vec![FilterGroup {
                filters: vec![filter],
            }];
        }
        None => request.query = Some(q),
    }
    Ok(request)
}

/// `{"hubspot_company_id": "..."}`; no other field.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // documents the body; parsing is by hand to name the field at fault
pub struct HubSpotLinkInput {
    /// The id of an existing HubSpot company (digits).
    #[schema(pattern = r"^[0-9]{1,19}$")]
    pub hubspot_company_id: String,
}

/// The customer's link after the call.
#[derive(Debug, Serialize, ToSchema)]
pub struct HubSpotLinkResponse {
    pub customer_id: Uuid,
    pub ban: String,
    pub hubspot_company_id: String,
    /// The customer's version after the call.
    pub version: i64,
    /// False when the customer was already linked to this company (nothing changed).
    pub linked_now: bool,
    /// The outbox row of the full push that gives HubSpot warp_ban and every mapped value.
    pub outbox_id: Option<i64>,
}

/// POST /v1/customers/{id}/hubspot-link
#[utoipa::path(
    post,
    path = "/v1/customers/{id}/hubspot-link",
    tag = "sync",
    params(("id" = Uuid, Path, description = "Customer id")),
    request_body(content = HubSpotLinkInput, content_type = "application/json"),
    responses(
        (status = 200, description = "Linked (or already linked to this company); a full push is queued when newly linked", body = HubSpotLinkResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The admin role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The company is linked to another customer or carries another BAN, the customer is linked to another company, or it is deleted", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "hubspot_company_id is invalid or no such company exists in HubSpot", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Server fault", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "HubSpot failed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No HubSpot configured, or the database is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn link_company(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Admin)?;
    let id = crate::ids::path_id(&id)?;
    let value = crate::body::json(body)?;
    let company_id = parse_link_input(&value)?;
    let hubspot = hubspot(&state)?;

    // Cheap refusals first, so they spend none of HubSpot's budget.
    let customer = state.customers().get(id).await?;
    if customer.is_deleted() {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "the customer is deleted",
        ));
    }
    if customer.external_ids.hubspot_company_id.as_deref() != Some(company_id.as_str()) {
        // Checked again under lock when linking; checked here so a refused link never
        // stamps the BAN on a company.
        if let Some(other) = &customer.external_ids.hubspot_company_id {
            return Err(customer_linked_elsewhere(other));
        }
        let holders = sync_reports::customers_linked_to(
            &state.database,
            std::slice::from_ref(&company_id.as_str().to_owned()),
        )
        .await?;
        if let Some(holder) = holders.get(company_id.as_str()) {
            return Err(company_linked_elsewhere(Some(*holder)));
        }
        let company = hubspot
            .companies()
            .get(
                &RecordLookup::Id(company_id.clone()),
                &ReadOptions::properties([WARP_BAN]),
            )
            .await
            .map_err(|error| hubspot_failed(&error, "company read"))?
            .ok_or_else(|| {
                Problem::invalid_field("hubspot_company_id", "no such company in HubSpot")
            })?;
        match company.property(WARP_BAN) {
            Some(ban) if ban == customer.ban.as_str() => {}
            Some(_) => {
                return Err(Problem::new(
                    StatusCode::CONFLICT,
                    "the company carries another customer's BAN",
                ));
            }
            // The worker's pushes are upserts keyed by warp_ban: without the BAN on this
            // company first, the queued push would create a second company instead.
            None => {
                write_key(
                    hubspot,
                    ObjectType::Companies,
                    &company_id,
                    (WARP_BAN, customer.ban.as_str()),
                    "hubspot_company_id",
                    ("company", "customer's BAN"),
                )
                .await?
            }
        }
    }

    let linked = sync_reports::link_customer_to_company(
        &state.database,
        state.portal_id(),
        id,
        company_id.as_str(),
        Some(&principal.actor()),
    )
    .await
    .map_err(|error| match error {
        LinkError::CustomerNotFound => Problem::not_found(),
        LinkError::CustomerDeleted => Problem::new(StatusCode::CONFLICT, "the customer is deleted"),
        LinkError::CompanyLinkedElsewhere { customer_id } => company_linked_elsewhere(customer_id),
        LinkError::CustomerLinkedElsewhere { company_id } => customer_linked_elsewhere(&company_id),
        LinkError::Store(store) => store.into(),
    })?;
    let (customer, outbox_id) = match linked {
        Linked::Already(customer) => (customer, None),
        Linked::New {
            customer,
            outbox_id,
        } => {
            tracing::info!(customer_id = %customer.id, hubspot_company_id = %company_id, outbox_id, "customer linked to a HubSpot company");
            state.publish(outbox_id).await;
            (customer, Some(outbox_id))
        }
    };
    Ok(json(
        StatusCode::OK,
        &HubSpotLinkResponse {
            customer_id: customer.id,
            ban: customer.ban.as_str().to_owned(),
            hubspot_company_id: company_id.as_str().to_owned(),
            version: customer.version,
            linked_now: outbox_id.is_some(),
            outbox_id,
        },
    ))
}

/// A record's link to HubSpot, as `GET` and `DELETE …/hubspot-link` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkState {
    /// The WARP record (a customer id, a user id).
    pub id: Uuid,
    /// The HubSpot record it is linked to; absent when it is not linked.
    pub hubspot_id: Option<String>,
    /// Present when a person unlinked it: its pushes wait until it is linked again.
    pub hold: Option<LinkHold>,
    /// The record's version.
    pub version: i64,
    /// DELETE only: whether this call unlinked it (false: it was not linked, nothing changed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unlinked_now: Option<bool>,
}

/// Who unlinked a record is in the audit log (`GET /v1/audit`); the link shows what and when.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkHold {
    /// The HubSpot record it was unlinked from.
    pub unlinked_from: String,
    pub unlinked_at: chrono::DateTime<chrono::Utc>,
}

impl LinkState {
    pub(crate) fn new(
        id: Uuid,
        hubspot_id: Option<String>,
        hold: Option<manual_links::Hold>,
        version: i64,
    ) -> Self {
        LinkState {
            id,
            hubspot_id,
            hold: hold.map(|hold| LinkHold {
                unlinked_from: hold.hubspot_id,
                unlinked_at: hold.held_at,
            }),
            version,
            unlinked_now: None,
        }
    }
}

/// GET /v1/customers/{id}/hubspot-link
#[utoipa::path(
    get,
    path = "/v1/customers/{id}/hubspot-link",
    tag = "sync",
    params(("id" = Uuid, Path, description = "Customer id")),
    responses(
        (status = 200, description = "The company the customer is linked to, or why it is not", body = LinkState),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Server fault", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn company_link(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    principal.require(Role::Viewer)?;
    let id = crate::ids::path_id(&id)?;
    let customer = state.customers().get(id).await?;
    let hold = manual_links::hold_of(
        &state.database,
        state.portal_id(),
        ObjectType::Companies,
        id,
    )
    .await?;
    Ok(json(
        StatusCode::OK,
        &LinkState::new(
            id,
            customer.external_ids.hubspot_company_id.clone(),
            hold,
            customer.version,
        ),
    ))
}

/// DELETE /v1/customers/{id}/hubspot-link
#[utoipa::path(
    delete,
    path = "/v1/customers/{id}/hubspot-link",
    tag = "sync",
    params(("id" = Uuid, Path, description = "Customer id")),
    responses(
        (status = 200, description = "Unlinked: the company no longer carries the BAN, and the customer's pushes wait until it is linked again (or it was not linked: unlinked_now false)", body = LinkState),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The admin role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The link changed while unlinking, or another unlink of it is under way; read it again", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Server fault", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "HubSpot failed: nothing changed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No HubSpot configured, or the database is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn unlink_company(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    unlink_record(&state, &principal, &id, ObjectType::Companies, WARP_BAN).await
}

/// A person's unlink of the record `id` of `object` ([`manual_links`]): its pushes held, the
/// HubSpot record's `key_property` cleared, the link removed. Any failure releases the hold,
/// so the record is as it was (still linked, pushed as before).
pub(crate) async fn unlink_record(
    state: &ApiState,
    principal: &Principal,
    id: &str,
    object: ObjectType,
    key_property: &str,
) -> Result<Response, Problem> {
    principal.require(Role::Admin)?;
    let id = crate::ids::path_id(id)?;
    let hubspot = hubspot(state)?;
    let actor = principal.actor();
    let portal_id = state.portal_id();
    let (version, linked) = manual_links::hold_for_unlink(&state.database, portal_id, object, id)
        .await
        .map_err(manual_link_problem)?;
    let (version, unlinked_now) = match linked {
        None => (version, false),
        Some((hubspot_id, held_at)) => {
            let unlinked = match clear_key(hubspot, object, &hubspot_id, key_property).await {
                Ok(()) => manual_links::unlink(
                    &state.database,
                    portal_id,
                    object,
                    id,
                    &hubspot_id,
                    &actor,
                )
                .await
                .map_err(manual_link_problem),
                Err(problem) => Err(problem),
            };
            if unlinked.is_err()
                && let Err(error) =
                    manual_links::release_one(&state.database, portal_id, object, id, held_at).await
            {
                tracing::error!(%error, local_id = %id, "could not release an unfinished unlink's hold");
            }
            let version = unlinked?;
            tracing::info!(local_id = %id, object_type = object.as_str(), hubspot_id, "unlinked from HubSpot by a person");
            (version, true)
        }
    };
    let hold = manual_links::hold_of(&state.database, portal_id, object, id).await?;
    let mut answer = LinkState::new(id, None, hold, version);
    answer.unlinked_now = Some(unlinked_now);
    Ok(json(StatusCode::OK, &answer))
}

/// Clears the key property (`warp_ban`, `warp_user_id`) of the HubSpot record a person is
/// unlinking, so no push finds it by that key again. A record HubSpot no longer has needs
/// nothing cleared.
pub(crate) async fn clear_key(
    hubspot: &HubSpotClient,
    object: ObjectType,
    hubspot_id: &str,
    property: &str,
) -> Result<(), Problem> {
    let id = HubSpotId::parse(hubspot_id)
        .map_err(|_| Problem::new(StatusCode::CONFLICT, "the stored link is not a HubSpot id"))?;
    let properties = std::collections::BTreeMap::from([(property.to_owned(), String::new())]);
    match hubspot
        .objects(object)
        .update(&RecordLookup::Id(id), &properties)
        .await
    {
        Ok(_) | Err(HubSpotError::NotFound { .. }) => Ok(()),
        Err(error) => Err(hubspot_failed(&error, "key clearing")),
    }
}

/// The problem for a refused person's link or unlink.
pub(crate) fn manual_link_problem(error: ManualLinkError) -> Problem {
    match error {
        ManualLinkError::NotFound => Problem::not_found(),
        ManualLinkError::LinkedElsewhere(other) => Problem::new(
            StatusCode::CONFLICT,
            format!("it is linked to HubSpot record {other}; unlink it first"),
        ),
        ManualLinkError::TakenBy(holder) => Problem::new(
            StatusCode::CONFLICT,
            format!("the HubSpot record is linked to {holder}"),
        ),
        ManualLinkError::Changed => Problem::new(
            StatusCode::CONFLICT,
            "the link changed meanwhile; read it again",
        ),
        ManualLinkError::UnlinkUnderWay => Problem::new(
            StatusCode::CONFLICT,
            "another unlink of it is under way; read it again in a moment",
        ),
        ManualLinkError::Store(store) => store.into(),
    }
}

fn company_linked_elsewhere(holder: Option<Uuid>) -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        match holder {
            Some(holder) => format!("the company is linked to customer {holder}"),
            None => "the company is linked to another customer".to_owned(),
        },
    )
}

fn customer_linked_elsewhere(company_id: &str) -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        format!("the customer is linked to HubSpot company {company_id}"),
    )
}

/// Writes WARP's key `property` = `value` on the HubSpot record `id` of `object` a person is
/// linking (the customer's BAN on a company, the user's id on a contact). 409 when another
/// record already carries it (the property is unique), 422 naming `field` when HubSpot has no
/// such record. `nouns`: the record and the key, for the messages.
pub(crate) async fn write_key(
    hubspot: &HubSpotClient,
    object: ObjectType,
    id: &HubSpotId,
    (property, value): (&str, &str),
    field: &str,
    nouns: (&str, &str),
) -> Result<(), Problem> {
    let (record, key) = nouns;
    let properties = std::collections::BTreeMap::from([(property.to_owned(), value.to_owned())]);
    match hubspot
        .objects(object)
        .update(&RecordLookup::Id(id.clone()), &properties)
        .await
    {
        Ok(_) => Ok(()),
        Err(HubSpotError::Conflict { .. }) => Err(Problem::new(
            StatusCode::CONFLICT,
            format!("another HubSpot {record} already carries this {key}"),
        )),
        Err(HubSpotError::NotFound { .. }) => Err(Problem::invalid_field(
            field,
            &format!("no such {record} in HubSpot"),
        )),
        Err(error) => Err(hubspot_failed(&error, "key write")),
    }
}

/// `{"hubspot_company_id": "<digits>"}`, nothing else.
fn parse_link_input(body: &serde_json::Value) -> Result<HubSpotId, Problem> {
    parse_hubspot_id_body(body, "hubspot_company_id")
}

/// `{field: "<digits>"}`, nothing else: the body of a link request.
pub(crate) fn parse_hubspot_id_body(
    body: &serde_json::Value,
    field: &str,
) -> Result<HubSpotId, Problem> {
    let Some(object) = body.as_object() else {
        return Err(Problem::invalid_field(
            "body",
            &format!("must be an object with {field}"),
        ));
    };
    if let Some(unknown) = object.keys().find(|k| *k != field) {
        return Err(Problem::invalid_field(unknown, "is not a known field"));
    }
    let Some(text) = object.get(field).and_then(|v| v.as_str()) else {
        return Err(Problem::invalid_field(
            field,
            "is required and must be a string",
        ));
    };
    HubSpotId::parse(text.trim())
        .map_err(|_| Problem::invalid_field(field, "must be 1 to 20 digits"))
}

pub(crate) fn hubspot(state: &ApiState) -> Result<&HubSpotClient, Problem> {
    state.hubspot().ok_or_else(|| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no HubSpot is configured for this deployment",
        )
    })
}

/// 502 for any HubSpot failure. Logs the kind and status only: HubSpot's messages may quote
/// the values it was sent.
pub(crate) fn hubspot_failed(error: &HubSpotError, call: &'static str) -> Problem {
    tracing::warn!(call, status = ?error.status(), retryable = error.is_retryable(), "HubSpot call failed");
    match error {
        HubSpotError::Budget(_) => Problem::from(StoreError::Unavailable("rate budget".into())),
        HubSpotError::Credentials(_) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the HubSpot installation cannot be called now (see GET /v1/hubspot/installations)",
        ),
        _ => Problem::new(
            StatusCode::BAD_GATEWAY,
            format!("HubSpot failed the {call}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_ban_searches_warp_ban_and_text_searches_name_and_domain() {
        let by_ban = search_request(&pairs(&[("q", " zt-487392012 ")]), &COMPANY_SEARCH).unwrap();
        assert_eq!(by_ban.query, None);
        assert_eq!(
            by_ban.filter_groups[0].filters,
            [Filter::eq(WARP_BAN, "ZT-487392012")]
        );
        assert_eq!(by_ban.limit, 10);
        let by_text =
            search_request(&pairs(&[("q", "Acme"), ("limit", "50")]), &COMPANY_SEARCH).unwrap();
        assert_eq!(by_text.query.as_deref(), Some("Acme"));
        assert!(by_text.filter_groups.is_empty());
        assert_eq!(by_text.limit, 50);
        assert!(by_text.properties.iter().any(|p| p == WARP_BAN));
    }

    #[test]
    fn bad_searches_name_the_parameter() {
        for (query, field) in [
            (pairs(&[]), "q"),
            (pairs(&[("q", "   ")]), "q"),
            (pairs(&[("q", &"x".repeat(101))]), "q"),
            (pairs(&[("q", "a\u{0}b")]), "q"),
            (pairs(&[("q", "Acme"), ("limit", "51")]), "limit"),
            (pairs(&[("q", "Acme"), ("limit", "-1")]), "limit"),
        ] {
            let problem = search_request(&query, &COMPANY_SEARCH).unwrap_err();
            assert_eq!(problem.status, 422);
            assert_eq!(problem.errors[0].field, field, "{query:?}");
        }
    }

    #[test]
    fn link_bodies_parse_or_name_the_field_at_fault() {
        assert_eq!(
            parse_link_input(&json!({"hubspot_company_id": "123"}))
                .unwrap()
                .as_str(),
            "123"
        );
        for (body, field) in [
            (json!({}), "hubspot_company_id"),
            (json!({"hubspot_company_id": 123}), "hubspot_company_id"),
            (json!({"hubspot_company_id": "12a"}), "hubspot_company_id"),
            (json!({"hubspot_company_id": ""}), "hubspot_company_id"),
            (json!({"hubspot_company_id": "1", "x": 1}), "x"),
            (json!("123"), "body"),
        ] {
            let problem = parse_link_input(&body).unwrap_err();
            assert_eq!(problem.status, 422, "{body}");
            assert_eq!(problem.errors[0].field, field, "{body}");
        }
    }
}
