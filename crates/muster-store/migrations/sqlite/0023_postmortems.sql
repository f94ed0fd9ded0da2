-- An incident's postmortem: the sections people wrote (a JSON object of
-- section name → text), its template and where it is (draft, in_review,
-- published). The facts it shows are read from the timeline each time,
-- so only what people wrote is kept here; drafting it and each move are
-- events on the incident's timeline, written in the same transaction.
CREATE TABLE postmortems (
    incident      INTEGER PRIMARY KEY REFERENCES incidents (number),
    template      TEXT NOT NULL CHECK (template IN ('standard', 'lightweight')),
    state         TEXT NOT NULL CHECK (state IN ('draft', 'in_review', 'published')),
    sections      TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    published_at  INTEGER
);

-- The actions marked follow-ups, across incidents: a projection of the
-- action_tracked events, written in the transaction that records them
-- (the timeline stays the record). Listed by state, owner and due time.
CREATE TABLE follow_ups (
    incident    INTEGER NOT NULL REFERENCES incidents (number),
    action      INTEGER NOT NULL,
    text        TEXT NOT NULL,
    owner       TEXT,
    due_at      INTEGER,
    status      TEXT NOT NULL CHECK (status IN ('open', 'done', 'cancelled')),
    ticket      TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (incident, action)
);
CREATE INDEX follow_ups_by_status ON follow_ups (status, due_at);
CREATE INDEX follow_ups_by_owner ON follow_ups (owner, status);
