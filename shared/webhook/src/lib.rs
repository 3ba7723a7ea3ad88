//! HubSpot webhook receiver, first step: verify the signature, store each event once, answer
//! fast. HubSpot's signature is the authentication (the Function URL has auth NONE), checked
//! over the raw body before anything is parsed or stored; events are stored with status
//! RECEIVED under their full dedupe key. Applying them to customers is a later step.
//!
//! - [`config`]: the secret, public URL, default scheme, legacy switch, body limit.
//! - [`signed_url`]: rebuilding the URL HubSpot signed.
//! - [`verify`]: which signature header to check, and with which recipe.
//! - [`store`]: one `INSERT ... SELECT FROM unnest ... ON CONFLICT DO NOTHING` per delivery.
//! - [`http`]: the axum routes.

pub mod config;
pub mod http;
pub mod signed_url;
pub mod store;
pub mod verify;

pub use config::{PublicUrl, Scheme, WebhookConfig, WebhookConfigError};
pub use http::{COMPANY_WEBHOOK_PATH, DeliveryReceipt, WEBHOOK_PATH, WebhookState, router};
pub use signed_url::{MissingHost, signed_url};
pub use store::{StoreEventsError, StoreOutcome, store_events};
pub use verify::{Rejection, SignatureVersion, sign_v3, verify_delivery};
