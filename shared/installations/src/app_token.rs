//! The app's own access token (OAuth client credentials) for the HubSpot client
//! ([`AccessTokens`]), for the APIs that belong to the app, not to one portal: the Webhooks
//! Journal's subscriptions and entries. Asked for once and kept in memory until 5 minutes
//! before it expires (half its life when it lives less than 10 minutes); never stored.

use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use warp_hubspot::credentials::CredentialsFuture;
use warp_hubspot::{AccessTokens, AfterUnauthorized, CredentialsError};

use crate::oauth::OAuthApp;
use crate::tokens::REFRESH_MARGIN;

/// The scopes the Webhooks Journal backstop needs: read the journal, read and make its
/// subscriptions.
pub const JOURNAL_SCOPES: [&str; 3] = [
    "developer.webhooks_journal.read",
    "developer.webhooks_journal.subscriptions.read",
    "developer.webhooks_journal.subscriptions.write",
];

/// Client-credentials tokens of WARP's HubSpot app, for one set of scopes.
pub struct AppCredentials {
    app: OAuthApp,
    scopes: Vec<String>,
    cached: Mutex<Option<(SecretString, Instant)>>,
}

impl std::fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppCredentials")
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl AppCredentials {
    pub fn new(app: OAuthApp, scopes: &[&str]) -> Self {
        Self {
            app,
            scopes: scopes.iter().map(|scope| (*scope).to_owned()).collect(),
            cached: Mutex::new(None),
        }
    }

    /// The Webhooks Journal's scopes ([`JOURNAL_SCOPES`]).
    pub fn for_journal(app: OAuthApp) -> Self {
        Self::new(app, &JOURNAL_SCOPES)
    }

    async fn current(&self) -> Result<SecretString, CredentialsError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, renew_at)) = cached.as_ref()
            && Instant::now() < *renew_at
        {
            return Ok(token.clone());
        }
        let grant = self
            .app
            .client_credentials(&self.scopes)
            .await
            .map_err(|error| CredentialsError::Unavailable(error.to_string()))?;
        let life = grant.expires_in;
        let margin = if life > REFRESH_MARGIN * 2 {
            REFRESH_MARGIN
        } else {
            life / 2
        };
        let renew_at = Instant::now() + life.saturating_sub(margin).max(Duration::from_secs(1));
        *cached = Some((grant.access_token.clone(), renew_at));
        Ok(grant.access_token)
    }
}

impl AccessTokens for AppCredentials {
    fn token(&self) -> CredentialsFuture<'_, Result<SecretString, CredentialsError>> {
        Box::pin(self.current())
    }

    fn unauthorized<'a>(
        &'a self,
        used: &'a SecretString,
    ) -> CredentialsFuture<'a, Result<AfterUnauthorized, CredentialsError>> {
        Box::pin(async move {
            let mut cached = self.cached.lock().await;
            if cached
                .as_ref()
                .is_some_and(|(token, _)| token.expose_secret() == used.expose_secret())
            {
                // Forgotten: the next request asks for a new one.
                *cached = None;
            }
            Ok(AfterUnauthorized::Retry)
        })
    }
}
