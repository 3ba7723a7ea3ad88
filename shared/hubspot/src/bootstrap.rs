//! Creates the `warp` property group and the `warp_*` properties of DESIGN.md §3 (companies)
//! and §7 (contacts), idempotently: what exists is left alone (and checked), a 409 from a racing bootstrap counts
//! as existing, and the report says what was created and what was already there.

use crate::client::HubSpotClient;
use crate::error::HubSpotError;
use crate::properties::{
    FieldType, Property, PropertyCreate, PropertyGroupCreate, PropertyOption, PropertyType,
};
use std::collections::BTreeMap;
use warp_domain::sync::CrmObject;

pub const WARP_PROPERTY_GROUP: &str = "warp";
pub const WARP_PROPERTY_GROUP_LABEL: &str = "WARP";
/// The unique property creates are upserted on.
pub const WARP_BAN_PROPERTY: &str = "warp_ban";
/// The unique property contacts are upserted on once linked.
pub const WARP_USER_ID_PROPERTY: &str = "warp_user_id";
/// The unique key of a note WARP writes, so a retried write never doubles it.
pub const WARP_EVENT_ID_PROPERTY: &str = "warp_event_id";
/// The unique key of a call WARP logs: the platform's call id.
pub const WARP_CALL_ID_PROPERTY: &str = "warp_call_id";
/// The unique key of a ticket WARP opens: its id in WARP.
pub const WARP_TICKET_ID_PROPERTY: &str = "warp_ticket_id";

/// The object types WARP adds properties to: the two it syncs, deals (onboarding writes the
/// customer's BAN on a won deal), notes and calls (their unique keys), and tickets (seed 002's
/// support properties).
pub const OBJECTS_WITH_WARP_PROPERTIES: [CrmObject; 6] = [
    CrmObject::Companies,
    CrmObject::Contacts,
    CrmObject::Deals,
    CrmObject::Notes,
    CrmObject::Calls,
    CrmObject::Tickets,
];

/// What one bootstrap run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BootstrapReport {
    pub group_created: bool,
    /// Property names created by this run; a contact property is named `contacts.<name>`.
    pub created: Vec<String>,
    /// Property names that existed before (or were created by a concurrent run).
    pub already_existing: Vec<String>,
    /// Existing properties whose definition differs from ours in a way that matters
    /// (type, or `hasUniqueValue` on `warp_ban`, which HubSpot never lets us change later).
    pub mismatched: Vec<String>,
}

impl BootstrapReport {
    /// True when the run changed nothing in HubSpot.
    pub fn created_nothing(&self) -> bool {
        !self.group_created && self.created.is_empty()
    }
}

/// The `warp_*` company properties, in display order.
pub fn warp_property_definitions() -> Vec<PropertyCreate> {
    property_definitions(CrmObject::Companies)
}

/// The `warp_*` properties of `object_type`, in display order. A contact's email, names, phone
/// and job title are HubSpot's own properties; only what WARP alone knows is added.
pub fn property_definitions(object_type: impl Into<CrmObject>) -> Vec<PropertyCreate> {
    let mut definitions = match object_type.into() {
        CrmObject::Companies => company_definitions(),
        // Not unique: every deal of a customer carries its BAN.
        CrmObject::Deals => vec![PropertyCreate {
            description: Some(
                "The WARP billing account this deal opened or belongs to; written by WARP."
                    .to_owned(),
            ),
            ..define(
                WARP_BAN_PROPERTY,
                "WARP BAN",
                PropertyType::String,
                FieldType::Text,
                Vec::new(),
            )
        }],
        CrmObject::Notes => vec![PropertyCreate {
            has_unique_value: Some(true),
            description: Some("WARP event id; written by WARP, never edit.".to_owned()),
            ..define(
                WARP_EVENT_ID_PROPERTY,
                "WARP event id",
                PropertyType::String,
                FieldType::Text,
                Vec::new(),
            )
        }],
        CrmObject::Calls => vec![PropertyCreate {
            has_unique_value: Some(true),
            description: Some("The platform's call id; written by WARP, never edit.".to_owned()),
            ..define(
                WARP_CALL_ID_PROPERTY,
                "WARP call id",
                PropertyType::String,
                FieldType::Text,
                Vec::new(),
            )
        }],
        CrmObject::Tickets => ticket_definitions(),
        // A custom object's properties come with its schema (`schemas.rs`).
        CrmObject::Custom(_) => Vec::new(),
        CrmObject::Contacts => vec![
            PropertyCreate {
                has_unique_value: Some(true),
                description: Some("WARP user id; written by WARP, never edit.".to_owned()),
                ..define(
                    WARP_USER_ID_PROPERTY,
                    "WARP user id",
                    PropertyType::String,
                    FieldType::Text,
                    Vec::new(),
                )
            },
            define(
                "warp_role",
                "WARP role",
                PropertyType::Enumeration,
                FieldType::Select,
                options(&[
                    ("Admin", "admin"),
                    ("Developer", "developer"),
                    ("Billing", "billing"),
                    ("Read-only", "readonly"),
                ]),
            ),
            define(
                "warp_2fa_enabled",
                "WARP 2FA enabled",
                PropertyType::Bool,
                FieldType::Booleancheckbox,
                yes_no(),
            ),
            define(
                "warp_api_key_count",
                "WARP API keys",
                PropertyType::Number,
                FieldType::Number,
                Vec::new(),
            ),
            define(
                "warp_last_api_call",
                "WARP last API call",
                PropertyType::Datetime,
                FieldType::Date,
                Vec::new(),
            ),
            define(
                "warp_last_login",
                "WARP last login",
                PropertyType::Datetime,
                FieldType::Date,
                Vec::new(),
            ),
        ],
    };
    for (order, definition) in definitions.iter_mut().enumerate() {
        definition.display_order = Some(order as i32);
    }
    definitions
}

/// Options with their labels, in display order.
fn options(values: &[(&str, &str)]) -> Vec<PropertyOption> {
    values
        .iter()
        .enumerate()
        .map(|(i, (label, value))| PropertyOption::new(*label, *value, i as i32))
        .collect()
}

fn yes_no() -> Vec<PropertyOption> {
    options(&[("Yes", "true"), ("No", "false")])
}

/// A property in the `warp` group.
fn define(
    name: &str,
    label: &str,
    property_type: PropertyType,
    field_type: FieldType,
    options: Vec<PropertyOption>,
) -> PropertyCreate {
    PropertyCreate {
        name: name.to_owned(),
        label: label.to_owned(),
        property_type,
        field_type,
        group_name: WARP_PROPERTY_GROUP.to_owned(),
        description: None,
        options,
        has_unique_value: None,
        display_order: None,
    }
}

/// Seed 002's ticket properties, and the unique id a retried write upserts on.
fn ticket_definitions() -> Vec<PropertyCreate> {
    let text = |name: &str, label: &str| {
        define(
            name,
            label,
            PropertyType::String,
            FieldType::Text,
            Vec::new(),
        )
    };
    vec![
        PropertyCreate {
            has_unique_value: Some(true),
            description: Some("WARP ticket id; written by WARP, never edit.".to_owned()),
            ..text(WARP_TICKET_ID_PROPERTY, "WARP ticket id")
        },
        define(
            "warp_issue_type",
            "WARP issue type",
            PropertyType::Enumeration,
            FieldType::Select,
            options(&[
                ("Voice", "voice"),
                ("SMS", "sms"),
                ("Billing", "billing"),
                ("API", "api"),
                ("Portal", "portal"),
            ]),
        ),
        text("warp_trunk_id", "WARP trunk"),
        text("warp_call_id", "WARP call id"),
        define(
            "warp_severity",
            "WARP severity",
            PropertyType::Enumeration,
            FieldType::Select,
            options(&[
                ("Critical", "critical"),
                ("High", "high"),
                ("Medium", "medium"),
                ("Low", "low"),
            ]),
        ),
        define(
            "warp_sla_breach",
            "WARP SLA breach",
            PropertyType::Datetime,
            FieldType::Date,
            Vec::new(),
        ),
        define(
            "warp_technical_details",
            "WARP technical details",
            PropertyType::String,
            FieldType::Textarea,
            Vec::new(),
        ),
    ]
}

fn company_definitions() -> Vec<PropertyCreate> {
    use warp_domain::service_objects as service;
    let service_properties = [
        (
            service::TRUNK_COUNT_PROPERTY,
            "WARP SIP trunks in service",
            PropertyType::Number,
            FieldType::Number,
        ),
        (
            service::NUMBER_COUNT_PROPERTY,
            "WARP phone numbers in service",
            PropertyType::Number,
            FieldType::Number,
        ),
        (
            service::TRUNK_LIST_PROPERTY,
            "WARP SIP trunks",
            PropertyType::String,
            FieldType::Textarea,
        ),
        (
            service::NUMBER_LIST_PROPERTY,
            "WARP phone numbers",
            PropertyType::String,
            FieldType::Textarea,
        ),
    ]
    .map(|(name, label, property_type, field_type)| PropertyCreate {
        description: Some(
            "Written by WARP where the portal has no custom objects; never edit.".to_owned(),
        ),
        ..define(name, label, property_type, field_type, Vec::new())
    });
    let mut definitions = vec![
        PropertyCreate {
            has_unique_value: Some(true),
            description: Some(
                "WARP billing account number; written by WARP, never edit.".to_owned(),
            ),
            ..define(
                WARP_BAN_PROPERTY,
                "WARP BAN",
                PropertyType::String,
                FieldType::Text,
                Vec::new(),
            )
        },
        define(
            "warp_status",
            "WARP status",
            PropertyType::Enumeration,
            FieldType::Select,
            options(&[
                ("Active", "ACTIVE"),
                ("Suspended", "SUSPENDED"),
                ("Closed", "CLOSED"),
            ]),
        ),
        define(
            "warp_customer_type",
            "WARP customer type",
            PropertyType::Enumeration,
            FieldType::Select,
            options(&[
                ("Prepaid", "PREPAID"),
                ("Postpaid", "POSTPAID"),
                ("Reseller", "RESELLER"),
            ]),
        ),
        define(
            "warp_credit_limit",
            "WARP credit limit",
            PropertyType::Number,
            FieldType::Number,
            Vec::new(),
        ),
        define(
            "warp_current_balance",
            "WARP current balance",
            PropertyType::Number,
            FieldType::Number,
            Vec::new(),
        ),
        define(
            "warp_services_voice",
            "WARP voice service",
            PropertyType::Bool,
            FieldType::Booleancheckbox,
            yes_no(),
        ),
        define(
            "warp_services_messaging",
            "WARP messaging service",
            PropertyType::Bool,
            FieldType::Booleancheckbox,
            yes_no(),
        ),
        define(
            "warp_services_data",
            "WARP data service",
            PropertyType::Bool,
            FieldType::Booleancheckbox,
            yes_no(),
        ),
        define(
            "warp_billing_email",
            "WARP billing email",
            PropertyType::String,
            FieldType::Text,
            Vec::new(),
        ),
    ];
    definitions.extend(service_properties);
    definitions.extend(usage_definitions());
    definitions
}

/// The daily usage push's company properties (issue 22).
fn usage_definitions() -> Vec<PropertyCreate> {
    use warp_domain::usage::{self, PaymentStatus};
    let written = |definition: PropertyCreate| PropertyCreate {
        description: Some("Written by WARP's daily usage push; never edit.".to_owned()),
        ..definition
    };
    let number = |name: &str, label: &str| {
        written(define(
            name,
            label,
            PropertyType::Number,
            FieldType::Number,
            Vec::new(),
        ))
    };
    let statuses: Vec<(&str, &str)> = PaymentStatus::ALL
        .iter()
        .map(|status| match status {
            PaymentStatus::Paid => ("Paid", status.as_str()),
            PaymentStatus::BalanceDue => ("Balance due", status.as_str()),
            PaymentStatus::OverLimit => ("Over credit limit", status.as_str()),
        })
        .collect();
    vec![
        number(usage::MTD_MINUTES_PROPERTY, "WARP minutes this month"),
        number(usage::MTD_SPEND_PROPERTY, "WARP spend this month"),
        number(usage::MRR_PROPERTY, "WARP MRR"),
        written(define(
            usage::PAYMENT_STATUS_PROPERTY,
            "WARP payment status",
            PropertyType::Enumeration,
            FieldType::Select,
            options(&statuses),
        )),
        written(define(
            usage::LAST_USAGE_DATE_PROPERTY,
            "WARP last usage date",
            PropertyType::Date,
            FieldType::Date,
            Vec::new(),
        )),
    ]
}

/// Ensures the `warp` group and every `warp_*` property exist, on companies and on contacts.
/// Two reads per object type when all exist; otherwise one create per missing item.
pub async fn ensure_warp_properties(
    client: &HubSpotClient,
) -> Result<BootstrapReport, HubSpotError> {
    let mut report = BootstrapReport::default();
    for object_type in OBJECTS_WITH_WARP_PROPERTIES {
        ensure_object_properties(client, object_type, &mut report).await?;
    }
    tracing::info!(
        group_created = report.group_created,
        created = report.created.len(),
        already_existing = report.already_existing.len(),
        mismatched = report.mismatched.len(),
        "WARP properties ensured in HubSpot"
    );
    Ok(report)
}

async fn ensure_object_properties(
    client: &HubSpotClient,
    object_type: CrmObject,
    report: &mut BootstrapReport,
) -> Result<(), HubSpotError> {
    let objects = client.objects(object_type);
    let named = |name: String| match object_type {
        CrmObject::Companies => name,
        other => format!("{other}.{name}"),
    };
    if objects
        .get_property_group(WARP_PROPERTY_GROUP)
        .await?
        .is_none()
    {
        let group = PropertyGroupCreate {
            name: WARP_PROPERTY_GROUP.to_owned(),
            label: WARP_PROPERTY_GROUP_LABEL.to_owned(),
            display_order: Some(-1),
        };
        match objects.create_property_group(&group).await {
            Ok(_) => report.group_created = true,
            Err(HubSpotError::Conflict { .. }) => {}
            Err(other) => return Err(other),
        }
    }
    let existing: BTreeMap<String, Property> = objects
        .list_properties()
        .await?
        .into_iter()
        .map(|p| (p.name.clone(), p))
        .collect();
    for definition in property_definitions(object_type) {
        if let Some(property) = existing.get(&definition.name) {
            if let Some(reason) = mismatch(&definition, property) {
                tracing::warn!(%object_type, property = %definition.name, reason, "HubSpot property differs from WARP's definition");
                report.mismatched.push(named(definition.name.clone()));
            }
            report.already_existing.push(named(definition.name));
            continue;
        }
        match objects.create_property(&definition).await {
            Ok(_) => report.created.push(named(definition.name)),
            Err(HubSpotError::Conflict { .. }) => {
                report.already_existing.push(named(definition.name))
            }
            Err(other) => return Err(other),
        }
    }
    Ok(())
}

/// Why an existing property cannot serve as ours, if it cannot.
fn mismatch(wanted: &PropertyCreate, found: &Property) -> Option<&'static str> {
    let wanted_type = serde_json::to_value(wanted.property_type).ok()?;
    if wanted_type.as_str() != Some(found.property_type.as_str()) {
        return Some("type differs");
    }
    if wanted.has_unique_value == Some(true) && !found.has_unique_value {
        return Some("hasUniqueValue is false: upserts by this property will fail");
    }
    let missing_option = wanted.options.iter().any(|option| {
        !found
            .options
            .iter()
            .any(|present| present.value == option.value)
    });
    missing_option.then_some("an option WARP writes is missing")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defines_the_properties_of_the_design() {
        let definitions = warp_property_definitions();
        let names: Vec<&str> = definitions.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "warp_ban",
                "warp_status",
                "warp_customer_type",
                "warp_credit_limit",
                "warp_current_balance",
                "warp_services_voice",
                "warp_services_messaging",
                "warp_services_data",
                "warp_billing_email",
                "warp_trunk_count",
                "warp_number_count",
                "warp_trunks",
                "warp_numbers",
                "warp_mtd_minutes",
                "warp_mtd_spend",
                "warp_mrr",
                "warp_payment_status",
                "warp_last_usage_date"
            ]
        );
        assert!(
            definitions
                .iter()
                .all(|d| d.group_name == WARP_PROPERTY_GROUP)
        );
        let ban = &definitions[0];
        assert_eq!(ban.has_unique_value, Some(true));
        assert_eq!(ban.property_type, PropertyType::String);
        let status_values: Vec<&str> = definitions[1]
            .options
            .iter()
            .map(|o| o.value.as_str())
            .collect();
        assert_eq!(status_values, ["ACTIVE", "SUSPENDED", "CLOSED"]);
        let voice = &definitions[5];
        assert_eq!(
            (voice.property_type, voice.field_type),
            (PropertyType::Bool, FieldType::Booleancheckbox)
        );
        assert_eq!(
            voice
                .options
                .iter()
                .map(|o| o.value.as_str())
                .collect::<Vec<_>>(),
            ["true", "false"]
        );
        assert!(
            definitions
                .iter()
                .filter(|d| d.name != WARP_BAN_PROPERTY)
                .all(|d| d.has_unique_value.is_none())
        );
    }

    #[test]
    fn spots_existing_properties_that_cannot_serve() {
        let ban = &warp_property_definitions()[0];
        let mut found = Property {
            name: "warp_ban".into(),
            label: "BAN".into(),
            property_type: "string".into(),
            field_type: "text".into(),
            group_name: "warp".into(),
            description: None,
            options: Vec::new(),
            has_unique_value: true,
            hidden: false,
            hubspot_defined: false,
            archived: false,
            calculated: false,
            modification_metadata: None,
        };
        assert_eq!(mismatch(ban, &found), None);
        found.has_unique_value = false;
        assert!(mismatch(ban, &found).is_some());
        found.property_type = "number".into();
        assert_eq!(mismatch(ban, &found), Some("type differs"));
    }
}
