-- Which company property carries each daily usage figure (issue 22 item 3, "mapping as
-- data"): portal 0 holds the defaults every portal starts from; a portal's own row replaces
-- the default for its figure. `enabled = false` stops writing that figure.
CREATE TABLE usage_property_map (
    portal_id        bigint NOT NULL,
    figure           text NOT NULL CHECK (figure IN
                       ('mtd_minutes', 'mtd_spend', 'mrr', 'payment_status', 'last_usage_date')),
    hubspot_property text NOT NULL,
    enabled          boolean NOT NULL DEFAULT true,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    updated_by       text,
    PRIMARY KEY (portal_id, figure)
);

INSERT INTO usage_property_map (portal_id, figure, hubspot_property) VALUES
    (0, 'mtd_minutes', 'warp_mtd_minutes'),
    (0, 'mtd_spend', 'warp_mtd_spend'),
    (0, 'mrr', 'warp_mrr'),
    (0, 'payment_status', 'warp_payment_status'),
    (0, 'last_usage_date', 'warp_last_usage_date');
