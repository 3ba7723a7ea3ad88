//! A customer's SIP trunk (seed 002's trunk custom object): its name, the addresses allowed to
//! send it calls, its limits and partition. Values are parsed into types that can only hold
//! valid ones; create and update bodies are read field by field with every error collected.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::customer::text_value;
use crate::customer::{Change, FieldError, InvalidValue};
use crate::json_input::{Reader, text, whole_number};

code_enum!(
    /// Whether a trunk carries calls: `released` is final (the trunk's history is kept), set
    /// only by the release route.
    TrunkStatus { Active => "active", Suspended => "suspended", Released => "released" }
);

/// Most addresses one trunk lists (HubSpot's multi-line text shows them all).
pub const MAX_TRUNK_ADDRESSES: usize = 50;
/// The most concurrent calls a trunk may be given.
pub const MAX_CONCURRENT_CALLS: i32 = 100_000;
/// The most minutes a month a trunk may include.
pub const MAX_MONTHLY_MINUTES: i64 = 1_000_000_000_000;

text_value!(
    /// A trunk's name: trimmed, 1 to 100 characters, no control characters.
    TrunkName
);

impl TrunkName {
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        Ok(TrunkName(crate::customer::bounded_text(text, 100)?))
    }
}

text_value!(
    /// The switch partition a trunk lives in (`ABC123`): 1 to 64 letters, digits, `_` or `-`.
    PartitionId
);

impl PartitionId {
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
        if text.is_empty() || text.len() > 64 || !text.bytes().all(allowed) {
            return Err(InvalidValue("must be 1 to 64 letters, digits, '_' or '-'"));
        }
        Ok(PartitionId(text.to_owned()))
    }
}

text_value!(
    /// One source a trunk accepts calls from: a host address (`198.51.100.10`) or a network
    /// in CIDR form (`198.51.100.0/28`), IPv4 or IPv6, written canonically. A network's host
    /// bits must be zero, and no entry may be a loopback, multicast or unspecified address or a
    /// network that takes every address (the switch would accept calls from anywhere).
    IpEntry
);

impl IpEntry {
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        const MESSAGE: &str =
            "must be an IP address (198.51.100.10) or a network in CIDR form (198.51.100.0/28)";
        let network = match text.parse::<IpAddr>() {
            Ok(address) => IpNet::from(address),
            Err(_) => text.parse::<IpNet>().map_err(|_| InvalidValue(MESSAGE))?,
        };
        if network.prefix_len() == 0 {
            return Err(InvalidValue("must not take every address (a /0 network)"));
        }
        if network.trunc() != network {
            return Err(InvalidValue(
                "has host bits set: write the network's first address (198.51.100.0/24)",
            ));
        }
        let address = network.addr();
        if address.is_loopback() || address.is_multicast() || address.is_unspecified() {
            return Err(InvalidValue(
                "must not be a loopback, multicast or unspecified address",
            ));
        }
        let canonical = if network.prefix_len() == network.max_prefix_len() {
            address.to_string()
        } else {
            network.to_string()
        };
        Ok(IpEntry(canonical))
    }
}

/// A stored trunk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trunk {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub name: TrunkName,
    pub status: TrunkStatus,
    pub ip_addresses: Vec<IpEntry>,
    /// The most calls at once; none: the platform's default.
    pub concurrent_calls: Option<i32>,
    /// Minutes included each month; none: pay as you go.
    pub monthly_minutes: Option<i64>,
    pub partition_id: Option<PartitionId>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub released_at: Option<DateTime<Utc>>,
}

/// The fields of a trunk a client writes.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTrunk {
    pub name: TrunkName,
    pub status: TrunkStatus,
    pub ip_addresses: Vec<IpEntry>,
    pub concurrent_calls: Option<i32>,
    pub monthly_minutes: Option<i64>,
    pub partition_id: Option<PartitionId>,
}

/// A merge-patch of a trunk (RFC 7396): absent keeps, `null` clears an optional field.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrunkPatch {
    pub name: Option<TrunkName>,
    pub status: Option<TrunkStatus>,
    pub ip_addresses: Option<Vec<IpEntry>>,
    pub concurrent_calls: Change<i32>,
    pub monthly_minutes: Change<i64>,
    pub partition_id: Change<PartitionId>,
}

const WRITABLE: &[&str] = &[
    "name",
    "status",
    "ip_addresses",
    "concurrent_calls",
    "monthly_minutes",
    "partition_id",
];
const READ_ONLY: &[&str] = &[
    "id",
    "customer_id",
    "version",
    "created_at",
    "updated_at",
    "released_at",
];

impl NewTrunk {
    /// Reads a create body: `name` is required; a trunk starts `active` with no addresses
    /// unless the body says otherwise.
    pub fn from_json(value: &Value) -> Result<Self, Vec<FieldError>> {
        let (patch, mut errors) = parse_patch(value);
        if patch.name.is_none() && !errors.iter().any(|e| e.field == "name") {
            errors.push(FieldError::new("name", "is required"));
        }
        match (errors.is_empty(), patch.name) {
            (true, Some(name)) => Ok(NewTrunk {
                name,
                status: patch.status.unwrap_or(TrunkStatus::Active),
                ip_addresses: patch.ip_addresses.unwrap_or_default(),
                concurrent_calls: patch.concurrent_calls.into_option(),
                monthly_minutes: patch.monthly_minutes.into_option(),
                partition_id: patch.partition_id.into_option(),
            }),
            _ => Err(errors),
        }
    }
}

impl TrunkPatch {
    pub fn from_json(value: &Value) -> Result<Self, Vec<FieldError>> {
        let (patch, errors) = parse_patch(value);
        if errors.is_empty() {
            Ok(patch)
        } else {
            Err(errors)
        }
    }

    /// The writable fields after this patch.
    pub fn apply_to(&self, current: &Trunk) -> NewTrunk {
        NewTrunk {
            name: self.name.clone().unwrap_or_else(|| current.name.clone()),
            status: self.status.unwrap_or(current.status),
            ip_addresses: self
                .ip_addresses
                .clone()
                .unwrap_or_else(|| current.ip_addresses.clone()),
            concurrent_calls: self.concurrent_calls.apply(&current.concurrent_calls),
            monthly_minutes: self.monthly_minutes.apply(&current.monthly_minutes),
            partition_id: self.partition_id.apply(&current.partition_id),
        }
    }
}

impl Trunk {
    /// The writable fields as stored (an update that changes none of them is no write).
    pub fn writable(&self) -> NewTrunk {
        TrunkPatch::default().apply_to(self)
    }
}

fn parse_patch(value: &Value) -> (TrunkPatch, Vec<FieldError>) {
    let mut reader = Reader::new(READ_ONLY);
    let mut patch = TrunkPatch::default();
    let Some(map) = reader.object(value, "", WRITABLE) else {
        return (patch, reader.into_errors());
    };
    patch.name = reader.required(map, "", "name", |v| {
        TrunkName::parse(text(v)?).map_err(|e| e.to_string())
    });
    patch.status = reader.required(map, "", "status", |v| match TrunkStatus::parse(text(v)?) {
        Ok(TrunkStatus::Released) => {
            Err("is set by POST /v1/customers/{id}/trunks/{trunk_id}/release".to_owned())
        }
        Ok(status) => Ok(status),
        Err(_) => Err("must be one of active suspended".to_owned()),
    });
    patch.ip_addresses = reader.required(map, "", "ip_addresses", ip_addresses);
    patch.concurrent_calls = reader.clearable(map, "", "concurrent_calls", |v| {
        let calls = whole_number(v, 1..=i64::from(MAX_CONCURRENT_CALLS))?;
        i32::try_from(calls).map_err(|e| e.to_string())
    });
    patch.monthly_minutes = reader.clearable(map, "", "monthly_minutes", |v| {
        whole_number(v, 0..=MAX_MONTHLY_MINUTES)
    });
    patch.partition_id = reader.clearable(map, "", "partition_id", |v| {
        PartitionId::parse(text(v)?).map_err(|e| e.to_string())
    });
    (patch, reader.into_errors())
}

/// An array of addresses or networks, each kept once (a repeat says nothing more); the first
/// bad entry is named by its index.
fn ip_addresses(value: &Value) -> Result<Vec<IpEntry>, String> {
    let Value::Array(items) = value else {
        return Err("must be an array of IP addresses or CIDR networks".to_owned());
    };
    if items.len() > MAX_TRUNK_ADDRESSES {
        return Err(format!("must hold at most {MAX_TRUNK_ADDRESSES} entries"));
    }
    let mut entries: Vec<IpEntry> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let entry = text(item)
            .and_then(|t| IpEntry::parse(t).map_err(|e| e.to_string()))
            .map_err(|message| format!("[{index}] {message}"))?;
        if !entries.contains(&entry) {
            entries.push(entry);
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        let mut fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        fields.sort_unstable();
        fields
    }

    #[test]
    fn the_seed_example_is_a_trunk_that_starts_active() {
        let trunk = NewTrunk::from_json(&json!({
            "name": " Production SIP Trunk ",
            "ip_addresses": ["198.51.100.10", "2001:db8::/48", "198.51.100.10/32"],
            "concurrent_calls": 100, "monthly_minutes": 1000000, "partition_id": "ABC123",
        }))
        .unwrap();
        assert_eq!(trunk.name.as_str(), "Production SIP Trunk");
        assert_eq!(trunk.status, TrunkStatus::Active);
        let addresses: Vec<&str> = trunk.ip_addresses.iter().map(IpEntry::as_str).collect();
        assert_eq!(addresses, ["198.51.100.10", "2001:db8::/48"]);
        assert_eq!(trunk.concurrent_calls, Some(100));
        let whole = NewTrunk::from_json(&json!({"name": "A", "concurrent_calls": 10.0})).unwrap();
        assert_eq!(whole.concurrent_calls, Some(10));
        let errors =
            NewTrunk::from_json(&json!({"name": "A", "concurrent_calls": 10.5})).unwrap_err();
        assert_eq!(fields(&errors), ["concurrent_calls"]);
        assert_eq!(trunk.partition_id.unwrap().as_str(), "ABC123");
    }

    #[test]
    fn addresses_are_canonical_and_unsafe_ones_refused() {
        assert_eq!(
            IpEntry::parse("198.51.100.10/32").unwrap().as_str(),
            "198.51.100.10"
        );
        assert_eq!(
            IpEntry::parse("2001:DB8::1").unwrap().as_str(),
            "2001:db8::1"
        );
        for bad in [
            "198.51.100.10/24",
            "0.0.0.0/0",
            "::/0",
            "127.0.0.1",
            "224.0.0.1",
            "0.0.0.0",
            "198.51.100",
            "198.51.100.10/33",
            " 198.51.100.10",
            "",
        ] {
            assert!(IpEntry::parse(bad).is_err(), "{bad} was taken");
        }
    }

    #[test]
    fn every_bad_field_is_named_and_release_is_not_a_patch() {
        let errors = NewTrunk::from_json(&json!({
            "status": "released", "ip_addresses": ["198.51.100.10", "10.0.0.1/8"],
            "concurrent_calls": 0, "monthly_minutes": -1, "partition_id": "a b",
            "version": 3, "colour": "red",
        }))
        .unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                "colour",
                "concurrent_calls",
                "ip_addresses",
                "monthly_minutes",
                "name",
                "partition_id",
                "status",
                "version"
            ]
        );
        let repeated = errors.iter().find(|e| e.field == "ip_addresses").unwrap();
        assert!(
            repeated.message.starts_with("[1] has host bits set"),
            "{}",
            repeated.message
        );
        let status = errors.iter().find(|e| e.field == "status").unwrap();
        assert!(status.message.contains("/release"), "{}", status.message);
    }

    #[test]
    fn a_patch_keeps_absent_fields_and_clears_null_ones() {
        let current = Trunk {
            id: Uuid::nil(),
            customer_id: Uuid::nil(),
            name: TrunkName::parse("Main").unwrap(),
            status: TrunkStatus::Active,
            ip_addresses: vec![IpEntry::parse("198.51.100.10").unwrap()],
            concurrent_calls: Some(10),
            monthly_minutes: Some(500),
            partition_id: None,
            version: 2,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            released_at: None,
        };
        let patch =
            TrunkPatch::from_json(&json!({"concurrent_calls": null, "status": "suspended"}))
                .unwrap();
        let after = patch.apply_to(&current);
        assert_eq!(after.concurrent_calls, None);
        assert_eq!(after.status, TrunkStatus::Suspended);
        assert_eq!(after.ip_addresses, current.ip_addresses);
        assert_eq!(after.monthly_minutes, Some(500));
        assert_eq!(TrunkPatch::default().apply_to(&current), current.writable());
        assert_eq!(
            fields(
                &TrunkPatch::from_json(&json!({"name": null, "ip_addresses": null})).unwrap_err()
            ),
            ["ip_addresses", "name"]
        );
    }

    proptest! {
        /// Whatever text parses, its canonical form parses to itself: what is stored reads
        /// back unchanged.
        #[test]
        fn a_parsed_entry_is_canonical(a in any::<[u8; 4]>(), prefix in 1u8..=32) {
            let network = IpNet::new(IpAddr::from(a), prefix).unwrap().trunc();
            if let Ok(entry) = IpEntry::parse(&network.to_string()) {
                prop_assert_eq!(IpEntry::parse(entry.as_str()).unwrap(), entry);
            }
        }
    }
}
