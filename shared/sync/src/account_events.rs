//! Account and service events on the company timeline (issue 21): each change of a customer's
//! status, credit limit or services (recorded by the database, whoever made it) becomes a note
//! on the customer's company in the home portal, upserted by its `warp_event_id` so a retried
//! pass never writes it twice. Notes work on every portal; with `ACCOUNT_EVENTS_AS=custom_events`
//! an Enterprise portal gets a custom event instead (`warp_account_event`, defined once, each
//! occurrence sent with the event's id as its uuid), and a portal without Enterprise notes.

use std::collections::BTreeMap;
use std::time::Duration;

use warp_domain::account_event::{AccountEventKind, account_event_note, account_event_summary};
use warp_hubspot::{
    AssociationInput, BatchUpsertInput, CrmObject, CustomEventSend, EventDefinitionCreate,
    EventPropertyCreate, HubSpotClient, HubSpotError, HubSpotId, WARP_EVENT_ID_PROPERTY, type_ids,
};
use warp_store::account_events::{self, DueEvent};
use warp_store::work_items::{Settlement, WorkTable};
use warp_store::{Database, StoreError};

use crate::outbound::answers_by_input;
use crate::work_items::{RetryPolicy, Settler, WriteReport, associations_failed, passes_within};

/// Writes the notes of due account events. Build it once per process.
#[derive(Debug)]
pub struct AccountEventLogger {
    pub database: Database,
    /// The home portal's client: the customer's company lives there.
    pub hubspot: HubSpotClient,
    pub portal_id: i64,
    /// How long a pass holds the events it claimed.
    pub lease: Duration,
    /// How an event is tried again, also while its customer has no company yet (its first push
    /// may still be on its way); after the last attempt it is skipped.
    pub retry: RetryPolicy,
    /// Send custom events where the portal has them (`ACCOUNT_EVENTS_AS=custom_events`).
    pub custom_events: bool,
    /// The custom event's fully qualified name once known; `Some(None)`: the portal has no
    /// custom events (notes are written).
    definition: tokio::sync::Mutex<Option<Option<String>>>,
}

/// The custom event WARP defines in the home portal.
pub const ACCOUNT_EVENT_NAME: &str = "warp_account_event";

impl AccountEventLogger {
    pub fn new(database: Database, hubspot: HubSpotClient, portal_id: i64) -> Self {
        Self {
            database,
            hubspot,
            portal_id,
            lease: Duration::from_secs(120),
            retry: RetryPolicy::default(),
            custom_events: false,
            definition: tokio::sync::Mutex::new(None),
        }
    }

    /// The same logger, retrying failed events by `retry`.
    pub fn with_retry(self, retry: RetryPolicy) -> Self {
        Self { retry, ..self }
    }

    /// The same logger, sending custom events where the portal has them.
    pub fn with_custom_events(self, custom_events: bool) -> Self {
        Self {
            custom_events,
            ..self
        }
    }

    /// The fully qualified name of WARP's account event, defined now if the portal has none;
    /// `None` when the portal has no custom events (HubSpot's 403: not Enterprise).
    async fn custom_event_name(&self) -> Result<Option<String>, HubSpotError> {
        let mut known = self.definition.lock().await;
        if let Some(known) = known.as_ref() {
            return Ok(known.clone());
        }
        let found = match self.hubspot.event_definition(ACCOUNT_EVENT_NAME).await {
            Ok(Some(definition)) => Some(definition.fully_qualified_name),
            Ok(None) => match self.hubspot.create_event_definition(&definition()).await {
                Ok(created) => Some(created.fully_qualified_name),
                // Defined meanwhile by another process.
                Err(HubSpotError::Conflict { .. }) => self
                    .hubspot
                    .event_definition(ACCOUNT_EVENT_NAME)
                    .await?
                    .map(|definition| definition.fully_qualified_name),
                Err(error) => return Err(error),
            },
            Err(HubSpotError::Unauthorized { status: 403, .. }) => {
                tracing::warn!(
                    "ACCOUNT_EVENTS_AS=custom_events, but the home portal has no custom events \
                     (HubSpot answered 403: they need Enterprise); account events are notes"
                );
                None
            }
            Err(error) => return Err(error),
        };
        *known = Some(found.clone());
        Ok(found)
    }

    fn settler(&self) -> Settler<'_> {
        Settler {
            database: &self.database,
            table: WorkTable::AccountEvents,
            retry: self.retry,
        }
    }

    /// Writes due events' notes in passes until none is due, `limit` or `budget` is reached.
    pub async fn log_due_within(
        &self,
        limit: usize,
        budget: Duration,
    ) -> Result<WriteReport, StoreError> {
        passes_within(limit, budget, |n| self.log_due(n)).await
    }

    /// Writes the notes of up to `limit` due events.
    pub async fn log_due(&self, limit: usize) -> Result<WriteReport, StoreError> {
        let due = account_events::claim_due(&self.database, limit, self.lease).await?;
        let settler = self.settler();
        let mut report = WriteReport {
            claimed: due.len(),
            ..WriteReport::default()
        };
        let mut ready: Vec<(DueEvent, HubSpotId, AccountEventKind)> = Vec::new();
        for event in due {
            let Some(kind) = AccountEventKind::parse(&event.kind) else {
                let settlement = Settlement::Failed {
                    portal_id: None,
                    reason: format!("an account event of an unknown kind: {}", event.kind),
                };
                settler.settle(event.id, settlement, &mut report).await?;
                continue;
            };
            match event
                .company_id
                .as_deref()
                .map(|id| HubSpotId::parse(id.to_owned()))
            {
                Some(Ok(company)) => ready.push((event, company, kind)),
                _ if event.attempts >= self.retry.max_attempts => {
                    let settlement = Settlement::Skipped {
                        portal_id: Some(self.portal_id),
                        reason: "the customer has no HubSpot company to note it on".to_owned(),
                    };
                    settler.settle(event.id, settlement, &mut report).await?;
                }
                _ => {
                    let reason = "waiting for the customer's HubSpot company";
                    settler
                        .retry(event.id, event.attempts, reason, &mut report)
                        .await?;
                }
            }
        }
        if ready.is_empty() {
            return Ok(report);
        }
        let custom_event = if self.custom_events {
            match self.custom_event_name().await {
                Ok(name) => name,
                Err(error) => {
                    for (event, _, _) in &ready {
                        settler
                            .after_error(event.id, event.attempts, &error, &mut report)
                            .await?;
                    }
                    return Ok(report);
                }
            }
        } else {
            None
        };
        match custom_event {
            Some(name) => self.send_events(&name, ready, &mut report).await?,
            None => self.write_notes(ready, &mut report).await?,
        }
        tracing::info!(?report, "account events written");
        Ok(report)
    }

    /// Sends events as occurrences of the custom event `name` on their companies; a retried
    /// send records nothing twice (each carries its event's id as its uuid).
    async fn send_events(
        &self,
        name: &str,
        ready: Vec<(DueEvent, HubSpotId, AccountEventKind)>,
        report: &mut WriteReport,
    ) -> Result<(), StoreError> {
        let settler = self.settler();
        let sends: Vec<CustomEventSend> = ready
            .iter()
            .map(|(event, company, kind)| CustomEventSend {
                event_name: name.to_owned(),
                object_id: company.as_str().to_owned(),
                occurred_at: event.occurred_at.to_rfc3339(),
                properties: BTreeMap::from([
                    ("warp_kind".to_owned(), kind.as_str().to_owned()),
                    ("warp_ban".to_owned(), event.ban.clone()),
                    (
                        "warp_summary".to_owned(),
                        account_event_summary(*kind, &event.details, &event.ban),
                    ),
                ]),
                uuid: event.id.to_string(),
            })
            .collect();
        match self.hubspot.send_custom_events(&sends).await {
            Ok(()) => {
                for (event, _, _) in &ready {
                    let settlement = Settlement::Written {
                        portal_id: self.portal_id,
                        ids: vec![None],
                    };
                    settler.settle(event.id, settlement, report).await?;
                }
            }
            Err(error) => {
                for (event, _, _) in &ready {
                    settler
                        .after_error(event.id, event.attempts, &error, report)
                        .await?;
                }
            }
        }
        Ok(())
    }

    async fn write_notes(
        &self,
        ready: Vec<(DueEvent, HubSpotId, AccountEventKind)>,
        report: &mut WriteReport,
    ) -> Result<(), StoreError> {
        let settler = self.settler();
        let inputs: Vec<BatchUpsertInput> = ready
            .iter()
            .map(|(event, _, kind)| {
                BatchUpsertInput::new(
                    WARP_EVENT_ID_PROPERTY,
                    event.event_id.clone(),
                    note_properties(event, *kind),
                )
            })
            .collect();
        let written = self
            .hubspot
            .objects(CrmObject::Notes)
            .batch_upsert(&inputs)
            .await;
        let mut noted: Vec<(&DueEvent, HubSpotId)> = Vec::new();
        let mut links = Vec::new();
        for ((event, company, _), answer) in ready.iter().zip(answers_by_input(&inputs, &written)) {
            let note = settler
                .accepted_id(
                    event.id,
                    event.attempts,
                    answer,
                    self.portal_id,
                    "note",
                    report,
                )
                .await?;
            if let Some(note) = note {
                links.push(AssociationInput::new(
                    note.clone(),
                    company.clone(),
                    &[type_ids::NOTE_TO_COMPANY],
                ));
                noted.push((event, note));
            }
        }
        let associated = self
            .hubspot
            .associations(CrmObject::Notes, CrmObject::Companies)
            .batch_create(&links)
            .await;
        // A note left without its company is associated by the retry (the note is not written
        // twice: it is upserted by its event id).
        let failure = associations_failed(&[&associated]);
        for (event, note) in noted {
            let written = (self.portal_id, vec![Some(note.as_str().to_owned())]);
            settler
                .after_associations(
                    event.id,
                    event.attempts,
                    failure.as_deref(),
                    "associating the note",
                    written,
                    report,
                )
                .await?;
        }
        Ok(())
    }
}

/// Writes due events' notes every `interval` until `shutdown` completes (`warp dev`; in AWS the
/// reconciler's frequent job runs them).
pub async fn run_account_event_loop(
    logger: std::sync::Arc<AccountEventLogger>,
    interval: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    crate::passes::run_passes("account events", interval, shutdown, || async {
        logger
            .log_due(crate::work_items::PASS)
            .await
            .map(|report| report.claimed == crate::work_items::PASS)
    })
    .await;
}

/// WARP's account event: on the company, with what changed in words.
fn definition() -> EventDefinitionCreate {
    let property = |name: &str, label: &str| EventPropertyCreate {
        name: name.to_owned(),
        label: label.to_owned(),
        property_type: "string".to_owned(),
    };
    EventDefinitionCreate {
        name: ACCOUNT_EVENT_NAME.to_owned(),
        label: "WARP account event".to_owned(),
        description: "A WARP billing account was suspended, reactivated or closed, or its \
                      credit limit or services changed; written by WARP."
            .to_owned(),
        primary_object: "COMPANY".to_owned(),
        include_default_properties: false,
        property_definitions: vec![
            property("warp_kind", "Kind"),
            property("warp_ban", "BAN"),
            property("warp_summary", "What changed"),
        ],
    }
}

/// A note's properties: when the change happened, and what it was.
fn note_properties(event: &DueEvent, kind: AccountEventKind) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "hs_timestamp".to_owned(),
            event.occurred_at.timestamp_millis().to_string(),
        ),
        (
            "hs_note_body".to_owned(),
            account_event_note(kind, &event.details, &event.ban),
        ),
    ])
}
