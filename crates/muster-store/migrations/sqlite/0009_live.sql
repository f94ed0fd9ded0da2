-- Kept in step with PostgreSQL's 0009, which notifies other instances of
-- new timeline entries. SQLite has one instance: nothing to do.
SELECT 1;
