//! The users repository (`users`, migration V7): a customer's logins. Creates honour an
//! Idempotency-Key like customers'; updates and disables are guarded by the version
//! (If-Match); an email is unique per customer. Every write queues the user's contact push in
//! its own transaction, as a customer write queues its company's (guarantee 1).

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::{ToSql, Type};
use uuid::Uuid;
use warp_domain::customer::Phone;
use warp_domain::user::{NewUser, PersonText, User, UserEmail, UserPatch, UserRole, UserStatus};

use crate::customers::{Written, page_of};
use crate::field_state::{self, Side};
use crate::idempotency::{self, Claim, IdempotentRequest, StoredResponse};
use crate::inbound::InvalidFieldValue;
use crate::outbox::{self, OutboxOperation};
use crate::{Database, StoreError};
use warp_domain::sync::{ObjectType, WarpField, user_field_values};

const COLUMNS: &str = "id, customer_id, email, first_name, last_name, phone, job_title, role, status, \
     two_factor_enabled, last_login_at, api_key_count, last_api_call_at, version, created_at, updated_at";

/// What a create did: a new user (with the answer kept for replays), or the replay of the
/// first request with the same Idempotency-Key.
#[derive(Debug)]
pub enum CreatedUser {
    /// The user, the answer kept for replays, and the outbox row of its contact push.
    New(Box<User>, Option<StoredResponse>, i64),
    Replayed(StoredResponse),
}

/// Renders the answer a create keeps for its key's replays.
pub type RenderUser = dyn Fn(&User) -> StoredResponse + Sync;

/// One page of users, by id.
#[derive(Debug, Default)]
pub struct UserPage {
    pub items: Vec<User>,
    pub next_cursor: Option<String>,
}

/// Which users to list: a customer's, or everyone with an email (any customer).
#[derive(Debug, Clone)]
pub struct UserQuery {
    pub customer_id: Option<Uuid>,
    pub email: Option<UserEmail>,
    /// Only users with an id above this one (a decoded cursor).
    pub after: Option<Uuid>,
    pub limit: u32,
}

/// What [`UserStore::move_to`] did.
#[derive(Debug)]
pub enum UserMove {
    /// The user, now of the customer, and its contact push (none when it already was).
    Moved(Box<Written<User>>),
    /// The customer to move to does not exist.
    NoSuchCustomer,
}

#[derive(Clone, Debug)]
pub struct UserStore {
    database: Database,
    /// The HubSpot portal whose contacts the writes are queued for.
    portal_id: i64,
    /// Who writes through this store: each write is recorded in the audit log under it.
    actor: Option<crate::audit::Actor>,
}

impl UserStore {
    pub fn new(database: Database, portal_id: i64) -> Self {
        UserStore {
            database,
            portal_id,
            actor: None,
        }
    }

    /// This store with its writes audited under `actor` (the API's writes).
    pub fn with_actor(&self, actor: crate::audit::Actor) -> Self {
        UserStore {
            actor: Some(actor),
            ..self.clone()
        }
    }

    /// Creates a user of `customer_id`: 404 when there is no such customer, a conflict when it
    /// is deleted or another of its users has the email.
    pub async fn create(
        &self,
        customer_id: Uuid,
        new: &NewUser,
        idempotency: Option<(&IdempotentRequest, &RenderUser)>,
    ) -> Result<CreatedUser, StoreError> {
        let mut client = self.database.client().await?;
        let transaction = client.transaction().await?;
        if let Some((request, _)) = idempotency
            && let Claim::Replay(stored) = idempotency::claim(&transaction, request).await?
        {
            return Ok(CreatedUser::Replayed(stored));
        }
        crate::customers::lock_live(&*transaction, customer_id).await?;
        let user = insert(&*transaction, customer_id, new).await?;
        crate::audit::record_change(
            &*transaction,
            self.actor.as_ref(),
            crate::audit::EntityType::User,
            user.id,
            "create",
            None,
            &user,
            crate::audit::user_fields,
        )
        .await?;
        let outbox_id =
            record_write(&transaction, self.portal_id, &user, OutboxOperation::Create).await?;
        let stored = match idempotency {
            Some((request, render)) => {
                let response = render(&user);
                idempotency::complete(&transaction, request, &response).await?;
                Some(response)
            }
            None => None,
        };
        transaction.commit().await?;
        Ok(CreatedUser::New(Box::new(user), stored, outbox_id))
    }

    pub async fn get(&self, id: Uuid) -> Result<User, StoreError> {
        let client = self.database.client().await?;
        let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
        let row = client
            .query_typed_opt(&sql, &[(&id, Type::UUID)])
            .await?
            .ok_or(StoreError::NotFound)?;
        user_from_row(&row)
    }

    /// A page of users by id; a customer's list is 404 when the customer does not exist.
    pub async fn list(&self, query: &UserQuery) -> Result<UserPage, StoreError> {
        let client = self.database.client().await?;
        if let Some(customer_id) = query.customer_id {
            crate::customers::ensure_exists(&**client, customer_id).await?;
        }
        let after = query.after;
        let limit = i64::from(query.limit.clamp(1, 100));
        let fetch = limit + 1;
        let email = query.email.as_ref().map(UserEmail::as_str);
        let sql = format!(
            "SELECT {COLUMNS} FROM users \
             WHERE ($1::uuid IS NULL OR customer_id = $1) AND ($2::text IS NULL OR email = $2) \
               AND ($3::uuid IS NULL OR id > $3) \
             ORDER BY id LIMIT $4"
        );
        let rows = client
            .query_typed(
                &sql,
                &[
                    (&query.customer_id, Type::UUID),
                    (&email, Type::TEXT),
                    (&after, Type::UUID),
                    (&fetch, Type::INT8),
                ],
            )
            .await?;
        let (items, next_cursor) = page_of(&rows, user_from_row, limit, |user| user.id)?;
        Ok(UserPage { items, next_cursor })
    }

    /// Applies a merge-patch when `expected_version` (If-Match) is the stored one or absent;
    /// an unchanged user keeps its version (and queues nothing).
    pub async fn update(
        &self,
        id: Uuid,
        expected_version: Option<i64>,
        patch: &UserPatch,
    ) -> Result<Written<User>, StoreError> {
        let mut client = self.database.client().await?;
        let transaction = client.transaction().await?;
        let current = lock_expecting(&transaction, id, expected_version).await?;
        let after = patch.apply_to(&current);
        if after == writable(&current) {
            return Ok(Written {
                value: current,
                outbox_id: None,
            });
        }
        let values = UserValues::of(&after);
        let sql = format!(
            "UPDATE users SET email = $2, first_name = $3, last_name = $4, phone = $5, job_title = $6, \
             role = $7, status = $8, two_factor_enabled = $9, version = version + 1, updated_at = now() \
             WHERE id = $1 RETURNING {COLUMNS}"
        );
        let mut params: Vec<(&(dyn ToSql + Sync), Type)> = vec![(&id, Type::UUID)];
        params.extend(values.params());
        let row = transaction
            .query_typed_one(&sql, &params)
            .await
            .map_err(email_taken)?;
        let user = user_from_row(&row)?;
        crate::audit::record_change(
            &*transaction,
            self.actor.as_ref(),
            crate::audit::EntityType::User,
            user.id,
            "update",
            Some(&current),
            &user,
            crate::audit::user_fields,
        )
        .await?;
        let outbox_id =
            record_write(&transaction, self.portal_id, &user, OutboxOperation::Update).await?;
        transaction.commit().await?;
        Ok(Written {
            value: user,
            outbox_id: Some(outbox_id),
        })
    }

    /// Moves the user to another customer (version + 1) and queues its contact push: the
    /// contact is associated with the new customer's company as primary and its association
    /// with the old one removed (see the contacts adapter). Moving to its own customer changes
    /// nothing. A deleted customer is a `Conflict`, as is an email the new customer's users
    /// already have.
    pub async fn move_to(
        &self,
        id: Uuid,
        expected_version: Option<i64>,
        customer_id: Uuid,
    ) -> Result<UserMove, StoreError> {
        let mut client = self.database.client().await?;
        let transaction = client.transaction().await?;
        let current = lock_expecting(&transaction, id, expected_version).await?;
        // FOR SHARE: a concurrent delete of the customer waits for this move, or this waits.
        let Some(target) = transaction
            .query_typed_opt(
                "SELECT deleted_at FROM customers WHERE id = $1 FOR SHARE",
                &[(&customer_id, Type::UUID)],
            )
            .await?
        else {
            return Ok(UserMove::NoSuchCustomer);
        };
        if target.try_get::<_, Option<DateTime<Utc>>>(0)?.is_some() {
            return Err(StoreError::Conflict("the customer is deleted".into()));
        }
        if current.customer_id == customer_id {
            return Ok(UserMove::Moved(Box::new(Written {
                value: current,
                outbox_id: None,
            })));
        }
        let sql = format!(
            "UPDATE users SET customer_id = $2, version = version + 1, updated_at = now() \
             WHERE id = $1 RETURNING {COLUMNS}"
        );
        let row = transaction
            .query_typed_one(&sql, &[(&id, Type::UUID), (&customer_id, Type::UUID)])
            .await
            .map_err(email_taken)?;
        let user = user_from_row(&row)?;
        crate::audit::record_change(
            &*transaction,
            self.actor.as_ref(),
            crate::audit::EntityType::User,
            user.id,
            "move",
            Some(&current),
            &user,
            crate::audit::user_fields,
        )
        .await?;
        let outbox_id =
            record_write(&transaction, self.portal_id, &user, OutboxOperation::Update).await?;
        transaction.commit().await?;
        Ok(UserMove::Moved(Box::new(Written {
            value: user,
            outbox_id: Some(outbox_id),
        })))
    }
}

/// Locks the user for a write; `VersionMismatch` when it is not at `expected_version`.
async fn lock_expecting(
    transaction: &tokio_postgres::Transaction<'_>,
    id: Uuid,
    expected_version: Option<i64>,
) -> Result<User, StoreError> {
    let current = lock(transaction, id).await?.ok_or(StoreError::NotFound)?;
    match expected_version {
        Some(expected) if expected != current.version => Err(StoreError::VersionMismatch {
            current: current.version,
        }),
        _ => Ok(current),
    }
}

/// Inserts a user of `customer_id` (the caller checked the customer).
async fn insert(
    client: &impl tokio_postgres::GenericClient,
    customer_id: Uuid,
    new: &NewUser,
) -> Result<User, StoreError> {
    let sql = format!(
        "INSERT INTO users (id, customer_id, email, first_name, last_name, phone, job_title, role, status, two_factor_enabled) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {COLUMNS}"
    );
    let id = Uuid::now_v7();
    let values = UserValues::of(new);
    let mut params: Vec<(&(dyn ToSql + Sync), Type)> =
        vec![(&id, Type::UUID), (&customer_id, Type::UUID)];
    params.extend(values.params());
    let row = client
        .query_typed_one(&sql, &params)
        .await
        .map_err(email_taken)?;
    user_from_row(&row)
}

/// A user created from HubSpot (a contact created there for a linked company): `invited`, so
/// it cannot log in until WARP enables it, with the least role. Its contact push is queued
/// with it (the contact gains its `warp_user_id`). `Ok(None)` when the customer already has a
/// user with the email.
pub async fn create_invited(
    transaction: &tokio_postgres::Transaction<'_>,
    portal_id: i64,
    customer_id: Uuid,
    new: &NewUser,
) -> Result<Option<User>, StoreError> {
    let taken = transaction
        .query_typed_opt(
            "SELECT 1 FROM users WHERE customer_id = $1 AND email = $2",
            &[
                (&customer_id, Type::UUID),
                (&new.email.as_str(), Type::TEXT),
            ],
        )
        .await?;
    if taken.is_some() {
        return Ok(None);
    }
    let user = insert(transaction, customer_id, new).await?;
    record_write(transaction, portal_id, &user, OutboxOperation::Create).await?;
    Ok(Some(user))
}

/// These users' versions, locked (an import links them and queues their pushes).
pub async fn versions(
    client: &impl tokio_postgres::GenericClient,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, i64)>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    client
        .query_typed(
            "SELECT id, version FROM users WHERE id = ANY($1) ORDER BY id FOR UPDATE",
            &[(&ids, Type::UUID_ARRAY)],
        )
        .await?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}

/// One user, read on `client`.
pub async fn find(
    client: &impl tokio_postgres::GenericClient,
    id: Uuid,
) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    client
        .query_typed_opt(&sql, &[(&id, Type::UUID)])
        .await?
        .map(|row| user_from_row(&row))
        .transpose()
}

/// Locks one user for an inbound change.
pub async fn lock(
    client: &impl tokio_postgres::GenericClient,
    id: Uuid,
) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1 FOR UPDATE");
    client
        .query_typed_opt(&sql, &[(&id, Type::UUID)])
        .await?
        .map(|row| user_from_row(&row))
        .transpose()
}

/// `current` with the contact field `field` set to `value` (canonical text, `None` for no
/// value) as its next version. Only what both sides edit can come from HubSpot: the names, the
/// phone and the job title; the login email, the role and WARP's facts are WARP's.
pub fn user_with_field(
    current: &User,
    field: WarpField,
    value: Option<&str>,
) -> Result<User, InvalidFieldValue> {
    let invalid = |reason: &str| InvalidFieldValue {
        field,
        reason: reason.to_owned(),
    };
    let text = |value: Option<&str>| {
        value
            .map(PersonText::parse)
            .transpose()
            .map_err(|e| invalid(e.0))
    };
    let mut next = current.clone();
    match field {
        WarpField::FirstName => next.first_name = text(value)?,
        WarpField::LastName => next.last_name = text(value)?,
        WarpField::JobTitle => next.job_title = text(value)?,
        WarpField::Phone => {
            next.phone = value
                .map(Phone::parse)
                .transpose()
                .map_err(|e| invalid(e.0))?
        }
        _ => return Err(invalid("it is set by WARP")),
    }
    next.version = current.version + 1;
    Ok(next)
}

/// Stores the HubSpot-writable fields of these users at their (already advanced) versions in
/// one statement; returns them as stored. No outbox row: HubSpot already holds these values.
pub async fn write_inbound(
    client: &impl tokio_postgres::GenericClient,
    users: &[User],
) -> Result<Vec<User>, StoreError> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
    let text = |f: fn(&User) -> Option<&PersonText>| -> Vec<Option<&str>> {
        users.iter().map(|u| f(u).map(PersonText::as_str)).collect()
    };
    let first = text(|u| u.first_name.as_ref());
    let last = text(|u| u.last_name.as_ref());
    let titles = text(|u| u.job_title.as_ref());
    let phones: Vec<Option<&str>> = users
        .iter()
        .map(|u| u.phone.as_ref().map(Phone::as_str))
        .collect();
    let versions: Vec<i64> = users.iter().map(|u| u.version).collect();
    let returning = crate::qualified(COLUMNS, "t");
    let sql = format!(
        "UPDATE users t SET first_name = u.first_name, last_name = u.last_name, phone = u.phone, \
           job_title = u.job_title, version = u.version, updated_at = now() \
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[]) \
           AS u(id, first_name, last_name, phone, job_title, version) \
         WHERE t.id = u.id RETURNING {returning}"
    );
    client
        .query_typed(
            &sql,
            &[
                (&ids, Type::UUID_ARRAY),
                (&first, Type::TEXT_ARRAY),
                (&last, Type::TEXT_ARRAY),
                (&phones, Type::TEXT_ARRAY),
                (&titles, Type::TEXT_ARRAY),
                (&versions, Type::INT8_ARRAY),
            ],
        )
        .await?
        .iter()
        .map(user_from_row)
        .collect()
}

/// What every user write adds in its own transaction: WARP's side of the contact's field state
/// and the outbox row; returns the outbox id.
async fn record_write(
    transaction: &tokio_postgres::Transaction<'_>,
    portal_id: i64,
    user: &User,
    operation: OutboxOperation,
) -> Result<i64, StoreError> {
    field_state::record(
        transaction,
        portal_id,
        ObjectType::Contacts,
        user.id,
        Side::Warp,
        &user_field_values(user),
        user.updated_at,
    )
    .await?;
    outbox::enqueue(
        transaction,
        portal_id,
        ObjectType::Contacts,
        user.id,
        operation,
        user.version,
    )
    .await
}

/// A user as its contact push needs it: the user and its customer's HubSpot company (the
/// contact's primary association), if the customer is linked.
#[derive(Debug, Clone)]
pub struct UserForSync {
    pub user: User,
    pub company_id: Option<String>,
}

/// These users (absent ids are left out) with their customers' company links, in one query.
pub async fn load_for_sync(
    client: &impl tokio_postgres::GenericClient,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, UserForSync>, StoreError> {
    let ids = ids.to_vec();
    let columns = crate::qualified(COLUMNS, "u");
    let sql = format!(
        "SELECT {columns}, c.external_ids->>'hubspot_company_id' AS company_id \
         FROM users u JOIN customers c ON c.id = u.customer_id WHERE u.id = ANY($1)"
    );
    client
        .query_typed(&sql, &[(&ids, Type::UUID_ARRAY)])
        .await?
        .iter()
        .map(|row| {
            let user = user_from_row(row)?;
            Ok((
                user.id,
                UserForSync {
                    user,
                    company_id: row.try_get("company_id")?,
                },
            ))
        })
        .collect()
}

/// A user's writable fields, as stored.
fn writable(user: &User) -> NewUser {
    NewUser {
        email: user.email.clone(),
        first_name: user.first_name.clone(),
        last_name: user.last_name.clone(),
        phone: user.phone.clone(),
        job_title: user.job_title.clone(),
        role: user.role,
        status: user.status,
        two_factor_enabled: user.two_factor_enabled,
    }
}

/// The writable fields as SQL parameters, in the order of the INSERT and UPDATE above.
struct UserValues<'a> {
    email: &'a str,
    first_name: Option<&'a str>,
    last_name: Option<&'a str>,
    phone: Option<&'a str>,
    job_title: Option<&'a str>,
    role: &'static str,
    status: &'static str,
    two_factor_enabled: bool,
}

impl<'a> UserValues<'a> {
    fn of(user: &'a NewUser) -> Self {
        UserValues {
            email: user.email.as_str(),
            first_name: user.first_name.as_ref().map(PersonText::as_str),
            last_name: user.last_name.as_ref().map(PersonText::as_str),
            phone: user.phone.as_ref().map(Phone::as_str),
            job_title: user.job_title.as_ref().map(PersonText::as_str),
            role: user.role.as_str(),
            status: user.status.as_str(),
            two_factor_enabled: user.two_factor_enabled,
        }
    }

    fn params(&self) -> [(&(dyn ToSql + Sync), Type); 8] {
        [
            (&self.email, Type::TEXT),
            (&self.first_name, Type::TEXT),
            (&self.last_name, Type::TEXT),
            (&self.phone, Type::TEXT),
            (&self.job_title, Type::TEXT),
            (&self.role, Type::TEXT),
            (&self.status, Type::TEXT),
            (&self.two_factor_enabled, Type::BOOL),
        ]
    }
}

/// The per-customer email constraint, said plainly; other errors as usual.
fn email_taken(error: tokio_postgres::Error) -> StoreError {
    let taken = error
        .as_db_error()
        .and_then(|db| db.constraint())
        .is_some_and(|constraint| constraint == "users_email_per_customer");
    if taken {
        StoreError::Conflict("another user of this customer has this email".into())
    } else {
        error.into()
    }
}

fn corrupt(column: &str) -> StoreError {
    StoreError::Other(format!("stored user has an invalid {column}"))
}

fn user_from_row(row: &Row) -> Result<User, StoreError> {
    let optional = |column: &str| -> Result<Option<PersonText>, StoreError> {
        let text: Option<String> = row.try_get(column)?;
        text.map(|t| PersonText::parse(&t))
            .transpose()
            .map_err(|_| corrupt(column))
    };
    let email: String = row.try_get("email")?;
    let phone: Option<String> = row.try_get("phone")?;
    let role: String = row.try_get("role")?;
    let status: String = row.try_get("status")?;
    Ok(User {
        id: row.try_get("id")?,
        customer_id: row.try_get("customer_id")?,
        email: UserEmail::parse(&email).map_err(|_| corrupt("email"))?,
        first_name: optional("first_name")?,
        last_name: optional("last_name")?,
        phone: phone
            .map(|p| Phone::parse(&p))
            .transpose()
            .map_err(|_| corrupt("phone"))?,
        job_title: optional("job_title")?,
        role: UserRole::parse(&role).map_err(|_| corrupt("role"))?,
        status: UserStatus::parse(&status).map_err(|_| corrupt("status"))?,
        two_factor_enabled: row.try_get("two_factor_enabled")?,
        last_login_at: row.try_get("last_login_at")?,
        api_key_count: row.try_get("api_key_count")?,
        last_api_call_at: row.try_get("last_api_call_at")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}
