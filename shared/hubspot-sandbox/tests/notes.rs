//! Notes (object type 0-46) on HubSpot's dated (2026-09) and v3 paths: the time a note needs,
//! upserts by a unique custom property so a retry never doubles a note, the default
//! associations with companies and deals read from both sides, and no webhook event for any
//! of it.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use common::{APP_TOKEN, Api, assert_fits, roomy, spec, start};
use hubspot_sandbox::SandboxConfig;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const V3: &str = "/crm/v3/objects/notes";
const DATED: &str = "/crm/objects/2026-09/notes";
const GENERIC: &str = "/crm/objects/2026-09/{objectType}";
const WHEN: &str = "2026-03-02T10:15:00Z";

fn id_of(answer: &common::Answer) -> String {
    answer.body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {}", answer.body))
        .to_owned()
}

async fn create(api: &Api, path: &str, properties: Value) -> String {
    let created = api.post(path, json!({ "properties": properties })).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    id_of(&created)
}

/// The `(toObjectId, typeIds)` of a v4 list or batch read entry list.
fn linked(entries: &Value) -> Vec<(String, Vec<u64>)> {
    entries
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {entries}"))
        .iter()
        .map(|entry| {
            let types = entry["associationTypes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    assert_eq!(t["category"], "HUBSPOT_DEFINED");
                    assert!(
                        t.get("label").is_none(),
                        "a note's types are unlabeled: {t}"
                    );
                    t["typeId"].as_u64().unwrap()
                })
                .collect();
            (entry["toObjectId"].as_str().unwrap().to_owned(), types)
        })
        .collect()
}

#[tokio::test]
async fn a_note_needs_its_time_on_every_create_path() {
    let sandbox = start(roomy()).await;
    let api = Api::new(&sandbox, APP_TOKEN);
    let notes = spec("crm-notes-2026-09.json");

    for path in [V3, DATED] {
        let refused = api
            .post(
                path,
                json!({"properties": {"hs_note_body": "<p>No time</p>"}}),
            )
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        assert_eq!(refused.body["category"], "VALIDATION_ERROR");
        assert!(
            refused.body["message"]
                .as_str()
                .unwrap()
                .contains("hs_timestamp"),
            "{}",
            refused.body
        );
        assert_eq!(
            refused.body["context"]["propertyName"],
            json!(["hs_timestamp"])
        );
        assert_eq!(refused.body["errors"][0]["code"], "REQUIRED_FIELD");
    }
    assert_eq!(sandbox.stats().notes, 0, "a refused create creates nothing");

    // ISO 8601 and ms epoch are both a time; a default read is small.
    let created = api
        .post(
            DATED,
            json!({"properties": {"hs_timestamp": WHEN, "hs_note_body": "<p>Called</p>"}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_fits(&notes, GENERIC, "post", &created);
    let id = id_of(&created);
    create(&api, V3, json!({"hs_timestamp": "1772446500000"})).await;
    let read = api.get(&format!("{DATED}/{id}")).await;
    assert_fits(&notes, &format!("{GENERIC}/{{objectId}}"), "get", &read);
    let mut names: Vec<&String> = read.body["properties"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["hs_createdate", "hs_lastmodifieddate", "hs_object_id"],
        "{}",
        read.body
    );
    let named = api
        .get(&format!("{V3}/{id}?properties=hs_note_body,hs_timestamp"))
        .await;
    assert_eq!(named.body["properties"]["hs_note_body"], "<p>Called</p>");
    assert_eq!(named.body["properties"]["hs_timestamp"], WHEN);
    assert_eq!(named.body["properties"]["hs_object_id"], id.as_str());
    // The computed times are HubSpot's.
    let read_only = api
        .patch(
            &format!("{V3}/{id}"),
            json!({"properties": {"hs_createdate": WHEN}}),
        )
        .await;
    assert_eq!(
        read_only.status,
        StatusCode::BAD_REQUEST,
        "{}",
        read_only.body
    );

    // In a batch the input without a time is an error of its own, as for any bad value.
    let batch = api
        .post(
            &format!("{DATED}/batch/create"),
            json!({"inputs": [
                {"properties": {"hs_timestamp": WHEN, "hs_note_body": "fine"}},
                {"properties": {"hs_note_body": "no time"}},
            ]}),
        )
        .await;
    assert_eq!(batch.status, StatusCode::MULTI_STATUS, "{}", batch.body);
    assert_eq!(batch.body["results"].as_array().unwrap().len(), 1);
    assert_eq!(
        batch.body["errors"][0]["context"]["inputIndex"],
        json!(["1"])
    );
    assert_eq!(
        batch.body["errors"][0]["context"]["propertyName"],
        json!(["hs_timestamp"])
    );
    assert_eq!(sandbox.stats().notes, 3);
}

#[tokio::test]
async fn a_retried_upsert_by_a_unique_event_id_keeps_one_note() {
    let sandbox = start(roomy()).await;
    let api = Api::new(&sandbox, APP_TOKEN);
    let notes = spec("crm-notes-2026-09.json");

    let property = api
        .post(
            "/crm/v3/properties/notes",
            json!({"name": "warp_event_id", "label": "WARP event", "type": "string",
                   "fieldType": "text", "groupName": "engagement", "hasUniqueValue": true}),
        )
        .await;
    assert_eq!(property.status, StatusCode::CREATED, "{}", property.body);
    let dated = api.get("/crm/properties/2026-09/notes/warp_event_id").await;
    assert_eq!(dated.status, StatusCode::OK, "{}", dated.body);
    assert_eq!(dated.body["hasUniqueValue"], true);
    // The property is the notes' own: companies do not have it.
    assert_eq!(
        api.get("/crm/v3/properties/companies/warp_event_id")
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let upsert = |body: &'static str| {
        let api = &api;
        async move {
            api.post(
                &format!("{DATED}/batch/upsert"),
                json!({"inputs": [{"id": "evt-42", "idProperty": "warp_event_id",
                       "properties": {"hs_timestamp": WHEN, "hs_note_body": body}}]}),
            )
            .await
        }
    };
    let first = upsert("<p>First try</p>").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_fits(&notes, &format!("{GENERIC}/batch/upsert"), "post", &first);
    assert_eq!(first.body["results"][0]["new"], true);
    let id = first.body["results"][0]["id"].as_str().unwrap().to_owned();

    let retry = upsert("<p>Retried</p>").await;
    assert_eq!(retry.status, StatusCode::OK, "{}", retry.body);
    assert_eq!(retry.body["results"][0]["new"], false, "{}", retry.body);
    assert_eq!(retry.body["results"][0]["id"], id.as_str());
    assert_eq!(sandbox.stats().notes, 1, "a retry never doubles a note");

    let read = api
        .get(&format!(
            "{V3}/evt-42?idProperty=warp_event_id&properties=hs_note_body,warp_event_id"
        ))
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(read.body["id"], id.as_str());
    assert_eq!(read.body["properties"]["hs_note_body"], "<p>Retried</p>");
    assert_eq!(read.body["properties"]["warp_event_id"], "evt-42");

    // v3 upserts into the same note; a second note with the value is refused.
    let v3 = api
        .post(
            &format!("{V3}/batch/upsert"),
            json!({"inputs": [{"id": "evt-42", "idProperty": "warp_event_id",
                   "properties": {"hs_note_body": "<p>Via v3</p>"}}]}),
        )
        .await;
    assert_eq!(v3.body["results"][0]["new"], false, "{}", v3.body);
    let duplicate = api
        .post(
            V3,
            json!({"properties": {"hs_timestamp": WHEN, "warp_event_id": "EVT-42"}}),
        )
        .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT, "{}", duplicate.body);
    let found = api
        .post(
            &format!("{V3}/search"),
            json!({"filterGroups": [{"filters": [
                {"propertyName": "warp_event_id", "operator": "EQ", "value": "evt-42"}]}]}),
        )
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    assert_eq!(found.body["total"], 1, "{}", found.body);
    assert_eq!(sandbox.stats().notes, 1);
}

#[tokio::test]
async fn notes_associate_with_companies_and_deals_by_their_default_types() {
    let sandbox = start(roomy()).await;
    let api = Api::new(&sandbox, APP_TOKEN);
    let associations = spec("crm-associations-v4.json");
    let company = create(&api, "/crm/v3/objects/companies", json!({"name": "Acme"})).await;
    let deal = create(
        &api,
        "/crm/v3/objects/deals",
        json!({"dealname": "Rollout"}),
    )
    .await;
    let note = create(&api, DATED, json!({"hs_timestamp": WHEN})).await;

    let put = api
        .call(
            Method::PUT,
            &format!("/crm/v4/objects/notes/{note}/associations/default/companies/{company}"),
            None,
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_fits(
        &associations,
        "/crm/v4/objects/{fromObjectType}/{fromObjectId}/associations/default/{toObjectType}/{toObjectId}",
        "put",
        &put,
    );
    let specs: Vec<&Value> = put.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["associationSpec"]["associationTypeId"])
        .collect();
    assert_eq!(specs, [&json!(190), &json!(189)], "{}", put.body);

    let of_company = api
        .get(&format!(
            "/crm/v4/objects/companies/{company}/associations/notes"
        ))
        .await;
    assert_fits(
        &associations,
        "/crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}",
        "get",
        &of_company,
    );
    assert_eq!(
        linked(&of_company.body["results"]),
        [(note.clone(), vec![189])]
    );
    let of_note = api
        .get(&format!(
            "/crm/v4/objects/notes/{note}/associations/companies"
        ))
        .await;
    assert_eq!(
        linked(&of_note.body["results"]),
        [(company.clone(), vec![190])]
    );
    let batch = api
        .post(
            "/crm/v4/associations/companies/notes/batch/read",
            json!({"inputs": [{"id": company}]}),
        )
        .await;
    assert_eq!(batch.status, StatusCode::OK, "{}", batch.body);
    assert_fits(
        &associations,
        "/crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read",
        "post",
        &batch,
    );
    assert_eq!(
        linked(&batch.body["results"][0]["to"]),
        [(note.clone(), vec![189])]
    );

    // Deals, through the dated path and by the type id 0-46.
    let put = api
        .call(
            Method::PUT,
            &format!("/crm/objects/2026-09/0-46/{note}/associations/default/deals/{deal}"),
            None,
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    let of_deal = api
        .get(&format!("/crm/v4/objects/deals/{deal}/associations/notes"))
        .await;
    assert_eq!(
        linked(&of_deal.body["results"]),
        [(note.clone(), vec![213])]
    );
    let of_note = api
        .post(
            "/crm/associations/2026-09/notes/deals/batch/read",
            json!({"inputs": [{"id": note}]}),
        )
        .await;
    assert_eq!(
        linked(&of_note.body["results"][0]["to"]),
        [(deal.clone(), vec![214])]
    );

    // Associations given with the create, and read with the record (v3 names them).
    let inline = api
        .post(
            V3,
            json!({"properties": {"hs_timestamp": WHEN},
                   "associations": [{"to": {"id": company},
                       "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 190}]}]}),
        )
        .await;
    assert_eq!(inline.status, StatusCode::CREATED, "{}", inline.body);
    let second = id_of(&inline);
    let of_company = api
        .get(&format!(
            "/crm/v4/objects/companies/{company}/associations/notes"
        ))
        .await;
    assert_eq!(
        linked(&of_company.body["results"]),
        [(note.clone(), vec![189]), (second.clone(), vec![189])]
    );
    let with = api
        .get(&format!("{V3}/{second}?associations=companies"))
        .await;
    assert_eq!(
        with.body["associations"],
        json!({"companies": {"results": [{"id": company, "type": "note_to_company"}]}})
    );
    // A primary type is no note's: refused, nothing created.
    let refused = api
        .post(
            V3,
            json!({"properties": {"hs_timestamp": WHEN},
                   "associations": [{"to": {"id": company},
                       "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}]}]}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert_eq!(sandbox.stats().notes, 2);
}

// ----- webhooks -----

#[derive(Clone, Default)]
struct Receiver {
    events: Arc<Mutex<Vec<Value>>>,
}

async fn receive(State(receiver): State<Receiver>, body: Bytes) -> axum::http::StatusCode {
    let events: Vec<Value> = serde_json::from_slice(&body).unwrap();
    receiver.events.lock().unwrap().extend(events);
    axum::http::StatusCode::OK
}

async fn start_receiver() -> (Receiver, String) {
    let receiver = Receiver::default();
    let app = Router::new()
        .route("/hooks/hubspot", post(receive))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/hubspot", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (receiver, url)
}

#[tokio::test]
async fn notes_send_no_webhook_events() {
    let (receiver, url) = start_receiver().await;
    let sandbox = start(SandboxConfig {
        webhook_target: Some(url),
        ..roomy()
    })
    .await;
    let api = Api::new(&sandbox, APP_TOKEN);
    let company = create(&api, "/crm/v3/objects/companies", json!({"name": "Acme"})).await;
    let deal = create(
        &api,
        "/crm/v3/objects/deals",
        json!({"dealname": "Rollout"}),
    )
    .await;

    // Everything a sync does with a note: create, update, upsert, associate, archive.
    let note = create(
        &api,
        DATED,
        json!({"hs_timestamp": WHEN, "hs_note_body": "a"}),
    )
    .await;
    let patched = api
        .patch(
            &format!("{DATED}/{note}"),
            json!({"properties": {"hs_note_body": "b"}}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    let upserted = api
        .post(
            &format!("{V3}/batch/upsert"),
            json!({"inputs": [{"id": note, "properties": {"hs_note_body": "c"}}]}),
        )
        .await;
    assert_eq!(upserted.status, StatusCode::OK, "{}", upserted.body);
    for (to, id) in [("companies", &company), ("deals", &deal)] {
        let put = api
            .call(
                Method::PUT,
                &format!("/crm/v4/objects/notes/{note}/associations/default/{to}/{id}"),
                None,
            )
            .await;
        assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    }
    let unlinked = api
        .delete(&format!(
            "/crm/v4/objects/notes/{note}/associations/companies/{company}"
        ))
        .await;
    assert_eq!(unlinked.status, StatusCode::NO_CONTENT);
    let archived = api.delete(&format!("{V3}/{note}")).await;
    assert_eq!(archived.status, StatusCode::NO_CONTENT);
    assert_eq!(sandbox.stats().notes_archived, 1);

    // A company change after them all: once it is delivered, any note event would be too.
    let marker = api
        .patch(
            &format!("/crm/v3/objects/companies/{company}"),
            json!({"properties": {"city": "Oslo"}}),
        )
        .await;
    assert_eq!(marker.status, StatusCode::OK, "{}", marker.body);
    let deadline = Instant::now() + Duration::from_secs(8);
    let is_marker = |event: &Value| {
        event["subscriptionType"] == "company.propertyChange" && event["propertyName"] == "city"
    };
    while !receiver.events.lock().unwrap().iter().any(is_marker) {
        assert!(Instant::now() < deadline, "the company's event never came");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A few dispatcher ticks more, for anything sent in a delivery of its own.
    tokio::time::sleep(Duration::from_millis(400)).await;

    let events = receiver.events.lock().unwrap().clone();
    let note_id: u64 = note.parse().unwrap();
    let about_notes: Vec<&Value> = events
        .iter()
        .filter(|event| {
            event["objectId"] == note_id
                || event["toObjectId"] == note_id
                || event["subscriptionType"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("note.") || t.ends_with(".associationChange"))
        })
        .collect();
    assert!(
        about_notes.is_empty(),
        "events about notes: {about_notes:?}"
    );
    // Only the company's and the deal's own changes were sent.
    let types: Vec<&str> = events
        .iter()
        .map(|event| event["subscriptionType"].as_str().unwrap())
        .collect();
    assert!(
        types
            .iter()
            .all(|t| t.starts_with("company.") || t.starts_with("deal.")),
        "{types:?}"
    );
    assert_eq!(
        sandbox.stats().webhook_events_delivered,
        events.len() as u64
    );
}
