//! What HubSpot's official Python SDK (hubspot-api-client, `make sdk`) needs of the sandbox
//! beyond the paths the WARP client calls: boolean query parameters in Python's spelling, a
//! create's `associations`, a read's `associations=`, v4 association pages, and the survivor's
//! `hs_merged_object_ids`. Each answer is checked against HubSpot's OpenAPI schemas too.

mod common;

use common::{APP_TOKEN, Answer, Api, assert_fits, roomy, spec, start};
use reqwest::StatusCode;
use serde_json::{Value, json};

const V3_CONTACTS: &str = "/crm/v3/objects/contacts";
const V3_COMPANIES: &str = "/crm/v3/objects/companies";
const V3_RECORD: &str = "/crm/v3/objects/{objectType}/{objectId}";
const V4_LIST: &str = "/crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}";

fn id(answer: &Answer) -> String {
    assert!(answer.status.is_success(), "{}", answer.body);
    answer.body["id"].as_str().unwrap().to_owned()
}

/// Creates a company named `name` and answers its id.
async fn new_company(api: &Api, name: &str) -> String {
    id(&api
        .post(V3_COMPANIES, json!({"properties": {"name": name}}))
        .await)
}

fn spec_json(type_id: u32) -> Value {
    json!({"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id})
}

/// `(toObjectId, [typeId...])` of a v4 association list.
fn listed(answer: &Answer) -> Vec<(String, Vec<i64>)> {
    answer.body["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results: {}", answer.body))
        .iter()
        .map(|result| {
            let types = result["associationTypes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["typeId"].as_i64().unwrap())
                .collect();
            (result["toObjectId"].as_str().unwrap().to_owned(), types)
        })
        .collect()
}

#[tokio::test]
async fn boolean_query_parameters_are_read_in_any_case() {
    let sandbox = start(roomy()).await;
    let api = Api::new(&sandbox, APP_TOKEN);
    let kept = new_company(&api, "Kept").await;
    let gone = new_company(&api, "Gone").await;
    assert_eq!(
        api.delete(&format!("{V3_COMPANIES}/{gone}")).await.status,
        StatusCode::NO_CONTENT
    );

    // Python's spelling, as the SDK sends `archived=True` / `archived=False`.
    let archived = api
        .get(&format!("{V3_COMPANIES}/{gone}?archived=True"))
        .await;
    assert_eq!(archived.status, StatusCode::OK, "{}", archived.body);
    assert_eq!(archived.body["archived"], true);
    let active = api
        .get(&format!("{V3_COMPANIES}/{kept}?archived=False"))
        .await;
    assert_eq!(active.status, StatusCode::OK, "{}", active.body);
    assert_eq!(active.body["id"], kept.as_str());
    assert_eq!(
        api.get(&format!("{V3_COMPANIES}/{gone}?archived=FALSE"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let page = api.get(&format!("{V3_COMPANIES}?archived=True")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.body["results"][0]["id"], gone.as_str());
    let read = api
        .post(
            &format!("{V3_COMPANIES}/batch/read?archived=True"),
            json!({"inputs": [{"id": gone}], "properties": ["name"]}),
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(read.body["results"][0]["id"], gone.as_str());

    // Anything but a boolean is still refused.
    let wrong = api
        .get(&format!("{V3_COMPANIES}/{kept}?archived=yes"))
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST, "{}", wrong.body);
}

#[tokio::test]
async fn a_create_makes_the_associations_it_names() {
    let sandbox = start(roomy()).await;
    let api = Api::new(&sandbox, APP_TOKEN);
    let objects = spec("crm-objects-v3.json");
    let v4 = spec("crm-associations-v4.json");
    let acme = new_company(&api, "Acme").await;

    // A contact created with its primary company: the unlabeled type comes with it, both ways.
    let created = api
        .post(
            V3_CONTACTS,
            json!({"properties": {"email": "ada@example.test"},
                   "associations": [{"to": {"id": acme}, "types": [spec_json(1)]}]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_fits(&objects, "/crm/v3/objects/{objectType}", "post", &created);
    let ada = id(&created);
    let from_contact = api
        .get(&format!(
            "/crm/v4/objects/contacts/{ada}/associations/companies"
        ))
        .await;
    assert_fits(&v4, V4_LIST, "get", &from_contact);
    assert_eq!(listed(&from_contact), [(acme.clone(), vec![1, 279])]);
    let from_company = api
        .get(&format!(
            "/crm/v4/objects/companies/{acme}/associations/contacts"
        ))
        .await;
    assert_eq!(listed(&from_company), [(ada.clone(), vec![2, 280])]);

    // A target that does not exist, or a type that leads nowhere from contacts: 400, and no
    // contact is created.
    let before = sandbox.stats().contacts;
    for associations in [
        json!([{"to": {"id": "999999"}, "types": [spec_json(279)]}]),
        json!([{"to": {"id": acme}, "types": [spec_json(280)]}]),
    ] {
        let refused = api
            .post(
                V3_CONTACTS,
                json!({"properties": {"email": "nobody@example.test"}, "associations": associations}),
            )
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        assert_eq!(refused.body["category"], "VALIDATION_ERROR");
    }
    assert_eq!(sandbox.stats().contacts, before);

    // A batch create: each input's associations are its own; a bad one fails that input only.
    let batch = api
        .post(
            &format!("{V3_COMPANIES}/batch/create"),
            json!({"inputs": [
                {"properties": {"name": "Globex"},
                 "associations": [{"to": {"id": ada}, "types": [spec_json(280)]}]},
                {"properties": {"name": "Initech"},
                 "associations": [{"to": {"id": "999999"}, "types": [spec_json(280)]}]}
            ]}),
        )
        .await;
    assert_eq!(batch.status, StatusCode::MULTI_STATUS, "{}", batch.body);
    assert_fits(
        &objects,
        "/crm/v3/objects/{objectType}/batch/create",
        "post",
        &batch,
    );
    assert_eq!(batch.body["results"].as_array().unwrap().len(), 1);
    assert_eq!(
        batch.body["errors"][0]["context"]["inputIndex"],
        json!(["1"])
    );
    let globex = batch.body["results"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(batch.body["results"][0]["properties"]["name"], "Globex");
    let of_ada = api
        .get(&format!(
            "/crm/v4/objects/contacts/{ada}/associations/companies"
        ))
        .await;
    assert_eq!(
        listed(&of_ada),
        [(acme.clone(), vec![1, 279]), (globex, vec![279])]
    );
    assert_eq!(sandbox.stats().companies, 2, "Initech was not created");
}

#[tokio::test]
async fn a_read_with_associations_lists_them_by_v3_type_name() {
    let sandbox = start(roomy()).await;
    let api = Api::new(&sandbox, APP_TOKEN);
    let objects = spec("crm-objects-v3.json");
    let acme = new_company(&api, "Acme").await;
    let globex = new_company(&api, "Globex").await;
    let ada = id(&api
        .post(
            V3_CONTACTS,
            json!({"properties": {"email": "ada@example.test"}}),
        )
        .await);
    let primary = api
        .call(
            reqwest::Method::PUT,
            &format!("/crm/v4/objects/contacts/{ada}/associations/companies/{acme}"),
            Some(json!([spec_json(1)])),
        )
        .await;
    assert_eq!(primary.status, StatusCode::CREATED, "{}", primary.body);
    let unlabeled = api
        .call(
            reqwest::Method::PUT,
            &format!("/crm/v4/objects/contacts/{ada}/associations/default/companies/{globex}"),
            None,
        )
        .await;
    assert_eq!(unlabeled.status, StatusCode::OK, "{}", unlabeled.body);

    let read = api
        .get(&format!(
            "{V3_CONTACTS}/{ada}?associations=companies&associations=widgets"
        ))
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_fits(&objects, V3_RECORD, "get", &read);
    assert_eq!(
        read.body["associations"],
        json!({"companies": {"results": [
            {"id": acme, "type": "contact_to_company"},
            {"id": acme, "type": "contact_to_company_unlabeled"},
            {"id": globex, "type": "contact_to_company_unlabeled"},
        ]}}),
        "{}",
        read.body
    );
    // The other side, named by type id; a type with nothing associated is left out.
    let company = api
        .get(&format!("{V3_COMPANIES}/{globex}?associations=0-1"))
        .await;
    assert_eq!(
        company.body["associations"],
        json!({"contacts": {"results": [{"id": ada, "type": "company_to_contact_unlabeled"}]}}),
    );
    let lonely = new_company(&api, "Lonely").await;
    let none = api
        .get(&format!("{V3_COMPANIES}/{lonely}?associations=contacts"))
        .await;
    assert_eq!(none.status, StatusCode::OK);
    assert!(none.body.get("associations").is_none(), "{}", none.body);
    // Without the parameter, no associations member.
    let plain = api.get(&format!("{V3_CONTACTS}/{ada}")).await;
    assert!(plain.body.get("associations").is_none(), "{}", plain.body);

    // A list page carries them per record too.
    let page = api
        .get(&format!("{V3_COMPANIES}?associations=contacts&limit=10"))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_fits(&objects, "/crm/v3/objects/{objectType}", "get", &page);
    let by_id: Vec<(String, Value)> = page.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                r["associations"]["contacts"]["results"].clone(),
            )
        })
        .collect();
    assert_eq!(
        by_id,
        [
            (
                acme,
                json!([{"id": ada, "type": "company_to_contact"}, {"id": ada, "type": "company_to_contact_unlabeled"}])
            ),
            (
                globex,
                json!([{"id": ada, "type": "company_to_contact_unlabeled"}])
            ),
            (lonely, Value::Null),
        ]
    );
}

#[tokio::test]
async fn v4_association_lists_page_by_limit_and_after() {
    let sandbox = start(roomy()).await;
    let api = Api::new(&sandbox, APP_TOKEN);
    let v4 = spec("crm-associations-v4.json");
    let acme = new_company(&api, "Acme").await;
    let mut contacts = Vec::new();
    for n in 0..3 {
        contacts.push(id(&api
            .post(
                V3_CONTACTS,
                json!({"properties": {"email": format!("c{n}@example.test")},
                       "associations": [{"to": {"id": acme}, "types": [spec_json(279)]}]}),
            )
            .await));
    }
    let list = format!("/crm/v4/objects/companies/{acme}/associations/contacts");

    let first = api.get(&format!("{list}?limit=2")).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_fits(&v4, V4_LIST, "get", &first);
    let ids =
        |answer: &Answer| -> Vec<String> { listed(answer).into_iter().map(|(id, _)| id).collect() };
    assert_eq!(ids(&first), contacts[..2]);
    let after = first.body["paging"]["next"]["after"]
        .as_str()
        .unwrap_or_else(|| panic!("no paging.next.after: {}", first.body))
        .to_owned();
    let second = api.get(&format!("{list}?limit=2&after={after}")).await;
    assert_fits(&v4, V4_LIST, "get", &second);
    assert_eq!(ids(&second), contacts[2..]);
    assert!(second.body.get("paging").is_none(), "{}", second.body);

    // Without a limit: every association on one page (the default is 500).
    let all = api.get(&list).await;
    assert_eq!(ids(&all), contacts);
    assert!(all.body.get("paging").is_none(), "{}", all.body);

    for bad in ["limit=0", "limit=501", "limit=x", "after=x"] {
        let refused = api.get(&format!("{list}?{bad}")).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            refused.body
        );
    }
}

#[tokio::test]
async fn a_merge_lists_the_merged_ids_on_the_survivor() {
    let sandbox = start(roomy()).await;
    let api = Api::new(&sandbox, APP_TOKEN);
    let dated = spec("crm-contacts-2026-09.json");
    let contact = |email: &str| json!({"properties": {"email": email}});
    let ada = id(&api.post(V3_CONTACTS, contact("ada@example.test")).await);
    let bea = id(&api.post(V3_CONTACTS, contact("bea@example.test")).await);
    let cid = id(&api.post(V3_CONTACTS, contact("cid@example.test")).await);
    let dee = id(&api.post(V3_CONTACTS, contact("dee@example.test")).await);
    let merge = |primary: &str, loser: &str| {
        let api = api.clone();
        let body = json!({"primaryObjectId": primary, "objectIdToMerge": loser});
        async move { api.post("/crm/objects/2026-09/contacts/merge", body).await }
    };

    let first = merge(&ada, &bea).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_fits(
        &dated,
        "/crm/objects/2026-09/{objectType}/merge",
        "post",
        &first,
    );
    assert_eq!(first.body["id"], ada.as_str());
    assert_eq!(
        first.body["properties"]["hs_merged_object_ids"],
        bea.as_str()
    );

    // A contact that had merged others brings their ids along.
    let second = merge(&cid, &dee).await;
    assert_eq!(
        second.body["properties"]["hs_merged_object_ids"],
        dee.as_str()
    );
    let third = merge(&ada, &cid).await;
    assert_eq!(third.status, StatusCode::OK, "{}", third.body);
    let read = api
        .get(&format!(
            "{V3_CONTACTS}/{ada}?properties=hs_merged_object_ids,email"
        ))
        .await;
    assert_eq!(
        read.body["properties"]["hs_merged_object_ids"],
        format!("{bea};{dee};{cid}"),
        "{}",
        read.body
    );
    assert_eq!(read.body["properties"]["email"], "ada@example.test");

    // Companies have no such property in the sandbox: a merge of companies still works.
    let acme = new_company(&api, "Acme").await;
    let globex = new_company(&api, "Globex").await;
    let companies = api
        .post(
            &format!("{V3_COMPANIES}/merge"),
            json!({"primaryObjectId": acme, "objectIdToMerge": globex}),
        )
        .await;
    assert_eq!(companies.status, StatusCode::OK, "{}", companies.body);
    assert!(
        companies.body["properties"]
            .get("hs_merged_object_ids")
            .is_none()
    );
}
