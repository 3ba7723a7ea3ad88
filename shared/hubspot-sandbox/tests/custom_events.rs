//! Custom events on HubSpot's dated paths (`/events/custom/2026-09`): Enterprise portals only
//! (403 otherwise), definitions fitting HubSpot's schema with the portal's fully qualified name,
//! sends checked against the definition and the portal's records, a uuid kept once, and the
//! occurrences read back from `/events/event-occurrences/2026-09`.

mod common;

use common::{APP_TOKEN, Api, assert_fits, roomy, spec, start};
use reqwest::StatusCode;
use serde_json::json;

const DEFINITIONS: &str = "/events/custom/2026-09/event-definitions";

#[tokio::test]
async fn custom_events_need_enterprise_fit_hubspots_schema_and_keep_a_uuid_once() {
    let sandbox = start(roomy()).await;
    let api = Api::new(&sandbox, APP_TOKEN);
    let events = spec("event-definitions-2026-09.json");
    let definition = json!({"name": "warp_account_event", "label": "WARP account event",
        "primaryObject": "COMPANY", "includeDefaultProperties": false,
        "propertyDefinitions": [{"name": "warp_kind", "label": "Kind", "type": "string"}]});

    let refused = api.post(DEFINITIONS, definition.clone()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let portals = reqwest::Client::new()
        .post(format!("{}/_sandbox/portals", sandbox.base_url()))
        .json(&json!({"portal_id": 62515, "enterprise": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(portals.status(), 200);

    let created = api.post(DEFINITIONS, definition.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_fits(&events, DEFINITIONS, "post", &created);
    let name = created.body["fullyQualifiedName"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(name, "pe62515_warp_account_event");
    assert_eq!(
        api.post(DEFINITIONS, definition).await.status,
        StatusCode::CONFLICT
    );
    let read = api.get(&format!("{DEFINITIONS}/warp_account_event")).await;
    assert_fits(
        &events,
        &format!("{DEFINITIONS}/{{eventName}}"),
        "get",
        &read,
    );
    assert_eq!(
        api.get(&format!("{DEFINITIONS}/nothing_here")).await.status,
        StatusCode::NOT_FOUND
    );

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
    let send = |uuid: &str, object: &str, properties: serde_json::Value| {
        json!({"inputs": [{"eventName": name, "objectId": object, "uuid": uuid,
                           "occurredAt": "2026-12-04T10:00:00Z", "properties": properties}]})
    };
    let batch = "/events/custom/2026-09/send/batch";
    let sent = api
        .post(
            batch,
            send("u-1", &company, json!({"warp_kind": "suspended"})),
        )
        .await;
    assert_eq!(sent.status, StatusCode::NO_CONTENT, "{}", sent.body);
    let again = api
        .post(
            batch,
            send("u-1", &company, json!({"warp_kind": "suspended"})),
        )
        .await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);
    let unknown_property = api
        .post(batch, send("u-2", &company, json!({"colour": "red"})))
        .await;
    assert_eq!(unknown_property.status, StatusCode::BAD_REQUEST);
    let no_record = api.post(batch, send("u-3", "999", json!({}))).await;
    assert_eq!(no_record.status, StatusCode::BAD_REQUEST);
    let one = api
        .post(
            "/events/custom/2026-09/send",
            json!({"eventName": name, "objectId": company, "uuid": "u-4", "properties": {}}),
        )
        .await;
    assert_eq!(one.status, StatusCode::NO_CONTENT, "{}", one.body);

    let occurrences = api
        .get(&format!(
            "/events/event-occurrences/2026-09?objectType=company&objectId={company}"
        ))
        .await;
    let results = occurrences.body["results"].as_array().unwrap();
    assert_eq!(
        results.len(),
        2,
        "the repeated uuid counted once: {}",
        occurrences.body
    );
    assert_eq!(results[0]["properties"]["warp_kind"], "suspended");
    assert_eq!(results[0]["occurredAt"], "2026-12-04T10:00:00.000Z");
    // v3 serves the same definitions and occurrences.
    let v3 = api
        .get("/events/v3/event-definitions/warp_account_event")
        .await;
    assert_eq!(v3.body["fullyQualifiedName"], name);
    let v3_sent = api
        .get(&format!(
            "/events/v3/events?objectType=company&objectId={company}"
        ))
        .await;
    assert_eq!(v3_sent.body["results"].as_array().unwrap().len(), 2);
}
