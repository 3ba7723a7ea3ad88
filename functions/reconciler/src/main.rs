//! The reconciler as a Lambda behind EventBridge schedules: `{"job":"relay"}` every minute or
//! so (re-publish stuck outbox rows to SQS, apply webhook events left RECEIVED, execute runs
//! requested through the API) and `{"job":"reconcile"}` daily (a full reconciliation). The
//! handler is `warp_reconcile::schedule::handle_scheduled_event`; configuration, secrets, the
//! database pool, the HubSpot client and the SQS publisher are built once, during init.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use std::sync::Arc;
use warp_reconcile::schedule::{self, JobError, JobSummary};
use warp_runtime::{Config, Function, SecretsCache, telemetry};
use warp_store::outbox::{NoopPublisher, OutboxPublisher};
use warp_sync::queue::SqsPublisher;
use warp_sync::wiring;

/// An invalid event or an unreachable store, with a meaningful `errorType`.
#[derive(Debug)]
struct Failure(JobError);

impl From<Failure> for Diagnostic {
    fn from(failure: Failure) -> Diagnostic {
        Diagnostic {
            error_type: failure.0.error_type().to_owned(),
            error_message: failure.0.to_string(),
        }
    }
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    warp_runtime::install_crypto_provider();
    let config = Config::from_env()?;
    telemetry::init(config.log_format);
    warp_runtime::metrics::use_namespace(&config.metrics_namespace);
    let secrets = SecretsCache::for_function(&config, Function::Reconciler).await;
    let database = wiring::database(&config, &secrets).await?;
    let publisher: Arc<dyn OutboxPublisher> = match config.sqs_queue_url {
        Some(_) => {
            let (client, queue_url) = wiring::sqs_queue(&config).await?;
            Arc::new(SqsPublisher::new(client, queue_url).marking_published_in(database.clone()))
        }
        None => Arc::new(NoopPublisher),
    };
    let reconciler = warp_reconcile::wiring::reconciler(
        &config,
        &secrets,
        database,
        Some(Arc::clone(&publisher)),
    )
    .await?;
    let (reconciler, publisher) = (&reconciler, publisher.as_ref());
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            tracing::info!(
                request_id = %event.context.request_id,
                cold_start = telemetry::take_cold_start(),
                "scheduled event received"
            );
            let summary: JobSummary =
                schedule::handle_scheduled_event(reconciler, publisher, &event.payload)
                    .await
                    .map_err(Failure)?;
            tracing::info!(
                job = summary.job,
                relayed = summary.relayed,
                runs = summary.runs.len(),
                "job done"
            );
            warp_runtime::metrics::print_lines(
                &summary.metric_lines(warp_runtime::metrics::now_ms()),
            );
            Ok::<JobSummary, Failure>(summary)
        },
    ))
    .await
}
