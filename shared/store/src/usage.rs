//! The daily usage repository (`usage_daily`, migration V30): days stored per customer and
//! date, a repeat of a day replacing it (a correction) only when a figure differs, so a batch
//! sent twice changes nothing the second time.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;
use warp_domain::customer::Money;
use warp_domain::usage::{MonthToDate, UsageDay, month_of, month_to_date};

use crate::{Database, StoreError};

/// What a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UsageRecorded {
    /// Days not stored before.
    pub created: u64,
    /// Days stored before whose figures changed.
    pub corrected: u64,
    /// Days stored before with the same figures.
    pub unchanged: u64,
}

/// A batch's outcome: recorded, or refused (nothing stored) because some days name no
/// customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageOutcome {
    Recorded(UsageRecorded),
    UnknownCustomers(Vec<Uuid>),
}

/// Stores the days in one transaction: all of them, or none when any names no customer.
pub async fn record(database: &Database, days: &[UsageDay]) -> Result<UsageOutcome, StoreError> {
    let mut client = database.client().await?;
    let transaction = client.transaction().await?;
    // Sorted by key: two batches touching the same days lock them in one order (no deadlock).
    let mut sorted: Vec<&UsageDay> = days.iter().collect();
    sorted.sort_by_key(|day| (day.customer_id, day.date));
    let customers: Vec<Uuid> = sorted.iter().map(|d| d.customer_id).collect();
    let unknown: Vec<Uuid> = transaction
        .query_typed(
            "SELECT DISTINCT id FROM unnest($1::uuid[]) AS given(id) \
             WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = given.id) ORDER BY id",
            &[(&customers, Type::UUID_ARRAY)],
        )
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
    if !unknown.is_empty() {
        return Ok(UsageOutcome::UnknownCustomers(unknown));
    }
    let dates: Vec<NaiveDate> = sorted.iter().map(|d| d.date).collect();
    let calls: Vec<i64> = sorted.iter().map(|d| d.calls_completed).collect();
    let minutes: Vec<i64> = sorted.iter().map(|d| d.minutes).collect();
    let sms: Vec<i64> = sorted.iter().map(|d| d.sms_sent).collect();
    let spend: Vec<Decimal> = sorted.iter().map(|d| d.spend.as_decimal()).collect();
    let asr: Vec<Option<f64>> = sorted.iter().map(|d| d.asr).collect();
    let acd: Vec<Option<f64>> = sorted.iter().map(|d| d.acd).collect();
    let row = transaction
        .query_typed_one(
            "WITH given AS ( \
               SELECT * FROM unnest($1::uuid[], $2::date[], $3::int8[], $4::int8[], $5::int8[], \
                                    $6::numeric[], $7::float8[], $8::float8[]) \
                 AS t(customer_id, day, calls_completed, minutes, sms_sent, spend, asr, acd)), \
             written AS ( \
               INSERT INTO usage_daily AS stored \
                 (customer_id, day, calls_completed, minutes, sms_sent, spend, asr, acd) \
               SELECT * FROM given \
               ON CONFLICT (customer_id, day) DO UPDATE SET \
                 calls_completed = EXCLUDED.calls_completed, minutes = EXCLUDED.minutes, \
                 sms_sent = EXCLUDED.sms_sent, spend = EXCLUDED.spend, asr = EXCLUDED.asr, \
                 acd = EXCLUDED.acd, revision = stored.revision + 1, updated_at = now() \
               WHERE (stored.calls_completed, stored.minutes, stored.sms_sent, stored.spend, \
                      stored.asr, stored.acd) \
                 IS DISTINCT FROM (EXCLUDED.calls_completed, EXCLUDED.minutes, \
                      EXCLUDED.sms_sent, EXCLUDED.spend, EXCLUDED.asr, EXCLUDED.acd) \
               RETURNING stored.revision = 0 AS created) \
             SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) \
             FROM written",
            &[
                (&customers, Type::UUID_ARRAY),
                (&dates, Type::DATE_ARRAY),
                (&calls, Type::INT8_ARRAY),
                (&minutes, Type::INT8_ARRAY),
                (&sms, Type::INT8_ARRAY),
                (&spend, Type::NUMERIC_ARRAY),
                (&asr, Type::FLOAT8_ARRAY),
                (&acd, Type::FLOAT8_ARRAY),
            ],
        )
        .await?;
    transaction.commit().await?;
    let count = |column: usize| -> Result<u64, StoreError> {
        Ok(u64::try_from(row.try_get::<_, i64>(column)?).unwrap_or(0))
    };
    let (created, corrected) = (count(0)?, count(1)?);
    Ok(UsageOutcome::Recorded(UsageRecorded {
        created,
        corrected,
        unchanged: (days.len() as u64).saturating_sub(created + corrected),
    }))
}

/// The customer's days from `from` to `to` (inclusive), by date.
pub async fn days_of(
    database: &Database,
    customer_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<UsageDay>, StoreError> {
    let client = database.client().await?;
    client
        .query_typed(
            "SELECT customer_id, day, calls_completed, minutes, sms_sent, spend, asr, acd \
             FROM usage_daily WHERE customer_id = $1 AND day BETWEEN $2 AND $3 ORDER BY day",
            &[
                (&customer_id, Type::UUID),
                (&from, Type::DATE),
                (&to, Type::DATE),
            ],
        )
        .await?
        .iter()
        .map(day_from_row)
        .collect()
}

/// The customer's month-to-date figures for `month` (any day of it) and its days.
pub async fn month_of_customer(
    database: &Database,
    customer_id: Uuid,
    month: NaiveDate,
) -> Result<(MonthToDate, Vec<UsageDay>), StoreError> {
    let first = month_of(month);
    let last = first
        .checked_add_months(chrono::Months::new(1))
        .and_then(|next| next.pred_opt())
        .unwrap_or(first);
    let days = days_of(database, customer_id, first, last).await?;
    Ok((month_to_date(first, &days), days))
}

fn day_from_row(row: &Row) -> Result<UsageDay, StoreError> {
    Ok(UsageDay {
        customer_id: row.try_get("customer_id")?,
        date: row.try_get("day")?,
        calls_completed: row.try_get("calls_completed")?,
        minutes: row.try_get("minutes")?,
        sms_sent: row.try_get("sms_sent")?,
        spend: Money::from_decimal(row.try_get("spend")?)
            .map_err(|_| StoreError::Other("a stored usage day has an invalid spend".into()))?,
        asr: row.try_get("asr")?,
        acd: row.try_get("acd")?,
    })
}
