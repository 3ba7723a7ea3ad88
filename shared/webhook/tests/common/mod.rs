//! What the webhook end-to-end tests share: waiting for the sandbox's deliveries to settle
//! before processing, and posting hand-made, v3-signed deliveries to the receiver.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use secrecy::SecretString;

use chrono::Utc;
use serde_json::Value;
use warp_store::Database;
use warp_testkit::PORTAL;
use warp_webhook::{
    InboundProcessor, InboundReport, PublicUrl, WebhookConfig, WebhookState, router, sign_v3,
};

pub async fn event_count(database: &Database) -> i64 {
    let client = database.client().await.unwrap();
    client
        .query_one("SELECT count(*) FROM hubspot_webhook_events", &[])
        .await
        .unwrap()
        .get(0)
}

/// Waits until deliveries stop arriving (no new event for 0.7 s, at most 20 s), then
/// processes up to `limit` pending events.
pub async fn settle(
    database: &Database,
    processor: &InboundProcessor,
    limit: u32,
) -> InboundReport {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = -1;
    let mut stable_since = Instant::now();
    loop {
        let count = event_count(database).await;
        if count != last {
            last = count;
            stable_since = Instant::now();
        } else if stable_since.elapsed() > Duration::from_millis(700) {
            break;
        }
        assert!(Instant::now() < deadline, "deliveries never settled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    processor.process_pending(limit).await.unwrap()
}

/// Posts hand-made events, v3-signed with `secret`, to the receiver at `receiver`.
pub async fn deliver(http: &reqwest::Client, receiver: &str, secret: &str, events: &[Value]) {
    let body = serde_json::to_vec(events).unwrap();
    let url = format!("{receiver}/webhooks/hubspot");
    let headers = sign_v3(secret, "POST", &url, &body, Utc::now().timestamp_millis());
    let mut request = http
        .post(&url)
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let answer = request.send().await.unwrap();
    assert_eq!(answer.status(), 200);
}

/// The webhook receiver over `database` on a loopback port, checking signatures made with
/// `secret`; answers its base URL.
pub async fn receiver(database: &Database, secret: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver = format!("http://{}", listener.local_addr().unwrap());
    let state = WebhookState::new(
        WebhookConfig::new(
            SecretString::from(secret.to_owned()),
            PublicUrl::parse(&receiver).unwrap(),
        ),
        database.clone(),
    );
    let app = router(state);
    tokio::spawn(async move { axum::serve(listener, app).await });
    receiver
}

/// The API over `database` on a loopback port, and a token of `role` for it (HS256 with
/// `jwt_secret`).
pub async fn api(database: &Database, jwt_secret: &str, role: &str) -> (String, String) {
    api_with_hubspot(database, jwt_secret, role, None).await
}

/// As [`api`], the routes that call HubSpot doing so through `hubspot`.
pub async fn api_with_hubspot(
    database: &Database,
    jwt_secret: &str,
    role: &str,
    hubspot: Option<warp_hubspot::HubSpotClient>,
) -> (String, String) {
    let secret = SecretString::from(jwt_secret.to_owned());
    let mut state = warp_api::ApiState::new(
        database.clone(),
        warp_api::AuthConfig::hs256(secret.clone()),
        PORTAL,
    );
    if let Some(hubspot) = hubspot {
        state = state.with_hubspot(hubspot);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = warp_api::router(state);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let token = warp_api::issue_dev_token(
        &secret,
        warp_api::AuthConfig::DEFAULT_ISSUER,
        warp_api::AuthConfig::DEFAULT_AUDIENCE,
        &format!("{role}-1"),
        &[role],
        Duration::from_secs(3600),
    )
    .unwrap();
    (base, token)
}
