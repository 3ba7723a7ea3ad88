//! `GET /v1/sync/activity`: the hourly series and the per-portal figures the console's health
//! view draws, from the real sync log, rate-limit events and webhook events in Postgres. The
//! current hour's push is made by the real worker against the sandbox; earlier hours are
//! written as history (no test waits hours).

mod sync_api_support;

use serde_json::Value;
use sync_api_support::*;
use warp_tests::*;

#[tokio::test]
async fn the_series_and_the_portal_figures_count_what_the_sync_did_hour_by_hour() {
    let s = spawn_sync_app().await;
    let app = &s.app;
    let worker = s.outbound_worker().await;
    app.create(&acme()).await;
    assert_eq!(worker.process_due(10).await.unwrap().pushed_customers, 1);

    // Three hours ago: two pushes, an applied change and a failure; 70 minutes ago a push
    // (the last day, not the last hour); 30 hours ago, outside the day, one more push; two 429s and a webhook event applied 2 s after receipt, now.
    app.execute(&format!(
        "INSERT INTO hubspot_sync_log (portal_id, object_type, direction, operation, status, started_at) \
         SELECT {PORTAL}, 'companies', d, 'UPDATE', st, now() - interval '3 hours' \
           FROM (VALUES ('OUTBOUND', 'SUCCESS'), ('OUTBOUND', 'SUCCESS'), ('INBOUND', 'SUCCESS'), \
                        ('OUTBOUND', 'FAILED')) AS v(d, st) \
         UNION ALL SELECT {PORTAL}, 'companies', 'OUTBOUND', 'UPDATE', 'SUCCESS', now() - interval '30 hours' \
         UNION ALL SELECT {PORTAL}, 'companies', 'OUTBOUND', 'UPDATE', 'SUCCESS', now() - interval '70 minutes'"
    ))
    .await;
    app.execute(&format!(
        "INSERT INTO hubspot_rate_limit_events (portal_id, bucket) VALUES ({PORTAL}, 'burst'), ({PORTAL}, 'burst')"
    ))
    .await;
    app.execute(&format!(
        "INSERT INTO hubspot_webhook_events (portal_id, event_id, subscription_type, object_id, \
           occurred_at_ms, raw, status, received_at, processed_at) \
         VALUES ({PORTAL}, 1, 'company.propertyChange', 7, 1, '{{}}', 'PROCESSED', \
           now() - interval '10 seconds', now() - interval '8 seconds')"
    ))
    .await;

    let response = app
        .client
        .get(app.url("/v1/sync/activity?hours=24"))
        .bearer_auth(viewer())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let activity: Value = response.json().await.unwrap();
    let hours = activity["hours"].as_array().unwrap();
    assert_eq!(hours.len(), 24);
    let now = &hours[23];
    assert_eq!(now["pushed"], 1, "{now}");
    assert_eq!(now["rate_limited"], 2, "{now}");
    let lag = now["apply_lag_p95_seconds"].as_f64().unwrap();
    assert!((lag - 2.0).abs() < 0.01, "{lag}");
    let earlier = &hours[20];
    assert_eq!(
        (&earlier["pushed"], &earlier["applied"], &earlier["failed"]),
        (&Value::from(2), &Value::from(1), &Value::from(1)),
        "{earlier}"
    );
    let total: i64 = hours.iter().map(|h| h["pushed"].as_i64().unwrap()).sum();
    assert_eq!(total, 4, "the push 30 hours ago is outside the series");
    assert!(hours[22]["apply_lag_p95_seconds"].is_null());

    let portal = activity["by_portal"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["portal_id"] == PORTAL && row["object_type"] == "companies")
        .expect("the portal's companies row");
    assert_eq!(portal["pushed_last_hour"], 1, "{portal}");
    assert_eq!(portal["pushed_last_day"], 4, "{portal}");
    assert_eq!(portal["applied_last_day"], 1, "{portal}");
    assert_eq!(portal["failed_last_day"], 1, "{portal}");
    assert_eq!(portal["rate_limited_last_hour"], 2, "{portal}");
    assert_eq!(portal["pending"], 0, "{portal}");

    let bad = app
        .client
        .get(app.url("/v1/sync/activity?hours=0&days=2"))
        .bearer_auth(viewer())
        .send()
        .await
        .unwrap();
    let fields = problem_fields(&expect_problem(bad, 422).await);
    assert_eq!(fields, ["days", "hours"]);
}
