//! Deciding many field changes in memory and writing what they add up to in a few statements.
//!
//! A [`DecisionBatch`] holds the locked customers and their field states, decides each HubSpot
//! value by the domain rules against that in-memory view (which every decision updates exactly
//! as the SQL would: HubSpot's side only moves forward, an applied value keeps WARP's change
//! time), and collects the writes. [`DecisionBatch::flush`] then stores them with one
//! statement per table, whether the batch holds one event (a lifecycle event, in its own
//! savepoint) or hundreds (the property changes of a claim). One code path decides; only the
//! number of events per flush differs.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use uuid::Uuid;
use warp_domain::customer::Customer;
use warp_domain::storable::{has_nul, nul_reason};
use warp_domain::sync::{
    FieldMapping, FieldState, InboundChange, InboundDecision, WarpField, canonical_opt,
    customer_field_values, decide_inbound,
};
use warp_store::StoreError;
use warp_store::conflicts::{self, NewConflict};
use warp_store::field_state::{self, CustomerFieldStates};
use warp_store::inbound::{self, HubSpotObservation, InboundLogEntry, InboundLogStatus};
use warp_store::outbox::{self, OutboxOperation};

use super::{EventStatus, InboundReport, Tx};

/// One field decision's result for its event.
pub(super) struct FieldOutcome {
    pub status: EventStatus,
    pub note: Option<String>,
    pub tally: InboundReport,
}

/// A conflict to insert, with both values.
struct PendingConflict {
    customer_id: Uuid,
    field: WarpField,
    warp_value: Option<String>,
    hubspot_value: Option<String>,
    warp_changed_at: Option<DateTime<Utc>>,
    hubspot_changed_at: DateTime<Utc>,
}

/// What a sync-log row refers to that only exists once the batch is flushed.
#[derive(Clone, Copy)]
enum LogLink {
    None,
    /// The customer's push-back outbox row (its id goes in `queue_id`).
    PushBack,
    /// The conflict at this index (its id goes in the note).
    Conflict(usize),
}

pub(super) struct DecisionBatch {
    portal_id: i64,
    customers: HashMap<Uuid, Customer>,
    states: HashMap<Uuid, CustomerFieldStates>,
    written: BTreeSet<Uuid>,
    warp_values: BTreeMap<(Uuid, WarpField), Option<String>>,
    observations: BTreeMap<(Uuid, WarpField), HubSpotObservation>,
    push_backs: BTreeSet<Uuid>,
    conflicts: Vec<PendingConflict>,
    logs: Vec<(InboundLogEntry<'static>, LogLink)>,
}

impl DecisionBatch {
    pub fn new(portal_id: i64) -> Self {
        DecisionBatch {
            portal_id,
            customers: HashMap::new(),
            states: HashMap::new(),
            written: BTreeSet::new(),
            warp_values: BTreeMap::new(),
            observations: BTreeMap::new(),
            push_backs: BTreeSet::new(),
            conflicts: Vec::new(),
            logs: Vec::new(),
        }
    }

    /// Adds (locked) customers to the view, with their stored field states (one query). A
    /// customer already in the view is replaced by the given row, keeping its loaded states.
    pub async fn admit(&mut self, tx: &Tx<'_>, customers: Vec<Customer>) -> Result<(), StoreError> {
        let missing: Vec<Uuid> = customers
            .iter()
            .map(|customer| customer.id)
            .filter(|id| !self.states.contains_key(id))
            .collect();
        if !missing.is_empty() {
            let mut loaded = field_state::load(tx, self.portal_id, &missing).await?;
            for id in missing {
                self.states
                    .insert(id, loaded.remove(&id).unwrap_or_default());
            }
        }
        for customer in customers {
            self.customers.insert(customer.id, customer);
        }
        Ok(())
    }

    /// Decides one HubSpot value of one field of an admitted customer and records exactly what
    /// the domain rules say (see `warp_domain::sync`): Apply writes the customer and both sides
    /// of the state; an invalid value, Override and Echo record HubSpot's known value (the
    /// first two also queue a push-back); Conflict keeps both values for a person; Stale is
    /// logged. A value with a NUL character that would be applied or kept in a conflict fails
    /// alone, recording nothing but its sync-log row.
    pub fn decide_field(
        &mut self,
        customer_id: Uuid,
        mapping: &FieldMapping,
        value: Option<&str>,
        occurred_at: DateTime<Utc>,
        operation: &'static str,
    ) -> FieldOutcome {
        let field = mapping.field;
        let Some(customer) = self.customers.get(&customer_id) else {
            return outcome(
                EventStatus::Skipped,
                Some("the customer is not loaded"),
                InboundReport::default(),
            );
        };
        let stored = self
            .states
            .get(&customer_id)
            .and_then(|states| states.get(&field))
            .cloned()
            .unwrap_or_default();
        let state = FieldState {
            warp_value: customer_field_values(customer)
                .get(field)
                .flatten()
                .map(str::to_owned),
            ..stored
        };
        let change = InboundChange {
            value: value.map(str::to_owned),
            occurred_at,
        };
        let reported = canonical_opt(field, value);
        let company_id = customer.external_ids.hubspot_company_id.clone();
        let portal_id = self.portal_id;
        let entry = |status, error: Option<String>| InboundLogEntry {
            portal_id,
            customer_id: Some(customer_id),
            queue_id: None,
            operation,
            status,
            fields: vec![field.as_str().to_owned()],
            hubspot_company_id: company_id.clone(),
            error,
        };
        let mut tally = InboundReport::default();
        let decision = decide_inbound(mapping, &change, &state);
        // A value Postgres cannot store (a NUL) is neither applied nor kept in a conflict: the
        // stored text would not be HubSpot's value. WARP's value stands and nothing is pushed
        // over HubSpot's, so a person corrects it there (the reconciliation reports it until
        // then). Where WARP's value wins anyway, the rules below go on as for any value.
        if matches!(
            decision,
            InboundDecision::Apply { .. } | InboundDecision::Conflict { .. }
        ) && value.is_some_and(has_nul)
        {
            let reason = nul_reason(&format!("HubSpot's {}", field.as_str()));
            tracing::warn!(%customer_id, field = field.as_str(), "HubSpot value with a NUL character not applied");
            self.logs.push((
                entry(InboundLogStatus::Failed, Some(reason.clone())),
                LogLink::None,
            ));
            tally.unstorable = 1;
            return outcome(EventStatus::Failed, Some(&reason), tally);
        }
        match decision {
            InboundDecision::Apply { value } => {
                match inbound::customer_with_field(customer, field, value.as_deref()) {
                    Ok(updated) => {
                        tracing::info!(%customer_id, field = field.as_str(), version = updated.version, "HubSpot change applied");
                        self.customers.insert(customer_id, updated);
                        self.written.insert(customer_id);
                        self.record_warp_value(customer_id, field, value.clone());
                        self.observe(customer_id, field, value, occurred_at);
                        self.logs
                            .push((entry(InboundLogStatus::Success, None), LogLink::None));
                        tally.applied = 1;
                        outcome(EventStatus::Processed, None, tally)
                    }
                    Err(invalid) => {
                        // HubSpot holds the invalid value: recording it makes the outbound
                        // diff carry WARP's value back.
                        let reason = invalid.to_string();
                        tracing::warn!(%customer_id, field = field.as_str(), %reason, "HubSpot value refused; WARP's value pushed back");
                        self.logs.push((
                            entry(InboundLogStatus::Failed, Some(reason.clone())),
                            LogLink::PushBack,
                        ));
                        self.observe(customer_id, field, reported, occurred_at);
                        self.push_backs.insert(customer_id);
                        tally.invalid_values = 1;
                        outcome(EventStatus::Failed, Some(&reason), tally)
                    }
                }
            }
            InboundDecision::Override { .. } => {
                self.logs
                    .push((entry(InboundLogStatus::Overridden, None), LogLink::PushBack));
                self.observe(customer_id, field, reported, occurred_at);
                self.push_backs.insert(customer_id);
                tally.overridden = 1;
                outcome(EventStatus::Processed, None, tally)
            }
            InboundDecision::Echo => {
                self.observe(customer_id, field, reported, occurred_at);
                tally.echoes = 1;
                outcome(EventStatus::Processed, Some("echo"), tally)
            }
            InboundDecision::Stale => {
                let note = "older than the newest HubSpot change already seen";
                self.logs.push((
                    entry(InboundLogStatus::Skipped, Some(note.to_owned())),
                    LogLink::None,
                ));
                tally.stale = 1;
                outcome(EventStatus::Skipped, Some(note), tally)
            }
            InboundDecision::Conflict {
                warp_value,
                hubspot_value,
            } => {
                self.logs.push((
                    entry(InboundLogStatus::Conflict, None),
                    LogLink::Conflict(self.conflicts.len()),
                ));
                self.conflicts.push(PendingConflict {
                    customer_id,
                    field,
                    warp_value,
                    hubspot_value,
                    warp_changed_at: state.warp_changed_at,
                    hubspot_changed_at: occurred_at,
                });
                tally.conflicts = 1;
                outcome(EventStatus::Processed, Some("conflict"), tally)
            }
            InboundDecision::Ignored => outcome(
                EventStatus::Skipped,
                Some("the field's mapping is disabled"),
                tally,
            ),
            InboundDecision::KeptNonEmpty => {
                let note = "an empty value does not overwrite a value (never_overwrite_with_empty)";
                self.logs.push((
                    entry(InboundLogStatus::Skipped, Some(note.to_owned())),
                    LogLink::None,
                ));
                self.observe(customer_id, field, reported, occurred_at);
                outcome(EventStatus::Skipped, Some(note), tally)
            }
        }
    }

    /// WARP's value after an applied change; its change time stays (see `warp_store::inbound`).
    fn record_warp_value(&mut self, customer_id: Uuid, field: WarpField, value: Option<String>) {
        self.field_state(customer_id, field).warp_value = value.clone();
        self.warp_values.insert((customer_id, field), value);
    }

    /// HubSpot's value as seen at `at`; like the stored upsert, it only moves forward.
    fn observe(
        &mut self,
        customer_id: Uuid,
        field: WarpField,
        value: Option<String>,
        at: DateTime<Utc>,
    ) {
        let state = self.field_state(customer_id, field);
        if state.hubspot_changed_at.is_some_and(|known| known > at) {
            return;
        }
        state.hubspot_value = value.clone();
        state.hubspot_changed_at = Some(at);
        self.observations.insert(
            (customer_id, field),
            HubSpotObservation {
                customer_id,
                field,
                value,
                at,
            },
        );
    }

    fn field_state(&mut self, customer_id: Uuid, field: WarpField) -> &mut FieldState {
        self.states
            .entry(customer_id)
            .or_default()
            .entry(field)
            .or_default()
    }

    /// Writes everything decided since the last flush: customers, both sides of the field
    /// state, push-back outbox rows (one per customer), conflicts and sync-log rows.
    pub async fn flush(&mut self, tx: &Tx<'_>) -> Result<(), StoreError> {
        let written: Vec<Customer> = std::mem::take(&mut self.written)
            .into_iter()
            .filter_map(|id| self.customers.get(&id).cloned())
            .collect();
        for stored in inbound::write_inbound_customers(tx, &written).await? {
            self.customers.insert(stored.id, stored);
        }
        let warp_values: Vec<_> = std::mem::take(&mut self.warp_values)
            .into_iter()
            .map(|((customer_id, field), value)| (customer_id, field, value))
            .collect();
        inbound::record_warp_values(tx, self.portal_id, &warp_values).await?;
        let observations: Vec<_> = std::mem::take(&mut self.observations)
            .into_values()
            .collect();
        inbound::observe_hubspot_values(tx, self.portal_id, &observations).await?;
        let push_backs: Vec<(Uuid, i64)> = std::mem::take(&mut self.push_backs)
            .into_iter()
            .filter_map(|id| self.customers.get(&id).map(|c| (id, c.version)))
            .collect();
        let queue_ids: HashMap<Uuid, i64> =
            outbox::enqueue_many(tx, self.portal_id, OutboxOperation::PushBack, &push_backs)
                .await?
                .into_iter()
                .collect();
        let mut conflict_ids = Vec::with_capacity(self.conflicts.len());
        for conflict in std::mem::take(&mut self.conflicts) {
            let id = conflicts::insert(
                tx,
                &NewConflict {
                    portal_id: self.portal_id,
                    customer_id: conflict.customer_id,
                    field: conflict.field,
                    warp_value: conflict.warp_value.as_deref(),
                    hubspot_value: conflict.hubspot_value.as_deref(),
                    warp_changed_at: conflict.warp_changed_at,
                    hubspot_changed_at: conflict.hubspot_changed_at,
                },
            )
            .await?;
            conflict_ids.push(id);
        }
        let logs: Vec<InboundLogEntry<'static>> = std::mem::take(&mut self.logs)
            .into_iter()
            .map(|(mut entry, link)| {
                match link {
                    LogLink::None => {}
                    LogLink::PushBack => {
                        entry.queue_id =
                            entry.customer_id.and_then(|id| queue_ids.get(&id).copied());
                    }
                    LogLink::Conflict(index) => {
                        entry.error = conflict_ids
                            .get(index)
                            .map(|id| format!("conflict {id} kept for a person"));
                    }
                }
                entry
            })
            .collect();
        inbound::log_inbound_many(tx, &logs).await?;
        Ok(())
    }
}

fn outcome(status: EventStatus, note: Option<&str>, tally: InboundReport) -> FieldOutcome {
    FieldOutcome {
        status,
        note: note.map(str::to_owned),
        tally,
    }
}
