//! Black-box tests of the webhook receiver: real Postgres (a fresh database per test), the
//! router served on a loopback port, and the real HubSpot sandbox sending signed deliveries.

use std::time::{Duration, Instant};

use hubspot_sandbox::{SandboxConfig, signature};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use warp_store::Database;
use warp_testkit::HubSpotUi;
use warp_webhook::{PublicUrl, WebhookConfig, WebhookState, router, sign_v3};

const SECRET: &str = "test-webhook-secret";

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

struct Receiver {
    database: Database,
    /// `http://127.0.0.1:PORT`
    base: String,
    http: reqwest::Client,
}

async fn start_receiver(accept_legacy: bool) -> Receiver {
    let legacy = accept_legacy.to_string();
    start_receiver_with(&[("WEBHOOK_ACCEPT_LEGACY_SIGNATURES", legacy.as_str())]).await
}

/// A receiver configured as `warp dev` configures it from these environment variables, with
/// `HTTP_ADDR` the loopback port it listens on.
async fn start_receiver_with(vars: &[(&str, &str)]) -> Receiver {
    let database = warp_testkit::fresh_database().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let config = WebhookConfig::from_lookup(SecretString::from(SECRET), |name| {
        if name == "HTTP_ADDR" {
            return Some(address.clone());
        }
        vars.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
    })
    .unwrap();
    let app = router(WebhookState::new(config, database.clone()));
    // The production local server (it hands the peer's address to the allow-list).
    tokio::spawn(warp_http_server::serve(
        listener,
        app,
        warp_http_server::ServerLimits::default(),
        std::future::pending(),
    ));
    Receiver {
        database,
        base: format!("http://{address}"),
        http: reqwest::Client::new(),
    }
}

#[derive(Debug)]
struct StoredEvent {
    event_id: i64,
    subscription_type: String,
    object_id: i64,
    property_name: String,
    status: String,
    raw: Value,
}

impl Receiver {
    async fn stored(&self) -> Vec<StoredEvent> {
        let client = self.database.client().await.unwrap();
        let rows = client
            .query_typed(
                "SELECT portal_id, event_id, subscription_type, object_id, occurred_at_ms,
                        property_name, status, raw
                 FROM hubspot_webhook_events ORDER BY id",
                &[],
            )
            .await
            .unwrap();
        rows.iter()
            .map(|row| {
                let stored = StoredEvent {
                    event_id: row.get(1),
                    subscription_type: row.get(2),
                    object_id: row.get(3),
                    property_name: row.get(5),
                    status: row.get(6),
                    raw: row.get(7),
                };
                // The key columns are the raw event's own fields.
                assert_eq!(stored.raw["portalId"].as_i64(), Some(row.get::<_, i64>(0)));
                assert_eq!(stored.raw["eventId"].as_i64(), Some(stored.event_id));
                assert_eq!(stored.raw["subscriptionType"], stored.subscription_type);
                assert_eq!(stored.raw["objectId"].as_i64(), Some(stored.object_id));
                assert_eq!(
                    stored.raw["occurredAt"].as_i64(),
                    Some(row.get::<_, i64>(4))
                );
                stored
            })
            .collect()
    }

    async fn count(&self) -> i64 {
        let client = self.database.client().await.unwrap();
        client
            .query_typed("SELECT count(*) FROM hubspot_webhook_events", &[])
            .await
            .unwrap()[0]
            .get(0)
    }

    /// Posts `body` to `path` with the given headers; returns status, content type, JSON body.
    async fn post(
        &self,
        path: &str,
        body: Vec<u8>,
        headers: &[(&str, String)],
    ) -> (StatusCode, String, Value) {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status();
        let content_type = answer
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = answer.json().await.unwrap_or(Value::Null);
        (status, content_type, body)
    }

    /// Posts `body` signed with v3 for the URL HubSpot would have called (`http://` + Host).
    async fn post_signed(&self, path: &str, body: Vec<u8>) -> (StatusCode, String, Value) {
        let url = format!("{}{path}", self.base);
        let headers = sign_v3(SECRET, "POST", &url, &body, now_ms());
        self.post(path, body, &headers).await
    }
}

fn event(event_id: i64, object_id: i64, property: Option<(&str, &str)>) -> Value {
    let mut event = json!({
        "eventId": event_id, "subscriptionId": 1_000_003, "portalId": 62515, "appId": 54321,
        "occurredAt": 1_780_000_000_000_i64 + event_id, "subscriptionType": "company.creation",
        "attemptNumber": 0, "objectId": object_id, "changeSource": "CRM_UI", "changeFlag": "NEW",
    });
    if let Some((name, value)) = property {
        event["subscriptionType"] = json!("company.propertyChange");
        event["propertyName"] = json!(name);
        event["propertyValue"] = json!(value);
        event.as_object_mut().unwrap().remove("changeFlag");
    }
    event
}

fn body_of(events: &[Value]) -> Vec<u8> {
    serde_json::to_vec(events).unwrap()
}

async fn wait_until<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn sandbox_deliveries_are_stored_once_each_even_when_duplicated() {
    let receiver = start_receiver(false).await;
    let sandbox = warp_testkit::hubspot::sandbox(SandboxConfig {
        webhook_secret: SECRET.to_owned(),
        webhook_target: Some(format!("{}/webhooks/hubspot?x=1", receiver.base)),
        ..SandboxConfig::default()
    })
    .await;
    let api = reqwest::Client::new();
    let hubspot = sandbox.base_url();
    let ui = HubSpotUi::new(&sandbox);

    let created = ui.create("companies", json!({"name": "Acme"})).await;
    let company_id: i64 = created.parse().unwrap();
    ui.update("companies", &created, json!({"name": "Acme Ltd"}))
        .await;

    let renamed_to = |value: &'static str| {
        move |stored: &StoredEvent| {
            stored.property_name == "name" && stored.raw["propertyValue"] == value
        }
    };
    wait_until("the PATCH's event to be stored", || async {
        receiver.stored().await.iter().any(renamed_to("Acme Ltd"))
    })
    .await;
    // Every event the sandbox delivered successfully is in the table, once.
    wait_until("every delivered event to be stored", || async {
        receiver.count().await as u64 == sandbox.stats().webhook_events_delivered
    })
    .await;
    let stored = receiver.stored().await;
    assert!(stored.iter().all(|e| e.status == "RECEIVED"));
    assert!(stored.iter().all(|e| e.object_id == company_id));
    let creation: Vec<_> = stored
        .iter()
        .filter(|e| e.subscription_type == "company.creation")
        .collect();
    assert_eq!(creation.len(), 1);
    assert_eq!(creation[0].property_name, "");
    assert_eq!(creation[0].raw["changeSource"], "CRM_UI");
    assert_eq!(creation[0].raw["appId"], 54321);
    assert_eq!(creation[0].raw["changeFlag"], "NEW");
    assert_eq!(stored.iter().filter(|e| renamed_to("Acme")(e)).count(), 1);
    assert_eq!(
        stored.iter().filter(|e| renamed_to("Acme Ltd")(e)).count(),
        1
    );
    let before_duplicates = stored.len();

    // Every event now arrives twice; each is still stored once.
    let faults: Value = api
        .post(format!("{hubspot}/_sandbox/faults"))
        .json(&json!({"duplicate_webhooks": 1.0}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(faults["duplicate_webhooks"], 1.0);
    let delivered_before = sandbox.stats().webhook_events_delivered;
    for name in ["Acme Group", "Acme Holding"] {
        ui.update("companies", &created, json!({"name": name}))
            .await;
    }
    wait_until("both copies of both events to be delivered", || async {
        let stats = sandbox.stats();
        stats.webhook_events_duplicated >= 2
            && stats.webhook_events_delivered >= delivered_before + 4
    })
    .await;
    let stats = sandbox.stats();
    assert_eq!(stats.webhook_requests_failed, 0, "{stats:?}");
    let stored = receiver.stored().await;
    let new_events = stored.len() - before_duplicates;
    assert_eq!(
        stats.webhook_events_delivered - delivered_before,
        2 * new_events as u64,
        "each new event delivered twice, stored once"
    );
    assert_eq!(
        stored
            .iter()
            .filter(|e| renamed_to("Acme Group")(e))
            .count(),
        1
    );
    assert_eq!(
        stored
            .iter()
            .filter(|e| renamed_to("Acme Holding")(e))
            .count(),
        1
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn deliveries_that_fail_a_check_store_nothing_and_valid_ones_count_duplicates() {
    let receiver = start_receiver(false).await;
    let path = "/webhooks/hubspot";
    let url = format!("{}{path}", receiver.base);
    let body = body_of(&[event(1, 10, None)]);
    let now = now_ms();
    let six_minutes = 6 * 60 * 1000;

    let wrong_secret = sign_v3("not-the-secret", "POST", &url, &body, now);
    let stale = sign_v3(SECRET, "POST", &url, &body, now - six_minutes);
    let future = sign_v3(SECRET, "POST", &url, &body, now + six_minutes);
    let [v3_only, _] = sign_v3(SECRET, "POST", &url, &body, now);
    let [tampered_signature, timestamp] = sign_v3(SECRET, "POST", &url, b"[]", now);
    let v1_only = [
        ("x-hubspot-signature", signature::v1(SECRET, &body)),
        ("x-hubspot-signature-version", "v1".to_owned()),
    ];
    let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("wrong secret", wrong_secret.to_vec()),
        ("6 minutes old", stale.to_vec()),
        ("6 minutes ahead", future.to_vec()),
        ("no headers", vec![]),
        ("v3 without timestamp", vec![v3_only]),
        (
            "signature of another body",
            vec![tampered_signature, timestamp],
        ),
        ("v1 only, legacy off", v1_only.to_vec()),
    ];
    for (what, headers) in cases {
        let (status, content_type, problem) = receiver.post(path, body.clone(), &headers).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(content_type, "application/problem+json", "{what}");
        assert_eq!(problem["status"], 401, "{what}");
        assert_eq!(receiver.count().await, 0, "{what} stored something");
    }

    // Signed for https: the URL does not match, whatever X-Forwarded-Proto says (the receiver
    // trusts no forwarding header unless configured to).
    let https_url = url.replacen("http://", "https://", 1);
    let https_signed = sign_v3(SECRET, "POST", &https_url, &body, now_ms());
    let (status, ..) = receiver.post(path, body.clone(), &https_signed).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let mut with_proto = https_signed.to_vec();
    with_proto.push(("x-forwarded-proto", "https".to_owned()));
    let (status, ..) = receiver.post(path, body.clone(), &with_proto).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(receiver.count().await, 0);

    // Over 1 MiB (validly signed): 413 before anything else.
    let mut big = body.clone();
    big.truncate(big.len() - 1);
    big.extend(std::iter::repeat_n(b' ', 1024 * 1024));
    big.push(b']');
    let (status, content_type, _) = receiver.post_signed(path, big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(content_type, "application/problem+json");

    // Validly signed but not an event array: 400.
    for bad_body in [&b"[{\"eventId\": 1,"[..], b"{}", b"[{\"eventId\":1}]"] {
        let (status, content_type, problem) = receiver.post_signed(path, bad_body.to_vec()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(content_type, "application/problem+json");
        assert_eq!(problem["status"], 400);
    }
    assert_eq!(receiver.count().await, 0);

    // Signed for the receiver's own URL: stored.
    let (status, _, receipt) = receiver.post_signed(path, body.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        receipt,
        json!({"received": 1, "stored": 1, "duplicates": 0})
    );

    // The same event again, through the company alias: a duplicate.
    let (status, _, receipt) = receiver
        .post_signed("/webhooks/hubspot/company", body.clone())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        receipt,
        json!({"received": 1, "stored": 0, "duplicates": 1})
    );

    // Duplicates within one delivery count once; the same eventId with another property (or
    // another object) is another event.
    let batch = [
        event(2, 10, Some(("name", "Acme"))),
        event(2, 10, Some(("name", "Acme"))),
        event(2, 10, Some(("domain", "acme.test"))),
        event(2, 11, Some(("name", "Acme"))),
        event(1, 10, None),
    ];
    let (status, _, receipt) = receiver
        .post_signed("/webhooks/hubspot/company?portal=62515", body_of(&batch))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        receipt,
        json!({"received": 5, "stored": 3, "duplicates": 2})
    );

    let stored = receiver.stored().await;
    assert_eq!(stored.len(), 4);
    let keys: std::collections::BTreeSet<_> = stored
        .iter()
        .map(|e| (e.event_id, e.object_id, e.property_name.clone()))
        .collect();
    assert_eq!(keys.len(), 4);
    let domain = stored.iter().find(|e| e.property_name == "domain").unwrap();
    assert_eq!(domain.raw, batch[2], "raw JSON stored as received");

    // An empty delivery is fine and stores nothing.
    let (status, _, receipt) = receiver.post_signed(path, b"[]".to_vec()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        receipt,
        json!({"received": 0, "stored": 0, "duplicates": 0})
    );
}

#[tokio::test]
async fn legacy_signatures_are_accepted_only_when_configured() {
    let receiver = start_receiver(true).await;
    let path = "/webhooks/hubspot";
    let url = format!("{}{path}", receiver.base);
    let body = body_of(&[event(5, 20, None)]);
    let v1 = [("x-hubspot-signature", signature::v1(SECRET, &body))];
    let (status, _, receipt) = receiver.post(path, body.clone(), &v1).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(receipt["stored"], 1);

    let body = body_of(&[event(6, 20, None)]);
    let v2 = [
        (
            "x-hubspot-signature",
            signature::v2(SECRET, "POST", &url, &body),
        ),
        ("x-hubspot-signature-version", "v2".to_owned()),
    ];
    let (status, _, receipt) = receiver.post(path, body.clone(), &v2).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(receipt["stored"], 1);

    let wrong_v1 = [("x-hubspot-signature", signature::v1("other", &body))];
    let (status, ..) = receiver.post(path, body, &wrong_v1).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(receiver.count().await, 2);
}

#[tokio::test]
async fn ack_latency_for_100_event_deliveries_over_loopback() {
    const DELIVERIES: i64 = 200;
    const EVENTS_PER_DELIVERY: i64 = 100;
    let receiver = start_receiver(false).await;
    let mut latencies = Vec::with_capacity(DELIVERIES as usize);
    for delivery in 0..DELIVERIES {
        let events: Vec<Value> = (0..EVENTS_PER_DELIVERY)
            .map(|n| {
                let id = delivery * EVENTS_PER_DELIVERY + n;
                event(id, 1_000 + id % 50, Some(("name", "Acme")))
            })
            .collect();
        let body = body_of(&events);
        let started = Instant::now();
        let (status, _, receipt) = receiver.post_signed("/webhooks/hubspot", body).await;
        latencies.push(started.elapsed());
        assert_eq!(status, StatusCode::OK);
        assert_eq!(receipt["stored"], EVENTS_PER_DELIVERY);
    }
    assert_eq!(receiver.count().await, DELIVERIES * EVENTS_PER_DELIVERY);
    latencies.sort();
    let at = |quantile: f64| {
        latencies[((latencies.len() as f64 * quantile) as usize).min(latencies.len() - 1)]
    };
    println!(
        "ack latency, {DELIVERIES} deliveries of {EVENTS_PER_DELIVERY} events (debug build, loopback, signing included): p50 {:?}, p99 {:?}, max {:?}",
        at(0.50),
        at(0.99),
        latencies[latencies.len() - 1]
    );
}

/// In-process requests (tower `oneshot`): no Content-Length header, so only the streaming
/// body limit applies; and the router nested under a prefix still verifies the full path.
#[tokio::test]
async fn streamed_oversized_body_is_413_and_a_nested_router_verifies_the_original_path() {
    use tower::ServiceExt as _;
    let database = warp_testkit::fresh_database().await;
    let state = WebhookState::new(
        WebhookConfig::new(
            SecretString::from(SECRET),
            PublicUrl::parse("http://h.test").unwrap(),
        ),
        database.clone(),
    );
    let request = axum::http::Request::post("/webhooks/hubspot")
        .header("host", "h.test")
        .body(axum::body::Body::from(vec![b' '; 1024 * 1024 + 1]))
        .unwrap();
    assert!(request.headers().get("content-length").is_none());
    let answer = router(state.clone()).oneshot(request).await.unwrap();
    assert_eq!(answer.status(), axum::http::StatusCode::PAYLOAD_TOO_LARGE);

    let nested = axum::Router::new().nest("/hooks", router(state));
    let body = body_of(&[event(9, 90, None)]);
    let [(signature_name, signature), (timestamp_name, timestamp)] = sign_v3(
        SECRET,
        "POST",
        "http://h.test/hooks/webhooks/hubspot?x=1",
        &body,
        now_ms(),
    );
    let request = axum::http::Request::post("/hooks/webhooks/hubspot?x=1")
        .header("host", "h.test")
        .header(signature_name, signature)
        .header(timestamp_name, timestamp)
        .body(axum::body::Body::from(body))
        .unwrap();
    let answer = nested.oneshot(request).await.unwrap();
    assert_eq!(answer.status(), axum::http::StatusCode::OK);

    let count: i64 = database
        .client()
        .await
        .unwrap()
        .query_typed("SELECT count(*) FROM hubspot_webhook_events", &[])
        .await
        .unwrap()[0]
        .get(0);
    assert_eq!(count, 1);
}

/// Issue 17: the signed URL must be the deployment's own. A body signed for
/// `https://evil.example/webhooks/hubspot` and sent with that Host (and the forwarding headers
/// a proxy would add) is refused, and nothing is stored: without configuration the receiver
/// trusts none of those headers and checks the signature against its own listener's URL.
#[tokio::test]
async fn a_delivery_signed_for_another_host_is_refused_whatever_the_host_headers_say() {
    let receiver = start_receiver_with(&[]).await;
    let path = "/webhooks/hubspot";
    let body = body_of(&[event(1, 10, None)]);
    let evil = format!("https://evil.example{path}");
    let probes: [&[(&str, &str)]; 3] = [
        &[("host", "evil.example"), ("x-forwarded-proto", "https")],
        &[
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-proto", "https"),
        ],
        &[
            ("host", "evil.example:443"),
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-proto", "https"),
        ],
    ];
    for probe in probes {
        let mut headers = sign_v3(SECRET, "POST", &evil, &body, now_ms()).to_vec();
        headers.extend(
            probe
                .iter()
                .map(|(name, value)| (*name, (*value).to_owned())),
        );
        let (status, content_type, _) = receiver.post(path, body.clone(), &headers).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{probe:?}");
        assert_eq!(content_type, "application/problem+json");
        assert_eq!(receiver.count().await, 0, "{probe:?} stored something");
    }

    // The normal delivery, signed for the receiver's own URL, is stored.
    let (status, _, receipt) = receiver.post_signed(path, body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(receipt["stored"], 1);
}

/// Behind a proxy that sets the forwarding headers itself, `WEBHOOK_TRUST_FORWARDED_HEADERS`
/// makes the receiver rebuild the URL from them: a delivery signed for the proxy's public
/// https URL verifies, and one signed for the bare listener no longer does.
#[tokio::test]
async fn forwarded_headers_count_only_when_the_proxy_is_trusted() {
    let receiver = start_receiver_with(&[("WEBHOOK_TRUST_FORWARDED_HEADERS", "true")]).await;
    let path = "/webhooks/hubspot";
    let body = body_of(&[event(1, 10, None)]);
    let public = format!("https://hooks.example.com{path}");
    let mut headers = sign_v3(SECRET, "POST", &public, &body, now_ms()).to_vec();
    headers.push(("x-forwarded-host", "hooks.example.com".to_owned()));
    headers.push(("x-forwarded-proto", "https".to_owned()));
    let (status, _, receipt) = receiver.post(path, body.clone(), &headers).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(receipt["stored"], 1);

    // Without the proxy's headers the URL is rebuilt from Host alone: the https signature
    // made for the public URL does not verify.
    let bare = sign_v3(SECRET, "POST", &public, &body, now_ms());
    let (status, ..) = receiver.post(path, body, &bare).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// Posts a signed delivery of one event with `extra` headers; answers the status.
async fn deliver_from(receiver: &Receiver, event_id: i64, extra: &[(&str, &str)]) -> StatusCode {
    let body = serde_json::to_vec(&json!([event(event_id, 77, None)])).unwrap();
    let url = format!("{}/webhooks/hubspot", receiver.base);
    let mut headers = sign_v3(SECRET, "POST", &url, &body, now_ms()).to_vec();
    headers.extend(
        extra
            .iter()
            .map(|(name, value)| (*name, (*value).to_owned())),
    );
    receiver.post("/webhooks/hubspot", body, &headers).await.0
}

#[tokio::test]
async fn an_allow_list_refuses_other_sources_before_anything_is_stored() {
    // Served as `warp dev` serves it: the connection's peer (127.0.0.1) is the client.
    let outside = start_receiver_with(&[("WEBHOOK_ALLOWED_CIDRS", "10.0.0.0/8")]).await;
    assert_eq!(deliver_from(&outside, 1, &[]).await, StatusCode::FORBIDDEN);
    assert!(outside.stored().await.is_empty());
    // A forwarding header is not believed unless the operator names it.
    assert_eq!(
        deliver_from(&outside, 2, &[("x-forwarded-for", "10.1.2.3")]).await,
        StatusCode::FORBIDDEN
    );
    let inside = start_receiver_with(&[("WEBHOOK_ALLOWED_CIDRS", "10.0.0.0/8, 127.0.0.1")]).await;
    assert_eq!(deliver_from(&inside, 3, &[]).await, StatusCode::OK);
    assert_eq!(inside.stored().await.len(), 1);

    // Behind a proxy: only the entry the proxy appended counts.
    let proxied = start_receiver_with(&[
        ("WEBHOOK_ALLOWED_CIDRS", "203.0.113.0/24"),
        ("WEBHOOK_CLIENT_IP_HEADER", "X-Forwarded-For"),
        ("WEBHOOK_TRUSTED_PROXY_CIDRS", "127.0.0.1"),
    ])
    .await;
    assert_eq!(deliver_from(&proxied, 4, &[]).await, StatusCode::FORBIDDEN);
    assert_eq!(
        deliver_from(
            &proxied,
            5,
            &[("x-forwarded-for", "203.0.113.7, 198.51.100.9")]
        )
        .await,
        StatusCode::FORBIDDEN,
        "a client cannot forge its way in with the first entry"
    );
    assert_eq!(
        deliver_from(
            &proxied,
            6,
            &[("x-forwarded-for", "198.51.100.9, 203.0.113.7")]
        )
        .await,
        StatusCode::OK
    );
    assert_eq!(proxied.stored().await.len(), 1);
    // A caller that does not connect from the proxy: its header is not believed.
    let around = start_receiver_with(&[
        ("WEBHOOK_ALLOWED_CIDRS", "203.0.113.0/24"),
        ("WEBHOOK_CLIENT_IP_HEADER", "X-Forwarded-For"),
        ("WEBHOOK_TRUSTED_PROXY_CIDRS", "198.51.100.0/24"),
    ])
    .await;
    assert_eq!(
        deliver_from(&around, 7, &[("x-forwarded-for", "203.0.113.7")]).await,
        StatusCode::FORBIDDEN
    );
}
