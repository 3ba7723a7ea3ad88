//! "Never overwrite with an empty value" (DESIGN §7), through the three places a value moves:
//! the inbound decision, the outbound diff and reconciliation's repair; and the key field,
//! which no mapping change may touch.

use chrono::{DateTime, TimeZone, Utc};
use warp_domain::sync::{
    ChangeTimes, ConflictRule, FieldMap, FieldMapError, FieldMapping, FieldState, FieldValues,
    InboundChange, InboundDecision, Repair, SyncDirection, WarpField, classify_drift,
    decide_inbound, full_push, outbound_diff,
};

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + seconds, 0).unwrap()
}

/// The default mapping with `field` set to `direction`/`rule` and never-empty on or off.
fn map_with(
    field: WarpField,
    direction: SyncDirection,
    rule: ConflictRule,
    keep: bool,
) -> FieldMap {
    let base = FieldMap::default_mapping();
    let mut row = base.get(field).unwrap().to_row();
    row.direction = direction.as_str().to_owned();
    row.conflict_rule = rule.as_str().to_owned();
    row.never_overwrite_with_empty = keep;
    base.with_row(row).unwrap()
}

fn mapping(map: &FieldMap, field: WarpField) -> &FieldMapping {
    map.get(field).unwrap()
}

fn cleared_in_hubspot(warp_changed_at: Option<i64>) -> (InboundChange, FieldState) {
    (
        InboundChange {
            value: Some(String::new()),
            occurred_at: at(100),
        },
        FieldState {
            warp_value: Some("acme.com".into()),
            hubspot_value: Some("acme.com".into()),
            warp_changed_at: warp_changed_at.map(at),
            hubspot_changed_at: Some(at(0)),
        },
    )
}

#[test]
fn a_value_cleared_in_hubspot_is_pushed_back_instead_of_applied() {
    let (change, state) = cleared_in_hubspot(None);
    let off = map_with(
        WarpField::Domain,
        SyncDirection::Both,
        ConflictRule::LatestWins,
        false,
    );
    assert_eq!(
        decide_inbound(mapping(&off, WarpField::Domain), &change, &state),
        InboundDecision::Apply { value: None }
    );
    let on = map_with(
        WarpField::Domain,
        SyncDirection::Both,
        ConflictRule::LatestWins,
        true,
    );
    assert_eq!(
        decide_inbound(mapping(&on, WarpField::Domain), &change, &state),
        InboundDecision::Override {
            push_back: Some("acme.com".into())
        }
    );
    // HubSpot→WARP only: WARP may not push, so each side keeps what it holds.
    let inbound_only = map_with(
        WarpField::Domain,
        SyncDirection::HubSpotToWarp,
        ConflictRule::HubSpotWins,
        true,
    );
    assert_eq!(
        decide_inbound(mapping(&inbound_only, WarpField::Domain), &change, &state),
        InboundDecision::KeptNonEmpty
    );
}

#[test]
fn a_hubspot_value_is_applied_rather_than_overwritten_by_warps_empty_one() {
    let change = InboundChange {
        value: Some("acme.com".into()),
        occurred_at: at(100),
    };
    // WARP changed the field (to empty) later than the event: LATEST_WINS would push "" back.
    let state = FieldState {
        warp_value: None,
        hubspot_value: None,
        warp_changed_at: Some(at(200)),
        hubspot_changed_at: Some(at(0)),
    };
    let off = map_with(
        WarpField::Domain,
        SyncDirection::Both,
        ConflictRule::LatestWins,
        false,
    );
    assert_eq!(
        decide_inbound(mapping(&off, WarpField::Domain), &change, &state),
        InboundDecision::Override { push_back: None }
    );
    let on = map_with(
        WarpField::Domain,
        SyncDirection::Both,
        ConflictRule::LatestWins,
        true,
    );
    assert_eq!(
        decide_inbound(mapping(&on, WarpField::Domain), &change, &state),
        InboundDecision::Apply {
            value: Some("acme.com".into())
        }
    );
}

#[test]
fn warps_empty_value_is_not_pushed() {
    let warp = FieldValues::new()
        .with(WarpField::Domain, None)
        .with(WarpField::CompanyName, Some("Acme"));
    let known = FieldValues::new().with(WarpField::Domain, Some("acme.com"));
    let off = map_with(
        WarpField::Domain,
        SyncDirection::Both,
        ConflictRule::LatestWins,
        false,
    );
    let pushed: Vec<_> = outbound_diff(&off, &warp, &known)
        .into_iter()
        .map(|c| c.field)
        .collect();
    assert!(pushed.contains(&WarpField::Domain));
    let on = map_with(
        WarpField::Domain,
        SyncDirection::Both,
        ConflictRule::LatestWins,
        true,
    );
    for changes in [outbound_diff(&on, &warp, &known), full_push(&on, &warp)] {
        let fields: Vec<_> = changes.iter().map(|c| c.field).collect();
        assert!(!fields.contains(&WarpField::Domain), "{fields:?}");
        assert!(fields.contains(&WarpField::CompanyName), "{fields:?}");
    }
}

#[test]
fn reconciliation_fills_the_empty_side_or_leaves_the_difference() {
    let warp = FieldValues::new().with(WarpField::Domain, None);
    let hubspot = FieldValues::new().with(WarpField::Domain, Some("acme.com"));
    let none = ChangeTimes::new();
    let repair = |map: &FieldMap| {
        classify_drift(map, &warp, &hubspot, &none, &none)
            .into_iter()
            .find(|d| d.field == WarpField::Domain)
            .map(|d| d.repair)
    };
    // Neither change time known: WARP wins, and would clear HubSpot's value.
    let both = |keep| {
        map_with(
            WarpField::Domain,
            SyncDirection::Both,
            ConflictRule::LatestWins,
            keep,
        )
    };
    assert_eq!(repair(&both(false)), Some(Repair::PushToHubSpot));
    assert_eq!(repair(&both(true)), Some(Repair::ApplyToWarp));
    let outbound_only = map_with(
        WarpField::Domain,
        SyncDirection::WarpToHubSpot,
        ConflictRule::WarpWins,
        true,
    );
    assert_eq!(repair(&outbound_only), None);
}

#[test]
fn the_key_field_cannot_be_changed() {
    let map = FieldMap::default_mapping();
    let key = map.get(WarpField::Ban).unwrap().to_row();
    let cases = [
        {
            let mut row = key.clone();
            row.enabled = false;
            row
        },
        {
            let mut row = key.clone();
            row.hubspot_property = "other_ban".into();
            row
        },
        {
            let mut row = key.clone();
            row.direction = "BOTH".into();
            row
        },
    ];
    for row in cases {
        assert!(
            matches!(
                map.with_row(row.clone()),
                Err(FieldMapError::KeyFieldFixed { .. })
            ),
            "{row:?}"
        );
    }
    // Its never-empty flag is free (a BAN is never empty).
    let mut row = key;
    row.never_overwrite_with_empty = true;
    assert!(map.with_row(row).is_ok());
}

#[test]
fn a_change_may_not_reuse_another_fields_property() {
    let map = FieldMap::default_mapping();
    let mut row = map.get(WarpField::Domain).unwrap().to_row();
    row.hubspot_property = "name".into();
    assert!(matches!(
        map.with_row(row),
        Err(FieldMapError::DuplicateProperty { .. })
    ));
}
