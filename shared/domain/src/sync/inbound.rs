//! What to do with one HubSpot property change for one customer field: apply it, override it
//! with WARP's value, drop it as an echo or as stale, or keep it as a conflict for a person.
//! The order of the checks, and why, is in the [`crate::sync`] module doc.

use chrono::{DateTime, TimeDelta, Utc};

use super::mapping::{ConflictRule, FieldMapping};
use super::values::canonical_opt;

/// Two changes closer together than this are simultaneous for LATEST_WINS: clocks of two
/// systems and HubSpot's event times are not precise enough to order them.
pub const SIMULTANEOUS_WITHIN: TimeDelta = TimeDelta::seconds(1);

/// A HubSpot property change, as its webhook event reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundChange {
    /// The new value (raw; canonicalised by the decision). `None` or "" means cleared.
    pub value: Option<String>,
    /// HubSpot's `occurredAt`.
    pub occurred_at: DateTime<Utc>,
}

/// What WARP knows about one field of one customer (a `hubspot_field_state` row, with WARP's
/// current value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldState {
    /// WARP's current value.
    pub warp_value: Option<String>,
    /// The last value HubSpot is known to hold. `None` with `hubspot_changed_at` set means
    /// HubSpot is known to hold no value; `None` without a time means it is unknown.
    pub hubspot_value: Option<String>,
    /// When WARP last changed the field (`None`: never, or before sync started).
    pub warp_changed_at: Option<DateTime<Utc>>,
    /// When HubSpot last changed the field, as far as WARP has seen (the newest applied or
    /// recorded event's occurredAt, or the time of our own accepted write).
    pub hubspot_changed_at: Option<DateTime<Utc>>,
}

/// The decision for one inbound change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundDecision {
    /// Write `value` into WARP and record it as HubSpot's known value.
    Apply { value: Option<String> },
    /// Do not apply; push WARP's value back to HubSpot (logged as OVERRIDDEN).
    Override { push_back: Option<String> },
    /// The event reports a value HubSpot is known to hold or WARP already holds (typically our
    /// own write coming back): nothing to do.
    Echo,
    /// The event is older than the newest HubSpot change already seen: skip it and log.
    Stale,
    /// LATEST_WINS with both sides changing the field within [`SIMULTANEOUS_WITHIN`] to
    /// different values: keep both for a person (`sync_conflicts`), change nothing.
    Conflict {
        warp_value: Option<String>,
        hubspot_value: Option<String>,
    },
    /// The mapping is disabled: the field is not synced at all.
    Ignored,
    /// "Never overwrite with an empty value" stops the rules' decision and the value cannot
    /// flow the other way either: each side keeps what it holds.
    KeptNonEmpty,
}

/// Decides one inbound change; pure and deterministic. Values are compared in their
/// [`canonical`](super::canonical) forms, and the values in the decision are canonical.
pub fn decide_inbound(
    mapping: &FieldMapping,
    change: &InboundChange,
    state: &FieldState,
) -> InboundDecision {
    let field = mapping.field;
    if !mapping.enabled {
        return InboundDecision::Ignored;
    }
    if let Some(hubspot_changed_at) = state.hubspot_changed_at
        && change.occurred_at < hubspot_changed_at
    {
        return InboundDecision::Stale;
    }

    let value = canonical_opt(field, change.value.as_deref());
    let warp_value = canonical_opt(field, state.warp_value.as_deref());
    let hubspot_value = canonical_opt(field, state.hubspot_value.as_deref());
    let hubspot_value_known = hubspot_value.is_some() || state.hubspot_changed_at.is_some();
    if value == warp_value || (hubspot_value_known && value == hubspot_value) {
        return InboundDecision::Echo;
    }

    let decision = decide_by_rules(mapping, change, state, value.clone(), warp_value.clone());
    keep_non_empty(mapping, decision, value, warp_value)
}

/// "Never overwrite with an empty value" over a decision of the rules, matching
/// reconciliation's repair: the side holding a value keeps it, and the empty side is filled
/// from it when the direction lets the value flow that way.
fn keep_non_empty(
    mapping: &FieldMapping,
    decision: InboundDecision,
    value: Option<String>,
    warp_value: Option<String>,
) -> InboundDecision {
    if !mapping.never_overwrite_with_empty {
        return decision;
    }
    match decision {
        InboundDecision::Apply { value: None } if warp_value.is_some() => {
            if mapping.direction.includes_outbound() {
                InboundDecision::Override {
                    push_back: warp_value,
                }
            } else {
                InboundDecision::KeptNonEmpty
            }
        }
        // WARP's empty value would be pushed over HubSpot's (the event's value is not empty:
        // it differs from WARP's, or the decision would have been an echo).
        InboundDecision::Override { push_back: None } => {
            if mapping.direction.includes_inbound() {
                InboundDecision::Apply { value }
            } else {
                InboundDecision::KeptNonEmpty
            }
        }
        other => other,
    }
}

fn decide_by_rules(
    mapping: &FieldMapping,
    change: &InboundChange,
    state: &FieldState,
    value: Option<String>,
    warp_value: Option<String>,
) -> InboundDecision {
    if !mapping.direction.includes_inbound() {
        return InboundDecision::Override {
            push_back: warp_value,
        };
    }
    match mapping.rule {
        ConflictRule::HubSpotWins => InboundDecision::Apply { value },
        ConflictRule::WarpWins => InboundDecision::Override {
            push_back: warp_value,
        },
        ConflictRule::LatestWins => match state.warp_changed_at {
            None => InboundDecision::Apply { value },
            Some(warp_changed_at) => {
                if (change.occurred_at - warp_changed_at).abs() < SIMULTANEOUS_WITHIN {
                    InboundDecision::Conflict {
                        warp_value,
                        hubspot_value: value,
                    }
                } else if change.occurred_at > warp_changed_at {
                    InboundDecision::Apply { value }
                } else {
                    InboundDecision::Override {
                        push_back: warp_value,
                    }
                }
            }
        },
    }
}
