//! Property tests of the sync rules: no loops (guarantee 3), outbound diffs only carry outbound
//! fields, canonical() is idempotent, stale events never apply, inbound decisions are
//! deterministic and independent across fields, and webhook parsing never panics.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use warp_domain::sync::{
    ConflictRule, FieldMap, FieldMapping, FieldMappingRow, FieldState, FieldValues, InboundChange,
    InboundDecision, SyncDirection, WarpField, canonical, decide_inbound, outbound_diff,
    parse_webhook_batch, record_pushed,
};

fn any_field() -> impl Strategy<Value = WarpField> {
    prop::sample::select(WarpField::COMPANY.to_vec())
}

/// Raw text of the kinds the canonical rules care about, plus arbitrary text.
fn any_raw() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,12}",
        "[ \t]{0,2}-?[0-9]{1,8}(\\.[0-9]{0,5})?([eE]-?[0-9])?[ ]{0,2}",
        "(true|TRUE|false|False|1|0|yes|no|on|off| )",
        "[A-Za-z]{1,6}\\.[A-Za-z]{2,3}\\.{0,2}",
        "[a-zA-Z.]{1,5}@[a-zA-Z.]{1,5}",
        "\\+?[0-9 ()\\-.]{0,14}",
        "[ -~]{0,10}",
    ]
}

fn any_value() -> impl Strategy<Value = Option<String>> {
    prop::option::of(any_raw())
}

fn any_values() -> impl Strategy<Value = FieldValues> {
    prop::collection::btree_map(any_field(), any_value(), 0..=12).prop_map(|values| {
        values
            .iter()
            .map(|(field, value)| (*field, value.as_deref()))
            .collect()
    })
}

/// Any valid mapping: each field present or not, any direction with a rule that does not
/// contradict it, enabled or not, with distinct property names.
fn any_map() -> impl Strategy<Value = FieldMap> {
    let one = (any::<bool>(), 0..3usize, 0..3usize, any::<bool>());
    prop::collection::vec(one, 12).prop_map(|choices| {
        let rows = WarpField::COMPANY
            .into_iter()
            .zip(choices)
            .filter(|(_, (present, ..))| *present)
            .map(|(field, (_, direction, rule, enabled))| {
                let direction = ["WARP_TO_HUBSPOT", "HUBSPOT_TO_WARP", "BOTH"][direction];
                let rule = match direction {
                    "WARP_TO_HUBSPOT" => ["WARP_WINS", "LATEST_WINS"][rule % 2],
                    "HUBSPOT_TO_WARP" => "HUBSPOT_WINS",
                    _ => ["WARP_WINS", "HUBSPOT_WINS", "LATEST_WINS"][rule],
                };
                if field == WarpField::Ban {
                    // The key's row is fixed (FieldMapError::KeyFieldFixed).
                    return FieldMap::default_mapping().get(field).unwrap().to_row();
                }
                FieldMappingRow {
                    warp_field: field.as_str().to_owned(),
                    hubspot_property: format!("p_{}", field.as_str().replace('.', "_")),
                    direction: direction.to_owned(),
                    conflict_rule: rule.to_owned(),
                    enabled,
                    never_overwrite_with_empty: !enabled,
                }
            });
        FieldMap::from_rows(rows).expect("generated rows are valid")
    })
}

fn any_mapping() -> impl Strategy<Value = FieldMapping> {
    (
        any_field(),
        prop::sample::select(vec![
            (SyncDirection::WarpToHubSpot, ConflictRule::WarpWins),
            (SyncDirection::WarpToHubSpot, ConflictRule::LatestWins),
            (SyncDirection::HubSpotToWarp, ConflictRule::HubSpotWins),
            (SyncDirection::Both, ConflictRule::WarpWins),
            (SyncDirection::Both, ConflictRule::HubSpotWins),
            (SyncDirection::Both, ConflictRule::LatestWins),
        ]),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(field, (direction, rule), enabled, keep)| FieldMapping {
            field,
            hubspot_property: "p".to_owned(),
            direction,
            rule,
            enabled: enabled || field != WarpField::Ban,
            never_overwrite_with_empty: keep,
        })
}

fn time(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_700_000_000_000 + millis)
        .unwrap()
}

/// Times close together, so the one-second window and exact ties are hit often.
fn any_time() -> impl Strategy<Value = DateTime<Utc>> {
    prop_oneof![
        0..3_000i64,
        prop::sample::select(vec![0i64, 999, 1_000, 1_001, 2_000])
    ]
    .prop_map(time)
}

/// Values drawn from a small pool so that echoes (equal values) are frequent.
fn pooled_value() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop::sample::select(vec![
        "A".to_owned(),
        "b".to_owned(),
        "1".to_owned(),
        " 1.0 ".to_owned(),
        "true".to_owned(),
        String::new(),
    ]))
}

fn any_state() -> impl Strategy<Value = FieldState> {
    (
        pooled_value(),
        pooled_value(),
        prop::option::of(any_time()),
        prop::option::of(any_time()),
    )
        .prop_map(
            |(warp_value, hubspot_value, warp_changed_at, hubspot_changed_at)| FieldState {
                warp_value,
                hubspot_value,
                warp_changed_at,
                hubspot_changed_at,
            },
        )
}

fn any_change() -> impl Strategy<Value = InboundChange> {
    (pooled_value(), any_time())
        .prop_map(|(value, occurred_at)| InboundChange { value, occurred_at })
}

/// (warp_changed_at, hubspot_changed_at) of one field.
type ChangeTimes = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// The caller's side of the decisions for one customer: WARP's values, HubSpot's known values
/// and each field's change times, updated as the worker does after each decision.
#[derive(Debug, Clone, PartialEq)]
struct Customer {
    warp: FieldValues,
    known: FieldValues,
    times: BTreeMap<WarpField, ChangeTimes>,
}

impl Customer {
    fn state(&self, field: WarpField) -> FieldState {
        let (warp_changed_at, hubspot_changed_at) =
            self.times.get(&field).copied().unwrap_or_default();
        let hubspot = self.known.get(field);
        FieldState {
            warp_value: self.warp.get(field).flatten().map(str::to_owned),
            hubspot_value: hubspot.flatten().map(str::to_owned),
            warp_changed_at,
            // Unknown HubSpot value: no change time either.
            hubspot_changed_at: hubspot.and(hubspot_changed_at),
        }
    }

    fn handle(&mut self, mapping: &FieldMapping, change: &InboundChange) -> InboundDecision {
        let field = mapping.field;
        let decision = decide_inbound(mapping, change, &self.state(field));
        match &decision {
            InboundDecision::Apply { value } => {
                self.warp.set(field, value.as_deref());
                self.known.set(field, value.as_deref());
                self.times.entry(field).or_default().1 = Some(change.occurred_at);
            }
            InboundDecision::Override { .. } => {
                // HubSpot now holds the event's value; the outbound diff then carries the push back.
                self.known.set(field, change.value.as_deref());
                self.times.entry(field).or_default().1 = Some(change.occurred_at);
            }
            _ => {}
        }
        decision
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn canonical_is_idempotent(field in any_field(), raw in any_raw()) {
        let once = canonical(field, &raw);
        let twice = once.as_deref().and_then(|v| canonical(field, v));
        prop_assert_eq!(&once, &twice);
        if let Some(value) = &once {
            prop_assert!(!value.is_empty());
            prop_assert_eq!(value.trim(), value.as_str());
        }
    }

    #[test]
    fn outbound_diff_only_contains_outbound_fields_with_warp_values(
        map in any_map(), warp in any_values(), known in any_values(),
    ) {
        for change in outbound_diff(&map, &warp, &known) {
            let mapping = map.get(change.field).expect("changed field is mapped");
            prop_assert!(mapping.enabled && mapping.direction.includes_outbound());
            prop_assert_eq!(&change.hubspot_property, &mapping.hubspot_property);
            prop_assert_eq!(Some(change.value.as_deref()), warp.get(change.field));
            prop_assert_ne!(Some(change.value.as_deref()), known.get(change.field));
        }
    }

    #[test]
    fn recording_pushed_values_leaves_nothing_to_push(
        map in any_map(), warp in any_values(), mut known in any_values(),
    ) {
        let changes = outbound_diff(&map, &warp, &known);
        record_pushed(&mut known, &changes);
        prop_assert!(outbound_diff(&map, &warp, &known).is_empty());
    }

    #[test]
    fn applying_inbound_then_diffing_sends_nothing_back(
        map in any_map(), warp in any_values(), known in any_values(),
        field in any_field(), state in any_state(), change in any_change(),
    ) {
        // Start converged, as after a successful push.
        let Some(mapping) = map.get(field) else { return Ok(()); };
        let mut warp = warp;
        let mut known = known;
        if !warp.contains(field) {
            warp.set(field, state.warp_value.as_deref());
        }
        if !known.contains(field) {
            known.set(field, state.hubspot_value.as_deref());
        }
        let initial_push = outbound_diff(&map, &warp, &known);
        record_pushed(&mut known, &initial_push);
        let mut customer = Customer {
            warp,
            known,
            times: BTreeMap::from([(field, (state.warp_changed_at, state.hubspot_changed_at))]),
        };
        let decision = customer.handle(mapping, &change);
        let mut diff = outbound_diff(&map, &customer.warp, &customer.known);
        if let InboundDecision::Override { push_back } = &decision {
            // The diff carries exactly the push back, and once it is recorded, nothing is left.
            prop_assert_eq!(diff.len(), 1);
            prop_assert_eq!(diff[0].field, field);
            prop_assert_eq!(&diff[0].value, push_back);
            record_pushed(&mut customer.known, &diff);
            diff = outbound_diff(&map, &customer.warp, &customer.known);
        }
        prop_assert!(diff.is_empty(), "{:?} left {:?}", decision, diff);
    }

    #[test]
    fn stale_events_are_never_applied(
        mapping in any_mapping(), state in any_state(), change in any_change(),
    ) {
        let decision = decide_inbound(&mapping, &change, &state);
        if mapping.enabled
            && let Some(seen) = state.hubspot_changed_at
            && change.occurred_at < seen
        {
            prop_assert_eq!(decision, InboundDecision::Stale);
        } else {
            prop_assert_ne!(decision, InboundDecision::Stale);
        }
    }

    #[test]
    fn decisions_follow_direction_and_rule(
        mapping in any_mapping(), state in any_state(), change in any_change(),
    ) {
        let warp_value = state.warp_value.as_deref().and_then(|v| canonical(mapping.field, v));
        let keep = mapping.never_overwrite_with_empty;
        match decide_inbound(&mapping, &change, &state) {
            InboundDecision::Apply { value } => {
                prop_assert!(mapping.direction.includes_inbound());
                // Never-empty turns WARP_WINS's push of an empty value into an apply.
                prop_assert!(mapping.rule != ConflictRule::WarpWins || (keep && warp_value.is_none()));
                prop_assert!(!(keep && value.is_none() && warp_value.is_some()));
            }
            InboundDecision::Override { push_back } => {
                prop_assert_eq!(&push_back, &warp_value);
                // Never-empty turns HUBSPOT_WINS's apply of an empty value into a push back.
                prop_assert!(mapping.rule != ConflictRule::HubSpotWins || keep);
                prop_assert!(!(keep && push_back.is_none()));
            }
            InboundDecision::KeptNonEmpty => prop_assert!(keep),
            InboundDecision::Conflict { warp_value, hubspot_value } => {
                prop_assert_eq!(mapping.rule, ConflictRule::LatestWins);
                prop_assert_ne!(warp_value, hubspot_value);
            }
            InboundDecision::Ignored => prop_assert!(!mapping.enabled),
            InboundDecision::Echo | InboundDecision::Stale => {}
        }
    }

    #[test]
    fn decisions_are_deterministic_and_independent_of_order_across_fields(
        map in any_map(),
        warp in any_values(),
        known in any_values(),
        fields in prop::sample::subsequence(WarpField::COMPANY.to_vec(), 2),
        states in (any_state(), any_state()),
        changes in (any_change(), any_change()),
    ) {
        let (Some(first), Some(second)) = (map.get(fields[0]), map.get(fields[1])) else {
            return Ok(());
        };
        let times = |s: &FieldState| (s.warp_changed_at, s.hubspot_changed_at);
        let start = Customer {
            warp,
            known,
            times: BTreeMap::from([(fields[0], times(&states.0)), (fields[1], times(&states.1))]),
        };
        let mut forward = start.clone();
        let a1 = forward.handle(first, &changes.0);
        let b1 = forward.handle(second, &changes.1);
        let mut backward = start.clone();
        let b2 = backward.handle(second, &changes.1);
        let a2 = backward.handle(first, &changes.0);
        prop_assert_eq!(&a1, &a2);
        prop_assert_eq!(&b1, &b2);
        prop_assert_eq!(&forward, &backward);
        let mut again = start;
        prop_assert_eq!(again.handle(first, &changes.0), a1);
    }

    #[test]
    fn webhook_parsing_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_webhook_batch(&bytes);
    }

    #[test]
    fn webhook_parsing_never_panics_on_event_shaped_json(
        events in prop::collection::vec(
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "eventId", "portalId", "occurredAt", "objectId", "subscriptionType",
                    "eventType", "propertyName", "propertyValue", "mergedObjectIds",
                    "primaryObjectId", "newObjectId", "attemptNumber", "sourceId",
                ]),
                prop_oneof![
                    Just(serde_json::Value::Null),
                    any::<i64>().prop_map(serde_json::Value::from),
                    any::<u64>().prop_map(serde_json::Value::from),
                    any::<f64>().prop_map(serde_json::Value::from),
                    any::<bool>().prop_map(serde_json::Value::from),
                    "\\PC{0,8}".prop_map(serde_json::Value::from),
                    "company\\.(merge|propertyChange|creation)".prop_map(serde_json::Value::from),
                    prop::collection::vec(any::<i64>(), 0..3).prop_map(serde_json::Value::from),
                ],
                0..13,
            ),
            0..4,
        ),
    ) {
        let body = serde_json::to_vec(&events).unwrap();
        if let Ok(parsed) = parse_webhook_batch(&body) {
            prop_assert_eq!(parsed.len(), events.len());
            for event in &parsed {
                let _ = event.kind();
                let _ = event.dedupe_key();
            }
        }
    }
}
