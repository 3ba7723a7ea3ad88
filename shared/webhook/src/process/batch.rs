//! Deciding many field changes in memory and writing what they add up to in a few statements.
//!
//! A [`DecisionBatch`] holds the locked records (customers for company events, linked users
//! for contact events: [`InboundRecord`]) and their field states, decides each HubSpot
//! value by the domain rules against that in-memory view (which every decision updates exactly
//! as the SQL would: HubSpot's side only moves forward, an applied value keeps WARP's change
//! time), and collects the writes. [`DecisionBatch::flush`] then stores them with one
//! statement per table, whether the batch holds one event (a lifecycle event, in its own
//! savepoint) or hundreds (the property changes of a claim). One code path decides; only the
//! number of events per flush differs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use warp_domain::customer::Customer;
use warp_domain::storable::{has_nul, nul_reason};
use warp_domain::sync::{
    FieldMapping, FieldState, FieldValues, InboundChange, InboundDecision, ObjectType, WarpField,
    canonical_opt, customer_field_values, decide_inbound, user_field_values,
};
use warp_domain::user::User;
use warp_store::StoreError;
use warp_store::conflicts::{self, NewConflict};
use warp_store::field_state::{self, CustomerFieldStates};
use warp_store::inbound::{
    self, HubSpotObservation, InboundLogEntry, InboundLogStatus, InvalidFieldValue,
};
use warp_store::outbox::{self, OutboxOperation};
use warp_store::users;

use super::{EventStatus, InboundReport, Tx};

/// A WARP record the inbound rules decide for.
pub(super) trait InboundRecord: Clone + Send + Sync {
    const OBJECT_TYPE: ObjectType;
    fn id(&self) -> Uuid;
    fn version(&self) -> i64;
    /// The HubSpot record it is linked to.
    fn hubspot_id(&self) -> Option<String>;
    /// Its mapped fields, canonical.
    fn values(&self) -> FieldValues;
    /// Itself with `field` set to `value`, as its next version.
    fn with_field(&self, field: WarpField, value: Option<&str>) -> Result<Self, InvalidFieldValue>;
    /// Stores these records at their versions; answers them as stored.
    fn write_all(
        tx: &Tx<'_>,
        records: &[Self],
    ) -> impl Future<Output = Result<Vec<Self>, StoreError>> + Send;
}

impl InboundRecord for Customer {
    const OBJECT_TYPE: ObjectType = ObjectType::Companies;

    fn id(&self) -> Uuid {
        self.id
    }

    fn version(&self) -> i64 {
        self.version
    }

    fn hubspot_id(&self) -> Option<String> {
        self.external_ids.hubspot_company_id.clone()
    }

    fn values(&self) -> FieldValues {
        customer_field_values(self)
    }

    fn with_field(&self, field: WarpField, value: Option<&str>) -> Result<Self, InvalidFieldValue> {
        inbound::customer_with_field(self, field, value)
    }

    async fn write_all(tx: &Tx<'_>, records: &[Self]) -> Result<Vec<Self>, StoreError> {
        inbound::write_inbound_customers(tx, records).await
    }
}

/// A user with the contact it is linked to.
#[derive(Debug, Clone)]
pub(super) struct LinkedUser {
    pub user: User,
    pub contact_id: String,
}

impl InboundRecord for LinkedUser {
    const OBJECT_TYPE: ObjectType = ObjectType::Contacts;

    fn id(&self) -> Uuid {
        self.user.id
    }

    fn version(&self) -> i64 {
        self.user.version
    }

    fn hubspot_id(&self) -> Option<String> {
        Some(self.contact_id.clone())
    }

    fn values(&self) -> FieldValues {
        user_field_values(&self.user)
    }

    fn with_field(&self, field: WarpField, value: Option<&str>) -> Result<Self, InvalidFieldValue> {
        Ok(LinkedUser {
            user: users::user_with_field(&self.user, field, value)?,
            contact_id: self.contact_id.clone(),
        })
    }

    async fn write_all(tx: &Tx<'_>, records: &[Self]) -> Result<Vec<Self>, StoreError> {
        let contacts: HashMap<Uuid, &str> = records
            .iter()
            .map(|r| (r.user.id, r.contact_id.as_str()))
            .collect();
        let users: Vec<User> = records.iter().map(|r| r.user.clone()).collect();
        Ok(users::write_inbound(tx, &users)
            .await?
            .into_iter()
            .filter_map(|user| {
                let contact_id = (*contacts.get(&user.id)?).to_owned();
                Some(LinkedUser { user, contact_id })
            })
            .collect())
    }
}

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

pub(super) struct DecisionBatch<R: InboundRecord> {
    portal_id: i64,
    records: HashMap<Uuid, R>,
    states: HashMap<Uuid, CustomerFieldStates>,
    written: BTreeSet<Uuid>,
    warp_values: BTreeMap<(Uuid, WarpField), Option<String>>,
    observations: BTreeMap<(Uuid, WarpField), HubSpotObservation>,
    push_backs: BTreeSet<Uuid>,
    conflicts: Vec<PendingConflict>,
    logs: Vec<(InboundLogEntry<'static>, LogLink)>,
}

impl<R: InboundRecord> DecisionBatch<R> {
    pub fn new(portal_id: i64) -> Self {
        DecisionBatch {
            portal_id,
            records: HashMap::new(),
            states: HashMap::new(),
            written: BTreeSet::new(),
            warp_values: BTreeMap::new(),
            observations: BTreeMap::new(),
            push_backs: BTreeSet::new(),
            conflicts: Vec::new(),
            logs: Vec::new(),
        }
    }

    /// Adds (locked) records to the view, with their stored field states (one query). A
    /// record already in the view is replaced by the given row, keeping its loaded states.
    pub async fn admit(&mut self, tx: &Tx<'_>, records: Vec<R>) -> Result<(), StoreError> {
        let missing: Vec<Uuid> = records
            .iter()
            .map(R::id)
            .filter(|id| !self.states.contains_key(id))
            .collect();
        if !missing.is_empty() {
            let mut loaded =
                field_state::load(tx, self.portal_id, R::OBJECT_TYPE, &missing).await?;
            for id in missing {
                self.states
                    .insert(id, loaded.remove(&id).unwrap_or_default());
            }
        }
        for record in records {
            self.records.insert(record.id(), record);
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
        let Some(record) = self.records.get(&customer_id) else {
            return outcome(
                EventStatus::Skipped,
                Some("the record is not loaded"),
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
            warp_value: record.values().get(field).flatten().map(str::to_owned),
            ..stored
        };
        let change = InboundChange {
            value: value.map(str::to_owned),
            occurred_at,
        };
        let reported = canonical_opt(field, value);
        let company_id = record.hubspot_id();
        let portal_id = self.portal_id;
        let entry = |status, error: Option<String>| InboundLogEntry {
            portal_id,
            object_type: R::OBJECT_TYPE,
            local_id: Some(customer_id),
            queue_id: None,
            operation,
            status,
            fields: vec![field.as_str().to_owned()],
            hubspot_id: company_id.clone(),
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
                match record.with_field(field, value.as_deref()) {
                    Ok(updated) => {
                        tracing::info!(%customer_id, field = field.as_str(), version = updated.version(), "HubSpot change applied");
                        self.records.insert(customer_id, updated);
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
                local_id: customer_id,
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
        let written: Vec<R> = std::mem::take(&mut self.written)
            .into_iter()
            .filter_map(|id| self.records.get(&id).cloned())
            .collect();
        for stored in R::write_all(tx, &written).await? {
            self.records.insert(stored.id(), stored);
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
            .filter_map(|id| self.records.get(&id).map(|r| (id, r.version())))
            .collect();
        let queue_ids: HashMap<Uuid, i64> = outbox::enqueue_many(
            tx,
            self.portal_id,
            R::OBJECT_TYPE,
            OutboxOperation::PushBack,
            &push_backs,
        )
        .await?
        .into_iter()
        .collect();
        let mut conflict_ids = Vec::with_capacity(self.conflicts.len());
        for conflict in std::mem::take(&mut self.conflicts) {
            let id = conflicts::insert(
                tx,
                &NewConflict {
                    portal_id: self.portal_id,
                    object_type: R::OBJECT_TYPE,
                    local_id: conflict.customer_id,
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
                        entry.queue_id = entry.local_id.and_then(|id| queue_ids.get(&id).copied());
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
