//! Trunks and numbers in HubSpot (issue 22 item 2) through the real parts: rows in Postgres,
//! the service desk writing through the real client to the sandbox. An Enterprise portal gets
//! the `warp_trunk` and `warp_number` custom objects (made once), records upserted by WARP's
//! id and associated with the company and with each other; a record edited in HubSpot is put
//! back and logged as overridden. A portal without custom objects gets counts and lists on
//! the company.

use std::collections::BTreeMap;

use hubspot_sandbox::{SandboxConfig, SandboxHandle};
use serde_json::{Value, json};
use warp_domain::phone_number::{NewNumber, PhoneNumber};
use warp_domain::service_objects::ServiceObjectsMode;
use warp_domain::trunk::{NewTrunk, Trunk, TrunkPatch};
use warp_hubspot::{CrmObject, HubSpotClient, ReadOptions};
use warp_store::phone_numbers::NumberStore;
use warp_store::service_push;
use warp_store::services::CreatedItem;
use warp_store::trunks::TrunkStore;
use warp_store::{CustomerStore, Database};
use warp_sync::service_objects::ServiceDesk;
use warp_testkit::{PORTAL, Sql, hubspot, records};

struct World {
    sandbox: SandboxHandle,
    database: Database,
    home: HubSpotClient,
    store: CustomerStore,
}

async fn world(enterprise: bool) -> World {
    let sandbox = hubspot::sandbox(SandboxConfig::default()).await;
    let answer = reqwest::Client::new()
        .post(format!("{}/_sandbox/portals", sandbox.base_url()))
        .json(&json!({"portal_id": PORTAL, "enterprise": enterprise}))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success());
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
    fn desk(&self) -> ServiceDesk {
        ServiceDesk::new(self.database.clone(), self.home.clone(), PORTAL)
    }

    async fn trunk(&self, customer: uuid::Uuid, body: Value) -> Trunk {
        let new = NewTrunk::from_json(&body).unwrap();
        match TrunkStore::new(self.database.clone())
            .create(customer, &new, None)
            .await
            .unwrap()
        {
            CreatedItem::New(trunk, _) => *trunk,
            CreatedItem::Replayed(_) => unreachable!(),
        }
    }

    async fn number(&self, customer: uuid::Uuid, body: Value) -> PhoneNumber {
        let new = NewNumber::from_json(&body).unwrap();
        match NumberStore::new(self.database.clone())
            .create(customer, &new, None)
            .await
            .unwrap()
        {
            CreatedItem::New(number, _) => *number,
            CreatedItem::Replayed(_) => unreachable!(),
        }
    }

    /// The `warp_trunk` type's id, as detected.
    async fn trunk_type(&self) -> String {
        service_push::load_mode(&self.database, PORTAL)
            .await
            .unwrap()
            .unwrap()
            .trunk_type_id
            .unwrap()
    }

    /// What a person in HubSpot reads at `path` (results of a list).
    async fn results(&self, path: &str) -> Vec<Value> {
        let answer: Value = reqwest::Client::new()
            .get(format!("{}{path}", self.sandbox.base_url()))
            .bearer_auth(hubspot::USER_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["results"].as_array().cloned().unwrap_or_default()
    }

    /// The records of a custom type in the sandbox, by WARP id.
    async fn records(&self, type_id: &str, id_property: &str) -> BTreeMap<String, Value> {
        let path = format!(
            "/crm/objects/2026-09/{type_id}?limit=100&properties={id_property},warp_name,warp_status"
        );
        self.results(&path)
            .await
            .into_iter()
            .map(|r| (r["properties"][id_property].as_str().unwrap().to_owned(), r))
            .collect()
    }

    async fn associated(&self, from: &str, id: &str, to: &str) -> Vec<String> {
        let path = format!("/crm/v4/objects/{from}/{id}/associations/{to}");
        self.results(&path)
            .await
            .iter()
            .map(|r| r["toObjectId"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn trunk_body(name: &str) -> Value {
    json!({"name": name, "ip_addresses": ["198.51.100.10"], "concurrent_calls": 100})
}

#[tokio::test]
async fn an_enterprise_portal_gets_custom_objects_once_and_an_edit_there_is_put_back() {
    let world = world(true).await;
    let (acme, company) =
        records::linked_customer(&world.store, &world.database, &world.home, "Acme").await;
    let trunk = world.trunk(acme, trunk_body("Production SIP Trunk")).await;
    let number = world
        .number(
            acme,
            json!({"number": "+13035551000", "type": "local", "capabilities": ["voice", "sms"],
                   "monthly_cost": "1.00", "trunk_id": trunk.id.to_string()}),
        )
        .await;
    // A customer without a company waits (nothing to associate with).
    let (lone, _) = (
        records::create_customer(&world.store, &records::customer_body("Lone"))
            .await
            .id,
        (),
    );
    world.trunk(lone, trunk_body("Unlinked")).await;

    let desk = world.desk();
    let report = desk.push().await.unwrap();
    assert_eq!((report.trunks, report.numbers, report.failed), (1, 1, 0));
    let mode = service_push::load_mode(&world.database, PORTAL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mode.mode, ServiceObjectsMode::CustomObjects);
    let trunk_type = mode.trunk_type_id.clone().unwrap();
    let number_type = mode.number_type_id.clone().unwrap();

    let trunks = world.records(&trunk_type, "warp_trunk_id").await;
    assert_eq!(trunks.len(), 1);
    let trunk_record = &trunks[&trunk.id.to_string()];
    assert_eq!(
        trunk_record["properties"]["warp_name"],
        "Production SIP Trunk"
    );
    let trunk_object = trunk_record["id"].as_str().unwrap().to_owned();
    let numbers = world.records(&number_type, "warp_number_id").await;
    let number_object = numbers[&number.id.to_string()]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        world
            .associated(&trunk_type, &trunk_object, "companies")
            .await,
        vec![company.clone()]
    );
    assert_eq!(
        world
            .associated(&number_type, &number_object, "companies")
            .await,
        vec![company.clone()]
    );
    assert_eq!(
        world
            .associated(&number_type, &number_object, &trunk_type)
            .await,
        vec![trunk_object.clone()]
    );

    // Nothing changed: a second desk (a restart) finds the types made and pushes nothing.
    let again = world.desk();
    assert_eq!(again.push().await.unwrap(), Default::default());
    let schemas = world.home.object_schemas().await.unwrap();
    assert_eq!(schemas.len(), 2, "the custom object types are made once");

    // A change in WARP is an update of the same record.
    TrunkStore::new(world.database.clone())
        .update(acme, trunk.id, None, |current| {
            TrunkPatch::from_json(&json!({"status": "suspended"}))
                .unwrap()
                .apply_to(current)
        })
        .await
        .unwrap();
    let updated = again.push().await.unwrap();
    assert_eq!(
        (updated.trunks, updated.numbers),
        (1, 0),
        "its numbers are not pushed again"
    );
    let trunks = world.records(&trunk_type, "warp_trunk_id").await;
    assert_eq!(trunks.len(), 1);
    assert_eq!(
        trunks[&trunk.id.to_string()]["properties"]["warp_status"],
        "suspended"
    );

    // Edited in HubSpot: the read-back puts WARP's value back and logs it.
    let edited = world
        .home
        .objects(CrmObject::custom(&trunk_type).unwrap())
        .update(
            &warp_hubspot::RecordLookup::Id(
                warp_hubspot::HubSpotId::parse(trunk_object.clone()).unwrap(),
            ),
            &BTreeMap::from([("warp_name".to_owned(), "Renamed in HubSpot".to_owned())]),
        )
        .await;
    assert!(edited.is_ok(), "{edited:?}");
    let check = again.check(false).await.unwrap();
    assert_eq!((check.read, check.overridden), (2, 1));
    assert_eq!(
        world
            .database
            .scalar("SELECT count(*) FROM service_push_log WHERE outcome = 'overridden' AND 'warp_name' = ANY(properties)")
            .await,
        1
    );
    assert_eq!(again.push().await.unwrap().trunks, 1);
    let read = world
        .home
        .objects(CrmObject::custom(&trunk_type).unwrap())
        .get(
            &warp_hubspot::RecordLookup::Id(
                warp_hubspot::HubSpotId::parse(trunk_object.clone()).unwrap(),
            ),
            &ReadOptions::properties(["warp_name"]),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.property("warp_name"), Some("Production SIP Trunk"));
    assert_eq!(again.check(false).await.unwrap().overridden, 0);

    // Deleted in HubSpot: HubSpot keeps its unique id for it, so WARP says so (once a
    // read-back) and does not push it again.
    world
        .home
        .objects(CrmObject::custom(&trunk_type).unwrap())
        .archive(&warp_hubspot::HubSpotId::parse(trunk_object.clone()).unwrap())
        .await
        .unwrap();
    let check = again.check(false).await.unwrap();
    assert_eq!((check.overridden, check.deleted), (0, 1));
    assert_eq!(again.push().await.unwrap(), Default::default());
    assert_eq!(
        world
            .database
            .scalar("SELECT count(*) FROM service_push_log WHERE outcome = 'failed' AND error LIKE 'deleted in HubSpot%'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_portal_without_custom_objects_gets_counts_and_lists_on_the_company() {
    let world = world(false).await;
    let (acme, company) =
        records::linked_customer(&world.store, &world.database, &world.home, "Acme").await;
    world.trunk(acme, trunk_body("Main")).await;
    let released = world.trunk(acme, trunk_body("Old")).await;
    TrunkStore::new(world.database.clone())
        .release(acme, released.id, None)
        .await
        .unwrap();
    for n in 0..3 {
        world
            .number(
                acme,
                json!({"number": format!("+1303555100{n}"), "type": "tollfree",
                       "capabilities": ["voice"], "monthly_cost": "2.00"}),
            )
            .await;
    }
    let desk = world.desk();
    let report = desk.push().await.unwrap();
    assert_eq!(report.companies, 1);
    let mode = service_push::load_mode(&world.database, PORTAL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mode.mode, ServiceObjectsMode::CompanyProperties);
    assert!(mode.detail.contains("limit is 0"), "{}", mode.detail);
    assert!(world.home.object_schemas().await.unwrap().is_empty());
    let read = world
        .home
        .companies()
        .get(
            &warp_hubspot::RecordLookup::Id(warp_hubspot::HubSpotId::parse(company).unwrap()),
            &ReadOptions::properties([
                "warp_trunk_count",
                "warp_number_count",
                "warp_trunks",
                "warp_numbers",
            ]),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.property("warp_trunk_count"), Some("1"));
    assert_eq!(read.property("warp_number_count"), Some("3"));
    assert_eq!(
        read.property("warp_trunks"),
        Some("Main (active): 198.51.100.10")
    );
    assert_eq!(
        read.property("warp_numbers").map(|l| l.lines().count()),
        Some(3)
    );
    assert_eq!(
        desk.push().await.unwrap(),
        Default::default(),
        "nothing left to push"
    );
}

#[tokio::test]
async fn a_refused_trunk_waits_without_stalling_the_rest_and_one_pass_runs_at_a_time() {
    let world = world(true).await;
    let (acme, _) =
        records::linked_customer(&world.store, &world.database, &world.home, "Acme").await;
    let refused = world.trunk(acme, trunk_body("To be suspended")).await;
    let other = world.trunk(acme, trunk_body("Other")).await;
    let desk = world.desk();
    assert_eq!(desk.push().await.unwrap().trunks, 2);
    let trunk_type = world.trunk_type().await;

    // Someone in HubSpot takes "suspended" out of the status options: HubSpot refuses a
    // suspended trunk (a VALIDATION_ERROR for that record alone) until someone changes it.
    let answer = reqwest::Client::new()
        .patch(format!(
            "{}/crm/v3/properties/{trunk_type}/warp_status",
            world.sandbox.base_url()
        ))
        .bearer_auth(hubspot::USER_TOKEN)
        .json(&json!({"options": [
            {"label": "Active", "value": "active", "displayOrder": 0, "hidden": false},
            {"label": "Released", "value": "released", "displayOrder": 1, "hidden": false}]}))
        .send()
        .await
        .unwrap();
    assert!(
        answer.status().is_success(),
        "{}",
        answer.text().await.unwrap()
    );
    let trunks = TrunkStore::new(world.database.clone());
    let patch = |body: Value| {
        move |current: &Trunk| TrunkPatch::from_json(&body).unwrap().apply_to(current)
    };
    trunks
        .update(
            acme,
            refused.id,
            None,
            patch(json!({"status": "suspended"})),
        )
        .await
        .unwrap();
    trunks
        .update(
            acme,
            other.id,
            None,
            patch(json!({"name": "Other, renamed"})),
        )
        .await
        .unwrap();
    let report = desk.push().await.unwrap();
    assert_eq!((report.trunks, report.failed), (1, 1));
    assert_eq!(
        service_push::refused_count::<Trunk>(&world.database)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        service_push::waiting::<Trunk>(&world.database)
            .await
            .unwrap(),
        0
    );
    // Not sent again as it is: the next pass has nothing to do.
    assert_eq!(desk.push().await.unwrap(), Default::default());
    // Changed, it is due again (and refused again: HubSpot still has no such option).
    trunks
        .update(
            acme,
            refused.id,
            None,
            patch(json!({"name": "Suspended, renamed"})),
        )
        .await
        .unwrap();
    let report = desk.push().await.unwrap();
    assert_eq!((report.trunks, report.failed), (0, 1));
    assert_eq!(
        world
            .database
            .scalar("SELECT count(*) FROM service_push_log WHERE outcome = 'failed' AND error LIKE '%warp_status%'")
            .await,
        2
    );

    // While another process's pass holds the portal's lease, a pass does nothing.
    trunks
        .update(acme, other.id, None, patch(json!({"name": "Other, again"})))
        .await
        .unwrap();
    let elsewhere = uuid::Uuid::new_v4();
    assert!(
        service_push::take_pass_lease(&world.database, PORTAL, elsewhere)
            .await
            .unwrap()
    );
    assert_eq!(desk.push().await.unwrap(), Default::default());
    assert_eq!(
        service_push::waiting::<Trunk>(&world.database)
            .await
            .unwrap(),
        1
    );
    service_push::release_pass_lease(&world.database, PORTAL, elsewhere)
        .await
        .unwrap();
    assert_eq!(desk.push().await.unwrap().trunks, 1);
}

#[tokio::test]
async fn a_dry_read_back_only_counts_and_a_row_pushed_since_is_no_override() {
    let world = world(true).await;
    let (acme, _) =
        records::linked_customer(&world.store, &world.database, &world.home, "Acme").await;
    let trunk = world.trunk(acme, trunk_body("Main")).await;
    let number = world
        .number(
            acme,
            json!({"number": "+13035551000", "type": "local", "capabilities": ["voice"],
                   "monthly_cost": "1.00", "cnam": "ACME"}),
        )
        .await;
    let desk = world.desk();
    assert_eq!(desk.push().await.unwrap().trunks, 1);
    let trunk_type = world.trunk_type().await;
    // A person changes the number's caller name (as the chaos run's editors do).
    let number_type = service_push::load_mode(&world.database, PORTAL)
        .await
        .unwrap()
        .unwrap()
        .number_type_id
        .unwrap();
    let number_object = world.records(&number_type, "warp_number_id").await[&number.id.to_string()]
        ["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = reqwest::Client::new()
        .patch(format!(
            "{}/crm/v3/objects/{number_type}/{number_object}",
            world.sandbox.base_url()
        ))
        .bearer_auth(hubspot::USER_TOKEN)
        .json(&json!({"properties": {"warp_cnam": "EDITED 5"}}))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success());
    let object = world.records(&trunk_type, "warp_trunk_id").await[&trunk.id.to_string()]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    world
        .home
        .objects(CrmObject::custom(&trunk_type).unwrap())
        .update(
            &warp_hubspot::RecordLookup::Id(warp_hubspot::HubSpotId::parse(object).unwrap()),
            &BTreeMap::from([("warp_name".to_owned(), "Renamed in HubSpot".to_owned())]),
        )
        .await
        .unwrap();
    let dry = desk.check(true).await.unwrap();
    assert_eq!((dry.read, dry.overridden, dry.requests), (2, 2, 2));
    assert_eq!(
        desk.push().await.unwrap(),
        Default::default(),
        "a dry run changes nothing"
    );
    assert_eq!(
        world
            .database
            .scalar("SELECT count(*) FROM service_push_log")
            .await,
        0
    );
    // The read-back read version 1; a push of version 2 since makes the difference its own.
    assert!(
        service_push::push_again::<Trunk>(&world.database, &[(trunk.id, trunk.version - 1)])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        service_push::push_again::<Trunk>(&world.database, &[(trunk.id, trunk.version)])
            .await
            .unwrap(),
        vec![trunk.id]
    );
    assert_eq!(desk.push().await.unwrap().trunks, 1);
    // The number's edit is still there: a run puts it back.
    assert_eq!(desk.check(false).await.unwrap().overridden, 1);
    assert_eq!(desk.push().await.unwrap().numbers, 1);
    assert_eq!(desk.check(true).await.unwrap().overridden, 0);
}
