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
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UsageRecorded {
    /// Days not stored before.
    pub created: u64,
    /// Days stored before whose figures changed.
    pub corrected: u64,
    /// Days stored before with the same figures.
    pub unchanged: u64,
    /// Customers whose spend this month reached the alert share of their credit limit with
    /// this batch (each once a month).
    pub alerts: Vec<SpendAlert>,
}

/// When a batch raises a spend alert: the share of the credit limit, and the month it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertRule {
    /// 1 to 1,000 percent.
    pub percent: u32,
    /// Any day of the month whose spend counts (today's).
    pub month: NaiveDate,
}

/// A spend alert raised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendAlert {
    pub customer_id: Uuid,
    pub spend: Money,
    pub credit_limit: Money,
    pub percent: u32,
}

/// A batch's outcome: recorded, or refused (nothing stored) because some days name no
/// customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageOutcome {
    Recorded(UsageRecorded),
    UnknownCustomers(Vec<Uuid>),
}

/// Stores the days in one transaction: all of them, or none when any names no customer. With
/// `alert`, a customer of the batch whose spend in the rule's month reaches its share of the
/// (non-zero) credit limit gets a `spend_threshold` account event, once a month.
pub async fn record(
    database: &Database,
    days: &[UsageDay],
    alert: Option<AlertRule>,
) -> Result<UsageOutcome, StoreError> {
    let mut client = database.client().await?;
    let transaction = client.transaction().await?;
    // Sorted by key: two batches touching the same days lock them in one order (no deadlock).
    let mut sorted: Vec<&UsageDay> = days.iter().collect();
    sorted.sort_by_key(|day| (day.customer_id, day.date));
    let customers: Vec<Uuid> = sorted.iter().map(|d| d.customer_id).collect();
    // The batch's customers are locked (in id order) before their month is summed: two
    // batches for one customer run one after the other, so the second sees the first's days
    // and a threshold crossed only by both together raises its alert.
    let known: Vec<Uuid> = transaction
        .query_typed(
            "SELECT id FROM customers WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
            &[(&customers, Type::UUID_ARRAY)],
        )
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
    let mut unknown: Vec<Uuid> = customers
        .iter()
        .filter(|id| known.binary_search(id).is_err())
        .copied()
        .collect();
    unknown.dedup();
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
    let alerts = match alert {
        Some(rule) => raise_alerts(&transaction, &customers, rule).await?,
        None => Vec::new(),
    };
    transaction.commit().await?;
    let count = |column: usize| -> Result<u64, StoreError> {
        Ok(u64::try_from(row.try_get::<_, i64>(column)?).unwrap_or(0))
    };
    let (created, corrected) = (count(0)?, count(1)?);
    Ok(UsageOutcome::Recorded(UsageRecorded {
        created,
        corrected,
        unchanged: (days.len() as u64).saturating_sub(created + corrected),
        alerts,
    }))
}

/// The batch's customers past the rule's threshold this month without an alert yet: each gets
/// its `usage_alerts` row and a `spend_threshold` account event, in the batch's transaction.
async fn raise_alerts(
    transaction: &tokio_postgres::Transaction<'_>,
    customers: &[Uuid],
    rule: AlertRule,
) -> Result<Vec<SpendAlert>, StoreError> {
    let first = month_of(rule.month);
    let next = first
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(first);
    let percent = i32::try_from(rule.percent).unwrap_or(i32::MAX);
    let rows = transaction
        .query_typed(
            "WITH spend AS (                SELECT u.customer_id, sum(u.spend) AS spend FROM usage_daily u                 WHERE u.customer_id = ANY($1) AND u.day >= $2 AND u.day < $3                 GROUP BY u.customer_id),              raised AS (                INSERT INTO usage_alerts (customer_id, month, percent, spend, credit_limit)                SELECT s.customer_id, $2, $4, s.spend, c.credit_limit                  FROM spend s JOIN customers c ON c.id = s.customer_id                 WHERE c.credit_limit > 0 AND s.spend * 100 >= c.credit_limit * $4                ON CONFLICT (customer_id, month) DO NOTHING                RETURNING customer_id, spend, credit_limit),              events AS (                INSERT INTO account_events (id, event_id, customer_id, kind, details)                SELECT e.id, 'account-event:' || e.id, r.customer_id, 'spend_threshold',                       jsonb_build_object('spend', r.spend::text, 'credit_limit', r.credit_limit::text,                                          'percent', $4::text, 'month', to_char($2::date, 'YYYY-MM'))                  FROM raised r CROSS JOIN LATERAL (SELECT gen_random_uuid() AS id) e)              SELECT customer_id, spend, credit_limit FROM raised ORDER BY customer_id",
            &[
                (&customers, Type::UUID_ARRAY),
                (&first, Type::DATE),
                (&next, Type::DATE),
                (&percent, Type::INT4),
            ],
        )
        .await?;
    let money = |row: &Row, column: usize| -> Result<Money, StoreError> {
        Money::from_decimal(row.try_get(column)?)
            .map_err(|_| StoreError::Other("a usage alert's amount is out of range".into()))
    };
    rows.iter()
        .map(|row| {
            Ok(SpendAlert {
                customer_id: row.try_get(0)?,
                spend: money(row, 1)?,
                credit_limit: money(row, 2)?,
                percent: rule.percent,
            })
        })
        .collect()
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

/// A linked customer's company figures as computed now, and as last pushed.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerFigures {
    pub customer_id: Uuid,
    pub company_id: String,
    pub figures: warp_domain::usage::CompanyUsageFigures,
    pub pushed: Option<warp_domain::usage::CompanyUsageFigures>,
}

/// Up to `limit` customers linked to a company, after `after` (by id), with their figures for
/// `month` (any day of it) computed in the database: the month's minutes and spend, the
/// monthly cost of their numbers in service (MRR), the payment status from the balance and the
/// credit limit, the last day with usage; and the figures last pushed.
pub async fn figures_page(
    database: &Database,
    month: NaiveDate,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<CustomerFigures>, StoreError> {
    use warp_domain::usage::{CompanyUsageFigures, PaymentStatus};
    let first = month_of(month);
    let next = first
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(first);
    let client = database.client().await?;
    let rows = client
        .query_typed(
            "SELECT c.id, c.external_ids->>'hubspot_company_id', c.current_balance, c.credit_limit, \
               coalesce(u.minutes, 0)::int8, coalesce(u.spend, 0), u.days, \
               (SELECT max(day) FROM usage_daily WHERE customer_id = c.id), \
               coalesce((SELECT sum(monthly_cost) FROM phone_numbers \
                          WHERE customer_id = c.id AND status = 'active'), 0), p.figures \
             FROM customers c \
             LEFT JOIN LATERAL (SELECT sum(minutes) AS minutes, sum(spend) AS spend, \
                                       count(*)::int8 AS days \
                                  FROM usage_daily WHERE customer_id = c.id \
                                   AND day >= $1 AND day < $2) u ON true \
             LEFT JOIN usage_pushed p ON p.customer_id = c.id \
             WHERE c.external_ids ? 'hubspot_company_id' AND ($3::uuid IS NULL OR c.id > $3) \
             ORDER BY c.id LIMIT $4",
            &[
                (&first, Type::DATE),
                (&next, Type::DATE),
                (&after, Type::UUID),
                (&limit, Type::INT8),
            ],
        )
        .await?;
    let money = |row: &Row, column: usize| -> Result<Money, StoreError> {
        let decimal: Decimal = row.try_get(column)?;
        Ok(Money::from_decimal(decimal.round_dp(2)).unwrap_or(Money::ZERO))
    };
    rows.iter()
        .map(|row| {
            let totals = MonthToDate {
                month: first,
                days_reported: u32::try_from(row.try_get::<_, Option<i64>>(6)?.unwrap_or(0))
                    .unwrap_or(0),
                calls_completed: 0,
                minutes: row.try_get(4)?,
                sms_sent: 0,
                spend: money(row, 5)?,
                last_usage_date: None,
            };
            let payment = PaymentStatus::of(money(row, 2)?, money(row, 3)?);
            let pushed: Option<serde_json::Value> = row.try_get(9)?;
            Ok(CustomerFigures {
                customer_id: row.try_get(0)?,
                company_id: row.try_get(1)?,
                figures: CompanyUsageFigures::new(
                    &totals,
                    money(row, 8)?,
                    payment,
                    row.try_get(7)?,
                ),
                pushed: pushed.and_then(|value| serde_json::from_value(value).ok()),
            })
        })
        .collect()
}

/// Records figures as written to HubSpot.
pub async fn record_pushed(
    database: &Database,
    pushed: &[(Uuid, &warp_domain::usage::CompanyUsageFigures)],
) -> Result<(), StoreError> {
    if pushed.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = pushed.iter().map(|p| p.0).collect();
    let figures: Vec<serde_json::Value> = pushed
        .iter()
        .map(|p| serde_json::to_value(p.1).unwrap_or_default())
        .collect();
    let client = database.client().await?;
    client
        .execute_typed(
            "INSERT INTO usage_pushed (customer_id, figures) \
             SELECT * FROM unnest($1::uuid[], $2::jsonb[]) \
             ON CONFLICT (customer_id) DO UPDATE SET figures = EXCLUDED.figures, pushed_at = now()",
            &[(&ids, Type::UUID_ARRAY), (&figures, Type::JSONB_ARRAY)],
        )
        .await?;
    Ok(())
}

/// One daily usage push, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UsagePushRun {
    pub id: i64,
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    pub month: Option<NaiveDate>,
    pub customers_checked: i64,
    pub companies_written: i64,
    pub failed: i64,
    pub requests: i64,
    pub error: Option<String>,
}

/// Starts recording a run; answers its id.
pub async fn start_run(database: &Database, month: NaiveDate) -> Result<i64, StoreError> {
    let client = database.client().await?;
    let month = month_of(month);
    Ok(client
        .query_typed_one(
            "INSERT INTO usage_push_runs (month) VALUES ($1) RETURNING id",
            &[(&month, Type::DATE)],
        )
        .await?
        .try_get(0)?)
}

/// Records how a run ended.
pub async fn finish_run(database: &Database, run: &UsagePushRun) -> Result<(), StoreError> {
    let client = database.client().await?;
    let error = warp_domain::storable::storable_opt(run.error.as_deref());
    client
        .execute_typed(
            "UPDATE usage_push_runs SET finished_at = now(), customers_checked = $2, \
               companies_written = $3, failed = $4, requests = $5, error = $6 WHERE id = $1",
            &[
                (&run.id, Type::INT8),
                (&run.customers_checked, Type::INT8),
                (&run.companies_written, Type::INT8),
                (&run.failed, Type::INT8),
                (&run.requests, Type::INT8),
                (&error, Type::TEXT),
            ],
        )
        .await?;
    Ok(())
}

/// The newest runs first.
pub async fn recent_runs(database: &Database, limit: i64) -> Result<Vec<UsagePushRun>, StoreError> {
    let client = database.client().await?;
    client
        .query_typed(
            "SELECT id, started_at, finished_at, month, customers_checked, companies_written, \
               failed, requests, error FROM usage_push_runs ORDER BY id DESC LIMIT $1",
            &[(&limit.clamp(1, 100), Type::INT8)],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(UsagePushRun {
                id: row.try_get(0)?,
                started_at: row.try_get(1)?,
                finished_at: row.try_get(2)?,
                month: row.try_get(3)?,
                customers_checked: row.try_get(4)?,
                companies_written: row.try_get(5)?,
                failed: row.try_get(6)?,
                requests: row.try_get(7)?,
                error: row.try_get(8)?,
            })
        })
        .collect()
}

/// Records the daily usage note of `day` for every customer linked to a company with usage
/// that day: one `daily_usage` account event per customer and day (a second call adds none).
/// Answers how many were recorded.
pub async fn note_day(database: &Database, day: NaiveDate) -> Result<u64, StoreError> {
    let client = database.client().await?;
    Ok(client
        .execute_typed(
            "INSERT INTO account_events (id, event_id, customer_id, kind, occurred_at, details) \
             SELECT gen_random_uuid(), 'daily-usage:' || u.customer_id || ':' || u.day, \
                    u.customer_id, 'daily_usage', now(), \
                    jsonb_build_object('date', u.day::text, 'calls_completed', u.calls_completed::text, \
                                       'minutes', u.minutes::text, 'sms_sent', u.sms_sent::text, \
                                       'spend', u.spend::text) \
               FROM usage_daily u JOIN customers c ON c.id = u.customer_id \
              WHERE u.day = $1 AND c.external_ids ? 'hubspot_company_id' \
             ON CONFLICT (event_id) DO NOTHING",
            &[(&day, Type::DATE)],
        )
        .await?)
}
