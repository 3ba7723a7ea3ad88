//! Building the API from the runtime configuration, shared by `warp dev` and the Lambda binary:
//! secrets resolved once, the database pool, and the token checks (JWKS when configured, else
//! the HS256 secret). The outbox publisher stays the no-op until one is set with
//! [`ApiState::with_outbox_publisher`] (the reconciler's relay sends what was not published).
//! With `SYNC_CREATE_MODE=strict` creates are pushed to HubSpot before they commit.

use crate::sync_status::DeadLetterQueue;
use crate::{ApiState, AuthConfig, KeySource, router};
use std::sync::Arc;
use warp_runtime::config::SyncCreateMode;
use warp_runtime::{Config, SecretsCache, SecretsError};
use warp_store::{Database, DatabaseError};
use warp_sync::queue::SqsPublisher;

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("reading a secret: {0}")]
    Secret(#[from] SecretsError),
    #[error("the outbox queue: {0}")]
    Queue(#[from] warp_sync::wiring::WiringError),
    #[error("the HubSpot client for strict create mode: {0}")]
    HubSpot(warp_sync::wiring::WiringError),
    #[error("connecting to the database: {0}")]
    Database(#[from] DatabaseError),
    #[error("setting up the database connection: {0}")]
    DatabaseSetup(warp_sync::wiring::WiringError),
    #[error("the field mapping for strict create mode: {0}")]
    Mapping(warp_sync::wiring::WiringError),
    #[error("no token keys: set JWT_JWKS_URL or JWT_HS256_SECRET(_ARN)")]
    NoTokenKeys,
}

/// The token checks `config` asks for: a JWKS URL wins over an HS256 secret.
pub async fn auth_config(
    config: &Config,
    secrets: &SecretsCache,
) -> Result<AuthConfig, BootstrapError> {
    let keys = match (&config.jwt.jwks_url, &config.jwt.hs256_secret) {
        (Some(url), _) => KeySource::Jwks {
            url: url.clone(),
            ttl: config.jwt.jwks_cache_ttl,
        },
        (None, Some(secret)) => KeySource::Hs256(secrets.resolve(secret).await?),
        (None, None) => return Err(BootstrapError::NoTokenKeys),
    };
    Ok(AuthConfig {
        issuer: config.jwt.issuer.clone(),
        audience: config.jwt.audience.clone(),
        roles_claim: config.jwt.roles_claim.clone(),
        keys,
        max_lifetime: config.jwt.max_lifetime,
    })
}

/// The handlers' state over an already prepared `database`. With `SQS_QUEUE_URL`, every
/// committed write's outbox id is sent to the queue (and marked published); without it the
/// rows wait for the relay or the local outbox loop.
pub async fn api_state(
    config: &Config,
    database: Database,
    secrets: &SecretsCache,
) -> Result<ApiState, BootstrapError> {
    let auth = auth_config(config, secrets).await?;
    let mut state = ApiState::new(database.clone(), auth, config.hubspot.portal_id)
        .with_usage_alerts(config.usage_alerts);
    if let Some(oidc) = &config.console_oidc {
        state = state.with_console_oidc(crate::ConsoleOidc {
            authorize_url: oidc.authorize_url.clone(),
            token_url: oidc.token_url.clone(),
            client_id: oidc.client_id.clone(),
            redirect_uri: oidc.redirect_uri.clone(),
            scopes: oidc.scopes.clone(),
            token: oidc.token.clone(),
            provider: oidc.provider.clone(),
        });
    }
    let strict = config.sync_create_mode == SyncCreateMode::Strict;
    // One client serves strict create mode and the company search and link routes. Outside
    // strict mode, a client that cannot be built only turns those two routes into 503s.
    match warp_sync::wiring::hubspot_client(config, secrets, &database).await {
        Ok(hubspot) => {
            if strict {
                let mapping = warp_sync::wiring::field_mapping(config, &database)
                    .await
                    .map_err(BootstrapError::Mapping)?;
                state = state.with_strict_create(hubspot.clone(), mapping);
            }
            match warp_sync::wiring::hubspot_read_client(config, secrets, &database, &hubspot).await
            {
                Ok(reader) => state = state.with_hubspot_reader(reader),
                Err(error) => {
                    tracing::warn!(%error, "the read-only HubSpot credential is unusable: searches use the main one");
                }
            }
            state = state.with_hubspot(hubspot);
        }
        Err(error) if strict => return Err(BootstrapError::HubSpot(error)),
        Err(error) => {
            tracing::warn!(%error, "no HubSpot client: company search and link answer 503");
        }
    }
    match warp_sync::wiring::connector(config, secrets, &database).await {
        Ok(Some(connector)) => state = state.with_connector(connector),
        Ok(None) => {}
        Err(error) => {
            tracing::warn!(%error, "no HubSpot app: the OAuth connect routes answer 503");
        }
    }
    if let Some(dlq_url) = &config.sqs_dlq_url {
        let sdk = warp_runtime::aws::sdk_config().await;
        state = state.with_dead_letter_queue(DeadLetterQueue::new(
            aws_sdk_sqs::Client::new(&sdk),
            dlq_url.clone(),
        ));
    }
    if config.sqs_queue_url.is_none() {
        return Ok(state);
    }
    let (client, queue_url) = warp_sync::wiring::sqs_queue(config).await?;
    Ok(state.with_outbox_publisher(Arc::new(
        SqsPublisher::new(client, queue_url).marking_published_in(database),
    )))
}

/// The whole router for Lambda: resolves secrets, opens the pool (and one connection, during
/// init, so the first request does not pay for it). Migrations are not run here: they go to
/// the database endpoint, not through RDS Proxy.
pub async fn lambda_router(config: &Config) -> Result<axum::Router, BootstrapError> {
    let secrets = SecretsCache::for_function(config, warp_runtime::Function::CustomerApi).await;
    // Password or IAM token, verified TLS; a failed first connect is not fatal (/health answers
    // 503 and the pool retries on the next request).
    let database = warp_sync::wiring::database(config, &secrets)
        .await
        .map_err(BootstrapError::DatabaseSetup)?;
    let state = api_state(config, database, &secrets).await?;
    Ok(router(state))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Config {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned()).unwrap()
    }

    #[tokio::test]
    async fn local_mode_uses_the_hs256_secret_and_a_jwks_url_wins() {
        let secrets = SecretsCache::values_only();
        let local = auth_config(&config(&[("JWT_HS256_SECRET", "s3cret")]), &secrets)
            .await
            .unwrap();
        assert!(matches!(&local.keys, KeySource::Hs256(s) if s.expose_secret() == "s3cret"));
        assert_eq!(local.issuer, "warp-local");
        let jwks = auth_config(
            &config(&[
                ("JWT_JWKS_URL", "https://id.example/jwks.json"),
                ("JWT_AUDIENCE", "portal"),
            ]),
            &secrets,
        )
        .await
        .unwrap();
        assert!(
            matches!(&jwks.keys, KeySource::Jwks { url, .. } if url == "https://id.example/jwks.json")
        );
        assert_eq!(jwks.audience, "portal");
    }
}
