-- Scheduled maintenance on the status page: a window over some components
-- (a JSON array of ids), announced ahead, in one of Statuspage's states.
-- Its timers (reminder, automatic start and end) are jobs in the outbox.
-- Every update it gets, the announcement first, is a row of
-- maintenance_updates, in the state it was given in.
CREATE TABLE maintenances (
    id                    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title                 TEXT NOT NULL,
    body                  TEXT NOT NULL,
    components            TEXT NOT NULL,
    starts_at             BIGINT NOT NULL,
    ends_at               BIGINT NOT NULL,
    auto_start            BIGINT NOT NULL,
    auto_complete         BIGINT NOT NULL,
    remind_minutes_before BIGINT,
    state                 TEXT NOT NULL CHECK (state IN ('scheduled', 'in_progress', 'verifying', 'completed')),
    reminded_at           BIGINT,
    started_at            BIGINT,
    completed_at          BIGINT,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);
CREATE INDEX maintenances_by_end ON maintenances (ends_at);

CREATE TABLE maintenance_updates (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    maintenance  BIGINT NOT NULL REFERENCES maintenances (id),
    state        TEXT NOT NULL,
    body         TEXT NOT NULL,
    at           BIGINT NOT NULL
);
CREATE INDEX maintenance_updates_by_maintenance ON maintenance_updates (maintenance, at);
