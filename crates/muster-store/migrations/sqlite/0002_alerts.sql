-- Services, their alerts (one open alert per service and dedup key) and
-- change events.

CREATE TABLE services (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT NOT NULL UNIQUE,
    description     TEXT NOT NULL,
    owner           TEXT REFERENCES users (handle),
    integration_key TEXT NOT NULL UNIQUE,
    auto_declare    TEXT NOT NULL,
    created_at      INTEGER NOT NULL
);

CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    service         INTEGER NOT NULL REFERENCES services (id),
    dedup_key       TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('triggered', 'acknowledged', 'resolved')),
    severity        TEXT NOT NULL,
    summary         TEXT NOT NULL,
    source          TEXT NOT NULL,
    details         TEXT NOT NULL,
    links           TEXT NOT NULL,
    count           INTEGER NOT NULL,
    first_seen_at   INTEGER NOT NULL,
    last_seen_at    INTEGER NOT NULL,
    acknowledged_at INTEGER,
    resolved_at     INTEGER,
    incident        INTEGER REFERENCES incidents (number),
    assessment      TEXT,
    -- The incident of the alert this key had before, looked up when this
    -- one was inserted: an alert firing again rejoins that incident.
    previous_incident INTEGER
);
-- The dedup rule: at most one alert that is not resolved per (service, key).
CREATE UNIQUE INDEX alerts_one_open ON alerts (service, dedup_key) WHERE status <> 'resolved';
CREATE INDEX alerts_by_key ON alerts (service, dedup_key, id);
CREATE INDEX alerts_by_status ON alerts (status, id);
CREATE INDEX alerts_by_incident ON alerts (incident);

CREATE TABLE change_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    service     INTEGER NOT NULL REFERENCES services (id),
    summary     TEXT NOT NULL,
    source      TEXT,
    details     TEXT NOT NULL,
    links       TEXT NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX change_events_by_service ON change_events (service, id);
