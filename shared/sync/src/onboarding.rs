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
use warp_store::onboardings::{self, CreateStep, Onboarding, StepResult};
use warp_store::outbox::OutboxPublisher;
use warp_store::sync_config::MappingSource;
use warp_store::{CustomerStore, Database, StoreError, deals};

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
    /// Runs due onboardings, one claim at a time, each to its end, a parking or a failure:
    /// at most `limit` of them.
    pub async fn run_due(&self, limit: usize) -> Result<OnboardingReport, StoreError> {
        self.run(limit, usize::MAX, None).await
    }

    /// As [`Self::run_due`], claiming no more once `budget` has passed (a Lambda's job).
    pub async fn run_due_within(
        &self,
        limit: usize,
        budget: Duration,
    ) -> Result<OnboardingReport, StoreError> {
        self.run(
            limit,
            usize::MAX,
            Some(tokio::time::Instant::now() + budget),
        )
        .await
    }

    /// As [`Self::run_due`], stopping each onboarding after `max_steps` steps with its lease
    /// still held, as a process killed between two steps leaves it (the tests' crash).
    pub async fn run_due_steps(
        &self,
        limit: usize,
        max_steps: usize,
    ) -> Result<OnboardingReport, StoreError> {
        self.run(limit, max_steps, None).await
    }

    async fn run(
        &self,
        limit: usize,
        max_steps: usize,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<OnboardingReport, StoreError> {
        let mut report = OnboardingReport::default();
        while report.claimed < limit
            && deadline.is_none_or(|deadline| tokio::time::Instant::now() < deadline)
        {
            let Some(onboarding) = onboardings::claim_next(&self.database, self.portal_id).await?
            else {
                break;
            };
            report.claimed += 1;
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
        let span = tracing::info_span!("onboarding", id = %onboarding.id, deal = ?onboarding.hubspot_deal_id, company = ?onboarding.hubspot_company_id);
        let _entered = span.enter();
        // The claim counted an attempt at the first step; a later step of this drive is at
        // its first attempt.
        let mut attempts = onboarding.attempts;
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
                    attempts = 1;
                }
                Ok(None) => {
                    tracing::info!(%step, "another runner holds the onboarding now; this one stops");
                    break;
                }
                Err(failure) => {
                    let after = after_failure(&failure, u32::try_from(attempts).unwrap_or(0));
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
                    onboardings::fail(&self.database, &onboarding, attempts, error, &after).await?;
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
        let mut progress = onboarding.progress();
        progress.customer_known |= result.customer_id.is_some();
        progress.created_customer |= result.created_customer;
        let next = onboarding.step.next(progress);
        let client = self.database.client().await.map_err(transient)?;
        onboardings::advance(&**client, onboarding, next, &result)
            .await
            .map_err(transient)
    }

    /// Gives up the company's reserved BAN and goes back to FIND_COMPANY for a fresh one.
    async fn release(&self, onboarding: &Onboarding, company_id: &str, ban: &Ban) -> Stepped {
        tracing::warn!(%ban, company = company_id, "the reserved BAN is held elsewhere; reserving another");
        onboardings::release_reservation(&self.database, onboarding, company_id, ban)
            .await
            .map_err(transient)
    }

    /// FIND_COMPANY: a deal must still be won and have a company (a company taken by the rule
    /// or adopted is known already); a company already a customer only needs the BAN on the
    /// deal, any other gets a BAN reserved.
    async fn find_company(&self, onboarding: &Onboarding) -> Stepped {
        let client = self.database.client().await.map_err(transient)?;
        let company_id = match &onboarding.hubspot_deal_id {
            Some(deal_id) => self.company_of_won_deal(&client, deal_id).await?,
            None => onboarding
                .hubspot_company_id
                .clone()
                .ok_or_else(|| refused("no company is recorded for this onboarding"))?,
        };
        if let Some(customer) = onboardings::customer_of_company(&**client, &company_id)
            .await
            .map_err(transient)?
        {
            if customer.is_deleted() {
                return Err(refused(&onboardings::closed_customer(&customer)));
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

    /// The company of a deal that must still be won: the stored one, else the one HubSpot
    /// associates now.
    async fn company_of_won_deal(
        &self,
        client: &tokio_postgres::Client,
        deal_id: &str,
    ) -> Result<String, StepFailure> {
        let deal = deals::by_hubspot_id(client, self.portal_id, deal_id)
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
        match deal.hubspot_company_id {
            Some(company) => Ok(company),
            None => self.company_of_deal(deal_id).await?.ok_or_else(|| {
                refused(
                    "the deal has no associated company in HubSpot: associate one and the \
                     onboarding resumes when the deal changes",
                )
            }),
        }
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
        if let Some(customer) = onboardings::customer_of_company(&**client, company_id)
            .await
            .map_err(transient)?
        {
            if customer.is_deleted() {
                return Err(refused(&onboardings::closed_customer(&customer)));
            }
            // Linked meanwhile (another deal's onboarding, or an admin's link): its BAN stays,
            // and CREATE_CUSTOMER finds the customer.
            return self.advance(onboarding, StepResult::default()).await;
        }
        drop(client);
        let company = self.read_company(company_id, &[WARP_BAN_PROPERTY]).await?;
        match company.property(WARP_BAN_PROPERTY) {
            Some(held) if held == ban.as_str() => {}
            Some(held) => {
                let held_ban = Ban::parse(held).map_err(|_| {
                    refused(&format!(
                        "the company carries warp_ban {held:?}, which is not a BAN; clear it in HubSpot, then retry"
                    ))
                })?;
                let owner = CustomerStore::new(self.database.clone(), self.portal_id)
                    .get_by_ban(&held_ban)
                    .await;
                return Err(match owner {
                    Ok(customer) => refused(&format!(
                        "the company carries BAN {held} of customer {}; link them (POST /v1/customers/{}/hubspot-link), then retry",
                        customer.id, customer.id
                    )),
                    Err(StoreError::NotFound) => refused(&format!(
                        "the company carries BAN {held}, which no WARP customer holds; clear it in HubSpot, then retry"
                    )),
                    Err(other) => transient(other),
                });
            }
            None => {
                let properties = std::collections::BTreeMap::from([(
                    WARP_BAN_PROPERTY.to_owned(),
                    ban.to_string(),
                )]);
                match self
                    .hubspot
                    .companies()
                    .update(&RecordLookup::Id(company.id.clone()), &properties)
                    .await
                {
                    Ok(_) => {}
                    // Another HubSpot company carries the BAN (warp_ban is unique there).
                    Err(HubSpotError::Conflict { .. }) => {
                        return self.release(onboarding, company_id, ban).await;
                    }
                    Err(other) => {
                        return Err(hubspot_failure(&other, "writing warp_ban on the company"));
                    }
                }
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
        let values = company.mapped_values(&map);
        let step = onboardings::create_company_customer(
            &self.database,
            onboarding,
            company_id,
            ban,
            &fields,
            (&values, company.updated_at),
        )
        .await
        .map_err(transient)?;
        let (advanced, customer) = match step {
            CreateStep::Advanced(done) => *done,
            CreateStep::LostClaim => return Ok(None),
            CreateStep::BanTaken => return self.release(onboarding, company_id, ban).await,
            CreateStep::Refused(why) => return Err(refused(&why)),
        };
        if let (Some(outbox_id), Some(publisher)) = (customer.outbox_id, &self.publisher) {
            publisher.publish(outbox_id).await;
        }
        // Not created: another onboarding of the company made it; this one only gets the BAN
        // on its deal.
        if customer.created {
            tracing::info!(customer_id = %customer.customer.id, ban = %customer.customer.ban, "customer created");
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
        let deal_id = onboarding
            .hubspot_deal_id
            .as_deref()
            .and_then(|id| HubSpotId::parse(id).ok())
            .ok_or_else(|| refused("no HubSpot deal is recorded for this onboarding"))?;
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
        let deal = match &onboarding.hubspot_deal_id {
            Some(deal_id) => deals::by_hubspot_id(&**client, self.portal_id, deal_id)
                .await
                .map_err(transient)?,
            None => None,
        };
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
        let Some(note_id) = written
            .results
            .first()
            .map(|upserted| upserted.company.id.clone())
        else {
            return Err(note_refused(&written.errors));
        };
        let company =
            HubSpotId::parse(company_id).map_err(|_| refused("the company id is not HubSpot's"))?;
        self.associate_note(&note_id, CrmObject::Companies, &company)
            .await?;
        if let Some(deal_id) = onboarding
            .hubspot_deal_id
            .as_deref()
            .and_then(|id| HubSpotId::parse(id).ok())
        {
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

/// Why HubSpot answered a note upsert with no note: a refusal of the note itself (a missing
/// property, a bad value) needs a person; anything else may pass next time.
fn note_refused(errors: &[warp_hubspot::BatchItemError]) -> StepFailure {
    match errors.first() {
        Some(error) => {
            let why = format!(
                "HubSpot refused the note: {} {}",
                error.category, error.message
            );
            if error.category.contains("VALIDATION") || error.category.contains("PROPERTY") {
                StepFailure::Refused(why)
            } else {
                StepFailure::Transient(why)
            }
        }
        None => StepFailure::Transient("HubSpot answered the note with no result".into()),
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
    // An installation needing reconnecting is fixed by a person elsewhere, and a daily quota
    // resets: the onboarding waits with the transient backoff rather than parking.
    if error.is_retryable()
        || matches!(
            error,
            HubSpotError::Credentials(_) | HubSpotError::RateLimited { .. }
        )
    {
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
    /// Onboardings run per pass.
    const BATCH: usize = 50;
    crate::passes::run_passes("onboardings", interval, shutdown, || async {
        runner
            .run_due(BATCH)
            .await
            .map(|report| report.claimed == BATCH)
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn company(properties: serde_json::Value) -> HubSpotRecord {
        serde_json::from_value(serde_json::json!({
            "id": "101", "properties": properties,
            "createdAt": "2026-12-01T00:00:00Z", "updatedAt": "2026-12-01T00:00:00Z",
        }))
        .unwrap()
    }

    fn template() -> CustomerTemplate {
        CustomerTemplate {
            customer_type: CustomerType::Reseller,
        }
    }

    #[test]
    fn a_new_customer_takes_the_companys_mapped_values_and_leaves_out_bad_ones() {
        let map = FieldMap::default_mapping();
        let fields = customer_fields(
            &map,
            &company(serde_json::json!({
                "name": " Acme Voice ", "domain": "not a domain!", "warp_credit_limit": "2500",
                "warp_status": "SUSPENDED",
            })),
            &template(),
        )
        .unwrap();
        assert_eq!(fields.company_name.as_str(), "Acme Voice");
        assert_eq!(fields.domain, None, "an invalid domain is left out");
        assert_eq!(fields.credit_limit.to_string(), "2500.00");
        assert_eq!(fields.customer_type, CustomerType::Reseller);
        assert_eq!(
            fields.status.as_str(),
            "ACTIVE",
            "warp_status flows WARP to HubSpot only"
        );
    }

    #[test]
    fn a_company_without_a_usable_name_is_refused() {
        let map = FieldMap::default_mapping();
        let missing = customer_fields(&map, &company(serde_json::json!({})), &template());
        assert!(missing.unwrap_err().contains("has no name"));
        let blank = customer_fields(
            &map,
            &company(serde_json::json!({"name": "   "})),
            &template(),
        );
        assert!(blank.is_err());
    }
}
