//! The database connection as configured: TLS from the URL's `sslmode`, and the password from
//! the URL, a Secrets Manager secret, or an RDS IAM auth token made afresh for each connection.
//!
//! An IAM auth token is a SigV4 presigned `connect` request to the `rds-db` service, used as the
//! password. It is computed locally (no AWS call), so one per connection costs microseconds.
//! aws-sigv4 is the signer the SDK itself uses; aws-sdk-rds would bring a large client for this
//! one function.

use crate::config::DatabaseAuth;
use crate::{Config, SecretsCache, SecretsError};
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_smithy_runtime_api::client::identity::Identity;
use secrecy::ExposeSecret;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use warp_store::database::PasswordError;
use warp_store::{Credentials as DbCredentials, Database, DatabaseError, PasswordSource};

/// How long a token may be used to open a connection; 15 minutes is the most RDS accepts.
const TOKEN_LIFETIME: Duration = Duration::from_secs(900);

#[derive(Debug, thiserror::Error)]
pub enum RdsAuthError {
    #[error("RDS IAM auth needs an AWS region (AWS_REGION)")]
    NoRegion,
    #[error("RDS IAM auth needs AWS credentials")]
    NoCredentialsProvider,
    #[error("AWS credentials for the RDS IAM auth token: {0}")]
    Credentials(String),
    #[error("signing the RDS IAM auth token: {0}")]
    Signing(String),
}

#[derive(Debug, thiserror::Error)]
pub enum DatabaseSetupError {
    #[error(transparent)]
    Secret(#[from] SecretsError),
    #[error(transparent)]
    Auth(#[from] RdsAuthError),
    #[error(transparent)]
    Database(#[from] DatabaseError),
}

/// The auth token for logging in to `user` at `host:port`, signed with `credentials` at `now`:
/// `host:port/?Action=connect&DBUser=…&X-Amz-…` (no scheme), valid for 15 minutes.
pub fn auth_token(
    credentials: &Credentials,
    region: &str,
    host: &str,
    port: u16,
    user: &str,
    now: SystemTime,
) -> Result<String, RdsAuthError> {
    let user: String = url::form_urlencoded::byte_serialize(user.as_bytes()).collect();
    let url = format!("https://{host}:{port}/?Action=connect&DBUser={user}");
    let identity: Identity = credentials.clone().into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(TOKEN_LIFETIME);
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("rds-db")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| RdsAuthError::Signing(e.to_string()))?
        .into();
    let request = SignableRequest::new("GET", &url, std::iter::empty(), SignableBody::empty())
        .map_err(|e| RdsAuthError::Signing(e.to_string()))?;
    let (instructions, _) = sign(request, &params)
        .map_err(|e| RdsAuthError::Signing(e.to_string()))?
        .into_parts();
    let mut signed = url::Url::parse(&url).map_err(|e| RdsAuthError::Signing(e.to_string()))?;
    {
        let mut query = signed.query_pairs_mut();
        for (name, value) in instructions.params() {
            query.append_pair(name, value);
        }
    }
    Ok(signed.as_str().trim_start_matches("https://").to_owned())
}

/// Makes an IAM auth token for each new database connection from the SDK's credentials chain
/// (in Lambda: the execution role's credentials).
#[derive(Debug, Clone)]
pub struct RdsAuthTokens {
    credentials: SharedCredentialsProvider,
    region: String,
}

impl RdsAuthTokens {
    pub fn new(credentials: SharedCredentialsProvider, region: impl Into<String>) -> Self {
        Self {
            credentials,
            region: region.into(),
        }
    }

    pub fn from_sdk_config(sdk: &aws_config::SdkConfig) -> Result<Self, RdsAuthError> {
        let region = sdk.region().ok_or(RdsAuthError::NoRegion)?;
        let credentials = sdk
            .credentials_provider()
            .ok_or(RdsAuthError::NoCredentialsProvider)?;
        Ok(Self::new(credentials, region.as_ref()))
    }

    pub async fn token(&self, host: &str, port: u16, user: &str) -> Result<String, RdsAuthError> {
        let credentials = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| RdsAuthError::Credentials(e.to_string()))?;
        auth_token(
            &credentials,
            &self.region,
            host,
            port,
            user,
            SystemTime::now(),
        )
    }
}

impl PasswordSource for RdsAuthTokens {
    fn password<'a>(
        &'a self,
        host: &'a str,
        port: u16,
        user: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<String, PasswordError>> + Send + 'a>> {
        Box::pin(async move { Ok(self.token(host, port, user).await?) })
    }
}

/// The pool `config` asks for: the password from the URL, from `DATABASE_SECRET_ARN`, or an IAM
/// auth token per connection (`DATABASE_AUTH=iam`). One connection is opened now, during init,
/// so the first invocation does not pay for the TLS handshake; failing that is logged, not fatal
/// (the pool connects on first use and the caller answers 503 meanwhile).
pub async fn connect_database(
    config: &Config,
    secrets: &SecretsCache,
) -> Result<Database, DatabaseSetupError> {
    let credentials = match config.database.auth {
        DatabaseAuth::Iam => {
            let sdk = crate::aws::sdk_config().await;
            DbCredentials::Source(Arc::new(RdsAuthTokens::from_sdk_config(&sdk)?))
        }
        DatabaseAuth::Password => match &config.database.password {
            Some(secret) => {
                DbCredentials::Password(secrets.resolve(secret).await?.expose_secret().to_owned())
            }
            None => DbCredentials::FromUrl,
        },
    };
    let database = Database::connect_with(
        config.database.url.expose_secret(),
        credentials,
        config.database.pool_size,
    )?;
    if let Err(error) = database.client().await {
        tracing::warn!(%error, "no database connection during init");
    }
    Ok(database)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn at(unix_seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(unix_seconds)
    }

    /// The token printed in the AWS CLI reference for `aws rds generate-db-auth-token` (the
    /// example's secret key is not published, so everything but the signature is compared).
    #[test]
    fn the_token_has_the_shape_of_the_aws_cli_example() {
        let credentials = Credentials::from_keys("AKIAIESZCNJ3O4KG2KUA", "unpublished", None);
        let token = auth_token(
            &credentials,
            "us-east-1",
            "aurmysql-test.cdgmuqiadpid.us-west-2.rds.amazonaws.com",
            3306,
            "jane_doe",
            at(1_533_081_129), // 2018-07-31T23:52:09Z
        )
        .unwrap();
        let (unsigned, signature) = token.split_once("&X-Amz-Signature=").unwrap();
        assert_eq!(
            unsigned,
            "aurmysql-test.cdgmuqiadpid.us-west-2.rds.amazonaws.com:3306/?Action=connect\
             &DBUser=jane_doe&X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIESZCNJ3O4KG2KUA%2F20180731%2Fus-east-1%2Frds-db%2Faws4_request\
             &X-Amz-Date=20180731T235209Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host"
        );
        assert_eq!(signature.len(), 64);
        assert!(signature.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    /// The fixed vector of the AWS SDK for Rust's own RDS token generator (aws-sdk-rds
    /// `auth_token` tests): same credentials, time and endpoint give the same signature.
    #[test]
    fn the_signature_matches_the_aws_sdk_vector() {
        let credentials = Credentials::from_keys("akid", "secret", None);
        let token = auth_token(
            &credentials,
            "us-east-1",
            "prod-instance.us-east-1.rds.amazonaws.com",
            3306,
            "peccy",
            at(1_724_709_600),
        )
        .unwrap();
        assert_eq!(
            token,
            "prod-instance.us-east-1.rds.amazonaws.com:3306/?Action=connect&DBUser=peccy\
             &X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=akid%2F20240826%2Fus-east-1%2Frds-db%2Faws4_request\
             &X-Amz-Date=20240826T220000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=dd0cba843009474347af724090233265628ace491ea17ce3eb3da098b983ad89"
        );
    }

    #[test]
    fn temporary_credentials_carry_their_session_token() {
        let credentials = Credentials::from_keys("akid", "secret", Some("session/token+1".into()));
        let token = auth_token(
            &credentials,
            "eu-west-1",
            "proxy.proxy-abc.eu-west-1.rds.amazonaws.com",
            5432,
            "warp_app",
            at(1_724_709_600),
        )
        .unwrap();
        assert!(
            token.contains("&X-Amz-Security-Token=session%2Ftoken%2B1"),
            "{token}"
        );
        assert!(token.contains("%2Feu-west-1%2Frds-db%2F"), "{token}");
        assert!(token.starts_with("proxy.proxy-abc.eu-west-1.rds.amazonaws.com:5432/?"));
    }

    /// The whole path a function takes, against the local server over verified TLS (Debian's
    /// PostgreSQL serves the snakeoil certificate for "localhost").
    #[tokio::test]
    async fn connect_database_opens_a_verified_tls_connection_during_init() {
        let vars = std::collections::HashMap::from([
            (
                "DATABASE_URL",
                "postgres://postgres@localhost:5432/postgres?sslmode=verify-full\
                 &sslrootcert=/etc/ssl/certs/ssl-cert-snakeoil.pem",
            ),
            ("DATABASE_PASSWORD", "unused-with-trust-auth"),
        ]);
        let config = Config::from_lookup(|name| vars.get(name).map(|v| v.to_string())).unwrap();
        let database = connect_database(&config, &SecretsCache::values_only())
            .await
            .unwrap();
        assert_eq!(database.pool().status().size, 1, "connected during init");
        let client = database.client().await.unwrap();
        let row = client
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .unwrap();
        assert!(row.get::<_, bool>(0));
    }

    #[tokio::test]
    async fn a_token_is_made_for_each_call_from_the_current_credentials() {
        let tokens = RdsAuthTokens::new(
            SharedCredentialsProvider::new(Credentials::from_keys("akid", "secret", None)),
            "us-east-1",
        );
        let token = tokens.password("h", 5432, "u").await.unwrap();
        assert!(
            token.starts_with("h:5432/?Action=connect&DBUser=u&"),
            "{token}"
        );
    }
}
