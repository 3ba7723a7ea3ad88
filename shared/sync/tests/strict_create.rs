//! Strict create mode through the API router: the company is upserted in HubSpot (the sandbox
//! over HTTP) before the create commits, and a refusal stores nothing.

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

const SECRET: &str = "strict-create-test-secret";

async fn post_customer(app: &axum::Router, body: Value) -> (u16, String, Value) {
    let token = issue_dev_token(
        &SecretString::from(SECRET),
        AuthConfig::DEFAULT_ISSUER,
        AuthConfig::DEFAULT_AUDIENCE,
        "tester",
        &["editor"],
        Duration::from_secs(300),
    )
    .unwrap();
    let request = axum::http::Request::post("/v1/customers")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        serde_json::from_slice(&bytes).unwrap(),
    )
}

async fn strict_app(h: &Harness, recorder: &SharedRecorder) -> axum::Router {
    let state = ApiState::new(
        h.database.clone(),
        AuthConfig::hs256(SecretString::from(SECRET)),
        PORTAL,
    )
    .with_outbox_publisher(Arc::new(recorder.clone()))
    .with_strict_create(
        hubspot_client(&h.sandbox, 100, 10_000),
        warp_store::sync_config::MappingSource::read_every_time(h.database.clone(), PORTAL)
            .await
            .unwrap(),
    );
    warp_api::router(state)
}

#[tokio::test]
async fn a_strict_create_is_in_hubspot_and_linked_when_it_answers() {
    let h = harness().await;
    let recorder = SharedRecorder::default();
    let app = strict_app(&h, &recorder).await;

    let (status, _, created) = post_customer(
        &app,
        json!({
            "company_name": "Strict Co",
            "customer_type": "POSTPAID",
            "domain": "strict.example",
            "contact": {"email": "billing@strict.example"},
        }),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let ban = created["ban"].as_str().unwrap().to_owned();
    let company_id = created["external_ids"]["hubspot_company_id"]
        .as_str()
        .expect("the answer carries the company id")
        .to_owned();

    let companies = h.companies_by_ban().await;
    let in_hubspot = companies.get(&ban).expect("the company is in HubSpot");
    assert_eq!(in_hubspot.len(), 1);
    assert_eq!(in_hubspot[0].0, company_id);
    assert_eq!(in_hubspot[0].1["name"], "Strict Co");
    assert_eq!(in_hubspot[0].1["warp_customer_type"], "POSTPAID");
    assert_eq!(
        in_hubspot[0].1["warp_billing_email"],
        "billing@strict.example"
    );

    let id = uuid::Uuid::parse_str(created["id"].as_str().unwrap()).unwrap();
    assert_eq!(
        h.hubspot_company_id(id).await.as_deref(),
        Some(&*company_id)
    );

    // The CREATE row still exists; its push finds nothing to send.
    let rows = recorder.0.taken();
    assert_eq!(rows.len(), 1);
    let calls_before = h.upsert_calls();
    let report = h.worker.process(&rows).await;
    assert_eq!(report.succeeded, rows, "{report:?}");
    assert_eq!(report.hubspot_calls, 0, "HubSpot already holds every value");
    assert_eq!(h.upsert_calls(), calls_before);
    assert_eq!(h.row(rows[0]).await.0, "DONE");
}

#[tokio::test]
async fn a_strict_create_hubspot_refuses_stores_nothing_and_names_the_property() {
    let h = harness().await;
    // HubSpot no longer accepts RESELLER for warp_customer_type.
    h.allow_reseller(false).await;
    let recorder = SharedRecorder::default();
    let app = strict_app(&h, &recorder).await;

    let (status, content_type, problem) = post_customer(
        &app,
        json!({"company_name": "Refused Reseller", "customer_type": "RESELLER"}),
    )
    .await;
    assert_eq!(status, 502, "{problem}");
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(problem["status"], 502);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["warp_customer_type"], "{problem}");
    assert!(
        !problem.to_string().contains("RESELLER"),
        "no values in the problem: {problem}"
    );

    assert_eq!(
        h.database
            .one::<i64>("SELECT count(*) FROM customers")
            .await,
        0
    );
    assert_eq!(
        h.database
            .one::<i64>("SELECT count(*) FROM hubspot_sync_queue")
            .await,
        0
    );
    assert!(recorder.0.taken().is_empty(), "nothing to publish");
    assert!(h.companies_by_ban().await.is_empty());

    // The same API still creates what HubSpot accepts.
    let (status, _, created) = post_customer(
        &app,
        json!({"company_name": "Fine Prepaid", "customer_type": "PREPAID"}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        h.database
            .one::<i64>("SELECT count(*) FROM customers")
            .await,
        1
    );
}
