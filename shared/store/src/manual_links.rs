//! Links a person makes and undoes (issue 24's Linking: `POST`/`DELETE
//! /v1/customers/{id}/hubspot-link`, `POST`/`DELETE /v1/users/{id}/hubspot-link`), and the
//! holds an unlink leaves (`hubspot_link_holds`, migration V18).
//!
//! An unlinked record keeps its key (a BAN, a user id, an email) and every push finds a HubSpot
//! record by its key: without a hold, the next push would either find the record the person
//! just unlinked or create one nobody asked for. So a person's unlink holds the record's pushes
//! (the engine's adapters exclude held records, the reconciler leaves them alone) until a
//! person links it again; every link releases the hold.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio_postgres::GenericClient;
use tokio_postgres::types::Type;
use uuid::Uuid;
use warp_domain::sync::{FieldValues, ObjectType, WarpField};
use warp_domain::user::User;

use crate::audit::{self, Actor, EntityType};
use crate::inbound::{self, InboundLogEntry, InboundLogStatus};
use crate::outbox::{self, OutboxOperation};
use crate::{Database, StoreError, field_state, links, users};

/// The operation a person's unlink is logged under in the sync log.
pub const UNLINK_OPERATION: &str = "UNLINK";

/// Why a held record is not pushed (its outbox rows are done with this reason).
pub const HELD_UNLINKED: &str =
    "unlinked from HubSpot by a person: not pushed until it is linked again";

/// A record's hold: which HubSpot record it was unlinked from, and when (who did it is in the
/// audit log, with the unlink).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub hubspot_id: String,
    pub held_at: DateTime<Utc>,
}

/// Holds `local_id`'s pushes: it is being unlinked from `hubspot_id`.
pub async fn hold(
    client: &impl GenericClient,
    portal_id: i64,
    object_type: ObjectType,
    local_id: Uuid,
    hubspot_id: &str,
) -> Result<DateTime<Utc>, StoreError> {
    let row = client
        .query_typed_one(
            "INSERT INTO hubspot_link_holds (portal_id, object_type, local_id, hubspot_id) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (portal_id, object_type, local_id) \
             DO UPDATE SET hubspot_id = excluded.hubspot_id, held_at = clock_timestamp() \
             RETURNING held_at",
            &[
                (&portal_id, Type::INT8),
                (&object_type.as_str(), Type::TEXT),
                (&local_id, Type::UUID),
                (&hubspot_id, Type::TEXT),
            ],
        )
        .await?;
    Ok(row.try_get(0)?)
}

/// Releases the holds of these records (they were linked again).
pub async fn release(
    client: &impl GenericClient,
    portal_id: i64,
    object_type: ObjectType,
    local_ids: &[Uuid],
) -> Result<(), StoreError> {
    if local_ids.is_empty() {
        return Ok(());
    }
    client
        .execute_typed(
            "DELETE FROM hubspot_link_holds WHERE portal_id = $1 AND object_type = $2 AND local_id = ANY($3)",
            &[
                (&portal_id, Type::INT8),
                (&object_type.as_str(), Type::TEXT),
                (&local_ids, Type::UUID_ARRAY),
            ],
        )
        .await?;
    Ok(())
}

/// The holds of these records (records without one are absent).
pub async fn holds(
    client: &impl GenericClient,
    portal_id: i64,
    object_type: ObjectType,
    local_ids: &[Uuid],
) -> Result<HashMap<Uuid, Hold>, StoreError> {
    if local_ids.is_empty() {
        return Ok(HashMap::new());
    }
    client
        .query_typed(
            "SELECT local_id, hubspot_id, held_at FROM hubspot_link_holds \
             WHERE portal_id = $1 AND object_type = $2 AND local_id = ANY($3)",
            &[
                (&portal_id, Type::INT8),
                (&object_type.as_str(), Type::TEXT),
                (&local_ids, Type::UUID_ARRAY),
            ],
        )
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.try_get(0)?,
                Hold {
                    hubspot_id: row.try_get(1)?,
                    held_at: row.try_get(2)?,
                },
            ))
        })
        .collect()
}

/// Which of these records are held.
pub async fn held(
    client: &impl GenericClient,
    portal_id: i64,
    object_type: ObjectType,
    local_ids: &[Uuid],
) -> Result<HashSet<Uuid>, StoreError> {
    Ok(holds(client, portal_id, object_type, local_ids)
        .await?
        .into_keys()
        .collect())
}

/// The hold of one record, read on its own (the Linking view shows it).
pub async fn hold_of(
    database: &Database,
    portal_id: i64,
    object_type: ObjectType,
    local_id: Uuid,
) -> Result<Option<Hold>, StoreError> {
    let client = database.client().await?;
    Ok(holds(&**client, portal_id, object_type, &[local_id])
        .await?
        .remove(&local_id))
}

/// Why a person's link or unlink was refused; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ManualLinkError {
    #[error("no such record")]
    NotFound,
    #[error("the record is linked to HubSpot record {0}")]
    LinkedElsewhere(String),
    #[error("the HubSpot record is linked to {0}")]
    TakenBy(Uuid),
    #[error("the link changed meanwhile")]
    Changed,
    #[error("an unlink of it is under way")]
    UnlinkUnderWay,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<tokio_postgres::Error> for ManualLinkError {
    fn from(error: tokio_postgres::Error) -> Self {
        ManualLinkError::Store(error.into())
    }
}

impl From<crate::DatabaseError> for ManualLinkError {
    fn from(error: crate::DatabaseError) -> Self {
        ManualLinkError::Store(error.into())
    }
}

/// The record `local_id` of `object_type` locked, as (its version, the HubSpot record it is
/// linked to in `portal_id`).
async fn lock_link(
    tx: &tokio_postgres::Transaction<'_>,
    portal_id: i64,
    object_type: ObjectType,
    local_id: Uuid,
) -> Result<(i64, Option<String>), ManualLinkError> {
    match object_type {
        ObjectType::Companies => {
            let customer = inbound::lock_by_id(tx, local_id)
                .await?
                .ok_or(ManualLinkError::NotFound)?;
            Ok((customer.version, customer.external_ids.hubspot_company_id))
        }
        ObjectType::Contacts => {
            let user = users::lock(tx, local_id)
                .await?
                .ok_or(ManualLinkError::NotFound)?;
            let link = links::load(tx, portal_id, object_type, &[local_id])
                .await?
                .remove(&local_id);
            Ok((user.version, link.map(|link| link.hubspot_id)))
        }
    }
}

/// How long an unlink's hold on a record that is still linked counts as an unlink under way;
/// an older one was left by an unlink that never finished (a crash between its steps) and is
/// taken over.
const UNLINK_UNDER_WAY: chrono::Duration = chrono::Duration::minutes(5);

/// First step of a person's unlink: holds the record's pushes (committed on its own) before
/// HubSpot is told, so no push made meanwhile can stamp the key back. Answers the record's
/// version and, when it is linked, the HubSpot record and the hold's time (which
/// [`release_one`] needs); `None` when it is not linked (no hold is written then).
/// [`ManualLinkError::UnlinkUnderWay`] while another person's unlink of it is under way.
pub async fn hold_for_unlink(
    database: &Database,
    portal_id: i64,
    object_type: ObjectType,
    local_id: Uuid,
) -> Result<(i64, Option<(String, DateTime<Utc>)>), ManualLinkError> {
    let mut client = database.client().await?;
    let transaction = client.transaction().await?;
    let tx: &tokio_postgres::Transaction<'_> = &transaction;
    let (version, linked) = lock_link(tx, portal_id, object_type, local_id).await?;
    let Some(hubspot_id) = linked else {
        return Ok((version, None));
    };
    let earlier = holds(tx, portal_id, object_type, &[local_id])
        .await?
        .remove(&local_id);
    if earlier.is_some_and(|hold| {
        hold.hubspot_id == hubspot_id && hold.held_at > Utc::now() - UNLINK_UNDER_WAY
    }) {
        return Err(ManualLinkError::UnlinkUnderWay);
    }
    let held_at = hold(tx, portal_id, object_type, local_id, &hubspot_id).await?;
    transaction.commit().await?;
    Ok((version, Some((hubspot_id, held_at))))
}

/// Second step, once the HubSpot record no longer carries the key: the link is removed for
/// good (a customer's version + 1; unlike a deletion in HubSpot, which record it was is not
/// kept, so a restore of it does not relink), what HubSpot was known to hold is forgotten (a
/// later link pushes everything), the unlink is logged in the sync log and audited. Answers
/// the record's version; [`ManualLinkError::Changed`] when it is no longer linked to
/// `hubspot_id`.
pub async fn unlink(
    database: &Database,
    portal_id: i64,
    object_type: ObjectType,
    local_id: Uuid,
    hubspot_id: &str,
    actor: &Actor,
) -> Result<i64, ManualLinkError> {
    let mut client = database.client().await?;
    let transaction = client.transaction().await?;
    let tx: &tokio_postgres::Transaction<'_> = &transaction;
    let (version, linked) = lock_link(tx, portal_id, object_type, local_id).await?;
    if linked.as_deref() != Some(hubspot_id) {
        return Err(ManualLinkError::Changed);
    }
    let (version, entity, link_field) = match object_type {
        ObjectType::Companies => {
            let customer = inbound::forget_company(tx, local_id).await?;
            (customer.version, EntityType::Customer, "hubspot_company_id")
        }
        ObjectType::Contacts => {
            links::remove(tx, portal_id, object_type, local_id, hubspot_id).await?;
            (version, EntityType::User, "hubspot_contact_id")
        }
    };
    field_state::forget_hubspot_side(tx, portal_id, object_type, local_id).await?;
    inbound::log_inbound_many(
        tx,
        &[InboundLogEntry {
            portal_id,
            object_type,
            local_id: Some(local_id),
            queue_id: None,
            operation: UNLINK_OPERATION,
            status: InboundLogStatus::Success,
            fields: Vec::new(),
            hubspot_id: Some(hubspot_id.to_owned()),
            error: None,
        }],
    )
    .await?;
    audit::record(
        tx,
        actor,
        entity,
        local_id,
        "unlink",
        &json!({ link_field: {"old": hubspot_id, "new": null} }),
    )
    .await?;
    transaction.commit().await?;
    Ok(version)
}

/// Releases the hold [`hold_for_unlink`] wrote at `held_at` when the unlink could not be
/// finished (HubSpot failed, or the link changed meanwhile); a hold written since (another
/// person's unlink) stays.
pub async fn release_one(
    database: &Database,
    portal_id: i64,
    object_type: ObjectType,
    local_id: Uuid,
    held_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let client = database.client().await?;
    client
        .execute_typed(
            "DELETE FROM hubspot_link_holds WHERE portal_id = $1 AND object_type = $2 \
             AND local_id = $3 AND held_at = $4",
            &[
                (&portal_id, Type::INT8),
                (&object_type.as_str(), Type::TEXT),
                (&local_id, Type::UUID),
                (&held_at, Type::TIMESTAMPTZ),
            ],
        )
        .await?;
    Ok(())
}

/// A user and its contact link in `portal_id`.
#[derive(Debug)]
pub struct UserLinkState {
    pub user: User,
    pub contact_id: Option<String>,
}

/// The user and the contact it is linked to.
pub async fn user_link(
    database: &Database,
    portal_id: i64,
    user_id: Uuid,
) -> Result<UserLinkState, ManualLinkError> {
    let client = database.client().await?;
    let user = users::find(&**client, user_id)
        .await?
        .ok_or(ManualLinkError::NotFound)?;
    let contact_id = links::load(&**client, portal_id, ObjectType::Contacts, &[user_id])
        .await?
        .remove(&user_id)
        .map(|link| link.hubspot_id);
    Ok(UserLinkState { user, contact_id })
}

/// Which users are linked to these contacts, by contact id.
pub async fn users_linked_to(
    database: &Database,
    portal_id: i64,
    contact_ids: &[String],
) -> Result<HashMap<String, Uuid>, StoreError> {
    let client = database.client().await?;
    Ok(
        links::linked_to(&**client, portal_id, ObjectType::Contacts, contact_ids)
            .await?
            .into_iter()
            .collect(),
    )
}

/// What a person's link of a user did.
#[derive(Debug)]
pub enum UserLinked {
    Already(User),
    /// Linked now; the outbox row of the full push to publish.
    New {
        user: User,
        outbox_id: i64,
    },
}

/// Links a user to a contact that already carries the user's id in `warp_user_id` (the
/// caller wrote it): the link, HubSpot known to hold the key (so pushes find the contact by
/// `warp_user_id`, not by email), a full push queued, the hold released, logged and audited.
pub async fn link_user(
    database: &Database,
    portal_id: i64,
    user_id: Uuid,
    contact_id: &str,
    actor: &Actor,
) -> Result<UserLinked, ManualLinkError> {
    let mut client = database.client().await?;
    let transaction = client.transaction().await?;
    let tx: &tokio_postgres::Transaction<'_> = &transaction;
    let user = users::lock(tx, user_id)
        .await?
        .ok_or(ManualLinkError::NotFound)?;
    let current = links::load(tx, portal_id, ObjectType::Contacts, &[user_id])
        .await?
        .remove(&user_id);
    match current {
        Some(link) if link.hubspot_id == contact_id => {
            // A hold on a linked record was left by an unlink that never finished, or a push
            // that landed meanwhile: linking it again is how a person says it is right.
            release(tx, portal_id, ObjectType::Contacts, &[user_id]).await?;
            transaction.commit().await?;
            return Ok(UserLinked::Already(user));
        }
        Some(link) => return Err(ManualLinkError::LinkedElsewhere(link.hubspot_id)),
        None => {}
    }
    let refused = links::link(
        tx,
        portal_id,
        ObjectType::Contacts,
        &[(user_id, contact_id.to_owned())],
    )
    .await?;
    if !refused.is_empty() {
        let holder = links::linked_to(
            tx,
            portal_id,
            ObjectType::Contacts,
            &[contact_id.to_owned()],
        )
        .await?
        .into_iter()
        .map(|(_, local)| local)
        .next();
        return Err(holder.map_or(ManualLinkError::Changed, ManualLinkError::TakenBy));
    }
    release(tx, portal_id, ObjectType::Contacts, &[user_id]).await?;
    let mut key = FieldValues::default();
    key.set(WarpField::UserId, Some(&user_id.to_string()));
    field_state::record(
        tx,
        portal_id,
        ObjectType::Contacts,
        user_id,
        field_state::Side::HubSpot,
        &key,
        Utc::now(),
    )
    .await?;
    let queued = outbox::enqueue_many(
        tx,
        portal_id,
        ObjectType::Contacts,
        OutboxOperation::Resync,
        &[(user_id, user.version)],
    )
    .await?;
    let outbox_id = queued
        .first()
        .map(|(_, id)| *id)
        .ok_or_else(|| StoreError::Unavailable("the push was not queued".into()))?;
    inbound::log_inbound_many(
        tx,
        &[InboundLogEntry {
            portal_id,
            object_type: ObjectType::Contacts,
            local_id: Some(user_id),
            queue_id: Some(outbox_id),
            operation: crate::sync_reports::LINK_OPERATION,
            status: InboundLogStatus::Success,
            fields: Vec::new(),
            hubspot_id: Some(contact_id.to_owned()),
            error: None,
        }],
    )
    .await?;
    audit::record(
        tx,
        actor,
        EntityType::User,
        user_id,
        "link",
        &json!({"hubspot_contact_id": {"old": null, "new": contact_id}}),
    )
    .await?;
    transaction.commit().await?;
    Ok(UserLinked::New { user, outbox_id })
}
