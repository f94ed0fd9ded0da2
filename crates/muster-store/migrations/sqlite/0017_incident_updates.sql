-- Updates about an incident, written by its communications managers for an
-- audience (internal, external, executive): drafts waiting for someone who
-- may publish them, and published ones, whose text is also the incident's
-- `update_published` timeline entry (`seq`). `form` is the structured
-- form's fields as a JSON array of [name, value] pairs; `status` is what an
-- external update tells customers.
CREATE TABLE incident_updates (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    incident             INTEGER NOT NULL REFERENCES incidents (number),
    audience             TEXT NOT NULL CHECK (audience IN ('internal', 'external', 'executive')),
    state                TEXT NOT NULL CHECK (state IN ('draft', 'published')),
    body                 TEXT NOT NULL,
    form                 TEXT NOT NULL,
    status               TEXT,
    next_update_minutes  INTEGER,
    author               TEXT NOT NULL,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    published_at         INTEGER,
    published_by         TEXT,
    seq                  INTEGER
);
CREATE INDEX incident_updates_by_incident ON incident_updates (incident, id);
