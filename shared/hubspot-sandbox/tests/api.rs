//! Companies, properties, batch, search and merge over real HTTP, with answers checked against
//! HubSpot's OpenAPI response schemas.

mod common;

use common::{APP_TOKEN, Api, USER_TOKEN, assert_fits, create_warp_properties, roomy, spec, start};
use hubspot_sandbox::SandboxConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};

const COMPANIES: &str = "/crm/v3/objects/companies";

fn ban(n: usize) -> String {
    format!("ZT-{n:09}")
}

#[tokio::test]
async fn companies_answers_fit_hubspots_schemas() {
    let sandbox = start(roomy()).await;
    let api = Api::new(&sandbox, APP_TOKEN);
    let companies = spec("crm-companies-v3.json");
    let properties = spec("crm-properties-v3.json");
    create_warp_properties(&api).await;

    let created = api
        .post(COMPANIES, json!({"properties": {"name": "Acme", "domain": "acme.test", "warp_ban": "ZT-000000001"}}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_fits(&companies, "/crm/v3/objects/companies", "post", &created);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert!(id.parse::<u64>().is_ok());
    assert_eq!(created.body["properties"]["hs_object_id"], json!(id));

    let read = api
        .get(&format!(
            "{COMPANIES}/{id}?properties=name,warp_ban&propertiesWithHistory=name"
        ))
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_fits(
        &companies,
        "/crm/v3/objects/companies/{companyId}",
        "get",
        &read,
    );
    assert_eq!(read.body["properties"]["warp_ban"], "ZT-000000001");
    // A read naming properties also carries the ones HubSpot computes for every record.
    assert_eq!(read.body["properties"]["hs_object_id"], json!(id));
    assert!(
        read.body["properties"]["createdate"].is_string(),
        "{}",
        read.body
    );
    assert!(
        read.body["properties"]["hs_lastmodifieddate"].is_string(),
        "{}",
        read.body
    );
    assert_eq!(
        read.body["properties"].as_object().unwrap().len(),
        5,
        "{}",
        read.body
    );

    let patched = api
        .patch(
            &format!("{COMPANIES}/{id}"),
            json!({"properties": {"city": "Oslo"}}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK);
    assert_fits(
        &companies,
        "/crm/v3/objects/companies/{companyId}",
        "patch",
        &patched,
    );

    let listed = api
        .get(&format!("{COMPANIES}?limit=10&properties=name"))
        .await;
    assert_fits(&companies, "/crm/v3/objects/companies", "get", &listed);

    let upserted = api
        .post(
            &format!("{COMPANIES}/batch/upsert"),
            json!({"inputs": [{"id": "ZT-000000002", "idProperty": "warp_ban", "properties": {"name": "Beta"}}]}),
        )
        .await;
    assert_eq!(upserted.status, StatusCode::OK, "{}", upserted.body);
    assert_fits(
        &companies,
        "/crm/v3/objects/companies/batch/upsert",
        "post",
        &upserted,
    );

    let partial = api
        .post(
            &format!("{COMPANIES}/batch/upsert"),
            json!({"inputs": [
                {"id": "ZT-000000003", "idProperty": "warp_ban", "properties": {"name": "Gamma"}},
                {"id": "ZT-000000004", "idProperty": "warp_ban", "properties": {"warp_credit_limit": "lots"}}]}),
        )
        .await;
    assert_eq!(partial.status, StatusCode::MULTI_STATUS);
    assert_fits(
        &companies,
        "/crm/v3/objects/companies/batch/upsert",
        "post",
        &partial,
    );

    let batch_read = api
        .post(
            &format!("{COMPANIES}/batch/read"),
            json!({"inputs": [{"id": "ZT-000000001"}, {"id": "ZT-999"}], "idProperty": "warp_ban",
                   "properties": ["name"], "propertiesWithHistory": ["name"]}),
        )
        .await;
    assert_eq!(batch_read.status, StatusCode::MULTI_STATUS);
    assert_fits(
        &companies,
        "/crm/v3/objects/companies/batch/read",
        "post",
        &batch_read,
    );

    let searched = api
        .post(
            &format!("{COMPANIES}/search"),
            json!({"filterGroups": [], "properties": ["name"], "limit": 2}),
        )
        .await;
    assert_eq!(searched.status, StatusCode::OK);
    assert_fits(
        &companies,
        "/crm/v3/objects/companies/search",
        "post",
        &searched,
    );

    let beta_id = upserted.body["results"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let merged = api
        .post(
            &format!("{COMPANIES}/merge"),
            json!({"primaryObjectId": id, "objectIdToMerge": beta_id}),
        )
        .await;
    assert_eq!(merged.status, StatusCode::OK, "{}", merged.body);
    assert_fits(
        &companies,
        "/crm/v3/objects/companies/merge",
        "post",
        &merged,
    );

    let missing = api.get(&format!("{COMPANIES}/1")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_fits(
        &companies,
        "/crm/v3/objects/companies/{companyId}",
        "get",
        &missing,
    );

    let invalid = api
        .post(COMPANIES, json!({"properties": {"no_such_property": "x"}}))
        .await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    assert_fits(&companies, "/crm/v3/objects/companies", "post", &invalid);

    let listed_properties = api.get("/crm/v3/properties/companies").await;
    assert_fits(
        &properties,
        "/crm/v3/properties/{objectType}",
        "get",
        &listed_properties,
    );
    let one_property = api.get("/crm/v3/properties/companies/warp_ban").await;
    assert_eq!(one_property.body["hasUniqueValue"], true);
    assert_fits(
        &properties,
        "/crm/v3/properties/{objectType}/{propertyName}",
        "get",
        &one_property,
    );
    let groups = api.get("/crm/v3/properties/companies/groups").await;
    assert_fits(
        &properties,
        "/crm/v3/properties/{objectType}/groups",
        "get",
        &groups,
    );
    let duplicate = api
        .post("/crm/v3/properties/companies", json!({"name": "warp_ban", "label": "x", "type": "string", "fieldType": "text", "groupName": "warp"}))
        .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    assert_fits(
        &properties,
        "/crm/v3/properties/{objectType}",
        "post",
        &duplicate,
    );
}

#[tokio::test]
async fn errors_use_hubspots_body_for_auth_and_unknown_routes() {
    let sandbox = start(roomy()).await;
    let mut anonymous = Api::new(&sandbox, APP_TOKEN);
    anonymous.token = None;
    let missing = anonymous.get(COMPANIES).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.body["status"], "error");
    assert_eq!(missing.body["category"], "INVALID_AUTHENTICATION");
    let correlation = missing.body["correlationId"].as_str().unwrap();
    assert!(uuid_like(correlation), "{correlation}");

    let wrong = Api::new(&sandbox, "pat-na1-wrong").get(COMPANIES).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);

    let user = Api::new(&sandbox, USER_TOKEN).get(COMPANIES).await;
    assert_eq!(user.status, StatusCode::OK);

    // An object type HubSpot does not know is HubSpot's 400; a path it does not serve, a 404.
    let app = Api::new(&sandbox, APP_TOKEN);
    for path in ["/crm/v3/objects/widgets/1", "/crm/objects/2026-09/widgets"] {
        let widgets = app.get(path).await;
        assert_eq!(widgets.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(
            widgets.body["message"], "Unable to infer object type from: widgets",
            "{path}"
        );
    }
    let unknown = app.get("/crm/v3/nothing/1").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body["status"], "error");
    assert!(unknown.body["correlationId"].is_string());
    assert!(unknown.body["message"].is_string());

    // The token is checked before the path: a route the sandbox lacks answers 401 without one.
    for path in ["/crm/v3/objects/widgets/1", "/crm/v4/nothing-here"] {
        let anonymous_unknown = anonymous.get(path).await;
        assert_eq!(anonymous_unknown.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(anonymous_unknown.body["category"], "INVALID_AUTHENTICATION");
        let wrong_unknown = Api::new(&sandbox, "pat-na1-wrong").get(path).await;
        assert_eq!(wrong_unknown.status, StatusCode::UNAUTHORIZED, "{path}");
    }
}

fn uuid_like(text: &str) -> bool {
    text.len() == 36 && text.chars().filter(|c| *c == '-').count() == 4
}

#[tokio::test]
async fn upsert_by_unique_property_creates_then_updates() {
    let sandbox = start(roomy()).await;
    let api = Api::new(&sandbox, APP_TOKEN);
    create_warp_properties(&api).await;
    let run = |api: Api| async move {
        let mut results = Vec::new();
        for chunk in (0..250).collect::<Vec<_>>().chunks(100) {
            let inputs: Vec<Value> = chunk
                .iter()
                .map(|n| json!({"id": ban(*n), "idProperty": "warp_ban", "properties": {"name": format!("Company {n}")}}))
                .collect();
            let answer = api
                .post(
                    &format!("{COMPANIES}/batch/upsert"),
                    json!({"inputs": inputs}),
                )
                .await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
            results.extend(answer.body["results"].as_array().unwrap().clone());
        }
        results
    };
    let first = run(api.clone()).await;
    assert_eq!(first.len(), 250);
    assert!(first.iter().all(|r| r["new"] == true));
    let second = run(api.clone()).await;
    assert_eq!(second.len(), 250);
    assert!(second.iter().all(|r| r["new"] == false));
    let first_ids: std::collections::BTreeSet<&str> =
        first.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let second_ids: std::collections::BTreeSet<&str> =
        second.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(first_ids, second_ids);
    let stats = sandbox.stats();
    assert_eq!(stats.companies, 250);
    assert_eq!(
        stats.requests_by_route["POST /crm/v3/objects/companies/batch/upsert"],
        6
    );

    // More than 100 inputs: the whole call is refused.
    let too_many: Vec<Value> = (0..101)
        .map(|n| json!({"id": ban(n), "idProperty": "warp_ban", "properties": {}}))
        .collect();
    let refused = api
        .post(
            &format!("{COMPANIES}/batch/upsert"),
            json!({"inputs": too_many}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.body["category"], "VALIDATION_ERROR");

    // One bad value among 100: 207 naming exactly that input, the other 99 applied.
    let inputs: Vec<Value> = (1000..1100)
        .map(|n| {
            let limit = if n == 1042 { "not-a-number".to_owned() } else { n.to_string() };
            json!({"id": ban(n), "idProperty": "warp_ban", "properties": {"warp_credit_limit": limit}})
        })
        .collect();
    let partial = api
        .post(
            &format!("{COMPANIES}/batch/upsert"),
            json!({"inputs": inputs}),
        )
        .await;
    assert_eq!(partial.status, StatusCode::MULTI_STATUS, "{}", partial.body);
    assert_eq!(partial.body["results"].as_array().unwrap().len(), 99);
    let errors = partial.body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["category"], "VALIDATION_ERROR");
    assert_eq!(errors[0]["status"], "400");
    assert_eq!(errors[0]["context"]["ids"], json!([ban(1042)]));
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("warp_credit_limit")
    );
    assert_eq!(sandbox.stats().companies, 349);
}

#[tokio::test]
async fn writes_validate_names_types_and_unique_values() {
    let sandbox = start(roomy()).await;
    let api = Api::new(&sandbox, APP_TOKEN);
    create_warp_properties(&api).await;

    let unknown = api
        .post(
            COMPANIES,
            json!({"properties": {"name": "A", "warp_colour": "red"}}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.body["category"], "VALIDATION_ERROR");
    let message = unknown.body["message"].as_str().unwrap();
    assert!(
        message.starts_with("Property values were not valid"),
        "{message}"
    );
    assert!(message.contains("warp_colour"));

    let bad_option = api
        .post(COMPANIES, json!({"properties": {"warp_status": "GONE"}}))
        .await;
    assert_eq!(bad_option.status, StatusCode::BAD_REQUEST);
    let good = api
        .post(COMPANIES, json!({"properties": {"name": "A", "warp_status": "ACTIVE", "warp_ban": "ZT-1", "warp_credit_limit": 10.5}}))
        .await;
    assert_eq!(good.status, StatusCode::CREATED, "{}", good.body);
    assert_eq!(good.body["properties"]["warp_credit_limit"], "10.5");
    let id = good.body["id"].as_str().unwrap().to_owned();

    let conflict = api
        .post(
            COMPANIES,
            json!({"properties": {"name": "B", "warp_ban": "ZT-1"}}),
        )
        .await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    assert_eq!(conflict.body["category"], "CONFLICT");

    // idProperty addressing, and an empty string clears.
    let by_ban = api
        .patch(
            &format!("{COMPANIES}/ZT-1?idProperty=warp_ban"),
            json!({"properties": {"domain": "a.test"}}),
        )
        .await;
    assert_eq!(by_ban.status, StatusCode::OK);
    assert_eq!(by_ban.body["id"], json!(id));
    let cleared = api
        .patch(
            &format!("{COMPANIES}/{id}"),
            json!({"properties": {"domain": ""}}),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::OK);
    let read = api
        .get(&format!("{COMPANIES}/ZT-1?idProperty=warp_ban&properties=domain,name&propertiesWithHistory=domain"))
        .await;
    assert!(
        read.body["properties"].get("domain").is_none(),
        "{}",
        read.body
    );
    let history = read.body["propertiesWithHistory"]["domain"]
        .as_array()
        .unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["value"], "");
    assert_eq!(history[1]["value"], "a.test");
    assert_eq!(history[1]["sourceType"], "INTEGRATION");

    // Archive, then archived reads, conflict on the same unique value, restore.
    assert_eq!(
        api.delete(&format!("{COMPANIES}/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.get(&format!("{COMPANIES}/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    let archived = api.get(&format!("{COMPANIES}/{id}?archived=true")).await;
    assert_eq!(archived.body["archived"], true);
    let again = api
        .post(COMPANIES, json!({"properties": {"warp_ban": "ZT-1"}}))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let restored = api
        .post(&format!("/_sandbox/companies/{id}/restore"), json!({}))
        .await;
    assert_eq!(restored.status, StatusCode::OK);
    assert_eq!(
        api.get(&format!("{COMPANIES}/{id}")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn list_pages_with_cursor() {
    let sandbox = start(roomy()).await;
    let api = Api::new(&sandbox, APP_TOKEN);
    let inputs: Vec<Value> = (0..25)
        .map(|n| json!({"properties": {"name": format!("C{n}")}}))
        .collect();
    let created = api
        .post(
            &format!("{COMPANIES}/batch/create"),
            json!({"inputs": inputs}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(after) => format!("{COMPANIES}?limit=10&after={after}"),
            None => format!("{COMPANIES}?limit=10"),
        };
        let page = api.get(&path).await;
        for company in page.body["results"].as_array().unwrap() {
            seen.push(company["properties"]["name"].as_str().unwrap().to_owned());
        }
        match page.body["paging"]["next"]["after"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25).map(|n| format!("C{n}")).collect();
    assert_eq!(seen, expected);
    assert_eq!(
        api.get(&format!("{COMPANIES}?limit=101")).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn search_filters_sorts_and_queries() {
    let sandbox = start(roomy()).await;
    let api = Api::new(&sandbox, APP_TOKEN);
    create_warp_properties(&api).await;
    let inputs: Vec<Value> = (0..30)
        .map(|n| {
            json!({"properties": {
            "name": format!("Company {n}"), "domain": format!("c{n}.example.com"),
            "warp_credit_limit": (n * 100).to_string(), "warp_ban": ban(n),
            "warp_status": if n % 3 == 0 { "SUSPENDED" } else { "ACTIVE" }}})
        })
        .collect();
    assert_eq!(
        api.post(
            &format!("{COMPANIES}/batch/create"),
            json!({"inputs": inputs})
        )
        .await
        .status,
        StatusCode::CREATED
    );
    let search = |body: Value| {
        let api = api.clone();
        async move { api.post(&format!("{COMPANIES}/search"), body).await }
    };
    let numeric = search(json!({
        "filterGroups": [{"filters": [
            {"propertyName": "warp_credit_limit", "operator": "GTE", "value": "1000"},
            {"propertyName": "warp_status", "operator": "EQ", "value": "ACTIVE"}]}],
        "sorts": [{"propertyName": "warp_credit_limit", "direction": "DESCENDING"}],
        "properties": ["warp_credit_limit"], "limit": 100}))
    .await;
    assert_eq!(numeric.status, StatusCode::OK, "{}", numeric.body);
    let limits: Vec<i64> = numeric.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["properties"]["warp_credit_limit"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    let expected: Vec<i64> = (10..30)
        .rev()
        .filter(|n| n % 3 != 0)
        .map(|n| n * 100)
        .collect();
    assert_eq!(limits, expected);
    assert_eq!(numeric.body["total"], expected.len());

    let either = search(json!({"filterGroups": [
        {"filters": [{"propertyName": "warp_ban", "operator": "EQ", "value": ban(4)}]},
        {"filters": [{"propertyName": "warp_ban", "operator": "IN", "values": [ban(5), ban(6)]}]}]})).await;
    assert_eq!(either.body["total"], 3);

    let between = search(json!({"filterGroups": [{"filters": [
        {"propertyName": "warp_credit_limit", "operator": "BETWEEN", "value": "200", "highValue": "400"}]}]})).await;
    assert_eq!(between.body["total"], 3);

    let query = search(json!({"query": "c17.example"})).await;
    assert_eq!(query.body["total"], 1);
    assert_eq!(query.body["results"][0]["properties"]["name"], "Company 17");

    let token = search(json!({"filterGroups": [{"filters": [
        {"propertyName": "name", "operator": "CONTAINS_TOKEN", "value": "21"}]}]}))
    .await;
    assert_eq!(token.body["total"], 1);

    let missing = search(json!({"filterGroups": [{"filters": [
        {"propertyName": "city", "operator": "NOT_HAS_PROPERTY"},
        {"propertyName": "warp_status", "operator": "NOT_IN", "values": ["ACTIVE"]}]}]}))
    .await;
    assert_eq!(missing.body["total"], 10);

    let unknown = search(json!({"filterGroups": [{"filters": [
        {"propertyName": "nope", "operator": "EQ", "value": "1"}]}]}))
    .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(search(json!({"limit": 201})).await.status == StatusCode::BAD_REQUEST);
    // Search answers carry no rate-limit headers; other answers do.
    assert!(numeric.headers.get("x-hubspot-ratelimit-max").is_none());
    assert!(
        api.get(COMPANIES)
            .await
            .headers
            .get("x-hubspot-ratelimit-max")
            .is_some()
    );
}

#[tokio::test]
async fn search_cannot_page_past_ten_thousand_results() {
    let sandbox = start(roomy()).await;
    let api = Api::new(&sandbox, APP_TOKEN);
    let seeded = sandbox
        .seed_companies(
            (0..10_050).map(|n| [("name".to_owned(), format!("S{n}"))].into_iter().collect()),
        )
        .unwrap();
    assert_eq!(seeded.len(), 10_050);
    let near_end = api
        .post(
            &format!("{COMPANIES}/search"),
            json!({"limit": 200, "after": "9800"}),
        )
        .await;
    assert_eq!(near_end.status, StatusCode::OK);
    assert_eq!(near_end.body["total"], 10_050);
    assert_eq!(near_end.body["paging"]["next"]["after"], "10000");
    let past = api
        .post(
            &format!("{COMPANIES}/search"),
            json!({"limit": 100, "after": "10000"}),
        )
        .await;
    assert_eq!(past.status, StatusCode::BAD_REQUEST);
    assert_eq!(past.body["category"], "VALIDATION_ERROR");
}

#[tokio::test]
async fn search_index_lags_writes_by_the_configured_delay() {
    let sandbox = start(SandboxConfig {
        search_index_delay_ms: 400,
        ..roomy()
    })
    .await;
    let api = Api::new(&sandbox, APP_TOKEN);
    let created = api
        .post(COMPANIES, json!({"properties": {"name": "Fresh Ltd"}}))
        .await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let body = json!({"filterGroups": [{"filters": [{"propertyName": "name", "operator": "EQ", "value": "Fresh Ltd"}]}]});
    let hidden = api.post(&format!("{COMPANIES}/search"), body.clone()).await;
    assert_eq!(
        hidden.body["total"], 0,
        "a fresh write must not be searchable yet"
    );
    // Direct reads are consistent at once.
    assert_eq!(
        api.get(&format!("{COMPANIES}/{id}")).await.status,
        StatusCode::OK
    );
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let visible = api.post(&format!("{COMPANIES}/search"), body).await;
    assert_eq!(visible.body["total"], 1);

    // An update is seen with the old value until the index catches up.
    api.patch(
        &format!("{COMPANIES}/{id}"),
        json!({"properties": {"name": "Renamed Ltd"}}),
    )
    .await;
    let stale = api
        .post(
            &format!("{COMPANIES}/search"),
            json!({"properties": ["name"]}),
        )
        .await;
    assert_eq!(stale.body["results"][0]["properties"]["name"], "Fresh Ltd");
}

#[tokio::test]
async fn merge_keeps_primary_values_and_fills_gaps() {
    let sandbox = start(roomy()).await;
    let api = Api::new(&sandbox, APP_TOKEN);
    let primary = api
        .post(
            COMPANIES,
            json!({"properties": {"name": "Primary", "city": "Oslo"}}),
        )
        .await;
    let loser = api
        .post(
            COMPANIES,
            json!({"properties": {"name": "Loser", "city": "Bergen", "phone": "+4712345678"}}),
        )
        .await;
    let primary_id = primary.body["id"].as_str().unwrap();
    let loser_id = loser.body["id"].as_str().unwrap();
    let merged = api
        .post(
            &format!("{COMPANIES}/merge"),
            json!({"primaryObjectId": primary_id, "objectIdToMerge": loser_id}),
        )
        .await;
    assert_eq!(merged.status, StatusCode::OK);
    assert_eq!(merged.body["id"], primary_id);
    assert_eq!(merged.body["properties"]["name"], "Primary");
    assert_eq!(merged.body["properties"]["city"], "Oslo");
    assert_eq!(merged.body["properties"]["phone"], "+4712345678");
    assert_eq!(
        api.get(&format!("{COMPANIES}/{loser_id}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(sandbox.stats().companies, 1);
    assert_eq!(sandbox.stats().companies_archived, 1);
}

#[tokio::test]
async fn properties_and_groups_lifecycle() {
    let sandbox = start(roomy()).await;
    let api = Api::new(&sandbox, APP_TOKEN);
    create_warp_properties(&api).await;
    let dup_group = api
        .post(
            "/crm/v3/properties/companies/groups",
            json!({"name": "warp", "label": "again"}),
        )
        .await;
    assert_eq!(dup_group.status, StatusCode::CONFLICT);
    assert_eq!(dup_group.body["status"], "error");
    let patched = api
        .patch(
            "/crm/v3/properties/companies/warp_status",
            json!({"label": "Account status"}),
        )
        .await;
    assert_eq!(patched.body["label"], "Account status");
    let unique_change = api
        .patch(
            "/crm/v3/properties/companies/warp_status",
            json!({"hasUniqueValue": true}),
        )
        .await;
    assert_eq!(unique_change.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        api.delete("/crm/v3/properties/companies/name").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        api.delete("/crm/v3/properties/companies/warp_status")
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.get("/crm/v3/properties/companies/warp_status")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let write = api
        .post(COMPANIES, json!({"properties": {"warp_status": "ACTIVE"}}))
        .await;
    assert_eq!(write.status, StatusCode::BAD_REQUEST);

    // Reset: back to built-in properties only.
    assert_eq!(
        api.post("/_sandbox/reset", json!({})).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.get("/crm/v3/properties/companies/warp_ban")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.get("/crm/v3/properties/companies/name").await.status,
        StatusCode::OK
    );
}

#[test]
fn schema_checker_rejects_wrong_shapes() {
    let companies = spec("crm-companies-v3.json");
    let schema = common::response_schema(&companies, "/crm/v3/objects/companies", "post", 201);
    let wrong =
        json!({"id": 5, "properties": {"name": null}, "createdAt": "yesterday", "archived": false});
    let errors = common::schema_errors(&companies, &schema, &wrong, "$");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("missing required field updatedAt")),
        "{errors:?}"
    );
    assert!(errors.iter().any(|e| e.contains("$.id")), "{errors:?}");
    assert!(
        errors.iter().any(|e| e.contains("$.properties.name")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("$.createdAt")),
        "{errors:?}"
    );
}

#[tokio::test]
async fn portal_validation_rules_refuse_dated_writes_only() {
    let sandbox = start(roomy()).await;
    let api = Api::new(&sandbox, APP_TOKEN);
    create_warp_properties(&api).await;
    let unknown = api
        .call(
            reqwest::Method::PUT,
            "/_sandbox/validation-rules/companies",
            Some(json!({"required": ["no_such_property"]})),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let set = api
        .call(
            reqwest::Method::PUT,
            "/_sandbox/validation-rules/companies",
            Some(json!({"required": ["industry"]})),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(
        api.get("/_sandbox/validation-rules/companies").await.body["required"],
        json!(["industry"])
    );

    let dated = "/crm/objects/2026-09/companies";
    let refused = api
        .post(dated, json!({"properties": {"name": "No industry"}}))
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert_eq!(refused.body["category"], "VALIDATION_ERROR");
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap()
            .contains("industry")
    );
    let batch = api
        .post(
            &format!("{dated}/batch/upsert"),
            json!({"inputs": [
                {"id": ban(1), "idProperty": "warp_ban", "properties": {"name": "Bare"}},
                {"id": ban(2), "idProperty": "warp_ban", "properties": {"name": "Full", "industry": "Telecom"}},
            ]}),
        )
        .await;
    assert_eq!(batch.status, StatusCode::MULTI_STATUS, "{}", batch.body);
    assert_eq!(batch.body["results"].as_array().unwrap().len(), 1);
    assert_eq!(batch.body["errors"][0]["category"], "VALIDATION_ERROR");
    assert_eq!(batch.body["errors"][0]["context"]["ids"], json!([ban(1)]));
    // Clearing a required property is refused too; v3 does not enforce the rules.
    let id = batch.body["results"][0]["id"].as_str().unwrap().to_owned();
    let cleared = api
        .patch(
            &format!("{dated}/{id}"),
            json!({"properties": {"industry": ""}}),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::BAD_REQUEST);
    let v3 = api
        .post(COMPANIES, json!({"properties": {"name": "Old path"}}))
        .await;
    assert_eq!(v3.status, StatusCode::CREATED, "{}", v3.body);
}
