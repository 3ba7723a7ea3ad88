//! WARP's HubSpot app pointed at the sandbox's OAuth server, and a keyring for its tokens.

use std::sync::Arc;

use hubspot_sandbox::SandboxHandle;
use secrecy::SecretString;
use warp_installations::{OAuthApp, OAuthAppSettings, TokenKeyring};

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
