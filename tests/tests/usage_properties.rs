//! Usage figures mapped to company properties as data (issue 22 item 3), through the API, real
//! Postgres, the daily usage push and the HubSpot sandbox over HTTP: read, changes refused with
//! the member at fault (checked against HubSpot's own property), and a stored change that the
//! next push follows.

mod sync_api_support;

use serde_json::{Value, json};
use sync_api_support::*;
use warp_hubspot::{FieldType, PropertyType};
use warp_sync::usage_push::UsagePush;
use warp_tests::*;

const PROPERTIES: &str = "/v1/usage/properties";

async fn put(app: &TestApp, figure: &str, body: &Value, token: &str) -> reqwest::Response {
    app.client
        .put(app.url(&format!("{PROPERTIES}/{figure}")))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn refused(app: &TestApp, figure: &str, body: Value, member: &str, detail_part: &str) {
    let problem = expect_problem(put(app, figure, &body, &admin()).await, 422).await;
    assert_eq!(problem_fields(&problem), [member], "{problem}");
    let message = problem["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains(detail_part), "{message}");
}

fn figure<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["figure"] == name)
        .unwrap_or_else(|| panic!("{name} in {list}"))
}

#[tokio::test]
async fn a_figure_mapped_to_another_property_is_written_there_at_the_next_push() {
    let s = spawn_sync_app().await;
    let app = &s.app;
    let list: Value = app.get(PROPERTIES).await.json().await.unwrap();
    assert_eq!(list["properties"].as_array().unwrap().len(), 5);
    let minutes = figure(&list, "mtd_minutes");
    assert_eq!(minutes["hubspot_property"], "warp_mtd_minutes");
    assert_eq!(
        (minutes["enabled"].as_bool(), minutes["source"].as_str()),
        (Some(true), Some("default"))
    );

    // Refused, each naming the member at fault; nothing stored.
    expect_problem(
        put(
            app,
            "mtd_hours",
            &json!({"hubspot_property": "x", "enabled": true}),
            &admin(),
        )
        .await,
        404,
    )
    .await;
    expect_problem(
        put(
            app,
            "mtd_minutes",
            &json!({"hubspot_property": "x", "enabled": true}),
            &editor(),
        )
        .await,
        403,
    )
    .await;
    refused(
        app,
        "mtd_minutes",
        json!({"hubspot_property": "acme_minutes"}),
        "enabled",
        "required",
    )
    .await;
    refused(
        app,
        "mtd_minutes",
        json!({"hubspot_property": "Acme Minutes", "enabled": true}),
        "hubspot_property",
        "internal property name",
    )
    .await;
    refused(
        app,
        "mtd_minutes",
        json!({"hubspot_property": "acme_minutes", "enabled": true}),
        "hubspot_property",
        "has no property",
    )
    .await;
    refused(
        app,
        "last_usage_date",
        json!({"hubspot_property": "warp_mtd_minutes", "enabled": true}),
        "hubspot_property",
        "cannot hold",
    )
    .await;
    refused(
        app,
        "mrr",
        json!({"hubspot_property": "warp_mtd_spend", "enabled": true}),
        "hubspot_property",
        "mapped to",
    )
    .await;
    assert_eq!(
        app.scalar("SELECT count(*) FROM usage_property_map WHERE portal_id <> 0")
            .await,
        0
    );

    // A linked customer's usage is pushed under the defaults.
    let worker = s.outbound_worker().await;
    let created = app
        .create(&json!({"company_name": "Minutes Telecom", "customer_type": "POSTPAID"}))
        .await;
    worker.process_due(10).await.unwrap();
    let customer = created["id"].as_str().unwrap();
    let company = app.customer(customer).await["external_ids"]["hubspot_company_id"]
        .as_str()
        .expect("linked")
        .to_owned();
    let today = chrono::Utc::now().date_naive();
    let day = json!({"days": [{"customer_id": customer, "date": today.to_string(), "calls_completed": 3,
                               "minutes": 321, "sms_sent": 0, "spend": "9.00"}]});
    let posted = app
        .client
        .post(app.url("/v1/usage"))
        .bearer_auth(editor())
        .json(&day)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    let push = UsagePush::new(app.database.clone(), s.hubspot.clone(), PORTAL);
    assert_eq!(push.run(today).await.unwrap().companies_written, 1);
    let names = "warp_mtd_minutes,acme_minutes,warp_mrr";
    let before = s.ui.properties("companies", &company, names).await;
    assert_eq!(before["warp_mtd_minutes"], "321");

    // Operations map the minutes to their own property and stop writing MRR.
    s.create_company_property(
        "acme_minutes",
        "Minutes this month",
        PropertyType::Number,
        FieldType::Number,
    )
    .await;
    let ops = token_for("ops-anna", &["admin"]);
    let body = json!({"hubspot_property": "acme_minutes", "enabled": true});
    let changed: Value = put(app, "mtd_minutes", &body, &ops)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(changed["changed"], true, "{changed}");
    assert_eq!(changed["companies_due"], 1);
    assert_eq!(changed["property"]["source"], "portal");
    assert_eq!(changed["property"]["updated_by"], "ops-anna");
    let again: Value = put(app, "mtd_minutes", &body, &ops)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (again["changed"].as_bool(), again["companies_due"].as_u64()),
        (Some(false), Some(0))
    );
    let off: Value = put(
        app,
        "mrr",
        &json!({"hubspot_property": "warp_mrr", "enabled": false}),
        &ops,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(off["property"]["enabled"], false);
    // A token subject carrying a NUL is stored as any outside text, never a 500.
    let odd = token_for("ops\u{0}bob", &["admin"]);
    let body = json!({"hubspot_property": "warp_payment_status", "enabled": false});
    let stored: Value = put(app, "payment_status", &body, &odd)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        stored["property"]["updated_by"], "ops\u{FFFD}bob",
        "{stored}"
    );
    let body = json!({"hubspot_property": "warp_payment_status", "enabled": true});
    let back = put(app, "payment_status", &body, &ops).await;
    assert_eq!(back.status(), 200);
    // Someone clears MRR in HubSpot: WARP no longer writes it.
    s.ui.update("companies", &company, json!({"warp_mrr": "7"}))
        .await;

    assert_eq!(
        push.run(today).await.unwrap().companies_written,
        1,
        "written again under the new map"
    );
    let after = s.ui.properties("companies", &company, names).await;
    assert_eq!(after["acme_minutes"], "321");
    assert_eq!(
        after["warp_mrr"], "7",
        "a figure switched off is not written"
    );
    let list: Value = app.get(PROPERTIES).await.json().await.unwrap();
    assert_eq!(
        figure(&list, "mtd_minutes")["hubspot_property"],
        "acme_minutes"
    );
    assert_eq!(figure(&list, "mrr")["enabled"], false);
}
