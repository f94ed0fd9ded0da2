-- Users, tokens, custom roles, settings, incidents and their events.
-- Times are microseconds since the Unix epoch (UTC), as in the SQLite schema.

CREATE TABLE users (
    handle      TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    email       TEXT NOT NULL,
    permission  TEXT NOT NULL CHECK (permission IN ('admin', 'responder', 'viewer')),
    created_at  BIGINT NOT NULL
);

-- Only the SHA-256 of a token is stored.
CREATE TABLE api_tokens (
    hash        TEXT PRIMARY KEY,
    handle      TEXT NOT NULL REFERENCES users (handle),
    created_at  BIGINT NOT NULL
);

CREATE TABLE custom_roles (
    key         TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    many        BOOLEAN NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE settings (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL
);

CREATE TABLE counters (
    name        TEXT PRIMARY KEY,
    value       BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('incident', 0);

-- The current state of each incident: the fold of its events, written in
-- the same transaction as they are.
CREATE TABLE incidents (
    number      BIGINT PRIMARY KEY,
    title       TEXT NOT NULL,
    priority    TEXT NOT NULL,
    status      TEXT NOT NULL,
    declared_at BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    state       TEXT NOT NULL
);
CREATE INDEX incidents_status_priority ON incidents (status, priority);

-- The events, which are the timeline. Append-only: the trigger below refuses
-- any update or delete.
CREATE TABLE incident_events (
    incident    BIGINT NOT NULL REFERENCES incidents (number),
    seq         BIGINT NOT NULL,
    occurred_at BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    body        TEXT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (incident, seq)
);
CREATE INDEX incident_events_by_time ON incident_events (incident, occurred_at, seq);

CREATE FUNCTION muster_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'timeline entries are append-only';
END
$$;

CREATE TRIGGER incident_events_append_only BEFORE UPDATE OR DELETE ON incident_events
    FOR EACH ROW EXECUTE FUNCTION muster_refuse_change();
