//! The HubSpot sandbox on a loopback port and WARP's client pointed at it.

use hubspot_sandbox::{SandboxConfig, SandboxHandle};
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;
use warp_hubspot::{
    HubSpotClient, HubSpotClientConfig, InProcessRateBudget, RateBudget, RateLimitSettings,
};

/// The sandbox's portal; stores, workers and the API use it too.
pub const PORTAL: i64 = 62515;
/// The sandbox's private-app token: WARP's calls, rate limited and faulted as configured.
pub const APP_TOKEN: &str = "sandbox-app-token";
/// The sandbox's "person in HubSpot's UI": never rate limited, never faulted.
pub const USER_TOKEN: &str = "sandbox-user-token";

/// The sandbox, serving on a free loopback port until the handle is dropped.
pub async fn sandbox(config: SandboxConfig) -> SandboxHandle {
    hubspot_sandbox::spawn(config, "127.0.0.1:0".parse().expect("a socket address"))
        .await
        .expect("the sandbox starts")
}

/// `max` requests per `interval_ms`, and HubSpot's 5 searches a second.
pub fn settings(max: u32, interval_ms: u64) -> RateLimitSettings {
    RateLimitSettings {
        max_per_interval: max,
        interval: Duration::from_millis(interval_ms),
        search_per_second: 5,
    }
}

/// The limits a sandbox enforces, for a client told the same.
pub fn settings_of(config: &SandboxConfig) -> RateLimitSettings {
    settings(config.rate_limit_max, config.rate_limit_interval_ms)
}

/// A client configuration for `sandbox` with `settings`, a 5 s timeout and 10 retries.
pub fn client_config(sandbox: &SandboxHandle, settings: RateLimitSettings) -> HubSpotClientConfig {
    let base_url = warp_hubspot::config::parse_base_url(&sandbox.base_url())
        .expect("the sandbox's URL parses");
    let mut config = HubSpotClientConfig::new(base_url, SecretString::from(APP_TOKEN), PORTAL);
    config.rate_limit = settings;
    config.timeout = Duration::from_secs(5);
    config.max_retries = 10;
    config
}

/// A client with its own in-process budget and a short backoff (the sandbox answers fast).
pub fn client(config: &HubSpotClientConfig) -> HubSpotClient {
    let budget: Arc<dyn RateBudget> = Arc::new(InProcessRateBudget::new(&config.rate_limit));
    HubSpotClient::new(config, budget)
        .expect("a HubSpot client")
        .with_min_backoff(Duration::from_millis(10))
}

/// A client for `sandbox` with `settings`, after WARP's `warp_*` properties are made there.
pub async fn client_with_warp_properties(
    sandbox: &SandboxHandle,
    settings: RateLimitSettings,
) -> HubSpotClient {
    let client = client(&client_config(sandbox, settings));
    warp_hubspot::ensure_warp_properties(&client)
        .await
        .expect("WARP's properties are made in the sandbox");
    client
}

/// How many records of `object` (`companies`, `contacts`, `notes`, `calls`) the sandbox's
/// portal `portal` holds, as `GET /_sandbox/portals` counts them (0 for an unknown portal).
pub async fn records_in(sandbox: &SandboxHandle, portal: i64, object: &str) -> u64 {
    let portals: serde_json::Value =
        reqwest::get(format!("{}/_sandbox/portals", sandbox.base_url()))
            .await
            .expect("the sandbox answers")
            .json()
            .await
            .expect("a list of portals");
    portals
        .as_array()
        .expect("a list of portals")
        .iter()
        .find(|p| p["portal_id"] == portal)
        .map_or(0, |p| {
            p[object]
                .as_u64()
                .unwrap_or_else(|| panic!("no {object} count"))
        })
}
