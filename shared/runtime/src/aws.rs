//! AWS SDK set-up. The SDK reads `AWS_ENDPOINT_URL` itself, which is how local runs and tests
//! point it at moto's server; in Lambda the defaults apply.

use aws_config::{BehaviorVersion, SdkConfig};

/// The shared SDK configuration, loaded once at start (never per invocation).
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// SDK configuration for an explicit endpoint with static credentials: moto in tests.
pub async fn sdk_config_for_endpoint(endpoint_url: &str, region: &str) -> SdkConfig {
    let credentials = aws_credential_types::Credentials::from_keys("testing", "testing", None);
    aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .endpoint_url(endpoint_url)
        .credentials_provider(credentials)
        .load()
        .await
}
