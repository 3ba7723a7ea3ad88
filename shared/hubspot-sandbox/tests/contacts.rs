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

#[tokio::test]
async fn associations_fit_hubspots_schemas_and_keep_one_primary_company() {
    let sandbox = start(roomy()).await;
    let api = Api::new(&sandbox, APP_TOKEN);
    let v4 = spec("crm-associations-v4.json");
    let dated = spec("crm-associations-2026-09.json");
    let id = |answer: &common::Answer| answer.body["id"].as_str().unwrap().to_owned();
    let contact = id(&api
        .post(DATED, json!({"properties": {"email": "ada@example.test"}}))
        .await);
    let acme = id(&api
        .post(
            "/crm/objects/2026-09/companies",
            json!({"properties": {"name": "Acme"}}),
        )
        .await);
    let globex = id(&api
        .post(
            "/crm/objects/2026-09/companies",
            json!({"properties": {"name": "Globex"}}),
        )
        .await);

    let default = api
        .call(
            reqwest::Method::PUT,
            &format!(
                "/crm/objects/2026-09/contacts/{contact}/associations/default/companies/{acme}"
            ),
            None,
        )
        .await;
    assert_eq!(default.status, StatusCode::OK, "{}", default.body);
    assert_fits(
        &dated,
        "/crm/objects/2026-09/{fromObjectType}/{fromObjectId}/associations/default/{toObjectType}/{toObjectId}",
        "put",
        &default,
    );
    let types: Vec<i64> = default.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["associationSpec"]["associationTypeId"].as_i64().unwrap())
        .collect();
    assert_eq!(types, [279, 280]);

    // Primary to Globex: the primary moves there, Acme keeps the unlabeled association.
    let primary = api
        .post(
            "/crm/associations/2026-09/contacts/companies/batch/create",
            json!({"inputs": [{"from": {"id": contact}, "to": {"id": globex},
                               "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}]}]}),
        )
        .await;
    assert_eq!(primary.status, StatusCode::OK, "{}", primary.body);
    assert_fits(
        &dated,
        "/crm/associations/2026-09/{fromObjectType}/{toObjectType}/batch/create",
        "post",
        &primary,
    );
    assert_eq!(primary.body["results"][0]["labels"], json!(["Primary"]));
    let listed = api
        .get(&format!(
            "/crm/v4/objects/contacts/{contact}/associations/companies"
        ))
        .await;
    assert_fits(
        &v4,
        "/crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}",
        "get",
        &listed,
    );
    let types_of = |company: &str| -> Vec<i64> {
        listed.body["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["toObjectId"] == company)
            .map(|r| {
                r["associationTypes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t["typeId"].as_i64().unwrap())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(types_of(&acme), [279]);
    assert_eq!(types_of(&globex), [1, 279]);

    // The company's side, read in a batch on v4.
    let read = api
        .post(
            "/crm/v4/associations/companies/contacts/batch/read",
            json!({"inputs": [{"id": globex}, {"id": "999"}]}),
        )
        .await;
    assert_eq!(read.status, StatusCode::MULTI_STATUS, "{}", read.body);
    assert_fits(
        &v4,
        "/crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read",
        "post",
        &read,
    );
    assert_eq!(
        read.body["results"][0]["to"][0]["toObjectId"],
        contact.as_str()
    );

    // A type that does not fit the pair is refused; deleting removes every type both ways.
    let wrong = api
        .call(
            reqwest::Method::PUT,
            &format!("/crm/v4/objects/contacts/{contact}/associations/companies/{acme}"),
            Some(json!([{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 2}])),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST, "{}", wrong.body);
    let deleted = api
        .delete(&format!(
            "/crm/objects/2026-09/companies/{globex}/associations/contacts/{contact}"
        ))
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let after = api
        .get(&format!(
            "/crm/v4/objects/contacts/{contact}/associations/companies"
        ))
        .await;
    assert_eq!(
        after.body["results"].as_array().unwrap().len(),
        1,
        "{}",
        after.body
    );
}
