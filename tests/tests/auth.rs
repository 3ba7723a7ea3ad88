//! Who may write, what needs no token, and JWKS keys (ES256, generated here) fetched, cached
//! and refetched on rotation. The 401/403 matrix over every route is in security.rs.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use warp_api::{AuthConfig, KeySource};
use warp_tests::*;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(roles: &[&str]) -> Value {
    json!({"sub": "someone", "iss": "warp-local", "aud": "warp-api", "exp": now() + 300, "iat": now(), "roles": roles})
}

// The token and role matrix over every documented route is in security.rs; these are what
// it does not cover: who may write, and what needs no token.
#[tokio::test]
async fn editors_and_admins_may_write_and_health_needs_no_token() {
    let app = spawn_app().await;
    for token in [editor(), admin()] {
        let response = app
            .client
            .post(app.url("/v1/customers"))
            .bearer_auth(token)
            .json(&acme())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    let viewer_write = app
        .client
        .post(app.url("/v1/customers"))
        .bearer_auth(viewer())
        .json(&acme())
        .send()
        .await
        .unwrap();
    expect_problem(viewer_write, 403).await;
    assert_eq!(app.scalar("SELECT count(*) FROM customers").await, 2);
    for path in ["/health", "/v1/openapi.json"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
}

/// A JWKS endpoint on a local port serving `keys`, counting fetches.
async fn jwks_server(keys: Arc<std::sync::Mutex<Vec<Jwk>>>, fetches: Arc<AtomicUsize>) -> String {
    let router = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let keys = keys.clone();
            let fetches = fetches.clone();
            async move {
                fetches.fetch_add(1, Ordering::SeqCst);
                let set = JwkSet {
                    keys: keys.lock().unwrap().clone(),
                };
                axum::Json(set)
            }
        }),
    );
    format!("{}/jwks.json", serve(router).await)
}

/// A fresh P-256 key: its signing key and its public JWK with `kid`.
fn es256_key(kid: &str) -> (EncodingKey, Jwk) {
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .unwrap();
    let encoding = EncodingKey::from_ec_der(pkcs8.as_ref());
    let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    (encoding, jwk)
}

fn es256(claims: &Value, key: &EncodingKey, kid: &str) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

#[tokio::test]
async fn jwks_keys_are_fetched_cached_and_rotated() {
    let (key_one, jwk_one) = es256_key("one");
    let keys = Arc::new(std::sync::Mutex::new(vec![jwk_one]));
    let fetches = Arc::new(AtomicUsize::new(0));
    let url = jwks_server(keys.clone(), fetches.clone()).await;
    let auth = AuthConfig {
        roles_claim: AuthConfig::DEFAULT_ROLES_CLAIM.to_owned(),
        issuer: "warp-local".into(),
        audience: "warp-api".into(),
        keys: KeySource::Jwks {
            url,
            ttl: Duration::from_secs(1),
        },
        max_lifetime: AuthConfig::DEFAULT_MAX_LIFETIME,
    };
    let app = spawn_app_with_auth(auth).await;
    let list = |token: String| {
        app.client
            .get(app.url("/v1/customers"))
            .bearer_auth(token)
            .send()
    };

    let token = es256(&claims(&["viewer"]), &key_one, "one");
    for _ in 0..3 {
        assert_eq!(list(token.clone()).await.unwrap().status(), 200);
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "keys are cached");

    // HS256 tokens, unknown kids, wrong keys and expired tokens are refused.
    expect_problem(list(viewer()).await.unwrap(), 401).await;
    let (key_two, jwk_two) = es256_key("two");
    expect_problem(
        list(es256(&claims(&["viewer"]), &key_two, "two"))
            .await
            .unwrap(),
        401,
    )
    .await;
    expect_problem(
        list(es256(&claims(&["viewer"]), &key_two, "one"))
            .await
            .unwrap(),
        401,
    )
    .await;
    let mut expired = claims(&["viewer"]);
    expired["exp"] = json!(now() - 3600);
    expect_problem(list(es256(&expired, &key_one, "one")).await.unwrap(), 401).await;
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "refetches are rate-limited"
    );

    // Rotation: the new key is published; after the refetch interval its tokens work.
    keys.lock().unwrap().push(jwk_two);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        list(es256(&claims(&["viewer"]), &key_two, "two"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    // Roles apply to JWKS tokens as well.
    let response = app
        .client
        .post(app.url("/v1/customers"))
        .bearer_auth(es256(&claims(&["viewer"]), &key_one, "one"))
        .json(&acme())
        .send()
        .await
        .unwrap();
    expect_problem(response, 403).await;
}

#[tokio::test]
async fn an_unreachable_jwks_is_503_not_401() {
    let auth = AuthConfig {
        roles_claim: AuthConfig::DEFAULT_ROLES_CLAIM.to_owned(),
        issuer: "warp-local".into(),
        audience: "warp-api".into(),
        keys: KeySource::Jwks {
            url: "http://127.0.0.1:1/jwks.json".into(),
            ttl: Duration::from_secs(60),
        },
        max_lifetime: AuthConfig::DEFAULT_MAX_LIFETIME,
    };
    let app = spawn_app_with_auth(auth).await;
    let (key, _) = es256_key("one");
    let response = app
        .client
        .get(app.url("/v1/customers"))
        .bearer_auth(es256(&claims(&["viewer"]), &key, "one"))
        .send()
        .await
        .unwrap();
    expect_problem(response, 503).await;
    // A token without a key id is refused outright.
    expect_problem(
        app.client
            .get(app.url("/v1/customers"))
            .bearer_auth(viewer())
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
}

#[tokio::test]
async fn cognito_id_tokens_carry_roles_as_groups_and_the_console_client_as_audience() {
    let (key, jwk) = es256_key("pool");
    let url = jwks_server(
        Arc::new(std::sync::Mutex::new(vec![jwk])),
        Arc::new(AtomicUsize::new(0)),
    )
    .await;
    let auth = AuthConfig {
        roles_claim: "cognito:groups".into(),
        issuer: "warp-local".into(),
        audience: "warp-api, console-client".into(),
        keys: KeySource::Jwks {
            url,
            ttl: Duration::from_secs(60),
        },
        max_lifetime: AuthConfig::DEFAULT_MAX_LIFETIME,
    };
    let app = spawn_app_with_auth(auth).await;
    let id_token = |groups: &[&str], audience: &str| {
        let mut claims = claims(&[]);
        claims.as_object_mut().unwrap().remove("roles");
        claims["cognito:groups"] = json!(groups);
        claims["aud"] = json!(audience);
        es256(&claims, &key, "pool")
    };
    let create = |token: String| {
        app.client
            .post(app.url("/v1/customers"))
            .bearer_auth(token)
            .json(&acme())
            .send()
    };
    // Either audience is taken; the groups are the roles.
    for audience in ["console-client", "warp-api"] {
        let created = create(id_token(&["editor"], audience)).await.unwrap();
        assert_eq!(created.status(), 201, "{audience}");
    }
    expect_problem(
        create(id_token(&["viewer"], "console-client"))
            .await
            .unwrap(),
        403,
    )
    .await;
    // Another client's token, and a `roles` claim where groups are expected, give nothing.
    expect_problem(
        create(id_token(&["admin"], "another-client"))
            .await
            .unwrap(),
        401,
    )
    .await;
    expect_problem(
        create(es256(&claims(&["admin"]), &key, "pool"))
            .await
            .unwrap(),
        403,
    )
    .await;
}
