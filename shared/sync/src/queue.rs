//! Outbox ids over SQS: the message body, the publisher the API calls after commit, the Lambda
//! batch handler with partial failures, and the long-polling loop for local runs over moto.
//!
//! A message carries only an outbox id (`{"outbox_id": 123}`), never customer data: the worker
//! reads the row and the customer when it runs, so a late or repeated message pushes the
//! customer's current state, and no PII sits in the queue.
//!
//! # Why a standard queue, not FIFO
//!
//! Processing is idempotent and version-guarded: the worker claims outbox rows (a row already
//! DONE or leased elsewhere is skipped), diffs the customer's *current* values against what
//! HubSpot is known to hold, and upserts by `warp_ban`. Duplicate, late or reordered messages
//! therefore change nothing, so the ordering and exactly-once delivery FIFO offers buy us
//! nothing. Its costs are real: 300 transactions per second per API action without high
//! throughput mode, and head-of-line blocking inside a message group (one customer failing
//! would hold back every later message of its group until it succeeds or reaches the DLQ).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use serde::{Deserialize, Serialize};
use warp_store::Database;
use warp_store::outbox::OutboxPublisher;

use crate::outbound::{OutboundWorker, ProcessReport};

/// The body of one queue message: the outbox row to process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxMessage {
    pub outbox_id: i64,
}

/// Why a message body is not an [`OutboxMessage`]. Says what is wrong, never echoes the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("the message has no body")]
    MissingBody,
    #[error("the body is not {{\"outbox_id\": <positive integer>}}: {reason}")]
    Malformed { reason: String },
    #[error("outbox ids are positive, got {0}")]
    NotPositive(i64),
}

impl OutboxMessage {
    /// Parses a message body. Outbox ids are `bigserial`, so zero and negatives are rejected.
    pub fn parse(body: &str) -> Result<Self, MessageError> {
        let message: OutboxMessage =
            serde_json::from_str(body).map_err(|error| MessageError::Malformed {
                // serde's own message may quote the input (`invalid type: string "..."`):
                // keep only its kind and position, so no customer data reaches a log.
                reason: format!(
                    "{} error at line {} column {}",
                    match error.classify() {
                        serde_json::error::Category::Io => "io",
                        serde_json::error::Category::Syntax => "syntax",
                        serde_json::error::Category::Data => "data",
                        serde_json::error::Category::Eof => "end-of-input",
                    },
                    error.line(),
                    error.column()
                ),
            })?;
        if message.outbox_id <= 0 {
            return Err(MessageError::NotPositive(message.outbox_id));
        }
        Ok(message)
    }

    /// The JSON body to send.
    pub fn to_body(&self) -> String {
        format!("{{\"outbox_id\":{}}}", self.outbox_id)
    }
}

/// The part of the worker the queue adapters need: a port, so the batch logic is testable
/// without a database or HubSpot.
pub trait ProcessOutbox: Send + Sync {
    fn process(&self, outbox_ids: &[i64]) -> impl Future<Output = ProcessReport> + Send;
}

impl ProcessOutbox for OutboundWorker {
    fn process(&self, outbox_ids: &[i64]) -> impl Future<Output = ProcessReport> + Send {
        OutboundWorker::process(self, outbox_ids)
    }
}

/// Sends each committed outbox id to an SQS standard queue (see the module doc for why not
/// FIFO). A failed send is logged with the outbox id and otherwise ignored: the row stays
/// unpublished and the reconciler's relay sends it later, so the customer write never fails
/// because the queue did.
#[derive(Debug, Clone)]
pub struct SqsPublisher {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    /// When set, a sent id is marked published so the relay does not send it again.
    database: Option<Database>,
}

impl SqsPublisher {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        SqsPublisher {
            client,
            queue_url: queue_url.into(),
            database: None,
        }
    }

    /// Records `published_at` on each row after its message was accepted by SQS.
    pub fn marking_published_in(mut self, database: Database) -> Self {
        self.database = Some(database);
        self
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Sends one message; the error is SQS's, for callers that want it (the relay).
    pub async fn send(&self, outbox_id: i64) -> Result<(), aws_sdk_sqs::Error> {
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(OutboxMessage { outbox_id }.to_body())
            .send()
            .await
            .map_err(aws_sdk_sqs::Error::from)?;
        Ok(())
    }
}

impl OutboxPublisher for SqsPublisher {
    fn publish(&self, outbox_id: i64) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            if let Err(error) = self.send(outbox_id).await {
                tracing::warn!(
                    outbox_id,
                    error = %aws_sdk_sqs::error::DisplayErrorContext(&error),
                    "outbox id not sent to SQS; the relay will send it"
                );
                return;
            }
            if let Some(database) = &self.database
                && let Err(error) = warp_store::outbox::mark_published(database, &[outbox_id]).await
            {
                // Harmless: the relay sends it again and the worker skips rows already done.
                tracing::warn!(outbox_id, %error, "sent to SQS but not marked published");
            }
        })
    }
}

/// One received message, reduced to what the batch logic needs.
struct Received<'a> {
    /// The id SQS knows the message by (Lambda: messageId; the loop: the receipt handle).
    handle: &'a str,
    message: Result<OutboxMessage, MessageError>,
}

/// Processes the decodable messages in one worker call and returns the handles of the
/// messages to retry: bad bodies, ids the worker reported failed, and, defensively, ids it did
/// not report at all. Which rows need a retry is the worker's call: it reports rows already
/// DONE, leased by another worker or unknown (a retry cannot make them appear) as succeeded.
async fn process_messages<'a, W: ProcessOutbox>(
    worker: &W,
    received: &[Received<'a>],
) -> (Vec<&'a str>, ProcessReport) {
    let mut outbox_ids = BTreeSet::new();
    for item in received {
        match &item.message {
            Ok(message) => {
                outbox_ids.insert(message.outbox_id);
            }
            Err(error) => {
                tracing::warn!(message = item.handle, %error, "undecodable queue message");
            }
        }
    }
    let outbox_ids: Vec<i64> = outbox_ids.into_iter().collect();
    let report = if outbox_ids.is_empty() {
        ProcessReport::default()
    } else {
        worker.process(&outbox_ids).await
    };
    let succeeded: HashSet<i64> = report.succeeded.iter().copied().collect();
    let failed: HashMap<i64, &str> = report
        .failed
        .iter()
        .map(|(id, reason)| (*id, reason.as_str()))
        .collect();
    let mut retry = Vec::new();
    for item in received {
        let Ok(message) = &item.message else {
            retry.push(item.handle);
            continue;
        };
        let outbox_id = message.outbox_id;
        if let Some(reason) = failed.get(&outbox_id) {
            tracing::warn!(
                message = item.handle,
                outbox_id,
                reason,
                "outbox row failed"
            );
            retry.push(item.handle);
        } else if !succeeded.contains(&outbox_id) {
            tracing::warn!(
                message = item.handle,
                outbox_id,
                "outbox id missing from the worker's report"
            );
            retry.push(item.handle);
        }
    }
    (retry, report)
}

/// The Lambda handler's body: decodes each message itself (the typed `SqsEventObj` would fail
/// the whole batch on one bad body), processes all decodable ids in one worker call (so the
/// worker can coalesce and batch them), and reports only the messages to retry. Needs
/// `FunctionResponseTypes: [ReportBatchItemFailures]` on the event source; without it Lambda
/// would ignore the answer and delete the whole batch.
pub async fn handle_sqs_batch<W: ProcessOutbox>(worker: &W, event: SqsEvent) -> SqsBatchResponse {
    // A record without a messageId cannot be named in the answer; it has one in every real
    // event, and if not, the empty identifier makes Lambda retry the whole batch, which is safe.
    let received: Vec<Received<'_>> = event
        .records
        .iter()
        .map(|record| Received {
            handle: record.message_id.as_deref().unwrap_or(""),
            message: record
                .body
                .as_deref()
                .ok_or(MessageError::MissingBody)
                .and_then(OutboxMessage::parse),
        })
        .collect();
    let (retry, report) = process_messages(worker, &received).await;
    tracing::info!(
        messages = received.len(),
        retried = retry.len(),
        succeeded = report.succeeded.len(),
        pushed_customers = report.pushed_customers,
        hubspot_calls = report.hubspot_calls,
        "sqs batch processed"
    );
    let mut response = SqsBatchResponse::default();
    let mut named = HashSet::new();
    for message_id in retry {
        if named.insert(message_id) {
            response.add_failure(message_id);
        }
    }
    response
}

/// How the local loop polls.
#[derive(Debug, Clone, Copy)]
pub struct PollSettings {
    /// Long-poll wait of one ReceiveMessage call (SQS allows 0–20 s).
    pub wait: Duration,
    /// Messages per receive (SQS allows 1–10).
    pub max_messages: i32,
    /// Pause after a receive error, so an unreachable queue is not hammered.
    pub error_pause: Duration,
}

impl Default for PollSettings {
    fn default() -> Self {
        PollSettings {
            wait: Duration::from_secs(20),
            max_messages: 10,
            error_pause: Duration::from_secs(2),
        }
    }
}

/// The local stand-in for the SQS event source (used with moto): long-polls `queue_url`,
/// processes each batch like [`handle_sqs_batch`], deletes the messages that succeeded and
/// leaves the rest to become visible again after the queue's visibility timeout, so the
/// queue's redrive policy moves a message that keeps failing to the DLQ. Returns when
/// `shutdown` completes (an in-flight receive is abandoned; its messages simply reappear).
pub async fn run_sqs_loop<W: ProcessOutbox>(
    client: aws_sdk_sqs::Client,
    queue_url: String,
    worker: &W,
    shutdown: impl Future<Output = ()>,
) {
    run_sqs_loop_with(client, queue_url, worker, PollSettings::default(), shutdown).await;
}

/// [`run_sqs_loop`] with explicit poll settings (tests use short waits).
pub async fn run_sqs_loop_with<W: ProcessOutbox>(
    client: aws_sdk_sqs::Client,
    queue_url: String,
    worker: &W,
    settings: PollSettings,
    shutdown: impl Future<Output = ()>,
) {
    let wait_seconds = i32::try_from(settings.wait.as_secs().min(20)).unwrap_or(20);
    let max_messages = settings.max_messages.clamp(1, 10);
    let poll = async {
        loop {
            let received = client
                .receive_message()
                .queue_url(&queue_url)
                .wait_time_seconds(wait_seconds)
                .max_number_of_messages(max_messages)
                .send()
                .await;
            let output = match received {
                Ok(output) => output,
                Err(error) => {
                    tracing::warn!(
                        error = %aws_sdk_sqs::error::DisplayErrorContext(&error),
                        "receiving from SQS failed"
                    );
                    tokio::time::sleep(settings.error_pause).await;
                    continue;
                }
            };
            let messages = output.messages();
            if messages.is_empty() {
                continue;
            }
            let batch: Vec<Received<'_>> = messages
                .iter()
                .filter_map(|message| {
                    Some(Received {
                        // Without a receipt handle a message cannot be deleted: it will come back.
                        handle: message.receipt_handle()?,
                        message: message
                            .body()
                            .ok_or(MessageError::MissingBody)
                            .and_then(OutboxMessage::parse),
                    })
                })
                .collect();
            let (retry, _report) = process_messages(worker, &batch).await;
            let retry: HashSet<&str> = retry.into_iter().collect();
            let done: Vec<&str> = batch
                .iter()
                .map(|item| item.handle)
                .filter(|handle| !retry.contains(handle))
                .collect();
            delete_messages(&client, &queue_url, &done).await;
        }
    };
    tokio::select! {
        () = poll => {}
        () = shutdown => {}
    }
}

/// Deletes processed messages in one call per ten. A failed delete only means the message is
/// delivered again, which processing tolerates.
async fn delete_messages(client: &aws_sdk_sqs::Client, queue_url: &str, receipt_handles: &[&str]) {
    for chunk in receipt_handles.chunks(10) {
        let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
            .iter()
            .enumerate()
            .filter_map(|(index, handle)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(index.to_string())
                    .receipt_handle(*handle)
                    .build()
                    .ok()
            })
            .collect();
        match client
            .delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(output) if !output.failed().is_empty() => {
                tracing::warn!(
                    failed = output.failed().len(),
                    "some processed messages were not deleted; they will be redelivered"
                );
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(
                error = %aws_sdk_sqs::error::DisplayErrorContext(&error),
                "deleting processed messages failed; they will be redelivered"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn message_bodies_round_trip_and_bad_ones_are_typed_errors() {
        let message = OutboxMessage { outbox_id: 123 };
        assert_eq!(message.to_body(), r#"{"outbox_id":123}"#);
        assert_eq!(OutboxMessage::parse(&message.to_body()), Ok(message));
        assert_eq!(
            OutboxMessage::parse(r#" { "outbox_id" : 7 } "#),
            Ok(OutboxMessage { outbox_id: 7 })
        );
        for bad in [
            "",
            "not json",
            "123",
            r#"{"outbox_id":"123"}"#,
            r#"{"outbox_id":1.5}"#,
            r#"{"id":1}"#,
            r#"{"outbox_id":1,"extra":true}"#,
            r#"{"outbox_id":99999999999999999999}"#,
        ] {
            assert!(
                matches!(
                    OutboxMessage::parse(bad),
                    Err(MessageError::Malformed { .. })
                ),
                "{bad:?}"
            );
        }
        assert_eq!(
            OutboxMessage::parse(r#"{"outbox_id":0}"#),
            Err(MessageError::NotPositive(0))
        );
        assert_eq!(
            OutboxMessage::parse(r#"{"outbox_id":-4}"#),
            Err(MessageError::NotPositive(-4))
        );
    }

    #[test]
    fn errors_never_echo_the_body() {
        let secret_looking = r#"{"outbox_id": "jane@example.com"}"#;
        let error = OutboxMessage::parse(secret_looking).unwrap_err();
        assert!(!error.to_string().contains("jane@example.com"), "{error}");
    }

    /// Succeeds the ids in `ok`, fails those in `fail`, ignores the rest; records the calls.
    struct FakeWorker {
        ok: Vec<i64>,
        fail: Vec<i64>,
        calls: Mutex<Vec<Vec<i64>>>,
    }

    impl ProcessOutbox for FakeWorker {
        fn process(&self, outbox_ids: &[i64]) -> impl Future<Output = ProcessReport> + Send {
            self.calls.lock().unwrap().push(outbox_ids.to_vec());
            let report = ProcessReport {
                succeeded: outbox_ids
                    .iter()
                    .copied()
                    .filter(|id| self.ok.contains(id))
                    .collect(),
                failed: outbox_ids
                    .iter()
                    .copied()
                    .filter(|id| self.fail.contains(id))
                    .map(|id| (id, "HubSpot said no".to_owned()))
                    .collect(),
                pushed_customers: 0,
                hubspot_calls: 0,
            };
            async move { report }
        }
    }

    fn event(records: &[(&str, Option<&str>)]) -> SqsEvent {
        let records: Vec<serde_json::Value> = records
            .iter()
            .map(|(id, body)| serde_json::json!({"messageId": id, "body": body}))
            .collect();
        serde_json::from_value(serde_json::json!({ "Records": records })).unwrap()
    }

    fn failures(response: &SqsBatchResponse) -> Vec<&str> {
        response
            .batch_item_failures
            .iter()
            .map(|failure| failure.item_identifier.as_str())
            .collect()
    }

    #[tokio::test]
    async fn only_bad_failed_and_unreported_messages_are_retried() {
        let worker = FakeWorker {
            ok: vec![1, 2],
            fail: vec![3],
            calls: Mutex::default(),
        };
        let response = handle_sqs_batch(
            &worker,
            event(&[
                ("m1", Some(r#"{"outbox_id":1}"#)),
                ("m2", Some("garbage")),
                ("m3", Some(r#"{"outbox_id":3}"#)),
                ("m4", Some(r#"{"outbox_id":2}"#)),
                ("m5", None),
                ("m6", Some(r#"{"outbox_id":4}"#)),
                ("m7", Some(r#"{"outbox_id":1}"#)),
            ]),
        )
        .await;
        assert_eq!(failures(&response), vec!["m2", "m3", "m5", "m6"]);
        // One worker call for the whole batch, each id once, in order.
        assert_eq!(*worker.calls.lock().unwrap(), vec![vec![1, 2, 3, 4]]);
        let json = serde_json::to_value(&response).unwrap();
        assert_eq!(json["batchItemFailures"][0]["itemIdentifier"], "m2");
    }

    #[tokio::test]
    async fn a_batch_of_bad_bodies_never_calls_the_worker() {
        let worker = FakeWorker {
            ok: vec![],
            fail: vec![],
            calls: Mutex::default(),
        };
        let response =
            handle_sqs_batch(&worker, event(&[("a", Some("{}")), ("b", Some("[]"))])).await;
        assert_eq!(failures(&response), vec!["a", "b"]);
        assert!(worker.calls.lock().unwrap().is_empty());
        let empty = handle_sqs_batch(&worker, event(&[])).await;
        assert!(empty.batch_item_failures.is_empty());
    }

    #[tokio::test]
    async fn a_duplicated_failing_id_names_every_message_that_carried_it() {
        let worker = FakeWorker {
            ok: vec![],
            fail: vec![9],
            calls: Mutex::default(),
        };
        let body = Some(r#"{"outbox_id":9}"#);
        let response = handle_sqs_batch(&worker, event(&[("x", body), ("y", body)])).await;
        assert_eq!(failures(&response), vec!["x", "y"]);
    }
}
