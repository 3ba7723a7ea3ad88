//! Shared test setup: a sandbox on port 0, clients pointed at it, fresh databases.

#![allow(dead_code)]

use hubspot_sandbox::{SandboxConfig, SandboxHandle};
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;
use warp_hubspot::{
    HubSpotClient, HubSpotClientConfig, InProcessRateBudget, RateBudget, RateLimitSettings,
};

pub const APP_TOKEN: &str = "sandbox-app-token";

pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

pub async fn fresh_database() -> warp_store::Database {
    warp_store::Database::fresh_for_test(&server_url())
        .await
        .expect("a fresh test database")
}

pub async fn sandbox(config: SandboxConfig) -> SandboxHandle {
    hubspot_sandbox::spawn(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("sandbox starts")
}

/// A sandbox whose limits are `max` requests per `interval_ms`.
pub async fn sandbox_with_limit(max: u32, interval_ms: u64) -> SandboxHandle {
    sandbox(SandboxConfig {
        rate_limit_max: max,
        rate_limit_interval_ms: interval_ms,
        ..Default::default()
    })
    .await
}

pub fn config_for(handle: &SandboxHandle, settings: RateLimitSettings) -> HubSpotClientConfig {
    let base_url = warp_hubspot::config::parse_base_url(&handle.base_url()).unwrap();
    let mut config = HubSpotClientConfig::new(base_url, SecretString::from(APP_TOKEN), 62515);
    config.rate_limit = settings;
    config.timeout = Duration::from_secs(5);
    config.max_retries = 10;
    config
}

pub fn settings(max: u32, interval_ms: u64) -> RateLimitSettings {
    RateLimitSettings {
        max_per_interval: max,
        interval: Duration::from_millis(interval_ms),
        search_per_second: 5,
    }
}

/// A client with its own in-process budget and short backoff (tests run against a fast sandbox).
pub fn client_with(config: &HubSpotClientConfig) -> HubSpotClient {
    let budget: Arc<dyn RateBudget> = Arc::new(InProcessRateBudget::new(&config.rate_limit));
    HubSpotClient::new(config, budget)
        .unwrap()
        .with_min_backoff(Duration::from_millis(20))
}

pub fn properties(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A BAN-shaped unique value: two letters, hyphen, nine digits.
pub fn ban(number: u32) -> String {
    format!("ZT-{number:09}")
}
