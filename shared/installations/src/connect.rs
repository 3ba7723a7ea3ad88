//! Connecting and disconnecting a HubSpot portal through OAuth (the use case behind the API's
//! `/v1/hubspot/oauth/*` and `/v1/hubspot/installations/*` routes).
//!
//! The `state` WARP sends to HubSpot is `<connect id>.<HMAC-SHA256 of the id>`, keyed by the
//! app's client secret: a state WARP did not issue is refused before the database is asked.
//! The connect row (who asked, for which role, the sealed PKCE verifier) is single-use and
//! lives 10 minutes.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use uuid::Uuid;
use warp_store::installations::{
    self, Installation, InstallationRole, OAuthConnection, PendingConnect,
};
use warp_store::{Database, StoreError};

use crate::cipher::{TokenKeyring, TokenRole};
use crate::oauth::{OAuthApp, OAuthError};
use crate::tokens::seal_grant;

/// How long a person has to approve the consent page.
pub const CONNECT_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// The portal id the PKCE verifier is sealed under: none is known before the callback.
const NO_PORTAL_YET: i64 = 0;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Unknown, forged, used or expired `state`.
    #[error("the connect link is invalid, used or expired: start again")]
    InvalidState,
    /// The person declined on HubSpot's consent page.
    #[error("the HubSpot connection was declined")]
    Declined,
    #[error("HubSpot refused the authorization code: {0}")]
    CodeRefused(String),
    /// The portal is connected for another owner (the home portal, or another customer).
    #[error("{0}")]
    Conflict(String),
    #[error("HubSpot is unavailable: {0}")]
    HubSpotUnavailable(String),
    #[error("the HubSpot app is misconfigured: {0}")]
    Misconfigured(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<OAuthError> for ConnectError {
    fn from(error: OAuthError) -> Self {
        match error {
            OAuthError::Refused(reason) => ConnectError::CodeRefused(reason),
            OAuthError::Unavailable(reason) => ConnectError::HubSpotUnavailable(reason),
            OAuthError::Misconfigured(reason) => ConnectError::Misconfigured(reason),
        }
    }
}

/// A connect started: where to send the person.
#[derive(Debug, Clone)]
pub struct StartedConnect {
    pub authorize_url: url::Url,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// What a disconnect did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disconnected {
    /// HubSpot revoked the refresh token (false: there was none, or HubSpot failed: the
    /// installation is disconnected in WARP either way).
    pub token_revoked: bool,
    pub uninstalled: bool,
}

#[derive(Clone)]
pub struct Connector {
    database: Database,
    app: OAuthApp,
    keyring: Arc<TokenKeyring>,
    state_key: SecretString,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("app", &self.app)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// `state_key`: the app's client secret (WARP and HubSpot only know it).
    pub fn new(
        database: Database,
        app: OAuthApp,
        keyring: Arc<TokenKeyring>,
        state_key: SecretString,
    ) -> Self {
        Self {
            database,
            app,
            keyring,
            state_key,
        }
    }

    pub fn database(&self) -> &Database {
        &self.database
    }

    /// Starts a connect for `role`, asked by `requested_by` (a JWT subject).
    pub async fn start(
        &self,
        requested_by: &str,
        role: InstallationRole,
    ) -> Result<StartedConnect, ConnectError> {
        let id = Uuid::new_v4();
        let link = self.app.install_link(&self.sign(id));
        let pending = PendingConnect {
            id,
            requested_by: requested_by.to_owned(),
            role,
            pkce_verifier_sealed: self.keyring.seal(
                NO_PORTAL_YET,
                TokenRole::PkceVerifier,
                &link.pkce_verifier,
            ),
            token_key_id: self.keyring.current_id().to_owned(),
        };
        let client = self.database.client().await.map_err(StoreError::from)?;
        installations::start_connect(&**client, &pending, CONNECT_LIFETIME).await?;
        Ok(StartedConnect {
            authorize_url: link.url,
            expires_at: chrono::Utc::now()
                + chrono::Duration::from_std(CONNECT_LIFETIME).unwrap_or_default(),
        })
    }

    /// HubSpot's redirect back: `code` on approval, `error` when declined. The state is used
    /// up either way.
    pub async fn finish(
        &self,
        state: &str,
        code: Option<&str>,
    ) -> Result<Installation, ConnectError> {
        let id = self.verify(state).ok_or(ConnectError::InvalidState)?;
        let client = self.database.client().await.map_err(StoreError::from)?;
        let pending = installations::take_connect(&**client, id)
            .await?
            .ok_or(ConnectError::InvalidState)?;
        let code = code.ok_or(ConnectError::Declined)?;
        let verifier = self
            .keyring
            .open(
                &pending.token_key_id,
                NO_PORTAL_YET,
                TokenRole::PkceVerifier,
                &pending.pkce_verifier_sealed,
            )
            .map_err(|_| ConnectError::InvalidState)?;
        let grant = self.app.exchange_code(code, &verifier).await?;
        let portal_id = grant.hub_id.ok_or_else(|| {
            ConnectError::HubSpotUnavailable("HubSpot's token answer named no portal".into())
        })?;
        let (tokens, _) = seal_grant(&self.keyring, portal_id, &grant);
        let installation = installations::save_oauth(
            &**client,
            &OAuthConnection {
                portal_id,
                role: pending.role,
                scopes: grant.scopes.clone(),
                hub_domain: None,
                connected_by: pending.requested_by.clone(),
                tokens,
            },
        )
        .await
        .map_err(|error| match error {
            StoreError::Conflict(reason) => ConnectError::Conflict(reason),
            other => ConnectError::Store(other),
        })?;
        let resumed = warp_store::outbox::resume_portal(&**client, portal_id).await?;
        tracing::info!(portal_id, resumed, "HubSpot portal connected");
        Ok(installation)
    }

    /// Disconnects `portal_id`: revoked in WARP (tokens wiped, records and logs kept), its
    /// refresh token revoked at HubSpot, and with `uninstall` the app removed from the portal.
    /// `None` when there is no such installation.
    pub async fn disconnect(
        &self,
        portal_id: i64,
        by: &str,
        uninstall: bool,
    ) -> Result<Option<Disconnected>, ConnectError> {
        let client = self.database.client().await.map_err(StoreError::from)?;
        let Some(sealed) = installations::disconnect(&**client, portal_id, by).await? else {
            return Ok(None);
        };
        let mut outcome = Disconnected {
            token_revoked: false,
            uninstalled: false,
        };
        let Some(sealed) = sealed else {
            return Ok(Some(outcome));
        };
        let open = |role, bytes: &[u8]| {
            self.keyring
                .open(&sealed.key_id, portal_id, role, bytes)
                .ok()
        };
        // The app is removed with a live access token, before the grant is revoked.
        if uninstall && let Some(access) = open(TokenRole::Access, &sealed.access_token) {
            outcome.uninstalled = self.app.uninstall(&access).await.is_ok();
        }
        if let Some(refresh) = open(TokenRole::Refresh, &sealed.refresh_token) {
            outcome.token_revoked = self.app.revoke(&refresh).await.is_ok();
        }
        tracing::info!(portal_id, ?outcome, "HubSpot portal disconnected");
        Ok(Some(outcome))
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(self.state_key.expose_secret().as_bytes())
            .expect("HMAC takes a key of any length")
    }

    fn sign(&self, id: Uuid) -> String {
        let mut mac = self.mac();
        mac.update(id.as_bytes());
        format!(
            "{id}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    fn verify(&self, state: &str) -> Option<Uuid> {
        let (id, signature) = state.split_once('.')?;
        let id = Uuid::parse_str(id).ok()?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let mut mac = self.mac();
        mac.update(id.as_bytes());
        mac.verify_slice(&signature).ok()?;
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connector(key: &str) -> Connector {
        let app = OAuthApp::new(
            &crate::oauth::OAuthAppSettings {
                client_id: "c".into(),
                client_secret: SecretString::from(key.to_owned()),
                authorize_url: "https://app.hubspot.com/oauth/authorize".into(),
                api_base_url: "https://api.hubapi.com".into(),
                redirect_url: "https://warp.example/cb".into(),
                scopes: vec!["oauth".into()],
                optional_scopes: vec![],
            },
            reqwest::Client::new(),
        )
        .unwrap();
        let keyring = TokenKeyring::parse(&SecretString::from(
            "k:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".to_owned(),
        ))
        .unwrap();
        Connector::new(
            Database::connect("postgres://postgres@127.0.0.1:1/none", 1).unwrap(),
            app,
            Arc::new(keyring),
            SecretString::from(key.to_owned()),
        )
    }

    #[test]
    fn only_a_state_signed_with_the_app_secret_verifies() {
        let ours = connector("secret-1");
        let id = Uuid::new_v4();
        let state = ours.sign(id);
        assert_eq!(ours.verify(&state), Some(id));
        assert_eq!(connector("secret-2").verify(&state), None);
        let other_id = Uuid::new_v4();
        let (_, signature) = state.split_once('.').unwrap();
        assert_eq!(ours.verify(&format!("{other_id}.{signature}")), None);
        assert_eq!(ours.verify(&id.to_string()), None);
        assert_eq!(ours.verify("not-a-state"), None);
    }
}
