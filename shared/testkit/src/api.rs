//! The customer API over a test's database, served on a loopback port, with a token for any
//! role (HS256 with a secret of its own).

use std::time::Duration;

use secrecy::SecretString;
use warp_store::Database;

pub struct ApiServer {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    secret: SecretString,
}

impl ApiServer {
    /// Serves the API of `portal_id` over `database` (no HubSpot client) until the test's
    /// runtime ends.
    pub async fn start(database: &Database, portal_id: i64) -> Self {
        let secret = SecretString::from(format!("test-api-{}", uuid::Uuid::now_v7()));
        let state = warp_api::ApiState::new(
            database.clone(),
            warp_api::AuthConfig::hs256(secret.clone()),
            portal_id,
        );
        let base = crate::serve(warp_api::router(state)).await;
        ApiServer { base, secret }
    }

    /// A bearer token for `role` (viewer, editor, admin), its subject the role's name.
    pub fn token(&self, role: &str) -> String {
        warp_api::issue_dev_token(
            &self.secret,
            warp_api::AuthConfig::DEFAULT_ISSUER,
            warp_api::AuthConfig::DEFAULT_AUDIENCE,
            role,
            &[role],
            Duration::from_secs(3600),
        )
        .expect("a dev token")
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}
