//! The daily usage push (issue 22 items 3-4) through the real parts: usage days and numbers in
//! Postgres, the push writing the company figures through the real client to the sandbox. Only
//! changed figures are written; a correction changes the month-to-date figure once; each run
//! is recorded with its counts.

use chrono::NaiveDate;
use hubspot_sandbox::SandboxConfig;
use serde_json::json;
use warp_domain::usage::usage_days_from_json;
use warp_hubspot::{HubSpotId, ReadOptions, RecordLookup};
use warp_store::CustomerStore;
use warp_store::usage::{self, UsageOutcome};
use warp_sync::usage_push::UsagePush;
use warp_testkit::{PORTAL, Sql, hubspot, records};

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 4).unwrap()
}

#[tokio::test]
async fn the_month_s_figures_reach_the_company_and_a_correction_changes_them_once() {
    let sandbox = hubspot::sandbox(SandboxConfig::default()).await;
    let database = warp_testkit::fresh_database().await;
    let home = hubspot::client_with_warp_properties(&sandbox, hubspot::settings(100, 10_000)).await;
    let store = CustomerStore::new(database.clone(), PORTAL);
    let (acme, company) = records::linked_customer(&store, &database, &home, "Acme").await;
    let (quiet, quiet_company) = records::linked_customer(&store, &database, &home, "Quiet").await;
    records::create_customer(&store, &records::customer_body("Unlinked")).await;
    database
        .execute(&format!(
            "UPDATE customers SET current_balance = 120.00, credit_limit = 100.00 WHERE id = '{acme}'"
        ))
        .await;
    database
        .execute(&format!(
            "INSERT INTO phone_numbers (id, customer_id, number, number_type, capabilities, monthly_cost, status) \
             VALUES (gen_random_uuid(), '{acme}', '+13035551000', 'local', '{{voice}}', 1.50, 'active'), \
                    (gen_random_uuid(), '{acme}', '+13035551001', 'local', '{{voice}}', 2.25, 'active')"
        ))
        .await;
    let days = |minutes: i64, spend: &str| {
        json!({"days": [
            {"customer_id": acme.to_string(), "date": "2026-11-30", "calls_completed": 1,
             "minutes": 999, "sms_sent": 0, "spend": "99.00"},
            {"customer_id": acme.to_string(), "date": "2026-12-01", "calls_completed": 10,
             "minutes": 500, "sms_sent": 5, "spend": "45.00"},
            {"customer_id": acme.to_string(), "date": "2026-12-02", "calls_completed": 10,
             "minutes": minutes, "sms_sent": 5, "spend": spend},
        ]})
    };
    let record = |body: serde_json::Value| {
        let database = database.clone();
        async move {
            let days = usage_days_from_json(&body, today()).unwrap();
            assert!(matches!(
                usage::record(&database, &days, None).await.unwrap(),
                UsageOutcome::Recorded(_)
            ));
        }
    };
    record(days(300, "30.00")).await;

    let push = UsagePush::new(database.clone(), home.clone(), PORTAL);
    let first = push.run(today()).await.unwrap();
    assert_eq!(first.customers_checked, 2, "linked customers only");
    assert_eq!((first.companies_written, first.failed), (2, 0));
    assert_eq!(first.requests, 1, "two companies, one batch");
    let read = |company: String| {
        let home = home.clone();
        async move {
            home.companies()
                .get(
                    &RecordLookup::Id(HubSpotId::parse(company).unwrap()),
                    &ReadOptions::properties([
                        "warp_mtd_minutes",
                        "warp_mtd_spend",
                        "warp_mrr",
                        "warp_payment_status",
                        "warp_last_usage_date",
                    ]),
                )
                .await
                .unwrap()
                .unwrap()
        }
    };
    let acme_company = read(company.clone()).await;
    assert_eq!(acme_company.property("warp_mtd_minutes"), Some("800"));
    assert_eq!(acme_company.property("warp_mtd_spend"), Some("75.00"));
    assert_eq!(acme_company.property("warp_mrr"), Some("3.75"));
    assert_eq!(
        acme_company.property("warp_payment_status"),
        Some("over_limit")
    );
    assert_eq!(
        acme_company.property("warp_last_usage_date"),
        Some("2026-12-02")
    );
    let quiet_company = read(quiet_company).await;
    assert_eq!(quiet_company.property("warp_mtd_minutes"), Some("0"));
    assert_eq!(quiet_company.property("warp_payment_status"), Some("paid"));

    // Nothing changed: nothing is written.
    let second = push.run(today()).await.unwrap();
    assert_eq!((second.companies_written, second.requests), (0, 0));

    // A correction of one day: the month moves by the difference, once.
    record(days(400, "40.00")).await;
    record(days(400, "40.00")).await;
    let third = push.run(today()).await.unwrap();
    assert_eq!(third.companies_written, 1);
    assert_eq!(
        read(company.clone()).await.property("warp_mtd_minutes"),
        Some("900")
    );
    assert_eq!(
        read(company).await.property("warp_mtd_spend"),
        Some("85.00")
    );

    let runs = usage::recent_runs(&database, 10).await.unwrap();
    let written: Vec<i64> = runs.iter().map(|r| r.companies_written).collect();
    assert_eq!(written, [1, 0, 2]);
    assert!(
        runs.iter()
            .all(|r| r.finished_at.is_some() && r.error.is_none())
    );
    let _ = quiet;
}

#[tokio::test]
async fn the_daily_note_records_each_day_of_the_week_before_once_per_customer() {
    let sandbox = hubspot::sandbox(SandboxConfig::default()).await;
    let database = warp_testkit::fresh_database().await;
    let home = hubspot::client_with_warp_properties(&sandbox, hubspot::settings(100, 10_000)).await;
    let store = CustomerStore::new(database.clone(), PORTAL);
    let (acme, _) = records::linked_customer(&store, &database, &home, "Acme").await;
    let days = usage_days_from_json(
        &json!({"days": [
            {"customer_id": acme.to_string(), "date": "2026-12-02", "calls_completed": 1,
             "minutes": 1, "sms_sent": 0, "spend": "1.00"},
            {"customer_id": acme.to_string(), "date": "2026-12-03", "calls_completed": 10000,
             "minutes": 50000, "sms_sent": 5000, "spend": "450.00"},
        ]}),
        today(),
    )
    .unwrap();
    usage::record(&database, &days, None).await.unwrap();
    let notes = "SELECT count(*) FROM account_events WHERE kind = 'daily_usage' \
                 AND details->>'date' = '2026-12-03' AND details->>'minutes' = '50000'";
    UsagePush::new(database.clone(), home.clone(), PORTAL)
        .run(today())
        .await
        .unwrap();
    assert_eq!(database.scalar(notes).await, 0, "off unless configured");
    let push = UsagePush::new(database.clone(), home, PORTAL).with_daily_note(true);
    push.run(today()).await.unwrap();
    push.run(today()).await.unwrap();
    assert_eq!(database.scalar(notes).await, 1, "the day before, once");
    assert_eq!(
        database
            .scalar("SELECT count(*) FROM account_events WHERE kind = 'daily_usage'")
            .await,
        2,
        "and an earlier day of the week that had none"
    );
}
