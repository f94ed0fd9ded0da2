-- Users, tokens, custom roles, settings, incidents and their events.
-- Times are microseconds since the Unix epoch (UTC).

CREATE TABLE users (
    handle      TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    email       TEXT NOT NULL,
    permission  TEXT NOT NULL CHECK (permission IN ('admin', 'responder', 'viewer')),
    created_at  INTEGER NOT NULL
);

-- Only the SHA-256 of a token is stored.
CREATE TABLE api_tokens (
    hash        TEXT PRIMARY KEY NOT NULL,
    handle      TEXT NOT NULL REFERENCES users (handle),
    created_at  INTEGER NOT NULL
);

CREATE TABLE custom_roles (
    key         TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    many        INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE settings (
    key         TEXT PRIMARY KEY NOT NULL,
    value       TEXT NOT NULL
);

CREATE TABLE counters (
    name        TEXT PRIMARY KEY NOT NULL,
    value       INTEGER NOT NULL
);
INSERT INTO counters (name, value) VALUES ('incident', 0);

-- The current state of each incident: the fold of its events, written in
-- the same transaction as they are.
CREATE TABLE incidents (
    number      INTEGER PRIMARY KEY NOT NULL,
    title       TEXT NOT NULL,
    priority    TEXT NOT NULL,
    status      TEXT NOT NULL,
    declared_at INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    state       TEXT NOT NULL
);
CREATE INDEX incidents_status_priority ON incidents (status, priority);

-- The events, which are the timeline. Append-only: the triggers below refuse
-- any update or delete.
CREATE TABLE incident_events (
    incident    INTEGER NOT NULL REFERENCES incidents (number),
    seq         INTEGER NOT NULL,
    occurred_at INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    body        TEXT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (incident, seq)
);
CREATE INDEX incident_events_by_time ON incident_events (incident, occurred_at, seq);

CREATE TRIGGER incident_events_no_update BEFORE UPDATE ON incident_events
BEGIN
    SELECT RAISE(ABORT, 'timeline entries are append-only');
END;

CREATE TRIGGER incident_events_no_delete BEFORE DELETE ON incident_events
BEGIN
    SELECT RAISE(ABORT, 'timeline entries are append-only');
END;
