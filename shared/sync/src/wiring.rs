//! Building a process's long-lived parts from the runtime configuration, once, at start: the
//! database pool (password from Secrets Manager in Lambda), the HubSpot client drawing on the
//! portal's shared rate budget, the outbound worker and the SQS client. Shared by the Lambda
//! binaries and the `warp` CLI so they cannot drift apart.

use std::sync::Arc;

use secrecy::SecretString;
use warp_hubspot::{HubSpotClient, HubSpotClientConfig, PostgresRateBudget};
use warp_installations::{
    Connector, HomeCredentials, InstallationCredentials, KeyringError, OAuthApp, OAuthAppSettings,
    OAuthError, TokenKeyring,
};
use warp_runtime::{Config, SecretsCache, SecretsError};
use warp_store::outbox::RetryPolicy;
use warp_store::sync_config::{MappingSource, SyncConfigError};
use warp_store::{Database, DatabaseError};

use crate::call_log::{CallLogSettings, CallLogger};
use crate::outbound::OutboundWorker;
use crate::portals::{InstalledPortals, PortalWorkers};

/// Why a process could not be wired up; each names the part that failed.
#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    #[error("reading a secret: {0}")]
    Secret(#[from] SecretsError),
    #[error("opening the database pool: {0}")]
    Database(#[from] DatabaseError),
    #[error("database IAM authentication: {0}")]
    DatabaseAuth(#[from] warp_runtime::rds_auth::RdsAuthError),
    #[error("HubSpot client configuration: {0}")]
    HubSpotConfig(#[from] warp_hubspot::ConfigError),
    #[error("building the HubSpot client: {0}")]
    HubSpotClient(#[from] warp_hubspot::HubSpotError),
    #[error("SQS_QUEUE_URL must be set")]
    NoQueueUrl,
    #[error("reading the field mapping: {0}")]
    Mapping(#[from] SyncConfigError),
    #[error("the token encryption keys (TOKEN_ENCRYPTION_KEYS): {0}")]
    TokenKeys(#[from] KeyringError),
    #[error("the HubSpot OAuth app: {0}")]
    OAuthApp(#[from] OAuthError),
}

/// WARP's HubSpot app and the keyring its tokens are sealed with, when OAuth is configured.
pub async fn oauth_app(
    config: &Config,
    secrets: &SecretsCache,
) -> Result<Option<(OAuthApp, Arc<TokenKeyring>)>, WiringError> {
    let Some(settings) = &config.hubspot.oauth else {
        return Ok(None);
    };
    let keyring = TokenKeyring::parse(&secrets.resolve(&settings.token_keys).await?)?;
    let http = warp_runtime::https::client_builder()
        .timeout(config.hubspot.timeout)
        .build()
        .map_err(|e| OAuthError::Misconfigured(format!("building the HTTP client: {e}")))?;
    let app = OAuthApp::new(
        &OAuthAppSettings {
            client_id: settings.client_id.clone(),
            client_secret: secrets.resolve(&settings.client_secret).await?,
            authorize_url: config.hubspot_authorize_url(),
            api_base_url: config.hubspot_base_url(),
            redirect_url: settings.redirect_url.clone(),
            scopes: settings.scopes.clone(),
            optional_scopes: settings.optional_scopes.clone(),
        },
        http,
    )?;
    Ok(Some((app, Arc::new(keyring))))
}

/// The company field mapping of the deployment's portal, read from `hubspot_sync_config` now
/// and again when older than `SYNC_MAPPING_MAX_AGE_SECONDS`.
pub async fn field_mapping(
    config: &Config,
    database: &Database,
) -> Result<MappingSource, WiringError> {
    Ok(MappingSource::load(
        database.clone(),
        config.hubspot.portal_id,
        config.hubspot.mapping_max_age,
    )
    .await?)
}

/// The database pool `config` asks for. In Lambda the password comes from Secrets Manager
/// (`DATABASE_SECRET_ARN`) or is an IAM token per connection (`DATABASE_AUTH=iam`), never the
/// URL in an environment variable. One connection is
/// opened now, during init, so the first invocation does not pay for it; failing that is
/// logged, not fatal (the pool connects on first use).
pub async fn database(config: &Config, secrets: &SecretsCache) -> Result<Database, WiringError> {
    use warp_runtime::rds_auth::DatabaseSetupError;
    warp_runtime::rds_auth::connect_database(config, secrets)
        .await
        .map_err(|error| match error {
            DatabaseSetupError::Secret(e) => WiringError::Secret(e),
            DatabaseSetupError::Database(e) => WiringError::Database(e),
            DatabaseSetupError::Auth(e) => WiringError::DatabaseAuth(e),
        })
}

/// Connects and disconnects HubSpot portals through WARP's app, when OAuth is configured.
pub async fn connector(
    config: &Config,
    secrets: &SecretsCache,
    database: &Database,
) -> Result<Option<Connector>, WiringError> {
    let (Some(settings), Some((app, keyring))) =
        (&config.hubspot.oauth, oauth_app(config, secrets).await?)
    else {
        return Ok(None);
    };
    // The state is signed with the client secret: only WARP (and HubSpot) know it.
    let state_key = secrets.resolve(&settings.client_secret).await?;
    Ok(Some(Connector::new(
        database.clone(),
        app,
        keyring,
        state_key,
    )))
}

/// The home portal's HubSpot client, drawing on the portal's request budget shared through
/// Postgres (so every Lambda instance and local process stays inside one 100 / 10 s
/// allowance), with the token its installation says: the configured static one, or OAuth.
pub async fn hubspot_client(
    config: &Config,
    secrets: &SecretsCache,
    database: &Database,
) -> Result<HubSpotClient, WiringError> {
    let static_token = match &config.hubspot.token {
        Some(token) => Some(secrets.resolve(token).await?),
        None => None,
    };
    let client_config = HubSpotClientConfig::from_runtime(
        config,
        static_token
            .clone()
            .unwrap_or_else(|| SecretString::from(String::new())),
    )?;
    let portal_id = config.hubspot.portal_id;
    let oauth = oauth_app(config, secrets).await?.map(|(app, keyring)| {
        InstallationCredentials::new(portal_id, database.clone(), keyring, app)
    });
    let credentials = HomeCredentials::new(portal_id, database.clone(), static_token, oauth);
    let budget = PostgresRateBudget::new(
        database.pool().clone(),
        config.hubspot.portal_id,
        &client_config.rate_limit,
    );
    Ok(HubSpotClient::new(&client_config, Arc::new(budget))?
        .with_credentials(Arc::new(credentials)))
}

/// The client the reconciler's reads and the API's searches use: one over the read-only token
/// when `HUBSPOT_READ_TOKEN` is configured (sharing the home portal's budget: HubSpot counts
/// the portal's calls), else `hubspot` itself.
pub async fn hubspot_read_client(
    config: &Config,
    secrets: &SecretsCache,
    database: &Database,
    hubspot: &HubSpotClient,
) -> Result<HubSpotClient, WiringError> {
    let Some(read_token) = &config.hubspot.read_token else {
        return Ok(hubspot.clone());
    };
    let read_token = secrets.resolve(read_token).await?;
    // The token itself, whatever the home portal's main credential is (an OAuth installation
    // included): the client's own static credential, not the installation's.
    let client_config = HubSpotClientConfig::from_runtime(config, read_token)?;
    let budget = PostgresRateBudget::new(
        database.pool().clone(),
        config.hubspot.portal_id,
        &client_config.rate_limit,
    );
    Ok(HubSpotClient::new(&client_config, Arc::new(budget))?)
}

/// The home portal's outbound worker over `database`, with `hubspot` (its client) and the
/// configured lease, retries and batch size.
pub async fn home_worker(
    config: &Config,
    database: Database,
    hubspot: HubSpotClient,
) -> Result<OutboundWorker, WiringError> {
    let mapping = field_mapping(config, &database).await?;
    let retry = RetryPolicy {
        base: config.outbound.retry_base,
        ..RetryPolicy::default()
    };
    Ok(
        OutboundWorker::new(database, hubspot, config.hubspot.portal_id, mapping)
            .with_lease(config.outbound.lease)
            .with_retry_policy(retry)
            .with_batch_size(config.outbound.batch_size),
    )
}

/// The home portal's outbound worker over `database`, with its own HubSpot client.
pub async fn outbound_worker(
    config: &Config,
    secrets: &SecretsCache,
    database: Database,
) -> Result<OutboundWorker, WiringError> {
    let hubspot = hubspot_client(config, secrets, &database).await?;
    home_worker(config, database, hubspot).await
}

/// Every portal's outbound work: the home worker (over `hubspot`, the home client) and, when
/// WARP's HubSpot app is configured, a worker per connected customer portal.
pub async fn portal_workers(
    config: &Config,
    secrets: &SecretsCache,
    database: Database,
    hubspot: HubSpotClient,
) -> Result<PortalWorkers, WiringError> {
    let home = home_worker(config, database, hubspot).await?;
    Ok(match installed_portals(config, secrets).await? {
        Some(installed) => PortalWorkers::new(home, installed),
        None => PortalWorkers::home_only(home),
    })
}

/// What a customer portal's client is built from, when WARP's HubSpot app is configured.
pub async fn installed_portals(
    config: &Config,
    secrets: &SecretsCache,
) -> Result<Option<InstalledPortals>, WiringError> {
    let Some((app, keyring)) = oauth_app(config, secrets).await? else {
        return Ok(None);
    };
    let client_config =
        HubSpotClientConfig::from_runtime(config, SecretString::from(String::new()))?;
    Ok(Some(InstalledPortals {
        app,
        keyring,
        client_config,
        default_rate_limit_max: config.hubspot.installed_rate_limit_max,
        mapping_max_age: config.hubspot.mapping_max_age,
    }))
}

/// The logger of finished calls: the home portal over `hubspot`, customer portals through
/// WARP's HubSpot app when configured.
pub async fn call_logger(
    config: &Config,
    secrets: &SecretsCache,
    database: Database,
    hubspot: HubSpotClient,
) -> Result<CallLogger, WiringError> {
    let installed = installed_portals(config, secrets).await?;
    let settings = CallLogSettings {
        home_for_unconnected: config.calls.home_for_unconnected,
        retry: crate::work_items::RetryPolicy {
            base: config.calls.retry_base,
            ..crate::work_items::RetryPolicy::default()
        },
        ..CallLogSettings::default()
    };
    Ok(CallLogger::new(
        database,
        hubspot,
        config.hubspot.portal_id,
        installed,
        settings,
    ))
}

/// The SQS client (endpoint from `AWS_ENDPOINT_URL` when set: moto locally) and the queue URL.
pub async fn sqs_queue(config: &Config) -> Result<(aws_sdk_sqs::Client, String), WiringError> {
    let queue_url = config
        .sqs_queue_url
        .clone()
        .ok_or(WiringError::NoQueueUrl)?;
    let sdk = warp_runtime::aws::sdk_config().await;
    Ok((aws_sdk_sqs::Client::new(&sdk), queue_url))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Config {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned()).unwrap()
    }

    #[tokio::test]
    async fn each_wiring_failure_names_its_part() {
        let secrets = SecretsCache::values_only();
        assert!(matches!(
            sqs_queue(&config(&[])).await,
            Err(WiringError::NoQueueUrl)
        ));

        // The pool opens lazily, so no server is needed to reach the HubSpot checks.
        let database = Database::connect("postgres://postgres@127.0.0.1:1/none", 1).unwrap();
        let bad_budget = config(&[("HUBSPOT_RATE_LIMIT_MAX", "7")]);
        let error = hubspot_client(&bad_budget, &secrets, &database)
            .await
            .unwrap_err();
        assert!(matches!(error, WiringError::HubSpotConfig(_)), "{error}");
        assert!(
            error.to_string().contains("HUBSPOT_RATE_LIMIT_MAX"),
            "{error}"
        );

        // An ARN cannot be resolved without a Secrets Manager client: a typed error, no panic.
        let arn_token = config(&[(
            "HUBSPOT_TOKEN_SECRET_ARN",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:warp/hubspot",
        )]);
        let error = hubspot_client(&arn_token, &secrets, &database)
            .await
            .unwrap_err();
        assert!(matches!(error, WiringError::Secret(_)), "{error}");

        let bad_url = config(&[("DATABASE_URL", "postgres://u@h:notaport/db")]);
        assert!(matches!(
            super::database(&bad_url, &secrets).await,
            Err(WiringError::Database(_))
        ));
    }
}
