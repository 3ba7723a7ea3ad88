//! Customers (billing accounts): the validated value types, the customer record, the create
//! input and the partial update, with JSON parsing that reports every field at fault at once.
//! Pure: no I/O, no async.

mod input;
mod money;
mod values;

pub use crate::json_input::Change;
pub use input::{CustomerPatch, FlagsChange, ServicesPatch};
pub use money::{CreditLimit, Money, MoneyError};
pub use values::{Ban, CompanyName, CustomerType, Domain, Email, InvalidValue, Phone, Status};
pub(crate) use values::{bounded_text, text_value};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One field at fault in an input, named by its JSON path (`contact.email`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The billing contact; every part optional.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Contact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<Phone>,
}

/// A postal address; every part optional free text.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// One service: whether it is on, plus free-form settings kept as given.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ServiceFlags {
    #[serde(default)]
    pub enabled: bool,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The services a customer has.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Services {
    #[serde(default)]
    pub voice: ServiceFlags,
    #[serde(default)]
    pub messaging: ServiceFlags,
    #[serde(default)]
    pub data: ServiceFlags,
}

/// Ids of this customer in other systems.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ExternalIds {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hubspot_company_id: Option<String>,
}

/// Every writable field of a customer: a validated create input, and also the full state a PUT
/// replaces or a PATCH produces.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCustomer {
    pub company_name: CompanyName,
    pub customer_type: CustomerType,
    pub status: Status,
    pub credit_limit: CreditLimit,
    pub current_balance: Money,
    pub domain: Option<Domain>,
    pub contact: Contact,
    pub address: Address,
    pub services: Services,
    pub external_ids: ExternalIds,
}

impl NewCustomer {
    /// A customer with the given name and type and every other field at its default
    /// (ACTIVE, zero money, nothing else set).
    pub fn new(company_name: CompanyName, customer_type: CustomerType) -> Self {
        NewCustomer {
            company_name,
            customer_type,
            status: Status::Active,
            credit_limit: CreditLimit::ZERO,
            current_balance: Money::ZERO,
            domain: None,
            contact: Contact::default(),
            address: Address::default(),
            services: Services::default(),
            external_ids: ExternalIds::default(),
        }
    }

    /// Parses a create (or full replace) body: `company_name` and `customer_type` required,
    /// the rest optional with defaults. Unknown fields are errors. Returns every error found.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, Vec<FieldError>> {
        let (patch, mut errors) = input::parse_patch(value);
        if value.is_object() {
            if patch.company_name.is_none() && !errors.iter().any(|e| e.field == "company_name") {
                errors.push(FieldError::new("company_name", "is required"));
            }
            if patch.customer_type.is_none() && !errors.iter().any(|e| e.field == "customer_type") {
                errors.push(FieldError::new("customer_type", "is required"));
            }
        }
        match (&patch.company_name, patch.customer_type) {
            (Some(name), Some(customer_type)) if errors.is_empty() => {
                Ok(patch.apply_to(&NewCustomer::new(name.clone(), customer_type)))
            }
            _ => Err(errors),
        }
    }
}

/// A stored customer.
#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    pub id: Uuid,
    pub ban: Ban,
    pub company_name: CompanyName,
    pub customer_type: CustomerType,
    pub status: Status,
    pub credit_limit: CreditLimit,
    pub current_balance: Money,
    pub domain: Option<Domain>,
    pub contact: Contact,
    pub address: Address,
    pub services: Services,
    pub external_ids: ExternalIds,
    /// Optimistic-concurrency version: 1 on create, +1 on every write.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set by a soft delete (the status is then CLOSED).
    pub deleted_at: Option<DateTime<Utc>>,
}

impl Customer {
    /// The writable fields, as a PATCH starts from them.
    pub fn writable(&self) -> NewCustomer {
        NewCustomer {
            company_name: self.company_name.clone(),
            customer_type: self.customer_type,
            status: self.status,
            credit_limit: self.credit_limit,
            current_balance: self.current_balance,
            domain: self.domain.clone(),
            contact: self.contact.clone(),
            address: self.address.clone(),
            services: self.services.clone(),
            external_ids: self.external_ids.clone(),
        }
    }

    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }
}
