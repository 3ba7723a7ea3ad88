//! The admin sync routes and the sync state in customer reads, through the API router.

mod outbound_support;

use axum::body::Body;
use http_body_util::BodyExt;
use outbound_support::*;
use secrecy::SecretString;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;
use warp_api::{ApiState, AuthConfig, issue_dev_token};

const SECRET: &str = "outbound-api-test-secret";

fn token(role: &str) -> String {
    issue_dev_token(
        &SecretString::from(SECRET),
        AuthConfig::DEFAULT_ISSUER,
        AuthConfig::DEFAULT_AUDIENCE,
        "tester",
        &[role],
        Duration::from_secs(300),
    )
    .unwrap()
}

async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    role: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {}", token(role)));
    let body = match body {
        Some(body) => {
            request = request.header("content-type", "application/json");
            Body::from(body.to_string())
        }
        None => Body::empty(),
    };
    let response = app
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    (status, value)
}

#[tokio::test]
async fn admins_resync_and_retry_and_reads_show_the_sync_state() {
    let h = harness().await;
    let recorder = SharedRecorder::default();
    let state = ApiState::new(
        h.database.clone(),
        AuthConfig::hs256(SecretString::from(SECRET)),
        PORTAL,
    )
    .with_outbox_publisher(Arc::new(recorder.clone()));
    let app = warp_api::router(state);

    let (status, created) = call(
        &app,
        "POST",
        "/v1/customers",
        "editor",
        Some(json!({"company_name": "Api Sync Co", "customer_type": "PREPAID"})),
    )
    .await;
    assert_eq!(status, 201);
    let id = created["id"].as_str().unwrap().to_owned();
    let ban = created["ban"].as_str().unwrap().to_owned();
    assert_eq!(
        created["sync"]["state"], "pending",
        "a new customer waits for its push"
    );
    let create_row = recorder.0.taken();
    assert_eq!(create_row.len(), 1);

    let (status, read) = call(&app, "GET", &format!("/v1/customers/{id}"), "viewer", None).await;
    assert_eq!(status, 200);
    assert_eq!(read["sync"]["state"], "pending");
    assert_eq!(read["sync"]["hubspot_company_id"], Value::Null);
    assert_eq!(read, created, "the create answer is what a read gives");
    let (_, list) = call(&app, "GET", "/v1/customers", "viewer", None).await;
    assert!(
        list["items"][0].get("sync").is_none(),
        "lists carry no sync state"
    );

    h.worker.process(&create_row).await;
    let (_, read) = call(
        &app,
        "GET",
        &format!("/v1/customers/by-ban/{ban}"),
        "viewer",
        None,
    )
    .await;
    assert_eq!(read["sync"]["state"], "synced");
    let company_id = read["external_ids"]["hubspot_company_id"].as_str().unwrap();
    assert_eq!(read["sync"]["hubspot_company_id"], company_id);
    assert!(read["sync"]["last_synced_at"].is_string());
    assert_eq!(read["sync"]["last_error"], Value::Null);

    // Resync: admin only, 202 with the row, published after commit.
    let path = format!("/v1/sync/customers/{id}/resync");
    let (status, problem) = call(&app, "POST", &path, "editor", None).await;
    assert_eq!(status, 403);
    assert_eq!(problem["status"], 403);
    let (status, accepted) = call(&app, "POST", &path, "admin", None).await;
    assert_eq!(status, 202);
    let outbox_id = accepted["outbox_id"].as_i64().unwrap();
    assert_eq!(recorder.0.taken(), vec![outbox_id]);
    let operation: String = h
        .database
        .one(&format!(
            "SELECT operation FROM hubspot_sync_queue WHERE id = {outbox_id} AND local_id = '{id}' AND status = 'PENDING'"
        ))
        .await;
    assert_eq!(operation, "RESYNC");
    let unknown = format!("/v1/sync/customers/{}/resync", uuid::Uuid::now_v7());
    assert_eq!(call(&app, "POST", &unknown, "admin", None).await.0, 404);
    assert_eq!(
        call(
            &app,
            "POST",
            "/v1/sync/customers/not-a-uuid/resync",
            "admin",
            None
        )
        .await
        .0,
        404
    );
    let report = h.worker.process(&[outbox_id]).await;
    assert_eq!(report.pushed_customers, 1);

    // A failure shows in reads; the operator's retry requeues it.
    h.database.execute(&format!(
        "UPDATE hubspot_sync_queue SET status = 'FAILED', attempts = 10, last_error = 'HubSpot refused the input (VALIDATION_ERROR)' WHERE id = {outbox_id}"
    ))
    .await;
    let (_, read) = call(&app, "GET", &format!("/v1/customers/{id}"), "viewer", None).await;
    assert_eq!(read["sync"]["state"], "failed");
    assert_eq!(
        read["sync"]["last_error"],
        "HubSpot refused the input (VALIDATION_ERROR)"
    );
    let (status, _) = call(&app, "POST", "/v1/sync/failed/retry", "editor", None).await;
    assert_eq!(status, 403);
    let (status, retried) = call(&app, "POST", "/v1/sync/failed/retry", "admin", None).await;
    assert_eq!(status, 200);
    assert_eq!(retried, json!({"requeued": 1, "ids": [outbox_id]}));
    assert_eq!(recorder.0.taken(), vec![outbox_id]);
    assert_eq!(
        h.row(outbox_id).await,
        (
            "PENDING".to_owned(),
            0,
            Some("HubSpot refused the input (VALIDATION_ERROR)".to_owned())
        )
    );
    let (_, again) = call(&app, "POST", "/v1/sync/failed/retry", "admin", None).await;
    assert_eq!(again, json!({"requeued": 0, "ids": []}));

    // The routes are documented.
    let (status, document) = call(&app, "GET", "/v1/openapi.json", "viewer", None).await;
    assert_eq!(status, 200);
    let paths = &document["paths"];
    assert!(paths["/v1/sync/customers/{id}/resync"]["post"]["responses"]["202"].is_object());
    assert!(paths["/v1/sync/customers/{id}/resync"]["post"]["responses"]["404"].is_object());
    assert!(paths["/v1/sync/failed/retry"]["post"]["responses"]["200"].is_object());
    assert!(document["components"]["schemas"]["CustomerSyncResponse"].is_object());
}
