-- The audit trail of API writes (issue 23): who (the JWT subject), when, through which route
-- (and request id), which customer or user, and each field that changed with its old and new
-- value. Written in the write's own transaction; read by admins (GET /v1/audit); purged after
-- AUDIT_RETENTION_DAYS by the reconciler's frequent job. Values are kept here, never in logs.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    route       text NOT NULL,
    request_id  text,
    entity_type text NOT NULL CHECK (entity_type IN ('customer', 'user')),
    entity_id   uuid NOT NULL,
    action      text NOT NULL,
    changes     jsonb NOT NULL
);
CREATE INDEX audit_log_entity ON audit_log (entity_type, entity_id, id DESC);
CREATE INDEX audit_log_actor ON audit_log (actor, id DESC);
CREATE INDEX audit_log_at ON audit_log (at);
