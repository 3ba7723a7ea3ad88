//! Custom objects on HubSpot's paths (`/crm-object-schemas/2026-09/schemas`, records under
//! `/crm/objects/2026-09/{objectTypeId}`): Enterprise portals only (403 otherwise, and a
//! custom object limit of 0), schemas fitting HubSpot's OpenAPI file, the same name created
//! twice answering the first schema, records upserted by a unique property and addressed by
//! type id or qualified name, and associations with companies and between custom types.

mod common;

use common::{APP_TOKEN, Api, assert_fits, roomy, spec, start};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SCHEMAS: &str = "/crm-object-schemas/2026-09/schemas";
const LIMITS: &str = "/crm/limits/2026-09/custom-object-types";

fn trunk_schema() -> Value {
    json!({
        "name": "warp_trunk",
        "labels": {"singular": "WARP trunk", "plural": "WARP trunks"},
        "primaryDisplayProperty": "warp_name",
        "secondaryDisplayProperties": ["warp_trunk_id"],
        "searchableProperties": ["warp_name", "warp_trunk_id"],
        "requiredProperties": ["warp_trunk_id", "warp_name"],
        "allowsSensitiveProperties": false,
        "properties": [
            {"name": "warp_trunk_id", "label": "WARP trunk id", "type": "string",
             "fieldType": "text", "hasUniqueValue": true},
            {"name": "warp_name", "label": "Name", "type": "string", "fieldType": "text"},
            {"name": "warp_status", "label": "Status", "type": "enumeration", "fieldType": "select",
             "options": [{"label": "Active", "value": "active", "displayOrder": 0, "hidden": false},
                         {"label": "Released", "value": "released", "displayOrder": 1, "hidden": false}]},
        ],
        "associatedObjects": ["COMPANY"],
    })
}

async fn make_enterprise(sandbox: &hubspot_sandbox::SandboxHandle) {
    let answer = reqwest::Client::new()
        .post(format!("{}/_sandbox/portals", sandbox.base_url()))
        .json(&json!({"portal_id": 62515, "enterprise": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
}

#[tokio::test]
async fn custom_objects_need_enterprise_and_a_schema_is_created_once() {
    let sandbox = start(roomy()).await;
    let api = Api::new(&sandbox, APP_TOKEN);
    let schemas = spec("crm-schemas-2026-09.json");

    let limits = api.get(LIMITS).await;
    assert_eq!(
        limits.body,
        json!({"limit": 0, "usage": 0, "percentage": 0.0})
    );
    let refused = api.post(SCHEMAS, trunk_schema()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(refused.body["category"], "MISSING_SCOPES");
    assert_eq!(api.get(SCHEMAS).await.body, json!({"results": []}));

    make_enterprise(&sandbox).await;
    let created = api.post(SCHEMAS, trunk_schema()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_fits(&schemas, SCHEMAS, "post", &created);
    let type_id = created.body["objectTypeId"].as_str().unwrap().to_owned();
    assert!(type_id.starts_with("2-"), "{type_id}");
    assert_eq!(created.body["fullyQualifiedName"], "p62515_warp_trunk");
    let to_company = created.body["associations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["fromObjectTypeId"] == type_id.as_str() && a["toObjectTypeId"] == "0-2")
        .expect("an association definition to companies");
    assert!(to_company["id"].as_str().unwrap().parse::<u32>().is_ok());
    let unique = created.body["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "warp_trunk_id")
        .unwrap();
    assert_eq!(unique["hasUniqueValue"], true);
    assert_eq!(unique["groupName"], "warp_trunk_information");

    // The exact name again answers the schema made first; the name in another case is a 409.
    let again = api.post(SCHEMAS, trunk_schema()).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body["objectTypeId"], type_id.as_str());
    let mut other_case = trunk_schema();
    other_case["name"] = json!("WARP_Trunk");
    let conflict = api.post(SCHEMAS, other_case).await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    assert_eq!(conflict.body["category"], "OBJECT_ALREADY_EXISTS");

    for name in [type_id.as_str(), "p62515_warp_trunk", "p_warp_trunk"] {
        let read = api.get(&format!("{SCHEMAS}/{name}")).await;
        assert_eq!(read.status, StatusCode::OK, "{name}");
        assert_fits(&schemas, &format!("{SCHEMAS}/{{objectType}}"), "get", &read);
    }
    assert_eq!(
        api.get(&format!("{SCHEMAS}/warp_trunk")).await.status,
        StatusCode::NOT_FOUND,
        "HubSpot no longer takes the bare name"
    );
    let list = api.get(SCHEMAS).await;
    assert_fits(&schemas, SCHEMAS, "get", &list);
    assert_eq!(list.body["results"].as_array().unwrap().len(), 1);
    assert_eq!(
        api.get(LIMITS).await.body,
        json!({"limit": 10, "usage": 1, "percentage": 10.0})
    );
    let mut bad = trunk_schema();
    bad["name"] = json!("warp-number");
    assert_eq!(api.post(SCHEMAS, bad).await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn custom_records_are_upserted_by_their_unique_property_and_associated() {
    let sandbox = start(roomy()).await;
    let api = Api::new(&sandbox, APP_TOKEN);
    make_enterprise(&sandbox).await;
    let trunk_type = api.post(SCHEMAS, trunk_schema()).await.body["objectTypeId"]
        .as_str()
        .unwrap()
        .to_owned();
    let number_schema = json!({
        "name": "warp_number",
        "labels": {"singular": "WARP number", "plural": "WARP numbers"},
        "primaryDisplayProperty": "warp_number",
        "requiredProperties": ["warp_number_id"],
        "properties": [
            {"name": "warp_number_id", "label": "WARP number id", "type": "string",
             "fieldType": "text", "hasUniqueValue": true},
            {"name": "warp_number", "label": "Number", "type": "string", "fieldType": "text"},
        ],
        "associatedObjects": ["COMPANY", trunk_type],
    });
    let number_schema = api.post(SCHEMAS, number_schema).await;
    assert_eq!(
        number_schema.status,
        StatusCode::CREATED,
        "{}",
        number_schema.body
    );
    let number_type = number_schema.body["objectTypeId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(number_type, trunk_type);

    let upsert = |id: &str, name: &str| {
        json!({"inputs": [{"idProperty": "warp_trunk_id", "id": id,
            "properties": {"warp_trunk_id": id, "warp_name": name, "warp_status": "active"}}]})
    };
    let objects = format!("/crm/objects/2026-09/{trunk_type}");
    let first = api
        .post(&format!("{objects}/batch/upsert"), upsert("t-1", "Main"))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body["results"][0]["new"], true);
    let trunk_id = first.body["results"][0]["id"].as_str().unwrap().to_owned();
    let second = api
        .post(
            "/crm/objects/2026-09/p62515_warp_trunk/batch/upsert",
            upsert("t-1", "Main (renamed)"),
        )
        .await;
    assert_eq!(second.body["results"][0]["new"], false);
    assert_eq!(second.body["results"][0]["id"], trunk_id.as_str());
    let read = api
        .get(&format!(
            "{objects}/{trunk_id}?properties=warp_name,warp_status"
        ))
        .await;
    assert_eq!(read.body["properties"]["warp_name"], "Main (renamed)");
    // The schema's required properties are HubSpot's rules for every create.
    let missing = api
        .post(&objects, json!({"properties": {"warp_name": "No id"}}))
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST, "{}", missing.body);
    assert_eq!(
        api.get("/crm/objects/2026-09/warp_trunk").await.status,
        StatusCode::BAD_REQUEST,
        "a bare name names no object type"
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
    let number = api
        .post(
            &format!("/crm/objects/2026-09/{number_type}"),
            json!({"properties": {"warp_number_id": "n-1", "warp_number": "+13035551000"}}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (from_type, from_id, to_type, to_id) in [
        (
            trunk_type.as_str(),
            trunk_id.as_str(),
            "companies",
            company.as_str(),
        ),
        (
            number_type.as_str(),
            number.as_str(),
            trunk_type.as_str(),
            trunk_id.as_str(),
        ),
    ] {
        let linked = api
            .post(
                &format!("/crm/associations/2026-09/{from_type}/{to_type}/batch/associate/default"),
                json!({"inputs": [{"from": {"id": from_id}, "to": {"id": to_id}}]}),
            )
            .await;
        assert_eq!(linked.status, StatusCode::OK, "{}", linked.body);
        let types = linked.body["results"][0]["associationSpec"]["associationCategory"].clone();
        assert_eq!(types, "USER_DEFINED");
    }
    let of_company = api
        .get(&format!(
            "/crm/v4/objects/companies/{company}/associations/{trunk_type}"
        ))
        .await;
    assert_eq!(of_company.status, StatusCode::OK, "{}", of_company.body);
    assert_eq!(
        of_company.body["results"][0]["toObjectId"].as_str(),
        Some(trunk_id.as_str())
    );
    let of_trunk = api
        .get(&format!(
            "/crm/v4/objects/{trunk_type}/{trunk_id}/associations/{number_type}"
        ))
        .await;
    assert_eq!(
        of_trunk.body["results"][0]["toObjectId"].as_str(),
        Some(number.as_str())
    );
}
