//! The pure rules of the two-way HubSpot sync (DESIGN §3 and §4): the field mapping, canonical
//! values, the outbound diff, the decision for each inbound change, reconciliation drift, and
//! webhook parsing. No I/O, no async, no clock reads: times are passed in.
//!
//! # Inbound decisions: the order of the checks, and why
//!
//! [`decide_inbound`] takes the field's mapping, the change (value, `occurredAt`) and the
//! field's state (WARP's value, HubSpot's known value, and when each side last changed it), and
//! checks, in this order, stopping at the first that holds:
//!
//! 1. **Mapping disabled → `Ignored`.** A disabled field is not synced in either direction, so
//!    no other rule applies to it.
//! 2. **`occurredAt` < `hubspot_changed_at` → `Stale`.** A newer HubSpot change to this field has
//!    already been seen, so this event describes a value HubSpot no longer holds. Checked before
//!    everything that could write, so a stale event can never be applied nor pushed back
//!    against (out-of-order and duplicate delivery are normal). Equal times are not stale: a
//!    duplicate delivery of the newest event falls through to the echo check.
//! 3. **Value equal to WARP's value, or to HubSpot's known value → `Echo`.** Compared in
//!    canonical form. Either WARP already holds the value (typically our own write coming back
//!    as a propertyChange) or HubSpot was already known to hold it (a duplicate): there is
//!    nothing to apply and nothing to push. Checked before the direction and rule, because
//!    answering our own writes with a push-back or an apply is exactly a sync loop
//!    (guarantee 3). HubSpot's known value counts only when it is known: a value, or no value
//!    with a `hubspot_changed_at`.
//! 4. **Direction WARP→HubSpot → `Override { push_back: WARP's value }`.** HubSpot is not allowed
//!    to change this field; the event is not applied and WARP's value is pushed back. (The
//!    mapping guarantees such a field's rule is WARP_WINS or LATEST_WINS, never HUBSPOT_WINS.)
//! 5. **The conflict rule**, for fields whose direction lets HubSpot write:
//!    - HUBSPOT_WINS → `Apply`, even if WARP changed the field more recently.
//!    - WARP_WINS → `Override`.
//!    - LATEST_WINS, compared with `warp_changed_at`:
//!      - no WARP change time → `Apply` (WARP never changed it since sync started);
//!      - |`occurredAt` − `warp_changed_at`| < 1 s → `Conflict` (the values differ, as step 3
//!        ruled out equality; neither clock is precise enough to pick a winner, so a person
//!        does). Checked before the two comparisons below, whose ranges it overlaps;
//!      - `occurredAt` later → `Apply`; earlier → `Override` (WARP's newer value stands and is
//!        pushed back so HubSpot converges).
//!
//! After `Apply`, the caller records the value as both WARP's value and HubSpot's known value
//! (with `hubspot_changed_at = occurredAt`), so the next [`outbound_diff`] is empty for that
//! field. After `Override`, the caller records the event's value as HubSpot's known value (it
//! is what HubSpot now holds), so [`outbound_diff`] carries the push back (WARP's value) like
//! any other difference, and [`record_pushed`] once HubSpot accepted it. After `Conflict`, the
//! caller records nothing in the field state (so nothing is pushed) and keeps both values in
//! `sync_conflicts`. After `Echo`, `Stale` and `Ignored`, nothing changes.
//!
//! [`classify_drift`] applies the same rules to a full comparison during reconciliation, with
//! HubSpot's and WARP's per-field change times in place of the event time.

mod customer_values;
mod drift;
mod inbound;
mod journal;
mod mapping;
mod object_type;
mod outbound;
mod property_check;
mod user_values;
mod values;
mod webhook;

pub use customer_values::customer_field_values;
pub use drift::{
    ChangeTimes, Drift, DriftKind, RecordDrift, Repair, classify_drift, classify_record,
};
pub use inbound::{
    FieldState, InboundChange, InboundDecision, SIMULTANEOUS_WITHIN, decide_inbound,
};
pub use journal::{
    JOURNAL_APPLIED_ACTIONS, JournalEvents, JournalFileError, events_of_journal_file,
};
pub use mapping::{
    CONTACT_KEY_PROPERTY, ConflictRule, FieldMap, FieldMapError, FieldMapping, FieldMappingRow,
    KEY_PROPERTY, SyncDirection, UnknownConflictRule, UnknownSyncDirection, UnknownWarpField,
    WarpField, key_property,
};
pub use object_type::{CrmObject, ObjectType, UnknownObjectType};
pub use outbound::{FieldChange, full_push, outbound_diff, record_pushed};
pub use property_check::{
    PropertyFacts, PropertyMismatch, ValueKind, check_property, check_property_kind,
};
pub use user_values::user_field_values;
pub use values::{FieldValues, canonical, canonical_opt};
pub use webhook::{
    EventKind, MAX_EVENTS_PER_BATCH, WebhookDedupeKey, WebhookEvent, WebhookParseError,
    event_retry, parse_webhook_batch, parse_webhook_batch_with_raw, sort_for_processing,
};
