//! What the trunk and number push reads and records (migration V31): rows whose version is
//! not the one last pushed (of customers linked to a home-portal company), the HubSpot record
//! each became, the portal's detected mode, and the push log (failures and overrides).

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use uuid::Uuid;
use warp_domain::phone_number::PhoneNumber;
use warp_domain::service_objects::ServiceObjectsMode;
use warp_domain::storable::storable_opt;
use warp_domain::trunk::Trunk;

use crate::services::ServiceItem;
use crate::{Database, StoreError};

/// How the portal shows trunks and numbers, as last detected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectedMode {
    pub mode: ServiceObjectsMode,
    pub trunk_type_id: Option<String>,
    pub number_type_id: Option<String>,
    pub detail: String,
    pub detected_at: DateTime<Utc>,
}

/// A row to push, with its customer's BAN and company.
#[derive(Debug, Clone)]
pub struct Due<T> {
    pub item: T,
    pub ban: String,
    pub company_id: String,
    /// Its HubSpot record, once pushed.
    pub hubspot_object_id: Option<String>,
}

/// A number to push, with what its associations need.
#[derive(Debug, Clone)]
pub struct DueNumber {
    pub due: Due<PhoneNumber>,
    /// Its trunk's HubSpot record (none when it has no trunk).
    pub trunk_object_id: Option<String>,
    /// The trunk it was associated with at its last push, and that trunk's record.
    pub pushed_trunk: Option<(Uuid, Option<String>)>,
}

/// One entry of the push log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushLogEntry {
    pub kind: &'static str,
    pub local_id: Uuid,
    pub outcome: &'static str,
    pub properties: Vec<String>,
    pub hubspot_id: Option<String>,
    pub error: Option<String>,
}

pub async fn load_mode(
    database: &Database,
    portal_id: i64,
) -> Result<Option<DetectedMode>, StoreError> {
    let client = database.client().await?;
    let row = client
        .query_typed_opt(
            "SELECT mode, trunk_type_id, number_type_id, detail, detected_at \
             FROM hubspot_service_objects WHERE portal_id = $1",
            &[(&portal_id, Type::INT8)],
        )
        .await?;
    row.map(|row| {
        let mode: String = row.try_get(0)?;
        Ok(DetectedMode {
            mode: ServiceObjectsMode::parse(&mode)
                .ok_or_else(|| StoreError::Other(format!("unexpected service mode {mode:?}")))?,
            trunk_type_id: row.try_get(1)?,
            number_type_id: row.try_get(2)?,
            detail: row.try_get(3)?,
            detected_at: row.try_get(4)?,
        })
    })
    .transpose()
}

/// Records the mode; when it differs from the one stored (or the custom types changed),
/// every trunk and number is pushed again, the new way.
pub async fn save_mode(
    database: &Database,
    portal_id: i64,
    detected: &DetectedMode,
) -> Result<(), StoreError> {
    let mut client = database.client().await?;
    let transaction = client.transaction().await?;
    let mode = detected.mode.as_str();
    let changed = transaction
        .query_typed_opt(
            "SELECT 1 FROM hubspot_service_objects WHERE portal_id = $1 AND mode = $2 \
               AND trunk_type_id IS NOT DISTINCT FROM $3 AND number_type_id IS NOT DISTINCT FROM $4",
            &[
                (&portal_id, Type::INT8),
                (&mode, Type::TEXT),
                (&detected.trunk_type_id, Type::TEXT),
                (&detected.number_type_id, Type::TEXT),
            ],
        )
        .await?
        .is_none();
    let detail = warp_domain::storable::storable(&detected.detail);
    transaction
        .execute_typed(
            "INSERT INTO hubspot_service_objects (portal_id, mode, trunk_type_id, number_type_id, detail) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (portal_id) DO UPDATE SET mode = $2, \
               trunk_type_id = $3, number_type_id = $4, detail = $5, detected_at = now()",
            &[
                (&portal_id, Type::INT8),
                (&mode, Type::TEXT),
                (&detected.trunk_type_id, Type::TEXT),
                (&detected.number_type_id, Type::TEXT),
                (&detail.as_ref(), Type::TEXT),
            ],
        )
        .await?;
    if changed {
        transaction
            .batch_execute(
                "UPDATE trunks SET pushed_version = NULL, hubspot_object_id = NULL \
                   WHERE pushed_version IS NOT NULL OR hubspot_object_id IS NOT NULL; \
                 UPDATE phone_numbers SET pushed_version = NULL, hubspot_object_id = NULL, \
                   pushed_trunk_id = NULL \
                   WHERE pushed_version IS NOT NULL OR hubspot_object_id IS NOT NULL",
            )
            .await?;
    }
    transaction.commit().await?;
    Ok(())
}

const LINKED: &str = "JOIN customers c ON c.id = t.customer_id \
     AND c.external_ids ? 'hubspot_company_id'";

/// A row is due when its version is not the one pushed, unless HubSpot refused that version
/// (it is due again once it changes): refused rows never stall the rows behind them.
const DUE: &str =
    "t.pushed_version IS DISTINCT FROM t.version AND t.failed_version IS DISTINCT FROM t.version";

/// A pushed version is only ever recorded forward (an older pass's answer never hides a newer
/// push).
const FORWARD: &str = "(pushed_version IS NULL OR pushed_version < p.version)";

/// How long a pass holds the portal's lease (renewed by each pass; a pass takes seconds).
const PASS_LEASE_SECS: f64 = 120.0;

/// Takes the portal's pass lease for `holder` (or renews it); `false` while another holder's
/// lease runs. Two overlapping passes would read the same due rows and could record an older
/// version, or associate a number with a trunk it just left.
pub async fn take_pass_lease(
    database: &Database,
    portal_id: i64,
    holder: Uuid,
) -> Result<bool, StoreError> {
    let client = database.client().await?;
    Ok(client
        .execute_typed(
            "UPDATE hubspot_service_objects SET pass_holder = $2, \
               pass_until = now() + make_interval(secs => $3) \
             WHERE portal_id = $1 \
               AND (pass_holder IS NULL OR pass_holder = $2 OR pass_until < now())",
            &[
                (&portal_id, Type::INT8),
                (&holder, Type::UUID),
                (&PASS_LEASE_SECS, Type::FLOAT8),
            ],
        )
        .await?
        == 1)
}

/// Gives the lease back (a pass that ended).
pub async fn release_pass_lease(
    database: &Database,
    portal_id: i64,
    holder: Uuid,
) -> Result<(), StoreError> {
    let client = database.client().await?;
    client
        .execute_typed(
            "UPDATE hubspot_service_objects SET pass_holder = NULL, pass_until = NULL \
             WHERE portal_id = $1 AND pass_holder = $2",
            &[(&portal_id, Type::INT8), (&holder, Type::UUID)],
        )
        .await?;
    Ok(())
}

/// Records rows of `T` as refused by HubSpot at the versions read: not due again until they
/// change (the push log says why).
pub async fn refused<T: ServiceItem>(
    database: &Database,
    rows: &[(Uuid, i64)],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let client = database.client().await?;
    let sql = format!(
        "UPDATE {} x SET failed_version = p.version \
         FROM unnest($1::uuid[], $2::int8[]) AS p(id, version) WHERE x.id = p.id",
        T::TABLE
    );
    with_versions(&client, &sql, rows).await
}

/// Runs `sql` with the rows' ids as `$1` and their versions as `$2`.
async fn with_versions(
    client: &deadpool_postgres::Client,
    sql: &str,
    rows: &[(Uuid, i64)],
) -> Result<(), StoreError> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
    let versions: Vec<i64> = rows.iter().map(|r| r.1).collect();
    client
        .execute_typed(
            sql,
            &[(&ids, Type::UUID_ARRAY), (&versions, Type::INT8_ARRAY)],
        )
        .await?;
    Ok(())
}

/// Up to `limit` trunks not pushed at their version, of linked customers, by id.
pub async fn due_trunks(database: &Database, limit: i64) -> Result<Vec<Due<Trunk>>, StoreError> {
    let client = database.client().await?;
    let sql = format!(
        "SELECT {}, c.ban, c.external_ids->>'hubspot_company_id' AS company_id, \
           t.hubspot_object_id AS object_id \
         FROM trunks t {LINKED} WHERE {DUE} ORDER BY t.id LIMIT $1",
        prefixed(Trunk::COLUMNS)
    );
    client
        .query_typed(&sql, &[(&limit, Type::INT8)])
        .await?
        .iter()
        .map(|row| due_from_row(row, Trunk::from_row))
        .collect()
}

/// Up to `limit` numbers not pushed at their version, of linked customers, by id; a number
/// routed to a trunk HubSpot does not have yet waits for it (left out).
pub async fn due_numbers(database: &Database, limit: i64) -> Result<Vec<DueNumber>, StoreError> {
    let client = database.client().await?;
    let sql = format!(
        "SELECT {}, c.ban, c.external_ids->>'hubspot_company_id' AS company_id, \
           t.hubspot_object_id AS object_id, trunk.hubspot_object_id AS trunk_object_id, \
           t.pushed_trunk_id, pushed.hubspot_object_id AS pushed_trunk_object_id \
         FROM phone_numbers t {LINKED} \
         LEFT JOIN trunks trunk ON trunk.id = t.trunk_id \
         LEFT JOIN trunks pushed ON pushed.id = t.pushed_trunk_id \
         WHERE {DUE} AND (t.trunk_id IS NULL OR trunk.hubspot_object_id IS NOT NULL) \
         ORDER BY t.id LIMIT $1",
        prefixed(PhoneNumber::COLUMNS)
    );
    client
        .query_typed(&sql, &[(&limit, Type::INT8)])
        .await?
        .iter()
        .map(|row| {
            let pushed: Option<Uuid> = row.try_get("pushed_trunk_id")?;
            Ok(DueNumber {
                due: due_from_row(row, PhoneNumber::from_row)?,
                trunk_object_id: row.try_get("trunk_object_id")?,
                pushed_trunk: pushed
                    .map(|id| Ok::<_, StoreError>((id, row.try_get("pushed_trunk_object_id")?)))
                    .transpose()?,
            })
        })
        .collect()
}

/// Records trunks as pushed at the versions read (a row changed since stays due).
pub async fn trunks_pushed(
    database: &Database,
    pushed: &[(Uuid, i64, String)],
) -> Result<(), StoreError> {
    let client = database.client().await?;
    let ids: Vec<Uuid> = pushed.iter().map(|p| p.0).collect();
    let versions: Vec<i64> = pushed.iter().map(|p| p.1).collect();
    let objects: Vec<&str> = pushed.iter().map(|p| p.2.as_str()).collect();
    let sql = format!(
        "UPDATE trunks t SET pushed_version = p.version, hubspot_object_id = p.object_id \
             FROM unnest($1::uuid[], $2::int8[], $3::text[]) AS p(id, version, object_id) \
             WHERE t.id = p.id AND {FORWARD}"
    );
    client
        .execute_typed(
            &sql,
            &[
                (&ids, Type::UUID_ARRAY),
                (&versions, Type::INT8_ARRAY),
                (&objects, Type::TEXT_ARRAY),
            ],
        )
        .await?;
    Ok(())
}

/// Makes the numbers routed to these trunks due again (the trunks' records were made anew).
pub async fn numbers_of_trunks_again(
    database: &Database,
    trunks: &[Uuid],
) -> Result<(), StoreError> {
    if trunks.is_empty() {
        return Ok(());
    }
    let client = database.client().await?;
    client
        .execute_typed(
            "UPDATE phone_numbers SET pushed_version = NULL, pushed_trunk_id = NULL \
             WHERE trunk_id = ANY($1)",
            &[(&trunks, Type::UUID_ARRAY)],
        )
        .await?;
    Ok(())
}

/// Records numbers as pushed at the versions read, with the trunk each was associated with.
pub async fn numbers_pushed(
    database: &Database,
    pushed: &[(Uuid, i64, String, Option<Uuid>)],
) -> Result<(), StoreError> {
    let client = database.client().await?;
    let ids: Vec<Uuid> = pushed.iter().map(|p| p.0).collect();
    let versions: Vec<i64> = pushed.iter().map(|p| p.1).collect();
    let objects: Vec<&str> = pushed.iter().map(|p| p.2.as_str()).collect();
    let trunks: Vec<Option<Uuid>> = pushed.iter().map(|p| p.3).collect();
    let sql = format!(
        "UPDATE phone_numbers n SET pushed_version = p.version, hubspot_object_id = p.object_id, \
               pushed_trunk_id = p.trunk_id \
             FROM unnest($1::uuid[], $2::int8[], $3::text[], $4::uuid[]) AS p(id, version, object_id, trunk_id) \
             WHERE n.id = p.id AND {FORWARD}"
    );
    client
        .execute_typed(
            &sql,
            &[
                (&ids, Type::UUID_ARRAY),
                (&versions, Type::INT8_ARRAY),
                (&objects, Type::TEXT_ARRAY),
                (&trunks, Type::UUID_ARRAY),
            ],
        )
        .await?;
    Ok(())
}

/// The fallback's due customers: up to `limit` linked customers with a trunk or number not
/// pushed at its version.
pub async fn due_customers(database: &Database, limit: i64) -> Result<Vec<Uuid>, StoreError> {
    let client = database.client().await?;
    let sql = format!(
        "SELECT DISTINCT t.customer_id FROM ( \
           SELECT customer_id FROM trunks t WHERE {DUE} \
           UNION SELECT customer_id FROM phone_numbers t WHERE {DUE} \
         ) t JOIN customers c ON c.id = t.customer_id AND c.external_ids ? 'hubspot_company_id' \
         ORDER BY t.customer_id LIMIT $1"
    );
    client
        .query_typed(&sql, &[(&limit, Type::INT8)])
        .await?
        .iter()
        .map(|row| Ok(row.try_get(0)?))
        .collect()
}

/// A customer's trunks and numbers (released ones too), its company, read in one snapshot.
pub async fn services_of(
    database: &Database,
    customer_id: Uuid,
) -> Result<Option<(String, Vec<Trunk>, Vec<PhoneNumber>)>, StoreError> {
    let mut client = database.client().await?;
    let transaction = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let Some(company) = transaction
        .query_typed_opt(
            "SELECT external_ids->>'hubspot_company_id' FROM customers WHERE id = $1",
            &[(&customer_id, Type::UUID)],
        )
        .await?
        .and_then(|row| row.get::<_, Option<String>>(0))
    else {
        return Ok(None);
    };
    let trunks = rows_of::<Trunk>(&transaction, customer_id).await?;
    let numbers = rows_of::<PhoneNumber>(&transaction, customer_id).await?;
    transaction.commit().await?;
    Ok(Some((company, trunks, numbers)))
}

async fn rows_of<T: ServiceItem>(
    transaction: &tokio_postgres::Transaction<'_>,
    customer_id: Uuid,
) -> Result<Vec<T>, StoreError> {
    let sql = format!(
        "SELECT {} FROM {} WHERE customer_id = $1 ORDER BY id",
        T::COLUMNS,
        T::TABLE
    );
    transaction
        .query_typed(&sql, &[(&customer_id, Type::UUID)])
        .await?
        .iter()
        .map(T::from_row)
        .collect()
}

/// Records a customer's trunks and numbers as pushed at the versions read (the fallback).
pub async fn customer_pushed(
    database: &Database,
    trunks: &[(Uuid, i64)],
    numbers: &[(Uuid, i64)],
) -> Result<(), StoreError> {
    let client = database.client().await?;
    for (table, rows) in [("trunks", trunks), ("phone_numbers", numbers)] {
        let sql = format!(
            "UPDATE {table} x SET pushed_version = p.version \
             FROM unnest($1::uuid[], $2::int8[]) AS p(id, version) \
             WHERE x.id = p.id AND {FORWARD}"
        );
        with_versions(&client, &sql, rows).await?;
    }
    Ok(())
}

/// Pushed rows of `T` with their HubSpot records, after `after` (by id), for the read-back.
pub async fn pushed<T: ServiceItem>(
    database: &Database,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Due<T>>, StoreError> {
    let client = database.client().await?;
    let sql = format!(
        "SELECT {}, c.ban, c.external_ids->>'hubspot_company_id' AS company_id, \
           t.hubspot_object_id AS object_id \
         FROM {} t {LINKED} WHERE t.hubspot_object_id IS NOT NULL \
           AND t.pushed_version = t.version AND ($1::uuid IS NULL OR t.id > $1) \
         ORDER BY t.id LIMIT $2",
        prefixed(T::COLUMNS),
        T::TABLE
    );
    client
        .query_typed(&sql, &[(&after, Type::UUID), (&limit, Type::INT8)])
        .await?
        .iter()
        .map(|row| due_from_row(row, T::from_row))
        .collect()
}

/// Makes rows of `T` due again (HubSpot holds other values: WARP's are pushed back), each
/// only while it is still pushed at the version read: a row changed (or pushed) since is due
/// or pushed anew already, and HubSpot's other values were that push's, not an edit. Answers
/// the ids made due.
pub async fn push_again<T: ServiceItem>(
    database: &Database,
    rows: &[(Uuid, i64)],
) -> Result<Vec<Uuid>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let client = database.client().await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
    let versions: Vec<i64> = rows.iter().map(|r| r.1).collect();
    let sql = format!(
        "UPDATE {} x SET pushed_version = NULL \
         FROM unnest($1::uuid[], $2::int8[]) AS p(id, version) \
         WHERE x.id = p.id AND x.version = p.version AND x.pushed_version = p.version \
         RETURNING x.id",
        T::TABLE
    );
    client
        .query_typed(
            &sql,
            &[(&ids, Type::UUID_ARRAY), (&versions, Type::INT8_ARRAY)],
        )
        .await?
        .iter()
        .map(|row| Ok(row.try_get(0)?))
        .collect()
}

/// Appends to the push log.
pub async fn log(
    database: &Database,
    portal_id: i64,
    entries: &[PushLogEntry],
) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    let client = database.client().await?;
    for entry in entries {
        let properties: Vec<&str> = entry.properties.iter().map(String::as_str).collect();
        client
            .execute_typed(
                "INSERT INTO service_push_log (portal_id, kind, local_id, outcome, properties, hubspot_id, error) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    (&portal_id, Type::INT8),
                    (&entry.kind, Type::TEXT),
                    (&entry.local_id, Type::UUID),
                    (&entry.outcome, Type::TEXT),
                    (&properties, Type::TEXT_ARRAY),
                    (&storable_opt(entry.hubspot_id.as_deref()), Type::TEXT),
                    (&storable_opt(entry.error.as_deref()), Type::TEXT),
                ],
            )
            .await?;
    }
    Ok(())
}

/// How many rows of `T` wait to be pushed (status).
pub async fn waiting<T: ServiceItem>(database: &Database) -> Result<i64, StoreError> {
    let client = database.client().await?;
    let sql = format!("SELECT count(*) FROM {} t {LINKED} WHERE {DUE}", T::TABLE);
    Ok(client.query_typed_one(&sql, &[]).await?.try_get(0)?)
}

/// How many rows of `T` HubSpot refused at their current version (status; the push log says
/// why).
pub async fn refused_count<T: ServiceItem>(database: &Database) -> Result<i64, StoreError> {
    let client = database.client().await?;
    let sql = format!(
        "SELECT count(*) FROM {} t {LINKED} WHERE t.failed_version = t.version \
           AND t.pushed_version IS DISTINCT FROM t.version",
        T::TABLE
    );
    Ok(client.query_typed_one(&sql, &[]).await?.try_get(0)?)
}

fn due_from_row<T>(
    row: &tokio_postgres::Row,
    from_row: fn(&tokio_postgres::Row) -> Result<T, StoreError>,
) -> Result<Due<T>, StoreError> {
    Ok(Due {
        item: from_row(row)?,
        ban: row.try_get("ban")?,
        company_id: row.try_get("company_id")?,
        hubspot_object_id: row.try_get("object_id")?,
    })
}

/// `a, b` as `t.a, t.b`.
fn prefixed(columns: &str) -> String {
    columns
        .split(',')
        .map(|column| format!("t.{}", column.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}
