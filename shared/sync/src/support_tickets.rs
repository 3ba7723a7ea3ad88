//! Automatic support tickets in the home portal (issue 21): the alert that opens a ticket
//! creates it (upserted by `warp_ticket_id`, in the configured pipeline and stage, with seed
//! 002's `warp_*` properties, on the customer's company); every repeat becomes a note on it,
//! unless HubSpot shows the ticket closed, when the repeat opens a new one. Open tickets' stages
//! are read back on a schedule, so `GET /v1/support/tickets` shows what support did.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;
use warp_domain::support_ticket::{
    AlertFacts, Severity, TicketCustomer, Trigger, repeat_note, ticket_content,
};
use warp_hubspot::{
    AssociationInput, BatchUpdateInput, BatchUpsertInput, CrmObject, HubSpotClient, HubSpotError,
    HubSpotId, HubSpotRecord, Pipeline, ReadOptions, WARP_EVENT_ID_PROPERTY,
    WARP_TICKET_ID_PROPERTY, type_ids,
};
use warp_store::support_tickets::{self, DueAlert, StageRead};
use warp_store::work_items::{Settlement, WorkTable};
use warp_store::{Database, StoreError};

use crate::outbound::{answers_by_input, describe_call_error};
use crate::work_items::{RetryPolicy, Settler, WriteReport, associations_failed, passes_within};

/// Where new tickets go: `SUPPORT_TICKET_PIPELINE` and `SUPPORT_TICKET_STAGE` (an id or a
/// label; by default HubSpot's first ticket pipeline and its first open stage).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketSettings {
    pub pipeline: Option<String>,
    pub stage: Option<String>,
    /// How often an open ticket's stage is read back from HubSpot.
    pub check_every: Duration,
}

/// The pipeline and stage a new ticket is created in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketTarget {
    pub pipeline_id: String,
    pub stage_id: String,
    pub stage_label: String,
}

/// Chooses where new tickets go among the portal's ticket pipelines, or says in words why the
/// configured one cannot be used.
pub fn choose_target(
    pipelines: &[Pipeline],
    settings: &TicketSettings,
) -> Result<TicketTarget, String> {
    let live: Vec<&Pipeline> = pipelines.iter().filter(|p| !p.archived).collect();
    let pipeline = match &settings.pipeline {
        Some(wanted) => live
            .iter()
            .find(|p| &p.id == wanted)
            .or_else(|| live.iter().find(|p| p.label.eq_ignore_ascii_case(wanted)))
            .copied()
            .ok_or_else(|| {
                format!(
                    "SUPPORT_TICKET_PIPELINE {wanted:?} is not a ticket pipeline of the portal \
                     (it has: {})",
                    names(live.iter().map(|p| (&p.id, &p.label)))
                )
            })?,
        None => live
            .iter()
            .min_by_key(|p| (p.display_order, p.id.clone()))
            .copied()
            .ok_or("the portal has no ticket pipeline")?,
    };
    let stages: Vec<_> = pipeline.stages.iter().filter(|s| !s.archived).collect();
    let stage = match &settings.stage {
        Some(wanted) => stages
            .iter()
            .find(|s| &s.id == wanted)
            .or_else(|| stages.iter().find(|s| s.label.eq_ignore_ascii_case(wanted)))
            .copied()
            .ok_or_else(|| {
                format!(
                    "SUPPORT_TICKET_STAGE {wanted:?} is not a stage of pipeline {:?} (it has: {})",
                    pipeline.label,
                    names(stages.iter().map(|s| (&s.id, &s.label)))
                )
            })?,
        None => stages
            .iter()
            .filter(|s| !stage_closes(s))
            .min_by_key(|s| s.display_order)
            .copied()
            .ok_or_else(|| format!("pipeline {:?} has no open stage", pipeline.label))?,
    };
    Ok(TicketTarget {
        pipeline_id: pipeline.id.clone(),
        stage_id: stage.id.clone(),
        stage_label: stage.label.clone(),
    })
}

fn names<'a>(items: impl Iterator<Item = (&'a String, &'a String)>) -> String {
    items
        .map(|(id, label)| format!("{id} {label:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether a ticket stage closes the ticket: HubSpot's `ticketState`, else `isClosed`.
fn stage_closes(stage: &warp_hubspot::PipelineStage) -> bool {
    match stage.metadata_text("ticketState").as_deref() {
        Some(state) => state.eq_ignore_ascii_case("CLOSED"),
        None => stage.metadata_text("isClosed").as_deref() == Some("true"),
    }
}

/// A ticket's stage as HubSpot holds it, named and judged by the portal's pipelines.
fn stage_read(pipelines: &[Pipeline], record: &HubSpotRecord) -> StageRead {
    let pipeline_id = record.property("hs_pipeline").map(str::to_owned);
    let stage_id = record.property("hs_pipeline_stage").map(str::to_owned);
    let stage = pipelines
        .iter()
        .filter(|p| pipeline_id.as_deref().is_none_or(|id| p.id == id))
        .flat_map(|p| p.stages.iter())
        .find(|s| Some(s.id.as_str()) == stage_id.as_deref());
    StageRead {
        pipeline_id,
        stage_id,
        label: stage.map(|s| s.label.clone()),
        closed: stage.is_some_and(stage_closes),
    }
}

/// A ticket gone from HubSpot (deleted or merged away) counts as closed.
fn gone() -> StageRead {
    StageRead {
        pipeline_id: None,
        stage_id: None,
        label: Some("deleted in HubSpot".to_owned()),
        closed: true,
    }
}

/// How long the portal's pipelines are trusted before they are read again.
const PIPELINES_TTL: Duration = Duration::from_secs(300);

/// What a status pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CheckReport {
    pub checked: usize,
    pub closed: usize,
}

/// Opens, notes and checks the home portal's automatic tickets. Build it once per process.
#[derive(Debug)]
pub struct TicketDesk {
    pub database: Database,
    pub hubspot: HubSpotClient,
    pub portal_id: i64,
    pub settings: TicketSettings,
    pub lease: Duration,
    pub retry: RetryPolicy,
    pipelines: Mutex<Option<(Instant, Vec<Pipeline>)>>,
}

impl TicketDesk {
    pub fn new(
        database: Database,
        hubspot: HubSpotClient,
        portal_id: i64,
        settings: TicketSettings,
    ) -> Self {
        Self {
            database,
            hubspot,
            portal_id,
            settings,
            lease: Duration::from_secs(120),
            retry: RetryPolicy::default(),
            pipelines: Mutex::new(None),
        }
    }

    /// The same desk, retrying failed alerts by `retry`.
    pub fn with_retry(self, retry: RetryPolicy) -> Self {
        Self { retry, ..self }
    }

    fn settler(&self) -> Settler<'_> {
        Settler {
            database: &self.database,
            table: WorkTable::TicketAlerts,
            retry: self.retry,
        }
    }

    /// The portal's ticket pipelines, read at most every five minutes (or now, `fresh`).
    async fn ticket_pipelines(&self, fresh: bool) -> Result<Vec<Pipeline>, HubSpotError> {
        if !fresh
            && let Some((read_at, pipelines)) = self.pipelines.lock().expect("pipelines").as_ref()
            && read_at.elapsed() < PIPELINES_TTL
        {
            return Ok(pipelines.clone());
        }
        let pipelines = self.hubspot.pipelines(CrmObject::Tickets).await?;
        *self.pipelines.lock().expect("pipelines") = Some((Instant::now(), pipelines.clone()));
        Ok(pipelines)
    }

    /// Writes due alerts in passes until none is due, `limit` or `budget` is reached.
    pub async fn write_due_within(
        &self,
        limit: usize,
        budget: Duration,
    ) -> Result<WriteReport, StoreError> {
        passes_within(limit, budget, |n| self.write_due(n)).await
    }

    /// Writes up to `limit` due alerts: tickets first, then notes on open tickets.
    pub async fn write_due(&self, limit: usize) -> Result<WriteReport, StoreError> {
        let due = support_tickets::claim_due(&self.database, limit, self.lease).await?;
        let mut report = WriteReport {
            claimed: due.len(),
            ..WriteReport::default()
        };
        if due.is_empty() {
            return Ok(report);
        }
        let (openers, notes): (Vec<DueAlert>, Vec<DueAlert>) =
            due.into_iter().partition(|alert| alert.opens);
        let mut created = HashMap::new();
        if !openers.is_empty() {
            created = self.open_tickets(openers, &mut report).await?;
        }
        if !notes.is_empty() {
            self.note_repeats(notes, &created, &mut report).await?;
        }
        tracing::info!(?report, "ticket alerts written");
        Ok(report)
    }

    /// Creates the tickets of `openers`; answers the HubSpot id of each ticket created.
    async fn open_tickets(
        &self,
        openers: Vec<DueAlert>,
        report: &mut WriteReport,
    ) -> Result<HashMap<Uuid, HubSpotId>, StoreError> {
        let settler = self.settler();
        let mut created = HashMap::new();
        let target = match self.ticket_pipelines(false).await {
            Ok(pipelines) => choose_target(&pipelines, &self.settings),
            Err(error) => {
                for alert in &openers {
                    settler
                        .after_error(alert.id, alert.attempts, &error, report)
                        .await?;
                }
                return Ok(created);
            }
        };
        let target = match target {
            Ok(target) => target,
            Err(reason) => {
                // A configuration to fix, not a fault of the alert: it waits, uncounted.
                for alert in &openers {
                    settler.wait(alert.id, reason.clone(), report).await?;
                }
                return Ok(created);
            }
        };
        let inputs: Vec<BatchUpsertInput> = openers
            .iter()
            .map(|alert| {
                BatchUpsertInput::new(
                    WARP_TICKET_ID_PROPERTY,
                    alert.ticket_id.to_string(),
                    ticket_properties(alert, &target),
                )
            })
            .collect();
        let written = self
            .hubspot
            .objects(CrmObject::Tickets)
            .batch_upsert(&inputs)
            .await;
        let mut opened: Vec<(&DueAlert, HubSpotId)> = Vec::new();
        let mut links = Vec::new();
        for (alert, answer) in openers.iter().zip(answers_by_input(&inputs, &written)) {
            let ticket = settler
                .accepted_id(
                    alert.id,
                    alert.attempts,
                    answer,
                    self.portal_id,
                    "ticket",
                    report,
                )
                .await?;
            let Some(ticket) = ticket else { continue };
            if let Some(Ok(company)) = alert
                .company_id
                .as_deref()
                .map(|id| HubSpotId::parse(id.to_owned()))
            {
                links.push(AssociationInput::new(
                    ticket.clone(),
                    company,
                    &[type_ids::TICKET_TO_COMPANY_PRIMARY],
                ));
            }
            opened.push((alert, ticket));
        }
        let associated = self
            .hubspot
            .associations(CrmObject::Tickets, CrmObject::Companies)
            .batch_create(&links)
            .await;
        let failure = associations_failed(&[&associated]);
        let stage = StageRead {
            pipeline_id: Some(target.pipeline_id.clone()),
            stage_id: Some(target.stage_id.clone()),
            label: Some(target.stage_label.clone()),
            closed: false,
        };
        for (alert, ticket) in opened {
            // The ticket exists either way: record it, so repeats can be noted on it.
            support_tickets::record_created(
                &self.database,
                alert.ticket_id,
                self.portal_id,
                ticket.as_str(),
                &stage,
            )
            .await?;
            created.insert(alert.ticket_id, ticket.clone());
            let written = (self.portal_id, vec![Some(ticket.as_str().to_owned())]);
            settler
                .after_associations(
                    alert.id,
                    alert.attempts,
                    failure.as_deref(),
                    "associating the ticket with its company",
                    written,
                    report,
                )
                .await?;
        }
        Ok(created)
    }

    /// Notes repeats on their open tickets. A ticket HubSpot shows closed (or gone) is closed
    /// here, and its repeats move to a new ticket, opened on the next pass.
    async fn note_repeats(
        &self,
        notes: Vec<DueAlert>,
        created: &HashMap<Uuid, HubSpotId>,
        report: &mut WriteReport,
    ) -> Result<(), StoreError> {
        let settler = self.settler();
        let mut ready: Vec<(DueAlert, HubSpotId)> = Vec::new();
        for alert in notes {
            let ticket = created.get(&alert.ticket_id).cloned().or_else(|| {
                alert
                    .ticket
                    .hubspot_ticket_id
                    .clone()
                    .and_then(|id| HubSpotId::parse(id).ok())
            });
            match ticket {
                Some(ticket) => ready.push((alert, ticket)),
                None => {
                    // Its ticket is being opened (by this pass's retry or another worker).
                    let settlement = Settlement::Later {
                        reason: "waiting for its ticket to be created in HubSpot".to_owned(),
                        retry_at: chrono::Utc::now() + chrono::Duration::seconds(5),
                        counts_as_attempt: false,
                    };
                    settler.settle(alert.id, settlement, report).await?;
                }
            }
        }
        if ready.is_empty() {
            return Ok(());
        }
        // A ticket created in this pass is open; the others are read before a note goes on.
        let claimed: Vec<Uuid> = ready.iter().map(|(alert, _)| alert.id).collect();
        let to_read = ready
            .iter()
            .filter(|(alert, _)| !created.contains_key(&alert.ticket_id))
            .map(|(alert, ticket)| (alert.ticket_id, ticket));
        let closed = match self.read_stages(to_read, &claimed).await? {
            Ok(closed) => closed,
            Err(error) => {
                for (alert, _) in &ready {
                    settler
                        .after_error(alert.id, alert.attempts, &error, report)
                        .await?;
                }
                return Ok(());
            }
        };
        // Moved to a new ticket by `record_stage`: left pending for the next pass, its claim
        // ended (`record_stage` made it due now).
        ready.retain(|(alert, _)| !closed.contains(&alert.ticket_id));
        self.write_notes(ready, report).await
    }

    /// Reads the stages of `tickets` and records them (moving the waiting alerts of a closed one,
    /// `claimed` ones included, see `record_stage`); answers those HubSpot shows closed or gone,
    /// or HubSpot's error.
    async fn read_stages<'a>(
        &self,
        tickets: impl Iterator<Item = (Uuid, &'a HubSpotId)>,
        claimed: &[Uuid],
    ) -> Result<Result<Vec<Uuid>, HubSpotError>, StoreError> {
        let mut by_hubspot: BTreeMap<String, Uuid> = BTreeMap::new();
        for (ticket_id, hubspot_id) in tickets {
            by_hubspot.insert(hubspot_id.as_str().to_owned(), ticket_id);
        }
        if by_hubspot.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        let ids: Vec<String> = by_hubspot.keys().cloned().collect();
        let read = self
            .hubspot
            .objects(CrmObject::Tickets)
            .batch_read(
                &ids,
                None,
                &ReadOptions::properties(["hs_pipeline", "hs_pipeline_stage"]),
            )
            .await;
        if let Some(failed) = read.failed_calls.into_iter().next() {
            return Ok(Err(failed.error));
        }
        let mut pipelines = match self.ticket_pipelines(false).await {
            Ok(pipelines) => pipelines,
            Err(error) => return Ok(Err(error)),
        };
        let knows_every_stage = read.results.iter().all(|record| {
            let read = stage_read(&pipelines, record);
            read.stage_id.is_none() || read.label.is_some()
        });
        if !knows_every_stage {
            // A stage added since the pipelines were read.
            match self.ticket_pipelines(true).await {
                Ok(fresh) => pipelines = fresh,
                Err(error) => return Ok(Err(error)),
            }
        }
        let mut closed = Vec::new();
        let found: HashMap<&str, &HubSpotRecord> = read
            .results
            .iter()
            .map(|record| (record.id.as_str(), record))
            .collect();
        // Absent means gone only when HubSpot said "not found" (or nothing): any other refusal
        // leaves the ticket to the next read.
        let only_not_found = read
            .errors
            .iter()
            .all(|error| error.category == "OBJECT_NOT_FOUND");
        for (hubspot_id, ticket_id) in &by_hubspot {
            let stage = match found.get(hubspot_id.as_str()) {
                Some(record) if !record.archived => stage_read(&pipelines, record),
                _ if only_not_found => gone(),
                _ => continue,
            };
            support_tickets::record_stage(&self.database, *ticket_id, &stage, claimed).await?;
            if stage.closed {
                closed.push(*ticket_id);
            }
        }
        Ok(Ok(closed))
    }

    async fn write_notes(
        &self,
        ready: Vec<(DueAlert, HubSpotId)>,
        report: &mut WriteReport,
    ) -> Result<(), StoreError> {
        if ready.is_empty() {
            return Ok(());
        }
        let settler = self.settler();
        let inputs: Vec<BatchUpsertInput> = ready
            .iter()
            .map(|(alert, _)| {
                BatchUpsertInput::new(
                    WARP_EVENT_ID_PROPERTY,
                    format!("ticket-alert:{}", alert.id),
                    note_properties(alert),
                )
            })
            .collect();
        let written = self
            .hubspot
            .objects(CrmObject::Notes)
            .batch_upsert(&inputs)
            .await;
        let mut noted: Vec<(&DueAlert, HubSpotId)> = Vec::new();
        let mut links = Vec::new();
        let mut escalations: Vec<BatchUpdateInput> = Vec::new();
        for ((alert, ticket), answer) in ready.iter().zip(answers_by_input(&inputs, &written)) {
            let note = settler
                .accepted_id(
                    alert.id,
                    alert.attempts,
                    answer,
                    self.portal_id,
                    "note",
                    report,
                )
                .await?;
            let Some(note) = note else { continue };
            links.push(AssociationInput::new(
                note.clone(),
                ticket.clone(),
                &[type_ids::NOTE_TO_TICKET],
            ));
            if alert.escalates {
                escalations.push(BatchUpdateInput {
                    id: ticket.clone(),
                    properties: escalated_properties(alert),
                    object_write_trace_id: None,
                });
            }
            noted.push((alert, note));
        }
        let associated = self
            .hubspot
            .associations(CrmObject::Notes, CrmObject::Tickets)
            .batch_create(&links)
            .await;
        // One update per ticket (HubSpot refuses an id twice in a batch): the ticket's values are
        // the same for each of its notes.
        let mut seen = std::collections::HashSet::new();
        escalations.retain(|update| seen.insert(update.id.clone()));
        let escalated = self
            .hubspot
            .objects(CrmObject::Tickets)
            .batch_update(&escalations)
            .await;
        // Retried whole: the note is upserted by its event id, associating and escalating
        // again change nothing.
        let failure = associations_failed(&[&associated]).or_else(|| {
            escalated
                .failed_calls
                .first()
                .map(|failed| describe_call_error(&failed.error))
        });
        for (alert, note) in noted {
            let written = (self.portal_id, vec![Some(note.as_str().to_owned())]);
            settler
                .after_associations(
                    alert.id,
                    alert.attempts,
                    failure.as_deref(),
                    "noting the repeat on its ticket",
                    written,
                    report,
                )
                .await?;
        }
        Ok(())
    }

    /// Reads back the stage of up to `limit` open tickets not read for `check_every`; a ticket
    /// closed in HubSpot is closed here.
    pub async fn check_open(&self, limit: usize) -> Result<CheckReport, StoreError> {
        let unopened = support_tickets::close_unopened(&self.database).await?;
        if unopened > 0 {
            tracing::warn!(unopened, "tickets HubSpot did not create were closed");
        }
        let due =
            support_tickets::due_checks(&self.database, limit, self.settings.check_every).await?;
        let mut tickets = Vec::with_capacity(due.len());
        for (ticket_id, hubspot_id) in due {
            if let Ok(id) = HubSpotId::parse(hubspot_id) {
                tickets.push((ticket_id, id));
            }
        }
        if tickets.is_empty() {
            return Ok(CheckReport::default());
        }
        match self
            .read_stages(tickets.iter().map(|(ticket, id)| (*ticket, id)), &[])
            .await?
        {
            Ok(closed) => Ok(CheckReport {
                checked: tickets.len(),
                closed: closed.len(),
            }),
            Err(error) => {
                // Read again at the next check; nothing is lost by waiting.
                tracing::warn!(error = %describe_call_error(&error), "ticket stages not read");
                Ok(CheckReport::default())
            }
        }
    }

    /// One pass: alerts written, then stages read back. Answers whether more alerts are due.
    pub async fn pass(&self) -> Result<bool, StoreError> {
        let written = self.write_due(crate::work_items::PASS).await?;
        self.check_open(crate::work_items::PASS).await?;
        Ok(written.claimed == crate::work_items::PASS)
    }
}

/// Writes alerts and reads stages every `interval` until `shutdown` completes (`warp dev`; in
/// AWS the reconciler's frequent job runs them).
pub async fn run_ticket_loop(
    desk: std::sync::Arc<TicketDesk>,
    interval: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    crate::passes::run_passes("support tickets", interval, shutdown, || async {
        desk.pass().await
    })
    .await;
}

fn facts_of(
    alert: &DueAlert,
) -> (
    Trigger,
    Severity,
    serde_json::Map<String, serde_json::Value>,
) {
    let trigger = Trigger::parse(&alert.trigger)
        .unwrap_or_else(|_| Trigger::parse("alert").expect("a valid trigger"));
    let severity = Severity::parse(&alert.severity).unwrap_or(Severity::Medium);
    let data = alert.data.as_object().cloned().unwrap_or_default();
    (trigger, severity, data)
}

/// A new ticket's properties: HubSpot's, and seed 002's `warp_*`.
fn ticket_properties(alert: &DueAlert, target: &TicketTarget) -> BTreeMap<String, String> {
    let (trigger, _, data) = facts_of(alert);
    let ticket = &alert.ticket;
    let severity = Severity::parse(&ticket.severity).unwrap_or(Severity::Medium);
    let facts = AlertFacts {
        trigger: &trigger,
        trunk_id: alert.trunk_id.as_deref(),
        severity,
        observed_at: alert.observed_at,
        data: &data,
    };
    let customer = TicketCustomer {
        name: &alert.customer_name,
        ban: &alert.ban,
    };
    let mut properties = BTreeMap::from([
        ("subject".to_owned(), ticket.subject.clone()),
        ("content".to_owned(), ticket_content(&facts, &customer)),
        ("warp_issue_type".to_owned(), ticket.issue_type.clone()),
        (
            "warp_technical_details".to_owned(),
            support_tickets::details_text(&ticket.details),
        ),
    ]);
    // A retried create of a ticket HubSpot has already keeps the stage support gave it.
    if ticket.hubspot_ticket_id.is_none() {
        properties.insert("hs_pipeline".to_owned(), target.pipeline_id.clone());
        properties.insert("hs_pipeline_stage".to_owned(), target.stage_id.clone());
    }
    properties.extend(escalated_properties(alert));
    if let Some(trunk) = &alert.trunk_id {
        properties.insert("warp_trunk_id".to_owned(), trunk.clone());
    }
    if let Some(call) = &ticket.call_id {
        properties.insert("warp_call_id".to_owned(), call.clone());
    }
    properties
}

/// What follows the ticket's severity: its priority, `warp_severity` and SLA breach time.
fn escalated_properties(alert: &DueAlert) -> BTreeMap<String, String> {
    let severity = Severity::parse(&alert.ticket.severity).unwrap_or(Severity::Medium);
    BTreeMap::from([
        (
            "hs_ticket_priority".to_owned(),
            severity.hubspot_priority().to_owned(),
        ),
        ("warp_severity".to_owned(), severity.as_str().to_owned()),
        (
            "warp_sla_breach".to_owned(),
            alert.ticket.sla_breach_at.timestamp_millis().to_string(),
        ),
    ])
}

/// A repeat's note: when it was observed, and what it says.
fn note_properties(alert: &DueAlert) -> BTreeMap<String, String> {
    let (trigger, severity, data) = facts_of(alert);
    let facts = AlertFacts {
        trigger: &trigger,
        trunk_id: alert.trunk_id.as_deref(),
        severity,
        observed_at: alert.observed_at,
        data: &data,
    };
    BTreeMap::from([
        (
            "hs_timestamp".to_owned(),
            alert.observed_at.timestamp_millis().to_string(),
        ),
        ("hs_note_body".to_owned(), repeat_note(&facts, alert.number)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pipelines() -> Vec<Pipeline> {
        serde_json::from_value(json!([
            {"id": "0", "label": "Support Pipeline", "displayOrder": 0, "stages": [
                {"id": "1", "label": "New", "displayOrder": 0, "metadata": {"ticketState": "OPEN"}},
                {"id": "4", "label": "Closed", "displayOrder": 3, "metadata": {"ticketState": "CLOSED"}}
            ]},
            {"id": "77", "label": "Network Ops", "displayOrder": 1, "stages": [
                {"id": "80", "label": "Done", "displayOrder": 0, "metadata": {"ticketState": "CLOSED"}},
                {"id": "81", "label": "Triage", "displayOrder": 1, "metadata": {"ticketState": "OPEN"}}
            ]}
        ]))
        .unwrap()
    }

    fn settings(pipeline: Option<&str>, stage: Option<&str>) -> TicketSettings {
        TicketSettings {
            pipeline: pipeline.map(str::to_owned),
            stage: stage.map(str::to_owned),
            check_every: Duration::from_secs(60),
        }
    }

    #[test]
    fn by_default_the_first_pipeline_s_first_open_stage() {
        let target = choose_target(&pipelines(), &settings(None, None)).unwrap();
        assert_eq!(
            (target.pipeline_id.as_str(), target.stage_id.as_str()),
            ("0", "1")
        );
        // The first open stage, not the first stage.
        let target = choose_target(&pipelines(), &settings(Some("network ops"), None)).unwrap();
        assert_eq!(
            (target.pipeline_id.as_str(), target.stage_id.as_str()),
            ("77", "81")
        );
    }

    #[test]
    fn a_configured_pipeline_or_stage_is_found_by_id_or_label_or_named_as_missing() {
        let target = choose_target(&pipelines(), &settings(Some("77"), Some("Done"))).unwrap();
        assert_eq!(target.stage_label, "Done");
        let missing = choose_target(&pipelines(), &settings(Some("Billing"), None)).unwrap_err();
        assert!(missing.contains("0 \"Support Pipeline\""), "{missing}");
        let missing = choose_target(&pipelines(), &settings(None, Some("Waiting"))).unwrap_err();
        assert!(missing.contains("1 \"New\", 4 \"Closed\""), "{missing}");
        assert!(choose_target(&[], &settings(None, None)).is_err());
    }

    #[test]
    fn a_stage_is_closed_by_its_ticket_state() {
        let record: HubSpotRecord = serde_json::from_value(json!({
            "id": "5", "properties": {"hs_pipeline": "77", "hs_pipeline_stage": "80"},
            "createdAt": "2026-12-04T10:00:00Z", "updatedAt": "2026-12-04T10:00:00Z"
        }))
        .unwrap();
        let read = stage_read(&pipelines(), &record);
        assert!(read.closed);
        assert_eq!(read.label.as_deref(), Some("Done"));
        let unknown: HubSpotRecord = serde_json::from_value(json!({
            "id": "6", "properties": {"hs_pipeline": "77", "hs_pipeline_stage": "99"},
            "createdAt": "2026-12-04T10:00:00Z", "updatedAt": "2026-12-04T10:00:00Z"
        }))
        .unwrap();
        let read = stage_read(&pipelines(), &unknown);
        assert!(!read.closed);
        assert_eq!(read.label, None);
    }
}
