//! Issue 17: a HubSpot value Postgres cannot store (a NUL character, U+0000) met by a
//! reconciliation, through real parts (the sandbox over HTTP, Postgres, the outbound worker,
//! the inbound processor). The bad field is reported as the run's error and left for a person;
//! every other drift of the run, including the other fields of the same company, is repaired;
//! and the run is recorded `completed_with_errors`, not `succeeded`.

mod common;

use common::harness;
use hubspot_sandbox::Faults;
use serde_json::json;
use std::time::Duration;
use warp_domain::sync::ObjectType;
use warp_reconcile::jobs;
use warp_store::reconciliation_runs as runs;
use warp_testkit::Sql;

/// LATEST_WINS calls changes within one second of each other a conflict.
const APART: Duration = Duration::from_millis(1_100);

#[tokio::test]
async fn a_nul_in_one_hubspot_value_is_the_runs_error_and_every_other_drift_is_repaired() {
    let h = harness().await;
    let (bad, _) = h.create("Bad Telecom").await;
    let (renamed, _) = h.create("Renamed Telecom").await;
    let (limited, _) = h.create("Limit Telecom").await;
    h.push_all().await;
    h.sandbox.set_faults(Faults {
        drop_webhooks: 1.0,
        ..Faults::default()
    });
    tokio::time::sleep(APART).await;

    // Edited in HubSpot's UI while every webhook is dropped: one name with a NUL (and, on the
    // same company, a WARP_WINS status that must still be pushed back), and two good edits.
    let bad_company = h.linked(bad).await;
    h.ui.update(
        "companies",
        &bad_company,
        json!({"name": "Bad\u{0}Telecom", "warp_status": "CLOSED"}),
    )
    .await;
    h.ui.update(
        "companies",
        &h.linked(renamed).await,
        json!({"name": "Renamed Telecom Inc"}),
    )
    .await;
    h.ui.update(
        "companies",
        &h.linked(limited).await,
        json!({"warp_credit_limit": "7000"}),
    )
    .await;

    let run = jobs::reconcile_now(&h.reconciler, false, "test", None)
        .await
        .unwrap()
        .expect("nothing else runs");
    let report = run.report.as_ref().expect("the run got to the end");
    assert_eq!(report.errors, 1, "{:?}", report.error_reasons);
    let reason = &report.error_reasons[0];
    assert!(
        reason.contains(&bad.to_string())
            && reason.contains("company_name")
            && reason.contains("NUL character (U+0000)"),
        "{reason}"
    );
    assert!(!reason.contains("Bad"), "no value in the reason: {reason}");
    assert_eq!(report.drift_found, 4, "{:?}", report.records);
    assert_eq!(
        report.drift_fixed, 3,
        "all but the NUL name: {:?}",
        report.records
    );
    assert_eq!(
        report.of(ObjectType::Companies).by_field["company_name"].found,
        2
    );
    assert_eq!(
        report.of(ObjectType::Companies).by_field["company_name"].fixed,
        1
    );

    let stored = runs::get(&h.database, run.id).await.unwrap();
    assert_eq!(stored.status, "completed_with_errors");
    assert_eq!(stored.counts.errors, 1);
    assert_eq!(stored.counts.drift_fixed, 3);

    h.push_all().await;
    let name_of = |id: uuid::Uuid| format!("SELECT company_name FROM customers WHERE id = '{id}'");
    assert_eq!(
        h.database.text(&name_of(renamed)).await.as_deref(),
        Some("Renamed Telecom Inc")
    );
    assert_eq!(
        h.database
            .text(&format!(
                "SELECT credit_limit::text FROM customers WHERE id = '{limited}'"
            ))
            .await
            .as_deref(),
        Some("7000.00")
    );
    assert_eq!(
        h.database.text(&name_of(bad)).await.as_deref(),
        Some("Bad Telecom")
    );
    let company = h.company(&bad_company).await;
    assert_eq!(company["warp_status"], "ACTIVE", "WARP_WINS pushed back");
    assert_eq!(
        company["name"], "Bad\u{0}Telecom",
        "HubSpot's name is left for a person"
    );

    // Until someone corrects it in HubSpot, each run reports it again and nothing else.
    let again = h.reconciler.run(None, false, None).await.unwrap();
    assert_eq!(again.drift_found, 1, "{:?}", again.records);
    assert_eq!(again.errors, 1, "{:?}", again.error_reasons);
    h.ui.update("companies", &bad_company, json!({"name": "Good Telecom"}))
        .await;
    let fixed = h.reconciler.run(None, false, None).await.unwrap();
    assert_eq!(fixed.errors, 0, "{:?}", fixed.error_reasons);
    assert_eq!(fixed.drift_fixed, 1);
    assert_eq!(
        h.database.text(&name_of(bad)).await.as_deref(),
        Some("Good Telecom")
    );
}
