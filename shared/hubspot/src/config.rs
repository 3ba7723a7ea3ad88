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

    /// Reads HUBSPOT_BASE_URL (default HubSpot itself), HUBSPOT_TOKEN (required),
    /// HUBSPOT_PORTAL_ID (required), HUBSPOT_TIMEOUT_MS, HUBSPOT_MAX_RETRIES,
    /// HUBSPOT_RATE_LIMIT_MAX, HUBSPOT_RATE_LIMIT_INTERVAL_MS and HUBSPOT_SEARCH_PER_SECOND.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`Self::from_env`] over any source of variables (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let read = |name: &'static str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let base_url = parse_base_url(
            &read("HUBSPOT_BASE_URL").unwrap_or_else(|| HUBSPOT_API_BASE_URL.to_owned()),
        )?;
        let token = read("HUBSPOT_TOKEN").ok_or(ConfigError::Missing {
            name: "HUBSPOT_TOKEN",
        })?;
        let portal_id = parse_number::<i64>("HUBSPOT_PORTAL_ID", read("HUBSPOT_PORTAL_ID"))?
            .ok_or(ConfigError::Missing {
                name: "HUBSPOT_PORTAL_ID",
            })?;
        let mut config = Self::new(base_url, SecretString::from(token), portal_id);
        if let Some(ms) = parse_number::<u64>("HUBSPOT_TIMEOUT_MS", read("HUBSPOT_TIMEOUT_MS"))? {
            config.timeout = Duration::from_millis(ms.max(1));
        }
        if let Some(retries) =
            parse_number::<u32>("HUBSPOT_MAX_RETRIES", read("HUBSPOT_MAX_RETRIES"))?
        {
            config.max_retries = retries;
        }
        if let Some(max) =
            parse_number::<u32>("HUBSPOT_RATE_LIMIT_MAX", read("HUBSPOT_RATE_LIMIT_MAX"))?
        {
            if !ALLOWED_RATE_LIMIT_MAX.contains(&max) {
                return Err(ConfigError::Invalid {
                    name: "HUBSPOT_RATE_LIMIT_MAX",
                    reason: format!("{max} is not one of {ALLOWED_RATE_LIMIT_MAX:?}"),
                });
            }
            config.rate_limit.max_per_interval = max;
        }
        let interval_name = "HUBSPOT_RATE_LIMIT_INTERVAL_MS";
        if let Some(ms) = parse_number::<u64>(interval_name, read(interval_name))? {
            if ms == 0 {
                return Err(ConfigError::Invalid {
                    name: interval_name,
                    reason: "must be positive".into(),
                });
            }
            config.rate_limit.interval = Duration::from_millis(ms);
        }
        let search_name = "HUBSPOT_SEARCH_PER_SECOND";
        if let Some(per_second) = parse_number::<u32>(search_name, read(search_name))? {
            if per_second == 0 {
                return Err(ConfigError::Invalid {
                    name: search_name,
                    reason: "must be positive".into(),
                });
            }
            config.rate_limit.search_per_second = per_second;
        }
        Ok(config)
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

fn parse_number<T: std::str::FromStr>(
    name: &'static str,
    text: Option<String>,
) -> Result<Option<T>, ConfigError>
where
    T::Err: std::fmt::Display,
{
    text.map(|t| {
        t.parse::<T>().map_err(|e| ConfigError::Invalid {
            name,
            reason: e.to_string(),
        })
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn reads_every_setting_and_keeps_the_token_out_of_debug() {
        let config = HubSpotClientConfig::from_lookup(lookup(&[
            ("HUBSPOT_BASE_URL", "http://127.0.0.1:3001/"),
            ("HUBSPOT_TOKEN", "pat-na1-very-secret"),
            ("HUBSPOT_PORTAL_ID", "62515"),
            ("HUBSPOT_RATE_LIMIT_MAX", "190"),
            ("HUBSPOT_RATE_LIMIT_INTERVAL_MS", "1000"),
            ("HUBSPOT_SEARCH_PER_SECOND", "4"),
            ("HUBSPOT_TIMEOUT_MS", "2500"),
        ]))
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
    fn defaults_to_hubspot_and_requires_token_and_portal() {
        let config = HubSpotClientConfig::from_lookup(lookup(&[
            ("HUBSPOT_TOKEN", "t"),
            ("HUBSPOT_PORTAL_ID", "1"),
        ]))
        .unwrap();
        assert_eq!(config.base_url.host_str(), Some("api.hubapi.com"));
        assert_eq!(config.timeout, Duration::from_secs(10));
        assert_eq!(config.rate_limit, RateLimitSettings::default());
        assert_eq!(
            HubSpotClientConfig::from_lookup(lookup(&[("HUBSPOT_PORTAL_ID", "1")])).unwrap_err(),
            ConfigError::Missing {
                name: "HUBSPOT_TOKEN"
            }
        );
        assert!(matches!(
            HubSpotClientConfig::from_lookup(lookup(&[("HUBSPOT_TOKEN", "t")])),
            Err(ConfigError::Missing {
                name: "HUBSPOT_PORTAL_ID"
            })
        ));
    }

    #[test]
    fn refuses_limits_hubspot_does_not_grant() {
        let result = HubSpotClientConfig::from_lookup(lookup(&[
            ("HUBSPOT_TOKEN", "t"),
            ("HUBSPOT_PORTAL_ID", "1"),
            ("HUBSPOT_RATE_LIMIT_MAX", "500"),
        ]));
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
