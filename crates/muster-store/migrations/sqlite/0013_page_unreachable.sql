-- The steps of a page that reached nobody (nobody on call, nobody with a
-- contact method, every delivery given up), in order: a JSON list of
-- `{"step", "why", "at"}`. Such a step escalates at once.

ALTER TABLE pages ADD COLUMN unreachable TEXT NOT NULL DEFAULT '[]';
