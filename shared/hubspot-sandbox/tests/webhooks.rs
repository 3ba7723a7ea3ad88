//! Webhook deliveries to a local receiver: signatures, change sources, event shapes, batching,
//! retries, and the drop/duplicate faults.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::{APP_TOKEN, Api, USER_TOKEN, roomy, start};
use hubspot_sandbox::{Faults, SandboxConfig, signature};
use serde_json::{Value, json};

const COMPANIES: &str = "/crm/v3/objects/companies";

#[derive(Clone, Default)]
struct Receiver {
    deliveries: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    /// How many of the first requests answer 500.
    failures_left: Arc<Mutex<u32>>,
}

impl Receiver {
    fn bodies(&self) -> Vec<Vec<Value>> {
        self.deliveries
            .lock()
            .unwrap()
            .iter()
            .map(|(_, body)| serde_json::from_slice(body).unwrap())
            .collect()
    }

    fn events(&self) -> Vec<Value> {
        self.bodies().into_iter().flatten().collect()
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    receiver.deliveries.lock().unwrap().push((headers, body));
    let mut failures = receiver.failures_left.lock().unwrap();
    if *failures > 0 {
        *failures -= 1;
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

/// Starts a receiver on port 0; returns it and its full URL.
async fn start_receiver(failures: u32) -> (Receiver, String) {
    let receiver = Receiver {
        failures_left: Arc::new(Mutex::new(failures)),
        ..Receiver::default()
    };
    let app = Router::new()
        .route("/hooks/hubspot", post(receive))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/hooks/hubspot?portal=1",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (receiver, url)
}

async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(8);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn changes_by_user_and_app_arrive_signed_with_their_change_source() {
    let (receiver, url) = start_receiver(0).await;
    let sandbox = start(SandboxConfig {
        webhook_target: Some(url.clone()),
        ..roomy()
    })
    .await;
    let user = Api::new(&sandbox, USER_TOKEN);
    let created = user
        .post(COMPANIES, json!({"properties": {"name": "UI Co"}}))
        .await;
    let id: u64 = created.body["id"].as_str().unwrap().parse().unwrap();
    wait_until("the user's events", || receiver.events().len() >= 2).await;

    let app = Api::new(&sandbox, APP_TOKEN);
    app.patch(
        &format!("{COMPANIES}/{id}"),
        json!({"properties": {"city": "Oslo"}}),
    )
    .await;
    wait_until("the app's event", || receiver.events().len() >= 3).await;

    for (headers, body) in receiver.deliveries.lock().unwrap().iter() {
        let timestamp = headers["x-hubspot-request-timestamp"].to_str().unwrap();
        let age = chrono_ms() - timestamp.parse::<i64>().unwrap();
        assert!(
            (0..60_000).contains(&age),
            "timestamp {timestamp} is not now"
        );
        let expected_v3 = signature::v3("sandbox-webhook-secret", "POST", &url, body, timestamp);
        assert_eq!(
            headers["x-hubspot-signature-v3"].to_str().unwrap(),
            expected_v3
        );
        assert_eq!(
            headers["x-hubspot-signature"].to_str().unwrap(),
            signature::v1("sandbox-webhook-secret", body)
        );
        assert_eq!(headers["x-hubspot-signature-version"], "v1");
        let wrong = signature::v3("another-secret", "POST", &url, body, timestamp);
        assert_ne!(headers["x-hubspot-signature-v3"].to_str().unwrap(), wrong);
    }

    let events = receiver.events();
    let creation = events
        .iter()
        .find(|e| e["subscriptionType"] == "company.creation")
        .unwrap();
    assert_eq!(creation["objectId"], id);
    assert_eq!(creation["changeSource"], "CRM_UI");
    assert_eq!(creation["sourceId"], "userId:123");
    assert_eq!(creation["changeFlag"], "NEW");
    assert_eq!(creation["portalId"], 62515);
    assert_eq!(creation["appId"], 54321);
    assert_eq!(creation["attemptNumber"], 0);
    assert!(creation["eventId"].is_u64() && creation["subscriptionId"].is_u64());
    assert!(creation["occurredAt"].is_i64());
    let city = events
        .iter()
        .find(|e| e["subscriptionType"] == "company.propertyChange" && e["propertyName"] == "city")
        .unwrap();
    assert_eq!(city["propertyValue"], "Oslo");
    assert_eq!(city["changeSource"], "INTEGRATION");
    assert_eq!(city["sourceId"], "54321");
    assert_eq!(sandbox.stats().webhook_requests_failed, 0);
}

fn chrono_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn failed_deliveries_are_retried_with_a_growing_attempt_number() {
    let (receiver, url) = start_receiver(2).await;
    let sandbox = start(SandboxConfig {
        webhook_target: Some(url),
        ..roomy()
    })
    .await;
    Api::new(&sandbox, APP_TOKEN)
        .post(COMPANIES, json!({"properties": {"name": "Retry Co"}}))
        .await;
    wait_until("three attempts", || receiver.bodies().len() >= 3).await;
    let bodies = receiver.bodies();
    let attempts: Vec<&Value> = bodies
        .iter()
        .map(|body| &body[0]["attemptNumber"])
        .collect();
    assert_eq!(attempts, [&json!(0), &json!(1), &json!(2)]);
    // Same events each time.
    assert_eq!(bodies[0][0]["eventId"], bodies[2][0]["eventId"]);
    wait_until("stats", || sandbox.stats().webhook_events_delivered >= 2).await;
    let stats = sandbox.stats();
    assert_eq!(stats.webhook_requests_failed, 2);
    assert_eq!(stats.webhook_requests_sent, 3);
}

#[tokio::test]
async fn unreachable_target_counts_failures() {
    // Bind then drop a listener: the port refuses connections.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let sandbox = start(SandboxConfig {
        webhook_target: Some(format!("http://127.0.0.1:{port}/gone")),
        ..roomy()
    })
    .await;
    Api::new(&sandbox, APP_TOKEN)
        .post(COMPANIES, json!({"properties": {"name": "X"}}))
        .await;
    wait_until("two failed attempts", || {
        sandbox.stats().webhook_requests_failed >= 2
    })
    .await;
    assert_eq!(sandbox.stats().webhook_events_delivered, 0);
}

#[tokio::test]
async fn drop_and_duplicate_faults() {
    let (receiver, url) = start_receiver(0).await;
    let sandbox = start(SandboxConfig {
        webhook_target: Some(url),
        ..roomy()
    })
    .await;
    let api = Api::new(&sandbox, APP_TOKEN);

    sandbox.set_faults(Faults {
        drop_webhooks: 1.0,
        ..Faults::default()
    });
    api.post(COMPANIES, json!({"properties": {"name": "Dropped"}}))
        .await;
    wait_until("drops counted", || {
        sandbox.stats().webhook_events_dropped >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.events().is_empty());

    sandbox.set_faults(Faults {
        duplicate_webhooks: 1.0,
        ..Faults::default()
    });
    let created = api
        .post(COMPANIES, json!({"properties": {"name": "Twice"}}))
        .await;
    let id: u64 = created.body["id"].as_str().unwrap().parse().unwrap();
    wait_until("duplicates", || receiver.events().len() >= 4).await;
    let creations: Vec<Value> = receiver
        .events()
        .into_iter()
        .filter(|e| e["subscriptionType"] == "company.creation" && e["objectId"] == id)
        .collect();
    assert_eq!(creations.len(), 2);
    assert_eq!(creations[0]["eventId"], creations[1]["eventId"]);
    assert_eq!(sandbox.stats().webhook_events_duplicated, 2);
}

#[tokio::test]
async fn many_changes_are_batched_below_one_hundred_per_request() {
    let (receiver, url) = start_receiver(0).await;
    let sandbox = start(SandboxConfig {
        webhook_target: Some(url),
        ..roomy()
    })
    .await;
    let api = Api::new(&sandbox, APP_TOKEN);
    let inputs: Vec<Value> = (0..100)
        .map(|n| json!({"properties": {"name": format!("B{n}")}}))
        .collect();
    api.post(
        &format!("{COMPANIES}/batch/create"),
        json!({"inputs": inputs}),
    )
    .await;
    // 100 creations + 100 name changes.
    wait_until("200 events", || receiver.events().len() >= 200).await;
    let bodies = receiver.bodies();
    assert!(bodies.len() >= 3);
    assert!(bodies.iter().all(|body| body.len() < 100));
}

#[tokio::test]
async fn merge_archive_and_restore_produce_their_events() {
    let (receiver, url) = start_receiver(0).await;
    let sandbox = start(SandboxConfig {
        webhook_target: Some(url),
        ..roomy()
    })
    .await;
    let api = Api::new(&sandbox, APP_TOKEN);
    let a = api
        .post(COMPANIES, json!({"properties": {"name": "A"}}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = api
        .post(
            COMPANIES,
            json!({"properties": {"name": "B", "city": "Rome"}}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.post(
        &format!("{COMPANIES}/merge"),
        json!({"primaryObjectId": a, "objectIdToMerge": b}),
    )
    .await;
    api.delete(&format!("{COMPANIES}/{a}")).await;
    Api {
        token: None,
        ..api.clone()
    }
    .post(&format!("/_sandbox/companies/{a}/restore"), json!({}))
    .await;
    wait_until("restore", || {
        receiver
            .events()
            .iter()
            .any(|e| e["subscriptionType"] == "company.restore")
    })
    .await;
    let events = receiver.events();
    let a_id: u64 = a.parse().unwrap();
    let b_id: u64 = b.parse().unwrap();
    let merge = events
        .iter()
        .find(|e| e["subscriptionType"] == "company.merge")
        .unwrap();
    assert_eq!(merge["primaryObjectId"], a_id);
    assert_eq!(merge["mergedObjectIds"], json!([b_id]));
    assert_eq!(merge["newObjectId"], a_id);
    assert_eq!(merge["numberOfPropertiesMoved"], 1);
    let mut deletions: Vec<u64> = events
        .iter()
        .filter(|e| e["subscriptionType"] == "company.deletion")
        .map(|e| e["objectId"].as_u64().unwrap())
        .collect();
    // Deliveries of different ticks may overtake each other, as HubSpot's do.
    deletions.sort_unstable();
    assert_eq!(deletions, [a_id.min(b_id), a_id.max(b_id)]);
    let restore = events
        .iter()
        .find(|e| e["subscriptionType"] == "company.restore")
        .unwrap();
    assert_eq!(restore["changeSource"], "CRM_UI");
}

#[tokio::test]
async fn webhook_target_can_be_set_and_cleared_over_http() {
    let (receiver, url) = start_receiver(0).await;
    let sandbox = start(roomy()).await;
    let api = Api::new(&sandbox, APP_TOKEN);
    let control = Api {
        token: None,
        ..api.clone()
    };
    api.post(COMPANIES, json!({"properties": {"name": "Unheard"}}))
        .await;
    wait_until("discard", || {
        sandbox.stats().webhook_events_discarded_no_target >= 2
    })
    .await;
    let set = control
        .call(
            reqwest::Method::PUT,
            "/_sandbox/webhook-target",
            Some(json!({"url": url})),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK);
    api.post(COMPANIES, json!({"properties": {"name": "Heard"}}))
        .await;
    wait_until("delivery", || receiver.events().len() >= 2).await;
    assert!(
        receiver
            .events()
            .iter()
            .all(|e| e["propertyValue"] != "Unheard")
    );
    let cleared = control
        .call(
            reqwest::Method::PUT,
            "/_sandbox/webhook-target",
            Some(json!({"url": null})),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::OK);
    assert_eq!(
        control.get("/_sandbox/webhook-target").await.body["url"],
        Value::Null
    );
}

#[tokio::test]
async fn contact_changes_arrive_as_contact_events_with_their_own_subscriptions() {
    let (receiver, url) = start_receiver(0).await;
    let sandbox = start(SandboxConfig {
        webhook_target: Some(url),
        ..roomy()
    })
    .await;
    let user = Api::new(&sandbox, USER_TOKEN);
    let company = user
        .post(COMPANIES, json!({"properties": {"name": "Co"}}))
        .await;
    let contact = user
        .post(
            "/crm/objects/2026-09/contacts",
            json!({"properties": {"email": "ops@co.test"}}),
        )
        .await;
    let contact_id: u64 = contact.body["id"].as_str().unwrap().parse().unwrap();
    let company_id: u64 = company.body["id"].as_str().unwrap().parse().unwrap();
    wait_until("both records' events", || receiver.events().len() >= 4).await;

    let events = receiver.events();
    let of = |kind: &str| -> Vec<&Value> {
        events
            .iter()
            .filter(|e| e["subscriptionType"] == kind)
            .collect()
    };
    let contact_created = of("contact.creation");
    assert_eq!(contact_created.len(), 1, "{events:?}");
    assert_eq!(contact_created[0]["objectId"], contact_id);
    let change = of("contact.propertyChange");
    assert_eq!(change[0]["propertyName"], "email");
    assert_eq!(change[0]["propertyValue"], "ops@co.test");
    let company_created = of("company.creation");
    assert_eq!(company_created[0]["objectId"], company_id);
    assert_ne!(
        company_created[0]["subscriptionId"],
        contact_created[0]["subscriptionId"]
    );
    let mut ids: Vec<u64> = events
        .iter()
        .map(|e| e["eventId"].as_u64().unwrap())
        .collect();
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count, "event ids repeat across object types");
}

#[tokio::test]
async fn association_changes_and_privacy_deletions_arrive_as_contact_events() {
    let (receiver, url) = start_receiver(0).await;
    let sandbox = start(SandboxConfig {
        webhook_target: Some(url),
        ..roomy()
    })
    .await;
    let user = Api::new(&sandbox, USER_TOKEN);
    let company = user
        .post(COMPANIES, json!({"properties": {"name": "Co"}}))
        .await;
    let contact = user
        .post(
            "/crm/v3/objects/contacts",
            json!({"properties": {"email": "ops@co.test"}}),
        )
        .await;
    let company_id: u64 = company.body["id"].as_str().unwrap().parse().unwrap();
    let contact_id: u64 = contact.body["id"].as_str().unwrap().parse().unwrap();
    // A primary association made from the company's side, then every association removed.
    let labeled = user
        .call(
            reqwest::Method::PUT,
            &format!("/crm/v4/objects/companies/{company_id}/associations/contacts/{contact_id}"),
            Some(json!([{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 2}])),
        )
        .await;
    assert_eq!(labeled.status, StatusCode::CREATED, "{}", labeled.body);
    let removed = user
        .delete(&format!(
            "/crm/v4/objects/contacts/{contact_id}/associations/companies/{company_id}"
        ))
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let gdpr = user
        .post(
            "/crm/objects/2026-09/contacts/gdpr-delete",
            json!({"objectId": "ops@co.test", "idProperty": "email"}),
        )
        .await;
    assert_eq!(gdpr.status, StatusCode::NO_CONTENT, "{}", gdpr.body);
    assert_eq!(
        user.get(&format!("/crm/v3/objects/contacts/{contact_id}"))
            .await
            .status,
        StatusCode::NOT_FOUND,
        "deleted for good"
    );
    let of = |kind: &'static str| {
        let receiver = receiver.clone();
        move || {
            receiver
                .events()
                .into_iter()
                .filter(|e| e["subscriptionType"] == kind)
                .collect::<Vec<_>>()
        }
    };
    wait_until("association and privacy events", || {
        of("contact.associationChange")().len() >= 2 && !of("contact.privacyDeletion")().is_empty()
    })
    .await;
    let changes = of("contact.associationChange")();
    assert!(changes.iter().all(|e| e["objectId"] == contact_id
        && e["fromObjectId"] == contact_id
        && e["toObjectId"] == company_id
        && e["associationType"] == "CONTACT_TO_COMPANY"));
    assert_eq!(changes[0]["associationRemoved"], false);
    assert_eq!(changes[0]["isPrimaryAssociation"], true);
    assert_eq!(changes[1]["associationRemoved"], true);
    let privacy = of("contact.privacyDeletion")();
    assert_eq!(privacy[0]["objectId"], contact_id);
}
