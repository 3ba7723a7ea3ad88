//! Contacts on HubSpot's dated (2026-09) and v3 paths: answers checked against HubSpot's
//! OpenAPI schemas, email as HubSpot's identity, upserts by a unique property, merges, and
//! counts kept apart from companies.

mod common;

use common::{APP_TOKEN, Api, USER_TOKEN, assert_fits, roomy, spec, start};
use reqwest::StatusCode;
use serde_json::json;

const DATED: &str = "/crm/objects/2026-09/contacts";
const V3: &str = "/crm/v3/objects/contacts";
const GENERIC: &str = "/crm/objects/2026-09/{objectType}";

#[tokio::test]
async fn contacts_on_the_dated_paths_fit_hubspots_schemas_and_match_v3() {
    let sandbox = start(roomy()).await;
    let api = Api::new(&sandbox, APP_TOKEN);
    let contacts = spec("crm-contacts-2026-09.json");

    let created = api
        .post(
            DATED,
            json!({"properties": {"email": "Ada@Example.test", "firstname": "Ada", "lastname": "Lovelace"}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_fits(&contacts, GENERIC, "post", &created);
    let id = created.body["id"].as_str().unwrap().to_owned();

    // The same record on v3, read by email (any case), with the computed properties.
    let by_email = api
        .get(&format!(
            "{V3}/ada@example.test?idProperty=email&properties=firstname"
        ))
        .await;
    assert_eq!(by_email.status, StatusCode::OK, "{}", by_email.body);
    assert_eq!(by_email.body["id"], id.as_str());
    let properties = &by_email.body["properties"];
    assert_eq!(properties["firstname"], "Ada");
    assert_eq!(properties["hs_object_id"], id.as_str());
    assert!(properties["createdate"].is_string(), "{properties}");
    assert!(properties["lastmodifieddate"].is_string(), "{properties}");
    let read = api.get(&format!("{DATED}/{id}")).await;
    assert_fits(&contacts, &format!("{GENERIC}/{{objectId}}"), "get", &read);
    assert_eq!(read.body["properties"]["lastname"], "Lovelace");

    // HubSpot keeps one contact per email.
    let twin = api
        .post(DATED, json!({"properties": {"email": "ada@example.test"}}))
        .await;
    assert_eq!(twin.status, StatusCode::CONFLICT, "{}", twin.body);
    assert_eq!(
        twin.body["message"],
        format!("Contact already exists. Existing ID: {id}")
    );

    // A company property is not a contact property.
    let wrong = api
        .post(DATED, json!({"properties": {"domain": "example.test"}}))
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST, "{}", wrong.body);

    let listed = api.get(&format!("{DATED}?limit=10")).await;
    assert_fits(&contacts, GENERIC, "get", &listed);
    assert_eq!(listed.body["results"].as_array().unwrap().len(), 1);
    let stats = sandbox.stats();
    assert_eq!((stats.contacts, stats.companies), (1, 0));
    assert!(
        stats
            .requests_by_route
            .contains_key("POST /crm/objects/2026-09/contacts"),
        "{:?}",
        stats.requests_by_route
    );
}

#[tokio::test]
async fn contacts_upsert_by_a_unique_property_and_merge_into_the_primary() {
    let sandbox = start(roomy()).await;
    let api = Api::new(&sandbox, APP_TOKEN);
    let contacts = spec("crm-contacts-2026-09.json");
    let property = api
        .post(
            "/crm/properties/2026-09/contacts",
            json!({"name": "warp_user_id", "label": "WARP user id", "type": "string",
                   "fieldType": "text", "groupName": "contactinformation", "hasUniqueValue": true}),
        )
        .await;
    assert_eq!(property.status, StatusCode::CREATED, "{}", property.body);
    // The companies' property list does not have it.
    let on_companies = api
        .get("/crm/properties/2026-09/companies/warp_user_id")
        .await;
    assert_eq!(on_companies.status, StatusCode::NOT_FOUND);

    let upsert = |email: &str, name: &str| {
        json!({"inputs": [{"id": "u-1", "idProperty": "warp_user_id",
                           "properties": {"email": email, "firstname": name}}]})
    };
    let first = api
        .post(
            &format!("{DATED}/batch/upsert"),
            upsert("grace@example.test", "Grace"),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_fits(
        &contacts,
        &format!("{GENERIC}/batch/upsert"),
        "post",
        &first,
    );
    assert_eq!(first.body["results"][0]["new"], true);
    let id = first.body["results"][0]["id"].as_str().unwrap().to_owned();
    let second = api
        .post(
            &format!("{DATED}/batch/upsert"),
            upsert("grace@navy.test", "Grace"),
        )
        .await;
    assert_eq!(second.body["results"][0]["new"], false, "{}", second.body);
    assert_eq!(second.body["results"][0]["id"], id.as_str());

    let other = Api::new(&sandbox, USER_TOKEN)
        .post(
            V3,
            json!({"properties": {"email": "g.hopper@example.test", "jobtitle": "Admiral"}}),
        )
        .await;
    let other_id = other.body["id"].as_str().unwrap().to_owned();
    let merged = api
        .post(
            &format!("{DATED}/merge"),
            json!({"primaryObjectId": id, "objectIdToMerge": other_id}),
        )
        .await;
    assert_eq!(merged.status, StatusCode::OK, "{}", merged.body);
    assert_eq!(merged.body["properties"]["email"], "grace@navy.test");
    assert_eq!(merged.body["properties"]["jobtitle"], "Admiral");
    let gone = api.get(&format!("{DATED}/{other_id}")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let stats = sandbox.stats();
    assert_eq!((stats.contacts, stats.contacts_archived), (1, 1));
}
