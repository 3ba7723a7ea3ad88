//! 200,000 companies: seeding stays fast, and reads, lists and indexed searches stay quick.

mod common;

use std::time::Instant;

use common::{APP_TOKEN, Api, create_warp_properties, roomy, start};
use hubspot_sandbox::PropertyValues;
use reqwest::StatusCode;
use serde_json::{Value, json};

const COUNT: usize = 200_000;

#[tokio::test]
async fn holds_two_hundred_thousand_companies() {
    let sandbox = start(roomy()).await;
    let api = Api::new(&sandbox, APP_TOKEN);
    create_warp_properties(&api).await;

    let started = Instant::now();
    // 1,000 through the real batch endpoint, the rest seeded directly.
    for batch in 0..10 {
        let inputs: Vec<Value> = (0..100)
            .map(|n| {
                let n = batch * 100 + n;
                json!({"properties": {"name": format!("Company {n}"), "warp_ban": format!("ZT-{n:09}"),
                       "warp_credit_limit": (n % 1000).to_string(), "domain": format!("c{n}.example.com")}})
            })
            .collect();
        let answer = api
            .post(
                "/crm/v3/objects/companies/batch/create",
                json!({"inputs": inputs}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED);
    }
    let http_elapsed = started.elapsed();
    let seeded = sandbox
        .seed_companies((1_000..COUNT).map(|n| {
            PropertyValues::from([
                ("name".to_owned(), format!("Company {n}")),
                ("warp_ban".to_owned(), format!("ZT-{n:09}")),
                ("warp_credit_limit".to_owned(), (n % 1000).to_string()),
                ("domain".to_owned(), format!("c{n}.example.com")),
            ])
        }))
        .unwrap();
    assert_eq!(seeded.len(), COUNT - 1_000);
    let total_elapsed = started.elapsed();
    println!(
        "created {COUNT} companies in {total_elapsed:?} (first 1,000 over HTTP in {http_elapsed:?})"
    );
    assert_eq!(sandbox.stats().companies, COUNT as u64);

    let timed = Instant::now();
    let by_ban = api
        .get("/crm/v3/objects/companies/ZT-000199999?idProperty=warp_ban")
        .await;
    assert_eq!(by_ban.status, StatusCode::OK);
    let indexed = api
        .post(
            "/crm/v3/objects/companies/search",
            json!({"filterGroups": [{"filters": [
            {"propertyName": "warp_ban", "operator": "EQ", "value": "ZT-000150000"}]}]}),
        )
        .await;
    assert_eq!(indexed.body["total"], 1);
    let page = api
        .get("/crm/v3/objects/companies?limit=100&after=30000150000")
        .await;
    assert_eq!(page.body["results"].as_array().unwrap().len(), 100);
    println!(
        "indexed read, search and list page took {:?}",
        timed.elapsed()
    );

    let scan = Instant::now();
    let scanned = api
        .post(
            "/crm/v3/objects/companies/search",
            json!({"filterGroups": [{"filters": [
            {"propertyName": "warp_credit_limit", "operator": "EQ", "value": "7"}]}], "limit": 1}),
        )
        .await;
    assert_eq!(scanned.body["total"], 200);
    println!(
        "full-scan search over {COUNT} companies took {:?}",
        scan.elapsed()
    );
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(peak) = status.lines().find(|line| line.starts_with("VmHWM"))
    {
        println!("peak memory of the test process: {peak}");
    }
    assert!(
        total_elapsed.as_secs() < 20,
        "seeding took {total_elapsed:?}"
    );
}
