-- Scheduled maintenance on the status page: a window over some components
-- (a JSON array of ids), announced ahead, in one of Statuspage's states.
-- Its timers (reminder, automatic start and end) are jobs in the outbox.
-- Every update it gets, the announcement first, is a row of
-- maintenance_updates, in the state it was given in.
CREATE TABLE maintenances (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    title                 TEXT NOT NULL,
    body                  TEXT NOT NULL,
    components            TEXT NOT NULL,
    starts_at             INTEGER NOT NULL,
    ends_at               INTEGER NOT NULL,
    auto_start            INTEGER NOT NULL,
    auto_complete         INTEGER NOT NULL,
    remind_minutes_before INTEGER,
    state                 TEXT NOT NULL CHECK (state IN ('scheduled', 'in_progress', 'verifying', 'completed')),
    reminded_at           INTEGER,
    started_at            INTEGER,
    completed_at          INTEGER,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
);
CREATE INDEX maintenances_by_end ON maintenances (ends_at);

CREATE TABLE maintenance_updates (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    maintenance  INTEGER NOT NULL REFERENCES maintenances (id),
    state        TEXT NOT NULL,
    body         TEXT NOT NULL,
    at           INTEGER NOT NULL
);
CREATE INDEX maintenance_updates_by_maintenance ON maintenance_updates (maintenance, at);
