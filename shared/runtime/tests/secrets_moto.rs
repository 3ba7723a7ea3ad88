//! The Secrets Manager cache through the real AWS SDK against moto's server.

use secrecy::ExposeSecret;
use std::time::Duration;
use warp_runtime::testing::MotoServer;
use warp_runtime::{SecretRef, SecretsCache, aws};

#[tokio::test]
async fn secrets_are_read_by_arn_cached_and_refreshed_after_the_ttl() {
    let moto = MotoServer::start().await;
    let sdk = aws::sdk_config_for_endpoint(moto.url(), "us-east-1").await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    let created = client
        .create_secret()
        .name("warp/hubspot-token")
        .secret_string("pat-first")
        .send()
        .await
        .expect("create secret in moto");
    let arn = created.arn().unwrap().to_owned();
    let rds = client
        .create_secret()
        .name("warp/db")
        .secret_string(r#"{"username":"warp","password":"db-pass"}"#)
        .send()
        .await
        .unwrap();

    let cache = SecretsCache::new(client.clone(), Duration::from_millis(400));
    let first = cache.resolve(&SecretRef::Arn(arn.clone())).await.unwrap();
    assert_eq!(first.expose_secret(), "pat-first");

    // Rotated in AWS: the cache keeps serving the old value within the TTL...
    client
        .put_secret_value()
        .secret_id(&arn)
        .secret_string("pat-second")
        .send()
        .await
        .unwrap();
    let cached = cache.resolve(&SecretRef::Arn(arn.clone())).await.unwrap();
    assert_eq!(cached.expose_secret(), "pat-first");

    // ...and the new one after it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refreshed = cache.resolve(&SecretRef::Arn(arn.clone())).await.unwrap();
    assert_eq!(refreshed.expose_secret(), "pat-second");

    // JSON secrets (the RDS shape) yield their password.
    let password = cache
        .resolve(&SecretRef::Arn(rds.arn().unwrap().to_owned()))
        .await
        .unwrap();
    assert_eq!(password.expose_secret(), "db-pass");
    let user = cache
        .get_json_key(rds.arn().unwrap(), "username")
        .await
        .unwrap();
    assert_eq!(user.expose_secret(), "warp");

    // A missing secret is a typed error naming the ARN, not a panic.
    let err = cache
        .resolve(&SecretRef::Arn(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope".into(),
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}
