//! HubSpot's OAuth server, as an app installed in the sandbox's portals sees it: the consent
//! page hands out single-use authorization codes for the portal a person picked (PKCE checked
//! when a challenge was sent), the token endpoint trades codes and refresh tokens for access
//! tokens that expire and call that portal only, and an uninstall or a revoked refresh token
//! ends the grant. Faults: a refused refresh.
//!
//! Tokens are opaque random strings, as HubSpot's are to a client.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng as _;
use rand::distr::Alphanumeric;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// How long an authorization code may wait for its exchange (HubSpot's are short-lived).
const CODE_TTL_MS: i64 = 10 * 60 * 1000;

/// The app's registration and the grants it holds.
#[derive(Debug)]
pub struct OAuthServer {
    pub client_id: String,
    client_secret: String,
    access_token_ttl_ms: u64,
    codes: HashMap<String, CodeGrant>,
    refresh_tokens: HashMap<String, Grant>,
    access_tokens: HashMap<String, AccessGrant>,
    /// The app's own tokens (client credentials): no portal, no refresh token.
    app_tokens: HashMap<String, AppGrant>,
    /// Fault: every refresh is refused as if the grant were gone.
    pub refuse_refresh: bool,
    pub counters: OAuthCounters,
}

/// What the OAuth server has done since the start (or a reset).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct OAuthCounters {
    pub codes_issued: u64,
    pub codes_exchanged: u64,
    pub refreshes: u64,
    pub refreshes_refused: u64,
    pub revocations: u64,
    pub uninstalls: u64,
}

#[derive(Debug, Clone)]
struct CodeGrant {
    hub_id: u64,
    redirect_uri: String,
    scopes: Vec<String>,
    code_challenge: Option<String>,
    expires_at_ms: i64,
}

#[derive(Debug, Clone)]
struct Grant {
    hub_id: u64,
    scopes: Vec<String>,
}

#[derive(Debug, Clone)]
struct AccessGrant {
    refresh_token: String,
    expires_at_ms: i64,
}

#[derive(Debug, Clone)]
struct AppGrant {
    scopes: Vec<String>,
    expires_at_ms: i64,
}

/// The token endpoint's answer to `grant_type=client_credentials`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppTokenAnswer {
    pub access_token: String,
    pub expires_in: u64,
    pub token_type: &'static str,
    pub scopes: Vec<String>,
}

/// What an app (client-credentials) token may do, when it is one the server issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppTokenState {
    Valid(Vec<String>),
    Expired,
    Unknown,
}

/// The token endpoint's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenAnswer {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
    pub token_type: &'static str,
    pub hub_id: u64,
    pub scopes: Vec<String>,
}

/// Why the token endpoint refused a request, as HubSpot words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRefusal {
    /// 400 `BAD_CLIENT_ID` / `invalid_client`.
    BadClient,
    /// 400 `BAD_AUTH_CODE` / `invalid_grant`: unknown, used, expired, another redirect URI, or a
    /// PKCE verifier that does not match.
    BadAuthCode(&'static str),
    /// 400 `BAD_REFRESH_TOKEN` / `invalid_grant`.
    BadRefreshToken,
    /// 400 `BAD_GRANT_TYPE` / `unsupported_grant_type`.
    BadGrantType,
}

/// What an access token is, when it is one the server issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessTokenState {
    /// Live, for this portal.
    Valid(u64),
    Expired,
    Unknown,
}

/// Details of a live access token (the v1 access-token info endpoint).
#[derive(Debug, Clone)]
pub struct AccessTokenInfo {
    pub hub_id: u64,
    pub scopes: Vec<String>,
    pub expires_in_ms: u64,
}

fn random_token(prefix: &str) -> String {
    let body: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(40)
        .map(char::from)
        .collect();
    format!("{prefix}-{body}")
}

/// PKCE S256: the challenge is BASE64URL(SHA256(verifier)), unpadded.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

impl OAuthServer {
    pub fn new(client_id: String, client_secret: String, access_token_ttl_ms: u64) -> Self {
        Self {
            client_id,
            client_secret,
            access_token_ttl_ms: access_token_ttl_ms.max(1),
            codes: HashMap::new(),
            refresh_tokens: HashMap::new(),
            access_tokens: HashMap::new(),
            app_tokens: HashMap::new(),
            refuse_refresh: false,
            counters: OAuthCounters::default(),
        }
    }

    /// Every grant forgotten, faults and counters cleared (the registration stays).
    pub fn reset(&mut self) {
        *self = Self::new(
            std::mem::take(&mut self.client_id),
            std::mem::take(&mut self.client_secret),
            self.access_token_ttl_ms,
        );
    }

    pub fn set_access_token_ttl_ms(&mut self, ttl_ms: u64) {
        self.access_token_ttl_ms = ttl_ms.max(1);
    }

    /// A person approved the consent page for portal `hub_id`: a code for `redirect_uri`,
    /// single use.
    pub fn issue_code(
        &mut self,
        hub_id: u64,
        redirect_uri: &str,
        scopes: Vec<String>,
        code_challenge: Option<String>,
        now_ms: i64,
    ) -> String {
        let code = random_token("code");
        self.codes.insert(
            code.clone(),
            CodeGrant {
                hub_id,
                redirect_uri: redirect_uri.to_owned(),
                scopes,
                code_challenge,
                expires_at_ms: now_ms + CODE_TTL_MS,
            },
        );
        self.counters.codes_issued += 1;
        code
    }

    fn check_client(&self, client_id: &str, client_secret: &str) -> Result<(), TokenRefusal> {
        if client_id == self.client_id && client_secret == self.client_secret {
            Ok(())
        } else {
            Err(TokenRefusal::BadClient)
        }
    }

    /// `grant_type=authorization_code`.
    pub fn exchange_code(
        &mut self,
        client: (&str, &str),
        code: &str,
        redirect_uri: &str,
        code_verifier: Option<&str>,
        now_ms: i64,
    ) -> Result<TokenAnswer, TokenRefusal> {
        self.check_client(client.0, client.1)?;
        // Single use: the code is gone whatever the outcome.
        let grant = self
            .codes
            .remove(code)
            .ok_or(TokenRefusal::BadAuthCode("unknown or already used code"))?;
        if grant.expires_at_ms <= now_ms {
            return Err(TokenRefusal::BadAuthCode("expired code"));
        }
        if grant.redirect_uri != redirect_uri {
            return Err(TokenRefusal::BadAuthCode("redirect_uri mismatch"));
        }
        if let Some(challenge) = &grant.code_challenge {
            match code_verifier {
                Some(verifier) if pkce_challenge(verifier) == *challenge => {}
                _ => return Err(TokenRefusal::BadAuthCode("code_verifier does not match")),
            }
        }
        self.counters.codes_exchanged += 1;
        let refresh_token = random_token("refresh");
        self.refresh_tokens.insert(
            refresh_token.clone(),
            Grant {
                hub_id: grant.hub_id,
                scopes: grant.scopes,
            },
        );
        Ok(self.issue_access(&refresh_token, now_ms))
    }

    /// `grant_type=refresh_token`: a new access token; the refresh token stays the same.
    pub fn refresh(
        &mut self,
        client: (&str, &str),
        refresh_token: &str,
        now_ms: i64,
    ) -> Result<TokenAnswer, TokenRefusal> {
        self.check_client(client.0, client.1)?;
        if self.refuse_refresh || !self.refresh_tokens.contains_key(refresh_token) {
            self.counters.refreshes_refused += 1;
            return Err(TokenRefusal::BadRefreshToken);
        }
        self.counters.refreshes += 1;
        Ok(self.issue_access(refresh_token, now_ms))
    }

    fn issue_access(&mut self, refresh_token: &str, now_ms: i64) -> TokenAnswer {
        let access_token = random_token("access");
        self.access_tokens.insert(
            access_token.clone(),
            AccessGrant {
                refresh_token: refresh_token.to_owned(),
                expires_at_ms: now_ms
                    .saturating_add(i64::try_from(self.access_token_ttl_ms).unwrap_or(i64::MAX)),
            },
        );
        let (hub_id, scopes) = self
            .refresh_tokens
            .get(refresh_token)
            .map(|grant| (grant.hub_id, grant.scopes.clone()))
            .unwrap_or_default();
        TokenAnswer {
            access_token,
            refresh_token: refresh_token.to_owned(),
            expires_in: self.access_token_ttl_ms.div_ceil(1000),
            token_type: "bearer",
            hub_id,
            scopes,
        }
    }

    pub fn access_token_state(&self, token: &str, now_ms: i64) -> AccessTokenState {
        match self.access_tokens.get(token) {
            Some(grant) if grant.expires_at_ms > now_ms => self
                .refresh_tokens
                .get(&grant.refresh_token)
                .map_or(AccessTokenState::Unknown, |grant| {
                    AccessTokenState::Valid(grant.hub_id)
                }),
            Some(_) => AccessTokenState::Expired,
            None => AccessTokenState::Unknown,
        }
    }

    pub fn access_token_info(&self, token: &str, now_ms: i64) -> Option<AccessTokenInfo> {
        let grant = self.access_tokens.get(token)?;
        let expires_in_ms = u64::try_from(grant.expires_at_ms - now_ms)
            .ok()
            .filter(|ms| *ms > 0)?;
        let grant = self.refresh_tokens.get(&grant.refresh_token)?;
        Some(AccessTokenInfo {
            hub_id: grant.hub_id,
            scopes: grant.scopes.clone(),
            expires_in_ms,
        })
    }

    /// Revokes a refresh token and every access token issued from it. False when unknown.
    pub fn revoke_refresh_token(&mut self, refresh_token: &str) -> bool {
        if self.refresh_tokens.remove(refresh_token).is_none() {
            return false;
        }
        self.access_tokens
            .retain(|_, grant| grant.refresh_token != refresh_token);
        self.counters.revocations += 1;
        true
    }

    /// `grant_type=client_credentials`: a token of the app itself, for the `scope` asked
    /// (space separated), living as long as the portal tokens do.
    pub fn issue_app_token(
        &mut self,
        client: (&str, &str),
        scope: &str,
        now_ms: i64,
    ) -> Result<AppTokenAnswer, TokenRefusal> {
        self.check_client(client.0, client.1)?;
        let scopes: Vec<String> = scope.split_whitespace().map(str::to_owned).collect();
        let access_token = random_token("app");
        self.app_tokens.insert(
            access_token.clone(),
            AppGrant {
                scopes: scopes.clone(),
                expires_at_ms: now_ms
                    .saturating_add(i64::try_from(self.access_token_ttl_ms).unwrap_or(i64::MAX)),
            },
        );
        Ok(AppTokenAnswer {
            access_token,
            expires_in: self.access_token_ttl_ms.div_ceil(1000),
            token_type: "bearer",
            scopes,
        })
    }

    pub fn app_token_state(&self, token: &str, now_ms: i64) -> AppTokenState {
        match self.app_tokens.get(token) {
            Some(grant) if grant.expires_at_ms > now_ms => {
                AppTokenState::Valid(grant.scopes.clone())
            }
            Some(_) => AppTokenState::Expired,
            None => AppTokenState::Unknown,
        }
    }

    /// The app removed from portal `hub_id` (every portal when `None`): its grants end.
    pub fn uninstall(&mut self, hub_id: Option<u64>) {
        let ends = |grant: &Grant| hub_id.is_none_or(|hub| grant.hub_id == hub);
        self.refresh_tokens.retain(|_, grant| !ends(grant));
        let live = &self.refresh_tokens;
        self.access_tokens
            .retain(|_, grant| live.contains_key(&grant.refresh_token));
        self.counters.uninstalls += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: (&str, &str) = ("id", "secret");

    fn server() -> OAuthServer {
        OAuthServer::new("id".into(), "secret".into(), 1_000)
    }

    #[test]
    fn a_code_is_single_use_and_bound_to_its_redirect_uri_and_verifier() {
        let mut server = server();
        let challenge = pkce_challenge("verifier-1");
        let code = server.issue_code(7, "https://warp/cb", vec!["crm".into()], Some(challenge), 0);
        assert_eq!(
            server.exchange_code(CLIENT, &code, "https://warp/cb", Some("wrong"), 10),
            Err(TokenRefusal::BadAuthCode("code_verifier does not match"))
        );
        // The failed attempt used the code up.
        let code = server.issue_code(
            7,
            "https://warp/cb",
            vec!["crm".into()],
            Some(pkce_challenge("verifier-2")),
            0,
        );
        assert_eq!(
            server
                .exchange_code(CLIENT, &code, "https://warp/other", Some("verifier-2"), 10)
                .unwrap_err(),
            TokenRefusal::BadAuthCode("redirect_uri mismatch")
        );
        let code = server.issue_code(7, "https://warp/cb", vec!["crm".into()], None, 0);
        let answer = server
            .exchange_code(CLIENT, &code, "https://warp/cb", None, 10)
            .unwrap();
        assert_eq!((answer.hub_id, answer.expires_in), (7, 1));
        assert_eq!(
            server
                .exchange_code(CLIENT, &code, "https://warp/cb", None, 10)
                .unwrap_err(),
            TokenRefusal::BadAuthCode("unknown or already used code")
        );
    }

    #[test]
    fn access_tokens_expire_and_die_with_their_refresh_token() {
        let mut server = server();
        let code = server.issue_code(7, "https://warp/cb", vec![], None, 0);
        let first = server
            .exchange_code(CLIENT, &code, "https://warp/cb", None, 0)
            .unwrap();
        assert_eq!(
            server.access_token_state(&first.access_token, 999),
            AccessTokenState::Valid(7)
        );
        assert_eq!(
            server.access_token_state(&first.access_token, 1_000),
            AccessTokenState::Expired
        );
        let second = server.refresh(CLIENT, &first.refresh_token, 1_000).unwrap();
        assert_eq!(second.refresh_token, first.refresh_token);
        assert_ne!(second.access_token, first.access_token);
        assert_eq!(server.counters.refreshes, 1);
        assert_eq!(
            server.refresh(("id", "other"), &first.refresh_token, 1_000),
            Err(TokenRefusal::BadClient)
        );
        assert!(server.revoke_refresh_token(&first.refresh_token));
        assert_eq!(
            server.access_token_state(&second.access_token, 1_001),
            AccessTokenState::Unknown
        );
        assert_eq!(
            server.refresh(CLIENT, &first.refresh_token, 1_001),
            Err(TokenRefusal::BadRefreshToken)
        );
    }

    #[test]
    fn a_token_calls_the_portal_it_was_installed_in_and_an_uninstall_ends_only_that_portal() {
        let mut server = server();
        let mut install = |hub| {
            let code = server.issue_code(hub, "https://warp/cb", vec![], None, 0);
            server
                .exchange_code(CLIENT, &code, "https://warp/cb", None, 0)
                .unwrap()
        };
        let (first, second) = (install(11), install(22));
        assert_eq!((first.hub_id, second.hub_id), (11, 22));
        assert_eq!(
            server.access_token_state(&second.access_token, 1),
            AccessTokenState::Valid(22)
        );
        server.uninstall(Some(11));
        let app = server
            .issue_app_token(CLIENT, "a.read  b.write", 0)
            .unwrap();
        assert_eq!(app.scopes, ["a.read", "b.write"]);
        assert_eq!(
            server.app_token_state(&app.access_token, 999),
            AppTokenState::Valid(vec!["a.read".into(), "b.write".into()])
        );
        assert_eq!(
            server.app_token_state(&app.access_token, 1_000),
            AppTokenState::Expired
        );
        assert_eq!(
            server.app_token_state(&first.access_token, 1),
            AppTokenState::Unknown
        );
        assert_eq!(
            server.issue_app_token(("id", "wrong"), "a.read", 0),
            Err(TokenRefusal::BadClient)
        );
        assert_eq!(
            server.access_token_state(&first.access_token, 1),
            AccessTokenState::Unknown
        );
        assert_eq!(
            server.refresh(CLIENT, &first.refresh_token, 1),
            Err(TokenRefusal::BadRefreshToken)
        );
        assert_eq!(
            server
                .refresh(CLIENT, &second.refresh_token, 1)
                .unwrap()
                .hub_id,
            22
        );
    }
}
