//! Won-deal onboarding end to end (issue 20): a salesperson wins a deal in the sandbox (by its
//! UI token), the sandbox's signed webhooks reach the receiver, the processor stores the deal
//! and starts its onboarding, and the runner makes the customer through the real client:
//! BAN stamped on the company, customer linked, BAN on the deal, one "account created" note.
//! Kills between steps, lost step records, duplicated and reordered webhooks and two deals of
//! one company won together all end in one customer and one note.

mod common;

use chrono::Utc;
use hubspot_sandbox::{SandboxConfig, SandboxHandle};
use serde_json::{Value, json};
use warp_domain::customer::CustomerType;
use warp_store::Database;
use warp_store::sync_config::MappingSource;
use warp_sync::onboarding::{CustomerTemplate, OnboardingReport, OnboardingRunner};
use warp_sync::outbound::OutboundWorker;
use warp_testkit::{HubSpotUi, PORTAL, hubspot};
use warp_webhook::InboundProcessor;

const SECRET: &str = "onboarding-test-webhook-secret";
const JWT_SECRET: &str = "onboarding-test-jwt-secret";

struct World {
    database: Database,
    receiver: String,
    sandbox: SandboxHandle,
    processor: InboundProcessor,
    runner: OnboardingRunner,
    outbound: OutboundWorker,
    ui: HubSpotUi,
    http: reqwest::Client,
    api: String,
    viewer: String,
    editor: String,
    admin: String,
}

async fn world() -> World {
    let database = warp_testkit::fresh_database().await;
    let receiver = common::receiver(&database, SECRET).await;
    let config = SandboxConfig {
        webhook_secret: SECRET.to_owned(),
        webhook_target: Some(format!("{receiver}/webhooks/hubspot")),
        ..SandboxConfig::default()
    };
    let settings = hubspot::settings_of(&config);
    let sandbox = hubspot::sandbox(config).await;
    let client = hubspot::client_with_warp_properties(&sandbox, settings).await;
    let map = MappingSource::read_every_time(database.clone(), PORTAL)
        .await
        .unwrap();
    let processor = InboundProcessor {
        database: database.clone(),
        hubspot: Some(client.clone()),
        map: map.clone(),
        portal_id: PORTAL,
    };
    let runner = OnboardingRunner {
        database: database.clone(),
        hubspot: client.clone(),
        map: map.clone(),
        portal_id: PORTAL,
        template: CustomerTemplate {
            customer_type: CustomerType::Postpaid,
        },
        publisher: None,
    };
    let outbound = OutboundWorker::new(database.clone(), client.clone(), PORTAL, map);
    let (api, viewer) =
        common::api_with_hubspot(&database, JWT_SECRET, "viewer", Some(client)).await;
    let (_, editor) = common::api(&database, JWT_SECRET, "editor").await;
    let (_, admin) = common::api(&database, JWT_SECRET, "admin").await;
    World {
        ui: HubSpotUi::new(&sandbox),
        database,
        receiver,
        sandbox,
        processor,
        runner,
        outbound,
        http: reqwest::Client::new(),
        api,
        viewer,
        editor,
        admin,
    }
}

impl World {
    async fn settle(&self) -> warp_webhook::InboundReport {
        common::settle(&self.database, &self.processor, 500).await
    }

    async fn scalar<T: for<'a> tokio_postgres::types::FromSql<'a>>(&self, sql: &str) -> T {
        let client = self.database.client().await.unwrap();
        client.query_one(sql, &[]).await.unwrap().get(0)
    }

    async fn execute(&self, sql: &str) {
        let client = self.database.client().await.unwrap();
        client.execute(sql, &[]).await.unwrap();
    }

    async fn call(&self, method: reqwest::Method, path: &str, token: &str) -> (u16, Value) {
        let answer = self
            .http
            .request(method, format!("{}{path}", self.api))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or(Value::Null))
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Value,
    ) -> (u16, Value) {
        let answer = self
            .http
            .request(method, format!("{}{path}", self.api))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, &self.viewer).await
    }

    /// The onboardings, as the API lists them.
    async fn onboardings(&self) -> Vec<Value> {
        let (status, page) = self.get("/v1/onboardings?limit=100").await;
        assert_eq!(status, 200, "{page}");
        page["items"].as_array().unwrap().clone()
    }

    async fn onboarding_of(&self, deal: &str) -> Value {
        let found: Vec<Value> = self
            .onboardings()
            .await
            .into_iter()
            .filter(|o| o["hubspot_deal_id"] == deal)
            .collect();
        assert_eq!(found.len(), 1, "{found:?}");
        found[0].clone()
    }

    async fn run(&self) -> OnboardingReport {
        self.runner.run_due(100).await.unwrap()
    }

    /// A company and a deal of it in an open stage, as a salesperson makes them.
    async fn company_with_deal(&self, company_name: &str, deal_name: &str) -> (String, String) {
        let company = self
            .ui
            .create(
                "companies",
                json!({"name": company_name, "domain": format!("{}.example", company_name.to_lowercase().replace(' ', "-")),
                       "warp_credit_limit": "2500"}),
            )
            .await;
        let deal = self.new_deal(deal_name).await;
        self.ui
            .associate_as("deals", &deal, "companies", &company, 5)
            .await;
        (company, deal)
    }

    async fn new_deal(&self, name: &str) -> String {
        self.ui
            .create(
                "deals",
                json!({"dealname": name, "amount": "9000", "dealstage": "contractsent"}),
            )
            .await
    }

    async fn win(&self, deal: &str) {
        self.ui
            .update(
                "deals",
                deal,
                json!({"dealstage": "closedwon", "closedate": "2026-12-05T00:00:00Z"}),
            )
            .await;
    }

    async fn warp_ban(&self, object_type: &str, id: &str) -> Value {
        self.ui.properties(object_type, id, "warp_ban").await["warp_ban"].clone()
    }
}

#[tokio::test]
async fn a_won_deal_becomes_one_customer_through_kills_lost_records_and_repeated_webhooks() {
    let world = world().await;
    let (company, deal) = world
        .company_with_deal("Acme Voice", "Acme SIP trunks")
        .await;
    world.settle().await;
    assert!(
        world.onboardings().await.is_empty(),
        "an open deal starts nothing"
    );

    world.win(&deal).await;
    world.settle().await;
    let started = world.onboarding_of(&deal).await;
    assert_eq!(
        (started["status"].clone(), started["step"].clone()),
        (json!("PENDING"), json!("FIND_COMPANY"))
    );

    // The win's events again, and an old creation event after them: still one onboarding.
    let deal_id = deal.parse::<i64>().unwrap();
    let event = |event_id: i64, subscription: &str, ago_ms: i64| {
        json!({
            "eventId": event_id, "subscriptionId": 3_000_003, "portalId": PORTAL, "appId": 1,
            "occurredAt": Utc::now().timestamp_millis() - ago_ms, "subscriptionType": subscription,
            "attemptNumber": 1, "objectId": deal_id, "propertyName": "dealstage",
            "propertyValue": "closedwon", "changeSource": "CRM_UI",
        })
    };
    let repeated = [
        event(8_800_001, "deal.propertyChange", 1_000),
        event(8_800_001, "deal.propertyChange", 1_000),
        event(8_800_002, "deal.creation", 600_000),
    ];
    common::deliver(&world.http, &world.receiver, SECRET, &repeated).await;
    world.settle().await;
    assert_eq!(world.onboardings().await.len(), 1);

    // One step per run, the process "killed" after each (its lease left to run out), and each
    // HubSpot step's record "lost" once, so the step is done twice.
    let hubspot_steps = ["STAMP_COMPANY", "WRITE_DEAL_BAN", "RECORD_NOTE"];
    let mut repeated_steps = Vec::new();
    for _ in 0..20 {
        let before = world.onboarding_of(&deal).await;
        if before["status"] == "DONE" {
            break;
        }
        let report = world.runner.run_due_steps(10, 1).await.unwrap();
        assert_eq!(report.steps, 1, "{report:?} at {before}");
        world
            .execute("UPDATE onboardings SET lease_until = now() - interval '1 second'")
            .await;
        let step = before["step"].as_str().unwrap().to_owned();
        if hubspot_steps.contains(&step.as_str()) && !repeated_steps.contains(&step) {
            world
                .execute(&format!(
                    "UPDATE onboardings SET step = '{step}', status = 'PENDING', completed_at = NULL"
                ))
                .await;
            repeated_steps.push(step);
        }
    }
    assert_eq!(repeated_steps, hubspot_steps);
    let done = world.onboarding_of(&deal).await;
    assert_eq!(done["status"], "DONE", "{done}");
    assert_eq!(done["created_customer"], true);
    let ban = done["ban"].as_str().unwrap().to_owned();

    // One customer, from the company's properties, linked to it.
    assert_eq!(
        world.scalar::<i64>("SELECT count(*) FROM customers").await,
        1
    );
    let (status, customer) = world
        .get(&format!(
            "/v1/customers/{}",
            done["customer_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 200, "{customer}");
    assert_eq!(customer["ban"], ban.as_str());
    assert_eq!(customer["company_name"], "Acme Voice");
    assert_eq!(customer["domain"], "acme-voice.example");
    assert_eq!(customer["credit_limit"], "2500.00");
    assert_eq!(customer["customer_type"], "POSTPAID");
    assert_eq!(
        customer["external_ids"]["hubspot_company_id"],
        company.as_str()
    );

    // The BAN on the company and the deal; one note, on both.
    assert_eq!(world.warp_ban("companies", &company).await, ban.as_str());
    assert_eq!(world.warp_ban("deals", &deal).await, ban.as_str());
    let notes = world
        .ui
        .list_all("notes", "warp_event_id,hs_note_body")
        .await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(
        notes[0]["properties"]["warp_event_id"],
        format!("account-created:{ban}")
    );
    assert!(
        notes[0]["properties"]["hs_note_body"]
            .as_str()
            .unwrap()
            .contains("Acme SIP trunks")
    );
    let note = notes[0]["id"].as_str().unwrap();
    assert_eq!(
        world.ui.associations("notes", note, "companies").await,
        vec![(company.clone(), vec![190])]
    );
    assert_eq!(
        world.ui.associations("notes", note, "deals").await,
        vec![(deal.clone(), vec![214])]
    );

    // The new customer's first push goes to the same company (stamped before the customer
    // existed), never to a second one.
    let pushed = world.outbound.drain_due(100).await.unwrap();
    assert_eq!(pushed.pushed_customers, 1, "{pushed:?}");
    let companies = world.ui.list_all("companies", "warp_ban,warp_status").await;
    assert_eq!(companies.len(), 1, "{companies:?}");
    assert_eq!(companies[0]["properties"]["warp_status"], "ACTIVE");

    // Deal events after the end (our own BAN write, a later edit) start nothing new.
    world
        .ui
        .update("deals", &deal, json!({"description": "renewal in a year"}))
        .await;
    world.settle().await;
    assert_eq!(world.run().await, OnboardingReport::default());
    assert_eq!(world.onboarding_of(&deal).await["status"], "DONE");
}

#[tokio::test]
async fn two_deals_of_one_company_won_together_make_one_customer() {
    let world = world().await;
    let (company, first) = world.company_with_deal("Twin Deals", "First order").await;
    let second = world.new_deal("Second order").await;
    world
        .ui
        .associate_as("deals", &second, "companies", &company, 5)
        .await;
    world.win(&first).await;
    world.win(&second).await;
    world.settle().await;
    assert_eq!(world.onboardings().await.len(), 2);

    // Two runners at once, each taking one of the deals.
    let other = world.runner.clone();
    let (a, b) = tokio::join!(world.runner.run_due(1), other.run_due(1));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.claimed + b.claimed, 2);
    world.run().await;

    let (one, two) = (
        world.onboarding_of(&first).await,
        world.onboarding_of(&second).await,
    );
    assert_eq!(
        (one["status"].clone(), two["status"].clone()),
        (json!("DONE"), json!("DONE"))
    );
    assert_eq!(one["customer_id"], two["customer_id"]);
    assert_eq!(one["ban"], two["ban"]);
    let created = [&one, &two]
        .iter()
        .filter(|o| o["created_customer"] == true)
        .count();
    assert_eq!(created, 1, "{one} {two}");
    assert_eq!(
        world.scalar::<i64>("SELECT count(*) FROM customers").await,
        1
    );
    let ban = one["ban"].as_str().unwrap();
    assert_eq!(world.warp_ban("companies", &company).await, ban);
    assert_eq!(world.warp_ban("deals", &first).await, ban);
    assert_eq!(world.warp_ban("deals", &second).await, ban);
    let notes = world.ui.list_all("notes", "warp_event_id").await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(
        notes[0]["properties"]["warp_event_id"],
        format!("account-created:{ban}")
    );
}

#[tokio::test]
async fn parked_onboardings_say_why_and_go_on_when_the_deal_is_fixed_or_retried() {
    let world = world().await;

    // Won with no company: parked, and resumed by the association the salesperson adds.
    let lonely = world.new_deal("No company yet").await;
    world.win(&lonely).await;
    world.settle().await;
    let report = world.run().await;
    assert_eq!(report.parked, 1, "{report:?}");
    let parked = world.onboarding_of(&lonely).await;
    assert_eq!(parked["status"], "PARKED");
    assert!(
        parked["parked_reason"]
            .as_str()
            .unwrap()
            .contains("no associated company"),
        "{parked}"
    );
    assert_eq!(
        world.scalar::<i64>("SELECT count(*) FROM customers").await,
        0
    );
    let company = world
        .ui
        .create("companies", json!({"name": "Found Later"}))
        .await;
    world
        .ui
        .associate_as("deals", &lonely, "companies", &company, 5)
        .await;
    world.settle().await;
    assert_eq!(world.onboarding_of(&lonely).await["status"], "PENDING");
    world.run().await;
    assert_eq!(world.onboarding_of(&lonely).await["status"], "DONE");

    // HubSpot refuses the BAN on a deal won without a close date once the portal's rule is
    // on: parked with HubSpot's reason; a retry before the fix parks again; the close date
    // set in HubSpot lets it finish.
    let (_, refused) = world
        .company_with_deal("Strict Portal", "No close date")
        .await;
    world
        .ui
        .update("deals", &refused, json!({"dealstage": "closedwon"}))
        .await;
    world.settle().await;
    let rule = world
        .http
        .put(format!(
            "{}/_sandbox/validation-rules/deals",
            world.sandbox.base_url()
        ))
        .json(&json!({"closed_won_requires_close_date": true}))
        .send()
        .await
        .unwrap();
    assert!(rule.status().is_success());
    world.run().await;
    let parked = world.onboarding_of(&refused).await;
    assert_eq!(
        (parked["status"].clone(), parked["step"].clone()),
        (json!("PARKED"), json!("WRITE_DEAL_BAN")),
        "{parked}"
    );
    assert!(
        parked["parked_reason"]
            .as_str()
            .unwrap()
            .contains("closedate"),
        "{parked}"
    );
    assert!(parked["customer_id"].is_string(), "the customer exists");
    let id = parked["id"].as_str().unwrap().to_owned();

    let retry = format!("/v1/onboardings/{id}/retry");
    let (status, _) = world
        .call(reqwest::Method::POST, &retry, &world.viewer)
        .await;
    assert_eq!(status, 403, "a viewer cannot retry");
    let (status, retried) = world
        .call(reqwest::Method::POST, &retry, &world.editor)
        .await;
    assert_eq!(status, 202, "{retried}");
    assert_eq!(retried["status"], "PENDING");
    world.run().await;
    assert_eq!(world.onboarding_of(&refused).await["status"], "PARKED");

    world
        .ui
        .update(
            "deals",
            &refused,
            json!({"closedate": "2026-12-05T00:00:00Z"}),
        )
        .await;
    world.settle().await;
    world.run().await;
    let done = world.onboarding_of(&refused).await;
    assert_eq!(done["status"], "DONE", "{done}");
    assert_eq!(world.warp_ban("deals", &refused).await, done["ban"]);
    let (status, again) = world
        .call(reqwest::Method::POST, &retry, &world.editor)
        .await;
    assert_eq!(status, 409, "{again}");

    // The routes' refusals.
    let (status, _) = world.get(&format!("/v1/onboardings/{id}")).await;
    assert_eq!(status, 200);
    let (status, _) = world
        .get("/v1/onboardings/0190b0a8-0000-7000-8000-000000000000")
        .await;
    assert_eq!(status, 404);
    let (status, problem) = world.get("/v1/onboardings?status=STUCK").await;
    assert_eq!(status, 422);
    assert_eq!(problem["errors"][0]["field"], "status", "{problem}");
    let (status, page) = world.get("/v1/onboardings?status=done&limit=1").await;
    assert_eq!(status, 200);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(page["next_cursor"].is_string(), "{page}");
}

#[tokio::test]
async fn a_taken_ban_a_lost_deal_and_a_stale_runner_leave_nothing_half_done() {
    let world = world().await;

    // The BAN reserved for the company turns out to be on another HubSpot company: the
    // reservation is given up and the onboarding ends with a fresh BAN.
    let (company, deal) = world.company_with_deal("Clash Co", "Clash deal").await;
    world.win(&deal).await;
    world.settle().await;
    world.runner.run_due_steps(1, 1).await.unwrap();
    let reserved = world.onboarding_of(&deal).await;
    assert_eq!(reserved["step"], "STAMP_COMPANY", "{reserved}");
    let first_ban = reserved["ban"].as_str().unwrap().to_owned();
    world
        .ui
        .create(
            "companies",
            json!({"name": "Squatter", "warp_ban": first_ban}),
        )
        .await;
    // While the runner holds it, a retry is refused rather than taking it away.
    let (status, _) = world
        .call(
            reqwest::Method::POST,
            &format!("/v1/onboardings/{}/retry", reserved["id"].as_str().unwrap()),
            &world.editor,
        )
        .await;
    assert_eq!(status, 409);
    world
        .execute("UPDATE onboardings SET lease_until = now() - interval '1 second'")
        .await;
    world.run().await;
    let done = world.onboarding_of(&deal).await;
    assert_eq!(done["status"], "DONE", "{done}");
    let ban = done["ban"].as_str().unwrap();
    assert_ne!(ban, first_ban);
    assert_eq!(world.warp_ban("companies", &company).await, ban);

    // A deal lost while its onboarding backs off before CREATE_CUSTOMER: no customer.
    let customers = world.scalar::<i64>("SELECT count(*) FROM customers").await;
    let (_, lost) = world.company_with_deal("Fickle Co", "Fickle deal").await;
    world.win(&lost).await;
    world.settle().await;
    world.runner.run_due_steps(1, 2).await.unwrap();
    assert_eq!(world.onboarding_of(&lost).await["step"], "CREATE_CUSTOMER");
    world
        .ui
        .update("deals", &lost, json!({"dealstage": "closedlost"}))
        .await;
    world.settle().await;
    world
        .execute("UPDATE onboardings SET lease_until = now() - interval '1 second'")
        .await;
    world.run().await;
    let parked = world.onboarding_of(&lost).await;
    assert_eq!(parked["status"], "PARKED", "{parked}");
    assert!(
        parked["parked_reason"]
            .as_str()
            .unwrap()
            .contains("no longer won"),
        "{parked}"
    );
    assert_eq!(
        world.scalar::<i64>("SELECT count(*) FROM customers").await,
        customers
    );

    // A runner whose lease ran out and whose onboarding another runner claimed records
    // nothing: its step and its failure are both refused by the fence.
    let (_, contested) = world.company_with_deal("Contested Co", "Contested").await;
    world.win(&contested).await;
    world.settle().await;
    world.runner.run_due_steps(1, 1).await.unwrap();
    let id = uuid::Uuid::parse_str(
        world.onboarding_of(&contested).await["id"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let stale = warp_store::onboardings::get(&world.database, PORTAL, id)
        .await
        .unwrap();
    world
        .execute("UPDATE onboardings SET lease_until = now() - interval '1 second'")
        .await;
    let fresh = warp_store::onboardings::claim_next(&world.database, PORTAL)
        .await
        .unwrap()
        .expect("the expired claim is taken again");
    assert_eq!(fresh.id, id);
    assert_ne!(fresh.lease_token, stale.lease_token);
    let client = world.database.client().await.unwrap();
    let moved = warp_store::onboardings::advance(
        &**client,
        &stale,
        warp_domain::onboarding::OnboardingStep::CreateCustomer,
        &warp_store::onboardings::StepResult::default(),
    )
    .await
    .unwrap();
    assert_eq!(moved, None);
    warp_store::onboardings::fail(
        &world.database,
        &stale,
        1,
        "stale",
        &warp_domain::onboarding::AfterFailure::Park("stale".into()),
    )
    .await
    .unwrap();
    let still = warp_store::onboardings::get(&world.database, PORTAL, id)
        .await
        .unwrap();
    assert_eq!(
        (still.status, still.step, still.lease_token),
        (
            warp_domain::onboarding::OnboardingStatus::Pending,
            fresh.step,
            fresh.lease_token
        )
    );
}

#[tokio::test]
async fn companies_made_in_hubspot_wait_for_an_editor_unless_the_rule_takes_them() {
    let world = world().await;
    let (status, rule) = world.get("/v1/sync/hubspot/company-rule").await;
    assert_eq!((status, rule["rule"].clone()), (200, json!("won_deal")));

    // The default rule takes nothing: the company is listed as a candidate.
    let company = world
        .ui
        .create(
            "companies",
            json!({"name": "Walk In Ltd", "domain": "walk-in.example", "lifecyclestage": "customer"}),
        )
        .await;
    world.settle().await;
    let (status, candidates) = world.get("/v1/sync/hubspot/companies/candidates").await;
    assert_eq!(status, 200, "{candidates}");
    assert_eq!(
        candidates["items"][0]["hubspot_company_id"],
        company.as_str()
    );
    assert_eq!(candidates["items"][0]["name"], "Walk In Ltd");
    assert!(world.onboardings().await.is_empty());

    // An editor adopts it: the customer is made and the BAN written back.
    let adopt = format!("/v1/sync/hubspot/companies/{company}/adopt");
    let (status, _) = world
        .call(reqwest::Method::POST, &adopt, &world.viewer)
        .await;
    assert_eq!(status, 403);
    let (status, adopted) = world
        .call(reqwest::Method::POST, &adopt, &world.editor)
        .await;
    assert_eq!(status, 202, "{adopted}");
    assert_eq!(adopted["source"], "ADOPTION");
    assert_eq!(adopted["requested_by"], "editor-1");
    let (status, again) = world
        .call(reqwest::Method::POST, &adopt, &world.editor)
        .await;
    assert_eq!(status, 409, "{again}");
    world.run().await;
    let (_, done) = world
        .get(&format!(
            "/v1/onboardings/{}",
            adopted["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        (done["status"].clone(), done["step"].clone()),
        (json!("DONE"), json!("DONE")),
        "{done}"
    );
    let ban = done["ban"].as_str().unwrap();
    assert_eq!(world.warp_ban("companies", &company).await, ban);
    let notes = world.ui.list_all("notes", "warp_event_id").await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        world
            .ui
            .associations("notes", notes[0]["id"].as_str().unwrap(), "deals")
            .await
            .is_empty(),
        "no deal to put it on"
    );
    let (_, candidates) = world.get("/v1/sync/hubspot/companies/candidates").await;
    assert_eq!(candidates["items"], json!([]));
    let (status, _) = world
        .call(reqwest::Method::POST, &adopt, &world.editor)
        .await;
    assert_eq!(status, 409, "a customer already");
    let (status, _) = world
        .call(
            reqwest::Method::POST,
            "/v1/sync/hubspot/companies/99999999999/adopt",
            &world.editor,
        )
        .await;
    assert_eq!(status, 404);

    // The rule changed by an admin: a company that is (or becomes) a customer by its
    // lifecycle stage is onboarded by itself; a lead waits.
    let rule_path = "/v1/sync/hubspot/company-rule";
    let body = json!({"rule": "lifecycle_customer"});
    let (status, _) = world
        .send(reqwest::Method::PUT, rule_path, &world.editor, body.clone())
        .await;
    assert_eq!(status, 403);
    let (status, problem) = world
        .send(
            reqwest::Method::PUT,
            rule_path,
            &world.admin,
            json!({"rule": "all"}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(problem["errors"][0]["field"], "rule", "{problem}");
    let (status, rule) = world
        .send(reqwest::Method::PUT, rule_path, &world.admin, body)
        .await;
    assert_eq!(
        (status, rule["rule"].clone()),
        (200, json!("lifecycle_customer"))
    );
    assert_eq!(rule["updated_by"], "admin-1");
    let paying = world
        .ui
        .create(
            "companies",
            json!({"name": "Paying Co", "lifecyclestage": "customer"}),
        )
        .await;
    let lead = world
        .ui
        .create(
            "companies",
            json!({"name": "Lead Co", "lifecyclestage": "lead"}),
        )
        .await;
    world.settle().await;
    let sources: Vec<(Value, Value)> = world
        .onboardings()
        .await
        .iter()
        .map(|o| (o["hubspot_company_id"].clone(), o["source"].clone()))
        .collect();
    assert!(
        sources.contains(&(json!(paying), json!("RULE"))),
        "{sources:?}"
    );
    assert!(
        !sources.iter().any(|(c, _)| *c == json!(lead)),
        "{sources:?}"
    );
    world
        .ui
        .update("companies", &lead, json!({"lifecyclestage": "customer"}))
        .await;
    world.settle().await;
    world.run().await;
    assert_eq!(
        world.scalar::<i64>("SELECT count(*) FROM customers").await,
        3
    );
    for taken in [&paying, &lead] {
        assert!(
            world.warp_ban("companies", taken).await.is_string(),
            "{taken}"
        );
    }
}
