//! The API's JSON shapes, as documented in the OpenAPI document: the customer as answered, and
//! the request bodies (documentation only: bodies are parsed by `warp_domain`'s field-by-field
//! readers so every error is reported at once).

use serde::Serialize;
use utoipa::ToSchema;
use warp_domain::customer::{Customer, CustomerType, ServiceFlags, Status};

/// A customer (billing account).
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerResponse {
    pub id: uuid::Uuid,
    /// Billing account number, generated, never changes.
    #[schema(example = "ZT-487392012", pattern = "^[A-Z]{2}-[0-9]{9}$")]
    pub ban: String,
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub company_name: String,
    pub customer_type: CustomerTypeSchema,
    pub status: StatusSchema,
    /// Money as a decimal string with two places.
    #[schema(example = "1500.00", pattern = "^-?[0-9]{1,12}\\.[0-9]{2}$")]
    pub credit_limit: String,
    #[schema(example = "-20.50", pattern = "^-?[0-9]{1,12}\\.[0-9]{2}$")]
    pub current_balance: String,
    pub domain: Option<String>,
    pub contact: ContactResponse,
    pub address: AddressResponse,
    pub services: ServicesResponse,
    pub external_ids: ExternalIdsResponse,
    /// Optimistic-concurrency version; the ETag is `"<version>"`.
    pub version: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// Set when the customer was deleted (soft delete; the status is then CLOSED).
    pub deleted_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Where the HubSpot sync of this customer stands (in single-customer reads and the
    /// create answer; absent from lists and update answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync: Option<CustomerSyncResponse>,
}

/// Where the outbound HubSpot sync of a customer stands, from the outbox and the sync log.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerSyncResponse {
    /// `failed` while any change failed (retried with backoff, or waiting for an operator);
    /// else `pending` while a change waits; else `synced`; `never` when nothing was sent.
    #[schema(example = "synced")]
    pub state: SyncStateSchema,
    /// Why the last failed attempt failed (no field values).
    pub last_error: Option<String>,
    /// The HubSpot company id of the last successful push.
    pub hubspot_company_id: Option<String>,
    pub last_synced_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SyncStateSchema {
    Pending,
    Synced,
    Failed,
    Never,
}

impl CustomerSyncResponse {
    /// The state of a customer just created: its first push waits.
    pub fn pending_first_push() -> Self {
        CustomerSyncResponse {
            state: SyncStateSchema::Pending,
            last_error: None,
            hubspot_company_id: None,
            last_synced_at: None,
        }
    }
}

impl From<warp_store::sync_log::CustomerSyncState> for CustomerSyncResponse {
    fn from(state: warp_store::sync_log::CustomerSyncState) -> Self {
        use warp_store::sync_log::SyncState;
        CustomerSyncResponse {
            state: match state.state {
                SyncState::Pending => SyncStateSchema::Pending,
                SyncState::Synced => SyncStateSchema::Synced,
                SyncState::Failed => SyncStateSchema::Failed,
                SyncState::Never => SyncStateSchema::Never,
            },
            last_error: state.last_error,
            hubspot_company_id: state.hubspot_company_id,
            last_synced_at: state.last_synced_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactResponse {
    pub name: Option<String>,
    pub email: Option<String>,
    /// E.164.
    pub phone: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AddressResponse {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServicesResponse {
    pub voice: ServiceFlagsResponse,
    pub messaging: ServiceFlagsResponse,
    pub data: ServiceFlagsResponse,
}

/// Whether a service is on, plus the free-form settings stored with it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceFlagsResponse {
    pub enabled: bool,
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExternalIdsResponse {
    pub hubspot_company_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CustomerTypeSchema {
    Prepaid,
    Postpaid,
    Reseller,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StatusSchema {
    Active,
    Suspended,
    Closed,
}

impl From<CustomerType> for CustomerTypeSchema {
    fn from(value: CustomerType) -> Self {
        match value {
            CustomerType::Prepaid => CustomerTypeSchema::Prepaid,
            CustomerType::Postpaid => CustomerTypeSchema::Postpaid,
            CustomerType::Reseller => CustomerTypeSchema::Reseller,
        }
    }
}

impl From<Status> for StatusSchema {
    fn from(value: Status) -> Self {
        match value {
            Status::Active => StatusSchema::Active,
            Status::Suspended => StatusSchema::Suspended,
            Status::Closed => StatusSchema::Closed,
        }
    }
}

fn flags(flags: ServiceFlags) -> ServiceFlagsResponse {
    ServiceFlagsResponse {
        enabled: flags.enabled,
        extra: flags.extra,
    }
}

impl From<Customer> for CustomerResponse {
    fn from(c: Customer) -> Self {
        CustomerResponse {
            id: c.id,
            ban: c.ban.to_string(),
            company_name: c.company_name.to_string(),
            customer_type: c.customer_type.into(),
            status: c.status.into(),
            credit_limit: c.credit_limit.to_string(),
            current_balance: c.current_balance.to_string(),
            domain: c.domain.map(String::from),
            contact: ContactResponse {
                name: c.contact.name,
                email: c.contact.email.map(String::from),
                phone: c.contact.phone.map(String::from),
            },
            address: AddressResponse {
                line1: c.address.line1,
                line2: c.address.line2,
                city: c.address.city,
                region: c.address.region,
                postal_code: c.address.postal_code,
                country: c.address.country,
            },
            services: ServicesResponse {
                voice: flags(c.services.voice),
                messaging: flags(c.services.messaging),
                data: flags(c.services.data),
            },
            external_ids: ExternalIdsResponse {
                hubspot_company_id: c.external_ids.hubspot_company_id,
            },
            version: c.version,
            created_at: c.created_at,
            updated_at: c.updated_at,
            deleted_at: c.deleted_at,
            sync: None,
        }
    }
}

/// One page of customers.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerList {
    pub items: Vec<CustomerResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// The health check's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

/// Money in a request: a decimal string (preferred, exact) or a JSON number (taken through its
/// text, never a float), at most 2 decimal places and 12 integer digits.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum MoneyInput {
    Text(MoneyText),
    Number(MoneyNumber),
}

/// Money as text: `-?digits(.d{1,2})?`, at most 12 integer digits (leading zeros aside),
/// trailing zeros after two places allowed.
#[derive(Debug, Serialize, ToSchema)]
#[schema(pattern = r"^-?0*[0-9]{1,12}(\.[0-9]{1,2}0*)?$", example = "1500.00")]
pub struct MoneyText(pub String);

/// Money as a JSON number: whole cents, at most 12 integer digits.
#[derive(Debug, Serialize)]
pub struct MoneyNumber(pub f64);

/// Money that is never negative (a credit limit): text or a JSON number, as [`MoneyInput`].
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum NonNegativeMoneyInput {
    Text(NonNegativeMoneyText),
    Number(NonNegativeMoneyNumber),
}

/// [`MoneyText`] without a sign (a zero may carry one: "-0.00" is 0).
#[derive(Debug, Serialize, ToSchema)]
#[schema(
    pattern = r"^(-0+(\.0+)?|0*[0-9]{1,12}(\.[0-9]{1,2}0*)?)$",
    example = "1500.00"
)]
pub struct NonNegativeMoneyText(pub String);

/// [`MoneyNumber`] from 0.
#[derive(Debug, Serialize)]
pub struct NonNegativeMoneyNumber(pub f64);

impl utoipa::PartialSchema for NonNegativeMoneyNumber {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        money_number(0.0)
    }
}

impl utoipa::ToSchema for NonNegativeMoneyNumber {}

fn money_number(minimum: f64) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Number)
        .minimum(Some(minimum))
        .maximum(Some(999_999_999_999.99))
        .multiple_of(Some(0.01))
        .into()
}

// utoipa's derive takes no bounds on a newtype; the schema is written out instead.
impl utoipa::PartialSchema for MoneyNumber {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        money_number(-999_999_999_999.99)
    }
}

impl utoipa::ToSchema for MoneyNumber {}

#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: Option<String>,
    #[schema(
        max_length = 254,
        pattern = r#"^[^\s\x00-\x1f\x7f-\x9f"(),:;<>@\[\\\].]{1,16}(\.[^\s\x00-\x1f\x7f-\x9f"(),:;<>@\[\\\].]{1,15}){0,3}@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]|[A-Za-z][A-Za-z0-9-]{0,61}[A-Za-z0-9])$"#
    )]
    pub email: Option<String>,
    #[schema(pattern = "^\\+[1-9][0-9]{7,14}$")]
    pub phone: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub line1: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub line2: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub city: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub region: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub postal_code: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub country: Option<String>,
}

/// `enabled` plus any free-form settings (kept as given; null removes a setting in PATCH).
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceFlagsInput {
    #[schema(nullable = false)]
    pub enabled: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServicesInput {
    pub voice: Option<ServiceFlagsInput>,
    pub messaging: Option<ServiceFlagsInput>,
    pub data: Option<ServiceFlagsInput>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalIdsInput {
    /// Read-only here: null on create, or the value last read on PUT and PATCH (422 otherwise).
    /// Links change through `POST /v1/customers/{id}/hubspot-link` (admin), which checks the
    /// company in HubSpot first.
    #[schema(pattern = "^[0-9]{1,32}$", read_only)]
    pub hubspot_company_id: Option<String>,
}

/// Create (POST) or replace (PUT) a customer. Unknown fields are refused (422).
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    #[schema(
        min_length = 1,
        max_length = 255,
        example = "Acme Telecom GmbH",
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub company_name: String,
    pub customer_type: CustomerTypeSchema,
    /// ACTIVE when absent.
    #[schema(nullable = false)]
    pub status: Option<StatusSchema>,
    /// Not negative; 0.00 when absent.
    #[schema(nullable = false)]
    pub credit_limit: Option<NonNegativeMoneyInput>,
    #[schema(nullable = false)]
    pub current_balance: Option<MoneyInput>,
    /// A domain name: labels of letters, digits and '-', the last starting with a letter.
    #[schema(
        example = "acme.example",
        max_length = 253,
        pattern = r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]|[A-Za-z][A-Za-z0-9-]{0,61}[A-Za-z0-9])\.?$"
    )]
    pub domain: Option<String>,
    pub contact: Option<ContactInput>,
    pub address: Option<AddressInput>,
    pub services: Option<ServicesInput>,
    pub external_ids: Option<ExternalIdsInput>,
}

/// A JSON merge-patch (RFC 7396): absent fields are kept, null clears an optional field,
/// nested objects merge. Unknown fields are refused (422).
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerPatchInput {
    #[schema(
        min_length = 1,
        max_length = 255,
        nullable = false,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub company_name: Option<String>,
    #[schema(nullable = false)]
    pub customer_type: Option<CustomerTypeSchema>,
    #[schema(nullable = false)]
    pub status: Option<StatusSchema>,
    /// Not negative.
    #[schema(nullable = false)]
    pub credit_limit: Option<NonNegativeMoneyInput>,
    #[schema(nullable = false)]
    pub current_balance: Option<MoneyInput>,
    /// As on create; null removes it.
    #[schema(
        max_length = 253,
        pattern = r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]|[A-Za-z][A-Za-z0-9-]{0,61}[A-Za-z0-9])\.?$"
    )]
    pub domain: Option<String>,
    pub contact: Option<ContactInput>,
    pub address: Option<AddressInput>,
    pub services: Option<ServicesInput>,
    /// The link is read-only here: leave it out, or send the object last read.
    #[schema(nullable = false)]
    pub external_ids: Option<ExternalIdsInput>,
}
