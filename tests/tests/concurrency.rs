//! Concurrency guarantees: concurrent creates get distinct BANs and one outbox row each;
//! concurrent PATCHes with the same ETag let exactly one through; concurrent retries with one
//! Idempotency-Key make one customer.

use futures::future::join_all;
use serde_json::{Value, json};
use std::collections::HashSet;
use warp_tests::*;

#[tokio::test]
async fn two_hundred_concurrent_creates_get_distinct_bans() {
    let app = spawn_app().await;
    let requests = (0..200).map(|i| {
        let body = json!({"company_name": format!("Concurrent {i}"), "customer_type": "PREPAID"});
        let app = &app;
        async move {
            let response = app.post_customer(&body).await;
            assert_eq!(response.status(), 201);
            response.json::<Value>().await.unwrap()
        }
    });
    let created = join_all(requests).await;
    let bans: HashSet<String> = created
        .iter()
        .map(|c| c["ban"].as_str().unwrap().to_owned())
        .collect();
    let ids: HashSet<String> = created
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(bans.len(), 200);
    assert_eq!(ids.len(), 200);
    assert_eq!(
        app.scalar("SELECT count(DISTINCT ban) FROM customers")
            .await,
        200
    );
    assert_eq!(
        app.scalar("SELECT count(*) FROM hubspot_sync_queue WHERE operation = 'CREATE'")
            .await,
        200
    );
    assert_eq!(
        app.scalar("SELECT count(DISTINCT local_id) FROM hubspot_sync_queue")
            .await,
        200
    );
}

#[tokio::test]
async fn concurrent_patches_with_one_etag_let_exactly_one_through() {
    let app = spawn_app().await;
    for round in 0..5 {
        let created = app.create(&acme()).await;
        let id = created["id"].as_str().unwrap().to_owned();
        let patches = (0..8).map(|i| {
            let app = &app;
            let id = id.clone();
            async move {
                app.patch(
                    &id,
                    &json!({"company_name": format!("Writer {i}")}),
                    Some("\"1\""),
                )
                .await
                .status()
                .as_u16()
            }
        });
        let mut statuses = join_all(patches).await;
        statuses.sort();
        assert_eq!(
            statuses,
            [200, 412, 412, 412, 412, 412, 412, 412],
            "round {round}"
        );
        let current: Value = app
            .get(&format!("/v1/customers/{id}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(current["version"], 2);
        let updates = app
            .scalar(&format!("SELECT count(*) FROM hubspot_sync_queue WHERE local_id = '{id}' AND operation = 'UPDATE'"))
            .await;
        assert_eq!(updates, 1);
    }
}

#[tokio::test]
async fn concurrent_retries_with_one_key_make_one_customer() {
    let app = spawn_app().await;
    let retries = (0..10).map(|_| {
        let app = &app;
        async move {
            let response = app
                .client
                .post(app.url("/v1/customers"))
                .bearer_auth(editor())
                .header("idempotency-key", "same-key")
                .json(&acme())
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.bytes().await.unwrap())
        }
    });
    let answers = join_all(retries).await;
    assert!(answers.iter().all(|(status, _)| *status == 201));
    assert!(answers.iter().all(|(_, body)| body == &answers[0].1));
    assert_eq!(app.scalar("SELECT count(*) FROM customers").await, 1);
    assert_eq!(
        app.scalar("SELECT count(*) FROM hubspot_sync_queue").await,
        1
    );
}
