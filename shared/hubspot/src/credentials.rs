//! Where a request's bearer token comes from. A static token (a Service Key, a static-auth
//! app's token, a legacy private app token) never changes; an OAuth installation's token is
//! refreshed before it expires and may be refused for good (the app uninstalled), which
//! `warp-installations` implements on this trait.

use std::future::Future;
use std::pin::Pin;

use secrecy::SecretString;

pub type CredentialsFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why no token could be had.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CredentialsError {
    /// The installation cannot be called until someone reconnects it (a refused refresh, an
    /// uninstall, a disconnect). Work for it waits; it is not failed.
    #[error("HubSpot portal {portal_id} needs reconnecting: {reason}")]
    NeedsReconnect { portal_id: i64, reason: String },
    /// The token could not be had now (the token endpoint or the database unavailable).
    #[error("HubSpot token unavailable for now: {0}")]
    Unavailable(String),
}

/// What to do after HubSpot answered 401 to a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterUnauthorized {
    /// A fresh token exists now: send again with it.
    Retry,
    /// Another token would not help: the 401 stands.
    GiveUp,
}

/// A source of bearer tokens for one portal.
pub trait AccessTokens: Send + Sync + std::fmt::Debug {
    /// A token valid for the next request.
    fn token(&self) -> CredentialsFuture<'_, Result<SecretString, CredentialsError>>;

    /// HubSpot refused `used` with a 401. HubSpot says a 401 alone does not mean "refresh";
    /// a source that refreshes may try once (another process may have refreshed already) and
    /// decides the installation is gone when a fresh token is refused as well.
    fn unauthorized<'a>(
        &'a self,
        used: &'a SecretString,
    ) -> CredentialsFuture<'a, Result<AfterUnauthorized, CredentialsError>>;
}

/// A token that never changes: a 401 is the final answer.
#[derive(Clone)]
pub struct StaticToken(SecretString);

impl StaticToken {
    pub fn new(token: SecretString) -> Self {
        Self(token)
    }
}

impl std::fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaticToken([REDACTED])")
    }
}

impl AccessTokens for StaticToken {
    fn token(&self) -> CredentialsFuture<'_, Result<SecretString, CredentialsError>> {
        let token = self.0.clone();
        Box::pin(async move { Ok(token) })
    }

    fn unauthorized<'a>(
        &'a self,
        _used: &'a SecretString,
    ) -> CredentialsFuture<'a, Result<AfterUnauthorized, CredentialsError>> {
        Box::pin(async { Ok(AfterUnauthorized::GiveUp) })
    }
}
