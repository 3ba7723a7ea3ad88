//! Onboarding a won deal (issue 20, seed 002's flow): the steps from "deal won in HubSpot" to
//! "billing account live, its BAN on the company and the deal, a note on the company's
//! timeline", and what a failed step means. Pure: the runner (warp-sync) does the I/O and
//! stores the step reached in Postgres after each one, so a crash resumes where it stopped.
//!
//! Every step is safe to repeat: a crash after a step's effect and before its record repeats
//! the effect, which must then change nothing (a property set to the value it holds, a note
//! upserted by its own unique key, a customer found by its company link).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::html::escape as escape_html;

/// Where an onboarding stands. The steps run in this order, some skipped (see
/// [`OnboardingStep::next`]): [`OnboardingStep::RecordNote`] only when this onboarding made the
/// customer (a deal of a company already a customer, or a second deal of the same company, only
/// gets the BAN), [`OnboardingStep::WriteDealBan`] only for a deal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OnboardingStep {
    /// Find the deal's company (its primary association), and the customer linked to it, or
    /// reserve the BAN the new customer will have (one per company, shared by its deals).
    FindCompany,
    /// Write the reserved BAN to the company in HubSpot, before the customer exists: the
    /// customer's pushes upsert by `warp_ban`, so the company must carry it first.
    StampCompany,
    /// Create the customer from the company's properties, linked to the company.
    CreateCustomer,
    /// Write the customer's BAN to the deal.
    WriteDealBan,
    /// Record the "account created" note on the company (and the deal), upserted by its key.
    RecordNote,
    Done,
}

impl OnboardingStep {
    pub const ALL: [OnboardingStep; 6] = [
        OnboardingStep::FindCompany,
        OnboardingStep::StampCompany,
        OnboardingStep::CreateCustomer,
        OnboardingStep::WriteDealBan,
        OnboardingStep::RecordNote,
        OnboardingStep::Done,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OnboardingStep::FindCompany => "FIND_COMPANY",
            OnboardingStep::StampCompany => "STAMP_COMPANY",
            OnboardingStep::CreateCustomer => "CREATE_CUSTOMER",
            OnboardingStep::WriteDealBan => "WRITE_DEAL_BAN",
            OnboardingStep::RecordNote => "RECORD_NOTE",
            OnboardingStep::Done => "DONE",
        }
    }

    /// The step after this one, given what the onboarding has found so far.
    pub fn next(self, progress: Progress) -> OnboardingStep {
        match self {
            OnboardingStep::FindCompany if progress.customer_known => {
                OnboardingStep::WriteDealBan.or_later(progress)
            }
            OnboardingStep::FindCompany => OnboardingStep::StampCompany,
            OnboardingStep::StampCompany => OnboardingStep::CreateCustomer,
            OnboardingStep::CreateCustomer => OnboardingStep::WriteDealBan.or_later(progress),
            OnboardingStep::WriteDealBan => OnboardingStep::RecordNote.or_later(progress),
            OnboardingStep::RecordNote | OnboardingStep::Done => OnboardingStep::Done,
        }
    }

    /// This step, or the first after it that applies: the deal's BAN only with a deal, the
    /// note only for a customer this onboarding made.
    fn or_later(self, progress: Progress) -> OnboardingStep {
        match self {
            OnboardingStep::WriteDealBan if !progress.has_deal => {
                OnboardingStep::RecordNote.or_later(progress)
            }
            OnboardingStep::RecordNote if !progress.created_customer => OnboardingStep::Done,
            step => step,
        }
    }
}

/// What decides the route through the steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// The company was a customer already (no stamping, no creating).
    pub customer_known: bool,
    /// This onboarding made the customer (only then is the note written).
    pub created_customer: bool,
    /// The onboarding comes from a deal (which gets the BAN); a company adopted or taken by
    /// the company rule has none.
    pub has_deal: bool,
}

/// What started an onboarding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OnboardingSource {
    /// A deal entered a won stage.
    Deal,
    /// The company rule took a company created in HubSpot.
    Rule,
    /// An editor adopted a company (`POST /v1/sync/hubspot/companies/{id}/adopt`).
    Adoption,
}

impl OnboardingSource {
    pub const ALL: [OnboardingSource; 3] = [
        OnboardingSource::Deal,
        OnboardingSource::Rule,
        OnboardingSource::Adoption,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OnboardingSource::Deal => "DEAL",
            OnboardingSource::Rule => "RULE",
            OnboardingSource::Adoption => "ADOPTION",
        }
    }
}

impl FromStr for OnboardingSource {
    type Err = UnknownStep;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OnboardingSource::ALL
            .into_iter()
            .find(|source| source.as_str() == s)
            .ok_or_else(|| UnknownStep(s.to_owned()))
    }
}

/// Which companies created in HubSpot become customers without a person deciding. HubSpot
/// makes companies by itself from contacts' email domains, so "every company" is never the
/// default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CompanyRule {
    /// None: only a won deal's company (or one an editor adopts).
    #[default]
    WonDeal,
    /// Also a company whose lifecycle stage is `customer` (on creation or when it changes).
    LifecycleCustomer,
    /// Every company created in HubSpot.
    Any,
}

/// HubSpot's lifecycle stage of a paying customer.
pub const CUSTOMER_LIFECYCLE_STAGE: &str = "customer";

impl CompanyRule {
    pub const ALL: [CompanyRule; 3] = [
        CompanyRule::WonDeal,
        CompanyRule::LifecycleCustomer,
        CompanyRule::Any,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CompanyRule::WonDeal => "won_deal",
            CompanyRule::LifecycleCustomer => "lifecycle_customer",
            CompanyRule::Any => "any",
        }
    }

    /// Whether a company created in HubSpot (or changed to `lifecycle_stage`) becomes a
    /// customer by this rule alone.
    pub fn takes(self, lifecycle_stage: Option<&str>) -> bool {
        match self {
            CompanyRule::WonDeal => false,
            CompanyRule::LifecycleCustomer => lifecycle_stage
                .is_some_and(|stage| stage.trim().eq_ignore_ascii_case(CUSTOMER_LIFECYCLE_STAGE)),
            CompanyRule::Any => true,
        }
    }
}

impl FromStr for CompanyRule {
    type Err = UnknownStep;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CompanyRule::ALL
            .into_iter()
            .find(|rule| rule.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownStep(s.to_owned()))
    }
}

impl fmt::Display for OnboardingStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown onboarding step {0:?}")]
pub struct UnknownStep(pub String);

impl FromStr for OnboardingStep {
    type Err = UnknownStep;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OnboardingStep::ALL
            .into_iter()
            .find(|step| step.as_str() == s)
            .ok_or_else(|| UnknownStep(s.to_owned()))
    }
}

/// Whether an onboarding is waiting for its next attempt, stopped for a person, or finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OnboardingStatus {
    Pending,
    /// Stopped with a readable reason until the deal changes in HubSpot or someone retries.
    Parked,
    Done,
}

impl OnboardingStatus {
    pub const ALL: [OnboardingStatus; 3] = [
        OnboardingStatus::Pending,
        OnboardingStatus::Parked,
        OnboardingStatus::Done,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OnboardingStatus::Pending => "PENDING",
            OnboardingStatus::Parked => "PARKED",
            OnboardingStatus::Done => "DONE",
        }
    }
}

impl FromStr for OnboardingStatus {
    type Err = UnknownStep;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OnboardingStatus::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownStep(s.to_owned()))
    }
}

/// How a step failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepFailure {
    /// HubSpot or the database failed for now (429, 5xx, timeout): the same step is tried
    /// again later.
    Transient(String),
    /// Trying again cannot help until something changes (no company, HubSpot refuses the
    /// write): parked with this reason for a person.
    Refused(String),
}

/// Transient failures of one step tried before the onboarding is parked: with the backoff
/// below that is about an hour of HubSpot failing, then a person is told.
pub const MAX_TRANSIENT_ATTEMPTS: u32 = 10;

/// What happens after a failed attempt (`attempts` counts this one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterFailure {
    RetryIn(Duration),
    Park(String),
}

pub fn after_failure(failure: &StepFailure, attempts: u32) -> AfterFailure {
    match failure {
        StepFailure::Refused(reason) => AfterFailure::Park(reason.clone()),
        StepFailure::Transient(error) if attempts >= MAX_TRANSIENT_ATTEMPTS => {
            AfterFailure::Park(format!("gave up after {attempts} attempts: {error}"))
        }
        StepFailure::Transient(_) => AfterFailure::RetryIn(retry_delay(attempts)),
    }
}

/// 5 s doubled per attempt, at most 15 minutes.
pub fn retry_delay(attempts: u32) -> Duration {
    let seconds = 5u64.saturating_mul(1u64 << attempts.saturating_sub(1).min(20));
    Duration::from_secs(seconds.min(15 * 60))
}

/// The unique key of a customer's "account created" note (`warp_event_id`): one note per
/// BAN, however often the step runs.
pub fn account_created_event_id(ban: &str) -> String {
    format!("account-created:{ban}")
}

/// The note's text: what was created, from which deal. HubSpot renders HTML in notes, so the
/// names from HubSpot are escaped.
pub fn account_created_note(ban: &str, company_name: &str, deal_name: Option<&str>) -> String {
    let deal = deal_name
        .map(|name| format!(" after the deal <b>{}</b> was won", escape_html(name)))
        .unwrap_or_default();
    format!(
        "WARP billing account <b>{}</b> created for {}{deal}.",
        escape_html(ban),
        escape_html(company_name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn route(progress: Progress) -> Vec<OnboardingStep> {
        let mut step = OnboardingStep::FindCompany;
        let mut seen = vec![step];
        while step != OnboardingStep::Done {
            step = step.next(progress);
            seen.push(step);
        }
        seen
    }

    #[test]
    fn a_won_deals_new_customer_goes_through_every_step() {
        let progress = Progress {
            created_customer: true,
            has_deal: true,
            ..Progress::default()
        };
        assert_eq!(route(progress), OnboardingStep::ALL);
    }

    #[test]
    fn a_known_customer_only_gets_the_ban_on_the_deal() {
        let progress = Progress {
            customer_known: true,
            has_deal: true,
            ..Progress::default()
        };
        use OnboardingStep::*;
        assert_eq!(route(progress), [FindCompany, WriteDealBan, Done]);
    }

    #[test]
    fn an_adopted_company_has_no_deal_to_write() {
        use OnboardingStep::*;
        let created = Progress {
            created_customer: true,
            ..Progress::default()
        };
        assert_eq!(
            route(created),
            [FindCompany, StampCompany, CreateCustomer, RecordNote, Done]
        );
        let known = Progress {
            customer_known: true,
            ..Progress::default()
        };
        assert_eq!(route(known), [FindCompany, Done]);
    }

    #[test]
    fn only_the_chosen_rule_takes_a_company_by_itself() {
        assert!(!CompanyRule::default().takes(Some("customer")));
        assert!(CompanyRule::LifecycleCustomer.takes(Some(" Customer ")));
        assert!(!CompanyRule::LifecycleCustomer.takes(Some("lead")));
        assert!(!CompanyRule::LifecycleCustomer.takes(None));
        assert!(CompanyRule::Any.takes(None));
        for rule in CompanyRule::ALL {
            assert_eq!(rule.as_str().parse::<CompanyRule>(), Ok(rule));
        }
        for source in OnboardingSource::ALL {
            assert_eq!(source.as_str().parse::<OnboardingSource>(), Ok(source));
        }
        assert!("everything".parse::<CompanyRule>().is_err());
    }

    #[test]
    fn steps_and_statuses_round_trip_through_text() {
        for step in OnboardingStep::ALL {
            assert_eq!(step.as_str().parse::<OnboardingStep>(), Ok(step));
        }
        for status in OnboardingStatus::ALL {
            assert_eq!(status.as_str().parse::<OnboardingStatus>(), Ok(status));
        }
        assert!("LATER".parse::<OnboardingStep>().is_err());
    }

    #[test]
    fn refusals_park_at_once_and_transient_failures_park_at_the_limit() {
        let refused = StepFailure::Refused("no company".into());
        assert_eq!(
            after_failure(&refused, 1),
            AfterFailure::Park("no company".into())
        );
        let transient = StepFailure::Transient("HubSpot 503".into());
        assert_eq!(
            after_failure(&transient, 1),
            AfterFailure::RetryIn(Duration::from_secs(5))
        );
        assert!(matches!(
            after_failure(&transient, MAX_TRANSIENT_ATTEMPTS),
            AfterFailure::Park(reason) if reason.contains("HubSpot 503")
        ));
    }

    #[test]
    fn the_note_escapes_what_came_from_hubspot() {
        let body = account_created_note("ZT-000000001", "A<b>&Co", Some("\"Big\" deal"));
        assert!(body.contains("A&lt;b&gt;&amp;Co"));
        assert!(body.contains("&quot;Big&quot; deal"));
        assert!(!body.contains("<b>&Co"));
        assert_eq!(
            account_created_event_id("ZT-000000001"),
            "account-created:ZT-000000001"
        );
    }

    proptest! {
        #[test]
        fn every_path_ends_done_within_the_steps(
            customer_known: bool,
            created_customer: bool,
            has_deal: bool,
            start in 0usize..6,
        ) {
            let progress = Progress { customer_known, created_customer, has_deal };
            let mut step = OnboardingStep::ALL[start];
            for _ in 0..OnboardingStep::ALL.len() {
                let next = step.next(progress);
                prop_assert!(next >= step);
                step = next;
            }
            prop_assert_eq!(step, OnboardingStep::Done);
        }

        #[test]
        fn retry_delays_grow_and_stay_bounded(attempts in 1u32..200) {
            let delay = retry_delay(attempts);
            prop_assert!(delay >= Duration::from_secs(5));
            prop_assert!(delay <= Duration::from_secs(15 * 60));
            prop_assert!(retry_delay(attempts + 1) >= delay);
        }
    }
}
