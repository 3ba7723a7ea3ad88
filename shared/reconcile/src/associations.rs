//! Association drift: a contact whose primary company in HubSpot is not its user's customer's
//! company (removed, or another company made primary by hand). WARP's membership wins, as
//! for a live `contact.associationChange`: the association is queued again, as a push-back
//! that associates the customer's company as primary (and, after a move, removes the old one).

use std::collections::{HashMap, HashSet};

use warp_domain::sync::{DriftKind, ObjectType};
use warp_hubspot::associations::type_ids;
use warp_store::outbox::{self, OutboxOperation};
use warp_store::{StoreError, links};

use crate::engine::{Pair, ReconcileError, Reconciler};
use crate::report::{DriftReport, RecordFindings, RepairKind};

impl Reconciler {
    /// Checks the company association of one page of linked contacts (one batch read) and
    /// repairs the broken ones.
    pub(crate) async fn check_associations(
        &self,
        pairs: &[Pair],
        report: &mut DriftReport,
    ) -> Result<(), ReconcileError> {
        let expected: Vec<(&Pair, &str)> = pairs
            .iter()
            .filter_map(|pair| Some((pair, pair.local.parent_hubspot_id.as_deref()?)))
            .collect();
        if expected.is_empty() {
            return Ok(());
        }
        let ids: Vec<_> = expected
            .iter()
            .map(|(pair, _)| pair.remote.id.clone())
            .collect();
        let read = self
            .reader
            .associations(ObjectType::Contacts, ObjectType::Companies)
            .batch_read(&ids)
            .await;
        report.hubspot_requests += read.calls as u64;
        if let Some(failed) = read.failed_calls.first() {
            // Nothing is judged on a partial answer: the next run reads them again.
            report.error(format!("reading contact associations: {}", failed.error));
            return Ok(());
        }
        let primary: HashMap<&str, HashSet<&str>> = read
            .results
            .iter()
            .map(|record| {
                let companies = record
                    .to
                    .iter()
                    .filter(|to| to.has_type(type_ids::CONTACT_TO_COMPANY_PRIMARY))
                    .map(|to| to.to_object_id.as_str())
                    .collect();
                (record.from.id.as_str(), companies)
            })
            .collect();
        let broken: Vec<&Pair> = expected
            .into_iter()
            .filter(|(pair, company)| {
                !primary
                    .get(pair.remote.id.as_str())
                    .is_some_and(|companies| companies.contains(company))
            })
            .map(|(pair, _)| pair)
            .collect();
        if broken.is_empty() {
            return Ok(());
        }
        if !report.dry_run {
            let queued = self.queue_associations(&broken).await?;
            report.repaired("associations_queued", queued.len() as u64);
            self.publish(&queued).await;
        }
        for pair in broken {
            report.add_record(RecordFindings {
                object_type: ObjectType::Contacts,
                local_id: pair.local.id,
                hubspot_id: Some(pair.remote.id.as_str().to_owned()),
                record: Some((DriftKind::BrokenAssociation, !report.dry_run)),
                fields: &[],
                repairs: vec![RepairKind::Associate],
            });
        }
        Ok(())
    }

    /// Forgets the company each contact was last associated with, so that its push-back
    /// associates its customer's company again; returns the outbox ids.
    async fn queue_associations(&self, broken: &[&Pair]) -> Result<Vec<i64>, StoreError> {
        let mut client = self.database.client().await?;
        let transaction = client.transaction().await?;
        let connection: &tokio_postgres::Transaction<'_> = &transaction;
        for pair in broken {
            links::forget_parent(
                connection,
                self.portal_id,
                ObjectType::Contacts,
                pair.local.id,
            )
            .await?;
        }
        let rows: Vec<_> = broken
            .iter()
            .map(|pair| (pair.local.id, pair.local.version))
            .collect();
        let queued = outbox::enqueue_many(
            connection,
            self.portal_id,
            ObjectType::Contacts,
            OutboxOperation::PushBack,
            &rows,
        )
        .await?;
        transaction.commit().await?;
        Ok(queued.into_iter().map(|(_, id)| id).collect())
    }
}
