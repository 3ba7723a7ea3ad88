//! Sandbox configuration: tokens, secrets, portal identity, rate limits and injected faults.

use std::env;

use serde::{Deserialize, Serialize};

/// Everything the sandbox needs to know before it starts serving.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// Private-app token the integration uses (env `HUBSPOT_TOKEN`).
    pub app_token: String,
    /// Token standing for a person editing in HubSpot's UI; never rate limited.
    pub user_token: String,
    /// A second private-app token granted read scopes only (env `HUBSPOT_READ_TOKEN`): reads and
    /// searches as the integration, writes answered 403 `MISSING_SCOPES` as HubSpot does.
    pub read_token: String,
    /// The app's client secret used to sign webhook deliveries (env `HUBSPOT_WEBHOOK_SECRET`).
    pub webhook_secret: String,
    /// Where webhook deliveries go (env `SANDBOX_WEBHOOK_URL`); `None` means no deliveries.
    pub webhook_target: Option<String>,
    /// Portal (hub) id reported in webhook events (env `HUBSPOT_PORTAL_ID`).
    pub portal_id: u64,
    /// App id reported in webhook events and as the source of integration writes.
    pub app_id: u64,
    /// Requests allowed per rolling interval for the app token (env `SANDBOX_RATE_LIMIT_MAX`).
    pub rate_limit_max: u32,
    /// Requests allowed per rolling interval in a portal the app is installed in through
    /// OAuth: HubSpot's 110 per 10 s per portal (env `SANDBOX_INSTALLED_RATE_LIMIT_MAX`).
    pub installed_rate_limit_max: u32,
    /// Portals besides the home one that exist from the start (env `SANDBOX_PORTALS`, ids
    /// separated by commas); the consent page also creates the one a person picks.
    pub extra_portals: Vec<u64>,
    /// Length of the rolling rate-limit window.
    pub rate_limit_interval_ms: u64,
    /// Requests allowed per UTC day for the app token.
    pub daily_limit: u64,
    /// Search requests allowed per second, separate from the other limits.
    pub search_per_second: u32,
    /// How long a write stays invisible to search (env `SANDBOX_SEARCH_DELAY_MS`).
    pub search_index_delay_ms: u64,
    /// Faults injected from the start (env `SANDBOX_FAULTS`, JSON).
    pub faults: Faults,
    /// The OAuth app's client id (env `HUBSPOT_CLIENT_ID`).
    pub oauth_client_id: String,
    /// The OAuth app's client secret (env `HUBSPOT_CLIENT_SECRET`).
    pub oauth_client_secret: String,
    /// How long an OAuth access token lives: HubSpot's 30 minutes unless a test wants less
    /// (env `SANDBOX_OAUTH_TOKEN_TTL_SECS`).
    pub oauth_access_token_ttl_ms: u64,
    /// Whether the home portal has Enterprise from the start: custom objects and custom events
    /// (env `SANDBOX_ENTERPRISE=true`; `POST /_sandbox/portals` changes it later).
    pub home_enterprise: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            app_token: "sandbox-app-token".to_owned(),
            user_token: "sandbox-user-token".to_owned(),
            read_token: "sandbox-read-token".to_owned(),
            webhook_secret: "sandbox-webhook-secret".to_owned(),
            webhook_target: None,
            portal_id: 62515,
            app_id: 54321,
            rate_limit_max: 100,
            installed_rate_limit_max: 110,
            extra_portals: Vec::new(),
            rate_limit_interval_ms: 10_000,
            daily_limit: 250_000,
            search_per_second: 5,
            search_index_delay_ms: 0,
            faults: Faults::default(),
            oauth_client_id: "sandbox-client-id".to_owned(),
            oauth_client_secret: "sandbox-client-secret".to_owned(),
            oauth_access_token_ttl_ms: 30 * 60 * 1000,
            home_enterprise: false,
        }
    }
}

/// Why the environment could not be turned into a [`SandboxConfig`].
#[derive(Debug, thiserror::Error)]
pub enum SandboxConfigError {
    #[error("environment variable {name} is not a valid {expected}: {value:?}")]
    InvalidNumber {
        name: &'static str,
        expected: &'static str,
        value: String,
    },
    #[error("SANDBOX_FAULTS is not valid faults JSON")]
    InvalidFaults(#[source] serde_json::Error),
    #[error("SANDBOX_FAULTS is out of range: {0}")]
    FaultsOutOfRange(String),
}

impl SandboxConfig {
    /// Reads the documented environment variables over the defaults.
    pub fn from_env() -> Result<Self, SandboxConfigError> {
        let mut config = Self::default();
        if let Some(token) = non_empty_var("HUBSPOT_TOKEN") {
            config.app_token = token;
        }
        if let Some(token) = non_empty_var("HUBSPOT_READ_TOKEN") {
            config.read_token = token;
        }
        if let Some(secret) = non_empty_var("HUBSPOT_WEBHOOK_SECRET") {
            config.webhook_secret = secret;
        }
        config.webhook_target = non_empty_var("SANDBOX_WEBHOOK_URL");
        if let Some(portal) = parse_var::<u64>("HUBSPOT_PORTAL_ID", "u64")? {
            config.portal_id = portal;
        }
        if let Some(max) = parse_var::<u32>("SANDBOX_RATE_LIMIT_MAX", "u32")? {
            config.rate_limit_max = max;
        }
        if let Some(max) = parse_var::<u32>("SANDBOX_INSTALLED_RATE_LIMIT_MAX", "u32")? {
            config.installed_rate_limit_max = max;
        }
        if let Some(list) = non_empty_var("SANDBOX_PORTALS") {
            config.extra_portals = list
                .split(',')
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .map(|id| {
                    id.parse::<u64>().ok().filter(|id| *id > 0).ok_or_else(|| {
                        SandboxConfigError::InvalidNumber {
                            name: "SANDBOX_PORTALS",
                            expected: "list of portal ids",
                            value: list.clone(),
                        }
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(delay) = parse_var::<u64>("SANDBOX_SEARCH_DELAY_MS", "u64")? {
            config.search_index_delay_ms = delay;
        }
        if let Some(id) = non_empty_var("HUBSPOT_CLIENT_ID") {
            config.oauth_client_id = id;
        }
        if let Some(secret) = non_empty_var("HUBSPOT_CLIENT_SECRET") {
            config.oauth_client_secret = secret;
        }
        if let Some(secs) = parse_var::<u64>("SANDBOX_OAUTH_TOKEN_TTL_SECS", "u64")? {
            config.oauth_access_token_ttl_ms = secs.saturating_mul(1000);
        }
        if let Some(enterprise) = parse_var::<bool>("SANDBOX_ENTERPRISE", "true or false")? {
            config.home_enterprise = enterprise;
        }
        if let Some(json) = non_empty_var("SANDBOX_FAULTS") {
            let faults: Faults =
                serde_json::from_str(&json).map_err(SandboxConfigError::InvalidFaults)?;
            faults
                .validate()
                .map_err(SandboxConfigError::FaultsOutOfRange)?;
            config.faults = faults;
        }
        Ok(config)
    }
}

fn non_empty_var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|value| !value.trim().is_empty())
}

fn parse_var<T: std::str::FromStr>(
    name: &'static str,
    expected: &'static str,
) -> Result<Option<T>, SandboxConfigError> {
    match non_empty_var(name) {
        None => Ok(None),
        Some(value) => {
            value
                .trim()
                .parse::<T>()
                .map(Some)
                .map_err(|_| SandboxConfigError::InvalidNumber {
                    name,
                    expected,
                    value,
                })
        }
    }
}

/// Probabilities (0..=1) of each injected fault, plus a fixed added latency.
///
/// Faults apply to requests made with the app token only: the user token stands for a person in
/// HubSpot's UI, whose edits must land so tests can rely on them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Chance that an API request gets a 429 indistinguishable from a real one.
    pub rate_429: f64,
    /// The Retry-After an injected 429 carries, in milliseconds (rounded up to seconds);
    /// unset, the rest of the rate window, as a full window answers. HubSpot does not document
    /// Retry-After on REST 429s but clients must honour it when present.
    pub retry_after_429_ms: Option<u64>,
    /// Chance that an API request gets a 5xx; the write is not applied.
    pub rate_5xx: f64,
    /// Chance that an API request hangs (30 s or until the client gives up); not applied.
    pub rate_timeout: f64,
    /// Added latency before every API request, in milliseconds.
    pub latency_ms: u64,
    /// Chance that a webhook event is delivered twice.
    pub duplicate_webhooks: f64,
    /// Chance that a webhook event is held back and delivered after later ones.
    pub reorder_webhooks: f64,
    /// Chance that a webhook event is never delivered.
    pub drop_webhooks: f64,
}

impl Faults {
    /// Checks that every probability lies in 0..=1.
    pub fn validate(&self) -> Result<(), String> {
        let probabilities = [
            ("rate_429", self.rate_429),
            ("rate_5xx", self.rate_5xx),
            ("rate_timeout", self.rate_timeout),
            ("duplicate_webhooks", self.duplicate_webhooks),
            ("reorder_webhooks", self.reorder_webhooks),
            ("drop_webhooks", self.drop_webhooks),
        ];
        for (name, value) in probabilities {
            if !(0.0..=1.0).contains(&value) {
                return Err(format!("{name} must be between 0 and 1, got {value}"));
            }
        }
        Ok(())
    }
}
