-- Companies created in HubSpot (issue 20): the rule deciding which become customers by
-- themselves, the companies left for a person to adopt, and onboardings of a company without a
-- deal (taken by the rule, or adopted).
ALTER TABLE onboardings ALTER COLUMN hubspot_deal_id DROP NOT NULL;
ALTER TABLE onboardings ADD COLUMN source text NOT NULL DEFAULT 'DEAL'
    CHECK (source IN ('DEAL', 'RULE', 'ADOPTION'));
ALTER TABLE onboardings ADD COLUMN requested_by text;
ALTER TABLE onboardings ADD CONSTRAINT onboardings_deal_or_company
    CHECK ((source = 'DEAL') = (hubspot_deal_id IS NOT NULL) AND (hubspot_deal_id IS NOT NULL OR hubspot_company_id IS NOT NULL));
-- One onboarding per company without a deal (deals have theirs by deal).
CREATE UNIQUE INDEX onboardings_company_without_deal ON onboardings (portal_id, hubspot_company_id)
    WHERE hubspot_deal_id IS NULL;

-- Per portal: which companies created in HubSpot become customers without a person
-- (won_deal: none; lifecycle_customer; any). Changed through PUT /v1/sync/hubspot/company-rule.
CREATE TABLE hubspot_portal_settings (
    portal_id    bigint PRIMARY KEY,
    company_rule text NOT NULL DEFAULT 'won_deal' CHECK (company_rule IN ('won_deal', 'lifecycle_customer', 'any')),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    updated_by   text
);

-- Companies created in HubSpot that no rule took: what an editor sees to adopt. Listed only while
-- no customer is linked to the company and no onboarding of it exists.
CREATE TABLE hubspot_company_candidates (
    portal_id          bigint NOT NULL,
    hubspot_company_id text NOT NULL,
    name               text,
    domain             text,
    lifecycle_stage    text,
    seen_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (portal_id, hubspot_company_id)
);

-- Fences a runner: set with each claim, required by every step it records, so a runner whose
-- lease ran out (and whose onboarding another runner claimed) records nothing.
ALTER TABLE onboardings ADD COLUMN lease_token uuid;
