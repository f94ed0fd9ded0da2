-- On-call schedules: layers as JSON (rotations and restrictions, checked by
-- the domain), overrides as rows.

CREATE TABLE schedules (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    time_zone   TEXT NOT NULL,
    layers      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE schedule_overrides (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    schedule    BIGINT NOT NULL REFERENCES schedules (id),
    handle      TEXT NOT NULL REFERENCES users (handle),
    starts_at   BIGINT NOT NULL,
    ends_at     BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX schedule_overrides_by_schedule ON schedule_overrides (schedule, ends_at);
