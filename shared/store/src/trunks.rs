//! The trunks repository (`trunks`, migration V29): see [`crate::services`]. A trunk is
//! released only when no number in service routes to it.

use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Row, Transaction};
use uuid::Uuid;
use warp_domain::trunk::{IpEntry, NewTrunk, PartitionId, Trunk, TrunkName, TrunkStatus};

use crate::StoreError;
use crate::audit::EntityType;
use crate::services::{ServiceItem, ServiceStore, corrupt};

pub type TrunkStore = ServiceStore<Trunk>;

const COLUMNS: &str = "id, customer_id, name, status, ip_addresses, concurrent_calls, \
     monthly_minutes, partition_id, version, created_at, updated_at, released_at";

impl ServiceItem for Trunk {
    type New = NewTrunk;
    type Settings = NewTrunk;
    const TABLE: &'static str = "trunks";
    const COLUMNS: &'static str = COLUMNS;
    const ENTITY: EntityType = EntityType::Trunk;
    const REFERENCE_COLUMN: Option<&'static str> = None;

    fn from_row(row: &Row) -> Result<Self, StoreError> {
        let bad = |column| corrupt("trunks", column);
        let addresses: Vec<String> = row.try_get("ip_addresses")?;
        let partition: Option<String> = row.try_get("partition_id")?;
        Ok(Trunk {
            id: row.try_get("id")?,
            customer_id: row.try_get("customer_id")?,
            name: TrunkName::parse(row.try_get("name")?).map_err(|_| bad("name"))?,
            status: TrunkStatus::parse(row.try_get("status")?).map_err(|_| bad("status"))?,
            ip_addresses: addresses
                .iter()
                .map(|a| IpEntry::parse(a))
                .collect::<Result<_, _>>()
                .map_err(|_| bad("ip_addresses"))?,
            concurrent_calls: row.try_get("concurrent_calls")?,
            monthly_minutes: row.try_get("monthly_minutes")?,
            partition_id: partition
                .as_deref()
                .map(PartitionId::parse)
                .transpose()
                .map_err(|_| bad("partition_id"))?,
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
        self.status == TrunkStatus::Released
    }

    fn settings(&self) -> NewTrunk {
        self.writable()
    }

    fn audited(&self) -> serde_json::Value {
        crate::audit::fields_of(self)
    }

    async fn check(
        _transaction: &Transaction<'_>,
        _customer_id: Uuid,
        _settings: &NewTrunk,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    fn new_settings(new: &NewTrunk) -> &NewTrunk {
        new
    }

    async fn insert(
        transaction: &Transaction<'_>,
        id: Uuid,
        customer_id: Uuid,
        new: &NewTrunk,
    ) -> Result<Self, StoreError> {
        let sql = format!(
            "INSERT INTO trunks (id, customer_id, name, status, ip_addresses, concurrent_calls, \
             monthly_minutes, partition_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
        );
        let values = TrunkValues::of(new);
        let mut params: Vec<(&(dyn ToSql + Sync), Type)> =
            vec![(&id, Type::UUID), (&customer_id, Type::UUID)];
        params.extend(values.params());
        Self::from_row(&transaction.query_typed_one(&sql, &params).await?)
    }

    async fn write(
        transaction: &Transaction<'_>,
        id: Uuid,
        settings: &NewTrunk,
    ) -> Result<Self, StoreError> {
        let sql = format!(
            "UPDATE trunks SET name = $2, status = $3, ip_addresses = $4, concurrent_calls = $5, \
             monthly_minutes = $6, partition_id = $7, version = version + 1, updated_at = now() \
             WHERE id = $1 RETURNING {COLUMNS}"
        );
        let values = TrunkValues::of(settings);
        let mut params: Vec<(&(dyn ToSql + Sync), Type)> = vec![(&id, Type::UUID)];
        params.extend(values.params());
        Self::from_row(&transaction.query_typed_one(&sql, &params).await?)
    }

    async fn before_release(transaction: &Transaction<'_>, trunk: &Self) -> Result<(), StoreError> {
        let routed: i64 = transaction
            .query_typed_one(
                "SELECT count(*) FROM phone_numbers WHERE trunk_id = $1 AND status = 'active'",
                &[(&trunk.id, Type::UUID)],
            )
            .await?
            .try_get(0)?;
        if routed > 0 {
            return Err(StoreError::Conflict(format!(
                "{routed} number(s) in service route to this trunk: move them to another trunk or release them first"
            )));
        }
        Ok(())
    }
}

/// A trunk's writable columns as statement parameters, in the order of its statements.
struct TrunkValues<'a> {
    name: &'a str,
    status: &'static str,
    ip_addresses: Vec<&'a str>,
    concurrent_calls: Option<i32>,
    monthly_minutes: Option<i64>,
    partition_id: Option<&'a str>,
}

impl<'a> TrunkValues<'a> {
    fn of(trunk: &'a NewTrunk) -> Self {
        TrunkValues {
            name: trunk.name.as_str(),
            status: trunk.status.as_str(),
            ip_addresses: trunk.ip_addresses.iter().map(IpEntry::as_str).collect(),
            concurrent_calls: trunk.concurrent_calls,
            monthly_minutes: trunk.monthly_minutes,
            partition_id: trunk.partition_id.as_ref().map(PartitionId::as_str),
        }
    }

    fn params(&self) -> [(&(dyn ToSql + Sync), Type); 6] {
        [
            (&self.name, Type::TEXT),
            (&self.status, Type::TEXT),
            (&self.ip_addresses, Type::TEXT_ARRAY),
            (&self.concurrent_calls, Type::INT4),
            (&self.monthly_minutes, Type::INT8),
            (&self.partition_id, Type::TEXT),
        ]
    }
}
