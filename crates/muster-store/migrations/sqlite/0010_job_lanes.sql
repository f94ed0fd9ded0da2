-- Jobs take a lane: 0 (page steps and page notifications) is claimed before
-- 1 (everything else). A job that failed its last allowed attempt, or can
-- never be delivered, is dead: kept for people to see, never run again.
ALTER TABLE jobs ADD COLUMN lane INTEGER NOT NULL DEFAULT 1;
ALTER TABLE jobs ADD COLUMN dead_at INTEGER;
UPDATE jobs SET lane = 0 WHERE page IS NOT NULL AND done_at IS NULL;
DROP INDEX jobs_due;
CREATE INDEX jobs_ready ON jobs (lane, due_at) WHERE done_at IS NULL AND dead_at IS NULL;
CREATE INDEX jobs_dead ON jobs (dead_at) WHERE dead_at IS NOT NULL;
-- Secrets no longer travel in jobs: a webhook names its contact method.
-- Jobs that will never run again lose the secret older versions copied in;
-- pending ones keep it until they are delivered (they need it).
UPDATE jobs SET payload = json_remove(payload, '$.secret')
    WHERE kind = 'webhook' AND done_at IS NOT NULL AND payload LIKE '%"secret"%' AND json_valid(payload);
