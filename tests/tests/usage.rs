//! Daily usage through the router and real Postgres (issue 22 item 3): a batch stored whole
//! or not at all, a day sent again changing nothing, a correction changing the month-to-date
//! figures once, every fault named by its path, and who may send and read.

use chrono::Datelike;
use serde_json::{Value, json};
use warp_tests::*;

fn platform() -> String {
    token_for("billing-platform", &["ingest"])
}

async fn post_usage(app: &TestApp, token: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/v1/usage"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

fn day(customer: &str, date: &str, minutes: i64, spend: &str) -> Value {
    json!({"customer_id": customer, "date": date, "calls_completed": 10, "minutes": minutes,
           "sms_sent": 5, "spend": spend, "asr": 0.65, "acd": 4.5})
}

async fn month(app: &TestApp, customer: &str, month: &str) -> Value {
    ok(app
        .get(&format!("/v1/customers/{customer}/usage?month={month}"))
        .await)
    .await
}

#[tokio::test]
async fn a_correction_changes_the_month_to_date_once_and_a_repeat_changes_nothing() {
    let app = spawn_app().await;
    let acme = app.create(&acme()).await["id"].as_str().unwrap().to_owned();
    let first = json!({"days": [
        day(&acme, "2026-11-30", 9999, "999.00"),
        day(&acme, "2026-12-01", 50000, "450.00"),
        day(&acme, "2026-12-02", 40000, "300.50"),
    ]});
    let recorded = ok(post_usage(&app, &platform(), &first).await).await;
    assert_eq!(
        recorded,
        json!({"received": 3, "created": 3, "corrected": 0, "unchanged": 0, "alerts_raised": 0})
    );
    let december = month(&app, &acme, "2026-12").await;
    assert_eq!(december["minutes"], 90000);
    assert_eq!(december["spend"], "750.50");
    assert_eq!(december["days_reported"], 2);
    assert_eq!(december["last_usage_date"], "2026-12-02");
    assert_eq!(december["days"][0]["asr"], 0.65);

    // The same batch again: nothing changes.
    let again = ok(post_usage(&app, &platform(), &first).await).await;
    assert_eq!(again["unchanged"], 3);
    assert_eq!(month(&app, &acme, "2026-12").await, december);

    // A correction of one day replaces it: the month moves by the difference, once.
    let correction = json!({"days": [day(&acme, "2026-12-02", 41000, "310.50")]});
    let corrected = ok(post_usage(&app, &platform(), &correction).await).await;
    assert_eq!(corrected["corrected"], 1);
    ok(post_usage(&app, &platform(), &correction).await).await;
    let after = month(&app, &acme, "2026-12").await;
    assert_eq!(after["minutes"], 91000);
    assert_eq!(after["spend"], "760.50");
    assert_eq!(
        app.scalar("SELECT revision::int8 FROM usage_daily WHERE day = '2026-12-02'")
            .await,
        1
    );
    assert_eq!(month(&app, &acme, "2026-11").await["minutes"], 9999);
}

#[tokio::test]
async fn a_batch_with_any_fault_stores_nothing_and_names_each_fault() {
    let app = spawn_app().await;
    let acme = app.create(&acme()).await["id"].as_str().unwrap().to_owned();
    let nobody = uuid::Uuid::now_v7().to_string();
    let batch = json!({"days": [
        day(&acme, "2026-12-01", 1, "1.00"),
        day(&nobody, "2026-12-01", 1, "1.00"),
    ]});
    let problem = expect_problem(post_usage(&app, &platform(), &batch).await, 422).await;
    assert_eq!(problem_fields(&problem), ["days[1].customer_id"]);
    let invalid = json!({"days": [
        {"customer_id": acme, "date": "2026-13-01", "calls_completed": -1, "minutes": 1,
         "sms_sent": 1, "spend": "1.001"},
        day(&acme, "2026-12-01", 1, "1.00"),
        day(&acme, "2026-12-01", 2, "2.00"),
    ]});
    let problem = expect_problem(post_usage(&app, &platform(), &invalid).await, 422).await;
    assert_eq!(
        problem_fields(&problem),
        [
            "days[0].calls_completed",
            "days[0].date",
            "days[0].spend",
            "days[2]"
        ]
    );
    assert_eq!(app.scalar("SELECT count(*) FROM usage_daily").await, 0);
}

#[tokio::test]
async fn the_platform_or_an_editor_sends_and_readers_read() {
    let app = spawn_app().await;
    let acme = app.create(&acme()).await["id"].as_str().unwrap().to_owned();
    let globex = app
        .create(&json!({"company_name": "Globex", "customer_type": "PREPAID"}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let batch = json!({"days": [day(&acme, "2026-12-01", 1, "1.00")]});
    expect_problem(post_usage(&app, &viewer(), &batch).await, 403).await;
    ok(post_usage(&app, &editor(), &batch).await).await;
    let own = scoped_token(&acme, &["viewer"]);
    let read = app
        .client
        .get(app.url(&format!("/v1/customers/{acme}/usage?month=2026-12")))
        .bearer_auth(&own)
        .send()
        .await
        .unwrap();
    assert_eq!(ok(read).await["minutes"], 1);
    let other = app
        .client
        .get(app.url(&format!("/v1/customers/{globex}/usage")))
        .bearer_auth(&own)
        .send()
        .await
        .unwrap();
    expect_problem(other, 403).await;
    let bad = app
        .get(&format!("/v1/customers/{acme}/usage?month=2026-1&x=1"))
        .await;
    assert_eq!(
        problem_fields(&expect_problem(bad, 422).await),
        ["month", "x"]
    );
    let unknown = uuid::Uuid::now_v7();
    expect_problem(
        app.get(&format!("/v1/customers/{unknown}/usage")).await,
        404,
    )
    .await;
}

#[tokio::test]
async fn each_usage_push_is_listed_with_its_counts_and_duration() {
    let app = spawn_app().await;
    app.execute(
        "INSERT INTO usage_push_runs (started_at, finished_at, month, customers_checked, \
           companies_written, requests) \
         VALUES (now() - interval '90 seconds', now() - interval '30 seconds', '2026-11-01', 100000, 100000, 1000), \
                (now() - interval '5 seconds', NULL, '2026-12-01', 0, 0, 0)",
    )
    .await;
    let runs = ok(app.get("/v1/usage/pushes").await).await;
    let items = runs["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["month"], "2026-12");
    assert_eq!(items[0]["finished_at"], Value::Null, "still running");
    assert_eq!(items[1]["companies_written"], 100000);
    assert_eq!(items[1]["requests"], 1000);
    let duration = items[1]["duration_ms"].as_i64().unwrap();
    assert!((59_000..=61_000).contains(&duration), "{duration}");
    let one = ok(app.get("/v1/usage/pushes?limit=1").await).await;
    assert_eq!(one["items"].as_array().unwrap().len(), 1);
    let bad = app.get("/v1/usage/pushes?limit=0&since=x").await;
    assert_eq!(
        problem_fields(&expect_problem(bad, 422).await),
        ["limit", "since"]
    );
}

#[tokio::test]
async fn spend_reaching_the_alert_share_of_the_credit_limit_raises_one_alert_a_month() {
    let app = spawn_app_configured(|state| {
        state.with_usage_alerts(warp_runtime::config::UsageAlertSettings {
            percent: 80,
            tickets: true,
            daily_note: false,
        })
    })
    .await;
    let acme = app
        .create(&json!({"company_name": "Acme", "customer_type": "POSTPAID", "credit_limit": "1000.00"}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let today = chrono::Utc::now().date_naive();
    let first_of_month = today.format("%Y-%m-01").to_string();
    let today_text = today.to_string();
    let under = ok(post_usage(
        &app,
        &platform(),
        &json!({"days": [day(&acme, &first_of_month, 10, "500.00")]}),
    )
    .await)
    .await;
    assert_eq!(under["alerts_raised"], 0);
    // Another day takes the month to 850.00: 85 % of the limit.
    let spend = if today_text == first_of_month {
        "850.00"
    } else {
        "350.00"
    };
    let over = ok(post_usage(
        &app,
        &platform(),
        &json!({"days": [day(&acme, &today_text, 10, spend)]}),
    )
    .await)
    .await;
    assert_eq!(over["alerts_raised"], 1);
    let events = app
        .scalar(&format!(
            "SELECT count(*) FROM account_events WHERE customer_id = '{acme}' AND kind = 'spend_threshold' \
               AND details->>'percent' = '80'"
        ))
        .await;
    assert_eq!(events, 1, "a timeline event");
    let tickets = app
        .scalar(&format!(
            "SELECT count(*) FROM support_tickets WHERE customer_id = '{acme}' AND trigger = 'spend_threshold'"
        ))
        .await;
    assert_eq!(tickets, 1, "and a support ticket, as configured");
    // Spending more this month raises nothing more.
    let more = ok(post_usage(
        &app,
        &platform(),
        &json!({"days": [day(&acme, &today_text, 10, "990.00")]}),
    )
    .await)
    .await;
    assert_eq!(more["alerts_raised"], 0);
    assert_eq!(app.scalar("SELECT count(*) FROM usage_alerts").await, 1);
    // A customer without a credit limit is never alerted.
    let unlimited = app.create(&warp_tests::acme()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let none = ok(post_usage(
        &app,
        &platform(),
        &json!({"days": [day(&unlimited, &today_text, 10, "99999.00")]}),
    )
    .await)
    .await;
    assert_eq!(none["alerts_raised"], 0);
}

#[tokio::test]
async fn two_batches_crossing_the_threshold_only_together_raise_the_alert() {
    let app = spawn_app_configured(|state| {
        state.with_usage_alerts(warp_runtime::config::UsageAlertSettings {
            percent: 80,
            tickets: false,
            daily_note: false,
        })
    })
    .await;
    let first = chrono::Utc::now().date_naive().with_day(1).unwrap();
    let second = first.succ_opt().unwrap();
    let mut customers = Vec::new();
    for n in 0..6 {
        let body = json!({"company_name": format!("Acme {n}"), "customer_type": "POSTPAID",
                          "credit_limit": "1000.00"});
        customers.push(app.create(&body).await["id"].as_str().unwrap().to_owned());
    }
    // Each batch alone is 50 % of the limit; both are 100 %. Sent at once, a batch summing the
    // month without the other's days would miss the alert.
    let token = platform();
    let batches = customers.iter().flat_map(|customer| {
        [first, second]
            .map(|date| json!({"days": [day(customer, &date.to_string(), 10, "500.00")]}))
    });
    let answers = futures::future::join_all(batches.map(|body| {
        let (app, token) = (&app, &token);
        async move { ok(post_usage(app, token, &body).await).await }
    }))
    .await;
    let raised: i64 = answers
        .iter()
        .map(|a| a["alerts_raised"].as_i64().unwrap())
        .sum();
    assert_eq!(raised, 6, "one alert per customer");
    assert_eq!(
        app.scalar("SELECT count(DISTINCT customer_id) FROM usage_alerts")
            .await,
        6
    );
}
