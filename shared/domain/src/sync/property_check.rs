//! Whether a HubSpot property can carry a mapped WARP field (DESIGN §7: a mapping change is
//! checked against HubSpot's property list before it is stored): the property must exist, its
//! type must hold the field's values, and a property WARP writes must accept writes.

use std::fmt;

use crate::customer::{CustomerType, Status};
use crate::user::UserRole;

use super::mapping::{FieldMapping, WarpField};

/// The kind of value a WARP field holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueKind {
    /// Free text (names, domains, emails, phone numbers, codes).
    Text,
    /// A decimal number.
    Number,
    /// `true` or `false`.
    Bool,
    /// A point in time (ISO 8601).
    Instant,
    /// A calendar day (`YYYY-MM-DD`).
    Date,
    /// One of these codes.
    Choice(Vec<&'static str>),
}

impl fmt::Display for ValueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueKind::Text => f.write_str("text"),
            ValueKind::Number => f.write_str("a number"),
            ValueKind::Bool => f.write_str("true/false"),
            ValueKind::Instant => f.write_str("a date and time"),
            ValueKind::Date => f.write_str("a date"),
            ValueKind::Choice(values) => write!(f, "one of {}", values.join(", ")),
        }
    }
}

impl WarpField {
    /// The kind of value the field holds.
    pub fn value_kind(self) -> ValueKind {
        match self {
            WarpField::Ban
            | WarpField::CompanyName
            | WarpField::Domain
            | WarpField::ContactEmail
            | WarpField::ContactPhone
            | WarpField::UserId
            | WarpField::Email
            | WarpField::FirstName
            | WarpField::LastName
            | WarpField::Phone
            | WarpField::JobTitle => ValueKind::Text,
            WarpField::CreditLimit | WarpField::CurrentBalance | WarpField::ApiKeyCount => {
                ValueKind::Number
            }
            WarpField::ServicesVoice
            | WarpField::ServicesMessaging
            | WarpField::ServicesData
            | WarpField::TwoFactorEnabled => ValueKind::Bool,
            WarpField::LastApiCallAt | WarpField::LastLoginAt => ValueKind::Instant,
            WarpField::Role => {
                ValueKind::Choice(UserRole::ALL.iter().map(|r| r.as_str()).collect())
            }
            WarpField::Status => ValueKind::Choice(Status::ALL.map(|s| s.as_str()).to_vec()),
            WarpField::CustomerType => {
                ValueKind::Choice(CustomerType::ALL.map(|t| t.as_str()).to_vec())
            }
        }
    }
}

/// What HubSpot says about a property, as far as a mapping check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyFacts {
    pub name: String,
    /// HubSpot's `type`: string, number, bool, enumeration, date, datetime, phone_number, …
    pub property_type: String,
    /// The option values of an enumeration or bool property.
    pub options: Vec<String>,
    /// HubSpot computes the value, or `modificationMetadata.readOnlyValue` is set.
    pub read_only: bool,
}

/// Why a property cannot carry a mapped field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PropertyMismatch {
    #[error("HubSpot has no property {property:?}")]
    Missing { property: String },
    #[error(
        "HubSpot property {property:?} has type {property_type:?}, which cannot hold {field} ({kind})"
    )]
    IncompatibleType {
        field: String,
        property: String,
        property_type: String,
        kind: ValueKind,
    },
    #[error("HubSpot property {property:?} has no option for {missing:?}, a value of {field}")]
    MissingOptions {
        field: String,
        property: String,
        missing: Vec<&'static str>,
    },
    #[error("HubSpot property {property:?} is read-only, so {field} cannot be written to it")]
    ReadOnly { field: String, property: String },
}

/// Checks that `property` (HubSpot's description of the mapped property, `None` when HubSpot
/// has none by that name) can carry `mapping`'s field. A disabled mapping is checked too: it
/// is meant to be switched on later.
pub fn check_property(
    mapping: &FieldMapping,
    property: Option<&PropertyFacts>,
) -> Result<(), PropertyMismatch> {
    check_property_kind(
        mapping.field.as_str(),
        mapping.field.value_kind(),
        mapping.direction.includes_outbound(),
        &mapping.hubspot_property,
        property,
    )
}

/// Checks that `property` (HubSpot's description of the property named `wanted`) can carry
/// values of `kind` (of the WARP value named `field`), and that WARP may write it when
/// `written_by_warp`.
pub fn check_property_kind(
    field: &str,
    kind: ValueKind,
    written_by_warp: bool,
    wanted: &str,
    property: Option<&PropertyFacts>,
) -> Result<(), PropertyMismatch> {
    let Some(property) = property else {
        return Err(PropertyMismatch::Missing {
            property: wanted.to_owned(),
        });
    };
    let compatible = match &kind {
        // Every HubSpot type reads back as text; but WARP text written to a number, date or
        // option property would be refused by HubSpot, so text goes to text-like types only.
        ValueKind::Text => matches!(property.property_type.as_str(), "string" | "phone_number"),
        ValueKind::Number => matches!(property.property_type.as_str(), "number" | "string"),
        ValueKind::Bool => matches!(
            property.property_type.as_str(),
            "bool" | "enumeration" | "string"
        ),
        ValueKind::Choice(_) => matches!(property.property_type.as_str(), "enumeration" | "string"),
        ValueKind::Instant => matches!(property.property_type.as_str(), "datetime" | "string"),
        ValueKind::Date => matches!(property.property_type.as_str(), "date" | "string"),
    };
    if !compatible {
        return Err(PropertyMismatch::IncompatibleType {
            field: field.to_owned(),
            property: property.name.clone(),
            property_type: property.property_type.clone(),
            kind,
        });
    }
    let needed: Vec<&'static str> = match (&kind, property.property_type.as_str()) {
        (ValueKind::Choice(values), "enumeration") => values.clone(),
        (ValueKind::Bool, "enumeration") => vec!["true", "false"],
        _ => Vec::new(),
    };
    let missing: Vec<&'static str> = needed
        .into_iter()
        .filter(|value| !property.options.iter().any(|option| option == value))
        .collect();
    if !missing.is_empty() {
        return Err(PropertyMismatch::MissingOptions {
            field: field.to_owned(),
            property: property.name.clone(),
            missing,
        });
    }
    if written_by_warp && property.read_only {
        return Err(PropertyMismatch::ReadOnly {
            field: field.to_owned(),
            property: property.name.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::{FieldMap, SyncDirection};

    fn facts(name: &str, property_type: &str, options: &[&str], read_only: bool) -> PropertyFacts {
        PropertyFacts {
            name: name.to_owned(),
            property_type: property_type.to_owned(),
            options: options.iter().map(|o| (*o).to_owned()).collect(),
            read_only,
        }
    }

    fn mapping(field: WarpField) -> FieldMapping {
        FieldMap::default_mapping().get(field).unwrap().clone()
    }

    #[test]
    fn a_missing_property_is_refused() {
        assert_eq!(
            check_property(&mapping(WarpField::Domain), None),
            Err(PropertyMismatch::Missing {
                property: "domain".into()
            })
        );
    }

    #[test]
    fn text_needs_a_text_like_property() {
        let name = mapping(WarpField::CompanyName);
        assert!(check_property(&name, Some(&facts("name", "string", &[], false))).is_ok());
        let refused = check_property(&name, Some(&facts("name", "datetime", &[], false)));
        assert!(matches!(
            refused,
            Err(PropertyMismatch::IncompatibleType { .. })
        ));
        let refused = check_property(&name, Some(&facts("name", "number", &[], false)));
        assert!(matches!(
            refused,
            Err(PropertyMismatch::IncompatibleType { .. })
        ));
    }

    #[test]
    fn an_enumeration_must_offer_every_code() {
        let status = mapping(WarpField::Status);
        let all = facts(
            "warp_status",
            "enumeration",
            &["ACTIVE", "SUSPENDED", "CLOSED", "EXTRA"],
            false,
        );
        assert!(check_property(&status, Some(&all)).is_ok());
        let partial = facts("warp_status", "enumeration", &["ACTIVE"], false);
        assert_eq!(
            check_property(&status, Some(&partial)),
            Err(PropertyMismatch::MissingOptions {
                field: "status".to_owned(),
                property: "warp_status".into(),
                missing: vec!["SUSPENDED", "CLOSED"],
            })
        );
        let voice = mapping(WarpField::ServicesVoice);
        let yes_no = facts("x", "enumeration", &["true", "false"], false);
        assert!(check_property(&voice, Some(&yes_no)).is_ok());
        assert!(check_property(&voice, Some(&facts("x", "enumeration", &["yes"], false))).is_err());
    }

    #[test]
    fn a_read_only_property_takes_inbound_fields_only() {
        let read_only = facts("warp_credit_limit", "number", &[], true);
        let mut credit = mapping(WarpField::CreditLimit);
        assert!(matches!(
            check_property(&credit, Some(&read_only)),
            Err(PropertyMismatch::ReadOnly { .. })
        ));
        credit.direction = SyncDirection::HubSpotToWarp;
        assert!(check_property(&credit, Some(&read_only)).is_ok());
    }
}
