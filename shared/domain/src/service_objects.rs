//! A customer's trunks and numbers as HubSpot shows them (issue 22): records of the custom
//! objects `warp_trunk` and `warp_number` where the portal has custom objects, otherwise counts
//! and lists on the company. WARP's values always win: what HubSpot holds is compared with what
//! these functions make, and any difference is written back.

use std::collections::BTreeMap;

use crate::phone_number::PhoneNumber;
use crate::trunk::{IpEntry, Trunk};

/// How a portal shows trunks and numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceObjectsMode {
    /// Records of the custom objects `warp_trunk` and `warp_number` (Enterprise portals).
    CustomObjects,
    /// `warp_trunk_count`, `warp_number_count`, `warp_trunks`, `warp_numbers` on the company.
    CompanyProperties,
}

impl ServiceObjectsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceObjectsMode::CustomObjects => "custom_objects",
            ServiceObjectsMode::CompanyProperties => "company_properties",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "custom_objects" => Some(ServiceObjectsMode::CustomObjects),
            "company_properties" => Some(ServiceObjectsMode::CompanyProperties),
            _ => None,
        }
    }
}

/// One of the two custom objects. Its name and labels are chosen once: HubSpot never lets them
/// change after the schema is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceObject {
    pub name: &'static str,
    pub singular: &'static str,
    pub plural: &'static str,
    /// The unique property records are upserted by (WARP's id).
    pub id_property: &'static str,
    /// The property HubSpot shows as the record's name.
    pub display_property: &'static str,
}

pub const TRUNK_OBJECT: ServiceObject = ServiceObject {
    name: "warp_trunk",
    singular: "WARP SIP trunk",
    plural: "WARP SIP trunks",
    id_property: "warp_trunk_id",
    display_property: "warp_name",
};

pub const NUMBER_OBJECT: ServiceObject = ServiceObject {
    name: "warp_number",
    singular: "WARP phone number",
    plural: "WARP phone numbers",
    id_property: "warp_number_id",
    display_property: "warp_number",
};

/// The company properties of the fallback (portals without custom objects).
pub const TRUNK_COUNT_PROPERTY: &str = "warp_trunk_count";
pub const NUMBER_COUNT_PROPERTY: &str = "warp_number_count";
pub const TRUNK_LIST_PROPERTY: &str = "warp_trunks";
pub const NUMBER_LIST_PROPERTY: &str = "warp_numbers";

/// What a property holds, for its definition and for comparing HubSpot's text with WARP's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Text,
    /// Several lines (addresses, lists).
    Lines,
    Number,
    /// One of the listed values.
    Choice(&'static [(&'static str, &'static str)]),
}

/// One property of a custom object: name, label and kind.
pub type PropertySpec = (&'static str, &'static str, ValueKind);

pub const TRUNK_STATUSES: &[(&str, &str)] = &[
    ("Active", "active"),
    ("Suspended", "suspended"),
    ("Released", "released"),
];
pub const NUMBER_STATUSES: &[(&str, &str)] = &[("Active", "active"), ("Released", "released")];
pub const NUMBER_TYPES: &[(&str, &str)] = &[
    ("Local", "local"),
    ("Toll-free", "tollfree"),
    ("Mobile", "mobile"),
];

/// The `warp_trunk` properties (besides HubSpot's own).
pub const TRUNK_PROPERTIES: &[PropertySpec] = &[
    ("warp_trunk_id", "WARP trunk id", ValueKind::Text),
    ("warp_name", "Name", ValueKind::Text),
    ("warp_status", "Status", ValueKind::Choice(TRUNK_STATUSES)),
    ("warp_ip_addresses", "IP addresses", ValueKind::Lines),
    (
        "warp_concurrent_calls",
        "Concurrent calls",
        ValueKind::Number,
    ),
    ("warp_monthly_minutes", "Monthly minutes", ValueKind::Number),
    ("warp_partition_id", "Partition", ValueKind::Text),
    ("warp_ban", "WARP BAN", ValueKind::Text),
];

/// The `warp_number` properties (besides HubSpot's own).
pub const NUMBER_PROPERTIES: &[PropertySpec] = &[
    ("warp_number_id", "WARP number id", ValueKind::Text),
    ("warp_number", "Number", ValueKind::Text),
    ("warp_type", "Type", ValueKind::Choice(NUMBER_TYPES)),
    ("warp_capabilities", "Capabilities", ValueKind::Text),
    ("warp_monthly_cost", "Monthly cost", ValueKind::Number),
    ("warp_e911_address", "E911 address", ValueKind::Text),
    ("warp_cnam", "Caller name (CNAM)", ValueKind::Text),
    ("warp_status", "Status", ValueKind::Choice(NUMBER_STATUSES)),
    ("warp_trunk_id", "WARP trunk id", ValueKind::Text),
    ("warp_ban", "WARP BAN", ValueKind::Text),
];

/// Property values as HubSpot takes them ("" clears).
pub type Values = BTreeMap<String, String>;

/// A trunk's `warp_trunk` record.
pub fn trunk_values(trunk: &Trunk, ban: &str) -> Values {
    let lines: Vec<&str> = trunk.ip_addresses.iter().map(IpEntry::as_str).collect();
    values([
        ("warp_trunk_id", trunk.id.to_string()),
        ("warp_name", trunk.name.as_str().to_owned()),
        ("warp_status", trunk.status.as_str().to_owned()),
        ("warp_ip_addresses", lines.join("\n")),
        ("warp_concurrent_calls", optional(trunk.concurrent_calls)),
        ("warp_monthly_minutes", optional(trunk.monthly_minutes)),
        (
            "warp_partition_id",
            trunk
                .partition_id
                .as_ref()
                .map_or_else(String::new, |p| p.as_str().to_owned()),
        ),
        ("warp_ban", ban.to_owned()),
    ])
}

/// A number's `warp_number` record.
pub fn number_values(number: &PhoneNumber, ban: &str) -> Values {
    let capabilities: Vec<&str> = number
        .capabilities
        .as_slice()
        .iter()
        .map(|c| c.as_str())
        .collect();
    values([
        ("warp_number_id", number.id.to_string()),
        ("warp_number", number.number.as_str().to_owned()),
        ("warp_type", number.number_type.as_str().to_owned()),
        ("warp_capabilities", capabilities.join(";")),
        ("warp_monthly_cost", number.monthly_cost.to_string()),
        (
            "warp_e911_address",
            number
                .e911_address
                .as_ref()
                .map_or_else(String::new, |a| a.as_str().to_owned()),
        ),
        (
            "warp_cnam",
            number
                .cnam
                .as_ref()
                .map_or_else(String::new, |c| c.as_str().to_owned()),
        ),
        ("warp_status", number.status.as_str().to_owned()),
        (
            "warp_trunk_id",
            number.trunk_id.map_or_else(String::new, |t| t.to_string()),
        ),
        ("warp_ban", ban.to_owned()),
    ])
}

/// The fallback's company values: how many trunks and numbers are in service, and which (one
/// a line: a trunk's name and addresses, a number and its type), released ones left out.
pub fn company_service_values(trunks: &[Trunk], numbers: &[PhoneNumber]) -> Values {
    let trunks: Vec<&Trunk> = trunks.iter().filter(|t| t.released_at.is_none()).collect();
    let numbers: Vec<&PhoneNumber> = numbers.iter().filter(|n| n.released_at.is_none()).collect();
    let trunk_lines: Vec<String> = trunks
        .iter()
        .map(|t| {
            let addresses: Vec<&str> = t.ip_addresses.iter().map(IpEntry::as_str).collect();
            match addresses.is_empty() {
                true => format!("{} ({})", t.name.as_str(), t.status.as_str()),
                false => format!(
                    "{} ({}): {}",
                    t.name.as_str(),
                    t.status.as_str(),
                    addresses.join(", ")
                ),
            }
        })
        .collect();
    let number_lines: Vec<String> = numbers
        .iter()
        .map(|n| format!("{} ({})", n.number.as_str(), n.number_type.as_str()))
        .collect();
    values([
        (TRUNK_COUNT_PROPERTY, trunks.len().to_string()),
        (NUMBER_COUNT_PROPERTY, numbers.len().to_string()),
        (TRUNK_LIST_PROPERTY, trunk_lines.join("\n")),
        (NUMBER_LIST_PROPERTY, number_lines.join("\n")),
    ])
}

/// The properties whose HubSpot value differs from WARP's (`hubspot` as read: a property
/// absent or null reads as empty; numbers compare by value, so HubSpot's `100.0` is `100`).
pub fn differing(warp: &Values, hubspot: &BTreeMap<String, Option<String>>) -> Vec<String> {
    warp.iter()
        .filter(|(name, value)| {
            let theirs = hubspot.get(*name).cloned().flatten().unwrap_or_default();
            !same_value(value, &theirs)
        })
        .map(|(name, _)| name.clone())
        .collect()
}

fn same_value(ours: &str, theirs: &str) -> bool {
    if ours == theirs.trim_end_matches(['\n', '\r']) {
        return true;
    }
    match (ours.parse::<f64>(), theirs.parse::<f64>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => ours.replace("\r\n", "\n") == theirs.replace("\r\n", "\n"),
    }
}

fn optional(value: Option<impl ToString>) -> String {
    value.map_or_else(String::new, |v| v.to_string())
}

fn values<const N: usize>(pairs: [(&str, String); N]) -> Values {
    pairs
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phone_number::NewNumber;
    use crate::trunk::NewTrunk;
    use chrono::Utc;
    use serde_json::json;
    use uuid::Uuid;

    fn trunk(released: bool) -> Trunk {
        let new = NewTrunk::from_json(&json!({"name": "Main", "ip_addresses": ["198.51.100.10", "203.0.113.0/28"], "concurrent_calls": 100})).unwrap();
        Trunk {
            id: Uuid::nil(),
            customer_id: Uuid::nil(),
            name: new.name,
            status: new.status,
            ip_addresses: new.ip_addresses,
            concurrent_calls: new.concurrent_calls,
            monthly_minutes: None,
            partition_id: None,
            version: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            released_at: released.then(Utc::now),
        }
    }

    fn number(released: bool) -> PhoneNumber {
        let new = NewNumber::from_json(&json!({"number": "+13035551000", "type": "local", "capabilities": ["sms", "voice"], "monthly_cost": "1.00"})).unwrap();
        PhoneNumber {
            id: Uuid::nil(),
            customer_id: Uuid::nil(),
            number: new.number,
            number_type: new.number_type,
            capabilities: new.settings.capabilities,
            monthly_cost: new.settings.monthly_cost,
            trunk_id: None,
            e911_address: None,
            cnam: None,
            status: crate::phone_number::NumberStatus::Active,
            version: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            released_at: released.then(Utc::now),
        }
    }

    #[test]
    fn every_defined_property_gets_a_value_and_only_those() {
        let trunk = trunk_values(&trunk(false), "AB-123456789");
        let names: Vec<&str> = TRUNK_PROPERTIES.iter().map(|p| p.0).collect();
        assert_eq!(
            trunk.keys().map(String::as_str).collect::<Vec<_>>().len(),
            names.len()
        );
        assert!(names.iter().all(|n| trunk.contains_key(*n)));
        assert_eq!(trunk["warp_ip_addresses"], "198.51.100.10\n203.0.113.0/28");
        assert_eq!(trunk["warp_monthly_minutes"], "");
        let number = number_values(&number(false), "AB-123456789");
        assert!(NUMBER_PROPERTIES.iter().all(|p| number.contains_key(p.0)));
        assert_eq!(number["warp_capabilities"], "voice;sms");
    }

    #[test]
    fn the_fallback_counts_what_is_in_service() {
        let values = company_service_values(&[trunk(false), trunk(true)], &[number(false)]);
        assert_eq!(values[TRUNK_COUNT_PROPERTY], "1");
        assert_eq!(values[NUMBER_COUNT_PROPERTY], "1");
        assert_eq!(
            values[TRUNK_LIST_PROPERTY],
            "Main (active): 198.51.100.10, 203.0.113.0/28"
        );
        assert_eq!(values[NUMBER_LIST_PROPERTY], "+13035551000 (local)");
    }

    #[test]
    fn hubspot_s_spelling_of_a_value_is_no_difference() {
        let warp = trunk_values(&trunk(false), "AB-123456789");
        let mut theirs: BTreeMap<String, Option<String>> = warp
            .iter()
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect();
        theirs.insert("warp_concurrent_calls".into(), Some("100.0".into()));
        theirs.insert("warp_monthly_minutes".into(), None);
        assert!(differing(&warp, &theirs).is_empty());
        theirs.insert("warp_name".into(), Some("Edited in HubSpot".into()));
        theirs.remove("warp_status");
        assert_eq!(differing(&warp, &theirs), ["warp_name", "warp_status"]);
    }
}
