//! Reading create and update bodies from JSON: every field checked, every error collected with
//! its path, unknown fields rejected. A PATCH follows JSON merge-patch (RFC 7396): an absent
//! field is kept, `null` clears an optional field, nested objects merge.

use super::values::bounded_text;
use super::{
    Address, CompanyName, Contact, CreditLimit, CustomerType, Domain, Email, ExternalIds,
    FieldError, Money, NewCustomer, Phone, ServiceFlags, Services, Status,
};
use crate::json_input::{Change, Reader, join, text};
use serde_json::{Map, Value};

/// What an update does to one service's flags.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum FlagsChange {
    #[default]
    Keep,
    /// `null`: back to disabled with no settings.
    Reset,
    /// An object: `enabled` when given, and the other keys merged (`null` removes a key).
    Merge {
        enabled: Option<bool>,
        extra: Map<String, Value>,
    },
}

impl FlagsChange {
    fn apply(&self, current: &ServiceFlags) -> ServiceFlags {
        match self {
            FlagsChange::Keep => current.clone(),
            FlagsChange::Reset => ServiceFlags::default(),
            FlagsChange::Merge { enabled, extra } => {
                let mut flags = current.clone();
                if let Some(enabled) = enabled {
                    flags.enabled = *enabled;
                }
                for (key, value) in extra {
                    if value.is_null() {
                        flags.extra.remove(key);
                    } else {
                        flags.extra.insert(key.clone(), value.clone());
                    }
                }
                flags
            }
        }
    }
}

/// What an update does to the services.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServicesPatch {
    pub voice: FlagsChange,
    pub messaging: FlagsChange,
    pub data: FlagsChange,
}

/// A validated partial update. Required fields can change but not be cleared.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CustomerPatch {
    pub company_name: Option<CompanyName>,
    pub customer_type: Option<CustomerType>,
    pub status: Option<Status>,
    pub credit_limit: Option<CreditLimit>,
    pub current_balance: Option<Money>,
    pub domain: Change<Domain>,
    pub contact_name: Change<String>,
    pub contact_email: Change<Email>,
    pub contact_phone: Change<Phone>,
    pub address_line1: Change<String>,
    pub address_line2: Change<String>,
    pub address_city: Change<String>,
    pub address_region: Change<String>,
    pub address_postal_code: Change<String>,
    pub address_country: Change<String>,
    pub services: ServicesPatch,
    pub hubspot_company_id: Change<String>,
}

impl CustomerPatch {
    /// Parses a merge-patch body. Returns every error found.
    pub fn from_json(value: &Value) -> Result<Self, Vec<FieldError>> {
        let (patch, errors) = parse_patch(value);
        if errors.is_empty() {
            Ok(patch)
        } else {
            Err(errors)
        }
    }

    /// The fields after this update.
    pub fn apply_to(&self, current: &NewCustomer) -> NewCustomer {
        NewCustomer {
            company_name: self
                .company_name
                .clone()
                .unwrap_or_else(|| current.company_name.clone()),
            customer_type: self.customer_type.unwrap_or(current.customer_type),
            status: self.status.unwrap_or(current.status),
            credit_limit: self.credit_limit.unwrap_or(current.credit_limit),
            current_balance: self.current_balance.unwrap_or(current.current_balance),
            domain: self.domain.apply(&current.domain),
            contact: Contact {
                name: self.contact_name.apply(&current.contact.name),
                email: self.contact_email.apply(&current.contact.email),
                phone: self.contact_phone.apply(&current.contact.phone),
            },
            address: Address {
                line1: self.address_line1.apply(&current.address.line1),
                line2: self.address_line2.apply(&current.address.line2),
                city: self.address_city.apply(&current.address.city),
                region: self.address_region.apply(&current.address.region),
                postal_code: self.address_postal_code.apply(&current.address.postal_code),
                country: self.address_country.apply(&current.address.country),
            },
            services: Services {
                voice: self.services.voice.apply(&current.services.voice),
                messaging: self.services.messaging.apply(&current.services.messaging),
                data: self.services.data.apply(&current.services.data),
            },
            external_ids: ExternalIds {
                hubspot_company_id: self
                    .hubspot_company_id
                    .apply(&current.external_ids.hubspot_company_id),
            },
        }
    }
}

const TOP_LEVEL: &[&str] = &[
    "company_name",
    "customer_type",
    "status",
    "credit_limit",
    "current_balance",
    "domain",
    "contact",
    "address",
    "services",
    "external_ids",
];
const READ_ONLY: &[&str] = &[
    "id",
    "ban",
    "version",
    "created_at",
    "updated_at",
    "deleted_at",
];

fn flags(reader: &mut Reader, value: Option<&Value>, path: &str) -> FlagsChange {
    match value {
        None => FlagsChange::Keep,
        Some(Value::Null) => FlagsChange::Reset,
        Some(Value::Object(map)) => {
            let enabled = match map.get("enabled") {
                None => None,
                Some(Value::Bool(on)) => Some(*on),
                Some(_) => {
                    reader.error(join(path, "enabled"), "must be true or false");
                    None
                }
            };
            let extra = map
                .iter()
                .filter(|(key, _)| key.as_str() != "enabled")
                .filter(|(key, value)| {
                    // PostgreSQL cannot store the NUL character; a setting is kept as given,
                    // so one holding it is refused rather than changed.
                    let storable = !crate::storable::has_nul(key) && !holds_nul(value);
                    if !storable {
                        let name = crate::storable::storable(key);
                        reader.error(join(path, &name), "must not contain the NUL character");
                    }
                    storable
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            FlagsChange::Merge { enabled, extra }
        }
        Some(_) => {
            reader.error(path, "must be a JSON object or null");
            FlagsChange::Keep
        }
    }
}

/// Whether a NUL character is anywhere in `value`: a string, a member name or within.
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => crate::storable::has_nul(text),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(members) => members
            .iter()
            .any(|(name, member)| crate::storable::has_nul(name) || holds_nul(member)),
        _ => false,
    }
}

fn company_name(value: &Value) -> Result<CompanyName, String> {
    CompanyName::parse(text(value)?).map_err(|e| e.to_string())
}
fn customer_type(value: &Value) -> Result<CustomerType, String> {
    CustomerType::parse(text(value)?).map_err(|e| e.to_string())
}
fn status(value: &Value) -> Result<Status, String> {
    Status::parse(text(value)?).map_err(|e| e.to_string())
}
fn credit_limit(value: &Value) -> Result<CreditLimit, String> {
    CreditLimit::from_json(value).map_err(|e| e.to_string())
}
fn money(value: &Value) -> Result<Money, String> {
    Money::from_json(value).map_err(|e| e.to_string())
}
fn domain(value: &Value) -> Result<Domain, String> {
    Domain::parse(text(value)?).map_err(|e| e.to_string())
}
fn email(value: &Value) -> Result<Email, String> {
    Email::parse(text(value)?).map_err(|e| e.to_string())
}
fn phone(value: &Value) -> Result<Phone, String> {
    Phone::parse(text(value)?).map_err(|e| e.to_string())
}
fn free_text(value: &Value) -> Result<String, String> {
    bounded_text(text(value)?, 255).map_err(|e| e.to_string())
}
fn hubspot_id(value: &Value) -> Result<String, String> {
    let id = text(value)?;
    if (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(id.to_owned())
    } else {
        Err("must be a HubSpot id: 1 to 32 digits".to_owned())
    }
}

/// Reads a merge-patch body; the patch holds every field that parsed, the list every error.
pub(crate) fn parse_patch(value: &Value) -> (CustomerPatch, Vec<FieldError>) {
    let mut reader = Reader::new(READ_ONLY);
    let mut patch = CustomerPatch::default();
    let Some(map) = reader.object(value, "", TOP_LEVEL) else {
        return (patch, reader.into_errors());
    };
    patch.company_name = reader.required(map, "", "company_name", company_name);
    patch.customer_type = reader.required(map, "", "customer_type", customer_type);
    patch.status = reader.required(map, "", "status", status);
    patch.credit_limit = reader.required(map, "", "credit_limit", credit_limit);
    patch.current_balance = reader.required(map, "", "current_balance", money);
    patch.domain = reader.clearable(map, "", "domain", domain);

    match map.get("contact") {
        None => {}
        Some(Value::Null) => {
            patch.contact_name = Change::Clear;
            patch.contact_email = Change::Clear;
            patch.contact_phone = Change::Clear;
        }
        Some(contact) => {
            if let Some(contact) = reader.object(contact, "contact", &["name", "email", "phone"]) {
                patch.contact_name = reader.clearable(contact, "contact", "name", free_text);
                patch.contact_email = reader.clearable(contact, "contact", "email", email);
                patch.contact_phone = reader.clearable(contact, "contact", "phone", phone);
            }
        }
    }

    const ADDRESS: &[&str] = &["line1", "line2", "city", "region", "postal_code", "country"];
    match map.get("address") {
        None => {}
        Some(Value::Null) => {
            for change in [
                &mut patch.address_line1,
                &mut patch.address_line2,
                &mut patch.address_city,
                &mut patch.address_region,
                &mut patch.address_postal_code,
                &mut patch.address_country,
            ] {
                *change = Change::Clear;
            }
        }
        Some(address) => {
            if let Some(address) = reader.object(address, "address", ADDRESS) {
                patch.address_line1 = reader.clearable(address, "address", "line1", free_text);
                patch.address_line2 = reader.clearable(address, "address", "line2", free_text);
                patch.address_city = reader.clearable(address, "address", "city", free_text);
                patch.address_region = reader.clearable(address, "address", "region", free_text);
                patch.address_postal_code =
                    reader.clearable(address, "address", "postal_code", free_text);
                patch.address_country = reader.clearable(address, "address", "country", free_text);
            }
        }
    }

    match map.get("services") {
        None => {}
        Some(Value::Null) => {
            patch.services = ServicesPatch {
                voice: FlagsChange::Reset,
                messaging: FlagsChange::Reset,
                data: FlagsChange::Reset,
            };
        }
        Some(services) => {
            if let Some(services) =
                reader.object(services, "services", &["voice", "messaging", "data"])
            {
                patch.services.voice = flags(&mut reader, services.get("voice"), "services.voice");
                patch.services.messaging =
                    flags(&mut reader, services.get("messaging"), "services.messaging");
                patch.services.data = flags(&mut reader, services.get("data"), "services.data");
            }
        }
    }

    match map.get("external_ids") {
        None => {}
        Some(Value::Null) => patch.hubspot_company_id = Change::Clear,
        Some(ids) => {
            if let Some(ids) = reader.object(ids, "external_ids", &["hubspot_company_id"]) {
                patch.hubspot_company_id =
                    reader.clearable(ids, "external_ids", "hubspot_company_id", hubspot_id);
            }
        }
    }
    (patch, reader.into_errors())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        let mut names: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        names.sort();
        names
    }

    #[test]
    fn create_needs_name_and_type_and_fills_defaults() {
        let new = NewCustomer::from_json(
            &json!({"company_name": "  Acme  ", "customer_type": "PREPAID"}),
        )
        .unwrap();
        assert_eq!(new.company_name.as_str(), "Acme");
        assert_eq!(new.status, Status::Active);
        assert_eq!(new.credit_limit.to_string(), "0.00");
        let errors = NewCustomer::from_json(&json!({})).unwrap_err();
        assert_eq!(fields(&errors), ["company_name", "customer_type"]);
    }

    #[test]
    fn create_reports_every_field_at_fault() {
        let errors = NewCustomer::from_json(&json!({
            "company_name": "",
            "customer_type": "GOLD",
            "status": "DELETED",
            "credit_limit": "-5",
            "current_balance": true,
            "domain": "not a domain",
            "contact": {"email": "nope", "phone": "0301234", "fax": "1"},
            "address": {"city": 3},
            "services": {"voice": {"enabled": "yes"}, "sms": {}},
            "external_ids": {"hubspot_company_id": "abc"},
            "id": "x",
            "colour": "red"
        }))
        .unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                "address.city",
                "colour",
                "company_name",
                "contact.email",
                "contact.fax",
                "contact.phone",
                "credit_limit",
                "current_balance",
                "customer_type",
                "domain",
                "external_ids.hubspot_company_id",
                "id",
                "services.sms",
                "services.voice.enabled",
                "status",
            ]
        );
        let id = errors.iter().find(|e| e.field == "id").unwrap();
        assert_eq!(id.message, "is read-only");
    }

    #[test]
    fn non_object_bodies_are_errors() {
        for body in [json!([]), json!("x"), json!(1), json!(null)] {
            let errors = NewCustomer::from_json(&body).unwrap_err();
            assert_eq!(fields(&errors), ["body"]);
        }
    }

    #[test]
    fn a_service_setting_holding_a_nul_is_refused_by_name() {
        let errors = NewCustomer::from_json(&json!({
            "company_name": "Acme",
            "customer_type": "PREPAID",
            "services": {"voice": {"enabled": true, "region": "eu", "codecs": ["g711", "a\u{0}b"]},
                         "data": {"a\u{0}": 1}},
        }))
        .unwrap_err();
        assert_eq!(
            fields(&errors),
            ["services.data.a\u{fffd}", "services.voice.codecs"]
        );
        let kept = NewCustomer::from_json(&json!({
            "company_name": "Acme",
            "customer_type": "PREPAID",
            "services": {"voice": {"enabled": true, "codecs": ["g711"], "limits": {"cps": 5}}},
        }));
        assert!(kept.is_ok(), "{kept:?}");
    }

    #[test]
    fn patch_distinguishes_absent_from_null() {
        let base = NewCustomer::from_json(&json!({
            "company_name": "Acme",
            "customer_type": "POSTPAID",
            "domain": "acme.com",
            "contact": {"name": "Ann", "email": "ann@acme.com"},
            "services": {"voice": {"enabled": true, "plan": "gold", "minutes": 100}}
        }))
        .unwrap();
        let patch = CustomerPatch::from_json(&json!({
            "domain": null,
            "contact": {"email": null, "phone": "+4930123456"},
            "services": {"voice": {"plan": null}, "data": {"enabled": true}},
            "credit_limit": 1500.5
        }))
        .unwrap();
        let after = patch.apply_to(&base);
        assert_eq!(after.domain, None);
        assert_eq!(after.contact.name.as_deref(), Some("Ann"));
        assert_eq!(after.contact.email, None);
        assert_eq!(
            after.contact.phone.as_ref().map(|p| p.as_str()),
            Some("+4930123456")
        );
        assert!(after.services.voice.enabled);
        assert_eq!(after.services.voice.extra.get("plan"), None);
        assert_eq!(after.services.voice.extra.get("minutes"), Some(&json!(100)));
        assert!(after.services.data.enabled);
        assert_eq!(after.credit_limit.to_string(), "1500.50");
        assert_eq!(after.company_name.as_str(), "Acme");

        let untouched = CustomerPatch::from_json(&json!({}))
            .unwrap()
            .apply_to(&base);
        assert_eq!(untouched, base);
    }

    #[test]
    fn patch_cannot_null_required_fields() {
        let errors = CustomerPatch::from_json(
            &json!({"company_name": null, "status": null, "credit_limit": null}),
        )
        .unwrap_err();
        assert_eq!(fields(&errors), ["company_name", "credit_limit", "status"]);
        assert!(errors.iter().all(|e| e.message == "must not be null"));
    }

    #[test]
    fn stored_shape_round_trips() {
        let new = NewCustomer::from_json(&json!({
            "company_name": "Acme",
            "customer_type": "RESELLER",
            "contact": {"phone": "+4930123456"},
            "services": {"messaging": {"enabled": true, "a2p": ["x"]}}
        }))
        .unwrap();
        let contact = serde_json::to_value(&new.contact).unwrap();
        assert_eq!(contact, json!({"phone": "+4930123456"}));
        let services = serde_json::to_value(&new.services).unwrap();
        let back: Services = serde_json::from_value(services).unwrap();
        assert_eq!(back, new.services);
        let back: Contact = serde_json::from_value(contact).unwrap();
        assert_eq!(back, new.contact);
    }
}
