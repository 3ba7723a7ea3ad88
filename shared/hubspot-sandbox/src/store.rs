//! The in-memory CRM: companies with full property history, unique-value indexes, property
//! definitions and groups, and the webhook events every change produces.
//!
//! Sized for hundreds of thousands of companies: companies live in a `BTreeMap` keyed by id
//! (cursor paging without scans), property names are interned, each company keeps a compact
//! sorted `Vec` of its properties, and unique values are looked up through per-property indexes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use serde_json::{Map, Value, json};

use crate::error::{ApiError, ErrorDetail};
use crate::objects::ObjectKind;
use crate::pipelines::{PipelineKind, Pipelines};
use crate::properties::{
    self, CONTACT_LAST_MODIFIED, CREATE_DATE, ENGAGEMENT_CREATE_DATE, LAST_MODIFIED, OBJECT_ID,
    PropertyDefinition, PropertyGroup, invalid_property_values, unknown_property,
};
use crate::time::iso_millis;
use crate::webhooks::{EventKind, EventOrigin, WebhookEvent};

/// History kept per property; older values are forgotten.
const HISTORY_LIMIT: usize = 20;
/// Where a record that survived merges lists the ids merged into it, `;`-separated.
const MERGED_OBJECT_IDS: &str = "hs_merged_object_ids";

/// Who made a change: decides changeSource and sourceId of webhook events and history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    /// The private app, through the API.
    Integration,
    /// A person in HubSpot's UI (the user token).
    CrmUi,
}

/// The user id the sandbox reports for edits made "in the UI".
pub const UI_USER_ID: u64 = 123;

impl Actor {
    pub fn change_source(self) -> &'static str {
        match self {
            Actor::Integration => "INTEGRATION",
            Actor::CrmUi => "CRM_UI",
        }
    }

    pub fn source_id(self, app_id: u64) -> String {
        match self {
            Actor::Integration => app_id.to_string(),
            Actor::CrmUi => format!("userId:{UI_USER_ID}"),
        }
    }
}

#[derive(Clone, Debug)]
struct HistoryEntry {
    value: Box<str>,
    timestamp_ms: i64,
    source: Actor,
}

#[derive(Clone, Debug)]
struct StoredProperty {
    name: Arc<str>,
    /// Oldest first; the last entry is the current value ("" means cleared).
    history: Vec<HistoryEntry>,
}

/// One company record.
#[derive(Clone, Debug)]
pub struct Record {
    pub id: u64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub archived_at_ms: Option<i64>,
    created_by: Actor,
    /// Sorted by name.
    properties: Vec<StoredProperty>,
}

impl Record {
    fn stored(&self, name: &str) -> Option<&StoredProperty> {
        self.properties
            .binary_search_by(|p| (*p.name).cmp(name))
            .ok()
            .map(|index| &self.properties[index])
    }

    /// The current, non-empty value of a property, computed ones included.
    pub fn value(&self, name: &str) -> Option<String> {
        self.value_as_of(name, i64::MAX)
    }

    /// The non-empty value the property had at `as_of_ms` (what a lagging search index sees).
    pub fn value_as_of(&self, name: &str, as_of_ms: i64) -> Option<String> {
        match name {
            OBJECT_ID => Some(self.id.to_string()),
            CREATE_DATE | ENGAGEMENT_CREATE_DATE => Some(iso_millis(self.created_at_ms)),
            LAST_MODIFIED | CONTACT_LAST_MODIFIED => {
                Some(iso_millis(self.updated_at_ms.min(as_of_ms)))
            }
            _ => self.stored_value_as_of(name, as_of_ms).map(str::to_owned),
        }
    }

    fn stored_value_as_of(&self, name: &str, as_of_ms: i64) -> Option<&str> {
        self.stored(name)?
            .history
            .iter()
            .rev()
            .find(|entry| entry.timestamp_ms <= as_of_ms)
            .map(|entry| &*entry.value)
            .filter(|value| !value.is_empty())
    }

    /// Whether a search index lagging at `as_of_ms` holds this company.
    pub fn visible_as_of(&self, as_of_ms: i64) -> bool {
        self.created_at_ms <= as_of_ms && self.archived_at_ms.is_none_or(|at| at > as_of_ms)
    }

    pub fn is_archived(&self) -> bool {
        self.archived_at_ms.is_some()
    }

    fn history_json(&self, name: &str, app_id: u64) -> Vec<Value> {
        let entry_json = |value: &str, timestamp_ms: i64, source: Actor| {
            let mut entry = json!({
                "value": value,
                "timestamp": iso_millis(timestamp_ms),
                "sourceType": source.change_source(),
                "sourceId": source.source_id(app_id),
            });
            if source == Actor::CrmUi {
                entry["updatedByUserId"] = json!(UI_USER_ID);
            }
            entry
        };
        match name {
            OBJECT_ID
            | CREATE_DATE
            | ENGAGEMENT_CREATE_DATE
            | LAST_MODIFIED
            | CONTACT_LAST_MODIFIED => self
                .value(name)
                .map(|value| vec![entry_json(&value, self.created_at_ms, self.created_by)])
                .unwrap_or_default(),
            _ => self
                .stored(name)
                .map(|stored| {
                    stored
                        .history
                        .iter()
                        .rev()
                        .map(|entry| entry_json(&entry.value, entry.timestamp_ms, entry.source))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// Which properties a read returns.
#[derive(Clone, Debug, Default)]
pub struct ReadShape {
    /// `None`: HubSpot's default set; `Some`: exactly these (unknown ones skipped).
    pub properties: Option<Vec<String>>,
    pub properties_with_history: Vec<String>,
    /// Read values as a search index lagging at this instant sees them.
    pub as_of_ms: Option<i64>,
}

/// Values to write, by property name; "" clears.
pub type PropertyValues = BTreeMap<String, String>;

/// The whole sandbox CRM state.
pub struct Store {
    pub app_id: u64,
    pub portal_id: u64,
    pub properties: BTreeMap<String, PropertyDefinition>,
    pub groups: BTreeMap<String, PropertyGroup>,
    /// The object type this store holds.
    pub kind: ObjectKind,
    records: BTreeMap<u64, Record>,
    /// Unique property name → lower-cased value → company id (archived companies included).
    unique_index: HashMap<String, HashMap<Box<str>, u64>>,
    interned_names: HashSet<Arc<str>>,
    next_id: u64,
    active: usize,
    /// Event ids, shared by the stores of one portal so ids never repeat across object types.
    event_ids: Arc<AtomicU64>,
    /// Events waiting for the webhook dispatcher.
    pub pending_events: Vec<WebhookEvent>,
    /// Whether changes produce webhook events (off while seeding).
    pub emit_events: bool,
    /// The portal's validation rules: properties a record must hold, enforced on writes
    /// through the dated paths (docs/hubspot/PLATFORM-2026.md).
    pub required_properties: BTreeSet<String>,
    /// A deal or ticket store's pipelines (`None` for object types without pipelines).
    pub pipelines: Option<Pipelines>,
    /// The portal's conditional rule "closedate required when the deal is closed won",
    /// enforced on writes through the dated paths like `required_properties`.
    pub closed_won_requires_close_date: bool,
}

/// First record id handed out per object type; ids keep growing across resets so stale ids
/// never alias.
fn first_id(kind: ObjectKind) -> u64 {
    match kind {
        ObjectKind::Companies => 30_000_000_001,
        ObjectKind::Contacts => 50_000_000_001,
        ObjectKind::Deals => 70_000_000_001,
        ObjectKind::Notes => 90_000_000_001,
        ObjectKind::Calls => 95_000_000_001,
        ObjectKind::Tickets => 97_000_000_001,
        ObjectKind::Custom(slot) => 99_100_000_001 + u64::from(slot) * 10_000_000,
    }
}

impl Store {
    pub fn new(
        app_id: u64,
        portal_id: u64,
        kind: ObjectKind,
        event_ids: Arc<AtomicU64>,
        now_ms: i64,
    ) -> Self {
        Self {
            app_id,
            portal_id,
            kind,
            properties: properties::default_properties(kind, now_ms),
            groups: properties::default_groups(kind),
            records: BTreeMap::new(),
            unique_index: kind
                .built_in_unique()
                .iter()
                .map(|name| ((*name).to_owned(), HashMap::new()))
                .collect(),
            interned_names: HashSet::new(),
            next_id: first_id(kind),
            active: 0,
            event_ids,
            pending_events: Vec::new(),
            emit_events: true,
            required_properties: BTreeSet::new(),
            pipelines: match kind {
                ObjectKind::Deals => Some(Pipelines::defaults(PipelineKind::Deals)),
                ObjectKind::Tickets => Some(Pipelines::defaults(PipelineKind::Tickets)),
                _ => None,
            },
            closed_won_requires_close_date: false,
        }
    }

    /// Refuses a write that breaks the portal's validation rules: a create without a required
    /// property, or an update clearing one. `existing` is the record an update writes to.
    pub fn check_portal_rules(
        &self,
        values: &PropertyValues,
        existing: Option<u64>,
    ) -> Result<(), ApiError> {
        self.check_close_date(values, existing)?;
        let missing: Vec<String> = self
            .required_properties
            .iter()
            .filter(|name| match (values.get(name.as_str()), existing) {
                (Some(value), _) => value.trim().is_empty(),
                (None, None) => true,
                // An update that leaves the property alone is not judged by it.
                (None, Some(_)) => false,
            })
            .cloned()
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let details = missing
            .iter()
            .map(|name| {
                ErrorDetail::property(format!("{name} is required"), "REQUIRED_FIELD", name)
            })
            .collect();
        Err(ApiError::validation(format!(
            "This {} does not meet the portal's validation rules: {} required",
            self.kind.singular(),
            missing.join(", ")
        ))
        .with_context("propertyName", missing)
        .with_errors(details))
    }

    /// Back to the built-in properties and no records (ids keep growing).
    pub fn reset(&mut self, now_ms: i64) {
        let next_id = self.next_id;
        let event_ids = Arc::clone(&self.event_ids);
        *self = Self::new(self.app_id, self.portal_id, self.kind, event_ids, now_ms);
        self.next_id = next_id;
    }

    /// Makes this (custom slot's) store the type a schema defines: no records, HubSpot's
    /// built-in properties in the group `<name>_information` with the schema's own, and its
    /// required properties enforced on creates.
    pub fn define(
        &mut self,
        name: &str,
        properties: Vec<PropertyDefinition>,
        required: &[String],
        now_ms: i64,
    ) -> Result<(), ApiError> {
        self.reset(now_ms);
        let group = format!("{name}_information");
        self.groups.clear();
        self.groups.insert(
            group.clone(),
            crate::properties::PropertyGroup {
                name: group.clone(),
                label: format!("{name} information"),
                display_order: 0,
            },
        );
        for definition in self.properties.values_mut() {
            definition.group_name.clone_from(&group);
        }
        for mut definition in properties {
            definition.group_name.clone_from(&group);
            self.add_property(definition)?;
        }
        if let Some(unknown) = required.iter().find(|p| !self.properties.contains_key(*p)) {
            return Err(ApiError::validation(format!(
                "Required property {unknown:?} is not a property of {name}"
            ))
            .with_sub_category("InvalidPropertiesError.INVALID_REQUIRED_PROPERTIES"));
        }
        self.required_properties = required.iter().cloned().collect();
        Ok(())
    }

    /// HubSpot's 404 for a record id this store does not hold.
    pub fn not_found(&self, id: &str) -> ApiError {
        not_found(self.kind, id)
    }

    pub fn active_count(&self) -> usize {
        self.active
    }

    pub fn archived_count(&self) -> usize {
        self.records.len() - self.active
    }

    pub fn record(&self, id: u64) -> Option<&Record> {
        self.records.get(&id)
    }

    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.records.values()
    }

    fn intern(&mut self, name: &str) -> Arc<str> {
        if let Some(existing) = self.interned_names.get(name) {
            return Arc::clone(existing);
        }
        let interned: Arc<str> = Arc::from(name);
        self.interned_names.insert(Arc::clone(&interned));
        interned
    }

    /// Owner of a unique value, if any (archived owners included).
    pub fn unique_owner(&self, property: &str, value: &str) -> Option<u64> {
        self.unique_index
            .get(property)?
            .get(value.to_lowercase().as_str())
            .copied()
    }

    pub fn has_unique_index(&self, property: &str) -> bool {
        self.unique_index.contains_key(property)
    }

    /// Resolves `id` (an object id, or a unique property's value when `id_property` names one).
    pub fn resolve_id(&self, id: &str, id_property: Option<&str>) -> Result<Option<u64>, ApiError> {
        match id_property {
            None | Some(OBJECT_ID) | Some("") => Ok(id
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|id| self.records.contains_key(id))),
            Some(property) if self.kind.built_in_unique().contains(&property) => {
                Ok(self.unique_owner(property, id))
            }
            Some(property) => {
                let Some(definition) = self.properties.get(property) else {
                    return Err(ApiError::validation(format!(
                        "Property {property:?} does not exist"
                    )));
                };
                if !definition.has_unique_value {
                    return Err(ApiError::validation(format!(
                        "Property {property:?} is not a unique identifier property (hasUniqueValue is false)"
                    )));
                }
                Ok(self.unique_owner(property, id))
            }
        }
    }

    /// Checks names, types and values of a write; collects every problem like HubSpot does.
    pub fn check_values(&self, values: &PropertyValues) -> Result<(), ApiError> {
        self.check_values_of(values, false)
    }

    /// [`Store::check_values`], and on a create also the properties HubSpot requires of
    /// every new record of the type, in the same answer.
    fn check_values_of(&self, values: &PropertyValues, creating: bool) -> Result<(), ApiError> {
        let mut details: Vec<ErrorDetail> = values
            .iter()
            .filter_map(|(name, value)| match self.properties.get(name) {
                None => Some(unknown_property(name)),
                Some(definition) => definition.check_value(value).err(),
            })
            .collect();
        if creating {
            details.extend(
                self.kind
                    .required_on_create()
                    .iter()
                    .filter(|name| values.get(**name).is_none_or(|v| v.trim().is_empty()))
                    .map(|name| {
                        ErrorDetail::property(format!("{name} is required"), "REQUIRED_FIELD", name)
                    }),
            );
        }
        if details.is_empty() {
            Ok(())
        } else {
            Err(invalid_property_values(details))
        }
    }

    /// Refuses a write that would give a unique property a value another company holds.
    pub fn check_unique(
        &self,
        owner: Option<u64>,
        values: &PropertyValues,
    ) -> Result<(), ApiError> {
        for (name, value) in values {
            if value.is_empty() || !self.has_unique_index(name) {
                continue;
            }
            if let Some(existing) = self.unique_owner(name, value)
                && Some(existing) != owner
            {
                let message = match self.kind {
                    ObjectKind::Contacts if name == "email" => {
                        format!("Contact already exists. Existing ID: {existing}")
                    }
                    kind => format!(
                        "A {} with the value {value:?} for the unique property {name:?} already exists. Existing ID: {existing}",
                        kind.singular()
                    ),
                };
                return Err(ApiError::conflict(message)
                    .with_context("ids", vec![existing.to_string()])
                    .with_context("propertyName", vec![name.clone()]));
            }
        }
        Ok(())
    }

    /// Creates a company after checking values and uniqueness.
    pub fn create(
        &mut self,
        values: &PropertyValues,
        actor: Actor,
        now_ms: i64,
    ) -> Result<u64, ApiError> {
        self.check_values_of(values, true)?;
        self.check_stage(values, None)?;
        self.check_unique(None, values)?;
        Ok(self.insert_checked(values, actor, now_ms))
    }

    fn insert_checked(&mut self, values: &PropertyValues, actor: Actor, now_ms: i64) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.records.insert(
            id,
            Record {
                id,
                created_at_ms: now_ms,
                updated_at_ms: now_ms,
                archived_at_ms: None,
                created_by: actor,
                properties: Vec::with_capacity(values.len()),
            },
        );
        self.active += 1;
        self.emit(EventKind::Creation, id, actor, now_ms);
        for (name, value) in values {
            if self.set_value(id, name, value, actor, now_ms) {
                self.emit(
                    EventKind::PropertyChange {
                        name: name.clone(),
                        value: value.clone(),
                    },
                    id,
                    actor,
                    now_ms,
                );
            }
        }
        if let Some(kind) = self.pipelines.as_ref().map(|p| p.kind) {
            if self
                .records
                .get(&id)
                .and_then(|r| r.value(kind.pipeline_property()))
                .is_none()
            {
                let property = kind.pipeline_property();
                self.set_value(id, property, kind.default_pipeline(), actor, now_ms);
            }
            self.derive_stage_properties(id, actor, now_ms);
        }
        id
    }

    /// Seeds companies without events or per-value checks beyond uniqueness (tests, benchmarks).
    pub fn seed(&mut self, values: &PropertyValues, now_ms: i64) -> Result<u64, ApiError> {
        self.check_values_of(values, true)?;
        self.check_unique(None, values)?;
        let emit_events = std::mem::replace(&mut self.emit_events, false);
        let id = self.insert_checked(values, Actor::Integration, now_ms);
        self.emit_events = emit_events;
        Ok(id)
    }

    /// Updates an active company; returns whether anything changed.
    pub fn update(
        &mut self,
        id: u64,
        values: &PropertyValues,
        actor: Actor,
        now_ms: i64,
    ) -> Result<bool, ApiError> {
        match self.records.get(&id) {
            Some(company) if !company.is_archived() => {}
            _ => return Err(self.not_found(&id.to_string())),
        }
        self.check_values(values)?;
        self.check_stage(values, Some(id))?;
        self.check_unique(Some(id), values)?;
        let mut changed = false;
        for (name, value) in values {
            if self.set_value(id, name, value, actor, now_ms) {
                changed = true;
                self.emit(
                    EventKind::PropertyChange {
                        name: name.clone(),
                        value: value.clone(),
                    },
                    id,
                    actor,
                    now_ms,
                );
            }
        }
        if changed {
            self.derive_stage_properties(id, actor, now_ms);
        }
        if changed && let Some(company) = self.records.get_mut(&id) {
            company.updated_at_ms = now_ms;
        }
        Ok(changed)
    }

    /// The value a write leaves `name` with: the written one, else the record's.
    fn value_after(&self, name: &str, values: &PropertyValues, existing: Option<u64>) -> String {
        values
            .get(name)
            .cloned()
            .or_else(|| existing.and_then(|id| self.records.get(&id)?.value(name)))
            .unwrap_or_default()
    }

    /// The pipeline and stage a deal or ticket write leaves (the pipeline defaults to
    /// HubSpot's).
    fn stage_after(&self, values: &PropertyValues, existing: Option<u64>) -> (String, String) {
        let kind = self
            .pipelines
            .as_ref()
            .map_or(PipelineKind::Deals, |p| p.kind);
        let pipeline = self.value_after(kind.pipeline_property(), values, existing);
        let pipeline = if pipeline.is_empty() {
            kind.default_pipeline().to_owned()
        } else {
            pipeline
        };
        (
            pipeline,
            self.value_after(kind.stage_property(), values, existing),
        )
    }

    /// A deal's or ticket's stage must be one of its pipeline's, on every path (HubSpot
    /// checks options).
    fn check_stage(&self, values: &PropertyValues, existing: Option<u64>) -> Result<(), ApiError> {
        let Some(pipelines) = &self.pipelines else {
            return Ok(());
        };
        if !values.contains_key(pipelines.kind.stage_property())
            && !values.contains_key(pipelines.kind.pipeline_property())
        {
            return Ok(());
        }
        let (pipeline, stage) = self.stage_after(values, existing);
        if stage.is_empty() {
            return match pipelines.get(&pipeline) {
                Some(_) => Ok(()),
                None => pipelines.checked_stage(&pipeline, "").map(|_| ()),
            };
        }
        pipelines.checked_stage(&pipeline, &stage).map(|_| ())
    }

    /// The conditional rule of the 2026-09 paths: a deal closed won needs its close date.
    fn check_close_date(
        &self,
        values: &PropertyValues,
        existing: Option<u64>,
    ) -> Result<(), ApiError> {
        let Some(pipelines) = self
            .pipelines
            .as_ref()
            .filter(|p| self.closed_won_requires_close_date && p.kind == PipelineKind::Deals)
        else {
            return Ok(());
        };
        let (pipeline, stage) = self.stage_after(values, existing);
        let won = pipelines
            .get(&pipeline)
            .and_then(|p| p.stage(&stage))
            .is_some_and(|s| s.is_won());
        if !won
            || !self
                .value_after("closedate", values, existing)
                .trim()
                .is_empty()
        {
            return Ok(());
        }
        Err(ApiError::validation(
            "This deal does not meet the portal's validation rules: closedate is required when the deal is closed won",
        )
        .with_context("propertyName", vec!["closedate".to_owned()])
        .with_errors(vec![ErrorDetail::property(
            "closedate is required when dealstage is closed won".to_owned(),
            "REQUIRED_FIELD",
            "closedate",
        )]))
    }

    /// HubSpot's calculated properties follow the stage: a deal's probability and whether it
    /// is won; when a ticket was closed.
    fn derive_stage_properties(&mut self, id: u64, actor: Actor, now_ms: i64) {
        let Some(pipelines) = &self.pipelines else {
            return;
        };
        let (pipeline, stage) = self.stage_after(&PropertyValues::new(), Some(id));
        let stage = pipelines.get(&pipeline).and_then(|p| p.stage(&stage));
        if pipelines.kind == PipelineKind::Tickets {
            let closed = stage.is_some_and(|s| s.is_closed);
            let closed_date = self.records.get(&id).and_then(|r| r.value("closed_date"));
            match (closed, closed_date) {
                (true, None) => {
                    let now = crate::time::iso_millis(now_ms);
                    self.set_value(id, "closed_date", &now, actor, now_ms);
                }
                (false, Some(_)) => {
                    self.set_value(id, "closed_date", "", actor, now_ms);
                }
                _ => {}
            }
            return;
        }
        let (probability, won) = match stage {
            Some(stage) => (stage.probability.to_string(), stage.is_won()),
            None => (String::new(), false),
        };
        self.set_value(id, "hs_deal_stage_probability", &probability, actor, now_ms);
        self.set_value(id, "hs_is_closed_won", &won.to_string(), actor, now_ms);
    }

    /// Writes one checked value; returns whether the value changed. Keeps unique indexes.
    fn set_value(&mut self, id: u64, name: &str, value: &str, actor: Actor, now_ms: i64) -> bool {
        let interned = self.intern(name);
        let unique = self.has_unique_index(name);
        let Some(company) = self.records.get_mut(&id) else {
            return false;
        };
        let index = match company.properties.binary_search_by(|p| (*p.name).cmp(name)) {
            Ok(index) => index,
            Err(index) => {
                if value.is_empty() {
                    return false;
                }
                company.properties.insert(
                    index,
                    StoredProperty {
                        name: interned,
                        history: Vec::with_capacity(1),
                    },
                );
                index
            }
        };
        let stored = &mut company.properties[index];
        let previous = stored.history.last().map(|entry| entry.value.clone());
        if previous.as_deref().unwrap_or("") == value {
            return false;
        }
        if stored.history.len() >= HISTORY_LIMIT {
            stored.history.remove(0);
        }
        stored.history.push(HistoryEntry {
            value: value.into(),
            timestamp_ms: now_ms,
            source: actor,
        });
        if unique && let Some(index) = self.unique_index.get_mut(name) {
            if let Some(previous) = previous.filter(|p| !p.is_empty()) {
                let key = previous.to_lowercase();
                if index.get(key.as_str()) == Some(&id) {
                    index.remove(key.as_str());
                }
            }
            if !value.is_empty() {
                index.insert(value.to_lowercase().into_boxed_str(), id);
            }
        }
        true
    }

    /// Archives an active company; false when there is none to archive.
    pub fn archive(&mut self, id: u64, actor: Actor, now_ms: i64) -> bool {
        match self.records.get_mut(&id) {
            Some(company) if !company.is_archived() => {
                company.archived_at_ms = Some(now_ms);
                company.updated_at_ms = now_ms;
                self.active -= 1;
                self.emit(EventKind::Deletion, id, actor, now_ms);
                true
            }
            _ => false,
        }
    }

    /// Brings an archived company back.
    pub fn restore(&mut self, id: u64, actor: Actor, now_ms: i64) -> Result<(), ApiError> {
        match self.records.get_mut(&id) {
            Some(company) if company.is_archived() => {
                company.archived_at_ms = None;
                company.updated_at_ms = now_ms;
                self.active += 1;
                self.emit(EventKind::Restore, id, actor, now_ms);
                Ok(())
            }
            Some(_) => Err(ApiError::validation(format!(
                "{} {id} is not archived",
                self.kind.singular()
            ))),
            None => Err(self.not_found(&id.to_string())),
        }
    }

    /// Merges `loser` into `primary`: the primary keeps its values and takes the loser's values
    /// for properties it lacks; the loser is archived.
    pub fn merge(
        &mut self,
        primary: u64,
        loser: u64,
        actor: Actor,
        now_ms: i64,
    ) -> Result<(), ApiError> {
        if primary == loser {
            return Err(ApiError::validation(format!(
                "Cannot merge a {} into itself",
                self.kind.singular()
            )));
        }
        for id in [primary, loser] {
            match self.records.get(&id) {
                Some(company) if !company.is_archived() => {}
                _ => return Err(self.not_found(&id.to_string())),
            }
        }
        let moved: Vec<(String, String)> =
            match (self.records.get(&primary), self.records.get(&loser)) {
                (Some(primary_company), Some(loser_company)) => loser_company
                    .properties
                    .iter()
                    .filter_map(|stored| {
                        let value = stored.history.last()?.value.to_string();
                        let gap = primary_company
                            .stored_value_as_of(&stored.name, i64::MAX)
                            .is_none();
                        (gap && !value.is_empty()).then(|| (stored.name.to_string(), value))
                    })
                    .collect(),
                _ => Vec::new(),
            };
        // Unique values travel with the data: free them from the loser first.
        for (name, _) in &moved {
            if self.has_unique_index(name) {
                self.set_value(loser, name, "", actor, now_ms);
            }
        }
        for (name, value) in &moved {
            self.set_value(primary, name, value, actor, now_ms);
        }
        if self.properties.contains_key(MERGED_OBJECT_IDS) {
            // The survivor lists every id merged into it, the loser's own merged ids too.
            let mut merged: Vec<String> = Vec::new();
            for id in [primary, loser] {
                let listed = self
                    .records
                    .get(&id)
                    .and_then(|record| record.stored_value_as_of(MERGED_OBJECT_IDS, i64::MAX))
                    .map(str::to_owned)
                    .unwrap_or_default();
                merged.extend(listed.split(';').map(str::to_owned));
            }
            merged.push(loser.to_string());
            merged.retain(|id| !id.is_empty());
            let mut seen = HashSet::new();
            merged.retain(|id| seen.insert(id.clone()));
            self.set_value(primary, MERGED_OBJECT_IDS, &merged.join(";"), actor, now_ms);
        }
        if let Some(company) = self.records.get_mut(&primary) {
            company.updated_at_ms = now_ms;
        }
        if let Some(company) = self.records.get_mut(&loser) {
            company.archived_at_ms = Some(now_ms);
            company.updated_at_ms = now_ms;
            self.active -= 1;
        }
        self.emit(
            EventKind::Merge {
                primary_object_id: primary,
                merged_object_ids: vec![loser],
                new_object_id: primary,
                number_of_properties_moved: u32::try_from(moved.len()).unwrap_or(u32::MAX),
            },
            primary,
            actor,
            now_ms,
        );
        self.emit(EventKind::Deletion, loser, actor, now_ms);
        Ok(())
    }

    /// A page of companies in id order, starting at cursor `after` (inclusive).
    pub fn list(
        &self,
        after: Option<u64>,
        limit: usize,
        archived: bool,
    ) -> (Vec<&Record>, Option<u64>) {
        let start = after.map_or(Bound::Unbounded, Bound::Included);
        let mut page = Vec::with_capacity(limit);
        let mut next = None;
        for company in self
            .records
            .range((start, Bound::Unbounded))
            .map(|(_, company)| company)
            .filter(|company| company.is_archived() == archived)
        {
            if page.len() == limit {
                next = Some(company.id);
                break;
            }
            page.push(company);
        }
        (page, next)
    }

    /// The `SimplePublicObject` JSON of a company.
    pub fn render(&self, company: &Record, shape: &ReadShape) -> Value {
        let as_of_ms = shape.as_of_ms.unwrap_or(i64::MAX);
        let mut properties = Map::new();
        let mut put = |name: &str| {
            if let Some(value) = company.value_as_of(name, as_of_ms) {
                properties.insert(name.to_owned(), Value::String(value));
            }
        };
        match &shape.properties {
            None => self
                .kind
                .default_read_properties()
                .iter()
                .for_each(|name| put(name)),
            // HubSpot answers a read that names properties with those plus the ones it
            // computes for every record; HubSpot's SDKs rely on them being there.
            Some(names) => names
                .iter()
                .map(String::as_str)
                .filter(|name| self.properties.contains_key(*name))
                .chain([
                    OBJECT_ID,
                    self.kind.create_date_property(),
                    self.kind.last_modified_property(),
                ])
                .for_each(&mut put),
        }
        let mut object = json!({
            "id": company.id.to_string(),
            "properties": properties,
            "createdAt": iso_millis(company.created_at_ms),
            "updatedAt": iso_millis(company.updated_at_ms),
            "archived": company.is_archived(),
        });
        if let Some(archived_at) = company.archived_at_ms {
            object["archivedAt"] = json!(iso_millis(archived_at));
        }
        if !shape.properties_with_history.is_empty() {
            let history: Map<String, Value> = shape
                .properties_with_history
                .iter()
                .filter(|name| self.properties.contains_key(name.as_str()))
                .map(|name| {
                    (
                        name.clone(),
                        Value::Array(company.history_json(name, self.app_id)),
                    )
                })
                .collect();
            object["propertiesWithHistory"] = Value::Object(history);
        }
        object
    }

    /// The JSON answered after a write: every property the company holds plus computed ones.
    pub fn render_written(&self, company: &Record) -> Value {
        let names: Vec<String> = company
            .properties
            .iter()
            .filter(|stored| stored.history.last().is_some_and(|e| !e.value.is_empty()))
            .map(|stored| stored.name.to_string())
            .collect();
        self.render(
            company,
            &ReadShape {
                properties: Some(names),
                ..ReadShape::default()
            },
        )
    }

    /// Announces an association of `object_id` (of this store's type) made or removed.
    pub fn emit_association_change(
        &mut self,
        object_id: u64,
        change: EventKind,
        actor: Actor,
        now_ms: i64,
    ) {
        self.emit(change, object_id, actor, now_ms);
    }

    /// Deletes a record for good (a GDPR request): gone from reads, archived or not, and
    /// announced as a privacy deletion. `false` when there is no such record.
    pub fn privacy_delete(&mut self, id: u64, actor: Actor, now_ms: i64) -> bool {
        let Some(record) = self.records.remove(&id) else {
            return false;
        };
        if !record.is_archived() {
            self.active -= 1;
        }
        for index in self.unique_index.values_mut() {
            index.retain(|_, owner| *owner != id);
        }
        self.emit(EventKind::PrivacyDeletion, id, actor, now_ms);
        true
    }

    fn emit(&mut self, kind: EventKind, object_id: u64, actor: Actor, now_ms: i64) {
        if !self.emit_events {
            return;
        }
        let event = WebhookEvent::new(
            &self.event_ids,
            kind,
            EventOrigin {
                portal_id: self.portal_id,
                app_id: self.app_id,
                object: self.kind,
            },
            object_id,
            actor,
            now_ms,
        );
        // A note's changes produce none: HubSpot's subscriptions do not cover notes.
        self.pending_events.extend(event);
    }

    // ----- property definitions -----

    /// Adds a property definition (and its unique index when it has one).
    pub fn add_property(&mut self, definition: PropertyDefinition) -> Result<(), ApiError> {
        if self.properties.contains_key(&definition.name) {
            return Err(ApiError::already_exists(format!(
                "A property named '{}' already exists.",
                definition.name
            ))
            .with_sub_category("PropertyAlreadyExists"));
        }
        if !self.groups.contains_key(&definition.group_name) {
            return Err(ApiError::validation(format!(
                "Property group {:?} does not exist",
                definition.group_name
            )));
        }
        if definition.has_unique_value {
            self.unique_index
                .insert(definition.name.clone(), HashMap::new());
        }
        self.properties.insert(definition.name.clone(), definition);
        Ok(())
    }

    /// Removes a custom property; company values of it are no longer returned.
    pub fn remove_property(&mut self, name: &str) -> Result<(), ApiError> {
        match self.properties.get(name) {
            None => Err(property_not_found(name)),
            Some(definition) if definition.hubspot_defined => Err(ApiError::validation(format!(
                "{name:?} is a HubSpot-defined property and cannot be deleted"
            ))),
            Some(_) => {
                self.properties.remove(name);
                self.unique_index.remove(name);
                Ok(())
            }
        }
    }
}

/// HubSpot's 404 for a record id of `kind` that does not exist.
pub fn not_found(kind: ObjectKind, id: &str) -> ApiError {
    ApiError::not_found(format!("No {} exists with id {id}", kind.singular()))
        .with_context("ids", vec![id.to_owned()])
}

pub fn property_not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("Property {name} does not exist"))
        .with_context("propertyName", vec![name.to_owned()])
}
