//! `hubspot_installations`: the HubSpot accounts WARP talks to (V9). This module stores and
//! reads rows; it never sees a token in clear (sealing and opening is `warp-installations`'
//! concern), only the sealed bytes and the id of the key that sealed them.
//!
//! Refreshing an OAuth token is single-flight across every process: the refresher takes the
//! row with [`lock_tokens`] (`FOR UPDATE`), and whoever waited behind it finds the fresh
//! tokens when the lock is released.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use tokio_postgres::types::Type;
use uuid::Uuid;
use warp_domain::storable::storable;

use crate::StoreError;

/// Which HubSpot account an installation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallationRole {
    /// WARP's own CRM.
    Home,
    /// A WARP customer's HubSpot.
    Customer(Uuid),
}

impl InstallationRole {
    /// The `role` column's text.
    pub fn as_str(self) -> &'static str {
        match self {
            InstallationRole::Home => "home",
            InstallationRole::Customer(_) => "customer",
        }
    }

    /// The customer a customer portal belongs to.
    pub fn customer_id(self) -> Option<Uuid> {
        match self {
            InstallationRole::Home => None,
            InstallationRole::Customer(id) => Some(id),
        }
    }
}

/// Where an installation's access token comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// A token from the deployment's configuration (a Service Key, a static-auth app's token or
    /// a legacy private app token), never stored here.
    Static,
    /// An OAuth install: sealed tokens in the row, refreshed before they expire.
    OAuth,
}

impl TokenSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenSource::Static => "static",
            TokenSource::OAuth => "oauth",
        }
    }
}

/// Whether WARP may call the installation's portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallationStatus {
    Active,
    /// HubSpot refused the refresh (uninstalled, or the grant revoked): its work waits until
    /// someone reconnects.
    NeedsReconnect,
    /// Disconnected from WARP: nothing is sent to it again.
    Revoked,
}

impl InstallationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InstallationStatus::Active => "active",
            InstallationStatus::NeedsReconnect => "needs_reconnect",
            InstallationStatus::Revoked => "revoked",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "active" => Ok(Self::Active),
            "needs_reconnect" => Ok(Self::NeedsReconnect),
            "revoked" => Ok(Self::Revoked),
            other => Err(StoreError::Other(format!(
                "unexpected installation status {other:?}"
            ))),
        }
    }
}

/// An installation as status shows it: everything but its tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installation {
    pub portal_id: i64,
    pub role: InstallationRole,
    pub token_source: TokenSource,
    pub status: InstallationStatus,
    pub scopes: Vec<String>,
    pub hub_domain: Option<String>,
    pub connected_at: DateTime<Utc>,
    pub connected_by: Option<String>,
    pub access_token_expires_at: Option<DateTime<Utc>>,
    pub last_refreshed_at: Option<DateTime<Utc>>,
    pub refresh_count: i64,
    pub last_error: Option<String>,
    /// Requests per 10 s this portal's budget allows; `None`: the deployment's default.
    pub rate_limit_max: Option<i32>,
}

/// An OAuth installation's tokens, sealed: `key_id` names the key that sealed both.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedTokens {
    pub access_token: Vec<u8>,
    pub refresh_token: Vec<u8>,
    pub key_id: String,
    pub access_token_expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for SealedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedTokens")
            .field("key_id", &self.key_id)
            .field("access_token_expires_at", &self.access_token_expires_at)
            .finish_non_exhaustive()
    }
}

/// What an OAuth connect (or reconnect) learned.
#[derive(Debug, Clone)]
pub struct OAuthConnection {
    pub portal_id: i64,
    pub role: InstallationRole,
    pub scopes: Vec<String>,
    pub hub_domain: Option<String>,
    pub connected_by: String,
    pub tokens: SealedTokens,
}

/// An installation's row with its sealed tokens (none for a static one).
#[derive(Debug, Clone)]
pub struct InstallationTokens {
    pub status: InstallationStatus,
    pub token_source: TokenSource,
    pub tokens: Option<SealedTokens>,
}

const COLUMNS: &str = "portal_id, role, customer_id, token_source, status, scopes, hub_domain, \
     connected_at, connected_by, access_token_expires_at, last_refreshed_at, refresh_count, \
     last_error, rate_limit_max";

/// Records the home portal as a static installation unless it is recorded already. A home
/// portal recorded under another id is refused: the configuration names the wrong account.
pub async fn ensure_home_static(
    client: &impl GenericClient,
    portal_id: i64,
) -> Result<Installation, StoreError> {
    client
        .query_typed(
            "INSERT INTO hubspot_installations (portal_id, role, token_source)
             VALUES ($1, 'home', 'static')
             ON CONFLICT DO NOTHING",
            &[(&portal_id, Type::INT8)],
        )
        .await?;
    let home = home(client)
        .await?
        .ok_or_else(|| StoreError::Other("no home installation after recording it".into()))?;
    if home.portal_id != portal_id {
        return Err(StoreError::Conflict(format!(
            "the home portal is {}, not {portal_id}",
            home.portal_id
        )));
    }
    Ok(home)
}

/// The home installation, if one is recorded.
pub async fn home(client: &impl GenericClient) -> Result<Option<Installation>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM hubspot_installations WHERE role = 'home'");
    let row = client.query_typed(&sql, &[]).await?.into_iter().next();
    row.as_ref().map(installation_of).transpose()
}

pub async fn get(
    client: &impl GenericClient,
    portal_id: i64,
) -> Result<Option<Installation>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM hubspot_installations WHERE portal_id = $1");
    let rows = client
        .query_typed(&sql, &[(&portal_id, Type::INT8)])
        .await?;
    rows.first().map(installation_of).transpose()
}

/// Every installation, the home portal first.
pub async fn list(client: &impl GenericClient) -> Result<Vec<Installation>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM hubspot_installations ORDER BY role = 'home' DESC, portal_id"
    );
    let rows = client.query_typed(&sql, &[]).await?;
    rows.iter().map(installation_of).collect()
}

/// Records an OAuth connect: a new installation, or the same portal reconnected (active again,
/// with the new tokens and scopes). A portal connected for one customer cannot be taken over
/// for another, nor a customer portal become the home one (or the reverse).
pub async fn save_oauth(
    client: &impl GenericClient,
    connection: &OAuthConnection,
) -> Result<Installation, StoreError> {
    let (role, customer_id) = role_columns(connection.role);
    let tokens = &connection.tokens;
    // HubSpot's words: stored as they came, NULs replaced.
    let scopes: Vec<Cow<'_, str>> = connection.scopes.iter().map(|s| storable(s)).collect();
    let hub_domain = connection.hub_domain.as_deref().map(storable);
    let connected_by = storable(&connection.connected_by);
    let sql = format!(
        "INSERT INTO hubspot_installations AS i (portal_id, role, customer_id, token_source,
             status, scopes, hub_domain, connected_by, access_token_sealed, refresh_token_sealed,
             token_key_id, access_token_expires_at)
         VALUES ($1, $2, $3, 'oauth', 'active', $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (portal_id) DO UPDATE SET
             token_source = 'oauth', status = 'active', scopes = EXCLUDED.scopes,
             hub_domain = EXCLUDED.hub_domain, connected_at = now(),
             connected_by = EXCLUDED.connected_by,
             access_token_sealed = EXCLUDED.access_token_sealed,
             refresh_token_sealed = EXCLUDED.refresh_token_sealed,
             token_key_id = EXCLUDED.token_key_id,
             access_token_expires_at = EXCLUDED.access_token_expires_at,
             last_error = NULL, updated_at = now()
         WHERE i.role = EXCLUDED.role
           AND i.customer_id IS NOT DISTINCT FROM EXCLUDED.customer_id
         RETURNING {COLUMNS}"
    );
    let rows = client
        .query_typed(
            &sql,
            &[
                (&connection.portal_id, Type::INT8),
                (&role, Type::TEXT),
                (&customer_id, Type::UUID),
                (&scopes, Type::TEXT_ARRAY),
                (&hub_domain, Type::TEXT),
                (&connected_by, Type::TEXT),
                (&tokens.access_token, Type::BYTEA),
                (&tokens.refresh_token, Type::BYTEA),
                (&tokens.key_id, Type::TEXT),
                (&tokens.access_token_expires_at, Type::TIMESTAMPTZ),
            ],
        )
        .await
        .map_err(|error| match error.code() {
            Some(code) if *code == tokio_postgres::error::SqlState::UNIQUE_VIOLATION => {
                StoreError::Conflict(
                    "another installation holds this role (one home portal, one portal per customer)"
                        .into(),
                )
            }
            _ => StoreError::from(error),
        })?;
    match rows.first() {
        Some(row) => installation_of(row),
        None => Err(StoreError::Conflict(format!(
            "portal {} is connected for another owner",
            connection.portal_id
        ))),
    }
}

/// The installation's status and sealed tokens, without a lock (the fast path of a caller whose
/// cached token is about to expire: another process may have refreshed already).
pub async fn read_tokens(
    client: &impl GenericClient,
    portal_id: i64,
) -> Result<Option<InstallationTokens>, StoreError> {
    tokens_query(client, portal_id, "").await
}

/// [`read_tokens`] holding the row until the transaction ends: the one refresher's lock.
pub async fn lock_tokens(
    transaction: &impl GenericClient,
    portal_id: i64,
) -> Result<Option<InstallationTokens>, StoreError> {
    tokens_query(transaction, portal_id, " FOR UPDATE").await
}

async fn tokens_query(
    client: &impl GenericClient,
    portal_id: i64,
    locking: &str,
) -> Result<Option<InstallationTokens>, StoreError> {
    let sql = format!(
        "SELECT status, token_source, access_token_sealed, refresh_token_sealed, token_key_id,
                access_token_expires_at
         FROM hubspot_installations WHERE portal_id = $1{locking}"
    );
    let rows = client
        .query_typed(&sql, &[(&portal_id, Type::INT8)])
        .await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let status = InstallationStatus::parse(row.try_get("status")?)?;
    let token_source = token_source_of(row.try_get("token_source")?)?;
    Ok(Some(InstallationTokens {
        status,
        token_source,
        tokens: sealed_of(row)?,
    }))
}

/// Stores the tokens a refresh returned (HubSpot may rotate the refresh token: whatever came
/// back is kept) and counts the refresh.
pub async fn store_refreshed(
    client: &impl GenericClient,
    portal_id: i64,
    tokens: &SealedTokens,
) -> Result<(), StoreError> {
    client
        .query_typed(
            "UPDATE hubspot_installations
             SET access_token_sealed = $2, refresh_token_sealed = $3, token_key_id = $4,
                 access_token_expires_at = $5, last_refreshed_at = now(),
                 refresh_count = refresh_count + 1, last_error = NULL, updated_at = now()
             WHERE portal_id = $1",
            &[
                (&portal_id, Type::INT8),
                (&tokens.access_token, Type::BYTEA),
                (&tokens.refresh_token, Type::BYTEA),
                (&tokens.key_id, Type::TEXT),
                (&tokens.access_token_expires_at, Type::TIMESTAMPTZ),
            ],
        )
        .await?;
    Ok(())
}

/// HubSpot refused the installation's grant: its work waits until someone reconnects.
pub async fn mark_needs_reconnect(
    client: &impl GenericClient,
    portal_id: i64,
    reason: &str,
) -> Result<(), StoreError> {
    set_status(
        client,
        portal_id,
        InstallationStatus::NeedsReconnect,
        reason,
    )
    .await
}

/// Records a failure that does not change the status (HubSpot's token endpoint down, say).
pub async fn record_error(
    client: &impl GenericClient,
    portal_id: i64,
    reason: &str,
) -> Result<(), StoreError> {
    let reason = storable(reason);
    client
        .query_typed(
            "UPDATE hubspot_installations SET last_error = $2, updated_at = now()
             WHERE portal_id = $1",
            &[(&portal_id, Type::INT8), (&reason, Type::TEXT)],
        )
        .await?;
    Ok(())
}

async fn set_status(
    client: &impl GenericClient,
    portal_id: i64,
    status: InstallationStatus,
    reason: &str,
) -> Result<(), StoreError> {
    let reason = storable(reason);
    client
        .query_typed(
            "UPDATE hubspot_installations SET status = $2, last_error = $3, updated_at = now()
             WHERE portal_id = $1",
            &[
                (&portal_id, Type::INT8),
                (&status.as_str(), Type::TEXT),
                (&reason, Type::TEXT),
            ],
        )
        .await?;
    Ok(())
}

/// Disconnects an installation: `revoked`, its tokens wiped; every local record and log stays.
/// Answers the sealed tokens it held (to revoke them at HubSpot), or `None` when there was no
/// such installation.
pub async fn disconnect(
    client: &impl GenericClient,
    portal_id: i64,
    by: &str,
) -> Result<Option<Option<SealedTokens>>, StoreError> {
    let reason = format!("disconnected by {}", storable(by));
    let rows = client
        .query_typed(
            "UPDATE hubspot_installations i
             SET status = 'revoked', access_token_sealed = NULL, refresh_token_sealed = NULL,
                 token_key_id = NULL, access_token_expires_at = NULL, last_error = $2,
                 updated_at = now()
             FROM (SELECT portal_id, access_token_sealed, refresh_token_sealed, token_key_id,
                          access_token_expires_at
                   FROM hubspot_installations WHERE portal_id = $1 FOR UPDATE) old
             WHERE i.portal_id = old.portal_id
             RETURNING old.access_token_sealed, old.refresh_token_sealed, old.token_key_id,
                       old.access_token_expires_at",
            &[(&portal_id, Type::INT8), (&reason, Type::TEXT)],
        )
        .await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    Ok(Some(sealed_of(row)?))
}

/// The sealed tokens of a row naming the four token columns; `None` when it holds none.
fn sealed_of(row: &tokio_postgres::Row) -> Result<Option<SealedTokens>, StoreError> {
    let access: Option<Vec<u8>> = row.try_get("access_token_sealed")?;
    let refresh: Option<Vec<u8>> = row.try_get("refresh_token_sealed")?;
    let key_id: Option<String> = row.try_get("token_key_id")?;
    let expires: Option<DateTime<Utc>> = row.try_get("access_token_expires_at")?;
    Ok(match (access, refresh, key_id, expires) {
        (Some(access_token), Some(refresh_token), Some(key_id), Some(expires)) => {
            Some(SealedTokens {
                access_token,
                refresh_token,
                key_id,
                access_token_expires_at: expires,
            })
        }
        _ => None,
    })
}

/// An OAuth connect in progress (`hubspot_oauth_states`).
#[derive(Clone)]
pub struct PendingConnect {
    pub id: Uuid,
    pub requested_by: String,
    pub role: InstallationRole,
    pub pkce_verifier_sealed: Vec<u8>,
    pub token_key_id: String,
}

impl std::fmt::Debug for PendingConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingConnect")
            .field("id", &self.id)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Records a connect that expires after `lifetime`; expired ones are swept on the way.
pub async fn start_connect(
    client: &impl GenericClient,
    pending: &PendingConnect,
    lifetime: std::time::Duration,
) -> Result<(), StoreError> {
    let (role, customer_id) = role_columns(pending.role);
    let lifetime_ms = i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX);
    let requested_by = storable(&pending.requested_by);
    client
        .query_typed(
            "WITH swept AS (DELETE FROM hubspot_oauth_states
                            WHERE expires_at < now() - interval '1 day')
             INSERT INTO hubspot_oauth_states (id, requested_by, role, customer_id,
                 pkce_verifier_sealed, token_key_id, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7 / 1000.0))",
            &[
                (&pending.id, Type::UUID),
                (&requested_by, Type::TEXT),
                (&role, Type::TEXT),
                (&customer_id, Type::UUID),
                (&pending.pkce_verifier_sealed, Type::BYTEA),
                (&pending.token_key_id, Type::TEXT),
                (&lifetime_ms, Type::INT8),
            ],
        )
        .await?;
    Ok(())
}

/// Takes a connect for its callback: once, and only before it expires. `None` otherwise.
pub async fn take_connect(
    client: &impl GenericClient,
    id: Uuid,
) -> Result<Option<PendingConnect>, StoreError> {
    let rows = client
        .query_typed(
            "UPDATE hubspot_oauth_states SET used_at = now()
             WHERE id = $1 AND used_at IS NULL AND expires_at > now()
             RETURNING id, requested_by, role, customer_id, pkce_verifier_sealed, token_key_id",
            &[(&id, Type::UUID)],
        )
        .await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let role: &str = row.try_get("role")?;
    Ok(Some(PendingConnect {
        id: row.try_get("id")?,
        requested_by: row.try_get("requested_by")?,
        role: role_of(role, row.try_get("customer_id")?)?,
        pkce_verifier_sealed: row.try_get("pkce_verifier_sealed")?,
        token_key_id: row.try_get("token_key_id")?,
    }))
}

fn role_columns(role: InstallationRole) -> (&'static str, Option<Uuid>) {
    (role.as_str(), role.customer_id())
}

fn role_of(role: &str, customer_id: Option<Uuid>) -> Result<InstallationRole, StoreError> {
    match (role, customer_id) {
        ("home", None) => Ok(InstallationRole::Home),
        ("customer", Some(id)) => Ok(InstallationRole::Customer(id)),
        (other, _) => Err(StoreError::Other(format!(
            "unexpected installation role {other:?}"
        ))),
    }
}

fn token_source_of(text: &str) -> Result<TokenSource, StoreError> {
    match text {
        "static" => Ok(TokenSource::Static),
        "oauth" => Ok(TokenSource::OAuth),
        other => Err(StoreError::Other(format!(
            "unexpected token source {other:?}"
        ))),
    }
}

fn installation_of(row: &tokio_postgres::Row) -> Result<Installation, StoreError> {
    let role: &str = row.try_get("role")?;
    let role = role_of(role, row.try_get("customer_id")?)?;
    Ok(Installation {
        portal_id: row.try_get("portal_id")?,
        role,
        token_source: token_source_of(row.try_get("token_source")?)?,
        status: InstallationStatus::parse(row.try_get("status")?)?,
        scopes: row.try_get("scopes")?,
        hub_domain: row.try_get("hub_domain")?,
        connected_at: row.try_get("connected_at")?,
        connected_by: row.try_get("connected_by")?,
        access_token_expires_at: row.try_get("access_token_expires_at")?,
        last_refreshed_at: row.try_get("last_refreshed_at")?,
        refresh_count: row.try_get("refresh_count")?,
        last_error: row.try_get("last_error")?,
        rate_limit_max: row.try_get("rate_limit_max")?,
    })
}

/// Sets a portal's request budget per 10 s (`None`: the deployment's default). False when the
/// portal has no installation.
pub async fn set_rate_limit(
    client: &impl GenericClient,
    portal_id: i64,
    rate_limit_max: Option<i32>,
) -> Result<bool, StoreError> {
    Ok(client
        .execute_typed(
            "UPDATE hubspot_installations SET rate_limit_max = $2 WHERE portal_id = $1",
            &[(&portal_id, Type::INT8), (&rate_limit_max, Type::INT4)],
        )
        .await?
        == 1)
}
