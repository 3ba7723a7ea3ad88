//! Inbound processing end to end: real Postgres (a fresh database per test), the webhook
//! router on a loopback port, the real HubSpot sandbox delivering signed webhooks (or
//! hand-signed deliveries for exact `occurredAt` control), then the processor.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use hubspot_sandbox::{Faults, SandboxConfig, SandboxHandle};
use secrecy::SecretString;
use serde_json::{Value, json};
use uuid::Uuid;
use warp_domain::customer::{CompanyName, Customer, CustomerPatch, CustomerType, NewCustomer};
use warp_domain::sync::{FieldChange, ObjectType, WarpField, customer_field_values, outbound_diff};
use warp_hubspot::{HubSpotClient, HubSpotId, RateLimitSettings, ensure_warp_properties};
use warp_store::field_state::{self, Side, hubspot_known_values};
use warp_store::sync_config::MappingSource;
use warp_store::{Created, CustomerStore, Database, Update};
use warp_testkit::{HubSpotUi, PORTAL, USER_TOKEN, hubspot};
use warp_webhook::{
    InboundProcessor, InboundReport, PublicUrl, WebhookConfig, WebhookState, router,
};

const SECRET: &str = "test-webhook-secret";
const COMPANIES: &str = "/crm/v3/objects/companies";
const JWT_SECRET: &str = "inbound-test-jwt-secret";

/// WARP's client for the sandbox, with HubSpot's default limits.
fn hubspot_client(sandbox: &SandboxHandle) -> HubSpotClient {
    hubspot::client(&hubspot::client_config(
        sandbox,
        RateLimitSettings::default(),
    ))
}

struct World {
    database: Database,
    receiver: String,
    sandbox: SandboxHandle,
    hubspot: HubSpotClient,
    processor: InboundProcessor,
    customers: CustomerStore,
    http: reqwest::Client,
    /// A person in HubSpot's UI.
    ui: HubSpotUi,
}

async fn world() -> World {
    world_with_kick(None).await
}

async fn world_with_kick(kick: Option<Arc<tokio::sync::Notify>>) -> World {
    world_with(kick, false).await
}

/// `inline`: the receiver applies what it stored before answering, as the Lambda does.
async fn world_with(kick: Option<Arc<tokio::sync::Notify>>, inline: bool) -> World {
    let database = warp_testkit::fresh_database().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver = format!("http://{}", listener.local_addr().unwrap());
    // The sandbox signs the URL it calls: the receiver's own.
    let mut state = WebhookState::new(
        WebhookConfig::new(
            SecretString::from(SECRET),
            PublicUrl::parse(&receiver).unwrap(),
        ),
        database.clone(),
    );
    if let Some(kick) = kick {
        state = state.with_processing_kick(kick);
    }
    if inline {
        let processor = InboundProcessor {
            database: database.clone(),
            hubspot: None,
            map: MappingSource::read_every_time(database.clone(), PORTAL)
                .await
                .unwrap(),
            portal_id: PORTAL,
        };
        state = state.with_inline_processing(Arc::new(processor), Duration::from_secs(2));
    }
    let app = router(state);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let sandbox = hubspot::sandbox(SandboxConfig {
        webhook_secret: SECRET.to_owned(),
        webhook_target: Some(format!("{receiver}/webhooks/hubspot")),
        ..SandboxConfig::default()
    })
    .await;
    let hubspot = hubspot_client(&sandbox);
    ensure_warp_properties(&hubspot).await.unwrap();
    let processor = InboundProcessor {
        database: database.clone(),
        hubspot: Some(hubspot_client(&sandbox)),
        map: MappingSource::read_every_time(database.clone(), PORTAL)
            .await
            .unwrap(),
        portal_id: PORTAL,
    };
    World {
        customers: CustomerStore::new(database.clone(), PORTAL),
        ui: HubSpotUi::new(&sandbox),
        database,
        receiver,
        sandbox,
        hubspot,
        processor,
        http: reqwest::Client::new(),
    }
}

impl World {
    /// A customer and its company, linked as the outbound worker leaves them: the company
    /// holds WARP's values and they are recorded as HubSpot's known values.
    async fn linked_customer(&self, name: &str) -> (Customer, String) {
        let mut new = NewCustomer::new(CompanyName::parse(name).unwrap(), CustomerType::Postpaid);
        new.credit_limit = warp_domain::customer::CreditLimit::new(
            warp_domain::customer::Money::parse("1000.00").unwrap(),
        )
        .unwrap();
        let Created::New(written, _) = self.customers.create(&new, None).await.unwrap() else {
            panic!("not created");
        };
        let customer = written.value;
        let values = customer_field_values(&customer);
        let properties: BTreeMap<String, String> =
            warp_domain::sync::full_push(&self.processor.map.current(), &values)
                .into_iter()
                .filter_map(|change| Some((change.hubspot_property, change.value?)))
                .collect();
        let company = self.hubspot.companies().create(&properties).await.unwrap();
        let company_id = company.id.as_str().to_owned();
        let client = self.database.client().await.unwrap();
        client
            .execute(
                "UPDATE customers SET external_ids = jsonb_build_object('hubspot_company_id', $2::text) WHERE id = $1",
                &[&customer.id, &company_id],
            )
            .await
            .unwrap();
        let pg: &tokio_postgres::Client = &client;
        field_state::record(
            pg,
            PORTAL,
            ObjectType::Companies,
            customer.id,
            Side::HubSpot,
            &values,
            Utc::now(),
        )
        .await
        .unwrap();
        self.settle().await;
        (self.customers.get(customer.id).await.unwrap(), company_id)
    }

    async fn event_count(&self) -> i64 {
        common::event_count(&self.database).await
    }

    /// Waits until deliveries stop arriving, then processes everything pending.
    async fn settle(&self) -> InboundReport {
        common::settle(&self.database, &self.processor, 100).await
    }

    /// A person creates a contact in HubSpot's UI and associates it with the company; returns
    /// the contact's id.
    async fn ui_contact_of_company(&self, company_id: &str, properties: Value) -> String {
        let contact = self.ui.create("contacts", properties).await;
        self.ui.associate(&contact, company_id).await;
        contact
    }

    async fn user_patch(&self, company_id: &str, properties: Value) {
        self.ui.update("companies", company_id, properties).await;
    }

    async fn warp_patch(&self, id: Uuid, patch: Value) -> Customer {
        let patch = CustomerPatch::from_json(&patch).unwrap();
        self.customers
            .update(id, None, &Update::Patch(patch))
            .await
            .unwrap()
            .value
    }

    /// The outbound diff for the customer, computed with the domain functions.
    async fn outbound_diff(&self, customer: &Customer) -> Vec<FieldChange> {
        let client = self.database.client().await.unwrap();
        let pg: &tokio_postgres::Client = &client;
        let states = field_state::load(pg, PORTAL, ObjectType::Companies, &[customer.id])
            .await
            .unwrap();
        let known = states
            .get(&customer.id)
            .map(hubspot_known_values)
            .unwrap_or_default();
        outbound_diff(
            &self.processor.map.current(),
            &customer_field_values(customer),
            &known,
        )
    }

    async fn field_state(&self, customer: Uuid, field: WarpField) -> warp_domain::sync::FieldState {
        let client = self.database.client().await.unwrap();
        let pg: &tokio_postgres::Client = &client;
        field_state::load(pg, PORTAL, ObjectType::Companies, &[customer])
            .await
            .unwrap()
            .remove(&customer)
            .and_then(|mut states| states.remove(&field))
            .unwrap_or_default()
    }

    /// (status, error) of the sync-log rows for this customer and field, oldest first.
    async fn log(&self, customer: Uuid, field: &str) -> Vec<(String, Option<String>)> {
        let client = self.database.client().await.unwrap();
        client
            .query(
                "SELECT status, error FROM hubspot_sync_log WHERE local_id = $1 AND direction = 'INBOUND' \
                 AND $2 = ANY(fields_synced) ORDER BY id",
                &[&customer, &field],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect()
    }

    async fn push_backs(&self, customer: Uuid) -> i64 {
        let client = self.database.client().await.unwrap();
        client
            .query_one(
                "SELECT count(*) FROM hubspot_sync_queue WHERE local_id = $1 AND operation = 'PUSH_BACK' \
                 AND direction = 'OUTBOUND' AND status = 'PENDING'",
                &[&customer],
            )
            .await
            .unwrap()
            .get(0)
    }

    /// Posts hand-made events, v3-signed, to the receiver.
    async fn deliver(&self, events: &[Value]) {
        common::deliver(&self.http, &self.receiver, SECRET, events).await;
    }

    async fn event_status(&self, event_id: i64) -> (String, Option<String>) {
        let client = self.database.client().await.unwrap();
        let row = client
            .query_one(
                "SELECT status, error FROM hubspot_webhook_events WHERE event_id = $1",
                &[&event_id],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    }

    async fn external_ids(&self, customer: Uuid) -> Value {
        let client = self.database.client().await.unwrap();
        client
            .query_one(
                "SELECT external_ids FROM customers WHERE id = $1",
                &[&customer],
            )
            .await
            .unwrap()
            .get(0)
    }
}

fn name_event(
    event_id: i64,
    company_id: &str,
    value: &str,
    at: DateTime<Utc>,
    source: &str,
) -> Value {
    json!({
        "eventId": event_id, "subscriptionId": 1_000_003, "portalId": PORTAL, "appId": 54321,
        "occurredAt": at.timestamp_millis(), "subscriptionType": "company.propertyChange",
        "attemptNumber": 0, "objectId": company_id.parse::<i64>().unwrap(), "changeSource": source,
        "propertyName": "name", "propertyValue": value,
    })
}

/// Writes the app (our worker) made to the sandbox: any non-read call with the app's token.
fn app_writes(stats: &hubspot_sandbox::Stats) -> u64 {
    stats
        .requests_by_route_and_token
        .iter()
        .filter(|(route, _)| {
            ["app POST ", "app PATCH ", "app PUT ", "app DELETE "]
                .iter()
                .any(|prefix| route.starts_with(prefix))
                && !route.ends_with("/search")
                && !route.ends_with("/batch/read")
        })
        .map(|(_, count)| count)
        .sum()
}

#[tokio::test]
async fn ui_edit_of_a_latest_wins_field_is_applied_once_and_leaves_no_outbound_diff() {
    let world = world().await;
    let (customer, company_id) = world.linked_customer("Acme Telecom").await;
    // The real outbound worker, as `warp dev` and the sync-worker Lambda run it.
    let worker = warp_sync::outbound::OutboundWorker::new(
        world.database.clone(),
        world.hubspot.clone(),
        PORTAL,
        warp_store::sync_config::MappingSource::read_every_time(world.database.clone(), PORTAL)
            .await
            .unwrap(),
    );
    worker.process_due(100).await.unwrap();
    world.sandbox.set_faults(Faults {
        duplicate_webhooks: 1.0,
        ..Faults::default()
    });
    // More than a second after WARP created the name: LATEST_WINS can order the two.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    world
        .user_patch(&company_id, json!({"name": "Acme Renamed"}))
        .await;
    let report = world.settle().await;
    assert_eq!(report.applied, 1, "{report:?}");
    // More duplicate deliveries and more runs change nothing more.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let again = world.settle().await;
    assert_eq!(again.applied, 0, "{again:?}");
    assert!(world.sandbox.stats().webhook_events_duplicated > 0);

    let after = world.customers.get(customer.id).await.unwrap();
    assert_eq!(after.company_name.as_str(), "Acme Renamed");
    assert_eq!(after.version, customer.version + 1);
    let state = world.field_state(customer.id, WarpField::CompanyName).await;
    assert_eq!(state.warp_value.as_deref(), Some("Acme Renamed"));
    assert_eq!(state.hubspot_value.as_deref(), Some("Acme Renamed"));
    assert!(world.outbound_diff(&after).await.is_empty());
    let log = world.log(customer.id, "company_name").await;
    assert_eq!(
        log.iter().filter(|(status, _)| status == "SUCCESS").count(),
        1,
        "{log:?}"
    );
    assert_eq!(world.push_backs(customer.id).await, 0);

    // The worker runs and sends nothing back: the sandbox counted no write of the app's.
    let writes_before = app_writes(&world.sandbox.stats());
    let report = worker.process_due(100).await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(
        app_writes(&world.sandbox.stats()),
        writes_before,
        "echoed back"
    );
    // The counter does move when WARP itself changes something.
    world
        .warp_patch(customer.id, json!({"company_name": "Acme Renamed Again"}))
        .await;
    worker.process_due(100).await.unwrap();
    assert!(app_writes(&world.sandbox.stats()) > writes_before);
}

#[tokio::test]
async fn hubspot_wins_credit_limit_applies_over_a_newer_warp_change_and_invalid_values_are_pushed_back()
 {
    let world = world().await;
    let (customer, company_id) = world.linked_customer("Credit Co").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // WARP changes the field, then HubSpot's older-or-newer edit wins anyway.
    world
        .warp_patch(customer.id, json!({"credit_limit": "900.00"}))
        .await;
    world
        .user_patch(&company_id, json!({"warp_credit_limit": "2500"}))
        .await;
    let report = world.settle().await;
    assert_eq!(report.applied, 1, "{report:?}");
    let after = world.customers.get(customer.id).await.unwrap();
    assert_eq!(after.credit_limit.to_string(), "2500.00");
    let diff = world.outbound_diff(&after).await;
    assert!(
        diff.iter().all(|c| c.field != WarpField::CreditLimit),
        "{diff:?}"
    );

    // A negative credit limit typed in HubSpot is not applied: FAILED, pushed back.
    world
        .user_patch(&company_id, json!({"warp_credit_limit": "-100"}))
        .await;
    let report = world.settle().await;
    assert_eq!(report.invalid_values, 1, "{report:?}");
    let after = world.customers.get(customer.id).await.unwrap();
    assert_eq!(after.credit_limit.to_string(), "2500.00");
    let log = world.log(customer.id, "credit_limit").await;
    let (status, error) = log.last().unwrap();
    assert_eq!(status, "FAILED");
    let error = error.as_deref().unwrap();
    assert!(
        error.contains("credit_limit") && !error.contains("-100"),
        "{error}"
    );
    assert_eq!(world.push_backs(customer.id).await, 1);
    let diff = world.outbound_diff(&after).await;
    assert_eq!(diff.len(), 1, "{diff:?}");
    assert_eq!(diff[0].field, WarpField::CreditLimit);
    assert_eq!(diff[0].value.as_deref(), Some("2500.00"));
}

#[tokio::test]
async fn warp_wins_status_edited_in_hubspot_is_overridden_and_pushed_back() {
    let world = world().await;
    let (customer, company_id) = world.linked_customer("Status Co").await;
    world
        .user_patch(&company_id, json!({"warp_status": "SUSPENDED"}))
        .await;
    let report = world.settle().await;
    assert_eq!(report.overridden, 1, "{report:?}");
    let after = world.customers.get(customer.id).await.unwrap();
    assert_eq!(after.status.as_str(), "ACTIVE");
    assert_eq!(after.version, customer.version);
    assert_eq!(world.push_backs(customer.id).await, 1);
    let log = world.log(customer.id, "status").await;
    assert_eq!(log.last().unwrap().0, "OVERRIDDEN");
    let diff = world.outbound_diff(&after).await;
    assert_eq!(diff.len(), 1, "{diff:?}");
    assert_eq!(diff[0].field, WarpField::Status);
    assert_eq!(diff[0].hubspot_property, "warp_status");
    assert_eq!(diff[0].value.as_deref(), Some("ACTIVE"));

    // The real outbound worker restores WARP's status in HubSpot.
    let worker = warp_sync::outbound::OutboundWorker::new(
        world.database.clone(),
        world.hubspot.clone(),
        PORTAL,
        warp_store::sync_config::MappingSource::read_every_time(world.database.clone(), PORTAL)
            .await
            .unwrap(),
    );
    let pushed = worker.process_due(100).await.unwrap();
    assert!(pushed.failed.is_empty(), "{pushed:?}");
    let company = world
        .hubspot
        .companies()
        .get(
            &warp_hubspot::RecordLookup::Id(company_id.parse::<u64>().unwrap().into()),
            &warp_hubspot::ReadOptions::properties(["warp_status".to_owned()]),
        )
        .await
        .unwrap()
        .expect("the company exists");
    assert_eq!(company.property("warp_status"), Some("ACTIVE"));
    assert!(world.outbound_diff(&after).await.is_empty());
}

#[tokio::test]
async fn an_older_event_after_a_newer_one_is_stale_and_our_own_write_is_an_echo() {
    let world = world().await;
    let (customer, company_id) = world.linked_customer("Order Co").await;
    let base = Utc::now() + TimeDelta::seconds(5);
    world
        .deliver(&[name_event(
            9_001,
            &company_id,
            "Newer",
            base + TimeDelta::seconds(2),
            "CRM_UI",
        )])
        .await;
    world.processor.process_pending(100).await.unwrap();
    world
        .deliver(&[name_event(
            9_002,
            &company_id,
            "Older",
            base + TimeDelta::seconds(1),
            "CRM_UI",
        )])
        .await;
    let report = world.processor.process_pending(100).await.unwrap();
    assert_eq!(report.stale, 1, "{report:?}");
    let after = world.customers.get(customer.id).await.unwrap();
    assert_eq!(after.company_name.as_str(), "Newer");
    assert_eq!(world.event_status(9_002).await.0, "SKIPPED");
    assert_eq!(
        world
            .log(customer.id, "company_name")
            .await
            .last()
            .unwrap()
            .0,
        "SKIPPED"
    );

    // WARP changes the name; the app's own write of it comes back from HubSpot: an echo.
    let changed = world
        .warp_patch(customer.id, json!({"company_name": "Via WARP"}))
        .await;
    world
        .deliver(&[name_event(
            9_003,
            &company_id,
            "Via WARP",
            base + TimeDelta::seconds(10),
            "INTEGRATION",
        )])
        .await;
    let report = world.processor.process_pending(100).await.unwrap();
    assert_eq!(report.echoes, 1, "{report:?}");
    let after = world.customers.get(customer.id).await.unwrap();
    assert_eq!(after.version, changed.version);
    assert_eq!(
        world.event_status(9_003).await,
        ("PROCESSED".to_owned(), Some("echo".to_owned()))
    );
    assert!(world.outbound_diff(&after).await.is_empty());
    assert_eq!(world.push_backs(customer.id).await, 0);
}

async fn api(database: &Database) -> (String, String) {
    common::api(database, JWT_SECRET, "admin").await
}

#[tokio::test]
async fn simultaneous_changes_make_a_conflict_resolved_through_the_api() {
    let world = world().await;
    let (customer, company_id) = world.linked_customer("Conflict Co").await;
    let (api_base, token) = api(&world.database).await;
    let http = &world.http;
    let mut event_id = 7_000;
    // WARP changes the name; HubSpot reports another name within the same second.
    let mut conflict = async |warp_name: &str, hubspot_name: &str| -> Value {
        let changed = world
            .warp_patch(customer.id, json!({"company_name": warp_name}))
            .await;
        event_id += 1;
        world
            .deliver(&[name_event(
                event_id,
                &company_id,
                hubspot_name,
                changed.updated_at + TimeDelta::milliseconds(300),
                "CRM_UI",
            )])
            .await;
        let report = world.processor.process_pending(100).await.unwrap();
        assert_eq!(report.conflicts, 1, "{report:?}");
        let list: Value = http
            .get(format!("{api_base}/v1/sync/conflicts?status=OPEN"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{list}");
        assert_eq!(items[0]["warp_value"], warp_name);
        assert_eq!(items[0]["hubspot_value"], hubspot_name);
        assert!(
            items[0]["warp_changed_at"].is_string() && items[0]["hubspot_changed_at"].is_string()
        );
        items[0].clone()
    };
    let resolve = async |id: &str, body: Value| -> (u16, Value) {
        let answer = http
            .post(format!("{api_base}/v1/sync/conflicts/{id}/resolve"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (
            answer.status().as_u16(),
            answer.json().await.unwrap_or(Value::Null),
        )
    };

    // Nothing was applied or recorded by the conflict itself.
    let first = conflict("W1", "H1").await;
    assert_eq!(
        world
            .customers
            .get(customer.id)
            .await
            .unwrap()
            .company_name
            .as_str(),
        "W1"
    );
    assert_eq!(
        world
            .log(customer.id, "company_name")
            .await
            .last()
            .unwrap()
            .0,
        "CONFLICT"
    );
    let id = first["id"].as_str().unwrap();
    let (status, body) = resolve(id, json!({"winner": "nobody"})).await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["field"], "winner");
    let (status, body) = resolve(id, json!({"winner": "hubspot"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "RESOLVED");
    let after = world.customers.get(customer.id).await.unwrap();
    assert_eq!(after.company_name.as_str(), "H1");
    assert!(world.outbound_diff(&after).await.is_empty());
    // The person's decision is in the audit log with both values.
    let audited: Value = world
        .database
        .client()
        .await
        .unwrap()
        .query_one(
            "SELECT changes FROM audit_log WHERE action = 'resolve_conflict' AND entity_id = $1",
            &[&customer.id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(audited["company_name"], json!({"old": "W1", "new": "H1"}));
    let (status, _) = resolve(id, json!({"winner": "hubspot"})).await;
    assert_eq!(status, 409);
    let (status, _) = resolve(&Uuid::now_v7().to_string(), json!({"winner": "warp"})).await;
    assert_eq!(status, 404);

    // WARP wins: WARP's value stays and is queued for HubSpot.
    let second = conflict("W2", "H2").await;
    let (status, body) = resolve(second["id"].as_str().unwrap(), json!({"winner": "warp"})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["resolution"]["outbox_id"].is_i64(), "{body}");
    let after = world.customers.get(customer.id).await.unwrap();
    assert_eq!(after.company_name.as_str(), "W2");
    let diff = world.outbound_diff(&after).await;
    assert_eq!(diff.len(), 1);
    assert_eq!(diff[0].value.as_deref(), Some("W2"));

    // A chosen value: applied, and queued because HubSpot holds another one.
    let third = conflict("W3", "H3").await;
    let id = third["id"].as_str().unwrap();
    let (status, body) = resolve(id, json!({"value": "   "})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "value");
    let (status, body) = resolve(id, json!({"value": "Chosen Name"})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["resolution"]["outbox_id"].is_i64(), "{body}");
    let after = world.customers.get(customer.id).await.unwrap();
    assert_eq!(after.company_name.as_str(), "Chosen Name");
    let diff = world.outbound_diff(&after).await;
    assert_eq!(diff.len(), 1);
    assert_eq!(diff[0].value.as_deref(), Some("Chosen Name"));
}

#[tokio::test]
async fn deletion_unlinks_restore_relinks_and_merge_relinks_to_the_survivor() {
    let world = world().await;
    let (customer, company_id) = world.linked_customer("Lifecycle Co").await;

    world
        .hubspot
        .companies()
        .archive(&HubSpotId::parse(company_id.clone()).unwrap())
        .await
        .unwrap();
    let report = world.settle().await;
    assert_eq!(report.unlinked, 1, "{report:?}");
    let ids = world.external_ids(customer.id).await;
    assert!(ids.get("hubspot_company_id").is_none(), "{ids}");
    assert_eq!(ids["unlinked_hubspot_company_id"], company_id.as_str());
    // A WARP edit while unlinked keeps the deleted company's id, so a restore can still relink.
    world
        .warp_patch(customer.id, json!({"company_name": "Lifecycle Co Renamed"}))
        .await;
    let ids = world.external_ids(customer.id).await;
    assert_eq!(ids["unlinked_hubspot_company_id"], company_id.as_str());

    world.ui.restore("companies", &company_id).await;
    let report = world.settle().await;
    assert_eq!(report.linked, 1, "{report:?}");
    let ids = world.external_ids(customer.id).await;
    assert_eq!(ids["hubspot_company_id"], company_id.as_str());
    assert!(ids.get("unlinked_hubspot_company_id").is_none(), "{ids}");

    // Merge the linked company into another one: the customer follows the survivor, whose
    // name (newer than WARP's, LATEST_WINS) is read back and applied.
    let survivor = world
        .hubspot
        .companies()
        .create(&BTreeMap::from([(
            "name".to_owned(),
            "Survivor Inc".to_owned(),
        )]))
        .await
        .unwrap();
    world.settle().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    world
        .hubspot
        .companies()
        .merge(&survivor.id, &HubSpotId::parse(company_id.clone()).unwrap())
        .await
        .unwrap();
    let report = world.settle().await;
    assert!(report.linked >= 1, "{report:?}");
    let after = world.customers.get(customer.id).await.unwrap();
    assert_eq!(
        after.external_ids.hubspot_company_id.as_deref(),
        Some(survivor.id.as_str())
    );
    assert_eq!(after.company_name.as_str(), "Survivor Inc");
    let client = world.database.client().await.unwrap();
    let merge_logs: i64 = client
        .query_one(
            "SELECT count(*) FROM hubspot_sync_log WHERE local_id = $1 AND operation = 'MERGE' AND status = 'SUCCESS'",
            &[&customer.id],
        )
        .await
        .unwrap()
        .get(0);
    assert!(merge_logs >= 1);
}

#[tokio::test]
async fn concurrent_processors_never_claim_one_event_twice() {
    let world = world().await;
    let (customer, company_id) = world.linked_customer("Claims Co").await;
    let base = Utc::now() + TimeDelta::seconds(5);
    let events: Vec<Value> = (0..40)
        .map(|i| {
            name_event(
                5_000 + i,
                &company_id,
                &format!("Name {i}"),
                base + TimeDelta::seconds(i),
                "CRM_UI",
            )
        })
        .collect();
    world.deliver(&events).await;
    let other = InboundProcessor {
        database: world.database.clone(),
        hubspot: None,
        map: MappingSource::read_every_time(world.database.clone(), PORTAL)
            .await
            .unwrap(),
        portal_id: PORTAL,
    };
    let mut claimed = 0;
    loop {
        let (a, b) = tokio::join!(world.processor.process_pending(3), other.process_pending(3));
        let (a, b) = (a.unwrap(), b.unwrap());
        claimed += a.claimed + b.claimed;
        if a.claimed + b.claimed == 0 {
            break;
        }
    }
    assert_eq!(claimed, 40);
    let log = world.log(customer.id, "company_name").await;
    let decided = log
        .iter()
        .filter(|(status, _)| status == "SUCCESS" || status == "SKIPPED")
        .count();
    // Each event decided exactly once (applied, or stale when the other processor's newer
    // event went first), and the newest name stands. The +1 is the sandbox's own creation-time
    // name event, older than the known HubSpot state recorded at linking: stale.
    assert_eq!(decided, 40 + 1, "{log:?}");
    let after = world.customers.get(customer.id).await.unwrap();
    assert_eq!(after.company_name.as_str(), "Name 39");
}

#[tokio::test]
async fn the_receivers_kick_starts_processing_without_waiting_for_the_interval() {
    let kick = Arc::new(tokio::sync::Notify::new());
    let world = world_with_kick(Some(Arc::clone(&kick))).await;
    let (customer, company_id) = world.linked_customer("Kick Co").await;
    let processor = Arc::new(InboundProcessor {
        database: world.database.clone(),
        hubspot: None,
        map: MappingSource::read_every_time(world.database.clone(), PORTAL)
            .await
            .unwrap(),
        portal_id: PORTAL,
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(warp_webhook::run_inbound_loop_with_kick(
        processor,
        Duration::from_secs(3600),
        Some(kick),
        async move {
            let _ = stopped.await;
        },
    ));
    // Let the loop finish its first pass and wait on the kick.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let at = Utc::now() + TimeDelta::seconds(5);
    world
        .deliver(&[name_event(6_001, &company_id, "Kicked", at, "CRM_UI")])
        .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = world.customers.get(customer.id).await.unwrap();
        if now.company_name.as_str() == "Kicked" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the kick did not start processing"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn with_inline_processing_the_answer_comes_after_the_event_is_applied() {
    let world = world_with(None, true).await;
    let (customer, company_id) = world.linked_customer("Inline Co").await;
    let at = Utc::now() + TimeDelta::seconds(5);
    world
        .deliver(&[name_event(
            7_001,
            &company_id,
            "Applied Inline",
            at,
            "CRM_UI",
        )])
        .await;
    // No loop runs and nothing waits: the 200 itself means the event was applied.
    let after = world.customers.get(customer.id).await.unwrap();
    assert_eq!(after.company_name.as_str(), "Applied Inline");
    assert_eq!(world.event_status(7_001).await.0, "PROCESSED");
}

fn property_event(
    event_id: i64,
    company_id: &str,
    property: &str,
    value: &str,
    at: DateTime<Utc>,
) -> Value {
    let mut event = name_event(event_id, company_id, value, at, "CRM_UI");
    event["propertyName"] = json!(property);
    event
}

#[tokio::test]
async fn one_claim_of_many_companies_is_decided_in_time_order_with_every_rule() {
    let world = world().await;
    let (a, a_company) = world.linked_customer("Batch A").await;
    let (b, b_company) = world.linked_customer("Batch B").await;
    let (c, c_company) = world.linked_customer("Batch C").await;
    // Whole milliseconds, as HubSpot's occurredAt carries them.
    let base = DateTime::from_timestamp_millis(Utc::now().timestamp_millis() + 5_000).unwrap();
    let at = |seconds| base + TimeDelta::seconds(seconds);
    // Delivered out of order, in one delivery: the claim sorts each company's events by time.
    world
        .deliver(&[
            name_event(7_002, &a_company, "A second", at(2), "CRM_UI"),
            property_event(7_010, &b_company, "warp_credit_limit", "2500.00", at(1)),
            name_event(7_001, &a_company, "A first", at(1), "CRM_UI"),
            property_event(7_011, &b_company, "warp_status", "SUSPENDED", at(1)),
            property_event(7_020, &c_company, "warp_credit_limit", "-5", at(1)),
            name_event(7_030, "987654321", "Nobody's", at(1), "CRM_UI"),
        ])
        .await;
    let report = world.processor.process_pending(100).await.unwrap();
    assert_eq!(report.claimed, 6, "{report:?}");
    assert_eq!(report.applied, 3, "{report:?}");
    assert_eq!(report.overridden, 1, "{report:?}");
    assert_eq!(report.invalid_values, 1, "{report:?}");
    assert_eq!(report.skipped, 1, "{report:?}");
    assert_eq!(report.retry_later, 0, "{report:?}");

    let a_after = world.customers.get(a.id).await.unwrap();
    assert_eq!(a_after.company_name.as_str(), "A second");
    assert_eq!(
        a_after.version,
        a.version + 2,
        "each applied change is a version"
    );
    let a_state = world.field_state(a.id, WarpField::CompanyName).await;
    assert_eq!(a_state.hubspot_value.as_deref(), Some("A second"));
    assert_eq!(a_state.hubspot_changed_at, Some(at(2)));
    assert!(world.outbound_diff(&a_after).await.is_empty());

    let b_after = world.customers.get(b.id).await.unwrap();
    assert_eq!(b_after.credit_limit.to_string(), "2500.00");
    assert_eq!(b_after.status.as_str(), "ACTIVE");
    assert_eq!(world.push_backs(b.id).await, 1);

    let c_after = world.customers.get(c.id).await.unwrap();
    assert_eq!(c_after.credit_limit, c.credit_limit);
    assert_eq!(world.push_backs(c.id).await, 1);
    assert_eq!(world.event_status(7_020).await.0, "FAILED");
    // A refused value was pushed back: the event is never tried again by itself.
    let client = world.database.client().await.unwrap();
    let retry: (i32, bool) = client
        .query_one(
            "SELECT attempts, next_attempt_at IS NULL FROM hubspot_webhook_events WHERE event_id = 7020",
            &[],
        )
        .await
        .map(|row| (row.get(0), row.get(1)))
        .unwrap();
    assert_eq!(retry, (0, true));
    assert_eq!(world.event_status(7_030).await.0, "SKIPPED");
    for event in [7_001, 7_002, 7_010, 7_011] {
        assert_eq!(world.event_status(event).await.0, "PROCESSED", "{event}");
    }
    let log = world.log(b.id, "status").await;
    assert_eq!(
        log.last().map(|(status, _)| status.as_str()),
        Some("OVERRIDDEN")
    );
}

fn creation_event(event_id: i64, company_id: &str, at: DateTime<Utc>) -> Value {
    json!({
        "eventId": event_id, "subscriptionId": 1_000_001, "portalId": PORTAL, "appId": 54321,
        "occurredAt": at.timestamp_millis(), "subscriptionType": "company.creation",
        "attemptNumber": 0, "objectId": company_id.parse::<i64>().unwrap(), "changeSource": "CRM_UI",
    })
}

/// Backends of this database waiting for a lock.
async fn lock_waiters(database: &Database) -> i64 {
    let client = database.client().await.unwrap();
    client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock'",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// Starts a claim (with the world's HubSpot client) and returns once it waits for a lock.
async fn claim_until_it_waits(
    world: &World,
) -> tokio::task::JoinHandle<Result<InboundReport, warp_webhook::ProcessError>> {
    let processor = InboundProcessor {
        database: world.database.clone(),
        hubspot: Some(hubspot_client(&world.sandbox)),
        map: MappingSource::read_every_time(world.database.clone(), PORTAL)
            .await
            .unwrap(),
        portal_id: PORTAL,
    };
    let claim = tokio::spawn(async move { processor.process_pending(100).await });
    let deadline = Instant::now() + Duration::from_secs(10);
    while lock_waiters(&world.database).await == 0 {
        assert!(Instant::now() < deadline, "the claim never waited");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    claim
}

/// How long a transaction that holds `held` and asks for `wanted` is kept waiting by one claim
/// (run with the world's HubSpot client), after a blocker on `blocking` lets go. The blocker
/// stops the claim while the other side starts waiting, so the other side's one deadlock check
/// (deadlock_timeout is 1 s) passes before any cycle closes, as the worker's sweep does in
/// production. Processes everything left afterwards.
async fn held_up_by_a_claim(world: &World, held: Uuid, wanted: Uuid, blocking: Uuid) -> Duration {
    const LOCK: &str = "SELECT id FROM customers WHERE id = $1 FOR NO KEY UPDATE";
    let (holds, held_now) = tokio::sync::oneshot::channel();
    let (ask, asked) = tokio::sync::oneshot::channel::<()>();
    let database = world.database.clone();
    let other = tokio::spawn(async move {
        let mut client = database.client().await.unwrap();
        let tx = client.transaction().await.unwrap();
        tx.query(LOCK, &[&held]).await.unwrap();
        holds.send(()).unwrap();
        asked.await.unwrap();
        // Granted, or refused as a deadlock victim: either way no longer held up.
        let outcome = tx.query(LOCK, &[&wanted]).await;
        let answered = Instant::now();
        match outcome {
            Ok(_) => tx.commit().await.unwrap(),
            Err(_) => tx.rollback().await.unwrap(),
        }
        answered
    });
    held_now.await.unwrap();
    let mut blocker = world.database.client().await.unwrap();
    let blocker = blocker.transaction().await.unwrap();
    blocker.query(LOCK, &[&blocking]).await.unwrap();
    let first_run = claim_until_it_waits(world).await;
    ask.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    blocker.commit().await.unwrap();
    let released = Instant::now();
    let answered = other.await.unwrap();
    // The first run may have been the deadlock victim; nothing it claimed is lost either way.
    let _ = first_run.await.unwrap();
    for _ in 0..5 {
        if world.processor.process_pending(100).await.unwrap().claimed == 0 {
            break;
        }
    }
    answered.saturating_duration_since(released)
}

/// A claim whose companies have lifecycle events handles them one by one. Had it locked their
/// customers one at a time too, it could hold `early` while waiting for `late`, held by a
/// transaction that already waits for `early`. The claim is then the deadlock victim at every
/// next event of `late`, keeping `early` throughout, and holds the other side (in production
/// the worker, and the API writes queued behind it) for a deadlock timeout per event. The
/// chaos run found exactly that; the claim now locks its customers in one id-ordered sweep.
#[tokio::test]
async fn a_claim_meeting_a_held_customer_never_holds_the_other_side_for_long() {
    let world = world().await;
    let mut linked = vec![
        world.linked_customer("Sweep A").await,
        world.linked_customer("Sweep B").await,
        world.linked_customer("Sweep C").await,
    ];
    // The claim handles companies in id order.
    linked.sort_by_key(|(_, company)| company.parse::<i64>().unwrap());
    let [
        (early, early_company),
        (middle, middle_company),
        (late, late_company),
    ] = <[_; 3]>::try_from(linked).unwrap();
    let base = DateTime::from_timestamp_millis(Utc::now().timestamp_millis() + 5_000).unwrap();
    let at = |seconds| base + TimeDelta::seconds(seconds);
    const LATE_EDITS: i64 = 12;
    let mut events = vec![
        creation_event(8_000, &early_company, at(0)),
        name_event(8_001, &early_company, "Early Renamed", at(1), "CRM_UI"),
        creation_event(8_050, &middle_company, at(0)),
        name_event(8_051, &middle_company, "Middle Renamed", at(1), "CRM_UI"),
        creation_event(8_100, &late_company, at(0)),
    ];
    events.extend((1..=LATE_EDITS).map(|i| {
        name_event(
            8_100 + i,
            &late_company,
            &format!("Late {i}"),
            at(i),
            "CRM_UI",
        )
    }));
    world.deliver(&events).await;

    let held_for = held_up_by_a_claim(&world, late.id, early.id, middle.id).await;
    assert!(
        held_for < Duration::from_secs(5),
        "the other side waited {held_for:?} after the blocker let go ({LATE_EDITS} events on `late`)"
    );
    for event in [8_000, 8_001, 8_050, 8_051, 8_100, 8_100 + LATE_EDITS] {
        assert_eq!(world.event_status(event).await.0, "PROCESSED", "{event}");
    }
    for (customer, name) in [
        (early.id, "Early Renamed".to_owned()),
        (middle.id, "Middle Renamed".to_owned()),
        (late.id, format!("Late {LATE_EDITS}")),
    ] {
        let after = world.customers.get(customer).await.unwrap();
        assert_eq!(after.company_name.as_str(), name);
    }
}

/// Creations of companies no customer is linked to yet find their customer by BAN, which no
/// sweep can take beforehand. A deadlock there ends the claim at once: the customers it
/// already linked are released instead of held through the next events that wait for the
/// same customer.
#[tokio::test]
async fn a_deadlock_victim_ends_its_claim_and_releases_what_it_locked() {
    let world = world().await;
    let mut unlinked = Vec::new();
    for name in ["By BAN A", "By BAN B", "By BAN C"] {
        let new = NewCustomer::new(CompanyName::parse(name).unwrap(), CustomerType::Postpaid);
        let Created::New(written, _) = world.customers.create(&new, None).await.unwrap() else {
            panic!("not created");
        };
        let customer = written.value;
        let company = world
            .hubspot
            .companies()
            .create(&BTreeMap::from([
                ("name".to_owned(), name.to_owned()),
                ("warp_ban".to_owned(), customer.ban.as_str().to_owned()),
            ]))
            .await
            .unwrap();
        unlinked.push((customer, company.id.as_str().to_owned()));
    }
    unlinked.sort_by_key(|(_, company)| company.parse::<i64>().unwrap());
    let [(early, _), (middle, _), (late, late_company)] = <[_; 3]>::try_from(unlinked).unwrap();
    // The sandbox delivers each creation; repeated creations of `late` (redeliveries with new
    // event ids) each look for its customer by BAN again.
    const REPEATS: i64 = 12;
    let at = DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap();
    let repeats: Vec<Value> = (1..=REPEATS)
        .map(|i| creation_event(9_000 + i, &late_company, at))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while world.event_count().await < 3 {
        assert!(
            Instant::now() < deadline,
            "the sandbox never delivered the creations"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    world.deliver(&repeats).await;

    let held_for = held_up_by_a_claim(&world, late.id, early.id, middle.id).await;
    assert!(
        held_for < Duration::from_secs(5),
        "the other side waited {held_for:?} after the blocker let go ({REPEATS} creations of `late`)"
    );
    for customer in [early.id, middle.id, late.id] {
        let ids = world.external_ids(customer).await;
        assert!(ids.get("hubspot_company_id").is_some(), "{customer}: {ids}");
    }
    assert_eq!(world.event_status(9_000 + REPEATS).await.0, "PROCESSED");
}

/// Property changes of companies without lifecycle events are decided together after one
/// id-ordered lock of their customers. Should that lock still be a deadlock victim (another
/// transaction holding a later customer and asking for an earlier one), the claim ends there:
/// nothing is marked FAILED, what it locked is released at once, and the next claim applies
/// every event.
#[tokio::test]
async fn a_deadlock_victim_among_batched_property_changes_leaves_them_for_the_next_claim() {
    const LOCK: &str = "SELECT id FROM customers WHERE id = $1 FOR NO KEY UPDATE";
    let world = world().await;
    let mut linked = vec![
        world.linked_customer("Bulk A").await,
        world.linked_customer("Bulk B").await,
    ];
    // The claim locks customers in id order.
    linked.sort_by_key(|(customer, _)| customer.id);
    let [(first, first_company), (second, second_company)] = <[_; 2]>::try_from(linked).unwrap();
    let base = DateTime::from_timestamp_millis(Utc::now().timestamp_millis() + 5_000).unwrap();
    world
        .deliver(&[
            name_event(9_500, &first_company, "Bulk A Renamed", base, "CRM_UI"),
            name_event(9_501, &second_company, "Bulk B Renamed", base, "CRM_UI"),
        ])
        .await;

    let mut other = world.database.client().await.unwrap();
    let other = other.transaction().await.unwrap();
    other.query(LOCK, &[&second.id]).await.unwrap();
    let claim = claim_until_it_waits(&world).await;
    // The claim holds `first` and waits for `second`; asking for `first` now closes the cycle
    // before the claim's one deadlock check (deadlock_timeout is 1 s), so the claim is the
    // victim.
    let asked = Instant::now();
    other.query(LOCK, &[&first.id]).await.expect(
        "this side was the victim: the claim checked before the cycle closed (a 1 s stall)",
    );
    let waited = asked.elapsed();
    other.commit().await.unwrap();
    let report = claim.await.unwrap().unwrap();

    assert!(waited < Duration::from_secs(3), "held for {waited:?}");
    assert_eq!((report.claimed, report.retry_later), (2, 2), "{report:?}");
    for event in [9_500, 9_501] {
        assert_eq!(world.event_status(event).await.0, "RECEIVED", "{event}");
    }
    let report = world.processor.process_pending(100).await.unwrap();
    assert_eq!((report.claimed, report.retry_later), (2, 0), "{report:?}");
    for (customer, name) in [(first.id, "Bulk A Renamed"), (second.id, "Bulk B Renamed")] {
        let after = world.customers.get(customer).await.unwrap();
        assert_eq!(after.company_name.as_str(), name);
    }
}

/// Every text column a HubSpot value or message can reach, with how many rows hold a NUL
/// (always 0: Postgres refuses it, so a NUL would have failed the statement) and how many
/// hold the U+FFFD that replaces it.
async fn replacement_characters(database: &Database) -> i64 {
    let client = database.client().await.unwrap();
    client
        .query_one(
            "SELECT (SELECT count(*) FROM hubspot_webhook_events WHERE raw::text LIKE '%' || U&'\\FFFD' || '%') \
                  + (SELECT count(*) FROM hubspot_field_state WHERE hubspot_value LIKE '%' || U&'\\FFFD' || '%') \
                  + (SELECT count(*) FROM sync_conflicts WHERE hubspot_value LIKE '%' || U&'\\FFFD' || '%')",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// Issue 17: a HubSpot value with a NUL character (U+0000), which Postgres can store neither in
/// `text` nor in `jsonb`. Edited in the HubSpot UI together with another property, it comes as
/// one signed delivery of two events: the delivery is answered 200 and stored, the NUL event
/// alone fails with a reason (its raw JSON kept with U+FFFD in place of the NUL), and the other
/// event is applied.
#[tokio::test]
async fn a_nul_character_in_a_hubspot_value_fails_its_event_alone_and_the_delivery_is_applied() {
    // Everything our crates log meanwhile (the receiver, the store, the processor run on this
    // test's thread), to check that the value never reaches a log line.
    let logs = CapturedLogs::default();
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_env_filter("trace,hubspot_sandbox=off")
            .with_writer(logs.clone())
            .finish(),
    );
    let world = world().await;
    let (customer, company_id) = world.linked_customer("Nul Co").await;
    // More than a second after WARP set the name: LATEST_WINS would apply a valid new name.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before = world.event_count().await;

    world
        .user_patch(
            &company_id,
            json!({"name": "Quillnul\u{0}Marmalade", "warp_credit_limit": "3000"}),
        )
        .await;
    let report = world.settle().await;
    let stats = world.sandbox.stats();
    assert_eq!(
        stats.webhook_requests_failed, 0,
        "every delivery answered 200: {stats:?}"
    );
    assert_eq!(
        world.event_count().await,
        before + 2,
        "both events stored: {report:?}"
    );
    assert_eq!(report.applied, 1, "{report:?}");

    let client = world.database.client().await.unwrap();
    let rows = client
        .query(
            "SELECT property_name, status, error, raw FROM hubspot_webhook_events \
             ORDER BY id DESC LIMIT 2",
            &[],
        )
        .await
        .unwrap();
    let by_property: BTreeMap<String, (String, Option<String>, Value)> = rows
        .iter()
        .map(|row| (row.get(0), (row.get(1), row.get(2), row.get(3))))
        .collect();
    let (status, error, raw) = &by_property["name"];
    assert_eq!(status, "FAILED");
    assert_eq!(
        error.as_deref(),
        Some("propertyValue contains a NUL character (U+0000), which cannot be stored")
    );
    assert_eq!(
        raw["propertyValue"], "Quillnul\u{FFFD}Marmalade",
        "kept, NUL replaced"
    );
    assert_eq!(by_property["warp_credit_limit"].0, "PROCESSED");

    let after = world.customers.get(customer.id).await.unwrap();
    assert_eq!(
        after.company_name.as_str(),
        "Nul Co",
        "the bad name is not applied"
    );
    assert_eq!(
        after.credit_limit.to_string(),
        "3000.00",
        "the other event is"
    );
    // Nothing is pushed over HubSpot's name: a person corrects it there.
    let diff = world.outbound_diff(&after).await;
    assert!(diff.is_empty(), "{diff:?}");
    assert_eq!(replacement_characters(&world.database).await, 1);
    let logged = logs.text();
    assert!(
        logged.contains("webhook events stored as FAILED"),
        "{logged}"
    );
    for value in ["Quillnul", "Marmalade"] {
        assert!(!logged.contains(value), "a value reached the log: {value}");
    }
}

/// Collects what a test logs.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLogs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The same NUL met where processing reads the company from HubSpot (a creation carrying our
/// BAN): the link is made and the other properties are decided; only the NUL field fails, with
/// a sync-log row that names the field and the reason, never the value.
#[tokio::test]
async fn a_company_created_with_a_nul_in_its_name_is_linked_and_its_other_values_applied() {
    let world = world().await;
    let new = NewCustomer::new(
        CompanyName::parse("Created Co").unwrap(),
        CustomerType::Postpaid,
    );
    let Created::New(written, _) = world.customers.create(&new, None).await.unwrap() else {
        panic!("not created");
    };
    let customer = written.value;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let created: Value = world
        .http
        .post(format!("{}{COMPANIES}", world.sandbox.base_url()))
        .bearer_auth(USER_TOKEN)
        .json(&json!({"properties": {
            "name": "Nul\u{0}Holdings",
            "warp_ban": customer.ban.as_str(),
            "warp_credit_limit": "4000",
        }}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    let company_id = created["id"].as_str().unwrap().to_owned();
    let report = world.settle().await;
    assert_eq!(world.sandbox.stats().webhook_requests_failed, 0);
    assert_eq!(report.linked, 1, "{report:?}");

    let after = world.customers.get(customer.id).await.unwrap();
    assert_eq!(
        after.external_ids.hubspot_company_id.as_deref(),
        Some(company_id.as_str())
    );
    assert_eq!(after.company_name.as_str(), "Created Co");
    assert_eq!(after.credit_limit.to_string(), "4000.00");
    let log = world.log(customer.id, "company_name").await;
    let (status, error) = log.last().expect("a sync-log row for the name");
    assert_eq!(status, "FAILED");
    assert_eq!(
        error.as_deref(),
        Some("HubSpot's company_name contains a NUL character (U+0000), which cannot be stored")
    );
}

/// HubSpot reads of companies the sandbox answered: one per id, or one per batch of ids.
fn company_reads(stats: &hubspot_sandbox::Stats) -> u64 {
    stats
        .requests_by_route
        .iter()
        .filter(|(route, _)| {
            route.ends_with("/batch/read")
                || (route.starts_with("GET ") && route.contains("/companies/{"))
        })
        .map(|(_, count)| count)
        .sum()
}

#[tokio::test]
async fn a_flood_of_creations_of_unknown_companies_is_read_in_batches() {
    let world = world().await;
    let (customer, company) = world.linked_customer("Behind The Flood").await;
    let reads_before = company_reads(&world.sandbox.stats());
    let at = DateTime::from_timestamp_millis(Utc::now().timestamp_millis() + 5_000).unwrap();
    let mut events: Vec<Value> = (0..250)
        .map(|i| creation_event(8_000 + i, &(900_000_000 + i).to_string(), at))
        .collect();
    // A property change delivered after the flood.
    events.push(name_event(8_999, &company, "After The Flood", at, "CRM_UI"));
    world.deliver(&events).await;
    let report = world.processor.process_pending(500).await.unwrap();
    assert_eq!(report.claimed, 251, "{report:?}");
    assert_eq!(report.retry_later, 0, "{report:?}");
    assert_eq!(report.skipped, 250, "{report:?}");
    assert_eq!(report.applied, 1, "{report:?}");
    let reads = company_reads(&world.sandbox.stats()) - reads_before;
    assert!(
        (1..=3).contains(&reads),
        "250 creations cost {reads} HubSpot reads"
    );
    assert_eq!(
        world
            .customers
            .get(customer.id)
            .await
            .unwrap()
            .company_name
            .as_str(),
        "After The Flood"
    );
}

// ----- contacts (WARP users) -----

impl World {
    fn users(&self) -> warp_store::users::UserStore {
        warp_store::users::UserStore::new(self.database.clone(), PORTAL)
    }

    async fn worker(&self) -> warp_sync::outbound::OutboundWorker {
        warp_sync::outbound::OutboundWorker::new(
            self.database.clone(),
            hubspot_client(&self.sandbox),
            PORTAL,
            MappingSource::read_every_time(self.database.clone(), PORTAL)
                .await
                .unwrap(),
        )
    }

    /// A user of `customer`, pushed to HubSpot by the worker; answers it and its contact id.
    async fn synced_user(&self, customer: Uuid, email: &str) -> (warp_domain::user::User, String) {
        let new = warp_domain::user::NewUser::from_json(
            &json!({"email": email, "first_name": "Ada", "role": "developer"}),
        )
        .unwrap();
        let warp_store::users::CreatedUser::New(user, _, _) =
            self.users().create(customer, &new, None).await.unwrap()
        else {
            panic!("not created");
        };
        let report = self.worker().await.process_due(100).await.unwrap();
        assert!(report.failed.is_empty(), "{report:?}");
        self.settle().await;
        let contact = self.contact_of(user.id).await.expect("the user is linked");
        (*user, contact)
    }

    async fn contact_of(&self, user: Uuid) -> Option<String> {
        let client = self.database.client().await.unwrap();
        client
            .query_opt(
                "SELECT hubspot_id FROM hubspot_links WHERE object_type = 'contacts' AND local_id = $1 \
                 AND unlinked_at IS NULL",
                &[&user],
            )
            .await
            .unwrap()
            .map(|row| row.get(0))
    }

    /// A person's edit of a contact in HubSpot (delivered as a webhook).
    async fn contact_patch(&self, contact_id: &str, properties: Value) {
        self.ui.update("contacts", contact_id, properties).await;
    }

    async fn contact_property(&self, contact_id: &str, name: &str) -> Value {
        self.ui.properties("contacts", contact_id, name).await[name].clone()
    }

    async fn contact_count(&self) -> usize {
        self.ui.list("contacts", "email").await.len()
    }

    async fn scalar(&self, sql: &str) -> i64 {
        let client = self.database.client().await.unwrap();
        client.query_one(sql, &[]).await.unwrap().get(0)
    }
}

#[tokio::test]
async fn a_contact_edit_in_hubspot_applies_to_the_user_and_an_email_edit_is_pushed_back() {
    let w = world().await;
    let (customer, _) = w.linked_customer("Acme").await;
    let (user, contact) = w.synced_user(customer.id, "ada@acme.example").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;

    w.contact_patch(
        &contact,
        json!({"firstname": "Augusta", "jobtitle": "Countess", "email": "someone@else.example"}),
    )
    .await;
    let report = w.settle().await;
    assert!(report.applied >= 2, "{report:?}");
    assert!(report.overridden >= 1, "{report:?}");
    let after = w.users().get(user.id).await.unwrap();
    assert_eq!(
        after.first_name.as_ref().map(|t| t.as_str()),
        Some("Augusta")
    );
    assert_eq!(
        after.job_title.as_ref().map(|t| t.as_str()),
        Some("Countess")
    );
    assert_eq!(
        after.email.as_str(),
        "ada@acme.example",
        "the login email is WARP's"
    );
    assert!(after.version > user.version);

    // The push-back puts WARP's email back on the same contact; the applied names are not
    // sent back (HubSpot holds them).
    let report = w.worker().await.process_due(100).await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(
        w.contact_property(&contact, "email").await,
        "ada@acme.example"
    );
    assert_eq!(w.contact_property(&contact, "firstname").await, "Augusta");
    assert_eq!(w.contact_count().await, 1);
    let fields: Vec<String> = w
        .database
        .client()
        .await
        .unwrap()
        .query_one(
            "SELECT fields_synced FROM hubspot_sync_log WHERE object_type = 'contacts' \
             AND direction = 'OUTBOUND' AND operation = 'PUSH_BACK' ORDER BY id DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(fields, vec!["email".to_owned()]);
}

#[tokio::test]
async fn a_contact_created_in_hubspot_for_a_linked_company_becomes_an_invited_user() {
    let w = world().await;
    let (customer, company_id) = w.linked_customer("Acme").await;
    let contact = w
        .ui_contact_of_company(
            &company_id,
            json!({"email": "Grace@Acme.example", "firstname": "Grace", "lastname": "Hopper"}),
        )
        .await;
    let report = w.settle().await;
    assert_eq!(report.linked, 1, "{report:?}");

    let invited = w
        .users()
        .list(&warp_store::users::UserQuery {
            customer_id: Some(customer.id),
            email: None,
            after: None,
            limit: 10,
        })
        .await
        .unwrap()
        .items;
    assert_eq!(invited.len(), 1);
    let user = &invited[0];
    assert_eq!(user.email.as_str(), "grace@acme.example");
    assert_eq!(
        user.status,
        warp_domain::user::UserStatus::Invited,
        "no access from HubSpot"
    );
    assert_eq!(user.role, warp_domain::user::UserRole::Readonly);
    assert_eq!(user.last_name.as_ref().map(|t| t.as_str()), Some("Hopper"));
    assert_eq!(
        w.contact_of(user.id).await.as_deref(),
        Some(contact.as_str())
    );

    // Its push writes WARP's id and facts to the same contact, found by email.
    let report = w.worker().await.process_due(100).await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(w.contact_count().await, 1, "no duplicate contact");
    assert_eq!(
        w.contact_property(&contact, "warp_user_id").await,
        user.id.to_string()
    );
    assert_eq!(w.contact_property(&contact, "warp_role").await, "readonly");
    // The creation echo of WARP's own contacts is not a new user.
    w.settle().await;
    assert_eq!(
        w.scalar("SELECT count(*) FROM users").await,
        1,
        "still one user"
    );
}

#[tokio::test]
async fn a_merge_of_two_users_contacts_keeps_both_users_and_records_a_conflict() {
    let w = world().await;
    let (customer, _) = w.linked_customer("Acme").await;
    let (first, first_contact) = w.synced_user(customer.id, "ada@acme.example").await;
    let (second, second_contact) = w.synced_user(customer.id, "grace@acme.example").await;
    w.hubspot
        .contacts()
        .merge(
            &HubSpotId::parse(first_contact.clone()).unwrap(),
            &HubSpotId::parse(second_contact.clone()).unwrap(),
        )
        .await
        .unwrap();
    let report = w.settle().await;
    assert_eq!(report.conflicts, 1, "{report:?}");
    assert!(w.users().get(first.id).await.is_ok());
    assert!(w.users().get(second.id).await.is_ok(), "no user is lost");
    let survivor = w
        .contact_of(first.id)
        .await
        .expect("the survivor's user stays linked");
    assert_ne!(survivor, second_contact);
    assert_eq!(w.contact_of(second.id).await, None);
    assert_eq!(
        w.scalar(&format!(
            "SELECT count(*) FROM sync_conflicts WHERE object_type = 'contacts' \
             AND local_id = '{}' AND field = 'user_id' AND status = 'OPEN'",
            second.id
        ))
        .await,
        1
    );
    // Not settled by choosing a value: a person merges or keeps the users in WARP.
    let conflict: Uuid = w
        .database
        .client()
        .await
        .unwrap()
        .query_one(
            "SELECT id FROM sync_conflicts WHERE object_type = 'contacts'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let refused = warp_store::conflicts::resolve(
        &w.database,
        conflict,
        &warp_store::conflicts::Resolution::Warp,
        "tester",
        None,
    )
    .await;
    assert!(
        matches!(
            refused,
            Err(warp_store::conflicts::ResolveError::NotByValue(_))
        ),
        "{refused:?}"
    );
    // The merged-away id still finds the survivor's user.
    let client = w.database.client().await.unwrap();
    let pg: &tokio_postgres::Client = &client;
    assert_eq!(
        warp_store::links::local_of(pg, PORTAL, ObjectType::Contacts, &second_contact)
            .await
            .unwrap(),
        Some(first.id)
    );
}

#[tokio::test]
async fn a_privacy_deletion_unlinks_the_user_and_its_data_is_never_sent_again() {
    let w = world().await;
    let (customer, _) = w.linked_customer("Acme").await;
    let (user, contact) = w.synced_user(customer.id, "ada@acme.example").await;
    // The person's GDPR request in HubSpot: the contact is deleted for good, announced as a
    // privacy deletion.
    let gdpr = w
        .http
        .post(format!(
            "{}/crm/objects/2026-09/contacts/gdpr-delete",
            w.sandbox.base_url()
        ))
        .bearer_auth(USER_TOKEN)
        .json(&json!({"objectId": contact}))
        .send()
        .await
        .unwrap();
    assert_eq!(gdpr.status(), 204);
    let report = w.settle().await;
    assert!(report.unlinked >= 1, "{report:?}");
    assert_eq!(w.contact_of(user.id).await, None);
    assert!(w.users().get(user.id).await.is_ok(), "the WARP login stays");

    // A later WARP change is not sent: no contact is created again.
    let patch = warp_domain::user::UserPatch::from_json(&json!({"last_name": "Lovelace"})).unwrap();
    w.users().update(user.id, None, &patch).await.unwrap();
    let report = w.worker().await.process_due(100).await.unwrap();
    assert_eq!(report.hubspot_calls, 0, "{report:?}");
    assert_eq!(report.succeeded.len(), 1, "done without a call");
    assert_eq!(w.contact_count().await, 0);
    assert_eq!(
        w.scalar(
            "SELECT count(*) FROM hubspot_sync_log WHERE object_type = 'contacts' \
             AND status = 'SKIPPED' AND error LIKE 'privacy deletion%'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_company_association_changed_in_hubspot_is_pushed_back_to_warps_membership() {
    let w = world().await;
    let (customer, company_id) = w.linked_customer("Acme").await;
    let (user, contact) = w.synced_user(customer.id, "ada@acme.example").await;
    let other = w
        .hubspot
        .companies()
        .create(&BTreeMap::from([(
            "name".to_owned(),
            "Elsewhere".to_owned(),
        )]))
        .await
        .unwrap();
    // Sales made another company the contact's primary one.
    w.http
        .put(format!(
            "{}/crm/v4/objects/contacts/{contact}/associations/companies/{}",
            w.sandbox.base_url(),
            other.id.as_str()
        ))
        .bearer_auth(USER_TOKEN)
        .json(&json!([{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}]))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    // The sandbox announces it as HubSpot does (contact.associationChange).
    let report = w.settle().await;
    assert_eq!(report.overridden, 1, "{report:?}");
    assert_eq!(
        w.scalar(&format!(
            "SELECT count(*) FROM hubspot_sync_queue WHERE object_type = 'contacts' \
             AND local_id = '{}' AND operation = 'PUSH_BACK' AND status = 'PENDING'",
            user.id
        ))
        .await,
        1
    );
    let report = w.worker().await.process_due(100).await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    let read = w
        .hubspot
        .associations(ObjectType::Contacts, ObjectType::Companies)
        .batch_read(&[HubSpotId::parse(contact.clone()).unwrap()])
        .await;
    let primary: Vec<String> = read
        .results
        .iter()
        .flat_map(|r| r.to.iter())
        .filter(|to| to.has_type(1))
        .map(|to| to.to_object_id.clone())
        .collect();
    assert_eq!(primary, vec![company_id], "WARP's company is primary again");
}

/// The app's reads of contacts since `before`: (batch reads of contacts, batch reads of their
/// company associations, single contact reads).
fn contact_reads(
    before: &hubspot_sandbox::Stats,
    after: &hubspot_sandbox::Stats,
) -> (u64, u64, u64) {
    let count = |stats: &hubspot_sandbox::Stats, wanted: &dyn Fn(&str) -> bool| -> u64 {
        stats
            .requests_by_route_and_token
            .iter()
            .filter(|(route, _)| route.starts_with("app ") && wanted(route))
            .map(|(_, n)| n)
            .sum()
    };
    let delta = |wanted: &dyn Fn(&str) -> bool| count(after, wanted) - count(before, wanted);
    (
        delta(&|r| {
            r.starts_with("app POST") && r.contains("objects") && r.ends_with("/batch/read")
        }),
        delta(&|r| r.contains("associations") && r.ends_with("/batch/read")),
        delta(&|r| r.starts_with("app GET") && r.contains("objects")),
    )
}

#[tokio::test]
async fn contacts_created_together_are_read_in_one_batch_before_any_lock() {
    let w = world().await;
    let (customer, company_id) = w.linked_customer("Acme").await;
    w.settle().await;
    let before = w.sandbox.stats();
    for n in 0..5 {
        w.ui_contact_of_company(
            &company_id,
            json!({"email": format!("person{n}@acme.example")}),
        )
        .await;
    }
    let report = w.settle().await;
    assert_eq!(report.linked, 5, "{report:?}");
    assert_eq!(
        contact_reads(&before, &w.sandbox.stats()),
        (1, 1, 0),
        "one batch read of the contacts and one of their companies, no single reads"
    );
    let users = w
        .users()
        .list(&warp_store::users::UserQuery {
            customer_id: Some(customer.id),
            email: None,
            after: None,
            limit: 10,
        })
        .await
        .unwrap()
        .items;
    assert_eq!(users.len(), 5);
}

/// Guarantee 8 for webhooks: events of every portal arrive at one URL and are routed by
/// `portalId`. The same object id in a customer's portal never touches the home portal's
/// record; an unknown or disconnected portal's events are kept, never applied, and counted.
#[tokio::test]
async fn events_are_routed_by_portal_and_an_uninstalled_portals_are_kept_unapplied() {
    use warp_store::installations::InstallationRole;
    let world = world().await;
    let (customer, company_id) = world.linked_customer("Routed Telecom").await;
    let app = warp_testkit::oauth::app(&world.sandbox, "http://127.0.0.1:9/cb", &["oauth"]);
    let keyring = warp_testkit::oauth::keyring();
    let (other, _) = world.linked_customer("Other Telecom").await;
    for (portal, owner) in [(7_001, customer.id), (7_002, other.id)] {
        warp_testkit::oauth::install(
            &world.sandbox,
            &world.database,
            &app,
            &keyring,
            portal,
            InstallationRole::Customer(owner),
        )
        .await;
    }
    world
        .database
        .client()
        .await
        .unwrap()
        .execute(
            "UPDATE hubspot_installations SET status = 'revoked' WHERE portal_id = 7002",
            &[],
        )
        .await
        .unwrap();
    let at = Utc::now();
    let in_portal = |event_id: i64, portal: i64, name: &str| {
        let mut event = name_event(event_id, &company_id, name, at, "CRM_UI");
        event["portalId"] = json!(portal);
        event
    };
    world
        .deliver(&[
            in_portal(8_001, 7_001, "From A Customer Portal"),
            in_portal(8_002, 7_002, "From A Disconnected Portal"),
            in_portal(8_003, 9_999, "From An Unknown Portal"),
        ])
        .await;
    let report = world.processor.process_pending(100).await.unwrap();
    assert_eq!(
        (
            report.claimed,
            report.skipped,
            report.unrouted,
            report.applied
        ),
        (3, 1, 2, 0),
        "{report:?}"
    );
    assert_eq!(world.event_status(8_001).await.0, "SKIPPED");
    let (status, note) = world.event_status(8_002).await;
    assert_eq!(status, "UNROUTED");
    assert_eq!(note.as_deref(), Some("portal 7002 was disconnected"));
    let (status, note) = world.event_status(8_003).await;
    assert_eq!(status, "UNROUTED");
    assert_eq!(note.as_deref(), Some("portal 9999 is not installed"));
    let after = world.customers.get(customer.id).await.unwrap();
    assert_eq!(after.company_name.as_str(), "Routed Telecom");
    assert_eq!(after.version, customer.version);

    // The home portal's own event is applied as ever.
    world
        .deliver(&[in_portal(8_004, PORTAL, "From The Home Portal")])
        .await;
    let report = world.processor.process_pending(100).await.unwrap();
    assert_eq!(report.applied, 1, "{report:?}");

    // The status page counts what was kept, by portal.
    let (base, token) = api(&world.database).await;
    let status: Value = world
        .http
        .get(format!("{base}/v1/sync/status"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        status["unrouted_webhook_events"],
        json!({"7002": 1, "9999": 1})
    );
}

/// The Webhooks Journal backstop's poller for the world's sandbox: WARP's app's own token.
fn journal_poller(world: &World) -> warp_webhook::JournalPoller {
    let app = warp_testkit::oauth::app(&world.sandbox, "http://127.0.0.1/callback", &[]);
    warp_webhook::JournalPoller {
        database: world.database.clone(),
        hubspot: hubspot_client(&world.sandbox).with_credentials(Arc::new(
            warp_installations::AppCredentials::for_journal(app),
        )),
        home_portal_id: PORTAL,
    }
}

/// `(received_via, count)` of the stored events.
async fn events_by_way(database: &Database) -> BTreeMap<String, i64> {
    let client = database.client().await.unwrap();
    client
        .query(
            "SELECT received_via, count(*) FROM hubspot_webhook_events GROUP BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

/// Waits until the sandbox has journaled more events than `before` (its dispatcher writes the
/// journal every 100 ms; under load a tick comes late).
async fn journaled_past(world: &World, before: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while world.sandbox.stats().journal_events_written <= before {
        assert!(Instant::now() < deadline, "the sandbox journaled nothing");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn events_push_never_delivered_are_recovered_from_the_webhooks_journal_and_applied_once() {
    let world = world().await;
    let (customer, company_id) = world.linked_customer("Journal Telecom").await;
    {
        let client = world.database.client().await.unwrap();
        warp_store::installations::ensure_home_static(&**client, PORTAL)
            .await
            .unwrap();
    }
    // Turned on through the API, as an operator does: it needs WARP's HubSpot app.
    let app = warp_testkit::oauth::app(&world.sandbox, "http://127.0.0.1/callback", &[]);
    let secret = SecretString::from(JWT_SECRET.to_owned());
    let plain_state = warp_api::ApiState::new(
        world.database.clone(),
        warp_api::AuthConfig::hs256(secret.clone()),
        PORTAL,
    );
    let with_app = plain_state
        .clone()
        .with_connector(warp_installations::Connector::new(
            world.database.clone(),
            app,
            warp_testkit::oauth::keyring(),
            SecretString::from("state-key".to_owned()),
        ));
    let admin = warp_api::issue_dev_token(
        &secret,
        warp_api::AuthConfig::DEFAULT_ISSUER,
        warp_api::AuthConfig::DEFAULT_AUDIENCE,
        "ops-1",
        &["admin"],
        Duration::from_secs(3600),
    )
    .unwrap();
    let patch = |state: warp_api::ApiState, body: Value| {
        let admin = admin.clone();
        async move {
            use tower::ServiceExt as _;
            let answer = warp_api::router(state)
                .oneshot(
                    axum::http::Request::patch(format!("/v1/hubspot/installations/{PORTAL}"))
                        .header("authorization", format!("Bearer {admin}"))
                        .header("content-type", "application/merge-patch+json")
                        .body(axum::body::Body::from(body.to_string()))
                        .unwrap(),
                )
                .await
                .unwrap();
            let status = answer.status().as_u16();
            let bytes = axum::body::to_bytes(answer.into_body(), 1 << 20)
                .await
                .unwrap();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        }
    };
    let (status, refused) = patch(plain_state.clone(), json!({"journal_backstop": true})).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["errors"][0]["field"], "journal_backstop");
    let (status, refused) = patch(with_app.clone(), json!({"journal_backstop": "yes"})).await;
    assert_eq!(status, 422, "{refused}");
    let (status, on) = patch(with_app.clone(), json!({"journal_backstop": true})).await;
    assert_eq!(status, 200, "{on}");
    assert_eq!(on["journal_backstop"]["enabled"], true);
    assert_eq!(on["journal_backstop"]["subscribed"], false);

    let poller = journal_poller(&world);
    // The first poll makes WARP's subscriptions and finds the journal empty: caught up.
    let first = poller.poll(Duration::from_secs(10)).await.unwrap();
    assert_eq!((first.installations, first.failures), (1, 0), "{first:?}");
    assert_eq!(first.entries_read, 0);
    let summary: Value = world
        .http
        .get(format!("{}/_sandbox/journal", world.sandbox.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let subscribed: Vec<&str> = summary["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["objectTypeId"].as_str().unwrap())
        .collect();
    assert_eq!(subscribed, ["0-2", "0-1", "0-3"]);

    // Push delivers nothing from here on: HubSpot gave up, or the receiver was down.
    world.sandbox.set_faults(Faults {
        drop_webhooks: 1.0,
        ..Faults::default()
    });
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before = world.sandbox.stats().journal_events_written;
    world
        .user_patch(&company_id, json!({"name": "Journal Renamed"}))
        .await;
    journaled_past(&world, before).await;
    assert_eq!(world.settle().await.claimed, 0, "push delivered nothing");
    let recovered = poller.poll(Duration::from_secs(10)).await.unwrap();
    assert_eq!(recovered.events_recovered, 1, "{recovered:?}");
    assert_eq!(recovered.entries_read, 1);
    assert_eq!(
        events_by_way(&world.database).await.get("journal"),
        Some(&1)
    );
    let report = world.processor.process_pending(100).await.unwrap();
    assert_eq!(report.applied, 1, "{report:?}");
    let after = world.customers.get(customer.id).await.unwrap();
    assert_eq!(after.company_name.as_str(), "Journal Renamed");
    // Polling again reads nothing new and applies nothing twice.
    let again = poller.poll(Duration::from_secs(10)).await.unwrap();
    assert_eq!((again.entries_read, again.events_recovered), (0, 0));

    // With push working, the journal's copy of a delivered event is recognised: not stored.
    world.sandbox.set_faults(Faults::default());
    world
        .user_patch(&company_id, json!({"phone": "+1 303 555 0100"}))
        .await;
    let pushed = world.settle().await;
    assert_eq!(pushed.claimed, 1, "{pushed:?}");
    let duplicate = poller.poll(Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        (duplicate.events_read, duplicate.events_recovered),
        (1, 0),
        "{duplicate:?}"
    );
    assert_eq!(
        events_by_way(&world.database).await.get("journal"),
        Some(&1),
        "the pushed phone change is stored once, as pushed"
    );

    // The stored offset expires (the poller was stopped for over 3 days): it starts again from
    // the earliest entry, queues a full reconciliation for the gap, and reads on.
    world
        .http
        .post(format!(
            "{}/_sandbox/journal/expire",
            world.sandbox.base_url()
        ))
        .send()
        .await
        .unwrap();
    world.sandbox.set_faults(Faults {
        drop_webhooks: 1.0,
        ..Faults::default()
    });
    let before = world.sandbox.stats().journal_events_written;
    world
        .user_patch(&company_id, json!({"name": "Journal After The Gap"}))
        .await;
    journaled_past(&world, before).await;
    let restarted = poller.poll(Duration::from_secs(10)).await.unwrap();
    assert_eq!(restarted.restarts, 1, "{restarted:?}");
    assert_eq!(restarted.events_recovered, 1, "{restarted:?}");
    let client = world.database.client().await.unwrap();
    let queued: i64 = client
        .query_one(
            "SELECT count(*) FROM hubspot_reconciliation_runs WHERE requested_by LIKE 'webhooks-journal%' AND claimed_at IS NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(queued, 1);
    world.processor.process_pending(100).await.unwrap();
    let after = world.customers.get(customer.id).await.unwrap();
    assert_eq!(after.company_name.as_str(), "Journal After The Gap");

    // Status says it all, without SQL.
    let (status, shown) = patch(with_app.clone(), json!({})).await;
    assert_eq!(status, 200);
    let backstop = &shown["journal_backstop"];
    assert_eq!(backstop["subscribed"], true, "{shown}");
    assert_eq!(backstop["events_recovered"], 2, "{shown}");
    assert_eq!(backstop["restarts"], 1, "{shown}");
    assert!(backstop["caught_up_at"].is_string(), "{shown}");
    assert!(
        backstop["offset_age_seconds"].as_i64().unwrap() < 60,
        "{shown}"
    );
    // Turned off: the poller leaves the installation alone.
    let (status, off) = patch(with_app, json!({"journal_backstop": false})).await;
    assert_eq!(
        (status, &off["journal_backstop"]["enabled"]),
        (200, &json!(false))
    );
    assert_eq!(
        poller
            .poll(Duration::from_secs(5))
            .await
            .unwrap()
            .installations,
        0
    );
}
