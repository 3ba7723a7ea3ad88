//! HubSpot's OAuth routes: the consent page (`/oauth/authorize`), the token endpoints (dated,
//! form body only, and v1), access-token info, introspection, revocation and the app's own
//! uninstall; plus `/_sandbox/oauth` to read the counters and set the faults.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::oauth::{AccessTokenState, OAuthCounters, TokenRefusal};
use crate::state::{SandboxState, lock};
use crate::time::now_ms;

type Shared = State<Arc<SandboxState>>;

/// The authorize request's parameters, as HubSpot's install URL carries them.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct AuthorizeParams {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    optional_scope: String,
    #[serde(default)]
    state: String,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

/// The consent page, or why the install link is wrong.
pub async fn authorize_page(
    State(state): Shared,
    Query(params): Query<AuthorizeParams>,
) -> Response {
    if let Err(problem) = check_authorize(&state, &params) {
        return (StatusCode::BAD_REQUEST, Html(error_page(problem))).into_response();
    }
    let hidden = [
        ("client_id", &params.client_id),
        ("redirect_uri", &params.redirect_uri),
        ("scope", &params.scope),
        ("optional_scope", &params.optional_scope),
        ("state", &params.state),
    ]
    .into_iter()
    .chain(
        params
            .code_challenge
            .as_ref()
            .map(|c| ("code_challenge", c)),
    )
    .chain(
        params
            .code_challenge_method
            .as_ref()
            .map(|m| ("code_challenge_method", m)),
    )
    .map(|(name, value)| {
        format!(
            r#"<input type="hidden" name="{name}" value="{}">"#,
            escape(value)
        )
    })
    .collect::<String>();
    let scopes = params
        .scope
        .split_whitespace()
        .map(|scope| format!("<li>{}</li>", escape(scope)))
        .collect::<String>();
    Html(format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Connect app - HubSpot sandbox</title></head>
<body><main><h1>Connect the app to a HubSpot account</h1>
<p>The app asks for these scopes:</p><ul>{scopes}</ul>
<form method="post" action="/oauth/authorize">{hidden}
<label>HubSpot account (portal id) <input type="number" min="1" name="portal_id" id="portal_id" value="{portal}" required></label>
<button type="submit" name="decision" value="approve" id="approve">Connect app</button>
<button type="submit" name="decision" value="deny" id="deny">Cancel</button>
</form></main></body></html>"#,
        portal = state.portal_id,
    ))
    .into_response()
}

#[derive(Debug, Deserialize)]
pub struct Decision {
    #[serde(flatten)]
    params: AuthorizeParams,
    decision: String,
    /// The account the person picked; the home portal when left out.
    #[serde(default)]
    portal_id: Option<String>,
}

/// The person's answer: back to the app with a code, or with `error=access_denied`.
pub async fn authorize_decision(
    State(state): Shared,
    axum::Form(form): axum::Form<Decision>,
) -> Response {
    let params = form.params;
    if let Err(problem) = check_authorize(&state, &params) {
        return (StatusCode::BAD_REQUEST, Html(error_page(problem))).into_response();
    }
    let Ok(mut target) = url::Url::parse(&params.redirect_uri) else {
        return (
            StatusCode::BAD_REQUEST,
            Html(error_page("redirect_uri is not a URL")),
        )
            .into_response();
    };
    {
        let mut query = target.query_pairs_mut();
        if form.decision == "approve" {
            let portal_id = match form.portal_id.as_deref().map(str::trim) {
                None | Some("") => state.portal_id,
                Some(text) => match text.parse::<u64>() {
                    Ok(id) => id,
                    Err(_) => {
                        return (
                            StatusCode::BAD_REQUEST,
                            Html(error_page("portal_id must be a HubSpot account id")),
                        )
                            .into_response();
                    }
                },
            };
            if let Err(refused) = state.portal_or_create(portal_id, None) {
                return (
                    StatusCode::BAD_REQUEST,
                    Html(error_page(&refused.to_string())),
                )
                    .into_response();
            }
            let scopes = params.scope.split_whitespace().map(str::to_owned).collect();
            let code = lock(&state.oauth).issue_code(
                portal_id,
                &params.redirect_uri,
                scopes,
                params.code_challenge.clone(),
                now_ms(),
            );
            query.append_pair("code", &code);
        } else {
            query.append_pair("error", "access_denied");
            query.append_pair("error_description", "The user declined to connect the app");
        }
        if !params.state.is_empty() {
            query.append_pair("state", &params.state);
        }
    }
    Redirect::to(target.as_str()).into_response()
}

fn check_authorize(state: &SandboxState, params: &AuthorizeParams) -> Result<(), &'static str> {
    if params.client_id != lock(&state.oauth).client_id {
        return Err("Unknown client_id: this app does not exist");
    }
    match url::Url::parse(&params.redirect_uri) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => {}
        _ => return Err("redirect_uri must be an http(s) URL"),
    }
    if params.scope.split_whitespace().next().is_none() {
        return Err("scope is required");
    }
    match params.code_challenge_method.as_deref() {
        None | Some("S256") => Ok(()),
        Some(_) => Err("code_challenge_method must be S256"),
    }
}

fn error_page(problem: &str) -> String {
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Error - HubSpot sandbox</title></head><body><main><h1>This app could not be connected</h1><p role="alert">{}</p></main></body></html>"#,
        escape(problem)
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The token request's form body.
#[derive(Debug, Default, Deserialize)]
pub struct TokenRequest {
    #[serde(default)]
    grant_type: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
}

/// `POST /oauth/2026-09/token`: every parameter in the form body; the dated endpoint refuses
/// them in the query.
pub async fn token_dated(State(state): Shared, RawQuery(query): RawQuery, body: Bytes) -> Response {
    if query.is_some_and(|q| !q.is_empty()) {
        return token_error(
            "BAD_REQUEST",
            "invalid_request",
            "parameters must be sent in the request body, not the query",
            true,
        );
    }
    token(&state, &body, true)
}

/// `POST /oauth/v1/token` (deprecated 2027-02-16).
pub async fn token_v1(State(state): Shared, body: Bytes) -> Response {
    token(&state, &body, false)
}

fn token(state: &SandboxState, body: &[u8], dated: bool) -> Response {
    let Ok(request) = serde_urlencoded::from_bytes::<TokenRequest>(body) else {
        return token_error(
            "BAD_REQUEST",
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
            dated,
        );
    };
    let client = (request.client_id.as_str(), request.client_secret.as_str());
    let now = now_ms();
    if request.grant_type == "client_credentials" {
        let answer = lock(&state.oauth).issue_app_token(
            client,
            request.scope.as_deref().unwrap_or_default(),
            now,
        );
        return match answer {
            Ok(answer) => Json(answer).into_response(),
            Err(refusal) => refusal_response(refusal, dated),
        };
    }
    let answer = {
        let mut oauth = lock(&state.oauth);
        match request.grant_type.as_str() {
            "authorization_code" => oauth.exchange_code(
                client,
                request.code.as_deref().unwrap_or_default(),
                request.redirect_uri.as_deref().unwrap_or_default(),
                request.code_verifier.as_deref(),
                now,
            ),
            "refresh_token" => oauth.refresh(
                client,
                request.refresh_token.as_deref().unwrap_or_default(),
                now,
            ),
            _ => Err(TokenRefusal::BadGrantType),
        }
    };
    match answer {
        Ok(answer) => Json(answer).into_response(),
        Err(refusal) => refusal_response(refusal, dated),
    }
}

fn refusal_response(refusal: TokenRefusal, dated: bool) -> Response {
    match refusal {
        TokenRefusal::BadClient => token_error(
            "BAD_CLIENT_ID",
            "invalid_client",
            "missing or invalid client_id or client_secret",
            dated,
        ),
        TokenRefusal::BadAuthCode(why) => token_error("BAD_AUTH_CODE", "invalid_grant", why, dated),
        TokenRefusal::BadRefreshToken => token_error(
            "BAD_REFRESH_TOKEN",
            "invalid_grant",
            "missing or unknown refresh token",
            dated,
        ),
        TokenRefusal::BadGrantType => token_error(
            "BAD_GRANT_TYPE",
            "unsupported_grant_type",
            "grant_type must be authorization_code, refresh_token or client_credentials",
            dated,
        ),
    }
}

/// HubSpot's 400: `status` and `message`, plus OAuth's `error` on the dated endpoints.
fn token_error(status: &str, error: &str, message: &str, dated: bool) -> Response {
    let mut body = json!({
        "status": status,
        "message": message,
        "correlationId": uuid::Uuid::new_v4().to_string(),
    });
    if dated {
        body["error"] = json!(error);
        body["error_description"] = json!(message);
    }
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// `GET /oauth/v1/access-tokens/{token}`: who a live access token belongs to.
pub async fn access_token_info(State(state): Shared, Path(token): Path<String>) -> Response {
    match lock(&state.oauth).access_token_info(&token, now_ms()) {
        Some(info) => Json(json!({
            "token": token,
            "user": "admin@warp-sandbox.example",
            "hub_domain": format!("warp-sandbox-{}.hubspot.com", info.hub_id),
            "scopes": info.scopes,
            "hub_id": info.hub_id,
            "app_id": state.app_id,
            "expires_in": info.expires_in_ms.div_ceil(1000),
            "user_id": 1,
            "token_type": "access",
        }))
        .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"status": "error", "message": "Token not found or expired"})),
        )
            .into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    token: String,
}

/// `POST /oauth/2026-09/token/introspect`.
pub async fn introspect(State(state): Shared, body: Bytes) -> Response {
    let form: TokenForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let oauth = lock(&state.oauth);
    match oauth.access_token_info(&form.token, now_ms()) {
        Some(info) => Json(json!({
            "active": true,
            "hub_id": info.hub_id,
            "app_id": state.app_id,
            "scopes": info.scopes,
            "expires_in": info.expires_in_ms.div_ceil(1000),
            "token_type": "access",
        }))
        .into_response(),
        None => Json(json!({"active": false})).into_response(),
    }
}

/// `POST /oauth/2026-09/token/revoke`: a refresh token and its access tokens end.
pub async fn revoke_dated(State(state): Shared, body: Bytes) -> StatusCode {
    let form: TokenForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    // RFC 7009: an unknown token is not an error.
    lock(&state.oauth).revoke_refresh_token(&form.token);
    StatusCode::OK
}

/// `DELETE /oauth/v1/refresh-tokens/{token}`.
pub async fn revoke_v1(State(state): Shared, Path(token): Path<String>) -> StatusCode {
    if lock(&state.oauth).revoke_refresh_token(&token) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

/// `DELETE /appinstalls/2026-09/external-install`: the app removes itself from the portal that
/// its (valid) access token belongs to.
pub async fn uninstall(State(state): Shared, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    let mut oauth = lock(&state.oauth);
    let AccessTokenState::Valid(portal_id) = oauth.access_token_state(token, now_ms()) else {
        return crate::error::ApiError::unauthorized().into_response();
    };
    oauth.uninstall(Some(portal_id));
    StatusCode::NO_CONTENT.into_response()
}

/// What `/_sandbox/oauth` shows and takes.
#[derive(Debug, Serialize)]
pub struct OAuthControl {
    client_id: String,
    refuse_refresh: bool,
    counters: OAuthCounters,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthControlInput {
    refuse_refresh: Option<bool>,
    access_token_ttl_ms: Option<u64>,
}

pub async fn read_control(State(state): Shared) -> Json<OAuthControl> {
    Json(control_of(&state))
}

pub async fn set_control(
    State(state): Shared,
    body: Bytes,
) -> Result<Json<OAuthControl>, crate::error::ApiError> {
    let input: OAuthControlInput = super::parse_body(&body)?;
    {
        let mut oauth = lock(&state.oauth);
        if let Some(refuse) = input.refuse_refresh {
            oauth.refuse_refresh = refuse;
        }
        if let Some(ttl) = input.access_token_ttl_ms {
            oauth.set_access_token_ttl_ms(ttl);
        }
    }
    Ok(Json(control_of(&state)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UninstallInput {
    portal_id: Option<u64>,
}

/// Someone removed the app in one portal's settings (`{"portal_id": N}`), or in every portal
/// (no body): those grants end.
pub async fn uninstall_from_ui(
    State(state): Shared,
    body: Bytes,
) -> Result<StatusCode, crate::error::ApiError> {
    let input: UninstallInput = if body.is_empty() {
        UninstallInput::default()
    } else {
        super::parse_body(&body)?
    };
    lock(&state.oauth).uninstall(input.portal_id);
    Ok(StatusCode::NO_CONTENT)
}

fn control_of(state: &SandboxState) -> OAuthControl {
    let oauth = lock(&state.oauth);
    OAuthControl {
        client_id: oauth.client_id.clone(),
        refuse_refresh: oauth.refuse_refresh,
        counters: oauth.counters.clone(),
    }
}
