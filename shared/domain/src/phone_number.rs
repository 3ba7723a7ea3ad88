//! A phone number in a customer's service (seed 002's number custom object): the E.164
//! number, its kind and capabilities, its monthly cost, the trunk it routes to, its E911
//! address and caller name. The number and its type are its identity: a number changes by
//! being released and another added.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::customer::text_value;
use crate::customer::{Change, FieldError, InvalidValue, Money, Phone};
use crate::json_input::{Reader, text};

code_enum!(
    /// The kind of number.
    NumberType { Local => "local", Tollfree => "tollfree", Mobile => "mobile" }
);

code_enum!(
    /// What a number can do.
    Capability { Voice => "voice", Sms => "sms", Mms => "mms", Fax => "fax" }
);

code_enum!(
    /// Whether the number is in the customer's service; `released` is final (the number may
    /// then be added again, to this customer or another).
    NumberStatus { Active => "active", Released => "released" }
);

text_value!(
    /// The street address emergency services are sent to: trimmed, 1 to 200 characters.
    E911Address
);

impl E911Address {
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        Ok(E911Address(crate::customer::bounded_text(text, 200)?))
    }
}

text_value!(
    /// The caller name shown with the number (CNAM): 1 to 15 characters of letters, digits,
    /// spaces and `. , & ' -`, the set carriers' CNAM databases hold.
    Cnam
);

impl Cnam {
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        let trimmed = text.trim();
        let allowed = |c: char| c.is_ascii_alphanumeric() || " .,&'-".contains(c);
        if trimmed.is_empty() || trimmed.len() > 15 || !trimmed.chars().all(allowed) {
            return Err(InvalidValue(
                "must be 1 to 15 letters, digits, spaces or . , & ' -",
            ));
        }
        Ok(Cnam(trimmed.to_owned()))
    }
}

/// A number's capabilities: at least one, each once (a repeat says nothing more), in a fixed
/// order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capabilities(Vec<Capability>);

impl Capabilities {
    pub fn new(mut capabilities: Vec<Capability>) -> Result<Self, InvalidValue> {
        capabilities.sort_by_key(|c| Capability::ALL.iter().position(|known| known == c));
        capabilities.dedup();
        if capabilities.is_empty() {
            return Err(InvalidValue("must name at least one capability"));
        }
        Ok(Capabilities(capabilities))
    }

    pub fn as_slice(&self) -> &[Capability] {
        &self.0
    }
}

/// A stored number.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhoneNumber {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub number: Phone,
    pub number_type: NumberType,
    pub capabilities: Capabilities,
    pub monthly_cost: Money,
    /// The trunk its calls are routed to (one of the customer's, not released).
    pub trunk_id: Option<Uuid>,
    pub e911_address: Option<E911Address>,
    pub cnam: Option<Cnam>,
    pub status: NumberStatus,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub released_at: Option<DateTime<Utc>>,
}

/// The fields of a number a client writes on create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNumber {
    pub number: Phone,
    pub number_type: NumberType,
    pub settings: NumberSettings,
}

/// What may change while a number is in service.
#[derive(Debug, Clone, PartialEq)]
pub struct NumberSettings {
    pub capabilities: Capabilities,
    pub monthly_cost: Money,
    pub trunk_id: Option<Uuid>,
    pub e911_address: Option<E911Address>,
    pub cnam: Option<Cnam>,
}

/// A merge-patch of a number's settings (RFC 7396).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NumberPatch {
    pub capabilities: Option<Capabilities>,
    pub monthly_cost: Option<Money>,
    pub trunk_id: Change<Uuid>,
    pub e911_address: Change<E911Address>,
    pub cnam: Change<Cnam>,
}

const SETTINGS: &[&str] = &[
    "capabilities",
    "monthly_cost",
    "trunk_id",
    "e911_address",
    "cnam",
];
const IDENTITY: &[&str] = &["number", "type"];
const READ_ONLY: &[&str] = &[
    "id",
    "customer_id",
    "status",
    "version",
    "created_at",
    "updated_at",
    "released_at",
];

impl NewNumber {
    /// Reads a create body: `number`, `type`, `capabilities` and `monthly_cost` are required.
    pub fn from_json(value: &Value) -> Result<Self, Vec<FieldError>> {
        let mut reader = Reader::new(READ_ONLY);
        let known: Vec<&str> = IDENTITY.iter().chain(SETTINGS).copied().collect();
        let Some(map) = reader.object(value, "", &known) else {
            return Err(reader.into_errors());
        };
        let number = reader.required(map, "", "number", |v| {
            Phone::parse(text(v)?).map_err(|e| e.to_string())
        });
        let number_type = reader.required(map, "", "type", |v| {
            NumberType::parse(text(v)?).map_err(|e| e.to_string())
        });
        let patch = read_settings(&mut reader, map);
        let mut errors = reader.into_errors();
        let mut require = |field: &str, present: bool| {
            if !present && !errors.iter().any(|e| e.field == field) {
                errors.push(FieldError::new(field, "is required"));
            }
        };
        require("number", number.is_some());
        require("type", number_type.is_some());
        require("capabilities", patch.capabilities.is_some());
        require("monthly_cost", patch.monthly_cost.is_some());
        match (number, number_type, patch.capabilities, patch.monthly_cost) {
            (Some(number), Some(number_type), Some(capabilities), Some(monthly_cost))
                if errors.is_empty() =>
            {
                Ok(NewNumber {
                    number,
                    number_type,
                    settings: NumberSettings {
                        capabilities,
                        monthly_cost,
                        trunk_id: patch.trunk_id.into_option(),
                        e911_address: patch.e911_address.into_option(),
                        cnam: patch.cnam.into_option(),
                    },
                })
            }
            _ => Err(errors),
        }
    }
}

impl NumberPatch {
    /// Reads a merge-patch: the number and its type cannot change.
    pub fn from_json(value: &Value) -> Result<Self, Vec<FieldError>> {
        let mut reader = Reader::new(READ_ONLY);
        let Some(map) = reader.object(value, "", SETTINGS) else {
            return Err(reader.into_errors());
        };
        let patch = read_settings(&mut reader, map);
        let mut errors = reader.into_errors();
        for identity in IDENTITY {
            if let Some(error) = errors.iter_mut().find(|e| e.field == *identity) {
                error.message = "cannot change: release the number and add the new one".into();
            }
        }
        if errors.is_empty() {
            Ok(patch)
        } else {
            Err(errors)
        }
    }

    /// The settings after this patch.
    pub fn apply_to(&self, current: &PhoneNumber) -> NumberSettings {
        NumberSettings {
            capabilities: self
                .capabilities
                .clone()
                .unwrap_or_else(|| current.capabilities.clone()),
            monthly_cost: self.monthly_cost.unwrap_or(current.monthly_cost),
            trunk_id: self.trunk_id.apply(&current.trunk_id),
            e911_address: self.e911_address.apply(&current.e911_address),
            cnam: self.cnam.apply(&current.cnam),
        }
    }
}

impl PhoneNumber {
    /// The settings as stored (an update that changes none of them is no write).
    pub fn settings(&self) -> NumberSettings {
        NumberPatch::default().apply_to(self)
    }
}

fn read_settings(reader: &mut Reader, map: &serde_json::Map<String, Value>) -> NumberPatch {
    NumberPatch {
        capabilities: reader.required(map, "", "capabilities", capabilities),
        monthly_cost: reader.required(map, "", "monthly_cost", |v| {
            let cost = Money::from_json(v).map_err(|e| e.to_string())?;
            if cost.is_negative() {
                return Err("must not be negative".to_owned());
            }
            Ok(cost)
        }),
        trunk_id: reader.clearable(map, "", "trunk_id", |v| {
            Uuid::parse_str(text(v)?).map_err(|_| "must be a trunk's id (a UUID)".to_owned())
        }),
        e911_address: reader.clearable(map, "", "e911_address", |v| {
            E911Address::parse(text(v)?).map_err(|e| e.to_string())
        }),
        cnam: reader.clearable(map, "", "cnam", |v| {
            Cnam::parse(text(v)?).map_err(|e| e.to_string())
        }),
    }
}

fn capabilities(value: &Value) -> Result<Capabilities, String> {
    let Value::Array(items) = value else {
        return Err("must be an array such as [\"voice\", \"sms\"]".to_owned());
    };
    let mut parsed = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let capability = text(item)
            .and_then(|t| Capability::parse(t).map_err(|e| e.to_string()))
            .map_err(|message| format!("[{index}] {message}"))?;
        parsed.push(capability);
    }
    Capabilities::new(parsed).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        let mut fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        fields.sort_unstable();
        fields
    }

    #[test]
    fn the_issue_example_is_a_number() {
        let trunk = Uuid::now_v7();
        let number = NewNumber::from_json(&json!({
            "number": "+13035551000", "type": "local", "capabilities": ["sms", "voice"],
            "monthly_cost": "1.00", "trunk_id": trunk.to_string(), "cnam": "ACME CORP",
        }))
        .unwrap();
        assert_eq!(number.number.as_str(), "+13035551000");
        assert_eq!(number.number_type, NumberType::Local);
        assert_eq!(
            number.settings.capabilities.as_slice(),
            [Capability::Voice, Capability::Sms]
        );
        assert_eq!(number.settings.monthly_cost.to_string(), "1.00");
        assert_eq!(number.settings.trunk_id, Some(trunk));
    }

    #[test]
    fn every_bad_field_is_named() {
        let errors = NewNumber::from_json(&json!({
            "number": "3035551000", "type": "landline", "capabilities": ["voice", "voicemail"],
            "monthly_cost": "-1.00", "trunk_id": "trunk_456", "cnam": "ACME CORPORATION INC",
            "e911_address": "", "status": "released",
        }))
        .unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                "capabilities",
                "cnam",
                "e911_address",
                "monthly_cost",
                "number",
                "status",
                "trunk_id",
                "type"
            ]
        );
        assert_eq!(
            fields(&NewNumber::from_json(&json!({"number": "+13035551000"})).unwrap_err()),
            ["capabilities", "monthly_cost", "type"]
        );
        assert_eq!(
            fields(&NewNumber::from_json(&json!({"capabilities": []})).unwrap_err()),
            ["capabilities", "monthly_cost", "number", "type"]
        );
    }

    #[test]
    fn a_patch_changes_settings_only() {
        let errors =
            NumberPatch::from_json(&json!({"number": "+13035551001", "cnam": null})).unwrap_err();
        assert_eq!(fields(&errors), ["number"]);
        assert!(
            errors[0].message.contains("release"),
            "{}",
            errors[0].message
        );
        let patch =
            NumberPatch::from_json(&json!({"trunk_id": null, "monthly_cost": 2.5})).unwrap();
        assert_eq!(patch.trunk_id, Change::Clear);
        assert_eq!(patch.monthly_cost.unwrap().to_string(), "2.50");
    }
}
