//! The home portal's token source: whatever its installation says. A deployment that has only
//! ever had a static token gets a static home installation recorded on first use, and keeps
//! calling with that token; once the home portal is connected through OAuth, the same client
//! takes OAuth tokens (re-read every 30 s, so running processes follow a reconnect).

use std::time::{Duration, Instant};

use secrecy::SecretString;
use tokio::sync::Mutex;
use warp_hubspot::credentials::CredentialsFuture;
use warp_hubspot::{AccessTokens, AfterUnauthorized, CredentialsError, StaticToken};
use warp_store::Database;
use warp_store::installations::{self, InstallationStatus, TokenSource};

use crate::tokens::InstallationCredentials;

/// How long a process trusts what it read of the home installation.
const SOURCE_MAX_AGE: Duration = Duration::from_secs(30);

pub struct HomeCredentials {
    portal_id: i64,
    database: Database,
    static_token: Option<StaticToken>,
    oauth: Option<InstallationCredentials>,
    source: Mutex<Option<(TokenSource, Instant)>>,
}

impl std::fmt::Debug for HomeCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HomeCredentials")
            .field("portal_id", &self.portal_id)
            .finish_non_exhaustive()
    }
}

impl HomeCredentials {
    /// `static_token`: the configured token, if any; `oauth`: the app, if configured.
    pub fn new(
        portal_id: i64,
        database: Database,
        static_token: Option<SecretString>,
        oauth: Option<InstallationCredentials>,
    ) -> Self {
        Self {
            portal_id,
            database,
            static_token: static_token.map(StaticToken::new),
            oauth,
            source: Mutex::new(None),
        }
    }

    fn reconnect(&self, reason: &str) -> CredentialsError {
        CredentialsError::NeedsReconnect {
            portal_id: self.portal_id,
            reason: reason.to_owned(),
        }
    }

    async fn source(&self) -> Result<&dyn AccessTokens, CredentialsError> {
        let mut source = self.source.lock().await;
        let known = match *source {
            Some((known, read_at)) if read_at.elapsed() < SOURCE_MAX_AGE => known,
            _ => {
                let client = self
                    .database
                    .client()
                    .await
                    .map_err(|e| CredentialsError::Unavailable(e.to_string()))?;
                let recorded = match installations::home(&**client).await {
                    Ok(Some(home)) => home,
                    Ok(None) if self.static_token.is_some() => {
                        installations::ensure_home_static(&**client, self.portal_id)
                            .await
                            .map_err(|e| CredentialsError::Unavailable(e.to_string()))?
                    }
                    Ok(None) => {
                        return Err(self.reconnect(
                            "no home installation: connect the home portal through OAuth",
                        ));
                    }
                    Err(error) => return Err(CredentialsError::Unavailable(error.to_string())),
                };
                if recorded.portal_id != self.portal_id {
                    return Err(self.reconnect(&format!(
                        "the home installation is portal {}, not HUBSPOT_PORTAL_ID {}",
                        recorded.portal_id, self.portal_id
                    )));
                }
                if recorded.token_source == TokenSource::Static
                    && recorded.status != InstallationStatus::Active
                {
                    return Err(self.reconnect("the home installation is not active"));
                }
                *source = Some((recorded.token_source, Instant::now()));
                recorded.token_source
            }
        };
        match known {
            TokenSource::Static => self
                .static_token
                .as_ref()
                .map(|token| token as &dyn AccessTokens)
                .ok_or_else(|| self.reconnect("the home portal is static but no HUBSPOT_TOKEN is configured")),
            TokenSource::OAuth => self
                .oauth
                .as_ref()
                .map(|tokens| tokens as &dyn AccessTokens)
                .ok_or_else(|| self.reconnect("the home portal is an OAuth install but no HUBSPOT_CLIENT_ID is configured")),
        }
    }
}

impl AccessTokens for HomeCredentials {
    fn token(&self) -> CredentialsFuture<'_, Result<SecretString, CredentialsError>> {
        Box::pin(async move { self.source().await?.token().await })
    }

    fn unauthorized<'a>(
        &'a self,
        used: &'a SecretString,
    ) -> CredentialsFuture<'a, Result<AfterUnauthorized, CredentialsError>> {
        Box::pin(async move { self.source().await?.unauthorized(used).await })
    }
}
