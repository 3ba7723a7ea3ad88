//! Automatic support tickets (issue 21) through the real parts: alerts stored in Postgres, the
//! ticket desk writing through the real client to the sandbox's tickets, pipelines, notes and
//! associations. One ticket per (trigger, customer, trunk) while it is open, a note per repeat,
//! the stage read back, and a ticket closed in HubSpot followed by a new one.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use hubspot_sandbox::{SandboxConfig, SandboxHandle};
use serde_json::json;
use warp_domain::support_ticket::ticket_alert_from_json;
use warp_hubspot::{CrmObject, HubSpotClient, HubSpotId, ReadOptions, RecordLookup};
use warp_store::support_tickets::{self, Raised, RaisedAlert};
use warp_store::{CustomerStore, Database};
use warp_sync::support_tickets::{TicketDesk, TicketSettings};
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
    fn desk(&self, pipeline: Option<&str>) -> TicketDesk {
        TicketDesk::new(
            self.database.clone(),
            self.home.clone(),
            PORTAL,
            TicketSettings {
                pipeline: pipeline.map(str::to_owned),
                stage: None,
                check_every: Duration::ZERO,
            },
        )
        .with_retry(RetryPolicy {
            max_attempts: 3,
            base: Duration::from_millis(1),
        })
    }

    /// A customer linked to a company made in the sandbox; its id and the company's.
    async fn linked_customer(&self, name: &str) -> (uuid::Uuid, String) {
        records::linked_customer(&self.store, &self.database, &self.home, name).await
    }

    async fn raise(&self, body: serde_json::Value) -> RaisedAlert {
        let alert = ticket_alert_from_json(&body, Utc::now()).unwrap();
        support_tickets::raise(&self.database, &alert)
            .await
            .unwrap()
            .unwrap()
    }

    async fn hubspot_ticket(&self, ticket: uuid::Uuid) -> String {
        support_tickets::get(&self.database, ticket)
            .await
            .unwrap()
            .unwrap()
            .hubspot_ticket_id
            .expect("created in HubSpot")
    }

    async fn ticket_property(&self, id: &str, name: &str) -> Option<String> {
        self.home
            .objects(CrmObject::Tickets)
            .get(
                &RecordLookup::Id(HubSpotId::parse(id.to_owned()).unwrap()),
                &ReadOptions::properties([name]),
            )
            .await
            .unwrap()
            .unwrap()
            .property(name)
            .map(str::to_owned)
    }

    async fn associated(&self, from: CrmObject, id: &str, to: CrmObject) -> Vec<String> {
        let read = self
            .home
            .associations(from, to)
            .batch_read(&[HubSpotId::parse(id.to_owned()).unwrap()])
            .await;
        read.results
            .iter()
            .flat_map(|links| links.to.iter().map(|link| link.to_object_id.clone()))
            .collect()
    }

    async fn tickets_in_hubspot(&self) -> u64 {
        hubspot::records_in(&self.sandbox, PORTAL, "tickets").await
    }
}

fn asr(customer: uuid::Uuid, trunk: &str, severity: &str) -> serde_json::Value {
    json!({"trigger": "asr_below_threshold", "customer_id": customer.to_string(),
           "severity": severity,
           "data": {"trunk_id": trunk, "current_asr": 0.35, "threshold": 0.5,
                    "period": "last_hour"}})
}

#[tokio::test]
async fn one_ticket_per_trigger_customer_and_trunk_with_each_repeat_a_note_however_often_retried() {
    let world = world().await;
    let (customer, company) = world.linked_customer("Alert Corp").await;
    let desk = world.desk(None);

    let first = world.raise(asr(customer, "trunk_456", "high")).await;
    assert_eq!(first.outcome, Raised::Opened);
    let report = desk.write_due(100).await.unwrap();
    assert_eq!((report.claimed, report.logged), (1, 1), "{report:?}");
    let ticket = world.hubspot_ticket(first.ticket_id).await;
    for (name, expected) in [
        ("subject", "Low ASR · trunk trunk_456"),
        ("hs_pipeline", "0"),
        ("hs_pipeline_stage", "1"),
        ("hs_ticket_priority", "HIGH"),
        ("warp_issue_type", "voice"),
        ("warp_trunk_id", "trunk_456"),
        ("warp_severity", "high"),
    ] {
        assert_eq!(
            world.ticket_property(&ticket, name).await.as_deref(),
            Some(expected),
            "{name}"
        );
    }
    let details = world
        .ticket_property(&ticket, "warp_technical_details")
        .await
        .unwrap();
    let details: serde_json::Value = serde_json::from_str(&details).unwrap();
    assert_eq!(details["current_asr"], 0.35);
    let content = world.ticket_property(&ticket, "content").await.unwrap();
    assert!(content.contains("Alert Corp"), "{content}");
    assert!(
        world
            .ticket_property(&ticket, "warp_sla_breach")
            .await
            .is_some()
    );
    assert_eq!(
        world
            .associated(CrmObject::Tickets, &ticket, CrmObject::Companies)
            .await,
        [company]
    );

    // A worse repeat joins the open ticket and escalates it; another trunk opens its own.
    let repeat = world.raise(asr(customer, "trunk_456", "critical")).await;
    assert_eq!(
        (repeat.outcome, repeat.ticket_id),
        (Raised::Noted, first.ticket_id)
    );
    let other = world.raise(asr(customer, "trunk_789", "high")).await;
    assert_eq!(other.outcome, Raised::Opened);
    let report = desk.write_due(100).await.unwrap();
    assert_eq!((report.claimed, report.logged), (2, 2), "{report:?}");
    assert_eq!(world.tickets_in_hubspot().await, 2);
    let notes = world
        .associated(CrmObject::Tickets, &ticket, CrmObject::Notes)
        .await;
    assert_eq!(notes.len(), 1);
    assert_eq!(
        world
            .ticket_property(&ticket, "hs_ticket_priority")
            .await
            .as_deref(),
        Some("URGENT"),
        "escalated by the critical repeat"
    );
    let stored = support_tickets::get(&world.database, first.ticket_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((stored.alerts, stored.severity.as_str()), (2, "critical"));
    assert_eq!(stored.stage_label.as_deref(), Some("New"));

    // Every pass retried (a crash before settling): nothing doubles.
    world
        .database
        .execute("UPDATE ticket_alerts SET status = 'pending', next_attempt_at = now()")
        .await;
    let report = desk.write_due(100).await.unwrap();
    assert_eq!(report.logged, 3, "{report:?}");
    assert_eq!(world.tickets_in_hubspot().await, 2);
    assert_eq!(
        world
            .associated(CrmObject::Tickets, &ticket, CrmObject::Notes)
            .await,
        notes
    );
    assert_eq!(
        hubspot::records_in(&world.sandbox, PORTAL, "notes").await,
        1
    );
}

#[tokio::test]
async fn a_ticket_closed_in_hubspot_is_read_back_and_a_later_alert_opens_a_new_one() {
    let world = world().await;
    let (customer, _) = world.linked_customer("Closing Corp").await;
    let desk = world.desk(None);
    let first = world.raise(asr(customer, "t-1", "high")).await;
    desk.write_due(100).await.unwrap();
    let ticket = world.hubspot_ticket(first.ticket_id).await;

    // Support moves it along, and the stage is read back.
    let move_to = |stage: &'static str| {
        let id = RecordLookup::Id(HubSpotId::parse(ticket.clone()).unwrap());
        let tickets = world.home.objects(CrmObject::Tickets);
        async move {
            tickets
                .update(
                    &id,
                    &BTreeMap::from([("hs_pipeline_stage".to_owned(), stage.to_owned())]),
                )
                .await
                .unwrap();
        }
    };
    move_to("3").await;
    let checked = desk.check_open(100).await.unwrap();
    assert_eq!((checked.checked, checked.closed), (1, 0));
    let stored = support_tickets::get(&world.database, first.ticket_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.state.as_str(), stored.stage_label.as_deref()),
        ("open", Some("Waiting on us"))
    );

    // Closed in HubSpot; an alert arrives before the next check: it is stored on the ticket
    // WARP still thinks open, and the desk, seeing it closed, opens a new ticket instead.
    move_to("4").await;
    let repeat = world.raise(asr(customer, "t-1", "high")).await;
    assert_eq!(repeat.outcome, Raised::Noted);
    desk.write_due(100).await.unwrap();
    let closed = support_tickets::get(&world.database, first.ticket_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (closed.state.as_str(), closed.stage_label.as_deref()),
        ("closed", Some("Closed"))
    );
    assert!(closed.closed_at.is_some());
    desk.write_due(100).await.unwrap();
    let moved = support_tickets::alerts_of(&world.database, first.ticket_id)
        .await
        .unwrap();
    assert_eq!(moved.len(), 1, "the repeat left the closed ticket");
    assert!(
        world
            .associated(CrmObject::Tickets, &ticket, CrmObject::Notes)
            .await
            .is_empty()
    );
    let (open, total) = support_tickets::list(
        &world.database,
        &support_tickets::TicketQuery {
            customer_id: Some(customer),
            state: Some("open"),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(total, 1);
    let new_ticket = open[0].hubspot_ticket_id.clone().expect("created");
    assert_ne!(new_ticket, ticket);
    assert_eq!(world.tickets_in_hubspot().await, 2);

    // A ticket deleted in HubSpot counts as closed.
    world
        .home
        .objects(CrmObject::Tickets)
        .archive(&HubSpotId::parse(new_ticket).unwrap())
        .await
        .unwrap();
    let checked = desk.check_open(100).await.unwrap();
    assert_eq!(checked.closed, 1);
    let gone = support_tickets::get(&world.database, open[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (gone.state.as_str(), gone.stage_label.as_deref()),
        ("closed", Some("deleted in HubSpot"))
    );
}

#[tokio::test]
async fn a_pipeline_the_portal_lacks_keeps_alerts_waiting_with_the_reason_until_configured() {
    let world = world().await;
    let (customer, _) = world.linked_customer("Config Corp").await;
    let raised = world.raise(asr(customer, "t-9", "medium")).await;
    let report = world
        .desk(Some("Network Ops"))
        .write_due(100)
        .await
        .unwrap();
    assert_eq!(report.waiting, 1, "{report:?}");
    let waiting = support_tickets::get(&world.database, raised.ticket_id)
        .await
        .unwrap()
        .unwrap();
    let reason = waiting.reason.unwrap();
    assert!(reason.contains("\"Network Ops\""), "{reason}");
    assert!(reason.contains("0 \"Support Pipeline\""), "{reason}");
    assert_eq!(waiting.alerts_pending, 1);
    assert_eq!(world.tickets_in_hubspot().await, 0);

    // Configured by label, it is created there once due again.
    world
        .database
        .execute("UPDATE ticket_alerts SET next_attempt_at = now()")
        .await;
    let report = world
        .desk(Some("support pipeline"))
        .write_due(100)
        .await
        .unwrap();
    assert_eq!(report.logged, 1, "{report:?}");
    let ticket = world.hubspot_ticket(raised.ticket_id).await;
    assert_eq!(
        world
            .ticket_property(&ticket, "hs_ticket_priority")
            .await
            .as_deref(),
        Some("MEDIUM")
    );
}

#[tokio::test]
async fn a_ticket_hubspot_refuses_is_closed_with_its_notes_and_the_next_alert_opens_another() {
    let world = world().await;
    let (customer, _) = world.linked_customer("Refused Corp").await;
    // The portal lost WARP's ticket key: HubSpot refuses the upsert by warp_ticket_id.
    let deleted = reqwest::Client::new()
        .delete(format!(
            "{}/crm/properties/2026-09/tickets/warp_ticket_id",
            world.sandbox.base_url()
        ))
        .bearer_auth("sandbox-app-token")
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());
    let desk = world.desk(None);
    let first = world.raise(asr(customer, "t-5", "high")).await;
    let repeat = world.raise(asr(customer, "t-5", "high")).await;
    assert_eq!(repeat.ticket_id, first.ticket_id);
    let report = desk.write_due(100).await.unwrap();
    assert_eq!(report.failed, 1, "{report:?}");

    desk.check_open(100).await.unwrap();
    let closed = support_tickets::get(&world.database, first.ticket_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (closed.state.as_str(), closed.stage_label.as_deref()),
        ("closed", Some("not created in HubSpot"))
    );
    let alerts = support_tickets::alerts_of(&world.database, first.ticket_id)
        .await
        .unwrap();
    let statuses: Vec<&str> = alerts.iter().map(|a| a.status.as_str()).collect();
    assert_eq!(statuses, ["error", "error"]);
    assert!(
        alerts[1]
            .reason
            .as_deref()
            .unwrap()
            .starts_with("its ticket could not be created in HubSpot"),
        "{alerts:?}"
    );
    let next = world.raise(asr(customer, "t-5", "high")).await;
    assert_eq!(next.outcome, Raised::Opened);
    assert_ne!(next.ticket_id, first.ticket_id);
}
