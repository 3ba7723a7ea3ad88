//! HubSpot installations (DESIGN §7 "Portals"): which token each portal is called with.
//!
//! - [`app_token`]: the app's own client-credentials token (the Webhooks Journal).
//! - [`cipher`]: OAuth tokens sealed at rest (AES-256-GCM, a rotating keyring).
//! - [`oauth`]: WARP's HubSpot app as an OAuth client (install link with PKCE, code exchange,
//!   refresh).
//! - [`connect`]: connecting a portal (signed single-use state, PKCE) and disconnecting it.
//! - [`home`]: the home portal's tokens, static or OAuth as its installation says.
//! - [`tokens`]: an OAuth installation's access tokens for the HubSpot client, refreshed
//!   single-flight across every process.
//!
//! The rows themselves are `warp_store::installations`.

pub mod app_token;
pub mod cipher;
pub mod connect;
pub mod home;
pub mod oauth;
pub mod tokens;

pub use app_token::{AppCredentials, JOURNAL_SCOPES};
pub use cipher::{CipherError, KeyringError, TokenKeyring, TokenRole};
pub use connect::{CONNECT_LIFETIME, ConnectError, Connector, Disconnected, StartedConnect};
pub use home::HomeCredentials;
pub use oauth::{InstallLink, OAuthApp, OAuthAppSettings, OAuthError, TokenGrant};
pub use tokens::{InstallationCredentials, REFRESH_MARGIN, seal_grant};
