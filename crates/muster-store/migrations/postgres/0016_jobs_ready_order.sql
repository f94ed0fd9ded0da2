-- The engine claims the due jobs of a lane in the order (due_at, id). With
-- the ready index on (lane, due_at) alone, PostgreSQL had to fetch and sort
-- every due job to find the first few: in a storm, with thousands waiting,
-- each claim cost milliseconds. With id in the index the order is the
-- index's and a claim reads only what it takes. (SQLite's indexes end with
-- the rowid already; the index is the same there, for one schema on both.)
DROP INDEX jobs_ready;
CREATE INDEX jobs_ready ON jobs (lane, due_at, id) WHERE done_at IS NULL AND dead_at IS NULL;
