//! Logs carry request ids and field names, never customer values or tokens (DESIGN §4.7).

use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};
use tracing_subscriber::fmt::MakeWriter;
use warp_tests::*;

/// Collects everything logged.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

// A current-thread runtime: the server's tasks run on this thread, under this subscriber.
#[tokio::test(flavor = "current_thread")]
async fn logs_name_ids_and_fields_but_no_customer_values() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = spawn_app().await;
    let token = editor();
    let secret_values = [
        "Zebulon Quartermaine Holdings",
        "zebulon@quartermaine.example",
        "+4930999888777",
        "Zeb Q",
    ];
    let response = app
        .client
        .post(app.url("/v1/customers"))
        .bearer_auth(&token)
        .header("x-request-id", "req-logging-1")
        .json(&json!({
            "company_name": secret_values[0],
            "customer_type": "PREPAID",
            "contact": {"email": secret_values[1], "phone": secret_values[2], "name": secret_values[3]}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let id = response.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let invalid = app
        .client
        .post(app.url("/v1/customers"))
        .bearer_auth(&token)
        .json(&json!({"company_name": secret_values[0], "customer_type": "PREPAID", "contact": {"email": "bad zebulon@"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), 422);
    let bad_token = app
        .client
        .get(app.url("/v1/customers"))
        .bearer_auth("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2VjcmV0LXNpZ25hdHVyZQ")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_token.status(), 401);

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("req-logging-1"),
        "request id missing from logs"
    );
    assert!(logs.contains(&id), "customer id missing from logs");
    assert!(
        logs.contains("contact.email"),
        "field name missing from logs"
    );
    for value in secret_values {
        assert!(!logs.contains(value), "a customer value reached the logs");
    }
    assert!(
        !logs.contains("zebulon"),
        "a customer value reached the logs"
    );
    assert!(!logs.contains(&token), "a token reached the logs");
    assert!(
        !logs.contains("c2VjcmV0LXNpZ25hdHVyZQ"),
        "a token reached the logs"
    );
}
