//! An OAuth installation's access tokens for the HubSpot client ([`AccessTokens`]).
//!
//! A token is used until 5 minutes before it expires. Then one caller refreshes, for every
//! process and Lambda instance at once: the refresher holds the installation's row
//! (`SELECT … FOR UPDATE`) while it asks HubSpot, and every other caller, in this process or
//! another, waits on that row and finds the new token when the lock is released. A refused
//! refresh (HubSpot's `invalid_grant` / `BAD_REFRESH_TOKEN`: the app uninstalled or the grant
//! revoked) marks the installation `needs_reconnect`; its work then waits instead of failing.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use warp_hubspot::credentials::CredentialsFuture;
use warp_hubspot::{AccessTokens, AfterUnauthorized, CredentialsError};
use warp_store::installations::{self, InstallationStatus, InstallationTokens, SealedTokens};
use warp_store::{Database, StoreError};

use crate::cipher::{TokenKeyring, TokenRole};
use crate::oauth::{OAuthApp, OAuthError, TokenGrant};

/// HubSpot: refresh at least 5 minutes before expiry.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// The tokens of one OAuth installation, shared by every client of that portal in a process.
pub struct InstallationCredentials {
    portal_id: i64,
    database: Database,
    keyring: Arc<TokenKeyring>,
    app: OAuthApp,
    margin: chrono::Duration,
    /// The token in use; the lock also makes one caller per process go to the database.
    cached: Mutex<Cached>,
}

#[derive(Default)]
struct Cached {
    token: Option<(SecretString, DateTime<Utc>)>,
    /// The token a 401 made this process refresh: refused as well, the grant is gone.
    refreshed_after_401: Option<SecretString>,
}

impl std::fmt::Debug for InstallationCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstallationCredentials")
            .field("portal_id", &self.portal_id)
            .finish_non_exhaustive()
    }
}

/// Whether a refresh is needed, or any token newer than the one a 401 refused will do.
#[derive(Clone, Copy)]
enum Need<'a> {
    Fresh,
    Other(&'a SecretString),
}

/// A row's access token: good for the caller, or due for a refresh (with the row's tokens).
enum Looked {
    Satisfies(SecretString, DateTime<Utc>),
    Stale(SealedTokens, SecretString, DateTime<Utc>),
}

impl InstallationCredentials {
    pub fn new(
        portal_id: i64,
        database: Database,
        keyring: Arc<TokenKeyring>,
        app: OAuthApp,
    ) -> Self {
        Self {
            portal_id,
            database,
            keyring,
            app,
            margin: chrono::Duration::from_std(REFRESH_MARGIN).unwrap_or_default(),
            cached: Mutex::new(Cached::default()),
        }
    }

    /// Refreshes this much before expiry instead of 5 minutes (tests with short-lived tokens).
    pub fn with_refresh_margin(mut self, margin: Duration) -> Self {
        self.margin = chrono::Duration::from_std(margin).unwrap_or_default();
        self
    }

    fn usable(&self, expires_at: DateTime<Utc>) -> bool {
        expires_at - self.margin > Utc::now()
    }

    fn satisfies(&self, token: &SecretString, expires_at: DateTime<Utc>, need: Need<'_>) -> bool {
        match need {
            Need::Fresh => self.usable(expires_at),
            Need::Other(refused) => {
                token.expose_secret() != refused.expose_secret() && expires_at > Utc::now()
            }
        }
    }

    async fn current(
        &self,
        need: Need<'_>,
    ) -> Result<(SecretString, DateTime<Utc>), CredentialsError> {
        let unavailable = |error: StoreError| CredentialsError::Unavailable(error.to_string());
        let mut client = self
            .database
            .client()
            .await
            .map_err(|e| CredentialsError::Unavailable(e.to_string()))?;
        // Fast path: another process may have refreshed already.
        let row = installations::read_tokens(&**client, self.portal_id)
            .await
            .map_err(unavailable)?;
        if let Looked::Satisfies(token, expires_at) = self.look(row, need)? {
            return Ok((token, expires_at));
        }

        let transaction = client
            .transaction()
            .await
            .map_err(|e| CredentialsError::Unavailable(e.to_string()))?;
        let row = installations::lock_tokens(&*transaction, self.portal_id)
            .await
            .map_err(unavailable)?;
        let (sealed, token, expires_at) = match self.look(row, need)? {
            // Refreshed while this caller waited for the row.
            Looked::Satisfies(token, expires_at) => return Ok((token, expires_at)),
            Looked::Stale(sealed, token, expires_at) => (sealed, token, expires_at),
        };
        let refresh_token = self
            .keyring
            .open(
                &sealed.key_id,
                self.portal_id,
                TokenRole::Refresh,
                &sealed.refresh_token,
            )
            .map_err(|e| CredentialsError::Unavailable(e.to_string()))?;
        let outcome = match self.app.refresh(&refresh_token).await {
            Ok(grant) => {
                let (sealed, expires_at) = self.seal(&grant);
                installations::store_refreshed(&*transaction, self.portal_id, &sealed)
                    .await
                    .map_err(unavailable)?;
                tracing::info!(portal_id = self.portal_id, "HubSpot access token refreshed");
                Ok((grant.access_token, expires_at))
            }
            Err(OAuthError::Refused(reason)) => {
                let reason =
                    format!("HubSpot refused the token refresh ({reason}): reconnect the portal");
                installations::mark_needs_reconnect(&*transaction, self.portal_id, &reason)
                    .await
                    .map_err(unavailable)?;
                tracing::warn!(
                    portal_id = self.portal_id,
                    "HubSpot refused the refresh: installation needs reconnecting"
                );
                Err(CredentialsError::NeedsReconnect {
                    portal_id: self.portal_id,
                    reason,
                })
            }
            Err(error) => {
                let reason = error.to_string();
                installations::record_error(&*transaction, self.portal_id, &reason)
                    .await
                    .map_err(unavailable)?;
                if matches!(need, Need::Fresh) && expires_at > Utc::now() {
                    // Still valid (inside the margin only): used while HubSpot recovers.
                    Ok((token, expires_at))
                } else {
                    Err(CredentialsError::Unavailable(reason))
                }
            }
        };
        transaction
            .commit()
            .await
            .map_err(|e| CredentialsError::Unavailable(e.to_string()))?;
        outcome
    }

    /// What a read of the row offers `need`.
    fn look(
        &self,
        row: Option<InstallationTokens>,
        need: Need<'_>,
    ) -> Result<Looked, CredentialsError> {
        let sealed = self.callable(row)?;
        let (token, expires_at) = self.open_access(&sealed)?;
        Ok(if self.satisfies(&token, expires_at, need) {
            Looked::Satisfies(token, expires_at)
        } else {
            Looked::Stale(sealed, token, expires_at)
        })
    }

    /// The sealed tokens of an installation that may be called.
    fn callable(&self, row: Option<InstallationTokens>) -> Result<SealedTokens, CredentialsError> {
        let reconnect = |reason: &str| CredentialsError::NeedsReconnect {
            portal_id: self.portal_id,
            reason: reason.to_owned(),
        };
        let row = row.ok_or_else(|| reconnect("the portal is not installed"))?;
        match row.status {
            InstallationStatus::Active => {}
            InstallationStatus::NeedsReconnect => {
                return Err(reconnect("HubSpot refused the installation's grant"));
            }
            InstallationStatus::Revoked => return Err(reconnect("the portal was disconnected")),
        }
        row.tokens
            .ok_or_else(|| reconnect("the installation holds no OAuth tokens"))
    }

    fn open_access(
        &self,
        sealed: &SealedTokens,
    ) -> Result<(SecretString, DateTime<Utc>), CredentialsError> {
        let token = self
            .keyring
            .open(
                &sealed.key_id,
                self.portal_id,
                TokenRole::Access,
                &sealed.access_token,
            )
            .map_err(|e| CredentialsError::Unavailable(e.to_string()))?;
        Ok((token, sealed.access_token_expires_at))
    }

    /// Seals a grant's tokens with the current key.
    pub fn seal(&self, grant: &TokenGrant) -> (SealedTokens, DateTime<Utc>) {
        seal_grant(&self.keyring, self.portal_id, grant)
    }
}

/// A grant's tokens sealed for `portal_id`, with the instant the access token expires.
pub fn seal_grant(
    keyring: &TokenKeyring,
    portal_id: i64,
    grant: &TokenGrant,
) -> (SealedTokens, DateTime<Utc>) {
    let expires_at = Utc::now() + chrono::Duration::from_std(grant.expires_in).unwrap_or_default();
    let sealed = SealedTokens {
        access_token: keyring.seal(portal_id, TokenRole::Access, &grant.access_token),
        refresh_token: keyring.seal(portal_id, TokenRole::Refresh, &grant.refresh_token),
        key_id: keyring.current_id().to_owned(),
        access_token_expires_at: expires_at,
    };
    (sealed, expires_at)
}

impl AccessTokens for InstallationCredentials {
    fn token(&self) -> CredentialsFuture<'_, Result<SecretString, CredentialsError>> {
        Box::pin(async move {
            let mut cached = self.cached.lock().await;
            if let Some((token, expires_at)) = &cached.token
                && self.usable(*expires_at)
            {
                return Ok(token.clone());
            }
            let (token, expires_at) = self.current(Need::Fresh).await?;
            cached.token = Some((token.clone(), expires_at));
            Ok(token)
        })
    }

    fn unauthorized<'a>(
        &'a self,
        used: &'a SecretString,
    ) -> CredentialsFuture<'a, Result<AfterUnauthorized, CredentialsError>> {
        Box::pin(async move {
            let mut cached = self.cached.lock().await;
            if let Some((token, _)) = &cached.token
                && token.expose_secret() != used.expose_secret()
            {
                return Ok(AfterUnauthorized::Retry);
            }
            if cached
                .refreshed_after_401
                .as_ref()
                .is_some_and(|token| token.expose_secret() == used.expose_secret())
            {
                // 401 again with the token a refresh just gave: the grant is gone.
                let reason =
                    "HubSpot refused a freshly refreshed token (401): reconnect the portal";
                // The caller gets the refusal either way; the status follows when it can.
                let marked = match self.database.client().await {
                    Ok(client) => {
                        installations::mark_needs_reconnect(&**client, self.portal_id, reason).await
                    }
                    Err(error) => Err(StoreError::from(error)),
                };
                if let Err(error) = marked {
                    tracing::warn!(portal_id = self.portal_id, %error, "could not mark the installation for reconnecting");
                }
                cached.token = None;
                return Err(CredentialsError::NeedsReconnect {
                    portal_id: self.portal_id,
                    reason: reason.to_owned(),
                });
            }
            let (token, expires_at) = self.current(Need::Other(used)).await?;
            cached.refreshed_after_401 = Some(token.clone());
            cached.token = Some((token, expires_at));
            Ok(AfterUnauthorized::Retry)
        })
    }
}
