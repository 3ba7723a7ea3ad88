//! `hubspot_journal_cursors` (V24): per installation, whether the Webhooks Journal backstop is
//! on and how far its poller has read. The poller stores an entry's events first and moves the
//! offset after, so a crash in between reads the entry again (its events are then duplicates,
//! stored once by the events' own key); two pollers at once do the same, harmlessly.

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use tokio_postgres::types::Type;
use uuid::Uuid;
use warp_domain::storable::storable;

use crate::StoreError;

/// One installation's backstop, as status shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalCursor {
    pub portal_id: i64,
    pub enabled: bool,
    pub subscribed_at: Option<DateTime<Utc>>,
    /// The last entry read; `None`: the next poll starts at the journal's earliest entry.
    pub offset: Option<Uuid>,
    pub caught_up_at: Option<DateTime<Utc>>,
    pub polled_at: Option<DateTime<Utc>>,
    pub entries_read: i64,
    pub events_read: i64,
    pub events_recovered: i64,
    pub restarts: i64,
    pub last_error: Option<String>,
    /// Seconds since a poll last reached the journal's end (since the backstop was turned on,
    /// before the first): what the alarm watches, long before HubSpot's 3 days run out.
    pub offset_age_seconds: i64,
}

const COLUMNS: &str = "portal_id, enabled, subscribed_at, journal_offset, caught_up_at, \
     polled_at, entries_read, events_read, events_recovered, restarts, last_error, \
     extract(epoch FROM now() - coalesce(caught_up_at, enabled_at))::bigint";

fn cursor_of(row: &tokio_postgres::Row) -> Result<JournalCursor, StoreError> {
    Ok(JournalCursor {
        portal_id: row.try_get(0)?,
        enabled: row.try_get(1)?,
        subscribed_at: row.try_get(2)?,
        offset: row.try_get(3)?,
        caught_up_at: row.try_get(4)?,
        polled_at: row.try_get(5)?,
        entries_read: row.try_get(6)?,
        events_read: row.try_get(7)?,
        events_recovered: row.try_get(8)?,
        restarts: row.try_get(9)?,
        last_error: row.try_get(10)?,
        offset_age_seconds: row.try_get::<_, Option<i64>>(11)?.unwrap_or(0).max(0),
    })
}

/// Turns the backstop on or off for an installation. Turning it on again keeps the offset (the
/// poller reads on from where it stopped, or starts again if HubSpot forgot it); the age counts
/// from now, so a backstop that was off does not alarm the moment it is turned on.
pub async fn set_enabled(
    client: &impl GenericClient,
    portal_id: i64,
    enabled: bool,
    by: &str,
) -> Result<(), StoreError> {
    let by = storable(by);
    client
        .execute_typed(
            "INSERT INTO hubspot_journal_cursors (portal_id, enabled, enabled_by) \
             VALUES ($1, $2, $3) \
             ON CONFLICT (portal_id) DO UPDATE SET enabled = excluded.enabled, \
                 enabled_by = excluded.enabled_by, updated_at = now(), \
                 enabled_at = CASE WHEN hubspot_journal_cursors.enabled \
                     THEN hubspot_journal_cursors.enabled_at ELSE now() END, \
                 caught_up_at = CASE WHEN hubspot_journal_cursors.enabled \
                     THEN hubspot_journal_cursors.caught_up_at END",
            &[
                (&portal_id, Type::INT8),
                (&enabled, Type::BOOL),
                (&by.as_ref(), Type::TEXT),
            ],
        )
        .await?;
    Ok(())
}

/// The installation's cursor, if the backstop was ever turned on for it.
pub async fn get(
    client: &impl GenericClient,
    portal_id: i64,
) -> Result<Option<JournalCursor>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM hubspot_journal_cursors WHERE portal_id = $1");
    client
        .query_typed(&sql, &[(&portal_id, Type::INT8)])
        .await?
        .first()
        .map(cursor_of)
        .transpose()
}

/// The cursors a poller works on: backstop on, installation callable.
pub async fn enabled(client: &impl GenericClient) -> Result<Vec<JournalCursor>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM hubspot_journal_cursors c \
          WHERE enabled AND EXISTS (SELECT 1 FROM hubspot_installations i \
                                     WHERE i.portal_id = c.portal_id AND i.status = 'active') \
          ORDER BY portal_id"
    );
    client
        .query_typed(&sql, &[])
        .await?
        .iter()
        .map(cursor_of)
        .collect()
}

/// WARP's journal subscriptions exist for the portal.
pub async fn mark_subscribed(
    client: &impl GenericClient,
    portal_id: i64,
) -> Result<(), StoreError> {
    client
        .execute_typed(
            "UPDATE hubspot_journal_cursors SET subscribed_at = now(), updated_at = now() \
              WHERE portal_id = $1",
            &[(&portal_id, Type::INT8)],
        )
        .await?;
    Ok(())
}

/// What reading one journal entry did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntryRead {
    pub events: i64,
    /// Events stored by this read (the rest were stored already, pushed or read before).
    pub recovered: i64,
}

/// The entry `offset` is read and its events stored.
pub async fn advance(
    client: &impl GenericClient,
    portal_id: i64,
    offset: Uuid,
    read: EntryRead,
) -> Result<(), StoreError> {
    client
        .execute_typed(
            "UPDATE hubspot_journal_cursors SET journal_offset = $2, \
                    entries_read = entries_read + 1, events_read = events_read + $3, \
                    events_recovered = events_recovered + $4, polled_at = now(), \
                    last_error = NULL, updated_at = now() \
              WHERE portal_id = $1",
            &[
                (&portal_id, Type::INT8),
                (&offset, Type::UUID),
                (&read.events, Type::INT8),
                (&read.recovered, Type::INT8),
            ],
        )
        .await?;
    Ok(())
}

/// A poll reached the journal's end: the offset's age starts again from zero.
pub async fn caught_up(client: &impl GenericClient, portal_id: i64) -> Result<(), StoreError> {
    client
        .execute_typed(
            "UPDATE hubspot_journal_cursors SET caught_up_at = now(), polled_at = now(), \
                    last_error = NULL, updated_at = now() \
              WHERE portal_id = $1",
            &[(&portal_id, Type::INT8)],
        )
        .await?;
    Ok(())
}

/// HubSpot no longer has the stored offset: read again from the earliest entry, and say why.
pub async fn restart(
    client: &impl GenericClient,
    portal_id: i64,
    reason: &str,
) -> Result<(), StoreError> {
    let reason = storable(reason);
    client
        .execute_typed(
            "UPDATE hubspot_journal_cursors SET journal_offset = NULL, restarts = restarts + 1, \
                    last_error = $2, polled_at = now(), updated_at = now() \
              WHERE portal_id = $1",
            &[(&portal_id, Type::INT8), (&reason.as_ref(), Type::TEXT)],
        )
        .await?;
    Ok(())
}

/// A poll failed (HubSpot or the token endpoint unavailable): the offset stays, the reason is
/// shown in status, and the age keeps growing until a poll gets through.
pub async fn record_error(
    client: &impl GenericClient,
    portal_id: i64,
    error: &str,
) -> Result<(), StoreError> {
    let error = storable(error);
    client
        .execute_typed(
            "UPDATE hubspot_journal_cursors SET last_error = $2, polled_at = now(), \
                    updated_at = now() \
              WHERE portal_id = $1",
            &[(&portal_id, Type::INT8), (&error.as_ref(), Type::TEXT)],
        )
        .await?;
    Ok(())
}
