//! Client configuration: where HubSpot is, the token, timeouts, retries and the rate budget's
//! limits, read from the environment names the whole system uses.

use secrecy::SecretString;
use std::time::Duration;

/// HubSpot's production API root.
pub const HUBSPOT_API_BASE_URL: &str = "https://api.hubapi.com";

/// Private-app limits HubSpot grants per 10-second window (Free/Starter, OAuth, Pro/Enterprise,
/// and the API add-on). Other values are refused so a typo cannot buy a storm of 429s.
pub const ALLOWED_RATE_LIMIT_MAX: [u32; 4] = [100, 110, 190, 250];

/// How to reach HubSpot and how hard to push it.
///
/// `Debug` is safe to log: the token is a [`SecretString`], which prints as `[REDACTED]`.
#[derive(Clone, Debug)]
pub struct HubSpotClientConfig {
    /// API root without a trailing slash, e.g. `https://api.hubapi.com` or a sandbox URL.
    pub base_url: url::Url,
    /// Private app token (`pat-...`) or OAuth access token.
    pub token: SecretString,
    /// The HubSpot account (hub id): the rate budget is per portal.
    pub portal_id: i64,
    /// Whole-request timeout for one HTTP call.
    pub timeout: Duration,
    /// Retries after the first attempt for answers that may succeed later (429, 423, 5xx,
    /// timeouts, transport errors).
    pub max_retries: u32,
    pub rate_limit: RateLimitSettings,
}

/// The limits the shared rate budget enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// Requests HubSpot allows per `interval` for this app (X-HubSpot-RateLimit-Max).
    pub max_per_interval: u32,
    pub interval: Duration,
    /// Search requests allowed per second (HubSpot: 5, per account, separate budget).
    pub search_per_second: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            max_per_interval: 100,
            interval: Duration::from_millis(10_000),
            search_per_second: 5,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{name} is not set")]
    Missing { name: &'static str },
    #[error("{name} is not valid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

impl HubSpotClientConfig {
    /// A configuration with the defaults: 10 s timeout, 6 retries, Free-tier limits.
    pub fn new(base_url: url::Url, token: SecretString, portal_id: i64) -> Self {
        Self {
            base_url,
            token,
            portal_id,
            timeout: Duration::from_secs(10),
            max_retries: 6,
            rate_limit: RateLimitSettings::default(),
        }
    }

    /// The client configuration of a process, from the one typed [`warp_runtime::Config`] (which
    /// reads every HUBSPOT_* variable) and the token it resolved from its secret.
    pub fn from_runtime(
        config: &warp_runtime::Config,
        token: SecretString,
    ) -> Result<Self, ConfigError> {
        let settings = &config.hubspot;
        let mut client = Self::new(
            parse_base_url(&config.hubspot_base_url())?,
            token,
            settings.portal_id,
        );
        if !ALLOWED_RATE_LIMIT_MAX.contains(&settings.rate_limit_max) {
            return Err(ConfigError::Invalid {
                name: "HUBSPOT_RATE_LIMIT_MAX",
                reason: format!(
                    "{} is not one of {ALLOWED_RATE_LIMIT_MAX:?}",
                    settings.rate_limit_max
                ),
            });
        }
        if !ALLOWED_RATE_LIMIT_MAX.contains(&settings.installed_rate_limit_max) {
            return Err(ConfigError::Invalid {
                name: "HUBSPOT_INSTALLED_RATE_LIMIT_MAX",
                reason: format!(
                    "{} is not one of {ALLOWED_RATE_LIMIT_MAX:?}",
                    settings.installed_rate_limit_max
                ),
            });
        }
        if settings.rate_limit_interval_ms == 0 || settings.search_per_second == 0 {
            return Err(ConfigError::Invalid {
                name: "HUBSPOT_RATE_LIMIT_INTERVAL_MS",
                reason: "rate-limit interval and search rate must be positive".into(),
            });
        }
        client.timeout = settings.timeout;
        client.max_retries = settings.max_retries;
        client.rate_limit = RateLimitSettings {
            max_per_interval: settings.rate_limit_max,
            interval: Duration::from_millis(settings.rate_limit_interval_ms),
            search_per_second: settings.search_per_second,
        };
        Ok(client)
    }
}

/// Parses an API root; a trailing slash is dropped so paths join predictably.
pub fn parse_base_url(text: &str) -> Result<url::Url, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        name: "HUBSPOT_BASE_URL",
        reason,
    };
    let url = url::Url::parse(text.trim_end_matches('/')).map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid("must be an http(s) URL with a host".into()));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn runtime(pairs: &[(&str, &str)]) -> warp_runtime::Config {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        warp_runtime::Config::from_lookup(|name| map.get(name).cloned()).unwrap()
    }

    #[test]
    fn takes_every_setting_from_the_runtime_config_and_keeps_the_token_out_of_debug() {
        let config = HubSpotClientConfig::from_runtime(
            &runtime(&[
                ("HUBSPOT_BASE_URL", "http://127.0.0.1:3001/"),
                ("HUBSPOT_PORTAL_ID", "62515"),
                ("HUBSPOT_RATE_LIMIT_MAX", "190"),
                ("HUBSPOT_RATE_LIMIT_INTERVAL_MS", "1000"),
                ("HUBSPOT_SEARCH_PER_SECOND", "4"),
                ("HUBSPOT_TIMEOUT_MS", "2500"),
            ]),
            SecretString::from("pat-na1-very-secret"),
        )
        .unwrap();
        assert_eq!(config.base_url.as_str(), "http://127.0.0.1:3001/");
        assert_eq!(config.portal_id, 62515);
        assert_eq!(config.rate_limit.max_per_interval, 190);
        assert_eq!(config.rate_limit.interval, Duration::from_millis(1000));
        assert_eq!(config.rate_limit.search_per_second, 4);
        assert_eq!(config.timeout, Duration::from_millis(2500));
        let debug = format!("{config:?}");
        assert!(!debug.contains("very-secret"), "{debug}");
    }

    #[test]
    fn local_defaults_point_at_the_sandbox() {
        let config =
            HubSpotClientConfig::from_runtime(&runtime(&[]), SecretString::from("t")).unwrap();
        assert_eq!(config.base_url.as_str(), "http://127.0.0.1:3001/");
        assert_eq!(config.timeout, Duration::from_secs(10));
        assert_eq!(config.rate_limit, RateLimitSettings::default());
    }

    #[test]
    fn refuses_limits_hubspot_does_not_grant() {
        let result = HubSpotClientConfig::from_runtime(
            &runtime(&[("HUBSPOT_RATE_LIMIT_MAX", "500")]),
            SecretString::from("t"),
        );
        assert!(matches!(
            result,
            Err(ConfigError::Invalid {
                name: "HUBSPOT_RATE_LIMIT_MAX",
                ..
            })
        ));
        assert!(parse_base_url("ftp://x").is_err());
        assert!(parse_base_url("not a url").is_err());
    }
}
