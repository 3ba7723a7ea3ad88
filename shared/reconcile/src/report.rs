//! What a run found and repaired: counts per object type, by drift kind and by field, the
//! per-record list (object type, ids, kinds, fields and repairs, never values) and error
//! reasons, as stored in the run's `report` jsonb. The list is capped so a run with drift
//! everywhere stays bounded in memory.

use serde::Serialize;
use std::collections::BTreeMap;
use uuid::Uuid;
use warp_domain::sync::{DriftKind, ObjectType};
use warp_store::reconciliation_runs::RunCounts;

/// Records listed one by one in a report; beyond this only the counts grow.
pub const MAX_LISTED_RECORDS: usize = 10_000;
/// Error reasons kept in a report (each is also logged).
pub const MAX_LISTED_ERRORS: usize = 50;

/// Found and fixed for one kind or one field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub found: u64,
    pub fixed: u64,
}

/// How a drift was (or, in a dry run, would be) repaired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RepairKind {
    /// WARP's value queued for HubSpot (outbox row).
    Push,
    /// HubSpot's value applied to WARP through the inbound rules.
    Apply,
    /// The rules cannot settle it: a conflict for a person.
    Conflict,
    /// Linked to the HubSpot record carrying the record's key (BAN, user id).
    Link,
    /// Unlinked from a HubSpot record that is gone, and a full push queued (recreates it).
    UnlinkAndPush,
    /// A full push queued (creates the HubSpot record, keyed by the record's key).
    Create,
    /// The association WARP's membership says queued again (a contact's company).
    Associate,
    /// Unlinked and recorded as privacy-deleted: the linked contact was deleted for good in
    /// HubSpot (a privacy deletion whose webhook was lost), so the person's data is never
    /// sent again.
    RecordPrivacyDeletion,
    /// None possible: an archived HubSpot record still holds the key, so no record can be
    /// created with it. A person restores that record in HubSpot (the restore relinks it) or
    /// removes it for good. Not counted as fixed.
    RestoreInHubSpot,
}

/// One record's drift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordEntry {
    pub object_type: ObjectType,
    /// The WARP record: a customer for companies, a user for contacts.
    pub local_id: Uuid,
    pub hubspot_id: Option<String>,
    pub kinds: Vec<&'static str>,
    /// WARP field names whose values differ.
    pub fields: Vec<&'static str>,
    pub repairs: Vec<RepairKind>,
    /// Whether every repair took effect (or was queued); false in a dry run.
    pub fixed: bool,
}

/// One object type's findings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ObjectTally {
    /// WARP records checked (customers, users).
    pub warp_checked: u64,
    /// HubSpot records checked (companies, contacts).
    pub hubspot_checked: u64,
    pub found: u64,
    pub fixed: u64,
    pub by_kind: BTreeMap<&'static str, Tally>,
    pub by_field: BTreeMap<&'static str, Tally>,
}

/// A run's findings. `drift_found` counts each differing field and each record-level drift,
/// of every object type.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DriftReport {
    pub dry_run: bool,
    /// An incremental run: the time it looked back to (records changed since then, on either
    /// side). Absent for a full run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_since: Option<chrono::DateTime<chrono::Utc>>,
    pub customers_checked: u64,
    pub companies_checked: u64,
    pub drift_found: u64,
    pub drift_fixed: u64,
    pub errors: u64,
    /// Per object type (`companies`, `contacts`): checked, found and fixed, by kind and field.
    pub by_object_type: BTreeMap<ObjectType, ObjectTally>,
    /// What the repairs did: pushes queued, events applied, links made, conflicts recorded.
    pub repairs: BTreeMap<&'static str, u64>,
    /// HubSpot requests this run made (list pages, batch reads).
    pub hubspot_requests: u64,
    pub records: Vec<RecordEntry>,
    /// True when more records drifted than [`MAX_LISTED_RECORDS`].
    pub records_truncated: bool,
    pub error_reasons: Vec<String>,
    /// The read-back of trunks and numbers (custom object records WARP alone writes); absent
    /// when the portal shows them as company properties, or no read-back ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_objects: Option<ServiceObjectsTally>,
}

/// What the read-back of trunk and number records found: each record whose values HubSpot
/// holds otherwise is drift (fixed by pushing WARP's values back); a record deleted in HubSpot
/// is drift a person fixes there (restore it), never counted as fixed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ServiceObjectsTally {
    pub read: u64,
    pub overridden: Tally,
    pub deleted_in_hubspot: u64,
}

/// What one record's drift was, for [`DriftReport::add_record`].
pub(crate) struct RecordFindings<'a> {
    pub object_type: ObjectType,
    pub local_id: Uuid,
    pub hubspot_id: Option<String>,
    /// The record-level kind, if any, and whether its repair took effect.
    pub record: Option<(DriftKind, bool)>,
    /// (field name, fixed) of each differing value.
    pub fields: &'a [(&'static str, bool)],
    pub repairs: Vec<RepairKind>,
}

impl DriftReport {
    pub fn new(dry_run: bool) -> Self {
        DriftReport {
            dry_run,
            ..DriftReport::default()
        }
    }

    pub fn counts(&self) -> RunCounts {
        let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        RunCounts {
            customers_checked: as_i64(self.customers_checked),
            companies_checked: as_i64(self.companies_checked),
            drift_found: as_i64(self.drift_found),
            drift_fixed: as_i64(self.drift_fixed),
            errors: as_i64(self.errors),
        }
    }

    /// The tallies of one object type (empty when it had nothing to check).
    pub fn of(&self, object_type: ObjectType) -> ObjectTally {
        self.by_object_type
            .get(&object_type)
            .cloned()
            .unwrap_or_default()
    }

    /// How many of `kind` (a report name, `MISSING_IN_HUBSPOT`) `object_type` had.
    pub fn kind(&self, object_type: ObjectType, kind: &str) -> Tally {
        self.of(object_type)
            .by_kind
            .get(kind)
            .copied()
            .unwrap_or_default()
    }

    pub(crate) fn checked(&mut self, object_type: ObjectType, warp: u64, hubspot: u64) {
        if object_type == ObjectType::Companies {
            self.customers_checked += warp;
            self.companies_checked += hubspot;
        }
        let tally = self.by_object_type.entry(object_type).or_default();
        tally.warp_checked += warp;
        tally.hubspot_checked += hubspot;
    }

    /// Records one record's drift.
    pub(crate) fn add_record(&mut self, findings: RecordFindings<'_>) {
        let RecordFindings {
            object_type,
            local_id,
            hubspot_id,
            record,
            fields,
            repairs,
        } = findings;
        let mut kinds = Vec::new();
        let mut all_fixed = true;
        if let Some((kind, fixed)) = record {
            let name = kind.name_for(object_type);
            kinds.push(name);
            self.count(object_type, name, None, fixed);
            all_fixed &= fixed;
        }
        let value_differs = DriftKind::ValueDiffers.name_for(object_type);
        if !fields.is_empty() {
            kinds.push(value_differs);
        }
        for (field, fixed) in fields {
            self.count(object_type, value_differs, Some(field), *fixed);
            all_fixed &= *fixed;
        }
        if kinds.is_empty() {
            return;
        }
        if self.records.len() < MAX_LISTED_RECORDS {
            let mut repairs = repairs;
            repairs.sort();
            repairs.dedup();
            self.records.push(RecordEntry {
                object_type,
                local_id,
                hubspot_id,
                kinds,
                fields: fields.iter().map(|(field, _)| *field).collect(),
                repairs,
                fixed: all_fixed,
            });
        } else {
            self.records_truncated = true;
        }
    }

    fn count(
        &mut self,
        object_type: ObjectType,
        kind: &'static str,
        field: Option<&'static str>,
        fixed: bool,
    ) {
        self.drift_found += 1;
        self.drift_fixed += u64::from(fixed);
        let tally = self.by_object_type.entry(object_type).or_default();
        tally.found += 1;
        tally.fixed += u64::from(fixed);
        let kind_tally = tally.by_kind.entry(kind).or_default();
        kind_tally.found += 1;
        kind_tally.fixed += u64::from(fixed);
        if let Some(field) = field {
            let field_tally = tally.by_field.entry(field).or_default();
            field_tally.found += 1;
            field_tally.fixed += u64::from(fixed);
        }
    }

    pub(crate) fn repaired(&mut self, what: &'static str, how_many: u64) {
        if how_many > 0 {
            *self.repairs.entry(what).or_default() += how_many;
        }
    }

    /// Counts an error; its reason (ids and field names only) is kept while there is room.
    pub(crate) fn error(&mut self, reason: String) {
        tracing::warn!(%reason, "reconciliation error");
        self.errors += 1;
        if self.error_reasons.len() < MAX_LISTED_ERRORS {
            self.error_reasons.push(reason);
        }
    }

    /// Folds the trunk and number read-back into the run's drift.
    pub fn add_service_objects(&mut self, tally: ServiceObjectsTally) {
        self.drift_found += tally.overridden.found + tally.deleted_in_hubspot;
        self.drift_fixed += tally.overridden.fixed;
        self.service_objects = Some(tally);
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_else(|_| serde_json::json!({}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings<'a>(
        object_type: ObjectType,
        record: Option<(DriftKind, bool)>,
        fields: &'a [(&'static str, bool)],
        repairs: Vec<RepairKind>,
    ) -> RecordFindings<'a> {
        RecordFindings {
            object_type,
            local_id: Uuid::nil(),
            hubspot_id: None,
            record,
            fields,
            repairs,
        }
    }

    #[test]
    fn counts_follow_object_types_kinds_and_fields_and_the_list_is_capped() {
        let mut report = DriftReport::new(false);
        report.add_record(findings(
            ObjectType::Companies,
            None,
            &[("company_name", true), ("status", false)],
            vec![RepairKind::Push, RepairKind::Apply, RepairKind::Push],
        ));
        report.add_record(findings(
            ObjectType::Companies,
            Some((DriftKind::MissingInHubSpot, true)),
            &[],
            vec![RepairKind::Create],
        ));
        report.add_record(findings(
            ObjectType::Contacts,
            Some((DriftKind::LinkedRecordGone, false)),
            &[("status", true)],
            vec![RepairKind::UnlinkAndPush],
        ));
        report.add_record(findings(ObjectType::Contacts, None, &[], Vec::new()));
        assert_eq!(report.drift_found, 5);
        assert_eq!(report.drift_fixed, 3);
        assert_eq!(
            report.kind(ObjectType::Companies, "VALUE_DIFFERS"),
            Tally { found: 2, fixed: 1 }
        );
        assert_eq!(
            report.kind(ObjectType::Companies, "MISSING_IN_HUBSPOT"),
            Tally { found: 1, fixed: 1 }
        );
        assert_eq!(
            report.kind(ObjectType::Contacts, "LINKED_CONTACT_GONE"),
            Tally { found: 1, fixed: 0 }
        );
        let companies = report.of(ObjectType::Companies);
        let contacts = report.of(ObjectType::Contacts);
        assert_eq!(companies.by_field["status"], Tally { found: 1, fixed: 0 });
        assert_eq!(
            contacts.by_field["status"],
            Tally { found: 1, fixed: 1 },
            "the same field name counts apart per object type"
        );
        assert_eq!((companies.found, companies.fixed), (3, 2));
        assert_eq!((contacts.found, contacts.fixed), (2, 1));
        assert_eq!(
            report.records.len(),
            3,
            "a record without drift is not listed"
        );
        assert_eq!(
            report.records[0].repairs,
            [RepairKind::Push, RepairKind::Apply]
        );
        assert!(!report.records[0].fixed);
        assert!(!report.records[2].fixed);
        assert_eq!(report.records[2].object_type, ObjectType::Contacts);
        let json = report.to_json();
        assert_eq!(json["records"][2]["object_type"], "contacts");
        assert_eq!(
            json["by_object_type"]["contacts"]["by_kind"]["LINKED_CONTACT_GONE"]["found"],
            1
        );

        for _ in 0..MAX_LISTED_RECORDS {
            report.add_record(findings(
                ObjectType::Companies,
                Some((DriftKind::MissingInHubSpot, false)),
                &[],
                vec![],
            ));
        }
        assert_eq!(report.records.len(), MAX_LISTED_RECORDS);
        assert!(report.records_truncated);
        assert_eq!(report.drift_found, 5 + MAX_LISTED_RECORDS as u64);
    }

    #[test]
    fn checked_counts_keep_the_run_columns_for_companies() {
        let mut report = DriftReport::new(true);
        report.checked(ObjectType::Companies, 3, 4);
        report.checked(ObjectType::Contacts, 5, 6);
        assert_eq!((report.customers_checked, report.companies_checked), (3, 4));
        let contacts = report.of(ObjectType::Contacts);
        assert_eq!((contacts.warp_checked, contacts.hubspot_checked), (5, 6));
    }
}
