-- People and systems that follow the public status page: an email address
-- (confirmed through the link in a first mail before anything else is
-- sent) or a webhook (confirmed by a first delivery it answered with 2xx),
-- for some components (a JSON array of ids; empty: the whole page).
-- `token` is in every link a subscriber gets (confirm, unsubscribe);
-- `secret` signs a webhook's deliveries. An address subscribes once.
CREATE TABLE status_subscribers (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT NOT NULL CHECK (kind IN ('email', 'webhook')),
    address       TEXT NOT NULL,
    components    TEXT NOT NULL,
    token         TEXT NOT NULL UNIQUE,
    secret        TEXT,
    confirmed_at  INTEGER,
    created_at    INTEGER NOT NULL,
    UNIQUE (kind, address)
);
