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
    /// One or more audiences a token may name (`JWT_AUDIENCE`, comma-separated): the portal's
    /// and the console's sign-in client, say.
    pub audience: String,
    /// The claim holding the caller's roles (`JWT_ROLES_CLAIM`, default `roles`; with Cognito
    /// `cognito:groups`, the user pool groups `viewer`, `editor`, `admin`).
    pub roles_claim: String,
    /// The longest life a token may claim (`exp` − `iat`, and `exp` − now): a token that
    /// never expires is refused, not trusted forever.
    pub max_lifetime: Duration,
}

/// The console's sign-in through an OpenID Connect provider (Cognito's hosted UI in AWS):
/// authorization code with PKCE, by a public client, from the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleOidcSettings {
    /// `CONSOLE_OIDC_AUTHORIZE_URL`, e.g. `https://<domain>.auth.<region>.amazoncognito.com/oauth2/authorize`.
    pub authorize_url: String,
    /// `CONSOLE_OIDC_TOKEN_URL` (`…/oauth2/token`).
    pub token_url: String,
    /// `CONSOLE_OIDC_CLIENT_ID`: a client without a secret.
    pub client_id: String,
    /// `CONSOLE_OIDC_REDIRECT_URI`: the console's own address, registered with the provider.
    pub redirect_uri: String,
    /// `CONSOLE_OIDC_SCOPES` (default `openid email profile`).
    pub scopes: String,
    /// `CONSOLE_OIDC_TOKEN`: which token the console sends to the API, `id_token` (default:
    /// Cognito's carries the groups and the client as audience) or `access_token`.
    pub token: String,
    /// `CONSOLE_OIDC_PROVIDER`: the name on the sign-in button (default `Cognito`).
    pub provider: String,
}

/// Limits of the local HTTP server, as production HTTP servers have them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpServerSettings {
    pub header_read_timeout: Duration,
    pub request_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl HttpServerSettings {
    /// The idle timeout is a backstop behind the request timeout: the other way round, a
    /// slow handler's connection would be cut without an answer instead of getting its 408.
    fn checked(self) -> Result<Self, ConfigError> {
        if self.idle_timeout <= self.request_timeout {
            return Err(ConfigError::Invalid {
                name: "HTTP_IDLE_TIMEOUT_MS",
                message: "must be longer than HTTP_REQUEST_TIMEOUT_MS".into(),
            });
        }
        if self.max_connections == 0 {
            return Err(ConfigError::Invalid {
                name: "HTTP_MAX_CONNECTIONS",
                message: "must be at least 1".into(),
            });
        }
        Ok(self)
    }
}

#[derive(Debug, Clone)]
pub struct HubSpotSettings {
    /// None: use the built-in sandbox (local mode).
    pub base_url: Option<String>,
    /// The home portal's static token (a Service Key, a static-auth app's token or a legacy
    /// private app token); none when the home portal is an OAuth installation.
    pub token: Option<SecretRef>,
    /// A second static token granted read scopes only (`HUBSPOT_READ_TOKEN`, or
    /// `HUBSPOT_READ_TOKEN_SECRET_ARN`): when set, the reconciler's reads and the API's
    /// searches use it, so the credential most often used cannot write. None: one token.
    pub read_token: Option<SecretRef>,
    pub webhook_secret: SecretRef,
    /// WARP's HubSpot app, for OAuth installations; always set locally (the sandbox's app).
    pub oauth: Option<OAuthSettings>,
    pub portal_id: i64,
    pub rate_limit_max: u32,
    /// Requests per 10 s for a customer portal (an OAuth install) whose installation names no
    /// budget of its own (`HUBSPOT_INSTALLED_RATE_LIMIT_MAX`, default HubSpot's 110).
    pub installed_rate_limit_max: u32,
    pub rate_limit_interval_ms: u64,
    pub search_per_second: u32,
    /// Whole-request timeout of one HubSpot call, and retries of retryable answers.
    pub timeout: Duration,
    pub max_retries: u32,
    pub sandbox_addr: SocketAddr,
    /// How long a process uses the field mapping it read from `hubspot_sync_config` before
    /// reading it again: the longest a change made through the admin API takes to reach
    /// every running worker, webhook and reconciler.
    pub mapping_max_age: Duration,
}

/// WARP's HubSpot app (OAuth), and the keys its tokens are sealed with at rest.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    pub client_id: String,
    /// The app's client secret (`HUBSPOT_CLIENT_SECRET[_ARN]`).
    pub client_secret: SecretRef,
    /// The keyring sealing tokens at rest, `id:BASE64KEY[,…]`, current key first
    /// (`TOKEN_ENCRYPTION_KEYS[_SECRET_ARN]`).
    pub token_keys: SecretRef,
    /// WARP's OAuth callback, exactly as registered on the app.
    pub redirect_url: String,
    /// HubSpot's consent page (`HUBSPOT_AUTHORIZE_URL`); none: HubSpot's, or the sandbox's
    /// in local mode (see [`Config::hubspot_authorize_url`]).
    pub authorize_url: Option<String>,
    pub scopes: Vec<String>,
    pub optional_scopes: Vec<String>,
}

/// How the database login is proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseAuth {
    /// The URL's password, or `DATABASE_SECRET_ARN`'s (Secrets Manager) in Lambda.
    Password,
    /// An RDS IAM auth token per connection, signed with the function's role (`rds-db:connect`).
    Iam,
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// The connection URL; in Lambda its password may come from `password` instead. TLS follows
    /// its `sslmode` (`disable`, `require`, `verify-full`) and `sslrootcert` parameters; Lambda
    /// defaults to `verify-full` and refuses `disable`.
    pub url: SecretString,
    pub password: Option<SecretRef>,
    pub auth: DatabaseAuth,
    pub pool_size: usize,
}

/// The reconciler's local timers (`warp dev`); in AWS the EventBridge schedules set these.
#[derive(Debug, Clone)]
pub struct ReconcileSettings {
    /// How often a full reconciliation runs (`RECONCILE_INTERVAL_SECS`, default a day).
    pub interval: Duration,
    /// How often requested runs are picked up (`RECONCILE_POLL_SECS`, default 5 s).
    pub poll: Duration,
}

/// Where the outbox loop runs locally and how it claims rows (`warp dev`, `warp worker`).
#[derive(Debug, Clone)]
pub struct OutboundSettings {
    /// Whether `warp dev` runs the outbox loop itself (`DEV_OUTBOUND`, default true); false when
    /// a separate `warp worker` process does, e.g. so the chaos run can kill it.
    pub in_dev: bool,
    /// How long a claim holds its rows (`OUTBOX_LEASE_SECS`, default 120): a killed worker's
    /// rows come back after this.
    pub lease: Duration,
    /// The wait before a failed row's first retry, doubled each attempt
    /// (`OUTBOX_RETRY_BASE_MS`, default 2000).
    pub retry_base: Duration,
    /// Records per batch call (`OUTBOX_BATCH_SIZE`, 1 to 100, default 100, HubSpot's limit):
    /// smaller only to make more calls, e.g. so the chaos run's faults meet more requests.
    pub batch_size: usize,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub mode: RunMode,
    pub http_addr: SocketAddr,
    /// The local HTTP server's limits (`warp dev`; Lambda has its own front end).
    pub http_server: HttpServerSettings,
    pub database: DatabaseSettings,
    pub jwt: JwtSettings,
    pub hubspot: HubSpotSettings,
    pub sqs_queue_url: Option<String>,
    /// The outbox queue's dead-letter queue; its depth shows in `GET /v1/sync/status`.
    pub sqs_dlq_url: Option<String>,
    pub sync_create_mode: SyncCreateMode,
    pub secrets_cache_ttl: Duration,
    pub log_format: LogFormat,
    pub reconcile: ReconcileSettings,
    pub outbound: OutboundSettings,
    pub onboarding: OnboardingSettings,
    pub calls: CallSettings,
    /// `ACCOUNT_EVENTS_AS=custom_events`: account events are custom events where the home
    /// portal has them (Enterprise); `notes` (the default): notes.
    pub account_events_as_custom_events: bool,
    pub support_tickets: SupportTicketSettings,
    pub usage_alerts: UsageAlertSettings,
    /// How long the audit log keeps an entry (`AUDIT_RETENTION_DAYS`, 1 to 3,650, default 400).
    pub audit_retention: Duration,
    /// The CloudWatch namespace of the metrics (`METRICS_NAMESPACE`, default `WARP/Sync`).
    pub metrics_namespace: String,
    /// The console's OpenID Connect sign-in; none: a pasted token (or `warp dev`'s dev sign-in).
    pub console_oidc: Option<ConsoleOidcSettings>,
}

/// A `true`/`false` setting, false when absent.
fn flag(get: &impl Fn(&str) -> Option<String>, name: &'static str) -> Result<bool, ConfigError> {
    match get(name).as_deref().map(str::trim) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ConfigError::Invalid {
            name,
            message: format!("expected true or false, got {other:?}"),
        }),
    }
}

/// When a customer's spend this month raises an alert (issue 22: seed 002's threshold alerts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageAlertSettings {
    /// `USAGE_ALERT_PERCENT`: the share of the credit limit (1 to 1,000; default 80; 0 turns
    /// the alerts off).
    pub percent: u32,
    /// `USAGE_ALERT_TICKETS=true`: each alert also opens a support ticket (trigger
    /// `spend_threshold`); by default it is a timeline event only.
    pub tickets: bool,
    /// `USAGE_DAILY_NOTE=true`: the daily usage push also notes the day before's usage on each
    /// company's timeline (off by default).
    pub daily_note: bool,
}

/// How a won deal's customer is made where its company does not say.
#[derive(Debug, Clone)]
pub struct OnboardingSettings {
    /// The new customer's type unless the mapping takes it from the company
    /// (`ONBOARDING_CUSTOMER_TYPE`: PREPAID, POSTPAID or RESELLER; default POSTPAID).
    pub customer_type: warp_domain::customer::CustomerType,
}

/// How finished calls are logged in HubSpot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallSettings {
    /// `CALLS_DEFAULT_PORTAL=home`: a customer without a connected portal has its calls logged
    /// in the home portal; `none` (the default): they are skipped.
    pub home_for_unconnected: bool,
    /// `CALLS_RETRY_BASE_MS` (10,000): the first retry's delay after a failed pass, doubled
    /// each attempt.
    pub retry_base: Duration,
}

/// Where automatic support tickets go in the home portal, and how often their stage is read
/// back: `SUPPORT_TICKET_PIPELINE`, `SUPPORT_TICKET_STAGE` (an id or a label; by default the
/// first ticket pipeline and its first open stage), `SUPPORT_TICKET_CHECK_SECS` (60).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportTicketSettings {
    pub pipeline: Option<String>,
    pub stage: Option<String>,
    pub check_every: Duration,
}

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/warp";
pub const DEFAULT_PORTAL_ID: i64 = 62515;
pub const SANDBOX_APP_TOKEN: &str = "sandbox-app-token";
pub const SANDBOX_WEBHOOK_SECRET: &str = "sandbox-webhook-secret";
pub const SANDBOX_CLIENT_ID: &str = "sandbox-client-id";
pub const SANDBOX_CLIENT_SECRET: &str = "sandbox-client-secret";
/// Only for local mode: a fixed key sealing OAuth tokens (32 zero-free bytes, base64).
pub const LOCAL_TOKEN_KEYS: &str = "local-dev:d2FycC1sb2NhbC1kZXZlbG9wbWVudC1vbmx5LWtleSE=";
/// The scopes an install asks for unless `HUBSPOT_OAUTH_SCOPES` says otherwise: what the
/// companies and contacts sync reads and writes, and deals (mirrored; onboarding writes the
/// BAN on a won deal and adds the `warp_ban` deal property).
pub const DEFAULT_OAUTH_SCOPES: &str = "oauth crm.objects.companies.read crm.objects.companies.write crm.objects.contacts.read crm.objects.contacts.write crm.schemas.companies.read crm.schemas.companies.write crm.schemas.contacts.read crm.schemas.contacts.write crm.objects.deals.read crm.objects.deals.write crm.schemas.deals.read crm.schemas.deals.write";
/// Scopes an install asks for where the portal has them: `tickets`, for the automatic support
/// tickets of the home portal (a customer's portal without it installs all the same).
pub const DEFAULT_OAUTH_OPTIONAL_SCOPES: &str = "tickets";
/// Only for local mode: a fixed HS256 secret so `make token` and `make dev` agree out of the box.
pub const LOCAL_JWT_SECRET: &str = "warp-local-development-only-secret";

/// The Lambda functions, by the secrets each reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    CustomerApi,
    SyncWorker,
    HubSpotWebhook,
    Reconciler,
}

impl Config {
    /// The secrets `function` reads, as template.yaml grants them: every function the
    /// database's and the HubSpot app's, the webhook its signing secret, the API and the
    /// reconciler the read-only token (the API an HS256 key too, when one is configured).
    pub fn secrets_read_by(&self, function: Function) -> Vec<&SecretRef> {
        let mut secrets: Vec<&SecretRef> =
            [self.database.password.as_ref(), self.hubspot.token.as_ref()]
                .into_iter()
                .flatten()
                .collect();
        if let Some(oauth) = &self.hubspot.oauth {
            secrets.extend([&oauth.client_secret, &oauth.token_keys]);
        }
        match function {
            Function::CustomerApi => secrets.extend(
                [
                    self.hubspot.read_token.as_ref(),
                    self.jwt.hs256_secret.as_ref(),
                ]
                .into_iter()
                .flatten(),
            ),
            Function::Reconciler => secrets.extend(self.hubspot.read_token.as_ref()),
            Function::HubSpotWebhook => secrets.push(&self.hubspot.webhook_secret),
            Function::SyncWorker => {}
        }
        secrets
    }

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
            roles_claim: get("JWT_ROLES_CLAIM").unwrap_or_else(|| "roles".into()),
            max_lifetime: Duration::from_secs(parse(&get, "JWT_MAX_LIFETIME_SECONDS", 86_400)?),
        };
        if jwt.hs256_secret.is_none() && jwt.jwks_url.is_none() {
            return Err(ConfigError::Missing(
                "JWT_JWKS_URL (or JWT_HS256_SECRET_ARN)",
            ));
        }

        let http_addr = parse(&get, "HTTP_ADDR", SocketAddr::from(([127, 0, 0, 1], 3000)))?;
        let hubspot = HubSpotSettings {
            base_url: get("HUBSPOT_BASE_URL").map(|u| u.trim_end_matches('/').to_owned()),
            token: secret(
                "HUBSPOT_TOKEN",
                "HUBSPOT_TOKEN_SECRET_ARN",
                Some(SANDBOX_APP_TOKEN),
            )?,
            read_token: secret("HUBSPOT_READ_TOKEN", "HUBSPOT_READ_TOKEN_SECRET_ARN", None)?,
            oauth: oauth_settings(&get, &secret, local, http_addr)?,
            webhook_secret: secret(
                "HUBSPOT_WEBHOOK_SECRET",
                "HUBSPOT_WEBHOOK_SECRET_ARN",
                Some(SANDBOX_WEBHOOK_SECRET),
            )?
            .ok_or(ConfigError::Missing("HUBSPOT_WEBHOOK_SECRET_ARN"))?,
            portal_id: parse(&get, "HUBSPOT_PORTAL_ID", DEFAULT_PORTAL_ID)?,
            rate_limit_max: parse(&get, "HUBSPOT_RATE_LIMIT_MAX", 100)?,
            installed_rate_limit_max: parse(&get, "HUBSPOT_INSTALLED_RATE_LIMIT_MAX", 110)?,
            rate_limit_interval_ms: parse(&get, "HUBSPOT_RATE_LIMIT_INTERVAL_MS", 10_000)?,
            search_per_second: parse(&get, "HUBSPOT_SEARCH_PER_SECOND", 5)?,
            timeout: Duration::from_millis(parse(&get, "HUBSPOT_TIMEOUT_MS", 10_000)?),
            max_retries: parse(&get, "HUBSPOT_MAX_RETRIES", 6)?,
            mapping_max_age: Duration::from_secs(parse(&get, "SYNC_MAPPING_MAX_AGE_SECONDS", 30)?),
            sandbox_addr: parse(
                &get,
                "HUBSPOT_SANDBOX_ADDR",
                SocketAddr::from(([127, 0, 0, 1], 3001)),
            )?,
        };
        if hubspot.base_url.is_none() && !local {
            return Err(ConfigError::Missing("HUBSPOT_BASE_URL"));
        }
        if hubspot.token.is_none() && hubspot.oauth.is_none() {
            return Err(ConfigError::Missing(
                "HUBSPOT_TOKEN_SECRET_ARN (or HUBSPOT_CLIENT_ID for an OAuth home portal)",
            ));
        }

        let database = DatabaseSettings {
            url: SecretString::from(database_url(
                get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.into()),
                mode,
            )?),
            password: secret("DATABASE_PASSWORD", "DATABASE_SECRET_ARN", None)?,
            auth: match get("DATABASE_AUTH").as_deref() {
                None | Some("password") => DatabaseAuth::Password,
                Some("iam") => DatabaseAuth::Iam,
                Some(other) => {
                    return Err(ConfigError::Invalid {
                        name: "DATABASE_AUTH",
                        message: format!("expected password or iam, got {other:?}"),
                    });
                }
            },
            pool_size: parse(&get, "DATABASE_POOL_SIZE", if local { 16 } else { 1 })?,
        };

        let reconcile = ReconcileSettings {
            interval: Duration::from_secs(parse(&get, "RECONCILE_INTERVAL_SECS", 86_400)?.max(1)),
            poll: Duration::from_secs(parse(&get, "RECONCILE_POLL_SECS", 5)?.max(1)),
        };

        let outbound = OutboundSettings {
            in_dev: parse(&get, "DEV_OUTBOUND", true)?,
            lease: Duration::from_secs(parse(&get, "OUTBOX_LEASE_SECS", 120)?.max(1)),
            retry_base: Duration::from_millis(parse(&get, "OUTBOX_RETRY_BASE_MS", 2_000)?.max(1)),
            batch_size: parse(&get, "OUTBOX_BATCH_SIZE", 100usize)?.clamp(1, 100),
        };

        let onboarding =
            OnboardingSettings {
                customer_type: match get("ONBOARDING_CUSTOMER_TYPE") {
                    None => warp_domain::customer::CustomerType::Postpaid,
                    Some(text) => warp_domain::customer::CustomerType::parse(text.trim()).map_err(
                        |error| ConfigError::Invalid {
                            name: "ONBOARDING_CUSTOMER_TYPE",
                            message: error.0.to_owned(),
                        },
                    )?,
                },
            };

        let calls = CallSettings {
            home_for_unconnected: match get("CALLS_DEFAULT_PORTAL").as_deref().map(str::trim) {
                None | Some("none") => false,
                Some("home") => true,
                Some(other) => {
                    return Err(ConfigError::Invalid {
                        name: "CALLS_DEFAULT_PORTAL",
                        message: format!("expected home or none, got {other:?}"),
                    });
                }
            },
            retry_base: match parse(&get, "CALLS_RETRY_BASE_MS", 10_000u64)? {
                ms @ 50..=600_000 => Duration::from_millis(ms),
                _ => {
                    return Err(ConfigError::Invalid {
                        name: "CALLS_RETRY_BASE_MS",
                        message: "expected 50 to 600000 milliseconds".to_owned(),
                    });
                }
            },
        };

        let account_events_as_custom_events =
            match get("ACCOUNT_EVENTS_AS").as_deref().map(str::trim) {
                None | Some("notes") => false,
                Some("custom_events") => true,
                Some(other) => {
                    return Err(ConfigError::Invalid {
                        name: "ACCOUNT_EVENTS_AS",
                        message: format!("expected notes or custom_events, got {other:?}"),
                    });
                }
            };

        let support_tickets = SupportTicketSettings {
            pipeline: get("SUPPORT_TICKET_PIPELINE").map(|v| v.trim().to_owned()),
            stage: get("SUPPORT_TICKET_STAGE").map(|v| v.trim().to_owned()),
            check_every: match parse(&get, "SUPPORT_TICKET_CHECK_SECS", 60u64)? {
                secs @ 5..=86_400 => Duration::from_secs(secs),
                _ => {
                    return Err(ConfigError::Invalid {
                        name: "SUPPORT_TICKET_CHECK_SECS",
                        message: "expected 5 to 86400 seconds".to_owned(),
                    });
                }
            },
        };

        let usage_alerts = UsageAlertSettings {
            percent: match parse(&get, "USAGE_ALERT_PERCENT", 80u32)? {
                percent @ 0..=1_000 => percent,
                _ => {
                    return Err(ConfigError::Invalid {
                        name: "USAGE_ALERT_PERCENT",
                        message: "expected 0 (off) to 1000 percent of the credit limit".to_owned(),
                    });
                }
            },
            tickets: flag(&get, "USAGE_ALERT_TICKETS")?,
            daily_note: flag(&get, "USAGE_DAILY_NOTE")?,
        };

        let audit_retention = match parse(&get, "AUDIT_RETENTION_DAYS", 400u64)? {
            days @ 1..=3_650 => Duration::from_secs(days * 86_400),
            _ => {
                return Err(ConfigError::Invalid {
                    name: "AUDIT_RETENTION_DAYS",
                    message: "must be 1 to 3650 days".to_owned(),
                });
            }
        };

        let console_oidc = console_oidc_settings(&get, local)?;
        let metrics_namespace = get("METRICS_NAMESPACE").unwrap_or_else(|| "WARP/Sync".into());
        // CloudWatch: 1 to 255 of letters, digits and . - _ / # : (and not starting AWS/).
        if metrics_namespace.is_empty()
            || metrics_namespace.len() > 255
            || metrics_namespace.starts_with("AWS/")
            || !metrics_namespace
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-_/#: ".contains(c))
        {
            return Err(ConfigError::Invalid {
                name: "METRICS_NAMESPACE",
                message: "must be 1 to 255 letters, digits and . - _ / # : and not start with AWS/"
                    .to_owned(),
            });
        }

        Ok(Config {
            mode,
            console_oidc,
            reconcile,
            outbound,
            onboarding,
            calls,
            account_events_as_custom_events,
            usage_alerts,
            support_tickets,
            audit_retention,
            metrics_namespace,
            http_addr,
            http_server: HttpServerSettings {
                header_read_timeout: Duration::from_millis(parse(
                    &get,
                    "HTTP_HEADER_TIMEOUT_MS",
                    10_000,
                )?),
                request_timeout: Duration::from_millis(parse(
                    &get,
                    "HTTP_REQUEST_TIMEOUT_MS",
                    30_000,
                )?),
                idle_timeout: Duration::from_millis(parse(&get, "HTTP_IDLE_TIMEOUT_MS", 60_000)?),
                max_connections: parse(&get, "HTTP_MAX_CONNECTIONS", 1024)?,
            }
            .checked()?,
            database,
            jwt,
            hubspot,
            sqs_queue_url: get("SQS_QUEUE_URL"),
            sqs_dlq_url: get("SQS_DLQ_URL"),
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
    /// HubSpot's consent page: the configured one, the sandbox's when HubSpot is the built-in
    /// sandbox, HubSpot's own otherwise.
    pub fn hubspot_authorize_url(&self) -> String {
        let configured = self
            .hubspot
            .oauth
            .as_ref()
            .and_then(|o| o.authorize_url.clone());
        configured.unwrap_or_else(|| match &self.hubspot.base_url {
            None => format!("http://{}/oauth/authorize", self.hubspot.sandbox_addr),
            Some(_) => "https://app.hubspot.com/oauth/authorize".to_owned(),
        })
    }

    pub fn hubspot_base_url(&self) -> String {
        self.hubspot
            .base_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.hubspot.sandbox_addr))
    }
}

/// The console's OIDC sign-in: its four addresses and the client id together, or none of them.
fn console_oidc_settings(
    get: &impl Fn(&str) -> Option<String>,
    local: bool,
) -> Result<Option<ConsoleOidcSettings>, ConfigError> {
    const NAMES: [&str; 4] = [
        "CONSOLE_OIDC_AUTHORIZE_URL",
        "CONSOLE_OIDC_TOKEN_URL",
        "CONSOLE_OIDC_CLIENT_ID",
        "CONSOLE_OIDC_REDIRECT_URI",
    ];
    let values: Vec<Option<String>> = NAMES.iter().map(|name| get(name)).collect();
    if values.iter().all(Option::is_none) {
        return Ok(None);
    }
    if let Some(missing) = NAMES.iter().zip(&values).find(|(_, v)| v.is_none()) {
        return Err(ConfigError::Invalid {
            name: missing.0,
            message: "the console's OIDC sign-in needs all four CONSOLE_OIDC_* settings".into(),
        });
    }
    let [authorize_url, token_url, client_id, redirect_uri] =
        <[Option<String>; 4]>::try_from(values)
            .map_err(|_| ConfigError::Missing("CONSOLE_OIDC_*"))?
            .map(Option::unwrap_or_default);
    for (name, url) in [
        ("CONSOLE_OIDC_AUTHORIZE_URL", &authorize_url),
        ("CONSOLE_OIDC_TOKEN_URL", &token_url),
        ("CONSOLE_OIDC_REDIRECT_URI", &redirect_uri),
    ] {
        // Plain http only to this machine, in local mode.
        let loopback = url.starts_with("http://127.0.0.1:") || url.starts_with("http://localhost:");
        if !(url.starts_with("https://") || (local && loopback)) {
            return Err(ConfigError::Invalid {
                name,
                message: "must be an https URL (http only to 127.0.0.1 in local mode)".into(),
            });
        }
    }
    let token = get("CONSOLE_OIDC_TOKEN").unwrap_or_else(|| "id_token".into());
    if token != "id_token" && token != "access_token" {
        return Err(ConfigError::Invalid {
            name: "CONSOLE_OIDC_TOKEN",
            message: "must be id_token or access_token".into(),
        });
    }
    Ok(Some(ConsoleOidcSettings {
        authorize_url,
        token_url,
        client_id,
        redirect_uri,
        scopes: get("CONSOLE_OIDC_SCOPES").unwrap_or_else(|| "openid email profile".into()),
        token,
        provider: get("CONSOLE_OIDC_PROVIDER").unwrap_or_else(|| "Cognito".into()),
    }))
}

/// WARP's HubSpot app: always locally (the sandbox's app unless told otherwise); in Lambda only
/// when `HUBSPOT_CLIENT_ID` is set, and then with every part it needs.
fn oauth_settings(
    get: &impl Fn(&str) -> Option<String>,
    secret: &impl Fn(&'static str, &'static str, Option<&str>) -> Result<Option<SecretRef>, ConfigError>,
    local: bool,
    http_addr: SocketAddr,
) -> Result<Option<OAuthSettings>, ConfigError> {
    let client_id = match get("HUBSPOT_CLIENT_ID") {
        Some(id) => id,
        None if local => SANDBOX_CLIENT_ID.to_owned(),
        None => return Ok(None),
    };
    let scopes = |name: &str, default: &str| -> Vec<String> {
        get(name)
            .unwrap_or_else(|| default.to_owned())
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    let scopes_required = scopes("HUBSPOT_OAUTH_SCOPES", DEFAULT_OAUTH_SCOPES);
    if scopes_required.is_empty() {
        return Err(ConfigError::Invalid {
            name: "HUBSPOT_OAUTH_SCOPES",
            message: "an install must ask for at least one scope".into(),
        });
    }
    Ok(Some(OAuthSettings {
        client_id,
        client_secret: secret(
            "HUBSPOT_CLIENT_SECRET",
            "HUBSPOT_CLIENT_SECRET_ARN",
            Some(SANDBOX_CLIENT_SECRET),
        )?
        .ok_or(ConfigError::Missing("HUBSPOT_CLIENT_SECRET_ARN"))?,
        token_keys: secret(
            "TOKEN_ENCRYPTION_KEYS",
            "TOKEN_ENCRYPTION_KEYS_SECRET_ARN",
            Some(LOCAL_TOKEN_KEYS),
        )?
        .ok_or(ConfigError::Missing("TOKEN_ENCRYPTION_KEYS_SECRET_ARN"))?,
        redirect_url: match get("HUBSPOT_OAUTH_REDIRECT_URL") {
            Some(url) => url,
            None if local => format!("http://{http_addr}/v1/hubspot/oauth/callback"),
            None => return Err(ConfigError::Missing("HUBSPOT_OAUTH_REDIRECT_URL")),
        },
        authorize_url: get("HUBSPOT_AUTHORIZE_URL"),
        scopes: scopes_required,
        optional_scopes: scopes(
            "HUBSPOT_OAUTH_OPTIONAL_SCOPES",
            DEFAULT_OAUTH_OPTIONAL_SCOPES,
        ),
    }))
}

/// `url` with its TLS mode checked: Lambda reaches RDS Proxy over the network, so it gets
/// `verify-full` unless the URL says `require`, and never plain text.
fn database_url(url: String, mode: RunMode) -> Result<String, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        name: "DATABASE_URL",
        message,
    };
    let (_, tls) = warp_store::tls::split_tls_options(&url).map_err(|e| invalid(e.to_string()))?;
    if mode == RunMode::Local || url.contains("sslmode=") {
        return match tls.mode {
            warp_store::tls::SslMode::Disable if mode == RunMode::Lambda => Err(invalid(
                "sslmode=disable is for local mode only; use verify-full".into(),
            )),
            _ => Ok(url),
        };
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    Ok(format!("{url}{separator}sslmode=verify-full"))
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
    fn the_metrics_namespace_defaults_and_a_bad_one_is_refused() {
        assert_eq!(config(&[]).unwrap().metrics_namespace, "WARP/Sync");
        let stack = config(&[("METRICS_NAMESPACE", "WARP/warp-prod")]).unwrap();
        assert_eq!(stack.metrics_namespace, "WARP/warp-prod");
        for bad in ["AWS/Lambda", "WARP/{stack}", "WARP/é"] {
            assert!(config(&[("METRICS_NAMESPACE", bad)]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_read_only_hubspot_token_is_optional_and_read_like_the_main_one() {
        assert!(config(&[]).unwrap().hubspot.read_token.is_none());
        let local = config(&[("HUBSPOT_READ_TOKEN", "sandbox-read-token")]).unwrap();
        assert!(matches!(
            local.hubspot.read_token,
            Some(SecretRef::Value(_))
        ));
        let arn = "arn:aws:secretsmanager:us-east-1:1:secret:read";
        let by_arn = config(&[("HUBSPOT_READ_TOKEN_SECRET_ARN", arn)]).unwrap();
        assert!(matches!(by_arn.hubspot.read_token, Some(SecretRef::Arn(ref a)) if a == arn));
    }

    #[test]
    fn http_limits_default_and_an_idle_timeout_under_the_request_timeout_is_refused() {
        let c = config(&[]).unwrap();
        assert_eq!(c.http_server.header_read_timeout, Duration::from_secs(10));
        assert_eq!(c.http_server.max_connections, 1024);
        let err = config(&[
            ("HTTP_REQUEST_TIMEOUT_MS", "30000"),
            ("HTTP_IDLE_TIMEOUT_MS", "20000"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("HTTP_IDLE_TIMEOUT_MS"), "{err}");
        assert!(config(&[("HTTP_MAX_CONNECTIONS", "0")]).is_err());
    }

    #[test]
    fn the_console_sign_in_needs_all_four_settings_and_https_outside_local_mode() {
        assert_eq!(config(&[]).unwrap().console_oidc, None);
        let local = [
            (
                "CONSOLE_OIDC_AUTHORIZE_URL",
                "http://127.0.0.1:9/oauth2/authorize",
            ),
            ("CONSOLE_OIDC_TOKEN_URL", "http://127.0.0.1:9/oauth2/token"),
            ("CONSOLE_OIDC_CLIENT_ID", "console"),
            ("CONSOLE_OIDC_REDIRECT_URI", "http://127.0.0.1:3000/console"),
        ];
        let oidc = config(&local).unwrap().console_oidc.unwrap();
        assert_eq!(oidc.client_id, "console");
        assert_eq!(oidc.scopes, "openid email profile");
        assert_eq!(oidc.token, "id_token");
        let err = config(&local[..3]).unwrap_err();
        assert!(
            err.to_string().contains("CONSOLE_OIDC_REDIRECT_URI"),
            "{err}"
        );
        let mut bad_token = local.to_vec();
        bad_token.push(("CONSOLE_OIDC_TOKEN", "refresh_token"));
        assert!(config(&bad_token).is_err());
        let mut deployed = local.to_vec();
        deployed.extend([
            ("AWS_LAMBDA_FUNCTION_NAME", "customer-api"),
            ("JWT_JWKS_URL", "https://issuer/.well-known/jwks.json"),
            ("HUBSPOT_BASE_URL", "https://api.hubapi.com"),
            (
                "HUBSPOT_TOKEN_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:1:secret:t",
            ),
            (
                "HUBSPOT_WEBHOOK_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:1:secret:w",
            ),
        ]);
        let err = config(&deployed).unwrap_err();
        assert!(
            err.to_string().contains("CONSOLE_OIDC_AUTHORIZE_URL"),
            "{err}"
        );
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
    fn each_function_reads_the_secrets_template_yaml_grants_it() {
        let c = lambda_database(&[
            (
                "DATABASE_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:1:secret:d",
            ),
            (
                "HUBSPOT_READ_TOKEN_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:1:secret:r",
            ),
        ])
        .unwrap();
        let read_by = |function| -> Vec<String> {
            c.secrets_read_by(function)
                .into_iter()
                .map(|secret| match secret {
                    SecretRef::Arn(arn) => arn.rsplit(':').next().unwrap().to_owned(),
                    SecretRef::Value(_) => "value".to_owned(),
                })
                .collect()
        };
        assert_eq!(read_by(Function::SyncWorker), ["d", "t"]);
        assert_eq!(read_by(Function::HubSpotWebhook), ["d", "t", "w"]);
        assert_eq!(read_by(Function::Reconciler), ["d", "t", "r"]);
        assert_eq!(read_by(Function::CustomerApi), ["d", "t", "r"]);
    }

    fn lambda_database(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut all = vec![
            ("AWS_LAMBDA_FUNCTION_NAME", "sync-worker"),
            ("JWT_JWKS_URL", "https://issuer/.well-known/jwks.json"),
            ("HUBSPOT_BASE_URL", "https://api.hubapi.com"),
            (
                "HUBSPOT_TOKEN_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:1:secret:t",
            ),
            (
                "HUBSPOT_WEBHOOK_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:1:secret:w",
            ),
        ];
        all.extend_from_slice(vars);
        config(&all)
    }

    #[test]
    fn lambda_connects_with_verified_tls_unless_told_require_and_never_plain() {
        use secrecy::ExposeSecret;
        let c =
            lambda_database(&[("DATABASE_URL", "postgres://warp_app@proxy:5432/warp")]).unwrap();
        assert_eq!(
            c.database.url.expose_secret(),
            "postgres://warp_app@proxy:5432/warp?sslmode=verify-full"
        );
        assert_eq!(c.database.auth, DatabaseAuth::Password);
        let c = lambda_database(&[(
            "DATABASE_URL",
            "postgres://warp_app@proxy:5432/warp?application_name=warp&sslmode=require",
        )])
        .unwrap();
        assert!(c.database.url.expose_secret().ends_with("&sslmode=require"));
        let err = lambda_database(&[(
            "DATABASE_URL",
            "postgres://warp_app@proxy:5432/warp?sslmode=disable",
        )])
        .unwrap_err();
        assert!(err.to_string().starts_with("DATABASE_URL"), "{err}");
        let err =
            lambda_database(&[("DATABASE_URL", "postgres://h/warp?sslmode=prefer")]).unwrap_err();
        assert!(err.to_string().starts_with("DATABASE_URL"), "{err}");
        // Local mode keeps the URL as written (plain text to the local server by default).
        let c = config(&[]).unwrap();
        assert_eq!(c.database.url.expose_secret(), DEFAULT_DATABASE_URL);
    }

    #[test]
    fn database_auth_is_password_or_iam() {
        let c = lambda_database(&[("DATABASE_AUTH", "iam")]).unwrap();
        assert_eq!(c.database.auth, DatabaseAuth::Iam);
        let err = lambda_database(&[("DATABASE_AUTH", "kerberos")]).unwrap_err();
        assert!(err.to_string().starts_with("DATABASE_AUTH"), "{err}");
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = config(&[("HTTP_ADDR", "not an address")]).unwrap_err();
        assert!(err.to_string().starts_with("HTTP_ADDR"), "{err}");
        let err = config(&[("SYNC_CREATE_MODE", "sometimes")]).unwrap_err();
        assert!(err.to_string().starts_with("SYNC_CREATE_MODE"), "{err}");
    }

    #[test]
    fn account_events_are_notes_unless_custom_events_are_asked_for() {
        assert!(!config(&[]).unwrap().account_events_as_custom_events);
        let alerts = config(&[]).unwrap().usage_alerts;
        assert_eq!((alerts.percent, alerts.tickets), (80, false));
        let alerts = config(&[
            ("USAGE_ALERT_PERCENT", "0"),
            ("USAGE_ALERT_TICKETS", "true"),
        ])
        .unwrap()
        .usage_alerts;
        assert_eq!(
            (alerts.percent, alerts.tickets, alerts.daily_note),
            (0, true, false)
        );
        assert!(
            config(&[("USAGE_DAILY_NOTE", "true")])
                .unwrap()
                .usage_alerts
                .daily_note
        );
        assert!(config(&[("USAGE_ALERT_PERCENT", "1001")]).is_err());
        assert!(config(&[("USAGE_ALERT_TICKETS", "yes")]).is_err());
        assert!(
            config(&[("ACCOUNT_EVENTS_AS", "custom_events")])
                .unwrap()
                .account_events_as_custom_events
        );
        assert!(config(&[("ACCOUNT_EVENTS_AS", "timeline")]).is_err());
    }

    #[test]
    fn support_tickets_go_to_the_configured_pipeline_checked_every_minute_by_default() {
        let defaults = config(&[]).unwrap().support_tickets;
        assert_eq!((defaults.pipeline, defaults.stage), (None, None));
        assert_eq!(defaults.check_every, Duration::from_secs(60));
        let set = config(&[
            ("SUPPORT_TICKET_PIPELINE", " Network Ops "),
            ("SUPPORT_TICKET_STAGE", "81"),
            ("SUPPORT_TICKET_CHECK_SECS", "30"),
        ])
        .unwrap()
        .support_tickets;
        assert_eq!(set.pipeline.as_deref(), Some("Network Ops"));
        assert_eq!(set.stage.as_deref(), Some("81"));
        assert_eq!(set.check_every, Duration::from_secs(30));
        assert!(config(&[("SUPPORT_TICKET_CHECK_SECS", "1")]).is_err());
    }

    #[test]
    fn calls_go_to_the_home_portal_only_when_asked() {
        assert!(!config(&[]).unwrap().calls.home_for_unconnected);
        let home = config(&[("CALLS_DEFAULT_PORTAL", "home")]).unwrap();
        assert!(home.calls.home_for_unconnected);
        assert!(config(&[("CALLS_DEFAULT_PORTAL", "nearest")]).is_err());
        assert_eq!(
            config(&[]).unwrap().calls.retry_base,
            Duration::from_secs(10)
        );
        let quick = config(&[("CALLS_RETRY_BASE_MS", "250")]).unwrap();
        assert_eq!(quick.calls.retry_base, Duration::from_millis(250));
        assert!(config(&[("CALLS_RETRY_BASE_MS", "5")]).is_err());
    }

    #[test]
    fn onboarding_customer_type_is_one_warp_knows() {
        use warp_domain::customer::CustomerType;
        let default = config(&[]).unwrap().onboarding.customer_type;
        assert_eq!(default, CustomerType::Postpaid);
        let set = config(&[("ONBOARDING_CUSTOMER_TYPE", "RESELLER")]).unwrap();
        assert_eq!(set.onboarding.customer_type, CustomerType::Reseller);
        let err = config(&[("ONBOARDING_CUSTOMER_TYPE", "GOLD")]).unwrap_err();
        assert!(
            err.to_string().starts_with("ONBOARDING_CUSTOMER_TYPE"),
            "{err}"
        );
    }

    #[test]
    fn outbound_settings_default_to_the_loop_in_dev_and_parse_overrides() {
        let c = config(&[]).unwrap();
        assert!(c.outbound.in_dev);
        assert_eq!(c.outbound.lease, Duration::from_secs(120));
        assert_eq!(c.outbound.retry_base, Duration::from_secs(2));
        assert_eq!(c.outbound.batch_size, 100);
        let c = config(&[
            ("DEV_OUTBOUND", "false"),
            ("OUTBOX_LEASE_SECS", "7"),
            ("OUTBOX_RETRY_BASE_MS", "250"),
            ("OUTBOX_BATCH_SIZE", "4"),
        ])
        .unwrap();
        assert_eq!(c.outbound.batch_size, 4);
        assert_eq!(
            config(&[("OUTBOX_BATCH_SIZE", "500")])
                .unwrap()
                .outbound
                .batch_size,
            100,
            "never above HubSpot's limit"
        );
        assert!(!c.outbound.in_dev);
        assert_eq!(c.outbound.lease, Duration::from_secs(7));
        assert_eq!(c.outbound.retry_base, Duration::from_millis(250));
        let err = config(&[("DEV_OUTBOUND", "sometimes")]).unwrap_err();
        assert!(err.to_string().starts_with("DEV_OUTBOUND"), "{err}");
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
