//! All configuration in one typed struct, read once from environment variables.
//!
//! Every variable is listed in the README. Secrets are either a value (local mode only) or a
//! Secrets Manager ARN (`*_SECRET_ARN`); [`crate::SecretsCache`] resolves either.

use crate::secrets::SecretRef;
use secrecy::SecretString;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name}: {message}")]
    Invalid { name: &'static str, message: String },
    #[error("{0} must be set")]
    Missing(&'static str),
}

/// Where the code runs: local mode may take secrets from plain env vars; Lambda must not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    Local,
    Lambda,
}

/// How `POST /v1/customers` reaches HubSpot: queued after commit, or upserted before commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncCreateMode {
    Async,
    Strict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub hs256_secret: Option<SecretRef>,
    pub jwks_url: Option<String>,
    pub jwks_cache_ttl: Duration,
    pub issuer: String,
    pub audience: String,
}

#[derive(Debug, Clone)]
pub struct HubSpotSettings {
    /// None: use the built-in sandbox (local mode).
    pub base_url: Option<String>,
    pub token: SecretRef,
    pub webhook_secret: SecretRef,
    pub portal_id: i64,
    pub rate_limit_max: u32,
    pub rate_limit_interval_ms: u64,
    pub search_per_second: u32,
    /// Whole-request timeout of one HubSpot call, and retries of retryable answers.
    pub timeout: Duration,
    pub max_retries: u32,
    pub sandbox_addr: SocketAddr,
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// The connection URL; in Lambda its password may come from `password` instead.
    pub url: SecretString,
    pub password: Option<SecretRef>,
    pub pool_size: usize,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub mode: RunMode,
    pub http_addr: SocketAddr,
    pub database: DatabaseSettings,
    pub jwt: JwtSettings,
    pub hubspot: HubSpotSettings,
    pub sqs_queue_url: Option<String>,
    pub sync_create_mode: SyncCreateMode,
    pub secrets_cache_ttl: Duration,
    pub log_format: LogFormat,
}

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/warp";
pub const DEFAULT_PORTAL_ID: i64 = 62515;
pub const SANDBOX_APP_TOKEN: &str = "sandbox-app-token";
pub const SANDBOX_WEBHOOK_SECRET: &str = "sandbox-webhook-secret";
/// Only for local mode: a fixed HS256 secret so `make token` and `make dev` agree out of the box.
pub const LOCAL_JWT_SECRET: &str = "warp-local-development-only-secret";

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mode = if get("AWS_LAMBDA_FUNCTION_NAME").is_some() {
            RunMode::Lambda
        } else {
            RunMode::Local
        };
        let local = mode == RunMode::Local;

        // A secret: an ARN wins; a plain value is accepted only in local mode.
        let secret = |value_var: &'static str,
                      arn_var: &'static str,
                      local_default: Option<&str>|
         -> Result<Option<SecretRef>, ConfigError> {
            if let Some(arn) = get(arn_var) {
                return Ok(Some(SecretRef::Arn(arn)));
            }
            match get(value_var) {
                Some(_) if !local => Err(ConfigError::Invalid {
                    name: value_var,
                    message: format!("plain secret values are for local mode only; set {arn_var}"),
                }),
                Some(v) => Ok(Some(SecretRef::Value(SecretString::from(v)))),
                None if local => Ok(local_default.map(|d| SecretRef::Value(SecretString::from(d)))),
                None => Ok(None),
            }
        };

        let jwt = JwtSettings {
            hs256_secret: match get("JWT_JWKS_URL") {
                Some(_) => secret("JWT_HS256_SECRET", "JWT_HS256_SECRET_ARN", None)?,
                None => secret(
                    "JWT_HS256_SECRET",
                    "JWT_HS256_SECRET_ARN",
                    Some(LOCAL_JWT_SECRET),
                )?,
            },
            jwks_url: get("JWT_JWKS_URL"),
            jwks_cache_ttl: Duration::from_secs(parse(&get, "JWT_JWKS_CACHE_SECONDS", 300)?),
            issuer: get("JWT_ISSUER").unwrap_or_else(|| "warp-local".into()),
            audience: get("JWT_AUDIENCE").unwrap_or_else(|| "warp-api".into()),
        };
        if jwt.hs256_secret.is_none() && jwt.jwks_url.is_none() {
            return Err(ConfigError::Missing(
                "JWT_JWKS_URL (or JWT_HS256_SECRET_ARN)",
            ));
        }

        let hubspot = HubSpotSettings {
            base_url: get("HUBSPOT_BASE_URL").map(|u| u.trim_end_matches('/').to_owned()),
            token: secret(
                "HUBSPOT_TOKEN",
                "HUBSPOT_TOKEN_SECRET_ARN",
                Some(SANDBOX_APP_TOKEN),
            )?
            .ok_or(ConfigError::Missing("HUBSPOT_TOKEN_SECRET_ARN"))?,
            webhook_secret: secret(
                "HUBSPOT_WEBHOOK_SECRET",
                "HUBSPOT_WEBHOOK_SECRET_ARN",
                Some(SANDBOX_WEBHOOK_SECRET),
            )?
            .ok_or(ConfigError::Missing("HUBSPOT_WEBHOOK_SECRET_ARN"))?,
            portal_id: parse(&get, "HUBSPOT_PORTAL_ID", DEFAULT_PORTAL_ID)?,
            rate_limit_max: parse(&get, "HUBSPOT_RATE_LIMIT_MAX", 100)?,
            rate_limit_interval_ms: parse(&get, "HUBSPOT_RATE_LIMIT_INTERVAL_MS", 10_000)?,
            search_per_second: parse(&get, "HUBSPOT_SEARCH_PER_SECOND", 5)?,
            timeout: Duration::from_millis(parse(&get, "HUBSPOT_TIMEOUT_MS", 10_000)?),
            max_retries: parse(&get, "HUBSPOT_MAX_RETRIES", 6)?,
            sandbox_addr: parse(
                &get,
                "HUBSPOT_SANDBOX_ADDR",
                SocketAddr::from(([127, 0, 0, 1], 3001)),
            )?,
        };
        if hubspot.base_url.is_none() && !local {
            return Err(ConfigError::Missing("HUBSPOT_BASE_URL"));
        }

        let database = DatabaseSettings {
            url: SecretString::from(
                get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.into()),
            ),
            password: secret("DATABASE_PASSWORD", "DATABASE_SECRET_ARN", None)?,
            pool_size: parse(&get, "DATABASE_POOL_SIZE", if local { 16 } else { 1 })?,
        };

        Ok(Config {
            mode,
            http_addr: parse(&get, "HTTP_ADDR", SocketAddr::from(([127, 0, 0, 1], 3000)))?,
            database,
            jwt,
            hubspot,
            sqs_queue_url: get("SQS_QUEUE_URL"),
            sync_create_mode: match get("SYNC_CREATE_MODE").as_deref() {
                None | Some("async") => SyncCreateMode::Async,
                Some("strict") => SyncCreateMode::Strict,
                Some(other) => {
                    return Err(ConfigError::Invalid {
                        name: "SYNC_CREATE_MODE",
                        message: format!("expected async or strict, got {other:?}"),
                    });
                }
            },
            secrets_cache_ttl: Duration::from_secs(parse(&get, "SECRETS_CACHE_TTL_SECONDS", 300)?),
            log_format: match get("LOG_FORMAT").as_deref() {
                Some("pretty") => LogFormat::Pretty,
                Some("json") => LogFormat::Json,
                None if local => LogFormat::Pretty,
                None => LogFormat::Json,
                Some(other) => {
                    return Err(ConfigError::Invalid {
                        name: "LOG_FORMAT",
                        message: format!("expected json or pretty, got {other:?}"),
                    });
                }
            },
        })
    }

    /// The HubSpot base URL in effect: the configured one, else the local sandbox.
    pub fn hubspot_base_url(&self) -> String {
        self.hubspot
            .base_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.hubspot.sandbox_addr))
    }
}

fn parse<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match get(name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|e: T::Err| ConfigError::Invalid {
                name,
                message: e.to_string(),
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn local_defaults_need_no_variables() {
        let c = config(&[]).unwrap();
        assert_eq!(c.mode, RunMode::Local);
        assert_eq!(c.http_addr.to_string(), "127.0.0.1:3000");
        assert_eq!(c.jwt.issuer, "warp-local");
        assert_eq!(c.jwt.audience, "warp-api");
        assert_eq!(c.hubspot_base_url(), "http://127.0.0.1:3001");
        assert_eq!(c.sync_create_mode, SyncCreateMode::Async);
        assert!(matches!(c.jwt.hs256_secret, Some(SecretRef::Value(_))));
    }

    #[test]
    fn lambda_mode_refuses_plain_secrets() {
        let err = config(&[
            ("AWS_LAMBDA_FUNCTION_NAME", "customer-api"),
            ("JWT_JWKS_URL", "https://issuer/.well-known/jwks.json"),
            ("HUBSPOT_BASE_URL", "https://api.hubapi.com"),
            ("HUBSPOT_TOKEN", "pat-na1-123"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("HUBSPOT_TOKEN"), "{err}");
    }

    #[test]
    fn lambda_mode_takes_arns() {
        let c = config(&[
            ("AWS_LAMBDA_FUNCTION_NAME", "customer-api"),
            ("JWT_JWKS_URL", "https://issuer/.well-known/jwks.json"),
            ("HUBSPOT_BASE_URL", "https://api.hubapi.com/"),
            (
                "HUBSPOT_TOKEN_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:1:secret:t",
            ),
            (
                "HUBSPOT_WEBHOOK_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:1:secret:w",
            ),
        ])
        .unwrap();
        assert_eq!(c.mode, RunMode::Lambda);
        assert_eq!(c.hubspot_base_url(), "https://api.hubapi.com");
        assert!(c.jwt.hs256_secret.is_none());
        assert_eq!(c.database.pool_size, 1);
        assert_eq!(c.log_format, LogFormat::Json);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = config(&[("HTTP_ADDR", "not an address")]).unwrap_err();
        assert!(err.to_string().starts_with("HTTP_ADDR"), "{err}");
        let err = config(&[("SYNC_CREATE_MODE", "sometimes")]).unwrap_err();
        assert!(err.to_string().starts_with("SYNC_CREATE_MODE"), "{err}");
    }

    #[test]
    fn debug_output_never_shows_secret_values() {
        let c = config(&[
            ("HUBSPOT_TOKEN", "pat-very-secret"),
            ("DATABASE_URL", "postgres://u:hunter2@h/db"),
        ])
        .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("pat-very-secret"));
        assert!(!shown.contains("hunter2"));
    }
}
