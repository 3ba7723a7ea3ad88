//! The customer API's real bootstrap under the Lambda runtime protocol (cargo-lambda's
//! emulator, see `warp_testkit::lambda`): API Gateway HTTP API v2 events invoked by function
//! name, configured as in AWS (secrets from Secrets Manager, verified TLS to Postgres, the
//! outbox id sent to SQS after the commit), served cold then warm by one process.

use serde_json::Value;
use std::time::Duration;
use warp_api::auth::issue_dev_token;
use warp_testkit::lambda::{JWT_SECRET, Stage};

const FUNCTION: &str = "customer-api";
const BOOTSTRAP: &str = env!("CARGO_BIN_EXE_customer-api");

fn event(name: &str, token: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("{{TOKEN}}", token);
    serde_json::from_str(&text).unwrap()
}

fn body(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().expect("a body")).expect("a JSON body")
}

#[tokio::test]
async fn api_gateway_events_are_answered_cold_then_warm_and_a_create_is_sent_to_sqs() {
    let stage = Stage::new(Duration::from_secs(60)).await;
    let mut bootstrap = stage.start(BOOTSTRAP, FUNCTION, &[]);
    let token = issue_dev_token(
        &JWT_SECRET.to_owned().into(),
        "warp-local",
        "warp-api",
        "runtime-protocol",
        &["editor"],
        Duration::from_secs(300),
    )
    .unwrap();

    let health = stage.invoke(FUNCTION, &event("health.json", "")).await;
    assert_eq!(health.status, 200, "{health:?}\n{}", bootstrap.log_text());
    assert_eq!(health.body["statusCode"], 200, "{health:?}");

    let refused = stage.invoke(FUNCTION, &event("no_token.json", "")).await;
    assert_eq!(refused.body["statusCode"], 401, "{refused:?}");
    assert_eq!(
        refused.body["headers"]["content-type"],
        "application/problem+json"
    );

    let created = stage
        .invoke(FUNCTION, &event("create_customer.json", &token))
        .await;
    assert_eq!(created.body["statusCode"], 201, "{created:?}");
    let customer = body(&created.body);
    assert_eq!(customer["company_name"], "Lambda Telecom");
    // The committed outbox row's id went to the queue (moto's SQS), as in AWS.
    let received = stage
        .sqs
        .receive_message()
        .queue_url(&stage.queue_url)
        .wait_time_seconds(5)
        .send()
        .await
        .unwrap();
    let message: Value = serde_json::from_str(received.messages()[0].body().unwrap()).unwrap();
    assert!(message["outbox_id"].as_i64().is_some(), "{message}");
    assert!(bootstrap.is_running(), "one process served every invoke");
}
