//! What to send to HubSpot: the fields whose WARP value differs from the value HubSpot is
//! known to hold (guarantee 3: sending only differences, and recording what was sent as
//! HubSpot's known value, is what stops sync loops).

use super::mapping::{FieldMap, WarpField};
use super::values::FieldValues;

/// One property to set on the HubSpot company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub field: WarpField,
    pub hubspot_property: String,
    /// The canonical value; `None` clears the property.
    pub value: Option<String>,
}

impl FieldChange {
    /// The value as HubSpot's API takes it: an empty string clears a property.
    pub fn hubspot_value(&self) -> &str {
        self.value.as_deref().unwrap_or("")
    }
}

/// The outbound changes: every enabled WARP→HubSpot field whose WARP value is known and differs
/// from HubSpot's known value (a field whose HubSpot value is unknown always differs). Fields
/// WARP has no value for *at all* (absent from `warp`) are left alone.
pub fn outbound_diff(
    map: &FieldMap,
    warp: &FieldValues,
    hubspot_known: &FieldValues,
) -> Vec<FieldChange> {
    map.outbound_fields()
        .filter_map(|mapping| {
            let value = warp.get(mapping.field)?;
            let known = hubspot_known.get(mapping.field);
            if known == Some(value) {
                return None;
            }
            // HubSpot's value is kept when unknown too: an empty value may overwrite nothing.
            if mapping.never_overwrite_with_empty && value.is_none() {
                return None;
            }
            Some(FieldChange {
                field: mapping.field,
                hubspot_property: mapping.hubspot_property.clone(),
                value: value.map(str::to_owned),
            })
        })
        .collect()
}

/// Every enabled WARP→HubSpot field WARP has a value for, whatever HubSpot holds: for creates
/// (upserts keyed by BAN) and forced resyncs.
pub fn full_push(map: &FieldMap, warp: &FieldValues) -> Vec<FieldChange> {
    outbound_diff(map, warp, &FieldValues::new())
}

/// Records pushed changes as the values HubSpot now holds. Call it once HubSpot has accepted
/// them; afterwards [`outbound_diff`] no longer reports those fields.
pub fn record_pushed(hubspot_known: &mut FieldValues, changes: &[FieldChange]) {
    for change in changes {
        hubspot_known.set(change.field, change.value.as_deref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::mapping::{FieldMappingRow, SyncDirection};

    fn warp_values() -> FieldValues {
        FieldValues::new()
            .with(WarpField::Ban, Some("ZT-487392012"))
            .with(WarpField::CompanyName, Some("Acme"))
            .with(WarpField::Domain, None)
            .with(WarpField::CreditLimit, Some("1500.00"))
    }

    #[test]
    fn unknown_hubspot_values_are_all_pushed_including_clears() {
        let changes = outbound_diff(
            &FieldMap::default_mapping(),
            &warp_values(),
            &FieldValues::new(),
        );
        let fields: Vec<_> = changes.iter().map(|c| c.field).collect();
        assert_eq!(
            fields,
            [
                WarpField::Ban,
                WarpField::CompanyName,
                WarpField::Domain,
                WarpField::CreditLimit
            ]
        );
        let domain = &changes[2];
        assert_eq!(domain.hubspot_property, "domain");
        assert_eq!(domain.hubspot_value(), "");
    }

    #[test]
    fn equal_canonical_values_are_not_pushed() {
        let known = FieldValues::new()
            .with(WarpField::Ban, Some("zt-487392012"))
            .with(WarpField::CompanyName, Some(" Acme "))
            .with(WarpField::Domain, Some(""))
            .with(WarpField::CreditLimit, Some("1500"));
        assert!(outbound_diff(&FieldMap::default_mapping(), &warp_values(), &known).is_empty());
    }

    #[test]
    fn only_differing_fields_are_pushed_and_then_not_again() {
        let map = FieldMap::default_mapping();
        let mut known = FieldValues::new()
            .with(WarpField::Ban, Some("ZT-487392012"))
            .with(WarpField::CompanyName, Some("Old name"))
            .with(WarpField::Domain, None)
            .with(WarpField::CreditLimit, Some("1500"));
        let changes = outbound_diff(&map, &warp_values(), &known);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].field, WarpField::CompanyName);
        assert_eq!(changes[0].hubspot_property, "name");
        assert_eq!(changes[0].value.as_deref(), Some("Acme"));
        record_pushed(&mut known, &changes);
        assert!(outbound_diff(&map, &warp_values(), &known).is_empty());
    }

    #[test]
    fn inbound_only_and_disabled_fields_are_never_pushed() {
        let rows = [
            (
                "company_name",
                "name",
                "HUBSPOT_TO_WARP",
                "HUBSPOT_WINS",
                true,
            ),
            ("domain", "domain", "BOTH", "LATEST_WINS", false),
            (
                "credit_limit",
                "warp_credit_limit",
                "BOTH",
                "HUBSPOT_WINS",
                true,
            ),
        ]
        .map(|(f, p, d, r, e)| FieldMappingRow {
            warp_field: f.into(),
            hubspot_property: p.into(),
            direction: d.into(),
            conflict_rule: r.into(),
            enabled: e,
            never_overwrite_with_empty: false,
        });
        let map = FieldMap::from_rows(rows).unwrap();
        assert_eq!(
            map.get(WarpField::CompanyName).unwrap().direction,
            SyncDirection::HubSpotToWarp
        );
        let changes = full_push(&map, &warp_values());
        let fields: Vec<_> = changes.iter().map(|c| c.field).collect();
        assert_eq!(fields, [WarpField::CreditLimit]);
    }
}
