//! The field table of DESIGN §3, rule by rule: the default mapping equals the migration's seed
//! rows, and every WARP field goes through every inbound decision path its row allows.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use warp_domain::sync::{
    ConflictRule, FieldMap, FieldMapError, FieldMappingRow, FieldState, FieldValues, InboundChange,
    InboundDecision, ObjectType, SyncDirection, WarpField, canonical, decide_inbound,
    outbound_diff,
};

const MIGRATION: &str = include_str!("../../../migrations/V1__customers_and_sync.sql");

/// The seed rows of `hubspot_sync_config`, read from the migration text.
fn seed_rows() -> Vec<FieldMappingRow> {
    MIGRATION
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("(0, '"))
        .map(|line| {
            let quoted: Vec<&str> = line.split('\'').skip(1).step_by(2).collect();
            assert_eq!(quoted.len(), 4, "seed row {line}");
            FieldMappingRow {
                warp_field: quoted[0].to_owned(),
                hubspot_property: quoted[1].to_owned(),
                direction: quoted[2].to_owned(),
                conflict_rule: quoted[3].to_owned(),
                enabled: true,
                never_overwrite_with_empty: false,
            }
        })
        .collect()
}

/// DESIGN §3, written out independently of the code under test.
fn design_row(field: WarpField) -> (&'static str, &'static str, &'static str, &'static str) {
    match field {
        WarpField::Ban => ("ban", "warp_ban", "WARP_TO_HUBSPOT", "WARP_WINS"),
        WarpField::CompanyName => ("company_name", "name", "BOTH", "LATEST_WINS"),
        WarpField::Domain => ("domain", "domain", "BOTH", "LATEST_WINS"),
        WarpField::Status => ("status", "warp_status", "WARP_TO_HUBSPOT", "WARP_WINS"),
        WarpField::CustomerType => (
            "customer_type",
            "warp_customer_type",
            "WARP_TO_HUBSPOT",
            "WARP_WINS",
        ),
        WarpField::CreditLimit => ("credit_limit", "warp_credit_limit", "BOTH", "HUBSPOT_WINS"),
        WarpField::CurrentBalance => (
            "current_balance",
            "warp_current_balance",
            "WARP_TO_HUBSPOT",
            "WARP_WINS",
        ),
        WarpField::ServicesVoice => (
            "services.voice",
            "warp_services_voice",
            "WARP_TO_HUBSPOT",
            "WARP_WINS",
        ),
        WarpField::ServicesMessaging => (
            "services.messaging",
            "warp_services_messaging",
            "WARP_TO_HUBSPOT",
            "WARP_WINS",
        ),
        WarpField::ServicesData => (
            "services.data",
            "warp_services_data",
            "WARP_TO_HUBSPOT",
            "WARP_WINS",
        ),
        WarpField::ContactEmail => (
            "contact.email",
            "warp_billing_email",
            "WARP_TO_HUBSPOT",
            "WARP_WINS",
        ),
        WarpField::ContactPhone => ("contact.phone", "phone", "WARP_TO_HUBSPOT", "WARP_WINS"),
        WarpField::UserId => ("user_id", "warp_user_id", "WARP_TO_HUBSPOT", "WARP_WINS"),
        WarpField::Email => ("email", "email", "WARP_TO_HUBSPOT", "WARP_WINS"),
        WarpField::FirstName => ("first_name", "firstname", "BOTH", "LATEST_WINS"),
        WarpField::LastName => ("last_name", "lastname", "BOTH", "LATEST_WINS"),
        WarpField::Phone => ("phone", "phone", "BOTH", "LATEST_WINS"),
        WarpField::JobTitle => ("job_title", "jobtitle", "BOTH", "LATEST_WINS"),
        WarpField::Role => ("role", "warp_role", "WARP_TO_HUBSPOT", "WARP_WINS"),
        WarpField::TwoFactorEnabled => (
            "two_factor_enabled",
            "warp_2fa_enabled",
            "WARP_TO_HUBSPOT",
            "WARP_WINS",
        ),
        WarpField::ApiKeyCount => (
            "api_key_count",
            "warp_api_key_count",
            "WARP_TO_HUBSPOT",
            "WARP_WINS",
        ),
        WarpField::LastApiCallAt => (
            "last_api_call_at",
            "warp_last_api_call",
            "WARP_TO_HUBSPOT",
            "WARP_WINS",
        ),
        WarpField::LastLoginAt => (
            "last_login_at",
            "warp_last_login",
            "WARP_TO_HUBSPOT",
            "WARP_WINS",
        ),
    }
}

#[test]
fn default_mapping_equals_the_migration_seed_and_the_design_table() {
    let rows = seed_rows();
    assert_eq!(rows.len(), WarpField::COMPANY.len());
    let from_seed = FieldMap::from_rows(rows).unwrap();
    let default = FieldMap::default_mapping();
    assert_eq!(from_seed, default);
    for field in WarpField::COMPANY {
        let (name, property, direction, rule) = design_row(field);
        assert_eq!(field.as_str(), name);
        assert_eq!(name.parse::<WarpField>().unwrap(), field);
        let mapping = default.get(field).unwrap();
        assert_eq!(mapping.hubspot_property, property);
        assert_eq!(mapping.direction.as_str(), direction);
        assert_eq!(mapping.rule.as_str(), rule);
        assert!(mapping.enabled);
        assert_eq!(default.by_hubspot_property(property).unwrap().field, field);
    }
    assert!(default.by_hubspot_property("not_mapped").is_none());
}

/// The contact rows of migration V6, read from its text: `(0, 'contacts', field, property,
/// direction, rule, never_overwrite_with_empty)`.
fn contact_seed_rows() -> Vec<FieldMappingRow> {
    include_str!("../../../migrations/V6__sync_config_per_object_type.sql")
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("(0, 'contacts'"))
        .map(|line| {
            let quoted: Vec<&str> = line.split('\'').skip(1).step_by(2).collect();
            assert_eq!(quoted.len(), 5, "seed row {line}");
            FieldMappingRow {
                warp_field: quoted[1].to_owned(),
                hubspot_property: quoted[2].to_owned(),
                direction: quoted[3].to_owned(),
                conflict_rule: quoted[4].to_owned(),
                enabled: true,
                never_overwrite_with_empty: line
                    .trim_end_matches([',', ';', ')'])
                    .ends_with("true"),
            }
        })
        .collect()
}

#[test]
fn contact_default_mapping_equals_the_v6_seed_and_the_readme_table() {
    let rows = contact_seed_rows();
    assert_eq!(rows.len(), WarpField::CONTACT.len());
    let default = FieldMap::default_for(ObjectType::Contacts);
    assert_eq!(FieldMap::from_rows(rows).unwrap(), default);
    assert_eq!(default.object_type(), ObjectType::Contacts);
    for field in WarpField::CONTACT {
        let (name, property, direction, rule) = design_row(field);
        assert_eq!(name.parse::<WarpField>().unwrap(), field);
        assert_eq!(field.object_type(), ObjectType::Contacts);
        let mapping = default.get(field).unwrap();
        assert_eq!(
            (
                mapping.hubspot_property.as_str(),
                mapping.direction.as_str(),
                mapping.rule.as_str()
            ),
            (property, direction, rule)
        );
    }
    // The key is fixed, and one mapping never mixes object types.
    let mut key = default.get(WarpField::UserId).unwrap().to_row();
    key.hubspot_property = "warp_id".into();
    assert!(matches!(
        default.with_row(key),
        Err(FieldMapError::KeyFieldFixed { .. })
    ));
    let company_row = FieldMap::default_mapping()
        .get(WarpField::Domain)
        .unwrap()
        .to_row();
    assert!(matches!(
        default.with_row(company_row),
        Err(FieldMapError::MixedObjectTypes { .. })
    ));
}

#[test]
fn outbound_and_inbound_field_sets_follow_the_direction_column() {
    let map = FieldMap::default_mapping();
    let outbound: Vec<_> = map.outbound_fields().map(|m| m.field).collect();
    assert_eq!(outbound, WarpField::COMPANY);
    let inbound: Vec<_> = map.inbound_fields().map(|m| m.field).collect();
    assert_eq!(
        inbound,
        [
            WarpField::CompanyName,
            WarpField::Domain,
            WarpField::CreditLimit
        ]
    );
    assert_eq!(map.hubspot_properties().len(), 12);
}

#[test]
fn enums_round_trip_through_their_table_strings() {
    for d in [
        SyncDirection::WarpToHubSpot,
        SyncDirection::HubSpotToWarp,
        SyncDirection::Both,
    ] {
        assert_eq!(d.as_str().parse::<SyncDirection>().unwrap(), d);
    }
    for r in [
        ConflictRule::WarpWins,
        ConflictRule::HubSpotWins,
        ConflictRule::LatestWins,
    ] {
        assert_eq!(r.as_str().parse::<ConflictRule>().unwrap(), r);
    }
    assert!("both".parse::<SyncDirection>().is_err());
    assert!("services".parse::<WarpField>().is_err());
}

fn row(field: &str, property: &str, direction: &str, rule: &str) -> FieldMappingRow {
    FieldMappingRow {
        warp_field: field.into(),
        hubspot_property: property.into(),
        direction: direction.into(),
        conflict_rule: rule.into(),
        enabled: true,
        never_overwrite_with_empty: false,
    }
}

#[test]
fn from_rows_rejects_invalid_rows() {
    let err = |rows: Vec<FieldMappingRow>| FieldMap::from_rows(rows).unwrap_err();
    assert!(matches!(
        err(vec![row("nickname", "x", "BOTH", "WARP_WINS")]),
        FieldMapError::UnknownField(_)
    ));
    assert!(matches!(
        err(vec![row("ban", "x", "BOTH", "WARP_ALWAYS")]),
        FieldMapError::UnknownRule(_)
    ));
    assert!(matches!(
        err(vec![row("ban", "x", "SIDEWAYS", "WARP_WINS")]),
        FieldMapError::UnknownDirection(_)
    ));
    assert!(matches!(
        err(vec![
            row("domain", "a", "BOTH", "WARP_WINS"),
            row("domain", "b", "BOTH", "WARP_WINS")
        ]),
        FieldMapError::DuplicateField {
            field: WarpField::Domain
        }
    ));
    assert!(matches!(
        err(vec![
            row("domain", "a", "BOTH", "WARP_WINS"),
            row("status", "a", "BOTH", "WARP_WINS")
        ]),
        FieldMapError::DuplicateProperty { .. }
    ));
    assert!(matches!(
        err(vec![row("domain", " ", "BOTH", "WARP_WINS")]),
        FieldMapError::InvalidProperty { .. }
    ));
    assert!(matches!(
        err(vec![row("domain", "a", "WARP_TO_HUBSPOT", "HUBSPOT_WINS")]),
        FieldMapError::ContradictoryRule { .. }
    ));
    assert!(matches!(
        err(vec![row("domain", "a", "HUBSPOT_TO_WARP", "LATEST_WINS")]),
        FieldMapError::ContradictoryRule { .. }
    ));
    assert!(
        FieldMap::from_rows(vec![row("domain", "a", "HUBSPOT_TO_WARP", "HUBSPOT_WINS")]).is_ok()
    );
    // The key's row is fixed: only its never-empty flag may differ.
    assert!(matches!(
        err(vec![row("ban", "warp_ban", "BOTH", "WARP_WINS")]),
        FieldMapError::KeyFieldFixed { .. }
    ));
    assert!(
        FieldMap::from_rows(vec![row("ban", "warp_ban", "WARP_TO_HUBSPOT", "WARP_WINS")]).is_ok()
    );
}

/// Three distinct values of a field (the last may be "no value"), plus another spelling of the
/// first that canonicalises to it.
struct Samples {
    warp: Option<&'static str>,
    hubspot_known: Option<&'static str>,
    incoming: Option<&'static str>,
    warp_spelled_differently: &'static str,
}

fn samples(field: WarpField) -> Samples {
    let (warp, hubspot_known, incoming, warp_spelled_differently) = match field {
        WarpField::Ban => (
            "ZT-000000001",
            "ZT-000000002",
            Some("ZT-000000003"),
            " zt-000000001",
        ),
        WarpField::CompanyName => ("Acme", "Acme Ltd", Some("Beta"), "  Acme "),
        WarpField::Domain => ("acme.com", "acme.org", Some("beta.io"), "ACME.com."),
        WarpField::Status => ("ACTIVE", "SUSPENDED", Some("CLOSED"), "active"),
        WarpField::CustomerType => ("PREPAID", "POSTPAID", Some("RESELLER"), "Prepaid"),
        WarpField::CreditLimit | WarpField::CurrentBalance => {
            ("100.00", "200.00", Some("300.00"), "100")
        }
        WarpField::ServicesVoice | WarpField::ServicesMessaging | WarpField::ServicesData => {
            ("true", "false", None, "TRUE")
        }
        WarpField::ContactEmail => ("a@x.com", "b@x.com", Some("c@x.com"), "a@X.COM"),
        WarpField::ContactPhone | WarpField::Phone => {
            ("+15550000001", "+15550000002", Some(""), "+1 555 000 0001")
        }
        WarpField::UserId => (
            "0196b3c4-0000-7000-8000-000000000001",
            "0196b3c4-0000-7000-8000-000000000002",
            Some("0196b3c4-0000-7000-8000-000000000003"),
            "0196B3C4-0000-7000-8000-000000000001",
        ),
        WarpField::Email => ("a@x.com", "b@x.com", Some("c@x.com"), " A@X.com"),
        WarpField::FirstName | WarpField::LastName | WarpField::JobTitle => {
            ("Ada", "Grace", Some(""), " Ada ")
        }
        WarpField::Role => ("admin", "billing", Some("readonly"), "ADMIN"),
        WarpField::TwoFactorEnabled => ("true", "false", None, "yes"),
        WarpField::ApiKeyCount => ("1", "2", Some("3"), "1.0"),
        WarpField::LastApiCallAt | WarpField::LastLoginAt => (
            "2026-12-04T10:00:00.000Z",
            "2026-12-04T11:00:00.000Z",
            None,
            "1796378400000",
        ),
    };
    Samples {
        warp: Some(warp),
        hubspot_known: Some(hubspot_known),
        incoming,
        warp_spelled_differently,
    }
}

fn at(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_700_000_000_000 + millis)
        .unwrap()
}

fn state(s: &Samples, warp_changed_at: Option<i64>, hubspot_changed_at: Option<i64>) -> FieldState {
    FieldState {
        warp_value: s.warp.map(str::to_owned),
        hubspot_value: s.hubspot_known.map(str::to_owned),
        warp_changed_at: warp_changed_at.map(at),
        hubspot_changed_at: hubspot_changed_at.map(at),
    }
}

fn change(value: Option<&str>, occurred_at: i64) -> InboundChange {
    InboundChange {
        value: value.map(str::to_owned),
        occurred_at: at(occurred_at),
    }
}

fn canon(field: WarpField, value: Option<&str>) -> Option<String> {
    value.and_then(|v| canonical(field, v))
}

#[test]
fn every_field_through_every_decision_path() {
    let map = FieldMap::default_mapping();
    for field in WarpField::COMPANY {
        let mapping = map.get(field).unwrap();
        let s = samples(field);
        let (_, _, direction, rule) = design_row(field);
        let warp = canon(field, s.warp);
        let incoming = canon(field, s.incoming);
        let decide = |value: Option<&str>, occurred: i64, st: &FieldState| {
            decide_inbound(mapping, &change(value, occurred), st)
        };

        // Disabled mapping: ignored whatever the event.
        let mut disabled = mapping.clone();
        disabled.enabled = false;
        assert_eq!(
            decide_inbound(
                &disabled,
                &change(s.incoming, 10_000),
                &state(&s, None, None)
            ),
            InboundDecision::Ignored,
            "{field}: disabled"
        );

        // Stale: older than the newest HubSpot change seen, even if it differs from everything.
        let st = state(&s, Some(0), Some(5_000));
        assert_eq!(
            decide(s.incoming, 4_999, &st),
            InboundDecision::Stale,
            "{field}: stale"
        );

        // Echo of WARP's value (our own write coming back), in another spelling too.
        let st = state(&s, Some(5_000), Some(1_000));
        assert_eq!(
            decide(s.warp, 6_000, &st),
            InboundDecision::Echo,
            "{field}: echo warp"
        );
        assert_eq!(
            decide(Some(s.warp_spelled_differently), 6_000, &st),
            InboundDecision::Echo,
            "{field}: echo warp, other spelling"
        );
        // Echo of HubSpot's known value (a duplicate delivery at the same time is not stale).
        assert_eq!(
            decide(s.hubspot_known, 1_000, &st),
            InboundDecision::Echo,
            "{field}: echo hubspot"
        );

        // A genuinely new value: later than WARP's change, close to it, earlier than it, and
        // with no WARP change time at all.
        let later = decide(s.incoming, 60_000, &state(&s, Some(5_000), Some(1_000)));
        let close = decide(s.incoming, 5_400, &state(&s, Some(5_000), Some(1_000)));
        let earlier = decide(s.incoming, 2_000, &state(&s, Some(5_000), Some(1_000)));
        let never = decide(s.incoming, 2_000, &state(&s, None, Some(1_000)));
        let apply = InboundDecision::Apply {
            value: incoming.clone(),
        };
        let over = InboundDecision::Override {
            push_back: warp.clone(),
        };
        let conflict = InboundDecision::Conflict {
            warp_value: warp.clone(),
            hubspot_value: incoming.clone(),
        };
        let expected = match (direction, rule) {
            ("WARP_TO_HUBSPOT", "WARP_WINS") => [&over, &over, &over, &over],
            ("BOTH", "HUBSPOT_WINS") => [&apply, &apply, &apply, &apply],
            ("BOTH", "LATEST_WINS") => [&apply, &conflict, &over, &apply],
            other => panic!("no expectation for {other:?}"),
        };
        assert_eq!(
            [&later, &close, &earlier, &never],
            expected,
            "{field}: {direction} {rule}"
        );
    }
}

#[test]
fn latest_wins_conflict_window_is_strictly_under_one_second() {
    let map = FieldMap::default_mapping();
    let mapping = map.get(WarpField::CompanyName).unwrap();
    let s = samples(WarpField::CompanyName);
    let st = state(&s, Some(5_000), None);
    let decide = |occurred| decide_inbound(mapping, &change(s.incoming, occurred), &st);
    assert!(matches!(decide(5_999), InboundDecision::Conflict { .. }));
    assert!(matches!(decide(4_001), InboundDecision::Conflict { .. }));
    assert!(matches!(decide(6_000), InboundDecision::Apply { .. }));
    assert!(matches!(decide(4_000), InboundDecision::Override { .. }));
}

#[test]
fn unknown_hubspot_value_does_not_make_a_clear_an_echo() {
    // No hubspot_value and no hubspot_changed_at: HubSpot's value is unknown, so a clear of a
    // LATEST_WINS field is a real change, not an echo of "no value".
    let map = FieldMap::default_mapping();
    let mapping = map.get(WarpField::Domain).unwrap();
    let st = FieldState {
        warp_value: Some("acme.com".into()),
        hubspot_value: None,
        warp_changed_at: Some(at(0)),
        hubspot_changed_at: None,
    };
    assert_eq!(
        decide_inbound(mapping, &change(Some(""), 10_000), &st),
        InboundDecision::Apply { value: None }
    );
    // Known to be empty (a change time is recorded): the same clear is an echo.
    let known_empty = FieldState {
        hubspot_changed_at: Some(at(1_000)),
        ..st
    };
    assert_eq!(
        decide_inbound(mapping, &change(Some(""), 10_000), &known_empty),
        InboundDecision::Echo
    );
}

#[test]
fn applying_then_diffing_sends_nothing_back() {
    let map = FieldMap::default_mapping();
    let mapping = map.get(WarpField::CreditLimit).unwrap();
    let mut warp = FieldValues::new().with(WarpField::CreditLimit, Some("100.00"));
    let mut known = warp.clone();
    let decision = decide_inbound(
        mapping,
        &change(Some("2500"), 10_000),
        &FieldState {
            warp_value: Some("100.00".into()),
            hubspot_value: Some("100".into()),
            warp_changed_at: Some(at(20_000)),
            hubspot_changed_at: Some(at(0)),
        },
    );
    let InboundDecision::Apply { value } = decision else {
        panic!("HUBSPOT_WINS must apply, got {decision:?}");
    };
    assert_eq!(value.as_deref(), Some("2500.00"));
    warp.set(WarpField::CreditLimit, value.as_deref());
    known.set(WarpField::CreditLimit, value.as_deref());
    assert!(outbound_diff(&map, &warp, &known).is_empty());
}

#[test]
fn stale_uses_the_millisecond_not_the_second() {
    let map = FieldMap::default_mapping();
    let mapping = map.get(WarpField::CreditLimit).unwrap();
    let s = samples(WarpField::CreditLimit);
    let st = state(&s, None, Some(1_500));
    let one_ms = TimeDelta::milliseconds(1);
    let mut event = change(s.incoming, 1_500);
    event.occurred_at -= one_ms;
    assert_eq!(decide_inbound(mapping, &event, &st), InboundDecision::Stale);
    event.occurred_at += one_ms;
    assert!(matches!(
        decide_inbound(mapping, &event, &st),
        InboundDecision::Apply { .. }
    ));
}
