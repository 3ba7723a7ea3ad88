//! Companies created in HubSpot (issue 20): the portal's company rule (which become customers
//! by themselves) and the candidates no rule took, for an editor to adopt.

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use tokio_postgres::types::Type;
use warp_domain::onboarding::CompanyRule;
use warp_domain::storable::storable_opt;

use crate::{Database, StoreError};

/// The portal's company rule, and who set it when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompanyRuleSetting {
    pub rule: CompanyRule,
    /// `None` while the default holds.
    pub updated_at: Option<DateTime<Utc>>,
    pub updated_by: Option<String>,
}

/// The portal's rule; the default (`won_deal`) until one is set.
pub async fn rule(
    client: &impl GenericClient,
    portal_id: i64,
) -> Result<CompanyRuleSetting, StoreError> {
    let row = client
        .query_typed_opt(
            "SELECT company_rule, updated_at, updated_by FROM hubspot_portal_settings WHERE portal_id = $1",
            &[(&portal_id, Type::INT8)],
        )
        .await?;
    let Some(row) = row else {
        return Ok(CompanyRuleSetting {
            rule: CompanyRule::default(),
            updated_at: None,
            updated_by: None,
        });
    };
    let rule: String = row.try_get(0)?;
    Ok(CompanyRuleSetting {
        rule: rule
            .parse()
            .map_err(|_| StoreError::Other("the stored company rule is invalid".into()))?,
        updated_at: row.try_get(1)?,
        updated_by: row.try_get(2)?,
    })
}

pub async fn set_rule(
    database: &Database,
    portal_id: i64,
    rule: CompanyRule,
    by: &str,
) -> Result<CompanyRuleSetting, StoreError> {
    let client = database.client().await?;
    client
        .execute_typed(
            "INSERT INTO hubspot_portal_settings (portal_id, company_rule, updated_at, updated_by) \
             VALUES ($1, $2, now(), $3) \
             ON CONFLICT (portal_id) DO UPDATE SET company_rule = excluded.company_rule, \
               updated_at = now(), updated_by = excluded.updated_by",
            &[
                (&portal_id, Type::INT8),
                (&rule.as_str(), Type::TEXT),
                (&by, Type::TEXT),
            ],
        )
        .await?;
    self::rule(&**client, portal_id).await
}

/// A company created in HubSpot that no rule took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub hubspot_company_id: String,
    pub name: Option<String>,
    pub domain: Option<String>,
    pub lifecycle_stage: Option<String>,
    pub seen_at: DateTime<Utc>,
}

/// Records (or refreshes) a company as a candidate.
pub async fn note(
    client: &impl GenericClient,
    portal_id: i64,
    company_id: &str,
    name: Option<&str>,
    domain: Option<&str>,
    lifecycle_stage: Option<&str>,
) -> Result<(), StoreError> {
    let (name, domain, lifecycle_stage) = (
        storable_opt(name),
        storable_opt(domain),
        storable_opt(lifecycle_stage),
    );
    client
        .execute_typed(
            "INSERT INTO hubspot_company_candidates (portal_id, hubspot_company_id, name, domain, lifecycle_stage) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (portal_id, hubspot_company_id) DO UPDATE SET name = excluded.name, \
               domain = excluded.domain, lifecycle_stage = excluded.lifecycle_stage, seen_at = now()",
            &[
                (&portal_id, Type::INT8),
                (&company_id, Type::TEXT),
                (&name.as_deref(), Type::TEXT),
                (&domain.as_deref(), Type::TEXT),
                (&lifecycle_stage.as_deref(), Type::TEXT),
            ],
        )
        .await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandidatePage {
    pub items: Vec<Candidate>,
    pub next_cursor: Option<String>,
}

/// The candidates still waiting: no customer linked to the company, no onboarding of it.
/// Ordered by company id (HubSpot's creation order); the cursor is the last id seen.
pub async fn list(
    database: &Database,
    portal_id: i64,
    after: Option<&str>,
    limit: u32,
) -> Result<CandidatePage, StoreError> {
    let limit = i64::from(limit.clamp(1, 100));
    let client = database.client().await?;
    // Company ids are digits: ordered as numbers, compared as text of equal length first.
    let rows = client
        .query_typed(
            "SELECT c.hubspot_company_id, c.name, c.domain, c.lifecycle_stage, c.seen_at \
             FROM hubspot_company_candidates c \
             WHERE c.portal_id = $1 \
               AND ($2::text IS NULL OR (length(c.hubspot_company_id), c.hubspot_company_id) > (length($2), $2)) \
               AND NOT EXISTS (SELECT 1 FROM customers cu WHERE cu.external_ids ? 'hubspot_company_id' \
                                 AND cu.external_ids->>'hubspot_company_id' = c.hubspot_company_id) \
               AND NOT EXISTS (SELECT 1 FROM onboardings o WHERE o.portal_id = c.portal_id \
                                 AND o.hubspot_company_id = c.hubspot_company_id) \
             ORDER BY length(c.hubspot_company_id), c.hubspot_company_id LIMIT $3",
            &[
                (&portal_id, Type::INT8),
                (&after, Type::TEXT),
                (&(limit + 1), Type::INT8),
            ],
        )
        .await?;
    let mut items = rows
        .iter()
        .map(|row| {
            Ok(Candidate {
                hubspot_company_id: row.try_get(0)?,
                name: row.try_get(1)?,
                domain: row.try_get(2)?,
                lifecycle_stage: row.try_get(3)?,
                seen_at: row.try_get(4)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let more = items.len() as i64 > limit;
    items.truncate(usize::try_from(limit).unwrap_or(0));
    let next_cursor = more
        .then(|| items.last().map(|c| c.hubspot_company_id.clone()))
        .flatten();
    Ok(CandidatePage { items, next_cursor })
}
