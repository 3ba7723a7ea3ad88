//! Reconciliation: classifying the differences between a WARP record and its HubSpot record
//! (read fresh from HubSpot) and choosing the repair by the same field rules as live sync, so
//! that repeated runs converge to zero drift (guarantee 6). The rules are the same for every
//! object type; a record is found in HubSpot by its key property (a customer's BAN, a user's
//! id) as well as by its link.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::inbound::SIMULTANEOUS_WITHIN;
use super::mapping::{ConflictRule, FieldMap, FieldMapping, SyncDirection, WarpField};
use super::object_type::ObjectType;
use super::values::FieldValues;

/// What kind of drift was found. `ValueDiffers` is per field ([`Drift`]); the others are per
/// record ([`RecordDrift`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DriftKind {
    ValueDiffers,
    /// The record is linked to nothing and no HubSpot record carries its key.
    MissingInHubSpot,
    /// The record's linked HubSpot record no longer exists (deleted, or merged away).
    LinkedRecordGone,
    /// The record's linked HubSpot record holds a person's data and is gone for good, not even
    /// archived: a privacy deletion whose webhook was lost.
    LinkedRecordPurged,
    /// A HubSpot record carries the record's key but the record is not linked to it.
    UnlinkedRecordWithOurKey,
    /// The HubSpot record is not associated with the parent WARP says it belongs to (a
    /// contact whose primary company is not its customer's).
    BrokenAssociation,
}

impl DriftKind {
    /// The name used in reconciliation reports for `object_type`'s records.
    pub fn name_for(self, object_type: ObjectType) -> &'static str {
        match (self, object_type) {
            (DriftKind::ValueDiffers, _) => "VALUE_DIFFERS",
            (DriftKind::MissingInHubSpot, _) => "MISSING_IN_HUBSPOT",
            (DriftKind::BrokenAssociation, _) => "BROKEN_ASSOCIATION",
            (DriftKind::LinkedRecordGone, ObjectType::Companies) => "LINKED_COMPANY_GONE",
            (DriftKind::LinkedRecordGone, ObjectType::Contacts) => "LINKED_CONTACT_GONE",
            (DriftKind::LinkedRecordPurged, ObjectType::Companies) => "LINKED_COMPANY_PURGED",
            (DriftKind::LinkedRecordPurged, ObjectType::Contacts) => "LINKED_CONTACT_PURGED",
            (DriftKind::UnlinkedRecordWithOurKey, ObjectType::Companies) => {
                "UNLINKED_COMPANY_WITH_OUR_BAN"
            }
            (DriftKind::UnlinkedRecordWithOurKey, ObjectType::Contacts) => {
                "UNLINKED_CONTACT_WITH_OUR_USER_ID"
            }
        }
    }
}

/// How to repair a field whose values differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Repair {
    PushToHubSpot,
    ApplyToWarp,
    /// The rules cannot settle it: record a conflict for a person.
    Conflict,
}

/// A field whose canonical values differ between WARP and HubSpot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub field: WarpField,
    pub kind: DriftKind,
    pub repair: Repair,
}

/// Per-field change times, as stored in `hubspot_field_state`.
pub type ChangeTimes = BTreeMap<WarpField, DateTime<Utc>>;

/// Compares every enabled mapped field that both sides report (a field absent from either
/// `FieldValues` is not compared) and returns the fields that differ, with their repair:
/// - WARP→HubSpot fields, and WARP_WINS: push WARP's value.
/// - HubSpot→WARP fields, and HUBSPOT_WINS: apply HubSpot's value.
/// - LATEST_WINS: the side that changed the field last wins; changes within one second of each
///   other are a conflict. A side without a known change time is older than one with a time
///   (no evidence it changed); when neither time is known WARP, the system of record, wins.
pub fn classify_drift(
    map: &FieldMap,
    warp: &FieldValues,
    hubspot_now: &FieldValues,
    hubspot_changed_at: &ChangeTimes,
    warp_changed_at: &ChangeTimes,
) -> Vec<Drift> {
    map.iter()
        .filter(|m| m.enabled)
        .filter_map(|mapping| {
            let warp_value = warp.get(mapping.field)?;
            let hubspot_value = hubspot_now.get(mapping.field)?;
            if warp_value == hubspot_value {
                return None;
            }
            let repair = field_repair(
                mapping,
                hubspot_changed_at.get(&mapping.field).copied(),
                warp_changed_at.get(&mapping.field).copied(),
            );
            let repair = keep_non_empty(mapping, repair, warp_value, hubspot_value)?;
            Some(Drift {
                field: mapping.field,
                kind: DriftKind::ValueDiffers,
                repair,
            })
        })
        .collect()
}

fn field_repair(
    mapping: &FieldMapping,
    hubspot_changed_at: Option<DateTime<Utc>>,
    warp_changed_at: Option<DateTime<Utc>>,
) -> Repair {
    match (mapping.direction, mapping.rule) {
        (SyncDirection::WarpToHubSpot, _) | (_, ConflictRule::WarpWins) => Repair::PushToHubSpot,
        (SyncDirection::HubSpotToWarp, _) | (_, ConflictRule::HubSpotWins) => Repair::ApplyToWarp,
        (SyncDirection::Both, ConflictRule::LatestWins) => {
            match (hubspot_changed_at, warp_changed_at) {
                (Some(hubspot), Some(warp)) => {
                    if (hubspot - warp).abs() < SIMULTANEOUS_WITHIN {
                        Repair::Conflict
                    } else if hubspot > warp {
                        Repair::ApplyToWarp
                    } else {
                        Repair::PushToHubSpot
                    }
                }
                (Some(_), None) => Repair::ApplyToWarp,
                (None, _) => Repair::PushToHubSpot,
            }
        }
    }
}

/// "Never overwrite with an empty value": a repair that would clear a side fills that side
/// instead when the direction lets the value flow that way, and is no repair at all (the
/// difference is accepted, so runs still converge) when it does not.
fn keep_non_empty(
    mapping: &FieldMapping,
    repair: Repair,
    warp_value: Option<&str>,
    hubspot_value: Option<&str>,
) -> Option<Repair> {
    let clears = match repair {
        Repair::PushToHubSpot => mapping.refuses_empty_over(warp_value, hubspot_value),
        Repair::ApplyToWarp => mapping.refuses_empty_over(hubspot_value, warp_value),
        Repair::Conflict => false,
    };
    if !clears {
        return Some(repair);
    }
    match repair {
        Repair::PushToHubSpot if mapping.direction.includes_inbound() => Some(Repair::ApplyToWarp),
        Repair::ApplyToWarp if mapping.direction.includes_outbound() => Some(Repair::PushToHubSpot),
        _ => None,
    }
}

/// A record-level difference between a WARP record and HubSpot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordDrift {
    /// Repair: upsert the HubSpot record keyed by the record's key (creates it) and link it.
    MissingInHubSpot,
    /// Repair: link to `found_by_key` when there is one (typically the survivor of a merge),
    /// else upsert keyed by the record's key (creates a new HubSpot record) and link that.
    LinkedRecordGone {
        linked_id: String,
        found_by_key: Option<String>,
    },
    /// Repair: link the record to this HubSpot record.
    UnlinkedRecordWithOurKey { hubspot_id: String },
    /// Repair: unlink the record and record the privacy deletion; nothing is sent again.
    LinkedRecordPurged { linked_id: String },
}

impl RecordDrift {
    pub fn kind(&self) -> DriftKind {
        match self {
            RecordDrift::MissingInHubSpot => DriftKind::MissingInHubSpot,
            RecordDrift::LinkedRecordGone { .. } => DriftKind::LinkedRecordGone,
            RecordDrift::UnlinkedRecordWithOurKey { .. } => DriftKind::UnlinkedRecordWithOurKey,
            RecordDrift::LinkedRecordPurged { .. } => DriftKind::LinkedRecordPurged,
        }
    }

    /// The HubSpot record to link to, when one exists; `None` means upsert by the key.
    pub fn link_to(&self) -> Option<&str> {
        match self {
            RecordDrift::MissingInHubSpot | RecordDrift::LinkedRecordPurged { .. } => None,
            RecordDrift::LinkedRecordGone { found_by_key, .. } => found_by_key.as_deref(),
            RecordDrift::UnlinkedRecordWithOurKey { hubspot_id } => Some(hubspot_id),
        }
    }

    /// The HubSpot record the link named, when it is gone.
    pub fn gone(&self) -> Option<&str> {
        match self {
            RecordDrift::LinkedRecordGone { linked_id, .. }
            | RecordDrift::LinkedRecordPurged { linked_id } => Some(linked_id),
            _ => None,
        }
    }
}

/// Classifies the link between a WARP record and HubSpot:
/// `linked_id` is the HubSpot id the record is linked to (a customer's
/// `external_ids.hubspot_company_id`, a user's `hubspot_links` row),
/// `linked_exists` whether HubSpot still has that record (unarchived),
/// `found_by_key` the record HubSpot finds by the key property (`warp_ban`, `warp_user_id`).
/// `None` when the link is sound (field values are compared by [`classify_drift`]).
pub fn classify_record(
    linked_id: Option<&str>,
    linked_exists: bool,
    found_by_key: Option<&str>,
) -> Option<RecordDrift> {
    match linked_id {
        // Another record carrying our key while the link is alive cannot last (the key is
        // unique in HubSpot); the field diff repairs the linked record's key.
        Some(_) if linked_exists => None,
        Some(linked) => Some(RecordDrift::LinkedRecordGone {
            linked_id: linked.to_owned(),
            found_by_key: found_by_key
                .filter(|found| *found != linked)
                .map(str::to_owned),
        }),
        None => Some(match found_by_key {
            Some(found) => RecordDrift::UnlinkedRecordWithOurKey {
                hubspot_id: found.to_owned(),
            },
            None => RecordDrift::MissingInHubSpot,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + seconds, 0).unwrap()
    }

    fn both_sides(field: WarpField, warp: &str, hubspot: &str) -> (FieldValues, FieldValues) {
        (
            FieldValues::new().with(field, Some(warp)),
            FieldValues::new().with(field, Some(hubspot)),
        )
    }

    #[test]
    fn equal_canonical_values_are_no_drift() {
        let map = FieldMap::default_mapping();
        let (warp, hubspot) = both_sides(WarpField::CreditLimit, "1500.00", "1500");
        assert!(
            classify_drift(
                &map,
                &warp,
                &hubspot,
                &ChangeTimes::new(),
                &ChangeTimes::new()
            )
            .is_empty()
        );
    }

    #[test]
    fn fields_absent_on_either_side_are_not_compared() {
        let map = FieldMap::default_mapping();
        let warp = FieldValues::new().with(WarpField::Status, Some("ACTIVE"));
        let hubspot = FieldValues::new().with(WarpField::Domain, Some("x.com"));
        assert!(
            classify_drift(
                &map,
                &warp,
                &hubspot,
                &ChangeTimes::new(),
                &ChangeTimes::new()
            )
            .is_empty()
        );
    }

    #[test]
    fn repairs_follow_the_field_rules() {
        let map = FieldMap::default_mapping();
        let no_times = ChangeTimes::new();
        let cases = [
            (WarpField::Status, "ACTIVE", "CLOSED", Repair::PushToHubSpot),
            (WarpField::CreditLimit, "10", "20", Repair::ApplyToWarp),
        ];
        for (field, w, h, repair) in cases {
            let (warp, hubspot) = both_sides(field, w, h);
            let drift = classify_drift(&map, &warp, &hubspot, &no_times, &no_times);
            assert_eq!(
                drift,
                [Drift {
                    field,
                    kind: DriftKind::ValueDiffers,
                    repair
                }],
                "{field}"
            );
        }
    }

    #[test]
    fn latest_wins_uses_change_times() {
        let map = FieldMap::default_mapping();
        let field = WarpField::CompanyName;
        let (warp, hubspot) = both_sides(field, "Acme", "Acme Inc");
        let repair = |h: Option<i64>, w: Option<i64>| {
            let h: ChangeTimes = h.map(|s| (field, at(s))).into_iter().collect();
            let w: ChangeTimes = w.map(|s| (field, at(s))).into_iter().collect();
            classify_drift(&map, &warp, &hubspot, &h, &w)[0].repair
        };
        assert_eq!(repair(Some(10), Some(5)), Repair::ApplyToWarp);
        assert_eq!(repair(Some(5), Some(10)), Repair::PushToHubSpot);
        assert_eq!(repair(Some(5), Some(5)), Repair::Conflict);
        assert_eq!(repair(Some(5), None), Repair::ApplyToWarp);
        assert_eq!(repair(None, Some(5)), Repair::PushToHubSpot);
        assert_eq!(repair(None, None), Repair::PushToHubSpot);
    }

    #[test]
    fn report_names_say_which_record_is_meant() {
        use DriftKind::*;
        let names = |object_type| {
            [
                ValueDiffers,
                MissingInHubSpot,
                LinkedRecordGone,
                UnlinkedRecordWithOurKey,
                BrokenAssociation,
            ]
            .map(|kind| kind.name_for(object_type))
        };
        assert_eq!(
            names(ObjectType::Companies),
            [
                "VALUE_DIFFERS",
                "MISSING_IN_HUBSPOT",
                "LINKED_COMPANY_GONE",
                "UNLINKED_COMPANY_WITH_OUR_BAN",
                "BROKEN_ASSOCIATION"
            ]
        );
        assert_eq!(names(ObjectType::Contacts)[2], "LINKED_CONTACT_GONE");
        assert_eq!(
            names(ObjectType::Contacts)[3],
            "UNLINKED_CONTACT_WITH_OUR_USER_ID"
        );
    }

    #[test]
    fn record_link_classification() {
        assert_eq!(classify_record(Some("1"), true, Some("1")), None);
        assert_eq!(
            classify_record(None, false, None),
            Some(RecordDrift::MissingInHubSpot)
        );
        let unlinked = classify_record(None, false, Some("7")).unwrap();
        assert_eq!(unlinked.kind(), DriftKind::UnlinkedRecordWithOurKey);
        assert_eq!(unlinked.link_to(), Some("7"));
        let gone_merged = classify_record(Some("1"), false, Some("9")).unwrap();
        assert_eq!(gone_merged.kind(), DriftKind::LinkedRecordGone);
        assert_eq!(gone_merged.link_to(), Some("9"));
        let gone = classify_record(Some("1"), false, None).unwrap();
        assert_eq!(gone.link_to(), None);
        assert_eq!(gone.gone(), Some("1"));
        assert_eq!(unlinked.gone(), None);
        // Search is eventually consistent: finding the gone company itself by BAN is no survivor.
        assert_eq!(
            classify_record(Some("1"), false, Some("1"))
                .unwrap()
                .link_to(),
            None
        );
    }
}
