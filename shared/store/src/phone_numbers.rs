//! The phone numbers repository (`phone_numbers`, migration V29): see [`crate::services`]. A
//! number routes only to a trunk of its own customer that is not released; a number is in
//! one customer's service at a time.

use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Row, Transaction};
use uuid::Uuid;
use warp_domain::customer::{Money, Phone};
use warp_domain::phone_number::{
    Capabilities, Capability, Cnam, E911Address, NewNumber, NumberSettings, NumberStatus,
    NumberType, PhoneNumber,
};

use crate::StoreError;
use crate::audit::EntityType;
use crate::services::{ServiceItem, ServiceStore, corrupt};

pub type NumberStore = ServiceStore<PhoneNumber>;

const COLUMNS: &str = "id, customer_id, number, number_type, capabilities, monthly_cost, \
     trunk_id, e911_address, cnam, status, version, created_at, updated_at, released_at";

impl ServiceItem for PhoneNumber {
    type New = NewNumber;
    type Settings = NumberSettings;
    const TABLE: &'static str = "phone_numbers";
    const COLUMNS: &'static str = COLUMNS;
    const ENTITY: EntityType = EntityType::Number;
    const REFERENCE_COLUMN: Option<&'static str> = Some("trunk_id");

    fn from_row(row: &Row) -> Result<Self, StoreError> {
        let bad = |column| corrupt("phone_numbers", column);
        let capabilities: Vec<String> = row.try_get("capabilities")?;
        let capabilities = capabilities
            .iter()
            .map(|c| Capability::parse(c))
            .collect::<Result<Vec<_>, _>>()
            .and_then(Capabilities::new)
            .map_err(|_| bad("capabilities"))?;
        let e911: Option<String> = row.try_get("e911_address")?;
        let cnam: Option<String> = row.try_get("cnam")?;
        Ok(PhoneNumber {
            id: row.try_get("id")?,
            customer_id: row.try_get("customer_id")?,
            number: Phone::parse(row.try_get("number")?).map_err(|_| bad("number"))?,
            number_type: NumberType::parse(row.try_get("number_type")?)
                .map_err(|_| bad("number_type"))?,
            capabilities,
            monthly_cost: Money::from_decimal(row.try_get("monthly_cost")?)
                .map_err(|_| bad("monthly_cost"))?,
            trunk_id: row.try_get("trunk_id")?,
            e911_address: e911
                .as_deref()
                .map(E911Address::parse)
                .transpose()
                .map_err(|_| bad("e911_address"))?,
            cnam: cnam
                .as_deref()
                .map(Cnam::parse)
                .transpose()
                .map_err(|_| bad("cnam"))?,
            status: NumberStatus::parse(row.try_get("status")?).map_err(|_| bad("status"))?,
            version: row.try_get("version")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            released_at: row.try_get("released_at")?,
        })
    }

    fn id(&self) -> Uuid {
        self.id
    }

    fn customer_id(&self) -> Uuid {
        self.customer_id
    }

    fn version(&self) -> i64 {
        self.version
    }

    fn is_released(&self) -> bool {
        self.status == NumberStatus::Released
    }

    fn settings(&self) -> NumberSettings {
        PhoneNumber::settings(self)
    }

    fn audited(&self) -> serde_json::Value {
        crate::audit::fields_of(self)
    }

    /// The trunk must be the customer's and not released; FOR SHARE holds it so until commit
    /// (a concurrent release waits, then sees this number routed to it).
    async fn check(
        transaction: &Transaction<'_>,
        customer_id: Uuid,
        settings: &NumberSettings,
    ) -> Result<(), StoreError> {
        let Some(trunk_id) = settings.trunk_id else {
            return Ok(());
        };
        let usable = transaction
            .query_typed_opt(
                "SELECT 1 FROM trunks WHERE id = $1 AND customer_id = $2 AND status <> 'released' FOR SHARE",
                &[(&trunk_id, Type::UUID), (&customer_id, Type::UUID)],
            )
            .await?;
        match usable {
            Some(_) => Ok(()),
            None => Err(StoreError::InvalidReference {
                field: "trunk_id",
                message: "names no trunk of this customer that is in service",
            }),
        }
    }

    fn new_settings(new: &NewNumber) -> &NumberSettings {
        &new.settings
    }

    async fn insert(
        transaction: &Transaction<'_>,
        id: Uuid,
        customer_id: Uuid,
        new: &NewNumber,
    ) -> Result<Self, StoreError> {
        let sql = format!(
            "INSERT INTO phone_numbers (id, customer_id, number, number_type, status, capabilities, \
             monthly_cost, trunk_id, e911_address, cnam) \
             VALUES ($1, $2, $3, $4, 'active', $5, $6, $7, $8, $9) RETURNING {COLUMNS}"
        );
        let (number, number_type) = (new.number.as_str(), new.number_type.as_str());
        let values = SettingValues::of(&new.settings);
        let mut params: Vec<(&(dyn ToSql + Sync), Type)> = vec![
            (&id, Type::UUID),
            (&customer_id, Type::UUID),
            (&number, Type::TEXT),
            (&number_type, Type::TEXT),
        ];
        params.extend(values.params());
        let row = transaction
            .query_typed_one(&sql, &params)
            .await
            .map_err(|error| {
                let taken = error
                    .as_db_error()
                    .and_then(|db| db.constraint())
                    .is_some_and(|constraint| constraint == "phone_numbers_in_service");
                if taken {
                    StoreError::Conflict(format!(
                        "{number} is in service already: release it there first"
                    ))
                } else {
                    error.into()
                }
            })?;
        Self::from_row(&row)
    }

    async fn write(
        transaction: &Transaction<'_>,
        id: Uuid,
        settings: &NumberSettings,
    ) -> Result<Self, StoreError> {
        let sql = format!(
            "UPDATE phone_numbers SET capabilities = $2, monthly_cost = $3, trunk_id = $4, \
             e911_address = $5, cnam = $6, version = version + 1, updated_at = now() \
             WHERE id = $1 RETURNING {COLUMNS}"
        );
        let values = SettingValues::of(settings);
        let mut params: Vec<(&(dyn ToSql + Sync), Type)> = vec![(&id, Type::UUID)];
        params.extend(values.params());
        Self::from_row(&transaction.query_typed_one(&sql, &params).await?)
    }

    async fn before_release(_: &Transaction<'_>, _: &Self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A number's settings as statement parameters, in the order of its statements.
struct SettingValues<'a> {
    capabilities: Vec<&'static str>,
    monthly_cost: rust_decimal::Decimal,
    trunk_id: Option<Uuid>,
    e911_address: Option<&'a str>,
    cnam: Option<&'a str>,
}

impl<'a> SettingValues<'a> {
    fn of(settings: &'a NumberSettings) -> Self {
        SettingValues {
            capabilities: settings
                .capabilities
                .as_slice()
                .iter()
                .map(|c| c.as_str())
                .collect(),
            monthly_cost: settings.monthly_cost.as_decimal(),
            trunk_id: settings.trunk_id,
            e911_address: settings.e911_address.as_ref().map(E911Address::as_str),
            cnam: settings.cnam.as_ref().map(Cnam::as_str),
        }
    }

    fn params(&self) -> [(&(dyn ToSql + Sync), Type); 5] {
        [
            (&self.capabilities, Type::TEXT_ARRAY),
            (&self.monthly_cost, Type::NUMERIC),
            (&self.trunk_id, Type::UUID),
            (&self.e911_address, Type::TEXT),
            (&self.cnam, Type::TEXT),
        ]
    }
}
