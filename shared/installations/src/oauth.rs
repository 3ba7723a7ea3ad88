//! The OAuth client of WARP's HubSpot app (the `oauth2` crate over WARP's reqwest): the install
//! link with PKCE, the code exchange and the refresh, on HubSpot's dated token endpoint with
//! every parameter in the form body (client credentials included, as HubSpot wants them).

use std::time::Duration;

use oauth2::basic::{
    BasicErrorResponse, BasicErrorResponseType, BasicRevocationErrorResponse,
    BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, StandardRevocableToken, StandardTokenResponse, TokenResponse,
    TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// HubSpot's token endpoint on the dated API (PLATFORM-2026: `/oauth/2026-09/token`).
pub const TOKEN_PATH: &str = "/oauth/2026-09/token";

/// What HubSpot adds to the standard token answer.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct HubSpotTokenFields {
    #[serde(default)]
    pub hub_id: Option<i64>,
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
}

impl ExtraTokenFields for HubSpotTokenFields {}

type HubSpotTokenResponse = StandardTokenResponse<HubSpotTokenFields, BasicTokenType>;

type HubSpotOAuthClient = oauth2::Client<
    BasicErrorResponse,
    HubSpotTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// The app's registration and where HubSpot is.
#[derive(Debug, Clone)]
pub struct OAuthAppSettings {
    pub client_id: String,
    pub client_secret: SecretString,
    /// HubSpot's consent page (`https://app.hubspot.com/oauth/authorize`, or the sandbox's).
    pub authorize_url: String,
    /// HubSpot's API root; the token endpoint is [`TOKEN_PATH`] under it.
    pub api_base_url: String,
    /// WARP's callback, exactly as registered on the app.
    pub redirect_url: String,
    pub scopes: Vec<String>,
    pub optional_scopes: Vec<String>,
}

/// What HubSpot granted.
pub struct TokenGrant {
    pub access_token: SecretString,
    pub refresh_token: SecretString,
    /// HubSpot's `expires_in` (30 minutes today: always read it, never assume).
    pub expires_in: Duration,
    pub hub_id: Option<i64>,
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for TokenGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenGrant")
            .field("expires_in", &self.expires_in)
            .field("hub_id", &self.hub_id)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum OAuthError {
    /// HubSpot refused the grant for good (`invalid_grant`, `BAD_REFRESH_TOKEN`,
    /// `BAD_AUTH_CODE`): the app was uninstalled, the token revoked, or the code used.
    #[error("HubSpot refused the grant: {0}")]
    Refused(String),
    /// HubSpot could not be asked or did not answer sensibly: try again later.
    #[error("HubSpot's token endpoint is unavailable: {0}")]
    Unavailable(String),
    /// The app's settings are wrong (a URL that does not parse, a client HubSpot does not know).
    #[error("the HubSpot app is misconfigured: {0}")]
    Misconfigured(String),
}

/// An install link and the PKCE verifier to keep until the callback.
pub struct InstallLink {
    pub url: url::Url,
    pub pkce_verifier: SecretString,
}

/// WARP's HubSpot app, as an OAuth client.
#[derive(Clone)]
pub struct OAuthApp {
    client: HubSpotOAuthClient,
    http: reqwest::Client,
    api_base_url: String,
    client_secret: SecretString,
    scopes: Vec<String>,
    optional_scopes: Vec<String>,
}

impl std::fmt::Debug for OAuthApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthApp")
            .field("client_id", self.client.client_id())
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl OAuthApp {
    pub fn new(settings: &OAuthAppSettings, http: reqwest::Client) -> Result<Self, OAuthError> {
        let invalid = |what: &str, error: url::ParseError| {
            OAuthError::Misconfigured(format!("{what} is not a URL: {error}"))
        };
        let token_url = format!(
            "{}{TOKEN_PATH}",
            settings.api_base_url.trim_end_matches('/')
        );
        let client = oauth2::Client::new(ClientId::new(settings.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                settings.client_secret.expose_secret().to_owned(),
            ))
            .set_auth_uri(
                AuthUrl::new(settings.authorize_url.clone())
                    .map_err(|e| invalid("the authorize URL", e))?,
            )
            .set_token_uri(TokenUrl::new(token_url).map_err(|e| invalid("the token URL", e))?)
            .set_redirect_uri(
                RedirectUrl::new(settings.redirect_url.clone())
                    .map_err(|e| invalid("the redirect URL", e))?,
            )
            .set_auth_type(AuthType::RequestBody);
        Ok(Self {
            client,
            http,
            api_base_url: settings.api_base_url.trim_end_matches('/').to_owned(),
            client_secret: settings.client_secret.clone(),
            scopes: settings.scopes.clone(),
            optional_scopes: settings.optional_scopes.clone(),
        })
    }

    /// HubSpot's install link for `state`, with a fresh PKCE (S256) challenge.
    pub fn install_link(&self, state: &str) -> InstallLink {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = state.to_owned();
        let mut request = self
            .client
            .authorize_url(move || CsrfToken::new(state))
            .add_scopes(self.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge);
        if !self.optional_scopes.is_empty() {
            request = request.add_extra_param("optional_scope", self.optional_scopes.join(" "));
        }
        let (url, _) = request.url();
        InstallLink {
            url,
            pkce_verifier: SecretString::from(verifier.secret().clone()),
        }
    }

    /// Trades an authorization code (and its PKCE verifier) for tokens.
    pub async fn exchange_code(
        &self,
        code: &str,
        pkce_verifier: &SecretString,
    ) -> Result<TokenGrant, OAuthError> {
        let answer = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(
                pkce_verifier.expose_secret().to_owned(),
            ))
            .request_async(&WarpHttp(&self.http))
            .await;
        grant_of(answer)
    }

    /// A new access token for `refresh_token`.
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<TokenGrant, OAuthError> {
        let refresh = RefreshToken::new(refresh_token.expose_secret().to_owned());
        let answer = self
            .client
            .exchange_refresh_token(&refresh)
            .request_async(&WarpHttp(&self.http))
            .await;
        grant_of(answer).map(|mut grant| {
            // HubSpot may rotate the refresh token or not say it again: keep the old one then.
            if grant.refresh_token.expose_secret().is_empty() {
                grant.refresh_token = refresh_token.clone();
            }
            grant
        })
    }
}

impl OAuthApp {
    /// The app's own token (OAuth client credentials) with `scopes`, for the APIs that belong
    /// to the app rather than to one portal (the Webhooks Journal). It has no refresh token:
    /// ask again when it runs out.
    pub async fn client_credentials(&self, scopes: &[String]) -> Result<TokenGrant, OAuthError> {
        let answer = self
            .client
            .exchange_client_credentials()
            .add_scopes(scopes.iter().cloned().map(Scope::new))
            .request_async(&WarpHttp(&self.http))
            .await;
        grant_of(answer)
    }

    /// Revokes a refresh token (and the access tokens issued from it) at HubSpot.
    pub async fn revoke(&self, refresh_token: &SecretString) -> Result<(), OAuthError> {
        let form = [
            ("token", refresh_token.expose_secret()),
            ("client_id", self.client.client_id().as_str()),
            ("client_secret", self.client_secret.expose_secret()),
        ];
        let body = serde_urlencoded::to_string(form)
            .map_err(|e| OAuthError::Misconfigured(e.to_string()))?;
        let answer = self
            .http
            .post(format!("{}{TOKEN_PATH}/revoke", self.api_base_url))
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .map_err(|e| OAuthError::Unavailable(e.to_string()))?;
        success_or_unavailable(answer.status())
    }

    /// Removes the app from the portal the access token belongs to.
    pub async fn uninstall(&self, access_token: &SecretString) -> Result<(), OAuthError> {
        let answer = self
            .http
            .delete(format!(
                "{}/appinstalls/2026-09/external-install",
                self.api_base_url
            ))
            .bearer_auth(access_token.expose_secret())
            .send()
            .await
            .map_err(|e| OAuthError::Unavailable(e.to_string()))?;
        success_or_unavailable(answer.status())
    }
}

fn success_or_unavailable(status: reqwest::StatusCode) -> Result<(), OAuthError> {
    if status.is_success() {
        Ok(())
    } else {
        Err(OAuthError::Unavailable(format!(
            "HubSpot answered {status}"
        )))
    }
}

/// WARP's reqwest client as `oauth2`'s HTTP client (a named type, so the futures are `Send`).
struct WarpHttp<'a>(&'a reqwest::Client);

impl<'c> oauth2::AsyncHttpClient<'c> for WarpHttp<'_> {
    type Error = HttpFailure;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<oauth2::HttpResponse, HttpFailure>> + Send + 'c,
        >,
    >;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        let http = self.0.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let response = http
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|e| HttpFailure(e.to_string()))?;
            let mut builder = http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let bytes = response
                .bytes()
                .await
                .map_err(|e| HttpFailure(e.to_string()))?;
            builder
                .body(bytes.to_vec())
                .map_err(|e| HttpFailure(e.to_string()))
        })
    }
}

/// The token endpoint could not be reached or read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpFailure(String);

fn grant_of(
    answer: Result<HubSpotTokenResponse, RequestTokenError<HttpFailure, BasicErrorResponse>>,
) -> Result<TokenGrant, OAuthError> {
    match answer {
        Ok(answer) => {
            let extra = answer.extra_fields();
            let scopes = extra
                .scopes
                .clone()
                .or_else(|| {
                    answer
                        .scopes()
                        .map(|scopes| scopes.iter().map(|s| s.to_string()).collect())
                })
                .unwrap_or_default();
            Ok(TokenGrant {
                access_token: SecretString::from(answer.access_token().secret().clone()),
                refresh_token: SecretString::from(
                    answer
                        .refresh_token()
                        .map(|token| token.secret().clone())
                        .unwrap_or_default(),
                ),
                expires_in: answer.expires_in().unwrap_or(Duration::from_secs(30 * 60)),
                hub_id: extra.hub_id,
                scopes,
            })
        }
        Err(RequestTokenError::ServerResponse(error)) => {
            let description = match error.error_description() {
                Some(text) => format!("{}: {text}", error.error()),
                None => error.error().to_string(),
            };
            match error.error() {
                BasicErrorResponseType::InvalidGrant => Err(OAuthError::Refused(description)),
                BasicErrorResponseType::InvalidClient
                | BasicErrorResponseType::UnauthorizedClient => {
                    Err(OAuthError::Misconfigured(description))
                }
                _ => Err(OAuthError::Unavailable(description)),
            }
        }
        // The v1 endpoint answers HubSpot's own shape, without OAuth's `error`.
        Err(RequestTokenError::Parse(_, body)) => Err(hubspot_refusal(&body)),
        Err(RequestTokenError::Request(error)) => Err(OAuthError::Unavailable(error.to_string())),
        Err(RequestTokenError::Other(text)) => Err(OAuthError::Unavailable(text)),
    }
}

/// A HubSpot error body (`{"status": "BAD_REFRESH_TOKEN", "message": …}`) read by its status.
fn hubspot_refusal(body: &[u8]) -> OAuthError {
    #[derive(Deserialize)]
    struct HubSpotOAuthError {
        status: Option<String>,
        message: Option<String>,
    }
    match serde_json::from_slice::<HubSpotOAuthError>(body) {
        Ok(HubSpotOAuthError {
            status: Some(status),
            message,
        }) => {
            let text = format!("{status}: {}", message.unwrap_or_default());
            match status.as_str() {
                "BAD_REFRESH_TOKEN" | "BAD_AUTH_CODE" => OAuthError::Refused(text),
                "BAD_CLIENT_ID" | "BAD_REDIRECT_URI" => OAuthError::Misconfigured(text),
                _ => OAuthError::Unavailable(text),
            }
        }
        _ => OAuthError::Unavailable("the token endpoint's answer does not parse".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> OAuthApp {
        OAuthApp::new(
            &OAuthAppSettings {
                client_id: "client-1".into(),
                client_secret: SecretString::from("secret".to_owned()),
                authorize_url: "https://app.hubspot.com/oauth/authorize".into(),
                api_base_url: "https://api.hubapi.com/".into(),
                redirect_url: "https://warp.example/v1/hubspot/oauth/callback".into(),
                scopes: vec!["crm.objects.contacts.write".into(), "oauth".into()],
                optional_scopes: vec!["crm.objects.deals.read".into()],
            },
            reqwest::Client::new(),
        )
        .unwrap()
    }

    #[test]
    fn the_install_link_carries_the_app_scopes_state_and_an_s256_challenge() {
        let link = app().install_link("state-1");
        let query: std::collections::HashMap<_, _> = link.url.query_pairs().into_owned().collect();
        assert_eq!(link.url.path(), "/oauth/authorize");
        assert_eq!(query["client_id"], "client-1");
        assert_eq!(query["state"], "state-1");
        assert_eq!(query["scope"], "crm.objects.contacts.write oauth");
        assert_eq!(query["optional_scope"], "crm.objects.deals.read");
        assert_eq!(query["code_challenge_method"], "S256");
        assert_eq!(
            query["redirect_uri"],
            "https://warp.example/v1/hubspot/oauth/callback"
        );
        assert!(!query.contains_key("client_secret"));
        assert!(link.pkce_verifier.expose_secret().len() >= 43);
        assert_ne!(
            query["code_challenge"].as_str(),
            link.pkce_verifier.expose_secret()
        );
    }

    #[test]
    fn hubspot_refusals_are_told_from_outages_by_their_status() {
        assert!(matches!(
            hubspot_refusal(br#"{"status":"BAD_REFRESH_TOKEN","message":"missing or unknown refresh token"}"#),
            OAuthError::Refused(text) if text.contains("BAD_REFRESH_TOKEN")
        ));
        assert!(matches!(
            hubspot_refusal(br#"{"status":"BAD_CLIENT_ID","message":"x"}"#),
            OAuthError::Misconfigured(_)
        ));
        assert!(matches!(
            hubspot_refusal(b"<html>502</html>"),
            OAuthError::Unavailable(_)
        ));
    }
}
