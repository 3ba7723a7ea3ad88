//! `hubspot_imports` and `hubspot_import_items` (migration V14): imports from HubSpot requested,
//! claimed under a lease, advanced a page at a time, and reported; plus the lookups that match a
//! page of HubSpot records to WARP records (`warp_domain::import` decides).
//!
//! Each page is recorded with [`record_page`] in the transaction that made its effects, fenced
//! by the claim's lease token: a runner that lost its lease (its process stalled and another
//! took over) records nothing, and its page is redone by the new holder.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use tokio_postgres::types::Type;
use uuid::Uuid;
use warp_domain::import::{ImportCounts, ImportObject, LocalCandidate};
use warp_domain::storable::storable;
use warp_domain::sync::ObjectType;

use crate::customers::page_of;
use crate::{Database, StoreError};

/// A runner silent this long has lost its import; the next runner resumes it.
pub const LEASE: Duration = Duration::from_secs(120);

const COLUMNS: &str = "id, portal_id, object_type, dry_run, status, requested_by, requested_at, \
     started_at, heartbeat_at, finished_at, lease_token, after_cursor, pages, total_estimate, \
     read, matched, linked, created, ambiguous, candidates, unmatched, failed, last_error, attempts";

/// One import as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    pub id: Uuid,
    pub portal_id: i64,
    pub object: ImportObject,
    pub dry_run: bool,
    /// `queued`, `running`, `succeeded`, `completed_with_errors` (some records failed) or
    /// `failed` (it stopped: HubSpot refused the whole read).
    pub status: String,
    pub requested_by: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub heartbeat_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub lease_token: Option<Uuid>,
    /// Where the next page starts (`None`: at the beginning).
    pub after_cursor: Option<String>,
    pub pages: i64,
    pub total_estimate: Option<i64>,
    pub counts: ImportCounts,
    pub last_error: Option<String>,
    pub attempts: i32,
}

impl Import {
    pub fn is_finished(&self) -> bool {
        !matches!(self.status.as_str(), "queued" | "running")
    }
}

fn from_row(row: &tokio_postgres::Row) -> Result<Import, StoreError> {
    let object: String = row.try_get("object_type")?;
    Ok(Import {
        id: row.try_get("id")?,
        portal_id: row.try_get("portal_id")?,
        object: object
            .parse()
            .map_err(|_| StoreError::Other(format!("unexpected import object {object:?}")))?,
        dry_run: row.try_get("dry_run")?,
        status: row.try_get("status")?,
        requested_by: row.try_get("requested_by")?,
        requested_at: row.try_get("requested_at")?,
        started_at: row.try_get("started_at")?,
        heartbeat_at: row.try_get("heartbeat_at")?,
        finished_at: row.try_get("finished_at")?,
        lease_token: row.try_get("lease_token")?,
        after_cursor: row.try_get("after_cursor")?,
        pages: row.try_get("pages")?,
        total_estimate: row.try_get("total_estimate")?,
        counts: ImportCounts {
            read: row.try_get("read")?,
            matched: row.try_get("matched")?,
            linked: row.try_get("linked")?,
            created: row.try_get("created")?,
            ambiguous: row.try_get("ambiguous")?,
            candidates: row.try_get("candidates")?,
            unmatched: row.try_get("unmatched")?,
            failed: row.try_get("failed")?,
        },
        last_error: row.try_get("last_error")?,
        attempts: row.try_get("attempts")?,
    })
}

/// What a request did.
#[derive(Debug, Clone, PartialEq)]
pub enum Requested {
    New(Import),
    /// An import of this object type is queued or running already: this one.
    Existing(Import),
}

/// Queues an import, unless one of this portal and object type is unfinished.
pub async fn request(
    database: &Database,
    portal_id: i64,
    object: ImportObject,
    dry_run: bool,
    requested_by: &str,
) -> Result<Requested, StoreError> {
    let client = database.client().await?;
    let insert = format!(
        "INSERT INTO hubspot_imports (id, portal_id, object_type, dry_run, requested_by) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING {COLUMNS}"
    );
    let unfinished = format!(
        "SELECT {COLUMNS} FROM hubspot_imports WHERE portal_id = $1 AND object_type = $2 \
           AND status IN ('queued', 'running')"
    );
    let requested_by = storable(requested_by);
    // Twice: the unfinished one may finish between the two statements.
    for _ in 0..2 {
        let inserted = client
            .query_typed_opt(
                &insert,
                &[
                    (&Uuid::now_v7(), Type::UUID),
                    (&portal_id, Type::INT8),
                    (&object.as_str(), Type::TEXT),
                    (&dry_run, Type::BOOL),
                    (&requested_by, Type::TEXT),
                ],
            )
            .await?;
        if let Some(row) = inserted {
            return Ok(Requested::New(from_row(&row)?));
        }
        let existing = client
            .query_typed_opt(
                &unfinished,
                &[(&portal_id, Type::INT8), (&object.as_str(), Type::TEXT)],
            )
            .await?;
        if let Some(row) = existing {
            return Ok(Requested::Existing(from_row(&row)?));
        }
    }
    Err(StoreError::Conflict(
        "imports of this object type are starting and ending too fast; request again".into(),
    ))
}

/// Takes an import to run: `only` that one, else the oldest queued or abandoned one of the
/// portal. `None` when there is none, or when another runner holds it under a live lease.
pub async fn claim(
    database: &Database,
    portal_id: i64,
    only: Option<Uuid>,
) -> Result<Option<Import>, StoreError> {
    let client = database.client().await?;
    let sql = format!(
        "UPDATE hubspot_imports SET status = 'running', lease_token = gen_random_uuid(), \
           heartbeat_at = now(), started_at = coalesce(started_at, now()) \
         WHERE id = (SELECT id FROM hubspot_imports WHERE portal_id = $1 \
                       AND ($2::uuid IS NULL OR id = $2) AND status IN ('queued', 'running') \
                       AND (lease_token IS NULL OR heartbeat_at < now() - make_interval(secs => $3)) \
                     ORDER BY requested_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
         RETURNING {COLUMNS}"
    );
    client
        .query_typed_opt(
            &sql,
            &[
                (&portal_id, Type::INT8),
                (&only, Type::UUID),
                (&LEASE.as_secs_f64(), Type::FLOAT8),
            ],
        )
        .await?
        .map(|row| from_row(&row))
        .transpose()
}

/// Records HubSpot's count of records for progress (fenced; ignored when the claim is lost).
pub async fn set_total_estimate(
    database: &Database,
    claimed: &Import,
    total: i64,
) -> Result<(), StoreError> {
    let client = database.client().await?;
    client
        .execute_typed(
            "UPDATE hubspot_imports SET total_estimate = $3 WHERE id = $1 AND lease_token = $2",
            &[
                (&claimed.id, Type::UUID),
                (&claimed.lease_token, Type::UUID),
                (&total, Type::INT8),
            ],
        )
        .await?;
    Ok(())
}

/// A record an import leaves for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportItem {
    pub hubspot_id: String,
    /// `ambiguous`, `unknown_key` or `failed`.
    pub outcome: &'static str,
    pub reason: String,
    pub candidates: Vec<Uuid>,
}

/// Records one page: adds its counts and items, moves the cursor to `next` (`None`: that was
/// the last page, and the import is finished) and renews the lease. Returns the import as it
/// now stands, or `None` when the claim is no longer this runner's (roll back the page).
pub async fn record_page(
    client: &impl GenericClient,
    claimed: &Import,
    counts: &ImportCounts,
    next: Option<&str>,
    items: &[ImportItem],
) -> Result<Option<Import>, StoreError> {
    let sql = format!(
        "UPDATE hubspot_imports SET pages = pages + 1, after_cursor = $3, heartbeat_at = now(), \
           read = read + $4, matched = matched + $5, linked = linked + $6, created = created + $7, \
           ambiguous = ambiguous + $8, candidates = candidates + $9, unmatched = unmatched + $10, \
           failed = failed + $11, last_error = NULL, attempts = 0, \
           status = CASE WHEN $3 IS NOT NULL THEN status \
                         WHEN failed + $11 > 0 THEN 'completed_with_errors' ELSE 'succeeded' END, \
           finished_at = CASE WHEN $3 IS NULL THEN now() END, \
           lease_token = CASE WHEN $3 IS NULL THEN NULL ELSE lease_token END \
         WHERE id = $1 AND lease_token = $2 RETURNING {COLUMNS}"
    );
    // HubSpot's cursor is outside text: stored NUL-free (a cursor with a NUL is not one
    // HubSpot gave out; the next read then fails with HubSpot's answer, not the statement).
    let next = next.map(storable);
    let row = client
        .query_typed_opt(
            &sql,
            &[
                (&claimed.id, Type::UUID),
                (&claimed.lease_token, Type::UUID),
                (&next, Type::TEXT),
                (&counts.read, Type::INT8),
                (&counts.matched, Type::INT8),
                (&counts.linked, Type::INT8),
                (&counts.created, Type::INT8),
                (&counts.ambiguous, Type::INT8),
                (&counts.candidates, Type::INT8),
                (&counts.unmatched, Type::INT8),
                (&counts.failed, Type::INT8),
            ],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    if !items.is_empty() {
        let ids: Vec<&str> = items.iter().map(|i| i.hubspot_id.as_str()).collect();
        let outcomes: Vec<&str> = items.iter().map(|i| i.outcome).collect();
        let reasons: Vec<String> = items
            .iter()
            .map(|i| storable(&i.reason).into_owned())
            .collect();
        // Candidates travel as one text per item ("{a,b}"): unnest cannot take a ragged array.
        let candidates: Vec<String> = items
            .iter()
            .map(|i| {
                let ids: Vec<String> = i.candidates.iter().map(Uuid::to_string).collect();
                format!("{{{}}}", ids.join(","))
            })
            .collect();
        client
            .execute_typed(
                "INSERT INTO hubspot_import_items (import_id, hubspot_id, outcome, reason, candidates) \
                 SELECT $1, u.id, u.outcome, u.reason, u.candidates::uuid[] \
                 FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS u(id, outcome, reason, candidates) \
                 ON CONFLICT (import_id, hubspot_id) DO NOTHING",
                &[
                    (&claimed.id, Type::UUID),
                    (&ids, Type::TEXT_ARRAY),
                    (&outcomes, Type::TEXT_ARRAY),
                    (&reasons, Type::TEXT_ARRAY),
                    (&candidates, Type::TEXT_ARRAY),
                ],
            )
            .await?;
    }
    Ok(Some(from_row(&row)?))
}

/// Gives the import back for the next runner (the end of a job's time budget, or a transient
/// failure, recorded as `last_error`), keeping its position.
pub async fn release(
    database: &Database,
    claimed: &Import,
    error: Option<&str>,
) -> Result<(), StoreError> {
    let client = database.client().await?;
    let error = error.map(storable);
    client
        .execute_typed(
            "UPDATE hubspot_imports SET lease_token = NULL, heartbeat_at = now(), \
               last_error = coalesce($3, last_error), attempts = attempts + ($3 IS NOT NULL)::int \
             WHERE id = $1 AND lease_token = $2",
            &[
                (&claimed.id, Type::UUID),
                (&claimed.lease_token, Type::UUID),
                (&error, Type::TEXT),
            ],
        )
        .await?;
    Ok(())
}

/// Ends the import as failed, with the reason.
pub async fn fail(database: &Database, claimed: &Import, reason: &str) -> Result<(), StoreError> {
    let client = database.client().await?;
    client
        .execute_typed(
            "UPDATE hubspot_imports SET status = 'failed', last_error = $3, finished_at = now(), \
               lease_token = NULL WHERE id = $1 AND lease_token = $2",
            &[
                (&claimed.id, Type::UUID),
                (&claimed.lease_token, Type::UUID),
                (&storable(reason), Type::TEXT),
            ],
        )
        .await?;
    Ok(())
}

pub async fn get(database: &Database, portal_id: i64, id: Uuid) -> Result<Import, StoreError> {
    let client = database.client().await?;
    let sql = format!("SELECT {COLUMNS} FROM hubspot_imports WHERE id = $1 AND portal_id = $2");
    let row = client
        .query_typed_opt(&sql, &[(&id, Type::UUID), (&portal_id, Type::INT8)])
        .await?
        .ok_or(StoreError::NotFound)?;
    from_row(&row)
}

/// One page of imports.
#[derive(Debug, Clone)]
pub struct ImportPage {
    pub items: Vec<Import>,
    pub next_cursor: Option<String>,
}

/// Imports of the portal, newest first, from before `before` (a cursor's id).
pub async fn list(
    database: &Database,
    portal_id: i64,
    limit: u32,
    before: Option<Uuid>,
) -> Result<ImportPage, StoreError> {
    let limit = i64::from(limit.clamp(1, 100));
    let sql = format!(
        "SELECT {COLUMNS} FROM hubspot_imports WHERE portal_id = $1 AND ($2::uuid IS NULL OR id < $2) \
         ORDER BY id DESC LIMIT $3"
    );
    let client = database.client().await?;
    let rows = client
        .query_typed(
            &sql,
            &[
                (&portal_id, Type::INT8),
                (&before, Type::UUID),
                (&(limit + 1), Type::INT8),
            ],
        )
        .await?;
    let (items, next_cursor) = page_of(&rows, from_row, limit, |import| import.id)?;
    Ok(ImportPage { items, next_cursor })
}

/// The items of an import, in HubSpot id order after `after`, at most `limit`.
pub async fn items(
    database: &Database,
    id: Uuid,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<ImportItem>, StoreError> {
    let client = database.client().await?;
    let limit = i64::from(limit.clamp(1, 100));
    client
        .query_typed(
            "SELECT hubspot_id, outcome, reason, candidates FROM hubspot_import_items \
             WHERE import_id = $1 AND ($2::text IS NULL OR hubspot_id > $2) \
             ORDER BY hubspot_id LIMIT $3",
            &[
                (&id, Type::UUID),
                (&after, Type::TEXT),
                (&limit, Type::INT8),
            ],
        )
        .await?
        .iter()
        .map(|row| {
            let outcome: String = row.try_get(1)?;
            Ok(ImportItem {
                hubspot_id: row.try_get(0)?,
                outcome: match outcome.as_str() {
                    "ambiguous" => "ambiguous",
                    "unknown_key" => "unknown_key",
                    _ => "failed",
                },
                reason: row.try_get(2)?,
                candidates: row.try_get(3)?,
            })
        })
        .collect()
}

// ----- matching a page -----

/// For each BAN among `bans`, the live customer carrying it.
pub async fn customers_by_ban(
    client: &impl GenericClient,
    bans: &[String],
) -> Result<HashMap<String, LocalCandidate>, StoreError> {
    if bans.is_empty() {
        return Ok(HashMap::new());
    }
    client
        .query_typed(
            "SELECT ban, id, external_ids->>'hubspot_company_id' FROM customers \
             WHERE ban = ANY($1) AND deleted_at IS NULL",
            &[(&bans, Type::TEXT_ARRAY)],
        )
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.try_get(0)?,
                LocalCandidate {
                    id: row.try_get(1)?,
                    linked_to: row.try_get(2)?,
                },
            ))
        })
        .collect()
}

/// For each (normalised) domain among `domains`, the live customers with it.
pub async fn customers_by_domain(
    client: &impl GenericClient,
    domains: &[String],
) -> Result<HashMap<String, Vec<LocalCandidate>>, StoreError> {
    if domains.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = client
        .query_typed(
            "SELECT regexp_replace(domain, '^www\\.', ''), id, external_ids->>'hubspot_company_id' \
             FROM customers WHERE regexp_replace(domain, '^www\\.', '') = ANY($1) \
               AND domain IS NOT NULL AND deleted_at IS NULL ORDER BY id",
            &[(&domains, Type::TEXT_ARRAY)],
        )
        .await?;
    grouped(&rows)
}

/// For each user id among `ids`, the user (its contact link read from `hubspot_links`).
pub async fn users_by_id(
    client: &impl GenericClient,
    portal_id: i64,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, LocalCandidate>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    client
        .query_typed(
            "SELECT u.id, l.hubspot_id FROM users u \
             LEFT JOIN hubspot_links l ON l.portal_id = $2 AND l.object_type = $3 \
               AND l.local_id = u.id AND l.unlinked_at IS NULL \
             WHERE u.id = ANY($1)",
            &[
                (&ids, Type::UUID_ARRAY),
                (&portal_id, Type::INT8),
                (&ObjectType::Contacts.as_str(), Type::TEXT),
            ],
        )
        .await?
        .iter()
        .map(|row| {
            let id: Uuid = row.try_get(0)?;
            Ok((
                id,
                LocalCandidate {
                    id,
                    linked_to: row.try_get(1)?,
                },
            ))
        })
        .collect()
}

/// For each (lower-cased) email among `emails`, the users with it (of any customer).
pub async fn users_by_email(
    client: &impl GenericClient,
    portal_id: i64,
    emails: &[String],
) -> Result<HashMap<String, Vec<LocalCandidate>>, StoreError> {
    if emails.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = client
        .query_typed(
            "SELECT u.email, u.id, l.hubspot_id FROM users u \
             LEFT JOIN hubspot_links l ON l.portal_id = $2 AND l.object_type = $3 \
               AND l.local_id = u.id AND l.unlinked_at IS NULL \
             WHERE u.email = ANY($1) ORDER BY u.id",
            &[
                (&emails, Type::TEXT_ARRAY),
                (&portal_id, Type::INT8),
                (&ObjectType::Contacts.as_str(), Type::TEXT),
            ],
        )
        .await?;
    grouped(&rows)
}

/// Rows of (key, id, linked HubSpot id) grouped by key.
fn grouped(
    rows: &[tokio_postgres::Row],
) -> Result<HashMap<String, Vec<LocalCandidate>>, StoreError> {
    let mut found: HashMap<String, Vec<LocalCandidate>> = HashMap::new();
    for row in rows {
        found
            .entry(row.try_get(0)?)
            .or_default()
            .push(LocalCandidate {
                id: row.try_get(1)?,
                linked_to: row.try_get(2)?,
            });
    }
    Ok(found)
}
