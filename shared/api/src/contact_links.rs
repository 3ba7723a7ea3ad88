//! Which HubSpot contact a WARP user is, as a person sets it: `GET
//! /v1/sync/hubspot/contacts/search` (editor, within the search budget like the company
//! search), `GET` (any role), `POST` and `DELETE /v1/users/{id}/hubspot-link` (admin). Users
//! sync as contacts to the home portal only, so the links are the home portal's.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;
use warp_domain::user::UserEmail;
use warp_hubspot::search::Filter;
use warp_hubspot::{
    HubSpotClient, HubSpotId, ObjectType, ReadOptions, RecordLookup,
    WARP_USER_ID_PROPERTY as WARP_USER_ID,
};
use warp_store::manual_links::{self, UserLinked};

use crate::ApiState;
use crate::auth::{Principal, Role};
use crate::hubspot_links::{
    LinkState, SearchSpec, clear_key, hubspot, hubspot_failed, manual_link_problem,
    parse_hubspot_id_body, run_search, unlink_record, write_key,
};
use crate::json::uncached_json as json;
use crate::problem::Problem;

/// The OpenAPI paths and schemas of this module (merged into the API document).
#[derive(OpenApi)]
#[openapi(
    paths(search_contacts, user_link, link_user, unlink_user),
    components(schemas(ContactSearchResult, ContactSearchList, ContactLinkInput, ContactLinkResponse)),
    tags((name = "sync", description = "HubSpot sync conflicts and operations"))
)]
pub(crate) struct Doc;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/sync/hubspot/contacts/search", get(search_contacts))
        .route(
            "/v1/users/{id}/hubspot-link",
            post(link_user).get(user_link).delete(unlink_user),
        )
}

const EMAIL: &str = "email";
const FIRST_NAME: &str = "firstname";
const LAST_NAME: &str = "lastname";

/// An email address is an exact match on `email`; anything else is HubSpot's text search
/// (names, email, phone).
const CONTACT_SEARCH: SearchSpec = SearchSpec {
    properties: &[EMAIL, FIRST_NAME, LAST_NAME, WARP_USER_ID],
    exact: email_filter,
};

fn email_filter(q: &str) -> Option<Filter> {
    let email = UserEmail::parse(q).ok()?;
    Some(Filter::eq(EMAIL, email.as_str()))
}

/// One HubSpot contact a search found.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactSearchResult {
    /// The HubSpot contact id.
    pub id: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub warp_user_id: Option<String>,
    /// The WARP user linked to this contact, if any.
    pub linked_user_id: Option<Uuid>,
}

/// The contacts a search found.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactSearchList {
    pub items: Vec<ContactSearchResult>,
    /// Matches in HubSpot (more than `items` when over the limit).
    pub total: u64,
}

/// GET /v1/sync/hubspot/contacts/search
#[utoipa::path(
    get,
    path = "/v1/sync/hubspot/contacts/search",
    tag = "sync",
    params(
        ("q" = String, Query, description = "An email address (exact match) or text matched by HubSpot against names, email and phone; no control characters, not blank", min_length = 1, max_length = 100, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"),
        ("limit" = Option<u32>, Query, description = "1 to 50, default 10", minimum = 1, maximum = 50),
    ),
    responses(
        (status = 200, description = "Matching HubSpot contacts and the users linked to them", body = ContactSearchList),
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
pub(crate) async fn search_contacts(
    State(state): State<ApiState>,
    principal: Principal,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Editor)?;
    let page = match run_search(
        &state,
        &principal,
        ObjectType::Contacts,
        query,
        &CONTACT_SEARCH,
    )
    .await?
    {
        Ok(page) => page,
        Err(refused) => return Ok(refused),
    };
    let ids: Vec<String> = page
        .results
        .iter()
        .map(|contact| contact.id.as_str().to_owned())
        .collect();
    let linked = manual_links::users_linked_to(&state.database, state.portal_id(), &ids).await?;
    let items = page
        .results
        .iter()
        .map(|contact| ContactSearchResult {
            id: contact.id.as_str().to_owned(),
            email: contact.property(EMAIL).map(str::to_owned),
            first_name: contact.property(FIRST_NAME).map(str::to_owned),
            last_name: contact.property(LAST_NAME).map(str::to_owned),
            warp_user_id: contact.property(WARP_USER_ID).map(str::to_owned),
            linked_user_id: linked.get(contact.id.as_str()).copied(),
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &ContactSearchList {
            items,
            total: page.total,
        },
    ))
}

/// `{"hubspot_contact_id": "..."}`; no other field.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // documents the body; parsing is by hand to name the field at fault
pub struct ContactLinkInput {
    /// The id of an existing HubSpot contact (digits).
    #[schema(pattern = r"^[0-9]{1,19}$")]
    pub hubspot_contact_id: String,
}

/// The user's link after the call.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactLinkResponse {
    pub user_id: Uuid,
    pub hubspot_contact_id: String,
    /// The user's version.
    pub version: i64,
    /// False when the user was already linked to this contact (nothing changed).
    pub linked_now: bool,
    /// The outbox row of the full push that gives the contact every mapped value.
    pub outbox_id: Option<i64>,
}

/// GET /v1/users/{id}/hubspot-link
#[utoipa::path(
    get,
    path = "/v1/users/{id}/hubspot-link",
    tag = "sync",
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "The contact the user is linked to, or why it is not", body = LinkState),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The viewer role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Server fault", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn user_link(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    principal.require(Role::Viewer)?;
    let id = crate::ids::path_id(&id)?;
    let portal_id = state.portal_id();
    let current = manual_links::user_link(&state.database, portal_id, id)
        .await
        .map_err(manual_link_problem)?;
    let hold = manual_links::hold_of(&state.database, portal_id, ObjectType::Contacts, id).await?;
    Ok(json(
        StatusCode::OK,
        &LinkState::new(id, current.contact_id, hold, current.user.version),
    ))
}

/// POST /v1/users/{id}/hubspot-link
#[utoipa::path(
    post,
    path = "/v1/users/{id}/hubspot-link",
    tag = "sync",
    params(("id" = Uuid, Path, description = "User id")),
    request_body(content = ContactLinkInput, content_type = "application/json"),
    responses(
        (status = 200, description = "Linked (or already linked to this contact); the contact is given warp_user_id and a full push is queued when newly linked", body = ContactLinkResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The admin role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The contact is linked to another user or carries another user's id, another contact carries this user's id, or the user is linked to another contact", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "hubspot_contact_id is invalid or no such contact exists in HubSpot", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Server fault", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "HubSpot failed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No HubSpot configured, or the database is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn link_user(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    principal.require(Role::Admin)?;
    let id = crate::ids::path_id(&id)?;
    let value = crate::body::json(body)?;
    let contact_id = parse_hubspot_id_body(&value, "hubspot_contact_id")?;
    let hubspot = hubspot(&state)?;
    let portal_id = state.portal_id();

    // Cheap refusals first, so they spend none of HubSpot's budget; checked again under lock.
    let current = manual_links::user_link(&state.database, portal_id, id)
        .await
        .map_err(manual_link_problem)?;
    let mut stamped = false;
    if current.contact_id.as_deref() != Some(contact_id.as_str()) {
        if let Some(other) = current.contact_id {
            return Err(manual_link_problem(
                manual_links::ManualLinkError::LinkedElsewhere(other),
            ));
        }
        let holders = manual_links::users_linked_to(
            &state.database,
            portal_id,
            std::slice::from_ref(&contact_id.as_str().to_owned()),
        )
        .await?;
        if let Some(holder) = holders.get(contact_id.as_str()) {
            return Err(manual_link_problem(manual_links::ManualLinkError::TakenBy(
                *holder,
            )));
        }
        stamped = stamp_user_id(hubspot, &contact_id, id).await?;
    }

    let linked = match manual_links::link_user(
        &state.database,
        portal_id,
        id,
        contact_id.as_str(),
        &principal.actor(),
    )
    .await
    {
        Ok(linked) => linked,
        Err(error) => {
            // The contact must not keep an id this call gave it for a link that was refused.
            if stamped
                && let Err(problem) = clear_key(
                    hubspot,
                    ObjectType::Contacts,
                    contact_id.as_str(),
                    WARP_USER_ID,
                )
                .await
            {
                tracing::error!(status = problem.status, user_id = %id, hubspot_contact_id = %contact_id, "could not take back the user id written to a contact");
            }
            return Err(manual_link_problem(error));
        }
    };
    let (user, outbox_id) = match linked {
        UserLinked::Already(user) => (user, None),
        UserLinked::New { user, outbox_id } => {
            tracing::info!(user_id = %id, hubspot_contact_id = %contact_id, outbox_id, "user linked to a HubSpot contact by a person");
            state.publish(outbox_id).await;
            (user, Some(outbox_id))
        }
    };
    Ok(json(
        StatusCode::OK,
        &ContactLinkResponse {
            user_id: id,
            hubspot_contact_id: contact_id.as_str().to_owned(),
            version: user.version,
            linked_now: outbox_id.is_some(),
            outbox_id,
        },
    ))
}

/// Gives the contact the user's id in `warp_user_id` (the key every later push finds it by),
/// unless it carries it already; answers whether it was written. 422 when HubSpot has no such
/// contact, 409 when it carries another user's id or another contact carries this one (the
/// property is unique).
async fn stamp_user_id(
    hubspot: &HubSpotClient,
    contact_id: &HubSpotId,
    user_id: Uuid,
) -> Result<bool, Problem> {
    let user_id = user_id.to_string();
    let contact = hubspot
        .contacts()
        .get(
            &RecordLookup::Id(contact_id.clone()),
            &ReadOptions::properties([WARP_USER_ID]),
        )
        .await
        .map_err(|error| hubspot_failed(&error, "contact read"))?
        .ok_or_else(|| {
            Problem::invalid_field("hubspot_contact_id", "no such contact in HubSpot")
        })?;
    match contact.property(WARP_USER_ID) {
        Some(carried) if carried == user_id => return Ok(false),
        Some(_) => {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "the contact carries another user's id",
            ));
        }
        None => {}
    }
    write_key(
        hubspot,
        ObjectType::Contacts,
        contact_id,
        (WARP_USER_ID, &user_id),
        "hubspot_contact_id",
        ("contact", "user's id"),
    )
    .await?;
    Ok(true)
}

/// DELETE /v1/users/{id}/hubspot-link
#[utoipa::path(
    delete,
    path = "/v1/users/{id}/hubspot-link",
    tag = "sync",
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "Unlinked: the contact no longer carries the user's id, and the user's pushes wait until it is linked again (or it was not linked: unlinked_now false)", body = LinkState),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The admin role is needed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The link changed while unlinking, or another unlink of it is under way; read it again", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Server fault", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "HubSpot failed: nothing changed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No HubSpot configured, or the database is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer_jwt" = []))
)]
pub(crate) async fn unlink_user(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    unlink_record(&state, &principal, &id, ObjectType::Contacts, WARP_USER_ID).await
}
