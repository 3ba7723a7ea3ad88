//! SQS events, as JSON fixtures shaped like Lambda's, through the worker the binary builds
//! (`warp_sync::wiring` from a `Config`, as `main` does) and `handle_sqs_batch`, over a real
//! Postgres and the HubSpot sandbox on a loopback port: the path a batch takes in Lambda.

mod common;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use common::setup;
use hubspot_sandbox::Faults;
use warp_sync::queue;

fn fixture(name: &str, ids: &[(&str, i64)]) -> SqsEvent {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(path).unwrap();
    for (placeholder, id) in ids {
        text = text.replace(&format!("{{{{{placeholder}}}}}"), &id.to_string());
    }
    serde_json::from_str(&text).expect("the fixture is an SQS event")
}

/// The answer as Lambda reads it: the messageIds in batchItemFailures.
fn failures(response: &SqsBatchResponse) -> Vec<String> {
    let json = serde_json::to_value(response).unwrap();
    json["batchItemFailures"]
        .as_array()
        .expect("batchItemFailures is always present")
        .iter()
        .map(|failure| failure["itemIdentifier"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn only_the_malformed_message_is_retried_and_the_good_one_reaches_hubspot() {
    let setup = setup().await;
    let (ban, outbox_id) = setup.create("Queue Telecom").await;

    let event = fixture(
        "sqs_batch_good_malformed_unknown.json",
        &[("GOOD_OUTBOX_ID", outbox_id)],
    );
    let response = queue::handle_sqs_batch(&setup.worker, event).await;
    // The unknown outbox id is not retried: the worker reports it done (logged), since no
    // retry can make a row appear; the malformed body is.
    assert_eq!(
        failures(&response),
        vec!["1d8b5c4f-6a2e-4f9b-8c7d-5e4f3a2b1c20"]
    );
    assert_eq!(setup.outbox_status(outbox_id).await, "DONE");
    let companies = setup.companies_with_ban(&ban).await;
    assert_eq!(companies.len(), 1, "{companies:?}");
    assert_eq!(companies[0]["properties"]["name"], "Queue Telecom");

    // The same batch delivered again (at-least-once): same answer, still one company.
    let again = queue::handle_sqs_batch(
        &setup.worker,
        fixture(
            "sqs_batch_good_malformed_unknown.json",
            &[("GOOD_OUTBOX_ID", outbox_id)],
        ),
    )
    .await;
    assert_eq!(
        failures(&again),
        vec!["1d8b5c4f-6a2e-4f9b-8c7d-5e4f3a2b1c20"]
    );
    assert_eq!(setup.companies_with_ban(&ban).await.len(), 1);
}

#[tokio::test]
async fn a_hubspot_outage_fails_only_the_rows_it_hit() {
    let setup = setup().await;
    let (_, done_id) = setup.create("Already Synced").await;
    let first = queue::handle_sqs_batch(
        &setup.worker,
        fixture(
            "sqs_batch_good_malformed_unknown.json",
            &[("GOOD_OUTBOX_ID", done_id)],
        ),
    )
    .await;
    assert_eq!(failures(&first).len(), 1);
    assert_eq!(setup.outbox_status(done_id).await, "DONE");

    let (ban, failing_id) = setup.create("Outage Telecom").await;
    setup.sandbox.set_faults(Faults {
        rate_5xx: 1.0,
        ..Faults::default()
    });
    let event = fixture(
        "sqs_batch_hubspot_down.json",
        &[
            ("FAILING_OUTBOX_ID", failing_id),
            ("GOOD_OUTBOX_ID", done_id),
        ],
    );
    let response = queue::handle_sqs_batch(&setup.worker, event).await;
    // The row HubSpot refused is retried; the redelivered, already-done one is not.
    assert_eq!(
        failures(&response),
        vec!["3f6d7e6b-8c4a-4b7d-8e5f-3a2b1c0d9e40"]
    );
    assert_eq!(setup.outbox_status(failing_id).await, "FAILED");
    assert!(setup.companies_with_ban(&ban).await.is_empty());
}
