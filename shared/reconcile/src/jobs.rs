//! The reconciler's jobs, shared by the Lambda (EventBridge schedules) and `warp dev`/`warp
//! reconcile`, each run recorded in `hubspot_reconciliation_runs`:
//!
//! - [`relay_job`], frequent: re-publish stuck outbox rows ([`warp_sync::relay`]), apply
//!   webhook events the webhook function's inline budget left RECEIVED, run due won-deal
//!   onboardings ([`warp_sync::onboarding`]), execute runs requested through the API, and
//!   advance imports from HubSpot ([`crate::import`]) within [`IMPORT_BUDGET`], and read the
//!   Webhooks Journal for what push did not deliver ([`warp_webhook::journal`]).
//! - [`reconcile_scheduled`], daily: an incremental run (what changed since the last successful
//!   run), full at least weekly; [`reconcile_now`], on demand: one full run.

use std::time::Duration;

use uuid::Uuid;
use warp_store::StoreError;
use warp_store::outbox::OutboxPublisher;
use warp_store::reconciliation_runs::{self as runs, ClaimedRun, RunOutcome};
use warp_webhook::InboundReport;

use crate::engine::{ProgressFn, Reconciler};
use crate::incremental::RunMode;
use crate::report::{DriftReport, ServiceObjectsTally, Tally};

/// Outbox rows unpublished (or unfinished) this long are re-published by the relay; the API
/// publishes right after its commit, so younger rows are left to it.
pub const RELAY_AFTER: Duration = Duration::from_secs(30);
/// Rows re-published per relay job.
pub const RELAY_BATCH: usize = 1_000;
/// Webhook events applied per transaction by the relay job.
pub const INBOUND_BATCH: u32 = 100;
/// An executing run silent this long died with its process: it is failed, freeing the portal.
pub const ABANDONED_AFTER: Duration = Duration::from_secs(10 * 60);
/// Requested runs one relay job executes at most (the next job takes the rest).
pub const RUNS_PER_JOB: usize = 3;
/// Won-deal onboardings one relay job runs at most (a handful of HubSpot calls each), and
/// the time after which it claims no more.
pub const ONBOARDINGS_PER_JOB: usize = 50;
pub const ONBOARDING_BUDGET: Duration = Duration::from_secs(60);
/// Finished calls (and, apart, account events) one frequent job writes at most, in passes of
/// 100...
pub const CALLS_PER_JOB: usize = 5_000;
/// ...within this long (the next job goes on).
pub const CALLS_BUDGET: Duration = Duration::from_secs(60);
/// Open tickets whose stage one frequent job reads back at most (one batch read per 100).
pub const TICKET_CHECKS_PER_JOB: usize = 1_000;
/// How long one relay job advances imports (the Lambda's timeout is 900 s); an import not
/// finished by then waits at its cursor for the next job.
pub const IMPORT_BUDGET: Duration = Duration::from_secs(300);
/// How long one relay job reads the Webhooks Journal; what is left waits for the next job
/// (the offset's age grows meanwhile, and the alarm watches it).
pub const JOURNAL_BUDGET: Duration = Duration::from_secs(30);
/// Audit entries one relay job deletes at most (a backlog goes in steps).
pub const AUDIT_PURGE_BATCH: i64 = 10_000;

/// A run that was executed, and how it ended.
#[derive(Debug, Clone)]
pub struct FinishedRun {
    pub id: Uuid,
    pub dry_run: bool,
    /// The report when the run got to the end.
    pub report: Option<DriftReport>,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

impl FinishedRun {
    /// How the run ended, as recorded: a run that got to the end with errors has not
    /// succeeded.
    pub fn outcome(&self) -> RunOutcome {
        match (&self.error, &self.report) {
            (Some(_), _) | (None, None) => RunOutcome::Failed,
            (None, Some(report)) => RunOutcome::finished_with(report.errors),
        }
    }

    pub fn succeeded(&self) -> bool {
        self.outcome() == RunOutcome::Succeeded
    }
}

/// What one relay job did.
#[derive(Debug, Clone, Default)]
pub struct RelayReport {
    pub relayed: usize,
    /// Outbox rows queued for writes made outside WARP that the capture schedule left (one
    /// pass: a backstop for when that schedule is off or failing).
    pub captured: usize,
    pub inbound: InboundReport,
    /// What the Webhooks Journal poll did; `None` without a poller.
    pub journal: Option<warp_webhook::JournalReport>,
    pub onboardings: warp_sync::onboarding::OnboardingReport,
    /// What logging finished calls did; `None` without a call logger.
    pub calls: Option<warp_sync::call_log::CallLogReport>,
    /// What noting account events did; `None` without a logger.
    pub account_events: Option<warp_sync::work_items::WriteReport>,
    /// What writing ticket alerts did, and how many open tickets' stages were read back.
    pub tickets: Option<(
        warp_sync::work_items::WriteReport,
        warp_sync::support_tickets::CheckReport,
    )>,
    /// What pushing trunks and numbers did; `None` without a desk.
    pub services: Option<warp_sync::service_objects::PushReport>,
    /// Webhook events that failed their last attempt and wait for a person (the alarm's
    /// gauge), counted after this job's processing; `None` when they could not be counted.
    pub webhook_events_failed: Option<i64>,
    /// Audit entries older than the retention period deleted by this job.
    pub audit_entries_purged: u64,
    pub abandoned_runs: u64,
    pub runs: Vec<FinishedRun>,
    /// How each import this job advanced ended (finished, paused at its cursor, ...).
    pub imports: Vec<crate::ImportEnd>,
    /// The sync's figures since the last job (CloudWatch metrics); `None` when they could not
    /// be taken.
    pub figures: Option<warp_store::sync_metrics::SyncFigures>,
    /// Steps that failed (each logged); the other steps still ran.
    pub errors: Vec<String>,
}

/// The frequent job: relay, leftover events within `inbound_budget`, onboardings, requested
/// runs.
pub async fn relay_job(
    reconciler: &Reconciler,
    publisher: &dyn OutboxPublisher,
    inbound_budget: Duration,
) -> RelayReport {
    let mut report = RelayReport::default();
    match warp_sync::capture::capture_once(&reconciler.database, reconciler.portal_id, publisher)
        .await
    {
        Ok(captured) => report.captured = captured,
        Err(error) => report.errors.push(format!("change capture: {error}")),
    }
    match warp_sync::relay::relay_once(&reconciler.database, publisher, RELAY_AFTER, RELAY_BATCH)
        .await
    {
        Ok(relayed) => report.relayed = relayed,
        Err(error) => report.errors.push(format!("relay: {error}")),
    }
    // Before the inbound step, so what the journal recovers is applied in the same job.
    if let Some(journal) = &reconciler.journal {
        match journal.poll(JOURNAL_BUDGET).await {
            Ok(polled) => report.journal = Some(polled),
            Err(error) => report.errors.push(format!("webhooks journal: {error}")),
        }
    }
    report.inbound = reconciler
        .inbound
        .process_within(inbound_budget, INBOUND_BATCH)
        .await;
    match reconciler.database.client().await {
        Ok(client) => match warp_store::webhook_events::failed_for_good(&**client).await {
            Ok(failed) => report.webhook_events_failed = Some(failed),
            Err(error) => report
                .errors
                .push(format!("failed webhook events: {error}")),
        },
        Err(error) => report
            .errors
            .push(format!("failed webhook events: {error}")),
    }
    if let Some(runner) = reconciler.onboarding_runner() {
        match runner
            .run_due_within(ONBOARDINGS_PER_JOB, ONBOARDING_BUDGET)
            .await
        {
            Ok(onboardings) => report.onboardings = onboardings,
            Err(error) => report.errors.push(format!("onboardings: {error}")),
        }
    }
    if let Some(calls) = &reconciler.calls {
        match calls.log_due_within(CALLS_PER_JOB, CALLS_BUDGET).await {
            Ok(logged) => report.calls = Some(logged),
            Err(error) => report.errors.push(format!("calls: {error}")),
        }
    }
    if let Some(events) = &reconciler.account_events {
        match events.log_due_within(CALLS_PER_JOB, CALLS_BUDGET).await {
            Ok(noted) => report.account_events = Some(noted),
            Err(error) => report.errors.push(format!("account events: {error}")),
        }
    }
    if let Some(desk) = &reconciler.tickets {
        let written = desk.write_due_within(CALLS_PER_JOB, CALLS_BUDGET).await;
        let checked = desk.check_open(TICKET_CHECKS_PER_JOB).await;
        match (written, checked) {
            (Ok(written), Ok(checked)) => report.tickets = Some((written, checked)),
            (Err(error), _) | (_, Err(error)) => {
                report.errors.push(format!("support tickets: {error}"))
            }
        }
    }
    if let Some(desk) = &reconciler.services {
        match desk.push().await {
            Ok(pushed) => report.services = Some(pushed),
            Err(error) => report.errors.push(format!("trunks and numbers: {error}")),
        }
    }
    match warp_store::audit::purge(
        &reconciler.database,
        reconciler.audit_retention,
        AUDIT_PURGE_BATCH,
    )
    .await
    {
        Ok(purged) => report.audit_entries_purged = purged,
        Err(error) => report.errors.push(format!("audit purge: {error}")),
    }
    match run_requested(reconciler, None).await {
        Ok((abandoned, finished)) => {
            report.abandoned_runs = abandoned;
            report.runs = finished;
        }
        Err(error) => report.errors.push(format!("requested runs: {error}")),
    }
    match reconciler.run_due_imports(IMPORT_BUDGET).await {
        Ok(imports) => report.imports = imports,
        Err(error) => report.errors.push(format!("imports: {error}")),
    }
    let max_attempts = warp_store::outbox::RetryPolicy::default().max_attempts;
    match warp_store::sync_metrics::take(&reconciler.database, max_attempts).await {
        Ok(figures) => report.figures = Some(figures),
        Err(error) => report.errors.push(format!("metrics: {error}")),
    }
    for error in &report.errors {
        tracing::warn!(%error, "relay job step failed");
    }
    report
}

/// Queues an import of every deal (the daily deal reconciliation), or finds the one queued or
/// running; returns its id. `None` when the unfinished one is a dry run (a person's: today's
/// reconciliation of deals waits for it to end).
pub async fn queue_deal_import(reconciler: &Reconciler) -> Result<Option<Uuid>, StoreError> {
    use warp_store::imports::{self, Requested};
    let requested = imports::request(
        &reconciler.database,
        reconciler.portal_id,
        warp_domain::import::ImportObject::Deals,
        false,
        "schedule",
    )
    .await?;
    Ok(match requested {
        Requested::Existing(import) if import.dry_run => {
            tracing::warn!(import_id = %import.id, "a dry-run deal import is unfinished; the deal reconciliation waits for it");
            None
        }
        Requested::New(import) | Requested::Existing(import) => Some(import.id),
    })
}

/// Fails abandoned runs, then executes up to [`RUNS_PER_JOB`] requested runs, oldest first;
/// returns (runs failed as abandoned, runs executed).
pub async fn run_requested(
    reconciler: &Reconciler,
    progress: Option<&ProgressFn>,
) -> Result<(u64, Vec<FinishedRun>), StoreError> {
    let abandoned =
        runs::fail_abandoned(&reconciler.database, reconciler.portal_id, ABANDONED_AFTER).await?;
    let mut finished = Vec::new();
    while finished.len() < RUNS_PER_JOB {
        let Some(claimed) = runs::claim_next(&reconciler.database, reconciler.portal_id).await?
        else {
            break;
        };
        finished.push(execute(reconciler, claimed, progress).await);
    }
    Ok((abandoned, finished))
}

/// Starts and executes a full run now; `None` when a run of this portal is executing already.
pub async fn reconcile_now(
    reconciler: &Reconciler,
    dry_run: bool,
    requested_by: &str,
    progress: Option<&ProgressFn>,
) -> Result<Option<FinishedRun>, StoreError> {
    reconcile_in_mode(reconciler, RunMode::Full, dry_run, requested_by, progress).await
}

/// The scheduled run: incremental from the last successful run, full at least weekly
/// ([`crate::incremental::scheduled_mode`]), or full when `force_full`.
pub async fn reconcile_scheduled(
    reconciler: &Reconciler,
    dry_run: bool,
    force_full: bool,
    requested_by: &str,
) -> Result<Option<FinishedRun>, StoreError> {
    let mode = if force_full {
        RunMode::Full
    } else {
        reconciler.scheduled_mode().await?
    };
    reconcile_in_mode(reconciler, mode, dry_run, requested_by, None).await
}

/// Starts and executes a run of `mode` now; `None` when a run of this portal is executing.
pub async fn reconcile_in_mode(
    reconciler: &Reconciler,
    mode: RunMode,
    dry_run: bool,
    requested_by: &str,
    progress: Option<&ProgressFn>,
) -> Result<Option<FinishedRun>, StoreError> {
    runs::fail_abandoned(&reconciler.database, reconciler.portal_id, ABANDONED_AFTER).await?;
    let Some(claimed) = runs::start(
        &reconciler.database,
        reconciler.portal_id,
        dry_run,
        requested_by,
    )
    .await?
    else {
        tracing::info!("a reconciliation is executing already; this one is skipped");
        return Ok(None);
    };
    if let RunMode::Incremental { since } = mode
        && let Err(error) = runs::mark_incremental(&reconciler.database, claimed.id, since).await
    {
        // Not left running: it would hold the portal's one executing run until abandoned.
        let json = serde_json::json!({ "error": error.to_string() });
        runs::finish(
            &reconciler.database,
            claimed.id,
            RunOutcome::Failed,
            &Default::default(),
            &json,
        )
        .await?;
        return Err(error);
    }
    Ok(Some(
        execute_in_mode(reconciler, claimed, mode, progress).await,
    ))
}

/// Trunks and numbers are WARP's alone: the run reads their records back, and what HubSpot
/// holds otherwise goes back (a dry run only counts it). Part of every run's drift.
async fn read_back_services(reconciler: &Reconciler, dry_run: bool, report: &mut DriftReport) {
    let Some(desk) = &reconciler.services else {
        return;
    };
    match desk.check(dry_run).await {
        Ok(checked) => {
            tracing::info!(
                read = checked.read,
                overridden = checked.overridden,
                deleted = checked.deleted,
                "trunks and numbers read back"
            );
            report.hubspot_requests += checked.requests as u64;
            if checked.read > 0 || checked.deleted > 0 {
                let overridden = checked.overridden as u64;
                report.add_service_objects(ServiceObjectsTally {
                    read: checked.read as u64,
                    overridden: Tally {
                        found: overridden,
                        fixed: if dry_run { 0 } else { overridden },
                    },
                    deleted_in_hubspot: checked.deleted as u64,
                });
            }
        }
        Err(error) => {
            tracing::warn!(%error, "reading trunks and numbers back failed");
            report.errors += 1;
            report
                .error_reasons
                .push(format!("trunks and numbers read-back: {error}"));
        }
    }
}

/// Executes a claimed full run (one requested through the API) and records how it ended.
pub async fn execute(
    reconciler: &Reconciler,
    claimed: ClaimedRun,
    progress: Option<&ProgressFn>,
) -> FinishedRun {
    execute_in_mode(reconciler, claimed, RunMode::Full, progress).await
}

/// Executes a claimed run of `mode` and records how it ended (a failure to record is logged:
/// the heartbeat check fails the run later).
async fn execute_in_mode(
    reconciler: &Reconciler,
    claimed: ClaimedRun,
    mode: RunMode,
    progress: Option<&ProgressFn>,
) -> FinishedRun {
    tracing::info!(run_id = %claimed.id, dry_run = claimed.dry_run, ?mode, "reconciliation started");
    let outcome = match mode {
        RunMode::Full => {
            reconciler
                .run(Some(claimed.id), claimed.dry_run, progress)
                .await
        }
        RunMode::Incremental { since } => {
            reconciler
                .run_incremental(Some(claimed.id), claimed.dry_run, since, progress)
                .await
        }
    };
    let outcome = match outcome {
        Ok(mut report) => {
            read_back_services(reconciler, claimed.dry_run, &mut report).await;
            Ok(report)
        }
        failed => failed,
    };
    let (finished, status, counts, json) = match outcome {
        Ok(report) => {
            let counts = report.counts();
            let json = report.to_json();
            let outcome = RunOutcome::finished_with(report.errors);
            if outcome != RunOutcome::Succeeded {
                tracing::warn!(run_id = %claimed.id, errors = report.errors, "reconciliation completed with errors");
            }
            (
                FinishedRun {
                    id: claimed.id,
                    dry_run: claimed.dry_run,
                    report: Some(report),
                    error: None,
                },
                outcome,
                counts,
                json,
            )
        }
        Err(error) => {
            let reason = error.to_string();
            tracing::error!(run_id = %claimed.id, error = %reason, "reconciliation failed");
            (
                FinishedRun {
                    id: claimed.id,
                    dry_run: claimed.dry_run,
                    report: None,
                    error: Some(reason.clone()),
                },
                RunOutcome::Failed,
                Default::default(),
                serde_json::json!({ "dry_run": claimed.dry_run, "error": reason }),
            )
        }
    };
    if let Err(error) = runs::finish(&reconciler.database, claimed.id, status, &counts, &json).await
    {
        tracing::error!(run_id = %claimed.id, %error, "could not record the end of the run");
    }
    finished
}
