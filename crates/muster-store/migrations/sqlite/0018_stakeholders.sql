-- Who hears about an incident besides its responders. A stakeholder group
-- lists people (handles, reached through their contact methods), email
-- addresses and webhooks, with the priorities, services (empty: all) and
-- update audiences it hears about; lists are JSON arrays. Its webhooks are
-- rows of their own, each with its signing secret, so a job names one and
-- the channel reads its URL and secret at delivery.
CREATE TABLE stakeholder_groups (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    members     TEXT NOT NULL,
    emails      TEXT NOT NULL,
    priorities  TEXT NOT NULL,
    services    TEXT NOT NULL,
    audiences   TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE stakeholder_webhooks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    grp         INTEGER NOT NULL REFERENCES stakeholder_groups (id) ON DELETE CASCADE,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX stakeholder_webhooks_by_group ON stakeholder_webhooks (grp);

-- People who follow an incident: they hear its internal updates.
CREATE TABLE incident_followers (
    incident    INTEGER NOT NULL REFERENCES incidents (number),
    person      TEXT NOT NULL,
    since       INTEGER NOT NULL,
    PRIMARY KEY (incident, person)
);

-- Replies customers sent to an external update, as the communications
-- manager recorded them.
CREATE TABLE update_responses (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    update_id    INTEGER NOT NULL REFERENCES incident_updates (id),
    from_name    TEXT NOT NULL,
    channel      TEXT NOT NULL,
    body         TEXT NOT NULL,
    recorded_by  TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX update_responses_by_update ON update_responses (update_id);

-- A notification carrying a published update names it, so the update
-- shows its deliveries.
ALTER TABLE jobs ADD COLUMN update_id INTEGER;
CREATE INDEX jobs_by_update ON jobs (update_id) WHERE update_id IS NOT NULL;
