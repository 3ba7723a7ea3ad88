//! The sandbox's Webhooks Journal over HTTP, against HubSpot's 2026-03 spec: the app's
//! client-credentials token with the journal scopes (a portal's token is refused), per-portal
//! subscriptions, entries read from the earliest or after an offset, pre-signed files fetched
//! without a token, and an expired offset answering 404.

mod common;

use common::{Api, start};
use hubspot_sandbox::{Faults, SandboxConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SPEC: &str = "webhooks-journal-2026-03.json";
const LOCAL: &str = "/webhooks-journal/journal-local/2026-03";

/// A client-credentials token of the sandbox's app with `scope`.
async fn app_token(base: &str, scope: &str) -> String {
    let answer: Value = reqwest::Client::new()
        .post(format!("{base}/oauth/v1/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            serde_urlencoded::to_string([
                ("grant_type", "client_credentials"),
                ("client_id", "sandbox-client-id"),
                ("client_secret", "sandbox-client-secret"),
                ("scope", scope),
            ])
            .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["token_type"], "bearer", "{answer}");
    assert!(answer.get("refresh_token").is_none(), "{answer}");
    answer["access_token"].as_str().unwrap().to_owned()
}

/// Waits until the sandbox has journaled more events than `before` (the dispatcher writes the
/// journal every 100 ms; under load a tick comes late).
async fn journaled_past(sandbox: &hubspot_sandbox::SandboxHandle, before: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while sandbox.stats().journal_events_written <= before {
        assert!(
            std::time::Instant::now() < deadline,
            "the sandbox journaled nothing"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn conforms(path: &str, method: &str, body: &Value) {
    let spec = common::spec(SPEC);
    let schema = common::response_schema(&spec, path, method, 200);
    let errors = common::schema_errors(&spec, &schema, body, "$");
    assert!(errors.is_empty(), "{path}: {errors:?}\n{body}");
}

#[tokio::test]
async fn the_journal_keeps_subscribed_events_in_order_behind_signed_links_until_they_expire() {
    let sandbox = start(SandboxConfig {
        // Push is lost entirely: the journal still has every event.
        faults: Faults {
            drop_webhooks: 1.0,
            ..Faults::default()
        },
        ..common::roomy()
    })
    .await;
    let base = sandbox.base_url();
    let portal = sandbox.state().portal_id;
    let crm = Api::new(&sandbox, common::APP_TOKEN);
    let journal = Api::new(
        &sandbox,
        &app_token(
            &base,
            "developer.webhooks_journal.read developer.webhooks_journal.subscriptions.write",
        )
        .await,
    );

    // Who may call: the app's own token with the scope; a portal's token, none, or a token
    // without the scope may not.
    assert_eq!(
        crm.get(&format!("{LOCAL}/batch/earliest/10")).await.status,
        StatusCode::UNAUTHORIZED
    );
    let reader_only = Api::new(
        &sandbox,
        &app_token(&base, "developer.webhooks_journal.read").await,
    );
    let refused = reader_only
        .post(
            "/webhooks-journal/subscriptions/2026-03",
            json!({"subscriptionType": "OBJECT", "portalId": portal, "objectTypeId": "0-2",
                   "actions": ["UPDATE"], "properties": [], "objectIds": []}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(refused.body["category"], "MISSING_SCOPES");

    // Nothing is journaled before a subscription covers it.
    crm.post(
        "/crm/v3/objects/companies",
        json!({"properties": {"name": "Before"}}),
    )
    .await;
    // Journaled (or not) at the dispatcher's next tick, 100 ms.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let subscription = journal
        .post(
            "/webhooks-journal/subscriptions/2026-03",
            json!({"subscriptionType": "OBJECT", "portalId": portal, "objectTypeId": "0-2",
                   "actions": ["CREATE", "UPDATE"], "properties": [], "objectIds": []}),
        )
        .await;
    assert_eq!(subscription.status, StatusCode::OK, "{}", subscription.body);
    conforms(
        "/webhooks-journal/subscriptions/2026-03",
        "post",
        &subscription.body,
    );
    let listed = journal.get("/webhooks-journal/subscriptions/2026-03").await;
    conforms(
        "/webhooks-journal/subscriptions/2026-03",
        "get",
        &listed.body,
    );
    assert_eq!(listed.body["results"].as_array().unwrap().len(), 1);

    let written = sandbox.stats().journal_events_written;
    let created = crm
        .post(
            "/crm/v3/objects/companies",
            json!({"properties": {"name": "After"}}),
        )
        .await;
    let company_id = created.body["id"].as_str().unwrap().to_owned();
    journaled_past(&sandbox, written).await;
    let earliest = journal
        .get(&format!(
            "{LOCAL}/batch/earliest/10?installPortalId={portal}"
        ))
        .await;
    assert_eq!(earliest.status, StatusCode::OK, "{}", earliest.body);
    conforms(
        "/webhooks-journal/journal-local/2026-03/batch/earliest/{count}",
        "get",
        &earliest.body,
    );
    let entries = earliest.body["results"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{}", earliest.body);
    let offset = entries[0]["currentOffset"].as_str().unwrap().to_owned();
    let url = entries[0]["url"].as_str().unwrap().to_owned();

    // The file: no token, the link is the credential.
    let file: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    assert_eq!(file["offset"], offset.as_str());
    let events = file["journalEvents"].as_array().unwrap();
    let creation = events
        .iter()
        .find(|e| e["action"] == "CREATE")
        .expect("the creation");
    assert_eq!(creation["objectTypeId"], "0-2");
    assert_eq!(creation["objectId"].to_string(), company_id);
    assert_eq!(creation["portalId"], portal);
    assert!(
        events
            .iter()
            .all(|e| e["propertyChanges"]["name"] != "Before"),
        "journaled before it was subscribed"
    );
    let tampered = url.replace("signature=", "signature=00");
    assert_eq!(
        reqwest::get(&tampered).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );

    // After the last entry: nothing yet (an empty batch; 204 for the single read).
    let next = journal
        .get(&format!(
            "{LOCAL}/batch/{offset}/next/10?installPortalId={portal}"
        ))
        .await;
    assert_eq!(
        (next.status, next.body["results"].clone()),
        (StatusCode::OK, json!([]))
    );
    let single = journal
        .get(&format!(
            "{LOCAL}/offset/{offset}/next?installPortalId={portal}"
        ))
        .await;
    assert_eq!(single.status, StatusCode::NO_CONTENT);
    let written = sandbox.stats().journal_events_written;
    crm.patch(
        &format!("/crm/v3/objects/companies/{company_id}"),
        json!({"properties": {"name": "Renamed"}}),
    )
    .await;
    journaled_past(&sandbox, written).await;
    let next = journal
        .get(&format!(
            "{LOCAL}/batch/{offset}/next/10?installPortalId={portal}"
        ))
        .await;
    assert_eq!(
        next.body["results"].as_array().unwrap().len(),
        1,
        "{}",
        next.body
    );
    // Another portal's local journal holds none of it.
    let other = journal
        .get(&format!(
            "{LOCAL}/batch/earliest/10?installPortalId={}",
            portal + 1
        ))
        .await;
    assert_eq!(other.body["results"], json!([]));
    assert_eq!(
        journal
            .get(&format!("{LOCAL}/batch/earliest/0"))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );

    // Past the retention the offset is gone: 404, as HubSpot answers an expired offset.
    let expired: Value = reqwest::Client::new()
        .post(format!("{base}/_sandbox/journal/expire"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(expired["expired"], 2);
    let gone = journal
        .get(&format!(
            "{LOCAL}/batch/{offset}/next/10?installPortalId={portal}"
        ))
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND, "{}", gone.body);
    assert_eq!(gone.body["category"], "OBJECT_NOT_FOUND");
    assert_eq!(
        reqwest::get(&url).await.unwrap().status(),
        StatusCode::NOT_FOUND,
        "the file went with its entry"
    );
    assert_eq!(
        sandbox.stats().webhook_events_delivered,
        0,
        "push lost everything"
    );
    assert!(sandbox.stats().journal_events_written >= 2);
}
