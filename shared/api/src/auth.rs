//! Bearer JWT authentication and role checks for every /v1 route: issuer, audience, expiry and
//! signature are verified (HS256 with a shared secret locally, RS256/ES256 from a JWKS URL with
//! a TTL cache in production), then the `roles` claim decides what the caller may do.

use crate::ApiState;
use crate::problem::Problem;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Mutex, RwLock};

/// Where the token signing keys come from.
#[derive(Clone)]
pub enum KeySource {
    /// A shared HS256 secret (local development and tests).
    Hs256(SecretString),
    /// A JWKS document of RS256/ES256 public keys, cached for `ttl` and refetched early when a
    /// token names an unknown key id (at most once per [`JWKS_MIN_REFETCH`]).
    Jwks { url: String, ttl: Duration },
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Hs256(_) => f.write_str("Hs256([redacted])"),
            KeySource::Jwks { url, ttl } => f
                .debug_struct("Jwks")
                .field("url", url)
                .field("ttl", ttl)
                .finish(),
        }
    }
}

/// How often at most an unknown key id triggers a JWKS refetch (a flood of bad tokens must not
/// become a flood of requests to the identity provider); a shorter TTL shortens it.
pub const JWKS_MIN_REFETCH: Duration = Duration::from_secs(10);

/// What a token must satisfy.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub issuer: String,
    /// One audience, or several separated by commas (a token naming any of them is taken).
    pub audience: String,
    /// The claim holding the caller's roles: `roles`, or Cognito's `cognito:groups`.
    pub roles_claim: String,
    pub keys: KeySource,
    /// The longest life a token may claim: `exp` − `iat` and `exp` − now above it are refused.
    pub max_lifetime: Duration,
}

impl AuthConfig {
    pub const DEFAULT_ISSUER: &'static str = "warp-local";
    pub const DEFAULT_AUDIENCE: &'static str = "warp-api";
    pub const DEFAULT_ROLES_CLAIM: &'static str = "roles";
    /// A day: the longest an identity provider such as Cognito issues access tokens for.
    pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(86_400);

    /// The local default: HS256 with `secret`, issuer `warp-local`, audience `warp-api`.
    pub fn hs256(secret: SecretString) -> Self {
        AuthConfig {
            issuer: Self::DEFAULT_ISSUER.to_owned(),
            audience: Self::DEFAULT_AUDIENCE.to_owned(),
            roles_claim: Self::DEFAULT_ROLES_CLAIM.to_owned(),
            keys: KeySource::Hs256(secret),
            max_lifetime: Self::DEFAULT_MAX_LIFETIME,
        }
    }
}

/// What a caller may do; each role includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Editor,
    Admin,
}

impl Role {
    pub fn parse(name: &str) -> Option<Role> {
        match name {
            "viewer" => Some(Role::Viewer),
            "editor" => Some(Role::Editor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }
}

/// The role of a service that sends finished calls; see [`Principal::ingest`].
pub const INGEST_ROLE: &str = "ingest";

/// The claims we read and write.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    aud: String,
    exp: u64,
    iat: u64,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    customer_id: Option<String>,
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub subject: String,
    /// The highest role the token grants, if any.
    pub role: Option<Role>,
    /// The `customer_id` claim: the token acts for this customer only (its HubSpot connection
    /// and what belongs to it), whatever its roles.
    pub customer_scope: Option<uuid::Uuid>,
    /// The token names the `ingest` role: a service sending finished calls (`POST /v1/calls`).
    /// Outside the viewer-editor-admin order: it grants nothing else, and no other role
    /// grants it.
    pub ingest: bool,
    /// The method and route template called (for the audit log; formatted only by a write).
    pub route: Option<(axum::http::Method, axum::extract::MatchedPath)>,
    /// The request's id (`x-request-id`, or the one made for it).
    pub request_id: Option<std::sync::Arc<str>>,
}

impl Principal {
    /// Who writes, for the audit log of the stores.
    pub fn actor(&self) -> warp_store::audit::Actor {
        warp_store::audit::Actor {
            subject: self.subject.clone(),
            route: self.route.as_ref().map_or_else(
                || "(unmatched)".to_owned(),
                |(method, path)| format!("{method} {}", path.as_str()),
            ),
            request_id: self.request_id.as_deref().map(str::to_owned),
        }
    }

    /// 403 unless the caller holds `needed` (or a role above it) and acts for the whole
    /// deployment: a customer-scoped token reaches only the routes built for it.
    pub fn require(&self, needed: Role) -> Result<(), Problem> {
        if self.customer_scope.is_some() {
            tracing::info!(needed = needed.as_str(), "customer-scoped token refused");
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "this token is scoped to one customer and cannot use this route",
            ));
        }
        if self.role.is_some_and(|role| role >= needed) {
            Ok(())
        } else {
            tracing::info!(needed = needed.as_str(), "role missing");
            Err(Problem::new(
                StatusCode::FORBIDDEN,
                format!("this action needs the {} role", needed.as_str()),
            ))
        }
    }

    /// 403 unless the token names the `ingest` role and acts for the whole deployment.
    pub fn require_ingest(&self) -> Result<(), Problem> {
        if self.ingest && self.customer_scope.is_none() {
            Ok(())
        } else {
            tracing::info!(needed = INGEST_ROLE, "role missing");
            Err(Problem::new(
                StatusCode::FORBIDDEN,
                "this route takes data from the platform (calls, alerts): it needs the ingest role",
            ))
        }
    }

    /// 403 unless the caller may read what the platform sent and what became of it: people
    /// from viewer up, the platform itself (`ingest`), or a customer's own token (which
    /// [`Self::customer_filter`] then keeps to its own rows).
    pub fn require_platform_reader(&self) -> Result<(), Problem> {
        if self.customer_scope.is_some() {
            return Ok(());
        }
        self.require_ingest()
            .or_else(|_| self.require(Role::Viewer))
    }

    /// The customer a list is kept to: a customer's own token gets its own (asking for another
    /// is 403, naming `what` it reads), anyone else what was asked.
    pub fn customer_filter(
        &self,
        asked: Option<uuid::Uuid>,
        what: &str,
    ) -> Result<Option<uuid::Uuid>, Problem> {
        match self.customer_scope {
            Some(own) if asked.is_some_and(|asked| asked != own) => Err(Problem::new(
                StatusCode::FORBIDDEN,
                format!("this token reads its own customer's {what} only"),
            )),
            Some(own) => Ok(Some(own)),
            None => Ok(asked),
        }
    }
}

impl FromRequestParts<ApiState> for Principal {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| Problem::unauthorized("a bearer token is required"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|value| {
                let (scheme, token) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|token| !token.is_empty())
            .ok_or_else(|| {
                Problem::unauthorized("the Authorization header must be 'Bearer <token>'")
            })?;
        // The subject is not logged: some identity providers use e-mail addresses as subjects.
        let mut principal = state.authenticator().verify(token).await?;
        // Cheap clones (a MatchedPath is an Arc): nothing is formatted on a read.
        principal.route = parts
            .extensions
            .get::<axum::extract::MatchedPath>()
            .map(|path| (parts.method.clone(), path.clone()));
        principal.request_id = parts
            .extensions
            .get::<crate::RequestId>()
            .map(|id| id.0.clone());
        Ok(principal)
    }
}

/// Verifies tokens against an [`AuthConfig`].
pub(crate) struct Authenticator {
    issuer: String,
    audiences: Vec<String>,
    roles_claim: String,
    keys: Keys,
    max_lifetime: Duration,
}

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
const LEEWAY_SECONDS: u64 = 60;

enum Keys {
    Hs256(DecodingKey),
    Jwks(JwksCache),
}

impl Authenticator {
    pub(crate) fn new(config: AuthConfig) -> Self {
        let keys = match config.keys {
            KeySource::Hs256(secret) => {
                Keys::Hs256(DecodingKey::from_secret(secret.expose_secret().as_bytes()))
            }
            KeySource::Jwks { url, ttl } => Keys::Jwks(JwksCache::new(url, ttl)),
        };
        Authenticator {
            issuer: config.issuer,
            audiences: config
                .audience
                .split(',')
                .map(str::trim)
                .filter(|audience| !audience.is_empty())
                .map(str::to_owned)
                .collect(),
            roles_claim: config.roles_claim,
            keys,
            max_lifetime: config.max_lifetime,
        }
    }

    /// The claim holding a token's roles.
    pub(crate) fn roles_claim(&self) -> &str {
        &self.roles_claim
    }

    pub(crate) async fn verify(&self, token: &str) -> Result<Principal, Problem> {
        let invalid = |reason: &str| {
            tracing::info!(reason, "token rejected");
            Problem::unauthorized("the bearer token is invalid")
        };
        let header = decode_header(token).map_err(|_| invalid("malformed"))?;
        let (key, algorithm) = match &self.keys {
            Keys::Hs256(key) => (key.clone(), Algorithm::HS256),
            Keys::Jwks(cache) => {
                let kid = header.kid.as_deref().ok_or_else(|| invalid("no kid"))?;
                match cache.key(kid).await {
                    KeyLookup::Found(key, algorithm) => (key, algorithm),
                    KeyLookup::Unknown => return Err(invalid("unknown kid")),
                    KeyLookup::Unavailable => {
                        return Err(Problem::new(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "the token signing keys cannot be fetched; retry later",
                        ));
                    }
                }
            }
        };
        if header.alg != algorithm {
            return Err(invalid("algorithm"));
        }
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&self.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        // Only the signature and the standard claims are checked here (nothing kept): the
        // claims are read once, strictly, below.
        decode::<serde::de::IgnoredAny>(token, &key, &validation).map_err(|error| {
            use jsonwebtoken::errors::ErrorKind;
            match error.kind() {
                ErrorKind::ExpiredSignature => {
                    Problem::unauthorized("the bearer token has expired")
                }
                ErrorKind::ImmatureSignature => {
                    Problem::unauthorized("the bearer token is not valid yet")
                }
                ErrorKind::InvalidAudience => {
                    Problem::unauthorized("the bearer token is for another audience")
                }
                ErrorKind::InvalidIssuer => {
                    Problem::unauthorized("the bearer token is from another issuer")
                }
                _ => invalid("signature or claims"),
            }
        })?;
        // The signature holds: read the claims again, strictly. jsonwebtoken keeps the last of
        // repeated claims (a second `roles` would win), so a payload naming one twice is refused.
        let claims = strict_claims(token).ok_or_else(|| invalid("claims repeated or malformed"))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        check_times(&claims, now, self.max_lifetime)?;
        let subject = claims
            .get("sub")
            .and_then(|s| s.as_str())
            .ok_or_else(|| invalid("sub"))?
            .to_owned();
        let roles: Vec<&str> = claims
            .get(&self.roles_claim)
            .and_then(|roles| roles.as_array())
            .map(|roles| roles.iter().filter_map(|r| r.as_str()).collect())
            .unwrap_or_default();
        let role = roles.iter().filter_map(|r| Role::parse(r)).max();
        let ingest = roles.contains(&INGEST_ROLE);
        let customer_scope = match claims.get("customer_id") {
            None => None,
            Some(value) => Some(
                value
                    .as_str()
                    .and_then(|id| uuid::Uuid::parse_str(id).ok())
                    .ok_or_else(|| invalid("customer_id"))?,
            ),
        };
        Ok(Principal {
            subject,
            role,
            customer_scope,
            ingest,
            route: None,
            request_id: None,
        })
    }

    pub(crate) fn describe(&self) -> &'static str {
        match self.keys {
            Keys::Hs256(_) => "hs256",
            Keys::Jwks(_) => "jwks",
        }
    }
}

/// The payload of a verified token, parsed refusing repeated claims.
fn strict_claims(token: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    match warp_domain::strict_json::parse_strict(&bytes).ok()? {
        serde_json::Value::Object(claims) => Some(claims),
        _ => None,
    }
}

/// A NumericDate (RFC 7519: seconds, possibly fractional) as whole seconds; None unless finite
/// and not negative.
fn numeric_date(value: &serde_json::Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        let seconds = value.as_f64()?;
        // `as` saturates at u64::MAX, which the lifetime check then refuses.
        (seconds.is_finite() && seconds >= 0.0).then(|| seconds.floor() as u64)
    })
}

/// The time claims jsonwebtoken does not check: `iat` must not be in the future, and the
/// token's life (from `iat`, and from now) must not exceed `max_lifetime`.
fn check_times(
    claims: &serde_json::Map<String, serde_json::Value>,
    now: u64,
    max_lifetime: Duration,
) -> Result<(), Problem> {
    let refuse = |reason: &'static str, detail: &'static str| {
        tracing::info!(reason, "token rejected");
        Problem::unauthorized(detail)
    };
    let exp = claims
        .get("exp")
        .and_then(numeric_date)
        .ok_or_else(|| refuse("exp", "the bearer token is invalid"))?;
    let max = max_lifetime.as_secs();
    if exp.saturating_sub(now) > max.saturating_add(LEEWAY_SECONDS) {
        return Err(refuse(
            "lifetime",
            "the bearer token lives longer than this API accepts",
        ));
    }
    match claims.get("iat") {
        None => Ok(()),
        Some(iat) => {
            let iat =
                numeric_date(iat).ok_or_else(|| refuse("iat", "the bearer token is invalid"))?;
            if iat > now.saturating_add(LEEWAY_SECONDS) {
                Err(refuse("iat", "the bearer token was issued in the future"))
            } else if exp.saturating_sub(iat) > max {
                Err(refuse(
                    "lifetime",
                    "the bearer token lives longer than this API accepts",
                ))
            } else {
                Ok(())
            }
        }
    }
}

/// Public keys from a JWKS URL by key id, with the time they were fetched.
struct JwksCache {
    url: String,
    ttl: Duration,
    /// None when no HTTP client could be built (no TLS provider): every fetch fails.
    http: Option<reqwest::Client>,
    state: RwLock<JwksState>,
    /// Serialises fetches so a burst of requests makes one.
    fetching: Mutex<()>,
}

/// What the JWKS cache knows about a key id.
enum KeyLookup {
    Found(DecodingKey, Algorithm),
    Unknown,
    /// No keys were ever fetched.
    Unavailable,
}

#[derive(Default)]
struct JwksState {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
    fetched_at: Option<Instant>,
    attempted_at: Option<Instant>,
}

impl JwksCache {
    fn new(url: String, ttl: Duration) -> Self {
        let http = warp_runtime::https::client_builder()
            .timeout(Duration::from_secs(5))
            .build()
            .ok();
        JwksCache {
            url,
            ttl,
            http,
            state: RwLock::new(JwksState::default()),
            fetching: Mutex::new(()),
        }
    }

    /// The key for `kid`: from the cache while fresh; refetched when stale, or when unknown and
    /// the last attempt is older than [`JWKS_MIN_REFETCH`]. A failed fetch keeps the old keys.
    async fn key(&self, kid: &str) -> KeyLookup {
        if let Some((key, algorithm)) = self.cached(kid, true).await {
            return KeyLookup::Found(key, algorithm);
        }
        let _guard = self.fetching.lock().await;
        // Another request may have fetched while we waited.
        if let Some((key, algorithm)) = self.cached(kid, true).await {
            return KeyLookup::Found(key, algorithm);
        }
        // Stale, or the key id is unknown: refetch, but not more often than JWKS_MIN_REFETCH.
        let may_fetch = {
            let state = self.state.read().await;
            let min_interval = JWKS_MIN_REFETCH.min(self.ttl);
            state
                .attempted_at
                .is_none_or(|at| at.elapsed() >= min_interval)
        };
        if may_fetch {
            self.state.write().await.attempted_at = Some(Instant::now());
            match self.fetch().await {
                Ok(keys) => {
                    let mut state = self.state.write().await;
                    state.keys = keys;
                    state.fetched_at = Some(Instant::now());
                }
                Err(reason) => tracing::warn!(%reason, "JWKS fetch failed; keeping cached keys"),
            }
        }
        match self.cached(kid, false).await {
            Some((key, algorithm)) => KeyLookup::Found(key, algorithm),
            // Never fetched successfully: the identity provider is down, not the token bad.
            None if self.state.read().await.fetched_at.is_none() => KeyLookup::Unavailable,
            None => KeyLookup::Unknown,
        }
    }

    async fn cached(&self, kid: &str, fresh_only: bool) -> Option<(DecodingKey, Algorithm)> {
        let state = self.state.read().await;
        let fresh = state.fetched_at.is_some_and(|at| at.elapsed() < self.ttl);
        if fresh_only && !fresh {
            return None;
        }
        state.keys.get(kid).cloned()
    }

    async fn fetch(&self) -> Result<HashMap<String, (DecodingKey, Algorithm)>, String> {
        let http = self
            .http
            .as_ref()
            .ok_or("no HTTP client (TLS provider missing?)")?;
        let set: JwkSet = http
            .get(&self.url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            let algorithm = match (&jwk.algorithm, jwk.common.key_algorithm) {
                (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
                (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256))
                    if ec.curve == EllipticCurve::P256 =>
                {
                    Algorithm::ES256
                }
                _ => continue,
            };
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                keys.insert(kid, (key, algorithm));
            }
        }
        Ok(keys)
    }
}

/// Why a dev token could not be made.
#[derive(Debug, thiserror::Error)]
#[error("could not sign the token: {0}")]
pub struct TokenError(String);

/// An HS256 token for local use (`make token`) and tests.
pub fn issue_dev_token(
    secret: &SecretString,
    issuer: &str,
    audience: &str,
    subject: &str,
    roles: &[&str],
    ttl: Duration,
) -> Result<String, TokenError> {
    issue_dev_token_for(secret, issuer, audience, subject, roles, None, ttl)
}

/// [`issue_dev_token`], scoped to one customer when `customer_id` is set (the `customer_id`
/// claim).
pub fn issue_dev_token_for(
    secret: &SecretString,
    issuer: &str,
    audience: &str,
    subject: &str,
    roles: &[&str],
    customer_id: Option<uuid::Uuid>,
    ttl: Duration,
) -> Result<String, TokenError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let claims = Claims {
        sub: subject.to_owned(),
        iss: issuer.to_owned(),
        aud: audience.to_owned(),
        exp: now + ttl.as_secs(),
        iat: now,
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        customer_id: customer_id.map(|id| id.to_string()),
    };
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.expose_secret().as_bytes()),
    )
    .map_err(|e| TokenError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> AuthConfig {
        AuthConfig::hs256(SecretString::from("test-secret-of-some-length"))
    }

    #[tokio::test]
    async fn dev_tokens_verify_with_their_role() {
        let secret = SecretString::from("test-secret-of-some-length");
        let token = issue_dev_token(
            &secret,
            "warp-local",
            "warp-api",
            "alice",
            &["viewer", "editor"],
            Duration::from_secs(60),
        )
        .unwrap();
        let principal = Authenticator::new(config()).verify(&token).await.unwrap();
        assert_eq!(principal.subject, "alice");
        assert_eq!(principal.role, Some(Role::Editor));
        assert!(principal.require(Role::Viewer).is_ok());
        assert!(principal.require(Role::Editor).is_ok());
        assert_eq!(principal.require(Role::Admin).unwrap_err().status, 403);
    }

    #[tokio::test]
    async fn wrong_secret_audience_or_issuer_is_401() {
        let auth = Authenticator::new(config());
        let other = SecretString::from("another-secret");
        let right = SecretString::from("test-secret-of-some-length");
        let ttl = Duration::from_secs(60);
        for token in [
            issue_dev_token(&other, "warp-local", "warp-api", "a", &["admin"], ttl).unwrap(),
            issue_dev_token(&right, "warp-local", "other-api", "a", &["admin"], ttl).unwrap(),
            issue_dev_token(&right, "someone", "warp-api", "a", &["admin"], ttl).unwrap(),
            "not.a.token".to_owned(),
        ] {
            assert_eq!(auth.verify(&token).await.unwrap_err().status, 401);
        }
    }

    /// A token signed with the test secret over `payload` exactly as written (so a payload can
    /// repeat a claim, which no JSON serialiser would produce).
    fn signed(payload: &str) -> String {
        use base64::Engine as _;
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let message = format!(
            "{}.{}",
            b64(br#"{"alg":"HS256","typ":"JWT"}"#),
            b64(payload.as_bytes())
        );
        let key = EncodingKey::from_secret(b"test-secret-of-some-length");
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256).unwrap();
        format!("{message}.{signature}")
    }

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn claims(extra: &str, exp: u64) -> String {
        format!(
            r#"{{"sub":"a","iss":"warp-local","aud":"warp-api","exp":{exp},"roles":["viewer"]{extra}}}"#
        )
    }

    #[tokio::test]
    async fn time_claims_are_checked_with_a_minute_of_leeway() {
        let auth = Authenticator::new(config());
        let now = now();
        let hour = now + 3600;
        // Accepted: ordinary, and clocks a little apart.
        for payload in [
            claims(&format!(r#","iat":{now},"nbf":{now}"#), hour),
            claims(&format!(r#","iat":{},"nbf":{}"#, now + 30, now + 30), hour),
            claims("", hour),
            // NumericDates may be fractional (RFC 7519 §2).
            claims(&format!(r#","iat":{now}.5"#), hour)
                .replace(&format!("\"exp\":{hour}"), &format!("\"exp\":{hour}.25")),
        ] {
            assert!(auth.verify(&signed(&payload)).await.is_ok(), "{payload}");
        }
        // Refused: not valid yet, issued in the future, never expiring, living too long.
        for payload in [
            claims(&format!(r#","nbf":{}"#, now + 600), hour),
            claims(&format!(r#","iat":{}"#, now + 600), hour),
            claims(&format!(r#","iat":{now}"#), u64::MAX),
            claims("", u64::MAX),
            claims(&format!(r#","iat":{now}"#), now + 2 * 86_400),
            claims(&format!(r#","iat":{}"#, now - 86_400), now + 3600),
        ] {
            assert_eq!(
                auth.verify(&signed(&payload)).await.unwrap_err().status,
                401,
                "{payload}"
            );
        }
    }

    #[tokio::test]
    async fn a_repeated_claim_is_refused_whichever_it_is() {
        let auth = Authenticator::new(config());
        let exp = now() + 3600;
        for repeated in [
            r#","roles":["admin"]"#,
            r#","sub":"b""#,
            r#","iss":"warp-local""#,
            &format!(r#","exp":{exp}"#),
        ] {
            let payload = claims(repeated, exp);
            assert_eq!(
                auth.verify(&signed(&payload)).await.unwrap_err().status,
                401,
                "{payload}"
            );
        }
        // The same payload without the repeat passes: the refusal is the repeat's.
        assert!(auth.verify(&signed(&claims("", exp))).await.is_ok());
    }
}
