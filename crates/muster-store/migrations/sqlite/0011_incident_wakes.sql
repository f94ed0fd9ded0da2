-- PostgreSQL's live views now wake per incident (a NOTIFY naming it).
-- SQLite has one instance, which wakes its own views: nothing to change.
SELECT 1;
