//! The sync console (`/console`): a page for operations and sales, as static files compiled
//! into the binary (no build step), under the same strict Content-Security-Policy as the
//! connect page. It calls the API with the caller's own token, held in the page's memory only.
//!
//! Sign-in: `GET /console/config.json` tells the page how. Locally (`warp dev`, HS256 keys) a
//! dev sign-in mints a token for a chosen role (`POST /console/dev-sign-in`); that route does
//! not exist anywhere else.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use secrecy::SecretString;
use serde::Serialize;
use serde_json::Value;
use warp_domain::customer::FieldError;

use crate::conventions::json_response;
use crate::web_assets::asset;
use crate::{ApiState, Problem};

/// The console's files: path under `/console/`, content type, body.
const FILES: &[(&str, &str, &str)] = &[
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("../static/console/console.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("../static/console/favicon.svg"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/console/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/console/api.js"),
    ),
    (
        "dom.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/console/dom.js"),
    ),
    (
        "widgets.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/console/widgets.js"),
    ),
    (
        "charts.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/console/charts.js"),
    ),
    (
        "views.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/console/views.js"),
    ),
    (
        "health.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/console/health.js"),
    ),
    (
        "failures.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/console/failures.js"),
    ),
    (
        "conflicts.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/console/conflicts.js"),
    ),
    (
        "linking.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/console/linking.js"),
    ),
    (
        "mapping.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/console/mapping.js"),
    ),
    (
        "runs.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/console/runs.js"),
    ),
    (
        "connect.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/console/connect.js"),
    ),
];

const PAGE: &str = include_str!("../static/console/index.html");

/// How long a dev sign-in's token lives.
const DEV_TOKEN_TTL: Duration = Duration::from_secs(8 * 3600);

/// Mints tokens for the local dev sign-in with the HS256 secret the API itself checks.
#[derive(Clone)]
pub struct DevSignIn {
    secret: SecretString,
    issuer: String,
    audience: String,
}

impl DevSignIn {
    pub fn new(secret: SecretString, issuer: &str, audience: &str) -> Self {
        DevSignIn {
            secret,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        }
    }
}

pub(crate) fn routes() -> Router<ApiState> {
    let mut router = Router::new()
        .route("/console", get(page))
        .route("/console/config.json", get(config))
        .route("/console/dev-sign-in", post(dev_sign_in));
    for (name, content_type, body) in FILES {
        router = router.route(
            &format!("/console/{name}"),
            get(move || async move { asset(content_type, body) }),
        );
    }
    router
}

/// The console's sign-in through an OpenID Connect provider (Cognito's hosted UI in AWS):
/// authorization code with PKCE by a public client, the code exchanged from the browser.
#[derive(Debug, Clone, Serialize)]
pub struct ConsoleOidc {
    pub authorize_url: String,
    pub token_url: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: String,
    /// Which of the provider's tokens the console sends to the API: `id_token` or
    /// `access_token`.
    pub token: String,
    /// The name on the sign-in button.
    pub provider: String,
}

impl ConsoleOidc {
    /// The token endpoint's origin, which the page's Content-Security-Policy lets it call.
    fn token_origin(&self) -> Option<String> {
        let url = reqwest::Url::parse(&self.token_url).ok()?;
        Some(url.origin().ascii_serialization()).filter(|origin| origin != "null")
    }
}

/// How the page signs people in.
#[derive(Serialize)]
struct ConsoleConfig<'a> {
    /// A role picker that mints a local token (`warp dev` only).
    dev_sign_in: bool,
    /// The identity provider's sign-in, when configured.
    oidc: Option<&'a ConsoleOidc>,
    /// The token claim the API reads roles from (`roles`, or Cognito's `cognito:groups`).
    roles_claim: &'a str,
}

async fn config(State(state): State<ApiState>) -> Response {
    json_response(
        StatusCode::OK,
        &ConsoleConfig {
            dev_sign_in: state.dev_sign_in().is_some(),
            oidc: state.console_oidc(),
            roles_claim: state.authenticator().roles_claim(),
        },
        None,
    )
}

/// The page, whose policy also lets it trade the sign-in code at the provider's token
/// endpoint (nothing else leaves this origin).
async fn page(State(state): State<ApiState>) -> Response {
    let mut response = asset("text/html; charset=utf-8", PAGE);
    if let Some(origin) = state.console_oidc().and_then(ConsoleOidc::token_origin) {
        crate::web_assets::allow_connect_to(&mut response, &origin);
    }
    response
}

fn is_loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    matches!(name, "127.0.0.1" | "localhost" | "::1")
}

#[derive(Serialize)]
struct DevToken {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
}

/// `{"role": "viewer"|"editor"|"admin", "customer_id": "<uuid>"?}` → a token for that role
/// (scoped to the customer when one is named). 404 outside local development.
async fn dev_sign_in(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let Some(signer) = state.dev_sign_in() else {
        return Err(Problem::not_found());
    };
    // Only a page this machine serves itself may ask: a web page elsewhere that rebinds a
    // name to 127.0.0.1 still sends its own name as Host.
    if !is_loopback_host(&headers) {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "the dev sign-in answers only on 127.0.0.1 or localhost",
        ));
    }
    crate::body::require_json(&headers)?;
    let body = crate::body::json(body)?;
    let mut errors = Vec::new();
    let role = match body.get("role").and_then(Value::as_str) {
        Some(role @ ("viewer" | "editor" | "admin")) => Some(role),
        _ => {
            errors.push(FieldError::new("role", "must be viewer, editor or admin"));
            None
        }
    };
    let customer_id = match body.get("customer_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.trim().is_empty() => None,
        Some(value) => match value
            .as_str()
            .map(|text| uuid::Uuid::parse_str(text.trim()))
        {
            Some(Ok(id)) => Some(id),
            _ => {
                errors.push(FieldError::new(
                    "customer_id",
                    "must be a customer id (UUID)",
                ));
                None
            }
        },
    };
    let (Some(role), true) = (role, errors.is_empty()) else {
        return Err(Problem::invalid(errors));
    };
    let subject = format!("console-{role}@warp.local");
    // The first of the audiences the API accepts.
    let audience = signer.audience.split(',').next().unwrap_or_default().trim();
    let token = crate::issue_dev_token_for(
        &signer.secret,
        &signer.issuer,
        audience,
        &subject,
        &[role],
        customer_id,
        DEV_TOKEN_TTL,
    )
    .map_err(|error| {
        tracing::error!(%error, "minting a dev token failed");
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the token could not be made",
        )
    })?;
    Ok(json_response(
        StatusCode::OK,
        &DevToken {
            access_token: token,
            token_type: "Bearer",
            expires_in: DEV_TOKEN_TTL.as_secs(),
        },
        None,
    ))
}
