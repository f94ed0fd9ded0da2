-- Pages: a request for people to respond, escalated step by step through a
-- snapshot of its escalation policy. `step` counts the steps notified so
-- far; a step's timer is a job (`page.step`) in the outbox, and moving a
-- page is a conditional update (`WHERE state IN ('pending', 'notified') AND
-- step = …`), so a timer that fires twice, late, or on two instances acts once.

CREATE TABLE pages (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident    BIGINT REFERENCES incidents (number),
    alert       BIGINT REFERENCES alerts (id),
    target      TEXT NOT NULL,
    message     TEXT NOT NULL,
    roles       TEXT NOT NULL DEFAULT '[]',
    policy      TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'notified', 'acknowledged', 'declined', 'expired', 'cancelled')),
    step        BIGINT NOT NULL DEFAULT 0,
    notified    TEXT NOT NULL DEFAULT '[]',
    current     TEXT NOT NULL DEFAULT '[]',
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    closed_by   TEXT,
    reason      TEXT
);
CREATE INDEX pages_by_incident ON pages (incident, id);
CREATE INDEX pages_open_by_alert ON pages (alert) WHERE state IN ('pending', 'notified');

-- Which contact method notifies a person how long after they are paged.
-- Without rules, every method at once.
CREATE TABLE notification_rules (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    handle          TEXT NOT NULL REFERENCES users (handle),
    contact_method  BIGINT NOT NULL REFERENCES contact_methods (id),
    delay_seconds   BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    UNIQUE (contact_method, delay_seconds)
);

-- The page a notification job belongs to, to show a page's deliveries.
ALTER TABLE jobs ADD COLUMN page BIGINT;
CREATE INDEX jobs_by_page ON jobs (page) WHERE page IS NOT NULL;

-- Other instances wake when a job is committed (LISTEN muster_jobs): the
-- notification is sent at commit, so a listener never sees a job that is
-- not there yet. The payload is the schema, so databases holding several
-- Muster schemas (tests) wake only their own instances.
CREATE FUNCTION muster_notify_jobs() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('muster_jobs', current_schema());
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER jobs_notify AFTER INSERT OR UPDATE OF due_at ON jobs
    FOR EACH STATEMENT EXECUTE FUNCTION muster_notify_jobs();
