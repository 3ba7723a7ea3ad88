//! The sync worker's real bootstrap under the Lambda runtime protocol (cargo-lambda's
//! emulator, see `warp_testkit::lambda`): an SQS event with `ReportBatchItemFailures` answers
//! only the poison message's id, the good row reaches HubSpot, and a second delivery is served
//! warm by the same process.

use serde_json::Value;
use std::time::Duration;
use warp_store::CustomerStore;
use warp_testkit::lambda::Stage;
use warp_testkit::{PORTAL, records};

const FUNCTION: &str = "sync-worker";
const BOOTSTRAP: &str = env!("CARGO_BIN_EXE_sync-worker");
const POISON: &str = "1d8b5c4f-6a2e-4f9b-8c7d-5e4f3a2b1c20";

fn sqs_event(outbox_id: i64) -> Value {
    let path = format!(
        "{}/tests/fixtures/sqs_batch_good_malformed_unknown.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("{{GOOD_OUTBOX_ID}}", &outbox_id.to_string());
    serde_json::from_str(&text).unwrap()
}

fn failed_ids(answer: &Value) -> Vec<&str> {
    answer["batchItemFailures"]
        .as_array()
        .expect("batchItemFailures")
        .iter()
        .map(|failure| failure["itemIdentifier"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_batch_with_one_poison_message_answers_only_its_id() {
    let stage = Stage::new(Duration::from_secs(60)).await;
    let customers = CustomerStore::new(stage.database.clone(), PORTAL);
    let created =
        records::create_customer(&customers, &records::customer_body("Runtime Telecom")).await;
    let mut bootstrap = stage.start(BOOTSTRAP, FUNCTION, &[]);

    let first = stage
        .invoke(FUNCTION, &sqs_event(created.outbox_id.unwrap()))
        .await;
    assert_eq!(first.status, 200, "{first:?}\n{}", bootstrap.log_text());
    assert_eq!(failed_ids(&first.body), vec![POISON]);
    let ui = warp_testkit::HubSpotUi::new(&stage.sandbox);
    let companies = ui.list_all("companies", "warp_ban,name").await;
    assert!(
        companies
            .iter()
            .any(|c| c["properties"]["warp_ban"] == created.ban.as_str()),
        "{companies:?}"
    );

    // Delivered again (at least once): the same answer, warm, nothing pushed twice.
    let again = stage
        .invoke(FUNCTION, &sqs_event(created.outbox_id.unwrap()))
        .await;
    assert_eq!(failed_ids(&again.body), vec![POISON]);
    assert_eq!(ui.list_all("companies", "warp_ban").await.len(), 1);
    assert!(bootstrap.is_running());
    assert_eq!(bootstrap.cold_starts(), vec![true, false]);
}
