-- A link undone by a person (the console's or the API's "unlink"): the WARP record is not the
-- HubSpot record it was linked to. Its pushes are held until someone links it again, because a
-- push would otherwise find a record by its key (a company by warp_ban, a contact by email)
-- and either relink the wrong record or create one nobody asked for. Linking removes the row.
CREATE TABLE hubspot_link_holds (
    portal_id   bigint NOT NULL,
    object_type text NOT NULL CHECK (object_type IN ('companies', 'contacts')),
    local_id    uuid NOT NULL,
    -- The HubSpot record it was unlinked from.
    hubspot_id  text NOT NULL CHECK (hubspot_id ~ '^[0-9]{1,20}$'),
    held_by     text NOT NULL,
    held_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (portal_id, object_type, local_id)
);
