-- The public status page. A component is what customers see (an API, a
-- region), in an optional group, standing for some services; `status` is
-- its state now (Statuspage's: operational, degraded_performance,
-- partial_outage, major_outage, under_maintenance), and every change is a
-- row of `component_changes`: by whom or what (`source`: an external
-- update, set directly, maintenance), for which incident and update. The
-- uptime bars and an update's affected components are read from there.
CREATE TABLE status_components (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    name                   TEXT NOT NULL UNIQUE,
    description            TEXT NOT NULL,
    grp                    TEXT,
    position               INTEGER NOT NULL,
    only_show_if_degraded  INTEGER NOT NULL,
    services               TEXT NOT NULL,
    status                 TEXT NOT NULL,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL
);

CREATE TABLE component_changes (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    component    INTEGER NOT NULL,
    old_status   TEXT NOT NULL,
    new_status   TEXT NOT NULL,
    at           INTEGER NOT NULL,
    source       TEXT NOT NULL,
    incident     INTEGER,
    update_id    INTEGER
);
CREATE INDEX component_changes_by_component ON component_changes (component, at);
CREATE INDEX component_changes_by_update ON component_changes (update_id) WHERE update_id IS NOT NULL;

-- What an update (a draft too) will set components to: a JSON array of
-- {"component", "status"}.
ALTER TABLE incident_updates ADD COLUMN components TEXT NOT NULL DEFAULT '[]';

-- An incident on the public page, from its first published external
-- update: the title customers see, and the impact when set by hand (NULL:
-- from the worst state its updates put components in).
CREATE TABLE public_incidents (
    incident    INTEGER PRIMARY KEY REFERENCES incidents (number),
    title       TEXT NOT NULL,
    impact      TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
