//! HubSpot installations through the API: OAuth connect against the sandbox's consent page and
//! token endpoint, status, disconnect, and who may do what (a customer-scoped token reaches
//! only its own customer's portal, and no other route).

use hubspot_sandbox::{SandboxConfig, SandboxHandle};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::Value;
use uuid::Uuid;
use warp_api::{ApiState, AuthConfig};
use warp_installations::Connector;
use warp_testkit::hubspot::{self, PORTAL};
use warp_testkit::{Consent, HubSpotUi, oauth};
use warp_tests::{TEST_SECRET, TestApp, acme, admin, scoped_token, serve};

const REDIRECT: &str = "http://127.0.0.1:9/v1/hubspot/oauth/callback";

struct App {
    app: TestApp,
    sandbox: SandboxHandle,
}

async fn spawn() -> App {
    let sandbox = hubspot::sandbox(SandboxConfig::default()).await;
    let database = warp_testkit::fresh_database().await;
    let connector = Connector::new(
        database.clone(),
        oauth::app(&sandbox, REDIRECT, &["oauth", "crm.objects.contacts.write"]),
        oauth::keyring(),
        SecretString::from(oauth::CLIENT_SECRET.to_owned()),
    );
    let state = ApiState::new(
        database.clone(),
        AuthConfig::hs256(SecretString::from(TEST_SECRET)),
        PORTAL,
    )
    .with_connector(connector);
    let address = serve(warp_api::router(state)).await;
    App {
        app: TestApp {
            address,
            client: reqwest::Client::new(),
            database,
        },
        sandbox,
    }
}

impl App {
    async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.app
            .client
            .get(self.app.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// initiate → the sandbox's consent page → approve or deny: the callback's query.
    async fn consent(&self, token: &str, query: &str, decision: Consent) -> String {
        let started = self
            .get(&format!("/v1/hubspot/oauth/initiate{query}"), token)
            .await;
        assert_eq!(started.status(), 200);
        let started: Value = started.json().await.unwrap();
        let authorize = url::Url::parse(started["authorize_url"].as_str().unwrap()).unwrap();
        assert!(authorize.as_str().starts_with(&self.sandbox.base_url()));
        let back = HubSpotUi::new(&self.sandbox)
            .consent(&authorize, decision)
            .await;
        assert_eq!(back.path(), "/v1/hubspot/oauth/callback");
        back.query().unwrap_or_default().to_owned()
    }

    /// HubSpot's redirect reaching the API (a browser navigation: no bearer token).
    async fn callback(&self, query: &str) -> reqwest::Response {
        self.app
            .client
            .get(self.app.url(&format!("/v1/hubspot/oauth/callback?{query}")))
            .send()
            .await
            .unwrap()
    }

    async fn customer(&self) -> String {
        self.app.create(&acme()).await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

#[tokio::test]
async fn an_admin_connects_the_home_portal_and_its_state_works_once() {
    let app = spawn().await;
    let query = app.consent(&admin(), "", Consent::Approve).await;
    let connected = app.callback(&query).await;
    assert_eq!(connected.status(), 200);
    let body = connected.text().await.unwrap();
    assert!(
        !body.contains("access-") && !body.contains("refresh-"),
        "{body}"
    );
    let installation: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(installation["portal_id"], PORTAL);
    assert_eq!(installation["role"], "home");
    assert_eq!(installation["token_source"], "oauth");
    assert_eq!(installation["status"], "active");
    assert_eq!(installation["reconnect_needed"], false);
    assert_eq!(installation["connected_by"], "test-user");
    assert_eq!(
        installation["scopes"],
        serde_json::json!(["oauth", "crm.objects.contacts.write"])
    );

    // The same state again: used.
    let again = app.callback(&query).await;
    assert_eq!(again.status(), 400);
    let problem: Value = again.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "state");

    let listed: Value = app
        .get("/v1/hubspot/installations", &admin())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let one = app
        .get(&format!("/v1/hubspot/installations/{PORTAL}"), &admin())
        .await;
    assert_eq!(one.status(), 200);
    // A viewer or editor does not manage installations.
    for role in ["viewer", "editor"] {
        let token = warp_tests::token(&[role]);
        assert_eq!(
            app.get("/v1/hubspot/installations", &token).await.status(),
            403
        );
        assert_eq!(
            app.get("/v1/hubspot/oauth/initiate", &token).await.status(),
            403
        );
    }
}

#[tokio::test]
async fn a_forged_declined_or_missing_state_connects_nothing() {
    let app = spawn().await;
    let declined = app.consent(&admin(), "", Consent::Deny).await;
    assert!(declined.contains("error=access_denied"));
    let answer = app.callback(&declined).await;
    assert_eq!(answer.status(), 400);
    let problem: Value = answer.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("declined"));
    // Declining used the state up.
    let state = declined
        .split('&')
        .find(|pair| pair.starts_with("state="))
        .unwrap();
    assert_eq!(app.callback(&format!("code=x&{state}")).await.status(), 400);

    let forged = format!("code=x&state={}.AAAA", Uuid::new_v4());
    assert_eq!(app.callback(&forged).await.status(), 400);
    let missing = app.callback("code=x").await;
    assert_eq!(missing.status(), 422);
    let none: Value = app
        .get("/v1/hubspot/installations", &admin())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["items"], serde_json::json!([]));
}

#[tokio::test]
async fn a_customer_scoped_token_reaches_only_its_own_customers_portal() {
    let app = spawn().await;
    let mine = app.customer().await;
    let other = app.customer().await;
    let token = scoped_token(&mine, &["viewer"]);
    let stranger = scoped_token(&other, &["admin"]);

    // Connecting another customer's HubSpot, or the home portal, is refused.
    let refused = app
        .get(
            &format!("/v1/hubspot/oauth/initiate?customer_id={other}"),
            &token,
        )
        .await;
    assert_eq!(refused.status(), 403);

    let query = app.consent(&token, "", Consent::Approve).await;
    let connected: Value = app.callback(&query).await.json().await.unwrap();
    assert_eq!(connected["role"], "customer");
    assert_eq!(connected["customer_id"], mine.as_str());

    let path = format!("/v1/hubspot/installations/{PORTAL}");
    let own: Value = app
        .get("/v1/hubspot/installations", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(own["items"].as_array().unwrap().len(), 1);
    assert_eq!(app.get(&path, &token).await.status(), 200);
    // Another customer's token learns nothing of it, whatever its role.
    let theirs: Value = app
        .get("/v1/hubspot/installations", &stranger)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["items"], serde_json::json!([]));
    assert_eq!(app.get(&path, &stranger).await.status(), 404);
    let delete = |token: String| {
        let url = app.app.url(&path);
        let client = app.app.client.clone();
        async move { client.delete(url).bearer_auth(token).send().await.unwrap() }
    };
    assert_eq!(delete(stranger.clone()).await.status(), 404);

    // The portal's request budget is WARP's to set: admins only, HubSpot's values only.
    let patch = |token: String, body: &'static str| {
        let url = app.app.url(&path);
        let client = app.app.client.clone();
        async move {
            client
                .patch(url)
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        patch(token.clone(), r#"{"rate_limit_max": 190}"#)
            .await
            .status(),
        403
    );
    let changed = patch(admin(), r#"{"rate_limit_max": 190}"#).await;
    assert_eq!(changed.status(), 200);
    assert_eq!(
        changed.json::<Value>().await.unwrap()["rate_limit_max"],
        190
    );
    for (body, field) in [
        (r#"{"rate_limit_max": 120}"#, "rate_limit_max"),
        (r#"{"rate_limit_max": "190"}"#, "rate_limit_max"),
        (r#"{"budget": 190}"#, "budget"),
    ] {
        let refused = patch(admin(), body).await;
        assert_eq!(refused.status(), 422, "{body}");
        let problem: Value = refused.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], field, "{body}: {problem}");
    }
    // A merge naming nothing changes nothing.
    let unchanged = patch(admin(), r#"{}"#).await;
    assert_eq!(unchanged.status(), 200);
    assert_eq!(
        unchanged.json::<Value>().await.unwrap()["rate_limit_max"],
        190
    );
    let reset = patch(admin(), r#"{"rate_limit_max": null}"#).await;
    assert_eq!(
        reset.json::<Value>().await.unwrap()["rate_limit_max"],
        Value::Null
    );

    // Its own token disconnects it: revoked in WARP and at HubSpot, the row kept.
    let disconnected = delete(token.clone()).await;
    assert_eq!(disconnected.status(), 200);
    let disconnected: Value = disconnected.json().await.unwrap();
    assert_eq!(disconnected["status"], "revoked");
    assert_eq!(disconnected["token_revoked"], true);
    let counters: Value = reqwest::get(format!("{}/_sandbox/oauth", app.sandbox.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counters["counters"]["revocations"], 1);
    let after: Value = app.get(&path, &admin()).await.json().await.unwrap();
    assert_eq!(after["status"], "revoked");
    assert_eq!(after["reconnect_needed"], true);
}

#[tokio::test]
async fn every_other_route_refuses_a_customer_scoped_token() {
    let app = spawn().await;
    let customer = app.customer().await;
    let token = scoped_token(&customer, &["admin"]);
    let document: Value = app
        .get("/v1/openapi.json", &admin())
        .await
        .json()
        .await
        .unwrap();
    let own_routes = [
        "/v1/hubspot/oauth/initiate",
        "/v1/hubspot/oauth/callback",
        "/v1/hubspot/installations",
        "/v1/hubspot/installations/{portal_id}",
        "/v1/openapi.json",
        "/health",
        // Its own portal's rows only: a_customer_scoped_token_reads_only_its_own_portals_log.
        "/v1/sync/logs",
        // Its own calls only: the_sync_log_filters_pages_by_offset_or_cursor_and_a_customer_reads_only_its_own.
        "/v1/hubspot/sync-logs",
        // Its own tickets only (raising one needs ingest or editor, never a scoped token):
        // viewers_read_but_cannot_raise_and_a_customer_reads_its_own_tickets_only.
        "/v1/support/tickets",
        "/v1/support/tickets/{ticket_id}",
        // Its own trunks, numbers and usage to read (writing needs editor):
        // lists_page_and_filter_and_a_customer_reads_only_its_own,
        // the_platform_or_an_editor_sends_and_readers_read.
        "/v1/customers/{id}/trunks",
        "/v1/customers/{id}/trunks/{trunk_id}",
        "/v1/customers/{id}/numbers",
        "/v1/customers/{id}/numbers/{number_id}",
        "/v1/customers/{id}/usage",
    ];
    let mut checked = 0;
    for (path, operations) in document["paths"].as_object().unwrap() {
        if own_routes.contains(&path.as_str()) {
            continue;
        }
        // Path parameters filled with this customer's id (or a plausible value): the refusal
        // must not depend on what is named.
        let concrete = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    customer.as_str()
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in operations.as_object().unwrap().keys() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let answer = app
                .app
                .client
                .request(method.clone(), app.app.url(&concrete))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .header("if-match", "\"1\"")
                .body("{}")
                .send()
                .await
                .unwrap();
            assert_eq!(
                answer.status(),
                StatusCode::FORBIDDEN,
                "{method} {concrete} answered a customer-scoped token"
            );
            checked += 1;
        }
    }
    assert!(checked >= 25, "only {checked} routes checked");
}

#[tokio::test]
async fn initiate_can_redirect_and_a_deployment_without_an_app_answers_503() {
    let app = spawn().await;
    let redirected = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.app.url("/v1/hubspot/oauth/initiate?redirect=true"))
        .bearer_auth(admin())
        .send()
        .await
        .unwrap();
    assert_eq!(redirected.status(), 302);
    let location = redirected.headers()["location"].to_str().unwrap();
    assert!(
        location.contains("code_challenge_method=S256"),
        "{location}"
    );
    let bad = app
        .get("/v1/hubspot/oauth/initiate?redirect=maybe", &admin())
        .await;
    assert_eq!(bad.status(), 422);
    let unknown_customer = app
        .get(
            &format!("/v1/hubspot/oauth/initiate?customer_id={}", Uuid::new_v4()),
            &admin(),
        )
        .await;
    assert_eq!(unknown_customer.status(), 404);

    // The static home installation (recorded on a deployment's first HubSpot call) belongs to
    // the deployment's configuration: it is not disconnected through the API.
    let client = app.app.database.client().await.unwrap();
    warp_store::installations::ensure_home_static(&**client, PORTAL)
        .await
        .unwrap();
    let refused = app
        .app
        .client
        .delete(app.app.url(&format!("/v1/hubspot/installations/{PORTAL}")))
        .bearer_auth(admin())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 409);
    let home: Value = app
        .get(&format!("/v1/hubspot/installations/{PORTAL}"), &admin())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(home["status"], "active");
    assert_eq!(home["token_source"], "static");

    let bare = warp_tests::spawn_app().await;
    let answer = bare
        .client
        .get(bare.url("/v1/hubspot/oauth/initiate"))
        .bearer_auth(admin())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 503);
}

#[tokio::test]
async fn a_customer_scoped_token_reads_only_its_own_portals_log() {
    let app = spawn().await;
    let mine = app.customer().await;
    let other = app.customer().await;
    let token = scoped_token(&mine, &["viewer"]);
    let query = app.consent(&token, "", Consent::ApproveIn(7_401)).await;
    assert_eq!(app.callback(&query).await.status(), 200);
    let client = app.app.database.client().await.unwrap();
    client
        .batch_execute(&format!(
            "INSERT INTO hubspot_sync_log (portal_id, direction, operation, status, object_type) VALUES \
             ({PORTAL}, 'OUTBOUND', 'UPDATE', 'SUCCESS', 'companies'), \
             (7401, 'OUTBOUND', 'UPDATE', 'FAILED', 'companies'), \
             (7402, 'OUTBOUND', 'UPDATE', 'SUCCESS', 'companies')"
        ))
        .await
        .unwrap();
    let portals_of = |body: Value| -> Vec<i64> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["portal_id"].as_i64().unwrap())
            .collect()
    };
    // Whatever it asks for, it gets its own portal's rows.
    for path in [
        "/v1/sync/logs",
        "/v1/sync/logs?portal_id=7402",
        &format!("/v1/sync/logs?portal_id={PORTAL}"),
    ] {
        let answer = app.get(path, &token).await;
        assert_eq!(answer.status(), 200, "{path}");
        assert_eq!(portals_of(answer.json().await.unwrap()), [7401], "{path}");
    }
    // A customer without a portal sees none; an admin sees any portal's on request.
    let without = app
        .get("/v1/sync/logs", &scoped_token(&other, &["admin"]))
        .await;
    assert_eq!(portals_of(without.json().await.unwrap()), Vec::<i64>::new());
    let admin_view = app.get("/v1/sync/logs?portal_id=7402", &admin()).await;
    assert_eq!(portals_of(admin_view.json().await.unwrap()), [7402]);
    assert_eq!(
        portals_of(
            app.get("/v1/sync/logs", &admin())
                .await
                .json()
                .await
                .unwrap()
        )
        .len(),
        3
    );
    let bad = app.get("/v1/sync/logs?portal_id=0", &admin()).await;
    assert_eq!(bad.status(), 422);
}
