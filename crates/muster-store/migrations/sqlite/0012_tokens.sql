-- Tokens that can be listed, expire and be revoked, and users who can be
-- disabled.
--
-- `tokens` replaces `api_tokens`: each token gets an id (to list and
-- revoke it by), a name, a kind (`api` for the API, `feed` for calendar
-- feeds only), an optional expiry, when it was last used (to the nearest
-- few minutes) and when it was revoked. Revoked tokens are kept, so using
-- one says it was revoked rather than that it never existed. Only the
-- SHA-256 of a token is stored, as before.
--
-- A disabled user keeps their row (they stay on past timelines); their
-- sessions end and their tokens are revoked when they are disabled.

ALTER TABLE users ADD COLUMN disabled_at INTEGER;

CREATE TABLE tokens (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    hash          TEXT NOT NULL UNIQUE,
    handle        TEXT NOT NULL REFERENCES users (handle),
    kind          TEXT NOT NULL CHECK (kind IN ('api', 'feed')),
    name          TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER,
    last_used_at  INTEGER,
    revoked_at    INTEGER
);
CREATE INDEX tokens_by_user ON tokens (handle, id);

-- Tokens made before names existed are API tokens named "api".
INSERT INTO tokens (hash, handle, kind, name, created_at)
    SELECT hash, handle, 'api', 'api', created_at FROM api_tokens ORDER BY created_at, hash;
DROP TABLE api_tokens;
