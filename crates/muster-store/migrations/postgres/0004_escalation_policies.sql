-- Escalation policies (steps as JSON, checked by the domain); a service
-- may point at one.

CREATE TABLE escalation_policies (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    repeat      BIGINT NOT NULL,
    steps       TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

ALTER TABLE services ADD COLUMN escalation_policy BIGINT REFERENCES escalation_policies (id);
