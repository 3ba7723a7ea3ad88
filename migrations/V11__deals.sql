-- Deals mirrored from HubSpot (issue 20, seed 002's sales process): WARP never writes a deal's
-- own fields; each row is the newest state of the deal read from HubSpot (a read older than
-- hubspot_modified_at is not kept, so reordered webhooks cannot roll a deal back). The deal's
-- customer is the one linked to its primary company, joined on read, so a company linked or
-- relinked later needs no rewrite here.
CREATE TABLE deals (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    portal_id              bigint NOT NULL,
    hubspot_id             text NOT NULL,
    name                   text,
    amount                 numeric,
    currency               text,
    pipeline_id            text,
    stage_id               text,
    -- From the pipeline's stage metadata when the deal was read (isClosed, probability).
    stage_outcome          text NOT NULL DEFAULT 'open' CHECK (stage_outcome IN ('open', 'won', 'lost')),
    close_date             timestamptz,
    owner_id               text,
    probability            numeric,
    hubspot_company_id     text,
    hubspot_modified_at    timestamptz,
    -- Deleted in HubSpot, or merged into another deal (merged_into_hubspot_id).
    archived_at            timestamptz,
    merged_into_hubspot_id text,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    UNIQUE (portal_id, hubspot_id)
);
CREATE INDEX deals_company ON deals (portal_id, hubspot_company_id, id);
CREATE INDEX deals_stage ON deals (portal_id, pipeline_id, stage_id, id);

-- Each portal's pipeline stages as HubSpot last answered /crm/pipelines/2026-09/{objectType}:
-- what a stage means (open, won, lost) and its label, shared by every process and read by
-- the API. Refreshed when a deal names a stage not here or the copy is old.
CREATE TABLE hubspot_pipeline_stages (
    portal_id      bigint NOT NULL,
    object_type    text NOT NULL CHECK (object_type IN ('deals', 'tickets')),
    pipeline_id    text NOT NULL,
    pipeline_label text NOT NULL,
    stage_id       text NOT NULL,
    stage_label    text NOT NULL,
    display_order  integer NOT NULL DEFAULT 0,
    outcome        text NOT NULL CHECK (outcome IN ('open', 'won', 'lost')),
    refreshed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (portal_id, object_type, pipeline_id, stage_id)
);
