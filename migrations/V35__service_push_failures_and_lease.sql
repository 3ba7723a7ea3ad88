-- Trunks and numbers push, hardened (issue 22 review): a row HubSpot refused is not due again
-- until it changes (failed_version), so refused rows never stall the rows behind them; one
-- pass at a time per portal (a lease, as the outbox's), so two overlapping passes never record
-- an older version or a stale association.
ALTER TABLE trunks ADD COLUMN failed_version bigint;
ALTER TABLE phone_numbers ADD COLUMN failed_version bigint;

ALTER TABLE hubspot_service_objects
    ADD COLUMN pass_holder uuid,
    ADD COLUMN pass_until  timestamptz;
