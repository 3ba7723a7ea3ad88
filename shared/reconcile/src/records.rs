//! Pass 2 of a reconciliation, for every object type: each WARP record's link against what
//! pass 1 saw in HubSpot, record-level drift found ([`classify_record`]), checked once more
//! and repaired. Where the object types differ (a customer's link lives in its
//! `external_ids`, a user's in `hubspot_links`) is said here in one `match` each.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;
use warp_domain::sync::{DriftKind, ObjectType, RecordDrift, classify_record, key_property};
use warp_hubspot::ReadOptions;
use warp_store::outbox::{self, OutboxOperation};
use warp_store::reconciliation_runs::{self as runs, CustomerLink, UserLink};
use warp_store::{StoreError, inbound, links, users};
use warp_sync::adapters::{Companies, LocalRecord};

use crate::engine::{
    CUSTOMER_PAGE, Heartbeat, Pair, Phase, ProgressFn, ReconcileError, Reconciler, Seen, key_of,
    local_noun,
};
use crate::report::{DriftReport, RecordFindings, RepairKind};

/// What pass 2 needs of a WARP record to classify its link: no field values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocalLink {
    pub id: Uuid,
    pub version: i64,
    /// The value of the key property (a BAN, a user id).
    pub key: String,
    /// The HubSpot record it is linked to.
    pub linked_id: Option<String>,
    /// A deleted customer is never created in HubSpot (unlinking is its only repair).
    pub deleted: bool,
}

impl From<CustomerLink> for LocalLink {
    fn from(link: CustomerLink) -> Self {
        LocalLink {
            id: link.id,
            version: link.version,
            key: link.ban,
            linked_id: link.hubspot_company_id,
            deleted: link.deleted,
        }
    }
}

impl LocalLink {
    /// A user's link, unless the user is not to be reconciled now: waiting for its customer's
    /// company, privacy-deleted in HubSpot, its contact given to another user by a merge (an
    /// open conflict for a person), or unlinked by a person.
    fn of_user(link: UserLink) -> Option<Self> {
        if link.company_id.is_none() || link.privacy_deleted || link.merge_undecided || link.held {
            return None;
        }
        Some(LocalLink {
            id: link.id,
            version: link.version,
            key: link.id.to_string(),
            linked_id: link.contact_id,
            deleted: false,
        })
    }
}

impl Reconciler {
    /// Pass 2: every WARP record of `object_type`, in keyset pages.
    pub(crate) async fn warp_pass(
        &self,
        object_type: ObjectType,
        seen: &Seen,
        report: &mut DriftReport,
        heartbeat: &mut Heartbeat,
        progress: Option<&ProgressFn>,
    ) -> Result<(), ReconcileError> {
        let mut after = None;
        loop {
            let (page, last) = self.links_page(object_type, after, report).await?;
            let Some(last) = last else { break };
            after = Some(last);
            let drifts: Vec<(LocalLink, RecordDrift)> = page
                .into_iter()
                .filter_map(|link| {
                    let drift = record_drift(object_type, &link, seen)?;
                    Some((link, drift))
                })
                .collect();
            let (drifts, held_by_archived) = self.still_drifted(object_type, drifts, report).await;
            if !drifts.is_empty()
                && let Err(error) = self
                    .repair_records(object_type, drifts, &held_by_archived, report)
                    .await
            {
                report.error(format!("repairing record drift: {error}"));
            }
            let phase = match object_type {
                ObjectType::Companies => Phase::Customers,
                ObjectType::Contacts => Phase::Users,
            };
            self.progress(phase, report, progress);
            heartbeat.beat(&self.database, report).await;
        }
        Ok(())
    }

    /// One keyset page of links to classify, and the last id read (`None` at the end).
    async fn links_page(
        &self,
        object_type: ObjectType,
        after: Option<Uuid>,
        report: &mut DriftReport,
    ) -> Result<(Vec<LocalLink>, Option<Uuid>), ReconcileError> {
        let client = self.database.client().await.map_err(StoreError::from)?;
        let (page, last, read) = match object_type {
            ObjectType::Companies => {
                let page = runs::customer_links_page(&**client, after, CUSTOMER_PAGE).await?;
                let last = page.last().map(|link| link.id);
                let read = page.len();
                // A customer a person unlinked is neither missing nor to be created.
                let links = page.into_iter().filter(|link| !link.held);
                (links.map(LocalLink::from).collect(), last, read)
            }
            ObjectType::Contacts => {
                let page =
                    runs::user_links_page(&**client, self.portal_id, after, CUSTOMER_PAGE).await?;
                let last = page.last().map(|link| link.id);
                let read = page.len();
                let links = page.into_iter().filter_map(LocalLink::of_user).collect();
                (links, last, read)
            }
        };
        report.checked(object_type, read as u64, 0);
        Ok((page, last))
    }

    /// Pass 1 took minutes: a HubSpot record created (or restored) since the list passed its
    /// id cannot be in the compact sets. Before "gone" or "missing" is believed, HubSpot is
    /// asked once more, in batch reads: by the linked id, and by key. Records found again are
    /// left alone for this run (the next run sees the settled state). Also returns the keys
    /// (as [`key_of`] text) of the rest that an archived record still holds: HubSpot keeps a
    /// unique value on an archived record, so an upsert by that key is refused until it is
    /// restored.
    async fn still_drifted(
        &self,
        object_type: ObjectType,
        drifts: Vec<(LocalLink, RecordDrift)>,
        report: &mut DriftReport,
    ) -> (Vec<(LocalLink, RecordDrift)>, HashSet<String>) {
        let gone = gone_ids(&drifts);
        let missing: Vec<String> = drifts
            .iter()
            .filter(|(_, drift)| *drift == RecordDrift::MissingInHubSpot)
            .map(|(link, _)| link.key.clone())
            .collect();
        let key = key_property(object_type);
        let found_ids = self
            .still_there(object_type, &gone, None, false, report)
            .await
            .found;
        let found_keys = self
            .still_there(object_type, &missing, Some(key), false, report)
            .await
            .found;
        let key_text = |link: &LocalLink| key_of(object_type, &link.key).map(|k| k.to_string());
        let drifts: Vec<(LocalLink, RecordDrift)> = drifts
            .into_iter()
            .filter(|(link, drift)| match drift {
                RecordDrift::LinkedRecordGone {
                    found_by_key: None,
                    linked_id,
                } => !found_ids.contains(linked_id),
                RecordDrift::MissingInHubSpot => {
                    key_text(link).is_none_or(|key| !found_keys.contains(&key))
                }
                _ => true,
            })
            .collect();
        let drifts = if object_type.holds_personal_data() {
            self.find_purged(object_type, drifts, report).await
        } else {
            drifts
        };
        let to_create: Vec<String> = drifts
            .iter()
            .filter(|(_, drift)| drift.link_to().is_none())
            .map(|(link, _)| link.key.clone())
            .collect();
        let held_by_archived = self
            .still_there(object_type, &to_create, Some(key), true, report)
            .await
            .found;
        (drifts, held_by_archived)
    }

    /// A person's record that HubSpot holds not even archived was deleted for good: a privacy
    /// deletion whose webhook was lost (a plain deletion keeps it in the recycle bin for 90
    /// days, and a merge is found by key). Such drifts become [`RecordDrift::LinkedRecordPurged`]
    /// and are never recreated. When HubSpot cannot be asked, nothing is known: those records
    /// are left for the next run rather than recreated.
    async fn find_purged(
        &self,
        object_type: ObjectType,
        drifts: Vec<(LocalLink, RecordDrift)>,
        report: &mut DriftReport,
    ) -> Vec<(LocalLink, RecordDrift)> {
        let gone = gone_ids(&drifts);
        if gone.is_empty() {
            return drifts;
        }
        let archived = self
            .still_there(object_type, &gone, None, true, report)
            .await;
        drifts
            .into_iter()
            .filter_map(|(link, drift)| match drift {
                RecordDrift::LinkedRecordGone {
                    found_by_key: None, ..
                } if !archived.complete => None,
                RecordDrift::LinkedRecordGone {
                    linked_id,
                    found_by_key: None,
                } if !archived.found.contains(&linked_id) => {
                    Some((link, RecordDrift::LinkedRecordPurged { linked_id }))
                }
                other => Some((link, other)),
            })
            .collect()
    }

    /// Which of `ids` (HubSpot ids, or values of `id_property`) HubSpot holds (among archived
    /// records when `archived`), as ids or key texts. Where a call failed, its ids count as
    /// "not there" (`complete` is false): the repairs that follow are safe to repeat, and one
    /// that is not (forgetting a purged record) checks `complete`.
    async fn still_there(
        &self,
        object_type: ObjectType,
        ids: &[String],
        id_property: Option<&str>,
        archived: bool,
        report: &mut DriftReport,
    ) -> Held {
        if ids.is_empty() {
            return Held {
                found: HashSet::new(),
                complete: true,
            };
        }
        let key = key_property(object_type);
        let read = self
            .reader
            .objects(object_type)
            .batch_read(
                ids,
                id_property,
                &ReadOptions {
                    archived,
                    ..ReadOptions::properties([key])
                },
            )
            .await;
        report.hubspot_requests += read.calls as u64;
        let found = read
            .results
            .iter()
            .filter_map(|record| match id_property {
                None => Some(record.id.as_str().to_owned()),
                Some(_) => record
                    .property(key)
                    .and_then(|value| key_of(object_type, value))
                    .map(|key| key.to_string()),
            })
            .collect();
        Held {
            found,
            complete: read.failed_calls.is_empty(),
        }
    }

    /// Repairs (or, in a dry run, reports) one page of record-level drift. Records linked to
    /// a HubSpot record by the repair have their values compared at once.
    async fn repair_records(
        &self,
        object_type: ObjectType,
        drifts: Vec<(LocalLink, RecordDrift)>,
        held_by_archived: &HashSet<String>,
        report: &mut DriftReport,
    ) -> Result<(), ReconcileError> {
        let (purged, drifts): (Vec<_>, Vec<_>) = drifts
            .into_iter()
            .partition(|(_, drift)| matches!(drift, RecordDrift::LinkedRecordPurged { .. }));
        let (to_link, to_push): (Vec<_>, Vec<_>) = drifts
            .into_iter()
            .partition(|(_, drift)| drift.link_to().is_some());
        self.forget_purged(object_type, purged, report).await?;
        self.link_found(object_type, to_link, report).await?;
        self.push_missing(object_type, to_push, held_by_archived, report)
            .await
    }

    /// Links each record to the HubSpot record carrying its key, then compares their values.
    async fn link_found(
        &self,
        object_type: ObjectType,
        to_link: Vec<(LocalLink, RecordDrift)>,
        report: &mut DriftReport,
    ) -> Result<(), ReconcileError> {
        let mut linked: Vec<(LocalRecord, String, DriftKind)> = Vec::new();
        for (link, drift) in &to_link {
            let Some(hubspot_id) = drift.link_to() else {
                continue;
            };
            let outcome = if report.dry_run {
                self.load_record(object_type, link.id).await
            } else {
                self.link_record(object_type, link.id, hubspot_id).await
            };
            match outcome {
                Ok(record) => linked.push((record, hubspot_id.to_owned(), drift.kind())),
                Err(error) => {
                    report.error(format!(
                        "{} {}: linking to {} {hubspot_id}: {error}",
                        local_noun(object_type),
                        link.id,
                        object_type.event_object()
                    ));
                    report.add_record(RecordFindings {
                        object_type,
                        local_id: link.id,
                        hubspot_id: Some(hubspot_id.to_owned()),
                        record: Some((drift.kind(), false)),
                        fields: &[],
                        repairs: vec![RepairKind::Link],
                    });
                }
            }
        }
        if linked.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = linked.iter().map(|(_, id, _)| id.clone()).collect();
        let read = self
            .reader
            .objects(object_type)
            .batch_read(
                &ids,
                None,
                &ReadOptions {
                    properties: self.mapped_properties(object_type),
                    ..ReadOptions::default()
                },
            )
            .await;
        report.hubspot_requests += read.calls as u64;
        for failed in &read.failed_calls {
            report.error(format!(
                "reading linked {}: {}",
                object_type.as_str(),
                failed.error
            ));
        }
        let mut remotes: HashMap<String, warp_hubspot::HubSpotRecord> = read
            .results
            .into_iter()
            .map(|record| (record.id.as_str().to_owned(), record))
            .collect();
        let mut pairs = Vec::new();
        let mut record_kinds = HashMap::new();
        for (local, hubspot_id, kind) in linked {
            record_kinds.insert(local.id, kind);
            match remotes.remove(&hubspot_id) {
                Some(remote) => pairs.push(Pair { local, remote }),
                None => report.add_record(RecordFindings {
                    object_type,
                    local_id: local.id,
                    hubspot_id: Some(hubspot_id),
                    record: Some((kind, !report.dry_run)),
                    fields: &[],
                    repairs: vec![RepairKind::Link],
                }),
            }
        }
        self.compare_pairs(object_type, pairs, report, &record_kinds)
            .await
    }

    /// Records whose HubSpot record was deleted for good: unlinked, and the privacy deletion
    /// recorded as the lost webhook would have, so their data is never sent again.
    async fn forget_purged(
        &self,
        object_type: ObjectType,
        purged: Vec<(LocalLink, RecordDrift)>,
        report: &mut DriftReport,
    ) -> Result<(), ReconcileError> {
        if purged.is_empty() {
            return Ok(());
        }
        if !report.dry_run {
            let mut client = self.database.client().await.map_err(StoreError::from)?;
            let transaction = client.transaction().await.map_err(StoreError::from)?;
            let connection: &tokio_postgres::Transaction<'_> = &transaction;
            for (link, drift) in &purged {
                let Some(linked_id) = drift.gone() else {
                    continue;
                };
                links::unlink(connection, self.portal_id, object_type, link.id).await?;
                links::record_privacy_deletion(
                    connection,
                    self.portal_id,
                    object_type,
                    link.id,
                    linked_id,
                )
                .await?;
            }
            transaction.commit().await.map_err(StoreError::from)?;
            report.repaired("privacy_deletions_recorded", purged.len() as u64);
        }
        for (link, drift) in &purged {
            tracing::warn!(
                %object_type,
                local_id = %link.id,
                hubspot_id = drift.gone(),
                "linked record deleted for good in HubSpot (a privacy deletion): never sent again"
            );
            report.add_record(RecordFindings {
                object_type,
                local_id: link.id,
                hubspot_id: drift.gone().map(str::to_owned),
                record: Some((drift.kind(), !report.dry_run)),
                fields: &[],
                repairs: vec![RepairKind::RecordPrivacyDeletion],
            });
        }
        Ok(())
    }

    /// Creates and recreates: a RESYNC upserts by the key, creating the HubSpot record, and
    /// links it, unless an archived record holds the key (a person restores it, or lets it
    /// go). A record whose linked HubSpot record is gone is unlinked first.
    async fn push_missing(
        &self,
        object_type: ObjectType,
        to_push: Vec<(LocalLink, RecordDrift)>,
        held_by_archived: &HashSet<String>,
        report: &mut DriftReport,
    ) -> Result<(), ReconcileError> {
        if to_push.is_empty() {
            return Ok(());
        }
        let blocked = |link: &LocalLink| {
            key_of(object_type, &link.key)
                .is_some_and(|key| held_by_archived.contains(&key.to_string()))
        };
        let mut queued = Vec::new();
        if !report.dry_run {
            let mut client = self.database.client().await.map_err(StoreError::from)?;
            let transaction = client.transaction().await.map_err(StoreError::from)?;
            let connection: &tokio_postgres::Transaction<'_> = &transaction;
            let mut resync = Vec::new();
            for (link, drift) in &to_push {
                let version = match drift {
                    RecordDrift::LinkedRecordGone { .. } => {
                        self.unlink_record(connection, object_type, link).await?
                    }
                    _ => link.version,
                };
                // A deleted customer's company is not recreated: unlinking is the repair.
                if !link.deleted && !blocked(link) {
                    resync.push((link.id, version));
                }
            }
            queued = outbox::enqueue_many(
                connection,
                self.portal_id,
                object_type,
                OutboxOperation::Resync,
                &resync,
            )
            .await?;
            transaction.commit().await.map_err(StoreError::from)?;
            report.repaired("full_pushes_queued", queued.len() as u64);
        }
        let held = to_push.iter().filter(|(link, _)| blocked(link)).count();
        report.repaired("blocked_by_archived_record", held as u64);
        for (link, drift) in &to_push {
            let repair = match drift {
                _ if blocked(link) => RepairKind::RestoreInHubSpot,
                RecordDrift::LinkedRecordGone { .. } => RepairKind::UnlinkAndPush,
                _ => RepairKind::Create,
            };
            let fixed = !report.dry_run && repair != RepairKind::RestoreInHubSpot;
            report.add_record(RecordFindings {
                object_type,
                local_id: link.id,
                hubspot_id: drift.gone().map(str::to_owned),
                record: Some((drift.kind(), fixed)),
                fields: &[],
                repairs: vec![repair],
            });
        }
        let ids: Vec<i64> = queued.iter().map(|(_, id)| *id).collect();
        self.publish(&ids).await;
        Ok(())
    }

    /// Locks the record and links it to `hubspot_id`.
    async fn link_record(
        &self,
        object_type: ObjectType,
        local_id: Uuid,
        hubspot_id: &str,
    ) -> Result<LocalRecord, StoreError> {
        let mut client = self.database.client().await?;
        let transaction = client.transaction().await?;
        let connection: &tokio_postgres::Transaction<'_> = &transaction;
        let linked = match object_type {
            ObjectType::Companies => {
                inbound::lock_by_id(connection, local_id)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                let customer = inbound::link_company(connection, local_id, hubspot_id).await?;
                Companies::record(&customer)
            }
            ObjectType::Contacts => {
                users::lock(connection, local_id)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                let link = [(local_id, hubspot_id.to_owned())];
                if !links::link(connection, self.portal_id, object_type, &link)
                    .await?
                    .is_empty()
                {
                    return Err(StoreError::Conflict(
                        "the contact is linked to another user".into(),
                    ));
                }
                self.load_records(object_type, connection, &[local_id])
                    .await?
                    .remove(&local_id)
                    .ok_or(StoreError::NotFound)?
            }
        };
        transaction.commit().await?;
        Ok(linked)
    }

    /// Unlinks a record from a HubSpot record that is gone; returns its version now.
    async fn unlink_record(
        &self,
        connection: &tokio_postgres::Transaction<'_>,
        object_type: ObjectType,
        link: &LocalLink,
    ) -> Result<i64, StoreError> {
        match object_type {
            ObjectType::Companies => {
                Ok(inbound::unlink_company(connection, link.id).await?.version)
            }
            ObjectType::Contacts => {
                links::unlink(connection, self.portal_id, object_type, link.id).await?;
                Ok(link.version)
            }
        }
    }

    async fn load_record(
        &self,
        object_type: ObjectType,
        local_id: Uuid,
    ) -> Result<LocalRecord, StoreError> {
        let client = self.database.client().await?;
        self.load_records(object_type, &**client, &[local_id])
            .await?
            .remove(&local_id)
            .ok_or(StoreError::NotFound)
    }
}

/// The record-level drift of one WARP record after pass 1; `None` when sound or compared there.
fn record_drift(object_type: ObjectType, link: &LocalLink, seen: &Seen) -> Option<RecordDrift> {
    let found_by_key = key_of(object_type, &link.key)
        .and_then(|key| seen.by_key.get(&key))
        .map(u64::to_string);
    let linked_exists = link
        .linked_id
        .as_deref()
        .and_then(|id| id.parse::<u64>().ok())
        .is_some_and(|id| seen.records.contains(&id));
    let drift = classify_record(
        link.linked_id.as_deref(),
        linked_exists,
        found_by_key.as_deref(),
    )?;
    // A deleted customer never pushed is not created in HubSpot.
    if link.deleted && drift.kind() == DriftKind::MissingInHubSpot {
        return None;
    }
    Some(drift)
}

/// What HubSpot answered when asked whether it holds some records.
struct Held {
    /// The ids (or key texts) it holds.
    found: HashSet<String>,
    /// False when a call failed: the ids it carried are not known either way.
    complete: bool,
}

/// The HubSpot ids of linked records that are gone and have no record to link to instead.
fn gone_ids(drifts: &[(LocalLink, RecordDrift)]) -> Vec<String> {
    drifts
        .iter()
        .filter(|(_, drift)| drift.link_to().is_none())
        .filter_map(|(_, drift)| drift.gone().map(str::to_owned))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ban_key;

    #[test]
    fn record_drift_uses_the_compact_sets() {
        let mut seen = Seen::default();
        seen.records.insert(7);
        seen.by_key
            .insert(u128::from(ban_key("ZT-000000001").unwrap()), 9);
        let link = |ban: &str, company: Option<&str>, deleted| LocalLink {
            id: Uuid::nil(),
            key: ban.into(),
            linked_id: company.map(str::to_owned),
            version: 1,
            deleted,
        };
        let companies = ObjectType::Companies;
        assert_eq!(
            record_drift(companies, &link("ZT-000000002", Some("7"), false), &seen),
            None
        );
        assert_eq!(
            record_drift(companies, &link("ZT-000000001", Some("5"), false), &seen)
                .unwrap()
                .link_to(),
            Some("9")
        );
        assert_eq!(
            record_drift(companies, &link("ZT-000000001", None, false), &seen)
                .unwrap()
                .kind(),
            DriftKind::UnlinkedRecordWithOurKey
        );
        assert_eq!(
            record_drift(companies, &link("ZT-000000002", None, false), &seen)
                .unwrap()
                .kind(),
            DriftKind::MissingInHubSpot
        );
        assert_eq!(
            record_drift(companies, &link("ZT-000000002", None, true), &seen),
            None
        );
    }

    #[test]
    fn a_user_is_found_by_its_id_and_skipped_while_it_waits_or_is_for_a_person() {
        let user = Uuid::now_v7();
        let mut seen = Seen::default();
        seen.by_key.insert(user.as_u128(), 41);
        let base = UserLink {
            id: user,
            version: 3,
            company_id: Some("5".into()),
            contact_id: None,
            privacy_deleted: false,
            merge_undecided: false,
            held: false,
        };
        let link = LocalLink::of_user(base.clone()).unwrap();
        assert_eq!(link.key, user.to_string());
        assert_eq!(
            record_drift(ObjectType::Contacts, &link, &seen)
                .unwrap()
                .link_to(),
            Some("41")
        );
        for skipped in [
            UserLink {
                company_id: None,
                ..base.clone()
            },
            UserLink {
                privacy_deleted: true,
                ..base.clone()
            },
            UserLink {
                merge_undecided: true,
                ..base.clone()
            },
            UserLink { held: true, ..base },
        ] {
            assert_eq!(LocalLink::of_user(skipped), None);
        }
    }
}
