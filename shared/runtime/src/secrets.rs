//! Secrets: a plain value (local mode) or a Secrets Manager ARN read through the AWS SDK and
//! cached with a TTL, so a warm Lambda does not call Secrets Manager on every invocation yet
//! picks up a rotated secret within the TTL.

use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Where a secret comes from.
#[derive(Clone)]
pub enum SecretRef {
    Value(SecretString),
    Arn(String),
}

impl std::fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretRef::Value(_) => f.write_str("SecretRef::Value([redacted])"),
            SecretRef::Arn(arn) => f.debug_tuple("SecretRef::Arn").field(arn).finish(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("secret {arn} could not be read: {message}")]
    Read { arn: String, message: String },
    #[error("secret {arn} has no string value")]
    NotAString { arn: String },
    #[error("secret {arn} is JSON without the key {key}")]
    MissingKey { arn: String, key: String },
}

struct Cached {
    value: SecretString,
    fetched_at: Instant,
}

/// Reads secrets by ARN and keeps each for `ttl`. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct SecretsCache {
    client: Option<aws_sdk_secretsmanager::Client>,
    ttl: Duration,
    entries: Arc<Mutex<HashMap<String, Cached>>>,
}

impl SecretsCache {
    pub fn new(client: aws_sdk_secretsmanager::Client, ttl: Duration) -> Self {
        Self {
            client: Some(client),
            ttl,
            entries: Arc::default(),
        }
    }

    /// The cache a process with `config` needs: with a Secrets Manager client when any secret is
    /// an ARN (always in Lambda), values only otherwise, so local runs need no AWS set-up.
    pub async fn for_config(config: &crate::Config) -> Self {
        let refs = [
            config.jwt.hs256_secret.as_ref(),
            config.hubspot.token.as_ref(),
            config.hubspot.read_token.as_ref(),
            Some(&config.hubspot.webhook_secret),
            config.hubspot.oauth.as_ref().map(|o| &o.client_secret),
            config.hubspot.oauth.as_ref().map(|o| &o.token_keys),
            config.database.password.as_ref(),
        ];
        if refs
            .iter()
            .flatten()
            .any(|r| matches!(r, SecretRef::Arn(_)))
        {
            let sdk = crate::aws::sdk_config().await;
            Self::new(
                aws_sdk_secretsmanager::Client::new(&sdk),
                config.secrets_cache_ttl,
            )
        } else {
            Self::values_only()
        }
    }

    /// The cache a Lambda function needs, holding the secrets it reads already: they are read
    /// together in one call ([`Self::prefetch`]), not one round trip each during its init.
    pub async fn for_function(config: &crate::Config, function: crate::config::Function) -> Self {
        let cache = Self::for_config(config).await;
        cache.prefetch(&config.secrets_read_by(function)).await;
        cache
    }

    /// Reads the ARNs among `secrets` that are not cached yet with BatchGetSecretValue (20 a
    /// call). Best effort: a secret the call did not return (refused, missing, or the call
    /// itself not allowed) is read on its own when resolved, which reports its error.
    pub async fn prefetch(&self, secrets: &[&SecretRef]) {
        let Some(client) = &self.client else {
            return;
        };
        let mut entries = self.entries.lock().await;
        let mut wanted: Vec<&str> = secrets
            .iter()
            .filter_map(|secret| match secret {
                SecretRef::Arn(arn) => Some(arn.as_str()),
                SecretRef::Value(_) => None,
            })
            .filter(|arn| {
                entries
                    .get(*arn)
                    .is_none_or(|cached| cached.fetched_at.elapsed() >= self.ttl)
            })
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        // One secret is one call either way.
        if wanted.len() < 2 {
            return;
        }
        for ids in wanted.chunks(20) {
            let answer = client
                .batch_get_secret_value()
                .set_secret_id_list(Some(ids.iter().map(|id| (*id).to_owned()).collect()))
                .send()
                .await;
            let answer = match answer {
                Ok(answer) => answer,
                Err(error) => {
                    tracing::info!(
                        error = %aws_sdk_secretsmanager::error::DisplayErrorContext(&error),
                        "secrets not read together; each is read on its own"
                    );
                    return;
                }
            };
            for value in answer.secret_values() {
                // Cached under the id the configuration used: its ARN or its name.
                let asked = ids
                    .iter()
                    .find(|id| value.arn() == Some(**id) || value.name() == Some(**id));
                if let (Some(asked), Some(string)) = (asked, value.secret_string()) {
                    entries.insert(
                        (*asked).to_owned(),
                        Cached {
                            value: SecretString::from(string.to_owned()),
                            fetched_at: Instant::now(),
                        },
                    );
                }
            }
        }
    }

    /// A cache that can only resolve plain values (local mode without AWS).
    pub fn values_only() -> Self {
        Self {
            client: None,
            ttl: Duration::ZERO,
            entries: Arc::default(),
        }
    }

    /// The secret's string. For an ARN, the whole SecretString, unless it is a JSON object with
    /// a `value`, `password` or `token` key, whose value is returned (the shapes RDS and
    /// console-created secrets have).
    pub async fn resolve(&self, secret: &SecretRef) -> Result<SecretString, SecretsError> {
        match secret {
            SecretRef::Value(v) => Ok(v.clone()),
            SecretRef::Arn(arn) => {
                let raw = self.get(arn).await?;
                Ok(extract_value(raw.expose_secret())
                    .map(SecretString::from)
                    .unwrap_or(raw))
            }
        }
    }

    /// The raw SecretString of `arn`, from the cache while fresh. The lock is held across the
    /// fetch on purpose: concurrent callers wait for one fetch instead of each calling AWS.
    pub async fn get(&self, arn: &str) -> Result<SecretString, SecretsError> {
        let mut entries = self.entries.lock().await;
        if let Some(cached) = entries.get(arn)
            && cached.fetched_at.elapsed() < self.ttl
        {
            return Ok(cached.value.clone());
        }
        let client = self.client.as_ref().ok_or_else(|| SecretsError::Read {
            arn: arn.to_owned(),
            message: "no Secrets Manager client configured".into(),
        })?;
        let answer = client
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| SecretsError::Read {
                arn: arn.to_owned(),
                message: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
            })?;
        let value = SecretString::from(
            answer
                .secret_string()
                .ok_or_else(|| SecretsError::NotAString {
                    arn: arn.to_owned(),
                })?
                .to_owned(),
        );
        entries.insert(
            arn.to_owned(),
            Cached {
                value: value.clone(),
                fetched_at: Instant::now(),
            },
        );
        Ok(value)
    }

    /// A key of a JSON secret (e.g. `password` of an RDS secret).
    pub async fn get_json_key(&self, arn: &str, key: &str) -> Result<SecretString, SecretsError> {
        let raw = self.get(arn).await?;
        serde_json::from_str::<serde_json::Value>(raw.expose_secret())
            .ok()
            .and_then(|v| v.get(key).and_then(|k| k.as_str()).map(str::to_owned))
            .map(SecretString::from)
            .ok_or_else(|| SecretsError::MissingKey {
                arn: arn.to_owned(),
                key: key.to_owned(),
            })
    }
}

fn extract_value(raw: &str) -> Option<String> {
    let json: serde_json::Value = serde_json::from_str(raw).ok()?;
    ["value", "token", "password", "secret"]
        .iter()
        .find_map(|k| json.get(*k).and_then(|v| v.as_str()).map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_secrets_yield_their_value_key_and_plain_ones_stay_whole() {
        assert_eq!(
            extract_value(r#"{"password":"p","username":"u"}"#).as_deref(),
            Some("p")
        );
        assert_eq!(extract_value(r#"{"token":"t"}"#).as_deref(), Some("t"));
        assert_eq!(extract_value("pat-na1-abc"), None);
        assert_eq!(extract_value(r#"{"other":"x"}"#), None);
    }

    #[test]
    fn debug_hides_values() {
        let shown = format!("{:?}", SecretRef::Value(SecretString::from("s3cr3t")));
        assert!(!shown.contains("s3cr3t"));
    }

    #[tokio::test]
    async fn values_only_cache_refuses_arns() {
        let cache = SecretsCache::values_only();
        let err = cache
            .resolve(&SecretRef::Arn("arn:x".into()))
            .await
            .unwrap_err();
        assert!(matches!(err, SecretsError::Read { .. }));
        let v = cache
            .resolve(&SecretRef::Value(SecretString::from("v")))
            .await
            .unwrap();
        assert_eq!(v.expose_secret(), "v");
    }
}
