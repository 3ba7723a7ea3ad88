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

#[tokio::test]
async fn secrets_read_together_are_cached_and_one_that_cannot_be_read_is_reported_on_its_own() {
    let moto = MotoServer::start().await;
    let sdk = aws::sdk_config_for_endpoint(moto.url(), "us-east-1").await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    let token = client
        .create_secret()
        .name("warp/token")
        .secret_string("pat-first")
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    client
        .create_secret()
        .name("warp/db")
        .secret_string(r#"{"password":"db-first"}"#)
        .send()
        .await
        .unwrap();
    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone";
    let (by_arn, by_name, gone) = (
        SecretRef::Arn(token.clone()),
        SecretRef::Arn("warp/db".into()),
        SecretRef::Arn(missing.into()),
    );

    let cache = SecretsCache::new(client.clone(), Duration::from_secs(600));
    cache.prefetch(&[&by_arn, &by_name, &gone]).await;
    // Changed in AWS after the one call: the cache answers what that call read, under the id
    // the configuration used (an ARN or a name).
    for (id, value) in [
        (token.as_str(), "pat-second"),
        ("warp/db", r#"{"password":"db-second"}"#),
    ] {
        client
            .put_secret_value()
            .secret_id(id)
            .secret_string(value)
            .send()
            .await
            .unwrap();
    }
    assert_eq!(
        cache.resolve(&by_arn).await.unwrap().expose_secret(),
        "pat-first"
    );
    assert_eq!(
        cache.resolve(&by_name).await.unwrap().expose_secret(),
        "db-first"
    );
    // The missing one was left out of the batch's answer: resolving it reads it and says why.
    let err = cache.resolve(&gone).await.unwrap_err();
    assert!(err.to_string().contains("gone"), "{err}");
}
