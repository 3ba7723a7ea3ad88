//! HubSpot webhook receiver: verify the signature, store each event once, answer fast, then
//! apply the events to customers by the field rules. HubSpot's signature is the authentication
//! (the Function URL has auth NONE), checked over the raw body before anything is parsed or
//! stored; events are stored with status RECEIVED under their full dedupe key, and
//! [`process`] applies them afterwards.
//!
//! - [`config`]: the secret, the signed URL's base, legacy switch, body limit.
//! - [`signed_url`]: rebuilding the URL HubSpot signed.
//! - [`verify`]: which signature header to check, and with which recipe.
//! - [`store`]: one `INSERT ... SELECT FROM unnest ... ON CONFLICT DO NOTHING` per delivery.
//! - [`http`]: the axum routes.
//! - [`process`]: applying stored events to customers by the field rules.
//! - [`journal`]: the Webhooks Journal backstop, storing what push did not deliver.

pub mod config;
pub mod http;
pub mod journal;
pub mod process;
pub mod signed_url;
pub mod source_ip;
pub mod verify;

pub use config::{PublicUrl, Scheme, SignedUrlBase, WebhookConfig, WebhookConfigError};
pub use http::{COMPANY_WEBHOOK_PATH, DeliveryReceipt, WEBHOOK_PATH, WebhookState, router};
pub use journal::{JournalPoller, JournalReport};
pub use process::{
    InboundProcessor, InboundReport, ProcessError, run_inbound_loop, run_inbound_loop_with_kick,
};
pub use signed_url::{MissingHost, signed_url};
pub use verify::{Rejection, SignatureVersion, sign_v3, verify_delivery};
pub use warp_store::webhook_events::{StoreEventsError, StoreOutcome, store_events};
