//! The console's server side, without a browser: its files carry the strict CSP, the page
//! learns whether the dev sign-in exists, and the dev sign-in mints working tokens only where
//! `warp dev` enabled it. The console itself is driven in Chromium by `make console`.

use secrecy::SecretString;
use serde_json::{Value, json};
use warp_api::{ApiState, AuthConfig, DevSignIn};
use warp_tests::*;

async fn app(dev_sign_in: bool) -> TestApp {
    let database = warp_testkit::fresh_database().await;
    let mut state = ApiState::new(
        database.clone(),
        AuthConfig::hs256(SecretString::from(TEST_SECRET)),
        PORTAL_ID,
    );
    if dev_sign_in {
        state = state.with_dev_sign_in(DevSignIn::new(
            SecretString::from(TEST_SECRET),
            AuthConfig::DEFAULT_ISSUER,
            AuthConfig::DEFAULT_AUDIENCE,
        ));
    }
    TestApp {
        address: warp_testkit::serve(warp_api::router(state)).await,
        client: reqwest::Client::new(),
        database,
    }
}

/// What `/console/config.json` tells the page.
async fn console_config(app: &TestApp) -> Value {
    let response = app
        .client
        .get(app.url("/console/config.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn every_console_file_is_served_under_the_strict_policy() {
    let app = app(false).await;
    for (path, kind) in [
        ("/console", "text/html"),
        ("/console/app.js", "text/javascript"),
        ("/console/api.js", "text/javascript"),
        ("/console/dom.js", "text/javascript"),
        ("/console/views.js", "text/javascript"),
        ("/console/console.css", "text/css"),
        ("/console/favicon.svg", "image/svg+xml"),
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        assert!(
            headers["content-type"].to_str().unwrap().starts_with(kind),
            "{path}"
        );
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(
            policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
    }
    // The page loads only files that exist.
    let page = app
        .client
        .get(app.url("/console"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for linked in page
        .split(['"', '\''])
        .filter(|part| part.starts_with("/console/"))
    {
        let status = app
            .client
            .get(app.url(linked))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "{linked}");
    }
}

#[tokio::test]
async fn the_dev_sign_in_exists_only_where_it_was_enabled() {
    let deployed = app(false).await;
    let config = console_config(&deployed).await;
    assert_eq!(config["dev_sign_in"], false);
    let refused = deployed
        .client
        .post(deployed.url("/console/dev-sign-in"))
        .json(&json!({"role": "admin"}))
        .send()
        .await
        .unwrap();
    expect_problem(refused, 404).await;

    let local = app(true).await;
    let config = console_config(&local).await;
    assert_eq!(config["dev_sign_in"], true);
    let sign_in = |body: Value| {
        let request = local
            .client
            .post(local.url("/console/dev-sign-in"))
            .json(&body);
        async move { request.send().await.unwrap() }
    };
    // A page elsewhere (a rebound name) and a body not declared JSON are refused.
    let rebound = local
        .client
        .post(local.url("/console/dev-sign-in"))
        .header("Host", "evil.example:3000")
        .json(&json!({"role": "admin"}))
        .send()
        .await
        .unwrap();
    expect_problem(rebound, 403).await;
    let form = local
        .client
        .post(local.url("/console/dev-sign-in"))
        .header("Content-Type", "text/plain")
        .body(r#"{"role":"admin"}"#)
        .send()
        .await
        .unwrap();
    expect_problem(form, 415).await;
    let bad = sign_in(json!({"role": "root", "customer_id": "nope"})).await;
    let fields = problem_fields(&expect_problem(bad, 422).await);
    assert_eq!(fields, ["customer_id", "role"]);

    // The token minted works with that role and no more.
    let minted: Value = sign_in(json!({"role": "viewer"}))
        .await
        .json()
        .await
        .unwrap();
    let token = minted["access_token"].as_str().unwrap();
    let read = local
        .client
        .get(local.url("/v1/sync/status"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let operate = local
        .client
        .post(local.url("/v1/sync/failed/retry"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    expect_problem(operate, 403).await;
}

#[tokio::test]
async fn an_identity_provider_sign_in_is_offered_and_only_its_token_endpoint_is_let_in() {
    let database = warp_testkit::fresh_database().await;
    let state = ApiState::new(
        database.clone(),
        AuthConfig::hs256(SecretString::from(TEST_SECRET)),
        PORTAL_ID,
    )
    .with_console_oidc(warp_api::ConsoleOidc {
        authorize_url: "https://warp.auth.eu-west-1.amazoncognito.com/oauth2/authorize".into(),
        token_url: "https://warp.auth.eu-west-1.amazoncognito.com/oauth2/token".into(),
        client_id: "console-client".into(),
        redirect_uri: "https://api.warp.example/console".into(),
        scopes: "openid email profile".into(),
        token: "id_token".into(),
        provider: "Cognito".into(),
    });
    let app = TestApp {
        address: warp_testkit::serve(warp_api::router(state)).await,
        client: reqwest::Client::new(),
        database,
    };
    let config = console_config(&app).await;
    assert_eq!(config["dev_sign_in"], false);
    assert_eq!(config["oidc"]["client_id"], "console-client");
    assert_eq!(config["oidc"]["token"], "id_token");
    let page = app.client.get(app.url("/console")).send().await.unwrap();
    let policy = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        policy.contains("connect-src 'self' https://warp.auth.eu-west-1.amazoncognito.com;"),
        "{policy}"
    );
    // The scripts keep the strict policy: only the page may call the provider.
    let script = app
        .client
        .get(app.url("/console/app.js"))
        .send()
        .await
        .unwrap();
    let policy = script.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(policy.contains("connect-src 'self';"), "{policy}");
}
