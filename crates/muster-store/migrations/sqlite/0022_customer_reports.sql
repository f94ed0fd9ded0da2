-- The customer support lead's reports: tickets, calls, mails, posts and
-- chats about an incident, logged by people or received from a helpdesk
-- through a support integration (its key in the URL, its secret the one
-- the vendor signs with). A report points at the incident it is linked to
-- (by number); its first response is due at response_due_at, and the
-- reminder is a job in the outbox. Each answer is a row of
-- customer_report_responses; each vendor event is counted once in
-- support_events, by the vendor's event id.
CREATE TABLE support_integrations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL CHECK (kind IN ('zendesk', 'freshdesk', 'intercom', 'generic')),
    name        TEXT NOT NULL UNIQUE,
    key         TEXT NOT NULL UNIQUE,
    secret      TEXT NOT NULL,
    reply_url   TEXT,
    service     INTEGER REFERENCES services (id),
    created_at  INTEGER NOT NULL
);

CREATE TABLE customer_reports (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    channel         TEXT NOT NULL CHECK (channel IN ('ticket', 'phone', 'email', 'social', 'chat')),
    customer        TEXT NOT NULL,
    contact         TEXT,
    organization    TEXT,
    body            TEXT NOT NULL,
    external_ref    TEXT,
    external_url    TEXT,
    received_at     INTEGER NOT NULL,
    service         INTEGER REFERENCES services (id),
    integration     INTEGER REFERENCES support_integrations (id),
    incident        INTEGER,
    state           TEXT NOT NULL CHECK (state IN ('new', 'acknowledged', 'responded', 'closed')),
    response_due_at INTEGER NOT NULL,
    acknowledged_at INTEGER,
    responded_at    INTEGER,
    closed_at       INTEGER,
    passed_at       INTEGER,
    logged_by       TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX customer_reports_by_ticket ON customer_reports (integration, external_ref)
    WHERE integration IS NOT NULL AND external_ref IS NOT NULL;
CREATE INDEX customer_reports_by_incident ON customer_reports (incident);
CREATE INDEX customer_reports_by_state ON customer_reports (state, response_due_at);

CREATE TABLE customer_report_responses (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    report     INTEGER NOT NULL REFERENCES customer_reports (id),
    body       TEXT NOT NULL,
    responder  TEXT NOT NULL,
    at         INTEGER NOT NULL
);
CREATE INDEX customer_report_responses_by_report ON customer_report_responses (report, id);

CREATE TABLE support_events (
    integration INTEGER NOT NULL REFERENCES support_integrations (id),
    event_id    TEXT NOT NULL,
    report      INTEGER NOT NULL REFERENCES customer_reports (id),
    received_at INTEGER NOT NULL,
    PRIMARY KEY (integration, event_id)
);
