//! Reconciliation (DESIGN §1 `reconciler`, guarantee 6): after any mix of faults (dropped
//! webhooks, lost pushes, merges and deletions in HubSpot), compare every customer with
//! HubSpot and repair the drift by the same field rules as live sync, so the two converge.
//!
//! - [`engine`]: the full run (both sides streamed, bounded memory, history only where it
//!   decides something, repairs through the inbound processor and the outbox).
//! - [`incremental`]: the daily run over what changed since the last successful one.
//! - [`report`]: what a run found and fixed, by kind and field, stored with the run.
//! - [`jobs`]: what the schedules and the local timers run: the frequent relay job (stuck
//!   outbox rows, leftover webhook events, requested runs) and the full reconciliation, each
//!   recorded in `hubspot_reconciliation_runs`.
//! - [`schedule`]: the Lambda handler: which job an EventBridge event asks for.
//! - [`wiring`]: a reconciler built from the runtime configuration.

mod associations;
pub mod engine;
pub mod import;
pub mod incremental;
pub mod jobs;
pub mod metrics;
mod records;
pub mod report;
pub mod schedule;
pub mod wiring;

pub use engine::{Phase, Progress, ProgressFn, ReconcileError, Reconciler};
pub use import::{ImportEnd, ImportProgressFn};
pub use incremental::{RunMode, scheduled_mode};
pub use jobs::{FinishedRun, RelayReport};
pub use report::{DriftReport, ObjectTally, RecordEntry, RepairKind, Tally};
