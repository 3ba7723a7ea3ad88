//! Company property definitions and groups: HubSpot's built-ins, custom ones created through the
//! API, and the checking of a written value against its property's type.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{ApiError, ErrorDetail};
use crate::objects::ObjectKind;
use crate::time::iso_millis;

/// The data type of a property (`type` in HubSpot's schema).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PropertyType {
    Bool,
    Date,
    Datetime,
    Enumeration,
    Number,
    PhoneNumber,
    String,
}

const FIELD_TYPES: [&str; 12] = [
    "booleancheckbox",
    "calculation_equation",
    "checkbox",
    "date",
    "file",
    "html",
    "number",
    "phonenumber",
    "radio",
    "select",
    "text",
    "textarea",
];

/// One choice of an enumeration property.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyOption {
    pub label: String,
    pub value: String,
    #[serde(default)]
    pub hidden: bool,
    #[serde(default)]
    pub display_order: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A company property as HubSpot describes it.
#[derive(Clone, Debug)]
pub struct PropertyDefinition {
    pub name: String,
    pub label: String,
    pub property_type: PropertyType,
    pub field_type: String,
    pub group_name: String,
    pub description: String,
    pub options: Vec<PropertyOption>,
    pub has_unique_value: bool,
    pub display_order: i32,
    pub hidden: bool,
    pub form_field: bool,
    /// Defined by HubSpot: cannot be deleted, always exists.
    pub hubspot_defined: bool,
    /// Computed by HubSpot (id, timestamps): writes are refused.
    pub read_only_value: bool,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl PropertyDefinition {
    /// The `Property` schema of the properties API.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "label": self.label,
            "type": self.property_type,
            "fieldType": self.field_type,
            "groupName": self.group_name,
            "description": self.description,
            "options": self.options,
            "hasUniqueValue": self.has_unique_value,
            "displayOrder": self.display_order,
            "hidden": self.hidden,
            "formField": self.form_field,
            "hubspotDefined": self.hubspot_defined,
            "calculated": false,
            "externalOptions": false,
            "archived": false,
            "createdAt": iso_millis(self.created_at_ms),
            "updatedAt": iso_millis(self.updated_at_ms),
            "modificationMetadata": {
                "archivable": !self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only_value,
            },
        })
    }

    /// Checks a written value against the property's type; the empty string (clear) always passes.
    pub fn check_value(&self, value: &str) -> Result<(), ErrorDetail> {
        if self.read_only_value {
            return Err(ErrorDetail::property(
                format!(
                    "\"{}\" is a read only property; its value cannot be set.",
                    self.name
                ),
                "READ_ONLY_VALUE",
                &self.name,
            ));
        }
        if value.is_empty() {
            return Ok(());
        }
        let valid = match self.property_type {
            PropertyType::String | PropertyType::PhoneNumber => value.len() <= 65_536,
            PropertyType::Number => value.trim().parse::<f64>().is_ok_and(f64::is_finite),
            PropertyType::Bool => value == "true" || value == "false",
            PropertyType::Enumeration => {
                let mut chosen = value.split(';');
                if self.field_type == "checkbox" {
                    chosen.all(|choice| self.options.iter().any(|o| o.value == choice))
                } else {
                    self.options.iter().any(|o| o.value == value)
                }
            }
            PropertyType::Date | PropertyType::Datetime => is_date_value(value),
        };
        if valid {
            Ok(())
        } else {
            let (code, kind) = match self.property_type {
                PropertyType::Number => ("INVALID_INTEGER", "number"),
                PropertyType::Bool => ("INVALID_BOOLEAN", "boolean"),
                PropertyType::Enumeration => ("INVALID_OPTION", "option"),
                PropertyType::Date | PropertyType::Datetime => ("INVALID_DATE", "date"),
                PropertyType::String | PropertyType::PhoneNumber => ("INVALID_STRING", "string"),
            };
            Err(ErrorDetail::property(
                format!(
                    "{value:?} was not a valid {kind} value for property {:?}",
                    self.name
                ),
                code,
                &self.name,
            ))
        }
    }

    /// Whether values compare as numbers (sorting, LT/GT filters).
    pub fn is_numeric(&self) -> bool {
        matches!(
            self.property_type,
            PropertyType::Number | PropertyType::Date | PropertyType::Datetime
        )
    }
}

fn is_date_value(value: &str) -> bool {
    value.parse::<i64>().is_ok()
        || chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok()
        || chrono::DateTime::parse_from_rfc3339(value).is_ok()
}

/// The error HubSpot answers when a write names properties that do not exist or values that do
/// not fit: 400 VALIDATION_ERROR, "Property values were not valid: [...]".
pub fn invalid_property_values(details: Vec<ErrorDetail>) -> ApiError {
    let listed: Vec<Value> = details
        .iter()
        .map(|detail| {
            json!({
                "isValid": false,
                "message": detail.message,
                "error": detail.code,
                "name": detail.location,
            })
        })
        .collect();
    let names: Vec<String> = details.iter().filter_map(|d| d.location.clone()).collect();
    ApiError::validation(format!(
        "Property values were not valid: {}",
        Value::Array(listed)
    ))
    .with_context("propertyName", names)
    .with_errors(details)
}

/// The error detail for a property name that has no definition.
pub fn unknown_property(name: &str) -> ErrorDetail {
    ErrorDetail::property(
        format!("Property \"{name}\" does not exist"),
        "PROPERTY_DOESNT_EXIST",
        name,
    )
}

/// A property group.
#[derive(Clone, Debug)]
pub struct PropertyGroup {
    pub name: String,
    pub label: String,
    pub display_order: i32,
}

impl PropertyGroup {
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "label": self.label,
            "displayOrder": self.display_order,
            "archived": false,
        })
    }
}

/// Body of `POST /crm/v3/properties/companies`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyCreate {
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub property_type: PropertyType,
    pub field_type: String,
    pub group_name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub options: Vec<PropertyOption>,
    #[serde(default)]
    pub has_unique_value: bool,
    #[serde(default)]
    pub display_order: Option<i32>,
    #[serde(default)]
    pub hidden: bool,
    #[serde(default)]
    pub form_field: bool,
}

/// Body of `PATCH /crm/v3/properties/companies/{name}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyUpdate {
    pub label: Option<String>,
    #[serde(rename = "type")]
    pub property_type: Option<PropertyType>,
    pub field_type: Option<String>,
    pub group_name: Option<String>,
    pub description: Option<String>,
    pub options: Option<Vec<PropertyOption>>,
    pub has_unique_value: Option<bool>,
    pub display_order: Option<i32>,
    pub hidden: Option<bool>,
    pub form_field: Option<bool>,
}

/// Body of `POST /crm/v3/properties/companies/groups`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyGroupCreate {
    pub name: String,
    pub label: String,
    #[serde(default)]
    pub display_order: Option<i32>,
}

/// Body of `PATCH /crm/v3/properties/companies/groups/{name}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyGroupUpdate {
    pub label: Option<String>,
    pub display_order: Option<i32>,
}

/// Names HubSpot accepts for a custom property or group: lower case, digits, underscores.
pub fn check_internal_name(name: &str) -> Result<(), ApiError> {
    let mut chars = name.chars();
    let starts_well = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if starts_well && rest_ok && name.len() <= 100 {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "Invalid name {name:?}: names must start with a lower-case letter and contain only lower-case letters, digits and underscores"
        )))
    }
}

pub fn check_field_type(field_type: &str) -> Result<(), ApiError> {
    if FIELD_TYPES.contains(&field_type) {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "Invalid fieldType {field_type:?}; expected one of {}",
            FIELD_TYPES.join(", ")
        )))
    }
}

/// Property names computed by HubSpot for every record.
pub const OBJECT_ID: &str = "hs_object_id";
pub const CREATE_DATE: &str = "createdate";
/// Engagements (notes) return their creation time under this name by default.
pub const ENGAGEMENT_CREATE_DATE: &str = "hs_createdate";
pub const LAST_MODIFIED: &str = "hs_lastmodifieddate";
/// Contacts keep their last change time under the old name.
pub const CONTACT_LAST_MODIFIED: &str = "lastmodifieddate";

/// HubSpot's built-in groups of an object type.
/// The property group of a custom object type's built-in properties until it is defined.
pub const CUSTOM_GROUP: &str = "object_information";

pub fn default_groups(kind: ObjectKind) -> BTreeMap<String, PropertyGroup> {
    let groups: &[(&str, &str, i32)] = match kind {
        ObjectKind::Companies => &[
            ("companyinformation", "Company information", 0),
            ("company_activity", "Company activity", 1),
            ("analyticsinformation", "Web analytics history", 2),
        ],
        ObjectKind::Contacts => &[
            ("contactinformation", "Contact information", 0),
            ("contact_activity", "Contact activity", 1),
            ("emailinformation", "Email information", 2),
        ],
        ObjectKind::Deals => &[
            ("dealinformation", "Deal information", 0),
            ("deal_activity", "Deal activity", 1),
        ],
        ObjectKind::Notes | ObjectKind::Calls => &[("engagement", "Engagement information", 0)],
        ObjectKind::Tickets => &[
            ("ticketinformation", "Ticket information", 0),
            ("ticket_activity", "Ticket activity", 1),
        ],
        // Renamed `<name>_information` when the portal defines the type (`Store::define`).
        ObjectKind::Custom(_) => &[(CUSTOM_GROUP, "Object information", 0)],
    };
    groups
        .iter()
        .copied()
        .map(|(name, label, display_order)| {
            (
                name.to_owned(),
                PropertyGroup {
                    name: name.to_owned(),
                    label: label.to_owned(),
                    display_order,
                },
            )
        })
        .collect()
}

/// HubSpot's built-in properties of an object type (a subset large enough for real
/// integrations), the computed ones read-only.
pub fn default_properties(kind: ObjectKind, now_ms: i64) -> BTreeMap<String, PropertyDefinition> {
    let mut definitions = match kind {
        ObjectKind::Companies => company_properties(now_ms),
        ObjectKind::Contacts => contact_properties(now_ms),
        ObjectKind::Deals => deal_properties(now_ms),
        ObjectKind::Notes => note_properties(now_ms),
        ObjectKind::Calls => call_properties(now_ms),
        ObjectKind::Tickets => ticket_properties(now_ms),
        ObjectKind::Custom(_) => vec![plain(
            "hubspot_owner_id",
            "Owner",
            PropertyType::Enumeration,
            "select",
            CUSTOM_GROUP,
            now_ms,
        )],
    };
    let group = match kind {
        ObjectKind::Companies => "companyinformation",
        ObjectKind::Contacts => "contactinformation",
        ObjectKind::Deals => "dealinformation",
        ObjectKind::Notes | ObjectKind::Calls => "engagement",
        ObjectKind::Tickets => "ticketinformation",
        ObjectKind::Custom(_) => CUSTOM_GROUP,
    };
    let mut object_id = plain(
        OBJECT_ID,
        "Record ID",
        PropertyType::Number,
        "number",
        group,
        now_ms,
    );
    object_id.read_only_value = true;
    object_id.has_unique_value = true;
    let mut create_date = plain(
        CREATE_DATE,
        "Create Date",
        PropertyType::Datetime,
        "date",
        group,
        now_ms,
    );
    create_date.read_only_value = true;
    let mut last_modified = plain(
        kind.last_modified_property(),
        "Last Modified Date",
        PropertyType::Datetime,
        "date",
        group,
        now_ms,
    );
    last_modified.read_only_value = true;
    definitions.extend([object_id, create_date, last_modified]);
    definitions
        .into_iter()
        .map(|definition| (definition.name.clone(), definition))
        .collect()
}

/// A HubSpot-defined property with no options.
fn plain(
    name: &str,
    label: &str,
    property_type: PropertyType,
    field_type: &str,
    group: &str,
    now_ms: i64,
) -> PropertyDefinition {
    PropertyDefinition {
        name: name.to_owned(),
        label: label.to_owned(),
        property_type,
        field_type: field_type.to_owned(),
        group_name: group.to_owned(),
        description: String::new(),
        options: Vec::new(),
        has_unique_value: false,
        display_order: -1,
        hidden: false,
        form_field: false,
        hubspot_defined: true,
        read_only_value: false,
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
    }
}

fn options(values: &[&str]) -> Vec<PropertyOption> {
    values
        .iter()
        .enumerate()
        .map(|(index, value)| PropertyOption {
            label: (*value).to_owned(),
            value: (*value).to_owned(),
            hidden: false,
            display_order: i32::try_from(index).unwrap_or(i32::MAX),
            description: None,
        })
        .collect()
}

fn lifecycle_stage(group: &str, now_ms: i64) -> PropertyDefinition {
    let mut lifecycle = plain(
        "lifecyclestage",
        "Lifecycle stage",
        PropertyType::Enumeration,
        "radio",
        group,
        now_ms,
    );
    lifecycle.options = options(&[
        "subscriber",
        "lead",
        "marketingqualifiedlead",
        "salesqualifiedlead",
        "opportunity",
        "customer",
        "evangelist",
        "other",
    ]);
    lifecycle
}

fn company_properties(now_ms: i64) -> Vec<PropertyDefinition> {
    use PropertyType as T;
    let plain = |name: &str, label: &str, property_type: T, field_type: &str| {
        plain(
            name,
            label,
            property_type,
            field_type,
            "companyinformation",
            now_ms,
        )
    };
    let mut company_type = plain("type", "Type", T::Enumeration, "select");
    company_type.options = options(&["PROSPECT", "PARTNER", "RESELLER", "VENDOR", "OTHER"]);
    let mut definitions = vec![
        plain("name", "Company name", T::String, "text"),
        plain("domain", "Company domain name", T::String, "text"),
        plain("website", "Website URL", T::String, "text"),
        plain("phone", "Phone number", T::String, "phonenumber"),
        plain("address", "Street address", T::String, "text"),
        plain("address2", "Street address 2", T::String, "text"),
        plain("city", "City", T::String, "text"),
        plain("state", "State/Region", T::String, "text"),
        plain("zip", "Postal code", T::String, "text"),
        plain("country", "Country/Region", T::String, "text"),
        plain("industry", "Industry", T::String, "text"),
        plain("description", "Description", T::String, "textarea"),
        plain("timezone", "Time zone", T::String, "text"),
        plain("hubspot_owner_id", "Company owner", T::String, "text"),
        plain(
            "linkedin_company_page",
            "LinkedIn company page",
            T::String,
            "text",
        ),
        plain(
            "numberofemployees",
            "Number of employees",
            T::Number,
            "number",
        ),
        plain("annualrevenue", "Annual revenue", T::Number, "number"),
        plain("is_public", "Is public", T::Bool, "booleancheckbox"),
        plain("founded_year", "Year founded", T::String, "text"),
        plain(
            "notes_last_updated",
            "Last activity date",
            T::Datetime,
            "date",
        ),
    ];
    definitions.extend([lifecycle_stage("companyinformation", now_ms), company_type]);
    definitions
}

fn contact_properties(now_ms: i64) -> Vec<PropertyDefinition> {
    use PropertyType as T;
    let plain = |name: &str, label: &str, property_type: T, field_type: &str| {
        plain(
            name,
            label,
            property_type,
            field_type,
            "contactinformation",
            now_ms,
        )
    };
    vec![
        plain("email", "Email", T::String, "text"),
        plain("firstname", "First Name", T::String, "text"),
        plain("lastname", "Last Name", T::String, "text"),
        plain("phone", "Phone Number", T::String, "phonenumber"),
        plain(
            "mobilephone",
            "Mobile Phone Number",
            T::String,
            "phonenumber",
        ),
        plain("jobtitle", "Job Title", T::String, "text"),
        plain("company", "Company Name", T::String, "text"),
        plain("website", "Website URL", T::String, "text"),
        plain("city", "City", T::String, "text"),
        plain("country", "Country/Region", T::String, "text"),
        plain("hubspot_owner_id", "Contact owner", T::String, "text"),
        plain(
            "associatedcompanyid",
            "Primary Associated Company ID",
            T::Number,
            "number",
        ),
        lifecycle_stage("contactinformation", now_ms),
        PropertyDefinition {
            read_only_value: true,
            ..plain(
                "hs_merged_object_ids",
                "Merged Contact IDs",
                T::Enumeration,
                "checkbox",
            )
        },
    ]
}

/// A deal's stage and pipeline are enumerations whose options are the portal's pipelines
/// (checked against them on write, see `pipelines`), so they are plain text here.
fn deal_properties(now_ms: i64) -> Vec<PropertyDefinition> {
    use PropertyType as T;
    let plain = |name: &str, label: &str, property_type: T, field_type: &str| {
        plain(
            name,
            label,
            property_type,
            field_type,
            "dealinformation",
            now_ms,
        )
    };
    let mut deal_type = plain("dealtype", "Deal Type", T::Enumeration, "radio");
    deal_type.options = options(&["newbusiness", "existingbusiness"]);
    let read_only = |definition: PropertyDefinition| PropertyDefinition {
        read_only_value: true,
        ..definition
    };
    vec![
        plain("dealname", "Deal Name", T::String, "text"),
        plain("amount", "Amount", T::Number, "number"),
        plain("deal_currency_code", "Currency", T::String, "text"),
        plain("pipeline", "Pipeline", T::String, "select"),
        plain("dealstage", "Deal Stage", T::String, "radio"),
        plain("closedate", "Close Date", T::Datetime, "date"),
        plain("hubspot_owner_id", "Deal owner", T::String, "text"),
        plain("description", "Deal Description", T::String, "textarea"),
        deal_type,
        read_only(plain(
            "hs_deal_stage_probability",
            "Deal probability",
            T::Number,
            "number",
        )),
        read_only(plain(
            "hs_is_closed_won",
            "Is Closed Won",
            T::Bool,
            "booleancheckbox",
        )),
        read_only(plain(
            "hs_merged_object_ids",
            "Merged Deal IDs",
            T::Enumeration,
            "checkbox",
        )),
    ]
}

/// A call's built-in properties: what a telephony integration writes; the direction and the
/// status are enumerations of HubSpot's values.
fn call_properties(now_ms: i64) -> Vec<PropertyDefinition> {
    use PropertyType as T;
    let plain = |name: &str, label: &str, property_type: T, field_type: &str| {
        plain(name, label, property_type, field_type, "engagement", now_ms)
    };
    let mut direction = plain(
        "hs_call_direction",
        "Call direction",
        T::Enumeration,
        "select",
    );
    direction.options = options(&["INBOUND", "OUTBOUND"]);
    let mut status = plain("hs_call_status", "Call status", T::Enumeration, "select");
    status.options = options(&[
        "BUSY",
        "CALLING_CRM_USER",
        "CANCELED",
        "COMPLETED",
        "CONNECTING",
        "FAILED",
        "IN_PROGRESS",
        "NO_ANSWER",
        "QUEUED",
        "RINGING",
    ]);
    vec![
        direction,
        status,
        // Required on create (see `ObjectKind::required_on_create`); ms epoch or ISO 8601.
        plain("hs_timestamp", "Activity date", T::Datetime, "date"),
        plain("hs_call_title", "Call title", T::String, "text"),
        plain("hs_call_body", "Call notes", T::String, "html"),
        plain("hs_call_duration", "Call duration", T::Number, "number"),
        plain("hs_call_from_number", "From number", T::String, "text"),
        plain("hs_call_to_number", "To number", T::String, "text"),
        plain("hs_call_recording_url", "Recording URL", T::String, "text"),
        plain("hs_call_disposition", "Call outcome", T::String, "text"),
        plain(
            "hubspot_owner_id",
            "Activity assigned to",
            T::String,
            "text",
        ),
        PropertyDefinition {
            read_only_value: true,
            ..plain(ENGAGEMENT_CREATE_DATE, "Create date", T::Datetime, "date")
        },
    ]
}

/// A ticket's built-in properties. Its pipeline and stage are enumerations whose options are
/// the portal's ticket pipelines (checked on write, see `pipelines`), so they are plain text
/// here, like a deal's; `closed_date` is HubSpot's, set when the stage closes the ticket.
fn ticket_properties(now_ms: i64) -> Vec<PropertyDefinition> {
    use PropertyType as T;
    let plain = |name: &str, label: &str, property_type: T, field_type: &str| {
        plain(
            name,
            label,
            property_type,
            field_type,
            "ticketinformation",
            now_ms,
        )
    };
    let mut priority = plain("hs_ticket_priority", "Priority", T::Enumeration, "select");
    priority.options = options(&["LOW", "MEDIUM", "HIGH", "URGENT"]);
    let mut category = plain("hs_ticket_category", "Category", T::Enumeration, "checkbox");
    category.options = options(&[
        "PRODUCT_ISSUE",
        "BILLING_ISSUE",
        "FEATURE_REQUEST",
        "GENERAL_INQUIRY",
    ]);
    vec![
        priority,
        category,
        plain("subject", "Ticket name", T::String, "text"),
        plain("content", "Ticket description", T::String, "textarea"),
        plain("hs_pipeline", "Pipeline", T::String, "select"),
        plain("hs_pipeline_stage", "Ticket status", T::String, "select"),
        plain("source_type", "Source", T::String, "select"),
        plain("hubspot_owner_id", "Ticket owner", T::String, "text"),
        PropertyDefinition {
            read_only_value: true,
            ..plain("closed_date", "Close date", T::Datetime, "date")
        },
    ]
}

/// A note's built-in properties; its creation time is computed under both names HubSpot
/// serves (`hs_createdate`, and `createdate` added with the other computed ones).
fn note_properties(now_ms: i64) -> Vec<PropertyDefinition> {
    use PropertyType as T;
    let plain = |name: &str, label: &str, property_type: T, field_type: &str| {
        plain(name, label, property_type, field_type, "engagement", now_ms)
    };
    vec![
        // Required on create (see `ObjectKind::required_on_create`); ms epoch or ISO 8601.
        plain("hs_timestamp", "Activity date", T::Datetime, "date"),
        plain("hs_note_body", "Note body", T::String, "html"),
        plain(
            "hubspot_owner_id",
            "Activity assigned to",
            T::String,
            "text",
        ),
        // HubSpot's are options of the portal's files; the sandbox holds no files, so any
        // `;`-separated ids are taken.
        plain("hs_attachment_ids", "Attached file IDs", T::String, "text"),
        PropertyDefinition {
            read_only_value: true,
            ..plain(ENGAGEMENT_CREATE_DATE, "Create date", T::Datetime, "date")
        },
    ]
}
