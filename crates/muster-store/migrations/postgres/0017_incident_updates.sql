-- Updates about an incident, written by its communications managers for an
-- audience (internal, external, executive): drafts waiting for someone who
-- may publish them, and published ones, whose text is also the incident's
-- `update_published` timeline entry (`seq`). `form` is the structured
-- form's fields as a JSON array of [name, value] pairs; `status` is what an
-- external update tells customers.
CREATE TABLE incident_updates (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident             BIGINT NOT NULL REFERENCES incidents (number),
    audience             TEXT NOT NULL CHECK (audience IN ('internal', 'external', 'executive')),
    state                TEXT NOT NULL CHECK (state IN ('draft', 'published')),
    body                 TEXT NOT NULL,
    form                 TEXT NOT NULL,
    status               TEXT,
    next_update_minutes  BIGINT,
    author               TEXT NOT NULL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    published_at         BIGINT,
    published_by         TEXT,
    seq                  BIGINT
);
CREATE INDEX incident_updates_by_incident ON incident_updates (incident, id);
