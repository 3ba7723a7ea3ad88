-- Change capture runs for writers WARP does not know (billing, support scripts), whose roles
-- have no rights on WARP's bookkeeping and may use another search_path. The trigger function
-- therefore runs as its owner (who made captured_changes) and resolves names in the schema it
-- was created in; it only inserts rows describing the statement's own changes.
ALTER FUNCTION capture_changes() SECURITY DEFINER SET search_path FROM CURRENT;
