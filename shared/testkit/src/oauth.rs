//! WARP's HubSpot app pointed at the sandbox's OAuth server, and a keyring for its tokens.

use std::sync::Arc;

use hubspot_sandbox::SandboxHandle;
use secrecy::SecretString;
use warp_installations::{OAuthApp, OAuthAppSettings, TokenKeyring, seal_grant};
use warp_store::Database;
use warp_store::installations::{self, Installation, InstallationRole, OAuthConnection};

use crate::{Consent, HubSpotUi};

/// The sandbox's registered app.
pub const CLIENT_ID: &str = "sandbox-client-id";
pub const CLIENT_SECRET: &str = "sandbox-client-secret";
/// One test key (32 bytes, base64) under id `k1`.
pub const TOKEN_KEYS: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

pub fn keyring() -> Arc<TokenKeyring> {
    Arc::new(
        TokenKeyring::parse(&SecretString::from(TOKEN_KEYS.to_owned())).expect("the test keyring"),
    )
}

/// The app, redirecting to `redirect_url`, asking for `scopes`.
pub fn app(sandbox: &SandboxHandle, redirect_url: &str, scopes: &[&str]) -> OAuthApp {
    OAuthApp::new(
        &OAuthAppSettings {
            client_id: CLIENT_ID.into(),
            client_secret: SecretString::from(CLIENT_SECRET.to_owned()),
            authorize_url: format!("{}/oauth/authorize", sandbox.base_url()),
            api_base_url: sandbox.base_url(),
            redirect_url: redirect_url.into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            optional_scopes: vec![],
        },
        reqwest::Client::new(),
    )
    .expect("the OAuth app")
}

/// Installs `app` in the sandbox's portal `portal_id` (a person approving the consent page for
/// that account) and records the installation with `role`, as the callback does.
pub async fn install(
    sandbox: &SandboxHandle,
    database: &Database,
    app: &OAuthApp,
    keyring: &TokenKeyring,
    portal_id: i64,
    role: InstallationRole,
) -> Installation {
    let link = app.install_link("test-state");
    let back = HubSpotUi::new(sandbox)
        .consent(&link.url, Consent::ApproveIn(portal_id))
        .await;
    let code = back
        .query_pairs()
        .find(|(name, _)| name == "code")
        .expect("the consent answers a code")
        .1
        .into_owned();
    let grant = app
        .exchange_code(&code, &link.pkce_verifier)
        .await
        .expect("the code exchange");
    assert_eq!(
        grant.hub_id,
        Some(portal_id),
        "the grant is for the picked portal"
    );
    let (tokens, _) = seal_grant(keyring, portal_id, &grant);
    let client = database.client().await.expect("a connection");
    installations::save_oauth(
        &**client,
        &OAuthConnection {
            portal_id,
            role,
            scopes: grant.scopes.clone(),
            hub_domain: None,
            connected_by: "test@warp.example".into(),
            tokens,
        },
    )
    .await
    .expect("the installation is recorded")
}
