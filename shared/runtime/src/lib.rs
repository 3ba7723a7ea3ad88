//! Runtime glue shared by every function and the local system: typed configuration from the
//! environment, a Secrets Manager reader with a TTL cache, AWS SDK set-up, and JSON tracing.

pub mod aws;
pub mod config;
pub mod https;
pub mod metrics;
pub mod rds_auth;
pub mod secrets;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;

pub use config::{Config, ConfigError, Function};
pub use secrets::{SecretRef, SecretsCache, SecretsError};

/// Installs aws-lc-rs as the process's one rustls crypto provider (reqwest, the AWS SDK and the
/// Postgres TLS connector all use it). Call first thing in `main`; repeated calls are harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
