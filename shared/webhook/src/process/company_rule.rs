//! Companies created in HubSpot without a BAN (issue 20): the portal's company rule decides
//! whether one becomes a customer now (an onboarding of the company, `warp_sync::onboarding`
//! runs it); a company no rule takes waits as a candidate for an editor to adopt. HubSpot makes
//! companies by itself from contacts' email domains, so the default rule takes none.

use warp_domain::onboarding::{CUSTOMER_LIFECYCLE_STAGE, OnboardingSource};
use warp_domain::sync::WebhookEvent;
use warp_hubspot::HubSpotRecord;
use warp_store::{company_candidates, inbound, onboardings};

use super::{EventStatus, HandleError, InboundProcessor, Outcome, Tx};

/// HubSpot's lifecycle stage property of a company.
pub(super) const LIFECYCLE_STAGE: &str = "lifecyclestage";

/// The company properties the rule and the candidates list need, read with every created
/// company whatever the mapping says.
pub(super) const CANDIDATE_PROPERTIES: [&str; 3] = ["name", "domain", LIFECYCLE_STAGE];

/// A change of a company's lifecycle stage to `customer` (which the rule may act on even
/// though no mapping names the property).
pub(super) fn is_lifecycle_customer(event: &WebhookEvent) -> bool {
    event.object_type() == "company"
        && event.property_name.as_deref() == Some(LIFECYCLE_STAGE)
        && event
            .property_value
            .as_deref()
            .is_some_and(|value| value.trim().eq_ignore_ascii_case(CUSTOMER_LIFECYCLE_STAGE))
}

impl InboundProcessor {
    /// A company created in HubSpot with no BAN: onboarded if the rule takes it, else listed
    /// as a candidate.
    pub(super) async fn company_without_ban(
        &self,
        tx: &Tx<'_>,
        company: &HubSpotRecord,
    ) -> Result<Outcome, HandleError> {
        let company_id = company.id.as_str();
        let rule = company_candidates::rule(tx, self.portal_id).await?.rule;
        let stage = company.property(LIFECYCLE_STAGE);
        if rule.takes(stage) {
            return self.take_company(tx, company_id).await;
        }
        company_candidates::note(
            tx,
            self.portal_id,
            company_id,
            company.property("name"),
            company.property("domain"),
            stage,
        )
        .await?;
        Ok(Outcome::skipped(
            "the company has no warp_ban and the company rule does not take it: listed as a candidate to adopt",
        ))
    }

    /// A company's lifecycle stage changed to `customer`: onboarded if the rule takes such
    /// companies and no customer is linked to it yet.
    pub(super) async fn lifecycle_customer(
        &self,
        tx: &Tx<'_>,
        event: &WebhookEvent,
    ) -> Result<Outcome, HandleError> {
        let company_id = event.object_id.to_string();
        if inbound::lock_by_hubspot_company(tx, &company_id)
            .await?
            .is_some()
        {
            return Ok(Outcome::skipped("the company is a customer already"));
        }
        let rule = company_candidates::rule(tx, self.portal_id).await?.rule;
        if !rule.takes(Some(CUSTOMER_LIFECYCLE_STAGE)) {
            return Ok(Outcome::skipped(
                "the company rule does not take companies by their lifecycle stage",
            ));
        }
        self.take_company(tx, &company_id).await
    }

    async fn take_company(&self, tx: &Tx<'_>, company_id: &str) -> Result<Outcome, HandleError> {
        let started = onboardings::start_for_company(
            tx,
            self.portal_id,
            company_id,
            OnboardingSource::Rule,
            None,
        )
        .await?;
        let note = match started {
            Some(onboarding) => format!("taken by the company rule: onboarding {}", onboarding.id),
            None => "an onboarding of the company exists already".to_owned(),
        };
        Ok(Outcome::new(EventStatus::Processed, Some(note)))
    }
}
