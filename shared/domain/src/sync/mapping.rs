//! The field mapping between a WARP record and a HubSpot object (DESIGN §3, §7: customers and
//! companies, users and contacts): which WARP
//! fields are synced, to which HubSpot property, in which direction, and which side wins a
//! conflict. The mapping lives in the `hubspot_sync_config` table so it can change without a
//! deploy; [`FieldMap::from_rows`] turns those rows into a mapping that is valid by type.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use super::ObjectType;

/// A WARP field that can be mapped to a HubSpot property: a customer's (a company property) or
/// a user's (a contact property). [`WarpField::object_type`] says which.
///
/// The string forms ([`WarpField::as_str`]) are the `warp_field` values of the
/// `hubspot_sync_config` table and of `hubspot_field_state.field`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WarpField {
    Ban,
    CompanyName,
    Domain,
    Status,
    CustomerType,
    CreditLimit,
    CurrentBalance,
    ServicesVoice,
    ServicesMessaging,
    ServicesData,
    ContactEmail,
    ContactPhone,
    // A user's (contacts).
    UserId,
    Email,
    FirstName,
    LastName,
    Phone,
    JobTitle,
    Role,
    TwoFactorEnabled,
    ApiKeyCount,
    LastApiCallAt,
    LastLoginAt,
}

impl WarpField {
    /// A customer's mappable fields, in a stable order (the order of DESIGN §3).
    pub const COMPANY: [WarpField; 12] = [
        WarpField::Ban,
        WarpField::CompanyName,
        WarpField::Domain,
        WarpField::Status,
        WarpField::CustomerType,
        WarpField::CreditLimit,
        WarpField::CurrentBalance,
        WarpField::ServicesVoice,
        WarpField::ServicesMessaging,
        WarpField::ServicesData,
        WarpField::ContactEmail,
        WarpField::ContactPhone,
    ];

    /// A user's mappable fields (the contact mapping of the README).
    pub const CONTACT: [WarpField; 11] = [
        WarpField::UserId,
        WarpField::Email,
        WarpField::FirstName,
        WarpField::LastName,
        WarpField::Phone,
        WarpField::JobTitle,
        WarpField::Role,
        WarpField::TwoFactorEnabled,
        WarpField::ApiKeyCount,
        WarpField::LastApiCallAt,
        WarpField::LastLoginAt,
    ];

    /// Every mappable field of every object type: the customer's, then the user's.
    pub const ALL: [WarpField; 23] = {
        let mut all = [WarpField::Ban; 23];
        let mut i = 0;
        while i < Self::COMPANY.len() {
            all[i] = Self::COMPANY[i];
            i += 1;
        }
        let mut j = 0;
        while j < Self::CONTACT.len() {
            all[Self::COMPANY.len() + j] = Self::CONTACT[j];
            j += 1;
        }
        all
    };

    /// The mappable fields of `object_type`.
    pub fn of(object_type: ObjectType) -> &'static [WarpField] {
        match object_type {
            ObjectType::Companies => &Self::COMPANY,
            ObjectType::Contacts => &Self::CONTACT,
        }
    }

    /// The object type whose record holds this field.
    pub fn object_type(self) -> ObjectType {
        if Self::CONTACT.contains(&self) {
            ObjectType::Contacts
        } else {
            ObjectType::Companies
        }
    }

    /// The field that identifies a record of `object_type` in HubSpot: its property is unique
    /// there and every batch upsert names it as `idProperty`.
    pub fn key(object_type: ObjectType) -> WarpField {
        match object_type {
            ObjectType::Companies => WarpField::Ban,
            ObjectType::Contacts => WarpField::UserId,
        }
    }

    /// The field's name as stored in `hubspot_sync_config.warp_field`.
    pub fn as_str(self) -> &'static str {
        match self {
            WarpField::Ban => "ban",
            WarpField::CompanyName => "company_name",
            WarpField::Domain => "domain",
            WarpField::Status => "status",
            WarpField::CustomerType => "customer_type",
            WarpField::CreditLimit => "credit_limit",
            WarpField::CurrentBalance => "current_balance",
            WarpField::ServicesVoice => "services.voice",
            WarpField::ServicesMessaging => "services.messaging",
            WarpField::ServicesData => "services.data",
            WarpField::ContactEmail => "contact.email",
            WarpField::ContactPhone => "contact.phone",
            WarpField::UserId => "user_id",
            WarpField::Email => "email",
            WarpField::FirstName => "first_name",
            WarpField::LastName => "last_name",
            WarpField::Phone => "phone",
            WarpField::JobTitle => "job_title",
            WarpField::Role => "role",
            WarpField::TwoFactorEnabled => "two_factor_enabled",
            WarpField::ApiKeyCount => "api_key_count",
            WarpField::LastApiCallAt => "last_api_call_at",
            WarpField::LastLoginAt => "last_login_at",
        }
    }
}

impl fmt::Display for WarpField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no [`WarpField`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown WARP field {0:?}")]
pub struct UnknownWarpField(pub String);

impl FromStr for WarpField {
    type Err = UnknownWarpField;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        WarpField::ALL
            .into_iter()
            .find(|field| field.as_str() == s)
            .ok_or_else(|| UnknownWarpField(s.to_owned()))
    }
}

/// Which way a field's changes flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncDirection {
    /// WARP's changes are pushed; HubSpot's changes are overridden by WARP's value.
    WarpToHubSpot,
    /// HubSpot's changes are applied to WARP; WARP never pushes the field.
    HubSpotToWarp,
    /// Both sides' changes flow; the [`ConflictRule`] settles disagreements.
    Both,
}

impl SyncDirection {
    /// The string stored in `hubspot_sync_config.direction`.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncDirection::WarpToHubSpot => "WARP_TO_HUBSPOT",
            SyncDirection::HubSpotToWarp => "HUBSPOT_TO_WARP",
            SyncDirection::Both => "BOTH",
        }
    }

    /// Whether WARP's value of the field is sent to HubSpot.
    pub fn includes_outbound(self) -> bool {
        matches!(self, SyncDirection::WarpToHubSpot | SyncDirection::Both)
    }

    /// Whether HubSpot's value of the field may be written into WARP.
    pub fn includes_inbound(self) -> bool {
        matches!(self, SyncDirection::HubSpotToWarp | SyncDirection::Both)
    }
}

impl fmt::Display for SyncDirection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no [`SyncDirection`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown sync direction {0:?}")]
pub struct UnknownSyncDirection(pub String);

impl FromStr for SyncDirection {
    type Err = UnknownSyncDirection;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "WARP_TO_HUBSPOT" => Ok(SyncDirection::WarpToHubSpot),
            "HUBSPOT_TO_WARP" => Ok(SyncDirection::HubSpotToWarp),
            "BOTH" => Ok(SyncDirection::Both),
            other => Err(UnknownSyncDirection(other.to_owned())),
        }
    }
}

/// Which side's value stands when the two sides disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConflictRule {
    WarpWins,
    HubSpotWins,
    /// The side that changed the field last wins; changes within one second of each other are
    /// a conflict for a person.
    LatestWins,
}

impl ConflictRule {
    /// The string stored in `hubspot_sync_config.conflict_rule`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictRule::WarpWins => "WARP_WINS",
            ConflictRule::HubSpotWins => "HUBSPOT_WINS",
            ConflictRule::LatestWins => "LATEST_WINS",
        }
    }
}

impl fmt::Display for ConflictRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no [`ConflictRule`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown conflict rule {0:?}")]
pub struct UnknownConflictRule(pub String);

impl FromStr for ConflictRule {
    type Err = UnknownConflictRule;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "WARP_WINS" => Ok(ConflictRule::WarpWins),
            "HUBSPOT_WINS" => Ok(ConflictRule::HubSpotWins),
            "LATEST_WINS" => Ok(ConflictRule::LatestWins),
            other => Err(UnknownConflictRule(other.to_owned())),
        }
    }
}

/// How one WARP field maps to one HubSpot company property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldMapping {
    pub field: WarpField,
    pub hubspot_property: String,
    pub direction: SyncDirection,
    pub rule: ConflictRule,
    /// A disabled mapping is neither pushed nor applied; its events are ignored.
    pub enabled: bool,
    /// An empty value never replaces a non-empty one on either side: WARP does not push its
    /// empty value, a value cleared in HubSpot is not applied (WARP's value is pushed back when
    /// the direction allows), and reconciliation fills the empty side instead of clearing the
    /// other.
    pub never_overwrite_with_empty: bool,
}

impl FieldMapping {
    fn new(
        field: WarpField,
        hubspot_property: &str,
        direction: SyncDirection,
        rule: ConflictRule,
    ) -> Self {
        FieldMapping {
            field,
            hubspot_property: hubspot_property.to_owned(),
            direction,
            rule,
            enabled: true,
            never_overwrite_with_empty: false,
        }
    }

    /// Enabled and WARP's value is sent to HubSpot.
    pub fn is_outbound(&self) -> bool {
        self.enabled && self.direction.includes_outbound()
    }

    /// Enabled and HubSpot's value may be written into WARP.
    pub fn is_inbound(&self) -> bool {
        self.enabled && self.direction.includes_inbound()
    }

    /// Whether writing `new` over `current` is refused by "never overwrite with an empty
    /// value" (both canonical: `None` is empty).
    pub fn refuses_empty_over(&self, new: Option<&str>, current: Option<&str>) -> bool {
        self.never_overwrite_with_empty && new.is_none() && current.is_some()
    }

    /// The `hubspot_sync_config` row this mapping is stored as.
    pub fn to_row(&self) -> FieldMappingRow {
        FieldMappingRow {
            warp_field: self.field.as_str().to_owned(),
            hubspot_property: self.hubspot_property.clone(),
            direction: self.direction.as_str().to_owned(),
            conflict_rule: self.rule.as_str().to_owned(),
            enabled: self.enabled,
            never_overwrite_with_empty: self.never_overwrite_with_empty,
        }
    }
}

/// One `hubspot_sync_config` row as read from the database, before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldMappingRow {
    pub warp_field: String,
    pub hubspot_property: String,
    pub direction: String,
    pub conflict_rule: String,
    pub enabled: bool,
    pub never_overwrite_with_empty: bool,
}

/// Why a set of `hubspot_sync_config` rows is not a valid mapping.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldMapError {
    #[error(transparent)]
    UnknownField(#[from] UnknownWarpField),
    #[error(transparent)]
    UnknownDirection(#[from] UnknownSyncDirection),
    #[error(transparent)]
    UnknownRule(#[from] UnknownConflictRule),
    #[error("field {field} is mapped more than once")]
    DuplicateField { field: WarpField },
    #[error("HubSpot property {property:?} is mapped to both {first} and {second}")]
    DuplicateProperty {
        property: String,
        first: WarpField,
        second: WarpField,
    },
    #[error("field {field}: {property:?} is not a HubSpot internal property name")]
    InvalidProperty { field: WarpField, property: String },
    /// A one-way field whose rule would make the other side win. WARP_TO_HUBSPOT with
    /// HUBSPOT_WINS would apply HubSpot's value against the direction; HUBSPOT_TO_WARP with
    /// anything but HUBSPOT_WINS would push WARP's value against the direction. Rejected so the
    /// table never says two contradicting things.
    #[error("field {field}: direction {direction} contradicts rule {rule}")]
    ContradictoryRule {
        field: WarpField,
        direction: SyncDirection,
        rule: ConflictRule,
    },
    /// The BAN is the key companies are upserted and found by (`warp_ban`, unique in HubSpot):
    /// disabling it, renaming its property or letting HubSpot write it would break identity.
    #[error(
        "field {field} is the record's key: it stays enabled, WARP_TO_HUBSPOT with WARP_WINS, on property {property}"
    )]
    KeyFieldFixed {
        field: WarpField,
        property: &'static str,
    },
    /// A WARP login email is WARP's: HubSpot never changes it (a change there is pushed back).
    #[error("field {field} is a WARP login: it stays WARP_TO_HUBSPOT with WARP_WINS")]
    WarpOwned { field: WarpField },
    /// One mapping serves one object type.
    #[error("fields {first} and {second} belong to different object types")]
    MixedObjectTypes { first: WarpField, second: WarpField },
}

/// The property the company key ([`WarpField::Ban`]) is stored in; upserts use it as `idProperty`.
pub const KEY_PROPERTY: &str = "warp_ban";

/// The property the contact key ([`WarpField::UserId`]) is stored in (unique in HubSpot).
pub const CONTACT_KEY_PROPERTY: &str = "warp_user_id";

/// The unique property that identifies a record of `object_type` in HubSpot.
pub fn key_property(object_type: ObjectType) -> &'static str {
    match object_type {
        ObjectType::Companies => KEY_PROPERTY,
        ObjectType::Contacts => CONTACT_KEY_PROPERTY,
    }
}

/// The whole mapping for a portal: at most one [`FieldMapping`] per field and per HubSpot
/// property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldMap {
    by_field: BTreeMap<WarpField, FieldMapping>,
}

impl FieldMap {
    /// The mapping of DESIGN §3, equal to the seed rows of `hubspot_sync_config`.
    pub fn default_mapping() -> Self {
        use ConflictRule::*;
        use SyncDirection::*;
        let mappings = [
            FieldMapping::new(WarpField::Ban, KEY_PROPERTY, WarpToHubSpot, WarpWins),
            FieldMapping::new(WarpField::CompanyName, "name", Both, LatestWins),
            FieldMapping::new(WarpField::Domain, "domain", Both, LatestWins),
            FieldMapping::new(WarpField::Status, "warp_status", WarpToHubSpot, WarpWins),
            FieldMapping::new(
                WarpField::CustomerType,
                "warp_customer_type",
                WarpToHubSpot,
                WarpWins,
            ),
            FieldMapping::new(
                WarpField::CreditLimit,
                "warp_credit_limit",
                Both,
                HubSpotWins,
            ),
            FieldMapping::new(
                WarpField::CurrentBalance,
                "warp_current_balance",
                WarpToHubSpot,
                WarpWins,
            ),
            FieldMapping::new(
                WarpField::ServicesVoice,
                "warp_services_voice",
                WarpToHubSpot,
                WarpWins,
            ),
            FieldMapping::new(
                WarpField::ServicesMessaging,
                "warp_services_messaging",
                WarpToHubSpot,
                WarpWins,
            ),
            FieldMapping::new(
                WarpField::ServicesData,
                "warp_services_data",
                WarpToHubSpot,
                WarpWins,
            ),
            FieldMapping::new(
                WarpField::ContactEmail,
                "warp_billing_email",
                WarpToHubSpot,
                WarpWins,
            ),
            FieldMapping::new(WarpField::ContactPhone, "phone", WarpToHubSpot, WarpWins),
        ];
        FieldMap {
            by_field: mappings.into_iter().map(|m| (m.field, m)).collect(),
        }
    }

    /// The seeded mapping of `object_type` (migrations V1 and V6).
    pub fn default_for(object_type: ObjectType) -> Self {
        match object_type {
            ObjectType::Companies => Self::default_mapping(),
            ObjectType::Contacts => Self::default_contact_mapping(),
        }
    }

    /// The contact mapping of migration V6 and the README: the login email and the facts only
    /// WARP knows go one way; names, phone and job title both ways, never wiped by an empty
    /// value.
    fn default_contact_mapping() -> Self {
        use ConflictRule::*;
        use SyncDirection::*;
        let one_way = |field, property| FieldMapping::new(field, property, WarpToHubSpot, WarpWins);
        let both = |field, property| FieldMapping {
            never_overwrite_with_empty: true,
            ..FieldMapping::new(field, property, Both, LatestWins)
        };
        let mappings = [
            one_way(WarpField::UserId, CONTACT_KEY_PROPERTY),
            FieldMapping {
                never_overwrite_with_empty: true,
                ..one_way(WarpField::Email, "email")
            },
            both(WarpField::FirstName, "firstname"),
            both(WarpField::LastName, "lastname"),
            both(WarpField::Phone, "phone"),
            both(WarpField::JobTitle, "jobtitle"),
            one_way(WarpField::Role, "warp_role"),
            one_way(WarpField::TwoFactorEnabled, "warp_2fa_enabled"),
            one_way(WarpField::ApiKeyCount, "warp_api_key_count"),
            one_way(WarpField::LastApiCallAt, "warp_last_api_call"),
            one_way(WarpField::LastLoginAt, "warp_last_login"),
        ];
        FieldMap {
            by_field: mappings.into_iter().map(|m| (m.field, m)).collect(),
        }
    }

    /// The object type this mapping serves (companies when empty).
    pub fn object_type(&self) -> ObjectType {
        self.by_field
            .keys()
            .next()
            .map_or(ObjectType::Companies, |field| field.object_type())
    }

    /// Builds a mapping from `hubspot_sync_config` rows, rejecting unknown fields, directions
    /// and rules, duplicates, and rules that contradict a one-way direction.
    pub fn from_rows(
        rows: impl IntoIterator<Item = FieldMappingRow>,
    ) -> Result<Self, FieldMapError> {
        let mut by_field: BTreeMap<WarpField, FieldMapping> = BTreeMap::new();
        let mut by_property: BTreeMap<String, WarpField> = BTreeMap::new();
        for row in rows {
            let field: WarpField = row.warp_field.parse()?;
            let direction: SyncDirection = row.direction.parse()?;
            let rule: ConflictRule = row.conflict_rule.parse()?;
            let property = row.hubspot_property.trim();
            if property.is_empty() || property.chars().any(char::is_whitespace) {
                return Err(FieldMapError::InvalidProperty {
                    field,
                    property: row.hubspot_property,
                });
            }
            let contradicts = match direction {
                SyncDirection::WarpToHubSpot => rule == ConflictRule::HubSpotWins,
                SyncDirection::HubSpotToWarp => rule != ConflictRule::HubSpotWins,
                SyncDirection::Both => false,
            };
            if contradicts {
                return Err(FieldMapError::ContradictoryRule {
                    field,
                    direction,
                    rule,
                });
            }
            let object_type = field.object_type();
            let key_property = key_property(object_type);
            if field == WarpField::key(object_type)
                && !(row.enabled
                    && property == key_property
                    && direction == SyncDirection::WarpToHubSpot
                    && rule == ConflictRule::WarpWins)
            {
                return Err(FieldMapError::KeyFieldFixed {
                    field,
                    property: key_property,
                });
            }
            if field == WarpField::Email
                && !(direction == SyncDirection::WarpToHubSpot && rule == ConflictRule::WarpWins)
            {
                return Err(FieldMapError::WarpOwned { field });
            }
            if let Some(other) = by_field.keys().find(|f| f.object_type() != object_type) {
                return Err(FieldMapError::MixedObjectTypes {
                    first: *other,
                    second: field,
                });
            }
            if by_field.contains_key(&field) {
                return Err(FieldMapError::DuplicateField { field });
            }
            if let Some(&first) = by_property.get(property) {
                return Err(FieldMapError::DuplicateProperty {
                    property: property.to_owned(),
                    first,
                    second: field,
                });
            }
            by_property.insert(property.to_owned(), field);
            by_field.insert(
                field,
                FieldMapping {
                    field,
                    hubspot_property: property.to_owned(),
                    direction,
                    rule,
                    enabled: row.enabled,
                    never_overwrite_with_empty: row.never_overwrite_with_empty,
                },
            );
        }
        Ok(FieldMap { by_field })
    }

    /// This mapping with `row` in place of its field's current mapping (or added), checked as
    /// a whole: a change may not make two fields share a property, contradict its direction or
    /// touch the key.
    pub fn with_row(&self, row: FieldMappingRow) -> Result<Self, FieldMapError> {
        let field: WarpField = row.warp_field.parse()?;
        let others = self
            .iter()
            .filter(|m| m.field != field)
            .map(FieldMapping::to_row);
        FieldMap::from_rows(others.chain([row]))
    }

    /// The mapping of `field`, if it is mapped (enabled or not).
    pub fn get(&self, field: WarpField) -> Option<&FieldMapping> {
        self.by_field.get(&field)
    }

    /// The mapping whose HubSpot property is `property` (exact internal name), if any.
    pub fn by_hubspot_property(&self, property: &str) -> Option<&FieldMapping> {
        self.by_field
            .values()
            .find(|m| m.hubspot_property == property)
    }

    /// Every mapping, enabled or not, in field order.
    pub fn iter(&self) -> impl Iterator<Item = &FieldMapping> {
        self.by_field.values()
    }

    /// Enabled mappings whose WARP value is pushed to HubSpot.
    pub fn outbound_fields(&self) -> impl Iterator<Item = &FieldMapping> {
        self.iter().filter(|m| m.is_outbound())
    }

    /// Enabled mappings whose HubSpot value may be written into WARP. Events for the other
    /// enabled fields are still decided (they are overridden), see `decide_inbound`.
    pub fn inbound_fields(&self) -> impl Iterator<Item = &FieldMapping> {
        self.iter().filter(|m| m.is_inbound())
    }

    /// The HubSpot property names of every enabled mapping: what to ask HubSpot for when
    /// reading a company for comparison.
    pub fn hubspot_properties(&self) -> Vec<&str> {
        self.iter()
            .filter(|m| m.enabled)
            .map(|m| m.hubspot_property.as_str())
            .collect()
    }
}
