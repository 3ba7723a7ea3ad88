//! The reconciler Lambda's handler, apart from the binary so fixtures can drive it: an
//! EventBridge scheduled event names its job in its detail, `{"job":"relay"}` (frequent),
//! `{"job":"capture"}` (every minute: queues writes made outside WARP for most of the minute,
//! `"follow_seconds"` long, default [`CAPTURE_FOLLOW`]) or `{"job":"reconcile"}` (daily;
//! `"dry_run": true` only reports). A schedule target whose
//! `Input` is just the detail object (`{"job":"relay"}`, no envelope) is accepted too.

use std::time::Duration;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;
use warp_runtime::metrics::Unit;
use warp_store::outbox::OutboxPublisher;

use crate::engine::Reconciler;
use crate::jobs::{self, FinishedRun};

/// How long the relay job applies leftover webhook events before it moves on.
pub const INBOUND_BUDGET: Duration = Duration::from_secs(20);
/// How long a capture job keeps queueing writes made outside WARP: most of the minute between
/// two schedules, so such a write waits about [`CAPTURE_INTERVAL`], not a minute.
pub const CAPTURE_FOLLOW: Duration = Duration::from_secs(50);
/// The longest follow an event may ask for (the function's timeout is 900 s).
pub const CAPTURE_FOLLOW_MAX: Duration = Duration::from_secs(840);
/// How soon a capture job looks again after a pass found nothing.
pub const CAPTURE_INTERVAL: Duration = Duration::from_secs(1);

/// Which job an event asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Relay,
    Capture {
        follow: Duration,
    },
    /// `full`: every record whatever the last runs were (`"mode": "full"`); otherwise the
    /// schedule's choice, incremental with a full run at least weekly.
    Reconcile {
        dry_run: bool,
        full: bool,
    },
    /// The daily usage push (month-to-date figures, MRR, payment status on each company).
    UsagePush,
}

/// Why an event cannot be handled; the Lambda reports it as the invocation's error type.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JobError {
    #[error(
        "the event names no job: expected detail {{\"job\": \"relay\" | \"capture\" | \"reconcile\" | \"usage_push\"}}"
    )]
    NoJob,
    #[error("unknown job {0:?}: expected \"relay\", \"capture\", \"reconcile\" or \"usage_push\"")]
    UnknownJob(String),
    #[error("dry_run must be true or false")]
    InvalidDryRun,
    #[error("mode must be \"auto\" or \"full\"")]
    InvalidMode,
    #[error("follow_seconds must be a whole number from 0 to 840")]
    InvalidFollow,
    #[error("the reconciliation could not be recorded: {0}")]
    Store(String),
}

impl JobError {
    /// The `errorType` Lambda reports.
    pub fn error_type(&self) -> &'static str {
        match self {
            JobError::NoJob
            | JobError::UnknownJob(_)
            | JobError::InvalidDryRun
            | JobError::InvalidMode
            | JobError::InvalidFollow => "InvalidEvent",
            JobError::Store(_) => "StoreUnavailable",
        }
    }
}

/// The job an event asks for: its `detail` (an EventBridge envelope) or the object itself.
pub fn job_of(event: &Value) -> Result<Job, JobError> {
    let detail = match serde_json::from_value::<EventBridgeEvent<Value>>(event.clone()) {
        Ok(envelope) => envelope.detail,
        Err(_) => event.clone(),
    };
    let job = detail
        .get("job")
        .and_then(Value::as_str)
        .ok_or(JobError::NoJob)?;
    match job {
        "relay" => Ok(Job::Relay),
        "capture" => match detail.get("follow_seconds") {
            None | Some(Value::Null) => Ok(Job::Capture {
                follow: CAPTURE_FOLLOW,
            }),
            Some(seconds) => seconds
                .as_u64()
                .map(Duration::from_secs)
                .filter(|follow| *follow <= CAPTURE_FOLLOW_MAX)
                .map(|follow| Job::Capture { follow })
                .ok_or(JobError::InvalidFollow),
        },
        "reconcile" => {
            let dry_run = match detail.get("dry_run") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(dry_run)) => *dry_run,
                Some(_) => return Err(JobError::InvalidDryRun),
            };
            let full = match detail.get("mode") {
                None | Some(Value::Null) => false,
                Some(Value::String(mode)) if mode == "auto" => false,
                Some(Value::String(mode)) if mode == "full" => true,
                Some(_) => return Err(JobError::InvalidMode),
            };
            Ok(Job::Reconcile { dry_run, full })
        }
        "usage_push" => Ok(Job::UsagePush),
        other => Err(JobError::UnknownJob(other.to_owned())),
    }
}

/// What an invocation did (its answer, and a log line).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct JobSummary {
    pub job: &'static str,
    /// Companies the usage push wrote (a `usage_push` job).
    pub usage_companies_written: i64,
    pub relayed: usize,
    /// Outbox rows queued for writes made outside WARP (change capture).
    pub captured: usize,
    pub inbound_processed: u64,
    pub inbound_left_for_retry: u64,
    /// Events the Webhooks Journal had that push had not delivered, stored by this job.
    pub journal_events_recovered: u64,
    /// The oldest journal offset's age after this job's poll (seconds since a poll last caught
    /// up); `None` when no installation has the backstop on, or no poller runs.
    pub journal_offset_age_seconds: Option<i64>,
    /// Webhook events that failed their last attempt and wait for a person (alarmed on);
    /// `None` when the relay job could not count them (no figure is sent then, not a 0).
    pub webhook_events_failed: Option<i64>,
    pub abandoned_runs: u64,
    /// Won-deal onboardings finished, and parked for a person, by this job.
    pub onboardings_done: usize,
    pub onboardings_parked: usize,
    /// Imports from HubSpot this job took to the end.
    pub imports_finished: usize,
    /// The deal import a repairing reconciliation queued (the deal reconciliation).
    pub deal_import: Option<Uuid>,
    pub runs: Vec<RunSummary>,
    /// A full reconciliation skipped because another run of the portal was executing.
    pub skipped_busy: bool,
    pub errors: Vec<String>,
    /// The relay job's figures of the whole sync (printed as metrics, not answered).
    #[serde(skip)]
    pub figures: Option<warp_store::sync_metrics::SyncFigures>,
}

impl JobSummary {
    /// The job's figures as CloudWatch metrics (the reconciler prints them as an EMF line).
    pub fn metrics(&self) -> Vec<(&'static str, f64, Unit)> {
        let mut metrics = vec![
            ("OutboxRowsRelayed", self.relayed as f64, Unit::Count),
            ("ChangesCaptured", self.captured as f64, Unit::Count),
            (
                "WebhookEventsApplied",
                self.inbound_processed as f64,
                Unit::Count,
            ),
            ("OnboardingsDone", self.onboardings_done as f64, Unit::Count),
            (
                "OnboardingsParked",
                self.onboardings_parked as f64,
                Unit::Count,
            ),
            ("ImportsFinished", self.imports_finished as f64, Unit::Count),
            ("JobErrors", self.errors.len() as f64, Unit::Count),
        ];
        if self.job == "relay" {
            metrics.push((
                "JournalEventsRecovered",
                self.journal_events_recovered as f64,
                Unit::Count,
            ));
        }
        if let Some(age) = self.journal_offset_age_seconds {
            metrics.push(("JournalOffsetAge", age as f64, Unit::Seconds));
        }
        if let Some(failed) = self.webhook_events_failed {
            metrics.push(("WebhookEventsFailed", failed as f64, Unit::Count));
        }
        if !self.runs.is_empty() {
            let (found, fixed) = self.runs.iter().fold((0, 0), |(found, fixed), run| {
                (found + run.drift_found, fixed + run.drift_fixed)
            });
            metrics.push(("DriftFound", found as f64, Unit::Count));
            metrics.push(("DriftFixed", fixed as f64, Unit::Count));
        }
        metrics
    }

    /// Every EMF line the invocation prints at `timestamp_ms`: the job's own figures under
    /// `Function`, then the sync's ([`crate::metrics::figure_lines`]).
    pub fn metric_lines(&self, timestamp_ms: i64) -> Vec<String> {
        let mut lines = vec![warp_runtime::metrics::emf_line(
            &[("Function", "reconciler".to_owned())],
            &self.metrics(),
            timestamp_ms,
        )];
        if let Some(figures) = &self.figures {
            lines.extend(crate::metrics::figure_lines(figures, timestamp_ms));
        }
        lines
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    pub id: Uuid,
    pub dry_run: bool,
    /// False when the run failed or got to the end with errors (`completed_with_errors`).
    pub succeeded: bool,
    pub drift_found: u64,
    pub drift_fixed: u64,
    pub errors: u64,
}

impl From<&FinishedRun> for RunSummary {
    fn from(run: &FinishedRun) -> Self {
        RunSummary {
            id: run.id,
            dry_run: run.dry_run,
            succeeded: run.succeeded(),
            drift_found: run.report.as_ref().map_or(0, |r| r.drift_found),
            drift_fixed: run.report.as_ref().map_or(0, |r| r.drift_fixed),
            errors: run.report.as_ref().map_or(0, |r| r.errors),
        }
    }
}

/// Handles one scheduled event.
pub async fn handle_scheduled_event(
    reconciler: &Reconciler,
    publisher: &dyn OutboxPublisher,
    event: &Value,
) -> Result<JobSummary, JobError> {
    match job_of(event)? {
        Job::Relay => {
            let report = jobs::relay_job(reconciler, publisher, INBOUND_BUDGET).await;
            Ok(JobSummary {
                job: "relay",
                relayed: report.relayed,
                captured: report.captured,
                inbound_processed: report.inbound.processed,
                inbound_left_for_retry: report.inbound.retry_later,
                journal_events_recovered: report.journal.map_or(0, |j| j.events_recovered),
                journal_offset_age_seconds: report
                    .journal
                    .filter(|j| j.installations > 0)
                    .map(|j| j.max_offset_age_seconds),
                webhook_events_failed: report.webhook_events_failed,
                abandoned_runs: report.abandoned_runs,
                onboardings_done: report.onboardings.done,
                onboardings_parked: report.onboardings.parked,
                imports_finished: report
                    .imports
                    .iter()
                    .filter(|end| matches!(end, crate::ImportEnd::Finished(_)))
                    .count(),
                runs: report.runs.iter().map(RunSummary::from).collect(),
                errors: report.errors,
                figures: report.figures,
                ..JobSummary::default()
            })
        }
        Job::Capture { follow } => Ok(JobSummary {
            job: "capture",
            captured: warp_sync::capture::follow(
                &reconciler.database,
                reconciler.portal_id,
                publisher,
                CAPTURE_INTERVAL,
                tokio::time::sleep(follow),
            )
            .await,
            ..JobSummary::default()
        }),
        Job::UsagePush => {
            let push = warp_sync::usage_push::UsagePush::new(
                reconciler.database.clone(),
                reconciler.hubspot.clone(),
                reconciler.portal_id,
            )
            .with_daily_note(reconciler.usage_daily_note);
            let report = push
                .run(chrono::Utc::now().date_naive())
                .await
                .map_err(|error| JobError::Store(error.to_string()))?;
            Ok(JobSummary {
                job: "usage_push",
                usage_companies_written: report.companies_written,
                ..JobSummary::default()
            })
        }
        Job::Reconcile { dry_run, full } => {
            let finished = jobs::reconcile_scheduled(reconciler, dry_run, full, "schedule")
                .await
                .map_err(|error| JobError::Store(error.to_string()))?;
            // Deals have no WARP side to compare: their reconciliation is an import of every
            // deal, which the relay jobs run (won deals whose webhooks were lost get onboarded).
            let deal_import = if dry_run {
                None
            } else {
                jobs::queue_deal_import(reconciler)
                    .await
                    .map_err(|error| JobError::Store(error.to_string()))?
            };
            Ok(JobSummary {
                job: "reconcile",
                deal_import,
                skipped_busy: finished.is_none(),
                runs: finished.iter().map(RunSummary::from).collect(),
                errors: finished
                    .iter()
                    .filter_map(|run| run.error.clone())
                    .collect(),
                ..JobSummary::default()
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_detail_names_the_job() {
        let envelope = |detail: Value| {
            json!({"version": "0", "id": "1", "detail-type": "Scheduled Event",
                   "source": "aws.events", "detail": detail})
        };
        assert_eq!(job_of(&envelope(json!({"job": "relay"}))), Ok(Job::Relay));
        assert_eq!(job_of(&json!({"job": "usage_push"})), Ok(Job::UsagePush));
        assert_eq!(
            job_of(&envelope(json!({"job": "reconcile"}))),
            Ok(Job::Reconcile {
                dry_run: false,
                full: false
            })
        );
        assert_eq!(
            job_of(&json!({"job": "reconcile", "dry_run": true})),
            Ok(Job::Reconcile {
                dry_run: true,
                full: false
            })
        );
        assert_eq!(job_of(&envelope(json!({}))), Err(JobError::NoJob));
        assert_eq!(
            job_of(&envelope(json!({"job": "sweep"}))),
            Err(JobError::UnknownJob("sweep".into()))
        );
        assert_eq!(
            job_of(&json!({"job": "reconcile", "dry_run": "yes"})),
            Err(JobError::InvalidDryRun)
        );
        assert_eq!(
            job_of(&json!({"job": "reconcile", "mode": "full"})),
            Ok(Job::Reconcile {
                dry_run: false,
                full: true
            })
        );
        assert_eq!(
            job_of(&json!({"job": "reconcile", "mode": "sometimes"})),
            Err(JobError::InvalidMode)
        );
        assert_eq!(job_of(&json!([1])), Err(JobError::NoJob));
        assert_eq!(
            job_of(&envelope(json!({"job": "capture"}))),
            Ok(Job::Capture {
                follow: CAPTURE_FOLLOW
            })
        );
        assert_eq!(
            job_of(&json!({"job": "capture", "follow_seconds": 0})),
            Ok(Job::Capture {
                follow: Duration::ZERO
            })
        );
        for invalid in [json!(-1), json!(841), json!(1.5), json!("50")] {
            assert_eq!(
                job_of(&json!({"job": "capture", "follow_seconds": invalid})),
                Err(JobError::InvalidFollow),
                "{invalid}"
            );
        }
    }
}

#[cfg(test)]
mod journal_metrics {
    use super::*;

    #[test]
    fn the_relay_job_line_carries_the_journal_figures_only_where_there_are_some() {
        let line = |summary: &JobSummary| -> Value {
            serde_json::from_str(&summary.metric_lines(0)[0]).expect("an EMF line")
        };
        let with_backstop = JobSummary {
            job: "relay",
            journal_events_recovered: 3,
            journal_offset_age_seconds: Some(42),
            ..JobSummary::default()
        };
        let emitted = line(&with_backstop);
        assert_eq!(emitted["JournalEventsRecovered"], 3.0);
        assert_eq!(emitted["JournalOffsetAge"], 42.0);
        // No installation with the backstop on: no age (a 0 would hide a stopped poller).
        let without = line(&JobSummary {
            job: "relay",
            ..JobSummary::default()
        });
        assert_eq!(without["JournalEventsRecovered"], 0.0);
        assert!(without.get("JournalOffsetAge").is_none(), "{without}");
        // Other jobs say nothing of the journal.
        let capture = line(&JobSummary {
            job: "capture",
            ..JobSummary::default()
        });
        assert!(capture.get("JournalEventsRecovered").is_none(), "{capture}");
    }
}

#[cfg(test)]
mod dashboard {
    use super::*;

    /// The dashboard's body in template.yaml, `${…}` substitutions made plain strings.
    fn dashboard_body() -> Value {
        let template = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml"),
        )
        .expect("template.yaml");
        let mut lines = template
            .lines()
            .skip_while(|line| !line.trim_start().starts_with("DashboardBody: !Sub |"))
            .skip(1);
        let first = lines.next().expect("the dashboard body");
        let indent = first.len() - first.trim_start().len();
        let mut body = first.trim_start().to_owned();
        for line in lines {
            if !line.trim().is_empty() && line.len() - line.trim_start().len() < indent {
                break;
            }
            body.push('\n');
            body.push_str(line.get(indent..).unwrap_or_default());
        }
        let mut plain = String::new();
        let mut rest = body.as_str();
        while let Some(start) = rest.find("${") {
            plain.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("a closed substitution") + start;
            plain.push('x');
            rest = &rest[end + 1..];
        }
        plain.push_str(rest);
        serde_json::from_str(&plain).expect("the dashboard body is JSON")
    }

    #[test]
    fn every_warp_metric_the_dashboard_draws_is_one_the_reconciler_emits() {
        let everything = JobSummary {
            job: "relay",
            journal_offset_age_seconds: Some(1),
            webhook_events_failed: Some(1),
            runs: vec![RunSummary {
                id: Uuid::nil(),
                dry_run: false,
                succeeded: true,
                drift_found: 1,
                drift_fixed: 1,
                errors: 0,
            }],
            ..JobSummary::default()
        };
        let emitted: Vec<&str> = everything.metrics().iter().map(|m| m.0).collect();
        let body = dashboard_body();
        let (mut drawn, mut drawn_rolled_up) = (Vec::new(), Vec::new());
        for widget in body["widgets"].as_array().expect("widgets") {
            for metric in widget["properties"]["metrics"].as_array().expect("metrics") {
                // The stack's own namespace, `WARP/${AWS::StackName}` (substituted as `WARP/x`).
                if metric[0] != "WARP/x" {
                    assert!(
                        metric[0].as_str().is_some_and(|ns| ns.starts_with("AWS/")),
                        "a metric outside AWS's and the stack's namespaces: {metric}"
                    );
                    continue;
                }
                let name = metric[1].as_str().expect("a metric name").to_owned();
                // The job's own figures are drawn under Function; the sync's rolled up.
                if metric.get(2).is_some_and(|d| d == "Function") {
                    assert_eq!(metric[3], "reconciler", "{metric}");
                    drawn.push(name);
                } else {
                    assert!(metric.get(2).is_none_or(Value::is_object), "{metric}");
                    drawn_rolled_up.push(name);
                }
            }
        }
        assert!(drawn.len() >= 5, "{drawn:?}");
        assert!(drawn_rolled_up.len() >= 5, "{drawn_rolled_up:?}");
        for name in &drawn {
            assert!(
                emitted.contains(&name.as_str()),
                "{name} is drawn but never emitted"
            );
        }
        for name in &drawn_rolled_up {
            assert!(
                crate::metrics::FIGURE_METRICS.contains(&name.as_str()),
                "{name} is drawn but never emitted"
            );
        }
        // The alarms on the sync's figures read metrics the relay job prints.
        let template = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml"),
        )
        .expect("template.yaml");
        for alarmed in [
            "OutboxOldestWait",
            "RecordsPushed",
            "RecordsFailed",
            "WebhookApplyLagP95",
            "InstallationsNeedingReconnect",
        ] {
            assert!(
                template.contains(&format!("MetricName: {alarmed}")),
                "{alarmed} has no alarm"
            );
            assert!(crate::metrics::FIGURE_METRICS.contains(&alarmed));
        }
    }
}
