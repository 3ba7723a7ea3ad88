//! Trunks and numbers in the home portal (issue 22 item 2), outbound only: WARP's values win.
//!
//! Where the portal has custom objects (the limit API says so, and the schemas can be made),
//! each trunk and number is a record of `warp_trunk` / `warp_number`, upserted by WARP's id in
//! batches of 100, associated with its customer's company (a number with its trunk too).
//! Otherwise the company carries counts and lists (`warp_trunk_count`, …). Which one is
//! detected at the first pass, kept in `hubspot_service_objects`, and shown in the sync status.
//! A read-back ([`ServiceDesk::check`]) finds records edited in HubSpot, pushes WARP's values
//! back and logs them as overridden.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use uuid::Uuid;
use warp_domain::phone_number::PhoneNumber;
use warp_domain::service_objects::{
    self as service, NUMBER_OBJECT, NUMBER_PROPERTIES, ServiceObjectsMode, TRUNK_OBJECT,
    TRUNK_PROPERTIES, Values,
};
use warp_domain::trunk::Trunk;
use warp_hubspot::schemas::{ObjectSchema, schema_create};
use warp_hubspot::{
    BatchUpdateInput, BatchUpsertInput, CrmObject, HubSpotClient, HubSpotError, HubSpotId,
    ReadOptions,
};
use warp_store::service_push::{self, DetectedMode, Due, PushLogEntry};
use warp_store::services::ServiceItem;
use warp_store::{Database, StoreError};

use crate::outbound::{Answer, answers_by_input, describe_call_error};

/// Rows one pass pushes at most (of each kind): five batches.
pub const PUSH_PER_PASS: i64 = 500;
/// Records one read-back reads at most.
pub const CHECK_PER_RUN: i64 = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum ServicePushError {
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("HubSpot: {0}")]
    HubSpot(#[from] HubSpotError),
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushReport {
    pub trunks: usize,
    pub numbers: usize,
    pub companies: usize,
    pub failed: usize,
}

/// What one read-back found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckReport {
    pub read: usize,
    pub overridden: usize,
    /// Records deleted in HubSpot (logged as failed: a person restores them there).
    pub deleted: usize,
    /// HubSpot requests the read-back made.
    pub requests: usize,
}

/// Pushes a deployment's trunks and numbers to its home portal.
pub struct ServiceDesk {
    database: Database,
    hubspot: HubSpotClient,
    portal_id: i64,
    /// The mode detected by this process (detection is once per process: a portal upgraded to
    /// Enterprise is seen at the next start, or through [`ServiceDesk::detect`]).
    mode: Mutex<Option<DetectedMode>>,
    /// This process's name on the portal's pass lease.
    holder: Uuid,
}

impl ServiceDesk {
    pub fn new(database: Database, hubspot: HubSpotClient, portal_id: i64) -> Self {
        ServiceDesk {
            database,
            hubspot,
            portal_id,
            mode: Mutex::new(None),
            holder: Uuid::new_v4(),
        }
    }

    /// Finds out how the portal shows trunks and numbers (making the two custom object types
    /// where it can) and records it.
    pub async fn detect(&self) -> Result<DetectedMode, ServicePushError> {
        let detected = match self.custom_types().await? {
            Ok((trunk, number)) => DetectedMode {
                mode: ServiceObjectsMode::CustomObjects,
                detail: format!(
                    "custom objects {} ({}) and {} ({})",
                    trunk.fully_qualified_name,
                    trunk.object_type_id,
                    number.fully_qualified_name,
                    number.object_type_id
                ),
                trunk_type_id: Some(trunk.object_type_id),
                number_type_id: Some(number.object_type_id),
                detected_at: chrono::Utc::now(),
            },
            Err(reason) => DetectedMode {
                mode: ServiceObjectsMode::CompanyProperties,
                trunk_type_id: None,
                number_type_id: None,
                detail: reason,
                detected_at: chrono::Utc::now(),
            },
        };
        service_push::save_mode(&self.database, self.portal_id, &detected).await?;
        tracing::info!(
            mode = detected.mode.as_str(),
            detail = %detected.detail,
            "trunks and numbers: HubSpot mode detected"
        );
        *lock(&self.mode) = Some(detected.clone());
        Ok(detected)
    }

    /// The two custom object types, made when missing; `Err(reason)` when the portal has no
    /// custom objects.
    async fn custom_types(
        &self,
    ) -> Result<Result<(ObjectSchema, ObjectSchema), String>, HubSpotError> {
        match self.hubspot.custom_object_limit().await {
            Ok(limit) if limit.limit <= 0 => {
                return Ok(Err(format!(
                    "the portal's custom object limit is {} (custom objects need Enterprise)",
                    limit.limit
                )));
            }
            Ok(_) => {}
            Err(HubSpotError::Unauthorized { status: 403, .. }) => {
                return Ok(Err(
                    "HubSpot answered 403 to the custom object limit (no Enterprise, or no scope)"
                        .to_owned(),
                ));
            }
            Err(error) => return Err(error),
        }
        let schemas = self.hubspot.object_schemas().await?;
        let find = |name: &str| schemas.iter().find(|s| s.name == name).cloned();
        let trunk = match find(TRUNK_OBJECT.name) {
            Some(trunk) => trunk,
            None => match self.create(&TRUNK_OBJECT, TRUNK_PROPERTIES, None).await? {
                Ok(trunk) => trunk,
                Err(reason) => return Ok(Err(reason)),
            },
        };
        let number = match find(NUMBER_OBJECT.name) {
            Some(number) => number,
            None => {
                let also = Some(trunk.object_type_id.as_str());
                match self.create(&NUMBER_OBJECT, NUMBER_PROPERTIES, also).await? {
                    Ok(number) => number,
                    Err(reason) => return Ok(Err(reason)),
                }
            }
        };
        // Stored and put in paths later: only an id of HubSpot's form is taken.
        for schema in [&trunk, &number] {
            if CrmObject::custom(&schema.object_type_id).is_none() {
                return Ok(Err(format!(
                    "HubSpot answered {:?} for {}, which is no objectTypeId (2-<digits>)",
                    schema.object_type_id, schema.name
                )));
            }
        }
        Ok(Ok((trunk, number)))
    }

    async fn create(
        &self,
        object: &service::ServiceObject,
        properties: &[service::PropertySpec],
        also: Option<&str>,
    ) -> Result<Result<ObjectSchema, String>, HubSpotError> {
        let schema = schema_create(object, properties, also);
        match self.hubspot.create_object_schema(&schema).await {
            Ok(created) => {
                tracing::info!(name = object.name, type_id = %created.object_type_id, "custom object type created");
                Ok(Ok(created))
            }
            Err(HubSpotError::Unauthorized { status: 403, .. }) => Ok(Err(format!(
                "HubSpot answered 403 to creating {} (custom objects need Enterprise)",
                object.name
            ))),
            Err(error) => Err(error),
        }
    }

    /// The mode: detected once per process, then as stored (another process may have detected
    /// a change since: its mode is the one the rows were reset for).
    async fn mode(&self) -> Result<DetectedMode, ServicePushError> {
        let cached = lock(&self.mode).clone();
        if cached.is_none() {
            return self.detect().await;
        }
        match service_push::load_mode(&self.database, self.portal_id).await? {
            Some(stored) => {
                *lock(&self.mode) = Some(stored.clone());
                Ok(stored)
            }
            None => self.detect().await,
        }
    }

    /// Pushes what changed since the last push: up to [`PUSH_PER_PASS`] trunks then numbers
    /// (custom objects), or the companies of up to 100 customers (company properties). `true`
    /// when a batch was full (more may wait).
    pub async fn pass(&self) -> Result<bool, ServicePushError> {
        let report = self.push().await?;
        Ok(report.trunks as i64 >= PUSH_PER_PASS
            || report.numbers as i64 >= PUSH_PER_PASS
            || report.companies >= 100)
    }

    /// One pass, and what it did; nothing while another process's pass holds the portal's
    /// lease (overlapping passes would read the same rows).
    pub async fn push(&self) -> Result<PushReport, ServicePushError> {
        let mode = self.mode().await?;
        if !service_push::take_pass_lease(&self.database, self.portal_id, self.holder).await? {
            tracing::debug!("another pass of trunks and numbers is running");
            return Ok(PushReport::default());
        }
        let pushed = self.push_in(&mode).await;
        if let Err(error) =
            service_push::release_pass_lease(&self.database, self.portal_id, self.holder).await
        {
            tracing::warn!(%error, "could not give the pass lease back (it runs out by itself)");
        }
        pushed
    }

    async fn push_in(&self, mode: &DetectedMode) -> Result<PushReport, ServicePushError> {
        match (
            mode.trunk_type_id.as_deref(),
            mode.number_type_id.as_deref(),
        ) {
            (Some(trunk_type), Some(number_type)) => {
                let trunk_type = custom(trunk_type)?;
                let number_type = custom(number_type)?;
                let mut report = PushReport::default();
                self.push_trunks(trunk_type, &mut report).await?;
                self.push_numbers(number_type, trunk_type, &mut report)
                    .await?;
                Ok(report)
            }
            _ => self.push_companies().await,
        }
    }

    async fn push_trunks(
        &self,
        trunk_type: CrmObject,
        report: &mut PushReport,
    ) -> Result<(), ServicePushError> {
        let due = service_push::due_trunks(&self.database, PUSH_PER_PASS).await?;
        if due.is_empty() {
            return Ok(());
        }
        let values: Vec<Values> = due
            .iter()
            .map(|d| service::trunk_values(&d.item, &d.ban))
            .collect();
        let written = self
            .upsert(trunk_type, &TRUNK_OBJECT, &due, &values, "trunk", report)
            .await?;
        let new_pairs: Vec<(HubSpotId, HubSpotId)> = written
            .iter()
            .filter(|(index, object)| is_new(&due[*index], object))
            .filter_map(|(index, object)| pair(object, &due[*index].company_id))
            .collect();
        self.associate(trunk_type, CrmObject::Companies, &new_pairs)
            .await?;
        // A trunk made again (deleted in HubSpot) lost its numbers' associations: they go again.
        let remade: Vec<Uuid> = written
            .iter()
            .filter(|(index, object)| {
                due[*index].hubspot_object_id.is_some() && is_new(&due[*index], object)
            })
            .map(|(index, _)| due[*index].item.id)
            .collect();
        let pushed: Vec<(Uuid, i64, String)> = written
            .into_iter()
            .map(|(index, object)| (due[index].item.id, due[index].item.version, object))
            .collect();
        report.trunks += pushed.len();
        service_push::trunks_pushed(&self.database, &pushed).await?;
        service_push::numbers_of_trunks_again(&self.database, &remade).await?;
        Ok(())
    }

    async fn push_numbers(
        &self,
        number_type: CrmObject,
        trunk_type: CrmObject,
        report: &mut PushReport,
    ) -> Result<(), ServicePushError> {
        // A number routed to a trunk HubSpot does not have yet waits for it (not read).
        let due = service_push::due_numbers(&self.database, PUSH_PER_PASS).await?;
        if due.is_empty() {
            return Ok(());
        }
        let rows: Vec<Due<PhoneNumber>> = due.iter().map(|d| d.due.clone()).collect();
        let values: Vec<Values> = rows
            .iter()
            .map(|d| service::number_values(&d.item, &d.ban))
            .collect();
        let written = self
            .upsert(
                number_type,
                &NUMBER_OBJECT,
                &rows,
                &values,
                "number",
                report,
            )
            .await?;
        let mut to_company = Vec::new();
        let mut to_trunk = Vec::new();
        let mut from_old_trunk = Vec::new();
        for (index, object) in &written {
            let number = &due[*index];
            let new = is_new(&number.due, object);
            if new {
                to_company.extend(pair(object, &number.due.company_id));
            }
            let pushed_trunk = number.pushed_trunk.as_ref().map(|(id, _)| *id);
            if pushed_trunk != number.due.item.trunk_id || new {
                if let Some(trunk_object) = &number.trunk_object_id {
                    to_trunk.extend(pair(object, trunk_object));
                }
                if let Some((_, Some(old_object))) = &number.pushed_trunk
                    && Some(old_object) != number.trunk_object_id.as_ref()
                {
                    from_old_trunk.extend(pair(object, old_object));
                }
            }
        }
        self.associate(number_type, CrmObject::Companies, &to_company)
            .await?;
        self.associate(number_type, trunk_type, &to_trunk).await?;
        if !from_old_trunk.is_empty() {
            let removed = self
                .hubspot
                .associations(number_type, trunk_type)
                .batch_archive(&from_old_trunk)
                .await;
            if let Some(failed) = removed.failed_calls.into_iter().next() {
                return Err(failed.error.into());
            }
        }
        let pushed: Vec<(Uuid, i64, String, Option<Uuid>)> = written
            .into_iter()
            .map(|(index, object)| {
                let number = &due[index].due.item;
                (number.id, number.version, object, number.trunk_id)
            })
            .collect();
        report.numbers += pushed.len();
        service_push::numbers_pushed(&self.database, &pushed).await?;
        Ok(())
    }

    /// Upserts the rows by WARP's id; answers each written row's index and HubSpot record.
    /// Refused rows are logged and stay due; a failed call fails the pass (retried).
    async fn upsert<T: ServiceItem>(
        &self,
        object_type: CrmObject,
        object: &service::ServiceObject,
        rows: &[Due<T>],
        values: &[Values],
        kind: &'static str,
        report: &mut PushReport,
    ) -> Result<Vec<(usize, String)>, ServicePushError> {
        let inputs: Vec<BatchUpsertInput> = rows
            .iter()
            .zip(values)
            .map(|(row, values)| {
                BatchUpsertInput::new(
                    object.id_property,
                    row.item.id().to_string(),
                    values.clone(),
                )
            })
            .collect();
        let mut result = self
            .hubspot
            .objects(object_type)
            .batch_upsert(&inputs)
            .await;
        if result.results.is_empty() && !result.failed_calls.is_empty() {
            let failed = result.failed_calls.swap_remove(0);
            tracing::warn!(error = %describe_call_error(&failed.error), kind, "a batch upsert failed");
            return Err(failed.error.into());
        }
        let mut written = Vec::new();
        let mut refused = Vec::new();
        let mut for_good = Vec::new();
        for (index, answer) in answers_by_input(&inputs, &result).into_iter().enumerate() {
            let error = match answer {
                Answer::Accepted { hubspot_id, .. } => {
                    written.push((index, hubspot_id));
                    continue;
                }
                Answer::Refused { error, permanent } => {
                    // Sending the same values again cannot help: not due until it changes.
                    if permanent {
                        for_good.push((rows[index].item.id(), rows[index].item.version()));
                    }
                    error
                }
                Answer::Waiting { reason } => reason,
            };
            refused.push(PushLogEntry {
                kind,
                local_id: rows[index].item.id(),
                outcome: "failed",
                properties: Vec::new(),
                hubspot_id: rows[index].hubspot_object_id.clone(),
                error: Some(error),
            });
        }
        report.failed += refused.len();
        if !refused.is_empty() {
            tracing::warn!(
                kind,
                refused = refused.len(),
                "HubSpot refused some records"
            );
        }
        service_push::log(&self.database, self.portal_id, &refused).await?;
        service_push::refused::<T>(&self.database, &for_good).await?;
        Ok(written)
    }

    async fn associate(
        &self,
        from: CrmObject,
        to: CrmObject,
        pairs: &[(HubSpotId, HubSpotId)],
    ) -> Result<(), ServicePushError> {
        if pairs.is_empty() {
            return Ok(());
        }
        let result = self
            .hubspot
            .associations(from, to)
            .batch_associate_default(pairs)
            .await;
        match result.failed_calls.into_iter().next() {
            // The records are written but not linked: the pass fails, and the next one
            // upserts them again (nothing changes) and links them.
            Some(failed) => Err(failed.error.into()),
            None => Ok(()),
        }
    }

    /// The fallback: each due customer's company gets its counts and lists.
    async fn push_companies(&self) -> Result<PushReport, ServicePushError> {
        let customers = service_push::due_customers(&self.database, 100).await?;
        let mut inputs = Vec::new();
        let mut versions = Vec::new();
        for customer in customers {
            let Some((company, trunks, numbers)) =
                service_push::services_of(&self.database, customer).await?
            else {
                continue;
            };
            let Ok(company) = HubSpotId::parse(company) else {
                continue;
            };
            inputs.push(BatchUpdateInput {
                id: company,
                properties: service::company_service_values(&trunks, &numbers),
                object_write_trace_id: None,
            });
            versions.push((
                customer,
                trunks.iter().map(|t| (t.id, t.version)).collect::<Vec<_>>(),
                numbers
                    .iter()
                    .map(|n| (n.id, n.version))
                    .collect::<Vec<_>>(),
            ));
        }
        if inputs.is_empty() {
            return Ok(PushReport::default());
        }
        let result = self.hubspot.companies().batch_update(&inputs).await;
        if let Some(failed) = result.failed_calls.into_iter().next() {
            return Err(failed.error.into());
        }
        let written: std::collections::HashSet<&str> =
            result.results.iter().map(|r| r.id.as_str()).collect();
        let mut report = PushReport::default();
        let mut failed = Vec::new();
        for (input, (customer, trunks, numbers)) in inputs.iter().zip(&versions) {
            if written.contains(input.id.as_str()) {
                service_push::customer_pushed(&self.database, trunks, numbers).await?;
                report.companies += 1;
            } else {
                // HubSpot refused this company (gone, say): its rows wait until they change,
                // never stalling the customers behind them.
                report.failed += 1;
                service_push::refused::<Trunk>(&self.database, trunks).await?;
                service_push::refused::<PhoneNumber>(&self.database, numbers).await?;
                failed.push(PushLogEntry {
                    kind: "company",
                    local_id: *customer,
                    outcome: "failed",
                    properties: Vec::new(),
                    hubspot_id: Some(input.id.to_string()),
                    error: Some("HubSpot did not update the company".to_owned()),
                });
            }
        }
        service_push::log(&self.database, self.portal_id, &failed).await?;
        Ok(report)
    }

    /// Reads back what WARP pushed (custom object records) and puts WARP's values back where
    /// HubSpot holds others (edited there), logging each as overridden; the next pass writes
    /// them. A dry run only counts. A record deleted in HubSpot is counted and logged, not
    /// pushed (its WARP id stays reserved to it there).
    pub async fn check(&self, dry_run: bool) -> Result<CheckReport, ServicePushError> {
        let mode = self.mode().await?;
        let (Some(trunk_type), Some(number_type)) = (
            mode.trunk_type_id.as_deref(),
            mode.number_type_id.as_deref(),
        ) else {
            return Ok(CheckReport::default());
        };
        let mut report = CheckReport::default();
        self.check_kind::<Trunk>(
            custom(trunk_type)?,
            "trunk",
            TRUNK_PROPERTIES,
            dry_run,
            &mut report,
            |d| service::trunk_values(&d.item, &d.ban),
        )
        .await?;
        self.check_kind::<PhoneNumber>(
            custom(number_type)?,
            "number",
            NUMBER_PROPERTIES,
            dry_run,
            &mut report,
            |d| service::number_values(&d.item, &d.ban),
        )
        .await?;
        Ok(report)
    }

    async fn check_kind<T: ServiceItem>(
        &self,
        object_type: CrmObject,
        kind: &'static str,
        properties: &[service::PropertySpec],
        dry_run: bool,
        report: &mut CheckReport,
        values_of: impl Fn(&Due<T>) -> Values,
    ) -> Result<(), ServicePushError> {
        let names: Vec<String> = properties.iter().map(|p| p.0.to_owned()).collect();
        let options = ReadOptions::properties(names);
        let mut after = None;
        while (report.read as i64) < CHECK_PER_RUN {
            let rows = service_push::pushed::<T>(&self.database, after, 100).await?;
            let Some(last) = rows.last() else { break };
            after = Some(last.item.id());
            let ids: Vec<String> = rows
                .iter()
                .filter_map(|r| r.hubspot_object_id.clone())
                .collect();
            report.requests += 1;
            let result = self
                .hubspot
                .objects(object_type)
                .batch_read(&ids, None, &options)
                .await;
            if let Some(failed) = result.failed_calls.into_iter().next() {
                return Err(failed.error.into());
            }
            let found: HashMap<&str, &BTreeMap<String, Option<String>>> = result
                .results
                .iter()
                .map(|record| (record.id.as_str(), &record.properties))
                .collect();
            let mut differing = Vec::new();
            let mut deleted = Vec::new();
            for row in &rows {
                report.read += 1;
                let object = row.hubspot_object_id.as_deref().unwrap_or_default();
                let entry = |outcome, properties, error: Option<&str>| PushLogEntry {
                    kind,
                    local_id: row.item.id(),
                    outcome,
                    properties,
                    hubspot_id: Some(object.to_owned()),
                    error: error.map(str::to_owned),
                };
                match found.get(object) {
                    None => deleted.push(entry(
                        "failed",
                        Vec::new(),
                        Some(
                            "deleted in HubSpot: restore it from HubSpot's recycle bin (its WARP id stays reserved to it)",
                        ),
                    )),
                    Some(theirs) => {
                        let names = service::differing(&values_of(row), theirs);
                        if !names.is_empty() {
                            differing.push(((row.item.id(), row.item.version()), entry(
                                "overridden",
                                names,
                                None,
                            )));
                        }
                    }
                }
            }
            report.deleted += deleted.len();
            if dry_run {
                report.overridden += differing.len();
                continue;
            }
            if !differing.is_empty() {
                let read: Vec<(Uuid, i64)> = differing.iter().map(|(row, _)| *row).collect();
                // A row changed or pushed since it was read differs because of that push.
                let again = service_push::push_again::<T>(&self.database, &read).await?;
                let entries: Vec<PushLogEntry> = differing
                    .into_iter()
                    .filter(|(row, _)| again.contains(&row.0))
                    .map(|(_, entry)| entry)
                    .collect();
                if !entries.is_empty() {
                    tracing::info!(
                        kind,
                        records = entries.len(),
                        "records edited in HubSpot: WARP's values go back"
                    );
                }
                report.overridden += entries.len();
                service_push::log(&self.database, self.portal_id, &entries).await?;
            }
            if !deleted.is_empty() {
                tracing::warn!(kind, records = deleted.len(), "records deleted in HubSpot");
                service_push::log(&self.database, self.portal_id, &deleted).await?;
            }
        }
        Ok(())
    }
}

/// Runs passes until `shutdown`: again at once while a batch was full, else after `interval`.
pub async fn run_service_loop(
    desk: std::sync::Arc<ServiceDesk>,
    interval: std::time::Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    crate::passes::run_passes("trunks and numbers", interval, shutdown, || async {
        desk.pass().await
    })
    .await;
}

fn custom(type_id: &str) -> Result<CrmObject, ServicePushError> {
    CrmObject::custom(type_id).ok_or_else(|| {
        ServicePushError::Store(StoreError::Other(format!(
            "stored custom object type {type_id:?} is no objectTypeId"
        )))
    })
}

/// Whether the upsert made a record WARP did not know (first push, or made again after a
/// deletion in HubSpot): it needs its associations.
fn is_new<T>(row: &Due<T>, object: &str) -> bool {
    row.hubspot_object_id.as_deref() != Some(object)
}

fn pair(from: &str, to: &str) -> Option<(HubSpotId, HubSpotId)> {
    Some((HubSpotId::parse(from).ok()?, HubSpotId::parse(to).ok()?))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}
