//! What the client's tests add to the workspace's test harness (warp-testkit).

#![allow(dead_code)]

// Not every test file uses all of them.
#[allow(unused_imports)]
pub use warp_testkit::fresh_database;
#[allow(unused_imports)]
pub use warp_testkit::hubspot::sandbox;

use hubspot_sandbox::{SandboxConfig, SandboxHandle};

/// A sandbox whose limits are `max` requests per `interval_ms`.
pub async fn sandbox_with_limit(max: u32, interval_ms: u64) -> SandboxHandle {
    sandbox(SandboxConfig {
        rate_limit_max: max,
        rate_limit_interval_ms: interval_ms,
        ..Default::default()
    })
    .await
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
