//! The auth matrix: every /v1 route refuses a missing, malformed, badly signed, expired,
//! wrong-issuer or wrong-audience token (401 with a Bearer challenge) and a too-weak role
//! (403); JWKS keys (ES256, generated here) are fetched, cached and refetched on rotation.

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

fn hs256(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// Every /v1 route: method, path, body, and the role it needs.
fn routes(id: &str) -> Vec<(reqwest::Method, String, Option<Value>, &'static str)> {
    use reqwest::Method;
    vec![
        (Method::GET, "/v1/customers".into(), None, "viewer"),
        (Method::POST, "/v1/customers".into(), Some(acme()), "editor"),
        (Method::GET, format!("/v1/customers/{id}"), None, "viewer"),
        (
            Method::GET,
            "/v1/customers/by-ban/ZT-000000001".into(),
            None,
            "viewer",
        ),
        (
            Method::PATCH,
            format!("/v1/customers/{id}"),
            Some(json!({"status": "ACTIVE"})),
            "editor",
        ),
        (
            Method::PUT,
            format!("/v1/customers/{id}"),
            Some(acme()),
            "editor",
        ),
        (
            Method::DELETE,
            format!("/v1/customers/{id}"),
            None,
            "editor",
        ),
    ]
}

async fn call(
    app: &TestApp,
    method: &reqwest::Method,
    path: &str,
    body: &Option<Value>,
    token: Option<&str>,
) -> reqwest::Response {
    let mut request = app.client.request(method.clone(), app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn every_route_refuses_bad_tokens_with_401() {
    let app = spawn_app().await;
    let id = app.create(&acme()).await["id"].as_str().unwrap().to_owned();
    let mut expired = claims(&["admin"]);
    expired["exp"] = json!(now() - 3600);
    let mut wrong_issuer = claims(&["admin"]);
    wrong_issuer["iss"] = json!("someone-else");
    let mut wrong_audience = claims(&["admin"]);
    wrong_audience["aud"] = json!("another-api");
    let mut no_expiry = claims(&["admin"]);
    no_expiry.as_object_mut().unwrap().remove("exp");
    let bad_tokens = [
        ("malformed", "not-a-jwt".to_owned()),
        (
            "bad signature",
            hs256(&claims(&["admin"]), "some-other-secret-0123456789"),
        ),
        ("expired", hs256(&expired, TEST_SECRET)),
        ("wrong issuer", hs256(&wrong_issuer, TEST_SECRET)),
        ("wrong audience", hs256(&wrong_audience, TEST_SECRET)),
        ("no expiry", hs256(&no_expiry, TEST_SECRET)),
    ];
    for (method, path, body, _) in routes(&id) {
        let response = call(&app, &method, &path, &body, None).await;
        assert_eq!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .split(' ')
                .next(),
            Some("Bearer")
        );
        expect_problem(response, 401).await;
        let basic = app
            .client
            .request(method.clone(), app.url(&path))
            .header("authorization", "Basic dXNlcjpwdw==")
            .send()
            .await
            .unwrap();
        expect_problem(basic, 401).await;
        for (what, token) in &bad_tokens {
            let response = call(&app, &method, &path, &body, Some(token)).await;
            assert_eq!(response.status(), 401, "{what} on {method} {path}");
            expect_problem(response, 401).await;
        }
    }
    // Nothing was changed by any refused request.
    let current: Value = app
        .get(&format!("/v1/customers/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(current["version"], 1);
    assert_eq!(app.scalar("SELECT count(*) FROM customers").await, 1);
}

#[tokio::test]
async fn roles_decide_what_a_caller_may_do() {
    let app = spawn_app().await;
    let id = app.create(&acme()).await["id"].as_str().unwrap().to_owned();
    let no_role = hs256(&claims(&[]), TEST_SECRET);
    let unknown_role = hs256(&claims(&["superuser"]), TEST_SECRET);
    for (method, path, body, needed) in routes(&id) {
        for token in [&no_role, &unknown_role] {
            expect_problem(call(&app, &method, &path, &body, Some(token)).await, 403).await;
        }
        let viewer_answer = call(&app, &method, &path, &body, Some(&viewer())).await;
        if needed == "editor" {
            expect_problem(viewer_answer, 403).await;
        } else {
            assert_ne!(viewer_answer.status(), 403, "{method} {path}");
            assert_ne!(viewer_answer.status(), 401, "{method} {path}");
        }
    }
    assert_eq!(app.scalar("SELECT count(*) FROM customers").await, 1);
    // editor and admin (which includes editor) may write.
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
    // Health and the OpenAPI document need no token.
    assert_eq!(
        app.client
            .get(app.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.client
            .get(app.url("/v1/openapi.json"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
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
        issuer: "warp-local".into(),
        audience: "warp-api".into(),
        keys: KeySource::Jwks {
            url,
            ttl: Duration::from_secs(1),
        },
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
        issuer: "warp-local".into(),
        audience: "warp-api".into(),
        keys: KeySource::Jwks {
            url: "http://127.0.0.1:1/jwks.json".into(),
            ttl: Duration::from_secs(60),
        },
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
