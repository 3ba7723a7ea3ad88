//! Probes an attacker or a careless client tried against the running API (issue 17), each
//! kept closed through the real router, Postgres and the HubSpot sandbox: links written
//! around the admin route, repeated JSON keys, writes without If-Match, and one caller's
//! search flood. Token probes and non-canonical ids are in the security matrix
//! (`security.rs`), so they cover every route.

mod sync_api_support;

use futures::future::join_all;
use serde_json::{Value, json};
use sync_api_support::*;
use warp_tests::*;

/// Sends `body` as written (the JSON may repeat a key) with `method` to `path`.
async fn raw(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: &str,
) -> reqwest::Response {
    app.client
        .request(method, app.url(path))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("if-match", "*")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

async fn customer_count(app: &TestApp) -> i64 {
    app.scalar("SELECT count(*) FROM customers").await
}

#[tokio::test]
async fn a_repeated_json_key_is_refused_on_every_body_naming_the_key() {
    let s = spawn_sync_app().await;
    let app = &s.app;
    let created = app.create(&acme()).await;
    let id = created["id"].as_str().unwrap();
    open_conflict(app, "00000000-0000-7000-8000-00000000d0b1", id, "a", "b").await;
    let post = reqwest::Method::POST;
    let cases = [
        (
            post.clone(),
            "/v1/customers".to_owned(),
            editor(),
            r#"{"company_name":"Acme","customer_type":"BOGUS","customer_type":"PREPAID"}"#,
            "customer_type",
        ),
        (
            reqwest::Method::PATCH,
            format!("/v1/customers/{id}"),
            editor(),
            r#"{"contact":{"email":"a@acme.example","email":"b@acme.example"}}"#,
            "contact.email",
        ),
        (
            reqwest::Method::PUT,
            format!("/v1/customers/{id}"),
            editor(),
            r#"{"company_name":"Acme","company_name":"Other","customer_type":"PREPAID"}"#,
            "company_name",
        ),
        (
            post.clone(),
            "/v1/sync/conflicts/00000000-0000-7000-8000-00000000d0b1/resolve".to_owned(),
            admin(),
            r#"{"winner":"warp","winner":"hubspot"}"#,
            "winner",
        ),
        (
            post.clone(),
            format!("/v1/customers/{id}/hubspot-link"),
            admin(),
            r#"{"hubspot_company_id":"1","hubspot_company_id":"2"}"#,
            "hubspot_company_id",
        ),
        (
            post,
            "/v1/sync/reconciliations".to_owned(),
            admin(),
            r#"{"dry_run":true,"dry_run":false}"#,
            "dry_run",
        ),
    ];
    for (method, path, token, body, key) in cases {
        let response = raw(app, method.clone(), &path, &token, body).await;
        let problem = expect_problem(response, 400).await;
        assert_eq!(problem_fields(&problem), [key], "{method} {path}");
        assert!(
            problem["detail"].as_str().unwrap().contains(key),
            "{problem}"
        );
    }
    // Nothing was written by any of them.
    assert_eq!(customer_count(app).await, 1);
    let current = app.customer(id).await;
    assert_eq!(current["version"], 1);
    assert_eq!(
        app.scalar("SELECT count(*) FROM sync_conflicts WHERE resolved_at IS NULL")
            .await,
        1
    );
    assert_eq!(
        app.scalar("SELECT count(*) FROM hubspot_reconciliation_runs")
            .await,
        0
    );
}

#[tokio::test]
async fn the_hubspot_link_changes_only_through_the_admin_link_route() {
    let app = spawn_app().await;
    // An editor's create that names a company: refused, nothing stored.
    let refused = app
        .post_customer(&json!({"company_name": "Acme", "customer_type": "PREPAID",
                               "external_ids": {"hubspot_company_id": "777"}}))
        .await;
    let problem = expect_problem(refused, 422).await;
    assert_eq!(
        problem_fields(&problem),
        ["external_ids.hubspot_company_id"]
    );
    assert!(!problem.to_string().contains("customers_"), "{problem}");
    assert_eq!(customer_count(&app).await, 0);
    // null is what a new customer has: accepted.
    let created = app
        .create(&json!({"company_name": "Acme", "customer_type": "PREPAID",
                        "external_ids": {"hubspot_company_id": null}}))
        .await;
    let id = created["id"].as_str().unwrap();
    // Linked as the admin route does.
    app.execute(&format!(
        "UPDATE customers SET external_ids = '{{\"hubspot_company_id\":\"123\"}}' WHERE id = '{id}'"
    ))
    .await;

    let put = |external_ids: Value| {
        let mut body = json!({"company_name": "Acme Two", "customer_type": "PREPAID"});
        body["external_ids"] = external_ids;
        app.client
            .put(app.url(&format!("/v1/customers/{id}")))
            .bearer_auth(editor())
            .header("if-match", "*")
            .json(&body)
            .send()
    };
    for attempt in [
        put(json!({"hubspot_company_id": "456"})).await.unwrap(),
        put(json!({"hubspot_company_id": null})).await.unwrap(),
        put(Value::Null).await.unwrap(),
        app.patch(
            id,
            &json!({"external_ids": {"hubspot_company_id": "456"}}),
            Some("*"),
        )
        .await,
        app.patch(id, &json!({"external_ids": null}), Some("*"))
            .await,
    ] {
        let problem = expect_problem(attempt, 422).await;
        assert_eq!(
            problem_fields(&problem),
            ["external_ids.hubspot_company_id"]
        );
    }
    let current = app.customer(id).await;
    assert_eq!(current["external_ids"]["hubspot_company_id"], "123");
    assert_eq!(current["version"], 1);
    // Sending back what was read (GET, edit, PUT) is fine.
    let echoed = put(json!({"hubspot_company_id": "123"})).await.unwrap();
    assert_eq!(echoed.status(), 200);
    let echoed: Value = echoed.json().await.unwrap();
    assert_eq!(echoed["company_name"], "Acme Two");
    assert_eq!(echoed["external_ids"]["hubspot_company_id"], "123");
}

#[tokio::test]
async fn writes_without_if_match_are_428_and_change_nothing() {
    let app = spawn_app().await;
    let created = app.create(&acme()).await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/v1/customers/{id}");
    let patch = app
        .client
        .patch(app.url(&path))
        .bearer_auth(editor())
        .json(&json!({"status": "SUSPENDED"}))
        .send()
        .await
        .unwrap();
    let put = app
        .client
        .put(app.url(&path))
        .bearer_auth(editor())
        .json(&acme())
        .send()
        .await
        .unwrap();
    let delete = app
        .client
        .delete(app.url(&path))
        .bearer_auth(editor())
        .send()
        .await
        .unwrap();
    for response in [patch, put, delete] {
        let problem = expect_problem(response, 428).await;
        assert_eq!(problem_fields(&problem), ["If-Match"]);
    }
    let current = app.customer(id).await;
    assert_eq!(current["version"], 1);
    assert_eq!(current["status"], "ACTIVE");
    // `*` says "whatever the version" on purpose.
    assert_eq!(
        app.patch(id, &json!({"status": "SUSPENDED"}), Some("*"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn one_callers_search_flood_is_turned_away_without_holding_up_others() {
    let s = spawn_sync_app().await;
    let app = &s.app;
    s.create_company(json!({"name": "Flood Test Telecom"}))
        .await;
    let search = |token: String| {
        app.client
            .get(app.url("/v1/sync/hubspot/companies/search"))
            .bearer_auth(token)
            .query(&[("q", "Flood")])
            .send()
    };
    let flooder = token_for("flooder", &["editor"]);
    let started = std::time::Instant::now();
    let flood = join_all((0..40).map(|_| search(flooder.clone()))).await;
    let elapsed = started.elapsed();
    let mut ok = 0;
    let mut turned_away = 0;
    for response in flood {
        let response = response.unwrap();
        match response.status().as_u16() {
            200 => ok += 1,
            429 => {
                assert_eq!(response.headers()["retry-after"], "1");
                expect_problem(response, 429).await;
                turned_away += 1;
            }
            other => panic!("a search answered {other}"),
        }
    }
    assert!(ok >= 1, "no search of the flood went through");
    assert!(turned_away >= 20, "only {turned_away} of 40 turned away");
    // 40 searches queued at 5 a second would take 8 s; turned away, they end at once.
    assert!(elapsed.as_secs() < 5, "the flood took {elapsed:?}");
    // Another editor is served.
    let other = search(token_for("someone-else", &["editor"]))
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
}
