//! Deals and deal pipelines on HubSpot's dated (2026-09) and v3 paths: answers checked against
//! HubSpot's OpenAPI schemas, stages checked against their pipeline, the stage's probability
//! computed, and a deal's one primary company.

mod common;

use common::{APP_TOKEN, Api, USER_TOKEN, assert_fits, roomy, spec, start};
use reqwest::StatusCode;
use serde_json::json;

const DATED: &str = "/crm/objects/2026-09/deals";
const GENERIC: &str = "/crm/objects/2026-09/{objectType}";
const PIPELINES: &str = "/crm/pipelines/2026-09/deals";
const PIPELINES_GENERIC: &str = "/crm/pipelines/2026-09/{objectType}";

#[tokio::test]
async fn deals_fit_hubspots_schemas_and_follow_their_pipeline() {
    let sandbox = start(roomy()).await;
    let api = Api::new(&sandbox, APP_TOKEN);
    let deals = spec("crm-deals-2026-09.json");

    let created = api
        .post(
            DATED,
            json!({"properties": {"dealname": "Rollout", "amount": "1500.50", "dealstage": "contractsent"}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_fits(&deals, GENERIC, "post", &created);
    let id = created.body["id"].as_str().unwrap().to_owned();

    let read = api
        .get(&format!(
            "{DATED}/{id}?properties=pipeline,dealstage,hs_deal_stage_probability,hs_is_closed_won,amount"
        ))
        .await;
    assert_fits(&deals, &format!("{GENERIC}/{{objectId}}"), "get", &read);
    let properties = &read.body["properties"];
    assert_eq!(
        properties["pipeline"], "default",
        "the default pipeline when none is named"
    );
    assert_eq!(properties["hs_deal_stage_probability"], "0.9");
    assert_eq!(properties["hs_is_closed_won"], "false");
    assert_eq!(properties["amount"], "1500.50");

    let won = api
        .patch(
            &format!("{DATED}/{id}"),
            json!({"properties": {"dealstage": "closedwon"}}),
        )
        .await;
    assert_eq!(won.status, StatusCode::OK, "{}", won.body);
    let read = api
        .get(&format!(
            "{DATED}/{id}?properties=hs_deal_stage_probability,hs_is_closed_won"
        ))
        .await;
    assert_eq!(read.body["properties"]["hs_is_closed_won"], "true");
    assert_eq!(read.body["properties"]["hs_deal_stage_probability"], "1");

    // A stage of no pipeline, or of another pipeline, is HubSpot's 400 naming the property.
    let refused = api
        .patch(
            &format!("{DATED}/{id}"),
            json!({"properties": {"dealstage": "nosuchstage"}}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert_eq!(refused.body["category"], "VALIDATION_ERROR");
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap()
            .contains("dealstage")
    );
    // The calculated properties are HubSpot's, not a client's.
    let read_only = api
        .patch(
            &format!("{DATED}/{id}"),
            json!({"properties": {"hs_is_closed_won": "false"}}),
        )
        .await;
    assert_eq!(
        read_only.status,
        StatusCode::BAD_REQUEST,
        "{}",
        read_only.body
    );
}

#[tokio::test]
async fn pipelines_fit_hubspots_schemas_and_new_ones_get_ids() {
    let sandbox = start(roomy()).await;
    let api = Api::new(&sandbox, USER_TOKEN);
    let pipelines = spec("crm-pipelines-2026-09.json");

    let listed = api.get(PIPELINES).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_fits(&pipelines, PIPELINES_GENERIC, "get", &listed);
    let default = &listed.body["results"][0];
    assert_eq!(default["id"], "default");
    let won: Vec<&str> = default["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["metadata"]["isClosed"] == "true" && s["metadata"]["probability"] == "1.0")
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(won, ["closedwon"]);

    let created = api
        .post(
            PIPELINES,
            json!({"label": "Partners", "displayOrder": 2, "stages": [
                {"label": "Open", "displayOrder": 0, "metadata": {"isClosed": "false", "probability": "0.5"}},
                {"label": "Signed", "displayOrder": 1, "metadata": {"isClosed": "true", "probability": "1.0"}}]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_fits(&pipelines, PIPELINES_GENERIC, "post", &created);
    let pipeline_id = created.body["id"].as_str().unwrap().to_owned();
    let one = api.get(&format!("{PIPELINES}/{pipeline_id}")).await;
    assert_fits(
        &pipelines,
        &format!("{PIPELINES_GENERIC}/{{pipelineId}}"),
        "get",
        &one,
    );
    let stages = api.get(&format!("{PIPELINES}/{pipeline_id}/stages")).await;
    assert_fits(
        &pipelines,
        &format!("{PIPELINES_GENERIC}/{{pipelineId}}/stages"),
        "get",
        &stages,
    );
    assert_eq!(stages.body["results"].as_array().unwrap().len(), 2);
    // v3 serves the same pipelines.
    let v3 = api.get("/crm/v3/pipelines/deals").await;
    assert_eq!(v3.body["results"].as_array().unwrap().len(), 2);

    // A stage without isClosed, an unknown pipeline and an object type without pipelines.
    let bad = api
        .post(
            PIPELINES,
            json!({"label": "Bad", "stages": [{"label": "Odd", "metadata": {"probability": "0.5"}}]}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert_eq!(
        api.get(&format!("{PIPELINES}/999")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.get("/crm/pipelines/2026-09/companies").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn a_deal_has_one_primary_company_announced_from_the_deals_side() {
    let sandbox = start(roomy()).await;
    let api = Api::new(&sandbox, USER_TOKEN);
    let company = |name: &'static str| {
        let api = &api;
        async move {
            let created = api
                .post(
                    "/crm/v3/objects/companies",
                    json!({"properties": {"name": name}}),
                )
                .await;
            created.body["id"].as_str().unwrap().to_owned()
        }
    };
    let (acme, globex) = (company("Acme").await, company("Globex").await);
    let deal = api
        .post(DATED, json!({"properties": {"dealname": "Two companies"}}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for company in [&acme, &globex] {
        let answer = api
            .call(
                reqwest::Method::PUT,
                &format!("/crm/v4/objects/deals/{deal}/associations/companies/{company}"),
                Some(json!([{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 5}])),
            )
            .await;
        assert!(answer.status.is_success(), "{}", answer.body);
        assert_eq!(answer.body["labels"], json!(["Primary"]));
    }
    let listed = api
        .get(&format!(
            "/crm/v4/objects/deals/{deal}/associations/companies"
        ))
        .await;
    let primary: Vec<String> = listed.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|to| {
            to["associationTypes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["typeId"] == 5)
        })
        .map(|to| to["toObjectId"].to_string().trim_matches('"').to_owned())
        .collect();
    assert_eq!(primary, vec![globex], "{}", listed.body);
}
