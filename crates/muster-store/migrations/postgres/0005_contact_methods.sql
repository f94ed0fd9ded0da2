-- How people are reached. A webhook's secret signs what is sent to it
-- (HMAC-SHA256), so it is kept, not hashed; it is shown once, at creation.

CREATE TABLE contact_methods (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    handle      TEXT NOT NULL REFERENCES users (handle),
    kind        TEXT NOT NULL CHECK (kind IN ('email', 'webhook')),
    address     TEXT NOT NULL,
    secret      TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX contact_methods_by_user ON contact_methods (handle, id);
