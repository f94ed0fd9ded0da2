-- The outbox: every side effect (a webhook, an email, a page) is a job
-- written in the transaction of the event that caused it, and delivered by
-- the engine. `done_at` is the ledger: a job done is never run again.

CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    due_at          INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    locked_until    INTEGER,
    done_at         INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL
);
CREATE INDEX jobs_due ON jobs (due_at) WHERE done_at IS NULL;
