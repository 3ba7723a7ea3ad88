//! Shared setup of the reconciliation tests, on the workspace's test harness (warp-testkit):
//! a fresh database, the HubSpot sandbox over HTTP with WARP's properties, the outbound worker,
//! the inbound processor and the reconciler wired to them, and a person in HubSpot's UI.

#![allow(dead_code)]

use hubspot_sandbox::{SandboxConfig, SandboxHandle};
use serde_json::Value;
use std::sync::Arc;
use uuid::Uuid;
use warp_reconcile::Reconciler;
use warp_store::sync_config::MappingSource;
use warp_store::users::UserStore;
use warp_store::{CustomerStore, Database};
use warp_sync::outbound::OutboundWorker;
use warp_testkit::{HubSpotUi, PORTAL, Sql, hubspot, records};
use warp_webhook::InboundProcessor;

pub struct Harness {
    pub database: Database,
    pub sandbox: SandboxHandle,
    pub ui: HubSpotUi,
    pub customers: CustomerStore,
    pub users: UserStore,
    pub worker: OutboundWorker,
    pub reconciler: Reconciler,
}

pub async fn harness() -> Harness {
    harness_with(SandboxConfig::default()).await
}

pub async fn harness_with(config: SandboxConfig) -> Harness {
    let settings = hubspot::settings_of(&config);
    let sandbox = hubspot::sandbox(config).await;
    let database = warp_testkit::fresh_database().await;
    let hubspot = hubspot::client_with_warp_properties(&sandbox, settings).await;
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
            reader: hubspot.clone(),
            hubspot,
            map,
            portal_id: PORTAL,
            inbound,
            publisher: None,
            onboarding: None,
            audit_retention: warp_store::audit::DEFAULT_RETENTION,
            journal: None,
            calls: None,
            account_events: None,
            tickets: None,
            services: None,
            usage_daily_note: false,
        },
        ui: HubSpotUi::new(&sandbox),
        database,
        sandbox,
    }
}

/// The company properties these tests compare.
const COMPANY_PROPERTIES: &str = "name,domain,warp_ban,warp_status,warp_credit_limit";

impl Harness {
    /// Creates a customer through the store (as the API does); returns (id, BAN).
    pub async fn create(&self, name: &str) -> (Uuid, String) {
        let created =
            records::create_customer(&self.customers, &records::customer_body(name)).await;
        (created.id, created.ban)
    }

    /// Creates an active user of the customer through the store (as the API does).
    pub async fn create_user(&self, customer: Uuid, email: &str, first_name: &str) -> Uuid {
        records::create_user(&self.users, customer, email, first_name).await
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

    /// A contact's properties as HubSpot holds them.
    pub async fn contact(&self, contact: &str) -> Value {
        self.ui
            .properties("contacts", contact, "email,firstname,lastname,warp_user_id")
            .await
    }

    /// The companies a contact is associated with, each with its association type ids.
    pub async fn contact_companies(&self, contact: &str) -> Vec<(String, Vec<u64>)> {
        self.ui.associations("contacts", contact, "companies").await
    }

    /// Active contacts carrying this email.
    pub async fn contacts_with_email(&self, email: &str) -> usize {
        self.ui
            .with_property("contacts", "email", email, "email")
            .await
            .len()
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
        self.database
            .execute("UPDATE hubspot_sync_queue SET status = 'DONE' WHERE status <> 'DONE'")
            .await;
    }

    pub async fn company_of(&self, customer: Uuid) -> Option<String> {
        self.database
            .text(&format!(
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

    /// A company's properties as HubSpot holds them.
    pub async fn company(&self, company: &str) -> Value {
        self.ui
            .properties("companies", company, COMPANY_PROPERTIES)
            .await
    }

    /// Active companies carrying this BAN.
    pub async fn companies_with_ban(&self, ban: &str) -> Vec<Value> {
        self.ui
            .with_property("companies", "warp_ban", ban, "warp_ban,name")
            .await
    }

    /// Everything a dry run must leave alone, as one comparable value.
    pub async fn fingerprint(&self) -> (i64, i64, i64, i64, i64, String, String) {
        let customers = self
            .database
            .text("SELECT string_agg(id::text || ':' || version || ':' || external_ids::text, ',' ORDER BY id) FROM customers")
            .await
            .unwrap_or_default();
        let companies = self
            .ui
            .list_page("companies", COMPANY_PROPERTIES)
            .await
            .to_string();
        (
            self.database.scalar("SELECT count(*) FROM hubspot_sync_queue").await,
            self.database.scalar("SELECT count(*) FROM hubspot_webhook_events").await,
            self.database.scalar("SELECT count(*) FROM sync_conflicts").await,
            self.database.scalar("SELECT count(*) FROM hubspot_field_state WHERE hubspot_changed_at IS NOT NULL").await,
            self.database.scalar("SELECT coalesce(sum(extract(epoch FROM updated_at) * 1000)::bigint, 0) FROM hubspot_field_state").await,
            customers,
            companies,
        )
    }
}
