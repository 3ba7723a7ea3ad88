//! What a run found and repaired: counts by drift kind and by field, the per-customer list
//! (ids, kinds, fields and repairs, never values) and error reasons, as stored in the run's
//! `report` jsonb. The list is capped so a run with drift everywhere stays bounded in memory.

use serde::Serialize;
use std::collections::BTreeMap;
use uuid::Uuid;
use warp_store::reconciliation_runs::RunCounts;

/// Customers listed one by one in a report; beyond this only the counts grow.
pub const MAX_LISTED_CUSTOMERS: usize = 10_000;
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
    /// Linked to the company carrying the customer's BAN.
    Link,
    /// Unlinked from a company that is gone, and a full push queued (recreates it).
    UnlinkAndPush,
    /// A full push queued (creates the company, keyed by BAN).
    Create,
    /// None possible: an archived HubSpot company still holds the BAN, so no company can be
    /// created with it. A person restores that company in HubSpot (the restore relinks it) or
    /// removes it for good. Not counted as fixed.
    RestoreInHubSpot,
}

/// One customer's drift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CustomerDrift {
    pub customer_id: Uuid,
    pub hubspot_company_id: Option<String>,
    pub kinds: Vec<&'static str>,
    /// WARP field names whose values differ.
    pub fields: Vec<&'static str>,
    pub repairs: Vec<RepairKind>,
    /// Whether every repair took effect (or was queued); false in a dry run.
    pub fixed: bool,
}

/// A run's findings. `drift_found` counts each differing field and each record-level drift.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DriftReport {
    pub dry_run: bool,
    pub customers_checked: u64,
    pub companies_checked: u64,
    pub drift_found: u64,
    pub drift_fixed: u64,
    pub errors: u64,
    pub by_kind: BTreeMap<&'static str, Tally>,
    pub by_field: BTreeMap<&'static str, Tally>,
    /// What the repairs did: pushes queued, events applied, links made, conflicts recorded.
    pub repairs: BTreeMap<&'static str, u64>,
    /// HubSpot requests this run made (list pages, batch reads).
    pub hubspot_requests: u64,
    pub customers: Vec<CustomerDrift>,
    /// True when more customers drifted than [`MAX_LISTED_CUSTOMERS`].
    pub customers_truncated: bool,
    pub error_reasons: Vec<String>,
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

    /// Records one customer's drift: `fields` are (field name, fixed) pairs of value drift,
    /// `record` the record-level kind (if any) and whether its repair took effect.
    pub(crate) fn add_customer(
        &mut self,
        customer_id: Uuid,
        hubspot_company_id: Option<String>,
        record: Option<(&'static str, bool)>,
        fields: &[(&'static str, bool)],
        repairs: Vec<RepairKind>,
    ) {
        let mut kinds = Vec::new();
        let mut all_fixed = true;
        if let Some((kind, fixed)) = record {
            kinds.push(kind);
            self.count(kind, None, fixed);
            all_fixed &= fixed;
        }
        if !fields.is_empty() {
            kinds.push(warp_domain::sync::DriftKind::ValueDiffers.as_str());
        }
        for (field, fixed) in fields {
            self.count(
                warp_domain::sync::DriftKind::ValueDiffers.as_str(),
                Some(field),
                *fixed,
            );
            all_fixed &= *fixed;
        }
        if kinds.is_empty() {
            return;
        }
        if self.customers.len() < MAX_LISTED_CUSTOMERS {
            let mut repairs = repairs;
            repairs.sort();
            repairs.dedup();
            self.customers.push(CustomerDrift {
                customer_id,
                hubspot_company_id,
                kinds,
                fields: fields.iter().map(|(field, _)| *field).collect(),
                repairs,
                fixed: all_fixed,
            });
        } else {
            self.customers_truncated = true;
        }
    }

    fn count(&mut self, kind: &'static str, field: Option<&'static str>, fixed: bool) {
        self.drift_found += 1;
        let kind_tally = self.by_kind.entry(kind).or_default();
        kind_tally.found += 1;
        if fixed {
            kind_tally.fixed += 1;
            self.drift_fixed += 1;
        }
        if let Some(field) = field {
            let field_tally = self.by_field.entry(field).or_default();
            field_tally.found += 1;
            if fixed {
                field_tally.fixed += 1;
            }
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

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_else(|_| serde_json::json!({}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_kinds_and_fields_and_the_list_is_capped() {
        let mut report = DriftReport::new(false);
        report.add_customer(
            Uuid::nil(),
            Some("1".into()),
            None,
            &[("company_name", true), ("status", false)],
            vec![RepairKind::Push, RepairKind::Apply, RepairKind::Push],
        );
        report.add_customer(
            Uuid::nil(),
            None,
            Some(("MISSING_IN_HUBSPOT", true)),
            &[],
            vec![RepairKind::Create],
        );
        report.add_customer(Uuid::nil(), None, None, &[], Vec::new());
        assert_eq!(report.drift_found, 3);
        assert_eq!(report.drift_fixed, 2);
        assert_eq!(
            report.by_kind["VALUE_DIFFERS"],
            Tally { found: 2, fixed: 1 }
        );
        assert_eq!(
            report.by_kind["MISSING_IN_HUBSPOT"],
            Tally { found: 1, fixed: 1 }
        );
        assert_eq!(report.by_field["status"], Tally { found: 1, fixed: 0 });
        assert_eq!(
            report.customers.len(),
            2,
            "a customer without drift is not listed"
        );
        assert_eq!(
            report.customers[0].repairs,
            [RepairKind::Push, RepairKind::Apply]
        );
        assert!(!report.customers[0].fixed);

        for _ in 0..MAX_LISTED_CUSTOMERS {
            report.add_customer(
                Uuid::nil(),
                None,
                Some(("MISSING_IN_HUBSPOT", false)),
                &[],
                vec![],
            );
        }
        assert_eq!(report.customers.len(), MAX_LISTED_CUSTOMERS);
        assert!(report.customers_truncated);
        assert_eq!(report.drift_found, 3 + MAX_LISTED_CUSTOMERS as u64);
    }
}
