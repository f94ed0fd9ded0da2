-- On-call schedules: layers as JSON (rotations and restrictions, checked by
-- the domain), overrides as rows.

CREATE TABLE schedules (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    time_zone   TEXT NOT NULL,
    layers      TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE schedule_overrides (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    schedule    INTEGER NOT NULL REFERENCES schedules (id),
    handle      TEXT NOT NULL REFERENCES users (handle),
    starts_at   INTEGER NOT NULL,
    ends_at     INTEGER NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX schedule_overrides_by_schedule ON schedule_overrides (schedule, ends_at);
