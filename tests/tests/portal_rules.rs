//! A portal's validation rule (HubSpot enforces them on the 2026-09 paths): the record HubSpot
//! refuses fails alone and for good, with HubSpot's reason in the sync log, the customer's sync
//! state and the status counts, and goes through once the rule is lifted and an operator
//! retries it. Through the API, real Postgres, the worker and the sandbox over HTTP.

mod sync_api_support;

use serde_json::{Value, json};
use sync_api_support::*;
use warp_tests::*;

async fn admin_json(app: &TestApp, path: &str) -> Value {
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(admin())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

async fn set_required(s: &SyncApp, required: &[&str]) {
    let answer = s
        .app
        .client
        .put(format!(
            "{}/_sandbox/validation-rules/companies",
            s.sandbox.base_url()
        ))
        .json(&json!({ "required": required }))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{}", answer.status());
}

#[tokio::test]
async fn a_record_refused_by_a_portal_rule_fails_alone_for_good_until_the_rule_is_lifted() {
    let s = spawn_sync_app().await;
    let app = &s.app;
    let worker = s.outbound_worker().await;

    // A customer pushed before the rule exists is already in HubSpot.
    let older = app.create(&acme()).await;
    let older_id = older["id"].as_str().unwrap().to_owned();
    worker.process_due(10).await.unwrap();
    set_required(&s, &["industry"]).await;

    // The portal now requires an industry WARP does not send: a new company is refused, while
    // an update of the older one (which leaves industry alone) goes through in the same batch.
    let newer = app
        .create(&json!({"company_name": "Rules Ltd", "customer_type": "PREPAID"}))
        .await;
    let newer_id = newer["id"].as_str().unwrap().to_owned();
    let renamed = app
        .patch(
            &older_id,
            &json!({"company_name": "Acme Renamed"}),
            Some("*"),
        )
        .await;
    assert_eq!(renamed.status(), 200);
    let report = worker.process_due(10).await.unwrap();
    assert_eq!(report.pushed_customers, 1, "{report:?}");
    assert_eq!(report.failed.len(), 1, "{report:?}");
    let reason = &report.failed[0].1;
    assert!(
        reason.contains("VALIDATION_ERROR") && reason.contains("industry"),
        "{reason}"
    );

    // Not retried by itself: its attempts are used up and it is not due again.
    let attempts = app
        .scalar(&format!(
            "SELECT attempts::bigint FROM hubspot_sync_queue WHERE local_id = '{newer_id}' AND status = 'FAILED'"
        ))
        .await;
    assert_eq!(attempts, 10);
    assert_eq!(worker.process_due(10).await.unwrap().rows(), 0);

    // The reason is readable without SQL: sync log, the customer's sync state, status counts.
    let logs = admin_json(app, &format!("/v1/sync/logs?customer_id={newer_id}")).await;
    let failed = &logs["items"][0];
    assert_eq!(failed["status"], "FAILED", "{logs}");
    assert!(
        failed["error"].as_str().unwrap().contains("industry"),
        "{logs}"
    );
    let customer = app.customer(&newer_id).await;
    assert_eq!(customer["sync"]["state"], "failed", "{customer}");
    assert!(
        customer["sync"]["last_error"]
            .as_str()
            .unwrap()
            .contains("VALIDATION_ERROR"),
        "{customer}"
    );
    let status = admin_json(app, "/v1/sync/status").await;
    assert_eq!(status["outbox"]["failed"], 1, "{status}");

    // The failures list (any role) names the record and HubSpot's reason, filtered by words of
    // the reason, object type and time.
    let viewer_sees = |path: String| {
        let client = app.client.clone();
        let url = app.url(&path);
        async move {
            let response = client.get(url).bearer_auth(viewer()).send().await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
            response.json::<Value>().await.unwrap()
        }
    };
    let listed = viewer_sees("/v1/sync/failed?reason=INDUSTRY".into()).await;
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(listed["items"][0]["local_id"], newer_id.as_str());
    assert_eq!(listed["items"][0]["object_type"], "companies");
    assert!(
        listed["items"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("industry")
    );
    let failed_row = listed["items"][0]["id"].as_i64().unwrap();
    for path in [
        "/v1/sync/failed?reason=timeout".to_owned(),
        "/v1/sync/failed?object_type=contacts".to_owned(),
        format!(
            "/v1/sync/failed?since={}",
            (chrono::Utc::now() + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ")
        ),
    ] {
        assert_eq!(viewer_sees(path.clone()).await["total"], 0, "{path}");
    }
    let bad = app
        .client
        .get(app.url("/v1/sync/failed?since=yesterday&limit=0"))
        .bearer_auth(viewer())
        .send()
        .await
        .unwrap();
    let fields = problem_fields(&expect_problem(bad, 422).await);
    assert!(
        fields.contains(&"since".to_owned()) && fields.contains(&"limit".to_owned()),
        "{fields:?}"
    );

    // A retry of records that did not fail, or of a reason no failure has, changes nothing.
    let retry = |body: Value| {
        let client = app.client.clone();
        let url = app.url("/v1/sync/failed/retry");
        async move {
            let response = client
                .post(url)
                .bearer_auth(admin())
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{body}");
            response.json::<Value>().await.unwrap()
        }
    };
    assert_eq!(
        retry(json!({"ids": [failed_row + 1000]})).await["requeued"],
        0
    );
    assert_eq!(
        retry(json!({"all": true, "reason": "timeout"})).await["requeued"],
        0
    );

    // An admin lifts the rule and retries the failures of that reason: the record goes through.
    set_required(&s, &[]).await;
    let retried =
        retry(json!({"all": true, "object_type": "companies", "reason": "industry"})).await;
    assert_eq!(retried["requeued"], 1, "{retried}");
    assert_eq!(retried["ids"], json!([failed_row]), "{retried}");
    assert_eq!(viewer_sees("/v1/sync/failed".into()).await["total"], 0);
    let report = worker.process_due(10).await.unwrap();
    assert_eq!(report.failed, [], "{report:?}");
    let linked = app.customer(&newer_id).await;
    let company = linked["external_ids"]["hubspot_company_id"]
        .as_str()
        .expect("linked after the retry");
    assert_eq!(s.company(company).await["properties"]["name"], "Rules Ltd");
    assert_eq!(app.customer(&newer_id).await["sync"]["state"], "synced");
}
