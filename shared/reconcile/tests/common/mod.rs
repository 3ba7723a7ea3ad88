//! Shared setup of the reconciliation tests: a fresh database, the HubSpot sandbox over HTTP
//! with WARP's properties, the outbound worker, the inbound processor and the reconciler wired
//! to them, and helpers that act as a person editing in HubSpot's UI.

#![allow(dead_code)]

use hubspot_sandbox::{SandboxConfig, SandboxHandle};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;
use warp_domain::customer::NewCustomer;
use warp_hubspot::{HubSpotClient, HubSpotClientConfig, InProcessRateBudget, RateLimitSettings};
use warp_reconcile::Reconciler;
use warp_store::sync_config::MappingSource;
use warp_store::users::{CreatedUser, UserStore};
use warp_store::{Created, CustomerStore, Database};
use warp_sync::outbound::OutboundWorker;
use warp_webhook::InboundProcessor;

pub const PORTAL: i64 = 62515;
pub const APP_TOKEN: &str = "sandbox-app-token";
pub const USER_TOKEN: &str = "sandbox-user-token";

pub struct Harness {
    pub database: Database,
    pub sandbox: SandboxHandle,
    pub customers: CustomerStore,
    pub users: UserStore,
    pub worker: OutboundWorker,
    pub reconciler: Reconciler,
    pub http: reqwest::Client,
}

pub async fn harness() -> Harness {
    harness_with(SandboxConfig::default()).await
}

pub async fn harness_with(config: SandboxConfig) -> Harness {
    let settings = RateLimitSettings {
        max_per_interval: config.rate_limit_max,
        interval: std::time::Duration::from_millis(config.rate_limit_interval_ms),
        ..RateLimitSettings::default()
    };
    let sandbox = hubspot_sandbox::spawn(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("sandbox starts");
    let server = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let database = Database::fresh_for_test(&server).await.expect("database");
    let mut client_config = HubSpotClientConfig::new(
        warp_hubspot::config::parse_base_url(&sandbox.base_url()).unwrap(),
        SecretString::from(APP_TOKEN),
        PORTAL,
    );
    client_config.rate_limit = settings;
    let hubspot = HubSpotClient::new(
        &client_config,
        Arc::new(InProcessRateBudget::new(&settings)),
    )
    .unwrap();
    warp_hubspot::ensure_warp_properties(&hubspot)
        .await
        .unwrap();
    let map = MappingSource::read_every_time(database.clone(), PORTAL)
        .await
        .unwrap();
    let inbound = Arc::new(InboundProcessor {
        database: database.clone(),
        hubspot: Some(hubspot.clone()),
        map: map.clone(),
        portal_id: PORTAL,
    });
    Harness {
        customers: CustomerStore::new(database.clone(), PORTAL),
        users: UserStore::new(database.clone(), PORTAL),
        worker: OutboundWorker::new(database.clone(), hubspot.clone(), PORTAL, map.clone()),
        reconciler: Reconciler {
            database: database.clone(),
            hubspot,
            map,
            portal_id: PORTAL,
            inbound,
            publisher: None,
        },
        database,
        sandbox,
        http: reqwest::Client::new(),
    }
}

impl Harness {
    /// Creates a customer through the store (as the API does); returns (id, BAN).
    pub async fn create(&self, name: &str) -> (Uuid, String) {
        let new = NewCustomer::from_json(&json!({
            "company_name": name,
            "customer_type": "POSTPAID",
            "credit_limit": "2500.00",
            "domain": format!("{}.example", name.to_lowercase().replace(' ', "-")),
            "contact": {"email": "billing@example.com", "phone": "+14155550100"},
        }))
        .unwrap();
        match self.customers.create(&new, None).await.unwrap() {
            Created::New(written, _) => (written.value.id, written.value.ban.to_string()),
            Created::Replayed(_) => unreachable!("no idempotency key was given"),
        }
    }

    /// Creates an active user of the customer through the store (as the API does).
    pub async fn create_user(&self, customer: Uuid, email: &str, first_name: &str) -> Uuid {
        let new = warp_domain::user::NewUser::from_json(&json!({
            "email": email,
            "first_name": first_name,
            "last_name": "Tester",
            "role": "developer",
        }))
        .unwrap();
        match self.users.create(customer, &new, None).await.unwrap() {
            CreatedUser::New(user, _, _) => user.id,
            CreatedUser::Replayed(_) => unreachable!("no idempotency key was given"),
        }
    }

    /// The contact the user is linked to (`None` when unlinked).
    pub async fn contact_of(&self, user: Uuid) -> Option<String> {
        let client = self.database.client().await.unwrap();
        client
            .query_opt(
                "SELECT hubspot_id FROM hubspot_links WHERE object_type = 'contacts' \
                 AND local_id = $1 AND unlinked_at IS NULL",
                &[&user],
            )
            .await
            .unwrap()
            .map(|row| row.get(0))
    }

    /// A person removes the association between a contact and a company in HubSpot's UI.
    pub async fn ui_dissociate(&self, contact: &str, company: &str) {
        let response = self
            .http
            .delete(self.url(&format!(
                "/crm/v4/objects/contacts/{contact}/associations/companies/{company}"
            )))
            .bearer_auth(USER_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204, "{}", response.text().await.unwrap());
    }

    /// A contact's properties as HubSpot holds them.
    pub async fn contact(&self, contact: &str) -> Value {
        self.properties("contacts", contact, "email,firstname,lastname,warp_user_id")
            .await
    }

    /// The companies a contact is associated with, each with its association type ids.
    pub async fn contact_companies(&self, contact: &str) -> Vec<(String, Vec<u64>)> {
        let page: Value = self
            .http
            .get(self.url(&format!(
                "/crm/v4/objects/contacts/{contact}/associations/companies"
            )))
            .bearer_auth(USER_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|to| {
                let mut types: Vec<u64> = to["associationTypes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|t| t["typeId"].as_u64())
                    .collect();
                types.sort_unstable();
                (
                    to["toObjectId"].to_string().trim_matches('"').to_owned(),
                    types,
                )
            })
            .collect()
    }

    /// Active contacts carrying this email.
    pub async fn contacts_with_email(&self, email: &str) -> usize {
        let page: Value = self
            .http
            .get(self.url("/crm/v3/objects/contacts"))
            .bearer_auth(USER_TOKEN)
            .query(&[("limit", "100"), ("properties", "email")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|contact| contact["properties"]["email"] == email)
            .count()
    }

    /// Runs the outbound worker until no outbox row is due.
    pub async fn push_all(&self) {
        for _ in 0..50 {
            let report = self.worker.process_due(1_000).await.unwrap();
            if report.rows() == 0 {
                return;
            }
        }
        panic!("the outbox did not drain");
    }

    /// A write whose push was lost: its outbox rows end DONE without reaching HubSpot.
    pub async fn lose_pending_pushes(&self) {
        self.sql("UPDATE hubspot_sync_queue SET status = 'DONE' WHERE status <> 'DONE'")
            .await;
    }

    pub async fn sql(&self, sql: &str) {
        let client = self.database.client().await.unwrap();
        client.batch_execute(sql).await.unwrap();
    }

    pub async fn scalar(&self, sql: &str) -> i64 {
        let client = self.database.client().await.unwrap();
        client.query_one(sql, &[]).await.unwrap().get(0)
    }

    pub async fn text(&self, sql: &str) -> Option<String> {
        let client = self.database.client().await.unwrap();
        client.query_one(sql, &[]).await.unwrap().get(0)
    }

    pub async fn company_of(&self, customer: Uuid) -> Option<String> {
        self.text(&format!(
            "SELECT external_ids->>'hubspot_company_id' FROM customers WHERE id = '{customer}'"
        ))
        .await
    }

    /// The company the customer is linked to (panics when unlinked).
    pub async fn linked(&self, customer: Uuid) -> String {
        self.company_of(customer)
            .await
            .expect("the customer is linked")
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sandbox.base_url())
    }

    /// A person edits the company in HubSpot's UI.
    pub async fn ui_update(&self, company: &str, properties: Value) {
        self.ui_update_object("companies", company, properties)
            .await;
    }

    /// A person edits a record of `object_type` (`companies`, `contacts`) in HubSpot's UI.
    pub async fn ui_update_object(&self, object_type: &str, id: &str, properties: Value) {
        let response = self
            .http
            .patch(self.url(&format!("/crm/v3/objects/{object_type}/{id}")))
            .bearer_auth(USER_TOKEN)
            .json(&json!({ "properties": properties }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }

    /// A person creates a company in HubSpot's UI; returns its id.
    pub async fn ui_create(&self, properties: Value) -> String {
        let response = self
            .http
            .post(self.url("/crm/v3/objects/companies"))
            .bearer_auth(USER_TOKEN)
            .json(&json!({ "properties": properties }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A person deletes (archives) the company in HubSpot's UI.
    pub async fn ui_delete(&self, company: &str) {
        self.ui_delete_object("companies", company).await;
    }

    /// A person deletes (archives) a record of `object_type` in HubSpot's UI.
    pub async fn ui_delete_object(&self, object_type: &str, id: &str) {
        let response = self
            .http
            .delete(self.url(&format!("/crm/v3/objects/{object_type}/{id}")))
            .bearer_auth(USER_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
    }

    /// A person restores an archived company (HubSpot's recycle bin).
    pub async fn ui_restore(&self, company: &str) {
        let response = self
            .http
            .post(self.url(&format!("/_sandbox/companies/{company}/restore")))
            .bearer_auth(USER_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }

    /// A person merges `loser` into `primary` in HubSpot's UI.
    pub async fn ui_merge(&self, primary: &str, loser: &str) {
        let response = self
            .http
            .post(self.url("/crm/v3/objects/companies/merge"))
            .bearer_auth(USER_TOKEN)
            .json(&json!({"primaryObjectId": primary, "objectIdToMerge": loser}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }

    /// A company's properties as HubSpot holds them.
    pub async fn company(&self, company: &str) -> Value {
        self.properties(
            "companies",
            company,
            "name,domain,warp_ban,warp_status,warp_credit_limit",
        )
        .await
    }

    /// A record's `properties` as HubSpot holds them.
    async fn properties(&self, object_type: &str, id: &str, properties: &str) -> Value {
        self.http
            .get(self.url(&format!("/crm/v3/objects/{object_type}/{id}")))
            .query(&[("properties", properties)])
            .bearer_auth(USER_TOKEN)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()["properties"]
            .clone()
    }

    /// Active companies carrying this BAN.
    pub async fn companies_with_ban(&self, ban: &str) -> Vec<Value> {
        let page: Value = self
            .http
            .get(self.url("/crm/v3/objects/companies"))
            .bearer_auth(USER_TOKEN)
            .query(&[("limit", "100"), ("properties", "warp_ban,name")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|company| company["properties"]["warp_ban"] == ban)
            .cloned()
            .collect()
    }

    /// Everything a dry run must leave alone, as one comparable value.
    pub async fn fingerprint(&self) -> (i64, i64, i64, i64, i64, String, String) {
        let customers = self
            .text("SELECT string_agg(id::text || ':' || version || ':' || external_ids::text, ',' ORDER BY id) FROM customers")
            .await
            .unwrap_or_default();
        let companies = self
            .http
            .get(self.url("/crm/v3/objects/companies"))
            .bearer_auth(USER_TOKEN)
            .query(&[
                ("limit", "100"),
                (
                    "properties",
                    "name,domain,warp_ban,warp_status,warp_credit_limit",
                ),
            ])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        (
            self.scalar("SELECT count(*) FROM hubspot_sync_queue").await,
            self.scalar("SELECT count(*) FROM hubspot_webhook_events").await,
            self.scalar("SELECT count(*) FROM sync_conflicts").await,
            self.scalar("SELECT count(*) FROM hubspot_field_state WHERE hubspot_changed_at IS NOT NULL").await,
            self.scalar("SELECT coalesce(sum(extract(epoch FROM updated_at) * 1000)::bigint, 0) FROM hubspot_field_state").await,
            customers,
            companies,
        )
    }
}
