//! `onboardings` and `onboarding_company_bans`: won deals on their way to a customer (the
//! steps are in `warp_domain::onboarding`). Started by the inbound processor when a stored deal
//! is won; claimed, advanced and failed by the runner (warp-sync); listed and retried through
//! the API.
//!
//! Every change of step is guarded by the step it leaves, so a runner whose lease ran out
//! cannot move an onboarding another runner has moved on.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use tokio_postgres::types::{ToSql, Type};
use uuid::Uuid;
use warp_domain::customer::{Ban, Customer, NewCustomer};
use warp_domain::onboarding::{AfterFailure, OnboardingStatus, OnboardingStep};
use warp_domain::sync::{FieldValues, ObjectType};

use crate::customers::{self, COLUMNS as CUSTOMER_COLUMNS, customer_from_row, page_of};
use crate::{Database, StoreError, field_state, outbox};

const COLUMNS: &str = "id, portal_id, hubspot_deal_id, hubspot_company_id, ban, customer_id, created_customer, \
                       step, status, attempts, last_error, parked_reason, next_attempt_at, created_at, \
                       updated_at, completed_at";

/// Fresh BANs tried for a company before giving up (a collision is already rare: 6.8e11 BANs).
const BAN_ATTEMPTS: usize = 16;

/// One won deal's onboarding, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Onboarding {
    pub id: Uuid,
    pub portal_id: i64,
    pub hubspot_deal_id: String,
    pub hubspot_company_id: Option<String>,
    pub ban: Option<Ban>,
    pub customer_id: Option<Uuid>,
    pub created_customer: bool,
    pub step: OnboardingStep,
    pub status: OnboardingStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub parked_reason: Option<String>,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

fn from_row(row: &tokio_postgres::Row) -> Result<Onboarding, StoreError> {
    let corrupt =
        |column: &str| StoreError::Other(format!("stored onboarding has an invalid {column}"));
    let step: String = row.try_get("step")?;
    let status: String = row.try_get("status")?;
    let ban: Option<String> = row.try_get("ban")?;
    Ok(Onboarding {
        id: row.try_get("id")?,
        portal_id: row.try_get("portal_id")?,
        hubspot_deal_id: row.try_get("hubspot_deal_id")?,
        hubspot_company_id: row.try_get("hubspot_company_id")?,
        ban: ban
            .map(|ban| Ban::parse(&ban))
            .transpose()
            .map_err(|_| corrupt("ban"))?,
        customer_id: row.try_get("customer_id")?,
        created_customer: row.try_get("created_customer")?,
        step: step.parse().map_err(|_| corrupt("step"))?,
        status: status.parse().map_err(|_| corrupt("status"))?,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
        parked_reason: row.try_get("parked_reason")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        completed_at: row.try_get("completed_at")?,
    })
}

/// Starts an onboarding for each of these deals that is stored as won and has none yet, in the
/// caller's transaction (the one storing the deals). A parked onboarding of a deal that
/// changed is due again: the change (a company associated, a close date set) may be what it
/// waited for. Returns the onboardings started or woken.
pub async fn start_for_won_deals(
    client: &impl GenericClient,
    portal_id: i64,
    hubspot_deal_ids: &[String],
) -> Result<u64, StoreError> {
    if hubspot_deal_ids.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = hubspot_deal_ids.iter().map(|_| Uuid::now_v7()).collect();
    Ok(client
        .execute_typed(
            "INSERT INTO onboardings AS o (id, portal_id, hubspot_deal_id, hubspot_company_id) \
             SELECT x.id, $1, d.hubspot_id, d.hubspot_company_id \
             FROM unnest($2::text[], $3::uuid[]) AS x(hubspot_id, id) \
             JOIN deals d ON d.portal_id = $1 AND d.hubspot_id = x.hubspot_id \
             LEFT JOIN hubspot_pipeline_stages st ON st.portal_id = d.portal_id \
               AND st.object_type = 'deals' AND st.pipeline_id = d.pipeline_id AND st.stage_id = d.stage_id \
             WHERE d.archived_at IS NULL AND coalesce(st.outcome, d.stage_outcome) = 'won' \
             ON CONFLICT (portal_id, hubspot_deal_id) DO UPDATE SET \
               status = 'PENDING', attempts = 0, parked_reason = NULL, next_attempt_at = now(), \
               updated_at = now() \
             WHERE o.status = 'PARKED'",
            &[
                (&portal_id, Type::INT8),
                (&hubspot_deal_ids, Type::TEXT_ARRAY),
                (&ids, Type::UUID_ARRAY),
            ],
        )
        .await?)
}

/// Takes up to `limit` due onboardings for `lease` (another runner leaves them alone until it
/// runs out), counting an attempt at each one's current step.
pub async fn claim_due(
    database: &Database,
    portal_id: i64,
    limit: i64,
    lease: Duration,
) -> Result<Vec<Onboarding>, StoreError> {
    let client = database.client().await?;
    let lease_secs = lease.as_secs_f64();
    let sql = format!(
        "UPDATE onboardings SET lease_until = now() + make_interval(secs => $3), attempts = attempts + 1, \
           updated_at = now() \
         WHERE id IN (SELECT id FROM onboardings WHERE portal_id = $1 AND status = 'PENDING' \
                        AND next_attempt_at <= now() AND (lease_until IS NULL OR lease_until < now()) \
                      ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) \
         RETURNING {COLUMNS}"
    );
    let mut claimed = client
        .query_typed(
            &sql,
            &[
                (&portal_id, Type::INT8),
                (&limit, Type::INT8),
                (&lease_secs, Type::FLOAT8),
            ],
        )
        .await?
        .iter()
        .map(from_row)
        .collect::<Result<Vec<_>, _>>()?;
    claimed.sort_by_key(|onboarding| onboarding.id);
    Ok(claimed)
}

/// What a finished step records besides the next step.
#[derive(Debug, Clone, Default)]
pub struct StepResult {
    pub company_id: Option<String>,
    pub ban: Option<Ban>,
    pub customer_id: Option<Uuid>,
    pub created_customer: bool,
}

/// Moves the onboarding from `from` to `to`, recording what the step found (values given
/// overwrite, absent ones stay). `Ok(None)` when it is no longer at `from` (another runner
/// moved it on): the caller stops.
pub async fn advance(
    client: &impl GenericClient,
    id: Uuid,
    from: OnboardingStep,
    to: OnboardingStep,
    result: &StepResult,
) -> Result<Option<Onboarding>, StoreError> {
    let done = to == OnboardingStep::Done;
    let status = if done {
        OnboardingStatus::Done
    } else {
        OnboardingStatus::Pending
    };
    let ban = result.ban.as_ref().map(|ban| ban.as_str());
    let sql = format!(
        "UPDATE onboardings SET step = $3, status = $4, attempts = 0, last_error = NULL, \
           parked_reason = NULL, hubspot_company_id = coalesce($5, hubspot_company_id), \
           ban = coalesce($6, ban), customer_id = coalesce($7, customer_id), \
           created_customer = created_customer OR $8, updated_at = now(), \
           completed_at = CASE WHEN $9 THEN now() END, lease_until = CASE WHEN $9 THEN NULL ELSE lease_until END \
         WHERE id = $1 AND step = $2 AND status = 'PENDING' RETURNING {COLUMNS}"
    );
    let params: [(&(dyn ToSql + Sync), Type); 9] = [
        (&id, Type::UUID),
        (&from.as_str(), Type::TEXT),
        (&to.as_str(), Type::TEXT),
        (&status.as_str(), Type::TEXT),
        (&result.company_id, Type::TEXT),
        (&ban, Type::TEXT),
        (&result.customer_id, Type::UUID),
        (&result.created_customer, Type::BOOL),
        (&done, Type::BOOL),
    ];
    client
        .query_typed_opt(&sql, &params)
        .await?
        .map(|row| from_row(&row))
        .transpose()
}

/// Records a failed attempt at `step`: due again later, or parked with the reason. `error` is
/// what failed (kept in `last_error` either way).
pub async fn fail(
    database: &Database,
    id: Uuid,
    step: OnboardingStep,
    error: &str,
    after: &AfterFailure,
) -> Result<(), StoreError> {
    let client = database.client().await?;
    let (status, retry_in, reason) = match after {
        AfterFailure::RetryIn(delay) => (OnboardingStatus::Pending, delay.as_secs_f64(), None),
        AfterFailure::Park(reason) => (OnboardingStatus::Parked, 0.0, Some(reason.as_str())),
    };
    client
        .execute_typed(
            "UPDATE onboardings SET status = $3, last_error = $4, parked_reason = $5, \
               next_attempt_at = now() + make_interval(secs => $6), lease_until = NULL, updated_at = now() \
             WHERE id = $1 AND step = $2 AND status = 'PENDING'",
            &[
                (&id, Type::UUID),
                (&step.as_str(), Type::TEXT),
                (&status.as_str(), Type::TEXT),
                (&error, Type::TEXT),
                (&reason, Type::TEXT),
                (&retry_in, Type::FLOAT8),
            ],
        )
        .await?;
    Ok(())
}

/// Makes a parked (or waiting) onboarding due now, its attempts counted afresh. `Conflict`
/// when it is done already; `NotFound` when there is no such onboarding in this portal.
pub async fn retry(
    database: &Database,
    portal_id: i64,
    id: Uuid,
) -> Result<Onboarding, StoreError> {
    let client = database.client().await?;
    let sql = format!(
        "UPDATE onboardings SET status = 'PENDING', attempts = 0, parked_reason = NULL, \
           next_attempt_at = now(), lease_until = NULL, updated_at = now() \
         WHERE id = $1 AND portal_id = $2 AND status <> 'DONE' RETURNING {COLUMNS}"
    );
    match client
        .query_typed_opt(&sql, &[(&id, Type::UUID), (&portal_id, Type::INT8)])
        .await?
    {
        Some(row) => from_row(&row),
        None => {
            get(database, portal_id, id).await?;
            Err(StoreError::Conflict(
                "the onboarding is done already".into(),
            ))
        }
    }
}

pub async fn get(database: &Database, portal_id: i64, id: Uuid) -> Result<Onboarding, StoreError> {
    let client = database.client().await?;
    let sql = format!("SELECT {COLUMNS} FROM onboardings WHERE id = $1 AND portal_id = $2");
    client
        .query_typed_opt(&sql, &[(&id, Type::UUID), (&portal_id, Type::INT8)])
        .await?
        .map(|row| from_row(&row))
        .transpose()?
        .ok_or(StoreError::NotFound)
}

/// The onboarding of one deal, if it has one.
pub async fn of_deal(
    database: &Database,
    portal_id: i64,
    hubspot_deal_id: &str,
) -> Result<Option<Onboarding>, StoreError> {
    let client = database.client().await?;
    let sql =
        format!("SELECT {COLUMNS} FROM onboardings WHERE portal_id = $1 AND hubspot_deal_id = $2");
    client
        .query_typed_opt(
            &sql,
            &[(&portal_id, Type::INT8), (&hubspot_deal_id, Type::TEXT)],
        )
        .await?
        .map(|row| from_row(&row))
        .transpose()
}

/// What `GET /v1/onboardings` filters by.
#[derive(Debug, Clone, Default)]
pub struct OnboardingQuery {
    pub status: Option<OnboardingStatus>,
    pub after: Option<Uuid>,
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OnboardingPage {
    pub items: Vec<Onboarding>,
    pub next_cursor: Option<String>,
}

/// One page of onboardings, oldest first.
pub async fn list(
    database: &Database,
    portal_id: i64,
    query: &OnboardingQuery,
) -> Result<OnboardingPage, StoreError> {
    let limit = i64::from(query.limit.clamp(1, 100));
    let fetch = limit + 1;
    let status = query.status.map(OnboardingStatus::as_str);
    let sql = format!(
        "SELECT {COLUMNS} FROM onboardings WHERE portal_id = $1 \
           AND ($2::text IS NULL OR status = $2) AND ($3::uuid IS NULL OR id > $3) \
         ORDER BY id LIMIT $4"
    );
    let client = database.client().await?;
    let rows = client
        .query_typed(
            &sql,
            &[
                (&portal_id, Type::INT8),
                (&status, Type::TEXT),
                (&query.after, Type::UUID),
                (&fetch, Type::INT8),
            ],
        )
        .await?;
    let (items, next_cursor) = page_of(&rows, from_row, limit, |o| o.id)?;
    Ok(OnboardingPage { items, next_cursor })
}

/// How many onboardings of the portal are in each status (for the status page and tests).
pub async fn counts(
    database: &Database,
    portal_id: i64,
) -> Result<Vec<(OnboardingStatus, i64)>, StoreError> {
    let client = database.client().await?;
    client
        .query_typed(
            "SELECT status, count(*) FROM onboardings WHERE portal_id = $1 GROUP BY status ORDER BY status",
            &[(&portal_id, Type::INT8)],
        )
        .await?
        .iter()
        .map(|row| {
            let status: String = row.try_get(0)?;
            let status = status
                .parse()
                .map_err(|_| StoreError::Other("stored onboarding has an invalid status".into()))?;
            Ok((status, row.try_get(1)?))
        })
        .collect()
}

/// The customer linked to this HubSpot company, deleted or not.
pub async fn customer_of_company(
    client: &impl GenericClient,
    company_id: &str,
) -> Result<Option<Customer>, StoreError> {
    let sql = format!(
        "SELECT {CUSTOMER_COLUMNS} FROM customers \
         WHERE external_ids ? 'hubspot_company_id' AND external_ids->>'hubspot_company_id' = $1"
    );
    client
        .query_typed_opt(&sql, &[(&company_id, Type::TEXT)])
        .await?
        .map(|row| customer_from_row(&row))
        .transpose()
}

/// The BAN reserved for the company's future customer: the one reserved before (by this or
/// another deal of the company), else the first of `next_ban` no customer or company holds.
pub async fn reserve_company_ban(
    client: &impl GenericClient,
    portal_id: i64,
    company_id: &str,
    mut next_ban: impl FnMut() -> Ban + Send,
) -> Result<Ban, StoreError> {
    let reserved = |row: tokio_postgres::Row| -> Result<Ban, StoreError> {
        let text: String = row.try_get(0)?;
        Ban::parse(&text).map_err(|_| StoreError::Other("a reserved BAN is invalid".into()))
    };
    let existing = client
        .query_typed_opt(
            "SELECT ban FROM onboarding_company_bans WHERE portal_id = $1 AND hubspot_company_id = $2",
            &[(&portal_id, Type::INT8), (&company_id, Type::TEXT)],
        )
        .await?;
    if let Some(row) = existing {
        return reserved(row);
    }
    for _ in 0..BAN_ATTEMPTS {
        let candidate = next_ban();
        // ON CONFLICT without a target: a company reserved meanwhile by another deal's
        // onboarding, or a BAN taken, both insert nothing; the read below tells which.
        client
            .execute_typed(
                "INSERT INTO onboarding_company_bans (portal_id, hubspot_company_id, ban) \
                 SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM customers WHERE ban = $3) \
                 ON CONFLICT DO NOTHING",
                &[
                    (&portal_id, Type::INT8),
                    (&company_id, Type::TEXT),
                    (&candidate.as_str(), Type::TEXT),
                ],
            )
            .await?;
        let row = client
            .query_typed_opt(
                "SELECT ban FROM onboarding_company_bans WHERE portal_id = $1 AND hubspot_company_id = $2",
                &[(&portal_id, Type::INT8), (&company_id, Type::TEXT)],
            )
            .await?;
        if let Some(row) = row {
            return reserved(row);
        }
    }
    Err(StoreError::Conflict("no free BAN found".into()))
}

/// What creating the company's customer came to.
#[derive(Debug, Clone)]
pub struct CompanyCustomer {
    pub customer: Customer,
    /// False when the company had a customer already (another deal's onboarding made it).
    pub created: bool,
    /// The outbox row of the new customer's first push, to publish after the commit.
    pub outbox_id: Option<i64>,
}

/// Step CREATE_CUSTOMER, in one transaction: the customer linked to the company (made now
/// from `fields` with the reserved `ban`, or the one another onboarding made), the company's
/// read values recorded as HubSpot's side, the first push queued, and the onboarding moved to
/// `next`. `Ok(None)` when the onboarding had moved on already.
#[allow(clippy::too_many_arguments)] // one step's inputs, each needed in its one transaction
pub async fn create_company_customer(
    database: &Database,
    onboarding: &Onboarding,
    company_id: &str,
    ban: &Ban,
    fields: &NewCustomer,
    company_values: &FieldValues,
    company_read_at: DateTime<Utc>,
    next: OnboardingStep,
) -> Result<Option<(Onboarding, CompanyCustomer)>, StoreError> {
    let mut client = database.client().await?;
    let pooled = client.transaction().await?;
    let transaction: &tokio_postgres::Transaction<'_> = &pooled;
    let mut fields = fields.clone();
    fields.external_ids.hubspot_company_id = Some(company_id.to_owned());
    let outcome = match customers::insert(transaction, &fields, ban).await? {
        Some(customer) => {
            field_state::record(
                transaction,
                onboarding.portal_id,
                ObjectType::Companies,
                customer.id,
                field_state::Side::HubSpot,
                company_values,
                company_read_at,
            )
            .await?;
            let outbox_id = customers::record_write(
                transaction,
                onboarding.portal_id,
                &customer,
                outbox::OutboxOperation::Create,
            )
            .await?;
            CompanyCustomer {
                customer,
                created: true,
                outbox_id: Some(outbox_id),
            }
        }
        None => match customer_of_company(transaction, company_id).await? {
            Some(customer) => CompanyCustomer {
                customer,
                created: false,
                outbox_id: None,
            },
            None => {
                return Err(StoreError::Conflict(format!(
                    "the BAN {ban} reserved for the company is held by another customer"
                )));
            }
        },
    };
    let result = StepResult {
        customer_id: Some(outcome.customer.id),
        created_customer: outcome.created,
        ban: Some(outcome.customer.ban.clone()),
        company_id: Some(company_id.to_owned()),
    };
    let Some(advanced) = advance(
        transaction,
        onboarding.id,
        OnboardingStep::CreateCustomer,
        next,
        &result,
    )
    .await?
    else {
        return Ok(None);
    };
    pooled.commit().await?;
    Ok(Some((advanced, outcome)))
}
