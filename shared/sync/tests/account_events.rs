//! Account and service events on the company timeline (issue 21) through the real parts:
//! Postgres (its trigger records each change, whoever wrote it), the sandbox and the real
//! client. Each event is one note on the customer's company, however often a pass is retried.

use std::time::Duration;

use hubspot_sandbox::{SandboxConfig, SandboxHandle};
use serde_json::json;
use warp_domain::customer::CustomerPatch;
use warp_hubspot::{CrmObject, HubSpotClient, HubSpotId, ReadOptions, RecordLookup};
use warp_store::{CustomerStore, Database, Update, account_events};
use warp_sync::account_events::AccountEventLogger;
use warp_sync::work_items::RetryPolicy;
use warp_testkit::{PORTAL, Sql, hubspot, records};

struct World {
    sandbox: SandboxHandle,
    database: Database,
    home: HubSpotClient,
    store: CustomerStore,
}

async fn world() -> World {
    let sandbox = hubspot::sandbox(SandboxConfig::default()).await;
    let database = warp_testkit::fresh_database().await;
    let home = hubspot::client_with_warp_properties(&sandbox, hubspot::settings(100, 10_000)).await;
    let store = CustomerStore::new(database.clone(), PORTAL);
    World {
        sandbox,
        database,
        home,
        store,
    }
}

impl World {
    fn logger(&self, max_attempts: i32) -> AccountEventLogger {
        AccountEventLogger::new(self.database.clone(), self.home.clone(), PORTAL).with_retry(
            RetryPolicy {
                max_attempts,
                base: Duration::from_millis(1),
            },
        )
    }

    /// A customer linked to a company made in the sandbox; its id and the company's.
    async fn linked_customer(&self, name: &str) -> (uuid::Uuid, String) {
        records::linked_customer(&self.store, &self.database, &self.home, name).await
    }

    async fn patch(&self, customer: uuid::Uuid, body: serde_json::Value) {
        let patch = CustomerPatch::from_json(&body).unwrap();
        self.store
            .update(customer, None, &Update::Patch(patch))
            .await
            .unwrap();
    }

    async fn note_body(&self, note: &str) -> String {
        self.home
            .objects(CrmObject::Notes)
            .get(
                &RecordLookup::Id(HubSpotId::parse(note.to_owned()).unwrap()),
                &ReadOptions::properties(["hs_note_body"]),
            )
            .await
            .unwrap()
            .unwrap()
            .property("hs_note_body")
            .unwrap()
            .to_owned()
    }

    async fn company_notes(&self, company: &str) -> Vec<String> {
        let read = self
            .home
            .associations(CrmObject::Companies, CrmObject::Notes)
            .batch_read(&[HubSpotId::parse(company.to_owned()).unwrap()])
            .await;
        let mut notes: Vec<String> = read
            .results
            .iter()
            .flat_map(|links| links.to.iter().map(|link| link.to_object_id.clone()))
            .collect();
        notes.sort();
        notes
    }
}

#[tokio::test]
async fn every_change_by_the_api_or_by_sql_is_one_note_on_the_company_however_often_retried() {
    let world = world().await;
    let (customer, company) = world.linked_customer("Events Corp").await;
    // The API suspends; the billing system raises the limit and reactivates in its own SQL; a
    // rename is no account event.
    world.patch(customer, json!({"status": "SUSPENDED"})).await;
    world
        .database
        .execute(&format!(
            "UPDATE customers SET credit_limit = 9000 WHERE id = '{customer}'"
        ))
        .await;
    world
        .database
        .execute(&format!(
            "UPDATE customers SET status = 'ACTIVE' WHERE id = '{customer}'"
        ))
        .await;
    world
        .patch(customer, json!({"company_name": "Events Corp Renamed"}))
        .await;
    world
        .patch(customer, json!({"services": {"voice": {"enabled": true}}}))
        .await;
    let events = account_events::of_customer(&world.database, customer)
        .await
        .unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "suspended",
            "credit_limit_changed",
            "reactivated",
            "services_changed"
        ]
    );

    let logger = world.logger(8);
    let report = logger.log_due(100).await.unwrap();
    assert_eq!(report.logged, 4, "{report:?}");
    let events = account_events::of_customer(&world.database, customer)
        .await
        .unwrap();
    let notes: Vec<String> = events.iter().map(|e| e.note_id.clone().unwrap()).collect();
    let mut sorted = notes.clone();
    sorted.sort();
    assert_eq!(
        world.company_notes(&company).await,
        sorted,
        "each on the company"
    );
    let ban: String = world
        .database
        .text(&format!(
            "SELECT ban FROM customers WHERE id = '{customer}'"
        ))
        .await
        .unwrap();
    assert_eq!(
        world.note_body(&notes[0]).await,
        format!("WARP billing account <b>{ban}</b> suspended (was ACTIVE).")
    );
    assert_eq!(
        world.note_body(&notes[1]).await,
        format!("WARP billing account <b>{ban}</b>: credit limit changed from 2500.00 to 9000.00.")
    );
    assert!(world.note_body(&notes[3]).await.contains("voice enabled"));

    // A pass that died after HubSpot had the notes: the retry upserts the same ones.
    world
        .database
        .execute(
            "UPDATE account_events SET status = 'pending', next_attempt_at = now(), note_id = NULL",
        )
        .await;
    assert_eq!(logger.log_due(100).await.unwrap().logged, 4);
    let again = account_events::of_customer(&world.database, customer)
        .await
        .unwrap();
    let renoted: Vec<String> = again.iter().map(|e| e.note_id.clone().unwrap()).collect();
    assert_eq!(renoted, notes);
    assert_eq!(
        hubspot::records_in(&world.sandbox, PORTAL, "notes").await,
        4
    );
}

#[tokio::test]
async fn an_event_waits_for_the_customers_company_then_is_skipped_with_the_reason() {
    let world = world().await;
    let customer = records::create_customer(&world.store, &records::customer_body("Unlinked"))
        .await
        .id;
    world.patch(customer, json!({"status": "CLOSED"})).await;
    let logger = world.logger(2);

    let first = logger.log_due(100).await.unwrap();
    assert_eq!((first.retrying, first.skipped), (1, 0), "{first:?}");
    let waiting = &account_events::of_customer(&world.database, customer)
        .await
        .unwrap()[0];
    assert_eq!(waiting.status, "pending");
    assert_eq!(
        waiting.reason.as_deref(),
        Some("waiting for the customer's HubSpot company")
    );

    world
        .database
        .execute("UPDATE account_events SET next_attempt_at = now()")
        .await;
    let second = logger.log_due(100).await.unwrap();
    assert_eq!(second.skipped, 1, "{second:?}");
    let skipped = &account_events::of_customer(&world.database, customer)
        .await
        .unwrap()[0];
    assert_eq!(
        (skipped.kind.as_str(), skipped.status.as_str()),
        ("closed", "skipped")
    );
    assert_eq!(
        hubspot::records_in(&world.sandbox, PORTAL, "notes").await,
        0
    );
}

/// The home portal's custom-event occurrences on `company` (HubSpot's events API).
async fn occurrences_on(sandbox: &SandboxHandle, company: &str) -> Vec<serde_json::Value> {
    let answer: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{}/events/event-occurrences/2026-09?objectType=company&objectId={company}",
            sandbox.base_url()
        ))
        .bearer_auth("sandbox-app-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["results"].as_array().cloned().unwrap_or_default()
}

async fn set_enterprise(sandbox: &SandboxHandle, enterprise: bool) {
    let answer = reqwest::Client::new()
        .post(format!("{}/_sandbox/portals", sandbox.base_url()))
        .json(&json!({"portal_id": PORTAL, "enterprise": enterprise}))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success());
}

#[tokio::test]
async fn an_enterprise_portal_gets_custom_events_once_each_and_another_gets_notes() {
    let world = world().await;
    set_enterprise(&world.sandbox, true).await;
    let (customer, company) = world.linked_customer("Enterprise Corp").await;
    world.patch(customer, json!({"status": "SUSPENDED"})).await;
    world
        .database
        .execute(&format!(
            "UPDATE customers SET credit_limit = 9000 WHERE id = '{customer}'"
        ))
        .await;
    let logger = world.logger(8).with_custom_events(true);
    assert_eq!(logger.log_due(100).await.unwrap().logged, 2);
    let sent = occurrences_on(&world.sandbox, &company).await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(
        sent[0]["eventType"],
        format!("pe{PORTAL}_warp_account_event")
    );
    assert_eq!(sent[0]["properties"]["warp_kind"], "suspended");
    let summary = sent[1]["properties"]["warp_summary"].as_str().unwrap();
    assert!(
        summary.ends_with("credit limit changed from 2500.00 to 9000.00."),
        "{summary}"
    );
    assert_eq!(
        hubspot::records_in(&world.sandbox, PORTAL, "notes").await,
        0,
        "events, not notes"
    );
    // A send retried after HubSpot had it (its uuid is the event's id) records nothing again,
    // and a second logger finds the definition made by the first.
    world
        .database
        .execute("UPDATE account_events SET status = 'pending', next_attempt_at = now()")
        .await;
    let another = world.logger(8).with_custom_events(true);
    assert_eq!(another.log_due(100).await.unwrap().logged, 2);
    assert_eq!(occurrences_on(&world.sandbox, &company).await.len(), 2);

    // Without Enterprise (HubSpot's 403), the same setting writes notes.
    set_enterprise(&world.sandbox, false).await;
    world.patch(customer, json!({"status": "ACTIVE"})).await;
    let plain = world.logger(8).with_custom_events(true);
    assert_eq!(plain.log_due(100).await.unwrap().logged, 1);
    assert_eq!(
        hubspot::records_in(&world.sandbox, PORTAL, "notes").await,
        1
    );
}
