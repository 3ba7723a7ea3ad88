//! The sync worker as a Lambda behind an SQS event source (with ReportBatchItemFailures): each
//! batch of outbox-id messages goes through `warp_sync::queue::handle_sqs_batch`, which answers
//! the messages to retry. Configuration, secrets, the database pool and the HubSpot client are
//! built once here, during init, and shared by every invocation.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};
use std::convert::Infallible;
use warp_runtime::{Config, Function, SecretsCache, telemetry};
use warp_sync::{queue, wiring};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    warp_runtime::install_crypto_provider();
    let config = Config::from_env()?;
    telemetry::init(config.log_format);
    let secrets = SecretsCache::for_function(&config, Function::SyncWorker).await;
    let database = wiring::database(&config, &secrets).await?;
    let hubspot = wiring::hubspot_client(&config, &secrets, &database).await?;
    // Each row goes through its portal's worker: the home portal's and every customer's.
    let workers = wiring::portal_workers(&config, &secrets, database, hubspot).await?;
    let worker = &workers;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        tracing::info!(
            request_id = %event.context.request_id,
            cold_start = telemetry::take_cold_start(),
            messages = event.payload.records.len(),
            "sqs batch received"
        );
        // Never an error: failures are per message, in the answer (a whole-batch error would
        // retry the messages that succeeded too).
        Ok::<SqsBatchResponse, Infallible>(queue::handle_sqs_batch(worker, event.payload).await)
    }))
    .await
}
