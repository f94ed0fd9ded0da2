-- Escalation policies (steps as JSON, checked by the domain); a service
-- may point at one.

CREATE TABLE escalation_policies (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    repeat      INTEGER NOT NULL,
    steps       TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

ALTER TABLE services ADD COLUMN escalation_policy INTEGER REFERENCES escalation_policies (id);
