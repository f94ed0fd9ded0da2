-- Signing in to the web UI: a password (argon2id, PHC string) per user, and
-- sessions. A session's id is kept as its SHA-256 only (like API tokens);
-- its CSRF token is sent with every form it renders.

ALTER TABLE users ADD COLUMN password_hash TEXT;

CREATE TABLE sessions (
    id_hash     TEXT PRIMARY KEY NOT NULL,
    handle      TEXT NOT NULL REFERENCES users (handle),
    csrf        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (handle);
