//! `propertiesWithHistory` on the paths HubSpot serves it (list, read, batch read): newest
//! first, each version with its value, timestamp and source, answers fitting HubSpot's schemas,
//! and at most 50 companies per request that asks for history.

mod common;

use common::{APP_TOKEN, Api, USER_TOKEN, assert_fits, create_warp_properties, roomy, spec, start};
use reqwest::StatusCode;
use serde_json::{Value, json};

const COMPANIES: &str = "/crm/v3/objects/companies";

#[tokio::test]
async fn history_is_served_newest_first_on_list_read_and_batch_read() {
    let sandbox = start(roomy()).await;
    let app = Api::new(&sandbox, APP_TOKEN);
    let person = Api::new(&sandbox, USER_TOKEN);
    let companies = spec("crm-companies-v3.json");
    create_warp_properties(&app).await;
    let created = app
        .post(
            COMPANIES,
            json!({"properties": {"name": "First", "warp_ban": "ZT-000000001"}}),
        )
        .await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let edited = person
        .patch(
            &format!("{COMPANIES}/{id}"),
            json!({"properties": {"name": "Second"}}),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK);

    let check = |company: &Value| {
        let history = company["propertiesWithHistory"]["name"].as_array().unwrap();
        assert_eq!(history.len(), 2, "{company}");
        assert_eq!(history[0]["value"], "Second");
        assert_eq!(history[0]["sourceType"], "CRM_UI");
        assert_eq!(history[1]["value"], "First");
        assert_eq!(history[1]["sourceType"], "INTEGRATION");
        assert!(
            history[0]["timestamp"].as_str().unwrap() > history[1]["timestamp"].as_str().unwrap()
        );
        assert!(
            company["propertiesWithHistory"].get("domain").is_none(),
            "only what was asked"
        );
    };

    let listed = app
        .get(&format!(
            "{COMPANIES}?limit=50&properties=name&propertiesWithHistory=name"
        ))
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_fits(&companies, COMPANIES, "get", &listed);
    check(&listed.body["results"][0]);

    let read = app
        .get(&format!(
            "{COMPANIES}/{id}?properties=name&propertiesWithHistory=name"
        ))
        .await;
    check(&read.body);

    let batch = app
        .post(
            &format!("{COMPANIES}/batch/read"),
            json!({"inputs": [{"id": id}], "properties": ["name"], "propertiesWithHistory": ["name"]}),
        )
        .await;
    assert_eq!(batch.status, StatusCode::OK);
    assert_fits(
        &companies,
        "/crm/v3/objects/companies/batch/read",
        "post",
        &batch,
    );
    check(&batch.body["results"][0]);
}

#[tokio::test]
async fn a_request_with_history_reads_at_most_fifty_companies() {
    let sandbox = start(roomy()).await;
    let app = Api::new(&sandbox, APP_TOKEN);
    create_warp_properties(&app).await;

    let too_many = app
        .get(&format!("{COMPANIES}?limit=51&propertiesWithHistory=name"))
        .await;
    assert_eq!(
        too_many.status,
        StatusCode::BAD_REQUEST,
        "{}",
        too_many.body
    );
    assert_eq!(too_many.body["category"], "VALIDATION_ERROR");
    let without_history = app.get(&format!("{COMPANIES}?limit=100")).await;
    assert_eq!(without_history.status, StatusCode::OK);

    let inputs: Vec<Value> = (1..=51).map(|n| json!({"id": n.to_string()})).collect();
    let batch = app
        .post(
            &format!("{COMPANIES}/batch/read"),
            json!({"inputs": inputs, "properties": ["name"], "propertiesWithHistory": ["name"]}),
        )
        .await;
    assert_eq!(batch.status, StatusCode::BAD_REQUEST, "{}", batch.body);
    let fifty: Vec<Value> = (1..=50).map(|n| json!({"id": n.to_string()})).collect();
    let fits = app
        .post(
            &format!("{COMPANIES}/batch/read"),
            json!({"inputs": fifty, "properties": ["name"], "propertiesWithHistory": ["name"]}),
        )
        .await;
    assert_ne!(fits.status, StatusCode::BAD_REQUEST, "{}", fits.body);
}
