//! The reconciler's real bootstrap under the Lambda runtime protocol (cargo-lambda's emulator,
//! see `warp_testkit::lambda`): EventBridge scheduled events invoked by function name; a cold
//! start then warm invokes in one process; a handler error answered as Lambda's error document
//! while the process keeps serving; an invocation that runs out of time is answered as a
//! timeout and its environment replaced (a cold start), with nothing lost.

use serde_json::{Value, json};
use std::time::Duration;
use warp_testkit::Sql;
use warp_testkit::lambda::Stage;

const FUNCTION: &str = "reconciler";
const BOOTSTRAP: &str = env!("CARGO_BIN_EXE_reconciler");

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn scheduled_events_reach_the_bootstrap_and_an_invalid_one_is_a_lambda_error() {
    let stage = Stage::new(Duration::from_secs(60)).await;
    let mut bootstrap = stage.start(BOOTSTRAP, FUNCTION, &[]);

    let invalid = stage
        .invoke(FUNCTION, &fixture("schedule_without_job.json"))
        .await;
    assert_eq!(invalid.status, 500, "{invalid:?}\n{}", bootstrap.log_text());
    assert_eq!(invalid.body["errorType"], "InvalidEvent", "{invalid:?}");
    assert!(
        invalid.body["errorMessage"]
            .as_str()
            .unwrap()
            .contains("names no job")
    );

    // The same process serves the next event (warm): the relay job's summary is the answer.
    let relay = stage
        .invoke(FUNCTION, &fixture("schedule_relay.json"))
        .await;
    assert_eq!(relay.status, 200, "{relay:?}\n{}", bootstrap.log_text());
    assert_eq!(relay.body["job"], "relay");
    assert_eq!(relay.body["errors"], json!([]));
    assert!(bootstrap.is_running());
    assert_eq!(bootstrap.cold_starts(), vec![true, false]);
    // The relay job printed the sync's figures as embedded metric format lines.
    assert!(
        bootstrap
            .log_text()
            .lines()
            .any(|line| line.contains("\"_aws\"") && line.contains("OutboxRowsRelayed")),
        "{}",
        bootstrap.log_text()
    );
}

#[tokio::test]
async fn an_invocation_out_of_time_is_a_timeout_and_the_next_environment_loses_nothing() {
    let stage = Stage::new(Duration::from_secs(10)).await;
    let mut bootstrap = stage.start(BOOTSTRAP, FUNCTION, &[]);
    // A capture job asked to follow for 120 s cannot answer within the 10 s timeout.
    let timed_out = stage
        .invoke(FUNCTION, &json!({"job": "capture", "follow_seconds": 120}))
        .await;
    assert_eq!(timed_out.status, 408, "{timed_out:?}");
    // Lambda stops a timed-out environment; the next invoke starts a new one.
    assert!(
        bootstrap.is_running(),
        "the emulator itself never stops a late function"
    );
    bootstrap.kill();

    // A write made outside WARP meanwhile waits, captured, for whoever runs next.
    let customer = uuid::Uuid::now_v7();
    let billing = warp_testkit::outside_writer(&stage.database).await;
    billing
        .execute(
            "INSERT INTO customers (id, ban, company_name, customer_type) \
             VALUES ($1, 'TO-000000001', 'Timed Out Telecom', 'PREPAID')",
            &[&customer],
        )
        .await
        .unwrap();
    let fresh = stage.start(BOOTSTRAP, FUNCTION, &[]);
    let relay = stage
        .invoke(FUNCTION, &fixture("schedule_relay.json"))
        .await;
    assert_eq!(relay.status, 200, "{relay:?}\n{}", fresh.log_text());
    assert_eq!(fresh.cold_starts(), vec![true]);
    assert_eq!(
        stage
            .database
            .scalar(&format!(
                "SELECT count(*) FROM hubspot_sync_queue WHERE local_id = '{customer}'"
            ))
            .await,
        1,
        "queued once"
    );
}
