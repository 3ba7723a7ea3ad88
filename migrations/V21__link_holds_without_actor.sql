-- Who unlinked a record is in the audit log with the unlink (its subject made storable there);
-- the hold keeps only what the sync needs: which HubSpot record, and when.
ALTER TABLE hubspot_link_holds DROP COLUMN held_by;
