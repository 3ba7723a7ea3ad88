//! The webhook's real bootstrap under the Lambda runtime protocol (cargo-lambda's emulator, see
//! `warp_testkit::lambda`): a Function URL event signed for the configured public URL is
//! stored; one signed for anything else is refused, by the same warm process.

use serde_json::Value;
use std::time::Duration;
use warp_testkit::Sql;
use warp_testkit::lambda::{Stage, WEBHOOK_HOST, WEBHOOK_SECRET};

const FUNCTION: &str = "hubspot-webhook";
const BOOTSTRAP: &str = env!("CARGO_BIN_EXE_hubspot-webhook");

/// The fixture with HubSpot's v3 signature headers for `url`, made now.
fn signed_event(url: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/company_property_change.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let body = event["body"].as_str().unwrap().as_bytes().to_vec();
    let now_ms = chrono::Utc::now().timestamp_millis();
    for (name, value) in warp_webhook::sign_v3(WEBHOOK_SECRET, "POST", url, &body, now_ms) {
        event["headers"][name] = Value::String(value);
    }
    event
}

#[tokio::test]
async fn a_signed_function_url_event_is_stored_and_a_wrongly_signed_one_refused() {
    let stage = Stage::new(Duration::from_secs(60)).await;
    let mut bootstrap = stage.start(BOOTSTRAP, FUNCTION, &[]);
    let query = "source=hubspot&note=a%20b%2Cc&tilde=%7E";

    let stored = stage
        .invoke(
            FUNCTION,
            &signed_event(&format!("https://{WEBHOOK_HOST}/webhooks/hubspot?{query}")),
        )
        .await;
    assert_eq!(stored.status, 200, "{stored:?}\n{}", bootstrap.log_text());
    assert_eq!(stored.body["statusCode"], 200, "{stored:?}");
    assert_eq!(
        stage
            .database
            .scalar("SELECT count(*) FROM hubspot_webhook_events")
            .await,
        2
    );

    let refused = stage
        .invoke(
            FUNCTION,
            &signed_event(&format!(
                "https://attacker.example/webhooks/hubspot?{query}"
            )),
        )
        .await;
    assert_eq!(refused.body["statusCode"], 401, "{refused:?}");
    assert!(bootstrap.is_running());
}
