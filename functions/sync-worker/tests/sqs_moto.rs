//! The queue end to end over moto's SQS: the customer API (its router, with `SqsPublisher`)
//! sends the committed outbox id, `run_sqs_loop` receives and processes it, and the sandbox
//! holds the company; a poison message is retried until the queue's redrive policy moves it to
//! the DLQ. moto is started from $WARP_MOTO_SERVER or <repo>/.venv/bin/moto_server (`make venv`).

mod common;

use common::{PORTAL, setup};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use warp_api::auth::{AuthConfig, KeySource, issue_dev_token};
use warp_api::{ApiState, router};
use warp_runtime::testing::MotoServer;
use warp_store::Database;
use warp_sync::queue::{PollSettings, SqsPublisher, run_sqs_loop_with};

const JWT_SECRET: &str = "sqs-moto-test-secret";
/// Short, so a failing message is received again quickly; the redrive policy's
/// maxReceiveCount is 3 here (5 in the template) to keep the test short.
const VISIBILITY_TIMEOUT_SECONDS: &str = "1";
const MAX_RECEIVE_COUNT: usize = 3;

struct Queues {
    client: aws_sdk_sqs::Client,
    url: String,
    dead_letter_url: String,
}

/// A standard queue with a short visibility timeout and a redrive policy to its DLQ.
async fn queues(moto: &MotoServer) -> Queues {
    let sdk = warp_runtime::aws::sdk_config_for_endpoint(moto.url(), "us-east-1").await;
    let client = aws_sdk_sqs::Client::new(&sdk);
    let dead_letter_url = client
        .create_queue()
        .queue_name("warp-sync-dlq")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let dead_letter_arn = client
        .get_queue_attributes()
        .queue_url(&dead_letter_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    let redrive =
        json!({"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": MAX_RECEIVE_COUNT})
            .to_string();
    let url = client
        .create_queue()
        .queue_name("warp-sync")
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            VISIBILITY_TIMEOUT_SECONDS,
        )
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
            redrive,
        )
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    Queues {
        client,
        url,
        dead_letter_url,
    }
}

/// Serves the customer API over `database` with `publisher` on a loopback port.
async fn serve_api(database: Database, publisher: SqsPublisher) -> String {
    let auth = AuthConfig {
        roles_claim: AuthConfig::DEFAULT_ROLES_CLAIM.to_owned(),
        issuer: "warp-local".into(),
        audience: "warp-api".into(),
        keys: KeySource::Hs256(JWT_SECRET.to_owned().into()),
        max_lifetime: AuthConfig::DEFAULT_MAX_LIFETIME,
    };
    let state = ApiState::new(database, auth, PORTAL).with_outbox_publisher(Arc::new(publisher));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    base
}

/// POST /v1/customers as an editor; returns the status and body.
async fn create_customer(api: &str, name: &str) -> (u16, Value) {
    let token = issue_dev_token(
        &JWT_SECRET.to_owned().into(),
        "warp-local",
        "warp-api",
        "sqs-moto-test",
        &["editor"],
        Duration::from_secs(300),
    )
    .unwrap();
    let answer = reqwest::Client::new()
        .post(format!("{api}/v1/customers"))
        .bearer_auth(token)
        .json(&json!({
            "company_name": name,
            "customer_type": "PREPAID",
            "credit_limit": "100.00",
            "contact": {"email": "ops@example.com", "phone": "+442071838750"},
        }))
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap())
}

/// The outbox row of `customer_id`: (id, status, published).
async fn outbox_row(database: &Database, customer_id: &str) -> (i64, String, bool) {
    let client = database.client().await.unwrap();
    let row = client
        .query_one(
            "SELECT id, status, published_at IS NOT NULL FROM hubspot_sync_queue \
             WHERE local_id = $1::text::uuid ORDER BY id DESC LIMIT 1",
            &[&customer_id],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

/// Bodies of the messages now visible in `queue_url` (received with a 0 s visibility
/// timeout, so they stay there).
async fn peek(client: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<String> {
    client
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap()
        .messages()
        .iter()
        .filter_map(|message| message.body().map(str::to_owned))
        .collect()
}

async fn queue_is_empty(client: &aws_sdk_sqs::Client, queue_url: &str) -> bool {
    use aws_sdk_sqs::types::QueueAttributeName;
    let attributes = client
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    let attributes = attributes.attributes().unwrap();
    [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .all(|name| attributes.get(name).map(String::as_str) == Some("0"))
}

#[tokio::test]
async fn the_api_publishes_the_loop_syncs_and_a_poison_message_reaches_the_dlq() {
    let moto = MotoServer::start().await;
    let queues = queues(&moto).await;
    let setup = setup().await;
    let publisher = SqsPublisher::new(queues.client.clone(), queues.url.clone())
        .marking_published_in(setup.database.clone());
    let api = serve_api(setup.database.clone(), publisher).await;

    let (status, customer) = create_customer(&api, "Moto Telecom").await;
    assert_eq!(status, 201, "{customer}");
    let ban = customer["ban"].as_str().unwrap().to_owned();
    let customer_id = customer["id"].as_str().unwrap().to_owned();
    let (outbox_id, row_status, published) = outbox_row(&setup.database, &customer_id).await;
    assert_eq!(row_status, "PENDING");
    assert!(
        published,
        "the publisher marks the row published after SQS took it"
    );
    assert_eq!(
        peek(&queues.client, &queues.url).await,
        vec![format!("{{\"outbox_id\":{outbox_id}}}")]
    );

    // A message no worker can ever process.
    queues
        .client
        .send_message()
        .queue_url(&queues.url)
        .message_body("{\"outbox_id\": \"not a number\"}")
        .send()
        .await
        .unwrap();

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let settings = PollSettings {
        wait: Duration::from_secs(1),
        ..PollSettings::default()
    };
    let sqs_loop = run_sqs_loop_with(
        queues.client.clone(),
        queues.url.clone(),
        &setup.worker,
        settings,
        async {
            let _ = stopped.await;
        },
    );
    let checks = async {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let synced = setup.companies_with_ban(&ban).await.len() == 1
                && setup.outbox_status(outbox_id).await == "DONE";
            let dead = peek(&queues.client, &queues.dead_letter_url).await;
            if synced && dead.len() == 1 && queue_is_empty(&queues.client, &queues.url).await {
                assert_eq!(dead, vec!["{\"outbox_id\": \"not a number\"}".to_owned()]);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "timed out: synced={synced}, dlq={dead:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let _ = stop.send(());
    };
    tokio::join!(sqs_loop, checks);
    assert_eq!(setup.companies_with_ban(&ban).await.len(), 1);
}

#[tokio::test]
async fn a_failed_send_leaves_the_row_unpublished_and_the_write_succeeds() {
    let moto = MotoServer::start().await;
    let queues = queues(&moto).await;
    let setup = setup().await;
    let missing_queue = format!("{}/123456789012/no-such-queue", moto.url());
    let publisher = SqsPublisher::new(queues.client.clone(), missing_queue)
        .marking_published_in(setup.database.clone());
    let api = serve_api(setup.database.clone(), publisher).await;

    let (status, customer) = create_customer(&api, "Unsent Telecom").await;
    assert_eq!(status, 201, "{customer}");
    let (_, row_status, published) =
        outbox_row(&setup.database, customer["id"].as_str().unwrap()).await;
    assert_eq!(row_status, "PENDING");
    assert!(!published, "left for the relay");
    assert!(peek(&queues.client, &queues.url).await.is_empty());
}
