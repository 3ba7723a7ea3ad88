//! Runs won deals' onboardings (issue 20; the steps and their order are
//! `warp_domain::onboarding`): claims due ones, does each step's HubSpot call or database
//! write, and records the step reached before the next one, so a crash resumes at the step
//! it stopped in and every step is safe to repeat.

use std::sync::Arc;
use std::time::Duration;

use warp_domain::customer::{Ban, CompanyName, CustomerType, NewCustomer};
use warp_domain::onboarding::{
    self as rules, AfterFailure, OnboardingStep, StepFailure, after_failure,
};
use warp_domain::sync::{FieldMap, WarpField, canonical_opt};
use warp_hubspot::associations::type_ids::DEAL_TO_COMPANY_PRIMARY;
use warp_hubspot::{
    BatchUpsertInput, CrmObject, HubSpotClient, HubSpotError, HubSpotId, HubSpotRecord,
    ReadOptions, RecordLookup, WARP_BAN_PROPERTY, WARP_EVENT_ID_PROPERTY,
};
use warp_store::inbound::set_field_value;
use warp_store::onboardings::{self, Onboarding, StepResult};
use warp_store::outbox::OutboxPublisher;
use warp_store::sync_config::MappingSource;
use warp_store::{CustomerStore, Database, StoreError, deals};

/// How long a claimed onboarding is left to its runner: longer than its steps' calls take
/// together, retries included.
pub const LEASE: Duration = Duration::from_secs(120);

/// The company's name, the one property a customer cannot be made without.
const COMPANY_NAME: &str = "name";

/// What a new customer takes where the company's properties say nothing.
#[derive(Debug, Clone)]
pub struct CustomerTemplate {
    pub customer_type: CustomerType,
}

/// Runs the onboardings of one portal.
#[derive(Clone)]
pub struct OnboardingRunner {
    pub database: Database,
    pub hubspot: HubSpotClient,
    pub map: MappingSource,
    pub portal_id: i64,
    pub template: CustomerTemplate,
    /// Hands a new customer's first push to the queue; without one the relay or the local
    /// outbox loop picks it up.
    pub publisher: Option<Arc<dyn OutboxPublisher>>,
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OnboardingReport {
    pub claimed: usize,
    /// Steps completed.
    pub steps: usize,
    pub done: usize,
    pub parked: usize,
    /// Failed attempts left for a later retry.
    pub retrying: usize,
    pub customers_created: usize,
}

/// A step's outcome: the onboarding as it now stands, or `None` when another runner moved it.
type Stepped = Result<Option<Onboarding>, StepFailure>;

impl OnboardingRunner {
    /// Claims up to `limit` due onboardings and runs each to its end, a parking or a failure.
    pub async fn run_due(&self, limit: i64) -> Result<OnboardingReport, StoreError> {
        self.run_due_steps(limit, usize::MAX).await
    }

    /// As [`Self::run_due`], stopping each onboarding after `max_steps` steps with its lease
    /// still held, as a process killed between two steps leaves it (the tests' crash).
    pub async fn run_due_steps(
        &self,
        limit: i64,
        max_steps: usize,
    ) -> Result<OnboardingReport, StoreError> {
        let claimed = onboardings::claim_due(&self.database, self.portal_id, limit, LEASE).await?;
        let mut report = OnboardingReport {
            claimed: claimed.len(),
            ..OnboardingReport::default()
        };
        for onboarding in claimed {
            self.drive(onboarding, max_steps, &mut report).await?;
        }
        Ok(report)
    }

    async fn drive(
        &self,
        mut onboarding: Onboarding,
        max_steps: usize,
        report: &mut OnboardingReport,
    ) -> Result<(), StoreError> {
        let span = tracing::info_span!("onboarding", id = %onboarding.id, deal = %onboarding.hubspot_deal_id);
        let _entered = span.enter();
        for _ in 0..max_steps {
            if onboarding.step == OnboardingStep::Done {
                break;
            }
            let step = onboarding.step;
            match self.step(&onboarding).await {
                Ok(Some(next)) => {
                    tracing::info!(from = %step, to = %next.step, "onboarding step done");
                    report.steps += 1;
                    if step == OnboardingStep::CreateCustomer && next.created_customer {
                        report.customers_created += 1;
                    }
                    if next.step == OnboardingStep::Done {
                        report.done += 1;
                    }
                    onboarding = next;
                }
                Ok(None) => break,
                Err(failure) => {
                    let attempts = u32::try_from(onboarding.attempts).unwrap_or(u32::MAX);
                    let after = after_failure(&failure, attempts);
                    let error = match &failure {
                        StepFailure::Transient(error) | StepFailure::Refused(error) => error,
                    };
                    match &after {
                        AfterFailure::Park(reason) => {
                            tracing::warn!(%step, %reason, "onboarding parked");
                            report.parked += 1;
                        }
                        AfterFailure::RetryIn(delay) => {
                            tracing::warn!(%step, %error, ?delay, "onboarding step failed; retrying later");
                            report.retrying += 1;
                        }
                    }
                    onboardings::fail(&self.database, onboarding.id, step, error, &after).await?;
                    break;
                }
            }
        }
        Ok(())
    }

    /// Runs the onboarding's current step once.
    async fn step(&self, onboarding: &Onboarding) -> Stepped {
        match onboarding.step {
            OnboardingStep::FindCompany => self.find_company(onboarding).await,
            OnboardingStep::StampCompany => self.stamp_company(onboarding).await,
            OnboardingStep::CreateCustomer => self.create_customer(onboarding).await,
            OnboardingStep::WriteDealBan => self.write_deal_ban(onboarding).await,
            OnboardingStep::RecordNote => self.record_note(onboarding).await,
            OnboardingStep::Done => Ok(Some(onboarding.clone())),
        }
    }

    async fn advance(&self, onboarding: &Onboarding, result: StepResult) -> Stepped {
        let known = result.customer_id.is_some() || onboarding.customer_id.is_some();
        let created = result.created_customer || onboarding.created_customer;
        let next = onboarding.step.next(known, created);
        let client = self.database.client().await.map_err(transient)?;
        onboardings::advance(&**client, onboarding.id, onboarding.step, next, &result)
            .await
            .map_err(transient)
    }

    /// FIND_COMPANY: the deal must still be won and have a company; a company already a
    /// customer only needs the BAN on the deal, any other gets a BAN reserved.
    async fn find_company(&self, onboarding: &Onboarding) -> Stepped {
        let client = self.database.client().await.map_err(transient)?;
        let deal = deals::by_hubspot_id(&**client, self.portal_id, &onboarding.hubspot_deal_id)
            .await
            .map_err(transient)?
            .ok_or_else(|| refused("the deal is not stored in WARP"))?;
        if deal.archived {
            return Err(refused("the deal was deleted or merged in HubSpot"));
        }
        if deal.stage_outcome != "won" {
            return Err(refused(
                "the deal is no longer in a won stage; nothing was created",
            ));
        }
        let company_id = match deal.hubspot_company_id {
            Some(company) => company,
            None => self
                .company_of_deal(&onboarding.hubspot_deal_id)
                .await?
                .ok_or_else(|| {
                    refused(
                        "the deal has no associated company in HubSpot: associate one and the \
                         onboarding resumes when the deal changes",
                    )
                })?,
        };
        if let Some(customer) = onboardings::customer_of_company(&**client, &company_id)
            .await
            .map_err(transient)?
        {
            if customer.is_deleted() {
                return Err(refused(&format!(
                    "the company's customer {} ({}) is closed; reopen it or link the company to another customer",
                    customer.id, customer.ban
                )));
            }
            return self
                .advance(
                    onboarding,
                    StepResult {
                        company_id: Some(company_id),
                        ban: Some(customer.ban),
                        customer_id: Some(customer.id),
                        created_customer: false,
                    },
                )
                .await;
        }
        let ban = onboardings::reserve_company_ban(&**client, self.portal_id, &company_id, || {
            Ban::generate(&mut rand::rng())
        })
        .await
        .map_err(transient)?;
        self.advance(
            onboarding,
            StepResult {
                company_id: Some(company_id),
                ban: Some(ban),
                ..StepResult::default()
            },
        )
        .await
    }

    /// The deal's primary company as HubSpot associates it now (the stored deal had none).
    async fn company_of_deal(&self, deal_id: &str) -> Result<Option<String>, StepFailure> {
        let id = HubSpotId::parse(deal_id).map_err(|_| refused("the deal id is not HubSpot's"))?;
        let read = self
            .hubspot
            .associations(CrmObject::Deals, CrmObject::Companies)
            .batch_read(std::slice::from_ref(&id))
            .await;
        if let Some(failure) = read.failed_calls.first() {
            return Err(hubspot_failure(
                &failure.error,
                "reading the deal's companies",
            ));
        }
        Ok(read
            .results
            .iter()
            .find_map(|record| record.primary_or_lowest(DEAL_TO_COMPANY_PRIMARY))
            .map(str::to_owned))
    }

    /// STAMP_COMPANY: the reserved BAN onto the company, unless it carries it already. A
    /// company carrying another BAN is a person's decision, never overwritten.
    async fn stamp_company(&self, onboarding: &Onboarding) -> Stepped {
        let (company_id, ban) = reserved(onboarding)?;
        let client = self.database.client().await.map_err(transient)?;
        if onboardings::customer_of_company(&**client, company_id)
            .await
            .map_err(transient)?
            .is_some()
        {
            // Linked meanwhile (another deal's onboarding, or an admin's link): its BAN stays.
            return self.advance(onboarding, StepResult::default()).await;
        }
        let company = self.read_company(company_id, &[WARP_BAN_PROPERTY]).await?;
        match company.property(WARP_BAN_PROPERTY) {
            Some(held) if held == ban.as_str() => {}
            Some(held) => {
                let owner = CustomerStore::new(self.database.clone(), self.portal_id)
                    .get_by_ban(&Ban::parse(held).map_err(|_| {
                        refused(&format!(
                            "the company carries warp_ban {held:?}, which is not a BAN; clear it in HubSpot, then retry"
                        ))
                    })?)
                    .await;
                return Err(refused(&match owner {
                    Ok(customer) => format!(
                        "the company carries BAN {held} of customer {}; link them (POST /v1/customers/{}/hubspot-link), then retry",
                        customer.id, customer.id
                    ),
                    Err(_) => format!(
                        "the company carries BAN {held}, which no WARP customer holds; clear it in HubSpot, then retry"
                    ),
                }));
            }
            None => {
                let properties = std::collections::BTreeMap::from([(
                    WARP_BAN_PROPERTY.to_owned(),
                    ban.to_string(),
                )]);
                self.hubspot
                    .companies()
                    .update(&RecordLookup::Id(company.id.clone()), &properties)
                    .await
                    .map_err(|error| match error {
                        HubSpotError::Conflict { .. } => refused(&format!(
                            "another HubSpot company already carries BAN {ban}; retry to reserve another"
                        )),
                        other => hubspot_failure(&other, "writing warp_ban on the company"),
                    })?;
            }
        }
        self.advance(onboarding, StepResult::default()).await
    }

    /// CREATE_CUSTOMER: the customer from the company's mapped properties, linked to it, and
    /// its first push queued, in one transaction with the step.
    async fn create_customer(&self, onboarding: &Onboarding) -> Stepped {
        let (company_id, ban) = reserved(onboarding)?;
        let map = self.map.current();
        let mut wanted = map.hubspot_properties();
        wanted.push(COMPANY_NAME);
        let company = self.read_company(company_id, &wanted).await?;
        let fields =
            customer_fields(&map, &company, &self.template).map_err(|why| refused(&why))?;
        let next = OnboardingStep::CreateCustomer.next(false, true);
        let created = onboardings::create_company_customer(
            &self.database,
            onboarding,
            company_id,
            ban,
            &fields,
            &company.mapped_values(&map),
            company.updated_at,
            next,
        )
        .await
        .map_err(|error| match error {
            StoreError::Conflict(why) => refused(&why),
            other => transient(other),
        })?;
        let Some((advanced, customer)) = created else {
            return Ok(None);
        };
        if let (Some(outbox_id), Some(publisher)) = (customer.outbox_id, &self.publisher) {
            publisher.publish(outbox_id).await;
        }
        // Not created: another deal's onboarding of the company made it; this one only gets
        // the BAN on its deal.
        if customer.created {
            tracing::info!(customer_id = %customer.customer.id, ban = %customer.customer.ban, "customer created from a won deal");
        }
        Ok(Some(advanced))
    }

    /// WRITE_DEAL_BAN: the customer's BAN onto the deal (HubSpot may refuse it, e.g. a
    /// closed-won deal without a close date under the portal's validation rule).
    async fn write_deal_ban(&self, onboarding: &Onboarding) -> Stepped {
        let ban = onboarding
            .ban
            .as_ref()
            .ok_or_else(|| refused("no BAN is recorded for this onboarding"))?;
        let deal_id = HubSpotId::parse(&onboarding.hubspot_deal_id)
            .map_err(|_| refused("the deal id is not HubSpot's"))?;
        let properties =
            std::collections::BTreeMap::from([(WARP_BAN_PROPERTY.to_owned(), ban.to_string())]);
        self.hubspot
            .deals()
            .update(&RecordLookup::Id(deal_id), &properties)
            .await
            .map_err(|error| match error {
                HubSpotError::NotFound { .. } => refused("the deal no longer exists in HubSpot"),
                other => hubspot_failure(&other, "writing warp_ban on the deal"),
            })?;
        self.advance(onboarding, StepResult::default()).await
    }

    /// RECORD_NOTE: "account created" on the company's timeline and the deal's, upserted by
    /// its own key so a repeat changes nothing.
    async fn record_note(&self, onboarding: &Onboarding) -> Stepped {
        let (company_id, ban) = reserved(onboarding)?;
        let customer_id = onboarding
            .customer_id
            .ok_or_else(|| refused("no customer is recorded for this onboarding"))?;
        let customer = CustomerStore::new(self.database.clone(), self.portal_id)
            .get(customer_id)
            .await
            .map_err(transient)?;
        let client = self.database.client().await.map_err(transient)?;
        let deal = deals::by_hubspot_id(&**client, self.portal_id, &onboarding.hubspot_deal_id)
            .await
            .map_err(transient)?;
        drop(client);
        let body = rules::account_created_note(
            ban.as_str(),
            customer.company_name.as_str(),
            deal.as_ref().and_then(|deal| deal.name.as_deref()),
        );
        let note = BatchUpsertInput::new(
            WARP_EVENT_ID_PROPERTY,
            rules::account_created_event_id(ban.as_str()),
            std::collections::BTreeMap::from([
                ("hs_note_body".to_owned(), body),
                // The customer's creation, not now: a repeated upsert leaves the note as it was.
                (
                    "hs_timestamp".to_owned(),
                    customer.created_at.timestamp_millis().to_string(),
                ),
            ]),
        );
        let written = self
            .hubspot
            .objects(CrmObject::Notes)
            .batch_upsert(std::slice::from_ref(&note))
            .await;
        if let Some(failure) = written.failed_calls.first() {
            return Err(hubspot_failure(&failure.error, "writing the note"));
        }
        let note_id = written
            .results
            .first()
            .map(|upserted| upserted.company.id.clone())
            .ok_or_else(|| {
                transient(format!(
                    "HubSpot did not answer the note: {}",
                    written
                        .errors
                        .first()
                        .map(|e| e.message.as_str())
                        .unwrap_or("no result")
                ))
            })?;
        let company =
            HubSpotId::parse(company_id).map_err(|_| refused("the company id is not HubSpot's"))?;
        self.associate_note(&note_id, CrmObject::Companies, &company)
            .await?;
        if let Ok(deal_id) = HubSpotId::parse(&onboarding.hubspot_deal_id) {
            self.associate_note(&note_id, CrmObject::Deals, &deal_id)
                .await?;
        }
        self.advance(onboarding, StepResult::default()).await
    }

    async fn associate_note(
        &self,
        note: &HubSpotId,
        to: CrmObject,
        id: &HubSpotId,
    ) -> Result<(), StepFailure> {
        match self
            .hubspot
            .associations(CrmObject::Notes, to)
            .associate_default(note, id)
            .await
        {
            Ok(()) => Ok(()),
            // The company or deal is gone: the note stays on what remains.
            Err(HubSpotError::NotFound { .. }) => Ok(()),
            Err(error) => Err(hubspot_failure(&error, "associating the note")),
        }
    }

    async fn read_company(
        &self,
        company_id: &str,
        properties: &[&str],
    ) -> Result<HubSpotRecord, StepFailure> {
        let id =
            HubSpotId::parse(company_id).map_err(|_| refused("the company id is not HubSpot's"))?;
        self.hubspot
            .companies()
            .get(
                &RecordLookup::Id(id),
                &ReadOptions::properties(properties.iter().copied()),
            )
            .await
            .map_err(|error| hubspot_failure(&error, "reading the company"))?
            .ok_or_else(|| refused(&format!("company {company_id} no longer exists in HubSpot")))
    }
}

/// A new customer's fields from its company: the name (required), then every enabled
/// HubSpot → WARP mapped property the company holds; a value WARP cannot take is left out
/// (and logged by field name), the template fills the rest.
pub fn customer_fields(
    map: &FieldMap,
    company: &HubSpotRecord,
    template: &CustomerTemplate,
) -> Result<NewCustomer, String> {
    let name_property = map
        .get(WarpField::CompanyName)
        .filter(|mapping| mapping.enabled && mapping.is_inbound())
        .map_or(COMPANY_NAME, |mapping| mapping.hubspot_property.as_str());
    let name = company
        .property(name_property)
        .or_else(|| company.property(COMPANY_NAME))
        .ok_or_else(|| {
            format!("the company has no {name_property}: give it one in HubSpot, then retry")
        })?;
    let company_name = CompanyName::parse(name).map_err(|error| {
        format!(
            "the company's {name_property} cannot be a WARP name: {}",
            error.0
        )
    })?;
    let mut fields = NewCustomer::new(company_name, template.customer_type);
    for mapping in map.inbound_fields() {
        if !mapping.enabled || matches!(mapping.field, WarpField::Ban | WarpField::CompanyName) {
            continue;
        }
        let Some(value) = company.property(&mapping.hubspot_property) else {
            continue;
        };
        let Some(value) = canonical_opt(mapping.field, Some(value)) else {
            continue;
        };
        if let Err(error) = set_field_value(&mut fields, mapping.field, Some(&value)) {
            tracing::info!(field = %mapping.field.as_str(), reason = %error.reason, "a company value WARP cannot take is left out of the new customer");
        }
    }
    Ok(fields)
}

fn reserved(onboarding: &Onboarding) -> Result<(&str, &Ban), StepFailure> {
    match (&onboarding.hubspot_company_id, &onboarding.ban) {
        (Some(company), Some(ban)) => Ok((company.as_str(), ban)),
        _ => Err(refused("no company or BAN is recorded for this onboarding")),
    }
}

fn refused(why: &str) -> StepFailure {
    StepFailure::Refused(why.to_owned())
}

fn transient(error: impl std::fmt::Display) -> StepFailure {
    StepFailure::Transient(error.to_string())
}

/// A HubSpot failure as a step failure: what retrying can fix (rate limits, 5xx, timeouts,
/// the budget) is transient; a refusal of the request itself parks.
fn hubspot_failure(error: &HubSpotError, call: &str) -> StepFailure {
    let text = format!("{call}: {error}");
    // An installation needing reconnecting is fixed by a person elsewhere; the onboarding
    // waits for it with the transient backoff rather than parking.
    if error.is_retryable() || matches!(error, HubSpotError::Credentials(_)) {
        StepFailure::Transient(text)
    } else {
        StepFailure::Refused(format!("HubSpot refused {text}"))
    }
}

/// Runs due onboardings every `interval` until `shutdown` completes (`warp dev`; in AWS the
/// reconciler's frequent job runs them).
pub async fn run_onboarding_loop(
    runner: OnboardingRunner,
    interval: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    /// Onboardings claimed per pass.
    const BATCH: i64 = 50;
    tokio::pin!(shutdown);
    loop {
        let pass = tokio::select! {
            biased;
            () = &mut shutdown => return,
            report = runner.run_due(BATCH) => report,
        };
        let busy = match pass {
            Ok(report) => report.claimed as i64 == BATCH,
            Err(error) => {
                tracing::warn!(%error, "running onboardings failed; retrying at the next tick");
                false
            }
        };
        if busy {
            continue;
        }
        tokio::select! {
            biased;
            () = &mut shutdown => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}
