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
use warp_domain::onboarding::{
    AfterFailure, OnboardingSource, OnboardingStatus, OnboardingStep, Progress,
};
use warp_domain::storable::storable;
use warp_domain::sync::{FieldValues, ObjectType};

use crate::customers::{self, COLUMNS as CUSTOMER_COLUMNS, customer_from_row, page_of};
use crate::{Database, StoreError, field_state, outbox};

const COLUMNS: &str = "id, portal_id, source, requested_by, hubspot_deal_id, hubspot_company_id, ban, \
                       customer_id, created_customer, step, status, attempts, last_error, parked_reason, \
                       next_attempt_at, lease_token, created_at, updated_at, completed_at";

/// How long a claimed onboarding is left to its runner before another may take it; renewed at
/// every step it records.
pub const LEASE: Duration = Duration::from_secs(120);

/// Fresh BANs tried for a company before giving up (a collision is already rare: 6.8e11 BANs).
const BAN_ATTEMPTS: usize = 16;

/// One onboarding (a won deal's, or a company's without a deal), as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Onboarding {
    pub id: Uuid,
    pub portal_id: i64,
    pub source: OnboardingSource,
    /// Who adopted the company (an adoption's API caller).
    pub requested_by: Option<String>,
    /// The won deal; `None` for a company taken by the rule or adopted.
    pub hubspot_deal_id: Option<String>,
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
    /// The claim's fence: the step records of this claim only (`None` when unclaimed).
    pub lease_token: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

fn from_row(row: &tokio_postgres::Row) -> Result<Onboarding, StoreError> {
    let corrupt =
        |column: &str| StoreError::Other(format!("stored onboarding has an invalid {column}"));
    let step: String = row.try_get("step")?;
    let status: String = row.try_get("status")?;
    let source: String = row.try_get("source")?;
    let ban: Option<String> = row.try_get("ban")?;
    Ok(Onboarding {
        id: row.try_get("id")?,
        portal_id: row.try_get("portal_id")?,
        source: source.parse().map_err(|_| corrupt("source"))?,
        requested_by: row.try_get("requested_by")?,
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
        lease_token: row.try_get("lease_token")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        completed_at: row.try_get("completed_at")?,
    })
}

impl Onboarding {
    /// What decides its next step (with what a step found added by the caller).
    pub fn progress(&self) -> Progress {
        Progress {
            customer_known: self.customer_id.is_some(),
            created_customer: self.created_customer,
            has_deal: self.hubspot_deal_id.is_some(),
        }
    }
}

/// Starts the onboarding of a company without a deal (taken by the company rule, or adopted
/// by `requested_by`), unless the company has one already; answers the new one, else `None`.
pub async fn start_for_company(
    client: &impl GenericClient,
    portal_id: i64,
    company_id: &str,
    source: OnboardingSource,
    requested_by: Option<&str>,
) -> Result<Option<Onboarding>, StoreError> {
    let sql = format!(
        "INSERT INTO onboardings (id, portal_id, source, requested_by, hubspot_company_id) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (portal_id, hubspot_company_id) WHERE hubspot_deal_id IS NULL DO NOTHING \
         RETURNING {COLUMNS}"
    );
    client
        .query_typed_opt(
            &sql,
            &[
                (&Uuid::now_v7(), Type::UUID),
                (&portal_id, Type::INT8),
                (&source.as_str(), Type::TEXT),
                (&requested_by, Type::TEXT),
                (&company_id, Type::TEXT),
            ],
        )
        .await?
        .map(|row| from_row(&row))
        .transpose()
}

/// The onboardings of a company not done yet (by deal or not), oldest first.
pub async fn unfinished_of_company(
    client: &impl GenericClient,
    portal_id: i64,
    company_id: &str,
) -> Result<Vec<Onboarding>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM onboardings WHERE portal_id = $1 AND hubspot_company_id = $2 \
           AND status <> 'DONE' ORDER BY id"
    );
    client
        .query_typed(&sql, &[(&portal_id, Type::INT8), (&company_id, Type::TEXT)])
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// The onboarding of a company without a deal (taken by the rule or adopted), if any.
pub async fn of_company_without_deal(
    client: &impl GenericClient,
    portal_id: i64,
    company_id: &str,
) -> Result<Option<Onboarding>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM onboardings WHERE portal_id = $1 AND hubspot_company_id = $2 \
           AND hubspot_deal_id IS NULL"
    );
    client
        .query_typed_opt(&sql, &[(&portal_id, Type::INT8), (&company_id, Type::TEXT)])
        .await?
        .map(|row| from_row(&row))
        .transpose()
}

/// Starts an onboarding for each of these deals that is stored as won and has none yet, in the
/// caller's transaction (the one storing the deals). A parked onboarding of a deal that
/// changed is due again: the change (a company associated, a close date set) may be what it
/// waited for; one that made no customer yet starts over at FIND_COMPANY, so a deal moved to
/// another company is onboarded to that one. Returns the onboardings started or woken.
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
               updated_at = now(), \
               step = CASE WHEN o.customer_id IS NULL THEN 'FIND_COMPANY' ELSE o.step END, \
               ban = CASE WHEN o.customer_id IS NULL THEN NULL ELSE o.ban END, \
               hubspot_company_id = CASE WHEN o.customer_id IS NULL THEN excluded.hubspot_company_id \
                                         ELSE o.hubspot_company_id END \
             WHERE o.status = 'PARKED'",
            &[
                (&portal_id, Type::INT8),
                (&hubspot_deal_ids, Type::TEXT_ARRAY),
                (&ids, Type::UUID_ARRAY),
            ],
        )
        .await?)
}

/// Takes the next due onboarding for [`LEASE`] (another runner leaves it alone until then),
/// counting an attempt at its current step, with a fresh fence token.
pub async fn claim_next(
    database: &Database,
    portal_id: i64,
) -> Result<Option<Onboarding>, StoreError> {
    let client = database.client().await?;
    let sql = format!(
        "UPDATE onboardings SET lease_until = now() + make_interval(secs => $2), \
           lease_token = gen_random_uuid(), attempts = attempts + 1, updated_at = now() \
         WHERE id = (SELECT id FROM onboardings WHERE portal_id = $1 AND status = 'PENDING' \
                       AND next_attempt_at <= now() AND (lease_until IS NULL OR lease_until < now()) \
                     ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
         RETURNING {COLUMNS}"
    );
    client
        .query_typed_opt(
            &sql,
            &[
                (&portal_id, Type::INT8),
                (&LEASE.as_secs_f64(), Type::FLOAT8),
            ],
        )
        .await?
        .map(|row| from_row(&row))
        .transpose()
}

/// What a finished step records besides the next step.
#[derive(Debug, Clone, Default)]
pub struct StepResult {
    pub company_id: Option<String>,
    pub ban: Option<Ban>,
    pub customer_id: Option<Uuid>,
    pub created_customer: bool,
}

/// Moves the claimed onboarding from its step to `to`, recording what the step found (values
/// given overwrite, absent ones stay) and renewing the lease. `Ok(None)` when the claim is no
/// longer the onboarding's (its lease ran out and another runner took it, or it was reset):
/// the caller stops.
pub async fn advance(
    client: &impl GenericClient,
    claimed: &Onboarding,
    to: OnboardingStep,
    result: &StepResult,
) -> Result<Option<Onboarding>, StoreError> {
    let (id, from, token) = (claimed.id, claimed.step, claimed.lease_token);
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
           completed_at = CASE WHEN $9 THEN now() END, \
           lease_until = CASE WHEN $9 THEN NULL ELSE now() + make_interval(secs => $11) END, \
           lease_token = CASE WHEN $9 THEN NULL ELSE lease_token END \
         WHERE id = $1 AND step = $2 AND status = 'PENDING' AND lease_token = $10 RETURNING {COLUMNS}"
    );
    let lease = LEASE.as_secs_f64();
    let params: [(&(dyn ToSql + Sync), Type); 11] = [
        (&id, Type::UUID),
        (&from.as_str(), Type::TEXT),
        (&to.as_str(), Type::TEXT),
        (&status.as_str(), Type::TEXT),
        (&result.company_id, Type::TEXT),
        (&ban, Type::TEXT),
        (&result.customer_id, Type::UUID),
        (&result.created_customer, Type::BOOL),
        (&done, Type::BOOL),
        (&token, Type::UUID),
        (&lease, Type::FLOAT8),
    ];
    client
        .query_typed_opt(&sql, &params)
        .await?
        .map(|row| from_row(&row))
        .transpose()
}

/// Records a failed attempt (the `attempts`-th) at the claimed onboarding's step: due again
/// later, or parked with the reason; `error` is kept in `last_error` either way. Nothing is
/// recorded when the claim is no longer the onboarding's.
pub async fn fail(
    database: &Database,
    claimed: &Onboarding,
    attempts: i32,
    error: &str,
    after: &AfterFailure,
) -> Result<(), StoreError> {
    let (id, step, token) = (claimed.id, claimed.step, claimed.lease_token);
    let client = database.client().await?;
    // Both texts may quote HubSpot's answers: outside text, stored NUL-free.
    let (status, retry_in, reason) = match after {
        AfterFailure::RetryIn(delay) => (OnboardingStatus::Pending, delay.as_secs_f64(), None),
        AfterFailure::Park(reason) => (OnboardingStatus::Parked, 0.0, Some(storable(reason))),
    };
    let error = storable(error);
    let reason = reason.as_deref();
    let error = error.as_ref();
    client
        .execute_typed(
            "UPDATE onboardings SET status = $3, last_error = $4, parked_reason = $5, \
               next_attempt_at = now() + make_interval(secs => $6), lease_until = NULL, \
               lease_token = NULL, attempts = $8, updated_at = now() \
             WHERE id = $1 AND step = $2 AND status = 'PENDING' AND lease_token = $7",
            &[
                (&id, Type::UUID),
                (&step.as_str(), Type::TEXT),
                (&status.as_str(), Type::TEXT),
                (&error, Type::TEXT),
                (&reason, Type::TEXT),
                (&retry_in, Type::FLOAT8),
                (&token, Type::UUID),
                (&attempts, Type::INT4),
            ],
        )
        .await?;
    Ok(())
}

/// Makes a parked (or waiting) onboarding due now, its attempts counted afresh. `Conflict`
/// when it is done already or a runner holds it now; `NotFound` when there is no such
/// onboarding in this portal.
pub async fn retry(
    database: &Database,
    portal_id: i64,
    id: Uuid,
) -> Result<Onboarding, StoreError> {
    let client = database.client().await?;
    let sql = format!(
        "UPDATE onboardings SET status = 'PENDING', attempts = 0, parked_reason = NULL, \
           next_attempt_at = now(), updated_at = now() \
         WHERE id = $1 AND portal_id = $2 AND (status = 'PARKED' \
           OR (status = 'PENDING' AND (lease_until IS NULL OR lease_until < now()))) \
         RETURNING {COLUMNS}"
    );
    match client
        .query_typed_opt(&sql, &[(&id, Type::UUID), (&portal_id, Type::INT8)])
        .await?
    {
        Some(row) => from_row(&row),
        None => match get(database, portal_id, id).await?.status {
            OnboardingStatus::Done => Err(StoreError::Conflict(
                "the onboarding is done already".into(),
            )),
            _ => Err(StoreError::Conflict(
                "a runner is executing the onboarding now; see its step in a moment".into(),
            )),
        },
    }
}

/// Gives up the company's reserved BAN (another HubSpot company or WARP customer turned out to
/// hold it) and sends the company's onboardings that made no customer back to FIND_COMPANY,
/// which reserves a fresh one. Answers the claimed onboarding as reset, for its runner to go
/// on with (its lease kept), or `None` when the claim is no longer its.
pub async fn release_reservation(
    database: &Database,
    claimed: &Onboarding,
    company_id: &str,
    ban: &Ban,
) -> Result<Option<Onboarding>, StoreError> {
    let mut client = database.client().await?;
    let transaction = client.transaction().await?;
    transaction
        .execute_typed(
            "DELETE FROM onboarding_company_bans WHERE portal_id = $1 AND hubspot_company_id = $2 AND ban = $3",
            &[
                (&claimed.portal_id, Type::INT8),
                (&company_id, Type::TEXT),
                (&ban.as_str(), Type::TEXT),
            ],
        )
        .await?;
    transaction
        .execute_typed(
            "UPDATE onboardings SET step = 'FIND_COMPANY', ban = NULL, updated_at = now() \
             WHERE portal_id = $1 AND hubspot_company_id = $2 AND customer_id IS NULL AND status <> 'DONE'",
            &[(&claimed.portal_id, Type::INT8), (&company_id, Type::TEXT)],
        )
        .await?;
    let sql = format!(
        "SELECT {COLUMNS} FROM onboardings WHERE id = $1 AND lease_token = $2 AND status = 'PENDING'"
    );
    let reset = transaction
        .query_typed_opt(
            &sql,
            &[
                (&claimed.id, Type::UUID),
                (&claimed.lease_token, Type::UUID),
            ],
        )
        .await?
        .map(|row| from_row(&row))
        .transpose()?;
    transaction.commit().await?;
    Ok(reset)
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
        let ban = reserved(row)?;
        // A customer made through the API since may have drawn the same BAN (it checks the
        // reservations too, but not under a lock): then this one is given up.
        let held = client
            .query_typed_opt(
                "SELECT 1 FROM customers WHERE ban = $1 AND external_ids->>'hubspot_company_id' IS DISTINCT FROM $2",
                &[(&ban.as_str(), Type::TEXT), (&company_id, Type::TEXT)],
            )
            .await?;
        if held.is_none() {
            return Ok(ban);
        }
        client
            .execute_typed(
                "DELETE FROM onboarding_company_bans WHERE portal_id = $1 AND hubspot_company_id = $2",
                &[(&portal_id, Type::INT8), (&company_id, Type::TEXT)],
            )
            .await?;
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

/// How step CREATE_CUSTOMER ended.
#[derive(Debug, Clone)]
pub enum CreateStep {
    /// The customer exists (made now or found), the onboarding moved on.
    Advanced(Box<(Onboarding, CompanyCustomer)>),
    /// The claim is no longer the onboarding's: nothing was written.
    LostClaim,
    /// The reserved BAN is held by a customer of another company: nothing was written.
    BanTaken,
    /// Nothing was written, for a person to look at.
    Refused(String),
}

/// Step CREATE_CUSTOMER, in one transaction: the deal checked still won (an onboarding may
/// back off for minutes after FIND_COMPANY), the customer linked to the company (made now from
/// `fields` with the reserved `ban`, or the one another onboarding made), the company's read
/// values recorded as HubSpot's side, the first push queued, and the onboarding moved on.
pub async fn create_company_customer(
    database: &Database,
    claimed: &Onboarding,
    company_id: &str,
    ban: &Ban,
    fields: &NewCustomer,
    company: (&FieldValues, DateTime<Utc>),
) -> Result<CreateStep, StoreError> {
    let (company_values, company_read_at) = company;
    let mut client = database.client().await?;
    let pooled = client.transaction().await?;
    let transaction: &tokio_postgres::Transaction<'_> = &pooled;
    if let Some(deal) = &claimed.hubspot_deal_id {
        let won: Option<bool> = transaction
            .query_typed_opt(
                "SELECT d.archived_at IS NULL AND coalesce(st.outcome, d.stage_outcome) = 'won' \
                 FROM deals d LEFT JOIN hubspot_pipeline_stages st ON st.portal_id = d.portal_id \
                   AND st.object_type = 'deals' AND st.pipeline_id = d.pipeline_id AND st.stage_id = d.stage_id \
                 WHERE d.portal_id = $1 AND d.hubspot_id = $2 FOR SHARE OF d",
                &[(&claimed.portal_id, Type::INT8), (&deal, Type::TEXT)],
            )
            .await?
            .map(|row| row.try_get(0))
            .transpose()?;
        if won != Some(true) {
            return Ok(CreateStep::Refused(
                "the deal is no longer won (or was deleted) in HubSpot; no customer was created"
                    .into(),
            ));
        }
    }
    let mut fields = fields.clone();
    fields.external_ids.hubspot_company_id = Some(company_id.to_owned());
    let outcome = match customers::insert(
        transaction,
        &fields,
        ban,
        customers::TakenWhen::BanOrCompany,
    )
    .await?
    {
        Some(customer) => {
            field_state::record(
                transaction,
                claimed.portal_id,
                ObjectType::Companies,
                customer.id,
                field_state::Side::HubSpot,
                company_values,
                company_read_at,
            )
            .await?;
            let outbox_id = customers::record_write(
                transaction,
                claimed.portal_id,
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
            Some(customer) if customer.is_deleted() => {
                return Ok(CreateStep::Refused(closed_customer(&customer)));
            }
            Some(customer) => CompanyCustomer {
                customer,
                created: false,
                outbox_id: None,
            },
            None => return Ok(CreateStep::BanTaken),
        },
    };
    let result = StepResult {
        customer_id: Some(outcome.customer.id),
        created_customer: outcome.created,
        ban: Some(outcome.customer.ban.clone()),
        company_id: Some(company_id.to_owned()),
    };
    let next = claimed.step.next(Progress {
        customer_known: true,
        created_customer: outcome.created || claimed.created_customer,
        has_deal: claimed.hubspot_deal_id.is_some(),
    });
    let Some(advanced) = advance(transaction, claimed, next, &result).await? else {
        return Ok(CreateStep::LostClaim);
    };
    pooled.commit().await?;
    Ok(CreateStep::Advanced(Box::new((advanced, outcome))))
}

/// Why a company whose customer was closed is left for a person: WARP never reopens a closed
/// account by itself, and the company stays linked to it.
pub fn closed_customer(customer: &Customer) -> String {
    format!(
        "the company's customer {} ({}) is closed in WARP; WARP does not reopen closed accounts \
         by itself, so this is left for a person",
        customer.id, customer.ban
    )
}
