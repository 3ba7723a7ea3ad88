//! Lambda Function URL events (API Gateway v2 shape), as JSON fixtures, through lambda_http's
//! adapter and the webhook router over a real Postgres: the path a HubSpot delivery takes in
//! Lambda. Each fixture is signed at test time with `sign_v3` over the exact
//! `https://<host><raw path>?<raw query>` HubSpot would have called, so a 200 proves that the
//! Host header and the raw (still percent-encoded) query string reach the signature check
//! unchanged, and the 401s prove that anything else does not verify.

use base64::Engine as _;
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Context, LambdaEvent, Service};
use secrecy::SecretString;
use serde_json::Value;
use warp_store::Database;
use warp_webhook::{
    PublicUrl, SignedUrlBase, WebhookConfig, WebhookConfigError, WebhookState, router, sign_v3,
};

const SECRET: &str = "function-url-test-secret";
const HOST: &str = "q7lx2kd4c3mzbexample.lambda-url.eu-west-1.on.aws";
const RAW_QUERY: &str = "source=hubspot&note=a%20b%2Cc&tilde=%7E";

struct Lambda {
    router: axum::Router,
    database: Database,
}

impl Lambda {
    async fn new() -> Self {
        Self::with_allow_list(None).await
    }

    /// With `WEBHOOK_ALLOWED_CIDRS` set to `allowed`, when given.
    async fn with_allow_list(allowed: Option<&str>) -> Self {
        let database = warp_testkit::fresh_database().await;
        // Configured as main() does inside Lambda, with the template's WEBHOOK_PUBLIC_URL.
        let public_url = format!("https://{HOST}/");
        let config = WebhookConfig::from_lookup(SecretString::from(SECRET), |name| match name {
            "AWS_LAMBDA_FUNCTION_NAME" => Some("hubspot-webhook".to_owned()),
            "WEBHOOK_PUBLIC_URL" => Some(public_url.clone()),
            "WEBHOOK_ALLOWED_CIDRS" => allowed.map(str::to_owned),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            config.signed_url,
            SignedUrlBase::Fixed(PublicUrl::parse(&format!("https://{HOST}")).unwrap())
        );
        Lambda {
            router: router(WebhookState::new(config, database.clone())),
            database,
        }
    }

    /// Feeds `event` through the adapter; returns the response JSON.
    async fn invoke(&self, event: Value) -> Value {
        let request: LambdaRequest =
            serde_json::from_value(event).expect("a valid Function URL event");
        let mut adapter = Adapter::from(self.router.clone());
        let response = adapter
            .call(LambdaEvent::new(request, Context::default()))
            .await
            .expect("the adapter answers");
        serde_json::to_value(response).unwrap()
    }

    async fn stored_event_ids(&self) -> Vec<i64> {
        let client = self.database.client().await.unwrap();
        client
            .query_typed(
                "SELECT event_id FROM hubspot_webhook_events ORDER BY event_id",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect()
    }
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The body bytes HubSpot sent, as the fixture carries them.
fn body_bytes(event: &Value) -> Vec<u8> {
    let body = event["body"].as_str().unwrap();
    if event["isBase64Encoded"].as_bool() == Some(true) {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap()
    } else {
        body.as_bytes().to_vec()
    }
}

/// The fixture with its signature headers filled in for `signed_url` and the current time.
fn signed(mut event: Value, secret: &str, signed_url: &str) -> Value {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let body = body_bytes(&event);
    for (name, value) in sign_v3(secret, "POST", signed_url, &body, now_ms) {
        event["headers"][name] = Value::String(value);
    }
    event
}

fn status(response: &Value) -> u64 {
    response["statusCode"].as_u64().expect("statusCode")
}

fn body(response: &Value) -> Value {
    let raw = response["body"].as_str().expect("body");
    let text = if response["isBase64Encoded"].as_bool() == Some(true) {
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(raw)
                .unwrap(),
        )
        .unwrap()
    } else {
        raw.to_owned()
    };
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON body: {text}"))
}

#[tokio::test]
async fn a_delivery_signed_for_the_exact_function_url_is_stored_once() {
    let lambda = Lambda::new().await;
    let url = format!("https://{HOST}/webhooks/hubspot?{RAW_QUERY}");
    let event = signed(fixture("company_property_change.json"), SECRET, &url);

    let first = lambda.invoke(event.clone()).await;
    assert_eq!(status(&first), 200, "{first}");
    let receipt = body(&first);
    assert_eq!(receipt["received"], 2);
    assert_eq!(receipt["stored"], 2);
    assert_eq!(lambda.stored_event_ids().await, vec![4_100_001, 4_100_002]);

    // HubSpot retrying the same delivery: accepted, nothing stored twice.
    let again = lambda.invoke(event).await;
    assert_eq!(status(&again), 200, "{again}");
    assert_eq!(body(&again)["duplicates"], 2);
    assert_eq!(lambda.stored_event_ids().await, vec![4_100_001, 4_100_002]);

    // A base64-encoded body on the company alias route, no query string.
    let alias_url = format!("https://{HOST}/webhooks/hubspot/company");
    let alias = signed(
        fixture("company_alias_base64_body.json"),
        SECRET,
        &alias_url,
    );
    let answer = lambda.invoke(alias).await;
    assert_eq!(status(&answer), 200, "{answer}");
    assert_eq!(
        lambda.stored_event_ids().await,
        vec![4_100_001, 4_100_002, 4_200_001]
    );
}

#[tokio::test]
async fn a_wrong_secret_or_any_other_url_is_rejected_and_nothing_is_stored() {
    let lambda = Lambda::new().await;
    let exact = format!("https://{HOST}/webhooks/hubspot?{RAW_QUERY}");
    let decoded_query =
        format!("https://{HOST}/webhooks/hubspot?source=hubspot&note=a b,c&tilde=~");
    let reencoded_query =
        format!("https://{HOST}/webhooks/hubspot?source=hubspot&note=a+b%2Cc&tilde=~");
    let other_host = format!("https://example.com/webhooks/hubspot?{RAW_QUERY}");
    let plain_http = format!("http://{HOST}/webhooks/hubspot?{RAW_QUERY}");
    let no_query = format!("https://{HOST}/webhooks/hubspot");

    let cases = [
        (
            "wrong secret",
            signed(
                fixture("company_property_change.json"),
                "not-the-secret",
                &exact,
            ),
        ),
        (
            "decoded query",
            signed(
                fixture("company_property_change.json"),
                SECRET,
                &decoded_query,
            ),
        ),
        (
            "re-encoded query",
            signed(
                fixture("company_property_change.json"),
                SECRET,
                &reencoded_query,
            ),
        ),
        (
            "other host",
            signed(fixture("company_property_change.json"), SECRET, &other_host),
        ),
        (
            "http scheme",
            signed(fixture("company_property_change.json"), SECRET, &plain_http),
        ),
        (
            "query dropped",
            signed(fixture("company_property_change.json"), SECRET, &no_query),
        ),
    ];
    for (what, event) in cases {
        let answer = lambda.invoke(event).await;
        assert_eq!(status(&answer), 401, "{what}: {answer}");
        assert_eq!(
            answer["headers"]["content-type"], "application/problem+json",
            "{what}"
        );
    }

    // A body changed after signing (one character of the event) fails too.
    let mut tampered = signed(fixture("company_property_change.json"), SECRET, &exact);
    let body = tampered["body"]
        .as_str()
        .unwrap()
        .replace("Lambda Telecom Ltd", "Lambda Telecom Inc");
    tampered["body"] = Value::String(body);
    assert_eq!(status(&lambda.invoke(tampered).await), 401);

    // Signed for another host, with that Host header and the forwarding headers a proxy would
    // add: the URL checked is the configured one, so it fails too.
    let evil = format!("https://evil.example/webhooks/hubspot?{RAW_QUERY}");
    let mut probe = signed(fixture("company_property_change.json"), SECRET, &evil);
    probe["headers"]["host"] = Value::String("evil.example".into());
    probe["headers"]["x-forwarded-host"] = Value::String("evil.example".into());
    probe["headers"]["x-forwarded-proto"] = Value::String("https".into());
    probe["requestContext"]["domainName"] = Value::String("evil.example".into());
    assert_eq!(status(&lambda.invoke(probe).await), 401);

    // Unsigned placeholders as they sit in the fixture.
    assert_eq!(
        status(&lambda.invoke(fixture("company_property_change.json")).await),
        401
    );
    assert!(lambda.stored_event_ids().await.is_empty());
}

#[test]
fn without_webhook_public_url_the_function_refuses_to_start() {
    let refused = WebhookConfig::from_lookup(SecretString::from(SECRET), |name| {
        (name == "AWS_LAMBDA_FUNCTION_NAME").then(|| "hubspot-webhook".to_owned())
    })
    .unwrap_err();
    assert!(
        matches!(refused, WebhookConfigError::PublicUrlRequiredInLambda),
        "{refused}"
    );
    assert!(
        refused
            .to_string()
            .contains("WEBHOOK_PUBLIC_URL must be set in Lambda")
    );
}

#[tokio::test]
async fn an_allow_list_reads_the_function_urls_source_ip() {
    let url = format!("https://{HOST}/webhooks/hubspot?{RAW_QUERY}");
    let event = signed(fixture("company_property_change.json"), SECRET, &url);
    // The fixture's requestContext.http.sourceIp is 54.174.62.12.
    let closed = Lambda::with_allow_list(Some("10.0.0.0/8")).await;
    let refused = closed.invoke(event.clone()).await;
    assert_eq!(status(&refused), 403, "{refused}");
    assert!(closed.stored_event_ids().await.is_empty());
    let open = Lambda::with_allow_list(Some("54.174.60.0/22")).await;
    let answer = open.invoke(event).await;
    assert_eq!(status(&answer), 200, "{answer}");
    assert_eq!(open.stored_event_ids().await, vec![4_100_001, 4_100_002]);
}
