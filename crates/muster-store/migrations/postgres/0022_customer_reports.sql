-- The customer support lead's reports: tickets, calls, mails, posts and
-- chats about an incident, logged by people or received from a helpdesk
-- through a support integration (its key in the URL, its secret the one
-- the vendor signs with). A report points at the incident it is linked to
-- (by number); its first response is due at response_due_at, and the
-- reminder is a job in the outbox. Each answer is a row of
-- customer_report_responses; each vendor event is counted once in
-- support_events, by the vendor's event id.
CREATE TABLE support_integrations (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('zendesk', 'freshdesk', 'intercom', 'generic')),
    name        TEXT NOT NULL UNIQUE,
    key         TEXT NOT NULL UNIQUE,
    secret      TEXT NOT NULL,
    reply_url   TEXT,
    service     BIGINT REFERENCES services (id),
    created_at  BIGINT NOT NULL
);

CREATE TABLE customer_reports (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel         TEXT NOT NULL CHECK (channel IN ('ticket', 'phone', 'email', 'social', 'chat')),
    customer        TEXT NOT NULL,
    contact         TEXT,
    organization    TEXT,
    body            TEXT NOT NULL,
    external_ref    TEXT,
    external_url    TEXT,
    received_at     BIGINT NOT NULL,
    service         BIGINT REFERENCES services (id),
    integration     BIGINT REFERENCES support_integrations (id),
    incident        BIGINT,
    state           TEXT NOT NULL CHECK (state IN ('new', 'acknowledged', 'responded', 'closed')),
    response_due_at BIGINT NOT NULL,
    acknowledged_at BIGINT,
    responded_at    BIGINT,
    closed_at       BIGINT,
    passed_at       BIGINT,
    logged_by       TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE UNIQUE INDEX customer_reports_by_ticket ON customer_reports (integration, external_ref)
    WHERE integration IS NOT NULL AND external_ref IS NOT NULL;
CREATE INDEX customer_reports_by_incident ON customer_reports (incident);
CREATE INDEX customer_reports_by_state ON customer_reports (state, response_due_at);

CREATE TABLE customer_report_responses (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    report     BIGINT NOT NULL REFERENCES customer_reports (id),
    body       TEXT NOT NULL,
    responder  TEXT NOT NULL,
    at         BIGINT NOT NULL
);
CREATE INDEX customer_report_responses_by_report ON customer_report_responses (report, id);

CREATE TABLE support_events (
    integration BIGINT NOT NULL REFERENCES support_integrations (id),
    event_id    TEXT NOT NULL,
    report      BIGINT NOT NULL REFERENCES customer_reports (id),
    received_at BIGINT NOT NULL,
    PRIMARY KEY (integration, event_id)
);
