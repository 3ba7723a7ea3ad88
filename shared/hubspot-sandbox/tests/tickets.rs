//! Tickets and ticket pipelines on HubSpot's dated (2026-09) and v3 paths: answers checked
//! against HubSpot's OpenAPI schemas, a ticket's name and stage required, its stage checked
//! against its pipeline (`ticketState` says open or closed), `closed_date` set on closing, and
//! its company and notes by HubSpot's type ids.

mod common;

use common::{APP_TOKEN, Api, assert_fits, roomy, spec, start};
use reqwest::StatusCode;
use serde_json::json;

const DATED: &str = "/crm/objects/2026-09/tickets";
const GENERIC: &str = "/crm/objects/2026-09/{objectType}";
const PIPELINES: &str = "/crm/pipelines/2026-09/tickets";
const PIPELINES_GENERIC: &str = "/crm/pipelines/2026-09/{objectType}";

#[tokio::test]
async fn tickets_fit_hubspots_schemas_and_follow_their_pipeline() {
    let sandbox = start(roomy()).await;
    let api = Api::new(&sandbox, APP_TOKEN);
    let tickets = spec("crm-tickets-2026-09.json");

    let missing = api
        .post(
            DATED,
            json!({"properties": {"content": "no name, no stage"}}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST, "{}", missing.body);
    let message = missing.body["message"].as_str().unwrap();
    assert!(
        message.contains("hs_pipeline_stage") && message.contains("subject"),
        "{message}"
    );

    let created = api
        .post(
            DATED,
            json!({"properties": {"subject": "Low ASR", "hs_pipeline_stage": "1",
                                  "hs_ticket_priority": "HIGH"}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_fits(&tickets, GENERIC, "post", &created);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let read = api
        .get(&format!("{DATED}/{id}?properties=hs_pipeline,closed_date"))
        .await;
    assert_fits(&tickets, &format!("{GENERIC}/{{objectId}}"), "get", &read);
    assert_eq!(
        read.body["properties"]["hs_pipeline"], "0",
        "the default pipeline when none is named"
    );
    assert_eq!(
        read.body["properties"]["closed_date"],
        serde_json::Value::Null
    );

    let bad_priority = api
        .patch(
            &format!("{DATED}/{id}"),
            json!({"properties": {"hs_ticket_priority": "SOON"}}),
        )
        .await;
    assert_eq!(bad_priority.status, StatusCode::BAD_REQUEST);
    let deal_stage = api
        .patch(
            &format!("{DATED}/{id}"),
            json!({"properties": {"hs_pipeline_stage": "closedwon"}}),
        )
        .await;
    assert_eq!(
        deal_stage.status,
        StatusCode::BAD_REQUEST,
        "{}",
        deal_stage.body
    );
    assert!(
        deal_stage.body["message"]
            .as_str()
            .unwrap()
            .contains("hs_pipeline_stage")
    );

    let closed = api
        .patch(
            &format!("{DATED}/{id}"),
            json!({"properties": {"hs_pipeline_stage": "4"}}),
        )
        .await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.body);
    let read = api
        .get(&format!("{DATED}/{id}?properties=closed_date"))
        .await;
    assert!(read.body["properties"]["closed_date"].is_string());
    // v3 reads the same ticket.
    let v3 = api
        .get(&format!("/crm/v3/objects/tickets/{id}?properties=subject"))
        .await;
    assert_eq!(v3.body["properties"]["subject"], "Low ASR");
}

#[tokio::test]
async fn ticket_pipelines_say_which_stages_close_and_new_ones_get_ids() {
    let sandbox = start(roomy()).await;
    let api = Api::new(&sandbox, APP_TOKEN);
    let pipelines = spec("crm-pipelines-2026-09.json");
    let listed = api.get(PIPELINES).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_fits(&pipelines, PIPELINES_GENERIC, "get", &listed);
    let support = &listed.body["results"][0];
    assert_eq!(support["id"], "0");
    let states: Vec<(&str, &str)> = support["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["label"].as_str().unwrap(),
                s["metadata"]["ticketState"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("New", "OPEN"),
            ("Waiting on contact", "OPEN"),
            ("Waiting on us", "OPEN"),
            ("Closed", "CLOSED")
        ]
    );
    let created = api
        .post(
            PIPELINES,
            json!({"label": "Network Ops", "displayOrder": 1, "stages": [
                {"label": "Triage", "displayOrder": 0, "metadata": {}},
                {"label": "Fixed", "displayOrder": 1, "metadata": {"ticketState": "CLOSED"}}]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_fits(&pipelines, PIPELINES_GENERIC, "post", &created);
    assert_eq!(created.body["stages"][0]["metadata"]["ticketState"], "OPEN");
    let v3 = api.get("/crm/v3/pipelines/tickets").await;
    assert_eq!(v3.body["results"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_ticket_has_one_primary_company_and_notes_by_type_id() {
    let sandbox = start(roomy()).await;
    let api = Api::new(&sandbox, APP_TOKEN);
    let company = api
        .post(
            "/crm/objects/2026-09/companies",
            json!({"properties": {"name": "Acme"}}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ticket = api
        .post(
            DATED,
            json!({"properties": {"subject": "Trunk down", "hs_pipeline_stage": "1"},
                   "associations": [{"to": {"id": company},
                       "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 339}]}]}),
        )
        .await;
    assert_eq!(ticket.status, StatusCode::CREATED, "{}", ticket.body);
    let ticket = ticket.body["id"].as_str().unwrap().to_owned();
    let note = api
        .post(
            "/crm/objects/2026-09/notes",
            json!({"properties": {"hs_timestamp": "2026-12-04T10:00:00Z", "hs_note_body": "again"},
                   "associations": [{"to": {"id": ticket},
                       "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 228}]}]}),
        )
        .await;
    assert_eq!(note.status, StatusCode::CREATED, "{}", note.body);
    let from_company = api
        .post(
            "/crm/associations/2026-09/companies/tickets/batch/read",
            json!({"inputs": [{"id": company}]}),
        )
        .await;
    let types: Vec<i64> = from_company.body["results"][0]["to"][0]["associationTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["typeId"].as_i64().unwrap())
        .collect();
    assert_eq!(
        types,
        [25, 340],
        "the unlabeled type comes with the primary one"
    );
    let notes = api
        .post(
            "/crm/associations/2026-09/tickets/notes/batch/read",
            json!({"inputs": [{"id": ticket}]}),
        )
        .await;
    assert_eq!(
        notes.body["results"][0]["to"].as_array().unwrap().len(),
        1,
        "{}",
        notes.body
    );
}
