//! Deals mirrored from HubSpot, end to end: a salesperson works a deal in the sandbox (by its
//! UI token), the sandbox delivers signed deal webhooks to the receiver on loopback, the
//! processor reads the deal back through the real client and stores it in a fresh Postgres,
//! and the API serves it. What "won" means comes from the pipeline's stage metadata.

mod common;

use chrono::Utc;
use hubspot_sandbox::{SandboxConfig, SandboxHandle};
use serde_json::{Value, json};
use warp_hubspot::RateLimitSettings;
use warp_store::Database;
use warp_store::sync_config::MappingSource;
use warp_testkit::{HubSpotUi, PORTAL, hubspot};
use warp_webhook::InboundProcessor;

const SECRET: &str = "deal-test-webhook-secret";
const JWT_SECRET: &str = "deal-test-jwt-secret";

struct World {
    database: Database,
    receiver: String,
    sandbox: SandboxHandle,
    processor: InboundProcessor,
    /// A salesperson in HubSpot's UI.
    ui: HubSpotUi,
    http: reqwest::Client,
    api: String,
    token: String,
}

async fn world() -> World {
    let database = warp_testkit::fresh_database().await;
    let receiver = common::receiver(&database, SECRET).await;
    let sandbox = hubspot::sandbox(SandboxConfig {
        webhook_secret: SECRET.to_owned(),
        webhook_target: Some(format!("{receiver}/webhooks/hubspot")),
        ..SandboxConfig::default()
    })
    .await;
    let client = hubspot::client(&hubspot::client_config(
        &sandbox,
        RateLimitSettings::default(),
    ));
    let processor = InboundProcessor {
        database: database.clone(),
        hubspot: Some(client),
        map: MappingSource::read_every_time(database.clone(), PORTAL)
            .await
            .unwrap(),
        portal_id: PORTAL,
    };
    let (api, token) = api(&database).await;
    World {
        ui: HubSpotUi::new(&sandbox),
        database,
        receiver,
        sandbox,
        processor,
        http: reqwest::Client::new(),
        api,
        token,
    }
}

async fn api(database: &Database) -> (String, String) {
    common::api(database, JWT_SECRET, "viewer").await
}

impl World {
    async fn scalar_text(&self, sql: &str) -> Option<String> {
        let client = self.database.client().await.unwrap();
        client.query_one(sql, &[]).await.unwrap().get(0)
    }

    async fn settle(&self) -> warp_webhook::InboundReport {
        common::settle(&self.database, &self.processor, 500).await
    }

    /// A late or repeated delivery.
    async fn deliver(&self, events: &[Value]) {
        common::deliver(&self.http, &self.receiver, SECRET, events).await;
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let answer = self
            .http
            .get(format!("{}{path}", self.api))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or(Value::Null))
    }

    /// The one deal the API lists with this HubSpot id (archived ones included).
    async fn deal(&self, hubspot_id: &str) -> Value {
        let (status, page) = self.get("/v1/deals?archived=true&limit=100").await;
        assert_eq!(status, 200, "{page}");
        let found: Vec<&Value> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|deal| deal["hubspot_id"] == hubspot_id)
            .collect();
        assert_eq!(found.len(), 1, "{page}");
        found[0].clone()
    }

    async fn sandbox_post(&self, path: &str, body: Value) -> Value {
        let answer = self
            .http
            .post(format!("{}{path}", self.sandbox.base_url()))
            .bearer_auth(warp_testkit::USER_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "{path}: {}", answer.status());
        answer.json().await.unwrap()
    }
}

#[tokio::test]
async fn a_deal_worked_in_hubspot_is_mirrored_through_every_stage_and_never_rolled_back() {
    let world = world().await;
    let company = world
        .ui
        .create(
            "companies",
            json!({"name": "Deal Co", "domain": "deal.example"}),
        )
        .await;
    let deal = world
        .ui
        .create(
            "deals",
            json!({"dealname": "WARP SIP rollout", "amount": "12500.10", "dealstage": "qualifiedtobuy",
                   "deal_currency_code": "usd"}),
        )
        .await;
    world
        .ui
        .associate_as("deals", &deal, "companies", &company, 5)
        .await;
    let report = world.settle().await;
    assert!(report.processed >= 2, "{report:?}");
    let stored = world.deal(&deal).await;
    assert_eq!(stored["name"], "WARP SIP rollout");
    assert_eq!(stored["amount"], "12500.10", "exact, never through a float");
    assert_eq!(stored["currency"], "USD");
    assert_eq!(stored["pipeline_id"], "default");
    assert_eq!(stored["pipeline_label"], "Sales Pipeline");
    assert_eq!(stored["stage_label"], "Qualified To Buy");
    assert_eq!(stored["stage_outcome"], "open");
    assert_eq!(stored["hubspot_company_id"], company.as_str());
    assert_eq!(stored["archived"], false);

    // Won: the stage HubSpot's metadata calls closed with probability 1.
    world
        .ui
        .update(
            "deals",
            &deal,
            json!({"dealstage": "closedwon", "closedate": "2026-12-04T00:00:00Z"}),
        )
        .await;
    world.settle().await;
    let won = world.deal(&deal).await;
    assert_eq!(won["stage_outcome"], "won");
    assert_eq!(won["close_date"], "2026-12-04T00:00:00Z");
    let (status, wins) = world.get("/v1/deals?outcome=won").await;
    assert_eq!(status, 200);
    assert_eq!(wins["items"].as_array().unwrap().len(), 1, "{wins}");

    // A creation event delivered late and twice, after the win: the deal is read again and
    // ends in the same row (the store's own test covers an older read arriving last).
    let late = json!({
        "eventId": 9_900_001, "subscriptionId": 3_000_001, "portalId": PORTAL,
        "appId": 1, "occurredAt": Utc::now().timestamp_millis() - 60_000,
        "subscriptionType": "deal.creation", "attemptNumber": 0,
        "objectId": deal.parse::<i64>().unwrap(), "changeFlag": "CREATED", "changeSource": "CRM_UI",
    });
    world.deliver(&[late.clone(), late]).await;
    world.settle().await;
    assert_eq!(world.deal(&deal).await["stage_outcome"], "won");

    // Deleted in HubSpot: archived, and gone from the default list; restored: back.
    world.ui.delete("deals", &deal).await;
    world.settle().await;
    assert_eq!(world.deal(&deal).await["archived"], true);
    let (_, listed) = world.get("/v1/deals").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 0, "{listed}");
    world.ui.restore("deals", &deal).await;
    world.settle().await;
    let restored = world.deal(&deal).await;
    assert_eq!(
        (
            restored["archived"].clone(),
            restored["stage_outcome"].clone()
        ),
        (json!(false), json!("won"))
    );

    // Merged into another deal: the loser is archived and names its survivor.
    let survivor = world
        .ui
        .create(
            "deals",
            json!({"dealname": "Survivor deal", "dealstage": "contractsent"}),
        )
        .await;
    world.settle().await;
    world.ui.merge("deals", &survivor, &deal).await;
    world.settle().await;
    let merged = world.deal(&deal).await;
    assert_eq!(merged["archived"], true);
    assert_eq!(merged["merged_into_hubspot_id"], survivor.as_str());
    assert_eq!(world.deal(&survivor).await["archived"], false);

    // Every deal event ended PROCESSED.
    let open = world
        .scalar_text(
            "SELECT string_agg(subscription_type || ':' || status, ', ') FROM hubspot_webhook_events \
             WHERE subscription_type LIKE 'deal.%' AND status <> 'PROCESSED'",
        )
        .await;
    assert_eq!(open, None);
}

#[tokio::test]
async fn won_comes_from_the_stage_metadata_of_the_portals_own_pipeline() {
    let world = world().await;
    // The processor stored HubSpot's default pipeline before the portal made its own.
    let early = world
        .ui
        .create(
            "deals",
            json!({"dealname": "Early", "dealstage": "appointmentscheduled"}),
        )
        .await;
    world.settle().await;
    assert_eq!(world.deal(&early).await["stage_outcome"], "open");

    let pipeline = world
        .sandbox_post(
            "/crm/pipelines/2026-09/deals",
            json!({"label": "Wholesale", "displayOrder": 1, "stages": [
                {"label": "Talking", "displayOrder": 0, "metadata": {"isClosed": "false", "probability": "0.3"}},
                {"label": "Signed", "displayOrder": 1, "metadata": {"isClosed": "true", "probability": "1.0"}},
                {"label": "Walked away", "displayOrder": 2, "metadata": {"isClosed": "true", "probability": "0.0"}},
            ]}),
        )
        .await;
    let pipeline_id = pipeline["id"].as_str().unwrap();
    let stage = |label: &str| {
        pipeline["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["label"] == label)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // Its stage is not in the stored copy (fresh as it is): the copy is read again.
    let signed = world
        .ui
        .create(
            "deals",
            json!({"dealname": "Carrier deal", "pipeline": pipeline_id, "dealstage": stage("Signed"),
                   "closedate": "2026-12-01"}),
        )
        .await;
    let lost = world
        .ui
        .create(
            "deals",
            json!({"dealname": "Lost deal", "pipeline": pipeline_id, "dealstage": stage("Walked away")}),
        )
        .await;
    world.settle().await;
    let signed = world.deal(&signed).await;
    assert_eq!(signed["stage_outcome"], "won", "{signed}");
    assert_eq!(signed["stage_label"], "Signed");
    assert_eq!(signed["pipeline_label"], "Wholesale");
    assert_eq!(world.deal(&lost).await["stage_outcome"], "lost");

    let (status, page) = world
        .get(&format!("/v1/deals?pipeline={pipeline_id}&outcome=won"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");

    // A stage that is not one of the pipeline's is refused by HubSpot, on any path.
    let refused = world
        .http
        .patch(format!(
            "{}/crm/v3/objects/deals/{}",
            world.sandbox.base_url(),
            signed["hubspot_id"].as_str().unwrap()
        ))
        .bearer_auth(warp_testkit::USER_TOKEN)
        .json(&json!({"properties": {"dealstage": "closedwon"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("dealstage"),
        "{body}"
    );
}

#[tokio::test]
async fn the_deal_routes_page_filter_and_refuse_bad_queries() {
    let world = world().await;
    for n in 0..5 {
        world
            .ui
            .create(
                "deals",
                json!({"dealname": format!("Deal {n}"), "dealstage": if n % 2 == 0 { "closedlost" } else { "contractsent" }}),
            )
            .await;
    }
    world.settle().await;

    let (status, first) = world.get("/v1/deals?limit=2").await;
    assert_eq!(status, 200);
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, rest) = world
        .get(&format!("/v1/deals?limit=10&cursor={cursor}"))
        .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 3);
    assert!(rest["next_cursor"].is_null());
    let (_, lost) = world.get("/v1/deals?outcome=lost&stage=closedlost").await;
    assert_eq!(lost["items"].as_array().unwrap().len(), 3, "{lost}");

    let id = first["items"][0]["id"].as_str().unwrap();
    let (status, one) = world.get(&format!("/v1/deals/{id}")).await;
    assert_eq!((status, one["id"].as_str()), (200, Some(id)));
    let (status, _) = world
        .get("/v1/deals/00000000-0000-4000-8000-000000000000")
        .await;
    assert_eq!(status, 404);

    let (status, problem) = world
        .get("/v1/deals?outcome=maybe&limit=0&colour=red")
        .await;
    assert_eq!(status, 422, "{problem}");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    for field in ["outcome", "limit", "colour"] {
        assert!(fields.contains(&field), "{problem}");
    }
    let (status, _) = world
        .get("/v1/customers/00000000-0000-4000-8000-000000000000/deals")
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_portal_rule_closed_won_needs_a_close_date_on_the_dated_paths() {
    let world = world().await;
    let answer = world
        .http
        .put(format!(
            "{}/_sandbox/validation-rules/deals",
            world.sandbox.base_url()
        ))
        .json(&json!({"closed_won_requires_close_date": true}))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success());
    let create = |path: &'static str, properties: Value| {
        let http = world.http.clone();
        let url = format!("{}{path}", world.sandbox.base_url());
        async move {
            http.post(url)
                .bearer_auth(warp_testkit::USER_TOKEN)
                .json(&json!({ "properties": properties }))
                .send()
                .await
                .unwrap()
        }
    };
    let refused = create(
        "/crm/objects/2026-09/deals",
        json!({"dealname": "No date", "dealstage": "closedwon"}),
    )
    .await;
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["category"], "VALIDATION_ERROR", "{body}");
    assert!(body.to_string().contains("closedate"), "{body}");
    // With the date it goes through; v3 does not enforce the portal's rules.
    let dated = create(
        "/crm/objects/2026-09/deals",
        json!({"dealname": "Dated", "dealstage": "closedwon", "closedate": "2026-12-04"}),
    )
    .await;
    assert_eq!(dated.status(), 201);
    let v3 = create(
        "/crm/v3/objects/deals",
        json!({"dealname": "Old path", "dealstage": "closedwon"}),
    )
    .await;
    assert_eq!(v3.status(), 201);
}
