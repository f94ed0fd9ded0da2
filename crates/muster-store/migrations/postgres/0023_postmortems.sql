-- An incident's postmortem: the sections people wrote (a JSON object of
-- section name → text), its template and where it is (draft, in_review,
-- published). The facts it shows are read from the timeline each time,
-- so only what people wrote is kept here; drafting it and each move are
-- events on the incident's timeline, written in the same transaction.
CREATE TABLE postmortems (
    incident      BIGINT PRIMARY KEY REFERENCES incidents (number),
    template      TEXT NOT NULL CHECK (template IN ('standard', 'lightweight')),
    state         TEXT NOT NULL CHECK (state IN ('draft', 'in_review', 'published')),
    sections      TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    published_at  BIGINT
);
